//! keyvault-crypto's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-crypto --test it`, or one module with a filter:
//! `cargo test -p keyvault-crypto --test it argon2_kat::`.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

mod argon2_kat;
mod bad_input;
mod properties;
mod rfc_vectors;
mod wycheproof;
