//! Helpers shared by keyvault-backup's tests.

#![allow(unreachable_pub)]

use std::sync::Arc;

use keyvault_backup::{BackupConfig, ExportOptions};
use keyvault_core::{KeyAlgorithm, KeyOperation, Timestamp};
use keyvault_crypto::Argon2Params;
use keyvault_store::{ManualClock, MemoryVault, NewKey, VaultOptions};
use keyvault_test_support::fixtures::memory_vault;
pub use keyvault_test_support::fixtures::{cheap_options as options, name};

/// The cheapest Argon2id cost keyvault accepts: fast tests.
pub const CHEAP: Argon2Params = Argon2Params::MINIMUM;

/// 2025-06-15T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_unix_secs(1_749_945_600);

/// Options with a manual clock at `T0`, and the clock.
pub fn clocked() -> (VaultOptions, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let options = VaultOptions {
        clock: clock.clone(),
        ..options()
    };
    (options, clock)
}

pub fn exportable(text: &str, algorithm: KeyAlgorithm) -> NewKey {
    let mut spec = NewKey::new(name(text), algorithm);
    spec.exportable = true;
    spec.policy = spec.policy.also_allow(KeyOperation::Export);
    spec
}

pub fn vault() -> MemoryVault {
    memory_vault(b"vault password")
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
