//! `echolens analyze` end to end: the tables, the report, pseudonyms, hostile input, and the report in a real
//! browser.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::{echolens, json_of, read_csv, run, samples};
use arrow::datatypes::DataType;
use serde_json::{Value, json};

/// A column of a CSV file.
fn column(path: &Path, name: &str) -> Vec<String> {
    read_csv(path)
        .into_iter()
        .map(|mut r| r.remove(name).unwrap_or_else(|| panic!("{}: no {name}", path.display())))
        .collect()
}

fn analyze(args: &[&str], out: &Path) -> Value {
    json_of(&run(echolens().arg("analyze").arg("--json").arg("--out").arg(out).args(args)))
}

/// The demo through `analyze`: every table and the report, pseudonyms that hold across runs and hide the ids,
/// `--reveal` that shows them, and Parquet tables that hold what the CSV ones do.
#[test]
fn analyze_on_the_demo_writes_every_table_and_a_report_with_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let s = analyze(&["--demo-messages", "6000"], &out);
    assert_eq!(s["demo"], true);
    // The store, with its pseudonym key, is beside the folder a user hands on, not in it.
    assert!(echolens::analyze::demo_store(&out).join("pseudonym.key").exists());
    assert!(!out.join("store").exists() && !out.join("pseudonym.key").exists());
    assert!(s["corpus"]["messages"].as_u64().unwrap() >= 6000, "{s}");
    assert!(s["coordination"]["clusters"].as_u64().unwrap() >= 2, "{}", s["coordination"]);
    assert!(s["reuse"]["cascades"].as_u64().unwrap() >= 1, "{}", s["reuse"]);
    let campaigns = s["campaigns"].as_array().unwrap();
    assert!(campaigns.len() >= 2, "the largest clusters and the widest cascade's origin: {campaigns:?}");
    for c in campaigns {
        assert!(!c["top_terms"].as_array().unwrap().is_empty(), "{c}");
    }
    let stages: Vec<&str> = s["stages"].as_array().unwrap().iter().map(|x| x["stage"].as_str().unwrap()).collect();
    for stage in ["ingest", "timeline", "coordination", "reuse", "vocabulary", "tables", "report"] {
        assert!(stages.contains(&stage), "{stages:?}");
    }
    let outputs: Vec<&str> = s["outputs"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
    for file in [
        "timeline/timeline.csv",
        "coordination/edges.csv",
        "coordination/clusters.csv",
        "coordination/network.gexf",
        "coordination/sweep.csv",
        "reuse/cascades.csv",
        "vocabulary/1-cluster-1/keyness/terms.csv",
        "vocabulary/1-cluster-1/diffusion/adoption.csv",
        "vocabulary/1-cluster-1/keyness_by_week/terms_by.csv",
    ] {
        assert!(outputs.contains(&file), "{file} not in {outputs:?}");
    }
    for o in &outputs {
        assert!(out.join(o).is_file(), "{o} listed but not written");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.len() < 5 << 20, "report of {} bytes", html.len());
    for id in ["corpus", "volume", "coordination", "reuse", "vocabulary", "reproduce"] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "no section {id}");
    }
    assert!(html.contains("<svg") && html.contains("messages per day") && html.contains("after the origin"));
    // What the exports say about the accounts survives pseudonymisation: the planted batch of accounts made in
    // one week, in the report and in cluster_summary.csv.
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(out.join("demo-truth.json")).unwrap()).unwrap();
    let week = truth["account_batch"]["week"].as_str().unwrap();
    assert!(html.contains(&format!("created in the week of {week}")), "no account batch in the report");
    let created = column(&out.join("coordination/cluster_summary.csv"), "created_together");
    assert!(created.iter().any(|c| c.ends_with(&format!("created in the week of {week}"))), "{created:?}");
    // The report's table of clusters says what cluster_summary.csv says: what each cluster shared most,
    // counted over all of its edges (not only the few the report quotes as evidence).
    let top_keys = column(&out.join("coordination/cluster_summary.csv"), "top_keys");
    let table = &html[html.find("<h3>The largest clusters").expect("a table of clusters")..];
    let table = &table[..table.find("</table>").unwrap()];
    for (i, keys) in top_keys.iter().enumerate().take(3) {
        let row = table.split("<tr><td class=\"num\">").find(|r| r.starts_with(&format!("{}<", i + 1))).unwrap();
        let first = keys.split("; ").next().unwrap();
        let shown = first.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        assert!(
            !first.is_empty() && row.contains(&shown.replace('\'', "&#39;")),
            "cluster {}: {first} not in {row}",
            i + 1
        );
    }
    assert!(html.contains("Week by week"), "no keyness by week for the campaign sources");
    assert!(html.contains("Null model: 19 runs"), "the default null model on a small corpus");
    // The evidence messages are shown with their text, found under their pseudonymised keys.
    assert!(html.matches("<div class=\"msg\"><span class=\"muted\">").count() >= 4, "no evidence texts");
    assert_eq!(html.matches("<div class=\"msg\"><code>").count(), 0, "evidence keys without their text");

    // Pseudonyms: no planted account id in the report or the tables; the same pseudonyms on a second run.
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(out.join("demo-truth.json")).unwrap()).unwrap();
    let members: Vec<String> = truth["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_owned()))
        .collect();
    let accounts = column(&out.join("coordination/clusters.csv"), "account");
    assert!(accounts.iter().all(|a| a.contains(":u-")), "{accounts:?}");
    for m in &members {
        let id = m.split_once(':').unwrap().1;
        assert!(!html.contains(&format!(">{id}<")) && !html.contains(m.as_str()), "{m} in the report");
        assert!(!accounts.contains(m), "{m} in clusters.csv");
    }
    let again = dir.path().join("again");
    analyze(&["--demo-messages", "6000", "--store", echolens::analyze::demo_store(&out).to_str().unwrap()], &again);
    assert_eq!(column(&again.join("coordination/clusters.csv"), "account"), accounts, "pseudonyms change between runs");

    // --reveal: the planted members by their ids, in clusters of the same sizes.
    let revealed = dir.path().join("revealed");
    analyze(
        &["--demo-messages", "6000", "--reveal", "--store", echolens::analyze::demo_store(&out).to_str().unwrap()],
        &revealed,
    );
    let raw = column(&revealed.join("coordination/clusters.csv"), "account");
    assert!(members.iter().all(|m| raw.contains(m)), "--reveal shows the planted accounts");
    let sizes = |p: &Path| {
        let mut c = column(p, "cluster");
        c.sort();
        c
    };
    assert_eq!(sizes(&revealed.join("coordination/clusters.csv")), sizes(&out.join("coordination/clusters.csv")));

    // A named campaign source: the demo's vocabulary source finds its planted terms, and they spread.
    let named = dir.path().join("named");
    let source = truth["vocabulary"]["source_channel"].as_str().unwrap();
    let campaign = format!("channel={source}");
    let store = echolens::analyze::demo_store(&out);
    let n = analyze(&["--demo-messages", "6000", "--campaign", &campaign, "--store", store.to_str().unwrap()], &named);
    let campaigns = n["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 1, "{campaigns:?}");
    assert!(campaigns[0]["title"].as_str().unwrap().contains(&campaign));
    let top: Vec<&str> =
        campaigns[0]["top_terms"].as_array().unwrap().iter().map(|t| t["term"].as_str().unwrap()).collect();
    for term in truth["vocabulary"]["terms"].as_array().unwrap() {
        assert!(top.contains(&term.as_str().unwrap()), "planted {term} not in the top terms {top:?}");
    }
    let adopters = truth["vocabulary"]["adoption_day"].as_array().unwrap().len() as u64;
    assert!(campaigns[0]["adopting_channels"].as_u64().unwrap() >= adopters, "{}", campaigns[0]);

    // A named campaign that matches nothing stops the run before the analyses, saying so.
    let typo = echolens()
        .args(["analyze", "--demo-messages", "6000", "--campaign", "channel=no_such_channel", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(dir.path().join("typo"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(2), "{err}");
    assert!(err.contains("channel=no_such_channel") && err.contains("matches no message"), "{err}");
    assert!(!dir.path().join("typo/coordination").exists(), "the analyses ran anyway");

    // Piped (not a terminal): no progress on stderr, a short summary on stdout.
    let quiet = run(echolens()
        .args(["analyze", "--demo-messages", "6000", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(dir.path().join("quiet")));
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
    assert!(String::from_utf8_lossy(&quiet.stdout).contains("report.html"));

    // Parquet: the same rows, ids as strings.
    let pq = dir.path().join("parquet");
    let p = analyze(
        &[
            "--demo-messages",
            "6000",
            "--format",
            "parquet",
            "--store",
            echolens::analyze::demo_store(&out).to_str().unwrap(),
        ],
        &pq,
    );
    let tables: Vec<&str> = p["outputs"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
    assert!(tables.iter().all(|t| !t.ends_with(".csv")), "{tables:?}");
    assert!(tables.contains(&"coordination/edges.parquet") && tables.contains(&"reuse/cascades.parquet"));
    let file = std::fs::File::open(pq.join("coordination/edges.parquet")).unwrap();
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = reader.schema().clone();
    assert_eq!(schema.field_with_name("account_a").unwrap().data_type(), &arrow::datatypes::DataType::Utf8);
    assert_eq!(schema.field_with_name("weight").unwrap().data_type(), &arrow::datatypes::DataType::Int64);
    // Typed by the schema the analysis declared: times as timestamps, days as dates, flags as booleans.
    assert!(matches!(schema.field_with_name("first_seen").unwrap().data_type(), DataType::Timestamp(_, _)));
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, column(&out.join("coordination/edges.csv"), "account_a").len());
    // Every table: the Parquet columns are the CSV's, in order, with as many rows.
    for table in tables.iter().filter(|t| t.ends_with(".parquet")) {
        let file = std::fs::File::open(pq.join(table)).unwrap();
        let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let names: Vec<String> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        if table.ends_with("timeline.parquet") {
            let t = reader.schema().clone();
            assert_eq!(t.field_with_name("period").unwrap().data_type(), &DataType::Date32);
            assert_eq!(t.field_with_name("burst").unwrap().data_type(), &DataType::Boolean);
        }
        let csv = out.join(table.replace(".parquet", ".csv"));
        let rows = read_csv(&csv);
        let header: Vec<String> = crate::common::csv_rows(&csv).remove(0);
        assert_eq!(names, header, "{table}");
        let n: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(n, rows.len(), "{table}");
    }
}

/// Every real export in the samples folder through `analyze`: old Telegram layouts, X archives, toolkit CSVs,
/// a message dated 1970. The page stays small although the corpus spans fifty years of days.
#[test]
fn analyze_on_the_real_sample_exports_writes_a_small_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = analyze(&[samples().to_str().unwrap(), "--store", dir.path().join("store").to_str().unwrap()], &out);
    assert!(s["corpus"]["messages"].as_u64().unwrap() > 1000, "{}", s["corpus"]);
    let read = s["ingest"]["records"].as_u64().unwrap();
    let parts = ["messages", "quarantined", "skipped"].iter().map(|k| s["ingest"][k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(read, parts, "records read = stored + quarantined + skipped");
    let size = std::fs::metadata(out.join("report.html")).unwrap().len();
    assert!(size < 1 << 20, "report of {size} bytes");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("records could not be read") || s["corpus"]["quarantined"] == 0);
}

/// What hostile message text and channel names look like: markup, script-closing tags, event handlers, an
/// attribute breakout, template syntax and a bidi override.
const PAYLOADS: &[&str] = &[
    "<script>window.__echolens_pwned=1</script>",
    "<img src=x onerror=\"window.__echolens_pwned=1\">",
    "</script><script>window.__echolens_pwned=1</script>",
    "{{constructor.constructor('window.__echolens_pwned=1')()}}",
    "' onmouseover='window.__echolens_pwned=1' x='",
    "<svg onload=window.__echolens_pwned=1>",
    "\u{202E}gnp.exe",
];

/// A corpus whose coordinated accounts, copied texts and channel names are all hostile.
pub(crate) fn hostile_corpus(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let t0 = 1_709_251_200i64;
    let mut id = 0;
    let mut line = |v: Value| {
        writeln!(f, "{v}").unwrap();
    };
    // Four accounts post the same hostile texts seconds apart, day after day: a cluster with evidence.
    for (day, payload) in PAYLOADS.iter().enumerate() {
        for (i, account) in ["101", "102", "103", "104"].iter().enumerate() {
            id += 1;
            line(json!({
                "id": id.to_string(), "platform": "x", "channel": account, "channel_name": format!("acct{account}"),
                "author": account, "timestamp": t0 + day as i64 * 86_400 + 3_600 + i as i64 * 5,
                "text": format!("{payload} coordinated slogan wave number {day} spread it"),
            }));
        }
    }
    // Telegram channels with hostile names copy one hostile text over hours: a cascade.
    let names =
        ["<script>window.__echolens_pwned=1</script>", "\"><img src=x onerror=alert(1)>", "{{7*7}}", "\u{202E}evil"];
    for (i, name) in names.iter().enumerate() {
        for k in 0..3 {
            id += 1;
            line(json!({
                "id": id.to_string(), "platform": "telegram", "channel": format!("-100{i}"), "channel_name": name,
                "author": null, "timestamp": t0 + 86_400 * (k + 1) + i as i64 * 7_200,
                "text": format!("{} copied everywhere by every channel in the network today number {k}", PAYLOADS[k as usize]),
            }));
        }
    }
    // Ordinary chatter, so that there is something to compare with.
    let words = ["weather", "market", "football", "music", "coffee", "train", "garden", "movie", "school", "river"];
    for i in 0..200 {
        id += 1;
        line(json!({
            "id": id.to_string(), "platform": "x", "channel": format!("{}", 500 + i % 20), "author": format!("{}", 500 + i % 20),
            "timestamp": t0 + i * 3_000,
            "text": format!("{} {} and {} today {}", words[i as usize % 10], words[(i as usize / 10) % 10], words[(i as usize * 7) % 10], i),
        }));
    }
    f.flush().unwrap();
    path
}

/// Every hostile string reaches the report as text: escaped in HTML, attributes, SVG and the JSON block, bidi
/// overrides shown as marks, and nothing on the page that could run or load anything.
#[test]
fn hostile_text_is_shown_as_text_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = hostile_corpus(dir.path());
    let out = dir.path().join("out");
    let store = dir.path().join("store");
    let s = analyze(&[corpus.to_str().unwrap(), "--store", store.to_str().unwrap()], &out);
    assert!(s["coordination"]["clusters"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["reuse"]["cascades"].as_u64().unwrap() >= 1, "{s}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();

    assert_eq!(html.matches("<script").count(), 1, "only the JSON block");
    assert!(html.contains("<script type=\"application/json\" id=\"echolens-summary\">"));
    assert_eq!(html.matches("</script>").count(), 1, "nothing closes the JSON block early");
    for raw in ["<img", "<svg onload", "' onmouseover='", "\u{202E}", "onerror=\"window", "src=\"", "href=\"http"] {
        assert!(!html.contains(raw), "{raw:?} is in the page as markup");
    }
    for shown in [
        "&lt;script&gt;window.__echolens_pwned=1&lt;/script&gt;",
        "&lt;img src=x onerror=&quot;window.__echolens_pwned=1&quot;&gt;",
        "{{constructor.constructor(&#39;window.__echolens_pwned=1&#39;)()}}",
        "&#39; onmouseover=&#39;window.__echolens_pwned=1&#39; x=&#39;",
        "[U+202E]",
        "{{7*7}}",
    ] {
        assert!(html.contains(shown), "{shown:?} is not shown as text");
    }
    // The JSON block holds a hostile channel name, escaped so it cannot close the element, and still parses.
    let start = html.find("id=\"echolens-summary\">").unwrap() + "id=\"echolens-summary\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let block = &html[start..end];
    assert!(block.contains("\\u003cscript\\u003e"), "{block}");
    let summary: Value = serde_json::from_str(block).unwrap();
    assert!(summary["campaigns"].to_string().contains("<script>"), "the name is in the JSON, unescaped once parsed");
    // The page's own CSS loads nothing.
    let css = &html[html.find("<style>").unwrap()..html.find("</style>").unwrap()];
    assert!(!css.contains("url(") && !css.contains("@import"));
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
}

pub(crate) fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| std::env::split_paths(&path).map(|d| d.join(n)).find(|p| p.is_file()))
}

/// Open a report in headless Chromium; `None` (and a message saying why) where Chromium or Python is absent.
fn browser_check(report: &Path, shot: &Path) -> Option<Value> {
    let chromium = std::env::var_os("ECHOLENS_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find_on_path(&["chromium", "chromium-browser", "google-chrome"]));
    let Some(chromium) = chromium else {
        eprintln!("SKIPPED: no Chromium on PATH (set ECHOLENS_CHROMIUM; .ci/run installs Debian's chromium)");
        return None;
    };
    let Some(python) = find_on_path(&["python3"]) else {
        eprintln!("SKIPPED: no python3 on PATH to drive Chromium");
        return None;
    };
    // Read when the test runs, not when it is built: a test binary may be reused from a checkout elsewhere.
    let script = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("tests/browser_check.py");
    let out = std::process::Command::new(python).arg(script).arg(chromium).arg(report).arg(shot).output().unwrap();
    assert!(out.status.success(), "browser_check.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Screenshots go under the workspace's target/ folder, for CI to keep.
pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn assert_clean(v: &Value, what: &str) {
    assert_eq!(v["loaded"], true, "{what}: the page did not load");
    assert_eq!(v["console"], json!([]), "{what}: console messages");
    assert_eq!(v["exceptions"], json!([]), "{what}: exceptions");
    let errors: Vec<&Value> = v["log"].as_array().unwrap().iter().filter(|e| e["level"] == "error").collect();
    assert!(errors.is_empty(), "{what}: errors logged: {errors:?}");
    assert_eq!(v["requests"], json!([]), "{what}: network requests");
    let c = &v["checks"];
    assert_eq!(c["scripts"], 0, "{what}: executable scripts");
    assert_eq!(c["handlers"], 0, "{what}: event-handler attributes");
    assert_eq!(c["pwned"], false, "{what}: a payload ran");
    assert_eq!(c["summary_parses"], true, "{what}: the JSON summary does not parse");
    assert_eq!(
        c["sections"],
        json!(["corpus", "volume", "coordination", "reuse", "vocabulary", "reproduce"]),
        "{what}: sections"
    );
    assert!(c["svgs"].as_u64().unwrap() >= 2, "{what}: charts");
    assert_eq!(c["overflows_x"], false, "{what}: wider than the window ({} px): a long word or table", c["viewport"]);
    let shot = Path::new(v["screenshot"].as_str().unwrap());
    assert!(std::fs::metadata(shot).map(|m| m.len() > 10_000).unwrap_or(false), "{what}: no screenshot");
}

/// The demo report and the hostile one in headless Chromium: no console error, no request, no script, every
/// payload visible as text; screenshots in target/screenshots/.
#[test]
fn the_report_opens_in_chromium_without_errors_or_requests() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    analyze(&["--demo-messages", "6000"], &demo);
    let Some(v) = browser_check(&demo.join("report.html"), &screenshot_path("report-demo.png")) else { return };
    assert_clean(&v, "demo report");
    let text = v["checks"]["text"].as_str().unwrap();
    assert!(text.contains("Coordination cluster 1") && text.contains("messages per day"), "{}", &text[..500]);

    let corpus = hostile_corpus(dir.path());
    let out = dir.path().join("hostile");
    analyze(&[corpus.to_str().unwrap(), "--store", dir.path().join("store").to_str().unwrap()], &out);
    let v = browser_check(&out.join("report.html"), &screenshot_path("report-hostile.png")).unwrap();
    assert_clean(&v, "hostile report");
    let text = v["checks"]["text"].as_str().unwrap();
    for shown in [
        "<script>window.__echolens_pwned=1</script>",
        "<img src=x onerror=\"window.__echolens_pwned=1\">",
        "{{constructor.constructor('window.__echolens_pwned=1')()}}",
        "[U+202E]",
    ] {
        assert!(text.contains(shown), "{shown:?} is not on the page as text");
    }
}
