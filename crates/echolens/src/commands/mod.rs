//! One module per subcommand.

mod analyze;
mod cluster;
mod compare;
mod coordination;
pub(crate) mod demo;
mod export;
mod ingest;
mod reuse;
mod serve;
mod sql;
mod stats;
mod vocabulary;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::{Cli, Command};
pub(crate) use echolens::run::{pseudonyms, run_info, runtime, spinner};

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    let reveal = match &cli.command {
        Command::Analyze(a) => a.run.reveal,
        Command::Coordination(a) => a.run.reveal,
        Command::Reuse(a) => a.run.reveal,
        Command::Compare(a) => a.run.reveal,
        Command::Serve(a) => a.reveal,
        Command::Keyness(a) => a.run.reveal,
        Command::Diffusion(a) => a.run.reveal,
        Command::Timeline(a) => a.run.reveal,
        Command::Export(crate::args::ExportCommand::Stix(a)) => a.reveal,
        Command::Ingest(_)
        | Command::Stats(_)
        | Command::Sql(_)
        | Command::Demo(_)
        | Command::Export(_)
        | Command::Cluster(_) => false,
    };
    if reveal {
        eprintln!(
            "echolens: --reveal: account ids are written as they are, not pseudonymised; do not share these outputs"
        );
    }
    match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Cluster(command) => cluster::run(command),
        Command::Ingest(args) => ingest::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Coordination(args) => coordination::run(args),
        Command::Reuse(args) => reuse::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Keyness(args) => vocabulary::keyness(args),
        Command::Diffusion(args) => vocabulary::diffusion(args),
        Command::Timeline(args) => vocabulary::timeline(args),
        Command::Export(command) => export::run(command),
    }
}
