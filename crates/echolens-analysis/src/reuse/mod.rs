//! Text reuse cascades: which texts were copied where, and who posted first.
//!
//! One DataFusion plan feeds a kernel, and a second joins its result back:
//!
//! 1. **Scan**: every message once, in whatever order the engine reads it, with its repost target resolved by
//!    the plan. Each text is tokenised once; its shingle set (32-bit hashes, sorted) goes to a spill file in
//!    chunks, a few per batch ([`spill::ListFile`]); the message's time, key hash, channel, words and text hash
//!    go to a file of documents ([`Doc`]). Every later pass reads the sets back in order, a group of chunks at
//!    a time, but for the exact check of a candidate pair, which reads the pair's two sets by position.
//! 2. **Boilerplate and common shingles**: for each channel an exact count (its texts' shingles gathered and
//!    sorted) finds the word shingles that occur in at least `boilerplate_share` of its messages (signatures,
//!    "join us @channel", share-button lines); they leave that channel's sets, and are counted. Shingles in
//!    more than `common_share` of all texts still count in the similarity but key nothing (they would put
//!    unrelated texts into one bucket).
//!    The counts are sorts of sampled `(channel, shingle)` and `shingle` entries in parts on disk.
//! 3. **Time order**: (time, key hash), sorted a part of time at a time (the parts cut at an even sample's
//!    boundaries): each text's numbers are written by its time rank ([`Ranked`]), and each document's rank by
//!    document.
//! 4. **Band keys**: per text and band, the pair of shingles minimal under the band's two permutations.
//! 5. **Links**, in time order. Each message is linked to at most one earlier message, its *parent*:
//!    - an X repost to the reposted original (an explicit link, whatever the texts);
//!    - a text seen before, exactly (normalised), to its first occurrence (short texts match only this way);
//!    - otherwise a near-duplicate: its candidates are the texts that were the latest earlier holder of at
//!      least two of its band keys (the bands are chosen so that a pair at the threshold qualifies with
//!      probability ≥ 0.99), at any time distance; every candidate's exact Jaccard similarity is checked,
//!      and the parent is the most similar at or above the threshold (a Telegram forward prefers one in the
//!      channel it names). A copy of a copy finds the latest copy, which is as similar as the origin.
//!
//!    The candidates come from sorting (key, time rank) entries, not from a hash table of every key: ten
//!    million texts have 180 million keys, and a table of them is 2.4 GB of random access. The entries go to
//!    the session's spill files as the keys are made, in parts by key; each part is read back alone, sorted,
//!    and its pairs written into parts by the later text's rank, which are then counted and checked one after
//!    another ([`part_bits`]: a part per million texts). Parents are earlier, so the links form a forest: each
//!    tree is a cascade, its root (the earliest member) the origin. Roles: origin, forward (a Telegram forward
//!    or X repost), copy.
//! 6. **Members**: the members of cascades that reach `min_channels` channels are joined back to `messages`
//!    for their keys, channels, authors and times.
//!
//! Memory holds three bits a text (linked as a repost, indexed, with a single band key) and the links, one per
//! text copied; everything else is on disk but for a group of chunks or one part: the
//! documents' numbers in scan order and in time order, the sets, the texts' hashes, band keys, candidate pairs
//! and the key hashes (wanted again only for the members, at the end).
//!
//! Beside the cascades, the forward network ([`forwards`]): every channel's forwards per source, sources
//! outside the corpus included.

pub mod forwards;
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

use crate::lists::{Chunk, Interner as Channels, pieces};
use crate::minhash::{KeyHasher, Permutations, jaccard, mix, push_shingle_halves, sort_tail, word_hashes};
use crate::spill;
use crate::table::{collect, i64s, strings};
use crate::{Error, Result};

pub use output::{CascadeSummary, summaries, widest_first, write_outputs};

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
// One bit per text says whether it has fewer keys than that: with two, the one key it has.
const _: () = assert!(MIN_HITS == 2);

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
    /// The forward network: each channel's forwards per source, sources outside the corpus too.
    pub forwards: Vec<forwards::ForwardEdge>,
}

const NONE: u32 = u32::MAX;
/// [`Scanned::source`] of a message that is not a forward.
const NOT_FORWARD: u32 = u32::MAX;
/// [`Scanned::source`] of a forward naming a channel that is not in the store.
const SOURCE_UNKNOWN: u32 = u32::MAX - 1;

/// The shingles of `occurrences` (sorted in place) that occur at least `min` times: exact counts, by sorting a
/// channel's or a part's occurrences, which stay in cache, instead of a table per channel.
fn at_least(occurrences: &mut [u32], min: u64) -> HashSet32 {
    occurrences.sort_unstable();
    occurrences.chunk_by(|a, b| a == b).filter(|run| run.len() as u64 >= min).map(|run| run[0]).collect()
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

/// What the scan keeps of each message ("document", by its position in the scan), on disk in document order
/// ([`DOC_WORDS`] words each): its time, key hash, channel, words, the channel a forward names and the hash of
/// its text as compared.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Doc {
    ts: i64,
    key_h: i64,
    channel: u32,
    words: u32,
    /// The channel a forward names: its index, [`SOURCE_UNKNOWN`] or [`NOT_FORWARD`].
    source: u32,
    /// The text's hash as compared ([`match_text`]); unused for a text without words.
    text_h: u64,
}

/// Words a [`Doc`] takes on disk.
const DOC_WORDS: usize = 5;

/// A record of a fixed number of words in a spill file of them, read back by position or in order.
trait Record: Sized {
    const WORDS: usize;
    fn from_words(w: &[u64]) -> Self;
}

/// The `n` records from record `first` on.
fn records_at<T: Record>(file: &spill::Written, first: u32, n: usize) -> Result<Vec<T>> {
    let mut words = Vec::new();
    file.read_at(u64::from(first) * T::WORDS as u64, n * T::WORDS, &mut words)?;
    Ok(words.chunks_exact(T::WORDS).map(T::from_words).collect())
}

/// Calls `f` with every record of `file` and its number, in order, read a block at a time.
fn each_record<T: Record>(file: &spill::Written, mut f: impl FnMut(u32, T) -> Result<()>) -> Result<()> {
    const BLOCK: u64 = 1 << 16;
    let n = file.len() / T::WORDS as u64;
    let (mut reader, mut words) = (file.read()?, Vec::new());
    let mut at = 0u32;
    for start in (0..n).step_by(BLOCK as usize) {
        reader.words((BLOCK.min(n - start) as usize) * T::WORDS, &mut words)?;
        for w in words.chunks_exact(T::WORDS) {
            f(at, T::from_words(w))?;
            at += 1;
        }
    }
    Ok(())
}

impl Record for Doc {
    const WORDS: usize = DOC_WORDS;

    fn from_words(w: &[u64]) -> Doc {
        Doc {
            ts: w[0] as i64,
            key_h: w[1] as i64,
            channel: w[2] as u32,
            words: (w[2] >> 32) as u32,
            source: w[3] as u32,
            text_h: w[4],
        }
    }
}

impl Doc {
    fn to_words(self) -> [u64; DOC_WORDS] {
        [
            self.ts as u64,
            self.key_h as u64,
            u64::from(self.channel) | u64::from(self.words) << 32,
            u64::from(self.source),
            self.text_h,
        ]
    }
}

/// An even sample of the documents' (time, key hash), to cut time order into parts of about equal size: the
/// documents whose key hash is a multiple of `every`, which doubles whenever the sample outgrows
/// [`TimeSample::MAX`] (the sample is the same whatever the scan's order).
struct TimeSample {
    every: u64,
    values: Vec<(i64, i64)>,
}

impl TimeSample {
    const MAX: usize = 1 << 16;

    fn new() -> TimeSample {
        TimeSample { every: 1, values: Vec::new() }
    }

    fn offer(&mut self, ts: i64, key_h: i64) {
        if (key_h as u64).is_multiple_of(self.every) {
            self.values.push((ts, key_h));
            if self.values.len() > Self::MAX {
                self.every *= 2;
                let every = self.every;
                self.values.retain(|&(_, h)| (h as u64).is_multiple_of(every));
            }
        }
    }

    /// The first (time, key hash) of each part but the first, for `parts` parts.
    fn boundaries(mut self, parts: usize) -> Vec<(i64, i64)> {
        self.values.sort_unstable();
        let n = self.values.len();
        if n == 0 {
            return Vec::new();
        }
        (1..parts).map(|i| self.values[i * n / parts]).collect()
    }
}

/// The time part of a document at (`ts`, `key_h`): the parts cut time order at `boundaries`.
fn time_part(boundaries: &[(i64, i64)], ts: i64, key_h: i64) -> usize {
    boundaries.partition_point(|&b| b <= (ts, key_h))
}

/// What pass 1 leaves: the documents on disk, the shingle sets on disk, and the few reposts.
struct Scanned {
    /// Every [`Doc`], in document order.
    docs: spill::Written,
    /// Where time order is cut into parts.
    sample: TimeSample,
    /// The parts of texts, band keys and pairs (and of time and document order): 2^`bits`.
    bits: u32,
    /// X reposts: document → hash of the original's `platform:message_id`.
    repost_of: HashMap<u32, i64>,
    /// Originals some repost names: document → their hash.
    target: HashMap<u32, i64>,
    /// Shingle sets, on disk.
    sets: spill::ListFile,
}

impl Scanned {
    fn len(&self) -> usize {
        (self.docs.len() / DOC_WORDS as u64) as usize
    }
}

/// Pass 1: one scan of the corpus, in whatever order the engine reads it. Every text is tokenised once: its
/// shingle set is kept, and counted towards its channel's boilerplate and the corpus's common shingles.
async fn scan(
    ctx: &SessionContext,
    p: &Params,
    part_bits: Option<u32>,
    channels: &mut Channels,
    sources: &HashMap<String, u32>,
    counts: &mut Counts,
) -> Result<(Scanned, Frequent)> {
    // Only channels with enough messages get boilerplate counters: on X every account is a channel, and most
    // have few.
    let min = p.boilerplate_min_messages.min(i64::MAX as u64);
    let eligible =
        format!("SELECT concat(platform, ':', channel_id) AS ch FROM messages GROUP BY 1 HAVING count(*) >= {min}");
    let mut checked: Vec<bool> = Vec::new();
    for batch in collect(ctx, &eligible).await? {
        let ch = strings(&batch, "ch")?;
        for i in 0..batch.num_rows() {
            let c = channels.get(ch.value(i)) as usize;
            if checked.len() <= c {
                checked.resize(c + 1, false);
            }
            checked[c] = true;
        }
    }
    // `target` marks originals that some repost names; `rp` is a repost's original, both as hashes of
    // `platform:message_id`.
    let sql = "SELECT hash64(m.key) AS h, concat(m.platform, ':', m.channel_id) AS ch, m.platform, \
               CAST(m.ts AS BIGINT) AS ts, m.text_norm, m.forwarded_from AS fwd, \
               CASE WHEN t.id IS NOT NULL THEN t.id END AS target, \
               CASE WHEN m.repost_of IS NOT NULL THEN hash64(concat(m.platform, ':', m.repost_of)) END AS rp \
               FROM (SELECT DISTINCT hash64(concat(platform, ':', repost_of)) AS id FROM messages \
                     WHERE repost_of IS NOT NULL) t \
               RIGHT JOIN messages m ON t.id = hash64(concat(m.platform, ':', m.message_id))";
    crate::table::explain(ctx, sql).await?;
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let rows = count_messages(ctx).await?;
    let bits = part_bits.unwrap_or_else(|| self::part_bits(rows));
    let mut docs = spill::Records::new(ctx, "reuse: documents")?;
    let mut sample = TimeSample::new();
    let (mut repost_of, mut target) = (HashMap::new(), HashMap::new());
    let mut sets = spill::ListFile::new(ctx, "reuse: shingle sets")?;
    let mut n_docs = 0u32;
    let (mut t_read, mut t_tokens, mut t_keep) = (0.0, 0.0, 0.0);
    let mut t = std::time::Instant::now();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        t_read += t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
        let n = batch.num_rows();
        let first = n_docs;
        let h = i64s(&batch, "h")?;
        let ch = strings(&batch, "ch")?;
        let platform = strings(&batch, "platform")?;
        let ts = i64s(&batch, "ts")?;
        let text = strings(&batch, "text_norm")?;
        let fwd = strings(&batch, "fwd")?;
        let target_of = i64s(&batch, "target")?;
        let rp = i64s(&batch, "rp")?;
        // Pieces of the batch in parallel, each written straight into its own chunk of sets: no list per text.
        let filled: Vec<(Chunk, Vec<u32>, Vec<u64>)> = pieces(n)
            .into_par_iter()
            .map(|std::ops::Range { start, end }| {
                let mut chunk = Chunk::empty(first + start as u32);
                let (mut words, mut text_h) = (Vec::with_capacity(end - start), Vec::with_capacity(end - start));
                let mut hashes = Vec::new();
                for i in start..end {
                    let text = match_text(text.value(i));
                    word_hashes(&text, &mut hashes);
                    words.push(hashes.len() as u32);
                    text_h.push(xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
                    chunk.push_with(|data| {
                        if hashes.len() >= p.min_tokens {
                            push_shingle_halves(&hashes, p.shingle, data);
                        }
                    });
                }
                chunk.shrink();
                (chunk, words, text_h)
            })
            .collect();
        t_tokens += t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
        let mut i = 0;
        for (chunk, words, text_h) in filled {
            sets.push(&chunk)?;
            for (&w, &th) in words.iter().zip(&text_h) {
                let source = if fwd.is_valid(i) {
                    let named = sources.get(&format!("{}:{}", platform.value(i), fwd.value(i)));
                    named.copied().unwrap_or(SOURCE_UNKNOWN)
                } else {
                    NOT_FORWARD
                };
                let doc = Doc {
                    ts: ts.value(i),
                    key_h: h.value(i),
                    channel: channels.get(ch.value(i)),
                    words: w,
                    source,
                    text_h: th,
                };
                docs.push(&doc.to_words())?;
                sample.offer(doc.ts, doc.key_h);
                let d = first + i as u32;
                if rp.is_valid(i) {
                    repost_of.insert(d, rp.value(i));
                }
                if target_of.is_valid(i) {
                    target.insert(d, target_of.value(i));
                }
                i += 1;
            }
        }
        n_docs = u32::try_from(u64::from(first) + n as u64)
            .ok()
            .filter(|&d| d < NONE)
            .ok_or_else(|| Error::Param(format!("reuse: more than {} messages", NONE - 1)))?;
        t_keep += t.elapsed().as_secs_f64();
        t = std::time::Instant::now();
    }
    sets.flush()?;
    let docs = docs.finish()?;
    let min_tokens = p.min_tokens.max(1);
    let has_set = |doc: &Doc| doc.words as usize >= min_tokens;
    let (per_channel, common) = count_frequent(ctx, &sets, &docs, has_set, &checked, p)?;
    if std::env::var_os("ECHOLENS_TIMINGS").is_some() {
        let counting = t.elapsed().as_secs_f64();
        eprintln!("          read {t_read:.2} s, tokenise {t_tokens:.2} s, keep {t_keep:.2} s, count {counting:.2} s");
    }
    let mut boilerplate = vec![HashSet32::default(); channels.names.len()];
    let mut report = Vec::new();
    for (c, found) in per_channel.into_iter().enumerate() {
        let Some((texts, found)) = found else { continue };
        if !found.is_empty() {
            counts.boilerplate_channels += 1;
            counts.boilerplate_shingles += found.len() as u64;
            report.push(Boilerplate { channel: channels.names[c].clone(), texts, shingles: found.len() as u64 });
            boilerplate[c] = found;
        }
    }
    report.sort_by(|a, b| b.shingles.cmp(&a.shingles).then_with(|| a.channel.cmp(&b.channel)));
    counts.common_shingles = common.len() as u64;
    Ok((Scanned { docs, sample, bits, repost_of, target, sets }, Frequent { boilerplate, report, common }))
}

/// A channel with more texts than this has its boilerplate candidates found on an even sample of about this
/// many, and only those counted on all of its texts.
const SAMPLE_TEXTS: u64 = 400;

/// Each checked channel's boilerplate (its texts with shingles, and the shingles in at least
/// `boilerplate_share` of them; None for a channel not checked or with fewer than `boilerplate_min_messages`
/// such texts), and the corpus's common shingles, counted on a fourth of the texts (a shingle in 0.2% of all
/// texts is in about 0.2% of the sample). Samples are chosen by the hash of each message's key (`key_h`), never
/// by position: the scan's order varies with the engine's partitions and timing, the sample must not.
///
/// Boilerplate counts are exact. A channel of many texts is first sampled evenly ([`SAMPLE_TEXTS`]): the
/// shingles in half the share of the sample are the candidates (one in the share of the whole channel falls
/// below half of it in a sample of 400 with probability under 1e-6), and only they are counted on every text.
/// Most channels have none, and are done after the sample.
///
/// The sets are read from disk in order, a group of chunks at a time: one pass scatters each sampled text's
/// shingles into parts on disk, by channel (`channel << 32 | shingle`) and by shingle (the common sample); each
/// part is then read back, sorted and counted. A second pass counts the candidates, when a channel has any.
#[allow(clippy::type_complexity)]
fn count_frequent(
    ctx: &SessionContext,
    sets: &spill::ListFile,
    docs: &spill::Written,
    has_set: impl Fn(&Doc) -> bool + Sync,
    checked: &[bool],
    p: &Params,
) -> Result<(Vec<Option<(u64, HashSet32)>>, HashSet32)> {
    // One text in `every`, by its key's hash.
    let in_sample = |doc: &Doc, every: u64| (doc.key_h as u64).is_multiple_of(every);
    let share = |share: f64, of: u64| ((share * of as f64).ceil() as u64).max(1);
    // Each checked channel's texts, and one in `step` of them sampled.
    let mut texts = vec![0u64; checked.len()];
    let mut n = 0usize;
    each_record::<Doc>(docs, |_, doc| {
        n += 1;
        if checked.get(doc.channel as usize).copied().unwrap_or(false) && has_set(&doc) {
            texts[doc.channel as usize] += 1;
        }
        Ok(())
    })?;
    let counted: Vec<bool> = texts.iter().map(|&t| t > 0 && t >= p.boilerplate_min_messages).collect();
    let step: Vec<u64> = texts.iter().map(|&t| (t / SAMPLE_TEXTS).max(1)).collect();
    let boilerplate_sample = |doc: &Doc| {
        let c = doc.channel as usize;
        counted.get(c).copied().unwrap_or(false) && has_set(doc) && in_sample(doc, step[c])
    };
    let common_sample = |doc: &Doc| in_sample(doc, 4);
    let parts = 1usize << part_bits(n);
    let mut by_channel = spill::Parts::new(ctx, parts, "reuse: boilerplate sample");
    let mut by_shingle = spill::Parts::new(ctx, parts, "reuse: common shingles sample");
    let mut sampled = vec![0u64; checked.len()];
    let mut common_texts = 0u64;
    for group in chunk_groups(sets.chunks()) {
        // Each chunk's sampled shingles, already in their parts.
        let scattered: Vec<(Vec<Vec<u64>>, Vec<Vec<u64>>, Vec<u32>, u64)> = group
            .into_par_iter()
            .map(|at| {
                let chunk = sets.chunk(at)?;
                let info = records_at::<Doc>(docs, chunk.first, chunk.len())?;
                let (mut bp, mut common) = (vec![Vec::new(); parts], vec![Vec::new(); parts]);
                let (mut channels, mut texts) = (Vec::new(), 0);
                for (i, doc) in info.iter().enumerate() {
                    let set = chunk.get(i);
                    if boilerplate_sample(doc) {
                        let c = doc.channel;
                        channels.push(c);
                        let part = &mut bp[c as usize % parts];
                        part.extend(set.iter().map(|&s| u64::from(c) << 32 | u64::from(s)));
                    }
                    if common_sample(doc) && !set.is_empty() {
                        texts += 1;
                        for &s in set {
                            common[s as usize % parts].push(u64::from(s));
                        }
                    }
                }
                Ok((bp, common, channels, texts))
            })
            .collect::<Result<_>>()?;
        for (bp, common, channels, n) in scattered {
            for (part, values) in bp.iter().enumerate() {
                by_channel.extend(part, values)?;
            }
            for (part, values) in common.iter().enumerate() {
                by_shingle.extend(part, values)?;
            }
            for c in channels {
                sampled[c as usize] += 1;
            }
            common_texts += n;
        }
    }
    // Per channel, from its sample: the boilerplate, or the candidates to count on every text.
    let mut found: Vec<Option<(u64, HashSet32)>> = vec![None; checked.len()];
    let mut candidates: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
    let mut occurrences = Vec::new();
    for part in 0..parts {
        let mut values = by_channel.take(part)?;
        values.par_sort_unstable();
        for run in values.chunk_by(|a, b| a >> 32 == b >> 32) {
            let c = (run[0] >> 32) as u32;
            let t = texts[c as usize];
            occurrences.clear();
            occurrences.extend(run.iter().map(|&v| v as u32));
            if step[c as usize] == 1 {
                found[c as usize] = Some((t, at_least(&mut occurrences, share(p.boilerplate_share, t))));
                continue;
            }
            let maybe = at_least(&mut occurrences, share(p.boilerplate_share / 2.0, sampled[c as usize].max(1)));
            if !maybe.is_empty() {
                candidates.insert(c, maybe.into_iter().map(|s| (s, 0)).collect());
            }
            found[c as usize] = Some((t, HashSet32::default()));
        }
    }
    drop(by_channel);
    // Channels whose texts have no shingles in their sample (all of them empty) have no boilerplate either.
    for (c, &is_counted) in counted.iter().enumerate() {
        if is_counted && found[c].is_none() {
            found[c] = Some((texts[c], HashSet32::default()));
        }
    }
    if !candidates.is_empty() {
        // The candidates counted on every text of their channels.
        for group in chunk_groups(sets.chunks()) {
            let tallies: Vec<HashMap<(u32, u32), u64>> = group
                .into_par_iter()
                .map(|at| {
                    let chunk = sets.chunk(at)?;
                    let info = records_at::<Doc>(docs, chunk.first, chunk.len())?;
                    let mut tally = HashMap::new();
                    for (i, doc) in info.iter().enumerate() {
                        let c = doc.channel;
                        let Some(counts) = candidates.get(&c) else { continue };
                        if has_set(doc) {
                            for s in chunk.get(i).iter().filter(|s| counts.contains_key(s)) {
                                *tally.entry((c, *s)).or_insert(0) += 1;
                            }
                        }
                    }
                    Ok(tally)
                })
                .collect::<Result<_>>()?;
            for ((c, s), n) in tallies.into_iter().flatten() {
                *candidates.get_mut(&c).and_then(|counts| counts.get_mut(&s)).expect("a candidate") += n;
            }
        }
        for (c, counts) in candidates {
            let min = share(p.boilerplate_share, texts[c as usize]);
            let boilerplate = counts.into_iter().filter(|&(_, n)| n >= min).map(|(s, _)| s).collect();
            found[c as usize] = Some((texts[c as usize], boilerplate));
        }
    }
    // The corpus's common shingles, part by part.
    let min = ((p.common_share * common_texts as f64).ceil() as u64).max(20);
    let mut common = HashSet32::default();
    for part in 0..parts {
        let mut occurrences: Vec<u32> = by_shingle.take(part)?.into_iter().map(|v| v as u32).collect();
        common.extend(at_least(&mut occurrences, min));
    }
    Ok((found, common))
}

/// `n` chunks in groups of a few per thread, in order: what one step of a pass over them reads.
fn chunk_groups(n: usize) -> impl Iterator<Item = Vec<usize>> {
    let per_group = 4 * rayon::current_num_threads();
    (0..n).step_by(per_group).map(move |start| (start..(start + per_group).min(n)).collect())
}

/// Messages in the store, to size the scan's vectors once instead of growing them.
async fn count_messages(ctx: &SessionContext) -> Result<usize> {
    let batches = collect(ctx, "SELECT count(*) AS n FROM messages").await?;
    Ok(batches.first().map_or(0, |b| i64s(b, "n").map_or(0, |n| n.value(0) as usize)))
}

/// What pass 1 finds: each channel's boilerplate shingles, the corpus's common shingles.
struct Frequent {
    boilerplate: Vec<HashSet32>,
    report: Vec<Boilerplate>,
    common: HashSet32,
}

/// The LSH keys of a shingle set (without common shingles): per band, the pair of shingles minimal under the
/// band's two permutations, unordered and without the band's number, so that texts whose minima are the same
/// two shingles share a key whichever bands chose them, and a text with few distinct minima has few keys.
/// Appended to `out`, sorted and distinct; `minima` is scratch space.
fn band_keys(keyed: &[u32], perms: &Permutations, minima: &mut Vec<u32>, out: &mut Vec<u32>) {
    perms.minima(keyed, minima);
    let start = out.len();
    out.extend(minima.chunks_exact(ROWS).enumerate().map(|(b, mins)| {
        let (x, y) = (perms.argmin(ROWS * b, mins[0]), perms.argmin(ROWS * b + 1, mins[1]));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        // A bijection of the pair: distinct pairs, distinct 64-bit values.
        (mix(u64::from(lo) << 32 | u64::from(hi)) >> 32) as u32
    }));
    sort_tail(out, start);
}

/// Pass 2, per chunk in parallel: boilerplate leaves each set, and the band keys of what remains (common
/// shingles count in the similarity but key nothing). Returns the chunk's sets when boilerplate changed any
/// (a chunk without is kept as it is), its keys, and the texts that lost boilerplate and that were left
/// without keys.
fn key_chunk(chunk: &Chunk, info: &[Doc], f: &Frequent, p: &Params, perms: &Permutations) -> Keyed {
    // The chunk's sets again, from the first text that lost boilerplate on.
    let mut sets: Option<Chunk> = None;
    let mut keys = Chunk::empty(chunk.first);
    let (mut keyed, mut minima) = (Vec::new(), Vec::new());
    let (mut boilerplate, mut common_only) = (0, 0);
    for (i, doc) in info.iter().enumerate() {
        let original = chunk.get(i);
        let removable = f.boilerplate.get(doc.channel as usize).filter(|b| !b.is_empty());
        let set = match removable.filter(|b| original.iter().any(|x| b.contains(x))) {
            Some(b) => {
                boilerplate += 1;
                let rebuilt = sets.get_or_insert_with(|| {
                    let mut c = Chunk::empty(chunk.first);
                    for j in 0..i {
                        c.push_with(|data| data.extend_from_slice(chunk.get(j)));
                    }
                    c
                });
                rebuilt.push_with(|data| data.extend(original.iter().filter(|x| !b.contains(x))));
                rebuilt.get(i)
            }
            None => {
                if let Some(rebuilt) = &mut sets {
                    rebuilt.push_with(|data| data.extend_from_slice(original));
                }
                original
            }
        };
        keyed.clear();
        keyed.extend(set.iter().filter(|x| !f.common.contains(x)));
        if keyed.is_empty() && doc.words as usize >= p.min_tokens {
            common_only += 1;
        }
        keys.push_with(|data| {
            if !keyed.is_empty() {
                band_keys(&keyed, perms, &mut minima, data);
            }
        });
    }
    keys.shrink();
    if let Some(c) = &mut sets {
        c.shrink();
    }
    Keyed { sets, keys, boilerplate, common_only }
}

/// What [`key_chunk`] makes of a chunk.
struct Keyed {
    sets: Option<Chunk>,
    keys: Chunk,
    boilerplate: u64,
    common_only: u64,
}

/// The index is sorted in parts by the top bits of the key, one after another, and the candidate pairs are
/// counted in as many parts by the later text's rank: each part a spill file, read back alone. At least
/// 2^`MIN_PART_BITS` parts, more for a larger corpus, so that a part holds about a million texts' keys or
/// pairs (about 140 MB) whatever the corpus.
const MIN_PART_BITS: u32 = 4;
const MAX_PART_BITS: u32 = 12;

/// Bits of the part number for `n` texts: a part per million texts, at least 2^[`MIN_PART_BITS`].
fn part_bits(n: usize) -> u32 {
    (n.div_ceil(1 << 20).max(1).next_power_of_two().trailing_zeros()).clamp(MIN_PART_BITS, MAX_PART_BITS)
}

/// The part of a band key (its top `bits` bits).
fn key_part(key: u32, bits: u32) -> usize {
    top_bits(u64::from(key) << 32, bits)
}

/// The top `bits` bits of `value`.
fn top_bits(value: u64, bits: u32) -> usize {
    value.checked_shr(64 - bits).unwrap_or(0) as usize
}

/// The part of a candidate pair of later rank `r` among `parts` parts of ranks in order: consecutive ranges,
/// so that reading the parts in order reads the pairs in rank order.
fn rank_part(r: u32, n: usize, parts: usize) -> usize {
    (u64::from(r) * parts as u64 / n.max(1) as u64) as usize
}

/// Candidate pairs `(rank << 32 | earlier rank)`, one per band key the two share where the earlier text is the
/// latest indexed text with that key before the later one, from `entries` (key << 32 | rank, in key parts);
/// written into parts by the later rank ([`rank_part`]), each unsorted.
fn candidate_pairs(entries: &mut spill::Parts, pairs: &mut spill::Parts, n: usize) -> Result<()> {
    for part in 0..entries.len() {
        let mut part_entries = entries.take(part)?;
        part_entries.par_sort_unstable();
        let parts = pairs.len();
        let mut out = vec![Vec::new(); parts];
        for w in part_entries.windows(2) {
            if w[0] >> 32 == w[1] >> 32 {
                out[rank_part(w[1] as u32, n, parts)].push((w[1] << 32) | (w[0] & 0xffff_ffff));
            }
        }
        drop(part_entries);
        for (p, values) in out.iter().enumerate() {
            pairs.extend(p, values)?;
        }
    }
    Ok(())
}

/// A verified earlier text: its similarity, whether it is in the channel a forward names, its rank.
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

/// What the later passes need of a text, on disk by its time rank ([`RANK_WORDS`] words each).
#[derive(Debug, Clone, Copy)]
struct Ranked {
    doc: u32,
    channel: u32,
    source: u32,
    words: u32,
}

/// Words a [`Ranked`] takes on disk.
const RANK_WORDS: usize = 2;

impl Ranked {
    fn to_words(self) -> [u64; RANK_WORDS] {
        [u64::from(self.doc) | u64::from(self.channel) << 32, u64::from(self.source) | u64::from(self.words) << 32]
    }
}

impl Record for Ranked {
    const WORDS: usize = RANK_WORDS;

    fn from_words(w: &[u64]) -> Ranked {
        Ranked { doc: w[0] as u32, channel: (w[0] >> 32) as u32, source: w[1] as u32, words: (w[1] >> 32) as u32 }
    }
}

/// The text of rank `r` in `file`; `words` is scratch space.
fn ranked_at(file: &spill::Written, r: u32, words: &mut Vec<u64>) -> Result<Ranked> {
    file.read_at(u64::from(r) * RANK_WORDS as u64, RANK_WORDS, words)?;
    Ok(Ranked::from_words(words))
}

/// The ranks of the `n` documents from `first` on.
fn ranks_at(file: &spill::Written, first: u32, n: usize) -> Result<Vec<u32>> {
    let mut words = Vec::new();
    file.read_at(u64::from(first), n, &mut words)?;
    Ok(words.into_iter().map(|w| w as u32).collect())
}

/// A text's link to its parent, an earlier text (by time rank).
#[derive(Debug, Clone, Copy)]
struct Link {
    rank: u32,
    parent: u32,
    /// Jaccard similarity; NaN for a repost, linked whatever its text.
    similarity: f32,
    /// A Telegram forward or an X repost.
    forward: bool,
}

/// A bit per text (by time rank).
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn get(&self, r: u32) -> bool {
        self.0[r as usize / 64] >> (r % 64) & 1 == 1
    }

    fn set(&mut self, r: u32) {
        self.0[r as usize / 64] |= 1 << (r % 64);
    }

    fn clear(&mut self, r: u32) {
        self.0[r as usize / 64] &= !(1 << (r % 64));
    }
}

/// What [`time_order`] leaves: every text's numbers by time rank, on disk.
struct Ordered {
    /// Per rank, a [`Ranked`].
    by_rank: spill::Written,
    /// Per rank, the key hash: wanted again only for the members of cascades, at the end.
    keys_in_order: spill::Written,
    /// Per document, its rank (a word each).
    rank_of_doc: spill::Written,
    /// Each text's (hash as compared, rank), in parts by hash, for exact copies (texts without words have
    /// none).
    texts: spill::Parts,
    /// The reposts linked to their originals.
    links: Vec<Link>,
}

/// Pass 2: the documents in time order, (time, key hash) as an ORDER BY would give it, a part of time at a
/// time. The documents are scattered into parts cut at the sample's boundaries, each part is sorted alone, and
/// the ranks follow one another through the parts; what the later passes need of each text is written by rank
/// (and each document's rank by document, through parts of document ranges). In time order, reposts are
/// linked to their originals (`reposts`: document → the original's hash, and document → the hash it is the
/// original of), and `linked` marks them.
#[allow(clippy::too_many_arguments)]
fn time_order(
    ctx: &SessionContext,
    docs: &spill::Written,
    sample: TimeSample,
    bits: u32,
    (repost_of, target): (&HashMap<u32, i64>, &HashMap<u32, i64>),
    linked: &mut Bits,
    p: &Params,
    counts: &mut Counts,
) -> Result<Ordered> {
    let n = (docs.len() / DOC_WORDS as u64) as usize;
    let parts = 1usize << bits;
    let boundaries = sample.boundaries(parts);
    // [ts, key hash, Ranked's two words, text hash] per document.
    const TIMED: usize = 5;
    let mut by_time = spill::Parts::new(ctx, parts, "reuse: documents by time");
    each_record::<Doc>(docs, |d, doc| {
        let [a, b] = Ranked { doc: d, channel: doc.channel, source: doc.source, words: doc.words }.to_words();
        by_time.extend(time_part(&boundaries, doc.ts, doc.key_h), &[doc.ts as u64, doc.key_h as u64, a, b, doc.text_h])
    })?;
    let mut by_rank = spill::Records::new(ctx, "reuse: texts in time order")?;
    let mut keys = spill::Records::new(ctx, "reuse: key hashes in time order")?;
    let mut by_doc = spill::Parts::new(ctx, parts, "reuse: ranks by document");
    let mut texts = spill::Parts::new(ctx, parts, "reuse: exact texts");
    let mut links = Vec::new();
    let mut targets: HashMap<i64, u32> = HashMap::new();
    let mut r = 0u32;
    for part in 0..parts {
        let values = by_time.take(part)?;
        let timed = |i: u32| &values[i as usize * TIMED..(i as usize + 1) * TIMED];
        let mut order: Vec<u32> = (0..(values.len() / TIMED) as u32).collect();
        order.par_sort_unstable_by_key(|&i| {
            let w = timed(i);
            (w[0] as i64, w[1] as i64, w[2] as u32)
        });
        for i in order {
            let w = timed(i);
            let text = Ranked::from_words(&w[2..4]);
            keys.push(&w[1..2])?;
            by_rank.push(&w[2..4])?;
            by_doc.push(rank_part(text.doc, n, parts), u64::from(text.doc) << 32 | u64::from(r))?;
            counts.messages += 1;
            if text.words == 0 {
                counts.empty_texts += 1;
            } else {
                if (text.words as usize) < p.min_tokens {
                    counts.short_texts += 1;
                }
                texts.extend(top_bits(w[4], bits), &[w[4], u64::from(r)])?;
            }
            if let Some(orig) = repost_of.get(&text.doc) {
                match targets.get(orig) {
                    Some(&o) => {
                        links.push(Link { rank: r, parent: o, similarity: f32::NAN, forward: true });
                        linked.set(r);
                        counts.reposts_linked += 1;
                    }
                    None => counts.reposts_unresolved += 1,
                }
            }
            if let Some(&t) = target.get(&text.doc) {
                targets.insert(t, r);
            }
            r += 1;
        }
    }
    drop(by_time);
    // Each document's rank, in document order: the ranks scattered into parts of consecutive documents.
    let mut rank_of_doc = spill::Records::new(ctx, "reuse: ranks by document")?;
    let mut expected = 0u64;
    for part in 0..parts {
        let mut values = by_doc.take(part)?;
        values.par_sort_unstable();
        for v in values {
            if v >> 32 != expected {
                return Err(Error::Internal(format!("reuse: document {expected} has no time rank")));
            }
            rank_of_doc.push(&[v & 0xffff_ffff])?;
            expected += 1;
        }
    }
    if expected != n as u64 || u64::from(r) != n as u64 {
        return Err(Error::Internal(format!("reuse: {n} documents, {r} ranked and {expected} given a rank")));
    }
    Ok(Ordered {
        by_rank: by_rank.finish()?,
        keys_in_order: keys.finish()?,
        rank_of_doc: rank_of_doc.finish()?,
        texts,
        links,
    })
}

/// Find the cascades in the `messages` table of `ctx`.
pub async fn run(ctx: &SessionContext, params: Params) -> Result<Reuse> {
    run_in_parts(ctx, params, None).await
}

/// [`run`] with 2^`part_bits` parts of band keys and candidate pairs on disk (by default, from the corpus's
/// size: [`part_bits`]).
async fn run_in_parts(ctx: &SessionContext, params: Params, part_bits: Option<u32>) -> Result<Reuse> {
    params.check()?;
    let p = &params;
    let mut counts = Counts::default();
    let mut channels = Channels::default();
    let sources = forward_sources(ctx, &mut channels).await?;
    let timings = crate::timings::Timings::new();
    let stage = |name: &str| timings.step(name);
    let (scanned, frequent) = scan(ctx, p, part_bits, &mut channels, &sources, &mut counts).await?;
    let n = scanned.len();
    let Scanned { docs, sample, bits, repost_of, target, mut sets } = scanned;
    stage("scan: texts tokenised, boilerplate and common shingles counted");

    // Time order: (time, key hash), as an ORDER BY would give it; each document's rank and what the later passes
    // need of it on disk; reposts linked to their originals on the way.
    let mut linked = Bits::new(n);
    let Ordered { by_rank, keys_in_order, rank_of_doc, mut texts, mut links } =
        time_order(ctx, &docs, sample, bits, (&repost_of, &target), &mut linked, p, &mut counts)?;
    drop((repost_of, target));

    // Exact copies to the first occurrence of their text: each part of (hash, rank) entries, but for the reposts
    // already linked, gives each text's first occurrence (a table of every text's first occurrence would be the
    // kernel's peak). The first occurrences are indexed for near-duplicates if they have band keys.
    let mut indexed = Bits::new(n);
    for part in 0..texts.len() {
        let values = texts.take(part)?;
        let mut entries: Vec<(u64, u32)> =
            values.chunks_exact(2).map(|e| (e[0], e[1] as u32)).filter(|&(_, r)| !linked.get(r)).collect();
        drop(values);
        entries.par_sort_unstable();
        for run in entries.chunk_by(|x, y| x.0 == y.0) {
            let first = run[0].1;
            indexed.set(first);
            for &(_, r) in &run[1..] {
                links.push(Link { rank: r, parent: first, similarity: 1.0, forward: false });
                counts.exact_links += 1;
            }
        }
    }
    drop((texts, linked));
    stage("reposts and exact copies");

    // Boilerplate out, band keys in: each chunk's sets replaced as soon as its keys are made, so that a corpus
    // with boilerplate everywhere never holds two copies of its sets. The keys of indexed texts go to disk as
    // (key, rank) entries, in parts by key; what stays is whether a text has fewer keys than a candidate needs.
    let perms = Permutations::new(ROWS * p.bands);
    let mut entries = spill::Parts::new(ctx, 1 << bits, "reuse: band keys");
    let mut few_keys = Bits::new(n);
    // Chunks read and keyed in parallel a group at a time: the group's sets and keys are what memory holds.
    for group in chunk_groups(sets.chunks()) {
        // Each chunk's keys, its documents' ranks, and its indexed texts' (key, rank) entries in their parts.
        #[allow(clippy::type_complexity)]
        let keyed: Vec<(usize, Keyed, Vec<u32>, Vec<Vec<u64>>)> = group
            .into_par_iter()
            .map(|c| {
                let chunk = sets.chunk(c)?;
                let info = records_at::<Doc>(&docs, chunk.first, chunk.len())?;
                let ranks = ranks_at(&rank_of_doc, chunk.first, chunk.len())?;
                let k = key_chunk(&chunk, &info, &frequent, p, &perms);
                let mut parts = vec![Vec::new(); 1 << bits];
                for (i, &r) in ranks.iter().enumerate() {
                    if indexed.get(r) {
                        for &key in k.keys.get(i) {
                            parts[key_part(key, bits)].push(u64::from(key) << 32 | u64::from(r));
                        }
                    }
                }
                Ok((c, k, ranks, parts))
            })
            .collect::<Result<_>>()?;
        for (c, mut k, ranks, parts) in keyed {
            if let Some(changed) = k.sets.take() {
                sets.replace(c, &changed)?;
            }
            for (i, &r) in ranks.iter().enumerate() {
                let keys = k.keys.get(i).len();
                if keys == 0 {
                    indexed.clear(r);
                } else if keys < MIN_HITS && indexed.get(r) {
                    few_keys.set(r);
                }
            }
            for (part, values) in parts.iter().enumerate() {
                entries.extend(part, values)?;
            }
            counts.boilerplate_texts += k.boilerplate;
            counts.common_only_texts += k.common_only;
        }
        // The next group reads the file.
        sets.flush()?;
    }
    drop((docs, rank_of_doc, indexed));
    stage("band keys");

    // Near-duplicates: each indexed text's candidates are the latest earlier indexed holders of its keys that
    // hold at least two of them; every candidate's similarity is checked exactly. The pairs are counted part by
    // part of later ranks, in rank order.
    let mut pairs = spill::Parts::new(ctx, 1 << bits, "reuse: candidate pairs");
    candidate_pairs(&mut entries, &mut pairs, n)?;
    drop(entries);
    for part in 0..pairs.len() {
        let mut part_pairs = pairs.take(part)?;
        part_pairs.par_sort_unstable();
        let mut cands: Vec<(u32, u32)> = Vec::new();
        for run in part_pairs.chunk_by(|a, b| a == b) {
            let (r, earlier) = ((run[0] >> 32) as u32, run[0] as u32);
            // A text with a single key (fewer than the hits asked for) is a candidate on that one.
            let needed = if few_keys.get(r) { 1 } else { MIN_HITS };
            if run.len() >= needed {
                cands.push((r, earlier));
            }
        }
        drop(part_pairs);
        let (Some(&(lo, _)), Some(&(hi, _))) = (cands.first(), cands.last()) else { continue };
        // The later texts are the part's, read at once; the earlier ones one by one.
        let later = records_at::<Ranked>(&by_rank, lo, (hi - lo) as usize + 1)?;
        let checked: Vec<Match> = cands
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new(), Vec::new()),
                |(x, y, words), &(r, earlier)| {
                    let (text, other) = (later[(r - lo) as usize], ranked_at(&by_rank, earlier, words)?);
                    sets.get(text.doc, x)?;
                    sets.get(other.doc, y)?;
                    Ok(Match { sim: jaccard(x, y), named: text.source == other.channel, doc: earlier })
                },
            )
            .collect::<Result<_>>()?;
        counts.candidates_checked += cands.len() as u64;
        let mut best: Vec<(u32, Match)> = Vec::new();
        for (&(r, _), m) in cands.iter().zip(&checked) {
            if m.sim + 1e-12 < p.threshold {
                counts.candidates_rejected += 1;
                continue;
            }
            match best.last_mut() {
                Some((last, b)) if *last == r => {
                    if m.beats(b) {
                        *b = *m;
                    }
                }
                _ => best.push((r, *m)),
            }
        }
        for (r, m) in best {
            links.push(Link { rank: r, parent: m.doc, similarity: m.sim as f32, forward: false });
            counts.near_links += 1;
        }
    }
    drop((sets, few_keys));
    stage("near-duplicates");

    // Forwards: linked when their text found an earlier member. The links in time order: a text has at most one.
    links.sort_unstable_by_key(|l| l.rank);
    if links.windows(2).any(|w| w[0].rank == w[1].rank) || links.iter().any(|l| l.parent >= l.rank) {
        return Err(Error::Internal("reuse: a text linked twice, or to a later one".into()));
    }
    let mut next = 0;
    let mut words = Vec::new();
    each_record::<Ranked>(&by_rank, |r, text| {
        while next < links.len() && links[next].rank < r {
            next += 1;
        }
        if text.source == NOT_FORWARD {
            return Ok(());
        }
        if text.source == SOURCE_UNKNOWN {
            counts.forwards_source_not_in_store += 1;
        }
        match links.get_mut(next).filter(|l| l.rank == r) {
            None => counts.forwards_unresolved += 1,
            Some(link) => {
                link.forward = true;
                counts.forwards_linked += 1;
                if text.source == ranked_at(&by_rank, link.parent, &mut words)?.channel {
                    counts.forwards_to_named_channel += 1;
                }
            }
        }
        Ok(())
    })?;
    stage("links");

    // Trees: parents are earlier, so one pass over the links in time order finds every member's root; a text
    // no link names is in no cascade.
    let mut root_of: HashMap<u32, u32> = HashMap::with_capacity(links.len());
    for l in &links {
        let root = root_of.get(&l.parent).copied().unwrap_or(l.parent);
        root_of.insert(l.rank, root);
    }
    let mut by_root: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, l) in links.iter().enumerate() {
        by_root.entry(root_of[&l.rank]).or_default().push(i as u32);
    }
    drop(root_of);
    let mut roots: Vec<u32> = by_root.keys().copied().collect();
    roots.sort_unstable();
    counts.cascades_found = roots.len() as u64;
    // The rows name members and parents by time rank until the key hashes are read back.
    let mut rows: Vec<Row> = Vec::new();
    let mut cascade = 0i64;
    for root in roots {
        let members = &by_root[&root];
        // The channels it reaches, read until there are enough.
        let mut distinct: HashSet<u32> = HashSet::new();
        for r in std::iter::once(root).chain(members.iter().map(|&i| links[i as usize].rank)) {
            if distinct.len() >= p.min_channels {
                break;
            }
            distinct.insert(ranked_at(&by_rank, r, &mut words)?.channel);
        }
        if distinct.len() < p.min_channels {
            counts.cascades_below_min_channels += 1;
            counts.members_below_min_channels += members.len() as u64 + 1;
            continue;
        }
        cascade += 1;
        rows.push((i64::from(root), cascade, Role::Origin.name(), None, None, 0));
        for (ord, &i) in members.iter().enumerate() {
            let l = links[i as usize];
            let role = if l.forward { Role::Forward } else { Role::Copy };
            let similarity = (!l.similarity.is_nan()).then_some(f64::from(l.similarity));
            rows.push((i64::from(l.rank), cascade, role.name(), Some(i64::from(l.parent)), similarity, ord as i64 + 1));
        }
    }
    drop((by_root, links, by_rank));
    let ranks = rows.iter().flat_map(|row| [Some(row.0), row.3]).flatten().map(|r| r as u32);
    let (ranked, hashes) = key_hashes(&keys_in_order, ranks)?;
    let key = |r: i64| hashes[ranked.binary_search(&(r as u32)).expect("every rank asked for is read")];
    for row in &mut rows {
        row.0 = key(row.0);
        row.3 = row.3.map(key);
    }
    counts.cascades = cascade as u64;
    counts.members = rows.len() as u64;
    let members = fetch_members(ctx, rows).await?;
    stage("members");
    let forwards = forwards::run(ctx).await?;
    Ok(Reuse { params, members, counts, boilerplate: frequent.report, forwards })
}

/// The key hash of each time rank in `ranks` (any order, repeats allowed), read from `file` (one hash per
/// rank, in rank order) in one pass: the ranks sorted without repeats, and their hashes.
fn key_hashes(file: &spill::Written, ranks: impl Iterator<Item = u32>) -> Result<(Vec<u32>, Vec<i64>)> {
    const BLOCK: u64 = 1 << 16;
    let mut wanted: Vec<u32> = ranks.collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.last().is_some_and(|&r| u64::from(r) >= file.len()) {
        return Err(Error::Internal(format!("reuse: a rank past the {} key hashes written", file.len())));
    }
    let mut hashes = Vec::with_capacity(wanted.len());
    let (mut reader, mut block) = (file.read()?, Vec::new());
    // Words read so far, and where the block in `block` starts.
    let (mut at, mut start) = (0u64, 0u64);
    for &r in &wanted {
        let r = u64::from(r);
        if r >= at {
            // Pass over the blocks no wanted rank is in.
            start = r / BLOCK * BLOCK;
            reader.skip(start - at)?;
            let n = BLOCK.min(file.len() - start);
            reader.words(n as usize, &mut block)?;
            at = start + n;
        }
        hashes.push(block[(r - start) as usize] as i64);
    }
    Ok((wanted, hashes))
}

/// A set of shingle hashes (already well mixed: hashed as they are).
type HashSet32 = HashSet<u32, std::hash::BuildHasherDefault<KeyHasher>>;

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
    let n = rows.len();
    drop(rows);
    ctx.deregister_table("reuse_members")?;
    ctx.register_table("reuse_members", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    let sql = "SELECT r.cascade, r.ord, r.role, r.h, r.parent_h, r.similarity, m.key, m.platform, m.channel_id, \
               m.channel_name, m.author_id, CAST(m.ts AS BIGINT) AS ts, \
               CASE WHEN r.role = 'origin' THEN m.text END AS text \
               FROM reuse_members r JOIN messages m ON r.h = hash64(m.key)";
    // Put in order here, not by the plan: the members are held anyway, and a sort of them in the engine's pool
    // failed its merge at 53M messages when the pool was full.
    let mut members = Vec::new();
    let mut order: Vec<(i64, i64)> = Vec::new();
    let mut parents = Vec::new();
    // A member's place by its key hash: its parent's key is read from it.
    let mut place_of: HashMap<i64, u32> = HashMap::with_capacity(n);
    // Streamed: the joined rows (an origin's whole text among them) are not all held beside the members.
    let joined = crate::table::broadcasting(ctx, n.max(1));
    let mut stream = joined.sql(sql).await?.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        let batch = batch?;
        let cascade = i64s(&batch, "cascade")?;
        let ord = i64s(&batch, "ord")?;
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
        let opt = |a: &crate::table::Strs, i: usize| a.is_valid(i).then(|| a.value(i).to_owned());
        for i in 0..batch.num_rows() {
            order.push((cascade.value(i), ord.value(i)));
            place_of.insert(h.value(i), members.len() as u32);
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
    for (i, parent) in parents.into_iter().enumerate() {
        let parent_key = parent.and_then(|h| place_of.get(&h)).map(|&j| members[j as usize].key.clone());
        members[i].parent_key = parent_key;
    }
    drop(place_of);
    // By cascade, then the member's place in it: put in place, so that the members (722k at 53M messages,
    // half a kilobyte each) are not held twice.
    let mut by_order: Vec<u32> = (0..members.len() as u32).collect();
    by_order.sort_unstable_by_key(|&i| order[i as usize]);
    drop(order);
    let mut to = vec![0u32; members.len()];
    for (k, &i) in by_order.iter().enumerate() {
        to[i as usize] = k as u32;
    }
    drop(by_order);
    permute(&mut members, to);
    Ok(members)
}

/// Moves each `items[i]` to `items[to[i]]` in place (`to` a permutation of the places).
fn permute<T>(items: &mut [T], mut to: Vec<u32>) {
    for i in 0..items.len() {
        // Follow the cycle through `i` until the item that belongs here has come.
        while to[i] as usize != i {
            let t = to[i] as usize;
            items.swap(i, t);
            to.swap(i, t);
        }
    }
}
