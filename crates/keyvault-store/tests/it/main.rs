//! keyvault-store's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-store --test it`, or one module with a filter:
//! `cargo test -p keyvault-store --test it backend::`.

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
mod stream;
mod vault;
