//! The floor for ingest benchmarks: read a JSONL file and parse every line into a typed record with serde_json,
//! nothing else (no normalisation, no store). `echolens ingest` is measured against this.
//!
//! cargo run --release -p echolens --example jsonl_floor -- corpus.jsonl

use std::io::BufRead;

use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Record {
    id: serde_json::Value,
    channel: serde_json::Value,
    author: Option<serde_json::Value>,
    timestamp: f64,
    text: String,
    #[serde(default)]
    urls: Vec<String>,
}

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: jsonl_floor FILE.jsonl");
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let mut line = Vec::new();
    let (mut ok, mut bad, mut text_bytes) = (0u64, 0u64, 0usize);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) => {
                ok += 1;
                text_bytes += r.text.len();
            }
            Err(_) => bad += 1,
        }
    }
    println!("{ok} records parsed, {bad} failed, {text_bytes} bytes of text");
    Ok(())
}
