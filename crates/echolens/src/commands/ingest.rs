use std::process::ExitCode;

use anyhow::{Context, Result};
use echolens_store::Store;

use super::runtime;
use crate::args::IngestArgs;
use echolens::ingest::{self as import, IngestOptions, IngestReport};

pub(super) fn run(args: IngestArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let mut store = rt
        .block_on(Store::open_or_create(&args.store.store))
        .with_context(|| format!("opening the store {}", args.store.store.display()))?;
    let options = IngestOptions {
        format: args.format,
        platform: args.platform.clone(),
        times: args.time_range,
        utc_offset: args.utc_offset,
        commit_rows: args.commit_rows,
        progress: !args.json,
    };
    let report = import::ingest(&rt, &mut store, &args.paths, options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &store);
    }
    let data_passed_over: Vec<&String> = report.not_recognised.iter().filter(|p| looks_like_data(p)).collect();
    if args.strict && (report.quarantined > 0 || !data_passed_over.is_empty() || !report.passed_over.is_empty()) {
        if report.quarantined > 0 {
            eprintln!("error: {} records were quarantined (--strict)", report.quarantined);
        }
        if !data_passed_over.is_empty() {
            eprintln!(
                "error: {} data files in the folders given were not recognised as exports and were passed over \
                 (--strict; --format reads them as a given format): {}",
                data_passed_over.len(),
                data_passed_over.iter().take(5).map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        if !report.passed_over.is_empty() {
            eprintln!(
                "error: {} entries of the paths given were not read (--strict): {}",
                report.passed_over.len(),
                report
                    .passed_over
                    .iter()
                    .take(5)
                    .map(|p| format!("{} ({})", p.path, p.reason))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a file passed over in a folder looks like data that was meant to be read (by its extension), as
/// opposed to the READMEs and licences that sit beside exports.
fn looks_like_data(path: &str) -> bool {
    let ext = std::path::Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "json" | "jsonl" | "ndjson" | "csv" | "tsv")
}

pub(super) fn print_report(r: &IngestReport, store: &Store) {
    let mb = r.bytes as f64 / 1e6;
    println!(
        "read {} records from {} files ({mb:.1} MB in {:.1} s, {:.0} records/s)",
        r.records,
        r.files.len(),
        r.seconds,
        r.records as f64 / r.seconds.max(1e-3)
    );
    println!("  messages {}: new {}, updated {}, unchanged {}", r.messages, r.new, r.updated, r.unchanged);
    if r.accounts_new > 0 {
        println!("  accounts described: {} new (the store's accounts table)", r.accounts_new);
    }
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
    if r.orphans_removed > 0 {
        println!(
            "  removed {} files of the store that no commit referenced (left by an interrupted run)",
            r.orphans_removed
        );
    }
    if !r.passed_over.is_empty() {
        println!("  {} entries of the paths given were not read:", r.passed_over.len());
        for p in r.passed_over.iter().take(10) {
            println!("    {}: {}", p.path, p.reason);
        }
        if r.passed_over.len() > 10 {
            println!("    … and {} more", r.passed_over.len() - 10);
        }
    }
    if let Some(n) = r.indexed {
        println!("  search index: {n} messages added (kept current for `serve`)");
    }
    println!("  store {} (messages table version {})", store.root().display(), store.messages_version());
}
