//! `keyness`, `diffusion` and `timeline`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::prelude::SessionContext;
use echolens_analysis::Pseudonyms;
use echolens_analysis::select::Selection;
use echolens_analysis::vocabulary::diffusion::{self, Terms};
use echolens_analysis::vocabulary::lexicon::Lexicon;
use echolens_analysis::vocabulary::timeline::{self, Group, Period};
use echolens_analysis::vocabulary::{keyness, keyness_by};
use echolens_store::Store;
use echolens_text::Language;

use super::{run_info, runtime, spinner};
use crate::args::{DiffusionArgs, KeynessArgs, TimelineArgs};

/// Open the store, register it in a session and run `f` on it; returns `f`'s result, the store version and the
/// store's pseudonyms (to apply to the result before anything is written, unless `--reveal`).
fn with_store<T>(
    store_path: &Path,
    run: &crate::args::RunArgs,
    f: impl AsyncFnOnce(&SessionContext) -> echolens_analysis::Result<T>,
) -> Result<(T, i64, Pseudonyms)> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = Store::open(store_path).await?;
        let ctx = echolens::run::session(&store, run.memory, &run.engine()).await?;
        let out = f(&ctx).await?;
        let pseudonyms = super::pseudonyms(&store, &ctx).await?;
        anyhow::Ok((out, store.messages_version(), pseudonyms))
    })
    .with_context(|| format!("on the store {}", store_path.display()))
}

/// `--json`: the summary as written, from memory.
fn print_json(written: &echolens_analysis::Written) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&written.summary)?);
    Ok(ExitCode::SUCCESS)
}

fn parse_stopwords(s: &str) -> Result<Vec<Language>> {
    if s.trim().eq_ignore_ascii_case("none") || s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|code| {
            Language::from_name(code)
                .with_context(|| format!("unknown stop-word list {code:?}; use en, fa, ar, ru or none"))
        })
        .collect()
}

pub(super) fn keyness(args: KeynessArgs) -> Result<ExitCode> {
    let zone = Some(args.tz);
    let target = Selection::parse_in(&args.target, zone).context("--target")?;
    let reference = if args.reference.is_empty() {
        None
    } else {
        Some(Selection::parse_in(&args.reference, zone).context("--reference")?)
    };
    let params = keyness::Params {
        ngrams: args.ngrams,
        min_count: args.min_count,
        stopwords: parse_stopwords(&args.stopwords)?,
        prior_scale: args.prior_scale,
    };
    let started = Instant::now();
    if let Some(by) = args.by {
        let bar = spinner("keyness");
        bar.set_message("counting words per group");
        let zone = args.tz.name().to_owned();
        let (mut k, version, pseudonyms) = with_store(&args.store.store, &args.run, async |ctx| {
            keyness_by::run(ctx, &target, by, &zone, params, args.top).await
        })?;
        if !args.run.reveal {
            pseudonyms.keyness_by(&mut k);
        }
        bar.finish_and_clear();
        let written = keyness_by::write_outputs(
            &k,
            &args.out,
            args.run.table_format(),
            run_info(&args.store.store, version, started, &pseudonyms, args.run.reveal),
        )
        .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
        if args.run.json {
            return print_json(&written);
        }
        println!("groups     {} ({} word uses; words only, min count {})", k.groups, k.words, k.params.min_count);
        let mut shown = std::collections::HashSet::new();
        for t in k.terms.iter().filter(|t| t.rank <= 3) {
            if shown.insert(t.group.clone()) && shown.len() > args.show {
                break;
            }
            println!("{:>9.2}  {:>8}  {:>8}  {}  {}", t.z, t.count_group, t.count_rest, t.group, t.term);
        }
        println!(
            "wrote      {} files to {} in {:.1} s",
            written.len(),
            args.out.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let bar = spinner("keyness");
    bar.set_message("counting words and phrases");
    let (mut k, version, pseudonyms) = with_store(&args.store.store, &args.run, async |ctx| {
        keyness::run(ctx, &target, reference.as_ref(), params).await
    })?;
    if !args.run.reveal {
        pseudonyms.keyness(&mut k);
        k.target = pseudonyms.selection(&target);
        if let Some(reference) = &reference {
            k.reference = pseudonyms.selection(reference);
        }
    }
    bar.finish_and_clear();
    let written = keyness::write_outputs(
        &k,
        &args.out,
        args.run.table_format(),
        run_info(&args.store.store, version, started, &pseudonyms, args.run.reveal),
    )
    .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
    if args.run.json {
        return print_json(&written);
    }
    let c = &k.counts;
    println!("target     {} ({} messages, {} term uses)", k.target, c.messages_target, c.terms_target);
    println!("reference  {} ({} messages, {} term uses)", k.reference, c.messages_reference, c.terms_reference);
    println!(
        "terms      {} scored ({}..{} words, min count {}); {} phrases below their parts, {} parts inside phrases",
        c.terms_scored,
        k.params.ngrams.0,
        k.params.ngrams.1,
        k.params.min_count,
        c.phrases_below_parts,
        c.parts_inside_phrases
    );
    println!("{:>9}  {:>8}  {:>8}  term", "z", "target", "ref");
    for t in k.terms.iter().take(args.show) {
        println!("{:>9.2}  {:>8}  {:>8}  {}", t.z, t.count_target, t.count_reference, t.term);
    }
    println!(
        "wrote      {} files to {} in {:.1} s",
        written.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn diffusion(args: DiffusionArgs) -> Result<ExitCode> {
    let terms = match (&args.terms, &args.from_keyness) {
        (Some(file), _) => Terms::from_file(file)?,
        (None, Some(dir)) => Terms::from_keyness(dir, args.top)?,
        (None, None) => bail!("give --terms FILE or --from-keyness DIR"),
    };
    let selection = Selection::parse(&args.select).context("--select")?;
    let started = Instant::now();
    let bar = spinner("diffusion");
    bar.set_message(format!("following {} terms", terms.terms.len()));
    let store_path = &args.store.store;
    let (d, written) = runtime()?
        .block_on(async {
            let store = Store::open(store_path).await?;
            let ctx = echolens::run::session(&store, args.run.memory, &args.run.engine()).await?;
            let counted = diffusion::count(&ctx, vec![terms], &selection).await?;
            let pseudonyms = super::pseudonyms(&store, &ctx).await?;
            drop(ctx);
            // The rows per channel are written as they are made: a large corpus has millions.
            let mut writer = diffusion::Writer::create(&args.out, args.run.table_format())
                .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
            let mut d = counted.rows(0, (!args.run.reveal).then_some(&pseudonyms), &mut writer).await?;
            if !args.run.reveal {
                d.selection = pseudonyms.selection(&selection);
            }
            let info = run_info(store_path, store.messages_version(), started, &pseudonyms, args.run.reveal);
            let written =
                writer.finish(&d, info).with_context(|| format!("writing the outputs to {}", args.out.display()))?;
            anyhow::Ok((d, written))
        })
        .with_context(|| format!("on the store {}", store_path.display()))?;
    bar.finish_and_clear();
    if args.run.json {
        return print_json(&written);
    }
    println!(
        "channels   {} of {} used the vocabulary ({:.1}%) in {} messages",
        d.adopters,
        d.channel_count,
        100.0 * d.adopters as f64 / d.channel_count.max(1) as f64,
        d.messages
    );
    for s in &d.summary {
        let half = s.days_to_half.map_or(String::new(), |h| format!(", half of them within {h} days"));
        println!(
            "  {:<24} {:>5} channels, {:>7} uses, first {} in {}{half}",
            s.term,
            s.channels,
            s.uses,
            s.first_use.as_deref().unwrap_or("-"),
            if s.sources.is_empty() { "-".to_owned() } else { s.sources.join(", ") }
        );
    }
    println!(
        "wrote      {} files to {} in {:.1} s",
        written.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn timeline(args: TimelineArgs) -> Result<ExitCode> {
    let mut period = Period::Day;
    let mut group = Group::Channel;
    for by in &args.by {
        match by.trim() {
            "day" => period = Period::Day,
            "week" => period = Period::Week,
            "channel" => group = Group::Channel,
            "platform" => group = Group::Platform,
            "all" => group = Group::All,
            other => bail!("--by {other:?}: expected day, week, channel, platform or all"),
        }
    }
    let mut params = timeline::Params::new(period, group);
    if let Some(w) = args.burst_window {
        params.burst_window = w;
    }
    params.burst_z = args.burst_z;
    params.burst_min = args.burst_min;
    params.time_zone = args.tz.name().to_owned();
    let lexicon = args.lexicon.as_deref().map(Lexicon::from_file).transpose()?;
    let selection = Selection::parse_in(&args.select, Some(args.tz)).context("--select")?;
    let started = Instant::now();
    let bar = spinner("timeline");
    bar.set_message("counting");
    let categories: Vec<String> = lexicon.as_ref().map(|l| l.categories().to_vec()).unwrap_or_default();
    let format = args.run.table_format();
    let (mut series, mut rows, mut bursts) = (0, 0, 0);
    // Streamed: each series is pseudonymised and written as it closes, never every row at once.
    let written = runtime()?
        .block_on(async {
            let store = Store::open(&args.store.store).await?;
            let ctx = echolens::run::session(&store, args.run.memory, &args.run.engine()).await?;
            let pseudonyms = super::pseudonyms(&store, &ctx).await?;
            let mut writer = timeline::Writer::create(&args.out, format, &categories)
                .with_context(|| format!("writing the outputs to {}", args.out.display()))?;
            let mut t = timeline::stream(&ctx, &selection, lexicon, params, |mut rows_of| {
                if !args.run.reveal {
                    pseudonyms.series(&mut rows_of);
                }
                series += 1;
                rows += rows_of.len();
                bursts += rows_of.iter().filter(|r| r.scores.iter().any(|s| s.burst)).count();
                writer.push(&rows_of)
            })
            .await?;
            if !args.run.reveal {
                t.selection = pseudonyms.selection(&selection);
            }
            let run = run_info(&args.store.store, store.messages_version(), started, &pseudonyms, args.run.reveal);
            let written =
                writer.finish(&t, run).with_context(|| format!("writing the outputs to {}", args.out.display()))?;
            anyhow::Ok((t, written))
        })
        .with_context(|| format!("on the store {}", args.store.store.display()));
    bar.finish_and_clear();
    let (t, written) = written?;
    if args.run.json {
        return print_json(&written);
    }
    println!("messages   {} in {series} series, {rows} rows", t.messages);
    if !t.categories.is_empty() {
        println!("lexicon    {}", t.categories.join(", "));
    }
    println!("bursts     {bursts} periods; {}", t.params.burst_method());
    println!(
        "wrote      {} files to {} in {:.1} s",
        written.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
