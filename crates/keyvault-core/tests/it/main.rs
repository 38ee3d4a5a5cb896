//! keyvault-core's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-core --test it`, or one module with a filter:
//! `cargo test -p keyvault-core --test it audit::`.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

mod audit;
mod envelope;
mod lifecycle;
mod policy;
mod purity;
