//! The main job as a library function ([`run`]): ingest, then every analysis with its defaults, then the tables
//! and one report. The `echolens analyze` command parses its arguments into [`Options`] and prints the outcome.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::execution::FunctionRegistry;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{Expr, SessionContext, cast, coalesce, col, lit, not};
use echolens_analysis::Pseudonyms;
use echolens_analysis::best::Best;
use echolens_analysis::coordination::{self, Coordination};
use echolens_analysis::reuse::{self, Reuse};
use echolens_analysis::select::{Selection, Selector};
use echolens_analysis::vocabulary::diffusion::{self, Terms};
use echolens_analysis::vocabulary::timeline::{self, Group, Period};
use echolens_analysis::vocabulary::{keyness, keyness_by};
use echolens_report::{Campaign, ChannelRow, Evidence, Report, Run};
use echolens_store::{Store, rfc3339};
use echolens_text::Script;

use crate::ingest::{self as import, IngestOptions};
use crate::run::{runtime, spinner};

/// Clusters characterised when no campaign is named.
const AUTO_CLUSTERS: usize = 2;
/// The smallest cluster worth characterising.
const MIN_CLUSTER: usize = 3;
/// Null-model runs by default: the fewest that let p reach 0.05.
pub const NULL_RUNS: usize = 19;

/// Messages up to which the null model runs by default. Measured (bench/README.md, "The main job"): 19 runs add
/// 3 s to 1M messages' coordination and 43 s to 10M's, which the 10M target has no room for.
pub const NULL_RUNS_UP_TO: u64 = 2_000_000;

/// Words kept per week of a campaign source (`keyness_by_week/terms_by.csv`).
const WEEK_TERMS: usize = 10;

/// About this many reference messages at most: beyond, the reference is a deterministic sample (by key hash).
/// A campaign source is thousands of messages; a reference of 200,000 counts its terms well enough, and the
/// tokenising no longer grows with the corpus.
const REFERENCE_MESSAGES: u64 = 200_000;

/// Stage timing and progress: a spinner with elapsed time while a stage runs and a line when it ends, on a
/// terminal only.
struct Stages {
    visible: bool,
    /// Stage, seconds, the process's peak resident memory so far and the stage's own (MB; where the platform
    /// says; the stage's own under `ECHOLENS_TIMINGS` only).
    done: Vec<(String, f64, Option<u64>, Option<u64>)>,
    current: Option<(String, Instant, indicatif::ProgressBar)>,
    /// Under `ECHOLENS_TIMINGS`, each stage's peak is measured on its own: the process's high-water mark starts
    /// afresh at every stage ([`echolens_analysis::reset_peak`]), and the process's peak is the largest seen.
    /// Off by default, since tools measuring the process from outside (`time -v`) would then see the last
    /// stage's peak only.
    per_stage: bool,
    /// The largest peak read before a reset (MB).
    peak_before: Option<u64>,
}

impl Stages {
    fn new(quiet: bool) -> Stages {
        Stages {
            visible: !quiet && std::io::stderr().is_terminal(),
            done: Vec::new(),
            current: None,
            per_stage: std::env::var_os("ECHOLENS_TIMINGS").is_some(),
            peak_before: None,
        }
    }

    /// The process's peak so far (MB): the high-water mark now, or a larger one read before a reset.
    fn process_peak(&self) -> Option<u64> {
        peak_rss_mb().max(self.peak_before)
    }

    fn start(&mut self, name: &str) {
        if self.per_stage {
            self.peak_before = self.process_peak();
            echolens_analysis::reset_peak();
        }
        let bar = if self.visible { spinner(name) } else { indicatif::ProgressBar::hidden() };
        bar.set_message("running");
        self.current = Some((name.to_owned(), Instant::now(), bar));
    }

    /// Under `ECHOLENS_TIMINGS`: a step within the running stage, with the time since the stage started and the
    /// memory now and at the stage's peak.
    fn step(&self, what: &str) {
        if let (true, Some((_, t, _))) = (self.per_stage, &self.current) {
            eprintln!("    {:>7.2} s  {what}{}", t.elapsed().as_secs_f64(), echolens_analysis::memory());
        }
    }

    fn finish(&mut self, detail: &str) {
        if let Some((name, t, bar)) = self.current.take() {
            bar.finish_and_clear();
            let s = t.elapsed().as_secs_f64();
            if self.visible {
                eprintln!("  {name:<13} {s:>7.1} s  {detail}");
            }
            echolens_analysis::memory::release();
            // For benchmarks: what the stage left resident for the next.
            if self.per_stage {
                eprintln!("stage {name} done{}", echolens_analysis::memory());
            }
            let own = if self.per_stage { peak_rss_mb() } else { None };
            self.done.push((name, (s * 100.0).round() / 100.0, self.process_peak(), own));
        }
    }
}

/// The process's peak resident memory so far in MB (`VmHWM`, Linux only).
fn peak_rss_mb() -> Option<u64> {
    echolens_analysis::memory_mb().map(|(_, peak)| peak)
}

/// What the main job reads, how, and where it writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Exports to ingest (files or folders); none: the built-in demo corpus.
    pub paths: Vec<PathBuf>,
    /// The folder for the report and the tables.
    pub out: PathBuf,
    /// The store; `./echolens-store` by default, `OUT-store` beside `OUT` for the demo corpus ([`demo_store`]).
    pub store: Option<PathBuf>,
    /// Messages of the demo corpus.
    pub demo_messages: usize,
    /// The reader for every input; recognised by content when `None`.
    pub input_format: Option<echolens_ingest::Format>,
    /// The platform of formats that do not say.
    pub platform: Option<String>,
    /// The times a message may carry.
    pub time_range: echolens_ingest::TimeRange,
    /// The offset of the machine that wrote older Telegram Desktop exports (seconds east of UTC).
    pub utc_offset: Option<i32>,
    /// A campaign source to characterise, as selectors; none: the largest clusters and the widest cascade's
    /// origin.
    pub campaign: Vec<String>,
    /// Sides to compare (`NAME=SELECTOR`, as `compare --side`); none: no comparison.
    pub sides: Vec<String>,
    /// The time zone of days and weeks.
    pub tz: chrono_tz::Tz,
    /// The coordination window (seconds).
    pub window_s: u64,
    /// Take the window from the data instead.
    pub window_auto: bool,
    /// Other windows the coordination is also run at (seconds).
    pub sweep: Vec<u64>,
    /// Null-model runs; `None`: [`NULL_RUNS`] up to [`NULL_RUNS_UP_TO`] messages, none above.
    pub null_runs: Option<usize>,
    /// Terms per campaign source followed through the channels.
    pub top_terms: usize,
    /// How the tables are written.
    pub format: echolens_analysis::TableFormat,
    /// Memory for the engine's buffers.
    pub memory: usize,
    /// Where the plans over the store run (the vocabulary's sample stays in this process).
    pub engine: crate::run::Engine,
    /// Account ids as they are instead of pseudonyms.
    pub reveal: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// How much of each list the report shows.
    pub caps: echolens_report::Caps,
    /// Also write the findings as a STIX 2.1 bundle, `findings.stix.json`, with these options.
    pub stix: Option<crate::stix::Options>,
}

/// The STIX bundle's file in the output folder.
pub const STIX_FILE: &str = "findings.stix.json";

/// What the main job did: the summary it wrote to `OUT/summary.json`, and the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The contents of `summary.json`.
    pub summary: serde_json::Value,
    /// `report.html`.
    pub report: PathBuf,
    /// The tables and networks written, relative to the output folder.
    pub outputs: Vec<String>,
    /// Notes on what could not be measured.
    pub notes: Vec<String>,
}

/// A campaign source before it is measured.
struct Source {
    title: String,
    why: String,
    target: Selection,
    description: String,
    slug: String,
}

/// Run the main job.
pub fn run(args: &Options) -> Result<Outcome> {
    match &args.engine {
        crate::run::Engine::Local => run_here(args),
        // What failed on a cluster is said as such: a lost executor fails the run, which writes no report.
        crate::run::Engine::Cluster(url) => {
            run_here(args).with_context(|| format!("the run on the cluster at {url} failed (no report was written)"))
        }
    }
}

fn run_here(args: &Options) -> Result<Outcome> {
    let started = Instant::now();
    // A named campaign is checked before anything runs, and again once the store is there: a typo should not
    // cost the whole run.
    let named = if args.campaign.is_empty() {
        None
    } else {
        Some(Selection::parse_in(&args.campaign, Some(args.tz)).context("--campaign")?)
    };
    let sides = if args.sides.is_empty() {
        None
    } else {
        Some(echolens_analysis::compare::Side::parse_all(&args.sides, Some(args.tz)).context("--side")?)
    };
    let mut stages = Stages::new(args.quiet);
    // A store at an object-store URL is only read: the run analyses what it holds, and takes no input.
    let remote = args.store.as_deref().filter(|s| echolens_store::is_remote(s));
    if let Some(store) = remote
        && !args.paths.is_empty()
    {
        bail!(echolens_store::Error::ReadOnly(store.to_owned()));
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let demo = args.paths.is_empty() && remote.is_none();
    let (inputs, store_path) = if let Some(store) = remote {
        (Vec::new(), store.to_owned())
    } else if demo {
        let corpus = args.out.join("demo-corpus");
        stages.start("demo corpus");
        let truth = crate::run::write_corpus(
            &corpus,
            &args.out.join("demo-truth.json"),
            &echolens_demo::Options::new(args.demo_messages, crate::run::SEED),
        )?;
        stages.finish(&format!("{} messages in {}", truth.messages, corpus.display()));
        // Beside the output folder, not in it: the store holds the pseudonym key, and the folder is what a
        // user hands on.
        (vec![corpus], args.store.clone().unwrap_or_else(|| demo_store(&args.out)))
    } else {
        (args.paths.clone(), args.store.clone().unwrap_or_else(|| PathBuf::from("echolens-store")))
    };

    let rt = runtime()?;
    let mut store = if remote.is_some() {
        rt.block_on(Store::open(&store_path))
    } else {
        rt.block_on(Store::open_or_create(&store_path))
    }
    .with_context(|| format!("opening the store {}", store_path.display()))?;
    stages.start("ingest");
    let options = IngestOptions {
        format: args.input_format,
        platform: args.platform.clone(),
        times: args.time_range,
        utc_offset: args.utc_offset,
        commit_rows: 100_000,
        progress: stages.visible,
    };
    let ingest = if remote.is_some() {
        import::IngestReport::default()
    } else {
        import::ingest(&rt, &mut store, &inputs, options)?
    };
    // The analyses only read: another ingest may write meanwhile, and they see the commit they started from.
    store.unlock();
    let stats = rt.block_on(store.stats())?;
    if remote.is_some() {
        stages.finish(&format!("none (the store is read as it is); it holds {}", stats.messages));
    } else {
        stages.finish(&format!(
            "{} records: {} messages ({} new), {} quarantined, {} skipped; the store holds {}",
            ingest.records, ingest.messages, ingest.new, ingest.quarantined, ingest.skipped, stats.messages
        ));
    }
    if stats.messages == 0 {
        bail!(
            "the store {} holds no message: nothing to analyse ({} records read, {} quarantined; \
             `echolens sql --store {} \"SELECT * FROM quarantine\"` says why)",
            store_path.display(),
            ingest.records,
            ingest.quarantined,
            store_path.display()
        );
    }
    let version = store.messages_version();
    // A fresh session per stage: what one analysis registers (coordination's action and pair tables) is freed
    // before the next one runs.
    let session = || -> Result<SessionContext> { rt.block_on(crate::run::session(&store, args.memory, &args.engine)) };
    let ctx = session()?;
    let key = store.pseudonym_key()?;
    // A stage of its own: its peak and what it leaves are seen.
    stages.start("pseudonyms");
    let pseudonyms = rt.block_on(Pseudonyms::load(&ctx, key))?;
    stages.finish(&format!("{} personal channels", pseudonyms.personal_channels()));
    let shown = crate::run::RunShown::of(&pseudonyms, args.reveal);
    let personal_channels = pseudonyms.personal_channels();
    let run_record = || shown.info(&store_path, version, started);
    // The command as a reader of the outputs sees it: named authors' ids pseudonymised.
    let command = shown.command().to_owned();
    if let Some(target) = &named {
        rt.block_on(target.count(&ctx, "--campaign"))?;
    }

    stages.start("timeline");
    // Streamed series by series: each is pseudonymised, written to the tables and taken into what the report
    // shows, and dropped; its rows grow with the channels times the days.
    let timeline_dir = args.out.join("timeline");
    let mut writer = timeline::Writer::create(&timeline_dir, args.format, &[])?;
    let timeline_params =
        timeline::Params { time_zone: args.tz.name().to_owned(), ..timeline::Params::new(Period::Day, Group::Channel) };
    let mut volume = echolens_report::VolumeBuilder::new(timeline_params.clone(), &args.caps);
    let mut largest = LargestChannels::default();
    let mut days = 0;
    let timeline =
        rt.block_on(timeline::stream(&ctx, &Selection::default(), None, timeline_params, |mut series| {
            if !args.reveal {
                pseudonyms.series(&mut series);
            }
            days += series.len();
            writer.push(&series)?;
            volume.push(&series);
            largest.push(&series);
            Ok(())
        }))?;
    let timeline_written = writer.finish(&timeline, run_record())?;
    let (volume, channels) = (volume.finish(), largest.finish());
    let timeline_params = timeline.params;
    stages.finish(&format!("{days} channel-days, {} bursts; timeline tables written", volume.bursts));

    stages.start("coordination");
    let mut sweep: Vec<u64> =
        args.sweep.iter().copied().filter(|w| *w > 0 && (args.window_auto || *w != args.window_s)).collect();
    sweep.sort_unstable();
    sweep.dedup();
    // The sweep leaves out `similar`: at 10M messages its kernel made the sweep two thirds of the whole run.
    let params = coordination::Params {
        window_s: args.window_s,
        window_auto: args.window_auto,
        null_runs: args.null_runs.unwrap_or(if stats.messages <= NULL_RUNS_UP_TO { NULL_RUNS } else { 0 }),
        sweep,
        sweep_similar: false,
        ..coordination::Params::default()
    };
    // The pseudonyms' maps grow with the store's accounts (0.15 GB at 53M generated messages): they are put
    // aside in a spill file while the analyses that do not need them run (coordination, reuse, writing the
    // coordination tables, the diffusion's counting), and read back where they are needed.
    let aside = pseudonyms.put_aside(&ctx)?;
    drop(ctx);
    let mut coord = rt.block_on(coordination::run(&session()?, params))?;
    stages.finish(&format!(
        "{} edges, {} accounts, {} clusters",
        coord.edges.len(),
        coord.network.accounts.len(),
        coord.network.clusters.len()
    ));

    // The coordination tables are written now, and the result slimmed to what the report shows: the evidence
    // of every edge is not held while reuse and vocabulary run.
    stages.start("evidence");
    let (cluster_sources, chance_notes) = cluster_sources(&coord)?;
    // The comparison reads the clusters as found, before their accounts are pseudonymised.
    let raw_coord = sides.as_ref().map(|_| coord.clone());
    let mut evidence = rt.block_on(evidence_texts(&session()?, &coord, &args.caps))?;
    stages.step("evidence texts read");
    if !args.reveal {
        let pseudonyms = aside.take()?;
        pseudonyms.coordination(&mut coord);
        evidence = evidence
            .into_iter()
            .map(|(k, mut e)| {
                e.channel = pseudonyms.channel(&e.channel);
                e.text = pseudonyms.text(&e.text);
                (pseudonyms.key(&k), e)
            })
            .collect();
    }
    stages.step("pseudonymised");
    let (mut written, summaries) =
        coordination::write_outputs_with_summaries(&coord, &args.out.join("coordination"), args.format, run_record())?;
    stages.step("tables written");
    written.add(timeline_written);
    let edge_digest = echolens_report::EdgeDigest::of(&coord, summaries, &args.caps)?;
    let per_kind: std::collections::BTreeMap<&str, u64> =
        edge_digest.per_kind.iter().filter(|(_, (n, _))| *n > 0).map(|(k, (n, _))| (*k, *n)).collect();
    echolens_report::slim(&mut coord, &edge_digest, &args.caps);
    stages.finish(&format!("{} messages; coordination tables written", evidence.len()));

    stages.start("reuse");
    let mut reuse = rt.block_on(reuse::run(&session()?, reuse::Params::default()))?;
    stages.finish(&format!("{} cascades, {} messages", reuse.counts.cascades, reuse.counts.members));
    let pseudonyms = aside.take()?;

    let compared = match (&sides, &raw_coord) {
        (Some(sides), Some(raw)) => {
            stages.start("sides");
            let options = crate::compare::Options::new(args.sides.clone(), args.tz, args.reveal);
            let c = rt.block_on(crate::compare::measure(&session()?, &pseudonyms, &options, sides, &reuse, raw))?;
            stages.finish(&format!("{} sides compared", c.sides.len()));
            Some(c)
        }
        _ => None,
    };
    drop(raw_coord);
    // The cascade whose origin is a campaign source is chosen on the cascades as found; then the reuse tables
    // are written and the result slimmed to what the report draws: every cascade's members (hundreds of
    // thousands in a large corpus) are not held while the vocabulary runs.
    stages.start("reuse tables");
    let widest_cascade = cascade_source(&reuse, (!args.reveal).then_some(&pseudonyms));
    if !args.reveal {
        pseudonyms.reuse(&mut reuse);
    }
    let reuse_written = reuse::write_outputs(&reuse, &args.out.join("reuse"), args.format, run_record())?;
    let reuse_cascades = echolens_report::slim_reuse(&mut reuse, &args.caps);
    stages.finish(&format!("{} members written", reuse.counts.members));

    stages.start("vocabulary");
    let named_campaign = named.is_some();
    let sources = if let Some(target) = named {
        let description = if args.reveal { target.to_string() } else { pseudonyms.selection(&target) };
        vec![Source {
            title: format!("The named campaign source: {description}"),
            why: "Named with --campaign.".into(),
            target,
            description,
            slug: "campaign".into(),
        }]
    } else {
        cluster_sources.into_iter().chain(widest_cascade).collect()
    };
    let mut campaigns = Vec::new();
    // Clusters passed over for their timing are said when the clusters are the sources.
    let mut notes = if named_campaign { Vec::new() } else { chance_notes };
    let sample = stats.messages.div_ceil(REFERENCE_MESSAGES).max(1);
    let ctx = session()?;
    // Auto sources select on these columns only (and keyness reads `text_norm`); a named campaign's `where=`
    // may read any.
    let columns = if named_campaign { None } else { Some(AUTO_SOURCE_COLUMNS) };
    let (vocabulary_ctx, vocabulary_file) =
        rt.block_on(vocabulary_session(&ctx, &sources, sample, columns, args.memory))?;
    stages.step("vocabulary: the sources and the reference sample read");
    // The terms' spread through the whole corpus, for every source in one scan.
    let mut followed: Vec<(usize, Terms)> = Vec::new();
    for (i, source) in sources.into_iter().enumerate() {
        match rt.block_on(measure(&vocabulary_ctx, &source, sample)) {
            Ok((mut k, reference)) => {
                k.target = source.description.clone();
                k.reference = reference.clone();
                let terms: Vec<String> =
                    k.terms.iter().filter(|t| t.z > 0.0).take(args.top_terms).map(|t| t.term.clone()).collect();
                if !terms.is_empty() {
                    followed.push((campaigns.len(), Terms::new(terms)?));
                }
                // Week by week within the source (one pass over its messages); none with a single week.
                let by_week = rt
                    .block_on(keyness_by::run(
                        &vocabulary_ctx,
                        &source.target,
                        keyness_by::By::Week,
                        args.tz.name(),
                        keyness::Params::default(),
                        WEEK_TERMS,
                    ))
                    .ok();
                campaigns.push(Campaign {
                    title: source.title,
                    why: source.why,
                    target: source.description,
                    reference,
                    keyness: k,
                    diffusion: None,
                    by_week,
                    folder: format!("vocabulary/{}-{}", i + 1, source.slug),
                });
            }
            Err(e) => notes.push(format!("{}: not measured: {e}", source.title)),
        }
    }
    stages.step("vocabulary: keyness measured");
    // The sample of the corpus the vocabulary read goes before the terms are followed through the whole corpus:
    // the diffusion's counting is the stage's peak, and the sample is no part of it.
    drop((vocabulary_ctx, vocabulary_file));
    let pseudonyms = if followed.is_empty() {
        drop(ctx);
        pseudonyms
    } else {
        // Each set's tables are written as its rows are made, and only what the report shows is kept: the rows
        // per channel grow with the corpus.
        let (at, sets): (Vec<usize>, Vec<Terms>) = followed.into_iter().unzip();
        // Put aside while the engine counts the uses, read back for the rows.
        drop(pseudonyms);
        let counted = rt.block_on(diffusion::count(&ctx, sets, &Selection::default()))?;
        drop(ctx);
        let back = aside.take()?;
        for (set, at) in at.into_iter().enumerate() {
            let c = &mut campaigns[at];
            let mut writer = diffusion::Writer::create(&args.out.join(&c.folder).join("diffusion"), args.format)?;
            let d = rt.block_on(counted.rows(set, (!args.reveal).then_some(&back), &mut writer))?;
            written.add(writer.finish(&d, run_record())?);
            c.diffusion = Some(d);
        }
        drop(counted);
        stages.step("vocabulary: terms followed");
        back
    };
    stages.finish(&format!("{} campaign sources", campaigns.len()));

    if !args.reveal {
        for c in &mut campaigns {
            pseudonyms.keyness(&mut c.keyness);
            if let Some(w) = &mut c.by_week {
                pseudonyms.keyness_by(w);
            }
        }
    }

    stages.start("tables");
    let extra = run_record();
    written.add(reuse_written);
    if let Some(c) = &compared {
        written.add(echolens_analysis::compare::write_outputs(c, &args.out.join("sides"), args.format, extra.clone())?);
    }
    for c in &campaigns {
        let dir = args.out.join(&c.folder);
        written.add(keyness::write_outputs(&c.keyness, &dir.join("keyness"), args.format, extra.clone())?);
        if let Some(w) = &c.by_week {
            written.add(keyness_by::write_outputs(w, &dir.join("keyness_by_week"), args.format, extra.clone())?);
        }
    }
    // Tables an earlier run left that this one did not write (other campaign sources, with an earlier
    // `--reveal`'s raw ids perhaps) would sit beside these under a summary that does not describe them; a table
    // in the other format is replaced as it is written.
    let mut stale = remove_stale(&args.out, &written.files)?;
    // A bundle of an earlier run describes findings this run may not have made.
    let stix_path = args.out.join(STIX_FILE);
    if args.stix.is_none() && std::fs::symlink_metadata(&stix_path).is_ok() {
        std::fs::remove_file(&stix_path).with_context(|| format!("removing {}", stix_path.display()))?;
        stale += 1;
    }
    if stale > 0 {
        notes.push(format!("{stale} output files of an earlier run that this run does not write were removed"));
    }
    let outputs: Vec<String> =
        written.files.iter().map(|p| p.strip_prefix(&args.out).unwrap_or(p).to_string_lossy().into_owned()).collect();
    stages.finish(&format!("{} files", outputs.len()));

    stages.start("report");
    let parameters = serde_json::json!({
        "timeline": timeline_params,
        "coordination": coord.params,
        "reuse": reuse.params,
        "sides": compared.as_ref().map(|c| &c.params),
        "vocabulary": campaigns.iter().map(|c| serde_json::json!({
            "title": c.title, "target": c.target, "reference": c.reference,
            "keyness": c.keyness.params, "top_terms_followed": c.diffusion.as_ref().map_or(0, |d| d.terms.len()),
        })).collect::<Vec<_>>(),
        "pseudonymised": !args.reveal,
        "table_format": args.format,
    });
    let run = Run {
        command: command.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        store: store_path.display().to_string(),
        store_version: version,
        generated: rfc3339(chrono_now_us()),
        stages: stages.done.iter().map(|(s, t, m, _)| (s.clone(), *t, *m)).collect(),
        pseudonymised: !args.reveal,
        personal_channels,
        demo,
    };
    let html = echolens_report::render(&Report {
        run: &run,
        stats: &stats,
        channels: &channels,
        volume: &volume,
        coordination: &coord,
        edges: &edge_digest,
        reuse: &reuse,
        reuse_cascades: &reuse_cascades,
        campaigns: &campaigns,
        evidence: &evidence,
        outputs: &outputs,
        parameters: &parameters,
        caps: args.caps,
        compare: compared.as_ref(),
    });
    let report_path = args.out.join("report.html");
    echolens_store::write_atomically(&report_path, html.as_bytes())
        .with_context(|| format!("writing {}", report_path.display()))?;
    stages.finish(&format!("{} ({} KB)", report_path.display(), html.len() / 1024));

    let summary = serde_json::json!({
        "analysis": "analyze",
        "report": report_path.display().to_string(),
        "report_bytes": html.len(),
        "demo": demo,
        "corpus": stats,
        "ingest": {
            "records": ingest.records, "messages": ingest.messages, "quarantined": ingest.quarantined,
            "skipped": ingest.skipped, "new": ingest.new, "updated": ingest.updated, "unchanged": ingest.unchanged,
            "not_recognised": ingest.not_recognised,
        },
        "timeline": {"series": volume.series, "bursts": volume.bursts},
        "coordination": {
            "edges": per_kind, "accounts": coord.network.accounts.len(), "clusters": coord.network.clusters.len(),
            "largest_clusters": coord.network.clusters.iter().take(5).map(|c| c.members.len()).collect::<Vec<_>>(),
            "unclustered_accounts": coord.network.unclustered(),
        },
        "reuse": reuse.counts,
        "sides": compared.as_ref().map(|c| &c.sides),
        "campaigns": campaigns.iter().map(|c| serde_json::json!({
            "title": c.title, "target": c.target, "reference": c.reference, "folder": c.folder,
            "messages_target": c.keyness.counts.messages_target,
            "messages_reference": c.keyness.counts.messages_reference,
            "top_terms": c.keyness.terms.iter().filter(|t| t.z > 0.0).take(10)
                .map(|t| serde_json::json!({"term": t.term, "z": t.z})).collect::<Vec<_>>(),
            "adopting_channels": c.diffusion.as_ref().map(|d| d.adopters),
        })).collect::<Vec<_>>(),
        "notes": notes,
        "pseudonymised": !args.reveal,
        "stages": stages.done.iter()
            .map(|(s, t, m, own)| serde_json::json!({"stage": s, "seconds": t, "peak_rss_mb_so_far": m,
                "peak_rss_mb": own}))
            .collect::<Vec<_>>(),
        "outputs": outputs,
    });
    let mut written = echolens_analysis::write_summary(&args.out, Vec::new(), summary, extra)?;
    let mut outputs = outputs;
    if let Some(options) = &args.stix {
        // From the folder as written, as `export stix` reads it: one way from findings to STIX.
        let bundle = crate::stix::export(&crate::findings::ReportDir::open(&args.out)?, options)?;
        let text = serde_json::to_string_pretty(&bundle)?;
        echolens_analysis::write_output(&stix_path, text.as_bytes())?;
        outputs.push(STIX_FILE.to_owned());
        let mut summary = written.summary;
        summary["outputs"] = serde_json::json!(outputs);
        written = echolens_analysis::write_summary(&args.out, Vec::new(), summary, serde_json::json!({}))?;
    }
    Ok(Outcome { summary: written.summary, report: report_path, outputs, notes })
}

/// The demo corpus's store for output folder `out`: its sibling `OUT-store` (`echolens-report-store`).
pub fn demo_store(out: &std::path::Path) -> PathBuf {
    let name = out.file_name().map_or_else(|| "echolens-report".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!("{name}-store"))
}

/// The folders of `out` that `analyze` writes its tables into.
const TABLE_FOLDERS: [&str; 5] = ["coordination", "reuse", "sides", "timeline", "vocabulary"];

/// Remove from the table folders of `out` every table, network or summary file (by extension) that is not in
/// `written`, then the folders left empty; other files stay. Returns how many files were removed.
fn remove_stale(out: &std::path::Path, written: &[PathBuf]) -> Result<usize> {
    const OUTPUT: [&str; 5] = ["csv", "parquet", "gexf", "graphml", "json"];
    fn walk(dir: &std::path::Path, keep: &std::collections::HashSet<&std::path::Path>) -> Result<usize> {
        let mut removed = 0;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let path = entry.with_context(|| format!("reading {}", dir.display()))?.path();
            let meta = std::fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
            if meta.is_dir() {
                removed += walk(&path, keep)?;
                // Only a folder this left empty goes.
                if std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none()) {
                    let _ = std::fs::remove_dir(&path);
                }
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| OUTPUT.contains(&e))
                && !keep.contains(path.as_path())
            {
                std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
    let keep: std::collections::HashSet<&std::path::Path> = written.iter().map(PathBuf::as_path).collect();
    let mut removed = 0;
    for folder in TABLE_FOLDERS {
        removed += walk(&out.join(folder), &keep)?;
    }
    Ok(removed)
}

fn chrono_now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// The columns the automatic campaign sources' selections and keyness read (`cluster_sources`,
/// `cascade_source`, `measure`): the vocabulary sample holds only these, not the raw text and lists.
const AUTO_SOURCE_COLUMNS: &[&str] = &["key", "platform", "channel_id", "channel_name", "author_id", "ts", "text_norm"];

/// The column of the vocabulary session's messages holding each one's script (`Script::code`).
const SCRIPT: &str = "script_code";

/// Campaign sources when none is named, from coordination: the accounts of the largest clusters (before their
/// ids are pseudonymised: the selection reads the store).
fn cluster_sources(coord: &Coordination) -> Result<(Vec<Source>, Vec<String>)> {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let net = &coord.network;
    // A cluster whose timing is like chance (busy accounts meeting on many keys) is no campaign source.
    let timings = coordination::cluster_timings(coord)?;
    let acted_together = |id: usize| timings.get(&id).is_none_or(|t| !t.like_chance());
    for cluster in net.clusters.iter().filter(|c| c.members.len() >= MIN_CLUSTER) {
        if out.len() == AUTO_CLUSTERS {
            break;
        }
        if !acted_together(cluster.id) {
            notes.push(format!(
                "Coordination cluster {} ({} accounts): not taken as a campaign source, its timing is like chance \
                 (its accounts' lags spread over the window as independent posting gives)",
                cluster.id,
                cluster.members.len()
            ));
            continue;
        }
        let accounts: Vec<Expr> = cluster.members.iter().map(|&m| lit(net.accounts[m].as_str())).collect();
        let description =
            format!("messages by the {} accounts of coordination cluster {}", cluster.members.len(), cluster.id);
        let expr = echolens_analysis::sql::account().in_list(accounts, false);
        let target = Selection::new(vec![Selector::Expr { expr, label: description.clone() }]);
        out.push(Source {
            title: format!("Coordination cluster {}", cluster.id),
            why: format!(
                "The messages of the {} accounts of cluster {}, one of the largest groups of accounts that acted \
                 together, closer in time than chance (see Coordination).",
                cluster.members.len(),
                cluster.id
            ),
            target,
            description,
            slug: format!("cluster-{}", cluster.id),
        });
    }
    Ok((out, notes))
}

/// The campaign source when none is named, from reuse: the channel where the widest cascade began (named by
/// its pseudonym if it is an account's own and `pseudonyms` are given).
fn cascade_source(reuse: &Reuse, pseudonyms: Option<&Pseudonyms>) -> Option<Source> {
    let mut widest = reuse::summaries(reuse);
    reuse::widest_first(&mut widest);
    let c = widest.first()?;
    let platform = c.origin_key.split(':').next().unwrap_or_default().to_owned();
    let name = if c.origin_channel_name.is_empty() { &c.origin_channel_id } else { &c.origin_channel_name };
    let shown = pseudonyms.map_or_else(|| name.clone(), |p| p.channel_name(&platform, &c.origin_channel_id, name));
    let description = format!("the messages of {platform} channel {shown}");
    Some(Source {
        title: format!("The origin of cascade {}: {shown}", c.cascade),
        why: format!(
            "The channel where the widest reuse cascade began: {} messages in {} channels (see Reuse).",
            c.size, c.channels
        ),
        target: Selection::new(vec![Selector::Expr {
            expr: col("platform")
                .eq(lit(platform.as_str()))
                .and(col("channel_id").eq(lit(c.origin_channel_id.as_str()))),
            label: description.clone(),
        }]),
        description,
        slug: format!("cascade-{}-origin", c.cascade),
    })
}

/// A session whose `messages` hold only what keyness reads: every message of the campaign sources and a
/// deterministic 1-in-`sample` sample of the rest (by key hash), with each one's script ([`SCRIPT`]). One scan of
/// the store; the keyness passes then read a few hundred thousand rows however large the corpus, from a file
/// among the session's spill files (it goes with the handle returned). `columns`: the columns kept (`None`: all).
async fn vocabulary_session(
    ctx: &SessionContext,
    sources: &[Source],
    sample: u64,
    columns: Option<&[&str]>,
    memory: usize,
) -> Result<(SessionContext, std::sync::Arc<dyn datafusion::execution::SpillFile>)> {
    let mut wanted = sampled(ctx, sample)?;
    for s in sources {
        wanted = wanted.or(within(ctx, &s.target).await?);
    }
    let df = ctx.table("messages").await?.filter(wanted)?;
    let df = match columns {
        Some(columns) => df.select_columns(columns)?,
        None => df,
    };
    // Each message's script, worked out once here: every keyness pass of every source filters on it.
    let df = df.with_column(SCRIPT, ctx.udf("script")?.call(vec![col("text_norm")]))?;
    // On disk: the sources of a large corpus (its largest clusters' messages) grow with it.
    let vctx = echolens_analysis::analysis_session(memory)?;
    let file = echolens_analysis::register_on_disk(df, &vctx, "messages").await?;
    Ok((vctx, file))
}

/// Whether a message is in `selection` (false, not null, where a column it reads is empty).
async fn within(ctx: &SessionContext, selection: &Selection) -> echolens_analysis::Result<Expr> {
    Ok(coalesce(vec![selection.expr(ctx).await?, lit(false)]))
}

/// Whether a message is in the deterministic 1-in-`sample` sample by key hash (every message when `sample` is
/// 1).
fn sampled(ctx: &SessionContext, sample: u64) -> echolens_analysis::Result<Expr> {
    if sample <= 1 {
        return Ok(lit(true));
    }
    let hash = ctx.udf("hash64")?.call(vec![col("key")]);
    Ok((hash % lit(i64::try_from(sample).unwrap_or(i64::MAX))).eq(lit(0i64)))
}

/// Keyness of `source` against the messages in its own script outside it (1 in `sample` of them, by key hash;
/// in `vctx`), with the reference's description.
async fn measure(
    vctx: &SessionContext,
    source: &Source,
    sample: u64,
) -> echolens_analysis::Result<(keyness::Keyness, String)> {
    let target = within(vctx, &source.target).await?;
    let script_of = col(SCRIPT);
    // The most common script among the target's messages (rows come most common first).
    let batches = vctx
        .table("messages")
        .await?
        .filter(target.clone())?
        .aggregate(vec![script_of.clone().alias("s")], vec![count(lit(1)).alias("n")])?
        .sort(vec![col("n").sort(false, true), col("s").sort(true, true)])?
        .collect()
        .await?;
    let mut script = None;
    for b in &batches {
        let codes = echolens_analysis::i64s(b, "s")?;
        if let Some(v) = codes.iter().flatten().find(|v| *v != Script::None.code()) {
            script = script.or_else(|| Script::ALL.get(v as usize).copied());
        }
    }
    let share = if sample > 1 { format!(", a 1-in-{sample} sample by key hash") } else { String::new() };
    let rest = sampled(vctx, sample)?.and(not(target));
    let rest_of_corpus = || {
        let label = format!("the rest of the corpus{share}");
        (Selection::new(vec![Selector::Expr { expr: rest.clone(), label: label.clone() }]), label)
    };
    let (reference, description) = match script {
        Some(s) => {
            let label = format!("the other messages in {} script{share}", s.name());
            let expr = rest.clone().and(script_of.eq(lit(s.code())));
            (Selection::new(vec![Selector::Expr { expr, label: label.clone() }]), label)
        }
        None => rest_of_corpus(),
    };
    let reference = Some(reference);
    let k = match keyness::run(vctx, &source.target, reference.as_ref(), keyness::Params::default()).await {
        Ok(k) => (k, description),
        // Nothing else in its script: the rest of the corpus (as sampled).
        Err(echolens_analysis::Error::Empty { role, .. }) if script.is_some() && role == "reference" => {
            let (rest, description) = rest_of_corpus();
            (keyness::run(vctx, &source.target, Some(&rest), keyness::Params::default()).await?, description)
        }
        Err(e) => return Err(e),
    };
    Ok(k)
}

/// Texts of the messages behind the strongest edges of the largest clusters (what the report shows).
async fn evidence_texts(
    ctx: &SessionContext,
    coord: &Coordination,
    caps: &echolens_report::Caps,
) -> Result<HashMap<String, Evidence>> {
    let mut keys = echolens_report::evidence_keys(coord, caps)?;
    keys.sort_unstable();
    keys.dedup();
    let mut out = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let list: Vec<Expr> = keys.iter().map(|k| lit(k.as_str())).collect();
    let batches = ctx
        .table("messages")
        .await?
        .filter(col("key").in_list(list, false))?
        .select(vec![
            col("key"),
            col("text"),
            cast(col("ts"), datafusion::arrow::datatypes::DataType::Int64).alias("ts"),
            echolens_analysis::sql::channel().alias("channel"),
        ])?
        .collect()
        .await?;
    for batch in batches {
        let (key, text) = (echolens_analysis::strings(&batch, "key")?, echolens_analysis::strings(&batch, "text")?);
        let channel = echolens_analysis::strings(&batch, "channel")?;
        let ts = echolens_analysis::i64s(&batch, "ts")?;
        for i in 0..batch.num_rows() {
            out.insert(
                key.value(i).to_owned(),
                Evidence { text: text.value(i).to_owned(), ts: ts.value(i), channel: channel.value(i).to_owned() },
            );
        }
    }
    Ok(out)
}

/// The channels with the most messages ([`CHANNEL_ROWS`]), from the per-channel timeline's series as they come.
struct LargestChannels(Best<ChannelRow>);

/// Channels the report lists.
const CHANNEL_ROWS: usize = 50;

impl Default for LargestChannels {
    fn default() -> LargestChannels {
        LargestChannels(Best::new(CHANNEL_ROWS, |a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.channel_id.cmp(&b.channel_id))
                .then_with(|| a.platform.cmp(&b.platform))
        }))
    }
}

impl LargestChannels {
    /// Takes in one whole series.
    fn push(&mut self, series: &[timeline::Row]) {
        let mut busy = series.iter().filter(|r| r.messages > 0);
        let Some(first) = busy.next() else { return };
        let day_us = |period: i64| period * 86_400_000_000;
        let (platform, id) = first.group.split_once(':').unwrap_or(("", &first.group));
        let mut row = ChannelRow {
            platform: platform.to_owned(),
            channel_id: id.to_owned(),
            name: first.name.clone(),
            messages: first.messages,
            first: day_us(first.period),
            last: day_us(first.period),
        };
        for r in busy {
            row.messages += r.messages;
            row.first = row.first.min(day_us(r.period));
            row.last = row.last.max(day_us(r.period));
        }
        self.0.push(row);
    }

    fn finish(self) -> Vec<ChannelRow> {
        self.0.into_sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three busy accounts posting a link every ten seconds from one small pool, independently, form a cluster
    /// whose timing is like chance: it is no campaign source, and a note says why. Three accounts posting the
    /// same links within two seconds of each other are one.
    #[tokio::test]
    async fn a_cluster_whose_timing_is_like_chance_is_no_campaign_source() {
        let message = |author: String, id: String, secs: i64, url: String| echolens_model::Message {
            platform: "x".into(),
            channel_id: author.clone(),
            channel_name: None,
            message_id: id,
            author_id: Some(author),
            author_name: None,
            ts: (1_700_000_000 + secs) * 1_000_000,
            ts_exact: true,
            edited: None,
            text: "news".into(),
            text_norm: "news".into(),
            urls: vec![url],
            hashtags: vec![],
            mentions: vec![],
            forwarded_from: None,
            reply_to: None,
            repost_of: None,
            source_file: "test".into(),
            source_record: 1,
            quote_of: None,
            collected_at: None,
            signature: None,
            via_bot: None,
            engagement: Default::default(),
        };
        let mut rows = Vec::new();
        let mut state = [7u64, 1_000_003, 424_242];
        for i in 0..2000i64 {
            for (k, s) in state.iter_mut().enumerate() {
                *s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let url = format!("https://n.example/{}", (*s >> 33) % 12);
                rows.push(message(format!("busy{k}"), format!("b{k}-{i}"), i * 10 + 3 * k as i64, url));
            }
        }
        for j in 0..4i64 {
            for k in 0..3i64 {
                rows.push(message(
                    format!("c{k}"),
                    format!("c{k}-{j}"),
                    5000 * j + k,
                    format!("https://p.example/{j}"),
                ));
            }
        }
        let ctx = echolens_analysis::analysis_session(1 << 30).unwrap();
        let batch = echolens_store::messages_to_batch(rows.iter()).unwrap();
        let table = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
        ctx.register_table("messages", std::sync::Arc::new(table)).unwrap();
        let params = coordination::Params { kinds: vec![coordination::Kind::Link], ..coordination::Params::default() };
        let coord = coordination::run(&ctx, params).await.unwrap();
        assert_eq!(coord.network.clusters.len(), 2, "{:?}", coord.network.clusters);
        let (sources, notes) = cluster_sources(&coord).unwrap();
        assert_eq!(sources.len(), 1);
        assert!(sources[0].description.contains("3 accounts"));
        let busy = coord.network.cluster_of[coord.network.accounts.iter().position(|a| a == "x:busy0").unwrap()];
        assert_ne!(sources[0].title, format!("Coordination cluster {busy}"));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with(&format!("Coordination cluster {busy} (3 accounts)")), "{notes:?}");
        assert!(notes[0].contains("timing is like chance"));
    }
}
