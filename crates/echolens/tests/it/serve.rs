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
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(stream, "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{response:?}"));
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(head.to_lowercase().contains("content-type: application/json"), "{head}");
    assert!(head.to_lowercase().contains("x-content-type-options: nosniff"), "{head}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}")))
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
    // Persian, typed with Arabic letters, finds the text stored with Persian ones.
    let (status, persian) = get(&server, "/api/search?q=%D9%83%D8%AA%D8%A7%D8%A8&per_page=1");
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
        ("/api/sql?q=DROP%20TABLE%20messages", 404, "no such endpoint"),
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
