//! Text reuse cascades: which texts were copied where, and who posted first.
//!
//! Three DataFusion plans feed one kernel:
//!
//! 1. **Boilerplate**: the channels' texts are streamed once; for each channel a Misra-Gries summary finds the
//!    word shingles that occur in at least `boilerplate_share` of its messages (signatures, "join us @channel",
//!    share-button lines). Those shingles are left out of that channel's texts before matching, and counted.
//! 2. **Cascades**: every message in time order, with its repost target resolved by the plan. The kernel links
//!    each message to at most one earlier message, its *parent*:
//!    - an X repost to the reposted original (an explicit link, whatever the texts);
//!    - a text seen before, exactly (normalised), to its first occurrence (short texts match only this way);
//!    - otherwise a near-duplicate: the text's shingle set goes through a MinHash LSH index of every earlier
//!      distinct text, at any time distance, and every candidate's exact Jaccard similarity is checked; the
//!      parent is the most similar earlier text at or above the threshold (a Telegram forward prefers one in
//!      the channel it names).
//!
//!    Parents are earlier, so the links form a forest: each tree is a cascade, its root (the earliest member)
//!    the origin. Roles: origin, forward (a Telegram forward or X repost), copy.
//! 3. **Members**: the members of cascades that reach `min_channels` channels are joined back to `messages` for
//!    their keys, channels, authors and times.
//!
//! The index: each band key is the pair of shingles minimal under the band's two hash functions (shingles in
//! more than `common_share` of all texts do not take part); it keeps, per key, the latest text that had it. An
//! earlier text is a candidate when it is the latest holder of at least two of the new text's keys (the bands
//! are chosen so that a pair at the threshold qualifies with probability ≥ 0.99), so a lookup costs one probe
//! per key and a handful of exact checks, however many texts share a common phrase. A copy of a copy finds
//! the latest copy, which is as similar as the origin. Texts are linked batch by batch: lookups against the
//! earlier batches run in parallel, then the batch is linked in order with a small index of its own. Memory
//! grows with the number of distinct texts (a shingle set and one entry per key each, about 300 bytes), not
//! with the corpus text.

mod output;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rayon::prelude::*;
use serde::Serialize;

use crate::minhash::{KeyHasher, jaccard, mix, shingle_set};
use crate::table::{collect, i64s, strings};
use crate::{Error, Result};

pub use output::{CascadeSummary, summaries, write_outputs};

/// The parameters of a reuse run; all of them are written to `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// Jaccard similarity of word-shingle sets at or above which two texts are copies.
    pub threshold: f64,
    /// Words per shingle.
    pub shingle: usize,
    /// Texts with fewer words match only exactly (normalised).
    pub min_tokens: usize,
    /// A shingle in at least this share of a channel's messages is that channel's boilerplate.
    pub boilerplate_share: f64,
    /// Channels with fewer texts are not checked for boilerplate.
    pub boilerplate_min_messages: u64,
    /// Cascades reaching fewer channels are left out (and counted).
    pub min_channels: usize,
    /// A shingle in at least this share of all texts is common: it still counts in the similarity, but does not
    /// key the index, where it would put unrelated texts into one bucket.
    pub common_share: f64,
    /// LSH bands ([`ROWS`] MinHashes each), chosen from the threshold.
    pub bands: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params::new(0.5, 2)
    }
}

impl Params {
    /// Defaults with `threshold` and `shingle`, and bands for the threshold ([`bands_for`]).
    pub fn new(threshold: f64, shingle: usize) -> Params {
        Params {
            threshold,
            shingle,
            min_tokens: 5,
            boilerplate_share: 0.2,
            boilerplate_min_messages: 20,
            min_channels: 2,
            common_share: 0.002,
            bands: bands_for(threshold),
        }
    }

    fn check(&self) -> Result<()> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(Error::Param(format!("--threshold must be in (0, 1], not {}", self.threshold)));
        }
        if self.shingle == 0 {
            return Err(Error::Param("--shingle must be at least 1".into()));
        }
        if !(self.boilerplate_share > 0.0 && self.boilerplate_share <= 1.0) {
            return Err(Error::Param(format!("--boilerplate-share must be in (0, 1], not {}", self.boilerplate_share)));
        }
        if self.min_channels == 0 || self.bands == 0 {
            return Err(Error::Param("--min-channels and bands must be at least 1".into()));
        }
        Ok(())
    }
}

/// MinHashes per band.
pub const ROWS: usize = 2;

/// Band keys an earlier text must share with a new one to be a candidate (when the new text has that many).
pub const MIN_HITS: usize = 2;

/// Bands of [`ROWS`] MinHashes each so that a pair at Jaccard `t` shares at least [`MIN_HITS`] band keys with
/// probability ≥ 0.99. Two hashes per band and two hits, not one of each: with one, the chance that unrelated
/// texts become candidates falls too slowly with their similarity (1 − (1 − J)^b), and in a large corpus of
/// repetitive texts every text would be checked against thousands.
pub fn bands_for(t: f64) -> usize {
    let p = t.powi(ROWS as i32);
    (MIN_HITS..=128)
        .find(|&b| {
            let miss: f64 =
                (0..MIN_HITS).map(|k| binomial(b, k) * p.powi(k as i32) * (1.0 - p).powi((b - k) as i32)).sum();
            miss <= 0.01
        })
        .unwrap_or(128)
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// A member's role in its cascade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The earliest member.
    Origin,
    /// A copy of an earlier member's text.
    Copy,
    /// A Telegram forward or an X repost.
    Forward,
}

impl Role {
    /// The role's name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Origin => "origin",
            Role::Copy => "copy",
            Role::Forward => "forward",
        }
    }
}

/// A message in a cascade.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Cascade id (1 = the earliest origin).
    pub cascade: usize,
    /// Message key.
    pub key: String,
    /// Platform.
    pub platform: String,
    /// Channel id.
    pub channel_id: String,
    /// Channel name.
    pub channel_name: Option<String>,
    /// Author id.
    pub author_id: Option<String>,
    /// Time (µs).
    pub ts: i64,
    /// Role.
    pub role: Role,
    /// The earlier member it was copied or forwarded from (None for the origin).
    pub parent_key: Option<String>,
    /// Jaccard similarity to the parent (None for the origin, and for a repost whose texts cannot be compared).
    pub similarity: Option<f64>,
    /// The text as written (kept for the origin only).
    pub text: Option<String>,
}

/// Counts of what the run saw, linked and left out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Messages read.
    pub messages: u64,
    /// Messages without words (media only, empty): no text to match.
    pub empty_texts: u64,
    /// Texts with fewer than `min_tokens` words: matched only exactly.
    pub short_texts: u64,
    /// Messages linked to an exact earlier copy of their text.
    pub exact_links: u64,
    /// Messages linked to a near-duplicate earlier text.
    pub near_links: u64,
    /// Near-duplicate candidates from the index whose similarity was checked.
    pub candidates_checked: u64,
    /// Of those, below the threshold.
    pub candidates_rejected: u64,
    /// X reposts linked to their original.
    pub reposts_linked: u64,
    /// X reposts whose original is not in the store.
    pub reposts_unresolved: u64,
    /// Telegram forwards linked to an earlier member (by text).
    pub forwards_linked: u64,
    /// Of those, linked to a message in the channel the forward names.
    pub forwards_to_named_channel: u64,
    /// Telegram forwards with no earlier text to link to.
    pub forwards_unresolved: u64,
    /// Forwards naming a channel that is not in the store.
    pub forwards_source_not_in_store: u64,
    /// Channels with boilerplate shingles.
    pub boilerplate_channels: u64,
    /// Boilerplate shingles over all channels.
    pub boilerplate_shingles: u64,
    /// Texts that had boilerplate shingles left out.
    pub boilerplate_texts: u64,
    /// Shingles in at least `common_share` of all texts: they count in the similarity but do not key the index.
    pub common_shingles: u64,
    /// Texts made only of common shingles (and boilerplate): matched only exactly.
    pub common_only_texts: u64,
    /// Cascades (two or more members) found.
    pub cascades_found: u64,
    /// Of those, reaching fewer than `min_channels` channels: left out.
    pub cascades_below_min_channels: u64,
    /// Messages in the left-out cascades.
    pub members_below_min_channels: u64,
    /// Cascades reported.
    pub cascades: u64,
    /// Messages in reported cascades.
    pub members: u64,
}

/// A channel's boilerplate, for the summary: channel, its texts, boilerplate shingles.
#[derive(Debug, Clone, Serialize)]
pub struct Boilerplate {
    /// `platform:channel_id`.
    pub channel: String,
    /// Texts of the channel considered.
    pub texts: u64,
    /// Boilerplate shingles found.
    pub shingles: u64,
}

/// The result of a reuse run.
#[derive(Debug, Clone)]
pub struct Reuse {
    /// The parameters used.
    pub params: Params,
    /// Members of reported cascades, by cascade, then time.
    pub members: Vec<Member>,
    /// Counts.
    pub counts: Counts,
    /// Channels with boilerplate, most shingles first.
    pub boilerplate: Vec<Boilerplate>,
}

const NONE: u32 = u32::MAX;

/// The `k` most frequent items of a stream with counts that are never over and at most `n / (k + 1)` under
/// (Misra-Gries): bounded memory however many distinct shingles a channel has.
#[derive(Debug)]
struct Heavy {
    counts: HashMap<u64, u32, std::hash::BuildHasherDefault<KeyHasher>>,
    texts: u64,
    k: usize,
}

/// Counters per channel: a channel's boilerplate count is at most 20 texts' worth of shingles / 513 under.
const CHANNEL_K: usize = 512;
/// Counters for the whole corpus: common shingles (in ≥ `COMMON_SHARE` of all texts).
const GLOBAL_K: usize = 1 << 16;

impl Heavy {
    fn new(k: usize) -> Heavy {
        Heavy { counts: HashMap::default(), texts: 0, k }
    }

    /// The items counted in at least `share` of the texts (and at least `floor` times).
    fn at_least(self, share: f64, floor: u32) -> HashSet64 {
        let min = ((share * self.texts as f64).ceil() as u32).max(floor);
        self.counts.into_iter().filter(|&(_, n)| n >= min).map(|(s, _)| s).collect()
    }

    fn add(&mut self, set: &[u64]) {
        self.texts += 1;
        for &s in set {
            if let Some(c) = self.counts.get_mut(&s) {
                *c += 1;
            } else if self.counts.len() < self.k {
                self.counts.insert(s, 1);
            } else {
                self.counts.retain(|_, c| {
                    *c -= 1;
                    *c > 0
                });
            }
        }
    }
}

/// The words of a normalised text, and its shingle set when it has at least `min_tokens` words.
fn text_shingles(text: &str, p: &Params) -> (usize, Option<Vec<u64>>) {
    let words: Vec<&str> = echolens_text::tokens(text).collect();
    let set = (words.len() >= p.min_tokens).then(|| shingle_set(&words, p.shingle));
    (words.len(), set)
}

/// Channel interning: `platform:channel_id` → index.
#[derive(Default)]
struct Channels {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl Channels {
    fn get(&mut self, ch: &str) -> u32 {
        if let Some(&i) = self.index.get(ch) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(ch.to_owned(), i);
        self.names.push(ch.to_owned());
        i
    }
}

/// What pass 1 finds: each channel's boilerplate shingles, the corpus's common shingles.
struct Frequent {
    boilerplate: Vec<HashSet64>,
    report: Vec<Boilerplate>,
    common: HashSet64,
}

/// Pass 1: each channel's boilerplate shingles and the corpus's common ones.
async fn frequent(ctx: &SessionContext, p: &Params, channels: &mut Channels, counts: &mut Counts) -> Result<Frequent> {
    // Only channels with enough messages get counters: on X every account is a channel, and most have few.
    let min = p.boilerplate_min_messages.min(i64::MAX as u64);
    let eligible =
        format!("SELECT concat(platform, ':', channel_id) AS ch FROM messages GROUP BY 1 HAVING count(*) >= {min}");
    let mut heavy: Vec<Option<Heavy>> = Vec::new();
    for batch in collect(ctx, &eligible).await? {
        let ch = strings(&batch, "ch")?;
        for i in 0..batch.num_rows() {
            let c = channels.get(ch.value(i)) as usize;
            if heavy.len() <= c {
                heavy.resize_with(c + 1, || None);
            }
            heavy[c] = Some(Heavy::new(CHANNEL_K));
        }
    }
    let sql = "SELECT concat(platform, ':', channel_id) AS ch, text_norm FROM messages";
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let mut global = Heavy::new(GLOBAL_K);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let ch = strings(&batch, "ch")?;
        let text = strings(&batch, "text_norm")?;
        let sets: Vec<Option<Vec<u64>>> =
            (0..batch.num_rows()).into_par_iter().map(|i| text_shingles(&match_text(text.value(i)), p).1).collect();
        let chans: Vec<usize> = (0..batch.num_rows()).map(|i| channels.get(ch.value(i)) as usize).collect();
        // The corpus's counts and the channels' counts side by side. The corpus's come from every fourth text
        // (a shingle in 0.2% of all texts is in about 0.2% of the sample), so the two sides take similar time.
        rayon::join(
            || sets.iter().step_by(4).flatten().for_each(|set| global.add(set)),
            || {
                for (set, &c) in sets.iter().zip(&chans) {
                    if let (Some(set), Some(Some(h))) = (set, heavy.get_mut(c)) {
                        h.add(set);
                    }
                }
            },
        );
    }
    let mut sets = vec![HashSet64::default(); channels.names.len()];
    let mut report = Vec::new();
    for (c, h) in heavy.into_iter().enumerate() {
        let Some(h) = h else { continue };
        if h.texts < p.boilerplate_min_messages {
            continue;
        }
        let texts = h.texts;
        let found = h.at_least(p.boilerplate_share, 1);
        if !found.is_empty() {
            counts.boilerplate_channels += 1;
            counts.boilerplate_shingles += found.len() as u64;
            report.push(Boilerplate { channel: channels.names[c].clone(), texts, shingles: found.len() as u64 });
            sets[c] = found;
        }
    }
    report.sort_by(|a, b| b.shingles.cmp(&a.shingles).then_with(|| a.channel.cmp(&b.channel)));
    let common = global.at_least(p.common_share, 20);
    counts.common_shingles = common.len() as u64;
    Ok(Frequent { boilerplate: sets, report, common })
}

/// Forward sources: a channel's name or id (per platform) → its index.
async fn forward_sources(ctx: &SessionContext, channels: &mut Channels) -> Result<HashMap<String, u32>> {
    let sql = "SELECT DISTINCT platform, channel_id, channel_name FROM messages ORDER BY platform, channel_id";
    let mut out = HashMap::new();
    for batch in collect(ctx, sql).await? {
        let platform = strings(&batch, "platform")?;
        let id = strings(&batch, "channel_id")?;
        let name = strings(&batch, "channel_name")?;
        for i in 0..batch.num_rows() {
            let by_id = format!("{}:{}", platform.value(i), id.value(i));
            let c = channels.get(&by_id);
            out.entry(by_id).or_insert(c);
            if name.is_valid(i) {
                out.entry(format!("{}:{}", platform.value(i), name.value(i))).or_insert(c);
            }
        }
    }
    Ok(out)
}

/// A text prepared for the index: its sorted 32-bit shingle hashes and band keys.
struct Prepared {
    words: usize,
    text_h: u64,
    set: Vec<u32>,
    bands: Vec<u32>,
    boilerplate_removed: bool,
}

/// The text as reuse compares it: the normalised text without ZWNJ, so that a Persian copy written without
/// them ("آنها", "میگویند") is the same text as the original ("آن‌ها", "می‌گویند"). Tokens stay whole: a ZWNJ
/// joins, never splits, a word.
fn match_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(echolens_text::ZWNJ) {
        std::borrow::Cow::Owned(text.replace(echolens_text::ZWNJ, ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn prepare(text: &str, boilerplate: &HashSet64, common: &HashSet64, p: &Params) -> Prepared {
    let text = &*match_text(text);
    let (words, set) = text_shingles(text, p);
    let text_h = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    let Some(mut set) = set else {
        return Prepared { words, text_h, set: Vec::new(), bands: Vec::new(), boilerplate_removed: false };
    };
    let before = set.len();
    if !boilerplate.is_empty() {
        set.retain(|s| !boilerplate.contains(s));
    }
    let boilerplate_removed = set.len() < before;
    // The index is keyed by the text's uncommon shingles. A text made only of common phrases has no key: it
    // matches only exactly (a bucket of every such text would be checked against every new one).
    let keyed: Vec<u64> = set.iter().copied().filter(|s| !common.contains(s)).collect();
    let bands = if keyed.is_empty() {
        Vec::new()
    } else {
        // A band's key is the pair of shingles that are minimal under its two hash functions, unordered and
        // without the band's number: texts whose minima are the same two shingles share a key whichever bands
        // chose them, and a text with few distinct minima has few keys (one probe each).
        let mut keys: Vec<u32> = (0..p.bands)
            .map(|b| {
                let mut argmin = [0u64; ROWS];
                for (r, slot) in argmin.iter_mut().enumerate() {
                    // Shingle hashes are already uniform: one xor and one odd multiply order them anew.
                    let seed = mix(((b * ROWS + r) as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    let odd = seed | 1;
                    *slot = *keyed.iter().min_by_key(|&&h| (h ^ seed).wrapping_mul(odd)).expect("set is not empty");
                }
                argmin.sort_unstable();
                (argmin.iter().fold(0x51_7cc1_b727_220a, |k, &h| mix(k ^ h)) >> 32) as u32
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    };
    let mut small: Vec<u32> = set.iter().map(|&h| (h >> 32) as u32).collect();
    small.sort_unstable();
    small.dedup();
    Prepared { words, text_h, set: small, bands, boilerplate_removed }
}

/// The LSH index over every earlier distinct text: per band key the latest slot, and per (slot, band) the
/// previous slot with the same key.
struct Index {
    /// Band key → the latest text with it.
    latest: HashMap<u32, u32, std::hash::BuildHasherDefault<KeyHasher>>,
    offsets: Vec<usize>,
    arena: Vec<u32>,
    doc: Vec<u32>,
}

impl Index {
    fn with_capacity(texts: usize, keys: usize) -> Index {
        let mut latest = HashMap::default();
        latest.reserve(keys);
        let mut offsets = Vec::with_capacity(texts + 1);
        offsets.push(0);
        Index { latest, offsets, arena: Vec::new(), doc: Vec::with_capacity(texts) }
    }

    fn set(&self, slot: u32) -> &[u32] {
        &self.arena[self.offsets[slot as usize]..self.offsets[slot as usize + 1]]
    }

    /// Earlier slots that are the latest holder of at least `min_hits` of `keys`.
    fn candidates(&self, keys: &[u32], min_hits: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend(keys.iter().filter_map(|k| self.latest.get(k).copied()));
        out.sort_unstable();
        let mut kept = 0;
        let mut i = 0;
        while i < out.len() {
            let mut j = i + 1;
            while j < out.len() && out[j] == out[i] {
                j += 1;
            }
            if j - i >= min_hits {
                out[kept] = out[i];
                kept += 1;
            }
            i = j;
        }
        out.truncate(kept);
    }

    fn insert(&mut self, doc: u32, set: &[u32], keys: &[u32]) {
        let slot = self.doc.len() as u32;
        self.doc.push(doc);
        self.arena.extend_from_slice(set);
        self.offsets.push(self.arena.len());
        for key in keys {
            self.latest.insert(*key, slot);
        }
    }
}

/// A verified earlier text: its similarity, whether it is in the channel a forward names, its position.
#[derive(Debug, Clone, Copy)]
struct Match {
    sim: f64,
    named: bool,
    doc: u32,
}

impl Match {
    /// More similar, then in the named channel, then earlier.
    fn beats(&self, other: &Match) -> bool {
        (self.sim, self.named, std::cmp::Reverse(self.doc)) > (other.sim, other.named, std::cmp::Reverse(other.doc))
    }
}

/// The best match of `prep` in `index` at or above the threshold, with the candidates checked and rejected.
fn best_match(
    index: &Index,
    prep: &Prepared,
    source: Option<u32>,
    channel_of: impl Fn(u32) -> u32,
    p: &Params,
    cands: &mut Vec<u32>,
) -> (Option<Match>, u64, u64) {
    index.candidates(&prep.bands, MIN_HITS.min(prep.bands.len()), cands);
    let mut best: Option<Match> = None;
    let mut rejected = 0;
    for &slot in cands.iter() {
        let sim = jaccard(&prep.set, index.set(slot));
        if sim + 1e-12 < p.threshold {
            rejected += 1;
            continue;
        }
        let doc = index.doc[slot as usize];
        let m = Match { sim, named: source == Some(channel_of(doc)), doc };
        if best.is_none_or(|b| m.beats(&b)) {
            best = Some(m);
        }
    }
    (best, cands.len() as u64, rejected)
}

/// Messages in the store, to size the index once instead of growing it.
async fn count_messages(ctx: &SessionContext) -> Result<usize> {
    let batches = collect(ctx, "SELECT count(*) AS n FROM messages").await?;
    Ok(batches.first().map_or(0, |b| i64s(b, "n").map_or(0, |n| n.value(0) as usize)))
}

/// The kernel's state: one entry per message read, in time order.
#[derive(Default)]
struct Forest {
    key_h: Vec<i64>,
    channel: Vec<u32>,
    parent: Vec<u32>,
    similarity: Vec<f32>,
    forward: Vec<bool>,
}

/// Find the cascades in the `messages` table of `ctx`.
pub async fn run(ctx: &SessionContext, params: Params) -> Result<Reuse> {
    params.check()?;
    let p = &params;
    let mut counts = Counts::default();
    let mut channels = Channels::default();
    let sources = forward_sources(ctx, &mut channels).await?;
    let timings = std::env::var_os("ECHOLENS_TIMINGS").is_some();
    let started = std::time::Instant::now();
    let stage = |name: &str| {
        if timings {
            eprintln!("{:>8.2} s  {name}", started.elapsed().as_secs_f64());
        }
    };
    let Frequent { boilerplate: boiler, report: boilerplate_report, common } =
        frequent(ctx, p, &mut channels, &mut counts).await?;
    stage("boilerplate and common shingles");

    // Pass 2: every message in time order. `target` marks originals that some repost names; `rp` is a repost's
    // original, both as hashes of `platform:message_id`.
    let sql = "SELECT hash64(m.key) AS h, concat(m.platform, ':', m.channel_id) AS ch, m.platform, \
               CAST(m.ts AS BIGINT) AS ts, m.text_norm, m.forwarded_from AS fwd, \
               CASE WHEN t.id IS NOT NULL THEN t.id END AS target, \
               CASE WHEN m.repost_of IS NOT NULL THEN hash64(concat(m.platform, ':', m.repost_of)) END AS rp \
               FROM (SELECT DISTINCT hash64(concat(platform, ':', repost_of)) AS id FROM messages \
                     WHERE repost_of IS NOT NULL) t \
               RIGHT JOIN messages m ON t.id = hash64(concat(m.platform, ':', m.message_id)) \
               ORDER BY ts, h";
    crate::table::explain(ctx, sql).await?;
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let mut forest = Forest::default();
    let texts = count_messages(ctx).await?;
    // Sized once for the keys it will most likely hold: a text's bands give fewer distinct keys than bands, and
    // later texts take over keys. Reserving a full `bands` per message would round a 10M corpus's table up to
    // the next power of two: 4.8 GB instead of 2.4 GB.
    let mut index = Index::with_capacity(texts, texts * p.bands * 3 / 4);
    let mut first_text: HashMap<u64, u32, std::hash::BuildHasherDefault<KeyHasher>> = HashMap::default();
    let mut targets: HashMap<i64, u32> = HashMap::new();
    let mut cands = Vec::new();
    let empty = HashSet64::default();
    let (mut t_plan, mut t_prepare, mut t_link, mut t_phase_a) = (0.0, 0.0, 0.0, 0.0);
    let mut pending: Vec<(u32, Vec<u32>, Vec<u32>)> = Vec::new();
    let mut t = std::time::Instant::now();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        t_plan += t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
        let h = i64s(&batch, "h")?;
        let ch = strings(&batch, "ch")?;
        let platform = strings(&batch, "platform")?;
        let text = strings(&batch, "text_norm")?;
        let fwd = strings(&batch, "fwd")?;
        let target = i64s(&batch, "target")?;
        let rp = i64s(&batch, "rp")?;
        let chans: Vec<u32> = (0..batch.num_rows()).map(|i| channels.get(ch.value(i))).collect();
        // The previous batch's texts go into the index while this batch's are prepared.
        let (_, prepared) = rayon::join(
            || {
                for (doc, set, keys) in pending.drain(..) {
                    index.insert(doc, &set, &keys);
                }
            },
            || -> Vec<Prepared> {
                (0..batch.num_rows())
                    .into_par_iter()
                    .map(|i| prepare(text.value(i), boiler.get(chans[i] as usize).unwrap_or(&empty), &common, p))
                    .collect()
            },
        );
        t_prepare += t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
        // The channel each forward names, looked up once per row.
        let source: Vec<Option<u32>> = (0..batch.num_rows())
            .map(|i| {
                fwd.is_valid(i)
                    .then(|| sources.get(&format!("{}:{}", platform.value(i), fwd.value(i))).copied())
                    .flatten()
            })
            .collect();
        // Phase A, in parallel: each text's best match among the texts of earlier batches (a read-only index).
        let earlier: Vec<(Option<Match>, u64, u64)> = (0..batch.num_rows())
            .into_par_iter()
            .map_init(Vec::new, |cands, i| {
                let prep = &prepared[i];
                if prep.bands.is_empty() {
                    return (None, 0, 0);
                }
                best_match(&index, prep, source[i], |d| forest.channel[d as usize], p, cands)
            })
            .collect();
        t_phase_a += t.elapsed().as_secs_f64();
        // Phase B, in order: reposts, exact copies, and matches within the batch (a small index of its own).
        let mut local = Index::with_capacity(batch.num_rows(), batch.num_rows() * p.bands);
        let mut indexed = Vec::new();
        for (i, prep) in prepared.iter().enumerate() {
            let doc = forest.key_h.len() as u32;
            counts.messages += 1;
            let mut parent = NONE;
            let mut sim = f32::NAN;
            let mut forward = false;
            if prep.boilerplate_removed {
                counts.boilerplate_texts += 1;
            }
            if prep.words == 0 {
                counts.empty_texts += 1;
            } else if prep.words < p.min_tokens {
                counts.short_texts += 1;
            } else if prep.bands.is_empty() {
                counts.common_only_texts += 1;
            }
            let (before, checked, rejected) = earlier[i];
            counts.candidates_checked += checked;
            counts.candidates_rejected += rejected;
            // An X repost names its original.
            if rp.is_valid(i) {
                match targets.get(&rp.value(i)) {
                    Some(&orig) => {
                        parent = orig;
                        forward = true;
                        counts.reposts_linked += 1;
                    }
                    None => counts.reposts_unresolved += 1,
                }
            }
            if parent == NONE && prep.words > 0 {
                if let Some(&first) = first_text.get(&prep.text_h) {
                    parent = first;
                    sim = 1.0;
                    counts.exact_links += 1;
                } else {
                    first_text.insert(prep.text_h, doc);
                    if !prep.bands.is_empty() {
                        let (within, checked, rejected) =
                            best_match(&local, prep, source[i], |d| forest.channel[d as usize], p, &mut cands);
                        counts.candidates_checked += checked;
                        counts.candidates_rejected += rejected;
                        let best = match (before, within) {
                            (Some(a), Some(b)) => Some(if b.beats(&a) { b } else { a }),
                            (a, b) => a.or(b),
                        };
                        if let Some(m) = best {
                            parent = m.doc;
                            sim = m.sim as f32;
                            counts.near_links += 1;
                        }
                        local.insert(doc, &prep.set, &prep.bands);
                        indexed.push((doc, i));
                    }
                }
            }
            if fwd.is_valid(i) {
                let source = source[i];
                if source.is_none() {
                    counts.forwards_source_not_in_store += 1;
                }
                if parent == NONE {
                    counts.forwards_unresolved += 1;
                } else {
                    forward = true;
                    counts.forwards_linked += 1;
                    if source == Some(forest.channel[parent as usize]) {
                        counts.forwards_to_named_channel += 1;
                    }
                }
            }
            if target.is_valid(i) {
                targets.insert(target.value(i), doc);
            }
            forest.key_h.push(h.value(i));
            forest.channel.push(chans[i]);
            forest.parent.push(parent);
            forest.similarity.push(sim);
            forest.forward.push(forward);
        }
        let mut prepared = prepared;
        for (doc, i) in indexed {
            pending.push((doc, std::mem::take(&mut prepared[i].set), std::mem::take(&mut prepared[i].bands)));
        }
        t_link += t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
    }
    if timings {
        eprintln!(
            "          plan {t_plan:.2} s, prepare {t_prepare:.2} s, link {t_link:.2} s (earlier batches \
             {t_phase_a:.2} s)"
        );
    }
    if timings {
        eprintln!("          index: {} texts, {} keys", index.doc.len(), index.latest.len());
    }
    drop(index);
    drop(first_text);
    stage("links");

    // Trees: parents are earlier, so one pass in order finds every root.
    let n = forest.parent.len();
    let mut root = vec![0u32; n];
    let mut size = vec![0u32; n];
    for d in 0..n {
        let p = forest.parent[d];
        root[d] = if p == NONE { d as u32 } else { root[p as usize] };
        size[root[d] as usize] += 1;
    }
    let mut by_root: HashMap<u32, Vec<u32>> = HashMap::new();
    for d in 0..n {
        if size[root[d] as usize] >= 2 {
            by_root.entry(root[d]).or_default().push(d as u32);
        }
    }
    let mut roots: Vec<u32> = by_root.keys().copied().collect();
    roots.sort_unstable();
    counts.cascades_found = roots.len() as u64;
    let mut rows: Vec<Row> = Vec::new();
    let mut cascade = 0i64;
    for r in roots {
        let docs = &by_root[&r];
        let distinct: HashSet<u32> = docs.iter().map(|&d| forest.channel[d as usize]).collect();
        if distinct.len() < p.min_channels {
            counts.cascades_below_min_channels += 1;
            counts.members_below_min_channels += docs.len() as u64;
            continue;
        }
        cascade += 1;
        for (ord, &d) in docs.iter().enumerate() {
            let d = d as usize;
            let parent = forest.parent[d];
            let role = if parent == NONE {
                Role::Origin
            } else if forest.forward[d] {
                Role::Forward
            } else {
                Role::Copy
            };
            let s = forest.similarity[d];
            rows.push((
                forest.key_h[d],
                cascade,
                role.name(),
                (parent != NONE).then(|| forest.key_h[parent as usize]),
                (!s.is_nan()).then_some(f64::from(s)),
                ord as i64,
            ));
        }
    }
    counts.cascades = cascade as u64;
    counts.members = rows.len() as u64;
    let members = fetch_members(ctx, rows).await?;
    stage("members");
    Ok(Reuse { params, members, counts, boilerplate: boilerplate_report })
}

/// A set of shingle hashes (already well mixed: hashed as they are).
type HashSet64 = HashSet<u64, std::hash::BuildHasherDefault<KeyHasher>>;

type Row = (i64, i64, &'static str, Option<i64>, Option<f64>, i64);

/// Join the members back to `messages` for their keys, channels, authors and times.
async fn fetch_members(ctx: &SessionContext, rows: Vec<Row>) -> Result<Vec<Member>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("h", DataType::Int64, false),
        Field::new("cascade", DataType::Int64, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("parent_h", DataType::Int64, true),
        Field::new("similarity", DataType::Float64, true),
        Field::new("ord", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(rows.iter().map(|r| r.3).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.4).collect::<Float64Array>()),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.5))),
        ],
    )?;
    ctx.deregister_table("reuse_members")?;
    ctx.register_table("reuse_members", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    let sql = "SELECT r.cascade, r.ord, r.role, r.h, r.parent_h, r.similarity, m.key, m.platform, m.channel_id, \
               m.channel_name, m.author_id, CAST(m.ts AS BIGINT) AS ts, \
               CASE WHEN r.role = 'origin' THEN m.text END AS text \
               FROM reuse_members r JOIN messages m ON r.h = hash64(m.key) ORDER BY r.cascade, r.ord";
    let mut members = Vec::new();
    let mut parents = Vec::new();
    let mut key_of: HashMap<i64, String> = HashMap::new();
    for batch in collect(ctx, sql).await? {
        let cascade = i64s(&batch, "cascade")?;
        let role = strings(&batch, "role")?;
        let h = i64s(&batch, "h")?;
        let parent_h = i64s(&batch, "parent_h")?;
        let similarity = batch
            .column_by_name("similarity")
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
            .expect("similarity is Float64");
        let key = strings(&batch, "key")?;
        let platform = strings(&batch, "platform")?;
        let channel_id = strings(&batch, "channel_id")?;
        let channel_name = strings(&batch, "channel_name")?;
        let author_id = strings(&batch, "author_id")?;
        let ts = i64s(&batch, "ts")?;
        let text = strings(&batch, "text")?;
        let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_owned());
        for i in 0..batch.num_rows() {
            key_of.insert(h.value(i), key.value(i).to_owned());
            parents.push(parent_h.is_valid(i).then(|| parent_h.value(i)));
            members.push(Member {
                cascade: cascade.value(i) as usize,
                key: key.value(i).to_owned(),
                platform: platform.value(i).to_owned(),
                channel_id: channel_id.value(i).to_owned(),
                channel_name: opt(&channel_name, i),
                author_id: opt(&author_id, i),
                ts: ts.value(i),
                role: match role.value(i) {
                    "origin" => Role::Origin,
                    "forward" => Role::Forward,
                    _ => Role::Copy,
                },
                parent_key: None,
                similarity: similarity.is_valid(i).then(|| similarity.value(i)),
                text: opt(&text, i),
            });
        }
    }
    for (m, parent) in members.iter_mut().zip(parents) {
        m.parent_key = parent.and_then(|h| key_of.get(&h).cloned());
    }
    Ok(members)
}
