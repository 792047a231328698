//! Idempotent writes: append what is new, replace what has a newer edit, leave the rest.
//!
//! The writer keeps a 128-bit hash of every stored key, and the edit time of edited ones ([`KeyIndex`]: about 30
//! bytes a message with the hash table's spare room), so deciding new / updated / unchanged needs no join
//! against the table. New messages are buffered up to [`WriterOptions::commit_rows`] and appended in one Delta
//! commit; messages with a newer edit than the stored version are merged (Delta MERGE on `key`) at the end. Each
//! commit is atomic, and the in-memory view is rebuilt from the table on open, so a run killed between commits is
//! finished by running it again.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use arrow::array::{Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::prelude::{SessionContext, col};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use echolens_model::{Message, Quarantined};
use futures::StreamExt;
use xxhash_rust::xxh3::xxh3_128;

use crate::batch::{message_schema, messages_to_batch, quarantine_to_batch};
use crate::{Error, Result, Store};

/// How the writer batches its commits.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// New messages per append commit: bounds memory, and how much an interrupted run has to redo.
    pub commit_rows: usize,
    /// Rows per record batch handed to the Parquet writer.
    pub batch_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { commit_rows: 100_000, batch_rows: 32_768 }
    }
}

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
    /// Delta commits made.
    pub commits: u64,
}

fn key_hash(key: &str) -> u128 {
    xxh3_128(key.as_bytes())
}

/// Hashes the key hashes of [`KeyIndex`]: they are uniform already, so their two halves folded are the hash.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for u128 keys; a plain mix keeps the hasher correct for anything else.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

type FoldBuild = BuildHasherDefault<FoldHasher>;

/// The stored keys' hashes with their edit rank. Most messages were never edited: their hashes sit in a set
/// (16 bytes a key, 285 MB of table at 10M keys), and only edited ones carry their edit time in a map; a map
/// for all (32 bytes a key) took twice that.
#[derive(Default)]
struct KeyIndex {
    plain: HashSet<u128, FoldBuild>,
    edited: HashMap<u128, i64, FoldBuild>,
}

impl KeyIndex {
    fn len(&self) -> usize {
        self.plain.len() + self.edited.len()
    }

    fn reserve(&mut self, more: usize) {
        self.plain.reserve(more);
    }

    /// The stored edit rank of `hash`, if it is stored.
    fn get(&self, hash: u128) -> Option<i64> {
        if let Some(&rank) = self.edited.get(&hash) {
            return Some(rank);
        }
        self.plain.contains(&hash).then_some(edit_rank(None))
    }

    fn insert(&mut self, hash: u128, rank: i64) {
        if rank == edit_rank(None) {
            self.plain.insert(hash);
        } else {
            self.plain.remove(&hash);
            self.edited.insert(hash, rank);
        }
    }
}

fn edit_rank(edited: Option<i64>) -> i64 {
    edited.unwrap_or(i64::MIN)
}

/// Parquet settings for message files, snappy as deltalake writes them. Columns that are nearly unique per row
/// get no dictionary (interning them cost 5% of ingest for no gain), and the long text columns no min/max
/// statistics: no filter prunes on a message's text, and computing them was 19% of ingest (8.2 → 6.7 s at 1M).
fn parquet_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder().set_compression(Compression::SNAPPY);
    for column in ["key", "message_id", "ts", "text", "text_norm", "source_record"] {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in ["key", "message_id", "text", "text_norm"] {
        builder = builder.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    builder.build()
}

/// Writes messages and quarantine records into a [`Store`].
pub struct Writer<'s> {
    store: &'s mut Store,
    options: WriterOptions,
    /// Stored keys and their edit time.
    stored: KeyIndex,
    /// New messages not yet committed, and where each key sits in `pending`.
    pending: Vec<Message>,
    pending_index: HashMap<u128, usize, FoldBuild>,
    /// Newer versions of stored messages, merged at the end.
    updates: Vec<Message>,
    update_index: HashMap<u128, usize, FoldBuild>,
    quarantine_known: HashSet<(String, i64)>,
    quarantine_pending: Vec<Quarantined>,
    /// The message commit running in the background.
    in_flight: Option<tokio::task::JoinHandle<Result<deltalake::DeltaTable>>>,
    counts: WriteCounts,
    /// Scratch for [`Message::key`].
    key_buf: String,
}

impl Store {
    /// A writer; reads the stored keys first.
    pub async fn writer(&mut self, options: WriterOptions) -> Result<Writer<'_>> {
        let ctx = self.session().await?;
        let mut stored = KeyIndex::default();
        let mut stream = ctx.sql("SELECT key, edited FROM messages").await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let keys = cast(batch.column(0), &DataType::Utf8)?;
            let keys = keys.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
            let edited = cast(batch.column(1), &DataType::Int64)?;
            let edited = edited.as_any().downcast_ref::<Int64Array>().expect("cast to int64");
            stored.reserve(batch.num_rows());
            for i in 0..batch.num_rows() {
                let rank = if edited.is_null(i) { i64::MIN } else { edited.value(i) };
                stored.insert(key_hash(keys.value(i)), rank);
            }
        }
        let mut quarantine_known = HashSet::new();
        let mut stream = ctx.sql("SELECT source_file, source_record FROM quarantine").await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let files = cast(batch.column(0), &DataType::Utf8)?;
            let files = files.as_any().downcast_ref::<StringArray>().expect("cast to utf8");
            let records = cast(batch.column(1), &DataType::Int64)?;
            let records = records.as_any().downcast_ref::<Int64Array>().expect("cast to int64");
            for i in 0..batch.num_rows() {
                quarantine_known.insert((files.value(i).to_owned(), records.value(i)));
            }
        }
        Ok(Writer {
            store: self,
            options,
            stored,
            pending: Vec::new(),
            pending_index: HashMap::default(),
            updates: Vec::new(),
            update_index: HashMap::default(),
            quarantine_known,
            quarantine_pending: Vec::new(),
            in_flight: None,
            counts: WriteCounts::default(),
            key_buf: String::new(),
        })
    }
}

impl Writer<'_> {
    /// Messages already in the store when the writer opened, plus those added since.
    pub fn known_keys(&self) -> usize {
        self.stored.len() + self.pending_index.len()
    }

    /// Counts so far.
    pub fn counts(&self) -> &WriteCounts {
        &self.counts
    }

    /// Add one message. Call [`Writer::flush_if_full`] now and then, and [`Writer::finish`] at the end.
    pub fn add(&mut self, message: Message) {
        // The key is built in a buffer the writer keeps: no allocation per message.
        self.key_buf.clear();
        echolens_model::push_message_key(
            &mut self.key_buf,
            &message.platform,
            &message.channel_id,
            &message.message_id,
        )
        .expect("writing to a String cannot fail");
        let hash = key_hash(&self.key_buf);
        let rank = edit_rank(message.edited);
        if let Some(&i) = self.pending_index.get(&hash) {
            if rank > edit_rank(self.pending[i].edited) {
                self.pending[i] = message;
                self.counts.updated += 1;
            } else {
                self.counts.unchanged += 1;
            }
            return;
        }
        match self.stored.get(hash) {
            None => {
                self.pending_index.insert(hash, self.pending.len());
                self.pending.push(message);
                self.counts.new += 1;
            }
            Some(stored_rank) if rank > stored_rank => {
                self.stored.insert(hash, rank);
                self.counts.updated += 1;
                match self.update_index.get(&hash) {
                    Some(&i) => self.updates[i] = message,
                    None => {
                        self.update_index.insert(hash, self.updates.len());
                        self.updates.push(message);
                    }
                }
            }
            Some(_) => self.counts.unchanged += 1,
        }
    }

    /// Add a quarantine record (kept once per file and record number).
    pub fn quarantine(&mut self, record: Quarantined) {
        let id = (record.source_file.clone(), i64::try_from(record.source_record).unwrap_or(i64::MAX));
        if self.quarantine_known.insert(id) {
            self.counts.quarantined_new += 1;
            self.quarantine_pending.push(record);
        } else {
            self.counts.quarantined_known += 1;
        }
    }

    /// Whether enough is buffered for a commit.
    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.options.commit_rows
    }

    /// Commit the buffered messages if the buffer is full.
    pub async fn flush_if_full(&mut self) -> Result<()> {
        if self.is_full() { self.flush().await } else { Ok(()) }
    }

    /// Commit everything buffered: quarantine records (at once), then new messages. The message commit runs in
    /// the background while the caller reads on; the next flush (or [`Writer::finish`]) waits for it, so commits
    /// stay in order and at most one is in flight.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.quarantine_pending.is_empty() {
            let batch = quarantine_to_batch(self.quarantine_pending.iter())?;
            let table = self.store.quarantine.clone();
            self.store.quarantine = table.write(vec![batch]).with_save_mode(SaveMode::Append).await?;
            self.quarantine_pending.clear();
            self.counts.commits += 1;
        }
        self.settle().await?;
        if self.pending.is_empty() {
            return Ok(());
        }
        for (hash, i) in self.pending_index.drain() {
            self.stored.insert(hash, edit_rank(self.pending[i].edited));
        }
        let pending = std::mem::take(&mut self.pending);
        let table = self.store.messages.clone();
        let batch_rows = self.options.batch_rows;
        self.in_flight = Some(tokio::spawn(async move {
            let mut batches = Vec::with_capacity(pending.len() / batch_rows + 1);
            for chunk in pending.chunks(batch_rows) {
                batches.push(messages_to_batch(chunk.iter())?);
            }
            drop(pending);
            Ok(table
                .write(batches)
                .with_save_mode(SaveMode::Append)
                .with_writer_properties(parquet_properties())
                .await?)
        }));
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
            let ctx = SessionContext::new();
            let mut batches = Vec::new();
            for chunk in self.updates.chunks(self.options.batch_rows) {
                batches.push(messages_to_batch(chunk.iter())?);
            }
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
        Ok(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    async fn texts(store: &Store) -> Vec<(String, String)> {
        let ctx = store.session().await.unwrap();
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
        let options = WriterOptions { commit_rows: 2, batch_rows: 2 };
        let mut store = Store::open_or_create(dir.path()).await.unwrap();
        let mut w = store.writer(options.clone()).await.unwrap();
        for m in [msg("c", "1", "one", None), msg("c", "2", "two", None), msg("c", "3", "three", None)] {
            w.add(m);
            w.flush_if_full().await.unwrap();
        }
        // The same key twice in one run: the newer edit wins, an older one changes nothing.
        w.add(msg("c", "3", "three edited", Some(5)));
        w.add(msg("c", "3", "three stale", Some(4)));
        w.quarantine(Quarantined {
            source_file: "f.json".into(),
            source_record: 9,
            reason: "bad".into(),
            ..Default::default()
        });
        let counts = w.finish().await.unwrap();
        assert_eq!((counts.new, counts.updated, counts.unchanged, counts.quarantined_new), (3, 1, 1, 1));

        // Again, from a fresh open: nothing changes.
        let mut store = Store::open(dir.path()).await.unwrap();
        let version = store.messages_version();
        let mut w = store.writer(options.clone()).await.unwrap();
        for m in [msg("c", "1", "one", None), msg("c", "2", "two", None), msg("c", "3", "three edited", Some(5))] {
            w.add(m);
        }
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
        w.add(msg("c", "1", "one edited", Some(7)));
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
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.messages, stats.channels, stats.authors, stats.quarantined), (3, 1, 1, 1));
        assert_eq!(stats.first.as_deref(), Some("2023-11-14T22:13:20Z"));
    }

    #[test]
    fn the_key_index_keeps_edit_times_only_for_edited_keys() {
        let mut index = KeyIndex::default();
        let (a, b) = (key_hash("x:1:1"), key_hash("x:1:2"));
        assert_eq!(index.get(a), None);
        index.insert(a, edit_rank(None));
        index.insert(b, edit_rank(Some(5)));
        assert_eq!((index.get(a), index.get(b)), (Some(i64::MIN), Some(5)));
        assert_eq!((index.plain.len(), index.edited.len(), index.len()), (1, 1, 2));
        // A stored key gets an edit: it moves from the set to the map, and is counted once.
        index.insert(a, edit_rank(Some(9)));
        assert_eq!((index.get(a), index.plain.len(), index.edited.len(), index.len()), (Some(9), 0, 2, 2));
        index.insert(b, edit_rank(Some(7)));
        assert_eq!(index.get(b), Some(7));
        assert_eq!(index.get(key_hash("x:1:3")), None);
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
}
