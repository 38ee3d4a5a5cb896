//! Secret key material and decrypted bytes: zeroized on drop, redacted in `Debug`; keys are
//! compared in constant time.

use std::fmt;
use std::ops::{Deref, DerefMut};

use secrecy::{ExposeSecret, SecretBox};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::algorithm::KEY_LEN;
use crate::error::{CryptoError, Result};
use crate::random;

/// A 256-bit secret key.
///
/// The bytes live on the heap inside [`secrecy::SecretBox`], so moving the key never leaves
/// copies behind, and they are overwritten with zeros when the key is dropped. The type is not
/// `Copy`; `Clone` makes a second zeroizing box. `Debug` prints no key bytes, and `==` runs in
/// constant time.
pub struct SecretKey(SecretBox<[u8; KEY_LEN]>);

impl SecretKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`CryptoError::Randomness`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self> {
        SecretBox::try_init_with(|| {
            let mut bytes = [0u8; KEY_LEN];
            random::fill(&mut bytes).map(|()| bytes)
        })
        .map(SecretKey)
    }

    /// A key from exactly 32 bytes. The caller remains responsible for wiping its own copy.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] unless `bytes` is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::InvalidLength {
                what: "key",
                expected: KEY_LEN,
                actual: bytes.len(),
            });
        }
        Ok(SecretKey(SecretBox::init_with_mut(
            |key: &mut [u8; KEY_LEN]| {
                key.copy_from_slice(bytes);
            },
        )))
    }

    /// A key copied from a 32-byte array. The caller remains responsible for wiping its own copy.
    #[must_use]
    pub fn from_array(bytes: &[u8; KEY_LEN]) -> Self {
        SecretKey::init_with_mut(|key| key.copy_from_slice(bytes))
    }

    /// Build a key in place, so the bytes never exist outside the zeroizing box.
    pub(crate) fn init_with_mut(fill: impl FnOnce(&mut [u8; KEY_LEN])) -> Self {
        SecretKey(SecretBox::init_with_mut(fill))
    }

    /// The key bytes. Keep the borrow short and never copy them into an unprotected buffer.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        SecretKey::init_with_mut(|key| key.copy_from_slice(self.expose_secret()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

impl ConstantTimeEq for SecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.expose_secret().ct_eq(other.expose_secret())
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretKey {}

/// Compare two byte strings in constant time (time depends only on the lengths).
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Bytes that are secret, such as a decrypted plaintext: wiped when dropped.
///
/// The whole allocation (spare capacity included) is cleared with one bulk write, not one
/// volatile store per byte as `Zeroizing<Vec<u8>>` does, so wiping a large plaintext costs
/// about as much as copying it once. The type is not `Clone`; `Debug` prints only the length;
/// `==` runs in constant time.
/// Read the bytes through `Deref` (`&*bytes`, `bytes.len()`, `bytes.to_vec()`).
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Take ownership of `bytes`; from now on they are wiped on drop.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// The bytes. Keep the borrow short and never copy them into an unprotected buffer.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Shorten to `len` bytes, wiping what is cut off.
    pub fn truncate(&mut self, len: usize) {
        if let Some(tail) = self.0.get_mut(len..) {
            tail.zeroize();
        }
        self.0.truncate(len);
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
    }
}

impl Deref for SecretBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for SecretBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for SecretBytes {
    /// In constant time for equal lengths (the lengths themselves are not secret).
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {}])", self.0.len())
    }
}
