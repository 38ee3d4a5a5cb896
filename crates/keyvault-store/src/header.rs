//! The vault header and its keyslots (after LUKS).
//!
//! The vault's random 256-bit master key is never stored in the clear: each keyslot wraps it
//! under a key-encryption key. A password slot derives that key with Argon2id from the password
//! and a per-slot random salt, and binds the vault id, the slot id, the Argon2 parameters and the
//! salt as associated data, so none of them can be changed without the slot failing to open.
//! Changing the password rewraps the master key; no record is re-encrypted. Recovery-key,
//! shares and external slots wrap the same master key under keys from [`crate::custody`].
//!
//! The header is stored unsealed (it holds what unlocking needs) as bounded JSON, and carries an
//! HMAC under a master-key subkey over all its fields, checked after unlocking.

use std::collections::BTreeMap;

use keyvault_core::Timestamp;
use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::mac::hmac_sha256;
use keyvault_crypto::password::{MAX_SALT_LEN, MIN_SALT_LEN, derive_key};
use keyvault_crypto::{
    AeadKey, Algorithm, Argon2Params, SecretKey, Zeroizing, constant_time_eq, random,
};
use serde::{Deserialize, Serialize};

use crate::barrier::{Barrier, VAULT_ID_LEN};
use crate::custody::{ExternalWrapper, RecoveryKey, Share, Unlock, combine_shares, deal_shares};
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

/// The kinds of keyslot. In each, `wrapped` is `nonce || master key || tag` (XChaCha20-Poly1305)
/// in hex, under the slot's key-encryption key, with the slot's fields as associated data.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SlotKind {
    /// Argon2id(password, salt) is the key-encryption key.
    Password {
        /// Per-slot random salt, hex.
        salt: String,
        memory_kib: u32,
        iterations: u32,
        lanes: u32,
        wrapped: String,
    },
    /// HKDF-SHA256 of a 256-bit recovery key is the key-encryption key.
    Recovery { wrapped: String },
    /// HKDF-SHA256 of a secret split into `count` shares, any `threshold` of which recover it.
    Shares {
        /// The share set's random id, hex; every share names it.
        set_id: String,
        threshold: u8,
        count: u8,
        /// [`Share::digest`] of share 1, 2, ... `count`, hex: checks a share without opening.
        digests: Vec<String>,
        wrapped: String,
    },
    /// A random slot key, wrapped by a provider outside the vault (HSM, cloud KMS), is the
    /// key-encryption key.
    External {
        /// The provider's name ([`ExternalWrapper::name`]).
        provider: String,
        /// Its non-secret settings ([`ExternalWrapper::settings`]).
        settings: BTreeMap<String, String>,
        /// The slot key as the provider wrapped it, hex.
        sealed_key: String,
        wrapped: String,
    },
}

impl SlotKind {
    /// The wrapped master key (hex), which every kind has.
    fn wrapped(&self) -> &str {
        match self {
            SlotKind::Password { wrapped, .. }
            | SlotKind::Recovery { wrapped }
            | SlotKind::Shares { wrapped, .. }
            | SlotKind::External { wrapped, .. } => wrapped,
        }
    }

    fn wrapped_mut(&mut self) -> &mut String {
        match self {
            SlotKind::Password { wrapped, .. }
            | SlotKind::Recovery { wrapped }
            | SlotKind::Shares { wrapped, .. }
            | SlotKind::External { wrapped, .. } => wrapped,
        }
    }
}

/// A keyslot as slot listings show it: its kind and non-secret settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotDescription {
    /// A password slot and its Argon2id costs.
    Password {
        /// The costs of deriving its key.
        argon2: Argon2Params,
    },
    /// A recovery-key slot.
    Recovery,
    /// A shares slot.
    Shares {
        /// How many shares open it.
        threshold: u8,
        /// How many shares were dealt.
        count: u8,
    },
    /// A slot opened by a provider outside the vault.
    External {
        /// The provider (`pkcs11`, `aws-kms`).
        provider: String,
        /// Its settings (token and key labels, a key id).
        settings: BTreeMap<String, String>,
    },
}

/// One keyslot of a vault.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotInfo {
    /// The slot's id, stable for its life.
    pub id: u32,
    /// What opens it.
    pub slot: SlotDescription,
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

    /// The master key, from the first slot of the offered kind that opens.
    pub(crate) fn unlock(&self, how: &Unlock<'_>) -> Result<SecretKey> {
        match how {
            Unlock::Password(password) => self.unlock_password(password),
            Unlock::Recovery(key) => self.unlock_recovery(key),
            Unlock::Shares(shares) => self.unlock_shares(shares),
            Unlock::External(wrapper) => self.unlock_external(*wrapper),
        }
    }

    fn unlock_password(&self, password: &[u8]) -> Result<SecretKey> {
        let mut any = false;
        for slot in &self.slots {
            let Some(PasswordSlot {
                salt,
                wrapped,
                params,
            }) = slot.prepare()?
            else {
                continue;
            };
            any = true;
            let kek = AeadKey::new(
                Algorithm::XChaCha20Poly1305,
                &derive_key(password, &salt, &params)?,
            )?;
            let aad = slot_aad(&self.vault_id, slot.id, &params, &salt);
            if let Ok(master) = kek.open(&wrapped, &aad) {
                return Ok(SecretKey::from_slice(&master)?);
            }
        }
        if any {
            Err(StoreError::WrongPassword)
        } else {
            Err(StoreError::NoSlot { what: "password" })
        }
    }

    fn unlock_recovery(&self, key: &RecoveryKey) -> Result<SecretKey> {
        let kek = recovery_kek(key, &self.vault_id)?;
        let mut any = false;
        for slot in &self.slots {
            if let SlotKind::Recovery { wrapped } = &slot.kind {
                any = true;
                if let Some(master) = open_master(&kek, wrapped, &self.kind_aad(slot))? {
                    return Ok(master);
                }
            }
        }
        Err(if any {
            StoreError::SlotRefused {
                what: "recovery key",
            }
        } else {
            StoreError::NoSlot {
                what: "recovery key",
            }
        })
    }

    fn unlock_shares(&self, shares: &[Share]) -> Result<SecretKey> {
        let first = shares
            .first()
            .ok_or_else(|| StoreError::Shares("no share was given".to_owned()))?;
        for share in shares {
            if share.vault_id != self.vault_id {
                return Err(foreign(share, "it is a share of another vault"));
            }
            if share.set_id != first.set_id {
                return Err(StoreError::Shares(
                    "they come from two different sets of shares".to_owned(),
                ));
            }
        }
        if !self
            .slots
            .iter()
            .any(|slot| matches!(slot.kind, SlotKind::Shares { .. }))
        {
            return Err(StoreError::NoSlot { what: "shares" });
        }
        let mut seen = std::collections::BTreeSet::new();
        for share in shares {
            self.check_share(share)?;
            if !seen.insert(share.index) {
                return Err(StoreError::Shares(format!(
                    "share {} was given twice",
                    share.index
                )));
            }
        }
        let (slot, threshold, count, wrapped) = self
            .shares_slot_of(&first.set_id)
            .ok_or_else(|| foreign(first, SET_GONE))?;
        if shares.len() < usize::from(threshold) {
            return Err(StoreError::Shares(format!(
                "{} of {count} shares given; any {threshold} open the vault",
                shares.len()
            )));
        }
        let secret = combine_shares(shares, threshold)?;
        let kek = shares_kek(&secret, &first.set_id)?;
        open_master(&kek, wrapped, &self.kind_aad(slot))?
            .ok_or(StoreError::SlotRefused { what: "shares" })
    }

    /// The shares slot of set `set_id`, with its threshold, count and wrapped key.
    fn shares_slot_of(&self, set_id: &[u8]) -> Option<(&Keyslot, u8, u8, &str)> {
        let set_id = hex::encode(set_id);
        self.slots.iter().find_map(|slot| match &slot.kind {
            SlotKind::Shares {
                set_id: id,
                threshold,
                count,
                wrapped,
                ..
            } if *id == set_id => Some((slot, *threshold, *count, wrapped.as_str())),
            _ => None,
        })
    }

    fn unlock_external(&self, wrapper: &dyn ExternalWrapper) -> Result<SecretKey> {
        let mut failure = None;
        for slot in &self.slots {
            let SlotKind::External {
                provider,
                sealed_key,
                wrapped,
                ..
            } = &slot.kind
            else {
                continue;
            };
            if provider != wrapper.name() {
                continue;
            }
            let sealed_key = decode_hex(sealed_key, "keyslot")?;
            let slot_key = match wrapper.unwrap(&sealed_key, &self.external_context(slot.id)) {
                Ok(slot_key) => slot_key,
                Err(err) => {
                    failure = Some(err);
                    continue;
                }
            };
            let kek = AeadKey::new(Algorithm::XChaCha20Poly1305, &slot_key)?;
            if let Some(master) = open_master(&kek, wrapped, &self.kind_aad(slot))? {
                return Ok(master);
            }
            failure = Some(StoreError::SlotRefused {
                what: "external key",
            });
        }
        Err(failure.unwrap_or(StoreError::NoSlot {
            what: wrapper.name(),
        }))
    }

    /// What an external provider binds its wrapping to: this vault, this slot.
    fn external_context(&self, slot_id: u32) -> Vec<u8> {
        let mut context = b"keyvault external keyslot v1 ".to_vec();
        context.extend_from_slice(hex::encode(self.vault_id).as_bytes());
        context.extend_from_slice(format!(" {slot_id}").as_bytes());
        context
    }

    /// The slots as listings show them.
    pub(crate) fn describe_slots(&self) -> Vec<SlotInfo> {
        self.slots
            .iter()
            .map(|slot| SlotInfo {
                id: slot.id,
                slot: match &slot.kind {
                    SlotKind::Password {
                        memory_kib,
                        iterations,
                        lanes,
                        ..
                    } => SlotDescription::Password {
                        argon2: Argon2Params {
                            memory_kib: *memory_kib,
                            iterations: *iterations,
                            lanes: *lanes,
                        },
                    },
                    SlotKind::Recovery { .. } => SlotDescription::Recovery,
                    SlotKind::Shares {
                        threshold, count, ..
                    } => SlotDescription::Shares {
                        threshold: *threshold,
                        count: *count,
                    },
                    SlotKind::External {
                        provider, settings, ..
                    } => SlotDescription::External {
                        provider: provider.clone(),
                        settings: settings.clone(),
                    },
                },
            })
            .collect()
    }

    /// Whether `share` is one of this vault's current shares: its vault, set, position and
    /// digest all match. Needs no secret of the vault.
    pub(crate) fn check_share(&self, share: &Share) -> Result<()> {
        if share.vault_id != self.vault_id {
            return Err(foreign(share, "it is a share of another vault"));
        }
        let (slot, ..) = self
            .shares_slot_of(&share.set_id)
            .filter(|(_, threshold, count, _)| {
                share.threshold == *threshold && share.count == *count
            })
            .ok_or_else(|| foreign(share, SET_GONE))?;
        let SlotKind::Shares { digests, .. } = &slot.kind else {
            return Err(foreign(share, SET_GONE));
        };
        let kept = digests.get(usize::from(share.index).wrapping_sub(1));
        if kept.is_some_and(|kept| {
            constant_time_eq(kept.as_bytes(), hex::encode(share.digest()).as_bytes())
        }) {
            Ok(())
        } else {
            Err(foreign(
                share,
                "it does not match the digest the vault keeps of it (altered?)",
            ))
        }
    }

    /// The same header with one more slot, built by `build` for the next free slot id.
    pub(crate) fn with_slot(
        &self,
        barrier: &Barrier,
        build: impl FnOnce(u32) -> Result<SlotKind>,
    ) -> Result<(Header, u32)> {
        if self.slots.len() >= MAX_SLOTS {
            return Err(StoreError::InvalidSlot(format!(
                "a vault holds at most {MAX_SLOTS} keyslots; remove one first"
            )));
        }
        let id = self.next_slot_id();
        let mut header = self.clone();
        header.slots.push(Keyslot {
            id,
            kind: build(id)?,
        });
        header.seal_mac(barrier);
        Ok((header, id))
    }

    /// The same header without slot `id`, which must not be the last.
    pub(crate) fn without_slot(&self, barrier: &Barrier, id: u32) -> Result<Header> {
        if !self.slots.iter().any(|slot| slot.id == id) {
            return Err(StoreError::NoSuchSlot(id));
        }
        if self.slots.len() == 1 {
            return Err(StoreError::LastSlot(id));
        }
        let mut header = self.clone();
        header.slots.retain(|slot| slot.id != id);
        header.seal_mac(barrier);
        Ok(header)
    }

    fn next_slot_id(&self) -> u32 {
        self.slots
            .iter()
            .map(|slot| slot.id)
            .max()
            .map_or(0, |id| id.saturating_add(1))
    }

    /// A recovery slot `id` wrapping `master`, and its key.
    pub(crate) fn recovery_slot(
        &self,
        master: &SecretKey,
        id: u32,
    ) -> Result<(SlotKind, RecoveryKey)> {
        let key = RecoveryKey::generate()?;
        let kek = recovery_kek(&key, &self.vault_id)?;
        let kind = SlotKind::Recovery {
            wrapped: String::new(),
        };
        Ok((self.seal_slot(kind, &kek, master, id)?, key))
    }

    /// A shares slot `id` wrapping `master`, and its shares.
    pub(crate) fn shares_slot(
        &self,
        master: &SecretKey,
        id: u32,
        threshold: u8,
        count: u8,
    ) -> Result<(SlotKind, Vec<Share>)> {
        let (secret, set_id, shares) = deal_shares(self.vault_id, threshold, count)?;
        let kind = SlotKind::Shares {
            set_id: hex::encode(set_id),
            threshold,
            count,
            digests: shares
                .iter()
                .map(|share| hex::encode(share.digest()))
                .collect(),
            wrapped: String::new(),
        };
        let kek = shares_kek(&secret, &set_id)?;
        Ok((self.seal_slot(kind, &kek, master, id)?, shares))
    }

    /// A slot `id` whose random key `wrapper` wraps.
    pub(crate) fn external_slot(
        &self,
        master: &SecretKey,
        id: u32,
        wrapper: &dyn ExternalWrapper,
    ) -> Result<SlotKind> {
        let slot_key = SecretKey::generate()?;
        let sealed_key = wrapper.wrap(&slot_key, &self.external_context(id))?;
        let kind = SlotKind::External {
            provider: wrapper.name().to_owned(),
            settings: wrapper.settings(),
            sealed_key: encode_hex(&sealed_key),
            wrapped: String::new(),
        };
        let kek = AeadKey::new(Algorithm::XChaCha20Poly1305, &slot_key)?;
        self.seal_slot(kind, &kek, master, id)
    }

    /// `kind` with `master` wrapped under `kek`, bound to every other field of slot `id`.
    fn seal_slot(
        &self,
        mut kind: SlotKind,
        kek: &AeadKey,
        master: &SecretKey,
        id: u32,
    ) -> Result<SlotKind> {
        let wrapped = kek.seal(master.expose_secret(), &kind_aad(&self.vault_id, id, &kind))?;
        *kind.wrapped_mut() = encode_hex(&wrapped);
        Ok(kind)
    }

    fn kind_aad(&self, slot: &Keyslot) -> Vec<u8> {
        kind_aad(&self.vault_id, slot.id, &slot.kind)
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
        let id = self.next_slot_id();
        header
            .slots
            .retain(|slot| !matches!(slot.kind, SlotKind::Password { .. }));
        header.slots.push(password_slot(
            id,
            master,
            new_password,
            params,
            &self.vault_id,
        )?);
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
            if let SlotKind::Password {
                salt,
                memory_kib,
                iterations,
                lanes,
                wrapped,
            } = &slot.kind
            {
                field(b"password");
                field(&slot.id.to_be_bytes());
                field(salt.as_bytes());
                field(&memory_kib.to_be_bytes());
                field(&iterations.to_be_bytes());
                field(&lanes.to_be_bytes());
                field(wrapped.as_bytes());
            } else {
                // The other kinds: their associated data already lists every field but
                // `wrapped` (and the external provider's sealed key) in a fixed order.
                field(&kind_aad(&self.vault_id, slot.id, &slot.kind));
                if let SlotKind::External { sealed_key, .. } = &slot.kind {
                    field(sealed_key.as_bytes());
                }
                field(slot.kind.wrapped().as_bytes());
            }
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
    /// For a password slot: decode its hex fields and bound its salt and Argon2 parameters, so
    /// a hostile header is refused before any derivation (and cannot make us allocate
    /// gigabytes). `None` for the other kinds, which derive nothing expensive.
    fn prepare(&self) -> Result<Option<PasswordSlot>> {
        let SlotKind::Password {
            salt,
            memory_kib,
            iterations,
            lanes,
            wrapped,
        } = &self.kind
        else {
            return Ok(None);
        };
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
        Ok(Some(PasswordSlot {
            salt,
            wrapped,
            params,
        }))
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

/// Why a share's set is not the vault's.
const SET_GONE: &str = "its set is not among the vault's keyslots (replaced or removed)";

fn foreign(share: &Share, reason: &'static str) -> StoreError {
    StoreError::ForeignShare {
        index: share.index,
        reason,
    }
}

/// What a recovery, shares or external slot's wrapping binds: the vault, the slot id, its kind
/// and every field but the wrapped key itself, each length-prefixed.
fn kind_aad(vault_id: &[u8], slot_id: u32, kind: &SlotKind) -> Vec<u8> {
    let mut aad = Vec::with_capacity(128);
    let mut field = |bytes: &[u8]| {
        aad.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(bytes);
    };
    field(b"keyvault keyslot v2");
    field(vault_id);
    field(&slot_id.to_be_bytes());
    match kind {
        SlotKind::Password { .. } => field(b"password"),
        SlotKind::Recovery { .. } => field(b"recovery"),
        SlotKind::Shares {
            set_id,
            threshold,
            count,
            digests,
            ..
        } => {
            field(b"shares");
            field(set_id.as_bytes());
            field(&[*threshold, *count]);
            for digest in digests {
                field(digest.as_bytes());
            }
        }
        SlotKind::External {
            provider, settings, ..
        } => {
            field(b"external");
            field(provider.as_bytes());
            for (name, value) in settings {
                field(name.as_bytes());
                field(value.as_bytes());
            }
        }
    }
    aad
}

fn recovery_kek(key: &RecoveryKey, vault_id: &[u8]) -> Result<AeadKey> {
    let kek = derive_subkey(key.secret(), "keyvault recovery keyslot", vault_id)?;
    Ok(AeadKey::new(Algorithm::XChaCha20Poly1305, &kek)?)
}

fn shares_kek(secret: &SecretKey, set_id: &[u8]) -> Result<AeadKey> {
    let kek = derive_subkey(secret, "keyvault shares keyslot", set_id)?;
    Ok(AeadKey::new(Algorithm::XChaCha20Poly1305, &kek)?)
}

/// Open a slot's wrapped master key: `None` when it does not authenticate under `kek`.
fn open_master(kek: &AeadKey, wrapped: &str, aad: &[u8]) -> Result<Option<SecretKey>> {
    let wrapped = decode_hex(wrapped, "keyslot")?;
    match kek.open(&wrapped, aad) {
        Ok(master) => Ok(Some(SecretKey::from_slice(&master)?)),
        Err(_) => Ok(None),
    }
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
