//! The `Vault` service: keys that encrypt, decrypt, sign, derive and rotate, persisted through a
//! [`Backend`] behind the storage barrier, governed by keyvault-core's rules, every use audited.
//!
//! A `Vault` is `Send + Sync`; share it between threads with an `Arc` and call it concurrently.
//! Writes are optimistic transactions on the backend (read, change, commit with revision
//! checks, retry on conflict), so threads and processes sharing one vault file never lose each
//! other's updates.

mod audit;
mod keys;
mod portable;
mod slots;
mod usage;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyvault_core::{AuditEvent, AuditOperation, KeyId, KeyName, Outcome, Timestamp};
use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::{AeadKey, Argon2Params, SecretKey};

pub use self::audit::{AuditFilter, AuditReport};
pub use self::keys::{KeyFilter, NewKey};
pub use self::portable::{
    CounterSnapshot, ImportConflict, KeyBundle, SnapshotBase, SnapshotParts, VaultSnapshot,
};
pub use self::usage::{DataKey, Signature};

use crate::backend::{Backend, Batch, BusyWait, Expect, FileBackend, MemoryBackend, Scrub};
use crate::barrier::{Barrier, Table, singleton_key};
use crate::clock::{Clock, SystemClock};
use crate::counters::Counters;
use crate::custody::Unlock;
use crate::dangerous::DangerousVault;
use crate::error::{Result, StoreError};
use crate::head::{self, RecordHead};
use crate::header::Header;
use crate::records::{KeyRecord, NameEntry, VaultMeta, encode_segment};

/// How usage events (encrypt, decrypt, ...) reach the audit log. Management changes always
/// commit together with their event, whatever this says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditCommit {
    /// Every usage event commits before the operation returns: nothing is lost in a crash, at
    /// the cost of one durable write per operation.
    Synchronous,
    /// Usage events wait in memory and are committed in groups (one transaction each) by a
    /// background writer thread, so an operation only queues its event. The writer commits once
    /// an eighth of `max_events` wait (under load, continuously: each group is what arrived
    /// during the previous commit) and otherwise every half `max_delay`. An operation commits
    /// the waiting events itself, before it returns, if `max_events` wait or the oldest has
    /// waited `max_delay` by the vault's clock; so do every management change,
    /// [`Vault::flush_audit`], [`Vault::lock`] and dropping the vault. A crash loses the
    /// uncommitted events: fewer than `max_events` waiting and those of a commit under way (at
    /// most `max_events`), none older than about `max_delay`; never a key or a usage-counter
    /// reservation.
    Grouped {
        /// Most events waiting for a commit; the writer commits once an eighth of it waits.
        max_events: usize,
        /// How long an event may wait: the writer commits after about this long, and an
        /// operation that finds an event this old (by the vault's clock) commits first.
        max_delay: Duration,
    },
}

impl Default for AuditCommit {
    fn default() -> Self {
        AuditCommit::Grouped {
            max_events: 256,
            max_delay: Duration::from_secs(1),
        }
    }
}

/// Settings of an open vault.
#[derive(Clone, Debug)]
pub struct VaultOptions {
    /// Argon2id parameters for new password keyslots (init and password change).
    pub argon2: Argon2Params,
    /// How usage events are committed.
    pub audit_commit: AuditCommit,
    /// Who is acting, recorded in every audit event (e.g. `"cli:alice"`). Never a secret.
    pub actor: String,
    /// Where the time comes from.
    pub clock: Arc<dyn Clock>,
    /// How long a file vault waits for another process's lock (default 30 s in all), and
    /// whom it tells once the wait lasts (default after 2 s). Memory vaults never wait.
    pub busy_wait: BusyWait,
}

impl Default for VaultOptions {
    fn default() -> Self {
        VaultOptions {
            argon2: Argon2Params::DEFAULT,
            audit_commit: AuditCommit::default(),
            actor: "keyvault".to_owned(),
            clock: Arc::new(SystemClock),
            busy_wait: BusyWait::default(),
        }
    }
}

/// What an unlocked vault holds in memory: the master key and its subkeys.
pub(crate) struct Unlocked {
    master: SecretKey,
    pub(crate) barrier: Barrier,
}

// Unlocked holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Unlocked: std::fmt::Debug, Copy);

/// One version's usable keys, built once per cache load. A version's 32 stored bytes are a
/// root: each purpose gets its own HKDF subkey of it, so no key serves two purposes.
pub(crate) struct VersionKey {
    /// The AEAD key, for encryption keys.
    pub(crate) aead: Option<AeadKey>,
    /// The HMAC key, for MAC keys.
    pub(crate) mac: SecretKey,
    /// The root of `derive`, for MAC keys.
    pub(crate) derive: SecretKey,
}

// VersionKey holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(VersionKey: std::fmt::Debug, Copy);

/// A key as the cache holds it: its record and ready-to-use version keys.
pub(crate) struct LoadedKey {
    pub(crate) record: KeyRecord,
    pub(crate) versions: HashMap<u32, VersionKey>,
}

// LoadedKey holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(LoadedKey: std::fmt::Debug, Copy);

/// Unsealed keys, valid while the backend's commit sequence is unchanged.
#[derive(Default)]
struct Cache {
    sequence: u64,
    by_id: HashMap<KeyId, Arc<LoadedKey>>,
    by_name: HashMap<KeyName, KeyId>,
}

// Cache holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Cache: std::fmt::Debug, Copy);

/// A key vault on backend `B`.
pub struct Vault<B: Backend> {
    state: Arc<State<B>>,
    /// Commits grouped usage events in the background; `None` when every event commits at once.
    writer: Option<audit::Writer<B>>,
}

/// Everything a vault holds, shared between its handle and its background audit writer.
pub(crate) struct State<B: Backend> {
    backend: B,
    options: VaultOptions,
    /// `options.actor`, shared by every audit event instead of copied into each.
    actor: Arc<str>,
    unlocked: RwLock<Option<Arc<Unlocked>>>,
    cache: RwLock<Cache>,
    counters: Counters,
    audit: audit::AuditBuffer,
}

/// A vault in one SQLite file: the embedded default.
pub type FileVault = Vault<FileBackend>;
/// A vault in memory, gone when dropped.
pub type MemoryVault = Vault<MemoryBackend>;

impl<B: Backend> std::fmt::Debug for Vault<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("actor", &self.state.options.actor)
            .field("audit_commit", &self.state.options.audit_commit)
            .finish_non_exhaustive()
    }
}

/// How often an optimistic transaction is retried after a conflict before giving up.
const MAX_ATTEMPTS: usize = 1000;

impl FileVault {
    /// Create a vault file at `path` protected by `password`.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the file exists; weak Argon2 parameters; I/O errors.
    pub fn create(
        path: impl AsRef<std::path::Path>,
        password: &[u8],
        options: VaultOptions,
    ) -> Result<Self> {
        let path = path.as_ref();
        FileVault::build_then_publish(path, options, |backend, options| {
            Vault::init(backend, password, options)
        })
    }

    /// Build a vault in a temporary file beside `path` and make it appear at `path` only when
    /// complete, so a crash or an error part way never leaves a half-made vault there.
    pub(crate) fn build_then_publish(
        path: &std::path::Path,
        options: VaultOptions,
        build: impl FnOnce(FileBackend, VaultOptions) -> Result<Self>,
    ) -> Result<Self> {
        if path.exists() {
            return Err(StoreError::AlreadyExists(path.display().to_string()));
        }
        FileBackend::create_parent_dir(path)?;
        let io_error = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::AlreadyExists(path.display().to_string())
            } else {
                StoreError::Io {
                    path: path.display().to_string(),
                    source,
                }
            }
        };
        // An empty private file that SQLite fills in, moved to `path` only once complete.
        let new_file = crate::durable::NewFile::create(path).map_err(io_error)?;
        let temporary = new_file.temporary_path().to_path_buf();
        let built = FileBackend::initialise(&temporary).and_then(|backend| {
            let vault = build(backend, options.clone())?;
            vault.flush_audit()?;
            // Dropping the vault closes its connections, folding the log into the file.
            vault.state.unlocked()
        });
        let published = built.and_then(|unlocked| {
            new_file
                .publish(crate::durable::Overwrite::Refuse)
                .map_err(io_error)?;
            Ok(unlocked)
        });
        match published {
            Ok(unlocked) => {
                let backend = FileBackend::open(path)?.with_busy_wait(options.busy_wait.clone())?;
                Ok(Vault::assemble(backend, options, unlocked))
            }
            Err(err) => {
                // The temporary file itself is gone with `new_file`; SQLite's side files too.
                FileBackend::remove(&temporary);
                Err(err)
            }
        }
    }

    /// Open the vault file at `path` with `password`.
    ///
    /// # Errors
    /// [`StoreError::NoVault`], [`StoreError::NotAVault`], [`StoreError::WrongPassword`],
    /// [`StoreError::Tampered`].
    pub fn open_file(
        path: impl AsRef<std::path::Path>,
        password: &[u8],
        options: VaultOptions,
    ) -> Result<Self> {
        FileVault::open_file_with(path, &Unlock::Password(password), options)
    }

    /// Open the vault file at `path` through any kind of keyslot.
    ///
    /// # Errors
    /// As [`FileVault::open_file`], and for other slot kinds as [`Vault::open_with`].
    pub fn open_file_with(
        path: impl AsRef<std::path::Path>,
        how: &Unlock<'_>,
        options: VaultOptions,
    ) -> Result<Self> {
        let backend = FileBackend::open(path)?.with_busy_wait(options.busy_wait.clone())?;
        Vault::open_with(backend, how, options)
    }
}

impl FileVault {
    /// The vault file's permission bits if group or others can access it (it should be 0600);
    /// `None` when it is private.
    ///
    /// # Errors
    /// I/O errors reading the file's metadata.
    pub fn insecure_permissions(&self) -> Result<Option<u32>> {
        self.state.backend.insecure_permissions()
    }
}

impl MemoryVault {
    /// A new vault in memory.
    ///
    /// # Errors
    /// As [`Vault::init`].
    pub fn in_memory(password: &[u8], options: VaultOptions) -> Result<Self> {
        Vault::init(MemoryBackend::new(), password, options)
    }
}

impl<B: Backend> Vault<B> {
    /// Initialise a new vault on an empty `backend`: a random master key, wrapped in a password
    /// keyslot, and an empty audit log whose first event records the creation.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the backend already holds a vault; parameter and
    /// storage errors.
    pub fn init(backend: B, password: &[u8], options: VaultOptions) -> Result<Self> {
        if backend.get(&singleton_key(Table::Header))?.is_some() {
            return Err(StoreError::AlreadyExists("a vault".to_owned()));
        }
        let now = options.clock.now();
        let master = SecretKey::generate()?;
        let header = Header::create(&master, password, &options.argon2, now)?;
        let barrier = Barrier::new(&master, header.vault_id)?;
        let vault = Vault::assemble(backend, options, Arc::new(Unlocked { master, barrier }));
        let unlocked = vault.state.unlocked()?;
        let genesis = VaultMeta {
            audit_head: keyvault_core::ChainHead::GENESIS,
            records: RecordHead::default(),
            lineage: keyvault_crypto::random::bytes()?,
        };
        let batch = Batch::new().put(
            singleton_key(Table::Header),
            header.to_bytes()?,
            Expect::Absent,
        );
        head::commit_with_head(
            &vault.state.backend,
            &unlocked.barrier,
            batch,
            genesis,
            None,
        )?;
        // A vault is complete without this event, so a crash before it commits leaves a
        // valid vault with an empty log.
        let event = vault
            .state
            .event(now, AuditOperation::InitVault, Outcome::Ok);
        vault
            .state
            .commit_with_audit(&unlocked, Batch::new(), vec![event])?;
        Ok(vault)
    }

    /// Open an existing vault with `password`, and check every record against the record head
    /// sealed in its metadata.
    ///
    /// # Errors
    /// [`StoreError::NotAVault`] if the backend holds no vault, [`StoreError::WrongPassword`] if
    /// no keyslot opens, [`StoreError::Tampered`] if the header or metadata fail their checks,
    /// [`StoreError::RecordsRolledBack`] if a record was put back from an older copy, deleted or
    /// added.
    pub fn open(backend: B, password: &[u8], options: VaultOptions) -> Result<Self> {
        Vault::open_with(backend, &Unlock::Password(password), options)
    }

    /// Open an existing vault through any kind of keyslot: a password, the recovery key, enough
    /// shares, or a provider holding an external key. Checks as [`Vault::open`].
    ///
    /// # Errors
    /// As [`Vault::open`]; [`StoreError::NoSlot`] if the vault has no slot of the kind
    /// offered; [`StoreError::SlotRefused`] if the secret opens none; for shares,
    /// [`StoreError::ForeignShare`] and [`StoreError::Shares`]; [`StoreError::Provider`]
    /// when an external provider fails.
    pub fn open_with(backend: B, how: &Unlock<'_>, options: VaultOptions) -> Result<Self> {
        let unlocked = unlock_checked(&backend, how)?;
        let vault = Vault::assemble(backend, options, Arc::new(unlocked));
        let now = vault.state.now();
        vault
            .state
            .audit_usage(vault.state.event(now, AuditOperation::Unlock, Outcome::Ok))?;
        Ok(vault)
    }

    fn assemble(backend: B, options: VaultOptions, unlocked: Arc<Unlocked>) -> Self {
        let state = Arc::new(State {
            backend,
            actor: Arc::from(options.actor.as_str()),
            audit: audit::AuditBuffer::new(options.audit_commit),
            options,
            unlocked: RwLock::new(Some(unlocked)),
            cache: RwLock::new(Cache::default()),
            counters: Counters::default(),
        });
        let writer = audit::Writer::start(&state);
        Vault { state, writer }
    }

    /// The backend this vault stores into; callers reach it through
    /// [`DangerousVault::backend`](crate::dangerous::DangerousVault::backend).
    pub(crate) fn backend(&self) -> &B {
        &self.state.backend
    }

    /// The operations that move key material in the clear (export, import, snapshot) or reach
    /// under the vault's checks (the raw backend, recording refusals made elsewhere): what a
    /// backup tool needs and an application does not. See [`crate::dangerous`].
    #[must_use]
    pub fn dangerous(&self) -> DangerousVault<'_, B> {
        DangerousVault::new(self)
    }

    /// The options this vault was opened with.
    pub fn options(&self) -> &VaultOptions {
        &self.state.options
    }

    /// Commit buffered audit events, then wipe the master key and every cached key from
    /// memory. Every operation but [`Vault::unlock`] then fails with [`StoreError::Locked`].
    ///
    /// # Errors
    /// Storage errors from the final audit commit (the keys are wiped regardless).
    pub fn lock(&self) -> Result<()> {
        let flushed = self.flush_audit();
        if let Ok(mut unlocked) = self.state.unlocked.write() {
            *unlocked = None;
        }
        if let Ok(mut cache) = self.state.cache.write() {
            *cache = Cache::default();
        }
        self.state.counters.clear();
        flushed
    }

    /// Unlock a locked vault again, checking its records as [`Vault::open`] does.
    ///
    /// # Errors
    /// As [`Vault::open`].
    pub fn unlock(&self, password: &[u8]) -> Result<()> {
        self.unlock_with(&Unlock::Password(password))
    }

    /// Unlock a locked vault through any kind of keyslot.
    ///
    /// # Errors
    /// As [`Vault::open_with`].
    pub fn unlock_with(&self, how: &Unlock<'_>) -> Result<()> {
        let unlocked = unlock_checked(&self.state.backend, how)?;
        *self
            .state
            .unlocked
            .write()
            .map_err(|_| StoreError::Poisoned)? = Some(Arc::new(unlocked));
        let now = self.state.now();
        self.state
            .audit_usage(self.state.event(now, AuditOperation::Unlock, Outcome::Ok))
    }

    /// Whether the vault is unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.state
            .unlocked
            .read()
            .is_ok_and(|unlocked| unlocked.is_some())
    }

    /// Rewrap the master key under `new_password` (with the vault's Argon2 settings). Keys and
    /// records are untouched; the header and its audit event commit together. Then the backend
    /// is scrubbed ([`Vault::scrub`]) so no copy of the old keyslot stays on disk, where anyone
    /// who learned the old password could use it: the result says whether that completed.
    ///
    /// # Errors
    /// [`StoreError::Locked`]; weak parameters; storage errors.
    pub fn change_password(&self, new_password: &[u8]) -> Result<Scrub> {
        let unlocked = self.state.unlocked()?;
        self.flush_audit()?;
        for _ in 0..MAX_ATTEMPTS {
            let record = self
                .state
                .backend
                .get(&singleton_key(Table::Header))?
                .ok_or_else(|| StoreError::tampered("vault header (missing)"))?;
            let header = Header::parse(&record.value, &self.state.backend.describe())?;
            let updated = header.change_password(
                &unlocked.master,
                &unlocked.barrier,
                new_password,
                &self.state.options.argon2,
            )?;
            let batch = Batch::new().put(
                singleton_key(Table::Header),
                updated.to_bytes()?,
                Expect::Revision(record.revision),
            );
            let event = self.state.event(
                self.state.now(),
                AuditOperation::ChangePassword,
                Outcome::Ok,
            );
            match self.state.commit_with_audit(&unlocked, batch, vec![event]) {
                Err(err) if err.is_retryable() => continue,
                other => return other.and_then(|_| self.scrub()),
            }
        }
        Err(StoreError::Busy)
    }

    /// Remove old copies of overwritten and deleted records (a replaced keyslot, destroyed key
    /// material) from the backend's files. The vault does this itself after a password change
    /// and after destroying material; call it again to learn whether it has completed, for
    /// example after another process held a read open. [`Scrub::Incomplete`] means another
    /// reader kept the old data in use for the whole bounded wait (about 2 s on a file vault).
    ///
    /// # Errors
    /// Storage errors.
    pub fn scrub(&self) -> Result<Scrub> {
        self.state.backend.compact()
    }

    /// Drop cached keys if anyone (another thread or process) has committed since they were
    /// read, so a key revoked elsewhere is never used here. Returns the sequence checked.
    fn refresh_cache(&self) -> Result<u64> {
        let cached = || -> Result<u64> {
            Ok(self
                .state
                .cache
                .read()
                .map_err(|_| StoreError::Poisoned)?
                .sequence)
        };
        let mut sequence = self.state.backend.sequence()?;
        if cached()? != sequence && self.state.audit_commit_in_flight()? {
            // Most likely the change is this vault's own audit commit, which leaves keys as
            // they were but has not yet said so: let it finish (it is about to), then look again.
            self.state.await_audit_commit()?;
            sequence = self.state.backend.sequence()?;
        }
        if cached()? != sequence {
            let mut cache = self.state.cache.write().map_err(|_| StoreError::Poisoned)?;
            if cache.sequence != sequence {
                *cache = Cache::default();
                cache.sequence = sequence;
            }
        }
        Ok(sequence)
    }

    /// The key named `name`, from the cache or the store.
    pub(crate) fn key_by_name(&self, name: &KeyName) -> Result<Arc<LoadedKey>> {
        let sequence = self.refresh_cache()?;
        let cached = {
            let cache = self.state.cache.read().map_err(|_| StoreError::Poisoned)?;
            cache
                .by_name
                .get(name)
                .and_then(|id| cache.by_id.get(id))
                .cloned()
        };
        if let Some(key) = cached {
            return Ok(key);
        }
        let unlocked = self.state.unlocked()?;
        let (record, _) = self.read_record_by_name(&unlocked, name)?;
        self.cache_insert(record, sequence)
    }

    /// The key with id `id`, from the cache or the store.
    pub(crate) fn key_by_id(&self, id: KeyId) -> Result<Arc<LoadedKey>> {
        let sequence = self.refresh_cache()?;
        if let Some(key) = self
            .state
            .cache
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .by_id
            .get(&id)
        {
            return Ok(Arc::clone(key));
        }
        let unlocked = self.state.unlocked()?;
        let (record, _) = self.read_record_by_id(&unlocked, id)?;
        self.cache_insert(record, sequence)
    }

    /// Cache a record read after the cache was checked at `sequence`, unless the cache has
    /// moved on since: a record read before someone else's commit must never be cached as if it
    /// were read after it.
    fn cache_insert(&self, record: KeyRecord, sequence: u64) -> Result<Arc<LoadedKey>> {
        let loaded = Arc::new(load_key(record)?);
        let mut cache = self.state.cache.write().map_err(|_| StoreError::Poisoned)?;
        if cache.sequence == sequence {
            let id = loaded.record.metadata.id();
            cache
                .by_name
                .insert(loaded.record.metadata.name().clone(), id);
            cache.by_id.insert(id, Arc::clone(&loaded));
        }
        Ok(loaded)
    }

    pub(crate) fn read_record_by_name(
        &self,
        unlocked: &Unlocked,
        name: &KeyName,
    ) -> Result<(KeyRecord, u64)> {
        let name_key = unlocked
            .barrier
            .storage_key(Table::Names, name.as_str().as_bytes());
        let entry = self
            .state
            .backend
            .get(&name_key)?
            .ok_or_else(|| StoreError::KeyNotFound(name.to_string()))?;
        let entry: NameEntry = unlocked
            .barrier
            .open(Table::Names, &name_key, &entry.value)?;
        let (record, revision) = self.read_record_by_id(unlocked, entry.key_id)?;
        if record.metadata.name() != name {
            return Err(StoreError::tampered("the name index"));
        }
        Ok((record, revision))
    }

    pub(crate) fn read_record_by_id(
        &self,
        unlocked: &Unlocked,
        id: KeyId,
    ) -> Result<(KeyRecord, u64)> {
        let key = unlocked.barrier.storage_key(Table::Keys, id.as_bytes());
        let stored = self
            .state
            .backend
            .get(&key)?
            .ok_or_else(|| StoreError::KeyNotFound(id.to_string()))?;
        let record: KeyRecord = unlocked.barrier.open(Table::Keys, &key, &stored.value)?;
        if record.metadata.id() != id {
            return Err(StoreError::tampered("a key record"));
        }
        Ok((record, stored.revision))
    }
}

impl<B: Backend> State<B> {
    pub(crate) fn now(&self) -> Timestamp {
        self.options.clock.now()
    }

    pub(crate) fn unlocked(&self) -> Result<Arc<Unlocked>> {
        self.unlocked
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .clone()
            .ok_or(StoreError::Locked)
    }

    /// An audit event stamped with this vault's actor.
    pub(crate) fn event(
        &self,
        now: Timestamp,
        operation: AuditOperation,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent::new(now, operation, outcome, Arc::clone(&self.actor))
    }

    fn read_meta(&self) -> Result<(VaultMeta, u64)> {
        head::read_meta(&self.backend, &self.unlocked()?.barrier)
    }

    /// Commit `batch` together with `events` appended to the audit chain, in one transaction.
    /// Returns the commit's sequence number; [`StoreError::Conflict`] if anything changed
    /// meanwhile (the caller re-reads and retries).
    pub(crate) fn commit_with_audit(
        &self,
        unlocked: &Unlocked,
        mut batch: Batch,
        events: Vec<AuditEvent>,
    ) -> Result<u64> {
        let changes_keys = !batch.is_empty();
        let (mut meta, meta_revision) = self.read_meta()?;
        let mut head = meta.audit_head;
        // One sealed segment per commit, keyed by its first sequence number: a group commit of
        // many usage events costs one seal and one row, not one per event.
        let segment_key = crate::barrier::audit_key(head.count);
        let mut segment = Vec::with_capacity(events.len());
        for event in events {
            let (record, next) = head.append(&unlocked.barrier.audit_mac, event)?;
            segment.push(record);
            head = next;
        }
        if !segment.is_empty() {
            let sealed = unlocked
                .barrier
                .seal_bytes(&segment_key, &encode_segment(&segment))?;
            batch = batch.put(segment_key, sealed, Expect::Absent);
        }
        meta.audit_head = head;
        let sequence = head::commit_with_head(
            &self.backend,
            &unlocked.barrier,
            batch,
            meta,
            Some(meta_revision),
        )?;
        self.note_own_commit(sequence, changes_keys);
        Ok(sequence)
    }

    /// After our own commit: a commit of audit events alone leaves cached keys valid (if no
    /// one else committed in between); anything else empties the cache.
    fn note_own_commit(&self, sequence: u64, changes_keys: bool) {
        if let Ok(mut cache) = self.cache.write() {
            if !changes_keys && cache.sequence.saturating_add(1) == sequence {
                cache.sequence = sequence;
            } else {
                *cache = Cache::default();
            }
        }
    }
}

impl<B: Backend> Drop for Vault<B> {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.stop();
        }
        // Best effort: an error here has nowhere to go, and the events are only usage events.
        let _ = self.flush_audit();
    }
}

/// The audit outcome of a failed request: denied by policy or state, or an error of some kind.
pub(crate) fn outcome_of(err: &StoreError) -> Outcome {
    match err {
        StoreError::Core(keyvault_core::Error::Denied { denial, .. }) => {
            Outcome::Denied { reason: *denial }
        }
        other => Outcome::Error { kind: other.kind() },
    }
}

/// The audit outcome of a finished request.
pub(crate) fn outcome_of_result<T>(result: &Result<T>) -> Outcome {
    result.as_ref().map_or_else(outcome_of, |_| Outcome::Ok)
}

/// Unlock with `password`, then check every record against the record head. Reading the
/// records needs no key, so it runs on a second thread beside the password derivation, and
/// opening a large vault costs little more than the derivation itself.
fn unlock_checked<B: Backend>(backend: &B, how: &Unlock<'_>) -> Result<Unlocked> {
    let (unlocked, scanned) = std::thread::scope(|scope| {
        let scanning = scope.spawn(|| head::scan(backend));
        let unlocked = unlock_backend(backend, how);
        let scanned = scanning
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (unlocked, scanned)
    });
    let unlocked = unlocked?;
    head::verify(backend, &unlocked.barrier, scanned?)?;
    Ok(unlocked)
}

/// Read the header, unlock a keyslot, derive the subkeys and check the header's MAC.
fn unlock_backend<B: Backend>(backend: &B, how: &Unlock<'_>) -> Result<Unlocked> {
    let header = slots::read_header_of(backend)?;
    let master = header.unlock(how)?;
    let barrier = Barrier::new(&master, header.vault_id)?;
    header.verify_mac(&barrier)?;
    Ok(Unlocked { master, barrier })
}

/// Build the ready-to-use keys of every version that still has material.
fn load_key(record: KeyRecord) -> Result<LoadedKey> {
    let aead_algorithm = record.metadata.algorithm().aead();
    let mut versions = HashMap::new();
    for (&version, material) in &record.material {
        let root = material.to_secret();
        let aead = aead_algorithm
            .map(|algorithm| AeadKey::new(algorithm, &derive_subkey(&root, "key-aead", &[])?))
            .transpose()?;
        versions.insert(
            version,
            VersionKey {
                aead,
                mac: derive_subkey(&root, "key-hmac", &[])?,
                derive: derive_subkey(&root, "key-derive", &[])?,
            },
        );
    }
    Ok(LoadedKey { record, versions })
}
