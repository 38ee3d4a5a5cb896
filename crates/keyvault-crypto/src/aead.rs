//! Authenticated encryption with nonces managed for the caller.
//!
//! [`AeadKey::seal`] draws a fresh random nonce of the algorithm's size from the operating system
//! for every message and returns `nonce || ciphertext || tag`; [`AeadKey::open`] takes that layout
//! back. The detached forms work in place on large buffers. Opening never releases plaintext that
//! failed to authenticate: the buffer is wiped before the error is returned.
//!
//! Explicit nonces are dangerous (reuse breaks both confidentiality and integrity) and live apart
//! in [`crate::hazmat`].

#[cfg(not(feature = "ring"))]
#[path = "aead/rust_crypto.rs"]
mod backend;

#[cfg(feature = "ring")]
#[path = "aead/ring_backend.rs"]
mod backend;

use std::fmt;

use zeroize::Zeroize;

use crate::algorithm::{Algorithm, MAX_NONCE_LEN, TAG_LEN};
use crate::error::{CryptoError, Result};
use crate::random;
use crate::secret::{SecretBytes, SecretKey};

/// An AEAD authentication tag.
pub type Tag = [u8; TAG_LEN];

/// A nonce of one algorithm's length (24 or 12 bytes). Nonces are public values.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce {
    bytes: [u8; MAX_NONCE_LEN],
    len: usize,
}

impl Nonce {
    /// A fresh random nonce for `algorithm`.
    ///
    /// # Errors
    /// [`CryptoError::Randomness`] if the operating system cannot provide randomness.
    pub fn random(algorithm: Algorithm) -> Result<Self> {
        let mut nonce = Nonce {
            bytes: [0; MAX_NONCE_LEN],
            len: algorithm.nonce_len(),
        };
        random::fill(nonce.as_mut())?;
        Ok(nonce)
    }

    /// A nonce read from `bytes`, which must have `algorithm`'s nonce length.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedNonceLength`] for any other length.
    pub fn from_slice(algorithm: Algorithm, bytes: &[u8]) -> Result<Self> {
        check_nonce_len(algorithm, bytes)?;
        let mut nonce = Nonce {
            bytes: [0; MAX_NONCE_LEN],
            len: bytes.len(),
        };
        nonce.as_mut().copy_from_slice(bytes);
        Ok(nonce)
    }

    /// The nonce bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or_default()
    }
}

impl AsRef<[u8]> for Nonce {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(")?;
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

pub(crate) fn check_nonce_len(algorithm: Algorithm, nonce: &[u8]) -> Result<()> {
    if nonce.len() == algorithm.nonce_len() {
        Ok(())
    } else {
        Err(CryptoError::UnsupportedNonceLength {
            algorithm: algorithm.name(),
            expected: algorithm.nonce_len(),
            actual: nonce.len(),
        })
    }
}

/// A key bound to one AEAD algorithm, with its key schedule computed once.
///
/// Build one per key and reuse it: for AES-256-GCM the set-up (key expansion and the GHASH key)
/// costs more than sealing a small message.
pub struct AeadKey {
    algorithm: Algorithm,
    cipher: backend::Cipher,
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AeadKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl AeadKey {
    /// Bind `key` to `algorithm`.
    ///
    /// # Errors
    /// Only if the backend rejects the key, which no 32-byte key triggers with either backend;
    /// the `Result` keeps the backends interchangeable.
    pub fn new(algorithm: Algorithm, key: &SecretKey) -> Result<Self> {
        Ok(AeadKey {
            algorithm,
            cipher: backend::Cipher::new(algorithm, key)?,
        })
    }

    /// The algorithm this key seals with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Seal `plaintext` under a fresh random nonce; returns `nonce || ciphertext || tag`.
    ///
    /// # Errors
    /// [`CryptoError::Randomness`] if no nonce can be drawn; [`CryptoError::MessageTooLong`] past
    /// the algorithm's message limit.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.algorithm.overhead().saturating_add(plaintext.len()));
        self.seal_append(plaintext, aad, &mut out)?;
        Ok(out)
    }

    /// Seal `plaintext` and append `nonce || ciphertext || tag` to `out`, so a caller can write
    /// its own header first and build a whole record in one buffer. On error `out` is unchanged.
    ///
    /// # Errors
    /// As [`AeadKey::seal`].
    pub fn seal_append(&self, plaintext: &[u8], aad: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let nonce = Nonce::random(self.algorithm)?;
        let start = out.len();
        out.extend_from_slice(nonce.as_bytes());
        out.extend_from_slice(plaintext);
        let body_start = start.saturating_add(nonce.len);
        let sealed = match out.get_mut(body_start..) {
            Some(body) => self.cipher.seal(nonce.as_bytes(), aad, body),
            None => Err(CryptoError::MessageTooLong(self.algorithm.name())),
        };
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(())
            }
            Err(err) => {
                // The copied plaintext must not linger in the caller's buffer.
                if let Some(tail) = out.get_mut(start..) {
                    tail.zeroize();
                }
                out.truncate(start);
                Err(err)
            }
        }
    }

    /// Seal many messages, drawing all their nonces from the operating system in one call.
    ///
    /// Each item is `(plaintext, aad)`; each output is `nonce || ciphertext || tag`, exactly as
    /// [`AeadKey::seal`] would give.
    ///
    /// # Errors
    /// As [`AeadKey::seal`]; no output is returned unless every message sealed.
    pub fn seal_batch(&self, items: &[(&[u8], &[u8])]) -> Result<Vec<Vec<u8>>> {
        let nonce_len = self.algorithm.nonce_len();
        let mut nonces = vec![0u8; nonce_len.saturating_mul(items.len())];
        random::fill(&mut nonces)?;
        items
            .iter()
            .zip(nonces.chunks_exact(nonce_len))
            .map(|(&(plaintext, aad), nonce)| {
                let mut out =
                    Vec::with_capacity(self.algorithm.overhead().saturating_add(plaintext.len()));
                out.extend_from_slice(nonce);
                out.extend_from_slice(plaintext);
                let tag = match out.get_mut(nonce_len..) {
                    Some(body) => self.cipher.seal(nonce, aad, body),
                    None => Err(CryptoError::MessageTooLong(self.algorithm.name())),
                };
                match tag {
                    Ok(tag) => {
                        out.extend_from_slice(&tag);
                        Ok(out)
                    }
                    Err(err) => {
                        out.zeroize();
                        Err(err)
                    }
                }
            })
            .collect()
    }

    /// Open `nonce || ciphertext || tag` as produced by [`AeadKey::seal`].
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] for anything that does not authenticate, including input
    /// too short to hold a nonce and a tag.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        let (nonce, rest) = sealed
            .split_at_checked(self.algorithm.nonce_len())
            .ok_or(CryptoError::Authentication)?;
        let (ciphertext, tag) = rest
            .split_at_checked(rest.len().saturating_sub(TAG_LEN))
            .filter(|(_, tag)| tag.len() == TAG_LEN)
            .ok_or(CryptoError::Authentication)?;
        let mut plaintext = SecretBytes::new(ciphertext.to_vec());
        self.open_detached_with_nonce(nonce, aad, &mut plaintext, tag)?;
        Ok(plaintext)
    }

    /// Encrypt `buf` in place under a fresh random nonce; returns the nonce and the tag.
    ///
    /// # Errors
    /// As [`AeadKey::seal`]; on error `buf` is wiped.
    pub fn seal_in_place_detached(&self, aad: &[u8], buf: &mut [u8]) -> Result<(Nonce, Tag)> {
        let nonce = Nonce::random(self.algorithm)?;
        let tag = self.seal_detached_with_nonce(nonce.as_bytes(), aad, buf)?;
        Ok((nonce, tag))
    }

    /// Decrypt `buf` in place and check `tag`.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedNonceLength`] for a nonce of the wrong length,
    /// [`CryptoError::Authentication`] for a tag that does not verify. On any error `buf` is wiped,
    /// so no unauthenticated plaintext is ever released.
    pub fn open_in_place_detached(
        &self,
        nonce: &Nonce,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        self.open_detached_with_nonce(nonce.as_bytes(), aad, buf, tag)
    }

    pub(crate) fn seal_detached_with_nonce(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<Tag> {
        let result =
            check_nonce_len(self.algorithm, nonce).and_then(|()| self.cipher.seal(nonce, aad, buf));
        if result.is_err() {
            buf.zeroize();
        }
        result
    }

    pub(crate) fn open_detached_with_nonce(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        let result = check_nonce_len(self.algorithm, nonce).and_then(|()| {
            let tag: &Tag = tag.try_into().map_err(|_| CryptoError::Authentication)?;
            self.cipher.open(nonce, aad, buf, tag)
        });
        if result.is_err() {
            buf.zeroize();
        }
        result
    }
}
