//! Record-level rollback: someone who can write the vault file puts back an older sealed copy of
//! one record, deletes one, or duplicates one, for every kind of record. Each still opens on its
//! own (it was sealed for that very place), so only the record head in the sealed metadata can
//! tell. The vault must refuse to open and name the damage; normal use, by one or several
//! clients, must never raise a false alarm.
//!
//! The battery counts the cases it tried, detected and missed, and prints them (run with
//! `--nocapture` to see them).

#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use keyvault_core::{KeyAlgorithm, KeyPolicy, KeyState, Transition};
use keyvault_store::dangerous::ImportConflict;
use keyvault_store::{AuditCommit, FileVault, NewKey, RecordDamage, RecordKind, StoreError};
use keyvault_test_support::Rng;
use keyvault_test_support::fixtures::{cheap_options, name};

const PASSWORD: &[u8] = b"rollback password";

/// One stored row: key → (value, revision).
type Rows = BTreeMap<Vec<u8>, (Vec<u8>, i64)>;

/// Every row of the vault file, read through SQLite (the write-ahead log included).
fn rows(path: &Path) -> Rows {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT key, value, revision FROM kv_records")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Run `sql` with `params` on the vault file.
fn edit(path: &Path, sql: &str, params: impl rusqlite::Params) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(sql, params).unwrap();
}

/// Copy a closed vault file (and its log, if one was left) to `to`.
fn copy_vault(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut side = from.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut target = to.as_os_str().to_owned();
            target.push(suffix);
            std::fs::copy(&side, PathBuf::from(target)).unwrap();
        }
    }
}

fn of_table(rows: &Rows, table: u8) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    rows.iter()
        .filter(|(key, _)| key.first() == Some(&table))
        .map(|(key, (value, revision))| (key.clone(), value.clone(), *revision))
        .collect()
}

/// A vault with every kind of record, its rows at an early point, and its rows at the end:
/// between the two, a key was revoked, one rotated, usage counters moved on, a key was created
/// and audit segments were added.
struct History {
    _dir: tempfile::TempDir,
    path: PathBuf,
    early: Rows,
    late: Rows,
}

fn history() -> History {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let vault = FileVault::create(&path, PASSWORD, cheap_options()).unwrap();
    let limited = |text: &str| {
        let mut spec = NewKey::new(name(text), KeyAlgorithm::default());
        spec.policy = KeyPolicy::default().with_max_operations(64);
        spec
    };
    vault.create_key(limited("budget")).unwrap();
    vault.create_key(limited("revoked")).unwrap();
    vault
        .create_key(NewKey::new(name("rotated"), KeyAlgorithm::default()))
        .unwrap();
    for key in ["budget", "revoked"] {
        vault.encrypt(&name(key), b"x", b"").unwrap();
    }
    let early = rows(&path);

    vault
        .transition(&name("revoked"), Transition::Revoke)
        .unwrap();
    vault.rotate(&name("rotated")).unwrap();
    // A new keyslot for the same password: a new header.
    let _scrub = vault.change_password(PASSWORD).unwrap();
    // Enough uses to reserve a new range of the budget.
    for _ in 0..12 {
        vault.encrypt(&name("budget"), b"x", b"").unwrap();
    }
    vault
        .create_key(NewKey::new(name("newer"), KeyAlgorithm::default()))
        .unwrap();
    drop(vault);
    let late = rows(&path);
    History {
        _dir: dir,
        path,
        early,
        late,
    }
}

/// One damage to try: the SQL that makes it, and the damage the vault must report.
struct Case {
    what: String,
    edits: Vec<(String, Vec<rusqlite::types::Value>)>,
    want: RecordDamage,
}

fn blob(bytes: &[u8]) -> rusqlite::types::Value {
    rusqlite::types::Value::Blob(bytes.to_vec())
}

fn int(n: i64) -> rusqlite::types::Value {
    rusqlite::types::Value::Integer(n)
}

fn put_back(key: &[u8], value: &[u8], revision: i64) -> (String, Vec<rusqlite::types::Value>) {
    (
        "UPDATE kv_records SET value = ?2, revision = ?3 WHERE key = ?1".to_owned(),
        vec![blob(key), blob(value), int(revision)],
    )
}

fn delete(key: &[u8]) -> (String, Vec<rusqlite::types::Value>) {
    (
        "DELETE FROM kv_records WHERE key = ?1".to_owned(),
        vec![blob(key)],
    )
}

fn insert(key: &[u8], value: &[u8], revision: i64) -> (String, Vec<rusqlite::types::Value>) {
    (
        "INSERT INTO kv_records (key, value, revision) VALUES (?1, ?2, ?3)".to_owned(),
        vec![blob(key), blob(value), int(revision)],
    )
}

const TABLES: [(u8, RecordKind); 5] = [
    (b'h', RecordKind::Header),
    (b'k', RecordKind::Key),
    (b'n', RecordKind::Name),
    (b'c', RecordKind::Counter),
    (b'a', RecordKind::AuditSegment),
];

fn cases(history: &History) -> Vec<Case> {
    let mut cases = Vec::new();
    for (table, kind) in TABLES {
        let late = of_table(&history.late, table);
        let early = of_table(&history.early, table);
        // Every record that changed since the early copy, put back to that copy.
        for (key, value, revision) in &early {
            if let Some((_, late_value, _)) = late.iter().find(|(k, _, _)| k == key)
                && late_value != value
            {
                cases.push(Case {
                    what: format!("{kind} put back to an older copy"),
                    edits: vec![put_back(key, value, *revision)],
                    want: RecordDamage::Replaced(kind),
                });
                // The older copy under the current revision number.
                let current = late.iter().find(|(k, _, _)| k == key).unwrap().2;
                cases.push(Case {
                    what: format!("{kind} put back to an older copy, revision kept"),
                    edits: vec![put_back(key, value, current)],
                    want: RecordDamage::Replaced(kind),
                });
            }
        }
        // Every record created since the early copy, deleted (back to the early set).
        for (key, _, _) in &late {
            if !early.iter().any(|(k, _, _)| k == key) {
                cases.push(Case {
                    what: format!("{kind} created later, deleted"),
                    edits: vec![delete(key)],
                    want: RecordDamage::Missing(kind),
                });
            }
        }
        for (index, (key, value, revision)) in late.iter().enumerate() {
            cases.push(Case {
                what: format!("{kind} #{index} deleted"),
                edits: vec![delete(key)],
                want: RecordDamage::Missing(kind),
            });
            // The same value and revision under another key (of the same table, unless the
            // table has a single key).
            let mut other = key.clone();
            let last = other.len() - 1;
            other[last] ^= 0x01;
            if !history.late.contains_key(&other) {
                cases.push(Case {
                    what: format!("{kind} #{index} duplicated under another key"),
                    edits: vec![insert(&other, value, *revision)],
                    want: RecordDamage::Unexpected(if key.len() == 1 {
                        RecordKind::Other
                    } else {
                        kind
                    }),
                });
            }
            if *revision > 1 {
                cases.push(Case {
                    what: format!("{kind} #{index} given an older revision number"),
                    edits: vec![put_back(key, value, revision - 1)],
                    want: RecordDamage::Replaced(kind),
                });
            }
            cases.push(Case {
                what: format!("{kind} #{index} given a revision past the last commit"),
                edits: vec![put_back(key, value, i64::MAX)],
                want: RecordDamage::NewerThanHead(kind),
            });
        }
        // One record of the table deleted and another of it put back to an older copy: the count
        // is right, the digest is not.
        if let (Some((changed, old_value, old_revision)), Some((gone, _, _))) = (
            early
                .iter()
                .find(|(k, v, _)| late.iter().any(|(lk, lv, _)| lk == k && lv != v)),
            late.iter()
                .find(|(k, _, _)| !early.iter().any(|(ek, _, _)| ek == k)),
        ) {
            cases.push(Case {
                what: format!("{kind}: one deleted and another put back to an older copy"),
                edits: vec![delete(gone), put_back(changed, old_value, *old_revision)],
                want: RecordDamage::Missing(kind),
            });
        }
    }
    // A record of no known table.
    let (_, (value, revision)) = history.late.iter().next().unwrap();
    cases.push(Case {
        what: "a record of an unknown table added".to_owned(),
        edits: vec![insert(b"zzz", value, *revision)],
        want: RecordDamage::Unexpected(RecordKind::Other),
    });
    // The metadata record, which holds the head.
    let (old_meta, old_meta_revision) = history.early.get(&b"m"[..]).unwrap();
    let (late_meta, late_meta_revision) = history.late.get(&b"m"[..]).unwrap();
    cases.push(Case {
        what: "vault metadata put back to an older copy".to_owned(),
        edits: vec![put_back(b"m", old_meta, *old_meta_revision)],
        want: RecordDamage::Head,
    });
    cases.push(Case {
        what: "vault metadata put back to an older copy, revision kept".to_owned(),
        edits: vec![put_back(b"m", old_meta, *late_meta_revision)],
        want: RecordDamage::Head,
    });
    cases.push(Case {
        what: "vault metadata given an older revision number".to_owned(),
        edits: vec![put_back(b"m", late_meta, late_meta_revision - 1)],
        want: RecordDamage::Head,
    });
    cases.push(Case {
        what: "the file's commit counter moved back".to_owned(),
        edits: vec![(
            "UPDATE kv_meta SET value = value - 1 WHERE name = 'sequence'".to_owned(),
            vec![],
        )],
        want: RecordDamage::Head,
    });
    cases.push(Case {
        what: "the file's commit counter moved forward".to_owned(),
        edits: vec![(
            "UPDATE kv_meta SET value = value + 5 WHERE name = 'sequence'".to_owned(),
            vec![],
        )],
        want: RecordDamage::Head,
    });
    // Every key, name and counter record put back to the early copy together, the audit log and
    // the metadata left as they are.
    let mut edits = Vec::new();
    for table in [b'k', b'n', b'c'] {
        for (key, _, _) in of_table(&history.late, table) {
            edits.push(delete(&key));
        }
        for (key, value, revision) in of_table(&history.early, table) {
            edits.push(insert(&key, &value, revision));
        }
    }
    cases.push(Case {
        what: "every key, name and counter record put back to the early copy".to_owned(),
        edits,
        want: RecordDamage::Missing(RecordKind::Key),
    });
    cases
}

#[test]
fn every_record_rollback_deletion_and_duplicate_is_refused_and_named() {
    let history = history();
    // The untouched file opens.
    FileVault::open_file(&history.path, PASSWORD, cheap_options()).unwrap();
    let history = History {
        late: rows(&history.path),
        ..history
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(&history);
    let (mut detected, mut named, mut missed) = (0, 0, Vec::new());
    for (index, case) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case-{index}.db"));
        copy_vault(&history.path, &path);
        for (sql, params) in &case.edits {
            edit(&path, sql, rusqlite::params_from_iter(params.iter()));
        }
        match FileVault::open_file(&path, PASSWORD, cheap_options()) {
            Err(StoreError::RecordsRolledBack { damage }) => {
                detected += 1;
                if damage == case.want {
                    named += 1;
                } else {
                    missed.push(format!(
                        "{}: named {damage:?}, not {:?}",
                        case.what, case.want
                    ));
                }
            }
            // Without its header the file is no vault at all: refused before unlocking.
            Err(StoreError::NotAVault { .. })
                if case.want == RecordDamage::Missing(RecordKind::Header) =>
            {
                detected += 1;
                named += 1;
            }
            Err(other) => missed.push(format!("{}: {other:?}", case.what)),
            Ok(_) => missed.push(format!("{}: opened", case.what)),
        }
    }
    println!(
        "record rollback battery: {} cases tried, {detected} detected, {named} named as expected",
        cases.len()
    );
    assert!(missed.is_empty(), "{missed:#?}");
    // Every kind of record took part.
    for (_, kind) in TABLES {
        assert!(
            cases
                .iter()
                .any(|case| case.want == RecordDamage::Replaced(kind)),
            "no replaced {kind}"
        );
    }
}

/// The attack the record head exists for: a revoked key brought back by putting back its older
/// sealed record, and a usage budget reset by putting back (or deleting) its counter record.
#[test]
fn an_unrevoked_key_or_a_reset_budget_never_opens() {
    let history = history();
    let dir = tempfile::tempdir().unwrap();
    let early_keys = of_table(&history.early, b'k');
    let early_counters = of_table(&history.early, b'c');
    let late_counters = of_table(&history.late, b'c');
    let mut tried = 0;
    let changed = early_keys
        .iter()
        .chain(&early_counters)
        .filter(|(key, value, _)| history.late.get(key).is_some_and(|(late, _)| late != value));
    for (key, value, revision) in changed {
        let path = dir.path().join(format!("attack-{tried}.db"));
        tried += 1;
        copy_vault(&history.path, &path);
        edit(
            &path,
            "UPDATE kv_records SET value = ?2, revision = ?3 WHERE key = ?1",
            rusqlite::params![key, value, revision],
        );
        let err = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap_err();
        assert!(
            matches!(err, StoreError::RecordsRolledBack { .. }),
            "{err:?}"
        );
        assert_eq!(err.kind(), keyvault_core::ErrorKind::Integrity);
    }
    for (key, _, _) in &late_counters {
        let path = dir.path().join(format!("attack-{tried}.db"));
        tried += 1;
        copy_vault(&history.path, &path);
        edit(
            &path,
            "DELETE FROM kv_records WHERE key = ?1",
            rusqlite::params![key],
        );
        let err = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::RecordsRolledBack {
                    damage: RecordDamage::Missing(RecordKind::Counter)
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("usage counter record is missing"),
            "{err}"
        );
    }
    // The revoked key's record, the budget's counter, and each counter deleted.
    assert!(tried >= 3, "{tried} attacks");
    // The original still opens, with the key revoked.
    let vault = FileVault::open_file(&history.path, PASSWORD, cheap_options()).unwrap();
    assert_eq!(
        vault.key(&name("revoked")).unwrap().state(),
        KeyState::Revoked
    );
}

/// Putting back every record at once, the metadata included, is a copy of the whole file from
/// earlier: the record head cannot see it (it is the head of that older state), and only an
/// audit head kept outside the vault can (docs/STORAGE.md, "Known limits").
#[test]
fn a_whole_file_rollback_opens_and_fails_against_a_later_audit_head() {
    let history = history();
    let late_head = FileVault::open_file(&history.path, PASSWORD, cheap_options())
        .unwrap()
        .verify_audit()
        .unwrap()
        .head;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.db");
    copy_vault(&history.path, &path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM kv_records", []).unwrap();
    for (key, (value, revision)) in &history.early {
        conn.execute(
            "INSERT INTO kv_records (key, value, revision) VALUES (?1, ?2, ?3)",
            rusqlite::params![key, value, revision],
        )
        .unwrap();
    }
    let (_, meta_revision) = history.early.get(&b"m"[..]).unwrap();
    conn.execute(
        "UPDATE kv_meta SET value = ?1 WHERE name = 'sequence'",
        rusqlite::params![meta_revision],
    )
    .unwrap();
    drop(conn);
    let vault = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap();
    assert!(matches!(
        vault.verify_audit_since(&late_head),
        Err(StoreError::AuditRollback { .. })
    ));
}

/// Whether an error is an alarm about the file's integrity (a false one, in normal use).
fn is_alarm(err: &StoreError) -> bool {
    err.kind() == keyvault_core::ErrorKind::Integrity
}

/// Normal use by two clients of one file at once (each its own connections, as two processes),
/// with new clients opening the vault while the others commit: never a false alarm.
#[test]
fn random_normal_use_by_two_clients_never_raises_a_false_alarm() {
    let seed: u64 = std::env::var("KEYVAULT_TEST_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0x5EED_0011);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    drop(FileVault::create(&path, PASSWORD, cheap_options()).unwrap());
    let opens = std::sync::atomic::AtomicUsize::new(0);
    let operations = std::sync::atomic::AtomicUsize::new(0);
    let succeeded = std::sync::atomic::AtomicUsize::new(0);
    let alarms = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|scope| {
        for client in 0..2u64 {
            let (path, opens, operations, succeeded, alarms) =
                (&path, &opens, &operations, &succeeded, &alarms);
            scope.spawn(move || {
                let mut rng = Rng::new(seed ^ client);
                let mut client_options = cheap_options();
                if client == 1 {
                    client_options.audit_commit = AuditCommit::default();
                }
                let mut vault =
                    FileVault::open_file(path, PASSWORD, client_options.clone()).unwrap();
                let mut created = 0u64;
                let alarm = |what: String| alarms.lock().unwrap().push(what);
                for step in 0..150u64 {
                    let key = name(&format!("c{}-{}", rng.below(2), rng.below(created.max(1))));
                    let result = match rng.below(14) {
                        0 | 1 => {
                            let mut spec = NewKey::new(
                                name(&format!("c{client}-{created}")),
                                KeyAlgorithm::default(),
                            );
                            if rng.below(2) == 0 {
                                spec.policy = KeyPolicy::default().with_max_operations(40);
                            }
                            if rng.below(2) == 0 {
                                spec.exportable = true;
                                spec.policy =
                                    spec.policy.also_allow(keyvault_core::KeyOperation::Export);
                            }
                            created += 1;
                            vault.create_key(spec).map(drop)
                        }
                        2..=5 => vault.encrypt(&key, b"x", b"").map(drop),
                        6 => vault.rotate(&key).map(drop),
                        7 => vault.transition(&key, Transition::Revoke).map(drop),
                        8 => vault
                            .set_policy(&key, KeyPolicy::default().with_max_operations(80))
                            .map(drop),
                        9 => vault.change_password(PASSWORD).map(drop),
                        10 => vault.flush_audit(),
                        // A rename deletes the old name's record.
                        11 => {
                            created += 1;
                            vault
                                .rename_key(&key, &name(&format!("c{client}-{}", created - 1)))
                                .map(drop)
                        }
                        12 => vault
                            .dangerous()
                            .export_key(&key, None)
                            .and_then(|bundle| {
                                vault
                                    .dangerous()
                                    .import_key(bundle, ImportConflict::Replace)
                            })
                            .map(drop),
                        _ => vault.lock().and_then(|()| vault.unlock(PASSWORD)),
                    };
                    operations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match result {
                        Ok(()) => {
                            succeeded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(err) if is_alarm(&err) => {
                            alarm(format!("client {client} step {step}: {err:?}"));
                        }
                        // Refused by a key's state or policy, or no such key yet.
                        Err(_) => {}
                    }
                    if step % 10 == 9 {
                        opens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        match FileVault::open_file(path, PASSWORD, client_options.clone()) {
                            Ok(fresh) => vault = fresh,
                            Err(err) if is_alarm(&err) => {
                                alarm(format!("client {client} open at step {step}: {err:?}"));
                            }
                            // Busy or a lost race is not an alarm.
                            Err(_) => {}
                        }
                    }
                }
            });
        }
    });
    let alarms = alarms.into_inner().unwrap();
    let imports = FileVault::open_file(&path, PASSWORD, cheap_options())
        .unwrap()
        .audit_log(&keyvault_store::AuditFilter::default())
        .unwrap()
        .iter()
        .filter(|record| {
            record.event.operation == keyvault_core::AuditOperation::Import
                && record.event.outcome == keyvault_core::Outcome::Ok
        })
        .count();
    println!("imports that succeeded: {imports}");
    println!(
        "false alarm check: {} operations ({} succeeded), {} opens, {} false alarms",
        operations.into_inner(),
        succeeded.load(std::sync::atomic::Ordering::Relaxed),
        opens.into_inner(),
        alarms.len()
    );
    assert!(alarms.is_empty(), "{alarms:#?}");
    assert!(succeeded.into_inner() > 100);
    // The file as the clients left it opens, and so does a restore of it.
    let vault = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap();
    let snapshot = vault.dangerous().snapshot(None, true).unwrap();
    let restored = dir.path().join("restored.db");
    drop(
        keyvault_store::dangerous::restore_file(&restored, &[snapshot], PASSWORD, cheap_options())
            .unwrap(),
    );
    FileVault::open_file(&restored, PASSWORD, cheap_options()).unwrap();
}
