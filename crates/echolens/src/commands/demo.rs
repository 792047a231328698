use std::process::ExitCode;

use anyhow::{Context, Result};

use super::runtime;
use crate::args::{DemoArgs, DemoLayout};

/// The demo's seed: the demo corpus is the same on every machine.
pub(crate) use echolens::run::{SEED, write_corpus};

/// `demo --generate N`: the corpus, its truth and (when asked) the toolkit CSV, nothing else.
fn generate_only(args: &DemoArgs, messages: usize) -> Result<ExitCode> {
    let corpus = args.out.join("corpus");
    let truth_path = args.out.join("truth.json");
    if corpus.exists() {
        std::fs::remove_dir_all(&corpus).with_context(|| format!("clearing {}", corpus.display()))?;
    }
    let toolkit_csv = args.toolkit_csv.then(|| args.out.join("toolkit.csv"));
    let options = echolens_demo::Options {
        messages,
        seed: args.seed,
        campaigns: args.campaigns,
        layout: match args.layout {
            DemoLayout::Mixed => echolens_demo::Layout::Mixed,
            DemoLayout::Jsonl => echolens_demo::Layout::Jsonl,
        },
        toolkit_csv: toolkit_csv.clone(),
        crowds: args.crowds,
    };
    let truth = write_corpus(&corpus, &truth_path, &options)?;
    let summary = serde_json::json!({
        "messages": truth.messages,
        "seed": truth.seed,
        "campaigns": truth.campaigns.len(),
        "planted_messages": truth.campaigns.iter().map(|c| c.message_keys.len()).sum::<usize>(),
        "cascades": truth.cascades.len(),
        "crowds": truth.crowds.len(),
        "corpus": corpus.display().to_string(),
        "truth": truth_path.display().to_string(),
        "toolkit_csv": toolkit_csv.map(|p| p.display().to_string()),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "generated {} messages ({} coordinated groups, {} copy cascades) in {}; truth in {}",
            truth.messages,
            truth.campaigns.len(),
            truth.cascades.len(),
            corpus.display(),
            truth_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(args: DemoArgs) -> Result<ExitCode> {
    if let Some(messages) = args.generate {
        return generate_only(&args, messages);
    }
    let corpus = args.out.join("corpus");
    let truth_path = args.out.join("truth.json");
    let options =
        echolens_demo::Options { campaigns: args.campaigns, ..echolens_demo::Options::new(args.messages, args.seed) };
    let truth = write_corpus(&corpus, &truth_path, &options)?;
    if !args.json {
        println!(
            "demo corpus: {} messages in {} ({} coordinated groups, {} copy cascades, {} planted terms; {} says which)",
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
    let echolens::demo::Ingested { store, report, stats } =
        echolens::demo::ingest(&rt, &corpus, &args.out, !args.json)?;
    if args.ingest_only {
        if args.json {
            println!("{}", serde_json::json!({"ingest": report, "stats": stats}));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let echolens::demo::Measured {
        coordination,
        planted_groups: recovered,
        reuse,
        planted_cascades: planted,
        planted_term_ranks: ranks,
        adoption_days_found: days_found,
        folders: [coord_dir, reuse_dir, keyness_dir, diffusion_dir],
    } = echolens::demo::measure(&rt, &store, &truth, &args.out)?;
    let voc = &truth.vocabulary;
    let net = &coordination.network;

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
                    "account_batch": truth.account_batch,
                },
                "reuse": {
                    "cascades": reuse.counts.cascades,
                    "members": reuse.counts.members,
                    "out": reuse_dir.display().to_string(),
                    "planted_cascades": planted,
                },
                "vocabulary": {
                    "planted_term_ranks": ranks,
                    "adoption_days_found": days_found,
                    "adopters_planted": voc.adoption_day.len(),
                    "out": [keyness_dir.display().to_string(), diffusion_dir.display().to_string()],
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
        for r in recovered {
            println!(
                "  planted group {} ({} accounts) is cluster {} (overlap {:.2})",
                r["campaign"],
                r["members"],
                r["cluster"],
                r["overlap"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "reuse: {} cascades ({} messages) in {}",
            reuse.counts.cascades,
            reuse.counts.members,
            reuse_dir.display()
        );
        println!(
            "  planted cascades: {} of {} origins found, pair F1 {:.3} (precision {:.3}, recall {:.3})",
            planted.origins_found, planted.cascades, planted.f1, planted.precision, planted.recall
        );
        let shown: Vec<String> = ranks.iter().map(|r| r.map_or("-".to_owned(), |r| r.to_string())).collect();
        println!(
            "vocabulary: the planted terms rank {} in keyness of the source channel ({}); {} of {} channels' \
             adoption days found exactly ({})",
            shown.join(", "),
            keyness_dir.display(),
            days_found,
            voc.adoption_day.len(),
            diffusion_dir.display()
        );
        println!();
        println!(
            "next: echolens sql --store {} \"SELECT platform, count(*) FROM messages GROUP BY platform\"",
            store_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
