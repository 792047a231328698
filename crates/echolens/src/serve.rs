//! `echolens serve`'s JSON API: the store and an `analyze` output folder answered over HTTP, through the same
//! library as the CLI (the store's stats, keyness, the tables `analyze` wrote), pseudonymised unless `--reveal`.
//!
//! [`Api::get`] answers a path and its query parameters with a status and a JSON body; [`serve`] is the thin
//! HTTP/1.1 layer over it (hyper, on the tokio runtime): GET only, loopback by default, a token required when
//! bound to any other address, every answer JSON with `nosniff` and a Content-Security-Policy that forbids
//! everything. An error is `{"error": "..."}` with a 4xx status for what the request got wrong, 500 for a bug,
//! never a stack trace.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::prelude::{SessionContext, col, lit};
use echolens_analysis::Pseudonyms;
use echolens_analysis::select::Selection;
use echolens_analysis::vocabulary::keyness;
use echolens_store::{Store, rfc3339};
use serde_json::{Value, json};

use crate::findings::ReportDir;

/// Messages per page of a search, by default and at most.
const PAGE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
/// The last page a search serves: deeper paging is a scan of everything before it.
const MAX_PAGE: usize = 10_000;
/// Terms a keyness answer holds.
const KEYNESS_TERMS: usize = 50;
/// Edges of a cluster an answer holds, the strongest first.
const CLUSTER_EDGES: usize = 200;

/// What to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// The store.
    pub store: PathBuf,
    /// An `analyze` output folder whose clusters and cascades to serve.
    pub results: Option<PathBuf>,
    /// The address to listen on.
    pub bind: IpAddr,
    /// The port (0: any free one).
    pub port: u16,
    /// Account ids as they are.
    pub reveal: bool,
    /// Memory for the engine's buffers.
    pub memory: usize,
}

/// An answer: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply { status, body: json!({ "error": message.into() }) }
    }
}

/// The API over one store (and, if given, one `analyze` output folder).
pub struct Api {
    store: Store,
    /// The session searches run in (they register nothing).
    ctx: SessionContext,
    /// The engine's memory, for the session of each analysis (an analysis registers views by name: two at once
    /// in one session would read each other's).
    memory: usize,
    pseudonyms: Pseudonyms,
    reveal: bool,
    results: Option<ReportDir>,
}

/// What a request got wrong (a 4xx), as opposed to a failure of echolens (a 500).
struct BadRequest(u16, String);

impl From<echolens_analysis::Error> for BadRequest {
    fn from(e: echolens_analysis::Error) -> BadRequest {
        match e {
            echolens_analysis::Error::Param(_) | echolens_analysis::Error::Empty { .. } => {
                BadRequest(400, e.to_string())
            }
            other => BadRequest(500, format!("echolens failed: {other}")),
        }
    }
}

impl From<datafusion::error::DataFusionError> for BadRequest {
    fn from(e: datafusion::error::DataFusionError) -> BadRequest {
        BadRequest(500, format!("echolens failed: {e}"))
    }
}

impl Api {
    /// Open the store (and the results folder), read the pseudonyms.
    pub async fn open(options: &Options) -> Result<Api> {
        let store =
            Store::open(&options.store).await.with_context(|| format!("opening {}", options.store.display()))?;
        let ctx = echolens_analysis::analysis_session(options.memory)?;
        store.register(&ctx).await?;
        let pseudonyms = crate::run::pseudonyms(&store, &ctx).await?;
        let results = options.results.as_deref().map(ReportDir::open).transpose()?;
        if let Some(r) = &results
            && r.pseudonymised() == options.reveal
        {
            anyhow::bail!(
                "{} was written {}: serve it {}",
                r.dir.display(),
                if options.reveal { "pseudonymised" } else { "with --reveal" },
                if options.reveal { "without --reveal" } else { "with --reveal" }
            );
        }
        Ok(Api { store, ctx, memory: options.memory, pseudonyms, reveal: options.reveal, results })
    }

    /// Answer `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Reply {
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let params = |name: &str| query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let answer = match path.trim_end_matches('/') {
            "/api/stats" => self.stats().await,
            "/api/search" => {
                self.search(param("q").unwrap_or(""), &params("select"), param("page"), param("per_page")).await
            }
            "/api/keyness" => self.keyness(&params("target"), &params("reference")).await,
            "/api/clusters" => self.table("coordination", "cluster_summary"),
            "/api/cascades" => self.table("reuse", "cascade_summary"),
            p if p.starts_with("/api/clusters/") => self.cluster(&p["/api/clusters/".len()..]),
            p => Err(BadRequest(
                404,
                format!(
                    "no such endpoint {p:?}; see /api/stats, /api/search, /api/keyness, /api/clusters, /api/cascades"
                ),
            )),
        };
        match answer {
            Ok(body) => Reply::ok(body),
            Err(BadRequest(status, message)) => Reply::error(status, message),
        }
    }

    async fn stats(&self) -> Result<Value, BadRequest> {
        let stats = self.store.stats().await.map_err(|e| BadRequest(500, format!("echolens failed: {e}")))?;
        serde_json::to_value(stats).map_err(|e| BadRequest(500, e.to_string()))
    }

    /// Messages whose normalised text holds every word of `q` (a `"quoted phrase"` as one), within the
    /// selectors, newest first.
    async fn search(
        &self,
        q: &str,
        select: &[String],
        page: Option<&str>,
        per_page: Option<&str>,
    ) -> Result<Value, BadRequest> {
        let number =
            |v: Option<&str>, name: &str, default: usize, max: usize| -> Result<usize, BadRequest> {
                match v {
                    None => Ok(default),
                    Some(v) => v.parse::<usize>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                        BadRequest(400, format!("{name}={v:?}: expected a whole number from 1 to {max}"))
                    }),
                }
            };
        let page = number(page, "page", 1, MAX_PAGE)?;
        let per_page = number(per_page, "per_page", PAGE, MAX_PAGE_SIZE)?;
        let selection = Selection::parse(select).map_err(|e| BadRequest(400, format!("select: {e}")))?;
        let mut filter = selection.expr(&self.ctx).await.map_err(|e| BadRequest(400, format!("select: {e}")))?;
        let terms = query_terms(q);
        if terms.is_empty() && selection.is_empty() {
            return Err(BadRequest(400, "give q (words, or a \"quoted phrase\") or a select".into()));
        }
        for t in &terms {
            filter = filter.and(datafusion::prelude::strpos(col("text_norm"), lit(t.as_str())).gt(lit(0)));
        }
        let frame = self.ctx.table("messages").await?.filter(filter)?;
        let total = frame.clone().count().await.map_err(|e| BadRequest(400, format!("select: {e}")))?;
        let rows = frame
            .select(vec![
                col("key"),
                col("platform"),
                col("channel_id"),
                col("channel_name"),
                col("author_id"),
                col("ts"),
                col("text"),
            ])?
            .sort(vec![col("ts").sort(false, true), col("key").sort(true, true)])?
            .limit((page - 1) * per_page, Some(per_page))?
            .collect()
            .await?;
        let mut messages = Vec::new();
        for b in &rows {
            let key = echolens_analysis::strings(b, "key")?;
            let platform = echolens_analysis::strings(b, "platform")?;
            let channel = echolens_analysis::strings(b, "channel_id")?;
            let name = echolens_analysis::strings(b, "channel_name")?;
            let author = echolens_analysis::strings(b, "author_id")?;
            let text = echolens_analysis::strings(b, "text")?;
            let ts = echolens_analysis::i64s(b, "ts")?;
            for i in 0..b.num_rows() {
                let (p, c) = (platform.value(i), channel.value(i));
                let channel_name = if name.is_valid(i) { name.value(i) } else { c };
                let author = author.is_valid(i).then(|| author.value(i));
                messages.push(if self.reveal {
                    json!({"key": key.value(i), "platform": p, "channel_id": c, "channel_name": channel_name,
                           "author_id": author, "ts": rfc3339(ts.value(i)), "text": text.value(i)})
                } else {
                    json!({"key": self.pseudonyms.key(key.value(i)), "platform": p,
                           "channel_id": self.pseudonyms.channel_id(p, c),
                           "channel_name": self.pseudonyms.channel_name(p, c, channel_name),
                           "author_id": author.map(|a| self.pseudonyms.id(p, a)),
                           "ts": rfc3339(ts.value(i)), "text": self.pseudonyms.text(text.value(i))})
                });
            }
        }
        Ok(json!({"messages": messages, "total": total, "page": page, "per_page": per_page, "terms": terms}))
    }

    /// Keyness of `target` against `reference` (the rest of the corpus without one): the strongest terms.
    async fn keyness(&self, target: &[String], reference: &[String]) -> Result<Value, BadRequest> {
        if target.is_empty() {
            return Err(BadRequest(
                400,
                "give target=SELECTOR (repeat to combine), and reference=SELECTOR if not the rest".into(),
            ));
        }
        let target = Selection::parse(target).map_err(|e| BadRequest(400, format!("target: {e}")))?;
        let reference = (!reference.is_empty())
            .then(|| Selection::parse(reference))
            .transpose()
            .map_err(|e| BadRequest(400, format!("reference: {e}")))?;
        let ctx = echolens_analysis::analysis_session(self.memory)?;
        self.store.register(&ctx).await.map_err(|e| BadRequest(500, format!("echolens failed: {e}")))?;
        let mut k = keyness::run(&ctx, &target, reference.as_ref(), keyness::Params::default()).await?;
        if !self.reveal {
            self.pseudonyms.keyness(&mut k);
        }
        let describe = |s: &Selection| if self.reveal { s.to_string() } else { self.pseudonyms.selection(s) };
        let terms: Vec<Value> = k
            .terms
            .iter()
            .take(KEYNESS_TERMS)
            .map(|t| json!({"term": t.term, "z": t.z, "count_target": t.count_target, "count_reference": t.count_reference}))
            .collect();
        Ok(json!({
            "target": describe(&target),
            "reference": reference.as_ref().map_or_else(|| "the rest of the corpus".to_owned(), describe),
            "messages_target": k.counts.messages_target,
            "messages_reference": k.counts.messages_reference,
            "params": k.params,
            "terms": terms,
        }))
    }

    fn results(&self) -> Result<&ReportDir, BadRequest> {
        self.results.as_ref().ok_or_else(|| {
            BadRequest(404, "no results folder: start serve with --results OUT (an analyze output folder)".into())
        })
    }

    /// A table `analyze` wrote, as a list of objects.
    fn table(&self, folder: &str, name: &str) -> Result<Value, BadRequest> {
        let rows = self.results()?.table(folder, name).map_err(|e| BadRequest(500, format!("{e:#}")))?;
        Ok(json!({ name: rows }))
    }

    /// One cluster: its summary, its accounts and its strongest edges with their evidence keys.
    fn cluster(&self, id: &str) -> Result<Value, BadRequest> {
        let results = self.results()?;
        let wanted: usize =
            id.parse().map_err(|_| BadRequest(400, format!("cluster {id:?}: expected a cluster number")))?;
        let read = |name: &str| results.table("coordination", name).map_err(|e| BadRequest(500, format!("{e:#}")));
        let summary = read("cluster_summary")?;
        let Some(row) =
            summary.into_iter().find(|r| r.get("cluster").and_then(|c| c.parse::<usize>().ok()) == Some(wanted))
        else {
            return Err(BadRequest(404, format!("no cluster {wanted}")));
        };
        let members: Vec<_> = read("clusters")?
            .into_iter()
            .filter(|r| r.get("cluster").and_then(|c| c.parse::<usize>().ok()) == Some(wanted))
            .collect();
        let accounts: std::collections::HashSet<&str> =
            members.iter().filter_map(|m| m.get("account").map(String::as_str)).collect();
        let mut edges: Vec<_> = read("edges")?
            .into_iter()
            .filter(|e| {
                e.get("account_a").is_some_and(|a| accounts.contains(a.as_str()))
                    && e.get("account_b").is_some_and(|b| accounts.contains(b.as_str()))
            })
            .collect();
        let weight = |e: &HashMap<String, String>| e.get("weight").and_then(|w| w.parse::<f64>().ok()).unwrap_or(0.0);
        edges.sort_by(|a, b| weight(b).total_cmp(&weight(a)));
        let total_edges = edges.len();
        edges.truncate(CLUSTER_EDGES);
        Ok(json!({"cluster": row, "accounts": members, "edges": edges, "total_edges": total_edges}))
    }
}

/// The words of a search, normalised as message text is (a `"quoted phrase"` kept whole).
pub fn query_terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, part) in q.split('"').enumerate() {
        let norm = echolens_text::normalize(part);
        if i % 2 == 1 {
            let phrase = norm.split_whitespace().collect::<Vec<_>>().join(" ");
            if !phrase.is_empty() {
                out.push(phrase);
            }
        } else {
            out.extend(norm.split_whitespace().map(str::to_owned));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a request on loopback names this machine as its host: a page elsewhere that points its own name at
/// 127.0.0.1 (DNS rebinding) could otherwise read the answers in the user's browser.
fn local_host(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    let name = match host.rsplit_once(':') {
        Some((name, p)) if p == port.to_string() => name,
        _ => return false,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// Whether a request may be answered: always on loopback, else with the run's token (`Authorization: Bearer`
/// or `?token=`).
fn allowed(loopback: bool, token: &str, header: Option<&str>, query: &[(String, String)]) -> bool {
    if loopback {
        return true;
    }
    let given = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .or_else(|| query.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str()));
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random token (128 bits from the OS, as the store draws its key, as hex).
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("drawing the access token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Serve until the process is stopped. Prints the address (and the token, when one is needed) on stdout first.
pub async fn serve(options: Options) -> Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let api = Arc::new(Api::open(&options).await?);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(options.bind, options.port))
        .await
        .with_context(|| format!("listening on {}:{}", options.bind, options.port))?;
    let addr = listener.local_addr()?;
    let loopback = options.bind.is_loopback();
    let token = Arc::new(if loopback { String::new() } else { new_token()? });
    if loopback {
        println!("echolens serve: http://{addr}/api/stats");
    } else {
        println!("echolens serve: http://{addr}/api/stats?token={token}");
        println!("bound to {}: every request needs the token above (or `Authorization: Bearer TOKEN`)", options.bind);
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (api, token) = (Arc::clone(&api), Arc::clone(&token));
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (api, token) = (Arc::clone(&api), Arc::clone(&token));
                async move {
                    let query: Vec<(String, String)> = req
                        .uri()
                        .query()
                        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                        .unwrap_or_default();
                    let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    let host = req.headers().get(hyper::header::HOST).and_then(|v| v.to_str().ok());
                    let reply = if loopback && !local_host(host, addr.port()) {
                        Reply::error(
                            403,
                            "the Host header must name this machine (127.0.0.1, localhost or [::1]) and port",
                        )
                    } else if !allowed(loopback, &token, auth, &query) {
                        Reply::error(401, "this server is not on loopback: give its token")
                    } else if req.method() != hyper::Method::GET {
                        Reply::error(405, format!("{} is not answered: the API takes GET only", req.method()))
                    } else {
                        api.get(req.uri().path(), &query).await
                    };
                    let body =
                        serde_json::to_vec(&reply.body).unwrap_or_else(|_| b"{\"error\":\"unprintable\"}".to_vec());
                    let response = hyper::Response::builder()
                        .status(reply.status)
                        .header("content-type", "application/json; charset=utf-8")
                        .header("x-content-type-options", "nosniff")
                        .header("content-security-policy", "default-src 'none'; frame-ancestors 'none'")
                        .header("cache-control", "no-store")
                        .header("referrer-policy", "no-referrer")
                        .body(Full::new(Bytes::from(body)));
                    Ok::<_, hyper::http::Error>(response.expect("a response of a status and known headers"))
                }
            });
            // A connection that fails (a client gone) ends alone.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_normalised_words_and_quoted_phrases() {
        assert_eq!(query_terms(r#"Vote  "the  TRUTH they" now"#), ["now", "the truth they", "vote"]);
        assert_eq!(query_terms("  "), Vec::<String>::new());
        // Arabic letters and a missing ZWNJ read as the Persian text is stored.
        assert_eq!(query_terms("كتاب"), [echolens_text::normalize("کتاب")]);
    }

    #[test]
    fn on_loopback_the_host_must_be_this_machine() {
        assert!(local_host(Some("127.0.0.1:8717"), 8717));
        assert!(local_host(Some("localhost:8717"), 8717));
        assert!(local_host(Some("[::1]:8717"), 8717));
        assert!(!local_host(Some("evil.example:8717"), 8717), "DNS rebinding");
        assert!(!local_host(Some("127.0.0.1:80"), 8717));
        assert!(!local_host(Some("127.0.0.1"), 8717));
        assert!(!local_host(None, 8717));
    }

    #[test]
    fn only_loopback_goes_without_the_token() {
        let q = |t: &str| vec![("token".to_owned(), t.to_owned())];
        assert!(allowed(true, "", None, &[]));
        assert!(!allowed(false, "abc", None, &[]));
        assert!(!allowed(false, "abc", None, &q("abd")));
        assert!(!allowed(false, "abc", Some("Bearer ab"), &[]));
        assert!(allowed(false, "abc", None, &q("abc")));
        assert!(allowed(false, "abc", Some("Bearer abc"), &[]));
    }
}
