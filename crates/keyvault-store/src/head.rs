//! The record head: one sealed digest over every record of the vault, so that putting back an
//! older copy of a record, deleting one or adding one is detected when the vault is opened.
//!
//! The head lives in the sealed metadata record and is rewritten by every commit. For each table
//! it holds the number of records and an additive multiset digest: the sum, modulo 2^256, of one
//! HMAC-SHA256 term per record (under the master key's `record-head` subkey) over the record's
//! storage key, revision and stored value (of a sealed value, its nonce and tag). A commit
//! subtracts the terms of the records it overwrites or deletes and adds those of the records it
//! writes, so it costs one HMAC per record written, whatever the size of the vault. A sum
//! (unlike an XOR) does not let two equal terms cancel out, and without the subkey no one can
//! compute a term.
//!
//! Every record but the metadata record itself is covered: the header, keys, names, usage
//! counters, audit segments, and any record of a table this version does not know. The head also
//! holds the commit sequence that wrote it, which is the metadata record's revision, and no
//! record may be newer than it. The metadata record carries the audit chain's head too, so
//! putting back an older metadata record only verifies if every other record is put back with
//! it: a rollback of the whole file, which an audit head kept outside the vault detects.

use keyvault_crypto::Algorithm;
use keyvault_crypto::mac::HmacSha256;
use serde::{Deserialize, Serialize};

use crate::backend::{Action, Backend, Batch, Expect, Record, check_expect};
use crate::barrier::{Barrier, Table, singleton_key};
use crate::error::{Result, StoreError};
use crate::records::VaultMeta;

/// The kinds of record the head keeps count of (the metadata record holds the head itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// The vault header (keyslots).
    Header,
    /// A key record (metadata and material).
    Key,
    /// A name index entry.
    Name,
    /// A usage counter record.
    Counter,
    /// An audit segment.
    AuditSegment,
    /// A record of no table this version knows.
    Other,
}

impl RecordKind {
    fn of_key(storage_key: &[u8]) -> Self {
        let prefix = storage_key.first().copied();
        let is = |table: Table| prefix == Some(table.prefix());
        if is(Table::Header) {
            RecordKind::Header
        } else if is(Table::Keys) {
            RecordKind::Key
        } else if is(Table::Names) {
            RecordKind::Name
        } else if is(Table::Counters) {
            RecordKind::Counter
        } else if is(Table::Audit) {
            RecordKind::AuditSegment
        } else {
            RecordKind::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RecordKind::Header => "the vault header",
            RecordKind::Key => "a key record",
            RecordKind::Name => "a name index record",
            RecordKind::Counter => "a usage counter record",
            RecordKind::AuditSegment => "an audit segment",
            RecordKind::Other => "a record of an unknown table",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// How the records of a vault differ from its sealed head (see [`StoreError::RecordsRolledBack`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordDamage {
    /// Fewer records of this kind than the head counts: one was deleted.
    Missing(RecordKind),
    /// More records of this kind than the head counts: one was added or duplicated.
    Unexpected(RecordKind),
    /// As many records of this kind as the head counts, but not the same ones: one was replaced
    /// by an older sealed copy, or its revision was changed.
    Replaced(RecordKind),
    /// A record of this kind claims a revision newer than the last commit the head records.
    NewerThanHead(RecordKind),
    /// The head itself does not fit the file: the metadata record's revision or the file's commit
    /// counter differ from the commit the head records (an older metadata record put back, or
    /// the counter edited).
    Head,
}

impl std::fmt::Display for RecordDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordDamage::Missing(kind) => write!(f, "{kind} is missing"),
            RecordDamage::Unexpected(kind) => write!(f, "{kind} was added or duplicated"),
            RecordDamage::Replaced(kind) => {
                write!(f, "{kind} was replaced by another (older) copy")
            }
            RecordDamage::NewerThanHead(kind) => {
                write!(f, "{kind} is newer than the vault's last commit")
            }
            RecordDamage::Head => f.write_str(
                "the vault metadata does not belong with the file's commit sequence (an older copy was put back)",
            ),
        }
    }
}

/// The count and digest of one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableDigest {
    /// How many records the table holds.
    count: u64,
    /// The sum, modulo 2^256 (big-endian), of the records' terms.
    #[serde(with = "crate::header::hex_array")]
    sum: [u8; 32],
}

/// The record head, sealed in the metadata record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordHead {
    /// The commit that wrote this head: the metadata record's revision.
    sequence: u64,
    header: TableDigest,
    keys: TableDigest,
    names: TableDigest,
    counters: TableDigest,
    audit: TableDigest,
    other: TableDigest,
}

/// The nonce and tag lengths of a value sealed by the barrier (XChaCha20-Poly1305):
/// `nonce || ciphertext || tag`.
const SEALED_NONCE_LEN: usize = Algorithm::XChaCha20Poly1305.nonce_len();
const SEALED_TAG_LEN: usize = Algorithm::XChaCha20Poly1305.tag_len();

/// Which way a term changes the digest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    Add,
    Remove,
}

impl RecordHead {
    fn table_mut(&mut self, kind: RecordKind) -> &mut TableDigest {
        match kind {
            RecordKind::Header => &mut self.header,
            RecordKind::Key => &mut self.keys,
            RecordKind::Name => &mut self.names,
            RecordKind::Counter => &mut self.counters,
            RecordKind::AuditSegment => &mut self.audit,
            RecordKind::Other => &mut self.other,
        }
    }

    fn tables(&self) -> [(RecordKind, &TableDigest); 6] {
        [
            (RecordKind::Header, &self.header),
            (RecordKind::Key, &self.keys),
            (RecordKind::Name, &self.names),
            (RecordKind::Counter, &self.counters),
            (RecordKind::AuditSegment, &self.audit),
            (RecordKind::Other, &self.other),
        ]
    }

    /// Count a record in or out.
    fn apply(&mut self, terms: &Terms, sign: Sign, key: &[u8], revision: u64, value: &[u8]) {
        let term = terms.of(key, revision, value);
        let table = self.table_mut(RecordKind::of_key(key));
        match sign {
            Sign::Add => {
                table.count = table.count.wrapping_add(1);
                add_mod(&mut table.sum, &term);
            }
            Sign::Remove => {
                table.count = table.count.wrapping_sub(1);
                sub_mod(&mut table.sum, &term);
            }
        }
    }
}

/// The records' terms: an HMAC keyed once, cloned for each record (opening a vault computes
/// one per record, so the key schedule is not repeated).
struct Terms(HmacSha256);

// Terms holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Terms: std::fmt::Debug, Copy);

impl Terms {
    fn new(barrier: &Barrier) -> Self {
        let mut mac = HmacSha256::new(barrier.record_head.expose_secret());
        mac.update(b"keyvault record head v1");
        Terms(mac)
    }

    /// A record's term: HMAC-SHA256 under the `record-head` subkey over
    /// `"keyvault record head v1" || key length (u32) || key || revision (u64) || identity`,
    /// where the identity of a sealed value is its length (u32), nonce and tag, and that of any
    /// other value is the value itself.
    ///
    /// A sealed value's nonce and tag stand for all of it: a different value with the same nonce
    /// and tag under the same key and place would be an AEAD forgery, so it fails to open when
    /// read. Hashing 44 bytes instead of the whole value keeps opening a vault with a long audit
    /// log or many keys fast (with a 33-byte storage key, the input fits two SHA-256 blocks).
    fn of(&self, key: &[u8], revision: u64, value: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
        mac.update(key);
        mac.update(&revision.to_be_bytes());
        match sealed_identity(key, value) {
            Some((nonce, tag)) => {
                mac.update(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
                mac.update(nonce);
                mac.update(tag);
            }
            None => mac.update(value),
        }
        *mac.finalize().as_bytes()
    }
}

/// The nonce and tag of a value of a table whose values are all sealed by the barrier, if it is
/// long enough to hold them.
fn sealed_identity<'a>(key: &[u8], value: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    let sealed = matches!(
        RecordKind::of_key(key),
        RecordKind::Key | RecordKind::Name | RecordKind::Counter | RecordKind::AuditSegment
    );
    if !sealed {
        return None;
    }
    let nonce = value.get(..SEALED_NONCE_LEN)?;
    let tag = value.get(value.len().checked_sub(SEALED_TAG_LEN)?..)?;
    (value.len() >= SEALED_NONCE_LEN + SEALED_TAG_LEN).then_some((nonce, tag))
}

/// `sum += term` modulo 2^256, both big-endian.
fn add_mod(sum: &mut [u8; 32], term: &[u8; 32]) {
    let mut carry = 0u16;
    for (s, t) in sum.iter_mut().zip(term).rev() {
        let total = u16::from(*s) + u16::from(*t) + carry;
        *s = total.to_be_bytes()[1];
        carry = total >> 8;
    }
}

/// `sum -= term` modulo 2^256, both big-endian.
fn sub_mod(sum: &mut [u8; 32], term: &[u8; 32]) {
    let mut borrow = 0i16;
    for (s, t) in sum.iter_mut().zip(term).rev() {
        let mut difference = i16::from(*s) - i16::from(*t) - borrow;
        borrow = 0;
        if difference < 0 {
            difference += 256;
            borrow = 1;
        }
        *s = u8::try_from(difference).unwrap_or_default();
    }
}

/// Read and open the metadata record: the metadata and the record's revision.
pub(crate) fn read_meta<B: Backend>(backend: &B, barrier: &Barrier) -> Result<(VaultMeta, u64)> {
    let key = singleton_key(Table::Meta);
    let record = backend
        .get(&key)?
        .ok_or_else(|| StoreError::tampered("vault metadata (missing)"))?;
    let meta = barrier.open(Table::Meta, &key, &record.value)?;
    Ok((meta, record.revision))
}

/// Commit `batch` together with the metadata record `meta`, whose record head is advanced over
/// the batch's writes. `meta_revision` is the revision of the metadata record `meta` was read
/// from (`None` for a new vault, which has none yet): the commit requires it unchanged, so no
/// other commit can come between reading the records the batch replaces and writing the new head.
///
/// Every commit of a vault goes through here, which keeps the metadata record's revision equal
/// to the backend's commit sequence.
pub(crate) fn commit_with_head<B: Backend>(
    backend: &B,
    barrier: &Barrier,
    mut batch: Batch,
    mut meta: VaultMeta,
    meta_revision: Option<u64>,
) -> Result<u64> {
    let before = match meta_revision {
        Some(revision) => revision,
        None => backend.sequence()?,
    };
    // Each record written takes the commit's sequence number as its revision.
    let sequence = before.saturating_add(1);
    let mut head = meta.records;
    let terms = Terms::new(barrier);
    for write in batch.writes() {
        if write.action == Action::Check {
            continue;
        }
        // A record expected absent is absent when the commit applies, or it does not apply.
        if write.expect != Expect::Absent {
            let old = backend.get(&write.key)?;
            check_expect(write.expect, old.as_ref().map(|old| old.revision))?;
            if let Some(old) = old {
                head.apply(&terms, Sign::Remove, &old.key, old.revision, &old.value);
            }
        }
        if let Action::Put(value) = &write.action {
            head.apply(&terms, Sign::Add, &write.key, sequence, value);
        }
    }
    head.sequence = sequence;
    meta.records = head;
    let meta_key = singleton_key(Table::Meta);
    let sealed = barrier.seal(&meta_key, &meta, 2048)?;
    let expect = meta_revision.map_or(Expect::Absent, Expect::Revision);
    batch = batch.put(meta_key, sealed, expect);
    let committed = backend.commit(&batch)?;
    if committed != sequence {
        // Only a commit counter edited in the file, or a writer going around the vault, leaves
        // the sequence out of step with the metadata record's revision.
        return Err(StoreError::RecordsRolledBack {
            damage: RecordDamage::Head,
        });
    }
    Ok(committed)
}

/// How often opening re-reads the records when other writers commit while it reads them.
const MAX_VERIFY_ATTEMPTS: usize = 20;

/// Every record of the vault, read in one scan, and the commit sequence before and after it.
pub(crate) struct Scan {
    records: Vec<Record>,
    before: u64,
    after: u64,
}

/// Read every record. Needs no key, so it can run while the password is being derived.
///
/// # Errors
/// Storage errors.
pub(crate) fn scan<B: Backend>(backend: &B) -> Result<Scan> {
    // The sequence before and after brackets the moment the scan saw, so the head's sequence
    // must lie between the two.
    let before = backend.sequence()?;
    let records = backend.scan_prefix(&[])?;
    let after = backend.sequence()?;
    Ok(Scan {
        records,
        before,
        after,
    })
}

/// Check every record of the vault, as `first` read them, against the head sealed in its
/// metadata record; read again if someone committed during the scan and the check failed.
///
/// # Errors
/// [`StoreError::RecordsRolledBack`] naming the damage; [`StoreError::Tampered`] if the
/// metadata record is missing or does not open; storage errors.
pub(crate) fn verify<B: Backend>(backend: &B, barrier: &Barrier, first: Scan) -> Result<()> {
    let mut scanned = first;
    let mut attempts = 1;
    loop {
        let outcome = verify_records(barrier, &scanned.records, scanned.before, scanned.after);
        if outcome.is_ok() || scanned.before == scanned.after || attempts == MAX_VERIFY_ATTEMPTS {
            return outcome;
        }
        // Someone committed meanwhile; a backend whose scan is not one snapshot may have shown
        // a mix of two states, so read again.
        scanned = scan(backend)?;
        attempts += 1;
    }
}

fn verify_records(barrier: &Barrier, records: &[Record], before: u64, after: u64) -> Result<()> {
    let meta_key = singleton_key(Table::Meta);
    let meta_record = records
        .iter()
        .find(|record| record.key == meta_key)
        .ok_or_else(|| StoreError::tampered("vault metadata (missing)"))?;
    let meta: VaultMeta = barrier.open(Table::Meta, &meta_key, &meta_record.value)?;
    let expected = meta.records;
    let damaged = |damage| Err(StoreError::RecordsRolledBack { damage });
    if meta_record.revision != expected.sequence
        || expected.sequence < before
        || expected.sequence > after
    {
        return damaged(RecordDamage::Head);
    }
    let mut found = RecordHead {
        sequence: expected.sequence,
        ..RecordHead::default()
    };
    let terms = Terms::new(barrier);
    for record in records.iter().filter(|record| record.key != meta_key) {
        if record.revision > expected.sequence {
            return damaged(RecordDamage::NewerThanHead(RecordKind::of_key(&record.key)));
        }
        found.apply(
            &terms,
            Sign::Add,
            &record.key,
            record.revision,
            &record.value,
        );
    }
    for ((kind, want), (_, have)) in expected.tables().into_iter().zip(found.tables()) {
        if have.count < want.count {
            return damaged(RecordDamage::Missing(kind));
        }
        if have.count > want.count {
            return damaged(RecordDamage::Unexpected(kind));
        }
        if !keyvault_crypto::constant_time_eq(&have.sum, &want.sum) {
            return damaged(RecordDamage::Replaced(kind));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{add_mod, sub_mod};

    /// A commit that goes around `commit_with_head` leaves the head behind, and the next open
    /// refuses the vault: only this module and the backends may call `commit`.
    #[test]
    fn every_commit_of_the_vault_goes_through_the_head() {
        fn visit(dir: &std::path::Path, offenders: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if !path.ends_with("backend") {
                        visit(&path, offenders);
                    }
                } else if path.extension().is_some_and(|ext| ext == "rs")
                    && !path.ends_with("head.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains(".commit(&") {
                        offenders.push(path.display().to_string());
                    }
                }
            }
        }
        let mut offenders = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut offenders,
        );
        assert!(
            offenders.is_empty(),
            "commits around the head: {offenders:?}"
        );
    }

    #[test]
    fn sums_wrap_and_subtraction_undoes_addition() {
        let mut sum = [0xFF; 32];
        let mut one = [0u8; 32];
        one[31] = 1;
        add_mod(&mut sum, &one);
        assert_eq!(sum, [0u8; 32]);
        sub_mod(&mut sum, &one);
        assert_eq!(sum, [0xFF; 32]);
        let term = [0x9A; 32];
        add_mod(&mut sum, &term);
        add_mod(&mut sum, &term);
        sub_mod(&mut sum, &term);
        sub_mod(&mut sum, &term);
        assert_eq!(sum, [0xFF; 32]);
        // Adding the same term twice is not the same as never adding it (unlike XOR).
        let mut twice = [0u8; 32];
        add_mod(&mut twice, &term);
        add_mod(&mut twice, &term);
        assert_ne!(twice, [0u8; 32]);
    }
}
