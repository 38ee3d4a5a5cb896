//! The [`KeyStore`] trait: the vault's key operations without its backend type.
//!
//! `Vault<B>` is generic over its backend, which is what a caller wants when it knows the
//! backend. Code that should work with any vault (a command-line tool choosing memory or file
//! at run time, a library taking "a key store") takes `&dyn KeyStore` instead. Every method
//! behaves exactly as the `Vault` method of the same name.

use keyvault_core::{KeyMetadata, KeyName, KeyPolicy, KeyVersion, Transition, VersionTransition};
use keyvault_crypto::Zeroizing;

use crate::backend::Backend;
use crate::error::Result;
use crate::vault::{AuditFilter, AuditReport, DataKey, KeyFilter, NewKey, Signature, Vault};

/// Key management and use, as an object-safe trait implemented by every [`Vault`].
pub trait KeyStore: Send + Sync {
    /// See [`Vault::create_key`].
    ///
    /// # Errors
    /// As [`Vault::create_key`].
    fn create_key(&self, spec: NewKey) -> Result<KeyMetadata>;
    /// See [`Vault::key`].
    ///
    /// # Errors
    /// As [`Vault::key`].
    fn key(&self, name: &KeyName) -> Result<KeyMetadata>;
    /// See [`Vault::list_keys`].
    ///
    /// # Errors
    /// As [`Vault::list_keys`].
    fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<KeyMetadata>>;
    /// See [`Vault::rotate`].
    ///
    /// # Errors
    /// As [`Vault::rotate`].
    fn rotate(&self, name: &KeyName) -> Result<KeyMetadata>;
    /// See [`Vault::transition`].
    ///
    /// # Errors
    /// As [`Vault::transition`].
    fn transition(&self, name: &KeyName, transition: Transition) -> Result<KeyMetadata>;
    /// See [`Vault::version_transition`].
    ///
    /// # Errors
    /// As [`Vault::version_transition`].
    fn version_transition(
        &self,
        name: &KeyName,
        version: KeyVersion,
        transition: VersionTransition,
    ) -> Result<KeyMetadata>;
    /// See [`Vault::set_policy`].
    ///
    /// # Errors
    /// As [`Vault::set_policy`].
    fn set_policy(&self, name: &KeyName, policy: KeyPolicy) -> Result<KeyMetadata>;
    /// See [`Vault::trim`].
    ///
    /// # Errors
    /// As [`Vault::trim`].
    fn trim(&self, name: &KeyName, floor: KeyVersion) -> Result<KeyMetadata>;
    /// See [`Vault::encrypt`].
    ///
    /// # Errors
    /// As [`Vault::encrypt`].
    fn encrypt(&self, name: &KeyName, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>>;
    /// See [`Vault::decrypt`].
    ///
    /// # Errors
    /// As [`Vault::decrypt`].
    fn decrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// See [`Vault::rewrap`].
    ///
    /// # Errors
    /// As [`Vault::rewrap`].
    fn rewrap(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>>;
    /// See [`Vault::generate_data_key`].
    ///
    /// # Errors
    /// As [`Vault::generate_data_key`].
    fn generate_data_key(&self, name: &KeyName, aad: &[u8]) -> Result<DataKey>;
    /// See [`Vault::unwrap_data_key`].
    ///
    /// # Errors
    /// As [`Vault::unwrap_data_key`].
    fn unwrap_data_key(&self, wrapped: &[u8], aad: &[u8]) -> Result<keyvault_crypto::SecretKey>;
    /// See [`Vault::sign`].
    ///
    /// # Errors
    /// As [`Vault::sign`].
    fn sign(&self, name: &KeyName, data: &[u8]) -> Result<Signature>;
    /// See [`Vault::verify`].
    ///
    /// # Errors
    /// As [`Vault::verify`].
    fn verify(&self, name: &KeyName, data: &[u8], signature: &Signature) -> Result<()>;
    /// See [`Vault::derive`].
    ///
    /// # Errors
    /// As [`Vault::derive`].
    fn derive(
        &self,
        name: &KeyName,
        context: &[u8],
        length: usize,
    ) -> Result<(KeyVersion, Zeroizing<Vec<u8>>)>;
    /// See [`Vault::audit_log`].
    ///
    /// # Errors
    /// As [`Vault::audit_log`].
    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<keyvault_core::AuditRecord>>;
    /// See [`Vault::verify_audit`].
    ///
    /// # Errors
    /// As [`Vault::verify_audit`].
    fn verify_audit(&self) -> Result<AuditReport>;
}

impl<B: Backend> KeyStore for Vault<B> {
    fn create_key(&self, spec: NewKey) -> Result<KeyMetadata> {
        Vault::create_key(self, spec)
    }
    fn key(&self, name: &KeyName) -> Result<KeyMetadata> {
        Vault::key(self, name)
    }
    fn list_keys(&self, filter: &KeyFilter) -> Result<Vec<KeyMetadata>> {
        Vault::list_keys(self, filter)
    }
    fn rotate(&self, name: &KeyName) -> Result<KeyMetadata> {
        Vault::rotate(self, name)
    }
    fn transition(&self, name: &KeyName, transition: Transition) -> Result<KeyMetadata> {
        Vault::transition(self, name, transition)
    }
    fn version_transition(
        &self,
        name: &KeyName,
        version: KeyVersion,
        transition: VersionTransition,
    ) -> Result<KeyMetadata> {
        Vault::version_transition(self, name, version, transition)
    }
    fn set_policy(&self, name: &KeyName, policy: KeyPolicy) -> Result<KeyMetadata> {
        Vault::set_policy(self, name, policy)
    }
    fn trim(&self, name: &KeyName, floor: KeyVersion) -> Result<KeyMetadata> {
        Vault::trim(self, name, floor)
    }
    fn encrypt(&self, name: &KeyName, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        Vault::encrypt(self, name, plaintext, aad)
    }
    fn decrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        Vault::decrypt(self, sealed, aad)
    }
    fn rewrap(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        Vault::rewrap(self, sealed, aad)
    }
    fn generate_data_key(&self, name: &KeyName, aad: &[u8]) -> Result<DataKey> {
        Vault::generate_data_key(self, name, aad)
    }
    fn unwrap_data_key(&self, wrapped: &[u8], aad: &[u8]) -> Result<keyvault_crypto::SecretKey> {
        Vault::unwrap_data_key(self, wrapped, aad)
    }
    fn sign(&self, name: &KeyName, data: &[u8]) -> Result<Signature> {
        Vault::sign(self, name, data)
    }
    fn verify(&self, name: &KeyName, data: &[u8], signature: &Signature) -> Result<()> {
        Vault::verify(self, name, data, signature)
    }
    fn derive(
        &self,
        name: &KeyName,
        context: &[u8],
        length: usize,
    ) -> Result<(KeyVersion, Zeroizing<Vec<u8>>)> {
        Vault::derive(self, name, context, length)
    }
    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<keyvault_core::AuditRecord>> {
        Vault::audit_log(self, filter)
    }
    fn verify_audit(&self) -> Result<AuditReport> {
        Vault::verify_audit(self)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyStore;
    use crate::{MemoryVault, NewKey, VaultOptions};
    use keyvault_core::{KeyAlgorithm, KeyName};
    use keyvault_crypto::Argon2Params;

    #[test]
    fn a_vault_works_through_the_trait_object() {
        let options = VaultOptions {
            argon2: Argon2Params {
                memory_kib: 19_456,
                iterations: 2,
                lanes: 1,
            },
            ..VaultOptions::default()
        };
        let store: Box<dyn KeyStore> = Box::new(MemoryVault::in_memory(b"pw", options).unwrap());
        let name = KeyName::new("through-the-trait").unwrap();
        store
            .create_key(NewKey::new(name.clone(), KeyAlgorithm::default()))
            .unwrap();
        let sealed = store.encrypt(&name, b"hello", b"").unwrap();
        assert_eq!(&store.decrypt(&sealed, b"").unwrap()[..], b"hello");
        assert_eq!(store.rotate(&name).unwrap().latest_version().get(), 2);
        store.verify_audit().unwrap();
    }
}
