//! Tests only: keyvault-backup's migration from rust-keyvault 0.2, checked against export files
//! and FileStore directories written by rust-keyvault 0.2.1 itself. The crate is never
//! published, so rust-keyvault stays out of everything keyvault ships. See `tests/`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
