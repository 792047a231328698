//! The HTTP/1.1 layer (hyper, on the tokio runtime): the pages and the API, GET only (nothing changes state,
//! so no request from another site can do harm by being sent), loopback by default with the Host checked, a
//! token required on `/api/` when bound to any other address.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{Api, Body, Options, Reply, page};

/// The Content-Security-Policy of the pages: their own script and style, requests to this server only.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The policy of everything else (JSON, downloads): nothing runs.
const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

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
        println!("echolens serve: http://{addr}/");
    } else {
        println!("echolens serve: http://{addr}/?token={token}");
        println!("bound to {}: the API needs the token above (or `Authorization: Bearer TOKEN`)", options.bind);
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
                    let path = req.uri().path();
                    let reply = if loopback && !local_host(host, addr.port()) {
                        Reply::error(
                            403,
                            "the Host header must name this machine (127.0.0.1, localhost or [::1]) and port",
                        )
                    } else if req.method() != hyper::Method::GET {
                        Reply::error(405, format!("{} is not answered: echolens serve takes GET only", req.method()))
                    } else if let Some(page) = page::asset(path) {
                        // The pages hold no data: they load without the token, and send it with each API call.
                        page
                    } else if !allowed(loopback, &token, auth, &query) {
                        Reply::error(401, "this server is not on loopback: give its token")
                    } else {
                        api.get(path, &query).await
                    };
                    Ok::<_, hyper::http::Error>(response(reply))
                }
            });
            // A connection that fails (a client gone) ends alone; a request whose client leaves is dropped
            // with its connection, and with it the query it was running.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// A reply as an HTTP response, with the headers every answer carries.
fn response(reply: Reply) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    use hyper::body::Bytes;
    let (content_type, bytes, download, policy) = match reply.body {
        Body::Json(v) => (
            "application/json; charset=utf-8",
            serde_json::to_vec(&v).unwrap_or_else(|_| b"{\"error\":\"unprintable\"}".to_vec()),
            None,
            DATA_POLICY,
        ),
        Body::Bytes { content_type, bytes, download } => {
            let policy = if content_type.starts_with("text/html") { PAGE_POLICY } else { DATA_POLICY };
            (content_type, bytes, download, policy)
        }
    };
    let mut builder = hyper::Response::builder()
        .status(reply.status)
        .header("content-type", content_type)
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", policy)
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY")
        .header("cross-origin-resource-policy", "same-origin");
    if let Some(name) = download {
        // Names are echolens's own (`cluster-3.gexf`): ASCII without quotes.
        builder = builder.header("content-disposition", format!("attachment; filename=\"{name}\""));
    }
    builder.body(http_body_util::Full::new(Bytes::from(bytes))).expect("a response of a status and known headers")
}

#[cfg(test)]
mod tests {
    use super::*;

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
