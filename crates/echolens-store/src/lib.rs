//! The echolens corpus store: a folder holding three Delta Lake tables, `messages` (one row per message,
//! upserted on `key`), `quarantine` (records that could not be read, with the reason) and `accounts` (what the
//! exports say about the accounts: see [`account_schema`]), plus `echolens.json` with the store's format
//! version. DuckDB, Polars, pandas and Spark open the tables as they are.
//!
//! Writes go through a [`Writer`]: new messages are appended in commits of bounded size, a message whose newer
//! edit arrives replaces the stored one through a Delta MERGE, and records already stored are left alone, so
//! ingesting the same export twice changes nothing. Every commit is atomic: an import killed at any point leaves
//! a store that opens, and running it again finishes the job.
//!
//! Reads are DataFusion plans: [`Store::session`] registers both tables in a `SessionContext`.
#![deny(missing_docs)]

mod accounts;
mod batch;
mod error;
mod files;
mod keys;
mod lock;
mod remote;
mod stats;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::{ArrayType, DataType, StructField};

pub use accounts::account_schema;
pub use batch::{
    MessageRows, MessageRowsBuilder, message_schema, messages_to_batch, quarantine_schema, quarantine_to_batch,
};
pub use echolens_model::rfc3339;
pub use error::{Error, Result};
pub use lock::{LOCK_FILE, WriteLock};
pub use remote::{ObjectStores, is_remote, object_store_for, store_url};
pub use stats::Stats;
pub use writer::{WRITERS, WriteCounts, Writer, WriterOptions};

/// The store format this build writes; a store with a newer version is refused.
pub const STORE_VERSION: u32 = 1;

pub(crate) const META_FILE: &str = "echolens.json";

/// An opened store.
pub struct Store {
    root: PathBuf,
    messages: DeltaTable,
    quarantine: DeltaTable,
    /// `None` in a store made before the table existed, opened to read: it reads as empty.
    accounts: Option<DeltaTable>,
    /// Held while this store may write: from [`Store::open_or_create`] or the first [`Store::writer`] until
    /// [`Store::unlock`] or the store is dropped.
    lock: Option<WriteLock>,
    /// Files removed when the lock was taken: data files that no commit references, left by runs that were
    /// killed or failed before their commit, and temporary files of interrupted writes.
    orphans_removed: u64,
    /// Set for a store at an object-store URL (read only; see [`store_url`]).
    remote: Option<remote::Remote>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

fn table_url(path: &Path) -> Result<url::Url> {
    url::Url::from_directory_path(path).map_err(|()| Error::Path(path.to_owned()))
}

fn delta_columns(schema: &arrow::datatypes::Schema) -> Vec<StructField> {
    use arrow::datatypes::DataType as A;
    schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                A::Utf8 => DataType::STRING,
                A::Int64 => DataType::LONG,
                A::Boolean => DataType::BOOLEAN,
                A::Timestamp(_, _) => DataType::TIMESTAMP,
                A::List(_) => DataType::Array(Box::new(ArrayType::new(DataType::STRING, true))),
                other => unreachable!("store schema has no {other} columns"),
            };
            StructField::new(f.name(), t, f.is_nullable())
        })
        .collect()
}

async fn open_or_create(path: &Path, name: &str, schema: &arrow::datatypes::Schema) -> Result<DeltaTable> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let table = DeltaTable::try_from_url(table_url(path)?).await?;
    if table.version().is_some() {
        return Ok(table);
    }
    Ok(table.create().with_table_name(name).with_columns(delta_columns(schema)).await?)
}

/// How [`Store::register`] gives a session the tables.
#[derive(Clone, Copy)]
enum Tables {
    /// Through Delta's provider, which reads the log.
    Delta,
    /// As listings of the current version's Parquet files.
    Files,
}

/// A file of a table: a local path, or an object's URL in a store at an object-store URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TableFile {
    Local(PathBuf),
    Remote(url::Url),
}

/// The Parquet files that make `table`'s current version, sorted.
fn table_files(table: &DeltaTable) -> Result<Vec<TableFile>> {
    let mut files = Vec::new();
    for uri in table.get_file_uris()? {
        let file = match url::Url::parse(&uri) {
            Ok(url) if url.scheme() == "file" => {
                TableFile::Local(url.to_file_path().map_err(|()| Error::Path(PathBuf::from(&uri)))?)
            }
            Ok(url) if remote::is_object_store_scheme(url.scheme()) => TableFile::Remote(url),
            _ => TableFile::Local(PathBuf::from(&uri)),
        };
        files.push(file);
    }
    files.sort();
    Ok(files)
}

/// A table of exactly `files`, read with `schema` (an empty table when there are none).
fn listing(
    files: &[TableFile],
    schema: arrow::datatypes::SchemaRef,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
    if files.is_empty() {
        return Ok(Arc::new(datafusion::datasource::empty::EmptyTable::new(schema)));
    }
    let urls = files
        .iter()
        .map(|f| match f {
            // As URLs, so that no character of a path is read as a glob.
            TableFile::Local(path) => {
                let url = url::Url::from_file_path(path).map_err(|()| Error::Path(path.clone()))?;
                Ok(ListingTableUrl::parse(url.as_str())?)
            }
            // The store's URL has no glob character (`store_url`), nor have the files echolens names.
            TableFile::Remote(url) => Ok(ListingTableUrl::parse(url.as_str())?),
        })
        .collect::<Result<Vec<_>>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The columns of `schema` that `table` lacks (a table made by an earlier version).
fn missing_columns(table: &DeltaTable, schema: &arrow::datatypes::Schema) -> Result<Vec<StructField>> {
    let stored = table.snapshot()?.schema();
    Ok(delta_columns(schema).into_iter().filter(|f| stored.field(f.name()).is_none()).collect())
}

/// `table` with the columns of `schema` it lacks added (nullable, after its own: a metadata-only commit).
async fn add_missing_columns(table: DeltaTable, schema: &arrow::datatypes::Schema) -> Result<DeltaTable> {
    let missing = missing_columns(&table, schema)?;
    if missing.is_empty() {
        return Ok(table);
    }
    Ok(table.add_columns().with_fields(missing).await?)
}

/// Open a table that must exist.
async fn open_table(path: &Path) -> Result<DeltaTable> {
    let table = DeltaTable::try_from_url(table_url(path)?).await?;
    if table.version().is_none() {
        return Err(Error::Meta(path.to_owned(), "this table of the store has no commit; it was never created".into()));
    }
    Ok(table)
}

/// Write `bytes` to `path` whole or not at all, and never through a link: into a new file beside it (created
/// only if nothing is at its name), flushed to disk, then renamed over `path` (a rename replaces a link at `path`
/// rather than writing to what it points to).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!("{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The pseudonymisation key's file in the store's folder.
pub(crate) const KEY_FILE: &str = "pseudonym.key";

fn key_of(path: &Path, text: &str) -> Result<[u8; 32]> {
    parse_key(text.trim())
        .ok_or_else(|| Error::Meta(path.to_owned(), "expected 64 hexadecimal digits (the pseudonymisation key)".into()))
}

fn pseudonym_key(root: &Path) -> Result<[u8; 32]> {
    let path = root.join(KEY_FILE);
    let io = |source| Error::Io { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => key_of(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| io(std::io::Error::other(e.to_string())))?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            // Written aside and renamed: two runs racing both end with one whole key, and the loser reads it.
            let tmp = root.join(format!("{KEY_FILE}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, format!("{hex}\n")).map_err(|source| Error::Io { path: tmp.clone(), source })?;
            restrict(&tmp);
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                    Ok(key)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = std::fs::remove_file(&tmp);
                    pseudonym_key(root)
                }
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

fn parse_key(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// Only the owner reads the key (where the platform has permissions).
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl Store {
    /// Open the store at `root` for writing, creating it if it does not exist. Takes the store's write lock
    /// first ([`Error::Busy`] when another process holds it), so two processes never create or write one store
    /// at once. A store is created tables first and `echolens.json` last, each step whole: a creation that
    /// failed part-way (a full disk, a kill) leaves a folder that the next run completes.
    ///
    /// A store at an object-store URL is read only: [`Error::ReadOnly`].
    pub async fn open_or_create(root: &Path) -> Result<Store> {
        if remote::is_remote(root) {
            return Err(Error::ReadOnly(root.to_owned()));
        }
        std::fs::create_dir_all(root).map_err(|source| Error::Io { path: root.to_owned(), source })?;
        let root = std::fs::canonicalize(root).map_err(|source| Error::Io { path: root.to_owned(), source })?;
        let lock = WriteLock::acquire(&root)?;
        let meta = root.join(META_FILE);
        let complete = meta.exists() && std::fs::metadata(&meta).is_ok_and(|m| m.len() > 0);
        if complete {
            check_meta(&meta)?;
        }
        let messages = open_or_create(&root.join("messages"), "messages", &message_schema()).await?;
        let messages = add_missing_columns(messages, &message_schema()).await?;
        let quarantine = open_or_create(&root.join("quarantine"), "quarantine", &quarantine_schema()).await?;
        let accounts = Some(open_or_create(&root.join("accounts"), "accounts", &account_schema()).await?);
        if !complete {
            let text = serde_json::json!({"format": "echolens-store", "version": STORE_VERSION}).to_string();
            write_atomically(&meta, text.as_bytes()).map_err(|source| Error::Io { path: meta.clone(), source })?;
        }
        // Made with the store, so that a copy of its folder (to an object store, which echolens only reads)
        // carries it.
        pseudonym_key(&root)?;
        let mut store =
            Store { root, messages, quarantine, accounts, lock: Some(lock), orphans_removed: 0, remote: None };
        store.orphans_removed = store.remove_orphans()?;
        Ok(store)
    }

    /// Open an existing store to read it; an error that says so when `root` is not one. Takes no lock: a
    /// reader sees the last commit made before it opened, whatever a writer does meanwhile.
    ///
    /// `root` may also be an object-store URL (`s3://bucket/store`, [`store_url`]): the store is then read
    /// through object_store, configured from the environment, and cannot be written.
    pub async fn open(root: &Path) -> Result<Store> {
        if let Some(url) = remote::store_url(root) {
            return Store::open_remote(root, url?).await;
        }
        let meta = root.join(META_FILE);
        if !meta.exists() {
            return Err(Error::NotAStore(root.to_owned()));
        }
        check_meta(&meta)?;
        let root = std::fs::canonicalize(root).map_err(|source| Error::Io { path: root.to_owned(), source })?;
        let messages = open_table(&root.join("messages")).await?;
        let quarantine = open_table(&root.join("quarantine")).await?;
        let accounts = if root.join("accounts").join("_delta_log").exists() {
            Some(open_table(&root.join("accounts")).await?)
        } else {
            None
        };
        Ok(Store { root, messages, quarantine, accounts, lock: None, orphans_removed: 0, remote: None })
    }

    async fn open_remote(root: &Path, url: url::Url) -> Result<Store> {
        let remote = remote::Remote::connect(url, root).await?;
        let messages = remote.open_table("messages").await?;
        let quarantine = remote.open_table("quarantine").await?;
        let accounts =
            if remote.has_table("accounts").await? { Some(remote.open_table("accounts").await?) } else { None };
        Ok(Store {
            root: root.to_owned(),
            messages,
            quarantine,
            accounts,
            lock: None,
            orphans_removed: 0,
            remote: Some(remote),
        })
    }

    /// Whether the store is at an object-store URL (and so read only).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Take the write lock if this store does not hold it yet, and then read the tables again: another
    /// writer may have committed since they were opened.
    pub(crate) async fn lock_for_writing(&mut self) -> Result<()> {
        if self.remote.is_some() {
            return Err(Error::ReadOnly(self.root.clone()));
        }
        if self.lock.is_none() {
            self.lock = Some(WriteLock::acquire(&self.root)?);
            if self.accounts.is_none() {
                self.accounts = Some(open_or_create(&self.root.join("accounts"), "accounts", &account_schema()).await?);
            }
            self.reload().await?;
            self.messages = add_missing_columns(self.messages.clone(), &message_schema()).await?;
            self.orphans_removed += self.remove_orphans()?;
        }
        Ok(())
    }

    /// Files removed since the store was opened because no commit references them (see
    /// [`Store::remove_orphans`]).
    pub fn orphans_removed(&self) -> u64 {
        self.orphans_removed
    }

    /// Remove what no commit references, with the write lock held (so no writer can be about to commit it):
    /// Parquet files in a table's folder that are neither in its current version nor named by any entry of its
    /// log, and temporary files of an interrupted creation of `echolens.json`. Readers never read such files.
    fn remove_orphans(&self) -> Result<u64> {
        debug_assert!(self.lock.is_some(), "orphans are removed under the write lock");
        let mut removed = 0;
        let tables = [("messages", Some(&self.messages)), ("quarantine", Some(&self.quarantine))];
        for (dir, table) in tables.into_iter().chain([("accounts", self.accounts.as_ref())]) {
            let Some(table) = table else { continue };
            let dir = self.root.join(dir);
            let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
            for uri in table.get_file_uris()? {
                known.insert(uri.rsplit('/').next().unwrap_or(&uri).to_owned());
            }
            let log = dir.join("_delta_log");
            let io = |path: &Path, source| Error::Io { path: path.to_owned(), source };
            for entry in std::fs::read_dir(&log).map_err(|e| io(&log, e))? {
                let path = entry.map_err(|e| io(&log, e))?.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                for line in text.lines() {
                    let Ok(action) = serde_json::from_str::<serde_json::Value>(line) else { continue };
                    for kind in ["add", "remove"] {
                        if let Some(p) = action[kind]["path"].as_str() {
                            known.insert(p.rsplit('/').next().unwrap_or(p).to_owned());
                        }
                    }
                }
            }
            for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
                let entry = entry.map_err(|e| io(&dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if is_file && name.ends_with(".parquet") && !known.contains(&name) {
                    std::fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), e))?;
                    removed += 1;
                }
            }
        }
        for entry in std::fs::read_dir(&self.root).map_err(|source| Error::Io { path: self.root.clone(), source })? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(META_FILE) && name.ends_with(".tmp") && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Let go of the write lock (after an ingest, before long reads); the next [`Store::writer`] takes it again.
    pub fn unlock(&mut self) {
        self.lock = None;
    }

    /// The store's folder (for a store at an object-store URL, the URL as given).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Parquet files that make the current version of `messages` (what an index of it must cover); a
    /// store at an object-store URL has no local files ([`Error::ReadOnly`]).
    pub fn message_files(&self) -> Result<Vec<PathBuf>> {
        table_files(&self.messages)?
            .into_iter()
            .map(|f| match f {
                TableFile::Local(path) => Ok(path),
                TableFile::Remote(_) => Err(Error::ReadOnly(self.root.clone())),
            })
            .collect()
    }

    /// Take the store's write lock (see [`Store::open_or_create`]) for work that writes beside the tables, such
    /// as the search index: [`Error::Busy`] when another process holds it. [`Store::unlock`] lets it go.
    pub async fn lock(&mut self) -> Result<()> {
        self.lock_for_writing().await
    }

    /// Whether this store holds the write lock.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// The Delta table version of `messages` (grows with every commit).
    pub fn messages_version(&self) -> i64 {
        self.messages.version().map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// A DataFusion session with the store's tables registered.
    pub async fn session(&self) -> Result<SessionContext> {
        let ctx = SessionContext::new();
        self.register(&ctx).await?;
        Ok(ctx)
    }

    /// Register `messages`, `quarantine` and `accounts` in an existing session (`accounts` empty in a store
    /// made before it existed).
    pub async fn register(&self, ctx: &SessionContext) -> Result<()> {
        self.register_as(ctx, Tables::Delta).await
    }

    /// Register the tables as [`Store::register`] does, each as a listing of the Parquet files of its current
    /// version: what an engine that reads the files itself needs (Ballista's executors, which are sent the
    /// plan and the file paths, not the Delta log).
    pub async fn register_files(&self, ctx: &SessionContext) -> Result<()> {
        self.register_as(ctx, Tables::Files).await
    }

    async fn register_as(&self, ctx: &SessionContext, how: Tables) -> Result<()> {
        if let Some(remote) = &self.remote {
            ctx.register_object_store(&remote::bucket_url(&remote.url), Arc::clone(&remote.store));
        }
        let tables = [("messages", Some(&self.messages)), ("quarantine", Some(&self.quarantine))];
        for (name, table) in tables.into_iter().chain([("accounts", self.accounts.as_ref())]) {
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match table {
                Some(table) => {
                    table.update_datafusion_session(&ctx.state())?;
                    let delta = table.table_provider().await?;
                    match how {
                        Tables::Delta => delta,
                        Tables::Files => listing(&table_files(table)?, delta.schema())?,
                    }
                }
                None => Arc::new(datafusion::datasource::empty::EmptyTable::new(account_schema())),
            };
            ctx.register_table(name, provider)?;
        }
        // A messages table made before a column was added (opened to read): the column reads as empty.
        let missing = missing_columns(&self.messages, &message_schema())?;
        if !missing.is_empty() {
            let stored = ctx.deregister_table("messages")?.expect("registered above");
            ctx.register_table("messages_as_stored", stored)?;
            let nulls: Vec<String> =
                missing.iter().map(|f| format!("CAST(NULL AS VARCHAR) AS \"{}\"", f.name())).collect();
            let view = ctx.sql(&format!("SELECT *, {} FROM messages_as_stored", nulls.join(", "))).await?;
            ctx.register_table("messages", view.into_view())?;
        }
        Ok(())
    }

    /// The store's pseudonymisation key: 32 random bytes in `pseudonym.key`, made on first use and kept, so an
    /// account has the same pseudonym in every report made from this store. Whoever holds the store can
    /// recompute a pseudonym from an id; whoever holds only a report cannot.
    ///
    /// A store at an object-store URL is only read: its key is the one its folder had when it was copied there.
    pub fn pseudonym_key(&self) -> Result<[u8; 32]> {
        match &self.remote {
            None => pseudonym_key(&self.root),
            Some(remote) => {
                let path = remote.display(KEY_FILE);
                let text = remote.key.as_deref().ok_or_else(|| {
                    Error::Meta(
                        path.clone(),
                        "the store has no pseudonymisation key; copy the store's folder with its pseudonym.key \
                         (a store gets one when it is created or next written)"
                            .into(),
                    )
                })?;
                key_of(&path, text)
            }
        }
    }

    /// Reload both tables from disk (after another process wrote).
    pub async fn reload(&mut self) -> Result<()> {
        self.messages.load().await?;
        self.quarantine.load().await?;
        if let Some(accounts) = self.accounts.as_mut() {
            accounts.load().await?;
        }
        Ok(())
    }
}

fn check_meta(meta: &Path) -> Result<()> {
    let text = std::fs::read_to_string(meta).map_err(|source| Error::Io { path: meta.to_owned(), source })?;
    check_meta_text(meta, &text)
}

fn check_meta_text(meta: &Path, text: &str) -> Result<()> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::Meta(meta.to_owned(), e.to_string()))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if value.get("format").and_then(serde_json::Value::as_str) != Some("echolens-store") {
        return Err(Error::Meta(meta.to_owned(), "not an echolens store".into()));
    }
    if version > u64::from(STORE_VERSION) {
        return Err(Error::Meta(
            meta.to_owned(),
            format!("store version {version} is newer than this echolens reads ({STORE_VERSION}); upgrade echolens"),
        ));
    }
    Ok(())
}
