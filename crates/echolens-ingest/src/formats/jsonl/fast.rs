//! The common JSONL line read without serde: a flat object whose values are strings, integers, `null` and arrays
//! of strings, as every tool that writes JSONL writes it.
//!
//! serde_json's derive reads a line field by field through its visitor machinery, about 14 instructions a byte,
//! a sixth of ingest. This reader goes straight at the bytes: strings are found with a vectorised search for the
//! closing quote. It reads a subset of JSON and declines (`None`) whatever lies outside it: floats, nested
//! objects, escaped keys, a repeated or missing field, any error. [`super::read_line`] then hands the line to
//! serde_json, which reads it or says what is wrong with it. So a line reads the same either way, and every
//! message about a bad line is serde_json's; a property test holds the two readers to that.

use std::borrow::Cow;

use super::{Line, Scalar, Timestamp};

/// The line as serde_json would read it, or `None` when this reader does not read it alone.
pub(super) fn parse(json: &str) -> Option<Line<'_>> {
    let mut p = Parser { text: json, bytes: json.as_bytes(), at: 0 };
    if !plain(p.bytes) {
        return None;
    }
    let mut f = Fields::default();
    p.white_space();
    p.expect(b'{')?;
    p.sequence(b'}', |p| p.member(&mut f))?;
    p.white_space();
    if p.at != p.bytes.len() {
        return None;
    }
    Some(Line {
        id: f.id?,
        channel: f.channel?,
        author: f.author,
        timestamp: f.timestamp?,
        text: f.text?,
        platform: f.platform,
        channel_name: f.channel_name,
        author_name: f.author_name,
        urls: f.urls,
        hashtags: f.hashtags,
        mentions: f.mentions,
        forwarded_from: f.forwarded_from,
        reply_to: f.reply_to,
        repost_of: f.repost_of,
        quote_of: f.quote_of,
        edited: f.edited,
        views: f.counts[0],
        likes: f.counts[1],
        shares: f.counts[2],
        replies: f.counts[3],
        quotes: f.counts[4],
        reactions: f.counts[5],
    })
}

/// The fields read so far; `seen` has a bit per field, so that a repeated one (an error for serde) declines.
#[derive(Default)]
struct Fields<'a> {
    seen: u32,
    id: Option<Scalar<'a>>,
    channel: Option<Scalar<'a>>,
    author: Option<Scalar<'a>>,
    timestamp: Option<Timestamp>,
    text: Option<Cow<'a, str>>,
    platform: Option<Cow<'a, str>>,
    channel_name: Option<Cow<'a, str>>,
    author_name: Option<Cow<'a, str>>,
    urls: Option<Vec<String>>,
    hashtags: Option<Vec<String>>,
    mentions: Option<Vec<String>>,
    forwarded_from: Option<Scalar<'a>>,
    reply_to: Option<Scalar<'a>>,
    repost_of: Option<Scalar<'a>>,
    quote_of: Option<Scalar<'a>>,
    edited: Option<Timestamp>,
    /// `views`, `likes`, `shares`, `replies`, `quotes`, `reactions`.
    counts: [Option<u64>; 6],
}

/// An integer as serde_json hands it to a visitor: negative ones as `i64`, the others as `u64`.
enum Integer {
    Negative(i64),
    Positive(u64),
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// White space: spaces only, as [`plain`] has ruled out JSON's other three (tab, line feed, carriage return).
    fn white_space(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// The items of an object or array after its opening bracket, separated by commas, up to `close`.
    fn sequence(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.white_space();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.white_space();
            match self.next()? {
                b',' => self.white_space(),
                b if b == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// `"key": value`, stored in `f` by its key.
    fn member(&mut self, f: &mut Fields<'a>) -> Option<()> {
        let key = match self.string()? {
            Cow::Borrowed(key) => key,
            // An escaped key: serde_json compares it unescaped; leave that to it.
            Cow::Owned(_) => return None,
        };
        self.white_space();
        self.expect(b':')?;
        self.white_space();
        let bit = match key {
            "id" => 0,
            "channel" => 1,
            "author" => 2,
            "timestamp" => 3,
            "text" => 4,
            "platform" => 5,
            "channel_name" => 6,
            "author_name" => 7,
            "urls" => 8,
            "hashtags" => 9,
            "mentions" => 10,
            "forwarded_from" => 11,
            "reply_to" => 12,
            "repost_of" => 13,
            "edited" => 14,
            "quote_of" => 15,
            "views" => 16,
            "likes" => 17,
            "shares" => 18,
            "replies" => 19,
            "quotes" => 20,
            "reactions" => 21,
            _ => return self.skip_value(),
        };
        if f.seen & (1 << bit) != 0 {
            return None;
        }
        f.seen |= 1 << bit;
        match bit {
            0 => f.id = Some(self.scalar()?),
            1 => f.channel = Some(self.scalar()?),
            2 => f.author = self.or_null(Self::scalar)?,
            3 => f.timestamp = Some(self.timestamp()?),
            4 => f.text = Some(self.string()?),
            5 => f.platform = self.or_null(Self::string)?,
            6 => f.channel_name = self.or_null(Self::string)?,
            7 => f.author_name = self.or_null(Self::string)?,
            8 => f.urls = self.or_null(Self::strings)?,
            9 => f.hashtags = self.or_null(Self::strings)?,
            10 => f.mentions = self.or_null(Self::strings)?,
            11 => f.forwarded_from = self.or_null(Self::scalar)?,
            12 => f.reply_to = self.or_null(Self::scalar)?,
            13 => f.repost_of = self.or_null(Self::scalar)?,
            15 => f.quote_of = self.or_null(Self::scalar)?,
            16..=21 => f.counts[bit - 16] = self.or_null(Self::count)?,
            _ => f.edited = self.or_null(Self::timestamp)?,
        }
        Some(())
    }

    /// `null` as `Some(None)`, else what `value` reads.
    fn or_null<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.bytes[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(None);
        }
        value(self).map(Some)
    }

    /// A value of a field echolens does not read: a string, an integer, `true`, `false` or `null`.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.integer().map(drop),
            _ => {
                let rest = &self.bytes[self.at..];
                let len = [b"true".as_slice(), b"false", b"null"].into_iter().find(|w| rest.starts_with(w))?.len();
                self.at += len;
                Some(())
            }
        }
    }

    /// A string or an integer, as [`Scalar`] reads them.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar),
            _ => Some(Scalar(Cow::Owned(match self.integer()? {
                Integer::Negative(v) => v.to_string(),
                Integer::Positive(v) => v.to_string(),
            }))),
        }
    }

    /// Unix seconds as an integer, or a string, as [`Timestamp`] reads them.
    fn timestamp(&mut self) -> Option<Timestamp> {
        if self.peek()? == b'"' {
            return Timestamp::from_text(&self.string()?);
        }
        Timestamp::from_secs(match self.integer()? {
            Integer::Negative(v) => v,
            Integer::Positive(v) => i64::try_from(v).ok()?,
        })
    }

    /// An integer in JSON's grammar, not followed by a fraction or an exponent (those are floats, as are
    /// integers too large for 64 bits). `-0` declines too: serde_json reads it as a float.
    fn integer(&mut self) -> Option<Integer> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        if !negative {
            return Some(Integer::Positive(value));
        }
        if value == 0 {
            return None;
        }
        Some(Integer::Negative(-i64::try_from(value).ok()?))
    }

    /// A count: a non-negative integer (a negative one declines: serde_json refuses it, with its reason).
    fn count(&mut self) -> Option<u64> {
        match self.integer()? {
            Integer::Positive(v) => Some(v),
            Integer::Negative(_) => None,
        }
    }

    /// An array of strings.
    fn strings(&mut self) -> Option<Vec<String>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.sequence(b']', |p| p.string().map(|s| out.push(s.into_owned())))?;
        Some(out)
    }

    /// A string, borrowed from the line when it holds no escape. Declines on an unknown escape or a `\u` escape
    /// of a surrogate (pairs are left to serde_json); raw control characters were ruled out by [`plain`].
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.at;
        let mut end = start + memchr::memchr2(b'"', b'\\', &self.bytes[start..])?;
        if self.bytes[end] == b'"' {
            self.at = end + 1;
            return Some(Cow::Borrowed(&self.text[start..end]));
        }
        let mut out = String::with_capacity(end - start + 16);
        out.push_str(&self.text[start..end]);
        loop {
            // At a backslash.
            let unescaped = match *self.bytes.get(end + 1)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{08}',
                b'f' => '\u{0C}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = self.text.get(end + 2..end + 6)?;
                    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                    end += 4;
                    c
                }
                _ => return None,
            };
            out.push(unescaped);
            let from = end + 2;
            end = from + memchr::memchr2(b'"', b'\\', &self.bytes[from..])?;
            out.push_str(&self.text[from..end]);
            if self.bytes[end] == b'"' {
                self.at = end + 1;
                return Some(Cow::Owned(out));
            }
        }
    }
}

/// No control character (U+0000..=U+001F) anywhere in the line. JSON strings may not hold one raw, and outside
/// them only tab, line feed and carriage return may stand, as white space; a line that holds one is left to
/// serde_json. One pass over the line that vectorises, rather than a check of each string.
fn plain(bytes: &[u8]) -> bool {
    !bytes.iter().fold(false, |any, &b| any | (b < 0x20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    fn serde(json: &str) -> Option<Line<'_>> {
        serde_json::from_str(json).ok()
    }

    #[test]
    fn reads_the_lines_tools_write() {
        for line in [
            r#"{"id": "10000000", "author": "1017714", "channel": "ch265", "timestamp": 1704067207, "text": "i this", "urls": []}"#,
            r#"{"id":7,"channel":-1001234,"author":null,"timestamp":"2024-01-01T00:00:01Z","text":"Say \"hi\"\n\u0633","urls":["https://a.io/x"]}"#,
            r#"{ "text" : "x" , "id" : "a" , "channel" : "c" , "timestamp" : 0 , "lang" : "fa" , "n" : 3 , "ok" : true }"#,
            r#"{"id":"1","channel":"c","timestamp":1,"text":"","platform":"telegram","channel_name":null,"author_name":"N","hashtags":["a","b"],"mentions":null,"forwarded_from":"f","reply_to":2,"repost_of":null,"edited":5}"#,
            r#"{"id":"2","channel":"c","timestamp":1,"text":"","views":1520,"likes":null,"shares":0,"replies":3,"quotes":0,"reactions":12}"#,
        ] {
            let fast = parse(line);
            assert!(fast.is_some(), "{line}");
            assert_eq!(fast, serde(line), "{line}");
        }
    }

    #[test]
    fn declines_what_it_leaves_to_serde() {
        for line in [
            r#"{"id": 1, "channel": "c", "timestamp": 1.5, "text": "float"}"#,
            r#"{"id": 1, "channel": "c", "timestamp": 1, "text": "a", "text": "repeated"}"#,
            r#"{"id": 1, "channel": "c", "timestamp": 1, "text": "pair \ud83d\ude00"}"#,
            r#"{"\u0069d": 1, "channel": "c", "timestamp": 1, "text": "escaped key"}"#,
            r#"{"id": 1, "channel": "c", "timestamp": 1, "text": "nested", "meta": {"a": 1}}"#,
            r#"{"id": 1, "channel": "c", "timestamp": 1}"#,
            r#"{"id": 01, "channel": "c", "timestamp": 1, "text": "leading zero"}"#,
            r#"{"id": -0, "channel": "c", "timestamp": 1, "text": "negative zero"}"#,
            r#"{"id": 18446744073709551616, "channel": "c", "timestamp": 1, "text": "too large"}"#,
            r#"{"id": 1, "channel": "c", "timestamp": "soon", "text": "bad time"}"#,
            "{\"id\": 1, \"channel\": \"c\", \"timestamp\": 1, \"text\": \"raw\ttab\"}",
            "{\"id\": 1,\t\"channel\": \"c\", \"timestamp\": 1, \"text\": \"tab between\"}",
            r#"{"id": 1, "channel": "c", "timestamp": 1, "text": "x"} trailing"#,
            r#"{"id": 1, "channel": "c", "timestamp": 1, "text": "x",}"#,
            r#"{"id": 1, "channel": "c", "timestamp": 1, "text": "x""#,
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    /// A JSON string with escapes, some of which the fast reader declines and some of which are wrong.
    fn string() -> impl Strategy<Value = String> + Clone {
        proptest::collection::vec(
            prop_oneof![
                12 => "[a-zA-Z0-9 ]{1,4}",
                4 => "[\u{0600}-\u{06FF}\u{200C}]{1,3}",
                1 => proptest::sample::select(vec![
                    "\\\"", "\\\\", "\\/", "\\n", "\\u0041", "\\u06cc", "\\ud83d\\ude00", "\\ud83d", "\\x", "\t",
                    "\\",
                ])
                .prop_map(str::to_owned),
            ],
            0..5,
        )
        .prop_map(|parts| format!("\"{}\"", parts.concat()))
    }

    /// A JSON value, mostly of the kinds the fast reader takes, some of the kinds it declines or that are wrong.
    fn value() -> impl Strategy<Value = String> {
        let string = string();
        let scalar = prop_oneof![
            4 => string.clone(),
            2 => "-?[0-9]{1,20}",
            1 => "-?[0-9]{1,3}\\.[0-9]{1,2}",
            1 => "[0-9]e[0-9]",
            1 => prop_oneof![Just("null"), Just("true"), Just("false"), Just("nul"), Just("{}"), Just("{\"a\":1}")]
                .prop_map(str::to_owned),
            1 => "\"(2024-01-0[1-9]T00:00:00Z|17040672[0-9]{2}|soon)\"",
        ];
        prop_oneof![
            6 => scalar,
            1 => proptest::collection::vec(string, 0..3).prop_map(|items| format!("[{}]", items.join(","))),
            1 => Just("[1]".to_owned()),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        // An audience figure, now and then: a count, null, or one both readers refuse (negative, text).
        let figure = proptest::option::weighted(
            0.3,
            (
                proptest::sample::select(vec!["views", "likes", "shares", "replies", "quotes", "reactions"]),
                prop_oneof![
                    6 => "0|[1-9][0-9]{0,6}",
                    1 => Just("null".to_owned()),
                    1 => Just("-3".to_owned()),
                    1 => Just("\"12\"".to_owned()),
                ],
            ),
        );
        let key = prop_oneof![
            proptest::sample::select(vec![
                "id",
                "channel",
                "author",
                "timestamp",
                "text",
                "platform",
                "channel_name",
                "author_name",
                "urls",
                "hashtags",
                "mentions",
                "forwarded_from",
                "reply_to",
                "repost_of",
                "quote_of",
                "edited",
                "lang",
                "lang",
                "lang",
                "\\u0069d",
            ])
            .prop_map(str::to_owned),
        ];
        // White space between tokens: JSON's four kinds (the reader declines the control characters among them)
        // and one that is not JSON's.
        let pad = proptest::sample::select(vec!["", "", "", " ", " ", " ", "\t", "\r\n", "\u{a0}"]);
        let space = proptest::sample::select(vec!["", " ", "  "]);
        let required = ("[0-9]{1,6}", "\"[a-z0-9]{1,4}\"", "1704067[0-9]{3}", string());
        (required, proptest::collection::vec((key, value(), space), 0..4), figure, pad, any::<u8>()).prop_map(
            |((id, channel, ts, text), extra, figure, pad, cut)| {
                let mut members = vec![
                    format!("\"id\":{id}"),
                    format!("\"channel\":{channel}"),
                    format!("\"timestamp\":{ts}"),
                    format!("\"text\":{text}"),
                ];
                members.extend(extra.into_iter().map(|(k, v, s)| format!("\"{k}\"{s}:{s}{v}")));
                members.extend(figure.map(|(k, v)| format!("\"{k}\":{v}")));
                // Rotate so the required fields are not always first.
                let turn = cut as usize % members.len();
                members.rotate_left(turn);
                let mut json = format!("{pad}{{{}}}{pad}", members.join(&format!(",{pad}")));
                // Now and then a line cut short.
                if cut > 240 {
                    let mut at = json.len() * usize::from(cut - 240) / 16;
                    while !json.is_char_boundary(at) {
                        at -= 1;
                    }
                    json.truncate(at);
                }
                json
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Whatever the fast reader reads, serde_json reads the same.
        #[test]
        fn reads_what_serde_reads(json in line()) {
            if let Some(fast) = parse(&json) {
                prop_assert_eq!(Some(fast), serde(&json), "{}", json);
            }
        }
    }

    /// The property above is not vacuous: on lines of the common shape the fast reader reads most of them.
    #[test]
    fn reads_most_generated_lines() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut read, mut serde_read) = (0, 0);
        for _ in 0..2000 {
            let json = line().new_tree(&mut runner).unwrap().current();
            read += usize::from(parse(&json).is_some());
            serde_read += usize::from(serde(&json).is_some());
        }
        assert!(read * 10 > serde_read * 6, "fast {read} of serde's {serde_read}");
        assert!(read > 300, "{read} of 2000");
    }
}
