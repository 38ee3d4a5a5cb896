//! [`KeyMetadata`]: everything about a key except its material, with checked updates.
//!
//! Fields are read through accessors and changed only through methods that enforce the
//! lifecycle table, the version rules and the one-way export flag, so a value of this type is
//! always consistent — deserialized ones included. Every change takes `now` and sets
//! `updated_at`; a destroyed key (the tombstone) refuses all changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::algorithm::KeyAlgorithm;
use crate::error::{Error, Result};
use crate::ids::{KeyId, KeyName, KeyVersion, truncate_for_error};
use crate::lifecycle::{KeyState, Transition, VersionState, VersionTransition};
use crate::policy::{KeyPolicy, PolicyChange};
use crate::time::Timestamp;

/// Most labels a key may carry.
pub const MAX_LABELS: usize = 64;
/// Longest label key in bytes.
pub const MAX_LABEL_KEY_LEN: usize = 63;
/// Longest label value in bytes.
pub const MAX_LABEL_VALUE_LEN: usize = 255;
/// Longest description in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;

/// One version of a key's material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Its number.
    pub version: KeyVersion,
    /// Its own state.
    pub state: VersionState,
    /// When it was created (by key creation or rotation).
    pub created_at: Timestamp,
}

/// A lifecycle change, returned so the store can audit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// The state before.
    pub from: KeyState,
    /// The state after.
    pub to: KeyState,
}

/// What a version transition did, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionStateChange {
    /// The version changed.
    pub version: KeyVersion,
    /// Its state before.
    pub from: VersionState,
    /// Its state after.
    pub to: VersionState,
}

/// Everything about a key except its material.
///
/// Versions are numbered 1..=n without gaps; destroyed versions stay in the list as tombstones
/// so that a number is never reused. Build one with [`KeyMetadata::new`] and the `with_*`
/// methods; change a stored one with the checked methods here (rotation, trim and the decryption floor among them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedMetadata")]
pub struct KeyMetadata {
    pub(crate) id: KeyId,
    pub(crate) name: KeyName,
    pub(crate) algorithm: KeyAlgorithm,
    pub(crate) state: KeyState,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) versions: Vec<VersionInfo>,
    pub(crate) min_decryption_version: KeyVersion,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) description: String,
    pub(crate) policy: KeyPolicy,
    pub(crate) exportable: bool,
}

impl KeyMetadata {
    /// A new Active key with version 1, the default policy, no labels, not exportable.
    #[must_use]
    pub fn new(id: KeyId, name: KeyName, algorithm: KeyAlgorithm, now: Timestamp) -> Self {
        KeyMetadata {
            id,
            name,
            algorithm,
            state: KeyState::Active,
            created_at: now,
            updated_at: now,
            expires_at: None,
            versions: vec![VersionInfo {
                version: KeyVersion::FIRST,
                state: VersionState::Enabled,
                created_at: now,
            }],
            min_decryption_version: KeyVersion::FIRST,
            labels: BTreeMap::new(),
            description: String::new(),
            policy: KeyPolicy::default(),
            exportable: false,
        }
    }

    /// As [`KeyMetadata::new`], but Pending: unusable until activated.
    #[must_use]
    pub fn new_pending(id: KeyId, name: KeyName, algorithm: KeyAlgorithm, now: Timestamp) -> Self {
        KeyMetadata {
            state: KeyState::Pending,
            ..KeyMetadata::new(id, name, algorithm, now)
        }
    }

    /// This key with `policy` (a creation-time builder; a stored key changes its policy with
    /// [`KeyMetadata::update_policy`], which returns the change for the audit log).
    #[must_use]
    pub fn with_policy(mut self, policy: KeyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// This key, exportable. Only at creation: once stored, export can only be switched off.
    #[must_use]
    pub fn with_export_allowed(mut self) -> Self {
        self.exportable = true;
        self
    }

    /// This key expiring at `expires_at` (exclusive).
    #[must_use]
    pub fn with_expiry(mut self, expires_at: Timestamp) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// This key with a description.
    ///
    /// # Errors
    /// [`Error::InvalidDescription`] as for [`KeyMetadata::set_description`].
    pub fn with_description(mut self, description: impl Into<String>) -> Result<Self> {
        let description = description.into();
        check_description(&description)?;
        self.description = description;
        Ok(self)
    }

    /// This key with one more label.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] as for [`KeyMetadata::set_label`].
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        insert_label(&mut self.labels, key.into(), value.into())?;
        Ok(self)
    }

    /// The key's stable id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key's name.
    #[must_use]
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key's lifecycle state.
    #[must_use]
    pub fn state(&self) -> KeyState {
        self.state
    }

    /// When the key was created.
    #[must_use]
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the key last changed.
    #[must_use]
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// When the key expires (exclusive), if ever.
    #[must_use]
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// All versions, oldest first, destroyed ones included.
    #[must_use]
    pub fn versions(&self) -> &[VersionInfo] {
        &self.versions
    }

    /// One version, if the key has it.
    #[must_use]
    pub fn version(&self, version: KeyVersion) -> Option<&VersionInfo> {
        let index = usize::try_from(version.get()).ok()?.checked_sub(1)?;
        self.versions.get(index)
    }

    /// The newest version, whatever its state.
    #[must_use]
    pub fn latest_version(&self) -> KeyVersion {
        self.versions
            .last()
            .map_or(KeyVersion::FIRST, |info| info.version)
    }

    /// The lowest version that may still decrypt.
    #[must_use]
    pub fn min_decryption_version(&self) -> KeyVersion {
        self.min_decryption_version
    }

    /// The labels, sorted by key.
    #[must_use]
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The description (empty if none).
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The usage policy.
    #[must_use]
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Whether the material may be exported.
    #[must_use]
    pub fn exportable(&self) -> bool {
        self.exportable
    }

    /// Move the key through the lifecycle table ([`KEY_TRANSITIONS`](crate::KEY_TRANSITIONS)).
    ///
    /// Destroying the key also marks every version destroyed: the store erases all material.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] naming the state, the transition and why it was refused.
    pub fn transition(&mut self, transition: Transition, now: Timestamp) -> Result<StateChange> {
        let from = self.state;
        let to = from
            .apply(transition, now)
            .map_err(|refusal| Error::InvalidTransition {
                key: self.id,
                from: from.kind(),
                transition: transition.kind(),
                refusal,
            })?;
        if to == KeyState::Destroyed {
            for info in &mut self.versions {
                info.state = VersionState::Destroyed;
            }
        }
        self.state = to;
        self.touch(now);
        Ok(StateChange { from, to })
    }

    /// Change one version's state through [`VERSION_TRANSITIONS`](crate::VERSION_TRANSITIONS).
    ///
    /// Returns the version and its state before and after.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone, [`Error::UnknownVersion`],
    /// [`Error::InvalidVersionTransition`] for a transition the table lacks, and
    /// [`Error::CurrentVersion`] for destroying the version that encrypts now.
    pub fn version_transition(
        &mut self,
        version: KeyVersion,
        transition: VersionTransition,
        now: Timestamp,
    ) -> Result<VersionStateChange> {
        self.ensure_not_destroyed()?;
        let encrypting = self.encryption_version();
        let id = self.id;
        let info = self.version_mut(version)?;
        let from = info.state;
        let to = from
            .apply(transition)
            .ok_or(Error::InvalidVersionTransition {
                key: id,
                version,
                from,
                transition,
            })?;
        if to == VersionState::Destroyed && encrypting == Some(version) {
            return Err(Error::CurrentVersion {
                key: id,
                version,
                action: "destroy",
            });
        }
        info.state = to;
        self.touch(now);
        Ok(VersionStateChange { version, from, to })
    }

    /// Replace the policy; returns the change for the audit log.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone.
    pub fn update_policy(&mut self, policy: KeyPolicy, now: Timestamp) -> Result<PolicyChange> {
        self.ensure_not_destroyed()?;
        let old = std::mem::replace(&mut self.policy, policy.clone());
        self.touch(now);
        Ok(PolicyChange { old, new: policy })
    }

    /// Make the key non-exportable, for good: nothing can make it exportable again, so a key
    /// once declared vault-only stays vault-only. Returns whether it was exportable before.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone.
    pub fn disallow_export(&mut self, now: Timestamp) -> Result<bool> {
        self.ensure_not_destroyed()?;
        let was = std::mem::replace(&mut self.exportable, false);
        self.touch(now);
        Ok(was)
    }

    /// Set or clear the expiry.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone.
    pub fn set_expiry(&mut self, expires_at: Option<Timestamp>, now: Timestamp) -> Result<()> {
        self.ensure_not_destroyed()?;
        self.expires_at = expires_at;
        self.touch(now);
        Ok(())
    }

    /// Rename the key (the store checks that the new name is free).
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone: its name stays reserved.
    pub fn rename(&mut self, name: KeyName, now: Timestamp) -> Result<()> {
        self.ensure_not_destroyed()?;
        self.name = name;
        self.touch(now);
        Ok(())
    }

    /// Replace the description: at most [`MAX_DESCRIPTION_LEN`] bytes, no control characters
    /// other than newline.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`], or [`Error::InvalidDescription`].
    pub fn set_description(
        &mut self,
        description: impl Into<String>,
        now: Timestamp,
    ) -> Result<()> {
        self.ensure_not_destroyed()?;
        let description = description.into();
        check_description(&description)?;
        self.description = description;
        self.touch(now);
        Ok(())
    }

    /// Add or replace a label. Keys: 1 to [`MAX_LABEL_KEY_LEN`] bytes of `a-z`, `0-9`, `-`,
    /// `_`, `.`, starting with a letter or digit. Values: at most [`MAX_LABEL_VALUE_LEN`]
    /// bytes, no control characters. At most [`MAX_LABELS`] labels.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`], or [`Error::InvalidLabel`] with the rule broken.
    pub fn set_label(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        now: Timestamp,
    ) -> Result<()> {
        self.ensure_not_destroyed()?;
        insert_label(&mut self.labels, key.into(), value.into())?;
        self.touch(now);
        Ok(())
    }

    /// Remove a label; returns its value if it was there.
    ///
    /// # Errors
    /// [`Error::KeyDestroyed`] on a tombstone.
    pub fn remove_label(&mut self, key: &str, now: Timestamp) -> Result<Option<String>> {
        self.ensure_not_destroyed()?;
        let removed = self.labels.remove(key);
        self.touch(now);
        Ok(removed)
    }

    pub(crate) fn ensure_not_destroyed(&self) -> Result<()> {
        if self.state == KeyState::Destroyed {
            Err(Error::KeyDestroyed { key: self.id })
        } else {
            Ok(())
        }
    }

    pub(crate) fn version_mut(&mut self, version: KeyVersion) -> Result<&mut VersionInfo> {
        let id = self.id;
        usize::try_from(version.get())
            .ok()
            .and_then(|number| number.checked_sub(1))
            .and_then(|index| self.versions.get_mut(index))
            .ok_or(Error::UnknownVersion { key: id, version })
    }

    /// Record a change at `now`; `updated_at` never moves backwards.
    pub(crate) fn touch(&mut self, now: Timestamp) {
        self.updated_at = self.updated_at.max(now);
    }

    /// Check the invariants a deserialized value must satisfy.
    fn check(&self) -> Result<()> {
        let invalid = |reason| Err(Error::InvalidMetadata { reason });
        if self.versions.is_empty() {
            return invalid("a key has at least one version");
        }
        let numbered = self
            .versions
            .iter()
            .zip(1u32..)
            .all(|(info, number)| info.version.get() == number);
        if !numbered {
            return invalid("versions are numbered 1, 2, 3, ... without gaps");
        }
        if self.min_decryption_version > self.latest_version() {
            return invalid("min_decryption_version is above the latest version");
        }
        if self.updated_at < self.created_at {
            return invalid("updated_at is before created_at");
        }
        if self.state == KeyState::Destroyed
            && self
                .versions
                .iter()
                .any(|info| info.state != VersionState::Destroyed)
        {
            return invalid("a destroyed key has only destroyed versions");
        }
        if self.labels.len() > MAX_LABELS {
            return invalid("too many labels");
        }
        for (key, value) in &self.labels {
            check_label(key, value)?;
        }
        check_description(&self.description)
    }
}

fn insert_label(labels: &mut BTreeMap<String, String>, key: String, value: String) -> Result<()> {
    check_label(&key, &value)?;
    if labels.len() >= MAX_LABELS && !labels.contains_key(&key) {
        return Err(Error::InvalidLabel {
            key: truncate_for_error(&key),
            reason: "a key carries at most 64 labels",
        });
    }
    labels.insert(key, value);
    Ok(())
}

fn check_label(key: &str, value: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidLabel {
            key: truncate_for_error(key),
            reason,
        })
    };
    let Some(first) = key.chars().next() else {
        return invalid("a label key cannot be empty");
    };
    if key.len() > MAX_LABEL_KEY_LEN {
        return invalid("a label key is at most 63 characters");
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return invalid("a label key starts with an ASCII letter a-z or a digit 0-9");
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
    {
        return invalid("a label key uses only a-z, 0-9, '-', '_' and '.'");
    }
    if value.len() > MAX_LABEL_VALUE_LEN {
        return invalid("a label value is at most 255 bytes");
    }
    if value.chars().any(char::is_control) {
        return invalid("a label value contains no control characters");
    }
    Ok(())
}

fn check_description(description: &str) -> Result<()> {
    if description.len() > MAX_DESCRIPTION_LEN {
        return Err(Error::InvalidDescription {
            reason: "a description is at most 1024 bytes",
        });
    }
    if description.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::InvalidDescription {
            reason: "a description contains no control characters other than newline",
        });
    }
    Ok(())
}

/// The serialized form, checked by [`KeyMetadata::check`] before it becomes a [`KeyMetadata`].
#[derive(Deserialize)]
struct UncheckedMetadata {
    id: KeyId,
    name: KeyName,
    algorithm: KeyAlgorithm,
    state: KeyState,
    created_at: Timestamp,
    updated_at: Timestamp,
    expires_at: Option<Timestamp>,
    versions: Vec<VersionInfo>,
    min_decryption_version: KeyVersion,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    policy: KeyPolicy,
    exportable: bool,
}

impl TryFrom<UncheckedMetadata> for KeyMetadata {
    type Error = Error;

    fn try_from(raw: UncheckedMetadata) -> Result<Self> {
        let metadata = KeyMetadata {
            id: raw.id,
            name: raw.name,
            algorithm: raw.algorithm,
            state: raw.state,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
            expires_at: raw.expires_at,
            versions: raw.versions,
            min_decryption_version: raw.min_decryption_version,
            labels: raw.labels,
            description: raw.description,
            policy: raw.policy,
            exportable: raw.exportable,
        };
        metadata.check()?;
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyMetadata {
        KeyMetadata::new(
            KeyId::from_bytes([1; 16]),
            KeyName::new("orders").unwrap(),
            KeyAlgorithm::default(),
            Timestamp::from_unix_secs(1000),
        )
    }

    #[test]
    fn serde_round_trip_and_checks() {
        let meta = key()
            .with_label("team", "payments")
            .unwrap()
            .with_description("orders table\nv2")
            .unwrap()
            .with_export_allowed();
        let json = serde_json::to_string(&meta).unwrap();
        let back: KeyMetadata = serde_json::from_str(&json).unwrap();
        assert_eq!(back, meta);

        let gap = json.replace("\"version\":1", "\"version\":2");
        let err = serde_json::from_str::<KeyMetadata>(&gap).unwrap_err();
        assert!(
            err.is_data() && err.to_string().contains("without gaps"),
            "{err}"
        );
        let no_versions = {
            let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
            value["versions"] = serde_json::json!([]);
            value.to_string()
        };
        let err = serde_json::from_str::<KeyMetadata>(&no_versions).unwrap_err();
        assert!(
            err.is_data() && err.to_string().contains("at least one version"),
            "{err}"
        );
    }

    #[test]
    fn every_state_survives_serde_and_tombstones_are_checked() {
        let now = Timestamp::from_unix_secs(1000);
        let until = now.saturating_add(crate::lifecycle::MIN_DELETION_WINDOW);
        let mut meta = key();
        meta.transition(Transition::Revoke, now).unwrap();
        meta.transition(Transition::ScheduleDeletion { until }, now)
            .unwrap();
        let json = serde_json::to_string(&meta).unwrap();
        assert!(json.contains(r#""state":"pending_deletion""#), "{json}");
        assert_eq!(serde_json::from_str::<KeyMetadata>(&json).unwrap(), meta);

        meta.transition(Transition::Destroy, until).unwrap();
        let json = serde_json::to_string(&meta).unwrap();
        assert_eq!(serde_json::from_str::<KeyMetadata>(&json).unwrap(), meta);
        // A tombstone claiming a version with live material is refused.
        let version_entry = r#""state":"destroyed","created_at""#;
        assert!(json.contains(version_entry), "{json}");
        let forged = json.replacen(version_entry, r#""state":"enabled","created_at""#, 1);
        let err = serde_json::from_str::<KeyMetadata>(&forged).unwrap_err();
        assert!(err.to_string().contains("only destroyed versions"), "{err}");
    }

    #[test]
    fn labels_and_descriptions_are_checked() {
        let mut meta = key();
        let now = Timestamp::from_unix_secs(2000);
        assert!(meta.set_label("env", "prod", now).is_ok());
        for bad_key in ["", "Env", "-x", "a b", &"k".repeat(64)] {
            assert!(matches!(
                meta.set_label(bad_key, "v", now),
                Err(Error::InvalidLabel { .. })
            ));
        }
        for bad_value in ["\u{1b}[31m".to_owned(), "x".repeat(256)] {
            assert!(matches!(
                meta.set_label("k", bad_value, now),
                Err(Error::InvalidLabel { .. })
            ));
        }
        for i in 1..MAX_LABELS {
            meta.set_label(format!("l{i}"), "v", now).unwrap();
        }
        assert!(matches!(
            meta.set_label("one-more", "v", now),
            Err(Error::InvalidLabel { .. })
        ));
        assert!(
            meta.set_label("env", "staging", now).is_ok(),
            "replacing is fine"
        );
        for bad in ["x".repeat(1025), "bell\u{7}".to_owned()] {
            assert!(matches!(
                meta.set_description(bad, now),
                Err(Error::InvalidDescription { .. })
            ));
        }
        assert_eq!(meta.updated_at(), now);
    }

    #[test]
    fn export_flag_only_goes_down() {
        let mut meta = key().with_export_allowed();
        let now = Timestamp::from_unix_secs(2000);
        assert!(meta.disallow_export(now).unwrap());
        assert!(!meta.exportable());
        assert!(!meta.disallow_export(now).unwrap());
    }

    #[test]
    fn policy_updates_are_values() {
        let mut meta = key();
        let new = KeyPolicy::default().with_max_operations(10);
        let change = meta
            .update_policy(new.clone(), Timestamp::from_unix_secs(2000))
            .unwrap();
        assert_eq!(change.old, KeyPolicy::default());
        assert_eq!(change.new, new);
        assert_eq!(change.changed_fields(), ["max_operations"]);
        assert_eq!(meta.policy(), &new);
    }

    #[test]
    fn updated_at_never_moves_back() {
        let mut meta = key();
        meta.set_expiry(None, Timestamp::from_unix_secs(5000))
            .unwrap();
        meta.set_expiry(None, Timestamp::from_unix_secs(10))
            .unwrap();
        assert_eq!(meta.updated_at(), Timestamp::from_unix_secs(5000));
    }
}
