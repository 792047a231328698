//! The forward network: which channels forward from which sources, including sources outside the corpus (named
//! only by the forward), with the earliest forwards as evidence.
//!
//! One GROUP BY over the forwards (by platform, channel and the source as the forward names it) and one window
//! plan for the evidence (the first three forwards of each pair, by time); the source is then looked up among
//! the store's channels by name or id on the same platform.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::Result;
use crate::table::{collect, i64s, strings};

/// Forwards of one channel from one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForwardEdge {
    /// Platform.
    pub platform: String,
    /// The source as the forwards name it.
    pub source: String,
    /// The source's channel id, if it is a channel of the store.
    pub source_channel_id: Option<String>,
    /// The forwarding channel.
    pub channel_id: String,
    /// Its name.
    pub channel_name: Option<String>,
    /// Forwards.
    pub forwards: u64,
    /// The first and last forward (µs).
    pub first: i64,
    /// See `first`.
    pub last: i64,
    /// Keys of the first forwards (up to three), earliest first.
    pub evidence: Vec<String>,
}

/// Evidence keys kept per edge.
const EVIDENCE: i64 = 3;

/// Every (source, channel) pair of forwards, most forwards first.
pub async fn run(ctx: &SessionContext) -> Result<Vec<ForwardEdge>> {
    let sql = "SELECT platform, channel_id, max(channel_name) AS channel_name, forwarded_from AS source, \
               count(*) AS n, CAST(min(ts) AS BIGINT) AS t0, CAST(max(ts) AS BIGINT) AS t1 \
               FROM messages WHERE forwarded_from IS NOT NULL GROUP BY platform, channel_id, forwarded_from";
    let mut edges: HashMap<(String, String, String), ForwardEdge> = HashMap::new();
    for batch in collect(ctx, sql).await? {
        let (platform, channel, name, source) = (
            strings(&batch, "platform")?,
            strings(&batch, "channel_id")?,
            strings(&batch, "channel_name")?,
            strings(&batch, "source")?,
        );
        let (n, t0, t1) = (i64s(&batch, "n")?, i64s(&batch, "t0")?, i64s(&batch, "t1")?);
        for i in 0..batch.num_rows() {
            let (p, c, s) = (platform.value(i), channel.value(i), source.value(i));
            edges.insert(
                (p.to_owned(), c.to_owned(), s.to_owned()),
                ForwardEdge {
                    platform: p.to_owned(),
                    source: s.to_owned(),
                    source_channel_id: None,
                    channel_id: c.to_owned(),
                    channel_name: name.is_valid(i).then(|| name.value(i).to_owned()),
                    forwards: n.value(i) as u64,
                    first: t0.value(i),
                    last: t1.value(i),
                    evidence: Vec::new(),
                },
            );
        }
    }
    // A source is the store's channel with that id or name on the platform, the least id where several are;
    // only the sources the forwards name are looked up (the store's channels are a million at 53M messages).
    // Platform → source → the channel id found.
    let mut sources: HashMap<&str, HashMap<&str, Option<String>>> = HashMap::new();
    for e in edges.values() {
        sources.entry(&e.platform).or_default().insert(&e.source, None);
    }
    let sql = "SELECT DISTINCT platform, channel_id, channel_name FROM messages ORDER BY platform, channel_id";
    crate::table::explain(ctx, sql).await?;
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        let batch = batch?;
        let (platform, id, name) =
            (strings(&batch, "platform")?, strings(&batch, "channel_id")?, strings(&batch, "channel_name")?);
        for i in 0..batch.num_rows() {
            let Some(named) = sources.get_mut(platform.value(i)) else { continue };
            for s in std::iter::once(id.value(i)).chain(name.is_valid(i).then(|| name.value(i))) {
                if let Some(found @ None) = named.get_mut(s) {
                    *found = Some(id.value(i).to_owned());
                }
            }
        }
    }
    let found: Vec<((String, String, String), String)> = edges
        .iter()
        .filter_map(|(at, e)| {
            let id = sources.get(e.platform.as_str())?.get(e.source.as_str())?.clone()?;
            Some((at.clone(), id))
        })
        .collect();
    drop(sources);
    for (at, id) in found {
        if let Some(e) = edges.get_mut(&at) {
            e.source_channel_id = Some(id);
        }
    }
    let sql = format!(
        "SELECT platform, channel_id, source, key FROM \
           (SELECT platform, channel_id, forwarded_from AS source, key, \
                   row_number() OVER (PARTITION BY platform, channel_id, forwarded_from ORDER BY ts, key) AS rn \
            FROM messages WHERE forwarded_from IS NOT NULL) \
         WHERE rn <= {EVIDENCE} ORDER BY platform, channel_id, source, rn"
    );
    for batch in collect(ctx, &sql).await? {
        let (platform, channel, source, key) = (
            strings(&batch, "platform")?,
            strings(&batch, "channel_id")?,
            strings(&batch, "source")?,
            strings(&batch, "key")?,
        );
        for i in 0..batch.num_rows() {
            let at = (platform.value(i).to_owned(), channel.value(i).to_owned(), source.value(i).to_owned());
            if let Some(e) = edges.get_mut(&at) {
                e.evidence.push(key.value(i).to_owned());
            }
        }
    }
    let mut out: Vec<ForwardEdge> = edges.into_values().collect();
    out.sort_by(|a, b| {
        b.forwards
            .cmp(&a.forwards)
            .then_with(|| (&a.platform, &a.source, &a.channel_id).cmp(&(&b.platform, &b.source, &b.channel_id)))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::datasource::MemTable;
    use echolens_model::Message;

    use super::*;

    fn message(platform: &str, channel: &str, name: Option<&str>, n: i64, forwarded_from: Option<&str>) -> Message {
        Message {
            platform: platform.to_owned(),
            channel_id: channel.to_owned(),
            channel_name: name.map(str::to_owned),
            message_id: n.to_string(),
            ts: n * 1_000_000,
            ts_exact: true,
            text: format!("message {n}"),
            text_norm: format!("message {n}"),
            forwarded_from: forwarded_from.map(str::to_owned),
            ..Message::default()
        }
    }

    /// A source is the store's channel with that id or that name on the forward's platform, the least id where
    /// several have it; a name no channel has is outside the store.
    #[tokio::test]
    async fn a_forwards_source_is_the_least_channel_with_its_id_or_name_on_its_platform() {
        let rows = [
            message("telegram", "30", Some("news"), 1, None),
            message("telegram", "20", Some("news"), 2, None),
            message("telegram", "20", Some("renamed"), 3, None),
            message("telegram", "40", None, 4, None),
            message("x", "10", Some("elsewhere"), 5, None),
            message("telegram", "50", None, 6, Some("news")),
            message("telegram", "50", None, 7, Some("renamed")),
            message("telegram", "50", None, 8, Some("40")),
            message("telegram", "50", None, 9, Some("elsewhere")),
            message("telegram", "50", None, 10, Some("news")),
        ];
        let ctx = crate::analysis_session(1 << 30).unwrap();
        let batch = echolens_store::messages_to_batch(rows.iter()).unwrap();
        ctx.register_table("messages", Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap()))
            .unwrap();
        let edges = run(&ctx).await.unwrap();
        let found: Vec<(&str, Option<&str>, u64)> =
            edges.iter().map(|e| (e.source.as_str(), e.source_channel_id.as_deref(), e.forwards)).collect();
        assert_eq!(
            found,
            [("news", Some("20"), 2), ("40", Some("40"), 1), ("elsewhere", None, 1), ("renamed", Some("20"), 1)]
        );
        let news = &edges[0];
        assert_eq!((news.first, news.last), (6_000_000, 10_000_000));
        assert_eq!(news.evidence, ["telegram:50:6", "telegram:50:10"]);
    }
}
