//! Pseudonyms for shareable outputs: account ids replaced by a keyed hash.
//!
//! A pseudonym is `u-` and 16 hexadecimal digits of BLAKE3 in keyed mode over `platform:id`, with the store's
//! key ([`echolens_store::Store::pseudonym_key`]): the same account has the same pseudonym in every output made
//! from one store, accounts stay apart (64 bits: no collision in practice), and without the key no one can
//! test a guessed id against a pseudonym. Accounts are written `platform:u-…`, so scripts that split on the
//! platform keep working.
//!
//! A channel that is an account's own timeline (on X every channel is; anywhere, a channel whose every message
//! its own id wrote) is an account: its id and name become the account's pseudonym, in message keys too.
//! Other channels — Telegram channels and groups — keep their ids and names.
//!
//! Text shown in an output (evidence, cascade excerpts, coordination keys, terms) has its handles replaced:
//! `@name` mentions and the account part of profile and post URLs on X/Twitter, Instagram, TikTok and
//! Telegram ([`Pseudonyms::text`]). A handle of an account in the store becomes that account's pseudonym;
//! a handle the store knows as a public channel's name stays; any other handle — the store cannot tell a
//! person from an organisation it never saw — becomes a pseudonym of the handle itself.

use std::collections::{HashMap, HashSet};

use datafusion::prelude::SessionContext;

use crate::Result;
use crate::coordination::Coordination;
use crate::reuse::Reuse;
use crate::table::{collect, strings};
use crate::vocabulary::diffusion::Diffusion;
use crate::vocabulary::timeline::Timeline;

/// Pseudonymises ids with a key. The maps hold a pseudonym as its 64 bits ([`Pseudonym`]) and a name as its
/// 128-bit hash ([`NameKey`]), not as text: every account of a large store is in them, for the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Pseudonyms {
    key: [u8; 32],
    /// Personal channels: `platform:channel_id` and `platform:channel_name` → the account's pseudonym (on the
    /// key's platform).
    personal: Frozen<NameKey, Pseudonym>,
    /// Handles (lowercased, without `@`) of accounts in the store → their pseudonym.
    handles: Frozen<NameKey, Pseudonym>,
    /// Names (lowercased) of the store's public channels, which text keeps.
    public: Frozen<NameKey, ()>,
    /// The platforms personal channels are on.
    platforms: Vec<String>,
    /// A personal channel's pseudonym → where (start, end) its `platform:channel_id` is in `stored`, to find
    /// what a shown key names.
    unpersonal: Frozen<Pseudonym, (usize, usize)>,
    /// The personal channels' `platform:channel_id`, one after another.
    stored: String,
}

/// A map made once and then only read: its keys sorted in one vector, its values in another (24 bytes an
/// entry for a name's pseudonym, where a hash table took 37 to 73), found by binary search. Of the values given
/// for one key, the first is kept.
#[derive(Debug, Clone, PartialEq)]
struct Frozen<K, V> {
    keys: Vec<K>,
    values: Vec<V>,
}

impl<K: Ord + Copy, V: Copy> Frozen<K, V> {
    fn new(mut pairs: Vec<(K, V)>) -> Frozen<K, V> {
        // Stable: of equal keys the first given comes first, and is the one kept.
        pairs.sort_by_key(|p| p.0);
        pairs.dedup_by_key(|p| p.0);
        let (keys, values) = pairs.into_iter().unzip();
        Frozen { keys, values }
    }

    /// Entries already in the order of their keys, each key once (as a map's entries are): an error if not.
    fn sorted(pairs: Vec<(K, V)>) -> Result<Frozen<K, V>> {
        let (keys, values): (Vec<K>, Vec<V>) = pairs.into_iter().unzip();
        if !keys.windows(2).all(|w| w[0] < w[1]) {
            return Err(crate::Error::Internal("pseudonyms put aside: a map's keys out of order".into()));
        }
        Ok(Frozen { keys, values })
    }

    /// These entries and then `more`, the first value of each key kept.
    fn extended(self, more: Vec<(K, V)>) -> Frozen<K, V> {
        let mut pairs: Vec<(K, V)> = self.keys.into_iter().zip(self.values).collect();
        pairs.extend(more);
        Frozen::new(pairs)
    }

    fn get(&self, key: &K) -> Option<V> {
        self.keys.binary_search(key).ok().map(|i| self.values[i])
    }

    fn contains(&self, key: &K) -> bool {
        self.keys.binary_search(key).is_ok()
    }

    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Pseudonyms put aside in a spill file ([`Pseudonyms::put_aside`]): their maps grow with the store's accounts
/// (0.15 GB at 53M generated messages), and a run that analyses without them for a while reads them back from
/// the file ([`PutAside::take`], as often as needed) instead of holding them or making them again from the store.
#[derive(Clone)]
pub struct PutAside {
    file: crate::spill::Written,
}

/// Words read back at a time.
const ASIDE_CHUNK: usize = 1 << 16;

/// Writes `words` to `file` a chunk at a time, each word made by `word` from the items.
fn put_words<T>(
    file: &mut crate::spill::Records,
    items: &[T],
    per_item: usize,
    mut word: impl FnMut(&T, &mut Vec<u64>),
) -> Result<()> {
    file.push(&[items.len() as u64])?;
    let mut out = Vec::with_capacity(ASIDE_CHUNK);
    for chunk in items.chunks((ASIDE_CHUNK / per_item).max(1)) {
        out.clear();
        for item in chunk {
            word(item, &mut out);
        }
        file.push(&out)?;
    }
    Ok(())
}

/// Reads back what [`put_words`] wrote: each item from its `per_item` words.
fn take_words<T>(
    reader: &mut crate::spill::Reader,
    per_item: usize,
    mut item: impl FnMut(&[u64]) -> T,
) -> Result<Vec<T>> {
    let mut words = Vec::new();
    reader.words(1, &mut words)?;
    let n = usize::try_from(words[0]).map_err(|_| crate::Error::Internal("pseudonyms put aside: a count".into()))?;
    let mut out = Vec::with_capacity(n);
    let per_chunk = (ASIDE_CHUNK / per_item).max(1);
    while out.len() < n {
        let k = per_chunk.min(n - out.len());
        reader.words(k * per_item, &mut words)?;
        out.extend(words.chunks_exact(per_item).map(&mut item));
    }
    Ok(out)
}

/// A text as words: its length in bytes, then its bytes eight to a word.
fn put_text(file: &mut crate::spill::Records, text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    put_words(file, &bytes.chunks(8).collect::<Vec<_>>(), 1, |c, out| {
        let mut word = [0u8; 8];
        word[..c.len()].copy_from_slice(c);
        out.push(u64::from_le_bytes(word));
    })?;
    file.push(&[bytes.len() as u64])?;
    Ok(())
}

/// Reads back what [`put_text`] wrote.
fn take_text(reader: &mut crate::spill::Reader) -> Result<String> {
    let words = take_words(reader, 1, |w| w[0])?;
    let mut len = Vec::new();
    reader.words(1, &mut len)?;
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let len = usize::try_from(len[0]).ok().filter(|&n| n <= bytes.len());
    let len = len.ok_or_else(|| crate::Error::Internal("pseudonyms put aside: a text's length".into()))?;
    bytes.truncate(len);
    String::from_utf8(bytes).map_err(|_| crate::Error::Internal("pseudonyms put aside: a text not UTF-8".into()))
}

impl PutAside {
    /// The pseudonyms as they were put aside.
    pub fn take(&self) -> Result<Pseudonyms> {
        let mut r = self.file.read()?;
        let mut key = Vec::new();
        r.words(4, &mut key)?;
        let mut k = [0u8; 32];
        for (i, w) in key.iter().enumerate() {
            k[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
        let name = |w: &[u64]| NameKey(u128::from(w[0]) | (u128::from(w[1]) << 64));
        let personal = Frozen::sorted(take_words(&mut r, 3, |w| (name(w), Pseudonym(w[2])))?)?;
        let handles = Frozen::sorted(take_words(&mut r, 3, |w| (name(w), Pseudonym(w[2])))?)?;
        let public = Frozen::sorted(take_words(&mut r, 2, |w| (name(w), ()))?)?;
        let unpersonal = Frozen::sorted(take_words(&mut r, 3, |w| (Pseudonym(w[0]), (w[1] as usize, w[2] as usize)))?)?;
        let mut count = Vec::new();
        r.words(1, &mut count)?;
        let platforms = (0..count[0]).map(|_| take_text(&mut r)).collect::<Result<_>>()?;
        let stored = take_text(&mut r)?;
        Ok(Pseudonyms { key: k, personal, handles, public, platforms, unpersonal, stored })
    }
}

/// A name as the maps hold it: the 128-bit hash of its text, not the text (a large store's accounts are
/// millions; two of ten million names share a hash with a chance of about 1e-25). Made from the name's parts, as
/// if they were one string: `of(&["x", ":", "42"])` is `of(&["x:42"])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct NameKey(u128);

impl NameKey {
    fn of(parts: &[&str]) -> NameKey {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in parts {
            h.update(part.as_bytes());
        }
        NameKey(h.digest128())
    }
}

/// A pseudonym: the first 64 bits of the keyed hash, written `u-` and 16 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Pseudonym(u64);

impl Pseudonym {
    /// The pseudonym written `shown` (`u-` and 16 lowercase hexadecimal digits), if it is one.
    fn parse(shown: &str) -> Option<Pseudonym> {
        let hex = shown.strip_prefix("u-")?;
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok().map(Pseudonym)
    }
}

impl std::fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "u-{:016x}", self.0)
    }
}

/// A SQL predicate over `messages`: the author is a Telegram chat speaking as itself (a channel's own posts,
/// an anonymous group admin), not a person.
pub const CHAT_AUTHOR: &str =
    "(platform = 'telegram' AND (starts_with(author_id, 'channel') OR starts_with(author_id, 'chat')))";

/// The sites whose profile and post URLs name an account.
#[derive(Debug, Clone, Copy)]
enum Site {
    Telegram,
    X,
    Instagram,
    TikTok,
}

/// A byte of a handle: ASCII letters and digits, `_` and `.` (Instagram's).
fn is_handle_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// The end of the handle starting at `from` (a trailing `.` ends a sentence, not the handle).
fn handle_end(bytes: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < bytes.len() && is_handle_byte(bytes[end]) {
        end += 1;
    }
    while end > from && bytes[end - 1] == b'.' {
        end -= 1;
    }
    end
}

/// Whether `name` could be a handle (what `@` or a profile URL can carry).
fn is_handle(name: &str) -> bool {
    !name.is_empty() && handle_end(name.as_bytes(), 0) == name.len()
}

/// Whether `s` starts with a pseudonym `u-` and 16 hexadecimal digits (text already pseudonymised).
fn is_pseudonym(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 18 && b.starts_with(b"u-") && b[2..18].iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl Pseudonyms {
    /// These pseudonyms written to a spill file of `ctx`'s and dropped ([`PutAside`]).
    pub fn put_aside(self, ctx: &SessionContext) -> Result<PutAside> {
        let mut file = crate::spill::Records::new(ctx, "pseudonyms put aside")?;
        let key: Vec<u64> = self.key.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8"))).collect();
        file.push(&key)?;
        let pairs = |f: &Frozen<NameKey, Pseudonym>| -> Vec<(NameKey, Pseudonym)> {
            f.keys.iter().copied().zip(f.values.iter().copied()).collect()
        };
        let name = |n: &NameKey, out: &mut Vec<u64>| out.extend([n.0 as u64, (n.0 >> 64) as u64]);
        for map in [&self.personal, &self.handles] {
            put_words(&mut file, &pairs(map), 3, |(n, p), out| {
                name(n, out);
                out.push(p.0);
            })?;
        }
        put_words(&mut file, &self.public.keys, 2, |n, out| name(n, out))?;
        let unpersonal: Vec<(Pseudonym, (usize, usize))> =
            self.unpersonal.keys.iter().copied().zip(self.unpersonal.values.iter().copied()).collect();
        put_words(&mut file, &unpersonal, 3, |(p, (start, end)), out| out.extend([p.0, *start as u64, *end as u64]))?;
        file.push(&[self.platforms.len() as u64])?;
        for platform in &self.platforms {
            put_text(&mut file, platform)?;
        }
        put_text(&mut file, &self.stored)?;
        Ok(PutAside { file: file.finish()? })
    }

    /// Pseudonyms with `key`, where `personal` lists the channels that are accounts' own timelines as
    /// (platform, channel id, channel name).
    pub fn new(key: [u8; 32], personal: impl IntoIterator<Item = (String, String, Option<String>)>) -> Pseudonyms {
        let mut p = Pseudonyms {
            key,
            personal: Frozen::new(Vec::new()),
            handles: Frozen::new(Vec::new()),
            public: Frozen::new(Vec::new()),
            platforms: Vec::new(),
            unpersonal: Frozen::new(Vec::new()),
            stored: String::new(),
        };
        // In a fixed order: a name two personal channels share takes the pseudonym of the one with the least id,
        // whatever order they were read in; ids come first, so a name never hides an id.
        let mut personal: Vec<(String, String, Option<String>)> = personal.into_iter().collect();
        personal.sort();
        let pseudonyms: Vec<Pseudonym> = personal.iter().map(|(platform, id, _)| p.pseudonym(platform, id)).collect();
        let mut names = Vec::with_capacity(personal.len() * 2);
        let mut unpersonal = Vec::with_capacity(personal.len());
        for ((platform, id, _), &pseudonym) in personal.iter().zip(&pseudonyms) {
            let start = p.stored.len();
            p.stored.push_str(platform);
            p.stored.push(':');
            p.stored.push_str(id);
            names.push((NameKey::of(&[&p.stored[start..]]), pseudonym));
            unpersonal.push((pseudonym, (start, p.stored.len())));
        }
        let mut handles = Vec::new();
        for ((platform, _, name), pseudonym) in personal.into_iter().zip(pseudonyms) {
            if p.platforms.last() != Some(&platform) {
                p.platforms.push(platform.clone());
            }
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                if is_handle(&name) {
                    handles.push((NameKey::of(&[&name.to_lowercase()]), pseudonym));
                }
                names.push((NameKey::of(&[platform.as_str(), ":", name.as_str()]), pseudonym));
            }
        }
        p.personal = Frozen::new(names);
        p.handles = Frozen::new(handles);
        p.unpersonal = Frozen::new(unpersonal);
        p.stored.shrink_to_fit();
        p.platforms.sort();
        p.platforms.dedup();
        p
    }

    /// These pseudonyms, also knowing the screen names of accounts, as (platform, author id, author name),
    /// and the names of public channels, which text keeps. A name an account has is never a public one.
    pub fn with_names(
        mut self,
        accounts: impl IntoIterator<Item = (String, String, String)>,
        public: impl IntoIterator<Item = String>,
    ) -> Pseudonyms {
        let mut accounts: Vec<(String, String, String)> = accounts.into_iter().collect();
        accounts.sort();
        let mut handles = Vec::new();
        for (platform, id, name) in accounts {
            if is_handle(&name) {
                handles.push((NameKey::of(&[&name.to_lowercase()]), self.pseudonym(&platform, &id)));
            }
        }
        self.handles = self.handles.extended(handles);
        let public = public.into_iter().map(|n| (NameKey::of(&[&n.to_lowercase()]), ()));
        let public: Vec<(NameKey, ())> = public.filter(|n| !self.handles.contains(&n.0)).collect();
        self.public = std::mem::replace(&mut self.public, Frozen::new(Vec::new())).extended(public);
        self
    }

    /// The pseudonym for a handle met in text: its account's if the store has the account, none (it stays)
    /// if it names a public channel of the store, else the handle's own.
    fn handle(&self, handle: &str) -> Option<String> {
        if is_pseudonym(handle) {
            return None;
        }
        let lower = handle.to_lowercase();
        let name = NameKey::of(&[&lower]);
        if let Some(p) = self.handles.get(&name) {
            return Some(p.to_string());
        }
        if self.public.contains(&name) {
            return None;
        }
        Some(self.id("@", &lower))
    }

    /// `text` with its handles pseudonymised: `@name` mentions, and the account in URLs of profiles and posts
    /// on X/Twitter (`x.com/NAME/status/…`), Instagram (`instagram.com/NAME`, `…/stories/NAME`), TikTok
    /// (`tiktok.com/@NAME`) and Telegram (`t.me/NAME`, but not a post `t.me/NAME/123`, which only a channel or
    /// public group has). Applying it twice changes nothing more.
    pub fn text(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let (mut copied, mut i) = (0, 0);
        while i < bytes.len() {
            let before = if i == 0 { b' ' } else { bytes[i - 1] };
            if bytes[i] == b'@' && !is_handle_byte(before) {
                if is_pseudonym(&text[i + 1..]) {
                    i += 19;
                    continue;
                }
                let end = handle_end(bytes, i + 1);
                if end > i + 1 {
                    if let Some(p) = self.handle(&text[i + 1..end]) {
                        out.push_str(&text[copied..=i]);
                        out.push_str(&p);
                        copied = end;
                    }
                    i = end;
                    continue;
                }
            }
            if !before.is_ascii_alphanumeric()
                && before != b'-'
                && let Some((start, end)) = self.url_handle(bytes, i)
            {
                if let Some(p) = self.handle(&text[start..end]) {
                    out.push_str(&text[copied..start]);
                    out.push_str(&p);
                    copied = end;
                }
                i = end;
                continue;
            }
            i += 1;
        }
        out.push_str(&text[copied..]);
        out
    }

    /// If a profile or post URL's host starts at `at`, the byte range of its handle.
    fn url_handle(&self, bytes: &[u8], at: usize) -> Option<(usize, usize)> {
        const HOSTS: [(&str, Site); 8] = [
            ("t.me/", Site::Telegram),
            ("telegram.me/", Site::Telegram),
            ("telegram.dog/", Site::Telegram),
            ("x.com/", Site::X),
            ("twitter.com/", Site::X),
            ("instagram.com/", Site::Instagram),
            ("instagr.am/", Site::Instagram),
            ("tiktok.com/", Site::TikTok),
        ];
        let rest = &bytes[at..];
        let (host, site) =
            HOSTS.iter().find(|(h, _)| rest.len() > h.len() && rest[..h.len()].eq_ignore_ascii_case(h.as_bytes()))?;
        let seg = |from: usize| -> (usize, usize) {
            let mut end = from;
            while end < bytes.len()
                && !matches!(bytes[end], b'/' | b'?' | b'#' | b'&')
                && !bytes[end].is_ascii_whitespace()
            {
                end += 1;
            }
            (from, end)
        };
        let (start, end) = seg(at + host.len());
        let first = std::str::from_utf8(&bytes[start..end]).ok()?.to_ascii_lowercase();
        let (start, end) = match site {
            Site::Telegram => {
                const NOT_HANDLES: [&str; 7] = ["s", "c", "joinchat", "addstickers", "share", "proxy", "iv"];
                // A post: `t.me/NAME/123`.
                let post = bytes.get(end) == Some(&b'/') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
                if NOT_HANDLES.contains(&first.as_str()) || first.starts_with('+') || post {
                    return None;
                }
                (start, end)
            }
            Site::X => {
                const NOT_HANDLES: [&str; 12] = [
                    "i",
                    "intent",
                    "hashtag",
                    "search",
                    "home",
                    "explore",
                    "settings",
                    "share",
                    "messages",
                    "notifications",
                    "compose",
                    "login",
                ];
                if NOT_HANDLES.contains(&first.as_str()) {
                    return None;
                }
                (start, end)
            }
            Site::Instagram => {
                const NOT_HANDLES: [&str; 9] =
                    ["p", "reel", "reels", "tv", "explore", "accounts", "direct", "about", "legal"];
                if first == "stories" && bytes.get(end) == Some(&b'/') {
                    seg(end + 1)
                } else if NOT_HANDLES.contains(&first.as_str()) {
                    return None;
                } else {
                    (start, end)
                }
            }
            Site::TikTok => {
                if bytes.get(start) != Some(&b'@') {
                    return None;
                }
                (start + 1, end)
            }
        };
        // Only a handle's characters: anything else is not an account's name.
        (end > start && handle_end(bytes, start) >= end).then_some((start, end))
    }

    /// Pseudonyms with `key` for the channels and accounts of the `messages` table in `ctx`.
    pub async fn load(ctx: &SessionContext, key: [u8; 32]) -> Result<Pseudonyms> {
        // Every name of every channel, and whether the channel's own id wrote every message under it: a
        // channel is personal if that holds under each of its names (an account renamed is one channel under
        // several names).
        let sql = "SELECT platform, channel_id, channel_name, \
                   bool_and(author_id IS NOT NULL AND author_id = channel_id) AS own \
                   FROM messages GROUP BY platform, channel_id, channel_name";
        let mut names: Vec<(String, String, Option<String>, bool)> = Vec::new();
        for batch in collect(ctx, sql).await? {
            let platform = strings(&batch, "platform")?;
            let id = strings(&batch, "channel_id")?;
            let name = strings(&batch, "channel_name")?;
            let own = batch
                .column_by_name("own")
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::BooleanArray>())
                .ok_or_else(|| crate::Error::Internal("own: expected a boolean column".into()))?;
            for i in 0..batch.num_rows() {
                let name = (!name.is_null(i)).then(|| name.value(i).to_owned());
                let own = arrow::array::Array::is_valid(own, i) && own.value(i);
                names.push((platform.value(i).to_owned(), id.value(i).to_owned(), name, own));
            }
        }
        let mut not_own: HashSet<(&str, &str)> = HashSet::new();
        for (platform, id, _, own) in &names {
            if !own {
                not_own.insert((platform, id));
            }
        }
        let is_personal = |platform: &str, id: &str| !not_own.contains(&(platform, id));
        let personal: Vec<(String, String, Option<String>)> = names
            .iter()
            .filter(|(p, id, _, _)| is_personal(p, id))
            .map(|(p, id, name, _)| (p.clone(), id.clone(), name.clone()))
            .collect();
        let public: Vec<String> =
            names.iter().filter(|(p, id, _, _)| !is_personal(p, id)).filter_map(|(_, _, n, _)| n.clone()).collect();
        // A Telegram chat speaking as itself (`channel…`, `chat…`: a channel's posts) is no person.
        let sql = format!(
            "SELECT platform, author_id, author_name FROM messages \
             WHERE author_id IS NOT NULL AND author_name IS NOT NULL AND NOT {CHAT_AUTHOR} \
             GROUP BY platform, author_id, author_name"
        );
        let mut accounts = Vec::new();
        for batch in collect(ctx, &sql).await? {
            let platform = strings(&batch, "platform")?;
            let id = strings(&batch, "author_id")?;
            let name = strings(&batch, "author_name")?;
            for i in 0..batch.num_rows() {
                accounts.push((platform.value(i).to_owned(), id.value(i).to_owned(), name.value(i).to_owned()));
            }
        }
        Ok(Pseudonyms::new(key, personal).with_names(accounts, public))
    }

    /// The store's public id: a UUID made from its key (one key, one store), for identifiers that must be
    /// stable across exports of one store's findings without revealing the key.
    pub fn store_id(&self) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(b"echolens store id");
        let b = h.finalize();
        let mut u = [0u8; 16];
        u.copy_from_slice(&b.as_bytes()[..16]);
        // Version 8 (custom), RFC 9562 variant.
        u[6] = (u[6] & 0x0f) | 0x80;
        u[8] = (u[8] & 0x3f) | 0x80;
        let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }

    /// Personal channels known (each counted once).
    pub fn personal_channels(&self) -> usize {
        // One reverse entry per personal channel: its ids and names share its pseudonym.
        self.unpersonal.len()
    }

    /// The pseudonym of `id` on `platform`: `u-` and 16 hexadecimal digits.
    pub fn id(&self, platform: &str, id: &str) -> String {
        self.pseudonym(platform, id).to_string()
    }

    /// The pseudonym of `id` on `platform`, as its bits.
    fn pseudonym(&self, platform: &str, id: &str) -> Pseudonym {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(platform.as_bytes());
        h.update(b":");
        h.update(id.as_bytes());
        let bytes = h.finalize();
        Pseudonym(u64::from_be_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes")))
    }

    /// An account written `platform:id` as `platform:u-…`.
    pub fn account(&self, account: &str) -> String {
        match account.split_once(':') {
            Some((platform, id)) => format!("{platform}:{}", self.id(platform, id)),
            None => self.id("", account),
        }
    }

    /// A channel written `platform:id` or `platform:name`: the account's pseudonym if it is a personal
    /// channel, else unchanged.
    pub fn channel(&self, channel: &str) -> String {
        match (self.personal.get(&NameKey::of(&[channel])), channel.split_once(':')) {
            (Some(p), Some((platform, _))) => format!("{platform}:{p}"),
            _ => channel.to_owned(),
        }
    }

    /// The id of a channel (its pseudonym if personal).
    pub fn channel_id(&self, platform: &str, id: &str) -> String {
        match self.personal.get(&NameKey::of(&[platform, ":", id])) {
            Some(p) => p.to_string(),
            None => id.to_owned(),
        }
    }

    /// The name of a channel (its pseudonym if personal).
    pub fn channel_name(&self, platform: &str, id: &str, name: &str) -> String {
        match self.personal.get(&NameKey::of(&[platform, ":", id])) {
            Some(p) => p.to_string(),
            None => name.to_owned(),
        }
    }

    /// A message key `platform:channel_id:message_id` with the channel pseudonymised if personal. A message
    /// id may hold `:` itself, so every split is tried, the shortest channel first.
    pub fn key(&self, key: &str) -> String {
        let Some((platform, rest)) = key.split_once(':') else { return key.to_owned() };
        for (at, _) in rest.match_indices(':') {
            let (channel, message) = (&rest[..at], &rest[at + 1..]);
            if let Some(p) = self.personal.get(&NameKey::of(&[platform, ":", channel])) {
                return format!("{platform}:{p}:{message}");
            }
        }
        key.to_owned()
    }

    /// The stored key a shown key stands for: [`Pseudonyms::key`] undone (a key that is not a pseudonymised one
    /// is returned as it is).
    pub fn stored_key(&self, shown: &str) -> String {
        let Some((platform, rest)) = shown.split_once(':') else { return shown.to_owned() };
        let Some((channel, message)) = rest.split_once(':') else { return shown.to_owned() };
        match self.unpersonal_channel(platform, channel) {
            Some(stored) => format!("{stored}:{message}"),
            None => shown.to_owned(),
        }
    }

    /// The stored id of a personal channel shown as its account's pseudonym `u-…` on `platform`, if it is one.
    pub fn stored_channel_id(&self, platform: &str, shown: &str) -> Option<&str> {
        let stored = self.unpersonal_channel(platform, shown)?;
        Some(&stored[platform.len() + 1..])
    }

    /// The stored `platform:channel_id` of the personal channel shown as `shown` on `platform`, if it is one.
    fn unpersonal_channel(&self, platform: &str, shown: &str) -> Option<&str> {
        let stored = self.stored_channel(Pseudonym::parse(shown)?)?;
        stored.strip_prefix(platform)?.starts_with(':').then_some(stored)
    }

    /// Every personal channel's stored `platform:channel_id` shown as `u-…`, for a selector naming one.
    pub fn stored_channels(&self, shown: &str) -> Vec<&str> {
        Pseudonym::parse(shown).and_then(|p| self.stored_channel(p)).map(|stored| vec![stored]).unwrap_or_default()
    }

    /// The stored `platform:channel_id` of the personal channel whose pseudonym is `p`.
    fn stored_channel(&self, p: Pseudonym) -> Option<&str> {
        let (start, end) = self.unpersonal.get(&p)?;
        self.stored.get(start..end)
    }

    /// A channel as a selector names it (id or name, without its platform): the account's pseudonym if it is
    /// a personal channel on some platform, else unchanged.
    fn selected_channel(&self, channel: &str) -> String {
        // The least `platform:u-…` where several platforms have it.
        let found = self
            .platforms
            .iter()
            .filter_map(|platform| {
                let p = self.personal.get(&NameKey::of(&[platform.as_str(), ":", channel]))?;
                Some((format!("{platform}:{p}"), p))
            })
            .min();
        match found {
            Some((_, p)) => p.to_string(),
            None => channel.to_owned(),
        }
    }

    /// A selector as an output shows it: an author's id pseudonymised (one given without its platform is only
    /// said to be one), a personal channel as its account's pseudonym, a SQL predicate not shown (it may hold
    /// ids).
    pub fn selector(&self, selector: &crate::select::Selector) -> String {
        use crate::select::Selector;
        match selector {
            Selector::Author(id) if id.contains(':') => format!("author={}", self.account(id)),
            Selector::Author(_) => "author=(an account id, pseudonymised)".to_owned(),
            Selector::Channel(c) => format!("channel={}", self.selected_channel(c)),
            Selector::Where(_) => "where=(a SQL predicate, shown with --reveal)".to_owned(),
            other => other.to_string(),
        }
    }

    /// A selection as an output shows it (see [`Pseudonyms::selector`]).
    pub fn selection(&self, selection: &crate::select::Selection) -> String {
        if selection.is_empty() {
            return selection.to_string();
        }
        selection.selectors().iter().map(|s| self.selector(s)).collect::<Vec<_>>().join(" ")
    }

    /// A command line as an output shows it: every argument that is an author, channel or SQL selector
    /// (`author=ID`, `--target=author=ID`, `--side NAME=author=ID`) shown as [`Pseudonyms::selector`] shows it.
    pub fn command_line(&self, args: &[String]) -> String {
        use crate::select::Selector;
        let shown = |arg: &str| -> Option<String> {
            let (flag, value) = match arg.strip_prefix("--").and_then(|a| a.split_once('=')) {
                Some((flag, value)) => (format!("--{flag}="), value),
                None => (String::new(), arg),
            };
            let hidden = |value: &str| match Selector::parse(value).ok()? {
                s @ (Selector::Author(_) | Selector::Channel(_) | Selector::Where(_)) => Some(self.selector(&s)),
                _ => None,
            };
            // A selector, or a named one (`--side NAME=author=ID`).
            hidden(value).map(|s| format!("{flag}{s}")).or_else(|| {
                let (name, rest) = value.split_once('=')?;
                hidden(rest).map(|s| format!("{flag}{name}={s}"))
            })
        };
        args.iter().map(|a| shown(a).unwrap_or_else(|| a.clone())).collect::<Vec<_>>().join(" ")
    }

    /// Pseudonymise a coordination result: accounts, evidence keys, personal channels.
    pub fn coordination(&self, c: &mut Coordination) {
        use crate::coordination::AccountName;
        // Each account's pseudonym made once, one string shared by all of its edges.
        let mut accounts: HashMap<AccountName, AccountName> = HashMap::new();
        let mut shown = |a: &str| -> AccountName {
            if let Some(p) = accounts.get(a) {
                return p.clone();
            }
            let p: AccountName = std::sync::Arc::from(self.account(a));
            accounts.insert(std::sync::Arc::from(a), p.clone());
            p
        };
        c.edges.rename_accounts(|a| shown(a));
        // The edges hold each message key of their evidence once.
        c.edges.rename_evidence(|k| self.key(k));
        for a in &mut c.network.accounts {
            *a = shown(a).to_string();
        }
        c.channels = std::mem::take(&mut c.channels)
            .into_iter()
            .map(|(a, channels)| {
                let mut channels: Vec<(String, u64)> =
                    channels.into_iter().map(|(ch, n)| (self.channel(&ch), n)).collect();
                // In name order again, the pseudonyms' order.
                channels.sort_unstable();
                (shown(&a).to_string(), channels)
            })
            .collect();
        c.domains = std::mem::take(&mut c.domains).into_iter().map(|(a, d)| (shown(&a).to_string(), d)).collect();
        c.accounts = std::mem::take(&mut c.accounts).into_iter().map(|(a, f)| (shown(&a).to_string(), f)).collect();
        for d in &mut c.channel_domains {
            d.channel = self.channel(&d.channel);
        }
        for ((kind, _), label) in &mut c.labels {
            *label = self.label(kind.name(), label);
        }
        for (kind, label, _) in &mut c.left_out.top_over_max {
            *label = self.label(kind, label);
        }
    }

    /// A coordination key's label of `kind`: a message key's personal channel, a forward's source that is not
    /// a public channel, and the handles in texts and links.
    pub fn label(&self, kind: &str, label: &str) -> String {
        match kind {
            "repost" | "quote" | "reply" => {
                // A Telegram forward is keyed by its source chat's name and its text.
                if let Some((platform, rest)) = label.split_once(":forward:") {
                    let (source, text) = rest.split_once(':').unwrap_or((rest, ""));
                    return format!("{platform}:forward:{}:{}", self.source_name(source), self.text(text));
                }
                self.key(label)
            }
            _ => self.text(label),
        }
    }

    /// A forward's source as the export names it (a display name, not a handle): kept if it is a public
    /// channel's name, else its account's pseudonym if it is one's handle, else a pseudonym of the name.
    pub fn source_name(&self, name: &str) -> String {
        let lower = name.to_lowercase();
        let key = NameKey::of(&[&lower]);
        if self.public.contains(&key) {
            return name.to_owned();
        }
        self.handles.get(&key).map_or_else(|| self.id("name", &lower), |p| p.to_string())
    }

    /// Pseudonymise a reuse result: authors, keys, personal channels.
    pub fn reuse(&self, r: &mut Reuse) {
        for m in &mut r.members {
            if let Some(a) = &m.author_id {
                m.author_id = Some(self.id(&m.platform, a));
            }
            m.key = self.key(&m.key);
            m.parent_key = m.parent_key.as_deref().map(|k| self.key(k));
            if let Some(name) = &m.channel_name {
                m.channel_name = Some(self.channel_name(&m.platform, &m.channel_id, name));
            }
            m.channel_id = self.channel_id(&m.platform, &m.channel_id);
            m.text = m.text.as_deref().map(|t| self.text(t));
        }
        for b in &mut r.boilerplate {
            b.channel = self.channel(&b.channel);
        }
        for f in &mut r.forwards {
            if let Some(name) = &f.channel_name {
                f.channel_name = Some(self.channel_name(&f.platform, &f.channel_id, name));
            }
            f.channel_id = self.channel_id(&f.platform, &f.channel_id);
            f.source = match &f.source_channel_id {
                // A channel of the store: its own name, or its account's pseudonym if it is one's timeline.
                Some(id) => self.channel_name(&f.platform, id, &f.source),
                None => self.source_name(&f.source),
            };
            f.source_channel_id = f.source_channel_id.as_deref().map(|id| self.channel_id(&f.platform, id));
            for k in &mut f.evidence {
                *k = self.key(k);
            }
        }
    }

    /// Pseudonymise a comparison: personal channels, keys and handles among the terms.
    pub fn compare(&self, c: &mut crate::compare::Compare) {
        for t in &mut c.terms {
            t.term = self.text(&t.term);
            t.side_first_key = t.side_first_key.as_deref().map(|k| self.key(k));
        }
        for a in &mut c.adopters {
            a.term = self.text(&a.term);
            a.channel_name = self.channel_name(&a.platform, &a.channel_id, &a.channel_name);
            a.channel_id = self.channel_id(&a.platform, &a.channel_id);
            a.first_key = self.key(&a.first_key);
        }
        for x in &mut c.copying {
            x.origin_channel = self.channel_name(&x.origin_platform, &x.origin_channel_id, &x.origin_channel);
            x.origin_channel_id = self.channel_id(&x.origin_platform, &x.origin_channel_id);
            x.origin_key = self.key(&x.origin_key);
            for k in &mut x.copy_keys {
                *k = self.key(k);
            }
        }
        for x in &mut c.clusters {
            for k in &mut x.evidence_keys {
                *k = self.key(k);
            }
        }
    }

    /// Pseudonymise a diffusion result: personal channels and keys.
    pub fn diffusion(&self, d: &mut Diffusion) {
        // The summary names a few channels (the first to use each term): only theirs are remembered, not every
        // channel's, which a large corpus has millions of.
        let named: HashSet<&str> = d.summary.iter().flat_map(|s| s.sources.iter().map(String::as_str)).collect();
        let mut names: HashMap<String, String> = HashMap::new();
        for a in &mut d.channels {
            let (id, name) = (a.channel_id.clone(), a.channel_name.clone());
            self.adoption(a);
            if named.contains(name.as_str()) {
                names.insert(name, a.channel_name.clone());
            }
            if named.contains(id.as_str()) {
                names.insert(id, a.channel_id.clone());
            }
        }
        drop(named);
        for t in &mut d.term_adoption {
            t.first_key = self.key(&t.first_key);
        }
        for t in &mut d.terms {
            *t = self.text(t);
        }
        for p in &mut d.curve {
            p.term = self.text(&p.term);
        }
        for s in &mut d.summary {
            for source in &mut s.sources {
                if let Some(n) = names.get(source) {
                    *source = n.clone();
                }
            }
            s.source_key = s.source_key.as_deref().map(|k| self.key(k));
            s.term = self.text(&s.term);
        }
    }

    /// Pseudonymise a diffusion's row of a channel: the channel if personal, its first message's key, the term
    /// it used first.
    pub fn adoption(&self, a: &mut crate::vocabulary::diffusion::Adoption) {
        a.channel_name = self.channel_name(&a.platform, &a.channel_id, &a.channel_name);
        a.channel_id = self.channel_id(&a.platform, &a.channel_id);
        a.first_key = a.first_key.as_deref().map(|k| self.key(k));
        a.first_term = a.first_term.as_deref().map(|t| self.text(t));
    }

    /// Pseudonymise a diffusion's row of a channel's use of a term: the channel if personal, the first message's
    /// key.
    pub fn term_use(&self, t: &mut crate::vocabulary::diffusion::TermUse) {
        t.channel_name = self.channel_name(&t.platform, &t.channel_id, &t.channel_name);
        t.channel_id = self.channel_id(&t.platform, &t.channel_id);
        t.first_key = self.key(&t.first_key);
    }

    /// Pseudonymise keyness: handles among the terms.
    pub fn keyness(&self, k: &mut crate::vocabulary::keyness::Keyness) {
        for t in &mut k.terms {
            t.term = self.text(&t.term);
        }
    }

    /// Pseudonymise keyness by group: channel groups that are accounts' own timelines.
    pub fn keyness_by(&self, k: &mut crate::vocabulary::keyness_by::KeynessBy) {
        for t in &mut k.terms {
            if k.by == crate::vocabulary::keyness_by::By::Channel {
                t.group = self.channel(&t.group);
            }
            t.term = self.text(&t.term);
        }
    }

    /// Pseudonymise a timeline: series that are accounts' own timelines.
    pub fn timeline(&self, t: &mut Timeline) {
        self.series(&mut t.rows);
    }

    /// Timeline rows (as [`Pseudonyms::timeline`]), such as one series from a streamed timeline.
    pub fn series(&self, rows: &mut [crate::vocabulary::timeline::Row]) {
        for row in rows {
            let pseudonym = self.channel(&row.group);
            if pseudonym != row.group {
                row.name = pseudonym[pseudonym.find(':').map_or(0, |i| i + 1)..].to_owned();
                row.group = pseudonym;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn a_frozen_map_keeps_the_first_value_given_as_a_hash_map_entry_would(
            first in proptest::collection::vec((0u8..20, proptest::num::u8::ANY), 0..40),
            more in proptest::collection::vec((0u8..20, proptest::num::u8::ANY), 0..40),
        ) {
            let mut expected: HashMap<u8, u8> = HashMap::new();
            for &(k, v) in first.iter().chain(&more) {
                expected.entry(k).or_insert(v);
            }
            let frozen = Frozen::new(first).extended(more);
            proptest::prop_assert_eq!(frozen.len(), expected.len());
            for k in 0..25u8 {
                proptest::prop_assert_eq!(frozen.get(&k), expected.get(&k).copied());
                proptest::prop_assert_eq!(frozen.contains(&k), expected.contains_key(&k));
            }
        }
    }

    fn pseudonyms(key: u8) -> Pseudonyms {
        Pseudonyms::new([key; 32], [("x".to_owned(), "42".to_owned(), Some("troll_42".to_owned()))])
    }

    #[test]
    fn a_pseudonym_depends_on_the_key_the_platform_and_the_id() {
        let p = pseudonyms(1);
        let a = p.id("x", "42");
        assert!(a.starts_with("u-") && a.len() == 18 && a[2..].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(p.id("x", "42"), a, "stable");
        assert_ne!(p.id("x", "43"), a);
        assert_ne!(p.id("telegram", "42"), a, "the same id on two platforms is two accounts");
        assert_ne!(pseudonyms(2).id("x", "42"), a, "another key, another pseudonym");
        assert_eq!(p.account("x:42"), format!("x:{a}"));
    }

    /// An X account `42` (`alice`), a Telegram group member `7` (`bob_tg`), a public channel `news_now`.
    #[test]
    fn pseudonyms_put_aside_come_back_the_same() {
        let ctx = SessionContext::new();
        let many = (0..5000).map(|i| ("x".to_owned(), format!("{i}"), Some(format!("name_{i}"))));
        let personal = many.chain([("telegram".to_owned(), "99".to_owned(), Some("Ünïcode канал".to_owned()))]);
        let accounts = (0..3000).map(|i| ("x".to_owned(), format!("a{i}"), format!("handle_{i}")));
        let p = Pseudonyms::new([7; 32], personal).with_names(accounts, ["Public News".to_owned()]);
        let aside = p.clone().put_aside(&ctx).unwrap();
        let back = aside.take().unwrap();
        assert_eq!(back, p);
        assert_eq!(aside.take().unwrap(), p, "taken twice");
        assert_eq!(back.text("@handle_7 and t.me/name_3"), p.text("@handle_7 and t.me/name_3"));
        let empty = Pseudonyms::new([0; 32], []);
        assert_eq!(empty.clone().put_aside(&ctx).unwrap().take().unwrap(), empty);
    }

    fn with_names() -> Pseudonyms {
        Pseudonyms::new([1; 32], [("x".to_owned(), "42".to_owned(), Some("alice".to_owned()))]).with_names(
            [("telegram".to_owned(), "7".to_owned(), "bob_tg".to_owned())],
            ["news_now".to_owned(), "Alice".to_owned()],
        )
    }

    #[test]
    fn handles_in_mentions_and_profile_urls_become_pseudonyms_public_channels_stay() {
        let p = with_names();
        let (alice, bob, stranger) = (p.id("x", "42"), p.id("telegram", "7"), p.id("@", "stranger"));
        let cases = [
            ("hi @alice and @Bob_TG.", format!("hi @{alice} and @{bob}.")),
            ("@stranger: read this", format!("@{stranger}: read this")),
            ("join @news_now today", "join @news_now today".to_owned()),
            ("mail me at bob_tg@example.org", "mail me at bob_tg@example.org".to_owned()),
            ("https://x.com/alice/status/123?s=20", format!("https://x.com/{alice}/status/123?s=20")),
            ("see twitter.com/ALICE", format!("see twitter.com/{alice}")),
            ("https://mobile.twitter.com/stranger", format!("https://mobile.twitter.com/{stranger}")),
            ("https://x.com/i/status/9 x.com/hashtag/a", "https://x.com/i/status/9 x.com/hashtag/a".to_owned()),
            ("https://www.instagram.com/bob_tg/", format!("https://www.instagram.com/{bob}/")),
            (
                "https://instagram.com/p/Cx12/ instagram.com/stories/alice/1",
                format!("https://instagram.com/p/Cx12/ instagram.com/stories/{alice}/1"),
            ),
            ("https://www.tiktok.com/@alice/video/7", format!("https://www.tiktok.com/@{alice}/video/7")),
            ("t.me/bob_tg and t.me/news_now", format!("t.me/{bob} and t.me/news_now")),
            (
                "https://t.me/somechannel/42 t.me/+AbC t.me/joinchat/x",
                "https://t.me/somechannel/42 t.me/+AbC t.me/joinchat/x".to_owned(),
            ),
            ("https://dax.com/alice", "https://dax.com/alice".to_owned()),
            ("مرحبا @alice!", format!("مرحبا @{alice}!")),
        ];
        for (text, expected) in cases {
            assert_eq!(p.text(text), expected, "{text}");
            assert_eq!(p.text(&expected), expected, "applied twice: {text}");
        }
        // A name an account has is never kept as public, whatever the case.
        assert_eq!(p.text("@ALICE"), format!("@{alice}"));
    }

    #[test]
    fn a_forward_source_and_selectors_are_shown_without_identities() {
        let p = with_names();
        assert_eq!(p.label("repost", "telegram:forward:news_now:hello"), "telegram:forward:news_now:hello");
        let shown = p.label("repost", "telegram:forward:Jane Doe:hi @alice");
        assert!(!shown.contains("Jane") && shown.contains(&p.id("name", "jane doe")), "{shown}");
        assert!(shown.ends_with(&format!("hi @{}", p.id("x", "42"))), "{shown}");
        let args: Vec<String> = [
            "echolens",
            "keyness",
            "--target",
            "author=x:42",
            "--target=channel=alice",
            "--reference",
            "where=author_id = '42'",
            "--out",
            "k",
        ]
        .map(str::to_owned)
        .to_vec();
        let line = p.command_line(&args);
        assert!(!line.contains("42") && !line.contains("alice"), "{line}");
        assert!(line.contains(&format!("author=x:{}", p.id("x", "42"))), "{line}");
        assert!(line.contains(&format!("--target=channel={}", p.id("x", "42"))), "{line}");
        assert!(line.ends_with("--out k"), "{line}");
        let args = ["compare", "--side", "gov=author=x:42", "--side=opp=channel=alice", "--side", "b=platform=x"]
            .map(str::to_owned)
            .to_vec();
        let line = p.command_line(&args);
        assert!(!line.contains("42") && !line.contains("alice"), "a side's selector too: {line}");
        assert!(line.contains(&format!("--side gov=author=x:{} --side=opp=channel=", p.id("x", "42"))), "{line}");
        assert!(line.ends_with("--side b=platform=x"), "{line}");
    }

    #[test]
    fn the_store_id_is_a_uuid_of_the_key() {
        let (a, b) = (pseudonyms(1).store_id(), pseudonyms(2).store_id());
        assert_ne!(a, b);
        assert_eq!(a, pseudonyms(1).store_id());
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{a}");
        assert_eq!(&a[14..15], "8", "version 8: {a}");
    }

    #[test]
    fn a_message_id_with_colons_does_not_keep_a_personal_channel_in_its_key() {
        let p = Pseudonyms::new([1; 32], [("x".to_owned(), "42".to_owned(), Some("alice".to_owned()))]);
        let pseudonym = p.id("x", "42");
        assert_eq!(p.key("x:42:7"), format!("x:{pseudonym}:7"));
        assert_eq!(p.key("x:42:7:reply:9"), format!("x:{pseudonym}:7:reply:9"));
        assert_eq!(p.key("telegram:news:7:1"), "telegram:news:7:1", "a public channel stays");
    }

    #[test]
    fn a_shown_key_leads_back_to_the_stored_one() {
        let p = Pseudonyms::new([1; 32], [("x".to_owned(), "42".to_owned(), Some("alice".to_owned()))]);
        for stored in ["x:42:7", "x:42:7:reply:9", "telegram:news:7", "x:43:1"] {
            assert_eq!(p.stored_key(&p.key(stored)), stored);
        }
        let pseudonym = p.id("x", "42");
        assert_eq!(p.stored_channel_id("x", &pseudonym), Some("42"));
        assert_eq!(p.stored_channel_id("telegram", &pseudonym), None, "another platform's");
        assert_eq!(p.stored_channels(&pseudonym), ["x:42"]);
        assert_eq!(p.stored_key("not a key"), "not a key");
        // Only a pseudonym as written is one: not in capitals, cut short, or of no personal channel.
        let shown = format!("x:{}:7", pseudonym.to_ascii_uppercase());
        assert_eq!(p.stored_key(&shown), shown);
        let shown = format!("x:{}:7", &pseudonym[..17]);
        assert_eq!(p.stored_key(&shown), shown);
        assert!(p.stored_channels("u-0000000000000000").is_empty());
        assert!(p.stored_channels("alice").is_empty());
        assert_eq!(p.stored_channel_id("", &pseudonym), None);
    }

    #[tokio::test]
    async fn every_name_of_a_renamed_account_maps_to_its_pseudonym() {
        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};
        let ctx = SessionContext::new();
        // One X account under two screen names, and a public Telegram channel.
        let column = |v: [&str; 3]| -> arrow::array::ArrayRef { std::sync::Arc::new(StringArray::from(v.to_vec())) };
        let schema = Schema::new(
            ["platform", "channel_id", "channel_name", "author_id", "author_name"]
                .map(|n| Field::new(n, DataType::Utf8, true))
                .to_vec(),
        );
        let batch = arrow::record_batch::RecordBatch::try_new(
            std::sync::Arc::new(schema),
            vec![
                column(["x", "x", "telegram"]),
                column(["42", "42", "news"]),
                column(["alice", "alice_renamed", "News"]),
                column(["42", "42", "7"]),
                column(["alice", "alice_renamed", "carol"]),
            ],
        )
        .unwrap();
        ctx.register_batch("messages", batch).unwrap();
        let p = Pseudonyms::load(&ctx, [1; 32]).await.unwrap();
        let pseudonym = format!("x:{}", p.id("x", "42"));
        assert_eq!(p.channel("x:alice"), pseudonym);
        assert_eq!(p.channel("x:alice_renamed"), pseudonym);
        assert_eq!(p.channel("telegram:News"), "telegram:News");
        // Handles: the account's every name, a group member's, and the public channel's name kept.
        assert_eq!(p.text("@alice_renamed @Alice"), format!("@{0} @{0}", p.id("x", "42")));
        assert_eq!(p.text("@carol"), format!("@{}", p.id("telegram", "7")));
        assert_eq!(p.text("t.me/news"), "t.me/news");
    }

    #[test]
    fn personal_channels_become_their_accounts_pseudonym_public_ones_stay() {
        let p = pseudonyms(1);
        let a = p.id("x", "42");
        assert_eq!(p.channel_id("x", "42"), a);
        assert_eq!(p.channel_name("x", "42", "troll_42"), a);
        assert_eq!(p.channel("x:troll_42"), format!("x:{a}"), "a personal channel by name");
        assert_eq!(p.key("x:42:1001"), format!("x:{a}:1001"));
        assert_eq!(p.channel_id("telegram", "777"), "777");
        assert_eq!(p.channel_name("telegram", "777", "news"), "news");
        assert_eq!(p.key("telegram:777:5"), "telegram:777:5");
        assert_eq!(p.channel("telegram:news"), "telegram:news");
        assert_eq!(p.personal_channels(), 1);
    }

    #[test]
    fn a_reuse_result_keeps_its_links_under_pseudonyms() {
        use crate::reuse::{Member, Params, Role};
        let p = pseudonyms(1);
        let a = p.id("x", "42");
        let member =
            |key: &str, platform: &str, channel: &str, name: &str, author: &str, parent: Option<&str>| Member {
                cascade: 1,
                key: key.into(),
                platform: platform.into(),
                channel_id: channel.into(),
                channel_name: Some(name.into()),
                author_id: Some(author.into()),
                ts: 0,
                role: if parent.is_some() { Role::Copy } else { Role::Origin },
                parent_key: parent.map(str::to_owned),
                similarity: None,
                text: None,
            };
        let mut r = Reuse {
            params: Params::default(),
            members: vec![
                member("x:42:1", "x", "42", "troll_42", "42", None),
                member("telegram:777:5", "telegram", "777", "news", "9", Some("x:42:1")),
            ],
            counts: Default::default(),
            boilerplate: Vec::new(),
            forwards: Vec::new(),
        };
        p.reuse(&mut r);
        let (origin, copy) = (&r.members[0], &r.members[1]);
        assert_eq!((origin.key.as_str(), origin.channel_id.as_str()), (format!("x:{a}:1").as_str(), a.as_str()));
        assert_eq!(origin.channel_name.as_deref(), Some(a.as_str()));
        assert_eq!(origin.author_id.as_deref(), Some(a.as_str()), "the timeline's pseudonym is its account's");
        assert_eq!(copy.parent_key.as_deref(), Some(origin.key.as_str()), "the link survives");
        assert_eq!((copy.key.as_str(), copy.channel_name.as_deref()), ("telegram:777:5", Some("news")));
        assert_eq!(copy.author_id, Some(p.id("telegram", "9")));
    }

    /// A name's key is the hash of its text, whichever parts it is made of.
    #[test]
    fn a_name_key_is_its_whole_text_however_it_is_cut() {
        let whole = NameKey::of(&["telegram:some_channel"]);
        assert_eq!(NameKey::of(&["telegram", ":", "some_channel"]), whole);
        assert_eq!(NameKey::of(&["", "telegram:", "some_", "channel", ""]), whole);
        assert_ne!(NameKey::of(&["telegram:some_channeL"]), whole);
        assert_ne!(NameKey::of(&["x:some_channel"]), whole);
    }

    /// The channels a diffusion summary names as first users are pseudonymised as their rows are, by name or by
    /// id; a public channel and an unnamed non-personal one stay as they are.
    #[test]
    fn a_diffusion_summary_names_its_first_users_as_the_rows_do() {
        use crate::vocabulary::diffusion::{Adoption, Diffusion, TermSummary};
        let p = pseudonyms(1);
        let channel = |platform: &str, id: &str, name: &str| Adoption {
            platform: platform.into(),
            channel_id: id.into(),
            channel_name: name.into(),
            first_use: Some(0),
            first_key: Some(format!("{platform}:{id}:1")),
            first_term: Some("kestrine".into()),
            uses: 1,
            messages: 2,
        };
        let summary = |sources: &[&str]| TermSummary {
            term: "kestrine".into(),
            channels: 3,
            uses: 3,
            first_use: None,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            source_key: Some("x:42:1".into()),
            days_to_half: None,
        };
        let mut d = Diffusion {
            terms: vec!["kestrine".into()],
            selection: String::new(),
            channels: vec![channel("x", "42", "troll_42"), channel("x", "43", ""), channel("telegram", "news", "News")],
            term_adoption: Vec::new(),
            curve: Vec::new(),
            summary: vec![summary(&["troll_42", "News"]), summary(&["43"])],
            messages: 6,
            channel_count: 3,
            adopters: 3,
        };
        p.diffusion(&mut d);
        let shown = p.id("x", "42");
        assert_eq!((d.channels[0].channel_id.as_str(), d.channels[0].channel_name.as_str()), (&*shown, &*shown));
        assert_eq!(d.summary[0].sources, [shown.as_str(), "News"]);
        assert_eq!(d.summary[1].sources, ["43"]);
        assert_eq!(d.summary[0].source_key.as_deref(), Some(format!("x:{shown}:1").as_str()));
    }
}
