//! The echolens report: one self-contained HTML page a reader can trust and share.
//!
//! - No network request of any kind: no script, no font, no image from elsewhere; a Content-Security-Policy
//!   forbids them, so even a bug cannot add one. Charts are inline SVG with axes, units and legends.
//! - Bounded: every list is cut to its strongest entries and every text to an excerpt, so the page stays well
//!   under 5 MB whatever the corpus size; the tables next to it hold everything.
//! - Hostile input: message text, names, terms, URLs and labels pass through [`html`]'s escaping everywhere
//!   (text, attributes, SVG, the JSON block), and bidi overrides are shown as `[U+202E]` marks.
//! - Every finding carries its parameters and its evidence (message keys), and the page ends with the command,
//!   version and store version that reproduce it.
#![deny(missing_docs)]

pub mod html;
pub mod layout;
mod sides;
pub mod svg;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use echolens_analysis::best::Best;
use echolens_analysis::coordination::{CHANCE_TIMING_P, Coordination, Kind, MIN_TIMING_LAGS};
use echolens_analysis::reuse::{CascadeSummary, Reuse, summaries, widest_first};
use echolens_analysis::vocabulary::diffusion::Diffusion;
use echolens_analysis::vocabulary::keyness::Keyness;
use echolens_analysis::vocabulary::timeline::{self, Timeline};
use echolens_store::{Stats, rfc3339};

use html::{cut, esc, n, plain, text};
use svg::{LineChart, NetNode, Series, StripRow, XAxis};

/// How the run was made.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The command line.
    pub command: String,
    /// echolens version.
    pub version: String,
    /// The store folder.
    pub store: String,
    /// The store's `messages` table version.
    pub store_version: i64,
    /// When the report was written (RFC 3339).
    pub generated: String,
    /// Stages, their wall time in seconds and the peak memory of the process by their end (MB).
    pub stages: Vec<(String, f64, Option<u64>)>,
    /// Whether account ids are pseudonymised.
    pub pseudonymised: bool,
    /// Channels that are accounts' own timelines (pseudonymised like accounts).
    pub personal_channels: usize,
    /// Whether this is the built-in demo corpus.
    pub demo: bool,
}

/// A channel's row in the corpus table.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    /// Platform.
    pub platform: String,
    /// Channel id (pseudonymised if personal).
    pub channel_id: String,
    /// Channel name (pseudonymised if personal).
    pub name: String,
    /// Messages.
    pub messages: u64,
    /// First message (µs).
    pub first: i64,
    /// Last message (µs).
    pub last: i64,
}

/// A message shown as evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The text as written.
    pub text: String,
    /// Time (µs).
    pub ts: i64,
    /// `platform:channel name`.
    pub channel: String,
}

/// A campaign source and what marks it.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Heading.
    pub title: String,
    /// Why this part of the corpus was chosen.
    pub why: String,
    /// What the target is, in words.
    pub target: String,
    /// What it is compared with, in words.
    pub reference: String,
    /// Keyness of the target.
    pub keyness: Keyness,
    /// How its top terms spread.
    pub diffusion: Option<Diffusion>,
    /// Its weeks, each against its other weeks (`keyness --by week` over the source): what it pushed when.
    pub by_week: Option<echolens_analysis::vocabulary::keyness_by::KeynessBy>,
    /// Where its tables are (relative to the report).
    pub folder: String,
}

/// How much of each list the report shows: caps that keep the page a few hundred KB whatever the corpus. The
/// same caps say what [`slim`] keeps and which evidence [`evidence_keys`] fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Channels in the corpus table.
    pub top_channels: usize,
    /// Channels drawn in the volume chart.
    pub volume_series: usize,
    /// Bursts listed.
    pub bursts: usize,
    /// Clusters drawn in the network picture.
    pub net_clusters: usize,
    /// Accounts drawn in the network picture.
    pub net_nodes: usize,
    /// Edges drawn in the network picture.
    pub net_edges: usize,
    /// Clusters in the cluster table.
    pub cluster_rows: usize,
    /// Clusters whose evidence is shown.
    pub evidence_clusters: usize,
    /// Strongest edges shown per cluster.
    pub evidence_edges: usize,
    /// Most connected accounts shown per cluster.
    pub cluster_members: usize,
    /// Message pairs shown per edge.
    pub evidence_pairs: usize,
    /// Cascades in the reuse table.
    pub cascade_rows: usize,
    /// Cascades drawn as time strips.
    pub strips: usize,
    /// Rows of a time strip.
    pub strip_rows: usize,
    /// Terms shown per campaign source.
    pub terms: usize,
    /// Terms drawn in an adoption chart.
    pub curve_terms: usize,
    /// Characters of a message excerpt.
    pub excerpt: usize,
    /// Weeks of a campaign source shown, the first ones.
    pub weeks: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            top_channels: 20,
            volume_series: 5,
            bursts: 12,
            net_clusters: 8,
            net_nodes: 320,
            net_edges: 2500,
            cluster_rows: 15,
            evidence_clusters: 5,
            evidence_edges: 3,
            cluster_members: 12,
            evidence_pairs: 2,
            cascade_rows: 20,
            strips: 6,
            strip_rows: 14,
            terms: 20,
            curve_terms: 4,
            excerpt: 280,
            weeks: 8,
        }
    }
}

/// Everything the report shows.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// How the run was made.
    pub run: &'a Run,
    /// The store's stats.
    pub stats: &'a Stats,
    /// The largest channels.
    pub channels: &'a [ChannelRow],
    /// Messages per day: all channels and the largest ones, and the bursts.
    pub volume: &'a Volume,
    /// Coordination (its edges slimmed to those the report quotes: [`slim`]).
    pub coordination: &'a Coordination,
    /// What the report says about all of its edges, counted before they were slimmed.
    pub edges: &'a EdgeDigest,
    /// Reuse cascades (their members slimmed to the cascades the report draws: [`slim_reuse`]).
    pub reuse: &'a Reuse,
    /// Every cascade's summary, widest first, taken before the members were slimmed.
    pub reuse_cascades: &'a [CascadeSummary],
    /// Campaign sources and their vocabulary.
    pub campaigns: &'a [Campaign],
    /// Texts of evidence messages by key.
    pub evidence: &'a HashMap<String, Evidence>,
    /// The tables written next to the report (relative paths).
    pub outputs: &'a [String],
    /// Every parameter, as JSON.
    pub parameters: &'a serde_json::Value,
    /// How much of each list it shows.
    pub caps: Caps,
    /// Sides compared (`analyze --side`), if any.
    pub compare: Option<&'a echolens_analysis::compare::Compare>,
}

const CSS: &str = "
:root{--fg:#1a1a1a;--muted:#5b5b5b;--line:#d6d6d6;--bg:#fff;--accent:#0072B2}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI','Noto Sans','DejaVu Sans',sans-serif;color:var(--fg);background:var(--bg);margin:0}
main{max-width:1060px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:21px;margin:36px 0 8px;border-bottom:2px solid var(--fg);padding-bottom:4px}
h3{font-size:17px;margin:24px 0 6px}
nav a{margin-right:14px;color:var(--accent)}
.muted,.params{color:var(--muted);font-size:13px}
.params{background:#f4f4f4;border-left:3px solid var(--line);padding:6px 10px;margin:8px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid var(--line);padding:8px 14px;min-width:130px}.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
p,summary{overflow-wrap:anywhere}
th{overflow-wrap:normal}td.num{overflow-wrap:normal;white-space:nowrap}
th{background:#f4f4f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px;word-break:break-all}
.msg{border-left:3px solid var(--line);padding:4px 8px;margin:4px 0 4px 12px;white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:plaintext}
.ctl{background:#ffe08a;color:#000;font-size:11px;border-radius:2px}
svg.chart{width:100%;height:auto;display:block;margin:8px 0}
svg .grid{stroke:#e3e3e3;stroke-width:1}svg .axis{stroke:#444;stroke-width:1}
svg .tick{font-size:11px;fill:#333}svg .label{font-size:12px;fill:#111}svg .legend{font-size:11px;fill:#111}
svg .mark{fill:none;stroke:#D55E00;stroke-width:2}
svg .edges line{stroke:#8a8a8a;stroke-opacity:.55}svg .node{stroke:#fff;stroke-width:.8}
svg .origin{fill:#000}svg .copy{fill:#0072B2}svg .forward{fill:#D55E00}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:6px 18px}
figure.small{margin:0}figure.small figcaption{font-size:13px}figure.small p{margin:0 0 8px}
.bar{display:inline-block;height:10px;background:var(--accent);vertical-align:middle}
details{margin:6px 0}summary{cursor:pointer}
@media print{nav{display:none}main{max-width:none;padding:0}h2{break-after:avoid}svg,table,.msg{break-inside:avoid}a{color:inherit}}
";

/// Render the whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    // Nothing may load from anywhere: no script runs, styles and images are inline only.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         img-src data:; form-action 'none'; base-uri 'none'\">",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<meta name=\"referrer\" content=\"no-referrer\">");
    let _ = write!(out, "<title>echolens report{}</title>", if r.run.demo { " — demo corpus" } else { "" });
    let _ = write!(out, "<style>{CSS}</style></head><body><main>");
    let _ = write!(
        out,
        "<h1>echolens report{}</h1><p class=\"muted\">Written {} by echolens {} from the store <code>{}</code> \
         (messages table version {}). {}</p>",
        if r.run.demo { ": the built-in demo corpus" } else { "" },
        esc(&r.run.generated),
        esc(&r.run.version),
        plain(&r.run.store),
        r.run.store_version,
        if r.run.pseudonymised {
            format!(
                "Account ids are pseudonymised (<code>u-…</code>, a keyed hash; the key stays in the store), and so \
                 are the {} channels that are accounts' own timelines; public channel names are shown. \
                 <code>--reveal</code> shows the ids.",
                r.run.personal_channels
            )
        } else {
            "Account ids are shown as they are (<code>--reveal</code>): do not share this page.".to_owned()
        }
    );
    out.push_str(
        "<nav><a href=\"#corpus\">Corpus</a><a href=\"#volume\">Volume</a><a href=\"#coordination\">Coordination</a>\
         <a href=\"#reuse\">Reuse</a><a href=\"#vocabulary\">Vocabulary</a>",
    );
    if r.compare.is_some() {
        out.push_str("<a href=\"#sides\">Sides</a>");
    }
    out.push_str("<a href=\"#reproduce\">Parameters</a></nav>");
    corpus(&mut out, r);
    volume(&mut out, r);
    coordination(&mut out, r);
    reuse(&mut out, r);
    vocabulary(&mut out, r);
    if let Some(c) = r.compare {
        sides::section(&mut out, c, &r.caps);
    }
    reproduce(&mut out, r);
    let summary = serde_json::json!({
        "echolens_version": r.run.version,
        "command": r.run.command,
        "store_table_version": r.run.store_version,
        "messages": r.stats.messages,
        "quarantined": r.stats.quarantined,
        "clusters": r.coordination.network.clusters.len(),
        "cascades": r.reuse.counts.cascades,
        "campaigns": r.campaigns.iter().map(|c| serde_json::json!({
            "title": c.title,
            "top_terms": c.keyness.terms.iter().take(10).map(|t| &t.term).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "parameters": r.parameters,
    });
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"echolens-summary\">{}</script>",
        html::json_in_script(&summary)
    );
    out.push_str("</main></body></html>\n");
    out
}

fn day_of(us: i64) -> String {
    rfc3339(us).chars().take(10).collect()
}

fn minute_of(us: i64) -> String {
    let t = rfc3339(us);
    format!("{} {} UTC", &t[..10.min(t.len())], t.get(11..16).unwrap_or(""))
}

/// A duration in words: `45 s`, `12 min`, `3.4 h`, `2.1 days`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0) as f64;
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

fn card(out: &mut String, value: &str, label: &str) {
    let _ = write!(out, "<div class=\"card\"><b>{value}</b>{label}</div>");
}

fn corpus(out: &mut String, r: &Report) {
    let caps = &r.caps;
    let s = r.stats;
    out.push_str("<section id=\"corpus\"><h2>The corpus</h2><div class=\"cards\">");
    card(out, &n(s.messages), "messages");
    card(out, &n(s.channels), "channels");
    card(out, &n(s.authors), "authors");
    card(out, &n(s.platforms.len() as u64), "platforms");
    card(out, &n(s.quarantined), "records quarantined");
    out.push_str("</div>");
    let _ = write!(
        out,
        "<p>From {} to {} (UTC). {}</p>",
        esc(s.first.as_deref().unwrap_or("–")),
        esc(s.last.as_deref().unwrap_or("–")),
        if s.inexact_times > 0 {
            format!(
                "{} messages come from exports that give local time without an offset: their times may be off by \
                 the exporter's time zone.",
                n(s.inexact_times)
            )
        } else {
            String::new()
        }
    );
    out.push_str("<table><tr><th>platform</th><th class=\"num\">messages</th></tr>");
    for (p, count) in &s.platforms {
        let _ = write!(out, "<tr><td>{}</td><td class=\"num\">{}</td></tr>", text(p), n(*count));
    }
    out.push_str("</table>");
    let _ = write!(out, "<h3>The {} largest channels</h3>", r.channels.len().min(caps.top_channels));
    out.push_str(
        "<table><tr><th>channel</th><th>platform</th><th>id</th><th class=\"num\">messages</th><th>first</th>\
         <th>last</th></tr>",
    );
    for c in r.channels.iter().take(caps.top_channels) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            text(&c.name),
            text(&c.platform),
            text(&c.channel_id),
            n(c.messages),
            day_of(c.first),
            day_of(c.last)
        );
    }
    out.push_str("</table>");
    out.push_str("<h3>Quarantine</h3>");
    if s.quarantined == 0 {
        out.push_str("<p>Every record read was stored: nothing was quarantined.</p>");
    } else {
        let _ = write!(
            out,
            "<p>{} records could not be read and were kept aside with the reason (query them with \
             <code>echolens sql \"SELECT * FROM quarantine\"</code>):</p><table><tr><th>reason</th>\
             <th class=\"num\">records</th></tr>",
            n(s.quarantined)
        );
        let mut reasons: Vec<_> = s.quarantine_reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, count) in reasons.iter().take(30) {
            let _ = write!(out, "<tr><td>{}</td><td class=\"num\">{}</td></tr>", text(&cut(reason, 200)), n(**count));
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

/// What the report shows of a per-channel timeline ([`Volume::of`], or [`VolumeBuilder`] series by series): kept
/// in place of its rows, which grow with the channels times the days (3.8 million at 10M generated messages).
#[derive(Debug, Clone)]
pub struct Volume {
    /// The timeline's parameters.
    pub params: timeline::Params,
    /// Messages per period over every series, by period.
    pub totals: Vec<(i64, u64)>,
    /// The largest series by messages (ties by group), at most `caps.volume_series`.
    pub largest: Vec<VolumeSeries>,
    /// Series in all.
    pub series: usize,
    /// Bursts in all.
    pub bursts: usize,
    /// The strongest bursts by z (ties by group), at most `caps.bursts`.
    pub strongest: Vec<timeline::Row>,
    /// The bursts of the largest series, strongest first: the marks on their lines.
    pub marked: Vec<timeline::Row>,
}

/// One series drawn in the report.
#[derive(Debug, Clone)]
pub struct VolumeSeries {
    /// `platform:channel_id` (or a pseudonym).
    pub group: String,
    /// Its display name (empty: none).
    pub name: String,
    /// (period, messages), by period.
    pub points: Vec<(i64, u64)>,
}

impl Volume {
    /// What [`render`] shows of `t`, with `caps` limits.
    pub fn of(t: &Timeline, caps: &Caps) -> Volume {
        let mut v = VolumeBuilder::new(t.params.clone(), caps);
        for series in t.rows.chunk_by(|a, b| a.group == b.group) {
            v.push(series);
        }
        v.finish()
    }
}

/// A [`Volume`] made series by series, as a streamed timeline hands them over: it holds the totals per period,
/// the largest series seen so far and the strongest bursts, never every row.
pub struct VolumeBuilder {
    params: timeline::Params,
    totals: BTreeMap<i64, u64>,
    series: usize,
    bursts: usize,
    /// The largest series: messages, the order pushed, the series, its bursts.
    largest: Best<Largest>,
    strongest: Best<timeline::Row>,
}

type Largest = (u64, usize, VolumeSeries, Vec<timeline::Row>);

impl VolumeBuilder {
    /// An empty digest of a timeline with `params`, to `caps`' limits.
    pub fn new(params: timeline::Params, caps: &Caps) -> VolumeBuilder {
        VolumeBuilder {
            params,
            totals: BTreeMap::new(),
            series: 0,
            bursts: 0,
            largest: Best::new(caps.volume_series, |a, b| b.0.cmp(&a.0).then_with(|| a.2.group.cmp(&b.2.group))),
            strongest: Best::new(caps.bursts, by_strength),
        }
    }

    /// Takes in one whole series (its rows by period), in the order the series come.
    pub fn push(&mut self, series: &[timeline::Row]) {
        let Some(first) = series.first() else { return };
        let mut messages = 0;
        for row in series {
            *self.totals.entry(row.period).or_default() += row.messages;
            messages += row.messages;
        }
        let bursts: Vec<timeline::Row> =
            series.iter().filter(|row| row.scores.first().is_some_and(|s| s.burst)).cloned().collect();
        self.bursts += bursts.len();
        for b in &bursts {
            self.strongest.push(b.clone());
        }
        let drawn = VolumeSeries {
            group: first.group.clone(),
            name: first.name.clone(),
            points: series.iter().map(|r| (r.period, r.messages)).collect(),
        };
        self.largest.push((messages, self.series, drawn, bursts));
        self.series += 1;
    }

    /// The digest.
    pub fn finish(self) -> Volume {
        let largest = self.largest.into_sorted();
        // The marks in the order their rows came, then by strength: as if sorted among all the rows.
        let mut in_order: Vec<&Largest> = largest.iter().collect();
        in_order.sort_by_key(|l| l.1);
        let mut marked: Vec<timeline::Row> = in_order.iter().flat_map(|l| l.3.iter().cloned()).collect();
        marked.sort_by(by_strength);
        Volume {
            params: self.params,
            totals: self.totals.into_iter().collect(),
            largest: largest.into_iter().map(|l| l.2).collect(),
            series: self.series,
            bursts: self.bursts,
            strongest: self.strongest.into_sorted(),
            marked,
        }
    }
}

/// Bursts strongest first (z of the messages' score), ties by group, then as they came (a stable sort).
fn by_strength(a: &timeline::Row, b: &timeline::Row) -> std::cmp::Ordering {
    b.scores[0].z.total_cmp(&a.scores[0].z).then_with(|| a.group.cmp(&b.group))
}

fn volume(out: &mut String, r: &Report) {
    let t = r.volume;
    out.push_str("<section id=\"volume\"><h2>Volume over time</h2>");
    let mut series = vec![Series {
        name: "all channels".into(),
        points: t.totals.iter().map(|(d, m)| (*d as f64, *m as f64)).collect(),
    }];
    for s in &t.largest {
        series.push(Series {
            name: if s.name.is_empty() { s.group.clone() } else { s.name.clone() },
            points: s.points.iter().map(|&(d, m)| (d as f64, m as f64)).collect(),
        });
    }
    let marks: Vec<(f64, f64, String)> = t
        .marked
        .iter()
        .map(|b| {
            (
                b.period as f64,
                b.messages as f64,
                format!("burst in {}: {} messages, z {:.1}", b.name, b.messages, b.scores[0].z),
            )
        })
        .collect();
    let x_label = format!("day ({})", t.params.time_zone);
    out.push_str(&svg::line_chart(&LineChart {
        title: "Messages per day: all channels and the largest ones",
        x: XAxis::Days,
        x_label: &x_label,
        y_label: "messages per day",
        series: &series,
        marks: &marks,
    }));
    let _ = write!(
        out,
        "<p class=\"params\">Bursts: {}. Circles mark bursts of the channels drawn.</p>",
        esc(&t.params.burst_method())
    );
    if t.bursts == 0 {
        out.push_str("<p>No channel had a burst by this rule.</p>");
    } else {
        let _ = write!(
            out,
            "<h3>The strongest bursts ({} in all)</h3><table><tr><th>day</th><th>channel</th>\
             <th class=\"num\">messages</th><th class=\"num\">baseline mean</th><th class=\"num\">z</th></tr>",
            n(t.bursts as u64)
        );
        for b in &t.strongest {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.1}</td></tr>",
                svg::date(b.period as f64),
                text(&b.name),
                n(b.messages),
                b.scores[0].baseline,
                b.scores[0].z
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

fn coordination(out: &mut String, r: &Report) {
    let caps = &r.caps;
    let c = r.coordination;
    let p = &c.params;
    let net = &c.network;
    out.push_str("<section id=\"coordination\"><h2>Coordination</h2>");
    let _ = write!(
        out,
        "<p class=\"params\">Two accounts are linked each time they act on the same key within {} s of each other \
         (a sliding window); an edge's weight is the number of distinct keys shared. A key counts less than one \
         toward an edge's specificity when a crowd used it ({} of a key over its accounts when more than {} \
         did) and when its actions trickled in (only the share of its pairs of actions within {} windows of each \
         other that came within the window): a crowd's chance meetings are not evidence. Edges of specificity \
         under {} are dropped. Kinds: {}. Texts of fewer than {} words are not keys; keys used by more than {} accounts are left \
         out; near-identical texts: Jaccard ≥ {} on {}-word shingles. Clusters: Leiden ({}, resolution {}), \
         seed {}.</p>",
        p.window_s,
        p.crowd_size,
        p.crowd_size,
        p.horizon,
        p.min_weight,
        esc(&p.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")),
        p.min_tokens,
        p.max_key_accounts,
        p.similarity,
        p.shingle,
        format!("{:?}", p.quality).to_lowercase(),
        p.resolution,
        p.seed
    );
    let digest = r.edges;
    out.push_str("<div class=\"cards\">");
    card(out, &n(net.accounts.len() as u64), "accounts in edges");
    card(out, &n(digest.pairs), "account pairs");
    card(out, &n(net.clusters.len() as u64), "clusters");
    card(out, &n(net.unclustered() as u64), "linked accounts in no cluster");
    out.push_str("</div>");
    null_model(out, c, digest);
    out.push_str("<table><tr><th>kind</th><th class=\"num\">edges</th><th class=\"num\">summed weight</th></tr>");
    for (k, (edges, weight)) in &digest.per_kind {
        let _ = write!(
            out,
            "<tr><td>{k}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            n(*edges),
            n(*weight)
        );
    }
    out.push_str("</table>");
    if net.clusters.is_empty() {
        out.push_str("<p>No accounts were linked often enough to form a cluster with these parameters.</p></section>");
        return;
    }
    let summaries = &digest.summaries;
    network_picture(out, c, digest);
    chance(out, c);
    let _ = write!(
        out,
        "<h3>The largest clusters ({} of {})</h3><table><tr><th class=\"num\">cluster</th><th class=\"num\">accounts</th>\
         <th class=\"num\">density</th><th class=\"num\">weight</th><th>kinds (edges)</th><th>active</th><th>platforms</th>\
         <th>top channels</th><th>what they shared most</th><th>who posted first most often</th><th>top domains</th></tr>",
        summaries.len().min(caps.cluster_rows),
        summaries.len()
    );
    let chance_like = summaries.iter().take(caps.cluster_rows).filter(|s| chance_timing(s).is_some()).count();
    if chance_like > 0 {
        let _ = write!(
            out,
            "<p><strong>Note:</strong> {chance_like} of these clusters are marked <em>timing like chance</em>: the \
             lags between their accounts' linked messages are spread over the window as two accounts posting \
             independently give (each lag uniform over the window; p ≥ {CHANCE_TIMING_P} that independent posting \
             gives lags this short, over at least {MIN_TIMING_LAGS} lags). Busy accounts, such as channels posting every few seconds, meet on many keys \
             that way: such a cluster shows accounts active at the same times, not that they acted together.</p>"
        );
    }
    for s in summaries.iter().take(caps.cluster_rows) {
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{}<br>\
             <span class=\"muted\">spec. {}</span></td>\
             <td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.cluster,
            chance_timing(s).map(|p| format!("<br><em>timing like chance</em> (p {p:.2})")).unwrap_or_default(),
            n(s.size as u64),
            s.density,
            n(s.weight),
            s.median_specificity,
            esc(&s.kinds),
            esc(&s.first_seen.chars().take(10).collect::<String>()),
            esc(&s.last_seen.chars().take(10).collect::<String>()),
            text(&s.platforms),
            text(&cut(&s.top_channels, 160)),
            text(&cut(&s.top_keys, 220)),
            text(&cut(&s.leaders, 200)),
            text(&cut(&s.top_domains, 160))
        );
    }
    out.push_str("</table>");
    account_facts(out, summaries, &r.caps);
    evidence(out, r, summaries);
    window_estimate(out, c);
    if !c.sweep.is_empty() {
        let _ = write!(
            out,
            "<h3>Window sweep</h3><p class=\"muted\">The same run at other windows: a finding that only appears at \
             one window is fragile.{}</p><table><tr><th class=\"num\">window (s)</th><th>kind</th><th class=\"num\">edges</th>\
             <th class=\"num\">accounts</th><th class=\"num\">clusters</th><th class=\"num\">largest cluster</th></tr>",
            if p.sweep_similar || !p.kinds.contains(&Kind::Similar) {
                ""
            } else {
                " Near-identical texts (<code>similar</code>) are not swept, and the <code>all</code> rows combine \
                 the other kinds (<code>echolens coordination --sweep</code> sweeps every kind)."
            }
        );
        let mut rows: Vec<echolens_analysis::coordination::SweepRow> = c.sweep.clone();
        rows.extend(digest.own_window.iter().cloned());
        rows.sort_by_key(|r| r.window_s);
        for s in &rows {
            let cell = |v: u64| if s.kind != "all" || v == u64::MAX { "–".to_owned() } else { n(v) };
            let _ = write!(
                out,
                "<tr><td class=\"num\">{}{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                s.window_s,
                if s.window_s == p.window_s { " (this run)" } else { "" },
                esc(&s.kind),
                n(s.edges),
                n(s.accounts),
                cell(s.clusters),
                cell(s.largest_cluster)
            );
        }
        out.push_str("</table>");
    }
    let lo = &c.left_out;
    let _ = write!(
        out,
        "<h3>Left out by the rules</h3><p>{} messages without an author; {} original texts under {} words; \
         {} keys used by more than {} accounts; account pairs linked but under the minimum specificity: {}. \
         Keys that counted less than one: used by a crowd {}; trickling in {}.</p>",
        n(lo.messages_without_author),
        n(lo.short_texts),
        p.min_tokens,
        n(lo.over_max_keys.values().sum()),
        p.max_key_accounts,
        esc(&counted_per_kind(&lo.pairs_below_min_weight)),
        esc(&counted_per_kind(&lo.crowd_sized_keys)),
        esc(&counted_per_kind(&lo.loose_keys))
    );
    if !lo.top_over_max.is_empty() {
        out.push_str(
            "<table><tr><th>kind</th><th>most widely used key left out</th><th class=\"num\">accounts</th></tr>",
        );
        for (kind, label, accounts) in lo.top_over_max.iter().take(10) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(kind),
                text(&cut(label, 160)),
                n(*accounts)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}
/// What the exports say about the accounts of the clusters shown, where they say anything (X
/// information-operations archives do): facts to read beside the evidence.
fn account_facts(out: &mut String, summaries: &[echolens_analysis::coordination::ClusterSummary], caps: &Caps) {
    let shown: Vec<_> = summaries
        .iter()
        .take(caps.cluster_rows)
        .filter(|s| !(s.created_together.is_empty() && s.few_followers.is_empty() && s.clients.is_empty()))
        .collect();
    if shown.is_empty() {
        return;
    }
    out.push_str(
        "<h3>What the exports say about the accounts</h3><p class=\"muted\">Facts the exports state (creation \
         dates, follower counts, the apps used), not verdicts: ordinary people also open accounts in the same \
         week and post from the same app.</p><table><tr><th class=\"num\">cluster</th><th>created together</th>\
         <th>few followers</th><th>apps</th></tr>",
    );
    for s in shown {
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.cluster,
            esc(&s.created_together),
            esc(&s.few_followers),
            text(&cut(&s.clients, 200))
        );
    }
    out.push_str("</table>");
}

/// What the account pairs that met within the window reach, edges or not: the measure a cluster's edges stand
/// out against.
fn chance(out: &mut String, c: &Coordination) {
    let pairs: u64 = c.left_out.linked_pairs.values().map(|s| s.n).sum();
    if pairs == 0 {
        return;
    }
    let rows: Vec<String> = c
        .left_out
        .linked_pairs
        .iter()
        .filter(|(_, s)| s.n > 0)
        .map(|(kind, s)| format!("{kind}: {} pairs, median {}, 99% at most {}", n(s.n), s.median, s.p99))
        .collect();
    let _ = write!(
        out,
        "<p>How far linked pairs reach here: {} account pairs acted on a key within the window at least once \
         (by kind: the median specificity, and what 99% of the pairs stay at or under: {}). Most pairs in a corpus \
         meet by chance; an edge needs {}, and a cluster whose edges sit far above the 99th percentile stands out \
         from them (its median edge specificity is in the table, <em>spec.</em>).</p>",
        n(pairs),
        esc(&rows.join("; ")),
        c.params.min_weight
    );
}

/// Counts per kind as `kind n, kind n`, or `none`.
fn counted_per_kind(counts: &BTreeMap<String, u64>) -> String {
    if counts.values().all(|v| *v == 0) {
        return "none".to_owned();
    }
    counts.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {}", n(*v))).collect::<Vec<_>>().join(", ")
}

/// With null-model runs: how many edges of the equi-key kinds no shuffled corpus matched (p at its least).
fn null_model(out: &mut String, c: &Coordination, digest: &EdgeDigest) {
    let runs = c.params.null_runs;
    if runs == 0 {
        out.push_str(
            "<p class=\"muted\">No null model was run (<code>--null-runs 19</code> gives every edge of the kinds \
             matched on keys a p-value).</p>",
        );
        return;
    }
    let floor = 1.0 / (1.0 + runs as f64);
    let _ = write!(
        out,
        "<p>Null model: {runs} runs, each account's times shuffled among its own actions. {} of {} edges of the \
         kinds matched on keys (all but near-identical texts) were matched or beaten by no shuffled corpus \
         (p = {floor:.3}, the least {runs} runs can give); an edge the shuffles reproduce is timing that ordinary \
         activity explains.</p>",
        n(digest.p_at_floor),
        n(digest.p_tested)
    );
}

/// The window the data suggest (CooRnet's estimate), beside the one used, with a warning when they are far apart.
fn window_estimate(out: &mut String, c: &Coordination) {
    let est = &c.window_estimate;
    let Some(all) = est.all else { return };
    let per_kind: Vec<String> = est.per_kind.iter().map(|(k, s)| format!("{} {:.0} s", text(k), s)).collect();
    let _ = write!(
        out,
        "<h3>The window the data suggest</h3><p>Estimated as CooRnet does, from how fast the {} keys shared twice or \
         more were shared (the quickest tenth by second share; the median delay until half of their shares): \
         <strong>{all:.0} s</strong> over all kinds ({}). This run used {} s.</p>",
        n(est.keys),
        per_kind.join(", "),
        c.params.window_s
    );
    if let Some(warning) = est.warning(c.params.window_s) {
        let _ = write!(out, "<p><strong>Note:</strong> {}.</p>", text(&warning));
    }
}

/// The timing test's p where a cluster's lags are no shorter than chance gives
/// ([`echolens_analysis::coordination::Timing::like_chance`]).
fn chance_timing(s: &echolens_analysis::coordination::ClusterSummary) -> Option<f64> {
    s.timing_p.filter(|_| s.timing_like_chance())
}

fn network_picture(out: &mut String, c: &Coordination, digest: &EdgeDigest) {
    let net = &c.network;
    let strength = &digest.strength;
    let Picture { clusters, nodes: chosen, group, edges } = &digest.picture;
    let clusters: Vec<&echolens_analysis::coordination::Cluster> = net.clusters.iter().take(*clusters).collect();
    let (pos, shape) = layout::grid(chosen.len(), edges, group, 250);
    let max_s = chosen.iter().map(|m| strength[*m]).max().unwrap_or(1).max(1) as f64;
    let nodes: Vec<NetNode> = chosen
        .iter()
        .enumerate()
        .map(|(i, m)| NetNode {
            x: pos[i].0,
            y: pos[i].1,
            group: group[i],
            r: 2.5 + 5.0 * (strength[*m] as f64 / max_s).sqrt(),
            label: format!("{} — cluster {}, weighted degree {}", net.accounts[*m], net.cluster_of[*m], strength[*m]),
        })
        .collect();
    let legend: Vec<String> =
        clusters.iter().map(|c| format!("cluster {} ({} accounts)", c.id, c.members.len())).collect();
    let shown: usize = chosen.len();
    let total: usize = clusters.iter().map(|c| c.members.len()).sum();
    let _ = write!(
        out,
        "<h3>The network of the largest clusters</h3><p class=\"muted\">{} accounts of the {} largest clusters \
         ({} drawn: the most connected of each), {} strongest links among them; a node's size is its weighted degree. Each cluster is laid out on its own (force-directed, computed when the report was written), in a grid, largest first. \
         Every account and edge is in \
         <code>coordination/network.gexf</code> for Gephi.</p>",
        n(total as u64),
        clusters.len(),
        n(shown as u64),
        n(edges.len() as u64)
    );
    out.push_str(&svg::network("Coordination network: the largest clusters", &nodes, edges, &legend, shape));
}

/// The `n` strongest edges inside cluster `id` (`index`: account → node), made whole.
fn strongest_edges(
    c: &Coordination,
    index: &HashMap<&str, usize>,
    id: usize,
    n: usize,
) -> echolens_analysis::Result<Vec<echolens_analysis::coordination::Edge>> {
    strongest_edge_ids(c, index, id).into_iter().take(n).map(|i| c.edges.get(i)).collect()
}

/// The edges inside cluster `id`, strongest first, as positions in `c.edges`.
fn strongest_edge_ids(c: &Coordination, index: &HashMap<&str, usize>, id: usize) -> Vec<usize> {
    let (net, all) = (&c.network, &c.edges);
    let mut edges: Vec<usize> = (0..all.len())
        .filter(|&i| {
            let (a, b) = all.accounts(i);
            let (a, b) = (index.get(&**a), index.get(&**b));
            a.is_some_and(|a| net.cluster_of[*a] == id) && b.is_some_and(|b| net.cluster_of[*b] == id)
        })
        .collect();
    edges.sort_by(|&a, &b| all.weight(b).cmp(&all.weight(a)).then(all.first_seen(a).cmp(&all.first_seen(b))));
    edges
}

/// What the report says about every edge of a coordination result: counted from the whole result, so that
/// [`slim`] may then drop all but the edges it quotes.
#[derive(Debug, Clone, Default)]
pub struct EdgeDigest {
    /// Per kind of the run: edges and their summed weight.
    pub per_kind: BTreeMap<&'static str, (u64, u64)>,
    /// Edges with a null-model p-value, and of those, edges at the least p the runs can give.
    pub p_tested: u64,
    /// See `p_tested`.
    pub p_at_floor: u64,
    /// The run's own window as rows of the sweep table (each swept kind, then `all`); empty without a sweep.
    pub own_window: Vec<echolens_analysis::coordination::SweepRow>,
    /// Every cluster's summary, as `cluster_summary.csv` has it.
    pub summaries: Vec<echolens_analysis::coordination::ClusterSummary>,
    /// The edges the report quotes, whole: the strongest of each of the largest clusters, by cluster.
    pub strongest: BTreeMap<usize, Vec<echolens_analysis::coordination::Edge>>,
    /// The combined network's account pairs, counted before they were slimmed.
    pub pairs: u64,
    /// Each account's weighted degree in the combined network (by its node index).
    pub strength: Vec<u64>,
    /// Each account's degree in the combined network.
    pub degree: Vec<u64>,
    /// The network picture: the most connected accounts of the largest clusters, each one's cluster among those
    /// drawn, and the heaviest pairs among them as (node, node, weight), by their places in `nodes`.
    pub picture: Picture,
}

/// What the network picture draws ([`EdgeDigest::picture`]).
#[derive(Debug, Clone, Default)]
pub struct Picture {
    /// The largest clusters drawn.
    pub clusters: usize,
    /// Node indices of the accounts drawn.
    pub nodes: Vec<usize>,
    /// For each, its cluster's place among the clusters drawn.
    pub group: Vec<usize>,
    /// Pairs among them, heaviest first: (place, place, weight).
    pub edges: Vec<(usize, usize, f64)>,
}

impl Picture {
    /// The picture of `net` within `caps`, its accounts' weighted degrees `strength`.
    fn of(net: &echolens_analysis::coordination::Network, strength: &[u64], caps: &Caps) -> Picture {
        let clusters: Vec<&echolens_analysis::coordination::Cluster> =
            net.clusters.iter().take(caps.net_clusters).collect();
        let per_cluster = (caps.net_nodes / clusters.len().max(1)).max(8);
        let (mut nodes, mut group) = (Vec::new(), Vec::new());
        for (g, cl) in clusters.iter().enumerate() {
            let mut members = cl.members.clone();
            members.sort_by(|a, b| strength[*b].cmp(&strength[*a]).then(a.cmp(b)));
            for m in members.into_iter().take(per_cluster) {
                nodes.push(m);
                group.push(g);
            }
        }
        let index: HashMap<usize, usize> = nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let mut edges: Vec<(usize, usize, f64)> =
            net.edges.iter().filter_map(|e| Some((*index.get(&e.a)?, *index.get(&e.b)?, e.weight as f64))).collect();
        edges.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        edges.truncate(caps.net_edges);
        Picture { clusters: clusters.len(), nodes, group, edges }
    }
}

impl EdgeDigest {
    /// The digest of `c`, whose cluster summaries are `summaries` (those written with its tables), with the
    /// edges quoted within `caps`.
    pub fn of(
        c: &Coordination,
        summaries: Vec<echolens_analysis::coordination::ClusterSummary>,
        caps: &Caps,
    ) -> echolens_analysis::Result<EdgeDigest> {
        use echolens_analysis::coordination::SweepRow;
        let (p, all) = (&c.params, &c.edges);
        let mut per_kind: BTreeMap<&'static str, (u64, u64)> = p.kinds.iter().map(|k| (k.name(), (0, 0))).collect();
        for i in 0..all.len() {
            let k = per_kind.entry(all.kind(i).name()).or_default();
            k.0 += 1;
            k.1 += all.weight(i);
        }
        let floor = 1.0 / (1.0 + p.null_runs as f64);
        let tested: Vec<f64> = (0..all.len()).filter_map(|i| all.p_value(i)).collect();
        let p_at_floor = tested.iter().filter(|&&p| p <= floor + 1e-12).count() as u64;
        // The run's own window among the swept ones, from the main result (the same kinds as the sweep).
        let mut own_window = Vec::new();
        if !c.sweep.is_empty() {
            let net = &c.network;
            let swept: HashSet<&str> = c.sweep.iter().map(|s| s.kind.as_str()).collect();
            // Accounts by a number each, pairs as two numbers in one word: the distinct pairs of millions of
            // edges are a sorted list, not a set of string pairs.
            // Every account of the swept kinds has its number.
            let mut number: HashMap<&str, u32> = HashMap::new();
            let mut all_edges: Vec<u64> = Vec::new();
            for kind in p.kinds.iter().filter(|k| swept.contains(k.name())) {
                let mut accounts: HashSet<&str> = HashSet::new();
                let mut edges = 0;
                for i in (0..all.len()).filter(|&i| all.kind(i) == *kind) {
                    let (a, b) = all.accounts(i);
                    edges += 1;
                    accounts.extend([&**a, &**b]);
                    let next = number.len() as u32;
                    let x = *number.entry(&**a).or_insert(next);
                    let next = number.len() as u32;
                    let y = *number.entry(&**b).or_insert(next);
                    all_edges.push(u64::from(x) << 32 | u64::from(y));
                }
                own_window.push(SweepRow {
                    window_s: p.window_s,
                    kind: kind.name().to_owned(),
                    edges,
                    accounts: accounts.len() as u64,
                    clusters: 0,
                    largest_cluster: 0,
                });
            }
            let combined_as_run = p.sweep_similar || !p.kinds.contains(&Kind::Similar);
            all_edges.sort_unstable();
            all_edges.dedup();
            own_window.push(SweepRow {
                window_s: p.window_s,
                kind: "all".to_owned(),
                edges: all_edges.len() as u64,
                accounts: number.len() as u64,
                // The run's clusters include `similar` edges; shown only where the sweep's do too.
                clusters: if combined_as_run { net.clusters.len() as u64 } else { u64::MAX },
                largest_cluster: if combined_as_run {
                    net.clusters.first().map_or(0, |c| c.members.len() as u64)
                } else {
                    u64::MAX
                },
            });
        }
        let index = c.network.index();
        let mut strongest = BTreeMap::new();
        for cl in c.network.clusters.iter().take(caps.evidence_clusters) {
            strongest.insert(cl.id, strongest_edges(c, &index, cl.id, caps.evidence_edges)?);
        }
        let net = &c.network;
        let (strength, degree) = (net.strength(), net.degree());
        let picture = Picture::of(net, &strength, caps);
        Ok(EdgeDigest {
            per_kind,
            p_tested: tested.len() as u64,
            p_at_floor,
            own_window,
            summaries,
            strongest,
            pairs: net.edges.len() as u64,
            strength,
            degree,
            picture,
        })
    }
}

/// Drops what the report never shows from a result whose tables are written and whose [`EdgeDigest`] is
/// taken: the edges (the digest holds the ones it quotes, whole), the combined network's pairs (the digest holds
/// their count, the accounts' degrees and the pairs it draws), the labels no quoted edge names, the accounts'
/// domains and facts (the clusters' summaries hold what the report shows of them) and the channels of the
/// accounts outside the clusters whose members it lists. The report made from the slimmed result and the
/// digest is the same page; `analyze` slims before reuse runs.
pub fn slim(c: &mut Coordination, digest: &EdgeDigest, caps: &Caps) {
    c.edges = Default::default();
    c.network.drop_edges();
    let labelled: HashSet<(Kind, i64)> =
        digest.strongest.values().flatten().filter_map(|e| e.keys.first().map(|&k| (e.kind, k))).collect();
    c.labels.retain(|k, _| labelled.contains(k));
    c.domains = HashMap::new();
    c.accounts = HashMap::new();
    c.channel_domains = Vec::new();
    let net = &c.network;
    let listed: HashSet<&str> = net
        .clusters
        .iter()
        .take(caps.evidence_clusters)
        .flat_map(|cl| cl.members.iter().map(|&m| net.accounts[m].as_str()))
        .collect();
    c.channels.retain(|a, _| listed.contains(a.as_str()));
    c.channels.shrink_to_fit();
}

/// Drops the members of the cascades the report does not draw from a result whose tables are written, and
/// returns every cascade's summary, widest first (what the report lists). The members of a large corpus's
/// cascades are hundreds of thousands; `analyze` slims before the vocabulary runs.
pub fn slim_reuse(r: &mut Reuse, caps: &Caps) -> Vec<CascadeSummary> {
    let mut s = summaries(r);
    widest_first(&mut s);
    let drawn: HashSet<usize> = s.iter().take(caps.strips).map(|x| x.cascade).collect();
    r.members.retain(|m| drawn.contains(&m.cascade));
    r.members.shrink_to_fit();
    s
}

/// The message keys whose texts the report shows as evidence (fetch them into [`Report::evidence`]).
pub fn evidence_keys(c: &Coordination, caps: &Caps) -> echolens_analysis::Result<Vec<String>> {
    let index = c.network.index();
    let mut keys = Vec::new();
    for cl in c.network.clusters.iter().take(caps.evidence_clusters) {
        for e in strongest_edges(c, &index, cl.id, caps.evidence_edges)? {
            for (x, y) in e.evidence.iter().take(caps.evidence_pairs) {
                keys.extend([x.to_string(), y.to_string()]);
            }
        }
    }
    Ok(keys)
}

fn evidence(out: &mut String, r: &Report, summaries: &[echolens_analysis::coordination::ClusterSummary]) {
    let caps = &r.caps;
    let c = r.coordination;
    let net = &c.network;
    let (strength, degree) = (&r.edges.strength, &r.edges.degree);
    out.push_str(
        "<h3>Each cluster: its accounts and the evidence behind its strongest links</h3><p class=\"muted\">For each \
         of the largest clusters, its most connected accounts, its strongest edges and the first pairs of messages \
         behind them (every account in <code>coordination/clusters.csv</code>, every edge's evidence in \
         <code>coordination/edges.csv</code>).</p>",
    );
    for cl in net.clusters.iter().take(caps.evidence_clusters) {
        let edges = r.edges.strongest.get(&cl.id).map_or(&[][..], Vec::as_slice);
        let chance = summaries.iter().find(|s| s.cluster == cl.id).and_then(chance_timing);
        let _ = write!(
            out,
            "<details{}><summary>Cluster {} ({} accounts){}</summary>",
            if cl.id == 1 { " open" } else { "" },
            cl.id,
            cl.members.len(),
            chance.map(|p| format!(": timing like chance (p {p:.2})")).unwrap_or_default()
        );
        let mut members = cl.members.clone();
        members.sort_by(|a, b| strength[*b].cmp(&strength[*a]).then(a.cmp(b)));
        out.push_str(
            "<table><tr><th>account</th><th class=\"num\">linked accounts</th><th class=\"num\">weighted degree</th>\
             <th>where it posts most (messages)</th></tr>",
        );
        for &m in members.iter().take(caps.cluster_members) {
            let account = &net.accounts[m];
            let mut channels: Vec<(&String, &u64)> =
                c.channels.get(account).map(|ch| ch.iter().map(|(c, n)| (c, n)).collect()).unwrap_or_default();
            channels.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = channels.iter().take(3).map(|(ch, k)| format!("{ch} ({k})")).collect();
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                text(account),
                n(degree[m]),
                n(strength[m]),
                text(&top.join(", "))
            );
        }
        out.push_str("</table>");
        if members.len() > caps.cluster_members {
            let _ = write!(out, "<p class=\"muted\">and {} more accounts.</p>", members.len() - caps.cluster_members);
        }
        for e in edges.iter().take(caps.evidence_edges) {
            let label = e.keys.first().and_then(|k| c.labels.get(&(e.kind, *k)));
            let _ = write!(
                out,
                "<p><code>{}</code> and <code>{}</code>: {} distinct {} keys within {} s, {} to {}{}{}</p>",
                text(&e.a),
                text(&e.b),
                e.weight,
                e.kind.name(),
                c.params.window_s,
                minute_of(e.first_seen),
                minute_of(e.last_seen),
                e.p_value.map(|p| format!(", p = {p:.3}")).unwrap_or_default(),
                label
                    .filter(|_| e.kind != Kind::Similar)
                    .map(|l| format!("; first shared: {}", text(&cut(l, 140))))
                    .unwrap_or_default()
            );
            for (x, y) in e.evidence.iter().take(caps.evidence_pairs) {
                for key in [x, y] {
                    match r.evidence.get(&**key) {
                        Some(m) => {
                            let _ = write!(
                                out,
                                "<div class=\"msg\"><span class=\"muted\">{} · {} · <code>{}</code></span>\n{}</div>",
                                minute_of(m.ts),
                                text(&m.channel),
                                text(key),
                                text(&cut(&m.text, caps.excerpt))
                            );
                        }
                        None => {
                            let _ = write!(out, "<div class=\"msg\"><code>{}</code></div>", text(key));
                        }
                    }
                }
            }
        }
        out.push_str("</details>");
    }
}

fn reuse(out: &mut String, r: &Report) {
    let caps = &r.caps;
    let u = r.reuse;
    let p = &u.params;
    let c = &u.counts;
    out.push_str("<section id=\"reuse\"><h2>Reuse cascades</h2>");
    let _ = write!(
        out,
        "<p class=\"params\">Each message is linked to at most one earlier message: a repost to its original, an exact \
         copy (normalised) to the first occurrence, otherwise the most similar earlier text with Jaccard ≥ {} on \
         {}-word shingles (MinHash LSH, {} bands, every candidate checked exactly). Texts under {} words match only \
         exactly; shingles in ≥ {}% of a channel's texts are its boilerplate; cascades reaching fewer than {} \
         channels are left out.</p>",
        p.threshold,
        p.shingle,
        p.bands,
        p.min_tokens,
        p.boilerplate_share * 100.0,
        p.min_channels
    );
    out.push_str("<div class=\"cards\">");
    card(out, &n(c.cascades), "cascades");
    card(out, &n(c.members), "messages in them");
    card(out, &n(c.exact_links), "exact copies");
    card(out, &n(c.near_links), "near copies");
    card(out, &n(c.forwards_linked + c.reposts_linked), "forwards and reposts");
    out.push_str("</div>");
    let _ = write!(
        out,
        "<p class=\"muted\">Left out: {} cascades in fewer than {} channels ({} messages); boilerplate: {} shingles in \
         {} channels.</p>",
        n(c.cascades_below_min_channels),
        p.min_channels,
        n(c.members_below_min_channels),
        n(c.boilerplate_shingles),
        n(c.boilerplate_channels)
    );
    forwards(out, u, caps);
    let s = r.reuse_cascades;
    if s.is_empty() {
        out.push_str("<p>No text was copied into enough channels to form a cascade.</p></section>");
        return;
    }
    let _ = write!(
        out,
        "<h3>The widest cascades ({} of {})</h3><table><tr><th class=\"num\">cascade</th><th>origin</th><th>start</th>\
         <th class=\"num\">messages</th><th class=\"num\">channels</th><th>half the channels within</th><th>span</th>\
         <th class=\"num\">copies</th><th class=\"num\">forwards</th><th>similarity</th><th>the origin's text</th></tr>",
        s.len().min(caps.cascade_rows),
        n(s.len() as u64)
    );
    for x in s.iter().take(caps.cascade_rows) {
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}<br><code>{}</code></td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td>{}</td></tr>",
            x.cascade,
            text(if x.origin_channel_name.is_empty() { &x.origin_channel_id } else { &x.origin_channel_name }),
            text(&x.origin_key),
            esc(&x.start.chars().take(16).collect::<String>().replace('T', " ")),
            n(x.size as u64),
            n(x.channels as u64),
            duration(x.half_channels_s),
            duration(x.span_s),
            x.copies,
            x.forwards,
            match (x.similarity_min, x.similarity_max) {
                (Some(a), Some(b)) => format!("{a:.2}–{b:.2}"),
                _ => "exact".into(),
            },
            text(&cut(&x.excerpt, 160))
        );
    }
    out.push_str(
        "</table><h3>How the widest cascades unfolded</h3><p class=\"muted\">One row per channel in the order \
                  it was reached; ■ the origin, ● a copy, ▲ a forward or repost.</p>",
    );
    let by_cascade: HashMap<usize, &[echolens_analysis::reuse::Member]> =
        u.members.chunk_by(|a, b| a.cascade == b.cascade).map(|m| (m[0].cascade, m)).collect();
    for x in s.iter().take(caps.strips) {
        let Some(members) = by_cascade.get(&x.cascade) else { continue };
        let start = members[0].ts;
        let mut rows: Vec<StripRow> = Vec::new();
        let mut row_of: HashMap<&str, usize> = HashMap::new();
        let mut sorted: Vec<&echolens_analysis::reuse::Member> = members.iter().collect();
        sorted.sort_by_key(|m| m.ts);
        for m in sorted {
            let i = *row_of.entry(&m.channel_id).or_insert_with(|| {
                rows.push(StripRow {
                    label: m.channel_name.clone().unwrap_or_else(|| m.channel_id.clone()),
                    events: vec![],
                });
                rows.len() - 1
            });
            if i < caps.strip_rows {
                rows[i].events.push((
                    (m.ts - start) as f64 / 3.6e9,
                    m.role.name(),
                    format!("{} {} · {}", m.role.name(), minute_of(m.ts), m.key),
                ));
            }
        }
        let more = rows.len().saturating_sub(caps.strip_rows);
        rows.truncate(caps.strip_rows);
        let _ = write!(
            out,
            "<p><b>Cascade {}</b>: {} messages in {} channels from {}{}.</p>",
            x.cascade,
            n(x.size as u64),
            n(x.channels as u64),
            text(if x.origin_channel_name.is_empty() { &x.origin_channel_id } else { &x.origin_channel_name }),
            if more > 0 { format!(" ({more} more channels not drawn)") } else { String::new() }
        );
        out.push_str(&svg::time_strip(&format!("Cascade {}: messages by channel over time", x.cascade), &rows));
    }
    out.push_str("</section>");
}

/// Who forwards whom: the pairs with the most forwards, sources outside the corpus marked.
fn forwards(out: &mut String, u: &echolens_analysis::reuse::Reuse, caps: &Caps) {
    if u.forwards.is_empty() {
        return;
    }
    let outside = u.forwards.iter().filter(|f| f.source_channel_id.is_none()).count();
    let _ = write!(
        out,
        "<h3>Who forwards whom ({} of {} pairs; {} from sources outside the corpus)</h3><table><tr><th>source</th>\
         <th>forwarding channel</th><th class=\"num\">forwards</th><th>first</th><th>last</th><th>first forward</th></tr>",
        u.forwards.len().min(caps.cascade_rows),
        n(u.forwards.len() as u64),
        n(outside as u64)
    );
    for f in u.forwards.iter().take(caps.cascade_rows) {
        let source = if f.source_channel_id.is_some() {
            text(&f.source)
        } else {
            format!("{} <span class=\"muted\">(outside the corpus)</span>", text(&f.source))
        };
        let _ = write!(
            out,
            "<tr><td>{source}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            text(f.channel_name.as_deref().unwrap_or(&f.channel_id)),
            n(f.forwards),
            esc(&minute_of(f.first)),
            esc(&minute_of(f.last)),
            text(f.evidence.first().map_or("", String::as_str))
        );
    }
    out.push_str(
        "</table><p class=\"muted\">Every pair: <code>reuse/forwards.csv</code> (with evidence keys) and \
                  <code>reuse/forward_network.gexf</code>.</p>",
    );
}

fn vocabulary(out: &mut String, r: &Report) {
    let caps = &r.caps;
    out.push_str("<section id=\"vocabulary\"><h2>Vocabulary</h2>");
    if r.campaigns.is_empty() {
        out.push_str(
            "<p>No campaign source was named, and no cluster or cascade was found to take one from.</p></section>",
        );
        return;
    }
    out.push_str(
        "<p class=\"muted\">What marks each source against the reference: the log-odds ratio with an informative \
         Dirichlet prior (Monroe, Colaresi and Quinn 2008) and its z-score, over words and phrases; then how the \
         source's top terms spread across channels.</p>",
    );
    for c in r.campaigns {
        let k = &c.keyness;
        let _ = write!(
            out,
            "<h3>{}</h3><p>{}</p><p class=\"params\">Target: {} ({} messages). Reference: {} ({} messages). \
             {}–{} word terms, min count {}, prior scale {}, stop words {}. Tables: <code>{}</code>.</p>",
            text(&c.title),
            text(&c.why),
            text(&c.target),
            n(k.counts.messages_target),
            text(&c.reference),
            n(k.counts.messages_reference),
            k.params.ngrams.0,
            k.params.ngrams.1,
            k.params.min_count,
            k.params.prior_scale,
            esc(&k.params.stopwords.iter().map(|l| l.code()).collect::<Vec<_>>().join(",")),
            text(&c.folder)
        );
        let top: Vec<&echolens_analysis::vocabulary::keyness::Term> =
            k.terms.iter().filter(|t| t.z > 0.0).take(caps.terms).collect();
        if top.is_empty() {
            out.push_str("<p>No term marks the target at the minimum count.</p>");
            continue;
        }
        let max_z = top.iter().map(|t| t.z).fold(1e-9f64, f64::max);
        out.push_str(
            "<table><tr><th>term</th><th class=\"num\">z</th><th></th><th class=\"num\">in target</th>\
             <th class=\"num\">in reference</th></tr>",
        );
        for t in &top {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{:.1}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span></td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                text(&t.term),
                t.z,
                (t.z / max_z * 160.0).max(1.0),
                n(t.count_target),
                n(t.count_reference)
            );
        }
        out.push_str("</table>");
        if let Some(w) = &c.by_week {
            by_week(out, w, &r.caps);
        }
        if let Some(d) = &c.diffusion {
            diffusion(out, d, &r.caps);
        }
    }
    out.push_str("</section>");
}

/// A campaign source's weeks, each against the others: the words that mark each.
fn by_week(out: &mut String, w: &echolens_analysis::vocabulary::keyness_by::KeynessBy, caps: &Caps) {
    if w.groups < 2 || w.terms.is_empty() {
        return;
    }
    let mut weeks: BTreeMap<&str, Vec<&echolens_analysis::vocabulary::keyness_by::GroupTerm>> = BTreeMap::new();
    for t in w.terms.iter().filter(|t| t.z > 0.0) {
        weeks.entry(t.group.as_str()).or_default().push(t);
    }
    let _ = write!(
        out,
        "<p>Week by week, each of its {} weeks against its others (the same log-odds, words only): what the source \
         pushed when.</p><table><tr><th>week of</th><th>words that mark the week (z)</th></tr>",
        w.groups
    );
    for (week, terms) in weeks.iter().take(caps.weeks) {
        let words: Vec<String> = terms.iter().take(5).map(|t| format!("{} ({:.1})", t.term, t.z)).collect();
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(week), text(&words.join(", ")));
    }
    out.push_str("</table>");
}

fn diffusion(out: &mut String, d: &Diffusion, caps: &Caps) {
    let _ = write!(
        out,
        "<p>The top {} terms were used in {} of {} channels.</p>",
        d.terms.len(),
        n(d.adopters),
        n(d.channel_count)
    );
    let mut names: Vec<&str> = vec!["*"];
    let mut by_uses: Vec<&echolens_analysis::vocabulary::diffusion::TermSummary> =
        d.summary.iter().filter(|s| s.term != "*").collect();
    by_uses.sort_by(|a, b| b.channels.cmp(&a.channels).then(b.uses.cmp(&a.uses)));
    names.extend(by_uses.iter().take(caps.curve_terms).map(|s| s.term.as_str()));
    let series: Vec<Series> = names
        .iter()
        .map(|term| Series {
            name: if *term == "*" { "any of the terms".to_owned() } else { (*term).to_owned() },
            points: d.curve.iter().filter(|p| p.term == *term).map(|p| (p.day as f64, p.channels as f64)).collect(),
        })
        .collect();
    out.push_str(&svg::line_chart(&LineChart {
        title: "Adoption: channels that had used the terms, by day",
        x: XAxis::Days,
        x_label: "day (UTC)",
        y_label: "channels that had used it",
        series: &series,
        marks: &[],
    }));
    out.push_str(
        "<table><tr><th>term</th><th class=\"num\">channels</th><th class=\"num\">messages</th><th>first use</th>\
         <th>first used by</th><th class=\"num\">days until half its channels</th></tr>",
    );
    for s in &d.summary {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            if s.term == "*" { "<i>any of them</i>".to_owned() } else { text(&s.term) },
            n(s.channels),
            n(s.uses),
            esc(&s.first_use.as_deref().unwrap_or("").chars().take(16).collect::<String>().replace('T', " ")),
            text(&cut(&s.sources.join(", "), 80)),
            s.days_to_half.map(|d| format!("{d:.1}")).unwrap_or_default()
        );
    }
    out.push_str("</table>");
}

fn reproduce(out: &mut String, r: &Report) {
    out.push_str("<section id=\"reproduce\"><h2>Parameters and how to reproduce</h2>");
    let _ = write!(
        out,
        "<p>Command: <code>{}</code><br>echolens {}; store <code>{}</code>, messages table version {}; written {}.</p>",
        plain(&r.run.command),
        esc(&r.run.version),
        plain(&r.run.store),
        r.run.store_version,
        esc(&r.run.generated)
    );
    out.push_str(
        "<table><tr><th>stage</th><th class=\"num\">seconds</th><th class=\"num\">peak memory so far (MB)</th></tr>",
    );
    for (stage, s, m) in &r.run.stages {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{s:.1}</td><td class=\"num\">{}</td></tr>",
            esc(stage),
            m.map(n).unwrap_or_default()
        );
    }
    out.push_str("</table><details><summary>Every parameter (JSON)</summary><pre>");
    out.push_str(&esc(&serde_json::to_string_pretty(r.parameters).unwrap_or_default()));
    out.push_str("</pre></details><p>Tables written next to this report:</p><ul>");
    for o in r.outputs {
        let _ = write!(out, "<li><code>{}</code></li>", plain(o));
    }
    out.push_str("</ul></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use echolens_analysis::coordination::cluster_summaries;
    use echolens_analysis::coordination::{Cluster, Edge, Edges, Network, Params};

    /// Seven clusters of accounts `c{i}-{j}`: the first of five accounts (ten edges), the rest of three.
    fn coordination() -> Coordination {
        let sizes = [5usize, 3, 3, 3, 3, 3, 3];
        let mut accounts: Vec<String> =
            sizes.iter().enumerate().flat_map(|(i, &n)| (0..n).map(move |j| format!("c{i}-{j}"))).collect();
        accounts.sort_unstable();
        let index = |a: &str| accounts.binary_search_by(|x| x.as_str().cmp(a)).unwrap();
        let mut edges = Vec::new();
        let mut labels = HashMap::new();
        for (i, &n) in sizes.iter().enumerate() {
            for x in 0..n {
                for y in x + 1..n {
                    let key = (i * 100 + x * 10 + y) as i64;
                    labels.insert((Kind::Text, key), format!("text {key}"));
                    edges.push(Edge {
                        kind: Kind::Text,
                        a: format!("c{i}-{x}").into(),
                        b: format!("c{i}-{y}").into(),
                        weight: (2 + x + y) as u64,
                        first_seen: key,
                        last_seen: key + 1,
                        evidence: vec![(format!("m{key}a").into(), format!("m{key}b").into())],
                        evidence_hashes: Vec::new(),
                        keys: vec![key, key + 1000],
                        p_value: None,
                        specificity: (2 + x + y) as f64,
                        lead: Default::default(),
                        spells: vec![(key, key + 1)],
                    });
                }
            }
        }
        let cluster_of: Vec<usize> =
            accounts.iter().map(|a| a[1..a.find('-').unwrap()].parse::<usize>().unwrap() + 1).collect();
        let clusters = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Cluster { id: i + 1, members: (0..n).map(|j| index(&format!("c{i}-{j}"))).collect() })
            .collect();
        let channels = accounts.iter().map(|a| (a.clone(), vec![(format!("ch-{a}"), 2)])).collect();
        let domains = accounts.iter().map(|a| (a.clone(), vec![("example.org".to_owned(), 1)])).collect();
        let mut network = Network::default();
        (network.accounts, network.cluster_of, network.clusters) = (accounts, cluster_of, clusters);
        Coordination {
            params: Params::default(),
            edges: Edges::from_vec(edges).unwrap(),
            network,
            labels,
            left_out: Default::default(),
            sweep: Vec::new(),
            channels,
            window_estimate: Default::default(),
            domains,
            channel_domains: Vec::new(),
            accounts: Default::default(),
        }
    }

    #[test]
    fn the_digest_holds_exactly_what_the_report_quotes_and_slimming_drops_the_rest() {
        let full = coordination();
        let caps = Caps::default();
        let digest = EdgeDigest::of(&full, cluster_summaries(&full).unwrap(), &caps).unwrap();
        let index = full.network.index();
        let mut shown = Vec::new();
        for cl in full.network.clusters.iter().take(caps.evidence_clusters) {
            shown.extend(strongest_edge_ids(&full, &index, cl.id).into_iter().take(caps.evidence_edges));
        }
        // Five clusters quoted, three edges each; clusters 6 and 7 and cluster 1's weaker edges are not.
        assert_eq!(shown.len(), 15);
        let quoted: Vec<&Edge> = digest.strongest.values().flatten().collect();
        assert_eq!(quoted.len(), 15);
        for (q, &i) in quoted.iter().zip(&shown) {
            assert_eq!(**q, full.edges.get(i).unwrap(), "edge {i} is quoted whole");
        }
        // The strongest first within each cluster: cluster 1's heaviest edge is c0-3 and c0-4 (weight 9).
        let first = &digest.strongest[&1][0];
        assert_eq!((&*first.a, &*first.b, first.weight), ("c0-3", "c0-4", 9));
        // The evidence the report fetches is the quoted edges'.
        let keys: Vec<String> = quoted
            .iter()
            .flat_map(|e| e.evidence.iter().take(caps.evidence_pairs).flat_map(|(x, y)| [x.to_string(), y.to_string()]))
            .collect();
        assert_eq!(evidence_keys(&full, &caps).unwrap(), keys);
        // Smaller caps quote less.
        let one = Caps { evidence_clusters: 1, ..caps };
        assert_eq!(EdgeDigest::of(&full, Vec::new(), &one).unwrap().strongest.len(), 1);
        assert!(evidence_keys(&full, &one).unwrap().len() < keys.len());
        // Slimming drops every edge, and the labels no quoted edge names.
        let mut slimmed = full.clone();
        slim(&mut slimmed, &digest, &caps);
        assert!(slimmed.edges.is_empty() && full.edges.len() > 15);
        assert_eq!(slimmed.labels.len(), 15);
        assert!(quoted.iter().all(|e| slimmed.labels.contains_key(&(e.kind, e.keys[0]))));
        // The channels kept are those of the listed clusters' accounts, and nothing else per account.
        let listed: HashSet<&String> = full.network.clusters[..caps.evidence_clusters]
            .iter()
            .flat_map(|cl| cl.members.iter().map(|&m| &full.network.accounts[m]))
            .collect();
        assert!(full.channels.keys().any(|a| !listed.contains(a)));
        let kept: HashSet<&String> = slimmed.channels.keys().collect();
        assert_eq!(kept, full.channels.keys().filter(|a| listed.contains(a)).collect());
        assert!(!kept.is_empty() && slimmed.channels.iter().all(|(a, ch)| full.channels[a] == *ch));
        assert!(slimmed.domains.is_empty() && slimmed.accounts.is_empty() && !full.domains.is_empty());
    }

    #[test]
    fn the_digest_counts_every_edge_and_the_clusters_as_their_table_does() {
        let full = coordination();
        let all = full.edges.to_vec().unwrap();
        let digest = EdgeDigest::of(&full, cluster_summaries(&full).unwrap(), &Caps::default()).unwrap();
        let edges: u64 = digest.per_kind.values().map(|(n, _)| n).sum();
        let weight: u64 = digest.per_kind.values().map(|(_, w)| w).sum();
        assert_eq!(edges, all.len() as u64);
        assert_eq!(weight, all.iter().map(|e| e.weight).sum::<u64>());
        assert_eq!(digest.summaries.len(), full.network.clusters.len());
        // The p-values: none tested here.
        assert_eq!((digest.p_tested, digest.p_at_floor), (0, 0));
    }

    /// The volume digest: totals over every series, the largest series (ties by group) with all their points,
    /// every burst counted, the strongest shown, and the marks only on the series drawn.
    #[test]
    fn volume_keeps_what_the_report_shows() {
        use echolens_analysis::vocabulary::timeline::{Group, Period, Row, Score};
        let row = |group: &str, period: i64, messages: u64, z: f64| Row {
            period,
            group: group.to_owned(),
            name: format!("name of {group}"),
            messages,
            categories: Vec::new(),
            scores: vec![Score { baseline: 1.0, z, burst: z >= 3.0 }],
        };
        let t = Timeline {
            params: timeline::Params::new(Period::Day, Group::Channel),
            selection: String::new(),
            categories: Vec::new(),
            rows: vec![
                row("t:a", 1, 10, 0.0),
                row("t:a", 2, 30, 4.0),
                row("t:b", 1, 20, 0.0),
                row("t:b", 3, 20, 0.0),
                row("t:c", 2, 5, 9.0),
                row("t:d", 3, 40, 0.0),
            ],
            messages: 125,
        };
        let caps = Caps { volume_series: 2, bursts: 1, ..Caps::default() };
        let v = Volume::of(&t, &caps);
        assert_eq!(v.totals, vec![(1, 30), (2, 35), (3, 60)]);
        let largest: Vec<(&str, &[(i64, u64)])> =
            v.largest.iter().map(|s| (s.group.as_str(), s.points.as_slice())).collect();
        assert_eq!(largest, vec![("t:a", &[(1, 10), (2, 30)][..]), ("t:b", &[(1, 20), (3, 20)][..])]);
        assert_eq!((v.series, v.bursts), (4, 2));
        assert_eq!(v.strongest.iter().map(|b| b.group.as_str()).collect::<Vec<_>>(), vec!["t:c"]);
        assert_eq!(v.marked.iter().map(|b| (b.group.as_str(), b.period)).collect::<Vec<_>>(), vec![("t:a", 2)]);
    }

    /// Series by series, past the point where the builder drops what cannot be shown, the digest is the one of
    /// sorting every row: the same largest series, strongest bursts (equal z by group, then by period) and marks.
    #[test]
    fn volume_built_series_by_series_keeps_the_same_as_sorting_every_row() {
        use echolens_analysis::vocabulary::timeline::{Group, Period, Row, Score};
        let mut rows = Vec::new();
        for g in 0..300u64 {
            for day in 0..(g % 11 + 2) as i64 {
                let messages = (g * 7 + day as u64 * 13) % 50;
                // Few distinct z values, so that ties decide the order.
                let z = ((g + day as u64) % 5) as f64;
                rows.push(Row {
                    period: day,
                    group: format!("t:{:03}", (g * 37) % 300),
                    name: String::new(),
                    messages,
                    categories: Vec::new(),
                    scores: vec![Score { baseline: 1.0, z, burst: z >= 3.0 }],
                });
            }
        }
        rows.sort_by(|a, b| a.group.cmp(&b.group).then(a.period.cmp(&b.period)));
        let caps = Caps { volume_series: 7, bursts: 5, ..Caps::default() };
        let t = Timeline {
            params: timeline::Params::new(Period::Day, Group::Channel),
            selection: String::new(),
            categories: Vec::new(),
            rows,
            messages: 0,
        };
        let v = Volume::of(&t, &caps);
        // Every row sorted at once.
        let mut per: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &t.rows {
            *per.entry(&r.group).or_default() += r.messages;
        }
        let mut largest: Vec<(&str, u64)> = per.into_iter().collect();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        largest.truncate(7);
        let mut bursts: Vec<&Row> = t.rows.iter().filter(|r| r.scores[0].burst).collect();
        bursts.sort_by(|a, b| b.scores[0].z.total_cmp(&a.scores[0].z).then(a.group.cmp(&b.group)));
        let key = |r: &Row| (r.group.clone(), r.period);
        assert_eq!(
            v.largest.iter().map(|s| s.group.as_str()).collect::<Vec<_>>(),
            largest.iter().map(|l| l.0).collect::<Vec<_>>()
        );
        assert_eq!(v.bursts, bursts.len());
        assert!(v.bursts > 100, "enough bursts that the builder drops some");
        assert_eq!(
            v.strongest.iter().map(key).collect::<Vec<_>>(),
            bursts.iter().take(5).map(|r| key(r)).collect::<Vec<_>>()
        );
        let shown: HashSet<&str> = largest.iter().map(|l| l.0).collect();
        let marked: Vec<(String, i64)> =
            bursts.iter().filter(|r| shown.contains(r.group.as_str())).map(|r| key(r)).collect();
        assert_eq!(v.marked.iter().map(key).collect::<Vec<_>>(), marked);
        assert_eq!(v.series, 300);
    }
}
