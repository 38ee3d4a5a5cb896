//! The migration tests against files written by rust-keyvault 0.2.1, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-migration-tests --test it`, or one module with a filter:
//! `cargo test -p keyvault-migration-tests --test it guide_store::`.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod guide_store;
mod legacy;
