//! Leiden on a combined network of E edges, as coordination runs it in the client process: how long it takes
//! and the process's peak memory, for the decision of where community detection runs (`bench/leiden.sh`).
//!
//!     cargo run --release -p echolens-analysis --example leiden_scale -- EDGES
//!
//! The network: EDGES / 8 accounts (16 edges each on average) in planted groups of 50, four edges in five inside
//! a group, weights 1 to 20; a fixed seed.

use std::time::Instant;

use leiden_rs::{GraphDataBuilder, Leiden, LeidenConfig, QualityType};

fn main() {
    let edges: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).expect("EDGES");
    let nodes = (edges / 8).max(100);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let started = Instant::now();
    let mut builder = GraphDataBuilder::new(nodes);
    let mut added = 0;
    while added < edges {
        let a = (next() % nodes as u64) as usize;
        let b = if next() % 5 < 4 {
            let group = a / 50 * 50;
            (group + (next() % 50) as usize).min(nodes - 1)
        } else {
            (next() % nodes as u64) as usize
        };
        if a == b {
            continue;
        }
        builder.add_edge(a.min(b), a.max(b), (1 + next() % 20) as f64).expect("an edge");
        added += 1;
    }
    let graph = builder.build().expect("a graph");
    let built = started.elapsed().as_secs_f64();
    let config =
        LeidenConfig { resolution: 1.0, seed: Some(1), quality: QualityType::Modularity, ..LeidenConfig::default() };
    let t = Instant::now();
    let out = Leiden::new(config).run(&graph).expect("Leiden");
    let leiden = t.elapsed().as_secs_f64();
    let communities: std::collections::HashSet<usize> = (0..nodes).map(|n| out.partition.community_of(n)).collect();
    let peak_kb: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    println!(
        "{{\"edges\": {edges}, \"nodes\": {nodes}, \"build_s\": {built:.2}, \"leiden_s\": {leiden:.2}, \"communities\": {}, \"peak_mb\": {}}}",
        communities.len(),
        peak_kb / 1024
    );
}
