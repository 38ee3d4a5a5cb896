//! Full and incremental backups: restore into a new file (all-or-nothing), merge into an
//! existing vault, verify without restoring, broken and foreign chains, wrong passwords,
//! hostile headers and decompression bombs.

use crate::common;

use std::time::Duration;

use common::{backup_config, exportable, name, options, vault};
use keyvault_backup::{
    BackupError, MergePolicy, SkipReason, VaultBackup, create_backup, create_incremental_backup,
    merge_into, restore, restore_to_file, verify_backup, verify_chain,
};
use keyvault_core::{Denial, KeyAlgorithm, Transition};
use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::mac::hmac_sha256;
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{AeadKey, Algorithm, CryptoError};
use keyvault_store::{FileVault, KeyFilter, MemoryBackend, NewKey, StoreError};

const PW: &[u8] = b"backup password";

#[test]
fn full_and_incremental_backups_restore_into_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = FileVault::create(dir.path().join("source.db"), b"pw", options()).unwrap();
    source
        .create_key(NewKey::new(name("one"), KeyAlgorithm::default()))
        .unwrap();
    let first = source.encrypt(&name("one"), b"first", b"").unwrap();
    let mut config = backup_config(PW);
    config.comment = Some("nightly".to_owned());
    let full = create_backup(&source, &config).unwrap();
    assert_eq!(full.metadata().key_count, 1);
    assert!(full.metadata().compressed && full.metadata().has_audit_logs);
    assert_eq!(full.base_id(), None);

    source.rotate(&name("one")).unwrap();
    source
        .create_key(NewKey::new(name("two"), KeyAlgorithm::HmacSha256))
        .unwrap();
    source
        .transition(&name("one"), Transition::Deprecate)
        .unwrap();
    let second = source.encrypt(&name("one"), b"x", b"");
    assert!(
        matches!(
            second,
            Err(StoreError::Core(keyvault_core::Error::Denied {
                denial: Denial::KeyState { .. },
                ..
            }))
        ),
        "deprecated keys do not encrypt: {second:?}"
    );
    let inc1 = create_incremental_backup(&source, &full, &config).unwrap();
    assert_eq!(inc1.base_id(), Some(full.backup_id()));
    source
        .create_key(NewKey::new(name("three"), KeyAlgorithm::Aes256Gcm))
        .unwrap();
    let third = source.encrypt(&name("three"), b"third", b"aad").unwrap();
    let inc2 = create_incremental_backup(&source, &inc1, &config).unwrap();
    assert_eq!(inc2.metadata().key_count, 1, "only the changed key");

    // Through files, as a user would.
    let paths: Vec<_> = ["full", "inc1", "inc2"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.kvbk")))
        .collect();
    for (backup, path) in [&full, &inc1, &inc2].iter().zip(&paths) {
        backup.write_file(path).unwrap();
        let err = backup.write_file(path).unwrap_err();
        assert!(
            matches!(&err, BackupError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "never overwrites: {err:?}"
        );
    }
    let chain: Vec<_> = paths
        .iter()
        .map(|p| VaultBackup::read_file(p).unwrap())
        .collect();
    let report = verify_chain(&chain, PW).unwrap();
    assert_eq!(report.keys, 3);
    assert_eq!(report.backups[0].comment.as_deref(), Some("nightly"));
    assert_eq!(report.backups[0].key_count, 1);
    assert!(report.audit_records > 0);

    let target = dir.path().join("restored.db");
    let restored = restore_to_file(&target, &chain, PW, b"new", options()).unwrap();
    assert_eq!(&restored.decrypt(&first, b"").unwrap()[..], b"first");
    assert_eq!(&restored.decrypt(&third, b"aad").unwrap()[..], b"third");
    for key in ["one", "two", "three"] {
        assert_eq!(
            restored.key(&name(key)).unwrap(),
            source.key(&name(key)).unwrap()
        );
    }
    restored.verify_audit().unwrap();
    drop(restored);
    FileVault::open_file(&target, b"new", options()).unwrap();

    // An existing file is refused and left untouched.
    let before = std::fs::read(&target).unwrap();
    let err = restore_to_file(&target, &chain, PW, b"x", options()).unwrap_err();
    assert!(
        matches!(err, BackupError::Store(StoreError::AlreadyExists(_))),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), before);
}

#[test]
fn failed_restores_leave_no_vault() {
    let dir = tempfile::tempdir().unwrap();
    let source = vault();
    source
        .create_key(NewKey::new(name("k"), KeyAlgorithm::default()))
        .unwrap();
    let config = backup_config(PW);
    let full = create_backup(&source, &config).unwrap();
    let inc = create_incremental_backup(&source, &full, &config).unwrap();
    let mut damaged = inc.as_bytes().to_vec();
    let last = damaged.len() - 40;
    damaged[last] ^= 1;
    let damaged = VaultBackup::from_bytes(damaged).unwrap();
    let target = dir.path().join("never.db");
    let cases: Vec<(&str, Vec<VaultBackup>, &[u8])> = vec![
        ("empty chain", vec![], PW),
        ("incremental alone", vec![inc.clone()], PW),
        ("damaged link", vec![full.clone(), damaged], PW),
        ("wrong password", vec![full.clone(), inc.clone()], b"nope"),
        ("reordered", vec![inc.clone(), full.clone()], PW),
    ];
    for (what, chain, password) in cases {
        let err = restore_to_file(&target, &chain, password, b"new", options()).unwrap_err();
        match what {
            "damaged link" => assert!(matches!(err, BackupError::Tampered { .. }), "{err:?}"),
            "wrong password" => {
                assert!(matches!(err, BackupError::WrongPassword { .. }), "{err:?}")
            }
            _ => assert!(
                matches!(err, BackupError::BrokenChain { .. }),
                "{what}: {err:?}"
            ),
        }
        assert!(!target.exists(), "{what} left a vault behind");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn broken_and_foreign_chains_are_refused() {
    let a = vault();
    let b = vault();
    let config = backup_config(PW);
    let a_full = create_backup(&a, &config).unwrap();
    let a_inc1 = create_incremental_backup(&a, &a_full, &config).unwrap();
    let a_inc2 = create_incremental_backup(&a, &a_inc1, &config).unwrap();
    let b_full = create_backup(&b, &config).unwrap();
    let b_inc = create_incremental_backup(&b, &b_full, &config).unwrap();
    let broken = |chain: &[VaultBackup]| match verify_chain(chain, PW) {
        Err(BackupError::BrokenChain { .. }) => {}
        other => panic!("{other:?}"),
    };
    broken(&[]);
    broken(std::slice::from_ref(&a_inc1));
    broken(&[a_full.clone(), a_inc2.clone()]);
    broken(&[a_full.clone(), b_inc.clone()]);
    broken(&[b_full.clone(), a_inc1.clone()]);
    broken(&[a_full.clone(), a_inc2, a_inc1.clone()]);
    verify_chain(&[a_full.clone(), a_inc1.clone()], PW).unwrap();
    verify_chain(&[b_full, b_inc], PW).unwrap();

    // An incremental made from a forged base position (its header unauthenticated at creation)
    // never restores: the chain check sees it does not follow its base.
    let mut forged = a_full.as_bytes().to_vec();
    // sequence field: magic 4, version 4, flags 4, created 8, key count 8, data size 8.
    forged[36 + 7] ^= 1;
    let forged = VaultBackup::from_bytes(forged).unwrap();
    let orphan = create_incremental_backup(&a, &forged, &config).unwrap();
    assert!(matches!(
        verify_chain(&[a_full.clone(), orphan], PW),
        Err(BackupError::BrokenChain { .. })
    ));
}

#[test]
fn merge_into_an_existing_vault_follows_the_policy() {
    let source = vault();
    for key in ["shared", "only-in-backup"] {
        source
            .create_key(NewKey::new(name(key), KeyAlgorithm::default()))
            .unwrap();
    }
    source
        .create_key(exportable("destroyed", KeyAlgorithm::default()))
        .unwrap();
    let until = source
        .options()
        .clock
        .now()
        .saturating_add(Duration::from_secs(86_400 * 2));
    source
        .transition(&name("destroyed"), Transition::Revoke)
        .unwrap();
    source
        .transition(&name("destroyed"), Transition::ScheduleDeletion { until })
        .unwrap();
    let full = create_backup(&source, &backup_config(PW)).unwrap();

    // The target has its own "shared": a different key with the same name.
    let target = vault();
    target
        .create_key(NewKey::new(name("shared"), KeyAlgorithm::default()))
        .unwrap();
    let err = merge_into(
        &target,
        std::slice::from_ref(&full),
        PW,
        MergePolicy::Refuse,
    )
    .unwrap_err();
    assert!(
        matches!(err, BackupError::Conflict { ref names } if names == &["shared"]),
        "{err}"
    );
    assert!(
        matches!(
            target.key(&name("only-in-backup")),
            Err(StoreError::KeyNotFound(_))
        ),
        "refuse imports nothing"
    );

    let report = merge_into(&target, std::slice::from_ref(&full), PW, MergePolicy::Skip).unwrap();
    assert_eq!(report.skipped, vec![(name("shared"), SkipReason::Conflict)]);
    assert!(report.imported.contains(&name("only-in-backup")));
    assert!(
        report.imported.contains(&name("destroyed")),
        "pending deletion still has material"
    );
    target.verify_audit().unwrap();

    // Replace only ever replaces the same key, and never with an older copy.
    let report = merge_into(
        &target,
        std::slice::from_ref(&full),
        PW,
        MergePolicy::Replace,
    )
    .unwrap();
    assert!(
        report
            .skipped
            .contains(&(name("shared"), SkipReason::NameTakenByAnotherKey))
    );
    assert!(report.replaced.contains(&name("only-in-backup")));
    target.rotate(&name("only-in-backup")).unwrap();
    let report = merge_into(
        &target,
        std::slice::from_ref(&full),
        PW,
        MergePolicy::Replace,
    )
    .unwrap();
    assert!(
        report
            .skipped
            .contains(&(name("only-in-backup"), SkipReason::NewerInVault))
    );
    assert_eq!(
        target
            .key(&name("only-in-backup"))
            .unwrap()
            .latest_version()
            .get(),
        2
    );
}

#[test]
fn verify_reports_without_restoring_and_wrong_passwords_are_clear() {
    let source = vault();
    source
        .create_key(NewKey::new(name("k"), KeyAlgorithm::default()))
        .unwrap();
    let mut config = backup_config(PW);
    config.comment = Some("before upgrade".to_owned());
    config.include_audit_logs = false;
    config.compress = false;
    let full = create_backup(&source, &config).unwrap();
    let report = verify_backup(&full, PW).unwrap();
    assert_eq!(report.key_count, 1);
    assert_eq!(report.comment.as_deref(), Some("before upgrade"));
    assert_eq!(report.audit_records, None);
    assert!(!report.compressed);
    assert_eq!(report.created_at, full.metadata().created_at);

    let err = verify_backup(&full, b"wrong").unwrap_err();
    assert!(matches!(err, BackupError::WrongPassword { .. }), "{err}");
    assert!(err.to_string().contains("wrong password"));

    // Without the audit log the restored vault starts a fresh chain.
    let restored = restore(MemoryBackend::new(), &[full], PW, b"new", options()).unwrap();
    assert_eq!(restored.list_keys(&KeyFilter::default()).unwrap().len(), 1);
    assert_eq!(restored.verify_audit().unwrap().records, 1);
    // The configuration never prints the password.
    assert!(!format!("{config:?}").contains("backup password"));
}

/// Build a backup file by hand from docs/FORMATS.md: an independent check of the layout, and a
/// way to make files the writer never would (bombs, lying sizes).
fn handmade(password: &[u8], flags: u32, data_size: u64, body: &[u8]) -> Vec<u8> {
    let salt = [7u8; 32];
    let params = common::CHEAP;
    let root = derive_key(password, &salt, &params).unwrap();
    let enc = derive_subkey(&root, "backup-encrypt", b"").unwrap();
    let mac = derive_subkey(&root, "backup-mac", b"").unwrap();
    let check = derive_subkey(&root, "backup-check", b"").unwrap();
    let mut out = b"KVBK".to_vec();
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // created_at
    out.extend_from_slice(&0u64.to_be_bytes()); // key_count
    out.extend_from_slice(&data_size.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // sequence
    out.extend_from_slice(&[0u8; 16]); // lineage
    out.extend_from_slice(&0u64.to_be_bytes()); // audit count
    out.extend_from_slice(&[0u8; 32]); // audit last mac
    out.push(1);
    out.extend_from_slice(&params.memory_kib.to_be_bytes());
    out.extend_from_slice(&params.iterations.to_be_bytes());
    out.extend_from_slice(&params.lanes.to_be_bytes());
    out.push(32);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&check.expose_secret()[..16]);
    out.push(0); // no comment
    out.extend_from_slice(&u64::try_from(body.len() + 40).unwrap().to_be_bytes());
    let header = out.clone();
    let sealed = AeadKey::new(Algorithm::XChaCha20Poly1305, &enc)
        .unwrap()
        .seal(body, &header)
        .unwrap();
    out.extend_from_slice(&sealed);
    let tag = hmac_sha256(mac.expose_secret(), &out);
    out.extend_from_slice(tag.as_bytes());
    out
}

#[test]
fn decompression_bombs_are_refused() {
    // 64 MiB of zeros compress to a few KiB; the header claims 1 KiB.
    let zeros = vec![0u8; 64 * 1024 * 1024];
    let bomb = zstd::bulk::compress(&zeros, 3).unwrap();
    assert!(bomb.len() < 64 * 1024);
    let file = VaultBackup::from_bytes(handmade(PW, 1, 1024, &bomb)).unwrap();
    // Decompression stops at the authenticated size: the typed limit error, not 100 MB.
    let err = file.open(PW).unwrap_err();
    assert!(
        matches!(err, BackupError::DecompressionLimit { max: 1024, .. }),
        "{err:?}"
    );
    // Claiming more than the format allows is refused before deriving.
    let err = VaultBackup::from_bytes(handmade(PW, 1, u64::MAX, &bomb)).unwrap_err();
    assert!(matches!(err, BackupError::TooLarge { .. }), "{err:?}");
    // Garbage that is not zstd is a typed error; so is an authentic payload that is not a
    // snapshot.
    let err = VaultBackup::from_bytes(handmade(PW, 1, 16, b"not zstd at all"))
        .unwrap()
        .open(PW)
        .unwrap_err();
    assert!(matches!(err, BackupError::Decompression { .. }), "{err:?}");
    let err = VaultBackup::from_bytes(handmade(PW, 0, 5, b"hello"))
        .unwrap()
        .open(PW)
        .unwrap_err();
    assert!(matches!(err, BackupError::Malformed { .. }), "{err:?}");
    // The handmade layout is the real one: a file with a valid empty-ish header opens as far
    // as the payload, so the password check, MAC and AEAD all agree with the writer.
}

#[test]
fn hostile_headers_are_refused_fast_with_typed_errors() {
    let source = vault();
    let full = create_backup(&source, &backup_config(PW)).unwrap();
    let bytes = full.as_bytes();
    // Argon2 parameters sit after magic 4, version 4, flags 4, created 8, keys 8, size 8,
    // sequence 8, lineage 16, audit count 8, audit mac 32, algorithm 1: offset 101.
    assert_eq!(&bytes[101..105], &19_456u32.to_be_bytes());
    let patch = |offset: usize, value: u32| {
        let mut b = bytes.to_vec();
        b[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
        b
    };
    for (what, file) in [
        ("memory 2^32-1 KiB", patch(101, u32::MAX)),
        ("passes 2^32-1", patch(105, u32::MAX)),
        ("lanes 2^24-1", patch(109, (1 << 24) - 1)),
        ("below the floor", patch(101, 64)),
    ] {
        // Refused while parsing, before any key derivation (KdfParameters comes only from the
        // bounds check on what the file names).
        let err = VaultBackup::from_bytes(file).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::KdfParameters {
                    source: CryptoError::Argon2Parameter { .. } | CryptoError::Argon2TooWeak { .. },
                    ..
                }
            ),
            "{what}: {err:?}"
        );
    }
    // A salt length byte past 64, and a 1 MB salt spliced in.
    let mut long_salt = bytes.to_vec();
    long_salt[113] = 200;
    assert!(matches!(
        VaultBackup::from_bytes(long_salt),
        Err(BackupError::InvalidField { .. })
    ));
    let mut spliced = bytes[..114].to_vec();
    spliced.extend(std::iter::repeat_n(0xaa, 1_000_000));
    spliced.extend_from_slice(&bytes[114..]);
    assert!(matches!(
        VaultBackup::from_bytes(spliced),
        Err(BackupError::InvalidField { .. })
    ));
    // Unknown version, flags and algorithm.
    assert!(matches!(
        VaultBackup::from_bytes(patch(4, 3)),
        Err(BackupError::UnsupportedVersion { version: 3, .. })
    ));
    assert!(matches!(
        VaultBackup::from_bytes(patch(8, 1 << 9)),
        Err(BackupError::InvalidField { .. })
    ));
    let mut other_alg = bytes.to_vec();
    other_alg[100] = 3;
    assert!(matches!(
        VaultBackup::from_bytes(other_alg),
        Err(BackupError::UnsupportedAlgorithm { .. })
    ));
    // Too large a file.
    let huge = vec![0u8; keyvault_backup::MAX_BACKUP_LEN + 1];
    assert!(matches!(
        VaultBackup::from_bytes(huge),
        Err(BackupError::TooLarge { .. })
    ));
}

#[test]
fn backups_are_one_derivation_and_keep_secrets_out_of_debug() {
    let source = vault();
    source
        .create_key(NewKey::new(name("k"), KeyAlgorithm::default()))
        .unwrap();
    let backup = create_backup(&source, &backup_config(PW)).unwrap();
    let key = backup.derive_key(PW).unwrap();
    // One derivation serves verify and restore alike.
    let first = backup.open_with(&key).unwrap();
    let second = backup.open_with(&key).unwrap();
    assert_eq!(first.keys().len(), second.keys().len());
    assert_eq!(format!("{key:?}"), "BackupKey([REDACTED])");
    let snapshot_debug = format!("{first:?}");
    assert!(!snapshot_debug.contains(&hex::encode(first.master_key().expose_secret())));
    let other = create_backup(&source, &backup_config(PW)).unwrap();
    assert!(matches!(
        other.open_with(&key),
        Err(BackupError::InvalidField { .. })
    ));
}

/// `verify` accepts exactly what `restore` accepts, and refuses the rest with the same error:
/// every chain here goes through both. Regression: verifying an incremental backup alone passed
/// while restoring it failed.
#[test]
fn verify_and_restore_agree_on_every_chain() {
    let a = vault();
    let b = vault();
    let config = backup_config(PW);
    a.create_key(NewKey::new(name("one"), KeyAlgorithm::default()))
        .unwrap();
    let full = create_backup(&a, &config).unwrap();
    a.create_key(NewKey::new(name("two"), KeyAlgorithm::default()))
        .unwrap();
    let inc1 = create_incremental_backup(&a, &full, &config).unwrap();
    a.rotate(&name("two")).unwrap();
    let inc2 = create_incremental_backup(&a, &inc1, &config).unwrap();
    let other = create_backup(&b, &config).unwrap();
    let other_inc = create_incremental_backup(&b, &other, &config).unwrap();
    let chains: Vec<(&str, Vec<VaultBackup>)> = vec![
        ("full", vec![full.clone()]),
        ("full, incremental", vec![full.clone(), inc1.clone()]),
        (
            "full and two",
            vec![full.clone(), inc1.clone(), inc2.clone()],
        ),
        ("incremental alone", vec![inc1.clone()]),
        ("second incremental alone", vec![inc2.clone()]),
        ("wrong order", vec![inc1.clone(), full.clone()]),
        ("gap", vec![full.clone(), inc2.clone()]),
        ("duplicate", vec![full.clone(), inc1.clone(), inc1.clone()]),
        (
            "other vault's incremental",
            vec![full.clone(), other_inc.clone()],
        ),
        ("other vault's full", vec![other.clone(), inc1.clone()]),
        ("empty", vec![]),
    ];
    let mut agreed = 0;
    for (what, chain) in &chains {
        let verified = if chain.len() == 1 {
            verify_backup(&chain[0], PW).map(drop)
        } else {
            verify_chain(chain, PW).map(drop)
        };
        let restored = restore(MemoryBackend::new(), chain, PW, b"new", options()).map(drop);
        match (&verified, &restored) {
            (Ok(()), Ok(())) => {}
            (Err(v), Err(r)) => {
                assert_eq!(v.kind(), r.kind(), "{what}: {v} / {r}");
                assert_eq!(v.to_string(), r.to_string(), "{what}");
            }
            _ => panic!("{what}: verify {verified:?} but restore {restored:?}"),
        }
        agreed += 1;
    }
    assert_eq!(agreed, chains.len());
    assert!(verify_backup(&full, PW).is_ok());
    assert!(matches!(
        verify_backup(&inc1, PW),
        Err(BackupError::BrokenChain { .. })
    ));
}
