//! Writes fuzz/seeds/<target>/ from the repository's golden files (and, for the rust-keyvault
//! 0.2 formats, which have no golden files, from small files built here as that format
//! describes). Run from fuzz/: `cargo +nightly run --example make_seeds`. Existing seed files
//! of the same name are replaced; the seeds are committed, so this only needs running again
//! when a golden file or an input layout changes.
#![forbid(unsafe_code)]
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use keyvault_backup::VaultBackup;
use keyvault_backup::legacy::{
    LEGACY_EXPORT_AAD, LEGACY_STORE_AAD, LegacyStore, LegacyUnlock, MigrationOptions, to_bundles,
};
use keyvault_core::AuditEvent;
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, SecretKey};
use keyvault_fuzz::audit_input::{self, Frame};
use keyvault_fuzz::legacy_input::{self, LEGACY_STORE_ARGON2, LEGACY_STORE_PASSWORD, ScratchDir};
use keyvault_fuzz::{backup_templates, golden};

/// The golden directories of the crates.
fn crate_golden(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(krate)
        .join("tests/golden")
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `nonce || ciphertext || tag` under a fixed nonce, so the seeds are the same on every run.
fn seal(key: &AeadKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = vec![0x4e; key.algorithm().nonce_len()];
    let sealed =
        keyvault_crypto::hazmat::seal_with_nonce(key, &nonce, aad, plaintext).expect("seal");
    [nonce, sealed].concat()
}

fn envelopes() {
    let dir = crate_golden("keyvault-core");
    for algorithm in Algorithm::ALL {
        let name = algorithm.name();
        let text = read(&dir.join(format!("envelope_v2_{name}.hex")));
        let bytes = hex::decode(String::from_utf8(text).expect("hex text").trim()).expect("hex");
        write("envelope", &format!("{name}.bin"), &bytes);
        let armour = read(&dir.join(format!("envelope_v2_{name}.armour")));
        write("armour", &format!("{name}.armour"), &armour);
    }
}

fn aead() {
    let secret = SecretKey::from_array(&[0x42; 32]);
    for algorithm in Algorithm::ALL {
        let key = AeadKey::new(algorithm, &secret).expect("key");
        let aad = b"aad!";
        let sealed = seal(&key, b"aead fuzz seed plaintext", aad);
        write(
            "aead_open",
            &format!("{}.bin", algorithm.name()),
            &[&aad[..], &sealed].concat(),
        );
    }
}

fn audit() {
    let text = String::from_utf8(read(
        &crate_golden("keyvault-core").join("audit_chain_v1.hex"),
    ))
    .expect("hex text");
    let lines: Vec<Vec<u8>> = text
        .lines()
        .map(|line| hex::decode(line.trim()).expect("hex"))
        .collect();
    // Lines alternate: event, MAC.
    let events: Vec<&[u8]> = lines.iter().step_by(2).map(Vec::as_slice).collect();
    for event in &events {
        AuditEvent::from_canonical_bytes(event).expect("golden events decode");
    }
    let frame = |flags, event| Frame {
        flags,
        event,
        seq_xor: 1,
        mac: Some([0xee; 32]),
    };
    let plain: Vec<Frame<'_>> = events.iter().map(|event| frame(0, *event)).collect();
    write(
        "audit_chain",
        "golden_chain",
        &audit_input::encode(0, 0, &plain),
    );
    write(
        "audit_chain",
        "golden_chain_from_1",
        &audit_input::encode(0, 1, &plain),
    );
    let twice: Vec<Frame<'_>> = events
        .iter()
        .chain(events.iter())
        .map(|event| frame(0, *event))
        .collect();
    write(
        "audit_chain",
        "four_records",
        &audit_input::encode(0, 2, &twice),
    );
    let edited = [
        frame(0, events[0]),
        frame(2, events[1]),
        frame(1, events[0]),
    ];
    write("audit_chain", "edited", &audit_input::encode(0, 0, &edited));
    let moved = [
        frame(4, events[0]),
        frame(8, events[1]),
        frame(0, events[1]),
    ];
    write(
        "audit_chain",
        "dropped_and_repeated",
        &audit_input::encode(1, 0, &moved),
    );
    write(
        "audit_chain",
        "other_head",
        &audit_input::encode(3, 0, &plain),
    );
}

fn exports() {
    write("export_json", "export_v1.json", golden::EXPORT_JSON);
    write("export_binary", "export_v1.bin", golden::EXPORT_BIN);
    // decode() also reads JSON: one JSON seed reaches that branch.
    write("export_binary", "export_v1.json", golden::EXPORT_JSON);
}

fn backups() {
    let [full, incremental] = backup_templates();
    write(
        "backup",
        "full_file",
        &[&[0x00][..], golden::BACKUP_FULL].concat(),
    );
    write(
        "backup",
        "incremental_file",
        &[&[0x00][..], golden::BACKUP_INCREMENTAL].concat(),
    );
    for (template, which, bit) in [(full, "full", 0u8), (incremental, "incremental", 1)] {
        let payload = template.payload();
        let resealed =
            VaultBackup::from_bytes(template.reseal(&payload, false, payload.len() as u64))
                .expect("re-sealed payload parses");
        resealed
            .open_with(&template.key)
            .expect("re-sealed payload opens");
        // Mode 0x80 | bit: the payload as is, uncompressed.
        write(
            "backup",
            &format!("{which}_payload"),
            &[&[0x80 | bit][..], &payload].concat(),
        );
        // Mode 0x82 | bit: the payload, compressed by the harness.
        write(
            "backup",
            &format!("{which}_payload_compressed"),
            &[&[0x82 | bit][..], &payload].concat(),
        );
        // Mode 0x84 | bit: a zstd stream, with the size it inflates to.
        let stream = zstd::bulk::compress(&payload, 3).expect("compress");
        let size = u16::try_from(payload.len()).expect("a small payload");
        write(
            "backup",
            &format!("{which}_zstd_stream"),
            &[&[0x84 | bit][..], &size.to_be_bytes(), &stream].concat(),
        );
    }
}

/// rust-keyvault's `SystemTime` JSON.
fn legacy_time(secs: u64) -> String {
    format!("{{\"secs_since_epoch\": {secs}, \"nanos_since_epoch\": 250000000}}")
}

fn bytes_json(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn legacy_metadata(
    id: u8,
    base: u8,
    state: &str,
    algorithm: &str,
    version: u32,
    expires: bool,
) -> String {
    let expires_at = if expires {
        legacy_time(4_000_000_000)
    } else {
        "null".to_owned()
    };
    format!(
        "{{\"id\": {}, \"base_id\": {}, \"state\": \"{state}\", \"created_at\": {}, \
         \"expires_at\": {expires_at}, \"algorithm\": \"{algorithm}\", \"version\": {version}}}",
        bytes_json(&[id; 16]),
        bytes_json(&[base; 16]),
        legacy_time(1_700_000_000 + u64::from(version) * 60),
    )
}

fn legacy_exports() {
    // keyvault's floor (cheapest by time): the reader refuses anything weaker.
    let params = Argon2Params {
        memory_kib: 7168,
        iterations: 5,
        lanes: 1,
    };
    let salt = [0x5a; 32];
    let wrapping = derive_key(b"legacy export password", &salt, &params).expect("derive");
    for (name, algorithm, wrap_with, comment) in [
        (
            "xchacha",
            "XChaCha20Poly1305",
            Some(Algorithm::XChaCha20Poly1305),
            "\"moving to keyvault\"",
        ),
        ("aes", "Aes256Gcm", Some(Algorithm::Aes256Gcm), "null"),
        ("ed25519", "Ed25519", None, "null"),
    ] {
        let encrypted = match wrap_with {
            Some(aead) => seal(
                &AeadKey::new(aead, &wrapping).expect("key"),
                &[0x11; 32],
                LEGACY_EXPORT_AAD,
            ),
            None => vec![0u8; 72],
        };
        let text = format!(
            "{{\n  \"format_version\": 1,\n  \"exported_at\": {},\n  \"wrapping_algorithm\": \
             \"{algorithm}\",\n  \"salt\": {},\n  \"argon2_params\": {{\"memory_kib\": {}, \
             \"time_cost\": {}, \"parallelism\": {}}},\n  \"encrypted_key\": {},\n  \
             \"metadata\": {},\n  \"comment\": {comment}\n}}",
            legacy_time(1_700_100_000),
            bytes_json(&salt),
            params.memory_kib,
            params.iterations,
            params.lanes,
            bytes_json(&encrypted),
            legacy_metadata(7, 7, "Active", "XChaCha20Poly1305", 2, true),
        );
        keyvault_backup::legacy::LegacyExport::from_json(&text).expect("seed parses");
        write("legacy_export", &format!("{name}.json"), text.as_bytes());
    }
}

fn legacy_stores() {
    let salt = [0x33u8; 32];
    let metadata = format!(
        "{{\"salt\": {}, \"created_at\": {}, \"format_version\": 1}}",
        bytes_json(&salt),
        legacy_time(1_700_000_000)
    )
    .into_bytes();
    let mut master = [0u8; 32];
    keyvault_crypto::hazmat::argon2id(
        LEGACY_STORE_PASSWORD,
        &salt,
        &[],
        &[],
        &LEGACY_STORE_ARGON2,
        &mut master,
    )
    .expect("argon2id");
    let master =
        AeadKey::new(Algorithm::ChaCha20Poly1305, &SecretKey::from_array(&master)).expect("key");
    // A rotated key (v1 deprecated, v2 active), a revoked AES key, a non-key JSON file.
    let entries = [
        (1u8, 1u8, "Deprecated", "XChaCha20Poly1305", 1u32, false),
        (2, 1, "Active", "XChaCha20Poly1305", 2, true),
        (3, 3, "Revoked", "Aes256Gcm", 1, false),
    ];
    for (mode, name) in [(0u8, "plaintext"), (1, "encrypted")] {
        let mut parts = vec![metadata.clone()];
        for (id, base, state, algorithm, version, expires) in entries {
            let material = [id; 32];
            let encrypted = if mode & 1 == 0 {
                material.to_vec()
            } else {
                seal(&master, &material, LEGACY_STORE_AAD)
            };
            parts.push(
                format!(
                    "{{\n  \"metadata\": {},\n  \"encrypted_key\": {}\n}}",
                    legacy_metadata(id, base, state, algorithm, version, expires),
                    bytes_json(&encrypted)
                )
                .into_bytes(),
            );
        }
        parts.push(b"{\"hello\": 1}".to_vec());
        parts.push(b"# not a key file".to_vec());
        let seed = legacy_input::encode(mode, &parts);
        // The seed must read back as the store it describes: three keys, one unreadable file.
        let (_, files) = legacy_input::parse(&seed);
        let dir = ScratchDir::new();
        dir.fill(&files).expect("scratch directory");
        let unlock = if mode & 1 == 0 {
            LegacyUnlock::Plaintext
        } else {
            LegacyUnlock::Password {
                password: LEGACY_STORE_PASSWORD,
                argon2: LEGACY_STORE_ARGON2,
            }
        };
        let store = LegacyStore::open(dir.path(), &unlock).expect("seed store opens");
        assert_eq!((store.keys.len(), store.unreadable.len()), (3, 1));
        to_bundles(&store.keys, &MigrationOptions::default()).expect("seed keys convert");
        std::fs::remove_dir_all(dir.path()).expect("scratch directory removed");
        write("legacy_store", name, &seed);
    }
}

fn main() {
    aead();
    envelopes();
    audit();
    exports();
    backups();
    legacy_exports();
    legacy_stores();
}
