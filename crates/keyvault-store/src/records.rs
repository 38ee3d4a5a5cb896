//! What the vault stores inside the barrier.

use std::collections::BTreeMap;

use keyvault_core::audit::ChainMac;
use keyvault_core::{AuditEvent, AuditRecord, ChainHead, KeyId, KeyMetadata};
use keyvault_crypto::{KEY_LEN, SecretKey, random};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::head::RecordHead;

/// One key: its metadata and the material of every version not yet destroyed.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) metadata: KeyMetadata,
    /// Version number → 32 secret bytes. A destroyed version's entry is removed.
    pub(crate) material: BTreeMap<u32, Material>,
}

// KeyRecord holds key material: never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(KeyRecord: Copy);

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("metadata", &self.metadata)
            .field(
                "versions_with_material",
                &self.material.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRecord {
    /// A record of `metadata` holding the material of `versions` (as a `KeyBundle` carries
    /// them), less that of versions the metadata says are destroyed.
    pub(crate) fn from_parts(
        metadata: KeyMetadata,
        versions: &BTreeMap<keyvault_core::KeyVersion, SecretKey>,
    ) -> Self {
        let mut record = KeyRecord {
            metadata,
            material: versions
                .iter()
                .map(|(version, secret)| (version.get(), Material::from_secret(secret)))
                .collect(),
        };
        record.forget_destroyed();
        record
    }

    /// A generous size for the record's JSON, so the encoding buffer never reallocates (which
    /// would leave copies of key material in freed memory).
    pub(crate) fn encoded_size_hint(&self) -> usize {
        16 * 1024 + 160 * self.material.len() + 200 * self.metadata.versions().len()
    }

    /// Drop the material of versions the metadata says are destroyed.
    pub(crate) fn forget_destroyed(&mut self) {
        let keep: Vec<u32> = self
            .metadata
            .versions()
            .iter()
            .filter(|info| info.state != keyvault_core::VersionState::Destroyed)
            .map(|info| info.version.get())
            .collect();
        if !self.metadata.state().has_material() {
            self.material.clear();
        }
        self.material.retain(|version, _| keep.contains(version));
    }
}

/// 32 bytes of key material: zeroized on drop, never printed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Material([u8; KEY_LEN]);

// Material holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Material: std::fmt::Debug, Copy);

impl Material {
    pub(crate) fn generate() -> keyvault_crypto::Result<Self> {
        Ok(Material(random::bytes::<KEY_LEN>()?))
    }

    pub(crate) fn from_secret(key: &SecretKey) -> Self {
        Material(*key.expose_secret())
    }

    pub(crate) fn to_secret(&self) -> SecretKey {
        SecretKey::from_array(&self.0)
    }

    /// Whether two materials are the same, in constant time.
    pub(crate) fn same_as(&self, other: &Material) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.ct_eq(&other.0))
    }
}

/// Durable usage counters of one key: how much has been *reserved* across every process.
/// A process spends its reservation in memory; a crash loses only what it had not spent, so
/// these numbers never undercount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CounterRecord {
    pub(crate) key_id: Option<KeyId>,
    /// Operations reserved, all kinds, all versions.
    pub(crate) operations: u64,
    /// The version `version_uses` counts for.
    pub(crate) version: u32,
    /// Protect-new-data operations reserved with `version`.
    pub(crate) version_uses: u64,
}

/// Vault-wide metadata.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct VaultMeta {
    /// The audit chain's anchor: count and last MAC.
    pub(crate) audit_head: ChainHead,

    /// The count and digest of every other record, kept by `head::commit_with_head` (every
    /// commit) and checked when the vault is opened.
    pub(crate) records: RecordHead,

    /// Which history of the vault this is: random at creation and new at every restore, so an
    /// incremental snapshot can only follow a base taken from the same history. (Vaults made
    /// before lineage ids were recorded read as all zeros until they are restored.)
    #[serde(default, with = "crate::header::hex_array")]
    pub(crate) lineage: [u8; LINEAGE_LEN],
}

/// Bytes in a lineage id.
pub(crate) const LINEAGE_LEN: usize = 16;

/// The name index: which key a name belongs to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct NameEntry {
    pub(crate) key_id: KeyId,
}

/// An audit segment, the records one commit appended, in a compact binary form:
/// `count (u32)`, then per record `seq (u64) || mac (32 bytes) || length (u32) || the event's
/// canonical bytes` (big-endian). The canonical bytes are what the chain MAC covers anyway, so
/// storing them costs no second encoding.
pub(crate) fn encode_segment(records: &[AuditRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + records.len() * 200);
    out.extend_from_slice(
        &u32::try_from(records.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for record in records {
        let event = record.event.canonical_bytes();
        out.extend_from_slice(&record.seq.to_be_bytes());
        out.extend_from_slice(record.mac.as_bytes());
        out.extend_from_slice(&u32::try_from(event.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&event);
    }
    out
}

/// Read a segment written by [`encode_segment`]; `None` if it is malformed in any way.
pub(crate) fn decode_segment(mut bytes: &[u8]) -> Option<Vec<AuditRecord>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    }
    let count = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
    // Each record takes at least 44 bytes: a count larger than that allows is malformed.
    if usize::try_from(count).ok()? > bytes.len() / 44 {
        return None;
    }
    let mut records = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        let seq = u64::from_be_bytes(take(&mut bytes, 8)?.try_into().ok()?);
        let mac = ChainMac::from_bytes(take(&mut bytes, 32)?.try_into().ok()?);
        let len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?);
        let event =
            AuditEvent::from_canonical_bytes(take(&mut bytes, usize::try_from(len).ok()?)?).ok()?;
        records.push(AuditRecord { seq, event, mac });
    }
    bytes.is_empty().then_some(records)
}
