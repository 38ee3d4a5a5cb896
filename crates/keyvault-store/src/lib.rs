//! keyvault-store: the `Vault` service and its storage.
//!
//! - [`Vault`]: create, rotate, govern and use keys; generic over a [`Backend`], with the same
//!   behaviour on [`MemoryBackend`] and the SQLite [`FileBackend`] (the embedded default,
//!   [`FileVault`]).
//! - [`KeyStore`]: the same operations as an object-safe trait, for code that takes any vault.
//! - The storage barrier: backends only ever hold sealed blobs under keyed-hash storage keys;
//!   the vault header's password keyslot wraps the random master key with Argon2id.
//! - Every use passes keyvault-core's lifecycle and policy checks in one place; usage limits are
//!   counted durably (reserved in the store, spent in memory); every operation is audited in a
//!   MAC chain anchored in the sealed vault metadata.
//!
//! ```
//! use keyvault_core::{KeyAlgorithm, KeyName};
//! use keyvault_store::{MemoryVault, NewKey, VaultOptions};
//! # let mut options = VaultOptions::default();
//! # options.argon2 = keyvault_crypto::Argon2Params { memory_kib: 19_456, iterations: 2, lanes: 1 };
//!
//! let vault = MemoryVault::in_memory(b"correct horse", options)?;
//! let name = KeyName::new("orders")?;
//! vault.create_key(NewKey::new(name.clone(), KeyAlgorithm::default()))?;
//! let sealed = vault.encrypt(&name, b"card 4111", b"order 17")?;
//! assert_eq!(&vault.decrypt(&sealed, b"order 17")?[..], b"card 4111");
//! vault.verify_audit()?;
//! # Ok::<(), keyvault_store::StoreError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
mod barrier;
mod clock;
mod counters;
mod error;
mod header;
mod keystore;
mod records;
mod vault;

pub use backend::{Backend, Batch, Expect, FileBackend, MemoryBackend, Record};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, StoreError};
pub use keystore::KeyStore;
pub use vault::{
    AuditCommit, AuditFilter, AuditReport, CounterSnapshot, DataKey, FileVault, ImportConflict,
    KeyBundle, KeyFilter, MemoryVault, NewKey, Signature, SnapshotBase, Vault, VaultOptions,
    VaultSnapshot,
};
