//! Hazardous materials: primitives that are easy to misuse.
//!
//! Sealing under a caller-chosen nonce is catastrophic if a nonce ever repeats under one key:
//! ChaCha20-Poly1305 and AES-GCM then leak the XOR of plaintexts and let an attacker forge tags.
//! These functions exist for known-answer tests and for constructions that derive unique nonces
//! themselves (the STREAM construction for files). Everything else uses [`crate::AeadKey::seal`].

use crate::Argon2Params;
use crate::aead::{AeadKey, Tag};
use crate::algorithm::TAG_LEN;
use crate::error::{CryptoError, Result};
use crate::secret::SecretBytes;

/// Encrypt `buf` in place under an explicit `nonce`; returns the tag.
///
/// # Errors
/// [`CryptoError::UnsupportedNonceLength`] if `nonce` does not have the algorithm's length;
/// [`CryptoError::MessageTooLong`] past the algorithm's limit. On error `buf` is wiped.
pub fn seal_in_place_detached(
    key: &AeadKey,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<Tag> {
    key.seal_detached_with_nonce(nonce, aad, buf)
}

/// Decrypt `buf` in place under an explicit `nonce` and check `tag`.
///
/// # Errors
/// [`CryptoError::UnsupportedNonceLength`] or [`CryptoError::Authentication`]; on error `buf` is
/// wiped.
pub fn open_in_place_detached(
    key: &AeadKey,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<()> {
    key.open_detached_with_nonce(nonce, aad, buf, tag)
}

/// Seal `plaintext` under an explicit `nonce`; returns `ciphertext || tag` (no nonce).
///
/// # Errors
/// As [`seal_in_place_detached`].
pub fn seal_with_nonce(
    key: &AeadKey,
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(plaintext.len().saturating_add(TAG_LEN));
    out.extend_from_slice(plaintext);
    let tag = key.seal_detached_with_nonce(nonce, aad, &mut out)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Open `ciphertext || tag` under an explicit `nonce`.
///
/// # Errors
/// [`CryptoError::UnsupportedNonceLength`] for a nonce of the wrong length,
/// [`CryptoError::Authentication`] for anything that does not authenticate (including input
/// shorter than a tag).
pub fn open_with_nonce(
    key: &AeadKey,
    nonce: &[u8],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<SecretBytes> {
    // Nonce first: a wrong nonce length is a typed error whatever the length of the rest.
    crate::aead::check_nonce_len(key.algorithm(), nonce)?;
    let split = ciphertext_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CryptoError::Authentication)?;
    let (ciphertext, tag) = ciphertext_and_tag.split_at(split);
    let mut plaintext = SecretBytes::new(ciphertext.to_vec());
    key.open_detached_with_nonce(nonce, aad, &mut plaintext, tag)?;
    Ok(plaintext)
}

/// Raw Argon2id (RFC 9106) with the optional secret `K` and associated data `X`, writing
/// `out.len()` bytes. Enforces the parameter ceiling and the RFC's minimums (salt at least 8
/// bytes, output at least 4) but not keyvault's floor, so reference vectors with tiny costs run.
///
/// # Errors
/// [`CryptoError::Argon2Parameter`] or [`CryptoError::LengthOutOfRange`] for inputs out of range,
/// [`CryptoError::Argon2`] if the derivation fails.
pub fn argon2id(
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
    params: &Argon2Params,
    out: &mut [u8],
) -> Result<()> {
    crate::password::argon2id_raw(password, salt, secret, associated_data, params, out)
}
