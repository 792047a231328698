//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Measure online influence campaigns in exports of social-media messages.
#[derive(Debug, Parser)]
#[command(name = "echolens", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The main job: ingest the exports (none: the built-in demo corpus), run the timeline, coordination, reuse
    /// and vocabulary analyses with their defaults, and write every table and one self-contained report.html.
    Analyze(AnalyzeArgs),
    /// Read exports into the store (files or folders; formats recognised by content).
    Ingest(IngestArgs),
    /// What the store holds: messages, channels, authors, platforms, time range, quarantine.
    Stats(StatsArgs),
    /// Run SQL over the `messages` and `quarantine` tables.
    Sql(SqlArgs),
    /// Build the demo corpus (planted campaigns), ingest it and print its stats.
    Demo(DemoArgs),
    /// Accounts that act together: the same text, link, hashtag, repost, reply target or near-identical text
    /// within a sliding window, again and again. Writes edges, clusters, networks and a summary.
    Coordination(CoordinationArgs),
    /// Text reuse: which texts were copied where, and who posted first. Near-duplicates at any time distance
    /// (MinHash LSH, every match verified), forwards and reposts, grouped into cascades with an origin each.
    Reuse(ReuseArgs),
    /// Which words and phrases mark a part of the corpus (the target) against another (the reference, by default
    /// the rest): log-odds ratio with an informative Dirichlet prior, and its z-score. Writes terms.csv.
    Keyness(KeynessArgs),
    /// How a vocabulary spread: per channel its first use, uses and share; adoption curves per day; the channels
    /// that used each term first. Writes adoption.csv, term_adoption.csv, curve.csv.
    Diffusion(DiffusionArgs),
    /// Messages per day or week, overall, per channel or per platform; with a lexicon, each category's rate;
    /// bursts against a rolling baseline. Writes timeline.csv (and lexicon.csv).
    Timeline(TimelineArgs),
    /// Two or more named sides side by side, in the same units: presence and posting rhythm, reach (the
    /// audience figures the exports state), how far each side's own vocabulary spread, how much of its content
    /// was copied elsewhere, its share in coordination. Writes sides.csv, over_time.csv, hours.csv, reach.csv,
    /// copying.csv, coordination.csv, vocabulary/ and summary.json.
    Compare(CompareArgs),
    /// Explore the store and an analyze output folder in the browser (and through its JSON API): volume and
    /// bursts, search, clusters with each edge's evidence, cascades, keyness of any selection, a read-only SQL
    /// console. Makes the store's search index on first use. Bound to 127.0.0.1; on any other address the API
    /// needs the token it prints.
    Serve(ServeArgs),
    /// Findings in forms others use: a STIX 2.1 bundle with DISARM techniques, or the shareable part of a
    /// report folder as one zip, checked for raw identities first.
    #[command(subcommand)]
    Export(ExportCommand),
    /// The processes of a Ballista cluster, with echolens's functions: a scheduler, and executors that run the
    /// analyses' plans sent with `--cluster df://HOST:PORT` (see README, "Running on a cluster").
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// The scheduler: plans each job into stages and hands their tasks to the executors.
    Scheduler(SchedulerArgs),
    /// An executor: runs tasks, reading the store at the path the client named (the same path on every
    /// machine: a shared file system), and serves their results.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SchedulerArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The port clients and executors reach it on.
    #[arg(long, default_value_t = 50050)]
    pub port: u16,
    /// The host name the others reach it by [default: the bind address].
    #[arg(long)]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is taken as lost and its tasks are run again on
    /// the others.
    #[arg(long, default_value_t = 30)]
    pub executor_timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ExecutorArgs {
    /// The scheduler, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The port of its results service; its task service listens on the next one.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// The host name the scheduler and clients reach it by [default: the bind address].
    #[arg(long)]
    pub external_host: Option<String>,
    /// Tasks it runs at once [default: one per core].
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Where it keeps the intermediate results of running jobs [default: a temporary folder].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Memory for its tasks' buffers, shared by its concurrent tasks; they spill to disk beyond it.
    #[arg(long, value_parser = parse_memory, default_value = "1G", env = "ECHOLENS_MEMORY")]
    pub memory: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// The findings of an `analyze` output folder as a STIX 2.1 bundle: groupings of coordinated accounts and
    /// reuse cascades, their evidence, and the DISARM techniques it supports.
    Stix(StixArgs),
    /// The report, tables, networks and STIX bundle of an `analyze` output folder as one zip with a SHA-256
    /// manifest, written only if no file holds a raw account id, handle or profile URL of the store.
    Share(ShareArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct StixOptionsArgs {
    /// The Traffic Light Protocol marking of every object (TLP 1.0 as STIX 2.1 predefines it; clear is WHITE).
    #[arg(long, value_enum, default_value = "amber")]
    pub tlp: echolens::stix::Tlp,
    /// The analyst or organisation the findings are by (the bundle's `identity`).
    #[arg(long, default_value = "Unnamed analyst")]
    pub identity: String,
}

impl StixOptionsArgs {
    pub(crate) fn options(&self, reveal: bool) -> echolens::stix::Options {
        echolens::stix::Options {
            identity: self.identity.clone(),
            tlp: self.tlp,
            reveal,
            ..echolens::stix::Options::default()
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct StixArgs {
    /// The output folder of `echolens analyze`.
    #[arg(long = "from", value_name = "REPORT_DIR")]
    pub from: PathBuf,
    /// The bundle's file.
    #[arg(long, default_value = "findings.stix.json")]
    pub out: PathBuf,
    #[command(flatten)]
    pub stix: StixOptionsArgs,
    /// Export a report made with --reveal, raw account ids and all.
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShareArgs {
    /// The output folder of `echolens analyze`.
    #[arg(long = "from", value_name = "REPORT_DIR")]
    pub from: PathBuf,
    /// The zip to write (e.g. report.zip).
    #[arg(long)]
    pub out: PathBuf,
    /// The store the findings came from, whose identities are looked for [default: the store the report's
    /// summary names].
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArg {
    /// The store folder.
    #[arg(long, default_value = "echolens-store", env = "ECHOLENS_STORE")]
    pub store: PathBuf,
}

/// What every analysing command takes: memory, pseudonyms, how it answers.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The run's memory budget: the engine's sorts and aggregations spill to disk when the process would hold
    /// more (they keep at least a quarter of it), and the kernels size their batches to it (e.g. 1G, 512M; at
    /// least 64M).
    #[arg(long, value_parser = parse_memory, default_value = "1G", env = "ECHOLENS_MEMORY")]
    pub memory: usize,
    /// Show account ids as they are instead of their pseudonyms (do not share such outputs).
    #[arg(long)]
    pub reveal: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Tables as csv or parquet, both typed by the same declared schemas (networks are GEXF and GraphML
    /// either way).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: TableFormat,
    /// Run the plans on a Ballista cluster: its scheduler's URL. Its executors read the store from the same
    /// path (see README, "Running on a cluster").
    #[arg(long, value_name = "df://HOST:PORT", env = "ECHOLENS_CLUSTER")]
    pub cluster: Option<String>,
}

impl RunArgs {
    /// Where the plans run.
    pub(crate) fn engine(&self) -> echolens::run::Engine {
        echolens::run::Engine::of(self.cluster.as_deref())
    }

    /// The table format, as the library names it.
    pub(crate) fn table_format(&self) -> echolens_analysis::TableFormat {
        match self.format {
            TableFormat::Csv => echolens_analysis::TableFormat::Csv,
            TableFormat::Parquet => echolens_analysis::TableFormat::Parquet,
        }
    }
}

/// The table format of the analysing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TableFormat {
    /// RFC 4180 CSV with a header.
    Csv,
    /// Apache Parquet (zstd).
    Parquet,
}

#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Export files or folders (formats recognised by content). None: the built-in demo corpus.
    pub paths: Vec<PathBuf>,
    /// Folder for report.html, summary.json and the tables of every analysis.
    #[arg(long, default_value = "echolens-report")]
    pub out: PathBuf,
    /// The IANA time zone whose days (and weeks) dates and periods are (e.g. Asia/Tehran); UTC by default.
    #[arg(long, value_parser = parse_zone, default_value = "UTC")]
    pub tz: chrono_tz::Tz,
    /// The store folder [default: ./echolens-store; for the demo corpus OUT-store, beside OUT].
    #[arg(long, env = "ECHOLENS_STORE")]
    pub store: Option<PathBuf>,
    /// Read every input as this format instead of recognising it (as `ingest --format`).
    #[arg(long, value_parser = parse_format)]
    pub input_format: Option<echolens_ingest::Format>,
    /// Platform name for formats that do not state one.
    #[arg(long)]
    pub platform: Option<String>,
    /// The times a message may carry (as `ingest --time-range`); messages dated outside are quarantined.
    #[arg(long, value_name = "FROM..TO", default_value = "..")]
    pub time_range: echolens_ingest::TimeRange,
    /// The UTC offset of the machine that wrote older Telegram Desktop exports (no `date_unixtime`: local times),
    /// e.g. +03:30: their times become exact. Without it they are stored as if UTC, marked inexact.
    #[arg(long, value_parser = echolens_ingest::parse_utc_offset, allow_hyphen_values = true)]
    pub utc_offset: Option<i32>,
    /// A campaign source to characterise, as selectors (`channel=NAME`, `author=ID`, ...; repeat to combine, as
    /// `keyness --target`). Without it: the largest coordination clusters and the widest cascade's origin.
    #[arg(long)]
    pub campaign: Vec<String>,
    /// Sides to compare in the report, as `compare --side` takes them (NAME=SELECTOR, repeat; two sides or
    /// more): their figures go to sides/ and a section of the report.
    #[arg(long = "side")]
    pub sides: Vec<String>,
    /// Coordination window (e.g. 60s, 10m), or `auto` for the window the data suggest (CooRnet's estimate).
    #[arg(long, value_parser = parse_window, default_value = "60s")]
    pub window: Window,
    /// Other windows the coordination is also run at, to show how the result depends on it (`none` for none).
    #[arg(long, value_delimiter = ',', value_parser = parse_sweep, default_value = "10s,600s")]
    pub sweep: Vec<u64>,
    /// Null-model runs for the edges' p-values (each account's times shuffled among its own actions; the
    /// equi-key kinds); the report says how many edges no shuffled corpus matched. Default: 19 (p = 0.05 at
    /// least) for a store of up to 2,000,000 messages, none above (each run costs about 2% of the analysis).
    #[arg(long)]
    pub null_runs: Option<usize>,
    /// Terms per campaign source followed through the channels.
    #[arg(long, default_value_t = 10)]
    pub top_terms: usize,
    /// Messages in the demo corpus (when no input is given).
    #[arg(long, default_value_t = 20_000)]
    pub demo_messages: usize,
    /// Also write the findings as a STIX 2.1 bundle, findings.stix.json (as `export stix`).
    #[arg(long)]
    pub stix: bool,
    #[command(flatten)]
    pub stix_options: StixOptionsArgs,
}

/// A sweep window, or `none`/`0` for no sweep (filtered out).
fn parse_sweep(s: &str) -> Result<u64, String> {
    if s.trim().eq_ignore_ascii_case("none") { Ok(0) } else { parse_seconds(s) }
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Export files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Read every file as this format instead of recognising it:
    /// telegram, telegram-html, jsonl, x-archive, toolkit-csv, twarc, telethon-json, zeeschuimer, 4cat-telegram.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<echolens_ingest::Format>,
    /// Platform name for formats that do not state one (JSONL without `platform`, toolkit CSV).
    #[arg(long)]
    pub platform: Option<String>,
    /// Exit with status 2 when any record was quarantined.
    #[arg(long)]
    pub strict: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// The times a message may carry, FROM..TO (dates or RFC 3339; an empty side keeps its default): messages
    /// dated outside are quarantined with the reason. Default: 1990-01-01 to a day after now.
    #[arg(long, value_name = "FROM..TO", default_value = "..")]
    pub time_range: echolens_ingest::TimeRange,
    /// The UTC offset of the machine that wrote older Telegram Desktop exports (no `date_unixtime`: local times),
    /// e.g. +03:30: their times become exact. Without it they are stored as if UTC, marked inexact.
    #[arg(long, value_parser = echolens_ingest::parse_utc_offset, allow_hyphen_values = true)]
    pub utc_offset: Option<i32>,
    /// New messages per Delta commit (bounds memory and the work an interrupted run redoes).
    #[arg(long, default_value_t = 100_000, hide = true)]
    pub commit_rows: usize,
}

fn parse_format(s: &str) -> Result<echolens_ingest::Format, String> {
    echolens_ingest::Format::from_name(s).ok_or_else(|| {
        let names: Vec<_> = echolens_ingest::Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; expected one of {}", names.join(", "))
    })
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The query, e.g. "SELECT platform, count(*) FROM messages GROUP BY platform".
    pub query: String,
    #[command(flatten)]
    pub store: StoreArg,
    /// Output format: a table shows the first 10,000 rows; CSV and JSON stream every row.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// The query's memory budget: its sorts and aggregations spill to disk past it (e.g. 1G, 512M; at least
    /// 64M).
    #[arg(long, value_parser = parse_memory, default_value = "1G", env = "ECHOLENS_MEMORY")]
    pub memory: usize,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo corpus and its store go.
    #[arg(long, default_value = "echolens-demo")]
    pub out: PathBuf,
    /// Messages in the demo corpus.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Print the stats as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stop after the ingest (benchmarks time the analyses on their own).
    #[arg(long, hide = true)]
    pub ingest_only: bool,
    /// Only write a corpus of N organic messages (planted ones come on top) into OUT/corpus with its truth in
    /// OUT/truth.json, for benchmarks and tests: no store, no analysis.
    #[arg(long, value_name = "N")]
    pub generate: Option<usize>,
    /// The generator's seed (the same seed and size give the same bytes).
    #[arg(long, default_value_t = crate::commands::demo::SEED)]
    pub seed: u64,
    /// Coordinated groups to plant (at least the demo's two; by default two, and one more per 10,000 messages
    /// past 20,000).
    #[arg(long)]
    pub campaigns: Option<usize>,
    /// With --generate: `mixed` (Telegram Desktop exports and JSONL, as users hold them) or `jsonl` (one file,
    /// OUT/corpus/messages.jsonl).
    #[arg(long, value_enum, default_value_t = DemoLayout::Mixed)]
    pub layout: DemoLayout,
    /// With --generate: also write every message as coordination-network-toolkit CSV to OUT/toolkit.csv.
    #[arg(long)]
    pub toolkit_csv: bool,
    /// With --generate: plant this many crowds of ordinary accounts (reposts of a popular account, a news link,
    /// a trending hashtag, the morning greeting), which coordination must not mistake for campaigns.
    #[arg(long, default_value_t = 0)]
    pub crowds: usize,
}

/// How `demo --generate` lays out its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DemoLayout {
    /// Telegram Desktop exports and JSONL.
    Mixed,
    /// One JSONL file.
    Jsonl,
}

#[derive(Debug, Args)]
pub(crate) struct CoordinationArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for edges.csv, clusters.csv, cluster_summary.csv, network.gexf, network.graphml, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Kinds to compute, comma-separated: text, link, hashtag, repost, reply, similar, quote, and domain (the
    /// registrable domain of links, shorteners left out) when asked for.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_kind,
        default_value = "text,link,hashtag,repost,reply,similar,quote"
    )]
    pub kinds: Vec<echolens_analysis::coordination::Kind>,
    /// Two accounts are linked each time they act on the same key at most this far apart (e.g. 60s, 10m, 1h), or
    /// `auto`: the window the data suggest, estimated as CooRnet does (how fast keys are shared).
    #[arg(long, value_parser = parse_window, default_value = "60s")]
    pub window: Window,
    /// Drop edges with fewer distinct shared keys.
    #[arg(long, default_value_t = 2)]
    pub min_weight: u64,
    /// Texts with fewer words are not `text` or `similar` actions.
    #[arg(long, default_value_t = 4)]
    pub min_tokens: usize,
    /// Leave out keys acted on by more accounts (viral links, greetings); they are counted in summary.json.
    #[arg(long, default_value_t = 1000)]
    pub max_key_accounts: u64,
    /// A key acted on by more accounts than this (a crowd reacting to a popular post) counts CROWD_SIZE/accounts
    /// of a key toward an edge's specificity, which --min-weight applies to (0: every key counts 1).
    #[arg(long, default_value_t = 50)]
    pub crowd_size: u64,
    /// How far around the window a key's actions are compared, in windows (0: not at all). A key counts toward
    /// an edge's specificity only the share of its pairs of actions within HORIZON windows of each other that
    /// came within the window: a crowd trickling in over minutes counts little, a burst within seconds whole.
    #[arg(long, default_value_t = 10)]
    pub horizon: u64,
    /// Count a key once, however many times the pair acted on it. By default a key counts once per episode:
    /// per period of HORIZON windows in which the pair acted on it (a campaign pushing the same link wave after
    /// wave gives new evidence each time; one burst gives one).
    #[arg(long)]
    pub keys_once: bool,
    /// Apply --min-weight to a pair's specificity over every kind together (text and similar counting once),
    /// keeping the edges of every kind of the pairs that pass.
    #[arg(long)]
    pub combine_kinds: bool,
    /// Pairs of message keys kept as evidence per edge.
    #[arg(long, default_value_t = 5)]
    pub evidence: usize,
    /// Jaccard threshold of `similar` (word-shingle sets).
    #[arg(long, default_value_t = 0.8)]
    pub similarity: f64,
    /// Words per shingle for `similar` (1 compares word sets, as coordination-network-toolkit does).
    #[arg(long, default_value_t = 1)]
    pub shingle: usize,
    /// Null-model runs for edge p-values (0 = off).
    #[arg(long, default_value_t = 0)]
    pub null_runs: usize,
    /// Also report edges and clusters at these windows, e.g. 10s,60s,600s (writes sweep.csv), for the
    /// exact-key kinds: `similar`'s kernel, whose index spans HORIZON windows, would run again per window.
    #[arg(long, value_delimiter = ',', value_parser = parse_seconds)]
    pub sweep: Vec<u64>,
    /// Sweep `similar` too (at 10M messages and a 600 s window, much the longest part of a run).
    #[arg(long)]
    pub sweep_similar: bool,
    /// Seed of the null model and of Leiden.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// What Leiden optimises: cpm (Constant Potts Model; no resolution limit) or modularity.
    #[arg(long, value_parser = parse_quality, default_value = "cpm")]
    pub quality: echolens_analysis::coordination::Quality,
    /// Leiden resolution (higher: smaller, denser clusters). For cpm: the mean edge weight per account pair a
    /// cluster must exceed.
    #[arg(long, default_value_t = 1.0)]
    pub resolution: f64,
    /// Print each stage's wall time to stderr.
    #[arg(long, hide = true)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// An `echolens analyze` output folder whose clusters and cascades to serve.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// The address to listen on; on anything but loopback the API requires the printed token.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The port (0: any free one, printed).
    #[arg(long, default_value_t = 8717)]
    pub port: u16,
    /// Show account ids as they are instead of their pseudonyms.
    #[arg(long)]
    pub reveal: bool,
    /// The memory budget of each query's engine (as `analyze --memory`; e.g. 1G, 512M; at least 64M).
    #[arg(long, value_parser = parse_memory, default_value = "1G", env = "ECHOLENS_MEMORY")]
    pub memory: usize,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for the tables and summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// A side: NAME=SELECTOR (channel=NAME|ID, author=ID, platform=NAME, since=DATE, until=DATE, where=SQL).
    /// Repeat a name to add to its side (a side holds what any of its selectors holds, across platforms); two
    /// sides or more.
    #[arg(long = "side", required = true)]
    pub sides: Vec<String>,
    /// The period (or any part of the corpus) every side and the corpus are measured within: selectors as
    /// above, e.g. --select since=2024-03-01 --select until=2024-03-31.
    #[arg(long)]
    pub select: Vec<String>,
    /// The IANA time zone of days and hours of day (e.g. Asia/Tehran); UTC by default.
    #[arg(long, value_parser = parse_zone, default_value = "UTC")]
    pub tz: chrono_tz::Tz,
    /// A term marks a side when its keyness z against the other sides is at least this (3.29: p < 0.001).
    #[arg(long, default_value_t = 3.29)]
    pub min_z: f64,
    /// Marking terms per side followed through the corpus.
    #[arg(long, default_value_t = 20)]
    pub top_terms: usize,
    /// Hours a side must have used a term alone, before any channel outside it, for the term to count as its
    /// own to spread (common words are in use everywhere within hours).
    #[arg(long, default_value_t = 24)]
    pub lead_hours: u64,
    /// A channel took a side's term up when it used it in at least this many messages (one use may be chance).
    #[arg(long, default_value_t = 2)]
    pub min_adopter_uses: u64,
    /// Null-model runs of the coordination (default: 19 up to 2M messages, none above).
    #[arg(long)]
    pub null_runs: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct ReuseArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for cascades.csv, cascade_summary.csv, reuse_network.gexf, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Jaccard similarity of word-shingle sets at or above which two texts are copies. The default finds copies
    /// with up to 10% of their words changed, or a short prefix or suffix added (see bench/README.md).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Words per shingle.
    #[arg(long, default_value_t = 2)]
    pub shingle: usize,
    /// Texts with fewer words match only exactly (normalised).
    #[arg(long, default_value_t = 5)]
    pub min_tokens: usize,
    /// A shingle in at least this share of a channel's messages is the channel's boilerplate (signatures,
    /// "join us" lines) and is left out of matching.
    #[arg(long, default_value_t = 0.2)]
    pub boilerplate_share: f64,
    /// Channels with fewer texts are not checked for boilerplate.
    #[arg(long, default_value_t = 20)]
    pub boilerplate_min_messages: u64,
    /// Report cascades that reach at least this many channels (the others are counted in summary.json).
    #[arg(long, default_value_t = 2)]
    pub min_channels: usize,
}

#[derive(Debug, Args)]
pub(crate) struct KeynessArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for terms.csv and summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// The IANA time zone whose days (and weeks) dates and periods are (e.g. Asia/Tehran); UTC by default.
    #[arg(long, value_parser = parse_zone, default_value = "UTC")]
    pub tz: chrono_tz::Tz,
    /// The part of the corpus to describe: channel=NAME|ID, author=ID, platform=NAME, since=DATE, until=DATE,
    /// where=SQL. Repeat to combine (AND across kinds, OR within a kind). With --by, the part to split into
    /// groups (the whole corpus without it).
    #[arg(long, required_unless_present = "by")]
    pub target: Vec<String>,
    /// Score every group against the rest at once, words only, as one long table (terms_by.csv): channel,
    /// week (ISO, from Monday, in --tz) or platform.
    #[arg(long, value_parser = parse_by, conflicts_with = "reference")]
    pub by: Option<echolens_analysis::vocabulary::keyness_by::By>,
    /// With --by: terms kept per group.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// The part to compare it with (same selectors); the rest of the corpus by default.
    #[arg(long)]
    pub reference: Vec<String>,
    /// Term lengths in words, e.g. 1..3 or 1 (phrases are kept only where they beat their parts).
    #[arg(long, value_parser = parse_range, default_value = "1..3")]
    pub ngrams: (usize, usize),
    /// Report terms used at least this often in target and reference together.
    #[arg(long, default_value_t = 10)]
    pub min_count: u64,
    /// Stop-word lists: comma-separated en, fa, ar, ru, or none.
    #[arg(long, default_value = "en,fa,ar,ru")]
    pub stopwords: String,
    /// Weight of the informative prior: each term's prior is its count in target and reference times this
    /// (1 is scattertext's informative prior with scale_type 'none').
    #[arg(long, default_value_t = 0.01)]
    pub prior_scale: f64,
    /// Terms to print.
    #[arg(long, default_value_t = 15)]
    pub show: usize,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("vocabulary").required(true).args(["terms", "from_keyness"]))]
pub(crate) struct DiffusionArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for adoption.csv, term_adoption.csv, curve.csv and summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// A file with one term or phrase a line (lines starting with "# " are comments).
    #[arg(long)]
    pub terms: Option<PathBuf>,
    /// Follow the top terms of a keyness run (its output folder).
    #[arg(long)]
    pub from_keyness: Option<PathBuf>,
    /// With --from-keyness: how many of its top terms.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Look only at these messages (selectors as in keyness --target).
    #[arg(long)]
    pub select: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TimelineArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for timeline.csv, lexicon.csv and summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// The IANA time zone whose days (and weeks) dates and periods are (e.g. Asia/Tehran); UTC by default.
    #[arg(long, value_parser = parse_zone, default_value = "UTC")]
    pub tz: chrono_tz::Tz,
    /// Period and split, comma-separated: day or week, and channel, platform or all.
    #[arg(long, value_delimiter = ',', default_value = "day,channel")]
    pub by: Vec<String>,
    /// A lexicon: TOML (category = ["term", "prefix*", "a phrase"]) or CSV (category,term).
    #[arg(long)]
    pub lexicon: Option<PathBuf>,
    /// Look only at these messages (selectors as in keyness --target).
    #[arg(long)]
    pub select: Vec<String>,
    /// Periods in the rolling baseline of the burst rule (default 7 for days, 4 for weeks).
    #[arg(long)]
    pub burst_window: Option<usize>,
    /// z at or above which a period is a burst.
    #[arg(long, default_value_t = 3.0)]
    pub burst_z: f64,
    /// Fewest messages (or category matches) in a burst.
    #[arg(long, default_value_t = 5)]
    pub burst_min: u64,
}

/// `1..3`, `1..=3` or `2` as an inclusive range.
fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("{s:?} is not a range like 1..3");
    let (lo, hi) = match s.split_once("..") {
        Some((lo, hi)) => (lo.trim(), hi.trim().trim_start_matches('=')),
        None => (s.trim(), s.trim()),
    };
    let (lo, hi): (usize, usize) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

fn parse_quality(s: &str) -> Result<echolens_analysis::coordination::Quality, String> {
    echolens_analysis::coordination::Quality::from_name(s)
        .ok_or_else(|| format!("unknown quality {s:?}; expected cpm or modularity"))
}

fn parse_kind(s: &str) -> Result<echolens_analysis::coordination::Kind, String> {
    use echolens_analysis::coordination::Kind;
    Kind::from_name(s.trim()).ok_or_else(|| {
        let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown kind {s:?}; expected one of {}", names.join(", "))
    })
}

/// `90`, `90s`, `10m`, `2h`, `1d` as seconds.
/// A coordination window: seconds, or estimated from the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// This many seconds.
    Seconds(u64),
    /// CooRnet's estimate.
    Auto,
}

impl Window {
    /// Seconds (60 for `auto`, replaced by the estimate) and whether to estimate.
    pub(crate) fn params(self) -> (u64, bool) {
        match self {
            Window::Seconds(s) => (s, false),
            Window::Auto => (60, true),
        }
    }
}

fn parse_by(s: &str) -> Result<echolens_analysis::vocabulary::keyness_by::By, String> {
    echolens_analysis::vocabulary::keyness_by::By::from_name(s.trim())
        .ok_or_else(|| format!("--by {s:?}: expected channel, week or platform"))
}

fn parse_zone(s: &str) -> Result<chrono_tz::Tz, String> {
    echolens_analysis::zone::parse(s.trim()).map_err(|e| e.to_string())
}

pub(crate) fn parse_window(s: &str) -> Result<Window, String> {
    if s.trim() == "auto" { Ok(Window::Auto) } else { parse_seconds(s).map(Window::Seconds) }
}

pub(crate) fn parse_seconds(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 60s, 10m, 1h"))?;
    let factor = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use s, m, h or d")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("{s:?} is too long"))
}

/// `1G`, `512M`, `2048K` or bytes.
/// The least `--memory` the engine works in: below it, a plan's sorts and aggregations cannot work within their
/// share of the pool even when they spill (measured: the main job on a million messages fails at 48M).
pub(crate) const MIN_MEMORY: usize = 64 << 20;

/// A `--memory` size ([`parse_bytes`]) of at least [`MIN_MEMORY`].
pub(crate) fn parse_memory(s: &str) -> Result<usize, String> {
    let n = parse_bytes(s)?;
    if n < MIN_MEMORY {
        return Err(format!(
            "{s:?} is less than the engine needs: at least 64M (its sorts and aggregations spill to disk beyond it)"
        ));
    }
    Ok(n)
}

pub(crate) fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].to_ascii_uppercase()),
        None => (s, String::new()),
    };
    let n: usize = num.parse().map_err(|_| format!("{s:?} is not a size like 1G or 512M"))?;
    let factor = match unit.trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit; use K, M or G")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_seconds("60"), Ok(60));
        assert_eq!(parse_seconds("60s"), Ok(60));
        assert_eq!(parse_seconds("10m"), Ok(600));
        assert_eq!(parse_seconds("2h"), Ok(7200));
        assert!(parse_seconds("1.5s").is_err());
        assert!(parse_seconds("5y").is_err());
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_memory("64M"), Ok(64 << 20));
        assert!(parse_memory("63M").unwrap_err().contains("at least 64M"));
        assert_eq!(parse_range("1..3"), Ok((1, 3)));
        assert_eq!(parse_range("2"), Ok((2, 2)));
        assert_eq!(parse_range("1..=2"), Ok((1, 2)));
        assert!(parse_range("3..1").is_err());
    }
}
