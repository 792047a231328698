//! A message's `text` and `text_entities`, read without building a `Value`.
//!
//! Telegram Desktop writes `text` as a string, or as an array of strings and entity objects
//! (`{"type": "hashtag", "text": "#tag"}`), and since 2020 `text_entities` in every message as well: the same
//! runs again, each an object. As `Value`s those were a map per entity, a string per run, and their drops, a
//! fifth of a Telegram ingest's instructions. Here the strings are borrowed from the message's bytes where they
//! hold no escape. What these types refuse (a number among the parts, an entity's text that is not a string, a
//! key given twice) fails the typed read of the message, which then goes through a `Value` and
//! [`flatten_value`], so every message gets the same fields and the same reasons either way (property-tested in
//! `mod.rs`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON string, borrowed from the input when it has no escape.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }

            // A string with an escape; serde's `visit_string` comes here too.
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

/// An entity of a message's text. A missing or null field, and in a `Value` one that is not a string, is `None`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub(super) struct Entity<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub text: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub href: Option<Str<'a>>,
}

impl Entity<'_> {
    /// The entity read from a `Value` as the typed read has it: fields that are not strings are left out.
    fn of_value(v: &Value) -> Entity<'static> {
        let field = |key: &str| v.get(key).and_then(Value::as_str).map(|s| Str(Cow::Owned(s.to_owned())));
        Entity { kind: field("type"), text: field("text"), href: field("href") }
    }

    pub(super) fn kind(&self) -> &str {
        self.kind.as_ref().map_or("", |s| &s.0)
    }

    pub(super) fn text(&self) -> &str {
        self.text.as_ref().map_or("", |s| &s.0)
    }
}

/// `text` as written: a string, or parts.
pub(super) enum Text<'a> {
    Plain(Str<'a>),
    Parts(Vec<Part<'a>>),
}

/// One part of a `text` array.
pub(super) enum Part<'a> {
    Plain(Str<'a>),
    Entity(Entity<'a>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings and entities")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Plain(Str(Cow::Borrowed(s))))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text::Plain(Str(Cow::Owned(s.to_owned()))))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'de>, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(Text::Parts(parts))
            }
        }

        deserializer.deserialize_any(TextVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Part<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PartVisitor;

        impl<'de> Visitor<'de> for PartVisitor {
            type Value = Part<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an entity object")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Part<'de>, E> {
                Ok(Part::Plain(Str(Cow::Borrowed(s))))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Part<'de>, E> {
                Ok(Part::Plain(Str(Cow::Owned(s.to_owned()))))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Part<'de>, A::Error> {
                Entity::deserialize(de::value::MapAccessDeserializer::new(map)).map(Part::Entity)
            }
        }

        deserializer.deserialize_any(PartVisitor)
    }
}

/// `text` flattened: the text, and its entities when it was an array.
pub(super) type Flattened<'a> = (String, Option<Vec<Entity<'a>>>);

/// Flatten a `text` the typed read took.
pub(super) fn flatten(text: Option<Text<'_>>) -> Flattened<'_> {
    match text {
        None => (String::new(), None),
        Some(Text::Plain(s)) => (s.0.into_owned(), None),
        Some(Text::Parts(parts)) => {
            let mut text = String::new();
            let mut entities = Vec::new();
            for part in parts {
                match part {
                    Part::Plain(s) => text.push_str(&s.0),
                    Part::Entity(e) => {
                        text.push_str(e.text());
                        entities.push(e);
                    }
                }
            }
            (text, Some(entities))
        }
    }
}

/// Flatten a `text` read as a `Value`, or say why it cannot be.
pub(super) fn flatten_value(v: Option<&Value>) -> Result<Flattened<'static>, String> {
    match v {
        None | Some(Value::Null) => Ok((String::new(), None)),
        Some(Value::String(s)) => Ok((s.clone(), None)),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            let mut entities = Vec::new();
            for part in parts {
                match part {
                    Value::String(s) => text.push_str(s),
                    Value::Object(_) => {
                        let e = Entity::of_value(part);
                        text.push_str(e.text());
                        entities.push(e);
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

/// `text_entities` read as a `Value`: its elements when it is an array (those that are not objects have no
/// fields), else `None`, and the entities of `text` count.
pub(super) fn entities_of_value(v: Option<&Value>) -> Option<Vec<Entity<'static>>> {
    match v {
        Some(Value::Array(list)) => Some(list.iter().map(Entity::of_value).collect()),
        _ => None,
    }
}

pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
