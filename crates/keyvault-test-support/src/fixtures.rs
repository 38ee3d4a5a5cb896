//! Cheap vaults: the lowest Argon2id cost the vault accepts, synchronous audit commits.

use keyvault_core::KeyName;
use keyvault_crypto::Argon2Params;
use keyvault_store::{AuditCommit, MemoryVault, VaultOptions};

/// Vault options that open fast: [`Argon2Params::MINIMUM`] and synchronous audit commits (every
/// event is in the log when the call returns).
pub fn cheap_options() -> VaultOptions {
    VaultOptions {
        argon2: Argon2Params::MINIMUM,
        audit_commit: AuditCommit::Synchronous,
        ..VaultOptions::default()
    }
}

/// A fresh memory vault with [`cheap_options`] and `password`.
pub fn memory_vault(password: &[u8]) -> MemoryVault {
    MemoryVault::in_memory(password, cheap_options()).unwrap()
}

/// A key name (valid by construction in the tests).
pub fn name(text: &str) -> KeyName {
    KeyName::new(text).unwrap()
}
