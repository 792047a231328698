//! Streaming readers for the exports people actually hold.
//!
//! Each reader turns one file into [`RawMessage`]s, [`Quarantined`] records (with the reason) and skipped
//! service messages, through a [`Sink`]; nothing is buffered beyond one record, or one chunk for the formats read
//! in chunks (a Telegram chat whose id comes after its messages is the one exception). [`RawMessage::finish`]
//! normalises a message; callers run it in parallel. JSONL, twarc and Telegram files can instead be cut into
//! [`Chunk`]s ([`read_chunks`]) that are parsed in parallel ([`parse_chunk`]).
//!
//! Formats are recognised by content ([`detect`]), not by file name:
//!
//! | [`Format`] | what |
//! |---|---|
//! | `telegram` | Telegram Desktop JSON: single-chat `result.json` and the full-account export |
//! | `jsonl` | the echolens JSONL of DESIGN.md |
//! | `x-archive` | X/Twitter information-operations archive CSV |
//! | `toolkit-csv` | coordination-network-toolkit CSV |
//! | `twarc` | X API v2 JSONL as twarc2 writes it (pages or flattened) |
//! | `telethon-json` | JSON arrays of Telethon-derived messages (`message_id`, `sender_id`, `date`, `text`) |
#![deny(missing_docs)]

mod error;
mod escape;
mod formats;
mod raw;
mod time;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use echolens_model::{AccountSeen, Message, Quarantined};
pub use error::{Error, Result};
pub use raw::{Normalised, RawMessage, RawView};

/// The export formats echolens reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Telegram Desktop JSON export.
    Telegram,
    /// echolens JSONL.
    Jsonl,
    /// X/Twitter information-operations archive CSV.
    XArchive,
    /// coordination-network-toolkit CSV.
    ToolkitCsv,
    /// X API v2 JSONL (twarc2).
    Twarc,
    /// Telethon-derived JSON array.
    TelethonJson,
    /// Zeeschuimer NDJSON (Instagram, TikTok, X captures), or 4CAT's re-download of it.
    Zeeschuimer,
    /// 4CAT's Telegram NDJSON (serialised Telethon messages).
    FourCatTelegram,
    /// Telegram Desktop's HTML export (`messages.html`, `messages2.html`, …).
    TelegramHtml,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Format; 9] = [
        Format::Telegram,
        Format::Jsonl,
        Format::XArchive,
        Format::ToolkitCsv,
        Format::Twarc,
        Format::TelethonJson,
        Format::Zeeschuimer,
        Format::FourCatTelegram,
        Format::TelegramHtml,
    ];

    /// The name used on the command line and in the quarantine.
    pub fn name(self) -> &'static str {
        match self {
            Format::Telegram => "telegram",
            Format::Jsonl => "jsonl",
            Format::XArchive => "x-archive",
            Format::ToolkitCsv => "toolkit-csv",
            Format::Twarc => "twarc",
            Format::TelethonJson => "telethon-json",
            Format::Zeeschuimer => "zeeschuimer",
            Format::FourCatTelegram => "4cat-telegram",
            Format::TelegramHtml => "telegram-html",
        }
    }

    /// Parse a format name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Reads one line of a one-record-per-line format, given its number and its bytes (used inside this crate).
#[derive(Clone, Copy)]
pub struct LineReader(pub(crate) fn(u64, &[u8], &FileCtx<'_>, &mut dyn Sink));

/// How a format's files are read: the one place that says it, so that no caller asks a yes-or-no question
/// about a format and then hopes the answer holds.
#[derive(Clone, Copy)]
pub enum Reader {
    /// One record per line: files are cut into [`LineChunk`]s parsed in parallel, each line read alone by the
    /// given function.
    Lines(LineReader),
    /// Telegram Desktop exports: scanned into runs of messages parsed in parallel.
    TelegramChunks,
    /// The whole file on the reader thread (CSV, JSON arrays).
    Whole,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reader::Lines(_) => "Lines",
            Reader::TelegramChunks => "TelegramChunks",
            Reader::Whole => "Whole",
        })
    }
}

impl Format {
    /// How the format's files are read.
    pub fn reader(self) -> Reader {
        match self {
            Format::Jsonl => Reader::Lines(LineReader(formats::jsonl::read_line)),
            Format::Twarc => Reader::Lines(LineReader(formats::twarc::read_line)),
            Format::Zeeschuimer => Reader::Lines(LineReader(formats::zeeschuimer::read_line)),
            Format::FourCatTelegram => Reader::Lines(LineReader(formats::fourcat_telegram::read_line)),
            Format::Telegram => Reader::TelegramChunks,
            Format::XArchive | Format::ToolkitCsv | Format::TelethonJson | Format::TelegramHtml => Reader::Whole,
        }
    }

    /// Whether [`read_chunks`] cuts the format's files into chunks parsed in parallel ([`parse_chunk`]).
    pub fn reads_in_chunks(self) -> bool {
        !matches!(self.reader(), Reader::Whole)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a reader sends what it read.
pub trait Sink {
    /// A message, not yet normalised.
    fn message(&mut self, message: RawMessage);
    /// A message borrowed from the record being read. The default hands an owned copy to [`Sink::message`].
    fn message_view(&mut self, message: RawView<'_>) {
        self.message(message.to_raw_message());
    }
    /// What the export says about a message's account (see [`AccountSeen`]); not a record of its own.
    fn account(&mut self, _account: AccountSeen) {}
    /// A record that could not be read.
    fn quarantine(&mut self, record: Quarantined);
    /// A record that is not a message (a Telegram service message, say); `what` names the kind.
    fn skip(&mut self, what: &'static str);
    /// Something the user should know about a file, said once per file.
    fn warn(&mut self, warning: String);
}

/// Options that apply to every reader.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Platform for formats that do not say (JSONL without `platform`, toolkit CSV); `generic` when `None`.
    pub platform: Option<String>,
    /// Bytes read so far, shared with a progress bar.
    pub bytes_read: Option<Arc<AtomicU64>>,
    /// The times a message may carry; a message dated (or edited) outside is quarantined.
    pub times: TimeRange,
    /// The UTC offset, in seconds east, of the machine that wrote an older Telegram Desktop export (local
    /// times without `date_unixtime`): with it those times are exact; without, they are kept as if UTC and
    /// marked inexact.
    pub utc_offset: Option<i32>,
}

/// Parse a UTC offset `+03:30`, `-05:00`, `+0330`, `Z` into seconds east.
pub fn parse_utc_offset(s: &str) -> std::result::Result<i32, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("z") || t == "0" {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(format!("{s:?}: expected an offset like +03:30 or -05:00")),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (&digits[..2], "00"),
        4 => (&digits[..2], &digits[2..]),
        _ => return Err(format!("{s:?}: expected an offset like +03:30 or -05:00")),
    };
    let (h, m): (i32, i32) = match (h.parse(), m.parse()) {
        (Ok(h), Ok(m)) if h <= 14 && m < 60 => (h, m),
        _ => return Err(format!("{s:?}: expected hours up to 14 and minutes under 60")),
    };
    Ok(sign * (h * 3600 + m * 60))
}

/// The times a message may plausibly carry, inclusive, in microseconds since the epoch. A time outside is a
/// mistake of the export (milliseconds written where seconds belong, a zero, a year typed wrong), and kept it
/// would stretch every time series over centuries: such a message is quarantined with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// The earliest time accepted.
    pub earliest: echolens_model::TimestampUs,
    /// The latest time accepted.
    pub latest: echolens_model::TimestampUs,
}

impl TimeRange {
    /// 1990-01-01T00:00:00Z: older than any social-media platform.
    pub const DEFAULT_EARLIEST: echolens_model::TimestampUs = 631_152_000_000_000;

    /// From 1990 to a day after now (clocks and time zones differ; more is the future).
    pub fn until_tomorrow() -> TimeRange {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        TimeRange { earliest: TimeRange::DEFAULT_EARLIEST, latest: now.saturating_add(86_400_000_000) }
    }

    /// Whether `ts` is in the range.
    pub fn contains(&self, ts: echolens_model::TimestampUs) -> bool {
        (self.earliest..=self.latest).contains(&ts)
    }

    /// Why `ts` (the time of `what`) is refused: the range, and what the number would be as milliseconds or
    /// microseconds when that falls in the range.
    fn refusal(&self, what: &str, ts: echolens_model::TimestampUs) -> String {
        let shown = echolens_model::rfc3339(ts);
        let mut reason = format!(
            "implausible {what}: {shown} is outside {} … {} (--time-range widens it)",
            echolens_model::rfc3339(self.earliest),
            echolens_model::rfc3339(self.latest)
        );
        for (unit, divisor) in [("milliseconds", 1_000), ("microseconds", 1_000_000)] {
            if self.contains(ts / divisor) {
                let as_unit = echolens_model::rfc3339(ts / divisor);
                reason.push_str(&format!("; it looks like {unit} since 1970 written as seconds ({as_unit})"));
                break;
            }
        }
        reason
    }
}

impl TimeRange {
    /// Every time: for readers' tests about something else than dates.
    #[cfg(test)]
    pub(crate) const ALL: TimeRange = TimeRange { earliest: i64::MIN, latest: i64::MAX };
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange::until_tomorrow()
    }
}

impl std::str::FromStr for TimeRange {
    type Err = String;

    /// `FROM..TO`, each a date (`2010-01-01`, its start; for TO, its end) or an RFC 3339 time; either side may be
    /// left empty for its default (1990-01-01, a day after now).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (from, to) =
            s.split_once("..").ok_or_else(|| format!("expected FROM..TO (e.g. 1980-01-01..), got {s:?}"))?;
        let default = TimeRange::until_tomorrow();
        let bound = |text: &str, end: bool, default: i64| -> Result<i64, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(default);
            }
            if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                let start = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_micros();
                return Ok(if end { start + 86_400_000_000 - 1 } else { start });
            }
            time::from_rfc3339(text)
                .ok_or_else(|| format!("{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
        };
        let range =
            TimeRange { earliest: bound(from, false, default.earliest)?, latest: bound(to, true, default.latest)? };
        if range.earliest > range.latest {
            return Err(format!("{s:?}: the range ends before it starts"));
        }
        Ok(range)
    }
}

/// What one file held, by the numbers. `records == messages + quarantined + skipped`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Records read (messages, quarantined records and skipped records).
    pub records: u64,
    /// Messages passed on.
    pub messages: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// Records skipped, such as service messages.
    pub skipped: u64,
}

impl std::ops::AddAssign<&FileCounts> for FileCounts {
    fn add_assign(&mut self, other: &FileCounts) {
        self.records += other.records;
        self.messages += other.messages;
        self.quarantined += other.quarantined;
        self.skipped += other.skipped;
    }
}

/// A sink that counts what passes through it before handing it on, and quarantines messages whose time is
/// outside the file's [`TimeRange`].
struct Counting<'a, 'c, S: Sink + ?Sized> {
    inner: &'a mut S,
    ctx: &'c FileCtx<'c>,
    counts: FileCounts,
}

impl<'a, 'c, S: Sink + ?Sized> Counting<'a, 'c, S> {
    fn new(inner: &'a mut S, ctx: &'c FileCtx<'c>) -> Self {
        Counting { inner, ctx, counts: FileCounts::default() }
    }

    /// The quarantine record of a message whose time or edit time is out of range, if it is.
    fn out_of_range(&self, m: &echolens_model::MessageView<'_>) -> Option<Quarantined> {
        let times = &self.ctx.options.times;
        let reason = if !times.contains(m.ts) {
            times.refusal("time", m.ts)
        } else {
            match m.edited {
                Some(edited) if !times.contains(edited) => times.refusal("edit time", edited),
                _ => return None,
            }
        };
        let raw = serde_json::json!({
            "key": echolens_model::message_key(m.platform, m.channel_id, m.message_id),
            "ts_us": m.ts,
            "edited_us": m.edited,
            "text": echolens_model::truncate_utf8(m.text, 500),
        });
        Some(self.ctx.quarantined(m.source_record, reason, &raw.to_string()))
    }
}

impl<S: Sink + ?Sized> Sink for Counting<'_, '_, S> {
    fn message(&mut self, message: RawMessage) {
        if let Some(q) = self.out_of_range(&message.message.view()) {
            return self.quarantine(q);
        }
        self.counts.records += 1;
        self.counts.messages += 1;
        self.inner.message(message);
    }
    fn message_view(&mut self, message: RawView<'_>) {
        if let Some(q) = self.out_of_range(&message.message) {
            return self.quarantine(q);
        }
        self.counts.records += 1;
        self.counts.messages += 1;
        self.inner.message_view(message);
    }
    fn account(&mut self, account: AccountSeen) {
        self.inner.account(account);
    }
    fn quarantine(&mut self, record: Quarantined) {
        self.counts.records += 1;
        self.counts.quarantined += 1;
        self.inner.quarantine(record);
    }
    fn skip(&mut self, what: &'static str) {
        self.counts.records += 1;
        self.counts.skipped += 1;
        self.inner.skip(what);
    }
    fn warn(&mut self, warning: String) {
        self.inner.warn(warning);
    }
}

/// How many bytes of a file [`detect`] looks at.
const SNIFF_BYTES: usize = 64 * 1024;

/// How many lines of those [`detect`] tries as JSON objects.
const SNIFF_LINES: usize = 64;

/// Recognise a file's format from its first bytes. `None` when it is not an export echolens reads.
pub fn detect(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    let first_line = trimmed.lines().next().unwrap_or("");
    let has = |needle: &str| text.contains(needle);
    if formats::telegram_html::looks_like(trimmed) {
        return Some(Format::TelegramHtml);
    }
    if trimmed.starts_with('[') {
        return (has("\"message_id\"") && has("\"date\"")).then_some(Format::TelethonJson);
    }
    if trimmed.starts_with('{') {
        // Zeeschuimer's envelope, or 4CAT's re-download with the envelope under `__import_meta`.
        if has("\"source_platform\"") && (has("\"data\"") || has("\"__import_meta\"")) {
            return Some(Format::Zeeschuimer);
        }
        // Serialised Telethon messages, as 4CAT writes its Telegram datasets.
        if has("\"_type\"") && (has("\"peer_id\"") || has("\"_chat\"")) && has("\"Message") {
            return Some(Format::FourCatTelegram);
        }
        if has("\"__twarc\"") || has("\"edit_history_tweet_ids\"") || (has("\"author_id\"") && has("\"created_at\"")) {
            return Some(Format::Twarc);
        }
        // Whole lines that are objects, up to SNIFF_LINES of them: a bad first line does not decide the file,
        // and an export written on one line is an object with `messages` or `chats`.
        for line in trimmed.lines().take(SNIFF_LINES) {
            let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if object.contains_key("channel") && object.contains_key("timestamp") {
                return Some(Format::Jsonl);
            }
            let is = |key: &str, f: fn(&serde_json::Value) -> bool| object.get(key).is_some_and(f);
            if is("messages", serde_json::Value::is_array)
                || is("chats", serde_json::Value::is_object)
                || is("left_chats", serde_json::Value::is_object)
            {
                return Some(Format::Telegram);
            }
        }
        // A long first line cut by the sniff window: decide by keys.
        if !trimmed.contains('\n') && has("\"channel\"") && has("\"timestamp\"") {
            return Some(Format::Jsonl);
        }
        if has_array_key(&text, "messages") || has_object_key(&text, "chats") || has_object_key(&text, "left_chats") {
            return Some(Format::Telegram);
        }
        return None;
    }
    let header: Vec<String> =
        first_line.split(',').map(|h| h.trim().trim_matches('"').trim().to_ascii_lowercase()).collect();
    let col = |name: &str| header.iter().any(|h| h == name);
    if col("tweetid") && col("tweet_time") {
        return Some(Format::XArchive);
    }
    // An information-operations release's accounts file.
    if col("userid") && col("account_creation_date") && !col("tweetid") {
        return Some(Format::XArchive);
    }
    if (col("message_id") || col("tweet_id")) && col("user_id") && header.len() >= 4 {
        return Some(Format::ToolkitCsv);
    }
    None
}

/// `"key"` followed by `:` and an opening `[`.
fn has_array_key(text: &str, key: &str) -> bool {
    key_followed_by(text, key, '[')
}

/// `"key"` followed by `:` and an opening `{`.
fn has_object_key(text: &str, key: &str) -> bool {
    key_followed_by(text, key, '{')
}

fn key_followed_by(text: &str, key: &str, open: char) -> bool {
    let quoted = format!("\"{key}\"");
    text.match_indices(&quoted).any(|(i, _)| {
        let rest = text[i + quoted.len()..].trim_start();
        rest.strip_prefix(':').is_some_and(|r| r.trim_start().starts_with(open))
    })
}

/// Read the first bytes of `path` and recognise its format.
pub fn detect_file(path: &Path) -> Result<Option<Format>> {
    let mut file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let mut head = vec![0u8; SNIFF_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..]).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok(detect(&head))
}

/// What [`expand_paths`] found: the files to read, and the entries passed over, each with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// Regular files, as given or found in folders, in name order.
    pub files: Vec<PathBuf>,
    /// Entries not read: special files (pipes, sockets, devices), broken links and link loops, links that lead
    /// out of the folder given.
    pub passed_over: Vec<(PathBuf, String)>,
}

/// The files under `paths`: files as given, folders walked recursively in name order. Hidden entries are
/// skipped. Inside a folder, a symbolic link is followed only to a file or folder inside that same folder (a
/// link out of it, a broken link or a loop is passed over and reported), and only regular files are read: a
/// named pipe would block the import and a device never end. A path given that does not exist is an error.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Expanded> {
    let mut out = Expanded::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        if meta.is_dir() {
            let root = std::fs::canonicalize(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
            let mut seen = std::collections::HashSet::from([root.clone()]);
            walk(path, &root, &mut seen, &mut out)?;
        } else if meta.is_file() {
            out.files.push(path.to_owned());
        } else {
            out.passed_over.push((path.to_owned(), special(&meta)));
        }
    }
    Ok(out)
}

fn special(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        let what = if t.is_fifo() {
            "a named pipe"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_block_device() || t.is_char_device() {
            "a device"
        } else {
            "a special file"
        };
        format!("not a regular file ({what})")
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        "not a regular file".to_owned()
    }
}

fn walk(dir: &Path, root: &Path, seen: &mut std::collections::HashSet<PathBuf>, out: &mut Expanded) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io { path: dir.to_owned(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    entries.sort();
    for entry in entries {
        let Ok(link_meta) = std::fs::symlink_metadata(&entry) else { continue };
        let meta = if link_meta.file_type().is_symlink() {
            let target = match std::fs::canonicalize(&entry) {
                Ok(t) => t,
                Err(e) => {
                    out.passed_over.push((entry, format!("a broken link or a link loop ({e})")));
                    continue;
                }
            };
            if !target.starts_with(root) {
                let reason = format!("a link to {}, outside the folder given", target.display());
                out.passed_over.push((entry, reason));
                continue;
            }
            match std::fs::metadata(&entry) {
                Ok(m) => m,
                Err(e) => {
                    out.passed_over.push((entry, format!("a link that cannot be followed ({e})")));
                    continue;
                }
            }
        } else {
            link_meta
        };
        if meta.is_dir() {
            // A folder reached twice (through a link) is walked once: links cannot make a loop.
            let canonical = std::fs::canonicalize(&entry).unwrap_or_else(|_| entry.clone());
            if seen.insert(canonical) {
                walk(&entry, root, seen, out)?;
            }
        } else if meta.is_file() {
            out.files.push(entry);
        } else {
            out.passed_over.push((entry, special(&meta)));
        }
    }
    Ok(())
}

/// A reader that counts the bytes that pass through it.
pub(crate) struct CountingReader<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// What the readers share about the file they are reading.
pub(crate) struct FileCtx<'a> {
    pub path: String,
    pub format: Format,
    pub options: &'a ReadOptions,
}

impl FileCtx<'_> {
    pub(crate) fn quarantined(&self, record: u64, reason: impl Into<String>, raw: &str) -> Quarantined {
        Quarantined {
            source_file: self.path.clone(),
            source_record: record,
            format: self.format.name().to_owned(),
            reason: reason.into(),
            raw: echolens_model::truncate_utf8(raw, echolens_model::RAW_LIMIT).to_owned(),
        }
    }

    pub(crate) fn platform_or<'b>(&'b self, default: &'b str) -> &'b str {
        self.options.platform.as_deref().unwrap_or(default)
    }
}

/// Read one file in the given format into `sink`. Record-level problems go to the sink's quarantine; an error is
/// returned only when the file cannot be opened at all.
pub fn read_file(path: &Path, format: Format, options: &ReadOptions, sink: &mut dyn Sink) -> Result<FileCounts> {
    let reader = open_counted(path, options)?;
    let ctx = FileCtx { path: echolens_model::path_text(path), format, options };
    let mut counting = Counting::new(sink, &ctx);
    read_from(reader, &ctx, &mut counting);
    Ok(counting.counts)
}

/// The file at `path`, buffered, its bytes counted into the progress counter of `options`.
fn open_counted(path: &Path, options: &ReadOptions) -> Result<BufReader<CountingReader<File>>> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    Ok(BufReader::with_capacity(256 * 1024, CountingReader { inner: file, counter: options.bytes_read.clone() }))
}

fn read_from(reader: impl BufRead, ctx: &FileCtx<'_>, sink: &mut dyn Sink) {
    match ctx.format {
        Format::Telegram => formats::telegram::read(reader, ctx, sink),
        Format::Jsonl => formats::jsonl::read(reader, ctx, sink),
        Format::XArchive => formats::x_archive::read(reader, ctx, sink),
        Format::ToolkitCsv => formats::toolkit_csv::read(reader, ctx, sink),
        Format::Twarc => formats::twarc::read(reader, ctx, sink),
        Format::Zeeschuimer => formats::for_each_line(reader, ctx, sink, |n, line, sink| {
            formats::zeeschuimer::read_line(n, line, ctx, sink)
        }),
        Format::FourCatTelegram => formats::for_each_line(reader, ctx, sink, |n, line, sink| {
            formats::fourcat_telegram::read_line(n, line, ctx, sink)
        }),
        Format::TelegramHtml => formats::telegram_html::read(reader, ctx, sink),
        Format::TelethonJson => formats::telethon::read(reader, ctx, sink),
    }
}

/// About how many bytes of whole lines [`read_line_chunks`] puts in a chunk.
pub const LINE_CHUNK_BYTES: usize = 1 << 20;

/// A run of whole lines of one file, in a format read by lines ([`Reader::Lines`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineChunk {
    /// The lines, each ending in `\n` but perhaps the file's last.
    pub bytes: Vec<u8>,
    /// The number (from 1) of the chunk's first line in its file.
    pub first_line: u64,
    /// Lines longer than [`MAX_RECORD_BYTES`], by number: each stands as an empty line in `bytes` and is
    /// quarantined when the chunk is parsed.
    pub too_long: Vec<u64>,
}

/// The longest record a reader takes: a longer line (a file with no line breaks, `/dev/zero`) is quarantined
/// without being held in memory.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Cut the file at `path` into chunks of whole lines of about [`LINE_CHUNK_BYTES`] (a longer line is one chunk)
/// and hand them to `on_chunk` in order; nothing is parsed. `Err` when the file cannot be opened; `Ok(Some(_))`
/// when reading stopped at a read error, with the quarantine record that says so (the lines before it were
/// handed on).
pub fn read_line_chunks(
    path: &Path,
    format: Format,
    options: &ReadOptions,
    on_chunk: impl FnMut(LineChunk),
) -> Result<Option<Quarantined>> {
    read_line_chunks_of(path, format, options, LINE_CHUNK_BYTES, MAX_RECORD_BYTES, on_chunk)
}

/// Read past the rest of an over-long line; what follows its line end is appended to `buf`. `Ok(false)` when the
/// file ended inside the line.
fn skip_line(file: &mut File, buf: &mut Vec<u8>, options: &ReadOptions) -> std::io::Result<bool> {
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut scratch) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(counter) = &options.bytes_read {
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
        if let Some(end) = memchr::memchr(b'\n', &scratch[..n]) {
            buf.extend_from_slice(&scratch[end + 1..n]);
            return Ok(true);
        }
    }
}

fn read_line_chunks_of(
    path: &Path,
    format: Format,
    options: &ReadOptions,
    chunk_bytes: usize,
    max_record: usize,
    mut on_chunk: impl FnMut(LineChunk),
) -> Result<Option<Quarantined>> {
    let mut file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let mut next_line = 1u64;
    // The start of a line that the previous read cut.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        // A buffer holds at most `max_record` bytes unless it holds a line end: a longer line is never whole.
        let mut buf = Vec::with_capacity(chunk_bytes.max((carry.len() * 2).min(max_record)).max(1));
        buf.append(&mut carry);
        let mut eof = false;
        let mut failed = None;
        let mut too_long = Vec::new();
        // Fill the buffer; a buffer without a line end (one long line) grows until it has one, up to
        // MAX_RECORD_BYTES. `read_to_end` reads a `File` into the spare room as it is: zeroing it first (`resize`,
        // then `read`) was 1.3% of ingest's instructions.
        loop {
            if buf.len() == buf.capacity() {
                if memchr::memchr(b'\n', &buf).is_some() {
                    break;
                }
                if buf.len() >= max_record {
                    // All of `buf` is one line (a chunk starts at a line start and has no line end yet): pass
                    // over the rest of it, and stand an empty line in its place.
                    too_long.push(next_line);
                    buf.clear();
                    buf.push(b'\n');
                    match skip_line(&mut file, &mut buf, options) {
                        Ok(true) => {}
                        Ok(false) => {
                            eof = true;
                            break;
                        }
                        Err(err) => {
                            failed = Some(err);
                            break;
                        }
                    }
                    if buf.len() == buf.capacity() {
                        continue;
                    }
                }
                buf.reserve_exact(buf.len().max(1).min(max_record.saturating_sub(buf.len()).max(1)));
            }
            let room = (buf.capacity() - buf.len()) as u64;
            let start = buf.len();
            let read = (&mut file).take(room).read_to_end(&mut buf);
            if let Some(counter) = &options.bytes_read {
                counter.fetch_add((buf.len() - start) as u64, Ordering::Relaxed);
            }
            match read {
                // Short of the room: the file ended.
                Ok(n) if (n as u64) < room => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                // What was read before the error is in `buf`, as `read_to_end` promises.
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let cut = if eof { buf.len() } else { memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1) };
        carry = buf.split_off(cut);
        if !buf.is_empty() {
            let lines = memchr::memchr_iter(b'\n', &buf).count() as u64 + u64::from(buf.last() != Some(&b'\n'));
            on_chunk(LineChunk { bytes: buf, first_line: next_line, too_long });
            next_line += lines;
        }
        if let Some(err) = failed {
            let ctx = FileCtx { path: echolens_model::path_text(path), format, options };
            let reason = format!("read error: {err}; the rest of the file was not read");
            return Ok(Some(ctx.quarantined(next_line, reason, "")));
        }
        if eof {
            return Ok(None);
        }
    }
}

/// Parse one [`LineChunk`] of the file `path` into `sink`: the same records, numbered the same, as
/// [`read_file`] gives for those lines. Chunks of one file can be parsed in any order, on any thread.
pub fn parse_line_chunk(
    chunk: &LineChunk,
    path: &str,
    format: Format,
    options: &ReadOptions,
    sink: &mut dyn Sink,
) -> FileCounts {
    let ctx = FileCtx { path: path.to_owned(), format, options };
    let mut counting = Counting::new(sink, &ctx);
    let Reader::Lines(LineReader(read_line)) = format.reader() else {
        // A chunk of lines handed to a format that is not read by lines: the chunk says so, it is not lost.
        let reason = format!("{format} is not read line by line; these lines were not read");
        counting.quarantine(ctx.quarantined(chunk.first_line, reason, ""));
        return counting.counts;
    };
    let bytes = chunk.bytes.strip_suffix(b"\n").unwrap_or(&chunk.bytes);
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    let mut start = 0;
    for (i, end) in ends.enumerate() {
        let line = formats::record_of(&bytes[start..end]);
        start = end + 1;
        let number = chunk.first_line + i as u64;
        if chunk.too_long.contains(&number) {
            let reason =
                format!("a line longer than {} MiB (a record is at most that): not read", MAX_RECORD_BYTES >> 20);
            counting.quarantine(ctx.quarantined(number, reason, ""));
        } else if !line.is_empty() {
            read_line(number, line, &ctx, &mut counting);
        }
    }
    counting.counts
}

/// A run of messages of a Telegram export, as [`read_chunks`] cuts it: their JSON, not yet parsed.
#[derive(Debug, Clone)]
pub struct TelegramChunk(formats::telegram::MessageChunk);

/// A piece of a file that [`parse_chunk`] parses on its own, on any thread.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Whole lines of a file read by lines.
    Lines(LineChunk),
    /// Messages of a Telegram export.
    Telegram(TelegramChunk),
}

impl Chunk {
    /// The chunk's size in bytes of the file.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Lines(c) => c.bytes.len(),
            Chunk::Telegram(c) => c.0.bytes.len(),
        }
    }

    /// Whether the chunk holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cut the file at `path`, in a format that [`Format::reads_in_chunks`], into [`Chunk`]s handed to `on_chunk` in
/// file order; warnings about the file (a Telegram chat without an id, say) go to `on_warning` as they are
/// found. `Err` when the file cannot be opened; `Ok(Some(_))` when reading stopped early (a read error, a
/// Telegram export whose structure breaks off), with the quarantine record that says so.
pub fn read_chunks(
    path: &Path,
    format: Format,
    options: &ReadOptions,
    mut on_chunk: impl FnMut(Chunk),
    mut on_warning: impl FnMut(String),
) -> Result<Option<Quarantined>> {
    match format.reader() {
        Reader::Lines(_) => return read_line_chunks(path, format, options, |c| on_chunk(Chunk::Lines(c))),
        Reader::TelegramChunks => {}
        Reader::Whole => return Err(Error::NotChunked(format)),
    }
    let reader = open_counted(path, options)?;
    let ctx = FileCtx { path: echolens_model::path_text(path), format, options };
    Ok(formats::telegram::read_chunks(
        reader,
        &ctx,
        &mut |c| on_chunk(Chunk::Telegram(TelegramChunk(c))),
        &mut on_warning,
    ))
}

/// Parse one [`Chunk`] of the file `path` into `sink`: the same records, numbered the same, as [`read_file`]
/// gives for them. Chunks of one file can be parsed in any order, on any thread; a warning that a file gets
/// once may come once per chunk.
pub fn parse_chunk(
    chunk: &Chunk,
    path: &str,
    format: Format,
    options: &ReadOptions,
    sink: &mut dyn Sink,
) -> FileCounts {
    match chunk {
        Chunk::Lines(lines) => parse_line_chunk(lines, path, format, options, sink),
        Chunk::Telegram(TelegramChunk(messages)) => {
            let ctx = FileCtx { path: path.to_owned(), format, options };
            let mut counting = Counting::new(sink, &ctx);
            formats::telegram::parse_chunk(messages, &ctx, &mut counting, &mut std::collections::HashSet::new());
            counting.counts
        }
    }
}

/// Read from memory (tests, fuzzing): the same as [`read_file`] for a file holding `bytes`.
pub fn read_bytes(bytes: &[u8], name: &str, format: Format, options: &ReadOptions, sink: &mut dyn Sink) -> FileCounts {
    let ctx = FileCtx { path: name.to_owned(), format, options };
    let mut counting = Counting::new(sink, &ctx);
    read_from(bytes, &ctx, &mut counting);
    counting.counts
}

/// Read from memory through the chunked path the import takes for formats that [`Format::reads_in_chunks`]
/// (lines cut into chunks of `chunk_bytes`, Telegram exports scanned into message chunks), each chunk parsed
/// with [`parse_chunk`]: for tests and fuzzing, which hold it to [`read_bytes`]. Other formats are read with
/// [`read_bytes`].
pub fn read_bytes_in_chunks(
    bytes: &[u8],
    name: &str,
    format: Format,
    options: &ReadOptions,
    chunk_bytes: usize,
    sink: &mut dyn Sink,
) -> FileCounts {
    let mut counts = FileCounts::default();
    match format.reader() {
        Reader::Lines(_) => {
            let mut first_line = 1;
            let mut start = 0;
            while start < bytes.len() {
                let mut end = (start + chunk_bytes.max(1)).min(bytes.len());
                end = match memchr::memchr(b'\n', &bytes[end.saturating_sub(1)..]) {
                    Some(i) => end - 1 + i + 1,
                    None => bytes.len(),
                };
                let piece = &bytes[start..end];
                let lines = memchr::memchr_iter(b'\n', piece).count() as u64 + u64::from(piece.last() != Some(&b'\n'));
                let chunk = LineChunk { bytes: piece.to_vec(), first_line, too_long: Vec::new() };
                counts += &parse_line_chunk(&chunk, name, format, options, sink);
                first_line += lines;
                start = end;
            }
        }
        Reader::TelegramChunks => {
            let ctx = FileCtx { path: name.to_owned(), format, options };
            let mut chunks = Vec::new();
            let mut warnings = Vec::new();
            let stopped =
                formats::telegram::read_chunks(bytes, &ctx, &mut |c| chunks.push(c), &mut |w| warnings.push(w));
            for w in warnings {
                sink.warn(w);
            }
            for c in chunks {
                counts += &parse_chunk(&Chunk::Telegram(TelegramChunk(c)), name, format, options, sink);
            }
            if let Some(q) = stopped {
                counts.records += 1;
                counts.quarantined += 1;
                sink.quarantine(q);
            }
        }
        _ => counts = read_bytes(bytes, name, format, options, sink),
    }
    counts
}

/// A sink that keeps everything, for tests and small inputs.
#[derive(Debug, Default)]
pub struct Collect {
    /// Messages, normalised.
    pub messages: Vec<Message>,
    /// Quarantined records.
    pub quarantined: Vec<Quarantined>,
    /// What the records said about their accounts.
    pub accounts: Vec<AccountSeen>,
    /// Skipped records by kind.
    pub skipped: Vec<&'static str>,
    /// Warnings.
    pub warnings: Vec<String>,
}

impl Sink for Collect {
    fn message(&mut self, message: RawMessage) {
        self.messages.push(message.finish());
    }
    fn account(&mut self, account: AccountSeen) {
        self.accounts.push(account);
    }
    fn quarantine(&mut self, record: Quarantined) {
        self.quarantined.push(record);
    }
    fn skip(&mut self, what: &'static str) {
        self.skipped.push(what);
    }
    fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every format says how it is read; asking a whole-file format for chunks or lines is an answer, not a
    /// panic, and the lines are quarantined, not lost.
    #[test]
    fn a_format_read_whole_is_not_cut_into_chunks() {
        assert!(Format::Jsonl.reads_in_chunks() && Format::Twarc.reads_in_chunks());
        assert!(Format::Telegram.reads_in_chunks() && !Format::XArchive.reads_in_chunks());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "tweetid,userid,tweet_time\n1,2,2020-01-01 00:00\n").unwrap();
        let got = read_chunks(&path, Format::XArchive, &ReadOptions::default(), |_| {}, |_| {});
        assert!(matches!(got, Err(Error::NotChunked(Format::XArchive))), "{got:?}");
        let chunk = LineChunk { bytes: b"1,2,3\n".to_vec(), first_line: 2, too_long: Vec::new() };
        let mut sink = Collect::default();
        let counts = parse_line_chunk(&chunk, "a.csv", Format::XArchive, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.records, counts.quarantined), (1, 1));
        assert!(sink.quarantined[0].reason.contains("not read line by line"));
    }

    #[test]
    fn detects_by_content() {
        assert_eq!(
            detect(b"{\n \"name\": \"x\",\n \"type\": \"public_channel\",\n \"messages\": ["),
            Some(Format::Telegram)
        );
        assert_eq!(
            detect(b"{\"id\":\"1\",\"channel\":\"c\",\"author\":\"a\",\"timestamp\":1,\"text\":\"\"}\n"),
            Some(Format::Jsonl)
        );
        assert_eq!(
            detect(b"\xEF\xBB\xBFmessage_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"),
            Some(Format::ToolkitCsv)
        );
        assert_eq!(detect(b"\"tweetid\",\"userid\",\"tweet_text\",\"tweet_time\"\n"), Some(Format::XArchive));
        assert_eq!(
            detect(b"{\"data\": [{\"id\": \"1\", \"author_id\": \"2\", \"created_at\": \"x\"}]}\n"),
            Some(Format::Twarc)
        );
        assert_eq!(
            detect(b"[\n {\"message_id\": 1, \"sender_id\": -100, \"date\": \"2024\"}"),
            Some(Format::TelethonJson)
        );
        assert_eq!(
            detect(b"{\"id\": 3, \"source_platform\": \"instagram.com\", \"data\": {\"code\": \"C\"}}\n"),
            Some(Format::Zeeschuimer)
        );
        assert_eq!(
            detect(b"{\"code\": \"C\", \"__import_meta\": {\"source_platform\": \"tiktok.com\"}}\n"),
            Some(Format::Zeeschuimer)
        );
        assert_eq!(
            detect(b"{\"_type\": \"Message\", \"id\": 1, \"peer_id\": {\"_type\": \"PeerChannel\"}}\n"),
            Some(Format::FourCatTelegram)
        );
        assert_eq!(
            detect(b"<!DOCTYPE html>\n<html><body><div class=\"page_wrap\"><div class=\"page_header\">"),
            Some(Format::TelegramHtml)
        );
        assert_eq!(detect(b"<!DOCTYPE html>\n<html><body><p>a web page</p>"), None);
        assert_eq!(detect(b"# a readme\n"), None);
        assert_eq!(detect(b"{\"slug\": \"oop\", \"title\": \"x\"}"), None);
        assert_eq!(detect(b"{\n  \"messages\": 3000,\n  \"seed\": 1\n}"), None);
    }

    /// A bad first line does not decide a line file, and an export written on one line is recognised.
    #[test]
    fn detects_past_a_bad_first_line_and_on_one_line() {
        let jsonl = b"{\"id\": 1, \"chan\n{\"id\":\"2\",\"channel\":\"c\",\"timestamp\":1,\"text\":\"\"}\n";
        assert_eq!(detect(jsonl), Some(Format::Jsonl));
        let one_line =
            br#"{"name": "c", "type": "public_channel", "id": 5, "messages": [{"id": 1, "type": "message"}]}"#;
        assert_eq!(detect(one_line), Some(Format::Telegram));
        let account = br#"{"about": "x", "chats": {"about": "y", "list": []}}"#;
        assert_eq!(detect(account), Some(Format::Telegram));
        assert_eq!(detect(b"{\"messages\": 3, \"seed\": 1}\n"), None);
    }

    /// Every cut of a line file into chunks, parsed chunk by chunk in any order, gives the records of one read.
    #[test]
    fn line_chunks_parse_to_the_records_of_one_read() {
        let input = concat!(
            "\u{feff}{\"id\": 1, \"channel\": \"c1\", \"author\": \"a\", \"timestamp\": 1704067200, \"text\": \"Hello #one\"}\r\n",
            "\n",
            "   \n",
            "{\"id\": 2, \"channel\": \"c1\", \"author\": \"b\", \"timestamp\": 1704067201, \"text\": \"a longer line than the others, with https://x.io/?utm_source=q\"}\n",
            "{\"id\": 3, \"channel\": \"c1\"\n",
            "{\"id\": 4, \"channel\": \"c2\", \"timestamp\": \"2024-01-01T00:00:05Z\", \"text\": \"no author\"}\n",
            "not json at all\n",
            "{\"id\": 5, \"channel\": \"c2\", \"timestamp\": 1704067300, \"text\": \"last line, no line end\"}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, input).unwrap();
        let name = path.display().to_string();
        let options = ReadOptions::default();
        let mut whole = Collect::default();
        let whole_counts = read_file(&path, Format::Jsonl, &options, &mut whole).unwrap();
        assert_eq!((whole_counts.messages, whole_counts.quarantined), (4, 2));
        for chunk_bytes in [1, 7, 64, 150, 1 << 20] {
            let mut chunks = Vec::new();
            let read = Arc::new(AtomicU64::new(0));
            let counted = ReadOptions { bytes_read: Some(read.clone()), ..ReadOptions::default() };
            let failed =
                read_line_chunks_of(&path, Format::Jsonl, &counted, chunk_bytes, 1 << 20, |c| chunks.push(c)).unwrap();
            assert!(failed.is_none());
            assert_eq!(read.load(Ordering::Relaxed), input.len() as u64, "bytes counted, chunks of {chunk_bytes}");
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.iter().copied()).collect();
            assert_eq!(joined, input.as_bytes(), "chunks of {chunk_bytes} bytes hold the file");
            assert!(chunks.iter().all(|c| c.bytes.ends_with(b"\n") || std::ptr::eq(c, chunks.last().unwrap())));
            // Parse the chunks last first: numbering comes from the chunk, not from the order.
            let mut parts: Vec<(u64, Collect, FileCounts)> = chunks
                .iter()
                .rev()
                .map(|c| {
                    let mut sink = Collect::default();
                    let counts = parse_line_chunk(c, &name, Format::Jsonl, &options, &mut sink);
                    (c.first_line, sink, counts)
                })
                .collect();
            parts.sort_by_key(|p| p.0);
            let mut counts = FileCounts::default();
            let (mut messages, mut quarantined) = (Vec::new(), Vec::new());
            for (_, sink, c) in parts {
                counts += &c;
                messages.extend(sink.messages);
                quarantined.extend(sink.quarantined);
            }
            assert_eq!(counts, whole_counts, "chunks of {chunk_bytes} bytes");
            assert_eq!(messages, whole.messages, "chunks of {chunk_bytes} bytes");
            assert_eq!(quarantined, whole.quarantined, "chunks of {chunk_bytes} bytes");
        }
    }

    /// A line longer than the record limit is quarantined by number without being held whole; the lines
    /// around it are read, and every byte is counted.
    #[test]
    fn an_over_long_line_is_quarantined_and_passed_over() {
        let good =
            |id: u32| format!("{{\"id\": {id}, \"channel\": \"c\", \"timestamp\": 1704067200, \"text\": \"ok\"}}\n");
        let mut input = good(1);
        input.push_str(&"x".repeat(5000));
        input.push('\n');
        input.push_str(&good(3));
        input.push_str(&"y".repeat(3000));
        input.push('\n');
        input.push_str(&"z".repeat(4000));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.jsonl");
        std::fs::write(&path, &input).unwrap();
        for chunk_bytes in [16, 100, 999] {
            let read = Arc::new(AtomicU64::new(0));
            let options = ReadOptions { bytes_read: Some(read.clone()), ..ReadOptions::default() };
            let mut chunks = Vec::new();
            let failed = read_line_chunks_of(&path, Format::Jsonl, &options, chunk_bytes, 1000, |c| chunks.push(c));
            assert!(failed.unwrap().is_none());
            assert_eq!(read.load(Ordering::Relaxed), input.len() as u64);
            assert!(chunks.iter().all(|c| c.bytes.len() <= 4 * 1000 + 2 * chunk_bytes), "memory stays bounded");
            let mut sink = Collect::default();
            let mut counts = FileCounts::default();
            for c in &chunks {
                counts += &parse_line_chunk(c, "long.jsonl", Format::Jsonl, &options, &mut sink);
            }
            assert_eq!((counts.records, counts.messages, counts.quarantined), (5, 2, 3), "chunks of {chunk_bytes}");
            let lines: Vec<u64> = sink.quarantined.iter().map(|q| q.source_record).collect();
            assert_eq!(lines, vec![2, 4, 5]);
            assert!(sink.quarantined[0].reason.contains("longer than"), "{}", sink.quarantined[0].reason);
            assert_eq!(sink.messages.iter().map(|m| m.source_record).collect::<Vec<_>>(), vec![1, 3]);
        }
    }

    /// Times outside the range are quarantined, each with the reason; a time in milliseconds says so; the
    /// counts add up.
    #[test]
    fn implausible_times_are_quarantined_with_the_reason() {
        let line = |id: u32, ts: &str, edited: &str| {
            format!(
                "{{\"id\": {id}, \"channel\": \"c\", \"timestamp\": {ts}, \"edited\": {edited}, \"text\": \"t\"}}\n"
            )
        };
        let input = [
            line(1, "1704067200", "null"),
            line(2, "1", "null"),
            line(3, "1704067200000", "null"),
            line(4, "\"9999-12-31T00:00:00Z\"", "null"),
            line(5, "1704067200", "253402214400"),
            line(6, "\"1989-12-31T23:59:59Z\"", "null"),
        ]
        .concat();
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "t.jsonl", Format::Jsonl, &ReadOptions::default(), &mut sink);
        assert_eq!((counts.records, counts.messages, counts.quarantined), (6, 1, 5));
        let by_line: Vec<(u64, &str)> = sink.quarantined.iter().map(|q| (q.source_record, q.reason.as_str())).collect();
        assert_eq!(by_line.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
        assert!(by_line[0].1.starts_with("implausible time: 1970-01-01T00:00:01Z is outside 1990-01-01T00:00:00Z"));
        assert!(by_line[1].1.contains("looks like milliseconds since 1970 written as seconds (2024-01-01T00:00:00Z)"));
        assert!(by_line[3].1.starts_with("implausible edit time: 9999-12-31T00:00:00Z"), "{}", by_line[3].1);
        assert!(sink.quarantined[0].raw.contains(":c:2\""), "{}", sink.quarantined[0].raw);

        // A wider range takes them in.
        let options = ReadOptions { times: "1960-01-01..".parse().unwrap(), ..ReadOptions::default() };
        let mut sink = Collect::default();
        let counts = read_bytes(input.as_bytes(), "t.jsonl", Format::Jsonl, &options, &mut sink);
        assert_eq!((counts.messages, counts.quarantined), (3, 3), "{:?}", sink.quarantined);
    }

    #[test]
    fn utc_offsets_parse_with_or_without_a_colon() {
        assert_eq!(parse_utc_offset("+03:30"), Ok(12_600));
        assert_eq!(parse_utc_offset("-0500"), Ok(-18_000));
        assert_eq!(parse_utc_offset("+04"), Ok(14_400));
        assert_eq!(parse_utc_offset("Z"), Ok(0));
        for bad in ["03:30", "+3:3", "+15:00", "+03:60", "tehran"] {
            assert!(parse_utc_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_ranges_parse_dates_and_times_and_keep_defaults() {
        let r: TimeRange = "2010-01-01..2010-01-02".parse().unwrap();
        assert_eq!(r.earliest, 1_262_304_000_000_000);
        assert_eq!(r.latest, 1_262_476_800_000_000 - 1, "a date as the end includes its day");
        let r: TimeRange = "..2020-01-01T00:00:00Z".parse().unwrap();
        assert_eq!((r.earliest, r.latest), (TimeRange::DEFAULT_EARLIEST, 1_577_836_800_000_000));
        let r: TimeRange = "..".parse().unwrap();
        assert!(r.latest > 1_764_000_000_000_000);
        for bad in ["2010", "2020-01-01..2010-01-01", "yesterday..", "2010-13-01.."] {
            assert!(bad.parse::<TimeRange>().is_err(), "{bad}");
        }
    }

    /// The sample exports, each cut short, with a byte changed, or with a piece repeated, through every reader
    /// and the chunked path: no panic, no record lost, the same messages either way. (`fuzz/run.sh` runs the
    /// same check with coverage guidance.)
    mod mutated_samples {
        use super::super::*;
        use proptest::prelude::*;

        fn samples() -> Vec<Vec<u8>> {
            let root =
                Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../../testdata/samples");
            let mut files = expand_paths(&[root]).unwrap().files;
            files.retain(|f| {
                f.extension().is_some_and(|e| e == "json" || e == "jsonl" || e == "ndjson" || e == "csv")
                    && std::fs::metadata(f).is_ok_and(|m| m.len() < 200_000)
            });
            assert!(files.len() > 20, "{files:?}");
            files.iter().map(|f| std::fs::read(f).unwrap()).collect()
        }

        fn check(bytes: &[u8], format: Format, chunk: usize) {
            let options = ReadOptions::default();
            let mut whole = Collect::default();
            let counts = read_bytes(bytes, "m", format, &options, &mut whole);
            assert_eq!(counts.records, counts.messages + counts.quarantined + counts.skipped, "{format}");
            assert_eq!(counts.messages as usize, whole.messages.len());
            let mut chunked = Collect::default();
            let chunk_counts = read_bytes_in_chunks(bytes, "m", format, &options, chunk, &mut chunked);
            assert_eq!(chunk_counts, counts, "{format}, chunks of {chunk}");
            assert_eq!(chunked.messages, whole.messages, "{format}, chunks of {chunk}");
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn every_reader_keeps_every_record(
                pick in 0usize..1000, cut in 0.0f64..1.0, at in 0.0f64..1.0, byte in any::<u8>(),
                mode in 0u8..3, chunk in 1usize..5000,
            ) {
                let files = samples();
                let mut bytes = files[pick % files.len()].clone();
                let i = ((bytes.len() as f64) * at) as usize;
                match mode {
                    0 => bytes.truncate(((bytes.len() as f64) * cut) as usize),
                    1 if i < bytes.len() => bytes[i] = byte,
                    _ => {
                        let j = (i + 1 + ((bytes.len() - i) as f64 * cut) as usize).min(bytes.len());
                        let piece = bytes[i..j].to_vec();
                        bytes.splice(i..i, piece);
                    }
                }
                for format in Format::ALL {
                    check(&bytes, format, chunk);
                }
            }
        }
    }

    #[test]
    fn a_missing_line_file_is_an_error_naming_it() {
        let err = read_line_chunks(Path::new("/no/such/file.jsonl"), Format::Jsonl, &ReadOptions::default(), |_| {})
            .unwrap_err();
        assert!(err.to_string().contains("/no/such/file.jsonl"), "{err}");
    }
}
