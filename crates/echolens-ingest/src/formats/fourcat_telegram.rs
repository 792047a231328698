//! 4CAT's Telegram datasets as NDJSON: one serialised Telethon `Message` per line (`_type: "Message"`, `id`,
//! `date` in unix seconds, `edit_date`, `message` the text, `peer_id`, `from_id`, `fwd_from`, `reply_to`,
//! `views`, `forwards`, `replies.replies`, `reactions.results[].count`), with 4CAT's `_chat` (`id`, `username`,
//! `title`) and `_sender`. The audience figures go to the engagement columns: `views`, `forwards` as `shares`,
//! the comment count as `replies`, the reactions added up as `reactions`.
//!
//! Ids are read as a Telegram Desktop export writes them, so the same channel is the same channel in both:
//! the channel's bare id (`peer_id.channel_id`, `_chat.id`), its title as its name, an author `user<N>` or
//! `channel<N>` (a channel's own post has no `from_id`: the channel is its author). A forward names its
//! source by `fwd_from.from_name` or, for a channel, its bare id (reuse links a forward to a channel in the
//! store by either); a reply names the message it answers (`reply_to.reply_to_msg_id`).

use serde_json::{Map, Value};

use super::{count, count_sum, raw_json, scalar, string};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::{Engagement, Message};

/// One line: a message, a skipped service message, or a quarantined record.
pub(crate) fn read_line(line_no: u64, line: &[u8], ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let Some(value) = super::parse_line(line_no, line, ctx, sink, "a 4CAT Telegram message") else { return };
    let Some(obj) = value.as_object() else {
        return sink.quarantine(ctx.quarantined(
            line_no,
            format!("line {line_no}: expected a JSON object"),
            &raw_json(&value),
        ));
    };
    match obj.get("_type").and_then(Value::as_str) {
        Some("Message") => {}
        Some("MessageService") => return sink.skip("service message"),
        _ => {
            let reason = format!("line {line_no}: expected a Telethon Message (_type \"Message\")");
            return sink.quarantine(ctx.quarantined(line_no, reason, &raw_json(&value)));
        }
    }
    match convert(obj, ctx, line_no) {
        Ok(m) => sink.message(m),
        Err(reason) => {
            sink.quarantine(ctx.quarantined(line_no, format!("line {line_no}: {reason}"), &raw_json(&value)))
        }
    }
}

/// A Telethon peer (`{"_type": "PeerChannel", "channel_id": N}`) as an author id: `channel<N>`, `user<N>`,
/// `chat<N>`; and the bare id.
fn peer(value: Option<&Value>) -> Option<(String, String)> {
    let p = value?.as_object()?;
    for (key, prefix) in [("channel_id", "channel"), ("user_id", "user"), ("chat_id", "chat")] {
        if let Some(id) = scalar(p.get(key)) {
            return Some((format!("{prefix}{id}"), id));
        }
    }
    None
}

fn seconds(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_f64().and_then(time::from_secs_f64),
        Value::String(s) => time::from_secs_str(s).or_else(|| time::from_rfc3339(s)),
        _ => None,
    }
}

fn name_of(v: Option<&Value>) -> Option<String> {
    let o = v?.as_object()?;
    string(o.get("username")).or_else(|| string(o.get("title"))).or_else(|| {
        let parts: Vec<String> = [o.get("first_name"), o.get("last_name")].into_iter().filter_map(string).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

fn convert(m: &Map<String, Value>, ctx: &FileCtx<'_>, line_no: u64) -> Result<RawMessage, String> {
    let id = scalar(m.get("id")).ok_or("missing id")?;
    let ts = seconds(m.get("date")).ok_or("missing or invalid date (unix seconds)")?;
    let chat = m.get("_chat").and_then(Value::as_object);
    let channel = peer(m.get("peer_id"))
        .map(|(_, id)| id)
        .or_else(|| chat.and_then(|c| scalar(c.get("id"))))
        .ok_or("missing peer_id and _chat.id")?;
    let channel_name = chat.and_then(|c| string(c.get("title")).or_else(|| string(c.get("username"))));
    let (author_id, author_name) = match peer(m.get("from_id")) {
        Some((author, _)) => (author, name_of(m.get("_sender"))),
        // A channel's own post: the channel speaks.
        None => (format!("channel{channel}"), channel_name.clone()),
    };
    let forwarded_from = m.get("fwd_from").and_then(Value::as_object).and_then(|f| {
        string(f.get("from_name")).or_else(|| {
            peer(f.get("from_id")).map(|(author, bare)| if author.starts_with("channel") { bare } else { author })
        })
    });
    Ok(RawMessage {
        message: Message {
            platform: ctx.platform_or("telegram").to_owned(),
            channel_id: channel,
            channel_name,
            message_id: id,
            author_id: Some(author_id),
            author_name,
            ts,
            ts_exact: true,
            edited: seconds(m.get("edit_date")),
            text: string(m.get("message")).unwrap_or_default(),
            forwarded_from,
            reply_to: m.get("reply_to").and_then(|r| scalar(r.get("reply_to_msg_id"))),
            signature: string(m.get("post_author")),
            via_bot: scalar(m.get("via_bot_id")).map(|id| format!("user{id}")),
            engagement: Engagement {
                views: count(m.get("views")),
                shares: count(m.get("forwards")),
                replies: m.get("replies").and_then(|r| count(r.get("replies"))),
                reactions: m
                    .get("reactions")
                    .and_then(|r| r.get("results"))
                    .and_then(Value::as_array)
                    .and_then(|results| count_sum(results, |r| count(r.get("count")))),
                ..Engagement::default()
            },
            source_file: ctx.path.clone(),
            source_record: line_no,
            ..Message::default()
        },
        ..RawMessage::default()
    })
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    #[test]
    fn channel_posts_group_messages_forwards_and_replies_read_as_a_desktop_export_would() {
        let input = concat!(
            r#"{"_type": "Message", "id": 501, "peer_id": {"_type": "PeerChannel", "channel_id": 1234}, "date": 1700000000, "edit_date": 1700000600, "message": "news https://example.org/x #tag", "from_id": null, "fwd_from": {"_type": "MessageFwdHeader", "date": 1690000000, "from_id": {"_type": "PeerChannel", "channel_id": 999}, "from_name": null, "channel_post": 55}, "views": 10, "forwards": 2, "replies": {"_type": "MessageReplies", "replies": 3}, "reactions": {"_type": "MessageReactions", "results": [{"_type": "ReactionCount", "count": 4}, {"_type": "ReactionCount", "count": 1}]}, "_chat": {"id": 1234, "username": "chan", "title": "The Channel"}, "_sender": {"_type": "Channel", "id": 1234}}"#,
            "\n",
            r#"{"_type": "Message", "id": 7, "peer_id": {"_type": "PeerChannel", "channel_id": 4321}, "date": 1700000100.5, "message": "a comment", "from_id": {"_type": "PeerUser", "user_id": 42}, "reply_to": {"_type": "MessageReplyHeader", "reply_to_msg_id": 6}, "_chat": {"id": 4321, "title": "Group"}, "_sender": {"_type": "User", "id": 42, "username": null, "first_name": "Ann", "last_name": "B"}}"#,
            "\n",
            r#"{"_type": "MessageService", "id": 8, "peer_id": {"_type": "PeerChannel", "channel_id": 4321}, "date": 1700000200}"#,
            "\n",
            r#"{"_type": "Message", "id": 9, "peer_id": {"_type": "PeerChannel", "channel_id": 4321}, "message": "no date"}"#,
            "\n",
            r#"{"_type": "User", "id": 1}"#,
        );
        let mut sink = Collect::default();
        let counts =
            read_bytes(input.as_bytes(), "t.ndjson", Format::FourCatTelegram, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.messages, counts.skipped, counts.quarantined), (2, 1, 2), "{:?}", sink.quarantined);
        let post = &sink.messages[0];
        assert_eq!(post.key(), "telegram:1234:501");
        assert_eq!(
            (post.author_id.as_deref(), post.channel_name.as_deref()),
            (Some("channel1234"), Some("The Channel"))
        );
        assert_eq!(post.forwarded_from.as_deref(), Some("999"), "a channel source by its bare id");
        assert_eq!(post.edited, Some(1_700_000_600_000_000));
        assert_eq!(
            (post.urls.as_slice(), post.hashtags.as_slice()),
            (&["https://example.org/x".to_owned()][..], &["tag".to_owned()][..])
        );
        let e = post.engagement;
        assert_eq!((e.views, e.shares, e.replies, e.reactions, e.likes), (Some(10), Some(2), Some(3), Some(5), None));
        let comment = &sink.messages[1];
        assert!(comment.engagement.is_empty(), "no figure where the record states none: {:?}", comment.engagement);
        assert_eq!((comment.author_id.as_deref(), comment.author_name.as_deref()), (Some("user42"), Some("Ann B")));
        assert_eq!((comment.reply_to.as_deref(), comment.ts), (Some("6"), 1_700_000_100_500_000));
        assert!(sink.quarantined[0].reason.contains("invalid date"), "{:?}", sink.quarantined);
        assert!(sink.quarantined[1].reason.contains("expected a Telethon Message"), "{:?}", sink.quarantined);
    }
}
