//! HKDF-SHA256 (RFC 5869) and keyvault's labelled subkey derivation.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::{CryptoError, Result};
use crate::password::check_len;
use crate::secret::SecretKey;

/// Largest HKDF-SHA256 output: 255 blocks of 32 bytes (RFC 5869 §2.3).
pub const HKDF_MAX_OUTPUT: usize = 255 * 32;

/// Longest subkey label accepted by [`derive_subkey`].
pub const MAX_LABEL_LEN: usize = 255;

/// HKDF-SHA256: extract with `salt` (empty means the RFC's all-zero salt), then expand `info` to
/// fill `out`.
///
/// # Errors
/// [`CryptoError::LengthOutOfRange`] if `out` is empty or longer than [`HKDF_MAX_OUTPUT`].
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    check_len("HKDF output", out.len(), 1, HKDF_MAX_OUTPUT)?;
    let salt = (!salt.is_empty()).then_some(salt);
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| CryptoError::LengthOutOfRange {
            what: "HKDF output",
            min: 1,
            max: HKDF_MAX_OUTPUT,
            actual: out.len(),
        })
}

/// Derive a 256-bit subkey of `master` for one purpose.
///
/// The HKDF `info` is `"keyvault-v1" || len(label) as u8 || label || context`: the length prefix
/// keeps every (label, context) pair distinct, so no key serves two purposes by accident.
///
/// # Errors
/// [`CryptoError::LengthOutOfRange`] if `label` is empty or longer than [`MAX_LABEL_LEN`].
pub fn derive_subkey(master: &SecretKey, label: &str, context: &[u8]) -> Result<SecretKey> {
    check_len("subkey label", label.len(), 1, MAX_LABEL_LEN)?;
    let label_len = u8::try_from(label.len()).map_err(|_| CryptoError::LengthOutOfRange {
        what: "subkey label",
        min: 1,
        max: MAX_LABEL_LEN,
        actual: label.len(),
    })?;
    let mut info = Vec::with_capacity(12 + label.len() + context.len());
    info.extend_from_slice(b"keyvault-v1");
    info.push(label_len);
    info.extend_from_slice(label.as_bytes());
    info.extend_from_slice(context);
    let mut result = Ok(());
    let key = SecretKey::init_with_mut(|out| {
        result = hkdf_sha256(&[], master.expose_secret(), &info, out);
    });
    result.map(|()| key)
}
