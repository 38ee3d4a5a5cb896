//! Versions and rotation: which version encrypts, which may decrypt, new versions, trimming,
//! and the automatic rotation triggers.
//!
//! Rules:
//! - **Encrypts**: the newest version that is enabled and at or above `min_decryption_version`
//!   ([`KeyMetadata::encryption_version`]).
//! - **Decrypts**: any enabled version at or above `min_decryption_version`
//!   ([`KeyMetadata::can_decrypt`]); disabled, revoked and destroyed versions never do.
//! - **Rotate** appends version n+1, enabled; it becomes the encrypting version at once.
//! - **Trim** destroys every version below a floor and raises `min_decryption_version` to it;
//!   the floor can never pass the encrypting version, so trim never destroys it.
//! - **Automatic rotation** is lazy: the store asks [`rotation_due`] before a use and rotates
//!   first if it answers. No daemon, no clock: the answer depends only on its arguments.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::KeyVersion;
use crate::lifecycle::{KeyState, VersionState};
use crate::metadata::{KeyMetadata, VersionInfo};
use crate::policy::UsageCounters;
use crate::time::Timestamp;

/// Most messages one version of an AEAD with 96-bit random nonces (AES-256-GCM,
/// ChaCha20-Poly1305) may seal: 2^32 − 1. See
/// [`crate::KeyAlgorithm::max_encryptions_per_version`].
///
/// NIST SP 800-38D §8.3 allows at most 2^32 invocations of GCM with random 96-bit IVs under
/// one key, which keeps the chance of any two IVs colliding (which would reveal the GHASH key
/// and allow forgeries) below about 2^-33. The same birthday bound holds for any 96-bit random
/// nonce; a repeated ChaCha20-Poly1305 nonce reveals the XOR of two plaintexts and that
/// message's Poly1305 key, so it gets the same cap. Staying strictly below 2^32 keeps the bound
/// with a count off by one. The store's usage counters over-count (lost reservations are never
/// reused), so the real number of seals is never above the counter.
pub const SHORT_NONCE_MAX_ENCRYPTIONS: u64 = (1 << 32) - 1;

/// When a key rotates by itself. Both triggers are optional; the cap of the 96-bit nonce
/// AEADs ([`SHORT_NONCE_MAX_ENCRYPTIONS`]) applies regardless.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RotationTriggers {
    /// Rotate once the encrypting version is this old.
    pub max_age: Option<Duration>,
    /// Rotate once the encrypting version has protected this many messages
    /// ([`UsageCounters::current_version_uses`]).
    pub max_uses: Option<u64>,
}

/// Why [`rotation_due`] says a key should rotate before its next use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum RotationReason {
    /// The version of a 96-bit nonce AEAD reached [`SHORT_NONCE_MAX_ENCRYPTIONS`].
    EncryptionLimit {
        /// Messages sealed by the version.
        uses: u64,
    },
    /// The version reached the policy's `max_uses`.
    UseCount {
        /// Messages protected by the version.
        uses: u64,
        /// The trigger.
        max_uses: u64,
    },
    /// The version reached the policy's `max_age`.
    Age {
        /// The version's age.
        age: Duration,
        /// The trigger.
        max_age: Duration,
    },
}

impl fmt::Display for RotationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationReason::EncryptionLimit { uses } => {
                write!(
                    f,
                    "the version has sealed {uses} messages, the most its 96-bit random nonces allow"
                )
            }
            RotationReason::UseCount { uses, max_uses } => {
                write!(
                    f,
                    "the version has been used {uses} times (rotate at {max_uses})"
                )
            }
            RotationReason::Age { age, max_age } => write!(
                f,
                "the version is {} s old (rotate at {} s)",
                age.as_secs(),
                max_age.as_secs()
            ),
        }
    }
}

/// Whether an Active key should rotate before its next use, and why.
///
/// Looks at the encrypting version only: its age against `max_age`, its use count against
/// `max_uses` and, for the 96-bit nonce AEADs, against [`SHORT_NONCE_MAX_ENCRYPTIONS`]. Both limits are
/// reached *at* the threshold (`>=`), so a version is never used past it. Keys in any other
/// state, and keys with no encrypting version, never rotate by themselves.
#[must_use]
pub fn rotation_due(
    metadata: &KeyMetadata,
    counters: &UsageCounters,
    now: Timestamp,
) -> Option<RotationReason> {
    if metadata.state() != KeyState::Active {
        return None;
    }
    let current = metadata
        .encryption_version()
        .and_then(|version| metadata.version(version))?;
    let uses = counters.current_version_uses;
    let triggers = metadata.policy().rotation;
    if let Some(limit) = metadata.algorithm().max_encryptions_per_version()
        && uses >= limit
    {
        return Some(RotationReason::EncryptionLimit { uses });
    }
    if let Some(max_uses) = triggers.max_uses
        && uses >= max_uses
    {
        return Some(RotationReason::UseCount { uses, max_uses });
    }
    if let Some(max_age) = triggers.max_age {
        let age = now.saturating_since(current.created_at);
        if age >= max_age {
            return Some(RotationReason::Age { age, max_age });
        }
    }
    None
}

impl KeyMetadata {
    /// The version that encrypts (and signs, wraps, derives): the newest enabled version at or
    /// above `min_decryption_version`; `None` if there is none.
    #[must_use]
    pub fn encryption_version(&self) -> Option<KeyVersion> {
        self.versions
            .iter()
            .rev()
            .find(|info| self.serves(info))
            .map(|info| info.version)
    }

    /// Whether `version` may decrypt (or verify, unwrap): it exists, is enabled and is at or
    /// above `min_decryption_version`. The key's state and policy are checked separately by
    /// [`authorize`](crate::authorize).
    #[must_use]
    pub fn can_decrypt(&self, version: KeyVersion) -> bool {
        self.version(version).is_some_and(|info| self.serves(info))
    }

    fn serves(&self, info: &VersionInfo) -> bool {
        info.state == VersionState::Enabled && info.version >= self.min_decryption_version
    }

    /// Add a new version, which encrypts from now on; returns its number.
    ///
    /// Allowed while the key is Pending, Active or Disabled: its material is live and not
    /// compromised. A Deprecated key is winding down and a Revoked one is compromised, so
    /// neither gets new material.
    ///
    /// # Errors
    /// [`Error::RotationRefused`] in any other state; [`Error::VersionsExhausted`] after
    /// version `u32::MAX`.
    pub fn rotate(&mut self, now: Timestamp) -> Result<KeyVersion> {
        if !matches!(
            self.state,
            KeyState::Pending | KeyState::Active | KeyState::Disabled
        ) {
            return Err(Error::RotationRefused {
                key: self.id,
                state: self.state.kind(),
            });
        }
        let version = self
            .latest_version()
            .next()
            .ok_or(Error::VersionsExhausted { key: self.id })?;
        self.versions.push(VersionInfo {
            version,
            state: VersionState::Enabled,
            created_at: now,
        });
        self.touch(now);
        Ok(version)
    }

    /// Set the lowest version that may decrypt; returns the previous floor. It may go down as
    /// well as up (versions below it keep their material until trimmed).
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone; [`Error::UnknownVersion`] past the latest
    /// version; [`Error::VersionFloor`] if no enabled version would remain to encrypt.
    pub fn set_min_decryption_version(
        &mut self,
        min: KeyVersion,
        now: Timestamp,
    ) -> Result<KeyVersion> {
        self.ensure_not_destroyed()?;
        self.check_floor(min)?;
        let previous = std::mem::replace(&mut self.min_decryption_version, min);
        self.touch(now);
        Ok(previous)
    }

    /// Destroy every version below `floor` and raise `min_decryption_version` to it; returns
    /// the versions destroyed now, whose material the store must erase.
    ///
    /// # Errors
    /// As [`KeyMetadata::set_min_decryption_version`]: the floor never passes the encrypting
    /// version, so trim never destroys it.
    pub fn trim(&mut self, floor: KeyVersion, now: Timestamp) -> Result<Vec<KeyVersion>> {
        self.ensure_not_destroyed()?;
        self.check_floor(floor)?;
        let mut destroyed = Vec::new();
        for info in self.versions.iter_mut().filter(|info| info.version < floor) {
            if info.state != VersionState::Destroyed {
                info.state = VersionState::Destroyed;
                destroyed.push(info.version);
            }
        }
        self.min_decryption_version = self.min_decryption_version.max(floor);
        self.touch(now);
        Ok(destroyed)
    }

    /// A floor is acceptable if the key has that version and an enabled version at or above it.
    fn check_floor(&self, floor: KeyVersion) -> Result<()> {
        if self.version(floor).is_none() {
            return Err(Error::UnknownVersion {
                key: self.id,
                version: floor,
            });
        }
        let highest_enabled = self
            .versions
            .iter()
            .rev()
            .find(|info| info.state == VersionState::Enabled)
            .map(|info| info.version);
        match highest_enabled {
            Some(highest) if highest >= floor => Ok(()),
            _ => Err(Error::VersionFloor {
                key: self.id,
                floor,
                highest_enabled,
            }),
        }
    }
}
