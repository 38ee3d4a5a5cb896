//! The vault header and its keyslots (after LUKS).
//!
//! The vault's random 256-bit master key is never stored in the clear: each keyslot wraps it
//! under a key-encryption key. A password slot derives that key with Argon2id from the password
//! and a per-slot random salt, and binds the vault id, the slot id, the Argon2 parameters and the
//! salt as associated data, so none of them can be changed without the slot failing to open.
//! Changing the password rewraps the master key; no record is re-encrypted.
//!
//! The header is stored unsealed (it holds what unlocking needs) as bounded JSON, and carries an
//! HMAC under a master-key subkey over all its fields, checked after unlocking.

use keyvault_core::Timestamp;
use keyvault_crypto::mac::hmac_sha256;
use keyvault_crypto::password::{MAX_SALT_LEN, MIN_SALT_LEN, derive_key};
use keyvault_crypto::{
    AeadKey, Algorithm, Argon2Params, SecretKey, Zeroizing, constant_time_eq, random,
};
use serde::{Deserialize, Serialize};

use crate::barrier::{Barrier, VAULT_ID_LEN};
use crate::error::{Result, StoreError};

/// The header format this version writes and reads: the version of the whole vault file.
/// Format 2 added the record head to the metadata record.
pub(crate) const HEADER_FORMAT: u16 = 2;
/// The format before the record head: refused, as its records carry no digest to check.
const FORMAT_WITHOUT_RECORD_HEAD: u16 = 1;
/// A header larger than this is refused before parsing.
const MAX_HEADER_LEN: usize = 64 * 1024;
/// Most keyslots a header may hold.
const MAX_SLOTS: usize = 8;
/// Salt length for new password slots.
const SALT_LEN: usize = 16;

/// The vault header, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) format: u16,
    #[serde(with = "hex_array")]
    pub(crate) vault_id: [u8; VAULT_ID_LEN],
    pub(crate) created_at: Timestamp,
    pub(crate) slots: Vec<Keyslot>,
    /// HMAC-SHA256 over [`Header::mac_input`] under the header-MAC subkey, hex.
    pub(crate) mac: String,
}

/// One way to unlock the vault.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Keyslot {
    pub(crate) id: u32,
    pub(crate) kind: SlotKind,
}

/// The kinds of keyslot. Recovery-key and hardware slots can join this enum later.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SlotKind {
    /// Argon2id(password, salt) wraps the master key.
    Password {
        /// Per-slot random salt, hex.
        salt: String,
        memory_kib: u32,
        iterations: u32,
        lanes: u32,
        /// `nonce || wrapped master key || tag` (XChaCha20-Poly1305), hex.
        wrapped: String,
    },
}

impl Header {
    /// A new header with one password slot wrapping `master`.
    pub(crate) fn create(
        master: &SecretKey,
        password: &[u8],
        params: &Argon2Params,
        now: Timestamp,
    ) -> Result<Self> {
        let vault_id = random::bytes::<VAULT_ID_LEN>()?;
        let slot = password_slot(0, master, password, params, &vault_id)?;
        let mut header = Header {
            format: HEADER_FORMAT,
            vault_id,
            created_at: now,
            slots: vec![slot],
            mac: String::new(),
        };
        header.seal_mac(&Barrier::new(master, vault_id)?);
        Ok(header)
    }

    /// A header for a restored vault: the original id, creation time and master key, with one
    /// new password slot.
    pub(crate) fn restore(
        master: &SecretKey,
        vault_id: [u8; VAULT_ID_LEN],
        created_at: Timestamp,
        password: &[u8],
        params: &Argon2Params,
        barrier: &Barrier,
    ) -> Result<Self> {
        let mut header = Header {
            format: HEADER_FORMAT,
            vault_id,
            created_at,
            slots: vec![password_slot(0, master, password, params, &vault_id)?],
            mac: String::new(),
        };
        header.seal_mac(barrier);
        Ok(header)
    }

    /// Parse a stored header, bounding its size and contents before any key derivation.
    pub(crate) fn parse(bytes: &[u8], origin: &str) -> Result<Self> {
        if bytes.len() > MAX_HEADER_LEN {
            return Err(StoreError::tampered("vault header (too large)"));
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|_| StoreError::tampered("vault header (unreadable)"))?;
        if header.format == FORMAT_WITHOUT_RECORD_HEAD {
            return Err(StoreError::NotAVault {
                path: origin.to_owned(),
                reason: "it is a vault of format 1 (before the record head), which this version \
                         no longer opens; restore a backup of it into a new vault instead"
                    .to_owned(),
            });
        }
        if header.format != HEADER_FORMAT {
            return Err(StoreError::NotAVault {
                path: origin.to_owned(),
                reason: format!("header format {} is not supported", header.format),
            });
        }
        if header.slots.is_empty() || header.slots.len() > MAX_SLOTS {
            return Err(StoreError::tampered("vault header (keyslot count)"));
        }
        Ok(header)
    }

    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|err| StoreError::Corrupt(format!("cannot encode the header: {err}")))
    }

    /// Try every password slot; the master key of the first that opens.
    pub(crate) fn unlock(&self, password: &[u8]) -> Result<SecretKey> {
        for slot in &self.slots {
            let PasswordSlot {
                salt,
                wrapped,
                params,
            } = slot.prepare()?;
            let kek = AeadKey::new(
                Algorithm::XChaCha20Poly1305,
                &derive_key(password, &salt, &params)?,
            )?;
            let aad = slot_aad(&self.vault_id, slot.id, &params, &salt);
            if let Ok(master) = kek.open(&wrapped, &aad) {
                return Ok(SecretKey::from_slice(&master)?);
            }
        }
        Err(StoreError::WrongPassword)
    }

    /// Every check [`Header::unlock`] makes before deriving a key, on every slot.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn check_slots(&self) -> Result<()> {
        self.slots
            .iter()
            .try_for_each(|slot| slot.prepare().map(drop))
    }

    /// Check the header's MAC with the unlocked vault's subkey.
    pub(crate) fn verify_mac(&self, barrier: &Barrier) -> Result<()> {
        let expected = hmac_sha256(barrier.header_mac.expose_secret(), &self.mac_input());
        let expected = encode_hex(expected.as_bytes());
        if constant_time_eq(expected.as_bytes(), self.mac.as_bytes()) {
            Ok(())
        } else {
            Err(StoreError::tampered("vault header"))
        }
    }

    /// The same header with its password slot replaced by one for `new_password`, wrapping the
    /// same master key.
    pub(crate) fn change_password(
        &self,
        master: &SecretKey,
        barrier: &Barrier,
        new_password: &[u8],
        params: &Argon2Params,
    ) -> Result<Header> {
        let mut header = self.clone();
        let id = header
            .slots
            .iter()
            .map(|slot| slot.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        header.slots = vec![password_slot(
            id,
            master,
            new_password,
            params,
            &self.vault_id,
        )?];
        header.seal_mac(barrier);
        Ok(header)
    }

    fn seal_mac(&mut self, barrier: &Barrier) {
        let mac = hmac_sha256(barrier.header_mac.expose_secret(), &self.mac_input());
        self.mac = encode_hex(mac.as_bytes());
    }

    /// Every field but the MAC, each length-prefixed, in a fixed order.
    fn mac_input(&self) -> Vec<u8> {
        let mut mac = Vec::new();
        let mut field = |bytes: &[u8]| {
            mac.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            mac.extend_from_slice(bytes);
        };
        field(b"keyvault header v1");
        field(&self.format.to_be_bytes());
        field(&self.vault_id);
        field(&self.created_at.as_unix_millis().to_be_bytes());
        for slot in &self.slots {
            let SlotKind::Password {
                salt,
                memory_kib,
                iterations,
                lanes,
                wrapped,
            } = &slot.kind;
            field(b"password");
            field(&slot.id.to_be_bytes());
            field(salt.as_bytes());
            field(&memory_kib.to_be_bytes());
            field(&iterations.to_be_bytes());
            field(&lanes.to_be_bytes());
            field(wrapped.as_bytes());
        }
        mac
    }
}

/// A password slot's fields decoded and bounded: all that deriving its key needs.
struct PasswordSlot {
    salt: Zeroizing<Vec<u8>>,
    wrapped: Zeroizing<Vec<u8>>,
    params: Argon2Params,
}

// PasswordSlot holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(PasswordSlot: std::fmt::Debug, Copy);

impl Keyslot {
    /// Decode the slot's hex fields and bound its salt and Argon2 parameters, so a hostile
    /// header is refused before any derivation (and cannot make us allocate gigabytes).
    fn prepare(&self) -> Result<PasswordSlot> {
        let SlotKind::Password {
            salt,
            memory_kib,
            iterations,
            lanes,
            wrapped,
        } = &self.kind;
        let salt = decode_hex(salt, "keyslot salt")?;
        let wrapped = decode_hex(wrapped, "keyslot")?;
        let params = Argon2Params {
            memory_kib: *memory_kib,
            iterations: *iterations,
            lanes: *lanes,
        };
        params
            .validate()
            .map_err(|_| StoreError::tampered("keyslot parameters"))?;
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(StoreError::tampered("keyslot salt"));
        }
        Ok(PasswordSlot {
            salt,
            wrapped,
            params,
        })
    }
}

fn password_slot(
    id: u32,
    master: &SecretKey,
    password: &[u8],
    params: &Argon2Params,
    vault_id: &[u8; VAULT_ID_LEN],
) -> Result<Keyslot> {
    params.validate()?;
    let salt = random::bytes::<SALT_LEN>()?;
    let kek = AeadKey::new(
        Algorithm::XChaCha20Poly1305,
        &derive_key(password, &salt, params)?,
    )?;
    let wrapped = kek.seal(
        master.expose_secret(),
        &slot_aad(vault_id, id, params, &salt),
    )?;
    Ok(Keyslot {
        id,
        kind: SlotKind::Password {
            salt: encode_hex(&salt),
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            lanes: params.lanes,
            wrapped: encode_hex(&wrapped),
        },
    })
}

/// What a password slot's wrapping binds: change any of it and the slot no longer opens.
fn slot_aad(vault_id: &[u8], slot_id: u32, params: &Argon2Params, salt: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + salt.len());
    aad.extend_from_slice(b"keyvault keyslot v1");
    aad.extend_from_slice(vault_id);
    aad.extend_from_slice(&slot_id.to_be_bytes());
    aad.extend_from_slice(&params.memory_kib.to_be_bytes());
    aad.extend_from_slice(&params.iterations.to_be_bytes());
    aad.extend_from_slice(&params.lanes.to_be_bytes());
    aad.extend_from_slice(salt);
    aad
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn decode_hex(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    if text.len() > 2 * 1024 {
        return Err(StoreError::tampered(what));
    }
    hex::decode(text)
        .map(Zeroizing::new)
        .map_err(|_| StoreError::tampered(what))
}

/// Serde for a fixed-size byte array as hex.
pub(crate) mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(&text).map_err(D::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom("wrong length"))
    }
}
