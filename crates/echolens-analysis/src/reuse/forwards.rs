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
    let mut channels: HashMap<String, String> = HashMap::new();
    let sql = "SELECT DISTINCT platform, channel_id, channel_name FROM messages ORDER BY platform, channel_id";
    for batch in collect(ctx, sql).await? {
        let (platform, id, name) =
            (strings(&batch, "platform")?, strings(&batch, "channel_id")?, strings(&batch, "channel_name")?);
        for i in 0..batch.num_rows() {
            let id_s = id.value(i).to_owned();
            channels.entry(format!("{}:{}", platform.value(i), id_s)).or_insert_with(|| id_s.clone());
            if name.is_valid(i) {
                channels.entry(format!("{}:{}", platform.value(i), name.value(i))).or_insert(id_s);
            }
        }
    }
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
                    source_channel_id: channels.get(&format!("{p}:{s}")).cloned(),
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
