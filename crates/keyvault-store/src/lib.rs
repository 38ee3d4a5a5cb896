//! keyvault-store: persistence for keyvault.
//!
//! Today this crate holds the storage layer: the [`Backend`] trait (point reads, prefix scans and
//! atomic batches of writes with optimistic revision checks) and its two implementations,
//! [`MemoryBackend`] and the SQLite-backed [`FileBackend`], the embedded default. The `Vault`
//! service on top of them (sealing at rest, unlocking, caching, usage counters, audit
//! persistence) is not built yet.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
mod error;

pub use backend::{Backend, Batch, Expect, FileBackend, MemoryBackend, Record};
pub use error::{Result, StoreError};
