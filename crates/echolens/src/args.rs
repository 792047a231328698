//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Measure online influence campaigns in exports of social-media messages.
#[derive(Debug, Parser)]
#[command(name = "echolens", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read exports into the store (files or folders; formats recognised by content).
    Ingest(IngestArgs),
    /// What the store holds: messages, channels, authors, platforms, time range, quarantine.
    Stats(StatsArgs),
    /// Run SQL over the `messages` and `quarantine` tables.
    Sql(SqlArgs),
    /// Build the demo corpus (planted campaigns), ingest it and print its stats.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// The store folder.
    #[arg(long, default_value = "echolens-store", env = "ECHOLENS_STORE")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Export files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Read every file as this format instead of recognising it:
    /// telegram, jsonl, x-archive, toolkit-csv, twarc, telethon-json.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<echolens_ingest::Format>,
    /// Platform name for formats that do not state one (JSONL without `platform`, toolkit CSV).
    #[arg(long)]
    pub platform: Option<String>,
    /// Exit with status 2 when any record was quarantined.
    #[arg(long)]
    pub strict: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// New messages per Delta commit (bounds memory and the work an interrupted run redoes).
    #[arg(long, default_value_t = 100_000, hide = true)]
    pub commit_rows: usize,
}

fn parse_format(s: &str) -> Result<echolens_ingest::Format, String> {
    echolens_ingest::Format::from_name(s).ok_or_else(|| {
        let names: Vec<_> = echolens_ingest::Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; expected one of {}", names.join(", "))
    })
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT platform, count(*) FROM messages GROUP BY platform".
    pub query: String,
    #[command(flatten)]
    pub store: StoreArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo corpus and its store go.
    #[arg(long, default_value = "echolens-demo")]
    pub out: PathBuf,
    /// Messages in the demo corpus.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Print the stats as JSON.
    #[arg(long)]
    pub json: bool,
}
