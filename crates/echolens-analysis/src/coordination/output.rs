//! The coordination outputs (the contract in DESIGN.md): `edges.csv`, `clusters.csv`, `cluster_summary.csv`,
//! `network.gexf`, `network.graphml`, `sweep.csv` (with a sweep) and `summary.json`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use echolens_store::rfc3339;
use serde::Serialize;

use super::{AccountName, Coordination, Kind, Lead};
use crate::graph::{AttrType, Graph, Value};
use crate::table::excerpt;
use crate::{Error, Result};

/// A cluster's summary row.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSummary {
    /// Cluster id.
    pub cluster: usize,
    /// Accounts.
    pub size: usize,
    /// Edges of the combined network inside the cluster.
    pub edges: usize,
    /// Edges over possible edges.
    pub density: f64,
    /// Summed weight of those edges.
    pub weight: u64,
    /// Edges per kind inside the cluster, as `kind:count` separated by spaces.
    pub kinds: String,
    /// Earliest linked action (RFC 3339).
    pub first_seen: String,
    /// Latest linked action (RFC 3339).
    pub last_seen: String,
    /// Earliest and latest linked action in microseconds since the epoch (the table's typed columns).
    #[serde(skip)]
    pub seen_us: Option<(i64, i64)>,
    /// Platforms of the accounts.
    pub platforms: String,
    /// The channels the accounts post in most, with message counts.
    pub top_channels: String,
    /// The keys most of the cluster's edges share, with edge counts.
    pub top_keys: String,
    /// The accounts that most often posted first on the keys they share with other members: up to three, each
    /// with the keys on which it came first and those on which it came second (a fact, not a verdict).
    pub leaders: String,
    /// The registrable domains the members link to most, with message counts; shorteners marked.
    pub top_domains: String,
    /// The most members created within one week, when at least three were (from the exports' account creation
    /// dates): `12 of 20 created in the week of 2024-03-04`.
    pub created_together: String,
    /// The apps the members posted with, each with how many members used it.
    pub clients: String,
    /// How many members had fewer than [`FEW_FOLLOWERS`] followers, of those whose count the exports state.
    pub few_followers: String,
    /// The median specificity of the cluster's edges (of every kind): set it beside what the corpus's linked
    /// pairs reach ([`super::LeftOut::linked_pairs`]).
    pub median_specificity: f64,
    /// The distinct keys the cluster's edges share, per kind, as `kind:count` separated by spaces.
    pub shared_keys: String,
    /// The lags of every edge of the cluster (of every kind) against chance timing ([`super::Timing::p`]): at or
    /// above [`super::CHANCE_TIMING_P`], with at least [`super::MIN_TIMING_LAGS`] lags, its accounts act no
    /// closer together than busy accounts do by chance.
    pub timing_p: Option<f64>,
    /// The lags tested.
    pub timing_lags: u64,
}

impl ClusterSummary {
    /// Whether its timing is like chance ([`super::Timing::like_chance`]).
    pub fn timing_like_chance(&self) -> bool {
        super::timing_like_chance(self.timing_p, self.timing_lags)
    }
}

/// Followers under which an account counts as having few.
pub(super) const FEW_FOLLOWERS: i64 = 100;

/// The account facts of a cluster's `members`: creation-date batch, clients, few followers (see
/// [`ClusterSummary`]); empty strings where the exports say nothing.
fn account_summary(accounts: &HashMap<String, super::AccountFacts>, members: &[&str]) -> (String, String, String) {
    const WEEK: i64 = 7 * 86_400 * 1_000_000;
    // Weeks from Monday 1970-01-05.
    let monday = 4 * 86_400 * 1_000_000;
    let facts: Vec<&super::AccountFacts> = members.iter().filter_map(|m| accounts.get(*m)).collect();
    let mut weeks: BTreeMap<i64, usize> = BTreeMap::new();
    for created in facts.iter().filter_map(|f| f.created) {
        *weeks.entry((created - monday).div_euclid(WEEK)).or_default() += 1;
    }
    let created_together = match weeks.iter().max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0))) {
        Some((week, &n)) if n >= 3 => format!(
            "{n} of {} created in the week of {}",
            members.len(),
            rfc3339(week * WEEK + monday).chars().take(10).collect::<String>()
        ),
        _ => String::new(),
    };
    let mut clients: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &facts {
        for c in &f.clients {
            *clients.entry(c.as_str()).or_default() += 1;
        }
    }
    let mut clients: Vec<(&str, usize)> = clients.into_iter().collect();
    clients.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    let clients = clients.iter().take(5).map(|(c, n)| format!("{c} ({n})")).collect::<Vec<_>>().join("; ");
    let counted: Vec<i64> = facts.iter().filter_map(|f| f.followers).collect();
    let few_followers = if counted.is_empty() {
        String::new()
    } else {
        let few = counted.iter().filter(|&&n| n < FEW_FOLLOWERS).count();
        format!("{few} of {} under {FEW_FOLLOWERS} followers", counted.len())
    };
    (created_together, clients, few_followers)
}

/// Over every edge, each account's keys on which it acted first (lead) and second (follow).
pub fn account_leads(c: &Coordination) -> Result<HashMap<&str, (u64, u64)>> {
    Ok(gather(c)?.0)
}

/// Adds an edge's lead counts to its two accounts' (lead, follow) totals.
fn add_lead<'a>(totals: &mut HashMap<&'a str, (u64, u64)>, (a, b): (&'a AccountName, &'a AccountName), lead: &Lead) {
    let a = totals.entry(&**a).or_default();
    a.0 += lead.a_first;
    a.1 += lead.b_first;
    let b = totals.entry(&**b).or_default();
    b.0 += lead.b_first;
    b.1 += lead.a_first;
}

/// The cluster both accounts of edge `i` are in (None: not in one cluster).
fn cluster_of_edge(c: &Coordination, index: &HashMap<&str, usize>, i: usize) -> Option<usize> {
    let net = &c.network;
    let (a, b) = c.edges.accounts(i);
    let (a, b) = (*index.get(&**a)?, *index.get(&**b)?);
    (net.cluster_of[a] == net.cluster_of[b] && net.cluster_of[a] != 0).then_some(net.cluster_of[a])
}

/// Each cluster's lags against chance timing, pooled over its edges of every kind (as in [`ClusterSummary`]).
pub fn cluster_timings(c: &Coordination) -> Result<HashMap<usize, super::Timing>> {
    Ok(gather(c)?.1.into_iter().map(|(cluster, g)| (cluster, g.timing)).collect())
}

/// What a cluster's summary gathers from its edges of every kind.
#[derive(Default)]
struct Gathered<'a> {
    kinds: BTreeMap<Kind, usize>,
    /// Labelled keys and the edges sharing each.
    keys: HashMap<(Kind, i64), usize>,
    shared: BTreeMap<Kind, std::collections::HashSet<i64>>,
    first: Option<i64>,
    last: Option<i64>,
    leads: HashMap<&'a str, (u64, u64)>,
    specificities: Vec<f32>,
    timing: super::Timing,
}

/// Account → (lead, follow) over every edge, and cluster → what its summary gathers from its edges.
type Gatherings<'a> = (HashMap<&'a str, (u64, u64)>, HashMap<usize, Gathered<'a>>);

/// One pass over the edges: every account's leads ([`account_leads`]) and what each cluster's summary gathers
/// from its edges of every kind.
fn gather(c: &Coordination) -> Result<Gatherings<'_>> {
    let index = c.network.index();
    let (mut leads, mut gathered): Gatherings = Default::default();
    for (i, e) in c.edges.iter().enumerate() {
        let e = e?;
        add_lead(&mut leads, c.edges.accounts(i), &e.lead);
        let Some(cluster) = cluster_of_edge(c, &index, i) else { continue };
        let g = gathered.entry(cluster).or_default();
        add_lead(&mut g.leads, c.edges.accounts(i), &e.lead);
        g.timing.add(e.lead.timing());
        g.specificities.push(e.specificity as f32);
        *g.kinds.entry(e.kind).or_default() += 1;
        g.first = Some(g.first.map_or(e.first_seen, |f| f.min(e.first_seen)));
        g.last = Some(g.last.map_or(e.last_seen, |l| l.max(e.last_seen)));
        g.shared.entry(e.kind).or_default().extend(&e.keys);
        for k in &e.keys {
            if c.labels.contains_key(&(e.kind, *k)) {
                *g.keys.entry((e.kind, *k)).or_default() += 1;
            }
        }
    }
    Ok((leads, gathered))
}

/// The cluster summaries of a result.
pub fn cluster_summaries(c: &Coordination) -> Result<Vec<ClusterSummary>> {
    Ok(summaries_of(c, gather(c)?.1))
}

/// The cluster summaries from what [`gather`] gathered of each cluster.
fn summaries_of(c: &Coordination, mut gathered: HashMap<usize, Gathered>) -> Vec<ClusterSummary> {
    let net = &c.network;
    // Edges inside each cluster, found once.
    let mut combined_in: HashMap<usize, Vec<&super::cluster::CombinedEdge>> = HashMap::new();
    for e in &net.edges {
        if net.cluster_of[e.a] == net.cluster_of[e.b] && net.cluster_of[e.a] != 0 {
            combined_in.entry(net.cluster_of[e.a]).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for cluster in &net.clusters {
        let id = cluster.id;
        let combined = combined_in.remove(&id).unwrap_or_default();
        let n = cluster.members.len();
        let possible = n * n.saturating_sub(1) / 2;
        let Gathered { kinds, keys, shared, first, last, leads, mut specificities, timing } =
            gathered.remove(&id).unwrap_or_default();
        let (first, last) = (first.unwrap_or(i64::MAX), last.unwrap_or(i64::MIN));
        let mut keys: Vec<((Kind, i64), usize)> = keys.into_iter().collect();
        keys.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| c.labels[&x.0].cmp(&c.labels[&y.0])));
        let top_keys: Vec<String> = keys
            .iter()
            .take(5)
            .map(|((kind, k), count)| format!("{}: {} ({count})", kind.name(), excerpt(&c.labels[&(*kind, *k)], 80)))
            .collect();
        let platforms: BTreeSet<&str> =
            cluster.members.iter().map(|&m| net.accounts[m].split(':').next().unwrap_or("")).collect();
        let members: Vec<&str> = cluster.members.iter().map(|&m| net.accounts[m].as_str()).collect();
        let channels = summed_over(&c.channels, &members);
        let domains = summed_over(&c.domains, &members);
        let top_domains: Vec<String> = domains
            .iter()
            .take(5)
            .map(|(d, n)| {
                let mark = if echolens_text::is_shortener(d) { ", a shortener" } else { "" };
                format!("{d} ({n}{mark})")
            })
            .collect();
        let mut leaders: Vec<(&str, (u64, u64))> = leads.into_iter().filter(|(_, (l, f))| l > f).collect();
        leaders.sort_by(|x, y| (y.1.0 - y.1.1).cmp(&(x.1.0 - x.1.1)).then(y.1.0.cmp(&x.1.0)).then(x.0.cmp(y.0)));
        let leaders: Vec<String> =
            leaders.iter().take(3).map(|(a, (l, f))| format!("{a} (first on {l} keys, second on {f})")).collect();
        let (created_together, clients, few_followers) = account_summary(&c.accounts, &members);
        out.push(ClusterSummary {
            cluster: id,
            size: n,
            edges: combined.len(),
            density: if possible == 0 { 0.0 } else { combined.len() as f64 / possible as f64 },
            weight: combined.iter().map(|e| e.weight).sum(),
            kinds: kinds.iter().map(|(k, v)| format!("{}:{v}", k.name())).collect::<Vec<_>>().join(" "),
            first_seen: if first == i64::MAX { String::new() } else { rfc3339(first) },
            last_seen: if last == i64::MIN { String::new() } else { rfc3339(last) },
            seen_us: (first != i64::MAX).then_some((first, last)),
            platforms: platforms.into_iter().collect::<Vec<_>>().join(" "),
            top_channels: channels.iter().take(5).map(|(ch, n)| format!("{ch} ({n})")).collect::<Vec<_>>().join("; "),
            top_keys: top_keys.join("; "),
            leaders: leaders.join("; "),
            top_domains: top_domains.join("; "),
            created_together,
            clients,
            few_followers,
            median_specificity: super::Spread::of(&mut specificities).median,
            shared_keys: shared.iter().map(|(k, v)| format!("{}:{}", k.name(), v.len())).collect::<Vec<_>>().join(" "),
            timing_p: timing.p(),
            timing_lags: timing.lags,
        });
    }
    out
}

/// The counts of `per_account` (account → name → count) summed over `members`, most first (ties by name).
fn summed_over<'a>(per_account: &'a HashMap<String, super::Counts>, members: &[&str]) -> Vec<(&'a str, u64)> {
    let mut sums: HashMap<&str, u64> = HashMap::new();
    for per in members.iter().filter_map(|m| per_account.get(*m)) {
        for (name, count) in per {
            *sums.entry(name.as_str()).or_default() += count;
        }
    }
    let mut sums: Vec<(&str, u64)> = sums.into_iter().collect();
    sums.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    sums
}

/// The combined network's accounts with cluster, degree and strength, and the attributes of its edges
/// ([`NetworkEdges`]: the kinds and each kind's weight); the edges are made as they are written.
pub(super) fn network_graph(c: &Coordination) -> Graph {
    let net = &c.network;
    let degree = net.degree();
    let strength = net.strength();
    let mut edge_attrs = vec![("kinds".to_owned(), AttrType::String)];
    edge_attrs.extend(c.params.kinds.iter().map(|k| (format!("weight_{}", k.name()), AttrType::Integer)));
    Graph {
        node_attrs: vec![
            ("cluster".into(), AttrType::Integer),
            ("degree".into(), AttrType::Integer),
            ("weighted_degree".into(), AttrType::Integer),
            ("platform".into(), AttrType::String),
        ],
        edge_attrs,
        nodes: net
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let platform = a.split(':').next().unwrap_or("").to_owned();
                (
                    a.clone(),
                    vec![
                        Value::Int(net.cluster_of[i] as i64),
                        Value::Int(degree[i] as i64),
                        Value::Int(strength[i] as i64),
                        Value::Text(platform),
                    ],
                )
            })
            .collect(),
        edges: Vec::new(),
        directed: false,
        edge_spells: Vec::new(),
    }
}

/// The combined network's edges for the network files, each made as it is written: its kinds, its weight per
/// kind, and its spells (those of its account pair's edges of every kind, overlapping ones merged). The spells
/// are gathered in one pass over the edges into spill files, a part for each run of consecutive network edges,
/// and merged a part at a time as the GEXF asks for them in order ([`Spells`]): held for every edge, they were
/// 0.25 GB at 53M messages.
pub(super) struct NetworkEdges<'a> {
    c: &'a Coordination,
    spells: std::sync::Mutex<Spells>,
}

/// Network edges a part of [`Spells`] holds (at least: the parts are at most [`SPELL_PARTS`]).
const EDGES_PER_PART: usize = 1 << 14;

/// The most parts [`Spells`] has (each buffers 256 KiB while the spells are gathered).
const SPELL_PARTS: usize = 64;

/// The network edges' spells: each kind's edge's raw spells as records (network edge, count, then start and end
/// of each) in the part of its network edge, and the part merged last.
struct Spells {
    parts: crate::spill::Parts,
    per_part: usize,
    edges: usize,
    /// The part in `merged`: edge `part * per_part + k`'s spells are `merged[ends[k - 1]..ends[k]]` (from 0 for
    /// the first).
    part: Option<usize>,
    ends: Vec<usize>,
    merged: Vec<(i64, i64)>,
}

impl Spells {
    /// The spells of `edges` network edges gathered in `parts`, `per_part` edges a part; none merged yet.
    fn new(parts: crate::spill::Parts, per_part: usize, edges: usize) -> Spells {
        Spells { parts, per_part, edges, part: None, ends: Vec::new(), merged: Vec::new() }
    }

    /// Edge `i`'s merged spells into `out`; edges are asked for in order (a part is read once, then removed).
    fn get(&mut self, i: usize, out: &mut Vec<(i64, i64)>) -> Result<()> {
        let part = i / self.per_part;
        if self.part != Some(part) {
            if self.part.is_some_and(|p| p > part) {
                return Err(Error::Internal(format!("network spells: edge {i} asked for after a later one")));
            }
            self.load(part)?;
        }
        let k = i - part * self.per_part;
        let from = if k == 0 { 0 } else { self.ends[k - 1] };
        out.extend_from_slice(&self.merged[from..self.ends[k]]);
        Ok(())
    }

    fn load(&mut self, part: usize) -> Result<()> {
        let first = part * self.per_part;
        let len = self.per_part.min(self.edges.saturating_sub(first));
        let mut raw: Vec<Vec<(i64, i64)>> = vec![Vec::new(); len];
        let values = self.parts.take(part)?;
        let mut at = 0;
        while at + 2 <= values.len() {
            let (edge, n) = (values[at] as usize, values[at + 1] as usize);
            let spells = values.get(at + 2..at + 2 + 2 * n);
            let (Some(spells), Some(into)) = (spells, edge.checked_sub(first).and_then(|k| raw.get_mut(k))) else {
                return Err(Error::Internal(format!("network spells: a record of part {part} does not read")));
            };
            into.extend(spells.chunks_exact(2).map(|s| (s[0] as i64, s[1] as i64)));
            at += 2 + 2 * n;
        }
        if at != values.len() {
            return Err(Error::Internal(format!("network spells: part {part} ends within a record")));
        }
        drop(values);
        self.ends.clear();
        self.merged.clear();
        for spells in raw {
            self.merged.extend(super::merge_spells(spells));
            self.ends.push(self.merged.len());
        }
        self.part = Some(part);
        Ok(())
    }
}

impl<'a> NetworkEdges<'a> {
    pub(super) fn new(c: &'a Coordination) -> Result<NetworkEdges<'a>> {
        let net = &c.network;
        let index = net.index();
        let edges = net.edges.len();
        let per_part = EDGES_PER_PART.max(edges.div_ceil(SPELL_PARTS));
        let mut parts = crate::spill::Parts::in_dir(
            crate::spill::system_disk()?,
            edges.div_ceil(per_part).max(1),
            "network spells",
        );
        let mut record = Vec::new();
        for (i, e) in c.edges.iter().enumerate() {
            let e = e?;
            let (a, b) = c.edges.accounts(i);
            let (Some(&x), Some(&y)) = (index.get(&**a), index.get(&**b)) else { continue };
            // Node indices, not names: pseudonyms need not keep the names' order.
            let pair = (x.min(y), x.max(y));
            if let Ok(j) = net.edges.binary_search_by(|n| (n.a, n.b).cmp(&pair)) {
                record.clear();
                record.extend([j as u64, e.spells.len() as u64]);
                record.extend(e.spells.iter().flat_map(|&(s, t)| [s as u64, t as u64]));
                parts.extend(j / per_part, &record)?;
            }
        }
        Ok(NetworkEdges { c, spells: std::sync::Mutex::new(Spells::new(parts, per_part, edges)) })
    }
}

impl crate::graph::Edges for NetworkEdges<'_> {
    fn count(&self) -> usize {
        self.c.network.edges.len()
    }

    fn dynamic(&self) -> bool {
        self.count() > 0
    }

    fn edge(&self, i: usize, values: &mut Vec<Value>) -> (usize, usize, f64) {
        let e = &self.c.network.edges[i];
        let net = &self.c.network;
        values.push(Value::Text(net.kinds(e).map(|(k, _)| k.name()).collect::<Vec<_>>().join(",")));
        values.extend(self.c.params.kinds.iter().map(|k| Value::Int(net.kind_weight(e, *k) as i64)));
        (e.a, e.b, e.weight as f64)
    }

    fn spells(&self, i: usize, spells: &mut Vec<(i64, i64)>) -> std::io::Result<()> {
        // Only the GEXF asks, edge after edge: the lock is never waited for.
        let mut held = self.spells.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.get(i, spells).map_err(std::io::Error::other)
    }
}

/// The `edges` table's columns.
fn edges_schema() -> arrow::datatypes::SchemaRef {
    use crate::Col::*;
    crate::table_schema(&[
        ("account_a", Text),
        ("account_b", Text),
        ("kind", Text),
        ("weight", Int),
        ("first_seen", Time),
        ("last_seen", Time),
        ("evidence", Text),
        ("p_value", Fixed(6)),
        ("specificity", Fixed(3)),
        ("a_first", Int),
        ("b_first", Int),
        ("ties", Int),
        ("median_lag_s", Fixed(3)),
        ("timing_p", Fixed(6)),
    ])
}

impl Coordination {
    /// The tables: `edges`, `clusters`, `cluster_summary`, `sweep` (with a sweep) and `domains`, and the
    /// cluster summaries they were made from.
    pub fn tables(&self) -> Result<(Vec<crate::Table>, Vec<ClusterSummary>)> {
        let mut edges = crate::Rows::new("edges", edges_schema());
        self.edge_rows(|cells| {
            edges.push(cells);
            Ok(())
        })?;
        let (rest, summaries) = self.tables_but_edges()?;
        Ok((std::iter::once(edges.finish()?).chain(rest).collect(), summaries))
    }

    /// Each edge's row of the `edges` table, in order, handed to `push`.
    fn edge_rows(&self, mut push: impl for<'c> FnMut([crate::Cell<'c>; 14]) -> Result<()>) -> Result<()> {
        use crate::Cell;
        let mut evidence = String::new();
        for e in self.edges.iter() {
            let e = e?;
            evidence.clear();
            for (i, (x, y)) in e.evidence.iter().enumerate() {
                if i > 0 {
                    evidence.push(';');
                }
                evidence.push_str(x);
                evidence.push('|');
                evidence.push_str(y);
            }
            push([
                Cell::from(&*e.a),
                Cell::from(&*e.b),
                e.kind.name().into(),
                e.weight.into(),
                Cell::Time(e.first_seen),
                Cell::Time(e.last_seen),
                Cell::from(evidence.as_str()),
                e.p_value.into(),
                e.specificity.into(),
                e.lead.a_first.into(),
                e.lead.b_first.into(),
                e.lead.ties.into(),
                e.lead.median_lag_s.into(),
                e.lead.timing().p().into(),
            ])?;
        }
        Ok(())
    }

    /// The `edges` table written to `dir` as its rows come (batch by batch: a million edges are not one table
    /// in memory).
    fn write_edges(&self, dir: &Path, format: crate::TableFormat) -> Result<std::path::PathBuf> {
        let mut w = crate::TableWriter::create(dir, "edges", edges_schema(), format)?;
        self.edge_rows(|cells| w.push(cells))?;
        w.finish()
    }

    /// [`Coordination::tables`] but `edges`.
    fn tables_but_edges(&self) -> Result<(Vec<crate::Table>, Vec<ClusterSummary>)> {
        use crate::Col::*;
        use crate::{Cell, Rows};
        let c = self;
        // Each member with the keys, over all its edges, on which it acted first and second.
        // One pass over the edges gives the members' leads and the summaries.
        let (leads, gathered) = gather(c)?;
        let mut clusters = Rows::new(
            "clusters",
            crate::table_schema(&[("cluster", Int), ("account", Text), ("first_on", Int), ("second_on", Int)]),
        );
        for cluster in &c.network.clusters {
            for &m in &cluster.members {
                let account = c.network.accounts[m].as_str();
                let (first, second) = leads.get(account).copied().unwrap_or_default();
                clusters.push([cluster.id.into(), account.into(), first.into(), second.into()]);
            }
        }
        let summaries = summaries_of(c, gathered);
        let mut summary = Rows::new(
            "cluster_summary",
            crate::table_schema(&[
                ("cluster", Int),
                ("size", Int),
                ("edges", Int),
                ("density", Float),
                ("weight", Int),
                ("kinds", Text),
                ("first_seen", Time),
                ("last_seen", Time),
                ("platforms", Text),
                ("top_channels", Text),
                ("top_keys", Text),
                ("leaders", Text),
                ("top_domains", Text),
                ("created_together", Text),
                ("clients", Text),
                ("few_followers", Text),
                ("median_specificity", Float),
                ("shared_keys", Text),
                ("timing_p", Fixed(6)),
                ("timing_lags", Int),
            ]),
        );
        for s in &summaries {
            summary.push([
                s.cluster.into(),
                s.size.into(),
                s.edges.into(),
                s.density.into(),
                s.weight.into(),
                Cell::from(&s.kinds),
                s.seen_us.map(|t| t.0).map_or(Cell::Null, Cell::Time),
                s.seen_us.map(|t| t.1).map_or(Cell::Null, Cell::Time),
                Cell::from(&s.platforms),
                Cell::from(&s.top_channels),
                Cell::from(&s.top_keys),
                Cell::from(&s.leaders),
                Cell::from(&s.top_domains),
                Cell::from(&s.created_together),
                Cell::from(&s.clients),
                Cell::from(&s.few_followers),
                s.median_specificity.into(),
                Cell::from(&s.shared_keys),
                s.timing_p.into(),
                s.timing_lags.into(),
            ]);
        }
        let mut tables = vec![clusters.finish()?, summary.finish()?];
        if !c.sweep.is_empty() {
            let mut sweep = Rows::new(
                "sweep",
                crate::table_schema(&[
                    ("window_s", Int),
                    ("kind", Text),
                    ("edges", Int),
                    ("accounts", Int),
                    ("clusters", Int),
                    ("largest_cluster", Int),
                ]),
            );
            for r in &c.sweep {
                sweep.push([
                    r.window_s.into(),
                    Cell::from(&r.kind),
                    r.edges.into(),
                    r.accounts.into(),
                    r.clusters.into(),
                    r.largest_cluster.into(),
                ]);
            }
            tables.push(sweep.finish()?);
        }
        let mut domains = Rows::new(
            "domains",
            crate::table_schema(&[("channel", Text), ("domain", Text), ("messages", Int), ("shortener", Flag)]),
        );
        for d in &c.channel_domains {
            domains.push([Cell::from(&d.channel), Cell::from(&d.domain), d.messages.into(), d.shortener.into()]);
        }
        tables.push(domains.finish()?);
        Ok((tables, summaries))
    }
}

/// Write every output of `c` into `dir` (created if missing): the tables ([`Coordination::tables`]) as
/// `format`, `network.gexf`, `network.graphml` and `summary.json`, into which `extra` is merged (the command
/// line, the store version). Returns the files written.
pub fn write_outputs(
    c: &Coordination,
    dir: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    write_outputs_with_summaries(c, dir, format, extra).map(|(written, _)| written)
}

/// [`write_outputs`], returning the cluster summaries it wrote too.
pub fn write_outputs_with_summaries(
    c: &Coordination,
    dir: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<(crate::Written, Vec<ClusterSummary>)> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    let timings = crate::timings::Timings::new();
    let (tables, summaries) = c.tables_but_edges()?;
    timings.step("  coordination tables made but the edges");
    let p = &c.params;
    let (graph, edges) = (network_graph(c), NetworkEdges::new(c)?);
    timings.step("  network's nodes and spells gathered");
    let description = format!(
        "echolens coordination network: kinds {}, window {} s, min weight {}, max key accounts {}",
        p.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
        p.window_s,
        p.min_weight,
        p.max_key_accounts
    );
    let (gexf, graphml) = (dir.join("network.gexf"), dir.join("network.graphml"));
    // The tables (edges the largest) are written while the network files are.
    let (files, networks) = rayon::join(
        || -> Result<Vec<std::path::PathBuf>> {
            let mut files = vec![c.write_edges(dir, format)?];
            files.extend(crate::write_tables(&tables, dir, format)?);
            Ok(files)
        },
        || -> Result<()> {
            let (a, b) = rayon::join(
                || graph.save_gexf_with(&edges, &gexf, &description),
                || graph.save_graphml_with(&edges, &graphml),
            );
            a?;
            b
        },
    );
    let mut written = files?;
    networks?;
    timings.step("  edges and networks written");
    if c.sweep.is_empty() {
        crate::remove_table(dir, "sweep", &[crate::TableFormat::Csv, crate::TableFormat::Parquet])?;
    }
    // The contract's order: edges, clusters, cluster_summary, the networks, then the rest.
    written.splice(3..3, [gexf, graphml]);

    let mut summary = c.summary_with(&summaries);
    summary["outputs"] = serde_json::json!(
        written
            .iter()
            .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
            .chain(std::iter::once("summary.json".to_owned()))
            .collect::<Vec<_>>()
    );
    Ok((crate::table::write_summary(dir, written, summary, extra)?, summaries))
}

impl Coordination {
    /// The summary (`summary.json` without the run and the list of files): parameters, the null model, what
    /// the rules left out, edges per kind, clusters, the window estimate.
    pub fn summary(&self) -> Result<serde_json::Value> {
        Ok(self.summary_with(&cluster_summaries(self)?))
    }

    fn summary_with(&self, summaries: &[ClusterSummary]) -> serde_json::Value {
        let c = self;
        let p = &c.params;
        let mut per_kind: BTreeMap<&str, u64> = p.kinds.iter().map(|k| (k.name(), 0)).collect();
        for i in 0..c.edges.len() {
            *per_kind.entry(c.edges.kind(i).name()).or_default() += 1;
        }
        serde_json::json!({
            "analysis": "coordination",
            "parameters": p,
            "null_model": {
                "runs": p.null_runs,
                "method": "each account's timestamps permuted among its own actions of the same kind; \
                           p = (1 + runs with weight >= observed) / (1 + runs)",
                "kinds": p.kinds.iter().filter(|k| **k != Kind::Similar).map(|k| k.name()).collect::<Vec<_>>(),
            },
            "left_out": c.left_out,
            "edges": per_kind,
            "accounts": c.network.accounts.len(),
            "combined_edges": c.network.edges.len(),
            "clusters": c.network.clusters.len(),
            "largest_clusters": summaries.iter().take(10).map(|s| serde_json::json!({
                "cluster": s.cluster, "size": s.size, "edges": s.edges, "kinds": s.kinds,
            })).collect::<Vec<_>>(),
            "unclustered_accounts": c.network.unclustered(),
            "window_estimate": c.window_estimate,
            "window_warning": c.window_estimate.warning(c.params.window_s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spells gathered across parts in any order come back per edge, merged, edge after edge; an edge asked
    /// for after a later part was read is an error, never an empty list.
    #[test]
    fn spells_gathered_in_parts_come_back_merged_edge_by_edge() {
        let (edges, per_part) = (10usize, 3usize);
        let mut parts =
            crate::spill::Parts::in_dir(crate::spill::system_disk().unwrap(), edges.div_ceil(per_part), "test spells");
        let mut expected: Vec<Vec<(i64, i64)>> = vec![Vec::new(); edges];
        // Each of three kinds gives some edges spells, in its own order.
        for kind in 0..3i64 {
            for j in (0..edges).rev().filter(|j| (j + kind as usize).is_multiple_of(2)) {
                let spells: Vec<(i64, i64)> =
                    (0..=kind).map(|s| (j as i64 * 100 + s * 7, j as i64 * 100 + s * 7 + 5)).collect();
                let mut record = vec![j as u64, spells.len() as u64];
                record.extend(spells.iter().flat_map(|&(s, t)| [s as u64, t as u64]));
                parts.extend(j / per_part, &record).unwrap();
                expected[j].extend(spells);
            }
        }
        let mut held = Spells::new(parts, per_part, edges);
        for (j, want) in expected.into_iter().enumerate() {
            let mut got = Vec::new();
            held.get(j, &mut got).unwrap();
            assert_eq!(got, crate::coordination::merge_spells(want), "edge {j}");
        }
        assert!(held.get(0, &mut Vec::new()).is_err());
    }
}
