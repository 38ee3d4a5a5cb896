//! Creating keys, reading them, and every management change: lifecycle transitions, version
//! states, rotation, trim, policy and metadata updates.
//!
//! Each change is one optimistic transaction: read the key record, apply keyvault-core's checked
//! method, then commit the new record together with its audit event, conditional on the record's
//! revision. A conflict (another thread or process changed the key) re-reads and re-applies.

use std::collections::BTreeMap;

use keyvault_core::{
    AuditOperation, KeyAlgorithm, KeyId, KeyMetadata, KeyName, KeyPolicy, KeyVersion, Outcome,
    StateKind, Timestamp, Transition, VersionTransition,
};

use super::{MAX_ATTEMPTS, Vault, outcome_of};
use crate::backend::{Backend, Batch, Expect};
use crate::barrier::Table;
use crate::error::{Result, StoreError};
use crate::records::{KeyRecord, Material, NameEntry};

/// What a new key should be.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// Its unique name.
    pub name: KeyName,
    /// Its algorithm (and so its purpose: encryption or MAC).
    pub algorithm: KeyAlgorithm,
    /// Labels for grouping and filtering.
    pub labels: BTreeMap<String, String>,
    /// A free-text description.
    pub description: String,
    /// Its usage policy.
    pub policy: KeyPolicy,
    /// When it stops working (exclusive), if ever.
    pub expires_at: Option<Timestamp>,
    /// Whether its material may ever be exported (can only be switched off later).
    pub exportable: bool,
    /// Create it Pending (unusable until activated) instead of Active.
    pub pending: bool,
}

impl NewKey {
    /// An Active, non-exportable key with the default policy.
    #[must_use]
    pub fn new(name: KeyName, algorithm: KeyAlgorithm) -> Self {
        NewKey {
            name,
            algorithm,
            labels: BTreeMap::new(),
            description: String::new(),
            policy: KeyPolicy::default(),
            expires_at: None,
            exportable: false,
            pending: false,
        }
    }
}

/// Which keys [`Vault::list_keys`] returns. Every field that is set must match.
#[derive(Clone, Debug, Default)]
pub struct KeyFilter {
    /// Keys in this state.
    pub state: Option<StateKind>,
    /// Keys with this algorithm.
    pub algorithm: Option<KeyAlgorithm>,
    /// Keys carrying this label with this value.
    pub label: Option<(String, String)>,
}

impl KeyFilter {
    fn matches(&self, metadata: &KeyMetadata) -> bool {
        self.state
            .is_none_or(|state| metadata.state().kind() == state)
            && self.algorithm.is_none_or(|alg| metadata.algorithm() == alg)
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| metadata.labels().get(k) == Some(v))
    }
}

impl<B: Backend> Vault<B> {
    /// Create a key with fresh random material for version 1.
    ///
    /// # Errors
    /// [`StoreError::NameTaken`] if the name is in use; invalid labels or description; storage
    /// errors.
    pub fn create_key(&self, spec: NewKey) -> Result<KeyMetadata> {
        let unlocked = self.state.unlocked()?;
        self.flush_audit()?;
        let now = self.state.now();
        let id = KeyId::generate()?;
        let mut metadata = if spec.pending {
            KeyMetadata::new_pending(id, spec.name.clone(), spec.algorithm, now)
        } else {
            KeyMetadata::new(id, spec.name.clone(), spec.algorithm, now)
        }
        .with_policy(spec.policy);
        if spec.exportable {
            metadata = metadata.with_export_allowed();
        }
        if let Some(expires_at) = spec.expires_at {
            metadata = metadata.with_expiry(expires_at);
        }
        if !spec.description.is_empty() {
            metadata = metadata.with_description(spec.description)?;
        }
        for (key, value) in spec.labels {
            metadata = metadata.with_label(key, value)?;
        }
        let mut material = BTreeMap::new();
        material.insert(KeyVersion::FIRST.get(), Material::generate()?);
        let record = KeyRecord {
            metadata: metadata.clone(),
            material,
        };
        let name_key = unlocked
            .barrier
            .storage_key(Table::Names, spec.name.as_str().as_bytes());
        let key_key = unlocked.barrier.storage_key(Table::Keys, id.as_bytes());
        let batch = Batch::new()
            .put(
                name_key.clone(),
                unlocked
                    .barrier
                    .seal(&name_key, &NameEntry { key_id: id }, 256)?,
                Expect::Absent,
            )
            .put(
                key_key.clone(),
                unlocked
                    .barrier
                    .seal(&key_key, &record, record.encoded_size_hint())?,
                Expect::Absent,
            );
        let event = self
            .state
            .event(now, AuditOperation::CreateKey, Outcome::Ok)
            .for_key(id, Some(KeyVersion::FIRST))
            .with_key_name(spec.name.clone())
            .with_detail("algorithm", spec.algorithm.name());
        for _ in 0..MAX_ATTEMPTS {
            if self.state.backend.get(&name_key)?.is_some() {
                let err = StoreError::NameTaken(spec.name.to_string());
                self.audit_failure(AuditOperation::CreateKey, None, Some(&spec.name), &err)?;
                return Err(err);
            }
            match self
                .state
                .commit_with_audit(&unlocked, batch.clone(), vec![event.clone()])
            {
                Err(err) if err.is_retryable() => continue,
                other => return other.map(|_| metadata),
            }
        }
        Err(StoreError::Busy)
    }

    /// The metadata of the key named `name`.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`]; storage errors.
    pub fn key(&self, name: &KeyName) -> Result<KeyMetadata> {
        Ok(self.key_by_name(name)?.record.metadata.clone())
    }

    /// The metadata of the key with id `id`.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`]; storage errors.
    pub fn key_by_key_id(&self, id: KeyId) -> Result<KeyMetadata> {
        Ok(self.key_by_id(id)?.record.metadata.clone())
    }

    /// Every key matching `filter`, by name.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] if a record fails to open; storage errors.
    pub fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<KeyMetadata>> {
        let unlocked = self.state.unlocked()?;
        let mut keys = Vec::new();
        for stored in self.state.backend.scan_prefix(&[Table::Keys.prefix()])? {
            let record: KeyRecord =
                unlocked
                    .barrier
                    .open(Table::Keys, &stored.key, &stored.value)?;
            if filter.matches(&record.metadata) {
                keys.push(record.metadata.clone());
            }
        }
        keys.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(keys)
    }

    /// Apply a lifecycle transition (activate, disable, enable, deprecate, revoke, schedule or
    /// cancel deletion, destroy). Destroying erases every version's material; the metadata
    /// stays as a tombstone.
    ///
    /// # Errors
    /// The core's [`keyvault_core::Error::InvalidTransition`] for a transition the table does
    /// not allow (audited as refused); [`StoreError::KeyNotFound`]; storage errors.
    pub fn transition(&self, name: &KeyName, transition: Transition) -> Result<KeyMetadata> {
        self.modify_key(name, transition.into(), |record, now| {
            let change = record.metadata.transition(transition, now)?;
            Ok(Some(vec![
                ("from", change.from.kind().as_str().to_owned()),
                ("to", change.to.kind().as_str().to_owned()),
            ]))
        })
    }

    /// Change the state of one version (disable, enable, revoke, destroy).
    ///
    /// # Errors
    /// The core's errors for a refused change (for example destroying the version that
    /// encrypts); [`StoreError::KeyNotFound`]; storage errors.
    pub fn version_transition(
        &self,
        name: &KeyName,
        version: KeyVersion,
        transition: VersionTransition,
    ) -> Result<KeyMetadata> {
        self.modify_version(name, Some(version), transition.into(), |record, now| {
            let change = record
                .metadata
                .version_transition(version, transition, now)?;
            Ok(Some(vec![
                ("version", change.version.get().to_string()),
                ("from", change.from.as_str().to_owned()),
                ("to", change.to.as_str().to_owned()),
            ]))
        })
    }

    /// Add a new version with fresh material; it encrypts from now on.
    ///
    /// # Errors
    /// The core's [`keyvault_core::Error::RotationRefused`] outside Pending, Active and
    /// Disabled; [`StoreError::KeyNotFound`]; storage errors.
    pub fn rotate(&self, name: &KeyName) -> Result<KeyMetadata> {
        self.rotate_with(name, None, "manual")
    }

    /// Rotate, unless the key already moved past `seen_version` (another thread or process
    /// rotated it first).
    pub(crate) fn rotate_with(
        &self,
        name: &KeyName,
        seen_version: Option<KeyVersion>,
        trigger: &str,
    ) -> Result<KeyMetadata> {
        self.modify_key(name, AuditOperation::Rotate, |record, now| {
            if seen_version.is_some() && record.metadata.encryption_version() != seen_version {
                // Another thread or process rotated first: nothing to do.
                return Ok(None);
            }
            let version = record.metadata.rotate(now)?;
            record.material.insert(version.get(), Material::generate()?);
            Ok(Some(vec![
                ("version", version.get().to_string()),
                ("trigger", trigger.to_owned()),
            ]))
        })
    }

    /// Set the lowest version that may decrypt.
    ///
    /// # Errors
    /// The core's errors (unknown version, no version left to encrypt); storage errors.
    pub fn set_min_decryption_version(
        &self,
        name: &KeyName,
        version: KeyVersion,
    ) -> Result<KeyMetadata> {
        self.modify_key(
            name,
            AuditOperation::SetMinDecryptionVersion,
            |record, now| {
                let previous = record.metadata.set_min_decryption_version(version, now)?;
                Ok(Some(vec![
                    ("from", previous.get().to_string()),
                    ("to", version.get().to_string()),
                ]))
            },
        )
    }

    /// Destroy every version below `floor` (erasing its material) and raise the decryption
    /// floor to it.
    ///
    /// # Errors
    /// The core's errors (for example a floor above the encrypting version); storage errors.
    pub fn trim(&self, name: &KeyName, floor: KeyVersion) -> Result<KeyMetadata> {
        self.modify_key(name, AuditOperation::Trim, |record, now| {
            let destroyed = record.metadata.trim(floor, now)?;
            Ok(Some(vec![
                ("floor", floor.get().to_string()),
                ("destroyed", destroyed.len().to_string()),
            ]))
        })
    }

    /// Replace the key's policy. The audit event names the fields that changed.
    ///
    /// # Errors
    /// The core's errors (a destroyed key); storage errors.
    pub fn set_policy(&self, name: &KeyName, policy: KeyPolicy) -> Result<KeyMetadata> {
        self.modify_key(name, AuditOperation::UpdatePolicy, |record, now| {
            let change = record.metadata.update_policy(policy.clone(), now)?;
            Ok(Some(vec![("changed", change.changed_fields().join(","))]))
        })
    }

    /// Forbid export of the key's material, for good.
    ///
    /// # Errors
    /// The core's errors (a destroyed key); storage errors.
    pub fn disallow_export(&self, name: &KeyName) -> Result<KeyMetadata> {
        self.modify_key(name, AuditOperation::DisallowExport, |record, now| {
            let changed = record.metadata.disallow_export(now)?;
            Ok(Some(vec![("changed", changed.to_string())]))
        })
    }

    /// Change the key's labels, description or expiry with `edit` (the core's checked setters).
    ///
    /// # Errors
    /// Whatever `edit` returns; storage errors.
    pub fn update_metadata(
        &self,
        name: &KeyName,
        edit: impl Fn(&mut KeyMetadata, Timestamp) -> keyvault_core::Result<()>,
    ) -> Result<KeyMetadata> {
        self.modify_key(name, AuditOperation::UpdateMetadata, |record, now| {
            edit(&mut record.metadata, now)?;
            if record.metadata.name() != name {
                // The name index must change in the same transaction: that is rename_key's job.
                return Err(keyvault_core::Error::InvalidMetadata {
                    reason: "update_metadata cannot rename a key; use rename_key",
                }
                .into());
            }
            Ok(Some(Vec::new()))
        })
    }

    /// Give the key named `name` the name `new_name`; its id, versions and ciphertexts are
    /// unchanged. The old name is free again afterwards.
    ///
    /// # Errors
    /// [`StoreError::NameTaken`] if `new_name` is in use; [`StoreError::KeyNotFound`]; storage
    /// errors.
    pub fn rename_key(&self, name: &KeyName, new_name: &KeyName) -> Result<KeyMetadata> {
        let unlocked = self.state.unlocked()?;
        self.flush_audit()?;
        let old_index = unlocked
            .barrier
            .storage_key(Table::Names, name.as_str().as_bytes());
        let new_index = unlocked
            .barrier
            .storage_key(Table::Names, new_name.as_str().as_bytes());
        for _ in 0..MAX_ATTEMPTS {
            let now = self.state.now();
            let (mut record, revision) = self.read_record_by_name(&unlocked, name)?;
            let id = record.metadata.id();
            if self.state.backend.get(&new_index)?.is_some() {
                let err = StoreError::NameTaken(new_name.to_string());
                self.audit_failure(AuditOperation::UpdateMetadata, Some(id), Some(name), &err)?;
                return Err(err);
            }
            let index_revision = self
                .state
                .backend
                .get(&old_index)?
                .map_or(Expect::Absent, |stored| Expect::Revision(stored.revision));
            record.metadata.rename(new_name.clone(), now)?;
            let key = unlocked.barrier.storage_key(Table::Keys, id.as_bytes());
            let batch = Batch::new()
                .put(
                    key.clone(),
                    unlocked
                        .barrier
                        .seal(&key, &record, record.encoded_size_hint())?,
                    Expect::Revision(revision),
                )
                .delete(old_index.clone(), index_revision)
                .put(
                    new_index.clone(),
                    unlocked
                        .barrier
                        .seal(&new_index, &NameEntry { key_id: id }, 256)?,
                    Expect::Absent,
                );
            let event = self
                .state
                .event(now, AuditOperation::UpdateMetadata, Outcome::Ok)
                .for_key(id, None)
                .with_key_name(new_name.clone())
                .with_detail("renamed_from", name.as_str());
            match self.state.commit_with_audit(&unlocked, batch, vec![event]) {
                Ok(_) => return Ok(record.metadata),
                Err(err) if err.is_retryable() => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Busy)
    }

    /// [`Vault::modify_version`] for a change of the key as a whole: its audit event names the
    /// version that encrypts after the change.
    fn modify_key(
        &self,
        name: &KeyName,
        operation: AuditOperation,
        change: impl Fn(&mut KeyRecord, Timestamp) -> Result<Option<Vec<(&'static str, String)>>>,
    ) -> Result<KeyMetadata> {
        self.modify_version(name, None, operation, change)
    }

    /// The one path every management change takes: read, change, commit with its audit event,
    /// retry on conflict; a refused change is audited too. A change that returns `None` found
    /// nothing to do and commits nothing. The audit event names `version`, the version changed,
    /// or for a change of the whole key (`None`) the version that encrypts after it.
    fn modify_version(
        &self,
        name: &KeyName,
        version: Option<KeyVersion>,
        operation: AuditOperation,
        change: impl Fn(&mut KeyRecord, Timestamp) -> Result<Option<Vec<(&'static str, String)>>>,
    ) -> Result<KeyMetadata> {
        let unlocked = self.state.unlocked()?;
        self.flush_audit()?;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.state.now();
            let (mut record, revision) = match self.read_record_by_name(&unlocked, name) {
                Ok(found) => found,
                Err(err) => {
                    self.audit_failure(operation, None, Some(name), &err)?;
                    return Err(err);
                }
            };
            let id = record.metadata.id();
            let details = match change(&mut record, now) {
                Ok(Some(details)) => details,
                Ok(None) => return Ok(record.metadata),
                Err(err) => {
                    let event = self
                        .state
                        .event(now, operation, outcome_of(&err))
                        .for_key(id, version)
                        .with_key_name(name.clone());
                    self.audit_now(event)?;
                    return Err(err);
                }
            };
            record.forget_destroyed();
            let key = unlocked.barrier.storage_key(Table::Keys, id.as_bytes());
            let sealed = unlocked
                .barrier
                .seal(&key, &record, record.encoded_size_hint())?;
            let mut event = self
                .state
                .event(now, operation, Outcome::Ok)
                .for_key(id, version.or(record.metadata.encryption_version()))
                .with_key_name(name.clone());
            for (detail, value) in details {
                event = event.with_detail(detail, value);
            }
            let batch = Batch::new().put(key, sealed, Expect::Revision(revision));
            match self.state.commit_with_audit(&unlocked, batch, vec![event]) {
                Ok(_) => {
                    if !record.metadata.state().has_material()
                        || operation == AuditOperation::DestroyVersion
                        || operation == AuditOperation::Trim
                    {
                        // Old pages of the log may still hold the sealed material: fold the
                        // log into the file now, where secure_delete overwrites freed pages.
                        self.backend_checkpoint();
                    }
                    return Ok(record.metadata);
                }
                Err(err) if err.is_retryable() => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Busy)
    }

    /// Log a refused or failed request, synchronously.
    pub(crate) fn audit_failure(
        &self,
        operation: AuditOperation,
        id: Option<KeyId>,
        name: Option<&KeyName>,
        err: &StoreError,
    ) -> Result<()> {
        let mut event = self
            .state
            .event(self.state.now(), operation, outcome_of(err));
        if let Some(id) = id {
            event = event.for_key(id, None);
        }
        if let Some(name) = name {
            event = event.with_key_name(name.clone());
        }
        self.audit_now(event)
    }

    fn backend_checkpoint(&self) {
        // Best effort here: the change is committed whatever this says. Callers that must know
        // ask `Vault::scrub`, as the CLI does after destroying material.
        let _ = self.state.backend.compact();
    }
}
