//! Crash safety: a child process writing to a vault file (creating keys, rotating, encrypting
//! under `max_operations` limits) is killed with SIGKILL at random points, again and again on
//! the same file: 50 times by default, `KEYVAULT_CRASH_RUNS` for more. The child prints each
//! acknowledgement only after its call returned. After every kill the vault must open, every
//! acknowledged key and rotation must be there, no limited key may have done more than its
//! maximum (counted from the acknowledgements and from the audit log), a key seen exhausted
//! stays exhausted, and the audit chain must verify. At the end every acknowledged ciphertext
//! must decrypt.
//!
//! The child runs with synchronous audit commits, so every successful use is in the log before
//! it is acknowledged and the log itself can be held to the limits.
//!
//! Each check reads the whole audit log, which grows with every run: for 1,000 runs build with
//! `--release` (`KEYVAULT_CRASH_RUNS=1000 cargo test --release -p keyvault-store --test it crash::`).
//! A second test kills the child while it creates a vault: the path must then hold either
//! nothing or a whole vault.

#![cfg(unix)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::is_usage_limit;
use keyvault_core::envelope::Envelope;
use keyvault_core::{AuditOperation, KeyAlgorithm, KeyPolicy, Outcome, StateKind};
use keyvault_crypto::Argon2Params;
use keyvault_store::{AuditCommit, AuditFilter, FileVault, NewKey, VaultOptions};
use keyvault_test_support::child::{child_command, child_spec, test_path};
use keyvault_test_support::fixtures::name;
use keyvault_test_support::{Rng, seed};

const PASSWORD: &[u8] = b"crash test password";
/// Shared keys the child rotates (and encrypts with).
const ROTATED: [&str; 2] = ["rot-0", "rot-1"];
/// Keys with a usage limit; the limits are set per run count in `limits`.
const LIMITED: [&str; 3] = ["lim-small", "lim-medium", "lim-large"];

fn options(actor: &str) -> VaultOptions {
    VaultOptions {
        argon2: Argon2Params::MINIMUM,
        audit_commit: AuditCommit::Synchronous,
        actor: actor.to_owned(),
        ..Default::default()
    }
}

fn plaintext(run: u64, op: u64) -> Vec<u8> {
    format!("run {run} operation {op}").into_bytes()
}

fn aad(run: u64, op: u64) -> Vec<u8> {
    format!("{run}/{op}").into_bytes()
}

/// The `max_operations` of each limited key: one spent within the first runs, one around the
/// middle, one never.
fn limits(runs: u64) -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        (LIMITED[0], 10),
        (LIMITED[1], (runs * 4).max(20)),
        (LIMITED[2], 1_000_000_000),
    ])
}

/// The full name of [`child_worker`], for starting it.
fn child_test() -> String {
    test_path(module_path!(), "child_worker")
}

/// The child side: does nothing unless `KEYVAULT_TEST_CHILD` is set.
#[test]
fn child_worker() {
    let Some(spec) = child_spec() else {
        return;
    };
    let mut parts = spec.splitn(4, ',');
    match parts.next() {
        Some("writer") => {
            let run: u64 = parts.next().unwrap().parse().unwrap();
            let seed: u64 = parts.next().unwrap().parse().unwrap();
            let path = PathBuf::from(parts.next().unwrap());
            writer(&path, run, seed);
        }
        Some("creator") => {
            let path = PathBuf::from(parts.next().unwrap());
            println!("CREATING");
            drop(FileVault::create(&path, PASSWORD, options("creator")).unwrap());
            println!("ACK created");
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// Write until killed, acknowledging each write once its call has returned.
fn writer(path: &Path, run: u64, seed: u64) {
    let vault = FileVault::open_file(path, PASSWORD, options(&format!("run-{run}"))).unwrap();
    println!("READY");
    let mut rng = Rng::new(seed ^ run.rotate_left(32));
    let algorithms = [
        KeyAlgorithm::XChaCha20Poly1305,
        KeyAlgorithm::ChaCha20Poly1305,
        KeyAlgorithm::Aes256Gcm,
    ];
    let started = Instant::now();
    // Bounded, in case the parent never comes to kill us.
    for op in 0..1_000_000_u64 {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        let roll = rng.below(100);
        if roll < 15 {
            let key = format!("c-{run}-{op}");
            let algorithm = algorithms[usize::try_from(rng.below(3)).unwrap()];
            let created = vault
                .create_key(NewKey::new(name(&key), algorithm))
                .unwrap();
            println!("ACK create {key} {}", created.id());
        } else if roll < 30 {
            let key = rng.pick(&ROTATED);
            let rotated = vault.rotate(&name(key)).unwrap();
            println!("ACK rotate {key} {}", rotated.latest_version().get());
        } else {
            let key = if roll < 85 {
                rng.pick(&LIMITED)
            } else {
                rng.pick(&ROTATED)
            };
            match vault.encrypt(&name(key), &plaintext(run, op), &aad(run, op)) {
                Ok(envelope) => println!("ACK encrypt {key} {run} {op} {}", hex::encode(envelope)),
                Err(err) if is_usage_limit(&err) => println!("DENIED {key}"),
                Err(err) => panic!("run {run}: encrypt {key}: {err:?}"),
            }
        }
    }
    println!("DONE");
}

/// What one run of the child printed, and how it ended.
struct RunResult {
    lines: Vec<String>,
    killed: bool,
}

/// Start the child, kill it after a random delay, collect its complete lines.
fn run_child(path: &Path, run: u64, seed: u64, rng: &mut Rng) -> RunResult {
    let spec = format!("writer,{run},{seed},{}", path.display());
    let mut child = child_command(&child_test(), &spec).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            match stdout.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line cut short by the kill was never acknowledged.
            if line.last() != Some(&b'\n') {
                break;
            }
            let line = String::from_utf8(line).unwrap().trim_end().to_owned();
            let _ = sender.send(line.clone());
            lines.push(line);
        }
        lines
    });
    // One run in five is killed early, possibly before or while the vault opens; the rest
    // some time after the child reported it was ready.
    let delay = if rng.below(5) == 0 {
        Duration::from_millis(rng.below(60))
    } else {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) if line == "READY" => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Duration::from_micros(rng.below(150_000))
    };
    std::thread::sleep(delay);
    // On Unix, kill sends SIGKILL. It fails only if the child was already reaped.
    let _ = child.kill();
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let killed = status.signal() == Some(9);
    assert!(
        killed || status.success(),
        "run {run}: the child failed on its own ({status}):\n{}\n{stderr}",
        lines.join("\n")
    );
    RunResult { lines, killed }
}

/// Everything acknowledged so far, across runs.
#[derive(Default)]
struct Acks {
    /// name → key id.
    created: BTreeMap<String, String>,
    /// name → versions in the order acknowledged.
    rotated: BTreeMap<String, Vec<u32>>,
    /// (name, run, op, envelope).
    encrypted: Vec<(String, u64, u64, Vec<u8>)>,
    /// name → successful encryptions.
    uses: BTreeMap<String, u64>,
    /// names a child was refused for: the limit was reached.
    exhausted: BTreeMap<String, u64>,
}

impl Acks {
    fn add(&mut self, line: &str) {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["ACK", "create", key, id] => {
                let previous = self.created.insert(key.to_owned(), id.to_owned());
                assert!(previous.is_none(), "{key} acknowledged as created twice");
            }
            ["ACK", "rotate", key, version] => {
                let version: u32 = version.parse().unwrap();
                let versions = self.rotated.entry(key.to_owned()).or_default();
                // Rotations are acknowledged one after another, across every run: each must
                // have made a newer version than any acknowledged before.
                assert!(
                    versions.last().is_none_or(|&last| last < version),
                    "{key}: rotation to {version} acknowledged after {versions:?}"
                );
                versions.push(version);
            }
            ["ACK", "encrypt", key, run, op, envelope] => {
                self.encrypted.push((
                    key.to_owned(),
                    run.parse().unwrap(),
                    op.parse().unwrap(),
                    hex::decode(envelope).unwrap(),
                ));
                *self.uses.entry(key.to_owned()).or_default() += 1;
            }
            ["DENIED", key] => *self.exhausted.entry(key.to_owned()).or_default() += 1,
            _ => panic!("the child printed an unknown line: {line}"),
        }
    }
}

/// After a kill: the vault opens, holds everything acknowledged, and its chain verifies.
fn check_after_kill(path: &Path, run: u64, acks: &Acks, limits: &BTreeMap<&str, u64>) -> u64 {
    let vault = FileVault::open_file(path, PASSWORD, options("checker"))
        .unwrap_or_else(|err| panic!("run {run}: the vault does not open after the kill: {err}"));
    let keys: HashMap<String, keyvault_core::KeyMetadata> = vault
        .list_keys(&Default::default())
        .unwrap()
        .into_iter()
        .map(|metadata| (metadata.name().to_string(), metadata))
        .collect();
    for (key, id) in &acks.created {
        let metadata = keys
            .get(key)
            .unwrap_or_else(|| panic!("run {run}: acknowledged key {key} is gone"));
        assert_eq!(&metadata.id().to_string(), id, "run {run}: {key}");
        assert_eq!(metadata.state().kind(), StateKind::Active);
    }
    for (key, versions) in &acks.rotated {
        let latest = keys[key].latest_version().get();
        let last = *versions.last().unwrap();
        assert!(
            latest >= last,
            "run {run}: {key} acknowledged version {last}, the file has {latest}"
        );
        let stored: Vec<u32> = keys[key]
            .versions()
            .iter()
            .map(|v| v.version.get())
            .collect();
        assert_eq!(stored, (1..=latest).collect::<Vec<_>>(), "run {run}: {key}");
    }
    let log = vault.audit_log(&AuditFilter::default()).unwrap();
    for (key, &max) in limits {
        let id = keys[*key].id();
        let acked = acks.uses.get(*key).copied().unwrap_or(0);
        assert!(
            acked <= max,
            "run {run}: {key} acknowledged {acked} uses, max {max}"
        );
        let audited = log
            .iter()
            .filter(|r| {
                r.event.key_id == Some(id)
                    && r.event.operation == AuditOperation::Encrypt
                    && r.event.outcome == Outcome::Ok
            })
            .count();
        let audited = u64::try_from(audited).unwrap();
        assert!(
            acked <= audited && audited <= max,
            "run {run}: {key}: {acked} acknowledged, {audited} audited, max {max}"
        );
        if acks.exhausted.contains_key(*key) {
            // Refused once, refused for good: crashes never give back spent operations.
            let err = vault.encrypt(&name(key), b"probe", b"").unwrap_err();
            assert!(is_usage_limit(&err), "run {run}: {key}: {err:?}");
        }
    }
    let report = vault
        .verify_audit()
        .unwrap_or_else(|err| panic!("run {run}: the audit chain does not verify: {err}"));
    report.records
}

#[test]
fn killed_writers_lose_nothing_they_acknowledged() {
    let runs: u64 = std::env::var("KEYVAULT_CRASH_RUNS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50);
    let seed = seed();
    let mut rng = Rng::new(seed);
    let limits = limits(runs);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crashed.kv");
    let setup = FileVault::create(&path, PASSWORD, options("setup")).unwrap();
    for (key, max) in &limits {
        let mut spec = NewKey::new(name(key), KeyAlgorithm::default());
        spec.policy = KeyPolicy::default().with_max_operations(*max);
        setup.create_key(spec).unwrap();
    }
    setup
        .create_key(NewKey::new(name(ROTATED[0]), KeyAlgorithm::default()))
        .unwrap();
    setup
        .create_key(NewKey::new(name(ROTATED[1]), KeyAlgorithm::Aes256Gcm))
        .unwrap();
    drop(setup);

    let started = Instant::now();
    let mut acks = Acks::default();
    let mut kills = 0;
    let mut acknowledged = 0;
    let mut records = 0;
    let mut before_ready = 0;
    for run in 0..runs {
        let result = run_child(&path, run, seed, &mut rng);
        kills += u64::from(result.killed);
        before_ready += u64::from(!result.lines.iter().any(|line| line == "READY"));
        for line in &result.lines {
            if line.starts_with("ACK ") || line.starts_with("DENIED ") {
                acknowledged += u64::from(line.starts_with("ACK "));
                acks.add(line);
            }
        }
        records = check_after_kill(&path, run, &acks, &limits);
    }
    let killing_took = started.elapsed();

    // Finally every acknowledged ciphertext decrypts; the limits are lifted first so checking
    // spends nothing.
    let vault = FileVault::open_file(&path, PASSWORD, options("final")).unwrap();
    for key in LIMITED {
        vault.set_policy(&name(key), KeyPolicy::default()).unwrap();
    }
    for (key, run, op, envelope) in &acks.encrypted {
        let header = *Envelope::parse(envelope).unwrap().header();
        assert_eq!(header.key_id, vault.key(&name(key)).unwrap().id());
        let opened = vault.decrypt(envelope, &aad(*run, *op)).unwrap();
        assert_eq!(&opened[..], &plaintext(*run, *op)[..], "{key}");
    }
    vault.verify_audit().unwrap();
    let rotations: usize = acks.rotated.values().map(Vec::len).sum();
    println!(
        "{runs} runs (seed {seed}), {kills} killed by SIGKILL ({before_ready} before the vault \
         had opened), in {killing_took:.2?}: \
         {acknowledged} writes acknowledged ({} keys created, {rotations} rotations, {} \
         encryptions) and all present after every kill; audit chain of {records} records \
         verified after each kill",
        acks.created.len(),
        acks.encrypted.len(),
    );
    for (key, max) in &limits {
        println!(
            "  {key}: {} acknowledged uses <= max {max} ({} denials)",
            acks.uses.get(*key).copied().unwrap_or(0),
            acks.exhausted.get(*key).copied().unwrap_or(0)
        );
    }
    assert_eq!(kills, runs, "every run ended by SIGKILL");
}

/// What a killed creation left at `path`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Left {
    /// No file: the state before.
    Nothing,
    /// A vault that opens: the state after.
    Vault,
    /// Something else, with what opening it said.
    Other(String),
}

#[test]
fn a_killed_creation_leaves_no_vault_or_a_whole_one() {
    let runs: u64 = std::env::var("KEYVAULT_CRASH_RUNS")
        .ok()
        .and_then(|value| value.parse().ok())
        .map_or(20, |runs: u64| runs.max(20) / 2);
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes: BTreeMap<Left, u64> = BTreeMap::new();
    for run in 0..runs {
        let path = dir.path().join(format!("created-{run}.kv"));
        let mut child = child_command(&child_test(), &format!("creator,{}", path.display()))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut acknowledged = false;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            if line.trim_end() == "CREATING" {
                break;
            }
            line.clear();
        }
        // Creation takes one Argon2 derivation (tens of milliseconds) after the file appears.
        std::thread::sleep(Duration::from_micros(rng.below(60_000)));
        let _ = child.kill();
        child.wait().unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        acknowledged |= rest.lines().any(|line| line == "ACK created");
        let left = if !path.exists() {
            Left::Nothing
        } else {
            match FileVault::open_file(&path, PASSWORD, options("checker")) {
                Ok(vault) => {
                    vault.verify_audit().unwrap();
                    Left::Vault
                }
                Err(err) => {
                    let again = match FileVault::create(&path, PASSWORD, options("again")) {
                        Ok(_) => "created anew".to_owned(),
                        Err(err) => format!("create again: {err}"),
                    };
                    Left::Other(
                        format!("open: {err}; {again}")
                            .replace(&path.display().to_string(), "<file>"),
                    )
                }
            }
        };
        assert!(
            !acknowledged || left == Left::Vault,
            "run {run}: creation acknowledged, then {left:?}"
        );
        *outcomes.entry(left).or_default() += 1;
    }
    println!("{runs} creations killed (seed {seed}): {outcomes:?}");
    let half_made: u64 = outcomes
        .iter()
        .filter(|(left, _)| matches!(left, Left::Other(_)))
        .map(|(_, count)| count)
        .sum();
    assert_eq!(half_made, 0, "neither before nor after: {outcomes:?}");
}
