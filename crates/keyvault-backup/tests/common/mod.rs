//! Helpers shared by keyvault-backup's tests.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::sync::Arc;

use keyvault_backup::{BackupConfig, ExportOptions};
use keyvault_core::{KeyAlgorithm, KeyName, KeyOperation, Timestamp};
use keyvault_crypto::Argon2Params;
use keyvault_store::{AuditCommit, ManualClock, MemoryVault, NewKey, VaultOptions};

/// The cheapest Argon2id cost keyvault accepts: fast tests.
pub const CHEAP: Argon2Params = Argon2Params {
    memory_kib: 19_456,
    iterations: 2,
    lanes: 1,
};

/// 2025-06-15T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_unix_secs(1_749_945_600);

pub fn options() -> VaultOptions {
    VaultOptions {
        argon2: CHEAP,
        audit_commit: AuditCommit::Synchronous,
        ..VaultOptions::default()
    }
}

/// Options with a manual clock at `T0`, and the clock.
pub fn clocked() -> (VaultOptions, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let options = VaultOptions {
        clock: clock.clone(),
        ..options()
    };
    (options, clock)
}

pub fn name(text: &str) -> KeyName {
    KeyName::new(text).unwrap()
}

pub fn exportable(text: &str, algorithm: KeyAlgorithm) -> NewKey {
    let mut spec = NewKey::new(name(text), algorithm);
    spec.exportable = true;
    spec.policy = spec.policy.also_allow(KeyOperation::Export);
    spec
}

pub fn vault() -> MemoryVault {
    MemoryVault::in_memory(b"vault password", options()).unwrap()
}

pub fn export_options() -> ExportOptions {
    ExportOptions {
        argon2: CHEAP,
        ..ExportOptions::default()
    }
}

pub fn backup_config(password: &[u8]) -> BackupConfig {
    let mut config = BackupConfig::new(password.to_vec());
    config.argon2 = CHEAP;
    config
}

/// A small deterministic generator for mutation tests (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}
