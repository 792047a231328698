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

use super::per_partition_by;
use crate::minhash::KeyHasher;
use crate::select::Selection;
use arrow::array::Int64Array;

use crate::table::{Strs, i64s, strings, strings_in_place};
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
    first_key: Arc<str>,
    uses: u64,
}

impl Default for Use {
    fn default() -> Use {
        Use { first_ts: 0, first_key: Arc::from(""), uses: 0 }
    }
}

impl Use {
    /// One more message using it, at `ts` with `key`; `shared` holds `key` once it is kept by some use.
    fn add(&mut self, ts: i64, key: &str, shared: &mut Option<Arc<str>>) {
        if self.uses == 0 || (ts, key) < (self.first_ts, &*self.first_key) {
            self.first_ts = ts;
            self.first_key = Arc::clone(shared.get_or_insert_with(|| Arc::from(key)));
        }
        self.uses += 1;
    }

    fn merge(&mut self, other: Use) {
        if other.uses == 0 {
            return;
        }
        if self.uses == 0 || (other.first_ts, &*other.first_key) < (self.first_ts, &*self.first_key) {
            self.first_ts = other.first_ts;
            self.first_key = other.first_key;
        }
        self.uses += other.uses;
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
}

impl Channels {
    /// Every channel of `diffusion_selected`: one aggregate over the selection (partial and final, spilling
    /// beyond the session's memory pool) instead of a table of channels in each partition's scan. The name is
    /// the one on the channel's latest named message (accounts rename; the latest name is the one a reader
    /// knows), the greatest name where two share the time.
    async fn of_selection(ctx: &SessionContext) -> Result<Channels> {
        let sql = "SELECT platform, channel_id, count(*) AS messages, \
                   last_value(channel_name ORDER BY ts, channel_name) FILTER (WHERE channel_name IS NOT NULL) \
                   AS channel_name FROM diffusion_selected GROUP BY platform, channel_id";
        crate::table::explain(ctx, sql).await?;
        let df = ctx.sql(sql).await?;
        let schema = df.schema().inner().clone();
        let batch = arrow::compute::concat_batches(&schema, &df.collect().await?)?;
        Ok(Channels {
            platform: strings_in_place(&batch, "platform")?,
            id: strings_in_place(&batch, "channel_id")?,
            name: strings_in_place(&batch, "channel_name")?,
            messages: i64s(&batch, "messages")?,
        })
    }

    fn len(&self) -> usize {
        self.messages.len()
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

impl Usage {
    fn merge(&mut self, other: Usage) {
        if other.any.uses > 0
            && (self.any.uses == 0
                || (other.any.first_ts, &*other.any.first_key) < (self.any.first_ts, &*self.any.first_key))
        {
            self.first_term = other.first_term;
        }
        self.any.merge(other.any);
        for (t, u) in other.terms.0 {
            self.terms.entry(t).merge(u);
        }
    }
}

/// What a partition's scan counts: only the channels that used a term of some set (the adopters), each held
/// once whatever the number of term sets.
#[derive(Default)]
struct Partial {
    /// `platform:channel_id` of an adopter → its place.
    index: HashMap<String, u32, FixedState>,
    /// Per term set: the adopters that used its terms (by place).
    used: Vec<HashMap<u32, Usage, BuildHasherDefault<KeyHasher>>>,
    /// Per term set: (term or `u32::MAX` for any, day) → messages using it.
    daily: Vec<HashMap<(u32, i64), u64, FixedState>>,
    first_day: Option<i64>,
    last_day: Option<i64>,
}

impl Partial {
    fn new(sets: usize) -> Partial {
        Partial { used: vec![HashMap::default(); sets], daily: vec![HashMap::default(); sets], ..Partial::default() }
    }
}

/// `platform:channel_id`, the key a channel is known by in the scan.
fn channel_key(out: &mut String, platform: &str, id: &str) {
    out.clear();
    out.push_str(platform);
    out.push(':');
    out.push_str(id);
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
    let sql = "SELECT key, platform, channel_id, CAST(ts AS BIGINT) AS ts, text_norm FROM diffusion_selected";
    let n = sets.len();
    let shared = std::sync::Arc::new(Matcher::new(sets)?);
    let matcher = std::sync::Arc::clone(&shared);
    // By channel: each adopter is counted in one partition only (dealt out batch by batch, most large channels'
    // uses were held once per partition, then merged into a third copy).
    let parts = per_partition_by(
        ctx,
        sql,
        &["platform", "channel_id"],
        move || Partial::new(n),
        move |part, batch| {
            let key = strings(batch, "key")?;
            let platform = strings(batch, "platform")?;
            let id = strings(batch, "channel_id")?;
            let ts = i64s(batch, "ts")?;
            let text = strings(batch, "text_norm")?;
            let mut ch_key = String::new();
            let mut found = Vec::new();
            for i in 0..batch.num_rows() {
                let (ts, key) = (ts.value(i), key.value(i));
                let day = ts.div_euclid(DAY_US);
                part.first_day = Some(part.first_day.map_or(day, |d| d.min(day)));
                part.last_day = Some(part.last_day.map_or(day, |d| d.max(day)));
                if !text.is_valid(i) {
                    continue;
                }
                matcher.matches(text.value(i), &mut found);
                if found.iter().all(Vec::is_empty) {
                    continue;
                }
                // The message's key, made shared once a use keeps it.
                let mut kept_key = None;
                channel_key(&mut ch_key, platform.value(i), id.value(i));
                let c = match part.index.get(&ch_key) {
                    Some(&c) => c,
                    None => {
                        let c = part.index.len() as u32;
                        part.index.insert(ch_key.clone(), c);
                        c
                    }
                };
                for ((used, daily), found) in part.used.iter_mut().zip(&mut part.daily).zip(&found) {
                    if found.is_empty() {
                        continue;
                    }
                    let usage = used.entry(c).or_default();
                    if usage.any.uses == 0 || (ts, key) < (usage.any.first_ts, &*usage.any.first_key) {
                        usage.first_term = found[0];
                    }
                    usage.any.add(ts, key, &mut kept_key);
                    *daily.entry((u32::MAX, day)).or_default() += 1;
                    for &term in found.iter() {
                        usage.terms.entry(term).add(ts, key, &mut kept_key);
                        *daily.entry((term, day)).or_default() += 1;
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    let sets = match std::sync::Arc::try_unwrap(shared) {
        Ok(m) => m.sets,
        Err(m) => m.sets.clone(),
    };

    // Merge the partitions, then give each channel of the selection its adopter's place, if it is one.
    let mut all = Partial::new(n);
    for part in parts {
        merge(&mut all, part);
    }
    let Partial { index, used, daily, first_day, last_day } = all;
    let mut adopter = vec![u32::MAX; channels.len()];
    let mut ch_key = String::new();
    let mut placed = 0;
    for (c, place) in adopter.iter_mut().enumerate() {
        channel_key(&mut ch_key, channels.platform(c), channels.id(c));
        if let Some(&a) = index.get(&ch_key) {
            *place = a;
            placed += 1;
        }
    }
    if placed != index.len() {
        return Err(Error::Internal(format!(
            "diffusion: {} channels used a term, {placed} of them among the selection's channels",
            index.len()
        )));
    }
    drop(index);
    let span = (first_day.unwrap_or(0), last_day.unwrap_or(0));
    for (terms, (used, daily)) in sets.into_iter().zip(used.into_iter().zip(daily)) {
        f(assemble(terms, selection, &channels, &adopter, used, &daily, span))?;
    }
    Ok(())
}

/// Add one partition's counts to `all`.
fn merge(all: &mut Partial, part: Partial) {
    let Partial { index, used, daily, first_day, last_day } = part;
    // The partition's places of adopters → their places in `all`.
    let mut place = vec![0u32; index.len()];
    for (k, c) in index {
        let next = all.index.len() as u32;
        place[c as usize] = *all.index.entry(k).or_insert(next);
    }
    for (all_used, used) in all.used.iter_mut().zip(used) {
        for (c, u) in used {
            all_used.entry(place[c as usize]).or_default().merge(u);
        }
    }
    for (all_daily, daily) in all.daily.iter_mut().zip(daily) {
        for (k, n) in daily {
            *all_daily.entry(k).or_default() += n;
        }
    }
    all.first_day = match (all.first_day, first_day) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    all.last_day = match (all.last_day, last_day) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

/// One term set's result from the merged scan: `used` and `daily` are the set's, `channels` every set's.
fn assemble(
    terms: Terms,
    selection: &Selection,
    channels: &Channels,
    adopter: &[u32],
    used: HashMap<u32, Usage, BuildHasherDefault<KeyHasher>>,
    daily: &HashMap<(u32, i64), u64, FixedState>,
    (first_day, last_day): (i64, i64),
) -> Diffusion {
    let unused = Usage::default();
    let usage = |c: usize| used.get(&adopter[c]).unwrap_or(&unused);
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
