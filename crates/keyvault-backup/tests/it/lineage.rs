//! Incremental backups across a restore: a restored vault starts a history of its own (a new
//! lineage), so an incremental backup can only follow a base of the same history, and no chain
//! that mixes histories is accepted by create, verify or restore.

use crate::common;

use std::collections::BTreeSet;

use common::{backup_config, name, options, vault};
use keyvault_backup::{
    BackupError, VaultBackup, create_backup, create_incremental_backup, open_chain, restore,
    verify_backup, verify_chain,
};
use keyvault_core::KeyAlgorithm;
use keyvault_store::dangerous::{KeyBundle, VaultSnapshot};
use keyvault_store::{KeyFilter, MemoryBackend, MemoryVault, NewKey, StoreError};

const PW: &[u8] = b"backup password";

fn create(vault: &MemoryVault, key: &str) {
    vault
        .create_key(NewKey::new(name(key), KeyAlgorithm::default()))
        .unwrap();
}

fn names(snapshot_keys: &[KeyBundle]) -> BTreeSet<String> {
    snapshot_keys
        .iter()
        .map(|bundle| bundle.metadata.name().to_string())
        .collect()
}

fn restored(chain: &[VaultBackup]) -> MemoryVault {
    restore(MemoryBackend::new(), chain, PW, b"restored", options()).unwrap()
}

fn assert_broken<T: std::fmt::Debug>(what: &str, result: Result<T, BackupError>) {
    match result {
        Err(
            BackupError::BrokenChain { .. } | BackupError::Store(StoreError::BrokenChain { .. }),
        ) => {}
        other => panic!("{what}: {other:?}"),
    }
}

/// The reproduction: full backup F1, restore it, change the restored vault, then an incremental
/// against F1. Before lineage ids it held "0 keys" and the chain restored without the changes.
#[test]
fn an_incremental_against_a_base_from_before_a_restore_is_refused() {
    let original = vault();
    create(&original, "one");
    create(&original, "two");
    for _ in 0..5 {
        original.rotate(&name("two")).unwrap();
    }
    let config = backup_config(PW);
    let f1 = create_backup(&original, &config).unwrap();

    let copy = restored(std::slice::from_ref(&f1));
    create(&copy, "three");
    copy.rotate(&name("one")).unwrap();
    assert_broken(
        "incremental of the restored vault against the original's full backup",
        create_incremental_backup(&copy, &f1, &config),
    );

    // A full backup of the restored vault is a base its incremental backups can follow, and
    // they carry exactly what changed after it.
    let f2 = create_backup(&copy, &config).unwrap();
    create(&copy, "four");
    copy.rotate(&name("two")).unwrap();
    let i2 = create_incremental_backup(&copy, &f2, &config).unwrap();
    let chain = open_chain(&[f2.clone(), i2.clone()], PW).unwrap();
    assert_eq!(
        names(chain[1].keys()),
        BTreeSet::from(["four".to_owned(), "two".to_owned()])
    );
    assert_eq!(chain[0].lineage(), chain[1].lineage());
    assert_eq!(f2.metadata().lineage, i2.metadata().lineage);
    assert_ne!(f1.metadata().lineage, f2.metadata().lineage);
    let again = restored(&[f2, i2]);
    assert_eq!(again.list_keys(&KeyFilter::default()).unwrap().len(), 4);
    assert_eq!(again.key(&name("one")).unwrap().latest_version().get(), 2);
    assert_eq!(again.key(&name("two")).unwrap().latest_version().get(), 7);

    // The original vault goes on with its own history: its incremental against F1 still works.
    create(&original, "five");
    let i1 = create_incremental_backup(&original, &f1, &config).unwrap();
    assert_eq!(
        names(open_chain(&[f1.clone(), i1.clone()], PW).unwrap()[1].keys()),
        BTreeSet::from(["five".to_owned()])
    );
    // The restored vault refuses it as a base as well.
    assert_broken(
        "incremental of the restored vault against the original's incremental",
        create_incremental_backup(&copy, &i1, &config),
    );
}

/// Every splice of two histories is refused alike by verify and restore, including one whose
/// links (backup ids) are right but whose lineage was changed by someone holding the password.
#[test]
fn chains_mixing_histories_are_refused_by_verify_and_restore() {
    let original = vault();
    create(&original, "one");
    let config = backup_config(PW);
    let f1 = create_backup(&original, &config).unwrap();
    create(&original, "two");
    let i1 = create_incremental_backup(&original, &f1, &config).unwrap();

    let copy = restored(std::slice::from_ref(&f1));
    create(&copy, "three");
    let f2 = create_backup(&copy, &config).unwrap();
    create(&copy, "four");
    let i2 = create_incremental_backup(&copy, &f2, &config).unwrap();

    // An incremental of the original, re-sealed with the restored vault's lineage and the
    // right base id: every link matches except the history.
    let mut moved = i1.open(PW).unwrap().into_parts();
    let restored_lineage = f2.open(PW).unwrap().lineage();
    moved.lineage = restored_lineage;
    let moved = VaultSnapshot::from_parts(moved);
    let forged_lineage = VaultBackup::seal(
        &moved,
        Some(f1.backup_id()),
        &config,
        i1.metadata().created_at,
    )
    .unwrap();
    // The same with the base's lineage changed too, so the snapshot follows a base position
    // that names the restored history.
    let mut both = i1.open(PW).unwrap().into_parts();
    both.lineage = restored_lineage;
    if let Some(base) = &mut both.base {
        base.lineage = restored_lineage;
    }
    let both = VaultSnapshot::from_parts(both);
    let forged_both = VaultBackup::seal(
        &both,
        Some(f1.backup_id()),
        &config,
        i1.metadata().created_at,
    )
    .unwrap();

    let splices: Vec<(&str, Vec<VaultBackup>)> = vec![
        (
            "restored vault's incremental on the original's full",
            vec![f1.clone(), i2.clone()],
        ),
        (
            "original's incremental on the restored vault's full",
            vec![f2.clone(), i1.clone()],
        ),
        ("forged lineage", vec![f1.clone(), forged_lineage.clone()]),
        (
            "forged lineage and base",
            vec![f1.clone(), forged_both.clone()],
        ),
        (
            "restored vault's chain reversed",
            vec![i2.clone(), f2.clone()],
        ),
        (
            "original's full, then both incrementals",
            vec![f1.clone(), i1.clone(), i2.clone()],
        ),
    ];
    for (what, chain) in &splices {
        assert_broken(what, verify_chain(chain, PW));
        assert_broken(
            what,
            restore(MemoryBackend::new(), chain, PW, b"new", options()),
        );
        let verified = verify_chain(chain, PW).unwrap_err();
        let restoring = restore(MemoryBackend::new(), chain, PW, b"new", options()).unwrap_err();
        assert_eq!(verified.to_string(), restoring.to_string(), "{what}");
    }
    // The store refuses the same splice given as snapshots, whoever decoded them.
    let snapshots = vec![f1.open(PW).unwrap(), forged_both.open(PW).unwrap()];
    match keyvault_store::dangerous::restore(MemoryBackend::new(), &snapshots, b"new", options()) {
        Err(StoreError::BrokenChain { reason }) => assert!(reason.contains("history"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The genuine chains still verify.
    verify_chain(&[f1.clone(), i1], PW).unwrap();
    verify_chain(&[f2, i2], PW).unwrap();
    verify_backup(&f1, PW).unwrap();
}

/// A vault put back to an older copy of itself keeps its lineage; an incremental against a
/// backup taken before it was put back is refused, since the base's audit head is no record of
/// the vault's log.
#[test]
fn a_base_from_a_history_the_vault_was_put_back_from_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let config = backup_config(PW);
    let vault = keyvault_store::FileVault::create(&path, b"pw", options()).unwrap();
    vault
        .create_key(NewKey::new(name("one"), KeyAlgorithm::default()))
        .unwrap();
    drop(vault);
    let older = dir.path().join("older.db");
    std::fs::copy(&path, &older).unwrap();
    let vault = keyvault_store::FileVault::open_file(&path, b"pw", options()).unwrap();
    for _ in 0..3 {
        vault.rotate(&name("one")).unwrap();
    }
    let base = create_backup(&vault, &config).unwrap();
    drop(vault);
    // Put the older copy back, then change it as far again, and further.
    std::fs::copy(&older, &path).unwrap();
    let vault = keyvault_store::FileVault::open_file(&path, b"pw", options()).unwrap();
    for _ in 0..8 {
        vault.rotate(&name("one")).unwrap();
    }
    assert_broken(
        "incremental against a backup of the history the vault was put back from",
        create_incremental_backup(&vault, &base, &config),
    );
}
