//! The one error type of keyvault-store.

use keyvault_crypto::CryptoError;

/// Everything that can go wrong in keyvault-store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A write's precondition did not hold: another writer changed the record first. Re-read
    /// and retry.
    #[error("conflict: a record changed concurrently (expected {expected}, found {found})")]
    Conflict {
        /// What the write expected.
        expected: String,
        /// What the store held.
        found: String,
    },

    /// A batch named the same record twice, or was otherwise malformed.
    #[error("invalid batch: {0}")]
    InvalidBatch(&'static str),

    /// The database stayed locked by another process for longer than the busy timeout.
    #[error("the vault is busy (locked by another process); try again")]
    Busy,

    /// The file is not a keyvault vault (a foreign SQLite database or not a database at all).
    #[error("{path} is not a keyvault vault: {reason}")]
    NotAVault {
        /// The file.
        path: String,
        /// Why it was refused.
        reason: String,
    },

    /// The file is damaged.
    #[error("the vault file is corrupt: {0}")]
    Corrupt(String),

    /// A vault already exists where a new one was to be created.
    #[error("{0} already exists")]
    AlreadyExists(String),

    /// No vault exists at the path.
    #[error("no vault at {0}")]
    NoVault(String),

    /// An operating-system I/O error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An error from the SQLite engine that none of the variants above describes.
    #[error("database error: {0}")]
    Database(String),

    /// A lock inside this process was poisoned by a panicking thread.
    #[error("internal lock poisoned")]
    Poisoned,

    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict { .. } | StoreError::Busy)
    }
}

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
