//! The `echolens` command as a user runs it: one integration binary, a temp folder per test.

use std::path::Path;
use std::process::Command;

use crate::common::{echolens, json_of, read_csv, run, samples};
use serde_json::Value;

fn ingest_json(store: &Path, paths: &[&Path], extra: &[&str]) -> Value {
    let mut cmd = echolens();
    cmd.arg("ingest").arg("--store").arg(store).arg("--json").args(extra).args(paths);
    json_of(&run(&mut cmd))
}

fn stats_json(store: &Path) -> Value {
    json_of(&run(echolens().args(["stats", "--json", "--store"]).arg(store)))
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// The files under testdata/samples that are message exports, with the reader that must pick them up.
const EXPORTS: &[(&str, &str)] = &[
    ("coordination-network-toolkit/example.csv", "toolkit-csv"),
    ("coordination-network-toolkit/examples/sample_data.csv", "toolkit-csv"),
    ("coordination-network-toolkit/tests/data/coretweet_test_input.csv", "toolkit-csv"),
    ("telegram-desktop-innerdvations/tests/data/bot.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/error-unexpected.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/error.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/personal.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/private_channel.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/private_group.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/public_channel.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/public_supergroup.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/saved.json", "telegram"),
    ("telegram-desktop-innerdvations/tests/data/users_test.json", "telegram"),
    ("telegram-desktop-mehrdad-esn/test_data.json", "telegram"),
    ("telegram-desktop-tg2md/2020-11-numeric-from_id/result.json", "telegram"),
    ("telegram-desktop-tg2md/result.json", "telegram"),
    ("telethon-derived-nktkln/data/raw/1001000724666_messages.json", "telethon-json"),
    ("twitter-io-archive-frequenter/ira_tweets_csv_hashed.sample.csv", "x-archive"),
    ("twitter-io-archive-frequenter/ira_users_csv_hashed.sample.csv", "x-archive"),
    ("zeeschuimer-layouts/instagram.ndjson", "zeeschuimer"),
    ("zeeschuimer-layouts/tiktok.ndjson", "zeeschuimer"),
    ("zeeschuimer-layouts/x.ndjson", "zeeschuimer"),
    ("4cat-telegram-layouts/telegram.ndjson", "4cat-telegram"),
    ("telegram-desktop-html-layout/ChatExport_2024-03-01/messages.html", "telegram-html"),
    ("telegram-desktop-html-layout/ChatExport_2024-03-01/messages2.html", "telegram-html"),
];

#[test]
fn every_sample_export_ingests_and_the_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let report = ingest_json(&store, &[&samples()], &[]);
    let files = report["files"].as_array().unwrap();
    let by_path = |rel: &str| {
        let want = std::fs::canonicalize(samples().join(rel)).unwrap().display().to_string();
        files.iter().find(|f| f["path"] == want.as_str()).unwrap_or_else(|| panic!("{rel} was not read: {report}"))
    };
    for (rel, format) in EXPORTS {
        let f = by_path(rel);
        assert_eq!(f["format"], *format, "{rel}");
        assert_eq!(n(f, "records"), n(f, "messages") + n(f, "quarantined") + n(f, "skipped"), "{rel}");
    }
    let tgif = std::fs::read_dir(samples().join("telegram-desktop-tgif"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    let twarc = std::fs::read_dir(samples().join("x-api-v2-twarc-csv/test-data")).unwrap().count();
    assert_eq!(
        files.len(),
        EXPORTS.len() + tgif + twarc,
        "every export file read once: {:?}",
        files.iter().map(|f| f["path"].as_str().unwrap()).collect::<Vec<_>>()
    );
    for f in files {
        assert!(f["format"].is_string(), "{f}");
        assert!(n(f, "messages") + n(f, "quarantined") > 0 || n(f, "records") == 0 || n(f, "skipped") > 0, "{f}");
    }

    // Known shapes: a channel with one service message, a broken file, the odd-keys file.
    let tg2md = by_path("telegram-desktop-tg2md/result.json");
    assert_eq!((n(tg2md, "messages"), n(tg2md, "skipped")), (18, 1));
    let broken = by_path("telegram-desktop-innerdvations/tests/data/error.json");
    assert_eq!(n(broken, "quarantined"), 1);
    let odd = by_path("telegram-desktop-innerdvations/tests/data/error-unexpected.json");
    assert!(n(odd, "quarantined") >= 3, "{odd}");
    let truncated = by_path("x-api-v2-twarc-csv/test-data/streaming_output_with_error.jsonl");
    assert_eq!((n(truncated, "messages"), n(truncated, "quarantined")), (7, 1));
    // Zeeschuimer: a post captured twice is two records and one message in the store; ads skipped; a cut line
    // and an item with no user quarantined; another platform's item quarantined naming it.
    let instagram = by_path("zeeschuimer-layouts/instagram.ndjson");
    assert_eq!(
        (n(instagram, "messages"), n(instagram, "skipped"), n(instagram, "quarantined")),
        (4, 1, 2),
        "{instagram}"
    );
    let x = by_path("zeeschuimer-layouts/x.ndjson");
    assert_eq!((n(x, "messages"), n(x, "skipped"), n(x, "quarantined")), (2, 1, 1), "{x}");
    let fourcat = by_path("4cat-telegram-layouts/telegram.ndjson");
    assert_eq!((n(fourcat, "messages"), n(fourcat, "skipped"), n(fourcat, "quarantined")), (3, 1, 2), "{fourcat}");
    let html = by_path("telegram-desktop-html-layout/ChatExport_2024-03-01/messages.html");
    assert_eq!((n(html, "messages"), n(html, "skipped")), (3, 1), "{html}");
    let html2 = by_path("telegram-desktop-html-layout/ChatExport_2024-03-01/messages2.html");
    assert_eq!((n(html2, "messages"), n(html2, "quarantined")), (1, 1), "{html2}");
    let naked = by_path("telethon-derived-nktkln/data/raw/1001000724666_messages.json");
    assert_eq!(n(naked, "messages"), 967);
    // The IO archive's accounts file: two profiles, no messages; with the two tweets' accounts, four accounts
    // are described there. twarc's user objects describe their authors too.
    let users = by_path("twitter-io-archive-frequenter/ira_users_csv_hashed.sample.csv");
    assert_eq!((n(users, "messages"), n(users, "skipped")), (0, 2));
    assert_eq!(report["skipped_kinds"]["account profile"], 2);
    let count = |sql: &str| -> u64 {
        let out = run(echolens().args(["sql", "--store"]).arg(&store).arg(sql));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().find_map(|l| l.trim_matches(|c: char| c == '|' || c.is_whitespace()).parse().ok()).unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM accounts WHERE source_file LIKE '%twitter-io-archive%'"), 4);
    assert_eq!(count("SELECT count(*) FROM messages WHERE platform = 'instagram'"), 3, "re-captures are one message");
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE platform = 'instagram' AND collected_at IS NOT NULL"),
        3,
        "the capture time kept"
    );
    assert_eq!(count("SELECT count(*) FROM messages WHERE platform = 'tiktok'"), 2);
    let twarc = count("SELECT count(*) FROM accounts WHERE source_file LIKE '%twarc%'");
    assert!(twarc > 100, "twarc's user objects: {twarc}");
    assert_eq!(n(&report, "accounts_new"), 4 + twarc);

    // Totals: records = messages + quarantined + skipped; messages = new + updated + unchanged.
    assert_eq!(n(&report, "records"), n(&report, "messages") + n(&report, "quarantined") + n(&report, "skipped"));
    assert_eq!(n(&report, "messages"), n(&report, "new") + n(&report, "updated") + n(&report, "unchanged"));
    let stats = stats_json(&store);
    assert_eq!(n(&stats, "messages"), n(&report, "new"));
    assert_eq!(n(&stats, "quarantined"), n(&report, "quarantined"));
    for key in ["messages", "channels", "authors", "platforms", "first", "last", "quarantined"] {
        assert!(stats.get(key).is_some(), "stats has {key}: {stats}");
    }
    assert!(stats["platforms"]["telegram"].as_u64().unwrap() > 1000);
    assert!(stats["platforms"]["x"].as_u64().unwrap() > 200);

    // Idempotent: the same import again adds nothing and changes nothing.
    let again = ingest_json(&store, &[&samples()], &[]);
    assert_eq!(n(&again, "new"), 0);
    assert_eq!(n(&again, "updated"), 0);
    assert_eq!(n(&again, "unchanged"), n(&report, "messages"));
    assert_eq!(n(&again, "accounts_new"), 0);
    assert_eq!(stats_json(&store), stats);
}

#[test]
fn unicode_and_persian_text_survive_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("fa.jsonl");
    std::fs::write(
        &input,
        "{\"id\": 1, \"channel\": \"c\", \"author\": \"a\", \"timestamp\": 1700000000, \"text\": \"ميشود كتاب ها ۱۲ #زن_زندگی_آزادی\"}\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    ingest_json(&store, &[&input], &[]);
    let out = run(echolens()
        .args(["sql", "--output", "json", "--store"])
        .arg(&store)
        .arg("SELECT text_norm, hashtags FROM messages"));
    let rows = json_of(&out);
    assert_eq!(rows[0]["text_norm"], "می\u{200C}شود کتاب\u{200C}ها 12 #زن_زندگی_آزادی");
    assert_eq!(rows[0]["hashtags"], serde_json::json!(["زن_زندگی_آزادی"]));
}

#[test]
fn strict_exits_2_when_anything_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"id\": 1, \"channel\": \"c\", \"timestamp\": 1704067200, \"text\": \"ok\"}\n{not json\n")
        .unwrap();
    let out =
        echolens().arg("ingest").arg("--strict").arg("--store").arg(dir.path().join("s")).arg(&input).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("quarantined 1"), "{stdout}");
    // The good record is stored all the same, the bad one is in the quarantine with its line and reason.
    let csv = run(echolens()
        .args(["sql", "--output", "csv", "--store"])
        .arg(dir.path().join("s"))
        .arg("SELECT source_record, reason FROM quarantine"));
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.starts_with("source_record,reason\n2,\"line 2: key must be a string"), "{csv}");
}

#[test]
fn explicit_file_of_unknown_format_is_quarantined_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.txt");
    std::fs::write(&input, "just some notes\n").unwrap();
    let report = ingest_json(&dir.path().join("s"), &[&input], &[]);
    assert_eq!(n(&report, "quarantined"), 1);
    let reason = run(echolens()
        .args(["sql", "--output", "csv", "--store"])
        .arg(dir.path().join("s"))
        .arg("SELECT reason FROM quarantine"));
    assert!(String::from_utf8_lossy(&reason.stdout).contains("not an export echolens recognises"));
}

#[test]
fn stats_on_a_folder_that_is_not_a_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = echolens().args(["stats", "--store"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an echolens store"));
}

#[test]
fn demo_builds_ingests_and_prints_stats() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(echolens().args(["demo", "--messages", "3000", "--json", "--out"]).arg(dir.path()));
    let v = json_of(&out);
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap()).unwrap();
    assert_eq!(v["stats"]["messages"], truth["messages"]);
    assert_eq!(v["stats"]["quarantined"], 0);
    assert_eq!(v["ingest"]["files"].as_array().unwrap().len(), 7, "with the Instagram capture");
    // The accounts file: one row per X account, each a skipped record stored in the accounts table.
    let profiles = v["ingest"]["skipped_kinds"]["account profile"].as_u64().unwrap();
    assert!(profiles > 50, "{}", v["ingest"]);
    assert_eq!(v["ingest"]["accounts_new"].as_u64(), Some(profiles));
    let batch = &v["coordination"]["account_batch"];
    for g in v["coordination"]["planted_groups"].as_array().unwrap() {
        assert!(g["overlap"].as_f64().unwrap() >= 0.9, "planted group found: {g}");
        // The campaign whose accounts were made together, with few followers and one app, shows it; the other
        // shows no batch.
        let created = g["created_together"].as_str().unwrap();
        // "n of m ...": every member of the cluster.
        let all = |fact: &str| {
            let words: Vec<&str> = fact.split(' ').collect();
            words.len() > 3 && words[0] == words[2] && words[1] == "of"
        };
        if g["campaign"] == batch["campaign"] {
            let week = batch["week"].as_str().unwrap();
            assert!(all(created) && created.ends_with(&format!("created in the week of {week}")), "{g}");
            let clients = g["clients"].as_str().unwrap();
            assert!(clients.starts_with("TweetDeck (") && !clients.contains(';'), "{g}");
            let few = g["few_followers"].as_str().unwrap();
            assert!(all(few) && few.ends_with("under 100 followers"), "{g}");
        } else if g["campaign"] == 2 {
            // The Instagram campaign: hashtags only, no links, no account facts.
            assert_eq!((created, g["top_domains"].as_str().unwrap()), ("", ""), "{g}");
        } else {
            assert_eq!(created, "", "{g}");
            // The other group links through bit.ly, which its cluster's domains name as a shortener.
            assert!(g["top_domains"].as_str().unwrap().starts_with("bit.ly ("), "{g}");
            assert!(g["top_domains"].as_str().unwrap().contains(", a shortener)"), "{g}");
        }
    }
    assert!(dir.path().join("coordination/edges.csv").exists());
    let planted = &v["reuse"]["planted_cascades"];
    assert_eq!(planted["origins_found"], planted["cascades"], "{planted}");
    assert!(planted["f1"].as_f64().unwrap() >= 0.95, "{planted}");
    assert!(dir.path().join("reuse/cascades.csv").exists());
    // Running the demo again regenerates the same corpus and changes nothing in the store.
    let again = json_of(&run(echolens().args(["demo", "--messages", "3000", "--json", "--out"]).arg(dir.path())));
    assert_eq!(again["ingest"]["new"], 0);
    assert_eq!(again["stats"], v["stats"]);
}

/// An import killed with SIGKILL at random points leaves a store that opens, and running it again reaches the
/// same counts as an uninterrupted run.
#[test]
fn killed_ingest_then_rerun_matches_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    run(echolens().args(["demo", "--messages", "40000", "--json", "--out"]).arg(&corpus));
    let input = corpus.join("corpus");

    let clean = dir.path().join("clean");
    ingest_json(&clean, &[&input], &["--commit-rows", "3000"]);
    let want = stats_json(&clean);

    let killed = dir.path().join("killed");
    // Deterministic "random" kill points, spread over the run.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut kills = 0;
    for _ in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = std::time::Duration::from_millis(150 + seed % 1500);
        let mut child = echolens()
            .args(["ingest", "--json", "--commit-rows", "3000", "--store"])
            .arg(&killed)
            .arg(&input)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Whatever the kill point, the store opens.
        if killed.join("echolens.json").exists() {
            run(echolens().args(["stats", "--json", "--store"]).arg(&killed));
        }
    }
    assert!(kills > 0, "no run was killed: the test proves nothing");
    let last = ingest_json(&killed, &[&input], &["--commit-rows", "3000"]);
    assert_eq!(stats_json(&killed)["messages"], want["messages"], "after {kills} kills; last run {last}");
    let got = stats_json(&killed);
    for key in ["messages", "channels", "authors", "platforms", "first", "last", "quarantined"] {
        assert_eq!(got[key], want[key], "{key}");
    }
}

/// The demo's planted campaigns come out as the two largest clusters, every edge's evidence names stored
/// messages, and the outputs follow the contract.
#[test]
fn coordination_recovers_the_demo_campaigns_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--messages", "6000", "--json", "--out"]).arg(dir.path()));
    let store = dir.path().join("store");
    let out = dir.path().join("coordination");
    let summary = json_of(&run(echolens()
        .args(["coordination", "--json", "--reveal", "--null-runs", "3", "--sweep", "10s,600s", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(&out)));
    assert_eq!(summary["parameters"]["window_s"], 60);
    assert!(summary["command"].as_str().unwrap().contains("coordination"));
    for file in ["edges.csv", "clusters.csv", "cluster_summary.csv", "network.gexf", "network.graphml", "sweep.csv"] {
        assert!(out.join(file).exists(), "{file}");
    }

    let truth: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap()).unwrap();
    let mut clusters: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for row in read_csv(&out.join("clusters.csv")) {
        clusters.entry(row["cluster"].clone()).or_default().push(row["account"].clone());
    }
    for campaign in truth["campaigns"].as_array().unwrap() {
        let members: std::collections::BTreeSet<String> =
            campaign["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_owned()).collect();
        let best = clusters
            .values()
            .map(|c| c.iter().filter(|a| members.contains(*a)).count() as f64 / c.len().max(members.len()) as f64)
            .fold(0.0, f64::max);
        assert!(best >= 0.9, "campaign {} recovered at {best}", campaign["id"]);
    }

    let edges = read_csv(&out.join("edges.csv"));
    assert!(edges.iter().any(|e| e["kind"] == "text") && edges.iter().any(|e| e["kind"] == "link"));
    let mut keys = std::collections::BTreeSet::new();
    for e in &edges {
        assert!(e["weight"].parse::<u64>().unwrap() >= 2);
        assert!(e["first_seen"] <= e["last_seen"] && e["first_seen"].ends_with('Z'));
        let p: f64 = e["p_value"].parse().unwrap_or(1.0);
        assert!(e["kind"] == "similar" || (0.0 < p && p <= 1.0), "{e:?}");
        for pair in e["evidence"].split(';') {
            let (a, b) = pair.split_once('|').expect("a|b");
            assert!(a.starts_with(e["account_a"].split(':').next().unwrap()));
            keys.extend([a.to_owned(), b.to_owned()]);
        }
    }
    let list: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
    let found = run(echolens()
        .args(["sql", "--output", "csv", "--store"])
        .arg(&store)
        .arg(format!("SELECT count(*) AS n FROM messages WHERE key IN ({})", list.join(","))));
    let found = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.lines().nth(1).unwrap().trim(), keys.len().to_string(), "every evidence key is stored");
}

#[test]
fn reuse_finds_the_demo_cascades_with_origins_parents_and_evidence_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--messages", "6000", "--json", "--out"]).arg(dir.path()));
    let store = dir.path().join("store");
    let out = dir.path().join("reuse-out");
    let summary =
        json_of(&run(echolens().args(["reuse", "--json", "--reveal", "--store"]).arg(&store).arg("--out").arg(&out)));
    assert_eq!(summary["parameters"]["threshold"], 0.5);
    let counts = &summary["counts"];
    assert!(n(counts, "cascades") >= 5, "{counts}");
    assert!(n(counts, "forwards_linked") >= 1, "{counts}");
    assert_eq!(n(counts, "forwards_unresolved"), 0, "{counts}");
    let rows = read_csv(&out.join("cascades.csv"));
    assert_eq!(rows.len() as u64, n(counts, "members"));
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap()).unwrap();
    let by_key: std::collections::HashMap<&str, &std::collections::HashMap<String, String>> =
        rows.iter().map(|r| (r["key"].as_str(), r)).collect();
    for c in truth["cascades"].as_array().unwrap() {
        let origin = c["origin_key"].as_str().unwrap();
        assert_eq!(by_key[origin]["role"], "origin", "{c}");
        for (key, variant) in c["member_keys"].as_array().unwrap().iter().zip(c["variants"].as_array().unwrap()) {
            let row = by_key.get(key.as_str().unwrap()).unwrap_or_else(|| panic!("planted copy {key} not found"));
            assert_eq!(row["cascade"], by_key[origin]["cascade"], "{key}");
            if variant == "forward" {
                assert_eq!(row["role"], "forward", "{key}");
            }
        }
    }
    // Every parent is an earlier member of the same cascade; every key is a message in the store.
    for r in &rows {
        if r["role"] == "origin" {
            assert!(r["parent_key"].is_empty() && r["similarity"].is_empty());
            continue;
        }
        let parent = by_key[r["parent_key"].as_str()];
        assert_eq!(parent["cascade"], r["cascade"]);
        assert!(parent["ts"] <= r["ts"], "{r:?}");
        let sim: f64 = r["similarity"].parse().unwrap();
        assert!((0.5..=1.0).contains(&sim), "{r:?}");
    }
    let keys: Vec<String> = rows.iter().map(|r| format!("'{}'", r["key"])).collect();
    let sql = format!("SELECT count(*) AS n FROM messages WHERE key IN ({})", keys.join(","));
    let found = json_of(&run(echolens().args(["sql", "--output", "json", "--store"]).arg(&store).arg(&sql)));
    assert_eq!(found[0]["n"].as_u64(), Some(rows.len() as u64));
    let gexf = std::fs::read_to_string(out.join("reuse_network.gexf")).unwrap();
    assert!(gexf.contains("demo_channel_"));
}

#[test]
fn vocabulary_keyness_diffusion_and_timeline_recover_the_planted_campaign_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--messages", "6000", "--ingest-only", "--out"]).arg(dir.path()));
    let store = dir.path().join("store");
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap()).unwrap();
    let vocabulary = &truth["vocabulary"];
    let planted: Vec<&str> = vocabulary["terms"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let source = vocabulary["source_channel"].as_str().unwrap();
    let adoption: Vec<(&str, i64)> = vocabulary["adoption_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_str().unwrap(), a[1].as_i64().unwrap()))
        .collect();

    // Keyness of the source against the other channels of its language: the planted terms come first.
    let keyness_out = dir.path().join("keyness");
    let mut cmd = echolens();
    cmd.args(["keyness", "--json", "--store"]).arg(&store).arg("--out").arg(&keyness_out);
    cmd.arg("--target").arg(format!("channel={source}"));
    for (channel, _) in adoption.iter().filter(|(c, _)| *c != source) {
        cmd.arg("--reference").arg(format!("channel={channel}"));
    }
    let summary = json_of(&run(&mut cmd));
    assert_eq!(summary["params"]["ngrams"], serde_json::json!([1, 3]));
    let terms = read_csv(&keyness_out.join("terms.csv"));
    let mut top: Vec<&str> = terms.iter().take(planted.len()).map(|r| r["term"].as_str()).collect();
    top.sort_unstable();
    let mut want = planted.clone();
    want.sort_unstable();
    assert_eq!(top, want, "top terms: {:?}", &terms[..5]);
    let z: Vec<f64> = terms.iter().map(|r| r["z"].parse().unwrap()).collect();
    assert!(z.windows(2).all(|w| w[0] >= w[1]), "sorted by z");

    // Diffusion of the top terms: each channel's first use on its planted day, the source first.
    let diffusion_out = dir.path().join("diffusion");
    let summary = json_of(&run(echolens()
        .args(["diffusion", "--json", "--reveal", "--top", "3", "--store"])
        .arg(&store)
        .arg("--from-keyness")
        .arg(&keyness_out)
        .arg("--out")
        .arg(&diffusion_out)));
    let rows = read_csv(&diffusion_out.join("adoption.csv"));
    const START: i64 = 1_709_251_200;
    for (channel, day) in &adoption {
        let row = rows.iter().find(|r| r["channel_id"] == *channel).unwrap();
        let first = chrono::DateTime::parse_from_rfc3339(&row["first_use"]).unwrap().timestamp();
        assert_eq!((first - START).div_euclid(86_400), *day, "{row:?}");
    }
    assert_eq!(rows[0]["channel_id"], source);
    let adopters = rows.iter().filter(|r| r["uses"] != "0").count();
    assert_eq!(adopters, adoption.len());
    let any = &summary["summary"][0];
    assert_eq!(any["term"], "*");
    assert_eq!(any["channels"].as_u64(), Some(adoption.len() as u64));
    assert_eq!(any["sources"][0], rows[0]["channel_name"].as_str());
    let curve = read_csv(&diffusion_out.join("curve.csv"));
    let last_any = curve.iter().rfind(|r| r["term"] == "*").unwrap();
    assert_eq!(last_any["channels"], adoption.len().to_string());

    // Timeline with the planted terms as a lexicon category: as many matches as diffusion found uses.
    let lexicon = dir.path().join("lexicon.csv");
    let mut csv = "category,term\n".to_owned();
    for t in &planted {
        csv.push_str(&format!("campaign,{t}\n"));
    }
    std::fs::write(&lexicon, csv).unwrap();
    let timeline_out = dir.path().join("timeline");
    run(echolens()
        .args(["timeline", "--reveal", "--by", "day,platform", "--store"])
        .arg(&store)
        .arg("--lexicon")
        .arg(&lexicon)
        .arg("--out")
        .arg(&timeline_out));
    let lex = read_csv(&timeline_out.join("lexicon.csv"));
    let matches: u64 = lex.iter().map(|r| r["matches"].parse::<u64>().unwrap()).sum();
    assert_eq!(matches, any["uses"].as_u64().unwrap());
    let volume = read_csv(&timeline_out.join("timeline.csv"));
    let total: u64 = volume.iter().map(|r| r["messages"].parse::<u64>().unwrap()).sum();
    assert_eq!(total, n(&stats_json(&store), "messages"));

    // A selector that matches nothing says so.
    let out = echolens()
        .args(["keyness", "--target", "channel=no_such_channel", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("channel=no_such_channel") && err.contains("matches no message"), "{err}");
}

/// `n` JSONL messages and `bad` broken lines.
fn jsonl_corpus(path: &Path, n: usize, bad: usize) {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"id\": {i}, \"channel\": \"c{}\", \"author\": \"a{}\", \"timestamp\": {}, \"text\": \"message {i}\"}}\n",
            i % 7,
            i % 13,
            1_704_067_200 + i
        ));
    }
    for i in 0..bad {
        text.push_str(&format!("{{broken {i}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// Two ingests into one store at once, again and again: never a repeated key, never a doubled quarantine;
/// the loser says who holds the store, and running it again changes nothing.
#[test]
fn two_ingests_at_once_never_duplicate_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl_corpus(&input, 20_000, 3);
    for round in 0..6 {
        let store = dir.path().join(format!("store{round}"));
        let start = || {
            echolens()
                .args(["ingest", "--json", "--commit-rows", "2000", "--store"])
                .arg(&store)
                .arg(&input)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(), start());
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert!(ok >= 1, "round {round}: one of them wrote");
        for o in outs.iter().filter(|o| !o.status.success()) {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("the store is being written by"), "round {round}: {err}");
        }
        let stats = stats_json(&store);
        assert_eq!((n(&stats, "messages"), n(&stats, "duplicate_keys")), (20_000, 0), "round {round}");
        assert_eq!(n(&stats, "quarantined"), 3, "round {round}");
        let again = ingest_json(&store, &[&input], &[]);
        assert_eq!((n(&again, "new"), n(&again, "unchanged")), (0, 20_000));
        assert_eq!(stats_json(&store)["messages"], 20_000);
    }
}

/// `echolens sql` answers queries and refuses everything else; `SELECT *` prints in every format.
#[test]
fn sql_is_read_only_and_prints_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl_corpus(&input, 3, 0);
    let store = dir.path().join("store");
    ingest_json(&store, &[&input], &[]);
    let outside = dir.path().join("copied.csv");
    for statement in [
        "INSERT INTO messages SELECT * FROM messages".to_owned(),
        format!("COPY (SELECT 1) TO '{}'", outside.display()),
        "CREATE EXTERNAL TABLE p (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".to_owned(),
        "CREATE TABLE t AS SELECT 1".to_owned(),
        "DROP TABLE messages".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
    ] {
        let out = echolens().args(["sql", "--store"]).arg(&store).arg(&statement).output().unwrap();
        assert!(!out.status.success(), "{statement} was run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not supported") || err.contains("not allowed"), "{statement}: {err}");
    }
    assert!(!outside.exists());
    assert_eq!(stats_json(&store)["messages"], 3);
    for output in ["table", "csv", "json"] {
        let out =
            run(echolens().args(["sql", "--output", output, "--store"]).arg(&store).arg("SELECT * FROM messages"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("2024-01-01T00:00:01Z"), "{output}: {text}");
    }
    let csv =
        run(echolens().args(["sql", "--output", "csv", "--store"]).arg(&store).arg("SELECT key, urls FROM messages"));
    assert!(String::from_utf8_lossy(&csv.stdout).contains(",[]"), "lists print as JSON in CSV");
}

/// `echolens sql` streams CSV and JSON whatever their size, shows a table's first 10,000 rows and says how many
/// it left out, and runs within `--memory`.
#[test]
fn sql_streams_every_row_as_csv_and_json_and_says_what_a_table_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl_corpus(&input, 3, 0);
    let store = dir.path().join("store");
    ingest_json(&store, &[&input], &[]);
    let query = "SELECT value AS n, value * 2 AS twice FROM generate_series(1, 25000) ORDER BY value DESC";
    let sql = |output: &str| {
        run(echolens().args(["sql", "--memory", "64M", "--output", output, "--store"]).arg(&store).arg(query))
    };
    let csv = sql("csv");
    let lines: Vec<String> = String::from_utf8_lossy(&csv.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 25_001);
    assert_eq!((lines[0].as_str(), lines[1].as_str(), lines[25_000].as_str()), ("n,twice", "25000,50000", "1,2"));
    let json = json_of(&sql("json"));
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 25_000);
    assert_eq!((rows[0]["n"].as_i64(), rows[24_999]["twice"].as_i64()), (Some(25_000), Some(2)));
    let table = sql("table");
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("| ")).count(), 10_001, "the header and 10,000 rows");
    assert!(text.contains("| 15001 "), "the last row shown");
    assert!(!text.contains("| 15000 "), "the first row left out");
    assert!(String::from_utf8_lossy(&table.stderr).contains("15000 more were left out"));
    let empty =
        run(echolens().args(["sql", "--output", "json", "--store"]).arg(&store).arg("SELECT 1 AS a WHERE false"));
    assert_eq!(String::from_utf8_lossy(&empty.stdout).trim(), "[]");
}

/// A folder holding a broken link, a link loop, a link out of it and a named pipe: each is passed over and
/// reported, nothing hangs, the export beside them is read; `--strict` fails on them.
#[cfg(unix)]
#[test]
fn special_entries_in_a_folder_are_passed_over_and_reported() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    jsonl_corpus(&folder.join("good.jsonl"), 5, 0);
    let outside = dir.path().join("secret.jsonl");
    jsonl_corpus(&outside, 2, 0);
    symlink(&outside, folder.join("out.jsonl")).unwrap();
    symlink(dir.path().join("nowhere"), folder.join("dangling.jsonl")).unwrap();
    symlink(folder.join("loop_b"), folder.join("loop_a")).unwrap();
    symlink(folder.join("loop_a"), folder.join("loop_b")).unwrap();
    symlink(&folder, folder.join("sub/up")).unwrap();
    symlink(folder.join("good.jsonl"), folder.join("sub/inside.jsonl")).unwrap();
    let status = Command::new("mkfifo").arg(folder.join("pipe.jsonl")).status().unwrap();
    assert!(status.success());

    let store = dir.path().join("store");
    let report = ingest_json(&store, &[&folder], &[]);
    let passed: Vec<String> =
        report["passed_over"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_owned()).collect();
    for name in ["out.jsonl", "dangling.jsonl", "loop_a", "loop_b", "pipe.jsonl"] {
        assert!(passed.iter().any(|p| p.ends_with(name)), "{name} reported: {passed:?}");
    }
    // The export, and the link to it inside the folder; not the file outside.
    assert_eq!(n(&report, "messages"), 10);
    assert_eq!(stats_json(&store)["messages"], 5);
    let out = echolens().args(["ingest", "--strict", "--store"]).arg(&store).arg(&folder).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A JSONL file whose first line is broken, and a Telegram export written on one line: both recognised in a
/// folder; a file of data passed over fails `--strict`.
#[test]
fn files_are_recognised_past_a_bad_first_line_and_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = String::from("{\"id\": 0, \"chan\n");
    for i in 1..=1000 {
        text.push_str(&format!("{{\"id\": {i}, \"channel\": \"c\", \"timestamp\": 1704067200, \"text\": \"t{i}\"}}\n"));
    }
    std::fs::write(folder.join("a.jsonl"), text).unwrap();
    std::fs::write(
        folder.join("result.json"),
        r#"{"name": "One line", "type": "public_channel", "id": 42, "messages": [{"id": 1, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": "1704067200", "from": "One line", "from_id": "channel42", "text": "hello"}]}"#,
    )
    .unwrap();
    let store = dir.path().join("store");
    let report = ingest_json(&store, &[&folder], &[]);
    assert_eq!((n(&report, "messages"), n(&report, "quarantined")), (1001, 1));
    assert!(report["not_recognised"].as_array().unwrap().is_empty(), "{report}");

    std::fs::write(folder.join("other.json"), r#"{"slug": "not an export"}"#).unwrap();
    let out = echolens().args(["ingest", "--strict", "--store"]).arg(&store).arg(&folder).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other.json"));
}

/// A link planted at OUT/report.html is replaced, never written through.
#[cfg(unix)]
#[test]
fn analyze_does_not_write_through_a_link_in_its_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl_corpus(&input, 50, 0);
    let out = dir.path().join("report");
    std::fs::create_dir_all(out.join("timeline")).unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("report.html")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("timeline/timeline.csv")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("summary.json")).unwrap();
    run(echolens().arg("analyze").arg(&input).arg("--store").arg(dir.path().join("store")).arg("--out").arg(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    for f in ["report.html", "timeline/timeline.csv", "summary.json"] {
        let meta = std::fs::symlink_metadata(out.join(f)).unwrap();
        assert!(meta.is_file(), "{f} is a file of its own now");
    }
}

/// The inputs that once took gigabytes or crashed (times in years 1 and 9999, a time in milliseconds, chat
/// sections nested to overflow the stack, a stray quote, a line of 17 MiB) go through `analyze` under a 1 GB
/// address-space limit: it finishes, with every bad record quarantined and counted.
#[cfg(unix)]
#[test]
fn the_nastiest_small_inputs_finish_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("in");
    std::fs::create_dir_all(&folder).unwrap();
    let line = |id: usize, ts: &str| {
        format!("{{\"id\": {id}, \"channel\": \"c\", \"timestamp\": {ts}, \"text\": \"t {id}\"}}\n")
    };
    let mut times: String = (0..100).map(|i| line(i, &(1_704_067_200 + i * 600).to_string())).collect();
    times.push_str(&line(100, "\"0001-01-01T00:00:00Z\""));
    times.push_str(&line(101, "\"9999-12-31T23:59:59Z\""));
    times.push_str(&line(102, "1704067200000"));
    std::fs::write(folder.join("times.jsonl"), times).unwrap();
    let depth = 5000;
    let nested = format!("{}{}", r#"{"chats": {"list": ["#.repeat(depth), "]}}".repeat(depth));
    std::fs::write(folder.join("nested.json"), nested).unwrap();
    let mut csv = String::from("message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n");
    for i in 0..2000 {
        let text = if i == 10 { "\"a stray quote".to_owned() } else { format!("row {i}") };
        csv.push_str(&format!("{i},u{},n,,,{text},{},\n", i % 50, 1_704_067_200 + i));
    }
    std::fs::write(folder.join("stray.csv"), csv).unwrap();
    let mut long = line(999, "1704067200").into_bytes();
    long.resize(long.len() + (17 << 20), b'x');
    std::fs::write(folder.join("long.jsonl"), long).unwrap();

    let out = dir.path().join("report");
    let store = dir.path().join("store");
    let status = Command::new("bash")
        .arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_echolens"))
        .arg("analyze")
        .arg(&folder)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let stats = stats_json(&store);
    assert_eq!((n(&stats, "messages"), n(&stats, "quarantined")), (2100, 6), "{stats}");
    let reasons = &stats["quarantine_reasons"];
    for kind in ["implausible time", "invalid JSON", "a line longer than 16 MiB"] {
        assert!(reasons[kind].as_u64().is_some(), "{kind}: {reasons}");
    }
    assert_eq!(reasons["implausible time"], 3);
    assert!(std::fs::metadata(out.join("timeline/timeline.csv")).unwrap().len() < 1_000_000);
}

/// Two files whose names differ only in bytes that are not UTF-8 are two files in the store's provenance, and
/// their bad records two quarantine rows.
#[cfg(target_os = "linux")]
#[test]
fn file_names_that_are_not_utf8_stay_apart() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("in");
    std::fs::create_dir_all(&folder).unwrap();
    for byte in [0xFFu8, 0xFE] {
        let bytes = [b'x', byte, b'.', b'j', b's', b'o', b'n', b'l'];
        let name = std::ffi::OsStr::from_bytes(&bytes);
        std::fs::write(
            folder.join(name),
            "{\"id\": 1, \"channel\": \"c\", \"timestamp\": 1704067200, \"text\": \"t\"}\n{broken\n",
        )
        .unwrap();
    }
    let store = dir.path().join("store");
    let report = ingest_json(&store, &[&folder], &[]);
    assert_eq!(n(&report, "quarantined"), 2);
    let stats = stats_json(&store);
    assert_eq!(n(&stats, "quarantined"), 2, "{stats}");
    let files = run(echolens()
        .args(["sql", "--output", "csv", "--store"])
        .arg(&store)
        .arg("SELECT DISTINCT source_file FROM quarantine ORDER BY source_file"));
    let text = String::from_utf8_lossy(&files.stdout);
    assert!(text.contains("x\\xFE.jsonl") && text.contains("x\\xFF.jsonl"), "{text}");
}

/// The generated campaigns' planted leader (it posts first in every wave) is the first account the cluster
/// summary names as posting first; edges.csv carries the direction counts.
#[test]
fn the_planted_leader_posts_first() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("g");
    run(echolens()
        .args(["demo", "--generate", "30000", "--campaigns", "5", "--seed", "3", "--layout", "jsonl", "--out"])
        .arg(&generated));
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(generated.join("truth.json")).unwrap()).unwrap();
    let store = dir.path().join("store");
    ingest_json(&store, &[&generated.join("corpus")], &[]);
    let out = dir.path().join("coord");
    run(echolens()
        .args(["coordination", "--reveal", "--kinds", "text,link,similar", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(&out));
    let summaries = read_csv(&out.join("cluster_summary.csv"));
    let clusters = read_csv(&out.join("clusters.csv"));
    let mut checked = 0;
    for campaign in truth["campaigns"].as_array().unwrap() {
        let Some(leader) = campaign["leader"].as_str() else { continue };
        let cluster = &clusters.iter().find(|r| r["account"] == leader).expect("the leader is clustered")["cluster"];
        let summary = summaries.iter().find(|s| &s["cluster"] == cluster).unwrap();
        assert!(summary["leaders"].starts_with(&format!("{leader} (first on ")), "{leader}: {}", summary["leaders"]);
        checked += 1;
    }
    assert_eq!(checked, 3);
    let edges = read_csv(&out.join("edges.csv"));
    assert!(edges.iter().all(|e| e.contains_key("a_first") && e.contains_key("median_lag_s")));
}

/// `analyze --null-runs`: every edge of the kinds matched on keys has a p-value in edges.csv, and the report
/// says how many no shuffle reproduced.
#[test]
fn analyze_with_null_runs_gives_p_values_and_says_which_edges_survive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    run(echolens().args(["analyze", "--null-runs", "3", "--sweep", "none", "--out"]).arg(&out));
    let edges = read_csv(&out.join("coordination/edges.csv"));
    let keyed: Vec<_> = edges.iter().filter(|e| e["kind"] != "similar").collect();
    assert!(!keyed.is_empty());
    assert!(keyed.iter().all(|e| !e["p_value"].is_empty()), "every keyed edge has a p-value");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Null model: 3 runs"), "the report says the null model ran");
}

/// Every command that writes accounts writes their pseudonyms unless asked with `--reveal`: no X account id of
/// the demo corpus (all of them accounts' own timelines) appears in any table of coordination, reuse, keyness
/// by channel, diffusion or the timeline; with `--reveal` they do.
#[test]
fn the_commands_write_pseudonyms_unless_asked_to_reveal() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    run(echolens().args(["demo", "--generate", "3000", "--json", "--out"]).arg(dir.path().join("demo")));
    run(echolens().args(["ingest", "--store"]).arg(&store).arg(dir.path().join("demo/corpus")));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo/truth.json")).unwrap()).unwrap();
    // The planted accounts' ids, as they appear in tables ("x:90003" and "90003").
    let ids: Vec<String> = truth["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_owned()))
        .collect();
    std::fs::write(dir.path().join("terms.txt"), "truth\nelection\n").unwrap();
    let terms = dir.path().join("terms.txt");
    let commands: Vec<(&str, Vec<&std::ffi::OsStr>)> = vec![
        ("coordination", vec!["coordination".as_ref()]),
        ("reuse", vec!["reuse".as_ref()]),
        ("keyness", vec!["keyness".as_ref(), "--by".as_ref(), "channel".as_ref()]),
        ("diffusion", vec!["diffusion".as_ref(), "--terms".as_ref(), terms.as_os_str()]),
        ("timeline", vec!["timeline".as_ref()]),
    ];
    let tables = |out: &Path| -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(out).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "csv" || e == "gexf" || e == "graphml") {
                all.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        all
    };
    for (name, args) in &commands {
        for reveal in [false, true] {
            let out = dir.path().join(format!("{name}-{reveal}"));
            let mut cmd = echolens();
            cmd.args(args).arg("--store").arg(&store).arg("--out").arg(&out);
            if reveal {
                cmd.arg("--reveal");
            }
            run(&mut cmd);
            let text = tables(&out);
            let shown: Vec<&String> = ids.iter().filter(|id| text.contains(id.as_str())).collect();
            if reveal {
                if *name == "coordination" || *name == "reuse" && text.contains("x:") {
                    assert!(!shown.is_empty(), "{name} --reveal shows the ids");
                }
            } else {
                assert!(shown.is_empty(), "{name} wrote account ids: {shown:?}");
            }
        }
    }
}

/// Every analysing command writes its tables as Parquet with `--format parquet`: the same rows as its CSV,
/// typed by the declared schema.
#[test]
fn each_command_writes_parquet_tables_with_the_rows_of_its_csv() {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--messages", "3000", "--ingest-only", "--out"]).arg(dir.path()));
    let store = dir.path().join("store");
    let commands: [(&[&str], &str, &str); 4] = [
        (&["coordination"], "edges", "first_seen"),
        (&["reuse"], "cascades", "ts"),
        (&["timeline"], "timeline", "period"),
        (&["keyness", "--by", "channel"], "terms_by", "z"),
    ];
    for (args, table, typed) in commands {
        let (csv, pq) = (dir.path().join(format!("{table}-csv")), dir.path().join(format!("{table}-pq")));
        for (out, format) in [(&csv, "csv"), (&pq, "parquet")] {
            run(echolens().args(args).arg("--store").arg(&store).arg("--out").arg(out).args(["--format", format]));
        }
        assert!(!pq.join(format!("{table}.csv")).exists(), "{table}: no CSV beside the Parquet");
        let file = std::fs::File::open(pq.join(format!("{table}.parquet"))).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let field = reader.schema().field_with_name(typed).unwrap().data_type().clone();
        assert_ne!(field, arrow::datatypes::DataType::Utf8, "{table}.{typed} is typed");
        let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        let csv_rows = read_csv(&csv.join(format!("{table}.csv"))).len();
        assert!(csv_rows > 0, "{table} has rows");
        assert_eq!(rows, csv_rows, "{table}");
    }
}

/// Tables an earlier run wrote and this one does not (an earlier `--reveal` run's CSV, with raw ids, under a
/// pseudonymised Parquet run) are removed; files of the user's own in the folder stay.
#[test]
fn analyze_removes_the_tables_of_an_earlier_run_it_does_not_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    jsonl_corpus(&input, 300, 0);
    let out = dir.path().join("report");
    let store = dir.path().join("store");
    let analyze = |extra: &[&str]| {
        json_of(&run(echolens()
            .arg("analyze")
            .arg(&input)
            .arg("--store")
            .arg(&store)
            .arg("--out")
            .arg(&out)
            .arg("--json")
            .args(extra)))
    };
    analyze(&["--reveal"]);
    let tables = |ext: &str| -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![out.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == ext) {
                    found.push(p);
                }
            }
        }
        found
    };
    assert!(!tables("csv").is_empty());
    std::fs::write(out.join("coordination/my notes.txt"), "mine").unwrap();
    std::fs::write(out.join("notes.csv"), "mine").unwrap();
    // A campaign source an earlier run measured and this one does not.
    let old_source = out.join("vocabulary/9-an-old-source/keyness");
    std::fs::create_dir_all(&old_source).unwrap();
    std::fs::write(old_source.join("terms.csv"), "term,z\n").unwrap();
    let s = analyze(&["--format", "parquet"]);
    assert!(!out.join("vocabulary/9-an-old-source").exists(), "its folder, emptied, is gone");
    assert_eq!(s["pseudonymised"], true);
    assert_eq!(tables("csv"), vec![out.join("notes.csv")], "only the user's own CSV is left");
    assert!(out.join("coordination/my notes.txt").exists());
    let notes = s["notes"].to_string();
    assert!(notes.contains("of an earlier run that this run does not write were removed"), "{notes}");
    // Every Parquet table there is one this run lists.
    let listed: Vec<&str> = s["outputs"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
    for t in tables("parquet") {
        let rel = t.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
        assert!(listed.contains(&rel.as_str()), "{rel} is this run's");
    }
}

/// A campaign named by its author (`--campaign author=ID`) is measured, and the id appears in no output file:
/// not in the title, the summaries, the tables or the command the report shows for reproducing the run.
#[test]
fn a_campaign_named_by_author_id_leaves_the_id_out_of_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = String::new();
    for i in 0..400 {
        let (author, words) = if i % 4 == 0 {
            ("secret_author_77", "stolen ballots rigged count")
        } else {
            ("someone_else", "weather and football")
        };
        text.push_str(&format!(
            "{{\"id\": {i}, \"channel\": \"c{}\", \"author\": \"{author}\", \"timestamp\": {}, \"text\": \"{words} {i}\"}}\n",
            i % 5,
            1_704_067_200 + i * 60
        ));
    }
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("report");
    let s = json_of(&run(echolens()
        .arg("analyze")
        .arg(&input)
        .args(["--campaign", "author=secret_author_77", "--json", "--store"])
        .arg(dir.path().join("store"))
        .arg("--out")
        .arg(&out)));
    assert_eq!(s["campaigns"].as_array().unwrap().len(), 1, "{}", s["campaigns"]);
    let mut stack = vec![out.clone()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files += 1;
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("secret_author_77"),
                    "{} holds the raw author id",
                    p.display()
                );
            }
        }
    }
    assert!(files > 10, "{files} files checked");
}

/// Every command that writes tables says whether they are pseudonymised: `--reveal` is said on stderr and in
/// the summary, and without it the summary says pseudonymised.
#[test]
fn reveal_is_said_on_stderr_and_in_every_summary() {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--messages", "3000", "--ingest-only", "--out"]).arg(dir.path()));
    let store = dir.path().join("store");
    let commands: [&[&str]; 4] = [&["coordination"], &["reuse"], &["timeline"], &["keyness", "--by", "channel"]];
    for args in commands {
        for reveal in [false, true] {
            let out = dir.path().join(format!("{}-{reveal}", args[0]));
            let mut cmd = echolens();
            cmd.args(args).arg("--store").arg(&store).arg("--out").arg(&out);
            if reveal {
                cmd.arg("--reveal");
            }
            let output = run(&mut cmd);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.contains("--reveal: account ids are written as they are"), reveal, "{args:?}: {stderr}");
            let summary: Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
            let said =
                if summary["run"].is_object() { &summary["run"]["pseudonymised"] } else { &summary["pseudonymised"] };
            assert_eq!(said, &Value::Bool(!reveal), "{args:?}");
        }
    }
}

/// A command run again into the same folder leaves only what this run wrote: no `sweep.csv` from an earlier
/// sweep, no CSV table beside its Parquet one.
#[test]
fn a_command_run_again_leaves_no_table_of_the_earlier_run() {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--messages", "3000", "--ingest-only", "--out"]).arg(dir.path()));
    let store = dir.path().join("store");
    let out = dir.path().join("coord");
    let coordination = |extra: &[&str]| {
        run(echolens().arg("coordination").arg("--store").arg(&store).arg("--out").arg(&out).args(extra));
    };
    coordination(&["--sweep", "10s,600s"]);
    assert!(out.join("sweep.csv").exists() && out.join("edges.csv").exists());
    coordination(&["--format", "parquet"]);
    let mut names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cluster_summary.parquet",
            "clusters.parquet",
            "domains.parquet",
            "edges.parquet",
            "network.gexf",
            "network.graphml",
            "summary.json"
        ]
    );
}

/// `analyze` on a folder mixing every kind of export users hold — Telegram Desktop JSON and HTML, X archives and
/// JSONL, Zeeschuimer Instagram and TikTok, 4CAT Telegram — recognises every file, stores every platform, and
/// finds each planted campaign (two on X, one on Instagram) as a cluster of its own.
#[test]
fn analyze_on_a_mixed_folder_reads_every_format_and_finds_the_planted_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--generate", "3000", "--json", "--out"]).arg(dir.path().join("demo")));
    let corpus = dir.path().join("demo/corpus");
    let extra = corpus.join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    for (from, to) in [
        ("telegram-desktop-html-layout/ChatExport_2024-03-01/messages.html", "messages.html"),
        ("zeeschuimer-layouts/tiktok.ndjson", "tiktok.ndjson"),
        ("4cat-telegram-layouts/telegram.ndjson", "4cat.ndjson"),
    ] {
        std::fs::copy(samples().join(from), extra.join(to)).unwrap();
    }
    let out = dir.path().join("report");
    let s = json_of(&run(echolens()
        .arg("analyze")
        .arg(&corpus)
        .args(["--json", "--reveal", "--null-runs", "0", "--store"])
        .arg(dir.path().join("store"))
        .arg("--out")
        .arg(&out)));
    assert_eq!(s["ingest"]["not_recognised"], serde_json::json!([]), "{}", s["ingest"]);
    let platforms = &s["corpus"]["platforms"];
    for p in ["telegram", "x", "instagram", "tiktok"] {
        assert!(platforms[p].as_u64().unwrap_or(0) > 0, "{p}: {platforms}");
    }
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo/truth.json")).unwrap()).unwrap();
    let clusters = read_csv(&out.join("coordination/clusters.csv"));
    let campaigns = truth["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 3);
    for c in campaigns {
        let members: Vec<&str> = c["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        let found: std::collections::BTreeSet<&str> = clusters
            .iter()
            .filter(|r| members.contains(&r["account"].as_str()))
            .map(|r| r["cluster"].as_str())
            .collect();
        assert_eq!(found.len(), 1, "campaign {} is one cluster: {found:?}", c["id"]);
        let cluster = *found.iter().next().unwrap();
        let size = clusters.iter().filter(|r| r["cluster"] == cluster).count();
        assert_eq!(size, members.len(), "campaign {} is its cluster, no more and no less", c["id"]);
    }
}

/// A store written by an earlier version (`testdata/compat`, kept as it was written): this version opens it,
/// counts it as it was counted, reads every column of its schema, analyses it and adds to it.
#[test]
fn a_store_written_by_an_earlier_version_opens_analyses_and_grows() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = samples().join("../compat/store-v1");
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let mut stack = vec![(fixture.clone(), store.clone())];
    while let Some((from, to)) = stack.pop() {
        for e in std::fs::read_dir(&from).unwrap() {
            let p = e.unwrap().path();
            let target = to.join(p.file_name().unwrap());
            if p.is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                stack.push((p, target));
            } else {
                std::fs::copy(&p, &target).unwrap();
            }
        }
    }
    let stats = stats_json(&store);
    assert_eq!((n(&stats, "messages"), n(&stats, "quarantined"), n(&stats, "store_version")), (67, 3, 1), "{stats}");
    assert_eq!(stats["platforms"]["instagram"], 3);
    // Every column this version knows, read from the old store.
    let out = run(echolens().args(["sql", "--store"]).arg(&store).arg(
        "SELECT count(*) AS n, count(collected_at) AS captured, count(signature) AS signed, count(quote_of) AS q \
         FROM messages",
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("67"), "{text}");
    run(echolens().args(["coordination", "--store"]).arg(&store).arg("--out").arg(dir.path().join("coord")));
    let more = ingest_json(&store, &[&samples().join("4cat-telegram-layouts/telegram.ndjson")], &[]);
    assert_eq!(n(&more, "new"), 3, "{more}");
    assert_eq!(n(&stats_json(&store), "messages"), 70);
}
