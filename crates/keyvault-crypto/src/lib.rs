//! Cryptographic primitives for keyvault, built on the RustCrypto crates.
//!
//! - [`AeadKey`]: XChaCha20-Poly1305 (default), ChaCha20-Poly1305 and AES-256-GCM with a fresh
//!   random nonce on every seal; output `nonce || ciphertext || tag`.
//! - [`SecretKey`]: 256-bit keys that are zeroized on drop, redacted in `Debug` and compared in
//!   constant time.
//! - [`password::derive_key`]: Argon2id with parameters checked against a floor and a ceiling
//!   before any memory is allocated.
//! - [`kdf`]: HKDF-SHA256 and labelled subkeys; [`mac`]: HMAC-SHA256 with constant-time checks.
//! - [`hazmat`]: explicit nonces and raw Argon2id, for test vectors and stream constructions.
//!
//! This crate does no I/O and knows nothing of key names or states.
//!
//! ```
//! use keyvault_crypto::{AeadKey, Algorithm, SecretKey};
//!
//! let key = AeadKey::new(Algorithm::default(), &SecretKey::generate()?)?;
//! let sealed = key.seal(b"attack at dawn", b"record 7")?;
//! assert_eq!(&key.open(&sealed, b"record 7")?[..], b"attack at dawn");
//! assert!(key.open(&sealed, b"record 8").is_err());
//! # Ok::<(), keyvault_crypto::CryptoError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aead;
mod algorithm;
mod error;
pub mod hazmat;
pub mod kdf;
pub mod mac;
pub mod password;
pub mod random;
mod secret;

pub use crate::aead::{AeadKey, Nonce, Tag};
pub use crate::algorithm::{Algorithm, KEY_LEN, MAX_NONCE_LEN, TAG_LEN};
pub use crate::error::{CryptoError, Result};
pub use crate::password::Argon2Params;
pub use crate::secret::{SecretKey, constant_time_eq};
pub use zeroize::Zeroizing;

/// Which AEAD implementation this build uses: `"rustcrypto"` or `"ring"` (the `ring` feature).
pub const AEAD_BACKEND: &str = if cfg!(feature = "ring") {
    "ring"
} else {
    "rustcrypto"
};
