//! Arbitrary bytes never panic a keyvault-backup reader: key exports (JSON and binary, decoded
//! then opened with the golden key), backups (parsed then opened with the golden keys), rust-
//! keyvault 0.2 export files (parsed, and a few decrypted) and FileStore directories (read
//! plaintext and encrypted, then converted). Each reader also gets structured edits of a valid
//! file — bit flips, insertions, deletions, truncations — and nothing but the unchanged file may
//! open. Keys are derived once per test binary; case counts keep each test to a few seconds.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keyvault_backup::legacy::{
    LEGACY_EXPORT_AAD, LEGACY_METADATA_FILE, LEGACY_STORE_AAD, LegacyExport, LegacyStore,
    LegacyUnlock, MigrationOptions, to_bundles,
};
use keyvault_backup::{BackupKey, ExportKey, ExportedKey, VaultBackup};
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, SecretKey};
use keyvault_test_support::{Damage, any_damage};
use proptest::prelude::*;

const PASSWORD: &[u8] = b"keyvault golden password v1";

fn golden(file: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(file),
    )
    .unwrap()
}

fn export_key() -> &'static ExportKey {
    static KEY: OnceLock<ExportKey> = OnceLock::new();
    KEY.get_or_init(|| {
        ExportedKey::decode(&golden("export_v1.bin"))
            .unwrap()
            .derive_key(PASSWORD)
            .unwrap()
    })
}

/// The golden full and incremental backups' keys.
fn backup_keys() -> &'static [BackupKey; 2] {
    static KEYS: OnceLock<[BackupKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        ["backup_full_v2.kvbk", "backup_incremental_v2.kvbk"].map(|file| {
            VaultBackup::from_bytes(golden(file))
                .unwrap()
                .derive_key(PASSWORD)
                .unwrap()
        })
    })
}

/// `original` with every damage of `damages` applied in turn.
fn edited(original: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for damage in damages {
        damage.apply(&mut bytes);
    }
    bytes
}

/// Decode an export and open it with the golden key: true if it opened. Opening must never
/// succeed for bytes other than a golden file's.
fn open_export(bytes: &[u8]) -> bool {
    let Ok(file) = ExportedKey::decode(bytes) else {
        return false;
    };
    let _ = format!("{file:?}");
    file.open_with(export_key()).is_ok()
}

/// Parse a backup and open it with each golden key: true if one opened.
fn open_backup(bytes: &[u8]) -> bool {
    let Ok(file) = VaultBackup::from_bytes(bytes.to_vec()) else {
        return false;
    };
    let _ = format!("{file:?}");
    backup_keys().iter().any(|key| file.open_with(key).is_ok())
}

/// Arbitrary bytes, some behind a prefix that gets them past the first checks.
fn bytes_after(prefixes: Vec<Vec<u8>>, max: usize) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(prefixes),
        prop::collection::vec(any::<u8>(), 0..max),
    )
        .prop_map(|(prefix, rest)| [prefix, rest].concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn export_decode_of_arbitrary_bytes_never_panics(
        bytes in bytes_after(
            vec![vec![], b"KVKE".to_vec(), b"KVKE\x01".to_vec(), b"{".to_vec()],
            1024,
        ),
    ) {
        prop_assert!(!open_export(&bytes));
    }

    #[test]
    fn backup_parse_of_arbitrary_bytes_never_panics(
        bytes in bytes_after(
            vec![
                vec![],
                b"KVBK".to_vec(),
                b"KVBK\0\0\0\x02\0\0\0\x07".to_vec(),
                golden("backup_full_v2.kvbk")[..114].to_vec(),
            ],
            1024,
        ),
    ) {
        prop_assert!(!open_backup(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Edits of the golden exports (JSON and binary): typed errors, and only an unchanged
    /// file opens.
    #[test]
    fn edited_golden_exports_never_panic(
        binary in any::<bool>(),
        edits in prop::collection::vec(any_damage(), 1..4),
    ) {
        let original = golden(if binary { "export_v1.bin" } else { "export_v1.json" });
        let bytes = edited(&original, &edits);
        prop_assert_eq!(open_export(&bytes), bytes == original);
    }

    /// Edits of the golden full and incremental backups: typed errors, and only an unchanged
    /// file opens.
    #[test]
    fn edited_golden_backups_never_panic(
        incremental in any::<bool>(),
        edits in prop::collection::vec(any_damage(), 1..4),
    ) {
        let original = golden(if incremental {
            "backup_incremental_v2.kvbk"
        } else {
            "backup_full_v2.kvbk"
        });
        let bytes = edited(&original, &edits);
        prop_assert_eq!(open_backup(&bytes), bytes == original);
    }
}

/// The cheapest parameters keyvault's floor accepts, which legacy exports must meet.
const LEGACY_EXPORT_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 7168,
    iterations: 5,
    lanes: 1,
};
const LEGACY_EXPORT_PASSWORD: &[u8] = b"legacy export password";
/// rust-keyvault did not bound a FileStore's Argon2 cost from below; neither does the reader.
const LEGACY_STORE_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 8,
    iterations: 1,
    lanes: 1,
};
const LEGACY_STORE_PASSWORD: &[u8] = b"legacy store password";

fn legacy_time(secs: u64) -> String {
    format!("{{\"secs_since_epoch\": {secs}, \"nanos_since_epoch\": 5000000}}")
}

fn json_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(","))
}

fn legacy_metadata(id: u8, base: u8, state: &str, algorithm: &str, version: u32) -> String {
    format!(
        "{{\"id\":{},\"base_id\":{},\"state\":\"{state}\",\"created_at\":{},\
         \"expires_at\":null,\"algorithm\":\"{algorithm}\",\"version\":{version}}}",
        json_bytes(&[id; 16]),
        json_bytes(&[base; 16]),
        legacy_time(1_700_000_000 + u64::from(version)),
    )
}

/// A rust-keyvault 0.2 export file (its serde JSON) wrapping 32 bytes of 0x11.
fn legacy_export_json() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let salt = [0x5a; 32];
        let wrapping = derive_key(LEGACY_EXPORT_PASSWORD, &salt, &LEGACY_EXPORT_ARGON2).unwrap();
        let encrypted = AeadKey::new(Algorithm::XChaCha20Poly1305, &wrapping)
            .unwrap()
            .seal(&[0x11; 32], LEGACY_EXPORT_AAD)
            .unwrap();
        format!(
            "{{\"format_version\":1,\"exported_at\":{},\"wrapping_algorithm\":\
             \"XChaCha20Poly1305\",\"salt\":{},\"argon2_params\":{{\"memory_kib\":{},\
             \"time_cost\":{},\"parallelism\":{}}},\"encrypted_key\":{},\"metadata\":{},\
             \"comment\":\"moving\"}}",
            legacy_time(1_700_100_000),
            json_bytes(&salt),
            LEGACY_EXPORT_ARGON2.memory_kib,
            LEGACY_EXPORT_ARGON2.iterations,
            LEGACY_EXPORT_ARGON2.lanes,
            json_bytes(&encrypted),
            legacy_metadata(7, 7, "Active", "XChaCha20Poly1305", 1),
        )
    })
}

/// A FileStore's files: `.vault_metadata.json`, then key files (a rotated key and a revoked
/// AES key), plaintext or encrypted under [`LEGACY_STORE_PASSWORD`].
fn legacy_store_files(encrypted: bool) -> Vec<Vec<u8>> {
    let salt = [0x33u8; 16];
    let mut files = vec![
        format!(
            "{{\"salt\":{},\"created_at\":{},\"format_version\":1}}",
            json_bytes(&salt),
            legacy_time(1_700_000_000)
        )
        .into_bytes(),
    ];
    let master = encrypted.then(|| {
        let mut key = [0u8; 32];
        keyvault_crypto::hazmat::argon2id(
            LEGACY_STORE_PASSWORD,
            &salt,
            &[],
            &[],
            &LEGACY_STORE_ARGON2,
            &mut key,
        )
        .unwrap();
        AeadKey::new(Algorithm::ChaCha20Poly1305, &SecretKey::from_array(&key)).unwrap()
    });
    for (id, base, state, algorithm, version) in [
        (1u8, 1u8, "Deprecated", "XChaCha20Poly1305", 1u32),
        (2, 1, "Active", "XChaCha20Poly1305", 2),
        (3, 3, "Revoked", "Aes256Gcm", 1),
    ] {
        let material = [id; 32];
        let key = match &master {
            Some(master) => master.seal(&material, LEGACY_STORE_AAD).unwrap(),
            None => material.to_vec(),
        };
        files.push(
            format!(
                "{{\"metadata\":{},\"encrypted_key\":{}}}",
                legacy_metadata(id, base, state, algorithm, version),
                json_bytes(&key)
            )
            .into_bytes(),
        );
    }
    files
}

/// Write `files` into `dir` (the first as the metadata file) and read it back as a FileStore,
/// then convert what it holds. Returns the number of keys read, if the store opened.
fn read_store(dir: &Path, files: &[Vec<u8>], encrypted: bool) -> Option<usize> {
    for (i, contents) in files.iter().enumerate() {
        let name = if i == 0 {
            LEGACY_METADATA_FILE.to_owned()
        } else {
            format!("k{i:02}.json")
        };
        std::fs::write(dir.join(name), contents).unwrap();
    }
    let unlock = if encrypted {
        LegacyUnlock::Password {
            password: LEGACY_STORE_PASSWORD,
            argon2: LEGACY_STORE_ARGON2,
        }
    } else {
        LegacyUnlock::Plaintext
    };
    let store = LegacyStore::open(dir, &unlock).ok()?;
    assert_eq!(store.keys.len() + store.unreadable.len(), files.len() - 1);
    for key in &store.keys {
        let _ = key.aead_key();
    }
    let _ = to_bundles(&store.keys, &MigrationOptions::default());
    Some(store.keys.len())
}

#[test]
fn the_legacy_fixtures_are_valid() {
    let export = LegacyExport::from_json(legacy_export_json()).unwrap();
    assert_eq!(
        export.decrypt(LEGACY_EXPORT_PASSWORD).unwrap().material(),
        &SecretKey::from_array(&[0x11; 32])
    );
    for encrypted in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let files = legacy_store_files(encrypted);
        assert_eq!(read_store(dir.path(), &files, encrypted), Some(3));
        let store = LegacyStore::open(
            dir.path(),
            &if encrypted {
                LegacyUnlock::Password {
                    password: LEGACY_STORE_PASSWORD,
                    argon2: LEGACY_STORE_ARGON2,
                }
            } else {
                LegacyUnlock::Plaintext
            },
        )
        .unwrap();
        assert_eq!(
            to_bundles(&store.keys, &MigrationOptions::default())
                .unwrap()
                .len(),
            2
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary text and edits of a valid legacy export never panic its parser.
    #[test]
    fn legacy_export_parse_never_panics(
        text in prop_oneof![
            any::<String>(),
            "\\{\"format_version\":1,[ -~]{0,200}",
        ],
        edits in prop::collection::vec(any_damage(), 1..4),
    ) {
        let _ = LegacyExport::from_json(&text);
        let bytes = edited(legacy_export_json().as_bytes(), &edits);
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = LegacyExport::from_json(&text);
        }
    }
}

proptest! {
    // Each case pays one Argon2id derivation at keyvault's floor.
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Decrypting an edited legacy export never panics; it succeeds only if the wrapped key
    /// and its salt and parameters are unchanged (the legacy format does not authenticate the
    /// metadata, so edits there may still decrypt).
    #[test]
    fn legacy_export_decrypt_never_panics(edits in prop::collection::vec(any_damage(), 1..3)) {
        let bytes = edited(legacy_export_json().as_bytes(), &edits);
        if let Ok(text) = String::from_utf8(bytes)
            && let Ok(export) = LegacyExport::from_json(&text)
            && let Ok(key) = export.decrypt(LEGACY_EXPORT_PASSWORD)
        {
            prop_assert_eq!(key.material(), &SecretKey::from_array(&[0x11; 32]));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// FileStore directories of arbitrary files, and of edited valid files, never panic the
    /// reader or the conversion, plaintext or encrypted.
    #[test]
    fn legacy_store_read_never_panics(
        encrypted in any::<bool>(),
        arbitrary in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..128), 1..4),
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(any_damage(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let _ = read_store(dir.path(), &arbitrary, encrypted);

        let dir = tempfile::tempdir().unwrap();
        let mut files = legacy_store_files(encrypted);
        let which = which.index(files.len());
        files[which] = edited(&files[which], &edits);
        let _ = read_store(dir.path(), &files, encrypted);
    }
}

/// The golden binary export with its metadata bytes replaced by `edit(metadata)` (the postcard
/// length prefix rewritten to match).
fn with_metadata(edit: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let original = golden("export_v1.bin");
    let start = original.windows(6).position(|w| w == b"{\"id\":").unwrap();
    // The golden metadata is 128..16383 bytes long: a two-byte varint.
    let len = usize::from(original[start - 2] & 0x7f) | usize::from(original[start - 1]) << 7;
    let metadata = &original[start..start + len];
    assert_eq!(metadata.last(), Some(&b'}'));
    let replaced = edit(metadata);
    let len = replaced.len();
    let prefix = [
        u8::try_from(len & 0x7f).unwrap() | 0x80,
        u8::try_from(len >> 7).unwrap(),
    ];
    [
        &original[..start - 2],
        &prefix,
        &replaced,
        &original[start + metadata.len()..],
    ]
    .concat()
}

/// Found by the export_binary fuzz target: the binary reader accepted metadata bytes that the
/// JSON encoding cannot carry (invalid UTF-8 inside a field serde_json skips, or whitespace
/// around the value), so `to_json` wrote `"metadata": null` or other bytes than the file's.
#[test]
fn binary_exports_refuse_metadata_the_json_encoding_cannot_carry() {
    let unchanged = with_metadata(<[u8]>::to_vec);
    assert_eq!(unchanged, golden("export_v1.bin"));
    let file = ExportedKey::from_bytes(&unchanged).unwrap();
    assert_eq!(ExportedKey::from_json(&file.to_json()).unwrap(), file);

    let not_utf8 = with_metadata(|m| [&m[..m.len() - 1], b",\"x\":\"\xff\xfe\"}"].concat());
    let padded = with_metadata(|m| [m, b" "].concat());
    let led = with_metadata(|m| [b"\n", m].concat());
    for bytes in [not_utf8, padded, led] {
        assert!(matches!(
            ExportedKey::from_bytes(&bytes),
            Err(keyvault_backup::BackupError::Malformed { .. })
        ));
    }
    // An unknown field with valid text is still accepted (keyvault-core ignores unknown
    // metadata fields), and both encodings carry it unchanged.
    let extra = with_metadata(|m| [&m[..m.len() - 1], b",\"x\":\"y\"}"].concat());
    let file = ExportedKey::from_bytes(&extra).unwrap();
    assert_eq!(ExportedKey::from_json(&file.to_json()).unwrap(), file);
}
