use std::process::ExitCode;

use anyhow::{Context, Result};
use echolens_store::{Stats, Store};

use super::runtime;
use crate::args::StatsArgs;

pub(super) fn run(args: StatsArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let stats = rt.block_on(async {
        let store = Store::open(&args.store.store).await?;
        store.stats().await
    });
    let stats = stats.with_context(|| format!("reading the store {}", args.store.store.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print_stats(&stats);
    }
    if stats.duplicate_keys > 0 {
        eprintln!(
            "error: {} rows of the store repeat a key that another row has: every count above is off by them. The \
             store was written by two processes at once (an echolens older than its write lock) or by another \
             tool; ingest the exports again into a new store.",
            stats.duplicate_keys
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn print_stats(s: &Stats) {
    println!("messages     {}", s.messages);
    println!("channels     {}", s.channels);
    println!("authors      {}", s.authors);
    let platforms: Vec<String> = s.platforms.iter().map(|(p, n)| format!("{p} {n}")).collect();
    println!("platforms    {}", platforms.join(", "));
    println!("time range   {} … {}", s.first.as_deref().unwrap_or("-"), s.last.as_deref().unwrap_or("-"));
    if s.inexact_times > 0 {
        println!("inexact      {} messages have local times with an unknown offset", s.inexact_times);
    }
    println!("quarantined  {}", s.quarantined);
    for (reason, n) in &s.quarantine_reasons {
        println!("  {n:>8}  {reason}");
    }
}
