//! Side by side: two or more named sides of the corpus (each a union of selectors, over the same period),
//! measured in the same units — presence, reach, the spread of their vocabulary, the reuse of their content and
//! their share in coordination — each figure with its denominator and the messages behind it.
//!
//! Every measure is a plan over the store's `messages` (the sides are filters, a message may be on several) or
//! a reading of what the other analyses found (reuse cascades, coordination clusters, keyness, diffusion): no
//! analysis is implemented twice. A measure a side has no data for is `None` — "no data" — never zero.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use datafusion::prelude::{Expr, SessionContext, coalesce, col, lit};
use echolens_model::ENGAGEMENT_COLUMNS;
use serde::Serialize;

use crate::coordination::Coordination;
use crate::reuse::{Reuse, Role};
use crate::select::{Selection, Selector};
use crate::table::{collect, f64s, i64s, strings};
use crate::vocabulary::{diffusion, keyness};
use crate::{Error, Result};

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;
/// Marking terms per side checked for who used them first (the strongest by z): enough to reach a side's own
/// vocabulary below the words of its language, which mark it too when the other sides write another one.
const CANDIDATES: usize = 300;
/// Evidence keys kept per row of `copying.csv` and `coordination.csv`.
const EVIDENCE: usize = 10;

/// A named side: the messages any of its selections holds.
#[derive(Debug, Clone)]
pub struct Side {
    /// The side's name (letters, digits, `-`, `_`, `.`): a label for tables and charts.
    pub name: String,
    /// Its selections, joined with OR.
    pub parts: Vec<Selection>,
}

impl Side {
    /// Sides from `NAME=SELECTOR` specs, in the order first named; a name given again adds a part to its side.
    /// At least two sides are needed.
    pub fn parse_all<S: AsRef<str>>(specs: &[S], zone: Option<chrono_tz::Tz>) -> Result<Vec<Side>> {
        let mut sides: Vec<Side> = Vec::new();
        for spec in specs {
            let spec = spec.as_ref();
            let Some((name, selector)) = spec.split_once('=') else {
                return Err(Error::Param(format!("--side {spec:?}: expected NAME=SELECTOR, like gov=channel=news")));
            };
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                return Err(Error::Param(format!(
                    "--side {spec:?}: a side's name is letters, digits, '-', '_' or '.' (a short label for tables and charts)"
                )));
            }
            let part = Selection::new(vec![
                Selector::parse_in(selector, zone).map_err(|e| Error::Param(format!("--side {spec:?}: {e}")))?,
            ]);
            match sides.iter_mut().find(|s| s.name == name) {
                Some(s) => s.parts.push(part),
                None => sides.push(Side { name: name.to_owned(), parts: vec![part] }),
            }
        }
        if sides.len() < 2 {
            return Err(Error::Param(format!(
                "{} side named: a comparison needs two or more (--side A=SELECTOR --side B=SELECTOR)",
                sides.len()
            )));
        }
        Ok(sides)
    }

    /// The side as one predicate over `messages`.
    pub async fn expr(&self, ctx: &SessionContext) -> Result<Expr> {
        let mut any: Option<Expr> = None;
        for part in &self.parts {
            let e = coalesce(vec![part.expr(ctx).await?, lit(false)]);
            any = Some(match any {
                Some(a) => a.or(e),
                None => e,
            });
        }
        Ok(any.unwrap_or_else(|| lit(false)))
    }

    /// What the side selects, in words, each part described by `describe`.
    pub fn describe(&self, describe: impl Fn(&Selection) -> String) -> String {
        self.parts.iter().map(describe).collect::<Vec<_>>().join(" OR ")
    }
}

/// How sides are compared.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// The IANA zone of days and hours.
    pub time_zone: String,
    /// A term marks a side when its keyness z against the other sides is at least this.
    pub min_z: f64,
    /// Terms per side followed through the corpus.
    pub top_terms: usize,
    /// Seconds the side must have used a term alone, before any channel outside it, for the term to be the
    /// side's to spread: a common word is in use everywhere within hours, a term a side brought in is its alone
    /// for a while.
    pub lead_s: u64,
    /// A channel took a term up when it used it in at least this many messages: one use may be chance (two
    /// common words next to each other) or a quote.
    pub min_adopter_uses: u64,
    /// The keyness settings.
    pub keyness: keyness::Params,
}

impl Default for Params {
    fn default() -> Params {
        // z ≥ 3.29: p < 0.001 two-sided, as a side has thousands of candidate terms.
        Params {
            time_zone: "UTC".into(),
            min_z: 3.29,
            top_terms: 20,
            lead_s: 86_400,
            min_adopter_uses: 2,
            keyness: keyness::Params::default(),
        }
    }
}

/// One side's figures (`sides.csv`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SideRow {
    /// The side's name.
    pub side: String,
    /// What it selects.
    pub selection: String,
    /// Its messages.
    pub messages: u64,
    /// Channels its messages are in (X and Instagram: the accounts' timelines).
    pub channels: u64,
    /// Distinct authors.
    pub accounts: u64,
    /// Platforms, most messages first.
    pub platforms: Vec<String>,
    /// First and last message (µs).
    pub first: Option<i64>,
    /// Last message (µs).
    pub last: Option<i64>,
    /// Days (in the zone) with a message.
    pub active_days: u64,
    /// Its share of the corpus's messages.
    pub share_of_corpus: f64,
    /// Terms marking the side significantly against the other sides (the strongest 300 at most).
    pub significant_terms: u64,
    /// Of those, the ones the side used alone for at least `lead_s` before any channel outside it: the terms
    /// that are its to spread.
    pub introduced_terms: u64,
    /// Channels outside the side that took up an introduced term (in `min_adopter_uses` messages or more) after
    /// the side first used it; `None`: no introduced term, no spread to measure.
    pub vocabulary_adopters: Option<u64>,
    /// The median, over adopting channels, of days from the side's first use of a term to the channel's.
    pub median_days_to_adoption: Option<f64>,
    /// Reuse cascades whose first message is the side's.
    pub cascades_originated: u64,
    /// Copies of those outside the side.
    pub copies_elsewhere: u64,
    /// Channels those copies are in.
    pub channels_reached: u64,
    /// Median hours from an originated cascade's first message to each copy outside the side.
    pub median_copy_delay_hours: Option<f64>,
    /// The side's messages that copy a cascade begun outside it.
    pub copies_from_others: u64,
    /// The side's accounts in a coordination cluster.
    pub accounts_in_clusters: u64,
    /// Their share of the side's accounts (`None` when it has no account).
    pub clustered_account_share: Option<f64>,
    /// The side's messages written by those accounts.
    pub messages_by_clustered_accounts: u64,
    /// The side's messages that are actions on a key its account shares with another account of its cluster
    /// (an edge of the cluster): the same text, link, hashtag, repost, reply or quote target. Near-identical
    /// texts (`similar`) have no shared key and are not counted.
    pub messages_in_coordinated_actions: u64,
}

/// Messages per side and day (`over_time.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct DayRow {
    /// Side.
    pub side: String,
    /// Day (days since 1970-01-01, in the zone).
    pub day: i64,
    /// The side's messages that day.
    pub messages: u64,
    /// The corpus's messages that day.
    pub corpus: u64,
}

/// One audience figure of one side on one platform (`reach.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct Reach {
    /// Side.
    pub side: String,
    /// Platform (figures of different platforms are never added up).
    pub platform: String,
    /// `views`, `likes`, `shares`, `replies`, `quotes` or `reactions`.
    pub measure: String,
    /// The side's messages on the platform.
    pub messages: u64,
    /// Of those, the ones whose source stated the figure.
    pub with_figure: u64,
    /// The figure's total over those (added as floating point: hostile figures cannot overflow it; exact up to
    /// 2^53); `None`: no data.
    pub total: Option<f64>,
    /// The median per message that states it.
    pub median_per_message: Option<f64>,
    /// The median per day, over days with a stated figure.
    pub median_per_day: Option<f64>,
}

/// A term marking a side, and how far it went (`vocabulary/terms.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    /// Side.
    pub side: String,
    /// The term.
    pub term: String,
    /// Its keyness z against the other sides.
    pub z: f64,
    /// Uses in the side, and in the other sides.
    pub count_side: u64,
    /// Uses in the other sides.
    pub count_others: u64,
    /// The side's first use (µs) and its message.
    pub side_first_use: Option<i64>,
    /// That message's key.
    pub side_first_key: Option<String>,
    /// The earliest use outside the side, if any (µs).
    pub first_use_outside: Option<i64>,
    /// Whether the side used it alone for at least `lead_s` before anyone outside did.
    pub introduced: bool,
    /// Channels outside the side that used it after the side first did (the `top_terms` strongest introduced
    /// terms; 0 for the others).
    pub adopters: u64,
}

/// A channel outside a side taking up one of its terms (`vocabulary/adopters.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct Adopter {
    /// Side.
    pub side: String,
    /// The term.
    pub term: String,
    /// The channel's platform.
    pub platform: String,
    /// The channel.
    pub channel_id: String,
    /// Its name.
    pub channel_name: String,
    /// Its first use of the term (µs), and that message.
    pub first_use: i64,
    /// The message.
    pub first_key: String,
    /// Days after the side's first use.
    pub days_after: f64,
}

/// A reuse cascade seen from a side (`copying.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct Copying {
    /// Side.
    pub side: String,
    /// `out`: the side's content copied outside it; `in`: the side copying content begun outside it.
    pub direction: &'static str,
    /// The cascade (as in `reuse/cascades.csv`).
    pub cascade: usize,
    /// The cascade's first message.
    pub origin_key: String,
    /// Its channel's name (its id where unnamed).
    pub origin_channel: String,
    /// Its platform and channel id.
    #[serde(skip)]
    pub origin_platform: String,
    /// Its channel id.
    #[serde(skip)]
    pub origin_channel_id: String,
    /// Its time (µs).
    pub origin_ts: i64,
    /// `out`: copies outside the side; `in`: the side's copies.
    pub copies: u64,
    /// The channels of those copies.
    pub channels: u64,
    /// Median hours from the origin to those copies.
    pub median_delay_hours: Option<f64>,
    /// Up to ten of the copies' keys, earliest first.
    pub copy_keys: Vec<String>,
}

/// A coordination cluster with accounts of a side (`coordination.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    /// Side.
    pub side: String,
    /// The cluster (as in `coordination/clusters.csv`).
    pub cluster: usize,
    /// Its accounts.
    pub size: u64,
    /// Of those, the side's.
    pub side_accounts: u64,
    /// Up to ten message keys of the edges among the side's accounts in the cluster.
    pub evidence_keys: Vec<String>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Compare {
    /// The parameters.
    pub params: Params,
    /// One row per side, in the order named.
    pub sides: Vec<SideRow>,
    /// Messages in the corpus compared (the period given).
    pub corpus_messages: u64,
    /// Messages on more than one side.
    pub overlap_messages: u64,
    /// Per side and day.
    #[serde(skip)]
    pub days: Vec<DayRow>,
    /// Per side and local hour of day: messages.
    #[serde(skip)]
    pub hours: Vec<(String, u32, u64)>,
    /// Per side, platform and figure.
    #[serde(skip)]
    pub reach: Vec<Reach>,
    /// Terms per side.
    #[serde(skip)]
    pub terms: Vec<Term>,
    /// Adopting channels per side and term.
    #[serde(skip)]
    pub adopters: Vec<Adopter>,
    /// Cascades per side.
    #[serde(skip)]
    pub copying: Vec<Copying>,
    /// Coordination clusters per side.
    #[serde(skip)]
    pub clusters: Vec<Cluster>,
    /// What could not be measured, and why.
    pub notes: Vec<String>,
}

/// Register `compare_rows`: every message of every side with its side's index (a message on two sides is two
/// rows), from one filtered scan per side.
async fn register_rows(ctx: &SessionContext, exprs: &[Expr], day: &str, hour: &str) -> Result<()> {
    let mut all: Option<datafusion::dataframe::DataFrame> = None;
    for (i, e) in exprs.iter().enumerate() {
        let mut cols = vec![
            lit(i as i64).alias("side"),
            col("key"),
            col("platform"),
            col("channel_id"),
            col("channel_name"),
            datafusion::prelude::when(col("author_id").is_null(), lit(""))
                .otherwise(crate::sql::account())?
                .alias("account"),
            datafusion::prelude::cast(col("ts"), DataType::Int64).alias("ts"),
        ];
        cols.extend(ENGAGEMENT_COLUMNS.iter().map(|c| col(*c)));
        let df = ctx.table("messages").await?.filter(e.clone())?.select(cols)?;
        all = Some(match all {
            Some(a) => a.union(df)?,
            None => df,
        });
    }
    let df = all.ok_or_else(|| Error::Param("no side to compare".into()))?;
    ctx.deregister_table("compare_base")?;
    ctx.register_table("compare_base", df.into_view())?;
    let view = ctx.sql(&format!("SELECT *, {day} AS day, {hour} AS hour FROM compare_base")).await?;
    ctx.deregister_table("compare_rows")?;
    ctx.register_table("compare_rows", view.into_view())?;
    Ok(())
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    crate::coordination::window::quantile(&mut v, 0.5)
}

/// A single-column table of strings, registered as `name`.
fn register_strings(ctx: &SessionContext, name: &str, column: &str, values: Vec<String>) -> Result<()> {
    let schema =
        Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(column, DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values))])?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    Ok(())
}

/// Which sides each of `keys` is on (only keys on a side are returned).
async fn sides_of(ctx: &SessionContext, keys: Vec<String>) -> Result<HashMap<String, Vec<usize>>> {
    register_strings(ctx, "compare_keys", "k", keys)?;
    let batches = collect(ctx, "SELECT r.side, r.key FROM compare_rows r JOIN compare_keys k ON r.key = k.k").await?;
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for b in &batches {
        let (side, key) = (i64s(b, "side")?, strings(b, "key")?);
        for i in 0..b.num_rows() {
            out.entry(key.value(i).to_owned()).or_default().push(side.value(i) as usize);
        }
    }
    Ok(out)
}

/// Compare `sides` over the messages of `ctx` (register a period's view as `messages` to compare within it),
/// reading reuse cascades and coordination clusters from `reuse` and `coordination` (run on the same messages).
pub async fn run(
    ctx: &SessionContext,
    sides: &[Side],
    descriptions: &[String],
    reuse: &Reuse,
    coordination: &Coordination,
    params: Params,
) -> Result<Compare> {
    if !(params.min_z.is_finite() && params.min_z > 0.0) {
        return Err(Error::Param(format!("--min-z {}: expected a number above 0", params.min_z)));
    }
    let mut exprs = Vec::with_capacity(sides.len());
    for (side, description) in sides.iter().zip(descriptions) {
        let e = side.expr(ctx).await.map_err(|e| {
            // The user's own selectors, on their terminal: shown as typed.
            Error::Param(format!("side {} ({}): {e}", side.name, side.describe(|s| s.to_string())))
        })?;
        let n = ctx.table("messages").await?.filter(e.clone())?.count().await? as u64;
        if n == 0 {
            return Err(Error::Empty { role: format!("side {}", side.name), selection: description.clone() });
        }
        exprs.push(e);
    }
    let (day, hour) = if params.time_zone == "UTC" {
        ("ts / 86400000000".to_owned(), "(ts / 3600000000) % 24".to_owned())
    } else {
        let zone = crate::zone::parse(&params.time_zone)?;
        ctx.register_udf(crate::zone::local_day_udf(zone));
        ctx.register_udf(crate::zone::local_hour_udf(zone));
        ("local_day(ts)".to_owned(), "local_hour(ts)".to_owned())
    };
    register_rows(ctx, &exprs, &day, &hour).await?;
    let name = |i: i64| sides[i as usize].name.clone();
    let mut notes = Vec::new();

    // Presence.
    let corpus_day = day.replace("ts", "CAST(ts AS BIGINT)");
    let corpus = collect(ctx, &format!("SELECT {corpus_day} AS day, count(*) AS n FROM messages GROUP BY 1")).await?;
    let mut corpus_days: BTreeMap<i64, u64> = BTreeMap::new();
    for b in &corpus {
        let (d, n) = (i64s(b, "day")?, i64s(b, "n")?);
        for i in 0..b.num_rows() {
            corpus_days.insert(d.value(i), n.value(i) as u64);
        }
    }
    let corpus_messages: u64 = corpus_days.values().sum();
    let mut rows: Vec<SideRow> = sides
        .iter()
        .zip(descriptions)
        .map(|(s, d)| SideRow { side: s.name.clone(), selection: d.clone(), ..SideRow::default() })
        .collect();
    let presence = collect(
        ctx,
        "SELECT side, count(*) AS n, count(DISTINCT concat(platform, ':', channel_id)) AS channels, \
           count(DISTINCT CASE WHEN account <> '' THEN account END) AS accounts, min(ts) AS first, \
           max(ts) AS last, count(DISTINCT day) AS days FROM compare_rows GROUP BY side",
    )
    .await?;
    for b in &presence {
        let (s, n, ch, ac, first, last, days) = (
            i64s(b, "side")?,
            i64s(b, "n")?,
            i64s(b, "channels")?,
            i64s(b, "accounts")?,
            i64s(b, "first")?,
            i64s(b, "last")?,
            i64s(b, "days")?,
        );
        for i in 0..b.num_rows() {
            let r = &mut rows[s.value(i) as usize];
            r.messages = n.value(i) as u64;
            r.channels = ch.value(i) as u64;
            r.accounts = ac.value(i) as u64;
            r.first = Some(first.value(i));
            r.last = Some(last.value(i));
            r.active_days = days.value(i) as u64;
            r.share_of_corpus = r.messages as f64 / corpus_messages.max(1) as f64;
        }
    }
    let platforms =
        collect(ctx, "SELECT side, platform, count(*) AS n FROM compare_rows GROUP BY side, platform ORDER BY side, n DESC, platform")
            .await?;
    let mut side_platforms: Vec<Vec<(String, u64)>> = vec![Vec::new(); sides.len()];
    for b in &platforms {
        let (s, p, n) = (i64s(b, "side")?, strings(b, "platform")?, i64s(b, "n")?);
        for i in 0..b.num_rows() {
            side_platforms[s.value(i) as usize].push((p.value(i).to_owned(), n.value(i) as u64));
        }
    }
    for (r, p) in rows.iter_mut().zip(&side_platforms) {
        r.platforms = p.iter().map(|(p, _)| p.clone()).collect();
    }
    let overlap = collect(
        ctx,
        "SELECT count(*) AS n FROM (SELECT key FROM compare_rows GROUP BY key HAVING count(DISTINCT side) > 1)",
    )
    .await?;
    let overlap_messages = overlap.first().map_or(Ok(0), |b| i64s(b, "n").map(|n| n.value(0) as u64))?;
    if overlap_messages > 0 {
        notes.push(format!("{overlap_messages} messages are on more than one side and count for each"));
    }
    let mut days = Vec::new();
    for b in
        &collect(ctx, "SELECT side, day, count(*) AS n FROM compare_rows GROUP BY side, day ORDER BY side, day").await?
    {
        let (s, d, n) = (i64s(b, "side")?, i64s(b, "day")?, i64s(b, "n")?);
        for i in 0..b.num_rows() {
            let day = d.value(i);
            days.push(DayRow {
                side: name(s.value(i)),
                day,
                messages: n.value(i) as u64,
                corpus: corpus_days.get(&day).copied().unwrap_or(0),
            });
        }
    }
    let mut hours = Vec::new();
    for b in &collect(ctx, "SELECT side, hour, count(*) AS n FROM compare_rows GROUP BY side, hour ORDER BY side, hour")
        .await?
    {
        let (s, h, n) = (i64s(b, "side")?, i64s(b, "hour")?, i64s(b, "n")?);
        for i in 0..b.num_rows() {
            hours.push((name(s.value(i)), h.value(i) as u32, n.value(i) as u64));
        }
    }

    // Reach: per side and platform, each figure over the messages that state it; per day over days with one.
    let per_message: String = ENGAGEMENT_COLUMNS
        .iter()
        .map(|m| {
            format!(
                ", count({m}) AS {m}_n, sum(CAST({m} AS DOUBLE)) AS {m}_sum, median(CAST({m} AS DOUBLE)) AS {m}_med"
            )
        })
        .collect();
    let daily_sums: String = ENGAGEMENT_COLUMNS.iter().map(|m| format!(", sum(CAST({m} AS DOUBLE)) AS {m}")).collect();
    let daily: String = ENGAGEMENT_COLUMNS
        .iter()
        .map(|m| format!(", median(CAST({m} AS DOUBLE)) AS {m}_day, count({m}) AS {m}_days"))
        .collect();
    let by_message = collect(
        ctx,
        &format!("SELECT side, platform, count(*) AS n{per_message} FROM compare_rows GROUP BY side, platform"),
    )
    .await?;
    let by_day = collect(
        ctx,
        &format!(
            "SELECT side, platform{daily} FROM (SELECT side, platform, day{daily_sums} FROM compare_rows \
             GROUP BY side, platform, day) GROUP BY side, platform"
        ),
    )
    .await?;
    let mut day_medians: HashMap<(i64, String, &str), Option<f64>> = HashMap::new();
    for b in &by_day {
        let (s, p) = (i64s(b, "side")?, strings(b, "platform")?);
        for m in ENGAGEMENT_COLUMNS {
            let med = f64s(b, &format!("{m}_day"))?;
            for i in 0..b.num_rows() {
                day_medians.insert((s.value(i), p.value(i).to_owned(), m), med.is_valid(i).then(|| med.value(i)));
            }
        }
    }
    let mut reach = Vec::new();
    for b in &by_message {
        let (s, p, n) = (i64s(b, "side")?, strings(b, "platform")?, i64s(b, "n")?);
        for m in ENGAGEMENT_COLUMNS {
            let (cnt, sum, med) =
                (i64s(b, &format!("{m}_n"))?, f64s(b, &format!("{m}_sum"))?, f64s(b, &format!("{m}_med"))?);
            for i in 0..b.num_rows() {
                let with = cnt.value(i) as u64;
                reach.push(Reach {
                    side: name(s.value(i)),
                    platform: p.value(i).to_owned(),
                    measure: m.to_owned(),
                    messages: n.value(i) as u64,
                    with_figure: with,
                    total: (with > 0 && sum.is_valid(i)).then(|| sum.value(i)),
                    median_per_message: (with > 0 && med.is_valid(i)).then(|| med.value(i)),
                    median_per_day: day_medians.get(&(s.value(i), p.value(i).to_owned(), m)).copied().flatten(),
                });
            }
        }
    }
    let order: HashMap<&str, usize> = sides.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    reach.sort_by(|a, b| {
        (order[a.side.as_str()], &a.platform, ENGAGEMENT_COLUMNS.iter().position(|m| *m == a.measure)).cmp(&(
            order[b.side.as_str()],
            &b.platform,
            ENGAGEMENT_COLUMNS.iter().position(|m| *m == b.measure),
        ))
    });

    // Spread: each side's marking terms (against the other sides), followed through the corpus.
    let (terms, adopters) = spread(ctx, sides, &exprs, &mut rows, &params, &mut notes).await?;

    // Copying, from the reuse cascades.
    let copying = copying(ctx, sides, reuse, &mut rows).await?;

    // Coordination, from its clusters.
    let clusters = coordination_share(ctx, sides, coordination, &mut rows).await?;

    Ok(Compare {
        params,
        sides: rows,
        corpus_messages,
        overlap_messages,
        days,
        hours,
        reach,
        terms,
        adopters,
        copying,
        clusters,
        notes,
    })
}

/// The channels (`platform:channel_id`) each side's messages are in.
async fn own_channels(ctx: &SessionContext, sides: usize) -> Result<Vec<HashSet<String>>> {
    let mut own = vec![HashSet::new(); sides];
    for b in &collect(ctx, "SELECT DISTINCT side, concat(platform, ':', channel_id) AS c FROM compare_rows").await? {
        let (s, c) = (i64s(b, "side")?, strings(b, "c")?);
        for i in 0..b.num_rows() {
            own[s.value(i) as usize].insert(c.value(i).to_owned());
        }
    }
    Ok(own)
}

async fn spread(
    ctx: &SessionContext,
    sides: &[Side],
    exprs: &[Expr],
    rows: &mut [SideRow],
    params: &Params,
    notes: &mut Vec<String>,
) -> Result<(Vec<Term>, Vec<Adopter>)> {
    let own = own_channels(ctx, sides.len()).await?;
    let as_selection = |e: Expr, label: String| Selection::new(vec![Selector::Expr { expr: e, label }]);
    let mut marking: Vec<Option<(Vec<keyness::Term>, diffusion::Terms)>> = Vec::new();
    for (i, side) in sides.iter().enumerate() {
        let others = exprs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, e)| e.clone())
            .reduce(Expr::or)
            .expect("two sides or more");
        let target = as_selection(exprs[i].clone(), format!("side {}", side.name));
        let reference = as_selection(
            others.and(datafusion::prelude::not(exprs[i].clone())),
            format!("the other sides than {}", side.name),
        );
        let k = match keyness::run(ctx, &target, Some(&reference), params.keyness.clone()).await {
            Ok(k) => k,
            Err(Error::Empty { .. }) => {
                notes.push(format!("side {}: the other sides hold no message it is not on; no keyness", side.name));
                marking.push(None);
                continue;
            }
            Err(e) => return Err(e),
        };
        let terms: Vec<keyness::Term> = k.terms.into_iter().filter(|t| t.z >= params.min_z).take(CANDIDATES).collect();
        rows[i].significant_terms = terms.len() as u64;
        if terms.is_empty() {
            notes.push(format!(
                "side {}: no term marks it at z ≥ {} against the other sides: no spread to measure",
                side.name, params.min_z
            ));
            marking.push(None);
            continue;
        }
        let set = diffusion::Terms::new(terms.iter().map(|t| t.term.clone()).collect())?;
        marking.push(Some((terms, set)));
    }
    let followed: Vec<(usize, diffusion::Terms)> =
        marking.iter().enumerate().filter_map(|(i, m)| m.as_ref().map(|(_, s)| (i, s.clone()))).collect();
    if followed.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let everywhere =
        diffusion::run_many(ctx, followed.iter().map(|(_, s)| s.clone()).collect(), &Selection::default()).await?;
    let mut terms_out = Vec::new();
    let mut adopters_out = Vec::new();
    for ((i, _), d) in followed.iter().zip(everywhere) {
        let (marks, _) = marking[*i].as_ref().expect("followed sides have terms");
        let side = &sides[*i].name;
        // Per term: the side's first use (from its own messages), the first use outside, and the channels
        // outside using it after the side.
        let mut side_first: Vec<Option<(i64, String)>> = vec![None; marks.len()];
        let mut outside_first: Vec<Option<i64>> = vec![None; marks.len()];
        // Channels whose messages are on the side are not all the side's: a first use there may be someone
        // else's. The side's own first use comes from its messages alone.
        let on_side = diffusion::run(
            ctx,
            diffusion::Terms::new(d.terms.clone())?,
            &as_selection(exprs[*i].clone(), side.clone()),
        )
        .await?;
        for t in &on_side.term_adoption {
            let f = &mut side_first[t.term];
            if f.as_ref().is_none_or(|(ts, k)| (t.first_use, &t.first_key) < (*ts, k)) {
                *f = Some((t.first_use, t.first_key.clone()));
            }
        }
        let channel_key = |a: &diffusion::Adoption| format!("{}:{}", a.platform, a.channel_id);
        for t in &d.term_adoption {
            let ch = &d.channels[t.channel];
            if own[*i].contains(&channel_key(ch)) {
                continue;
            }
            let f = &mut outside_first[t.term];
            *f = Some(f.map_or(t.first_use, |x| x.min(t.first_use)));
        }
        let lead = i64::try_from(params.lead_s).unwrap_or(i64::MAX / 2).saturating_mul(1_000_000);
        let mut delays: HashMap<usize, f64> = HashMap::new();
        let mut per_term_adopters = vec![0u64; marks.len()];
        let introduced: Vec<bool> = (0..marks.len())
            .map(|t| match (&side_first[t], outside_first[t]) {
                (Some((s, _)), Some(o)) => s.saturating_add(lead) <= o,
                (Some(_), None) => true,
                (None, _) => false,
            })
            .collect();
        // The strongest `top_terms` of the side's own terms are followed.
        let followed_terms: HashSet<usize> =
            (0..marks.len()).filter(|t| introduced[*t]).take(params.top_terms).collect();
        for t in &d.term_adoption {
            let ch = &d.channels[t.channel];
            if !followed_terms.contains(&t.term) || own[*i].contains(&channel_key(ch)) {
                continue;
            }
            let Some((start, _)) = &side_first[t.term] else { continue };
            if t.first_use <= *start || t.uses < params.min_adopter_uses {
                continue;
            }
            let days_after = (t.first_use - start) as f64 / DAY_US as f64;
            per_term_adopters[t.term] += 1;
            let e = delays.entry(t.channel).or_insert(days_after);
            *e = e.min(days_after);
            adopters_out.push(Adopter {
                side: side.clone(),
                term: d.terms[t.term].clone(),
                platform: ch.platform.clone(),
                channel_id: ch.channel_id.clone(),
                channel_name: ch.channel_name.clone(),
                first_use: t.first_use,
                first_key: t.first_key.clone(),
                days_after,
            });
        }
        let n_introduced = introduced.iter().filter(|x| **x).count() as u64;
        rows[*i].introduced_terms = n_introduced;
        if n_introduced == 0 {
            notes.push(format!(
                "side {side}: each term marking it was in use outside it within {} h of its first use: no spread to measure",
                params.lead_s / 3600
            ));
        } else {
            rows[*i].vocabulary_adopters = Some(delays.len() as u64);
            rows[*i].median_days_to_adoption = median(delays.values().copied().collect());
        }
        for (t, m) in marks.iter().enumerate() {
            terms_out.push(Term {
                side: side.clone(),
                term: m.term.clone(),
                z: m.z,
                count_side: m.count_target,
                count_others: m.count_reference,
                side_first_use: side_first[t].as_ref().map(|(ts, _)| *ts),
                side_first_key: side_first[t].as_ref().map(|(_, k)| k.clone()),
                first_use_outside: outside_first[t],
                introduced: introduced[t],
                adopters: per_term_adopters[t],
            });
        }
    }
    adopters_out.sort_by(|a, b| {
        (&a.side, &a.term, a.first_use, &a.first_key).cmp(&(&b.side, &b.term, b.first_use, &b.first_key))
    });
    Ok((terms_out, adopters_out))
}

async fn copying(ctx: &SessionContext, sides: &[Side], reuse: &Reuse, rows: &mut [SideRow]) -> Result<Vec<Copying>> {
    let on = sides_of(ctx, reuse.members.iter().map(|m| m.key.clone()).collect()).await?;
    let mut by_cascade: BTreeMap<usize, Vec<&crate::reuse::Member>> = BTreeMap::new();
    for m in &reuse.members {
        by_cascade.entry(m.cascade).or_default().push(m);
    }
    let none: Vec<usize> = Vec::new();
    let sides_of_key = |k: &str| on.get(k).unwrap_or(&none);
    let mut out = Vec::new();
    let mut delays: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    let mut reached: Vec<HashSet<String>> = vec![HashSet::new(); sides.len()];
    for (cascade, members) in &by_cascade {
        let Some(origin) = members.iter().find(|m| m.role == Role::Origin) else { continue };
        let origin_sides = sides_of_key(&origin.key);
        let channel = |m: &crate::reuse::Member| format!("{}:{}", m.platform, m.channel_id);
        for (s, side) in sides.iter().enumerate() {
            let (direction, copies): (&str, Vec<&&crate::reuse::Member>) = if origin_sides.contains(&s) {
                (
                    "out",
                    members.iter().filter(|m| m.role != Role::Origin && !sides_of_key(&m.key).contains(&s)).collect(),
                )
            } else {
                ("in", members.iter().filter(|m| m.role != Role::Origin && sides_of_key(&m.key).contains(&s)).collect())
            };
            if direction == "out" {
                rows[s].cascades_originated += 1;
            }
            if copies.is_empty() {
                continue;
            }
            let mut copies = copies;
            copies.sort_by(|a, b| (a.ts, &a.key).cmp(&(b.ts, &b.key)));
            let hours: Vec<f64> = copies.iter().map(|m| (m.ts - origin.ts) as f64 / HOUR_US as f64).collect();
            let channels: HashSet<String> = copies.iter().map(|m| channel(m)).collect();
            if direction == "out" {
                rows[s].copies_elsewhere += copies.len() as u64;
                delays[s].extend(&hours);
                reached[s].extend(channels.iter().cloned());
            } else {
                rows[s].copies_from_others += copies.len() as u64;
            }
            out.push(Copying {
                side: side.name.clone(),
                direction,
                cascade: *cascade,
                origin_key: origin.key.clone(),
                origin_channel: origin.channel_name.clone().unwrap_or_else(|| origin.channel_id.clone()),
                origin_platform: origin.platform.clone(),
                origin_channel_id: origin.channel_id.clone(),
                origin_ts: origin.ts,
                copies: copies.len() as u64,
                channels: channels.len() as u64,
                median_delay_hours: median(hours),
                copy_keys: copies.iter().take(EVIDENCE).map(|m| m.key.clone()).collect(),
            });
        }
    }
    for (s, r) in rows.iter_mut().enumerate() {
        r.channels_reached = reached[s].len() as u64;
        r.median_copy_delay_hours = median(std::mem::take(&mut delays[s]));
    }
    out.sort_by(|a, b| (&a.side, a.direction, b.copies, a.cascade).cmp(&(&b.side, b.direction, a.copies, b.cascade)));
    Ok(out)
}

async fn coordination_share(
    ctx: &SessionContext,
    sides: &[Side],
    c: &Coordination,
    rows: &mut [SideRow],
) -> Result<Vec<Cluster>> {
    let net = &c.network;
    let clustered: Vec<String> =
        net.accounts.iter().zip(&net.cluster_of).filter(|(_, c)| **c > 0).map(|(a, _)| a.clone()).collect();
    register_strings(ctx, "compare_clustered", "a", clustered)?;
    let batches = collect(
        ctx,
        "SELECT r.side, r.account, count(*) AS n FROM compare_rows r JOIN compare_clustered c ON r.account = c.a \
         GROUP BY r.side, r.account",
    )
    .await?;
    let index: HashMap<&str, usize> = net.accounts.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
    let mut side_accounts: Vec<HashSet<String>> = vec![HashSet::new(); sides.len()];
    for b in &batches {
        let (s, a, n) = (i64s(b, "side")?, strings(b, "account")?, i64s(b, "n")?);
        for i in 0..b.num_rows() {
            let s = s.value(i) as usize;
            side_accounts[s].insert(a.value(i).to_owned());
            rows[s].messages_by_clustered_accounts += n.value(i) as u64;
        }
    }
    coordinated_actions(ctx, c, rows).await?;
    // Each cluster's inner edges, found once (a cluster's evidence is read per side).
    let mut inner: HashMap<usize, Vec<crate::coordination::Edge>> = HashMap::new();
    for (i, e) in c.edges.iter().enumerate() {
        let (a, b) = c.edges.accounts(i);
        if let (Some(&a), Some(&b)) = (index.get(&**a), index.get(&**b))
            && net.cluster_of[a] > 0
            && net.cluster_of[a] == net.cluster_of[b]
        {
            let mut e = e?;
            // What the sides read of an inner edge: its accounts and evidence.
            (e.keys, e.spells) = (Vec::new(), Vec::new());
            inner.entry(net.cluster_of[a]).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for (s, accounts) in side_accounts.iter().enumerate() {
        rows[s].accounts_in_clusters = accounts.len() as u64;
        rows[s].clustered_account_share =
            (rows[s].accounts > 0).then(|| accounts.len() as f64 / rows[s].accounts as f64);
        let mut per_cluster: BTreeMap<usize, u64> = BTreeMap::new();
        for a in accounts {
            if let Some(&i) = index.get(a.as_str()) {
                *per_cluster.entry(net.cluster_of[i]).or_default() += 1;
            }
        }
        for (cluster, n) in per_cluster {
            let size = net.clusters.iter().find(|c| c.id == cluster).map_or(0, |c| c.members.len() as u64);
            let mut keys: Vec<String> = inner
                .get(&cluster)
                .into_iter()
                .flatten()
                .filter(|e| accounts.contains(&*e.a) && accounts.contains(&*e.b))
                .flat_map(|e| e.evidence.iter().flat_map(|(x, y)| [x.to_string(), y.to_string()]))
                .collect();
            keys.sort();
            keys.dedup();
            keys.truncate(EVIDENCE);
            out.push(Cluster { side: sides[s].name.clone(), cluster, size, side_accounts: n, evidence_keys: keys });
        }
    }
    Ok(out)
}

/// Each side's messages that are actions on a key shared along an edge inside a cluster (the edge's `keys`).
async fn coordinated_actions(ctx: &SessionContext, c: &Coordination, rows: &mut [SideRow]) -> Result<()> {
    let actions = crate::coordination::shared_key_actions(&c.params);
    if actions.is_empty() {
        return Ok(());
    }
    let net = &c.network;
    let clustered: HashMap<&str, usize> =
        net.accounts.iter().zip(&net.cluster_of).filter(|(_, c)| **c > 0).map(|(a, c)| (a.as_str(), *c)).collect();
    let (mut account, mut kind, mut key) = (Vec::new(), Vec::new(), Vec::new());
    for (i, e) in c.edges.iter().enumerate() {
        let (a, b) = c.edges.accounts(i);
        let (Some(ca), Some(cb)) = (clustered.get(&**a), clustered.get(&**b)) else { continue };
        if ca != cb {
            continue;
        }
        let e = e?;
        for &k in &e.keys {
            for who in [a, b] {
                account.push(&**who);
                kind.push(e.kind.name());
                key.push(k);
            }
        }
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("account", DataType::Utf8, false),
        arrow::datatypes::Field::new("kind", DataType::Utf8, false),
        arrow::datatypes::Field::new("key_h", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(account)),
            Arc::new(StringArray::from(kind)),
            Arc::new(arrow::array::Int64Array::from(key)),
        ],
    )?;
    ctx.deregister_table("compare_edge_keys")?;
    ctx.register_table("compare_edge_keys", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    let sql = format!(
        "SELECT r.side, count(DISTINCT r.key) AS n FROM compare_rows r \
         JOIN (SELECT DISTINCT x.msg FROM ({actions}) x JOIN compare_edge_keys e \
               ON x.account = e.account AND x.kind = e.kind AND x.key_h = e.key_h) m ON hash64(r.key) = m.msg \
         GROUP BY r.side"
    );
    for b in &collect(ctx, &sql).await? {
        let (s, n) = (i64s(b, "side")?, i64s(b, "n")?);
        for i in 0..b.num_rows() {
            rows[s.value(i) as usize].messages_in_coordinated_actions = n.value(i) as u64;
        }
    }
    Ok(())
}

impl Compare {
    /// The tables: `sides`, `over_time`, `hours`, `reach`, `copying`, `coordination`; and under `vocabulary/`,
    /// `terms` and `adopters` ([`Compare::vocabulary_tables`]).
    pub fn tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Col::*;
        use crate::{Cell, Rows};
        let mut sides = Rows::new(
            "sides",
            crate::table_schema(&[
                ("side", Text),
                ("messages", Int),
                ("channels", Int),
                ("accounts", Int),
                ("vocabulary_adopters", Int),
                ("copies_elsewhere", Int),
                ("selection", Text),
                ("platforms", Text),
                ("first_message", Time),
                ("last_message", Time),
                ("active_days", Int),
                ("messages_per_active_day", Fixed(2)),
                ("share_of_corpus", Fixed(6)),
                ("significant_terms", Int),
                ("introduced_terms", Int),
                ("median_days_to_adoption", Fixed(2)),
                ("cascades_originated", Int),
                ("channels_reached", Int),
                ("median_copy_delay_hours", Fixed(2)),
                ("copies_from_others", Int),
                ("accounts_in_clusters", Int),
                ("clustered_account_share", Fixed(4)),
                ("messages_by_clustered_accounts", Int),
                ("messages_in_coordinated_actions", Int),
                ("coordinated_message_share", Fixed(6)),
            ]),
        );
        for r in &self.sides {
            let platforms = r.platforms.join(" ");
            let per_day = (r.active_days > 0).then(|| r.messages as f64 / r.active_days as f64);
            sides.push([
                Cell::from(&r.side),
                r.messages.into(),
                r.channels.into(),
                r.accounts.into(),
                r.vocabulary_adopters.into(),
                r.copies_elsewhere.into(),
                Cell::from(&r.selection),
                Cell::from(&platforms),
                r.first.map_or(Cell::Null, Cell::Time),
                r.last.map_or(Cell::Null, Cell::Time),
                r.active_days.into(),
                per_day.into(),
                r.share_of_corpus.into(),
                r.significant_terms.into(),
                r.introduced_terms.into(),
                r.median_days_to_adoption.into(),
                r.cascades_originated.into(),
                r.channels_reached.into(),
                r.median_copy_delay_hours.into(),
                r.copies_from_others.into(),
                r.accounts_in_clusters.into(),
                r.clustered_account_share.into(),
                r.messages_by_clustered_accounts.into(),
                r.messages_in_coordinated_actions.into(),
                (r.messages > 0).then(|| r.messages_in_coordinated_actions as f64 / r.messages as f64).into(),
            ]);
        }
        let mut over_time = Rows::new(
            "over_time",
            crate::table_schema(&[
                ("side", Text),
                ("day", Day),
                ("messages", Int),
                ("corpus_messages", Int),
                ("share", Fixed(6)),
            ]),
        );
        for d in &self.days {
            let share = (d.corpus > 0).then(|| d.messages as f64 / d.corpus as f64);
            over_time.push([
                Cell::from(&d.side),
                Cell::Day(i32::try_from(d.day).unwrap_or(i32::MAX)),
                d.messages.into(),
                d.corpus.into(),
                share.into(),
            ]);
        }
        let mut hours = Rows::new("hours", crate::table_schema(&[("side", Text), ("hour", Int), ("messages", Int)]));
        for (side, hour, n) in &self.hours {
            hours.push([Cell::from(side), i64::from(*hour).into(), (*n).into()]);
        }
        let mut reach = Rows::new(
            "reach",
            crate::table_schema(&[
                ("side", Text),
                ("platform", Text),
                ("measure", Text),
                ("messages", Int),
                ("messages_with_figure", Int),
                ("total", Fixed(0)),
                ("median_per_message", Fixed(2)),
                ("median_per_day", Fixed(2)),
                ("note", Text),
            ]),
        );
        for r in &self.reach {
            let note = if r.with_figure == 0 { "no data" } else { "" };
            reach.push([
                Cell::from(&r.side),
                Cell::from(&r.platform),
                Cell::from(&r.measure),
                r.messages.into(),
                r.with_figure.into(),
                r.total.into(),
                r.median_per_message.into(),
                r.median_per_day.into(),
                if note.is_empty() { Cell::Null } else { Cell::Text(note) },
            ]);
        }
        let mut copying = Rows::new(
            "copying",
            crate::table_schema(&[
                ("side", Text),
                ("direction", Text),
                ("cascade", Int),
                ("origin_key", Text),
                ("origin_channel", Text),
                ("origin_ts", Time),
                ("copies", Int),
                ("channels", Int),
                ("median_delay_hours", Fixed(2)),
                ("copy_keys", Text),
            ]),
        );
        for c in &self.copying {
            let keys = c.copy_keys.join(" ");
            copying.push([
                Cell::from(&c.side),
                Cell::Text(c.direction),
                c.cascade.into(),
                Cell::from(&c.origin_key),
                Cell::from(&c.origin_channel),
                Cell::Time(c.origin_ts),
                c.copies.into(),
                c.channels.into(),
                c.median_delay_hours.into(),
                Cell::from(&keys),
            ]);
        }
        let mut coordination = Rows::new(
            "coordination",
            crate::table_schema(&[
                ("side", Text),
                ("cluster", Int),
                ("cluster_size", Int),
                ("side_accounts", Int),
                ("evidence_keys", Text),
            ]),
        );
        for c in &self.clusters {
            let keys = c.evidence_keys.join(" ");
            coordination.push([
                Cell::from(&c.side),
                c.cluster.into(),
                c.size.into(),
                c.side_accounts.into(),
                Cell::from(&keys),
            ]);
        }
        [sides, over_time, hours, reach, copying, coordination].into_iter().map(Rows::finish).collect()
    }

    /// `vocabulary/terms` and `vocabulary/adopters`.
    pub fn vocabulary_tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Col::*;
        use crate::{Cell, Rows};
        let mut terms = Rows::new(
            "terms",
            crate::table_schema(&[
                ("side", Text),
                ("term", Text),
                ("z", Fixed(3)),
                ("count_side", Int),
                ("count_other_sides", Int),
                ("side_first_use", Time),
                ("side_first_key", Text),
                ("first_use_outside", Time),
                ("introduced", Flag),
                ("adopters", Int),
            ]),
        );
        for t in &self.terms {
            terms.push([
                Cell::from(&t.side),
                Cell::from(&t.term),
                t.z.into(),
                t.count_side.into(),
                t.count_others.into(),
                t.side_first_use.map_or(Cell::Null, Cell::Time),
                t.side_first_key.as_ref().into(),
                t.first_use_outside.map_or(Cell::Null, Cell::Time),
                t.introduced.into(),
                t.adopters.into(),
            ]);
        }
        let mut adopters = Rows::new(
            "adopters",
            crate::table_schema(&[
                ("side", Text),
                ("term", Text),
                ("platform", Text),
                ("channel_id", Text),
                ("channel_name", Text),
                ("first_use", Time),
                ("first_key", Text),
                ("days_after_side", Fixed(3)),
            ]),
        );
        for a in &self.adopters {
            adopters.push([
                Cell::from(&a.side),
                Cell::from(&a.term),
                Cell::from(&a.platform),
                Cell::from(&a.channel_id),
                Cell::from(&a.channel_name),
                Cell::Time(a.first_use),
                Cell::from(&a.first_key),
                a.days_after.into(),
            ]);
        }
        [terms, adopters].into_iter().map(Rows::finish).collect()
    }

    /// The summary: parameters, counts, one object per side.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "analysis": "compare",
            "params": self.params,
            "corpus_messages": self.corpus_messages,
            "overlap_messages": self.overlap_messages,
            "sides": self.sides,
            "notes": self.notes,
        })
    }
}

/// Write the tables under `out` (`vocabulary/` for the terms) and `summary.json`.
pub fn write_outputs(
    c: &Compare,
    out: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    let vocabulary = out.join("vocabulary");
    std::fs::create_dir_all(&vocabulary).map_err(|source| Error::Io { path: vocabulary.clone(), source })?;
    let mut files = crate::write_tables(&c.tables()?, out, format)?;
    files.extend(crate::write_tables(&c.vocabulary_tables()?, &vocabulary, format)?);
    crate::table::write_summary(out, files, c.summary(), extra)
}
