//! Zeeschuimer NDJSON: what the browser extension researchers use to capture Instagram, TikTok and X writes,
//! one item per line. Two shapes:
//! - the extension's own export: an envelope (`nav_index`, `item_id`, `timestamp_collected` in milliseconds —
//!   the capture time —, `source_platform` such as `instagram.com`, `source_platform_url`, `source_url`,
//!   `user_agent`, and the platform's item under `data`; an integer `id` is the browser database's row, not the
//!   post);
//! - 4CAT's re-download: the item itself, the envelope under `__import_meta`.
//!
//! The same post appears once per page visit: its key is the post's, so re-captures are one message (the
//! first capture kept, as any re-import). The capture time goes to `collected_at`, never to the post time.
//! Ads (Instagram `product_type: "ad"`, TikTok `isAd`, X `promoted`) are skipped and counted; items from other
//! platforms are quarantined, naming the platform.
//!
//! The audience figures each item states go to the engagement columns, as of the capture kept: Instagram's
//! `like_count`, `comment_count` and a reel's `play_count` (graph layout: `edge_media_preview_like.count`,
//! `edge_media_to_comment.count`, `video_view_count`); TikTok's `stats.{playCount, diggCount, shareCount,
//! commentCount}` (or `statsV2`); X's `legacy.{favorite_count, retweet_count, reply_count, quote_count}` and
//! `views.count`.
//!
//! - **Instagram**, two layouts. The item list (`code` the shortcode and message id, `taken_at` seconds,
//!   `caption.text` or a null caption, `user.{pk, username}` or `owner`), and the older graph layout
//!   (`__typename` `GraphImage`/`GraphVideo`/`GraphSidecar`, `shortcode`, `taken_at_timestamp`,
//!   `edge_media_to_caption.edges[0].node.text`, `owner.{id, username}`). The channel is the posting account's
//!   profile (its own timeline: pseudonymised with it). Hashtags and mentions come from the caption.
//! - **TikTok**: `id`, `desc`, `createTime` (seconds, string or number), `author` an object `{id, uniqueId}` or
//!   a string (the handle, then the account's id too), hashtags from `challenges[].title` and
//!   `textExtra[].hashtagName`, a duet's `duetInfo.duetFromId` as `repost_of`.
//! - **X** (a GraphQL tweet result, or its `TweetWithVisibilityResults` wrapper): `rest_id`,
//!   `legacy.{full_text, created_at, user_id_str, in_reply_to_status_id_str, quoted_status_id_str,
//!   entities.{hashtags, urls[].expanded_url, user_mentions}, retweeted_status_result.result}` (a retweet's
//!   original is `repost_of`), a long post's text in `note_tweet.note_tweet_results.result.text`, the handle at
//!   `core.user_results.result.legacy.screen_name` or `core.user_results.result.core.screen_name`.

use serde_json::{Map, Value};

use super::{count, raw_json, scalar, string};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::{Engagement, Message};

/// One line: an item (a message or a skipped ad) or a quarantined record.
pub(crate) fn read_line(line_no: u64, line: &[u8], ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let Some(value) = super::parse_line(line_no, line, ctx, sink, "a Zeeschuimer item") else { return };
    match read_item(&value, ctx, line_no) {
        Ok(Item::Message(m)) => sink.message(*m),
        Ok(Item::Ad) => sink.skip("ad"),
        Err(reason) => {
            sink.quarantine(ctx.quarantined(line_no, format!("line {line_no}: {reason}"), &raw_json(&value)))
        }
    }
}

enum Item {
    Message(Box<RawMessage>),
    Ad,
}

/// The envelope's facts and the platform's item.
fn read_item(value: &Value, ctx: &FileCtx<'_>, line_no: u64) -> Result<Item, String> {
    let obj = value.as_object().ok_or("expected a JSON object")?;
    let (meta, data) = if let Some(data) = obj.get("data").filter(|_| obj.contains_key("source_platform")) {
        (obj, data)
    } else if let Some(meta) = obj.get("__import_meta").and_then(Value::as_object) {
        (meta, value)
    } else {
        return Err("expected a Zeeschuimer item (source_platform and data) or a 4CAT item with __import_meta".into());
    };
    let source = string(meta.get("source_platform")).ok_or("the item names no source_platform")?;
    let collected = match meta.get("timestamp_collected") {
        Some(Value::Number(n)) => n.as_f64().and_then(|ms| time::from_secs_f64(ms / 1000.0)),
        Some(Value::String(s)) => s.parse::<f64>().ok().and_then(|ms| time::from_secs_f64(ms / 1000.0)),
        _ => None,
    };
    let data = data.as_object().ok_or("data: expected an object")?;
    let item = match source.trim_start_matches("www.") {
        "instagram.com" => instagram(data, ctx)?,
        "tiktok.com" => tiktok(data, ctx)?,
        "twitter.com" | "x.com" => x(data, ctx)?,
        other => {
            return Err(format!(
                "Zeeschuimer items from {other:?} are not read (instagram.com, tiktok.com, twitter.com and x.com are)"
            ));
        }
    };
    Ok(match item {
        Some(mut m) => {
            m.message.collected_at = collected;
            m.message.source_file = ctx.path.clone();
            m.message.source_record = line_no;
            Item::Message(Box::new(m))
        }
        None => Item::Ad,
    })
}

/// A field as a string: a string, or a number written out.
fn text_of(obj: &Map<String, Value>, key: &str) -> Option<String> {
    scalar(obj.get(key)).filter(|s| !s.is_empty())
}

/// Seconds since the epoch, as a number or a string.
fn seconds(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_f64().and_then(time::from_secs_f64),
        Value::String(s) => time::from_secs_str(s),
        _ => None,
    }
}

fn message(platform: &str, channel: String, handle: Option<String>, id: String, ts: i64, text: String) -> RawMessage {
    RawMessage {
        message: Message {
            platform: platform.to_owned(),
            channel_id: channel.clone(),
            channel_name: handle.clone(),
            message_id: id,
            author_id: Some(channel),
            author_name: handle,
            ts,
            ts_exact: true,
            text,
            ..Message::default()
        },
        ..RawMessage::default()
    }
}

fn instagram(d: &Map<String, Value>, ctx: &FileCtx<'_>) -> Result<Option<RawMessage>, String> {
    if d.get("product_type").and_then(Value::as_str) == Some("ad") {
        return Ok(None);
    }
    let platform = ctx.platform_or("instagram");
    if d.contains_key("__typename") || d.contains_key("shortcode") {
        // The graph layout.
        let code = text_of(d, "shortcode").ok_or("missing shortcode")?;
        let ts = seconds(d.get("taken_at_timestamp")).ok_or("missing or invalid taken_at_timestamp")?;
        let owner = d.get("owner").and_then(Value::as_object).ok_or("missing owner")?;
        let id = text_of(owner, "id").ok_or("owner: missing id")?;
        let text = d
            .get("edge_media_to_caption")
            .and_then(|c| c.get("edges"))
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("node"))
            .and_then(|n| n.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut m = message(platform, id, text_of(owner, "username"), code, ts, text);
        let edge_count = |keys: &[&str]| keys.iter().find_map(|k| count(d.get(*k).and_then(|e| e.get("count"))));
        m.message.engagement = Engagement {
            views: count(d.get("video_view_count")),
            likes: edge_count(&["edge_media_preview_like", "edge_liked_by"]),
            replies: edge_count(&["edge_media_to_comment", "edge_media_preview_comment"]),
            ..Engagement::default()
        };
        return Ok(Some(m));
    }
    let code = text_of(d, "code").ok_or("missing code (the post's shortcode)")?;
    let ts = seconds(d.get("taken_at")).ok_or("missing or invalid taken_at")?;
    let user = d.get("user").or_else(|| d.get("owner")).and_then(Value::as_object).ok_or("missing user")?;
    let id = text_of(user, "pk").or_else(|| text_of(user, "id")).ok_or("user: missing pk")?;
    let text = match d.get("caption") {
        Some(Value::Object(c)) => c.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
        Some(Value::Null) | None => String::new(),
        Some(other) => return Err(format!("caption: expected an object or null, found {}", raw_json(other))),
    };
    let mut m = message(platform, id, text_of(user, "username"), code, ts, text);
    m.message.engagement = Engagement {
        // Reels: plays where the item says, else views.
        views: ["play_count", "ig_play_count", "view_count"].iter().find_map(|k| count(d.get(*k))),
        likes: count(d.get("like_count")),
        replies: count(d.get("comment_count")),
        ..Engagement::default()
    };
    Ok(Some(m))
}

fn tiktok(d: &Map<String, Value>, ctx: &FileCtx<'_>) -> Result<Option<RawMessage>, String> {
    if d.get("isAd").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let id = text_of(d, "id").ok_or("missing id")?;
    let ts = seconds(d.get("createTime")).ok_or("missing or invalid createTime")?;
    let (author, handle) = match d.get("author") {
        Some(Value::Object(a)) => {
            let handle = text_of(a, "uniqueId");
            (text_of(a, "id").or_else(|| handle.clone()).ok_or("author: missing id")?, handle)
        }
        // The older layout: the handle alone, which then stands for the account.
        Some(Value::String(h)) if !h.is_empty() => (h.clone(), Some(h.clone())),
        _ => return Err("missing author".into()),
    };
    let mut m = message(ctx.platform_or("tiktok"), author, handle, id, ts, string(d.get("desc")).unwrap_or_default());
    let mut tags: Vec<String> = Vec::new();
    let mut add = |t: Option<&str>| {
        if let Some(t) = t.filter(|t| !t.is_empty())
            && !tags.iter().any(|x| x == t)
        {
            tags.push(t.to_owned());
        }
    };
    for c in d.get("challenges").and_then(Value::as_array).into_iter().flatten() {
        add(c.get("title").and_then(Value::as_str));
    }
    for t in d.get("textExtra").and_then(Value::as_array).into_iter().flatten() {
        add(t.get("hashtagName").and_then(Value::as_str));
    }
    if !tags.is_empty() {
        m.hashtags = Some(tags);
    }
    // `stats` holds numbers; newer items repeat them as strings in `statsV2`.
    let stat = |key: &str| {
        count(d.get("stats").and_then(|s| s.get(key))).or_else(|| count(d.get("statsV2").and_then(|s| s.get(key))))
    };
    m.message.engagement = Engagement {
        views: stat("playCount"),
        likes: stat("diggCount"),
        shares: stat("shareCount"),
        replies: stat("commentCount"),
        ..Engagement::default()
    };
    m.message.repost_of =
        d.get("duetInfo").and_then(|i| scalar(i.get("duetFromId"))).filter(|id| !id.is_empty() && id != "0");
    Ok(Some(m))
}

fn x(d: &Map<String, Value>, ctx: &FileCtx<'_>) -> Result<Option<RawMessage>, String> {
    if d.get("promoted").and_then(Value::as_bool) == Some(true) || d.contains_key("promotedMetadata") {
        return Ok(None);
    }
    // A tweet shown with a notice comes wrapped.
    let d = match d.get("tweet").and_then(Value::as_object) {
        Some(t) if d.get("__typename").and_then(Value::as_str) == Some("TweetWithVisibilityResults") => t,
        _ => d,
    };
    let id = text_of(d, "rest_id").ok_or("missing rest_id")?;
    let legacy = d.get("legacy").and_then(Value::as_object).ok_or("missing legacy")?;
    let created = string(legacy.get("created_at")).ok_or("legacy: missing created_at")?;
    let ts = chrono::DateTime::parse_from_str(&created, "%a %b %d %H:%M:%S %z %Y")
        .map(|t| t.timestamp_micros())
        .map_err(|_| format!("legacy.created_at {created:?} is not like \"Wed Oct 10 20:19:24 +0000 2018\""))?;
    let author = text_of(legacy, "user_id_str").ok_or("legacy: missing user_id_str")?;
    let user = d.get("core").and_then(|c| c.get("user_results")).and_then(|u| u.get("result"));
    let handle = user
        .and_then(|u| u.get("legacy").and_then(|l| string(l.get("screen_name"))))
        .or_else(|| user.and_then(|u| u.get("core")).and_then(|c| string(c.get("screen_name"))));
    let note = d
        .get("note_tweet")
        .and_then(|n| n.get("note_tweet_results"))
        .and_then(|r| r.get("result"))
        .and_then(|r| string(r.get("text")));
    let text = note.or_else(|| string(legacy.get("full_text"))).unwrap_or_default();
    let mut m = message(ctx.platform_or("x"), author, handle, id, ts, text);
    m.message.engagement = Engagement {
        views: count(d.get("views").and_then(|v| v.get("count"))),
        likes: count(legacy.get("favorite_count")),
        shares: count(legacy.get("retweet_count")),
        replies: count(legacy.get("reply_count")),
        quotes: count(legacy.get("quote_count")),
        reactions: None,
    };
    m.message.reply_to = text_of(legacy, "in_reply_to_status_id_str");
    m.message.quote_of = text_of(legacy, "quoted_status_id_str");
    m.message.repost_of = legacy
        .get("retweeted_status_result")
        .and_then(|r| r.get("result"))
        .and_then(|r| r.get("tweet").or(Some(r)))
        .and_then(|r| scalar(r.get("rest_id")));
    if let Some(entities) = legacy.get("entities").and_then(Value::as_object) {
        let list = |key: &str, field: &str| -> Option<Vec<String>> {
            let items = entities.get(key)?.as_array()?;
            Some(items.iter().filter_map(|i| string(i.get(field))).collect())
        };
        m.hashtags = list("hashtags", "text");
        m.urls = list("urls", "expanded_url");
        m.mentions = list("user_mentions", "screen_name");
    }
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};
    use proptest::prelude::*;

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Templates of every layout both line readers know.
    const TEMPLATES: [(Format, &str); 6] = [
        (
            Format::Zeeschuimer,
            r#"{"source_platform": "instagram.com", "timestamp_collected": 1, "data": {"code": "C", "taken_at": 1700000000, "caption": {"text": "t"}, "user": {"pk": "1", "username": "u"}}}"#,
        ),
        (
            Format::Zeeschuimer,
            r#"{"__typename": "GraphImage", "shortcode": "S", "taken_at_timestamp": 1700000000, "edge_media_to_caption": {"edges": [{"node": {"text": "t"}}]}, "owner": {"id": "1", "username": "u"}, "__import_meta": {"source_platform": "instagram.com"}}"#,
        ),
        (
            Format::Zeeschuimer,
            r#"{"source_platform": "tiktok.com", "data": {"id": "1", "desc": "d", "createTime": 1700000000, "author": {"id": "2", "uniqueId": "u"}, "challenges": [{"title": "a"}], "textExtra": [{"hashtagName": "b"}], "duetInfo": {"duetFromId": "3"}}}"#,
        ),
        (
            Format::Zeeschuimer,
            r#"{"source_platform": "x.com", "data": {"rest_id": "1", "core": {"user_results": {"result": {"legacy": {"screen_name": "u"}}}}, "legacy": {"full_text": "t", "created_at": "Wed Oct 10 20:19:24 +0000 2018", "user_id_str": "8", "entities": {"hashtags": [{"text": "a"}], "urls": [{"expanded_url": "https://e.org"}]}, "retweeted_status_result": {"result": {"rest_id": "5"}}}}}"#,
        ),
        (
            Format::FourCatTelegram,
            r#"{"_type": "Message", "id": 1, "peer_id": {"_type": "PeerChannel", "channel_id": 5}, "date": 1700000000, "message": "m", "from_id": {"_type": "PeerUser", "user_id": 3}, "fwd_from": {"from_id": {"channel_id": 9}, "from_name": null}, "reply_to": {"reply_to_msg_id": 2}, "_chat": {"id": 5, "title": "c"}, "_sender": {"username": "s"}}"#,
        ),
        (
            Format::FourCatTelegram,
            r#"{"_type": "Message", "id": 2, "_chat": {"id": 5, "username": "c"}, "date": "1700000000", "edit_date": 1700000100, "message": "m"}"#,
        ),
    ];

    /// Every path to a value inside `v` (object keys and array positions).
    fn paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    at.push(k.clone());
                    out.push(at.clone());
                    paths(x, at, out);
                    at.pop();
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    at.push(i.to_string());
                    out.push(at.clone());
                    paths(x, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any JSON value in any field of any layout: no panic, and the record is a message, a skip or
        /// quarantined.
        #[test]
        fn any_value_in_any_field_never_panics_a_reader(pick in 0usize..1000, field in 0usize..1000, value in any_json()) {
            let (format, template) = TEMPLATES[pick % TEMPLATES.len()];
            let mut item: serde_json::Value = serde_json::from_str(template).unwrap();
            let mut all = Vec::new();
            paths(&item, &mut Vec::new(), &mut all);
            let path = &all[field % all.len()];
            let pointer = format!("/{}", path.iter().map(|p| p.replace('~', "~0").replace('/', "~1")).collect::<Vec<_>>().join("/"));
            *item.pointer_mut(&pointer).unwrap() = value;
            let line = item.to_string();
            let mut sink = Collect::default();
            let counts = read_bytes(line.as_bytes(), "p.ndjson", format, &ReadOptions::default(), &mut sink);
            prop_assert_eq!(counts.records, 1);
            prop_assert_eq!(counts.records, counts.messages + counts.quarantined + counts.skipped);
        }
    }

    fn read(input: &str) -> crate::Collect {
        let mut sink = Collect::default();
        let counts =
            read_bytes(input.as_bytes(), "capture.ndjson", Format::Zeeschuimer, &ReadOptions::default(), &mut sink);
        assert_eq!(counts.records, counts.messages + counts.quarantined + counts.skipped, "{counts:?}");
        sink
    }

    #[test]
    fn instagram_item_list_and_graph_layouts_with_capture_time_and_ads_skipped() {
        let sink = read(concat!(
            r#"{"id": 17, "nav_index": "1:1:0", "item_id": "C1", "timestamp_collected": 1714000000123, "source_platform": "instagram.com", "source_platform_url": "https://www.instagram.com/", "source_url": "https://www.instagram.com/api/v1/feed/", "user_agent": "Mozilla", "data": {"code": "C1abc", "pk": "311", "taken_at": 1713990000, "caption": {"text": "Vote! #Election2024 with @friend_1"}, "user": {"pk": "9001", "username": "alice.ig", "full_name": "Alice"}, "media_type": 1, "like_count": 3}}"#,
            "\n",
            r#"{"source_platform": "instagram.com", "timestamp_collected": 1714000000999, "data": {"code": "C2", "taken_at": "1713990100", "caption": null, "user": {"pk": 9002, "username": "bob"}}}"#,
            "\n",
            r#"{"source_platform": "instagram.com", "data": {"code": "AD1", "taken_at": 1713990200, "product_type": "ad", "user": {"pk": "1", "username": "brand"}}}"#,
            "\n",
            r#"{"__typename": "GraphImage", "shortcode": "G1", "taken_at_timestamp": 1600000000, "edge_media_to_caption": {"edges": [{"node": {"text": "old #layout"}}]}, "owner": {"id": "77", "username": "carol"}, "edge_media_preview_like": {"count": 40}, "edge_media_to_comment": {"count": 2}, "video_view_count": null, "__import_meta": {"source_platform": "instagram.com", "timestamp_collected": 1700000000000}}"#,
        ));
        assert_eq!(sink.skipped, vec!["ad"]);
        assert!(sink.quarantined.is_empty(), "{:?}", sink.quarantined);
        let m: Vec<_> = sink.messages.iter().collect();
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].platform.as_str(), m[0].channel_id.as_str(), m[0].message_id.as_str()),
            ("instagram", "9001", "C1abc")
        );
        assert_eq!((m[0].author_id.as_deref(), m[0].author_name.as_deref()), (Some("9001"), Some("alice.ig")));
        assert_eq!(m[0].ts, 1_713_990_000_000_000);
        assert_eq!(m[0].collected_at, Some(1_714_000_000_123_000), "the capture time, not the post's");
        assert_eq!(m[0].text, "Vote! #Election2024 with @friend_1");
        assert_eq!(
            (m[0].hashtags.as_slice(), m[0].mentions.as_slice()),
            (&["election2024".to_owned()][..], &["friend_1".to_owned()][..])
        );
        assert_eq!((m[1].channel_id.as_str(), m[1].text.as_str()), ("9002", ""), "a numeric pk, a null caption");
        assert_eq!(
            (m[2].message_id.as_str(), m[2].channel_id.as_str(), m[2].text.as_str()),
            ("G1", "77", "old #layout")
        );
        assert_eq!(m[2].collected_at, Some(1_700_000_000_000_000), "4CAT's __import_meta");
        let figures = |e: echolens_model::Engagement| (e.views, e.likes, e.replies, e.shares);
        assert_eq!(figures(m[0].engagement), (None, Some(3), None, None));
        assert!(m[1].engagement.is_empty(), "an item stating no figure has none");
        assert_eq!(figures(m[2].engagement), (None, Some(40), Some(2), None), "the graph layout's edge counts");
    }

    #[test]
    fn tiktok_with_both_author_layouts_duets_and_ads() {
        let sink = read(concat!(
            r#"{"source_platform": "tiktok.com", "timestamp_collected": 1714000000000, "data": {"id": "7300", "desc": "dance #fyp", "createTime": "1713000000", "author": {"id": "55", "uniqueId": "dancer", "nickname": "D"}, "challenges": [{"title": "fyp"}], "textExtra": [{"hashtagName": "fyp"}, {"hashtagName": "trend"}], "duetInfo": {"duetFromId": "7299"}, "stats": {"playCount": 1200, "diggCount": 80, "shareCount": 4, "commentCount": 9}}}"#,
            "\n",
            r#"{"source_platform": "tiktok.com", "data": {"id": 7301, "desc": "", "createTime": 1713000100, "author": "dancer2", "nickname": "E", "duetInfo": {"duetFromId": "0"}, "statsV2": {"playCount": "77", "diggCount": "-3"}}}"#,
            "\n",
            r#"{"source_platform": "tiktok.com", "data": {"id": "AD", "createTime": 1713000100, "author": "x", "isAd": true}}"#,
        ));
        assert_eq!(sink.skipped, vec!["ad"]);
        let a = &sink.messages[0];
        assert_eq!((a.channel_id.as_str(), a.author_name.as_deref()), ("55", Some("dancer")));
        assert_eq!(a.hashtags, ["fyp", "trend"], "stated by the item, once each");
        assert_eq!(a.repost_of.as_deref(), Some("7299"), "a duet is a repost");
        let e = a.engagement;
        assert_eq!((e.views, e.likes, e.shares, e.replies), (Some(1200), Some(80), Some(4), Some(9)));
        let b = &sink.messages[1];
        assert_eq!((b.message_id.as_str(), b.channel_id.as_str(), b.repost_of.as_deref()), ("7301", "dancer2", None));
        assert_eq!((b.engagement.views, b.engagement.likes), (Some(77), None), "statsV2's strings; a negative is none");
    }

    #[test]
    fn x_graphql_tweets_retweets_long_posts_and_other_platforms() {
        let sink = read(concat!(
            r#"{"source_platform": "x.com", "timestamp_collected": 1714000000000, "data": {"__typename": "Tweet", "rest_id": "100", "core": {"user_results": {"result": {"legacy": {"screen_name": "xuser"}}}}, "legacy": {"full_text": "short", "created_at": "Wed Oct 10 20:19:24 +0000 2018", "user_id_str": "8", "in_reply_to_status_id_str": "99", "entities": {"hashtags": [{"text": "Tag"}], "urls": [{"expanded_url": "https://example.org/a"}], "user_mentions": [{"screen_name": "someone"}]}, "favorite_count": 12, "retweet_count": 3, "reply_count": 1, "quote_count": 0}, "views": {"count": "4500", "state": "EnabledWithCount"}, "note_tweet": {"note_tweet_results": {"result": {"text": "the long text"}}}}}"#,
            "\n",
            r#"{"source_platform": "twitter.com", "data": {"__typename": "TweetWithVisibilityResults", "tweet": {"rest_id": "101", "core": {"user_results": {"result": {"core": {"screen_name": "newlayout"}}}}, "legacy": {"full_text": "RT @a: hi", "created_at": "Wed Oct 10 20:19:25 +0000 2018", "user_id_str": "9", "retweeted_status_result": {"result": {"rest_id": "50"}}}}}}"#,
            "\n",
            r#"{"source_platform": "x.com", "data": {"rest_id": "102", "promoted": true, "legacy": {}}}"#,
            "\n",
            r#"{"source_platform": "linkedin.com", "data": {"id": "1"}}"#,
            "\n",
            r#"{"source_platform": "x.com", "data": {"rest_id": "103", "legacy": {"full_text": "x", "created_at": "yesterday", "user_id_str": "9"}}}"#,
            "\n",
            "{not json",
        ));
        assert_eq!(sink.skipped, vec!["ad"]);
        let a = &sink.messages[0];
        assert_eq!((a.platform.as_str(), a.channel_id.as_str(), a.message_id.as_str()), ("x", "8", "100"));
        assert_eq!(a.text, "the long text");
        let e = a.engagement;
        assert_eq!(
            (e.views, e.likes, e.shares, e.replies, e.quotes),
            (Some(4500), Some(12), Some(3), Some(1), Some(0))
        );
        assert_eq!(a.ts, 1_539_202_764_000_000);
        assert_eq!((a.reply_to.as_deref(), a.author_name.as_deref()), (Some("99"), Some("xuser")));
        assert_eq!(
            (a.urls.as_slice(), a.hashtags.as_slice(), a.mentions.as_slice()),
            (&["https://example.org/a".to_owned()][..], &["tag".to_owned()][..], &["someone".to_owned()][..])
        );
        let b = &sink.messages[1];
        assert_eq!((b.repost_of.as_deref(), b.author_name.as_deref()), (Some("50"), Some("newlayout")));
        let reasons: Vec<&str> = sink.quarantined.iter().map(|q| q.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("\"linkedin.com\" are not read"), "{reasons:?}");
        assert!(reasons[1].contains("created_at \"yesterday\""), "{reasons:?}");
        assert!(reasons[2].contains("invalid JSON"), "{reasons:?}");
    }
}
