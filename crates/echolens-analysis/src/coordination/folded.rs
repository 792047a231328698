//! The edges of a run while it runs. The filters, the null model, clustering and the sweep need of an edge only
//! its kind, accounts, weight and specificity ([`Core`], 40 bytes); its times, lead, keys, spells and evidence
//! are needed at the run's end, so they wait in a spill file in the order the edges were folded ([`Folding`]).
//! Held whole, an edge is about 450 bytes (6.7M edges at 53M generated messages: 2.9 GB under every later step).

use std::collections::{HashMap, HashSet};

use datafusion::prelude::SessionContext;

use super::{AccountName, Edge, Kind, Lead};
use crate::spill::{Reader, Records};
use crate::{Error, Result};

/// What a run's later steps need of an edge.
#[derive(Debug, Clone, Copy)]
pub(super) struct Core {
    pub specificity: f64,
    pub weight: u64,
    /// The empirical p-value (NaN until the null model gives one).
    pub p: f64,
    /// The accounts, as places in [`Folding::name`]'s list.
    pub a: u32,
    pub b: u32,
    /// The edge's record: its place in the order folded.
    pub pos: u32,
    pub kind: Kind,
}

/// Edges folded so far: their cores in memory, the rest of each in a spill file.
pub(super) struct Folding {
    names: Vec<AccountName>,
    index: HashMap<AccountName, u32>,
    /// One per edge kept; [`Folding::sort`] puts them in the result's order.
    pub cores: Vec<Core>,
    /// Records pushed (kept or not).
    records: u32,
    detail: Records,
    words: Vec<u64>,
}

/// `Lead::median_lag_s` absent (the bits of a NaN no median computes).
const NO_MEDIAN: u64 = u64::MAX;

impl Folding {
    pub(super) fn new(ctx: &SessionContext) -> Result<Folding> {
        Ok(Folding {
            names: Vec::new(),
            index: HashMap::new(),
            cores: Vec::new(),
            records: 0,
            detail: Records::new(ctx, "coordination edges")?,
            words: Vec::new(),
        })
    }

    fn intern(&mut self, name: &AccountName) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.clone());
        self.index.insert(name.clone(), i);
        i
    }

    /// The account at place `i`.
    pub(super) fn name(&self, i: u32) -> &AccountName {
        &self.names[i as usize]
    }

    /// Adds `e`, whose evidence is still message hashes (`evidence` empty).
    pub(super) fn push(&mut self, e: Edge) -> Result<()> {
        if !e.evidence.is_empty() {
            return Err(Error::Internal("coordination: an edge was folded with its evidence resolved".into()));
        }
        let pos = self.records;
        self.records = pos
            .checked_add(1)
            .ok_or_else(|| Error::Internal("coordination: more than 2^32 edges in one run".into()))?;
        let (a, b) = (self.intern(&e.a), self.intern(&e.b));
        self.cores.push(Core { specificity: e.specificity, weight: e.weight, p: f64::NAN, a, b, pos, kind: e.kind });
        let w = &mut self.words;
        w.clear();
        let lead = e.lead;
        w.extend([e.first_seen as u64, e.last_seen as u64, lead.a_first, lead.b_first, lead.ties]);
        w.extend([lead.median_lag_s.map_or(NO_MEDIAN, f64::to_bits), lead.lag_shares.to_bits()]);
        w.push(e.keys.len() as u64);
        w.extend(e.keys.iter().map(|&k| k as u64));
        for pairs in [&e.spells, &e.evidence_hashes] {
            w.push(pairs.len() as u64);
            w.extend(pairs.iter().flat_map(|&(x, y)| [x as u64, y as u64]));
        }
        self.detail.push(&self.words)
    }

    /// Orders the cores as the result lists its edges: by kind, then the accounts' names.
    pub(super) fn sort(&mut self) {
        let names = &self.names;
        self.cores.sort_unstable_by(|x, y| {
            (x.kind, &names[x.a as usize], &names[x.b as usize]).cmp(&(
                y.kind,
                &names[y.a as usize],
                &names[y.b as usize],
            ))
        });
    }

    /// For each record, the place of its core (`u32::MAX`: dropped).
    fn places(&self) -> Vec<u32> {
        let mut place = vec![u32::MAX; self.records as usize];
        for (i, c) in self.cores.iter().enumerate() {
            place[c.pos as usize] = i as u32;
        }
        place
    }

    /// Reads every record in order, handing each kept one to `f` with its core.
    fn each(&mut self, mut f: impl FnMut(&Core, Detail) -> Result<()>) -> Result<()> {
        let place = self.places();
        let mut reader = self.detail.read()?;
        for &p in &place {
            let detail = Detail::read(&mut reader)?;
            if let Some(core) = self.cores.get(p as usize) {
                f(core, detail)?;
            }
        }
        if !reader.done() {
            return Err(Error::Internal("coordination: the edges' file holds more than was read".into()));
        }
        Ok(())
    }

    /// Every kept edge's shared keys, with its kind.
    pub(super) fn keys(&mut self) -> Result<HashSet<(Kind, i64)>> {
        let mut out = HashSet::new();
        self.each(|core, d| {
            out.extend(d.keys.iter().map(|&k| (core.kind, k)));
            Ok(())
        })?;
        Ok(out)
    }

    /// The kept edges whole, in the cores' order, their evidence still message hashes.
    pub(super) fn into_edges(mut self) -> Result<Vec<Edge>> {
        // Read in the order folded, then put in place by swaps: one list of edges, never two (a list of slots
        // collected into a new list held both at once: 1.7 against 1.3 GB at 10.7M messages).
        let mut edges: Vec<Edge> = Vec::with_capacity(self.cores.len());
        let mut target: Vec<u32> = Vec::with_capacity(self.cores.len());
        let place = self.places();
        let names = std::mem::take(&mut self.names);
        self.each(|core, d| {
            target.push(place[core.pos as usize]);
            edges.push(Edge {
                kind: core.kind,
                a: names[core.a as usize].clone(),
                b: names[core.b as usize].clone(),
                weight: core.weight,
                first_seen: d.first_seen,
                last_seen: d.last_seen,
                evidence: Vec::new(),
                evidence_hashes: d.evidence_hashes,
                keys: d.keys,
                p_value: (!core.p.is_nan()).then_some(core.p),
                specificity: core.specificity,
                lead: d.lead,
                spells: d.spells,
            });
            Ok(())
        })?;
        for i in 0..edges.len() {
            while target[i] as usize != i {
                let t = target[i] as usize;
                edges.swap(i, t);
                target.swap(i, t);
            }
        }
        Ok(edges)
    }
}

/// An edge's record.
struct Detail {
    first_seen: i64,
    last_seen: i64,
    lead: Lead,
    keys: Vec<i64>,
    spells: Vec<(i64, i64)>,
    evidence_hashes: Vec<(i64, i64)>,
}

impl Detail {
    fn read(r: &mut Reader) -> Result<Detail> {
        let (first_seen, last_seen) = (r.word()? as i64, r.word()? as i64);
        let (a_first, b_first, ties) = (r.word()?, r.word()?, r.word()?);
        let median = r.word()?;
        let lag_shares = f64::from_bits(r.word()?);
        let lead = Lead {
            a_first,
            b_first,
            ties,
            median_lag_s: (median != NO_MEDIAN).then(|| f64::from_bits(median)),
            lag_shares,
        };
        let n = r.count()?;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push(r.word()? as i64);
        }
        let mut pairs = || -> Result<Vec<(i64, i64)>> {
            let n = r.count()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push((r.word()? as i64, r.word()? as i64));
            }
            Ok(out)
        };
        let spells = pairs()?;
        let evidence_hashes = pairs()?;
        Ok(Detail { first_seen, last_seen, lead, keys, spells, evidence_hashes })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn edge(kind: Kind, a: &str, b: &str, n: i64) -> Edge {
        Edge {
            kind,
            a: Arc::from(a),
            b: Arc::from(b),
            weight: n as u64,
            first_seen: -n,
            last_seen: n * 1_000_003,
            evidence: Vec::new(),
            evidence_hashes: (0..n).map(|i| (i, -i - 1)).collect(),
            keys: (0..n).map(|i| i * 7 - 3).collect(),
            p_value: None,
            specificity: n as f64 / 3.0,
            lead: Lead::of((0..n).map(|i| i - 1), 60_000_000),
            spells: (0..n % 3).map(|i| (i, i + n)).collect(),
        }
    }

    #[test]
    fn the_edges_kept_come_back_whole_in_the_result_order() {
        let ctx = SessionContext::new();
        let mut folding = Folding::new(&ctx).unwrap();
        let mut all = Vec::new();
        for n in 0..500i64 {
            let kind = [Kind::Link, Kind::Text, Kind::Similar][(n % 3) as usize];
            let e = edge(kind, &format!("x:{}", n % 17), &format!("y:{}", n % 11), n);
            all.push(e.clone());
            folding.push(e).unwrap();
        }
        // Drop every fourth, test one, and sort.
        folding.cores.retain(|c| c.pos % 4 != 0);
        folding.cores[0].p = 0.25;
        let tested = folding.cores[0].pos;
        folding.sort();
        let keys = folding.keys().unwrap();
        let edges = folding.into_edges().unwrap();
        let mut expected: Vec<Edge> = all.into_iter().enumerate().filter(|(i, _)| i % 4 != 0).map(|(_, e)| e).collect();
        expected[tested as usize - tested as usize / 4 - 1].p_value = Some(0.25);
        expected.sort_by(|x, y| (x.kind, &x.a, &x.b).cmp(&(y.kind, &y.a, &y.b)));
        assert_eq!(edges.len(), expected.len());
        for (got, want) in edges.iter().zip(&expected) {
            assert_eq!(got, want);
        }
        let want_keys: HashSet<(Kind, i64)> =
            expected.iter().flat_map(|e| e.keys.iter().map(|&k| (e.kind, k))).collect();
        assert_eq!(keys, want_keys);
    }

    #[test]
    fn an_edge_with_resolved_evidence_is_refused() {
        let ctx = SessionContext::new();
        let mut folding = Folding::new(&ctx).unwrap();
        let mut e = edge(Kind::Link, "x:1", "x:2", 2);
        e.evidence = vec![(Arc::from("k1"), Arc::from("k2"))];
        assert!(folding.push(e).is_err());
    }
}
