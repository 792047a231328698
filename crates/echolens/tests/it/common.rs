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
