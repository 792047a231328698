//! echolens JSONL: one JSON object per line (DESIGN.md, "The generic input").
//!
//! Required: `id`, `channel`, `timestamp` (unix seconds or RFC 3339), `text`; `author` may be null. Optional:
//! `platform` (default `generic`, or `--platform`), `channel_name`, `author_name`, `urls`, `hashtags`,
//! `mentions`, `forwarded_from`, `reply_to`, `repost_of`, `quote_of`, `edited`, and the audience figures `views`,
//! `likes`, `shares`, `replies`, `quotes`, `reactions` (non-negative integers or null).

mod fast;

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::for_each_line;
use crate::{FileCtx, RawView, Sink, time};
use echolens_model::MessageView;

/// A string, or a number written as a string; borrowed from the line where it holds no escape.
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Scalar<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A timestamp: unix seconds as a number, or a string (RFC 3339, or seconds).
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Timestamp(i64, bool);

impl Timestamp {
    /// Unix seconds; `None` out of range.
    fn from_secs(secs: i64) -> Option<Timestamp> {
        secs.checked_mul(1_000_000).map(|t| Timestamp(t, true))
    }

    /// RFC 3339, or seconds written as a string; `None` when it is neither.
    fn from_text(text: &str) -> Option<Timestamp> {
        time::parse_any(text).map(|(t, exact)| Timestamp(t, exact))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("unix seconds or an RFC 3339 time")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::from_secs(v).ok_or_else(|| E::custom("timestamp out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v).map_err(|_| E::custom("timestamp out of range")).and_then(|v| self.visit_i64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                time::from_secs_f64(v).map(|t| Timestamp(t, true)).ok_or_else(|| E::custom("timestamp out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::from_text(v)
                    .ok_or_else(|| E::custom(format!("timestamp {v:?} is neither unix seconds nor RFC 3339")))
            }
        }
        d.deserialize_any(V)
    }
}

fn scalar<'s>(s: &'s Option<Scalar<'_>>) -> Option<&'s str> {
    s.as_ref().map(|s| &*s.0)
}

/// One line, its strings borrowed from it where they hold no escape.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Line<'a> {
    #[serde(borrow)]
    id: Scalar<'a>,
    #[serde(borrow)]
    channel: Scalar<'a>,
    #[serde(default, borrow)]
    author: Option<Scalar<'a>>,
    timestamp: Timestamp,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    platform: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    channel_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    author_name: Option<Cow<'a, str>>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    hashtags: Option<Vec<String>>,
    #[serde(default)]
    mentions: Option<Vec<String>>,
    #[serde(default, borrow)]
    forwarded_from: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    reply_to: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    repost_of: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    quote_of: Option<Scalar<'a>>,
    #[serde(default)]
    edited: Option<Timestamp>,
    /// The audience figures, in `ENGAGEMENT_COLUMNS` order: `views`, `likes`, `shares`, `replies`, `quotes`,
    /// `reactions`.
    #[serde(default)]
    views: Option<u64>,
    #[serde(default)]
    likes: Option<u64>,
    #[serde(default)]
    shares: Option<u64>,
    #[serde(default)]
    replies: Option<u64>,
    #[serde(default)]
    quotes: Option<u64>,
    #[serde(default)]
    reactions: Option<u64>,
}

impl Line<'_> {
    fn engagement(&self) -> echolens_model::Engagement {
        let n = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        echolens_model::Engagement {
            views: n(self.views),
            likes: n(self.likes),
            shares: n(self.shares),
            replies: n(self.replies),
            quotes: n(self.quotes),
            reactions: n(self.reactions),
        }
    }
}

pub(crate) fn read(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    for_each_line(reader, ctx, sink, |line_no, line, sink| read_line(line_no, line, ctx, sink));
}

/// One line: a message, or a quarantined record.
pub(crate) fn read_line(line_no: u64, line: &[u8], ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    // One check of the whole line; serde_json then reads it as a `str` and checks no string again (from bytes it
    // checks each string on its own: 3% of ingest, much of it the calls for short strings).
    let json = match std::str::from_utf8(line) {
        Ok(json) => json,
        Err(err) => {
            let at = err.valid_up_to();
            let reason = format!("line {line_no}: not UTF-8 (byte offset {at}); expected a JSON object in UTF-8");
            sink.quarantine(ctx.quarantined(line_no, reason, &String::from_utf8_lossy(line)));
            return;
        }
    };
    // The common line is read by the fast reader; serde_json reads the rest, and words every error.
    match fast::parse(json).map_or_else(|| serde_json::from_str::<Line<'_>>(json), Ok) {
        Ok(l) => {
            let platform = l.platform.as_deref().filter(|p| !p.is_empty()).unwrap_or(ctx.platform_or("generic"));
            let message = MessageView {
                platform,
                channel_id: &l.channel.0,
                channel_name: l.channel_name.as_deref(),
                message_id: &l.id.0,
                author_id: scalar(&l.author),
                author_name: l.author_name.as_deref(),
                ts: l.timestamp.0,
                ts_exact: l.timestamp.1,
                edited: l.edited.as_ref().map(|e| e.0),
                text: &l.text,
                forwarded_from: scalar(&l.forwarded_from),
                reply_to: scalar(&l.reply_to),
                repost_of: scalar(&l.repost_of),
                quote_of: scalar(&l.quote_of),
                engagement: l.engagement(),
                source_file: &ctx.path,
                source_record: line_no,
                ..MessageView::default()
            };
            sink.message_view(RawView {
                message,
                urls: l.urls.as_deref(),
                hashtags: l.hashtags.as_deref(),
                mentions: l.mentions.as_deref(),
            });
        }
        Err(err) => {
            if let Some(repeated) = super::duplicate_field(&err) {
                let reason = format!("line {line_no}: {repeated}");
                return sink.quarantine(ctx.quarantined(line_no, reason, &String::from_utf8_lossy(line)));
            }
            let reason = format!("line {line_no}: {err}; expected a JSON object with id, channel, timestamp and text");
            sink.quarantine(ctx.quarantined(line_no, reason, &String::from_utf8_lossy(line)));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Collect, Format, ReadOptions, read_bytes};

    /// Read JSONL from memory with every time accepted (these tests are about other things than dates).
    fn read_any_time(input: &[u8], sink: &mut Collect) -> crate::FileCounts {
        let options = ReadOptions { times: crate::TimeRange::ALL, ..ReadOptions::default() };
        read_bytes(input, "in.jsonl", Format::Jsonl, &options, sink)
    }

    #[test]
    fn reads_lines_and_quarantines_bad_ones() {
        let input = concat!(
            "{\"id\": 1, \"channel\": \"c1\", \"author\": \"a\", \"timestamp\": 1704067200, \"text\": \"Hello https://x.io/?utm_source=q\"}\n",
            "\n",
            "{\"id\": \"2\", \"channel\": 5, \"author\": null, \"timestamp\": \"2024-01-01T00:00:01Z\", \"text\": \"\", \"platform\": \"telegram\", \"urls\": [\"HTTP://A.io/b\"]}\r\n",
            "{\"id\": 3, \"channel\": \"c1\", \"timestamp\": \"soon\", \"text\": \"x\"}\n",
            "{\"id\": 4, \"channel\": \"c1\"\n",
            "{\"id\": 5, \"channel\": \"c1\", \"timestamp\": 1.5, \"text\": \"no author\"}"
        );
        let mut sink = Collect::default();
        let counts = read_any_time(input.as_bytes(), &mut sink);
        assert_eq!((counts.records, counts.messages, counts.quarantined), (5, 3, 2));
        let m = &sink.messages;
        assert_eq!(m[0].key(), "generic:c1:1");
        assert_eq!(m[0].urls, vec!["https://x.io/"]);
        assert_eq!(m[0].text_norm, "hello https://x.io/?utm_source=q");
        assert_eq!(m[1].key(), "telegram:5:2");
        assert_eq!(m[1].author_id, None);
        assert_eq!(m[1].urls, vec!["http://a.io/b"]);
        assert_eq!(m[1].ts, 1_704_067_201_000_000);
        assert_eq!(m[2].ts, 1_500_000);
        assert_eq!(m[2].source_record, 6);
        assert_eq!(sink.quarantined[0].source_record, 4);
        assert!(sink.quarantined[0].reason.contains("timestamp \"soon\""), "{}", sink.quarantined[0].reason);
        assert_eq!(sink.quarantined[1].source_record, 5);
    }

    /// Audience figures are read where stated, none where absent or null; a negative one is a bad record.
    #[test]
    fn audience_figures_where_stated() {
        let input = concat!(
            "{\"id\": 1, \"channel\": \"c\", \"timestamp\": 1, \"text\": \"a\", \"views\": 1520, \"shares\": 0, \"likes\": null}\n",
            "{\"id\": 2, \"channel\": \"c\", \"timestamp\": 1, \"text\": \"b\"}\n",
            "{\"id\": 3, \"channel\": \"c\", \"timestamp\": 1, \"text\": \"c\", \"views\": -5}\n",
        );
        let mut sink = Collect::default();
        let counts = read_any_time(input.as_bytes(), &mut sink);
        assert_eq!((counts.messages, counts.quarantined), (2, 1));
        let e = sink.messages[0].engagement;
        assert_eq!((e.views, e.shares, e.likes, e.replies), (Some(1520), Some(0), None, None));
        assert!(sink.messages[1].engagement.is_empty());
        assert!(sink.quarantined[0].reason.contains("line 3"), "{}", sink.quarantined[0].reason);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_quarantined_alone() {
        let mut input = b"{\"id\": 1, \"channel\": \"c\", \"timestamp\": 1, \"text\": \"caf".to_vec();
        input.extend_from_slice(
            b"\xe9\"}\n{\"id\": 2, \"channel\": \"c\", \"timestamp\": 1, \"text\": \"caf\xc3\xa9\"}\n",
        );
        let mut sink = Collect::default();
        let counts = read_any_time(&input, &mut sink);
        assert_eq!((counts.records, counts.messages, counts.quarantined), (2, 1, 1));
        assert_eq!(sink.messages[0].text, "café");
        let q = &sink.quarantined[0];
        assert_eq!(q.source_record, 1);
        assert!(q.reason.contains("line 1: not UTF-8 (byte offset 54)"), "{}", q.reason);
        assert!(q.raw.contains("caf\u{fffd}"), "{}", q.raw);
    }

    /// Strings with escapes cannot be borrowed from the line: they are unescaped into owned copies, and read the
    /// same as any other.
    #[test]
    fn escaped_strings_read_like_plain_ones() {
        let input = concat!(
            "{\"id\": \"a\\u0062\", \"channel\": \"c\\\"1\", \"author\": 77, \"timestamp\": 1, ",
            "\"text\": \"Say \\\"hi\\\"\\n\\u0633\\u0644\\u0627\\u0645 #Tag\", \"channel_name\": \"N\\u00e9\", ",
            "\"forwarded_from\": \"f\\/g\", \"repost_of\": 12}\n",
        );
        let mut sink = Collect::default();
        let counts = read_any_time(input.as_bytes(), &mut sink);
        assert_eq!((counts.records, counts.messages), (1, 1), "{:?}", sink.quarantined);
        let m = &sink.messages[0];
        assert_eq!(m.key(), "generic:c\"1:ab");
        assert_eq!(m.author_id.as_deref(), Some("77"));
        assert_eq!(m.text, "Say \"hi\"\nسلام #Tag");
        assert_eq!(m.text_norm, "say \"hi\" سلام #tag");
        assert_eq!(m.hashtags, vec!["tag"]);
        assert_eq!(m.channel_name.as_deref(), Some("Né"));
        assert_eq!(m.forwarded_from.as_deref(), Some("f/g"));
        assert_eq!(m.repost_of.as_deref(), Some("12"));
        assert_eq!(m.source_file, "in.jsonl");
    }
}
