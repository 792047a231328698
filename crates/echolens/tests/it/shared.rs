//! What a user hands on: every output of every command free of the corpus's identities unless `--reveal`, the
//! STIX bundle as STIX tools read it, and the shareable zip.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{echolens, run};

/// The X and Instagram accounts of the demo corpus an output must not name: ids (`50207`, `70003`) and
/// handles (`user_207`, `acct_90003`, `ig_user_3`), from the corpus files the demo wrote.
struct Identities {
    ids: HashSet<String>,
    handles: HashSet<String>,
}

impl Identities {
    fn of_demo(corpus: &Path) -> Identities {
        let (mut ids, mut handles) = (HashSet::new(), HashSet::new());
        let text = std::fs::read_to_string(corpus.join("jsonl/x_accounts.jsonl")).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            ids.insert(v["author"].as_str().unwrap().to_owned());
            handles.insert(v["channel_name"].as_str().unwrap().to_lowercase());
        }
        // Instagram accounts, as Zeeschuimer captured them.
        let text = std::fs::read_to_string(corpus.join("zeeschuimer/instagram.ndjson")).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let user = &v["data"]["user"];
            if user["username"] != "brand" {
                ids.insert(user["pk"].as_str().unwrap().to_owned());
                handles.insert(user["username"].as_str().unwrap().to_lowercase());
            }
        }
        assert!(ids.len() > 100 && handles.iter().any(|h| h.starts_with("acct_")), "{} accounts", ids.len());
        assert!(handles.iter().any(|h| h.starts_with("ig_vote_")), "the Instagram campaign's accounts");
        Identities { ids, handles }
    }

    /// Where `text` names an account: `x:ID` or `instagram:ID` (an account, or a key's channel), a whole value
    /// equal to an id
    /// (`values`: a table's cells or JSON strings), or a handle as a word (a mention, a profile URL, a name).
    fn found(&self, text: &str, values: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        for platform in ["x:", "instagram:"] {
            for (at, _) in text.match_indices(platform) {
                let id: String = text[at + platform.len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
                let before = text[..at].chars().next_back();
                if !before.is_some_and(word) && self.ids.contains(&id) {
                    found.push(format!("{platform}{id}"));
                }
            }
        }
        for token in text.split(|c: char| !word(c)) {
            if self.handles.contains(&token.to_lowercase()) {
                found.push(token.to_owned());
            }
        }
        found.extend(values.iter().filter(|v| self.ids.contains(v.as_str())).cloned());
        found
    }
}

/// Every file under `dir` but the demo's corpus and truth (its input), with its text and its values.
fn outputs(dir: &Path) -> Vec<(PathBuf, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("demo-") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let (text, values) = match p.extension().and_then(|e| e.to_str()) {
                Some("parquet") | Some("csv") => {
                    let rows = echolens::findings::read_table_file(&p).unwrap();
                    let values: Vec<String> = rows.iter().flat_map(|r| r.values().cloned()).collect();
                    (values.join("\n"), values)
                }
                Some("json") => {
                    let text = std::fs::read_to_string(&p).unwrap();
                    let mut values = Vec::new();
                    let mut stack = vec![serde_json::from_str::<Value>(&text).unwrap()];
                    while let Some(v) = stack.pop() {
                        match v {
                            Value::String(s) => values.push(s),
                            Value::Array(a) => stack.extend(a),
                            Value::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
                            _ => {}
                        }
                    }
                    (text, values)
                }
                _ => (String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(), Vec::new()),
            };
            out.push((p, text, values));
        }
    }
    out
}

/// Analyze the demo corpus into `dir/NAME` (its store `dir/NAME-store`) with `extra` arguments.
fn analyze(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    run(echolens().arg("analyze").arg("--out").arg(&out).args(["--json", "--null-runs", "4"]).args(extra));
    out
}

/// Every command that writes files, run on the demo corpus (whose X posts mention accounts and link to their
/// posts, and whose planted campaign names the account it amplifies): no table, network, summary, report, STIX
/// bundle or shared zip holds an X account's id or handle; with `--reveal` they do, so the scan finds what it
/// looks for.
#[test]
fn no_output_of_any_command_names_an_account_unless_revealed() {
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(dir.path(), "report", &["--stix"]);
    let store = dir.path().join("report-store");
    let ids = Identities::of_demo(&out.join("demo-corpus"));
    let member = ids.ids.iter().find(|i| i.starts_with("900")).unwrap().clone();
    let commands: Vec<(&str, Vec<String>)> = vec![
        ("coordination", vec!["coordination".into()]),
        ("coordination-parquet", vec!["coordination".into(), "--format".into(), "parquet".into()]),
        ("reuse", vec!["reuse".into()]),
        ("keyness-author", vec!["keyness".into(), "--target".into(), format!("author=x:{member}")]),
        ("keyness-channel", vec!["keyness".into(), "--target=channel=user_3".into()]),
        (
            "keyness-by-channel",
            vec!["keyness".into(), "--by".into(), "channel".into(), "--format".into(), "parquet".into()],
        ),
        (
            "keyness-by-week",
            vec!["keyness".into(), "--by".into(), "week".into(), "--target".into(), "platform=x".into()],
        ),
        ("timeline", vec!["timeline".into(), "--select".into(), format!("author=x:{member}")]),
        (
            "compare",
            vec![
                "compare".into(),
                format!("--side=one=author=x:{member}"),
                "--side=one=channel=user_3".into(),
                "--side=two=platform=telegram".into(),
            ],
        ),
    ];
    let mut folders = vec![out.clone()];
    for (name, args) in &commands {
        let o = dir.path().join(name);
        run(echolens().args(args).arg("--store").arg(&store).arg("--out").arg(&o));
        folders.push(o);
    }
    let keyness = dir.path().join("keyness-author");
    let diffusion = dir.path().join("diffusion");
    run(echolens()
        .arg("diffusion")
        .arg("--from-keyness")
        .arg(&keyness)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(&diffusion));
    folders.push(diffusion);
    let stix = dir.path().join("stix/findings.stix.json");
    std::fs::create_dir_all(stix.parent().unwrap()).unwrap();
    run(echolens().args(["export", "stix", "--from"]).arg(&out).arg("--out").arg(&stix));
    folders.push(stix.parent().unwrap().to_owned());
    // The demo command's own analyses (its corpus and store beside them are its input).
    let demo = dir.path().join("demo");
    run(echolens().args(["demo", "--json", "--out"]).arg(&demo));
    folders.extend(["coordination", "reuse", "keyness", "diffusion"].map(|f| demo.join(f)));
    let zip = dir.path().join("shared.zip");
    run(echolens().args(["export", "share", "--from"]).arg(&out).arg("--out").arg(&zip));
    let unzipped = dir.path().join("unzipped");
    unzip(&zip, &unzipped);
    folders.push(unzipped);

    let mut files = 0;
    for folder in &folders {
        for (path, text, values) in outputs(folder) {
            files += 1;
            let found = ids.found(&text, &values);
            assert!(found.is_empty(), "{} names accounts: {:?}", path.display(), &found[..found.len().min(5)]);
        }
    }
    assert!(files > 60, "{files} files scanned");

    // The same run with --reveal names them, in the tables and in the report: the scan sees what it looks for.
    let revealed = analyze(dir.path(), "revealed", &["--reveal"]);
    let named: Vec<PathBuf> = outputs(&revealed)
        .into_iter()
        .filter(|(_, text, values)| !ids.found(text, values).is_empty())
        .map(|(p, ..)| p)
        .collect();
    for file in ["report.html", "coordination/edges.csv", "reuse/cascades.csv"] {
        assert!(named.contains(&revealed.join(file)), "--reveal: {file} names accounts ({named:?})");
    }
}

/// Unzip with Python's zipfile (an independent reader), checking every entry's CRC.
fn unzip(zip: &Path, to: &Path) {
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nbad = z.testzip()\nassert bad is None, bad\nz.extractall(sys.argv[2])\nprint(len(z.namelist()))";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(zip).arg(to).output().unwrap();
    assert!(out.status.success(), "unzip: {}", String::from_utf8_lossy(&out.stderr));
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// `analyze --stix` and `export stix` write the same bundle, every time: STIX 2.1 objects made by the named
/// identity under the chosen TLP marking, groupings of pseudonymised accounts and cascades with their
/// evidence, DISARM's own attack patterns and nothing that attributes. The OASIS validator finds no error in
/// it and the stix2 library resolves every reference (with the peers' python); a bundle missing an object
/// fails that check. A report made with `--reveal` is exported or shared only when asked.
#[test]
fn the_stix_bundle_is_valid_resolves_and_is_the_same_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(dir.path(), "report", &["--stix", "--tlp", "red", "--identity", "Test Lab"]);
    let path = out.join("findings.stix.json");
    let bundle = read_json(&path);
    let objects = bundle["objects"].as_array().unwrap();
    let of = |t: &str| objects.iter().filter(|o| o["type"] == t).collect::<Vec<_>>();
    let identity = of("identity").into_iter().find(|o| o["name"] == "Test Lab").expect("the analyst").clone();
    let red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
    assert!(of("marking-definition").iter().any(|m| m["id"] == red && m["definition"]["tlp"] == "red"));
    for o in objects {
        assert_eq!(o["spec_version"], "2.1", "{}", o["id"]);
        assert!(
            !["campaign", "threat-actor", "intrusion-set", "indicator", "tool"].contains(&o["type"].as_str().unwrap())
        );
        let disarm =
            o["created_by_ref"] == "identity--f1a0f560-2d9e-4c5d-bf47-7e96e805de82" || o["name"] == "DISARM Foundation";
        if ["grouping", "observed-data", "note", "relationship", "report"].contains(&o["type"].as_str().unwrap()) {
            assert_eq!(o["created_by_ref"], identity["id"], "{}", o["id"]);
            assert_eq!(o["object_marking_refs"], serde_json::json!([red]), "{}", o["id"]);
        } else if o["type"] == "attack-pattern" {
            assert!(disarm, "DISARM's own: {}", o["id"]);
        }
    }
    let report = &of("report")[0];
    assert_eq!(report["report_types"], serde_json::json!(["threat-report"]));
    let description = report["description"].as_str().unwrap();
    for said in [
        "pseudonymised with a store-local key",
        "not proof of inauthenticity",
        "\"window_s\":60",
        "DISARM Red Framework version 1.6",
        "\"threshold\":0.5",
    ] {
        assert!(description.contains(said), "the report says {said:?}: {description}");
    }
    let groupings = of("grouping");
    let clusters: Vec<_> =
        groupings.iter().filter(|g| g["name"].as_str().unwrap().starts_with("Coordination cluster")).collect();
    assert_eq!(clusters.len(), 3, "the demo's three planted groups (two on X, one on Instagram)");
    assert!(groupings.iter().all(|g| g["context"] == "suspicious-activity"));
    let accounts = of("user-account");
    assert!(accounts.len() >= 32 && accounts.iter().all(|a| a["user_id"].as_str().unwrap().starts_with("u-")));
    let techniques: HashSet<&str> =
        of("attack-pattern").iter().map(|a| a["external_references"][0]["external_id"].as_str().unwrap()).collect();
    assert!(techniques.contains("T0119") && techniques.contains("T0084"), "{techniques:?}");
    assert!(!techniques.contains("T0049.003"));
    let relationships = of("relationship");
    assert!(
        relationships
            .iter()
            .all(|r| r["relationship_type"] == "related-to" && r["external_references"][0]["source_name"] == "DISARM")
    );
    let notes = of("note");
    assert!(notes.iter().any(|n| n["content"].as_str().unwrap().contains(" with x:u-")), "evidence message pairs");

    // The same bundle from the folder, byte for byte; another marking changes only the marking.
    let again = dir.path().join("again.stix.json");
    run(echolens()
        .args(["export", "stix", "--tlp", "red", "--identity", "Test Lab", "--from"])
        .arg(&out)
        .arg("--out")
        .arg(&again));
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
    // A cluster whose timing is like chance is no grouping; the report says how many were left out.
    let summary_csv = out.join("coordination/cluster_summary.csv");
    let mut reader = csv::Reader::from_path(&summary_csv).unwrap();
    let headers = reader.headers().unwrap().clone();
    let timing = headers.iter().position(|h| h == "timing_p").expect("a timing_p column");
    let lags = headers.iter().position(|h| h == "timing_lags").expect("a timing_lags column");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|r| r[timing].parse::<f64>().unwrap() < 0.05), "the planted groups act within seconds");
    let mut writer = csv::Writer::from_path(&summary_csv).unwrap();
    writer.write_record(&headers).unwrap();
    for (i, r) in rows.iter().enumerate() {
        // The first cluster marked over 50 lags; the second's p as high, but over nine lags, which cannot tell.
        let cells: Vec<&str> = r
            .iter()
            .enumerate()
            .map(|(j, c)| match (i, j) {
                (0 | 1, j) if j == timing => "0.4",
                (0, j) if j == lags => "50",
                (1, j) if j == lags => "9",
                _ => c,
            })
            .collect();
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
    let chance = dir.path().join("chance.stix.json");
    run(echolens().args(["export", "stix", "--from"]).arg(&out).arg("--out").arg(&chance));
    let chance_bundle = read_json(&chance);
    let chance_objects = chance_bundle["objects"].as_array().unwrap();
    let named = |prefix: &str| {
        chance_objects
            .iter()
            .filter(|o| o["type"] == "grouping" && o["name"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    assert_eq!(named("Coordination cluster"), 2, "nine lags cannot show chance timing");
    assert_eq!(named(&format!("Coordination cluster {}:", &rows[0][0])), 0, "the marked cluster is left out");
    let chance_report = chance_objects.iter().find(|o| o["type"] == "report").unwrap();
    assert!(chance_report["description"].as_str().unwrap().contains("1 clusters whose timing is like chance"));
    let green = dir.path().join("green.stix.json");
    run(echolens()
        .args(["export", "stix", "--tlp", "green", "--identity", "Test Lab", "--from"])
        .arg(&out)
        .arg("--out")
        .arg(&green));
    let green_text = std::fs::read_to_string(&green).unwrap();
    assert!(
        green_text.contains("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da") && !green_text.contains(red)
    );

    if let Some(python) = std::env::var_os("ECHOLENS_PEER_PYTHON").filter(|p| !p.is_empty()) {
        let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stix_check.py");
        let checked = std::process::Command::new(&python).arg(&check).arg(&path).output().unwrap();
        assert!(
            checked.status.success(),
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        // Without the analyst's identity, references no longer resolve: the check can fail.
        let mut broken = bundle.clone();
        broken["objects"].as_array_mut().unwrap().retain(|o| o["id"] != identity["id"]);
        let broken_path = dir.path().join("broken.json");
        std::fs::write(&broken_path, serde_json::to_string(&broken).unwrap()).unwrap();
        let checked = std::process::Command::new(&python).arg(&check).arg(&broken_path).output().unwrap();
        assert!(!checked.status.success(), "a dangling created_by_ref is caught");
        assert!(String::from_utf8_lossy(&checked.stdout).contains("unresolved"));
    } else {
        eprintln!("SKIPPED the STIX validator: set ECHOLENS_PEER_PYTHON (bash .ci/peers.sh)");
    }

    // A report with raw ids: exported only with --reveal, never shared.
    let revealed = analyze(dir.path(), "revealed", &["--reveal"]);
    let refused = echolens()
        .args(["export", "stix", "--from"])
        .arg(&revealed)
        .arg("--out")
        .arg(dir.path().join("r.json"))
        .output()
        .unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--reveal"));
    run(echolens()
        .args(["export", "stix", "--reveal", "--from"])
        .arg(&revealed)
        .arg("--out")
        .arg(dir.path().join("r.json")));
    let zip = dir.path().join("r.zip");
    let refused =
        echolens().args(["export", "share", "--from"]).arg(&revealed).arg("--out").arg(&zip).output().unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not for sharing"));
    assert!(!zip.exists());
}

/// `export share` zips the report, tables, networks, summaries and STIX bundle — not the store, its key or the
/// demo's corpus — with a manifest of SHA-256 hashes that holds; the same folder gives the same zip; a table
/// holding a raw account id stops it, naming the file, and nothing is written.
#[test]
fn share_zips_what_may_be_handed_on_with_a_manifest_and_refuses_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(dir.path(), "report", &["--stix"]);
    let zip = dir.path().join("report.zip");
    let printed = crate::common::json_of(&run(echolens()
        .args(["export", "share", "--json", "--from"])
        .arg(&out)
        .arg("--out")
        .arg(&zip)));
    assert!(printed["bytes"].as_u64().unwrap() > 10_000);
    let script = "import sys, zipfile, hashlib, json\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                  names = z.namelist()\nbad = []\nfor line in z.read('MANIFEST.sha256').decode().splitlines():\n    \
                  h, name = line.split('  ', 1)\n    if hashlib.sha256(z.read(name)).hexdigest() != h: bad.append(name)\n\
                  print(json.dumps({'names': names, 'bad': bad}))";
    let listed = std::process::Command::new("python3").args(["-c", script]).arg(&zip).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = listed["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for wanted in [
        "report.html",
        "summary.json",
        "coordination/edges.csv",
        "coordination/network.gexf",
        "findings.stix.json",
        "MANIFEST.sha256",
    ] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    assert!(
        names.iter().all(|n| !n.starts_with("demo-") && !n.contains("pseudonym.key") && !n.contains("_delta_log")),
        "{names:?}"
    );
    assert_eq!(listed["bad"], serde_json::json!([]), "every hash in the manifest holds");
    let again = dir.path().join("again.zip");
    run(echolens().args(["export", "share", "--from"]).arg(&out).arg("--out").arg(&again));
    assert_eq!(std::fs::read(&zip).unwrap(), std::fs::read(&again).unwrap(), "the same folder, the same zip");

    // A raw account id slipped into a table.
    let ids = Identities::of_demo(&out.join("demo-corpus"));
    // An X account's id (the set holds Instagram accounts' too, which `x:` would not name).
    let id = ids.ids.iter().find(|i| i.starts_with("900")).unwrap();
    let edges = out.join("coordination/edges.csv");
    let mut text = std::fs::read_to_string(&edges).unwrap();
    text.push_str(&format!("x:{id},x:u-0000000000000000,text,2,,,,,,,,,\n"));
    std::fs::write(&edges, text).unwrap();
    let leaked = dir.path().join("leaked.zip");
    let refused = echolens().args(["export", "share", "--from"]).arg(&out).arg("--out").arg(&leaked).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("edges.csv") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(!leaked.exists());
}
