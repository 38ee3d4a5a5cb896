//! The AEAD algorithms keyvault supports, with stable numeric ids for file formats.

use std::fmt;
use std::str::FromStr;

use crate::error::{CryptoError, Result};

/// Length in bytes of every key keyvault uses (AEAD and HMAC alike).
pub const KEY_LEN: usize = 32;
/// Length in bytes of every AEAD tag keyvault produces.
pub const TAG_LEN: usize = 16;
/// Length of the largest nonce of any supported algorithm (XChaCha20-Poly1305).
pub const MAX_NONCE_LEN: usize = 24;

/// An authenticated-encryption algorithm.
///
/// The numeric [`id`](Algorithm::id) is written into file formats and never changes meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): 192-bit random nonces, so random nonces
    /// never collide in practice. The default.
    #[default]
    XChaCha20Poly1305,
    /// ChaCha20-Poly1305 (RFC 8439) with 96-bit nonces.
    ChaCha20Poly1305,
    /// AES-256-GCM (NIST SP 800-38D) with 96-bit nonces. With random nonces a key must not
    /// seal more than 2^32 messages; keyvault-core caps versions below that.
    Aes256Gcm,
}

impl Algorithm {
    /// Every supported algorithm, in id order.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::XChaCha20Poly1305,
        Algorithm::ChaCha20Poly1305,
        Algorithm::Aes256Gcm,
    ];

    /// The stable numeric id used in file formats.
    #[must_use]
    pub const fn id(self) -> u8 {
        match self {
            Algorithm::XChaCha20Poly1305 => 1,
            Algorithm::ChaCha20Poly1305 => 2,
            Algorithm::Aes256Gcm => 3,
        }
    }

    /// The algorithm with this numeric id.
    ///
    /// # Errors
    /// [`CryptoError::UnknownAlgorithmId`] for an id this version does not know.
    pub const fn from_id(id: u8) -> Result<Self> {
        match id {
            1 => Ok(Algorithm::XChaCha20Poly1305),
            2 => Ok(Algorithm::ChaCha20Poly1305),
            3 => Ok(Algorithm::Aes256Gcm),
            other => Err(CryptoError::UnknownAlgorithmId(other)),
        }
    }

    /// The canonical lower-case name, as used on the command line and in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::XChaCha20Poly1305 => "xchacha20-poly1305",
            Algorithm::ChaCha20Poly1305 => "chacha20-poly1305",
            Algorithm::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// Key length in bytes (32 for all).
    #[must_use]
    pub const fn key_len(self) -> usize {
        KEY_LEN
    }

    /// Nonce length in bytes: 24 for XChaCha20-Poly1305, 12 for the others.
    #[must_use]
    pub const fn nonce_len(self) -> usize {
        match self {
            Algorithm::XChaCha20Poly1305 => 24,
            Algorithm::ChaCha20Poly1305 | Algorithm::Aes256Gcm => 12,
        }
    }

    /// Tag length in bytes (16 for all).
    #[must_use]
    pub const fn tag_len(self) -> usize {
        TAG_LEN
    }

    /// Bytes a sealed message adds to its plaintext: nonce plus tag.
    #[must_use]
    pub const fn overhead(self) -> usize {
        self.nonce_len() + TAG_LEN
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CryptoError::UnknownAlgorithmName(s.chars().take(64).collect()))
    }
}
