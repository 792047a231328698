//! Keyness: the words and phrases that mark a target part of the corpus against a reference, by the log-odds
//! ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008) and its z-score.
//!
//! For a term w with counts y_i in the target and y_j in the reference, n_i and n_j all term counts on each
//! side, and prior α_w with α_0 = Σ α_w:
//!
//! ```text
//! δ_w  = ln((y_i + α_w) / (n_i + α_0 − y_i − α_w)) − ln((y_j + α_w) / (n_j + α_0 − y_j − α_w))
//! σ²_w = 1/(y_i + α_w) + 1/(n_i + α_0 − y_i − α_w) + 1/(y_j + α_w) + 1/(n_j + α_0 − y_j − α_w)
//! z_w  = δ_w / σ_w
//! ```
//!
//! The prior is informative: α_w = s · (y_i + y_j), the term's count in the two parts compared, times the
//! prior scale s, so α_0 = s · (n_i + n_j). With s = 1 this is scattertext's
//! `LogOddsRatioInformativeDirichletPrior` with the prior taken from all categories and `scale_type='none'`
//! (bench/keyness.sh checks that the z-scores agree), with the exact variance (the four terms) rather than the
//! paper's two-term approximation. The default s is 0.01: a prior as strong as the data itself (s = 1) halves
//! every log-odds ratio and buries a term used 30 times by the target and 4 times elsewhere below common words
//! whose rates differ by 15%; at 0.01 the prior weighs like add-one smoothing for a term used 100 times.
//!
//! Terms are tokens of `text_norm` (see `echolens_text::tokens`: a ZWNJ joins a Persian word, never splits it)
//! and, with `ngrams` above 1, phrases of consecutive tokens within a clause. One vocabulary holds every order,
//! as in scattertext, so a phrase and a word that only occurs in it score the same. Stop words are never terms,
//! and a phrase never starts or ends with one. A phrase is kept only where it beats its parts: its log-odds
//! ratio is at least that of each of its two (n−1)-word parts (it marks the target at least as strongly). Not
//! its z: a part is always at least as frequent as the phrase, so its variance is smaller and its z would
//! nearly always win. A part that never occurs outside a kept phrase is left out (the phrase says it).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use echolens_text::{Language, StopWords, phrase_tokens, tokens};
use serde::Serialize;

use super::words::Vocab;
use crate::fold::Fold;
use crate::select::Selection;
use crate::table::i64s;
use crate::{Error, Result};
use arrow::array::Array;

/// Keyness parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// Shortest and longest terms, in words (1..=3).
    pub ngrams: (usize, usize),
    /// Report terms used at least this often in target and reference together.
    pub min_count: u64,
    /// Stop-word lists applied.
    #[serde(serialize_with = "language_codes")]
    pub stopwords: Vec<Language>,
    /// The prior's weight: α_w = prior_scale · (the term's count in target and reference).
    pub prior_scale: f64,
}

fn language_codes<S: serde::Serializer>(langs: &[Language], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(langs.iter().map(|l| l.code()))
}

impl Default for Params {
    fn default() -> Params {
        Params { ngrams: (1, 3), min_count: 10, stopwords: Language::ALL.to_vec(), prior_scale: 0.01 }
    }
}

impl Params {
    fn check(&self) -> Result<()> {
        let (lo, hi) = self.ngrams;
        if lo < 1 || hi > 3 || lo > hi {
            return Err(Error::Param(format!("ngrams {lo}..{hi}: expected a range within 1..3, like 1..2")));
        }
        if !(self.prior_scale > 0.0 && self.prior_scale.is_finite()) {
            return Err(Error::Param(format!("prior scale {} must be above 0", self.prior_scale)));
        }
        if self.min_count == 0 {
            return Err(Error::Param("min count must be at least 1".into()));
        }
        Ok(())
    }
}

/// δ and z for one term: `y` its counts (target, reference), `n` all term counts, `alpha` its prior and
/// `alpha0` the prior's sum.
pub fn log_odds_z(y: [f64; 2], n: [f64; 2], alpha: f64, alpha0: f64) -> (f64, f64) {
    let (yi, yj) = (y[0] + alpha, y[1] + alpha);
    let (ri, rj) = (n[0] + alpha0 - yi, n[1] + alpha0 - yj);
    let delta = (yi / ri).ln() - (yj / rj).ln();
    let var = 1.0 / yi + 1.0 / ri + 1.0 / yj + 1.0 / rj;
    (delta, delta / var.sqrt())
}

/// One term's result.
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    /// The word or phrase (normalised tokens joined by a space).
    pub term: String,
    /// Its length in words.
    pub words: usize,
    /// Uses in the target.
    pub count_target: u64,
    /// Uses in the reference.
    pub count_reference: u64,
    /// The log-odds ratio δ (positive: marks the target).
    pub log_odds_ratio: f64,
    /// δ over its standard deviation.
    pub z: f64,
}

/// What was counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Messages in the target.
    pub messages_target: u64,
    /// Messages in the reference.
    pub messages_reference: u64,
    /// Term uses (all orders) in the target: n_i.
    pub terms_target: u64,
    /// Term uses in the reference: n_j.
    pub terms_reference: u64,
    /// Distinct words seen.
    pub distinct_words: u64,
    /// Distinct phrases counted (those whose words all reach the minimum count).
    pub distinct_phrases: u64,
    /// Terms at or above the minimum count.
    pub terms_scored: u64,
    /// Phrases left out because a part has the higher log-odds ratio.
    pub phrases_below_parts: u64,
    /// Words and phrases left out because they never occur outside a kept phrase.
    pub parts_inside_phrases: u64,
}

/// The result of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct Keyness {
    /// The parameters.
    pub params: Params,
    /// The target selection, as given.
    pub target: String,
    /// The reference selection (`rest of the corpus` by default).
    pub reference: String,
    /// Counts.
    pub counts: Counts,
    /// Terms by z, highest first.
    #[serde(skip)]
    pub terms: Vec<Term>,
}

/// Compare `target` with `reference` (the rest of the corpus when `None`) in the `messages` table of `ctx`.
pub async fn run(
    ctx: &SessionContext,
    target: &Selection,
    reference: Option<&Selection>,
    params: Params,
) -> Result<Keyness> {
    params.check()?;
    target.count(ctx, "target").await?;
    // Each message's side, from the selections as expressions: a view of the messages on either side.
    let on = |e: datafusion::prelude::Expr| datafusion::prelude::coalesce(vec![e, datafusion::prelude::lit(false)]);
    let t = on(target.expr(ctx).await?);
    let r = match reference {
        Some(r) => {
            r.count(ctx, "reference").await?;
            on(r.expr(ctx).await?)
        }
        None => datafusion::prelude::Expr::Not(Box::new(t.clone())),
    };
    let sides = ctx.table("messages").await?.filter(t.clone().or(r.clone()))?.select(vec![
        datafusion::prelude::col("text_norm"),
        t.alias("t"),
        r.alias("r"),
    ])?;
    ctx.deregister_table("keyness_sides")?;
    ctx.register_table("keyness_sides", sides.into_view())?;
    let stop = StopWords::new(&params.stopwords);
    let timings = std::env::var_os("ECHOLENS_TIMINGS").is_some();
    let started = std::time::Instant::now();
    let stage = |name: &str| {
        if timings {
            eprintln!("{:>8.2} s  keyness: {name}", started.elapsed().as_secs_f64());
        }
    };

    // Pass 1: every word, on each side: a fold per partition, merged (on a cluster's executors).
    ctx.register_udaf(words_udaf());
    let bytes = crate::fold::run(ctx, "SELECT keyness_words(text_norm, t, r) AS fold FROM keyness_sides").await?;
    let mut all = WordFold::default();
    all.merge(&bytes)?;
    drop(bytes);
    let WordFold { vocab, messages } = all;
    let mut counts = Counts { messages_target: messages[0], messages_reference: messages[1], ..Counts::default() };
    if counts.messages_reference == 0 {
        return Err(Error::Empty {
            role: "reference".to_owned(),
            selection: reference.map_or("the rest of the corpus".to_owned(), ToString::to_string),
        });
    }
    counts.distinct_words = vocab.len() as u64;
    stage("words counted");
    let is_stop: Vec<bool> = vocab.words().iter().map(|w| stop.contains(w)).collect();
    // Words at the minimum count get dense ids, their places in `words`: every scored term is made of them
    // (Apriori: a phrase is never more frequent than its words), and three of them pack into one 64-bit key.
    let words: Vec<u32> = (0..vocab.len() as u32)
        .filter(|&id| vocab.counts[id as usize].iter().sum::<u64>() >= params.min_count)
        .collect();
    if words.len() >= MAX_DENSE as usize {
        return Err(Error::Param(format!(
            "{} distinct words reach the minimum count {}: too many to pack phrases; raise --min-count",
            words.len(),
            params.min_count
        )));
    }
    let (lo, hi) = params.ngrams;
    let mut totals = [0u64; 2];
    if lo == 1 {
        for (id, c) in vocab.counts.iter().enumerate() {
            if !is_stop[id] {
                totals[0] += c[0];
                totals[1] += c[1];
            }
        }
    }
    // Two- and three-word phrases, as a plan: the phrases function turns each text into its phrases whose
    // words all reach the minimum count (their packed ids) and the number of its windows that neither start nor
    // end with a stop word (negated: the totals count every such window); the engine groups the phrases by
    // key, spilling through its pool, and a second grouping keeps the phrases at the minimum count and counts
    // the others in one row. Only what is scored reaches the client.
    let mut phrases: Phrases = HashMap::default();
    if hi >= 2 {
        let frequent: Vec<String> = words.iter().map(|&id| vocab.words()[id as usize].clone()).collect();
        ctx.register_udf(phrases_udf(Arc::new(PhraseWords::new(frequent, &params.stopwords, (lo.max(2), hi)))));
        let min = params.min_count;
        let sql = format!(
            "SELECT kept AS k, sum(ct) AS ct, sum(cr) AS cr, count(*) AS n \
             FROM (SELECT CASE WHEN k < 0 OR ct + cr >= {min} THEN k END AS kept, ct, cr \
             FROM (SELECT k, sum(in_t) AS ct, sum(in_r) AS cr \
             FROM (SELECT unnest(keyness_phrases(text_norm)) AS k, CAST(t AS BIGINT) AS in_t, \
             CAST(r AS BIGINT) AS in_r \
             FROM keyness_sides) GROUP BY k)) GROUP BY kept"
        );
        crate::table::explain(ctx, &sql).await?;
        let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
        while let Some(batch) = futures::StreamExt::next(&mut stream).await {
            let batch = batch?;
            let (k, ct, cr, n) = (i64s(&batch, "k")?, i64s(&batch, "ct")?, i64s(&batch, "cr")?, i64s(&batch, "n")?);
            for i in 0..batch.num_rows() {
                let c = [ct.value(i) as u64, cr.value(i) as u64];
                if k.is_null(i) {
                    counts.distinct_phrases += n.value(i) as u64;
                } else if k.value(i) < 0 {
                    let windows = k.value(i).unsigned_abs();
                    totals[0] += windows * c[0];
                    totals[1] += windows * c[1];
                } else {
                    counts.distinct_phrases += 1;
                    phrases.insert(k.value(i) as u64, c);
                }
            }
        }
        stage("phrases counted");
    }
    counts.terms_target = totals[0];
    counts.terms_reference = totals[1];
    let terms = score(&vocab, &words, &is_stop, phrases, &params, totals, &mut counts);
    stage("scored");
    Ok(Keyness {
        params,
        target: target.to_string(),
        reference: reference.map_or_else(|| "the rest of the corpus".to_owned(), ToString::to_string),
        counts,
        terms,
    })
}

/// Word ids below the minimum count.
const NOT_FREQUENT: u32 = u32::MAX;
/// Dense word ids are stored + 1 in 21 bits: three to a 64-bit key.
const MAX_DENSE: u32 = (1 << 21) - 1;

/// A phrase of dense word ids as one key: word `k` in bits `21k..21k+21` as `id + 1`, so a phrase and its
/// prefix never share a key.
fn pack_dense(ids: impl Iterator<Item = u32>) -> u64 {
    ids.enumerate().fold(0u64, |key, (k, id)| key | (u64::from(id) + 1) << (21 * k))
}

fn unpack_dense(key: u64) -> impl Iterator<Item = u32> {
    (0..3).map(move |k| ((key >> (21 * k)) & u64::from(MAX_DENSE)) as u32).take_while(|&w| w != 0).map(|w| w - 1)
}

/// The phrases at the minimum count: packed key → (uses in the target, uses in the reference).
type Phrases = HashMap<u64, [u64; 2], BuildHasherDefault<MixHasher>>;

/// What the phrases function knows: the words at the minimum count (their dense ids), the stop words and the
/// orders counted. Made from its parameter on a cluster's executors.
struct PhraseWords {
    dense: crate::lists::Interner,
    stop: StopWords,
    orders: (usize, usize),
    param: String,
}

#[derive(Serialize, serde::Deserialize)]
struct PhraseParam {
    words: Vec<String>,
    stopwords: Vec<String>,
    orders: (usize, usize),
}

impl PhraseWords {
    fn new(words: Vec<String>, stopwords: &[Language], orders: (usize, usize)) -> PhraseWords {
        let stopwords_codes = stopwords.iter().map(|l| l.code().to_owned()).collect();
        let param = PhraseParam { words, stopwords: stopwords_codes, orders };
        let json = serde_json::to_string(&param).expect("strings serialise");
        let mut dense = crate::lists::Interner::default();
        for w in &param.words {
            dense.get(w);
        }
        PhraseWords { dense, stop: StopWords::new(stopwords), orders, param: json }
    }

    fn from_param(param: &str) -> Result<PhraseWords> {
        let p: PhraseParam = serde_json::from_str(param)
            .map_err(|e| Error::Param(format!("keyness words sent with a plan do not read: {e}")))?;
        let mut langs = Vec::new();
        for code in &p.stopwords {
            langs.push(Language::from_name(code).ok_or_else(|| Error::Param(format!("no stop words for {code:?}")))?);
        }
        let (lo, hi) = p.orders;
        if lo < 2 || hi > 3 || lo > hi || p.words.len() >= MAX_DENSE as usize {
            return Err(Error::Param(format!(
                "keyness phrases sent with a plan: orders {lo}..{hi}, {} words",
                p.words.len()
            )));
        }
        Ok(PhraseWords::new(p.words, &langs, p.orders))
    }

    /// The phrases of `text` (packed keys, each use once) into `out`, then its windows that neither start nor
    /// end with a stop word, negated, if there are any.
    fn phrases(&self, text: &str, run: &mut Vec<(u32, bool)>, out: &mut arrow::array::Int64Builder) {
        let mut windows = 0i64;
        let mut flush = |run: &[(u32, bool)]| {
            for n in self.orders.0..=self.orders.1 {
                for w in run.windows(n) {
                    if w[0].1 || w[n - 1].1 {
                        continue;
                    }
                    windows += 1;
                    if w.iter().all(|x| x.0 != NOT_FREQUENT) {
                        out.append_value(pack_dense(w.iter().map(|x| x.0)) as i64);
                    }
                }
            }
        };
        run.clear();
        phrase_tokens(text, |w, new| {
            if new {
                flush(run);
                run.clear();
            }
            run.push((self.dense.find(w).unwrap_or(NOT_FREQUENT), self.stop.contains(w)));
        });
        flush(run);
        if windows > 0 {
            out.append_value(-windows);
        }
    }
}

/// `keyness_phrases(text_norm)`: a text's phrases ([`PhraseWords::phrases`]) as a list of 64-bit integers.
fn phrases_udf(words: Arc<PhraseWords>) -> datafusion::logical_expr::ScalarUDF {
    let param = words.param.clone();
    crate::udf::text_list_udf::<arrow::datatypes::Int64Type, Vec<(u32, bool)>, _>(
        "keyness_phrases",
        param,
        move |text, run, out| words.phrases(text, run, out),
    )
}

/// The phrases function made again from its parameter.
pub(crate) fn rebuild_phrases_udf(param: &str) -> Result<datafusion::logical_expr::ScalarUDF> {
    Ok(phrases_udf(Arc::new(PhraseWords::from_param(param)?)))
}

/// Pass 1 of one partition: every word's uses on each side, and the messages on each side.
#[derive(Debug, Default)]
struct WordFold {
    vocab: Vocab,
    messages: [u64; 2],
}

impl crate::fold::Fold for WordFold {
    fn update(&mut self, args: &[arrow::array::ArrayRef]) -> Result<()> {
        let text = crate::table::Strs::of(&args[0])?;
        let side = |a: &arrow::array::ArrayRef| {
            a.as_any()
                .downcast_ref::<arrow::array::BooleanArray>()
                .cloned()
                .ok_or_else(|| Error::Internal("keyness_words: a side that is not boolean".into()))
        };
        let (t, r) = (side(&args[1])?, side(&args[2])?);
        for i in 0..text.len() {
            let side = [t.is_valid(i) && t.value(i), r.is_valid(i) && r.value(i)];
            self.messages[0] += u64::from(side[0]);
            self.messages[1] += u64::from(side[1]);
            if text.is_valid(i) {
                for w in tokens(text.value(i)) {
                    self.vocab.add(w, side);
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let mut b = crate::fold::Bytes::new(bytes);
        self.messages[0] += b.u64()?;
        self.messages[1] += b.u64()?;
        while !b.is_empty() {
            let word = b.str()?;
            let counts = [b.u64()?, b.u64()?];
            self.vocab.add_counts(word, counts);
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        use crate::fold::{put_str, put_u64};
        put_u64(out, self.messages[0]);
        put_u64(out, self.messages[1]);
        for (word, c) in self.vocab.words().iter().zip(&self.vocab.counts) {
            put_str(out, word);
            put_u64(out, c[0]);
            put_u64(out, c[1]);
        }
    }
}

/// `keyness_words(text_norm, target, reference)`: pass 1 as an aggregate ([`WordFold`]'s bytes).
pub(crate) fn words_udaf() -> datafusion::logical_expr::AggregateUDF {
    use arrow::datatypes::DataType::{Boolean, Utf8, Utf8View};
    use datafusion::logical_expr::{Signature, TypeSignature, Volatility};
    let exact = |text| TypeSignature::Exact(vec![text, Boolean, Boolean]);
    let signature = Signature::one_of(vec![exact(Utf8View), exact(Utf8)], Volatility::Immutable);
    crate::fold::udaf("keyness_words", "{}".to_owned(), signature, || Box::new(WordFold::default()))
}

/// A hasher for packed keys (not uniform): splitmix's finaliser.
#[derive(Default, Clone, Copy)]
struct MixHasher(u64);

impl std::hash::Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = crate::minhash::mix(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = crate::minhash::mix(n);
    }
}

/// z for every term at the minimum count; phrases that do not beat their parts and parts that never occur
/// outside a kept phrase left out.
fn score(
    vocab: &Vocab,
    words: &[u32],
    is_stop: &[bool],
    phrases: Phrases,
    p: &Params,
    totals: [u64; 2],
    counts: &mut Counts,
) -> Vec<Term> {
    let n = [totals[0] as f64, totals[1] as f64];
    let alpha0 = p.prior_scale * (n[0] + n[1]);
    // Every scored term: key → (counts, δ, z).
    let mut scored: HashMap<u64, ([u64; 2], f64, f64), BuildHasherDefault<MixHasher>> = HashMap::default();
    let mut add = |key: u64, c: [u64; 2]| {
        if c[0] + c[1] < p.min_count {
            return;
        }
        let y = [c[0] as f64, c[1] as f64];
        let (delta, z) = log_odds_z(y, n, p.prior_scale * (y[0] + y[1]), alpha0);
        scored.insert(key, (c, delta, z));
    };
    if p.ngrams.0 == 1 {
        for (d, &id) in words.iter().enumerate() {
            if !is_stop[id as usize] {
                add(pack_dense(std::iter::once(d as u32)), vocab.counts[id as usize]);
            }
        }
    }
    for (key, c) in phrases {
        add(key, c);
    }
    counts.terms_scored = scored.len() as u64;

    // Phrases against their parts. A part that is not scored (a stop word at its edge, too rare, or shorter
    // than the shortest order asked for) is beaten.
    let ids = |key: u64| unpack_dense(key).collect::<Vec<u32>>();
    let mut below = HashSet::new();
    let mut inside = HashSet::new();
    for (&key, &(c, delta, _)) in &scored {
        let w = ids(key);
        if w.len() < 2 {
            continue;
        }
        let parts = [pack_dense(w[..w.len() - 1].iter().copied()), pack_dense(w[1..].iter().copied())];
        if parts.iter().any(|part| scored.get(part).is_some_and(|s| s.1 > delta)) {
            below.insert(key);
            continue;
        }
        for part in parts {
            if scored.get(&part).is_some_and(|s| s.0 == c) {
                inside.insert(part);
            }
        }
    }
    counts.phrases_below_parts = below.len() as u64;
    counts.parts_inside_phrases = inside.difference(&below).count() as u64;
    let mut terms: Vec<Term> = scored
        .into_iter()
        .filter(|(key, _)| !below.contains(key) && !inside.contains(key))
        .map(|(key, (c, delta, z))| {
            let w = ids(key);
            let text: Vec<&str> = w.iter().map(|&d| vocab.words()[words[d as usize] as usize].as_str()).collect();
            Term {
                term: text.join(" "),
                words: w.len(),
                count_target: c[0],
                count_reference: c[1],
                log_odds_ratio: delta,
                z,
            }
        })
        .collect();
    terms.sort_by(|a, b| {
        b.z.total_cmp(&a.z)
            .then((b.count_target + b.count_reference).cmp(&(a.count_target + a.count_reference)))
            .then_with(|| a.term.cmp(&b.term))
    });
    terms
}

impl Keyness {
    /// The table `terms` (term, z, count_target, count_reference, log_odds_ratio, words); z and the log-odds
    /// ratio at full precision (in CSV the shortest text that reads back as the same number), so a z can be
    /// checked against another implementation to the last bit.
    pub fn tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Col::*;
        use crate::{Cell, Rows};
        let mut rows = Rows::new(
            "terms",
            crate::table_schema(&[
                ("term", Text),
                ("z", Float),
                ("count_target", Int),
                ("count_reference", Int),
                ("log_odds_ratio", Float),
                ("words", Int),
            ]),
        );
        for t in &self.terms {
            rows.push([
                Cell::from(&t.term),
                t.z.into(),
                t.count_target.into(),
                t.count_reference.into(),
                t.log_odds_ratio.into(),
                t.words.into(),
            ]);
        }
        Ok(vec![rows.finish()?])
    }

    /// The summary (`summary.json` without the run): the result, the method, the 20 terms at each end.
    pub fn summary(&self) -> serde_json::Value {
        let mut summary = serde_json::to_value(self).expect("keyness serialises");
        summary["method"] = serde_json::json!(
            "log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008): \
             prior = prior_scale × the term's count in target and reference; exact variance; z = δ/σ"
        );
        summary["top_target"] = serde_json::to_value(self.terms.iter().take(20).collect::<Vec<_>>()).expect("terms");
        summary["top_reference"] =
            serde_json::to_value(self.terms.iter().rev().take(20).collect::<Vec<_>>()).expect("terms");
        summary
    }
}

/// Write the table of `k` ([`Keyness::tables`]) as `format` and `summary.json` into `out`.
pub fn write_outputs(
    k: &Keyness,
    out: &std::path::Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
    let written = crate::write_tables(&k.tables()?, out, format)?;
    crate::table::write_summary(out, written, k.summary(), extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_text_gives_its_frequent_phrases_and_its_windows_and_so_does_the_function_sent_with_a_plan() {
        let words = ["kestrine", "accord", "signed"].map(str::to_owned).to_vec();
        let made = PhraseWords::new(words, &[Language::English], (2, 3));
        let again = PhraseWords::from_param(&made.param).unwrap();
        // "the" is a stop word and "rare" is below the minimum count; "." ends a clause.
        let text = "the kestrine accord signed rare accord. kestrine accord";
        let phrases = |w: &PhraseWords| {
            let mut out = arrow::array::Int64Builder::new();
            w.phrases(text, &mut Vec::new(), &mut out);
            out.finish().values().to_vec()
        };
        let (k, a, s) = (0, 1, 2);
        let mut expected = vec![
            pack_dense([k, a].into_iter()),
            pack_dense([a, s].into_iter()),
            pack_dense([k, a, s].into_iter()),
            pack_dense([k, a].into_iter()),
        ]
        .into_iter()
        .map(|key| key as i64)
        .collect::<Vec<_>>();
        // Windows without a stop word at either end: kestrine accord, accord signed, signed rare, rare accord,
        // and the three triples after "the"; then kestrine accord again.
        expected.push(-8);
        let mut got = phrases(&made);
        got.sort_unstable();
        expected.sort_unstable();
        assert_eq!(got, expected);
        let mut rebuilt = phrases(&again);
        rebuilt.sort_unstable();
        assert_eq!(rebuilt, expected);
        assert!(PhraseWords::from_param("{}").is_err());
        assert!(rebuild_phrases_udf(&made.param).is_ok());
    }

    fn fold(texts: &[(String, bool)]) -> WordFold {
        let text: arrow::array::ArrayRef =
            Arc::new(arrow::array::StringArray::from_iter_values(texts.iter().map(|t| &t.0)));
        let t: arrow::array::ArrayRef =
            Arc::new(arrow::array::BooleanArray::from_iter(texts.iter().map(|x| Some(x.1))));
        let r: arrow::array::ArrayRef =
            Arc::new(arrow::array::BooleanArray::from_iter(texts.iter().map(|x| Some(!x.1))));
        let mut f = WordFold::default();
        f.update(&[text, t, r]).unwrap();
        f
    }

    fn counted(f: &WordFold) -> (BTreeMap<&str, [u64; 2]>, [u64; 2]) {
        (f.vocab.words().iter().map(String::as_str).zip(f.vocab.counts.iter().copied()).collect(), f.messages)
    }

    proptest::proptest! {
        #[test]
        fn folds_written_and_merged_count_what_one_fold_counts(
            texts in proptest::collection::vec(("(ab|cd|ef|سلام|мир| ){0,12}", proptest::bool::ANY), 0..40),
            cuts in proptest::collection::vec(0usize..40, 0..4),
        ) {
            let whole = fold(&texts);
            let mut at: Vec<usize> = cuts.into_iter().map(|c| c.min(texts.len())).collect();
            at.push(0);
            at.push(texts.len());
            at.sort_unstable();
            let mut merged = WordFold::default();
            for w in at.windows(2) {
                let mut bytes = Vec::new();
                fold(&texts[w[0]..w[1]]).write(&mut bytes);
                merged.merge(&bytes).unwrap();
            }
            proptest::prop_assert_eq!(counted(&merged), counted(&whole));
        }
    }

    #[test]
    fn bytes_that_end_early_are_an_error() {
        let mut bytes = Vec::new();
        fold(&[("ab cd".to_owned(), true)]).write(&mut bytes);
        let mut f = WordFold::default();
        assert!(f.merge(&bytes[..bytes.len() - 3]).is_err());
    }
}
