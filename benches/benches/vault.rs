//! The Vault beside its baselines, measured in the same run:
//!
//! - `encrypt` / `decrypt` of 16 B and 1 KiB through `Vault` on each backend (a key with a
//!   `max_operations` policy, so durable counters are on, and grouped audit, the default)
//!   beside the raw keyvault-crypto seal/open of the same algorithm;
//! - `threads`: the aggregate rate of 1, 2, 4 and 8 threads encrypting 16 B through one file
//!   vault (the same key, `max_operations` policy, grouped audit), reported as time per
//!   encryption of all threads together;
//! - `create_key` on the file backend beside one write and fsync of a small file in the same
//!   directory;
//! - opening a file vault of 10,000 keys beside one Argon2id derivation with the same
//!   parameters, and listing those 10,000 keys.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // benchmark code: a failure should abort the run

use std::hint::black_box;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use keyvault_core::{KeyAlgorithm, KeyName, KeyPolicy};
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, SecretKey};
use keyvault_store::{Backend, FileVault, KeyFilter, MemoryVault, NewKey, Vault, VaultOptions};

const SIZES: [usize; 2] = [16, 1024];
const AAD: &[u8] = b"vault/record/0007";
const KEYS_IN_BIG_VAULT: usize = 10_000;

fn options() -> VaultOptions {
    VaultOptions::default()
}

fn limited_key(name: &str) -> NewKey {
    let mut spec = NewKey::new(KeyName::new(name).unwrap(), KeyAlgorithm::default());
    spec.policy = KeyPolicy::default().with_max_operations(1 << 60);
    spec
}

/// Encrypt `plaintext` under `name` through `vault`, labelled by its backend.
fn bench_encrypt<B: Backend>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    backend: &str,
    vault: &Vault<B>,
    name: &KeyName,
    plaintext: &[u8],
) {
    group.bench_with_input(
        BenchmarkId::new(backend, plaintext.len()),
        plaintext,
        |b, pt| {
            b.iter(|| black_box(vault.encrypt(name, black_box(pt), AAD).unwrap()));
        },
    );
}

/// Decrypt an envelope of `plaintext` sealed under `name` through `vault`.
fn bench_decrypt<B: Backend>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    backend: &str,
    vault: &Vault<B>,
    name: &KeyName,
    plaintext: &[u8],
) {
    let envelope = vault.encrypt(name, plaintext, AAD).unwrap();
    group.bench_with_input(
        BenchmarkId::new(backend, plaintext.len()),
        &envelope,
        |b, e| {
            b.iter(|| black_box(vault.decrypt(black_box(e), AAD).unwrap()));
        },
    );
}

fn encrypt_decrypt(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = FileVault::create(dir.path().join("bench.vault"), b"pw", options()).unwrap();
    let memory = MemoryVault::in_memory(b"pw", options()).unwrap();
    memory.create_key(limited_key("bench")).unwrap();
    file.create_key(limited_key("bench")).unwrap();
    let name = KeyName::new("bench").unwrap();
    let raw = AeadKey::new(Algorithm::default(), &SecretKey::generate().unwrap()).unwrap();

    let mut group = c.benchmark_group("vault/encrypt");
    group.measurement_time(Duration::from_secs(3));
    for size in SIZES {
        let plaintext = vec![0x5A; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("raw-seal", size), &plaintext, |b, pt| {
            b.iter(|| black_box(raw.seal(black_box(pt), AAD).unwrap()));
        });
        bench_encrypt(&mut group, "memory", &memory, &name, &plaintext);
        bench_encrypt(&mut group, "file", &file, &name, &plaintext);
    }
    group.finish();

    let mut group = c.benchmark_group("vault/decrypt");
    group.measurement_time(Duration::from_secs(3));
    for size in SIZES {
        let plaintext = vec![0x5A; size];
        group.throughput(Throughput::Bytes(size as u64));
        let sealed = raw.seal(&plaintext, AAD).unwrap();
        group.bench_with_input(BenchmarkId::new("raw-open", size), &sealed, |b, s| {
            b.iter(|| black_box(raw.open(black_box(s), AAD).unwrap()));
        });
        bench_decrypt(&mut group, "memory", &memory, &name, &plaintext);
        bench_decrypt(&mut group, "file", &file, &name, &plaintext);
    }
    group.finish();
}

/// `iters` encryptions shared out between `threads` threads; the wall time of all of them.
fn encrypt_on_threads(vault: &FileVault, name: &KeyName, threads: u64, iters: u64) -> Duration {
    let plaintext = [0x5Au8; 16];
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let share = iters / threads + u64::from(thread < iters % threads);
            scope.spawn(move || {
                for _ in 0..share {
                    black_box(vault.encrypt(name, black_box(&plaintext), AAD).unwrap());
                }
            });
        }
    });
    started.elapsed()
}

fn threads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = FileVault::create(dir.path().join("threads.vault"), b"pw", options()).unwrap();
    file.create_key(limited_key("bench")).unwrap();
    let name = KeyName::new("bench").unwrap();
    let mut group = c.benchmark_group("vault/threads");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 2, 4, 8] {
        group.bench_function(BenchmarkId::new("file-encrypt-16", threads), |b| {
            b.iter_custom(|iters| encrypt_on_threads(&file, &name, threads, iters));
        });
    }
    group.finish();
}

fn create_key(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let vault = FileVault::create(dir.path().join("create.vault"), b"pw", options()).unwrap();
    let counter = AtomicU64::new(0);
    let mut group = c.benchmark_group("vault/create-key");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("fsync-small-file", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let mut file = std::fs::File::create(dir.path().join(format!("f{n}"))).unwrap();
            file.write_all(&[7u8; 512]).unwrap();
            file.sync_all().unwrap();
        });
    });
    group.bench_function("file", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let spec = NewKey::new(
                KeyName::new(format!("k{n}")).unwrap(),
                KeyAlgorithm::default(),
            );
            black_box(vault.create_key(spec).unwrap());
        });
    });
    group.finish();
}

/// A file vault holding `KEYS_IN_BIG_VAULT` keys, built in memory and restored in one
/// transaction (creating them one by one would take one fsync each).
fn big_vault(dir: &std::path::Path) -> std::path::PathBuf {
    let memory = MemoryVault::in_memory(b"pw", options()).unwrap();
    for i in 0..KEYS_IN_BIG_VAULT {
        let spec = NewKey::new(
            KeyName::new(format!("key-{i:05}")).unwrap(),
            KeyAlgorithm::default(),
        );
        memory.create_key(spec).unwrap();
    }
    let snapshot = memory.dangerous().snapshot(None, false).unwrap();
    let path = dir.join("big.vault");
    keyvault_store::dangerous::restore_file(&path, &[snapshot], b"pw", options()).unwrap();
    path
}

fn open_and_list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = big_vault(dir.path());
    let salt = [9u8; 16];
    let mut group = c.benchmark_group("vault/open-10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("argon2id-default", |b| {
        b.iter(|| black_box(derive_key(b"pw", &salt, &Argon2Params::DEFAULT).unwrap()));
    });
    group.bench_function("file", |b| {
        b.iter(|| black_box(FileVault::open_file(&path, b"pw", options()).unwrap()));
    });
    group.finish();

    let vault = FileVault::open_file(&path, b"pw", options()).unwrap();
    let mut group = c.benchmark_group("vault/list-10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("file", |b| {
        b.iter(|| {
            let keys = vault.list_keys(&KeyFilter::default()).unwrap();
            assert_eq!(keys.len(), KEYS_IN_BIG_VAULT);
        });
    });
    group.finish();
}

criterion_group!(benches, encrypt_decrypt, threads, create_key, open_and_list);
criterion_main!(benches);
