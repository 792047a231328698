//! The edges of a run while it runs. The filters, the null model, clustering and the sweep need of an edge only
//! its kind, accounts, weight and specificity ([`Core`], 56 bytes); its times, lead, keys, spells and evidence
//! wait in a spill file in the order the edges were folded ([`Folding`]), and at the run's end the kept ones
//! are copied in the result's order into the result's [`Edges`].

use std::collections::HashSet;

use datafusion::prelude::SessionContext;

use super::edges::{Builder, Detail, Edges, EvidenceKeys, Head, Names, record};
use super::{AccountName, Edge, Kind};
use crate::spill::Records;
use crate::{Error, Result};

/// What a run's later steps need of an edge: what the result holds of it too.
pub(super) type Core = Head;

/// Every kept edge's (kind, shared key), and the message hashes of its evidence.
pub(super) type KeysAndEvidence = (HashSet<(Kind, i64)>, HashSet<i64>);

/// Edges folded so far: their cores in memory, the rest of each in a spill file.
pub(super) struct Folding {
    names: Names,
    /// One per edge kept; [`Folding::sort`] puts them in the result's order.
    pub cores: Vec<Core>,
    detail: Records,
    words: Vec<u64>,
}

impl Folding {
    pub(super) fn new(ctx: &SessionContext) -> Result<Folding> {
        Ok(Folding {
            names: Names::default(),
            cores: Vec::new(),
            detail: Records::new(ctx, "coordination edges folded")?,
            words: Vec::new(),
        })
    }

    /// The account at place `i`.
    pub(super) fn name(&self, i: u32) -> &AccountName {
        &self.names.names[i as usize]
    }

    /// Adds `e`, whose evidence is still message hashes (`evidence` empty).
    pub(super) fn push(&mut self, e: Edge) -> Result<()> {
        if !e.evidence.is_empty() {
            return Err(Error::Internal("coordination: an edge was folded with its evidence resolved".into()));
        }
        let (a, b) = (self.names.place(&e.a), self.names.place(&e.b));
        record(&e, &e.evidence_hashes, &mut self.words);
        self.cores.push(Head::of(&e, a, b).written(&mut self.detail, &self.words)?);
        Ok(())
    }

    /// Orders the cores as the result lists its edges: by kind, then the accounts' names.
    pub(super) fn sort(&mut self) {
        let names = &self.names.names;
        self.cores.sort_unstable_by(|x, y| {
            (x.kind, &names[x.a as usize], &names[x.b as usize]).cmp(&(
                y.kind,
                &names[y.a as usize],
                &names[y.b as usize],
            ))
        });
    }

    /// Reads the kept edges' records in the order written (the others passed over), handing each to `f` with
    /// its core.
    fn each(&mut self, mut f: impl FnMut(&Core, Detail) -> Result<()>) -> Result<()> {
        let mut order: Vec<usize> = (0..self.cores.len()).collect();
        order.sort_unstable_by_key(|&i| self.cores[i].at);
        let (mut reader, mut at) = (self.detail.read()?, 0);
        for i in order {
            let core = &self.cores[i];
            reader.skip(core.at - at)?;
            reader.words(core.len as usize, &mut self.words)?;
            at = core.at + u64::from(core.len);
            f(core, Detail::of(&self.words)?)?;
        }
        Ok(())
    }

    /// Every kept edge's shared keys that can have a label, with its kind, and the message hashes of its
    /// evidence: one pass. `similar`'s keys (a hash per pair of messages, millions at 50M messages) have none.
    pub(super) fn keys_and_evidence(&mut self) -> Result<KeysAndEvidence> {
        let (mut keys, mut evidence) = (HashSet::new(), HashSet::new());
        self.each(|core, d| {
            if core.kind != Kind::Similar {
                keys.extend(d.keys.iter().map(|&k| (core.kind, k)));
            }
            evidence.extend(d.evidence.iter().flat_map(|&(x, y)| [x, y]));
            Ok(())
        })?;
        Ok((keys, evidence))
    }

    /// The result's edges: the kept ones, their records copied into a file in the cores' order (so that they
    /// are read in order), their evidence hashes resolved through `keys`.
    pub(super) fn into_edges(mut self, ctx: &SessionContext, keys: EvidenceKeys) -> Result<Edges> {
        // Each core becomes its edge's head where it lies: a second vector of them beside the first was the
        // run's peak (6.7M edges, 0.5 GB, at 53M messages).
        let mut heads = std::mem::take(&mut self.cores);
        let mut file = Records::new(ctx, "coordination edges")?;
        for h in &mut heads {
            self.detail.read_at(h.at, h.len as usize, &mut self.words)?;
            *h = h.written(&mut file, &self.words)?;
        }
        Builder::written(heads, file).finish(std::mem::take(&mut self.names.names), keys)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::coordination::Lead;

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
        // Drop every fourth (edge n weighs n), test one, and sort.
        folding.cores.retain(|c| c.weight % 4 != 0);
        folding.cores[0].p = 0.25;
        let tested = folding.cores[0].weight;
        folding.sort();
        let (keys, hashes) = folding.keys_and_evidence().unwrap();
        let mut resolved = EvidenceKeys::default();
        for &h in &hashes {
            resolved.push(h, &format!("m{h}"));
        }
        let edges = folding.into_edges(&ctx, resolved).unwrap().to_vec().unwrap();
        let mut expected: Vec<Edge> = all.into_iter().enumerate().filter(|(i, _)| i % 4 != 0).map(|(_, e)| e).collect();
        expected.iter_mut().find(|e| e.weight == tested).unwrap().p_value = Some(0.25);
        expected.sort_by(|x, y| (x.kind, &x.a, &x.b).cmp(&(y.kind, &y.a, &y.b)));
        for e in &mut expected {
            e.evidence = e
                .evidence_hashes
                .iter()
                .map(|&(x, y)| (Arc::from(format!("m{x}")), Arc::from(format!("m{y}"))))
                .collect();
            e.evidence_hashes = Vec::new();
        }
        assert_eq!(edges.len(), expected.len());
        for (got, want) in edges.iter().zip(&expected) {
            assert_eq!(got, want);
        }
        // The keys that can have a label: not `similar`'s.
        let want_keys: HashSet<(Kind, i64)> = expected
            .iter()
            .filter(|e| e.kind != Kind::Similar)
            .flat_map(|e| e.keys.iter().map(|&k| (e.kind, k)))
            .collect();
        assert!(!want_keys.is_empty() && expected.iter().any(|e| e.kind == Kind::Similar && !e.keys.is_empty()));
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
