//! The plaintext a backup encrypts: a [`VaultSnapshot`] in postcard, through wire structs of
//! our own.
//!
//! keyvault-core's metadata uses internally tagged enums, which postcard (a non-self-describing
//! format) cannot deserialize, so each key's metadata travels as the JSON of the key export
//! format, embedded as a byte string. Each audit record travels as exactly the bytes its chain
//! MAC covers (the canonical event encoding), so the chain can be recomputed from the backup
//! alone. Everything else (ids, counters, material, chain heads) is plain postcard. The layout
//! is in docs/FORMATS.md ("Backup v2", payload).

use std::collections::BTreeMap;

use keyvault_core::audit::ChainMac;
use keyvault_core::{
    AuditEvent, AuditRecord, ChainHead, KeyId, KeyMetadata, KeyVersion, Timestamp,
};
use keyvault_crypto::{SecretKey, Zeroizing};
use keyvault_store::dangerous::{
    CounterSnapshot, KeyBundle, SnapshotBase, SnapshotParts, VaultSnapshot,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::error::{BackupError, Result};

const WHAT: &str = "backup payload";

/// Most keys one backup carries.
pub const MAX_BACKUP_KEYS: usize = 1_000_000;

#[derive(Serialize, Deserialize)]
struct PayloadWire {
    vault_id: [u8; 16],
    vault_created_at: u64,
    sequence: u64,
    lineage: [u8; 16],
    master_key: [u8; 32],
    base: Option<BaseWire>,
    keys: Vec<KeyWire>,
    counters: Vec<CounterWire>,
    audit: Option<Vec<AuditWire>>,
    head: HeadWire,
}

impl Drop for PayloadWire {
    fn drop(&mut self) {
        self.master_key.zeroize();
    }
}

/// A snapshot's position: commit sequence and audit chain head.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct HeadWire {
    sequence: u64,
    audit_count: u64,
    audit_last_mac: [u8; 32],
}

/// A base's position and lineage.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct BaseWire {
    head: HeadWire,
    lineage: [u8; 16],
}

/// One audit record: its position, its chain MAC and the canonical event bytes the MAC covers.
#[derive(Serialize, Deserialize)]
struct AuditWire {
    seq: u64,
    mac: [u8; 32],
    event: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct KeyWire {
    metadata: Vec<u8>,
    versions: Vec<VersionWire>,
}

#[derive(Serialize, Deserialize)]
struct VersionWire {
    version: u32,
    material: [u8; 32],
}

impl Drop for VersionWire {
    fn drop(&mut self) {
        self.material.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
struct CounterWire {
    key_id: [u8; 16],
    operations: u64,
    version: u32,
    version_uses: u64,
}

/// Serialize `snapshot` into a zeroizing buffer.
pub(crate) fn encode(snapshot: &VaultSnapshot) -> Result<Zeroizing<Vec<u8>>> {
    let mut estimate = 256usize;
    let mut keys = Vec::with_capacity(snapshot.keys().len());
    for bundle in snapshot.keys() {
        let metadata = serde_json::to_vec(&bundle.metadata)
            .map_err(|err| BackupError::malformed("key metadata", err))?;
        estimate = estimate
            .saturating_add(metadata.len())
            .saturating_add(bundle.versions.len().saturating_mul(40))
            .saturating_add(16);
        keys.push(KeyWire {
            metadata,
            versions: bundle
                .versions
                .iter()
                .map(|(version, secret)| VersionWire {
                    version: version.get(),
                    material: *secret.expose_secret(),
                })
                .collect(),
        });
    }
    let audit = match snapshot.audit() {
        None => None,
        Some(records) => {
            let mut out = Vec::with_capacity(records.len());
            for record in records {
                let event = record.event.canonical_bytes();
                estimate = estimate.saturating_add(event.len()).saturating_add(48);
                out.push(AuditWire {
                    seq: record.seq,
                    mac: *record.mac.as_bytes(),
                    event,
                });
            }
            Some(out)
        }
    };
    estimate = estimate.saturating_add(snapshot.counters().len().saturating_mul(48));
    let wire = PayloadWire {
        vault_id: snapshot.vault_id(),
        vault_created_at: snapshot.created_at().as_unix_millis(),
        sequence: snapshot.sequence(),
        lineage: snapshot.lineage(),
        master_key: *snapshot.master_key().expose_secret(),
        base: snapshot.base().map(|base| BaseWire {
            head: head_wire(base.sequence, base.audit_head),
            lineage: base.lineage,
        }),
        keys,
        counters: snapshot
            .counters()
            .iter()
            .map(|c| CounterWire {
                key_id: *c.key_id.as_bytes(),
                operations: c.operations,
                version: c.version,
                version_uses: c.version_uses,
            })
            .collect(),
        audit,
        head: head_wire(snapshot.sequence(), snapshot.audit_head()),
    };
    // Serialize into a buffer large enough never to reallocate, so no copy of the material is
    // left behind in freed memory; the buffer itself is wiped on drop.
    let buffer = WipedBuffer(Zeroizing::new(Vec::with_capacity(estimate)));
    postcard::to_extend(&wire, buffer)
        .map(|buffer| buffer.0)
        .map_err(|err| BackupError::malformed(WHAT, err))
}

/// A zeroizing buffer postcard can write into.
struct WipedBuffer(Zeroizing<Vec<u8>>);

// WipedBuffer holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(WipedBuffer: std::fmt::Debug, Copy);

impl Extend<u8> for WipedBuffer {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// Parse a payload (already authenticated) back into a snapshot, checking its structure.
pub(crate) fn decode(bytes: &[u8]) -> Result<VaultSnapshot> {
    let (wire, rest) = postcard::take_from_bytes::<PayloadWire>(bytes)
        .map_err(|err| BackupError::malformed(WHAT, err))?;
    if !rest.is_empty() {
        return Err(BackupError::malformed(WHAT, "trailing bytes"));
    }
    if wire.keys.len() > MAX_BACKUP_KEYS {
        return Err(BackupError::too_large(
            "key list",
            wire.keys.len(),
            MAX_BACKUP_KEYS,
        ));
    }
    if wire.head.sequence != wire.sequence {
        return Err(BackupError::Inconsistent {
            what: WHAT,
            reason: "two different commit sequence numbers",
        });
    }
    let mut keys = Vec::with_capacity(wire.keys.len());
    for key in &wire.keys {
        let metadata: KeyMetadata = serde_json::from_slice(&key.metadata)
            .map_err(|err| BackupError::malformed("key metadata", err))?;
        let mut versions = BTreeMap::new();
        for version in &key.versions {
            let number = KeyVersion::new(version.version)?;
            if versions
                .insert(number, SecretKey::from_array(&version.material))
                .is_some()
            {
                return Err(BackupError::Inconsistent {
                    what: WHAT,
                    reason: "a key version is carried twice",
                });
            }
        }
        keys.push(KeyBundle { metadata, versions });
    }
    let audit = match &wire.audit {
        None => None,
        Some(records) => {
            let mut out = Vec::with_capacity(records.len());
            for record in records {
                out.push(AuditRecord {
                    seq: record.seq,
                    event: AuditEvent::from_canonical_bytes(&record.event)
                        .map_err(|err| BackupError::malformed("audit record", err))?,
                    mac: ChainMac::from_bytes(record.mac),
                });
            }
            Some(out)
        }
    };
    Ok(VaultSnapshot::from_parts(SnapshotParts {
        vault_id: wire.vault_id,
        created_at: Timestamp::from_unix_millis(wire.vault_created_at),
        sequence: wire.sequence,
        lineage: wire.lineage,
        master_key: SecretKey::from_array(&wire.master_key),
        base: wire.base.map(|base| SnapshotBase {
            sequence: base.head.sequence,
            audit_head: chain_head(base.head),
            lineage: base.lineage,
        }),
        keys,
        counters: wire
            .counters
            .iter()
            .map(|c| CounterSnapshot {
                key_id: KeyId::from_bytes(c.key_id),
                operations: c.operations,
                version: c.version,
                version_uses: c.version_uses,
            })
            .collect(),
        audit,
        audit_head: chain_head(wire.head),
    }))
}

fn head_wire(sequence: u64, head: ChainHead) -> HeadWire {
    HeadWire {
        sequence,
        audit_count: head.count,
        audit_last_mac: *head.last_mac.as_bytes(),
    }
}

fn chain_head(wire: HeadWire) -> ChainHead {
    ChainHead {
        count: wire.audit_count,
        last_mac: ChainMac::from_bytes(wire.audit_last_mac),
    }
}
