//! AWS KMS keyslots against a local KMS: moto's server mode (PyPI `moto[server]`), which
//! `.ci/run` starts on 127.0.0.1 at a free port and names in `KEYVAULT_TEST_KMS_ENDPOINT`
//! (`moto_server -H 127.0.0.1 -p PORT` does it by hand). Without it the test says so loudly and
//! passes, unless `KEYVAULT_REQUIRE_KMS` is set (as in CI).

use std::net::TcpListener;
use std::sync::Arc;

use keyvault_core::{ErrorKind, KeyAlgorithm, KeyName};
use keyvault_crypto::Argon2Params;
use keyvault_custody::{AwsCredentials, AwsKmsWrapper, CustodyError};
use keyvault_store::{
    ExternalWrapper, FileVault, ManualClock, NewKey, StoreError, Unlock, VaultOptions,
};
use keyvault_test_support::custodians::kms_admin;
use serde_json::{Value, json};

/// The local KMS's endpoint.
struct Moto {
    endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn moto() -> Option<Moto> {
    match std::env::var("KEYVAULT_TEST_KMS_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(Moto { endpoint }),
        _ => {
            assert!(
                std::env::var_os("KEYVAULT_REQUIRE_KMS").is_none(),
                "KEYVAULT_REQUIRE_KMS is set but KEYVAULT_TEST_KMS_ENDPOINT is not"
            );
            eprintln!(
                "SKIPPED: no local KMS (start `moto_server -H 127.0.0.1 -p PORT` and set \
                 KEYVAULT_TEST_KMS_ENDPOINT=http://127.0.0.1:PORT)"
            );
            None
        }
    }
}

fn admin(moto: &Moto, action: &str, body: &Value) -> Value {
    kms_admin(&moto.endpoint, action, body)
}

fn kms(moto: &Moto, key_id: &str) -> AwsKmsWrapper {
    AwsKmsWrapper::new(
        key_id,
        "us-east-1",
        Some(moto.endpoint.clone()),
        AwsCredentials::new("testing", "testing-secret", None),
    )
}

fn options() -> VaultOptions {
    VaultOptions {
        argon2: Argon2Params::MINIMUM,
        clock: Arc::new(ManualClock::new(keyvault_core::Timestamp::from_unix_secs(
            1_750_000_000,
        ))),
        ..VaultOptions::default()
    }
}

#[test]
fn a_kms_key_opens_the_vault_and_every_fault_is_clear() {
    let Some(moto) = moto() else { return };
    let created = admin(
        &moto,
        "CreateKey",
        &json!({ "Description": "keyvault test" }),
    );
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let wrapper = kms(&moto, &key_id);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let vault = FileVault::create(&path, b"the password", options()).unwrap();
    let name = KeyName::new("app").unwrap();
    vault
        .create_key(NewKey::new(name.clone(), KeyAlgorithm::XChaCha20Poly1305))
        .unwrap();
    let sealed = vault.encrypt(&name, b"ledger", b"").unwrap();
    vault.add_external_slot(&wrapper).unwrap();
    drop(vault);
    let opened = FileVault::open_file_with(&path, &Unlock::External(&wrapper), options()).unwrap();
    assert_eq!(opened.decrypt(&sealed, b"").unwrap().as_slice(), b"ledger");
    drop(opened);

    // The encryption context binds the slot: another context is refused by KMS.
    let slot_key = keyvault_crypto::SecretKey::generate().unwrap();
    let blob = wrapper.wrap(&slot_key, b"vault A slot 1").unwrap();
    let refused = wrapper.unwrap(&blob, b"vault B slot 1").unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Authentication, "{refused}");
    assert_eq!(
        wrapper
            .unwrap(&blob, b"vault A slot 1")
            .unwrap()
            .expose_secret(),
        slot_key.expose_secret()
    );

    // A key id KMS does not know.
    let unknown = kms(&moto, "00000000-0000-0000-0000-000000000000");
    let err = unknown.wrap(&slot_key, b"ctx").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // The key disabled, then scheduled for deletion: refused, and the password still opens.
    admin(&moto, "DisableKey", &json!({ "KeyId": key_id }));
    let disabled = FileVault::open_file_with(&path, &Unlock::External(&wrapper), options());
    match disabled {
        Err(StoreError::Provider { kind, reason, .. }) => {
            assert_eq!(kind, ErrorKind::Denied, "{reason}");
            assert!(reason.contains("DisabledException"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    admin(&moto, "EnableKey", &json!({ "KeyId": key_id }));
    admin(
        &moto,
        "ScheduleKeyDeletion",
        &json!({ "KeyId": key_id, "PendingWindowInDays": 7 }),
    );
    let pending = FileVault::open_file_with(&path, &Unlock::External(&wrapper), options());
    assert!(
        matches!(
            &pending,
            Err(StoreError::Provider {
                kind: ErrorKind::Denied,
                ..
            })
        ),
        "{pending:?}"
    );
    FileVault::open_file(&path, b"the password", options()).unwrap();
}

#[test]
fn an_endpoint_that_is_down_fails_clearly_and_quickly() {
    // Nothing listens on a port just freed.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let wrapper = AwsKmsWrapper::new(
        "alias/keyvault",
        "us-east-1",
        Some(endpoint.clone()),
        AwsCredentials::new("testing", "testing-secret", None),
    );
    let slot_key = keyvault_crypto::SecretKey::generate().unwrap();
    let err = wrapper.wrap(&slot_key, b"ctx").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert!(!err.to_string().contains("testing-secret"));
    let as_custody = CustodyError::Device {
        provider: "aws-kms",
        reason: "x".to_owned(),
    };
    assert_eq!(as_custody.kind(), ErrorKind::Unavailable);
}
