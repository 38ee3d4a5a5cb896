//! keyvault-store: the `Vault` service and its storage backends.
//!
//! **Not built yet.** This crate will hold the backend trait, the memory and SQLite file
//! backends, the storage barrier (everything at rest sealed), unlocking, caching, locking across
//! threads and processes, durable usage counters and audit persistence. It exports nothing
//! today; see the workspace README for the crate map and what works now.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
