//! Single-key export and import: [`ExportedKey`], "Key export v1" in docs/FORMATS.md.
//!
//! An export carries one key's metadata and the 32-byte root of each chosen version, wrapped
//! with XChaCha20-Poly1305 under a key derived from a password by Argon2id (one derivation per
//! file). The AEAD's associated data is a canonical encoding of **every** other field — format
//! version, export time, algorithm, salt, Argon2 parameters, password check value, the version
//! list, the metadata and the comment — so editing any of them (the key's id, state, algorithm,
//! expiry or policy included) makes opening fail. The same structure has two encodings, JSON
//! ([`ExportedKey::to_json`]) and compact binary ([`ExportedKey::to_bytes`], postcard), and each
//! reader accepts only the exact bytes keyvault writes for a value: every accepted file has one
//! encoding, so no byte of it can change unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use keyvault_core::{
    AuditOperation, KeyMetadata, KeyName, KeyState, KeyVersion, Timestamp, VersionState,
    VersionTransition,
};
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, KEY_LEN, SecretKey, Zeroizing};
use keyvault_store::dangerous::{ImportConflict, KeyBundle};
use keyvault_store::{Backend, StoreError, Vault};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{self, CHECK_LEN, FileKeys, Labels, Writer};
use crate::error::{BackupError, Result};

/// The export format version this release writes and reads.
pub const EXPORT_FORMAT_VERSION: u32 = 1;
/// Largest export file accepted, in either encoding.
pub const MAX_EXPORT_LEN: usize = 4 * 1024 * 1024;
/// Most versions one export carries.
pub const MAX_EXPORT_VERSIONS: usize = 10_000;
/// Longest export comment, in bytes.
pub const MAX_EXPORT_COMMENT_LEN: usize = 1024;
/// Longest serialized key metadata an export may carry.
pub const MAX_EXPORT_METADATA_LEN: usize = 2 * 1024 * 1024;
/// First four bytes of the binary encoding.
pub const EXPORT_MAGIC: [u8; 4] = *b"KVKE";
/// The `format` field of the JSON encoding.
pub const EXPORT_JSON_FORMAT: &str = "keyvault-key-export";

const WHAT: &str = "key export";
const AAD_LABEL: &[u8] = b"keyvault key export v1\0";
const LABELS: Labels = Labels {
    encrypt: "export-wrap",
    mac: "export-mac",
    check: "export-check",
};
const WRAPPING: Algorithm = Algorithm::XChaCha20Poly1305;

/// One key, its metadata and chosen versions, wrapped under a password.
///
/// Build one with [`export_key`] (from a vault) or [`ExportedKey::seal`] (from a
/// [`KeyBundle`]); read one with [`ExportedKey::decode`], [`ExportedKey::from_json`] or
/// [`ExportedKey::from_bytes`], which check structure and bounds (Argon2 parameters
/// included) but not authenticity; [`ExportedKey::open`] authenticates and unwraps.
///
/// Until opened, every accessor reports what the file *claims*.
#[derive(Clone, PartialEq, Eq)]
pub struct ExportedKey {
    format_version: u32,
    exported_at: Timestamp,
    wrapping_algorithm: Algorithm,
    salt: Vec<u8>,
    argon2_params: Argon2Params,
    password_check: [u8; CHECK_LEN],
    versions: Vec<KeyVersion>,
    encrypted_key: Vec<u8>,
    metadata: KeyMetadata,
    metadata_json: Vec<u8>,
    comment: Option<String>,
}

impl fmt::Debug for ExportedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedKey")
            .field("format_version", &self.format_version)
            .field("exported_at", &self.exported_at)
            .field("key", &self.metadata.name())
            .field("id", &self.metadata.id())
            .field("versions", &self.versions)
            .field(
                "encrypted_key",
                &format_args!("[{} bytes]", self.encrypted_key.len()),
            )
            .finish_non_exhaustive()
    }
}

/// The password-derived keys of one export file, so a caller can derive once and open (or
/// re-open) without paying for Argon2id again. Zeroized on drop, redacted in `Debug`.
pub struct ExportKey {
    keys: FileKeys,
    salt: Vec<u8>,
    params: Argon2Params,
}

impl fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExportKey([REDACTED])")
    }
}

/// How [`export_key`] wraps a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The versions to carry; `None` for every version that still has material.
    pub versions: Option<Vec<KeyVersion>>,
    /// Argon2id cost of the password derivation (must pass keyvault's floor).
    pub argon2: Argon2Params,
    /// A free-text comment, authenticated with the rest (at most [`MAX_EXPORT_COMMENT_LEN`] bytes).
    pub comment: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            versions: None,
            argon2: Argon2Params::DEFAULT,
            comment: None,
        }
    }
}

/// How [`import_key`] treats what it finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// What to do if the key's name or id is already in the vault (refuse by default).
    pub conflict: ImportConflict,
    /// Import a key whose expiry has passed (refused by default).
    pub allow_expired: bool,
}

/// Take key `name` out of `vault` (see [`DangerousVault::export_key`](keyvault_store::dangerous::DangerousVault::export_key): the key must be exportable and its
/// policy must allow `Export`; the store audits the export) and wrap it under `password`.
///
/// # Errors
/// The store's refusal (not exportable, unknown key or version); [`BackupError::TooLarge`] for a
/// long comment; Argon2 parameter errors; randomness failures.
pub fn export_key<B: Backend>(
    vault: &Vault<B>,
    name: &KeyName,
    password: &[u8],
    options: &ExportOptions,
) -> Result<ExportedKey> {
    check_comment(options.comment.as_deref())?;
    codec::check_kdf_inputs(&options.argon2, 32)?;
    let bundle = vault
        .dangerous()
        .export_key(name, options.versions.as_deref())?;
    ExportedKey::seal(
        &bundle,
        password,
        &options.argon2,
        options.comment.clone(),
        vault.options().clock.now(),
    )
}

/// Open `exported` with `password` and put the key into `vault`.
///
/// In order: the key's state and expiry are checked (a destroyed key has nothing to import; an
/// expired one is refused unless [`ImportOptions::allow_expired`]); the password is derived
/// (Argon2 parameters were bounded when the file was read) and checked; the wrapped material
/// is authenticated together with every metadata and header field; then the vault imports it
/// under [`ImportOptions::conflict`] and audits the import.
///
/// An export of only some versions, imported where the key is not yet present, records the
/// versions it does not carry as destroyed there (their material is not in this vault). That
/// needs the version that encrypts now to be among those carried.
///
/// # Errors
/// [`BackupError::Expired`], [`BackupError::WrongPassword`], [`BackupError::Tampered`],
/// [`BackupError::Inconsistent`]; the store's [`StoreError::NameTaken`] and other refusals.
pub fn import_key<B: Backend>(
    vault: &Vault<B>,
    exported: &ExportedKey,
    password: &[u8],
    options: &ImportOptions,
) -> Result<KeyMetadata> {
    let now = vault.options().clock.now();
    // A file refused before it reaches the vault is still logged there, by kind only.
    let opened = exported
        .check_importable(now, options.allow_expired)
        .and_then(|()| exported.open(password));
    let mut bundle = match opened {
        Ok(bundle) => bundle,
        Err(err) => {
            vault.dangerous().audit_refusal(
                AuditOperation::Import,
                Some(exported.metadata().name()),
                err.kind(),
            )?;
            return Err(err);
        }
    };
    let carried: BTreeSet<KeyVersion> = bundle.versions.keys().copied().collect();
    let missing: Vec<KeyVersion> = bundle
        .metadata
        .versions()
        .iter()
        .filter(|info| info.state != VersionState::Destroyed && !carried.contains(&info.version))
        .map(|info| info.version)
        .collect();
    if !missing.is_empty() {
        let present = match vault.key_by_key_id(bundle.metadata.id()) {
            Ok(_) => true,
            Err(StoreError::KeyNotFound(_)) => false,
            Err(err) => return Err(err.into()),
        };
        if !(present && options.conflict == ImportConflict::Replace) {
            for version in missing {
                bundle
                    .metadata
                    .version_transition(version, VersionTransition::Destroy, now)
                    .map_err(|_| BackupError::Inconsistent {
                        what: "partial key export",
                        reason: "it lacks the version that encrypts now: export that version \
                                 too, or import with Replace into a vault that holds the key",
                    })?;
            }
        }
    }
    Ok(vault
        .dangerous()
        .import_key(bundle, options.conflict.clone())?)
}

impl ExportedKey {
    /// Wrap `bundle` under `password`: one Argon2id derivation with `argon2` over a fresh
    /// random 32-byte salt, then XChaCha20-Poly1305 over the versions' material with every
    /// other field as associated data.
    ///
    /// # Errors
    /// [`BackupError::InvalidField`] for a bundle without versions or carrying a version its
    /// metadata lacks or lists as destroyed; [`BackupError::TooLarge`]; Argon2 parameter
    /// errors; randomness failures.
    pub fn seal(
        bundle: &KeyBundle,
        password: &[u8],
        argon2: &Argon2Params,
        comment: Option<String>,
        exported_at: Timestamp,
    ) -> Result<Self> {
        check_comment(comment.as_deref())?;
        let versions: Vec<KeyVersion> = bundle.versions.keys().copied().collect();
        check_versions(&bundle.metadata, &versions)?;
        let metadata_json = serde_json::to_vec(&bundle.metadata)
            .map_err(|err| BackupError::malformed("key metadata", err))?;
        if metadata_json.len() > MAX_EXPORT_METADATA_LEN {
            return Err(BackupError::too_large(
                "key metadata",
                metadata_json.len(),
                MAX_EXPORT_METADATA_LEN,
            ));
        }
        let salt = codec::random_salt()?;
        let keys = codec::derive_file_keys(password, &salt, argon2, &LABELS)?;
        let mut exported = ExportedKey {
            format_version: EXPORT_FORMAT_VERSION,
            exported_at,
            wrapping_algorithm: WRAPPING,
            salt,
            argon2_params: *argon2,
            password_check: keys.check,
            versions,
            encrypted_key: Vec::new(),
            metadata: bundle.metadata.clone(),
            metadata_json,
            comment,
        };
        let mut plaintext = Zeroizing::new(Vec::with_capacity(KEY_LEN * bundle.versions.len()));
        for secret in bundle.versions.values() {
            plaintext.extend_from_slice(secret.expose_secret());
        }
        exported.encrypted_key =
            AeadKey::new(WRAPPING, &keys.encrypt)?.seal(&plaintext, &exported.aad())?;
        Ok(exported)
    }

    /// Derive this file's keys from `password` (the one Argon2id derivation), for
    /// [`ExportedKey::open_with`].
    ///
    /// # Errors
    /// Argon2 parameter errors (already bounded when the file was read); randomness failures.
    pub fn derive_key(&self, password: &[u8]) -> Result<ExportKey> {
        Ok(ExportKey {
            keys: codec::derive_file_keys(password, &self.salt, &self.argon2_params, &LABELS)?,
            salt: self.salt.clone(),
            params: self.argon2_params,
        })
    }

    /// Authenticate every field and unwrap the material: [`ExportedKey::derive_key`] then
    /// [`ExportedKey::open_with`].
    ///
    /// # Errors
    /// [`BackupError::WrongPassword`] if the password check value does not match;
    /// [`BackupError::Tampered`] if any field was changed.
    pub fn open(&self, password: &[u8]) -> Result<KeyBundle> {
        self.open_with(&self.derive_key(password)?)
    }

    /// As [`ExportedKey::open`], with keys derived earlier for this file.
    ///
    /// # Errors
    /// As [`ExportedKey::open`]; [`BackupError::InvalidField`] if `key` was derived for another
    /// salt or other parameters.
    pub fn open_with(&self, key: &ExportKey) -> Result<KeyBundle> {
        if key.salt != self.salt || key.params != self.argon2_params {
            return Err(BackupError::InvalidField {
                what: "export key",
                reason: "it was derived for another file's salt or Argon2 parameters",
            });
        }
        codec::check_password(&key.keys, &self.password_check, WHAT)?;
        let plaintext = AeadKey::new(self.wrapping_algorithm, &key.keys.encrypt)?
            .open(&self.encrypted_key, &self.aad())
            .map_err(|_| BackupError::Tampered { what: WHAT })?;
        let chunks = plaintext.chunks_exact(KEY_LEN);
        if !chunks.remainder().is_empty() || chunks.len() != self.versions.len() {
            return Err(BackupError::Inconsistent {
                what: WHAT,
                reason: "the material does not match the version list",
            });
        }
        let mut versions = BTreeMap::new();
        for (version, material) in self.versions.iter().zip(chunks) {
            versions.insert(*version, SecretKey::from_slice(material)?);
        }
        Ok(KeyBundle {
            metadata: self.metadata.clone(),
            versions,
        })
    }

    /// Refuse what cannot be imported, before any password work: a destroyed key, or (unless
    /// `allow_expired`) an expired one.
    fn check_importable(&self, now: Timestamp, allow_expired: bool) -> Result<()> {
        if self.metadata.state() == KeyState::Destroyed {
            return Err(BackupError::InvalidField {
                what: "key state",
                reason: "a destroyed key has no material to import",
            });
        }
        match self.metadata.expires_at() {
            Some(expired_at) if expired_at <= now && !allow_expired => Err(BackupError::Expired {
                key: self.metadata.name().to_string(),
                expired_at,
            }),
            _ => Ok(()),
        }
    }

    /// The associated data: every field but the ciphertext, in the canonical encoding of
    /// docs/FORMATS.md ("Key export v1").
    fn aad(&self) -> Vec<u8> {
        let mut w = Writer::with_label(AAD_LABEL);
        w.u32(self.format_version)
            .u64(self.exported_at.as_unix_millis())
            .u8(self.wrapping_algorithm.id())
            .bytes(&self.salt)
            .u32(self.argon2_params.memory_kib)
            .u32(self.argon2_params.iterations)
            .u32(self.argon2_params.lanes)
            .raw(&self.password_check)
            .u32(u32::try_from(self.versions.len()).unwrap_or(u32::MAX));
        for version in &self.versions {
            w.u32(version.get());
        }
        w.bytes(&self.metadata_json)
            .optional_bytes(self.comment.as_deref().map(str::as_bytes));
        w.into_inner()
    }

    /// The JSON encoding: pretty-printed, ending with one newline, hex for byte strings and the
    /// metadata as keyvault-core's compact JSON. Readers accept exactly these bytes.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.json_wire()).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The compact binary encoding: [`EXPORT_MAGIC`] then the postcard encoding of the same
    /// fields.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = EXPORT_MAGIC.to_vec();
        out.extend_from_slice(&postcard::to_stdvec(&self.binary_wire()).unwrap_or_default());
        out
    }

    /// Read either encoding (binary if it starts with [`EXPORT_MAGIC`], JSON otherwise).
    ///
    /// # Errors
    /// As [`ExportedKey::from_json`] and [`ExportedKey::from_bytes`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(&EXPORT_MAGIC) {
            Self::from_bytes(bytes)
        } else {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                BackupError::malformed(WHAT, "neither the binary form nor UTF-8 JSON")
            })?;
            Self::from_json(text)
        }
    }

    /// Read the JSON encoding, checking structure, bounds (Argon2 parameters, salt, lengths,
    /// counts) and canonical form. Authenticity is checked by [`ExportedKey::open`].
    ///
    /// # Errors
    /// [`BackupError::TooLarge`], [`BackupError::Malformed`], [`BackupError::UnsupportedVersion`],
    /// [`BackupError::UnsupportedAlgorithm`], [`BackupError::InvalidField`], Argon2 parameter
    /// errors, [`BackupError::NonCanonical`].
    pub fn from_json(text: &str) -> Result<Self> {
        if text.len() > MAX_EXPORT_LEN {
            return Err(BackupError::too_large(WHAT, text.len(), MAX_EXPORT_LEN));
        }
        #[derive(Deserialize)]
        struct Probe {
            format: String,
            format_version: u32,
        }
        let probe: Probe =
            serde_json::from_str(text).map_err(|err| BackupError::malformed(WHAT, err))?;
        if probe.format != EXPORT_JSON_FORMAT {
            return Err(BackupError::malformed(
                WHAT,
                "the format field does not name a keyvault key export",
            ));
        }
        check_format_version(probe.format_version)?;
        let wire: ExportJson =
            serde_json::from_str(text).map_err(|err| BackupError::malformed(WHAT, err))?;
        let algorithm = wire
            .wrapping_algorithm
            .parse::<Algorithm>()
            .map_err(|_| unsupported_algorithm(&wire.wrapping_algorithm))?;
        let exported = Self::from_fields(Fields {
            format_version: wire.format_version,
            exported_at: wire.exported_at,
            wrapping_algorithm: algorithm,
            salt: decode_hex("salt", &wire.salt, 64)?,
            argon2_params: Argon2Params {
                memory_kib: wire.argon2_params.memory_kib,
                iterations: wire.argon2_params.iterations,
                lanes: wire.argon2_params.lanes,
            },
            password_check: decode_hex("password_check", &wire.password_check, CHECK_LEN)?,
            versions: wire.versions,
            encrypted_key: decode_hex("encrypted_key", &wire.encrypted_key, MAX_EXPORT_LEN / 2)?,
            metadata_json: wire.metadata.get().as_bytes().to_vec(),
            comment: wire.comment,
        })?;
        if exported.to_json() != text {
            return Err(BackupError::NonCanonical { what: WHAT });
        }
        Ok(exported)
    }

    /// Read the binary encoding, with the same checks as [`ExportedKey::from_json`].
    ///
    /// # Errors
    /// As [`ExportedKey::from_json`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_EXPORT_LEN {
            return Err(BackupError::too_large(WHAT, bytes.len(), MAX_EXPORT_LEN));
        }
        let body = bytes
            .strip_prefix(&EXPORT_MAGIC)
            .ok_or_else(|| BackupError::malformed(WHAT, "missing the KVKE magic"))?;
        let (version, _) = postcard::take_from_bytes::<u32>(body)
            .map_err(|err| BackupError::malformed(WHAT, err))?;
        check_format_version(version)?;
        let (wire, rest) = postcard::take_from_bytes::<ExportBin>(body)
            .map_err(|err| BackupError::malformed(WHAT, err))?;
        if !rest.is_empty() {
            return Err(BackupError::NonCanonical { what: WHAT });
        }
        let algorithm = Algorithm::from_id(wire.wrapping_algorithm)
            .map_err(|_| unsupported_algorithm(&wire.wrapping_algorithm.to_string()))?;
        let exported = Self::from_fields(Fields {
            format_version: wire.format_version,
            exported_at: wire.exported_at,
            wrapping_algorithm: algorithm,
            salt: wire.salt,
            argon2_params: Argon2Params {
                memory_kib: wire.memory_kib,
                iterations: wire.iterations,
                lanes: wire.lanes,
            },
            password_check: wire.password_check.to_vec(),
            versions: wire.versions,
            encrypted_key: wire.encrypted_key,
            metadata_json: wire.metadata,
            comment: wire.comment,
        })?;
        if exported.to_bytes() != bytes {
            return Err(BackupError::NonCanonical { what: WHAT });
        }
        Ok(exported)
    }

    /// Validate decoded fields in the order that costs least: versions and algorithm, then
    /// bounds on every length and count and on the Argon2 parameters, then the metadata.
    fn from_fields(fields: Fields) -> Result<Self> {
        check_format_version(fields.format_version)?;
        if fields.wrapping_algorithm != WRAPPING {
            return Err(unsupported_algorithm(fields.wrapping_algorithm.name()));
        }
        codec::check_file_kdf_inputs("export", &fields.argon2_params, fields.salt.len())?;
        let password_check: [u8; CHECK_LEN] =
            fields
                .password_check
                .as_slice()
                .try_into()
                .map_err(|_| BackupError::InvalidField {
                    what: "password_check",
                    reason: "the password check value is 16 bytes",
                })?;
        check_comment(fields.comment.as_deref())?;
        if fields.versions.len() > MAX_EXPORT_VERSIONS {
            return Err(BackupError::too_large(
                "version list",
                fields.versions.len(),
                MAX_EXPORT_VERSIONS,
            ));
        }
        let expected_len = WRAPPING
            .overhead()
            .saturating_add(KEY_LEN.saturating_mul(fields.versions.len()));
        if fields.encrypted_key.len() != expected_len {
            return Err(BackupError::InvalidField {
                what: "encrypted_key",
                reason: "its length does not match the version list (nonce, 32 bytes per version, tag)",
            });
        }
        if fields.metadata_json.len() > MAX_EXPORT_METADATA_LEN {
            return Err(BackupError::too_large(
                "key metadata",
                fields.metadata_json.len(),
                MAX_EXPORT_METADATA_LEN,
            ));
        }
        // Both encodings must carry these exact bytes: the binary reader gets them raw, and
        // serde_json skips unknown fields without checking their UTF-8, so check it here, and
        // refuse whitespace around the value, which the JSON encoding would drop.
        let metadata_text = std::str::from_utf8(&fields.metadata_json)
            .map_err(|_| BackupError::malformed("key metadata", "not UTF-8"))?;
        if metadata_text.trim_matches([' ', '\t', '\n', '\r']).len() != metadata_text.len() {
            return Err(BackupError::malformed(
                "key metadata",
                "whitespace around the JSON value",
            ));
        }
        let metadata: KeyMetadata = serde_json::from_str(metadata_text)
            .map_err(|err| BackupError::malformed("key metadata", err))?;
        let versions = fields
            .versions
            .iter()
            .map(|&number| KeyVersion::new(number))
            .collect::<keyvault_core::Result<Vec<_>>>()?;
        check_versions(&metadata, &versions)?;
        Ok(ExportedKey {
            format_version: fields.format_version,
            exported_at: Timestamp::from_unix_millis(fields.exported_at),
            wrapping_algorithm: fields.wrapping_algorithm,
            salt: fields.salt,
            argon2_params: fields.argon2_params,
            password_check,
            versions,
            encrypted_key: fields.encrypted_key,
            metadata,
            metadata_json: fields.metadata_json,
            comment: fields.comment,
        })
    }

    fn json_wire(&self) -> ExportJson {
        // The metadata bytes were produced by serde_json or parsed as JSON when the file was
        // read, so they are always valid; were they not, "null" would fail every later check.
        let metadata = String::from_utf8(self.metadata_json.clone())
            .ok()
            .and_then(|text| RawValue::from_string(text).ok())
            .unwrap_or_else(|| RawValue::NULL.to_owned());
        ExportJson {
            format: EXPORT_JSON_FORMAT.to_owned(),
            format_version: self.format_version,
            exported_at: self.exported_at.as_unix_millis(),
            wrapping_algorithm: self.wrapping_algorithm.name().to_owned(),
            salt: hex::encode(&self.salt),
            argon2_params: KdfJson {
                memory_kib: self.argon2_params.memory_kib,
                iterations: self.argon2_params.iterations,
                lanes: self.argon2_params.lanes,
            },
            password_check: hex::encode(self.password_check),
            versions: self.versions.iter().map(|v| v.get()).collect(),
            encrypted_key: hex::encode(&self.encrypted_key),
            metadata,
            comment: self.comment.clone(),
        }
    }

    fn binary_wire(&self) -> ExportBin {
        ExportBin {
            format_version: self.format_version,
            exported_at: self.exported_at.as_unix_millis(),
            wrapping_algorithm: self.wrapping_algorithm.id(),
            salt: self.salt.clone(),
            memory_kib: self.argon2_params.memory_kib,
            iterations: self.argon2_params.iterations,
            lanes: self.argon2_params.lanes,
            password_check: self.password_check,
            versions: self.versions.iter().map(|v| v.get()).collect(),
            encrypted_key: self.encrypted_key.clone(),
            metadata: self.metadata_json.clone(),
            comment: self.comment.clone(),
        }
    }

    /// The format version (1).
    #[must_use]
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// When the key was exported.
    #[must_use]
    pub fn exported_at(&self) -> Timestamp {
        self.exported_at
    }

    /// The algorithm wrapping the material (XChaCha20-Poly1305).
    #[must_use]
    pub fn wrapping_algorithm(&self) -> Algorithm {
        self.wrapping_algorithm
    }

    /// The Argon2id salt.
    #[must_use]
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The Argon2id parameters (already checked against keyvault's floor and ceiling).
    #[must_use]
    pub fn argon2_params(&self) -> Argon2Params {
        self.argon2_params
    }

    /// The versions carried, ascending.
    #[must_use]
    pub fn versions(&self) -> &[KeyVersion] {
        &self.versions
    }

    /// `nonce || ciphertext || tag` of the wrapped material.
    #[must_use]
    pub fn encrypted_key(&self) -> &[u8] {
        &self.encrypted_key
    }

    /// The key's metadata as the file states it (authenticated by [`ExportedKey::open`]).
    #[must_use]
    pub fn metadata(&self) -> &KeyMetadata {
        &self.metadata
    }

    /// The comment, if any.
    #[must_use]
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

struct Fields {
    format_version: u32,
    exported_at: u64,
    wrapping_algorithm: Algorithm,
    salt: Vec<u8>,
    argon2_params: Argon2Params,
    password_check: Vec<u8>,
    versions: Vec<u32>,
    encrypted_key: Vec<u8>,
    metadata_json: Vec<u8>,
    comment: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportJson {
    format: String,
    format_version: u32,
    exported_at: u64,
    wrapping_algorithm: String,
    salt: String,
    argon2_params: KdfJson,
    password_check: String,
    versions: Vec<u32>,
    encrypted_key: String,
    metadata: Box<RawValue>,
    comment: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
}

#[derive(Serialize, Deserialize)]
struct ExportBin {
    format_version: u32,
    exported_at: u64,
    wrapping_algorithm: u8,
    salt: Vec<u8>,
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    password_check: [u8; CHECK_LEN],
    versions: Vec<u32>,
    encrypted_key: Vec<u8>,
    metadata: Vec<u8>,
    comment: Option<String>,
}

fn check_format_version(version: u32) -> Result<()> {
    if version == EXPORT_FORMAT_VERSION {
        Ok(())
    } else {
        Err(BackupError::UnsupportedVersion {
            what: WHAT,
            version,
            supported: EXPORT_FORMAT_VERSION,
        })
    }
}

fn unsupported_algorithm(name: &str) -> BackupError {
    BackupError::UnsupportedAlgorithm {
        what: WHAT,
        name: name.chars().take(64).collect(),
    }
}

fn check_comment(comment: Option<&str>) -> Result<()> {
    match comment {
        Some(text) if text.len() > MAX_EXPORT_COMMENT_LEN => Err(BackupError::too_large(
            "comment",
            text.len(),
            MAX_EXPORT_COMMENT_LEN,
        )),
        _ => Ok(()),
    }
}

/// The version list is non-empty, strictly ascending, and names only versions the metadata has
/// and has not destroyed.
fn check_versions(metadata: &KeyMetadata, versions: &[KeyVersion]) -> Result<()> {
    let invalid = |reason| BackupError::InvalidField {
        what: "version list",
        reason,
    };
    if versions.is_empty() {
        return Err(invalid("an export carries at least one version"));
    }
    if versions.len() > MAX_EXPORT_VERSIONS {
        return Err(BackupError::too_large(
            "version list",
            versions.len(),
            MAX_EXPORT_VERSIONS,
        ));
    }
    if versions
        .windows(2)
        .any(|pair| matches!(pair, [a, b] if a >= b))
    {
        return Err(invalid("versions are listed once each, in ascending order"));
    }
    for version in versions {
        match metadata.version(*version) {
            Some(info) if info.state != VersionState::Destroyed => {}
            Some(_) => return Err(invalid("a destroyed version has no material to carry")),
            None => return Err(invalid("a version the key's metadata does not list")),
        }
    }
    Ok(())
}

fn decode_hex(what: &'static str, text: &str, max_bytes: usize) -> Result<Vec<u8>> {
    if text.len() > max_bytes.saturating_mul(2) {
        return Err(BackupError::too_large(what, text.len() / 2, max_bytes));
    }
    hex::decode(text).map_err(|_| BackupError::malformed(WHAT, format_args!("{what} is not hex")))
}
