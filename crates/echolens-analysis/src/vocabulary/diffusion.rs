//! Diffusion: how a vocabulary (a list of terms) spread from channel to channel. For each channel, the first
//! message that used any of the terms, how many of its messages use them and what share that is; for each
//! term and for the vocabulary as a whole, the adoption curve (how many channels had used it by each day) and
//! the channel or channels that used it first.
//!
//! Terms are matched on the tokens of `text_norm` as keyness counts them: a term is normalised like message
//! text and matches where its words follow one another within a clause.
//!
//! The uses are counted in one scan for any number of term sets ([`count`]: an aggregate the engine runs where
//! the plan goes). Its rows per channel are kept on disk, and each set's tables are made from them by ordered
//! queries in a local session ([`Counted::rows`]): the rows per channel (a million channels at 53M messages,
//! millions of their uses of the terms) stream to the tables in order and are never held.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use echolens_text::{normalize, phrases, tokens};
use foldhash::fast::FixedState;
use serde::Serialize;

use echolens_store::rfc3339;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;

use crate::pseudonym::Pseudonyms;
use crate::select::Selection;
use crate::table::{i64s, strings_in_place};
use crate::{Error, Result};

const DAY_US: i64 = 86_400_000_000;

/// The local session's budget where the counting session's pool has no limit (`--memory`'s default).
const LOCAL_MEMORY: usize = 1 << 30;

/// A term list, normalised and tokenised.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The terms as given.
    pub terms: Vec<String>,
    words: Vec<Vec<String>>,
}

impl Terms {
    /// Compile `terms`; a term with no word in it is an error naming it.
    pub fn new(terms: Vec<String>) -> Result<Terms> {
        if terms.is_empty() {
            return Err(Error::Param("no terms to follow".into()));
        }
        if terms.len() > u32::MAX as usize - 1 {
            return Err(Error::Param("too many terms".into()));
        }
        let mut words = Vec::with_capacity(terms.len());
        for (i, term) in terms.iter().enumerate() {
            let w: Vec<String> = tokens(&normalize(term)).map(str::to_owned).collect();
            if w.is_empty() {
                return Err(Error::Param(format!("term {} ({term:?}) has no word in it", i + 1)));
            }
            words.push(w);
        }
        Ok(Terms { terms, words })
    }

    /// Read one term a line (blank lines and lines starting with `#` skipped).
    pub fn from_file(path: &Path) -> Result<Terms> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let terms: Vec<String> = text
            .lines()
            .map(str::trim)
            // `# ` starts a comment; `#tag` is a hashtag term.
            .filter(|l| !l.is_empty() && *l != "#" && !l.starts_with("# "))
            .map(str::to_owned)
            .collect();
        Terms::new(terms).map_err(|e| Error::Param(format!("{}: {e}", path.display())))
    }

    /// The top `k` terms of a keyness `terms.csv` that mark its target (z above 0).
    pub fn from_keyness(dir: &Path, k: usize) -> Result<Terms> {
        let path = dir.join("terms.csv");
        if !dir.is_dir() {
            return Err(Error::Param(format!(
                "{}: expected the output folder of a keyness run (the folder holding terms.csv)",
                dir.display()
            )));
        }
        let err = |source| Error::CsvRead { path: path.clone(), source };
        let mut reader = csv::Reader::from_path(&path).map_err(err)?;
        let header = reader.headers().map_err(err)?.clone();
        let col = |name: &str| header.iter().position(|h| h == name);
        let (Some(ti), Some(zi)) = (col("term"), col("z")) else {
            return Err(Error::Param(format!("{}: expected the columns term and z", path.display())));
        };
        let mut terms = Vec::new();
        for row in reader.records() {
            let row = row.map_err(err)?;
            let z: f64 = row.get(zi).and_then(|z| z.parse().ok()).unwrap_or(f64::NAN);
            if terms.len() >= k || z.is_nan() || z <= 0.0 {
                break;
            }
            terms.push(row.get(ti).unwrap_or("").to_owned());
        }
        Terms::new(terms).map_err(|e| Error::Param(format!("{}: {e}", path.display())))
    }
}

/// Every term set's terms in one matcher: a text is searched once for the first words of all of them, and
/// tokenised at most once, whatever the number of sets.
pub(crate) struct Matcher {
    sets: Vec<Terms>,
    /// Every term's first word: a text without any of them as a substring uses no term and is not tokenised.
    prefilter: aho_corasick::AhoCorasick,
    /// A first word → the (set, term) pairs whose term starts with it.
    by_first: HashMap<String, Vec<(u32, u32)>, FixedState>,
}

impl Matcher {
    pub(crate) fn new(sets: Vec<Terms>) -> Result<Matcher> {
        let mut by_first: HashMap<String, Vec<(u32, u32)>, FixedState> = HashMap::default();
        for (s, set) in sets.iter().enumerate() {
            for (t, words) in set.words.iter().enumerate() {
                by_first.entry(words[0].clone()).or_default().push((s as u32, t as u32));
            }
        }
        let prefilter = aho_corasick::AhoCorasick::new(by_first.keys())
            .map_err(|e| Error::Internal(format!("the terms' first words as a prefilter: {e}")))?;
        Ok(Matcher { sets, prefilter, by_first })
    }

    /// The terms of each set used in `text_norm`, each once and in order, into `found` (one list per set,
    /// cleared first).
    pub(crate) fn matches(&self, text_norm: &str, found: &mut Vec<Vec<u32>>) {
        found.resize_with(self.sets.len(), Vec::new);
        found.iter_mut().for_each(Vec::clear);
        if !self.prefilter.is_match(text_norm) {
            return;
        }
        phrases(text_norm, |run| {
            for start in 0..run.len() {
                let Some(ids) = self.by_first.get(run[start]) else { continue };
                for &(s, t) in ids {
                    let w = &self.sets[s as usize].words[t as usize];
                    if w.len() <= run.len() - start && w.iter().zip(&run[start..]).all(|(a, b)| a == b) {
                        found[s as usize].push(t);
                    }
                }
            }
        });
        for f in found.iter_mut() {
            f.sort_unstable();
            f.dedup();
        }
    }
}

/// A use of term `term` of set `set` as the hits function writes it (`term` `u32::MAX`: any of the set's).
fn hit(set: usize, term: u32) -> u64 {
    (set as u64) << 32 | u64::from(term)
}

/// `diffusion_hits(text_norm)`: the term sets' uses in a text, as [`hit`]s: for each set with a term in the
/// text, its any-term hit and each term's, each once. Made from the sets' terms (its parameter), so a cluster's
/// executors match the texts they scan.
fn hits_udf(matcher: Arc<Matcher>) -> datafusion::logical_expr::ScalarUDF {
    let param =
        serde_json::to_string(&matcher.sets.iter().map(|s| &s.terms).collect::<Vec<_>>()).expect("strings serialise");
    crate::udf::text_list_udf::<arrow::datatypes::UInt64Type, Vec<Vec<u32>>, _>(
        "diffusion_hits",
        param,
        move |text, found, out| {
            matcher.matches(text, found);
            for (s, terms) in found.iter().enumerate().filter(|(_, f)| !f.is_empty()) {
                out.append_value(hit(s, u32::MAX));
                for &term in terms {
                    out.append_value(hit(s, term));
                }
            }
        },
    )
}

/// The hits function made again from its parameter (the sets' terms as JSON).
pub(crate) fn rebuild_hits_udf(param: &str) -> Result<datafusion::logical_expr::ScalarUDF> {
    let sets: Vec<Vec<String>> = serde_json::from_str(param)
        .map_err(|e| Error::Param(format!("term sets sent with a plan do not read: {e}")))?;
    let sets = sets.into_iter().map(Terms::new).collect::<Result<Vec<_>>>()?;
    Ok(hits_udf(Arc::new(Matcher::new(sets)?)))
}

/// A channel's adoption of the vocabulary.
#[derive(Debug, Clone, Serialize)]
pub struct Adoption {
    /// Platform.
    pub platform: String,
    /// Channel id.
    pub channel_id: String,
    /// Channel name.
    pub channel_name: String,
    /// The first message using any term (µs since the epoch), if any.
    pub first_use: Option<i64>,
    /// That message's key.
    pub first_key: Option<String>,
    /// The term it used first.
    pub first_term: Option<String>,
    /// Messages using any term.
    pub uses: u64,
    /// Messages in the channel.
    pub messages: u64,
}

/// One channel's use of one term.
#[derive(Debug, Clone, Serialize)]
pub struct TermAdoption {
    /// Term index.
    pub term: usize,
    /// Index into [`Diffusion::channels`].
    pub channel: usize,
    /// First use (µs).
    pub first_use: i64,
    /// Its key.
    pub first_key: String,
    /// Messages using the term.
    pub uses: u64,
}

/// A point of an adoption curve.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// The term, or `*` for any term.
    pub term: String,
    /// Day (days since the epoch, UTC).
    pub day: i64,
    /// Channels that had used it by the end of the day.
    pub channels: u64,
    /// Channels that first used it that day.
    pub new_channels: u64,
    /// Messages using it that day.
    pub uses: u64,
}

/// A term's spread.
#[derive(Debug, Clone, Serialize)]
pub struct TermSummary {
    /// The term, or `*` for any term.
    pub term: String,
    /// Channels that used it.
    pub channels: u64,
    /// Messages that used it.
    pub uses: u64,
    /// Its first use (RFC 3339).
    pub first_use: Option<String>,
    /// The channel(s) whose first use was the earliest (names, or ids where unnamed).
    pub sources: Vec<String>,
    /// The earliest message's key.
    pub source_key: Option<String>,
    /// Days from the first use until half of the channels that ever used it had.
    pub days_to_half: Option<f64>,
}

/// The result of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct Diffusion {
    /// The terms followed.
    pub terms: Vec<String>,
    /// The selection looked at.
    pub selection: String,
    /// Channels, adopters first (by first use), then the others by messages.
    #[serde(skip)]
    pub channels: Vec<Adoption>,
    /// Per term and channel.
    #[serde(skip)]
    pub term_adoption: Vec<TermAdoption>,
    /// Adoption curves: `*` first, then each term, day by day.
    #[serde(skip)]
    pub curve: Vec<CurvePoint>,
    /// Per term, `*` first.
    pub summary: Vec<TermSummary>,
    /// Messages looked at.
    pub messages: u64,
    /// Channels looked at (the rows of `channels` where they are held: not after [`Diffusion::drop_rows`], nor
    /// where they went to a [`Sink`]).
    #[serde(skip)]
    pub channel_count: u64,
    /// Channels that used a term.
    #[serde(skip)]
    pub adopters: u64,
}

/// A channel's use of one term as `term_adoption` has it, with the channel named.
#[derive(Debug, Clone)]
pub struct TermUse {
    /// Term index.
    pub term: usize,
    /// Platform.
    pub platform: String,
    /// Channel id.
    pub channel_id: String,
    /// Channel name (empty where no message named it).
    pub channel_name: String,
    /// First use (µs).
    pub first_use: i64,
    /// Its key.
    pub first_key: String,
    /// Messages using the term.
    pub uses: u64,
}

/// Where a term set's rows per channel go as they are made, each table's rows in its order: `adoption` first,
/// then `term_adoption`.
pub trait Sink {
    /// A channel's row.
    fn adoption(&mut self, a: &Adoption) -> Result<()>;
    /// A channel's use of a term; `term` is the term as shown.
    fn term_use(&mut self, term: &str, t: &TermUse) -> Result<()>;
}

/// Follow `terms` through the messages of `selection`.
pub async fn run(ctx: &SessionContext, terms: Terms, selection: &Selection) -> Result<Diffusion> {
    Ok(run_many(ctx, vec![terms], selection).await?.pop().expect("one result per term set"))
}

/// Follow each of several term sets through the messages of `selection`, in one scan: the same results as a
/// [`run`] per set, every set's rows per channel held (a caller that writes them streams them instead:
/// [`count`] and [`Counted::rows`]).
pub async fn run_many(ctx: &SessionContext, sets: Vec<Terms>, selection: &Selection) -> Result<Vec<Diffusion>> {
    let counted = count(ctx, sets, selection).await?;
    let mut all = Vec::with_capacity(counted.sets());
    for set in 0..counted.sets() {
        let mut rows = Collected::default();
        let mut d = counted.rows(set, None, &mut rows).await?;
        let place: HashMap<(&str, &str), usize> =
            rows.channels.iter().enumerate().map(|(i, a)| ((a.platform.as_str(), a.channel_id.as_str()), i)).collect();
        let mut term_adoption = Vec::with_capacity(rows.terms.len());
        for t in &rows.terms {
            let Some(&channel) = place.get(&(t.platform.as_str(), t.channel_id.as_str())) else {
                return Err(Error::Internal("diffusion: a term used by a channel without its row".into()));
            };
            term_adoption.push(TermAdoption {
                term: t.term,
                channel,
                first_use: t.first_use,
                first_key: t.first_key.clone(),
                uses: t.uses,
            });
        }
        drop(place);
        d.channels = rows.channels;
        d.term_adoption = term_adoption;
        all.push(d);
    }
    Ok(all)
}

/// Every row, held.
#[derive(Default)]
struct Collected {
    channels: Vec<Adoption>,
    terms: Vec<TermUse>,
}

impl Sink for Collected {
    fn adoption(&mut self, a: &Adoption) -> Result<()> {
        self.channels.push(a.clone());
        Ok(())
    }

    fn term_use(&mut self, _: &str, t: &TermUse) -> Result<()> {
        self.terms.push(t.clone());
        Ok(())
    }
}

/// The term sets' uses in a selection, counted in one scan and kept on disk: each set's result is made from them
/// ([`Counted::rows`]), its rows per channel ordered and streamed by the engine, so that what is held does not
/// grow with the channels (a million channels and millions of their uses of the terms at 53M messages).
pub struct Counted {
    /// A local session over two tables on disk: `channels` (every channel of the selection: platform, id,
    /// latest name, messages and the hash the uses name it by) and `term_uses` (per channel and term, or any
    /// term (`term` -1), of a set: its uses and its first message's time and id).
    local: SessionContext,
    _files: [Arc<dyn datafusion::execution::SpillFile>; 2],
    sets: Vec<Terms>,
    /// Per set: (term or `u32::MAX` for any, day) → messages using it.
    daily: Vec<HashMap<(u32, i64), u64, FixedState>>,
    /// The first and last day of the selection's messages.
    span: Option<(i64, i64)>,
    selection: String,
}

/// Count the uses of each of `sets` in the messages of `selection`: one scan (on a cluster, on its executors),
/// whatever the number of sets.
pub async fn count(ctx: &SessionContext, sets: Vec<Terms>, selection: &Selection) -> Result<Counted> {
    if !selection.is_empty() {
        selection.count(ctx, "corpus").await?;
    }
    selection.register(ctx, "diffusion_selected").await?;
    // The tables the results are made from are the client's own, whatever engine counted them.
    let limit = match ctx.runtime_env().memory_pool.memory_limit() {
        datafusion::execution::memory_pool::MemoryLimit::Finite(bytes) => bytes,
        _ => LOCAL_MEMORY,
    };
    let local = crate::analysis_session(limit)?;
    // The joins of a channel's rows are sort-merge joins: their sorts spill, where a hash join holds its whole
    // build side (every channel).
    local.sql("SET datafusion.optimizer.prefer_hash_join = false").await?;
    // Every channel: one aggregate over the selection (partial and final, spilling beyond the memory pool). The
    // name is the one on the channel's latest named message (accounts rename; the latest name is the one a
    // reader knows), the greatest name where two share the time.
    let sql = "SELECT platform, channel_id, count(*) AS messages, \
               last_value(channel_name ORDER BY ts, channel_name) FILTER (WHERE channel_name IS NOT NULL) \
               AS channel_name, min(CAST(ts AS BIGINT)) AS first_ts, max(CAST(ts AS BIGINT)) AS last_ts, \
               key_hash(channel_id, hash64(platform)) AS hash FROM diffusion_selected GROUP BY platform, channel_id";
    crate::table::explain(ctx, sql).await?;
    let channels = crate::register_on_disk(ctx.sql(sql).await?, &local, "channels").await?;
    let span = channels_span(&local).await?;
    let n = sets.len();
    let matcher = Arc::new(Matcher::new(sets)?);
    ctx.register_udf(hits_udf(Arc::clone(&matcher)));
    // The uses per channel and term, and per term and day, aggregated by the engine in one grouping: a channel's
    // first use is the least (time, key), and within a channel the least (time, message id), the keys'
    // `platform:channel_id:` being the same. Two grouping sets, not one grouping by channel, term and day: a
    // channel using a term on many days is one group, not one a day. A row of the first set has no day, one of
    // the second no channel (neither is ever missing from a message).
    let sql = format!(
        "SELECT channel, hit, day, count(*) AS uses, min(time_key(message_id, t)) AS first \
         FROM (SELECT key_hash(channel_id, hash64(platform)) AS channel, message_id, t, hit, \
         (t - ((t % {DAY_US}) + {DAY_US}) % {DAY_US}) / {DAY_US} AS day \
         FROM (SELECT platform, channel_id, message_id, CAST(ts AS BIGINT) AS t, \
         unnest(diffusion_hits(text_norm)) AS hit FROM diffusion_selected)) \
         GROUP BY GROUPING SETS ((channel, hit), (hit, day))"
    );
    crate::table::explain(ctx, &sql).await?;
    let mut daily = vec![HashMap::default(); n];
    let uses = crate::table::register_mapped_on_disk(ctx.sql(&sql).await?, &local, "term_uses", uses_schema(), |b| {
        channel_uses(&b, n, &mut daily)
    })
    .await?;
    let sets = match Arc::try_unwrap(matcher) {
        Ok(m) => m.sets,
        Err(m) => m.sets.clone(),
    };
    Ok(Counted { local, _files: [channels, uses], sets, daily, span, selection: selection.to_string() })
}

/// The first and last day of the channels' messages; an error naming two channels whose hashes are alike (the
/// uses name a channel by its hash: two alike would be counted as one).
async fn channels_span(local: &SessionContext) -> Result<Option<(i64, i64)>> {
    let sql = "SELECT count(*) AS n, count(DISTINCT hash) AS hashes, min(first_ts) AS first, max(last_ts) AS last \
               FROM channels";
    let batches = crate::table::collect(local, sql).await?;
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches)?;
    let (n, hashes) = (i64s(&batch, "n")?.value(0), i64s(&batch, "hashes")?.value(0));
    if n != hashes {
        let sql = "SELECT platform || ':' || channel_id AS channel FROM channels WHERE hash IN \
                   (SELECT hash FROM channels GROUP BY hash HAVING count(*) > 1) ORDER BY hash, channel LIMIT 2";
        let alike = crate::table::collect(local, sql).await?;
        let names: Vec<String> = alike
            .iter()
            .map(|b| crate::table::strings(b, "channel"))
            .collect::<Result<Vec<_>>>()?
            .iter()
            .flat_map(|s| s.iter().flatten().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        return Err(Error::Internal(format!("diffusion: the channels {} hash alike", names.join(" and "))));
    }
    let (first, last) = (i64s(&batch, "first")?, i64s(&batch, "last")?);
    Ok((first.is_valid(0) && last.is_valid(0))
        .then(|| (first.value(0).div_euclid(DAY_US), last.value(0).div_euclid(DAY_US))))
}

/// `term_uses`' columns: the channel's hash, the set, the term (-1: any of the set's), the messages using it and
/// the first's time and message id.
fn uses_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(vec![
        Field::new("channel", DataType::Int64, false),
        Field::new("term_set", DataType::Int64, false),
        Field::new("term", DataType::Int64, false),
        Field::new("uses", DataType::Int64, false),
        Field::new("first_ts", DataType::Int64, false),
        Field::new("first_id", DataType::Utf8, false),
    ]))
}

/// The rows of the uses' aggregate by channel as `term_uses` rows; the rows by day are counted into `daily`.
fn channel_uses(
    batch: &RecordBatch,
    sets: usize,
    daily: &mut [HashMap<(u32, i64), u64, FixedState>],
) -> Result<Option<RecordBatch>> {
    use arrow::array::{Int64Builder, StringBuilder};
    let channel = i64s(batch, "channel")?;
    let hits = crate::table::u64s(batch, "hit")?;
    let (day, uses) = (i64s(batch, "day")?, i64s(batch, "uses")?);
    let first = crate::table::binaries(batch, "first")?;
    let rows = batch.num_rows();
    let [mut c, mut s, mut t, mut u, mut ts] = std::array::from_fn(|_| Int64Builder::with_capacity(rows));
    let mut id = StringBuilder::with_capacity(rows, rows * 8);
    for i in 0..rows {
        let h = hits.value(i);
        let (set, term) = ((h >> 32) as usize, h as u32);
        if set >= sets {
            return Err(Error::Internal(format!("diffusion: term set {set} of {sets}")));
        }
        match (channel.is_valid(i), day.is_valid(i)) {
            (true, false) => {
                let Some((first_ts, first_id)) = crate::udf::from_time_key(first.value(i)) else {
                    return Err(Error::Internal("diffusion: a first use without its time and message id".into()));
                };
                c.append_value(channel.value(i));
                s.append_value(set as i64);
                t.append_value(if term == u32::MAX { -1 } else { i64::from(term) });
                u.append_value(uses.value(i));
                ts.append_value(first_ts);
                id.append_value(first_id);
            }
            (false, true) => *daily[set].entry((term, day.value(i))).or_default() += uses.value(i) as u64,
            _ => return Err(Error::Internal("diffusion: a row of neither grouping set".into())),
        }
    }
    let columns: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(c.finish()),
        Arc::new(s.finish()),
        Arc::new(t.finish()),
        Arc::new(u.finish()),
        Arc::new(ts.finish()),
        Arc::new(id.finish()),
    ];
    Ok(Some(RecordBatch::try_new(uses_schema(), columns)?))
}

/// A series' first uses (any term's, or one term's) as its rows come, in time order: the times, and the uses at
/// the earliest time with their keys (stored, to order them; shown) and channels as shown.
#[derive(Default)]
struct Firsts {
    times: Vec<i64>,
    earliest: Vec<(String, String, String)>,
}

impl Firsts {
    /// A first use at `ts`, its message's key as stored and as shown, by the channel shown as `id` and `name`
    /// (named by its id where it has no name).
    fn push(&mut self, ts: i64, raw_key: String, key: &str, id: &str, name: &str) -> Result<()> {
        if self.times.last().is_some_and(|&last| ts < last) {
            return Err(Error::Internal("diffusion: first uses out of time order".into()));
        }
        if self.times.first().is_none_or(|&first| first == ts) {
            let name = if name.is_empty() { id } else { name };
            self.earliest.push((raw_key, key.to_owned(), name.to_owned()));
        }
        self.times.push(ts);
        Ok(())
    }

    /// The series' curve points over the days `first_day..=last_day` and its summary; `uses_on(day)`: the
    /// messages using it that day.
    fn summarise(
        mut self,
        label: &str,
        (first_day, last_day): (i64, i64),
        uses_on: impl Fn(i64) -> u64,
        curve: &mut Vec<CurvePoint>,
    ) -> TermSummary {
        // Channels whose first uses share the earliest time are in the order of the first messages' keys.
        self.earliest.sort_by(|a, b| a.0.cmp(&b.0));
        let mut new_by_day: HashMap<i64, u64> = HashMap::new();
        for &ts in &self.times {
            *new_by_day.entry(ts.div_euclid(DAY_US)).or_default() += 1;
        }
        let (mut cumulative, mut uses_total) = (0, 0);
        for day in first_day..=last_day {
            let new = new_by_day.get(&day).copied().unwrap_or(0);
            cumulative += new;
            let uses = uses_on(day);
            uses_total += uses;
            curve.push(CurvePoint { term: label.to_owned(), day, channels: cumulative, new_channels: new, uses });
        }
        let first = self.times.first().copied();
        let days_to_half = first.map(|f| {
            let half = self.times.len().div_ceil(2);
            (self.times[half - 1] - f) as f64 / DAY_US as f64
        });
        TermSummary {
            term: label.to_owned(),
            channels: self.times.len() as u64,
            uses: uses_total,
            first_use: first.map(rfc3339),
            source_key: self.earliest.first().map(|e| e.1.clone()),
            sources: self.earliest.into_iter().map(|e| e.2).collect(),
            days_to_half: days_to_half.map(|d| (d * 100.0).round() / 100.0),
        }
    }
}

impl Counted {
    /// The rows of `term_uses` of set `set`, (any term's, each term's), in one pass: a check that every use
    /// counted reached a row of the tables.
    async fn uses_rows(&self, set: usize) -> Result<(u64, u64)> {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE term < 0) AS any, count(*) FILTER (WHERE term >= 0) AS terms \
             FROM term_uses WHERE term_set = {set}"
        );
        let (mut any, mut terms) = (0, 0);
        for batch in crate::table::collect(&self.local, &sql).await? {
            any += i64s(&batch, "any")?.iter().flatten().sum::<i64>() as u64;
            terms += i64s(&batch, "terms")?.iter().flatten().sum::<i64>() as u64;
        }
        Ok((any, terms))
    }

    /// The term sets counted.
    pub fn sets(&self) -> usize {
        self.sets.len()
    }

    /// Set `set`'s result: its rows per channel handed to `sink` as the engine orders them (`adoption`:
    /// adopters by first use, then the others by messages; `term_adoption`: by term, first use and channel as
    /// `adoption` orders them), each pseudonymised by `shown` if given, and the result without them (its
    /// counts, curves and summary, as shown). What is held is a few columns of one series, not the rows.
    pub async fn rows(
        &self,
        set: usize,
        shown: Option<&Pseudonyms>,
        sink: &mut (dyn Sink + Send),
    ) -> Result<Diffusion> {
        let terms = &self.sets[set].terms;
        let shown_terms: Vec<String> = terms.iter().map(|t| shown.map_or_else(|| t.clone(), |p| p.text(t))).collect();
        let any_use = format!(
            "any_use AS (SELECT channel, uses, first_ts, first_id FROM term_uses WHERE term_set = {set} AND term < 0)"
        );
        // A channel's first term is the least of those its first message used.
        let sql = format!(
            "WITH {any_use}, first_terms AS (SELECT t.channel, min(t.term) AS first_term FROM term_uses t \
             JOIN any_use a ON t.channel = a.channel AND t.first_ts = a.first_ts AND t.first_id = a.first_id \
             WHERE t.term_set = {set} AND t.term >= 0 GROUP BY t.channel) \
             SELECT c.platform, c.channel_id, c.channel_name, c.messages, a.uses, a.first_ts, a.first_id, \
             f.first_term FROM channels c LEFT JOIN any_use a ON a.channel = c.hash \
             LEFT JOIN first_terms f ON f.channel = c.hash \
             ORDER BY a.first_ts IS NULL, a.first_ts, c.platform || ':' || c.channel_id || ':' || a.first_id, \
             c.messages DESC, c.platform, c.channel_id"
        );
        crate::table::explain(&self.local, &sql).await?;
        let mut stream = self.local.sql(&sql).await?.execute_stream().await?;
        let (mut channel_count, mut adopters, mut messages) = (0u64, 0u64, 0u64);
        let mut any = Firsts::default();
        while let Some(batch) = futures::StreamExt::next(&mut stream).await {
            let batch = batch?;
            let (platform, id) = (strings_in_place(&batch, "platform")?, strings_in_place(&batch, "channel_id")?);
            let name = strings_in_place(&batch, "channel_name")?;
            let (count, uses) = (i64s(&batch, "messages")?, i64s(&batch, "uses")?);
            let (first_ts, first_id) = (i64s(&batch, "first_ts")?, strings_in_place(&batch, "first_id")?);
            let first_term = i64s(&batch, "first_term")?;
            for i in 0..batch.num_rows() {
                let used = uses.is_valid(i);
                let raw_key =
                    used.then(|| echolens_model::message_key(platform.value(i), id.value(i), first_id.value(i)));
                let first_term = match (used, first_term.is_valid(i)) {
                    (true, true) => terms.get(first_term.value(i) as usize),
                    (false, _) => None,
                    (true, false) => {
                        return Err(Error::Internal(
                            "diffusion: a channel's first message used none of its terms".into(),
                        ));
                    }
                };
                let mut a = Adoption {
                    platform: platform.value(i).to_owned(),
                    channel_id: id.value(i).to_owned(),
                    channel_name: if name.is_valid(i) { name.value(i).to_owned() } else { String::new() },
                    first_use: used.then(|| first_ts.value(i)),
                    first_key: raw_key.clone(),
                    first_term: first_term.cloned(),
                    uses: if used { uses.value(i) as u64 } else { 0 },
                    messages: count.value(i) as u64,
                };
                if let Some(p) = shown {
                    p.adoption(&mut a);
                }
                if let (Some(raw), Some(ts), Some(key)) = (raw_key, a.first_use, &a.first_key) {
                    any.push(ts, raw, key, &a.channel_id, &a.channel_name)?;
                    adopters += 1;
                }
                channel_count += 1;
                messages += a.messages;
                sink.adoption(&a)?;
            }
        }

        let span = self.span.unwrap_or((0, 0));
        let daily = &self.daily[set];
        let mut curve = Vec::new();
        let mut summary =
            vec![any.summarise("*", span, |day| daily.get(&(u32::MAX, day)).copied().unwrap_or(0), &mut curve)];
        // Each term's channels in the order of their first use of it, and channels alike as `adoption` orders
        // them (adopters by their first use of any term, the first message's key breaking a tie).
        let sql = format!(
            "WITH {any_use} SELECT t.term, c.platform, c.channel_id, c.channel_name, t.first_ts, t.first_id, t.uses \
             FROM term_uses t JOIN channels c ON c.hash = t.channel JOIN any_use a ON a.channel = t.channel \
             WHERE t.term_set = {set} AND t.term >= 0 \
             ORDER BY t.term, t.first_ts, a.first_ts, c.platform || ':' || c.channel_id || ':' || a.first_id"
        );
        crate::table::explain(&self.local, &sql).await?;
        let mut stream = self.local.sql(&sql).await?.execute_stream().await?;
        let mut series = Firsts::default();
        let (mut at, mut term_uses) = (0usize, 0u64);
        let finish_term = |term: usize, series: Firsts, curve: &mut Vec<CurvePoint>| {
            let uses_on = |day| daily.get(&(term as u32, day)).copied().unwrap_or(0);
            series.summarise(&shown_terms[term], span, uses_on, curve)
        };
        while let Some(batch) = futures::StreamExt::next(&mut stream).await {
            let batch = batch?;
            let term = i64s(&batch, "term")?;
            let (platform, id) = (strings_in_place(&batch, "platform")?, strings_in_place(&batch, "channel_id")?);
            let name = strings_in_place(&batch, "channel_name")?;
            let (first_ts, first_id, uses) =
                (i64s(&batch, "first_ts")?, strings_in_place(&batch, "first_id")?, i64s(&batch, "uses")?);
            for i in 0..batch.num_rows() {
                let t = usize::try_from(term.value(i)).ok().filter(|&t| t < terms.len() && t >= at);
                let Some(t) = t else {
                    return Err(Error::Internal(format!("diffusion: term {} out of order or range", term.value(i))));
                };
                while at < t {
                    summary.push(finish_term(at, std::mem::take(&mut series), &mut curve));
                    at += 1;
                }
                let raw_key = echolens_model::message_key(platform.value(i), id.value(i), first_id.value(i));
                let mut u = TermUse {
                    term: t,
                    platform: platform.value(i).to_owned(),
                    channel_id: id.value(i).to_owned(),
                    channel_name: if name.is_valid(i) { name.value(i).to_owned() } else { String::new() },
                    first_use: first_ts.value(i),
                    first_key: raw_key.clone(),
                    uses: uses.value(i) as u64,
                };
                if let Some(p) = shown {
                    p.term_use(&mut u);
                }
                series.push(u.first_use, raw_key, &u.first_key, &u.channel_id, &u.channel_name)?;
                term_uses += 1;
                sink.term_use(&shown_terms[t], &u)?;
            }
        }
        while at < terms.len() {
            summary.push(finish_term(at, std::mem::take(&mut series), &mut curve));
            at += 1;
        }
        if self.uses_rows(set).await? != (adopters, term_uses) {
            return Err(Error::Internal("diffusion: a channel used a term outside the selection".into()));
        }
        Ok(Diffusion {
            terms: shown_terms,
            selection: self.selection.clone(),
            channels: Vec::new(),
            term_adoption: Vec::new(),
            curve,
            summary,
            messages,
            channel_count,
            adopters,
        })
    }
}

fn adoption_schema() -> arrow::datatypes::SchemaRef {
    use crate::Col::*;
    crate::table_schema(&[
        ("channel_id", Text),
        ("channel_name", Text),
        ("first_use", Time),
        ("uses", Int),
        ("messages", Int),
        ("share", Fixed(6)),
        ("platform", Text),
        ("first_key", Text),
        ("first_term", Text),
    ])
}

fn term_adoption_schema() -> arrow::datatypes::SchemaRef {
    use crate::Col::*;
    crate::table_schema(&[
        ("term", Text),
        ("channel_id", Text),
        ("channel_name", Text),
        ("platform", Text),
        ("first_use", Time),
        ("first_key", Text),
        ("uses", Int),
    ])
}

fn curve_schema() -> arrow::datatypes::SchemaRef {
    use crate::Col::*;
    crate::table_schema(&[
        ("term", Text),
        ("day", Day),
        ("channels", Int),
        ("share", Fixed(6)),
        ("new_channels", Int),
        ("uses", Int),
    ])
}

/// An `adoption` row.
fn adoption_row(sink: &mut impl crate::RowSink, a: &Adoption) -> Result<()> {
    use crate::Cell;
    let share = if a.messages == 0 { 0.0 } else { a.uses as f64 / a.messages as f64 };
    sink.row([
        Cell::from(&a.channel_id),
        Cell::from(&a.channel_name),
        a.first_use.map_or(Cell::Null, Cell::Time),
        a.uses.into(),
        a.messages.into(),
        share.into(),
        Cell::from(&a.platform),
        a.first_key.as_ref().into(),
        a.first_term.as_ref().into(),
    ])
}

/// A `term_adoption` row: `term` (as shown) used by the channel `channel` as `adoption` names it.
fn term_adoption_row(
    sink: &mut impl crate::RowSink,
    term: &str,
    channel: (&str, &str, &str),
    (first_use, first_key, uses): (i64, &str, u64),
) -> Result<()> {
    use crate::Cell;
    let (platform, id, name) = channel;
    sink.row([
        Cell::from(term),
        Cell::from(id),
        Cell::from(name),
        Cell::from(platform),
        Cell::Time(first_use),
        Cell::from(first_key),
        uses.into(),
    ])
}

/// The `curve` rows of `d`.
fn curve_rows(sink: &mut impl crate::RowSink, d: &Diffusion) -> Result<()> {
    use crate::Cell;
    let total_channels = d.channel_count.max(1) as f64;
    for p in &d.curve {
        sink.row([
            Cell::from(&p.term),
            i32::try_from(p.day).map_or(Cell::Null, Cell::Day),
            p.channels.into(),
            (p.channels as f64 / total_channels).into(),
            p.new_channels.into(),
            p.uses.into(),
        ])?;
    }
    Ok(())
}

impl Diffusion {
    /// The tables: `adoption` (one row per channel), `term_adoption` (per term and channel that used it),
    /// `curve` (per term and day).
    pub fn tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Rows;
        let mut adoption = Rows::new("adoption", adoption_schema());
        let mut term_adoption = Rows::new("term_adoption", term_adoption_schema());
        let mut curve = Rows::new("curve", curve_schema());
        self.rows(&mut adoption, &mut term_adoption)?;
        curve_rows(&mut curve, self)?;
        Ok(vec![adoption.finish()?, term_adoption.finish()?, curve.finish()?])
    }

    /// An error unless the rows per channel are here (not dropped: [`Diffusion::drop_rows`]).
    fn check_rows(&self) -> Result<()> {
        if self.channels.len() as u64 != self.channel_count {
            return Err(Error::Internal("diffusion tables asked for after their rows were dropped".into()));
        }
        Ok(())
    }

    /// The rows per channel of the tables ([`Diffusion::tables`]), each into its sink.
    fn rows(&self, adoption: &mut impl crate::RowSink, term_adoption: &mut impl crate::RowSink) -> Result<()> {
        self.check_rows()?;
        for a in &self.channels {
            adoption_row(adoption, a)?;
        }
        for a in &self.term_adoption {
            let c = &self.channels[a.channel];
            let channel = (c.platform.as_str(), c.channel_id.as_str(), c.channel_name.as_str());
            term_adoption_row(term_adoption, &self.terms[a.term], channel, (a.first_use, &a.first_key, a.uses))?;
        }
        Ok(())
    }

    /// The summary (`summary.json` without the run): the result with its channel and adopter counts.
    pub fn summary(&self) -> serde_json::Value {
        let mut summary = serde_json::to_value(self).expect("diffusion serialises");
        summary["channels"] = serde_json::json!(self.channel_count);
        summary["adopters"] = serde_json::json!(self.adopters);
        summary
    }

    /// Drops the rows per channel (`channels`, `term_adoption`), which grow with the corpus, once the tables are
    /// written: the counts, the curves and the summary stay (what a report shows).
    pub fn drop_rows(&mut self) {
        self.channels = Vec::new();
        self.term_adoption = Vec::new();
    }
}

/// A term set's tables written into a folder as its rows are made ([`Sink`], from [`Counted::rows`]), then its
/// curve and `summary.json` ([`Writer::finish`]).
pub struct Writer {
    out: std::path::PathBuf,
    format: crate::TableFormat,
    adoption: crate::TableWriter,
    term_adoption: crate::TableWriter,
}

impl Writer {
    /// Tables of `format` in `out` (made if missing).
    pub fn create(out: &Path, format: crate::TableFormat) -> Result<Writer> {
        std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
        Ok(Writer {
            out: out.to_owned(),
            format,
            adoption: crate::TableWriter::create(out, "adoption", adoption_schema(), format)?,
            term_adoption: crate::TableWriter::create(out, "term_adoption", term_adoption_schema(), format)?,
        })
    }

    /// Writes the curve of `d` (the result whose rows were written) and the summary with `extra`.
    pub fn finish(self, d: &Diffusion, extra: serde_json::Value) -> Result<crate::Written> {
        let mut curve = crate::TableWriter::create(&self.out, "curve", curve_schema(), self.format)?;
        curve_rows(&mut curve, d)?;
        let written = vec![self.adoption.finish()?, self.term_adoption.finish()?, curve.finish()?];
        crate::table::write_summary(&self.out, written, d.summary(), extra)
    }
}

impl Sink for Writer {
    fn adoption(&mut self, a: &Adoption) -> Result<()> {
        adoption_row(&mut self.adoption, a)
    }

    fn term_use(&mut self, term: &str, t: &TermUse) -> Result<()> {
        let channel = (t.platform.as_str(), t.channel_id.as_str(), t.channel_name.as_str());
        term_adoption_row(&mut self.term_adoption, term, channel, (t.first_use, &t.first_key, t.uses))
    }
}

/// Write the tables of `d` ([`Diffusion::tables`]) as `format` and `summary.json` into `out`, each table as
/// its rows are made (not copied into a table first).
pub fn write_outputs(
    d: &Diffusion,
    out: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    d.check_rows()?;
    let mut writer = Writer::create(out, format)?;
    d.rows(&mut writer.adoption, &mut writer.term_adoption)?;
    writer.finish(d, extra)
}
