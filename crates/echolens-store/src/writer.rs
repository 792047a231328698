//! Idempotent writes: append what is new, replace what has a newer edit, leave the rest.
//!
//! The writer keeps 80 bits of the hash of every stored key, and the edit time of edited ones ([`KeyIndex`]:
//! about 9–12 bytes a message), so deciding new / updated / unchanged needs no join against the table. It takes
//! messages as [`MessageRows`], record batches that readers build on their own threads. The rows that are new
//! go at once to the Parquet files of the next commit, which [`WRITERS`] threads encode side by side
//! ([`FileWriter`]); after [`WriterOptions::commit_rows`] rows the files are closed and appended in one Delta
//! commit, made in the background while the next files fill. A key's newer version read after its first one
//! went to a file, and a newer edit of a stored message, are merged (Delta MERGE on `key`) at the end. Each
//! commit is atomic, and the in-memory view is rebuilt from the table on open, so a run killed between commits
//! is finished by running it again.

use std::collections::{HashMap, HashSet};

use std::path::PathBuf;

use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, filter_record_batch, take_record_batch};
use arrow::datatypes::DataType;
use datafusion::prelude::{SessionContext, col};
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::parquet::basic::{Compression, Encoding, ZstdLevel};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, SaveMode};
use echolens_model::Quarantined;
use futures::StreamExt;

use crate::batch::{MessageRows, edit_rank, key_hash, message_schema, quarantine_to_batch};
use crate::files::FileWriter;
use crate::keys::{FoldBuild, KeyIndex};
use crate::{Error, Result, Store};

/// How the writer batches its commits.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// New messages per append commit: bounds memory, and how much an interrupted run has to redo.
    pub commit_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { commit_rows: 100_000 }
    }
}

/// Parquet files per append commit, each encoding its share of the rows on its own thread: one left a core idle
/// while the readers waited for it.
pub const WRITERS: usize = 2;

/// What a write did, by the numbers. `new + updated + unchanged` = messages given to the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteCounts {
    /// Messages whose key was not in the store.
    pub new: u64,
    /// Messages that replaced a stored (or earlier-read) version with an older edit.
    pub updated: u64,
    /// Messages already stored with the same or a newer edit.
    pub unchanged: u64,
    /// Quarantine records added.
    pub quarantined_new: u64,
    /// Quarantine records already in the store's quarantine.
    pub quarantined_known: u64,
    /// Accounts (per file read) added to the `accounts` table.
    pub accounts_new: u64,
    /// Delta commits made.
    pub commits: u64,
}

/// Where a buffered key's current version sits.
#[derive(Debug, Clone, Copy)]
struct Slot {
    batch: u32,
    row: u32,
}

/// The `picked` rows of `rows`, in order.
fn take_rows(rows: &MessageRows, picked: Vec<u32>) -> Result<RecordBatch> {
    if picked.len() == rows.len() {
        return Ok(rows.batch.clone());
    }
    Ok(take_record_batch(&rows.batch, &UInt32Array::from(picked))?)
}

/// Newer versions waiting to be merged, as record batches, and where each key's newest one is. A version that a
/// newer one replaces stays in its batch, marked, and is filtered out when the buffer is drained.
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    /// Per batch, the rows that a newer version replaced (the list may run one ahead of `batches`, for the batch
    /// being picked).
    replaced: Vec<Vec<u32>>,
    index: HashMap<u128, Slot, FoldBuild>,
}

impl Buffer {
    fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Pick row `row` of the rows being added as the current version of `hash`; `picked` collects the rows that
    /// [`Buffer::close`] then takes.
    fn pick(&mut self, hash: u128, row: usize, picked: &mut Vec<u32>) {
        let slot = Slot { batch: self.batches.len() as u32, row: picked.len() as u32 };
        picked.push(row as u32);
        if let Some(old) = self.index.insert(hash, slot) {
            let batch = old.batch as usize;
            if self.replaced.len() <= batch {
                self.replaced.resize_with(batch + 1, Vec::new);
            }
            self.replaced[batch].push(old.row);
        }
    }

    /// Keep the `picked` rows of `rows` as the next batch.
    fn close(&mut self, rows: &MessageRows, picked: Vec<u32>) -> Result<()> {
        if picked.is_empty() {
            return Ok(());
        }
        self.batches.push(take_rows(rows, picked)?);
        if self.replaced.len() < self.batches.len() {
            self.replaced.resize_with(self.batches.len(), Vec::new);
        }
        Ok(())
    }

    /// Everything buffered, each key's current version once; the buffer is empty after.
    fn drain(&mut self) -> Result<Vec<RecordBatch>> {
        self.index.clear();
        let mut out = Vec::with_capacity(self.batches.len());
        for (batch, replaced) in self.batches.drain(..).zip(self.replaced.drain(..)) {
            if replaced.is_empty() {
                out.push(batch);
                continue;
            }
            let mut keep = vec![true; batch.num_rows()];
            for row in replaced {
                keep[row as usize] = false;
            }
            out.push(filter_record_batch(&batch, &BooleanArray::from(keep))?);
        }
        Ok(out)
    }
}

/// Rows the Parquet writer encodes at a time.
const WRITE_BATCH_ROWS: usize = 8192;

/// Parquet settings for message files: zstd, which at its lowest level encoded as fast as snappy and made a
/// third smaller store (159 against 230 MB at 1M), but `text_norm` left uncompressed. Columns that are nearly
/// unique per row get no dictionary (interning them cost 5% of ingest for no gain), and the long text columns no
/// min/max statistics: no filter prunes on a message's text, and computing them was 19% of ingest (8.2 → 6.7 s
/// at 1M).
pub(crate) fn parquet_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    for column in ["key", "message_id", "ts", "text", "text_norm", "source_record"] {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in ["key", "message_id", "text", "text_norm"] {
        builder = builder.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    // The normalised text is what analyses scan, and it can be derived again from `text`: stored as it is, it
    // costs nothing to encode or decode (LZ4 on it was a tenth of ingest's instructions; ingest 3.81 → 3.34 s
    // at 1M over five rounds), for a store a fifth larger than with LZ4 (231 against 192 MB at 1M).
    builder = builder.set_column_compression(ColumnPath::from("text_norm"), Compression::UNCOMPRESSED);
    // Times and record numbers rise from row to row: stored as differences, they are a third and a hundredth of
    // their size with zstd alone (ts 2.6 → 1.0 MB, source_record 1.0 → 0.01 MB at 1M), and zstd has less to do.
    for column in ["ts", "source_record"] {
        builder = builder.set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    // Rows are encoded 8192 at a time, not 1024: fewer page-size checks and level runs per row (ingest 4.87 →
    // 4.58 s at 1M over three rounds); a text page may then pass the 1 MiB limit by one such batch.
    builder = builder.set_write_batch_size(WRITE_BATCH_ROWS);
    builder.build()
}

/// The files of the next append commit, filling.
#[derive(Default)]
struct OpenFiles {
    files: Vec<FileWriter>,
}

impl OpenFiles {
    fn rows(&self) -> usize {
        self.files.iter().map(FileWriter::rows).sum()
    }

    /// Give `batch` to the file with the fewest rows, starting files up to [`WRITERS`].
    fn write(&mut self, dir: &std::path::Path, batch: RecordBatch) -> Result<()> {
        if self.files.len() < WRITERS {
            self.files.push(FileWriter::create(dir, parquet_properties())?);
        }
        let file = self.files.iter_mut().min_by_key(|f| f.rows()).expect("one file at least");
        file.write(batch)
    }
}

/// Close `files` and append them to `table` in one commit.
async fn append(mut table: DeltaTable, files: OpenFiles) -> Result<DeltaTable> {
    let adds = tokio::task::spawn_blocking(move || {
        files.files.into_iter().map(|f| f.finish().map(Action::Add)).collect::<Result<Vec<_>>>()
    });
    let actions = adds.await.map_err(|e| Error::Task(e.to_string()))??;
    let snapshot = table.snapshot()?.clone();
    let operation = DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None };
    let commit =
        CommitBuilder::default().with_actions(actions).build(Some(&snapshot), table.log_store(), operation).await?;
    table.update_incremental(Some(commit.version())).await?;
    Ok(table)
}

/// Writes messages and quarantine records into a [`Store`].
pub struct Writer<'s> {
    store: &'s mut Store,
    options: WriterOptions,
    /// The `messages` table's folder.
    dir: PathBuf,
    /// Stored keys and their edit time, with those of the rows given to `open`.
    stored: KeyIndex,
    /// The files new messages are written to, not yet committed.
    open: OpenFiles,
    /// Newer versions of messages already stored or given to `open`, merged at the end.
    updates: Buffer,
    quarantine_known: HashSet<u128>,
    quarantine_pending: Vec<Quarantined>,
    accounts: crate::accounts::AccountBuffer,
    /// The message commit running in the background.
    in_flight: Option<tokio::task::JoinHandle<Result<DeltaTable>>>,
    counts: WriteCounts,
}

/// What makes a quarantine record one: its file, record number and raw text, hashed.
fn quarantine_id(file: &str, record: u64, raw: &str) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(file.as_bytes());
    h.update(&[0]);
    h.update(&record.to_le_bytes());
    h.update(raw.as_bytes());
    h.digest128()
}

impl Store {
    /// A writer; takes the store's write lock (see [`Store::open_or_create`]) and reads the stored keys first.
    pub async fn writer(&mut self, options: WriterOptions) -> Result<Writer<'_>> {
        self.lock_for_writing().await?;
        let ctx = self.session().await?;
        let mut stored = KeyIndex::loading();
        let mut stream = ctx.sql("SELECT key, edited FROM messages").await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let keys = cast(batch.column(0), &DataType::Utf8)?;
            let keys = keys.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
            let edited = cast(batch.column(1), &DataType::Int64)?;
            let edited = edited.as_any().downcast_ref::<Int64Array>().expect("cast to int64");
            for i in 0..batch.num_rows() {
                let rank = edit_rank(edited.is_valid(i).then_some(edited.value(i)));
                stored.add(key_hash(keys.value(i)), rank);
            }
        }
        let stored = stored.finish();
        let mut quarantine_known = HashSet::new();
        let mut stream =
            ctx.sql("SELECT source_file, source_record, raw FROM quarantine").await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let files = cast(batch.column(0), &DataType::Utf8)?;
            let files = files.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
            let records = cast(batch.column(1), &DataType::Int64)?;
            let records = records.as_any().downcast_ref::<Int64Array>().expect("cast to int64");
            let raws = cast(batch.column(2), &DataType::Utf8)?;
            let raws = raws.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
            for i in 0..batch.num_rows() {
                let record = u64::try_from(records.value(i)).unwrap_or(0);
                quarantine_known.insert(quarantine_id(files.value(i), record, raws.value(i)));
            }
        }
        let mut accounts = crate::accounts::AccountBuffer::default();
        let mut stream =
            ctx.sql("SELECT platform, author_id, source_file FROM accounts").await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let column = |i: usize| -> Result<Vec<String>> {
                let c = cast(batch.column(i), &DataType::Utf8)?;
                let c = c.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
                Ok(c.iter().map(|v| v.unwrap_or_default().to_owned()).collect())
            };
            let (p, a, f) = (column(0)?, column(1)?, column(2)?);
            accounts.known.extend(p.into_iter().zip(a).zip(f).map(|((p, a), f)| (p, a, f)));
        }
        Ok(Writer {
            dir: self.root.join("messages"),
            store: self,
            options,
            stored,
            open: OpenFiles::default(),
            updates: Buffer::default(),
            quarantine_known,
            quarantine_pending: Vec::new(),
            accounts,
            in_flight: None,
            counts: WriteCounts::default(),
        })
    }
}

impl Writer<'_> {
    /// Messages already in the store when the writer opened, plus those added since.
    pub fn known_keys(&self) -> usize {
        self.stored.len()
    }

    /// Counts so far.
    pub fn counts(&self) -> &WriteCounts {
        &self.counts
    }

    /// Add messages. Call [`Writer::flush_if_full`] now and then, and [`Writer::finish`] at the end. New ones
    /// are written to the next commit's files at once, which waits while their threads are behind.
    pub fn add(&mut self, rows: &MessageRows) -> Result<()> {
        let (mut new, mut updated) = (Vec::new(), Vec::new());
        for (i, (&hash, &rank)) in rows.hashes.iter().zip(&rows.ranks).enumerate() {
            match self.stored.get(hash) {
                None => {
                    self.stored.insert_new(hash, rank);
                    new.push(i as u32);
                    self.counts.new += 1;
                }
                Some(stored_rank) if rank > stored_rank => {
                    self.stored.insert(hash, rank);
                    self.updates.pick(hash, i, &mut updated);
                    self.counts.updated += 1;
                }
                Some(_) => self.counts.unchanged += 1,
            }
        }
        if !new.is_empty() {
            self.open.write(&self.dir, take_rows(rows, new)?)?;
        }
        self.updates.close(rows, updated)
    }

    /// Add a quarantine record. A record is kept once per file, record number and raw text: importing a file
    /// again adds nothing, several bad records of one line (a twarc page) each have a row, and a changed file's
    /// new bad record is kept beside its old one.
    pub fn quarantine(&mut self, record: Quarantined) {
        let id = quarantine_id(&record.source_file, record.source_record, &record.raw);
        if self.quarantine_known.insert(id) {
            self.counts.quarantined_new += 1;
            self.quarantine_pending.push(record);
        } else {
            self.counts.quarantined_known += 1;
        }
    }

    /// Add what a record said about its account: folded per account and file, written by
    /// [`Writer::finish`] unless that account and file are stored already.
    pub fn account(&mut self, seen: echolens_model::AccountSeen) {
        self.accounts.add(seen);
    }

    /// Whether enough is buffered for a commit.
    pub fn is_full(&self) -> bool {
        self.open.rows() >= self.options.commit_rows
    }

    /// Commit the buffered messages if the buffer is full.
    pub async fn flush_if_full(&mut self) -> Result<()> {
        if self.is_full() { self.flush().await } else { Ok(()) }
    }

    /// Commit everything buffered: quarantine records (at once), then the files of new messages. The message
    /// commit runs in the background while the caller reads on; the next flush (or [`Writer::finish`]) waits for
    /// it, so commits stay in order and at most one is in flight.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.quarantine_pending.is_empty() {
            let batch = quarantine_to_batch(self.quarantine_pending.iter())?;
            let table = self.store.quarantine.clone();
            self.store.quarantine = table.write(vec![batch]).with_save_mode(SaveMode::Append).await?;
            self.quarantine_pending.clear();
            self.counts.commits += 1;
        }
        self.settle().await?;
        if self.open.files.is_empty() {
            return Ok(());
        }
        let files = std::mem::take(&mut self.open);
        self.in_flight = Some(tokio::spawn(append(self.store.messages.clone(), files)));
        Ok(())
    }

    /// Wait for the message commit in flight, if any.
    async fn settle(&mut self) -> Result<()> {
        if let Some(handle) = self.in_flight.take() {
            let table = handle.await.map_err(|e| Error::Task(e.to_string()))??;
            self.store.messages = table;
            self.counts.commits += 1;
        }
        Ok(())
    }

    /// Commit what is buffered, then merge newer edits into the stored messages.
    pub async fn finish(mut self) -> Result<WriteCounts> {
        self.flush().await?;
        self.settle().await?;
        if !self.updates.is_empty() {
            let batches = self.updates.drain()?;
            let ctx = SessionContext::new();
            let source = ctx.read_batches(batches)?;
            let table = self.store.messages.clone();
            let (table, _metrics) = table
                .merge(source, col("target.key").eq(col("source.key")))
                .with_source_alias("source")
                .with_target_alias("target")
                .when_matched_update(|mut update| {
                    for field in message_schema().fields() {
                        update = update.update(field.name().as_str(), col(format!("source.{}", field.name())));
                    }
                    update
                })?
                .await?;
            self.store.messages = table;
            self.counts.commits += 1;
        }
        if !self.accounts.pending.is_empty() {
            let folded = std::mem::take(&mut self.accounts.pending);
            self.counts.accounts_new = folded.len() as u64;
            let batch = crate::accounts::to_batch(folded)?;
            let table = self.store.accounts.clone().expect("a writer's store has its accounts table");
            self.store.accounts = Some(table.write(vec![batch]).with_save_mode(SaveMode::Append).await?);
            self.counts.commits += 1;
        }
        Ok(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use echolens_model::Message;

    fn msg(channel: &str, id: &str, text: &str, edited: Option<i64>) -> Message {
        Message {
            platform: "telegram".into(),
            channel_id: channel.into(),
            message_id: id.into(),
            author_id: Some("user1".into()),
            ts: 1_700_000_000_000_000,
            ts_exact: true,
            edited,
            text: text.into(),
            text_norm: text.to_lowercase(),
            urls: vec!["https://a.example/".into()],
            source_file: "f.json".into(),
            source_record: 1,
            ..Message::default()
        }
    }

    fn add(w: &mut Writer<'_>, messages: &[Message]) {
        w.add(&MessageRows::new(messages.iter()).unwrap()).unwrap();
    }

    async fn texts(store: &Store) -> Vec<(String, String)> {
        texts_in(store.session().await.unwrap()).await
    }

    /// The texts as an engine that reads the current Parquet files itself sees them.
    async fn texts_from_files(store: &Store) -> Vec<(String, String)> {
        let ctx = SessionContext::new();
        store.register_files(&ctx).await.unwrap();
        texts_in(ctx).await
    }

    async fn texts_in(ctx: SessionContext) -> Vec<(String, String)> {
        let batches = ctx.sql("SELECT key, text FROM messages ORDER BY key").await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for b in batches {
            let k = cast(b.column(0), &DataType::Utf8).unwrap();
            let t = cast(b.column(1), &DataType::Utf8).unwrap();
            let k = k.as_any().downcast_ref::<StringArray>().unwrap();
            let t = t.as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                out.push((k.value(i).to_owned(), t.value(i).to_owned()));
            }
        }
        out
    }

    #[tokio::test]
    async fn upsert_is_idempotent_and_newer_edits_win() {
        let dir = tempfile::tempdir().unwrap();
        let options = WriterOptions { commit_rows: 2 };
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let mut w = store.writer(options.clone()).await.unwrap();
        for m in [msg("c", "1", "one", None), msg("c", "2", "two", None), msg("c", "3", "three", None)] {
            add(&mut w, &[m]);
            w.flush_if_full().await.unwrap();
        }
        // The same key twice in one run: the newer edit wins, an older one changes nothing.
        add(&mut w, &[msg("c", "3", "three edited", Some(5)), msg("c", "3", "three stale", Some(4))]);
        w.quarantine(Quarantined {
            source_file: "f.json".into(),
            source_record: 9,
            reason: "bad".into(),
            ..Default::default()
        });
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.new, counts.updated, counts.unchanged, counts.quarantined_new), (3, 1, 1, 1));

        // Again, from a fresh open (the first handle let go of the write lock): nothing changes.
        drop(store);
        let mut store = Store::open(dir.path()).await.unwrap();
        let version = store.messages_version();
        let mut w = store.writer(options.clone()).await.unwrap();
        add(&mut w, &[msg("c", "1", "one", None), msg("c", "2", "two", None), msg("c", "3", "three edited", Some(5))]);
        w.quarantine(Quarantined {
            source_file: "f.json".into(),
            source_record: 9,
            reason: "bad".into(),
            ..Default::default()
        });
        let counts = w.finish().await.unwrap();
        assert_eq!(
            (counts.new, counts.updated, counts.unchanged, counts.quarantined_new, counts.commits),
            (0, 0, 3, 0, 0)
        );
        assert_eq!(store.messages_version(), version, "an unchanged re-run makes no commit");

        // A newer edit of a stored message replaces it through a merge.
        let mut w = store.writer(options).await.unwrap();
        add(&mut w, &[msg("c", "1", "one edited", Some(7))]);
        let counts = w.finish().await.unwrap();
        assert_eq!(counts.updated, 1);
        assert_eq!(
            texts(&store).await,
            vec![
                ("telegram:c:1".to_owned(), "one edited".to_owned()),
                ("telegram:c:2".to_owned(), "two".to_owned()),
                ("telegram:c:3".to_owned(), "three edited".to_owned()),
            ]
        );
        // Read as the files of the current version, the replaced row's old file is not among them.
        assert_eq!(texts_from_files(&store).await, texts(&store).await);
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.messages, stats.channels, stats.authors, stats.quarantined), (3, 1, 1, 1));
        assert_eq!(stats.first.as_deref(), Some("2023-11-14T22:13:20Z"));
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        let batches = store.session().await.unwrap().sql(sql).await.unwrap().collect().await.unwrap();
        let n = cast(batches[0].column(0), &DataType::Int64).unwrap();
        n.as_any().downcast_ref::<Int64Array>().unwrap().value(0)
    }

    /// Accounts are kept once per account and file, written at the end of a write, and a store made before the
    /// table existed reads as having none until its next write creates it.
    #[tokio::test]
    async fn accounts_are_kept_once_per_file_and_old_stores_gain_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let seen = |author: &str, file: &str, followers: i64| echolens_model::AccountSeen {
            platform: "x".into(),
            author_id: author.into(),
            at: Some(followers),
            followers: Some(followers),
            source_file: file.into(),
            ..Default::default()
        };
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        for s in [seen("1", "a.csv", 10), seen("1", "a.csv", 20), seen("2", "a.csv", 5), seen("1", "b.csv", 30)] {
            w.account(s);
        }
        assert_eq!(w.finish().await.unwrap().accounts_new, 3);
        assert_eq!(count(&store, "SELECT count(*) FROM accounts").await, 3);
        assert_eq!(
            count(&store, "SELECT followers FROM accounts WHERE author_id = '1' AND source_file = 'a.csv'").await,
            20
        );
        // The same file again adds nothing; a new account of it does.
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        w.account(seen("1", "a.csv", 99));
        w.account(seen("3", "a.csv", 1));
        assert_eq!(w.finish().await.unwrap().accounts_new, 1);
        assert_eq!(count(&store, "SELECT count(*) FROM accounts").await, 4);
        // A store without the table: read as empty, created by the next writer.
        drop(store);
        std::fs::remove_dir_all(dir.path().join("accounts")).unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(count(&store, "SELECT count(*) FROM accounts").await, 0);
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        w.account(seen("1", "a.csv", 10));
        assert_eq!(w.finish().await.unwrap().accounts_new, 1);
        assert_eq!(count(&store, "SELECT count(*) FROM accounts").await, 1);
    }

    /// A store whose messages table was made before `quote_of` existed: read, the column is empty; the next
    /// writer adds it (a metadata commit) and writes it.
    #[tokio::test]
    async fn a_messages_table_without_a_newer_column_reads_it_empty_and_gains_it_when_written() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open_or_create(dir.path()).await.unwrap());
        std::fs::remove_dir_all(dir.path().join("messages")).unwrap();
        let full = message_schema();
        let old = arrow::datatypes::Schema::new(
            full.fields().iter().filter(|f| f.name() != "quote_of").cloned().collect::<Vec<_>>(),
        );
        crate::open_or_create(&dir.path().join("messages"), "messages", &old).await.unwrap();
        let mut store = Store::open(dir.path()).await.unwrap();
        assert_eq!(count(&store, "SELECT count(quote_of) FROM messages").await, 0);
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        let mut quoting = msg("c", "1", "my words", None);
        quoting.quote_of = Some("9".into());
        add(&mut w, &[quoting, msg("c", "2", "two", None)]);
        w.finish().await.unwrap();
        assert_eq!(count(&store, "SELECT count(quote_of) FROM messages").await, 1);
        assert_eq!(count(&store, "SELECT count(*) FROM messages").await, 2);
        let reopened = Store::open(dir.path()).await.unwrap();
        assert_eq!(count(&reopened, "SELECT count(quote_of) FROM messages WHERE quote_of = '9'").await, 1);
    }

    fn owned(rows: &[(&str, &str)]) -> Vec<(String, String)> {
        rows.iter().map(|(k, t)| ((*k).to_owned(), (*t).to_owned())).collect()
    }

    #[tokio::test]
    async fn the_newest_version_of_a_key_is_written_wherever_its_versions_sit() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let options = WriterOptions { commit_rows: 100 };
        let mut w = store.writer(options.clone()).await.unwrap();
        // One batch holds a key three times (older, newer, then stale) beside another key.
        add(
            &mut w,
            &[
                msg("c", "1", "v1", Some(1)),
                msg("c", "2", "two", None),
                msg("c", "1", "v3", Some(3)),
                msg("c", "1", "v2", Some(2)),
            ],
        );
        // A later batch replaces a version written from the first.
        add(&mut w, &[msg("c", "2", "two edited", Some(9)), msg("c", "3", "three", None)]);
        let counts = w.finish().await.unwrap();
        // The first versions went to the commit's files as they came; the newer ones are merged after it.
        assert_eq!((counts.new, counts.updated, counts.unchanged, counts.commits), (3, 2, 1, 2));
        assert_eq!(
            texts(&store).await,
            owned(&[("telegram:c:1", "v3"), ("telegram:c:2", "two edited"), ("telegram:c:3", "three")])
        );

        // A stored message edited twice in one run, its versions in two batches: one merge, of the newest.
        let mut w = store.writer(options).await.unwrap();
        add(&mut w, &[msg("c", "3", "three a", Some(4)), msg("c", "1", "v2", Some(2))]);
        add(&mut w, &[msg("c", "3", "three b", Some(6)), msg("c", "3", "three old", Some(5))]);
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.new, counts.updated, counts.unchanged, counts.commits), (0, 2, 2, 1));
        assert_eq!(
            texts(&store).await,
            owned(&[("telegram:c:1", "v3"), ("telegram:c:2", "two edited"), ("telegram:c:3", "three b")])
        );
    }

    #[tokio::test]
    async fn a_commit_is_written_as_one_file_per_writer_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let version = store.messages_version();
        let mut w = store.writer(WriterOptions { commit_rows: 1000 }).await.unwrap();
        for start in (0..600).step_by(100) {
            let messages: Vec<Message> =
                (start..start + 100).map(|i| msg("c", &i.to_string(), &format!("text {i}"), None)).collect();
            add(&mut w, &messages);
        }
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.new, counts.commits), (600, 1));
        assert_eq!(store.messages_version(), version + 1, "one commit");
        let files = store.messages.get_file_uris().unwrap().count();
        assert_eq!(files, WRITERS, "each writer wrote its share to its own file");
        let stored = texts(&store).await;
        assert_eq!(stored.len(), 600);
        assert!(stored.iter().all(|(k, t)| k.strip_prefix("telegram:c:").is_some_and(|i| *t == format!("text {i}"))));
    }

    /// Messages whose columns have nulls, several values, non-ASCII strings and (when `sub_ms`) timestamps that
    /// are not whole milliseconds.
    fn varied(sub_ms: bool) -> Vec<Message> {
        (0..50)
            .map(|i| {
                let sub = if sub_ms { 1 + i as i64 % 999 } else { 0 };
                let edited = (i % 4 == 0).then_some(i as i64 * 1000 + sub);
                let mut m = msg(["c", "کانال", "b"][i % 3], &i.to_string(), "t", edited);
                m.ts = 1_700_000_000_000_000 + i as i64 * 1_000_000 + sub;
                m.ts_exact = i % 5 != 0;
                m.author_id = (i % 7 != 0).then(|| format!("user{}", i % 11));
                m.reply_to = (i == 3).then(|| "2".to_owned());
                m.source_record = 100 - i as u64;
                m
            })
            .collect()
    }

    /// The `Add` actions deltalake's own writer makes for `messages`.
    async fn deltalake_adds(messages: &[Message]) -> Vec<deltalake::kernel::Add> {
        use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
        use deltalake::operations::write::configs::WriterStatsConfig;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).await.unwrap();
        let table = &store.messages;
        let stats = WriterStatsConfig::from_config(table.snapshot().unwrap().snapshot().table_configuration());
        let config = WriterConfig::new(
            message_schema(),
            Vec::new(),
            Some(parquet_properties()),
            None,
            None,
            stats.num_indexed_cols,
            stats.stats_columns,
        );
        let mut writer = DeltaWriter::new(table.log_store().object_store(None), config);
        writer.write(&MessageRows::new(messages.iter()).unwrap().batch).await.unwrap();
        writer.close().await.unwrap()
    }

    fn file_add(dir: &std::path::Path, messages: &[Message]) -> deltalake::kernel::Add {
        let mut file = FileWriter::create(dir, parquet_properties()).unwrap();
        file.write(MessageRows::new(messages.iter()).unwrap().batch).unwrap();
        file.finish().unwrap()
    }

    fn stats_of(add: &deltalake::kernel::Add) -> serde_json::Value {
        serde_json::from_str(add.stats.as_deref().expect("stats")).unwrap()
    }

    #[tokio::test]
    async fn a_file_carries_the_statistics_deltalake_writes() {
        let messages = varied(false);
        let dir = tempfile::tempdir().unwrap();
        let ours = file_add(dir.path(), &messages);
        let theirs = deltalake_adds(&messages).await;
        assert_eq!(theirs.len(), 1);
        let stats = stats_of(&ours);
        assert_eq!(stats, stats_of(&theirs[0]));
        // The comparison is not vacuous: the columns with statistics have them.
        assert_eq!(stats["numRecords"], 50);
        assert_eq!(stats["minValues"]["channel_id"], "b");
        assert_eq!(stats["maxValues"]["channel_id"], "کانال");
        assert_eq!(stats["nullCount"]["author_id"], 8);
        assert_eq!(stats["maxValues"]["ts"], "2023-11-14T22:14:09Z");
        assert!(stats["minValues"].get("text").is_none(), "text is written without statistics");
        let size = std::fs::metadata(dir.path().join(&ours.path)).unwrap().len();
        assert_eq!(ours.size, size as i64, "the action gives the file's size");
        assert!(ours.data_change && ours.partition_values.is_empty());
    }

    /// `ts` and `source_record` are stored as differences (falling ones too) and read back as they were.
    #[test]
    fn rising_columns_are_stored_as_differences() {
        use deltalake::arrow::array::{Int64Array, TimestampMicrosecondArray};
        use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let messages = varied(true);
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::open(dir.path().join(&file_add(dir.path(), &messages).path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let group = reader.metadata().row_group(0);
        for column in group.columns() {
            let name = column.column_path().string();
            let delta = column.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED);
            assert_eq!(
                delta,
                name == "ts" || name == "source_record",
                "{name}: {:?}",
                column.encodings().collect::<Vec<_>>()
            );
        }
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        let column = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        let ts = column("ts");
        let ts = ts.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!(ts.values().to_vec(), messages.iter().map(|m| m.ts).collect::<Vec<i64>>());
        let records = column("source_record");
        let records = records.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(records.values().to_vec(), messages.iter().map(|m| m.source_record as i64).collect::<Vec<i64>>());
    }

    #[tokio::test]
    async fn timestamp_bounds_are_rounded_outwards_to_the_millisecond() {
        let messages = varied(true);
        let dir = tempfile::tempdir().unwrap();
        let stats = stats_of(&file_add(dir.path(), &messages));
        // ts runs from …:20.000001 to …:09.000050 plus 49 µs: the bounds still hold every value.
        assert_eq!(stats["minValues"]["ts"], "2023-11-14T22:13:20Z");
        assert_eq!(stats["maxValues"]["ts"], "2023-11-14T22:14:09.001Z");
        assert_eq!(stats["maxValues"]["edited"], "1970-01-01T00:00:00.049Z");
        // deltalake rounds the maximum down, below the largest value.
        let theirs = stats_of(&deltalake_adds(&messages).await[0]);
        assert_eq!(theirs["maxValues"]["ts"], "2023-11-14T22:14:09.000Z");
    }

    #[tokio::test]
    async fn open_refuses_a_folder_that_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open(dir.path()).await.unwrap_err();
        assert!(err.to_string().contains("is not an echolens store"), "{err}");
    }

    #[tokio::test]
    async fn the_pseudonym_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).await.unwrap();
        let key = store.pseudonym_key().unwrap();
        assert_ne!(key, [0u8; 32]);
        let reopened = Store::open(dir.path()).await.unwrap();
        assert_eq!(reopened.pseudonym_key().unwrap(), key, "the same store gives the same key");
        let other = tempfile::tempdir().unwrap();
        let other = Store::open_or_create(other.path()).await.unwrap();
        assert_ne!(other.pseudonym_key().unwrap(), key, "each store has its own key");
        let file = std::fs::read_to_string(dir.path().join("pseudonym.key")).unwrap();
        assert_eq!(file.trim().len(), 64);
        std::fs::write(dir.path().join("pseudonym.key"), "not a key").unwrap();
        let err = reopened.pseudonym_key().unwrap_err().to_string();
        assert!(err.contains("pseudonym.key") && err.contains("64 hexadecimal"), "{err}");
    }

    /// One writer at a time: a second handle on the store cannot write (nor create) while the first holds the
    /// lock, and can once it is let go; readers open all the while.
    #[tokio::test]
    async fn a_second_writer_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Store::open_or_create(dir.path()).await.unwrap();
        let err = Store::open_or_create(dir.path()).await.unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        let mut reader = Store::open(dir.path()).await.unwrap();
        assert!(matches!(reader.writer(WriterOptions::default()).await, Err(Error::Busy { .. })));
        let mut w = first.writer(WriterOptions::default()).await.unwrap();
        add(&mut w, &[msg("c", "1", "one", None)]);
        w.finish().await.unwrap();
        first.unlock();
        // The lock is taken again by whoever writes next, which then sees the first's commit.
        let mut w = reader.writer(WriterOptions::default()).await.unwrap();
        add(&mut w, &[msg("c", "1", "one", None), msg("c", "2", "two", None)]);
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.new, counts.unchanged), (1, 1));
        assert_eq!(reader.stats().await.unwrap().duplicate_keys, 0);
    }

    /// A creation cut short (an empty `echolens.json` after a full disk, say) is completed by the next run, and
    /// data files that no commit references (a run killed before its commit) are removed when a writer opens.
    #[tokio::test]
    async fn interrupted_creation_and_orphan_files_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("echolens.json"), "").unwrap();
        std::fs::write(dir.path().join("echolens.json.999.tmp"), "{").unwrap();
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        add(&mut w, &[msg("c", "1", "one", None)]);
        w.finish().await.unwrap();
        drop(store);
        let meta = std::fs::read_to_string(dir.path().join("echolens.json")).unwrap();
        assert!(meta.contains("echolens-store"), "{meta}");
        assert!(!dir.path().join("echolens.json.999.tmp").exists());

        let orphan = dir.path().join("messages").join("part-00000-dead-beef-c000.zstd.parquet");
        std::fs::write(&orphan, b"PAR1 half a file").unwrap();
        let committed: Vec<_> = std::fs::read_dir(dir.path().join("messages"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet") && *p != orphan)
            .collect();
        assert_eq!(committed.len(), 1);
        let store = Store::open_or_create(dir.path()).await.unwrap();
        assert_eq!(store.orphans_removed(), 1);
        assert!(!orphan.exists());
        assert!(committed[0].exists(), "a committed file stays");
        assert_eq!(texts(&store).await, owned(&[("telegram:c:1", "one")]));
    }

    /// `stats` counts rows whose key repeats: a store written past its lock (by another tool) says so.
    #[tokio::test]
    async fn stats_count_repeated_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        add(&mut w, &[msg("c", "1", "one", None), msg("c", "2", "two", None)]);
        w.finish().await.unwrap();
        assert_eq!(store.stats().await.unwrap().duplicate_keys, 0);
        // The same rows appended by a plain Delta write, as a second process without the lock once did.
        let batch = crate::messages_to_batch([msg("c", "1", "one", None)].iter()).unwrap();
        store.messages = store.messages.clone().write(vec![batch]).with_save_mode(SaveMode::Append).await.unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.messages, stats.duplicate_keys), (3, 1));
    }

    /// The distinct counts stay exact when their groupings spill: a store of 40,000 messages counted in a 2 MB
    /// pool (its keys' groups need more; 1 MB does not hold one batch's) equals its count in the default one,
    /// and the counts are those of the rows written.
    #[tokio::test]
    async fn stats_spill_to_exact_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        let messages: Vec<Message> = (0..40_000)
            .map(|i| Message {
                author_id: Some(format!("author{}", i % 997)),
                ..msg(&format!("c{}", i % 301), &i.to_string(), "text", None)
            })
            .collect();
        add(&mut w, &messages);
        w.finish().await.unwrap();
        let small = store.stats_within(2 << 20).await.unwrap();
        assert_eq!((small.messages, small.channels, small.authors, small.duplicate_keys), (40_000, 301, 997, 0));
        assert_eq!(small, store.stats().await.unwrap());
    }

    /// A quarantine row is one per (file, record, raw text): three bad tweets of one twarc line are three rows,
    /// the same record again is none, and a file whose bad line changed keeps both.
    #[tokio::test]
    async fn quarantine_rows_are_one_per_record_and_raw_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let q = |raw: &str| Quarantined {
            source_file: "page.jsonl".into(),
            source_record: 3,
            reason: "bad tweet".into(),
            raw: raw.into(),
            ..Default::default()
        };
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        for raw in ["{\"id\": 1}", "{\"id\": 2}", "{\"id\": 3}", "{\"id\": 3}"] {
            w.quarantine(q(raw));
        }
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.quarantined_new, counts.quarantined_known), (3, 1));
        let mut w = store.writer(WriterOptions::default()).await.unwrap();
        w.quarantine(q("{\"id\": 2}"));
        w.quarantine(q("{\"id\": 4}"));
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.quarantined_new, counts.quarantined_known), (1, 1));
        assert_eq!(store.stats().await.unwrap().quarantined, 4);
    }
}
