use std::path::PathBuf;

/// Errors that stop a whole file. Record-level problems are quarantined, not returned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A format whose files are read whole was asked to be read in chunks (see [`crate::Reader`]).
    #[error("{0} files are read whole, not in chunks")]
    NotChunked(crate::Format),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
