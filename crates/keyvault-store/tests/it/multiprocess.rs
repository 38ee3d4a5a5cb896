//! Several processes on one vault file at once: 8 processes × 200 operations by default (more
//! with `KEYVAULT_MP_PROCS` and `KEYVAULT_MP_OPS`), each creating keys, rotating shared and own
//! keys, encrypting under `max_operations` limits and decrypting. Each child prints one line per
//! acknowledged operation; the parent then checks every acknowledgement against the file:
//! every acknowledged key exists, rotations never collide or get lost, no limited key ever did
//! more than its maximum, every acknowledged ciphertext decrypts, the audit chain verifies.
//!
//! Children are this test binary run again with `KEYVAULT_TEST_CHILD` set, which turns the
//! otherwise empty `child_worker` test into the child.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::{is_state_denial, is_usage_limit};
use keyvault_core::envelope::Envelope;
use keyvault_core::{
    AuditOperation, AuditRecord, KeyAlgorithm, KeyName, KeyPolicy, KeyVersion, Outcome, Transition,
};
use keyvault_crypto::Argon2Params;
use keyvault_store::{AuditCommit, AuditFilter, FileVault, NewKey, VaultOptions};
use keyvault_test_support::child::{child_command, child_spec, test_path};
use keyvault_test_support::{Rng, seed};

const PASSWORD: &[u8] = b"multi-process password";
/// Shared keys with a `max_operations` limit that the children together exceed.
const LIMITED: [&str; 4] = ["lim-0", "lim-1", "lim-2", "lim-3"];
/// Shared keys without limits, rotated by every child.
const OPEN: [&str; 2] = ["open-0", "open-1"];

fn options(audit_commit: AuditCommit, actor: &str) -> VaultOptions {
    VaultOptions {
        argon2: Argon2Params::MINIMUM,
        audit_commit,
        actor: actor.to_owned(),
        ..Default::default()
    }
}

fn grouped() -> AuditCommit {
    AuditCommit::Grouped {
        max_events: 32,
        max_delay: Duration::from_millis(100),
    }
}

fn name(text: &str) -> KeyName {
    KeyName::new(text).unwrap()
}

fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn plaintext(child: usize, op: usize) -> Vec<u8> {
    format!("plaintext of child {child} operation {op}").into_bytes()
}

fn aad(child: usize, op: usize) -> Vec<u8> {
    format!("aad {child}/{op}").into_bytes()
}

/// Run [`child_worker`] in a child process with `role` and `args`.
fn spawn_child(role: &str, args: &[String]) -> std::process::Child {
    let mut spec = vec![role.to_owned()];
    spec.extend(args.iter().cloned());
    child_command(&test_path(module_path!(), "child_worker"), &spec.join(","))
        .spawn()
        .unwrap()
}

/// The child's acknowledgement lines, after checking it succeeded.
fn child_lines(index: usize, output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.lines().any(|line| line == "DONE"),
        "child {index} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter(|line| line.starts_with("ACK ") || line.starts_with("DENIED "))
        .map(str::to_owned)
        .collect()
}

/// The child side: does nothing unless `KEYVAULT_TEST_CHILD` is set.
#[test]
fn child_worker() {
    let Some(spec) = child_spec() else {
        return;
    };
    let (role, rest) = spec.split_once(',').unwrap();
    match role {
        "worker" => {
            let mut parts = rest.splitn(4, ',');
            let index: usize = parts.next().unwrap().parse().unwrap();
            let seed: u64 = parts.next().unwrap().parse().unwrap();
            let ops: usize = parts.next().unwrap().parse().unwrap();
            let path = PathBuf::from(parts.next().unwrap());
            worker(&path, index, seed, ops);
        }
        "revoke" => {
            let (key, path) = rest.split_once(',').unwrap();
            let key = name(key);
            let vault =
                FileVault::open_file(path, PASSWORD, options(AuditCommit::Synchronous, "revoker"))
                    .unwrap();
            let rotated = vault.rotate(&key).unwrap();
            println!("ACK rotate {key} {}", rotated.latest_version().get());
            vault.transition(&key, Transition::Revoke).unwrap();
            println!("ACK revoke {key}");
            println!("DONE");
        }
        "revoke-each" => {
            let (count, rest) = rest.split_once(',').unwrap();
            let (seed, path) = rest.split_once(',').unwrap();
            let mut rng = Rng::new(seed.parse().unwrap());
            let vault =
                FileVault::open_file(path, PASSWORD, options(AuditCommit::Synchronous, "revoker"))
                    .unwrap();
            for index in 0..count.parse::<usize>().unwrap() {
                std::thread::sleep(Duration::from_micros(rng.below(3000)));
                vault
                    .transition(&race_key(index), Transition::Revoke)
                    .unwrap();
                // Printed only once the revocation has committed.
                println!("REVOKED {index}");
            }
            println!("DONE");
        }
        "lower" => {
            let (key, rest) = rest.split_once(',').unwrap();
            let (max, path) = rest.split_once(',').unwrap();
            let key = name(key);
            let vault =
                FileVault::open_file(path, PASSWORD, options(AuditCommit::Synchronous, "lowerer"))
                    .unwrap();
            let mut policy = vault.key(&key).unwrap().policy().clone();
            policy.max_operations = Some(max.parse().unwrap());
            vault.set_policy(&key, policy).unwrap();
            println!("ACK lower {key} {max}");
            println!("DONE");
        }
        other => panic!("unknown child role {other}"),
    }
}

/// One worker process: `ops` random operations, one line per acknowledged one.
fn worker(path: &Path, index: usize, seed: u64, ops: usize) {
    let vault = FileVault::open_file(
        path,
        PASSWORD,
        options(grouped(), &format!("child-{index}")),
    )
    .unwrap();
    let mut rng = Rng::new(seed ^ (u64::try_from(index).unwrap() << 32));
    let algorithms = [
        KeyAlgorithm::XChaCha20Poly1305,
        KeyAlgorithm::ChaCha20Poly1305,
        KeyAlgorithm::Aes256Gcm,
    ];
    let mut own: Vec<String> = Vec::new();
    // (key name, operation index, envelope) of every ciphertext this child made.
    let mut sealed: Vec<(String, usize, Vec<u8>)> = Vec::new();
    for op in 0..ops {
        let roll = rng.below(100);
        if roll < 10 {
            let key = format!("k-{index}-{op}");
            let mut spec = NewKey::new(name(&key), algorithms[rng.below(algorithms.len())]);
            spec.labels.insert("child".to_owned(), index.to_string());
            let created = vault.create_key(spec).unwrap();
            println!("ACK create {key} {}", created.id());
            own.push(key);
        } else if roll < 18 {
            let key = if !own.is_empty() && rng.below(2) == 0 {
                own[rng.below(own.len())].clone()
            } else {
                OPEN[rng.below(OPEN.len())].to_owned()
            };
            let rotated = vault.rotate(&name(&key)).unwrap();
            println!("ACK rotate {key} {}", rotated.latest_version().get());
        } else if roll < 80 {
            let key = if roll < 50 {
                LIMITED[rng.below(LIMITED.len())].to_owned()
            } else if !own.is_empty() && rng.below(2) == 0 {
                own[rng.below(own.len())].clone()
            } else {
                OPEN[rng.below(OPEN.len())].to_owned()
            };
            match vault.encrypt(&name(&key), &plaintext(index, op), &aad(index, op)) {
                Ok(envelope) => {
                    println!("ACK encrypt {key} {op} {}", hex::encode(&envelope));
                    sealed.push((key, op, envelope));
                }
                Err(err) if is_usage_limit(&err) => println!("DENIED encrypt {key}"),
                Err(err) => panic!("child {index}: encrypt {key}: {err:?}"),
            }
        } else if !sealed.is_empty() {
            let (key, made_at, envelope) = sealed[rng.below(sealed.len())].clone();
            match vault.decrypt(&envelope, &aad(index, made_at)) {
                Ok(opened) => {
                    assert_eq!(&opened[..], &plaintext(index, made_at)[..]);
                    println!("ACK decrypt {key} {made_at}");
                }
                Err(err) if is_usage_limit(&err) => println!("DENIED decrypt {key}"),
                Err(err) => panic!("child {index}: decrypt {key}: {err:?}"),
            }
        }
    }
    vault.flush_audit().unwrap();
    drop(vault);
    println!("DONE");
}

/// Everything the children acknowledged.
#[derive(Default)]
struct Acks {
    /// name → (creating child, key id).
    created: BTreeMap<String, (usize, String)>,
    /// name → (child, version), in each child's order.
    rotated: BTreeMap<String, Vec<(usize, u32)>>,
    /// (child, name, operation index, envelope).
    encrypted: Vec<(usize, String, usize, Vec<u8>)>,
    /// name → decryptions acknowledged.
    decrypted: BTreeMap<String, u64>,
    /// name → denials seen.
    denied: BTreeMap<String, u64>,
}

impl Acks {
    fn add(&mut self, child: usize, line: &str) {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["ACK", "create", key, id] => {
                let previous = self.created.insert(key.to_owned(), (child, id.to_owned()));
                assert!(previous.is_none(), "{key} acknowledged as created twice");
            }
            ["ACK", "rotate", key, version] => self
                .rotated
                .entry(key.to_owned())
                .or_default()
                .push((child, version.parse().unwrap())),
            ["ACK", "encrypt", key, op, envelope] => self.encrypted.push((
                child,
                key.to_owned(),
                op.parse().unwrap(),
                hex::decode(envelope).unwrap(),
            )),
            ["ACK", "decrypt", key, _] => {
                *self.decrypted.entry(key.to_owned()).or_default() += 1;
            }
            ["DENIED", _, key] => *self.denied.entry(key.to_owned()).or_default() += 1,
            _ => panic!("child {child} printed an unknown line: {line}"),
        }
    }

    fn successful_operations(&self, key: &str) -> u64 {
        let encrypted = self.encrypted.iter().filter(|e| e.1 == key).count();
        u64::try_from(encrypted).unwrap() + self.decrypted.get(key).copied().unwrap_or(0)
    }
}

/// The audit records of `operation` with outcome Ok for `key`.
fn ok_events(
    log: &[AuditRecord],
    operation: AuditOperation,
    key: keyvault_core::KeyId,
) -> impl Iterator<Item = &AuditRecord> {
    log.iter().filter(move |record| {
        record.event.operation == operation
            && record.event.key_id == Some(key)
            && record.event.outcome == Outcome::Ok
    })
}

fn count(records: impl Iterator<Item = impl Sized>) -> u64 {
    u64::try_from(records.count()).unwrap()
}

#[test]
fn processes_share_one_vault_file_without_losing_anything() {
    let processes = env_count("KEYVAULT_MP_PROCS", 8);
    let ops = env_count("KEYVAULT_MP_OPS", 200);
    let seed = seed();
    // About 30% of all operations are encryptions under the limited keys: the limit is set so
    // that together the children run out of it.
    let limit = u64::try_from((processes * ops / 16).max(8)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.kv");
    let setup =
        FileVault::create(&path, PASSWORD, options(AuditCommit::Synchronous, "setup")).unwrap();
    for key in LIMITED {
        let mut spec = NewKey::new(name(key), KeyAlgorithm::default());
        spec.policy = KeyPolicy::default().with_max_operations(limit);
        setup.create_key(spec).unwrap();
    }
    for key in OPEN {
        setup
            .create_key(NewKey::new(name(key), KeyAlgorithm::Aes256Gcm))
            .unwrap();
    }
    drop(setup);

    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|index| {
            let args = [
                index.to_string(),
                seed.to_string(),
                ops.to_string(),
                path.display().to_string(),
            ];
            spawn_child("worker", &args)
        })
        .collect();
    let mut acks = Acks::default();
    for (index, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        for line in child_lines(index, &output) {
            acks.add(index, &line);
        }
    }
    let children_took = started.elapsed();

    let checking = Instant::now();
    let vault = FileVault::open_file(
        &path,
        PASSWORD,
        options(AuditCommit::Synchronous, "checker"),
    )
    .unwrap();
    let mut ids = HashMap::new();
    for key in LIMITED.iter().chain(OPEN.iter()) {
        ids.insert((*key).to_owned(), vault.key(&name(key)).unwrap().id());
    }

    // The log as the children left it (each flushed its buffered usage events before exiting).
    let log = vault.audit_log(&AuditFilter::default()).unwrap();

    // Every acknowledged key exists, with the id its creator was given, created exactly once.
    for (key, (child, id)) in &acks.created {
        let metadata = vault.key(&name(key)).unwrap();
        assert_eq!(&metadata.id().to_string(), id, "{key} (child {child})");
        assert_eq!(
            count(ok_events(&log, AuditOperation::CreateKey, metadata.id())),
            1
        );
        ids.insert(key.clone(), metadata.id());
    }
    let listed = vault.list_keys(&Default::default()).unwrap();
    assert_eq!(
        listed.len(),
        acks.created.len() + LIMITED.len() + OPEN.len()
    );

    // Rotations: no two acknowledged rotations got the same version, each child saw its own
    // rotations of a key strictly increase, and none was lost (read-modify-write races).
    let mut rotations = 0;
    for (key, acked) in &acks.rotated {
        let metadata = vault.key(&name(key)).unwrap();
        let versions: Vec<u32> = metadata
            .versions()
            .iter()
            .map(|v| v.version.get())
            .collect();
        let expected: Vec<u32> = (1..=metadata.latest_version().get()).collect();
        assert_eq!(versions, expected, "{key}: versions are 1..=latest");
        let distinct: BTreeSet<u32> = acked.iter().map(|&(_, v)| v).collect();
        assert_eq!(
            distinct.len(),
            acked.len(),
            "{key}: a version acknowledged twice"
        );
        assert!(distinct.iter().all(|&v| v >= 2));
        let all_rotations = u32::try_from(acked.len()).unwrap();
        assert_eq!(
            metadata.latest_version().get(),
            1 + all_rotations,
            "{key}: every rotation made exactly one version"
        );
        for child in 0..processes {
            let own: Vec<u32> = acked
                .iter()
                .filter(|&&(c, _)| c == child)
                .map(|&(_, v)| v)
                .collect();
            assert!(
                own.windows(2).all(|w| w[0] < w[1]),
                "{key}: child {child} saw {own:?}"
            );
        }
        let audited: BTreeSet<u32> = ok_events(&log, AuditOperation::Rotate, metadata.id())
            .filter_map(|r| r.event.key_version.map(KeyVersion::get))
            .collect();
        assert!(
            distinct.is_subset(&audited),
            "{key}: a rotation missing from the log"
        );
        rotations += acked.len();
    }

    // Envelopes name the key they were acknowledged for and a version that exists.
    for (child, key, _, envelope) in &acks.encrypted {
        let header = *Envelope::parse(envelope).unwrap().header();
        assert_eq!(header.key_id, ids[key], "child {child}: envelope of {key}");
        let metadata = vault.key(&name(key)).unwrap();
        assert!(header.key_version <= metadata.latest_version());
    }

    // The limits: what the children did plus what is left never exceeds the maximum, and the
    // key is refused once it is spent.
    let mut limit_report = Vec::new();
    for key in LIMITED {
        let done = acks.successful_operations(key);
        assert!(
            done <= limit,
            "{key}: {done} operations acknowledged, limit {limit}"
        );
        let mut drained = 0;
        let denied = loop {
            match vault.encrypt(&name(key), b"drain", b"") {
                Ok(_) => drained += 1,
                Err(err) => break err,
            }
            assert!(done + drained <= limit, "{key}: limit {limit} passed");
        };
        assert!(is_usage_limit(&denied), "{key}: {denied:?}");
        let again = vault.encrypt(&name(key), b"again", b"").unwrap_err();
        assert!(is_usage_limit(&again), "{key}: {again:?}");
        // The log holds every acknowledged use and, counting the drain, no more than the limit.
        let by_children = count(ok_events(&log, AuditOperation::Encrypt, ids[key]))
            + count(ok_events(&log, AuditOperation::Decrypt, ids[key]));
        assert!(
            by_children >= done,
            "{key}: {by_children} audited, {done} acknowledged"
        );
        assert!(
            by_children + drained <= limit,
            "{key}: {by_children} audited uses"
        );
        let seen_denied = acks.denied.get(key).copied().unwrap_or(0);
        limit_report.push(format!(
            "{key}: {done} by children + {drained} drained <= {limit} ({seen_denied} denials)"
        ));
    }

    // Every acknowledged ciphertext decrypts (limits lifted first, so checking spends nothing).
    for key in LIMITED {
        vault.set_policy(&name(key), KeyPolicy::default()).unwrap();
    }
    for (child, key, op, envelope) in &acks.encrypted {
        let opened = vault.decrypt(envelope, &aad(*child, *op)).unwrap();
        assert_eq!(&opened[..], &plaintext(*child, *op)[..], "{key}");
    }
    let report = vault.verify_audit().unwrap();
    let decrypted: u64 = acks.decrypted.values().sum();
    let denied: u64 = acks.denied.values().sum();
    println!(
        "{processes} processes x {ops} operations (seed {seed}) in {children_took:.2?}: \
         {} keys created, {rotations} rotations, {} encryptions, {decrypted} decryptions, \
         {denied} denials acknowledged; checked in {:.2?}; audit chain of {} records verifies",
        acks.created.len(),
        acks.encrypted.len(),
        checking.elapsed(),
        report.records
    );
    for line in limit_report {
        println!("  {line}");
    }
}

#[test]
fn a_change_in_another_process_is_seen_at_the_next_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watched.kv");
    let vault = FileVault::create(&path, PASSWORD, options(grouped(), "watcher")).unwrap();
    let key = name("watched");
    vault
        .create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))
        .unwrap();
    let before = vault.encrypt(&key, b"before", b"").unwrap();
    assert_eq!(
        Envelope::parse(&before).unwrap().header().key_version.get(),
        1
    );

    // Another process rotates and then revokes the key this process has cached.
    let args = [key.to_string(), path.display().to_string()];
    let output = spawn_child("revoke", &args).wait_with_output().unwrap();
    let lines = child_lines(0, &output);
    assert_eq!(lines, ["ACK rotate watched 2", "ACK revoke watched"]);

    let metadata = vault.key(&key).unwrap();
    assert_eq!(metadata.latest_version().get(), 2);
    assert_eq!(metadata.state().kind().as_str(), "revoked");
    let refused = vault.encrypt(&key, b"after", b"").unwrap_err();
    assert!(is_state_denial(&refused), "{refused:?}");
    vault.verify_audit().unwrap();
}

fn race_key(index: usize) -> KeyName {
    name(&format!("race-{index}"))
}

/// Another process revokes keys one by one, at random moments, while this one encrypts with
/// them as fast as it can. Each revocation is reported on the child's stdout only after it
/// committed; no encryption that starts after this process has read that report may succeed.
#[test]
fn a_revocation_in_another_process_races_encryption_and_always_wins() {
    let keys = env_count("KEYVAULT_MP_RACE_KEYS", 40);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.kv");
    let vault = FileVault::create(&path, PASSWORD, options(grouped(), "encrypter")).unwrap();
    for index in 0..keys {
        vault
            .create_key(NewKey::new(race_key(index), KeyAlgorithm::default()))
            .unwrap();
    }
    let args = [
        keys.to_string(),
        seed().to_string(),
        path.display().to_string(),
    ];
    let mut child = spawn_child("revoke-each", &args);
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let revoked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reports = {
        let revoked = std::sync::Arc::clone(&revoked);
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stdout) {
                let line = line.unwrap();
                if let Some(index) = line.strip_prefix("REVOKED ") {
                    let index: usize = index.parse().unwrap();
                    revoked.store(index + 1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        })
    };
    let mut raced = 0;
    for index in 0..keys {
        let key = race_key(index);
        loop {
            let known_revoked = revoked.load(std::sync::atomic::Ordering::SeqCst) > index;
            match vault.encrypt(&key, b"racing", b"") {
                Ok(_) => {
                    assert!(
                        !known_revoked,
                        "{key} encrypted after its revocation in another process committed"
                    );
                    raced += 1;
                }
                Err(err) => {
                    assert!(is_state_denial(&err), "{key}: {err:?}");
                    break;
                }
            }
        }
    }
    reports.join().unwrap();
    assert!(child.wait().unwrap().success());
    vault.verify_audit().unwrap();
    println!("{keys} revocations raced {raced} successful encryptions");
}

/// A process's own management commits must reach its own key cache: the next use sees them.
#[test]
fn a_process_sees_its_own_rotation_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let vault = FileVault::create(
        dir.path().join("own.kv"),
        PASSWORD,
        options(grouped(), "owner"),
    )
    .unwrap();
    let key = name("own");
    vault
        .create_key(NewKey::new(key.clone(), KeyAlgorithm::default()))
        .unwrap();
    vault.encrypt(&key, b"warm the cache", b"").unwrap();

    let rotated = vault.rotate(&key).unwrap();
    assert_eq!(rotated.latest_version().get(), 2);
    assert_eq!(vault.key(&key).unwrap().latest_version().get(), 2);
    let sealed = vault.encrypt(&key, b"after rotate", b"").unwrap();
    assert_eq!(
        Envelope::parse(&sealed).unwrap().header().key_version.get(),
        2
    );

    vault.transition(&key, Transition::Revoke).unwrap();
    let refused = vault.encrypt(&key, b"after revoke", b"");
    assert!(
        refused.as_ref().is_err_and(is_state_denial),
        "a revoked key encrypted: {refused:?}"
    );
}

/// Rotation at use time goes through the same cache: the use after it must see the new version.
#[test]
fn rotation_by_use_count_keeps_the_key_usable() {
    let dir = tempfile::tempdir().unwrap();
    let vault = FileVault::create(
        dir.path().join("uses.kv"),
        PASSWORD,
        options(AuditCommit::Synchronous, "rotator"),
    )
    .unwrap();
    let key = name("by-uses");
    let mut spec = NewKey::new(key.clone(), KeyAlgorithm::default());
    spec.policy.rotation.max_uses = Some(3);
    vault.create_key(spec).unwrap();
    let mut versions = Vec::new();
    for _ in 0..7 {
        let sealed = vault.encrypt(&key, b"counted", b"").unwrap();
        versions.push(Envelope::parse(&sealed).unwrap().header().key_version.get());
    }
    assert_eq!(versions, [1, 1, 1, 2, 2, 2, 3]);
    let rotations = vault
        .audit_log(&AuditFilter {
            operation: Some(AuditOperation::Rotate),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rotations.len(), 2, "one audited rotation per new version");
    assert!(rotations.iter().all(|r| r.event.outcome == Outcome::Ok));
}

/// A process holding a reservation made under `max_operations = 1000` cannot spend past a limit
/// another process lowers to 10, one use at a time or in a batch. Regression: a batch spent
/// the rest of the old reservation.
#[test]
fn a_lowered_limit_binds_a_process_holding_a_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let vault = FileVault::create(&path, PASSWORD, options(grouped(), "holder")).unwrap();
    let key = name("lowered");
    let mut spec = NewKey::new(key.clone(), KeyAlgorithm::default());
    spec.policy = KeyPolicy {
        max_operations: Some(1000),
        ..KeyPolicy::default()
    };
    vault.create_key(spec).unwrap();
    // One use reserves a range of the old budget in this process.
    vault.encrypt(&key, b"first", b"").unwrap();
    let output = spawn_child(
        "lower",
        &[
            "lowered".to_owned(),
            "10".to_owned(),
            path.display().to_string(),
        ],
    )
    .wait_with_output()
    .unwrap();
    child_lines(0, &output);
    let items: Vec<(&[u8], &[u8])> = vec![(b"batch", b""); 20];
    let err = vault.encrypt_batch(&key, &items).unwrap_err();
    assert!(is_usage_limit(&err), "{err:?}");
    let mut used = 1;
    while vault.encrypt(&key, b"one", b"").is_ok() {
        used += 1;
        assert!(used <= 10, "spent past the lowered limit");
    }
    assert_eq!(used, 10);
    // Another process gets nothing more either.
    let other = FileVault::open_file(&path, PASSWORD, options(grouped(), "other")).unwrap();
    let err = other.encrypt(&key, b"more", b"").unwrap_err();
    assert!(is_usage_limit(&err), "{err:?}");
}
