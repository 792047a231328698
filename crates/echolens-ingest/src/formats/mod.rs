//! One module per export format.

mod csv_util;
pub mod jsonl;
pub mod telegram;
pub mod telethon;
pub mod toolkit_csv;
pub mod twarc;
pub mod x_archive;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A string or a number as a string; `None` for null, missing, or anything else.
pub fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string field.
pub fn string(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Streams the elements of a JSON array to a callback, one `Value` at a time: memory stays at one element.
pub struct EachElement<'f> {
    pub on_element: &'f mut dyn FnMut(Value),
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
        while let Some(value) = seq.next_element::<Value>()? {
            (self.on_element)(value);
        }
        Ok(())
    }
}

/// Calls `on_line(line_number, line)` for every non-blank line (BOM and surrounding white space trimmed). A read
/// error quarantines one record saying the rest of the file was not read.
pub fn for_each_line(
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
pub fn record_of(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line).trim_ascii()
}

/// The JSON of a value, for a quarantine record.
pub fn raw_json(value: &Value) -> String {
    let text = value.to_string();
    echolens_model::truncate_utf8(&text, echolens_model::RAW_LIMIT).to_owned()
}
