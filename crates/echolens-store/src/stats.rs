//! What is in a store, by the numbers (`echolens stats`).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde::Serialize;

use crate::{Result, STORE_VERSION, Store};
use echolens_model::rfc3339;

/// Corpus statistics. Serialised as the `echolens stats --json` contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Messages stored.
    pub messages: u64,
    /// Distinct channels (platform, channel id).
    pub channels: u64,
    /// Distinct authors (platform, author id).
    pub authors: u64,
    /// Messages per platform.
    pub platforms: BTreeMap<String, u64>,
    /// Earliest message time, RFC 3339 UTC.
    pub first: Option<String>,
    /// Latest message time, RFC 3339 UTC.
    pub last: Option<String>,
    /// Messages whose time is a local time with an unknown offset.
    pub inexact_times: u64,
    /// Records in the quarantine.
    pub quarantined: u64,
    /// Quarantined records per reason kind (the reason's text up to its first ':' or ';').
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Store format version.
    pub store_version: u32,
    /// Delta table version of `messages`.
    pub table_version: i64,
    /// Rows whose key another row also has: 0 in a sound store, where a key is one message. Anything else
    /// breaks every count and is reported as an error by `echolens stats`.
    pub duplicate_keys: u64,
}

async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut out = Vec::new();
    for batch in batches {
        let cols: Vec<_> =
            batch.columns().iter().map(|c| cast(c, &DataType::Utf8)).collect::<std::result::Result<_, _>>()?;
        for i in 0..batch.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| {
                        let c = c.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
                        (!c.is_null(i)).then(|| c.value(i).to_owned())
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// Memory for the engine's buffers while [`Store::stats`] counts; its groupings spill to disk beyond it.
const STATS_MEMORY: usize = 256 << 20;

fn count(v: &Option<String>) -> u64 {
    v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0)
}

impl Store {
    /// Count what the store holds. The distinct counts group the table by key, channel and author, in a
    /// session of [`STATS_MEMORY`] that spills beyond it: a distinct count's set of every key held 1.6 GB at
    /// 10M messages.
    pub async fn stats(&self) -> Result<Stats> {
        self.stats_within(STATS_MEMORY).await
    }

    /// [`Store::stats`], its groupings spilling beyond `memory` bytes.
    pub(crate) async fn stats_within(&self, memory: usize) -> Result<Stats> {
        let pool = Arc::new(FairSpillPool::new(memory));
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new(),
            RuntimeEnvBuilder::new().with_memory_pool(pool).build_arc()?,
        );
        self.register(&ctx).await?;
        let main = rows(
            &ctx,
            "SELECT count(*), sum(CASE WHEN ts_exact THEN 0 ELSE 1 END), \
                    CAST(min(ts) AS BIGINT), CAST(max(ts) AS BIGINT) FROM messages",
        )
        .await?;
        let groups = |by: &str, of: &str| {
            format!(
                "SELECT count(*), sum(n) FROM (SELECT count(*) AS n FROM messages WHERE {of} IS NOT NULL GROUP BY {by})"
            )
        };
        let channels = rows(&ctx, &groups("platform, channel_id", "channel_id")).await?;
        let authors = rows(&ctx, &groups("platform, author_id", "author_id")).await?;
        let keys = rows(&ctx, &groups("key", "key")).await?;
        let row = &main[0];
        let ts = |v: &Option<String>| {
            v.as_deref().map(|s| {
                let t: i64 = s.parse().unwrap_or(0);
                rfc3339(t)
            })
        };
        let mut stats = Stats {
            messages: count(&row[0]),
            channels: count(&channels[0][0]),
            authors: count(&authors[0][0]),
            inexact_times: count(&row[1]),
            first: ts(&row[2]),
            last: ts(&row[3]),
            store_version: STORE_VERSION,
            table_version: self.messages_version(),
            ..Stats::default()
        };
        // Rows with a key minus distinct keys.
        stats.duplicate_keys = count(&keys[0][1]).saturating_sub(count(&keys[0][0]));
        for r in rows(&ctx, "SELECT platform, count(*) FROM messages GROUP BY platform").await? {
            stats.platforms.insert(r[0].clone().unwrap_or_default(), count(&r[1]));
        }
        for r in rows(&ctx, "SELECT reason FROM quarantine").await? {
            let reason = r[0].clone().unwrap_or_default();
            stats.quarantined += 1;
            *stats.quarantine_reasons.entry(reason_kind(&reason)).or_default() += 1;
        }
        Ok(stats)
    }
}

/// The kind of a quarantine reason: its text without record-specific details.
fn reason_kind(reason: &str) -> String {
    let reason = reason.strip_prefix("line ").map_or(reason, |r| r.split_once(": ").map_or(r, |(_, rest)| rest));
    let reason = reason.strip_prefix("element ").map_or(reason, |r| r.split_once(": ").map_or(r, |(_, rest)| rest));
    let end = reason.find([':', ';', '(', '"']).unwrap_or(reason.len());
    let reason = &reason[..end];
    // "invalid JSON at line 5 column 3" is the kind "invalid JSON": the position is the record's own.
    let reason = reason.find(" at line ").map_or(reason, |at| &reason[..at]);
    reason.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_kinds() {
        assert_eq!(reason_kind("line 4: invalid JSON (EOF); expected"), "invalid JSON");
        assert_eq!(reason_kind("from_id: expected user"), "from_id");
        assert_eq!(reason_kind(r#"unknown message type "ERROR:wrong"; expected message"#), "unknown message type");
        assert_eq!(reason_kind("invalid JSON at line 5 column 3: expected ',' or '}'"), "invalid JSON");
        assert_eq!(reason_kind("line 8: invalid JSON (EOF while parsing at line 1 column 44)"), "invalid JSON");
    }
}
