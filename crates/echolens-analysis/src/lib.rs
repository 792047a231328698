//! echolens analyses. Each is a DataFusion plan over the store's `messages` table, with the echolens UDFs
//! ([`register_udfs`]) doing what SQL cannot say (hashing keys, counting Persian-aware tokens). Where a plan
//! cannot express the work (the sliding-window MinHash join of near-identical texts, community detection), a
//! hand-written kernel consumes the plan's stream and its output is registered back as a table.
#![deny(missing_docs)]

pub mod best;
pub mod compare;
pub mod coordination;
mod error;
mod fold;
pub mod graph;
mod lists;
pub mod memory;
mod minhash;
pub mod output;
mod pseudonym;
pub mod reuse;
pub mod select;
mod spill;
pub mod sql;
mod table;
mod timings;
mod udf;
pub mod vocabulary;
pub mod zone;

pub use error::{Error, Result};
pub use fold::parameter_of as udaf_parameter_of;
pub use output::{
    Cell, Col, RowSink, Rows, Table, TableFormat, TableWriter, remove_table, table_schema, write_table, write_tables,
};
pub use pseudonym::{CHAT_AUTHOR, Pseudonyms, PutAside};
pub use table::{
    Strs, Written, collect_plain, create_output, excerpt, i64s, register_on_disk, strings, write_output, write_summary,
};
pub use timings::{memory, memory_mb, reset_peak};
pub use udf::{hash64, parameter_of, rebuild, rebuild_udaf, register_udfs, udfs};

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

/// The partitions a plan is split into: one per core, or `ECHOLENS_PARTITIONS` (1 to 1024) where set — for
/// the test that checks results do not depend on it, and for benchmarks.
pub fn partitions() -> usize {
    std::env::var("ECHOLENS_PARTITIONS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=1024).contains(n))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// The engine settings every analysis session has, local or on a cluster: [`partitions`] target partitions,
/// batches of 8192 rows.
pub fn session_config() -> SessionConfig {
    SessionConfig::new().with_target_partitions(partitions()).with_batch_size(8192)
}

/// A DataFusion session for analyses: the echolens UDFs registered, `memory_limit` bytes for the process
/// (sorts and aggregations spill to disk when it would hold more: [`memory::BudgetPool`]).
pub fn analysis_session(memory_limit: usize) -> Result<SessionContext> {
    let mut config = session_config();
    // Each sort holds this much of the pool back for merging what it spilled (10 MB by default): with one sort
    // per partition, a small pool went to the reservations alone. A quarter of each partition's share, at most
    // the default.
    let partitions = config.target_partitions().max(1);
    config.options_mut().execution.sort_spill_reservation_bytes =
        (memory_limit / (4 * partitions)).clamp(64 * 1024, 10 * 1024 * 1024);
    // A fair pool: every spillable operator (sorts, aggregations) gets its share and spills beyond it, instead
    // of the first one taking everything and the next failing; and its size is what the process's budget leaves
    // after what the analysis already holds.
    let pool = Arc::new(memory::BudgetPool::new(memory_limit));
    let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool).build_arc()?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    register_udfs(&ctx);
    Ok(ctx)
}
