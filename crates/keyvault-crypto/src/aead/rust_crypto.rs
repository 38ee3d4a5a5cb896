//! The default AEAD backend: RustCrypto's pure-Rust implementations.

use aead::array::typenum::Unsigned as _;
use aead::{AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};

use super::Tag;
use crate::algorithm::Algorithm;
use crate::error::{CryptoError, Result};
use crate::secret::SecretKey;

/// A keyed cipher. The RustCrypto types zeroize their key material on drop.
pub(crate) enum Cipher {
    XChaCha(XChaCha20Poly1305),
    ChaCha(ChaCha20Poly1305),
    // Boxed: the AES key schedule and GHASH state are large.
    Aes(Box<Aes256Gcm>),
}

// Cipher holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(Cipher: std::fmt::Debug, Copy);

impl Cipher {
    pub(crate) fn new(algorithm: Algorithm, key: &SecretKey) -> Result<Self> {
        let key = key.expose_secret().into();
        Ok(match algorithm {
            Algorithm::XChaCha20Poly1305 => Cipher::XChaCha(XChaCha20Poly1305::new(key)),
            Algorithm::ChaCha20Poly1305 => Cipher::ChaCha(ChaCha20Poly1305::new(key)),
            Algorithm::Aes256Gcm => Cipher::Aes(Box::new(Aes256Gcm::new(key))),
        })
    }

    /// Encrypt `buf` in place. The caller has checked the nonce length.
    pub(crate) fn seal(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<Tag> {
        match self {
            Cipher::XChaCha(c) => seal_with(c, "xchacha20-poly1305", nonce, aad, buf),
            Cipher::ChaCha(c) => seal_with(c, "chacha20-poly1305", nonce, aad, buf),
            Cipher::Aes(c) => seal_with(c.as_ref(), "aes-256-gcm", nonce, aad, buf),
        }
    }

    /// Decrypt `buf` in place if `tag` verifies. The caller has checked the nonce length and
    /// wipes `buf` on error.
    pub(crate) fn open(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &Tag) -> Result<()> {
        match self {
            Cipher::XChaCha(c) => open_with(c, nonce, aad, buf, tag),
            Cipher::ChaCha(c) => open_with(c, nonce, aad, buf, tag),
            Cipher::Aes(c) => open_with(c.as_ref(), nonce, aad, buf, tag),
        }
    }
}

fn seal_with<A: AeadInOut>(
    cipher: &A,
    name: &'static str,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<Tag> {
    let nonce = aead::Nonce::<A>::try_from(nonce).map_err(|_| CryptoError::InvalidLength {
        what: "nonce",
        expected: A::NonceSize::USIZE,
        actual: nonce.len(),
    })?;
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.into())
        .map_err(|_| CryptoError::MessageTooLong(name))?;
    tag.as_slice()
        .try_into()
        .map_err(|_| CryptoError::MessageTooLong(name))
}

fn open_with<A: AeadInOut>(
    cipher: &A,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &Tag,
) -> Result<()> {
    let nonce = aead::Nonce::<A>::try_from(nonce).map_err(|_| CryptoError::Authentication)?;
    let tag = aead::Tag::<A>::try_from(tag.as_slice()).map_err(|_| CryptoError::Authentication)?;
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
        .map_err(|_| CryptoError::Authentication)
}
