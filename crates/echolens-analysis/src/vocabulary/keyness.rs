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
//! as in scattertext, so a phrase and a word that only occurs in it have the same z. Stop words are never terms,
//! and a phrase never starts or ends with one. A phrase is kept only where it beats its parts (its z is at
//! least that of each of its two (n−1)-word parts), and a part that never occurs outside a kept phrase is left
//! out (the phrase says it).

use arrow::array::Array;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use echolens_text::{Language, StopWords, phrase_tokens, tokens};
use serde::Serialize;

use super::per_partition;
use super::words::{NgramCounts, PackHasher, Vocab, merge_counts, merge_vocabs, pack, unpack};
use crate::select::Selection;
use crate::table::strings;
use crate::{Error, Result};

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
    /// Phrases left out because a part scores higher.
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
    let t_sql = format!("coalesce({}, false)", target.sql());
    let r_sql = match reference {
        Some(r) => {
            r.count(ctx, "reference").await?;
            format!("coalesce({}, false)", r.sql())
        }
        None => format!("NOT {t_sql}"),
    };
    let sql = format!("SELECT text_norm, {t_sql} AS t, {r_sql} AS r FROM messages WHERE ({t_sql}) OR ({r_sql})",);
    let stop = Arc::new(StopWords::new(&params.stopwords));
    let timings = std::env::var_os("ECHOLENS_TIMINGS").is_some();
    let started = std::time::Instant::now();
    let stage = |name: &str| {
        if timings {
            eprintln!("{:>8.2} s  keyness: {name}", started.elapsed().as_secs_f64());
        }
    };

    // Pass 1: every word, on each side.
    let parts = per_partition(
        ctx,
        &sql,
        || (Vocab::default(), [0u64; 2]),
        |(vocab, messages), batch| {
            let text = strings(batch, "text_norm")?;
            let (t, r) = (bools(batch, "t"), bools(batch, "r"));
            for i in 0..batch.num_rows() {
                let side = [t.value(i), r.value(i)];
                messages[0] += u64::from(side[0]);
                messages[1] += u64::from(side[1]);
                if text.is_valid(i) {
                    for w in tokens(text.value(i)) {
                        vocab.add(w, side);
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    let mut counts = Counts::default();
    let mut vocabs = Vec::new();
    for (v, m) in parts {
        counts.messages_target += m[0];
        counts.messages_reference += m[1];
        vocabs.push(v);
    }
    if counts.messages_reference == 0 {
        return Err(Error::Param(format!(
            "the reference ({}) holds no message",
            reference.map_or("the rest of the corpus".to_owned(), ToString::to_string)
        )));
    }
    let vocab = Arc::new(merge_vocabs(vocabs));
    counts.distinct_words = vocab.len() as u64;
    stage("words counted");
    let is_stop: Arc<Vec<bool>> = Arc::new(vocab.words.iter().map(|w| stop.contains(w)).collect());
    let frequent: Arc<Vec<bool>> = Arc::new(vocab.counts.iter().map(|c| c[0] + c[1] >= params.min_count).collect());

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
    // Passes 2 and 3: phrases whose words (and, for three words, both two-word parts) reach the minimum count;
    // every eligible window counts toward the totals.
    let mut phrases: Vec<NgramCounts> = Vec::new();
    let mut frequent_pairs: Arc<HashSet<u128, BuildHasherDefault<PackHasher>>> = Arc::default();
    for n in 2..=hi {
        let (vocab, is_stop, frequent, pairs) =
            (Arc::clone(&vocab), Arc::clone(&is_stop), Arc::clone(&frequent), Arc::clone(&frequent_pairs));
        let parts = per_partition(
            ctx,
            &sql,
            || (NgramCounts::default(), [0u64; 2], Vec::<u32>::new()),
            move |(table, windows, run), batch| {
                let text = strings(batch, "text_norm")?;
                let (t, r) = (bools(batch, "t"), bools(batch, "r"));
                for i in 0..batch.num_rows() {
                    if !text.is_valid(i) {
                        continue;
                    }
                    let side = [t.value(i), r.value(i)];
                    run.clear();
                    let mut count_run = |run: &[u32]| {
                        for w in run.windows(n) {
                            if is_stop[w[0] as usize] || is_stop[w[n - 1] as usize] {
                                continue;
                            }
                            windows[0] += u64::from(side[0]);
                            windows[1] += u64::from(side[1]);
                            if !w.iter().all(|&id| frequent[id as usize]) {
                                continue;
                            }
                            if n == 3 && !(pairs.contains(&pack(&w[..2])) && pairs.contains(&pack(&w[1..]))) {
                                continue;
                            }
                            let e = table.entry(pack(w)).or_insert([0, 0]);
                            e[0] += u64::from(side[0]);
                            e[1] += u64::from(side[1]);
                        }
                    };
                    phrase_tokens(text.value(i), |w, new| {
                        if new {
                            count_run(run);
                            run.clear();
                        }
                        // A word the first pass did not see (the store cannot change between passes; this is
                        // only defensive) ends the phrase.
                        match vocab.get(w) {
                            Some(id) => run.push(id),
                            None => {
                                count_run(run);
                                run.clear();
                            }
                        }
                    });
                    count_run(run);
                }
                Ok(())
            },
        )
        .await?;
        let mut tables = Vec::new();
        for (table, windows, _) in parts {
            if n >= lo {
                totals[0] += windows[0];
                totals[1] += windows[1];
            }
            tables.push(table);
        }
        let merged = merge_counts(tables);
        if n == 2 && hi == 3 {
            frequent_pairs =
                Arc::new(merged.iter().filter(|(_, c)| c[0] + c[1] >= params.min_count).map(|(&k, _)| k).collect());
        }
        counts.distinct_phrases += merged.len() as u64;
        phrases.push(merged);
        stage(&format!("{n}-word phrases counted"));
    }
    counts.terms_target = totals[0];
    counts.terms_reference = totals[1];

    let terms = score(&vocab, &is_stop, &phrases, &params, totals, &mut counts);
    stage("scored");
    Ok(Keyness {
        params,
        target: target.to_string(),
        reference: reference.map_or_else(|| "the rest of the corpus".to_owned(), ToString::to_string),
        counts,
        terms,
    })
}

fn bools(batch: &arrow::record_batch::RecordBatch, name: &str) -> arrow::array::BooleanArray {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    col.as_any().downcast_ref::<arrow::array::BooleanArray>().expect("a boolean column").clone()
}

/// z for every term at the minimum count; phrases that do not beat their parts and parts that never occur
/// outside a kept phrase left out.
fn score(
    vocab: &Vocab,
    is_stop: &[bool],
    phrases: &[NgramCounts],
    p: &Params,
    totals: [u64; 2],
    counts: &mut Counts,
) -> Vec<Term> {
    let n = [totals[0] as f64, totals[1] as f64];
    let alpha0 = p.prior_scale * (n[0] + n[1]);
    // Every scored term: key → (counts, δ, z).
    let mut scored: HashMap<u128, ([u64; 2], f64, f64), BuildHasherDefault<PackHasher>> = HashMap::default();
    let mut add = |key: u128, c: [u64; 2]| {
        if c[0] + c[1] < p.min_count {
            return;
        }
        let y = [c[0] as f64, c[1] as f64];
        let (delta, z) = log_odds_z(y, n, p.prior_scale * (y[0] + y[1]), alpha0);
        scored.insert(key, (c, delta, z));
    };
    if p.ngrams.0 == 1 {
        for (id, &c) in vocab.counts.iter().enumerate() {
            if !is_stop[id] {
                add(pack(&[id as u32]), c);
            }
        }
    }
    for table in phrases {
        for (&key, &c) in table {
            add(key, c);
        }
    }
    counts.terms_scored = scored.len() as u64;

    // Phrases against their parts. A part that is not scored (a stop word at its edge, too rare, or shorter
    // than the shortest order asked for) is beaten.
    let ids = |key: u128| unpack(key).collect::<Vec<u32>>();
    let mut dropped: HashSet<u128> = HashSet::new();
    for (&key, &(c, _, z)) in &scored {
        let w = ids(key);
        if w.len() < 2 {
            continue;
        }
        let parts = [pack(&w[..w.len() - 1]), pack(&w[1..])];
        if parts.iter().any(|part| scored.get(part).is_some_and(|s| s.2 > z)) {
            dropped.insert(key);
            counts.phrases_below_parts += 1;
            continue;
        }
        for part in parts {
            if scored.get(&part).is_some_and(|s| s.0 == c) {
                dropped.insert(part);
            }
        }
    }
    counts.parts_inside_phrases = dropped.len() as u64 - counts.phrases_below_parts;
    let mut terms: Vec<Term> = scored
        .into_iter()
        .filter(|(key, _)| !dropped.contains(key))
        .map(|(key, (c, delta, z))| {
            let w = ids(key);
            let text: Vec<&str> = w.iter().map(|&id| &*vocab.words[id as usize]).collect();
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

/// Write `terms.csv` (term, z, count_target, count_reference, log_odds_ratio, words) and `summary.json` into
/// `out`; returns the files written.
pub fn write_outputs(k: &Keyness, out: &std::path::Path, extra: serde_json::Value) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
    let path = out.join("terms.csv");
    let mut w = crate::table::csv_writer(&path)?;
    let csv_err = |source| Error::Csv { path: path.clone(), source };
    w.write_record(["term", "z", "count_target", "count_reference", "log_odds_ratio", "words"]).map_err(csv_err)?;
    for t in &k.terms {
        w.write_record([
            t.term.as_str(),
            &format!("{:.6}", t.z),
            &t.count_target.to_string(),
            &t.count_reference.to_string(),
            &format!("{:.6}", t.log_odds_ratio),
            &t.words.to_string(),
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(|source| Error::Io { path: path.clone(), source })?;
    let summary_path = out.join("summary.json");
    let mut summary = serde_json::to_value(k).expect("keyness serialises");
    summary["method"] = serde_json::json!(
        "log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008): \
         prior = prior_scale × the term's count in target and reference; exact variance; z = δ/σ"
    );
    summary["top_target"] = serde_json::to_value(k.terms.iter().take(20).collect::<Vec<_>>()).expect("terms");
    summary["top_reference"] = serde_json::to_value(k.terms.iter().rev().take(20).collect::<Vec<_>>()).expect("terms");
    if let (Some(obj), serde_json::Value::Object(extra)) = (summary.as_object_mut(), extra) {
        obj.extend(extra);
    }
    let text = serde_json::to_string_pretty(&summary).expect("json");
    std::fs::write(&summary_path, text).map_err(|source| Error::Io { path: summary_path.clone(), source })?;
    Ok(vec![path, summary_path])
}
