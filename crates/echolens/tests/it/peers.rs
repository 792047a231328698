//! Cross-checks against the peers users would otherwise run, on the same generated corpus.
//!
//! Needs a Python with numpy and coordination-network-toolkit: `bash .ci/peers.sh` installs them into a venv and
//! prints its python; `.ci/run` does so and sets `ECHOLENS_PEER_PYTHON`. Without it the test says it was skipped.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

type Edges = BTreeMap<(String, String), u64>;

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The toolkit's networks and, on its own tables and join, the same link network weighted by distinct URLs.
const TOOLKIT: &str = r#"
import json, sqlite3, sys, contextlib, io
from coordination_network_toolkit.preprocess import preprocess_csv_files
from coordination_network_toolkit.compute_networks import compute_co_tweet_network, compute_co_link_network
db, csv_path, window, min_weight = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with contextlib.redirect_stdout(io.StringIO()):
    preprocess_csv_files(db, [csv_path])
    con = sqlite3.connect(db)
    con.execute("delete from message_url where url = ''")  # the toolkit reads an empty urls field as the URL ''
    con.commit()
    compute_co_tweet_network(db, window, min_edge_weight=min_weight, n_threads=1)
    compute_co_link_network(db, window, n_threads=1, min_edge_weight=min_weight)
out = {}
for name in ["co_tweet_network", "co_link_network"]:
    out[name] = [list(map(str, r)) for r in con.execute(f"select user_1, user_2, weight from {name}")]
out["co_link_distinct_urls"] = [list(map(str, r)) for r in con.execute(
    """select e_1.user_id, e_2.user_id, count(distinct e_1.url) from message_url e_1
       join message_url e_2 on e_1.url = e_2.url and e_2.timestamp between e_1.timestamp - ? and e_1.timestamp + ?
       where e_1.user_id < e_2.user_id group by e_1.user_id, e_2.user_id having count(distinct e_1.url) >= ?""",
    (window, window, min_weight))]
print(json.dumps(out))
"#;

/// Undirected edges without self-loops; the toolkit stores both directions, each weighted by the distinct
/// messages of its first user, so the folded weight is the larger.
fn fold(rows: &serde_json::Value) -> Edges {
    let mut out = Edges::new();
    for r in rows.as_array().unwrap() {
        let (a, b) = (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned());
        let w: u64 = r[2].as_str().unwrap().parse().unwrap();
        if a == b {
            continue;
        }
        let key = if a < b { (a, b) } else { (b, a) };
        let e = out.entry(key).or_default();
        *e = (*e).max(w);
    }
    out
}

fn echolens_edges(path: &Path, kind: &str) -> Edges {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Edges::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.splitn(5, ',').collect();
        if cols[2] != kind {
            continue;
        }
        let strip = |s: &str| s.split_once(':').unwrap().1.to_owned();
        out.insert((strip(cols[0]), strip(cols[1])), cols[3].parse().unwrap());
    }
    out
}

/// echolens `text` and `link` edges against coordination-network-toolkit's co_tweet and co_link on a corpus from
/// the project's generator (`echolens demo --generate`, exact and edited campaigns), at the same window and
/// minimum weight.
#[test]
fn text_and_link_edges_agree_with_coordination_network_toolkit() {
    let Some(python) = crate::common::peer_python("coordination-network-toolkit") else { return };
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_echolens"))
            .args(["demo", "--generate", "20000", "--seed", "7", "--campaigns", "8", "--layout", "jsonl"])
            .arg("--toolkit-csv")
            .arg("--out")
            .arg(&generated),
    );
    let store = dir.path().join("store");
    let jsonl = generated.join("corpus/messages.jsonl");
    run_ok(Command::new(env!("CARGO_BIN_EXE_echolens")).arg("ingest").arg("--store").arg(&store).arg(&jsonl));
    let out = dir.path().join("coordination");
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_echolens"))
            .args(["coordination", "--reveal", "--kinds", "text,link", "--window", "60s", "--min-weight", "2"])
            .args([
                "--min-tokens",
                "1",
                "--max-key-accounts",
                "1000000000",
                "--crowd-size",
                "0",
                "--horizon",
                "0",
                "--store",
            ])
            .arg(&store)
            .arg("--out")
            .arg(&out),
    );
    let script = dir.path().join("toolkit.py");
    std::fs::write(&script, TOOLKIT).unwrap();
    let csv = generated.join("toolkit.csv");
    let json = run_ok(Command::new(&python).arg(&script).arg(dir.path().join("t.db")).arg(&csv).args(["60", "2"]));
    let peer: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();

    // co_tweet: the same edges with the same weights.
    let text = echolens_edges(&out.join("edges.csv"), "text");
    let co_tweet = fold(&peer["co_tweet_network"]);
    assert!(text.len() > 20, "the corpus has text coordination ({} edges)", text.len());
    assert_eq!(text, co_tweet, "echolens text vs toolkit co_tweet");

    // co_link weighs an edge by messages, echolens by distinct URLs (the issue's definition): an account that
    // posts the same link five times in a window is one shared key, not five. On the toolkit's own tables and
    // join, counting distinct URLs gives exactly echolens's edges; the toolkit's co_link has every one of them
    // with a weight at least as high, and its other edges are pairs that share fewer than two distinct URLs.
    let link = echolens_edges(&out.join("edges.csv"), "link");
    let distinct = fold(&peer["co_link_distinct_urls"]);
    let co_link = fold(&peer["co_link_network"]);
    assert!(link.len() > 20, "the corpus has link coordination ({} edges)", link.len());
    assert_eq!(link, distinct, "echolens link vs the toolkit's join counted by distinct URL");
    for (pair, w) in &link {
        assert!(co_link.get(pair).is_some_and(|t| t >= w), "{pair:?}: echolens {w}, co_link {:?}", co_link.get(pair));
    }
    for pair in co_link.keys().filter(|p| !link.contains_key(*p)) {
        assert!(!distinct.contains_key(pair), "{pair:?} is in co_link only, yet shares two distinct URLs");
    }
}

/// CooRnet's `estimate_coord_interval`, transcribed: per URL shared at least twice, the delay of its second
/// share and of its first share past half of its shares; the 0.5 quantile of the latter over the URLs whose
/// second share is within the 0.1 quantile of all second-share delays (numpy's quantiles are R's default type).
/// As echolens takes it, over the URLs that at least two accounts (and at most 1000) shared.
const COORNET: &str = r#"
import csv, sys, collections
import numpy as np
shares = collections.defaultdict(list)
with open(sys.argv[1], encoding="utf-8") as f:
    for row in csv.DictReader(f):
        shares[row["url"]].append((int(row["ts"]), row["account"]))
keys = []
for url, rows in shares.items():
    accounts = {a for _, a in rows}
    if len(rows) < 2 or not 2 <= len(accounts) <= 1000:
        continue
    times = sorted(t for t, _ in rows)
    n, t0 = len(times), times[0]
    second = (times[1] - t0) / 1e6
    past = min(t - t0 for rank, t in enumerate(times, 1) if rank / n > 0.5) / 1e6
    keys.append((second, past))
cut = np.quantile([k[0] for k in keys], 0.1)
quick = [k[1] for k in keys if k[0] <= cut]
print("%d %.9f" % (len(keys), max(float(np.quantile(quick, 0.5)), 1.0)))
"#;

/// echolens's window estimate for links against the transcription of CooRnet's algorithm, on the shares of a
/// generated corpus with crowds (links shared after human delays) and campaigns (links within seconds).
#[test]
fn the_window_estimate_is_coornets() {
    let Some(python) = crate::common::peer_python("coordination-network-toolkit") else { return };
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    let bin = env!("CARGO_BIN_EXE_echolens");
    run_ok(
        Command::new(bin)
            .args(["demo", "--generate", "30000", "--seed", "5", "--crowds", "8", "--layout", "jsonl", "--out"])
            .arg(&generated),
    );
    let store = dir.path().join("store");
    run_ok(Command::new(bin).arg("ingest").arg("--store").arg(&store).arg(generated.join("corpus")));
    let out = dir.path().join("coordination");
    run_ok(
        Command::new(bin)
            .args(["coordination", "--reveal", "--kinds", "link", "--store"])
            .arg(&store)
            .arg("--out")
            .arg(&out),
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let ours = summary["window_estimate"]["per_kind"]["link"].as_f64().expect("a link estimate");
    let shares = run_ok(Command::new(bin).args(["sql", "--output", "csv", "--store"]).arg(&store).arg(
        "SELECT u AS url, CAST(ts AS BIGINT) AS ts, account FROM (SELECT unnest(urls) AS u, ts, \
         concat(platform, ':', author_id) AS account FROM messages \
         WHERE author_id IS NOT NULL AND repost_of IS NULL AND forwarded_from IS NULL AND cardinality(urls) > 0)",
    ));
    let csv = dir.path().join("shares.csv");
    std::fs::write(&csv, shares).unwrap();
    let script = dir.path().join("coornet.py");
    std::fs::write(&script, COORNET).unwrap();
    let theirs = run_ok(Command::new(&python).arg(&script).arg(&csv));
    let mut parts = theirs.split_whitespace();
    let keys: u64 = parts.next().unwrap().parse().unwrap();
    let estimate: f64 = parts.next().unwrap().parse().unwrap();
    assert!(keys > 50, "{keys} URLs shared twice");
    assert!((ours - estimate).abs() < 1e-6, "echolens {ours} s, CooRnet's algorithm {estimate} s");
}
