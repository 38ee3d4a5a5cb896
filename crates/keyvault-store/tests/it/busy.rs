//! A vault file locked by another process (an open write transaction): the vault waits a
//! bounded time, tells its caller once it has waited a while, then fails with
//! `StoreError::Busy`, and works again once the lock is released.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{PASSWORD, START, options};
use keyvault_core::{ErrorKind, KeyAlgorithm, KeyName};
use keyvault_store::{AuditCommit, BusyWait, FileVault, ManualClock, NewKey, StoreError};

/// A bounded wait that counts how often the caller is told it is waiting.
fn counted_wait(limit: Duration, notice_after: Duration) -> (BusyWait, Arc<AtomicUsize>) {
    let told = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&told);
    let wait = BusyWait {
        limit,
        notice_after,
        on_wait: Some(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })),
    };
    (wait, told)
}

#[test]
fn a_vault_locked_by_another_process_fails_busy_after_the_bounded_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let clock = Arc::new(ManualClock::new(START));
    drop(FileVault::create(&path, PASSWORD, options(&clock, AuditCommit::Synchronous)).unwrap());

    let mut opts = options(&clock, AuditCommit::Synchronous);
    let told;
    (opts.busy_wait, told) = counted_wait(Duration::from_millis(400), Duration::from_millis(100));
    let vault = FileVault::open_file(&path, PASSWORD, opts).unwrap();

    // Another process opens a write transaction and keeps it.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let name = KeyName::new("k1").unwrap();
    let err = vault
        .create_key(NewKey::new(name.clone(), KeyAlgorithm::default()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(!err.is_retryable(), "a retry would wait all over again");
    assert_eq!(told.load(Ordering::SeqCst), 1, "the caller is told once");

    // Once the other process lets go, the same vault works.
    other.execute_batch("ROLLBACK").unwrap();
    vault
        .create_key(NewKey::new(name, KeyAlgorithm::default()))
        .unwrap();
}

#[test]
fn after_a_wait_runs_out_the_next_attempts_do_not_wait_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let clock = Arc::new(ManualClock::new(START));
    drop(FileVault::create(&path, PASSWORD, options(&clock, AuditCommit::Synchronous)).unwrap());
    let mut opts = options(&clock, AuditCommit::Synchronous);
    let told;
    (opts.busy_wait, told) = counted_wait(Duration::from_secs(3600), Duration::from_millis(200));
    let vault = FileVault::open_file(&path, PASSWORD, opts.clone()).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // With an hour's bound the first attempt would wait an hour; let the lock go after the
    // caller has been told, from another thread, so the wait ends by taking the lock.
    let name = KeyName::new("k1").unwrap();
    let other = std::thread::scope(|scope| {
        let told = Arc::clone(&told);
        let releaser = scope.spawn(move || {
            while told.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            other.execute_batch("ROLLBACK").unwrap();
            other
        });
        vault
            .create_key(NewKey::new(name, KeyAlgorithm::default()))
            .unwrap();
        releaser.join().unwrap()
    });
    assert_eq!(told.load(Ordering::SeqCst), 1);

    // A short bound runs out once; the attempts that follow (another operation, the audit
    // flush) fail at once instead of waiting the bound again, and are not announced.
    opts.busy_wait.limit = Duration::from_millis(500);
    let vault = FileVault::open_file(&path, PASSWORD, opts).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let first = vault
        .create_key(NewKey::new(
            KeyName::new("k2").unwrap(),
            KeyAlgorithm::default(),
        ))
        .unwrap_err();
    assert!(matches!(first, StoreError::Busy), "{first:?}");
    assert_eq!(told.load(Ordering::SeqCst), 2);
    let second = vault
        .create_key(NewKey::new(
            KeyName::new("k3").unwrap(),
            KeyAlgorithm::default(),
        ))
        .unwrap_err();
    assert!(matches!(second, StoreError::Busy), "{second:?}");
    assert_eq!(told.load(Ordering::SeqCst), 2, "no second wait");
    other.execute_batch("ROLLBACK").unwrap();
}
