//! rust-keyvault 0.2 FileStore directories from arbitrary bytes (layout in
//! `keyvault_fuzz::legacy_input`): the input is written as `.vault_metadata.json` and key files
//! into one scratch directory reused by every execution, read with `LegacyStore::open`
//! (plaintext, or encrypted under a password with the smallest Argon2id cost, microseconds per
//! derivation), and what it reads is converted to keyvault keys with `to_bundles`. Never a panic.
#![no_main]

use std::sync::OnceLock;

use keyvault_backup::legacy::{LegacyStore, LegacyUnlock, MigrationOptions, to_bundles};
use keyvault_fuzz::legacy_input::{self, LEGACY_STORE_ARGON2, LEGACY_STORE_PASSWORD, ScratchDir};
use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<ScratchDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(ScratchDir::new);
    let (mode, parts) = legacy_input::parse(data);
    if let Err(err) = dir.fill(&parts) {
        panic!("writing the scratch directory failed: {err}");
    }
    let unlock = if mode & 1 == 0 {
        LegacyUnlock::Plaintext
    } else {
        LegacyUnlock::Password {
            password: LEGACY_STORE_PASSWORD,
            argon2: LEGACY_STORE_ARGON2,
        }
    };
    let Ok(store) = LegacyStore::open(dir.path(), &unlock) else {
        return;
    };
    let key_files = parts
        .iter()
        .skip(1)
        .filter(|part| part.first() != Some(&b'#'))
        .count();
    assert_eq!(store.keys.len() + store.unreadable.len(), key_files);
    for key in &store.keys {
        let _ = key.aead_key();
    }
    let options = MigrationOptions {
        exportable: mode & 2 != 0,
        ..MigrationOptions::default()
    };
    if let Ok(bundles) = to_bundles(&store.keys, &options) {
        for bundle in &bundles {
            // Every version carried is one the metadata lists and has not destroyed.
            for version in bundle.versions.keys() {
                let info = bundle.metadata.version(*version);
                assert!(info.is_some(), "a migrated version the metadata lacks");
            }
        }
    }
});
