//! A coordination result's edges. Memory holds what the tables, the summaries and the report pick edges by
//! (kind, accounts, weight, specificity, first time, p-value: [`Edges::kind`] and the like, about 56 bytes an
//! edge); the rest of each edge (last time, lead, keys, spells, evidence) is in a spill file in the result's
//! order, and an edge is made whole when it is read ([`Edges::iter`] in order, [`Edges::get`] by position).
//! Held whole, an edge is about 450 bytes: 6.7M edges at 53M generated messages were 2.9 GB.

use std::collections::HashMap;
use std::sync::Arc;

use super::{AccountName, Edge, Kind, Lead, MessageKey};
use crate::spill::{Reader, Records, Written};
use crate::{Error, Result};

/// What memory holds of an edge.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head {
    pub specificity: f64,
    pub weight: u64,
    pub first_seen: i64,
    /// NaN: not tested.
    pub p: f64,
    /// Its record: where it starts and its length, in words.
    pub at: u64,
    pub len: u32,
    /// The accounts, as places in the names.
    pub a: u32,
    pub b: u32,
    pub kind: Kind,
}

/// The edges of a result, sorted by kind, then accounts.
#[derive(Clone, Default)]
pub struct Edges {
    names: Vec<AccountName>,
    heads: Vec<Head>,
    file: Option<Written>,
    /// The evidence's message keys, by the hash the records hold.
    keys: Arc<EvidenceKeys>,
}

/// The message keys of the edges' evidence, by the hash the edges' records hold, each key one shared string,
/// which every edge read back quotes without copying it (edges are read whole several times while the tables
/// and the network files are written: a hash table, not a binary search, finds them).
#[derive(Debug, Clone, Default)]
pub struct EvidenceKeys {
    keys: HashMap<i64, MessageKey>,
}

impl EvidenceKeys {
    /// Adds `key` under `hash`; a hash added again keeps its first key.
    pub(super) fn push(&mut self, hash: i64, key: &str) {
        self.keys.entry(hash).or_insert_with(|| Arc::from(key));
    }

    /// The key under `hash`.
    pub fn get(&self, hash: i64) -> Option<&MessageKey> {
        self.keys.get(&hash)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// These keys, each renamed by `f`.
    fn renamed(&self, mut f: impl FnMut(&str) -> String) -> EvidenceKeys {
        EvidenceKeys { keys: self.keys.iter().map(|(hash, key)| (*hash, Arc::from(f(key)))).collect() }
    }

    /// Frees what the keys do not use.
    pub(super) fn shrink_to_fit(&mut self) {
        self.keys.shrink_to_fit();
    }
}

impl std::fmt::Debug for Edges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Edges({})", self.heads.len())
    }
}

/// An edge's record: first and last time, lead, keys, spells, evidence hashes, as `u64` words.
pub(super) fn record(e: &Edge, evidence: &[(i64, i64)], out: &mut Vec<u64>) {
    out.clear();
    let lead = e.lead;
    out.extend([e.first_seen as u64, e.last_seen as u64, lead.a_first, lead.b_first, lead.ties]);
    out.extend([lead.median_lag_s.map_or(NO_MEDIAN, f64::to_bits), lead.lag_shares.to_bits()]);
    out.push(e.keys.len() as u64);
    out.extend(e.keys.iter().map(|&k| k as u64));
    for pairs in [&e.spells[..], evidence] {
        out.push(pairs.len() as u64);
        out.extend(pairs.iter().flat_map(|&(x, y)| [x as u64, y as u64]));
    }
}

/// A head's p-value (NaN: none).
fn p_value(h: &Head) -> Option<f64> {
    (!h.p.is_nan()).then_some(h.p)
}

/// `Lead::median_lag_s` absent (the bits of a NaN no median computes).
const NO_MEDIAN: u64 = u64::MAX;

/// A record read back: what [`record`] wrote.
pub(super) struct Detail {
    pub first_seen: i64,
    pub last_seen: i64,
    pub lead: Lead,
    pub keys: Vec<i64>,
    pub spells: Vec<(i64, i64)>,
    pub evidence: Vec<(i64, i64)>,
}

impl Detail {
    /// The record in `words`, which must be all of it.
    pub(super) fn of(words: &[u64]) -> Result<Detail> {
        let mut rest = words;
        let mut take = |n: usize| -> Result<&[u64]> {
            if n > rest.len() {
                return Err(Error::Internal("coordination: an edge's record ends early".into()));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let fixed = take(7)?;
        let lead = Lead {
            a_first: fixed[2],
            b_first: fixed[3],
            ties: fixed[4],
            median_lag_s: (fixed[5] != NO_MEDIAN).then(|| f64::from_bits(fixed[5])),
            lag_shares: f64::from_bits(fixed[6]),
        };
        let (first_seen, last_seen) = (fixed[0] as i64, fixed[1] as i64);
        let n = take(1)?[0] as usize;
        let keys = take(n)?.iter().map(|&k| k as i64).collect();
        let mut pairs = || -> Result<Vec<(i64, i64)>> {
            let n = take(1)?[0] as usize;
            Ok(take(n.saturating_mul(2))?.chunks_exact(2).map(|p| (p[0] as i64, p[1] as i64)).collect())
        };
        let spells = pairs()?;
        let evidence = pairs()?;
        if !rest.is_empty() {
            return Err(Error::Internal("coordination: an edge's record is longer than it says".into()));
        }
        Ok(Detail { first_seen, last_seen, lead, keys, spells, evidence })
    }
}

/// Account names, each once, by place.
#[derive(Default)]
pub(super) struct Names {
    pub names: Vec<AccountName>,
    places: HashMap<AccountName, u32>,
}

impl Names {
    /// The place of `name`, added if new.
    pub(super) fn place(&mut self, name: &AccountName) -> u32 {
        if let Some(&i) = self.places.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.clone());
        self.places.insert(name.clone(), i);
        i
    }
}

impl Head {
    /// `e`'s head, its accounts at places `a` and `b` (where its record is: set when it is written).
    pub(super) fn of(e: &Edge, a: u32, b: u32) -> Head {
        Head {
            specificity: e.specificity,
            weight: e.weight,
            first_seen: e.first_seen,
            p: e.p_value.unwrap_or(f64::NAN),
            at: 0,
            len: 0,
            a,
            b,
            kind: e.kind,
        }
    }

    /// The head with its record, `words`, appended to `file`.
    pub(super) fn written(mut self, file: &mut Records, words: &[u64]) -> Result<Head> {
        self.len = u32::try_from(words.len())
            .map_err(|_| Error::Internal("coordination: an edge's record over 2^32 words".into()))?;
        self.at = file.push(words)?;
        Ok(self)
    }
}

impl Edges {
    /// `edges` as a result holds them (in the order given), their records in the system's temporary
    /// directory.
    pub fn from_vec(edges: Vec<Edge>) -> Result<Edges> {
        let disk = crate::spill::system_disk()?;
        let mut names = Names::default();
        // Each key numbered by its first sight.
        let (mut keys, mut ids) = (EvidenceKeys::default(), HashMap::<MessageKey, i64>::new());
        let mut id = |key: &MessageKey| {
            let next = ids.len() as i64;
            *ids.entry(key.clone()).or_insert_with(|| {
                keys.push(next, key);
                next
            })
        };
        let mut words = Vec::new();
        let mut out = Builder::new(Records::in_dir(&disk, "coordination edges")?);
        for e in &edges {
            let evidence: Vec<(i64, i64)> = e.evidence.iter().map(|(x, y)| (id(x), id(y))).collect();
            record(e, &evidence, &mut words);
            out.push(Head::of(e, names.place(&e.a), names.place(&e.b)), &words)?;
        }
        out.finish(names.names, keys)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Edge `i`'s kind.
    pub fn kind(&self, i: usize) -> Kind {
        self.heads[i].kind
    }

    /// Edge `i`'s accounts (`a`, `b`).
    pub fn accounts(&self, i: usize) -> (&AccountName, &AccountName) {
        let h = &self.heads[i];
        (&self.names[h.a as usize], &self.names[h.b as usize])
    }

    /// Edge `i`'s weight.
    pub fn weight(&self, i: usize) -> u64 {
        self.heads[i].weight
    }

    /// Edge `i`'s specificity.
    pub fn specificity(&self, i: usize) -> f64 {
        self.heads[i].specificity
    }

    /// Edge `i`'s first time (µs).
    pub fn first_seen(&self, i: usize) -> i64 {
        self.heads[i].first_seen
    }

    /// Edge `i`'s p-value.
    pub fn p_value(&self, i: usize) -> Option<f64> {
        p_value(&self.heads[i])
    }

    fn whole(&self, h: &Head, d: Detail) -> Edge {
        let key = |h: i64| -> MessageKey { self.keys.get(h).cloned().unwrap_or_else(|| Arc::from("")) };
        Edge {
            kind: h.kind,
            a: self.names[h.a as usize].clone(),
            b: self.names[h.b as usize].clone(),
            weight: h.weight,
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            evidence: d.evidence.iter().map(|&(x, y)| (key(x), key(y))).collect(),
            evidence_hashes: Vec::new(),
            keys: d.keys,
            p_value: p_value(h),
            specificity: h.specificity,
            lead: d.lead,
            spells: d.spells,
        }
    }

    fn file(&self) -> Result<&Written> {
        self.file.as_ref().ok_or_else(|| Error::Internal("coordination: edges without their file".into()))
    }

    /// Edge `i`, whole.
    pub fn get(&self, i: usize) -> Result<Edge> {
        let h = self.heads[i];
        let mut words = Vec::with_capacity(h.len as usize);
        self.file()?.read_at(h.at, h.len as usize, &mut words)?;
        Ok(self.whole(&h, Detail::of(&words)?))
    }

    /// Every edge, whole, in order, read from the file as they come.
    pub fn iter(&self) -> Iter<'_> {
        Iter { edges: self, next: 0, reader: None, at: 0, words: Vec::new() }
    }

    /// Every edge, whole, in one list (for small results and tests: a large result's edges do not belong in
    /// memory at once).
    pub fn to_vec(&self) -> Result<Vec<Edge>> {
        self.iter().collect()
    }

    /// Renames every account with `f` (once per account).
    pub fn rename_accounts(&mut self, mut f: impl FnMut(&AccountName) -> AccountName) {
        for name in &mut self.names {
            *name = f(name);
        }
    }

    /// Renames every message key of the evidence with `f` (once per key).
    pub fn rename_evidence(&mut self, f: impl FnMut(&str) -> String) {
        self.keys = Arc::new(self.keys.renamed(f));
    }
}

/// The edges in order, each made whole as it is read ([`Edges::iter`]).
pub struct Iter<'a> {
    edges: &'a Edges,
    next: usize,
    reader: Option<Reader>,
    /// Where the reader is, in words.
    at: u64,
    words: Vec<u64>,
}

impl Iterator for Iter<'_> {
    type Item = Result<Edge>;

    fn next(&mut self) -> Option<Result<Edge>> {
        let h = *self.edges.heads.get(self.next)?;
        self.next += 1;
        Some(self.read(&h))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.edges.heads.len() - self.next;
        (left, Some(left))
    }
}

impl Iter<'_> {
    fn read(&mut self, h: &Head) -> Result<Edge> {
        if self.reader.is_none() {
            self.reader = Some(self.edges.file()?.read()?);
            self.at = 0;
        }
        let reader = self.reader.as_mut().expect("opened above");
        // The records are in order; a reader skips what it is not asked for.
        if h.at < self.at {
            return Err(Error::Internal("coordination: the edges' records are out of order".into()));
        }
        reader.skip(h.at - self.at)?;
        reader.words(h.len as usize, &mut self.words)?;
        self.at = h.at + u64::from(h.len);
        Ok(self.edges.whole(h, Detail::of(&self.words)?))
    }
}

/// Builds a result's [`Edges`] from edges in the result's order: each one's head and record (its evidence as
/// message hashes, resolved through the keys given at the end).
pub(super) struct Builder {
    heads: Vec<Head>,
    file: Records,
}

impl Builder {
    pub(super) fn new(file: Records) -> Builder {
        Builder { heads: Vec::new(), file }
    }

    /// Adds an edge: its head (its accounts as places in the names) and its record's words.
    pub(super) fn push(&mut self, head: Head, words: &[u64]) -> Result<()> {
        self.heads.push(head.written(&mut self.file, words)?);
        Ok(())
    }

    /// A builder holding `heads` already written to `file`, in the result's order.
    pub(super) fn written(heads: Vec<Head>, file: Records) -> Builder {
        Builder { heads, file }
    }

    /// The edges, their accounts named by `names`, their evidence keys by `keys`.
    pub(super) fn finish(self, names: Vec<AccountName>, keys: EvidenceKeys) -> Result<Edges> {
        Ok(Edges { names, heads: self.heads, file: Some(self.file.finish()?), keys: Arc::new(keys) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges() -> Vec<Edge> {
        (0..300i64)
            .map(|n| Edge {
                kind: [Kind::Text, Kind::Link, Kind::Similar][(n % 3) as usize],
                a: Arc::from(format!("x:{}", n % 7)),
                b: Arc::from(format!("y:{}", n % 13)),
                weight: n as u64,
                first_seen: n,
                last_seen: n * 3,
                evidence: (0..n % 4)
                    .map(|i| (Arc::from(format!("x:m{i}")), Arc::from(format!("y:m{}", n % 5))))
                    .collect(),
                evidence_hashes: Vec::new(),
                keys: (0..n % 6).map(|k| k * n).collect(),
                p_value: (n % 2 == 0).then_some(n as f64 / 1000.0),
                specificity: n as f64 / 7.0,
                lead: Lead::of((0..n % 5).map(|i| i - 2), 60_000_000),
                spells: (0..n % 3).map(|i| (i, i + n)).collect(),
            })
            .collect()
    }

    #[test]
    fn edges_come_back_whole_in_order_and_by_position() {
        let all = edges();
        let held = Edges::from_vec(all.clone()).unwrap();
        assert_eq!(held.len(), all.len());
        assert_eq!(held.to_vec().unwrap(), all);
        for i in [0, 1, 150, 299, 7] {
            assert_eq!(held.get(i).unwrap(), all[i], "edge {i}");
            let (a, b) = held.accounts(i);
            assert_eq!((held.kind(i), &**a, &**b), (all[i].kind, &*all[i].a, &*all[i].b));
            assert_eq!(
                (held.weight(i), held.first_seen(i), held.p_value(i)),
                (all[i].weight, all[i].first_seen, all[i].p_value)
            );
        }
        // An iterator stopped early and a second one started: each reads on its own.
        let mut one = held.iter();
        assert_eq!(one.next().unwrap().unwrap(), all[0]);
        assert_eq!(held.iter().nth(5).unwrap().unwrap(), all[5]);
        assert_eq!(one.next().unwrap().unwrap(), all[1]);
        assert!(Edges::default().iter().next().is_none() && Edges::default().is_empty());
    }

    #[test]
    fn evidence_keys_are_found_by_hash_and_keep_the_first_key_of_a_hash() {
        let mut keys = EvidenceKeys::default();
        for (h, k) in [(7, "x:ß:2"), (-5, "tg:a:1"), (0, ""), (0, "tg:other"), (i64::MAX, "k")] {
            keys.push(h, k);
        }
        assert_eq!(keys.len(), 4);
        assert_eq!(
            [-5, 0, 7, i64::MAX, 1, i64::MIN].map(|h| keys.get(h).map(|k| &**k)),
            [Some("tg:a:1"), Some(""), Some("x:ß:2"), Some("k"), None, None]
        );
        let renamed = keys.renamed(|k| format!("<{k}>"));
        assert_eq!([-5, 0, 7].map(|h| renamed.get(h).map(|k| &**k)), [Some("<tg:a:1>"), Some("<>"), Some("<x:ß:2>")]);
        assert_eq!(keys.get(7).map(|k| &**k), Some("x:ß:2"));
    }

    #[test]
    fn renaming_a_clone_leaves_the_original_as_it_was() {
        let all = edges();
        let original = Edges::from_vec(all.clone()).unwrap();
        let mut renamed = original.clone();
        renamed.rename_accounts(|a| Arc::from(format!("p-{a}")));
        renamed.rename_evidence(|k| k.to_uppercase());
        assert_eq!(original.to_vec().unwrap(), all);
        for (got, e) in renamed.to_vec().unwrap().iter().zip(&all) {
            assert_eq!((&*got.a, &*got.b), (&*format!("p-{}", e.a), &*format!("p-{}", e.b)));
            let upper: Vec<(String, String)> =
                e.evidence.iter().map(|(x, y)| (x.to_uppercase(), y.to_uppercase())).collect();
            let shown: Vec<(String, String)> =
                got.evidence.iter().map(|(x, y)| (x.to_string(), y.to_string())).collect();
            assert_eq!(shown, upper);
            assert_eq!((&got.keys, &got.spells, got.lead), (&e.keys, &e.spells, e.lead));
        }
    }
}
