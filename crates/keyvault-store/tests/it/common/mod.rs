//! Shared fixtures for the Vault suites: cheap Argon2 settings, a manual clock, and one harness
//! type that runs a test body on a memory vault and on a file vault alike.

#![allow(unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyvault_core::{ErrorKind, KeyAlgorithm, KeyName, Timestamp};
use keyvault_crypto::Argon2Params;
use keyvault_store::{
    AuditCommit, Backend, Batch, FileBackend, ManualClock, MemoryBackend, NewKey, Record,
    StoreError, Vault, VaultOptions,
};
pub use keyvault_test_support::fixtures::name;

/// The password of every test vault.
pub const PASSWORD: &[u8] = b"correct horse battery staple";

/// The OWASP floor: the cheapest Argon2id settings the vault accepts.
pub const CHEAP_ARGON2: Argon2Params = Argon2Params::MINIMUM;

/// Where every manual clock starts: 2025-06-15 15:06:40 UTC.
pub const START: Timestamp = Timestamp::from_unix_secs(1_750_000_000);

/// One hour.
pub const HOUR: Duration = Duration::from_secs(3600);
/// One day.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// Vault options with cheap Argon2 and `clock`.
pub fn options(clock: &Arc<ManualClock>, audit_commit: AuditCommit) -> VaultOptions {
    VaultOptions {
        argon2: CHEAP_ARGON2,
        audit_commit,
        actor: "test:harness".to_owned(),
        clock: Arc::clone(clock) as Arc<dyn keyvault_store::Clock>,
        ..VaultOptions::default()
    }
}

/// A memory backend that several `Vault` instances can share, the way several processes share
/// one vault file: each `Vault` owns a handle, all handles reach the same records.
#[derive(Clone, Debug, Default)]
pub struct SharedMemory(pub Arc<MemoryBackend>);

impl Backend for SharedMemory {
    fn get(&self, key: &[u8]) -> keyvault_store::Result<Option<Record>> {
        self.0.get(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> keyvault_store::Result<Vec<Record>> {
        self.0.scan_prefix(prefix)
    }

    fn commit(&self, batch: &Batch) -> keyvault_store::Result<u64> {
        self.0.commit(batch)
    }

    fn sequence(&self) -> keyvault_store::Result<u64> {
        self.0.sequence()
    }

    fn continue_sequence(&self, sequence: u64) -> keyvault_store::Result<()> {
        self.0.continue_sequence(sequence)
    }

    fn compact(&self) -> keyvault_store::Result<keyvault_store::Scrub> {
        self.0.compact()
    }
}

/// A backend the harness knows how to reach again: another handle on the same records.
pub trait TestBackend: Backend + Sized + 'static {
    /// Another handle on the same store (a new connection pool for a file).
    fn reconnect(&self) -> Self;

    /// A fresh vault on a fresh store of this kind.
    fn harness(audit_commit: AuditCommit) -> Harness<Self>;
}

impl TestBackend for SharedMemory {
    fn reconnect(&self) -> Self {
        self.clone()
    }

    fn harness(audit_commit: AuditCommit) -> Harness<Self> {
        Harness::memory(audit_commit)
    }
}

impl TestBackend for FileBackend {
    fn reconnect(&self) -> Self {
        FileBackend::open(self.path()).unwrap()
    }

    fn harness(audit_commit: AuditCommit) -> Harness<Self> {
        Harness::file(audit_commit)
    }
}

/// A vault under test, with its clock and (for files) its directory.
pub struct Harness<B: TestBackend> {
    /// The vault.
    pub vault: Vault<B>,
    /// The clock every vault of this harness reads.
    pub clock: Arc<ManualClock>,
    /// The audit mode the vault was opened with.
    pub audit_commit: AuditCommit,
    /// Keeps the temporary directory of a file vault alive.
    pub dir: Option<tempfile::TempDir>,
}

impl Harness<SharedMemory> {
    /// A fresh memory vault.
    pub fn memory(audit_commit: AuditCommit) -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let vault = Vault::init(
            SharedMemory::default(),
            PASSWORD,
            options(&clock, audit_commit),
        )
        .unwrap();
        Harness {
            vault,
            clock,
            audit_commit,
            dir: None,
        }
    }
}

impl Harness<FileBackend> {
    /// A fresh file vault in a temporary directory.
    pub fn file(audit_commit: AuditCommit) -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::<FileBackend>::create(
            dir.path().join("vault.db"),
            PASSWORD,
            options(&clock, audit_commit),
        )
        .unwrap();
        Harness {
            vault,
            clock,
            audit_commit,
            dir: Some(dir),
        }
    }

    /// The vault file.
    pub fn path(&self) -> PathBuf {
        self.vault.dangerous().backend().path().to_path_buf()
    }
}

impl<B: TestBackend> Harness<B> {
    /// Options like the vault's own (same clock and audit mode).
    pub fn options(&self) -> VaultOptions {
        options(&self.clock, self.audit_commit)
    }

    /// Another client of the same store: a second `Vault` opened with the password, as a
    /// second process would.
    pub fn open_another(&self) -> Vault<B> {
        Vault::open(
            self.vault.dangerous().backend().reconnect(),
            PASSWORD,
            self.options(),
        )
        .unwrap()
    }

    /// Open the same store again with `password`.
    pub fn try_open(&self, password: &[u8]) -> keyvault_store::Result<Vault<B>> {
        Vault::open(
            self.vault.dangerous().backend().reconnect(),
            password,
            self.options(),
        )
    }

    /// Close the vault and open it again from its store: nothing in memory survives.
    pub fn reopen(&mut self) {
        let backend = self.vault.dangerous().backend().reconnect();
        let fresh = Vault::open(backend, PASSWORD, self.options()).unwrap();
        // The old instance is dropped (flushing its audit buffer) only once the new one is
        // open, so the store is never without a client.
        drop(std::mem::replace(&mut self.vault, fresh));
    }

    /// Create an Active key with the default policy.
    pub fn key(&self, name: &str, algorithm: KeyAlgorithm) -> KeyName {
        let name = KeyName::new(name).unwrap();
        self.vault
            .create_key(NewKey::new(name.clone(), algorithm))
            .unwrap();
        name
    }

    /// Create a key from a spec.
    pub fn key_with(&self, spec: NewKey) -> KeyName {
        let name = spec.name.clone();
        self.vault.create_key(spec).unwrap();
        name
    }

    /// Every stored record whose key starts with `table` (one of b'h', b'm', b'k', b'n',
    /// b'c', b'a').
    pub fn records(&self, table: u8) -> Vec<Record> {
        self.vault
            .dangerous()
            .backend()
            .scan_prefix(&[table])
            .unwrap()
    }
}

/// The key version an envelope names.
pub fn version_of(envelope: &[u8]) -> u32 {
    keyvault_core::envelope::Envelope::parse(envelope)
        .unwrap()
        .header()
        .key_version
        .get()
}

/// Whether `err` is the refusal of a key whose `max_operations` is spent.
pub fn is_usage_limit(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::Core(keyvault_core::Error::Denied {
            denial: keyvault_core::Denial::UsageLimitReached { .. },
            ..
        })
    )
}

/// Whether `err` is the refusal of a key whose lifecycle state forbids the use (revoked,
/// disabled, ...).
pub fn is_state_denial(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::Core(keyvault_core::Error::Denied {
            denial: keyvault_core::Denial::KeyState { .. },
            ..
        })
    )
}

/// Grouped audit commits that never fire on their own: only an explicit flush (or a
/// management change, lock or drop) commits.
pub const GROUPED_MANUAL: AuditCommit = AuditCommit::Grouped {
    max_events: 1_000_000,
    max_delay: Duration::from_secs(3600),
};

/// The error's stable kind.
pub fn kind<T: std::fmt::Debug>(result: keyvault_store::Result<T>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

/// The denial code of a core `Denied` error, or a panic naming what came instead.
pub fn denial<T: std::fmt::Debug>(result: keyvault_store::Result<T>) -> &'static str {
    match result {
        Err(StoreError::Core(keyvault_core::Error::Denied { denial, .. })) => denial.code(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

// The backend matrix: each test body runs on a memory vault and on a file vault, as
// `module::name::memory` and `module::name::file`.

/// `name::memory` and `name::file`: one client does everything.
macro_rules! on_both_backends {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                $(#[$meta])*
                #[test]
                fn memory() {
                    super::$name(&mut crate::common::Harness::memory(
                        keyvault_store::AuditCommit::default(),
                    ));
                }

                $(#[$meta])*
                #[test]
                fn file() {
                    super::$name(&mut crate::common::Harness::file(
                        keyvault_store::AuditCommit::default(),
                    ));
                }
            }
        )*
    };
}

/// For `fn name<B>(h: &Harness<B>, user: &Vault<B>)`, whose management changes go through
/// `h.vault` and whose uses go through `user`: `name::memory` and `name::file` with one client
/// (`user` is `h.vault`; attributes apply to these), `name::memory_two_clients` and
/// `name::file_two_clients` with a second `Vault` opened on the same store as `user`.
macro_rules! admin_and_user {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::common::Harness;
                use keyvault_store::AuditCommit;

                $(#[$meta])*
                #[test]
                fn memory() {
                    let h = Harness::memory(AuditCommit::default());
                    super::$name(&h, &h.vault);
                }

                $(#[$meta])*
                #[test]
                fn file() {
                    let h = Harness::file(AuditCommit::default());
                    super::$name(&h, &h.vault);
                }

                #[test]
                fn memory_two_clients() {
                    let h = Harness::memory(AuditCommit::default());
                    let user = h.open_another();
                    super::$name(&h, &user);
                }

                #[test]
                fn file_two_clients() {
                    let h = Harness::file(AuditCommit::default());
                    let user = h.open_another();
                    super::$name(&h, &user);
                }
            }
        )*
    };
}

/// `name::memory` and `name::file` for `fn name<B: TestBackend>()`, which builds its own vaults.
macro_rules! on_both_backend_types {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                $(#[$meta])*
                #[test]
                fn memory() {
                    super::$name::<crate::common::SharedMemory>();
                }

                $(#[$meta])*
                #[test]
                fn file() {
                    super::$name::<keyvault_store::FileBackend>();
                }
            }
        )*
    };
}
