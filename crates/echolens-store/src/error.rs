use std::path::PathBuf;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder of the store could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The path cannot be a table location.
    #[error("{} cannot be used as a store location", .0.display())]
    Path(PathBuf),
    /// No store there.
    #[error("{} is not an echolens store (no echolens.json); create one with `echolens ingest --store {} PATH...`", .0.display(), .0.display())]
    NotAStore(PathBuf),
    /// The store's metadata file is unreadable or of another version.
    #[error("{}: {}", .0.display(), .1)]
    Meta(PathBuf, String),
    /// Delta Lake failed.
    #[error("delta table: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    /// DataFusion failed.
    #[error("query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A background commit or file writer failed to run to its end.
    #[error("background task: {0}")]
    Task(String),
    /// A Parquet file of the store could not be written.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: deltalake::parquet::errors::ParquetError,
    },
    /// Another process is writing to the store.
    #[error("the store is being written by {holder} ({}); wait for it to finish, or stop it. \
             The lock ends with that process: once it has ended, run this again", .path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Who holds the lock: process id, since when, command.
        holder: String,
    },
    /// A store at an object-store URL is read only.
    #[error("the store {} is at an object-store URL, which echolens only reads: write the store on a file \
             system (ingest, or analyze with inputs) and copy its folder there as it is (`aws s3 sync`, \
             `gcloud storage rsync`, `azcopy sync`)", .0.display())]
    ReadOnly(PathBuf),
    /// An object store could not be reached or read.
    #[error("{url}: {reason}")]
    Remote {
        /// What was read.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// Arrow failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
