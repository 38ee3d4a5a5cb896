//! Migration from rust-keyvault 0.2: readers for its export files and FileStore directories,
//! and the conversion of its keys into keyvault keys. MIGRATION.md explains the steps.
//!
//! The formats, as rust-keyvault 0.2.1 writes them (the readers here are independent code):
//!
//! - **Export file** (`ExportedKey::to_json`): serde JSON of `format_version` (1),
//!   `exported_at` and times as `{"secs_since_epoch", "nanos_since_epoch"}`,
//!   `wrapping_algorithm` (a variant name such as `"XChaCha20Poly1305"`), `salt` and
//!   `encrypted_key` as arrays of numbers, `argon2_params` `{memory_kib, time_cost,
//!   parallelism}`, `metadata` and `comment`. The 32-byte wrapping key is Argon2id (v0x13) of the
//!   password over the salt; `encrypted_key` is `nonce || ciphertext || tag` of the wrapping
//!   algorithm with the constant associated data `"rust-keyvault-export-v1"`. Nothing else is
//!   authenticated: the metadata of a legacy export can be edited unnoticed.
//! - **FileStore directory**: `.vault_metadata.json` holds `{salt, created_at, format_version}`;
//!   every other `*.json` file is one key version, `{metadata, encrypted_key}`. In encrypted mode
//!   the master key is Argon2id of the password over that salt with the parameters the store was
//!   configured with (they are not written down: the caller supplies them), and
//!   `encrypted_key` is `nonce (12) || ciphertext || tag` of ChaCha20-Poly1305 with the constant
//!   associated data `"rust-keyvault-key-encryption"`. In plaintext mode `encrypted_key` is the
//!   32 raw bytes.
//! - **Keys**: every version is a separate entry with its own id; versions of one key share a
//!   `base_id` and are numbered by `version`. Migration makes one keyvault key per `base_id`,
//!   with the `base_id` as its id.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use keyvault_core::{
    KeyAlgorithm, KeyId, KeyMetadata, KeyName, KeyOperation, KeyPolicy, KeyVersion, Timestamp,
    Transition, VersionTransition,
};
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, KEY_LEN, SecretKey};
use keyvault_store::dangerous::KeyBundle;
use keyvault_store::{Backend, Vault};
use serde::Deserialize;

use crate::codec;
use crate::error::{BackupError, Result};
use crate::restore::{MergePolicy, MergeReport, import_bundles};

/// Associated data rust-keyvault 0.2 binds to every exported key.
pub const LEGACY_EXPORT_AAD: &[u8] = b"rust-keyvault-export-v1";
/// Associated data rust-keyvault 0.2 binds to every key file of an encrypted FileStore.
pub const LEGACY_STORE_AAD: &[u8] = b"rust-keyvault-key-encryption";
/// The name of a FileStore's metadata file.
pub const LEGACY_METADATA_FILE: &str = ".vault_metadata.json";
/// rust-keyvault's `Argon2Config::default()` (`StorageConfig::balanced()`): 19 MiB, 3 passes,
/// 4 lanes.
pub const LEGACY_ARGON2_BALANCED: Argon2Params = Argon2Params {
    memory_kib: 19_456,
    iterations: 3,
    lanes: 4,
};
/// rust-keyvault's `StorageConfig::high_security()`: 64 MiB, 4 passes, 4 lanes (also what its
/// exports use).
pub const LEGACY_ARGON2_HIGH_SECURITY: Argon2Params = Argon2Params {
    memory_kib: 65_536,
    iterations: 4,
    lanes: 4,
};
/// rust-keyvault's `StorageConfig::fast_insecure()`: 8 MiB, 1 pass, 1 lane. Below keyvault's
/// floor, accepted only to read a store that was made with it.
pub const LEGACY_ARGON2_FAST_INSECURE: Argon2Params = Argon2Params {
    memory_kib: 8192,
    iterations: 1,
    lanes: 1,
};
/// Largest legacy JSON file read.
pub const MAX_LEGACY_FILE_LEN: usize = 1024 * 1024;
/// Most entries read from a FileStore directory.
pub const MAX_LEGACY_FILES: usize = 100_000;
/// Highest legacy version number migrated (versions become keyvault versions 1..=n).
pub const MAX_LEGACY_VERSION: u32 = 10_000;

/// A rust-keyvault 0.2 key state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum LegacyKeyState {
    /// Generated, not yet active.
    Pending,
    /// In use.
    Active,
    /// Being rotated out, still valid.
    Rotating,
    /// Verification and decryption only.
    Deprecated,
    /// Not to be used at all.
    Revoked,
}

/// A rust-keyvault 0.2 algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum LegacyAlgorithm {
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
    /// XChaCha20-Poly1305.
    XChaCha20Poly1305,
    /// AES-256-GCM.
    Aes256Gcm,
    /// Ed25519 (32 random bytes in rust-keyvault; keyvault has no signing keys).
    Ed25519,
    /// X25519 (32 random bytes in rust-keyvault; keyvault has no key agreement).
    X25519,
}

impl LegacyAlgorithm {
    /// The keyvault AEAD of the same name, if there is one.
    #[must_use]
    pub fn aead(self) -> Option<Algorithm> {
        match self {
            LegacyAlgorithm::ChaCha20Poly1305 => Some(Algorithm::ChaCha20Poly1305),
            LegacyAlgorithm::XChaCha20Poly1305 => Some(Algorithm::XChaCha20Poly1305),
            LegacyAlgorithm::Aes256Gcm => Some(Algorithm::Aes256Gcm),
            LegacyAlgorithm::Ed25519 | LegacyAlgorithm::X25519 => None,
        }
    }
}

/// One legacy key version's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyKeyInfo {
    /// This version's own id.
    pub id: [u8; 16],
    /// The id shared by every version of the key (becomes the keyvault key's id).
    pub base_id: [u8; 16],
    /// Its state.
    pub state: LegacyKeyState,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// Its algorithm.
    pub algorithm: LegacyAlgorithm,
    /// Its version number.
    pub version: u32,
}

/// One legacy key version with its material. `Debug` never shows the material.
pub struct LegacyKey {
    /// Its metadata.
    pub info: LegacyKeyInfo,
    material: SecretKey,
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyKey")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LegacyKey {
    /// The 32 bytes rust-keyvault used directly as the AEAD key.
    #[must_use]
    pub fn material(&self) -> &SecretKey {
        &self.material
    }

    /// The key as rust-keyvault used it: its algorithm over the raw 32 bytes, to decrypt data
    /// that rust-keyvault encrypted, so it can be re-encrypted under keyvault (a migrated key
    /// derives its AEAD key from these bytes and so does not open old ciphertexts; see
    /// MIGRATION.md).
    ///
    /// # Errors
    /// [`BackupError::Legacy`] for Ed25519 and X25519 keys.
    pub fn aead_key(&self) -> Result<AeadKey> {
        let algorithm = self
            .info
            .algorithm
            .aead()
            .ok_or_else(|| BackupError::Legacy {
                source_name: hex::encode(self.info.id),
                reason: format!("{:?} is not an AEAD algorithm", self.info.algorithm),
            })?;
        Ok(AeadKey::new(algorithm, &self.material)?)
    }
}

/// A rust-keyvault 0.2 export file, parsed but not decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyExport {
    /// The file's format version (1).
    pub format_version: u32,
    /// When it was exported.
    pub exported_at: Timestamp,
    /// The algorithm wrapping the material.
    pub wrapping_algorithm: LegacyAlgorithm,
    /// Argon2id parameters of the wrapping key.
    pub argon2: Argon2Params,
    /// The key's metadata (not authenticated by the legacy format).
    pub info: LegacyKeyInfo,
    /// The comment, if any.
    pub comment: Option<String>,
    salt: Vec<u8>,
    encrypted_key: Vec<u8>,
}

impl LegacyExport {
    /// Parse an export file's JSON, bounding its size and Argon2 parameters (ceiling and
    /// keyvault's floor, which rust-keyvault's own export parameters meet).
    ///
    /// # Errors
    /// [`BackupError::TooLarge`], [`BackupError::Malformed`], [`BackupError::UnsupportedVersion`],
    /// Argon2 parameter errors, [`BackupError::InvalidField`] for a bad salt.
    pub fn from_json(text: &str) -> Result<Self> {
        const WHAT: &str = "rust-keyvault export";
        if text.len() > MAX_LEGACY_FILE_LEN {
            return Err(BackupError::too_large(
                WHAT,
                text.len(),
                MAX_LEGACY_FILE_LEN,
            ));
        }
        let wire: ExportWire =
            serde_json::from_str(text).map_err(|err| BackupError::malformed(WHAT, err))?;
        if wire.format_version != 1 {
            return Err(BackupError::UnsupportedVersion {
                what: WHAT,
                version: wire.format_version,
                supported: 1,
            });
        }
        let argon2 = Argon2Params {
            memory_kib: wire.argon2_params.memory_kib,
            iterations: wire.argon2_params.time_cost,
            lanes: wire.argon2_params.parallelism,
        };
        codec::check_file_kdf_inputs("rust-keyvault export", &argon2, wire.salt.len())?;
        if wire.encrypted_key.len() > 1024 {
            return Err(BackupError::too_large(
                "encrypted_key",
                wire.encrypted_key.len(),
                1024,
            ));
        }
        Ok(LegacyExport {
            format_version: wire.format_version,
            exported_at: wire.exported_at.timestamp(),
            wrapping_algorithm: wire.wrapping_algorithm,
            argon2,
            info: wire.metadata.info(),
            comment: wire.comment,
            salt: wire.salt,
            encrypted_key: wire.encrypted_key,
        })
    }

    /// Read and parse an export file.
    ///
    /// # Errors
    /// [`BackupError::Io`]; as [`LegacyExport::from_json`].
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = codec::read_bounded(path, MAX_LEGACY_FILE_LEN, "rust-keyvault export")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| BackupError::malformed("rust-keyvault export", "not UTF-8"))?;
        Self::from_json(text)
    }

    /// Unwrap the material with `password` (one Argon2id derivation).
    ///
    /// # Errors
    /// [`BackupError::WrongPassword`] if it does not authenticate (the legacy format cannot
    /// tell a wrong password from a modified ciphertext); [`BackupError::Legacy`] for an
    /// unsupported wrapping algorithm or material of the wrong length.
    pub fn decrypt(&self, password: &[u8]) -> Result<LegacyKey> {
        let algorithm = self
            .wrapping_algorithm
            .aead()
            .ok_or_else(|| BackupError::Legacy {
                source_name: hex::encode(self.info.id),
                reason: format!("cannot unwrap with {:?}", self.wrapping_algorithm),
            })?;
        let wrapping = derive_key(password, &self.salt, &self.argon2)?;
        let material = AeadKey::new(algorithm, &wrapping)?
            .open(&self.encrypted_key, LEGACY_EXPORT_AAD)
            .map_err(|_| BackupError::WrongPassword {
                what: "rust-keyvault export",
            })?;
        Ok(LegacyKey {
            info: self.info.clone(),
            material: material_key(&material, &self.info)?,
        })
    }
}

/// How a legacy FileStore was protected.
pub enum LegacyUnlock<'a> {
    /// `StorageConfig { encrypted: false, .. }`: key files hold raw material.
    Plaintext,
    /// `StorageConfig { encrypted: true, .. }` unlocked with `init_with_password`.
    Password {
        /// The store's password.
        password: &'a [u8],
        /// The `argon2_config` the store was used with (rust-keyvault does not record it; see
        /// [`LEGACY_ARGON2_BALANCED`] and its siblings).
        argon2: Argon2Params,
    },
}

impl fmt::Debug for LegacyUnlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyUnlock::Plaintext => f.write_str("Plaintext"),
            LegacyUnlock::Password { argon2, .. } => f
                .debug_struct("Password")
                .field("password", &"[REDACTED]")
                .field("argon2", argon2)
                .finish(),
        }
    }
}

/// A rust-keyvault 0.2 FileStore directory, read and decrypted.
#[derive(Debug)]
pub struct LegacyStore {
    /// When the store was created (from `.vault_metadata.json`).
    pub created_at: Timestamp,
    /// Every key version found, in file-name order.
    pub keys: Vec<LegacyKey>,
    /// `*.json` files that are not key files (rust-keyvault skips them too), with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl LegacyStore {
    /// Read the FileStore at `dir`. Files that do not parse as key files are listed in
    /// [`LegacyStore::unreadable`] (rust-keyvault's own loader skips them with a warning);
    /// a key file that fails to decrypt is an error, as is more than [`MAX_LEGACY_FILES`]
    /// entries or a file over [`MAX_LEGACY_FILE_LEN`].
    ///
    /// # Errors
    /// [`BackupError::Io`]; [`BackupError::Malformed`] for a bad `.vault_metadata.json`;
    /// [`BackupError::WrongPassword`] if a key file does not decrypt; Argon2 parameter errors
    /// (the ceiling; the floor is not applied to reading a legacy store).
    pub fn open(dir: impl AsRef<Path>, unlock: &LegacyUnlock<'_>) -> Result<Self> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| BackupError::Io { path, source }
        };
        let metadata_path = dir.join(LEGACY_METADATA_FILE);
        let metadata_bytes = codec::read_bounded(&metadata_path, 64 * 1024, LEGACY_METADATA_FILE)?;
        let vault_meta: StoreMetadataWire = serde_json::from_slice(&metadata_bytes)
            .map_err(|err| BackupError::malformed("rust-keyvault .vault_metadata.json", err))?;
        let master = match unlock {
            LegacyUnlock::Plaintext => None,
            LegacyUnlock::Password { password, argon2 } => {
                argon2.check_bounds()?;
                if !(8..=64).contains(&vault_meta.salt.len()) {
                    return Err(BackupError::InvalidField {
                        what: "rust-keyvault salt",
                        reason: "a salt is 8 to 64 bytes",
                    });
                }
                let mut bytes = keyvault_crypto::Zeroizing::new([0u8; KEY_LEN]);
                keyvault_crypto::hazmat::argon2id(
                    password,
                    &vault_meta.salt,
                    &[],
                    &[],
                    argon2,
                    &mut *bytes,
                )?;
                Some(AeadKey::new(
                    Algorithm::ChaCha20Poly1305,
                    &SecretKey::from_array(&bytes),
                )?)
            }
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            if paths.len() >= MAX_LEGACY_FILES {
                return Err(BackupError::too_large(
                    "rust-keyvault directory",
                    paths.len() + 1,
                    MAX_LEGACY_FILES,
                ));
            }
            let path = entry.path();
            let is_key_file = path.extension().is_some_and(|ext| ext == "json")
                && entry.file_name() != LEGACY_METADATA_FILE
                && entry.file_type().map_err(io(&path))?.is_file();
            if is_key_file {
                paths.push(path);
            }
        }
        paths.sort();
        let mut keys = Vec::with_capacity(paths.len());
        let mut unreadable = Vec::new();
        for path in paths {
            // In plaintext mode the file holds the material itself: wipe every copy.
            let bytes = keyvault_crypto::Zeroizing::new(codec::read_bounded(
                &path,
                MAX_LEGACY_FILE_LEN,
                "rust-keyvault key file",
            )?);
            let PersistedWire {
                metadata,
                encrypted_key,
            } = match serde_json::from_slice(&bytes) {
                Ok(persisted) => persisted,
                Err(err) => {
                    unreadable.push((path, err.to_string()));
                    continue;
                }
            };
            let encrypted_key = keyvault_crypto::SecretBytes::new(encrypted_key);
            let info = metadata.info();
            let material = match &master {
                None if encrypted_key.len() == SEALED_KEY_LEN => {
                    return Err(legacy_error(
                        &info.id,
                        format!(
                            "its key is {SEALED_KEY_LEN} bytes, the size of a sealed key: the \
                             store looks encrypted; open it with its password"
                        ),
                    ));
                }
                None => encrypted_key,
                Some(_) if encrypted_key.len() == KEY_LEN => {
                    return Err(legacy_error(
                        &info.id,
                        format!(
                            "its key is {KEY_LEN} raw bytes: the store looks unencrypted; open \
                             it without a password"
                        ),
                    ));
                }
                Some(master) => master.open(&encrypted_key, LEGACY_STORE_AAD).map_err(|_| {
                    BackupError::WrongPassword {
                        what: "rust-keyvault FileStore",
                    }
                })?,
            };
            let material = material_key(&material, &info)?;
            keys.push(LegacyKey { info, material });
        }
        Ok(LegacyStore {
            created_at: vault_meta.created_at.timestamp(),
            keys,
            unreadable,
        })
    }
}

/// Size of a key sealed by an encrypted FileStore: nonce (12), the 32-byte key, tag (16).
const SEALED_KEY_LEN: usize = 12 + KEY_LEN + 16;

/// Whether the FileStore at `dir` needs a password: whether any of its key files holds a
/// sealed key rather than 32 raw bytes. A store without key files needs none. Files that do
/// not parse as key files are ignored here, as [`LegacyStore::open`] ignores them.
///
/// # Errors
/// [`BackupError::Io`] reading the directory or a file; more than [`MAX_LEGACY_FILES`] entries
/// or a file over [`MAX_LEGACY_FILE_LEN`].
pub fn store_needs_password(dir: impl AsRef<Path>) -> Result<bool> {
    let dir = dir.as_ref();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| BackupError::Io { path, source }
    };
    let mut seen = 0usize;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        seen += 1;
        if seen > MAX_LEGACY_FILES {
            return Err(BackupError::too_large(
                "rust-keyvault directory",
                seen,
                MAX_LEGACY_FILES,
            ));
        }
        let path = entry.path();
        let is_key_file = path.extension().is_some_and(|ext| ext == "json")
            && entry.file_name() != LEGACY_METADATA_FILE
            && entry.file_type().map_err(io(&path))?.is_file();
        if !is_key_file {
            continue;
        }
        // A plaintext store's file holds the material itself: wipe the copy.
        let bytes = keyvault_crypto::Zeroizing::new(codec::read_bounded(
            &path,
            MAX_LEGACY_FILE_LEN,
            "rust-keyvault key file",
        )?);
        if let Ok(persisted) = serde_json::from_slice::<PersistedWire>(&bytes) {
            let encrypted_key = keyvault_crypto::Zeroizing::new(persisted.encrypted_key);
            if encrypted_key.len() != KEY_LEN {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// How legacy keys become keyvault keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationOptions {
    /// Names for keys by `base_id`; keys not listed are named `name_prefix` followed by the
    /// `base_id` in hex (rust-keyvault keys have no names).
    pub names: BTreeMap<[u8; 16], KeyName>,
    /// Prefix of generated names (`legacy-` by default).
    pub name_prefix: String,
    /// Make the migrated keys exportable (their policy then allows `Export` too). Off by
    /// default: the flag can later be switched off but never on.
    pub exportable: bool,
    /// What to do when a key's name or id is already in the vault (refuse by default: nothing
    /// is imported).
    pub conflict: MergePolicy,
}

impl Default for MigrationOptions {
    fn default() -> Self {
        MigrationOptions {
            names: BTreeMap::new(),
            name_prefix: "legacy-".to_owned(),
            exportable: false,
            conflict: MergePolicy::Refuse,
        }
    }
}

/// Turn legacy key versions into keyvault keys, one per `base_id`, in `base_id` order.
///
/// Each key gets the `base_id` as its id; legacy version `n` becomes keyvault version `n` (a
/// number with no surviving legacy entry becomes a destroyed version, so numbers keep their
/// meaning); versions that were Revoked become revoked versions, the others enabled. The key's
/// state is Active if any version was Active or Rotating, else Pending, Deprecated or Revoked,
/// in that order of preference; its expiry is the newest version's; creation and version times
/// are kept; it is labelled `migrated-from=rust-keyvault-0.2`.
///
/// # Errors
/// [`BackupError::Legacy`] for Ed25519/X25519 keys, mixed algorithms, version 0, duplicate or
/// too high version numbers; [`BackupError::Core`] for an invalid name.
pub fn to_bundles(keys: &[LegacyKey], options: &MigrationOptions) -> Result<Vec<KeyBundle>> {
    let mut families: BTreeMap<[u8; 16], BTreeMap<u32, &LegacyKey>> = BTreeMap::new();
    for key in keys {
        let family = families.entry(key.info.base_id).or_default();
        if family.insert(key.info.version, key).is_some() {
            return Err(legacy_error(
                &key.info.base_id,
                format!("two entries claim version {}", key.info.version),
            ));
        }
    }
    // A name for a key that is not there is a mistake in the request, never silently dropped.
    if let Some((base_id, name)) = options
        .names
        .iter()
        .find(|(base_id, _)| !families.contains_key(*base_id))
    {
        return Err(legacy_error(
            base_id,
            format!("the name {name} was given for this base id, but no key read has it"),
        ));
    }
    families
        .into_iter()
        .map(|(base_id, versions)| family_bundle(base_id, &versions, options))
        .collect()
}

/// Migrate legacy keys into `vault` ([`to_bundles`], then one audited import per key under
/// `options.conflict`; with [`MergePolicy::Refuse`] nothing is imported if anything conflicts).
///
/// # Errors
/// As [`to_bundles`]; [`BackupError::Conflict`]; store errors.
pub fn migrate<B: Backend>(
    vault: &Vault<B>,
    keys: &[LegacyKey],
    options: &MigrationOptions,
) -> Result<MergeReport> {
    import_bundles(vault, to_bundles(keys, options)?, options.conflict)
}

fn family_bundle(
    base_id: [u8; 16],
    versions: &BTreeMap<u32, &LegacyKey>,
    options: &MigrationOptions,
) -> Result<KeyBundle> {
    let (Some((&first, _)), Some((&last, newest))) =
        (versions.first_key_value(), versions.last_key_value())
    else {
        return Err(legacy_error(&base_id, "no versions".to_owned()));
    };
    if first == 0 {
        return Err(legacy_error(&base_id, "version 0".to_owned()));
    }
    if last > MAX_LEGACY_VERSION {
        return Err(legacy_error(
            &base_id,
            format!("version {last} is above {MAX_LEGACY_VERSION}"),
        ));
    }
    let legacy_algorithm = newest.info.algorithm;
    if versions
        .values()
        .any(|key| key.info.algorithm != legacy_algorithm)
    {
        return Err(legacy_error(
            &base_id,
            "versions of different algorithms".to_owned(),
        ));
    }
    let algorithm = legacy_algorithm
        .aead()
        .map(KeyAlgorithm::try_from)
        .transpose()?
        .ok_or_else(|| {
            legacy_error(
                &base_id,
                format!("{legacy_algorithm:?} keys have no keyvault equivalent (keyvault keys are AEAD or HMAC)"),
            )
        })?;
    let states: Vec<LegacyKeyState> = versions.values().map(|key| key.info.state).collect();
    let has = |state: LegacyKeyState| states.contains(&state);
    let key_state = if has(LegacyKeyState::Active) || has(LegacyKeyState::Rotating) {
        LegacyKeyState::Active
    } else if has(LegacyKeyState::Pending) {
        LegacyKeyState::Pending
    } else if has(LegacyKeyState::Deprecated) {
        LegacyKeyState::Deprecated
    } else {
        LegacyKeyState::Revoked
    };
    let created = versions
        .values()
        .map(|key| key.info.created_at)
        .min()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let latest_time = versions
        .values()
        .map(|key| key.info.created_at)
        .max()
        .unwrap_or(created);
    let name = match options.names.get(&base_id) {
        Some(name) => name.clone(),
        None => KeyName::new(format!("{}{}", options.name_prefix, hex::encode(base_id)))?,
    };
    let id = KeyId::from_bytes(base_id);
    let mut metadata = if key_state == LegacyKeyState::Pending {
        KeyMetadata::new_pending(id, name, algorithm, created)
    } else {
        KeyMetadata::new(id, name, algorithm, created)
    }
    .with_label("migrated-from", "rust-keyvault-0.2")?
    .with_description(format!(
        "Migrated from rust-keyvault 0.2 (base id {}).",
        hex::encode(base_id)
    ))?;
    if let Some(expires_at) = newest.info.expires_at {
        metadata = metadata.with_expiry(expires_at);
    }
    if options.exportable {
        metadata = metadata
            .with_export_allowed()
            .with_policy(KeyPolicy::default().also_allow(KeyOperation::Export));
    }
    let mut time = versions.get(&1).map_or(created, |key| key.info.created_at);
    for number in 2..=last {
        time = time.max(
            versions
                .get(&number)
                .map_or(time, |key| key.info.created_at),
        );
        metadata.rotate(time)?;
    }
    for number in 1..last {
        if !versions.contains_key(&number) {
            metadata.version_transition(
                KeyVersion::new(number)?,
                VersionTransition::Destroy,
                latest_time,
            )?;
        }
    }
    let mut material = BTreeMap::new();
    for (&number, key) in versions {
        let version = KeyVersion::new(number)?;
        if key.info.state == LegacyKeyState::Revoked {
            metadata.version_transition(version, VersionTransition::Revoke, latest_time)?;
        }
        material.insert(version, key.material.clone());
    }
    match key_state {
        LegacyKeyState::Deprecated => {
            metadata.transition(Transition::Deprecate, latest_time)?;
        }
        LegacyKeyState::Revoked => {
            metadata.transition(Transition::Revoke, latest_time)?;
        }
        _ => {}
    }
    Ok(KeyBundle {
        metadata,
        versions: material,
    })
}

fn legacy_error(base_id: &[u8; 16], reason: String) -> BackupError {
    BackupError::Legacy {
        source_name: format!("key {}", hex::encode(base_id)),
        reason,
    }
}

fn material_key(material: &[u8], info: &LegacyKeyInfo) -> Result<SecretKey> {
    SecretKey::from_slice(material).map_err(|_| BackupError::Legacy {
        source_name: format!("key {}", hex::encode(info.id)),
        reason: format!("its material is {} bytes, not 32", material.len()),
    })
}

#[derive(Deserialize)]
struct LegacyTime {
    secs_since_epoch: u64,
    nanos_since_epoch: u32,
}

impl LegacyTime {
    fn timestamp(&self) -> Timestamp {
        Timestamp::from_unix_millis(
            self.secs_since_epoch
                .saturating_mul(1000)
                .saturating_add(u64::from(self.nanos_since_epoch / 1_000_000)),
        )
    }
}

#[derive(Deserialize)]
struct MetadataWire {
    id: [u8; 16],
    base_id: [u8; 16],
    state: LegacyKeyState,
    created_at: LegacyTime,
    expires_at: Option<LegacyTime>,
    algorithm: LegacyAlgorithm,
    version: u32,
}

impl MetadataWire {
    fn info(&self) -> LegacyKeyInfo {
        LegacyKeyInfo {
            id: self.id,
            base_id: self.base_id,
            state: self.state,
            created_at: self.created_at.timestamp(),
            expires_at: self.expires_at.as_ref().map(LegacyTime::timestamp),
            algorithm: self.algorithm,
            version: self.version,
        }
    }
}

#[derive(Deserialize)]
struct Argon2Wire {
    memory_kib: u32,
    time_cost: u32,
    parallelism: u32,
}

#[derive(Deserialize)]
struct ExportWire {
    format_version: u32,
    exported_at: LegacyTime,
    wrapping_algorithm: LegacyAlgorithm,
    salt: Vec<u8>,
    argon2_params: Argon2Wire,
    encrypted_key: Vec<u8>,
    metadata: MetadataWire,
    comment: Option<String>,
}

#[derive(Deserialize)]
struct StoreMetadataWire {
    salt: Vec<u8>,
    created_at: LegacyTime,
}

#[derive(Deserialize)]
struct PersistedWire {
    metadata: MetadataWire,
    encrypted_key: Vec<u8>,
}
