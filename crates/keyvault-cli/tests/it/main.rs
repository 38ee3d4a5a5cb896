//! The keyvault CLI's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-cli --test it`, or one module with a filter:
//! `cargo test -p keyvault-cli --test it cli::`.

mod common;

mod cli;
mod data;
mod edges;
mod guide;
mod messages;
mod portable;
mod prompt;
