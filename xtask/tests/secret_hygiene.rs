//! Secret hygiene of the library crates, enforced by the compiler and by the types' own `Debug`
//! output rather than by reading their source.
//!
//! - At compile time: no type that holds key material is `Copy`, so a key is never duplicated
//!   silently on the stack; moving or cloning it stays visible (and `SecretKey` zeroizes every
//!   clone on drop). If someone adds `Copy`, this file stops compiling.
//! - At run time: a type's `Debug`, derived or hand-written, is judged by what it prints. Each
//!   type that can be built from chosen bytes through the public API is built from a pattern no
//!   other data has, and its `{:?}` and `{:#?}` output must contain neither the bytes (decimal,
//!   as a derived `Debug` of an array or `Vec` prints them) nor their hex, and must say that it
//!   redacts. A derived `Debug` over a `SecretKey` field passes (it prints `SecretKey([REDACTED])`);
//!   so does `Zeroizing`, whose `Debug` shows nothing of its contents. A derived `Debug` over raw
//!   bytes (an array, a `Vec`), or a hand-written one that prints them in hex, fails.
//!
//! The crates' private key-holding types cannot be named here; each carries the same assertion
//! beside its definition under `#[cfg(test)]` (`assert_not_impl_any!(T: Debug, Copy)` for those
//! with no `Debug` at all), checked whenever the crate's unit tests or clippy's `--all-targets`
//! build compile. `cargo xtask audit` runs this file as its `secrets` check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use keyvault_core::{KeyAlgorithm, KeyName};
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, KEY_LEN, SecretKey, mac::HmacSha256};
use keyvault_store::dangerous::{KeyBundle, VaultSnapshot};
use keyvault_store::{DataKey, MemoryVault, NewKey, VaultOptions};
use static_assertions::assert_not_impl_any;

// Every public type that holds key material (or a whole vault's worth of it).
assert_not_impl_any!(SecretKey: Copy);
assert_not_impl_any!(AeadKey: Copy, Clone);
assert_not_impl_any!(HmacSha256: Copy);
assert_not_impl_any!(DataKey: Copy);
assert_not_impl_any!(KeyBundle: Copy);
assert_not_impl_any!(VaultSnapshot: Copy);
assert_not_impl_any!(MemoryVault: Copy, Clone);
assert_not_impl_any!(keyvault_backup::BackupConfig: Copy);
assert_not_impl_any!(keyvault_backup::BackupKey: Copy);
assert_not_impl_any!(keyvault_backup::ExportKey: Copy);
assert_not_impl_any!(keyvault_backup::legacy::LegacyKey: Copy);

/// Key bytes no real key, id or counter will contain: 0xc3, 0xc6, ... (step 3, wrapping).
fn pattern() -> [u8; KEY_LEN] {
    let mut bytes = [0u8; KEY_LEN];
    let mut next = 0xc3_u8;
    for byte in &mut bytes {
        *byte = next;
        next = next.wrapping_add(3);
    }
    bytes
}

/// Why `value`'s `Debug` leaks `secret`, if it does: four or more consecutive bytes of it in
/// decimal (`195, 198, 201, 204`) or hex (`c3c6c9cc`, `C3C6C9CC`), or no sign of redaction.
fn leak(value: &impl Debug, secret: &[u8]) -> Option<String> {
    for shown in [format!("{value:?}"), format!("{value:#?}")] {
        let flat: String = shown.split_whitespace().collect::<Vec<_>>().join(" ");
        for window in secret.windows(4) {
            let decimal = window
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
            let compact: String = flat.chars().filter(|c| !c.is_whitespace()).collect();
            if flat.contains(&decimal)
                || compact.contains(&decimal.replace(' ', ""))
                || compact.to_lowercase().contains(&hex)
            {
                return Some(format!("key bytes in Debug output: {shown}"));
            }
        }
        if !(shown.contains("REDACTED") || shown.contains("..")) {
            return Some(format!("Debug output does not show a redaction: {shown}"));
        }
    }
    None
}

fn assert_redacted(value: &impl Debug, secret: &[u8]) {
    if let Some(problem) = leak(value, secret) {
        panic!("{problem}");
    }
}

#[test]
fn the_leak_finder_catches_derived_debug_of_key_bytes() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct RawKey([u8; KEY_LEN]);
    #[derive(Debug)]
    #[allow(dead_code)]
    struct VecKey(Vec<u8>);
    #[allow(dead_code)]
    struct HexKey([u8; KEY_LEN]);
    impl Debug for HexKey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "HexKey(REDACTED ")?;
            self.0.iter().try_for_each(|b| write!(f, "{b:02X}"))?;
            write!(f, ")")
        }
    }
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Unmarked(u32);

    let secret = pattern();
    assert!(leak(&RawKey(secret), &secret).is_some());
    assert!(leak(&VecKey(secret.to_vec()), &secret).is_some());
    assert!(leak(&HexKey(secret), &secret).is_some());
    assert!(leak(&Unmarked(7), &secret).is_some());

    // A derived Debug over a redacting field is fine.
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Holder {
        key: SecretKey,
    }
    let holder = Holder {
        key: SecretKey::from_array(&secret),
    };
    assert_eq!(leak(&holder, &secret), None);
}

#[test]
fn crypto_key_types_redact() {
    let secret = pattern();
    let key = SecretKey::from_array(&secret);
    assert_redacted(&key, &secret);
    for algorithm in Algorithm::ALL {
        assert_redacted(&AeadKey::new(algorithm, &key).unwrap(), &secret);
    }
    let mut mac = HmacSha256::new(&secret);
    assert_redacted(&mac, &secret);
    mac.update(b"some data");
    assert_redacted(&mac, &secret);
}

#[test]
fn a_data_key_and_the_vault_that_made_it_redact() {
    let options = VaultOptions {
        argon2: Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            lanes: 1,
        },
        ..VaultOptions::default()
    };
    let vault = MemoryVault::in_memory(b"secret hygiene", options).unwrap();
    let name = KeyName::new("hygiene").unwrap();
    vault
        .create_key(NewKey::new(name.clone(), KeyAlgorithm::default()))
        .unwrap();
    let data_key = vault.generate_data_key(&name, b"aad").unwrap();
    let secret = *data_key.plaintext.expose_secret();
    assert_redacted(&data_key, &secret);
    assert_redacted(&vault, &secret);
}
