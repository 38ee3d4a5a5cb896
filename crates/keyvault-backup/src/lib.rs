#![doc = include_str!("../README.md")]
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
pub use keyvault_store::dangerous::ImportConflict;
