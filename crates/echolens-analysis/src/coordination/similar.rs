//! `similar`: pairs of near-identical texts by different accounts within the window.
//!
//! A sliding-window join on similarity is not an equi-join, so a kernel does it: a plan streams the original
//! texts in time order; the kernel keeps the messages of the last `window` seconds in a MinHash LSH index
//! (`bands` bands of `rows` hashes of the word-shingle set), looks each new message up, and verifies every
//! candidate's exact Jaccard similarity before a pair counts. Memory holds one window of messages, whatever the
//! corpus size; the sort before it spills to disk under the session's memory limit. Signatures of a batch are
//! computed in parallel.
//!
//! The bands are chosen from the threshold so that a pair exactly at it is a candidate with probability
//! ≥ 0.999 (`rows = 2`); pairs below it that become candidates are rejected by the exact check.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rayon::prelude::*;

use super::{ACCOUNT, ORIGINAL};
use crate::Result;
#[cfg(test)]
use crate::minhash::shingles;
use crate::minhash::{KeyHasher, jaccard, mix, shingle_set};
use crate::table::{i64s, strings};

/// Parameters of the similar-text kernel.
#[derive(Debug, Clone, Copy)]
pub struct SimilarParams {
    /// Window (µs).
    pub window_us: i64,
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
}

impl SimilarParams {
    /// Parameters with bands chosen for `threshold`.
    pub fn new(window_us: i64, threshold: f64, shingle: usize, min_tokens: usize) -> SimilarParams {
        let rows = 2;
        let p = threshold.powi(rows as i32);
        let bands = if p >= 1.0 { 1 } else { ((0.001f64).ln() / (1.0 - p).ln()).ceil().clamp(1.0, 64.0) as usize };
        SimilarParams { window_us, threshold, shingle, min_tokens, bands, rows }
    }
}

/// The LSH band keys of a shingle set.
fn band_keys(set: &[u64], p: &SimilarParams) -> Vec<u64> {
    let mut keys = Vec::with_capacity(p.bands);
    for band in 0..p.bands {
        let mut key = mix(band as u64 + 1);
        for row in 0..p.rows {
            let seed = mix(((band * p.rows + row) as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let min = set.iter().map(|h| mix(h ^ seed)).min().unwrap_or(0);
            key = mix(key ^ min);
        }
        keys.push(key);
    }
    keys
}

/// A verified pair: accounts (a < b), their messages, times (t0 ≤ t1) and similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The smaller account.
    pub a: String,
    /// The larger account.
    pub b: String,
    /// a's message key.
    pub ma: String,
    /// b's message key.
    pub mb: String,
    /// The earlier time.
    pub t0: i64,
    /// The later time.
    pub t1: i64,
    /// Jaccard similarity.
    pub similarity: f64,
}

struct Doc {
    ts: i64,
    account: Arc<str>,
    msg: String,
    set: Vec<u64>,
    bands: Vec<u64>,
}

type BandIndex = HashMap<u64, VecDeque<u64>, std::hash::BuildHasherDefault<KeyHasher>>;

/// The sliding-window LSH join over documents arriving in time order.
struct Window {
    p: SimilarParams,
    docs: VecDeque<Doc>,
    first_seq: u64,
    index: BandIndex,
    pairs: Vec<Pair>,
}

impl Window {
    fn new(p: SimilarParams) -> Window {
        Window { p, docs: VecDeque::new(), first_seq: 0, index: BandIndex::default(), pairs: Vec::new() }
    }

    fn push(&mut self, doc: Doc) {
        while self.docs.front().is_some_and(|d| d.ts < doc.ts.saturating_sub(self.p.window_us)) {
            let old = self.docs.pop_front().expect("front exists");
            for key in &old.bands {
                if let Some(list) = self.index.get_mut(key) {
                    list.pop_front();
                    if list.is_empty() {
                        self.index.remove(key);
                    }
                }
            }
            self.first_seq += 1;
        }
        let mut candidates: Vec<u64> =
            doc.bands.iter().filter_map(|k| self.index.get(k)).flat_map(|l| l.iter().copied()).collect();
        candidates.sort_unstable();
        candidates.dedup();
        for seq in candidates {
            let other = &self.docs[(seq - self.first_seq) as usize];
            // Accounts are interned: one `Arc` per account.
            if Arc::ptr_eq(&other.account, &doc.account) {
                continue;
            }
            let sim = jaccard(&doc.set, &other.set);
            if sim + 1e-12 < self.p.threshold {
                continue;
            }
            let (x, y) = if other.account < doc.account { (other, &doc) } else { (&doc, other) };
            self.pairs.push(Pair {
                a: x.account.to_string(),
                b: y.account.to_string(),
                ma: x.msg.clone(),
                mb: y.msg.clone(),
                t0: other.ts.min(doc.ts),
                t1: other.ts.max(doc.ts),
                similarity: sim,
            });
        }
        let seq = self.first_seq + self.docs.len() as u64;
        for key in &doc.bands {
            // A band key repeated within one document is indexed once.
            let list = self.index.entry(*key).or_default();
            if list.back() != Some(&seq) {
                list.push_back(seq);
            }
        }
        self.docs.push_back(doc);
    }
}

/// Find the similar pairs of the messages in `ctx` and register them as table `name`
/// (kind, a, b, ma, mb, t0, t1, similarity).
pub async fn register_pairs(ctx: &SessionContext, p: &SimilarParams, name: &str) -> Result<usize> {
    let sql = format!(
        "SELECT {ACCOUNT} AS account, CAST(ts AS BIGINT) AS ts, key AS msg, text_norm FROM messages \
         WHERE {ORIGINAL} ORDER BY ts, msg"
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let mut window = Window::new(*p);
    let mut accounts: HashMap<String, Arc<str>> = HashMap::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let account = strings(&batch, "account")?;
        let ts = i64s(&batch, "ts")?;
        let msg = strings(&batch, "msg")?;
        let text = strings(&batch, "text_norm")?;
        // Texts shorter than `min_tokens` words take no part.
        let sigs: Vec<Option<(Vec<u64>, Vec<u64>)>> = (0..batch.num_rows())
            .into_par_iter()
            .map(|i| {
                let words: Vec<&str> = echolens_text::tokens(text.value(i)).collect();
                if words.len() < p.min_tokens {
                    return None;
                }
                let set = shingle_set(&words, p.shingle);
                let bands = band_keys(&set, p);
                Some((set, bands))
            })
            .collect();
        for (i, sig) in sigs.into_iter().enumerate() {
            let Some((set, bands)) = sig else { continue };
            let acc = account.value(i);
            let acc = match accounts.get(acc) {
                Some(a) => a.clone(),
                None => {
                    let a: Arc<str> = Arc::from(acc);
                    accounts.insert(acc.to_owned(), a.clone());
                    a
                }
            };
            window.push(Doc { ts: ts.value(i), account: acc, msg: msg.value(i).to_owned(), set, bands });
        }
    }
    let pairs = window.pairs;
    let n = pairs.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("a", DataType::Utf8, false),
        Field::new("b", DataType::Utf8, false),
        Field::new("ma", DataType::Utf8, false),
        Field::new("mb", DataType::Utf8, false),
        Field::new("t0", DataType::Int64, false),
        Field::new("t1", DataType::Int64, false),
        Field::new("similarity", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|_| "similar"))),
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|x| &x.a))),
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|x| &x.b))),
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|x| &x.ma))),
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|x| &x.mb))),
            Arc::new(Int64Array::from_iter_values(pairs.iter().map(|x| x.t0))),
            Arc::new(Int64Array::from_iter_values(pairs.iter().map(|x| x.t1))),
            Arc::new(Float64Array::from_iter_values(pairs.iter().map(|x| x.similarity))),
        ],
    )?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    Ok(n)
}

/// The pairs table as edge-plan rows (kind, a, b, t0, t1, ev, key_h), in edge order, for `fold_edges`.
pub fn pairs_sql(table: &str) -> String {
    format!(
        "SELECT kind, a, b, t0, t1, concat(ma, '|', mb) AS ev, hash64(concat(ma, '|', mb)) AS key_h \
         FROM {table} ORDER BY kind, a, b, t0, ev"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(ts: i64, account: &str, msg: &str, text: &str, p: &SimilarParams) -> Doc {
        let set = shingles(text, p.shingle);
        let bands = band_keys(&set, p);
        Doc { ts, account: Arc::from(account), msg: msg.into(), set, bands }
    }

    #[test]
    fn bands_make_threshold_pairs_near_certain() {
        for t in [0.5, 0.7, 0.8, 0.9, 1.0] {
            let p = SimilarParams::new(1, t, 1, 1);
            let hit = 1.0 - (1.0 - t.powi(p.rows as i32)).powi(p.bands as i32);
            assert!(hit >= 0.999, "t={t} bands={} hit={hit}", p.bands);
        }
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
        let mut w = Window::new(p);
        let base = "the quick brown fox jumps over the lazy dog again and again today";
        let edited = "the quick brown fox jumps over the lazy dog again and again tonight";
        w.push(doc(0, "x:1", "m1", base, &p));
        w.push(doc(30_000_000, "x:2", "m2", edited, &p)); // similar, in window
        w.push(doc(60_000_000, "x:3", "m3", base, &p)); // exactly at the window from m1
        w.push(doc(60_000_000, "x:1", "m4", "an entirely different message about other things", &p));
        w.push(doc(150_000_001, "x:4", "m5", base, &p)); // past every window
        let mut got: Vec<(String, String)> = w.pairs.iter().map(|x| (x.ma.clone(), x.mb.clone())).collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("m1".to_owned(), "m2".to_owned()),
                ("m1".to_owned(), "m3".to_owned()),
                ("m2".to_owned(), "m3".to_owned())
            ]
        );
        // Same account never pairs with itself.
        assert!(w.pairs.iter().all(|x| x.a != x.b));
    }
}
