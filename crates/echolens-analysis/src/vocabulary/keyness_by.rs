//! Keyness across many groups at once (`keyness --by channel|week|platform`): each group's words against the
//! rest of the corpus, in one pass, as one long table.
//!
//! One pass counts every (group, word) pair, per partition; the partitions' counts are merged, and each group's
//! words are scored against the rest with the same log-odds ratio and informative Dirichlet prior as
//! [`super::keyness`] (y_i the word's count in the group, y_j elsewhere, n_i and n_j all word counts in the group
//! and elsewhere, α_w = s · (y_i + y_j)). Words only: phrases would multiply the pairs counted by the number of
//! groups. Stop words are never terms. The `top` highest z of each group are kept.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use echolens_text::{StopWords, tokens};
use serde::Serialize;

use super::keyness::{Params, log_odds_z};
use crate::fold::Fold;
use crate::select::Selection;
use crate::{Error, Result};

/// What a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// A channel (`platform:name`, or `platform:id` without a name).
    Channel,
    /// A week (ISO, from Monday), as its first day, in the time zone given.
    Week,
    /// A platform.
    Platform,
}

impl By {
    /// The name on the command line.
    pub fn from_name(name: &str) -> Option<By> {
        match name {
            "channel" => Some(By::Channel),
            "week" => Some(By::Week),
            "platform" => Some(By::Platform),
            _ => None,
        }
    }
}

/// One group's term.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTerm {
    /// The group.
    pub group: String,
    /// Rank within the group, from 1.
    pub rank: usize,
    /// The word.
    pub term: String,
    /// δ over its standard deviation.
    pub z: f64,
    /// Uses in the group.
    pub count_group: u64,
    /// Uses elsewhere.
    pub count_rest: u64,
    /// The log-odds ratio δ.
    pub log_odds_ratio: f64,
}

/// The result of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct KeynessBy {
    /// What a group is.
    pub by: By,
    /// The parameters (`ngrams` is 1..1).
    pub params: Params,
    /// Terms kept per group.
    pub top: usize,
    /// Groups.
    pub groups: usize,
    /// Word uses counted.
    pub words: u64,
    /// Terms, group by group (in name order), highest z first.
    #[serde(skip)]
    pub terms: Vec<GroupTerm>,
}

/// Score every group of `selection` by `by` against the rest of it.
pub async fn run(
    ctx: &SessionContext,
    selection: &Selection,
    by: By,
    zone: &str,
    params: Params,
    top: usize,
) -> Result<KeynessBy> {
    if !selection.is_empty() {
        selection.count(ctx, "corpus").await?;
    }
    let group = match by {
        By::Channel => crate::sql::CHANNEL.to_owned(),
        By::Platform => "platform".to_owned(),
        By::Week => {
            let day = if zone == "UTC" {
                "CAST(ts AS BIGINT) / 86400000000".to_owned()
            } else {
                ctx.register_udf(crate::zone::local_day_udf(crate::zone::parse(zone)?));
                "local_day(CAST(ts AS BIGINT))".to_owned()
            };
            // The Monday of the day's week (1970-01-01 was a Thursday).
            format!("CAST(({day}) - (({day}) + 3) % 7 AS VARCHAR)")
        }
    };
    selection.register(ctx, "keyness_by_selected").await?;
    // A fold per partition (on a cluster's executors): its groups and words by first sight and the (group,
    // word hash) counts; merged by name and hash.
    ctx.register_udaf(by_words_udaf(&params.stopwords));
    let sql = format!(
        "SELECT keyness_by_words(g, text_norm) AS fold FROM \
         (SELECT {group} AS g, text_norm FROM keyness_by_selected)"
    );
    let bytes = crate::fold::run(ctx, &sql).await?;
    let mut all = ByFold::new(&params.stopwords);
    all.merge(&bytes)?;
    drop(bytes);
    let ByFold { groups, words, counts, .. } = all;
    let names = groups.names;
    if names.len() < 2 {
        return Err(Error::Param(format!(
            "keyness by {}: the selection holds {} group(s); at least two are needed to compare",
            serde_json::to_value(by).unwrap_or_default().as_str().unwrap_or(""),
            names.len()
        )));
    }
    let mut per_word: HashMap<u64, u64> = HashMap::new();
    let mut per_group = vec![0u64; names.len()];
    for (&(g, w), &n) in &counts {
        *per_word.entry(w).or_default() += n;
        per_group[g as usize] += n;
    }
    let total: u64 = per_group.iter().sum();
    let mut by_group: Vec<Vec<GroupTerm>> = vec![Vec::new(); names.len()];
    let s = params.prior_scale;
    for (&(g, w), &n) in &counts {
        let all = per_word[&w];
        if all < params.min_count {
            continue;
        }
        let y = [n as f64, (all - n) as f64];
        let ng = per_group[g as usize] as f64;
        let (delta, z) = log_odds_z(y, [ng, total as f64 - ng], s * all as f64, s * total as f64);
        by_group[g as usize].push(GroupTerm {
            group: String::new(),
            rank: 0,
            term: words[&w].clone(),
            z,
            count_group: n,
            count_rest: all - n,
            log_odds_ratio: delta,
        });
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| names[a].cmp(&names[b]));
    let mut terms = Vec::new();
    for g in order {
        let mut group = std::mem::take(&mut by_group[g]);
        group.sort_by(|x, y| y.z.total_cmp(&x.z).then_with(|| x.term.cmp(&y.term)));
        group.truncate(top);
        for (rank, mut t) in group.into_iter().enumerate() {
            t.group = match by {
                By::Week => names[g].parse::<i64>().map_or_else(|_| names[g].clone(), super::day_string),
                _ => names[g].clone(),
            };
            t.rank = rank + 1;
            terms.push(t);
        }
    }
    Ok(KeynessBy { by, params: Params { ngrams: (1, 1), ..params }, top, groups: names.len(), words: total, terms })
}

impl KeynessBy {
    /// The table `terms_by`: each group's top terms (group, rank, term, z, count_group, count_rest,
    /// log_odds_ratio).
    pub fn tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Col::*;
        use crate::{Cell, Rows};
        let mut rows = Rows::new(
            "terms_by",
            crate::table_schema(&[
                ("group", Text),
                ("rank", Int),
                ("term", Text),
                ("z", Fixed(4)),
                ("count_group", Int),
                ("count_rest", Int),
                ("log_odds_ratio", Fixed(6)),
            ]),
        );
        for t in &self.terms {
            rows.push([
                Cell::from(&t.group),
                t.rank.into(),
                Cell::from(&t.term),
                t.z.into(),
                t.count_group.into(),
                t.count_rest.into(),
                t.log_odds_ratio.into(),
            ]);
        }
        Ok(vec![rows.finish()?])
    }

    /// The summary (`summary.json` without the run).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({"analysis": "keyness by group", "result": self})
    }
}

/// Write the table of `k` ([`KeynessBy::tables`]) as `format` and `summary.json` into `out`.
pub fn write_outputs(
    k: &KeynessBy,
    out: &std::path::Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
    let written = crate::write_tables(&k.tables()?, out, format)?;
    crate::table::write_summary(out, written, k.summary(), extra)
}

/// The (group, word) counts of one partition, or of all merged: groups and words by first sight.
#[derive(Debug)]
struct ByFold {
    stop: StopWords,
    /// The groups, numbered by first sight.
    groups: crate::lists::Interner,
    words: HashMap<u64, String>,
    counts: HashMap<(u32, u64), u64>,
}

impl ByFold {
    fn new(stopwords: &[echolens_text::Language]) -> ByFold {
        ByFold {
            stop: StopWords::new(stopwords),
            groups: crate::lists::Interner::default(),
            words: HashMap::new(),
            counts: HashMap::new(),
        }
    }
}

impl Fold for ByFold {
    fn update(&mut self, args: &[arrow::array::ArrayRef]) -> Result<()> {
        let [g, text] = args else {
            return Err(Error::Internal("keyness_by_words takes two arguments".into()));
        };
        let (g, text) = (crate::table::Strs::of(g)?, crate::table::Strs::of(text)?);
        for i in 0..text.len() {
            if !text.is_valid(i) || !g.is_valid(i) {
                continue;
            }
            let gid = self.groups.get(g.value(i));
            for w in tokens(text.value(i)) {
                if self.stop.contains(w) {
                    continue;
                }
                let h = xxhash_rust::xxh3::xxh3_64(w.as_bytes());
                self.words.entry(h).or_insert_with(|| w.to_owned());
                *self.counts.entry((gid, h)).or_default() += 1;
            }
        }
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let mut b = crate::fold::Bytes::new(bytes);
        let groups = b.u64()? as usize;
        let mut to_all = Vec::with_capacity(groups);
        for _ in 0..groups {
            let name = b.str()?;
            to_all.push(self.groups.get(name));
        }
        for _ in 0..b.u64()? {
            let (h, word) = (b.u64()?, b.str()?);
            self.words.entry(h).or_insert_with(|| word.to_owned());
        }
        while !b.is_empty() {
            let (g, h, n) = (b.u64()? as usize, b.u64()?, b.u64()?);
            let g = *to_all.get(g).ok_or_else(|| Error::Internal("keyness by: a count of no group".into()))?;
            *self.counts.entry((g, h)).or_default() += n;
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        use crate::fold::{put_str, put_u64};
        put_u64(out, self.groups.names.len() as u64);
        for name in &self.groups.names {
            put_str(out, name);
        }
        put_u64(out, self.words.len() as u64);
        for (&h, word) in &self.words {
            put_u64(out, h);
            put_str(out, word);
        }
        for (&(g, h), &n) in &self.counts {
            put_u64(out, u64::from(g));
            put_u64(out, h);
            put_u64(out, n);
        }
    }
}

/// `keyness_by_words(group, text_norm)`: the (group, word) counts as a fold ([`ByFold`]'s bytes), its stop
/// words (language codes, as JSON) its parameter.
pub(crate) fn by_words_udaf(stopwords: &[echolens_text::Language]) -> datafusion::logical_expr::AggregateUDF {
    use arrow::datatypes::DataType::{Utf8, Utf8View};
    use datafusion::logical_expr::{Signature, TypeSignature, Volatility};
    let exact = |g, t| TypeSignature::Exact(vec![g, t]);
    let signature = Signature::one_of(
        vec![exact(Utf8View, Utf8View), exact(Utf8, Utf8View), exact(Utf8View, Utf8), exact(Utf8, Utf8)],
        Volatility::Immutable,
    );
    let codes: Vec<&str> = stopwords.iter().map(|l| l.code()).collect();
    let param = serde_json::to_string(&codes).expect("strings serialise");
    let langs = stopwords.to_vec();
    crate::fold::udaf("keyness_by_words", param, signature, move || Box::new(ByFold::new(&langs)))
}

/// The fold made again from its parameter.
pub(crate) fn rebuild_by_words_udaf(param: &str) -> Result<datafusion::logical_expr::AggregateUDF> {
    let codes: Vec<String> = serde_json::from_str(param)
        .map_err(|e| Error::Param(format!("stop words sent with a plan do not read: {e}")))?;
    let mut langs = Vec::new();
    for code in codes {
        langs.push(
            echolens_text::Language::from_name(&code)
                .ok_or_else(|| Error::Param(format!("no stop words for {code:?}")))?,
        );
    }
    Ok(by_words_udaf(&langs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn fold(rows: &[(String, String)]) -> ByFold {
        let g: arrow::array::ArrayRef =
            Arc::new(arrow::array::StringArray::from_iter_values(rows.iter().map(|r| &r.0)));
        let t: arrow::array::ArrayRef =
            Arc::new(arrow::array::StringArray::from_iter_values(rows.iter().map(|r| &r.1)));
        let mut f = ByFold::new(&[echolens_text::Language::English]);
        f.update(&[g, t]).unwrap();
        f
    }

    fn counted(f: &ByFold) -> BTreeMap<(&str, &str), u64> {
        f.counts.iter().map(|(&(g, h), &n)| ((f.groups.names[g as usize].as_str(), f.words[&h].as_str()), n)).collect()
    }

    proptest::proptest! {
        #[test]
        fn folds_written_and_merged_count_what_one_fold_counts(
            rows in proptest::collection::vec(("[abc]", "(the|ab|cd|سلام|мир| ){0,10}"), 0..40),
            cut in 0usize..40,
        ) {
            let cut = cut.min(rows.len());
            let whole = fold(&rows);
            let mut merged = ByFold::new(&[echolens_text::Language::English]);
            for part in [&rows[..cut], &rows[cut..]] {
                let mut bytes = Vec::new();
                fold(part).write(&mut bytes);
                merged.merge(&bytes).unwrap();
            }
            proptest::prop_assert_eq!(counted(&merged), counted(&whole));
            proptest::prop_assert!(!counted(&whole).keys().any(|(_, w)| *w == "the"), "stop words are left out");
        }
    }
}
