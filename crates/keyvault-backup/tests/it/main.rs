//! keyvault-backup's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-backup --test it`, or one module with a filter:
//! `cargo test -p keyvault-backup --test it backup::`.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

mod backup;
mod export;
mod golden;
mod interrupted;
mod lineage;
mod merge_rule;
mod never_panic;
mod properties;
mod tamper;
