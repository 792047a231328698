//! A deterministic demo corpus with planted campaigns, and its ground truth.
//!
//! The corpus mixes what echolens users hold: a few Telegram channels as Telegram Desktop exports
//! (`telegram/<name>/result.json`, with entity arrays and `date_unixtime`), more Telegram channels and X
//! accounts as echolens JSONL (`jsonl/*.jsonl`), Instagram as Zeeschuimer captures it
//! (`zeeschuimer/instagram.ndjson`, with a planted hashtag campaign). Organic posts are English, Persian (with ZWNJ, and some written
//! with Arabic letters or without ZWNJ) and Russian. Planted in it:
//! - coordinated groups of X accounts that post the same text, link and hashtag within seconds of each other, in
//!   waves (`truth.json`: `campaigns`);
//! - a copy cascade: a Persian text posted first in one channel, then copied into others over hours with small
//!   edits, a "via" prefix and Arabic letters (`cascades`);
//! - an invented vocabulary used by one channel and adopted by others from known days (`vocabulary`).
//!
//! The same `(messages, seed)` always gives the same files, byte for byte.
#![deny(missing_docs)]

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

pub mod score;
use serde_json::json;

/// 2024-03-01T00:00:00Z.
pub const START: i64 = 1_709_251_200;
const DAY: i64 = 86_400;
const ZWNJ: &str = "\u{200C}";

/// splitmix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Zipf-like pick from `0..n`: low indices are common.
    pub fn zipf(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((n as f64).powf(u) - 1.0).floor().min(n as f64 - 1.0) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const EN: &[&str] = &[
    "the",
    "people",
    "government",
    "news",
    "today",
    "support",
    "world",
    "truth",
    "country",
    "war",
    "freedom",
    "vote",
    "election",
    "report",
    "video",
    "city",
    "protest",
    "economy",
    "prices",
    "school",
    "water",
    "power",
    "week",
    "new",
    "must",
    "never",
    "against",
    "every",
    "stop",
    "why",
    "how",
    "is",
    "are",
    "and",
    "to",
    "of",
    "in",
    "for",
    "on",
    "we",
];
const FA: &[&str] = &[
    "مردم",
    "ایران",
    "دولت",
    "آزادی",
    "خبر",
    "امروز",
    "تهران",
    "اعتراض",
    "کشور",
    "حقوق",
    "رسانه",
    "زندگی",
    "جوانان",
    "خیابان",
    "و",
    "در",
    "به",
    "از",
    "که",
    "این",
    "را",
    "با",
    "است",
    "برای",
];
const FA_ZWNJ: &[&str] =
    &["می\u{200C}شود", "می\u{200C}کنند", "کتاب\u{200C}ها", "آن\u{200C}ها", "نمی\u{200C}دانم", "رسانه\u{200C}های"];
const RU: &[&str] = &[
    "люди",
    "правительство",
    "новости",
    "сегодня",
    "поддержка",
    "мир",
    "правда",
    "страна",
    "война",
    "свобода",
    "выборы",
    "цены",
    "город",
    "и",
    "в",
    "на",
    "не",
    "что",
    "это",
    "мы",
];

/// What was planted, for tests and benchmarks to check against.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// Parameters the corpus was made with.
    pub messages: usize,
    /// The seed.
    pub seed: u64,
    /// Coordinated groups.
    pub campaigns: Vec<Campaign>,
    /// Copy cascades.
    pub cascades: Vec<Cascade>,
    /// The planted vocabulary.
    pub vocabulary: Vocabulary,
    /// Crowds of ordinary accounts (with [`Options::crowds`]): not campaigns, whatever they look like.
    pub crowds: Vec<Crowd>,
    /// With the mixed layout, `x_archive/users.csv` states the X accounts' creation dates, follower counts and
    /// apps (an information-operations release's accounts file): the members of this campaign were created
    /// within one week, have few followers and post with one app.
    pub account_batch: Option<AccountBatch>,
    /// Two sides with known differences, for `echolens compare` (the demo's layout only; see [`Side`]).
    pub sides: Vec<Side>,
}

/// A side of the demo corpus, as `echolens compare --side` takes it.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Its name.
    pub name: String,
    /// Its selectors (`--side NAME=SELECTOR` each).
    pub selectors: Vec<String>,
    /// What was planted in it.
    pub planted: String,
}

/// The campaign whose accounts were made together (see [`Truth::account_batch`]).
#[derive(Debug, Clone, Serialize)]
pub struct AccountBatch {
    /// The campaign's id.
    pub campaign: usize,
    /// The Monday of the week its members were created (`YYYY-MM-DD`).
    pub week: String,
    /// The app they all post with.
    pub client: String,
}

/// A crowd: ordinary accounts reacting to the same things, each on its own, within minutes or hours: reposting
/// a popular account's posts, sharing a news link, taking up a trending hashtag, posting the morning greeting,
/// pressing an article's share button (the same headline and link for everyone).
/// Who takes part in an event is drawn afresh each time.
#[derive(Debug, Clone, Serialize)]
pub struct Crowd {
    /// Crowd id.
    pub id: usize,
    /// `repost`, `link`, `hashtag`, `greeting` or `share`.
    pub kind: String,
    /// The accounts that may take part, as `platform:author_id`.
    pub members: Vec<String>,
    /// Event start times (unix seconds).
    pub events: Vec<i64>,
    /// Seconds: the median delay of a reaction after its event (`repost`, `link`), or the span reactions fall
    /// in uniformly (`hashtag`, `greeting`).
    pub spread_s: i64,
    /// The share of members that takes part in an event.
    pub participation: f64,
}

/// A coordinated group: accounts `x:<id>` that post the same text, link and hashtag within `spread_s` seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// Campaign id.
    pub id: usize,
    /// Member accounts, as `platform:author_id`.
    pub members: Vec<String>,
    /// The campaign's links, one per wave.
    pub urls: Vec<String>,
    /// The campaign's hashtag (without `#`).
    pub hashtag: String,
    /// Seconds within which a wave's posts fall.
    pub spread_s: i64,
    /// Wave start times (unix seconds).
    pub waves: Vec<i64>,
    /// Keys of the planted messages.
    pub message_keys: Vec<String>,
    /// `exact`: a wave's posts share their text; `edited`: each post has one to three of its words replaced.
    pub mode: String,
    /// The member that posts first in every wave, the others following within `spread_s` (the generated
    /// campaigns past the demo's two; theirs have none).
    pub leader: Option<String>,
}

/// A copy cascade: the origin's key first, then the copies in time order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cascade {
    /// Cascade id.
    pub id: usize,
    /// The first post.
    pub origin_key: String,
    /// Every member's key (origin included), in time order.
    pub member_keys: Vec<String>,
    /// How each member was made: origin, exact, edit (at most 10% of words), prefix, suffix, letters (Arabic
    /// letters without ZWNJ; upper case outside Persian), forward.
    pub variants: Vec<String>,
    /// The channel of each member.
    pub channels: Vec<String>,
}

/// An invented vocabulary used first by `source_channel`, then adopted by others on known days.
#[derive(Debug, Clone, Serialize)]
pub struct Vocabulary {
    /// The terms.
    pub terms: Vec<String>,
    /// The channel that used them first.
    pub source_channel: String,
    /// Channel id → day index (from the corpus start) on which it first used the vocabulary.
    pub adoption_day: Vec<(String, i64)>,
}

struct Post {
    platform: &'static str,
    channel: String,
    channel_name: String,
    id: u64,
    author: Option<String>,
    ts: i64,
    text: String,
    urls: Vec<String>,
    forwarded_from: Option<String>,
    /// The reposted original's id (an X retweet), from crowds.
    repost_of: Option<String>,
}

impl Post {
    fn key(&self) -> String {
        format!("{}:{}:{}", self.platform, self.channel, self.id)
    }
}

/// Syllables of invented content words, per language: real corpora have far more distinct words than the
/// function-word lists, so unrelated texts share common words but rarely their content.
const SYLLABLES: [&[&str]; 3] = [
    &["ka", "lo", "mi", "ra", "ten", "vor", "sil", "du", "ber", "nax", "pri", "sol", "tum", "gre", "fal", "zin"],
    &["با", "ر", "ست", "من", "کو", "دا", "شه", "پر", "گا", "نو", "زی", "فر", "تو", "خا", "سا", "لی"],
    &["ка", "ло", "ми", "ра", "тен", "вор", "сил", "ду", "бер", "нах", "при", "сол", "тум", "гре", "фал", "зин"],
];

/// Content word `n` (0..4096) of a language: three syllables.
fn content_word(lang: usize, n: usize) -> String {
    let s = SYLLABLES[lang.min(2)];
    let mut w = String::new();
    for k in 0..3 {
        w.push_str(s[(n >> (4 * k)) & 15]);
    }
    w
}

fn organic_text(rng: &mut Rng, lang: usize) -> String {
    let words = 6 + rng.below(20);
    let mut out: Vec<String> = Vec::with_capacity(words);
    for _ in 0..words {
        if rng.below(2) == 0 {
            out.push(content_word(lang, rng.zipf(4096)));
            continue;
        }
        let w = match lang {
            0 => EN[rng.zipf(EN.len())].to_owned(),
            1 if rng.below(6) == 0 => rng.pick(FA_ZWNJ).to_string(),
            1 => FA[rng.zipf(FA.len())].to_owned(),
            _ => RU[rng.zipf(RU.len())].to_owned(),
        };
        out.push(w);
    }
    // Persian written on an Arabic keyboard or without ZWNJ, as real users do.
    let mut text = out.join(" ");
    if lang == 1 && rng.below(5) == 0 {
        text = text.replace('ی', "ي").replace('ک', "ك");
    }
    if lang == 1 && rng.below(5) == 0 {
        text = text.replace(ZWNJ, " ");
    }
    text
}

/// One organic post drawn from `rng` (its id left at 0), and its Telegram channel's index (`None` for X).
fn organic_post(
    rng: &mut Rng,
    tg_channels: &[(String, String, usize)],
    x_accounts: usize,
    days: usize,
) -> (Post, Option<usize>) {
    let ts = START + rng.below(days * DAY as usize) as i64;
    if rng.below(10) < 6 {
        let c = rng.zipf(tg_channels.len());
        let (id, name, lang) = &tg_channels[c];
        let mut text = organic_text(rng, *lang);
        let mut urls = Vec::new();
        if rng.below(8) == 0 {
            let url = format!("https://news{}.example/story/{}", rng.below(30), rng.zipf(500));
            text.push(' ');
            text.push_str(&url);
            urls.push(url);
        }
        sign(rng, &mut text, c, name);
        let post = Post {
            platform: "telegram",
            channel: id.clone(),
            channel_name: name.clone(),
            id: 0,
            author: Some(format!("channel{id}")),
            ts,
            text,
            urls,
            forwarded_from: None,
            repost_of: None,
        };
        (post, Some(c))
    } else {
        let a = rng.zipf(x_accounts);
        let lang = a % 3;
        let mut text = organic_text(rng, lang);
        if rng.below(5) == 0 {
            text.push_str(&format!(" #{}", ["news", "today", "ایران", "мир"][rng.below(4)]));
        }
        let post = Post {
            platform: "x",
            channel: format!("{}", 50_000 + a),
            channel_name: format!("user_{a}"),
            id: 0,
            author: Some(format!("{}", 50_000 + a)),
            ts,
            text,
            urls: Vec::new(),
            forwarded_from: None,
            repost_of: None,
        };
        (post, None)
    }
}

/// An organic post as the JSONL layout keeps it until it is written: where it sorts, and the random state it
/// is drawn again from.
struct Organic {
    ts: i64,
    id: u64,
    state: Rng,
    /// The channel id (every generated channel id is a number).
    channel: u32,
    telegram: bool,
}

impl Organic {
    fn of(post: &Post, state: Rng) -> Self {
        let channel = post.channel.parse().expect("generated channel ids are numbers below 2^32");
        Organic { ts: post.ts, id: post.id, state, channel, telegram: post.platform == "telegram" }
    }

    fn platform(&self) -> &'static str {
        if self.telegram { "telegram" } else { "x" }
    }

    /// The post again, as it was drawn.
    fn post(&self, tg_channels: &[(String, String, usize)], x_accounts: usize, days: usize) -> Post {
        let (mut post, _) = organic_post(&mut self.state.clone(), tg_channels, x_accounts, days);
        post.id = self.id;
        post
    }
}

/// The corpus's order: time, then platform, channel id (as text) and message id.
fn post_order(a: &Post, b: &Post) -> std::cmp::Ordering {
    (a.ts, a.platform, &a.channel, a.id).cmp(&(b.ts, b.platform, &b.channel, b.id))
}

/// [`post_order`] between two organic records, the channel ids compared as text without writing them out.
fn organic_order(a: &Organic, b: &Organic) -> std::cmp::Ordering {
    (a.ts, a.platform())
        .cmp(&(b.ts, b.platform()))
        .then_with(|| digits(a.channel).as_slice().cmp(digits(b.channel).as_slice()))
        .then(a.id.cmp(&b.id))
}

/// [`post_order`] between an organic record and a post.
fn organic_before(a: &Organic, b: &Post) -> bool {
    (a.ts, a.platform())
        .cmp(&(b.ts, b.platform))
        .then_with(|| digits(a.channel).as_slice().cmp(b.channel.as_bytes()))
        .then(a.id.cmp(&b.id))
        .is_lt()
}

/// A channel id in decimal, on the stack.
struct Digits {
    buf: [u8; 10],
    start: usize,
}

fn digits(mut n: u32) -> Digits {
    let mut buf = [0u8; 10];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return Digits { buf, start };
        }
    }
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// A word of a cascade's text: mostly content words, so the texts of different cascades are unrelated.
fn cascade_word(rng: &mut Rng, lang: usize) -> String {
    if rng.below(3) == 0 {
        organic_text(rng, lang).split(' ').next().unwrap_or("news").to_owned()
    } else {
        content_word(lang, rng.below(4096))
    }
}

/// Every fourth channel signs most of its posts, as many Telegram channels do: boilerplate that reuse detection
/// must not mistake for copying.
fn sign(rng: &mut Rng, text: &mut String, channel: usize, name: &str) {
    if channel % 4 == 3 && rng.below(10) < 7 {
        text.push_str(&format!(" 🔴 join us @{name} for the news every day"));
    }
}

/// Instagram: accounts (ids from 70,000, `ig_user_K`) posting captions with hashtags, one post per 50 organic
/// messages; and a planted campaign: eight accounts that, in six waves, each post a caption of their own with
/// the campaign's hashtag within 30 seconds of each other. From its own random stream.
fn plant_instagram(posts: &mut Vec<Post>, messages: usize, days: usize, seed: u64, id: usize) -> Campaign {
    const TAGS: [&str; 5] = ["travel", "food", "news", "ایران", "photography"];
    let mut rng = Rng::new(seed ^ 0x696e_7374_6167_7261);
    let accounts = 40usize;
    let mut next = 1u64;
    let mut post = |rng: &mut Rng, account: u64, ts: i64, text: String| -> Post {
        next += 1;
        Post {
            platform: "instagram",
            channel: account.to_string(),
            channel_name: format!("ig_user_{}", account - 70_000),
            id: 3_000_000 + next,
            author: Some(account.to_string()),
            ts,
            text: if rng.below(3) == 0 { format!("{text} @ig_user_{}", rng.below(accounts)) } else { text },
            urls: Vec::new(),
            forwarded_from: None,
            repost_of: None,
        }
    };
    for _ in 0..(messages / 50).max(100) {
        let a = 70_000 + rng.zipf(accounts) as u64;
        let ts = START + rng.below(days * DAY as usize) as i64;
        let lang = rng.below(3);
        let text = format!("{} #{}", organic_text(&mut rng, lang), TAGS[rng.below(TAGS.len())]);
        let p = post(&mut rng, a, ts, text);
        posts.push(p);
    }
    let members: Vec<u64> = (0..8u64).map(|m| 70_500 + m).collect();
    let hashtag = "VoteForChange".to_owned();
    let mut campaign = Campaign {
        id,
        members: members.iter().map(|m| format!("instagram:{m}")).collect(),
        urls: Vec::new(),
        hashtag: hashtag.clone(),
        spread_s: 30,
        waves: Vec::new(),
        message_keys: Vec::new(),
        mode: "hashtag".to_owned(),
        leader: None,
    };
    for _ in 0..6 {
        let t0 = START + rng.below((days - 1) * DAY as usize) as i64;
        campaign.waves.push(t0);
        for &m in &members {
            let text = format!("{} #{hashtag}", organic_text(&mut rng, 0));
            let ts = t0 + rng.below(31) as i64;
            let mut p = post(&mut rng, m, ts, text);
            p.channel_name = format!("ig_vote_{}", m - 70_500);
            campaign.message_keys.push(p.key());
            posts.push(p);
        }
    }
    campaign
}

/// Mentions (`@user_K`), links to X posts (`https://x.com/user_K/status/N`) in organic X posts, and Instagram
/// profile links in Telegram posts.
fn mention_accounts(posts: &mut [Post], x_accounts: usize, seed: u64) {
    let mut rng = Rng::new(seed ^ 0x6d65_6e74_696f_6e73);
    for p in posts.iter_mut() {
        let roll = rng.below(40);
        let k = rng.zipf(x_accounts);
        if p.platform == "x" && roll < 4 {
            p.text.push_str(&format!(" @user_{k}"));
        } else if p.platform == "x" && roll == 4 {
            let url = format!("https://x.com/user_{k}/status/{}", 1_000_000 + rng.below(100_000));
            p.text.push_str(&format!(" {url}"));
            p.urls.push(url);
        } else if p.platform == "telegram" && roll == 5 {
            let url = format!("https://www.instagram.com/user_{k}/");
            p.text.push_str(&format!(" {url}"));
            p.urls.push(url);
        }
    }
}

/// How the files of a generated corpus are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// What echolens users hold: three Telegram channels as Telegram Desktop exports (`telegram/NAME/result.json`),
    /// the other channels and the X accounts as JSONL (`jsonl/telegram_channels.jsonl`, `jsonl/x_accounts.jsonl`).
    #[default]
    Mixed,
    /// Everything in one JSONL file, `messages.jsonl`, with the links in `urls`: what benchmarks time against
    /// a bare parse of the same file.
    Jsonl,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Organic messages (the planted ones come on top).
    pub messages: usize,
    /// The seed: the same options always give the same bytes.
    pub seed: u64,
    /// Coordinated groups; `None` gives two, and one more per 10,000 messages past 20,000 (100 at 1M). The first
    /// two are the demo's own; the others are drawn like the peers' benchmark generators draw theirs: 10 to 50
    /// accounts that also post organically, 3 to 10 waves, exact or edited texts.
    pub campaigns: Option<usize>,
    /// How the files are laid out.
    pub layout: Layout,
    /// Also write every message as coordination-network-toolkit CSV to this file (keep it outside the corpus
    /// folder).
    pub toolkit_csv: Option<std::path::PathBuf>,
    /// Crowds to plant among the organic accounts (0: none, as in the demo). See [`Crowd`].
    pub crowds: usize,
}

impl Options {
    /// The demo's layout and campaigns for `messages` and `seed`.
    pub fn new(messages: usize, seed: u64) -> Self {
        Options { messages, seed, campaigns: None, layout: Layout::Mixed, toolkit_csv: None, crowds: 0 }
    }
}

/// Write the demo corpus under `dir` (`telegram/`, `jsonl/`) and return its truth (keep it outside `dir`, so
/// that ingesting `dir` reads only the corpus).
pub fn generate(dir: &Path, messages: usize, seed: u64) -> std::io::Result<Truth> {
    generate_with(dir, &Options::new(messages, seed))
}

/// Write a corpus as `options` say under `dir` and return its truth.
pub fn generate_with(dir: &Path, options: &Options) -> std::io::Result<Truth> {
    let (messages, seed) = (options.messages, options.seed);
    let mut rng = Rng::new(seed);
    let days = 30;
    // Twelve channels in the demo; larger corpora get more (one per 20k messages, at most 200).
    let n_channels = (messages / 20_000).clamp(12, 200);
    let tg_channels: Vec<(String, String, usize)> = (0..n_channels)
        .map(|i| (format!("{}", 1_000_000_000 + i * 7919), format!("demo_channel_{i:02}"), i % 3))
        .collect();
    let x_accounts = (messages / 40).max(60);
    let mut posts: Vec<Post> = Vec::new();
    let mut next_id = vec![1u64; tg_channels.len()];
    let mut x_next = 1_000_000u64;

    // Organic background: 60% Telegram channel posts, 40% X posts. Laid out as JSONL, they are kept as
    // `Organic` records (32 bytes, the random state each was drawn from) and drawn again as they are written, so
    // that the corpus's size is bounded by the disk, not by memory.
    let stream = options.layout == Layout::Jsonl;
    let mut organic: Vec<Organic> = Vec::with_capacity(if stream { messages } else { 0 });
    for _ in 0..messages {
        let state = rng.clone();
        let (mut post, channel) = organic_post(&mut rng, &tg_channels, x_accounts, days);
        post.id = match channel {
            Some(c) => {
                next_id[c] += 1;
                next_id[c] - 1
            }
            None => {
                x_next += 1;
                x_next - 1
            }
        };
        if stream {
            organic.push(Organic::of(&post, state));
        } else {
            posts.push(post);
        }
    }

    // What identifies people inside texts, for the pseudonymisation to hide: X posts mention other accounts
    // and link to their posts, Telegram posts point to a profile. The demo's layout only, from its own random
    // stream, so that benchmark corpora stay as they were.
    if options.layout == Layout::Mixed {
        mention_accounts(&mut posts, x_accounts, seed);
    }

    // Coordinated groups: dedicated accounts (ids from 90_000) posting in waves; the second links through a
    // shortener.
    let mut campaigns = Vec::new();
    for (cid, (size, spread)) in [(12usize, 20i64), (20, 45)].into_iter().enumerate() {
        let members: Vec<u64> = (0..size as u64).map(|m| 90_000 + cid as u64 * 100 + m).collect();
        let hashtag = ["FreedomNow", "حقیقت_امروز"][cid].to_owned();
        let base = [
            "the truth they hide from you about the election must be shared now",
            "مردم ایران حقیقت را می\u{200C}دانند و این خبر را همه جا پخش کنید",
        ][cid];
        let mut campaign = Campaign {
            id: cid,
            members: members.iter().map(|m| format!("x:{m}")).collect(),
            urls: Vec::new(),
            hashtag: hashtag.clone(),
            spread_s: spread,
            waves: Vec::new(),
            message_keys: Vec::new(),
            mode: "exact".to_owned(),
            leader: None,
        };
        // Each wave pushes its own article with its own line; the hashtag stays.
        let lines = [
            [
                "read it before they delete it",
                "share with everyone you know",
                "the media will not tell you",
                "wake up and look",
                "this changes everything",
                "they are afraid of this",
            ],
            [
                "این را قبل از حذف بخوانید",
                "برای همه بفرستید",
                "رسانه\u{200C}ها به شما نمی\u{200C}گویند",
                "بیدار شوید",
                "همه چیز را تغییر می\u{200C}دهد",
                "از این می\u{200C}ترسند",
            ],
        ][cid];
        for line in lines {
            let t0 = START + rng.below((days - 1) * DAY as usize) as i64;
            // The second group hides its links behind a shortener, as campaigns do.
            let url = match cid {
                0 => format!("https://campaign0.example/a/{}", rng.below(100_000)),
                _ => format!("https://bit.ly/c{cid}x{}", rng.below(100_000)),
            };
            campaign.waves.push(t0);
            campaign.urls.push(url.clone());
            for &m in &members {
                if rng.below(10) < 2 {
                    continue;
                }
                let post = Post {
                    platform: "x",
                    channel: m.to_string(),
                    channel_name: format!("acct_{m}"),
                    id: x_next,
                    author: Some(m.to_string()),
                    ts: t0 + rng.below(spread as usize + 1) as i64,
                    // The first group names the account it amplifies (in the demo's layout).
                    text: if cid == 0 && options.layout == Layout::Mixed {
                        format!("{base}: {line} @user_3 {url} #{hashtag}")
                    } else {
                        format!("{base}: {line} {url} #{hashtag}")
                    },
                    urls: vec![url.clone()],
                    forwarded_from: None,
                    repost_of: None,
                };
                x_next += 1;
                campaign.message_keys.push(post.key());
                posts.push(post);
            }
        }
        campaigns.push(campaign);
    }
    let wanted = options.campaigns.unwrap_or(2 + messages.saturating_sub(20_000) / 10_000);
    plant_campaigns(&mut campaigns, wanted, &mut posts, &mut x_next, x_accounts, days, seed);
    let taken: std::collections::HashSet<String> = campaigns.iter().flat_map(|c| c.members.iter().cloned()).collect();
    let crowds = plant_crowds(options.crowds, &taken, &mut posts, &mut x_next, x_accounts, days, seed);
    // Instagram, as Zeeschuimer captures it, with a planted hashtag campaign (the demo's layout only).
    if options.layout == Layout::Mixed {
        let campaign = plant_instagram(&mut posts, messages, days, seed, campaigns.len());
        campaigns.push(campaign);
    }

    // A copy cascade through the Persian channels.
    let origin_text = "گزارش ویژه: آن\u{200C}ها می\u{200C}گویند که قیمت نان دوباره بالا می\u{200C}رود و مردم در صف\u{200C}های طولانی منتظر می\u{200C}مانند";
    let persian: Vec<usize> = (0..tg_channels.len()).filter(|&c| tg_channels[c].2 == 1).collect();
    let mut cascade = Cascade::default();
    let t0 = START + 5 * DAY + 3600;
    for (step, &c) in persian.iter().enumerate() {
        let (id, name, _) = &tg_channels[c];
        let text = match step {
            0 => origin_text.to_owned(),
            1 => format!("via @{}: {origin_text}", tg_channels[persian[0]].1),
            2 => origin_text.replace('ی', "ي").replace('ک', "ك").replace(ZWNJ, ""),
            _ => origin_text.replace("دوباره", "باز هم"),
        };
        let post = Post {
            platform: "telegram",
            channel: id.clone(),
            channel_name: name.clone(),
            id: next_id[c],
            author: Some(format!("channel{id}")),
            ts: t0 + step as i64 * 5400,
            text,
            urls: Vec::new(),
            forwarded_from: None,
            repost_of: None,
        };
        next_id[c] += 1;
        if step == 0 {
            cascade.origin_key = post.key();
        }
        cascade.member_keys.push(post.key());
        cascade.variants.push(["origin", "prefix", "letters", "edit"][step.min(3)].to_owned());
        cascade.channels.push(id.clone());
        posts.push(post);
    }

    // An invented vocabulary: the source channel pushes it all month long, in one post of every 20 in the corpus
    // (at least 40; about a fifth of the channel's posts), and the other channels of its language adopt it on
    // known days spread over the month, five posts each over five days.
    let terms = vec!["zorblat".to_owned(), "kestrine accord".to_owned(), "vellumark".to_owned()];
    let english: Vec<usize> = (0..tg_channels.len()).filter(|&c| tg_channels[c].2 == 0).collect();
    let mut adoption = Vec::new();
    let vocabulary_post = |rng: &mut Rng, c: usize, ts: i64, next_id: &mut Vec<u64>| {
        let (id, name, _) = &tg_channels[c];
        let term = &terms[rng.below(terms.len())];
        let post = Post {
            platform: "telegram",
            channel: id.clone(),
            channel_name: name.clone(),
            id: next_id[c],
            author: Some(format!("channel{id}")),
            ts,
            text: format!("{} {term} {}", organic_text(rng, 0), organic_text(rng, 0)),
            urls: Vec::new(),
            forwarded_from: None,
            repost_of: None,
        };
        next_id[c] += 1;
        post
    };
    // Its own random stream, so the corpus around it (and the planted cascades) does not depend on it.
    let mut rng_v = Rng::new(seed ^ 0x766f_6361_6275_6c61);
    let source = english[0];
    let source_posts = (messages / 20).max(40);
    for k in 0..source_posts {
        let day = (k * days / source_posts) as i64;
        let ts = START + day * DAY + 3600 + rng_v.below(3600) as i64;
        posts.push(vocabulary_post(&mut rng_v, source, ts, &mut next_id));
    }
    adoption.push((tg_channels[source].0.clone(), 0));
    let adopters = &english[1..];
    for (order, &c) in adopters.iter().enumerate() {
        let day = 3 + (order * (days - 8) / adopters.len().max(1)) as i64;
        adoption.push((tg_channels[c].0.clone(), day));
        for k in 0..5 {
            let ts = START + (day + k) * DAY + 7200 + rng_v.below(3600) as i64;
            posts.push(vocabulary_post(&mut rng_v, c, ts, &mut next_id));
        }
    }
    let vocabulary = Vocabulary { terms, source_channel: tg_channels[source].0.clone(), adoption_day: adoption };

    // More cascades: an origin text copied into other channels of its language over hours and days, each copy
    // exact, edited (at most 10% of its words), with a "via" prefix or a suffix, in Arabic letters without ZWNJ,
    // or forwarded; copies in signing channels carry the channel's signature.
    let mut cascades = vec![cascade];
    for id in 1..=(messages / 5000).clamp(4, 2000) {
        let lang = rng.below(3);
        let chans: Vec<usize> = (0..tg_channels.len()).filter(|&c| tg_channels[c].2 == lang).collect();
        let origin_c = chans[rng.below(chans.len())];
        let words: Vec<String> = (0..14 + rng.below(17)).map(|_| cascade_word(&mut rng, lang)).collect();
        let origin_text = words.join(" ");
        let mut t = START + rng.below((days - 3) * DAY as usize) as i64;
        let mut others: Vec<usize> = chans.iter().copied().filter(|&c| c != origin_c).collect();
        let copies = 1 + rng.below(others.len().min(6));
        let mut cascade = Cascade { id, ..Cascade::default() };
        for step in 0..=copies {
            let c = if step == 0 { origin_c } else { others.swap_remove(rng.below(others.len())) };
            let (cid, name, _) = &tg_channels[c];
            let origin_name = &tg_channels[origin_c].1;
            let variant = if step == 0 {
                "origin"
            } else if id == 1 && step == 1 {
                // Every corpus has at least one forward.
                "forward"
            } else {
                ["exact", "edit", "prefix", "suffix", "letters", "forward"][rng.below(6)]
            };
            let mut text = match variant {
                "edit" => {
                    let mut w = words.clone();
                    for _ in 0..(w.len() / 10).max(1) {
                        let at = rng.below(w.len());
                        w[at] = content_word(lang, rng.below(4096));
                    }
                    w.join(" ")
                }
                "prefix" => format!("via @{origin_name}: {origin_text}"),
                "suffix" => format!("{origin_text} (from {origin_name})"),
                "letters" if lang == 1 => origin_text.replace('ی', "ي").replace('ک', "ك").replace(ZWNJ, ""),
                "letters" => origin_text.to_uppercase(),
                _ => origin_text.clone(),
            };
            let forwarded_from = (variant == "forward").then(|| origin_name.clone());
            if forwarded_from.is_none() {
                sign(&mut rng, &mut text, c, name);
            }
            let post = Post {
                platform: "telegram",
                channel: cid.clone(),
                channel_name: name.clone(),
                id: next_id[c],
                author: Some(format!("channel{cid}")),
                ts: t,
                text,
                urls: Vec::new(),
                forwarded_from,
                repost_of: None,
            };
            next_id[c] += 1;
            if step == 0 {
                cascade.origin_key = post.key();
            }
            cascade.member_keys.push(post.key());
            cascade.variants.push(variant.to_owned());
            cascade.channels.push(cid.clone());
            posts.push(post);
            t += 1800 + rng.below(2 * DAY as usize) as i64;
        }
        cascades.push(cascade);
    }

    posts.sort_by(post_order);
    organic.sort_unstable_by(organic_order);
    let mut out = Lines::create(dir, options)?;
    let mut account_batch = None;
    match options.layout {
        Layout::Mixed => {
            write_files(dir, &posts, &tg_channels)?;
            account_batch = Some(write_x_accounts(&dir.join("x_archive"), &posts, &campaigns[0], seed)?);
            for p in &posts {
                out.write(p)?;
            }
        }
        Layout::Jsonl => {
            // The organic records and the planted posts, each in order, merged.
            let (mut organic, mut planted) = (organic.iter().peekable(), posts.iter().peekable());
            loop {
                let drawn;
                let post = match (organic.peek(), planted.peek()) {
                    (Some(o), Some(p)) if !organic_before(o, p) => planted.next(),
                    (Some(_), _) => {
                        drawn = organic.next().map(|o| o.post(&tg_channels, x_accounts, days));
                        drawn.as_ref()
                    }
                    (None, _) => planted.next(),
                };
                let Some(post) = post else { break };
                out.write(post)?;
            }
        }
    }
    out.finish()?;
    // Two sides: the vocabulary's source channel (posts most, its vocabulary spreads), and the Persian cascade's
    // origin channel with the first coordinated group (copied most, a coordinated core).
    let sides = if options.layout == Layout::Mixed {
        vec![
            Side {
                name: "alpha".into(),
                selectors: vec![format!("channel={}", tg_channels[source].1)],
                planted: "posts most; its invented vocabulary is taken up by the other channels of its language".into(),
            },
            Side {
                name: "beta".into(),
                selectors: std::iter::once(format!("channel={}", tg_channels[persian[0]].1))
                    .chain(campaigns[0].members.iter().map(|m| format!("author={m}")))
                    .collect(),
                planted: "its channel begins the copy cascade through the Persian channels; the first coordinated \
                          group is on it"
                    .into(),
            },
        ]
    } else {
        Vec::new()
    };
    Ok(Truth {
        messages: posts.len() + organic.len(),
        seed,
        campaigns,
        cascades,
        vocabulary,
        crowds,
        account_batch,
        sides,
    })
}

/// The Monday of the week the demo's batch of accounts was created: 2024-02-05.
const BATCH_WEEK: i64 = 1_707_091_200;

/// Writes `dir/users.csv`, an information-operations release's accounts file (with the app each account posts
/// with) for every X account of `posts`,
/// from its own random stream: ordinary accounts created over fifteen years, with a few hundred followers,
/// posting from phones and the web; `batch`'s members created within one week, with few followers, posting
/// with TweetDeck.
fn write_x_accounts(dir: &Path, posts: &[Post], batch: &Campaign, seed: u64) -> std::io::Result<AccountBatch> {
    const CLIENT: &str = "TweetDeck";
    const ORGANIC: [&str; 3] = ["Twitter for Android", "Twitter for iPhone", "Twitter Web App"];
    let mut rng = Rng::new(seed ^ 0x6163_636f_756e_7473);
    let members: std::collections::HashSet<&str> = batch.members.iter().filter_map(|m| m.strip_prefix("x:")).collect();
    let accounts: std::collections::BTreeSet<&str> =
        posts.iter().filter(|p| p.platform == "x").filter_map(|p| p.author.as_deref()).collect();
    fs::create_dir_all(dir)?;
    let mut out = BufWriter::new(fs::File::create(dir.join("users.csv"))?);
    writeln!(out, "userid,follower_count,following_count,account_creation_date,account_language,tweet_client_name")?;
    for account in accounts {
        let (created, followers, client) = if members.contains(account) {
            (BATCH_WEEK + rng.below(5 * DAY as usize) as i64, rng.below(40) as i64, CLIENT)
        } else {
            // 2009-01-01 to 2023-12-31; followers log-normal around 300.
            let created = 1_230_768_000 + rng.below(15 * 365 * DAY as usize) as i64;
            let normal = (-2.0 * rng.unit().max(1e-12).ln()).sqrt() * (2.0 * std::f64::consts::PI * rng.unit()).cos();
            (created, (300.0 * normal.exp()) as i64, ORGANIC[rng.below(3)])
        };
        // The date at 00:00 UTC (`iso_local` adds three hours).
        let date: String = iso_local(created - created.rem_euclid(DAY) - 3 * 3600).chars().take(10).collect();
        let language = ["en", "fa", "ru"][rng.below(3)];
        writeln!(out, "{account},{followers},{},{date},{language},{client}", rng.below(500))?;
    }
    out.flush()?;
    Ok(AccountBatch { campaign: batch.id, week: "2024-02-05".to_owned(), client: CLIENT.to_owned() })
}

/// Plant coordinated groups `campaigns.len()..wanted` among the organic X accounts (`50_000 + index`), from
/// their own random stream: the demo's corpus does not change with their number. Members are picked without
/// repetition from the accounts past the 50 most active; when those run out, new accounts (from 10,000,000)
/// join, so every group has its own members.
fn plant_campaigns(
    campaigns: &mut Vec<Campaign>,
    wanted: usize,
    posts: &mut Vec<Post>,
    x_next: &mut u64,
    x_accounts: usize,
    days: usize,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ 0x6361_6d70_6169_676e);
    let mut pool: Vec<u64> = (50..x_accounts as u64).map(|a| 50_000 + a).collect();
    let mut fresh = 10_000_000u64;
    for cid in campaigns.len()..wanted {
        let size = 10 + rng.below(41);
        let mut members = Vec::with_capacity(size);
        for _ in 0..size {
            if pool.is_empty() {
                members.push(fresh);
                fresh += 1;
            } else {
                members.push(pool.swap_remove(rng.below(pool.len())));
            }
        }
        members.sort_unstable();
        let lang = rng.below(3);
        let edited = cid % 2 == 1;
        let spread = 1 + rng.below(60) as i64;
        let share = 6 + rng.below(5); // of 10: how many members take part in a wave
        let hashtag = content_word(lang, rng.below(4096));
        let domain = format!("{}-{cid}.example", content_word(0, rng.below(4096)));
        let urls: Vec<String> = (0..1 + rng.below(3)).map(|k| format!("https://{domain}/a/{k}")).collect();
        let mut campaign = Campaign {
            id: cid,
            members: members.iter().map(|m| format!("x:{m}")).collect(),
            urls: urls.clone(),
            hashtag: hashtag.clone(),
            spread_s: spread,
            waves: Vec::new(),
            message_keys: Vec::new(),
            mode: if edited { "edited" } else { "exact" }.to_owned(),
            leader: None,
        };
        // The first drawn member leads: it posts at the wave's start, every other member after it.
        let leader = members[rng.below(members.len())];
        campaign.leader = Some(format!("x:{leader}"));
        for wave in 0..3 + rng.below(8) {
            let t0 = START + rng.below((days - 1) * DAY as usize) as i64;
            campaign.waves.push(t0);
            let url = &urls[wave % urls.len()];
            let base: Vec<String> = (0..12 + rng.below(19)).map(|_| cascade_word(&mut rng, lang)).collect();
            let mut taking: Vec<u64> =
                members.iter().copied().filter(|&m| m == leader || rng.below(10) < share).collect();
            if taking.len() < 2 {
                taking = members[..2].to_vec();
                if !taking.contains(&leader) {
                    taking[0] = leader;
                }
            }
            for m in taking {
                let mut words = base.clone();
                if edited {
                    for _ in 0..1 + rng.below(3) {
                        let at = rng.below(words.len());
                        words[at] = content_word(lang, rng.below(4096));
                    }
                }
                let post = Post {
                    platform: "x",
                    channel: m.to_string(),
                    channel_name: format!("user_{}", m.saturating_sub(50_000)),
                    id: *x_next,
                    author: Some(m.to_string()),
                    ts: if m == leader { t0 } else { t0 + 1 + rng.below(spread as usize) as i64 },
                    text: format!("{} #{hashtag} {url}", words.join(" ")),
                    urls: vec![url.clone()],
                    forwarded_from: None,
                    repost_of: None,
                };
                *x_next += 1;
                campaign.message_keys.push(post.key());
                posts.push(post);
            }
        }
        campaigns.push(campaign);
    }
}

/// A greeting as many people post it each morning: identical texts, each written on its own.
const GREETINGS: [&str; 3] = [
    "good morning dear friends have a nice day",
    "صبح بخیر دوستان عزیز روز خوبی داشته باشید",
    "доброе утро дорогие друзья хорошего дня",
];

/// Plant `count` crowds among the organic X accounts that are in no campaign, from their own random stream.
/// Crowd sizes run from 30 to 300 accounts; each crowd reacts to 6 to 20 events, each member taking part with a
/// probability of 0.2 to 0.6: reposts of a popular account's posts, shares of a news link and presses of an
/// article's share button (its headline and link, identical for all) after delays around a median of 2 to 10
/// minutes (log-normal), a trending hashtag taken up within the hour, the morning greeting posted between 7
/// and 9.
#[allow(clippy::too_many_arguments)]
fn plant_crowds(
    count: usize,
    taken: &std::collections::HashSet<String>,
    posts: &mut Vec<Post>,
    x_next: &mut u64,
    x_accounts: usize,
    days: usize,
    seed: u64,
) -> Vec<Crowd> {
    let mut rng = Rng::new(seed ^ 0x6372_6f77_6473_0001);
    let pool: Vec<u64> =
        (0..x_accounts as u64).map(|a| 50_000 + a).filter(|a| !taken.contains(&format!("x:{a}"))).collect();
    let mut crowds = Vec::new();
    if pool.len() < 30 {
        return crowds;
    }
    for id in 0..count {
        let kind = ["repost", "link", "hashtag", "greeting", "share"][id % 5];
        let size = (30 + rng.below(271)).min(pool.len());
        // Members drawn without repetition within the crowd; crowds may overlap, as real ones do.
        let mut members: Vec<u64> = Vec::with_capacity(size);
        let mut seen = std::collections::HashSet::new();
        while members.len() < size {
            let m = pool[rng.below(pool.len())];
            if seen.insert(m) {
                members.push(m);
            }
        }
        members.sort_unstable();
        let participation = 0.2 + 0.4 * rng.unit();
        let spread = match kind {
            "repost" | "link" | "share" => 120 + rng.below(481) as i64,
            "hashtag" => 3600,
            _ => 7200,
        };
        let lang = rng.below(3);
        let source = 40_000 + id as u64;
        let tag = format!("trend{}", content_word(0, rng.below(4096)));
        let mut crowd = Crowd {
            id,
            kind: kind.to_owned(),
            members: members.iter().map(|m| format!("x:{m}")).collect(),
            events: Vec::new(),
            spread_s: spread,
            participation,
        };
        for event in 0..6 + rng.below(15) {
            let t0 = match kind {
                // The morning greeting: from 07:00 UTC on a day of the month.
                "greeting" => START + (rng.below(days) as i64) * DAY + 7 * 3600,
                _ => START + rng.below((days - 1) * DAY as usize) as i64,
            };
            crowd.events.push(t0);
            let original = format!("{source}{event:04}");
            let url = format!("https://news{id}.example/{}/{event}", content_word(0, rng.below(4096)));
            // A share button's text: the article's headline, the same for everyone who presses it.
            let headline: Vec<String> = (0..8 + rng.below(8)).map(|_| cascade_word(&mut rng, lang)).collect();
            let headline = headline.join(" ");
            for &m in &members {
                if rng.unit() >= participation {
                    continue;
                }
                let delay = match kind {
                    // Log-normal around the median `spread`, sigma 1: a few within seconds, most within minutes.
                    "repost" | "link" | "share" => {
                        let normal = (-2.0 * rng.unit().max(1e-12).ln()).sqrt()
                            * (2.0 * std::f64::consts::PI * rng.unit()).cos();
                        ((spread as f64) * normal.exp()).min(2.0 * DAY as f64) as i64
                    }
                    _ => rng.below(spread as usize) as i64,
                };
                let (text, urls, repost_of) = match kind {
                    "repost" => (
                        format!("RT @source_{id}: {}", organic_text(&mut rng, lang)),
                        Vec::new(),
                        Some(original.clone()),
                    ),
                    "link" => (format!("{} {url}", organic_text(&mut rng, lang)), vec![url.clone()], None),
                    "hashtag" => (format!("{} #{tag}", organic_text(&mut rng, lang)), Vec::new(), None),
                    "share" => (format!("{headline} {url} via @news{id}"), vec![url.clone()], None),
                    _ => (GREETINGS[lang].to_owned(), Vec::new(), None),
                };
                posts.push(Post {
                    platform: "x",
                    channel: m.to_string(),
                    channel_name: format!("user_{}", m - 50_000),
                    id: *x_next,
                    author: Some(m.to_string()),
                    ts: t0 + delay,
                    text,
                    urls,
                    forwarded_from: None,
                    repost_of,
                });
                *x_next += 1;
            }
        }
        crowds.push(crowd);
    }
    crowds
}

/// The files written a message at a time: `dir/messages.jsonl` in the JSONL layout (links in `urls`), and the
/// coordination-network-toolkit CSV when asked (`message_id,user_id,username,repost_id,reply_id,message,
/// timestamp,urls`, links space-separated; a forward is a repost there, as echolens treats it; message ids are
/// the messages' positions from 10,000,000, unique across platforms).
struct Lines {
    jsonl: Option<BufWriter<fs::File>>,
    toolkit: Option<BufWriter<fs::File>>,
    written: usize,
}

impl Lines {
    fn create(dir: &Path, options: &Options) -> std::io::Result<Self> {
        let jsonl = if options.layout == Layout::Jsonl {
            fs::create_dir_all(dir)?;
            Some(BufWriter::new(fs::File::create(dir.join("messages.jsonl"))?))
        } else {
            None
        };
        let toolkit = match &options.toolkit_csv {
            Some(path) => {
                let mut out = BufWriter::new(fs::File::create(path)?);
                writeln!(out, "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls")?;
                Some(out)
            }
            None => None,
        };
        Ok(Lines { jsonl, toolkit, written: 0 })
    }

    fn write(&mut self, p: &Post) -> std::io::Result<()> {
        if let Some(out) = &mut self.jsonl {
            let mut line = json!({
                "id": p.id, "channel": p.channel, "channel_name": p.channel_name, "author": p.author,
                "timestamp": p.ts, "text": p.text, "platform": p.platform, "forwarded_from": p.forwarded_from,
                "urls": p.urls,
            });
            if let Some(original) = &p.repost_of {
                line["repost_of"] = json!(original);
            }
            writeln!(out, "{line}")?;
        }
        if let Some(out) = &mut self.toolkit {
            let repost = p.repost_of.as_deref().or(p.forwarded_from.as_deref()).unwrap_or("");
            let fields = [
                (10_000_000 + self.written).to_string(),
                p.author.clone().unwrap_or_default(),
                p.channel_name.clone(),
                repost.to_owned(),
                String::new(),
                p.text.clone(),
                p.ts.to_string(),
                p.urls.join(" "),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            writeln!(out, "{}", line.join(","))?;
        }
        self.written += 1;
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        for mut out in self.jsonl.into_iter().chain(self.toolkit) {
            out.flush()?;
        }
        Ok(())
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

/// A number in `0..n` from a post's key: the audience figures come from it, not from the random stream, so
/// adding them changed nothing else in the corpus.
fn figure(post: &Post, salt: u64, n: u64) -> u64 {
    let mut h = Rng::new(salt);
    for b in post.key().bytes() {
        h.0 = h.0.rotate_left(5) ^ u64::from(b);
        h.next_u64();
    }
    h.next_u64() % n.max(1)
}

/// The audience figures the demo's sources state: Telegram channels in JSONL their views and forwards, X posts
/// their likes, retweets and replies (a coordinated group's few), Instagram posts their likes and comments.
/// Telegram Desktop exports state reactions only, on two posts of three (see `write_files`).
fn engagement(p: &Post, line: &mut serde_json::Value) {
    match p.platform {
        "telegram" => {
            let views = 300 + figure(p, 1, 3000);
            line["views"] = json!(views);
            line["shares"] = json!(views / 40 + figure(p, 2, 10));
        }
        "x" => {
            let coordinated = p.author.as_deref().is_some_and(|a| a.starts_with("900") && a.len() == 5);
            let scale = if coordinated { 3 } else { 60 };
            line["likes"] = json!(figure(p, 3, scale));
            line["shares"] = json!(figure(p, 4, scale / 3 + 1));
            line["replies"] = json!(figure(p, 5, scale / 6 + 1));
        }
        _ => {}
    }
}

/// The first three Telegram channels go out as Telegram Desktop exports, everything else as JSONL.
fn write_files(dir: &Path, posts: &[Post], tg_channels: &[(String, String, usize)]) -> std::io::Result<()> {
    let exported: Vec<&str> = tg_channels.iter().take(3).map(|c| c.0.as_str()).collect();
    fs::create_dir_all(dir.join("jsonl"))?;
    for (id, name, _) in tg_channels.iter().take(3) {
        let messages: Vec<serde_json::Value> = posts
            .iter()
            .filter(|p| p.platform == "telegram" && &p.channel == id)
            .map(|p| {
                let text: serde_json::Value = match p.urls.first() {
                    Some(url) => {
                        let before = p.text.split(url.as_str()).next().unwrap_or("");
                        json!([before, {"type": "link", "text": url}])
                    }
                    None => json!(p.text),
                };
                let mut m = json!({
                    "id": p.id, "type": "message", "date": iso_local(p.ts), "date_unixtime": p.ts.to_string(),
                    "from": name, "from_id": p.author, "text": text,
                });
                if let Some(source) = &p.forwarded_from {
                    m["forwarded_from"] = json!(source);
                }
                if figure(p, 6, 3) > 0 {
                    m["reactions"] = json!([
                        {"type": "emoji", "count": 1 + figure(p, 7, 40), "emoji": "\u{1f44d}"},
                        {"type": "emoji", "count": figure(p, 8, 10), "emoji": "\u{1f525}"},
                    ]);
                }
                m
            })
            .collect();
        // In the exporter's key order (name, type, id, messages): readers stream the messages knowing the chat.
        #[derive(Serialize)]
        struct Export<'a> {
            name: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            id: i64,
            messages: Vec<serde_json::Value>,
        }
        let export = Export { name, kind: "public_channel", id: id.parse::<i64>().unwrap_or(0), messages };
        let folder = dir.join("telegram").join(name);
        fs::create_dir_all(&folder)?;
        fs::write(folder.join("result.json"), serde_json::to_string_pretty(&export)?)?;
    }
    let mut tg = BufWriter::new(fs::File::create(dir.join("jsonl").join("telegram_channels.jsonl"))?);
    let mut x = BufWriter::new(fs::File::create(dir.join("jsonl").join("x_accounts.jsonl"))?);
    fs::create_dir_all(dir.join("zeeschuimer"))?;
    let mut ig = BufWriter::new(fs::File::create(dir.join("zeeschuimer").join("instagram.ndjson"))?);
    let mut visit = 0u64;
    for p in posts {
        if p.platform == "telegram" && exported.contains(&p.channel.as_str()) {
            continue;
        }
        if p.platform == "instagram" {
            // As the extension exports a capture: the envelope, the capture time hours after the post, and
            // every tenth post captured again on a later page visit.
            for again in 0..=u64::from(p.id % 10 == 0) {
                visit += 1;
                let line = json!({
                    "id": visit, "nav_index": format!("{}:1:{}", 1 + again, visit), "item_id": p.id.to_string(),
                    "timestamp_collected": (p.ts + 3600 * (2 + again as i64)) * 1000,
                    "source_platform": "instagram.com", "source_platform_url": "https://www.instagram.com/",
                    "source_url": "https://www.instagram.com/api/v1/feed/timeline/", "user_agent": "Mozilla/5.0",
                    "data": {
                        "code": p.id.to_string(), "pk": p.id.to_string(), "taken_at": p.ts,
                        "caption": {"text": p.text}, "media_type": 1, "product_type": "feed",
                        "like_count": figure(p, 9, 500), "comment_count": figure(p, 10, 30),
                        "user": {"pk": p.channel, "username": p.channel_name},
                    },
                });
                writeln!(ig, "{line}")?;
            }
            continue;
        }
        let mut line = json!({
            "id": p.id, "channel": p.channel, "channel_name": p.channel_name, "author": p.author,
            "timestamp": p.ts, "text": p.text, "platform": p.platform, "forwarded_from": p.forwarded_from,
        });
        if let Some(original) = &p.repost_of {
            line["repost_of"] = json!(original);
        }
        engagement(p, &mut line);
        let out = if p.platform == "telegram" { &mut tg } else { &mut x };
        writeln!(out, "{line}")?;
    }
    // An ad in the feed, skipped on import.
    let ad = json!({"id": visit + 1, "source_platform": "instagram.com", "timestamp_collected": START * 1000,
        "data": {"code": "AD1", "taken_at": START, "product_type": "ad", "caption": {"text": "Buy now"},
                 "user": {"pk": "1", "username": "brand"}}});
    writeln!(ig, "{ad}")?;
    tg.flush()?;
    x.flush()?;
    ig.flush()?;
    Ok(())
}

/// The local time Telegram Desktop writes in `date`: here the exporting machine is at UTC+3.
fn iso_local(ts: i64) -> String {
    let t = ts + 3 * 3600;
    let days = t.div_euclid(DAY);
    let rem = t.rem_euclid(DAY);
    // Days to civil date (Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let a = tempfile_dir("a");
        let b = tempfile_dir("b");
        let ta = generate(&a, 2000, 7).unwrap();
        let tb = generate(&b, 2000, 7).unwrap();
        assert_eq!(ta.messages, tb.messages);
        assert_eq!(serde_json::to_string(&ta).unwrap(), serde_json::to_string(&tb).unwrap());
        for f in [
            "jsonl/x_accounts.jsonl",
            "jsonl/telegram_channels.jsonl",
            "telegram/demo_channel_00/result.json",
            "zeeschuimer/instagram.ndjson",
        ] {
            assert_eq!(fs::read(a.join(f)).unwrap(), fs::read(b.join(f)).unwrap(), "{f}");
        }
        // The two X groups, and the Instagram hashtag campaign.
        assert_eq!(ta.campaigns.len(), 3);
        assert!(ta.campaigns[2].members.iter().all(|m| m.starts_with("instagram:")));
        assert!(ta.campaigns.iter().all(|c| c.message_keys.len() > c.members.len()));
        assert!(ta.cascades.len() >= 5);
        for c in &ta.cascades {
            assert_eq!(c.member_keys.len(), c.variants.len());
            assert_eq!(c.member_keys[0], c.origin_key);
            assert!(c.member_keys.len() >= 2);
        }
        // Forwards name their source in the Telegram export as the exporter does.
        let forwards = ta.cascades.iter().flat_map(|c| &c.variants).filter(|v| *v == "forward").count();
        assert!(forwards > 0);
        let _ = fs::remove_dir_all(&a);
        let _ = fs::remove_dir_all(&b);
    }

    /// Campaigns past the demo's two come from their own stream: the rest of the corpus is the same with or
    /// without them. Their members are distinct, their messages are all in the file, and the toolkit CSV has
    /// every message once.
    #[test]
    fn more_campaigns_leave_the_rest_of_the_corpus_as_it_was() {
        let (a, b) = (tempfile_dir("c2"), tempfile_dir("c7"));
        let options = |campaigns, csv: Option<std::path::PathBuf>| Options {
            messages: 3000,
            seed: 11,
            campaigns: Some(campaigns),
            layout: Layout::Jsonl,
            toolkit_csv: csv,
            crowds: 0,
        };
        let few = generate_with(&a, &options(2, None)).unwrap();
        let csv = b.join("toolkit.csv");
        let many = generate_with(&b.join("corpus"), &options(7, Some(csv.clone()))).unwrap();
        assert_eq!(few.campaigns.len(), 2);
        assert_eq!(many.campaigns.len(), 7);
        assert_eq!(serde_json::to_string(&few.cascades).unwrap(), serde_json::to_string(&many.cascades).unwrap());

        let lines = |p: &Path| fs::read_to_string(p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>();
        let few_lines = lines(&a.join("messages.jsonl"));
        let many_lines = lines(&b.join("corpus/messages.jsonl"));
        assert_eq!(few_lines.len(), few.messages);
        assert_eq!(many_lines.len(), many.messages);
        let all: std::collections::HashSet<&String> = many_lines.iter().collect();
        assert!(few_lines.iter().all(|l| all.contains(l)), "the demo's messages are all still there");

        let planted: usize = many.campaigns[2..].iter().map(|c| c.message_keys.len()).sum();
        assert_eq!(many.messages - few.messages, planted);
        let mut members = std::collections::HashSet::new();
        for c in &many.campaigns[2..] {
            assert!((10..=50).contains(&c.members.len()), "{}", c.members.len());
            assert!((3..=10).contains(&c.waves.len()));
            assert!(c.members.iter().all(|m| members.insert(m.clone())), "members of one campaign only");
            assert_eq!(c.mode, if c.id % 2 == 1 { "edited" } else { "exact" });
        }
        // Every planted key is a message of the file, posted by a member with the campaign's hashtag.
        let keys: std::collections::HashMap<String, serde_json::Value> = many_lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (format!("{}:{}:{}", v["platform"].as_str().unwrap(), v["channel"].as_str().unwrap(), v["id"]), v)
            })
            .collect();
        for c in &many.campaigns[2..] {
            for k in &c.message_keys {
                let v = &keys[k];
                assert!(c.members.contains(&format!("x:{}", v["author"].as_str().unwrap())));
                assert!(v["text"].as_str().unwrap().contains(&format!("#{}", c.hashtag)));
                assert_eq!(v["urls"].as_array().unwrap().len(), 1);
            }
        }

        // Organic posts drawn again as they are written, merged with the planted ones: the file is in the
        // corpus's order, each key once, channel ids compared as text ("100…" before "50…").
        let order: Vec<(i64, String, String, u64)> = many_lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |f: &str| v[f].as_str().unwrap().to_owned();
                (v["timestamp"].as_i64().unwrap(), s("platform"), s("channel"), v["id"].as_u64().unwrap())
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "sorted, no key twice");

        let text = fs::read_to_string(&csv).unwrap();
        let mut rows = text.lines();
        assert_eq!(rows.next(), Some("message_id,user_id,username,repost_id,reply_id,message,timestamp,urls"));
        // Texts hold no line breaks, so a line is a row.
        assert_eq!(rows.count(), many.messages);
        let _ = fs::remove_dir_all(&a);
        let _ = fs::remove_dir_all(&b);
    }

    /// Crowds come from their own stream too; their members are in no campaign, and each of their events has
    /// reactions spread as its kind says.
    #[test]
    fn crowds_are_ordinary_accounts_added_beside_the_rest() {
        let (a, b) = (tempfile_dir("nocrowd"), tempfile_dir("crowd"));
        let options = |crowds| Options { crowds, layout: Layout::Jsonl, ..Options::new(40_000, 3) };
        let plain = generate_with(&a, &options(0)).unwrap();
        let crowded = generate_with(&b, &options(8)).unwrap();
        assert!(plain.crowds.is_empty());
        assert_eq!(crowded.crowds.len(), 8);
        let lines = |p: &Path| fs::read_to_string(p.join("messages.jsonl")).unwrap();
        let (plain_text, crowded_text) = (lines(&a), lines(&b));
        let all: std::collections::HashSet<&str> = crowded_text.lines().collect();
        assert!(plain_text.lines().all(|l| all.contains(l)));
        let campaign: std::collections::HashSet<&String> = crowded.campaigns.iter().flat_map(|c| &c.members).collect();
        for c in &crowded.crowds {
            assert!((30..=300).contains(&c.members.len()));
            assert!(c.members.iter().all(|m| !campaign.contains(m)), "crowd {} holds a campaign member", c.id);
        }
        let kinds: Vec<&str> = crowded.crowds.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(&kinds[..5], ["repost", "link", "hashtag", "greeting", "share"]);
        assert!(crowded_text.contains("\"repost_of\""));
        let _ = fs::remove_dir_all(&a);
        let _ = fs::remove_dir_all(&b);
    }

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv_field("plain text"), "plain text");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn local_dates_are_utc_plus_three() {
        assert_eq!(iso_local(START), "2024-03-01T03:00:00");
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("echolens-demo-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }
}
