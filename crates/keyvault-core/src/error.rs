//! The one error type of keyvault-core, with a stable machine-readable [`ErrorKind`].

use std::fmt;

use keyvault_crypto::CryptoError;
use serde::{Deserialize, Serialize};

use crate::audit::ChainBreak;
use crate::envelope::EnvelopeDefect;
use crate::ids::{KeyId, KeyVersion, NameRule};
use crate::lifecycle::{
    StateKind, TransitionKind, TransitionRefusal, VersionState, VersionTransition,
};
use crate::policy::{Denial, KeyOperation};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in keyvault-core.
///
/// Each error carries the context needed to act on it (key id, version, operation, state) and
/// maps to an [`ErrorKind`] through [`Error::kind`]. Cryptographic failures stay opaque: a
/// wrong key, wrong AAD and a flipped bit are all [`Error::Authentication`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that should be a key id is not one.
    #[error("invalid key id {input:?}: {reason}")]
    InvalidKeyId {
        /// The input, cut to 64 characters.
        input: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// A key name breaks the naming rules.
    #[error("invalid key name {name:?}: {rule}")]
    InvalidName {
        /// The name, cut to 64 characters.
        name: String,
        /// The rule it breaks.
        rule: NameRule,
    },

    /// Version 0 (versions count from 1).
    #[error("invalid key version {number}: versions count from 1")]
    InvalidVersion {
        /// The number given.
        number: u32,
    },

    /// An algorithm name this version does not know.
    #[error("unknown algorithm {name:?}")]
    UnknownAlgorithm {
        /// The name given, cut to 64 characters.
        name: String,
    },

    /// A label breaks the label rules.
    #[error("invalid label {key:?}: {reason}")]
    InvalidLabel {
        /// The label key, cut to 64 characters.
        key: String,
        /// The rule it breaks.
        reason: &'static str,
    },

    /// A description breaks the description rules.
    #[error("invalid description: {reason}")]
    InvalidDescription {
        /// The rule it breaks.
        reason: &'static str,
    },

    /// Serialized metadata violates an invariant.
    #[error("inconsistent key metadata: {reason}")]
    InvalidMetadata {
        /// The invariant.
        reason: &'static str,
    },

    /// A lifecycle transition the table does not allow, or whose time condition fails.
    #[error(
        "key {key}: cannot {} a key that is {}: {}",
        transition.words(),
        from.words(),
        refusal.explain(*from, *transition)
    )]
    InvalidTransition {
        /// The key.
        key: KeyId,
        /// Its state.
        from: StateKind,
        /// The transition asked for.
        transition: TransitionKind,
        /// Why it was refused.
        refusal: TransitionRefusal,
    },

    /// A version transition the version table does not allow.
    #[error(
        "key {key} version {version}: cannot {transition} a version that is {from}: {}",
        crate::lifecycle::version_way_forward(*from, *transition)
    )]
    InvalidVersionTransition {
        /// The key.
        key: KeyId,
        /// The version.
        version: KeyVersion,
        /// Its state.
        from: VersionState,
        /// The transition asked for.
        transition: VersionTransition,
    },

    /// The action would remove the version that encrypts now.
    #[error("key {key}: cannot {action} version {version}, which encrypts now; rotate first")]
    CurrentVersion {
        /// The key.
        key: KeyId,
        /// The version.
        version: KeyVersion,
        /// What was asked.
        action: &'static str,
    },

    /// The key has no such version.
    #[error("key {key} has no version {version}")]
    UnknownVersion {
        /// The key.
        key: KeyId,
        /// The version asked for.
        version: KeyVersion,
    },

    /// The key was destroyed: its material is gone, only the tombstone remains.
    #[error("key {key} has been destroyed")]
    KeyDestroyed {
        /// The key.
        key: KeyId,
    },

    /// Rotation asked of a key whose state does not allow new material.
    #[error(
        "key {key}: cannot rotate a key that is {}: {}",
        state.words(),
        rotation_advice(*state)
    )]
    RotationRefused {
        /// The key.
        key: KeyId,
        /// Its state.
        state: StateKind,
    },

    /// The key has used every version number.
    #[error("key {key} has no version numbers left")]
    VersionsExhausted {
        /// The key.
        key: KeyId,
    },

    /// A decryption floor (or trim floor) that would leave no enabled version to encrypt.
    #[error(
        "key {key}: floor {floor} would leave no enabled version to encrypt ({}); rotate or enable a version at or above it first",
        highest_enabled.map_or_else(|| "no version is enabled".to_owned(), |v| format!("the highest enabled is {v}"))
    )]
    VersionFloor {
        /// The key.
        key: KeyId,
        /// The floor asked for.
        floor: KeyVersion,
        /// The highest enabled version, if any.
        highest_enabled: Option<KeyVersion>,
    },

    /// The policy refused the operation.
    #[error(
        "key {key}: {operation} denied: {denial}{}",
        crate::policy::denial_advice(*operation, *denial)
    )]
    Denied {
        /// The key.
        key: KeyId,
        /// The operation asked for.
        operation: KeyOperation,
        /// The version named by the request, if any.
        version: Option<KeyVersion>,
        /// The rule that refused.
        denial: Denial,
    },

    /// Bytes or text that are not a well-formed ciphertext envelope.
    #[error("malformed ciphertext envelope: {defect}")]
    MalformedEnvelope {
        /// What is wrong.
        defect: EnvelopeDefect,
    },

    /// An envelope opened for another purpose than it was sealed for.
    #[error("this ciphertext holds {found}, not {expected}")]
    WrongPurpose {
        /// What the operation opens.
        expected: crate::envelope::Purpose,
        /// What the envelope holds.
        found: crate::envelope::Purpose,
    },

    /// A key bound to another algorithm than the envelope names.
    #[error("the envelope is for {expected}, the key is for {found}")]
    AlgorithmMismatch {
        /// The envelope's algorithm.
        expected: &'static str,
        /// The key's algorithm.
        found: &'static str,
    },

    /// An input over a size limit.
    #[error("{what} is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The ciphertext or MAC did not authenticate. Deliberately without detail.
    #[error("authentication failed")]
    Authentication,

    /// The audit chain does not verify: a record was edited, deleted, inserted, reordered or
    /// truncated.
    #[error("audit chain broken: {broken}")]
    AuditChain {
        /// Where and how.
        broken: ChainBreak,
    },

    /// Another failure of the cryptographic layer (for example, no randomness).
    #[error("cryptographic failure: {0}")]
    Crypto(CryptoError),
}

/// What to do about a rotation refused in `state`.
fn rotation_advice(state: StateKind) -> &'static str {
    match state {
        StateKind::PendingDeletion => "cancel its deletion first",
        StateKind::Destroyed => "a destroyed key is gone for good; create a new key instead",
        StateKind::Deprecated | StateKind::Revoked => {
            "only a pending, active or disabled key gets new versions; create a new key instead"
        }
        StateKind::Pending | StateKind::Active | StateKind::Disabled => "",
    }
}

impl From<CryptoError> for Error {
    fn from(err: CryptoError) -> Self {
        match err {
            CryptoError::Authentication => Error::Authentication,
            other => Error::Crypto(other),
        }
    }
}

/// The stable category of an [`Error`], for the CLI's exit codes and JSON and for callers
/// deciding what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was malformed: fix the input.
    InvalidInput,
    /// A named thing does not exist.
    NotFound,
    /// The key existed but was destroyed.
    Destroyed,
    /// Policy or state refused the operation.
    Denied,
    /// The request conflicts with the key's current state.
    Conflict,
    /// Cryptographic authentication failed.
    Authentication,
    /// Data read back is damaged, truncated, tampered with or foreign: it does not decode, or it
    /// fails an integrity check (the audit chain, a file's own bounds).
    Integrity,
    /// A size or count limit was reached.
    LimitExceeded,
    /// A resource was temporarily unavailable (randomness, a busy vault).
    Unavailable,
    /// The data is in a format version, or uses an algorithm, this build does not read.
    Unsupported,
    /// An unexpected internal failure.
    Internal,
}

impl ErrorKind {
    /// The kind of a keyvault-crypto error, the one classification of crypto failures whichever
    /// crate reports them: a failed authentication, randomness that was unavailable, an internal
    /// failure of the Argon2 implementation, and otherwise a request the primitives refuse
    /// (a length, algorithm or parameter out of range).
    #[must_use]
    pub const fn of_crypto(err: &CryptoError) -> ErrorKind {
        match err {
            CryptoError::Authentication => ErrorKind::Authentication,
            CryptoError::Randomness => ErrorKind::Unavailable,
            CryptoError::Argon2(_) => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        }
    }

    /// Every kind.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::Destroyed,
        ErrorKind::Denied,
        ErrorKind::Conflict,
        ErrorKind::Authentication,
        ErrorKind::Integrity,
        ErrorKind::LimitExceeded,
        ErrorKind::Unavailable,
        ErrorKind::Unsupported,
        ErrorKind::Internal,
    ];

    /// Stable snake_case name, e.g. `"not_found"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Destroyed => "destroyed",
            ErrorKind::Denied => "denied",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Integrity => "integrity",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The error's stable category.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKeyId { .. }
            | Error::InvalidName { .. }
            | Error::InvalidVersion { .. }
            | Error::UnknownAlgorithm { .. }
            | Error::InvalidLabel { .. }
            | Error::InvalidDescription { .. }
            | Error::InvalidMetadata { .. }
            | Error::AlgorithmMismatch { .. } => ErrorKind::InvalidInput,
            // Rotation past the last version number is refused by the key's state, as the other
            // refused transitions are.
            Error::InvalidTransition { .. }
            | Error::InvalidVersionTransition { .. }
            | Error::CurrentVersion { .. }
            | Error::RotationRefused { .. }
            | Error::VersionsExhausted { .. }
            | Error::VersionFloor { .. } => ErrorKind::Conflict,
            Error::UnknownVersion { .. } => ErrorKind::NotFound,
            Error::KeyDestroyed { .. } => ErrorKind::Destroyed,
            // A ciphertext made for another purpose is refused like a policy refusal: the bytes
            // are genuine, the request is not allowed.
            Error::Denied { .. } | Error::WrongPurpose { .. } => ErrorKind::Denied,
            Error::TooLarge { .. } => ErrorKind::LimitExceeded,
            Error::Authentication => ErrorKind::Authentication,
            // Bytes that are not an envelope are damaged or foreign data.
            Error::MalformedEnvelope { .. } | Error::AuditChain { .. } => ErrorKind::Integrity,
            Error::Crypto(err) => ErrorKind::of_crypto(err),
        }
    }

    /// Whether the same request may succeed if simply repeated later, with nobody changing the
    /// key: randomness that was unavailable, a policy window that has not opened yet, a
    /// deletion window that has not passed yet. Everything else needs a different request.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Crypto(CryptoError::Randomness)
                | Error::Denied {
                    denial: Denial::NotYetValid { .. },
                    ..
                }
                | Error::InvalidTransition {
                    refusal: TransitionRefusal::DeletionWindowOpen { .. },
                    ..
                }
        )
    }

    /// The key the error concerns, if it names one.
    #[must_use]
    pub fn key_id(&self) -> Option<KeyId> {
        match self {
            Error::InvalidTransition { key, .. }
            | Error::InvalidVersionTransition { key, .. }
            | Error::CurrentVersion { key, .. }
            | Error::UnknownVersion { key, .. }
            | Error::KeyDestroyed { key }
            | Error::RotationRefused { key, .. }
            | Error::VersionsExhausted { key }
            | Error::VersionFloor { key, .. }
            | Error::Denied { key, .. } => Some(*key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_stable_names() {
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }

    #[test]
    fn crypto_failures_stay_opaque() {
        assert_eq!(
            Error::from(CryptoError::Authentication),
            Error::Authentication
        );
        assert_eq!(Error::Authentication.to_string(), "authentication failed");
        let randomness = Error::from(CryptoError::Randomness);
        assert_eq!(randomness.kind(), ErrorKind::Unavailable);
        assert!(randomness.is_retryable());
        assert!(!Error::Authentication.is_retryable());
    }

    #[test]
    fn denials_carry_context() {
        let err = Error::Denied {
            key: KeyId::from_bytes([0xab; 16]),
            operation: KeyOperation::Encrypt,
            version: None,
            denial: Denial::UsageLimitReached { max_operations: 3 },
        };
        assert_eq!(err.kind().as_str(), "denied");
        assert_eq!(err.key_id(), Some(KeyId::from_bytes([0xab; 16])));
        assert!(err.to_string().contains("abababab"));
        assert!(err.to_string().contains("encrypt denied"));
        assert!(!err.is_retryable());
    }

    #[test]
    fn rotation_and_floor_refusals_use_words() {
        let key = KeyId::from_bytes([2; 16]);
        for state in StateKind::ALL {
            let message = Error::RotationRefused { key, state }.to_string();
            assert!(!message.contains('_'), "{message}");
        }
        let message = Error::RotationRefused {
            key,
            state: StateKind::PendingDeletion,
        }
        .to_string();
        assert!(
            message.ends_with("pending deletion: cancel its deletion first"),
            "{message}"
        );
        let floor = KeyVersion::new(3).unwrap();
        let message = Error::VersionFloor {
            key,
            floor,
            highest_enabled: Some(KeyVersion::new(2).unwrap()),
        }
        .to_string();
        assert!(message.contains("the highest enabled is v2"), "{message}");
        assert!(!message.contains("Some("), "{message}");
    }

    #[test]
    fn name_and_label_rules_say_ascii() {
        let name = crate::ids::KeyName::new("Ébc").unwrap_err().to_string();
        assert!(
            name.contains("an ASCII letter a-z or a digit 0-9"),
            "{name}"
        );
        let meta = crate::KeyMetadata::new(
            KeyId::from_bytes([1; 16]),
            crate::ids::KeyName::new("k").unwrap(),
            crate::KeyAlgorithm::XChaCha20Poly1305,
            crate::Timestamp::UNIX_EPOCH,
        );
        let label = meta.with_label("Team", "x").unwrap_err().to_string();
        assert!(
            label.contains("an ASCII letter a-z or a digit 0-9"),
            "{label}"
        );
        assert!(!label.contains("lower-case letter"), "{label}");
    }
}
