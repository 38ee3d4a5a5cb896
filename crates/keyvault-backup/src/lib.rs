#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backup;
mod codec;
mod error;
mod export;
pub mod legacy;
mod payload;
mod restore;

// Each public item has one path: backups, exports and restores at the root; the migration from
// rust-keyvault 0.2 in its own module.
pub use crate::backup::{
    BACKUP_FORMAT_VERSION, BACKUP_MAGIC, BackupConfig, BackupId, BackupKey, BackupMetadata,
    MAX_BACKUP_COMMENT_LEN, MAX_BACKUP_LEN, MAX_DATA_SIZE, MAX_ZSTD_WINDOW_LOG, VaultBackup,
    create_backup, create_incremental_backup,
};
pub use crate::error::{BackupError, Result};
pub use crate::export::{
    EXPORT_FORMAT_VERSION, EXPORT_JSON_FORMAT, EXPORT_MAGIC, ExportKey, ExportOptions, ExportedKey,
    ImportOptions, MAX_EXPORT_COMMENT_LEN, MAX_EXPORT_LEN, MAX_EXPORT_METADATA_LEN,
    MAX_EXPORT_VERSIONS, export_key, import_key,
};
pub use crate::payload::MAX_BACKUP_KEYS;
pub use crate::restore::{
    BackupReport, ChainReport, MergePolicy, MergeReport, SkipReason, merge_into, open_chain,
    restore, restore_to_file, verify_backup, verify_chain,
};
pub use keyvault_store::dangerous::ImportConflict;
