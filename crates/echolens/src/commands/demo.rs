use std::process::ExitCode;

use anyhow::{Context, Result};
use echolens_store::Store;

use super::runtime;
use crate::args::DemoArgs;
use crate::pipeline::{self, IngestOptions};

/// The demo's seed: the demo corpus is the same on every machine.
const SEED: u64 = 20_240_301;

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let corpus = args.out.join("corpus");
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let truth = echolens_demo::generate(&corpus, args.messages, SEED)
        .with_context(|| format!("writing the demo corpus to {}", corpus.display()))?;
    let truth_path = args.out.join("truth.json");
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)?)
        .with_context(|| format!("writing {}", truth_path.display()))?;
    if !args.json {
        println!(
            "demo corpus: {} messages in {} ({} coordinated groups, {} copy cascade, {} planted terms; {} says which)",
            truth.messages,
            corpus.display(),
            truth.campaigns.len(),
            truth.cascades.len(),
            truth.vocabulary.terms.len(),
            truth_path.display()
        );
    }
    let rt = runtime()?;
    let store_dir = args.out.join("store");
    let mut store = rt
        .block_on(Store::open_or_create(&store_dir))
        .with_context(|| format!("opening the store {}", store_dir.display()))?;
    let options = IngestOptions { commit_rows: 100_000, progress: !args.json, ..IngestOptions::default() };
    let report = pipeline::ingest(&rt, &mut store, &[corpus], options)?;
    let stats = rt.block_on(store.stats())?;
    if args.json {
        println!("{}", serde_json::json!({"ingest": report, "stats": stats}));
    } else {
        super::ingest::print_report(&report, &store);
        println!();
        super::stats::print_stats(&stats);
        println!();
        println!(
            "next: echolens sql --store {} \"SELECT platform, count(*) FROM messages GROUP BY platform\"",
            store_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
