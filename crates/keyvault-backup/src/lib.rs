//! keyvault-backup: portable formats for keys and whole vaults.
//!
//! **Not built yet.** This crate will hold single-key export and import, full and incremental
//! backups, restore and verification, and migration from rust-keyvault 0.2. It exports nothing
//! today; see the workspace README for the crate map and what works now.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
