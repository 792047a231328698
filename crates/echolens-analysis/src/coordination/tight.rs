//! How tightly a key's actions bunch: the weight a key gives an edge beside crowds.
//!
//! A crowd and a campaign both put many accounts on one key within minutes. What tells them apart on a key is
//! how its actions bunch: a campaign's accounts act within seconds of each other, a crowd's trickle in over
//! minutes, so only a few of its pairs fall within the window, and which ones is chance. A key's *tightness* is
//! the share of its pairs of actions by different accounts at most `horizon` apart that are also at most
//! `window` apart. A key whose nearby actions all came within the window counts 1 toward an edge; a headline
//! whose sharers trickled in over twenty minutes, a third of them within a minute of each other, counts a
//! third. Only nearby pairs are compared, so a link a campaign pushes in wave after wave, days apart, stays
//! tight.
//!
//! The counts are two sliding windows over each key's actions in time order (a kernel fed by one sorted plan
//! over `coord_actions`): no pair is materialised.

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::{KeyWeights, kind_of_id};
use crate::Result;
use crate::table::i64s;

/// Pairs of distinct accounts' actions at most `span` apart, of actions `(ts, account)` sorted by time.
/// `scratch` is reused between calls.
fn pairs_within(actions: &[(i64, i64)], span: i64, scratch: &mut Vec<(i64, i64)>) -> u64 {
    let close = |times: &mut dyn Iterator<Item = i64>, buffer: &mut std::collections::VecDeque<i64>| {
        buffer.clear();
        let mut n = 0u64;
        for t in times {
            while buffer.front().is_some_and(|&f| t - f > span) {
                buffer.pop_front();
            }
            n += buffer.len() as u64;
            buffer.push_back(t);
        }
        n
    };
    let mut buffer = std::collections::VecDeque::new();
    let all = close(&mut actions.iter().map(|a| a.0), &mut buffer);
    // The same account's pairs are no evidence of anything between accounts.
    scratch.clear();
    scratch.extend(actions.iter().map(|&(t, acc)| (acc, t)));
    scratch.sort_unstable();
    let mut own = 0u64;
    for group in scratch.chunk_by(|x, y| x.0 == y.0) {
        own += close(&mut group.iter().map(|a| a.1), &mut buffer);
    }
    all - own
}

/// The tightness of one key's actions `(ts, account)`, sorted by time: pairs within `window` over pairs within
/// `horizon` (1 when no pair is within the horizon).
pub(super) fn tightness(actions: &[(i64, i64)], window: i64, horizon: i64, scratch: &mut Vec<(i64, i64)>) -> f64 {
    let near = pairs_within(actions, horizon, scratch);
    if near == 0 {
        return 1.0;
    }
    pairs_within(actions, window, scratch) as f64 / near as f64
}

/// What weighing the keys found.
#[derive(Debug, Default)]
pub(super) struct Weighed {
    /// Keys whose weight is below 1, with it.
    pub weights: KeyWeights,
    /// Keys of more than `crowd_size` accounts, per kind.
    pub crowd_sized: BTreeMap<String, u64>,
    /// Keys whose actions within the horizon were not all within the window, per kind.
    pub loose: BTreeMap<String, u64>,
}

/// Each key of `coord_actions` weighed: `crowd_size / accounts` for a key of more than `crowd_size` accounts
/// (`crowd_size` 0: 1), times its tightness at `window_us` within `horizon_us` (`horizon_us` 0: 1).
pub(super) async fn weigh(ctx: &SessionContext, window_us: i64, horizon_us: i64, crowd_size: u64) -> Result<Weighed> {
    let mut out = Weighed::default();
    // Every key counts one: nothing to read.
    if crowd_size == 0 && horizon_us <= window_us {
        return Ok(out);
    }
    let sql = "SELECT kid, key_h, acc, ts FROM coord_actions ORDER BY key_h, ts, acc";
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let mut open: Option<(i64, i64)> = None;
    let mut actions: Vec<(i64, i64)> = Vec::new();
    let (mut scratch, mut accounts) = (Vec::new(), Vec::new());
    let mut close = |key: Option<(i64, i64)>, actions: &mut Vec<(i64, i64)>| {
        let Some((kid, key_h)) = key else { return };
        let kind = kind_of_id(kid).name();
        accounts.clear();
        accounts.extend(actions.iter().map(|a| a.1));
        accounts.sort_unstable();
        accounts.dedup();
        let mut weight = 1.0;
        if crowd_size > 0 && accounts.len() as u64 > crowd_size {
            weight = crowd_size as f64 / accounts.len() as f64;
            *out.crowd_sized.entry(kind.to_owned()).or_default() += 1;
        }
        if horizon_us > window_us {
            let tight = tightness(actions, window_us, horizon_us, &mut scratch);
            if tight < 1.0 {
                weight *= tight;
                *out.loose.entry(kind.to_owned()).or_default() += 1;
            }
        }
        if weight < 1.0 {
            out.weights.insert(key_h, weight);
        }
        actions.clear();
    };
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let (kid, key, acc, ts) =
            (i64s(&batch, "kid")?, i64s(&batch, "key_h")?, i64s(&batch, "acc")?, i64s(&batch, "ts")?);
        for i in 0..batch.num_rows() {
            let this = (kid.value(i), key.value(i));
            if open.map(|o| o.1) != Some(this.1) {
                close(open, &mut actions);
                open = Some(this);
            }
            actions.push((ts.value(i), acc.value(i)));
        }
    }
    close(open, &mut actions);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tight(actions: &[(i64, i64)], window: i64, horizon: i64) -> f64 {
        tightness(actions, window, horizon, &mut Vec::new())
    }

    #[test]
    fn a_burst_is_tight_and_a_trickle_is_not() {
        // Five accounts within 30 s of each other: every nearby pair is within a 60 s window.
        let burst: Vec<(i64, i64)> = (0..5).map(|a| (a * 7, a)).collect();
        assert_eq!(tight(&burst, 60, 600), 1.0);
        // Five accounts 100 s apart: of the 10 pairs within 600 s (all but none: 400 s at most), none is within
        // 60 s.
        let trickle: Vec<(i64, i64)> = (0..5).map(|a| (a * 100, a)).collect();
        assert_eq!(tight(&trickle, 60, 600), 0.0);
        // Four accounts at 0, 50, 100, 150: pairs within 60 s are the 3 neighbours; within 600 s all 6.
        let mixed: Vec<(i64, i64)> = (0..4).map(|a| (a * 50, a)).collect();
        assert!((tight(&mixed, 60, 600) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn waves_days_apart_stay_tight_and_an_accounts_own_pairs_do_not_count() {
        // The same key pushed in two waves a day apart, each wave within 10 s: pairs across waves are beyond the
        // horizon, so they do not count against it.
        let mut waves: Vec<(i64, i64)> = (0..3).map(|a| (a * 5, a)).collect();
        waves.extend((0..3).map(|a| (86_400 + a * 5, a)));
        assert_eq!(tight(&waves, 60, 600), 1.0);
        // One account posting again and again over seven minutes, another once beside its first post. The
        // pairs of different accounts: 1 s, 199 s and 399 s apart, 3 within the horizon and 1 within the window;
        // the account's own pairs (200 s, 400 s, 200 s) do not count.
        let spammer = [(0, 1), (1, 2), (200, 1), (400, 1)];
        assert!((tight(&spammer, 60, 600) - 1.0 / 3.0).abs() < 1e-12);
        // No pair within the horizon: nothing to weigh against.
        assert_eq!(tight(&[(0, 1), (10_000, 2)], 60, 600), 1.0);
    }
}
