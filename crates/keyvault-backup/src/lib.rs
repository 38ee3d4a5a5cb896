//! keyvault-backup: portable, versioned, password-protected formats for keys and whole vaults.
//!
//! | module | job |
//! |---|---|
//! | [`export`] | one key, all or chosen versions: [`ExportedKey`] in JSON or compact binary, [`export_key`], [`import_key`] |
//! | [`backup`] | the whole vault: [`create_backup`], [`create_incremental_backup`], [`VaultBackup`] |
//! | [`mod@restore`] | [`restore_to_file`] (all-or-nothing), [`restore()`], [`merge_into`], [`verify_backup`], [`verify_chain`] |
//! | [`legacy`] | migration from rust-keyvault 0.2: its export files and FileStore directories |
//!
//! Every file is sealed under one Argon2id derivation of a password (parameters bounded by a
//! floor and a ceiling, checked before deriving), with XChaCha20-Poly1305; every header field
//! is authenticated, and backups carry an HMAC-SHA256 over the whole file, checked in constant
//! time before anything in them is trusted. Readers bound every length, count and size before
//! allocating and never panic; secrets are zeroized and redacted. docs/FORMATS.md gives the byte
//! layouts ("Key export v1", "Backup v1"); docs/BACKUP.md the design and its guarantees.
//!
//! ```
//! use keyvault_backup::{BackupConfig, create_backup, restore};
//! use keyvault_core::{KeyAlgorithm, KeyName};
//! use keyvault_store::{MemoryBackend, MemoryVault, NewKey, VaultOptions};
//! # let cheap = keyvault_crypto::Argon2Params { memory_kib: 19_456, iterations: 2, lanes: 1 };
//! # let mut options = VaultOptions::default();
//! # options.argon2 = cheap;
//!
//! let vault = MemoryVault::in_memory(b"vault password", options.clone())?;
//! vault.create_key(NewKey::new(KeyName::new("orders")?, KeyAlgorithm::default()))?;
//! let sealed = vault.encrypt(&KeyName::new("orders")?, b"card 4111", b"")?;
//!
//! let mut config = BackupConfig::new(b"backup password".to_vec());
//! # config.argon2 = cheap;
//! let backup = create_backup(&vault, &config)?;
//! let bytes = backup.as_bytes().to_vec(); // store these somewhere safe
//!
//! let file = keyvault_backup::VaultBackup::from_bytes(bytes)?;
//! let restored = restore(MemoryBackend::new(), &[file], b"backup password", b"new password", options)?;
//! assert_eq!(&restored.decrypt(&sealed, b"")?[..], b"card 4111");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backup;
mod codec;
mod error;
pub mod export;
pub mod legacy;
mod payload;
pub mod restore;

pub use crate::backup::{
    BackupConfig, BackupId, BackupKey, BackupMetadata, VaultBackup, create_backup,
    create_incremental_backup,
};
pub use crate::error::{BackupError, Result};
pub use crate::export::{
    ExportKey, ExportOptions, ExportedKey, ImportOptions, export_key, import_key,
};
pub use crate::payload::MAX_BACKUP_KEYS;
pub use crate::restore::{
    BackupReport, ChainReport, MergePolicy, MergeReport, SkipReason, merge_into, open_chain,
    restore, restore_to_file, verify_backup, verify_chain,
};
pub use keyvault_store::ImportConflict;
