use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use echolens_analysis::reuse::{self, Params};
use echolens_store::Store;

use super::{run_info, runtime, spinner};
use crate::args::ReuseArgs;

pub(super) fn run(args: ReuseArgs) -> Result<ExitCode> {
    let params = Params {
        min_tokens: args.min_tokens,
        boilerplate_share: args.boilerplate_share,
        boilerplate_min_messages: args.boilerplate_min_messages,
        min_channels: args.min_channels,
        ..Params::new(args.threshold, args.shingle)
    };
    let store_path = &args.store.store;
    let started = Instant::now();
    let spinner = spinner("reuse");
    spinner.set_message("matching texts");
    let rt = runtime()?;
    let (result, version, pseudonyms) = rt
        .block_on(async {
            let store = Store::open(store_path).await?;
            let ctx = echolens::run::session(&store, args.run.memory, &args.run.engine()).await?;
            let mut result = reuse::run(&ctx, params).await?;
            let pseudonyms = super::pseudonyms(&store, &ctx).await?;
            if !args.run.reveal {
                pseudonyms.reuse(&mut result);
            }
            anyhow::Ok((result, store.messages_version(), pseudonyms))
        })
        .with_context(|| format!("reuse on the store {}", store_path.display()))?;
    spinner.finish_and_clear();
    let extra = run_info(store_path, version, started, &pseudonyms, args.run.reveal);
    let written = reuse::write_outputs(&result, &args.out, args.run.table_format(), extra)
        .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
    if args.run.json {
        println!("{}", serde_json::to_string_pretty(&written.summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let p = &result.params;
    let c = &result.counts;
    println!(
        "threshold {} on {}-word shingles ({} LSH bands), min tokens {}, min channels {}",
        p.threshold, p.shingle, p.bands, p.min_tokens, p.min_channels
    );
    println!("messages   {}", c.messages);
    println!(
        "links      {} exact, {} near-duplicate, {} forwards, {} reposts",
        c.exact_links, c.near_links, c.forwards_linked, c.reposts_linked
    );
    println!("cascades   {} reaching {}+ channels, {} messages", c.cascades, p.min_channels, c.members);
    for s in reuse::summaries(&result).iter().filter(|s| s.channels >= 3).take(5) {
        println!("  cascade {:>4}: {} messages in {} channels from {}", s.cascade, s.size, s.channels, s.origin_key);
    }
    println!(
        "left out   {} cascades in fewer channels; boilerplate: {} shingles in {} channels",
        c.cascades_below_min_channels, c.boilerplate_shingles, c.boilerplate_channels
    );
    println!(
        "wrote      {} files to {} in {:.1} s",
        written.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
