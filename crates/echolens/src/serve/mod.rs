//! `echolens serve`: a store and an `analyze` output folder explored in the browser, through the same library
//! as the CLI (the store's stats, timelines, keyness and diffusion runs, the tables `analyze` wrote),
//! pseudonymised unless `--reveal`.
//!
//! [`Api::get`] answers a path and its query parameters with a status and a body (JSON, or a file to
//! download); [`http`] is the HTTP/1.1 layer over it and serves the pages ([`page`]), which call the same API a
//! script does. An error is `{"error": "..."}` with a 4xx status for what the request got wrong, 500 for a bug,
//! never a stack trace.

mod console;
mod http;
mod page;
mod results;
mod search;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use datafusion::prelude::{Expr, SessionContext, col, lit};
use echolens_analysis::Pseudonyms;
use echolens_analysis::select::Selection;
use echolens_analysis::vocabulary::{diffusion, keyness, timeline};
use echolens_store::{Store, rfc3339};
use serde_json::{Value, json};

use crate::findings::ReportDir;
use results::{Results, field, number};

pub use http::serve;

/// Messages per page of a search, by default and at most.
const PAGE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
/// The last page a search serves: deeper paging is a scan of everything before it.
const MAX_PAGE: usize = 10_000;
/// Terms a keyness answer holds.
const KEYNESS_TERMS: usize = 50;
/// Edges of a cluster an answer holds, the strongest first.
const CLUSTER_EDGES: usize = 200;
/// Messages one `/api/messages` request may ask for.
const MAX_KEYS: usize = 200;
/// Members of a cascade whose texts an answer holds, in time order.
const CASCADE_TEXTS: usize = 200;
/// Rows a console answer shows, and a CSV download holds.
const SQL_ROWS: usize = 1_000;
const SQL_CSV_ROWS: usize = 100_000;
/// How long a console query may run.
const SQL_TIMEOUT: Duration = Duration::from_secs(120);
/// Channels a term's answer lists, the first to use it first.
const TERM_CHANNELS: usize = 1_000;
/// Channels a volume chart draws (the rest are summed as one series).
const VOLUME_SERIES: usize = 8;
/// Answers of analyses (keyness, a term's spread, volume) kept for the same request again.
const CACHED: usize = 64;

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

/// A body: JSON, or bytes of a type (a page, or a file to download under a name).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A JSON document.
    Json(Value),
    /// Bytes with their content type, and a file name when they are a download.
    Bytes {
        /// The content type.
        content_type: &'static str,
        /// The bytes.
        bytes: Vec<u8>,
        /// The file name a browser saves them under.
        download: Option<String>,
    },
}

/// An answer: an HTTP status and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Body,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body: Body::Json(body) }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply { status, body: Body::Json(json!({ "error": message.into() })) }
    }

    /// The JSON body, if it is one.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            Body::Bytes { .. } => None,
        }
    }
}

/// The API over one store (and, if given, one `analyze` output folder).
pub struct Api {
    store: Store,
    /// The session searches and lookups run in (they register nothing).
    ctx: SessionContext,
    /// The SQL console's session (pseudonymised views).
    console: SessionContext,
    search_match: datafusion::logical_expr::ScalarUDF,
    /// The store's search index, when it covers the store's messages.
    index: Option<crate::search_index::SearchIndex>,
    /// The engine's memory, for the session of each analysis (an analysis registers views by name: two at once
    /// in one session would read each other's).
    memory: usize,
    pseudonyms: Arc<Pseudonyms>,
    reveal: bool,
    /// A pseudonymised account `platform:u-…` → its stored `platform:id` (empty with `--reveal`).
    authors: HashMap<String, String>,
    results: Option<Results>,
    /// Answers of analyses by request, the oldest dropped first.
    cache: Mutex<Vec<(String, Value)>>,
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

impl From<echolens_store::Error> for BadRequest {
    fn from(e: echolens_store::Error) -> BadRequest {
        BadRequest(500, format!("echolens failed: {e}"))
    }
}

impl From<anyhow::Error> for BadRequest {
    fn from(e: anyhow::Error) -> BadRequest {
        BadRequest(500, format!("echolens failed: {e:#}"))
    }
}

impl Api {
    /// Open the store (and the results folder), read the pseudonyms.
    pub async fn open(options: &Options) -> Result<Api> {
        let mut store =
            Store::open(&options.store).await.with_context(|| format!("opening {}", options.store.display()))?;
        let index = search_index(&mut store).await?;
        let ctx = crate::run::session(&store, options.memory, &crate::run::Engine::Local).await?;
        let pseudonyms = Arc::new(crate::run::pseudonyms(&store, &ctx).await?);
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
        let results = results.map(Results::load).transpose()?;
        let console = console::session(
            &store,
            &pseudonyms,
            options.reveal,
            results.as_ref().map(|r| r.dir.dir.as_path()),
            options.memory,
        )
        .await?;
        let mut authors = HashMap::new();
        if !options.reveal {
            let batches = ctx
                .sql("SELECT DISTINCT platform, author_id FROM messages WHERE author_id IS NOT NULL")
                .await?
                .collect()
                .await?;
            for b in &batches {
                let (platform, id) =
                    (echolens_analysis::strings(b, "platform")?, echolens_analysis::strings(b, "author_id")?);
                for i in 0..b.num_rows() {
                    let (p, a) = (platform.value(i), id.value(i));
                    authors.insert(format!("{p}:{}", pseudonyms.id(p, a)), format!("{p}:{a}"));
                }
            }
        }
        Ok(Api {
            store,
            ctx,
            console,
            search_match: search::udf(),
            index,
            memory: options.memory,
            pseudonyms,
            reveal: options.reveal,
            authors,
            results,
            cache: Mutex::new(Vec::new()),
        })
    }

    /// Answer `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Reply {
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let params = |name: &str| query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let path = path.trim_end_matches('/');
        let json = |answer: Result<Value, BadRequest>| answer.map(Reply::ok);
        let answer = match path {
            "/api/stats" => json(self.stats().await),
            "/api/volume" => json(self.cached(path, query, self.volume(&params("select"), param("period"))).await),
            "/api/quarantine" => json(self.quarantine().await),
            "/api/tables" => json(self.tables().await),
            "/api/search" => json(
                self.search(
                    param("q").unwrap_or(""),
                    &params("select"),
                    param("page"),
                    param("per_page"),
                    param("engine"),
                )
                .await,
            ),
            "/api/messages" => json(self.messages(&params("key")).await),
            "/api/keyness" => {
                json(self.cached(path, query, self.keyness(&params("target"), &params("reference"))).await)
            }
            "/api/term" => {
                json(self.cached(path, query, self.term(param("term").unwrap_or(""), &params("select"))).await)
            }
            "/api/clusters" => json(self.results().map(|r| json!({ "cluster_summary": r.clusters }))),
            "/api/cascades" => json(self.results().map(|r| json!({ "cascade_summary": r.cascades }))),
            "/api/sql" => self.sql(param("q").unwrap_or(""), param("format")).await,
            "/api/stix" => self.stix(),
            p if p.starts_with("/api/clusters/") => match p["/api/clusters/".len()..].strip_suffix("/gexf") {
                Some(id) => self.cluster_gexf(id),
                None => json(self.cluster(&p["/api/clusters/".len()..], param("account"))),
            },
            p if p.starts_with("/api/cascades/") => json(self.cascade(&p["/api/cascades/".len()..]).await),
            p => Err(BadRequest(
                404,
                format!(
                    "no such endpoint {p:?}; see /api/stats, /api/volume, /api/quarantine, /api/search, \
                     /api/messages, /api/keyness, /api/term, /api/clusters, /api/cascades, /api/tables, /api/sql, /api/stix"
                ),
            )),
        };
        answer.unwrap_or_else(|BadRequest(status, message)| Reply::error(status, message))
    }

    /// An analysis's answer, from the cache when the same request was answered before (the store is read-only
    /// while served, so an answer holds).
    async fn cached(
        &self,
        path: &str,
        query: &[(String, String)],
        run: impl std::future::Future<Output = Result<Value, BadRequest>>,
    ) -> Result<Value, BadRequest> {
        let mut sorted: Vec<&(String, String)> = query.iter().filter(|(k, _)| k != "token").collect();
        sorted.sort();
        let key = format!("{path}?{sorted:?}");
        if let Some((_, v)) = self.cache.lock().expect("cache lock").iter().find(|(k, _)| *k == key) {
            return Ok(v.clone());
        }
        let value = run.await?;
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHED {
            cache.remove(0);
        }
        cache.push((key, value.clone()));
        Ok(value)
    }

    async fn stats(&self) -> Result<Value, BadRequest> {
        let stats = self.store.stats().await?;
        let mut v = serde_json::to_value(stats).map_err(|e| BadRequest(500, e.to_string()))?;
        v["pseudonymised"] = json!(!self.reveal);
        v["results"] = json!(self.results.is_some());
        v["search_index"] = json!(self.index.as_ref().map(|i| json!({"messages": i.messages()})));
        Ok(v)
    }

    /// Selectors as given, with the pseudonyms the pages show turned back into what the store holds: an
    /// author `platform:u-…` into its id, a channel `u-…` (an account's own timeline) into its channel's id.
    fn stored_selectors(&self, given: &[String]) -> Vec<String> {
        given
            .iter()
            .flat_map(|s| {
                let (kind, value) = s.split_once('=').map_or(("", ""), |(k, v)| (k.trim(), v.trim()));
                match kind {
                    "author" if !self.reveal => {
                        vec![self.authors.get(value).map_or_else(|| s.clone(), |a| format!("author={a}"))]
                    }
                    "channel" if !self.reveal => {
                        let stored = self.pseudonyms.stored_channels(value);
                        if stored.is_empty() {
                            vec![s.clone()]
                        } else {
                            stored
                                .iter()
                                .map(|c| format!("channel={}", c.split_once(':').map_or(*c, |(_, id)| id)))
                                .collect()
                        }
                    }
                    _ => vec![s.clone()],
                }
            })
            .collect()
    }

    fn selection(&self, given: &[String], what: &str) -> Result<Selection, BadRequest> {
        Selection::parse(&self.stored_selectors(given)).map_err(|e| BadRequest(400, format!("{what}: {e}")))
    }

    /// A selection as an answer shows it.
    fn describe(&self, s: &Selection) -> String {
        if self.reveal { s.to_string() } else { self.pseudonyms.selection(s) }
    }

    /// Messages per day (or week) of the selection, for the busiest channels and the rest, with bursts.
    async fn volume(&self, select: &[String], period: Option<&str>) -> Result<Value, BadRequest> {
        let period = match period.unwrap_or("day") {
            "day" => timeline::Period::Day,
            "week" => timeline::Period::Week,
            other => return Err(BadRequest(400, format!("period={other:?}: expected day or week"))),
        };
        let selection = self.selection(select, "select")?;
        let ctx = self.analysis_session().await?;
        let mut t =
            timeline::run(&ctx, &selection, None, timeline::Params::new(period, timeline::Group::Channel)).await?;
        if !self.reveal {
            self.pseudonyms.timeline(&mut t);
        }
        let mut periods: Vec<i64> = t.rows.iter().map(|r| r.period).collect();
        periods.sort_unstable();
        periods.dedup();
        let at: HashMap<i64, usize> = periods.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for r in &t.rows {
            *totals.entry(&r.group).or_default() += r.messages;
        }
        let mut groups: Vec<(&str, u64)> = totals.into_iter().collect();
        groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let shown: HashSet<&str> = groups.iter().take(VOLUME_SERIES).map(|g| g.0).collect();
        let mut series: Vec<Value> = Vec::new();
        let mut rest = vec![0u64; periods.len()];
        let mut all = vec![0u64; periods.len()];
        for (group, _) in groups.iter().take(VOLUME_SERIES) {
            let mut counts = vec![0u64; periods.len()];
            let mut bursts = Vec::new();
            let mut name = String::new();
            for r in t.rows.iter().filter(|r| r.group == *group) {
                counts[at[&r.period]] = r.messages;
                name.clone_from(&r.name);
                if r.scores.first().is_some_and(|s| s.burst) {
                    bursts.push(at[&r.period]);
                }
            }
            series.push(json!({"group": group, "name": name, "messages": counts, "bursts": bursts}));
        }
        for r in &t.rows {
            all[at[&r.period]] += r.messages;
            if !shown.contains(r.group.as_str()) {
                rest[at[&r.period]] += r.messages;
            }
        }
        let day = |p: &i64| echolens_store::rfc3339(p * 86_400_000_000)[..10].to_owned();
        Ok(json!({
            "selection": self.describe(&selection),
            "period": if period == timeline::Period::Day { "day" } else { "week" },
            "periods": periods.iter().map(day).collect::<Vec<_>>(),
            "series": series,
            "rest": {"channels": groups.len().saturating_sub(VOLUME_SERIES), "messages": rest},
            "all": all,
            "messages": t.messages,
            "burst_method": t.params.burst_method(),
        }))
    }

    /// Quarantined records by reason, and the latest few (their raw text only with `--reveal`).
    async fn quarantine(&self) -> Result<Value, BadRequest> {
        let by_reason = self
            .ctx
            .sql(
                "SELECT format, reason, count(*) AS records FROM quarantine GROUP BY format, reason \
                 ORDER BY records DESC, format, reason LIMIT 100",
            )
            .await?
            .collect()
            .await?;
        let mut reasons = Vec::new();
        for b in &by_reason {
            let (format, reason) = (echolens_analysis::strings(b, "format")?, echolens_analysis::strings(b, "reason")?);
            let records = echolens_analysis::i64s(b, "records")?;
            for i in 0..b.num_rows() {
                let reason =
                    if self.reveal { reason.value(i).to_owned() } else { self.pseudonyms.text(reason.value(i)) };
                reasons.push(json!({"format": format.value(i), "reason": reason, "records": records.value(i)}));
            }
        }
        Ok(json!({"reasons": reasons, "raw_shown": self.reveal}))
    }

    /// Messages whose normalised text holds every word of `q` (a `"quoted phrase"` as one), within the
    /// selectors, newest first.
    async fn search(
        &self,
        q: &str,
        select: &[String],
        page: Option<&str>,
        per_page: Option<&str>,
        engine: Option<&str>,
    ) -> Result<Value, BadRequest> {
        let scan = match engine {
            None | Some("index") => false,
            Some("scan") => true,
            Some(other) => return Err(BadRequest(400, format!("engine={other:?}: expected index or scan"))),
        };
        let page = whole_number(page, "page", 1, MAX_PAGE)?;
        let per_page = whole_number(per_page, "per_page", PAGE, MAX_PAGE_SIZE)?;
        let selection = self.selection(select, "select")?;
        let terms = crate::search_index::query_terms(q);
        if terms.is_empty() && selection.is_empty() {
            return Err(BadRequest(400, "give q (words, a \"quoted phrase\", a prefix*) or a select".into()));
        }
        let offset = (page - 1) * per_page;
        let found = match self.index.as_ref().filter(|_| !scan) {
            Some(index) => index.search(&terms, &selection, offset, per_page)?,
            None => None,
        };
        let (total, messages, engine) = match found {
            Some((total, keys)) => {
                let mut by_key = self.by_stored_keys(&keys).await?;
                let messages = keys.iter().filter_map(|k| by_key.remove(k)).collect();
                (total, messages, "index")
            }
            None => {
                let (total, messages) = self.scan_search(&terms, &selection, offset, per_page).await?;
                (total as u64, messages, "scan")
            }
        };
        let terms: Vec<String> = terms.iter().map(ToString::to_string).collect();
        Ok(json!({"messages": messages, "total": total, "page": page, "per_page": per_page, "terms": terms,
                  "selection": self.describe(&selection), "engine": engine}))
    }

    /// A search by scanning `messages`: how many match, and the page from `offset`, newest first (ties by the
    /// key's hash, as the index orders them).
    async fn scan_search(
        &self,
        terms: &[crate::search_index::SearchTerm],
        selection: &Selection,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<Value>), BadRequest> {
        let mut filter = selection.expr(&self.ctx).await.map_err(|e| BadRequest(400, format!("select: {e}")))?;
        if !terms.is_empty() {
            filter = filter.and(self.search_match.call(vec![col("text_norm"), lit(search::encode(terms))]));
        }
        let frame = self.ctx.table("messages").await?.filter(filter)?;
        let total = frame.clone().count().await.map_err(|e| BadRequest(400, format!("select: {e}")))?;
        let hash = datafusion::execution::FunctionRegistry::udf(&self.ctx, "hash64")?;
        let rows = frame
            .sort(vec![
                col("ts").sort(false, true),
                hash.call(vec![col("key")]).sort(true, true),
                col("key").sort(true, true),
            ])?
            .limit(offset, Some(limit))?;
        Ok((total, self.shown_messages(rows).await?))
    }

    /// The messages of a frame over `messages`, as the pages show them: pseudonymised, each with the cascade
    /// and the coordination cluster it belongs to, if any.
    async fn shown_messages(&self, frame: datafusion::dataframe::DataFrame) -> Result<Vec<Value>, BadRequest> {
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
                let mut m = if self.reveal {
                    json!({"key": key.value(i), "platform": p, "channel_id": c, "channel_name": channel_name,
                           "author_id": author, "ts": rfc3339(ts.value(i)), "text": text.value(i)})
                } else {
                    json!({"key": self.pseudonyms.key(key.value(i)), "platform": p,
                           "channel_id": self.pseudonyms.channel_id(p, c),
                           "channel_name": self.pseudonyms.channel_name(p, c, channel_name),
                           "author_id": author.map(|a| self.pseudonyms.id(p, a)),
                           "ts": rfc3339(ts.value(i)), "text": self.pseudonyms.text(text.value(i))})
                };
                if let Some(r) = &self.results {
                    let account = m["author_id"].as_str().map(|a| format!("{p}:{a}"));
                    m["account"] = json!(account);
                    m["cascade"] = json!(m["key"].as_str().and_then(|k| r.cascade_of.get(k)));
                    m["cluster"] = json!(account.and_then(|a| r.cluster_of.get(&a)));
                }
                messages.push(m);
            }
        }
        Ok(messages)
    }

    /// Messages by their keys as the pages show them, in the order asked; a key the store does not hold is
    /// listed under `missing`.
    async fn messages(&self, keys: &[String]) -> Result<Value, BadRequest> {
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(BadRequest(400, format!("give from 1 to {MAX_KEYS} key=KEY")));
        }
        let mut found = self.lookup(keys).await?;
        let mut messages = Vec::new();
        let mut missing = Vec::new();
        for k in keys {
            match found.remove(k) {
                Some(m) => messages.push(m),
                None if !messages.iter().any(|m: &Value| m["key"] == *k) => missing.push(k.clone()),
                None => {}
            }
        }
        Ok(json!({"messages": messages, "missing": missing}))
    }

    /// The messages of shown keys, by shown key.
    async fn lookup(&self, keys: &[String]) -> Result<HashMap<String, Value>, BadRequest> {
        let stored: Vec<String> = keys.iter().map(|k| self.pseudonyms.stored_key(k)).collect();
        let found = self.by_stored_keys(&stored).await?;
        Ok(found.into_values().map(|m| (m["key"].as_str().unwrap_or_default().to_owned(), m)).collect())
    }

    /// The messages of stored keys as the pages show them, by stored key.
    async fn by_stored_keys(&self, keys: &[String]) -> Result<HashMap<String, Value>, BadRequest> {
        let list: Vec<Expr> = keys.iter().map(|k| lit(k.as_str())).collect();
        let frame = self.ctx.table("messages").await?.filter(col("key").in_list(list, false))?;
        let shown = self.shown_messages(frame).await?;
        // Shown keys are the stored ones pseudonymised: each leads back to one stored key.
        Ok(shown.into_iter().map(|m| (self.pseudonyms.stored_key(m["key"].as_str().unwrap_or_default()), m)).collect())
    }

    async fn analysis_session(&self) -> Result<SessionContext, BadRequest> {
        Ok(crate::run::session(&self.store, self.memory, &crate::run::Engine::Local).await?)
    }

    /// Keyness of `target` against `reference` (the rest of the corpus without one): the strongest terms.
    async fn keyness(&self, target: &[String], reference: &[String]) -> Result<Value, BadRequest> {
        if target.is_empty() {
            return Err(BadRequest(
                400,
                "give target=SELECTOR (repeat to combine), and reference=SELECTOR if not the rest".into(),
            ));
        }
        let target = self.selection(target, "target")?;
        let reference = if reference.is_empty() { None } else { Some(self.selection(reference, "reference")?) };
        let ctx = self.analysis_session().await?;
        let mut k = keyness::run(&ctx, &target, reference.as_ref(), keyness::Params::default()).await?;
        if !self.reveal {
            self.pseudonyms.keyness(&mut k);
        }
        let terms: Vec<Value> = k
            .terms
            .iter()
            .take(KEYNESS_TERMS)
            .map(|t| json!({"term": t.term, "z": t.z, "count_target": t.count_target, "count_reference": t.count_reference}))
            .collect();
        Ok(json!({
            "target": self.describe(&target),
            "reference": reference.as_ref().map_or_else(|| "the rest of the corpus".to_owned(), |r| self.describe(r)),
            "messages_target": k.counts.messages_target,
            "messages_reference": k.counts.messages_reference,
            "params": k.params,
            "terms": terms,
        }))
    }

    /// A term's uses day by day and its adoption across channels (diffusion of one term).
    async fn term(&self, term: &str, select: &[String]) -> Result<Value, BadRequest> {
        if term.trim().is_empty() {
            return Err(BadRequest(400, "give term=WORDS".into()));
        }
        let selection = self.selection(select, "select")?;
        let terms = diffusion::Terms::new(vec![term.to_owned()])?;
        let ctx = self.analysis_session().await?;
        let mut d = diffusion::run(&ctx, terms, &selection).await?;
        if !self.reveal {
            self.pseudonyms.diffusion(&mut d);
        }
        let curve: Vec<Value> = d
            .curve
            .iter()
            .filter(|p| p.term == "*")
            .map(|p| {
                json!({"day": rfc3339(p.day * 86_400_000_000)[..10], "uses": p.uses, "channels": p.channels,
                            "new_channels": p.new_channels})
            })
            .collect();
        let adopted = d.channels.iter().filter(|a| a.first_use.is_some()).count();
        let adopters: Vec<Value> = d
            .channels
            .iter()
            .filter(|a| a.first_use.is_some())
            .take(TERM_CHANNELS)
            .map(|a| {
                json!({"platform": a.platform, "channel_id": a.channel_id, "channel_name": a.channel_name,
                       "first_use": a.first_use.map(rfc3339), "first_key": a.first_key, "uses": a.uses,
                       "messages": a.messages})
            })
            .collect();
        Ok(json!({
            "term": term,
            "selection": self.describe(&selection),
            "messages": d.messages,
            "summary": d.summary.first(),
            "curve": curve,
            "adopters": adopters,
            "adopted": adopted,
            "channels": d.channels.len(),
        }))
    }

    fn results(&self) -> Result<&Results, BadRequest> {
        self.results.as_ref().ok_or_else(|| {
            BadRequest(404, "no results folder: start serve with --results OUT (an analyze output folder)".into())
        })
    }

    /// One cluster: its summary, its accounts, its strongest edges (or those of one `account`) with their
    /// evidence as pairs of keys, and the window sweep.
    fn cluster(&self, id: &str, account: Option<&str>) -> Result<Value, BadRequest> {
        let results = self.results()?;
        let row = cluster_row(results, id)?;
        let cluster = field(row, "cluster");
        let (edges, total) = results.inner_edges.of(cluster, account, CLUSTER_EDGES)?;
        let shown: Vec<Value> = edges
            .iter()
            .map(|e| {
                let pairs: Vec<Vec<&str>> =
                    field(e, "evidence").split(';').filter(|p| !p.is_empty()).map(|p| p.split('|').collect()).collect();
                let mut v = json!(e);
                v["evidence_pairs"] = json!(pairs);
                v
            })
            .collect();
        Ok(json!({
            "cluster": row,
            "accounts": results.members.get(cluster),
            "edges": shown,
            "total_edges": total,
            "sweep": results.sweep,
        }))
    }

    /// One cluster's network as GEXF, every edge between its accounts.
    fn cluster_gexf(&self, id: &str) -> Result<Reply, BadRequest> {
        use echolens_analysis::graph::{AttrType, Graph, Value as Attr};
        let results = self.results()?;
        let row = cluster_row(results, id)?;
        let cluster = field(row, "cluster");
        let mut graph = Graph {
            node_attrs: vec![("cluster".into(), AttrType::Integer)],
            edge_attrs: vec![("kind".into(), AttrType::String), ("evidence".into(), AttrType::String)],
            ..Graph::default()
        };
        let mut index: HashMap<&str, usize> = HashMap::new();
        let cluster_number: i64 = cluster.parse().unwrap_or(0);
        for m in results.members.get(cluster).map_or(&[][..], Vec::as_slice) {
            index.insert(field(m, "account"), graph.nodes.len());
            graph.nodes.push((field(m, "account").to_owned(), vec![Attr::Int(cluster_number)]));
        }
        let (edges, _) = results.inner_edges.of(cluster, None, usize::MAX)?;
        for e in &edges {
            if let (Some(&a), Some(&b)) = (index.get(field(e, "account_a")), index.get(field(e, "account_b"))) {
                let attrs = vec![Attr::Text(field(e, "kind").to_owned()), Attr::Text(field(e, "evidence").to_owned())];
                graph.edges.push((a, b, number(e, "weight"), attrs));
            }
        }
        Ok(Reply {
            status: 200,
            body: Body::Bytes {
                content_type: "application/gexf+xml; charset=utf-8",
                bytes: graph.to_gexf(&format!("echolens coordination cluster {cluster}")).into_bytes(),
                download: Some(format!("cluster-{cluster}.gexf")),
            },
        })
    }

    /// One cascade: its summary, its members in time order with their parents, and their texts (the first
    /// [`CASCADE_TEXTS`]) for the page to show each copy's difference from its parent.
    async fn cascade(&self, id: &str) -> Result<Value, BadRequest> {
        let results = self.results()?;
        let wanted: u64 =
            id.parse().map_err(|_| BadRequest(400, format!("cascade {id:?}: expected a cascade number")))?;
        let Some(row) = results.cascades.iter().find(|r| field(r, "cascade").parse::<u64>().ok() == Some(wanted))
        else {
            return Err(BadRequest(404, format!("no cascade {wanted}")));
        };
        let members = results.cascade_members.get(field(row, "cascade")).map_or(&[][..], Vec::as_slice);
        let keys: Vec<String> = members.iter().take(CASCADE_TEXTS).map(|m| field(m, "key").to_owned()).collect();
        let texts = if keys.is_empty() { HashMap::new() } else { self.lookup(&keys).await? };
        let members: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut v = json!(m);
                v["text"] = texts.get(field(m, "key")).map_or(Value::Null, |t| t["text"].clone());
                v
            })
            .collect();
        Ok(json!({"cascade": row, "members": members}))
    }

    /// A read-only query over the console's session: the first [`SQL_ROWS`] rows as JSON, or with
    /// `format=csv` the first [`SQL_CSV_ROWS`] as a CSV download.
    async fn sql(&self, q: &str, format: Option<&str>) -> Result<Reply, BadRequest> {
        let csv = match format {
            None | Some("json") => false,
            Some("csv") => true,
            Some(other) => return Err(BadRequest(400, format!("format={other:?}: expected json or csv"))),
        };
        if q.trim().is_empty() {
            return Err(BadRequest(400, "give q=SQL (a query: SELECT, WITH, VALUES, EXPLAIN)".into()));
        }
        let frame = self
            .console
            .sql_with_options(q, console::read_only())
            .await
            .map_err(|e| BadRequest(400, format!("the query was refused: {}", first_line(&e.to_string()))))?;
        let limit = if csv { SQL_CSV_ROWS } else { SQL_ROWS };
        let frame = frame.limit(0, Some(limit + 1)).map_err(|e| BadRequest(400, first_line(&e.to_string())))?;
        let batches = match tokio::time::timeout(SQL_TIMEOUT, frame.collect()).await {
            Err(_) => {
                return Err(BadRequest(
                    400,
                    format!("the query ran longer than {} s and was stopped: narrow it", SQL_TIMEOUT.as_secs()),
                ));
            }
            Ok(r) => r.map_err(|e| BadRequest(400, format!("the query failed: {}", first_line(&e.to_string()))))?,
        };
        let mut rows = 0;
        let mut kept = Vec::new();
        for b in batches {
            let take = b.num_rows().min(limit - rows.min(limit));
            if take > 0 {
                kept.push(
                    crate::printable::printable(&b.slice(0, take), csv).map_err(|e| BadRequest(500, e.to_string()))?,
                );
            }
            rows += b.num_rows();
        }
        let truncated = rows > limit;
        if csv {
            let mut bytes = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut bytes);
                for b in &kept {
                    w.write(b).map_err(|e| BadRequest(500, e.to_string()))?;
                }
            }
            return Ok(Reply {
                status: 200,
                body: Body::Bytes {
                    content_type: "text/csv; charset=utf-8",
                    bytes,
                    download: Some("query.csv".into()),
                },
            });
        }
        let columns: Vec<String> = match kept.first() {
            Some(b) => b.schema().fields().iter().map(|f| f.name().clone()).collect(),
            None => Vec::new(),
        };
        let mut out_rows: Vec<Value> = Vec::new();
        for b in &kept {
            let mut buf = Vec::new();
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut buf);
            w.write(b).map_err(|e| BadRequest(500, e.to_string()))?;
            w.finish().map_err(|e| BadRequest(500, e.to_string()))?;
            drop(w);
            let objects: Vec<serde_json::Map<String, Value>> =
                serde_json::from_slice(&buf).map_err(|e| BadRequest(500, e.to_string()))?;
            out_rows.extend(
                objects
                    .into_iter()
                    .map(|mut o| Value::Array(columns.iter().map(|c| o.remove(c).unwrap_or(Value::Null)).collect())),
            );
        }
        Ok(Reply::ok(json!({"columns": columns, "rows": out_rows, "truncated": truncated, "limit": limit})))
    }

    /// The STIX 2.1 bundle of the results folder's findings.
    fn stix(&self) -> Result<Reply, BadRequest> {
        let results = self.results()?;
        let options = crate::stix::Options { reveal: self.reveal, ..crate::stix::Options::default() };
        let bundle = crate::stix::export(&results.dir, &options)?;
        let bytes = serde_json::to_vec_pretty(&bundle).map_err(|e| BadRequest(500, e.to_string()))?;
        Ok(Reply {
            status: 200,
            body: Body::Bytes { content_type: "application/json", bytes, download: Some("echolens-stix.json".into()) },
        })
    }

    /// The tables the console can query, with their columns.
    async fn tables(&self) -> Result<Value, BadRequest> {
        let mut names: Vec<String> = self
            .console
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        let mut tables = Vec::new();
        for name in names {
            let columns: Vec<String> =
                self.console.table(&name).await?.schema().fields().iter().map(|f| f.name().clone()).collect();
            tables.push(json!({"name": name, "columns": columns}));
        }
        Ok(json!({ "tables": tables }))
    }
}

/// The store's search index, made or brought up to date first when it is missing or behind (under the
/// store's write lock, let go after); `None`, with a warning, when another process holds the lock.
async fn search_index(store: &mut Store) -> Result<Option<crate::search_index::SearchIndex>> {
    use crate::search_index;
    if store.is_remote() {
        eprintln!("note: {} is read only (an object-store URL): searches scan the messages", store.root().display());
        return Ok(None);
    }
    match bring_up_to_date(store).await {
        Ok(true) => search_index::SearchIndex::open(store),
        Ok(false) => Ok(None),
        // A store the user may read but not write (a shared copy, a read-only mount): searches scan.
        Err(e) => {
            eprintln!(
                "warning: the search index of {} could not be made ({e:#}): searches scan the messages",
                store.root().display()
            );
            store.unlock();
            Ok(None)
        }
    }
}

/// Make or update the store's search index if it is missing or behind; whether it is current after.
async fn bring_up_to_date(store: &mut Store) -> Result<bool> {
    use crate::search_index;
    if search_index::is_current(store)? {
        return Ok(true);
    }
    match store.lock().await {
        Ok(()) => {}
        Err(echolens_store::Error::Busy { .. }) => {
            eprintln!(
                "warning: another process writes {}: searches scan the messages until the index is current",
                store.root().display()
            );
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    let missing = !search_index::exists(store);
    eprintln!(
        "{} the search index of {} …",
        if missing { "making" } else { "bringing up to date" },
        store.root().display()
    );
    let started = std::time::Instant::now();
    use std::io::IsTerminal;
    let live = std::io::stderr().is_terminal();
    let updated = search_index::update(store, &|n| {
        if live {
            eprint!("\r  {n} messages indexed");
        }
    })?;
    eprintln!("\r  {} messages indexed in {:.1} s", updated.messages_added, started.elapsed().as_secs_f64());
    store.unlock();
    Ok(true)
}

fn cluster_row<'a>(results: &'a Results, id: &str) -> Result<&'a HashMap<String, String>, BadRequest> {
    let wanted: u64 = id.parse().map_err(|_| BadRequest(400, format!("cluster {id:?}: expected a cluster number")))?;
    results
        .clusters
        .iter()
        .find(|r| field(r, "cluster").parse::<u64>().ok() == Some(wanted))
        .ok_or_else(|| BadRequest(404, format!("no cluster {wanted}")))
}

fn whole_number(v: Option<&str>, name: &str, default: usize, max: usize) -> Result<usize, BadRequest> {
    match v {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| BadRequest(400, format!("{name}={v:?}: expected a whole number from 1 to {max}"))),
    }
}

/// The first line of an engine error (the rest may be a plan dump).
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(500).collect()
}
