//! How long a coordination window should be, estimated from the data as CooRnet does it
//! (`estimate_coord_interval`), per kind of key.
//!
//! For every key shared by at least two accounts (within `max_key_accounts`): the delay of each share after the key's first share, its rank (ties
//! in time order of arrival) and the share of the key's shares up to it. The keys whose second share came
//! within the `q` quantile (0.1) of all keys' second-share delays are the quickly shared ones; for each of them,
//! the delay of the first share past `p` (0.5) of its shares. The estimate is the `p` quantile of those delays,
//! at least one second. Quantiles interpolate linearly between order statistics (R's and numpy's default).
//! (CooRnet's documentation swaps the roles of `p` and `q`; its code, followed here, uses them as above.)
//!
//! One plan over the shared keys' actions (`coord_actions`, in memory, integers only) gives each key's two
//! delays; the quantiles are taken over those rows, one per key.

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::Kind;
use crate::Result;
use crate::table::{collect, i64s};

/// The quantile of quickly shared keys.
pub const Q: f64 = 0.1;
/// The share of a key's shares, and the quantile of their delays.
pub const P: f64 = 0.5;

/// The estimated window of each kind, and of all equi-key kinds pooled.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowEstimate {
    /// Seconds per kind (kinds with no key shared twice are absent).
    pub per_kind: BTreeMap<String, f64>,
    /// Seconds over the keys of every kind.
    pub all: Option<f64>,
    /// Keys shared at least twice that the estimate was taken over.
    pub keys: u64,
}

impl WindowEstimate {
    /// A warning when `window_s` is more than ten times away from the pooled estimate.
    pub fn warning(&self, window_s: u64) -> Option<String> {
        let est = self.all?;
        let w = window_s as f64;
        (w > 10.0 * est || w * 10.0 < est).then(|| {
            format!(
                "the window ({window_s} s) is more than ten times away from the window the data suggest ({est:.0} s, \
                 estimated as CooRnet does from how fast keys are shared)"
            )
        })
    }
}

/// The `q` quantile of `values` (sorted in place), interpolating linearly between order statistics.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let h = (values.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(values[lo] + (h - lo as f64) * (values[hi] - values[lo]))
}

/// From each key's (second-share delay, delay past `p` of its shares) in seconds: the estimate.
pub fn estimate(keys: &[(f64, f64)]) -> Option<f64> {
    let mut second: Vec<f64> = keys.iter().map(|k| k.0).collect();
    let cut = quantile(&mut second, Q)?;
    let mut past: Vec<f64> = keys.iter().filter(|k| k.0 <= cut).map(|k| k.1).collect();
    quantile(&mut past, P).map(|s| s.max(1.0))
}

/// Estimate the window of each equi-key kind from the shared keys' actions (`coord_actions`: keys acted on by
/// at least two accounts and at most `max_key_accounts`), in one plan: a key that one account shared twice says
/// nothing about coordination, and CooRnet's own use of the estimate is over URLs that several pages shared.
pub async fn run(ctx: &SessionContext) -> Result<WindowEstimate> {
    let mut out = WindowEstimate::default();
    if !ctx.table_exist("coord_actions")? {
        return Ok(out);
    }
    // Ranks in time order, ties by the message hash (CooRnet: first come, first ranked).
    let sql = format!(
        "WITH r AS (SELECT kid, key_h, ts - min(ts) OVER (PARTITION BY key_h) AS d, \
                 row_number() OVER (PARTITION BY key_h ORDER BY ts, msg) AS rk, \
                 count(*) OVER (PARTITION BY key_h) AS n FROM coord_actions) \
         SELECT max(kid) AS kid, key_h, min(CASE WHEN rk = 2 THEN d END) AS d2, \
                min(CASE WHEN CAST(rk AS DOUBLE) / CAST(n AS DOUBLE) > {P} THEN d END) AS dp \
         FROM r WHERE n > 1 GROUP BY key_h"
    );
    let mut per_kind: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
    for batch in collect(ctx, &sql).await? {
        let (kid, d2, dp) = (i64s(&batch, "kid")?, i64s(&batch, "d2")?, i64s(&batch, "dp")?);
        for i in 0..batch.num_rows() {
            per_kind.entry(kid.value(i)).or_default().push((d2.value(i) as f64 / 1e6, dp.value(i) as f64 / 1e6));
        }
    }
    let mut pooled: Vec<(f64, f64)> = Vec::new();
    for (kid, keys) in per_kind {
        out.keys += keys.len() as u64;
        if let (Some(kind), Some(est)) = (Kind::from_seed(kid), estimate(&keys)) {
            out.per_kind.insert(kind.name().to_owned(), est);
        }
        pooled.extend(keys);
    }
    out.all = estimate(&pooled);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_numpy_does() {
        // numpy.quantile([1, 2, 3, 4, 10], [0, 0.1, 0.5, 0.9, 1]) = [1, 1.4, 3, 7.6, 10].
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        let at = |q| quantile(&mut v.clone(), q).unwrap();
        assert_eq!([at(0.0), at(0.5), at(1.0)], [1.0, 3.0, 10.0]);
        assert!((at(0.1) - 1.4).abs() < 1e-12 && (at(0.9) - 7.6).abs() < 1e-12);
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn the_estimate_follows_the_quickly_shared_keys() {
        // Ten keys: the quickest tenth by second share is the first (2 s); its half-way delay is 30 s.
        let mut keys = vec![(2.0, 30.0)];
        keys.extend((1..10).map(|i| (100.0 * i as f64, 5000.0)));
        // The 0.1 quantile of the second-share delays is 2 + 0.9 * (100 - 2) = 90.2: only the first key is quick.
        assert_eq!(estimate(&keys), Some(30.0));
        assert_eq!(estimate(&[(0.0, 0.2)]), Some(1.0), "at least one second");
        assert_eq!(estimate(&[]), None);
    }
}

#[cfg(test)]
mod plan_tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;

    use super::*;

    /// The plan over `coord_actions` gives each key's delays as the formula does.
    #[tokio::test]
    async fn the_plan_gives_each_keys_delays() {
        // Key 10 (link): shares at 0, 4, 5, 100 s. Key 20 (link): at 50, 50, 80 s. Key 30: one share.
        let rows: [(i64, i64, i64, i64); 8] = [
            (2, 10, 0, 1),
            (2, 10, 4, 2),
            (2, 10, 5, 3),
            (2, 10, 100, 4),
            (2, 20, 50, 5),
            (2, 20, 50, 6),
            (2, 20, 80, 7),
            (2, 30, 9, 8),
        ];
        let col = |f: fn(&(i64, i64, i64, i64)) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(f))) as _;
        let schema = Arc::new(Schema::new(
            ["kid", "key_h", "acc", "ts", "msg"].map(|n| Field::new(n, DataType::Int64, false)).to_vec(),
        ));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![col(|r| r.0), col(|r| r.1), col(|r| r.3), col(|r| r.2 * 1_000_000), col(|r| r.3)],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("coord_actions", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())).unwrap();
        let est = run(&ctx).await.unwrap();
        assert_eq!(est.keys, 2);
        // Key 10: second share 4 s, past half (rank 3 of 4) 5 s; key 20: 0 s and 0 s (rank 2 of 3 is past half).
        // The 0.1 quantile of (4, 0) is 0.4: only key 20 is quick; its 0 s becomes the minimum of 1 s.
        assert_eq!(est.per_kind.get("link"), Some(&1.0));
        assert_eq!(est.all, Some(1.0));
    }
}
