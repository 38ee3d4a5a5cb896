//! The storage barrier: everything at rest is sealed, under storage keys that reveal nothing.
//!
//! Every record value is JSON sealed with XChaCha20-Poly1305 under the record-sealing subkey.
//! The associated data binds the vault id and the record's storage key (whose first byte names
//! its table), so a sealed blob copied to another record, another table or another vault fails
//! to open. Storage keys are the table byte followed by an HMAC of the record's identity (a key
//! id or a key name) under the name-index subkey, so the file reveals neither names nor ids.

use keyvault_core::audit::AadDigester;
use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::mac::HmacSha256;
use keyvault_crypto::{AeadKey, Algorithm, SecretKey, Zeroizing};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};

/// Length of a vault id.
pub(crate) const VAULT_ID_LEN: usize = 16;

/// The tables of a vault, each a one-byte key prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// The vault header (not sealed: it holds what unlocking needs; MACed instead).
    Header,
    /// Vault metadata: the audit chain head and the record head.
    Meta,
    /// One record per key: metadata and material.
    Keys,
    /// Key name → key id.
    Names,
    /// Durable usage counters, one record per key.
    Counters,
    /// Audit segments (the records of one commit), keyed by their first sequence number.
    Audit,
}

impl Table {
    pub(crate) const fn prefix(self) -> u8 {
        match self {
            Table::Header => b'h',
            Table::Meta => b'm',
            Table::Keys => b'k',
            Table::Names => b'n',
            Table::Counters => b'c',
            Table::Audit => b'a',
        }
    }

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Table::Header => "vault header",
            Table::Meta => "vault metadata",
            Table::Keys => "a key record",
            Table::Names => "a name index record",
            Table::Counters => "a usage counter record",
            Table::Audit => "an audit segment",
        }
    }
}

/// The storage key of a single-record table.
pub(crate) fn singleton_key(table: Table) -> Vec<u8> {
    vec![table.prefix()]
}

/// The storage key of the audit segment whose first record is `seq`: ordered in a scan.
pub(crate) fn audit_key(seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(Table::Audit.prefix());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The subkeys of one unlocked vault, each derived from the master key for one purpose.
pub(crate) struct Barrier {
    vault_id: [u8; VAULT_ID_LEN],
    records: AeadKey,
    index: SecretKey,
    pub(crate) audit_mac: SecretKey,
    pub(crate) aad_digest: AadDigester,
    pub(crate) header_mac: SecretKey,
    /// The key of the record head's terms (see `head`).
    pub(crate) record_head: SecretKey,
}

// Barrier holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Barrier: std::fmt::Debug, Copy);

impl Barrier {
    pub(crate) fn new(master: &SecretKey, vault_id: [u8; VAULT_ID_LEN]) -> Result<Self> {
        Ok(Barrier {
            vault_id,
            records: AeadKey::new(
                Algorithm::XChaCha20Poly1305,
                &derive_subkey(master, "record-seal", &vault_id)?,
            )?,
            index: derive_subkey(master, "name-index", &vault_id)?,
            audit_mac: derive_subkey(master, "audit-mac", &vault_id)?,
            aad_digest: AadDigester::new(&derive_subkey(master, "aad-digest", &vault_id)?),
            header_mac: derive_subkey(master, "header-mac", &vault_id)?,
            record_head: derive_subkey(master, "record-head", &vault_id)?,
        })
    }

    /// The storage key of the record identified by `identity` in `table`.
    pub(crate) fn storage_key(&self, table: Table, identity: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new(self.index.expose_secret());
        mac.update(&[table.prefix()]);
        mac.update(identity);
        let mut key = Vec::with_capacity(33);
        key.push(table.prefix());
        key.extend_from_slice(mac.finalize().as_bytes());
        key
    }

    fn associated_data(&self, storage_key: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + storage_key.len());
        aad.extend_from_slice(b"keyvault record v1");
        aad.extend_from_slice(&self.vault_id);
        aad.extend_from_slice(storage_key);
        aad
    }

    /// Seal `value` for the record at `storage_key`. The JSON lives only in a zeroizing buffer
    /// sized up front (`capacity_hint`), so key material is not left behind by reallocation.
    pub(crate) fn seal<T: Serialize>(
        &self,
        storage_key: &[u8],
        value: &T,
        capacity_hint: usize,
    ) -> Result<Vec<u8>> {
        let mut json = Zeroizing::new(Vec::with_capacity(capacity_hint));
        serde_json::to_writer(&mut *json, value)
            .map_err(|err| StoreError::Corrupt(format!("cannot encode a record: {err}")))?;
        Ok(self
            .records
            .seal(&json, &self.associated_data(storage_key))?)
    }

    /// Seal raw bytes (already encoded) for the record at `storage_key`.
    pub(crate) fn seal_bytes(&self, storage_key: &[u8], bytes: &[u8]) -> Result<Vec<u8>> {
        Ok(self
            .records
            .seal(bytes, &self.associated_data(storage_key))?)
    }

    /// Open raw bytes sealed by [`Barrier::seal_bytes`].
    pub(crate) fn open_bytes(
        &self,
        table: Table,
        storage_key: &[u8],
        sealed: &[u8],
    ) -> Result<keyvault_crypto::SecretBytes> {
        self.records
            .open(sealed, &self.associated_data(storage_key))
            .map_err(|_| StoreError::tampered(table.name()))
    }

    /// Open the record at `storage_key` in `table`.
    pub(crate) fn open<T: DeserializeOwned>(
        &self,
        table: Table,
        storage_key: &[u8],
        sealed: &[u8],
    ) -> Result<T> {
        decode(table, &self.open_bytes(table, storage_key, sealed)?)
    }
}

/// Decode the JSON of a record of `table` (already opened).
pub(crate) fn decode<T: DeserializeOwned>(table: Table, json: &[u8]) -> Result<T> {
    serde_json::from_slice(json).map_err(|_| StoreError::tampered(table.name()))
}
