#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
mod barrier;
mod clock;
mod counters;
pub mod durable;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod header;
mod keystore;
mod merge;
mod records;
pub mod stream;
mod vault;

pub use backend::{Backend, Batch, BusyWait, Expect, FileBackend, MemoryBackend, Record, Scrub};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, StoreError};
pub use head::{RecordDamage, RecordKind};
pub use keystore::KeyStore;
pub use merge::ReplaceRefusal;
pub use vault::{
    AuditCommit, AuditFilter, AuditReport, CounterSnapshot, DataKey, FileVault, ImportConflict,
    KeyBundle, KeyFilter, MemoryVault, NewKey, Signature, SnapshotBase, Vault, VaultOptions,
    VaultSnapshot,
};
