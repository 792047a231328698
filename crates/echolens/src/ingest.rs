//! Ingest: a reader thread streams files; the caller's thread parses and normalises in parallel (rayon), each
//! worker turning its messages into a record batch with their key hashes, and hands the batches to the store's
//! writer, which commits in bounded chunks. Files with one record per line (JSONL, twarc) are cut into chunks
//! of whole lines, and Telegram exports into chunks of messages, that are parsed in parallel; the other formats
//! are parsed on the reader thread and only normalised in parallel. The channel between the threads is bounded,
//! so memory does not grow with the input.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use echolens_ingest::{Chunk, Collect, FileCounts, Format, Quarantined, RawMessage, RawView, ReadOptions, Sink};
use echolens_model::MessageView;
use echolens_store::{MessageRows, MessageRowsBuilder, Store, WriteCounts, WriterOptions};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

/// Messages per batch sent from the reader thread.
const BATCH: usize = 4096;

/// Messages per record batch built from a reader thread's batch (one per worker and more, to balance them).
const ROWS: usize = 1024;

/// Chunks (about 1 MiB each) parsed in one parallel step.
const CHUNK_GROUP: usize = 8;

/// What to ingest and how.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The reader to use for every file; recognised by content when `None`.
    pub format: Option<Format>,
    /// The platform of formats that do not say (JSONL without `platform`, toolkit CSV).
    pub platform: Option<String>,
    /// Times outside are quarantined.
    pub times: echolens_ingest::TimeRange,
    /// The offset of the machine that wrote older Telegram Desktop exports (seconds east of UTC).
    pub utc_offset: Option<i32>,
    /// New messages per store commit.
    pub commit_rows: usize,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// An entry of the paths given that was not read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PassedOver {
    /// The entry.
    pub path: String,
    /// Why it was not read.
    pub reason: String,
}

/// One file's outcome: `records == messages + quarantined + skipped`.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file, as stored in provenance columns.
    pub path: String,
    /// The reader used, if the file was recognised.
    pub format: Option<String>,
    /// Records read.
    pub records: u64,
    /// Messages among them.
    pub messages: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// Records that are not messages (service messages, account profiles).
    pub skipped: u64,
}

/// What an ingest did. `records == messages + quarantined + skipped`, and
/// `messages == new + updated + unchanged`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Each file read.
    pub files: Vec<FileReport>,
    /// Files in walked folders that are not exports echolens reads.
    pub not_recognised: Vec<String>,
    /// Records read.
    pub records: u64,
    /// Messages among them.
    pub messages: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// Records that are not messages.
    pub skipped: u64,
    /// Those, by kind.
    pub skipped_kinds: BTreeMap<String, u64>,
    /// Messages new to the store.
    pub new: u64,
    /// Messages that replaced a stored version with an older edit.
    pub updated: u64,
    /// Messages already stored.
    pub unchanged: u64,
    /// Accounts (per file) added to the store's accounts table.
    pub accounts_new: u64,
    /// What the user should know about the files, each said once.
    pub warnings: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Delta commits made.
    pub commits: u64,
    /// Entries of the paths given that were not read: special files, broken links, links out of the folder.
    pub passed_over: Vec<PassedOver>,
    /// Files of the store that no commit referenced (left by a killed or failed run), removed before writing.
    pub orphans_removed: u64,
    /// Messages added to the store's search index (kept current when the store has one), if it has one.
    pub indexed: Option<u64>,
}

/// A file read in chunks.
struct ChunkedFile {
    path: String,
    format: Format,
}

impl IngestReport {
    fn add_file(&mut self, f: FileReport) {
        self.records += f.records;
        self.messages += f.messages;
        self.quarantined += f.quarantined;
        self.skipped += f.skipped;
        self.files.push(f);
    }
}

enum Event {
    Messages(Vec<RawMessage>),
    /// A chunk of a file that [`Format::reads_in_chunks`], to parse on the caller's thread.
    Chunk(Arc<ChunkedFile>, Chunk),
    /// All of a chunked file's chunks were sent; `extra` counts what the reader itself quarantined.
    ChunksDone(Arc<ChunkedFile>, FileCounts),
    Quarantine(Quarantined),
    Accounts(Vec<echolens_ingest::AccountSeen>),
    Skip(&'static str),
    Warn(String),
    FileDone(FileReport),
    NotRecognised(PathBuf),
}

struct ChannelSink {
    tx: SyncSender<Event>,
    batch: Vec<RawMessage>,
    accounts: Vec<echolens_ingest::AccountSeen>,
}

impl ChannelSink {
    fn send(&self, e: Event) {
        // The receiver only goes away when the ingest failed; the reader then stops at its next file.
        let _ = self.tx.send(e);
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            self.send(Event::Messages(batch));
        }
        if !self.accounts.is_empty() {
            let accounts = std::mem::take(&mut self.accounts);
            self.send(Event::Accounts(accounts));
        }
    }
}

impl Sink for ChannelSink {
    fn message(&mut self, message: RawMessage) {
        self.batch.push(message);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }
    fn account(&mut self, account: echolens_ingest::AccountSeen) {
        self.accounts.push(account);
    }
    fn quarantine(&mut self, record: Quarantined) {
        self.flush();
        self.send(Event::Quarantine(record));
    }
    fn skip(&mut self, what: &'static str) {
        self.send(Event::Skip(what));
    }
    fn warn(&mut self, warning: String) {
        self.send(Event::Warn(warning));
    }
}

/// What a worker makes of a chunk: its messages normalised straight into record-batch columns, and the
/// records that are not messages.
struct RowsSink {
    rows: MessageRowsBuilder,
    other: Collect,
}

impl RowsSink {
    /// For a chunk of `bytes`: its text fits in that many bytes, and a message takes about 256 of them.
    fn for_bytes(bytes: usize) -> RowsSink {
        RowsSink { rows: MessageRowsBuilder::with_capacity(bytes / 256 + 1, bytes), other: Collect::default() }
    }
}

impl Sink for RowsSink {
    fn message(&mut self, message: RawMessage) {
        self.rows.push(&message.finish());
    }
    fn message_view(&mut self, raw: RawView<'_>) {
        let n = raw.normalised();
        let message = MessageView {
            text_norm: &n.text_norm,
            urls: &n.urls,
            hashtags: &n.hashtags,
            mentions: &n.mentions,
            ..raw.message
        };
        self.rows.push_view(&message);
    }
    fn account(&mut self, account: echolens_ingest::AccountSeen) {
        self.other.account(account);
    }
    fn quarantine(&mut self, record: Quarantined) {
        self.other.quarantine(record);
    }
    fn skip(&mut self, what: &'static str) {
        self.other.skip(what);
    }
    fn warn(&mut self, warning: String) {
        self.other.warn(warning);
    }
}

/// A path as stored in provenance columns: absolute, so re-running from another folder finds the same records.
fn provenance_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

fn read_all(paths: Vec<(PathBuf, bool)>, options: IngestOptions, bytes: Arc<AtomicU64>, tx: SyncSender<Event>) {
    let read_options = ReadOptions {
        platform: options.platform.clone(),
        bytes_read: Some(bytes),
        times: options.times,
        utc_offset: options.utc_offset,
    };
    let mut sink = ChannelSink { tx, batch: Vec::with_capacity(BATCH), accounts: Vec::new() };
    for (path, explicit) in paths {
        let path = provenance_path(&path);
        let shown = echolens_model::path_text(&path);
        let format = match options.format {
            Some(f) => Some(f),
            None => match echolens_ingest::detect_file(&path) {
                Ok(f) => f,
                Err(err) => {
                    sink.quarantine(file_quarantine(&shown, "", &err.to_string()));
                    sink.send(Event::FileDone(report(&shown, None, &one_quarantined())));
                    continue;
                }
            },
        };
        let Some(format) = format else {
            if explicit {
                let reason = "not an export echolens recognises (expected Telegram Desktop JSON, echolens JSONL, \
                              X archive CSV, toolkit CSV, twarc JSONL or Telethon JSON); use --format to choose a reader";
                sink.quarantine(file_quarantine(&shown, "", reason));
                sink.send(Event::FileDone(report(&shown, None, &one_quarantined())));
            } else {
                sink.send(Event::NotRecognised(path));
            }
            continue;
        };
        if format.reads_in_chunks() {
            let file = Arc::new(ChunkedFile { path: shown.clone(), format });
            let sent = echolens_ingest::read_chunks(
                &path,
                format,
                &read_options,
                |chunk| sink.send(Event::Chunk(file.clone(), chunk)),
                |warning| sink.send(Event::Warn(warning)),
            );
            let extra = match sent {
                Ok(None) => FileCounts::default(),
                Ok(Some(read_error)) => {
                    sink.quarantine(read_error);
                    one_quarantined()
                }
                Err(err) => {
                    sink.quarantine(file_quarantine(&shown, format.name(), &err.to_string()));
                    one_quarantined()
                }
            };
            sink.send(Event::ChunksDone(file, extra));
            continue;
        }
        match echolens_ingest::read_file(&path, format, &read_options, &mut sink) {
            Ok(counts) => {
                sink.flush();
                sink.send(Event::FileDone(report(&shown, Some(format), &counts)));
            }
            Err(err) => {
                sink.flush();
                sink.quarantine(file_quarantine(&shown, format.name(), &err.to_string()));
                sink.send(Event::FileDone(report(&shown, Some(format), &one_quarantined())));
            }
        }
    }
}

/// Show and keep `warning`, unless the same warning was given before.
fn warn(bar: &ProgressBar, warned: &mut HashSet<String>, out: &mut IngestReport, warning: String) {
    if warned.insert(warning.clone()) {
        bar.suspend(|| eprintln!("warning: {warning}"));
        out.warnings.push(warning);
    }
}

fn one_quarantined() -> FileCounts {
    FileCounts { records: 1, quarantined: 1, ..FileCounts::default() }
}

fn file_quarantine(path: &str, format: &str, reason: &str) -> Quarantined {
    Quarantined {
        source_file: path.to_owned(),
        source_record: 0,
        format: format.to_owned(),
        reason: reason.to_owned(),
        raw: String::new(),
    }
}

fn report(path: &str, format: Option<Format>, c: &FileCounts) -> FileReport {
    FileReport {
        path: path.to_owned(),
        format: format.map(|f| f.name().to_owned()),
        records: c.records,
        messages: c.messages,
        quarantined: c.quarantined,
        skipped: c.skipped,
    }
}

fn progress_bar(total_bytes: u64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Ingest `paths` (files, or folders walked) into `store`: read on a reader thread, parsed and normalised in
/// parallel, written in bounded commits; what could not be read is quarantined and counted.
pub fn ingest(
    rt: &tokio::runtime::Runtime,
    store: &mut Store,
    paths: &[PathBuf],
    options: IngestOptions,
) -> Result<IngestReport> {
    let started = Instant::now();
    let mut files = Vec::new();
    let mut passed_over = Vec::new();
    for p in paths {
        let explicit = !p.is_dir();
        let found = echolens_ingest::expand_paths(std::slice::from_ref(p))
            .with_context(|| format!("reading {}", p.display()))?;
        files.extend(found.files.into_iter().map(|f| (f, explicit)));
        passed_over.extend(
            found
                .passed_over
                .into_iter()
                .map(|(path, reason)| PassedOver { path: echolens_model::path_text(&path), reason }),
        );
    }
    let total_bytes: u64 = files.iter().filter_map(|(f, _)| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = progress_bar(total_bytes, options.progress);
    let bytes = Arc::new(AtomicU64::new(0));
    let (tx, rx) = sync_channel::<Event>(16);
    let reader = {
        let options = options.clone();
        let bytes = bytes.clone();
        std::thread::Builder::new()
            .name("echolens-reader".into())
            .spawn(move || read_all(files, options, bytes, tx))
            .context("starting the reader thread")?
    };

    let writer_options = WriterOptions { commit_rows: options.commit_rows.max(1) };
    let mut writer = rt.block_on(store.writer(writer_options)).context("opening the store for writing")?;
    let mut out = IngestReport { passed_over, ..IngestReport::default() };
    let mut last_draw = Instant::now();
    let read_options = ReadOptions {
        platform: options.platform.clone(),
        bytes_read: None,
        times: options.times,
        utc_offset: options.utc_offset,
    };
    // The counts of the chunked file being parsed (its chunks arrive in order, one file after another).
    let mut chunk_counts = FileCounts::default();
    // A warning is shown once: chunks parsed apart may each give their file's.
    let mut warned: HashSet<String> = HashSet::new();
    let mut held: Option<Event> = None;
    loop {
        let event = match held.take() {
            Some(event) => event,
            None => match rx.recv() {
                Ok(event) => event,
                Err(_) => break,
            },
        };
        match event {
            Event::Chunk(file, chunk) => {
                let mut group = vec![(file, chunk)];
                while group.len() < CHUNK_GROUP {
                    match rx.try_recv() {
                        Ok(Event::Chunk(file, chunk)) => group.push((file, chunk)),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                // Each chunk becomes its messages' record batch on the worker that parsed it.
                let parsed: Vec<(Collect, FileCounts, arrow::error::Result<MessageRows>)> = group
                    .par_iter()
                    .map(|(file, chunk)| {
                        let mut sink = RowsSink::for_bytes(chunk.len());
                        let counts =
                            echolens_ingest::parse_chunk(chunk, &file.path, file.format, &read_options, &mut sink);
                        (sink.other, counts, sink.rows.finish())
                    })
                    .collect();
                drop(group);
                for (sink, counts, rows) in parsed {
                    chunk_counts += &counts;
                    writer.add(&rows.context("building a record batch")?).context("writing to the store")?;
                    for q in sink.quarantined {
                        writer.quarantine(q);
                    }
                    for a in sink.accounts {
                        writer.account(a);
                    }
                    for kind in sink.skipped {
                        *out.skipped_kinds.entry(kind.to_owned()).or_default() += 1;
                    }
                    for w in sink.warnings {
                        warn(&bar, &mut warned, &mut out, w);
                    }
                }
                if writer.is_full() {
                    bar.set_message("committing…");
                    rt.block_on(writer.flush()).context("writing to the store")?;
                }
            }
            Event::ChunksDone(file, extra) => {
                let mut counts = std::mem::take(&mut chunk_counts);
                counts += &extra;
                out.add_file(report(&file.path, Some(file.format), &counts));
            }
            Event::Messages(batch) => {
                let rows: Vec<MessageRows> = batch
                    .into_par_iter()
                    .chunks(ROWS)
                    .map(|raws| {
                        let mut rows = MessageRowsBuilder::with_capacity(raws.len(), raws.len() * 256);
                        for raw in raws {
                            rows.push(&raw.finish());
                        }
                        rows.finish()
                    })
                    .collect::<arrow::error::Result<_>>()
                    .context("building a record batch")?;
                for rows in &rows {
                    writer.add(rows).context("writing to the store")?;
                }
                if writer.is_full() {
                    bar.set_message("committing…");
                    rt.block_on(writer.flush()).context("writing to the store")?;
                }
            }
            Event::Quarantine(q) => writer.quarantine(q),
            Event::Accounts(accounts) => accounts.into_iter().for_each(|a| writer.account(a)),
            Event::Skip(kind) => *out.skipped_kinds.entry(kind.to_owned()).or_default() += 1,
            Event::Warn(w) => warn(&bar, &mut warned, &mut out, w),
            Event::FileDone(f) => out.add_file(f),
            Event::NotRecognised(p) => out.not_recognised.push(p.display().to_string()),
        }
        if last_draw.elapsed() > Duration::from_millis(100) {
            last_draw = Instant::now();
            bar.set_position(bytes.load(Ordering::Relaxed));
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            let c = writer.counts();
            let done = c.new + c.updated + c.unchanged;
            bar.set_message(format!("{done} messages, {:.0} records/s", done as f64 / secs));
        }
    }
    reader.join().map_err(|_| anyhow::anyhow!("the reader thread panicked: this is a bug, please report it"))?;
    bar.set_message("committing…");
    let counts: WriteCounts = rt.block_on(writer.finish()).context("writing to the store")?;
    bar.finish_and_clear();
    out.new = counts.new;
    out.updated = counts.updated;
    out.unchanged = counts.unchanged;
    out.accounts_new = counts.accounts_new;
    out.commits = counts.commits;
    out.orphans_removed = store.orphans_removed();
    // Still under the write lock: the index follows the commits just made.
    if crate::search_index::exists(store) {
        let updated = crate::search_index::update(store, &|_| {}).context("updating the search index")?;
        out.indexed = Some(updated.messages_added);
    }
    out.bytes = bytes.load(Ordering::Relaxed);
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}
