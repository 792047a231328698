//! Scoring what the analyses found against what was planted: next to the generator that planted it, so every
//! user of the truth (the `demo` command, the benches, tests) scores the same way.

use std::collections::HashMap;

use crate::{Campaign, Cascade};

/// How found cascades match planted ones, over pairs of messages: a pair is found when both are in one found
/// cascade, planted when both are in one planted cascade. Precision counts every found pair that involves a
/// planted message (a planted copy glued to something else is a false pair).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CascadeScore {
    /// Planted cascades.
    pub cascades: usize,
    /// Planted cascades whose origin is the origin of the found cascade holding most of their members.
    pub origins_found: usize,
    /// Found pairs that are planted pairs, over found pairs involving a planted message.
    pub precision: f64,
    /// Planted pairs found.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

/// A message a reuse analysis put in a cascade.
#[derive(Debug, Clone, Copy)]
pub struct FoundMember<'a> {
    /// The message key.
    pub key: &'a str,
    /// The found cascade.
    pub cascade: usize,
    /// Whether it is that cascade's origin.
    pub origin: bool,
}

/// Score found cascade members against the `planted` cascades.
pub fn cascades(members: &[FoundMember<'_>], planted: &[Cascade]) -> CascadeScore {
    let truth: HashMap<&str, usize> =
        planted.iter().flat_map(|c| c.member_keys.iter().map(move |k| (k.as_str(), c.id))).collect();
    let found: HashMap<&str, (usize, bool)> = members.iter().map(|m| (m.key, (m.cascade, m.origin))).collect();
    let mut by_found: HashMap<usize, Vec<&str>> = HashMap::new();
    for m in members {
        by_found.entry(m.cascade).or_default().push(m.key);
    }
    let (mut tp, mut found_pairs) = (0u64, 0u64);
    for keys in by_found.values() {
        let planted_in: Vec<usize> = keys.iter().filter_map(|k| truth.get(k).copied()).collect();
        let n = keys.len() as u64;
        let p = planted_in.len() as u64;
        // Pairs with at least one planted message.
        found_pairs += n * (n - 1) / 2 - (n - p) * (n - p).saturating_sub(1) / 2;
        let mut per: HashMap<usize, u64> = HashMap::new();
        for t in planted_in {
            *per.entry(t).or_default() += 1;
        }
        tp += per.values().map(|c| c * (c - 1) / 2).sum::<u64>();
    }
    let planted_pairs: u64 = planted.iter().map(|c| (c.member_keys.len() * (c.member_keys.len() - 1) / 2) as u64).sum();
    let mut origins_found = 0;
    for c in planted {
        let mut votes: HashMap<usize, usize> = HashMap::new();
        for k in &c.member_keys {
            if let Some(&(f, _)) = found.get(k.as_str()) {
                *votes.entry(f).or_default() += 1;
            }
        }
        let best = votes.into_iter().max_by_key(|&(f, n)| (n, std::cmp::Reverse(f))).map(|(f, _)| f);
        if best.is_some() && found.get(c.origin_key.as_str()) == best.map(|f| (f, true)).as_ref() {
            origins_found += 1;
        }
    }
    let precision = if found_pairs == 0 { 0.0 } else { tp as f64 / found_pairs as f64 };
    let recall = if planted_pairs == 0 { 0.0 } else { tp as f64 / planted_pairs as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    CascadeScore { cascades: planted.len(), origins_found, precision, recall, f1 }
}

/// The found cluster that best holds a planted campaign, and how well.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GroupMatch {
    /// The campaign.
    pub campaign: usize,
    /// Its members.
    pub members: usize,
    /// The cluster with the greatest overlap (0 for none).
    pub cluster: usize,
    /// Members in that cluster over the larger of the cluster and the campaign.
    pub overlap: f64,
}

/// For each planted campaign, the found cluster (id, member accounts) that best holds it.
pub fn groups(clusters: &[(usize, Vec<&str>)], campaigns: &[Campaign]) -> Vec<GroupMatch> {
    campaigns
        .iter()
        .map(|c| {
            let members: std::collections::HashSet<&str> = c.members.iter().map(String::as_str).collect();
            let (cluster, overlap) = clusters
                .iter()
                .map(|(id, accounts)| {
                    let hit = accounts.iter().filter(|a| members.contains(*a)).count();
                    (*id, hit as f64 / accounts.len().max(members.len()) as f64)
                })
                .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best });
            GroupMatch { campaign: c.id, members: members.len(), cluster, overlap }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cascade(id: usize, keys: &[&str]) -> Cascade {
        Cascade {
            id,
            origin_key: keys[0].to_owned(),
            member_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..Cascade::default()
        }
    }

    #[test]
    fn a_perfect_find_scores_one_and_a_glued_copy_costs_precision() {
        let planted = [cascade(0, &["a", "b", "c"]), cascade(1, &["d", "e"])];
        let perfect = [
            FoundMember { key: "a", cascade: 7, origin: true },
            FoundMember { key: "b", cascade: 7, origin: false },
            FoundMember { key: "c", cascade: 7, origin: false },
            FoundMember { key: "d", cascade: 8, origin: true },
            FoundMember { key: "e", cascade: 8, origin: false },
        ];
        let s = cascades(&perfect, &planted);
        assert_eq!((s.origins_found, s.precision, s.recall), (2, 1.0, 1.0));
        // The second cascade glued to the first: 4 planted pairs of 10 found pairs, and its origin is not the
        // found origin.
        let glued: Vec<FoundMember> =
            perfect.iter().map(|m| FoundMember { cascade: 7, origin: m.key == "a", ..*m }).collect();
        let s = cascades(&glued, &planted);
        assert_eq!(s.origins_found, 1);
        assert!((s.precision - 0.4).abs() < 1e-12 && (s.recall - 1.0).abs() < 1e-12);
    }
}
