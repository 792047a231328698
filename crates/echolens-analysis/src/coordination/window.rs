//! How long a coordination window should be, estimated from the data as CooRnet does it
//! (`estimate_coord_interval`), per kind of key.
//!
//! For every key shared at least twice: the delay of each share after the key's first share, its rank (ties
//! in time order of arrival) and the share of the key's shares up to it. The keys whose second share came
//! within the `q` quantile (0.1) of all keys' second-share delays are the quickly shared ones; for each of them,
//! the delay of the first share past `p` (0.5) of its shares. The estimate is the `p` quantile of those delays,
//! at least one second. Quantiles interpolate linearly between order statistics (R's and numpy's default).
//! (CooRnet's documentation swaps the roles of `p` and `q`; its code, followed here, uses them as above.)
//!
//! One plan per kind over the kind's actions gives each key's two delays; the quantiles are taken over those
//! rows, one per key.

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::{Kind, Params, actions_sql};
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

/// Estimate the window of each equi-key kind of `p` over the `messages` table.
pub async fn run(ctx: &SessionContext, p: &Params) -> Result<WindowEstimate> {
    let mut out = WindowEstimate::default();
    let mut pooled: Vec<(f64, f64)> = Vec::new();
    for &kind in p.kinds.iter().filter(|k| **k != Kind::Similar) {
        let Some(actions) = actions_sql(kind, p, true) else { continue };
        // Ranks in time order, ties by the message hash (CooRnet: first come, first ranked).
        let sql = format!(
            "WITH a AS (SELECT key_h, ts, msg FROM ({actions})), \
             r AS (SELECT key_h, ts - min(ts) OVER (PARTITION BY key_h) AS d, \
                     row_number() OVER (PARTITION BY key_h ORDER BY ts, msg) AS rk, \
                     count(*) OVER (PARTITION BY key_h) AS n FROM a) \
             SELECT key_h, min(CASE WHEN rk = 2 THEN d END) AS d2, \
                    min(CASE WHEN CAST(rk AS DOUBLE) / CAST(n AS DOUBLE) > {P} THEN d END) AS dp \
             FROM r WHERE n > 1 GROUP BY key_h"
        );
        let mut keys: Vec<(f64, f64)> = Vec::new();
        for batch in collect(ctx, &sql).await? {
            let (d2, dp) = (i64s(&batch, "d2")?, i64s(&batch, "dp")?);
            for i in 0..batch.num_rows() {
                keys.push((d2.value(i) as f64 / 1e6, dp.value(i) as f64 / 1e6));
            }
        }
        out.keys += keys.len() as u64;
        if let Some(est) = estimate(&keys) {
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
