//! Helpers shared by the integration tests: run the `echolens` binary as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) fn echolens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_echolens"))
}

pub(crate) fn samples() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../../testdata/samples")
}

/// The Python `.ci/peers.sh` installs the peers into (`ECHOLENS_PEER_PYTHON`); `None`, saying the test is
/// skipped and that it needs `what`, when it is not set.
pub(crate) fn peer_python(what: &str) -> Option<PathBuf> {
    match std::env::var_os("ECHOLENS_PEER_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!("SKIPPED: set ECHOLENS_PEER_PYTHON to a python with {what} (bash .ci/peers.sh)");
            None
        }
    }
}

/// Run and require success, showing both streams when it fails.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run echolens");
    assert!(
        out.status.success(),
        "echolens failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A CSV file's rows as header → value maps.
pub(crate) fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut rows = csv_rows(path).into_iter();
    let header: Vec<String> = rows.next().expect("header");
    rows.map(|row| header.iter().cloned().zip(row).collect()).collect()
}

/// A minimal RFC 4180 reader for the tests (quoted fields, doubled quotes, newlines inside quotes).
pub(crate) fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

/// Every table and network under `dir`, relative path → bytes; every summary with what changes from run to
/// run (times, paths) taken out.
pub(crate) fn analyze_outputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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
                for k in ["seconds", "run_at", "stages", "report", "report_bytes", "store", "out", "command"] {
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

/// Two runs' [`analyze_outputs`] are the same file for file, byte for byte; else the first difference, in
/// context, naming `what` was compared.
pub(crate) fn assert_same_outputs(a: &[(PathBuf, Vec<u8>)], b: &[(PathBuf, Vec<u8>)], what: &str) {
    let names = |r: &[(PathBuf, Vec<u8>)]| r.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(a), names(b), "the same files ({what})");
    for ((path, x), (_, y)) in a.iter().zip(b) {
        if x != y {
            let at = x.iter().zip(y).position(|(p, q)| p != q).unwrap_or(x.len().min(y.len()));
            let around =
                |v: &[u8]| String::from_utf8_lossy(&v[at.saturating_sub(80)..(at + 80).min(v.len())]).into_owned();
            panic!("{} differs ({what}) at byte {at}:\n{}\n{}", path.display(), around(x), around(y));
        }
    }
}

/// The demo's sides as `--side` arguments, from its truth.
pub(crate) fn demo_sides() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    run(echolens().args(["demo", "--generate", "20000", "--json", "--out"]).arg(dir.path()));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap()).unwrap();
    let mut sides = Vec::new();
    for side in truth["sides"].as_array().unwrap() {
        for s in side["selectors"].as_array().unwrap() {
            sides.push(format!("--side={}={}", side["name"].as_str().unwrap(), s.as_str().unwrap()));
        }
    }
    sides
}
