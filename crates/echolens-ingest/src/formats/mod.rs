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

/// The JSON of a value, for a quarantine record.
pub fn raw_json(value: &Value) -> String {
    let text = value.to_string();
    echolens_model::truncate_utf8(&text, echolens_model::RAW_LIMIT).to_owned()
}
