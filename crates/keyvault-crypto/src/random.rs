//! Randomness from the operating system.
//!
//! Every call goes to the kernel (`getrandom(2)` on Linux). Nothing is buffered in user space,
//! so a forked child can never replay its parent's nonces or keys: fork safety holds by
//! construction, with no process-id checks. Callers that need many nonces at once (batch sealing)
//! draw them with one call; see docs/PERFORMANCE.md for what one call costs.

use crate::error::{CryptoError, Result};

/// Fill `buf` with bytes from the operating system's cryptographic random number generator.
///
/// # Errors
/// [`CryptoError::Randomness`] if the operating system cannot provide randomness.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| CryptoError::Randomness)
}

/// `N` random bytes.
///
/// # Errors
/// [`CryptoError::Randomness`] if the operating system cannot provide randomness.
pub fn bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}
