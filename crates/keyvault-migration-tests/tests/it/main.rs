//! The migration tests against files written by rust-keyvault 0.2.1, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-migration-tests --test it`, or one module with a filter:
//! `cargo test -p keyvault-migration-tests --test it guide_store::`.

mod guide_store;
mod legacy;
