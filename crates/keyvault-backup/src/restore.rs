//! Restore, verify and merge backups: a full backup followed by its incremental ones.
//!
//! Every function here authenticates and decodes the whole chain first — each file's MAC,
//! AEAD, payload and its link to the one before — and only then touches a vault, so a damaged,
//! reordered or foreign chain changes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use keyvault_core::{KeyId, KeyName, KeyState, Timestamp};
use keyvault_crypto::Argon2Params;
use keyvault_store::dangerous::{self, ImportConflict, KeyBundle, VaultSnapshot};
use keyvault_store::{
    Backend, FileVault, MemoryBackend, ReplaceRefusal, StoreError, Vault, VaultOptions,
};

use crate::backup::{BackupId, VaultBackup};
use crate::error::{BackupError, Result};

/// Authenticate and decode a chain: a full backup, then incremental backups each naming the one
/// before it, all of one vault. Returns the snapshots in order.
///
/// # Errors
/// [`BackupError::BrokenChain`] for an empty chain, an incremental first, a missing or
/// reordered link, or a backup of another vault; every error of [`VaultBackup::open`].
pub fn open_chain(chain: &[VaultBackup], password: &[u8]) -> Result<Vec<VaultSnapshot>> {
    let (first, rest) = chain.split_first().ok_or(BackupError::BrokenChain {
        reason: "no backup given",
    })?;
    if first.base_id().is_some() {
        return Err(BackupError::BrokenChain {
            reason: "the chain must start with a full backup",
        });
    }
    let mut previous = first;
    for next in rest {
        if next.base_id() != Some(previous.backup_id()) {
            return Err(BackupError::BrokenChain {
                reason: "an incremental backup does not name the backup before it",
            });
        }
        previous = next;
    }
    let mut snapshots: Vec<VaultSnapshot> = Vec::with_capacity(chain.len());
    for backup in chain {
        let snapshot = backup.open(password)?;
        if let Some(before) = snapshots.last() {
            if snapshot.vault_id() != before.vault_id()
                || snapshot.master_key() != before.master_key()
            {
                return Err(BackupError::BrokenChain {
                    reason: "the backups belong to different vaults",
                });
            }
            if snapshot.lineage() != before.lineage() {
                return Err(BackupError::BrokenChain {
                    reason: "the backups belong to different histories of the vault (a restore \
                             came between them)",
                });
            }
            if snapshot.base() != Some(before.as_base()) {
                return Err(BackupError::BrokenChain {
                    reason: "an incremental backup does not follow the state of the one before it",
                });
            }
        }
        snapshots.push(snapshot);
    }
    Ok(snapshots)
}

/// Restore a chain into a new vault file at `path`, protected by `vault_password`.
///
/// All-or-nothing: the chain is authenticated and decoded completely first, then the vault is
/// built in a temporary file beside `path` in one transaction and renamed into place only when
/// complete ([`dangerous::restore_file`]). A failure at any point leaves no file at `path`; an
/// existing file at `path` is refused and left untouched.
///
/// # Errors
/// As [`open_chain`]; the store's [`StoreError::AlreadyExists`], audit chain and storage errors.
pub fn restore_to_file(
    path: impl AsRef<Path>,
    chain: &[VaultBackup],
    backup_password: &[u8],
    vault_password: &[u8],
    options: VaultOptions,
) -> Result<FileVault> {
    let path = path.as_ref();
    if path.exists() {
        return Err(StoreError::AlreadyExists(path.display().to_string()).into());
    }
    let snapshots = open_chain(chain, backup_password)?;
    Ok(dangerous::restore_file(
        path,
        &snapshots,
        vault_password,
        options,
    )?)
}

/// Restore a chain onto an empty `backend` in one transaction (a failure leaves it empty).
///
/// # Errors
/// As [`restore_to_file`].
pub fn restore<B: Backend>(
    backend: B,
    chain: &[VaultBackup],
    backup_password: &[u8],
    vault_password: &[u8],
    options: VaultOptions,
) -> Result<Vault<B>> {
    let snapshots = open_chain(chain, backup_password)?;
    Ok(dangerous::restore(
        backend,
        &snapshots,
        vault_password,
        options,
    )?)
}

/// What [`verify_backup`] and [`verify_chain`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup's id.
    pub backup_id: BackupId,
    /// The backup it follows, if incremental.
    pub base: Option<BackupId>,
    /// When it was made.
    pub created_at: Timestamp,
    /// Keys it carries.
    pub key_count: u64,
    /// Its comment.
    pub comment: Option<String>,
    /// Whether its payload is compressed.
    pub compressed: bool,
    /// Audit records it carries, if it includes the log.
    pub audit_records: Option<u64>,
    /// Size of its serialized snapshot.
    pub data_size: u64,
    /// Size of the file.
    pub file_size: u64,
}

/// What [`verify_chain`] found for a whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    /// One report per backup, in order.
    pub backups: Vec<BackupReport>,
    /// Keys a restore of the chain would hold.
    pub keys: u64,
    /// Audit records a restore would hold (0 unless every backup includes the log).
    pub audit_records: u64,
}

fn report(backup: &VaultBackup, snapshot: &VaultSnapshot) -> BackupReport {
    let metadata = backup.metadata();
    BackupReport {
        backup_id: backup.backup_id(),
        base: backup.base_id(),
        created_at: metadata.created_at,
        key_count: metadata.key_count,
        comment: metadata.comment.clone(),
        compressed: metadata.compressed,
        audit_records: snapshot
            .audit()
            .map(|records| u64::try_from(records.len()).unwrap_or(u64::MAX)),
        data_size: metadata.data_size,
        file_size: u64::try_from(backup.as_bytes().len()).unwrap_or(u64::MAX),
    }
}

/// Check one backup completely without restoring it: password, HMAC over the whole file, AEAD,
/// bounded decompression, the payload's structure, every key's metadata and its agreement with
/// the header, and a restore into a throw-away in-memory vault, which checks its audit chain
/// against its anchored head exactly as a restore would. It is [`verify_chain`] of a chain of
/// one, so it accepts exactly what a restore of that one file accepts: an incremental backup
/// alone is refused as a broken chain (verify it with its full backup).
///
/// # Errors
/// As [`open_chain`] and [`dangerous::restore`].
pub fn verify_backup(backup: &VaultBackup, password: &[u8]) -> Result<BackupReport> {
    let mut checked = verify_chain(std::slice::from_ref(backup), password)?;
    checked.backups.pop().ok_or(BackupError::BrokenChain {
        reason: "no backup given",
    })
}

/// Check a chain completely without restoring it: every backup, every link ([`open_chain`], the
/// one chain check [`restore`] also makes), and a restore of the whole chain into a throw-away
/// in-memory vault (audit chain included). It accepts exactly the chains a restore accepts.
///
/// # Errors
/// As [`open_chain`] and [`dangerous::restore`].
pub fn verify_chain(chain: &[VaultBackup], password: &[u8]) -> Result<ChainReport> {
    let snapshots = open_chain(chain, password)?;
    let backups = chain
        .iter()
        .zip(&snapshots)
        .map(|(backup, snapshot)| report(backup, snapshot))
        .collect();
    let (keys, audit_records) = dry_run(&snapshots)?;
    Ok(ChainReport {
        backups,
        keys,
        audit_records,
    })
}

/// Restore into memory under a random password and the cheapest Argon2id cost keyvault
/// accepts, to run every check the store makes on a restore; returns keys and audit records.
fn dry_run(snapshots: &[VaultSnapshot]) -> Result<(u64, u64)> {
    let password = keyvault_crypto::random::bytes::<32>()?;
    let options = VaultOptions {
        argon2: Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            lanes: 1,
        },
        ..VaultOptions::default()
    };
    let vault = dangerous::restore(MemoryBackend::new(), snapshots, &password, options)?;
    let keys = vault
        .list_keys(&keyvault_store::KeyFilter::default())?
        .len();
    let audit = vault.verify_audit()?.records;
    // The restore appended its own event to the log; the chain held one fewer.
    Ok((
        u64::try_from(keys).unwrap_or(u64::MAX),
        audit.saturating_sub(1),
    ))
}

/// What [`merge_into`] does with a key whose name or id the vault already uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergePolicy {
    /// Import nothing if any key conflicts (the default).
    #[default]
    Refuse,
    /// Import the keys that do not conflict; skip the others.
    Skip,
    /// Put the backup's copy over the vault's copy of the same key (same id and name) under
    /// the store's merge rule ([`DangerousVault::import_key`](keyvault_store::dangerous::DangerousVault::import_key) with [`ImportConflict::Replace`]): only
    /// versions the vault lacks are added, and a copy that would move the key backwards is
    /// refused (audited) and skipped with the reason. A different key is never replaced.
    Replace,
}

/// Why [`merge_into`] skipped a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The key is destroyed in the backup: it has no material.
    DestroyedInBackup,
    /// The name or id is in use and the policy skips conflicts.
    Conflict,
    /// The name is used by a different key, which is never replaced.
    NameTakenByAnotherKey,
    /// The vault's copy is destroyed; replacing it would bring destroyed material back.
    DestroyedInVault,
    /// The vault's copy is newer than the backup's.
    NewerInVault,
    /// The store's merge rule refused to put this copy over the vault's (see
    /// [`keyvault_store::ReplaceRefusal`]); the refusal is in the vault's audit log.
    Refused(ReplaceRefusal),
}

/// What [`merge_into`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Keys added to the vault.
    pub imported: Vec<KeyName>,
    /// Keys whose vault copy was replaced.
    pub replaced: Vec<KeyName>,
    /// Keys left out, and why.
    pub skipped: Vec<(KeyName, SkipReason)>,
}

/// Merge the keys of a chain into an existing vault, under `policy`.
///
/// The chain is authenticated and decoded completely first, and every conflict is decided
/// before the first import, so [`MergePolicy::Refuse`] imports nothing when anything conflicts.
/// Each key is then one audited import ([`DangerousVault::import_key`](keyvault_store::dangerous::DangerousVault::import_key)); a replacement the store's
/// merge rule refuses is skipped with its reason (and audited as a failed import); if another
/// import fails (a concurrent writer took its name, say), the keys before it stay imported and
/// the error is returned.
/// Usage counters and the backup's audit log are not merged: the vault keeps its own log, which
/// records every import.
///
/// # Errors
/// As [`open_chain`]; [`BackupError::Conflict`] under [`MergePolicy::Refuse`]; store errors.
pub fn merge_into<B: Backend>(
    vault: &Vault<B>,
    chain: &[VaultBackup],
    password: &[u8],
    policy: MergePolicy,
) -> Result<MergeReport> {
    let snapshots = open_chain(chain, password)?;
    let mut latest: BTreeMap<KeyId, KeyBundle> = BTreeMap::new();
    for snapshot in snapshots {
        for bundle in snapshot.into_parts().keys {
            latest.insert(bundle.metadata.id(), bundle);
        }
    }
    import_bundles(vault, latest.into_values().collect(), policy)
}

/// Import `bundles` into `vault` under `policy`, deciding every conflict before the first
/// import (see [`merge_into`]).
pub(crate) fn import_bundles<B: Backend>(
    vault: &Vault<B>,
    bundles: Vec<KeyBundle>,
    policy: MergePolicy,
) -> Result<MergeReport> {
    let mut report = MergeReport::default();
    let mut plan: Vec<(KeyBundle, ImportConflict, Option<KeyState>)> = Vec::new();
    let mut conflicts = Vec::new();
    for bundle in bundles {
        let name = bundle.metadata.name().clone();
        if bundle.metadata.state() == KeyState::Destroyed {
            report.skipped.push((name, SkipReason::DestroyedInBackup));
            continue;
        }
        let by_id = found(vault.key_by_key_id(bundle.metadata.id()))?;
        let by_name = found(vault.key(&name))?;
        if by_id.is_none() && by_name.is_none() {
            plan.push((bundle, ImportConflict::Refuse, None));
            continue;
        }
        match policy {
            MergePolicy::Refuse => conflicts.push(name.to_string()),
            MergePolicy::Skip => report.skipped.push((name, SkipReason::Conflict)),
            MergePolicy::Replace => {
                let Some(existing) = by_id.filter(|existing| existing.name() == &name) else {
                    report
                        .skipped
                        .push((name, SkipReason::NameTakenByAnotherKey));
                    continue;
                };
                plan.push((bundle, ImportConflict::Replace, Some(existing.state())));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(BackupError::Conflict { names: conflicts });
    }
    for (bundle, conflict, vault_state) in plan {
        let name = bundle.metadata.name().clone();
        let replacing = conflict == ImportConflict::Replace;
        match vault.dangerous().import_key(bundle, conflict) {
            Ok(_) => {}
            // The store refused (and audited) putting this copy over the vault's: skip it.
            Err(StoreError::ReplaceRefused { reason, .. }) => {
                report
                    .skipped
                    .push((name, skip_reason(reason, vault_state)));
                continue;
            }
            Err(err) => return Err(err.into()),
        }
        if replacing {
            report.replaced.push(name);
        } else {
            report.imported.push(name);
        }
    }
    Ok(report)
}

/// The skip reason of a refused replacement (the older names kept for the common cases).
fn skip_reason(reason: ReplaceRefusal, vault_state: Option<KeyState>) -> SkipReason {
    match reason {
        ReplaceRefusal::KeyRetired if vault_state == Some(KeyState::Destroyed) => {
            SkipReason::DestroyedInVault
        }
        ReplaceRefusal::FewerVersions { .. } | ReplaceRefusal::OlderCopy => {
            SkipReason::NewerInVault
        }
        other => SkipReason::Refused(other),
    }
}

/// `Ok(None)` for a key the vault does not have.
pub(crate) fn found<T>(result: std::result::Result<T, StoreError>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::KeyNotFound(_)) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
