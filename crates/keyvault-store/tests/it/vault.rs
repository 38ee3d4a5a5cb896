//! Behaviour of the `Vault` service, the same on the memory backend and the SQLite file backend:
//! unlocking and passwords, keys, every use, the lifecycle, versions, policy, rotation, the audit
//! chain, and what tampering with the store does.
//!
//! Each behaviour is one generic function run on both backends. Tests of management changes
//! also run with two clients of one store (changes made by one `Vault`, uses by another, as an
//! administrator's process and an application's process would), which is how a process learns
//! of a key revoked elsewhere.

use crate::common;

use std::time::Duration;

use common::{
    DAY, GROUPED_MANUAL, HOUR, Harness, PASSWORD, START, SharedMemory, TestBackend, denial, kind,
    name, version_of,
};
use keyvault_core::envelope::{Envelope, Purpose};
use keyvault_core::{
    AuditOperation, AuditRecord, ChainHead, ErrorKind, KeyAlgorithm, KeyId, KeyOperation,
    KeyPolicy, KeyState, KeyVersion, Outcome, RotationTriggers, StateKind, Timestamp, Transition,
    TransitionRefusal, VersionState, VersionTransition,
};
use keyvault_crypto::mac::MacTag;
use keyvault_store::{
    AuditCommit, AuditFilter, Backend, Batch, Clock, Expect, FileBackend, FileVault, KeyFilter,
    MemoryVault, NewKey, RecordDamage, Signature, StoreError, Vault,
};

/// The three encryption algorithms.
const AEADS: [KeyAlgorithm; 3] = [
    KeyAlgorithm::XChaCha20Poly1305,
    KeyAlgorithm::ChaCha20Poly1305,
    KeyAlgorithm::Aes256Gcm,
];

fn v(number: u32) -> KeyVersion {
    KeyVersion::new(number).unwrap()
}

fn at(base: Timestamp, offset: Duration) -> Timestamp {
    base.checked_add(offset).unwrap()
}

fn just_before(time: Timestamp) -> Timestamp {
    Timestamp::from_unix_millis(time.as_unix_millis() - 1)
}

/// Audit records of `operation` with outcome kind `outcome` ("ok", "denied", "error"; `None`
/// for any), about `key` if given.
fn audited<B: Backend>(
    vault: &Vault<B>,
    operation: AuditOperation,
    outcome: Option<&str>,
    key: Option<KeyId>,
) -> Vec<AuditRecord> {
    vault
        .audit_log(&AuditFilter {
            key,
            operation: Some(operation),
            outcome: outcome.map(|name| match name {
                "ok" => keyvault_core::OutcomeKind::Ok,
                "denied" => keyvault_core::OutcomeKind::Denied,
                "error" => keyvault_core::OutcomeKind::Error,
                other => panic!("no outcome kind {other}"),
            }),
            ..AuditFilter::default()
        })
        .unwrap()
}

fn count<B: Backend>(vault: &Vault<B>, operation: AuditOperation, outcome: &str) -> usize {
    audited(vault, operation, Some(outcome), None).len()
}

fn detail<'a>(record: &'a AuditRecord, name: &str) -> &'a str {
    record
        .event
        .context
        .details
        .get(name)
        .map_or("", String::as_str)
}

/// A key of `algorithm` with `policy`.
fn spec(key: &str, algorithm: KeyAlgorithm, policy: KeyPolicy) -> NewKey {
    let mut spec = NewKey::new(name(key), algorithm);
    spec.policy = policy;
    spec
}

/// The error must be the core's refusal of a lifecycle transition; returns its refusal.
fn refused_transition<T: std::fmt::Debug>(result: keyvault_store::Result<T>) -> TransitionRefusal {
    match result {
        Err(StoreError::Core(keyvault_core::Error::InvalidTransition { refusal, .. })) => refusal,
        other => panic!("expected an invalid transition, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Opening, passwords, locking

on_both_backends!(
    reopen_keeps_keys_and_ciphertexts,
    init_refuses_a_store_that_holds_a_vault,
    wrong_password_is_refused_and_changes_nothing,
    change_password_rewraps_only_the_master_key,
    lock_refuses_every_operation_until_unlocked,
);

fn reopen_keeps_keys_and_ciphertexts<B: TestBackend>(h: &mut Harness<B>) {
    let mut sealed = Vec::new();
    for (i, algorithm) in AEADS.into_iter().enumerate() {
        let key = h.key(&format!("enc-{i}"), algorithm);
        let plaintext = format!("secret number {i}");
        let envelope = h
            .vault
            .encrypt(&key, plaintext.as_bytes(), b"context")
            .unwrap();
        sealed.push((envelope, plaintext));
    }
    let mac = h.key("mac", KeyAlgorithm::HmacSha256);
    let signature = h.vault.sign(&mac, b"document").unwrap();
    let (derived_version, derived) = h.vault.derive(&mac, b"purpose", 32).unwrap();
    let before = h.vault.list_keys(&KeyFilter::default()).unwrap();
    assert_eq!(before.len(), 4);

    h.reopen();

    assert_eq!(h.vault.list_keys(&KeyFilter::default()).unwrap(), before);
    for metadata in &before {
        assert_eq!(&h.vault.key(metadata.name()).unwrap(), metadata);
        assert_eq!(&h.vault.key_by_key_id(metadata.id()).unwrap(), metadata);
    }
    for (envelope, plaintext) in &sealed {
        assert_eq!(
            &h.vault.decrypt(envelope, b"context").unwrap()[..],
            plaintext.as_bytes()
        );
    }
    h.vault.verify(&mac, b"document", &signature).unwrap();
    let (version, again) = h.vault.derive(&mac, b"purpose", 32).unwrap();
    assert_eq!((version, &again[..]), (derived_version, &derived[..]));

    // Keys made after a reopen survive the next one too.
    let later = h.key("later", KeyAlgorithm::default());
    let envelope = h.vault.encrypt(&later, b"late", b"").unwrap();
    h.reopen();
    assert_eq!(&h.vault.decrypt(&envelope, b"").unwrap()[..], b"late");
    assert_eq!(h.vault.list_keys(&KeyFilter::default()).unwrap().len(), 5);
    assert_eq!(count(&h.vault, AuditOperation::Unlock, "ok"), 2);
    h.vault.verify_audit().unwrap();
}

fn init_refuses_a_store_that_holds_a_vault<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("kept", KeyAlgorithm::default());
    let envelope = h.vault.encrypt(&key, b"kept", b"").unwrap();
    h.vault.flush_audit().unwrap();
    let records_before = h.records(b'a').len();
    match Vault::init(
        h.vault.dangerous().backend().reconnect(),
        b"another password",
        h.options(),
    ) {
        Err(StoreError::AlreadyExists(_)) => {}
        other => panic!("init over an existing vault: {other:?}"),
    }
    // Nothing was overwritten: the old password still opens the old keys.
    assert_eq!(h.records(b'a').len(), records_before);
    let other = h.open_another();
    assert_eq!(&other.decrypt(&envelope, b"").unwrap()[..], b"kept");
    assert!(matches!(
        h.try_open(b"another password"),
        Err(StoreError::WrongPassword)
    ));
}

fn wrong_password_is_refused_and_changes_nothing<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("k", KeyAlgorithm::default());
    let envelope = h.vault.encrypt(&key, b"payload", b"").unwrap();
    h.vault.flush_audit().unwrap();
    let sequence = h.vault.dangerous().backend().sequence().unwrap();
    let mut near_misses = vec![
        b"wrong".to_vec(),
        Vec::new(),
        PASSWORD[..PASSWORD.len() - 1].to_vec(),
        [PASSWORD, b" "].concat(),
    ];
    near_misses.push(PASSWORD.to_ascii_uppercase());
    for password in &near_misses {
        match h.try_open(password) {
            Err(err @ StoreError::WrongPassword) => {
                assert_eq!(err.kind(), ErrorKind::Authentication);
            }
            other => panic!("password {password:?} gave {other:?}"),
        }
    }
    // A refused open writes nothing (it never creates an empty vault over the old one).
    assert_eq!(h.vault.dangerous().backend().sequence().unwrap(), sequence);

    // A locked vault stays locked after a wrong password.
    h.vault.lock().unwrap();
    assert!(matches!(
        h.vault.unlock(b"wrong"),
        Err(StoreError::WrongPassword)
    ));
    assert!(!h.vault.is_unlocked());
    assert!(matches!(h.vault.key(&key), Err(StoreError::Locked)));
    h.vault.unlock(PASSWORD).unwrap();
    assert_eq!(&h.vault.decrypt(&envelope, b"").unwrap()[..], b"payload");
    assert_eq!(
        h.open_another()
            .list_keys(&KeyFilter::default())
            .unwrap()
            .len(),
        1
    );
}

fn change_password_rewraps_only_the_master_key<B: TestBackend>(h: &mut Harness<B>) {
    let new_password: &[u8] = b"a much better passphrase";
    let key = h.key("k", KeyAlgorithm::default());
    let envelope = h.vault.encrypt(&key, b"payload", b"aad").unwrap();
    let key_records = h.records(b'k');

    let _scrub = h.vault.change_password(new_password).unwrap();

    // Key records are untouched: only the header changed.
    assert_eq!(h.records(b'k'), key_records);
    assert!(matches!(
        h.try_open(PASSWORD),
        Err(StoreError::WrongPassword)
    ));
    let other = h.try_open(new_password).unwrap();
    assert_eq!(&other.decrypt(&envelope, b"aad").unwrap()[..], b"payload");
    assert_eq!(other.key(&key).unwrap(), h.vault.key(&key).unwrap());
    drop(other);

    // The open vault carries on, and its next unlock needs the new password.
    assert_eq!(&h.vault.decrypt(&envelope, b"aad").unwrap()[..], b"payload");
    h.vault.lock().unwrap();
    assert!(matches!(
        h.vault.unlock(PASSWORD),
        Err(StoreError::WrongPassword)
    ));
    h.vault.unlock(new_password).unwrap();
    h.vault.encrypt(&key, b"more", b"").unwrap();

    // Changing it back works too.
    let _scrub = h.vault.change_password(PASSWORD).unwrap();
    h.reopen();
    assert_eq!(&h.vault.decrypt(&envelope, b"aad").unwrap()[..], b"payload");
    assert_eq!(count(&h.vault, AuditOperation::ChangePassword, "ok"), 2);
    h.vault.verify_audit().unwrap();
}

fn lock_refuses_every_operation_until_unlocked<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("k", KeyAlgorithm::default());
    let mac = h.key("m", KeyAlgorithm::HmacSha256);
    let envelope = h.vault.encrypt(&key, b"payload", b"").unwrap();
    let signature = h.vault.sign(&mac, b"data").unwrap();
    let id = h.vault.key(&key).unwrap().id();
    assert!(h.vault.is_unlocked());

    h.vault.lock().unwrap();
    assert!(!h.vault.is_unlocked());
    // Locking twice is harmless.
    h.vault.lock().unwrap();

    let vault = &h.vault;
    let locked = |what: &str, result: keyvault_store::Result<()>| match result {
        Err(err @ StoreError::Locked) => assert_eq!(err.kind(), ErrorKind::Unavailable),
        other => panic!("{what} on a locked vault gave {other:?}"),
    };
    locked("key", vault.key(&key).map(drop));
    locked("key_by_key_id", vault.key_by_key_id(id).map(drop));
    locked(
        "list_keys",
        vault.list_keys(&KeyFilter::default()).map(drop),
    );
    locked(
        "create_key",
        vault
            .create_key(NewKey::new(name("new"), KeyAlgorithm::default()))
            .map(drop),
    );
    locked("encrypt", vault.encrypt(&key, b"x", b"").map(drop));
    locked(
        "encrypt_batch",
        vault
            .encrypt_batch(&key, &[(&b"x"[..], &b""[..])])
            .map(drop),
    );
    locked("decrypt", vault.decrypt(&envelope, b"").map(drop));
    for result in vault.decrypt_batch(&[(envelope.as_slice(), &b""[..]); 2]) {
        locked("decrypt_batch", result.map(drop));
    }
    locked("rewrap", vault.rewrap(&envelope, b"").map(drop));
    locked(
        "generate_data_key",
        vault.generate_data_key(&key, b"").map(drop),
    );
    locked(
        "unwrap_data_key",
        vault.unwrap_data_key(&envelope, b"").map(drop),
    );
    locked("sign", vault.sign(&mac, b"data").map(drop));
    locked("verify", vault.verify(&mac, b"data", &signature));
    locked("derive", vault.derive(&mac, b"ctx", 32).map(drop));
    locked("rotate", vault.rotate(&key).map(drop));
    locked(
        "transition",
        vault.transition(&key, Transition::Disable).map(drop),
    );
    locked(
        "version_transition",
        vault
            .version_transition(&key, KeyVersion::FIRST, VersionTransition::Disable)
            .map(drop),
    );
    locked(
        "set_min_decryption_version",
        vault
            .set_min_decryption_version(&key, KeyVersion::FIRST)
            .map(drop),
    );
    locked("trim", vault.trim(&key, KeyVersion::FIRST).map(drop));
    locked(
        "set_policy",
        vault.set_policy(&key, KeyPolicy::default()).map(drop),
    );
    locked("disallow_export", vault.disallow_export(&key).map(drop));
    locked(
        "update_metadata",
        vault
            .update_metadata(&key, |metadata, now| metadata.set_label("a", "b", now))
            .map(drop),
    );
    locked(
        "change_password",
        vault.change_password(b"new password").map(drop),
    );
    locked(
        "audit_log",
        vault.audit_log(&AuditFilter::default()).map(drop),
    );
    locked("verify_audit", vault.verify_audit().map(drop));

    // Nothing changed while locked; unlocking restores everything.
    h.vault.unlock(PASSWORD).unwrap();
    assert!(h.vault.is_unlocked());
    assert_eq!(&h.vault.decrypt(&envelope, b"").unwrap()[..], b"payload");
    h.vault.verify(&mac, b"data", &signature).unwrap();
    assert_eq!(h.vault.key(&key).unwrap().state(), KeyState::Active);
    assert_eq!(h.vault.list_keys(&KeyFilter::default()).unwrap().len(), 2);
    h.vault.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(count(&h.vault, AuditOperation::Unlock, "ok"), 1);
    h.vault.verify_audit().unwrap();
}

#[test]
fn file_vault_constructors_refuse_the_wrong_places() {
    let clock = std::sync::Arc::new(keyvault_store::ManualClock::new(START));
    let options = || common::options(&clock, AuditCommit::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");

    match FileVault::open_file(&path, PASSWORD, options()) {
        Err(err @ StoreError::NoVault(_)) => assert_eq!(err.kind(), ErrorKind::NotFound),
        other => panic!("opening a missing file: {other:?}"),
    }
    let vault = FileVault::create(&path, PASSWORD, options()).unwrap();
    drop(vault);
    match FileVault::create(&path, PASSWORD, options()) {
        Err(StoreError::AlreadyExists(_)) => {}
        other => panic!("creating over an existing vault: {other:?}"),
    }
    match FileVault::open_file(&path, b"wrong", options()) {
        Err(StoreError::WrongPassword) => {}
        other => panic!("wrong password: {other:?}"),
    }
    FileVault::open_file(&path, PASSWORD, options()).unwrap();

    // Argon2 below the floor is refused, and a failed creation leaves no file behind.
    let weak = dir.path().join("weak.db");
    let mut cheap = options();
    cheap.argon2.memory_kib = 1024;
    assert_eq!(
        kind(FileVault::create(&weak, PASSWORD, cheap)),
        ErrorKind::InvalidInput
    );
    assert!(!weak.exists());

    // A file that is not a vault.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        FileVault::open_file(&junk, PASSWORD, options()),
        Err(StoreError::NotAVault { .. })
    ));
}

#[test]
fn memory_vault_in_memory_round_trip() {
    let clock = std::sync::Arc::new(keyvault_store::ManualClock::new(START));
    let vault =
        MemoryVault::in_memory(PASSWORD, common::options(&clock, AuditCommit::default())).unwrap();
    let key = name("k");
    vault
        .create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))
        .unwrap();
    let envelope = vault.encrypt(&key, b"payload", b"aad").unwrap();
    assert_eq!(&vault.decrypt(&envelope, b"aad").unwrap()[..], b"payload");
    vault.lock().unwrap();
    vault.unlock(PASSWORD).unwrap();
    assert_eq!(&vault.decrypt(&envelope, b"aad").unwrap()[..], b"payload");
    vault.verify_audit().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Keys

on_both_backends!(create_key_and_name_taken, list_keys_filters);

fn create_key_and_name_taken<B: TestBackend>(h: &mut Harness<B>) {
    let mut new = NewKey::new(name("orders"), KeyAlgorithm::Aes256Gcm);
    new.labels.insert("team".to_owned(), "payments".to_owned());
    new.description = "card data".to_owned();
    let metadata = h.vault.create_key(new).unwrap();
    assert_eq!(metadata.name(), &name("orders"));
    assert_eq!(metadata.algorithm(), KeyAlgorithm::Aes256Gcm);
    assert_eq!(metadata.state(), KeyState::Active);
    assert_eq!(metadata.latest_version(), KeyVersion::FIRST);
    assert_eq!(metadata.encryption_version(), Some(KeyVersion::FIRST));
    assert_eq!(metadata.versions().len(), 1);
    assert_eq!(metadata.created_at(), START);
    assert_eq!(
        metadata.labels().get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(metadata.description(), "card data");
    assert!(!metadata.exportable());
    assert_eq!(metadata.policy(), &KeyPolicy::default());
    assert_eq!(h.vault.key(&name("orders")).unwrap(), metadata);
    assert_eq!(h.vault.key_by_key_id(metadata.id()).unwrap(), metadata);

    // The name is taken whatever the algorithm, and the first key is untouched.
    let err = h
        .vault
        .create_key(NewKey::new(name("orders"), KeyAlgorithm::HmacSha256))
        .unwrap_err();
    assert!(matches!(err, StoreError::NameTaken(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(h.vault.key(&name("orders")).unwrap(), metadata);
    assert_eq!(h.vault.list_keys(&KeyFilter::default()).unwrap().len(), 1);

    // A pending key cannot be used until activated.
    let mut pending = NewKey::new(name("later"), KeyAlgorithm::default());
    pending.pending = true;
    let later = h.vault.create_key(pending).unwrap();
    assert_eq!(later.state(), KeyState::Pending);
    assert_eq!(
        denial(h.vault.encrypt(&name("later"), b"x", b"")),
        "key_state"
    );

    // Ids are unique; unknown names and ids are "not found".
    assert_ne!(later.id(), metadata.id());
    assert!(matches!(
        h.vault.key(&name("missing")),
        Err(StoreError::KeyNotFound(_))
    ));
    assert_eq!(
        kind(h.vault.key_by_key_id(KeyId::from_bytes([7; 16]))),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(h.vault.encrypt(&name("missing"), b"x", b"")),
        ErrorKind::NotFound
    );

    assert_eq!(count(&h.vault, AuditOperation::CreateKey, "ok"), 2);
    assert_eq!(count(&h.vault, AuditOperation::CreateKey, "error"), 1);
}

fn list_keys_filters<B: TestBackend>(h: &mut Harness<B>) {
    let labelled = |key: &str, algorithm, env: &str, pending: bool| {
        let mut new = NewKey::new(name(key), algorithm);
        new.labels.insert("env".to_owned(), env.to_owned());
        new.pending = pending;
        h.vault.create_key(new).unwrap();
    };
    labelled("delta", KeyAlgorithm::XChaCha20Poly1305, "prod", true);
    labelled("alpha", KeyAlgorithm::XChaCha20Poly1305, "prod", false);
    labelled("charlie", KeyAlgorithm::HmacSha256, "prod", false);
    labelled("bravo", KeyAlgorithm::Aes256Gcm, "dev", false);
    h.vault
        .transition(&name("bravo"), Transition::Disable)
        .unwrap();

    let names = |filter: KeyFilter| -> Vec<String> {
        h.vault
            .list_keys(&filter)
            .unwrap()
            .iter()
            .map(|metadata| metadata.name().to_string())
            .collect()
    };
    let label = |value: &str| Some(("env".to_owned(), value.to_owned()));
    assert_eq!(
        names(KeyFilter::default()),
        ["alpha", "bravo", "charlie", "delta"]
    );
    assert_eq!(
        names(KeyFilter {
            state: Some(StateKind::Active),
            ..KeyFilter::default()
        }),
        ["alpha", "charlie"]
    );
    assert_eq!(
        names(KeyFilter {
            state: Some(StateKind::Pending),
            ..KeyFilter::default()
        }),
        ["delta"]
    );
    assert_eq!(
        names(KeyFilter {
            state: Some(StateKind::Disabled),
            ..KeyFilter::default()
        }),
        ["bravo"]
    );
    assert_eq!(
        names(KeyFilter {
            algorithm: Some(KeyAlgorithm::XChaCha20Poly1305),
            ..KeyFilter::default()
        }),
        ["alpha", "delta"]
    );
    assert_eq!(
        names(KeyFilter {
            label: label("prod"),
            ..KeyFilter::default()
        }),
        ["alpha", "charlie", "delta"]
    );
    assert_eq!(
        names(KeyFilter {
            state: Some(StateKind::Active),
            label: label("prod"),
            ..KeyFilter::default()
        }),
        ["alpha", "charlie"]
    );
    assert_eq!(
        names(KeyFilter {
            state: Some(StateKind::Active),
            algorithm: Some(KeyAlgorithm::HmacSha256),
            label: label("prod"),
        }),
        ["charlie"]
    );
    assert!(
        names(KeyFilter {
            algorithm: Some(KeyAlgorithm::HmacSha256),
            label: label("dev"),
            ..KeyFilter::default()
        })
        .is_empty()
    );
    assert!(
        names(KeyFilter {
            label: Some(("team".to_owned(), "prod".to_owned())),
            ..KeyFilter::default()
        })
        .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Using keys

on_both_backends!(
    aead_round_trip_with_aad,
    decrypt_finds_the_key_from_the_envelope,
    tampered_envelopes_fail,
    data_keys,
    sign_and_verify,
    derive_is_deterministic_per_context,
    batches,
);

fn aead_round_trip_with_aad<B: TestBackend>(h: &mut Harness<B>) {
    for algorithm in AEADS {
        let key = h.key(algorithm.name(), algorithm);
        let id = h.vault.key(&key).unwrap().id();
        let long = vec![0xa5; 64 * 1024];
        for plaintext in [&b""[..], b"x", b"card 4111 1111 1111 1111", &long] {
            for aad in [&b""[..], b"order 17"] {
                let envelope = h.vault.encrypt(&key, plaintext, aad).unwrap();
                let header = *Envelope::parse(&envelope).unwrap().header();
                assert_eq!(header.key_id, id);
                assert_eq!(header.key_version, KeyVersion::FIRST);
                assert_eq!(Some(header.algorithm), algorithm.aead());
                assert_eq!(&h.vault.decrypt(&envelope, aad).unwrap()[..], plaintext);
                for wrong in [&b"order 18"[..], b"", b"order 17\0", b"ORDER 17"] {
                    if wrong == aad {
                        continue;
                    }
                    let err = h.vault.decrypt(&envelope, wrong).unwrap_err();
                    assert!(
                        matches!(err, StoreError::Core(keyvault_core::Error::Authentication)),
                        "{algorithm}: wrong AAD gave {err:?}"
                    );
                    assert_eq!(err.kind(), ErrorKind::Authentication);
                }
            }
        }
        // Fresh nonces: the same message never seals the same way twice.
        let first = h.vault.encrypt(&key, b"same", b"same").unwrap();
        let second = h.vault.encrypt(&key, b"same", b"same").unwrap();
        assert_ne!(first, second);
    }
}

fn decrypt_finds_the_key_from_the_envelope<B: TestBackend>(h: &mut Harness<B>) {
    let keys: Vec<_> = AEADS
        .into_iter()
        .enumerate()
        .map(|(i, algorithm)| h.key(&format!("key-{i}"), algorithm))
        .collect();
    let sealed: Vec<_> = keys
        .iter()
        .map(|key| {
            let plaintext = format!("for {key}");
            (
                h.vault.encrypt(key, plaintext.as_bytes(), b"").unwrap(),
                plaintext,
            )
        })
        .collect();
    // Decrypt names no key, in any order.
    for (envelope, plaintext) in sealed.iter().rev() {
        assert_eq!(
            &h.vault.decrypt(envelope, b"").unwrap()[..],
            plaintext.as_bytes()
        );
    }
    // An envelope pointed at another key of the same algorithm does not open.
    let twin = h.key("twin", AEADS[0]);
    let twin_id = h.vault.key(&twin).unwrap().id();
    let mut redirected = sealed[0].0.clone();
    redirected[6..22].copy_from_slice(twin_id.as_bytes());
    assert_eq!(
        kind(h.vault.decrypt(&redirected, b"")),
        ErrorKind::Authentication
    );
    // ... nor one pointed at a key of another algorithm.
    let mut crossed = sealed[0].0.clone();
    let other_id = h.vault.key(&keys[1]).unwrap().id();
    crossed[6..22].copy_from_slice(other_id.as_bytes());
    // The envelope's algorithm is not the key's: refused as malformed input before any key use.
    assert_eq!(
        kind(h.vault.decrypt(&crossed, b"")),
        ErrorKind::InvalidInput
    );

    // An envelope from another vault names a key this vault does not have.
    let stranger = B::harness(AuditCommit::default());
    let theirs = stranger.key("key-0", AEADS[0]);
    let foreign = stranger.vault.encrypt(&theirs, b"theirs", b"").unwrap();
    let err = h.vault.decrypt(&foreign, b"").unwrap_err();
    assert!(matches!(err, StoreError::KeyNotFound(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

fn tampered_envelopes_fail<B: TestBackend>(h: &mut Harness<B>) {
    for algorithm in AEADS {
        let key = h.key(algorithm.name(), algorithm);
        let envelope = h.vault.encrypt(&key, b"attack at dawn", b"aad").unwrap();
        let header_len = keyvault_core::envelope::HEADER_LEN;
        for index in 0..envelope.len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = envelope.clone();
                tampered[index] ^= bit;
                let result = h.vault.decrypt(&tampered, b"aad");
                match result {
                    Ok(_) => panic!("{algorithm}: flipping byte {index} still decrypts"),
                    Err(err) if index >= header_len => assert_eq!(
                        err.kind(),
                        ErrorKind::Authentication,
                        "{algorithm}: flipping byte {index} of the body gave {err:?}"
                    ),
                    Err(_) => {}
                }
            }
        }
        for len in 0..envelope.len() {
            // Too short to be an envelope (malformed) or an envelope that does not authenticate.
            let kind = kind(h.vault.decrypt(&envelope[..len], b"aad"));
            assert!(
                matches!(kind, ErrorKind::Integrity | ErrorKind::Authentication),
                "{algorithm}: {len} bytes gave {kind:?}"
            );
        }
        let mut extended = envelope.clone();
        extended.push(0);
        assert_eq!(
            kind(h.vault.decrypt(&extended, b"aad")),
            ErrorKind::Authentication
        );
        // The original is still fine.
        assert_eq!(
            &h.vault.decrypt(&envelope, b"aad").unwrap()[..],
            b"attack at dawn"
        );
    }
    assert_eq!(
        kind(h.vault.decrypt(b"not an envelope at all, just text", b"")),
        ErrorKind::Integrity
    );
    h.vault.verify_audit().unwrap();
}

fn data_keys<B: TestBackend>(h: &mut Harness<B>) {
    let kek = h.key("kek", KeyAlgorithm::default());
    let data_key = h.vault.generate_data_key(&kek, b"file 7").unwrap();
    assert_eq!(data_key.version, KeyVersion::FIRST);
    assert_eq!(version_of(&data_key.wrapped), 1);
    let unwrapped = h
        .vault
        .unwrap_data_key(&data_key.wrapped, b"file 7")
        .unwrap();
    assert_eq!(
        unwrapped.expose_secret(),
        data_key.plaintext.expose_secret()
    );
    assert_eq!(
        kind(h.vault.unwrap_data_key(&data_key.wrapped, b"file 8")),
        ErrorKind::Authentication
    );
    // A wrapped key opens only as a data key: decrypt refuses it, and unwrap refuses data.
    // Regression: decrypt (under Decrypt) used to open a wrapped key.
    assert!(matches!(
        h.vault.decrypt(&data_key.wrapped, b"file 7"),
        Err(StoreError::Core(keyvault_core::Error::WrongPurpose {
            expected: Purpose::Data,
            found: Purpose::DataKey
        }))
    ));
    let not_a_key = h.vault.encrypt(&kek, b"just some text", b"").unwrap();
    assert!(matches!(
        h.vault.unwrap_data_key(&not_a_key, b""),
        Err(StoreError::Core(keyvault_core::Error::WrongPurpose {
            expected: Purpose::DataKey,
            found: Purpose::Data
        }))
    ));
    let another = h.vault.generate_data_key(&kek, b"file 7").unwrap();
    assert_ne!(
        another.plaintext.expose_secret(),
        data_key.plaintext.expose_secret()
    );

    // Every AEAD wraps.
    for algorithm in [KeyAlgorithm::ChaCha20Poly1305, KeyAlgorithm::Aes256Gcm] {
        let key = h.key(algorithm.name(), algorithm);
        let data_key = h.vault.generate_data_key(&key, b"").unwrap();
        assert_eq!(
            h.vault
                .unwrap_data_key(&data_key.wrapped, b"")
                .unwrap()
                .expose_secret(),
            data_key.plaintext.expose_secret()
        );
    }

    // An HMAC key cannot wrap; a policy without Wrap refuses.
    let mac = h.key("mac", KeyAlgorithm::HmacSha256);
    assert_eq!(
        denial(h.vault.generate_data_key(&mac, b"")),
        "unsupported_by_algorithm"
    );
    let no_wrap = h.key_with(spec(
        "no-wrap",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([KeyOperation::Encrypt, KeyOperation::Decrypt]),
    ));
    assert_eq!(
        denial(h.vault.generate_data_key(&no_wrap, b"")),
        "operation_not_allowed"
    );
    assert_eq!(count(&h.vault, AuditOperation::GenerateDataKey, "ok"), 4);
    assert_eq!(
        count(&h.vault, AuditOperation::GenerateDataKey, "denied"),
        2
    );
    assert_eq!(count(&h.vault, AuditOperation::Unwrap, "ok"), 3);
    assert_eq!(count(&h.vault, AuditOperation::Unwrap, "error"), 2);
}

fn sign_and_verify<B: TestBackend>(h: &mut Harness<B>) {
    let mac = h.key("mac", KeyAlgorithm::HmacSha256);
    let signature = h.vault.sign(&mac, b"message").unwrap();
    assert_eq!(signature.version, KeyVersion::FIRST);
    h.vault.verify(&mac, b"message", &signature).unwrap();
    // HMAC is deterministic.
    assert_eq!(h.vault.sign(&mac, b"message").unwrap(), signature);
    assert_ne!(h.vault.sign(&mac, b"messagE").unwrap(), signature);

    // Wrong data, a flipped tag, another key's tag: all fail opaquely.
    let err = h.vault.verify(&mac, b"messagf", &signature).unwrap_err();
    assert!(
        matches!(err, StoreError::Core(keyvault_core::Error::Authentication)),
        "{err:?}"
    );
    assert_eq!(
        kind(h.vault.verify(&mac, b"", &signature)),
        ErrorKind::Authentication
    );
    let mut flipped = *signature.tag.as_bytes();
    flipped[31] ^= 1;
    let forged = Signature {
        version: signature.version,
        tag: MacTag::from_slice(&flipped).unwrap(),
    };
    assert_eq!(
        kind(h.vault.verify(&mac, b"message", &forged)),
        ErrorKind::Authentication
    );
    let other = h.key("other-mac", KeyAlgorithm::HmacSha256);
    let theirs = h.vault.sign(&other, b"message").unwrap();
    assert_ne!(theirs, signature);
    assert_eq!(
        kind(h.vault.verify(&mac, b"message", &theirs)),
        ErrorKind::Authentication
    );
    // A version the key does not have is refused by policy, before any MAC.
    let future = Signature {
        version: v(2),
        tag: signature.tag.clone(),
    };
    assert_eq!(
        denial(h.vault.verify(&mac, b"message", &future)),
        "unknown_version"
    );

    // Text form: kvmac1:<version>:<64 hex digits>, and back.
    let text = signature.to_string();
    assert!(text.starts_with("kvmac1:1:"), "{text}");
    assert_eq!(text.len(), "kvmac1:1:".len() + 64);
    let parsed: Signature = text.parse().unwrap();
    assert_eq!(parsed, signature);
    h.vault.verify(&mac, b"message", &parsed).unwrap();
    assert_eq!(
        format!(" {text}\n").parse::<Signature>().unwrap(),
        signature
    );
    let hex = &text["kvmac1:1:".len()..];
    let malformed = [
        String::new(),
        "kvmac1:".to_owned(),
        "kvmac1:1".to_owned(),
        "kvmac1:1:".to_owned(),
        format!("kvmac2:1:{hex}"),
        format!("kvmac1:0:{hex}"),
        format!("kvmac1:-1:{hex}"),
        format!("kvmac1:x:{hex}"),
        format!("kvmac1:1:{}", &hex[1..]),
        format!("kvmac1:1:{hex}0"),
        format!("kvmac1:1:zz{}", &hex[2..]),
        format!("kvmac1:1:{hex}:1"),
    ];
    for text in malformed {
        let err = text.parse::<Signature>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{text:?}: {err:?}");
    }

    // An encryption key neither signs nor verifies; a MAC key does not encrypt.
    let aead = h.key("aead", KeyAlgorithm::default());
    assert_eq!(
        denial(h.vault.sign(&aead, b"m")),
        "unsupported_by_algorithm"
    );
    assert_eq!(
        denial(h.vault.verify(&aead, b"message", &signature)),
        "unsupported_by_algorithm"
    );
    assert_eq!(
        denial(h.vault.encrypt(&mac, b"m", b"")),
        "unsupported_by_algorithm"
    );
    assert_eq!(count(&h.vault, AuditOperation::Verify, "ok"), 2);
    assert_eq!(count(&h.vault, AuditOperation::Verify, "error"), 4);
    assert_eq!(count(&h.vault, AuditOperation::Verify, "denied"), 2);
}

fn derive_is_deterministic_per_context<B: TestBackend>(h: &mut Harness<B>) {
    let mac = h.key("derive", KeyAlgorithm::HmacSha256);
    let (version, a) = h.vault.derive(&mac, b"context a", 32).unwrap();
    assert_eq!(version, KeyVersion::FIRST);
    assert_eq!(a.len(), 32);
    let (_, again) = h.vault.derive(&mac, b"context a", 32).unwrap();
    assert_eq!(&again[..], &a[..]);
    let (_, b) = h.vault.derive(&mac, b"context b", 32).unwrap();
    assert_ne!(&b[..], &a[..]);
    let (_, empty) = h.vault.derive(&mac, b"", 32).unwrap();
    assert_ne!(&empty[..], &a[..]);
    // HKDF-Expand: a shorter output is a prefix of a longer one.
    let (_, short) = h.vault.derive(&mac, b"context a", 16).unwrap();
    assert_eq!(&short[..], &a[..16]);
    let (_, long) = h.vault.derive(&mac, b"context a", 100).unwrap();
    assert_eq!(long.len(), 100);
    assert_eq!(&long[..32], &a[..]);
    // Derivation and signing use different subkeys.
    let signature = h.vault.sign(&mac, b"context a").unwrap();
    assert_ne!(&signature.tag.as_bytes()[..], &a[..]);
    // Another key derives other bytes from the same context.
    let other = h.key("derive-2", KeyAlgorithm::HmacSha256);
    let (_, theirs) = h.vault.derive(&other, b"context a", 32).unwrap();
    assert_ne!(&theirs[..], &a[..]);
    // Lengths outside 1..=8160 are refused.
    assert_eq!(kind(h.vault.derive(&mac, b"x", 0)), ErrorKind::InvalidInput);
    assert_eq!(
        kind(h.vault.derive(&mac, b"x", 8161)),
        ErrorKind::InvalidInput
    );
    assert_eq!(h.vault.derive(&mac, b"x", 8160).unwrap().1.len(), 8160);
    // Encryption keys do not derive.
    let aead = h.key("aead", KeyAlgorithm::default());
    assert_eq!(
        denial(h.vault.derive(&aead, b"x", 32)),
        "unsupported_by_algorithm"
    );
}

fn batches<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("batch", KeyAlgorithm::default());
    let id = h.vault.key(&key).unwrap().id();
    let messages: Vec<(Vec<u8>, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                format!("message {i}").into_bytes(),
                format!("aad {i}").into_bytes(),
            )
        })
        .collect();
    let items: Vec<(&[u8], &[u8])> = messages
        .iter()
        .map(|(plaintext, aad)| (plaintext.as_slice(), aad.as_slice()))
        .collect();
    let sealed = h.vault.encrypt_batch(&key, &items).unwrap();
    assert_eq!(sealed.len(), 5);
    for (i, envelope) in sealed.iter().enumerate() {
        assert!(sealed[..i].iter().all(|earlier| earlier != envelope));
    }

    let to_open: Vec<(&[u8], &[u8])> = sealed
        .iter()
        .zip(&messages)
        .map(|(envelope, (_, aad))| (envelope.as_slice(), aad.as_slice()))
        .collect();
    let opened = h.vault.decrypt_batch(&to_open);
    assert_eq!(opened.len(), 5);
    for (result, (plaintext, _)) in opened.iter().zip(&messages) {
        assert_eq!(&result.as_ref().unwrap()[..], plaintext.as_slice());
    }
    // Batch items are ordinary envelopes.
    assert_eq!(
        &h.vault.decrypt(&sealed[3], b"aad 3").unwrap()[..],
        b"message 3"
    );
    // One bad item fails alone.
    let mut mixed = to_open.clone();
    mixed[2].1 = b"wrong";
    let results = h.vault.decrypt_batch(&mixed);
    for (i, result) in results.iter().enumerate() {
        if i == 2 {
            assert_eq!(
                result.as_ref().unwrap_err().kind(),
                ErrorKind::Authentication
            );
        } else {
            assert_eq!(&result.as_ref().unwrap()[..], messages[i].0.as_slice());
        }
    }
    assert!(h.vault.encrypt_batch(&key, &[]).unwrap().is_empty());
    assert!(h.vault.decrypt_batch(&[]).is_empty());

    // One event per encrypt batch (with its size), one per decrypted item.
    let encrypts = audited(&h.vault, AuditOperation::Encrypt, Some("ok"), Some(id));
    assert_eq!(encrypts.len(), 2);
    assert_eq!(detail(&encrypts[0], "batch"), "5");
    assert_eq!(
        audited(&h.vault, AuditOperation::Decrypt, Some("ok"), Some(id)).len(),
        5 + 1 + 4
    );

    // A batch counts every message against max_operations, all or nothing.
    let limited = h.key_with(spec(
        "limited",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_max_operations(4),
    ));
    assert_eq!(
        denial(h.vault.encrypt_batch(&limited, &items)),
        "usage_limit_reached"
    );
    assert_eq!(
        h.vault.encrypt_batch(&limited, &items[..4]).unwrap().len(),
        4
    );
    assert_eq!(
        denial(h.vault.encrypt(&limited, b"one more", b"")),
        "usage_limit_reached"
    );
}

// ---------------------------------------------------------------------------------------------
// Rotation, rewrap, versions (management through `h.vault`, uses through `user`)

admin_and_user!(
    manual_rotation,
    rewrap_moves_to_the_newest_version,
    derive_follows_rotation,
    per_version_states,
    min_decryption_version_and_trim,
);

fn manual_rotation<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("rotating", KeyAlgorithm::default());
    let first = user.encrypt(&key, b"one", b"").unwrap();
    assert_eq!(version_of(&first), 1);

    let metadata = admin.rotate(&key).unwrap();
    assert_eq!(metadata.latest_version(), v(2));
    assert_eq!(metadata.encryption_version(), Some(v(2)));
    assert!(
        metadata
            .versions()
            .iter()
            .all(|info| info.state == VersionState::Enabled)
    );
    let second = user.encrypt(&key, b"two", b"").unwrap();
    assert_eq!(version_of(&second), 2);

    h.clock.advance(HOUR);
    assert_eq!(admin.rotate(&key).unwrap().latest_version(), v(3));
    let third = user.encrypt(&key, b"three", b"").unwrap();
    assert_eq!(version_of(&third), 3);

    for (envelope, plaintext) in [(&first, "one"), (&second, "two"), (&third, "three")] {
        assert_eq!(
            &user.decrypt(envelope, b"").unwrap()[..],
            plaintext.as_bytes()
        );
    }
    let seen = user.key(&key).unwrap();
    let numbers: Vec<u32> = seen
        .versions()
        .iter()
        .map(|info| info.version.get())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(seen.versions()[2].created_at > seen.versions()[1].created_at);

    // HMAC keys rotate the same way, and old signatures still verify.
    let mac = h.key("rotating-mac", KeyAlgorithm::HmacSha256);
    let old = user.sign(&mac, b"doc").unwrap();
    admin.rotate(&mac).unwrap();
    let new = user.sign(&mac, b"doc").unwrap();
    assert_eq!((old.version.get(), new.version.get()), (1, 2));
    assert_ne!(old.tag, new.tag);
    user.verify(&mac, b"doc", &old).unwrap();
    user.verify(&mac, b"doc", &new).unwrap();

    let id = metadata.id();
    let rotations = audited(admin, AuditOperation::Rotate, Some("ok"), Some(id));
    assert_eq!(rotations.len(), 2);
    assert_eq!(detail(&rotations[0], "trigger"), "manual");
    assert_eq!(detail(&rotations[0], "version"), "2");
    assert_eq!(detail(&rotations[1], "version"), "3");
}

fn rewrap_moves_to_the_newest_version<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("rewrapped", KeyAlgorithm::default());
    let old = user.encrypt(&key, b"payload", b"aad").unwrap();
    // Rewrapping at the newest version keeps the version, with a fresh nonce.
    let same = user.rewrap(&old, b"aad").unwrap();
    assert_eq!(version_of(&same), 1);
    assert_ne!(same, old);

    admin.rotate(&key).unwrap();
    admin.rotate(&key).unwrap();
    let rewrapped = user.rewrap(&old, b"aad").unwrap();
    assert_eq!(version_of(&rewrapped), 3);
    assert_eq!(&user.decrypt(&rewrapped, b"aad").unwrap()[..], b"payload");
    // The old envelope is still valid until its version goes.
    assert_eq!(&user.decrypt(&old, b"aad").unwrap()[..], b"payload");
    assert_eq!(kind(user.rewrap(&old, b"other")), ErrorKind::Authentication);

    admin.trim(&key, v(3)).unwrap();
    assert_eq!(denial(user.decrypt(&old, b"aad")), "version_unusable");
    assert_eq!(&user.decrypt(&rewrapped, b"aad").unwrap()[..], b"payload");

    user.flush_audit().unwrap();
    let rewraps = audited(admin, AuditOperation::Rewrap, Some("ok"), None);
    assert_eq!(rewraps.len(), 2);
    assert_eq!(detail(&rewraps[1], "from_version"), "1");
    assert_eq!(rewraps[1].event.key_version, Some(v(3)));
}

fn derive_follows_rotation<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let key = h.key("derive", KeyAlgorithm::HmacSha256);
    let (first, a) = user.derive(&key, b"ctx", 32).unwrap();
    h.vault.rotate(&key).unwrap();
    let (second, b) = user.derive(&key, b"ctx", 32).unwrap();
    assert_eq!((first.get(), second.get()), (1, 2));
    assert_ne!(&a[..], &b[..]);
    // Deterministic per (version, context).
    let (_, again) = user.derive(&key, b"ctx", 32).unwrap();
    assert_eq!(&again[..], &b[..]);
}

fn per_version_states<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("versions", KeyAlgorithm::default());
    let one = user.encrypt(&key, b"one", b"").unwrap();
    admin.rotate(&key).unwrap();
    let two = user.encrypt(&key, b"two", b"").unwrap();

    // Disable version 1: its ciphertexts are refused, version 2's are fine; enable again.
    let metadata = admin
        .version_transition(&key, v(1), VersionTransition::Disable)
        .unwrap();
    assert_eq!(
        metadata.version(v(1)).unwrap().state,
        VersionState::Disabled
    );
    assert_eq!(denial(user.decrypt(&one, b"")), "version_unusable");
    assert_eq!(&user.decrypt(&two, b"").unwrap()[..], b"two");
    admin
        .version_transition(&key, v(1), VersionTransition::Enable)
        .unwrap();
    assert_eq!(&user.decrypt(&one, b"").unwrap()[..], b"one");

    // Revoke version 1: refused for good.
    admin
        .version_transition(&key, v(1), VersionTransition::Revoke)
        .unwrap();
    assert_eq!(denial(user.decrypt(&one, b"")), "version_unusable");
    assert_eq!(&user.decrypt(&two, b"").unwrap()[..], b"two");
    assert_eq!(version_of(&user.encrypt(&key, b"x", b"").unwrap()), 2);
    let err = admin
        .version_transition(&key, v(1), VersionTransition::Enable)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(denial(user.decrypt(&one, b"")), "version_unusable");

    // The version that encrypts cannot be destroyed.
    let err = admin
        .version_transition(&key, v(2), VersionTransition::Destroy)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Core(keyvault_core::Error::CurrentVersion { .. })
        ),
        "{err:?}"
    );

    // Revoking the encrypting version leaves nothing to encrypt with (version 1 is revoked).
    admin
        .version_transition(&key, v(2), VersionTransition::Revoke)
        .unwrap();
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "no_usable_version");
    assert_eq!(denial(user.decrypt(&two, b"")), "version_unusable");
    let three = admin.rotate(&key).unwrap();
    assert_eq!(three.encryption_version(), Some(v(3)));
    let fresh = user.encrypt(&key, b"three", b"").unwrap();
    assert_eq!(version_of(&fresh), 3);

    // A revoked version can be destroyed; its ciphertexts stay refused.
    admin
        .version_transition(&key, v(1), VersionTransition::Destroy)
        .unwrap();
    assert_eq!(denial(user.decrypt(&one, b"")), "version_unusable");
    assert_eq!(&user.decrypt(&fresh, b"").unwrap()[..], b"three");
    let states: Vec<VersionState> = user
        .key(&key)
        .unwrap()
        .versions()
        .iter()
        .map(|info| info.state)
        .collect();
    assert_eq!(
        states,
        [
            VersionState::Destroyed,
            VersionState::Revoked,
            VersionState::Enabled
        ]
    );
    assert_eq!(
        audited(admin, AuditOperation::RevokeVersion, Some("ok"), None).len(),
        2
    );
}

fn min_decryption_version_and_trim<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("floors", KeyAlgorithm::default());
    let one = user.encrypt(&key, b"one", b"").unwrap();
    admin.rotate(&key).unwrap();
    let two = user.encrypt(&key, b"two", b"").unwrap();
    admin.rotate(&key).unwrap();
    let three = user.encrypt(&key, b"three", b"").unwrap();
    assert_eq!(
        [version_of(&one), version_of(&two), version_of(&three)],
        [1, 2, 3]
    );

    let metadata = admin.set_min_decryption_version(&key, v(2)).unwrap();
    assert_eq!(metadata.min_decryption_version(), v(2));
    assert_eq!(
        denial(user.decrypt(&one, b"")),
        "below_min_decryption_version"
    );
    assert_eq!(&user.decrypt(&two, b"").unwrap()[..], b"two");
    assert_eq!(&user.decrypt(&three, b"").unwrap()[..], b"three");
    // The floor can come down again: version 1 still has its material.
    admin.set_min_decryption_version(&key, v(1)).unwrap();
    assert_eq!(&user.decrypt(&one, b"").unwrap()[..], b"one");
    assert_eq!(
        kind(admin.set_min_decryption_version(&key, v(4))),
        ErrorKind::NotFound
    );

    // Trim destroys everything below the floor.
    let trimmed = admin.trim(&key, v(3)).unwrap();
    assert_eq!(trimmed.min_decryption_version(), v(3));
    assert_eq!(
        trimmed.version(v(1)).unwrap().state,
        VersionState::Destroyed
    );
    assert_eq!(
        trimmed.version(v(2)).unwrap().state,
        VersionState::Destroyed
    );
    assert_eq!(trimmed.version(v(3)).unwrap().state, VersionState::Enabled);
    assert_eq!(denial(user.decrypt(&one, b"")), "version_unusable");
    assert_eq!(denial(user.decrypt(&two, b"")), "version_unusable");
    assert_eq!(&user.decrypt(&three, b"").unwrap()[..], b"three");
    assert_eq!(version_of(&user.encrypt(&key, b"x", b"").unwrap()), 3);
    // The floor never passes the encrypting version: no version above it exists.
    assert_eq!(kind(admin.trim(&key, v(4))), ErrorKind::NotFound);
    admin.rotate(&key).unwrap();
    assert_eq!(version_of(&user.encrypt(&key, b"x", b"").unwrap()), 4);

    let trims = audited(admin, AuditOperation::Trim, Some("ok"), None);
    assert_eq!(trims.len(), 1);
    assert_eq!(detail(&trims[0], "destroyed"), "2");
    assert_eq!(detail(&trims[0], "floor"), "3");
}

// ---------------------------------------------------------------------------------------------
// The lifecycle

admin_and_user!(
    disable_blocks_use_and_enable_restores,
    deprecated_keys_only_process_existing_data,
    revoked_keys_refuse_everything,
    pending_keys_wait_for_activation,
    deletion_can_be_scheduled_and_cancelled,
    destroyed_keys_leave_a_tombstone,
);

fn disable_blocks_use_and_enable_restores<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("switch", KeyAlgorithm::default());
    let envelope = user.encrypt(&key, b"payload", b"").unwrap();

    let metadata = admin.transition(&key, Transition::Disable).unwrap();
    assert_eq!(metadata.state(), KeyState::Disabled);
    assert_eq!(user.key(&key).unwrap().state(), KeyState::Disabled);
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "key_state");
    assert_eq!(denial(user.decrypt(&envelope, b"")), "key_state");
    assert_eq!(denial(user.rewrap(&envelope, b"")), "key_state");
    assert_eq!(denial(user.generate_data_key(&key, b"")), "key_state");
    // A disabled key may still be rotated (and stays disabled).
    let rotated = admin.rotate(&key).unwrap();
    assert_eq!(rotated.state(), KeyState::Disabled);
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "key_state");
    // Disabling twice is refused.
    assert_eq!(
        refused_transition(admin.transition(&key, Transition::Disable)),
        TransitionRefusal::NotInTable
    );

    let metadata = admin.transition(&key, Transition::Enable).unwrap();
    assert_eq!(metadata.state(), KeyState::Active);
    assert_eq!(&user.decrypt(&envelope, b"").unwrap()[..], b"payload");
    assert_eq!(version_of(&user.encrypt(&key, b"x", b"").unwrap()), 2);
    assert_eq!(
        refused_transition(admin.transition(&key, Transition::Enable)),
        TransitionRefusal::NotInTable
    );

    user.flush_audit().unwrap();
    let id = metadata.id();
    assert_eq!(
        audited(admin, AuditOperation::Encrypt, Some("denied"), Some(id)).len(),
        2
    );
    assert_eq!(
        audited(admin, AuditOperation::Decrypt, Some("denied"), Some(id)).len(),
        1
    );
    let disables = audited(admin, AuditOperation::Disable, None, Some(id));
    assert_eq!(disables.len(), 2);
    assert_eq!(detail(&disables[0], "from"), "active");
    assert_eq!(detail(&disables[0], "to"), "disabled");
    assert!(matches!(disables[1].event.outcome, Outcome::Error { .. }));
}

fn deprecated_keys_only_process_existing_data<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("old-enc", KeyAlgorithm::default());
    let mac = h.key("old-mac", KeyAlgorithm::HmacSha256);
    let envelope = user.encrypt(&key, b"payload", b"").unwrap();
    let data_key = user.generate_data_key(&key, b"").unwrap();
    let signature = user.sign(&mac, b"doc").unwrap();

    admin.transition(&key, Transition::Deprecate).unwrap();
    admin.transition(&mac, Transition::Deprecate).unwrap();

    assert_eq!(&user.decrypt(&envelope, b"").unwrap()[..], b"payload");
    assert_eq!(
        user.unwrap_data_key(&data_key.wrapped, b"")
            .unwrap()
            .expose_secret(),
        data_key.plaintext.expose_secret()
    );
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "key_state");
    assert_eq!(denial(user.generate_data_key(&key, b"")), "key_state");
    assert_eq!(denial(user.rewrap(&envelope, b"")), "key_state");
    user.verify(&mac, b"doc", &signature).unwrap();
    assert_eq!(denial(user.sign(&mac, b"doc")), "key_state");
    assert_eq!(denial(user.derive(&mac, b"ctx", 32)), "key_state");

    // No new material for a key that is winding down, and no way back to Active.
    let err = admin.rotate(&key).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Core(keyvault_core::Error::RotationRefused { .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        refused_transition(admin.transition(&key, Transition::Enable)),
        TransitionRefusal::NotInTable
    );
    assert_eq!(user.key(&key).unwrap().state(), KeyState::Deprecated);
}

fn revoked_keys_refuse_everything<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("compromised", KeyAlgorithm::default());
    let mac = h.key("compromised-mac", KeyAlgorithm::HmacSha256);
    let envelope = user.encrypt(&key, b"payload", b"").unwrap();
    let data_key = user.generate_data_key(&key, b"").unwrap();
    let signature = user.sign(&mac, b"doc").unwrap();

    admin.transition(&key, Transition::Revoke).unwrap();
    admin.transition(&mac, Transition::Revoke).unwrap();
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "key_state");
    assert_eq!(denial(user.decrypt(&envelope, b"")), "key_state");
    assert_eq!(
        denial(user.unwrap_data_key(&data_key.wrapped, b"")),
        "key_state"
    );
    assert_eq!(denial(user.generate_data_key(&key, b"")), "key_state");
    assert_eq!(denial(user.sign(&mac, b"doc")), "key_state");
    assert_eq!(denial(user.verify(&mac, b"doc", &signature)), "key_state");
    assert_eq!(kind(admin.rotate(&key)), ErrorKind::Conflict);
    for back in [Transition::Enable, Transition::Activate] {
        assert_eq!(
            refused_transition(admin.transition(&key, back)),
            TransitionRefusal::NotInTable
        );
    }
    // Scheduling deletion and cancelling it leaves the key revoked, not active.
    let until = at(h.clock.now(), DAY);
    admin
        .transition(&key, Transition::ScheduleDeletion { until })
        .unwrap();
    let back = admin.transition(&key, Transition::CancelDeletion).unwrap();
    assert_eq!(back.state(), KeyState::Revoked);
    assert_eq!(denial(user.decrypt(&envelope, b"")), "key_state");
}

fn pending_keys_wait_for_activation<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let mut new = NewKey::new(name("pending"), KeyAlgorithm::default());
    new.pending = true;
    let key = h.key_with(new);
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "key_state");
    // Pending keys may rotate before they ever serve.
    assert_eq!(admin.rotate(&key).unwrap().latest_version(), v(2));
    let active = admin.transition(&key, Transition::Activate).unwrap();
    assert_eq!(active.state(), KeyState::Active);
    let envelope = user.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(version_of(&envelope), 2);
    assert_eq!(&user.decrypt(&envelope, b"").unwrap()[..], b"x");
    assert_eq!(
        refused_transition(admin.transition(&key, Transition::Activate)),
        TransitionRefusal::NotInTable
    );
}

fn deletion_can_be_scheduled_and_cancelled<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("doomed", KeyAlgorithm::default());
    let envelope = user.encrypt(&key, b"payload", b"").unwrap();
    let now = h.clock.now();

    // An Active key must be disabled (or deprecated, revoked) first.
    assert_eq!(
        refused_transition(admin.transition(
            &key,
            Transition::ScheduleDeletion {
                until: at(now, 7 * DAY)
            }
        )),
        TransitionRefusal::NotInTable
    );
    admin.transition(&key, Transition::Disable).unwrap();
    // The window lasts at least a day.
    let too_soon = just_before(at(now, DAY));
    assert!(matches!(
        refused_transition(
            admin.transition(&key, Transition::ScheduleDeletion { until: too_soon })
        ),
        TransitionRefusal::DeletionWindowTooShort { .. }
    ));
    let metadata = admin
        .transition(
            &key,
            Transition::ScheduleDeletion {
                until: at(now, DAY),
            },
        )
        .unwrap();
    assert_eq!(metadata.state().kind(), StateKind::PendingDeletion);
    assert_eq!(denial(user.decrypt(&envelope, b"")), "key_state");
    assert_eq!(denial(user.encrypt(&key, b"x", b"")), "key_state");

    // Cancelled: back to Disabled, then to work.
    h.clock.advance(HOUR);
    let metadata = admin.transition(&key, Transition::CancelDeletion).unwrap();
    assert_eq!(metadata.state(), KeyState::Disabled);
    admin.transition(&key, Transition::Enable).unwrap();
    assert_eq!(&user.decrypt(&envelope, b"").unwrap()[..], b"payload");
    user.encrypt(&key, b"x", b"").unwrap();
    // Even long after the old window, nothing is destroyed.
    h.clock.advance(7 * DAY);
    assert_eq!(&user.decrypt(&envelope, b"").unwrap()[..], b"payload");
    assert_eq!(
        audited(admin, AuditOperation::ScheduleDeletion, Some("ok"), None).len(),
        1
    );
    assert_eq!(
        audited(admin, AuditOperation::CancelDeletion, Some("ok"), None).len(),
        1
    );
}

fn destroyed_keys_leave_a_tombstone<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("destroyed", KeyAlgorithm::default());
    let envelope = user.encrypt(&key, b"payload", b"").unwrap();
    let id = user.key(&key).unwrap().id();
    admin.rotate(&key).unwrap();
    let later = user.encrypt(&key, b"later", b"").unwrap();

    admin.transition(&key, Transition::Disable).unwrap();
    let until = at(h.clock.now(), DAY);
    admin
        .transition(&key, Transition::ScheduleDeletion { until })
        .unwrap();
    // Not before the window has passed.
    let err = admin.transition(&key, Transition::Destroy).unwrap_err();
    assert!(err.is_retryable());
    assert!(matches!(
        refused_transition::<()>(Err(err)),
        TransitionRefusal::DeletionWindowOpen { .. }
    ));
    h.clock.set(just_before(until));
    assert_eq!(
        kind(admin.transition(&key, Transition::Destroy)),
        ErrorKind::Conflict
    );
    h.clock.set(until);
    let tombstone = admin.transition(&key, Transition::Destroy).unwrap();
    assert_eq!(tombstone.state(), KeyState::Destroyed);
    assert!(
        tombstone
            .versions()
            .iter()
            .all(|info| info.state == VersionState::Destroyed)
    );

    // Old ciphertexts get "destroyed", not "not found".
    for sealed in [&envelope, &later] {
        let err = user.decrypt(sealed, b"").unwrap_err();
        assert!(
            matches!(err, StoreError::Core(keyvault_core::Error::KeyDestroyed { key }) if key == id),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Destroyed);
    }
    assert_eq!(kind(user.encrypt(&key, b"x", b"")), ErrorKind::Destroyed);
    assert_eq!(kind(user.rewrap(&envelope, b"")), ErrorKind::Destroyed);
    // The tombstone keeps the name and refuses every change.
    assert_eq!(user.key(&key).unwrap().state(), KeyState::Destroyed);
    assert_eq!(user.key_by_key_id(id).unwrap().name(), &key);
    assert!(matches!(
        admin.create_key(NewKey::new(key.clone(), KeyAlgorithm::default())),
        Err(StoreError::NameTaken(_))
    ));
    assert_eq!(kind(admin.rotate(&key)), ErrorKind::Conflict);
    assert_eq!(
        kind(admin.transition(&key, Transition::CancelDeletion)),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(admin.set_policy(&key, KeyPolicy::default())),
        ErrorKind::Destroyed
    );
    let listed = user
        .list_keys(&KeyFilter {
            state: Some(StateKind::Destroyed),
            ..KeyFilter::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 1);
    user.flush_audit().unwrap();
    assert_eq!(
        audited(admin, AuditOperation::Destroy, Some("ok"), Some(id)).len(),
        1
    );
    let failed = audited(admin, AuditOperation::Decrypt, Some("error"), Some(id));
    assert_eq!(failed.len(), 2);
    assert_eq!(
        failed[0].event.outcome,
        Outcome::Error {
            kind: ErrorKind::Destroyed
        }
    );
    admin.verify_audit().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Policy

on_both_backends!(
    allowed_operations_are_enforced,
    policy_window_and_key_expiry_follow_the_clock,
    max_operations_is_exact_and_durable,
);

admin_and_user!(set_policy_takes_effect,);

fn allowed_operations_are_enforced<B: TestBackend>(h: &mut Harness<B>) {
    let encrypt_only = h.key_with(spec(
        "encrypt-only",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([KeyOperation::Encrypt]),
    ));
    let envelope = h.vault.encrypt(&encrypt_only, b"x", b"").unwrap();
    assert_eq!(
        denial(h.vault.decrypt(&envelope, b"")),
        "operation_not_allowed"
    );
    assert_eq!(
        denial(h.vault.rewrap(&envelope, b"")),
        "operation_not_allowed"
    );
    assert_eq!(
        denial(h.vault.generate_data_key(&encrypt_only, b"")),
        "operation_not_allowed"
    );

    let sign_only = h.key_with(spec(
        "sign-only",
        KeyAlgorithm::HmacSha256,
        KeyPolicy::default().allow_only([KeyOperation::Sign]),
    ));
    let signature = h.vault.sign(&sign_only, b"doc").unwrap();
    assert_eq!(
        denial(h.vault.verify(&sign_only, b"doc", &signature)),
        "operation_not_allowed"
    );
    assert_eq!(
        denial(h.vault.derive(&sign_only, b"ctx", 32)),
        "operation_not_allowed"
    );

    // Nothing allowed: nothing works; the algorithm's own limits are checked first.
    let nothing = h.key_with(spec(
        "nothing",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([]),
    ));
    assert_eq!(
        denial(h.vault.encrypt(&nothing, b"x", b"")),
        "operation_not_allowed"
    );
    assert_eq!(
        denial(h.vault.sign(&nothing, b"x")),
        "unsupported_by_algorithm"
    );
}

fn policy_window_and_key_expiry_follow_the_clock<B: TestBackend>(h: &mut Harness<B>) {
    let not_before = at(START, HOUR);
    let not_after = at(START, 3 * HOUR);
    let windowed = h.key_with(spec(
        "windowed",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_window(Some(not_before), Some(not_after)),
    ));
    let err = h.vault.encrypt(&windowed, b"x", b"").unwrap_err();
    assert!(err.is_retryable(), "not yet valid is worth retrying later");
    assert_eq!(denial::<()>(Err(err)), "not_yet_valid");
    h.clock.set(just_before(not_before));
    assert_eq!(
        denial(h.vault.encrypt(&windowed, b"x", b"")),
        "not_yet_valid"
    );
    // not_before is inclusive.
    h.clock.set(not_before);
    let envelope = h.vault.encrypt(&windowed, b"in window", b"").unwrap();
    h.clock.set(just_before(not_after));
    assert_eq!(&h.vault.decrypt(&envelope, b"").unwrap()[..], b"in window");
    // not_after is exclusive, and applies to decrypt too.
    h.clock.set(not_after);
    assert_eq!(
        denial(h.vault.encrypt(&windowed, b"x", b"")),
        "policy_expired"
    );
    let err = h.vault.decrypt(&envelope, b"").unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(denial::<()>(Err(err)), "policy_expired");

    // A key's own expiry works the same way.
    h.clock.set(START);
    let mut expiring = NewKey::new(name("expiring"), KeyAlgorithm::HmacSha256);
    expiring.expires_at = Some(at(START, DAY));
    let expiring = h.key_with(expiring);
    let signature = h.vault.sign(&expiring, b"doc").unwrap();
    h.clock.set(just_before(at(START, DAY)));
    h.vault.verify(&expiring, b"doc", &signature).unwrap();
    h.clock.set(at(START, DAY));
    assert_eq!(denial(h.vault.sign(&expiring, b"doc")), "key_expired");
    assert_eq!(
        denial(h.vault.verify(&expiring, b"doc", &signature)),
        "key_expired"
    );
    // Time never changes the key's state.
    assert_eq!(h.vault.key(&expiring).unwrap().state(), KeyState::Active);
}

fn max_operations_is_exact_and_durable<B: TestBackend>(h: &mut Harness<B>) {
    for max in [1u64, 5, 37] {
        let key = h.key_with(spec(
            &format!("max-{max}"),
            KeyAlgorithm::default(),
            KeyPolicy::default().with_max_operations(max),
        ));
        let mut envelope = Vec::new();
        for _ in 0..max {
            envelope = h.vault.encrypt(&key, b"x", b"").unwrap();
        }
        assert_eq!(
            denial(h.vault.encrypt(&key, b"x", b"")),
            "usage_limit_reached",
            "operation {} of {max}",
            max + 1
        );
        // Every kind of operation counts against the same limit.
        assert_eq!(
            denial(h.vault.decrypt(&envelope, b"")),
            "usage_limit_reached"
        );
        h.reopen();
        assert_eq!(
            denial(h.vault.encrypt(&key, b"x", b"")),
            "usage_limit_reached"
        );
        assert_eq!(
            denial(h.vault.decrypt(&envelope, b"")),
            "usage_limit_reached"
        );
    }

    // Mixed operations count together; a reopen half way never grants extra uses, and strands
    // at most one small reservation.
    let key = h.key_with(spec(
        "mixed",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_max_operations(40),
    ));
    let envelope = h.vault.encrypt(&key, b"x", b"").unwrap();
    let mut done = 1u64;
    for _ in 0..9 {
        h.vault.decrypt(&envelope, b"").unwrap();
        done += 1;
    }
    h.reopen();
    for _ in 0..100 {
        match h.vault.encrypt(&key, b"x", b"") {
            Ok(_) => done += 1,
            Err(err) => {
                assert_eq!(denial::<()>(Err(err)), "usage_limit_reached");
                break;
            }
        }
    }
    assert!(done <= 40, "{done} operations passed a limit of 40");
    assert!(done >= 37, "only {done} of 40 operations were allowed");
    h.reopen();
    assert_eq!(
        denial(h.vault.encrypt(&key, b"x", b"")),
        "usage_limit_reached"
    );
    let id = h.vault.key(&key).unwrap().id();
    assert_eq!(
        audited(&h.vault, AuditOperation::Encrypt, Some("denied"), Some(id)).len(),
        2
    );
}

fn set_policy_takes_effect<B: TestBackend>(h: &Harness<B>, user: &Vault<B>) {
    let admin = &h.vault;
    let key = h.key("governed", KeyAlgorithm::default());
    let envelope = user.encrypt(&key, b"payload", b"").unwrap();

    let decrypt_only = KeyPolicy::default().allow_only([KeyOperation::Decrypt]);
    let metadata = admin.set_policy(&key, decrypt_only.clone()).unwrap();
    assert_eq!(metadata.policy(), &decrypt_only);
    assert_eq!(user.key(&key).unwrap().policy(), &decrypt_only);
    assert_eq!(
        denial(user.encrypt(&key, b"x", b"")),
        "operation_not_allowed"
    );
    assert_eq!(&user.decrypt(&envelope, b"").unwrap()[..], b"payload");

    // A limit set later counts from then on; raising it allows more.
    admin
        .set_policy(&key, KeyPolicy::default().with_max_operations(2))
        .unwrap();
    user.encrypt(&key, b"1", b"").unwrap();
    user.encrypt(&key, b"2", b"").unwrap();
    assert_eq!(denial(user.encrypt(&key, b"3", b"")), "usage_limit_reached");
    admin
        .set_policy(&key, KeyPolicy::default().with_max_operations(3))
        .unwrap();
    user.encrypt(&key, b"3", b"").unwrap();
    assert_eq!(denial(user.encrypt(&key, b"4", b"")), "usage_limit_reached");

    let changes = audited(admin, AuditOperation::UpdatePolicy, Some("ok"), None);
    let changed: Vec<&str> = changes
        .iter()
        .map(|record| detail(record, "changed"))
        .collect();
    assert_eq!(
        changed,
        [
            "allowed_operations",
            "max_operations,allowed_operations",
            "max_operations"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Automatic rotation

on_both_backends!(rotation_by_use_count, rotation_by_age,);

fn rotation_by_use_count<B: TestBackend>(h: &mut Harness<B>) {
    let triggers = RotationTriggers {
        max_uses: Some(3),
        max_age: None,
    };
    for algorithm in [KeyAlgorithm::XChaCha20Poly1305, KeyAlgorithm::Aes256Gcm] {
        let key = h.key_with(spec(
            algorithm.name(),
            algorithm,
            KeyPolicy::default().with_rotation(triggers),
        ));
        let mut sealed = Vec::new();
        for i in 0..10 {
            let plaintext = format!("message {i}");
            let envelope = h.vault.encrypt(&key, plaintext.as_bytes(), b"").unwrap();
            sealed.push((envelope, plaintext));
        }
        let versions: Vec<u32> = sealed
            .iter()
            .map(|(envelope, _)| version_of(envelope))
            .collect();
        assert_eq!(versions, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4], "{algorithm}");
        for (envelope, plaintext) in &sealed {
            assert_eq!(
                &h.vault.decrypt(envelope, b"").unwrap()[..],
                plaintext.as_bytes()
            );
        }
        let metadata = h.vault.key(&key).unwrap();
        assert_eq!(metadata.latest_version(), v(4));
        let rotations = audited(&h.vault, AuditOperation::Rotate, None, Some(metadata.id()));
        assert_eq!(rotations.len(), 3, "{algorithm}: {rotations:#?}");
        for record in &rotations {
            assert_eq!(record.event.outcome, Outcome::Ok);
            assert!(
                detail(record, "trigger").contains("used 3 times"),
                "{:?}",
                record.event.context.details
            );
        }
    }

    // HMAC keys count signatures and derivations, not verifications.
    let mac = h.key_with(spec(
        "mac",
        KeyAlgorithm::HmacSha256,
        KeyPolicy::default().with_rotation(triggers),
    ));
    let signatures: Vec<Signature> = (0..4)
        .map(|_| h.vault.sign(&mac, b"doc").unwrap())
        .collect();
    for signature in &signatures {
        h.vault.verify(&mac, b"doc", signature).unwrap();
    }
    let versions: Vec<u32> = signatures.iter().map(|s| s.version.get()).collect();
    assert_eq!(versions, [1, 1, 1, 2]);
    assert_eq!(h.vault.derive(&mac, b"ctx", 32).unwrap().0, v(2));
}

fn rotation_by_age<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key_with(spec(
        "aging",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_rotation(RotationTriggers {
            max_age: Some(DAY),
            max_uses: None,
        }),
    ));
    let first = h.vault.encrypt(&key, b"day 0", b"").unwrap();
    h.clock.set(just_before(at(START, DAY)));
    assert_eq!(version_of(&h.vault.encrypt(&key, b"x", b"").unwrap()), 1);
    // Due at exactly max_age.
    h.clock.set(at(START, DAY));
    let second = h.vault.encrypt(&key, b"day 1", b"").unwrap();
    assert_eq!(version_of(&second), 2);
    h.clock.advance(DAY / 2);
    assert_eq!(version_of(&h.vault.encrypt(&key, b"x", b"").unwrap()), 2);
    h.clock.advance(DAY / 2);
    assert_eq!(version_of(&h.vault.encrypt(&key, b"x", b"").unwrap()), 3);
    // Decrypting never rotates.
    h.clock.advance(10 * DAY);
    assert_eq!(&h.vault.decrypt(&first, b"").unwrap()[..], b"day 0");
    assert_eq!(&h.vault.decrypt(&second, b"").unwrap()[..], b"day 1");
    let metadata = h.vault.key(&key).unwrap();
    assert_eq!(metadata.latest_version(), v(3));

    let rotations = audited(&h.vault, AuditOperation::Rotate, None, Some(metadata.id()));
    assert_eq!(rotations.len(), 2, "{rotations:#?}");
    for record in &rotations {
        assert!(
            detail(record, "trigger").contains("s old"),
            "{:?}",
            record.event.context.details
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log

on_both_backends!(
    every_operation_is_audited,
    denied_uses_are_audited_as_denied,
    audit_log_filters_by_time,
    verify_audit_passes_on_a_busy_vault,
    deleting_an_audit_record_is_detected,
    truncating_the_audit_log_is_detected,
    overwriting_an_audit_record_is_detected,
    a_rolled_back_audit_log_fails_against_a_recorded_head,
    failed_uses_are_attributed_to_their_key,
);

on_both_backend_types!(audit_commit_modes);

fn every_operation_is_audited<B: TestBackend>(h: &mut Harness<B>) {
    let vault = &h.vault;
    let key = h.key("k", KeyAlgorithm::default());
    let mac = h.key("m", KeyAlgorithm::HmacSha256);
    let key_id = vault.key(&key).unwrap().id();
    let mac_id = vault.key(&mac).unwrap().id();
    assert_eq!(
        kind(vault.create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))),
        ErrorKind::Conflict
    );

    let envelopes: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            vault
                .encrypt(&key, b"top secret payload", b"aad-secret")
                .unwrap()
        })
        .collect();
    vault
        .encrypt_batch(&key, &[(&b"a"[..], &b""[..]), (&b"b"[..], &b""[..])])
        .unwrap();
    vault.decrypt(&envelopes[0], b"aad-secret").unwrap();
    vault.decrypt(&envelopes[1], b"aad-secret").unwrap();
    assert_eq!(
        kind(vault.decrypt(&envelopes[2], b"wrong")),
        ErrorKind::Authentication
    );
    for result in vault.decrypt_batch(&[
        (envelopes[1].as_slice(), &b"aad-secret"[..]),
        (envelopes[2].as_slice(), &b"aad-secret"[..]),
    ]) {
        result.unwrap();
    }
    vault.rewrap(&envelopes[0], b"aad-secret").unwrap();
    let data_key = vault.generate_data_key(&key, b"").unwrap();
    vault.unwrap_data_key(&data_key.wrapped, b"").unwrap();
    let signature = vault.sign(&mac, b"doc").unwrap();
    vault.verify(&mac, b"doc", &signature).unwrap();
    assert_eq!(
        kind(vault.verify(&mac, b"other", &signature)),
        ErrorKind::Authentication
    );
    vault.derive(&mac, b"ctx", 32).unwrap();
    assert_eq!(kind(vault.encrypt(&mac, b"x", b"")), ErrorKind::Denied);
    // Reads are not operations on keys: no events.
    vault.key(&key).unwrap();
    vault.list_keys(&KeyFilter::default()).unwrap();
    // Management, after every use (so no use depends on a changed key).
    vault.rotate(&key).unwrap();
    vault.transition(&key, Transition::Disable).unwrap();
    vault.transition(&key, Transition::Enable).unwrap();
    assert_eq!(
        kind(vault.transition(&key, Transition::Activate)),
        ErrorKind::Conflict
    );
    vault
        .version_transition(&key, KeyVersion::FIRST, VersionTransition::Disable)
        .unwrap();
    vault.set_min_decryption_version(&key, v(2)).unwrap();
    vault.trim(&key, v(2)).unwrap();
    vault
        .set_policy(&mac, KeyPolicy::default().with_max_operations(100))
        .unwrap();
    vault.disallow_export(&mac).unwrap();
    vault
        .update_metadata(&mac, |metadata, now| {
            metadata.set_label("owner", "ops", now)
        })
        .unwrap();

    let expected: &[(AuditOperation, &str, usize)] = &[
        (AuditOperation::InitVault, "ok", 1),
        (AuditOperation::CreateKey, "ok", 2),
        (AuditOperation::CreateKey, "error", 1),
        (AuditOperation::Encrypt, "ok", 4),
        (AuditOperation::Encrypt, "denied", 1),
        (AuditOperation::Decrypt, "ok", 4),
        (AuditOperation::Decrypt, "error", 1),
        (AuditOperation::Rewrap, "ok", 1),
        (AuditOperation::GenerateDataKey, "ok", 1),
        (AuditOperation::Unwrap, "ok", 1),
        (AuditOperation::Sign, "ok", 1),
        (AuditOperation::Verify, "ok", 1),
        (AuditOperation::Verify, "error", 1),
        (AuditOperation::Derive, "ok", 1),
        (AuditOperation::Rotate, "ok", 1),
        (AuditOperation::Disable, "ok", 1),
        (AuditOperation::Enable, "ok", 1),
        (AuditOperation::Activate, "error", 1),
        (AuditOperation::DisableVersion, "ok", 1),
        (AuditOperation::SetMinDecryptionVersion, "ok", 1),
        (AuditOperation::Trim, "ok", 1),
        (AuditOperation::UpdatePolicy, "ok", 1),
        (AuditOperation::DisallowExport, "ok", 1),
        (AuditOperation::UpdateMetadata, "ok", 1),
    ];
    let all = vault.audit_log(&AuditFilter::default()).unwrap();
    for &(operation, outcome, n) in expected {
        assert_eq!(
            count(vault, operation, outcome),
            n,
            "{operation} {outcome}: {all:#?}"
        );
    }
    assert_eq!(all.len(), expected.iter().map(|(_, _, n)| n).sum::<usize>());
    // In order, numbered from 0, by our actor, at the clock's time.
    for (i, record) in all.iter().enumerate() {
        assert_eq!(record.seq, i as u64);
        assert_eq!(&*record.event.actor, "test:harness");
        assert_eq!(record.event.time, START);
    }
    // Successful uses name their key and version.
    let by_key = |id, operation| audited(vault, operation, Some("ok"), Some(id)).len();
    assert_eq!(by_key(key_id, AuditOperation::Encrypt), 4);
    assert_eq!(by_key(key_id, AuditOperation::Decrypt), 4);
    assert_eq!(by_key(mac_id, AuditOperation::Sign), 1);
    assert_eq!(by_key(mac_id, AuditOperation::Encrypt), 0);
    for record in audited(vault, AuditOperation::Encrypt, Some("ok"), Some(key_id)) {
        assert_eq!(record.event.key_version, Some(KeyVersion::FIRST));
        assert_eq!(record.event.key_name.as_ref(), Some(&key));
    }
    // AAD appears only as a keyed digest, and nothing secret appears at all.
    let encrypts = audited(vault, AuditOperation::Encrypt, Some("ok"), Some(key_id));
    assert!(encrypts[0].event.context.aad_digest.is_some());
    let text = format!("{all:?}");
    for secret in ["top secret payload", "aad-secret", "correct horse"] {
        assert!(!text.contains(secret), "the audit log shows {secret:?}");
    }
    vault.verify_audit().unwrap();
}

fn denied_uses_are_audited_as_denied<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key_with(spec(
        "encrypt-only",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([KeyOperation::Encrypt]),
    ));
    let id = h.vault.key(&key).unwrap().id();
    let envelope = h.vault.encrypt(&key, b"x", b"").unwrap();
    for _ in 0..3 {
        assert_eq!(
            denial(h.vault.decrypt(&envelope, b"")),
            "operation_not_allowed"
        );
    }
    let denied = audited(&h.vault, AuditOperation::Decrypt, Some("denied"), Some(id));
    assert_eq!(denied.len(), 3);
    for record in &denied {
        assert_eq!(
            record.event.outcome,
            Outcome::Denied {
                reason: keyvault_core::Denial::OperationNotAllowed
            }
        );
        assert_eq!(record.event.key_id, Some(id));
    }
    assert!(audited(&h.vault, AuditOperation::Decrypt, Some("ok"), None).is_empty());
    assert_eq!(
        audited(&h.vault, AuditOperation::Encrypt, Some("ok"), Some(id)).len(),
        1
    );
    // A limit reached is a denial too, with its rule.
    let limited = h.key_with(spec(
        "limited",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_max_operations(1),
    ));
    h.vault.encrypt(&limited, b"x", b"").unwrap();
    assert_eq!(
        kind(h.vault.encrypt(&limited, b"x", b"")),
        ErrorKind::Denied
    );
    let limited_id = h.vault.key(&limited).unwrap().id();
    let denied = audited(
        &h.vault,
        AuditOperation::Encrypt,
        Some("denied"),
        Some(limited_id),
    );
    assert_eq!(denied.len(), 1);
    assert_eq!(
        denied[0].event.outcome,
        Outcome::Denied {
            reason: keyvault_core::Denial::UsageLimitReached { max_operations: 1 }
        }
    );
}

fn audit_log_filters_by_time<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("timed", KeyAlgorithm::default());
    h.vault.encrypt(&key, b"0", b"").unwrap();
    h.clock.advance(HOUR);
    h.vault.encrypt(&key, b"1", b"").unwrap();
    h.vault.encrypt(&key, b"1", b"").unwrap();
    h.clock.advance(HOUR);
    h.vault.encrypt(&key, b"2", b"").unwrap();
    let encrypts = |since: Option<Timestamp>, until: Option<Timestamp>| {
        h.vault
            .audit_log(&AuditFilter {
                operation: Some(AuditOperation::Encrypt),
                since,
                until,
                ..AuditFilter::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(encrypts(None, None), 4);
    assert_eq!(encrypts(Some(at(START, HOUR)), None), 3);
    assert_eq!(encrypts(None, Some(at(START, HOUR))), 1);
    assert_eq!(
        encrypts(Some(at(START, HOUR)), Some(at(START, 2 * HOUR))),
        2
    );
    assert_eq!(encrypts(Some(at(START, 3 * HOUR)), None), 0);
}

fn verify_audit_passes_on_a_busy_vault<B: TestBackend>(h: &mut Harness<B>) {
    let keys: Vec<_> = AEADS
        .into_iter()
        .enumerate()
        .map(|(i, algorithm)| h.key(&format!("busy-{i}"), algorithm))
        .collect();
    let mac = h.key("busy-mac", KeyAlgorithm::HmacSha256);
    let limited = h.key_with(spec(
        "busy-limited",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_max_operations(20),
    ));
    for round in 0..60 {
        let key = &keys[round % keys.len()];
        let envelope = h.vault.encrypt(key, b"payload", b"aad").unwrap();
        h.vault.decrypt(&envelope, b"aad").unwrap();
        assert_eq!(
            kind(h.vault.decrypt(&envelope, b"wrong")),
            ErrorKind::Authentication
        );
        let data = round.to_be_bytes();
        let signature = h.vault.sign(&mac, &data).unwrap();
        h.vault.verify(&mac, &data, &signature).unwrap();
        let limited_result = h.vault.encrypt(&limited, b"x", b"");
        assert_eq!(limited_result.is_ok(), round < 20, "round {round}");
        if round % 20 == 19 {
            h.reopen();
        }
        if round.is_multiple_of(25) {
            h.vault.lock().unwrap();
            h.vault.unlock(PASSWORD).unwrap();
        }
    }
    let logged = h.vault.audit_log(&AuditFilter::default()).unwrap().len() as u64;
    assert!(logged > 360, "{logged} records");
    let report = h.vault.verify_audit().unwrap();
    assert_eq!(report.records, logged);
    // The check is logged too, and the chain still verifies afterwards.
    let after = h.vault.audit_log(&AuditFilter::default()).unwrap();
    assert_eq!(after.len() as u64, logged + 1);
    assert_eq!(
        after.last().unwrap().event.operation,
        AuditOperation::VerifyAudit
    );
    h.reopen();
    h.vault.verify_audit().unwrap();
}

/// Putting back an older metadata record and deleting the audit segments written after it leaves
/// a shorter chain that verifies on its own (docs/STORAGE.md, "Known limits"); opening the vault
/// refuses it (the record head), and a head recorded earlier outside the vault catches it too.
fn a_rolled_back_audit_log_fails_against_a_recorded_head<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("anchored", KeyAlgorithm::default());
    h.vault.encrypt(&key, b"x", b"").unwrap();
    let early = h.vault.verify_audit().unwrap();
    assert_eq!(early.head.count, early.records);
    h.vault.flush_audit().unwrap();
    let old_meta = h.records(b'm');
    let old_audit: Vec<_> = h.records(b'a').into_iter().map(|r| r.key).collect();

    for _ in 0..5 {
        h.vault.encrypt(&key, b"y", b"").unwrap();
        h.vault.flush_audit().unwrap();
    }
    let late = h.vault.verify_audit().unwrap();
    assert!(late.records > early.records + 5);
    h.vault.verify_audit_since(&early.head).unwrap();
    h.vault.verify_audit_since(&late.head).unwrap();
    h.vault.verify_audit_since(&ChainHead::GENESIS).unwrap();
    h.vault.flush_audit().unwrap();

    // Roll the metadata and the log back to the early state.
    let mut batch = Batch::new();
    for record in h.records(b'm') {
        let old = old_meta.iter().find(|old| old.key == record.key).unwrap();
        batch = batch.put(
            record.key,
            old.value.clone(),
            Expect::Revision(record.revision),
        );
    }
    for record in h.records(b'a') {
        if !old_audit.contains(&record.key) {
            batch = batch.delete(record.key, Expect::Revision(record.revision));
        }
    }
    h.vault.dangerous().backend().commit(&batch).unwrap();
    // The metadata record is older than the file's last commit: a new client refuses the vault.
    assert!(matches!(
        h.try_open(PASSWORD),
        Err(StoreError::RecordsRolledBack {
            damage: RecordDamage::Head
        })
    ));

    // A client that had it open reads the shorter chain, which verifies on its own.
    let alone = h.vault.verify_audit().unwrap();
    assert!(alone.records < late.records, "{alone:?} {late:?}");
    h.vault.verify_audit_since(&early.head).unwrap();
    let err = h.vault.verify_audit_since(&late.head).unwrap_err();
    assert!(
        matches!(err, StoreError::AuditRollback { anchored, found } if anchored == late.records && found < anchored),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Integrity);

    // A head of the right length but another MAC (another vault's, say) is refused too.
    let forged = ChainHead {
        count: early.head.count,
        last_mac: late.head.last_mac,
    };
    assert!(matches!(
        h.vault.verify_audit_since(&forged),
        Err(StoreError::AuditRollback { .. })
    ));
}

/// A vault whose audit log was committed in several pieces; returns the stored audit records.
fn with_audit_records<B: TestBackend>(h: &Harness<B>) -> Vec<keyvault_store::Record> {
    let key = h.key("audited", KeyAlgorithm::default());
    for _ in 0..5 {
        h.vault.encrypt(&key, b"x", b"").unwrap();
        h.vault.flush_audit().unwrap();
    }
    h.vault.verify_audit().unwrap();
    let records = h.records(b'a');
    assert!(records.len() >= 8, "{} audit records", records.len());
    records
}

fn assert_audit_broken<B: TestBackend>(vault: &Vault<B>) {
    let err = vault.verify_audit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err:?}");
    // It stays broken.
    assert_eq!(kind(vault.verify_audit()), ErrorKind::Integrity);
}

fn deleting_an_audit_record_is_detected<B: TestBackend>(h: &mut Harness<B>) {
    let records = with_audit_records(h);
    let victim = &records[3];
    h.vault
        .dangerous()
        .backend()
        .commit(&Batch::new().delete(victim.key.clone(), Expect::Revision(victim.revision)))
        .unwrap();
    assert_audit_broken(&h.vault);
    assert!(matches!(
        h.vault.verify_audit(),
        Err(StoreError::Core(keyvault_core::Error::AuditChain { .. }))
    ));
}

fn truncating_the_audit_log_is_detected<B: TestBackend>(h: &mut Harness<B>) {
    let records = with_audit_records(h);
    let mut batch = Batch::new();
    for record in &records[records.len() - 2..] {
        batch = batch.delete(record.key.clone(), Expect::Revision(record.revision));
    }
    h.vault.dangerous().backend().commit(&batch).unwrap();
    assert_audit_broken(&h.vault);
}

fn overwriting_an_audit_record_is_detected<B: TestBackend>(h: &mut Harness<B>) {
    let records = with_audit_records(h);
    // Another record's sealed value under this record's key: it no longer opens.
    h.vault
        .dangerous()
        .backend()
        .commit(&Batch::new().put(
            records[4].key.clone(),
            records[1].value.clone(),
            Expect::Revision(records[4].revision),
        ))
        .unwrap();
    let err = h.vault.verify_audit().unwrap_err();
    assert!(matches!(err, StoreError::Tampered { .. }), "{err:?}");
    assert_eq!(
        kind(h.vault.audit_log(&AuditFilter::default())),
        ErrorKind::Integrity
    );

    // A flipped bit in a sealed record is caught the same way.
    let fresh = B::harness(AuditCommit::default());
    let records = with_audit_records(&fresh);
    let mut value = records[2].value.clone();
    let middle = value.len() / 2;
    value[middle] ^= 0x04;
    fresh
        .vault
        .dangerous()
        .backend()
        .commit(&Batch::new().put(records[2].key.clone(), value, Expect::Any))
        .unwrap();
    assert_audit_broken(&fresh.vault);
}

fn failed_uses_are_attributed_to_their_key<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("probed", KeyAlgorithm::default());
    let mac = h.key("probed-mac", KeyAlgorithm::HmacSha256);
    let key_id = h.vault.key(&key).unwrap().id();
    let mac_id = h.vault.key(&mac).unwrap().id();
    let envelope = h.vault.encrypt(&key, b"x", b"aad").unwrap();
    let signature = h.vault.sign(&mac, b"doc").unwrap();
    // Someone probes the key with wrong AAD and forged MACs: the log must say which key.
    assert_eq!(
        kind(h.vault.decrypt(&envelope, b"guess")),
        ErrorKind::Authentication
    );
    assert_eq!(
        kind(h.vault.verify(&mac, b"forged", &signature)),
        ErrorKind::Authentication
    );
    assert_eq!(
        audited(
            &h.vault,
            AuditOperation::Decrypt,
            Some("error"),
            Some(key_id)
        )
        .len(),
        1
    );
    assert_eq!(
        audited(
            &h.vault,
            AuditOperation::Verify,
            Some("error"),
            Some(mac_id)
        )
        .len(),
        1
    );
}

/// How many events of `operation` are committed, as another client of the store sees them.
fn committed<B: Backend>(reader: &Vault<B>, operation: AuditOperation) -> usize {
    audited(reader, operation, None, None).len()
}

fn audit_commit_modes<B: TestBackend>() {
    // Synchronous: every usage event is committed when the call returns.
    let sync = B::harness(AuditCommit::Synchronous);
    let reader = sync.open_another();
    let key = sync.key("k", KeyAlgorithm::default());
    for i in 1..=3 {
        let envelope = sync.vault.encrypt(&key, b"x", b"").unwrap();
        assert_eq!(committed(&reader, AuditOperation::Encrypt), i);
        sync.vault.decrypt(&envelope, b"").unwrap();
        assert_eq!(committed(&reader, AuditOperation::Decrypt), i);
    }
    sync.vault.verify_audit().unwrap();

    // Grouped: usage events wait for a flush.
    let grouped = B::harness(GROUPED_MANUAL);
    let reader = grouped.open_another();
    let key = grouped.key("k", KeyAlgorithm::default());
    // Management changes commit with their event at once.
    assert_eq!(committed(&reader, AuditOperation::CreateKey), 1);
    for _ in 0..5 {
        grouped.vault.encrypt(&key, b"x", b"").unwrap();
    }
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 0);
    grouped.vault.flush_audit().unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 5);
    grouped.vault.flush_audit().unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 5);
    // A management change commits what waits first, in order, then itself.
    for _ in 0..3 {
        grouped.vault.encrypt(&key, b"x", b"").unwrap();
    }
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 5);
    grouped.vault.rotate(&key).unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 8);
    let log = reader.audit_log(&AuditFilter::default()).unwrap();
    let tail: Vec<AuditOperation> = log[log.len() - 4..]
        .iter()
        .map(|record| record.event.operation)
        .collect();
    assert_eq!(
        tail,
        [
            AuditOperation::Encrypt,
            AuditOperation::Encrypt,
            AuditOperation::Encrypt,
            AuditOperation::Rotate
        ]
    );
    // Reading the log from the vault itself commits its own waiting events first.
    grouped.vault.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 8);
    assert_eq!(committed(&grouped.vault, AuditOperation::Encrypt), 9);
    // Locking flushes.
    grouped.vault.encrypt(&key, b"x", b"").unwrap();
    grouped.vault.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 9);
    grouped.vault.lock().unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 11);
    grouped.vault.unlock(PASSWORD).unwrap();
    // Dropping a client flushes what it buffered.
    let other = grouped.open_another();
    other.encrypt(&key, b"x", b"").unwrap();
    other.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 11);
    drop(other);
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 13);
    grouped.vault.verify_audit().unwrap();

    // Grouped by count: the background writer commits groups while operations go on, and an
    // operation that would leave max_events waiting commits them itself first. Uncommitted are
    // at most those waiting and those of the commit under way: fewer than twice max_events.
    let (counted, reader, key) = grouped_with_reader::<B>(4, Duration::from_secs(3600));
    for done in 1..=9 {
        counted.vault.encrypt(&key, b"x", b"").unwrap();
        let waiting = done - committed(&reader, AuditOperation::Encrypt);
        assert!(
            waiting < 8,
            "{waiting} events uncommitted after {done} encryptions"
        );
    }
    // The writer commits once an eighth of max_events wait (here a single event): all of them.
    wait_until_committed(&reader, AuditOperation::Encrypt, 9);

    // Grouped by age: an event older than max_delay commits at the next operation.
    let (delayed, reader, key) = grouped_with_reader::<B>(1000, Duration::from_secs(3600));
    delayed.vault.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 0);
    // The age is read from the vault's clock, not the wall clock: no sleeping.
    delayed.clock.advance(Duration::from_millis(3_599_999));
    delayed.vault.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 0);
    delayed.clock.advance(Duration::from_millis(1));
    delayed.vault.encrypt(&key, b"x", b"").unwrap();
    assert_eq!(committed(&reader, AuditOperation::Encrypt), 3);

    // An idle vault's writer commits what waits after about max_delay, with no further
    // operation.
    let (idle, reader, key) = grouped_with_reader::<B>(1000, Duration::from_millis(20));
    idle.vault.encrypt(&key, b"x", b"").unwrap();
    wait_until_committed(&reader, AuditOperation::Encrypt, 1);
}

/// A vault with grouped audit, a second handle on it that reads the log, and a key "k".
fn grouped_with_reader<B: TestBackend>(
    max_events: usize,
    max_delay: Duration,
) -> (Harness<B>, Vault<B>, keyvault_core::KeyName) {
    let harness = B::harness(AuditCommit::Grouped {
        max_events,
        max_delay,
    });
    let reader = harness.open_another();
    let key = harness.key("k", KeyAlgorithm::default());
    (harness, reader, key)
}

/// Wait (at most a minute, so a broken writer fails the test rather than hanging it) until at
/// least `count` events of `operation` are committed.
fn wait_until_committed<B: Backend>(reader: &Vault<B>, operation: AuditOperation, count: usize) {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while committed(reader, operation) < count {
        assert!(
            std::time::Instant::now() < give_up,
            "only {} of {count} events were committed",
            committed(reader, operation)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------------
// Tampering with the store, secrets

on_both_backends!(
    a_key_record_copied_over_another_is_tampered,
    a_name_entry_copied_over_another_is_tampered,
    a_counter_record_copied_over_another_is_tampered,
    no_secret_in_debug_output,
    the_store_holds_no_plaintext,
    data_keys_unwrap_under_an_unwrap_policy,
    own_changes_reach_the_key_cache,
);

/// Which of `names` fail to read with `Tampered`, and that the others read fine.
fn tampered_names<B: TestBackend>(h: &Harness<B>, names: &[keyvault_core::KeyName]) -> usize {
    names
        .iter()
        .filter(|key| match h.vault.key(key) {
            Ok(metadata) => {
                assert_eq!(metadata.name(), *key);
                false
            }
            Err(StoreError::Tampered { .. }) => true,
            Err(other) => panic!("reading {key}: {other:?}"),
        })
        .count()
}

fn a_key_record_copied_over_another_is_tampered<B: TestBackend>(h: &mut Harness<B>) {
    let a = h.key("alpha", KeyAlgorithm::default());
    let b = h.key("bravo", KeyAlgorithm::default());
    let envelopes = [
        h.vault.encrypt(&a, b"a", b"").unwrap(),
        h.vault.encrypt(&b, b"b", b"").unwrap(),
    ];
    let records = h.records(b'k');
    assert_eq!(records.len(), 2);
    h.vault
        .dangerous()
        .backend()
        .commit(&Batch::new().put(
            records[1].key.clone(),
            records[0].value.clone(),
            Expect::Revision(records[1].revision),
        ))
        .unwrap();
    // Exactly one key is now unreadable, as tampered (never silently the other key).
    assert_eq!(tampered_names(h, &[a.clone(), b.clone()]), 1);
    let outcomes: Vec<bool> = envelopes
        .iter()
        .map(|envelope| match h.vault.decrypt(envelope, b"") {
            Ok(_) => true,
            Err(StoreError::Tampered { .. }) => false,
            Err(other) => panic!("decrypting: {other:?}"),
        })
        .collect();
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1);
    assert!(matches!(
        h.vault.list_keys(&KeyFilter::default()),
        Err(StoreError::Tampered { .. })
    ));
    // Reopening does not launder it: the vault no longer opens.
    assert!(matches!(
        h.try_open(PASSWORD),
        Err(StoreError::RecordsRolledBack { .. })
    ));
    assert_eq!(tampered_names(h, &[a, b]), 1);
}

fn a_name_entry_copied_over_another_is_tampered<B: TestBackend>(h: &mut Harness<B>) {
    let a = h.key("alpha", KeyAlgorithm::default());
    let b = h.key("bravo", KeyAlgorithm::default());
    let records = h.records(b'n');
    assert_eq!(records.len(), 2);
    h.vault
        .dangerous()
        .backend()
        .commit(&Batch::new().put(
            records[1].key.clone(),
            records[0].value.clone(),
            Expect::Any,
        ))
        .unwrap();
    assert_eq!(tampered_names(h, &[a, b]), 1);
}

fn a_counter_record_copied_over_another_is_tampered<B: TestBackend>(h: &mut Harness<B>) {
    let policy = KeyPolicy::default().with_max_operations(1000);
    let a = h.key_with(spec("alpha", KeyAlgorithm::default(), policy.clone()));
    let b = h.key_with(spec("bravo", KeyAlgorithm::default(), policy));
    h.vault.encrypt(&a, b"x", b"").unwrap();
    h.vault.encrypt(&b, b"x", b"").unwrap();
    let records = h.records(b'c');
    assert_eq!(records.len(), 2);
    // Another process, open before the damage and yet to read the counters from the store.
    let other = h.open_another();
    h.vault
        .dangerous()
        .backend()
        .commit(&Batch::new().put(
            records[1].key.clone(),
            records[0].value.clone(),
            Expect::Any,
        ))
        .unwrap();
    // A new process refuses the vault.
    assert!(matches!(
        h.try_open(PASSWORD),
        Err(StoreError::RecordsRolledBack { .. })
    ));
    // The process that had it open finds the copied counter does not open; its first commit
    // after the damage also reports that the file's commits are out of step with the head.
    let failures = [&a, &b]
        .iter()
        .filter(|key| match other.encrypt(key, b"x", b"") {
            Ok(_)
            | Err(StoreError::RecordsRolledBack {
                damage: RecordDamage::Head,
            }) => false,
            Err(StoreError::Tampered { .. }) => true,
            Err(other) => panic!("encrypting with {key}: {other:?}"),
        })
        .count();
    assert_eq!(failures, 1);
}

fn no_secret_in_debug_output<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("k", KeyAlgorithm::default());
    for text in [
        format!("{:?}", h.vault),
        format!("{:#?}", h.vault.options()),
    ] {
        assert!(!text.contains("correct horse"), "{text}");
        assert!(!text.contains("battery"), "{text}");
    }

    let data_key = h.vault.generate_data_key(&key, b"").unwrap();
    let secret = data_key.plaintext.expose_secret();
    let forms = [
        hex::encode(secret),
        hex::encode_upper(secret),
        format!("{:?}", &secret[..6])
            .trim_end_matches(']')
            .to_owned(),
        format!("{:#?}", &secret[..3])
            .trim_end_matches(']')
            .to_owned(),
    ];
    for text in [format!("{data_key:?}"), format!("{data_key:#?}")] {
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "DataKey debug shows {form}: {text}"
            );
        }
    }

    // Errors name what failed, never the secret involved.
    let envelope = h.vault.encrypt(&key, b"the plaintext", b"the aad").unwrap();
    let errors = [
        h.try_open(b"the wrong password").unwrap_err(),
        h.vault.decrypt(&envelope, b"another aad").unwrap_err(),
        h.vault.sign(&key, b"the plaintext").unwrap_err(),
    ];
    for err in &errors {
        for text in [format!("{err:?}"), err.to_string()] {
            for secret in [
                "the wrong password",
                "the plaintext",
                "the aad",
                "another aad",
            ] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }
}

fn the_store_holds_no_plaintext<B: TestBackend>(h: &mut Harness<B>) {
    let mut new = NewKey::new(name("customer-ledger"), KeyAlgorithm::default());
    new.labels
        .insert("owner".to_owned(), "finance-team-label".to_owned());
    new.description = "a distinctive description".to_owned();
    let key = h.key_with(new);
    let id = h.vault.key(&key).unwrap().id();
    let data_key = h.vault.generate_data_key(&key, b"").unwrap();
    h.vault
        .encrypt(&key, b"a very recognisable plaintext", b"")
        .unwrap();
    h.vault.flush_audit().unwrap();
    let needles: Vec<Vec<u8>> = vec![
        b"customer-ledger".to_vec(),
        b"finance-team-label".to_vec(),
        b"a distinctive description".to_vec(),
        b"a very recognisable plaintext".to_vec(),
        id.as_bytes().to_vec(),
        id.to_string().into_bytes(),
        data_key.plaintext.expose_secret().to_vec(),
        hex::encode(data_key.plaintext.expose_secret()).into_bytes(),
    ];
    let contains = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    };
    for record in h.vault.dangerous().backend().scan_prefix(&[]).unwrap() {
        for needle in &needles {
            assert!(!contains(&record.key, needle));
            assert!(!contains(&record.value, needle));
        }
    }
    // The file itself (and its log) as well.
    if let Some(dir) = &h.dir {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for needle in &needles {
                assert!(!contains(&bytes, needle));
            }
        }
    }
}

fn data_keys_unwrap_under_an_unwrap_policy<B: TestBackend>(h: &mut Harness<B>) {
    // A key-encryption key that may wrap and unwrap, and do nothing else.
    let kek = h.key_with(spec(
        "kek",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([KeyOperation::Wrap, KeyOperation::Unwrap]),
    ));
    let data_key = h.vault.generate_data_key(&kek, b"").unwrap();
    let unwrapped = h.vault.unwrap_data_key(&data_key.wrapped, b"").unwrap();
    assert_eq!(
        unwrapped.expose_secret(),
        data_key.plaintext.expose_secret()
    );
    // The same envelope never opens as data, whatever the key allows.
    assert_eq!(
        kind(h.vault.decrypt(&data_key.wrapped, b"")),
        ErrorKind::Denied
    );
    assert_eq!(
        denial(h.vault.encrypt(&kek, b"x", b"")),
        "operation_not_allowed"
    );

    // The converse: a key that may decrypt but not unwrap does not hand out data keys.
    let no_unwrap = h.key_with(spec(
        "no-unwrap",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([KeyOperation::Wrap, KeyOperation::Decrypt]),
    ));
    let data_key = h.vault.generate_data_key(&no_unwrap, b"").unwrap();
    assert_eq!(
        denial(h.vault.unwrap_data_key(&data_key.wrapped, b"")),
        "operation_not_allowed"
    );
    let id = h.vault.key(&kek).unwrap().id();
    assert_eq!(
        audited(&h.vault, AuditOperation::Unwrap, Some("ok"), Some(id)).len(),
        1
    );
}

fn own_changes_reach_the_key_cache<B: TestBackend>(h: &mut Harness<B>) {
    let key = h.key("k", KeyAlgorithm::default());
    // Any use loads the key into this vault's cache.
    h.vault.encrypt(&key, b"x", b"").unwrap();
    h.vault.transition(&key, Transition::Disable).unwrap();
    assert_eq!(h.vault.key(&key).unwrap().state(), KeyState::Disabled);
    assert_eq!(denial(h.vault.encrypt(&key, b"x", b"")), "key_state");
    h.vault.transition(&key, Transition::Enable).unwrap();
    h.vault.rotate(&key).unwrap();
    assert_eq!(h.vault.key(&key).unwrap().latest_version(), v(2));
    assert_eq!(version_of(&h.vault.encrypt(&key, b"x", b"").unwrap()), 2);
}

/// Compile-time check that the vault can be shared between threads.
#[allow(dead_code)]
fn vaults_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Vault<SharedMemory>>();
    shareable::<Vault<FileBackend>>();
}

/// The last successful audit record of `operation` about key `id`.
fn last_change<B: Backend>(vault: &Vault<B>, operation: AuditOperation, id: KeyId) -> AuditRecord {
    audited(vault, operation, Some("ok"), Some(id))
        .pop()
        .unwrap_or_else(|| panic!("no {operation:?} record"))
}

/// Every row of the key transition table, done through the vault: its audit record says the
/// state before and after exactly as the metadata does, and names the version that encrypts.
#[test]
fn key_transition_audit_records_match_the_metadata() {
    use keyvault_core::TransitionKind;
    let h = Harness::memory(AuditCommit::Synchronous);
    let vault = &h.vault;
    let schedule = |clock: &keyvault_store::ManualClock| Transition::ScheduleDeletion {
        until: clock.now().saturating_add(2 * DAY),
    };
    let mut rows = 0;
    for (index, &(from, via, _)) in keyvault_core::KEY_TRANSITIONS.iter().enumerate() {
        let mut spec = NewKey::new(name(&format!("k{index}")), KeyAlgorithm::default());
        spec.pending = from == StateKind::Pending;
        let key = h.key_with(spec);
        if from != StateKind::Pending {
            vault.rotate(&key).unwrap();
        }
        let path: Vec<Transition> = match from {
            StateKind::Pending | StateKind::Active => vec![],
            StateKind::Disabled => vec![Transition::Disable],
            StateKind::Deprecated => vec![Transition::Deprecate],
            StateKind::Revoked => vec![Transition::Revoke],
            StateKind::PendingDeletion => vec![Transition::Disable, schedule(&h.clock)],
            StateKind::Destroyed => unreachable!("no row leaves Destroyed"),
        };
        for step in path {
            vault.transition(&key, step).unwrap();
        }
        let before = vault.key(&key).unwrap();
        assert_eq!(before.state().kind(), from);
        let transition = match via {
            TransitionKind::Activate => Transition::Activate,
            TransitionKind::Disable => Transition::Disable,
            TransitionKind::Enable => Transition::Enable,
            TransitionKind::Deprecate => Transition::Deprecate,
            TransitionKind::Revoke => Transition::Revoke,
            TransitionKind::ScheduleDeletion => schedule(&h.clock),
            TransitionKind::CancelDeletion => Transition::CancelDeletion,
            TransitionKind::Destroy => {
                h.clock.advance(3 * DAY);
                Transition::Destroy
            }
        };
        let after = vault.transition(&key, transition).unwrap();
        let operation = AuditOperation::from(via);
        let record = last_change(vault, operation, before.id());
        assert_eq!(detail(&record, "from"), from.as_str(), "{from} --{via}-->");
        assert_eq!(
            detail(&record, "to"),
            after.state().kind().as_str(),
            "{from} --{via}-->"
        );
        assert_eq!(record.event.key_version, after.encryption_version());
        rows += 1;
    }
    assert_eq!(rows, keyvault_core::KEY_TRANSITIONS.len());
}

/// Every row of the version transition table, done on v1 of a key whose v2 encrypts: the audit
/// record names v1 (in its version column and details) and its state before and after.
/// Regression: these records used to log the old state as `to` and the encrypting version.
#[test]
fn version_transition_audit_records_match_the_metadata() {
    let h = Harness::memory(AuditCommit::Synchronous);
    let vault = &h.vault;
    let v1 = KeyVersion::FIRST;
    for (index, &(from, via, to)) in keyvault_core::VERSION_TRANSITIONS.iter().enumerate() {
        let key = h.key(&format!("v{index}"), KeyAlgorithm::default());
        vault.rotate(&key).unwrap();
        let path: &[VersionTransition] = match from {
            VersionState::Enabled => &[],
            VersionState::Disabled => &[VersionTransition::Disable],
            VersionState::Revoked => &[VersionTransition::Revoke],
            VersionState::Destroyed => unreachable!("no row leaves Destroyed"),
        };
        for &step in path {
            vault.version_transition(&key, v1, step).unwrap();
        }
        let before = vault.key(&key).unwrap();
        assert_eq!(before.version(v1).unwrap().state, from);
        let after = vault.version_transition(&key, v1, via).unwrap();
        assert_eq!(after.version(v1).unwrap().state, to);
        let operation = AuditOperation::from(via);
        let record = last_change(vault, operation, before.id());
        assert_eq!(record.event.key_version, Some(v1), "{from} --{via:?}-->");
        assert_eq!(detail(&record, "version"), "1");
        assert_eq!(
            detail(&record, "from"),
            from.as_str(),
            "{from} --{via:?}-->"
        );
        assert_eq!(detail(&record, "to"), to.as_str(), "{from} --{via:?}-->");
    }
}

/// The old keyslot's `wrapped` hex, read from the header record in the file.
fn wrapped_slot_hex(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    let header: Vec<u8> = conn
        .query_row(
            "SELECT value FROM kv_records WHERE key = x'68'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["slots"][0]["kind"]["password"]["wrapped"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Whether `needle` occurs in the vault file or its write-ahead log.
fn on_disk(path: &std::path::Path, needle: &[u8]) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), std::path::PathBuf::from(wal)]
        .iter()
        .filter_map(|file| std::fs::read(file).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
}

/// After a password change no byte of the old keyslot is left in the vault file or its log,
/// even with another client's idle connection open; a reader holding a transaction open
/// throughout makes the change report an incomplete scrub, and a later scrub completes.
/// Regression: the old wrapped master key stayed in both files.
#[test]
fn a_password_change_leaves_no_copy_of_the_old_keyslot() {
    let h = Harness::file(AuditCommit::Synchronous);
    let path = h.path();
    h.key("k", KeyAlgorithm::default());
    let idle_client = h.open_another();
    idle_client.key(&name("k")).unwrap();
    let old = wrapped_slot_hex(&path);
    assert!(on_disk(&path, old.as_bytes()));
    assert_eq!(
        h.vault.change_password(b"a new password").unwrap(),
        keyvault_store::Scrub::Complete
    );
    assert!(
        !on_disk(&path, old.as_bytes()),
        "the old keyslot is still on disk"
    );
    assert_ne!(wrapped_slot_hex(&path), old);

    // A reader in the middle of a transaction keeps the old frames alive.
    let second = wrapped_slot_hex(&path);
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM kv_records;")
        .unwrap();
    let scrub = h.vault.change_password(PASSWORD).unwrap();
    assert_eq!(scrub, keyvault_store::Scrub::Incomplete);
    assert!(on_disk(&path, second.as_bytes()));
    reader.execute_batch("COMMIT;").unwrap();
    drop(reader);
    assert_eq!(h.vault.scrub().unwrap(), keyvault_store::Scrub::Complete);
    assert!(!on_disk(&path, second.as_bytes()));
    drop(idle_client);
}

/// Every (sealed as, opened as) pair through the vault, with a key allowed everything: data
/// opens only with decrypt, a data key only with unwrap_data_key, a stream key only with
/// unwrap_stream_key; each refusal counts no use and names both purposes. And rewrap keeps the
/// purpose, checked as unwrap and wrap for keys.
#[test]
fn each_envelope_opens_only_through_its_own_operation() {
    let h = Harness::memory(AuditCommit::Synchronous);
    let vault = &h.vault;
    let key = h.key("all", KeyAlgorithm::default());
    let data = vault.encrypt(&key, b"data", b"aad").unwrap();
    let data_key = vault.generate_data_key(&key, b"aad").unwrap().wrapped;
    let stream_key = vault.generate_stream_key(&key, b"aad").unwrap().wrapped;
    let sealed = [
        (Purpose::Data, &data),
        (Purpose::DataKey, &data_key),
        (Purpose::StreamKey, &stream_key),
    ];
    let mut pairs = 0;
    for (sealed_as, envelope) in sealed {
        for opened_as in Purpose::ALL {
            let opened = match opened_as {
                Purpose::Data => vault.decrypt(envelope, b"aad").map(|p| p.to_vec()),
                Purpose::DataKey => vault
                    .unwrap_data_key(envelope, b"aad")
                    .map(|k| k.expose_secret().to_vec()),
                Purpose::StreamKey => vault
                    .unwrap_stream_key(envelope, b"aad")
                    .map(|k| k.expose_secret().to_vec()),
            };
            if sealed_as == opened_as {
                assert!(opened.is_ok(), "{sealed_as:?} as {opened_as:?}");
            } else {
                assert!(
                    matches!(
                        opened,
                        Err(StoreError::Core(keyvault_core::Error::WrongPurpose { expected, found }))
                            if expected == opened_as && found == sealed_as
                    ),
                    "{sealed_as:?} as {opened_as:?}"
                );
            }
            pairs += 1;
        }
        let rewrapped = vault.rewrap(envelope, b"aad").unwrap();
        assert_eq!(
            Envelope::parse(&rewrapped).unwrap().header().purpose,
            sealed_as
        );
    }
    assert_eq!(pairs, 9);

    // Rewrapping a wrapped key needs unwrap and wrap, not decrypt and encrypt.
    let only_data = h.key_with(spec(
        "only-data",
        KeyAlgorithm::default(),
        KeyPolicy::default().allow_only([
            KeyOperation::Encrypt,
            KeyOperation::Decrypt,
            KeyOperation::Wrap,
        ]),
    ));
    let wrapped = vault.generate_data_key(&only_data, b"").unwrap().wrapped;
    assert_eq!(denial(vault.rewrap(&wrapped, b"")), "operation_not_allowed");
    let plain = vault.encrypt(&only_data, b"x", b"").unwrap();
    assert!(vault.rewrap(&plain, b"").is_ok());
}
