#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod barrier;
mod clock;
mod counters;
mod custody;
pub mod dangerous;
pub mod durable;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod header;
mod merge;
mod records;
pub mod stream;
mod vault;

pub use backend::{
    Action, Backend, Batch, BusyWait, Expect, FileBackend, MemoryBackend, Record, Scrub, Write,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use custody::{ExternalWrapper, MAX_SHARES, RecoveryKey, Share, Unlock};
pub use error::{Result, StoreError};
pub use head::{RecordDamage, RecordKind};
pub use header::{SlotDescription, SlotInfo};
pub use merge::ReplaceRefusal;
pub use vault::{
    AuditCommit, AuditFilter, AuditReport, DataKey, FileVault, KeyFilter, MemoryVault, NewKey,
    Signature, Vault, VaultOptions,
};
