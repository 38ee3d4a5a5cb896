//! What a key is for: its algorithm and, from that, its purpose and the operations it supports.

use std::fmt;
use std::str::FromStr;

use keyvault_crypto::Algorithm;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::truncate_for_error;
use crate::policy::KeyOperation;

/// The algorithm a key's versions are used with. A key never changes algorithm: rotation makes
/// a new version of the same algorithm.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// XChaCha20-Poly1305 authenticated encryption (the default).
    #[default]
    #[serde(rename = "xchacha20-poly1305")]
    XChaCha20Poly1305,
    /// ChaCha20-Poly1305 authenticated encryption (RFC 8439); versions are capped below 2^32
    /// encryptions ([`KeyAlgorithm::max_encryptions_per_version`]).
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
    /// AES-256-GCM authenticated encryption; versions are capped below 2^32 encryptions
    /// ([`KeyAlgorithm::max_encryptions_per_version`]).
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    /// HMAC-SHA256 message authentication, and HKDF-SHA256 derivation from the same primitive.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

/// The broad purpose of a key. A key serves exactly one purpose, so no key material is used
/// both to encrypt and to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyPurpose {
    /// Authenticated encryption: encrypt, decrypt, wrap and unwrap.
    Encryption,
    /// Message authentication and derivation: sign (MAC), verify, derive.
    Authentication,
}

impl KeyAlgorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [KeyAlgorithm; 4] = [
        KeyAlgorithm::XChaCha20Poly1305,
        KeyAlgorithm::ChaCha20Poly1305,
        KeyAlgorithm::Aes256Gcm,
        KeyAlgorithm::HmacSha256,
    ];

    /// The most messages one key version may seal, for the AEADs whose random nonces have 96
    /// bits (AES-256-GCM, ChaCha20-Poly1305): [`SHORT_NONCE_MAX_ENCRYPTIONS`](crate::SHORT_NONCE_MAX_ENCRYPTIONS).
    /// `None` for XChaCha20-Poly1305, whose 192-bit nonces never run out, and for HMAC.
    #[must_use]
    pub const fn max_encryptions_per_version(self) -> Option<u64> {
        match self {
            KeyAlgorithm::Aes256Gcm | KeyAlgorithm::ChaCha20Poly1305 => {
                Some(crate::rotation::SHORT_NONCE_MAX_ENCRYPTIONS)
            }
            KeyAlgorithm::XChaCha20Poly1305 | KeyAlgorithm::HmacSha256 => None,
        }
    }

    /// The canonical lower-case name used on the command line and in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::XChaCha20Poly1305 => "xchacha20-poly1305",
            KeyAlgorithm::ChaCha20Poly1305 => "chacha20-poly1305",
            KeyAlgorithm::Aes256Gcm => "aes-256-gcm",
            KeyAlgorithm::HmacSha256 => "hmac-sha256",
        }
    }

    /// The purpose this algorithm serves.
    #[must_use]
    pub const fn purpose(self) -> KeyPurpose {
        match self {
            KeyAlgorithm::HmacSha256 => KeyPurpose::Authentication,
            _ => KeyPurpose::Encryption,
        }
    }

    /// The AEAD algorithm of an encryption key; `None` for HMAC-SHA256.
    #[must_use]
    pub const fn aead(self) -> Option<Algorithm> {
        match self {
            KeyAlgorithm::XChaCha20Poly1305 => Some(Algorithm::XChaCha20Poly1305),
            KeyAlgorithm::ChaCha20Poly1305 => Some(Algorithm::ChaCha20Poly1305),
            KeyAlgorithm::Aes256Gcm => Some(Algorithm::Aes256Gcm),
            KeyAlgorithm::HmacSha256 => None,
        }
    }

    /// Whether a key of this algorithm can perform `operation` at all (before any policy).
    ///
    /// Encryption keys encrypt, decrypt, wrap and unwrap; HMAC keys sign, verify and derive
    /// (HKDF-SHA256 is built from HMAC-SHA256). Both kinds can be exported.
    #[must_use]
    pub const fn supports(self, operation: KeyOperation) -> bool {
        match operation {
            KeyOperation::Export => true,
            KeyOperation::Encrypt
            | KeyOperation::Decrypt
            | KeyOperation::Wrap
            | KeyOperation::Unwrap => matches!(self.purpose(), KeyPurpose::Encryption),
            KeyOperation::Sign | KeyOperation::Verify | KeyOperation::Derive => {
                matches!(self.purpose(), KeyPurpose::Authentication)
            }
        }
    }
}

impl TryFrom<Algorithm> for KeyAlgorithm {
    type Error = Error;

    /// The key algorithm of an AEAD; an algorithm a later keyvault-crypto adds is refused until
    /// this crate knows it.
    fn try_from(algorithm: Algorithm) -> Result<Self> {
        match algorithm {
            Algorithm::XChaCha20Poly1305 => Ok(KeyAlgorithm::XChaCha20Poly1305),
            Algorithm::ChaCha20Poly1305 => Ok(KeyAlgorithm::ChaCha20Poly1305),
            Algorithm::Aes256Gcm => Ok(KeyAlgorithm::Aes256Gcm),
            other => Err(Error::UnknownAlgorithm {
                name: other.name().to_owned(),
            }),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses the canonical names, ignoring ASCII case.
impl FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownAlgorithm {
                name: truncate_for_error(s),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.name().parse::<KeyAlgorithm>().unwrap(), alg);
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.name()));
        }
        assert!(matches!(
            "rot13".parse::<KeyAlgorithm>(),
            Err(Error::UnknownAlgorithm { .. })
        ));
    }

    #[test]
    fn aead_algorithms_match_the_crypto_layer() {
        for alg in Algorithm::ALL {
            let key_alg = KeyAlgorithm::try_from(alg).unwrap();
            assert_eq!(key_alg.aead(), Some(alg));
            assert_eq!(key_alg.name(), alg.name());
        }
        assert_eq!(KeyAlgorithm::HmacSha256.aead(), None);
    }

    #[test]
    fn purposes_split_the_operations() {
        for op in KeyOperation::ALL {
            let by_aead = KeyAlgorithm::Aes256Gcm.supports(op);
            let by_mac = KeyAlgorithm::HmacSha256.supports(op);
            assert!(by_aead || by_mac, "{op:?} supported by nobody");
            assert_eq!(by_aead && by_mac, op == KeyOperation::Export, "{op:?}");
        }
    }
}
