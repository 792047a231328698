use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use echolens::compare::Options;
use echolens_analysis::compare;
use echolens_store::Store;

use super::{run_info, runtime, spinner};
use crate::args::CompareArgs;

pub(super) fn run(args: CompareArgs) -> Result<ExitCode> {
    let options = Options {
        sides: args.sides.clone(),
        select: args.select.clone(),
        tz: args.tz,
        min_z: args.min_z,
        top_terms: args.top_terms,
        lead_hours: args.lead_hours,
        min_adopter_uses: args.min_adopter_uses,
        null_runs: args.null_runs,
        reveal: args.run.reveal,
    };
    // The sides are checked before the store is opened: a typo should not cost a run.
    compare::Side::parse_all(&options.sides, Some(options.tz))?;
    let store_path = &args.store.store;
    let started = Instant::now();
    let spinner = spinner("compare");
    spinner.set_message("measuring the sides");
    let rt = runtime()?;
    let (result, version, pseudonyms) = rt
        .block_on(async {
            let store = Store::open(store_path).await?;
            let ctx = echolens::run::session(&store, args.run.memory, &args.run.engine()).await?;
            let pseudonyms = super::pseudonyms(&store, &ctx).await?;
            let result = echolens::compare::run(&ctx, &pseudonyms, &options).await?;
            anyhow::Ok((result, store.messages_version(), pseudonyms))
        })
        .with_context(|| format!("compare on the store {}", store_path.display()))?;
    spinner.finish_and_clear();
    let extra = run_info(store_path, version, started, &pseudonyms, args.run.reveal);
    let written = compare::write_outputs(&result, &args.out, args.run.table_format(), extra)
        .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
    if args.run.json {
        println!("{}", serde_json::to_string_pretty(&written.summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "no data".to_owned());
    println!("{} messages compared; {} on more than one side", result.corpus_messages, result.overlap_messages);
    for s in &result.sides {
        println!("side {}: {}", s.side, s.selection);
        println!(
            "  presence     {} messages ({:.1}% of the corpus), {} channels, {} accounts, {} active days; {}",
            s.messages,
            100.0 * s.share_of_corpus,
            s.channels,
            s.accounts,
            s.active_days,
            s.platforms.join(", ")
        );
        println!(
            "  vocabulary   {} marking terms, {} introduced; adopters outside: {}",
            s.significant_terms,
            s.introduced_terms,
            or_none(s.vocabulary_adopters.map(|n| n.to_string()))
        );
        println!(
            "  copying      {} cascades begun, {} copies elsewhere in {} channels; {} copies of others",
            s.cascades_originated, s.copies_elsewhere, s.channels_reached, s.copies_from_others
        );
        println!(
            "  coordination {} of {} accounts in clusters ({}), writing {} messages",
            s.accounts_in_clusters,
            s.accounts,
            or_none(s.clustered_account_share.map(|x| format!("{:.1}%", 100.0 * x))),
            s.messages_by_clustered_accounts
        );
    }
    for note in &result.notes {
        println!("note: {note}");
    }
    println!("wrote {} files to {} in {:.1} s", written.len(), args.out.display(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
