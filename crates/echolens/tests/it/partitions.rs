//! The results do not depend on how many partitions the engine splits the work into: `analyze` (with sides
//! compared) on the demo corpus at 1, 2 and 7 partitions writes the same tables, networks and summaries.

use crate::common::{analyze_outputs, assert_same_outputs, demo_sides, echolens, run};

#[test]
fn results_do_not_depend_on_the_number_of_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let sides = demo_sides();
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
        runs.push(analyze_outputs(&out));
    }
    assert!(runs[0].len() > 30, "{:?}", runs[0].iter().map(|(p, _)| p).collect::<Vec<_>>());
    assert!(runs[0].iter().any(|(p, _)| p.starts_with("sides")), "sides compared too");
    for (i, other) in runs.iter().enumerate().skip(1) {
        assert_same_outputs(&runs[0], other, &format!("1 and {} partitions", [1, 2, 7][i]));
    }
}
