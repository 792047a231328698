//! `similar`: pairs of near-identical texts by different accounts within the window.
//!
//! A sliding-window join on similarity is not an equi-join, so a kernel does it. A plan streams the original
//! texts in whatever order the engine reads them; each text is tokenised once, in parallel, and only its
//! shingle set and LSH band keys (`bands` bands of `rows` MinHashes each) are kept, as 32-bit hashes. The
//! documents are then put in time order (an index sort, not a sort of the texts), and the kernel keeps the
//! messages of the last span (the horizon: ten windows by default) in an LSH index, looks each new message up,
//! and verifies every candidate's exact Jaccard similarity. A verified pair within the window is an edge's
//! evidence; every verified pair within the span counts toward its two messages' near partners, which weigh
//! how tightly the near-duplicates bunch ([`fold_pairs`]). The edges carry their evidence as message hashes,
//! resolved to message keys with the other kinds' at the end of the analysis.
//!
//! The bands are chosen from the threshold so that a pair exactly at it is a candidate with probability
//! ≥ 0.999, with as many hashes per band as keep the bands few (see [`SimilarParams::new`]); pairs below it
//! that become candidates are rejected by the exact check.

use std::collections::{HashMap, VecDeque};

use arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rayon::prelude::*;

use super::{Edge, Kind};
use crate::Result;
use crate::fold::{Bytes, put_i64s, put_str, put_u32, put_u32s, put_u64};
use crate::lists::{Chunk, Interner, Lists};
#[cfg(test)]
use crate::minhash::jaccard;
#[cfg(test)]
use crate::minhash::shingles;
use crate::minhash::{KeyHasher, Permutations, jaccard_at_least, mix, push_shingle_halves, sort_tail, word_hashes};
use crate::sql::{ACCOUNT, ORIGINAL};
use crate::table::{Strs, collect, i64s};

/// Parameters of the similar-text kernel.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SimilarParams {
    /// Window (µs): pairs at most this far apart are found.
    pub window_us: i64,
    /// How far back the index reaches (µs, at least `window_us`): pairs this far apart are counted per document
    /// (each document's near partners) to weigh how tightly its near-duplicates bunch, as a key's tightness does
    /// for the other kinds (see `tight`).
    pub span_us: i64,
    /// Jaccard threshold.
    pub threshold: f64,
    /// Words per shingle.
    pub shingle: usize,
    /// Texts with fewer words take no part.
    pub min_tokens: usize,
    /// LSH bands.
    pub bands: usize,
    /// Hashes per band.
    pub rows: usize,
    /// The most original messages per time slab (see [`edges`]); each slab also holds no more than what the
    /// memory budget leaves when it starts ([`slab_texts`]).
    pub slab_texts: usize,
}

/// The most MinHashes per band (see [`SimilarParams::new`]).
const MAX_ROWS: usize = 5;

/// The most bands the choice of [`SimilarParams::new`] takes before it tries fewer rows per band.
const MAX_BANDS: usize = 32;

/// The bands of `rows` MinHashes each that make a pair at Jaccard `threshold` a candidate with probability
/// ≥ 0.999 (it shares one band key at least), at most 64.
fn bands_for(threshold: f64, rows: usize) -> usize {
    let p = threshold.powi(rows as i32);
    if p >= 1.0 { 1 } else { ((0.001f64).ln() / (1.0 - p).ln()).ceil().clamp(1.0, 64.0) as usize }
}

impl SimilarParams {
    /// Parameters with bands chosen for `threshold`: the most hashes per band (up to [`MAX_ROWS`]) whose bands
    /// number at most [`MAX_BANDS`], each count making a pair exactly at the threshold a candidate with
    /// probability ≥ 0.999. More hashes per band make texts well below the threshold rarely share a band key:
    /// at 0.8, five hashes in 18 bands make a pair at Jaccard 0.3 a candidate with probability 0.04 (two in 7
    /// bands: 0.48), and on the 10M generated corpus the window, spanning ten windows, checks 14M candidates
    /// (two in 7: 872M) for the same verified pairs (decision 0004).
    pub fn new(window_us: i64, threshold: f64, shingle: usize, min_tokens: usize) -> SimilarParams {
        let rows = (1..=MAX_ROWS).rev().find(|&r| bands_for(threshold, r) <= MAX_BANDS).unwrap_or(1);
        SimilarParams {
            window_us,
            span_us: window_us,
            threshold,
            shingle,
            min_tokens,
            bands: bands_for(threshold, rows),
            rows,
            slab_texts: usize::MAX,
        }
    }
}

/// The LSH band keys of a shingle set (32-bit hashes, not empty), appended to `out` sorted and distinct: each
/// band's key is its number and its `rows` minima hashed together. `minima` is scratch space.
fn band_keys(set: &[u32], p: &SimilarParams, perms: &Permutations, minima: &mut Vec<u32>, out: &mut Vec<u32>) {
    perms.minima(set, minima);
    let start = out.len();
    out.extend(minima.chunks_exact(p.rows).enumerate().map(|(band, mins)| {
        let key = mins.iter().fold(mix(band as u64 + 1), |key, &m| mix(key ^ u64::from(m)));
        (key >> 32) as u32
    }));
    sort_tail(out, start);
}

/// Appends the shingle set (top 32 bits of each shingle's hash, sorted) and band keys of `text` to `sets` and
/// `bands` if it has at least `min_tokens` words; whether it had. `scratch` holds word hashes and minima
/// between calls.
fn sign(
    text: &str,
    p: &SimilarParams,
    perms: &Permutations,
    scratch: &mut SignScratch,
    sets: &mut Chunk,
    bands: &mut Chunk,
) -> bool {
    let (words, minima) = scratch;
    word_hashes(text, words);
    if words.len() < p.min_tokens {
        return false;
    }
    sets.push_with(|data| push_shingle_halves(words, p.shingle, data));
    let set = sets.get(sets.len() - 1);
    bands.push_with(|data| band_keys(set, p, perms, minima, data));
    true
}

/// The texts the kernel compares, by position in the scan: time, account, key hash, shingle set, band keys.
#[derive(Default)]
struct Docs {
    ts: Vec<i64>,
    account: Vec<u32>,
    key_h: Vec<i64>,
    sets: Lists,
    bands: Lists,
}

/// Word hashes and minima, kept by [`sign`] between calls.
type SignScratch = (Vec<u64>, Vec<u32>);

/// Document → its verified partners within the span.
type NearCounts = HashMap<u32, u32, std::hash::BuildHasherDefault<KeyHasher>>;

/// Band key → the number of its latest entry in the window ([`Window::entries`]).
type BandIndex = HashMap<u32, u64, std::hash::BuildHasherDefault<KeyHasher>>;

/// No earlier entry with the key.
const NO_ENTRY: u64 = u64::MAX;

/// A document's band key in the window: the document's sequence number, the key, and the entry of the key's
/// previous holder ([`NO_ENTRY`] for none).
#[derive(Clone, Copy)]
struct Entry {
    seq: u64,
    prev: u64,
    key: u32,
}

/// The sliding-window LSH join over documents pushed in time order. Documents are numbered by arrival
/// (`seq`), and each of their band keys is an entry, numbered by arrival too; the index keeps each band key's
/// latest entry, and each entry the one before it with the same key, so a lookup walks only the window's
/// documents with the key, two reads a step, and nothing is allocated per document.
struct Window<'a> {
    p: SimilarParams,
    docs: &'a Docs,
    /// The documents in the window, oldest first; the first has sequence number `first_seq`.
    live: VecDeque<u32>,
    first_seq: u64,
    index: BandIndex,
    /// The entries of the documents in the window, oldest first; the first is entry number `popped`.
    entries: VecDeque<Entry>,
    /// Entries popped off the front of `entries`.
    popped: u64,
    /// Verified pairs within the window: (earlier document, later document).
    pairs: Vec<(u32, u32)>,
    /// Each document's verified partners within the span (documents with none are not in it).
    near: NearCounts,
}

impl<'a> Window<'a> {
    fn new(p: SimilarParams, docs: &'a Docs) -> Window<'a> {
        Window {
            p,
            docs,
            live: VecDeque::new(),
            first_seq: 0,
            index: BandIndex::default(),
            entries: VecDeque::new(),
            popped: 0,
            pairs: Vec::new(),
            near: NearCounts::default(),
        }
    }

    /// Drops the documents that are out of the window of a document at time `ts`.
    fn evict(&mut self, ts: i64) {
        let docs = self.docs;
        while let Some(&old) = self.live.front() {
            if docs.ts[old as usize] >= ts.saturating_sub(self.p.span_us) {
                break;
            }
            // A key whose latest entry leaves has no holder left in the window.
            while let Some(entry) = self.entries.front().filter(|e| e.seq == self.first_seq) {
                if let std::collections::hash_map::Entry::Occupied(latest) = self.index.entry(entry.key)
                    && *latest.get() == self.popped
                {
                    latest.remove();
                }
                self.entries.pop_front();
                self.popped += 1;
            }
            self.live.pop_front();
            self.first_seq += 1;
        }
    }

    /// Adds `doc` (the latest in time) to the window after recording its verified pairs with the documents
    /// already there.
    fn push(&mut self, doc: u32) {
        let docs = self.docs;
        self.evict(docs.ts[doc as usize]);
        let bands = docs.bands.get(doc);
        let mut candidates: Vec<u64> = Vec::new();
        for key in bands {
            let mut at = self.index.get(key).copied().unwrap_or(NO_ENTRY);
            // Entries before `popped` left with their documents: the walk ends at the window's start.
            while at != NO_ENTRY && at >= self.popped {
                let entry = self.entries[(at - self.popped) as usize];
                candidates.push(entry.seq);
                at = entry.prev;
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let account = docs.account[doc as usize];
        let set = docs.sets.get(doc);
        for seq in candidates {
            let other = self.live[(seq - self.first_seq) as usize];
            if docs.account[other as usize] == account {
                continue;
            }
            if !jaccard_at_least(set, docs.sets.get(other), self.p.threshold) {
                continue;
            }
            if self.p.span_us > self.p.window_us {
                *self.near.entry(other).or_default() += 1;
                *self.near.entry(doc).or_default() += 1;
            }
            if docs.ts[doc as usize] - docs.ts[other as usize] <= self.p.window_us {
                self.pairs.push((other, doc));
            }
        }
        self.insert(doc);
    }

    /// Adds `doc` (the latest in time) to the window without looking for its pairs.
    fn warm(&mut self, doc: u32) {
        self.evict(self.docs.ts[doc as usize]);
        self.insert(doc);
    }

    fn insert(&mut self, doc: u32) {
        let seq = self.first_seq + self.live.len() as u64;
        // Band keys are distinct within a document: each is indexed once.
        for &key in self.docs.bands.get(doc) {
            let number = self.popped + self.entries.len() as u64;
            let prev = self.index.insert(key, number).unwrap_or(NO_ENTRY);
            self.entries.push_back(Entry { seq, prev, key });
        }
        self.live.push_back(doc);
    }
}

/// The verified pairs of the documents in `order[start..]` (time order) with each other and with the documents
/// before them in the window, found by `segments` windows in parallel, each over its own stretch of
/// `order[start..]`; the documents before `start` (a slab's carried ones) are only compared with. A window is
/// first filled, without lookups, with the documents within the span before its stretch starts, so together
/// they find exactly the pairs (and near partners) one window over all gives, in the same order.
fn window_pairs(
    p: &SimilarParams,
    docs: &Docs,
    order: &[u32],
    start: usize,
    segments: usize,
) -> (Vec<(u32, u32)>, NearCounts) {
    let n = order.len() - start;
    let segments = segments.clamp(1, n.max(1));
    let bounds: Vec<(usize, usize)> =
        (0..segments).map(|s| (start + s * n / segments, start + (s + 1) * n / segments)).collect();
    let found: Vec<(Vec<(u32, u32)>, NearCounts)> = bounds
        .into_par_iter()
        .map(|(lo, hi)| {
            let mut window = Window::new(*p, docs);
            if lo < hi {
                let from = docs.ts[order[lo] as usize].saturating_sub(p.span_us);
                let warm = order[..lo].partition_point(|&d| docs.ts[d as usize] < from);
                order[warm..lo].iter().for_each(|&d| window.warm(d));
                order[lo..hi].iter().for_each(|&d| window.push(d));
            }
            (window.pairs, window.near)
        })
        .collect();
    let mut near = NearCounts::default();
    let mut pairs = Vec::with_capacity(found.iter().map(|f| f.0.len()).sum());
    for (found, counts) in found {
        pairs.extend(found);
        for (doc, n) in counts {
            *near.entry(doc).or_default() += n;
        }
    }
    (pairs, near)
}

/// Each document of a pair within the window: its partners within the window, and within the span.
type Tightness = HashMap<u32, (u32, u32), std::hash::BuildHasherDefault<KeyHasher>>;

/// The partners of the documents of `pairs` (within the window) within the window and, from `near` (the
/// partners within the span of the documents that have any), within the span.
fn tightness(pairs: &[(u32, u32)], near: impl Fn(u32) -> Option<u32>) -> Tightness {
    let mut out = Tightness::default();
    for &(x, y) in pairs {
        out.entry(x).or_default().0 += 1;
        out.entry(y).or_default().0 += 1;
    }
    for (doc, (close, far)) in out.iter_mut() {
        *far = near(*doc).unwrap_or(*close).max(*close);
    }
    out
}

/// The documents of the pairs found so far (time, account and key; no sets), numbered in the order first
/// paired, the pairs themselves and the documents' partners within the span: what the slabs' folds give, added
/// up. What finds a document by its key hash holds only those a later slab can still give ([`Paired::prune`]):
/// the rest grows with the pairs, not with every document seen.
#[derive(Default)]
struct Paired {
    docs: Docs,
    accounts: Interner,
    /// Key hash → number here, of the documents a later slab can still give.
    index: HashMap<i64, u32, std::hash::BuildHasherDefault<KeyHasher>>,
    pairs: Vec<(u32, u32)>,
    /// Each document's verified partners within the span, by number.
    near: Vec<u32>,
    /// Key hash → (time, verified partners within the span) of documents in no pair yet that a later slab can
    /// still pair.
    waiting: HashMap<i64, (i64, u32), std::hash::BuildHasherDefault<KeyHasher>>,
    short_texts: u64,
}

impl Paired {
    /// The number here of the document with key hash `key_h`, kept with its time and account on first sight.
    fn keep(&mut self, key_h: i64, ts: i64, account: &str) -> u32 {
        let next = self.docs.ts.len() as u32;
        *self.index.entry(key_h).or_insert_with(|| {
            self.docs.ts.push(ts);
            self.docs.account.push(self.accounts.get(account));
            self.docs.key_h.push(key_h);
            self.near.push(self.waiting.remove(&key_h).map_or(0, |w| w.1));
            next
        })
    }

    /// Forgets which key hash names which document for the documents before `before`: the slabs still to come
    /// read nothing earlier (each from its start less the span). Their partners within the span are final.
    fn prune(&mut self, before: i64) {
        let ts = &self.docs.ts;
        self.index.retain(|_, d| ts[*d as usize] >= before);
        self.waiting.retain(|_, w| w.0 >= before);
    }

    /// Adds what a slab's fold finished with ([`SimilarFold::finish`]).
    fn add(&mut self, bytes: &[u8]) -> Result<()> {
        let mut b = Bytes::new(bytes);
        self.short_texts += b.u64()?;
        let docs = b.u64()? as usize;
        let mut here = Vec::with_capacity(docs.min(bytes.len()));
        for _ in 0..docs {
            let (key_h, ts, account) = (b.i64()?, b.i64()?, b.str()?);
            here.push(self.keep(key_h, ts, account));
        }
        let of = |i: u32| {
            here.get(i as usize)
                .copied()
                .ok_or_else(|| crate::Error::Internal("similar: a pair past its documents".into()))
        };
        for _ in 0..b.u64()? {
            let (x, y) = (of(b.u32()?)?, of(b.u32()?)?);
            self.pairs.push((x, y));
        }
        for _ in 0..b.u64()? {
            let (key_h, ts, n) = (b.i64()?, b.i64()?, b.u32()?);
            match self.index.get(&key_h) {
                Some(&d) => self.near[d as usize] += n,
                None => self.waiting.entry(key_h).or_insert((ts, 0)).1 += n,
            }
        }
        if !b.is_empty() {
            return Err(crate::Error::Internal("similar: a slab's result runs on".into()));
        }
        Ok(())
    }

    /// The documents numbered in time order (ties by key hash: the order the pairs are sorted and summed by,
    /// however the slabs and partitions fell), the pairs renumbered with them, the accounts' names and the
    /// tightness of the pairs' documents (with `tight`).
    fn in_time_order(self, tight: bool) -> Ordered {
        let Paired { mut docs, accounts, index, mut pairs, near, waiting, .. } = self;
        drop((index, waiting));
        let mut order: Vec<u32> = (0..docs.ts.len() as u32).collect();
        order.sort_unstable_by_key(|&d| (docs.ts[d as usize], docs.key_h[d as usize]));
        let mut new = vec![0u32; order.len()];
        for (n, &d) in order.iter().enumerate() {
            new[d as usize] = n as u32;
        }
        for (x, y) in pairs.iter_mut() {
            (*x, *y) = (new[*x as usize], new[*y as usize]);
        }
        drop(new);
        let tight = tight.then(|| tightness(&pairs, |d| Some(near[order[d as usize] as usize])));
        drop(near);
        // A column at a time, each old one freed as its new one is made: the documents are not held twice.
        let pick = |v: &[i64]| order.iter().map(|&d| v[d as usize]).collect::<Vec<i64>>();
        docs.ts = pick(&docs.ts);
        docs.key_h = pick(&docs.key_h);
        docs.account = order.iter().map(|&d| docs.account[d as usize]).collect();
        Ordered { docs, pairs, names: accounts.names, tight }
    }
}

/// The pairs of every slab with their documents in time order ([`Paired::in_time_order`]).
struct Ordered {
    docs: Docs,
    pairs: Vec<(u32, u32)>,
    names: Vec<String>,
    tight: Option<Tightness>,
}

/// The `similar` edges of the verified pairs: one per pair of accounts (the smaller id first), weighted by the
/// distinct messages on its smaller side, with the first `evidence` message pairs by time as its evidence (as
/// message hashes, see [`Edge::evidence_hashes`]) and a hash of each message pair as its keys. Pairs are ordered
/// by time, then by their message hashes.
///
/// With `tight`, the specificity weighs each message by how tightly its near-duplicates bunch: a pair's share
/// of both documents' partners within the span that are within the window; a message counts the most of that
/// over its pairs in the edge. Without, the specificity is the weight.
/// The edges are made on `threads` in runs of [`EDGES_AT_ONCE`] account pairs, each run handed to `sink` in
/// order before the next is made.
#[allow(clippy::too_many_arguments)]
fn fold_pairs(
    pairs: &[(u32, u32)],
    docs: &Docs,
    names: &[String],
    evidence: usize,
    tight: Option<&Tightness>,
    window_us: i64,
    threads: &rayon::ThreadPool,
    sink: &mut dyn FnMut(Edge) -> Result<()>,
) -> Result<()> {
    let share = |x: u32, y: u32| -> f64 {
        let Some(t) = tight else { return 1.0 };
        let (cx, fx) = t.get(&x).copied().unwrap_or((1, 1));
        let (cy, fy) = t.get(&y).copied().unwrap_or((1, 1));
        f64::from(cx + cy) / f64::from((fx + fy).max(1))
    };
    let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
    threads.install(|| by_name.par_sort_unstable_by(|&x, &y| names[x as usize].cmp(&names[y as usize])));
    let mut rank = vec![0u32; names.len()];
    for (r, &account) in by_name.iter().enumerate() {
        rank[account as usize] = r as u32;
    }
    let rank_of = |d: u32| rank[docs.account[d as usize] as usize];
    let key_of = |d: u32| docs.key_h[d as usize];
    // Each account's name once, shared by its edges.
    let names: Vec<super::AccountName> = names.iter().map(|n| std::sync::Arc::from(n.as_str())).collect();
    let ts_of = |d: u32| docs.ts[d as usize];
    // (a's rank, b's rank, t0, a's document, b's document) with a the smaller account.
    type Row = (u32, u32, i64, u32, u32);
    let mut rows: Vec<Row> = threads.install(|| {
        pairs
            .par_iter()
            .map(|&(x, y)| {
                let (x, y) = if rank_of(x) < rank_of(y) { (x, y) } else { (y, x) };
                (rank_of(x), rank_of(y), ts_of(x).min(ts_of(y)), x, y)
            })
            .collect()
    });
    threads.install(|| rows.par_sort_unstable_by_key(|r| (r.0, r.1, r.2, key_of(r.3), key_of(r.4))));
    let groups: Vec<&[Row]> = rows.chunk_by(|r, s| (r.0, r.1) == (s.0, s.1)).collect();
    let edge = |group: &[Row]| {
        let distinct = |side: fn(&Row) -> u32| {
            let mut docs: Vec<u32> = group.iter().map(side).collect();
            docs.sort_unstable();
            docs.dedup();
            docs.len() as u64
        };
        // Each side's messages, each at the most its pairs in the edge give it.
        let weighed = |side: fn(&Row) -> u32| {
            let mut docs: Vec<(u32, f64)> = group.iter().map(|r| (side(r), share(r.3, r.4))).collect();
            docs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
            docs.dedup_by_key(|d| d.0);
            docs.iter().map(|d| d.1).sum::<f64>()
        };
        let (x, y) = (group[0].3, group[0].4);
        Edge {
            kind: Kind::Similar,
            a: names[docs.account[x as usize] as usize].clone(),
            b: names[docs.account[y as usize] as usize].clone(),
            weight: distinct(|r| r.3).min(distinct(|r| r.4)),
            specificity: weighed(|r| r.3).min(weighed(|r| r.4)),
            lead: super::Lead::of(group.iter().map(|r| ts_of(r.3) - ts_of(r.4)), window_us),
            spells: super::merge_spells(
                group.iter().map(|r| (ts_of(r.3).min(ts_of(r.4)), ts_of(r.3).max(ts_of(r.4)))).collect(),
            ),
            first_seen: group.iter().map(|r| r.2).min().unwrap_or(0),
            last_seen: group.iter().map(|r| ts_of(r.3).max(ts_of(r.4))).max().unwrap_or(0),
            evidence: Vec::new(),
            evidence_hashes: group.iter().take(evidence).map(|r| (key_of(r.3), key_of(r.4))).collect(),
            keys: group.iter().map(|r| mix(key_of(r.3) as u64 ^ mix(key_of(r.4) as u64)) as i64).collect(),
            p_value: None,
        }
    };
    for run in groups.chunks(EDGES_AT_ONCE) {
        let made: Vec<Edge> = threads.install(|| run.par_iter().map(|g| edge(g)).collect());
        for e in made {
            sink(e)?;
        }
    }
    Ok(())
}

/// Account pairs whose edges are made at once (in parallel) before they go to the caller.
const EDGES_AT_ONCE: usize = 1 << 14;

/// What the kernel found.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Original texts left out for having fewer than `min_tokens` words.
    pub short_texts: u64,
    /// The time slabs the texts were read in (see [`edges`]; the timings print it, tests check it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub slabs: usize,
}

/// Bytes the kernel holds per text of a slab: its shingle set and band keys, their offsets, its time, account
/// and key, and its entries in the window's index. Measured at 10M generated messages: about 100 B of set, 72 B
/// of band keys (18 at the default threshold), 40 B of the rest, about 190 B in all; while the merge reads a
/// partition's state, the state's bytes are held beside the merged texts: the slab's peak on the 1M demo store
/// was 1.7 times what one copy of its texts takes, so 448 B.
const BYTES_PER_TEXT: usize = 448;

/// How many texts a slab may hold in `ctx`'s memory budget (`--memory`): what the budget leaves after what the
/// process holds, in a local session ([`crate::memory::BudgetPool::left`]); the pool's limit where the pool is another's (on
/// a cluster the slab is merged on an executor); all of them when the pool has no limit.
pub(super) fn slab_texts(ctx: &SessionContext) -> usize {
    let pool = &ctx.runtime_env().memory_pool;
    if let Some(budget) = pool.downcast_ref::<crate::memory::BudgetPool>() {
        return (budget.left() / BYTES_PER_TEXT).max(1);
    }
    match pool.memory_limit() {
        datafusion::execution::memory_pool::MemoryLimit::Finite(bytes) => (bytes / BYTES_PER_TEXT).max(1),
        _ => usize::MAX,
    }
}

/// A stretch of time `[from, until)` (open where `None`) whose texts are read and signed together, and how many
/// original messages it has.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slab {
    from: Option<i64>,
    until: Option<i64>,
    messages: usize,
}

impl Slab {
    /// The slab as a filter on `messages`.
    fn filter(&self) -> String {
        let from = self.from.map(|t| format!(" AND CAST(ts AS BIGINT) >= {t}")).unwrap_or_default();
        let until = self.until.map(|t| format!(" AND CAST(ts AS BIGINT) < {t}")).unwrap_or_default();
        format!("{ORIGINAL}{from}{until}")
    }
}

/// The most buckets of [`Slabs`]: 16 bytes each.
const MAX_BUCKETS: i64 = 1 << 20;

/// The original messages counted by stretches of time (buckets of equal width, at most [`MAX_BUCKETS`]), from
/// which the slabs are cut one at a time, each as large as the budget then allows ([`Slabs::next`]). The buckets
/// take constant memory; every original message's time would take 8 bytes a message (0.43 GB at 53M).
#[derive(Debug)]
struct Slabs {
    /// The first bucket's start and the buckets' width (µs).
    lo: i64,
    width: i64,
    /// (bucket number, original messages in it), by number; empty buckets left out.
    buckets: Vec<(i64, usize)>,
    /// The first bucket the next slab takes.
    at: usize,
}

impl Slabs {
    /// The buckets of the original messages of `ctx`; one bucket, without grouping, when there are no more than
    /// `per_slab`.
    async fn of(ctx: &SessionContext, per_slab: usize) -> Result<Slabs> {
        let range = collect(
            ctx,
            &format!(
                "SELECT count(*) AS n, min(CAST(ts AS BIGINT)) AS lo, max(CAST(ts AS BIGINT)) AS hi FROM messages \
                 WHERE {ORIGINAL}"
            ),
        )
        .await?;
        let first = |name| range.first().filter(|b| b.num_rows() > 0).map(|b| i64s(b, name)).transpose();
        let n = first("n")?.map_or(0, |n| n.value(0));
        let (lo, hi) = match (first("lo")?, first("hi")?) {
            (Some(lo), Some(hi)) if lo.is_valid(0) && hi.is_valid(0) => (lo.value(0), hi.value(0)),
            _ => return Ok(Slabs { lo: 0, width: 1, buckets: vec![(0, 0)], at: 0 }),
        };
        let n = usize::try_from(n).unwrap_or(0);
        if n <= per_slab {
            return Ok(Slabs { lo, width: 1, buckets: vec![(0, n)], at: 0 });
        }
        let span = i128::from(hi) - i128::from(lo) + 1;
        let width = i64::try_from(span.div_euclid(i128::from(MAX_BUCKETS)) + 1).unwrap_or(i64::MAX);
        let mut buckets = Vec::new();
        let mut stream = ctx
            .sql(&format!(
                "SELECT (CAST(ts AS BIGINT) - ({lo})) / {width} AS b, count(*) AS n FROM messages WHERE {ORIGINAL} \
                 GROUP BY b ORDER BY b"
            ))
            .await?
            .execute_stream()
            .await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let (b, n) = (i64s(&batch, "b")?, i64s(&batch, "n")?);
            buckets.extend(b.values().iter().zip(n.values()).map(|(&b, &n)| (b, n as usize)));
        }
        Ok(Slabs { lo, width, buckets, at: 0 })
    }

    /// The next slab: the buckets from the last slab's end while they hold at most `per_slab` original messages
    /// together (at least one bucket), cut only at bucket edges, so only between different times; `None` after
    /// the last.
    fn next(&mut self, per_slab: usize) -> Option<Slab> {
        let first = self.at;
        if first >= self.buckets.len() {
            return None;
        }
        let mut messages = self.buckets[first].1;
        let mut end = first + 1;
        while let Some(&(_, n)) = self.buckets.get(end) {
            if messages + n > per_slab {
                break;
            }
            messages += n;
            end += 1;
        }
        self.at = end;
        let edge = |i: usize| self.lo.saturating_add(self.buckets[i].0.saturating_mul(self.width));
        Some(Slab {
            from: (first > 0).then(|| edge(first)),
            until: (end < self.buckets.len()).then(|| edge(end)),
            messages,
        })
    }
}

/// The `similar` edges of the messages in `ctx`, each with up to `evidence` message pairs.
///
/// The texts are read in slabs of time, each of at most `p.slab_texts` original messages and of what the
/// budget leaves when it starts ([`slab_texts`]; cut only between different times, [`Slabs`]), each slab one
/// plan: a scan of `messages` from a span before the slab to its end, and the
/// fold `similar_pairs` ([`SimilarFold`]) over it. Each partition of the scan (on a cluster, each executor's
/// task) signs its texts; the merge compares them in time order and hands back only the verified pairs, the
/// documents in them and the partners within the span. The texts of the span before the slab are compared
/// with, not looked up (the slab before found their pairs), so memory is bounded by the slab, not by the
/// corpus, and the slabs together find exactly the pairs one scan finds.
#[cfg(test)]
pub(super) async fn edges(ctx: &SessionContext, p: &SimilarParams, evidence: usize) -> Result<(Vec<Edge>, Found)> {
    let mut edges = Vec::new();
    let found = edges_each(ctx, p, evidence, |e| {
        edges.push(e);
        Ok(())
    })
    .await?;
    Ok((edges, found))
}

/// [`edges`], each edge handed to `sink` as it is made (a few thousand at a time), not gathered: whole, an edge
/// holds a key per message pair.
pub(super) async fn edges_each(
    ctx: &SessionContext,
    p: &SimilarParams,
    evidence: usize,
    mut sink: impl FnMut(Edge) -> Result<()>,
) -> Result<Found> {
    let timings = crate::timings::Timings::new();
    let step = |name: &str| timings.step(&format!("  similar: {name}"));
    // Each slab holds what the budget leaves when it starts: what the kernel keeps between slabs (the pairs and
    // their documents) grows as it goes.
    let per_slab = || {
        crate::memory::release();
        p.slab_texts.min(slab_texts(ctx))
    };
    let mut slabs = Slabs::of(ctx, per_slab()).await?;
    step(&format!("{} bucket(s) of {} µs", slabs.buckets.len(), slabs.width));
    let mut paired = Paired::default();
    let mut count = 0;
    while let Some(slab) = slabs.next(per_slab()) {
        count += 1;
        let fold = FoldParam::new(p, slab.from);
        ctx.register_udaf(similar_udaf(&fold));
        let scan = Slab { from: slab.from.map(|t| t.saturating_sub(p.span_us)), ..slab };
        let sql = format!(
            "SELECT similar_pairs({ACCOUNT}, CAST(ts AS BIGINT), hash64(key), text_norm) AS fold FROM messages \
             WHERE {}",
            scan.filter()
        );
        let bytes = crate::fold::run(ctx, &sql).await?;
        paired.add(&bytes)?;
        if let Some(next) = slab.until {
            paired.prune(next.saturating_sub(p.span_us));
        }
        step(&format!("slab {count} ({} texts)", slab.messages));
    }
    let short_texts = paired.short_texts;
    let Ordered { docs, pairs, names, tight } = paired.in_time_order(p.span_us > p.window_us);
    // The kernel's parallel work runs on threads of its own, which end when it returns: the allocator keeps
    // what a thread freed in that thread's heap until the thread allocates again (see `SimilarFold::finish`).
    let threads = kernel_threads()?;
    fold_pairs(&pairs, &docs, &names, evidence, tight.as_ref(), p.window_us, &threads, &mut sink)?;
    drop(threads);
    step("edges");
    Ok(Found { short_texts, slabs: count })
}

/// A pool of threads for the kernel's parallel work, ended when dropped.
fn kernel_threads() -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("echolens-similar-{i}"))
        .build()
        .map_err(|e| crate::Error::Internal(format!("starting the similar kernel's threads: {e}")))
}

/// What `similar_pairs` is made from, sent with a plan: the kernel's parameters and where the slab starts.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct FoldParam {
    /// The kernel's parameters; a fold compares one slab, so it cuts none (`slab_texts` unbounded).
    p: SimilarParams,
    /// Texts before this time are the span before the slab: compared with, not looked up, not counted.
    from: Option<i64>,
}

impl FoldParam {
    fn new(p: &SimilarParams, from: Option<i64>) -> FoldParam {
        FoldParam { p: SimilarParams { slab_texts: usize::MAX, ..*p }, from }
    }
}

/// `similar_pairs(account, ts, key hash, text_norm)`: a slab's verified pairs, as a fold ([`SimilarFold`]).
fn similar_udaf(param: &FoldParam) -> datafusion::logical_expr::AggregateUDF {
    use datafusion::logical_expr::{Signature, Volatility};
    let text = serde_json::to_string(param).expect("numbers serialise");
    let param = *param;
    crate::fold::udaf("similar_pairs", text, Signature::any(4, Volatility::Immutable), move || {
        Box::new(SimilarFold::new(param))
    })
}

/// The fold made again from its parameter.
pub(crate) fn rebuild_udaf(param: &str) -> Result<datafusion::logical_expr::AggregateUDF> {
    let param: FoldParam = serde_json::from_str(param).map_err(|e| {
        crate::Error::Param(format!("similar_pairs: the parameter sent with a plan does not read: {e}"))
    })?;
    let p = &param.p;
    if p.rows == 0 || p.bands == 0 || p.bands * p.rows > 1024 || p.span_us < p.window_us {
        return Err(crate::Error::Param(format!("similar_pairs: parameters out of range: {param:?}")));
    }
    Ok(similar_udaf(&param))
}

/// A slab's texts as a fold: each partition signs the texts it reads (shingle set and band keys; [`sign`]) and
/// hands them on; the merge puts them in time order, runs the window over them ([`window_pairs`]) and finishes
/// with the verified pairs within the window, their documents, and the partners within the span
/// ([`Paired::add`] reads it).
struct SimilarFold {
    param: FoldParam,
    perms: Permutations,
    docs: Docs,
    accounts: Interner,
    /// The slab's own texts (not those of the span before it) too short to take part.
    short: u64,
    scratch: (Chunk, Chunk, SignScratch),
}

impl std::fmt::Debug for SimilarFold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimilarFold").field("param", &self.param).field("docs", &self.docs.ts.len()).finish()
    }
}

impl SimilarFold {
    fn new(param: FoldParam) -> SimilarFold {
        SimilarFold {
            param,
            perms: Permutations::new(param.p.bands * param.p.rows),
            docs: Docs::default(),
            accounts: Interner::default(),
            short: 0,
            scratch: (Chunk::empty(0), Chunk::empty(0), Default::default()),
        }
    }

    /// Whether a text at `ts` is the slab's own, not the span's before it.
    fn own(&self, ts: i64) -> bool {
        self.param.from.is_none_or(|from| ts >= from)
    }

    /// The times, accounts and keys of `docs` (what the sets' and band keys' chunks follow).
    fn put_head(&self, out: &mut Vec<u8>, docs: &Docs) {
        put_u64(out, self.short);
        put_u64(out, self.accounts.names.len() as u64);
        self.accounts.names.iter().for_each(|name| put_str(out, name));
        put_u64(out, docs.ts.len() as u64);
        put_i64s(out, &docs.ts);
        put_u32s(out, &docs.account);
        put_i64s(out, &docs.key_h);
    }
}

/// A chunk of lists as [`SimilarFold::merge`] reads it.
fn put_chunk(out: &mut Vec<u8>, chunk: &Chunk) {
    let (offsets, data) = chunk.raw();
    put_u64(out, offsets.len() as u64);
    put_u32s(out, offsets);
    put_u64(out, data.len() as u64);
    put_u32s(out, data);
}

impl crate::fold::Fold for SimilarFold {
    fn update(&mut self, args: &[ArrayRef]) -> Result<()> {
        let [account, ts, h, text] = args else {
            return Err(crate::Error::Internal("similar_pairs takes four arguments".into()));
        };
        let (account, text) = (Strs::of(account)?, Strs::of(text)?);
        let int64 = |a: &ArrayRef| {
            a.as_any()
                .downcast_ref::<Int64Array>()
                .cloned()
                .ok_or_else(|| crate::Error::Internal("similar_pairs: a time or key hash that is not Int64".into()))
        };
        let (ts, h) = (int64(ts)?, int64(h)?);
        let first = u32::try_from(self.docs.ts.len())
            .map_err(|_| crate::Error::Internal("similar: more than 2^32 texts in a slab".into()))?;
        let mut scratch = std::mem::replace(&mut self.scratch, (Chunk::empty(0), Chunk::empty(0), Default::default()));
        let (sets, bands, sign_scratch) = &mut scratch;
        sets.clear();
        bands.clear();
        for i in 0..text.len() {
            if ts.is_null(i) || account.is_null(i) {
                continue;
            }
            if sign(text.value(i), &self.param.p, &self.perms, sign_scratch, sets, bands) {
                self.docs.ts.push(ts.value(i));
                self.docs.account.push(self.accounts.get(account.value(i)));
                self.docs.key_h.push(h.value(i));
            } else if text.is_valid(i) && self.own(ts.value(i)) {
                self.short += 1;
            }
        }
        if sets.len() > 0 {
            let (mut s, mut b) = (sets.copy_exact(), bands.copy_exact());
            (s.first, b.first) = (first, first);
            self.docs.sets.chunks.push(s);
            self.docs.bands.chunks.push(b);
        }
        self.scratch = scratch;
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = |what: &str| crate::Error::Internal(format!("similar: a partition's state {what}"));
        let mut b = Bytes::new(bytes);
        self.short += b.u64()?;
        let names: Vec<u32> = (0..b.u64()?).map(|_| Ok(self.accounts.get(b.str()?))).collect::<Result<_>>()?;
        let n = b.u64()? as usize;
        if n > bytes.len() {
            return Err(bad("counts more texts than it has bytes"));
        }
        let first = self.docs.ts.len();
        self.docs.ts.extend(b.i64s(n)?);
        for a in b.u32s(n)? {
            self.docs.account.push(*names.get(a as usize).ok_or_else(|| bad("names an account it lacks"))?);
        }
        self.docs.key_h.extend(b.i64s(n)?);
        for lists in [&mut self.docs.sets, &mut self.docs.bands] {
            let mut at = first;
            for _ in 0..b.u64()? {
                let offsets = b.u64().and_then(|k| b.u32s(k as usize))?;
                let data = b.u64().and_then(|k| b.u32s(k as usize))?;
                let chunk = Chunk::from_raw(at as u32, offsets, data).ok_or_else(|| bad("has a broken list"))?;
                at += chunk.len();
                lists.chunks.push(chunk);
            }
            if at != first + n {
                return Err(bad("has lists for another number of texts"));
            }
        }
        if !b.is_empty() {
            return Err(bad("runs on"));
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        self.put_head(out, &self.docs);
        for lists in [&self.docs.sets, &self.docs.bands] {
            put_u64(out, lists.chunks.len() as u64);
            lists.chunks.iter().for_each(|c| put_chunk(out, c));
        }
    }

    fn hand_on(&mut self, out: &mut Vec<u8>) {
        // Each chunk is given back once written: the partition's texts are not held twice.
        let docs = std::mem::take(&mut self.docs);
        self.put_head(out, &docs);
        let Docs { sets, bands, .. } = docs;
        for lists in [sets, bands] {
            put_u64(out, lists.chunks.len() as u64);
            for chunk in lists.chunks {
                put_chunk(out, &chunk);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let docs = &mut self.docs;
        docs.sets.index();
        docs.bands.index();
        let docs = &self.docs;
        // Time order, ties by key hash: the same order however the partitions fell. The span before the slab
        // comes first; its texts are compared with, not looked up.
        let mut order: Vec<u32> = (0..docs.ts.len() as u32).collect();
        // The pool's threads end when it is dropped, and a thread that ends gives its heap back: the global
        // pool's would keep the freed signatures resident while the engine runs the next plan.
        let threads = kernel_threads()?;
        threads.install(|| order.par_sort_unstable_by_key(|&d| (docs.ts[d as usize], docs.key_h[d as usize])));
        let start = match self.param.from {
            Some(from) => order.partition_point(|&d| docs.ts[d as usize] < from),
            None => 0,
        };
        let (pairs, near) =
            threads.install(|| window_pairs(&self.param.p, docs, &order, start, rayon::current_num_threads()));
        drop(threads);
        put_u64(out, self.short);
        // The documents of the pairs, numbered as first paired.
        let mut number = vec![u32::MAX; docs.ts.len()];
        let mut paired: Vec<u32> = Vec::new();
        let mut at = |d: u32| {
            let n = &mut number[d as usize];
            if *n == u32::MAX {
                *n = paired.len() as u32;
                paired.push(d);
            }
            *n
        };
        let pairs: Vec<(u32, u32)> = pairs.iter().map(|&(x, y)| (at(x), at(y))).collect();
        put_u64(out, paired.len() as u64);
        for &d in &paired {
            let i = d as usize;
            put_u64(out, docs.key_h[i] as u64);
            put_u64(out, docs.ts[i] as u64);
            put_str(out, &self.accounts.names[docs.account[i] as usize]);
        }
        put_u64(out, pairs.len() as u64);
        for (x, y) in pairs {
            put_u32(out, x);
            put_u32(out, y);
        }
        put_u64(out, near.len() as u64);
        for (d, n) in near {
            put_u64(out, docs.key_h[d as usize] as u64);
            put_u64(out, docs.ts[d as usize] as u64);
            put_u32(out, n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local session's slabs hold what the budget leaves after what the process holds; another pool's, its
    /// limit.
    #[test]
    fn slabs_are_sized_to_what_the_budget_leaves() {
        const GIB: usize = 1 << 30;
        let session = |pool: std::sync::Arc<dyn datafusion::execution::memory_pool::MemoryPool>| {
            let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_memory_pool(pool)
                .build_arc()
                .unwrap();
            SessionContext::new_with_config_rt(crate::session_config(), runtime)
        };
        let held = |bytes: usize| -> crate::memory::Resident { Box::new(move || Some(bytes)) };
        let budget = |bytes| session(std::sync::Arc::new(crate::memory::BudgetPool::with_resident(GIB, held(bytes))));
        assert_eq!(slab_texts(&budget(0)), GIB / BYTES_PER_TEXT);
        assert_eq!(slab_texts(&budget(GIB / 2)), GIB / 2 / BYTES_PER_TEXT);
        assert_eq!(slab_texts(&budget(4 * GIB)), GIB / 4 / BYTES_PER_TEXT, "at least the floor");
        let fair = session(std::sync::Arc::new(datafusion::execution::memory_pool::FairSpillPool::new(GIB)));
        assert_eq!(slab_texts(&fair), GIB / BYTES_PER_TEXT);
    }

    /// Slabs are cut at bucket edges, one at a time, each holding as many buckets as its own limit allows (at
    /// least one), and together they cover every bucket once, in order, open at both ends.
    #[test]
    fn slabs_are_cut_one_at_a_time_to_the_limit_of_each() {
        let buckets = vec![(0, 3), (1, 4), (5, 1), (6, 9), (9, 2), (12, 2)];
        let mut slabs = Slabs { lo: 1_000, width: 10, buckets, at: 0 };
        let mut got = Vec::new();
        for limit in [8, 2, 100] {
            got.push(slabs.next(limit).unwrap());
        }
        assert_eq!(slabs.next(100), None, "every bucket taken");
        let slab = |from, until, messages| Slab { from, until, messages };
        assert_eq!(
            got,
            [slab(None, Some(1_060), 8), slab(Some(1_060), Some(1_090), 9), slab(Some(1_090), None, 4),],
            "the second slab is one bucket over its limit"
        );
        let mut one = Slabs { lo: 7, width: 1, buckets: vec![(0, 5)], at: 0 };
        assert_eq!(one.next(1), Some(slab(None, None, 5)));
        assert_eq!(one.next(1), None);
    }

    /// Documents (time, account, text) as the scan would keep them.
    fn docs(rows: &[(i64, u32, &str)], p: &SimilarParams) -> Docs {
        let mut d = Docs::default();
        let perms = Permutations::new(p.bands * p.rows);
        let (mut sets, mut bands) = (Chunk::empty(0), Chunk::empty(0));
        for (i, &(ts, account, text)) in rows.iter().enumerate() {
            assert!(sign(text, p, &perms, &mut Default::default(), &mut sets, &mut bands), "long enough");
            d.ts.push(ts);
            d.account.push(account);
            d.key_h.push(i as i64);
        }
        d.sets.chunks.push(sets);
        d.bands.chunks.push(bands);
        d
    }

    /// Rows (time, account, key hash, text) of near-copies of a few texts by eight accounts over an hour.
    fn copied_rows(n: usize, seed: u64) -> Vec<(i64, String, i64, String)> {
        let mut x = seed;
        let mut next = |n: u64| {
            x = mix(x);
            x % n
        };
        let bases = [
            "the harbour workers walked out this morning over unpaid wages and the port is closed",
            "officials deny that the election count was delayed in the northern districts last night",
            "volunteers are handing out water and bread at the station until the trains run again",
        ];
        (0..n)
            .map(|i| {
                let mut words: Vec<String> = bases[next(3) as usize].split(' ').map(str::to_owned).collect();
                let at = next(words.len() as u64) as usize;
                words[at] = format!("w{}", next(3));
                let text = if next(15) == 0 { "too short".to_owned() } else { words.join(" ") };
                (next(360) as i64 * 10_000_000, format!("acc{}", next(8)), i as i64 * 7919 - 40_000, text)
            })
            .collect()
    }

    /// What the folds of `parts` partitions (rows dealt round-robin, in batches of `batch`), handed on and
    /// merged, finish with.
    fn folded(param: FoldParam, rows: &[(i64, String, i64, String)], parts: usize, batch: usize) -> Vec<u8> {
        use crate::fold::Fold;
        use arrow::array::StringArray;
        let mut folds: Vec<SimilarFold> = (0..parts).map(|_| SimilarFold::new(param)).collect();
        for (part, fold) in folds.iter_mut().enumerate() {
            let mine: Vec<_> = rows.iter().skip(part).step_by(parts).collect();
            for piece in mine.chunks(batch) {
                let args: Vec<ArrayRef> = vec![
                    std::sync::Arc::new(StringArray::from_iter_values(piece.iter().map(|r| r.1.as_str()))),
                    std::sync::Arc::new(Int64Array::from_iter_values(piece.iter().map(|r| r.0))),
                    std::sync::Arc::new(Int64Array::from_iter_values(piece.iter().map(|r| r.2))),
                    std::sync::Arc::new(StringArray::from_iter_values(piece.iter().map(|r| r.3.as_str()))),
                ];
                fold.update(&args).unwrap();
            }
        }
        let mut all = SimilarFold::new(param);
        for mut fold in folds {
            let mut state = Vec::new();
            fold.hand_on(&mut state);
            assert!(fold.docs.ts.is_empty(), "handing on gives the texts back");
            all.merge(&state).unwrap();
        }
        let mut out = Vec::new();
        all.finish(&mut out).unwrap();
        out
    }

    /// Pairs by key hash, tightness by key hash, short texts.
    type Added = (Vec<(i64, i64)>, Vec<(i64, (u32, u32))>, u64);

    /// The pairs (as key hashes, earlier first), the tightness by key hash and the short texts that `results`
    /// add up to.
    fn added(results: &[Vec<u8>]) -> Added {
        let mut paired = Paired::default();
        results.iter().for_each(|r| paired.add(r).unwrap());
        of_paired(paired)
    }

    /// What [`added`] gives of `paired`.
    fn of_paired(paired: Paired) -> Added {
        let short = paired.short_texts;
        let Ordered { docs, pairs, tight, .. } = paired.in_time_order(true);
        assert!(docs.ts.windows(2).all(|w| w[0] <= w[1]), "documents in time order");
        let key = |d: u32| docs.key_h[d as usize];
        let mut pairs: Vec<(i64, i64)> = pairs.iter().map(|&(x, y)| (key(x), key(y))).collect();
        pairs.sort_unstable();
        let mut tight: Vec<(i64, (u32, u32))> = tight.unwrap().into_iter().map(|(d, t)| (key(d), t)).collect();
        tight.sort_unstable();
        (pairs, tight, short)
    }

    #[test]
    fn a_slab_folded_in_any_partitions_and_slabs_finds_the_same_pairs() {
        let rows = copied_rows(500, 3);
        let p = SimilarParams { span_us: 600_000_000, ..SimilarParams::new(120_000_000, 0.8, 1, 4) };
        let one = added(&[folded(FoldParam::new(&p, None), &rows, 1, 10_000)]);
        assert!(one.0.len() > 100, "the rows have pairs: {}", one.0.len());
        assert!(one.1.iter().any(|(_, (close, far))| far > close), "and partners beyond the window");
        assert!(one.2 > 10, "and short texts: {}", one.2);
        for (parts, batch) in [(2, 10_000), (3, 7), (7, 1)] {
            assert_eq!(added(&[folded(FoldParam::new(&p, None), &rows, parts, batch)]), one, "{parts} partitions");
        }
        // Two slabs cut at a time: the second reads the span before its start too, and compares with it only.
        let cut = 1_800_000_000;
        let first: Vec<_> = rows.iter().filter(|r| r.0 < cut).cloned().collect();
        let second: Vec<_> = rows.iter().filter(|r| r.0 >= cut - p.span_us).cloned().collect();
        let slabs =
            [folded(FoldParam::new(&p, None), &first, 2, 50), folded(FoldParam::new(&p, Some(cut)), &second, 3, 50)];
        assert_eq!(added(&slabs), one, "two slabs");
        // Four slabs, the documents no later slab reads forgotten after each: the same pairs and tightness.
        let cuts = [900_000_000, 1_800_000_000, 2_700_000_000];
        let mut paired = Paired::default();
        for (i, from) in std::iter::once(None).chain(cuts.map(Some)).enumerate() {
            let until = cuts.get(i).copied().unwrap_or(i64::MAX);
            let start = from.map_or(i64::MIN, |t: i64| t - p.span_us);
            let slab: Vec<_> = rows.iter().filter(|r| r.0 >= start && r.0 < until).cloned().collect();
            paired.add(&folded(FoldParam::new(&p, from), &slab, 2, 30)).unwrap();
            if let Some(next) = cuts.get(i) {
                let before = paired.index.len() + paired.waiting.len();
                paired.prune(next - p.span_us);
                assert!(paired.index.len() + paired.waiting.len() < before, "slab {i}: documents forgotten");
            }
        }
        assert_eq!(of_paired(paired), one, "four slabs, pruned");
    }

    #[test]
    fn a_fold_state_that_ends_early_or_runs_on_is_an_error() {
        use crate::fold::Fold;
        let rows = copied_rows(40, 5);
        let p = SimilarParams::new(120_000_000, 0.8, 1, 4);
        let param = FoldParam::new(&p, None);
        let mut fold = SimilarFold::new(param);
        let args: Vec<ArrayRef> = vec![
            std::sync::Arc::new(arrow::array::StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
            std::sync::Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            std::sync::Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            std::sync::Arc::new(arrow::array::StringArray::from_iter_values(rows.iter().map(|r| r.3.as_str()))),
        ];
        fold.update(&args).unwrap();
        let mut state = Vec::new();
        fold.write(&mut state);
        SimilarFold::new(param).merge(&state).unwrap();
        for cut in [1, 9, state.len() / 2, state.len() - 1] {
            assert!(SimilarFold::new(param).merge(&state[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = state.clone();
        longer.push(0);
        assert!(SimilarFold::new(param).merge(&longer).is_err());
        let mut result = Vec::new();
        SimilarFold::new(param).finish(&mut result).unwrap();
        result.push(1);
        assert!(Paired::default().add(&result).is_err());
        assert!(rebuild_udaf("{}").is_err() && rebuild_udaf(&serde_json::to_string(&param).unwrap()).is_ok());
    }

    #[test]
    fn window_finds_every_pair_that_shares_a_band_key_within_the_window() {
        // Texts from a small vocabulary, many of them copies, at random times: the chained index must give
        // exactly the pairs a brute-force scan of the window gives.
        let p = SimilarParams::new(60_000_000, 0.6, 1, 4);
        let mut x = 5u64;
        let mut next = |n: u64| {
            x = mix(x);
            x % n
        };
        let bases: Vec<String> =
            (0..6).map(|b| (0..8).map(|w| format!("w{}", (b * 3 + w) % 20)).collect::<Vec<_>>().join(" ")).collect();
        let mut rows: Vec<(i64, u32, String)> = (0..400)
            .map(|_| {
                let mut words: Vec<String> =
                    bases[next(6) as usize].split(' ').map(str::to_owned).collect::<Vec<String>>();
                let at = next(8) as usize;
                words[at] = format!("e{}", next(4));
                (next(3000) as i64 * 1_000_000, next(5) as u32, words.join(" "))
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        let refs: Vec<(i64, u32, &str)> = rows.iter().map(|r| (r.0, r.1, r.2.as_str())).collect();
        let d = docs(&refs, &p);
        let mut w = Window::new(p, &d);
        for doc in 0..refs.len() as u32 {
            w.push(doc);
        }
        let mut got: Vec<(u32, u32)> = w.pairs.iter().map(|x| (x.0, x.1)).collect();
        got.sort();
        let mut want = Vec::new();
        for j in 0..refs.len() as u32 {
            for i in 0..j {
                let (a, b) = (i as usize, j as usize);
                let shares_key = d.bands.get(i).iter().any(|k| d.bands.get(j).contains(k));
                if d.ts[b] - d.ts[a] <= p.window_us
                    && d.account[a] != d.account[b]
                    && shares_key
                    && jaccard(d.sets.get(i), d.sets.get(j)) + 1e-12 >= p.threshold
                {
                    want.push((i, j));
                }
            }
        }
        want.sort();
        assert!(want.len() > 50, "the corpus has pairs: {}", want.len());
        assert_eq!(got, want);
        // Windows over stretches in parallel find the same pairs in the same order, however many.
        let order: Vec<u32> = (0..refs.len() as u32).collect();
        for segments in [1, 2, 3, 7, 400, 1000] {
            assert_eq!(window_pairs(&p, &d, &order, 0, segments).0, w.pairs, "{segments} segments");
        }
    }

    #[test]
    fn bands_make_threshold_pairs_near_certain() {
        let candidate = |p: &SimilarParams, j: f64| 1.0 - (1.0 - j.powi(p.rows as i32)).powi(p.bands as i32);
        for t in [0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0] {
            let p = SimilarParams::new(1, t, 1, 1);
            assert!(candidate(&p, t) >= 0.999, "t={t} rows={} bands={}", p.rows, p.bands);
            assert!(p.bands <= MAX_BANDS && (1..=MAX_ROWS).contains(&p.rows), "t={t} {p:?}");
        }
        // The default's bands: pairs far below the threshold rarely become candidates.
        let p = SimilarParams::new(1, 0.8, 1, 1);
        assert_eq!((p.rows, p.bands), (5, 18));
        assert!(candidate(&p, 0.3) < 0.05 && candidate(&p, 0.5) < 0.5, "{p:?}");
    }

    #[test]
    fn jaccard_is_exact() {
        let a = shingles("one two three four five", 1);
        let b = shingles("one two three four six", 1);
        assert!((jaccard(&a, &b) - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(jaccard(&a, &a), 1.0);
        let a2 = shingles("one two three four five", 2);
        let b2 = shingles("one two three four six", 2);
        assert!((jaccard(&a2, &b2) - 3.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn window_joins_near_duplicates_within_window_only() {
        let p = SimilarParams::new(60_000_000, 0.8, 1, 4);
        let base = "the quick brown fox jumps over the lazy dog again and again today";
        let edited = "the quick brown fox jumps over the lazy dog again and again tonight";
        let d = docs(
            &[
                (0, 1, base),
                (30_000_000, 2, edited), // similar, in window
                (60_000_000, 3, base),   // exactly at the window from 0
                (60_000_000, 1, "an entirely different message about other things"),
                (150_000_001, 4, base), // past every window
                (150_000_002, 4, base), // same account: no pair
            ],
            &p,
        );
        let mut w = Window::new(p, &d);
        for doc in 0..6 {
            w.push(doc);
        }
        let mut got: Vec<(u32, u32)> = w.pairs.iter().map(|x| (x.0, x.1)).collect();
        got.sort();
        assert_eq!(got, [(0, 1), (0, 2), (1, 2)]);
        assert!(w.pairs.iter().all(|x| d.account[x.0 as usize] != d.account[x.1 as usize]));
    }
}
