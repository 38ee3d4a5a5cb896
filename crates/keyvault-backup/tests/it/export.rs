//! Single-key export and import: both encodings, chosen versions, every metadata field bound to
//! the wrapped material, validation on import, the exportable flag, and hostile inputs.

use crate::common;

use std::time::Duration;

use common::{CHEAP, T0, clocked, export_options, exportable, name, vault};
use keyvault_backup::{
    BackupError, ExportOptions, ExportedKey, ImportConflict, ImportOptions, export_key, import_key,
};
use keyvault_core::{KeyAlgorithm, KeyState, KeyVersion, Transition, VersionState};
use keyvault_crypto::{Argon2Params, CryptoError};
use keyvault_store::{MemoryVault, NewKey, StoreError};

const PW: &[u8] = b"export password";

fn v(n: u32) -> KeyVersion {
    KeyVersion::new(n).unwrap()
}

#[test]
fn json_and_binary_round_trip_preserve_everything() {
    let source = vault();
    source
        .create_key(exportable("moving", KeyAlgorithm::Aes256Gcm))
        .unwrap();
    source.rotate(&name("moving")).unwrap();
    source
        .update_metadata(&name("moving"), |meta, now| {
            meta.set_label("team", "payments", now)?;
            meta.set_description("orders table", now)
        })
        .unwrap();
    let old = source.encrypt(&name("moving"), b"secret", b"ctx").unwrap();
    let options = ExportOptions {
        comment: Some("to staging".to_owned()),
        ..export_options()
    };
    let exported = export_key(&source, &name("moving"), PW, &options).unwrap();
    assert_eq!(exported.versions(), &[v(1), v(2)]);
    assert_eq!(exported.comment(), Some("to staging"));

    let json = exported.to_json();
    let binary = exported.to_bytes();
    assert!(json.starts_with("{\n  \"format\": \"keyvault-key-export\""));
    assert!(binary.starts_with(b"KVKE"));
    assert!(binary.len() < json.len(), "binary is smaller");
    for decoded in [
        ExportedKey::from_json(&json).unwrap(),
        ExportedKey::from_bytes(&binary).unwrap(),
        ExportedKey::decode(json.as_bytes()).unwrap(),
        ExportedKey::decode(&binary).unwrap(),
    ] {
        assert_eq!(decoded, exported);
        let target = vault();
        let imported = import_key(&target, &decoded, PW, &ImportOptions::default()).unwrap();
        assert_eq!(
            imported,
            source.key(&name("moving")).unwrap(),
            "metadata preserved"
        );
        assert_eq!(&target.decrypt(&old, b"ctx").unwrap()[..], b"secret");
        target.verify_audit().unwrap();
    }
    assert!(!format!("{exported:?}").contains(&hex::encode(exported.encrypted_key())));
}

#[test]
fn chosen_versions_and_partial_imports() {
    let source = vault();
    source
        .create_key(exportable("k", KeyAlgorithm::default()))
        .unwrap();
    source.rotate(&name("k")).unwrap();
    source.rotate(&name("k")).unwrap();
    let by_v3 = source.encrypt(&name("k"), b"three", b"").unwrap();

    // Only the current version: imported where the key is new, the others become tombstones.
    let latest = ExportOptions {
        versions: Some(vec![v(3)]),
        ..export_options()
    };
    let exported = export_key(&source, &name("k"), PW, &latest).unwrap();
    assert_eq!(exported.versions(), &[v(3)]);
    let target = vault();
    let imported = import_key(&target, &exported, PW, &ImportOptions::default()).unwrap();
    let states: Vec<_> = imported.versions().iter().map(|i| i.state).collect();
    assert_eq!(
        states,
        [
            VersionState::Destroyed,
            VersionState::Destroyed,
            VersionState::Enabled
        ]
    );
    assert_eq!(&target.decrypt(&by_v3, b"").unwrap()[..], b"three");

    // Without the version that encrypts, a fresh import is refused with a clear error...
    let old_only = ExportOptions {
        versions: Some(vec![v(1)]),
        ..export_options()
    };
    let exported = export_key(&source, &name("k"), PW, &old_only).unwrap();
    let err = import_key(&vault(), &exported, PW, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, BackupError::Inconsistent { .. }), "{err}");
    // ...but adds versions to a vault that holds the key, with Replace.
    let replica = vault();
    let all = export_key(&source, &name("k"), PW, &export_options()).unwrap();
    import_key(&replica, &all, PW, &ImportOptions::default()).unwrap();
    let replace = ImportOptions {
        conflict: ImportConflict::Replace,
        ..ImportOptions::default()
    };
    import_key(&replica, &exported, PW, &replace).unwrap();
    assert_eq!(&replica.decrypt(&by_v3, b"").unwrap()[..], b"three");

    // Unknown versions are the store's refusal.
    let bad = ExportOptions {
        versions: Some(vec![v(9)]),
        ..export_options()
    };
    assert!(matches!(
        export_key(&source, &name("k"), PW, &bad),
        Err(BackupError::Store(StoreError::Core(
            keyvault_core::Error::UnknownVersion { .. }
        )))
    ));
}

/// Replace one piece of the compact metadata JSON inside an export, keeping the file canonical,
/// so only authentication can catch the change.
fn edit_metadata(json: &str, from: &str, to: &str) -> String {
    assert!(json.contains(from), "{from} not in {json}");
    let edited = json.replacen(from, to, 1);
    ExportedKey::from_json(&edited).expect("the edit keeps the file canonical");
    edited
}

#[test]
fn editing_any_metadata_field_makes_import_fail() {
    let source = vault();
    source
        .create_key(exportable("bound", KeyAlgorithm::default()))
        .unwrap();
    let exported = export_key(&source, &name("bound"), PW, &export_options()).unwrap();
    let json = exported.to_json();
    let id = exported.metadata().id().to_string();
    let mut other_id = id.clone();
    other_id.replace_range(0..1, if id.starts_with('0') { "1" } else { "0" });
    let edits = [
        (
            "id",
            format!("\"id\":\"{id}\""),
            format!("\"id\":\"{other_id}\""),
        ),
        (
            "state",
            r#""state":{"state":"active"}"#.to_owned(),
            r#""state":{"state":"revoked"}"#.to_owned(),
        ),
        (
            "algorithm",
            r#""algorithm":"xchacha20-poly1305""#.to_owned(),
            r#""algorithm":"aes-256-gcm""#.to_owned(),
        ),
        (
            "expiry",
            r#""expires_at":null"#.to_owned(),
            r#""expires_at":99999999999999"#.to_owned(),
        ),
        (
            "policy",
            r#""max_operations":null"#.to_owned(),
            r#""max_operations":5"#.to_owned(),
        ),
        (
            "exportable flag",
            r#""exportable":true"#.to_owned(),
            r#""exportable":false"#.to_owned(),
        ),
        (
            "name",
            r#""name":"bound""#.to_owned(),
            r#""name":"bounc""#.to_owned(),
        ),
    ];
    for (field, from, to) in edits {
        let edited = edit_metadata(&json, &from, &to);
        for file in [
            ExportedKey::from_json(&edited).unwrap(),
            ExportedKey::from_bytes(&ExportedKey::from_json(&edited).unwrap().to_bytes()).unwrap(),
        ] {
            let err = import_key(&vault(), &file, PW, &ImportOptions::default()).unwrap_err();
            assert!(
                matches!(err, BackupError::Tampered { .. }),
                "editing the {field} gave {err:?}"
            );
        }
    }
    // Header fields outside the metadata are bound too.
    let comment =
        ExportedKey::from_json(&json.replace("\"comment\": null", "\"comment\": \"x\"")).unwrap();
    assert!(matches!(
        comment.open(PW),
        Err(BackupError::Tampered { .. })
    ));
    let at = exported.exported_at().as_unix_millis();
    let time = ExportedKey::from_json(&json.replace(
        &format!("\"exported_at\": {at}"),
        &format!("\"exported_at\": {}", at + 1),
    ))
    .unwrap();
    assert!(matches!(time.open(PW), Err(BackupError::Tampered { .. })));
}

#[test]
fn wrong_password_is_a_clear_error() {
    let source = vault();
    source
        .create_key(exportable("k", KeyAlgorithm::HmacSha256))
        .unwrap();
    let exported = export_key(&source, &name("k"), PW, &export_options()).unwrap();
    let target = vault();
    let err = import_key(&target, &exported, b"not it", &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, BackupError::WrongPassword { .. }), "{err}");
    assert_eq!(err.kind(), keyvault_core::ErrorKind::Authentication);
    assert!(err.to_string().contains("wrong password"), "{err}");
    // The refusal is logged in the target vault even though no key reached it.
    let refused = target
        .audit_log(&keyvault_store::AuditFilter {
            operation: Some(keyvault_core::AuditOperation::Import),
            outcome: Some(keyvault_core::OutcomeKind::Error),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].event.key_name.as_ref(), Some(&name("k")));
}

#[test]
fn import_validates_expiry_state_and_names() {
    let (options, clock) = clocked();
    let source = MemoryVault::in_memory(b"pw", options).unwrap();
    let mut spec = exportable("expiring", KeyAlgorithm::default());
    spec.expires_at = Some(T0.saturating_add(Duration::from_secs(3600)));
    source.create_key(spec).unwrap();
    let exported = export_key(&source, &name("expiring"), PW, &export_options()).unwrap();

    let (target_options, target_clock) = clocked();
    let target = MemoryVault::in_memory(b"pw", target_options).unwrap();
    target_clock.advance(Duration::from_secs(7200));
    clock.advance(Duration::from_secs(7200));
    let err = import_key(&target, &exported, PW, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, BackupError::Expired { .. }), "{err}");
    let allow = ImportOptions {
        allow_expired: true,
        ..ImportOptions::default()
    };
    import_key(&target, &exported, PW, &allow).unwrap();

    // The name is taken now: refused by default, allowed renamed, or replaced (same id).
    let err = import_key(&target, &exported, PW, &allow).unwrap_err();
    assert!(
        matches!(err, BackupError::Store(StoreError::NameTaken(_))),
        "{err}"
    );
    let replace = ImportOptions {
        conflict: ImportConflict::Replace,
        allow_expired: true,
    };
    import_key(&target, &exported, PW, &replace).unwrap();
    // Rename applies to a different key that wants a taken name.
    let other = MemoryVault::in_memory(b"pw", common::options()).unwrap();
    other
        .create_key(exportable("expiring", KeyAlgorithm::default()))
        .unwrap();
    let different = export_key(&other, &name("expiring"), PW, &export_options()).unwrap();
    assert!(matches!(
        import_key(&target, &different, PW, &allow),
        Err(BackupError::Store(StoreError::NameTaken(_)))
    ));
    let rename = ImportOptions {
        conflict: ImportConflict::Rename(name("expiring-2")),
        allow_expired: false,
    };
    let renamed = import_key(&target, &different, PW, &rename).unwrap();
    assert_eq!(renamed.name(), &name("expiring-2"));

    // A revoked key refuses every use, export included, so no export carries one.
    other
        .transition(&name("expiring"), Transition::Revoke)
        .unwrap();
    assert!(matches!(
        export_key(&other, &name("expiring"), PW, &export_options()),
        Err(BackupError::Store(StoreError::Core(
            keyvault_core::Error::Denied {
                denial: keyvault_core::Denial::KeyState { .. },
                ..
            }
        )))
    ));
}

#[test]
fn the_exportable_flag_is_honoured_and_one_way() {
    let source = vault();
    source
        .create_key(NewKey::new(name("vault-only"), KeyAlgorithm::default()))
        .unwrap();
    let err = export_key(&source, &name("vault-only"), PW, &export_options()).unwrap_err();
    assert_eq!(err.kind(), keyvault_core::ErrorKind::Denied, "{err}");

    source
        .create_key(exportable("leaving", KeyAlgorithm::default()))
        .unwrap();
    let exported = export_key(&source, &name("leaving"), PW, &export_options()).unwrap();
    let target = vault();
    let imported = import_key(&target, &exported, PW, &ImportOptions::default()).unwrap();
    assert!(imported.exportable());
    // Switched off in the new vault, it stays off: no API turns it back on, and re-importing
    // an old export of it (which says exportable) under Replace is what the store decides.
    target.disallow_export(&name("leaving")).unwrap();
    assert!(matches!(
        export_key(&target, &name("leaving"), PW, &export_options()),
        Err(BackupError::Store(StoreError::Core(
            keyvault_core::Error::Denied {
                denial: keyvault_core::Denial::NotExportable,
                ..
            }
        )))
    ));
    assert!(!target.key(&name("leaving")).unwrap().exportable());
}

#[test]
fn hostile_parameters_are_refused_before_deriving() {
    let source = vault();
    source
        .create_key(exportable("k", KeyAlgorithm::default()))
        .unwrap();
    let exported = export_key(&source, &name("k"), PW, &export_options()).unwrap();
    let json = exported.to_json();
    let params = "\"memory_kib\": 19456,\n    \"iterations\": 2,\n    \"lanes\": 1";
    assert!(json.contains(params));
    let hostile = [
        (
            "memory 2^32-1 KiB",
            "\"memory_kib\": 4294967295,\n    \"iterations\": 2,\n    \"lanes\": 1",
        ),
        (
            "passes 2^32-1",
            "\"memory_kib\": 19456,\n    \"iterations\": 4294967295,\n    \"lanes\": 1",
        ),
        (
            "lanes 2^24-1",
            "\"memory_kib\": 19456,\n    \"iterations\": 2,\n    \"lanes\": 16777215",
        ),
        (
            "below the floor",
            "\"memory_kib\": 8,\n    \"iterations\": 1,\n    \"lanes\": 1",
        ),
    ];
    for (what, replacement) in hostile {
        // Refused while parsing, before any key derivation.
        let edited = json.replace(params, replacement);
        let err = ExportedKey::from_json(&edited).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::KdfParameters {
                    source: CryptoError::Argon2Parameter { .. } | CryptoError::Argon2TooWeak { .. },
                    ..
                }
            ),
            "{what}: {err:?}"
        );
    }
    // A 1 MB salt.
    let salt = hex::encode(exported.salt());
    let big = json.replace(&salt, &"ab".repeat(1_000_000));
    let err = ExportedKey::from_json(&big).unwrap_err();
    assert!(matches!(err, BackupError::TooLarge { .. }), "{err:?}");
    let big_but_allowed_size = json.replace(&salt, &"ab".repeat(100));
    let err = ExportedKey::from_json(&big_but_allowed_size).unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::TooLarge { .. } | BackupError::InvalidField { .. }
        ),
        "{err:?}"
    );
    // Huge files are refused by size first.
    let huge = " ".repeat(keyvault_backup::MAX_EXPORT_LEN + 1);
    assert!(matches!(
        ExportedKey::from_json(&huge),
        Err(BackupError::TooLarge { .. })
    ));
    // Unknown versions and algorithms.
    let v2 = json.replace("\"format_version\": 1", "\"format_version\": 2");
    assert!(matches!(
        ExportedKey::from_json(&v2),
        Err(BackupError::UnsupportedVersion { version: 2, .. })
    ));
    let aes = json.replace("\"xchacha20-poly1305\",\n", "\"aes-256-gcm\",\n");
    assert!(matches!(
        ExportedKey::from_json(&aes),
        Err(BackupError::UnsupportedAlgorithm { .. })
    ));
    let rot13 = json.replace("\"xchacha20-poly1305\",\n", "\"rot13\",\n");
    assert!(matches!(
        ExportedKey::from_json(&rot13),
        Err(BackupError::UnsupportedAlgorithm { .. })
    ));
    // Exporting with weak parameters is refused too.
    let weak = ExportOptions {
        argon2: Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            lanes: 1,
        },
        ..export_options()
    };
    assert!(matches!(
        export_key(&source, &name("k"), PW, &weak),
        Err(BackupError::Crypto(CryptoError::Argon2TooWeak { .. }))
    ));
    let _ = CHEAP;
}

#[test]
fn reformatted_json_is_refused_as_non_canonical() {
    let source = vault();
    source
        .create_key(exportable("k", KeyAlgorithm::default()))
        .unwrap();
    let exported = export_key(&source, &name("k"), PW, &export_options()).unwrap();
    let json = exported.to_json();
    let compact =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&json).unwrap()).unwrap();
    for edited in [
        compact,
        json.trim_end().to_owned(),
        format!("{json}\n"),
        json.replace("\"comment\": null", "\"comment\": null, \"extra\": 1"),
        json.to_uppercase(),
    ] {
        assert!(
            matches!(
                ExportedKey::from_json(&edited),
                Err(BackupError::NonCanonical { .. } | BackupError::Malformed { .. })
            ),
            "{edited}"
        );
    }
    let _ = KeyState::Active;
}
