//! Timeline: messages per day or week, overall or per channel or platform; with a lexicon, how many messages
//! of each period match each category, and the rate; bursts flagged against a rolling baseline.
//!
//! The counts are one SQL aggregate over `messages` with the `lexicon_mask(text_norm)` UDF (a bit per
//! category). Bursts: a period's count x is compared with the `window` periods before it in the same group
//! (missing periods count as 0): z = (x − mean) / max(sd, √mean, 1). A period is a burst when z ≥ `burst_z`,
//! x ≥ `burst_min` and at least 3 earlier periods exist. The √mean floor keeps a quiet group's first busy
//! day from scoring infinitely (a Poisson count's sd is √mean).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::Int64Array;
use arrow::datatypes::DataType;
use datafusion::logical_expr::ColumnarValue;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use super::day_string;
use super::lexicon::Lexicon;
use crate::best::Best;
use crate::select::Selection;
use crate::table::{i64s, strings};
use crate::{Error, Result};

/// A series is written with every empty period up to this many periods (ten years of days).
pub const MAX_FILLED_PERIODS: usize = 3660;

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// UTC days.
    Day,
    /// ISO weeks (Monday to Sunday, UTC).
    Week,
}

/// What a timeline is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// One series for the whole selection.
    All,
    /// One per channel (`platform:channel_id`).
    Channel,
    /// One per platform.
    Platform,
}

/// Timeline parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// Period length.
    pub period: Period,
    /// Split.
    pub group: Group,
    /// Periods in the rolling baseline.
    pub burst_window: usize,
    /// z at or above which a period is a burst.
    pub burst_z: f64,
    /// Fewest messages a burst has.
    pub burst_min: u64,
    /// The IANA time zone whose days (and Monday weeks) the periods are (`UTC` by default).
    pub time_zone: String,
}

impl Params {
    /// Days or weeks, split by `group`, with the default burst rule (7 days or 4 weeks of baseline, z ≥ 3, at
    /// least 5 messages).
    pub fn new(period: Period, group: Group) -> Params {
        let burst_window = if period == Period::Day { 7 } else { 4 };
        Params { period, group, burst_window, burst_z: 3.0, burst_min: 5, time_zone: "UTC".to_owned() }
    }

    /// The burst rule in words.
    pub fn burst_method(&self) -> String {
        format!(
            "z = (count - mean) / max(sd, sqrt(mean), 1) over the {} previous {}s of the same series (missing = 0); \
             burst when z >= {} and count >= {} with at least 3 previous periods; {}s in {}",
            self.burst_window,
            if self.period == Period::Day { "day" } else { "week" },
            self.burst_z,
            self.burst_min,
            if self.period == Period::Day { "day" } else { "week" },
            self.time_zone
        )
    }
}

/// One period of one series.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Period start (days since the epoch).
    pub period: i64,
    /// The series: `all`, a platform, or `platform:channel_id`.
    pub group: String,
    /// Its display name.
    pub name: String,
    /// Messages.
    pub messages: u64,
    /// Messages matching each lexicon category.
    pub categories: Vec<u64>,
    /// Burst scores: messages first, then each category.
    pub scores: Vec<Score>,
}

/// A count against its baseline.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Score {
    /// The baseline mean.
    pub baseline: f64,
    /// z against it (0 without enough history).
    pub z: f64,
    /// Whether it is a burst.
    pub burst: bool,
}

/// The result of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Parameters.
    pub params: Params,
    /// The selection.
    pub selection: String,
    /// Lexicon categories.
    pub categories: Vec<String>,
    /// Rows by series, then period ([`run`]; none from [`stream`], which hands them over as it goes).
    #[serde(skip)]
    pub rows: Vec<Row>,
    /// Messages counted.
    pub messages: u64,
}

pub(crate) fn lexicon_udf(lexicon: Arc<Lexicon>) -> datafusion::logical_expr::ScalarUDF {
    let param = serde_json::to_string(lexicon.entries()).expect("strings serialise");
    let udf = crate::udf::string_udf(
        "lexicon_mask",
        &[],
        DataType::Int64,
        // NULL text: NULL mask, which the plan's `CASE` counts as no match.
        Arc::new(move |args: &[ColumnarValue]| crate::udf::map_strings(args, |t| lexicon.mask(t) as i64)),
    );
    crate::udf::parameterised(udf, param)
}

/// Count the messages of `selection` per period and series, with `lexicon`'s categories.
pub async fn run(
    ctx: &SessionContext,
    selection: &Selection,
    lexicon: Option<Lexicon>,
    params: Params,
) -> Result<Timeline> {
    let mut rows = Vec::new();
    let mut t = stream(ctx, selection, lexicon, params, |series| {
        rows.extend(series);
        Ok(())
    })
    .await?;
    t.rows = rows;
    Ok(t)
}

/// As [`run`], but each series' rows go to `each` as the series closes, in series order, and the timeline
/// returned holds none: memory for one series at a time (the counts come sorted by series, a sort that spills),
/// whatever the channels times the days.
pub async fn stream(
    ctx: &SessionContext,
    selection: &Selection,
    lexicon: Option<Lexicon>,
    params: Params,
    mut each: impl FnMut(Vec<Row>) -> Result<()>,
) -> Result<Timeline> {
    if params.burst_window < 3 {
        return Err(Error::Param("the burst window must be at least 3 periods".into()));
    }
    if !selection.is_empty() {
        selection.count(ctx, "corpus").await?;
    }
    let categories: Vec<String> = lexicon.as_ref().map(|l| l.categories().to_vec()).unwrap_or_default();
    if let Some(lex) = lexicon {
        ctx.register_udf(lexicon_udf(Arc::new(lex)));
    }
    let (g, name) = match params.group {
        Group::All => ("'all'", "'all'"),
        Group::Channel => ("concat(platform, ':', channel_id)", "coalesce(channel_name, channel_id)"),
        Group::Platform => ("platform", "platform"),
    };
    let mask = if categories.is_empty() { String::new() } else { ", lexicon_mask(text_norm) AS m".to_owned() };
    let sums: String = (0..categories.len())
        .map(|i| format!(", sum(CASE WHEN (m & {}) <> 0 THEN 1 ELSE 0 END) AS c{i}", 1i64 << i))
        .collect();
    let day = if params.time_zone == "UTC" {
        "CAST(ts AS BIGINT) / 86400000000".to_owned()
    } else {
        let zone = crate::zone::parse(&params.time_zone)?;
        ctx.register_udf(crate::zone::local_day_udf(zone));
        "local_day(CAST(ts AS BIGINT))".to_owned()
    };
    selection.register(ctx, "timeline_selected").await?;
    let sql = format!(
        "SELECT day, g, max(name) AS name, count(*) AS n{sums} FROM (\
           SELECT {day} AS day, {g} AS g, {name} AS name{mask} \
           FROM timeline_selected) GROUP BY day, g ORDER BY g, day"
    );
    let mut batches = ctx.sql(&sql).await?.execute_stream().await?;
    let mut open: Option<Open> = None;
    let mut messages = 0;
    while let Some(b) = batches.next().await {
        let b = b?;
        let (day, g, name, n) = (i64s(&b, "day")?, strings(&b, "g")?, strings(&b, "name")?, i64s(&b, "n")?);
        let cats: Vec<Int64Array> = (0..categories.len()).map(|i| i64s(&b, &format!("c{i}"))).collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            if open.as_ref().is_none_or(|o| o.group != g.value(i)) {
                if let Some(closed) = open.take() {
                    each(closed.rows(&params, categories.len()))?;
                }
                open = Some(Open { group: g.value(i).to_owned(), name: String::new(), cells: BTreeMap::new() });
            }
            let series = open.as_mut().expect("a series is open");
            let day = day.value(i);
            let period = match params.period {
                Period::Day => day,
                Period::Week => day - (day + 3).rem_euclid(7),
            };
            // A series whose channel went by several names is named by the greatest.
            if name.is_valid(i) && name.value(i) > series.name.as_str() {
                series.name = name.value(i).to_owned();
            }
            let cell = series.cells.entry(period).or_insert_with(|| (0, vec![0; categories.len()]));
            cell.0 += n.value(i) as u64;
            messages += n.value(i) as u64;
            for (c, col) in cats.iter().enumerate() {
                cell.1[c] += col.value(i).max(0) as u64;
            }
        }
    }
    if let Some(closed) = open.take() {
        each(closed.rows(&params, categories.len()))?;
    }
    Ok(Timeline { params, selection: selection.to_string(), categories, rows: Vec::new(), messages })
}

/// The series being read: its counts per period (messages, per category).
struct Open {
    group: String,
    name: String,
    cells: BTreeMap<i64, (u64, Vec<u64>)>,
}

impl Open {
    /// The series' rows with their scores.
    fn rows(self, params: &Params, categories: usize) -> Vec<Row> {
        let Open { group, name, cells } = self;
        let (Some(&first), Some(&last)) = (cells.keys().next(), cells.keys().next_back()) else { return Vec::new() };
        let step = if params.period == Period::Day { 1 } else { 7 };
        // Every period from the first to the last, the empty ones as 0 — unless that is more than
        // MAX_FILLED_PERIODS and more than the series' periods with messages times the burst window: then
        // only the `burst_window` empty periods after each busy one are written. Scores are the same either
        // way (past the window, the baseline is all zeros), and the rows stay bounded by the data held.
        let span = ((last - first) / step + 1) as usize;
        let sparse = span > MAX_FILLED_PERIODS.max(cells.len() * (params.burst_window + 1));
        let mut history: Vec<Vec<u64>> = vec![Vec::new(); 1 + categories];
        let mut rows = Vec::new();
        let mut period = first;
        let mut quiet = 0;
        while period <= last {
            let (n, cats) = cells.get(&period).cloned().unwrap_or((0, vec![0; categories]));
            quiet = if n == 0 { quiet + 1 } else { 0 };
            if sparse && quiet > params.burst_window {
                // Jump to the next busy period; the history is `burst_window` zeros already.
                period = cells.range(period..).next().map_or(last + step, |(&p, _)| p);
                continue;
            }
            let values: Vec<u64> = std::iter::once(n).chain(cats.iter().copied()).collect();
            let scores = values.iter().zip(&mut history).map(|(&x, h)| score(x, h, params)).collect();
            for h in &mut history {
                // Only the last `burst_window` values are ever read.
                if h.len() > 4 * params.burst_window {
                    h.drain(..h.len() - params.burst_window);
                }
            }
            rows.push(Row { period, group: group.clone(), name: name.clone(), messages: n, categories: cats, scores });
            period += step;
        }
        rows
    }
}

/// Score `x` against the last `window` values of `history`, then append it.
fn score(x: u64, history: &mut Vec<u64>, p: &Params) -> Score {
    let past = &history[history.len().saturating_sub(p.burst_window)..];
    let out = if past.len() < 3 {
        Score { baseline: 0.0, z: 0.0, burst: false }
    } else {
        let mean = past.iter().sum::<u64>() as f64 / past.len() as f64;
        let var = past.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / past.len() as f64;
        let z = (x as f64 - mean) / var.sqrt().max(mean.sqrt()).max(1.0);
        Score { baseline: mean, z, burst: z >= p.burst_z && x >= p.burst_min }
    };
    history.push(x);
    out
}

/// The columns of the `timeline` table.
fn timeline_schema() -> arrow::datatypes::SchemaRef {
    use crate::Col::*;
    crate::table_schema(&[
        ("period", Day),
        ("group", Text),
        ("name", Text),
        ("messages", Int),
        ("baseline", Fixed(3)),
        ("z", Fixed(3)),
        ("burst", Flag),
    ])
}

/// The columns of the `lexicon` table.
fn lexicon_schema() -> arrow::datatypes::SchemaRef {
    use crate::Col::*;
    crate::table_schema(&[
        ("period", Day),
        ("group", Text),
        ("name", Text),
        ("category", Text),
        ("matches", Int),
        ("messages", Int),
        ("rate", Fixed(6)),
        ("baseline", Fixed(3)),
        ("z", Fixed(3)),
        ("burst", Flag),
    ])
}

/// Bursts the summary lists: how many, and the [`SUMMARY_BURSTS`] strongest (by z as written, to two decimals;
/// equal ones in the order they came), held as they come.
struct Bursts {
    total: usize,
    strongest: Best<(f64, serde_json::Value)>,
}

/// Bursts listed in a timeline's `summary.json`.
const SUMMARY_BURSTS: usize = 100;

impl Default for Bursts {
    fn default() -> Bursts {
        Bursts { total: 0, strongest: Best::new(SUMMARY_BURSTS, |a, b| b.0.total_cmp(&a.0)) }
    }
}

impl Bursts {
    fn push(&mut self, rows: &[Row], categories: &[String]) {
        for r in rows {
            for (i, s) in r.scores.iter().enumerate().filter(|(_, s)| s.burst) {
                let what = if i == 0 { "messages".to_owned() } else { format!("category:{}", categories[i - 1]) };
                let count = if i == 0 { r.messages } else { r.categories[i - 1] };
                let z = (s.z * 100.0).round() / 100.0;
                let burst = serde_json::json!({
                    "period": day_string(r.period), "group": r.group, "name": r.name, "series": what,
                    "count": count, "baseline": (s.baseline * 100.0).round() / 100.0, "z": z,
                });
                self.strongest.push((z, burst));
                self.total += 1;
            }
        }
    }
}

impl Timeline {
    /// The summary (`summary.json` without the run): the result, the burst rule, the 100 strongest bursts.
    pub fn summary(&self) -> serde_json::Value {
        let mut bursts = Bursts::default();
        bursts.push(&self.rows, &self.categories);
        self.summary_with(bursts)
    }

    fn summary_with(&self, bursts: Bursts) -> serde_json::Value {
        let mut summary = serde_json::to_value(self).expect("timeline serialises");
        summary["burst_method"] = serde_json::json!(self.params.burst_method());
        summary["bursts_total"] = serde_json::json!(bursts.total);
        summary["bursts"] =
            serde_json::json!(bursts.strongest.into_sorted().into_iter().map(|b| b.1).collect::<Vec<_>>());
        summary
    }
}

/// The tables of a timeline written series by series as [`stream`] hands them over: `timeline` (per period and
/// group) and, with a lexicon, `lexicon` (per period, group and category); then `summary.json`.
pub struct Writer {
    out: std::path::PathBuf,
    categories: Vec<String>,
    timeline: crate::TableWriter,
    lexicon: Option<crate::TableWriter>,
    bursts: Bursts,
}

impl Writer {
    /// New tables in `out` for a timeline of `categories` (a `lexicon` table left by an earlier run goes when
    /// there are none). An earlier run's `summary.json` goes first: until [`Writer::finish`] writes this run's,
    /// the folder has no summary that could be read as this run's.
    pub fn create(out: &Path, format: crate::TableFormat, categories: &[String]) -> Result<Writer> {
        std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
        let summary = out.join("summary.json");
        match std::fs::remove_file(&summary) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io { path: summary, source: e });
            }
            _ => {}
        }
        let timeline = crate::TableWriter::create(out, "timeline", timeline_schema(), format)?;
        let lexicon = if categories.is_empty() {
            crate::remove_table(out, "lexicon", &[crate::TableFormat::Csv, crate::TableFormat::Parquet])?;
            None
        } else {
            Some(crate::TableWriter::create(out, "lexicon", lexicon_schema(), format)?)
        };
        Ok(Writer {
            out: out.to_owned(),
            categories: categories.to_vec(),
            timeline,
            lexicon,
            bursts: Bursts::default(),
        })
    }

    /// Writes `rows` (one or more whole series).
    pub fn push(&mut self, rows: &[Row]) -> Result<()> {
        use crate::Cell;
        let day = |period: i64| i32::try_from(period).map_or(Cell::Null, Cell::Day);
        for r in rows {
            let s = r.scores[0];
            self.timeline.push([
                day(r.period),
                Cell::from(&r.group),
                Cell::from(&r.name),
                r.messages.into(),
                s.baseline.into(),
                s.z.into(),
                s.burst.into(),
            ])?;
            if let Some(lexicon) = &mut self.lexicon {
                for (c, cat) in self.categories.iter().enumerate() {
                    let (m, s) = (r.categories[c], r.scores[c + 1]);
                    let rate = if r.messages == 0 { 0.0 } else { m as f64 / r.messages as f64 };
                    lexicon.push([
                        day(r.period),
                        Cell::from(&r.group),
                        Cell::from(&r.name),
                        Cell::from(cat),
                        m.into(),
                        r.messages.into(),
                        rate.into(),
                        s.baseline.into(),
                        s.z.into(),
                        s.burst.into(),
                    ])?;
                }
            }
        }
        self.bursts.push(rows, &self.categories);
        Ok(())
    }

    /// Closes the tables and writes `summary.json` for `t` (the timeline [`stream`] returned), with the fields
    /// of `extra`.
    pub fn finish(self, t: &Timeline, extra: serde_json::Value) -> Result<crate::Written> {
        let mut files = vec![self.timeline.finish()?];
        if let Some(lexicon) = self.lexicon {
            files.push(lexicon.finish()?);
        }
        crate::table::write_summary(&self.out, files, t.summary_with(self.bursts), extra)
    }
}

/// Write the tables of `t` (`timeline` and, with a lexicon, `lexicon`) as `format` and `summary.json` into
/// `out`.
pub fn write_outputs(
    t: &Timeline,
    out: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    let mut writer = Writer::create(out, format, &t.categories)?;
    writer.push(&t.rows)?;
    writer.finish(t, extra)
}
