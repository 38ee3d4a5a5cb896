//! Export, import, backup, restore and verify, each beside one Argon2id derivation at the same
//! (default) parameters in the same run: every one of these costs one password derivation, so
//! the ratio shows what the format itself adds. Backups hold 1,000 keys.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // benchmark code: a failure should abort the run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keyvault_backup::{
    BackupConfig, ExportOptions, ImportConflict, ImportOptions, VaultBackup, create_backup,
    export_key, import_key, restore, verify_backup,
};
use keyvault_core::{KeyAlgorithm, KeyName, KeyOperation, KeyPolicy};
use keyvault_crypto::Argon2Params;
use keyvault_crypto::password::derive_key;
use keyvault_store::{MemoryBackend, MemoryVault, NewKey, VaultOptions};

const KEYS: usize = 1_000;
const PASSWORD: &[u8] = b"backup password";

/// The vaults themselves use the cheapest accepted Argon2id, so that only the file's own
/// derivation (at the default cost) is in each measurement.
fn vault_options() -> VaultOptions {
    VaultOptions {
        argon2: Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            lanes: 1,
        },
        ..VaultOptions::default()
    }
}

fn source_vault() -> MemoryVault {
    let vault = MemoryVault::in_memory(b"vault", vault_options()).unwrap();
    for i in 0..KEYS {
        let mut spec = NewKey::new(
            KeyName::new(format!("key-{i:04}")).unwrap(),
            KeyAlgorithm::default(),
        );
        spec.exportable = true;
        spec.policy = KeyPolicy::default().also_allow(KeyOperation::Export);
        vault.create_key(spec).unwrap();
    }
    vault
}

fn portable(c: &mut Criterion) {
    let vault = source_vault();
    let name = KeyName::new("key-0000").unwrap();
    let salt = [3u8; 16];
    let mut group = c.benchmark_group("backup");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("argon2id-default", |b| {
        b.iter(|| black_box(derive_key(PASSWORD, &salt, &Argon2Params::DEFAULT).unwrap()));
    });

    let export_options = ExportOptions::default();
    group.bench_function("export-key", |b| {
        b.iter(|| black_box(export_key(&vault, &name, PASSWORD, &export_options).unwrap()));
    });
    let exported = export_key(&vault, &name, PASSWORD, &export_options).unwrap();
    let replace = ImportOptions {
        conflict: ImportConflict::Replace,
        ..ImportOptions::default()
    };
    group.bench_function("import-key", |b| {
        b.iter(|| black_box(import_key(&vault, &exported, PASSWORD, &replace).unwrap()));
    });

    let config = BackupConfig::new(PASSWORD.to_vec());
    group.bench_function("create-1000-keys", |b| {
        b.iter(|| black_box(create_backup(&vault, &config).unwrap()));
    });
    let bytes = create_backup(&vault, &config).unwrap().as_bytes().to_vec();
    group.bench_function("verify-1000-keys", |b| {
        b.iter(|| {
            let file = VaultBackup::from_bytes(bytes.clone()).unwrap();
            black_box(verify_backup(&file, PASSWORD).unwrap())
        });
    });
    group.bench_function("restore-1000-keys", |b| {
        b.iter(|| {
            let file = VaultBackup::from_bytes(bytes.clone()).unwrap();
            black_box(
                restore(
                    MemoryBackend::new(),
                    &[file],
                    PASSWORD,
                    b"new",
                    vault_options(),
                )
                .unwrap(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, portable);
criterion_main!(benches);
