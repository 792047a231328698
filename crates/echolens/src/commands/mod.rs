//! One module per subcommand.

mod analyze;
mod coordination;
pub(crate) mod demo;
mod ingest;
mod reuse;
mod sql;
mod stats;
mod vocabulary;

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::{Cli, Command};

/// What every analysis writes into its `summary.json` about the run.
pub(crate) fn run_info(store: &std::path::Path, version: i64, started: std::time::Instant) -> serde_json::Value {
    serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "echolens_version": env!("CARGO_PKG_VERSION"),
        "store": store.display().to_string(),
        "store_table_version": version,
        "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    })
}

/// A spinner with elapsed time for `analysis` on a terminal; hidden when stderr is not one.
pub(crate) fn spinner(analysis: &str) -> indicatif::ProgressBar {
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

/// The async runtime the store and DataFusion run on.
/// The store's pseudonyms for the messages registered in `ctx` (its key made on first use, see
/// [`Store::pseudonym_key`](echolens_store::Store::pseudonym_key)).
pub(crate) async fn pseudonyms(
    store: &echolens_store::Store,
    ctx: &datafusion::prelude::SessionContext,
) -> Result<echolens_analysis::Pseudonyms> {
    Ok(echolens_analysis::Pseudonyms::load(ctx, store.pseudonym_key()?).await?)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Coordination(args) => coordination::run(args),
        Command::Reuse(args) => reuse::run(args),
        Command::Keyness(args) => vocabulary::keyness(args),
        Command::Diffusion(args) => vocabulary::diffusion(args),
        Command::Timeline(args) => vocabulary::timeline(args),
    }
}
