//! The results do not depend on how many partitions the engine splits the work into: `analyze` (with sides
//! compared) on the demo corpus at 1, 2 and 7 partitions writes the same tables, networks and summaries.

use std::path::{Path, PathBuf};

use crate::common::{echolens, run};

/// Every table and network under `dir`, relative path → bytes; every summary with what changes from run to
/// run (times, paths) taken out.
fn outputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "demo-corpus") {
                    walk(root, &path, out);
                }
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().to_owned();
            match path.extension().and_then(|e| e.to_str()) {
                Some("csv" | "gexf" | "graphml") => out.push((rel, std::fs::read(&path).unwrap())),
                Some("json") if rel != Path::new("demo-truth.json") => {
                    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                    clean(&mut v);
                    out.push((rel, v.to_string().into_bytes()));
                }
                _ => {}
            }
        }
    }
    fn clean(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for k in ["seconds", "run_at", "stages", "report", "store", "out", "command"] {
                    map.remove(k);
                }
                map.values_mut().for_each(clean);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(clean),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn results_do_not_depend_on_the_number_of_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let truth_dir = dir.path().join("truth");
    run(echolens().args(["demo", "--generate", "20000", "--json", "--out"]).arg(&truth_dir));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(truth_dir.join("truth.json")).unwrap()).unwrap();
    let mut sides = Vec::new();
    for side in truth["sides"].as_array().unwrap() {
        for s in side["selectors"].as_array().unwrap() {
            sides.push(format!("--side={}={}", side["name"].as_str().unwrap(), s.as_str().unwrap()));
        }
    }
    let mut runs = Vec::new();
    for partitions in [1, 2, 7] {
        let out = dir.path().join(format!("p{partitions}"));
        // One pseudonymisation key for the three stores, so that pseudonyms are comparable.
        let store = dir.path().join(format!("p{partitions}-store"));
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join("pseudonym.key"), format!("{:064}\n", 7)).unwrap();
        run(echolens()
            .env("ECHOLENS_PARTITIONS", partitions.to_string())
            .arg("analyze")
            .arg("--out")
            .arg(&out)
            .args(&sides));
        runs.push(outputs(&out));
    }
    let names = |r: &[(PathBuf, Vec<u8>)]| r.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert!(runs[0].len() > 30, "{:?}", names(&runs[0]));
    assert!(runs[0].iter().any(|(p, _)| p.starts_with("sides")), "sides compared too");
    for (i, other) in runs.iter().enumerate().skip(1) {
        assert_eq!(names(&runs[0]), names(other), "the same files");
        for ((path, a), (_, b)) in runs[0].iter().zip(other) {
            if a != b {
                let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                let around =
                    |v: &[u8]| String::from_utf8_lossy(&v[at.saturating_sub(80)..(at + 80).min(v.len())]).into_owned();
                panic!(
                    "{} differs between 1 and {} partitions at byte {at}:\n{}\n{}",
                    path.display(),
                    [1, 2, 7][i],
                    around(a),
                    around(b)
                );
            }
        }
    }
}
