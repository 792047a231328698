//! One module per export format.

mod csv_util;
pub(crate) mod fourcat_telegram;
pub(crate) mod jsonl;
pub(crate) mod telegram;
pub(crate) mod telegram_html;
pub(crate) mod telethon;
pub(crate) mod toolkit_csv;
pub(crate) mod twarc;
pub(crate) mod x_archive;
pub(crate) mod zeeschuimer;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::cell::RefCell;
use std::fmt;

/// A key that an object of a record gives twice: the object's depth (0: the record itself), the record's key
/// under which it sits (`None` for the record itself), and the key.
pub(crate) type Repeated = (u32, Option<String>, String);

/// Parses JSON into a `Value` as serde_json does, and notes in its cell each key that an object of it gives
/// twice ([`Repeated`]). One rule for every JSON reader: a record that gives a field echolens reads twice is
/// quarantined ([`repeated_key`]), since which of its values the writer meant is unknown (serde_json would
/// silently keep the last).
#[derive(Clone, Copy)]
pub(crate) struct Strict<'a, 'k> {
    /// Where repeated keys are noted.
    pub repeated: &'a RefCell<Vec<Repeated>>,
    depth: u32,
    top: Option<&'k str>,
}

impl<'a> Strict<'a, '_> {
    /// A record's parser.
    pub(crate) fn new(repeated: &'a RefCell<Vec<Repeated>>) -> Self {
        Strict { repeated, depth: 0, top: None }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_, '_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { depth: self.depth + 1, ..self })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // Noted when the key is read, before its value (as serde's derived readers see it).
            if out.contains_key(&key) {
                self.repeated.borrow_mut().push((self.depth, self.top.map(str::to_owned), key.clone()));
            }
            let top = if self.depth == 0 { Some(key.as_str()) } else { self.top };
            let value = map.next_value_seed(Strict { repeated: self.repeated, depth: self.depth + 1, top })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Parse one record's JSON; `Ok(Err(reason))` when an object of it gives a key twice and `matters` says that
/// key is read.
pub(crate) fn parse_strict(
    bytes: &[u8],
    matters: impl Fn(&Repeated) -> bool,
) -> Result<Result<Value, String>, serde_json::Error> {
    let repeated = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict::new(&repeated).deserialize(&mut de)?;
    de.end()?;
    Ok(match repeated.into_inner().into_iter().find(|r| matters(r)) {
        Some((_, _, key)) => Err(repeated_key(&key)),
        None => Ok(value),
    })
}

/// One line of a one-record-per-line JSON format, parsed strictly (any key given twice quarantines it); a line
/// that is not JSON is quarantined saying what was `expected`. `None` when the line was quarantined.
pub(crate) fn parse_line(
    line_no: u64,
    line: &[u8],
    ctx: &crate::FileCtx<'_>,
    sink: &mut dyn crate::Sink,
    expected: &str,
) -> Option<Value> {
    let reason = match parse_strict(line, |_| true) {
        Ok(Ok(value)) => return Some(value),
        Ok(Err(reason)) => format!("line {line_no}: {reason}"),
        Err(err) => format!("line {line_no}: invalid JSON ({err}); expected {expected}"),
    };
    sink.quarantine(ctx.quarantined(line_no, reason, &String::from_utf8_lossy(line)));
    None
}

/// The key of a "duplicate field `key`" error of serde's derived readers, as [`repeated_key`]'s reason.
pub(crate) fn duplicate_field(err: &serde_json::Error) -> Option<String> {
    let text = err.to_string();
    text.starts_with("duplicate field").then(|| repeated_key(text.split('`').nth(1).unwrap_or("?")))
}

/// The quarantine reason for a record that gives `key` twice.
pub(crate) fn repeated_key(key: &str) -> String {
    format!("the key {key:?} is given twice in one object: which value is meant is unknown")
}

/// A string or a number as a string; `None` for null, missing, or anything else.
pub(crate) fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An audience figure: a non-negative whole number, given as a number or as digits in a string (X writes view
/// counts as strings). Anything else (negative, fractional, text, an object) is no figure: `None`, never zero.
pub(crate) fn count(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f < 9.0e15).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .filter(|n| *n >= 0)
}

/// A count from a CSV cell: digits, or nothing.
pub(crate) fn count_cell(cell: Option<&str>) -> Option<i64> {
    cell?.trim().parse::<i64>().ok().filter(|n| *n >= 0)
}

/// The sum of `count` over a list's items (Telegram's reactions), where at least one item states one.
pub(crate) fn count_sum<'v>(
    items: impl IntoIterator<Item = &'v Value>,
    count_of: impl Fn(&'v Value) -> Option<i64>,
) -> Option<i64> {
    items.into_iter().filter_map(count_of).fold(None, |sum, n| Some(sum.unwrap_or(0i64).saturating_add(n)))
}

/// A non-empty string field.
pub(crate) fn string(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Streams the elements of a JSON array to a callback, one `Value` at a time with the key it gives twice, if any
/// (see [`Strict`]): memory stays at one element.
pub(crate) struct EachElement<'f> {
    pub on_element: &'f mut dyn FnMut(Value, Option<String>),
}

impl<'de> DeserializeSeed<'de> for EachElement<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EachElement<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let repeated = RefCell::new(Vec::new());
            let Some(value) = seq.next_element_seed(Strict::new(&repeated))? else { break };
            (self.on_element)(value, repeated.into_inner().into_iter().next().map(|(_, _, key)| key));
        }
        Ok(())
    }
}

/// Calls `on_line(line_number, line)` for every non-blank line (BOM and surrounding white space trimmed). A read
/// error quarantines one record saying the rest of the file was not read.
pub(crate) fn for_each_line(
    mut reader: impl std::io::BufRead,
    ctx: &crate::FileCtx<'_>,
    sink: &mut dyn crate::Sink,
    mut on_line: impl FnMut(u64, &[u8], &mut dyn crate::Sink),
) {
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                let reason = format!("read error: {err}; the rest of the file was not read");
                sink.quarantine(ctx.quarantined(line_no + 1, reason, ""));
                break;
            }
        }
        line_no += 1;
        let line = record_of(&buf);
        if !line.is_empty() {
            on_line(line_no, line, sink);
        }
    }
}

/// The record a line holds: BOM and surrounding white space trimmed; empty for a blank line.
pub(crate) fn record_of(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line).trim_ascii()
}

/// The JSON of a value, for a quarantine record.
pub(crate) fn raw_json(value: &Value) -> String {
    let text = value.to_string();
    echolens_model::truncate_utf8(&text, echolens_model::RAW_LIMIT).to_owned()
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    /// One rule in every JSON reader: a record that gives a key twice is quarantined with the same reason, and
    /// the records beside it are read.
    #[test]
    fn a_key_given_twice_is_quarantined_by_every_json_reader() {
        let cases = [
            (
                Format::Jsonl,
                concat!(
                    r#"{"id": 1, "channel": "c", "timestamp": 1704067200, "text": "a", "text": "b"}"#,
                    "\n",
                    r#"{"id": 2, "channel": "c", "timestamp": 1704067200, "text": "ok"}"#
                ),
            ),
            (
                Format::Twarc,
                concat!(
                    r#"{"id": "1", "author_id": "7", "author_id": "8", "created_at": "2021-04-08T19:34:16.000Z", "text": "a"}"#,
                    "\n",
                    r#"{"id": "2", "author_id": "7", "created_at": "2021-04-08T19:34:16.000Z", "text": "ok"}"#
                ),
            ),
            (
                Format::TelethonJson,
                r#"[{"message_id": 1, "sender_id": -1001, "date": "2024-01-01T00:00:00+00:00", "text": "a", "date": "2024-01-02T00:00:00+00:00"},
                    {"message_id": 2, "sender_id": -1001, "date": "2024-01-01T00:00:00+00:00", "text": "ok"}]"#,
            ),
            (
                Format::Telegram,
                r#"{"id": 5, "messages": [{"id": 1, "date_unixtime": "1704067200", "from_id": "user1", "from_id": "user2", "text": "a"},
                    {"id": 2, "date_unixtime": "1704067200", "text": "ok"}]}"#,
            ),
        ];
        for (format, input) in cases {
            let mut sink = Collect::default();
            let counts = read_bytes(input.as_bytes(), "dup", format, &ReadOptions::default(), &mut sink);
            assert_eq!((counts.messages, counts.quarantined), (1, 1), "{format}: {:?}", sink.quarantined);
            assert_eq!(sink.messages[0].text, "ok", "{format}");
            assert!(
                sink.quarantined[0].reason.contains("is given twice in one object"),
                "{format}: {:?}",
                sink.quarantined
            );
        }
    }
}
