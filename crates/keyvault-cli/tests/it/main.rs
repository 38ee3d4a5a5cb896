//! The keyvault CLI's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-cli --test it`, or one module with a filter:
//! `cargo test -p keyvault-cli --test it cli::`.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[cfg(feature = "aws-kms")]
mod aws_kms;
mod cli;
mod data;
mod edges;
mod guide;
mod messages;
#[cfg(feature = "pkcs11")]
mod pkcs11;
mod portable;
mod prompt;
mod slots;
