//! The one error type of keyvault-store.

use keyvault_core::ErrorKind;
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

    /// The database stayed locked by another process (an open write transaction) for the
    /// whole bounded wait ([`crate::BusyWait`]). Not retried by the vault: waiting again would
    /// make a command hang for as long as the other process holds the lock.
    #[error("the vault is busy: another process has held its lock for too long; try again later")]
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

    /// A recovery key or share as typed does not decode: a group or checksum does not match.
    #[error("the {what} is mistyped: {reason}")]
    Mistyped {
        /// What was typed.
        what: &'static str,
        /// Which part, and what to do (never the secret itself).
        reason: String,
    },

    /// The secret offered (recovery key, shares, an external key) does not open any slot of
    /// its kind in this vault.
    #[error("the {what} does not open this vault")]
    SlotRefused {
        /// What was offered.
        what: &'static str,
    },

    /// The vault has no keyslot of the kind offered.
    #[error("this vault has no {what} slot")]
    NoSlot {
        /// The kind of slot.
        what: &'static str,
    },

    /// No keyslot has this id.
    #[error("this vault has no keyslot {0}")]
    NoSuchSlot(u32),

    /// Removing the slot would leave the vault with no way to open it.
    #[error("keyslot {0} is the vault's last: add another before removing it")]
    LastSlot(u32),

    /// A keyslot request that cannot be met (an impossible threshold, a full header).
    #[error("invalid keyslot: {0}")]
    InvalidSlot(String),

    /// A share given to open the vault belongs to another vault, or to a set that is not in
    /// the vault (replaced, or altered).
    #[error("share {index} does not belong to this vault's shares: {reason}")]
    ForeignShare {
        /// The share's number.
        index: u8,
        /// Whose it is, as far as it can be told.
        reason: &'static str,
    },

    /// The shares given cannot open the vault together: too few, repeated, or of two sets.
    #[error("cannot open the vault with these shares: {0}")]
    Shares(String),

    /// A device or service holding an external key (an HSM, a cloud KMS) failed or refused.
    #[error("{provider}: {reason}")]
    Provider {
        /// The provider's name (`pkcs11`, `aws-kms`).
        provider: String,
        /// What went wrong, without credentials.
        reason: String,
        /// Its category, as the provider tells it: `Authentication` for a wrong PIN or a
        /// ciphertext the key refuses, `NotFound` for a missing key, `Denied` for a disabled
        /// one, `Unavailable` for a device or service that cannot be reached.
        kind: ErrorKind,
    },

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
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A lock inside this process was poisoned by a panicking thread.
    #[error("internal lock poisoned")]
    Poisoned,

    /// No keyslot of the vault opens with the password given.
    #[error("wrong password: no keyslot of this vault opens with it")]
    WrongPassword,

    /// Sealed data failed to authenticate: the file was modified, a record was moved between
    /// places or vaults, or data was truncated.
    #[error("integrity check failed: {what} has been tampered with or damaged")]
    Tampered {
        /// What failed (never secret).
        what: String,
    },

    /// The audit chain verifies on its own but does not extend a head recorded earlier: the
    /// vault or its audit log was put back to an older state, or the head belongs to another
    /// vault.
    #[error(
        "the audit log was rolled back or replaced: it has {found} records that do not extend the recorded head of {anchored}"
    )]
    AuditRollback {
        /// Records in the recorded head.
        anchored: u64,
        /// Records in the vault now.
        found: u64,
    },

    /// The vault's records do not match the head sealed in its metadata: a record was put back
    /// from an older copy, deleted, added or duplicated (which could un-revoke a key or reset a
    /// usage budget). The vault refuses to open.
    #[error("the vault's records were rolled back or changed: {damage}")]
    RecordsRolledBack {
        /// What differs (never secret).
        damage: crate::head::RecordDamage,
    },

    /// Snapshots that do not form one chain: a restore given an incremental snapshot first, one
    /// that does not follow the snapshot before it, or one of another vault or of another history
    /// of the vault (a restore came between them); or an incremental snapshot asked against a
    /// base this vault's history does not contain.
    #[error("the snapshots do not form one chain: {reason}")]
    BrokenChain {
        /// Why (never secret).
        reason: &'static str,
    },

    /// The vault is locked: its keys were wiped by [`crate::Vault::lock`].
    #[error("the vault is locked")]
    Locked,

    /// No key with this name or id exists.
    #[error("no key {0}")]
    KeyNotFound(String),

    /// A key with this name already exists.
    #[error("a key named {0} already exists")]
    NameTaken(String),

    /// A key from elsewhere (import with Replace, a merged backup, a migration) was not put
    /// over the vault's copy, because it would move the key backwards.
    #[error("key {key} was not replaced: {reason}")]
    ReplaceRefused {
        /// The key's name.
        key: String,
        /// Why (never secret).
        reason: crate::merge::ReplaceRefusal,
    },

    /// The input is not an encrypted file stream this build reads: another format, another
    /// format version, or a header field out of bounds ([`crate::stream`]).
    #[error("the input is not a readable keyvault stream: {reason}")]
    NotAStream {
        /// Why (never secret).
        reason: String,
    },

    /// An encrypted file stream ends before its header or its first chunk is complete.
    #[error("the encrypted stream is truncated: it ends before its final chunk")]
    StreamTruncated,

    /// A chunk of an encrypted file stream does not authenticate (which check failed is not
    /// said). Chunks before it authenticated; nothing of this one was released.
    #[error(
        "chunk {index} of the encrypted stream does not authenticate: the file was truncated, \
         reordered, extended or tampered with, or the key is wrong"
    )]
    StreamChunk {
        /// The chunk's position, from 0.
        index: u32,
    },

    /// A parameter of a stream being written is out of range: chunk size, wrapped key length,
    /// or more chunks than a stream can number.
    #[error("invalid encrypted stream: {reason}")]
    StreamParameter {
        /// Why (never secret).
        reason: String,
    },

    /// The reader or writer under an encrypted file stream failed.
    #[error("I/O error in an encrypted stream: {0}")]
    StreamIo(#[source] std::io::Error),

    /// A rule of the key domain refused the request (lifecycle, policy, validation). Crypto
    /// failures never arrive here: they are [`StoreError::Crypto`].
    #[error(transparent)]
    Core(keyvault_core::Error),

    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<keyvault_core::Error> for StoreError {
    /// A core error, except that a crypto failure it carries becomes [`StoreError::Crypto`], so
    /// callers meet crypto failures on one path.
    fn from(err: keyvault_core::Error) -> Self {
        match err {
            keyvault_core::Error::Crypto(crypto) => StoreError::Crypto(crypto),
            other => StoreError::Core(other),
        }
    }
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Conflict { .. } => true,
            StoreError::Core(err) => err.is_retryable(),
            StoreError::Crypto(CryptoError::Randomness) => true,
            _ => false,
        }
    }

    /// The error's stable category (shared with keyvault-core), for exit codes and callers.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Core(err) => err.kind(),
            StoreError::Conflict { .. }
            | StoreError::NameTaken(_)
            | StoreError::ReplaceRefused { .. }
            | StoreError::AlreadyExists(_) => ErrorKind::Conflict,
            StoreError::InvalidBatch(_)
            | StoreError::Mistyped { .. }
            | StoreError::InvalidSlot(_)
            | StoreError::Shares(_) => ErrorKind::InvalidInput,
            StoreError::SlotRefused { .. } => ErrorKind::Authentication,
            StoreError::ForeignShare { .. } => ErrorKind::Integrity,
            StoreError::NoSlot { .. } | StoreError::NoSuchSlot(_) => ErrorKind::NotFound,
            StoreError::LastSlot(_) => ErrorKind::Conflict,
            StoreError::Provider { kind, .. } => *kind,
            StoreError::Busy | StoreError::Locked => ErrorKind::Unavailable,
            StoreError::WrongPassword
            | StoreError::NotAVault { .. }
            | StoreError::NotAStream { .. }
            | StoreError::StreamTruncated
            | StoreError::StreamChunk { .. } => ErrorKind::Authentication,
            StoreError::StreamParameter { .. } => ErrorKind::InvalidInput,
            StoreError::Tampered { .. }
            | StoreError::Corrupt(_)
            | StoreError::AuditRollback { .. }
            | StoreError::RecordsRolledBack { .. }
            | StoreError::BrokenChain { .. } => ErrorKind::Integrity,
            StoreError::KeyNotFound(_) | StoreError::NoVault(_) => ErrorKind::NotFound,
            StoreError::Crypto(err) => ErrorKind::of_crypto(err),
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            StoreError::Io { .. }
            | StoreError::StreamIo(_)
            | StoreError::Database(_)
            | StoreError::Poisoned => ErrorKind::Internal,
        }
    }

    pub(crate) fn tampered(what: impl Into<String>) -> Self {
        StoreError::Tampered { what: what.into() }
    }
}

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use keyvault_core::ErrorKind;
    use keyvault_crypto::CryptoError;

    use super::StoreError;

    /// A crypto failure is classified alike however it reaches a caller, and arrives on one
    /// path. Regression: through core it was `Internal`, directly `InvalidInput`.
    #[test]
    fn crypto_failures_take_one_path_and_one_kind() {
        let through_core = StoreError::from(keyvault_core::Error::Crypto(
            CryptoError::LengthOutOfRange {
                what: "test",
                min: 1,
                max: 2,
                actual: 0,
            },
        ));
        assert!(
            matches!(through_core, StoreError::Crypto(_)),
            "{through_core:?}"
        );
        assert_eq!(through_core.kind(), ErrorKind::InvalidInput);
        for (err, kind) in [
            (CryptoError::Authentication, ErrorKind::Authentication),
            (CryptoError::Randomness, ErrorKind::Unavailable),
            (CryptoError::Argon2("test"), ErrorKind::Internal),
            (CryptoError::UnknownAlgorithmId(9), ErrorKind::InvalidInput),
        ] {
            assert_eq!(StoreError::Crypto(err.clone()).kind(), kind);
            assert_eq!(keyvault_core::Error::Crypto(err).kind(), kind);
        }
    }

    /// The SQLite error stays reachable as the source.
    #[test]
    fn database_errors_keep_their_source() {
        let err = StoreError::Database(Box::new(std::io::Error::other("engine")));
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("engine"));
    }
}
