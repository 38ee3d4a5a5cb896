#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod aead;
mod algorithm;
mod argon2_params;
mod error;
pub mod hazmat;
pub mod kdf;
pub mod mac;
pub mod password;
pub mod random;
mod secret;

pub use crate::aead::{AeadKey, Nonce, Tag};
pub use crate::algorithm::{Algorithm, KEY_LEN, MAX_NONCE_LEN, TAG_LEN};
pub use crate::argon2_params::Argon2Params;
pub use crate::error::{CryptoError, Result};
pub use crate::secret::{SecretBytes, SecretKey, constant_time_eq};
pub use zeroize::Zeroizing;

/// Which AEAD implementation this build uses: `"rustcrypto"` or `"ring"` (the `ring` feature).
pub const AEAD_BACKEND: &str = if cfg!(feature = "ring") {
    "ring"
} else {
    "rustcrypto"
};
