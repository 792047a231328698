//! Diffusion: how a vocabulary (a list of terms) spread from channel to channel. For each channel, the first
//! message that used any of the terms, how many of its messages use them and what share that is; for each
//! term and for the vocabulary as a whole, the adoption curve (how many channels had used it by each day) and
//! the channel or channels that used it first.
//!
//! Terms are matched on the tokens of `text_norm` as keyness counts them: a term is normalised like message
//! text and matches where its words follow one another within a clause.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use echolens_text::{normalize, phrases, tokens};
use foldhash::fast::FixedState;
use serde::Serialize;

use echolens_store::rfc3339;

use crate::minhash::KeyHasher;
use crate::select::Selection;
use arrow::array::{Array, Int64Array};

use crate::table::{Strs, i64s, strings_in_place};
use crate::{Error, Result};

const DAY_US: i64 = 86_400_000_000;

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
        let mut reader = csv::Reader::from_path(&path).map_err(|source| Error::Csv { path: path.clone(), source })?;
        let header = reader.headers().map_err(|source| Error::Csv { path: path.clone(), source })?.clone();
        let col = |name: &str| header.iter().position(|h| h == name);
        let (Some(ti), Some(zi)) = (col("term"), col("z")) else {
            return Err(Error::Param(format!("{}: expected the columns term and z", path.display())));
        };
        let mut terms = Vec::new();
        for row in reader.records() {
            let row = row.map_err(|source| Error::Csv { path: path.clone(), source })?;
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

/// The first use of a term (or of any term) in a channel, and how many messages use it. The first message's
/// key is shared by every use it is the first of (the channel's any-term use and each term's).
#[derive(Debug, Clone)]
struct Use {
    first_ts: i64,
    /// The first message's key (while the aggregate's rows are folded, its message id: the rest of the key is
    /// the channel's).
    first_key: Arc<str>,
    uses: u64,
}

impl Default for Use {
    fn default() -> Use {
        Use { first_ts: 0, first_key: Arc::from(""), uses: 0 }
    }
}

impl Use {
    /// `uses` more messages, the first of them at `ts` with `key`.
    fn add(&mut self, ts: i64, key: &str, uses: u64) {
        if self.uses == 0 || (ts, key) < (self.first_ts, &*self.first_key) {
            self.first_ts = ts;
            self.first_key = Arc::from(key);
        }
        self.uses += uses;
    }
}

/// A channel's uses of each term it used, by term (a few terms a set: a list, not a table per channel).
#[derive(Debug, Clone, Default)]
struct TermUses(Vec<(u32, Use)>);

impl TermUses {
    fn entry(&mut self, term: u32) -> &mut Use {
        let at = match self.0.iter().position(|(t, _)| *t == term) {
            Some(at) => at,
            None => {
                self.0.push((term, Use::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

/// Every channel of the selection, as the engine's aggregate gives them: platform, id, latest name and the
/// number of messages, a channel a row of the aggregate's columns.
struct Channels {
    platform: Strs,
    id: Strs,
    name: Strs,
    messages: Int64Array,
    /// `key_hash(channel_id, hash64(platform))`: how the uses' aggregate names a channel.
    hash: Int64Array,
    /// The first and last day of the selection's messages.
    days: Option<(i64, i64)>,
}

impl Channels {
    /// Every channel of `diffusion_selected`: one aggregate over the selection (partial and final, spilling
    /// beyond the session's memory pool) instead of a table of channels in each partition's scan. The name is
    /// the one on the channel's latest named message (accounts rename; the latest name is the one a reader
    /// knows), the greatest name where two share the time.
    async fn of_selection(ctx: &SessionContext) -> Result<Channels> {
        let sql = "SELECT platform, channel_id, count(*) AS messages, \
                   last_value(channel_name ORDER BY ts, channel_name) FILTER (WHERE channel_name IS NOT NULL) \
                   AS channel_name, min(CAST(ts AS BIGINT)) AS first_ts, max(CAST(ts AS BIGINT)) AS last_ts, \
                   key_hash(channel_id, hash64(platform)) AS hash FROM diffusion_selected GROUP BY platform, channel_id";
        crate::table::explain(ctx, sql).await?;
        let df = ctx.sql(sql).await?;
        let schema = df.schema().inner().clone();
        let batch = arrow::compute::concat_batches(&schema, &df.collect().await?)?;
        Ok(Channels {
            platform: strings_in_place(&batch, "platform")?,
            id: strings_in_place(&batch, "channel_id")?,
            name: strings_in_place(&batch, "channel_name")?,
            messages: i64s(&batch, "messages")?,
            hash: i64s(&batch, "hash")?,
            days: i64s(&batch, "first_ts")?
                .iter()
                .flatten()
                .min()
                .zip(i64s(&batch, "last_ts")?.iter().flatten().max())
                .map(|(first, last)| (first.div_euclid(DAY_US), last.div_euclid(DAY_US))),
        })
    }

    fn len(&self) -> usize {
        self.messages.len()
    }

    /// Each channel's hash → its place; two channels with one hash are an error, never one channel.
    fn places(&self) -> Result<HashMap<i64, u32, BuildHasherDefault<KeyHasher>>> {
        let mut places = HashMap::with_capacity_and_hasher(self.len(), BuildHasherDefault::default());
        for c in 0..self.len() {
            if let Some(other) = places.insert(self.hash.value(c), c as u32) {
                let other = other as usize;
                return Err(Error::Internal(format!(
                    "diffusion: the channels {}:{} and {}:{} hash alike",
                    self.platform(other),
                    self.id(other),
                    self.platform(c),
                    self.id(c)
                )));
            }
        }
        Ok(places)
    }

    fn platform(&self, c: usize) -> &str {
        self.platform.value(c)
    }

    fn id(&self, c: usize) -> &str {
        self.id.value(c)
    }

    /// Its latest name; empty where no message named it.
    fn name(&self, c: usize) -> &str {
        if self.name.is_valid(c) { self.name.value(c) } else { "" }
    }

    fn messages(&self, c: usize) -> u64 {
        self.messages.value(c) as u64
    }
}

/// A channel's use of one term set's terms.
#[derive(Debug, Clone, Default)]
struct Usage {
    any: Use,
    /// The first term it used.
    first_term: u32,
    terms: TermUses,
}

/// What the aggregate of the term sets' uses gives: only the channels that used a term of some set (the
/// adopters), each held once whatever the number of term sets.
#[derive(Default)]
struct Adopters {
    /// Per term set: the adopters that used its terms (by their place in [`Channels`]).
    used: Vec<HashMap<u32, Usage, BuildHasherDefault<KeyHasher>>>,
    /// Per term set: (term or `u32::MAX` for any, day) → messages using it.
    daily: Vec<HashMap<(u32, i64), u64, FixedState>>,
}

/// A use of term `term` of set `set` as the hits function writes it (`term` `u32::MAX`: any of the set's).
fn hit(set: usize, term: u32) -> u64 {
    (set as u64) << 32 | u64::from(term)
}

/// `diffusion_hits(text_norm)`: the term sets' uses in a text, as [`hit`]s: for each set with a term in the
/// text, its any-term hit and each term's, each once. Made from the sets' terms (its parameter), so a cluster's
/// executors match the texts they scan.
fn hits_udf(matcher: Arc<Matcher>) -> datafusion::logical_expr::ScalarUDF {
    use arrow::array::{ListBuilder, UInt64Builder};
    use datafusion::logical_expr::ColumnarValue;
    let param =
        serde_json::to_string(&matcher.sets.iter().map(|s| &s.terms).collect::<Vec<_>>()).expect("strings serialise");
    let item = arrow::datatypes::DataType::UInt64;
    let ret = arrow::datatypes::DataType::List(Arc::new(arrow::datatypes::Field::new_list_field(item, true)));
    let udf = crate::udf::string_udf(
        "diffusion_hits",
        &[],
        ret,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = crate::table::Strs::of(&arrays[0])
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            let mut out = ListBuilder::with_capacity(UInt64Builder::new(), text.len());
            let mut found = Vec::new();
            for t in text.iter() {
                if let Some(t) = t {
                    matcher.matches(t, &mut found);
                    for (s, terms) in found.iter().enumerate().filter(|(_, f)| !f.is_empty()) {
                        out.values().append_value(hit(s, u32::MAX));
                        for &term in terms {
                            out.values().append_value(hit(s, term));
                        }
                    }
                }
                out.append(true);
            }
            let out: arrow::array::ArrayRef = Arc::new(out.finish());
            Ok(ColumnarValue::Array(out))
        }),
    );
    crate::udf::parameterised(udf, param)
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
    /// Channels looked at (the rows of `channels` until [`Diffusion::drop_rows`]).
    #[serde(skip)]
    pub channel_count: u64,
    /// Channels that used a term.
    #[serde(skip)]
    pub adopters: u64,
}

/// Follow `terms` through the messages of `selection`.
pub async fn run(ctx: &SessionContext, terms: Terms, selection: &Selection) -> Result<Diffusion> {
    Ok(run_many(ctx, vec![terms], selection).await?.pop().expect("one result per term set"))
}

/// Follow each of several term sets through the messages of `selection`, in one scan: the same results as a
/// [`run`] per set (`analyze` follows the top terms of each campaign source through the whole corpus).
pub async fn run_many(ctx: &SessionContext, sets: Vec<Terms>, selection: &Selection) -> Result<Vec<Diffusion>> {
    let mut all = Vec::with_capacity(sets.len());
    run_each(ctx, sets, selection, |d| {
        all.push(d);
        Ok(())
    })
    .await?;
    Ok(all)
}

/// [`run_many`], each set's result handed to `f` as it is made, in the order of `sets`: a caller that writes
/// each and keeps less of it holds one set's rows at a time.
pub async fn run_each(
    ctx: &SessionContext,
    sets: Vec<Terms>,
    selection: &Selection,
    mut f: impl FnMut(Diffusion) -> Result<()>,
) -> Result<()> {
    if !selection.is_empty() {
        selection.count(ctx, "corpus").await?;
    }
    selection.register(ctx, "diffusion_selected").await?;
    let channels = Channels::of_selection(ctx).await?;
    let n = sets.len();
    let matcher = Arc::new(Matcher::new(sets)?);
    ctx.register_udf(hits_udf(Arc::clone(&matcher)));
    // The uses per channel and term, and per term and day, aggregated by the engine in one grouping (partial
    // and final, spilling beyond the session's memory pool, on a cluster's executors): a channel's first use is
    // the least (time, key), and within a channel the least (time, message id), the keys' `platform:channel_id:`
    // being the same. Two grouping sets, not one grouping by channel, term and day: a channel using a term on
    // many days is one group, not one a day (the groups were the vocabulary stage's peak). A row of the first
    // set has no day, one of the second no channel (neither is ever missing from a message).
    let sql = format!(
        "SELECT channel, hit, day, count(*) AS uses, min(time_key(message_id, t)) AS first \
         FROM (SELECT key_hash(channel_id, hash64(platform)) AS channel, message_id, t, hit, \
         (t - ((t % {DAY_US}) + {DAY_US}) % {DAY_US}) / {DAY_US} AS day \
         FROM (SELECT platform, channel_id, message_id, CAST(ts AS BIGINT) AS t, \
         unnest(diffusion_hits(text_norm)) AS hit FROM diffusion_selected)) \
         GROUP BY GROUPING SETS ((channel, hit), (hit, day))"
    );
    crate::table::explain(ctx, &sql).await?;
    let place = channels.places()?;
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let mut all = Adopters { used: vec![HashMap::default(); n], daily: vec![HashMap::default(); n] };
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        let batch = batch?;
        let channel = i64s(&batch, "channel")?;
        let hits = crate::table::u64s(&batch, "hit")?;
        let (day, uses) = (i64s(&batch, "day")?, i64s(&batch, "uses")?);
        let first = crate::table::binaries(&batch, "first")?;
        for i in 0..batch.num_rows() {
            let (h, uses) = (hits.value(i), uses.value(i) as u64);
            let (set, term) = ((h >> 32) as usize, h as u32);
            if set >= n {
                return Err(Error::Internal(format!("diffusion: term set {set} of {n}")));
            }
            match (channel.is_valid(i), day.is_valid(i)) {
                (true, false) => {
                    let Some((first_ts, first_id)) = crate::udf::from_time_key(first.value(i)) else {
                        return Err(Error::Internal("diffusion: a first use without its time and message id".into()));
                    };
                    let Some(&c) = place.get(&channel.value(i)) else {
                        return Err(Error::Internal("diffusion: a channel used a term outside the selection".into()));
                    };
                    let usage = all.used[set].entry(c).or_default();
                    let u = if term == u32::MAX { &mut usage.any } else { usage.terms.entry(term) };
                    u.add(first_ts, first_id, uses);
                }
                (false, true) => *all.daily[set].entry((term, day.value(i))).or_default() += uses,
                _ => return Err(Error::Internal("diffusion: a row of neither grouping set".into())),
            }
        }
    }
    drop(place);
    // A channel's first term is the least of those its first message used; their first uses share its key. The
    // first uses' message ids become keys.
    for used in &mut all.used {
        for (&c, usage) in used.iter_mut() {
            let key = |id: &str| -> Arc<str> {
                Arc::from(echolens_model::message_key(channels.platform(c as usize), channels.id(c as usize), id))
            };
            usage.first_term = u32::MAX;
            let any_key = key(&usage.any.first_key);
            for (t, u) in &mut usage.terms.0 {
                if (u.first_ts, &*u.first_key) == (usage.any.first_ts, &*usage.any.first_key) {
                    usage.first_term = usage.first_term.min(*t);
                    u.first_key = Arc::clone(&any_key);
                } else {
                    u.first_key = key(&u.first_key);
                }
            }
            usage.any.first_key = any_key;
            if usage.first_term == u32::MAX {
                return Err(Error::Internal("diffusion: a channel's first message used none of its terms".into()));
            }
        }
    }
    let sets = match Arc::try_unwrap(matcher) {
        Ok(m) => m.sets,
        Err(m) => m.sets.clone(),
    };
    let Adopters { used, daily } = all;
    let span = channels.days.unwrap_or((0, 0));
    for (terms, (used, daily)) in sets.into_iter().zip(used.into_iter().zip(daily)) {
        f(assemble(terms, selection, &channels, used, &daily, span))?;
    }
    Ok(())
}

/// One term set's result from the merged scan: `used` and `daily` are the set's, `channels` every set's.
fn assemble(
    terms: Terms,
    selection: &Selection,
    channels: &Channels,
    used: HashMap<u32, Usage, BuildHasherDefault<KeyHasher>>,
    daily: &HashMap<(u32, i64), u64, FixedState>,
    (first_day, last_day): (i64, i64),
) -> Diffusion {
    let unused = Usage::default();
    let usage = |c: usize| used.get(&(c as u32)).unwrap_or(&unused);
    // Adopters by first use, then the others by size.
    let order_key = |c: usize| {
        let u = usage(c);
        let first = if u.any.uses > 0 { (0, u.any.first_ts, &*u.any.first_key) } else { (1, 0, "") };
        (first, std::cmp::Reverse(channels.messages(c)), channels.platform(c), channels.id(c))
    };
    let mut order: Vec<usize> = (0..channels.len()).collect();
    order.sort_unstable_by(|&a, &b| order_key(a).cmp(&order_key(b)));
    // (the channel's place in `channels`, its use of the set), in the order of the result's rows.
    let chans: Vec<(usize, &Usage)> = order.into_iter().map(|c| (c, usage(c))).collect();
    let messages = chans.iter().map(|&(c, _)| channels.messages(c)).sum();
    let mut term_adoption = Vec::new();
    for (ci, (_, c)) in chans.iter().enumerate() {
        let mut ts: Vec<&(u32, Use)> = c.terms.0.iter().collect();
        ts.sort_by_key(|(t, _)| *t);
        for (term, u) in ts {
            let term = *term;
            term_adoption.push(TermAdoption {
                term: term as usize,
                channel: ci,
                first_use: u.first_ts,
                first_key: u.first_key.to_string(),
                uses: u.uses,
            });
        }
    }
    term_adoption.sort_by_key(|a| (a.term, a.first_use, a.channel));

    // Curves and summaries: `*` (any term, from each channel's `any`) and then each term.
    let mut curve = Vec::new();
    let mut summary = Vec::new();
    // (label, code in `daily`, first uses as (time, key, channel)).
    type Series<'a> = (String, u32, Vec<(i64, &'a str, usize)>);
    let series: Vec<Series> = std::iter::once({
        let firsts = chans
            .iter()
            .enumerate()
            .filter(|(_, (_, c))| c.any.uses > 0)
            .map(|(i, (_, c))| (c.any.first_ts, &*c.any.first_key, i));
        ("*".to_owned(), u32::MAX, firsts.collect())
    })
    .chain(terms.terms.iter().enumerate().map(|(t, term)| {
        let firsts =
            term_adoption.iter().filter(|a| a.term == t).map(|a| (a.first_use, a.first_key.as_str(), a.channel));
        (term.clone(), t as u32, firsts.collect())
    }))
    .collect();
    for (label, code, mut firsts) in series {
        firsts.sort();
        let mut new_by_day: HashMap<i64, u64> = HashMap::new();
        for &(ts, _, _) in &firsts {
            *new_by_day.entry(ts.div_euclid(DAY_US)).or_default() += 1;
        }
        let mut cumulative = 0;
        let mut uses_total = 0;
        for day in first_day..=last_day {
            let new = new_by_day.get(&day).copied().unwrap_or(0);
            cumulative += new;
            let uses = daily.get(&(code, day)).copied().unwrap_or(0);
            uses_total += uses;
            curve.push(CurvePoint { term: label.clone(), day, channels: cumulative, new_channels: new, uses });
        }
        let first = firsts.first();
        let sources: Vec<String> = firsts
            .iter()
            .take_while(|f| Some(f.0) == first.map(|x| x.0))
            .map(|&(_, _, c)| {
                let c = chans[c].0;
                let name = channels.name(c);
                if name.is_empty() { channels.id(c) } else { name }.to_owned()
            })
            .collect();
        let days_to_half = first.map(|f| {
            let half = firsts.len().div_ceil(2);
            (firsts[half - 1].0 - f.0) as f64 / DAY_US as f64
        });
        summary.push(TermSummary {
            term: label,
            channels: firsts.len() as u64,
            uses: uses_total,
            first_use: first.map(|f| rfc3339(f.0)),
            sources,
            source_key: first.map(|f| f.1.to_owned()),
            days_to_half: days_to_half.map(|d| (d * 100.0).round() / 100.0),
        });
    }
    let channels: Vec<Adoption> = chans
        .into_iter()
        .map(|(ch, c)| {
            let used = c.any.uses > 0;
            Adoption {
                first_use: used.then_some(c.any.first_ts),
                first_key: used.then(|| c.any.first_key.to_string()),
                first_term: used.then(|| terms.terms[c.first_term as usize].clone()),
                uses: c.any.uses,
                messages: channels.messages(ch),
                platform: channels.platform(ch).to_owned(),
                channel_id: channels.id(ch).to_owned(),
                channel_name: channels.name(ch).to_owned(),
            }
        })
        .collect();
    Diffusion {
        terms: terms.terms,
        selection: selection.to_string(),
        channel_count: channels.len() as u64,
        adopters: channels.iter().filter(|c| c.uses > 0).count() as u64,
        channels,
        term_adoption,
        curve,
        summary,
        messages,
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

impl Diffusion {
    /// The tables: `adoption` (one row per channel), `term_adoption` (per term and channel that used it),
    /// `curve` (per term and day).
    pub fn tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Rows;
        let mut adoption = Rows::new("adoption", adoption_schema());
        let mut term_adoption = Rows::new("term_adoption", term_adoption_schema());
        let mut curve = Rows::new("curve", curve_schema());
        self.rows(&mut adoption, &mut term_adoption, &mut curve)?;
        Ok(vec![adoption.finish()?, term_adoption.finish()?, curve.finish()?])
    }

    /// An error unless the rows per channel are here (not dropped: [`Diffusion::drop_rows`]).
    fn check_rows(&self) -> Result<()> {
        if self.channels.len() as u64 != self.channel_count {
            return Err(Error::Internal("diffusion tables asked for after their rows were dropped".into()));
        }
        Ok(())
    }

    /// The rows of the three tables ([`Diffusion::tables`]), each into its sink.
    fn rows(
        &self,
        adoption: &mut impl crate::RowSink,
        term_adoption: &mut impl crate::RowSink,
        curve: &mut impl crate::RowSink,
    ) -> Result<()> {
        use crate::Cell;
        let d = self;
        d.check_rows()?;
        let total_channels = d.channels.len().max(1) as f64;
        for a in &d.channels {
            let share = if a.messages == 0 { 0.0 } else { a.uses as f64 / a.messages as f64 };
            adoption.row([
                Cell::from(&a.channel_id),
                Cell::from(&a.channel_name),
                a.first_use.map_or(Cell::Null, Cell::Time),
                a.uses.into(),
                a.messages.into(),
                share.into(),
                Cell::from(&a.platform),
                a.first_key.as_ref().into(),
                a.first_term.as_ref().into(),
            ])?;
        }
        for a in &d.term_adoption {
            let c = &d.channels[a.channel];
            term_adoption.row([
                Cell::from(&d.terms[a.term]),
                Cell::from(&c.channel_id),
                Cell::from(&c.channel_name),
                Cell::from(&c.platform),
                Cell::Time(a.first_use),
                Cell::from(&a.first_key),
                a.uses.into(),
            ])?;
        }
        for p in &d.curve {
            curve.row([
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

/// Write the tables of `d` ([`Diffusion::tables`]) as `format` and `summary.json` into `out`, each table as
/// its rows are made (the rows per channel are millions in a large corpus: they are not copied into a table
/// first).
pub fn write_outputs(
    d: &Diffusion,
    out: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    d.check_rows()?;
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
    let mut adoption = crate::TableWriter::create(out, "adoption", adoption_schema(), format)?;
    let mut term_adoption = crate::TableWriter::create(out, "term_adoption", term_adoption_schema(), format)?;
    let mut curve = crate::TableWriter::create(out, "curve", curve_schema(), format)?;
    d.rows(&mut adoption, &mut term_adoption, &mut curve)?;
    let written = vec![adoption.finish()?, term_adoption.finish()?, curve.finish()?];
    crate::table::write_summary(out, written, d.summary(), extra)
}
