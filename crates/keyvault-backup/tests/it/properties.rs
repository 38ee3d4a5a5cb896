//! Property tests over random vaults — keys of every algorithm, rotated, in random states, with
//! random policies, labels and expiry, used or not, audit log included or not, compressed or
//! not: a full backup plus an incremental one restore to the same keys, versions, metadata,
//! policies and audit chain, and still decrypt what the source encrypted; export then import
//! preserves every key's metadata and material. Cases are bounded to keep the suite fast; the
//! number run is printed.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{T0, name};
use keyvault_backup::{
    BackupConfig, ExportOptions, ImportOptions, create_backup, create_incremental_backup,
    export_key, import_key, restore,
};
use keyvault_core::{
    KeyAlgorithm, KeyOperation, KeyPolicy, KeyVersion, Transition, VersionTransition,
};
use keyvault_crypto::Argon2Params;
use keyvault_store::{
    AuditCommit, AuditFilter, KeyFilter, MemoryBackend, MemoryVault, NewKey, VaultOptions,
};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

const FAST: Argon2Params = Argon2Params {
    memory_kib: 7168,
    iterations: 5,
    lanes: 1,
};
const CASES: u32 = 24;

fn options() -> VaultOptions {
    VaultOptions {
        argon2: FAST,
        audit_commit: AuditCommit::Synchronous,
        clock: std::sync::Arc::new(keyvault_store::ManualClock::new(T0)),
        ..VaultOptions::default()
    }
}

#[derive(Clone, Debug)]
struct KeySpec {
    algorithm: KeyAlgorithm,
    rotations: u8,
    state: u8,
    revoke_v1: bool,
    max_operations: Option<u64>,
    drop_decrypt: bool,
    exportable: bool,
    expires: bool,
    label: Option<String>,
    uses: u8,
}

fn key_spec() -> impl Strategy<Value = KeySpec> {
    (
        prop::sample::select(KeyAlgorithm::ALL.to_vec()),
        0u8..3,
        0u8..6,
        any::<bool>(),
        prop::option::of(1u64..1000),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of("[a-z]{1,8}"),
        0u8..3,
    )
        .prop_map(
            |(
                algorithm,
                rotations,
                state,
                revoke_v1,
                max_operations,
                drop_decrypt,
                exportable,
                expires,
                label,
                uses,
            )| KeySpec {
                algorithm,
                rotations,
                state,
                revoke_v1,
                max_operations,
                drop_decrypt,
                exportable,
                expires,
                label,
                uses,
            },
        )
}

fn create(vault: &MemoryVault, key: &str, spec: &KeySpec) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut new = NewKey::new(name(key), spec.algorithm);
    let mut policy = KeyPolicy::default();
    if let Some(max) = spec.max_operations {
        policy = policy.with_max_operations(max);
    }
    if spec.drop_decrypt {
        policy.allowed_operations.remove(&KeyOperation::Verify);
    }
    if spec.exportable {
        new.exportable = true;
        policy = policy.also_allow(KeyOperation::Export);
    }
    new.policy = policy;
    if spec.expires {
        new.expires_at = Some(T0.saturating_add(Duration::from_secs(86_400 * 365)));
    }
    if let Some(label) = &spec.label {
        new.labels.insert("team".to_owned(), label.clone());
    }
    new.pending = spec.state == 5;
    vault.create_key(new).unwrap();
    for _ in 0..spec.rotations {
        vault.rotate(&name(key)).unwrap();
    }
    let mut sealed = Vec::new();
    for i in 0..spec.uses {
        let aad = vec![i];
        if spec.algorithm.aead().is_some() {
            if let Ok(ciphertext) = vault.encrypt(&name(key), b"payload", &aad) {
                sealed.push((ciphertext, aad));
            }
        } else {
            let _ = vault.sign(&name(key), &aad);
        }
    }
    if spec.revoke_v1 && spec.rotations > 0 {
        vault
            .version_transition(&name(key), KeyVersion::FIRST, VersionTransition::Revoke)
            .unwrap();
        sealed.clear(); // some were sealed by version 1
    }
    let now = vault.options().clock.now();
    let transition = match spec.state {
        1 => Some(Transition::Disable),
        2 => Some(Transition::Deprecate),
        3 => Some(Transition::Revoke),
        4 => Some(Transition::ScheduleDeletion {
            until: now.saturating_add(Duration::from_secs(86_400 * 3)),
        }),
        _ => None,
    };
    if let Some(transition) = transition {
        if matches!(transition, Transition::ScheduleDeletion { .. }) {
            vault.transition(&name(key), Transition::Revoke).unwrap();
        }
        vault.transition(&name(key), transition).unwrap();
    }
    sealed
}

fn assert_same_vault(source: &MemoryVault, restored: &MemoryVault, audit: bool) {
    let keys = source.list_keys(&KeyFilter::default()).unwrap();
    assert_eq!(restored.list_keys(&KeyFilter::default()).unwrap(), keys);
    let source_log = source.audit_log(&AuditFilter::default()).unwrap();
    let restored_log = restored.audit_log(&AuditFilter::default()).unwrap();
    if audit {
        // The restored log is the source's as of the last backup, plus the restore event.
        let kept = restored_log.len() - 1;
        assert!(kept > 0);
        assert_eq!(&restored_log[..kept], &source_log[..kept]);
    } else {
        assert_eq!(restored_log.len(), 1, "a fresh chain holding the restore");
    }
    restored.verify_audit().unwrap();
}

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

#[test]
fn backup_then_restore_gives_the_same_vault() {
    let strategy = (
        prop::collection::vec(key_spec(), 1..4),
        prop::collection::vec(key_spec(), 0..3),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    let cases = AtomicUsize::new(0);
    let keys = AtomicUsize::new(0);
    runner()
        .run(
            &strategy,
            |(first, later, rotate_after, audit, compress)| {
                let source = MemoryVault::in_memory(b"source", options()).unwrap();
                let mut sealed = Vec::new();
                for (i, spec) in first.iter().enumerate() {
                    sealed.extend(create(&source, &format!("k{i}"), spec));
                }
                let mut config = BackupConfig::new(b"backup pw".to_vec());
                config.argon2 = FAST;
                config.include_audit_logs = audit;
                config.compress = compress;
                let full = create_backup(&source, &config).unwrap();
                for (i, spec) in later.iter().enumerate() {
                    sealed.extend(create(&source, &format!("later{i}"), spec));
                }
                if rotate_after {
                    let _ = source.rotate(&name("k0"));
                }
                let inc = create_incremental_backup(&source, &full, &config).unwrap();
                let restored = restore(
                    MemoryBackend::new(),
                    &[full, inc],
                    b"backup pw",
                    b"restored",
                    options(),
                )
                .unwrap();
                assert_same_vault(&source, &restored, audit);
                for (ciphertext, aad) in &sealed {
                    // Whatever the source still decrypts, the restored vault decrypts the same way.
                    let before = source.decrypt(ciphertext, aad).map(|p| p.to_vec()).ok();
                    let after = restored.decrypt(ciphertext, aad).map(|p| p.to_vec()).ok();
                    prop_assert_eq!(before, after);
                }
                cases.fetch_add(1, Ordering::Relaxed);
                keys.fetch_add(first.len() + later.len(), Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
    println!(
        "backup round trips: {} random vaults ({} keys) backed up (full + incremental) and restored identically",
        cases.into_inner(),
        keys.into_inner()
    );
}

#[test]
fn export_then_import_preserves_every_key() {
    let cases = AtomicUsize::new(0);
    let exported_keys = AtomicUsize::new(0);
    runner()
        .run(&prop::collection::vec(key_spec(), 1..4), |specs| {
            let source = MemoryVault::in_memory(b"source", options()).unwrap();
            for (i, spec) in specs.iter().enumerate() {
                let mut spec = spec.clone();
                spec.exportable = true;
                if spec.state == 3 || spec.state == 4 {
                    spec.state = 2; // revoked keys refuse every use, export included
                }
                create(&source, &format!("k{i}"), &spec);
            }
            let target = MemoryVault::in_memory(b"target", options()).unwrap();
            let export_options = ExportOptions {
                argon2: FAST,
                ..ExportOptions::default()
            };
            for key in source.list_keys(&KeyFilter::default()).unwrap() {
                let Ok(exported) = export_key(&source, key.name(), b"pw", &export_options) else {
                    // The store's rules refused export (a pending or disabled key, say).
                    continue;
                };
                let binary =
                    keyvault_backup::ExportedKey::from_bytes(&exported.to_bytes()).unwrap();
                let imported =
                    import_key(&target, &binary, b"pw", &ImportOptions::default()).unwrap();
                prop_assert_eq!(&imported, &source.key(key.name()).unwrap());
                let from_source = source.dangerous().export_key(key.name(), None).unwrap();
                let from_target = target.dangerous().export_key(key.name(), None).unwrap();
                prop_assert_eq!(
                    from_source.versions.keys().collect::<Vec<_>>(),
                    from_target.versions.keys().collect::<Vec<_>>()
                );
                for (a, b) in from_source
                    .versions
                    .values()
                    .zip(from_target.versions.values())
                {
                    prop_assert!(a == b, "material differs");
                }
                exported_keys.fetch_add(1, Ordering::Relaxed);
            }
            target.verify_audit().unwrap();
            cases.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    println!(
        "export round trips: {} random vaults, {} keys exported (binary) and imported with identical metadata and material",
        cases.into_inner(),
        exported_keys.into_inner()
    );
}
