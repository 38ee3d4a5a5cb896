//! rust-keyvault 0.2 export files from arbitrary bytes: `LegacyExport::from_json` must refuse
//! the input or return an export whose Argon2 parameters are within keyvault's bounds.
//!
//! `decrypt` is called only where it refuses before deriving (Ed25519 and X25519 wrapping
//! algorithms): `from_json` requires parameters at or above keyvault's Argon2id floor, so every
//! other call would cost a 7–19 MiB derivation, some 30 ms, per execution. The unwrapping after
//! the derivation (AEAD open, material length) is covered by `aead_open` and by
//! keyvault-backup's `tests/it/never_panic.rs`. Never a panic.
#![no_main]

use keyvault_backup::legacy::LegacyExport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(export) = LegacyExport::from_json(text) else {
        return;
    };
    assert!(export.argon2.validate().is_ok(), "parameters were bounded");
    let _ = format!("{export:?}");
    if export.wrapping_algorithm.aead().is_none() {
        assert!(export.decrypt(b"any password").is_err());
    }
});
