//! `echolens serve`'s JSON API, over HTTP as a script or the pages use it: every endpoint on the demo store and
//! its analyze folder, and the bad requests a user or a hostile page makes — each a JSON error with a 4xx
//! status, never a 500.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::common::{echolens, run};

/// The server, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&std::ffi::OsStr]) -> Server {
    let mut child = echolens().arg("serve").args(args).args(["--port", "0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("{line:?}"));
    Server { addr: addr.to_owned(), child }
}

/// One request; the status and the body as JSON.
fn request(server: &Server, method: &str, target: &str) -> (u16, Value) {
    request_to(server, &server.addr, method, target)
}

/// One request naming `host` as its Host.
fn request_to(server: &Server, host: &str, method: &str, target: &str) -> (u16, Value) {
    let (status, head, body) = raw(server, host, method, target);
    assert!(head.contains("content-type: application/json"), "{head}");
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

/// One request: the status, the head (lowercased) and the body as text.
fn raw(server: &Server, host: &str, method: &str, target: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(stream, "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{response:?}"));
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let head = head.to_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");
    (status, head, body.to_owned())
}

/// A query string value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.*".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn get(server: &Server, target: &str) -> (u16, Value) {
    request(server, "GET", target)
}

#[test]
fn the_api_answers_every_endpoint_and_refuses_bad_requests_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    run(echolens().arg("analyze").arg("--out").arg(&out));
    let store = dir.path().join("report-store");
    let server = start(&[std::ffi::OsStr::new("--store"), store.as_os_str(), "--results".as_ref(), out.as_os_str()]);

    let (status, stats) = get(&server, "/api/stats");
    assert_eq!(status, 200);
    assert!(stats["messages"].as_u64().unwrap() > 20_000, "{stats}");

    // A phrase of the first planted campaign: its messages, newest first, accounts pseudonymised.
    let (status, found) = get(&server, "/api/search?q=%22the%20truth%20they%20hide%22&per_page=5");
    assert_eq!(status, 200, "{found}");
    assert!(found["total"].as_u64().unwrap() >= 40, "{found}");
    let messages = found["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    for m in messages {
        assert!(m["text"].as_str().unwrap().contains("the truth they hide"), "{m}");
        assert!(m["author_id"].as_str().unwrap().starts_with("u-"), "pseudonymised: {m}");
        assert!(m["key"].as_str().unwrap().starts_with("x:u-"), "{m}");
    }
    assert!(messages.windows(2).all(|w| w[0]["ts"].as_str() >= w[1]["ts"].as_str()), "newest first");
    // The next page goes on where this one stopped; a selector narrows it.
    let (_, second) = get(&server, "/api/search?q=%22the%20truth%20they%20hide%22&per_page=5&page=2");
    assert_ne!(second["messages"][0]["key"], messages[0]["key"]);
    let (_, none) = get(&server, "/api/search?q=%22the%20truth%20they%20hide%22&select=platform=telegram");
    assert_eq!(none["total"], 0);
    // Persian, typed with an Arabic yeh, finds the text stored with the Persian one.
    let (status, persian) = get(&server, &format!("/api/search?q={}&per_page=1", enc("آزادي")));
    assert_eq!(status, 200, "{persian}");
    assert!(persian["total"].as_u64().unwrap() > 0, "{persian}");

    let (status, clusters) = get(&server, "/api/clusters");
    assert_eq!(status, 200);
    let first = &clusters["cluster_summary"][0];
    assert_eq!(first["cluster"], "1", "{clusters}");
    let (status, cluster) = get(&server, "/api/clusters/1");
    assert_eq!(status, 200, "{cluster}");
    assert_eq!(cluster["accounts"].as_array().unwrap().len().to_string(), first["size"].as_str().unwrap());
    let edge = &cluster["edges"][0];
    assert!(!edge["evidence"].as_str().unwrap().is_empty(), "an edge with its messages: {edge}");
    let (status, cascades) = get(&server, "/api/cascades");
    assert_eq!(status, 200);
    assert!(!cascades["cascade_summary"].as_array().unwrap().is_empty());

    let (status, k) = get(&server, "/api/keyness?target=channel=demo_channel_00");
    assert_eq!(status, 200, "{k}");
    let terms: Vec<&str> = k["terms"].as_array().unwrap().iter().map(|t| t["term"].as_str().unwrap()).collect();
    assert!(terms.contains(&"zorblat"), "the channel's invented vocabulary marks it: {terms:?}");

    // Two keyness requests at once each get their own answer.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    let channel = ["demo_channel_00", "demo_channel_01"][i % 2];
                    let (status, k) = get(server, &format!("/api/keyness?target=channel={channel}"));
                    assert_eq!(status, 200, "{k}");
                    assert_eq!(k["target"], format!("channel={channel}"));
                    let top = k["terms"][0]["term"].as_str().unwrap().to_owned();
                    (channel, top, k["messages_target"].as_u64().unwrap())
                })
            })
            .collect();
        let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for a in &answers {
            let same: Vec<_> = answers.iter().filter(|b| b.0 == a.0).collect();
            assert!(same.iter().all(|b| b.1 == a.1 && b.2 == a.2), "{answers:?}");
        }
        assert_ne!(answers[0].2, answers[1].2, "the two channels' own counts: {answers:?}");
    });

    // Bad requests: a clear JSON error with a 4xx status each.
    for (target, status, words) in [
        ("/api/search?q=x&select=colour=red", 400, "unknown kind \"colour\""),
        ("/api/search?q=x&select=where=nonsense(", 400, "select"),
        ("/api/search?q=x&page=99999999", 400, "from 1 to 10000"),
        ("/api/search?q=x&per_page=0", 400, "per_page"),
        ("/api/search", 400, "give q"),
        ("/api/keyness", 400, "give target"),
        ("/api/keyness?target=channel=no_such_channel", 400, "no message"),
        ("/api/clusters/abc", 400, "expected a cluster number"),
        ("/api/clusters/99999", 404, "no cluster 99999"),
        ("/api/sql?q=DROP%20TABLE%20messages", 400, "refused"),
        ("/etc/passwd", 404, "no such endpoint"),
    ] {
        let (got, body) = get(&server, target);
        assert_eq!(got, status, "{target}: {body}");
        let error = body["error"].as_str().unwrap_or_else(|| panic!("{target}: {body}"));
        assert!(error.contains(words), "{target}: {error}");
    }
    let (status, body) = request(&server, "POST", "/api/stats");
    assert_eq!((status, body["error"].is_string()), (405, true));
    // A page that points its own name at 127.0.0.1 (DNS rebinding) is refused.
    let port = server.addr.rsplit(':').next().unwrap();
    let (status, body) = request_to(&server, &format!("evil.example:{port}"), "GET", "/api/stats");
    assert_eq!(status, 403, "{body}");
    let (status, _) = request_to(&server, &format!("localhost:{port}"), "GET", "/api/stats");
    assert_eq!(status, 200);
}

#[test]
fn without_a_results_folder_the_tables_are_a_clear_404_and_a_revealed_folder_needs_reveal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    run(echolens().args(["analyze", "--demo-messages", "3000", "--out"]).arg(&out));
    let store = dir.path().join("report-store");
    let server = start(&[std::ffi::OsStr::new("--store"), store.as_os_str()]);
    let (status, body) = get(&server, "/api/clusters");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("--results"), "{body}");
    drop(server);
    // A folder written pseudonymised is not served with --reveal (nor the other way round).
    let refused = echolens()
        .args(["serve", "--reveal", "--port", "0", "--store"])
        .arg(&store)
        .arg("--results")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("without --reveal"), "{refused:?}");
}

/// The demo's store and its analyze folder, served.
fn demo_server(dir: &std::path::Path) -> (Server, std::path::PathBuf) {
    let out = dir.join("report");
    run(echolens().arg("analyze").arg("--out").arg(&out));
    let store = dir.join("report-store");
    let server = start(&[std::ffi::OsStr::new("--store"), store.as_os_str(), "--results".as_ref(), out.as_os_str()]);
    (server, store)
}

#[test]
fn the_pages_views_lookups_exports_and_console_answer_as_the_pages_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, store) = demo_server(dir.path());
    let host = server.addr.clone();
    let (_, stats) = get(&server, "/api/stats");
    assert_eq!(stats["pseudonymised"], true);

    // The page itself, with a policy that allows its own script only.
    let (status, head, body) = raw(&server, &host, "GET", "/");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("script-src 'self'") && !head.contains("unsafe-inline"), "{head}");
    assert!(body.contains("<script src=\"/app.js\" defer></script>"));
    let (status, head, _) = raw(&server, &host, "GET", "/app.js");
    assert_eq!((status, head.contains("text/javascript")), (200, true));

    // Volume: every message of the store counted once, day by day, with the busiest channels' series.
    let (status, volume) = get(&server, "/api/volume");
    assert_eq!(status, 200, "{volume}");
    let all: u64 = volume["all"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(all, stats["messages"].as_u64().unwrap());
    assert_eq!(volume["periods"].as_array().unwrap().len(), 30, "the demo's month");
    assert_eq!(volume["series"].as_array().unwrap().len(), 8);
    let (status, week) = get(&server, "/api/volume?period=week&select=platform=x");
    assert_eq!(status, 200, "{week}");
    assert_eq!(week["messages"], stats["platforms"]["x"]);
    assert_eq!(get(&server, "/api/volume?period=year").0, 400);
    let (status, q) = get(&server, "/api/quarantine");
    assert_eq!((status, q["reasons"].as_array().unwrap().len()), (200, 0));

    // The index answers as the scan does: the same totals and the same pages, whatever the query.
    assert!(stats["search_index"]["messages"] == stats["messages"], "{stats}");
    for q in [
        "q=truth",
        "q=%22the%20truth%20they%20hide%22",
        "q=trut*",
        "q=%22the%20truth%22*",
        "q=zorblat&select=platform=telegram&select=platform=x",
        "q=vote&select=since=2024-03-10&select=until=2024-03-12",
        "select=platform=instagram&page=3",
        "q=%22they%22%20hide",
    ] {
        let (_, index) = get(&server, &format!("/api/search?{q}&per_page=7"));
        let (_, scan) = get(&server, &format!("/api/search?{q}&per_page=7&engine=scan"));
        assert_eq!((index["engine"].as_str(), scan["engine"].as_str()), (Some("index"), Some("scan")), "{q}");
        assert!(index["total"].as_u64().unwrap() > 0, "{q}: {index}");
        assert_eq!(index["total"], scan["total"], "{q}");
        assert_eq!(index["messages"], scan["messages"], "{q}");
    }
    // A `where=` selector is not in the index: the scan answers it.
    let (_, sql) = get(&server, "/api/search?q=the&select=where=platform%3D'x'");
    assert_eq!(sql["engine"], "scan");
    assert_eq!(get(&server, "/api/search?q=the&engine=fast").0, 400);

    // Search: whole words, prefixes; an account as the pages show it selects its messages.
    let total = |q: &str| get(&server, &format!("/api/search?q={}", enc(q))).1["total"].as_u64().unwrap();
    assert_eq!(total("trut"), 0, "a word is whole");
    assert_eq!(total("trut*"), total("truth*"));
    assert!(total("truth") > 0 && total("truth") <= total("trut*"));
    let (_, found) = get(&server, "/api/search?q=%22the%20truth%20they%20hide%22&per_page=3");
    let first = found["messages"][0].clone();
    let account = first["account"].as_str().unwrap().to_owned();
    assert!(account.starts_with("x:u-"), "{first}");
    let (status, theirs) = get(&server, &format!("/api/search?select=author={}&per_page=100", enc(&account)));
    assert_eq!(status, 200, "{theirs}");
    assert!(theirs["total"].as_u64().unwrap() >= 1, "{theirs}");
    for m in theirs["messages"].as_array().unwrap() {
        assert_eq!(m["account"], account.as_str(), "{m}");
    }
    // The planted group's messages link to their cluster and cascade.
    assert!(first["cluster"].is_string() && first["cascade"].is_string(), "{first}");

    // Messages by the keys the pages show, in the order asked; an unknown key is said to be missing.
    let keys: Vec<&str> = found["messages"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
    let (status, looked) =
        get(&server, &format!("/api/messages?key={}&key=x:nope:1&key={}", enc(keys[1]), enc(keys[0])));
    assert_eq!(status, 200, "{looked}");
    assert_eq!(looked["messages"][0]["key"], keys[1]);
    assert_eq!(looked["messages"][1], first);
    assert_eq!(looked["missing"], serde_json::json!(["x:nope:1"]));
    assert_eq!(get(&server, "/api/messages").0, 400);

    // A cluster's edges carry evidence pairs the lookup finds, every one.
    let (_, cluster) = get(&server, "/api/clusters/1");
    let pairs = cluster["edges"][0]["evidence_pairs"].as_array().unwrap();
    assert!(!pairs.is_empty());
    let wanted: Vec<String> =
        pairs.iter().flat_map(|p| p.as_array().unwrap().iter()).map(|k| k.as_str().unwrap().to_owned()).collect();
    let q: Vec<String> = wanted.iter().map(|k| format!("key={}", enc(k))).collect();
    let (_, evidence) = get(&server, &format!("/api/messages?{}", q.join("&")));
    assert_eq!(evidence["missing"], serde_json::json!([]), "{evidence}");
    assert!(!cluster["sweep"].as_array().unwrap().is_empty());

    // A cascade with its members' texts and parents.
    let (_, cascades) = get(&server, "/api/cascades");
    let id = cascades["cascade_summary"][0]["cascade"].as_str().unwrap().to_owned();
    let (status, cascade) = get(&server, &format!("/api/cascades/{id}"));
    assert_eq!(status, 200, "{cascade}");
    let members = cascade["members"].as_array().unwrap();
    assert_eq!(members.len().to_string(), cascade["cascade"]["size"].as_str().unwrap());
    assert!(members.iter().all(|m| m["text"].is_string()), "every member's text");
    assert!(members.iter().any(|m| m["role"] == "origin"));
    assert_eq!(get(&server, "/api/cascades/999999").0, 404);

    // A term's spread: the first channel to use it, and its curve.
    let (status, term) = get(&server, "/api/term?term=zorblat");
    assert_eq!(status, 200, "{term}");
    assert!(!term["adopters"].as_array().unwrap().is_empty() && !term["curve"].as_array().unwrap().is_empty());
    assert_eq!(get(&server, "/api/term?term=%20").0, 400);

    // Downloads: the cluster's network as GEXF, the findings as STIX.
    let (status, head, gexf) = raw(&server, &host, "GET", "/api/clusters/1/gexf");
    assert_eq!(status, 200);
    assert!(head.contains("content-disposition: attachment; filename=\"cluster-1.gexf\""), "{head}");
    assert!(gexf.starts_with("<?xml") && gexf.contains("<gexf"), "{}", &gexf[..100]);
    let (status, stix) = get(&server, "/api/stix");
    assert_eq!((status, stix["type"].as_str()), (200, Some("bundle")));

    // The console: queries over pseudonymised views and the result tables; nothing else.
    let (_, tables) = get(&server, "/api/tables");
    let names: Vec<&str> = tables["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for t in ["messages", "quarantine", "accounts", "coordination_edges", "reuse_cascades"] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    let sql = |q: &str| get(&server, &format!("/api/sql?q={}", enc(q)));
    let (status, rows) = sql("SELECT count(*) AS n FROM coordination_edges");
    assert_eq!(status, 200, "{rows}");
    assert!(rows["rows"][0][0].as_u64().unwrap() > 0);
    let (_, many) = sql("SELECT key FROM messages");
    assert_eq!((many["rows"].as_array().unwrap().len(), many["truncated"].as_bool()), (1000, Some(true)));
    for (q, words) in [
        ("DROP TABLE messages", "refused"),
        ("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'", "refused"),
        ("COPY (SELECT 1) TO '/tmp/echolens-x.csv'", "refused"),
        ("INSERT INTO messages SELECT * FROM messages", "refused"),
        ("SET datafusion.execution.batch_size = 1", "refused"),
        ("SELECT * FROM '/etc/passwd'", "not found"),
        ("SELEC 1", "refused"),
        ("", "give q"),
    ] {
        let (status, body) = sql(q);
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body["error"].as_str().unwrap().contains(words), "{q}: {body}");
    }
    let (status, head, csv) = raw(
        &server,
        &host,
        "GET",
        &format!(
            "/api/sql?format=csv&q={}",
            enc("SELECT platform, count(*) AS n FROM messages GROUP BY platform ORDER BY platform")
        ),
    );
    assert_eq!(status, 200, "{csv}");
    assert!(head.contains("content-type: text/csv") && head.contains("attachment"), "{head}");
    assert_eq!(csv.lines().next(), Some("platform,n"));
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // No raw account id of the store is in what the console shows of any message: no field is one, no key
    // holds an X account's own channel.
    let raw_ids = echolens()
        .args(["sql", "--store"])
        .arg(&store)
        .args(["--output", "csv", "SELECT DISTINCT platform, author_id FROM messages WHERE author_id IS NOT NULL"])
        .output()
        .unwrap();
    let raw_ids: Vec<(String, String)> = String::from_utf8(raw_ids.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').map(|(p, a)| (p.to_owned(), a.to_owned())))
        .collect();
    assert!(raw_ids.len() > 100, "{raw_ids:?}");
    let (_, head, shown) =
        raw(&server, &host, "GET", &format!("/api/sql?format=csv&q={}", enc("SELECT * FROM messages")));
    assert!(head.contains("text/csv"));
    let path = dir.path().join("shown.csv");
    std::fs::write(&path, &shown).unwrap();
    let rows = crate::common::csv_rows(&path);
    assert!(rows.len() > 1000);
    let ids: std::collections::HashSet<&str> = raw_ids.iter().map(|(_, a)| a.as_str()).collect();
    for row in &rows {
        for value in row {
            assert!(!ids.contains(value.as_str()), "a raw account id is a field: {row:?}");
        }
    }
    for (platform, id) in raw_ids.iter().filter(|(p, _)| p == "x") {
        let key = format!("{platform}:{id}:");
        assert!(!shown.contains(&key), "a key with the raw channel {key}");
    }
}

#[test]
fn the_pages_work_in_chromium_without_errors_or_requests_elsewhere() {
    let Some(chromium) = std::env::var_os("ECHOLENS_CHROMIUM")
        .map(std::path::PathBuf::from)
        .or_else(|| crate::report::find_on_path(&["chromium", "chromium-browser", "google-chrome"]))
    else {
        eprintln!("SKIPPED: no Chromium on PATH (set ECHOLENS_CHROMIUM; .ci/run installs Debian's chromium)");
        return;
    };
    let Some(python) = crate::report::find_on_path(&["python3"]) else {
        eprintln!("SKIPPED: no python3 on PATH to drive Chromium");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = demo_server(dir.path());
    // A store of hostile texts and channel names, served beside it.
    let corpus = crate::report::hostile_corpus(dir.path());
    let hostile_out = dir.path().join("hostile");
    let hostile_store = dir.path().join("hostile-store");
    run(echolens().arg("analyze").arg(&corpus).arg("--store").arg(&hostile_store).arg("--out").arg(&hostile_out));
    let hostile = start(&[
        std::ffi::OsStr::new("--store"),
        hostile_store.as_os_str(),
        "--results".as_ref(),
        hostile_out.as_os_str(),
    ]);
    let shots = crate::report::screenshot_path("serve-corpus.png").parent().unwrap().to_owned();
    let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/serve_check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(chromium)
        .arg(format!("http://{}", server.addr))
        .arg(&shots)
        .arg(format!("http://{}", hostile.addr))
        .output()
        .unwrap();
    assert!(out.status.success(), "serve_check.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pages = &v["pages"];

    assert_eq!(v["console"], serde_json::json!([]), "console messages");
    assert_eq!(v["exceptions"], serde_json::json!([]), "exceptions");
    assert_eq!(v["outside"], serde_json::json!([]), "requests to anything but the servers");
    // The one error a user may see logged: the refused statement's 400.
    let errors: Vec<&Value> = v["log"].as_array().unwrap().iter().filter(|e| e["level"] == "error").collect();
    assert!(
        errors.iter().all(|e| e["url"].as_str().is_some_and(|u| u.contains("/api/sql") && u.contains("DROP"))),
        "errors logged: {errors:?}"
    );
    for (name, page) in pages.as_object().unwrap() {
        if !page.is_object() {
            continue;
        }
        assert_eq!(page["pwned"], false, "{name}: a payload ran");
        assert_eq!(page["handlers"], 0, "{name}: event-handler attributes");
        assert_eq!(page["scripts"], 1, "{name}: scripts");
        assert_eq!(page["overflows_x"], false, "{name}: wider than the window");
        if name != "sql_refused" {
            assert_eq!(page["state"], "ready", "{name}: {page}");
        }
    }
    let corpus = &pages["corpus"];
    assert!(corpus["svgs"].as_u64().unwrap() >= 1 && corpus["text"].as_str().unwrap().contains("messages"), "{corpus}");
    assert!(pages["brush"].as_str().unwrap().starts_with("Selected: 2024-03-0"), "{}", pages["brush"]);
    let (brushed, all) = (&pages["messages_brushed"], &pages["messages"]);
    for page in [brushed, all] {
        let texts = page["messages"].as_array().unwrap();
        assert!(!texts.is_empty(), "{page}");
        assert!(texts.iter().all(|t| t.as_str().unwrap().contains("the truth they hide")), "{page}");
    }
    assert!(brushed["text"].as_str().unwrap().contains("since="), "the brushed range narrows the search: {brushed}");
    assert!(pages["clusters"]["rows"].as_u64().unwrap() >= 1);
    assert!(pages["cluster"]["svgs"].as_u64().unwrap() >= 1, "the network");
    assert_eq!(pages["evidence_shown"], true);
    let evidence = pages["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty());
    for pair in evidence {
        let sides = pair.as_array().unwrap();
        assert_eq!(sides.len(), 2);
        assert!(sides.iter().all(|s| !s.as_str().unwrap().contains("not in the store")), "{pair}");
    }
    assert!(pages["cascade"]["tree"].as_u64().unwrap() >= 2, "{}", pages["cascade"]);
    assert!(pages["keyness"]["rows"].as_u64().unwrap() >= 10, "{}", pages["keyness"]);
    assert!(pages["keyness"]["text"].as_str().unwrap().contains("zorblat"));
    assert!(
        pages["term"]["svgs"].as_u64().unwrap() >= 1 && pages["term"]["rows"].as_u64().unwrap() >= 1,
        "{}",
        pages["term"]
    );
    assert!(pages["sql"]["rows"].as_u64().unwrap() >= 3, "{}", pages["sql"]);
    assert_eq!(pages["sql_refused"]["state"], "error");
    assert!(pages["sql_refused"]["error"].as_str().unwrap().contains("refused"), "{}", pages["sql_refused"]);
    // Hostile text and names are shown as text.
    let hostile_page = &pages["hostile_messages"];
    assert!(!hostile_page["messages"].as_array().unwrap().is_empty(), "{hostile_page}");
    let shown = pages["hostile_sql"]["text"].as_str().unwrap();
    assert!(shown.contains("<script>window.__echolens_pwned=1</script>"), "{shown}");
}

#[test]
fn ingest_keeps_the_search_index_current_and_serve_makes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (out, seed) in [(&a, "1"), (&b, "2")] {
        run(echolens().args(["demo", "--generate", "2000", "--layout", "jsonl", "--seed", seed, "--out"]).arg(out));
    }
    let store = dir.path().join("store");
    let ingest = |corpus: &std::path::Path| {
        let out = echolens().arg("ingest").arg(corpus.join("corpus")).arg("--store").arg(&store).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = ingest(&a);
    assert!(!first.contains("search index"), "no index yet, none made by ingest: {first}");

    // The first serve makes the index, and says so.
    let serve = |expect_indexing: bool| {
        let mut child = echolens()
            .args(["serve", "--port", "0", "--store"])
            .arg(&store)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_owned();
        let server = Server { addr, child };
        let (_, stats) = get(&server, "/api/stats");
        let mut server = server;
        let _ = server.child.kill();
        let mut err = String::new();
        server.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(err.contains("search index"), expect_indexing, "{err}");
        stats
    };
    let stats = serve(true);
    assert_eq!(stats["search_index"]["messages"], stats["messages"]);
    assert!(serve(false)["search_index"].is_object(), "the second finds it current");

    // Ingest adds the new messages to it, under its lock; serve then finds it current.
    let second = ingest(&b);
    let added: u64 = second
        .lines()
        .find_map(|l| l.trim().strip_prefix("search index: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{second}"));
    let stats = serve(false);
    assert!(added > 0);
    assert_eq!(stats["search_index"]["messages"], stats["messages"], "{stats}");
    // Again: nothing new, nothing added.
    let again = ingest(&b);
    assert!(again.contains("search index: 0 messages added"), "{again}");
}
