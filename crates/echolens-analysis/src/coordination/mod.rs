//! Coordination networks: accounts that act on the same key (text, link, hashtag, repost, reply target, or a
//! near-identical text) within a sliding window of each other, again and again.
//!
//! The work is a sequence of DataFusion plans over `messages`:
//!
//! 1. **Actions** per kind: `(kind, key_h, label, account, ts, msg)`, where `key_h = key_hash(key, kind)`, an
//!    account is `platform:author_id` and `msg` is the hash of the message's key. Texts shorter than
//!    `min_tokens` words, reposts and forwards are not `text` actions (reposts are `repost` actions); messages
//!    without an author are left out and counted.
//! 2. **Shared keys**: keys acted on by at least two accounts (a GROUP BY on hashes). Keys acted on by more than
//!    `max_key_accounts` accounts are left out and counted.
//! 3. **Window pairs**: a self-join on `(kind, key_h, time bucket)` with buckets as wide as the window, each action
//!    also probing the next bucket, so every pair of actions at most `window` apart is found exactly once — a
//!    sliding window, not fixed bins — without comparing actions further apart.
//! 4. **Edges**: per account pair and kind, weight = distinct keys shared within the window (with
//!    [`Params::episodes`], a key once per period of the horizon in which the pair acted on it), first and last
//!    time, and the earliest message pair per key as evidence. The plans carry message hashes, not keys: the
//!    evidence of the edges kept is resolved to message keys once, at the end (one join, [`message_keys`]).
//!
//! `similar` (near-identical texts) cannot be an equi-join: a kernel reads the texts in time order, keeps the
//! window's messages in a MinHash LSH index and verifies every candidate's Jaccard similarity exactly
//! ([`similar`]). Clusters come from Leiden on the combined graph ([`cluster`]).

mod cluster;
mod edges;
mod folded;
mod output;
pub(crate) mod similar;
mod tight;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::table::{collect, i64s, strings};
use crate::{Error, Result};
use folded::{Core, Folding};

pub use cluster::{Cluster, Network};
pub use edges::{Edges, EvidenceKeys, Iter as EdgeIter};
pub use output::account_leads;
pub use output::{ClusterSummary, cluster_summaries, cluster_timings, write_outputs, write_outputs_with_summaries};
pub use similar::SimilarParams;

/// What two accounts do together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The same normalised text.
    Text,
    /// The same normalised URL.
    Link,
    /// The same hashtag.
    Hashtag,
    /// The same reposted or forwarded original.
    Repost,
    /// The same reply target.
    Reply,
    /// Near-identical text (Jaccard of word shingles at or above the threshold).
    Similar,
    /// The same registrable domain of a link (`news.example.co.uk` → `example.co.uk`); shorteners are no key.
    Domain,
    /// The same quoted original (an X quote tweet: a repost with words of one's own).
    Quote,
}

impl Kind {
    /// Every kind, in output order.
    pub const ALL: [Kind; 8] =
        [Kind::Text, Kind::Link, Kind::Hashtag, Kind::Repost, Kind::Reply, Kind::Similar, Kind::Domain, Kind::Quote];

    /// The kinds a run computes unless told otherwise: `domain` is asked for (a domain shared within a minute
    /// is weaker evidence than the link itself, and popular outlets are shared by everyone).
    pub const DEFAULT: [Kind; 7] =
        [Kind::Text, Kind::Link, Kind::Hashtag, Kind::Repost, Kind::Reply, Kind::Similar, Kind::Quote];

    /// The kind's name in outputs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Link => "link",
            Kind::Hashtag => "hashtag",
            Kind::Repost => "repost",
            Kind::Reply => "reply",
            Kind::Similar => "similar",
            Kind::Domain => "domain",
            Kind::Quote => "quote",
        }
    }

    /// The seed of the kind's key hash: keys of different kinds never share a hash, so one integer column is
    /// the whole group and join key.
    fn seed(self) -> i64 {
        self as i64 + 1
    }

    /// The kind whose hash seed is `seed` (the plans' `kid` column).
    fn from_seed(seed: i64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.seed() == seed)
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The parameters of a coordination run; all of them are written to `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// Kinds to compute.
    pub kinds: Vec<Kind>,
    /// Two actions are linked when at most this many seconds apart.
    pub window_s: u64,
    /// Take the window from the data ([`window`]) instead of `window_s` (which is then set to it).
    pub window_auto: bool,
    /// Edges with fewer distinct shared keys are dropped.
    pub min_weight: u64,
    /// Texts with fewer words are not `text` or `similar` actions.
    pub min_tokens: usize,
    /// Keys acted on by more accounts are left out (viral links, greetings).
    pub max_key_accounts: u64,
    /// A key acted on by more accounts than this is crowd-sized: it counts `crowd_size / accounts` of a key
    /// toward an edge's specificity, which `min_weight` applies to (0 = every key counts 1).
    pub crowd_size: u64,
    /// How far around the window a key's actions are compared, in windows (0 = not at all): a key counts toward
    /// an edge only the share of its pairs of actions within `horizon` windows of each other that are also
    /// within the window (its tightness, see [`tight`]). A crowd trickling in over minutes counts little, a
    /// campaign acting within seconds counts whole.
    pub horizon: u64,
    /// Count a key once per episode rather than once: once per period of `horizon` windows in which the pair
    /// acted on it together (a campaign pushing the same link wave after wave, days apart, gives new evidence
    /// each time; a burst gives one). Without a horizon, a key counts once.
    pub episodes: bool,
    /// Apply `min_weight` to an account pair's specificity over every kind together (`text` and `similar`, the
    /// same evidence twice, count as the larger of the two) instead of to each kind's edge: the edges of every
    /// kind of a pair that passes are kept.
    pub combine_kinds: bool,
    /// Evidence pairs of message keys kept per edge.
    pub evidence: usize,
    /// Jaccard threshold of `similar`.
    pub similarity: f64,
    /// Words per shingle for `similar` (1 = word sets, as coordination-network-toolkit compares).
    pub shingle: usize,
    /// Null-model runs (0 = off): each shuffles every account's timestamps among its own actions.
    pub null_runs: usize,
    /// Seed of the null model and of Leiden.
    pub seed: u64,
    /// Other windows to report edges and clusters for (seconds).
    pub sweep: Vec<u64>,
    /// Whether the sweep includes `similar` (its kernel is the costliest pass: at 10M messages most of a sweep's
    /// time).
    pub sweep_similar: bool,
    /// What Leiden optimises.
    pub quality: Quality,
    /// Leiden resolution: for `cpm`, the weight per account pair a cluster must beat on average; for
    /// `modularity`, the usual γ.
    pub resolution: f64,
}

/// The quality function of community detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Constant Potts Model: a cluster is a group whose internal weight per pair beats the resolution. No
    /// resolution limit, so many small coordinated groups stay apart however large the network.
    Cpm,
    /// Newman-Girvan modularity: merges groups smaller than about √(2m) edges (the resolution limit).
    Modularity,
}

impl Quality {
    /// The quality's name on the command line.
    pub fn from_name(name: &str) -> Option<Quality> {
        match name {
            "cpm" => Some(Quality::Cpm),
            "modularity" => Some(Quality::Modularity),
            _ => None,
        }
    }
}

impl Default for Params {
    fn default() -> Params {
        Params {
            kinds: Kind::DEFAULT.to_vec(),
            window_s: 60,
            window_auto: false,
            min_weight: 2,
            min_tokens: 4,
            max_key_accounts: 1000,
            crowd_size: 50,
            horizon: 10,
            episodes: true,
            combine_kinds: false,
            evidence: 5,
            similarity: 0.8,
            shingle: 1,
            null_runs: 0,
            seed: 42,
            sweep: Vec::new(),
            sweep_similar: false,
            quality: Quality::Cpm,
            resolution: 1.0,
        }
    }
}

impl Params {
    fn check(&self) -> Result<()> {
        if self.kinds.is_empty() {
            return Err(Error::Param("no kinds to compute".into()));
        }
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            return Err(Error::Param(format!("--similarity must be in (0, 1], not {}", self.similarity)));
        }
        if self.shingle == 0 {
            return Err(Error::Param("--shingle must be at least 1".into()));
        }
        if self.min_weight == 0 {
            return Err(Error::Param("--min-weight must be at least 1".into()));
        }
        Ok(())
    }
}

/// An account (`platform:id`) in an edge: shared by all of its edges.
pub type AccountName = Arc<str>;

/// A message key in an edge's evidence: shared by every edge that quotes the message (one message of a clique's
/// account is evidence for each of its edges), so a million edges do not hold ten million copies of keys.
pub type MessageKey = Arc<str>;

/// An edge of one kind between two accounts (`a < b`).
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The kind.
    pub kind: Kind,
    /// The smaller account id (as found: pseudonyms keep each pair's order, not the comparison).
    pub a: AccountName,
    /// The larger account id (as found).
    pub b: AccountName,
    /// Distinct keys shared within the window (`similar`: near-identical message pairs, each message once).
    pub weight: u64,
    /// Earliest action of a linked pair (µs).
    pub first_seen: i64,
    /// Latest action of a linked pair (µs).
    pub last_seen: i64,
    /// Up to `evidence` pairs of message keys (a's, b's), earliest first.
    pub evidence: Vec<(MessageKey, MessageKey)>,
    /// The same pairs as hashes of the message keys, while the analysis runs: they are resolved into
    /// `evidence` at its end, and this is then empty.
    pub evidence_hashes: Vec<(i64, i64)>,
    /// Hashes of the shared keys, earliest first.
    pub keys: Vec<i64>,
    /// Empirical p-value under the null model (None when it did not run or does not cover the kind).
    pub p_value: Option<f64>,
    /// The shared keys weighed by how specific each is: 1 for a key of at most `crowd_size` accounts,
    /// `crowd_size / accounts` for a larger one. `min_weight` applies to it. Equal to `weight` when no key is
    /// crowd-sized (and for `similar`).
    pub specificity: f64,
    /// Who came first on each shared key (its earliest linked pair).
    pub lead: Lead,
    /// When the edge was active: each shared key's first and last linked action (µs), overlapping spans
    /// merged, earliest first (the GEXF's spells). Empty for a sweep's edges.
    pub spells: Vec<(i64, i64)>,
}

/// `spells` sorted, with overlapping or touching spans merged.
pub fn merge_spells(mut spells: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spells.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spells.len());
    for (start, end) in spells {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Who of an edge's two accounts acted first, over its shared keys (each key's earliest linked pair; for
/// `similar`, each near-identical pair), and how far apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Lead {
    /// Keys on which `a`'s message came first.
    pub a_first: u64,
    /// Keys on which `b`'s message came first.
    pub b_first: u64,
    /// Keys on which both came in the same microsecond.
    pub ties: u64,
    /// The median time between the two messages, in seconds (None without keys).
    pub median_lag_s: Option<f64>,
    /// The lags as shares of the window, summed (each at most 1), for [`Timing`].
    pub lag_shares: f64,
}

impl Lead {
    /// From the signed differences `a's time − b's time` (µs) of the shared keys, each within `window_us`.
    pub fn of(differences: impl Iterator<Item = i64>, window_us: i64) -> Lead {
        let mut lead = Lead::default();
        let mut lags: Vec<i64> = Vec::new();
        for d in differences {
            match d.cmp(&0) {
                std::cmp::Ordering::Less => lead.a_first += 1,
                std::cmp::Ordering::Greater => lead.b_first += 1,
                std::cmp::Ordering::Equal => lead.ties += 1,
            }
            lags.push(d.saturating_abs());
        }
        lags.sort_unstable();
        lead.median_lag_s = match lags.len() {
            0 => None,
            n if n % 2 == 1 => Some(lags[n / 2] as f64 / 1e6),
            n => Some((lags[n / 2 - 1] as f64 + lags[n / 2] as f64) / 2e6),
        };
        lead.lag_shares = lags.iter().map(|&l| (l as f64 / window_us.max(1) as f64).min(1.0)).sum();
        lead
    }

    /// The same counts seen from the other account.
    pub fn swapped(self) -> Lead {
        Lead { a_first: self.b_first, b_first: self.a_first, ..self }
    }

    /// The test of its lags against chance timing.
    pub fn timing(&self) -> Timing {
        Timing { lags: self.a_first + self.b_first + self.ties, lag_shares: self.lag_shares }
    }
}

/// Are an edge's (or a cluster's) lags shorter than chance gives? Two accounts that post independently, each at
/// a rate steady over a window, that happen to act on a key within the window of each other are as likely to be
/// any lag apart within it: the lag is uniform over the window. Busy accounts share many keys that way (two news
/// channels posting every few seconds, linking the same stories); a campaign acts within seconds of itself. The
/// test: the sum of the lags as shares of the window is at most what `lags` uniform lags give with probability
/// [`Timing::p`] (the Irwin–Hall distribution; exact up to 12 lags, normal beyond).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Lags tested.
    pub lags: u64,
    /// Their sum as shares of the window.
    pub lag_shares: f64,
}

/// A cluster whose lags are no shorter than chance at this level is marked: its accounts may just be busy at the
/// same times.
pub const CHANCE_TIMING_P: f64 = 0.05;

/// Fewer lags cannot show timing like chance: two lags of 10 and 20 s of a 60 s window are as likely by chance
/// (p 0.125) as a campaign's acting within half a minute. They can still show timing closer than chance (two
/// lags of a second: p 0.0003).
pub const MIN_TIMING_LAGS: u64 = 10;

impl Timing {
    /// Pools another edge's lags with these.
    pub fn add(&mut self, other: Timing) {
        self.lags += other.lags;
        self.lag_shares += other.lag_shares;
    }

    /// Whether there are enough lags to tell ([`MIN_TIMING_LAGS`]) and they are no shorter than chance gives
    /// ([`CHANCE_TIMING_P`]).
    pub fn like_chance(&self) -> bool {
        timing_like_chance(self.p(), self.lags)
    }

    /// The probability that independent posting gives lags summing to this little or less (None without lags).
    pub fn p(&self) -> Option<f64> {
        let (n, s) = (self.lags, self.lag_shares);
        if n == 0 {
            return None;
        }
        let p = if n <= 12 {
            // P(S ≤ s) = Σ_{j ≤ s} (−1)^j C(n, j) (s − j)^n / n!
            let n = n as i32;
            let mut sum = 0.0;
            let (mut binom, mut factorial) = (1.0, 1.0);
            for k in 1..=n {
                factorial *= f64::from(k);
            }
            for j in 0..=n.min(s.floor() as i32) {
                let term = binom * (s - f64::from(j)).powi(n);
                sum += if j % 2 == 0 { term } else { -term };
                binom = binom * f64::from(n - j) / f64::from(j + 1);
            }
            sum / factorial
        } else {
            let z = (s - n as f64 / 2.0) / (n as f64 / 12.0).sqrt();
            0.5 * erfc(-z / std::f64::consts::SQRT_2)
        };
        Some(p.clamp(0.0, 1.0))
    }
}

/// The rule of [`Timing::like_chance`] on a test's p and its lags, as a cluster's summary gives them.
pub fn timing_like_chance(p: Option<f64>, lags: u64) -> bool {
    lags >= MIN_TIMING_LAGS && p.is_some_and(|p| p >= CHANCE_TIMING_P)
}

/// The complementary error function (Abramowitz and Stegun 7.1.26: absolute error under 1.5e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let tail = poly * (-z * z).exp();
    if x >= 0.0 { tail } else { 2.0 - tail }
}

/// Counts of what the rules left out, per kind and overall.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeftOut {
    /// Messages without an author id (no account to link).
    pub messages_without_author: u64,
    /// Original messages with fewer than `min_tokens` words (not `text` or `similar` actions).
    pub short_texts: u64,
    /// Keys acted on by more than `max_key_accounts` accounts, per kind.
    pub over_max_keys: BTreeMap<String, u64>,
    /// The actions on those keys, per kind.
    pub over_max_actions: BTreeMap<String, u64>,
    /// The most widely shared of those keys: kind, label, accounts.
    pub top_over_max: Vec<(String, String, u64)>,
    /// Account pairs linked within the window but below `min_weight`, per kind.
    pub pairs_below_min_weight: BTreeMap<String, u64>,
    /// Keys acted on by more than `crowd_size` (and at most `max_key_accounts`) accounts, per kind: they count
    /// less than one key toward an edge.
    pub crowd_sized_keys: BTreeMap<String, u64>,
    /// Keys whose actions within the horizon were not all within the window, per kind: they count their
    /// tightness of a key toward an edge.
    pub loose_keys: BTreeMap<String, u64>,
    /// The specificity of every account pair linked within the window at least once, per kind, edges or not:
    /// what chance and crowds reach in this corpus, to set a cluster's edges beside.
    pub linked_pairs: BTreeMap<String, Spread>,
}

/// How a quantity spreads over many values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Values.
    pub n: u64,
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (sorted in place); all zero when there are none.
    pub fn of(values: &mut [f32]) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_unstable_by(f32::total_cmp);
        let at = |q: f64| f64::from(values[((values.len() - 1) as f64 * q).round() as usize]);
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        Spread {
            n: values.len() as u64,
            median: round(at(0.5)),
            p90: round(at(0.9)),
            p99: round(at(0.99)),
            max: round(at(1.0)),
        }
    }
}

/// One row of a window sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    /// The window (seconds).
    pub window_s: u64,
    /// The kind, or `all` for the combined graph.
    pub kind: String,
    /// Edges at or above `min_weight`.
    pub edges: u64,
    /// Accounts in those edges.
    pub accounts: u64,
    /// Clusters of the combined graph (on `all` rows).
    pub clusters: u64,
    /// Accounts in the largest cluster (on `all` rows).
    pub largest_cluster: u64,
}

/// The result of a coordination run.
#[derive(Debug, Clone)]
pub struct Coordination {
    /// The parameters used.
    pub params: Params,
    /// Edges per kind, sorted by kind, then accounts (held on disk but for what picks them: see [`Edges`]).
    pub edges: Edges,
    /// The combined network and its clusters.
    pub network: Network,
    /// Labels (text, URL, tag, ...) of shared keys that appear in edges.
    pub labels: HashMap<(Kind, i64), String>,
    /// What the rules left out.
    pub left_out: LeftOut,
    /// Window sweep rows (empty without `sweep`).
    pub sweep: Vec<SweepRow>,
    /// Message counts per account and channel for accounts in the network: account → (channel → messages).
    pub channels: HashMap<String, Counts>,
    /// The window the data suggest ([`window`]), to set beside the one used.
    pub window_estimate: window::WindowEstimate,
    /// Messages per registrable domain of their links, for accounts in the network: account → (domain → n).
    pub domains: HashMap<String, Counts>,
    /// The domains each channel links to most (up to [`CHANNEL_DOMAINS`] a channel), channels in name order.
    pub channel_domains: Vec<ChannelDomain>,
    /// What the exports say about the accounts in the network (the store's `accounts` table), by account.
    pub accounts: HashMap<String, AccountFacts>,
}

/// Messages per name (a channel, a domain), in name order: a list, not a map (an account has a few; a tree per
/// account was 500 bytes of the coordination result for each of its 146k accounts at 53M messages).
pub type Counts = Vec<(String, u64)>;

/// What the exports say about one account, over every file that described it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountFacts {
    /// When it was created (µs), the earliest date stated.
    pub created: Option<i64>,
    /// Followers at the latest observation.
    pub followers: Option<i64>,
    /// The apps it posted with, most used first.
    pub clients: Vec<String>,
}

/// Domains kept per channel in [`Coordination::channel_domains`].
pub const CHANNEL_DOMAINS: usize = 20;

/// A domain a channel's messages link to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelDomain {
    /// `platform:name` (or `platform:id` without a name).
    pub channel: String,
    /// The registrable domain.
    pub domain: String,
    /// Messages of the channel linking to it.
    pub messages: u64,
    /// Whether the domain is a URL shortener (its links say nothing of where they lead).
    pub shortener: bool,
}

use crate::sql::{ACCOUNT, CHANNEL, ORIGINAL};

/// The actions of `kind` as SQL: (kind, key_h, label, account, ts, msg), `msg` the hash of the message key.
/// Without `short_filter`, `text` actions include short texts (for a pass that joins with keys already filtered:
/// a short text's key is never among them).
fn actions_sql(kind: Kind, p: &Params, short_filter: bool) -> Option<String> {
    let cols = format!("{ACCOUNT} AS account, CAST(ts AS BIGINT) AS ts, hash64(key) AS msg");
    // Inside subqueries (unnest rewrites its projection) the columns take other names.
    let inner = format!("{ACCOUNT} AS acc, CAST(ts AS BIGINT) AS t, hash64(key) AS m");
    let outer = "acc AS account, t AS ts, m AS msg";
    let seed = kind.seed();
    let sql = match kind {
        Kind::Text => {
            let short =
                if short_filter { format!("AND has_tokens(text_norm, {})", p.min_tokens) } else { String::new() };
            format!(
                "SELECT 'text' AS kind, {seed} AS kid, key_hash(text_norm, {seed}) AS key_h, text_norm AS label, {cols} \
                 FROM messages WHERE {ORIGINAL} {short}"
            )
        }
        Kind::Link | Kind::Hashtag => {
            let (name, list) = if kind == Kind::Link { ("link", "urls") } else { ("hashtag", "hashtags") };
            format!(
                "SELECT '{name}' AS kind, {seed} AS kid, key_hash(k, {seed}) AS key_h, k AS label, {outer} FROM \
                 (SELECT unnest({list}) AS k, {inner} FROM messages WHERE {ORIGINAL} AND cardinality({list}) > 0)"
            )
        }
        Kind::Domain => format!(
            "SELECT 'domain' AS kind, {seed} AS kid, key_hash(d, {seed}) AS key_h, d AS label, {outer} FROM \
             (SELECT registrable_domain(k) AS d, acc, t, m FROM \
               (SELECT unnest(urls) AS k, {inner} FROM messages WHERE {ORIGINAL} AND cardinality(urls) > 0)) \
             WHERE d IS NOT NULL AND NOT shortener(d)"
        ),
        // X reposts name the original; Telegram forwards name only the source chat, so the original is the
        // source chat and the text together.
        Kind::Repost => format!(
            "SELECT 'repost' AS kind, {seed} AS kid, key_hash(k, {seed}) AS key_h, k AS label, {outer} FROM \
             (SELECT CASE WHEN repost_of IS NOT NULL THEN concat(platform, ':', repost_of) \
                     ELSE concat(platform, ':forward:', forwarded_from, ':', text_norm) END AS k, {inner} \
              FROM messages WHERE author_id IS NOT NULL AND (repost_of IS NOT NULL OR forwarded_from IS NOT NULL))"
        ),
        Kind::Quote => format!(
            "SELECT 'quote' AS kind, {seed} AS kid, key_hash(k, {seed}) AS key_h, k AS label, {outer} FROM \
             (SELECT concat(platform, ':', quote_of) AS k, {inner} \
              FROM messages WHERE author_id IS NOT NULL AND quote_of IS NOT NULL)"
        ),
        // A Telegram reply target is a message id within the chat, or `chat:message` in another chat (a comment
        // on a channel's post); an X reply target is a global tweet id.
        Kind::Reply => format!(
            "SELECT 'reply' AS kind, {seed} AS kid, key_hash(k, {seed}) AS key_h, k AS label, {outer} FROM \
             (SELECT CASE WHEN platform = 'telegram' AND strpos(reply_to, ':') > 0 THEN concat(platform, ':', reply_to) \
                     WHEN platform = 'telegram' THEN concat(platform, ':', channel_id, ':', reply_to) \
                     ELSE concat(platform, ':', reply_to) END AS k, {inner} \
              FROM messages WHERE author_id IS NOT NULL AND reply_to IS NOT NULL)"
        ),
        Kind::Similar => return None,
    };
    Some(sql)
}

/// The kinds (`kid`) of the actions in `table`, ascending. The window pairs are joined one kind at a time
/// ([`edges_sql`]): a kind's keys never pair with another's, and the hash join's build side (the actions, which
/// cannot spill) is then one kind's, not every kind's (5.7M actions, about 0.37 GB with the join's table, at
/// 53.3M generated messages).
async fn kinds_in(ctx: &SessionContext, table: &str) -> Result<Vec<i64>> {
    let mut kids = Vec::new();
    for batch in collect(ctx, &format!("SELECT DISTINCT kid FROM {table} ORDER BY kid")).await? {
        kids.extend(i64s(&batch, "kid")?.values().iter().copied());
    }
    Ok(kids)
}

/// The window-pair and edge plan over the actions of kind `kid` in the table `table` (kid, key_h, acc, ts, msg:
/// all integers, `acc` the hash of the account). With `evidence`, the edges carry first and last times,
/// evidence and keys; without, only (kid, a, b, weight) for the null model and sweeps. Pairs are ordered by
/// account hash (`a < b`), which [`Accounts::pair`] turns into the order of the account names.
fn edges_sql(
    (table, kid): (&str, i64),
    window_us: i64,
    min_weight: u64,
    evidence: bool,
    episode_gap: Option<i64>,
) -> String {
    let bucket = window_us.max(1);
    // With evidence: every linked pair of actions, sorted so that an edge's rows are together and a key's rows
    // within it start with the earliest pair; `EdgeFold` folds them as the plan streams them. A GROUP BY per key
    // with ordered `first_value`s spilled at 10M messages and took 5.7 s for 3.4M pairs; the sort takes 0.8 s
    // (ordered `array_agg` costs a ScalarValue per row: 1.5 s for 100k pairs). The evidence pair is a's and b's
    // message hashes (`ea`, `eb`). Without: the weights alone, and no message hashes are carried through the join.
    let (ev, tail) = if evidence {
        (
            ", CASE WHEN l.acc < r.acc THEN l.msg ELSE r.msg END AS ea, \
               CASE WHEN l.acc < r.acc THEN r.msg ELSE l.msg END AS eb, \
               CASE WHEN l.acc < r.acc THEN l.ts - r.ts ELSE r.ts - l.ts END AS da"
                .to_owned(),
            " SELECT kid, a, b, key_h, t0, t1, ea, eb, da FROM p ORDER BY kid, a, b, key_h, t0, ea, eb".to_owned(),
        )
    } else if let Some(gap) = episode_gap {
        // A key once per period of `gap` in which the pair acted on it, as `EdgeFold` counts it: one more column
        // in the same GROUP BY (a gap-based episode needed a window function over every pair: over ten minutes
        // at 10M messages, against the GROUP BY's seconds).
        (
            String::new(),
            format!(
                ", k AS (SELECT kid, key_h, a, b FROM p GROUP BY kid, key_h, a, b, t0 / {gap}) \
                 SELECT k.kid, k.a, k.b, count(*) AS weight, sum(coalesce(s.s, 1.0)) AS score \
                 FROM k LEFT JOIN coord_key_weight s ON k.key_h = s.key_h \
                 GROUP BY k.kid, k.a, k.b HAVING count(*) >= {min_weight}"
            ),
        )
    } else {
        (
            String::new(),
            format!(
                ", k AS (SELECT kid, key_h, a, b FROM p GROUP BY kid, key_h, a, b) \
                 SELECT k.kid, k.a, k.b, count(*) AS weight, sum(coalesce(s.s, 1.0)) AS score \
                 FROM k LEFT JOIN coord_key_weight s ON k.key_h = s.key_h \
                 GROUP BY k.kid, k.a, k.b HAVING count(*) >= {min_weight}"
            ),
        )
    };
    let msg = if evidence { ", msg" } else { "" };
    format!(
        "WITH r AS (SELECT kid, key_h, acc, ts{msg}, ts / {bucket} AS bkt FROM {table} WHERE kid = {kid}), \
         l AS (SELECT kid, key_h, acc, ts{msg}, bkt, 0 AS shift FROM r \
               UNION ALL SELECT kid, key_h, acc, ts{msg}, bkt + 1 AS bkt, 1 AS shift FROM r), \
         p AS (SELECT l.kid, l.key_h, \
                 CASE WHEN l.acc < r.acc THEN l.acc ELSE r.acc END AS a, \
                 CASE WHEN l.acc < r.acc THEN r.acc ELSE l.acc END AS b{ev}, \
                 CASE WHEN l.ts < r.ts THEN l.ts ELSE r.ts END AS t0, \
                 CASE WHEN l.ts < r.ts THEN r.ts ELSE l.ts END AS t1 \
               FROM r JOIN l ON l.key_h = r.key_h AND l.bkt = r.bkt \
               WHERE l.acc <> r.acc AND abs(l.ts - r.ts) <= {window_us} \
                 AND (l.shift = 1 OR l.acc < r.acc))\
         {tail}"
    )
}

/// The account names of the equi-key plans' account hashes (`hash64(account)`): the plans join, group and sort
/// on integers, and only the edges they give are named. Two accounts whose 64-bit hashes collide would be taken
/// for one (about one chance in 10^8 with a million accounts).
#[derive(Default)]
struct Accounts {
    names: HashMap<i64, AccountName, std::hash::BuildHasherDefault<crate::minhash::KeyHasher>>,
    /// The file `coord_actions` is read from where it is on disk ([`register_kept`]): kept as long as the
    /// names, which the plans over the actions need too.
    actions_file: Option<Arc<dyn datafusion::execution::SpillFile>>,
}

impl Accounts {
    /// Reads the (acc, account) rows of `sql`.
    async fn read(ctx: &SessionContext, sql: &str) -> Result<Accounts> {
        let mut out = Accounts::default();
        for batch in collect(ctx, sql).await? {
            let acc = i64s(&batch, "acc")?;
            let account = strings(&batch, "account")?;
            out.names.reserve(batch.num_rows());
            for i in 0..batch.num_rows() {
                out.names.insert(acc.value(i), Arc::from(account.value(i)));
            }
        }
        Ok(out)
    }

    fn name(&self, acc: i64) -> Result<&AccountName> {
        self.names.get(&acc).ok_or_else(|| Error::Internal(format!("coordination: no account has the hash {acc}")))
    }

    /// The names of the pair (a, b) in name order, and whether that swaps them.
    fn pair(&self, a: i64, b: i64) -> Result<(&AccountName, &AccountName, bool)> {
        let (x, y) = (self.name(a)?, self.name(b)?);
        Ok(if x <= y { (x, y, false) } else { (y, x, true) })
    }
}

/// Run `sql` and register its result as the in-memory table `name`.
///
/// String columns are copied out of the engine's view arrays first: a view keeps the whole decoded Parquet
/// buffer it points into alive, so a few thousand collected rows could pin (and, once a join concatenates
/// them, copy) most of the corpus's text.
async fn register_batches(ctx: &SessionContext, name: &str, sql: &str) -> Result<u64> {
    let started = std::time::Instant::now();
    crate::table::explain(ctx, sql).await?;
    let (schema, batches) = crate::table::collect_plain(ctx.sql(sql).await?).await?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    if std::env::var_os("ECHOLENS_TIMINGS").is_some() {
        eprintln!("          {name}: {rows} rows in {:.2} s", started.elapsed().as_secs_f64());
    }
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    Ok(rows)
}

/// Run `sql` and register its result as `name`, a table the plans read again: in a local session a Parquet file
/// among its spill files (returned; the table lasts as long as it), on a cluster an in-memory table sent with the
/// plans. The shared keys' candidate actions (every action's label and account: 0.5 GB at 53M generated
/// messages) are read three times while a grouping fills the budget; the sweep and the window join read the
/// actions (40 bytes a row) again and again while their sorts fill it: in memory either sat under them.
async fn register_kept(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
) -> Result<Option<Arc<dyn datafusion::execution::SpillFile>>> {
    if !crate::memory::is_local(ctx) {
        register_batches(ctx, name, sql).await?;
        return Ok(None);
    }
    let started = std::time::Instant::now();
    crate::table::explain(ctx, sql).await?;
    ctx.deregister_table(name)?;
    let file = crate::register_on_disk(ctx.sql(sql).await?, ctx, name).await?;
    if std::env::var_os("ECHOLENS_TIMINGS").is_some() {
        eprintln!("          {name}: on disk in {:.2} s", started.elapsed().as_secs_f64());
    }
    Ok(Some(file))
}

fn kind_of(name: &str) -> Kind {
    Kind::from_name(name).expect("plans only produce known kinds")
}

/// The kind whose seed is `kid`.
fn kind_of_id(kid: i64) -> Kind {
    Kind::from_seed(kid).expect("plans only produce known kinds")
}

/// One shared key of the open edge: its earliest linked pair (time, message hashes as the plan orders the
/// accounts) and its latest time.
#[derive(Clone, Copy)]
struct KeyHit {
    t0: i64,
    ea: i64,
    eb: i64,
    key: i64,
    t1: i64,
    /// a's time − b's time in the earliest pair.
    da: i64,
    /// The period of the episode gap the hit's rows start in (0 without episodes).
    period: i64,
}

/// Folds the rows of the equi-key edge plan (kid, a, b, key_h, t0, t1, ea, eb; sorted by kid, a, b, key_h, then
/// t0, ea, eb) into edges, batch by batch as the plan gives them: the first row of a key is its earliest pair,
/// and the weight is the number of keys. An edge below `min_weight` is counted and dropped as soon as it is
/// complete: at 10M messages they are almost half of the pairs (most of them links), and holding them to the end
/// made the fold the run's peak.
struct EdgeFold<'a> {
    accounts: &'a Accounts,
    /// What a crowd-sized key counts toward an edge (others count 1).
    key_weight: &'a KeyWeights,
    out: Folding,
    /// The open edge's (kid, a, b) as the plan gives them, and its keys so far.
    open: Option<(i64, i64, i64)>,
    hits: Vec<KeyHit>,
    evidence: usize,
    min_weight: u64,
    /// With episodes: the length of the periods a key counts once in (µs).
    episode_gap: Option<i64>,
    /// The window (µs): every lag is within it.
    window_us: i64,
    /// Linked pairs below `min_weight`, per kind.
    below: BTreeMap<String, u64>,
    /// Every linked pair's specificity, per kind (see [`LeftOut::linked_pairs`]).
    specificities: BTreeMap<Kind, Vec<f32>>,
}

impl<'a> EdgeFold<'a> {
    fn new(accounts: &'a Accounts, key_weight: &'a KeyWeights, p: &Params, out: Folding) -> EdgeFold<'a> {
        let window_us = i64::try_from(p.window_s).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
        EdgeFold {
            accounts,
            key_weight,
            out,
            open: None,
            hits: Vec::new(),
            evidence: p.evidence,
            min_weight: p.min_weight,
            episode_gap: episode_gap(p, window_us),
            window_us,
            below: BTreeMap::new(),
            specificities: BTreeMap::new(),
        }
    }

    fn add(&mut self, batch: &arrow::record_batch::RecordBatch) -> Result<()> {
        let kid = i64s(batch, "kid")?;
        let a = i64s(batch, "a")?;
        let b = i64s(batch, "b")?;
        let key = i64s(batch, "key_h")?;
        let t0 = i64s(batch, "t0")?;
        let t1 = i64s(batch, "t1")?;
        let (ea, eb) = (i64s(batch, "ea")?, i64s(batch, "eb")?);
        let da = i64s(batch, "da")?;
        for i in 0..batch.num_rows() {
            let edge = (kid.value(i), a.value(i), b.value(i));
            if self.open != Some(edge) {
                self.close()?;
                self.open = Some(edge);
            }
            // With episodes, a key's rows are one hit per period of the gap (as the weights plan groups them).
            let period = self.episode_gap.map_or(0, |g| t0.value(i) / g);
            match self.hits.last_mut() {
                Some(hit) if hit.key == key.value(i) && hit.period == period => hit.t1 = hit.t1.max(t1.value(i)),
                _ => self.hits.push(KeyHit {
                    t0: t0.value(i),
                    ea: ea.value(i),
                    eb: eb.value(i),
                    key: key.value(i),
                    t1: t1.value(i),
                    da: da.value(i),
                    period,
                }),
            }
        }
        Ok(())
    }

    /// Completes the open edge: dropped (and counted) below `min_weight`, else named, its keys in time order
    /// (ties by message hashes, then key), its evidence from the earliest keys. Its lists are allocated at their
    /// size: a million edges, and mimalloc keeps a block that shrinks by less than half.
    fn close(&mut self) -> Result<()> {
        let Some((kid, a, b)) = self.open.take() else { return Ok(()) };
        let kind = kind_of_id(kid);
        let hits = &mut self.hits;
        let specificity: f64 = hits.iter().map(|h| self.key_weight.get(&h.key).copied().unwrap_or(1.0)).sum();
        self.specificities.entry(kind).or_default().push(specificity as f32);
        if below_min_weight(specificity, self.min_weight) {
            *self.below.entry(kind.name().to_owned()).or_default() += 1;
            hits.clear();
            return Ok(());
        }
        hits.sort_unstable_by_key(|h| (h.t0, h.ea, h.eb, h.key));
        let (name_a, name_b, swapped) = self.accounts.pair(a, b)?;
        let mut evidence_hashes = Vec::with_capacity(hits.len().min(self.evidence));
        evidence_hashes
            .extend(hits.iter().take(self.evidence).map(|h| if swapped { (h.eb, h.ea) } else { (h.ea, h.eb) }));
        let mut keys = Vec::with_capacity(hits.len());
        keys.extend(hits.iter().map(|h| h.key));
        // A key of several episodes is one key (its label, the cluster's top keys).
        if self.episode_gap.is_some() {
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            keys.retain(|k| seen.insert(*k));
        }
        self.out.push(Edge {
            kind,
            a: name_a.clone(),
            b: name_b.clone(),
            weight: hits.len() as u64,
            first_seen: hits[0].t0,
            last_seen: hits.iter().map(|h| h.t1).max().unwrap_or(i64::MIN),
            evidence: Vec::new(),
            evidence_hashes,
            keys,
            p_value: None,
            specificity,
            lead: {
                let lead = Lead::of(hits.iter().map(|h| h.da), self.window_us);
                if swapped { lead.swapped() } else { lead }
            },
            spells: merge_spells(hits.iter().map(|h| (h.t0, h.t1)).collect()),
        })?;
        hits.clear();
        Ok(())
    }

    /// The edges at or above `min_weight`, the count of those below per kind, and every pair's specificity.
    fn finish(mut self) -> Result<Folded> {
        self.close()?;
        Ok((self.out, self.below, self.specificities))
    }
}

/// What folding gives: the edges, the pairs below the minimum per kind, every linked pair's specificity.
type Folded = (Folding, BTreeMap<String, u64>, BTreeMap<Kind, Vec<f32>>);

/// The crowd-sized keys' weights (see [`Params::crowd_size`]); keys not in it count 1.
type KeyWeights = HashMap<i64, f64, std::hash::BuildHasherDefault<crate::minhash::KeyHasher>>;

/// Each edge's weight and specificity, by (kind, a, b), for the edges whose specificity reaches `min_weight`
/// (the others are never looked at, and at a wide window they are most of the pairs: each one named was two
/// strings).
async fn weights(
    ctx: &SessionContext,
    accounts: &Accounts,
    table: &str,
    window_us: i64,
    episode_gap: Option<i64>,
    min_weight: u64,
) -> Result<HashMap<(Kind, AccountName, AccountName), (u64, f64)>> {
    let mut out = HashMap::new();
    weights_each(ctx, accounts, (table, window_us, episode_gap, min_weight), |kind, a, b, weight, score| {
        out.insert((kind, a.clone(), b.clone()), (weight, score));
    })
    .await?;
    Ok(out)
}

/// [`weights`] (its table, window, episode gap and minimum weight), each edge handed to `f` (kind, a, b,
/// weight, specificity) as the plan gives it, none held: the sweep's pairs at a wide window are millions.
async fn weights_each(
    ctx: &SessionContext,
    accounts: &Accounts,
    (table, window_us, episode_gap, min_weight): (&str, i64, Option<i64>, u64),
    mut f: impl FnMut(Kind, &AccountName, &AccountName, u64, f64),
) -> Result<()> {
    for kind in kinds_in(ctx, table).await? {
        // A key counts at most 1 toward the specificity, so the weight is at least the specificity.
        let sql = edges_sql((table, kind), window_us, min_weight.max(1), false, episode_gap);
        let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
        while let Some(batch) = futures::StreamExt::next(&mut stream).await {
            let batch = batch?;
            let kid = i64s(&batch, "kid")?;
            let a = i64s(&batch, "a")?;
            let b = i64s(&batch, "b")?;
            let w = i64s(&batch, "weight")?;
            let score = batch
                .column_by_name("score")
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::Float64Array>())
                .ok_or_else(|| Error::Internal("coordination: the edge plan gave no score".into()))?;
            for i in (0..batch.num_rows()).filter(|&i| !below_min_weight(score.value(i), min_weight)) {
                let (a, b, _) = accounts.pair(a.value(i), b.value(i))?;
                let weight = u64::try_from(w.value(i)).unwrap_or(0);
                f(kind_of_id(kid.value(i)), a, b, weight, score.value(i));
            }
        }
    }
    Ok(())
}

/// The length of the periods a key counts once in at `window_us` (µs): the horizon, with episodes counted.
fn episode_gap(p: &Params, window_us: i64) -> Option<i64> {
    (p.episodes && p.horizon > 0).then(|| horizon_us(p, window_us))
}

/// The horizon of `p` at `window_us` (µs): 0 when tightness is not weighed.
fn horizon_us(p: &Params, window_us: i64) -> i64 {
    window_us.saturating_mul(i64::try_from(p.horizon).unwrap_or(i64::MAX))
}

/// Weighs the keys of `coord_actions` at `window_us` ([`tight::weigh`]), registers the weights below 1 as
/// `coord_key_weight` (key_h, s) for the plans that sum them, and returns them; counts the crowd-sized and loose
/// keys in `left_out` when given.
async fn key_weights(
    ctx: &SessionContext,
    p: &Params,
    window_us: i64,
    left_out: Option<&mut LeftOut>,
) -> Result<KeyWeights> {
    let weighed = tight::weigh(ctx, window_us, horizon_us(p, window_us), p.crowd_size).await?;
    let (keys, s): (Vec<i64>, Vec<f64>) = weighed.weights.iter().map(|(k, s)| (*k, *s)).unzip();
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("key_h", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("s", arrow::datatypes::DataType::Float64, false),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow::array::Int64Array::from(keys)), Arc::new(arrow::array::Float64Array::from(s))],
    )?;
    ctx.deregister_table("coord_key_weight")?;
    ctx.register_table("coord_key_weight", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    if let Some(left_out) = left_out {
        left_out.crowd_sized_keys = weighed.crowd_sized;
        left_out.loose_keys = weighed.loose;
    }
    Ok(weighed.weights)
}

/// The actions of every equi-key kind of `p` as one query (kind, kid, key_h, label, account, ts, msg): what the
/// edges' `keys` are hashes of. Empty when no such kind is asked for.
pub(crate) fn shared_key_actions(p: &Params) -> String {
    let parts: Vec<String> = p.kinds.iter().filter_map(|k| actions_sql(*k, p, true)).collect();
    parts.join(" UNION ALL ")
}

/// Prepare the shared-key actions of the equi-key kinds as the table `coord_actions` (kid, key_h, acc, ts, msg;
/// [`register_kept`]), counting what was left out; the names of their accounts, or None when no kind has
/// actions.
async fn prepare_actions(ctx: &SessionContext, p: &Params, left_out: &mut LeftOut) -> Result<Option<Accounts>> {
    let actions = shared_key_actions(p);
    if actions.is_empty() {
        return Ok(None);
    }
    let max = p.max_key_accounts;
    // Keys with at least two accounts, and their actions, on hashes only: this GROUP BY sees every action of the
    // corpus. A key with at most `max_key_accounts` actions has at most as many accounts.
    register_batches(
        ctx,
        "coord_shared",
        &format!(
            "SELECT key_h, max(kid) AS kid, count(*) AS actions, min(msg) AS first FROM ({actions}) GROUP BY key_h \
             HAVING min(hash64(account)) <> max(hash64(account))"
        ),
    )
    .await?;
    // Keys with more actions (viral links and tags, most of a large corpus's shared actions): their accounts
    // counted exactly, with a label, from the actions of their kinds only (a text key among them costs a pass
    // over the texts; links and tags do not). Plain aggregates only: `count(DISTINCT ...)` and ordered
    // `first_value` keep an accumulator object per group (580 MB for 24k links at 1M messages).
    let mut big_kinds: Vec<Kind> = Vec::new();
    for batch in collect(ctx, &format!("SELECT DISTINCT kid FROM coord_shared WHERE actions > {max}")).await? {
        let kid = i64s(&batch, "kid")?;
        big_kinds.extend((0..batch.num_rows()).filter_map(|i| Kind::from_seed(kid.value(i))));
    }
    big_kinds.sort();
    let big_actions: Vec<String> = big_kinds.iter().filter_map(|k| actions_sql(*k, p, false)).collect();
    if big_actions.is_empty() {
        register_batches(
            ctx,
            "coord_big",
            "SELECT 'text' AS kind, key_h, actions AS accounts, actions, CAST(NULL AS VARCHAR) AS label \
             FROM coord_shared WHERE false",
        )
        .await?;
    } else {
        register_batches(
            ctx,
            "coord_big",
            &format!(
                "SELECT x.kind, x.key_h, count(*) AS accounts, sum(x.n) AS actions, min(x.label) AS label FROM \
                   (SELECT a.kind, a.key_h, hash64(a.account) AS acc, count(*) AS n, min(a.label) AS label \
                    FROM (SELECT key_h FROM coord_shared WHERE actions > {max}) s \
                    JOIN ({}) a ON a.key_h = s.key_h GROUP BY a.kind, a.key_h, acc) x \
                 GROUP BY x.kind, x.key_h",
                big_actions.join(" UNION ALL ")
            ),
        )
        .await?;
    }
    for batch in collect(
        ctx,
        &format!(
            "SELECT kind, count(*) AS keys, sum(actions) AS actions FROM coord_big \
             WHERE accounts > {max} GROUP BY kind ORDER BY kind"
        ),
    )
    .await?
    {
        let kind = strings(&batch, "kind")?;
        let keys = i64s(&batch, "keys")?;
        let actions = i64s(&batch, "actions")?;
        for i in 0..batch.num_rows() {
            left_out.over_max_keys.insert(kind.value(i).to_owned(), keys.value(i) as u64);
            left_out.over_max_actions.insert(kind.value(i).to_owned(), actions.value(i) as u64);
        }
    }
    for batch in collect(
        ctx,
        &format!(
            "SELECT kind, label, accounts FROM coord_big WHERE accounts > {max} \
             ORDER BY accounts DESC, kind, label LIMIT {TOP_OVER_MAX}"
        ),
    )
    .await?
    {
        let kind = strings(&batch, "kind")?;
        let label = strings(&batch, "label")?;
        let accounts = i64s(&batch, "accounts")?;
        for i in 0..batch.num_rows() {
            let label: String = label.value(i).chars().take(120).collect();
            left_out.top_over_max.push((kind.value(i).to_owned(), label, accounts.value(i) as u64));
        }
    }
    // The actions of the keys within `max_key_accounts`: the hash join builds its left side (the keys) in
    // memory and streams the corpus through it. Only a key's first message (the least hash, from
    // `coord_shared`) carries the label: at 10M messages, every action's whole text was 0.3 GB held to be
    // reduced to one label per key.
    let candidates = register_kept(
        ctx,
        "coord_candidates",
        &format!(
            "SELECT x.kind, x.kid, x.key_h, CASE WHEN x.msg = s.first THEN x.label END AS label, x.account, \
                    hash64(x.account) AS acc, x.ts, x.msg FROM \
               (SELECT key_h, first FROM coord_shared WHERE actions <= {max} \
                UNION ALL SELECT c.key_h, c.first FROM coord_big b JOIN coord_shared c ON c.key_h = b.key_h \
                WHERE b.accounts <= {max}) s \
             JOIN ({}) x ON x.key_h = s.key_h",
            p.kinds.iter().filter_map(|k| actions_sql(*k, p, false)).collect::<Vec<_>>().join(" UNION ALL ")
        ),
    )
    .await?;
    register_batches(
        ctx,
        "coord_labels",
        "SELECT kind, key_h, min(label) AS label FROM coord_candidates WHERE label IS NOT NULL GROUP BY kind, key_h",
    )
    .await?;
    // The plans see accounts as hashes and kinds as their seeds: they join, group and sort integers only.
    let actions_file =
        register_kept(ctx, "coord_actions", "SELECT kid, key_h, acc, ts, msg FROM coord_candidates").await?;
    let mut accounts =
        Accounts::read(ctx, "SELECT acc, min(account) AS account FROM coord_candidates GROUP BY acc").await?;
    accounts.actions_file = actions_file;
    // The candidates carry every action's label (whole texts for `text`): only one label per key is kept. The
    // key counts are not needed past this point either: nothing but the actions, labels and names is held under
    // the window join.
    for table in ["coord_candidates", "coord_shared", "coord_big"] {
        ctx.deregister_table(table)?;
    }
    drop(candidates);
    Ok(Some(accounts))
}

/// The most widely shared keys over `max_key_accounts` named in the summary.
const TOP_OVER_MAX: usize = 20;

async fn count_left_out(ctx: &SessionContext, p: &Params, left_out: &mut LeftOut) -> Result<()> {
    // With `similar`, its kernel counts the short texts as it reads them: no pass here.
    let short = if p.kinds.contains(&Kind::Text) && !p.kinds.contains(&Kind::Similar) {
        format!("count(*) FILTER (WHERE {ORIGINAL} AND NOT has_tokens(text_norm, {}))", p.min_tokens)
    } else {
        "0".to_owned()
    };
    let sql = format!("SELECT count(*) FILTER (WHERE author_id IS NULL) AS no_author, {short} AS short FROM messages");
    for batch in collect(ctx, &sql).await? {
        left_out.messages_without_author = i64s(&batch, "no_author")?.value(0) as u64;
        left_out.short_texts = i64s(&batch, "short")?.value(0) as u64;
    }
    Ok(())
}

/// The null model's shuffled copy of `coord_actions` for run `run`: each account's timestamps permuted among its
/// own actions of the same kind (volume and activity times kept, alignment with keys broken).
fn null_sql(seed: u64, run: usize) -> String {
    format!(
        "WITH o AS (SELECT kid, key_h, acc, msg, \
                    row_number() OVER (PARTITION BY kid, acc ORDER BY ts, msg, key_h) AS rn FROM coord_actions), \
         t AS (SELECT kid, acc, ts, row_number() OVER (PARTITION BY kid, acc \
                    ORDER BY hash64(concat(CAST(msg AS VARCHAR), ':', CAST(key_h AS VARCHAR), ':{seed}:{run}')), msg, \
                    key_h) AS rn \
               FROM coord_actions) \
         SELECT o.kid, o.key_h, o.acc, t.ts, o.msg FROM o \
         JOIN t ON o.kid = t.kid AND o.acc = t.acc AND o.rn = t.rn"
    )
}

/// All edges at `window_us` for the selected kinds: the equi-key kinds' from `coord_actions`, folded at
/// `p.min_weight` as the plan streams them (the pairs below it counted per kind and returned), into `folded`,
/// which holds the `similar` edges the kernel kept.
async fn edges_at(
    ctx: &SessionContext,
    p: &Params,
    window_us: i64,
    accounts: Option<&Accounts>,
    key_weight: &KeyWeights,
    folded: Folding,
) -> Result<Folded> {
    let (mut edges, mut below, mut specificities) = (folded, BTreeMap::new(), BTreeMap::new());
    if let Some(accounts) = accounts {
        // Folded as the plans stream their rows: they are never all held at once. Each kind's rows come in
        // order and the kinds in order, so the fold sees the order one plan over every kind would give.
        let mut fold = EdgeFold::new(accounts, key_weight, p, edges);
        for kid in kinds_in(ctx, "coord_actions").await? {
            let sql = edges_sql(("coord_actions", kid), window_us, 1, true, None);
            crate::table::explain(ctx, &sql).await?;
            let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
            while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                fold.add(&batch?)?;
            }
        }
        (edges, below, specificities) = fold.finish()?;
    }
    edges.sort();
    Ok((edges, below, specificities))
}

/// The sweep's rows: at each window of `p.sweep`, the linked pairs per kind and the clusters of their combined
/// network. It needs the shared keys' actions (`coord_actions`) and weighs the keys again at each window (so the
/// run's own window's are weighed after it).
async fn sweep(
    ctx: &SessionContext,
    p: &Params,
    accounts: Option<&Accounts>,
    stage: &dyn Fn(&str),
) -> Result<Vec<SweepRow>> {
    let mut sweep = Vec::new();
    let swept = Params {
        kinds: p.kinds.iter().copied().filter(|k| p.sweep_similar || *k != Kind::Similar).collect(),
        ..p.clone()
    };
    for &w in &p.sweep {
        stage(&format!("sweep: window {w} s"));
        let w_us = i64::try_from(w).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
        // The keys' tightness depends on the window: weighed again at each.
        if accounts.is_some() {
            key_weights(ctx, p, w_us, None).await?;
        }
        // Each linked pair at the minimum weight as (kind, a, b, weight): a sweep needs no times, evidence or
        // keys, and at a wide window its pairs are many.
        let mut pairs: Vec<(Kind, AccountName, AccountName, u64)> = Vec::new();
        if let Some(accounts) = accounts {
            let at = ("coord_actions", w_us, episode_gap(p, w_us), p.min_weight);
            weights_each(ctx, accounts, at, |kind, a, b, weight, _| pairs.push((kind, a.clone(), b.clone(), weight)))
                .await?;
        }
        if swept.kinds.contains(&Kind::Similar) {
            similar_at(ctx, &swept, w_us, stage, |e| {
                if !below_min_weight(e.specificity, p.min_weight) {
                    pairs.push((e.kind, e.a, e.b, e.weight));
                }
                Ok(())
            })
            .await?;
        }
        pairs.sort_unstable();
        let net = cluster::build_links(
            pairs.iter().map(|(k, a, b, w)| (&**a, &**b, *k, *w)),
            p.quality,
            p.resolution,
            p.seed,
        )?;
        let mut per_kind: BTreeMap<Kind, (u64, std::collections::HashSet<&str>)> = BTreeMap::new();
        for (kind, a, b, _) in &pairs {
            let entry = per_kind.entry(*kind).or_default();
            entry.0 += 1;
            entry.1.insert(a);
            entry.1.insert(b);
        }
        for kind in &swept.kinds {
            let (n, accounts) = per_kind.remove(kind).unwrap_or_default();
            sweep.push(SweepRow {
                window_s: w,
                kind: kind.name().to_owned(),
                edges: n,
                accounts: accounts.len() as u64,
                clusters: 0,
                largest_cluster: 0,
            });
        }
        sweep.push(SweepRow {
            window_s: w,
            kind: "all".to_owned(),
            edges: net.edges.len() as u64,
            accounts: net.accounts.len() as u64,
            clusters: net.clusters.len() as u64,
            largest_cluster: net.clusters.first().map_or(0, |c| c.members.len() as u64),
        });
    }

    Ok(sweep)
}

/// The `similar` kernel's edges at `window_us`.
async fn similar_at(
    ctx: &SessionContext,
    p: &Params,
    window_us: i64,
    stage: &dyn Fn(&str),
    sink: impl FnMut(Edge) -> Result<()>,
) -> Result<similar::Found> {
    stage("similar texts");
    let sp = SimilarParams {
        span_us: horizon_us(p, window_us).max(window_us),
        ..SimilarParams::new(window_us, p.similarity, p.shingle, p.min_tokens)
    };
    similar::edges_each(ctx, &sp, p.evidence, sink).await
}

/// The message keys of the given key hashes, joined back from `messages`.
async fn message_keys(ctx: &SessionContext, wanted: std::collections::HashSet<i64>) -> Result<EvidenceKeys> {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    let mut out = EvidenceKeys::default();
    if wanted.is_empty() {
        return Ok(out);
    }
    let schema = Arc::new(Schema::new(vec![Field::new("h", DataType::Int64, false)]));
    let hashes: arrow::array::ArrayRef = Arc::new(Int64Array::from_iter_values(wanted));
    let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![hashes])?;
    ctx.deregister_table("coord_evidence_keys")?;
    ctx.register_table("coord_evidence_keys", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    // Streamed, not collected beside the keys; in the hashes' order, ties by key, so the key kept for a hash two
    // keys share is always the same.
    let sql = "SELECT k.h, m.key FROM coord_evidence_keys k JOIN messages m ON k.h = hash64(m.key) ORDER BY k.h, m.key";
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        let batch = batch?;
        let h = i64s(&batch, "h")?;
        let key = strings(&batch, "key")?;
        for i in 0..batch.num_rows() {
            out.push(h.value(i), key.value(i));
        }
    }
    drop(stream);
    ctx.deregister_table("coord_evidence_keys")?;
    out.shrink_to_fit();
    Ok(out)
}

/// Keeps the edges of the account pairs whose specificity over every kind together reaches `min_weight` (`text`
/// and `similar` counting as the larger of the two), and counts the others per kind.
fn combine_below(edges: &mut Vec<Core>, min_weight: u64) -> BTreeMap<String, u64> {
    let mut per_pair: HashMap<(u32, u32), (f64, f64, f64)> = HashMap::new();
    for e in edges.iter() {
        let t = per_pair.entry((e.a, e.b)).or_default();
        match e.kind {
            Kind::Text => t.0 += e.specificity,
            Kind::Similar => t.1 += e.specificity,
            _ => t.2 += e.specificity,
        }
    }
    let kept: Vec<bool> = edges
        .iter()
        .map(|e| {
            let (text, similar, rest) = per_pair[&(e.a, e.b)];
            !below_min_weight(text.max(similar) + rest, min_weight)
        })
        .collect();
    drop(per_pair);
    let mut below: BTreeMap<String, u64> = BTreeMap::new();
    let mut kept = kept.into_iter();
    edges.retain(|e| {
        let kept = kept.next().unwrap_or(false);
        if !kept {
            *below.entry(e.kind.name().to_owned()).or_default() += 1;
        }
        kept
    });
    below
}

/// Whether an edge of `specificity` is below `min_weight` (a sum of key weights: within rounding of it is at it).
fn below_min_weight(specificity: f64, min_weight: u64) -> bool {
    specificity < min_weight as f64 - 1e-9
}

/// The edges (`Edge`s or `Core`s, each as its kind and specificity) at or above `min_weight`, and how many
/// linked pairs per kind fell below it.
fn split_below<T>(edges: &mut Vec<T>, min_weight: u64, of: impl Fn(&T) -> (Kind, f64)) -> BTreeMap<String, u64> {
    let below_min = |e: &T| below_min_weight(of(e).1, min_weight);
    let mut below: BTreeMap<String, u64> = BTreeMap::new();
    for e in edges.iter().filter(|e| below_min(e)) {
        *below.entry(of(e).0.name().to_owned()).or_default() += 1;
    }
    edges.retain(|e| !below_min(e));
    below
}

/// Run the coordination analysis on the `messages` table registered in `ctx` (see [`crate::analysis_session`]).
pub async fn run(ctx: &SessionContext, params: Params) -> Result<Coordination> {
    run_with_progress(ctx, params, &|_| {}).await
}

/// [`run`], telling `stage` what it is doing as it goes.
pub async fn run_with_progress(ctx: &SessionContext, params: Params, progress: &dyn Fn(&str)) -> Result<Coordination> {
    params.check()?;
    // `ECHOLENS_TIMINGS=1` prints each step's start time and memory (for benchmarks).
    let timings = crate::timings::Timings::new();
    // Each step starts with what the last one freed given back (crate::memory): its peak is then its own, not
    // its own on top of the freed pages of the step before.
    let stage = |name: &str| {
        crate::memory::release();
        timings.step(name);
        progress(name);
    };
    let mut params = params;
    let mut left_out = LeftOut::default();
    stage("counting messages");
    count_left_out(ctx, &params, &mut left_out).await?;
    // The shared keys' actions (`coord_actions`) give the window estimate: with `--window auto` they come first,
    // since the window is needed by every kind; else after the similar texts, whose kernel's signatures are the
    // run's peak and best held alone.
    let mut prepared = None;
    if params.window_auto {
        stage("finding shared keys");
        prepared = Some(prepare_actions(ctx, &params, &mut left_out).await?);
    }
    let mut window_estimate = window::WindowEstimate::default();
    if prepared.is_some() {
        stage("estimating the window");
        window_estimate = window::run(ctx).await?;
        params.window_s = window_estimate.all.map_or(params.window_s, |s| s.round().max(1.0) as u64);
    }
    let p = &params;
    let window_us = i64::try_from(p.window_s).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
    // With kinds combined, every edge is kept until the pairs' totals are known.
    let kind_min_weight = if p.combine_kinds { 1 } else { p.min_weight };
    // The similar kernel's edges go to the folded edges at once, their heads in memory and the rest on disk,
    // instead of lying whole under the shared keys' plans and the window join.
    let (mut folded, mut below) = (Folding::new(ctx)?, BTreeMap::new());
    if p.kinds.contains(&Kind::Similar) {
        // Each edge as the kernel makes it: its specificity counted, and kept or counted below the minimum.
        let mut all: Vec<f32> = Vec::new();
        let mut under = 0u64;
        let found = similar_at(ctx, p, window_us, &stage, |e| {
            all.push(e.specificity as f32);
            if below_min_weight(e.specificity, kind_min_weight) {
                under += 1;
                return Ok(());
            }
            folded.push(e)
        })
        .await?;
        left_out.short_texts = found.short_texts;
        left_out.linked_pairs.insert(Kind::Similar.name().to_owned(), Spread::of(&mut all));
        if under > 0 {
            below.insert(Kind::Similar.name().to_owned(), under);
        }
    }
    let accounts = match prepared {
        Some(accounts) => accounts,
        None => {
            stage("finding shared keys");
            let accounts = prepare_actions(ctx, p, &mut left_out).await?;
            stage("estimating the window");
            window_estimate = window::run(ctx).await?;
            accounts
        }
    };
    // The sweep runs before the run's own window is joined and clustered: what it holds (every pair at a wide
    // window) is then not on top of the run's edges and network.
    let sweep = sweep(ctx, p, accounts.as_ref(), &stage).await?;
    let key_weight = if accounts.is_some() {
        key_weights(ctx, p, window_us, Some(&mut left_out)).await?
    } else {
        KeyWeights::default()
    };

    stage("joining actions within the window");
    let fold_params = Params { min_weight: kind_min_weight, ..p.clone() };
    let (mut edges, folded_below, specificities) =
        edges_at(ctx, &fold_params, window_us, accounts.as_ref(), &key_weight, folded).await?;
    for (kind, mut all) in specificities {
        left_out.linked_pairs.insert(kind.name().to_owned(), Spread::of(&mut all));
    }
    for (kind, n) in
        folded_below.into_iter().chain(split_below(&mut edges.cores, kind_min_weight, |c| (c.kind, c.specificity)))
    {
        *below.entry(kind).or_default() += n;
    }
    if p.combine_kinds {
        for (kind, n) in combine_below(&mut edges.cores, p.min_weight) {
            *below.entry(kind).or_default() += n;
        }
    }
    left_out.pairs_below_min_weight = below;

    // Null model: how often does a shuffled corpus give an edge at least as heavy?
    if let Some(accounts) = accounts.as_ref().filter(|_| p.null_runs > 0) {
        let mut at_least: HashMap<(Kind, u32, u32), u64> = HashMap::new();
        for run in 0..p.null_runs {
            stage(&format!("null model run {}/{}", run + 1, p.null_runs));
            register_batches(ctx, "coord_null", &null_sql(p.seed, run)).await?;
            // Every edge's specificity is at least the per-kind minimum: pairs below it never count.
            let null =
                weights(ctx, accounts, "coord_null", window_us, episode_gap(p, window_us), kind_min_weight).await?;
            for e in edges.cores.iter().filter(|e| e.kind != Kind::Similar) {
                let key = (e.kind, edges.name(e.a).clone(), edges.name(e.b).clone());
                if null.get(&key).is_some_and(|(_, s)| *s >= e.specificity - 1e-9) {
                    *at_least.entry((e.kind, e.a, e.b)).or_default() += 1;
                }
            }
        }
        let runs = p.null_runs as f64;
        for e in edges.cores.iter_mut().filter(|e| e.kind != Kind::Similar) {
            let hits = at_least.get(&(e.kind, e.a, e.b)).copied().unwrap_or(0) as f64;
            e.p = (1.0 + hits) / (1.0 + runs);
        }
    }
    // Nothing joins the actions again (the sweep ran before the window join, the null model just now): they go
    // before the clustering and the summaries (on a cluster their 40 bytes a row are in memory).
    for table in ["coord_actions", "coord_key_weight", "coord_null"] {
        ctx.deregister_table(table)?;
    }

    stage("clustering");
    let network = cluster::build_links(
        edges.cores.iter().map(|c| (&**edges.name(c.a), &**edges.name(c.b), c.kind, c.weight)),
        p.quality,
        p.resolution,
        p.seed,
    )?;

    // The summaries join the network's accounts (`coord_nodes`, small) to the messages or the accounts table:
    // the accounts are the left, the build side, and distinct counts are groupings, which spill. Hash joins do
    // not spill: with the messages on the left, building one ran out of the 1 GB pool at 50M messages (and of
    // 160 MB on the 10M store; decision 0004).
    stage("summarising clusters");
    // The summaries' plans first: nothing of the edges' keys or evidence is held beside their pool.
    let labelled = accounts.is_some();
    let channels = account_channels(ctx, &network).await?;
    let domains = account_domains(ctx, &network).await?;
    let channel_domains = channel_domains(ctx).await?;
    let accounts = account_facts(ctx, &network).await?;
    stage("reading the edges back");
    // The edges' file read once for both: the keys to label, the evidence to resolve.
    let (shared, evidence) = edges.keys_and_evidence()?;
    stage(&format!("the edges' {} shared keys and {} evidence messages", shared.len(), evidence.len()));
    let labels = if labelled { key_labels(ctx, shared).await? } else { HashMap::new() };
    let keys = message_keys(ctx, evidence).await?;
    stage("the evidence messages' keys read");
    let edges = edges.into_edges(ctx, keys)?;
    stage("done");
    Ok(Coordination {
        params,
        edges,
        network,
        labels,
        left_out,
        sweep,
        channels,
        window_estimate,
        domains,
        channel_domains,
        accounts,
    })
}

/// What the store's `accounts` table says about each account in the network (`coord_nodes`).
async fn account_facts(ctx: &SessionContext, network: &Network) -> Result<HashMap<String, AccountFacts>> {
    use arrow::array::Array;
    let mut out: HashMap<String, AccountFacts> = HashMap::new();
    // A session over messages alone (a store's has the table, empty when no export described its accounts).
    if network.accounts.is_empty() || !ctx.table_exist("accounts")? {
        return Ok(out);
    }
    let sql = "SELECT c.account, CAST(a.created AS BIGINT) AS created, a.followers,                  CAST(a.last_seen AS BIGINT) AS last_seen, a.clients                FROM coord_nodes c JOIN accounts a ON a.platform = c.platform AND a.author_id = c.author_id                ORDER BY c.account, last_seen NULLS FIRST";
    for batch in collect(ctx, sql).await? {
        let account = strings(&batch, "account")?;
        let created = i64s(&batch, "created")?;
        let followers = i64s(&batch, "followers")?;
        let clients = batch
            .column_by_name("clients")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::ListArray>())
            .ok_or_else(|| Error::Internal("coordination: accounts without clients".into()))?;
        for i in 0..batch.num_rows() {
            let facts = out.entry(account.value(i).to_owned()).or_default();
            if created.is_valid(i) {
                facts.created = Some(facts.created.map_or(created.value(i), |c| c.min(created.value(i))));
            }
            // Rows come by time: the last one with a count is the latest.
            if followers.is_valid(i) {
                facts.followers = Some(followers.value(i));
            }
            if clients.is_valid(i) {
                let names = clients.value(i);
                let names = arrow::compute::cast(&names, &arrow::datatypes::DataType::Utf8)?;
                let names = names.as_any().downcast_ref::<arrow::array::StringArray>().expect("cast to utf8");
                for name in names.iter().flatten() {
                    if !facts.clients.iter().any(|c| c == name) {
                        facts.clients.push(name.to_owned());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The labels of the keys `wanted`.
async fn key_labels(
    ctx: &SessionContext,
    wanted: std::collections::HashSet<(Kind, i64)>,
) -> Result<HashMap<(Kind, i64), String>> {
    let mut labels = HashMap::new();
    for batch in collect(ctx, "SELECT kind, key_h, label FROM coord_labels").await? {
        let kind = strings(&batch, "kind")?;
        let key = i64s(&batch, "key_h")?;
        let label = strings(&batch, "label")?;
        for i in 0..batch.num_rows() {
            let k = (kind_of(kind.value(i)), key.value(i));
            if wanted.contains(&k) {
                labels.insert(k, label.value(i).to_owned());
            }
        }
    }
    Ok(labels)
}

/// Messages per registrable domain of their links, of each account in the network (`coord_nodes`, registered by
/// [`account_channels`]).
async fn account_domains(ctx: &SessionContext, network: &Network) -> Result<HashMap<String, Counts>> {
    let mut out: HashMap<String, Counts> = HashMap::new();
    if network.accounts.is_empty() {
        return Ok(out);
    }
    // The network's accounts on the left (see the summaries in `run_with_progress`); each message's domains
    // once (`url_domains`), so the grouping is by account and domain, not by message too.
    let sql = "SELECT c.account, m.d, count(*) AS n FROM coord_nodes c JOIN \
                 (SELECT unnest(url_domains(urls)) AS d, platform, author_id FROM messages \
                  WHERE cardinality(urls) > 0) m \
               ON m.platform = c.platform AND m.author_id = c.author_id GROUP BY c.account, m.d";
    for batch in collect(ctx, sql).await? {
        let (account, domain, n) = (strings(&batch, "account")?, strings(&batch, "d")?, i64s(&batch, "n")?);
        for i in 0..batch.num_rows() {
            out.entry(account.value(i).to_owned()).or_default().push((domain.value(i).to_owned(), n.value(i) as u64));
        }
    }
    Ok(in_name_order(out))
}

/// The domains each channel links to most: [`CHANNEL_DOMAINS`] a channel, most messages first.
async fn channel_domains(ctx: &SessionContext) -> Result<Vec<ChannelDomain>> {
    let sql = format!(
        "SELECT channel, d, n FROM \
                 (SELECT channel, d, n, row_number() OVER (PARTITION BY channel ORDER BY n DESC, d) AS rk FROM \
                   (SELECT channel, d, count(*) AS n FROM \
                     (SELECT {CHANNEL} AS channel, d FROM \
                       (SELECT unnest(url_domains(urls)) AS d, platform, channel_name, channel_id FROM messages \
                        WHERE cardinality(urls) > 0)) \
                    GROUP BY channel, d)) \
               WHERE rk <= {CHANNEL_DOMAINS} ORDER BY channel, n DESC, d"
    );
    let mut out = Vec::new();
    for batch in collect(ctx, &sql).await? {
        let (channel, domain, n) = (strings(&batch, "channel")?, strings(&batch, "d")?, i64s(&batch, "n")?);
        for i in 0..batch.num_rows() {
            let domain = domain.value(i).to_owned();
            out.push(ChannelDomain {
                channel: channel.value(i).to_owned(),
                shortener: echolens_text::is_shortener(&domain),
                domain,
                messages: n.value(i) as u64,
            });
        }
    }
    Ok(out)
}

/// Messages per channel of each account in the network (one pass over `messages`).
async fn account_channels(ctx: &SessionContext, network: &Network) -> Result<HashMap<String, Counts>> {
    let mut out: HashMap<String, Counts> = HashMap::new();
    if network.accounts.is_empty() {
        return Ok(out);
    }
    // The nodes as (account, platform, author_id) views, the type the store's columns are read as: the join
    // compares raw columns (no account string built per message, no cast of the corpus's side).
    use arrow::array::StringViewArray;
    use arrow::datatypes::{DataType, Field, Schema};
    let parts: Vec<(&str, &str)> = network.accounts.iter().map(|a| a.split_once(':').unwrap_or(("", a))).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("account", DataType::Utf8View, false),
        Field::new("platform", DataType::Utf8View, false),
        Field::new("author_id", DataType::Utf8View, false),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringViewArray::from_iter_values(network.accounts.iter())),
            Arc::new(StringViewArray::from_iter_values(parts.iter().map(|p| p.0))),
            Arc::new(StringViewArray::from_iter_values(parts.iter().map(|p| p.1))),
        ],
    )?;
    ctx.deregister_table("coord_nodes")?;
    ctx.register_table("coord_nodes", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
    let sql = format!(
        "SELECT c.account, {} AS channel, count(*) AS n \
         FROM coord_nodes c JOIN messages m ON m.platform = c.platform AND m.author_id = c.author_id \
         GROUP BY c.account, channel",
        crate::sql::channel_of("m")
    );
    for batch in collect(ctx, &sql).await? {
        let account = strings(&batch, "account")?;
        let channel = strings(&batch, "channel")?;
        let n = i64s(&batch, "n")?;
        for i in 0..batch.num_rows() {
            out.entry(account.value(i).to_owned()).or_default().push((channel.value(i).to_owned(), n.value(i) as u64));
        }
    }
    Ok(in_name_order(out))
}

/// Each account's counts in name order (the plans grouped by account and name: each name comes once), and the
/// lists and the map no larger than they need.
fn in_name_order(mut per_account: HashMap<String, Counts>) -> HashMap<String, Counts> {
    for counts in per_account.values_mut() {
        counts.sort_unstable();
        counts.shrink_to_fit();
    }
    per_account.shrink_to_fit();
    per_account
}

#[cfg(test)]
mod tests;
