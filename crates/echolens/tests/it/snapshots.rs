//! Snapshots of what each command writes on a small fixed corpus (the demo at 3,000 messages, seed 1, with a
//! fixed pseudonymisation key), and of the report's text structure: a change to any table, column or heading
//! shows as a diff to review (`INSTA_UPDATE=always cargo test` rewrites them; `cargo insta review` if
//! installed). Run-specific values (times, paths, versions) are taken out before comparing.

use std::path::Path;

use crate::common::{echolens, run};

/// A store of the demo corpus at 3,000 messages with a fixed pseudonymisation key.
fn demo_store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("pseudonym.key"), format!("{:064}\n", 7)).unwrap();
    run(echolens().args(["demo", "--generate", "3000", "--json", "--out"]).arg(dir.join("demo")));
    run(echolens().args(["ingest", "--store"]).arg(&store).arg(dir.join("demo/corpus")));
    store
}

/// A table's text with run-specific values out, at most `lines` lines (the rest counted).
fn table(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let total = text.lines().count();
    let mut out: Vec<&str> = text.lines().take(lines).collect();
    let more = format!("… {} more lines", total.saturating_sub(lines));
    if total > lines {
        out.push(&more);
    }
    out.join("\n")
}

/// `summary.json` with what changes from run to run replaced.
fn summary(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fn clean(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    if ["seconds", "run_at", "echolens_version", "store", "command", "out", "store_version"]
                        .contains(&k.as_str())
                    {
                        *x = serde_json::Value::String("…".into());
                    } else {
                        clean(x);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(clean),
            _ => {}
        }
    }
    clean(&mut v);
    v
}

#[test]
fn every_command_writes_the_same_tables_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let out = dir.path().join("out");
    let cmd = |args: &[&str], name: &str| {
        run(echolens().args(args).arg("--store").arg(&store).arg("--out").arg(out.join(name)));
        out.join(name)
    };
    let coordination = cmd(&["coordination"], "coordination");
    insta::assert_snapshot!("coordination_clusters", table(&coordination.join("clusters.csv"), 40));
    insta::assert_snapshot!("coordination_cluster_summary", table(&coordination.join("cluster_summary.csv"), 10));
    insta::assert_snapshot!("coordination_edges", table(&coordination.join("edges.csv"), 12));
    insta::assert_json_snapshot!("coordination_summary", summary(&coordination.join("summary.json")));
    let reuse = cmd(&["reuse"], "reuse");
    insta::assert_snapshot!("reuse_cascades", table(&reuse.join("cascade_summary.csv"), 20));
    let keyness = cmd(&["keyness", "--target", "channel=demo_channel_00"], "keyness");
    insta::assert_snapshot!("keyness_terms", table(&keyness.join("terms.csv"), 15));
    let by = cmd(&["keyness", "--by", "platform"], "keyness_by");
    insta::assert_snapshot!("keyness_by_platform", table(&by.join("terms_by.csv"), 25));
    let timeline = cmd(&["timeline", "--by", "week,platform"], "timeline");
    insta::assert_snapshot!("timeline_weeks", table(&timeline.join("timeline.csv"), 20));
    std::fs::write(dir.path().join("terms.txt"), "election\ntruth\n").unwrap();
    let diffusion = run(echolens()
        .args(["diffusion", "--terms"])
        .arg(dir.path().join("terms.txt"))
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(out.join("diffusion")));
    drop(diffusion);
    insta::assert_snapshot!("diffusion_adoption", table(&out.join("diffusion/term_adoption.csv"), 20));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo/truth.json")).unwrap()).unwrap();
    let mut sides = vec!["compare".to_owned()];
    for side in truth["sides"].as_array().unwrap() {
        for s in side["selectors"].as_array().unwrap() {
            sides.push(format!("--side={}={}", side["name"].as_str().unwrap(), s.as_str().unwrap()));
        }
    }
    let compare = cmd(&sides.iter().map(String::as_str).collect::<Vec<_>>(), "compare");
    insta::assert_snapshot!("compare_sides", table(&compare.join("sides.csv"), 5));
    insta::assert_snapshot!("compare_reach", table(&compare.join("reach.csv"), 20));
    insta::assert_snapshot!("compare_copying", table(&compare.join("copying.csv"), 10));
}

/// The report's headings and table headers, in order: its structure, not its numbers.
#[test]
fn the_report_has_the_same_structure_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let out = dir.path().join("report");
    run(echolens().args(["analyze", "--json", "--store"]).arg(&store).arg("--out").arg(&out));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let mut structure = Vec::new();
    let mut rest = html.as_str();
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let tag: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        if !["h1", "h2", "h3", "th"].contains(&tag.as_str()) {
            continue;
        }
        let Some(open) = rest.find('>') else { break };
        let Some(close) = rest.find(&format!("</{tag}>")) else { break };
        let inner = &rest[open + 1..close];
        // Text only: tags inside a heading are dropped, numbers kept out of the structure.
        let mut text = String::new();
        let mut in_tag = false;
        for c in inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(if c.is_ascii_digit() { '#' } else { c }),
                _ => {}
            }
        }
        structure.push(format!("{tag}: {text}"));
    }
    insta::assert_snapshot!("report_structure", structure.join("\n"));
}
