//! Splits a Telegram Desktop export into its chats' fields and runs of its messages' JSON, without parsing the
//! messages: each run ([`MessageChunk`]) is parsed later, on any thread, with serde_json's slice reader.
//!
//! serde_json reading the whole export from a stream goes a byte at a time through its reader and builds a
//! `Value` per message on one thread, which held a Telegram ingest to that thread's speed. The scanner only
//! finds where each message starts and ends: strings are skipped with memchr, and outside them it tracks the
//! nesting. It checks the structure around the messages (the commas and brackets between them, the chat
//! objects); the JSON inside a message is checked when the message is parsed, so a broken message is one
//! quarantined record, not the end of the file.
//!
//! Memory is one chunk plus one message: bytes are dropped from the buffer once no chunk needs them.

use std::io::{self, BufRead};
use std::sync::Arc;

use serde_json::Value;

use super::Chat;
use crate::formats::scalar;

/// A run of messages of one chat, as the export's bytes.
#[derive(Debug, Clone)]
pub(crate) struct MessageChunk {
    pub chat: Arc<Chat>,
    /// The file's bytes from the first message's start to the last one's end (escapes already rewritten).
    pub bytes: Vec<u8>,
    /// Each message's start and end in `bytes`.
    pub spans: Vec<(u32, u32)>,
    /// The record number (from 1, over the whole file) of the first message.
    pub first_record: u64,
    /// The file's line (from 1) that `bytes` starts on.
    pub first_line: u64,
}

/// What the scanner hands on, in file order.
pub(crate) enum Piece {
    Messages(MessageChunk),
    Warning(String),
}

/// Why scanning stopped before the end of the file.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    Json { line: u64, column: u64, what: String },
}

type Result<T> = std::result::Result<T, ScanError>;

/// Scan the export in `reader` (escapes rewritten already), handing chunks of about `chunk_bytes` to `on`.
/// Returns the number of message records seen, with the error that stopped the scan, if any.
pub(crate) fn scan(
    reader: impl BufRead,
    path: &str,
    chunk_bytes: usize,
    on: &mut dyn FnMut(Piece),
) -> (u64, Option<ScanError>) {
    let mut scanner = Scanner {
        inner: reader,
        buf: Vec::new(),
        pos: 0,
        hold: None,
        lines_dropped: 0,
        column_dropped: 0,
        path,
        chunk_bytes,
        records: 0,
        on,
    };
    let result = scanner.document();
    (scanner.records, result.err())
}

fn is_white_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

struct Scanner<'a, R> {
    inner: R,
    buf: Vec<u8>,
    /// The next byte to look at.
    pos: usize,
    /// The start of the bytes a chunk or a key still needs; nothing from here on is dropped.
    hold: Option<usize>,
    /// Line ends in the bytes dropped from the front of `buf`.
    lines_dropped: u64,
    /// Bytes dropped since the last dropped line end.
    column_dropped: u64,
    path: &'a str,
    chunk_bytes: usize,
    records: u64,
    on: &'a mut dyn FnMut(Piece),
}

impl<R: BufRead> Scanner<'_, R> {
    /// Read more of the file into `buf`, first dropping what is no longer needed once that is half the buffer
    /// (so each byte is moved a bounded number of times). `false` at the end of the file.
    fn more(&mut self) -> Result<bool> {
        let drop = self.hold.unwrap_or(self.pos);
        if drop > 0 && drop * 2 >= self.buf.len() {
            let dropped = &self.buf[..drop];
            match memchr::memrchr(b'\n', dropped) {
                Some(last) => {
                    self.lines_dropped += memchr::memchr_iter(b'\n', dropped).count() as u64;
                    self.column_dropped = (drop - last - 1) as u64;
                }
                None => self.column_dropped += drop as u64,
            }
            self.buf.drain(..drop);
            self.pos -= drop;
            self.hold = self.hold.map(|h| h - drop);
        }
        if self.hold.is_some_and(|h| self.buf.len() - h > self.chunk_bytes + crate::MAX_RECORD_BYTES) {
            return Err(self.error(format!(
                "a message (or a chat's field) longer than {} MiB: the rest of the file was not read",
                crate::MAX_RECORD_BYTES >> 20
            )));
        }
        let block = self.inner.fill_buf().map_err(ScanError::Io)?;
        if block.is_empty() {
            return Ok(false);
        }
        let n = block.len();
        self.buf.extend_from_slice(block);
        self.inner.consume(n);
        Ok(true)
    }

    /// The line (from 1) that byte `at` of `buf` is on.
    fn line_at(&self, at: usize) -> u64 {
        self.lines_dropped + memchr::memchr_iter(b'\n', &self.buf[..at]).count() as u64 + 1
    }

    fn error(&self, what: impl Into<String>) -> ScanError {
        let before = &self.buf[..self.pos];
        let column = match memchr::memrchr(b'\n', before) {
            Some(last) => (self.pos - last) as u64,
            None => self.column_dropped + self.pos as u64 + 1,
        };
        ScanError::Json { line: self.line_at(self.pos), column, what: what.into() }
    }

    /// The next byte that is not white space, not consumed; `None` at the end of the file.
    fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| !is_white_space(b)) {
                self.pos += i;
                return Ok(Some(self.buf[self.pos]));
            }
            self.pos = self.buf.len();
            if !self.more()? {
                return Ok(None);
            }
        }
    }

    /// Consume `byte` (after white space), or fail saying what was expected.
    fn expect(&mut self, byte: u8, expected: &str) -> Result<()> {
        match self.peek()? {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(self.error(format!("expected {expected}, found {:?}", char::from(b)))),
            None => Err(self.error(format!("expected {expected}, found the end of the file"))),
        }
    }

    /// Skip the string starting at `pos` (its opening quote).
    fn skip_string(&mut self) -> Result<()> {
        self.pos += 1;
        loop {
            let Some(i) = memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) else {
                self.pos = self.buf.len();
                if !self.more()? {
                    return Err(self.error("a string runs to the end of the file"));
                }
                continue;
            };
            let at = self.pos + i;
            self.pos = at + 1;
            if self.buf[at] == b'"' {
                return Ok(());
            }
            // A backslash: the byte after it is escaped, whatever it is.
            if self.pos == self.buf.len() && !self.more()? {
                return Err(self.error("a string runs to the end of the file"));
            }
            self.pos += 1;
        }
    }

    /// Skip one value (after white space): a string, an object or array with everything in it, or a scalar.
    fn skip_value(&mut self) -> Result<()> {
        match self.peek()? {
            None => Err(self.error("expected a value, found the end of the file")),
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => self.skip_container(),
            Some(b @ (b'}' | b']' | b',' | b':')) => {
                Err(self.error(format!("expected a value, found {:?}", char::from(b))))
            }
            Some(_) => loop {
                match self.buf[self.pos..].iter().position(|&b| is_white_space(b) || b",:]}".contains(&b)) {
                    Some(i) => {
                        self.pos += i;
                        return Ok(());
                    }
                    None => {
                        self.pos = self.buf.len();
                        if !self.more()? {
                            return Ok(());
                        }
                    }
                }
            },
        }
    }

    /// Skip the object or array starting at `pos`, checking that its brackets pair up.
    fn skip_container(&mut self) -> Result<()> {
        let mut closers: Vec<u8> = Vec::new();
        loop {
            while let Some(&b) = self.buf.get(self.pos) {
                match b {
                    b'"' => {
                        self.skip_string()?;
                        continue;
                    }
                    b'{' => closers.push(b'}'),
                    b'[' => closers.push(b']'),
                    b'}' | b']' => {
                        if closers.pop() != Some(b) {
                            return Err(self.error(format!("unexpected {:?}", char::from(b))));
                        }
                        if closers.is_empty() {
                            self.pos += 1;
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                self.pos += 1;
            }
            if !self.more()? {
                return Err(self.error("an object or array runs to the end of the file"));
            }
        }
    }

    /// The next key of an object whose `{` was consumed (`None` after its `}`); `first` says whether a comma
    /// comes before it.
    fn next_key(&mut self, first: &mut bool) -> Result<Option<String>> {
        if self.peek()? == Some(b'}') {
            self.pos += 1;
            return Ok(None);
        }
        if !std::mem::take(first) {
            self.expect(b',', "',' or '}'")?;
        }
        if self.peek()? != Some(b'"') {
            return Err(self.error("expected a key in double quotes"));
        }
        let raw = self.captured(Self::skip_string)?;
        let key = match std::str::from_utf8(&raw[1..raw.len() - 1]) {
            Ok(plain) if !plain.contains('\\') => plain.to_owned(),
            _ => serde_json::from_slice::<String>(&raw).map_err(|e| self.error(format!("a key: {e}")))?,
        };
        self.expect(b':', "':'")?;
        Ok(Some(key))
    }

    /// Whether an array whose `[` was consumed has another element, `pos` then at its start (`false` after its
    /// `]`); `first` says whether a comma comes before it, `what` names the elements for the error.
    fn next_element(&mut self, first: &mut bool, what: &str) -> Result<bool> {
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(false);
        }
        if !std::mem::take(first) {
            self.expect(b',', &format!("',' or ']' after {what}"))?;
            self.peek()?;
        }
        Ok(true)
    }

    /// The bytes that `skip` passes over, from `pos`.
    fn captured(&mut self, skip: impl FnOnce(&mut Self) -> Result<()>) -> Result<Vec<u8>> {
        debug_assert!(self.hold.is_none(), "a capture inside a chunk");
        self.hold = Some(self.pos);
        let skipped = skip(self);
        let start = self.hold.take().expect("held above");
        skipped?;
        Ok(self.buf[start..self.pos].to_vec())
    }

    /// The next value, parsed (for a chat's own fields, which are small).
    fn value(&mut self) -> Result<Value> {
        self.peek()?;
        let raw = self.captured(Self::skip_value)?;
        serde_json::from_slice(&raw).map_err(|e| self.error(format!("{e}")))
    }

    /// The next value as a string or null, as a chat's name and type must be.
    fn optional_string(&mut self, key: &str) -> Result<Option<String>> {
        match self.value()? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(self.error(format!("{key}: expected a string or null"))),
        }
    }

    /// The whole file: one chat object, or the top level of a full-account export.
    fn document(&mut self) -> Result<()> {
        if self.peek()? != Some(b'{') {
            return Err(self.error("expected a Telegram chat object"));
        }
        self.chat_object(true)?;
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters after the export")),
        }
    }

    /// A chat object (or the top level, which has `chats`/`left_chats` instead), its `{` at `pos`. Only the
    /// top level (`top`) may hold chat sections: a chat listed in one holds none, so nesting stops at two
    /// levels however the file is made, and a file that nests deeper is refused at the section.
    fn chat_object(&mut self, top: bool) -> Result<()> {
        self.pos += 1;
        let mut chat = Chat::default();
        // Messages seen before the chat's id (not what the exporter writes, but possible in edited files).
        let mut early: Vec<MessageChunk> = Vec::new();
        let mut saw_messages = false;
        let mut first = true;
        // The messages read are handed on even when the rest of the chat is broken.
        let result = loop {
            let key = match self.next_key(&mut first) {
                Ok(Some(key)) => key,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let done = match key.as_str() {
                "name" => self.optional_string("name").map(|name| chat.name = name),
                "type" => self.optional_string("type").map(|kind| chat.kind = kind),
                "id" => self.value().map(|id| chat.id = scalar(Some(&id))),
                "messages" => {
                    saw_messages = true;
                    let known = chat.id.is_some().then(|| Arc::new(chat.clone()));
                    self.messages(known, &mut early)
                }
                "chats" | "left_chats" if top => self.section(),
                "chats" | "left_chats" => Err(self.error(format!(
                    "a {key:?} section inside a listed chat: Telegram Desktop writes chat sections only at the top \
                     level of a full-account export"
                ))),
                _ => self.skip_value(),
            };
            if let Err(e) = done {
                break Err(e);
            }
        };
        if saw_messages {
            for warning in super::check_chat(self.path, &mut chat) {
                (self.on)(Piece::Warning(warning));
            }
            let chat = Arc::new(chat);
            for mut chunk in early {
                chunk.chat = chat.clone();
                (self.on)(Piece::Messages(chunk));
            }
        }
        result
    }

    /// A `messages` array. With the chat known, its chunks are handed on as they fill; without, they wait in
    /// `early` for the end of the chat object.
    fn messages(&mut self, chat: Option<Arc<Chat>>, early: &mut Vec<MessageChunk>) -> Result<()> {
        self.expect(b'[', "an array of messages")?;
        let mut spans: Vec<(u32, u32)> = Vec::new();
        let mut first_line = 0;
        let result = self.message_spans(&chat, &mut spans, &mut first_line, early);
        // The messages before an error are handed on too.
        self.flush(&chat, &mut spans, first_line, early);
        result
    }

    /// The messages of an array whose `[` was consumed, up to its `]`, handed on in chunks as they fill.
    fn message_spans(
        &mut self,
        chat: &Option<Arc<Chat>>,
        spans: &mut Vec<(u32, u32)>,
        first_line: &mut u64,
        early: &mut Vec<MessageChunk>,
    ) -> Result<()> {
        let mut first = true;
        while self.next_element(&mut first, "a message")? {
            if self.hold.is_none() {
                self.hold = Some(self.pos);
                *first_line = self.line_at(self.pos);
            }
            let start = self.pos - self.hold.expect("held");
            self.skip_value()?;
            let end = self.pos - self.hold.expect("held");
            self.records += 1;
            spans.push((start as u32, end as u32));
            if end >= self.chunk_bytes {
                self.flush(chat, spans, *first_line, early);
            }
        }
        Ok(())
    }

    /// Hand on the messages in `spans` as one chunk, and let go of their bytes.
    fn flush(
        &mut self,
        chat: &Option<Arc<Chat>>,
        spans: &mut Vec<(u32, u32)>,
        first_line: u64,
        early: &mut Vec<MessageChunk>,
    ) {
        let Some(hold) = self.hold.take() else { return };
        let Some(&(_, end)) = spans.last() else { return };
        let chunk = MessageChunk {
            chat: chat.clone().unwrap_or_default(),
            bytes: self.buf[hold..hold + end as usize].to_vec(),
            first_record: self.records + 1 - spans.len() as u64,
            spans: std::mem::take(spans),
            first_line,
        };
        match chat {
            Some(_) => (self.on)(Piece::Messages(chunk)),
            None => early.push(chunk),
        }
    }

    /// `chats` / `left_chats`: `{"about": ..., "list": [chat, ...]}`.
    fn section(&mut self) -> Result<()> {
        self.expect(b'{', "a chats section (an object with a list)")?;
        let mut first = true;
        while let Some(key) = self.next_key(&mut first)? {
            if key != "list" {
                self.skip_value()?;
                continue;
            }
            self.expect(b'[', "a list of chats")?;
            let mut first_chat = true;
            while self.next_element(&mut first_chat, "a chat")? {
                if self.peek()? != Some(b'{') {
                    return Err(self.error("expected a chat object"));
                }
                self.chat_object(false)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a scan found: each message as (chat id, record, its JSON value), the warnings, and the error.
    type Scanned = (Vec<(Option<String>, u64, Value)>, Vec<String>, Option<ScanError>);

    /// Scan `json` read `capacity` bytes at a time into chunks of `chunk_bytes`.
    fn scanned(json: &str, capacity: usize, chunk_bytes: usize) -> Scanned {
        let reader = io::BufReader::with_capacity(capacity, json.as_bytes());
        let (mut messages, mut warnings) = (Vec::new(), Vec::new());
        let (records, error) = scan(reader, "t.json", chunk_bytes, &mut |piece| match piece {
            Piece::Messages(chunk) => {
                for (i, &(s, e)) in chunk.spans.iter().enumerate() {
                    let value = serde_json::from_slice(&chunk.bytes[s as usize..e as usize]).expect("a message's JSON");
                    messages.push((chunk.chat.id.clone(), chunk.first_record + i as u64, value));
                }
            }
            Piece::Warning(w) => warnings.push(w),
        });
        assert_eq!(records, messages.len() as u64);
        (messages, warnings, error)
    }

    /// The messages of an export parsed whole by serde_json: (chat id, record, value).
    fn parsed_whole(json: &str) -> Vec<(Option<String>, u64, Value)> {
        fn chat(v: &Value, out: &mut Vec<(Option<String>, u64, Value)>) {
            let id = scalar(v.get("id"));
            for m in v.get("messages").and_then(Value::as_array).into_iter().flatten() {
                let record = out.len() as u64 + 1;
                out.push((id.clone(), record, m.clone()));
            }
            for section in ["chats", "left_chats"] {
                for c in v.get(section).and_then(|s| s.get("list")).and_then(Value::as_array).into_iter().flatten() {
                    chat(c, out);
                }
            }
        }
        let mut out = Vec::new();
        chat(&serde_json::from_str(json).expect("valid JSON"), &mut out);
        out
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec![
                "a", " ", "\"", "\\", "[", "]", "{", "}", ",", ":", "\n", "é", "ی", "\u{200c}", "\t",
            ]),
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    fn message() -> impl Strategy<Value = Value> {
        (0u32..1000, text(), proptest::option::of(text()), any::<bool>()).prop_map(|(id, text, link, nested)| {
            let mut m = serde_json::json!({"id": id, "type": "message", "date_unixtime": "1700000000", "text": text});
            if let Some(link) = link {
                m["text_entities"] = serde_json::json!([{"type": "link", "text": link}, {"type": "plain", "text": ""}]);
            }
            if nested {
                m["reactions"] = serde_json::json!([{"count": 2, "emoji": "[{"}, [], {}]);
            }
            m
        })
    }

    fn chat_value() -> impl Strategy<Value = Value> {
        (1u32..50, proptest::collection::vec(message(), 0..6))
            .prop_map(|(id, messages)| serde_json::json!({"name": format!("c{id}"), "type": "public_channel", "id": id, "messages": messages}))
    }

    fn export() -> impl Strategy<Value = Value> {
        prop_oneof![
            chat_value(),
            (proptest::collection::vec(chat_value(), 0..3), proptest::collection::vec(chat_value(), 0..2)).prop_map(
                |(chats, left)| serde_json::json!({"about": "x", "chats": {"about": "y", "list": chats}, "left_chats": {"list": left}})
            ),
        ]
    }

    proptest! {
        /// Whatever the read size and chunk size, and pretty-printed or not, the scanner finds the messages that
        /// parsing the whole export finds, in order and numbered alike.
        #[test]
        fn finds_the_messages_a_whole_parse_finds(
            export in export(),
            pretty in any::<bool>(),
            capacity in 1usize..64,
            chunk_bytes in 1usize..400,
        ) {
            let json = if pretty { serde_json::to_string_pretty(&export).unwrap() } else { export.to_string() };
            let (messages, _, error) = scanned(&json, capacity, chunk_bytes);
            prop_assert!(error.is_none(), "{error:?}");
            prop_assert_eq!(messages, parsed_whole(&json));
        }
    }

    proptest! {
        /// On any input the scanner ends without panicking, and what it hands on is consistent: spans inside
        /// their chunk's bytes and in order, every record numbered once, without gaps (a chat's messages that
        /// came before its id are handed on at the chat's end, so chunks need not come in record order).
        #[test]
        fn never_panics_and_hands_on_consistent_chunks(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"", "\\", " ", "\n", "1", "a", "\"messages\"", "\"chats\"",
                "\"list\"", "\"id\"", "\"name\"", "null", "é",
            ]), 0..60),
            capacity in 1usize..16,
            chunk_bytes in 1usize..64,
        ) {
            // Most inputs start as an export does, so that the messages are reached.
            let input = format!("{}{}", if capacity % 4 == 0 { "" } else { "{\"id\": 1, \"messages\": [" }, pieces.concat());
            let reader = io::BufReader::with_capacity(capacity, input.as_bytes());
            let mut numbered = Vec::new();
            let mut consistent = true;
            let (records, _) = scan(reader, "t.json", chunk_bytes, &mut |piece| {
                if let Piece::Messages(chunk) = piece {
                    numbered.extend(chunk.first_record..chunk.first_record + chunk.spans.len() as u64);
                    let mut last = 0;
                    for &(s, e) in &chunk.spans {
                        consistent &= last <= s && s < e && e as usize <= chunk.bytes.len();
                        last = e;
                    }
                }
            });
            prop_assert!(consistent);
            numbered.sort_unstable();
            prop_assert_eq!(numbered, (1..=records).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_chat_id_after_its_messages_keys_them() {
        let json = r#"{"messages": [{"id": 4}, {"id": 5}], "name": "Late", "id": 42}"#;
        for chunk_bytes in [1, 1000] {
            let (messages, warnings, error) = scanned(json, 4, chunk_bytes);
            assert!(error.is_none() && warnings.is_empty());
            let ids: Vec<_> = messages.iter().map(|m| (m.0.as_deref(), m.1)).collect();
            assert_eq!(ids, vec![(Some("42"), 1), (Some("42"), 2)]);
        }
    }

    #[test]
    fn broken_structure_stops_with_its_line_and_column() {
        let cases = [
            ("{\"id\": 1, \"messages\": [\n{\"id\": 1}\n{\"id\": 2}]}", 3, 1, "expected ',' or ']' after a message"),
            ("{\"id\": 1, \"messages\": [{\"id\": 1, \"text\": \"open", 1, 47, "a string runs to the end"),
            ("{\"id\": 1, \"messages\": [{\"id\": [1}]}", 1, 33, "unexpected '}'"),
            ("{\"id\": 1, \"messages\": 3}", 1, 23, "expected an array of messages"),
            ("[1, 2]", 1, 1, "expected a Telegram chat object"),
            ("{\"id\": 1, \"messages\": []} x", 1, 27, "trailing characters"),
        ];
        for (json, line, column, what) in cases {
            for capacity in [1, 5, 1 << 16] {
                let (_, _, error) = scanned(json, capacity, 8);
                match error {
                    Some(ScanError::Json { line: l, column: c, what: w }) => {
                        assert_eq!((l, c), (line, column), "{json:?} read {capacity} at a time: {w}");
                        assert!(w.contains(what), "{json:?}: {w}");
                    }
                    other => panic!("{json:?}: {other:?}"),
                }
            }
        }
    }
}
