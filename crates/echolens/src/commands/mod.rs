//! One module per subcommand.

mod coordination;
mod demo;
mod ingest;
mod reuse;
mod sql;
mod stats;

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::{Cli, Command};

/// The async runtime the store and DataFusion run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Coordination(args) => coordination::run(args),
        Command::Reuse(args) => reuse::run(args),
    }
}
