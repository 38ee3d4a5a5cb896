//! Migration from rust-keyvault 0.2, against files written by rust-keyvault 0.2.1 itself: its
//! `ExportedKey` JSON files and its FileStore directories in encrypted and plaintext mode are
//! read with keyvault-backup's own readers and imported into keyvault vaults, keeping ids,
//! versions, states, times and material.

use std::time::{Duration, SystemTime};

use keyvault_backup::legacy::{
    LEGACY_ARGON2_BALANCED, LEGACY_ARGON2_FAST_INSECURE, LegacyAlgorithm, LegacyExport,
    LegacyKeyState, LegacyStore, LegacyUnlock, MigrationOptions, migrate, to_bundles,
};
use keyvault_backup::{BackupError, MergePolicy, SkipReason};
use keyvault_core::{
    AuditOperation, KeyAlgorithm, KeyId, KeyName, KeyState, KeyVersion, Timestamp, VersionState,
};
use keyvault_crypto::Argon2Params;
use keyvault_store::{AuditFilter, MemoryVault, ReplaceRefusal, VaultOptions};
use rust_keyvault::crypto::AEAD;
use rust_keyvault::key::{SecretKey as LegacySecret, VersionedKey};
use rust_keyvault::storage::{
    Argon2Config, FileStore, KeyLifeCycle, KeyStore, PersistentStorage, StorageConfig,
};

const STORE_PW: &[u8] = b"legacy store password";
const EXPORT_PW: &[u8] = b"legacy export password";

fn vault() -> MemoryVault {
    MemoryVault::in_memory(
        b"new vault",
        VaultOptions {
            argon2: Argon2Params::MINIMUM,
            ..VaultOptions::default()
        },
    )
    .unwrap()
}

fn legacy_key(
    id: [u8; 16],
    algorithm: rust_keyvault::Algorithm,
    state: rust_keyvault::KeyState,
) -> VersionedKey {
    VersionedKey {
        key: LegacySecret::generate(algorithm).unwrap(),
        metadata: rust_keyvault::KeyMetadata {
            id: rust_keyvault::KeyId::from_bytes(id),
            base_id: rust_keyvault::KeyId::from_bytes(id),
            state,
            created_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000)),
            algorithm,
            version: 1,
        },
    }
}

fn fast_config(encrypted: bool) -> StorageConfig {
    StorageConfig {
        encrypted,
        argon2_config: Argon2Config {
            memory_kib: LEGACY_ARGON2_FAST_INSECURE.memory_kib,
            time_cost: LEGACY_ARGON2_FAST_INSECURE.iterations,
            parallelism: LEGACY_ARGON2_FAST_INSECURE.lanes,
        },
        ..StorageConfig::default()
    }
}

/// A store with a rotated key (v1 deprecated, v2 active), a revoked key and an AES key.
fn populate(store: &mut FileStore) -> Vec<VersionedKey> {
    store
        .store(legacy_key(
            [1; 16],
            rust_keyvault::Algorithm::XChaCha20Poly1305,
            rust_keyvault::KeyState::Active,
        ))
        .unwrap();
    store
        .rotate_key(&rust_keyvault::KeyId::from_bytes([1; 16]))
        .unwrap();
    store
        .store(legacy_key(
            [2; 16],
            rust_keyvault::Algorithm::ChaCha20Poly1305,
            rust_keyvault::KeyState::Active,
        ))
        .unwrap();
    store
        .revoke_key(&rust_keyvault::KeyId::from_bytes([2; 16]))
        .unwrap();
    store
        .store(legacy_key(
            [3; 16],
            rust_keyvault::Algorithm::Aes256Gcm,
            rust_keyvault::KeyState::Active,
        ))
        .unwrap();
    store.flush().unwrap();
    let mut all = Vec::new();
    for base in [[1u8; 16], [2; 16], [3; 16]] {
        all.extend(
            store
                .get_key_versions(&rust_keyvault::KeyId::from_bytes(base))
                .unwrap(),
        );
    }
    all
}

fn check_migrated(vault: &MemoryVault, legacy: &[VersionedKey]) {
    let rotated = vault
        .key(&KeyName::new("legacy-01010101010101010101010101010101").unwrap())
        .unwrap();
    assert_eq!(rotated.id(), KeyId::from_bytes([1; 16]));
    assert_eq!(rotated.algorithm(), KeyAlgorithm::XChaCha20Poly1305);
    assert_eq!(rotated.state(), KeyState::Active);
    assert_eq!(rotated.versions().len(), 2);
    assert!(
        rotated
            .versions()
            .iter()
            .all(|info| info.state == VersionState::Enabled)
    );
    assert_eq!(
        rotated.created_at(),
        Timestamp::from_unix_millis(1_700_000_000_123)
    );
    assert_eq!(
        rotated.expires_at(),
        Some(Timestamp::from_unix_secs(4_000_000_000))
    );
    assert_eq!(
        rotated.labels().get("migrated-from").map(String::as_str),
        Some("rust-keyvault-0.2")
    );
    let revoked = vault
        .key(&KeyName::new("legacy-02020202020202020202020202020202").unwrap())
        .unwrap();
    assert_eq!(revoked.state(), KeyState::Revoked);
    assert_eq!(revoked.versions()[0].state, VersionState::Revoked);
    let aes = vault
        .key(&KeyName::new("legacy-03030303030303030303030303030303").unwrap())
        .unwrap();
    assert_eq!(aes.algorithm(), KeyAlgorithm::Aes256Gcm);
    // The material is the legacy bytes, version for version (the migrated keys are exportable).
    for (base, name) in [
        ([1u8; 16], "legacy-01010101010101010101010101010101"),
        ([3; 16], "legacy-03030303030303030303030303030303"),
    ] {
        let bundle = vault
            .dangerous()
            .export_key(&KeyName::new(name).unwrap(), None)
            .unwrap();
        for old in legacy
            .iter()
            .filter(|k| k.metadata.base_id.as_bytes() == &base)
        {
            let version = KeyVersion::new(old.metadata.version).unwrap();
            assert_eq!(
                bundle.versions[&version].expose_secret().as_slice(),
                old.key.expose_secret()
            );
        }
    }
    vault.verify_audit().unwrap();
}

#[test]
fn an_encrypted_file_store_migrates_with_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(true)).unwrap();
    store.init_with_password(STORE_PW).unwrap();
    let legacy = populate(&mut store);
    drop(store);

    let unlock = LegacyUnlock::Password {
        password: STORE_PW,
        argon2: LEGACY_ARGON2_FAST_INSECURE,
    };
    let read = LegacyStore::open(dir.path(), &unlock).unwrap();
    assert_eq!(read.keys.len(), 4);
    assert!(read.unreadable.is_empty());
    assert!(!format!("{read:?}").contains("material"));
    let states: Vec<_> = read
        .keys
        .iter()
        .map(|k| (k.info.base_id[0], k.info.version, k.info.state))
        .collect();
    assert!(states.contains(&(1, 1, LegacyKeyState::Deprecated)));
    assert!(states.contains(&(1, 2, LegacyKeyState::Active)));

    let target = vault();
    let options = MigrationOptions {
        exportable: true,
        ..MigrationOptions::default()
    };
    let report = migrate(&target, &read.keys, &options).unwrap();
    assert_eq!(report.imported.len(), 3);
    check_migrated(&target, &legacy);
    // Running it again refuses (nothing imported twice), or skips with the Skip policy.
    assert!(matches!(
        migrate(&target, &read.keys, &options),
        Err(BackupError::Conflict { .. })
    ));
    let skip = MigrationOptions {
        conflict: MergePolicy::Skip,
        ..options
    };
    assert_eq!(
        migrate(&target, &read.keys, &skip).unwrap().skipped.len(),
        3
    );

    // Wrong password, wrong parameters.
    let wrong = LegacyUnlock::Password {
        password: b"nope",
        argon2: LEGACY_ARGON2_FAST_INSECURE,
    };
    assert!(matches!(
        LegacyStore::open(dir.path(), &wrong),
        Err(BackupError::WrongPassword { .. })
    ));
    let other_params = LegacyUnlock::Password {
        password: STORE_PW,
        argon2: LEGACY_ARGON2_BALANCED,
    };
    assert!(matches!(
        LegacyStore::open(dir.path(), &other_params),
        Err(BackupError::WrongPassword { .. })
    ));
    let hostile = LegacyUnlock::Password {
        password: STORE_PW,
        argon2: Argon2Params {
            memory_kib: u32::MAX,
            iterations: 1,
            lanes: 1,
        },
    };
    assert!(matches!(
        LegacyStore::open(dir.path(), &hostile),
        Err(BackupError::Crypto(_))
    ));
}

/// The reproduction: migrate the encrypted FileStore, then one of its export files
/// with replace. The export file carries only v2, so its bundle has v1 as a destroyed
/// placeholder; replacing used to destroy the vault's v1. The store's merge rule refuses it
/// (audited), the migration skips the key and v1 stays enabled with its material.
#[test]
fn migrating_an_export_file_with_replace_never_destroys_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(true)).unwrap();
    store.init_with_password(STORE_PW).unwrap();
    let legacy = populate(&mut store);
    let newest = legacy
        .iter()
        .find(|k| k.metadata.base_id.as_bytes() == &[1; 16] && k.metadata.version == 2)
        .unwrap();
    let export = store.export_key(&newest.metadata.id, EXPORT_PW).unwrap();
    let json = export.to_json().unwrap();
    drop(store);

    let unlock = LegacyUnlock::Password {
        password: STORE_PW,
        argon2: LEGACY_ARGON2_FAST_INSECURE,
    };
    let read = LegacyStore::open(dir.path(), &unlock).unwrap();
    let target = vault();
    let options = MigrationOptions {
        exportable: true,
        ..MigrationOptions::default()
    };
    migrate(&target, &read.keys, &options).unwrap();
    let name = KeyName::new("legacy-01010101010101010101010101010101").unwrap();
    let sealed_v2 = target.encrypt(&name, b"old data", b"").unwrap();

    let from_file = LegacyExport::from_json(&json)
        .unwrap()
        .decrypt(EXPORT_PW)
        .unwrap();
    let replace = MigrationOptions {
        conflict: MergePolicy::Replace,
        ..options
    };
    let report = migrate(&target, &[from_file], &replace).unwrap();
    assert!(report.replaced.is_empty());
    assert_eq!(
        report.skipped,
        vec![(
            name.clone(),
            SkipReason::Refused(ReplaceRefusal::VersionMissing(1))
        )]
    );
    let key = target.key(&name).unwrap();
    assert_eq!(key.versions().len(), 2);
    assert!(
        key.versions()
            .iter()
            .all(|info| info.state == VersionState::Enabled),
        "v1 is not destroyed"
    );
    check_migrated(&target, &legacy);
    assert_eq!(&target.decrypt(&sealed_v2, b"").unwrap()[..], b"old data");
    let refusals = target
        .audit_log(&AuditFilter {
            operation: Some(AuditOperation::Import),
            outcome: Some(keyvault_core::OutcomeKind::Error),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(refusals.len(), 1, "the refusal is audited");
}

#[test]
fn a_plaintext_file_store_migrates_and_old_ciphertexts_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(false)).unwrap();
    let legacy = populate(&mut store);
    // Data rust-keyvault encrypted with its raw key (nonce chosen by the caller).
    let old = legacy
        .iter()
        .find(|k| k.metadata.base_id.as_bytes() == &[3; 16])
        .unwrap();
    let nonce = [9u8; 12];
    let ciphertext = rust_keyvault::crypto::RuntimeAead
        .encrypt(&old.key, &nonce, b"legacy secret", b"legacy aad")
        .unwrap();
    // A stray JSON file that is not a key (rust-keyvault skips it too).
    std::fs::write(dir.path().join("notes.json"), b"{\"hello\": 1}").unwrap();
    drop(store);

    let read = LegacyStore::open(dir.path(), &LegacyUnlock::Plaintext).unwrap();
    assert_eq!(read.keys.len(), 4);
    assert_eq!(read.unreadable.len(), 1);
    let target = vault();
    let options = MigrationOptions {
        exportable: true,
        ..MigrationOptions::default()
    };
    migrate(&target, &read.keys, &options).unwrap();
    check_migrated(&target, &legacy);

    // The legacy AEAD key decrypts what rust-keyvault encrypted, for re-encryption under keyvault.
    let migrated = read
        .keys
        .iter()
        .find(|k| k.info.base_id == [3; 16])
        .unwrap();
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    let plaintext = migrated
        .aead_key()
        .unwrap()
        .open(&sealed, b"legacy aad")
        .unwrap();
    assert_eq!(&plaintext[..], b"legacy secret");
    let name = KeyName::new("legacy-03030303030303030303030303030303").unwrap();
    let rewrapped = target.encrypt(&name, &plaintext, b"legacy aad").unwrap();
    assert_eq!(
        &target.decrypt(&rewrapped, b"legacy aad").unwrap()[..],
        b"legacy secret"
    );
}

#[test]
fn legacy_export_files_import_with_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(false)).unwrap();
    let legacy = populate(&mut store);
    let mut files = Vec::new();
    for key in &legacy {
        let exported = store.export_key(&key.metadata.id, EXPORT_PW).unwrap();
        let exported = exported.with_comment("moving to keyvault");
        files.push(exported.to_json().unwrap());
    }
    drop(store);

    let mut keys = Vec::new();
    for json in &files {
        let parsed = LegacyExport::from_json(json).unwrap();
        assert_eq!(
            parsed.wrapping_algorithm,
            LegacyAlgorithm::XChaCha20Poly1305
        );
        assert_eq!(parsed.argon2.memory_kib, 65_536);
        assert_eq!(parsed.comment.as_deref(), Some("moving to keyvault"));
        assert!(matches!(
            parsed.decrypt(b"wrong"),
            Err(BackupError::WrongPassword { .. })
        ));
        keys.push(parsed.decrypt(EXPORT_PW).unwrap());
    }
    // One export per legacy version; the versions of one key come together again.
    let bundles = to_bundles(&keys, &MigrationOptions::default()).unwrap();
    assert_eq!(bundles.len(), 3);
    let target = vault();
    let options = MigrationOptions {
        exportable: true,
        ..MigrationOptions::default()
    };
    migrate(&target, &keys, &options).unwrap();
    check_migrated(&target, &legacy);

    // Hostile Argon2 parameters in a legacy export are refused before deriving.
    let hostile = files[0].replacen("\"memory_kib\": 65536", "\"memory_kib\": 4294967295", 1);
    assert!(matches!(
        LegacyExport::from_json(&hostile),
        Err(BackupError::KdfParameters {
            what: "rust-keyvault export",
            ..
        })
    ));
}

#[test]
fn unsupported_and_inconsistent_legacy_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(false)).unwrap();
    store
        .store(legacy_key(
            [7; 16],
            rust_keyvault::Algorithm::Ed25519,
            rust_keyvault::KeyState::Active,
        ))
        .unwrap();
    drop(store);
    let read = LegacyStore::open(dir.path(), &LegacyUnlock::Plaintext).unwrap();
    let err = to_bundles(&read.keys, &MigrationOptions::default()).unwrap_err();
    assert!(matches!(err, BackupError::Legacy { .. }), "{err}");

    // Gaps in legacy version numbers become destroyed versions; names can be chosen.
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(false)).unwrap();
    let mut v3 = legacy_key(
        [8; 16],
        rust_keyvault::Algorithm::ChaCha20Poly1305,
        rust_keyvault::KeyState::Active,
    );
    v3.metadata.version = 3;
    v3.metadata.id = rust_keyvault::KeyId::from_bytes([9; 16]);
    store.store(v3).unwrap();
    drop(store);
    let read = LegacyStore::open(dir.path(), &LegacyUnlock::Plaintext).unwrap();
    let mut options = MigrationOptions::default();
    options
        .names
        .insert([8; 16], KeyName::new("payments").unwrap());
    let target = vault();
    migrate(&target, &read.keys, &options).unwrap();
    let key = target.key(&KeyName::new("payments").unwrap()).unwrap();
    let states: Vec<_> = key.versions().iter().map(|i| i.state).collect();
    assert_eq!(
        states,
        [
            VersionState::Destroyed,
            VersionState::Destroyed,
            VersionState::Enabled
        ]
    );
    assert!(!key.exportable(), "not exportable unless asked");
}

#[test]
fn a_store_is_told_encrypted_or_not_by_its_files() {
    let encrypted = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(encrypted.path(), fast_config(true)).unwrap();
    store.init_with_password(STORE_PW).unwrap();
    populate(&mut store);
    drop(store);
    let plaintext = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(plaintext.path(), fast_config(false)).unwrap();
    populate(&mut store);
    drop(store);

    assert!(keyvault_backup::legacy::store_needs_password(encrypted.path()).unwrap());
    assert!(!keyvault_backup::legacy::store_needs_password(plaintext.path()).unwrap());

    // Opened the wrong way round, each says what the store looks like.
    let err = LegacyStore::open(encrypted.path(), &LegacyUnlock::Plaintext).unwrap_err();
    assert!(matches!(err, BackupError::Legacy { .. }), "{err:?}");
    assert!(
        err.to_string().contains("the store looks encrypted"),
        "{err}"
    );
    assert!(!err.to_string().contains("not 32"), "{err}");
    let with_password = LegacyUnlock::Password {
        password: STORE_PW,
        argon2: LEGACY_ARGON2_FAST_INSECURE,
    };
    let err = LegacyStore::open(plaintext.path(), &with_password).unwrap_err();
    assert!(matches!(err, BackupError::Legacy { .. }), "{err:?}");
    assert!(
        err.to_string().contains("the store looks unencrypted"),
        "{err}"
    );
}

#[test]
fn a_name_for_a_base_id_that_was_not_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::new(dir.path(), fast_config(false)).unwrap();
    populate(&mut store);
    drop(store);
    let read = LegacyStore::open(dir.path(), &LegacyUnlock::Plaintext).unwrap();
    let mut options = MigrationOptions::default();
    options
        .names
        .insert([9; 16], KeyName::new("payments").unwrap());
    let err = to_bundles(&read.keys, &options).unwrap_err();
    assert!(matches!(err, BackupError::Legacy { .. }), "{err:?}");
    assert!(err.to_string().contains("09090909"), "{err}");
    assert!(err.to_string().contains("payments"), "{err}");
    let target = vault();
    assert!(matches!(
        migrate(&target, &read.keys, &options),
        Err(BackupError::Legacy { .. })
    ));
    assert!(
        target
            .list_keys(&keyvault_store::KeyFilter::default())
            .unwrap()
            .is_empty(),
        "nothing was migrated"
    );
}
