//! What every command shares: the async runtime, progress spinners, the run's record in `summary.json`, the
//! store's pseudonyms, and the demo corpus.

use anyhow::{Context, Result};
use datafusion::prelude::SessionContext;

/// What every analysis writes into its `summary.json` about the run: the command (its author, channel and SQL
/// selectors shown as pseudonyms show them unless `reveal`), the version, the store and its public id, and
/// whether accounts are pseudonymised.
pub fn run_info(
    store: &std::path::Path,
    version: i64,
    started: std::time::Instant,
    pseudonyms: &echolens_analysis::Pseudonyms,
    reveal: bool,
) -> serde_json::Value {
    RunShown::of(pseudonyms, reveal).info(store, version, started)
}

/// The parts of [`run_info`] the pseudonyms give, made once: a run that drops its pseudonyms' maps while it
/// analyses still writes its record.
pub struct RunShown {
    command: String,
    store_id: String,
    reveal: bool,
}

impl RunShown {
    /// The command and the store's id as `pseudonyms` show them (the command as given with `reveal`).
    pub fn of(pseudonyms: &echolens_analysis::Pseudonyms, reveal: bool) -> RunShown {
        let args: Vec<String> = std::env::args().collect();
        let command = if reveal { args.join(" ") } else { pseudonyms.command_line(&args) };
        RunShown { command, store_id: pseudonyms.store_id(), reveal }
    }

    /// The command as a reader of the outputs sees it.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// [`run_info`] now.
    pub fn info(&self, store: &std::path::Path, version: i64, started: std::time::Instant) -> serde_json::Value {
        serde_json::json!({
            "pseudonymised": !self.reveal,
            "command": self.command,
            "echolens_version": env!("CARGO_PKG_VERSION"),
            "store": store.display().to_string(),
            "store_id": self.store_id,
            "store_table_version": version,
            "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            "run_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// A spinner with elapsed time for `analysis` on a terminal; hidden when stderr is not one.
pub fn spinner(analysis: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let template = format!("{{spinner}} [{{elapsed_precise}}] {analysis}: {{msg}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("template"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Threads for the runtime's blocking work (the object store's file reads and writes). Each thread that ever
/// ran allocates from its own heap, and memory another thread frees there is only reused by its owner: with
/// tokio's default of up to 512, reads spread over a varying number of mostly idle threads, and the freed read
/// buffers parked in their heaps made a run's peak vary by hundreds of MB from one run to the next.
const BLOCKING_THREADS: usize = 4;

/// The store's pseudonyms for the messages registered in `ctx` (its key made on first use, see
/// [`Store::pseudonym_key`](echolens_store::Store::pseudonym_key)).
pub async fn pseudonyms(
    store: &echolens_store::Store,
    ctx: &datafusion::prelude::SessionContext,
) -> Result<echolens_analysis::Pseudonyms> {
    Ok(echolens_analysis::Pseudonyms::load(ctx, store.pseudonym_key()?).await?)
}

/// Where an analysis's plans run: this process, or a Ballista cluster's scheduler (`df://HOST:PORT`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// A local DataFusion session.
    #[default]
    Local,
    /// The scheduler at this URL.
    Cluster(String),
}

impl Engine {
    /// The engine a `--cluster` argument names.
    pub fn of(cluster: Option<&str>) -> Self {
        cluster.map_or(Engine::Local, |url| Engine::Cluster(url.to_owned()))
    }
}

/// An analysis session over `store`'s tables: local with `memory` bytes for the engine's buffers, or on the
/// cluster `engine` names (whose executors have their own pools; `memory` then sizes what an analysis hands
/// one executor to merge, the similar search's time slabs).
pub async fn session(store: &echolens_store::Store, memory: usize, engine: &Engine) -> anyhow::Result<SessionContext> {
    match engine {
        Engine::Local => {
            let ctx = echolens_analysis::analysis_session(memory)?;
            store.register(&ctx).await?;
            Ok(ctx)
        }
        #[cfg(feature = "cluster")]
        Engine::Cluster(url) => crate::cluster::session(url, store, memory).await,
        #[cfg(not(feature = "cluster"))]
        Engine::Cluster(url) => {
            anyhow::bail!("this echolens was built without the `cluster` feature: it cannot run plans on {url}")
        }
    }
}

/// The async runtime the store and DataFusion run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The seed of the built-in demo corpus.
pub const SEED: u64 = 20_240_301;

/// Write the demo corpus into `corpus` and its truth to `truth_path`.
pub fn write_corpus(
    corpus: &std::path::Path,
    truth_path: &std::path::Path,
    options: &echolens_demo::Options,
) -> Result<echolens_demo::Truth> {
    std::fs::create_dir_all(corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let truth = echolens_demo::generate_with(corpus, options)
        .with_context(|| format!("writing the demo corpus to {}", corpus.display()))?;
    std::fs::write(truth_path, serde_json::to_string_pretty(&truth)?)
        .with_context(|| format!("writing {}", truth_path.display()))?;
    Ok(truth)
}
