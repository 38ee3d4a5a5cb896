//! keyvault-store's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-store --test it`, or one module with a filter:
//! `cargo test -p keyvault-store --test it backend::`.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

mod backend;
mod bad_files;
mod busy;
mod concurrency;
mod crash;
mod golden;
mod merge_rule;
mod multiprocess;
mod never_panic;
mod portable;
mod rollback;
mod slots;
mod stream;
mod vault;
