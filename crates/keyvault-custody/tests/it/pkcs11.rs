//! PKCS#11 keyslots against a real token (SoftHSM2).
//!
//! The token comes from the environment, as `.ci/run` sets it up: `SOFTHSM2_CONF` (SoftHSM's
//! configuration, pointing at a temporary token directory), `KEYVAULT_TEST_PKCS11_MODULE`,
//! `KEYVAULT_TEST_PKCS11_TOKEN` and `KEYVAULT_TEST_PKCS11_PIN`. Without them the test says so
//! loudly and passes, unless `KEYVAULT_REQUIRE_PKCS11` is set (as in CI).

use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::session::Session;
use cryptoki::types::AuthPin;
use keyvault_core::{KeyAlgorithm, KeyName};
use keyvault_crypto::Argon2Params;
use keyvault_custody::{CustodyError, Pkcs11Key, Pkcs11Wrapper};
use keyvault_store::{
    ExternalWrapper, FileVault, ManualClock, NewKey, SlotDescription, StoreError, Unlock,
    VaultOptions,
};
use keyvault_test_support::custodians::{make_aes_key, token_session};

struct Token {
    module: PathBuf,
    label: String,
    pin: String,
}

fn token() -> Option<Token> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let found = (|| {
        Some(Token {
            module: PathBuf::from(var("KEYVAULT_TEST_PKCS11_MODULE")?),
            label: var("KEYVAULT_TEST_PKCS11_TOKEN")?,
            pin: var("KEYVAULT_TEST_PKCS11_PIN")?,
        })
    })();
    if found.is_none() {
        assert!(
            std::env::var_os("KEYVAULT_REQUIRE_PKCS11").is_none(),
            "KEYVAULT_REQUIRE_PKCS11 is set but no PKCS#11 test token is configured"
        );
        eprintln!(
            "SKIPPED: no PKCS#11 test token (set KEYVAULT_TEST_PKCS11_MODULE, \
             KEYVAULT_TEST_PKCS11_TOKEN, KEYVAULT_TEST_PKCS11_PIN; .ci/run does with SoftHSM2)"
        );
    }
    found
}

/// A logged-in read-write session, to make and delete wrapping keys as an administrator would.
fn admin(token: &Token) -> Session {
    token_session(token.module.to_str().unwrap(), &token.label, &token.pin)
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

fn connect(token: &Token, key: &str, pin: &str) -> Result<Pkcs11Wrapper, CustodyError> {
    Pkcs11Wrapper::connect(
        &token.module,
        Pkcs11Key {
            token: token.label.clone(),
            key: key.to_owned(),
        },
        &AuthPin::from(pin.to_owned()),
    )
}

/// One test, in order: PKCS#11 logins are per process, so a wrong PIN is refused only while no
/// session of this process is logged in, and it must come first.
#[test]
fn a_token_key_opens_the_vault_and_every_fault_is_clear() {
    let Some(token) = token() else { return };
    let label = format!("kv-test-{}", std::process::id());

    // A wrong PIN, before anything has logged in.
    assert!(matches!(
        connect(&token, &label, "not-the-pin"),
        Err(CustodyError::WrongPin(_))
    ));
    // A module that is not there, a token that is not there.
    assert!(matches!(
        Pkcs11Wrapper::connect(
            std::path::Path::new("/nonexistent/libpkcs11.so"),
            Pkcs11Key {
                token: token.label.clone(),
                key: label.clone()
            },
            &AuthPin::from(token.pin.clone()),
        ),
        Err(CustodyError::Module { .. })
    ));
    assert!(matches!(
        Pkcs11Wrapper::connect(
            &token.module,
            Pkcs11Key {
                token: "no-such-token".to_owned(),
                key: label.clone()
            },
            &AuthPin::from(token.pin.clone()),
        ),
        Err(CustodyError::TokenMissing(_))
    ));

    let admin = admin(&token);
    // No key of that label yet.
    assert!(matches!(
        connect(&token, &label, &token.pin),
        Err(CustodyError::KeyMissing { .. })
    ));
    let handle = make_aes_key(&admin, &label);
    let wrapper = connect(&token, &label, &token.pin).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let vault = FileVault::create(&path, b"the password", options()).unwrap();
    let name = KeyName::new("app").unwrap();
    vault
        .create_key(NewKey::new(name.clone(), KeyAlgorithm::XChaCha20Poly1305))
        .unwrap();
    let sealed = vault.encrypt(&name, b"ledger", b"").unwrap();
    let id = vault.add_external_slot(&wrapper).unwrap();
    let slot = vault
        .slots()
        .unwrap()
        .into_iter()
        .find(|slot| slot.id == id)
        .unwrap();
    let SlotDescription::External { provider, settings } = slot.slot else {
        panic!("{slot:?}")
    };
    assert_eq!(
        Pkcs11Key::from_settings(&provider, &settings),
        Some(Pkcs11Key {
            token: token.label.clone(),
            key: label.clone()
        })
    );
    assert!(!settings.values().any(|value| value.contains(&token.pin)));
    drop(vault);

    // Unattended: the token opens the vault, no password.
    let opened = FileVault::open_file_with(&path, &Unlock::External(&wrapper), options()).unwrap();
    assert_eq!(opened.decrypt(&sealed, b"").unwrap().as_slice(), b"ledger");
    drop(opened);

    // Another key on the same token does not open the slot.
    let other_label = format!("{label}-other");
    let other_handle = make_aes_key(&admin, &other_label);
    let other = connect(&token, &other_label, &token.pin).unwrap();
    assert!(matches!(
        FileVault::open_file_with(&path, &Unlock::External(&other), options()),
        Err(StoreError::Provider { .. })
    ));
    // The slot bytes bound to this vault: unwrapping with another context fails.
    let slot_key = keyvault_crypto::SecretKey::generate().unwrap();
    let wrapped = wrapper.wrap(&slot_key, b"context A").unwrap();
    assert!(
        wrapper
            .unwrap(&wrapped, b"context B")
            .is_err_and(|err| matches!(err, StoreError::Provider { .. }))
    );
    assert_eq!(
        wrapper
            .unwrap(&wrapped, b"context A")
            .unwrap()
            .expose_secret(),
        slot_key.expose_secret()
    );

    // The wrapping key deleted: a clear error, and the password still opens the vault.
    drop(wrapper);
    admin.destroy_object(handle).unwrap();
    admin.destroy_object(other_handle).unwrap();
    assert!(matches!(
        connect(&token, &label, &token.pin),
        Err(CustodyError::KeyMissing { .. })
    ));
    let by_password = FileVault::open_file(&path, b"the password", options()).unwrap();
    assert_eq!(
        by_password.decrypt(&sealed, b"").unwrap().as_slice(),
        b"ledger"
    );
}
