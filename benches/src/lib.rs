//! Criterion benchmarks for keyvault. The code lives in `benches/`; this library is empty.
//!
//! Every keyvault operation is measured beside a baseline in the same run: the raw RustCrypto
//! call a careful user would write by hand and, for the AEADs, ring; for the Vault, the raw
//! keyvault-crypto seal, one fsync of a small file, and one Argon2id derivation. Run with
//!
//! ```text
//! cargo bench -p keyvault-benches --bench aead
//! cargo bench -p keyvault-benches --features ring --bench aead
//! cargo bench -p keyvault-benches --bench nonce
//! cargo bench -p keyvault-benches --bench kdf
//! cargo bench -p keyvault-benches --bench vault
//! ```
//!
//! and see `docs/PERFORMANCE.md` for the results and `benches/summarize.py` for the tables.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
