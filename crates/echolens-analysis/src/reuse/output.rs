//! The reuse outputs (the contract in DESIGN.md): `cascades.csv`, `cascade_summary.csv`, `reuse_network.gexf`
//! and `summary.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use echolens_store::rfc3339;
use serde::Serialize;

use super::{Member, Reuse, Role};
use crate::graph::{AttrType, Graph, Value};
use crate::table::excerpt;
use crate::{Error, Result};

/// One cascade's summary row.
#[derive(Debug, Clone, Serialize)]
pub struct CascadeSummary {
    /// Cascade id.
    pub cascade: usize,
    /// Messages.
    pub size: usize,
    /// Channels reached.
    pub channels: usize,
    /// Platforms reached, space-separated.
    pub platforms: String,
    /// The origin's message key.
    pub origin_key: String,
    /// The origin's channel id.
    pub origin_channel_id: String,
    /// The origin's channel name.
    pub origin_channel_name: String,
    /// The origin's time (RFC 3339).
    pub start: String,
    /// The same, in microseconds since the epoch (the table's typed column).
    #[serde(skip)]
    pub start_us: i64,
    /// Seconds from the origin until half of the channels (rounded up) had it.
    pub half_channels_s: i64,
    /// Seconds from the origin to the last member.
    pub span_s: i64,
    /// Copies (by text).
    pub copies: usize,
    /// Forwards and reposts.
    pub forwards: usize,
    /// Lowest similarity of a member to its parent.
    pub similarity_min: Option<f64>,
    /// Highest similarity of a member to its parent.
    pub similarity_max: Option<f64>,
    /// The start of the origin's text.
    pub excerpt: String,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `summaries` widest first: most channels, then most messages, then the earlier cascade (the order the report
/// lists them in, and the widest cascade's origin a campaign source).
pub fn widest_first(summaries: &mut [CascadeSummary]) {
    summaries.sort_by(|a, b| b.channels.cmp(&a.channels).then(b.size.cmp(&a.size)).then(a.cascade.cmp(&b.cascade)));
}

/// The cascade summaries of a result, by cascade id.
pub fn summaries(r: &Reuse) -> Vec<CascadeSummary> {
    let mut out = Vec::new();
    for members in r.members.chunk_by(|a, b| a.cascade == b.cascade) {
        let origin = &members[0];
        let mut first_at: BTreeMap<&str, i64> = BTreeMap::new();
        let mut platforms: Vec<&str> = Vec::new();
        for m in members {
            let t = first_at.entry(&m.channel_id).or_insert(m.ts);
            *t = (*t).min(m.ts);
            if !platforms.contains(&m.platform.as_str()) {
                platforms.push(&m.platform);
            }
        }
        let mut reached: Vec<i64> = first_at.values().copied().collect();
        reached.sort_unstable();
        let half = reached[reached.len().div_ceil(2) - 1];
        let sims: Vec<f64> = members.iter().filter_map(|m| m.similarity).collect();
        platforms.sort_unstable();
        out.push(CascadeSummary {
            cascade: origin.cascade,
            size: members.len(),
            channels: first_at.len(),
            platforms: platforms.join(" "),
            origin_key: origin.key.clone(),
            origin_channel_id: origin.channel_id.clone(),
            origin_channel_name: origin.channel_name.clone().unwrap_or_default(),
            start: rfc3339(origin.ts),
            start_us: origin.ts,
            half_channels_s: (half - origin.ts) / 1_000_000,
            span_s: (members.iter().map(|m| m.ts).max().unwrap_or(origin.ts) - origin.ts) / 1_000_000,
            copies: members.iter().filter(|m| m.role == Role::Copy).count(),
            forwards: members.iter().filter(|m| m.role == Role::Forward).count(),
            similarity_min: sims.iter().copied().reduce(f64::min).map(round4),
            similarity_max: sims.iter().copied().reduce(f64::max).map(round4),
            excerpt: excerpt(origin.text.as_deref().unwrap_or(""), 160),
        });
    }
    out
}

/// The channel-to-channel reuse network: an edge from the channel a member was copied or forwarded from to the
/// member's channel, weighted by how many times (copies within one channel are not edges).
/// The forward network: a node per channel and per source outside the corpus, an edge from a source to each
/// channel that forwarded it, weighted by forwards.
pub(super) fn forward_network(r: &Reuse) -> Graph {
    // A node: (platform, the channel's id, or the source's name when it is outside the corpus).
    let mut nodes: BTreeMap<(String, String), (String, bool)> = BTreeMap::new();
    for f in &r.forwards {
        let source = f.source_channel_id.clone().unwrap_or_else(|| f.source.clone());
        nodes.entry((f.platform.clone(), source)).or_insert_with(|| (f.source.clone(), f.source_channel_id.is_some()));
        let name = f.channel_name.clone().unwrap_or_else(|| f.channel_id.clone());
        nodes.insert((f.platform.clone(), f.channel_id.clone()), (name, true));
    }
    let index: HashMap<&(String, String), usize> = nodes.keys().enumerate().map(|(i, k)| (k, i)).collect();
    Graph {
        node_attrs: vec![("platform".into(), AttrType::String), ("in_corpus".into(), AttrType::String)],
        edge_attrs: vec![("first_forward".into(), AttrType::String)],
        nodes: nodes
            .iter()
            .map(|((platform, _), (label, inside))| {
                (label.clone(), vec![Value::Text(platform.clone()), Value::Text(inside.to_string())])
            })
            .collect(),
        edges: r
            .forwards
            .iter()
            .map(|f| {
                let source = (f.platform.clone(), f.source_channel_id.clone().unwrap_or_else(|| f.source.clone()));
                let target = (f.platform.clone(), f.channel_id.clone());
                (index[&source], index[&target], f.forwards as f64, vec![Value::Text(rfc3339(f.first))])
            })
            .collect(),
        directed: true,
        edge_spells: Vec::new(),
    }
}

pub(super) fn reuse_network(r: &Reuse) -> Graph {
    let by_key: HashMap<&str, &Member> = r.members.iter().map(|m| (m.key.as_str(), m)).collect();
    // A channel is (platform, channel_id).
    type Channel = (String, String);
    let mut nodes: BTreeMap<Channel, (String, u64, u64, u64)> = BTreeMap::new();
    let mut edges: BTreeMap<(Channel, Channel), (u64, u64)> = BTreeMap::new();
    let node = |m: &Member| (m.platform.clone(), m.channel_id.clone());
    for m in &r.members {
        let e = nodes.entry(node(m)).or_insert_with(|| (m.channel_name.clone().unwrap_or_default(), 0, 0, 0));
        if m.role == Role::Origin {
            e.3 += 1;
        }
        let Some(parent) = m.parent_key.as_deref().and_then(|k| by_key.get(k)) else { continue };
        if parent.channel_id == m.channel_id && parent.platform == m.platform {
            continue;
        }
        let w = edges.entry((node(parent), node(m))).or_default();
        w.0 += 1;
        if m.role == Role::Forward {
            w.1 += 1;
        }
    }
    for ((from, to), (n, _)) in &edges {
        nodes.get_mut(from).expect("node").1 += n;
        nodes.get_mut(to).expect("node").2 += n;
    }
    let index: HashMap<&(String, String), usize> = nodes.keys().enumerate().map(|(i, k)| (k, i)).collect();
    Graph {
        node_attrs: vec![
            ("platform".into(), AttrType::String),
            ("channel_id".into(), AttrType::String),
            ("copied_from_here".into(), AttrType::Integer),
            ("copied_into_here".into(), AttrType::Integer),
            ("origins".into(), AttrType::Integer),
        ],
        edge_attrs: vec![("forwards".into(), AttrType::Integer)],
        nodes: nodes
            .iter()
            .map(|((platform, id), (name, out, inn, origins))| {
                let label = if name.is_empty() { format!("{platform}:{id}") } else { name.clone() };
                (
                    label,
                    vec![
                        Value::Text(platform.clone()),
                        Value::Text(id.clone()),
                        Value::Int(*out as i64),
                        Value::Int(*inn as i64),
                        Value::Int(*origins as i64),
                    ],
                )
            })
            .collect(),
        edges: edges
            .iter()
            .map(|((from, to), (n, fw))| (index[from], index[to], *n as f64, vec![Value::Int(*fw as i64)]))
            .collect(),
        directed: true,
        edge_spells: Vec::new(),
    }
}

impl Reuse {
    /// The tables: `cascades` (one row per member) and `cascade_summary` (one row per cascade).
    pub fn tables(&self) -> Result<Vec<crate::Table>> {
        use crate::Col::*;
        use crate::{Cell, Rows};
        let mut cascades = Rows::new(
            "cascades",
            crate::table_schema(&[
                ("cascade", Int),
                ("key", Text),
                ("channel_id", Text),
                ("channel_name", Text),
                ("author_id", Text),
                ("ts", Time),
                ("role", Text),
                ("parent_key", Text),
                ("similarity", Fixed(4)),
            ]),
        );
        for m in &self.members {
            cascades.push([
                m.cascade.into(),
                Cell::from(&m.key),
                Cell::from(&m.channel_id),
                m.channel_name.as_ref().into(),
                m.author_id.as_ref().into(),
                Cell::Time(m.ts),
                m.role.name().into(),
                m.parent_key.as_ref().into(),
                m.similarity.map(round4).into(),
            ]);
        }
        let mut summary = Rows::new(
            "cascade_summary",
            crate::table_schema(&[
                ("cascade", Int),
                ("size", Int),
                ("channels", Int),
                ("platforms", Text),
                ("origin_key", Text),
                ("origin_channel_id", Text),
                ("origin_channel_name", Text),
                ("start", Time),
                ("half_channels_s", Int),
                ("span_s", Int),
                ("copies", Int),
                ("forwards", Int),
                ("similarity_min", Float),
                ("similarity_max", Float),
                ("excerpt", Text),
            ]),
        );
        for s in summaries(self) {
            summary.push([
                s.cascade.into(),
                s.size.into(),
                s.channels.into(),
                Cell::from(&s.platforms),
                Cell::from(&s.origin_key),
                Cell::from(&s.origin_channel_id),
                Cell::from(&s.origin_channel_name),
                Cell::Time(s.start_us),
                s.half_channels_s.into(),
                s.span_s.into(),
                s.copies.into(),
                s.forwards.into(),
                s.similarity_min.into(),
                s.similarity_max.into(),
                Cell::from(&s.excerpt),
            ]);
        }
        let mut forwards = Rows::new(
            "forwards",
            crate::table_schema(&[
                ("platform", Text),
                ("source", Text),
                ("source_channel_id", Text),
                ("channel_id", Text),
                ("channel_name", Text),
                ("forwards", Int),
                ("first_forward", Time),
                ("last_forward", Time),
                ("evidence", Text),
            ]),
        );
        for f in &self.forwards {
            forwards.push([
                Cell::from(&f.platform),
                Cell::from(&f.source),
                f.source_channel_id.as_ref().into(),
                Cell::from(&f.channel_id),
                f.channel_name.as_ref().into(),
                f.forwards.into(),
                Cell::Time(f.first),
                Cell::Time(f.last),
                Cell::from(&f.evidence.join(";")),
            ]);
        }
        Ok(vec![cascades.finish()?, summary.finish()?, forwards.finish()?])
    }

    /// The summary (`summary.json` without the run): parameters, counts, the channels' boilerplate.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "analysis": "reuse",
            "parameters": self.params,
            "counts": self.counts,
            "boilerplate_channels": self.boilerplate.iter().take(50).collect::<Vec<_>>(),
        })
    }
}

/// Write the outputs under `dir` (created if missing): the tables ([`Reuse::tables`]) as `format`,
/// `reuse_network.gexf` and `summary.json`, into which `extra` goes beside the parameters and counts.
pub fn write_outputs(
    r: &Reuse,
    dir: &Path,
    format: crate::TableFormat,
    extra: serde_json::Value,
) -> Result<crate::Written> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    let mut written = crate::write_tables(&r.tables()?, dir, format)?;
    let path = dir.join("reuse_network.gexf");
    reuse_network(r).save_gexf(&path, "echolens reuse: who copies whom (channel to channel)")?;
    written.push(path);
    let path = dir.join("forward_network.gexf");
    forward_network(r).save_gexf(&path, "echolens forwards: which channels forward from which sources")?;
    written.push(path);
    let mut summary = r.summary();
    summary["run"] = extra;
    crate::table::write_summary(dir, written, summary, serde_json::Value::Null)
}
