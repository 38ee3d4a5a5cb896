//! keyvault-crypto's integration tests, in one test binary with one module per area.
//! Run them with `cargo test -p keyvault-crypto --test it`, or one module with a filter:
//! `cargo test -p keyvault-crypto --test it argon2_kat::`.

mod argon2_kat;
mod bad_input;
mod properties;
mod rfc_vectors;
mod wycheproof;
