//! `analyze`: the arguments into [`echolens::analyze::Options`], the outcome printed.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use echolens::analyze::{self, Options};

use crate::args::AnalyzeArgs;

pub(super) fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (window_s, window_auto) = args.window.params();
    let options = Options {
        paths: args.paths,
        out: args.out,
        store: args.store,
        demo_messages: args.demo_messages,
        input_format: args.input_format,
        platform: args.platform,
        time_range: args.time_range,
        utc_offset: args.utc_offset,
        campaign: args.campaign,
        sides: args.sides,
        tz: args.tz,
        window_s,
        window_auto,
        sweep: args.sweep,
        null_runs: args.null_runs,
        top_terms: args.top_terms,
        format: args.run.table_format(),
        memory: args.run.memory,
        engine: args.run.engine(),
        reveal: args.run.reveal,
        quiet: args.run.json,
        caps: echolens_report::Caps::default(),
        stix: args.stix.then(|| args.stix_options.options(args.run.reveal)),
    };
    let outcome = analyze::run(&options)?;
    if args.run.json {
        println!("{}", serde_json::to_string_pretty(&outcome.summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = &outcome.summary;
    let count = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    println!(
        "{} messages in {} channels; {} coordination clusters; {} reuse cascades; {} campaign sources",
        count(&s["corpus"]["messages"]),
        count(&s["corpus"]["channels"]),
        count(&s["coordination"]["clusters"]),
        count(&s["reuse"]["cascades"]),
        s["campaigns"].as_array().map_or(0, Vec::len)
    );
    for note in &outcome.notes {
        println!("note: {note}");
    }
    println!(
        "report     {}\ntables     {} files in {} ({})\ntook       {:.1} s",
        outcome.report.display(),
        outcome.outputs.len(),
        options.out.display(),
        options.format.extension(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
