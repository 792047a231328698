use std::process::ExitCode;

use anyhow::{Context, Result};
use echolens_store::Store;

use super::runtime;
use crate::args::IngestArgs;
use crate::pipeline::{self, IngestOptions, IngestReport};

pub fn run(args: IngestArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let mut store = rt
        .block_on(Store::open_or_create(&args.store.store))
        .with_context(|| format!("opening the store {}", args.store.store.display()))?;
    let options = IngestOptions {
        format: args.format,
        platform: args.platform.clone(),
        commit_rows: args.commit_rows,
        progress: !args.json,
    };
    let report = pipeline::ingest(&rt, &mut store, &args.paths, options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &store);
    }
    if args.strict && report.quarantined > 0 {
        eprintln!("error: {} records were quarantined (--strict)", report.quarantined);
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_report(r: &IngestReport, store: &Store) {
    let mb = r.bytes as f64 / 1e6;
    println!(
        "read {} records from {} files ({mb:.1} MB in {:.1} s, {:.0} records/s)",
        r.records,
        r.files.len(),
        r.seconds,
        r.records as f64 / r.seconds.max(1e-3)
    );
    println!("  messages {}: new {}, updated {}, unchanged {}", r.messages, r.new, r.updated, r.unchanged);
    let kinds: Vec<String> = r.skipped_kinds.iter().map(|(k, n)| format!("{n} {k}s")).collect();
    println!(
        "  quarantined {}, skipped {}{}",
        r.quarantined,
        r.skipped,
        if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) }
    );
    if r.quarantined > 0 {
        println!("  see why: echolens sql --store {} \"SELECT * FROM quarantine\"", store.root().display());
    }
    if !r.not_recognised.is_empty() {
        println!("  {} files in the folders given are not exports and were passed over:", r.not_recognised.len());
        for p in r.not_recognised.iter().take(10) {
            println!("    {p}");
        }
        if r.not_recognised.len() > 10 {
            println!("    … and {} more", r.not_recognised.len() - 10);
        }
    }
    println!("  store {} (messages table version {})", store.root().display(), store.messages_version());
}
