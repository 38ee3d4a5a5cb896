//! The one error type of keyvault-backup.

use keyvault_core::{ErrorKind, Timestamp};
use keyvault_crypto::CryptoError;
use keyvault_store::StoreError;

/// Everything that can go wrong reading, writing, restoring or migrating portable files.
///
/// Errors about untrusted input are typed and bounded: they never echo more than a short,
/// truncated excerpt of the input, and they never carry key material or passwords. A wrong
/// password ([`BackupError::WrongPassword`]) is told apart from a modified file
/// ([`BackupError::Tampered`]) by a password check value in each file's header; a file whose
/// check value was itself modified reads as a wrong password, which is still a refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The bytes are not a file of the expected kind, or are damaged so that they cannot be
    /// decoded (bad magic, truncated, malformed JSON or binary encoding).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read (for example "key export").
        what: &'static str,
        /// Why it could not be read.
        reason: String,
    },

    /// The file decodes, but is not byte for byte the encoding keyvault writes for its value
    /// (reformatted JSON, extra fields, upper-case hex, overlong integers, trailing bytes).
    /// Every accepted file has exactly one encoding, so no edit of it goes unnoticed.
    #[error("{what} is not in canonical form: it was edited or re-encoded after it was written")]
    NonCanonical {
        /// What was being read.
        what: &'static str,
    },

    /// A format version this release cannot read.
    #[error("unsupported {what} format version {version} (this release reads version {supported})")]
    UnsupportedVersion {
        /// What was being read.
        what: &'static str,
        /// The version found.
        version: u32,
        /// The version this release reads.
        supported: u32,
    },

    /// An algorithm this format version does not use.
    #[error("unsupported algorithm {name:?} in {what}")]
    UnsupportedAlgorithm {
        /// What was being read.
        what: &'static str,
        /// The algorithm's name or id, truncated.
        name: String,
    },

    /// An input, a field or a decoded result is larger than this format allows. Checked before
    /// allocating for it.
    #[error("{what} is too large: {len} bytes or items, at most {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },

    /// A header field holds a value this format refuses (a salt of the wrong length, unknown
    /// flags, an empty version list, ...).
    #[error("invalid {what}: {reason}")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The Argon2 costs or salt a file names are out of bounds (past the ceiling, below the
    /// floor): the file is damaged or hostile, and nothing was derived from it.
    #[error("the {what}'s Argon2 parameters are refused: {source}")]
    KdfParameters {
        /// The kind of file.
        what: &'static str,
        /// The bound that was broken.
        source: CryptoError,
    },

    /// The password does not open this file.
    #[error("wrong password: it does not open this {what}")]
    WrongPassword {
        /// What the password was for.
        what: &'static str,
    },

    /// The file failed its integrity check (HMAC or AEAD tag) although the password is right:
    /// it was modified or damaged after it was written. Nothing in it was used.
    #[error("integrity check failed: the {what} was modified or damaged")]
    Tampered {
        /// What failed.
        what: &'static str,
    },

    /// The decompressed payload would exceed its authenticated size or the format's limit: a
    /// decompression bomb or a damaged file. Decompression stopped at the limit.
    #[error("decompressed {what} exceeds its limit of {max} bytes")]
    DecompressionLimit {
        /// What was being decompressed.
        what: &'static str,
        /// The limit that was reached.
        max: u64,
    },

    /// The compressed payload is not a valid zstd stream.
    #[error("cannot decompress the {what}: {reason}")]
    Decompression {
        /// What was being decompressed.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },

    /// Authenticated content contradicts itself or its header (a key count that does not match,
    /// a version carried that the metadata lacks, ...).
    #[error("inconsistent {what}: {reason}")]
    Inconsistent {
        /// What was inconsistent.
        what: &'static str,
        /// How.
        reason: &'static str,
    },

    /// The exported key expired; import it anyway with `ImportOptions::allow_expired`.
    #[error("key {key} expired at {expired_at}")]
    Expired {
        /// The key's name.
        key: String,
        /// When it expired.
        expired_at: Timestamp,
    },

    /// A chain of backups is broken: it does not start with a full backup, an incremental backup
    /// does not name the one before it, or the backups belong to different vaults.
    #[error("broken backup chain: {reason}")]
    BrokenChain {
        /// What is wrong with the chain.
        reason: &'static str,
    },

    /// A merge or migration found keys whose names or ids are already in the vault, and the
    /// policy is to refuse. Nothing was imported.
    #[error(
        "{} already in the vault: {}",
        if names.len() == 1 { "1 key conflicts with a key".to_owned() } else { format!("{} keys conflict with keys", names.len()) },
        names.join(", ")
    )]
    Conflict {
        /// The conflicting keys' names.
        names: Vec<String>,
    },

    /// A rust-keyvault 0.2 file or directory that cannot be migrated.
    #[error("cannot migrate rust-keyvault data ({source_name}): {reason}")]
    Legacy {
        /// The file or key it concerns.
        source_name: String,
        /// Why.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The vault refused or failed (name taken, export denied, storage errors, ...).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A rule of the key domain refused the content (invalid metadata, transitions, ...).
    /// Crypto failures never arrive here: they are [`BackupError::Crypto`].
    #[error(transparent)]
    Core(keyvault_core::Error),

    /// A cryptographic primitive refused its inputs (Argon2 parameters past the ceiling or
    /// below the floor, lengths, randomness).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<keyvault_core::Error> for BackupError {
    /// A core error, except that a crypto failure it carries becomes [`BackupError::Crypto`], so
    /// callers meet crypto failures on one path.
    fn from(err: keyvault_core::Error) -> Self {
        match err {
            keyvault_core::Error::Crypto(crypto) => BackupError::Crypto(crypto),
            other => BackupError::Core(other),
        }
    }
}

impl BackupError {
    /// The error's stable category (shared with keyvault-core), for exit codes and callers.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            // Files that do not decode, were re-encoded, carry impossible fields or Argon2 costs
            // out of bounds are damaged or foreign.
            BackupError::Malformed { .. }
            | BackupError::NonCanonical { .. }
            | BackupError::InvalidField { .. }
            | BackupError::KdfParameters { .. }
            | BackupError::Decompression { .. }
            | BackupError::DecompressionLimit { .. }
            | BackupError::Tampered { .. }
            | BackupError::Inconsistent { .. }
            | BackupError::BrokenChain { .. } => ErrorKind::Integrity,
            BackupError::TooLarge { .. } => ErrorKind::LimitExceeded,
            BackupError::UnsupportedVersion { .. }
            | BackupError::UnsupportedAlgorithm { .. }
            | BackupError::Legacy { .. } => ErrorKind::Unsupported,
            BackupError::WrongPassword { .. } => ErrorKind::Authentication,
            BackupError::Expired { .. } => ErrorKind::Denied,
            BackupError::Conflict { .. } => ErrorKind::Conflict,
            BackupError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            BackupError::Io { .. } => ErrorKind::Internal,
            BackupError::Store(err) => err.kind(),
            BackupError::Core(err) => err.kind(),
            BackupError::Crypto(err) => ErrorKind::of_crypto(err),
        }
    }

    pub(crate) fn malformed(what: &'static str, reason: impl std::fmt::Display) -> Self {
        let mut reason = reason.to_string();
        if reason.len() > 200 {
            let mut cut = 200;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        BackupError::Malformed { what, reason }
    }

    pub(crate) fn too_large(what: &'static str, len: usize, max: usize) -> Self {
        BackupError::TooLarge {
            what,
            len: u64::try_from(len).unwrap_or(u64::MAX),
            max: u64::try_from(max).unwrap_or(u64::MAX),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = BackupError> = std::result::Result<T, E>;
