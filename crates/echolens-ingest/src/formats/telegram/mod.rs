//! Telegram Desktop JSON export: a single chat (`result.json`: name, type, id, messages) or the full-account
//! export (`chats.list` and `left_chats.list`, each a list of chats).
//!
//! The file is streamed: a scanner (`scan.rs`) cuts it into chunks of about a megabyte of messages without
//! parsing them, and each chunk is parsed on its own ([`parse_chunk`]), so the pipeline parses chunks in
//! parallel. What the exporter writes that strict JSON rejects (`\xNN` escapes) is repaired on the fly; see
//! `escape.rs`. Times come from `date_unixtime` (UTC); older exports have only `date`, the exporting machine's
//! local time with no offset, which is kept with `ts_exact = false` and one warning per file.

use std::collections::HashSet;
use std::io::BufRead;

use serde_json::Value;

use super::{raw_json, scalar, string};
use crate::escape::FixEscapes;
use crate::{FileCtx, Quarantined, RawMessage, Sink, time};
use echolens_model::{Engagement, Message};

/// Chat types the exporter writes.
const CHAT_TYPES: &[&str] = &[
    "saved_messages",
    "replies",
    "personal_chat",
    "bot_chat",
    "private_group",
    "private_supergroup",
    "public_supergroup",
    "private_channel",
    "public_channel",
    "",
];

mod scan;
mod text;

pub(crate) use scan::MessageChunk;
use scan::{Piece, ScanError};
use text::{Entity, Flattened, Text, kind_of};

/// About how many bytes of messages go in a [`MessageChunk`].
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

struct State<'a, 'c> {
    ctx: &'a FileCtx<'c>,
    sink: &'a mut dyn Sink,
    warned: &'a mut HashSet<&'static str>,
}

impl State<'_, '_> {
    fn warn_once(&mut self, kind: &'static str, text: String) {
        if self.warned.insert(kind) {
            self.sink.warn(text);
        }
    }
}

/// What a chat's messages take from the chat.
#[derive(Debug, Default, Clone)]
pub(crate) struct Chat {
    name: Option<String>,
    kind: Option<String>,
    id: Option<String>,
}

/// Read a whole export into `sink`, one chunk of messages after the other.
pub(crate) fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let mut warned = HashSet::new();
    let stopped = scan_export(reader, ctx, &mut |piece| match piece {
        Piece::Messages(chunk) => parse_chunk(&chunk, ctx, sink, &mut warned),
        Piece::Warning(warning) => sink.warn(warning),
    });
    if let Some(q) = stopped {
        sink.quarantine(q);
    }
}

/// Cut the export in `reader` into chunks of messages, handed to `on_chunk` in file order, and the warnings
/// about its chats, handed to `on_warning`. `Some` with the record that says why when reading stopped early.
pub(crate) fn read_chunks(
    reader: impl BufRead,
    ctx: &FileCtx<'_>,
    on_chunk: &mut dyn FnMut(MessageChunk),
    on_warning: &mut dyn FnMut(String),
) -> Option<Quarantined> {
    scan_export(reader, ctx, &mut |piece| match piece {
        Piece::Messages(chunk) => on_chunk(chunk),
        Piece::Warning(warning) => on_warning(warning),
    })
}

/// Scan the export in `reader` (escapes rewritten on the way) into `on`; `Some` with the quarantine record for
/// the rest of the file when the scan stopped early, numbered after the messages seen.
fn scan_export(reader: impl BufRead, ctx: &FileCtx<'_>, on: &mut dyn FnMut(Piece)) -> Option<Quarantined> {
    let (records, error) = scan::scan(FixEscapes::new(reader), &ctx.path, CHUNK_BYTES, on);
    let reason = match error? {
        ScanError::Io(err) => format!("read error: {err}; the rest of the file was not read"),
        ScanError::Json { line, column, what } => format!(
            "invalid JSON at line {line} column {column}: {what}; expected a Telegram Desktop export, the rest of \
             the file could not be read"
        ),
    };
    Some(ctx.quarantined(records + 1, reason, ""))
}

/// Parse the messages of `chunk` into `sink`; `warned` holds the kinds of warning already given for the file.
pub(crate) fn parse_chunk(
    chunk: &MessageChunk,
    ctx: &FileCtx<'_>,
    sink: &mut dyn Sink,
    warned: &mut HashSet<&'static str>,
) {
    let mut st = State { ctx, sink, warned };
    for (i, &(start, end)) in chunk.spans.iter().enumerate() {
        let record = chunk.first_record + i as u64;
        let bytes = &chunk.bytes[start as usize..end as usize];
        let raw = || String::from_utf8_lossy(bytes).into_owned();
        let outcome = match Fields::parse(bytes) {
            Ok(fields) => {
                fields.and_then(|f| convert(&chunk.chat, f, record, &mut st)).map_err(|reason| (reason, raw()))
            }
            Err(err) => {
                let line = chunk.first_line
                    + memchr::memchr_iter(b'\n', &chunk.bytes[..start as usize]).count() as u64
                    + err.line() as u64
                    - 1;
                let text = err.to_string();
                let what = text.rsplit_once(" at line ").map_or(text.as_str(), |(what, _)| what);
                let reason = format!("invalid JSON at line {line}: {what}; the message was not read");
                Err((reason, raw()))
            }
        };
        match outcome {
            Ok(Some(raw)) => st.sink.message(raw),
            Ok(None) => {}
            Err((reason, raw)) => {
                let q = st.ctx.quarantined(record, reason, &raw);
                st.sink.quarantine(q);
            }
        }
    }
}

/// Warnings about a chat whose messages were read; a chat without an id gets one from its name or the file.
pub(crate) fn check_chat(path: &str, chat: &mut Chat) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(kind) = &chat.kind
        && !CHAT_TYPES.contains(&kind.as_str())
    {
        warnings.push(format!(
            "{path}: chat {:?} has type {kind:?}, which Telegram Desktop does not write; its messages are read anyway",
            chat.name.as_deref().unwrap_or("")
        ));
    }
    if chat.id.is_none() {
        let fallback = match &chat.name {
            Some(name) => format!("name:{name}"),
            None => format!("file:{path}"),
        };
        warnings.push(format!(
            "{path}: chat {:?} has no id; its messages are keyed by {fallback:?}",
            chat.name.as_deref().unwrap_or("")
        ));
        chat.id = Some(fallback);
    }
    warnings
}

/// The fields of a message object that echolens reads; the others are skipped, not built. A missing field and
/// a null are both `None`.
#[derive(Debug, PartialEq)]
struct Fields<'a> {
    kind: Option<Value>,
    id: Option<Value>,
    date: Option<Value>,
    date_unixtime: Option<Value>,
    edited: Option<Value>,
    edited_unixtime: Option<Value>,
    from: Option<Value>,
    from_id: Option<Value>,
    forwarded_from: Option<Value>,
    saved_from: Option<Value>,
    reply_to_message_id: Option<Value>,
    reply_to_peer_id: Option<Value>,
    author: Option<Value>,
    via_bot: Option<Value>,
    reactions: Option<Value>,
    /// `text` flattened, or why it could not be.
    text: Result<Flattened<'a>, String>,
    text_entities: Option<Vec<Entity<'a>>>,
}

/// [`Fields`] as the typed read takes them from a message object.
#[derive(serde::Deserialize)]
struct Typed<'a> {
    #[serde(rename = "type")]
    kind: Option<Value>,
    id: Option<Value>,
    date: Option<Value>,
    date_unixtime: Option<Value>,
    edited: Option<Value>,
    edited_unixtime: Option<Value>,
    from: Option<Value>,
    from_id: Option<Value>,
    forwarded_from: Option<Value>,
    saved_from: Option<Value>,
    reply_to_message_id: Option<Value>,
    reply_to_peer_id: Option<Value>,
    author: Option<Value>,
    via_bot: Option<Value>,
    reactions: Option<Value>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
    #[serde(borrow)]
    text_entities: Option<Vec<Entity<'a>>>,
}

impl<'a> Fields<'a> {
    /// Parse one message's JSON. An object goes straight into the fields, its text and entities borrowed (see
    /// `text.rs`); what that refuses (not an object, a text of another shape) is parsed as a `Value` and read
    /// from it ([`Fields::of_value`]), so those get the same reasons. A key given twice is refused either way.
    fn parse(bytes: &'a [u8]) -> Result<Result<Fields<'a>, String>, serde_json::Error> {
        // Not for an array: a struct would take one as its fields in order. The message is checked as UTF-8 once,
        // so that serde_json reads it as a `str` and does not check each of its strings again (that was 6% of a
        // Telegram ingest's instructions); bytes that are not UTF-8 get serde_json's error below.
        let typed = match bytes.first() == Some(&b'{') {
            true => std::str::from_utf8(bytes).ok().map(serde_json::from_str::<Typed<'a>>),
            false => None,
        };
        if let Some(repeated) = typed.as_ref().and_then(|t| t.as_ref().err()).and_then(super::duplicate_field) {
            return Ok(Err(repeated));
        }
        if let Some(Ok(t)) = typed {
            return Ok(Ok(Fields {
                kind: t.kind,
                id: t.id,
                date: t.date,
                date_unixtime: t.date_unixtime,
                edited: t.edited,
                edited_unixtime: t.edited_unixtime,
                from: t.from,
                from_id: t.from_id,
                forwarded_from: t.forwarded_from,
                saved_from: t.saved_from,
                reply_to_message_id: t.reply_to_message_id,
                reply_to_peer_id: t.reply_to_peer_id,
                author: t.author,
                via_bot: t.via_bot,
                reactions: t.reactions,
                text: Ok(text::flatten(t.text)),
                text_entities: t.text_entities,
            }));
        }
        Self::of_value(bytes)
    }

    /// Parse one message's JSON as a `Value`, and read the fields from it.
    fn of_value(bytes: &[u8]) -> Result<Result<Fields<'static>, String>, serde_json::Error> {
        // As the typed read: a field of the message, or of an entity in its text, given twice (keys it does not
        // read do not matter).
        const FIELDS: [&str; 17] = [
            "type",
            "id",
            "date",
            "date_unixtime",
            "edited",
            "edited_unixtime",
            "from",
            "from_id",
            "forwarded_from",
            "saved_from",
            "reply_to_message_id",
            "reply_to_peer_id",
            "author",
            "via_bot",
            "reactions",
            "text",
            "text_entities",
        ];
        let matters = |(depth, top, key): &super::Repeated| match top.as_deref() {
            None => *depth == 0 && FIELDS.contains(&key.as_str()),
            Some("text" | "text_entities") => *depth == 2 && ["type", "text", "href"].contains(&key.as_str()),
            Some(_) => false,
        };
        let value = match super::parse_strict(bytes, matters)? {
            Ok(value) => value,
            Err(reason) => return Ok(Err(reason)),
        };
        let Value::Object(mut obj) = value else {
            return Ok(Err(format!("expected a message object, found {}", kind_of(&value))));
        };
        let mut take = |key: &str| obj.remove(key).filter(|v| !v.is_null());
        let text = take("text");
        let text_entities = take("text_entities");
        Ok(Ok(Fields {
            kind: take("type"),
            id: take("id"),
            date: take("date"),
            date_unixtime: take("date_unixtime"),
            edited: take("edited"),
            edited_unixtime: take("edited_unixtime"),
            from: take("from"),
            from_id: take("from_id"),
            forwarded_from: take("forwarded_from"),
            saved_from: take("saved_from"),
            reply_to_message_id: take("reply_to_message_id"),
            reply_to_peer_id: take("reply_to_peer_id"),
            author: take("author"),
            via_bot: take("via_bot"),
            reactions: take("reactions"),
            text: text::flatten_value(text.as_ref()),
            text_entities: text::entities_of_value(text_entities.as_ref()),
        }))
    }
}

/// Turn one message object into a message; `Ok(None)` for records that are skipped (service messages).
fn convert(chat: &Chat, f: Fields<'_>, record: u64, st: &mut State<'_, '_>) -> Result<Option<RawMessage>, String> {
    match f.kind.as_ref().and_then(Value::as_str).unwrap_or("message") {
        "message" => {}
        "service" => {
            st.sink.skip("service message");
            return Ok(None);
        }
        "unsupported" => {
            st.sink.skip("unsupported message");
            return Ok(None);
        }
        other => return Err(format!("unknown message type {other:?}; expected message, service or unsupported")),
    }
    let id = scalar(f.id.as_ref()).ok_or("missing message id (expected a number in \"id\")")?;
    let (ts, ts_exact) = if let Some(t) = scalar(f.date_unixtime.as_ref()) {
        (time::from_secs_str(&t).ok_or_else(|| format!("date_unixtime {t:?} is not a number of seconds"))?, true)
    } else if let Some(d) = string(f.date.as_ref()) {
        let t = time::from_naive(&d).ok_or_else(|| format!("date {d:?} is not a date like 2023-01-27T08:43:50"))?;
        match st.ctx.options.utc_offset {
            // The user knows the exporting machine's offset: the local time becomes an exact one.
            Some(offset) => (t - i64::from(offset) * 1_000_000, true),
            None => {
                let text = format!(
                    "{}: no date_unixtime (an older Telegram Desktop export): times are the exporting machine's \
                     local time with an unknown offset, stored with ts_exact = false (--utc-offset gives it)",
                    st.ctx.path
                );
                st.warn_once("naive-date", text);
                (t, false)
            }
        }
    } else {
        return Err("missing date (expected \"date_unixtime\" or \"date\")".into());
    };
    let edited = if let Some(t) = scalar(f.edited_unixtime.as_ref()) {
        time::from_secs_str(&t)
    } else {
        string(f.edited.as_ref())
            .and_then(|d| time::from_naive(&d))
            .map(|t| t - i64::from(st.ctx.options.utc_offset.unwrap_or(0)) * 1_000_000)
    };
    let author_id = match f.from_id.as_ref() {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if is_peer_id(s) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "from_id: expected user<N>, channel<N>, chat<N> or a number, found {}",
                raw_json(other)
            ));
        }
    };
    // A reply to a message of another chat (a comment in a channel's discussion group answers the channel's
    // post) names that chat: `channel123` → the reply target `123:<message>`, the post's channel and id.
    let reply_to = scalar(f.reply_to_message_id.as_ref()).map(|id| match string(f.reply_to_peer_id.as_ref()) {
        Some(peer) => {
            let bare = ["channel", "chat", "user"].iter().find_map(|p| peer.strip_prefix(p)).unwrap_or(&peer);
            format!("{bare}:{id}")
        }
        None => id,
    });
    let (text, entities) = f.text?;
    let entities = f.text_entities.or(entities);
    let mut raw = RawMessage {
        message: Message {
            platform: "telegram".into(),
            channel_id: chat.id.clone().unwrap_or_default(),
            channel_name: chat.name.clone(),
            message_id: id,
            author_id,
            author_name: string(f.from.as_ref()),
            ts,
            ts_exact,
            edited,
            text,
            // A message saved from another chat came from there, as a forward does.
            forwarded_from: string(f.forwarded_from.as_ref()).or_else(|| string(f.saved_from.as_ref())),
            reply_to,
            signature: string(f.author.as_ref()),
            via_bot: string(f.via_bot.as_ref()).map(|b| b.trim_start_matches('@').to_owned()),
            // Newer exports list a message's reactions (`[{"type": "emoji", "count": 3, "emoji": "👍"}]`): their
            // total is its one audience figure (an export has no views).
            engagement: Engagement {
                reactions: f
                    .reactions
                    .as_ref()
                    .and_then(Value::as_array)
                    .and_then(|list| super::count_sum(list, |r| super::count(r.get("count")))),
                ..Engagement::default()
            },
            source_file: st.ctx.path.clone(),
            source_record: record,
            ..Message::default()
        },
        ..RawMessage::default()
    };
    if let Some(entities) = entities {
        let (mut urls, mut tags, mut mentions) = (Vec::new(), Vec::new(), Vec::new());
        for e in &entities {
            match e.kind() {
                "link" => urls.push(e.text().to_owned()),
                "text_link" => {
                    urls.extend(e.href.as_ref().map(|h| h.0.as_ref()).filter(|h| !h.is_empty()).map(str::to_owned))
                }
                "hashtag" => tags.push(e.text().to_owned()),
                "mention" => mentions.push(e.text().to_owned()),
                _ => {}
            }
        }
        raw.urls = Some(urls);
        raw.hashtags = Some(tags);
        raw.mentions = Some(mentions);
    }
    Ok(Some(raw))
}

fn is_peer_id(s: &str) -> bool {
    ["user", "channel", "chat"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    fn read(json: &str) -> Collect {
        let mut sink = Collect::default();
        let counts = read_bytes(
            json.as_bytes(),
            "t.json",
            Format::Telegram,
            &ReadOptions { times: crate::TimeRange::ALL, ..ReadOptions::default() },
            &mut sink,
        );
        assert_eq!(counts.records, counts.messages + counts.quarantined + counts.skipped);
        sink
    }

    #[test]
    fn entity_arrays_flattened_with_links_tags_mentions() {
        let sink = read(
            r##"{"name": "Chan", "type": "public_channel", "id": 77, "messages": [
              {"id": 1, "type": "message", "date": "2023-01-27T08:43:50", "date_unixtime": "1674783830",
               "from": "Chan", "from_id": "channel77",
               "text": ["read ", {"type": "text_link", "text": "this", "href": "https://Ex.com/a?utm_source=t"},
                        " ", {"type": "hashtag", "text": "#Tag"}, " ", {"type": "mention", "text": "@Who"}],
               "text_entities": [{"type": "plain", "text": "read "},
                        {"type": "text_link", "text": "this", "href": "https://Ex.com/a?utm_source=t"},
                        {"type": "plain", "text": " "}, {"type": "hashtag", "text": "#Tag"},
                        {"type": "plain", "text": " "}, {"type": "mention", "text": "@Who"}]},
              {"id": 2, "type": "service", "date": "2023-01-27T08:43:50", "date_unixtime": "1674783830",
               "action": "pin_message", "text": ""}
            ]}"##,
        );
        assert_eq!(sink.messages.len(), 1);
        assert_eq!(sink.skipped, vec!["service message"]);
        let m = &sink.messages[0];
        assert_eq!(m.key(), "telegram:77:1");
        assert_eq!(m.text, "read this #Tag @Who");
        assert_eq!(m.urls, vec!["https://ex.com/a"]);
        assert_eq!(m.hashtags, vec!["tag"]);
        assert_eq!(m.mentions, vec!["who"]);
        assert_eq!(m.ts, 1_674_783_830_000_000);
        assert!(m.ts_exact);
        assert_eq!(m.author_id.as_deref(), Some("channel77"));
    }

    #[test]
    fn x_escapes_and_tabs_are_tolerated() {
        let sink = read(
            "{\n\t\"name\": \"G\",\n\t\"id\": 5,\n\t\"messages\": [{\"id\": 3, \"date_unixtime\": \"10\", \"text\": \"a\\x0Bb\"}]\n}",
        );
        assert_eq!(sink.messages.len(), 1);
        assert_eq!(sink.messages[0].text, "a\u{0B}b");
    }

    #[test]
    fn old_layout_uses_local_date_and_warns_once() {
        let sink = read(
            r#"{"name": "Old", "type": "private_channel", "id": 9, "messages": [
              {"id": 1, "type": "message", "date": "2020-11-12T15:29:14", "from_id": 9882011936, "text": "x"},
              {"id": 2, "type": "message", "date": "2020-11-12T15:30:14", "from_id": 9882011936, "text": "y"}]}"#,
        );
        assert_eq!(sink.messages.len(), 2);
        assert!(sink.messages.iter().all(|m| !m.ts_exact));
        assert_eq!(sink.messages[0].author_id.as_deref(), Some("9882011936"));
        assert_eq!(sink.warnings.len(), 1, "{:?}", sink.warnings);
    }

    #[test]
    fn comments_on_a_channel_post_and_saved_messages_name_their_source() {
        let sink = read(
            r#"{"name": "News chat", "type": "public_supergroup", "id": 4321, "messages": [
              {"id": 7, "type": "message", "date_unixtime": "1700000000", "from_id": "user42", "text": "my comment",
               "reply_to_message_id": 501, "reply_to_peer_id": "channel1234"},
              {"id": 8, "type": "message", "date_unixtime": "1700000100", "from_id": "user43", "text": "a reply here",
               "reply_to_message_id": 7},
              {"id": 9, "type": "message", "date_unixtime": "1700000200", "from_id": "user43", "text": "saved",
               "saved_from": "Example News", "author": "Editor", "via_bot": "@poll_bot",
               "reactions": [{"type": "emoji", "count": 3, "emoji": "👍"}, {"type": "custom_emoji", "count": 2, "document_id": "x"}]}]}"#,
        );
        let m = &sink.messages;
        assert_eq!(m[0].reply_to.as_deref(), Some("1234:501"), "the channel's post, not a message of this chat");
        assert_eq!(m[1].reply_to.as_deref(), Some("7"));
        assert_eq!(m[2].forwarded_from.as_deref(), Some("Example News"));
        assert_eq!((m[2].signature.as_deref(), m[2].via_bot.as_deref()), (Some("Editor"), Some("poll_bot")));
        assert_eq!((m[2].engagement.reactions, m[0].engagement.reactions), (Some(5), None), "reactions added up");
    }

    #[test]
    fn a_given_utc_offset_makes_old_local_times_exact() {
        let input = r#"{"name": "Old", "type": "private_channel", "id": 9, "messages": [
              {"id": 1, "type": "message", "date": "2020-11-12T15:29:14", "edited": "2020-11-12T16:00:00", "from_id": 9882011936, "text": "x"}]}"#;
        let options = crate::ReadOptions { utc_offset: Some(3 * 3600 + 1800), ..crate::ReadOptions::default() };
        let mut sink = crate::Collect::default();
        crate::read_bytes(input.as_bytes(), "old.json", crate::Format::Telegram, &options, &mut sink);
        let m = &sink.messages[0];
        assert!(m.ts_exact);
        assert_eq!(echolens_model::rfc3339(m.ts), "2020-11-12T11:59:14Z", "15:29:14 at +03:30");
        assert_eq!(m.edited.map(echolens_model::rfc3339).as_deref(), Some("2020-11-12T12:30:00Z"));
        assert!(sink.warnings.is_empty(), "{:?}", sink.warnings);
    }

    #[test]
    fn bad_records_quarantined_with_reasons() {
        let sink = read(
            r#"{"id": 1, "messages": [
              {"id": 1, "type": "ERROR:wrong", "date": "2020-01-01T00:00:00"},
              {"id": 2, "date": "2020-01-01T00:00:00", "from_id": "ERROR:from is string", "text": "x"},
              {"id": 3, "date": "2020-01-01T00:00:00", "text": {"error": 1}},
              {"type": "message", "date": "2020-01-01T00:00:00"},
              {"id": 5, "text": "no date"},
              {"id": 6, "date": "2020-01-01T00:00:00", "text": "fine"}]}"#,
        );
        assert_eq!(sink.messages.len(), 1);
        let reasons: Vec<_> = sink.quarantined.iter().map(|q| (q.source_record, q.reason.as_str())).collect();
        assert_eq!(reasons.len(), 5);
        assert!(reasons[0].1.contains("unknown message type"));
        assert!(reasons[1].1.starts_with("from_id"));
        assert!(reasons[2].1.starts_with("text"));
        assert!(reasons[3].1.contains("missing message id"));
        assert!(reasons[4].1.contains("missing date"));
        assert_eq!(reasons.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn broken_json_keeps_what_came_before() {
        let sink = read(
            r#"{"id": 1, "messages": [
              {"id": 1, "date_unixtime": "1", "text": "ok"}
              {"id": 2, "date_unixtime": "2", "text": "after a missing comma"}]}"#,
        );
        assert_eq!(sink.messages.len(), 1);
        assert_eq!(sink.quarantined.len(), 1);
        assert!(sink.quarantined[0].reason.contains("invalid JSON at line 3"), "{}", sink.quarantined[0].reason);
    }

    #[test]
    fn a_message_that_is_not_json_is_quarantined_alone() {
        let sink = read(
            "{\"id\": 1, \"messages\": [\n {\"id\": 1, \"date_unixtime\": \"1\", \"text\": \"ok\"},\n              {\"id\": 2,\n \"text\": \"a\" \"b\"},\n {\"id\": 3, \"date_unixtime\": \"3\", \"text\": \"after\"}]}",
        );
        let texts: Vec<_> = sink.messages.iter().map(|m| (m.source_record, m.text.as_str())).collect();
        assert_eq!(texts, vec![(1, "ok"), (3, "after")]);
        assert_eq!(sink.quarantined.len(), 1);
        let q = &sink.quarantined[0];
        assert_eq!(q.source_record, 2);
        assert!(q.reason.starts_with("invalid JSON at line 4: expected"), "{}", q.reason);
        assert!(q.raw.contains("\"a\" \"b\""), "{}", q.raw);
    }

    /// Chat sections nested without end (a 115 KB file once overflowed the reader's stack) and a message nested
    /// a million deep: each a quarantine record, no crash.
    #[test]
    fn nesting_without_end_is_quarantined_not_recursed_into() {
        let depth = 200_000;
        let mut json = String::from(r#"{"chats": {"list": ["#);
        json.push_str(&r#"{"chats": {"list": ["#.repeat(depth));
        json.push_str(&"]}}".repeat(depth + 1));
        let mut sink = Collect::default();
        let counts = read_bytes(
            json.as_bytes(),
            "deep.json",
            Format::Telegram,
            &ReadOptions { times: crate::TimeRange::ALL, ..ReadOptions::default() },
            &mut sink,
        );
        assert_eq!((counts.records, counts.quarantined, counts.messages), (1, 1, 0));
        assert!(sink.quarantined[0].reason.contains("inside a listed chat"), "{}", sink.quarantined[0].reason);

        let mut json = String::from(r#"{"id": 5, "messages": [{"id": 1, "date_unixtime": "1700000000", "text": "#);
        json.push_str(&"[".repeat(1_000_000));
        json.push_str(&"]".repeat(1_000_000));
        json.push_str(r#"}, {"id": 2, "date_unixtime": "1700000001", "text": "after"}]}"#);
        let sink = read(&json);
        assert_eq!(sink.messages.len(), 1, "{:?}", sink.quarantined.iter().map(|q| &q.reason).collect::<Vec<_>>());
        assert_eq!(sink.messages[0].text, "after");
        assert_eq!(sink.quarantined.len(), 1);
        assert!(sink.quarantined[0].reason.contains("recursion limit"), "{}", sink.quarantined[0].reason);
    }

    #[test]
    fn a_message_that_is_not_utf8_is_quarantined_alone() {
        let mut json =
            b"{\"id\": 1, \"messages\": [\n {\"id\": 1, \"date_unixtime\": \"1\", \"text\": \"ok\"},\n".to_vec();
        json.extend_from_slice(b" {\"id\": 2, \"date_unixtime\": \"2\", \"text\": \"a\xFFb\"},\n");
        json.extend_from_slice("{\"id\": 3, \"date_unixtime\": \"3\", \"text\": \"پس از\"}]}".as_bytes());
        let mut sink = Collect::default();
        let counts = read_bytes(
            &json,
            "t.json",
            Format::Telegram,
            &ReadOptions { times: crate::TimeRange::ALL, ..ReadOptions::default() },
            &mut sink,
        );
        assert_eq!((counts.records, counts.messages, counts.quarantined), (3, 2, 1));
        let texts: Vec<_> = sink.messages.iter().map(|m| (m.source_record, m.text.as_str())).collect();
        assert_eq!(texts, vec![(1, "ok"), (3, "پس از")]);
        let q = &sink.quarantined[0];
        assert_eq!(q.source_record, 2);
        assert!(q.reason.starts_with("invalid JSON at line 3: invalid unicode"), "{}", q.reason);
    }

    #[test]
    fn repeated_keys_and_elements_that_are_not_objects_are_quarantined() {
        let sink = read(
            r#"{"id": 1, "messages": [
              {"id": 1, "date_unixtime": "1", "text": "first", "text": "last"},
              3,
              [{"id": 2, "date_unixtime": "1", "text": "in an array"}],
              {"id": 4, "date_unixtime": "1", "text": ["a", {"type": "link", "text": "b", "text": "c"}]},
              {"id": 5, "date_unixtime": "1", "text": "fine"}]}"#,
        );
        assert_eq!(sink.messages.len(), 1);
        assert_eq!(sink.messages[0].text, "fine");
        let reasons: Vec<_> = sink.quarantined.iter().map(|q| (q.source_record, q.reason.as_str())).collect();
        let twice = |key: &str| super::super::repeated_key(key);
        assert_eq!(
            reasons,
            vec![
                (1, twice("text").as_str()),
                (2, "expected a message object, found a number"),
                (3, "expected a message object, found an array"),
                (4, twice("text").as_str()),
            ]
        );
    }

    #[test]
    fn full_account_export_reads_every_chat() {
        let sink = read(
            r#"{"about": "x", "personal_information": {"first_name": "a"},
               "chats": {"about": "y", "list": [
                 {"name": "A", "type": "personal_chat", "id": 1, "messages": [{"id": 1, "date_unixtime": "1", "text": "a"}]},
                 {"name": "B", "type": "public_channel", "id": 2, "messages": [{"id": 1, "date_unixtime": "1", "text": "b"}]}]},
               "left_chats": {"list": [{"name": "C", "type": "private_group", "id": 3, "messages": [{"id": 7, "date_unixtime": "1", "text": "c"}]}]}}"#,
        );
        let keys: Vec<_> = sink.messages.iter().map(|m| m.key()).collect();
        assert_eq!(keys, vec!["telegram:1:1", "telegram:2:1", "telegram:3:7"]);
    }

    #[test]
    fn messages_before_id_are_still_keyed_by_the_id() {
        let sink = read(r#"{"messages": [{"id": 4, "date_unixtime": "1", "text": "a"}], "name": "Late", "id": 42}"#);
        assert_eq!(sink.messages[0].key(), "telegram:42:4");
        assert_eq!(sink.messages[0].channel_name.as_deref(), Some("Late"));
    }

    #[test]
    fn an_exporters_message_takes_the_typed_read_with_its_strings_borrowed() {
        let json = r#"{"id": 1, "type": "message", "date_unixtime": "5", "from": "A", "from_id": "user1",
            "photo": "photos/1.jpg", "reactions": [{"type": "emoji", "count": 2, "emoji": "x"}],
            "text": ["see ", {"type": "text_link", "text": "this", "href": "https://e.com"}, " \u00e9"],
            "text_entities": [{"type": "plain", "text": "see "}, {"type": "mention_name", "text": "B", "user_id": 7},
                              {"type": "blockquote", "text": "q", "collapsed": false}]}"#;
        let typed: super::Typed<'_> = serde_json::from_str(json).expect("the typed read takes it");
        let (text, entities) = super::text::flatten(typed.text);
        assert_eq!(text, "see this \u{e9}");
        let href = &entities.expect("an array")[0].href.clone().expect("a link").0;
        assert!(matches!(href, std::borrow::Cow::Borrowed("https://e.com")), "{href:?}");
        let listed = typed.text_entities.expect("listed");
        assert!(matches!(listed[0].text.as_ref().expect("text").0, std::borrow::Cow::Borrowed("see ")));
        assert_eq!(listed[1].kind(), "mention_name");
    }

    /// Pieces of message objects, usual and odd, for the two reads to disagree on if they can.
    fn message_json() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let string = prop_oneof![
            Just(r#""a #b""#.to_owned()),
            Just(r#""""#.to_owned()),
            Just(r#""e\u00e9\n""#.to_owned()),
            Just("5".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
        ];
        let entity = (
            proptest::sample::select(vec!["link", "text_link", "hashtag", "mention", "plain", "bold"]),
            string.clone(),
            proptest::option::of(string.clone()),
            any::<bool>(),
        )
            .prop_map(|(kind, text, href, extra)| {
                let href = href.map(|h| format!(r#", "href": {h}"#)).unwrap_or_default();
                let extra = if extra { r#", "user_id": 7, "text": "again""# } else { "" };
                format!(r#"{{"type": "{kind}", "text": {text}{href}{extra}}}"#)
            });
        let part = prop_oneof![3 => string.clone(), 3 => entity.clone(), 1 => Just("[1]".to_owned())];
        let text = prop_oneof![
            string.clone(),
            proptest::collection::vec(part, 0..4).prop_map(|p| format!("[{}]", p.join(", "))),
        ];
        let entities = prop_oneof![
            3 => proptest::collection::vec(entity, 0..3).prop_map(|e| format!("[{}]", e.join(", "))),
            1 => string.clone(),
            1 => Just(r#"["x", 3]"#.to_owned()),
        ];
        let field = prop_oneof![
            text.prop_map(|t| format!(r#""text": {t}"#)),
            entities.prop_map(|e| format!(r#""text_entities": {e}"#)),
            string.clone().prop_map(|v| format!(r#""from": {v}"#)),
            string.clone().prop_map(|v| format!(r#""type": {v}"#)),
            Just(r#""id": 3"#.to_owned()),
            Just(r#""date_unixtime": "9""#.to_owned()),
            Just(r#""photo": {"w": [1, {"h": 2}]}"#.to_owned()),
        ];
        proptest::collection::vec(field, 0..6).prop_map(|f| format!("{{{}}}", f.join(", ")))
    }

    proptest::proptest! {
        #[test]
        fn the_typed_read_gives_what_the_value_read_gives(json in message_json()) {
            let typed = super::Fields::parse(json.as_bytes()).map_err(|e| e.to_string());
            let value = super::Fields::of_value(json.as_bytes()).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(typed, value, "{}", json);
        }
    }
}
