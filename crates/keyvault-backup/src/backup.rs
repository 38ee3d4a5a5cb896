//! Whole-vault backups: [`VaultBackup`], "Backup v2" in docs/FORMATS.md.
//!
//! A backup file is an authenticated header, the XChaCha20-Poly1305 encryption of a serialized
//! [`VaultSnapshot`] (zstd-compressed if asked) with the header as associated data, and an
//! HMAC-SHA256 tag over everything before it. One Argon2id derivation per file yields, through
//! HKDF-SHA256, separate encryption and MAC keys and a password check value. Reading checks, in
//! order: the header's bounds (Argon2 parameters, lengths, sizes) before deriving; the password
//! check; the HMAC over the whole file, in constant time, before anything else is trusted; the
//! AEAD; a decompression bounded by the authenticated size; the payload's structure and its
//! agreement with the header.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use keyvault_core::audit::ChainMac;
use keyvault_core::{ChainHead, Timestamp};
use keyvault_crypto::mac::{MAC_LEN, hmac_sha256, hmac_sha256_verify};
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, SecretBytes, Zeroizing};
use keyvault_store::dangerous::{SnapshotBase, VaultSnapshot};
use keyvault_store::{Backend, Vault};

use crate::codec::{self, CHECK_LEN, FileKeys, Labels, Reader, Writer};
use crate::error::{BackupError, Result};
use crate::payload;

/// The backup format version this release writes and reads. Version 1 (before lineage ids,
/// with audit records as JSON) is refused as unsupported.
pub const BACKUP_FORMAT_VERSION: u32 = 2;
/// First four bytes of every backup file.
pub const BACKUP_MAGIC: [u8; 4] = *b"KVBK";
/// Largest serialized snapshot (before compression) a backup may hold: 256 MiB.
pub const MAX_DATA_SIZE: u64 = 256 * 1024 * 1024;
/// Largest backup file accepted.
pub const MAX_BACKUP_LEN: usize = 256 * 1024 * 1024 + 1024 * 1024;
/// Longest backup comment, in bytes.
pub const MAX_BACKUP_COMMENT_LEN: usize = 4096;
/// Largest zstd window a backup may ask the decoder for (2^24 bytes = 16 MiB).
pub const MAX_ZSTD_WINDOW_LOG: u32 = 24;

const WHAT: &str = "backup";
const FLAG_COMPRESSED: u32 = 1;
const FLAG_AUDIT: u32 = 1 << 1;
const FLAG_INCREMENTAL: u32 = 1 << 2;
const KNOWN_FLAGS: u32 = FLAG_COMPRESSED | FLAG_AUDIT | FLAG_INCREMENTAL;
const ALGORITHM: Algorithm = Algorithm::XChaCha20Poly1305;
const LABELS: Labels = Labels {
    encrypt: "backup-encrypt",
    mac: "backup-mac",
    check: "backup-check",
};

/// A backup's identity: its HMAC-SHA256 tag (the file's last 32 bytes). An incremental backup
/// names its base by this id; no two different backups share one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupId([u8; MAC_LEN]);

impl BackupId {
    /// The id with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; MAC_LEN]) -> Self {
        BackupId(bytes)
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; MAC_LEN] {
        &self.0
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupId({self})")
    }
}

impl FromStr for BackupId {
    type Err = BackupError;

    fn from_str(text: &str) -> Result<Self> {
        let mut bytes = [0u8; MAC_LEN];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| BackupError::InvalidField {
            what: "backup id",
            reason: "a backup id is 64 hex digits",
        })?;
        Ok(BackupId(bytes))
    }
}

/// What to back up and how.
#[derive(Clone)]
pub struct BackupConfig {
    /// Carry the audit log (all records, or for an incremental backup those since its base).
    pub include_audit_logs: bool,
    /// zstd-compress the payload before encrypting it.
    pub compress: bool,
    /// The password protecting the backup. Zeroized on drop, never printed.
    pub encryption_password: Zeroizing<Vec<u8>>,
    /// A free-text comment, authenticated with the header (at most
    /// [`MAX_BACKUP_COMMENT_LEN`] bytes).
    pub comment: Option<String>,
    /// Argon2id cost of the password derivation (must pass keyvault's floor).
    pub argon2: Argon2Params,
    /// zstd level (1–19; 3 by default).
    pub compression_level: i32,
}

impl fmt::Debug for BackupConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupConfig")
            .field("include_audit_logs", &self.include_audit_logs)
            .field("compress", &self.compress)
            .field("encryption_password", &"[REDACTED]")
            .field("comment", &self.comment)
            .field("argon2", &self.argon2)
            .field("compression_level", &self.compression_level)
            .finish()
    }
}

impl BackupConfig {
    /// Audit log included, compressed (zstd level 3), no comment, keyvault's default Argon2id
    /// cost.
    #[must_use]
    pub fn new(password: impl Into<Vec<u8>>) -> Self {
        BackupConfig {
            include_audit_logs: true,
            compress: true,
            encryption_password: Zeroizing::new(password.into()),
            comment: None,
            argon2: Argon2Params::DEFAULT,
            compression_level: 3,
        }
    }
}

/// What a backup's header states. Read from a file, it is only a claim until
/// [`VaultBackup::open`] (or [`crate::verify_backup`]) has checked the file's MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupMetadata {
    /// When the backup was made.
    pub created_at: Timestamp,
    /// Keys carried (for an incremental backup, those changed since its base).
    pub key_count: u64,
    /// The format version (2).
    pub format_version: u32,
    /// The HMAC-SHA256 tag over the whole file, which is also the backup's id.
    pub checksum: BackupId,
    /// Whether the payload is zstd-compressed.
    pub compressed: bool,
    /// Whether the audit log is included.
    pub has_audit_logs: bool,
    /// The comment, if any.
    pub comment: Option<String>,
    /// Size of the serialized snapshot before compression, in bytes.
    pub data_size: u64,
    /// For an incremental backup, the id of the backup it follows.
    pub base: Option<BackupId>,
    /// The vault's commit sequence number at the snapshot.
    pub sequence: u64,
    /// The history of the vault the snapshot was taken from (new at every restore); an
    /// incremental backup has its base's lineage.
    pub lineage: [u8; 16],
    /// The vault's audit chain head at the snapshot.
    pub audit_head: ChainHead,
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    format_version: u32,
    flags: u32,
    created_at: Timestamp,
    key_count: u64,
    data_size: u64,
    sequence: u64,
    lineage: [u8; 16],
    audit_head: ChainHead,
    algorithm: Algorithm,
    argon2: Argon2Params,
    salt: Vec<u8>,
    password_check: [u8; CHECK_LEN],
    base: Option<BackupId>,
    comment: Option<String>,
    ciphertext_len: u64,
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_label(&BACKUP_MAGIC);
        w.u32(self.format_version)
            .u32(self.flags)
            .u64(self.created_at.as_unix_millis())
            .u64(self.key_count)
            .u64(self.data_size)
            .u64(self.sequence)
            .raw(&self.lineage)
            .u64(self.audit_head.count)
            .raw(self.audit_head.last_mac.as_bytes())
            .u8(self.algorithm.id())
            .u32(self.argon2.memory_kib)
            .u32(self.argon2.iterations)
            .u32(self.argon2.lanes)
            .u8(u8::try_from(self.salt.len()).unwrap_or(u8::MAX))
            .raw(&self.salt)
            .raw(&self.password_check);
        if let Some(base) = &self.base {
            w.raw(base.as_bytes());
        }
        w.optional_bytes(self.comment.as_deref().map(str::as_bytes))
            .u64(self.ciphertext_len);
        w.into_inner()
    }

    /// Parse and bound a header; returns it and its length. Nothing here is trusted yet: the
    /// checks only keep a hostile file from costing memory or time.
    fn parse(bytes: &[u8]) -> Result<(Self, usize)> {
        let mut r = Reader::new(bytes, WHAT);
        if r.array::<4>()? != BACKUP_MAGIC {
            return Err(BackupError::malformed(WHAT, "missing the KVBK magic"));
        }
        let format_version = r.u32()?;
        if format_version != BACKUP_FORMAT_VERSION {
            return Err(BackupError::UnsupportedVersion {
                what: WHAT,
                version: format_version,
                supported: BACKUP_FORMAT_VERSION,
            });
        }
        let flags = r.u32()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(BackupError::InvalidField {
                what: "flags",
                reason: "unknown flag bits are set",
            });
        }
        let created_at = Timestamp::from_unix_millis(r.u64()?);
        let key_count = r.u64()?;
        let data_size = r.u64()?;
        if data_size > MAX_DATA_SIZE {
            return Err(BackupError::TooLarge {
                what: "backup data size",
                len: data_size,
                max: MAX_DATA_SIZE,
            });
        }
        let sequence = r.u64()?;
        let lineage = r.array()?;
        let audit_head = ChainHead {
            count: r.u64()?,
            last_mac: ChainMac::from_bytes(r.array()?),
        };
        let algorithm_id = r.u8()?;
        let algorithm = Algorithm::from_id(algorithm_id)
            .ok()
            .filter(|&alg| alg == ALGORITHM)
            .ok_or_else(|| BackupError::UnsupportedAlgorithm {
                what: WHAT,
                name: algorithm_id.to_string(),
            })?;
        let argon2 = Argon2Params {
            memory_kib: r.u32()?,
            iterations: r.u32()?,
            lanes: r.u32()?,
        };
        let salt_len = usize::from(r.u8()?);
        codec::check_file_kdf_inputs("backup", &argon2, salt_len)?;
        let salt = r.take(salt_len)?.to_vec();
        let password_check = r.array()?;
        let base = if flags & FLAG_INCREMENTAL != 0 {
            Some(BackupId(r.array()?))
        } else {
            None
        };
        let comment = match r.u8()? {
            0 => None,
            1 => {
                let len = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
                if len > MAX_BACKUP_COMMENT_LEN {
                    return Err(BackupError::too_large(
                        "comment",
                        len,
                        MAX_BACKUP_COMMENT_LEN,
                    ));
                }
                let text = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| BackupError::malformed(WHAT, "the comment is not UTF-8"))?;
                Some(text.to_owned())
            }
            _ => {
                return Err(BackupError::InvalidField {
                    what: "comment",
                    reason: "its presence tag is neither 0 nor 1",
                });
            }
        };
        let ciphertext_len = r.u64()?;
        let header_len = bytes.len().saturating_sub(r.remaining());
        let expected_rest = usize::try_from(ciphertext_len)
            .ok()
            .and_then(|len| len.checked_add(MAC_LEN));
        if expected_rest != Some(r.remaining()) {
            return Err(BackupError::malformed(
                WHAT,
                "the file length does not match the header (truncated or extended)",
            ));
        }
        let overhead = u64::try_from(ALGORITHM.overhead()).unwrap_or(u64::MAX);
        let compressed = flags & FLAG_COMPRESSED != 0;
        if ciphertext_len < overhead
            || (!compressed && ciphertext_len != data_size.saturating_add(overhead))
        {
            return Err(BackupError::InvalidField {
                what: "ciphertext length",
                reason: "it does not match the data size",
            });
        }
        Ok((
            Header {
                format_version,
                flags,
                created_at,
                key_count,
                data_size,
                sequence,
                lineage,
                audit_head,
                algorithm,
                argon2,
                salt,
                password_check,
                base,
                comment,
                ciphertext_len,
            },
            header_len,
        ))
    }
}

/// One backup file, parsed and bounded but not yet authenticated.
///
/// Make one with [`create_backup`] or [`create_incremental_backup`], or read one with
/// [`VaultBackup::from_bytes`] / [`VaultBackup::read_file`]; [`VaultBackup::open`] authenticates
/// it and returns the snapshot. The restore and verify functions of this crate do that for a
/// whole chain.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultBackup {
    bytes: Vec<u8>,
    header: Header,
    header_len: usize,
    metadata: BackupMetadata,
}

impl fmt::Debug for VaultBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultBackup")
            .field("metadata", &self.metadata)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The password-derived keys of one backup file, so a caller can derive once and then verify and
/// restore without paying for Argon2id twice. Zeroized on drop, redacted in `Debug`.
pub struct BackupKey {
    keys: FileKeys,
    salt: Vec<u8>,
    params: Argon2Params,
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey([REDACTED])")
    }
}

/// Back up the whole vault: a consistent snapshot (audited by the store as a backup) of every
/// key, counter and, if configured, the audit log, sealed under `config`'s password.
///
/// # Errors
/// The store's errors; [`BackupError::TooLarge`] for a long comment or a vault past
/// [`MAX_DATA_SIZE`]; Argon2 parameter errors; randomness failures.
pub fn create_backup<B: Backend>(vault: &Vault<B>, config: &BackupConfig) -> Result<VaultBackup> {
    check_config(config)?;
    let snapshot = vault
        .dangerous()
        .snapshot(None, config.include_audit_logs)?;
    VaultBackup::seal(&snapshot, None, config, vault.options().clock.now())
}

/// Back up what changed in `vault` since `base` (a full or incremental backup of the same vault):
/// keys and counters written since, and the audit records appended since. The new backup names
/// `base` by its id; restoring needs the full backup and every incremental one in order.
///
/// `base`'s header is used unauthenticated to find where it stands; a wrong or forged base only
/// makes a backup that restore and [`crate::verify_chain`] refuse as a broken chain.
///
/// # Errors
/// As [`create_backup`].
pub fn create_incremental_backup<B: Backend>(
    vault: &Vault<B>,
    base: &VaultBackup,
    config: &BackupConfig,
) -> Result<VaultBackup> {
    check_config(config)?;
    let snapshot = vault
        .dangerous()
        .snapshot(Some(base.snapshot_base()), config.include_audit_logs)?;
    VaultBackup::seal(
        &snapshot,
        Some(base.backup_id()),
        config,
        vault.options().clock.now(),
    )
}

fn check_config(config: &BackupConfig) -> Result<()> {
    if let Some(comment) = &config.comment
        && comment.len() > MAX_BACKUP_COMMENT_LEN
    {
        return Err(BackupError::too_large(
            "comment",
            comment.len(),
            MAX_BACKUP_COMMENT_LEN,
        ));
    }
    codec::check_kdf_inputs(&config.argon2, 32)
}

impl VaultBackup {
    /// Seal `snapshot` into a backup file. `base` names the backup an incremental snapshot
    /// follows; it must be given exactly when `snapshot.base()` is.
    ///
    /// # Errors
    /// [`BackupError::InvalidField`] if `base` and the snapshot disagree; as [`create_backup`].
    pub fn seal(
        snapshot: &VaultSnapshot,
        base: Option<BackupId>,
        config: &BackupConfig,
        created_at: Timestamp,
    ) -> Result<Self> {
        check_config(config)?;
        if base.is_some() != snapshot.base().is_some() {
            return Err(BackupError::InvalidField {
                what: "base backup",
                reason: "an incremental snapshot needs its base backup's id, a full one none",
            });
        }
        let plaintext = payload::encode(snapshot)?;
        let data_size = u64::try_from(plaintext.len()).unwrap_or(u64::MAX);
        if data_size > MAX_DATA_SIZE {
            return Err(BackupError::TooLarge {
                what: "backup data size",
                len: data_size,
                max: MAX_DATA_SIZE,
            });
        }
        let body = if config.compress {
            Zeroizing::new(
                zstd::bulk::compress(&plaintext, config.compression_level.clamp(1, 19)).map_err(
                    |err| BackupError::Decompression {
                        what: "backup payload (compressing)",
                        reason: err.to_string(),
                    },
                )?,
            )
        } else {
            plaintext
        };
        let salt = codec::random_salt()?;
        let keys =
            codec::derive_file_keys(&config.encryption_password, &salt, &config.argon2, &LABELS)?;
        let mut flags = 0;
        if config.compress {
            flags |= FLAG_COMPRESSED;
        }
        if snapshot.audit().is_some() {
            flags |= FLAG_AUDIT;
        }
        if base.is_some() {
            flags |= FLAG_INCREMENTAL;
        }
        let header = Header {
            format_version: BACKUP_FORMAT_VERSION,
            flags,
            created_at,
            key_count: u64::try_from(snapshot.keys().len()).unwrap_or(u64::MAX),
            data_size,
            sequence: snapshot.sequence(),
            lineage: snapshot.lineage(),
            audit_head: snapshot.audit_head(),
            algorithm: ALGORITHM,
            argon2: config.argon2,
            salt,
            password_check: keys.check,
            base,
            comment: config.comment.clone(),
            ciphertext_len: u64::try_from(body.len().saturating_add(ALGORITHM.overhead()))
                .unwrap_or(u64::MAX),
        };
        let mut bytes = header.encode();
        let aad = bytes.clone();
        AeadKey::new(ALGORITHM, &keys.encrypt)?.seal_append(&body, &aad, &mut bytes)?;
        let tag = hmac_sha256(keys.mac.expose_secret(), &bytes);
        bytes.extend_from_slice(tag.as_bytes());
        Self::from_bytes(bytes)
    }

    /// Parse a backup file, bounding every field (Argon2 parameters, salt, comment, sizes)
    /// so that a hostile file costs neither memory nor time. Does not authenticate.
    ///
    /// # Errors
    /// [`BackupError::TooLarge`], [`BackupError::Malformed`], [`BackupError::UnsupportedVersion`],
    /// [`BackupError::UnsupportedAlgorithm`], [`BackupError::InvalidField`], Argon2 parameter
    /// errors.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes = bytes.into();
        if bytes.len() > MAX_BACKUP_LEN {
            return Err(BackupError::too_large(WHAT, bytes.len(), MAX_BACKUP_LEN));
        }
        let (header, header_len) = Header::parse(&bytes)?;
        let mut tag = [0u8; MAC_LEN];
        if let Some(last) = bytes.get(bytes.len().saturating_sub(MAC_LEN)..) {
            tag.copy_from_slice(last);
        }
        let metadata = BackupMetadata {
            created_at: header.created_at,
            key_count: header.key_count,
            format_version: header.format_version,
            checksum: BackupId(tag),
            compressed: header.flags & FLAG_COMPRESSED != 0,
            has_audit_logs: header.flags & FLAG_AUDIT != 0,
            comment: header.comment.clone(),
            data_size: header.data_size,
            base: header.base,
            sequence: header.sequence,
            lineage: header.lineage,
            audit_head: header.audit_head,
        };
        Ok(VaultBackup {
            bytes,
            header,
            header_len,
            metadata,
        })
    }

    /// Read a backup file of at most [`MAX_BACKUP_LEN`] bytes and parse it.
    ///
    /// # Errors
    /// [`BackupError::Io`]; as [`VaultBackup::from_bytes`].
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(codec::read_bounded(path.as_ref(), MAX_BACKUP_LEN, WHAT)?)
    }

    /// Write the backup to a new file at `path` (never overwriting), readable by its owner only.
    ///
    /// # Errors
    /// [`BackupError::Io`], also if `path` exists.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        codec::write_new(path.as_ref(), &self.bytes)
    }

    /// The file's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The header's statements (authenticated only once the file is opened).
    #[must_use]
    pub fn metadata(&self) -> &BackupMetadata {
        &self.metadata
    }

    /// This backup's id: its HMAC-SHA256 tag.
    #[must_use]
    pub fn backup_id(&self) -> BackupId {
        self.metadata.checksum
    }

    /// The backup this one follows, if it is incremental.
    #[must_use]
    pub fn base_id(&self) -> Option<BackupId> {
        self.header.base
    }

    /// Where the snapshot stands, for an incremental backup to follow it.
    #[must_use]
    pub fn snapshot_base(&self) -> SnapshotBase {
        SnapshotBase {
            sequence: self.header.sequence,
            audit_head: self.header.audit_head,
            lineage: self.header.lineage,
        }
    }

    /// The Argon2id salt.
    #[must_use]
    pub fn salt(&self) -> &[u8] {
        &self.header.salt
    }

    /// The Argon2id parameters (already checked against keyvault's floor and ceiling).
    #[must_use]
    pub fn argon2_params(&self) -> Argon2Params {
        self.header.argon2
    }

    /// The payload's encryption algorithm (XChaCha20-Poly1305).
    #[must_use]
    pub fn encryption_algorithm(&self) -> Algorithm {
        self.header.algorithm
    }

    /// `nonce || ciphertext || tag` of the payload.
    #[must_use]
    pub fn encrypted_data(&self) -> &[u8] {
        let end = self.bytes.len().saturating_sub(MAC_LEN);
        self.bytes.get(self.header_len..end).unwrap_or_default()
    }

    /// Derive this file's keys from `password` (its one Argon2id derivation).
    ///
    /// # Errors
    /// Argon2 parameter errors (already bounded when the file was read).
    pub fn derive_key(&self, password: &[u8]) -> Result<BackupKey> {
        Ok(BackupKey {
            keys: codec::derive_file_keys(
                password,
                &self.header.salt,
                &self.header.argon2,
                &LABELS,
            )?,
            salt: self.header.salt.clone(),
            params: self.header.argon2,
        })
    }

    /// Authenticate the whole file and return its snapshot: [`VaultBackup::derive_key`] then
    /// [`VaultBackup::open_with`].
    ///
    /// # Errors
    /// As [`VaultBackup::open_with`].
    pub fn open(&self, password: &[u8]) -> Result<VaultSnapshot> {
        self.open_with(&self.derive_key(password)?)
    }

    /// Authenticate the whole file with keys derived earlier and return its snapshot.
    ///
    /// # Errors
    /// [`BackupError::WrongPassword`]; [`BackupError::Tampered`] if the HMAC or the AEAD fails;
    /// [`BackupError::DecompressionLimit`] / [`BackupError::Decompression`];
    /// [`BackupError::Malformed`] or [`BackupError::Inconsistent`] for a payload that does not
    /// decode or does not agree with the header; [`BackupError::InvalidField`] if `key` was
    /// derived for another file.
    pub fn open_with(&self, key: &BackupKey) -> Result<VaultSnapshot> {
        if key.salt != self.header.salt || key.params != self.header.argon2 {
            return Err(BackupError::InvalidField {
                what: "backup key",
                reason: "it was derived for another file's salt or Argon2 parameters",
            });
        }
        codec::check_password(&key.keys, &self.header.password_check, WHAT)?;
        let mac_start = self.bytes.len().saturating_sub(MAC_LEN);
        let (authenticated, tag) = self
            .bytes
            .split_at_checked(mac_start)
            .ok_or(BackupError::Tampered { what: WHAT })?;
        hmac_sha256_verify(key.keys.mac.expose_secret(), authenticated, tag)
            .map_err(|_| BackupError::Tampered { what: WHAT })?;
        let (header_bytes, ciphertext) = authenticated
            .split_at_checked(self.header_len)
            .ok_or(BackupError::Tampered { what: WHAT })?;
        let body = AeadKey::new(self.header.algorithm, &key.keys.encrypt)?
            .open(ciphertext, header_bytes)
            .map_err(|_| BackupError::Tampered { what: WHAT })?;
        let plaintext = if self.metadata.compressed {
            decompress(&body, self.header.data_size)?
        } else {
            body
        };
        if u64::try_from(plaintext.len()).ok() != Some(self.header.data_size) {
            return Err(BackupError::Inconsistent {
                what: WHAT,
                reason: "the payload's size differs from the header's",
            });
        }
        let snapshot = payload::decode(&plaintext)?;
        let agrees = u64::try_from(snapshot.keys().len()).ok() == Some(self.header.key_count)
            && snapshot.audit().is_some() == self.metadata.has_audit_logs
            && snapshot.base().is_some() == self.header.base.is_some()
            && snapshot.sequence() == self.header.sequence
            && snapshot.lineage() == self.header.lineage
            && snapshot.audit_head() == self.header.audit_head;
        if !agrees {
            return Err(BackupError::Inconsistent {
                what: WHAT,
                reason: "the payload does not agree with the header",
            });
        }
        Ok(snapshot)
    }
}

/// Decompress at most `limit` bytes; a stream that would give more is refused without
/// producing the rest.
pub(crate) fn decompress(data: &[u8], limit: u64) -> Result<SecretBytes> {
    const WHAT: &str = "backup payload";
    let zstd_error = |err: std::io::Error| BackupError::Decompression {
        what: WHAT,
        reason: err.to_string(),
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(zstd_error)?;
    decoder
        .window_log_max(MAX_ZSTD_WINDOW_LOG)
        .map_err(zstd_error)?;
    let capacity = usize::try_from(limit.min(MAX_DATA_SIZE)).unwrap_or(0);
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(zstd_error)?;
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > limit {
        return Err(BackupError::DecompressionLimit {
            what: WHAT,
            max: limit,
        });
    }
    Ok(SecretBytes::new(std::mem::take(&mut *out)))
}
