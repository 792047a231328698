//! Vocabulary: which words and phrases mark part of a corpus ([`keyness`]), how they spread from channel to
//! channel ([`diffusion`]), and how much there is of everything, period by period ([`timeline`]).
//!
//! Counting words is an aggregation, and the plans here stream `text_norm` out of the store in as many
//! partitions as there are cores; a kernel per partition tokenises and counts into its own table, and the
//! partial tables are merged at the end, as a partial and final aggregate would be (see ARCHITECTURE.md). The
//! per-period counts of `timeline` are a plain SQL aggregate with a lexicon UDF.

pub mod diffusion;
pub mod keyness;
pub mod keyness_by;
pub mod lexicon;
pub mod timeline;
mod words;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::prelude::Partitioning;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::{Error, Result};

/// Run `sql` in the session's partitions (one per core by default) and fold each partition's batches into its own state (made by
/// `make`) with `f`; returns the states, one per partition.
async fn per_partition<S, F>(ctx: &SessionContext, sql: &str, make: impl Fn() -> S, f: F) -> Result<Vec<S>>
where
    S: Send + 'static,
    F: Fn(&mut S, &RecordBatch) -> Result<()> + Send + Sync + 'static,
{
    per_partition_by(ctx, sql, &[], make, f).await
}

/// [`per_partition`] with the rows hashed to partitions by the columns `by` (each value of them in one
/// partition's state only), or dealt out batch by batch where `by` is empty.
async fn per_partition_by<S, F>(
    ctx: &SessionContext,
    sql: &str,
    by: &[&str],
    make: impl Fn() -> S,
    f: F,
) -> Result<Vec<S>>
where
    S: Send + 'static,
    F: Fn(&mut S, &RecordBatch) -> Result<()> + Send + Sync + 'static,
{
    crate::table::explain(ctx, sql).await?;
    let partitions = ctx.copied_config().target_partitions();
    let partitioning = if by.is_empty() {
        Partitioning::RoundRobinBatch(partitions)
    } else {
        Partitioning::Hash(by.iter().map(|c| datafusion::prelude::col(*c)).collect(), partitions)
    };
    let df = ctx.sql(sql).await?.repartition(partitioning)?;
    let streams = df.execute_stream_partitioned().await?;
    let f = Arc::new(f);
    let mut tasks = Vec::with_capacity(streams.len());
    for mut stream in streams {
        let f = Arc::clone(&f);
        let mut state = make();
        tasks.push(tokio::spawn(async move {
            while let Some(batch) = stream.next().await {
                f(&mut state, &batch?)?;
            }
            Ok::<S, Error>(state)
        }));
    }
    let mut states = Vec::with_capacity(tasks.len());
    for task in tasks {
        states.push(task.await.map_err(|e| Error::Internal(format!("a counting task failed: {e}")))??);
    }
    Ok(states)
}

/// The UTC day of `seconds` as `YYYY-MM-DD`.
pub(crate) fn day_string(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}
