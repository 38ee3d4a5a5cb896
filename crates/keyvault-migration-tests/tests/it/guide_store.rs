//! Writes the rust-keyvault 0.2.1 FileStore that section 9 of docs/GUIDE.md migrates, with
//! rust-keyvault itself. The store is checked in (crates/keyvault-cli/tests/golden/
//! rust-keyvault-0.2-store); regenerate it with
//! `cargo test -p keyvault-migration-tests --test it guide_store:: -- --ignored`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rust_keyvault::key::{SecretKey, VersionedKey};
use rust_keyvault::storage::{FileStore, KeyStore, PersistentStorage, StorageConfig};
use rust_keyvault::{Algorithm, KeyId, KeyMetadata, KeyState};

/// The password the guide gives for the store.
const PASSWORD: &[u8] = b"old store password";

fn key(id: [u8; 16], algorithm: Algorithm, created_unix: u64) -> VersionedKey {
    VersionedKey {
        key: SecretKey::generate(algorithm).unwrap(),
        metadata: KeyMetadata {
            id: KeyId::from_bytes(id),
            base_id: KeyId::from_bytes(id),
            state: KeyState::Active,
            created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(created_unix),
            expires_at: None,
            algorithm,
            version: 1,
        },
    }
}

#[test]
#[ignore = "rewrites the guide's sample store"]
fn write_the_guide_store() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../keyvault-cli/tests/golden/rust-keyvault-0.2-store");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // rust-keyvault's default (`balanced`) settings: encrypted, Argon2id 19 MiB, 3 passes, 4 lanes.
    let mut store = FileStore::new(&dir, StorageConfig::balanced()).unwrap();
    store.init_with_password(PASSWORD).unwrap();
    // An XChaCha20-Poly1305 key rotated once, and an AES-256-GCM key.
    store
        .store(key([0xa1; 16], Algorithm::XChaCha20Poly1305, 1_735_689_600))
        .unwrap();
    store.rotate_key(&KeyId::from_bytes([0xa1; 16])).unwrap();
    store
        .store(key([0xb2; 16], Algorithm::Aes256Gcm, 1_740_787_200))
        .unwrap();
    store.flush().unwrap();
}
