//! Entry points for the fuzz targets (`fuzz/`) and the never-panic tests: each runs one of this
//! crate's decoders of untrusted bytes, the same code a vault runs, and reports whether the
//! bytes were accepted and, if so, how this crate writes the decoded value back.
//!
//! Not a supported API: hidden from the documentation and free to change in any release.
//! Everything keyed here uses the public [`FIXED_MASTER_KEY`], never a real vault's key, so none
//! of it can open a real vault's records.

use keyvault_core::audit::AadDigest;
use keyvault_core::{
    AuditEvent, AuditOperation, ChainHead, Denial, KeyAlgorithm, KeyId, KeyMetadata, KeyName,
    KeyVersion, Outcome, Timestamp,
};
use keyvault_crypto::{Argon2Params, SecretKey};
use serde::Serialize;

use crate::barrier::{self, Barrier, Table, VAULT_ID_LEN};
use crate::error::{Result, StoreError};
use crate::head::RecordHead;
use crate::header::Header;
use crate::records::{
    CounterRecord, KeyRecord, Material, NameEntry, VaultMeta, decode_segment, encode_segment,
};

/// The master key of every header and barrier made here. Public, so never a secret.
pub const FIXED_MASTER_KEY: [u8; 32] = [0x4b; 32];
/// The vault id of the barrier [`seal_record`] and [`open_record`] use.
pub const FIXED_VAULT_ID: [u8; VAULT_ID_LEN] = [0x56; VAULT_ID_LEN];

/// The kinds of record a vault seals inside its barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A key: metadata and the material of its versions (JSON).
    Key,
    /// A key's durable usage counters (JSON).
    Counter,
    /// The vault metadata: the audit chain head and the record head (JSON).
    Meta,
    /// A name index entry (JSON).
    Name,
    /// An audit segment (binary).
    Audit,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 5] = [
        RecordKind::Key,
        RecordKind::Counter,
        RecordKind::Meta,
        RecordKind::Name,
        RecordKind::Audit,
    ];

    /// A kind chosen by one byte of fuzz input.
    #[must_use]
    pub fn from_byte(byte: u8) -> Self {
        match byte % 5 {
            0 => RecordKind::Key,
            1 => RecordKind::Counter,
            2 => RecordKind::Meta,
            3 => RecordKind::Name,
            _ => RecordKind::Audit,
        }
    }

    /// A short name, for seed file names.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            RecordKind::Key => "key",
            RecordKind::Counter => "counter",
            RecordKind::Meta => "meta",
            RecordKind::Name => "name",
            RecordKind::Audit => "audit",
        }
    }

    fn table(self) -> Table {
        match self {
            RecordKind::Key => Table::Keys,
            RecordKind::Counter => Table::Counters,
            RecordKind::Meta => Table::Meta,
            RecordKind::Name => Table::Names,
            RecordKind::Audit => Table::Audit,
        }
    }
}

/// Parse a stored vault header and make every check unlocking makes before deriving a key
/// (sizes, keyslot count, hex fields, salt length, Argon2 parameters); no Argon2 runs.
///
/// Returns the header as this crate writes it.
///
/// # Errors
/// Whatever opening a vault with this header would report before deriving.
pub fn parse_header(bytes: &[u8]) -> Result<Vec<u8>> {
    let header = Header::parse(bytes, "fuzz input")?;
    header.check_slots()?;
    header.to_bytes()
}

/// [`parse_header`], then check the header's MAC as if [`FIXED_MASTER_KEY`] had unlocked it.
///
/// # Errors
/// As [`parse_header`]; [`StoreError::Tampered`] if the MAC does not match.
pub fn verify_header(bytes: &[u8]) -> Result<()> {
    let header = Header::parse(bytes, "fuzz input")?;
    header.check_slots()?;
    let barrier = Barrier::new(&SecretKey::from_array(&FIXED_MASTER_KEY), header.vault_id)?;
    header.verify_mac(&barrier)
}

/// Open a stored header with `password` as a vault does: parse, unlock a keyslot (Argon2id),
/// check the MAC. Slow by design; for tests, not for fuzzing.
///
/// # Errors
/// Whatever opening a vault with this header and password would report.
pub fn unlock_header(bytes: &[u8], password: &[u8]) -> Result<()> {
    let header = Header::parse(bytes, "fuzz input")?;
    let master = header.unlock(&crate::Unlock::Password(password))?;
    let barrier = Barrier::new(&master, header.vault_id)?;
    header.verify_mac(&barrier)
}

/// A real header (random vault id and salt) whose one password slot wraps
/// [`FIXED_MASTER_KEY`] under `password`.
///
/// # Errors
/// Parameters below the minimums; no randomness.
pub fn sample_header(password: &[u8], params: &Argon2Params) -> Result<Vec<u8>> {
    let master = SecretKey::from_array(&FIXED_MASTER_KEY);
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    Header::create(&master, password, params, now)?.to_bytes()
}

/// Decode the plaintext of a record of `kind`, as a vault does after opening it.
///
/// Returns the record as this crate writes it.
///
/// # Errors
/// [`StoreError::Tampered`] naming the record's table.
pub fn decode_record(kind: RecordKind, plaintext: &[u8]) -> Result<Vec<u8>> {
    let table = kind.table();
    match kind {
        RecordKind::Key => {
            let record: KeyRecord = barrier::decode(table, plaintext)?;
            key_record_checks(&record);
            reencode(&record)
        }
        RecordKind::Counter => reencode(&barrier::decode::<CounterRecord>(table, plaintext)?),
        RecordKind::Meta => reencode(&barrier::decode::<VaultMeta>(table, plaintext)?),
        RecordKind::Name => reencode(&barrier::decode::<NameEntry>(table, plaintext)?),
        RecordKind::Audit => decode_segment(plaintext)
            .map(|records| encode_segment(&records))
            .ok_or_else(|| StoreError::tampered(table.name())),
    }
}

/// Seal `plaintext` as the record at `storage_key`, under the fixed barrier.
///
/// # Errors
/// None in practice (a failed seal).
pub fn seal_record(storage_key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    fixed_barrier()?.seal_bytes(storage_key, plaintext)
}

/// Open `sealed` as the record of `kind` at `storage_key` under the fixed barrier, and decode
/// it, by the same path a vault reads that kind of record.
///
/// Returns the record as this crate writes it.
///
/// # Errors
/// [`StoreError::Tampered`] naming the record's table.
pub fn open_record(kind: RecordKind, storage_key: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let plaintext = fixed_barrier()?.open_bytes(kind.table(), storage_key, sealed)?;
    decode_record(kind, &plaintext)
}

/// One real plaintext of every kind of record (fixed ids and material, no randomness), for
/// seeds and structured mutations.
///
/// # Errors
/// None in practice (a failed encoding).
pub fn sample_records() -> Result<Vec<(RecordKind, Vec<u8>)>> {
    let mut now = Timestamp::from_unix_millis(1_700_000_000_000);
    let id = KeyId::from_bytes([0x11; KeyId::LEN]);
    let name = KeyName::new("orders")?;
    let mut metadata = KeyMetadata::new(id, name.clone(), KeyAlgorithm::XChaCha20Poly1305, now)
        .with_description("card numbers of orders")?
        .with_label("team", "payments")?;
    now = Timestamp::from_unix_millis(1_700_000_060_000);
    let second = metadata.rotate(now)?;
    let record = KeyRecord {
        metadata,
        material: [
            (
                1,
                Material::from_secret(&SecretKey::from_array(&[0x01; 32])),
            ),
            (
                second.get(),
                Material::from_secret(&SecretKey::from_array(&[0x02; 32])),
            ),
        ]
        .into_iter()
        .collect(),
    };

    let audit_key = SecretKey::from_array(&[0x61; 32]);
    let mut head = ChainHead::GENESIS;
    let mut segment = Vec::new();
    let events = [
        AuditEvent::new(now, AuditOperation::CreateKey, Outcome::Ok, "alice")
            .for_key(id, None)
            .with_key_name(name),
        AuditEvent::new(now, AuditOperation::Encrypt, Outcome::Ok, "alice")
            .for_key(id, Some(second))
            .with_aad_digest(AadDigest::from_bytes([0x33; 32]))
            .with_request_id("req-17")
            .with_detail("bytes", "9"),
        AuditEvent::new(
            now,
            AuditOperation::Export,
            Outcome::Denied {
                reason: Denial::NotExportable,
            },
            "bob",
        )
        .for_key(id, Some(KeyVersion::new(1)?)),
    ];
    for event in events {
        let (appended, next) = head.append(&audit_key, event)?;
        segment.push(appended);
        head = next;
    }

    Ok(vec![
        (RecordKind::Key, reencode(&record)?),
        (
            RecordKind::Counter,
            reencode(&CounterRecord {
                key_id: Some(id),
                operations: 17,
                version: second.get(),
                version_uses: 5,
            })?,
        ),
        (
            RecordKind::Meta,
            reencode(&VaultMeta {
                audit_head: head,
                records: RecordHead::default(),
                lineage: [7; crate::records::LINEAGE_LEN],
            })?,
        ),
        (RecordKind::Name, reencode(&NameEntry { key_id: id })?),
        (RecordKind::Audit, encode_segment(&segment)),
    ])
}

fn fixed_barrier() -> Result<Barrier> {
    Barrier::new(&SecretKey::from_array(&FIXED_MASTER_KEY), FIXED_VAULT_ID)
}

/// What a vault does with a key record besides reading its fields.
fn key_record_checks(record: &KeyRecord) {
    let _ = record.encoded_size_hint();
    let mut copy = record.clone();
    copy.forget_destroyed();
}

fn reencode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|err| StoreError::Corrupt(format!("cannot encode a record: {err}")))
}
