//! Ways to open a vault other than its password, and the secrets people keep for them.
//!
//! - A [`RecoveryKey`]: 256 random bits, shown once when its slot is added, in eight groups of
//!   eight characters that people can copy by hand. Each group carries a check byte, so a
//!   mistyped group is named rather than taken for a wrong key.
//! - [`Share`]s: a random slot secret split with Shamir's scheme (the `blahaj` crate) into N
//!   shares of which any M open the vault. Each share names its vault, its set, its index and
//!   the threshold, and carries a checksum; the vault header keeps a digest of every share, so
//!   a custodian's share can be checked against the vault without opening it.
//! - An [`ExternalWrapper`]: a key that never leaves a device or a service (a PKCS#11 token, a
//!   cloud KMS) wraps a random slot key. The vault knows only the provider's name and settings;
//!   providers live in their own crates.
//!
//! [`Unlock`] names which of these (or a password) opens a vault.

use std::collections::BTreeMap;

use base32ct::{Base32UpperUnpadded, Encoding};
use keyvault_crypto::mac::hmac_sha256;
use keyvault_crypto::{SecretKey, Zeroizing, constant_time_eq, random};

use crate::barrier::VAULT_ID_LEN;
use crate::error::{Result, StoreError};

/// How a vault is to be opened.
#[non_exhaustive]
pub enum Unlock<'a> {
    /// A password slot.
    Password(&'a [u8]),
    /// The recovery-key slot.
    Recovery(&'a RecoveryKey),
    /// A shares slot: at least its threshold of distinct shares of one set.
    Shares(&'a [Share]),
    /// A slot whose key a provider outside the vault holds.
    External(&'a dyn ExternalWrapper),
}

impl Unlock<'_> {
    /// What this unlock offers, for messages: "password", "recovery key", ...
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self {
            Unlock::Password(_) => "password",
            Unlock::Recovery(_) => "recovery key",
            Unlock::Shares(_) => "shares",
            Unlock::External(_) => "external key",
        }
    }
}

/// A key held outside the vault (in an HSM, a cloud KMS) that wraps and unwraps a vault's slot
/// key. The vault stores the provider's [`name`](Self::name), its
/// [`settings`](Self::settings) and the wrapped bytes, never a credential.
///
/// `context` binds the wrapping to one slot of one vault; providers that can (AES-GCM, KMS
/// encryption contexts) authenticate it, and the slot's own AEAD binds it in any case.
pub trait ExternalWrapper: Send + Sync {
    /// The provider's stable name, stored in the slot: `pkcs11`, `aws-kms`, ...
    fn name(&self) -> &'static str;

    /// Non-secret settings that find the same key again (a token and key label, a KMS key id).
    /// Stored in the slot and shown by slot listings; never a PIN or a credential.
    fn settings(&self) -> BTreeMap<String, String>;

    /// Wrap a 32-byte slot key.
    ///
    /// # Errors
    /// [`StoreError::Provider`] when the device or service refuses or cannot be reached.
    fn wrap(&self, key: &SecretKey, context: &[u8]) -> Result<Vec<u8>>;

    /// Unwrap what [`wrap`](Self::wrap) returned.
    ///
    /// # Errors
    /// [`StoreError::Provider`] when the device or service refuses or cannot be reached, or
    /// the bytes do not unwrap under its key.
    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<SecretKey>;
}

/// Groups in a recovery key's text form.
const RECOVERY_GROUPS: usize = 8;
/// Secret bytes per group: four, plus one check byte, make 40 bits, eight base32 characters.
const RECOVERY_GROUP_BYTES: usize = 4;

/// The secret of a recovery-key slot: 256 random bits.
pub struct RecoveryKey(SecretKey);

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(..)")
    }
}

impl RecoveryKey {
    pub(crate) fn generate() -> Result<Self> {
        Ok(RecoveryKey(SecretKey::generate()?))
    }

    pub(crate) fn secret(&self) -> &SecretKey {
        &self.0
    }

    /// The key as people copy it: eight groups of eight characters (A–Z, 2–7) joined by `-`.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(RECOVERY_GROUPS * 9));
        for (index, group) in self
            .0
            .expose_secret()
            .chunks_exact(RECOVERY_GROUP_BYTES)
            .enumerate()
        {
            let mut bytes = Zeroizing::new(Vec::with_capacity(RECOVERY_GROUP_BYTES + 1));
            bytes.extend_from_slice(group);
            bytes.push(group_check(index, group));
            if index > 0 {
                text.push('-');
            }
            text.push_str(&Zeroizing::new(Base32UpperUnpadded::encode_string(
                bytes.as_slice(),
            )));
        }
        text
    }

    /// Read a recovery key as [`to_text`](Self::to_text) writes it, forgiving case, spaces,
    /// dashes and the look-alikes 0/O, 1/I and 8/B.
    ///
    /// # Errors
    /// [`StoreError::Mistyped`] naming the first group whose check fails, or saying the length
    /// is wrong.
    pub fn from_text(text: &str) -> Result<Self> {
        let typed = normalise(text);
        let mistyped = |reason: String| StoreError::Mistyped {
            what: "recovery key",
            reason,
        };
        if typed.len() != RECOVERY_GROUPS * 8 {
            return Err(mistyped(format!(
                "a recovery key has {RECOVERY_GROUPS} groups of 8 characters; this has {} \
                 characters",
                typed.len()
            )));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        for (index, chunk) in typed.as_bytes().chunks_exact(8).enumerate() {
            let group_number = index + 1;
            let mut bytes = Zeroizing::new([0u8; RECOVERY_GROUP_BYTES + 1]);
            let decoded =
                Base32UpperUnpadded::decode(chunk, bytes.as_mut_slice()).map_err(|_| {
                    mistyped(format!(
                        "group {group_number} has a character out of A–Z, 2–7"
                    ))
                })?;
            let (group, check) = decoded
                .split_at_checked(RECOVERY_GROUP_BYTES)
                .ok_or_else(|| mistyped(format!("group {group_number} is too short")))?;
            if check != [group_check(index, group)] {
                return Err(mistyped(format!(
                    "group {group_number} of {RECOVERY_GROUPS} does not match its check; \
                     compare it with the copy"
                )));
            }
            let start = index * RECOVERY_GROUP_BYTES;
            secret
                .get_mut(start..start + RECOVERY_GROUP_BYTES)
                .ok_or_else(|| mistyped("too long".to_owned()))?
                .copy_from_slice(group);
        }
        Ok(RecoveryKey(SecretKey::from_array(&secret)))
    }
}

/// The check byte of recovery-key group `index`.
fn group_check(index: usize, group: &[u8]) -> u8 {
    let mut input = Zeroizing::new(Vec::with_capacity(1 + group.len()));
    input.push(u8::try_from(index).unwrap_or(u8::MAX));
    input.extend_from_slice(group);
    hmac_sha256(b"keyvault recovery key group v1", &input).as_bytes()[0]
}

/// Upper case, without spaces and dashes, look-alike digits mapped to the letters they stand
/// for (base32 has no 0, 1 or 8).
fn normalise(text: &str) -> Zeroizing<String> {
    Zeroizing::new(
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_uppercase() {
                '0' => 'O',
                '1' => 'I',
                '8' => 'B',
                other => other,
            })
            .collect(),
    )
}

/// Most shares a set may have.
pub const MAX_SHARES: u8 = 32;
/// Bytes of a share set's id.
pub(crate) const SET_ID_LEN: usize = 8;
/// The text form's prefix (the format version is the first byte inside).
const SHARE_PREFIX: &str = "KVSHARE";
/// version, vault id, set id, index, threshold, count, 32 share bytes, 5 checksum bytes.
const SHARE_LEN: usize = 1 + VAULT_ID_LEN + SET_ID_LEN + 3 + 32 + SHARE_CHECK_LEN;
const SHARE_CHECK_LEN: usize = 5;
const SHARE_FORMAT: u8 = 1;

/// One custodian's share of a shares slot.
pub struct Share {
    pub(crate) vault_id: [u8; VAULT_ID_LEN],
    pub(crate) set_id: [u8; SET_ID_LEN],
    pub(crate) index: u8,
    pub(crate) threshold: u8,
    pub(crate) count: u8,
    pub(crate) value: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("index", &self.index)
            .field("threshold", &self.threshold)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl Share {
    /// This share's number, 1 to [`count`](Self::count).
    #[must_use]
    pub fn index(&self) -> u8 {
        self.index
    }

    /// How many shares of the set open the vault.
    #[must_use]
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// How many shares the set has.
    #[must_use]
    pub fn count(&self) -> u8 {
        self.count
    }

    /// The id of the vault the share opens, hex (as `keyvault status` shows it).
    #[must_use]
    pub fn vault_id(&self) -> String {
        hex::encode(self.vault_id)
    }

    /// The share as text: `KVSHARE-` and thirteen groups of eight characters.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        let bytes = self.to_bytes();
        let encoded = Zeroizing::new(Base32UpperUnpadded::encode_string(bytes.as_slice()));
        let mut text = Zeroizing::new(String::from(SHARE_PREFIX));
        for chunk in encoded.as_bytes().chunks(8) {
            text.push('-');
            text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        }
        text
    }

    /// Read a share as [`to_text`](Self::to_text) writes it (case, spaces, line breaks and
    /// look-alike digits forgiven).
    ///
    /// # Errors
    /// [`StoreError::Mistyped`] when the text is not a share or its checksum fails.
    pub fn from_text(text: &str) -> Result<Self> {
        let mistyped = |reason: &str| StoreError::Mistyped {
            what: "share",
            reason: reason.to_owned(),
        };
        let typed = normalise(text);
        let body = typed
            .strip_prefix(SHARE_PREFIX)
            .ok_or_else(|| mistyped("a share starts with KVSHARE"))?;
        let mut bytes = Zeroizing::new([0u8; SHARE_LEN]);
        let decoded = Base32UpperUnpadded::decode(body, bytes.as_mut_slice())
            .map_err(|_| mistyped("it is not a whole share: characters are missing or wrong"))?;
        if decoded.len() != SHARE_LEN {
            return Err(mistyped(
                "it is not a whole share: characters are missing or wrong",
            ));
        }
        let (content, check) = bytes.split_at(SHARE_LEN - SHARE_CHECK_LEN);
        if !constant_time_eq(check, &share_check(content)) {
            return Err(mistyped(
                "its checksum does not match: a character is mistyped, or the share was altered",
            ));
        }
        let field = |range: std::ops::Range<usize>| {
            content
                .get(range)
                .ok_or_else(|| mistyped("it is not a whole share"))
        };
        if field(0..1)? != [SHARE_FORMAT] {
            return Err(mistyped(
                "it is a share of a format this version does not read",
            ));
        }
        let mut share = Share {
            vault_id: [0; VAULT_ID_LEN],
            set_id: [0; SET_ID_LEN],
            index: 0,
            threshold: 0,
            count: 0,
            value: Zeroizing::new([0; 32]),
        };
        share.vault_id.copy_from_slice(field(1..1 + VAULT_ID_LEN)?);
        let at = 1 + VAULT_ID_LEN;
        share.set_id.copy_from_slice(field(at..at + SET_ID_LEN)?);
        let at = at + SET_ID_LEN;
        let &[index, threshold, count] = field(at..at + 3)? else {
            return Err(mistyped("it is not a whole share"));
        };
        (share.index, share.threshold, share.count) = (index, threshold, count);
        share.value.copy_from_slice(field(at + 3..at + 35)?);
        if share.index == 0
            || share.index > share.count
            || share.threshold < 2
            || share.threshold > share.count
            || share.count > MAX_SHARES
        {
            return Err(mistyped("its index, threshold or count is impossible"));
        }
        Ok(share)
    }

    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
        bytes.push(SHARE_FORMAT);
        bytes.extend_from_slice(&self.vault_id);
        bytes.extend_from_slice(&self.set_id);
        bytes.extend_from_slice(&[self.index, self.threshold, self.count]);
        bytes.extend_from_slice(self.value.as_slice());
        let check = share_check(&bytes);
        bytes.extend_from_slice(&check);
        bytes
    }

    /// The digest the vault header keeps of this share: it tells whether a share belongs to
    /// the slot without revealing it.
    pub(crate) fn digest(&self) -> [u8; 32] {
        let mut input = Zeroizing::new(Vec::with_capacity(SET_ID_LEN + 33));
        input.extend_from_slice(&self.set_id);
        input.push(self.index);
        input.extend_from_slice(self.value.as_slice());
        *hmac_sha256(b"keyvault share digest v1", &input).as_bytes()
    }
}

fn share_check(content: &[u8]) -> [u8; SHARE_CHECK_LEN] {
    let mac = hmac_sha256(b"keyvault share checksum v1", content);
    let mut check = [0u8; SHARE_CHECK_LEN];
    check.copy_from_slice(&mac.as_bytes()[..SHARE_CHECK_LEN]);
    check
}

/// Split a fresh random slot secret into `count` shares, any `threshold` of which recover it.
pub(crate) fn deal_shares(
    vault_id: [u8; VAULT_ID_LEN],
    threshold: u8,
    count: u8,
) -> Result<(SecretKey, [u8; SET_ID_LEN], Vec<Share>)> {
    if threshold < 2 || threshold > count || count > MAX_SHARES {
        return Err(StoreError::InvalidSlot(format!(
            "shares need 2 ≤ threshold ≤ count ≤ {MAX_SHARES} (got {threshold} of {count}); \
             for one person, add a recovery key instead"
        )));
    }
    let secret = SecretKey::generate()?;
    let set_id = random::bytes::<SET_ID_LEN>()?;
    let shares = blahaj::Sharks(threshold)
        .dealer(secret.expose_secret())
        .take(usize::from(count))
        .map(|dealt| {
            let bytes = Zeroizing::new(Vec::<u8>::from(&dealt));
            let (x, y) = bytes.split_first().ok_or_else(share_failure)?;
            let mut value = Zeroizing::new([0u8; 32]);
            if y.len() != value.len() {
                return Err(share_failure());
            }
            value.copy_from_slice(y);
            Ok(Share {
                vault_id,
                set_id,
                index: *x,
                threshold,
                count,
                value,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if shares.len() != usize::from(count) {
        return Err(share_failure());
    }
    Ok((secret, set_id, shares))
}

/// Recover a slot secret from shares already checked to be distinct members of one set.
pub(crate) fn combine_shares(shares: &[Share], threshold: u8) -> Result<SecretKey> {
    let dealt = shares
        .iter()
        .map(|share| {
            let mut bytes = Zeroizing::new(Vec::with_capacity(33));
            bytes.push(share.index);
            bytes.extend_from_slice(share.value.as_slice());
            blahaj::Share::try_from(bytes.as_slice()).map_err(|_| share_failure())
        })
        .collect::<Result<Vec<_>>>()?;
    let secret = Zeroizing::new(
        blahaj::Sharks(threshold)
            .recover(&dealt)
            .map_err(|_| share_failure())?,
    );
    Ok(SecretKey::from_slice(&secret)?)
}

fn share_failure() -> StoreError {
    StoreError::Corrupt("secret sharing produced a share of the wrong shape".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    // Key-holding types: no derived Debug that could print them, never copied implicitly.
    static_assertions::assert_not_impl_any!(RecoveryKey: Copy, Clone);
    static_assertions::assert_not_impl_any!(Share: Copy, Clone);

    #[test]
    fn recovery_keys_round_trip_and_name_the_mistyped_group() {
        let key = RecoveryKey::generate().unwrap();
        let text = key.to_text();
        assert_eq!(text.len(), 8 * 8 + 7);
        let back = RecoveryKey::from_text(&text.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(back.0.expose_secret(), key.0.expose_secret());
        assert_eq!(format!("{key:?}"), "RecoveryKey(..)");
        // Change one character of group 3.
        let mut typed: Vec<char> = text.chars().collect();
        let at = 2 * 9 + 4;
        typed[at] = if typed[at] == 'A' { 'B' } else { 'A' };
        let typed: String = typed.into_iter().collect();
        match RecoveryKey::from_text(&typed) {
            Err(StoreError::Mistyped { what, reason }) => {
                assert_eq!(what, "recovery key");
                assert!(reason.contains("group 3 of 8"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            RecoveryKey::from_text(&text[..60]),
            Err(StoreError::Mistyped { .. })
        ));
    }

    #[test]
    fn shares_round_trip_and_any_threshold_recovers() {
        let (secret, _, shares) = deal_shares([7; VAULT_ID_LEN], 3, 5).unwrap();
        let parsed: Vec<Share> = shares
            .iter()
            .map(|share| Share::from_text(&share.to_text()).unwrap())
            .collect();
        for (a, b) in shares.iter().zip(&parsed) {
            assert_eq!(a.digest(), b.digest());
            assert_eq!((b.index, b.threshold, b.count), (a.index, 3, 5));
        }
        let recovered = combine_shares(&parsed[1..4], 3).unwrap();
        assert_eq!(recovered.expose_secret(), secret.expose_secret());
        let text = shares[0].to_text();
        let mut damaged: Vec<char> = text.chars().collect();
        damaged[10] = if damaged[10] == 'Q' { 'R' } else { 'Q' };
        let damaged: String = damaged.into_iter().collect();
        assert!(matches!(
            Share::from_text(&damaged),
            Err(StoreError::Mistyped { what: "share", .. })
        ));
    }

    #[test]
    fn impossible_share_sets_are_refused() {
        for (threshold, count) in [(1, 3), (4, 3), (2, MAX_SHARES + 1), (0, 0)] {
            assert!(
                matches!(
                    deal_shares([0; VAULT_ID_LEN], threshold, count),
                    Err(StoreError::InvalidSlot(_))
                ),
                "{threshold} of {count}"
            );
        }
    }
}
