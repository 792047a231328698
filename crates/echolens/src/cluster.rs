//! The analyses' plans on a Ballista cluster (decision 0013).
//!
//! `echolens cluster scheduler` and `echolens cluster executor` run Ballista's scheduler and executor in this
//! binary, so that both know echolens's functions and the codec below; `--cluster df://HOST:PORT` on an
//! analysing command gives it a session whose plans the scheduler runs on its executors. The session reads the
//! store as listings of its Parquet files ([`Store::register_files`]): every executor must reach the store at
//! the same path. Kernels that are not plans (community detection, the near-duplicate and reuse kernels,
//! counting words) consume the plans' streams in the client, as they do locally.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use echolens_store::{ObjectStores, Store};

/// The largest plan or result message the processes exchange: a plan carries the small tables a client
/// registers (a selection's keys, a run's cascade members), so Ballista's 16 MiB is raised.
const MAX_MESSAGE: usize = 256 << 20;

/// How executors get tasks: they ask for them. (With Ballista 55's push policy a task reset after its
/// executor was lost was never offered again, and the job waited for ever; decision 0013.)
const POLICY: ballista_core::config::TaskSchedulingPolicy = ballista_core::config::TaskSchedulingPolicy::PullStaged;

/// A session whose plans run on the scheduler at `url` (`df://HOST:PORT`), with the store's tables as listings
/// of their Parquet files and echolens's functions.
pub async fn session(url: &str, store: &Store, memory: usize) -> Result<SessionContext> {
    let config = echolens_analysis::session_config()
        .with_ballista_logical_extension_codec(Arc::new(Codec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE)
        // Ballista 55's adaptive planner loses a job whose executor goes while a later stage runs (the job
        // waits for ever, decision 0013); the static planner reruns the lost stages.
        .with_ballista_adaptive_query_planner(false)
        // The static planner's scheduler swaps join sides when a stage resolves, which DataFusion refuses for a
        // join that carries a dynamic filter (the job then waits for ever); the filters only prune.
        .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false);
    // The executors' engines have their own pools; this one's limit is what the analyses size their own work
    // by (the similar search's time slabs, merged on an executor), as a local run's pool is.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(datafusion::execution::memory_pool::FairSpillPool::new(memory)))
        .build_arc()?;
    let state =
        SessionStateBuilder::new().with_default_features().with_config(config).with_runtime_env(runtime).build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .with_context(|| format!("connecting to the scheduler at {url}"))?;
    // Ballista replaces the session's function list when it upgrades it: echolens's go in after.
    echolens_analysis::register_udfs(&ctx);
    store.register_files(&ctx).await?;
    // A first query, so that a cluster that cannot run one is an error here and not in the middle of an analysis.
    ctx.sql("SELECT 1").await?.collect().await.with_context(|| format!("a first query on the cluster at {url}"))?;
    Ok(ctx)
}

/// Ballista's log lines on stderr, from the level `ECHOLENS_LOG` names up (error, warn, info, debug, trace;
/// info when unset).
pub fn log_to_stderr() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= self.0
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                eprintln!("{} {}: {}", record.level(), record.target(), record.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("ECHOLENS_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(log::LevelFilter::Info);
    if log::set_boxed_logger(Box::new(Stderr(level))).is_ok() {
        log::set_max_level(level);
    }
}

/// Where a scheduler listens and what it waits for.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address and port to listen on.
    pub bind: SocketAddr,
    /// The host name executors and clients reach it by.
    pub external_host: String,
    /// Seconds without a heartbeat after which an executor is taken as lost and its tasks run elsewhere.
    pub executor_timeout_s: u64,
}

/// Run a scheduler until the process is stopped.
pub async fn scheduler(options: &SchedulerOptions) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;

    let builder: ballista_scheduler::scheduler_server::SessionBuilder = Arc::new(|config: SessionConfig| {
        let state = ballista_core::utils::default_session_builder(config)?;
        // The scheduler lists the files of the plans it is sent: a store at an object-store URL is reached
        // from the environment, as the executors reach it.
        let runtime =
            RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(ObjectStores::default())).build_arc()?;
        let state = SessionStateBuilder::new_from_existing(state).with_runtime_env(runtime).build();
        let ctx = SessionContext::new_with_state(state);
        echolens_analysis::register_udfs(&ctx);
        Ok(ctx.state())
    });
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.external_host.clone(),
        executor_timeout_seconds: options.executor_timeout_s,
        expire_dead_executor_interval_seconds: (options.executor_timeout_s / 3).clamp(1, 15),
        grpc_server_max_decoding_message_size: MAX_MESSAGE as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE as u32,
        grpc_client_max_message_size: MAX_MESSAGE as u32,
        scheduling_policy: POLICY,
        override_session_builder: Some(builder),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.context("setting up the scheduler's state")?;
    ballista_scheduler::scheduler_process::start_server(cluster, options.bind, Arc::new(config))
        .await
        .with_context(|| format!("the scheduler on {}", options.bind))
}

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address to listen on.
    pub bind: std::net::IpAddr,
    /// The host name other executors and clients fetch its results by.
    pub external_host: Option<String>,
    /// The port of its Arrow Flight service (results); its gRPC service listens on the next one.
    pub port: u16,
    /// Tasks it runs at once.
    pub concurrent_tasks: usize,
    /// Where it keeps the shuffle files of running jobs.
    pub work_dir: Option<std::path::PathBuf>,
    /// Memory for its tasks' buffers, shared by its concurrent tasks (spilling beyond it).
    pub memory: usize,
}

/// Run an executor until the process is stopped.
pub async fn executor(options: &ExecutorOptions) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

    let Some(grpc_port) = options.port.checked_add(1) else {
        bail!("the executor's port must leave room for its gRPC service on the next one");
    };
    // Every function a local session knows (DataFusion's, with the features echolens builds it with, and
    // echolens's), by name.
    let local = echolens_analysis::analysis_session(0)?.state();
    let registry = BallistaFunctionRegistry {
        scalar_functions: local.scalar_functions().clone(),
        aggregate_functions: local.aggregate_functions().clone(),
        window_functions: local.window_functions().clone(),
        ..BallistaFunctionRegistry::default()
    };
    // Ballista's own runtime but for the object stores: a store at an object-store URL is reached from the
    // environment (the executors are sent its files' URLs). Ballista wraps this with its memory pool.
    let work_dir = match &options.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("echolens-executor-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir).with_context(|| format!("creating the work folder {}", work_dir.display()))?;
    let temp = work_dir.clone();
    let runtime: ballista_core::RuntimeProducer = Arc::new(move |_: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_temp_file_path(temp.clone())
            .with_object_store_registry(Arc::new(ObjectStores::default()))
            .build_arc()
    });
    let config = ExecutorProcessConfig {
        bind_host: options.bind.to_string(),
        external_host: options.external_host.clone(),
        port: options.port,
        grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrent_tasks.max(1),
        task_scheduling_policy: POLICY,
        work_dir: Some(work_dir.display().to_string()),
        executor_heartbeat_interval_seconds: 5,
        grpc_max_decoding_message_size: MAX_MESSAGE as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE as u32,
        memory_pool_size: Some(options.memory as u64),
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(runtime),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    let ran = start_executor_process(Arc::new(config)).await.context("the executor");
    if options.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    ran
}

/// Ballista's logical codec, and in-memory tables (what a client registers: a selection's keys, a run's
/// cascade members) sent with the plan as Arrow IPC.
#[derive(Debug, Default)]
struct Codec {
    inner: BallistaLogicalExtensionCodec,
}

/// The first bytes of an in-memory table as [`Codec`] writes it.
const MEMORY_TABLE: &[u8] = b"echolens-memtable-1\n";

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let Some(ipc) = buf.strip_prefix(MEMORY_TABLE) else {
            return self.inner.try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let reader = StreamReader::try_new(Cursor::new(ipc), None)?;
        let batches = reader.collect::<Result<Vec<RecordBatch>, _>>()?;
        Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        let Some(table) = node.downcast_ref::<MemTable>() else {
            return self.inner.try_encode_table_provider(table_ref, node, buf);
        };
        buf.extend_from_slice(MEMORY_TABLE);
        let mut writer = StreamWriter::try_new(&mut *buf, &table.schema())?;
        for partition in &table.batches {
            let batches = partition.try_read().map_err(|_| {
                DataFusionError::Execution(format!("the in-memory table {table_ref} is being written to"))
            })?;
            for batch in batches.iter() {
                writer.write(batch)?;
            }
        }
        writer.finish()?;
        Ok(())
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> datafusion::error::Result<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.inner.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        encode_udf(node, buf);
        Ok(())
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> datafusion::error::Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        if encode_udaf(node, buf) { Ok(()) } else { self.inner.try_encode_udaf(node, buf) }
    }
}

/// Ballista's physical codec, and echolens's parameterised functions (a time zone's days, a lexicon) sent with
/// the plan as their parameter.
#[derive(Debug, Default)]
struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode(node, buf, converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> datafusion::error::Result<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.inner.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        encode_udf(node, buf);
        Ok(())
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> datafusion::error::Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        if encode_udaf(node, buf) { Ok(()) } else { self.inner.try_encode_udaf(node, buf) }
    }
}

/// A parameterised function's parameter (nothing for the others, which every process knows by name).
fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) {
    if let Some(param) = echolens_analysis::parameter_of(node) {
        buf.extend_from_slice(param.as_bytes());
    }
}

/// A fold function's parameter, if it is one (the others go to Ballista's codec).
fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> bool {
    let param = echolens_analysis::udaf_parameter_of(node);
    buf.extend_from_slice(param.unwrap_or_default().as_bytes());
    param.is_some()
}

/// The parameterised function `name` made again from its parameter in `buf` (`None`: not one of them).
fn decode_udf(name: &str, buf: &[u8]) -> Option<datafusion::error::Result<Arc<ScalarUDF>>> {
    decode_with(name, buf, echolens_analysis::rebuild)
}

/// The fold function `name` made again from its parameter in `buf` (`None`: not one of them).
fn decode_udaf(name: &str, buf: &[u8]) -> Option<datafusion::error::Result<Arc<AggregateUDF>>> {
    decode_with(name, buf, echolens_analysis::rebuild_udaf)
}

/// A function made again by `rebuild` from its name and the parameter in `buf` (`None`: no parameter).
fn decode_with<T>(
    name: &str,
    buf: &[u8],
    rebuild: impl FnOnce(&str, &str) -> echolens_analysis::Result<T>,
) -> Option<datafusion::error::Result<Arc<T>>> {
    if buf.is_empty() {
        return None;
    }
    let param = match std::str::from_utf8(buf) {
        Ok(param) => param,
        Err(e) => return Some(Err(DataFusionError::Internal(format!("the parameter of {name} is not UTF-8: {e}")))),
    };
    Some(
        rebuild(name, param)
            .map(Arc::new)
            .map_err(|e| DataFusionError::Plan(format!("the function {name} sent with a plan: {e}"))),
    )
}
