//! The error type of `streams-state`.

use std::path::PathBuf;

/// What went wrong in a state store, naming the store or file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// RocksDB refused an operation.
    #[error("RocksDB {op} failed in store `{store}`")]
    RocksDb {
        /// The store's name.
        store: String,
        /// The operation that failed (`open`, `get`, `put`, ...).
        op: &'static str,
        /// RocksDB's own error.
        #[source]
        source: rocksdb::Error,
    },
    /// A file operation failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file could not be parsed.
    #[error("corrupt checkpoint file {path}: {reason}")]
    CorruptCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The changelog sink refused a record.
    #[error("changelog write for store `{store}` failed: {reason}")]
    Changelog {
        /// The store whose change could not be logged.
        store: String,
        /// Why the sink refused it.
        reason: String,
    },
    /// An entry of the store's engine is not in the store's layout (a truncated value, a key
    /// of another store): the store cannot be trusted and must be rebuilt from its changelog.
    #[error("store `{store}` holds a corrupt entry: {reason}")]
    Corrupt {
        /// The store's name.
        store: String,
        /// What was wrong with the entry.
        reason: String,
    },
    /// The store was used after it was closed.
    #[error("store `{store}` is closed")]
    Closed {
        /// The store's name.
        store: String,
    },
}

impl Error {
    /// Whether the store's files are corrupt (RocksDB found a checksum mismatch or a broken
    /// file): the store cannot be trusted and must be rebuilt from its changelog.
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::RocksDb { source, .. } => source.kind() == rocksdb::ErrorKind::Corruption,
            Error::Corrupt { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
