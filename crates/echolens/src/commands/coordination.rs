use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use echolens_analysis::coordination::{self, Params};
use echolens_store::Store;

use super::{run_info, runtime, spinner};
use crate::args::CoordinationArgs;

pub(super) fn run(args: CoordinationArgs) -> Result<ExitCode> {
    let params = Params {
        kinds: args.kinds.clone(),
        window_s: args.window.params().0,
        window_auto: args.window.params().1,
        min_weight: args.min_weight,
        min_tokens: args.min_tokens,
        max_key_accounts: args.max_key_accounts,
        crowd_size: args.crowd_size,
        horizon: args.horizon,
        episodes: !args.keys_once,
        combine_kinds: args.combine_kinds,
        evidence: args.evidence,
        similarity: args.similarity,
        shingle: args.shingle,
        null_runs: args.null_runs,
        seed: args.seed,
        sweep: args.sweep.clone(),
        sweep_similar: args.sweep_similar,
        quality: args.quality,
        resolution: args.resolution,
    };
    let store_path = &args.store.store;
    let started = Instant::now();
    let spinner = spinner("coordination");
    let rt = runtime()?;
    let (result, version, pseudonyms) = rt
        .block_on(async {
            let store = Store::open(store_path).await?;
            let ctx = echolens::run::session(&store, args.run.memory, &args.run.engine()).await?;
            let last = std::sync::Mutex::new((Instant::now(), String::from("opening the store")));
            let stage = |s: &str| {
                spinner.set_message(s.to_owned());
                let mut last = last.lock().expect("stage lock");
                if args.timings {
                    eprintln!("{:>8.2} s  {}", last.0.elapsed().as_secs_f64(), last.1);
                }
                *last = (Instant::now(), s.to_owned());
            };
            let mut result = coordination::run_with_progress(&ctx, params, &stage).await?;
            stage("done");
            let pseudonyms = super::pseudonyms(&store, &ctx).await?;
            if !args.run.reveal {
                pseudonyms.coordination(&mut result);
            }
            anyhow::Ok((result, store.messages_version(), pseudonyms))
        })
        .with_context(|| format!("coordination on the store {}", store_path.display()))?;
    spinner.finish_and_clear();
    let extra = run_info(store_path, version, started, &pseudonyms, args.run.reveal);
    let written = coordination::write_outputs(&result, &args.out, args.run.table_format(), extra)
        .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
    if args.run.json {
        println!("{}", serde_json::to_string_pretty(&written.summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut per_kind = std::collections::BTreeMap::new();
    for i in 0..result.edges.len() {
        *per_kind.entry(result.edges.kind(i).name()).or_insert(0u64) += 1;
    }
    let p = &result.params;
    println!(
        "window {} s, min weight {}, min tokens {}, max key accounts {}",
        p.window_s, p.min_weight, p.min_tokens, p.max_key_accounts
    );
    for kind in &p.kinds {
        println!("  {:<8} {:>8} edges", kind.name(), per_kind.get(kind.name()).copied().unwrap_or(0));
    }
    println!("accounts   {}", result.network.accounts.len());
    println!("clusters   {}", result.network.clusters.len());
    for c in result.network.clusters.iter().take(5) {
        println!("  cluster {:>3}: {} accounts", c.id, c.members.len());
    }
    let lo = &result.left_out;
    println!(
        "left out   {} messages without author, {} short texts, {} keys over {} accounts",
        lo.messages_without_author,
        lo.short_texts,
        lo.over_max_keys.values().sum::<u64>(),
        p.max_key_accounts
    );
    println!(
        "wrote      {} files to {} in {:.1} s",
        written.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
