//! Fixtures shared by the integration tests.
#![allow(unreachable_pub)]

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
