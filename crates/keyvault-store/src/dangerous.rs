//! Operations that move key material in the clear, or reach under the vault's checks: what
//! keyvault-backup builds on, and nothing an application needs to encrypt, sign or manage keys.
//!
//! Everything here hands out or takes in secrets that the rest of the API never shows:
//!
//! - [`DangerousVault::export_key`] returns a [`KeyBundle`]: a key's metadata and the 32-byte
//!   root of each chosen version, unencrypted.
//! - [`DangerousVault::import_key`] puts such a bundle (from this or another vault) into the vault.
//! - [`DangerousVault::snapshot`] returns a [`VaultSnapshot`]: the master key, every key's
//!   material, the usage counters and optionally the audit log.
//! - [`restore`] and [`restore_file`] build a new vault from snapshots.
//! - [`DangerousVault::backend`] hands out the raw backend, whose `commit` writes past the
//!   vault's barrier and record head (the next open refuses such writes as tampering or a
//!   rollback).
//! - [`DangerousVault::audit_refusal`] records in the vault's log a request that failed before
//!   it reached the vault (a tampered export file, a wrong backup password).
//!
//! The operations behave as they always have: each is audited, and an export is allowed only
//! for an exportable key whose policy allows it and counts as a use. This module only makes
//! reaching for them a visible choice. Reach it through [`Vault::dangerous`]:
//!
//! ```
//! use keyvault_core::{KeyAlgorithm, KeyName};
//! use keyvault_crypto::Argon2Params;
//! use keyvault_store::{MemoryBackend, MemoryVault, NewKey, VaultOptions, dangerous};
//!
//! # fn main() -> keyvault_store::Result<()> {
//! let options = VaultOptions {
//!     argon2: Argon2Params { memory_kib: 19_456, iterations: 2, lanes: 1 },
//!     ..VaultOptions::default()
//! };
//! let vault = MemoryVault::in_memory(b"pw", options.clone())?;
//! let name = KeyName::new("tokens")?;
//! vault.create_key(NewKey::new(name.clone(), KeyAlgorithm::default()))?;
//! let snapshot = vault.dangerous().snapshot(None, true)?;
//! assert_eq!(snapshot.keys().len(), 1);
//! let copy = dangerous::restore(MemoryBackend::new(), &[snapshot], b"new pw", options)?;
//! assert_eq!(copy.key(&name)?.name(), &name);
//! # Ok(())
//! # }
//! ```
//!
//! None of these operations is a plain `Vault` method, and a snapshot's master key is no field:
//!
//! ```compile_fail
//! # fn leak(vault: &keyvault_store::MemoryVault) {
//! let snapshot = vault.snapshot(None, true); // only `vault.dangerous().snapshot(..)`
//! # }
//! ```
//!
//! ```compile_fail
//! # fn leak(vault: &keyvault_store::MemoryVault) {
//! let backend = vault.backend(); // only `vault.dangerous().backend()`
//! # }
//! ```
//!
//! ```compile_fail
//! # fn leak(snapshot: &keyvault_store::dangerous::VaultSnapshot) {
//! let key = &snapshot.master_key; // only `snapshot.master_key()`
//! # }
//! ```

use std::path::Path;

use keyvault_core::{AuditOperation, ErrorKind, KeyMetadata, KeyName, KeyVersion};

pub use crate::vault::{
    CounterSnapshot, ImportConflict, KeyBundle, SnapshotBase, SnapshotParts, VaultSnapshot,
};

use crate::backend::{Backend, FileBackend};
use crate::error::Result;
use crate::vault::{FileVault, Vault, VaultOptions};

/// A vault's cleartext-moving operations, borrowed from [`Vault::dangerous`]. See the
/// [module documentation](self) for what each one hands out.
pub struct DangerousVault<'a, B: Backend> {
    vault: &'a Vault<B>,
}

impl<B: Backend> std::fmt::Debug for DangerousVault<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DangerousVault").field(self.vault).finish()
    }
}

impl<'a, B: Backend> DangerousVault<'a, B> {
    pub(crate) fn new(vault: &'a Vault<B>) -> Self {
        DangerousVault { vault }
    }

    /// Take key `name` out **in the clear** with `versions` (all live versions if `None`), for
    /// export. Allowed only if the key is exportable and its policy allows `Export`; counted
    /// and audited as a use.
    ///
    /// # Errors
    /// A core `Denied` error if export is not allowed; an unknown or destroyed version;
    /// [`StoreError::KeyNotFound`](crate::StoreError::KeyNotFound).
    pub fn export_key(&self, name: &KeyName, versions: Option<&[KeyVersion]>) -> Result<KeyBundle> {
        self.vault.export_key(name, versions)
    }

    /// Put a key taken out by [`DangerousVault::export_key`] (of this or another vault) into
    /// this vault.
    ///
    /// The bundle is checked first: its metadata must be consistent (keyvault-core validates
    /// it), not destroyed, and every version that has material must be carried; then
    /// `on_conflict` decides what happens if the name or id is taken. Audited.
    ///
    /// # Errors
    /// [`StoreError::NameTaken`](crate::StoreError::NameTaken) or a conflict error per
    /// `on_conflict`; [`StoreError::ReplaceRefused`](crate::StoreError::ReplaceRefused) when a
    /// replacement would move the key backwards; a core `InvalidMetadata` error for an
    /// inconsistent bundle; storage errors.
    pub fn import_key(
        &self,
        bundle: KeyBundle,
        on_conflict: ImportConflict,
    ) -> Result<KeyMetadata> {
        self.vault.import_key(bundle, on_conflict)
    }

    /// Read the whole vault consistently (retrying if anyone commits meanwhile): every key with
    /// its material **in the clear**, every counter, the master key and, if `include_audit`, the
    /// audit log. With `base`, only what changed since that earlier snapshot. The backup is
    /// audited first, so a snapshot with its log includes its own event.
    ///
    /// # Errors
    /// [`StoreError::BrokenChain`](crate::StoreError::BrokenChain) if `base` was not taken from
    /// this vault's history (another lineage, or a sequence number this vault has not
    /// reached); [`StoreError::Busy`](crate::StoreError::Busy) if the vault never stays still
    /// long enough; storage errors.
    pub fn snapshot(
        &self,
        base: Option<SnapshotBase>,
        include_audit: bool,
    ) -> Result<VaultSnapshot> {
        self.vault.snapshot(base, include_audit)
    }

    /// Record a request that failed before it reached the vault (for example an import whose
    /// file was tampered with or whose password was wrong), so refusals outside the vault are
    /// logged too. Only the operation, the key name and the error's kind are recorded.
    ///
    /// # Errors
    /// Storage errors.
    pub fn audit_refusal(
        &self,
        operation: AuditOperation,
        name: Option<&KeyName>,
        kind: ErrorKind,
    ) -> Result<()> {
        self.vault.audit_refusal(operation, name, kind)
    }

    /// The backend this vault stores into, with its raw `commit`: a write through it bypasses
    /// the vault's barrier, audit log and record head (the next open refuses the result as
    /// tampered or rolled back). For tools that inspect or repair storage, and for tests.
    #[must_use]
    pub fn backend(&self) -> &'a B {
        self.vault.backend()
    }
}

/// Build a new vault on the empty `backend` from a full snapshot followed by its incremental
/// snapshots, in order, protected by `password`. Everything is written in one transaction: a
/// failure leaves the backend empty. The chain of snapshots is checked first (each incremental
/// must follow the one before it, and all must be of one vault), and so is the audit chain when
/// the log is included.
///
/// # Errors
/// [`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists) if the backend holds a vault;
/// [`StoreError::BrokenChain`](crate::StoreError::BrokenChain) for a broken or foreign chain of
/// snapshots; an audit chain error; storage errors.
pub fn restore<B: Backend>(
    backend: B,
    snapshots: &[VaultSnapshot],
    password: &[u8],
    options: VaultOptions,
) -> Result<Vault<B>> {
    Vault::restore(backend, snapshots, password, options)
}

/// Restore snapshots into a new vault file at `path`, which must not exist. The vault is built
/// in a temporary file beside it and renamed into place only when complete, so a failure part
/// way leaves no file at `path`.
///
/// # Errors
/// [`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists) if `path` exists; as
/// [`restore`].
pub fn restore_file(
    path: impl AsRef<Path>,
    snapshots: &[VaultSnapshot],
    password: &[u8],
    options: VaultOptions,
) -> Result<FileVault> {
    FileVault::build_then_publish(path.as_ref(), options, |backend: FileBackend, options| {
        Vault::restore(backend, snapshots, password, options)
    })
}
