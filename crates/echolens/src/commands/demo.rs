use std::process::ExitCode;

use anyhow::{Context, Result};
use std::collections::HashMap;

use echolens_analysis::coordination::Params;
use echolens_analysis::reuse::{Member, Params as ReuseParams, Role};
use echolens_analysis::select::{Selection, Selector};
use echolens_analysis::vocabulary::diffusion::{self, Terms};
use echolens_analysis::vocabulary::keyness;
use echolens_store::Store;

use super::runtime;
use crate::args::{DemoArgs, DemoLayout};
use crate::pipeline::{self, IngestOptions};

/// The demo's seed: the demo corpus is the same on every machine.
pub(crate) const SEED: u64 = 20_240_301;

/// Write the demo corpus into `corpus` and its truth to `truth_path`.
pub(crate) fn write_corpus(
    corpus: &std::path::Path,
    truth_path: &std::path::Path,
    options: &echolens_demo::Options,
) -> Result<echolens_demo::Truth> {
    std::fs::create_dir_all(corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let truth = echolens_demo::generate_with(corpus, options)
        .with_context(|| format!("writing the demo corpus to {}", corpus.display()))?;
    std::fs::write(truth_path, serde_json::to_string_pretty(&truth)?)
        .with_context(|| format!("writing {}", truth_path.display()))?;
    Ok(truth)
}

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
    let report = pipeline::ingest(&rt, &mut store, &[corpus], options)?;
    store.unlock();
    let stats = rt.block_on(store.stats())?;
    if args.ingest_only {
        if args.json {
            println!("{}", serde_json::json!({"ingest": report, "stats": stats}));
        }
        return Ok(ExitCode::SUCCESS);
    }

    // Coordination with the defaults, and how the planted groups came out.
    let coord_dir = args.out.join("coordination");
    let coordination = rt.block_on(async {
        let ctx = echolens_analysis::analysis_session(1 << 30)?;
        store.register(&ctx).await?;
        anyhow::Ok(echolens_analysis::coordination::run(&ctx, Params::default()).await?)
    })?;
    let extra = serde_json::json!({"command": "echolens demo", "echolens_version": env!("CARGO_PKG_VERSION")});
    echolens_analysis::coordination::write_outputs(&coordination, &coord_dir, extra.clone())
        .with_context(|| format!("writing {}", coord_dir.display()))?;

    // Reuse cascades with the defaults, scored against the planted ones.
    let reuse_dir = args.out.join("reuse");
    let reuse = rt.block_on(async {
        let ctx = echolens_analysis::analysis_session(1 << 30)?;
        store.register(&ctx).await?;
        anyhow::Ok(echolens_analysis::reuse::run(&ctx, ReuseParams::default()).await?)
    })?;
    echolens_analysis::reuse::write_outputs(&reuse, &reuse_dir, extra.clone())
        .with_context(|| format!("writing {}", reuse_dir.display()))?;
    let planted = score_cascades(&reuse.members, &truth.cascades);

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
    keyness::write_outputs(&keyness, &keyness_dir, extra.clone())
        .with_context(|| format!("writing {}", keyness_dir.display()))?;
    diffusion::write_outputs(&diffusion, &diffusion_dir, extra.clone())
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
            // What the exports say about the cluster's accounts (the planted account batch shows here).
            let facts = summaries.iter().find(|s| s.cluster == cluster);
            serde_json::json!({
                "campaign": c.id, "members": members.len(), "cluster": cluster, "overlap": overlap,
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

/// How found cascades match planted ones, over pairs of messages: a pair is found when both are in one found
/// cascade, planted when both are in one planted cascade. Precision counts every found pair that involves a
/// planted message (a planted copy glued to something else is a false pair).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct CascadeScore {
    /// Planted cascades.
    pub cascades: usize,
    /// Planted cascades whose origin is the origin of the found cascade holding most of their members.
    pub origins_found: usize,
    /// Found pairs that are planted pairs, over found pairs involving a planted message.
    pub precision: f64,
    /// Planted pairs found.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

pub(crate) fn score_cascades(members: &[Member], planted: &[echolens_demo::Cascade]) -> CascadeScore {
    let truth: HashMap<&str, usize> =
        planted.iter().flat_map(|c| c.member_keys.iter().map(move |k| (k.as_str(), c.id))).collect();
    let found: HashMap<&str, (usize, Role)> = members.iter().map(|m| (m.key.as_str(), (m.cascade, m.role))).collect();
    let mut by_found: HashMap<usize, Vec<&str>> = HashMap::new();
    for m in members {
        by_found.entry(m.cascade).or_default().push(&m.key);
    }
    let (mut tp, mut found_pairs) = (0u64, 0u64);
    for keys in by_found.values() {
        let planted_in: Vec<usize> = keys.iter().filter_map(|k| truth.get(k).copied()).collect();
        let n = keys.len() as u64;
        let p = planted_in.len() as u64;
        // Pairs with at least one planted message.
        found_pairs += n * (n - 1) / 2 - (n - p) * (n - p).saturating_sub(1) / 2;
        let mut per: HashMap<usize, u64> = HashMap::new();
        for t in planted_in {
            *per.entry(t).or_default() += 1;
        }
        tp += per.values().map(|c| c * (c - 1) / 2).sum::<u64>();
    }
    let planted_pairs: u64 = planted.iter().map(|c| (c.member_keys.len() * (c.member_keys.len() - 1) / 2) as u64).sum();
    let mut origins_found = 0;
    for c in planted {
        let mut votes: HashMap<usize, usize> = HashMap::new();
        for k in &c.member_keys {
            if let Some(&(f, _)) = found.get(k.as_str()) {
                *votes.entry(f).or_default() += 1;
            }
        }
        let best = votes.into_iter().max_by_key(|&(f, n)| (n, std::cmp::Reverse(f))).map(|(f, _)| f);
        if best.is_some() && found.get(c.origin_key.as_str()) == best.map(|f| (f, Role::Origin)).as_ref() {
            origins_found += 1;
        }
    }
    let precision = if found_pairs == 0 { 0.0 } else { tp as f64 / found_pairs as f64 };
    let recall = if planted_pairs == 0 { 0.0 } else { tp as f64 / planted_pairs as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    CascadeScore { cascades: planted.len(), origins_found, precision, recall, f1 }
}
