//! What keyvault-backup builds on: taking keys and whole vaults out in the clear, and putting
//! them back. These are the only ways material leaves or enters a vault; every one is audited.
//! Callers reach them only through [`crate::dangerous`], which documents each one.
//!
//! - `export_key` / `import_key`: one key with chosen versions.
//! - `snapshot`: every key, counter and (optionally) audit record, plus the master key, read
//!   consistently; incremental when given the base it follows.
//! - `restore`: a new vault identical to the snapshots, written in one transaction.

use std::collections::BTreeMap;
use std::fmt;

use keyvault_core::audit::verify_segment;
use keyvault_core::{
    AuditOperation, AuditRecord, ChainHead, KeyId, KeyMetadata, KeyName, KeyOperation, KeyState,
    KeyVersion, Outcome, Timestamp,
};
use keyvault_crypto::SecretKey;

use super::{MAX_ATTEMPTS, Unlocked, Vault, VaultOptions};
use crate::backend::{Backend, Batch, Expect};
use crate::barrier::{Barrier, Table, audit_key, singleton_key};
use crate::error::{Result, StoreError};
use crate::head::RecordHead;
use crate::header::Header;
use crate::records::{CounterRecord, KeyRecord, NameEntry, VaultMeta};

/// One key in the clear: its metadata and the 32-byte root of each version carried.
pub struct KeyBundle {
    /// Everything about the key but its material.
    pub metadata: KeyMetadata,
    /// Version → the version's 32-byte root (see docs/STORAGE.md). Versions left out (not
    /// chosen, or destroyed) are absent.
    pub versions: BTreeMap<KeyVersion, SecretKey>,
}

impl fmt::Debug for KeyBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyBundle")
            .field("metadata", &self.metadata)
            .field("versions", &self.versions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What [`DangerousVault::import_key`](crate::dangerous::DangerousVault::import_key) does when the key's name or id is already in use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ImportConflict {
    /// Refuse (the default).
    #[default]
    Refuse,
    /// Import under this name instead.
    Rename(KeyName),
    /// Put the bundle over the vault's key of the same id and name (the same key exported
    /// earlier) under the merge rule: the vault's metadata stays and only the versions it
    /// lacks are added; a bundle that would move the key backwards is refused with
    /// [`StoreError::ReplaceRefused`] (see docs/BACKUP.md). A different key of the same name is
    /// never replaced.
    Replace,
}

/// A usage counter as a snapshot carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// The key.
    pub key_id: KeyId,
    /// Operations reserved so far.
    pub operations: u64,
    /// The version `version_uses` counts.
    pub version: u32,
    /// Uses of that version reserved so far.
    pub version_uses: u64,
}

/// Where an incremental snapshot starts: the state of the snapshot it follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotBase {
    /// The base's commit sequence number.
    pub sequence: u64,
    /// The base's audit chain head.
    pub audit_head: ChainHead,
    /// The history of the vault the base was taken from (see [`VaultSnapshot::lineage`]).
    pub lineage: [u8; 16],
}

/// A vault's whole content in the clear, as backups carry it. Handle with care: it holds the
/// master key and every key's material. Read it through its accessors; build one from
/// [`SnapshotParts`] (as a backup's decoder does) with [`VaultSnapshot::from_parts`].
pub struct VaultSnapshot {
    parts: SnapshotParts,
}

/// Everything a [`VaultSnapshot`] holds, as plain fields: what a backup format encodes and
/// decodes. Holds the master key and every key's material in the clear.
pub struct SnapshotParts {
    /// The vault's id.
    pub vault_id: [u8; 16],
    /// When the vault was created.
    pub created_at: Timestamp,
    /// The commit sequence number the snapshot was read at.
    pub sequence: u64,
    /// Which history of the vault the snapshot was read from: random when the vault was
    /// created, new at every restore. An incremental snapshot only follows a base of the same
    /// lineage, since after a restore the sequence numbers of two histories can meet.
    pub lineage: [u8; 16],
    /// The master key, so a restored vault keeps its audit chain verifiable.
    pub master_key: SecretKey,
    /// The base this snapshot follows, if it is incremental.
    pub base: Option<SnapshotBase>,
    /// Keys (all, or for an incremental snapshot those changed since the base).
    pub keys: Vec<KeyBundle>,
    /// Usage counters (all, or those changed since the base).
    pub counters: Vec<CounterSnapshot>,
    /// Audit records (all, or those after the base's head), if included.
    pub audit: Option<Vec<AuditRecord>>,
    /// The audit chain head at the snapshot.
    pub audit_head: ChainHead,
}

impl fmt::Debug for VaultSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSnapshot")
            .field("sequence", &self.parts.sequence)
            .field("lineage", &hex::encode(self.parts.lineage))
            .field("base", &self.parts.base)
            .field("keys", &self.parts.keys.len())
            .field("audit_records", &self.parts.audit.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

impl VaultSnapshot {
    /// A snapshot of `parts`, for a backup format's decoder. [`dangerous::restore`] checks a
    /// chain of snapshots before it trusts them.
    ///
    /// [`dangerous::restore`]: crate::dangerous::restore
    #[must_use]
    pub fn from_parts(parts: SnapshotParts) -> Self {
        VaultSnapshot { parts }
    }

    /// Everything this snapshot holds, as plain fields.
    #[must_use]
    pub fn into_parts(self) -> SnapshotParts {
        self.parts
    }

    /// The vault's id.
    #[must_use]
    pub fn vault_id(&self) -> [u8; 16] {
        self.parts.vault_id
    }

    /// When the vault was created.
    #[must_use]
    pub fn created_at(&self) -> Timestamp {
        self.parts.created_at
    }

    /// The commit sequence number the snapshot was read at.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.parts.sequence
    }

    /// Which history of the vault the snapshot was read from (see [`SnapshotParts::lineage`]).
    #[must_use]
    pub fn lineage(&self) -> [u8; 16] {
        self.parts.lineage
    }

    /// The vault's master key, in the clear.
    #[must_use]
    pub fn master_key(&self) -> &SecretKey {
        &self.parts.master_key
    }

    /// The base this snapshot follows, if it is incremental.
    #[must_use]
    pub fn base(&self) -> Option<SnapshotBase> {
        self.parts.base
    }

    /// Keys (all, or for an incremental snapshot those changed since the base), material in the
    /// clear.
    #[must_use]
    pub fn keys(&self) -> &[KeyBundle] {
        &self.parts.keys
    }

    /// Usage counters (all, or those changed since the base).
    #[must_use]
    pub fn counters(&self) -> &[CounterSnapshot] {
        &self.parts.counters
    }

    /// Audit records (all, or those after the base's head), if included.
    #[must_use]
    pub fn audit(&self) -> Option<&[AuditRecord]> {
        self.parts.audit.as_deref()
    }

    /// The audit chain head at the snapshot.
    #[must_use]
    pub fn audit_head(&self) -> ChainHead {
        self.parts.audit_head
    }

    /// The base a later incremental snapshot of the same vault follows.
    #[must_use]
    pub fn as_base(&self) -> SnapshotBase {
        SnapshotBase {
            sequence: self.parts.sequence,
            audit_head: self.parts.audit_head,
            lineage: self.parts.lineage,
        }
    }
}

impl<B: Backend> Vault<B> {
    /// See [`crate::dangerous::DangerousVault::export_key`].
    pub(crate) fn export_key(
        &self,
        name: &KeyName,
        versions: Option<&[KeyVersion]>,
    ) -> Result<KeyBundle> {
        let result = self.export_inner(name, versions);
        let mut event = self
            .state
            .event(
                self.state.now(),
                AuditOperation::Export,
                super::outcome_of_result(&result),
            )
            .with_key_name(name.clone());
        if let Ok(bundle) = &result {
            event = event.for_key(bundle.metadata.id(), None).with_detail(
                "versions",
                bundle
                    .versions
                    .keys()
                    .map(|v| v.get().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        self.audit_now(event)?;
        result
    }

    fn export_inner(&self, name: &KeyName, versions: Option<&[KeyVersion]>) -> Result<KeyBundle> {
        // Authorised and counted like every other use, against the durable counters.
        let (key, _) = self.prepare(self.key_by_name(name)?, KeyOperation::Export, None, 1)?;
        let record = &key.record;
        let metadata = &record.metadata;
        let chosen: Vec<KeyVersion> = match versions {
            Some(chosen) => chosen.to_vec(),
            None => record
                .material
                .keys()
                .filter_map(|&v| KeyVersion::new(v).ok())
                .collect(),
        };
        let mut out = BTreeMap::new();
        for version in chosen {
            let material = record.material.get(&version.get()).ok_or_else(|| {
                StoreError::Core(keyvault_core::Error::UnknownVersion {
                    key: metadata.id(),
                    version,
                })
            })?;
            out.insert(version, material.to_secret());
        }
        Ok(KeyBundle {
            metadata: metadata.clone(),
            versions: out,
        })
    }

    /// See [`crate::dangerous::DangerousVault::import_key`].
    pub(crate) fn import_key(
        &self,
        bundle: KeyBundle,
        on_conflict: ImportConflict,
    ) -> Result<KeyMetadata> {
        let unlocked = self.state.unlocked()?;
        self.flush_audit()?;
        let name = bundle.metadata.name().clone();
        let result = self.import_inner(&unlocked, bundle, &on_conflict);
        if let Err(err) = &result {
            self.audit_failure(AuditOperation::Import, None, Some(&name), err)?;
        }
        result
    }

    fn import_inner(
        &self,
        unlocked: &Unlocked,
        bundle: KeyBundle,
        on_conflict: &ImportConflict,
    ) -> Result<KeyMetadata> {
        let invalid = |reason: &'static str| {
            StoreError::Core(keyvault_core::Error::InvalidMetadata { reason })
        };
        let mut metadata = bundle.metadata;
        if metadata.state() == KeyState::Destroyed {
            return Err(invalid("a destroyed key cannot be imported"));
        }
        let needed: Vec<u32> = metadata
            .versions()
            .iter()
            .filter(|info| info.state != keyvault_core::VersionState::Destroyed)
            .map(|info| info.version.get())
            .collect();
        if bundle.versions.keys().any(|v| !needed.contains(&v.get())) {
            return Err(invalid(
                "the bundle carries material for a version its metadata lacks",
            ));
        }
        let now = self.state.now();
        if let ImportConflict::Rename(new_name) = on_conflict {
            metadata.rename(new_name.clone(), now)?;
        }
        let id = metadata.id();
        let name = metadata.name().clone();
        let incoming = KeyRecord::from_parts(metadata.clone(), &bundle.versions);
        let key_key = unlocked.barrier.storage_key(Table::Keys, id.as_bytes());
        let name_key = unlocked
            .barrier
            .storage_key(Table::Names, name.as_str().as_bytes());
        for _ in 0..MAX_ATTEMPTS {
            let existing = self.state.backend.get(&key_key)?;
            let name_entry = self.state.backend.get(&name_key)?;
            let (record, key_expect, previous) = match (&existing, on_conflict) {
                (None, _) => (incoming.clone(), Expect::Absent, None),
                (Some(stored), ImportConflict::Replace) => {
                    let old: KeyRecord =
                        unlocked
                            .barrier
                            .open(Table::Keys, &key_key, &stored.value)?;
                    if old.metadata.name() != &name {
                        return Err(StoreError::NameTaken(format!(
                            "{} (this key id is already in the vault as {})",
                            name,
                            old.metadata.name()
                        )));
                    }
                    let merged = crate::merge::merge_key(&old, &incoming)?;
                    (merged, Expect::Revision(stored.revision), Some(old))
                }
                (Some(_), _) => {
                    return Err(StoreError::NameTaken(format!(
                        "{name} (a key with id {id} is already in the vault)"
                    )));
                }
            };
            // Every live version must have material: a fresh import needs the bundle to carry
            // them all; a replacement keeps the vault's and needs only the versions it adds.
            let missing = record.metadata.versions().iter().any(|info| {
                info.state != keyvault_core::VersionState::Destroyed
                    && !record.material.contains_key(&info.version.get())
            });
            if missing {
                return Err(invalid("the bundle lacks material for a live version"));
            }
            let name_expect = match (&name_entry, &existing) {
                (None, _) => Expect::Absent,
                (Some(entry), Some(_)) => Expect::Revision(entry.revision),
                (Some(_), None) => return Err(StoreError::NameTaken(name.to_string())),
            };
            let mut batch = Batch::new();
            // A 96-bit-nonce version that came from elsewhere may have sealed there already.
            if let (Some(cap), Some(version)) = (
                record.metadata.algorithm().max_encryptions_per_version(),
                record.metadata.encryption_version(),
            ) && previous
                .as_ref()
                .is_none_or(|old| old.metadata.version(version).is_none())
            {
                batch = crate::counters::mark_exhausted(
                    &self.state.backend,
                    &unlocked.barrier,
                    id,
                    version,
                    cap,
                    batch,
                )?;
            }
            let batch = batch
                .put(
                    key_key.clone(),
                    unlocked
                        .barrier
                        .seal(&key_key, &record, record.encoded_size_hint())?,
                    key_expect,
                )
                .put(
                    name_key.clone(),
                    unlocked
                        .barrier
                        .seal(&name_key, &NameEntry { key_id: id }, 256)?,
                    name_expect,
                );
            let event = self
                .state
                .event(now, AuditOperation::Import, Outcome::Ok)
                .for_key(id, record.metadata.encryption_version())
                .with_key_name(name.clone())
                .with_detail("versions", bundle.versions.len().to_string());
            match self.state.commit_with_audit(unlocked, batch, vec![event]) {
                Ok(_) => return Ok(record.metadata),
                Err(err) if err.is_retryable() => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Busy)
    }

    /// See [`crate::dangerous::DangerousVault::snapshot`].
    pub(crate) fn snapshot(
        &self,
        base: Option<SnapshotBase>,
        include_audit: bool,
    ) -> Result<VaultSnapshot> {
        let unlocked = self.state.unlocked()?;
        let checked = base.map_or(Ok(()), |base| self.check_base(base));
        let mut event = self.state.event(
            self.state.now(),
            AuditOperation::Backup,
            super::outcome_of_result(&checked),
        );
        if base.is_some() {
            event = event.with_detail("incremental", "true");
        }
        self.audit_now(event)?;
        checked?;
        for _ in 0..MAX_ATTEMPTS {
            let before = self.state.backend.sequence()?;
            let snapshot = self.read_snapshot(&unlocked, base, include_audit, before)?;
            if self.state.backend.sequence()? == before {
                return Ok(snapshot);
            }
        }
        Err(StoreError::Busy)
    }

    /// Whether an incremental snapshot may follow `base`: it must come from this vault's
    /// history (its lineage, a sequence number this vault has reached, a point of its audit
    /// log). Commits only raise the sequence and extend the log, so a base that passes here
    /// stays valid for the whole snapshot.
    fn check_base(&self, base: SnapshotBase) -> Result<()> {
        // After a restore, the old and the new history number their commits alike: only the
        // lineage tells a base of this history from one of another.
        let (meta, _) = self.state.read_meta()?;
        if base.lineage != meta.lineage {
            return Err(broken_chain(
                "the base was taken from another history of this vault (a restore came between \
                 them) or from another vault; take a full backup",
            ));
        }
        // A base from the future (this vault's, before it was put back to an older copy)
        // would make changes look old; so would one whose log this vault's log does not
        // continue (a copy put back, then changed as far again).
        let in_log = match base.audit_head.count.checked_sub(1) {
            None => true,
            Some(last) => self
                .audit_record(last)?
                .is_some_and(|record| record.mac == base.audit_head.last_mac),
        };
        if base.sequence > self.state.backend.sequence()? || !in_log {
            return Err(broken_chain(
                "the base is not part of this vault's history: the vault was put back to an \
                 older copy since, so an incremental snapshot against it would miss changes; take \
                 a full backup",
            ));
        }
        Ok(())
    }

    fn read_snapshot(
        &self,
        unlocked: &Unlocked,
        base: Option<SnapshotBase>,
        include_audit: bool,
        sequence: u64,
    ) -> Result<VaultSnapshot> {
        let since = base.map_or(0, |b| b.sequence);
        let header_record = self
            .state
            .backend
            .get(&singleton_key(Table::Header))?
            .ok_or_else(|| StoreError::tampered("vault header (missing)"))?;
        let header = Header::parse(&header_record.value, &self.state.backend.describe())?;
        let mut keys = Vec::new();
        for stored in self.state.backend.scan_prefix(&[Table::Keys.prefix()])? {
            if stored.revision <= since {
                continue;
            }
            let record: KeyRecord =
                unlocked
                    .barrier
                    .open(Table::Keys, &stored.key, &stored.value)?;
            keys.push(KeyBundle {
                versions: record
                    .material
                    .iter()
                    .filter_map(|(&v, m)| Some((KeyVersion::new(v).ok()?, m.to_secret())))
                    .collect(),
                metadata: record.metadata,
            });
        }
        let mut counters = Vec::new();
        for stored in self
            .state
            .backend
            .scan_prefix(&[Table::Counters.prefix()])?
        {
            if stored.revision <= since {
                continue;
            }
            let record: CounterRecord =
                unlocked
                    .barrier
                    .open(Table::Counters, &stored.key, &stored.value)?;
            let key_id = record
                .key_id
                .ok_or_else(|| StoreError::tampered("a usage counter record"))?;
            counters.push(CounterSnapshot {
                key_id,
                operations: record.operations,
                version: record.version,
                version_uses: record.version_uses,
            });
        }
        let (meta, _) = self.state.read_meta()?;
        let audit = if include_audit {
            let from = base.map_or(0, |b| b.audit_head.count);
            Some(
                self.read_audit_records()?
                    .into_iter()
                    .filter(|record| record.seq >= from)
                    .collect(),
            )
        } else {
            None
        };
        Ok(VaultSnapshot::from_parts(SnapshotParts {
            vault_id: header.vault_id,
            created_at: header.created_at,
            sequence,
            lineage: meta.lineage,
            master_key: unlocked.master.clone(),
            base,
            keys,
            counters,
            audit,
            audit_head: meta.audit_head,
        }))
    }

    /// See [`crate::dangerous::restore`].
    pub(crate) fn restore(
        backend: B,
        snapshots: &[VaultSnapshot],
        password: &[u8],
        options: VaultOptions,
    ) -> Result<Self> {
        if backend.get(&singleton_key(Table::Header))?.is_some() {
            return Err(StoreError::AlreadyExists("a vault".to_owned()));
        }
        let (full, rest) = snapshots
            .split_first()
            .ok_or_else(|| broken_chain("no snapshot to restore"))?;
        if full.parts.base.is_some() {
            return Err(broken_chain("the first snapshot must be a full one"));
        }
        let mut previous = full;
        for next in rest {
            if next.parts.vault_id != full.parts.vault_id
                || next.parts.master_key != full.parts.master_key
            {
                return Err(broken_chain(
                    "an incremental snapshot belongs to another vault",
                ));
            }
            if next.parts.lineage != full.parts.lineage {
                return Err(broken_chain(
                    "an incremental snapshot belongs to another history of the vault (a restore \
                     came between them)",
                ));
            }
            if next.parts.base != Some(previous.as_base()) {
                return Err(broken_chain(
                    "an incremental snapshot does not follow the one before it",
                ));
            }
            previous = next;
        }
        let barrier = Barrier::new(&full.parts.master_key, full.parts.vault_id)?;
        let merged = merge_snapshots(snapshots, &barrier)?;
        let header = Header::restore(
            &full.parts.master_key,
            full.parts.vault_id,
            full.parts.created_at,
            password,
            &options.argon2,
            &barrier,
        )?;
        let unlocked = Unlocked {
            master: full.parts.master_key.clone(),
            barrier,
        };
        let batch = restore_batch(&unlocked, &header, &merged)?;
        let meta = VaultMeta {
            audit_head: merged.audit_head,
            records: RecordHead::default(),
            // A restored vault starts a history of its own: backups of the vault it came from
            // can no longer be a base for its incremental backups, nor its backups for theirs.
            lineage: keyvault_crypto::random::bytes()?,
        };
        // The restored vault continues the numbering of the last snapshot, so every later change
        // has a revision above it and an incremental snapshot against it misses none.
        let last = snapshots
            .last()
            .map_or(full.parts.sequence, |latest| latest.parts.sequence);
        backend.continue_sequence(last)?;
        crate::head::commit_with_head(&backend, &unlocked.barrier, batch, meta, None)?;
        let vault = Vault::assemble(backend, options, std::sync::Arc::new(unlocked));
        let event = vault
            .state
            .event(vault.state.now(), AuditOperation::Restore, Outcome::Ok)
            .with_detail("snapshots", snapshots.len().to_string());
        vault.audit_now(event)?;
        Ok(vault)
    }
}

fn broken_chain(reason: &'static str) -> StoreError {
    StoreError::BrokenChain { reason }
}

/// The state after applying every snapshot in order.
struct Merged {
    keys: BTreeMap<KeyId, KeyRecord>,
    counters: BTreeMap<KeyId, CounterRecord>,
    audit: Vec<AuditRecord>,
    audit_head: ChainHead,
    has_audit: bool,
}

fn merge_snapshots(snapshots: &[VaultSnapshot], barrier: &Barrier) -> Result<Merged> {
    let mut merged = Merged {
        keys: BTreeMap::new(),
        counters: BTreeMap::new(),
        audit: Vec::new(),
        audit_head: ChainHead::GENESIS,
        has_audit: snapshots.iter().all(|s| s.parts.audit.is_some()),
    };
    for snapshot in snapshots {
        for bundle in &snapshot.parts.keys {
            let record = KeyRecord::from_parts(bundle.metadata.clone(), &bundle.versions);
            if let Some(previous) = merged.keys.get(&bundle.metadata.id()) {
                crate::merge::check_successor(previous, &record)?;
            }
            merged.keys.insert(bundle.metadata.id(), record);
        }
        for counter in &snapshot.parts.counters {
            merged.counters.insert(
                counter.key_id,
                CounterRecord {
                    key_id: Some(counter.key_id),
                    operations: counter.operations,
                    version: counter.version,
                    version_uses: counter.version_uses,
                },
            );
        }
        if merged.has_audit
            && let Some(records) = &snapshot.parts.audit
        {
            verify_segment(
                &barrier.audit_mac,
                &merged.audit_head,
                records,
                &snapshot.parts.audit_head,
            )?;
            merged.audit.extend(records.iter().cloned());
        }
        merged.audit_head = snapshot.parts.audit_head;
    }
    if !merged.has_audit {
        // Without the log, the restored vault starts a fresh chain.
        merged.audit.clear();
        merged.audit_head = ChainHead::GENESIS;
    }
    Ok(merged)
}

/// One batch writing the header, every key, name, counter and audit segment (the metadata
/// record joins it when it commits).
fn restore_batch(unlocked: &Unlocked, header: &Header, merged: &Merged) -> Result<Batch> {
    let barrier = &unlocked.barrier;
    let mut batch = Batch::new().put(
        singleton_key(Table::Header),
        header.to_bytes()?,
        Expect::Absent,
    );
    for (id, record) in &merged.keys {
        let key = barrier.storage_key(Table::Keys, id.as_bytes());
        let name = barrier.storage_key(Table::Names, record.metadata.name().as_str().as_bytes());
        batch = batch
            .put(
                key.clone(),
                barrier.seal(&key, record, record.encoded_size_hint())?,
                Expect::Absent,
            )
            .put(
                name.clone(),
                barrier.seal(&name, &NameEntry { key_id: *id }, 256)?,
                Expect::Absent,
            );
    }
    for (id, counter) in &merged.counters {
        let key = barrier.storage_key(Table::Counters, id.as_bytes());
        batch = batch.put(
            key.clone(),
            barrier.seal(&key, counter, 512)?,
            Expect::Absent,
        );
    }
    if let Some(first) = merged.audit.first() {
        let key = audit_key(first.seq);
        batch = batch.put(
            key.clone(),
            barrier.seal_bytes(&key, &crate::records::encode_segment(&merged.audit))?,
            Expect::Absent,
        );
    }
    Ok(batch)
}
