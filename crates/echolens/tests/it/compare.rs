//! `echolens compare` on the demo corpus's two sides with planted differences, the audience figures as the
//! store keeps them, and the errors a user meets.

use std::collections::HashMap;
use std::path::Path;

use crate::common::{echolens, json_of, read_csv, run, samples};

/// The demo corpus at analyze's size, ingested: the store and the truth.
fn demo(dir: &Path) -> (std::path::PathBuf, serde_json::Value) {
    run(echolens().args(["demo", "--generate", "20000", "--json", "--out"]).arg(dir.join("demo")));
    let store = dir.join("store");
    run(echolens().args(["ingest", "--store"]).arg(&store).arg(dir.join("demo/corpus")));
    let truth = serde_json::from_str(&std::fs::read_to_string(dir.join("demo/truth.json")).unwrap()).unwrap();
    (store, truth)
}

fn side_args(truth: &serde_json::Value) -> Vec<String> {
    let mut args = Vec::new();
    for side in truth["sides"].as_array().expect("the demo's sides") {
        for s in side["selectors"].as_array().unwrap() {
            args.push("--side".to_owned());
            args.push(format!("{}={}", side["name"].as_str().unwrap(), s.as_str().unwrap()));
        }
    }
    args
}

#[test]
fn the_demo_sides_differ_as_planted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, truth) = demo(dir.path());
    let out = dir.path().join("compare");
    let summary = json_of(&run(echolens()
        .args(["compare", "--json", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(&out)
        .args(side_args(&truth))));
    let sides: HashMap<String, HashMap<String, String>> =
        read_csv(&out.join("sides.csv")).into_iter().map(|r| (r["side"].clone(), r)).collect();
    let n = |side: &str, col: &str| -> f64 {
        sides[side][col].parse().unwrap_or_else(|_| panic!("{side}.{col} = {:?}", sides[side][col]))
    };
    // One posts more.
    assert!(n("alpha", "messages") > 1.5 * n("beta", "messages"), "{sides:?}");
    // One's vocabulary spreads further: the channels that took up the planted vocabulary are alpha's adopters.
    assert!(n("alpha", "vocabulary_adopters") > n("beta", "vocabulary_adopters"), "{sides:?}");
    let adopters = read_csv(&out.join("vocabulary/adopters.csv"));
    let planted: Vec<String> = truth["vocabulary"]["adoption_day"].as_array().unwrap()[1..]
        .iter()
        .map(|a| a[0].as_str().unwrap().to_owned())
        .collect();
    let found: std::collections::HashSet<&str> =
        adopters.iter().filter(|a| a["side"] == "alpha").map(|a| a["channel_id"].as_str()).collect();
    let beta_channel = truth["sides"][1]["selectors"][0].as_str().unwrap().trim_start_matches("channel=");
    assert!(!found.is_empty() && found.iter().all(|c| planted.iter().any(|p| p == c)), "{found:?} vs {planted:?}");
    for a in adopters.iter().filter(|a| a["side"] == "alpha") {
        assert!(["zorblat", "kestrine accord", "vellumark"].contains(&a["term"].as_str()), "{a:?}");
        assert!(a["first_key"].starts_with("telegram:"), "each adoption names its message: {a:?}");
        assert!(a["days_after_side"].parse::<f64>().unwrap() > 0.0);
        assert_ne!(a["channel_name"], beta_channel);
    }
    // One is copied more: the Persian cascade begun in beta's channel reached the other Persian channels.
    assert!(n("beta", "copies_elsewhere") > n("alpha", "copies_elsewhere"), "{sides:?}");
    let copying = read_csv(&out.join("copying.csv"));
    let persian = &truth["cascades"][0];
    let origin = persian["origin_key"].as_str().unwrap();
    let row = copying
        .iter()
        .find(|c| c["side"] == "beta" && c["direction"] == "out" && c["origin_key"] == origin)
        .unwrap_or_else(|| panic!("beta's cascade from {origin}: {copying:?}"));
    let copies: Vec<&str> = row["copy_keys"].split(' ').collect();
    for k in persian["member_keys"].as_array().unwrap()[1..].iter().map(|k| k.as_str().unwrap()) {
        assert!(copies.contains(&k), "{k} among {copies:?}");
    }
    // One has a coordinated core: the planted group's accounts are in clusters, alpha's channel is not.
    assert!(n("beta", "accounts_in_clusters") >= 12.0, "{sides:?}");
    assert!(n("beta", "clustered_account_share") > 0.9);
    assert_eq!(n("alpha", "accounts_in_clusters"), 0.0);
    // Its coordinated actions: the planted group's messages (each one on a key shared inside the cluster).
    let planted = truth["campaigns"][0]["message_keys"].as_array().unwrap().len() as f64;
    assert_eq!(n("beta", "messages_in_coordinated_actions"), planted, "{sides:?}");
    assert!(n("beta", "messages_in_coordinated_actions") <= n("beta", "messages_by_clustered_accounts"));
    assert_eq!(n("alpha", "messages_in_coordinated_actions"), 0.0);
    let coordination = read_csv(&out.join("coordination.csv"));
    assert!(coordination.iter().any(|c| c["side"] == "beta" && !c["evidence_keys"].is_empty()), "{coordination:?}");
    // Reach: a figure no source of a side states is "no data", never zero; the stated ones are added up.
    let reach = read_csv(&out.join("reach.csv"));
    let cell = |side: &str, platform: &str, measure: &str| {
        reach
            .iter()
            .find(|r| r["side"] == side && r["platform"] == platform && r["measure"] == measure)
            .unwrap_or_else(|| panic!("{side} {platform} {measure} in {reach:?}"))
            .clone()
    };
    let views = cell("alpha", "telegram", "views");
    assert_eq!((views["total"].as_str(), views["note"].as_str()), ("", "no data"), "a Desktop export has no views");
    let reactions = cell("alpha", "telegram", "reactions");
    assert!(reactions["total"].parse::<u64>().unwrap() > 0 && reactions["note"].is_empty(), "{reactions:?}");
    assert!(reactions["messages_with_figure"].parse::<u64>().unwrap() < reactions["messages"].parse::<u64>().unwrap());
    let likes = cell("beta", "x", "likes");
    assert_eq!(likes["messages_with_figure"], likes["messages"], "every demo X post states its likes");
    assert!(
        !reach.iter().any(|r| r["side"] == "alpha" && r["platform"] == "x"),
        "no row for a platform a side is not on"
    );
    // The summary says the same, with the parameters.
    assert_eq!(summary["analysis"], "compare");
    assert_eq!(summary["params"]["min_z"], 3.29);
    assert_eq!(summary["sides"][0]["side"], "alpha");
    assert!(summary["sides"][1]["selection"].as_str().unwrap().contains("author=x:u-"), "pseudonymised: {summary}");
    // Over time: the two sides' days, each with the corpus's count beside it.
    let days = read_csv(&out.join("over_time.csv"));
    assert!(days.iter().all(|d| d["messages"].parse::<u64>().unwrap() <= d["corpus_messages"].parse::<u64>().unwrap()));
    let hours = read_csv(&out.join("hours.csv"));
    assert!(hours.iter().all(|h| h["hour"].parse::<u8>().unwrap() < 24));
    let total: u64 = hours.iter().filter(|h| h["side"] == "alpha").map(|h| h["messages"].parse::<u64>().unwrap()).sum();
    assert_eq!(total as f64, n("alpha", "messages"), "every message in one hour of day");
}

#[test]
fn a_side_without_messages_or_a_lone_side_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    run(echolens().args(["ingest", "--store"]).arg(&store).arg(samples().join("zeeschuimer-layouts/tiktok.ndjson")));
    let compare = |sides: &[&str]| {
        let mut cmd = echolens();
        cmd.args(["compare", "--store"]).arg(&store).arg("--out").arg(dir.path().join("out"));
        for s in sides {
            cmd.args(["--side", s]);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{sides:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = compare(&["a=platform=tiktok"]);
    assert!(err.contains("needs two or more"), "{err}");
    let err = compare(&["a=platform=tiktok", "b=channel=nobody"]);
    assert!(err.contains("side b") && err.contains("channel=nobody"), "{err}");
    let err = compare(&["a/b=platform=tiktok", "c=platform=x"]);
    assert!(err.contains("a short label"), "{err}");
    let err = compare(&["a=platform=tiktok", "b=where=nonsense("]);
    assert!(err.contains("side b (where=nonsense(): SQL error"), "the side and its selector: {err}");
    let err = compare(&["a=platform=tiktok", "b=colour=red"]);
    assert!(err.contains("unknown kind \"colour\""), "{err}");
}

/// The audience figures reach the store's engagement columns from the readers that state them, and stay empty
/// (null, not zero) where a source states none.
#[test]
fn audience_figures_are_stored_where_the_source_states_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for f in [
        "zeeschuimer-layouts/tiktok.ndjson",
        "4cat-telegram-layouts/telegram.ndjson",
        "coordination-network-toolkit/example.csv",
    ] {
        run(echolens().args(["ingest", "--store"]).arg(&store).arg(samples().join(f)));
    }
    let out = run(echolens().args(["sql", "--output", "json", "--store"]).arg(&store).arg(
        "SELECT platform, count(*) AS n, count(views) AS views, sum(views) AS views_total, count(likes) AS likes, \
         count(shares) AS shares FROM messages GROUP BY platform ORDER BY platform",
    ));
    let rows = json_of(&out);
    let by: HashMap<String, &serde_json::Value> =
        rows.as_array().unwrap().iter().map(|r| (r["platform"].as_str().unwrap().to_owned(), r)).collect();
    let tiktok = by["tiktok"];
    assert!(tiktok["views"].as_i64().unwrap() >= 1 && tiktok["views_total"].as_i64().unwrap() >= 100, "{rows}");
    let telegram = by["telegram"];
    assert!(telegram["views"].as_i64().unwrap() >= 2 && telegram["shares"].as_i64().unwrap() >= 2, "{rows}");
    assert_eq!(telegram["likes"], 0, "4CAT's Telegram states no likes: {rows}");
    // The toolkit's CSV states no figure at all.
    let toolkit = by.iter().find(|(p, _)| !["tiktok", "telegram"].contains(&p.as_str())).expect("the toolkit's rows").1;
    assert_eq!((toolkit["views"].as_i64(), toolkit["likes"].as_i64()), (Some(0), Some(0)), "{rows}");
}

/// `analyze --side` writes the comparison beside the other tables and a section of the report, every selection
/// escaped there.
#[test]
fn analyze_with_sides_adds_a_section_to_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let truth_dir = dir.path().join("truth");
    run(echolens().args(["demo", "--generate", "20000", "--json", "--out"]).arg(&truth_dir));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(truth_dir.join("truth.json")).unwrap()).unwrap();
    let out = dir.path().join("report");
    run(echolens()
        .args(["analyze", "--reveal", "--out"])
        .arg(&out)
        .args(side_args(&truth))
        .args(["--side", "all=where=text <> '<img src=x onerror=alert(1)>'"]));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<section id=\"sides\"><h2>Sides compared</h2>"), "the section");
    assert!(html.contains("<a href=\"#sides\">Sides</a>"), "in the navigation");
    assert!(!html.contains("<img src=x"), "a selection is text, never markup");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "shown escaped");
    assert!(html.contains("no data"), "a figure no source states");
    assert!(html.contains("more than one side"), "the overlap is said");
    for side in ["alpha", "beta", "all"] {
        assert!(
            html.contains(&format!("The messages behind side {side}&#39;s figures"))
                || html.contains(&format!("The messages behind side {side}'s figures")),
            "{side}'s evidence"
        );
    }
    let sides = read_csv(&out.join("sides/sides.csv"));
    assert_eq!(sides.iter().map(|r| r["side"].as_str()).collect::<Vec<_>>(), ["alpha", "beta", "all"]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["sides"][0]["side"], "alpha");
    assert!(summary["outputs"].as_array().unwrap().iter().any(|o| o == "sides/sides.csv"), "{}", summary["outputs"]);
}

/// Figures as large as a count can be, on several messages: added up without overflow, the run completes.
#[test]
fn the_largest_figures_do_not_overflow_a_total() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.jsonl");
    let mut lines = String::new();
    for i in 0..6 {
        let channel = if i % 2 == 0 { "a" } else { "b" };
        lines.push_str(&format!(
            "{{\"id\": {i}, \"channel\": \"{channel}\", \"author\": \"u{i}\", \"timestamp\": {}, \"text\": \"words {i}\", \
             \"views\": 18446744073709551615, \"likes\": 9223372036854775807}}\n",
            1_709_251_200 + i * 3600
        ));
    }
    std::fs::write(&input, lines).unwrap();
    let store = dir.path().join("store");
    run(echolens().args(["ingest", "--store"]).arg(&store).arg(&input));
    let out = dir.path().join("out");
    run(echolens().args(["compare", "--store"]).arg(&store).arg("--out").arg(&out).args([
        "--side",
        "a=channel=a",
        "--side",
        "b=channel=b",
    ]));
    let reach = read_csv(&out.join("reach.csv"));
    let views = reach.iter().find(|r| r["side"] == "a" && r["measure"] == "views").unwrap();
    assert_eq!(views["messages_with_figure"], "3");
    assert!(views["total"].parse::<f64>().unwrap() > 2.0e19, "{views:?}");
}
