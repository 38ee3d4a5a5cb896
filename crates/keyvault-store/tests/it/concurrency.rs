//! The Vault under concurrent use, on the memory backend and the SQLite file backend alike: one
//! `Vault` shared between threads through an `Arc` (never behind an outer mutex), and several
//! `Vault` instances on one store acting as separate clients.
//!
//! Every test ends by checking the invariants from a fresh client of the store: every
//! acknowledged key exists, version numbers strictly increase without gaps, no usage limit was
//! passed, and the audit chain verifies.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{Harness, PASSWORD, TestBackend, name, version_of};
use keyvault_core::{
    AuditOperation, KeyAlgorithm, KeyName, KeyPolicy, KeyState, KeyVersion, OutcomeKind,
    RotationTriggers, StateKind, Transition,
};
use keyvault_store::{
    AuditCommit, AuditFilter, KeyFilter, ManualClock, NewKey, StoreError, Vault, VaultOptions,
};
use keyvault_test_support::Rng;

on_both_backend_types!(
    concurrent_reads,
    concurrent_writes,
    mixed_reads_and_writes,
    several_clients_on_one_store,
    stress_20_threads_x_100_operations,
    no_deadlock_under_a_complex_workload,
    concurrent_rotate_and_encrypt,
    use_count_rotation_is_never_exceeded_under_concurrency,
    a_change_is_never_hidden_by_a_stale_cache_entry,
    a_fresh_ciphertext_always_decrypts_during_rotations,
    uses_are_not_refused_as_busy_under_contention,
);

/// A vault shared through an `Arc`, and what is needed to open more clients of its store.
struct Shared<B: TestBackend> {
    vault: Arc<Vault<B>>,
    clock: Arc<ManualClock>,
    audit_commit: AuditCommit,
    // Declared last, so the vault is dropped (and flushed) before its directory goes.
    _dir: Option<tempfile::TempDir>,
}

impl<B: TestBackend> Shared<B> {
    fn new() -> Self {
        Self::with(AuditCommit::default())
    }

    fn with(audit_commit: AuditCommit) -> Self {
        let Harness {
            vault,
            clock,
            audit_commit,
            dir,
        } = B::harness(audit_commit);
        Shared {
            vault: Arc::new(vault),
            clock,
            audit_commit,
            _dir: dir,
        }
    }

    fn options(&self) -> VaultOptions {
        common::options(&self.clock, self.audit_commit)
    }

    /// Another client of the same store, as another process would open it.
    fn client(&self) -> Vault<B> {
        Vault::open(
            self.vault.dangerous().backend().reconnect(),
            PASSWORD,
            self.options(),
        )
        .unwrap()
    }

    fn create(&self, key: &str, algorithm: KeyAlgorithm) -> KeyName {
        self.create_with(key, algorithm, KeyPolicy::default())
    }

    fn create_with(&self, key: &str, algorithm: KeyAlgorithm, policy: KeyPolicy) -> KeyName {
        let key = name(key);
        let mut spec = NewKey::new(key.clone(), algorithm);
        spec.policy = policy;
        self.vault.create_key(spec).unwrap();
        key
    }
}

/// What the threads of a test acknowledged, to be checked afterwards.
#[derive(Default)]
struct Acknowledged {
    /// Keys whose creation returned Ok.
    keys: BTreeSet<KeyName>,
    /// Versions returned by successful rotations, per key.
    rotations: BTreeMap<KeyName, Vec<u32>>,
    /// Successful uses of keys with a `max_operations` limit: key, limit, uses.
    limited: BTreeMap<KeyName, (u64, u64)>,
}

impl Acknowledged {
    fn merge(&mut self, other: Acknowledged) {
        self.keys.extend(other.keys);
        for (key, versions) in other.rotations {
            self.rotations.entry(key).or_default().extend(versions);
        }
        for (key, (max, uses)) in other.limited {
            let entry = self.limited.entry(key).or_insert((max, 0));
            entry.1 += uses;
        }
    }

    fn rotated(&mut self, key: &KeyName, version: KeyVersion) {
        self.rotations
            .entry(key.clone())
            .or_default()
            .push(version.get());
    }

    fn used_limited(&mut self, key: &KeyName, max: u64) {
        self.limited.entry(key.clone()).or_insert((max, 0)).1 += 1;
    }
}

/// The invariants every test ends with, checked from a fresh client of the store.
fn check_invariants<B: TestBackend>(shared: &Shared<B>, acknowledged: &Acknowledged) {
    shared.vault.flush_audit().unwrap();
    let auditor = shared.client();
    let keys: BTreeMap<KeyName, keyvault_core::KeyMetadata> = auditor
        .list_keys(&KeyFilter::default())
        .unwrap()
        .into_iter()
        .map(|metadata| (metadata.name().clone(), metadata))
        .collect();
    for key in &acknowledged.keys {
        assert!(keys.contains_key(key), "acknowledged key {key} is missing");
    }
    let ids: BTreeSet<_> = keys.values().map(keyvault_core::KeyMetadata::id).collect();
    assert_eq!(ids.len(), keys.len(), "two keys share an id");
    for (key, metadata) in &keys {
        let numbers: Vec<u32> = metadata
            .versions()
            .iter()
            .map(|info| info.version.get())
            .collect();
        let expected: Vec<u32> = (1..=u32::try_from(numbers.len()).unwrap()).collect();
        assert_eq!(numbers, expected, "{key}: versions must be 1..=n");
        assert!(
            metadata
                .versions()
                .windows(2)
                .all(|pair| pair[0].created_at <= pair[1].created_at),
            "{key}: versions created out of order"
        );
        assert_eq!(auditor.key(key).unwrap(), *metadata);
    }
    for (key, versions) in &acknowledged.rotations {
        let metadata = &keys[key];
        let unique: BTreeSet<u32> = versions.iter().copied().collect();
        assert_eq!(
            unique.len(),
            versions.len(),
            "{key}: two rotations returned the same version"
        );
        // Every rotation that returned Ok added exactly one version (no lost update).
        assert!(
            metadata.latest_version().get() as usize > versions.len(),
            "{key}: {} versions after {} acknowledged rotations",
            metadata.latest_version(),
            versions.len()
        );
        assert!(
            unique
                .iter()
                .all(|v| *v >= 2 && *v <= metadata.latest_version().get())
        );
    }
    for (key, (max, uses)) in &acknowledged.limited {
        assert!(uses <= max, "{key}: {uses} uses passed the limit of {max}");
        assert_eq!(keys[key].policy().max_operations, Some(*max));
    }
    auditor.verify_audit().unwrap();
    shared.vault.verify_audit().unwrap();
}

/// Join every thread, re-raising the first panic.
fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    handles
        .into_iter()
        .map(|handle| match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}

/// Open `envelope` right after it was made, on the vault that made it, and compare.
fn round_trip<B: TestBackend>(vault: &Vault<B>, envelope: &[u8], aad: &[u8], plaintext: &[u8]) {
    match vault.decrypt(envelope, aad) {
        Ok(opened) => assert_eq!(&opened[..], plaintext),
        Err(err) => panic!(
            "a fresh envelope of v{} does not decrypt: {err:?}",
            version_of(envelope)
        ),
    }
}

/// Encrypt, failing the test on any error: threads racing for a key that rotates every few uses
/// must all get through (regression: the vault used to give up with `Busy` after 8 lost rounds).
fn encrypt_retrying<B: TestBackend>(
    vault: &Vault<B>,
    key: &KeyName,
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    vault
        .encrypt(key, plaintext, aad)
        .unwrap_or_else(|err| panic!("encrypting with {key}: {err:?}"))
}

fn is_denied(err: &StoreError, code: &str) -> bool {
    matches!(err, StoreError::Core(keyvault_core::Error::Denied { denial, .. }) if denial.code() == code)
}

// ---------------------------------------------------------------------------------------------

fn concurrent_reads<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let algorithms = [
        KeyAlgorithm::XChaCha20Poly1305,
        KeyAlgorithm::ChaCha20Poly1305,
        KeyAlgorithm::Aes256Gcm,
    ];
    let mut acknowledged = Acknowledged::default();
    let mut sealed = Vec::new();
    for (i, algorithm) in algorithms.into_iter().cycle().take(6).enumerate() {
        let key = shared.create(&format!("read-{i}"), algorithm);
        acknowledged.keys.insert(key.clone());
        for j in 0..10 {
            let plaintext = format!("key {i} message {j}");
            let aad = format!("aad {j}");
            let envelope = shared
                .vault
                .encrypt(&key, plaintext.as_bytes(), aad.as_bytes())
                .unwrap();
            sealed.push((key.clone(), envelope, plaintext, aad));
        }
    }
    let mac = shared.create("read-mac", KeyAlgorithm::HmacSha256);
    acknowledged.keys.insert(mac.clone());
    let signature = shared.vault.sign(&mac, b"document").unwrap();
    let expected: BTreeMap<KeyName, keyvault_core::KeyMetadata> = shared
        .vault
        .list_keys(&KeyFilter::default())
        .unwrap()
        .into_iter()
        .map(|metadata| (metadata.name().clone(), metadata))
        .collect();

    let sealed = Arc::new(sealed);
    let expected = Arc::new(expected);
    let threads = 8;
    let rounds = 60usize;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let vault = Arc::clone(&shared.vault);
            let sealed = Arc::clone(&sealed);
            let expected = Arc::clone(&expected);
            let start = Arc::clone(&start);
            let mac = mac.clone();
            let signature = signature.clone();
            thread::spawn(move || {
                start.wait();
                let mut rng = Rng::new(t as u64 + 1);
                for round in 0..rounds {
                    let (key, envelope, plaintext, aad) = &sealed[rng.below(sealed.len())];
                    assert_eq!(
                        &vault.decrypt(envelope, aad.as_bytes()).unwrap()[..],
                        plaintext.as_bytes()
                    );
                    assert_eq!(&vault.key(key).unwrap(), &expected[key]);
                    vault.verify(&mac, b"document", &signature).unwrap();
                    if round.is_multiple_of(20) {
                        assert_eq!(
                            vault.list_keys(&KeyFilter::default()).unwrap().len(),
                            expected.len()
                        );
                    }
                }
            })
        })
        .collect();
    join_all(handles);

    // Not one audit event was lost to concurrency.
    let decrypts = shared
        .vault
        .audit_log(&AuditFilter {
            operation: Some(AuditOperation::Decrypt),
            outcome: Some(OutcomeKind::Ok),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(decrypts.len(), threads * rounds);
    check_invariants(&shared, &acknowledged);
}

fn concurrent_writes<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let common_key = shared.create("shared", KeyAlgorithm::default());
    let mut acknowledged = Acknowledged::default();
    acknowledged.keys.insert(common_key.clone());
    let threads = 8;
    let own_keys = 4;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let vault = Arc::clone(&shared.vault);
            let start = Arc::clone(&start);
            let common_key = common_key.clone();
            thread::spawn(move || {
                let mut mine = Acknowledged::default();
                start.wait();
                // Everyone races for one name: exactly one wins.
                match vault.create_key(NewKey::new(name("contested"), KeyAlgorithm::default())) {
                    Ok(_) => {
                        mine.keys.insert(name("contested"));
                    }
                    Err(StoreError::NameTaken(_)) => {}
                    Err(other) => panic!("creating the contested key: {other:?}"),
                }
                for i in 0..own_keys {
                    let key = name(&format!("writer-{t}-{i}"));
                    vault
                        .create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))
                        .unwrap();
                    mine.keys.insert(key.clone());
                    for _ in 0..2 {
                        let metadata = vault.rotate(&key).unwrap();
                        mine.rotated(&key, metadata.latest_version());
                    }
                    let metadata = vault.rotate(&common_key).unwrap();
                    mine.rotated(&common_key, metadata.latest_version());
                }
                mine
            })
        })
        .collect();
    for mine in join_all(handles) {
        acknowledged.merge(mine);
    }

    assert_eq!(acknowledged.keys.len(), 1 + 1 + threads * own_keys);
    assert!(acknowledged.keys.contains(&name("contested")));
    let vault = &shared.vault;
    // Every rotation of the shared key landed: 1 + threads * own_keys versions, each once.
    let shared_versions = &acknowledged.rotations[&common_key];
    let mut sorted = shared_versions.clone();
    sorted.sort_unstable();
    let rotations = u32::try_from(threads * own_keys).unwrap();
    let all: Vec<u32> = (2..=1 + rotations).collect();
    assert_eq!(sorted, all);
    assert_eq!(
        vault.key(&common_key).unwrap().latest_version().get(),
        1 + rotations
    );
    for t in 0..threads {
        for i in 0..own_keys {
            let metadata = vault.key(&name(&format!("writer-{t}-{i}"))).unwrap();
            assert_eq!(metadata.latest_version().get(), 3);
        }
    }
    let count = |operation, outcome| {
        vault
            .audit_log(&AuditFilter {
                operation: Some(operation),
                outcome: Some(outcome),
                ..AuditFilter::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(
        count(AuditOperation::CreateKey, OutcomeKind::Ok),
        acknowledged.keys.len()
    );
    assert_eq!(
        count(AuditOperation::CreateKey, OutcomeKind::Error),
        threads - 1
    );
    assert_eq!(
        count(AuditOperation::Rotate, OutcomeKind::Ok),
        threads * own_keys * 3
    );
    check_invariants(&shared, &acknowledged);
}

fn mixed_reads_and_writes<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let mut acknowledged = Acknowledged::default();
    let keys: Vec<KeyName> = (0..3)
        .map(|i| shared.create(&format!("mixed-{i}"), KeyAlgorithm::default()))
        .collect();
    let flaky = shared.create("flaky", KeyAlgorithm::default());
    acknowledged.keys.extend(keys.iter().cloned());
    acknowledged.keys.insert(flaky.clone());
    let flaky_envelope = shared.vault.encrypt(&flaky, b"flaky", b"").unwrap();
    let keys = Arc::new(keys);
    let writing = Arc::new(AtomicBool::new(true));
    let readers = 4;
    let writers = 2;
    let start = Arc::new(Barrier::new(readers + writers));

    let reader_handles: Vec<_> = (0..readers)
        .map(|t| {
            let vault = Arc::clone(&shared.vault);
            let keys = Arc::clone(&keys);
            let start = Arc::clone(&start);
            let writing = Arc::clone(&writing);
            let flaky_envelope = flaky_envelope.clone();
            thread::spawn(move || {
                start.wait();
                let mut rng = Rng::new(100 + t as u64);
                let mut sealed = Vec::new();
                let mut round = 0;
                while round < 40 || (writing.load(Ordering::SeqCst) && round < 200) {
                    let key = &keys[rng.below(keys.len())];
                    let plaintext = format!("reader {t} round {round}");
                    let envelope = vault.encrypt(key, plaintext.as_bytes(), b"mixed").unwrap();
                    round_trip(&vault, &envelope, b"mixed", plaintext.as_bytes());
                    sealed.push((envelope, plaintext));
                    // The flaky key is switched on and off meanwhile: it works or is refused
                    // for its state, nothing else.
                    match vault.decrypt(&flaky_envelope, b"") {
                        Ok(plaintext) => assert_eq!(&plaintext[..], b"flaky"),
                        Err(err) => assert!(is_denied(&err, "key_state"), "{err:?}"),
                    }
                    round += 1;
                }
                sealed
            })
        })
        .collect();
    let writer_handles: Vec<_> = (0..writers)
        .map(|t| {
            let vault = Arc::clone(&shared.vault);
            let keys = Arc::clone(&keys);
            let start = Arc::clone(&start);
            let flaky = flaky.clone();
            thread::spawn(move || {
                start.wait();
                let mut mine = Acknowledged::default();
                for round in 0..8 {
                    let key = &keys[(t + round) % keys.len()];
                    let metadata = vault.rotate(key).unwrap();
                    mine.rotated(key, metadata.latest_version());
                    let new = name(&format!("new-{t}-{round}"));
                    vault
                        .create_key(NewKey::new(new.clone(), KeyAlgorithm::HmacSha256))
                        .unwrap();
                    mine.keys.insert(new.clone());
                    vault.sign(&new, b"fresh").unwrap();
                    if t == 0 {
                        vault.transition(&flaky, Transition::Disable).unwrap();
                        vault.transition(&flaky, Transition::Enable).unwrap();
                    }
                }
                mine
            })
        })
        .collect();
    for mine in join_all(writer_handles) {
        acknowledged.merge(mine);
    }
    writing.store(false, Ordering::SeqCst);
    let sealed: Vec<_> = join_all(reader_handles).into_iter().flatten().collect();

    // Everything sealed during the rotations still opens, here and in another client.
    let other = shared.client();
    for (envelope, plaintext) in &sealed {
        for vault in [&*shared.vault, &other] {
            assert_eq!(
                &vault.decrypt(envelope, b"mixed").unwrap()[..],
                plaintext.as_bytes()
            );
        }
    }
    assert_eq!(shared.vault.key(&flaky).unwrap().state(), KeyState::Active);
    assert_eq!(other.key(&flaky).unwrap().state(), KeyState::Active);
    check_invariants(&shared, &acknowledged);
}

fn several_clients_on_one_store<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let limit = 120;
    let common_key = shared.create("common", KeyAlgorithm::default());
    let limited = shared.create_with(
        "limited",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_max_operations(limit),
    );
    let doomed = shared.create("doomed", KeyAlgorithm::default());
    let doomed_envelope = shared.vault.encrypt(&doomed, b"doomed", b"").unwrap();
    let mut acknowledged = Acknowledged::default();
    acknowledged
        .keys
        .extend([common_key.clone(), limited.clone(), doomed.clone()]);

    let clients = 4;
    let attempts = 50usize;
    let start = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            // Each thread is a separate client with its own Vault, cache and counters.
            let client = Arc::new(shared.client());
            // Every client has the doomed key cached before anything else happens.
            assert_eq!(
                &client.decrypt(&doomed_envelope, b"").unwrap()[..],
                b"doomed"
            );
            let start = Arc::clone(&start);
            let (common_key, limited) = (common_key.clone(), limited.clone());
            thread::spawn(move || {
                let mut mine = Acknowledged::default();
                let mut sealed = Vec::new();
                start.wait();
                for i in 0..attempts {
                    let key = name(&format!("client-{c}-{i}"));
                    if i.is_multiple_of(5) {
                        client
                            .create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))
                            .unwrap();
                        mine.keys.insert(key);
                    }
                    if i.is_multiple_of(4) {
                        let metadata = client.rotate(&common_key).unwrap();
                        mine.rotated(&common_key, metadata.latest_version());
                    }
                    let plaintext = format!("client {c} message {i}");
                    let envelope = client
                        .encrypt(&common_key, plaintext.as_bytes(), b"")
                        .unwrap();
                    sealed.push((envelope, plaintext));
                    match client.encrypt(&limited, b"x", b"") {
                        Ok(_) => mine.used_limited(&limited, limit),
                        Err(err) => assert!(is_denied(&err, "usage_limit_reached"), "{err:?}"),
                    }
                }
                (mine, sealed, client)
            })
        })
        .collect();
    let results = join_all(handles);
    // One client revokes the doomed key: every other client refuses it at once, although
    // each had it cached.
    results[0]
        .2
        .transition(&doomed, Transition::Revoke)
        .unwrap();
    for (c, (_, _, client)) in results.iter().enumerate() {
        let err = client.decrypt(&doomed_envelope, b"").unwrap_err();
        assert!(is_denied(&err, "key_state"), "client {c}: {err:?}");
    }
    let mut sealed = Vec::new();
    for (mine, theirs, client) in results {
        acknowledged.merge(mine);
        sealed.extend(theirs);
        // A client closing flushes its audit events.
        drop(client);
    }

    // What each client sealed, every other client opens.
    let reader = shared.client();
    for (envelope, plaintext) in &sealed {
        assert_eq!(
            &reader.decrypt(envelope, b"").unwrap()[..],
            plaintext.as_bytes()
        );
    }
    let common_versions = reader.key(&common_key).unwrap().latest_version().get() as usize;
    assert_eq!(
        common_versions,
        1 + acknowledged.rotations[&common_key].len()
    );
    let (_, uses) = acknowledged.limited[&limited];
    assert!(uses <= limit);
    // Every client attempted 50; together they hit the limit (at most a few reservations
    // stranded, never more than the limit).
    assert!(
        uses + 32 >= limit,
        "only {uses} of {limit} uses were granted"
    );
    let limited_id = reader.key(&limited).unwrap().id();
    let granted = reader
        .audit_log(&AuditFilter {
            key: Some(limited_id),
            operation: Some(AuditOperation::Encrypt),
            outcome: Some(OutcomeKind::Ok),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(granted.len() as u64, uses);
    assert_eq!(
        reader.key(&doomed).unwrap().state().kind(),
        StateKind::Revoked
    );
    check_invariants(&shared, &acknowledged);
}

fn stress_20_threads_x_100_operations<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let limit = 300;
    let mut acknowledged = Acknowledged::default();
    let pool: Vec<KeyName> = [
        KeyAlgorithm::XChaCha20Poly1305,
        KeyAlgorithm::ChaCha20Poly1305,
        KeyAlgorithm::Aes256Gcm,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, algorithm)| shared.create(&format!("pool-{i}"), algorithm))
    .collect();
    let mac = shared.create("pool-mac", KeyAlgorithm::HmacSha256);
    let limited = shared.create_with(
        "pool-limited",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_max_operations(limit),
    );
    let auto = shared.create_with(
        "pool-auto",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_rotation(RotationTriggers {
            max_uses: Some(25),
            max_age: None,
        }),
    );
    acknowledged.keys.extend(pool.iter().cloned());
    acknowledged
        .keys
        .extend([mac.clone(), limited.clone(), auto.clone()]);
    let pool = Arc::new(pool);

    let threads = 20;
    let operations = 100u32;
    let start = Arc::new(Barrier::new(threads));
    let began = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let vault = Arc::clone(&shared.vault);
            let pool = Arc::clone(&pool);
            let start = Arc::clone(&start);
            let (mac, limited, auto) = (mac.clone(), limited.clone(), auto.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(1000 + t as u64);
                let mut mine = Acknowledged::default();
                let mut auto_versions = Vec::new();
                let mut created = 0;
                start.wait();
                for i in 0..operations {
                    let key = &pool[rng.below(pool.len())];
                    match rng.below(100) {
                        0..=34 | 74..=76 => {
                            let plaintext = format!("{t}/{i}");
                            let envelope = vault.encrypt(key, plaintext.as_bytes(), b"s").unwrap();
                            round_trip(&vault, &envelope, b"s", plaintext.as_bytes());
                        }
                        35..=49 => {
                            let signature = vault.sign(&mac, &i.to_be_bytes()).unwrap();
                            vault.verify(&mac, &i.to_be_bytes(), &signature).unwrap();
                            let (_, derived) = vault.derive(&mac, b"ctx", 16).unwrap();
                            assert_eq!(derived.len(), 16);
                        }
                        50..=59 => {
                            let data_key = vault.generate_data_key(key, b"dk").unwrap();
                            let unwrapped =
                                vault.unwrap_data_key(&data_key.wrapped, b"dk").unwrap();
                            assert_eq!(
                                unwrapped.expose_secret(),
                                data_key.plaintext.expose_secret()
                            );
                        }
                        60..=69 => {
                            assert_eq!(vault.key(key).unwrap().name(), key);
                            if i.is_multiple_of(10) {
                                let listed = vault.list_keys(&KeyFilter::default()).unwrap();
                                assert!(listed.len() >= 6);
                            }
                        }
                        70..=73 => {
                            let metadata = vault.rotate(key).unwrap();
                            mine.rotated(key, metadata.latest_version());
                        }
                        77..=81 => {
                            let new = name(&format!("stress-{t}-{created}"));
                            created += 1;
                            vault
                                .create_key(NewKey::new(new.clone(), KeyAlgorithm::default()))
                                .unwrap();
                            mine.keys.insert(new.clone());
                            let envelope = vault.encrypt(&new, b"new", b"").unwrap();
                            assert_eq!(&vault.decrypt(&envelope, b"").unwrap()[..], b"new");
                        }
                        82..=91 => match vault.encrypt(&limited, b"x", b"") {
                            Ok(_) => mine.used_limited(&limited, limit),
                            Err(err) => {
                                assert!(is_denied(&err, "usage_limit_reached"), "{err:?}");
                            }
                        },
                        _ => {
                            let envelope = encrypt_retrying(&vault, &auto, b"auto", b"");
                            auto_versions.push(version_of(&envelope));
                        }
                    }
                }
                (mine, auto_versions)
            })
        })
        .collect();
    let mut auto_versions = Vec::new();
    for (mine, versions) in join_all(handles) {
        acknowledged.merge(mine);
        auto_versions.extend(versions);
    }
    let elapsed = began.elapsed();

    // No version of the auto-rotating key sealed more than its 25 messages, and it rotated as
    // often as that takes.
    let mut per_version: BTreeMap<u32, usize> = BTreeMap::new();
    for version in &auto_versions {
        *per_version.entry(*version).or_default() += 1;
    }
    assert!(
        per_version.values().all(|uses| *uses <= 25),
        "{per_version:?}"
    );
    let auto_latest = shared.vault.key(&auto).unwrap().latest_version().get();
    assert!(auto_versions.iter().all(|version| *version <= auto_latest));
    assert!(auto_latest as usize >= auto_versions.len().div_ceil(25));
    check_invariants(&shared, &acknowledged);
    assert!(
        elapsed < Duration::from_secs(30),
        "2,000 operations took {elapsed:?}"
    );
}

fn no_deadlock_under_a_complex_workload<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let vault = Arc::clone(&shared.vault);
    let (done, finished) = mpsc::channel();
    let workload = thread::spawn(move || {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| complex_workload(&vault)));
        let _ = done.send(());
        match result {
            Ok(keys) => keys,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    if finished.recv_timeout(Duration::from_secs(60)).is_err() {
        panic!("the workload did not finish within 60 s: deadlock or livelock");
    }
    let created = match workload.join() {
        Ok(keys) => keys,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    assert!(shared.vault.is_unlocked());
    let mut acknowledged = Acknowledged::default();
    acknowledged.keys.extend(created);
    check_invariants(&shared, &acknowledged);
}

/// Threads that take every lock the vault has, in every order its API allows: uses (cache,
/// counters, audit buffer), management commits, audit flushes and verification, listing,
/// password changes, and lock/unlock cycles under all of it. Returns the keys created.
fn complex_workload<B: TestBackend>(vault: &Arc<Vault<B>>) -> BTreeSet<KeyName> {
    let new_password: &[u8] = b"the temporary password";
    let create = |key: &str, algorithm, policy: KeyPolicy| {
        let key = name(key);
        let mut spec = NewKey::new(key.clone(), algorithm);
        spec.policy = policy;
        vault.create_key(spec).unwrap();
        key
    };
    let busy = create("busy", KeyAlgorithm::default(), KeyPolicy::default());
    let counted = create(
        "counted",
        KeyAlgorithm::Aes256Gcm,
        KeyPolicy::default()
            .with_max_operations(1_000_000)
            .with_rotation(RotationTriggers {
                max_uses: Some(40),
                max_age: None,
            }),
    );
    let mac = create("mac", KeyAlgorithm::HmacSha256, KeyPolicy::default());
    let toggled = create("toggled", KeyAlgorithm::default(), KeyPolicy::default());
    let mut created: BTreeSet<KeyName> = [&busy, &counted, &mac, &toggled]
        .into_iter()
        .cloned()
        .collect();

    // While the vault may be locked, an operation either works or fails as Locked (or as a
    // state denial on the toggled key); nothing else.
    fn tolerable(err: &StoreError) -> bool {
        matches!(err, StoreError::Locked | StoreError::WrongPassword) || is_denied(err, "key_state")
    }
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let made = Arc::new(Mutex::new(BTreeSet::new()));
    let mut handles: Vec<JoinHandle<()>> = Vec::new();

    // Users: encrypt, decrypt, batches, data keys, on several keys.
    for t in 0..3 {
        let (vault, stop, progress) = (Arc::clone(vault), Arc::clone(&stop), Arc::clone(&progress));
        let keys = [busy.clone(), counted.clone(), toggled.clone()];
        handles.push(thread::spawn(move || {
            let mut i = 0usize;
            while (!stop.load(Ordering::SeqCst) || i < 30) && i < 400 {
                let key = &keys[(i + t) % keys.len()];
                let result = vault.encrypt(key, b"payload", b"aad").and_then(|envelope| {
                    vault.decrypt(&envelope, b"aad").map(|plaintext| {
                        assert_eq!(&plaintext[..], b"payload");
                    })
                });
                if let Err(err) = result {
                    assert!(tolerable(&err), "{err:?}");
                }
                if i.is_multiple_of(7) {
                    let items: [(&[u8], &[u8]); 3] = [(b"a", b""), (b"b", b""), (b"c", b"")];
                    if let Err(err) = vault.encrypt_batch(key, &items) {
                        assert!(tolerable(&err), "{err:?}");
                    }
                    if let Err(err) = vault.generate_data_key(key, b"") {
                        assert!(tolerable(&err), "{err:?}");
                    }
                }
                i += 1;
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Signer.
    {
        let (vault, stop, mac) = (Arc::clone(vault), Arc::clone(&stop), mac.clone());
        handles.push(thread::spawn(move || {
            let mut i = 0u32;
            while (!stop.load(Ordering::SeqCst) || i < 30) && i < 400 {
                let result = vault
                    .sign(&mac, &i.to_be_bytes())
                    .and_then(|signature| vault.verify(&mac, &i.to_be_bytes(), &signature))
                    .and_then(|()| vault.derive(&mac, b"ctx", 32).map(drop));
                if let Err(err) = result {
                    assert!(tolerable(&err), "{err:?}");
                }
                i += 1;
            }
        }));
    }
    // Manager: rotations, lifecycle toggles, new keys, policy changes.
    {
        let (vault, stop, made) = (Arc::clone(vault), Arc::clone(&stop), Arc::clone(&made));
        let (busy, toggled) = (busy.clone(), toggled.clone());
        handles.push(thread::spawn(move || {
            // Bounded: every rotation adds a version that each cache reload derives again.
            let mut i = 0;
            while (!stop.load(Ordering::SeqCst) || i < 10) && i < 25 {
                let results = [
                    vault.rotate(&busy).map(drop),
                    vault.transition(&toggled, Transition::Disable).map(drop),
                    vault.transition(&toggled, Transition::Enable).map(drop),
                    vault
                        .set_policy(
                            &busy,
                            KeyPolicy::default().with_max_operations(1_000_000 + i),
                        )
                        .map(drop),
                ];
                for result in results {
                    match result {
                        Ok(()) => {}
                        // A toggle that raced a lock may find the key already switched.
                        Err(StoreError::Core(keyvault_core::Error::InvalidTransition {
                            ..
                        })) => {}
                        Err(err) => assert!(tolerable(&err), "{err:?}"),
                    }
                }
                let key = name(&format!("made-{i}"));
                match vault.create_key(NewKey::new(key.clone(), KeyAlgorithm::HmacSha256)) {
                    Ok(_) => {
                        made.lock().unwrap().insert(key);
                    }
                    Err(err) => assert!(tolerable(&err), "{err:?}"),
                }
                i += 1;
            }
        }));
    }
    // Auditor: flushes, reads, verifies, lists.
    {
        let (vault, stop) = (Arc::clone(vault), Arc::clone(&stop));
        handles.push(thread::spawn(move || {
            // Bounded and paced: each verification reads the whole (growing) log.
            let mut i = 0;
            while (!stop.load(Ordering::SeqCst) || i < 5) && i < 12 {
                thread::sleep(Duration::from_millis(5));
                let results = [
                    vault.flush_audit(),
                    vault.audit_log(&AuditFilter::default()).map(drop),
                    vault.verify_audit().map(drop),
                    vault.list_keys(&KeyFilter::default()).map(drop),
                ];
                for result in results {
                    if let Err(err) = result {
                        assert!(tolerable(&err), "{err:?}");
                    }
                }
                i += 1;
            }
        }));
    }
    // The locksmith: password changes and lock/unlock cycles, under everything else.
    {
        let vault = Arc::clone(vault);
        let progress = Arc::clone(&progress);
        handles.push(thread::spawn(move || {
            let unlock = |vault: &Vault<B>| {
                if vault.unlock(PASSWORD).is_err() {
                    vault.unlock(new_password).unwrap();
                }
            };
            for round in 0..2 {
                // Let the users get going (they stop on their own after a while).
                let seen = progress.load(Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_millis(300);
                while progress.load(Ordering::SeqCst) < seen + 20 && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                let _scrub = vault.change_password(new_password).unwrap();
                let _scrub = vault.change_password(PASSWORD).unwrap();
                let _ = vault.lock();
                thread::sleep(Duration::from_millis(2 + round));
                unlock(&vault);
            }
        }));
    }
    let locksmith = handles.pop().unwrap();
    join_all(vec![locksmith]);
    stop.store(true, Ordering::SeqCst);
    join_all(handles);
    created.extend(made.lock().unwrap().iter().cloned());
    created
}

fn concurrent_rotate_and_encrypt<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let mut acknowledged = Acknowledged::default();
    let manual = shared.create("manual", KeyAlgorithm::default());
    let gcm = shared.create("manual-gcm", KeyAlgorithm::Aes256Gcm);
    let auto = shared.create_with(
        "auto",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_rotation(RotationTriggers {
            max_uses: Some(10),
            max_age: None,
        }),
    );
    acknowledged
        .keys
        .extend([manual.clone(), gcm.clone(), auto.clone()]);

    let rotators = 2;
    let rotations = 15;
    let encryptors = 6;
    let messages = 40;
    let start = Arc::new(Barrier::new(rotators + encryptors));
    let rotator_handles: Vec<_> = (0..rotators)
        .map(|_| {
            let vault = Arc::clone(&shared.vault);
            let start = Arc::clone(&start);
            let keys = [manual.clone(), gcm.clone()];
            thread::spawn(move || {
                let mut mine = Acknowledged::default();
                start.wait();
                for i in 0..rotations {
                    let key = &keys[i % 2];
                    let metadata = vault.rotate(key).unwrap();
                    mine.rotated(key, metadata.latest_version());
                }
                mine
            })
        })
        .collect();
    let encryptor_handles: Vec<_> = (0..encryptors)
        .map(|t| {
            let vault = Arc::clone(&shared.vault);
            let start = Arc::clone(&start);
            let keys = [manual.clone(), gcm.clone(), auto.clone()];
            thread::spawn(move || {
                let mut sealed = Vec::new();
                start.wait();
                for i in 0..messages {
                    let key = &keys[i % 3];
                    let plaintext = format!("encryptor {t} message {i}");
                    let aad = format!("{t}:{i}");
                    let envelope =
                        encrypt_retrying(&vault, key, plaintext.as_bytes(), aad.as_bytes());
                    sealed.push((key.clone(), envelope, plaintext, aad));
                }
                sealed
            })
        })
        .collect();
    for mine in join_all(rotator_handles) {
        acknowledged.merge(mine);
    }
    let sealed: Vec<_> = join_all(encryptor_handles).into_iter().flatten().collect();

    // Every ciphertext made during the rotations decrypts, here and in another client.
    let other = shared.client();
    let mut auto_uses: BTreeMap<u32, usize> = BTreeMap::new();
    for (key, envelope, plaintext, aad) in &sealed {
        for vault in [&*shared.vault, &other] {
            assert_eq!(
                &vault.decrypt(envelope, aad.as_bytes()).unwrap()[..],
                plaintext.as_bytes()
            );
        }
        let version = version_of(envelope);
        let latest = other.key(key).unwrap().latest_version().get();
        assert!((1..=latest).contains(&version));
        if *key == auto {
            *auto_uses.entry(version).or_default() += 1;
        }
    }
    // Manual rotations all landed; the newest version encrypts now.
    for key in [&manual, &gcm] {
        let latest = shared.vault.key(key).unwrap().latest_version();
        assert_eq!(
            latest.get() as usize,
            1 + acknowledged.rotations[key].len(),
            "{key}"
        );
        let envelope = shared.vault.encrypt(key, b"after", b"").unwrap();
        assert_eq!(version_of(&envelope), latest.get());
    }
    // The auto-rotating key never sealed more than 10 messages with one version, and rotated
    // as often as that takes, not wildly more.
    let total: usize = auto_uses.values().sum();
    assert_eq!(
        total,
        encryptors * (0..messages).filter(|i| i % 3 == 2).count()
    );
    assert!(auto_uses.values().all(|uses| *uses <= 10), "{auto_uses:?}");
    let auto_latest = other.key(&auto).unwrap().latest_version().get() as usize;
    assert!(auto_latest >= total.div_ceil(10), "{auto_uses:?}");
    assert!(
        auto_latest <= total / 10 + 1 + encryptors,
        "{auto_latest} versions: {auto_uses:?}"
    );
    check_invariants(&shared, &acknowledged);
}

/// Many threads encrypt with a key that rotates every 3 uses (and an AES-256-GCM one, whose
/// 2^32 cap is enforced by the same counter): no version may ever seal more than 3 messages.
fn use_count_rotation_is_never_exceeded_under_concurrency<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let max_uses = 3;
    let triggers = RotationTriggers {
        max_uses: Some(max_uses),
        max_age: None,
    };
    let keys = [
        shared.create_with(
            "auto",
            KeyAlgorithm::default(),
            KeyPolicy::default().with_rotation(triggers),
        ),
        shared.create_with(
            "auto-gcm",
            KeyAlgorithm::Aes256Gcm,
            KeyPolicy::default().with_rotation(triggers),
        ),
    ];
    let threads = 6;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let vault = Arc::clone(&shared.vault);
            let start = Arc::clone(&start);
            let keys = keys.clone();
            thread::spawn(move || {
                start.wait();
                let mut versions = Vec::new();
                for i in 0..24 {
                    let key = &keys[i % 2];
                    let envelope = encrypt_retrying(&vault, key, b"x", b"");
                    versions.push((key.clone(), version_of(&envelope)));
                }
                versions
            })
        })
        .collect();
    let mut uses: BTreeMap<(KeyName, u32), u64> = BTreeMap::new();
    for (key, version) in join_all(handles).into_iter().flatten() {
        *uses.entry((key, version)).or_default() += 1;
    }
    let over: Vec<_> = uses.iter().filter(|(_, n)| **n > max_uses).collect();
    assert!(
        over.is_empty(),
        "versions used more than {max_uses} times: {over:?}"
    );
}

/// Readers hammer `key()` on one client while another client switches the key on and off.
/// After each switch nothing else commits, so once in-flight reads have finished every reader
/// must see the new state: a record read before the switch must never be cached after it.
fn a_change_is_never_hidden_by_a_stale_cache_entry<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let key = shared.create("switched", KeyAlgorithm::default());
    let admin = shared.client();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (vault, stop, key) = (Arc::clone(&shared.vault), Arc::clone(&stop), key.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    vault.key(&key).unwrap();
                }
            })
        })
        .collect();
    let mut stale = Vec::new();
    for round in 0..150u32 {
        let (transition, expected) = if round.is_multiple_of(2) {
            (Transition::Disable, KeyState::Disabled)
        } else {
            (Transition::Enable, KeyState::Active)
        };
        admin.transition(&key, transition).unwrap();
        // Let reads that started before the switch finish.
        thread::sleep(Duration::from_millis(1));
        let seen = shared.vault.key(&key).unwrap().state();
        if seen != expected {
            // Still wrong much later, and usable against its state.
            thread::sleep(Duration::from_millis(50));
            let later = shared.vault.key(&key).unwrap().state();
            let encrypts = shared.vault.encrypt(&key, b"x", b"").is_ok();
            stale.push(format!(
                "round {round}: {expected:?} in the store, {seen:?} in the cache \
                 ({later:?} 50 ms later; encrypt {})",
                if encrypts { "succeeds" } else { "refused" }
            ));
            // Unstick it for the next round.
            admin.set_policy(&key, KeyPolicy::default()).unwrap();
        }
    }
    stop.store(true, Ordering::SeqCst);
    join_all(readers);
    assert!(stale.is_empty(), "stale key states: {stale:#?}");
}

/// Twenty threads encrypt and at once decrypt on one shared vault, and now and then rotate
/// one of the keys: an envelope the vault has just returned must always open on that vault.
fn a_fresh_ciphertext_always_decrypts_during_rotations<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let keys: Vec<KeyName> = (0..3)
        .map(|i| shared.create(&format!("rotating-{i}"), KeyAlgorithm::default()))
        .collect();
    let keys = Arc::new(keys);
    let start = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20u64)
        .map(|t| {
            let (vault, keys, start) = (
                Arc::clone(&shared.vault),
                Arc::clone(&keys),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                let mut rng = Rng::new(7000 + t);
                let mut failures = Vec::new();
                start.wait();
                for i in 0..100 {
                    let key = &keys[rng.below(keys.len())];
                    if rng.below(100) < 7 {
                        vault.rotate(key).unwrap();
                        continue;
                    }
                    let plaintext = format!("{t}/{i}");
                    let envelope = vault.encrypt(key, plaintext.as_bytes(), b"").unwrap();
                    if let Err(err) = vault.decrypt(&envelope, b"") {
                        failures.push(format!("v{}: {err}", version_of(&envelope)));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = join_all(handles).into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} envelopes failed to decrypt on the vault that had just made them, e.g. {:?}",
        failures.len(),
        failures.first()
    );
}

/// Sixteen threads encrypt with a key that rotates after every single use: each call may find
/// the version it read already used and rotated by another thread, again and again. Nothing is
/// locked and every thread makes progress in turn, so no call may fail.
fn uses_are_not_refused_as_busy_under_contention<B: TestBackend>() {
    let shared = Shared::<B>::new();
    let key = shared.create_with(
        "every-use",
        KeyAlgorithm::default(),
        KeyPolicy::default().with_rotation(RotationTriggers {
            max_uses: Some(1),
            max_age: None,
        }),
    );
    let threads = 16;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (vault, start, key) = (Arc::clone(&shared.vault), Arc::clone(&start), key.clone());
            thread::spawn(move || {
                start.wait();
                (0..10)
                    .filter_map(|_| vault.encrypt(&key, b"x", b"").err())
                    .map(|err| format!("{err:?}"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let failures: Vec<String> = join_all(handles).into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} of {} encryptions failed, e.g. {:?}",
        failures.len(),
        threads * 10,
        failures.first()
    );
}
