//! Export, import, snapshot and restore: what keyvault-backup builds on.

use keyvault_core::{KeyAlgorithm, KeyVersion, Transition};
use keyvault_crypto::Argon2Params;
use keyvault_store::dangerous::{self, ImportConflict, VaultSnapshot};
use keyvault_store::{
    FileVault, MemoryBackend, MemoryVault, NewKey, StoreError, Vault, VaultOptions,
};
use keyvault_test_support::fixtures::name;

fn options() -> VaultOptions {
    VaultOptions {
        argon2: Argon2Params::MINIMUM,
        ..VaultOptions::default()
    }
}

fn exportable(text: &str) -> NewKey {
    let mut spec = NewKey::new(name(text), KeyAlgorithm::default());
    spec.exportable = true;
    spec.policy = spec.policy.also_allow(keyvault_core::KeyOperation::Export);
    spec
}

#[test]
fn export_then_import_moves_a_key_between_vaults() {
    let source = MemoryVault::in_memory(b"a", options()).unwrap();
    let target = MemoryVault::in_memory(b"b", options()).unwrap();
    source.create_key(exportable("moving")).unwrap();
    source.rotate(&name("moving")).unwrap();
    let old = source.encrypt(&name("moving"), b"secret", b"ctx").unwrap();

    let bundle = source
        .dangerous()
        .export_key(&name("moving"), None)
        .unwrap();
    assert_eq!(bundle.versions.len(), 2);
    assert!(
        !format!("{bundle:?}").contains("SecretKey(["),
        "no material in Debug"
    );
    let imported = target
        .dangerous()
        .import_key(bundle, ImportConflict::Refuse)
        .unwrap();
    assert_eq!(imported.latest_version().get(), 2);
    assert_eq!(&target.decrypt(&old, b"ctx").unwrap()[..], b"secret");

    // Importing again is refused by default, allowed under another name only for another id.
    let again = source
        .dangerous()
        .export_key(&name("moving"), Some(&[KeyVersion::new(2).unwrap()]))
        .unwrap();
    assert!(matches!(
        target.dangerous().import_key(again, ImportConflict::Refuse),
        Err(StoreError::NameTaken(_))
    ));
    let replace = source
        .dangerous()
        .export_key(&name("moving"), None)
        .unwrap();
    target
        .dangerous()
        .import_key(replace, ImportConflict::Replace)
        .unwrap();
    target.verify_audit().unwrap();
    source.verify_audit().unwrap();
}

#[test]
fn a_non_exportable_key_refuses_export() {
    let vault = MemoryVault::in_memory(b"a", options()).unwrap();
    vault
        .create_key(NewKey::new(name("sealed-in"), KeyAlgorithm::default()))
        .unwrap();
    let err = vault
        .dangerous()
        .export_key(&name("sealed-in"), None)
        .unwrap_err();
    assert_eq!(err.kind(), keyvault_core::ErrorKind::Denied, "{err}");
    vault.create_key(exportable("was-exportable")).unwrap();
    vault.disallow_export(&name("was-exportable")).unwrap();
    let err = vault
        .dangerous()
        .export_key(&name("was-exportable"), None)
        .unwrap_err();
    assert_eq!(err.kind(), keyvault_core::ErrorKind::Denied, "{err}");
}

#[test]
fn full_and_incremental_snapshots_restore_the_same_vault() {
    let vault = MemoryVault::in_memory(b"pw", options()).unwrap();
    vault
        .create_key(NewKey::new(name("one"), KeyAlgorithm::default()))
        .unwrap();
    let first = vault.encrypt(&name("one"), b"first", b"").unwrap();
    let full = vault.dangerous().snapshot(None, true).unwrap();

    vault.rotate(&name("one")).unwrap();
    vault
        .create_key(NewKey::new(name("two"), KeyAlgorithm::Aes256Gcm))
        .unwrap();
    let second = vault.encrypt(&name("two"), b"second", b"").unwrap();
    let incremental = vault
        .dangerous()
        .snapshot(Some(full.as_base()), true)
        .unwrap();
    assert_eq!(
        incremental.keys().len(),
        2,
        "both keys changed since the base"
    );

    let restored = dangerous::restore(
        MemoryBackend::new(),
        &[full, incremental],
        b"new",
        options(),
    )
    .unwrap();
    assert_eq!(&restored.decrypt(&first, b"").unwrap()[..], b"first");
    assert_eq!(&restored.decrypt(&second, b"").unwrap()[..], b"second");
    assert_eq!(
        restored.key(&name("one")).unwrap(),
        vault.key(&name("one")).unwrap()
    );
    restored.verify_audit().unwrap();
}

#[test]
fn a_broken_or_foreign_chain_is_refused() {
    let vault = MemoryVault::in_memory(b"pw", options()).unwrap();
    let other = MemoryVault::in_memory(b"pw", options()).unwrap();
    let full = vault.dangerous().snapshot(None, true).unwrap();
    let inc1 = vault
        .dangerous()
        .snapshot(Some(full.as_base()), true)
        .unwrap();
    let inc2 = vault
        .dangerous()
        .snapshot(Some(inc1.as_base()), true)
        .unwrap();
    let foreign = other.dangerous().snapshot(None, true).unwrap();
    let foreign_inc = other
        .dangerous()
        .snapshot(Some(foreign.as_base()), true)
        .unwrap();
    let restore =
        |chain: &[VaultSnapshot]| dangerous::restore(MemoryBackend::new(), chain, b"x", options());
    let broken = |what: &str, result: Result<MemoryVault, StoreError>| match result {
        Err(StoreError::BrokenChain { .. }) => {}
        other => panic!("{what}: {other:?}"),
    };
    broken("empty", restore(&[]));
    broken("incremental first", restore(&[inc1]));
    let full = vault.dangerous().snapshot(None, true).unwrap();
    broken("gap in the chain", restore(&[full, inc2]));
    let full = vault.dangerous().snapshot(None, true).unwrap();
    broken("foreign incremental", restore(&[full, foreign_inc]));
}

#[test]
fn restore_file_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = FileVault::create(dir.path().join("source.db"), b"pw", options()).unwrap();
    source
        .create_key(NewKey::new(name("kept"), KeyAlgorithm::default()))
        .unwrap();
    source
        .transition(&name("kept"), Transition::Revoke)
        .unwrap();
    let snapshot = source.dangerous().snapshot(None, false).unwrap();
    let target = dir.path().join("restored.db");
    let restored = dangerous::restore_file(&target, &[snapshot], b"new", options()).unwrap();
    assert_eq!(
        restored.key(&name("kept")).unwrap().state(),
        keyvault_core::KeyState::Revoked
    );
    restored.verify_audit().unwrap();
    drop(restored);
    assert!(
        matches!(
            FileVault::open_file(&target, b"pw", options()),
            Err(StoreError::WrongPassword)
        ),
        "old password does not open it"
    );
    FileVault::open_file(&target, b"new", options()).unwrap();

    // Restoring over an existing file is refused and leaves it alone.
    let snapshot = source.dangerous().snapshot(None, true).unwrap();
    assert!(matches!(
        dangerous::restore_file(&target, &[snapshot], b"x", options()),
        Err(StoreError::AlreadyExists(_))
    ));
    // A broken chain leaves no file behind.
    let missing = dir.path().join("never.db");
    let inc = source
        .dangerous()
        .snapshot(
            Some(source.dangerous().snapshot(None, true).unwrap().as_base()),
            true,
        )
        .unwrap();
    assert!(matches!(
        dangerous::restore_file(&missing, &[inc], b"x", options()),
        Err(StoreError::BrokenChain { .. })
    ));
    assert!(!missing.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".keyvault-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn usage_limit_reached(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::Core(keyvault_core::Error::Denied {
            denial: keyvault_core::Denial::UsageLimitReached { .. },
            ..
        })
    )
}

/// Export is a use like any other: it is refused once `max_operations` is spent, and it spends
/// one operation itself. Regression: export was authorised against zero counters and not
/// counted.
#[test]
fn export_is_authorised_against_and_counted_in_the_usage_limit() {
    let vault = MemoryVault::in_memory(b"a", options()).unwrap();
    let mut spec = exportable("limited");
    spec.policy.max_operations = Some(2);
    vault.create_key(spec).unwrap();
    vault
        .dangerous()
        .export_key(&name("limited"), None)
        .unwrap();
    vault.encrypt(&name("limited"), b"one", b"").unwrap();
    let err = vault.encrypt(&name("limited"), b"two", b"").unwrap_err();
    assert!(usage_limit_reached(&err), "{err:?}");
    let err = vault
        .dangerous()
        .export_key(&name("limited"), None)
        .unwrap_err();
    assert!(usage_limit_reached(&err), "{err:?}");

    let mut spec = exportable("spent");
    spec.policy.max_operations = Some(1);
    vault.create_key(spec).unwrap();
    vault.encrypt(&name("spent"), b"one", b"").unwrap();
    let err = vault
        .dangerous()
        .export_key(&name("spent"), None)
        .unwrap_err();
    assert!(usage_limit_reached(&err), "{err:?}");
}

/// A vault restored from a snapshot continues its commit numbering, so an incremental snapshot
/// of the restored vault against that snapshot holds every change made since; a base newer than
/// the vault is refused, and so is the snapshot it was restored from (another lineage).
/// Regression: the restored vault counted from 3 again, and an incremental against the full
/// snapshot (taken at a higher number) silently held nothing.
#[test]
fn an_incremental_after_a_restore_holds_every_change() {
    let source = MemoryVault::in_memory(b"a", options()).unwrap();
    for i in 0..6 {
        let key = name(&format!("k{i}"));
        source.create_key(exportable(key.as_str())).unwrap();
        source.rotate(&key).unwrap();
    }
    let source_full = source.dangerous().snapshot(None, true).unwrap();
    let restored = dangerous::restore(
        MemoryBackend::new(),
        std::slice::from_ref(&source_full),
        b"b",
        options(),
    )
    .unwrap();
    // The restored vault is a history of its own: the snapshot it came from is not a base.
    let err = restored
        .dangerous()
        .snapshot(Some(source_full.as_base()), false)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BrokenChain { reason } if reason.contains("another history")),
        "{err:?}"
    );
    let full = restored.dangerous().snapshot(None, true).unwrap();
    assert_ne!(full.lineage(), source_full.lineage());
    assert!(
        full.sequence() > 13,
        "the restored vault continues the numbering"
    );
    restored.create_key(exportable("after")).unwrap();
    restored.rotate(&name("k0")).unwrap();
    let incremental = restored
        .dangerous()
        .snapshot(Some(full.as_base()), true)
        .unwrap();
    let mut changed: Vec<String> = incremental
        .keys()
        .iter()
        .map(|bundle| bundle.metadata.name().to_string())
        .collect();
    changed.sort();
    assert_eq!(changed, ["after", "k0"]);

    // A fresh vault, whose numbering is far behind the base, refuses to follow it.
    let fresh = MemoryVault::in_memory(b"c", options()).unwrap();
    let err = fresh
        .dangerous()
        .snapshot(Some(full.as_base()), false)
        .unwrap_err();
    assert_eq!(err.kind(), keyvault_core::ErrorKind::Integrity, "{err}");
    // Nor does it follow a base of its own lineage from a future it has not reached.
    let mut ahead = fresh.dangerous().snapshot(None, false).unwrap().as_base();
    ahead.sequence += 100;
    assert!(matches!(
        fresh.dangerous().snapshot(Some(ahead), false),
        Err(StoreError::BrokenChain { .. })
    ));

    // Numbers never go back, and only an empty store takes a starting number.
    let used = MemoryBackend::new();
    let vault = Vault::init(used, b"d", options()).unwrap();
    assert!(matches!(
        keyvault_store::Backend::continue_sequence(vault.dangerous().backend(), 1_000),
        Err(StoreError::InvalidBatch(_))
    ));
}

/// `derive` refuses a length of 0 or above 8160 before it counts a use: a limited key keeps its
/// whole budget. Regression: the use was counted (and the buffer allocated) first.
#[test]
fn derive_checks_its_length_before_counting_a_use() {
    let vault = MemoryVault::in_memory(b"a", options()).unwrap();
    let mut spec = NewKey::new(name("mac"), KeyAlgorithm::HmacSha256);
    spec.policy.max_operations = Some(1);
    vault.create_key(spec).unwrap();
    for length in [0, 8161, usize::MAX] {
        let err = vault.derive(&name("mac"), b"ctx", length).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Crypto(keyvault_crypto::CryptoError::LengthOutOfRange { .. })
            ),
            "{length}: {err:?}"
        );
    }
    let (_, out) = vault.derive(&name("mac"), b"ctx", 8160).unwrap();
    assert_eq!(out.len(), 8160);
}
