//! Golden files, kept forever: an export of format 1 in JSON and in binary, and a full backup and
//! an incremental backup following it, of format 2. They were generated once from the fixed
//! inputs below (`KEYVAULT_REGENERATE_GOLDEN=1 cargo test -p keyvault-backup --test it golden:: --
//! --ignored` writes the files of the current format versions that do not exist yet, which only
//! a new format version needs); these tests check that this release still decodes,
//! authenticates, re-encodes and restores them exactly. The backups of format 1 (before lineage
//! ids) are kept to show that they are refused clearly.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{CHEAP, T0, backup_config, name};
use keyvault_backup::{
    BACKUP_FORMAT_VERSION, BackupError, ExportedKey, ImportConflict, ImportOptions, VaultBackup,
    create_backup, create_incremental_backup, import_key, restore, verify_chain,
};
use keyvault_core::{KeyAlgorithm, KeyId, KeyMetadata, KeyOperation, KeyPolicy, KeyVersion};
use keyvault_crypto::SecretKey;
use keyvault_store::dangerous::KeyBundle;
use keyvault_store::{
    AuditCommit, KeyFilter, ManualClock, MemoryBackend, MemoryVault, VaultOptions,
};

const PASSWORD: &[u8] = b"keyvault golden password v1";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn material(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + u8::try_from(i).unwrap())
}

/// The key the export carries and the full backup holds: id a0..af, versions 1 and 2 with
/// material 00..1f and 20..3f.
fn golden_metadata() -> KeyMetadata {
    let mut metadata = KeyMetadata::new(
        KeyId::from_bytes(std::array::from_fn(|i| 0xa0 + u8::try_from(i).unwrap())),
        name("golden"),
        KeyAlgorithm::XChaCha20Poly1305,
        T0,
    )
    .with_export_allowed()
    .with_policy(
        KeyPolicy::default()
            .also_allow(KeyOperation::Export)
            .with_max_operations(1_000_000),
    )
    .with_label("env", "golden")
    .unwrap()
    .with_description("keyvault golden export v1")
    .unwrap();
    metadata
        .rotate(T0.saturating_add(Duration::from_secs(1)))
        .unwrap();
    metadata
}

fn golden_bundle() -> KeyBundle {
    KeyBundle {
        metadata: golden_metadata(),
        versions: BTreeMap::from([
            (
                KeyVersion::new(1).unwrap(),
                SecretKey::from_array(&material(0x00)),
            ),
            (
                KeyVersion::new(2).unwrap(),
                SecretKey::from_array(&material(0x20)),
            ),
        ]),
    }
}

/// The key only the incremental backup holds: id b0..bf, HMAC-SHA256, material 40..5f.
fn second_bundle() -> KeyBundle {
    let metadata = KeyMetadata::new(
        KeyId::from_bytes(std::array::from_fn(|i| 0xb0 + u8::try_from(i).unwrap())),
        name("golden-two"),
        KeyAlgorithm::HmacSha256,
        T0,
    )
    .with_export_allowed()
    .with_policy(KeyPolicy::default().also_allow(KeyOperation::Export));
    KeyBundle {
        metadata,
        versions: BTreeMap::from([(KeyVersion::FIRST, SecretKey::from_array(&material(0x40)))]),
    }
}

fn options() -> VaultOptions {
    VaultOptions {
        argon2: CHEAP,
        audit_commit: AuditCommit::Synchronous,
        clock: Arc::new(ManualClock::new(T0)),
        actor: "golden".to_owned(),
        ..VaultOptions::default()
    }
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap()
}

/// Write `bytes` to the golden file `file` unless it exists: golden files never change.
fn write_new(file: &str, bytes: &[u8]) {
    let path = dir().join(file);
    if !path.exists() {
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
#[ignore = "writes the golden files; run only for a new format version"]
fn regenerate_golden_files() {
    if std::env::var_os("KEYVAULT_REGENERATE_GOLDEN").is_none() {
        return;
    }
    std::fs::create_dir_all(dir()).unwrap();
    let exported = ExportedKey::seal(
        &golden_bundle(),
        PASSWORD,
        &CHEAP,
        Some("golden export".to_owned()),
        T0.saturating_add(Duration::from_secs(2)),
    )
    .unwrap();
    let export = exported.format_version();
    write_new(
        &format!("export_v{export}.json"),
        exported.to_json().as_bytes(),
    );
    write_new(&format!("export_v{export}.bin"), &exported.to_bytes());

    let vault = MemoryVault::in_memory(b"golden vault", options()).unwrap();
    vault
        .dangerous()
        .import_key(golden_bundle(), ImportConflict::Refuse)
        .unwrap();
    let mut config = backup_config(PASSWORD);
    config.comment = Some("golden full".to_owned());
    let full = create_backup(&vault, &config).unwrap();
    vault
        .dangerous()
        .import_key(second_bundle(), ImportConflict::Refuse)
        .unwrap();
    config.comment = Some("golden incremental".to_owned());
    let incremental = create_incremental_backup(&vault, &full, &config).unwrap();
    let backup = BACKUP_FORMAT_VERSION;
    write_new(&format!("backup_full_v{backup}.kvbk"), full.as_bytes());
    write_new(
        &format!("backup_incremental_v{backup}.kvbk"),
        incremental.as_bytes(),
    );
}

#[test]
fn export_v1_json_and_binary_still_open() {
    let json = String::from_utf8(read("export_v1.json")).unwrap();
    let binary = read("export_v1.bin");
    let from_json = ExportedKey::from_json(&json).unwrap();
    let from_binary = ExportedKey::from_bytes(&binary).unwrap();
    assert_eq!(from_json, from_binary, "two encodings of one structure");
    assert_eq!(from_json.to_json(), json, "re-encodes to the same bytes");
    assert_eq!(from_binary.to_bytes(), binary);
    assert_eq!(from_json.format_version(), 1);
    assert_eq!(from_json.comment(), Some("golden export"));
    assert_eq!(
        from_json.exported_at(),
        T0.saturating_add(Duration::from_secs(2))
    );
    assert_eq!(from_json.argon2_params(), CHEAP);
    for file in [&from_json, &from_binary] {
        let bundle = file.open(PASSWORD).unwrap();
        assert_eq!(bundle.metadata, golden_metadata());
        let expected = golden_bundle();
        assert_eq!(bundle.versions.len(), 2);
        for (version, secret) in &expected.versions {
            assert!(bundle.versions[version] == *secret, "material of {version}");
        }
        assert!(matches!(
            file.open(b"not the password"),
            Err(BackupError::WrongPassword { .. })
        ));
    }
    let vault = MemoryVault::in_memory(b"v", options()).unwrap();
    let imported = import_key(&vault, &from_binary, PASSWORD, &ImportOptions::default()).unwrap();
    assert_eq!(imported, golden_metadata());
}

#[test]
fn backup_v1_files_are_refused_as_unsupported() {
    for file in ["backup_full_v1.kvbk", "backup_incremental_v1.kvbk"] {
        match VaultBackup::from_bytes(read(file)) {
            Err(BackupError::UnsupportedVersion {
                version: 1,
                supported: 2,
                ..
            }) => {}
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn backup_v2_full_and_incremental_still_restore() {
    let full = VaultBackup::from_bytes(read("backup_full_v2.kvbk")).unwrap();
    let incremental = VaultBackup::from_bytes(read("backup_incremental_v2.kvbk")).unwrap();
    assert_eq!(full.metadata().format_version, 2);
    assert_eq!(full.metadata().lineage, incremental.metadata().lineage);
    assert_eq!(full.metadata().comment.as_deref(), Some("golden full"));
    assert_eq!(full.metadata().key_count, 1);
    assert_eq!(full.metadata().created_at, T0);
    assert!(full.metadata().compressed && full.metadata().has_audit_logs);
    assert_eq!(incremental.base_id(), Some(full.backup_id()));
    assert_eq!(incremental.metadata().key_count, 1);

    let report = verify_chain(&[full.clone(), incremental.clone()], PASSWORD).unwrap();
    assert_eq!(report.keys, 2);
    assert_eq!(
        report.backups[1].comment.as_deref(),
        Some("golden incremental")
    );

    let restored = restore(
        MemoryBackend::new(),
        &[full, incremental],
        PASSWORD,
        b"restored",
        options(),
    )
    .unwrap();
    assert_eq!(restored.list_keys(&KeyFilter::default()).unwrap().len(), 2);
    assert_eq!(restored.key(&name("golden")).unwrap(), golden_metadata());
    for (bundle, key) in [(golden_bundle(), "golden"), (second_bundle(), "golden-two")] {
        let out = restored.dangerous().export_key(&name(key), None).unwrap();
        assert_eq!(out.versions.len(), bundle.versions.len());
        for (version, secret) in &bundle.versions {
            assert!(out.versions[version] == *secret, "{key} {version}");
        }
    }
    restored.verify_audit().unwrap();
}
