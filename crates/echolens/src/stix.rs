//! Findings as a STIX 2.1 bundle with DISARM techniques, from the output folder of `analyze`.
//!
//! What is written, and why (see also ARCHITECTURE.md, "STIX"):
//! - an `identity` for the analyst (`--identity`), the `created_by_ref` of every object echolens makes (the
//!   STIX Cyber-observable objects `user-account` and `url` have no such property, and the predefined TLP
//!   markings and DISARM's own objects stay as published);
//! - a `report` whose description carries every parameter of the run and says what the findings are not;
//! - per coordination cluster a `grouping` (context `suspicious-activity`) of its members' `user-account`
//!   objects (their pseudonyms unless the run was `--reveal`), one `observed-data` per kind of coordination,
//!   and a `note` with the message keys behind its strongest edges;
//! - per reuse cascade the report lists a `grouping` with an `observed-data` and a `note` of its messages;
//!   public Telegram channels as `url` objects;
//! - DISARM's `attack-pattern` objects (version 1.6, unchanged, with DISARM's identity and licence marking),
//!   each linked from a grouping by a `related-to` relationship carrying the technique id and a confidence,
//!   by the mapping in [`TECHNIQUES`].
//!
//! No `campaign`, `threat-actor`, `intrusion-set` or `indicator`: echolens does not attribute, and an
//! indicator would be a block-list of accounts. Identifiers are UUIDv5: echolens's objects over the store's
//! public id and the object's own key (a cluster by its members, a cascade by its origin), observables by the
//! specification's namespace and their identifying properties. The same findings exported twice give the
//! same bundle, byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::findings::ReportDir;

/// The DISARM objects echolens embeds (see `data/disarm/SOURCES.md`).
const DISARM_OBJECTS: &str = include_str!("../data/disarm/objects.json");
/// The version of the DISARM Red Framework those objects come from.
pub const DISARM_VERSION: &str = "1.6";

/// A DISARM technique echolens can support with evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Technique {
    /// The DISARM id (`T0119`).
    pub id: &'static str,
    /// Its name in DISARM.
    pub name: &'static str,
    /// The `attack-pattern` id in DISARM's STIX bundle.
    pub stix_id: &'static str,
}

/// The techniques, and the evidence that supports each:
/// - co-text and near-identical text → T0119 Cross-Posting, and T0049.005 Conduct Swarming when the cluster is
///   dense (at least half of its possible pairs linked, at least five accounts) and acted within one day;
/// - co-hashtag → T0049.002 Flood Existing Hashtag;
/// - co-repost and co-quote → T0118 Amplify Existing Narrative;
/// - co-reply → T0116 Comment or Reply on Content;
/// - a reuse cascade → T0084 Reuse Existing Content, and T0084.001 Use Copypasta when copies were edited.
///
/// T0049 Flood Information Space is embedded as the parent of T0049.00x. Co-link and co-domain support no
/// technique on their own; nothing echolens measures shows automation (T0049.003), so that is never said. A
/// cluster's technique is not claimed when the null model matched every edge of its kinds (confidence 0).
pub const TECHNIQUES: [Technique; 8] = [
    Technique {
        id: "T0049",
        name: "Flood Information Space",
        stix_id: "attack-pattern--0c765d19-99b2-4703-af48-e20a677c4bfc",
    },
    Technique {
        id: "T0049.002",
        name: "Flood Existing Hashtag",
        stix_id: "attack-pattern--bfce790b-dfd6-46ca-8fab-c2d72f21bba2",
    },
    Technique {
        id: "T0049.005",
        name: "Conduct Swarming",
        stix_id: "attack-pattern--ce5b400c-6f82-4095-936b-617857800da8",
    },
    Technique {
        id: "T0084",
        name: "Reuse Existing Content",
        stix_id: "attack-pattern--9636ae57-0b93-41a0-8323-85109ee34877",
    },
    Technique {
        id: "T0084.001",
        name: "Use Copypasta",
        stix_id: "attack-pattern--4cd719a9-e817-4acc-9581-6b6a60e42f35",
    },
    Technique {
        id: "T0116",
        name: "Comment or Reply on Content",
        stix_id: "attack-pattern--318f2a34-07b6-4c4b-9bb0-58f5bca681fc",
    },
    Technique {
        id: "T0118",
        name: "Amplify Existing Narrative",
        stix_id: "attack-pattern--836e9eef-b446-4f68-805f-0f10116d6e7f",
    },
    Technique { id: "T0119", name: "Cross-Posting", stix_id: "attack-pattern--872f0dc3-202e-4e9a-a4fc-0457252aecae" },
];

fn technique(id: &str) -> Technique {
    *TECHNIQUES.iter().find(|t| t.id == id).expect("a technique of TECHNIQUES")
}

/// A Traffic Light Protocol level: the TLP 1.0 marking definitions predefined by STIX 2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Tlp {
    /// TLP:CLEAR (TLP 1.0's WHITE): may be shared freely.
    Clear,
    /// TLP:GREEN: within the community.
    Green,
    /// TLP:AMBER: within the recipient's organisation and its clients.
    #[default]
    Amber,
    /// TLP:RED: the named recipients only.
    Red,
}

impl Tlp {
    /// The predefined marking-definition object.
    fn marking(self) -> Value {
        let (id, name) = match self {
            Tlp::Clear => ("613f2e26-407d-48c7-9eca-b8e91df99dc9", "white"),
            Tlp::Green => ("34098fce-860f-48ae-8e50-ebd3cc5e41da", "green"),
            Tlp::Amber => ("f88d31f6-486f-44da-b317-01333bde0b82", "amber"),
            Tlp::Red => ("5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "red"),
        };
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": format!("marking-definition--{id}"),
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "name": format!("TLP:{}", name.to_uppercase()),
            "definition": {"tlp": name},
        })
    }
}

/// What the export is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The analyst or organisation the findings are by.
    pub identity: String,
    /// The marking of every object echolens makes.
    pub tlp: Tlp,
    /// Allow a report written with `--reveal` (raw account ids) to be exported.
    pub reveal: bool,
    /// Cascades exported, the widest first (the report's table shows 20).
    pub cascades: usize,
    /// Evidence edges listed per cluster.
    pub evidence_edges: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { identity: "Unnamed analyst".into(), tlp: Tlp::Amber, reveal: false, cascades: 20, evidence_edges: 10 }
    }
}

/// The STIX Cyber-observable namespace of the specification (§2.9), for observables' ids.
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// Builds the objects of one bundle.
struct Bundle {
    namespace: Uuid,
    created: String,
    identity: String,
    marking: String,
    objects: Vec<Value>,
    seen: BTreeSet<String>,
}

impl Bundle {
    /// The id of echolens's object of `kind` for `key`.
    fn id(&self, kind: &str, key: &str) -> String {
        format!("{kind}--{}", Uuid::new_v5(&self.namespace, format!("{kind}:{key}").as_bytes()))
    }

    /// A STIX Domain or Relationship Object made by echolens: the common properties added.
    fn add(&mut self, kind: &str, key: &str, properties: Value) -> String {
        let id = self.id(kind, key);
        let mut object = json!({
            "type": kind,
            "spec_version": "2.1",
            "id": id,
            "created_by_ref": self.identity,
            "created": self.created,
            "modified": self.created,
            "object_marking_refs": [self.marking],
        });
        merge(&mut object, properties);
        self.push(object);
        id
    }

    /// An observable, its id from its identifying properties (`contributing`, as canonical JSON).
    fn observable(&mut self, kind: &str, contributing: Value) -> String {
        let id = format!("{kind}--{}", Uuid::new_v5(&SCO_NAMESPACE, canonical(&contributing).as_bytes()));
        let mut object = json!({"type": kind, "spec_version": "2.1", "id": id, "object_marking_refs": [self.marking]});
        merge(&mut object, contributing);
        self.push(object);
        id
    }

    /// Add `object` once (an account in two clusters is one object).
    fn push(&mut self, object: Value) {
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        if self.seen.insert(id) {
            self.objects.push(object);
        }
    }
}

fn merge(object: &mut Value, properties: Value) {
    if let (Some(o), Value::Object(p)) = (object.as_object_mut(), properties) {
        for (k, v) in p {
            if !v.is_null() {
                o.insert(k, v);
            }
        }
    }
}

/// JSON with keys sorted and no whitespace (RFC 8785 for the strings and integers observables carry).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let parts: Vec<String> =
                sorted.iter().map(|(k, v)| format!("{}:{}", Value::String((*k).clone()), canonical(v))).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// An RFC 3339 time as STIX writes it (UTC, milliseconds).
fn stix_time(t: &str) -> Result<String> {
    let t = chrono::DateTime::parse_from_rfc3339(t).with_context(|| format!("{t:?} is not an RFC 3339 time"))?;
    Ok(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The account type STIX's vocabulary has for a platform (its own name otherwise).
fn account_type(platform: &str) -> &str {
    match platform {
        "x" | "twitter" => "twitter",
        "facebook" => "facebook",
        other => other,
    }
}

/// The share of edges (their `p_values`, empty where the null model did not run) that none of the null
/// model's `runs` matched as strongly (p = 1 / (runs + 1), the least it can give), as a STIX confidence.
fn confidence(p_values: &[&str], runs: u64) -> Option<u64> {
    let p: Vec<f64> = p_values.iter().filter_map(|v| v.parse::<f64>().ok()).collect();
    if p.is_empty() || runs == 0 {
        return None;
    }
    let least = 1.0 / (runs as f64 + 1.0);
    Some((100.0 * p.iter().filter(|&&v| v <= least + 1e-9).count() as f64 / p.len() as f64).round() as u64)
}

fn get<'a>(row: &'a HashMap<String, String>, column: &str) -> &'a str {
    row.get(column).map_or("", String::as_str)
}

fn number(row: &HashMap<String, String>, column: &str) -> f64 {
    get(row, column).parse().unwrap_or(0.0)
}

/// The bundle for the findings of the `analyze` output folder `report`.
pub fn export(report: &ReportDir, options: &Options) -> Result<Value> {
    let s = &report.summary;
    if !report.pseudonymised() && !options.reveal {
        bail!(
            "{} was written with --reveal (raw account ids): give --reveal to export them as they are, or run \
             analyze again without it",
            report.dir.display()
        );
    }
    if report.pseudonymised() && options.reveal {
        bail!("{} holds pseudonyms only: run analyze with --reveal to export raw ids", report.dir.display());
    }
    let store_id = s["store_id"].as_str().context(
        "summary.json has no store_id (written by an older echolens): run analyze again to export its findings",
    )?;
    let run_at = s["run_at"].as_str().context("summary.json has no run_at: run analyze again")?;
    let namespace = Uuid::parse_str(store_id).with_context(|| format!("store_id {store_id:?} is not a UUID"))?;
    let created = stix_time(run_at)?;
    let mut b = Bundle {
        namespace,
        created: created.clone(),
        identity: String::new(),
        marking: options.tlp.marking()["id"].as_str().unwrap_or_default().to_owned(),
        objects: Vec::new(),
        seen: BTreeSet::new(),
    };
    b.identity = b.id("identity", &format!("analyst:{}", options.identity));
    b.push(json!({
        "type": "identity", "spec_version": "2.1", "id": b.identity, "created": created, "modified": created,
        "name": options.identity, "identity_class": "unknown", "object_marking_refs": [b.marking],
    }));
    b.push(options.tlp.marking());
    let disarm: Vec<Value> = serde_json::from_str(DISARM_OBJECTS).context("the embedded DISARM objects")?;
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    let mut refs: Vec<String> = Vec::new();

    // Coordination clusters.
    // A cluster whose timing is like chance (`timing_p`: busy accounts meeting on many keys) is no finding of
    // acting together: it is left out, and counted in the report.
    let (clusters, chance_like): (Vec<_>, Vec<_>) =
        report.table("coordination", "cluster_summary")?.into_iter().partition(|c| {
            let (p, lags) = (get(c, "timing_p").parse::<f64>().ok(), get(c, "timing_lags").parse().unwrap_or(0));
            !echolens_analysis::coordination::timing_like_chance(p, lags)
        });
    let members = report.table("coordination", "clusters")?;
    let edges = report.table("coordination", "edges")?;
    let mut of_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cluster_of: HashMap<String, String> = HashMap::new();
    for m in &members {
        of_cluster.entry(get(m, "cluster").to_owned()).or_default().push(get(m, "account").to_owned());
        cluster_of.insert(get(m, "account").to_owned(), get(m, "cluster").to_owned());
    }
    // Each cluster's edges (both accounts in it), found in one pass.
    let mut edges_in: HashMap<&str, Vec<&HashMap<String, String>>> = HashMap::new();
    for e in &edges {
        let (a, b) = (cluster_of.get(get(e, "account_a")), cluster_of.get(get(e, "account_b")));
        if let (Some(a), Some(b)) = (a, b)
            && a == b
        {
            edges_in.entry(a.as_str()).or_default().push(e);
        }
    }
    let params = &coordination_params(report)?;
    let runs = report_summary(report, "coordination")?["null_model"]["runs"].as_u64().unwrap_or(0);
    for c in &clusters {
        let id = get(c, "cluster");
        let mut accounts = of_cluster.remove(id).unwrap_or_default();
        accounts.sort();
        let key = format!("cluster:{}", accounts.join(","));
        let inside: Vec<&HashMap<String, String>> = edges_in.remove(id).unwrap_or_default();
        let mut account_refs = Vec::new();
        for a in &accounts {
            let (platform, user) = a.split_once(':').unwrap_or(("", a));
            account_refs
                .push(b.observable("user-account", json!({"account_type": account_type(platform), "user_id": user})));
        }
        let mut object_refs = account_refs.clone();
        let mut kinds: BTreeMap<&str, Vec<&HashMap<String, String>>> = BTreeMap::new();
        for e in &inside {
            kinds.entry(get(e, "kind")).or_default().push(e);
        }
        let shared: HashMap<&str, u64> = get(c, "shared_keys")
            .split_whitespace()
            .filter_map(|kv| kv.split_once(':'))
            .map(|(k, n)| (k, n.parse().unwrap_or(0)))
            .collect();
        let mut per_kind = Vec::new();
        for (kind, es) in &kinds {
            let first = es.iter().map(|e| get(e, "first_seen")).min().unwrap_or_default();
            let last = es.iter().map(|e| get(e, "last_seen")).max().unwrap_or_default();
            let keys = shared
                .get(kind)
                .copied()
                .unwrap_or_else(|| es.iter().map(|e| number(e, "weight") as u64).max().unwrap_or(1));
            object_refs.push(b.add(
                "observed-data",
                &format!("{key}:{kind}"),
                json!({
                    "first_observed": stix_time(first)?, "last_observed": stix_time(last)?,
                    "number_observed": keys.max(1), "object_refs": account_refs,
                }),
            ));
            per_kind.push(format!(
                "{kind}: {} edges, {} shared keys, first {first}, last {last} (observed-data {})",
                es.len(),
                keys.max(1),
                object_refs.last().map_or("", String::as_str)
            ));
        }
        let size = accounts.len();
        let (first, last) = (get(c, "first_seen"), get(c, "last_seen"));
        let density = number(c, "density");
        let name = format!(
            "Coordination cluster {id}: {size} accounts, {}, {} to {}",
            kinds.keys().copied().collect::<Vec<_>>().join("+"),
            first.get(..10).unwrap_or(first),
            last.get(..10).unwrap_or(last)
        );
        let all_p: Vec<&str> = inside.iter().map(|e| get(e, "p_value")).collect();
        let sure = confidence(&all_p, runs);
        let description = format!(
            "{size} accounts linked by {} account pairs (density {density:.3}, summed weight {}, median edge \
             specificity {}) acting on the same keys within {} s, again and again; kinds (edges): {}. {}{}",
            get(c, "edges"),
            get(c, "weight"),
            get(c, "median_specificity"),
            params["window_s"],
            get(c, "kinds"),
            match sure {
                Some(p) =>
                    format!("{p}% of its edges were matched as strongly by none of the null model's {runs} runs. "),
                None => "No null model was run: no p-values. ".to_owned(),
            },
            "Coordination is evidence of acting together, not proof of inauthenticity."
        );
        let evidence: Vec<&&HashMap<String, String>> = {
            let mut v: Vec<&&HashMap<String, String>> = inside.iter().collect();
            v.sort_by(|x, y| {
                number(y, "weight").total_cmp(&number(x, "weight")).then(get(x, "account_a").cmp(get(y, "account_a")))
            });
            v.into_iter().take(options.evidence_edges).collect()
        };
        let lines: Vec<String> = evidence
            .iter()
            .map(|e| {
                format!(
                    "{} and {} ({}, weight {}): {}",
                    get(e, "account_a"),
                    get(e, "account_b"),
                    get(e, "kind"),
                    get(e, "weight"),
                    get(e, "evidence").replace('|', " with ").replace(';', "; ")
                )
            })
            .collect();
        let grouping_id = b.id("grouping", &key);
        let note = b.add(
            "note",
            &format!("{key}:evidence"),
            json!({
                "abstract": format!("The messages behind the strongest edges of coordination cluster {id}"),
                "content": format!(
                    "Per kind of coordination:\n{}\n\nMessage keys (platform:channel:message, pseudonymised as \
                     the tables are) of each pair's earliest shared actions, strongest edges first:\n{}",
                    per_kind.join("\n"), lines.join("\n")),
                "object_refs": [grouping_id],
            }),
        );
        object_refs.push(note.clone());
        b.add(
            "grouping",
            &key,
            json!({
                "name": name, "description": description, "context": "suspicious-activity",
                "confidence": sure, "object_refs": object_refs,
            }),
        );
        refs.push(grouping_id.clone());
        // Techniques by kind.
        let p_of = |ks: &[&str]| -> Option<u64> {
            let p: Vec<&str> =
                ks.iter().flat_map(|k| kinds.get(k).into_iter().flatten()).map(|e| get(e, "p_value")).collect();
            confidence(&p, runs)
        };
        let span_s = chrono::DateTime::parse_from_rfc3339(last)
            .ok()
            .zip(chrono::DateTime::parse_from_rfc3339(first).ok())
            .map_or(i64::MAX, |(l, f)| (l - f).num_seconds());
        let mut links: Vec<(&str, Option<u64>, String)> = Vec::new();
        if kinds.contains_key("text") || kinds.contains_key("similar") {
            links.push((
                "T0119",
                p_of(&["text", "similar"]),
                "accounts posted the same or near-identical text within the window".into(),
            ));
            if density >= 0.5 && size >= 5 && span_s <= 86_400 {
                links.push((
                    "T0049.005",
                    p_of(&["text", "similar"]),
                    format!("a dense cluster (density {density:.2}) posting the same text within one day"),
                ));
            }
        }
        if kinds.contains_key("hashtag") {
            links.push(("T0049.002", p_of(&["hashtag"]), "accounts used the same hashtags within the window".into()));
        }
        if kinds.contains_key("repost") || kinds.contains_key("quote") {
            links.push((
                "T0118",
                p_of(&["repost", "quote"]),
                "accounts reposted or quoted the same originals within the window".into(),
            ));
        }
        if kinds.contains_key("reply") {
            links.push(("T0116", p_of(&["reply"]), "accounts replied to the same messages within the window".into()));
        }
        // A technique whose every edge chance matched as strongly is not claimed.
        for (t, sure, why) in links.into_iter().filter(|(_, sure, _)| *sure != Some(0)) {
            refs.push(relate(&mut b, &grouping_id, technique(t), sure, &why));
            used.insert(t);
        }
        refs.extend(object_refs);
    }

    // Reuse cascades, the widest first as the report orders them.
    let mut cascades = report.table("reuse", "cascade_summary")?;
    cascades.sort_by(|x, y| {
        number(y, "channels")
            .total_cmp(&number(x, "channels"))
            .then(number(y, "size").total_cmp(&number(x, "size")))
            .then(number(x, "cascade").total_cmp(&number(y, "cascade")))
    });
    cascades.truncate(options.cascades);
    let members = report.table("reuse", "cascades")?;
    let mut of_cascade: HashMap<&str, Vec<&HashMap<String, String>>> = HashMap::new();
    for m in &members {
        of_cascade.entry(get(m, "cascade")).or_default().push(m);
    }
    for c in &cascades {
        let id = get(c, "cascade");
        let key = format!("cascade:{}", get(c, "origin_key"));
        let ms = of_cascade.remove(id).unwrap_or_default();
        let mut observed = Vec::new();
        for m in &ms {
            let platform = get(m, "key").split(':').next().unwrap_or("");
            let name = get(m, "channel_name");
            // A public Telegram channel by its username; personal channels (pseudonyms) never.
            if platform == "telegram" && is_username(name) {
                observed.push(b.observable("url", json!({"value": format!("https://t.me/{name}")})));
            }
            if !get(m, "author_id").is_empty() {
                let user = get(m, "author_id");
                observed.push(
                    b.observable("user-account", json!({"account_type": account_type(platform), "user_id": user})),
                );
            }
        }
        observed.sort();
        observed.dedup();
        let start = get(c, "start");
        let end = chrono::DateTime::parse_from_rfc3339(start)
            .map(|t| (t + chrono::Duration::seconds(number(c, "span_s") as i64)).to_rfc3339())
            .unwrap_or_else(|_| start.to_owned());
        let grouping_id = b.id("grouping", &key);
        let mut object_refs = Vec::new();
        if !observed.is_empty() {
            object_refs.push(b.add(
                "observed-data",
                &key,
                json!({
                    "first_observed": stix_time(start)?, "last_observed": stix_time(&end)?,
                    "number_observed": ms.len().max(1), "object_refs": observed,
                }),
            ));
        }
        let keys: Vec<String> = ms
            .iter()
            .map(|m| {
                let parent = get(m, "parent_key");
                format!(
                    "{} {} {}{}",
                    get(m, "ts"),
                    get(m, "role"),
                    get(m, "key"),
                    if parent.is_empty() { String::new() } else { format!(" (from {parent})") }
                )
            })
            .collect();
        object_refs.push(b.add(
            "note",
            &format!("{key}:messages"),
            json!({
                "abstract": format!("The messages of reuse cascade {id}"),
                "content": format!("Each message's time, role, key and the key it was copied from:\n{}", keys.join("\n")),
                "object_refs": [grouping_id],
            }),
        ));
        let (copies, forwards) = (get(c, "copies"), get(c, "forwards"));
        let sim_min = number(c, "similarity_min");
        b.add(
            "grouping",
            &key,
            json!({
                "name": format!("Reuse cascade {id}: {} messages in {} channels from {}", get(c, "size"), get(c, "channels"), get(c, "origin_key")),
                "description": format!(
                    "A text first posted as {} and copied {copies} times and forwarded {forwards} times into {} \
                     channels; every copy's similarity to its parent verified (lowest {}). Reuse is not in itself \
                     inauthentic.",
                    get(c, "origin_key"), get(c, "channels"), get(c, "similarity_min")),
                "context": "suspicious-activity",
                "object_refs": object_refs,
            }),
        );
        refs.push(grouping_id.clone());
        refs.extend(object_refs);
        let verified = if get(c, "similarity_min").is_empty() { None } else { Some((100.0 * sim_min).round() as u64) };
        refs.push(relate(
            &mut b,
            &grouping_id,
            technique("T0084"),
            verified.or(Some(100)),
            "the same text was posted again in other channels",
        ));
        used.insert("T0084");
        if !get(c, "similarity_min").is_empty() && sim_min < 1.0 {
            refs.push(relate(
                &mut b,
                &grouping_id,
                technique("T0084.001"),
                verified,
                "copies were edited before they were posted again",
            ));
            used.insert("T0084.001");
        }
    }

    // DISARM's objects: the techniques used (a sub-technique with its parent), DISARM's identity and marking.
    if used.iter().any(|t| t.starts_with("T0049.")) {
        used.insert("T0049");
    }
    let wanted: BTreeSet<&str> = used.iter().map(|t| technique(t).stix_id).collect();
    let mut disarm_used = false;
    for o in &disarm {
        if o["type"] == "attack-pattern" && wanted.contains(o["id"].as_str().unwrap_or("")) {
            refs.push(o["id"].as_str().unwrap_or_default().to_owned());
            b.push(o.clone());
            disarm_used = true;
        }
    }
    if disarm_used {
        for o in disarm.iter().filter(|o| o["type"] != "attack-pattern") {
            b.push(o.clone());
        }
    }

    // The report.
    let corpus = &s["corpus"];
    let description = format!(
        "Findings of echolens {version} on a corpus of {messages} messages ({first} to {last}), run {run_at}.\n\n\
         Accounts are pseudonymised with a store-local key{reveal}. Coordination is evidence of acting together, \
         not proof of inauthenticity.{chance}\n\n\
         Techniques are from the DISARM Red Framework version {DISARM_VERSION} (CC-BY-SA-4.0, DISARM Foundation), \
         linked by echolens's documented mapping; confidence on a link is the share of the cluster's edges of those \
         kinds that no run of the null model matched as strongly, or for a cascade its lowest verified similarity.\n\n\
         Parameters: coordination {coordination}; null model {null}; reuse {reuse}. Command: {command}",
        version = s["echolens_version"].as_str().unwrap_or("?"),
        messages = corpus["messages"],
        first = corpus["first"].as_str().unwrap_or("?"),
        last = corpus["last"].as_str().unwrap_or("?"),
        reveal = if report.pseudonymised() { "" } else { " (not here: this report was made with --reveal)" },
        chance = if chance_like.is_empty() {
            String::new()
        } else {
            format!(
                " {} clusters whose timing is like chance (timing_p in coordination/cluster_summary.csv at least {} \
                 over at least {} lags: their lags spread over the window as independent posting gives) are left \
                 out: their accounts may only be busy at the same times.",
                chance_like.len(),
                echolens_analysis::coordination::CHANCE_TIMING_P,
                echolens_analysis::coordination::MIN_TIMING_LAGS
            )
        },
        coordination = params,
        null = report_summary(report, "coordination")?["null_model"],
        reuse = report_summary(report, "reuse")?["parameters"],
        command = s["command"].as_str().unwrap_or(""),
    );
    refs.sort();
    refs.dedup();
    let name =
        format!("echolens findings: {} coordination clusters, {} reuse cascades", clusters.len(), cascades.len());
    b.add(
        "report",
        &format!("report:{run_at}"),
        json!({
            "name": name, "description": description, "report_types": ["threat-report"],
            "published": created, "object_refs": refs,
            "external_references": [{
                "source_name": "echolens",
                "description": format!("Measured with echolens {}, an open-source tool for measuring online influence campaigns", s["echolens_version"].as_str().unwrap_or("?")),
                "external_id": s["echolens_version"].as_str().unwrap_or("?"),
            }],
        }),
    );
    let objects = b.objects;
    Ok(json!({
        "type": "bundle",
        "id": format!("bundle--{}", Uuid::new_v5(&namespace, format!("bundle:{run_at}:{:?}:{}", options.tlp, options.identity).as_bytes())),
        "objects": objects,
    }))
}

/// A `related-to` relationship from `from` to `t`'s attack pattern.
fn relate(b: &mut Bundle, from: &str, t: Technique, confidence: Option<u64>, why: &str) -> String {
    b.add(
        "relationship",
        &format!("{from}:{}", t.id),
        json!({
            "relationship_type": "related-to", "source_ref": from, "target_ref": t.stix_id,
            "confidence": confidence,
            "description": format!("DISARM {} {}: {why}.", t.id, t.name),
            "external_references": [{
                "source_name": "DISARM", "external_id": t.id,
                "url": format!("https://github.com/DISARMFoundation/DISARMframeworks/blob/main/generated_pages/techniques/{}.md", t.id),
            }],
        }),
    )
}

/// A Telegram username: 5 to 32 letters, digits and underscores, starting with a letter.
fn is_username(name: &str) -> bool {
    (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.starts_with("u-")
}

fn coordination_params(report: &ReportDir) -> Result<Value> {
    Ok(report_summary(report, "coordination")?["parameters"].clone())
}

fn report_summary(report: &ReportDir, folder: &str) -> Result<Value> {
    let path = report.dir.join(folder).join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn techniques_are_the_embedded_disarm_attack_patterns() {
        let disarm: Vec<Value> = serde_json::from_str(DISARM_OBJECTS).unwrap();
        for t in TECHNIQUES {
            let o = disarm.iter().find(|o| o["id"] == t.stix_id).unwrap_or_else(|| panic!("{} embedded", t.id));
            assert_eq!(o["name"], t.name);
            assert_eq!(o["external_references"][0]["external_id"], t.id);
        }
        assert!(!TECHNIQUES.iter().any(|t| t.id == "T0049.003"), "automation is never claimed");
    }

    #[test]
    fn observable_ids_follow_the_specification() {
        // The specification's example: a url observable's id from its value.
        let id = Uuid::new_v5(&SCO_NAMESPACE, canonical(&json!({"value": "https://example.com/"})).as_bytes());
        assert_eq!(canonical(&json!({"b": 1, "a": "x"})), r#"{"a":"x","b":1}"#);
        assert_eq!(id.get_version_num(), 5);
    }

    #[test]
    fn confidence_is_the_share_of_edges_chance_never_matched() {
        assert_eq!(confidence(&["0.05", "0.05", "0.5", "1"], 19), Some(50));
        assert_eq!(confidence(&["0.2", "0.4"], 4), Some(50), "the least p four runs can give");
        assert_eq!(confidence(&["", ""], 0), None, "no null model, no confidence");
    }
}
