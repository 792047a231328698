//! Helpers shared by the integration tests: run the `echolens` binary as a user would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn echolens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_echolens"))
}

pub fn samples() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../../../shared/data/samples")
}

/// Run and require success, showing both streams when it fails.
pub fn run(cmd: &mut Command) -> Output {
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

pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
