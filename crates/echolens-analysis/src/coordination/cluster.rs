//! The combined network (every kind's edges summed per account pair) and its Leiden communities.
//!
//! Nodes are numbered in sorted account order and edges added in sorted order, and Leiden runs with a fixed
//! seed, so the same edges give the same clusters whatever order the input came in.

use std::collections::BTreeMap;

use leiden_rs::{GraphDataBuilder, Leiden, LeidenConfig, QualityType};

use super::{Kind, Quality};
use crate::{Error, Result};

/// An edge of the combined network: 32 bytes, its kinds' weights in the network's [`Network::kinds`] (2.24M
/// edges at 53M generated messages held 215 MB with a list of kinds each).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CombinedEdge {
    /// Node index of the smaller account.
    pub a: usize,
    /// Node index of the larger account.
    pub b: usize,
    /// Sum of the kinds' weights.
    pub weight: u64,
    /// The kinds linking the pair, a bit per kind ([`Kind::ALL`]'s order).
    kinds: u8,
    /// Of an edge of several kinds, where their weights start in the network's `kind_weights`.
    at: u32,
}

/// A community of accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// 1 for the largest cluster, then by size.
    pub id: usize,
    /// Node indexes, ascending.
    pub members: Vec<usize>,
}

/// The combined network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    /// Accounts, sorted; a node's index is its position.
    pub accounts: Vec<String>,
    /// Edges, sorted by (a, b).
    pub edges: Vec<CombinedEdge>,
    /// The weights of each edge of several kinds, in kind order (an edge of one kind has its weight).
    kind_weights: Vec<u64>,
    /// The cluster id of each node: from 1, or 0 for an account that is linked but in no cluster (Leiden left
    /// it alone).
    pub cluster_of: Vec<usize>,
    /// Clusters of two accounts or more, largest first.
    pub clusters: Vec<Cluster>,
}

impl Network {
    /// The kinds linking the pair of `e` (an edge of this network) and the weight of each, in kind order.
    pub fn kinds(&self, e: &CombinedEdge) -> impl Iterator<Item = (Kind, u64)> + '_ {
        let e = *e;
        let kinds = Kind::ALL.into_iter().enumerate().filter(move |(i, _)| e.kinds & (1 << i) != 0).map(|(_, k)| k);
        let single = e.kinds.count_ones() == 1;
        kinds.enumerate().map(move |(n, k)| (k, if single { e.weight } else { self.kind_weights[e.at as usize + n] }))
    }

    /// The weight of `kind` on `e` (0 when it links the pair not at all).
    pub fn kind_weight(&self, e: &CombinedEdge, kind: Kind) -> u64 {
        self.kinds(e).find(|(k, _)| *k == kind).map_or(0, |(_, w)| w)
    }

    /// Drops the edges (the report keeps the accounts and clusters).
    pub fn drop_edges(&mut self) {
        self.edges = Vec::new();
        self.kind_weights = Vec::new();
    }

    /// Weighted degree of each node.
    pub fn strength(&self) -> Vec<u64> {
        let mut s = vec![0; self.accounts.len()];
        for e in &self.edges {
            s[e.a] += e.weight;
            s[e.b] += e.weight;
        }
        s
    }

    /// Each account's node index.
    pub fn index(&self) -> std::collections::HashMap<&str, usize> {
        self.accounts.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect()
    }

    /// Accounts in edges that are in no cluster.
    pub fn unclustered(&self) -> usize {
        self.cluster_of.iter().filter(|&&c| c == 0).count()
    }

    /// Degree of each node.
    pub fn degree(&self) -> Vec<u64> {
        let mut d = vec![0; self.accounts.len()];
        for e in &self.edges {
            d[e.a] += 1;
            d[e.b] += 1;
        }
        d
    }
}

/// `kind`'s place in [`Kind::ALL`].
fn kind_bit(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).expect("every kind is in Kind::ALL")
}

/// Build the combined network of `edges` and cluster it.
#[cfg(test)]
pub(super) fn build(edges: &[super::Edge], quality: Quality, resolution: f64, seed: u64) -> Result<Network> {
    build_links(edges.iter().map(|e| (&*e.a, &*e.b, e.kind, e.weight)), quality, resolution, seed)
}

/// [`build`] from each edge's (a, b, kind, weight).
pub(super) fn build_links<'a>(
    links: impl Iterator<Item = (&'a str, &'a str, Kind, u64)> + Clone,
    quality: Quality,
    resolution: f64,
    seed: u64,
) -> Result<Network> {
    // The accounts, deduplicated as they come: every edge's two names at once were 214 MB at 6.7M edges, for
    // 146k accounts.
    let mut names: Vec<&str> = Vec::new();
    let mut dedup_at = 1 << 16;
    for (a, b, _, _) in links.clone() {
        names.extend([a, b]);
        if names.len() >= dedup_at {
            names.sort_unstable();
            names.dedup();
            dedup_at = (2 * names.len()).max(1 << 16);
        }
    }
    names.sort_unstable();
    names.dedup();
    names.shrink_to_fit();
    let index = |s: &str| names.binary_search(&s).expect("account is a node");
    // Every kind's edges of a pair together, kinds in order: (a, b, kind, weight) sorted.
    let mut links: Vec<(u32, u32, Kind, u64)> =
        links.map(|(a, b, kind, w)| (index(a) as u32, index(b) as u32, kind, w)).collect();
    let accounts: Vec<String> = names.into_iter().map(str::to_owned).collect();
    links.sort_unstable();
    let mut edges: Vec<CombinedEdge> = Vec::with_capacity(links.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)).count());
    let mut kind_weights: Vec<u64> = Vec::new();
    let mut kinds: Vec<(Kind, u64)> = Vec::new();
    for pair in links.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
        kinds.clear();
        for &(_, _, kind, w) in pair {
            match kinds.last_mut() {
                Some((k, sum)) if *k == kind => *sum += w,
                _ => kinds.push((kind, w)),
            }
        }
        let mask = kinds.iter().fold(0u8, |m, (k, _)| m | (1 << kind_bit(*k)));
        let at = if kinds.len() > 1 {
            let at = u32::try_from(kind_weights.len())
                .map_err(|_| Error::Internal("the combined network: over 4 billion kinds' weights".into()))?;
            kind_weights.extend(kinds.iter().map(|(_, w)| w));
            at
        } else {
            0
        };
        let (a, b) = (pair[0].0 as usize, pair[0].1 as usize);
        edges.push(CombinedEdge { a, b, weight: kinds.iter().map(|(_, w)| w).sum(), kinds: mask, at });
    }
    kind_weights.shrink_to_fit();
    drop(links);

    let n = accounts.len();
    let mut cluster_of = vec![0; n];
    let mut clusters = Vec::new();
    if n > 0 {
        let mut builder = GraphDataBuilder::new(n);
        for e in &edges {
            builder.add_edge(e.a, e.b, e.weight as f64).map_err(|err| Error::Leiden(err.to_string()))?;
        }
        let graph = builder.build().map_err(|err| Error::Leiden(err.to_string()))?;
        let quality = match quality {
            Quality::Cpm => QualityType::CPM,
            Quality::Modularity => QualityType::Modularity,
        };
        let config = LeidenConfig { resolution, seed: Some(seed), quality, ..LeidenConfig::default() };
        let out = Leiden::new(config).run(&graph).map_err(|err| Error::Leiden(err.to_string()))?;
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for node in 0..n {
            groups.entry(out.partition.community_of(node)).or_default().push(node);
        }
        // An account Leiden leaves alone is linked (its edges stay in the tables) but is not a cluster: it keeps
        // cluster 0, "in no cluster".
        let mut groups: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() >= 2).collect();
        groups.sort_by(|x, y| y.len().cmp(&x.len()).then(x[0].cmp(&y[0])));
        for (i, members) in groups.into_iter().enumerate() {
            for &m in &members {
                cluster_of[m] = i + 1;
            }
            clusters.push(Cluster { id: i + 1, members });
        }
    }
    Ok(Network { accounts, edges, kind_weights, cluster_of, clusters })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::Edge;

    fn edge(a: &str, b: &str, weight: u64) -> Edge {
        edge_of(Kind::Text, a, b, weight)
    }

    fn edge_of(kind: Kind, a: &str, b: &str, weight: u64) -> Edge {
        Edge {
            kind,
            a: a.into(),
            b: b.into(),
            weight,
            first_seen: 0,
            last_seen: 0,
            evidence: Vec::new(),
            evidence_hashes: Vec::new(),
            keys: Vec::new(),
            p_value: None,
            specificity: weight as f64,
            lead: Default::default(),
            spells: Vec::new(),
        }
    }

    /// An account linked too weakly to join the group Leiden finds is in no cluster (0), not a cluster of one;
    /// its edge stays in the network.
    #[test]
    fn an_account_left_alone_is_in_no_cluster() {
        let edges = [edge("a", "b", 10), edge("a", "c", 10), edge("b", "c", 10), edge("c", "d", 1)];
        let net = build(&edges, Quality::Cpm, 1.0, 42).unwrap();
        assert_eq!(net.clusters.len(), 1);
        assert_eq!(net.clusters[0].members, vec![0, 1, 2]);
        assert_eq!(net.cluster_of, vec![1, 1, 1, 0]);
        assert_eq!(net.unclustered(), 1);
        assert_eq!(net.edges.len(), 4);
    }

    /// Each pair's kinds and their weights, whether one kind links it or several.
    #[test]
    fn a_combined_edge_has_its_kinds_weights() {
        let edges = [
            edge_of(Kind::Text, "a", "b", 3),
            edge_of(Kind::Quote, "a", "b", 4),
            edge_of(Kind::Link, "a", "b", 5),
            edge_of(Kind::Hashtag, "b", "c", 7),
            edge_of(Kind::Link, "c", "d", 1),
            edge_of(Kind::Similar, "c", "d", 2),
        ];
        let net = build(&edges, Quality::Cpm, 1.0, 42).unwrap();
        type Pair = (usize, usize, u64, Vec<(Kind, u64)>);
        let kinds: Vec<Pair> = net.edges.iter().map(|e| (e.a, e.b, e.weight, net.kinds(e).collect())).collect();
        assert_eq!(
            kinds,
            vec![
                (0, 1, 12, vec![(Kind::Text, 3), (Kind::Link, 5), (Kind::Quote, 4)]),
                (1, 2, 7, vec![(Kind::Hashtag, 7)]),
                (2, 3, 3, vec![(Kind::Link, 1), (Kind::Similar, 2)]),
            ]
        );
        assert_eq!(net.kind_weight(&net.edges[0], Kind::Quote), 4);
        assert_eq!(net.kind_weight(&net.edges[0], Kind::Hashtag), 0);
        assert_eq!(net.kind_weight(&net.edges[1], Kind::Hashtag), 7);
        assert_eq!(net.kind_weight(&net.edges[2], Kind::Similar), 2);
    }
}
