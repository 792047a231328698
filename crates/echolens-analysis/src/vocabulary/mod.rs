//! Vocabulary: which words and phrases mark part of a corpus ([`keyness`]), how they spread from channel to
//! channel ([`diffusion`]), and how much there is of everything, period by period ([`timeline`]).
//!
//! Counting words is an aggregation. Keyness's words and `keyness --by`'s (group, word) counts are folds per
//! partition inside aggregate UDFs (`crate::fold`), diffusion's uses a UDF whose lists are unnested and
//! grouped, the timeline a plain aggregate with a lexicon UDF: these run where the engine puts the plan (on a
//! cluster, the executors). Keyness's phrases fold each partition's stream in the client ([`per_partition`]).

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

/// Run `sql` in the session's partitions (one per core by default), its batches dealt out batch by batch, and
/// fold each partition's batches into its own state (made by `make`) with `f`; returns the states, one per
/// partition.
async fn per_partition<S, F>(ctx: &SessionContext, sql: &str, make: impl Fn() -> S, f: F) -> Result<Vec<S>>
where
    S: Send + 'static,
    F: Fn(&mut S, &RecordBatch) -> Result<()> + Send + Sync + 'static,
{
    crate::table::explain(ctx, sql).await?;
    let partitions = ctx.copied_config().target_partitions();
    let df = ctx.sql(sql).await?.repartition(Partitioning::RoundRobinBatch(partitions))?;
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
