//! Telethon-derived JSON arrays: `[{message_id, sender_id, text, date, channel, ...}]`, as research datasets
//! built with Telethon's `iter_messages` write them.
//!
//! `sender_id` is Telethon's "marked" id (-100 followed by the channel id for channels): it is unmarked so that
//! the same channel has the same id as in a Telegram Desktop export (`channel_id` = the bare id, `author_id` =
//! `channel<N>`). `date` is RFC 3339 with an offset. `text` is Telethon's markdown rendering; links in it are
//! found as usual. Telethon's `views` and `forwards`, where a dataset kept them, are the engagement columns
//! `views` and `shares`.

use std::cell::RefCell;
use std::io::BufRead;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::{EachElement, raw_json, scalar, string};
use crate::{FileCtx, RawMessage, Sink, time};
use echolens_model::Message;

pub(crate) fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    let record = RefCell::new(0u64);
    let sink = RefCell::new(sink);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut on = |v: Value, repeated: Option<String>| {
        let n = {
            let mut r = record.borrow_mut();
            *r += 1;
            *r
        };
        let mut sink = sink.borrow_mut();
        match repeated.map_or_else(|| convert(&v, ctx, n), |key| Err(super::repeated_key(&key))) {
            Ok(m) => sink.message(m),
            Err(reason) => sink.quarantine(ctx.quarantined(n, format!("element {n}: {reason}"), &raw_json(&v))),
        }
    };
    let result = EachElement { on_element: &mut on }.deserialize(&mut de).and_then(|()| de.end());
    if let Err(err) = result {
        let n = *record.borrow() + 1;
        let reason = format!(
            "invalid JSON at line {} column {}: {err}; the rest of the file could not be read",
            err.line(),
            err.column()
        );
        sink.borrow_mut().quarantine(ctx.quarantined(n, reason, ""));
    }
}

/// Telethon's marked ids: -100NNN for channels, -NNN for basic groups, NNN for users.
fn unmark(sender: &str) -> (String, String) {
    if let Some(rest) = sender.strip_prefix("-100") {
        (rest.to_owned(), format!("channel{rest}"))
    } else if let Some(rest) = sender.strip_prefix('-') {
        (rest.to_owned(), format!("chat{rest}"))
    } else {
        (sender.to_owned(), format!("user{sender}"))
    }
}

fn convert(v: &Value, ctx: &FileCtx<'_>, record: u64) -> Result<RawMessage, String> {
    let obj = v.as_object().ok_or("expected a message object")?;
    let id = scalar(obj.get("message_id").or(obj.get("id"))).ok_or("missing message_id")?;
    let date = string(obj.get("date")).ok_or("missing date")?;
    let (ts, ts_exact) = time::parse_any(&date).ok_or_else(|| format!("date {date:?} is not an RFC 3339 time"))?;
    let sender = scalar(obj.get("sender_id").or(obj.get("channel_id")));
    let (channel_id, author_id) = match &sender {
        Some(s) => {
            let (c, a) = unmark(s);
            (c, Some(a))
        }
        None => (string(obj.get("channel")).ok_or("missing sender_id and channel")?, None),
    };
    Ok(RawMessage {
        message: Message {
            platform: "telegram".into(),
            channel_id,
            channel_name: string(obj.get("channel")),
            message_id: id,
            author_id,
            ts,
            ts_exact,
            text: string(obj.get("text")).unwrap_or_default(),
            // Where the dataset kept Telethon's counters.
            engagement: echolens_model::Engagement {
                views: super::count(obj.get("views")),
                shares: super::count(obj.get("forwards")),
                ..Default::default()
            },
            source_file: ctx.path.clone(),
            source_record: record,
            ..Message::default()
        },
        ..RawMessage::default()
    })
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    #[test]
    fn marked_ids_unmarked() {
        let input = r#"[{"message_id": 11877, "sender_id": -1001000724666, "text": "В Китае [ссылка](https://naked-science.ru/a)",
                        "date": "2024-12-04T09:00:28+00:00", "channel": "Naked Science"}, {"text": "no id"}]"#;
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "t.json", Format::TelethonJson, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.messages, counts.quarantined), (1, 1));
        let m = &sink.messages[0];
        assert_eq!(m.key(), "telegram:1000724666:11877");
        assert_eq!(m.author_id.as_deref(), Some("channel1000724666"));
        assert_eq!(m.urls, vec!["https://naked-science.ru/a"]);
        assert_eq!(m.text_norm, "в китае [ссылка](https://naked-science.ru/a)");
    }
}
