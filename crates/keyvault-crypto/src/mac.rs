//! HMAC-SHA256 (RFC 2104) with constant-time verification.

use std::fmt;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{CryptoError, Result};

/// Length of a full HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// SHA-256's block length, HMAC's key block.
const HMAC_BLOCK_LEN: usize = 64;
/// Shortest truncated tag [`HmacSha256::verify_truncated`] accepts (128 bits).
pub const MIN_TRUNCATED_MAC_LEN: usize = 16;

/// A full 32-byte HMAC-SHA256 tag. Equality is constant-time.
#[derive(Clone)]
pub struct MacTag([u8; MAC_LEN]);

impl MacTag {
    /// The tag bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; MAC_LEN] {
        &self.0
    }

    /// A tag read from exactly 32 bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        bytes
            .try_into()
            .map(MacTag)
            .map_err(|_| CryptoError::InvalidLength {
                what: "MAC tag",
                expected: MAC_LEN,
                actual: bytes.len(),
            })
    }
}

impl AsRef<[u8]> for MacTag {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for MacTag {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for MacTag {}

impl fmt::Debug for MacTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacTag(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// An incremental HMAC-SHA256 computation. Its key state is zeroized on drop and never printed.
#[derive(Clone)]
pub struct HmacSha256(hmac::Hmac<Sha256>);

impl fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSha256([REDACTED])")
    }
}

impl HmacSha256 {
    /// Start a MAC under `key`, of any length.
    #[must_use]
    pub fn new(key: &[u8]) -> Self {
        // RFC 2104 §2: a key longer than the 64-byte block is hashed first, and every key is
        // padded with zeros to the block. Doing that here gives an infallible constructor.
        let mut block = Zeroizing::new([0u8; HMAC_BLOCK_LEN]);
        if key.len() > HMAC_BLOCK_LEN {
            let mut digest: [u8; MAC_LEN] = Sha256::digest(key).into();
            block
                .iter_mut()
                .zip(digest.iter())
                .for_each(|(b, d)| *b = *d);
            digest.zeroize();
        } else {
            block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
        }
        let block: &[u8; HMAC_BLOCK_LEN] = &block;
        HmacSha256(<hmac::Hmac<Sha256> as KeyInit>::new(block.into()))
    }

    /// Feed more data.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The full tag.
    #[must_use]
    pub fn finalize(self) -> MacTag {
        MacTag(self.0.finalize().into_bytes().into())
    }

    /// Check a full 32-byte tag in constant time.
    ///
    /// # Errors
    /// [`CryptoError::Authentication`] if `tag` is not exactly the right 32 bytes; a truncated
    /// tag is never accepted here.
    pub fn verify(self, tag: &[u8]) -> Result<()> {
        if tag.len() != MAC_LEN {
            return Err(CryptoError::Authentication);
        }
        self.0
            .verify_slice(tag)
            .map_err(|_| CryptoError::Authentication)
    }

    /// Check a tag truncated to its leftmost `tag_len` bytes (RFC 2104 §5), in constant time.
    /// The caller states the length it expects; a tag of any other length fails.
    ///
    /// # Errors
    /// [`CryptoError::LengthOutOfRange`] if `tag_len` is below 16 or above 32;
    /// [`CryptoError::Authentication`] if `tag` is not `tag_len` bytes or does not verify.
    pub fn verify_truncated(self, tag: &[u8], tag_len: usize) -> Result<()> {
        crate::password::check_len("truncated MAC", tag_len, MIN_TRUNCATED_MAC_LEN, MAC_LEN)?;
        if tag.len() != tag_len {
            return Err(CryptoError::Authentication);
        }
        let full = self.finalize();
        let prefix = full.0.get(..tag_len).ok_or(CryptoError::Authentication)?;
        if bool::from(prefix.ct_eq(tag)) {
            Ok(())
        } else {
            Err(CryptoError::Authentication)
        }
    }
}

/// HMAC-SHA256 of `data` under `key`.
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> MacTag {
    let mut mac = HmacSha256::new(key);
    mac.update(data);
    mac.finalize()
}

/// Verify a full HMAC-SHA256 tag in constant time.
///
/// # Errors
/// [`CryptoError::Authentication`] unless `tag` is the correct 32-byte tag.
pub fn hmac_sha256_verify(key: &[u8], data: &[u8], tag: &[u8]) -> Result<()> {
    let mut mac = HmacSha256::new(key);
    mac.update(data);
    mac.verify(tag)
}
