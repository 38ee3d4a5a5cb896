//! A vault file locked by another process (an open write transaction): the vault waits a
//! bounded time, tells its caller once it has waited a while, then fails with
//! `StoreError::Busy`, and works again once the lock is released.
// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{PASSWORD, START, options};
use keyvault_core::{ErrorKind, KeyAlgorithm, KeyName};
use keyvault_store::{AuditCommit, BusyWait, FileVault, ManualClock, NewKey, StoreError};

#[test]
fn a_vault_locked_by_another_process_fails_busy_after_the_bounded_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let clock = Arc::new(ManualClock::new(START));
    drop(FileVault::create(&path, PASSWORD, options(&clock, AuditCommit::Synchronous)).unwrap());

    let told = Arc::new(AtomicUsize::new(0));
    let mut opts = options(&clock, AuditCommit::Synchronous);
    opts.busy_wait = BusyWait {
        limit: Duration::from_millis(400),
        notice_after: Duration::from_millis(100),
        on_wait: Some(Arc::new({
            let told = Arc::clone(&told);
            move || {
                told.fetch_add(1, Ordering::SeqCst);
            }
        })),
    };
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
