//! The echolens message model: one row per message, whatever the platform.
//!
//! Readers in `echolens-ingest` produce [`Message`]s; the store in `echolens-store` turns them into Arrow rows of
//! the schema documented in DESIGN.md. Nothing here does I/O.
//!
//! ```
//! use echolens_model::{Message, message_key};
//! let key = message_key("telegram", "1292077344", "17");
//! assert_eq!(key, "telegram:1292077344:17");
//! let m = Message { platform: "telegram".into(), channel_id: "1292077344".into(), message_id: "17".into(),
//!                   ..Message::default() };
//! assert_eq!(m.key(), key);
//! ```
#![deny(missing_docs)]

/// Microseconds since the Unix epoch, UTC.
pub type TimestampUs = i64;

/// One message, normalised for matching, with its provenance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// `telegram`, `x`, `instagram`, `generic`, ...
    pub platform: String,
    /// Chat/channel id, or on X the author's timeline (the author id).
    pub channel_id: String,
    /// Display name of the channel, where the source gives one.
    pub channel_name: Option<String>,
    /// Message id as the source gives it, unique within its channel.
    pub message_id: String,
    /// Account id of the author (`from_id` on Telegram, user id on X); `None` for anonymous channel posts.
    pub author_id: Option<String>,
    /// Display name or screen name of the author.
    pub author_name: Option<String>,
    /// When the message was posted.
    pub ts: TimestampUs,
    /// `false` where the source gave a local wall-clock time with an unknown offset (read as if UTC).
    pub ts_exact: bool,
    /// When the message was last edited, where the source says so. A newer edit replaces a stored message.
    pub edited: Option<TimestampUs>,
    /// The text as written (Telegram entity arrays flattened).
    pub text: String,
    /// The text normalised for matching (see `echolens-text`).
    pub text_norm: String,
    /// Normalised URLs (scheme and host lowercased, tracking parameters and fragments dropped).
    pub urls: Vec<String>,
    /// Hashtags without `#`, normalised.
    pub hashtags: Vec<String>,
    /// Mentioned account names without `@`, lowercased.
    pub mentions: Vec<String>,
    /// The source a forward came from, as the source names it.
    pub forwarded_from: Option<String>,
    /// The message this one replies to, as the source names it.
    pub reply_to: Option<String>,
    /// The message this one reposts (a retweet's original), as the source names it.
    pub repost_of: Option<String>,
    /// The file the record came from.
    pub source_file: String,
    /// The record's number within its file (1-based: a line for JSONL/CSV, an element for JSON arrays).
    pub source_record: u64,
    /// The message this one quotes (an X quote tweet's original), as the source names it: the quote has a
    /// text of its own, and is an original too.
    pub quote_of: Option<String>,
    /// When the record was captured, where a collector says so (Zeeschuimer's `timestamp_collected`): never the
    /// post's time.
    pub collected_at: Option<TimestampUs>,
    /// The post's signature, where a channel signs its posts (Telegram's `author`): a person's name, kept in
    /// the store for the user's own queries and written by no analysis.
    pub signature: Option<String>,
    /// The bot a message was sent through (Telegram's `via_bot`), without `@`.
    pub via_bot: Option<String>,
    /// The audience figures the source states, as of when it was captured.
    pub engagement: Engagement,
}

/// The audience figures a source states for a message, as of its capture: `None` where the source does not
/// give one (never zero for "not stated"). The same name means the same act on every platform; figures of
/// different platforms are still not comparable (a Telegram view is not a TikTok play), and echolens never adds
/// them up across platforms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Engagement {
    /// Views, plays or impressions (Telegram `views`, TikTok `playCount`, Instagram plays, X impressions).
    pub views: Option<i64>,
    /// Likes (X `like_count`, Instagram `like_count`, TikTok `diggCount`).
    pub likes: Option<i64>,
    /// Shares: reposts and forwards (X `retweet_count`, Telegram `forwards`, TikTok `shareCount`).
    pub shares: Option<i64>,
    /// Replies and comments (X `reply_count`, Telegram `replies`, Instagram `comment_count`, TikTok
    /// `commentCount`).
    pub replies: Option<i64>,
    /// Quotes (X `quote_count`).
    pub quotes: Option<i64>,
    /// Reactions of every kind, added up (Telegram's reactions).
    pub reactions: Option<i64>,
}

impl Engagement {
    /// The figures by column name, in the store's order.
    pub fn named(&self) -> [(&'static str, Option<i64>); 6] {
        [
            ("views", self.views),
            ("likes", self.likes),
            ("shares", self.shares),
            ("replies", self.replies),
            ("quotes", self.quotes),
            ("reactions", self.reactions),
        ]
    }

    /// Whether the source stated no figure at all.
    pub fn is_empty(&self) -> bool {
        self.named().iter().all(|(_, v)| v.is_none())
    }
}

/// The engagement columns of the store, in order.
pub const ENGAGEMENT_COLUMNS: [&str; 6] = ["views", "likes", "shares", "replies", "quotes", "reactions"];

impl Message {
    /// The upsert key: `platform:channel_id:message_id`.
    pub fn key(&self) -> String {
        message_key(&self.platform, &self.channel_id, &self.message_id)
    }

    /// The account as analyses name it: `platform:author_id`, so accounts of different platforms never merge.
    pub fn account(&self) -> Option<String> {
        self.author_id.as_ref().map(|a| format!("{}:{}", self.platform, a))
    }
}

/// A [`Message`] borrowed from wherever its fields are: a reader's parsed record and scratch buffers. The store's
/// row builder takes one, so a message read from JSONL reaches its columns without being copied into a
/// `Message` first.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(missing_docs)] // The fields are those of `Message`.
pub struct MessageView<'a> {
    pub platform: &'a str,
    pub channel_id: &'a str,
    pub channel_name: Option<&'a str>,
    pub message_id: &'a str,
    pub author_id: Option<&'a str>,
    pub author_name: Option<&'a str>,
    pub ts: TimestampUs,
    pub ts_exact: bool,
    pub edited: Option<TimestampUs>,
    pub text: &'a str,
    pub text_norm: &'a str,
    pub urls: &'a [String],
    pub hashtags: &'a [String],
    pub mentions: &'a [String],
    pub forwarded_from: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub repost_of: Option<&'a str>,
    pub source_file: &'a str,
    pub source_record: u64,
    pub quote_of: Option<&'a str>,
    pub collected_at: Option<TimestampUs>,
    pub signature: Option<&'a str>,
    pub via_bot: Option<&'a str>,
    pub engagement: Engagement,
}

impl Message {
    /// The message as a [`MessageView`].
    pub fn view(&self) -> MessageView<'_> {
        MessageView {
            platform: &self.platform,
            channel_id: &self.channel_id,
            channel_name: self.channel_name.as_deref(),
            message_id: &self.message_id,
            author_id: self.author_id.as_deref(),
            author_name: self.author_name.as_deref(),
            ts: self.ts,
            ts_exact: self.ts_exact,
            edited: self.edited,
            text: &self.text,
            text_norm: &self.text_norm,
            urls: &self.urls,
            hashtags: &self.hashtags,
            mentions: &self.mentions,
            forwarded_from: self.forwarded_from.as_deref(),
            reply_to: self.reply_to.as_deref(),
            repost_of: self.repost_of.as_deref(),
            source_file: &self.source_file,
            source_record: self.source_record,
            quote_of: self.quote_of.as_deref(),
            collected_at: self.collected_at,
            signature: self.signature.as_deref(),
            via_bot: self.via_bot.as_deref(),
            engagement: self.engagement,
        }
    }
}

impl MessageView<'_> {
    /// An owned copy.
    pub fn to_message(&self) -> Message {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        Message {
            platform: self.platform.to_owned(),
            channel_id: self.channel_id.to_owned(),
            channel_name: owned(self.channel_name),
            message_id: self.message_id.to_owned(),
            author_id: owned(self.author_id),
            author_name: owned(self.author_name),
            ts: self.ts,
            ts_exact: self.ts_exact,
            edited: self.edited,
            text: self.text.to_owned(),
            text_norm: self.text_norm.to_owned(),
            urls: self.urls.to_vec(),
            hashtags: self.hashtags.to_vec(),
            mentions: self.mentions.to_vec(),
            forwarded_from: owned(self.forwarded_from),
            reply_to: owned(self.reply_to),
            repost_of: owned(self.repost_of),
            source_file: self.source_file.to_owned(),
            source_record: self.source_record,
            quote_of: owned(self.quote_of),
            collected_at: self.collected_at,
            signature: owned(self.signature),
            via_bot: owned(self.via_bot),
            engagement: self.engagement,
        }
    }
}

/// Build a message key from its parts.
pub fn message_key(platform: &str, channel_id: &str, message_id: &str) -> String {
    let mut key = String::with_capacity(platform.len() + channel_id.len() + message_id.len() + 2);
    push_message_key(&mut key, platform, channel_id, message_id).expect("writing to a String cannot fail");
    key
}

/// [`message_key`] written to `out` (a reused `String`, an Arrow string builder), without an allocation of its own.
pub fn push_message_key<W: std::fmt::Write>(
    out: &mut W,
    platform: &str,
    channel_id: &str,
    message_id: &str,
) -> std::fmt::Result {
    out.write_str(platform)?;
    out.write_char(':')?;
    out.write_str(channel_id)?;
    out.write_char(':')?;
    out.write_str(message_id)
}

/// What an export says about the account behind a message (X information-operations archives carry it on every
/// tweet, and in a file of their own): facts as the export states them, never inferred.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountSeen {
    /// As [`Message::platform`].
    pub platform: String,
    /// As [`Message::author_id`].
    pub author_id: String,
    /// The time of the message it came with (µs), or `None` from an accounts file: the latest says the
    /// follower counts.
    pub at: Option<i64>,
    /// When the account was created (µs).
    pub created: Option<i64>,
    /// Followers, as of `at`.
    pub followers: Option<i64>,
    /// Accounts followed, as of `at`.
    pub following: Option<i64>,
    /// The app the message was posted with (`tweet_client_name`).
    pub client: Option<String>,
    /// The location the account states.
    pub location: Option<String>,
    /// The account's interface language.
    pub language: Option<String>,
    /// The file it was read from.
    pub source_file: String,
}

impl AccountSeen {
    /// Whether it says nothing beyond whose it is.
    pub fn is_empty(&self) -> bool {
        self.created.is_none()
            && self.followers.is_none()
            && self.following.is_none()
            && self.client.is_none()
            && self.location.is_none()
            && self.language.is_none()
    }
}

/// A record that could not be read, kept with the reason instead of stopping the import.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quarantined {
    /// The file the record came from.
    pub source_file: String,
    /// The record's number within its file (1-based); 0 when the whole rest of a file could not be read.
    pub source_record: u64,
    /// The reader that was used.
    pub format: String,
    /// What was expected and what was found.
    pub reason: String,
    /// The raw record, truncated to [`RAW_LIMIT`] bytes.
    pub raw: String,
}

/// How much of a quarantined record's raw text is kept.
pub const RAW_LIMIT: usize = 2048;

/// Truncate `s` to at most `limit` bytes on a character boundary.
pub fn truncate_utf8(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A path as text that tells apart paths that differ only in bytes that are not UTF-8: those are written as
/// `\xNN` (a lossy conversion would make them all U+FFFD, and two files one).
pub fn path_text(path: &std::path::Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Microseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(us: i64) -> String {
    let micros = us.rem_euclid(1_000_000);
    let base = rfc3339_seconds(us.div_euclid(1_000_000));
    if micros == 0 { format!("{base}Z") } else { format!("{base}.{micros:06}Z") }
}

/// Seconds since the epoch as an RFC 3339 UTC date and time, without fraction or zone.
pub fn rfc3339_seconds(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_674_783_830_000_000), "2023-01-27T01:43:50Z");
        assert_eq!(rfc3339(1_606_451_170_518_101), "2020-11-27T04:26:10.518101Z");
        assert_eq!(rfc3339(-1_000_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_view_copies_back_to_the_same_message() {
        let m = Message {
            platform: "telegram".into(),
            channel_id: "c".into(),
            channel_name: Some("name".into()),
            message_id: "7".into(),
            author_id: Some("a".into()),
            ts: 5,
            ts_exact: true,
            edited: Some(9),
            text: "Text".into(),
            text_norm: "text".into(),
            urls: vec!["https://x.io/".into()],
            hashtags: vec!["tag".into()],
            mentions: vec!["who".into()],
            repost_of: Some("3".into()),
            source_file: "f.jsonl".into(),
            source_record: 2,
            quote_of: Some("4".into()),
            collected_at: Some(11),
            signature: Some("Ed".into()),
            via_bot: Some("bot".into()),
            ..Message::default()
        };
        assert_eq!(m.view().to_message(), m);
    }

    #[test]
    fn account_is_platform_qualified() {
        let m = Message { platform: "x".into(), author_id: Some("42".into()), ..Message::default() };
        assert_eq!(m.account().as_deref(), Some("x:42"));
        let anon = Message { platform: "telegram".into(), ..Message::default() };
        assert_eq!(anon.account(), None);
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        let s = "سلام دنیا";
        for limit in 0..s.len() + 2 {
            let t = truncate_utf8(s, limit);
            assert!(t.len() <= limit);
            assert!(s.starts_with(t));
        }
    }
}
