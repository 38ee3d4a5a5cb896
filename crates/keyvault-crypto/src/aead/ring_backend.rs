//! The optional `ring` AEAD backend: ring's assembly implementations of ChaCha20-Poly1305 and
//! AES-256-GCM. XChaCha20-Poly1305 is built as draft-irtf-cfrg-xchacha specifies: an HChaCha20
//! subkey from the key and the first 16 nonce bytes, then ChaCha20-Poly1305 with the nonce
//! `0x00000000 || nonce[16..24]`. Byte-for-byte the same output as the default backend.
//!
//! ring's key types do not zeroize on drop; see docs/CRYPTO.md.

use chacha20::{R20, hchacha};
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::Tag;
use crate::algorithm::Algorithm;
use crate::error::{CryptoError, Result};
use crate::secret::SecretKey;

pub(crate) enum Cipher {
    // The subkey depends on each nonce, so the key stays in its zeroizing box.
    XChaCha(SecretKey),
    ChaCha(LessSafeKey),
    Aes(LessSafeKey),
}

// Cipher holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Cipher: std::fmt::Debug, Copy);

impl Cipher {
    pub(crate) fn new(algorithm: Algorithm, key: &SecretKey) -> Result<Self> {
        Ok(match algorithm {
            Algorithm::XChaCha20Poly1305 => Cipher::XChaCha(key.clone()),
            Algorithm::ChaCha20Poly1305 => {
                Cipher::ChaCha(ring_key(&CHACHA20_POLY1305, key.expose_secret())?)
            }
            Algorithm::Aes256Gcm => Cipher::Aes(ring_key(&AES_256_GCM, key.expose_secret())?),
        })
    }

    /// Encrypt `buf` in place. The caller has checked the nonce length.
    pub(crate) fn seal(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        match self {
            Cipher::XChaCha(key) => {
                let (subkey, nonce) = xchacha_subkey(key, nonce)?;
                seal_ring(&subkey, "xchacha20-poly1305", &nonce, aad, buf)
            }
            Cipher::ChaCha(key) => seal_ring(key, "chacha20-poly1305", nonce, aad, buf),
            Cipher::Aes(key) => seal_ring(key, "aes-256-gcm", nonce, aad, buf),
        }
    }

    /// Decrypt `buf` in place if `tag` verifies. The caller has checked the nonce length and
    /// wipes `buf` on error.
    pub(crate) fn open(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &Tag) -> Result<()> {
        match self {
            Cipher::XChaCha(key) => {
                let (subkey, nonce) = xchacha_subkey(key, nonce)?;
                open_ring(&subkey, &nonce, aad, buf, tag)
            }
            Cipher::ChaCha(key) | Cipher::Aes(key) => open_ring(key, nonce, aad, buf, tag),
        }
    }
}

fn ring_key(algorithm: &'static ring::aead::Algorithm, key: &[u8; 32]) -> Result<LessSafeKey> {
    UnboundKey::new(algorithm, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidLength {
            what: "key",
            expected: algorithm.key_len(),
            actual: key.len(),
        })
}

/// The XChaCha20 construction: HChaCha20(key, nonce[..16]) and the 12-byte ChaCha20 nonce.
fn xchacha_subkey(key: &SecretKey, nonce: &[u8]) -> Result<(LessSafeKey, [u8; 12])> {
    let (head, tail) = nonce
        .split_at_checked(16)
        .ok_or(CryptoError::InvalidLength {
            what: "nonce",
            expected: 24,
            actual: nonce.len(),
        })?;
    let head: &[u8; 16] = head.try_into().map_err(|_| CryptoError::InvalidLength {
        what: "nonce",
        expected: 24,
        actual: nonce.len(),
    })?;
    let subkey = Zeroizing::new(<[u8; 32]>::from(hchacha::<R20>(
        key.expose_secret().into(),
        head.into(),
    )));
    let mut chacha_nonce = [0u8; 12];
    chacha_nonce
        .get_mut(4..)
        .filter(|dst| dst.len() == tail.len())
        .ok_or(CryptoError::InvalidLength {
            what: "nonce",
            expected: 24,
            actual: nonce.len(),
        })?
        .copy_from_slice(tail);
    Ok((ring_key(&CHACHA20_POLY1305, &subkey)?, chacha_nonce))
}

fn ring_nonce(nonce: &[u8]) -> Result<Nonce> {
    Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::InvalidLength {
        what: "nonce",
        expected: 12,
        actual: nonce.len(),
    })
}

fn seal_ring(
    key: &LessSafeKey,
    name: &'static str,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<Tag> {
    let tag = key
        .seal_in_place_separate_tag(ring_nonce(nonce)?, Aad::from(aad), buf)
        .map_err(|_| CryptoError::MessageTooLong(name))?;
    tag.as_ref()
        .try_into()
        .map_err(|_| CryptoError::MessageTooLong(name))
}

fn open_ring(key: &LessSafeKey, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &Tag) -> Result<()> {
    let nonce = ring_nonce(nonce).map_err(|_| CryptoError::Authentication)?;
    key.open_in_place_separate_tag(nonce, Aad::from(aad), ring::aead::Tag::from(*tag), buf, 0..)
        .map(|_| ())
        .map_err(|_| CryptoError::Authentication)
}
