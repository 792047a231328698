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

pub use echolens_model::{Message, Quarantined};
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
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Format; 6] =
        [Format::Telegram, Format::Jsonl, Format::XArchive, Format::ToolkitCsv, Format::Twarc, Format::TelethonJson];

    /// The name used on the command line and in the quarantine.
    pub fn name(self) -> &'static str {
        match self {
            Format::Telegram => "telegram",
            Format::Jsonl => "jsonl",
            Format::XArchive => "x-archive",
            Format::ToolkitCsv => "toolkit-csv",
            Format::Twarc => "twarc",
            Format::TelethonJson => "telethon-json",
        }
    }

    /// Parse a format name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Format {
    /// Whether the format holds one record per line, so that a file can be cut into [`LineChunk`]s and the
    /// chunks parsed in parallel ([`read_line_chunks`], [`parse_line_chunk`]).
    pub fn reads_lines(self) -> bool {
        matches!(self, Format::Jsonl | Format::Twarc)
    }
}

impl Format {
    /// Whether [`read_chunks`] can cut the format's files into chunks that are parsed in parallel
    /// ([`parse_chunk`]): the formats that [`Format::reads_lines`], and Telegram exports.
    pub fn reads_in_chunks(self) -> bool {
        self.reads_lines() || self == Format::Telegram
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

/// A sink that counts what passes through it before handing it on.
struct Counting<'a, S: Sink + ?Sized> {
    inner: &'a mut S,
    counts: FileCounts,
}

impl<S: Sink + ?Sized> Sink for Counting<'_, S> {
    fn message(&mut self, message: RawMessage) {
        self.counts.records += 1;
        self.counts.messages += 1;
        self.inner.message(message);
    }
    fn message_view(&mut self, message: RawView<'_>) {
        self.counts.records += 1;
        self.counts.messages += 1;
        self.inner.message_view(message);
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

/// Recognise a file's format from its first bytes. `None` when it is not an export echolens reads.
pub fn detect(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    let first_line = trimmed.lines().next().unwrap_or("");
    let has = |needle: &str| text.contains(needle);
    if trimmed.starts_with('[') {
        return (has("\"message_id\"") && has("\"date\"")).then_some(Format::TelethonJson);
    }
    if trimmed.starts_with('{') {
        let first_is_object = serde_json::from_str::<serde_json::Value>(first_line).is_ok_and(|v| v.is_object());
        if has("\"__twarc\"") || has("\"edit_history_tweet_ids\"") || (has("\"author_id\"") && has("\"created_at\"")) {
            return Some(Format::Twarc);
        }
        if first_is_object {
            return (has("\"channel\"") && has("\"timestamp\"")).then_some(Format::Jsonl);
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

/// The files under `paths`: files as given, folders walked recursively in name order. Hidden entries are skipped.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        walk(path, &mut out)?;
    }
    Ok(out)
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| Error::Io { path: path.to_owned(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    entries.sort();
    for entry in entries {
        walk(&entry, out)?;
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
    pub fn quarantined(&self, record: u64, reason: impl Into<String>, raw: &str) -> Quarantined {
        Quarantined {
            source_file: self.path.clone(),
            source_record: record,
            format: self.format.name().to_owned(),
            reason: reason.into(),
            raw: echolens_model::truncate_utf8(raw, echolens_model::RAW_LIMIT).to_owned(),
        }
    }

    pub fn platform_or<'b>(&'b self, default: &'b str) -> &'b str {
        self.options.platform.as_deref().unwrap_or(default)
    }
}

/// Read one file in the given format into `sink`. Record-level problems go to the sink's quarantine; an error is
/// returned only when the file cannot be opened at all.
pub fn read_file(path: &Path, format: Format, options: &ReadOptions, sink: &mut dyn Sink) -> Result<FileCounts> {
    let reader = open_counted(path, options)?;
    let ctx = FileCtx { path: path.display().to_string(), format, options };
    let mut counting = Counting { inner: sink, counts: FileCounts::default() };
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
        Format::TelethonJson => formats::telethon::read(reader, ctx, sink),
    }
}

/// About how many bytes of whole lines [`read_line_chunks`] puts in a chunk.
pub const LINE_CHUNK_BYTES: usize = 1 << 20;

/// A run of whole lines of one file, in a format that [`Format::reads_lines`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineChunk {
    /// The lines, each ending in `\n` but perhaps the file's last.
    pub bytes: Vec<u8>,
    /// The number (from 1) of the chunk's first line in its file.
    pub first_line: u64,
}

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
    read_line_chunks_of(path, format, options, LINE_CHUNK_BYTES, on_chunk)
}

fn read_line_chunks_of(
    path: &Path,
    format: Format,
    options: &ReadOptions,
    chunk_bytes: usize,
    mut on_chunk: impl FnMut(LineChunk),
) -> Result<Option<Quarantined>> {
    let mut file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let mut next_line = 1u64;
    // The start of a line that the previous read cut.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut buf = Vec::with_capacity(chunk_bytes.max(carry.len() * 2).max(1));
        buf.append(&mut carry);
        let mut eof = false;
        let mut failed = None;
        // Fill the buffer; a buffer without a line end (one long line) grows until it has one. `read_to_end`
        // reads a `File` into the spare room as it is: zeroing it first (`resize`, then `read`) was 1.3% of
        // ingest's instructions.
        loop {
            if buf.len() == buf.capacity() {
                if memchr::memchr(b'\n', &buf).is_some() {
                    break;
                }
                buf.reserve(buf.len());
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
            on_chunk(LineChunk { bytes: buf, first_line: next_line });
            next_line += lines;
        }
        if let Some(err) = failed {
            let ctx = FileCtx { path: path.display().to_string(), format, options };
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
    let read_line = match format {
        Format::Jsonl => formats::jsonl::read_line,
        Format::Twarc => formats::twarc::read_line,
        other => panic!("{other} does not hold one record per line"),
    };
    let ctx = FileCtx { path: path.to_owned(), format, options };
    let mut counting = Counting { inner: sink, counts: FileCounts::default() };
    let bytes = chunk.bytes.strip_suffix(b"\n").unwrap_or(&chunk.bytes);
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    let mut start = 0;
    for (i, end) in ends.enumerate() {
        let line = formats::record_of(&bytes[start..end]);
        start = end + 1;
        if !line.is_empty() {
            read_line(chunk.first_line + i as u64, line, &ctx, &mut counting);
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
    /// Whole lines of a file that [`Format::reads_lines`].
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
    if format.reads_lines() {
        return read_line_chunks(path, format, options, |c| on_chunk(Chunk::Lines(c)));
    }
    assert_eq!(format, Format::Telegram, "{format} is not read in chunks");
    let reader = open_counted(path, options)?;
    let ctx = FileCtx { path: path.display().to_string(), format, options };
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
            let mut counting = Counting { inner: sink, counts: FileCounts::default() };
            formats::telegram::parse_chunk(messages, &ctx, &mut counting, &mut std::collections::HashSet::new());
            counting.counts
        }
    }
}

/// Read from memory (tests, fuzzing): the same as [`read_file`] for a file holding `bytes`.
pub fn read_bytes(bytes: &[u8], name: &str, format: Format, options: &ReadOptions, sink: &mut dyn Sink) -> FileCounts {
    let ctx = FileCtx { path: name.to_owned(), format, options };
    let mut counting = Counting { inner: sink, counts: FileCounts::default() };
    read_from(bytes, &ctx, &mut counting);
    counting.counts
}

/// A sink that keeps everything, for tests and small inputs.
#[derive(Debug, Default)]
pub struct Collect {
    /// Messages, normalised.
    pub messages: Vec<Message>,
    /// Quarantined records.
    pub quarantined: Vec<Quarantined>,
    /// Skipped records by kind.
    pub skipped: Vec<&'static str>,
    /// Warnings.
    pub warnings: Vec<String>,
}

impl Sink for Collect {
    fn message(&mut self, message: RawMessage) {
        self.messages.push(message.finish());
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
        assert_eq!(detect(b"# a readme\n"), None);
        assert_eq!(detect(b"{\"slug\": \"oop\", \"title\": \"x\"}"), None);
        assert_eq!(detect(b"{\n  \"messages\": 3000,\n  \"seed\": 1\n}"), None);
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
            let failed = read_line_chunks_of(&path, Format::Jsonl, &counted, chunk_bytes, |c| chunks.push(c)).unwrap();
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

    #[test]
    fn a_missing_line_file_is_an_error_naming_it() {
        let err = read_line_chunks(Path::new("/no/such/file.jsonl"), Format::Jsonl, &ReadOptions::default(), |_| {})
            .unwrap_err();
        assert!(err.to_string().contains("/no/such/file.jsonl"), "{err}");
    }
}
