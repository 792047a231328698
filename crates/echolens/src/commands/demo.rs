use std::process::ExitCode;

use anyhow::{Context, Result};
use echolens_analysis::coordination::Params;
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

    // Coordination with the defaults, and how the planted groups came out.
    let coord_dir = args.out.join("coordination");
    let coordination = rt.block_on(async {
        let ctx = echolens_analysis::analysis_session(1 << 30)?;
        store.register(&ctx).await?;
        anyhow::Ok(echolens_analysis::coordination::run(&ctx, Params::default()).await?)
    })?;
    let extra = serde_json::json!({"command": "echolens demo", "echolens_version": env!("CARGO_PKG_VERSION")});
    echolens_analysis::coordination::write_outputs(&coordination, &coord_dir, extra)
        .with_context(|| format!("writing {}", coord_dir.display()))?;
    let net = &coordination.network;
    let recovered: Vec<serde_json::Value> = truth
        .campaigns
        .iter()
        .map(|c| {
            let members: std::collections::HashSet<&str> = c.members.iter().map(String::as_str).collect();
            let (cluster, overlap) = net
                .clusters
                .iter()
                .map(|cl| {
                    let hit = cl.members.iter().filter(|&&m| members.contains(net.accounts[m].as_str())).count();
                    (cl.id, hit as f64 / cl.members.len().max(members.len()) as f64)
                })
                .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best });
            serde_json::json!({"campaign": c.id, "members": members.len(), "cluster": cluster, "overlap": overlap})
        })
        .collect();

    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "ingest": report,
                "stats": stats,
                "coordination": {
                    "edges": coordination.edges.len(),
                    "clusters": net.clusters.len(),
                    "out": coord_dir.display().to_string(),
                    "planted_groups": recovered,
                },
            })
        );
    } else {
        super::ingest::print_report(&report, &store);
        println!();
        super::stats::print_stats(&stats);
        println!();
        println!(
            "coordination: {} edges, {} clusters (window 60 s, min weight 2) in {}",
            coordination.edges.len(),
            net.clusters.len(),
            coord_dir.display()
        );
        for r in &recovered {
            println!(
                "  planted group {} ({} accounts) is cluster {} (overlap {:.2})",
                r["campaign"],
                r["members"],
                r["cluster"],
                r["overlap"].as_f64().unwrap_or(0.0)
            );
        }
        println!();
        println!(
            "next: echolens sql --store {} \"SELECT platform, count(*) FROM messages GROUP BY platform\"",
            store_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
