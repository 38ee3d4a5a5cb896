//! Tamper battery for each format (export JSON, export binary, full backup, incremental backup):
//! every single-bit flip at every byte, every truncation length and a few thousand random
//! mutations must each give a typed error — no panic, and no key material released. The counts
//! are printed (`cargo test --test it tamper:: -- --nocapture`).
//!
//! Derivations are cached by (salt, parameters), as a caller holding an `ExportKey` or
//! `BackupKey` would; a mutation that changes the salt or the parameters pays for its own
//! Argon2id run. The files use the cheapest parameters keyvault's floor allows (7 MiB, 5 passes).
//! A mutation that raises the parameters above twice the original cost (but within keyvault's
//! ceiling, so the file is accepted as well formed) is counted apart and not derived: deriving
//! with other parameters cannot reproduce the password check value, and a few hundred
//! derivations at up to 1 GiB would take minutes. Everything else runs the real code.

use crate::common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{exportable, name, vault};
use keyvault_backup::{
    BackupError, BackupKey, ExportKey, ExportOptions, ExportedKey, VaultBackup, create_backup,
    create_incremental_backup, export_key,
};
use keyvault_core::KeyAlgorithm;
use keyvault_crypto::Argon2Params;
use keyvault_store::NewKey;
use keyvault_test_support::Rng;

const PW: &[u8] = b"tamper password";
const FAST: Argon2Params = Argon2Params {
    memory_kib: 7168,
    iterations: 5,
    lanes: 1,
};
const RANDOM_MUTATIONS: usize = 3000;

#[derive(Default, Debug)]
struct Counts {
    bit_flips: usize,
    truncations: usize,
    random: usize,
    accepted: usize,
    panics: usize,
    derivations: usize,
    costly_skipped: usize,
    errors: BTreeMap<String, usize>,
    elapsed: std::time::Duration,
}

fn variant(err: &BackupError) -> String {
    let text = format!("{err:?}");
    let end = text.find([' ', '(', '{']).unwrap_or(text.len());
    let mut name = text[..end].to_owned();
    if let BackupError::Crypto(inner) = err {
        let inner = format!("{inner:?}");
        let end = inner.find([' ', '(', '{']).unwrap_or(inner.len());
        name = format!("Crypto::{}", &inner[..end]);
    }
    name
}

/// Run the battery on `original` with `open` (which must succeed on the original).
fn battery(_format: &str, original: &[u8], open: &dyn Fn(&[u8]) -> Outcome) -> Counts {
    let started = std::time::Instant::now();
    assert!(
        matches!(open(original), Outcome::Opened),
        "the untouched file opens"
    );
    let mut counts = Counts::default();
    let attempt =
        |bytes: &[u8], counts: &mut Counts| match catch_unwind(AssertUnwindSafe(|| open(bytes))) {
            Ok(Outcome::Opened) => counts.accepted += 1,
            Ok(Outcome::Refused(err)) => *counts.errors.entry(variant(&err)).or_default() += 1,
            Ok(Outcome::CostlyParameters) => counts.costly_skipped += 1,
            Err(_) => counts.panics += 1,
        };
    let mut bytes = original.to_vec();
    for index in 0..original.len() {
        for bit in 0..8 {
            bytes[index] ^= 1 << bit;
            attempt(&bytes, &mut counts);
            bytes[index] ^= 1 << bit;
            counts.bit_flips += 1;
        }
    }
    for len in 0..original.len() {
        attempt(&original[..len], &mut counts);
        counts.truncations += 1;
    }
    let mut rng = Rng::new(0x6b76_7462 ^ original.len() as u64);
    for _ in 0..RANDOM_MUTATIONS {
        let mut mutated = original.to_vec();
        match rng.below(4) {
            0 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(mutated.len());
                    mutated[at] = u8::try_from(rng.below(256)).unwrap();
                }
            }
            1 => {
                let at = rng.below(mutated.len() + 1);
                mutated.insert(at, u8::try_from(rng.below(256)).unwrap());
            }
            2 => {
                let at = rng.below(mutated.len());
                mutated.remove(at);
            }
            _ => {
                let at = rng.below(mutated.len());
                let len = 1 + rng.below(16).min(mutated.len() - at - 1);
                let value = u8::try_from(rng.below(256)).unwrap();
                mutated[at..at + len].fill(value);
            }
        }
        if mutated == original {
            continue;
        }
        attempt(&mutated, &mut counts);
        counts.random += 1;
    }
    counts.elapsed = started.elapsed();
    counts
}

fn report(format: &str, len: usize, counts: &Counts) {
    println!(
        "{format}: {len} bytes; {} bit flips, {} truncations, {} random mutations -> {} accepted, {} panics; \
         {} Argon2id derivations, {} costlier-parameter mutations not derived; {:?}; errors {:?}",
        counts.bit_flips,
        counts.truncations,
        counts.random,
        counts.accepted,
        counts.panics,
        counts.derivations,
        counts.costly_skipped,
        counts.elapsed,
        counts.errors
    );
}

/// What one attempt to open a mutated file gave.
enum Outcome {
    Opened,
    Refused(BackupError),
    CostlyParameters,
}

impl From<Result<(), BackupError>> for Outcome {
    fn from(result: Result<(), BackupError>) -> Self {
        match result {
            Ok(()) => Outcome::Opened,
            Err(err) => Outcome::Refused(err),
        }
    }
}

fn costlier(p: Argon2Params) -> bool {
    u64::from(p.memory_kib) * u64::from(p.iterations)
        > 2 * u64::from(FAST.memory_kib) * u64::from(FAST.iterations)
}

fn check(counts: &Counts) {
    assert_eq!(
        counts.accepted, 0,
        "a mutated file was accepted: {counts:?}"
    );
    assert_eq!(counts.panics, 0, "a mutated file panicked: {counts:?}");
    assert!(counts.bit_flips > 0 && counts.truncations > 0 && counts.random > 0);
}

fn export_file() -> ExportedKey {
    let source = vault();
    source
        .create_key(exportable("tamper", KeyAlgorithm::default()))
        .unwrap();
    source.rotate(&name("tamper")).unwrap();
    let options = ExportOptions {
        argon2: FAST,
        comment: Some("c".to_owned()),
        ..ExportOptions::default()
    };
    export_key(&source, &name("tamper"), PW, &options).unwrap()
}

type KdfId = (Vec<u8>, u32, u32, u32);

fn export_opener(derivations: &RefCell<usize>) -> impl Fn(&[u8]) -> Outcome + '_ {
    let cache: RefCell<HashMap<KdfId, ExportKey>> = RefCell::new(HashMap::new());
    move |bytes| {
        let file = match ExportedKey::decode(bytes) {
            Ok(file) => file,
            Err(err) => return Outcome::Refused(err),
        };
        if costlier(file.argon2_params()) {
            return Outcome::CostlyParameters;
        }
        open_export(&file, &cache, derivations).into()
    }
}

fn open_export(
    file: &ExportedKey,
    cache: &RefCell<HashMap<KdfId, ExportKey>>,
    derivations: &RefCell<usize>,
) -> Result<(), BackupError> {
    {
        let p = file.argon2_params();
        let id = (file.salt().to_vec(), p.memory_kib, p.iterations, p.lanes);
        if !cache.borrow().contains_key(&id) {
            *derivations.borrow_mut() += 1;
            let key = file.derive_key(PW)?;
            cache.borrow_mut().insert(id.clone(), key);
        }
        let cache = cache.borrow();
        let bundle = file.open_with(&cache[&id])?;
        assert!(!bundle.versions.is_empty());
        Ok(())
    }
}

fn backup_opener(derivations: &RefCell<usize>) -> impl Fn(&[u8]) -> Outcome + '_ {
    let cache: RefCell<HashMap<KdfId, BackupKey>> = RefCell::new(HashMap::new());
    move |bytes| {
        let file = match VaultBackup::from_bytes(bytes.to_vec()) {
            Ok(file) => file,
            Err(err) => return Outcome::Refused(err),
        };
        if costlier(file.argon2_params()) {
            return Outcome::CostlyParameters;
        }
        open_backup(&file, &cache, derivations).into()
    }
}

fn open_backup(
    file: &VaultBackup,
    cache: &RefCell<HashMap<KdfId, BackupKey>>,
    derivations: &RefCell<usize>,
) -> Result<(), BackupError> {
    {
        let p = file.argon2_params();
        let id = (file.salt().to_vec(), p.memory_kib, p.iterations, p.lanes);
        if !cache.borrow().contains_key(&id) {
            *derivations.borrow_mut() += 1;
            let key = file.derive_key(PW)?;
            cache.borrow_mut().insert(id.clone(), key);
        }
        let cache = cache.borrow();
        file.open_with(&cache[&id])?;
        Ok(())
    }
}

#[test]
fn export_json_rejects_every_change() {
    let json = export_file().to_json();
    let derivations = RefCell::new(0);
    let mut counts = battery("export JSON", json.as_bytes(), &export_opener(&derivations));
    counts.derivations = derivations.into_inner();
    report("export JSON", json.len(), &counts);
    check(&counts);
}

#[test]
fn export_binary_rejects_every_change() {
    let binary = export_file().to_bytes();
    let derivations = RefCell::new(0);
    let mut counts = battery("export binary", &binary, &export_opener(&derivations));
    counts.derivations = derivations.into_inner();
    report("export binary", binary.len(), &counts);
    check(&counts);
}

fn backups() -> (VaultBackup, VaultBackup) {
    let source = vault();
    source
        .create_key(NewKey::new(name("one"), KeyAlgorithm::default()))
        .unwrap();
    let mut config = common::backup_config(PW);
    config.argon2 = FAST;
    config.comment = Some("t".to_owned());
    let full = create_backup(&source, &config).unwrap();
    source.rotate(&name("one")).unwrap();
    let inc = create_incremental_backup(&source, &full, &config).unwrap();
    (full, inc)
}

#[test]
fn full_backup_rejects_every_change() {
    let (full, _) = backups();
    let derivations = RefCell::new(0);
    let mut counts = battery("full backup", full.as_bytes(), &backup_opener(&derivations));
    counts.derivations = derivations.into_inner();
    report("full backup", full.as_bytes().len(), &counts);
    check(&counts);
}

#[test]
fn incremental_backup_rejects_every_change() {
    let (_, inc) = backups();
    let derivations = RefCell::new(0);
    let mut counts = battery(
        "incremental backup",
        inc.as_bytes(),
        &backup_opener(&derivations),
    );
    counts.derivations = derivations.into_inner();
    report("incremental backup", inc.as_bytes().len(), &counts);
    check(&counts);
}
