//! Golden vault files: a vault of the current format (2) made once and kept, which every later
//! version must open, and one of format 1 (before the record head), which must be refused with a
//! clear error before any key derivation.
//!
//! Regenerate the current one only when the format version changes:
//! `KEYVAULT_WRITE_GOLDEN=1 cargo test -p keyvault-store --test it golden::`.

use std::path::{Path, PathBuf};

use keyvault_core::{KeyAlgorithm, KeyName};
use keyvault_store::{FileVault, NewKey, StoreError};
use keyvault_test_support::fixtures::cheap_options;

const PASSWORD: &[u8] = b"golden vault password";
const PLAINTEXT: &[u8] = b"golden plaintext";
const AAD: &[u8] = b"golden aad";

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// A copy to open: opening appends an audit event, and the golden file must stay as it is.
fn scratch_copy(name: &str, dir: &Path) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(golden(name), &path).unwrap();
    path
}

#[test]
fn a_format_2_vault_opens_and_decrypts() {
    let key = KeyName::new("golden").unwrap();
    if std::env::var_os("KEYVAULT_WRITE_GOLDEN").is_some() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault-v2.db");
        let vault = FileVault::create(&path, PASSWORD, cheap_options()).unwrap();
        vault
            .create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))
            .unwrap();
        let envelope = vault.encrypt(&key, PLAINTEXT, AAD).unwrap();
        drop(vault);
        std::fs::copy(&path, golden("vault-v2.db")).unwrap();
        std::fs::write(golden("vault-v2.envelope"), envelope).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = scratch_copy("vault-v2.db", dir.path());
    let vault = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap();
    let envelope = std::fs::read(golden("vault-v2.envelope")).unwrap();
    assert_eq!(&*vault.decrypt(&envelope, AAD).unwrap(), PLAINTEXT);
    vault.verify_audit().unwrap();
    // It opens again after this version has committed to it.
    drop(vault);
    FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap();
}

#[test]
fn a_format_1_vault_is_refused_before_unlocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = scratch_copy("vault-v1.db", dir.path());
    let before = std::fs::read(&path).unwrap();
    match FileVault::open_file(&path, PASSWORD, cheap_options()) {
        Err(StoreError::NotAVault { reason, .. }) => {
            assert!(reason.contains("format 1"), "{reason}");
        }
        other => panic!("expected NotAVault, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
