//! Usage policy and its one decision function, [`authorize`].
//!
//! Every use of a key — by the CLI, the store, a backup — is decided here and nowhere else, from
//! values only: the key's metadata (which carries its [`KeyPolicy`]), its [`UsageCounters`] and
//! the time. A denial names the exact rule that refused, so it can be shown and audited.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::algorithm::KeyAlgorithm;
use crate::error::Error;
use crate::ids::{KeyId, KeyVersion};
use crate::lifecycle::{StateKind, VersionState};
use crate::metadata::KeyMetadata;
use crate::rotation::RotationTriggers;
use crate::time::Timestamp;

/// Something a key can be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyOperation {
    /// Seal data into a ciphertext envelope.
    Encrypt,
    /// Open a ciphertext envelope.
    Decrypt,
    /// Compute a MAC (HMAC-SHA256) over data.
    Sign,
    /// Check a MAC.
    Verify,
    /// Derive a subkey (HKDF-SHA256).
    Derive,
    /// Seal another key (a data key) for storage elsewhere.
    Wrap,
    /// Open a wrapped key.
    Unwrap,
    /// Export the key material, wrapped under a password, out of the vault.
    Export,
}

impl KeyOperation {
    /// Every operation.
    pub const ALL: [KeyOperation; 8] = [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::Derive,
        KeyOperation::Wrap,
        KeyOperation::Unwrap,
        KeyOperation::Export,
    ];

    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::Derive => "derive",
            KeyOperation::Wrap => "wrap",
            KeyOperation::Unwrap => "unwrap",
            KeyOperation::Export => "export",
        }
    }

    /// Whether the operation protects new data (encrypt, wrap, sign, derive). These always use
    /// the version that currently encrypts and count towards rotation and the AES-GCM cap.
    #[must_use]
    pub const fn protects_new_data(self) -> bool {
        matches!(
            self,
            KeyOperation::Encrypt | KeyOperation::Wrap | KeyOperation::Sign | KeyOperation::Derive
        )
    }

    /// Whether a Deprecated key may still do this: everything that only processes existing data
    /// (decrypt, unwrap, verify) and export, never anything that protects new data.
    #[must_use]
    pub const fn allowed_when_deprecated(self) -> bool {
        !self.protects_new_data()
    }
}

impl fmt::Display for KeyOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Limits on a key's use, checked by [`authorize`] on every operation.
///
/// Time boundaries: `not_before` is **inclusive** (usable from that instant on) and `not_after`
/// is **exclusive** (unusable from that instant on), so consecutive windows `[a, b)`, `[b, c)`
/// neither overlap nor leave a gap. The window applies to every operation, decrypt included: a
/// key that should keep decrypting after a date is deprecated instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyPolicy {
    /// Most operations the key may ever perform, across all versions and kinds; `None` for no
    /// limit. With a limit of `n`, exactly `n` operations are allowed.
    pub max_operations: Option<u64>,
    /// First instant the key may be used (inclusive).
    pub not_before: Option<Timestamp>,
    /// First instant the key may no longer be used (exclusive end of the window).
    pub not_after: Option<Timestamp>,
    /// The operations this policy allows (further limited by the key's algorithm).
    pub allowed_operations: BTreeSet<KeyOperation>,
    /// When the key rotates by itself.
    pub rotation: RotationTriggers,
}

impl Default for KeyPolicy {
    /// No limits, no rotation, and every operation except [`KeyOperation::Export`]: taking
    /// material out of the vault is always an explicit grant.
    fn default() -> Self {
        KeyPolicy {
            max_operations: None,
            not_before: None,
            not_after: None,
            allowed_operations: KeyOperation::ALL
                .into_iter()
                .filter(|&op| op != KeyOperation::Export)
                .collect(),
            rotation: RotationTriggers::default(),
        }
    }
}

impl KeyPolicy {
    /// This policy, allowing exactly `operations`.
    #[must_use]
    pub fn allow_only(mut self, operations: impl IntoIterator<Item = KeyOperation>) -> Self {
        self.allowed_operations = operations.into_iter().collect();
        self
    }

    /// This policy with `operation` allowed as well.
    #[must_use]
    pub fn also_allow(mut self, operation: KeyOperation) -> Self {
        self.allowed_operations.insert(operation);
        self
    }

    /// This policy with a lifetime limit of `max` operations.
    #[must_use]
    pub fn with_max_operations(mut self, max: u64) -> Self {
        self.max_operations = Some(max);
        self
    }

    /// This policy usable only in `[not_before, not_after)`; `None` leaves that side open.
    #[must_use]
    pub fn with_window(
        mut self,
        not_before: Option<Timestamp>,
        not_after: Option<Timestamp>,
    ) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// This policy with these rotation triggers.
    #[must_use]
    pub fn with_rotation(mut self, rotation: RotationTriggers) -> Self {
        self.rotation = rotation;
        self
    }

    /// Whether `operation` is in [`KeyPolicy::allowed_operations`].
    #[must_use]
    pub fn allows(&self, operation: KeyOperation) -> bool {
        self.allowed_operations.contains(&operation)
    }
}

/// A policy update as a value, so the store can audit what changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChange {
    /// The policy before.
    pub old: KeyPolicy,
    /// The policy after.
    pub new: KeyPolicy,
}

impl PolicyChange {
    /// Names of the policy fields that differ, in declaration order (for the audit event).
    #[must_use]
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let (old, new) = (&self.old, &self.new);
        [
            ("max_operations", old.max_operations != new.max_operations),
            ("not_before", old.not_before != new.not_before),
            ("not_after", old.not_after != new.not_after),
            (
                "allowed_operations",
                old.allowed_operations != new.allowed_operations,
            ),
            ("rotation", old.rotation != new.rotation),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// Whether anything changed.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.old == self.new
    }
}

/// How much a key has been used, as the store counts it durably.
///
/// Counters count operations already performed and allowed; denied attempts do not count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UsageCounters {
    /// Operations of every kind, across all versions, since the key was created (what
    /// [`KeyPolicy::max_operations`] limits).
    pub operations: u64,
    /// Operations that protected new data (see [`KeyOperation::protects_new_data`]) with the
    /// version that encrypts now; starts again at 0 with each new version. This is what
    /// use-count rotation and the AES-GCM cap look at.
    pub current_version_uses: u64,
}

/// Why [`authorize`] refused an operation: the first rule that failed, in the order listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Denial {
    /// 1. The key's state does not permit the operation (see [`crate::KeyState::permits`]).
    KeyState {
        /// The key's state.
        state: StateKind,
    },
    /// 2. The key's algorithm cannot do this at all.
    UnsupportedByAlgorithm {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
    },
    /// 3. The policy's `allowed_operations` does not list it.
    OperationNotAllowed,
    /// 4. Export was asked of a key created non-exportable, or made so since.
    NotExportable,
    /// 5. Before the policy's `not_before`.
    NotYetValid {
        /// First instant of use.
        not_before: Timestamp,
    },
    /// 6. At or after the policy's `not_after`.
    PolicyExpired {
        /// End of the window (exclusive).
        not_after: Timestamp,
    },
    /// 7. At or after the key's `expires_at`.
    KeyExpired {
        /// The key's expiry (exclusive).
        expires_at: Timestamp,
    },
    /// 8. The key has performed `max_operations` operations already.
    UsageLimitReached {
        /// The limit.
        max_operations: u64,
    },
    /// 9. No version can serve: none is enabled at or above `min_decryption_version`.
    NoUsableVersion,
    /// 10. An operation that protects new data named a version other than the current one.
    NotCurrentVersion {
        /// The version asked for.
        requested: KeyVersion,
        /// The version that encrypts now.
        current: KeyVersion,
    },
    /// 11. The key has no such version.
    UnknownVersion {
        /// The version asked for.
        version: KeyVersion,
    },
    /// 12. The version is disabled, revoked or destroyed.
    VersionUnusable {
        /// The version asked for.
        version: KeyVersion,
        /// Its state.
        state: VersionState,
    },
    /// 13. The version is below the key's `min_decryption_version`.
    BelowMinDecryptionVersion {
        /// The version asked for.
        version: KeyVersion,
        /// The key's floor.
        min: KeyVersion,
    },
    /// 14. A version of AES-256-GCM or ChaCha20-Poly1305 (96-bit nonces) is at its seal cap.
    EncryptionLimitReached {
        /// The version.
        version: KeyVersion,
        /// [`SHORT_NONCE_MAX_ENCRYPTIONS`](crate::SHORT_NONCE_MAX_ENCRYPTIONS).
        limit: u64,
    },
}

impl Denial {
    /// A stable machine-readable code, e.g. `"usage_limit_reached"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Denial::KeyState { .. } => "key_state",
            Denial::UnsupportedByAlgorithm { .. } => "unsupported_by_algorithm",
            Denial::OperationNotAllowed => "operation_not_allowed",
            Denial::NotExportable => "not_exportable",
            Denial::NotYetValid { .. } => "not_yet_valid",
            Denial::PolicyExpired { .. } => "policy_expired",
            Denial::KeyExpired { .. } => "key_expired",
            Denial::UsageLimitReached { .. } => "usage_limit_reached",
            Denial::NoUsableVersion => "no_usable_version",
            Denial::NotCurrentVersion { .. } => "not_current_version",
            Denial::UnknownVersion { .. } => "unknown_version",
            Denial::VersionUnusable { .. } => "version_unusable",
            Denial::BelowMinDecryptionVersion { .. } => "below_min_decryption_version",
            Denial::EncryptionLimitReached { .. } => "encryption_limit_reached",
        }
    }
}

impl Denial {
    /// This denial as an [`Error`] naming the key, the operation and the version asked for.
    #[must_use]
    pub fn for_key(
        self,
        key: KeyId,
        operation: KeyOperation,
        version: Option<KeyVersion>,
    ) -> Error {
        Error::Denied {
            key,
            operation,
            version,
            denial: self,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::KeyState { state } => write!(f, "the key is {}", state.words()),
            Denial::UnsupportedByAlgorithm { algorithm } => {
                write!(f, "{algorithm} keys cannot do this")
            }
            Denial::OperationNotAllowed => f.write_str("the key's policy does not allow it"),
            Denial::NotExportable => f.write_str(
                "the key is not exportable: only a key created exportable can be exported, and that cannot be switched on later",
            ),
            Denial::NotYetValid { not_before } => {
                write!(f, "the key's policy allows use from {not_before}")
            }
            Denial::PolicyExpired { not_after } => {
                write!(f, "the key's policy allowed use until {not_after}")
            }
            Denial::KeyExpired { expires_at } => write!(f, "the key expired at {expires_at}"),
            Denial::UsageLimitReached { max_operations } => {
                let operations = if *max_operations == 1 {
                    "operation"
                } else {
                    "operations"
                };
                write!(
                    f,
                    "the key has used its {max_operations} allowed {operations}"
                )
            }
            Denial::NoUsableVersion => f.write_str("the key has no usable version"),
            Denial::NotCurrentVersion { requested, current } => {
                write!(
                    f,
                    "only the current version {current} protects new data, not {requested}"
                )
            }
            Denial::UnknownVersion { version } => write!(f, "the key has no version {version}"),
            Denial::VersionUnusable { version, state } => write!(f, "version {version} is {state}"),
            Denial::BelowMinDecryptionVersion { version, min } => write!(
                f,
                "version {version} is below the minimum decryption version {min}"
            ),
            Denial::EncryptionLimitReached { version, limit } => write!(
                f,
                "version {version} has sealed its limit of {limit} messages (96-bit random nonces); rotate the key"
            ),
        }
    }
}

/// What a user can do about `denial` of `operation`, as a clause to follow the denial's own
/// text (empty when the denial already says it).
#[must_use]
pub fn denial_advice(operation: KeyOperation, denial: Denial) -> &'static str {
    match (operation, denial) {
        (KeyOperation::Export, Denial::OperationNotAllowed) => {
            "; only a key created exportable can be exported (that cannot be switched on later), and then only while its policy allows export"
        }
        (_, Denial::OperationNotAllowed) => "; change the key's policy to allow it",
        (_, Denial::KeyState { state }) => match state {
            StateKind::Pending => "; activate it first",
            StateKind::Disabled => "; enable it first",
            StateKind::Deprecated => {
                "; a deprecated key only processes existing data: protect new data with another key"
            }
            StateKind::PendingDeletion => "; cancel its deletion first",
            StateKind::Revoked => "; a revoked key is never used again: use another key",
            StateKind::Active | StateKind::Destroyed => "",
        },
        (_, Denial::UsageLimitReached { .. }) => "; raise the policy's maximum or use another key",
        (_, Denial::BelowMinDecryptionVersion { .. }) => {
            "; that version can no longer be used: the key's versions were trimmed above it"
        }
        _ => "",
    }
}

/// Decide whether `operation` may run now; on success, the version to use.
///
/// `requested` is the version the request names: the envelope's version for decrypt, unwrap
/// and verify, or a chosen version for export; `None` means the version that encrypts now.
/// Operations that protect new data always use the current version.
///
/// The rules, in the order they are checked (the first failure is the [`Denial`]):
/// 1. the key's state permits the operation;
/// 2. the algorithm supports it;
/// 3. the policy lists it;
/// 4. export needs an exportable key;
/// 5. to 7. `not_before <= now`, `now < not_after` and `now < expires_at`;
/// 8. `counters.operations < max_operations`;
/// 9. to 13. the version exists, is enabled and is at or above `min_decryption_version` (and
///    is the current one, for operations that protect new data);
/// 14. an encryption with AES-256-GCM or ChaCha20-Poly1305 keeps
///     `counters.current_version_uses` below [`KeyAlgorithm::max_encryptions_per_version`].
///
/// # Errors
/// The [`Denial`] of the first rule that fails.
pub fn authorize(
    metadata: &KeyMetadata,
    counters: &UsageCounters,
    operation: KeyOperation,
    requested: Option<KeyVersion>,
    now: Timestamp,
) -> Result<KeyVersion, Denial> {
    let policy = metadata.policy();
    if !metadata.state().permits(operation) {
        return Err(Denial::KeyState {
            state: metadata.state().kind(),
        });
    }
    if !metadata.algorithm().supports(operation) {
        return Err(Denial::UnsupportedByAlgorithm {
            algorithm: metadata.algorithm(),
        });
    }
    if !policy.allows(operation) {
        return Err(Denial::OperationNotAllowed);
    }
    if operation == KeyOperation::Export && !metadata.exportable() {
        return Err(Denial::NotExportable);
    }
    check_window(policy, metadata.expires_at(), now)?;
    if let Some(max_operations) = policy.max_operations
        && counters.operations >= max_operations
    {
        return Err(Denial::UsageLimitReached { max_operations });
    }
    let current = metadata.encryption_version();
    let version = if operation.protects_new_data() {
        let current = current.ok_or(Denial::NoUsableVersion)?;
        match requested {
            Some(requested) if requested != current => {
                return Err(Denial::NotCurrentVersion { requested, current });
            }
            _ => current,
        }
    } else {
        let version = requested.or(current).ok_or(Denial::NoUsableVersion)?;
        check_version_usable(metadata, version)?;
        version
    };
    let seals = matches!(operation, KeyOperation::Encrypt | KeyOperation::Wrap);
    if seals
        && let Some(limit) = metadata.algorithm().max_encryptions_per_version()
        && counters.current_version_uses >= limit
    {
        return Err(Denial::EncryptionLimitReached { version, limit });
    }
    Ok(version)
}

/// Rules 5–7: the time window, `not_before` inclusive, `not_after` and `expires_at` exclusive.
fn check_window(
    policy: &KeyPolicy,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Denial> {
    if let Some(not_before) = policy.not_before
        && now < not_before
    {
        return Err(Denial::NotYetValid { not_before });
    }
    if let Some(not_after) = policy.not_after
        && now >= not_after
    {
        return Err(Denial::PolicyExpired { not_after });
    }
    if let Some(expires_at) = expires_at
        && now >= expires_at
    {
        return Err(Denial::KeyExpired { expires_at });
    }
    Ok(())
}

/// Rules 11–13 for a version named by the request.
fn check_version_usable(metadata: &KeyMetadata, version: KeyVersion) -> Result<(), Denial> {
    let info = metadata
        .version(version)
        .ok_or(Denial::UnknownVersion { version })?;
    if info.state != VersionState::Enabled {
        return Err(Denial::VersionUnusable {
            version,
            state: info.state,
        });
    }
    let min = metadata.min_decryption_version();
    if version < min {
        return Err(Denial::BelowMinDecryptionVersion { version, min });
    }
    Ok(())
}
