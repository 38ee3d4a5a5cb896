//! One conformance suite for every backend: the same semantics on memory and on file.

use std::sync::Arc;

use keyvault_store::{Backend, Batch, Expect, FileBackend, MemoryBackend, StoreError};
use proptest::prelude::*;

/// Run `check` on a fresh memory backend and a fresh file backend.
fn each_backend(check: impl Fn(&dyn Backend)) {
    check(&MemoryBackend::new());
    let dir = tempfile::tempdir().unwrap();
    check(&FileBackend::create(dir.path().join("vault.db")).unwrap());
}

#[test]
fn put_get_and_revisions_follow_the_commit_sequence() {
    each_backend(|store| {
        assert_eq!(store.sequence().unwrap(), 0);
        assert_eq!(store.get(b"a").unwrap(), None);
        let seq = store
            .commit(&Batch::new().put(b"a".to_vec(), b"1".to_vec(), Expect::Absent))
            .unwrap();
        assert_eq!(seq, 1);
        let record = store.get(b"a").unwrap().unwrap();
        assert_eq!((record.value.as_slice(), record.revision), (&b"1"[..], 1));
        let seq = store
            .commit(
                &Batch::new()
                    .put(b"a".to_vec(), b"2".to_vec(), Expect::Revision(1))
                    .put(b"b".to_vec(), b"x".to_vec(), Expect::Any),
            )
            .unwrap();
        assert_eq!(seq, 2);
        assert_eq!(store.get(b"a").unwrap().unwrap().revision, 2);
        assert_eq!(store.get(b"b").unwrap().unwrap().revision, 2);
        assert_eq!(store.sequence().unwrap(), 2);
    });
}

#[test]
fn failed_preconditions_write_nothing() {
    each_backend(|store| {
        store
            .commit(&Batch::new().put(b"a".to_vec(), b"1".to_vec(), Expect::Absent))
            .unwrap();
        let attempts = [
            Batch::new().put(b"a".to_vec(), b"2".to_vec(), Expect::Absent),
            Batch::new().put(b"a".to_vec(), b"2".to_vec(), Expect::Revision(7)),
            Batch::new()
                .put(b"new".to_vec(), b"2".to_vec(), Expect::Absent)
                .delete(b"a".to_vec(), Expect::Revision(2)),
            Batch::new()
                .put(b"new".to_vec(), b"2".to_vec(), Expect::Any)
                .check(b"missing".to_vec(), Expect::Revision(1)),
            Batch::new()
                .put(b"new".to_vec(), b"2".to_vec(), Expect::Any)
                .check(b"a".to_vec(), Expect::Absent),
        ];
        for batch in attempts {
            let err = store.commit(&batch).unwrap_err();
            assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
            assert!(err.is_retryable());
        }
        assert_eq!(
            store.get(b"new").unwrap(),
            None,
            "a failed batch wrote nothing"
        );
        assert_eq!(store.get(b"a").unwrap().unwrap().value, b"1");
        assert_eq!(
            store.sequence().unwrap(),
            1,
            "a failed batch takes no sequence number"
        );
    });
}

#[test]
fn delete_check_and_scan() {
    each_backend(|store| {
        let mut batch = Batch::new();
        for key in [&b"t/1"[..], b"t/2", b"t/3", b"u/1", b"t", b"s/9"] {
            batch = batch.put(key.to_vec(), key.to_vec(), Expect::Absent);
        }
        store.commit(&batch).unwrap();
        let keys = |prefix: &[u8]| -> Vec<Vec<u8>> {
            store
                .scan_prefix(prefix)
                .unwrap()
                .into_iter()
                .map(|r| r.key)
                .collect()
        };
        assert_eq!(
            keys(b"t/"),
            vec![b"t/1".to_vec(), b"t/2".to_vec(), b"t/3".to_vec()]
        );
        assert_eq!(keys(b"").len(), 6);
        assert!(keys(b"v").is_empty());
        store
            .commit(
                &Batch::new()
                    .delete(b"t/2".to_vec(), Expect::Revision(1))
                    .check(b"t/1".to_vec(), Expect::Revision(1)),
            )
            .unwrap();
        assert_eq!(keys(b"t/"), vec![b"t/1".to_vec(), b"t/3".to_vec()]);
        assert_eq!(
            store.get(b"t/1").unwrap().unwrap().revision,
            1,
            "check does not write"
        );
        // Keys with 0xFF bytes scan correctly too.
        store
            .commit(
                &Batch::new()
                    .put(vec![0xFF, 0xFF], b"".to_vec(), Expect::Absent)
                    .put(vec![0xFF, 0xFF, 0], b"".to_vec(), Expect::Absent),
            )
            .unwrap();
        assert_eq!(keys(&[0xFF, 0xFF]).len(), 2);
        assert_eq!(keys(&[0xFF]).len(), 2);
    });
}

#[test]
fn a_batch_naming_a_key_twice_is_refused() {
    each_backend(|store| {
        let batch = Batch::new()
            .put(b"a".to_vec(), b"1".to_vec(), Expect::Any)
            .delete(b"a".to_vec(), Expect::Any);
        assert!(matches!(
            store.commit(&batch),
            Err(StoreError::InvalidBatch(_))
        ));
        assert_eq!(store.sequence().unwrap(), 0);
    });
}

#[test]
fn concurrent_increments_lose_no_update() {
    fn increment(store: &dyn Backend) {
        loop {
            let current = store.get(b"counter").unwrap();
            let (value, expect) = match &current {
                Some(r) => (
                    u64::from_le_bytes(r.value.clone().try_into().unwrap()),
                    Expect::Revision(r.revision),
                ),
                None => (0, Expect::Absent),
            };
            match store.commit(&Batch::new().put(
                b"counter".to_vec(),
                (value + 1).to_le_bytes().to_vec(),
                expect,
            )) {
                Ok(_) => return,
                Err(err) if err.is_retryable() => continue,
                Err(err) => panic!("{err}"),
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let stores: [Arc<dyn Backend>; 2] = [
        Arc::new(MemoryBackend::new()),
        Arc::new(FileBackend::create(dir.path().join("v.db")).unwrap()),
    ];
    for store in stores {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || (0..50).for_each(|_| increment(store.as_ref())))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let value = store.get(b"counter").unwrap().unwrap().value;
        assert_eq!(u64::from_le_bytes(value.try_into().unwrap()), 400);
    }
}

#[test]
fn file_backend_persists_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new-dir").join("vault.db");
    {
        let store = FileBackend::create(&path).unwrap();
        store
            .commit(&Batch::new().put(b"k".to_vec(), b"v".to_vec(), Expect::Absent))
            .unwrap();
        assert_eq!(store.insecure_permissions().unwrap(), None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        for suffix in ["-wal", "-shm"] {
            let side = path.with_file_name(format!("vault.db{suffix}"));
            if side.exists() {
                assert_eq!(mode(&side), 0o600, "{suffix}");
            }
        }
    }
    let store = FileBackend::open(&path).unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap().value, b"v");
    assert_eq!(store.sequence().unwrap(), 1);
    assert!(matches!(
        FileBackend::create(&path),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        FileBackend::open(dir.path().join("missing.db")),
        Err(StoreError::NoVault(_))
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(store.insecure_permissions().unwrap(), Some(0o644));
    }
}

/// Commits fold the write-ahead log back into the file once it is long, so it never grows
/// without bound; and a second backend on the file sees every commit of the first.
#[test]
fn the_write_ahead_log_stays_short_and_commits_are_seen_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.kv");
    let backend = FileBackend::create(&path).unwrap();
    let other = FileBackend::open(&path).unwrap();
    let value = vec![7u8; 3000];
    for round in 0u32..3000 {
        let key = round.to_be_bytes().to_vec();
        let sequence = backend
            .commit(&Batch::new().put(key, value.clone(), Expect::Any))
            .unwrap();
        assert_eq!(backend.sequence().unwrap(), sequence);
        if round % 100 == 0 {
            assert_eq!(other.sequence().unwrap(), sequence);
        }
    }
    // 3,000 commits of a 3 kB record write well over 3,000 frames of 4 KiB; unchecked, the log
    // would pass 12 MiB. Checkpointed at 1,000 frames it stays near 4 MiB.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let length = std::fs::metadata(std::path::PathBuf::from(wal))
        .unwrap()
        .len();
    assert!(length < 6 << 20, "the log holds {length} bytes");
}

#[test]
fn foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign.db");
    make_foreign_sqlite_db(&foreign);
    assert!(matches!(
        FileBackend::open(&foreign),
        Err(StoreError::NotAVault { .. })
    ));
    for (name, bytes) in [
        (
            "text.db",
            b"hello, this is not a database at all".repeat(200),
        ),
        ("zeros.db", vec![0; 8192]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = FileBackend::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotAVault { .. }), "{name}: {err}");
    }
}

/// A valid SQLite database of another application: a fresh store whose application id is then
/// changed, as if another program had made it.
fn make_foreign_sqlite_db(path: &std::path::Path) {
    let store = FileBackend::create(path).unwrap();
    drop(store);
    // Overwrite the application id (big-endian u32 at offset 68 of the SQLite header).
    let mut bytes = std::fs::read(path).unwrap();
    bytes[68..72].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The file backend agrees with the memory backend on any sequence of batches.
    #[test]
    fn file_backend_matches_memory_model(
        batches in prop::collection::vec(
            prop::collection::vec((0u8..6, prop::option::of(any::<u8>()), 0u8..4), 1..4),
            1..12,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = FileBackend::create(dir.path().join("v.db")).unwrap();
        let memory = MemoryBackend::new();
        for writes in batches {
            let mut batch = Batch::new();
            let mut seen = std::collections::HashSet::new();
            for (key, value, expect) in writes {
                if !seen.insert(key) {
                    continue;
                }
                let expect = match expect {
                    0 => Expect::Any,
                    1 => Expect::Absent,
                    n => Expect::Revision(u64::from(n)),
                };
                batch = match value {
                    Some(v) => batch.put(vec![key], vec![v], expect),
                    None => batch.delete(vec![key], expect),
                };
            }
            let a = memory.commit(&batch).map_err(|e| e.is_retryable());
            let b = file.commit(&batch).map_err(|e| e.is_retryable());
            prop_assert_eq!(a, b);
            prop_assert_eq!(memory.scan_prefix(b"").unwrap(), file.scan_prefix(b"").unwrap());
        }
    }
}
