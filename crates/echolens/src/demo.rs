//! The demo: the built-in corpus ingested into its own store, each analysis run with its defaults, and what
//! came out scored against what was planted ([`echolens_demo::score`]). The `demo` command prints it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use echolens_analysis::TableFormat::Csv;
use echolens_analysis::coordination::{self, Coordination};
use echolens_analysis::reuse::{self, Reuse, Role};
use echolens_analysis::select::{Selection, Selector};
use echolens_analysis::vocabulary::diffusion::{self, Terms};
use echolens_analysis::vocabulary::keyness;
use echolens_demo::score;
use echolens_store::{Stats, Store};

use crate::ingest::{IngestOptions, IngestReport};

/// The demo corpus in a store: what `measure` ingested and found.
pub struct Ingested {
    /// The store, `OUT/store` (unlocked).
    pub store: Store,
    /// What the import did.
    pub report: IngestReport,
    /// What the store holds.
    pub stats: Stats,
}

/// What the analyses found on the demo corpus, against what was planted.
pub struct Measured {
    /// Coordination with the defaults, account ids as they are (the tables written are pseudonymised).
    pub coordination: Coordination,
    /// Each planted group with the cluster that holds most of it, and what the exports say of its accounts.
    pub planted_groups: Vec<serde_json::Value>,
    /// Reuse with the defaults.
    pub reuse: Reuse,
    /// The planted cascades against the found ones.
    pub planted_cascades: score::CascadeScore,
    /// The rank of each planted term in the keyness of the source channel against the other channels of its
    /// language (`None`: not among the terms).
    pub planted_term_ranks: Vec<Option<usize>>,
    /// Channels whose planted adoption day the diffusion found exactly.
    pub adoption_days_found: usize,
    /// The output folders: coordination, reuse, keyness, diffusion.
    pub folders: [PathBuf; 4],
}

/// Ingest the demo corpus at `corpus` into `OUT/store`.
pub fn ingest(rt: &tokio::runtime::Runtime, corpus: &Path, out: &Path, progress: bool) -> Result<Ingested> {
    let store_dir = out.join("store");
    let mut store = rt
        .block_on(Store::open_or_create(&store_dir))
        .with_context(|| format!("opening the store {}", store_dir.display()))?;
    let options = IngestOptions { commit_rows: 100_000, progress, ..IngestOptions::default() };
    let report = crate::ingest::ingest(rt, &mut store, &[corpus.to_owned()], options)?;
    store.unlock();
    let stats = rt.block_on(store.stats())?;
    Ok(Ingested { store, report, stats })
}

/// Run coordination, reuse, keyness and diffusion with their defaults on the ingested demo corpus, write their
/// outputs under `out` (`coordination/`, `reuse/`, `keyness/`, `diffusion/`) and score them against `truth`.
pub fn measure(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    truth: &echolens_demo::Truth,
    out: &Path,
) -> Result<Measured> {
    let session = || rt.block_on(crate::run::session(store, 1 << 30, &crate::run::Engine::Local));
    // Scored on account ids as they are (the truth names them), written pseudonymised as every command writes.
    let pseudonyms = rt.block_on(crate::run::pseudonyms(store, &session()?))?;
    let extra = serde_json::json!({
        "command": "echolens demo", "echolens_version": env!("CARGO_PKG_VERSION"), "pseudonymised": true,
        "store_id": pseudonyms.store_id(),
    });
    let folders = ["coordination", "reuse", "keyness", "diffusion"].map(|f| out.join(f));
    let written = |result: echolens_analysis::Result<echolens_analysis::Written>, dir: &Path| {
        result.with_context(|| format!("writing {}", dir.display()))
    };

    // Coordination, and how the planted groups came out.
    let coordination = rt.block_on(coordination::run(&session()?, coordination::Params::default()))?;
    let mut shown = coordination.clone();
    pseudonyms.coordination(&mut shown);
    written(coordination::write_outputs(&shown, &folders[0], Csv, extra.clone()), &folders[0])?;
    drop(shown);
    let net = &coordination.network;
    let summaries = coordination::cluster_summaries(&coordination)?;
    let clusters: Vec<(usize, Vec<&str>)> =
        net.clusters.iter().map(|cl| (cl.id, cl.members.iter().map(|&m| net.accounts[m].as_str()).collect())).collect();
    let planted_groups: Vec<serde_json::Value> = score::groups(&clusters, &truth.campaigns)
        .into_iter()
        .map(|g| {
            // What the exports say about the cluster's accounts (the planted account batch shows here).
            let facts = summaries.iter().find(|s| s.cluster == g.cluster);
            serde_json::json!({
                "campaign": g.campaign, "members": g.members, "cluster": g.cluster, "overlap": g.overlap,
                "created_together": facts.map(|s| s.created_together.as_str()),
                "clients": facts.map(|s| s.clients.as_str()),
                "few_followers": facts.map(|s| s.few_followers.as_str()),
                "top_domains": facts.map(|s| s.top_domains.as_str()),
            })
        })
        .collect();

    // Reuse cascades, scored against the planted ones.
    let reuse = rt.block_on(reuse::run(&session()?, reuse::Params::default()))?;
    let mut shown = reuse.clone();
    pseudonyms.reuse(&mut shown);
    written(reuse::write_outputs(&shown, &folders[1], Csv, extra.clone()), &folders[1])?;
    drop(shown);
    let found: Vec<score::FoundMember> = reuse
        .members
        .iter()
        .map(|m| score::FoundMember { key: &m.key, cascade: m.cascade, origin: m.role == Role::Origin })
        .collect();
    let planted_cascades = score::cascades(&found, &truth.cascades);

    // Vocabulary: the source channel against the other channels of its language, then how the planted terms
    // spread, both checked against the truth.
    let voc = &truth.vocabulary;
    let target = Selection::new(vec![Selector::Channel(voc.source_channel.clone())]);
    let reference = Selection::new(
        voc.adoption_day
            .iter()
            .filter(|(c, _)| *c != voc.source_channel)
            .map(|(c, _)| Selector::Channel(c.clone()))
            .collect(),
    );
    let ctx = session()?;
    let k = rt.block_on(keyness::run(&ctx, &target, Some(&reference), keyness::Params::default()))?;
    let d = rt.block_on(diffusion::run(&ctx, Terms::new(voc.terms.clone())?, &Selection::default()))?;
    let (mut shown_k, mut shown_d) = (k.clone(), d.clone());
    pseudonyms.keyness(&mut shown_k);
    pseudonyms.diffusion(&mut shown_d);
    written(keyness::write_outputs(&shown_k, &folders[2], Csv, extra.clone()), &folders[2])?;
    written(diffusion::write_outputs(&shown_d, &folders[3], Csv, extra), &folders[3])?;
    let planted_term_ranks: Vec<Option<usize>> =
        voc.terms.iter().map(|t| k.terms.iter().position(|x| &x.term == t).map(|r| r + 1)).collect();
    let adoption_days_found = voc
        .adoption_day
        .iter()
        .filter(|(c, day)| {
            d.channels.iter().any(|a| {
                a.channel_id == *c
                    && a.first_use.is_some_and(|t| (t / 1_000_000 - echolens_demo::START).div_euclid(86_400) == *day)
            })
        })
        .count();
    Ok(Measured {
        coordination,
        planted_groups,
        reuse,
        planted_cascades,
        planted_term_ranks,
        adoption_days_found,
        folders,
    })
}
