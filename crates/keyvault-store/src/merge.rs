//! The one rule for putting a key that came from elsewhere over the vault's copy of the same
//! key (import with Replace, merging a backup, migrating with replace).
//!
//! The vault's copy is the authority: its key state, version states, exportable flag, policy,
//! expiry, labels and description stay as they are. The incoming copy may only add versions
//! the vault lacks (numbers above its latest). Anything else that would move the key backwards
//! is refused with a [`ReplaceRefusal`] saying why; see docs/BACKUP.md.

use std::collections::BTreeSet;
use std::fmt;

use keyvault_core::{KeyMetadata, KeyState, KeyVersion, VersionState, VersionTransition};

use crate::error::{Result, StoreError};
use crate::records::KeyRecord;

/// Why a key was not put over the vault's copy. Never names secret material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplaceRefusal {
    /// The vault's key is revoked, pending deletion or destroyed: it is never replaced.
    KeyRetired,
    /// The incoming key has another algorithm than the vault's.
    AlgorithmDiffers,
    /// The incoming copy has fewer versions than the vault's (it is older).
    FewerVersions {
        /// The vault's latest version.
        vault: u32,
        /// The incoming copy's latest version.
        incoming: u32,
    },
    /// The incoming copy was last changed before the vault's (it is older).
    OlderCopy,
    /// The version is revoked or destroyed in the vault and the incoming copy differs there.
    VersionRetired(u32),
    /// The vault holds the version's material and the incoming copy has it destroyed (taking
    /// it would drop a version the vault has).
    VersionMissing(u32),
    /// The version's material differs between the vault and the incoming copy.
    MaterialDiffers(u32),
}

impl fmt::Display for ReplaceRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaceRefusal::KeyRetired => {
                f.write_str("the vault's key is revoked, pending deletion or destroyed")
            }
            ReplaceRefusal::AlgorithmDiffers => {
                f.write_str("the incoming key has another algorithm than the vault's")
            }
            ReplaceRefusal::FewerVersions { vault, incoming } => write!(
                f,
                "the incoming copy is older: it has {incoming} versions, the vault's has {vault}"
            ),
            ReplaceRefusal::OlderCopy => f.write_str(
                "the incoming copy is older: it was last changed before the vault's copy",
            ),
            ReplaceRefusal::VersionRetired(v) => write!(
                f,
                "version {v} is revoked or destroyed in the vault and the incoming copy differs"
            ),
            ReplaceRefusal::VersionMissing(v) => write!(
                f,
                "the incoming copy has destroyed version {v}, which the vault holds"
            ),
            ReplaceRefusal::MaterialDiffers(v) => write!(
                f,
                "version {v} has other material in the incoming copy than in the vault"
            ),
        }
    }
}

fn refuse(key: &KeyMetadata, reason: ReplaceRefusal) -> StoreError {
    StoreError::ReplaceRefused {
        key: key.name().to_string(),
        reason,
    }
}

/// The vault's `existing` copy with the versions of `incoming` it lacks added, or why not.
///
/// `incoming` must already be consistent (every live version carried). The result keeps the
/// vault's metadata; each added version takes the incoming copy's creation time and state.
pub(crate) fn merge_key(existing: &KeyRecord, incoming: &KeyRecord) -> Result<KeyRecord> {
    let vault = &existing.metadata;
    let theirs = &incoming.metadata;
    if matches!(
        vault.state(),
        KeyState::Revoked | KeyState::PendingDeletion { .. } | KeyState::Destroyed
    ) {
        return Err(refuse(vault, ReplaceRefusal::KeyRetired));
    }
    if vault.algorithm() != theirs.algorithm() {
        return Err(refuse(vault, ReplaceRefusal::AlgorithmDiffers));
    }
    if theirs.latest_version() < vault.latest_version() {
        return Err(refuse(
            vault,
            ReplaceRefusal::FewerVersions {
                vault: vault.latest_version().get(),
                incoming: theirs.latest_version().get(),
            },
        ));
    }
    if theirs.updated_at() < vault.updated_at() {
        return Err(refuse(vault, ReplaceRefusal::OlderCopy));
    }
    for info in vault.versions() {
        let number = info.version.get();
        let their_state = theirs.version(info.version).map(|i| i.state);
        let retired = matches!(info.state, VersionState::Revoked | VersionState::Destroyed);
        if retired && their_state != Some(info.state) {
            return Err(refuse(vault, ReplaceRefusal::VersionRetired(number)));
        }
        if let Some(ours) = existing.material.get(&number) {
            if their_state == Some(VersionState::Destroyed) {
                return Err(refuse(vault, ReplaceRefusal::VersionMissing(number)));
            }
            // A version the incoming copy does not carry (a partial export) keeps the vault's.
            if let Some(other) = incoming.material.get(&number)
                && !ours.same_as(other)
            {
                return Err(refuse(vault, ReplaceRefusal::MaterialDiffers(number)));
            }
        }
    }
    let mut merged = KeyRecord {
        metadata: vault.clone(),
        material: existing.material.clone(),
    };
    let added: Vec<_> = theirs
        .versions()
        .iter()
        .filter(|info| info.version > vault.latest_version())
        .copied()
        .collect();
    for info in &added {
        let number = merged.metadata.rotate(info.created_at)?;
        if number != info.version {
            return Err(StoreError::Core(keyvault_core::Error::InvalidMetadata {
                reason: "the incoming copy's versions are not numbered in order",
            }));
        }
    }
    // States after every version is in place: the newest enabled version must exist before an
    // older one may be revoked or destroyed.
    for info in added.iter().rev() {
        apply_version_state(
            &mut merged.metadata,
            info.version,
            info.state,
            info.created_at,
        )?;
        if info.state != VersionState::Destroyed
            && let Some(material) = incoming.material.get(&info.version.get())
        {
            merged.material.insert(info.version.get(), material.clone());
        }
    }
    merged.forget_destroyed();
    Ok(merged)
}

/// Move a freshly added (Enabled) version to `state`.
fn apply_version_state(
    metadata: &mut KeyMetadata,
    version: KeyVersion,
    state: VersionState,
    now: keyvault_core::Timestamp,
) -> Result<()> {
    let steps: &[VersionTransition] = match state {
        VersionState::Enabled => &[],
        VersionState::Disabled => &[VersionTransition::Disable],
        VersionState::Revoked => &[VersionTransition::Revoke],
        VersionState::Destroyed => &[VersionTransition::Revoke, VersionTransition::Destroy],
    };
    for step in steps {
        metadata.version_transition(version, *step, now)?;
    }
    Ok(())
}

/// Check that `next`, a later snapshot's copy of a key, follows `previous` in one history:
/// no version number goes away or is reused, and a version carried by both has the same
/// material.
pub(crate) fn check_successor(previous: &KeyRecord, next: &KeyRecord) -> Result<()> {
    let before = &previous.metadata;
    if next.metadata.latest_version() < before.latest_version() {
        return Err(refuse(
            before,
            ReplaceRefusal::FewerVersions {
                vault: before.latest_version().get(),
                incoming: next.metadata.latest_version().get(),
            },
        ));
    }
    for (number, material) in &next.material {
        if let Some(earlier) = previous.material.get(number)
            && !earlier.same_as(material)
        {
            return Err(refuse(before, ReplaceRefusal::MaterialDiffers(*number)));
        }
    }
    let destroyed_before: BTreeSet<u32> = before
        .versions()
        .iter()
        .filter(|info| info.state == VersionState::Destroyed)
        .map(|info| info.version.get())
        .collect();
    if let Some(number) = next
        .material
        .keys()
        .find(|number| destroyed_before.contains(number))
    {
        return Err(refuse(before, ReplaceRefusal::VersionRetired(*number)));
    }
    Ok(())
}
