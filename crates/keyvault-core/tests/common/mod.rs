//! Fixtures shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use keyvault_core::{KeyAlgorithm, KeyId, KeyMetadata, KeyName, Timestamp};

/// A fixed "now" far from the epoch, so that windows on both sides fit.
pub const NOW_SECS: u64 = 1_750_000_000;

pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_unix_secs(secs)
}

pub fn now() -> Timestamp {
    at(NOW_SECS)
}

pub fn key_id(byte: u8) -> KeyId {
    KeyId::from_bytes([byte; 16])
}

/// An Active key named "test-key" created at `now()`.
pub fn key(algorithm: KeyAlgorithm) -> KeyMetadata {
    KeyMetadata::new(
        key_id(0x42),
        KeyName::new("test-key").unwrap(),
        algorithm,
        now(),
    )
}

/// SplitMix64: a tiny deterministic generator, so failures reproduce exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n as u64).unwrap()
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for byte in &mut out {
            *byte = self.next_u64().to_le_bytes()[0];
        }
        out
    }
}
