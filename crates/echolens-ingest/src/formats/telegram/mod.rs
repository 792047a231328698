//! Telegram Desktop JSON export: a single chat (`result.json`: name, type, id, messages) or the full-account
//! export (`chats.list` and `left_chats.list`, each a list of chats).
//!
//! The file is streamed: one message is in memory at a time. What the exporter writes that strict JSON rejects
//! (`\xNN` escapes) is repaired on the fly; see `escape.rs`. Times come from `date_unixtime` (UTC); older exports
//! have only `date`, the exporting machine's local time with no offset, which is kept with `ts_exact = false`
//! and one warning per file.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::io::BufRead;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::{EachElement, raw_json, scalar, string};
use crate::escape::FixEscapes;
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::Message;

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

struct State<'a, 'c> {
    ctx: &'a FileCtx<'c>,
    sink: &'a mut dyn Sink,
    record: u64,
    warned: HashSet<&'static str>,
}

impl State<'_, '_> {
    fn warn_once(&mut self, kind: &'static str, text: String) {
        if self.warned.insert(kind) {
            self.sink.warn(text);
        }
    }
}

#[derive(Default, Clone)]
struct Chat {
    name: Option<String>,
    kind: Option<String>,
    id: Option<String>,
}

pub fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let state = RefCell::new(State { ctx, sink, record: 0, warned: HashSet::new() });
    // serde_json reads a reader a byte at a time: through a BufReader each byte is taken from its buffer, not by a
    // call into `FixEscapes` (that call was a sixth of a Telegram ingest).
    let fixed = std::io::BufReader::with_capacity(64 * 1024, FixEscapes::new(reader));
    let mut de = serde_json::Deserializer::from_reader(fixed);
    let result = ChatSeed { state: &state }.deserialize(&mut de).and_then(|()| de.end());
    if let Err(err) = result {
        let mut st = state.borrow_mut();
        st.record += 1;
        let record = st.record;
        let q = ctx.quarantined(
            record,
            format!(
                "invalid JSON at line {} column {}: {err}; expected a Telegram Desktop export, the rest of the file \
                 could not be read",
                err.line(),
                err.column()
            ),
            "",
        );
        st.sink.quarantine(q);
    }
}

/// One chat object, or the top level of a full-account export (which has `chats`/`left_chats` instead).
struct ChatSeed<'s, 'a, 'c> {
    state: &'s RefCell<State<'a, 'c>>,
}

impl<'de> DeserializeSeed<'de> for ChatSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ChatSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Telegram chat object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut chat = Chat::default();
        // Messages seen before the chat's id (not what the exporter writes, but possible in edited files).
        let mut early: Vec<Value> = Vec::new();
        let mut saw_messages = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => chat.name = map.next_value::<Option<String>>()?,
                "type" => chat.kind = map.next_value::<Option<String>>()?,
                "id" => chat.id = scalar(Some(&map.next_value::<Value>()?)),
                "messages" => {
                    saw_messages = true;
                    if chat.id.is_some() {
                        let chat = chat.clone();
                        let mut on = |v: Value| self.message(&chat, v);
                        map.next_value_seed(EachElement { on_element: &mut on })?;
                    } else {
                        let mut on = |v: Value| early.push(v);
                        map.next_value_seed(EachElement { on_element: &mut on })?;
                    }
                }
                "chats" | "left_chats" => map.next_value_seed(SectionSeed { state: self.state })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if saw_messages {
            self.check_chat(&mut chat);
            for v in early {
                self.message(&chat, v);
            }
        }
        Ok(())
    }
}

impl ChatSeed<'_, '_, '_> {
    fn check_chat(&self, chat: &mut Chat) {
        let mut st = self.state.borrow_mut();
        if let Some(kind) = &chat.kind
            && !CHAT_TYPES.contains(&kind.as_str())
        {
            let text = format!(
                "{}: chat {:?} has type {kind:?}, which Telegram Desktop does not write; its messages are read anyway",
                st.ctx.path,
                chat.name.as_deref().unwrap_or("")
            );
            st.sink.warn(text);
        }
        if chat.id.is_none() {
            let fallback = match &chat.name {
                Some(name) => format!("name:{name}"),
                None => format!("file:{}", st.ctx.path),
            };
            let text = format!(
                "{}: chat {:?} has no id; its messages are keyed by {fallback:?}",
                st.ctx.path,
                chat.name.as_deref().unwrap_or("")
            );
            st.sink.warn(text);
            chat.id = Some(fallback);
        }
    }

    fn message(&self, chat: &Chat, value: Value) {
        let mut st = self.state.borrow_mut();
        st.record += 1;
        let record = st.record;
        match convert(chat, &value, record, &mut st) {
            Ok(Some(raw)) => st.sink.message(raw),
            Ok(None) => {}
            Err(reason) => {
                let q = st.ctx.quarantined(record, reason, &raw_json(&value));
                st.sink.quarantine(q);
            }
        }
    }
}

/// `chats` / `left_chats`: `{"about": ..., "list": [chat, ...]}`.
struct SectionSeed<'s, 'a, 'c> {
    state: &'s RefCell<State<'a, 'c>>,
}

impl<'de> DeserializeSeed<'de> for SectionSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SectionSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a chats section with a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "list" {
                map.next_value_seed(ChatList { state: self.state })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ChatList<'s, 'a, 'c> {
    state: &'s RefCell<State<'a, 'c>>,
}

impl<'de> DeserializeSeed<'de> for ChatList<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ChatList<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of chats")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(ChatSeed { state: self.state })?.is_some() {}
        Ok(())
    }
}

/// Turn one message object into a message; `Ok(None)` for records that are skipped (service messages).
fn convert(chat: &Chat, v: &Value, record: u64, st: &mut State<'_, '_>) -> Result<Option<RawMessage>, String> {
    let Some(obj) = v.as_object() else {
        return Err(format!("expected a message object, found {}", kind_of(v)));
    };
    match obj.get("type").and_then(Value::as_str).unwrap_or("message") {
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
    let id = scalar(obj.get("id")).ok_or("missing message id (expected a number in \"id\")")?;
    let (ts, ts_exact) = if let Some(t) = scalar(obj.get("date_unixtime")) {
        (time::from_secs_str(&t).ok_or_else(|| format!("date_unixtime {t:?} is not a number of seconds"))?, true)
    } else if let Some(d) = string(obj.get("date")) {
        let t = time::from_naive(&d).ok_or_else(|| format!("date {d:?} is not a date like 2023-01-27T08:43:50"))?;
        let text = format!(
            "{}: no date_unixtime (an older Telegram Desktop export): times are the exporting machine's local time \
             with an unknown offset, stored with ts_exact = false",
            st.ctx.path
        );
        st.warn_once("naive-date", text);
        (t, false)
    } else {
        return Err("missing date (expected \"date_unixtime\" or \"date\")".into());
    };
    let edited = if let Some(t) = scalar(obj.get("edited_unixtime")) {
        time::from_secs_str(&t)
    } else {
        string(obj.get("edited")).and_then(|d| time::from_naive(&d))
    };
    let author_id = match obj.get("from_id") {
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
    let (text, entities) = flatten_text(obj.get("text"))?;
    let entities = match obj.get("text_entities") {
        Some(Value::Array(list)) => Some(list.iter().collect::<Vec<_>>()),
        _ => entities,
    };
    let mut raw = RawMessage {
        message: Message {
            platform: "telegram".into(),
            channel_id: chat.id.clone().unwrap_or_default(),
            channel_name: chat.name.clone(),
            message_id: id,
            author_id,
            author_name: string(obj.get("from")),
            ts,
            ts_exact,
            edited,
            text,
            forwarded_from: string(obj.get("forwarded_from")),
            reply_to: scalar(obj.get("reply_to_message_id")),
            source_file: st.ctx.path.clone(),
            source_record: record,
            ..Message::default()
        },
        ..RawMessage::default()
    };
    if let Some(entities) = entities {
        let (mut urls, mut tags, mut mentions) = (Vec::new(), Vec::new(), Vec::new());
        for e in entities {
            let text = e.get("text").and_then(Value::as_str).unwrap_or("");
            match e.get("type").and_then(Value::as_str).unwrap_or("") {
                "link" => urls.push(text.to_owned()),
                "text_link" => urls.extend(string(e.get("href"))),
                "hashtag" => tags.push(text.to_owned()),
                "mention" => mentions.push(text.to_owned()),
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

type Flattened<'v> = (String, Option<Vec<&'v Value>>);

/// `text` is a plain string, or an array mixing strings and entity objects `{type, text, ...}`.
fn flatten_text(v: Option<&Value>) -> Result<Flattened<'_>, String> {
    match v {
        None | Some(Value::Null) => Ok((String::new(), None)),
        Some(Value::String(s)) => Ok((s.clone(), None)),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            let mut entities = Vec::new();
            for part in parts {
                match part {
                    Value::String(s) => text.push_str(s),
                    Value::Object(o) => {
                        if let Some(t) = o.get("text").and_then(Value::as_str) {
                            text.push_str(t);
                        }
                        entities.push(part);
                    }
                    other => {
                        return Err(format!("text: expected strings and entity objects, found {}", kind_of(other)));
                    }
                }
            }
            Ok((text, Some(entities)))
        }
        Some(other) => {
            Err(format!("text: expected a string or an array of strings and entities, found {}", kind_of(other)))
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    fn read(json: &str) -> Collect {
        let mut sink = Collect::default();
        let counts = read_bytes(json.as_bytes(), "t.json", Format::Telegram, &ReadOptions::default(), &mut sink);
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
}
