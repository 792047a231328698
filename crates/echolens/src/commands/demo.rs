use std::process::ExitCode;

use anyhow::{Context, Result};

use echolens_analysis::coordination::Params;
use echolens_analysis::reuse::{Params as ReuseParams, Role};
use echolens_analysis::select::{Selection, Selector};
use echolens_analysis::vocabulary::diffusion::{self, Terms};
use echolens_analysis::vocabulary::keyness;
use echolens_demo::score;
use echolens_store::Store;

use super::runtime;
use crate::args::{DemoArgs, DemoLayout};
use echolens::ingest::{self as import, IngestOptions};

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
    let mut store = rt
        .block_on(Store::open_or_create(&store_dir))
        .with_context(|| format!("opening the store {}", store_dir.display()))?;
    let options = IngestOptions { commit_rows: 100_000, progress: !args.json, ..IngestOptions::default() };
    let report = import::ingest(&rt, &mut store, &[corpus], options)?;
    store.unlock();
    let stats = rt.block_on(store.stats())?;
    if args.ingest_only {
        if args.json {
            println!("{}", serde_json::json!({"ingest": report, "stats": stats}));
        }
        return Ok(ExitCode::SUCCESS);
    }

    // Coordination with the defaults, and how the planted groups came out.
    use echolens_analysis::TableFormat::Csv;
    let coord_dir = args.out.join("coordination");
    let coordination = rt.block_on(async {
        let ctx = echolens_analysis::analysis_session(1 << 30)?;
        store.register(&ctx).await?;
        anyhow::Ok(echolens_analysis::coordination::run(&ctx, Params::default()).await?)
    })?;
    let extra = serde_json::json!({"command": "echolens demo", "echolens_version": env!("CARGO_PKG_VERSION")});
    echolens_analysis::coordination::write_outputs(&coordination, &coord_dir, Csv, extra.clone())
        .with_context(|| format!("writing {}", coord_dir.display()))?;

    // Reuse cascades with the defaults, scored against the planted ones.
    let reuse_dir = args.out.join("reuse");
    let reuse = rt.block_on(async {
        let ctx = echolens_analysis::analysis_session(1 << 30)?;
        store.register(&ctx).await?;
        anyhow::Ok(echolens_analysis::reuse::run(&ctx, ReuseParams::default()).await?)
    })?;
    echolens_analysis::reuse::write_outputs(&reuse, &reuse_dir, Csv, extra.clone())
        .with_context(|| format!("writing {}", reuse_dir.display()))?;
    let found: Vec<score::FoundMember> = reuse
        .members
        .iter()
        .map(|m| score::FoundMember { key: &m.key, cascade: m.cascade, origin: m.role == Role::Origin })
        .collect();
    let planted = score::cascades(&found, &truth.cascades);

    // Vocabulary: the source channel against the other channels of its language, then how the planted terms
    // spread, both checked against the truth.
    let voc = &truth.vocabulary;
    let target = Selection::new(vec![Selector::Channel(voc.source_channel.clone())]);
    let reference = Selection::new(
        voc.adoption_day
            .iter()
            .filter(|(c, _)| *c != voc.source_channel)
            .map(|(c, _)| Selector::Channel(c.clone()))
            .collect(),
    );
    let keyness_dir = args.out.join("keyness");
    let diffusion_dir = args.out.join("diffusion");
    let (keyness, diffusion) = rt.block_on(async {
        let ctx = echolens_analysis::analysis_session(1 << 30)?;
        store.register(&ctx).await?;
        let k = keyness::run(&ctx, &target, Some(&reference), keyness::Params::default()).await?;
        let d = diffusion::run(&ctx, Terms::new(voc.terms.clone())?, &Selection::default()).await?;
        anyhow::Ok((k, d))
    })?;
    keyness::write_outputs(&keyness, &keyness_dir, Csv, extra.clone())
        .with_context(|| format!("writing {}", keyness_dir.display()))?;
    diffusion::write_outputs(&diffusion, &diffusion_dir, Csv, extra.clone())
        .with_context(|| format!("writing {}", diffusion_dir.display()))?;
    let ranks: Vec<Option<usize>> =
        voc.terms.iter().map(|t| keyness.terms.iter().position(|k| &k.term == t).map(|r| r + 1)).collect();
    let days_found = voc
        .adoption_day
        .iter()
        .filter(|(c, day)| {
            diffusion.channels.iter().any(|a| {
                a.channel_id == *c
                    && a.first_use.is_some_and(|t| (t / 1_000_000 - echolens_demo::START).div_euclid(86_400) == *day)
            })
        })
        .count();
    let net = &coordination.network;
    let summaries = echolens_analysis::coordination::cluster_summaries(&coordination);
    let clusters: Vec<(usize, Vec<&str>)> =
        net.clusters.iter().map(|cl| (cl.id, cl.members.iter().map(|&m| net.accounts[m].as_str()).collect())).collect();
    let recovered: Vec<serde_json::Value> = score::groups(&clusters, &truth.campaigns)
        .into_iter()
        .map(|g| {
            // What the exports say about the cluster's accounts (the planted account batch shows here).
            let facts = summaries.iter().find(|s| s.cluster == g.cluster);
            serde_json::json!({
                "campaign": g.campaign, "members": g.members, "cluster": g.cluster, "overlap": g.overlap,
                "created_together": facts.map(|s| s.created_together.as_str()),
                "clients": facts.map(|s| s.clients.as_str()),
                "few_followers": facts.map(|s| s.few_followers.as_str()),
                "top_domains": facts.map(|s| s.top_domains.as_str()),
            })
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
        for r in &recovered {
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
