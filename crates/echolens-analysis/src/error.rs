use std::path::PathBuf;

/// What can go wrong in an analysis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Writing an output failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing a CSV output failed.
    #[error("writing {path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
    /// Reading a CSV input (a keyness run's `terms.csv`) failed.
    #[error("reading {path}: {source}")]
    CsvRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
    /// A parameter is out of range, or the input cannot be analysed as asked.
    #[error("{0}")]
    Param(String),
    /// A selection (`role`: target, reference, corpus) holds no message: the input, not a bug.
    #[error("the {role} ({selection}) matches no message")]
    Empty {
        /// What the selection was for.
        role: String,
        /// The selection, in words.
        selection: String,
    },
    /// A kernel's spill file could not be written or read: most often a full disk, or the engine's limit on
    /// spill files (`datafusion.runtime.max_temp_directory_size`) reached.
    #[error(
        "{what}: a spill file in {} could not be written or read: {source}. Spill files go to the system's \
         temporary directory (TMPDIR): point it at a disk with room",
        dir.display()
    )]
    Spill {
        /// What was spilled.
        what: String,
        /// The directory of the spill files.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something that cannot happen did: a bug in echolens, to report.
    #[error("{0} (a bug in echolens; please report it with the command that gave it)")]
    Internal(String),
    /// Community detection failed.
    #[error("community detection: {0}")]
    Leiden(String),
}

/// Analysis results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
