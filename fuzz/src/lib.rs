//! Shared pieces of the keyvault fuzz targets: the golden files they start from, keys derived
//! from those files once per process (so no execution pays for Argon2id), a writer that seals a
//! chosen backup payload into a well-formed, authenticated backup file, and the input layouts
//! of the structured targets (`audit_chain`, `legacy_store`).
//!
//! Harness code, not library code: a golden file that no longer opens is a broken harness, and
//! it panics at start-up with a message saying so.
#![forbid(unsafe_code)]
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keyvault_backup::{ExportKey, BackupKey, ExportedKey, VaultBackup};
use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::mac::{MAC_LEN, hmac_sha256};
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, SecretBytes, SecretKey};

/// The golden files of the repository, compiled in so a target never depends on its working
/// directory.
pub mod golden {
    /// Password of every keyvault-backup golden file.
    pub const PASSWORD: &[u8] = b"keyvault golden password v1";
    /// Key export v1, JSON.
    pub const EXPORT_JSON: &[u8] =
        include_bytes!("../../crates/keyvault-backup/tests/golden/export_v1.json");
    /// Key export v1, binary.
    pub const EXPORT_BIN: &[u8] =
        include_bytes!("../../crates/keyvault-backup/tests/golden/export_v1.bin");
    /// Backup v2, full.
    pub const BACKUP_FULL: &[u8] =
        include_bytes!("../../crates/keyvault-backup/tests/golden/backup_full_v2.kvbk");
    /// Backup v2, incremental (follows [`BACKUP_FULL`]).
    pub const BACKUP_INCREMENTAL: &[u8] =
        include_bytes!("../../crates/keyvault-backup/tests/golden/backup_incremental_v2.kvbk");
    /// Envelope v1 golden key: bytes 0, 1, ..., 31.
    pub const ENVELOPE_KEY: [u8; 32] = {
        let mut key = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            key[i] = i as u8;
            i += 1;
        }
        key
    };
    /// Associated data of the envelope golden files.
    pub const ENVELOPE_AAD: &[u8] = b"golden-aad";
}

/// The envelope golden key under each algorithm, in [`Algorithm::ALL`] order.
pub fn envelope_keys() -> &'static [AeadKey] {
    static KEYS: OnceLock<Vec<AeadKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secret = SecretKey::from_array(&golden::ENVELOPE_KEY);
        Algorithm::ALL
            .iter()
            .map(|&algorithm| AeadKey::new(algorithm, &secret).expect("an AEAD key"))
            .collect()
    })
}

/// The key of the golden export, derived once.
pub fn export_key() -> &'static ExportKey {
    static KEY: OnceLock<ExportKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let file = ExportedKey::decode(golden::EXPORT_BIN).expect("golden export_v1.bin parses");
        let key = file
            .derive_key(golden::PASSWORD)
            .expect("golden export key derives");
        file.open_with(&key).expect("golden export opens");
        key
    })
}

/// Offset of the flags in a backup header.
const FLAGS_AT: usize = 8;
/// Offset of data_size in a backup header.
const DATA_SIZE_AT: usize = 28;
/// The compressed flag.
const FLAG_COMPRESSED: u32 = 1;
/// The nonce every re-sealed backup uses: one key, fuzzing only, nothing secret.
const RESEAL_NONCE: [u8; 24] = [0x6e; 24];

/// A golden backup with its keys: the [`BackupKey`] callers get from the library, and the
/// encryption and MAC keys (derived here as docs/FORMATS.md specifies) to seal new payloads
/// under the golden header.
pub struct BackupTemplate {
    /// The golden file, parsed.
    pub file: VaultBackup,
    /// Its key, as [`VaultBackup::derive_key`] returns it.
    pub key: BackupKey,
    encrypt: AeadKey,
    mac: SecretKey,
    header: Vec<u8>,
}

impl BackupTemplate {
    fn load(bytes: &[u8], what: &str) -> Self {
        let file = VaultBackup::from_bytes(bytes.to_vec())
            .unwrap_or_else(|err| panic!("golden {what} backup does not parse: {err}"));
        let key = file
            .derive_key(golden::PASSWORD)
            .unwrap_or_else(|err| panic!("golden {what} backup key: {err}"));
        let root = derive_key(golden::PASSWORD, file.salt(), &file.argon2_params())
            .expect("Argon2id of the golden password");
        let encrypt = AeadKey::new(
            Algorithm::XChaCha20Poly1305,
            &derive_subkey(&root, "backup-encrypt", b"").expect("encryption subkey"),
        )
        .expect("an AEAD key");
        let mac = derive_subkey(&root, "backup-mac", b"").expect("MAC subkey");
        let header_len = bytes.len() - file.encrypted_data().len() - MAC_LEN;
        let template = BackupTemplate {
            header: bytes[..header_len].to_vec(),
            file,
            key,
            encrypt,
            mac,
        };
        // The writer below must produce what the library reads, or the target fuzzes nothing.
        let payload = template.payload();
        let resealed = template.reseal(&payload, false, payload.len() as u64);
        VaultBackup::from_bytes(resealed)
            .and_then(|file| file.open_with(&template.key))
            .unwrap_or_else(|err| panic!("re-sealed golden {what} backup does not open: {err}"));
        template
    }

    /// The golden file's payload: decrypted and, if it was compressed, decompressed.
    pub fn payload(&self) -> SecretBytes {
        let body = self
            .encrypt
            .open(self.file.encrypted_data(), &self.header)
            .expect("golden backup decrypts");
        if self.file.metadata().compressed {
            SecretBytes::new(zstd::stream::decode_all(&body[..]).expect("golden payload inflates"))
        } else {
            body
        }
    }

    /// A backup file with the golden header (flags' compressed bit and data_size replaced),
    /// `body` as its encrypted body, and a valid AEAD tag and HMAC: the library's checks up to
    /// and including the MAC and the AEAD all pass, so what follows (decompression, payload
    /// decoding, agreement with the header) sees `body`.
    pub fn reseal(&self, body: &[u8], compressed: bool, data_size: u64) -> Vec<u8> {
        let mut header = self.header.clone();
        let mut flags = u32::from_be_bytes(header[FLAGS_AT..FLAGS_AT + 4].try_into().expect("4"));
        if compressed {
            flags |= FLAG_COMPRESSED;
        } else {
            flags &= !FLAG_COMPRESSED;
        }
        header[FLAGS_AT..FLAGS_AT + 4].copy_from_slice(&flags.to_be_bytes());
        header[DATA_SIZE_AT..DATA_SIZE_AT + 8].copy_from_slice(&data_size.to_be_bytes());
        let ciphertext_len = (RESEAL_NONCE.len() + body.len() + keyvault_crypto::TAG_LEN) as u64;
        let len_at = header.len() - 8;
        header[len_at..].copy_from_slice(&ciphertext_len.to_be_bytes());
        let sealed =
            keyvault_crypto::hazmat::seal_with_nonce(&self.encrypt, &RESEAL_NONCE, &header, body)
                .expect("sealing a backup body");
        let mut file = header;
        file.extend_from_slice(&RESEAL_NONCE);
        file.extend_from_slice(&sealed);
        let tag = hmac_sha256(self.mac.expose_secret(), &file);
        file.extend_from_slice(tag.as_bytes());
        file
    }
}

/// The full and the incremental golden backups, keys derived once.
pub fn backup_templates() -> &'static [BackupTemplate; 2] {
    static TEMPLATES: OnceLock<[BackupTemplate; 2]> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        [
            BackupTemplate::load(golden::BACKUP_FULL, "full"),
            BackupTemplate::load(golden::BACKUP_INCREMENTAL, "incremental"),
        ]
    })
}

/// The `audit_chain` input layout.
///
/// ```text
/// input  = control (1) || start (1) || frame*
/// frame  = flags (1) || len (u16 BE) || event (len bytes) || [seq xor (u64 BE) if flags & 1]
///          || [mac (32) if flags & 2]
/// ```
///
/// Each frame's event bytes go to `AuditEvent::from_canonical_bytes`; those that decode are
/// chained correctly, then changed as the flags say: bit 0 XORs the sequence number, bit 1
/// replaces the MAC, bit 2 drops the record, bit 3 repeats it. `control` bits 0–1 change the
/// anchored head (0 the true head, 1 one more record, 2 one fewer, 3 another last MAC);
/// `start` picks the checkpoint a segment is verified from.
pub mod audit_input {
    /// Most frames read from one input.
    pub const MAX_FRAMES: usize = 64;

    /// One frame of the input.
    pub struct Frame<'a> {
        /// The frame's flags.
        pub flags: u8,
        /// The event's bytes.
        pub event: &'a [u8],
        /// Value XORed into the sequence number (flags bit 0).
        pub seq_xor: u64,
        /// Replacement MAC (flags bit 1).
        pub mac: Option<[u8; 32]>,
    }

    /// Split `data` into control byte, start byte and frames; a truncated frame ends the list.
    pub fn parse(data: &[u8]) -> (u8, u8, Vec<Frame<'_>>) {
        let control = data.first().copied().unwrap_or(0);
        let start = data.get(1).copied().unwrap_or(0);
        let mut rest = data.get(2..).unwrap_or_default();
        let mut frames = Vec::new();
        while frames.len() < MAX_FRAMES {
            let Some((&flags, tail)) = rest.split_first() else {
                break;
            };
            let Some((len, tail)) = tail.split_at_checked(2) else {
                break;
            };
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let Some((event, mut tail)) = tail.split_at_checked(len) else {
                break;
            };
            let mut seq_xor = 0;
            if flags & 1 != 0 {
                let Some((xor, after)) = tail.split_at_checked(8) else {
                    break;
                };
                seq_xor = u64::from_be_bytes(xor.try_into().unwrap_or([0; 8]));
                tail = after;
            }
            let mut mac = None;
            if flags & 2 != 0 {
                let Some((bytes, after)) = tail.split_at_checked(32) else {
                    break;
                };
                mac = bytes.try_into().ok();
                tail = after;
            }
            frames.push(Frame {
                flags,
                event,
                seq_xor,
                mac,
            });
            rest = tail;
        }
        (control, start, frames)
    }

    /// Encode frames (seed writing).
    pub fn encode(control: u8, start: u8, frames: &[Frame<'_>]) -> Vec<u8> {
        let mut out = vec![control, start];
        for frame in frames {
            out.push(frame.flags);
            out.extend_from_slice(&(frame.event.len() as u16).to_be_bytes());
            out.extend_from_slice(frame.event);
            if frame.flags & 1 != 0 {
                out.extend_from_slice(&frame.seq_xor.to_be_bytes());
            }
            if frame.flags & 2 != 0 {
                out.extend_from_slice(&frame.mac.unwrap_or([0; 32]));
            }
        }
        out
    }
}

/// The `legacy_store` input layout and the directory it is written to.
///
/// ```text
/// input = mode (1) || part ("\n--\n" part)*
/// ```
///
/// `mode` bit 0 selects an encrypted store (password [`LEGACY_STORE_PASSWORD`], Argon2id
/// [`LEGACY_STORE_ARGON2`]) over a plaintext one. The first part is `.vault_metadata.json`,
/// each later part a key file `kNN.json` (or `kNN.txt`, which readers skip, if it starts with
/// `#`), at most [`MAX_LEGACY_PARTS`] of them.
pub mod legacy_input {
    use super::{Argon2Params, Path, PathBuf};

    /// Separator between the files of one input.
    pub const SEPARATOR: &[u8] = b"\n--\n";
    /// Most key files written for one input.
    pub const MAX_LEGACY_PARTS: usize = 32;
    /// Password of the encrypted stores the target reads.
    pub const LEGACY_STORE_PASSWORD: &[u8] = b"legacy fuzz password";
    /// Argon2id cost of those stores: the smallest Argon2 allows, so each execution derives in
    /// microseconds (rust-keyvault did not bound its costs from below, and neither does the
    /// legacy store reader).
    pub const LEGACY_STORE_ARGON2: Argon2Params = Argon2Params {
        memory_kib: 8,
        iterations: 1,
        lanes: 1,
    };

    /// Split `data` into the mode byte and the files' contents.
    pub fn parse(data: &[u8]) -> (u8, Vec<&[u8]>) {
        let Some((&mode, rest)) = data.split_first() else {
            return (0, Vec::new());
        };
        let mut parts = Vec::new();
        let mut rest = rest;
        loop {
            if parts.len() > MAX_LEGACY_PARTS {
                break;
            }
            match find(rest, SEPARATOR) {
                Some(at) => {
                    parts.push(&rest[..at]);
                    rest = &rest[at + SEPARATOR.len()..];
                }
                None => {
                    parts.push(rest);
                    break;
                }
            }
        }
        (mode, parts)
    }

    /// Join a mode and files into one input (seed writing).
    pub fn encode(mode: u8, parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![mode];
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(SEPARATOR);
            }
            out.extend_from_slice(part);
        }
        out
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    /// One directory reused by every execution (on /dev/shm when there is one), emptied and
    /// refilled each time: creating a fresh directory per execution would cost more than the
    /// parsing it feeds. libFuzzer ends the process without running destructors, so the
    /// directory is named after the process and a new one removes those of processes that are
    /// gone.
    pub struct ScratchDir {
        dir: PathBuf,
    }

    const PREFIX: &str = "keyvault-fuzz-legacy-";

    impl ScratchDir {
        /// A new scratch directory.
        pub fn new() -> Self {
            let shm = Path::new("/dev/shm");
            let parent = if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            remove_stale(&parent);
            let dir = parent.join(format!("{PREFIX}{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a scratch directory");
            ScratchDir { dir }
        }

        /// The directory.
        pub fn path(&self) -> &Path {
            &self.dir
        }

        /// Empty the directory and write `parts` into it as a FileStore.
        pub fn fill(&self, parts: &[&[u8]]) -> std::io::Result<()> {
            for entry in std::fs::read_dir(self.path())? {
                let path = entry?.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
            for (i, part) in parts.iter().enumerate() {
                std::fs::write(self.file_name(i, part), part)?;
            }
            Ok(())
        }

        fn file_name(&self, index: usize, part: &[u8]) -> PathBuf {
            if index == 0 {
                self.path()
                    .join(keyvault_backup::legacy::LEGACY_METADATA_FILE)
            } else if part.first() == Some(&b'#') {
                self.path().join(format!("k{index:02}.txt"))
            } else {
                self.path().join(format!("k{index:02}.json"))
            }
        }
    }

    /// Remove the scratch directories of processes that no longer exist (Linux only: elsewhere
    /// there is no /proc to ask, and nothing is removed).
    fn remove_stale(parent: &Path) {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|name| name.strip_prefix(PREFIX)) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    impl Default for ScratchDir {
        fn default() -> Self {
            Self::new()
        }
    }
}
