//! Key derivation and MACs: keyvault's HKDF-SHA256, subkey derivation and HMAC-SHA256 beside the
//! raw `hkdf` and `hmac` crates, and Argon2id at `Argon2Params::DEFAULT`, the baseline that
//! password-based operations elsewhere in the workspace are compared against.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // benchmark code: a failure should abort the run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use keyvault_crypto::{Argon2Params, SecretKey, kdf, mac, password};
use sha2::Sha256;

const IKM: [u8; 32] = [0x0b; 32];
const SALT: [u8; 32] = [0x5a; 32];
const INFO: &[u8] = b"keyvault bench info";
const LABEL: &str = "record-encryption";
const CONTEXT: &[u8] = b"vault-0001/record-0007";

fn short_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    group
}

fn hkdf_benches(c: &mut Criterion) {
    let mut group = short_group(c, "hkdf-sha256/32B-out");
    group.bench_function("keyvault", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            kdf::hkdf_sha256(black_box(&SALT), black_box(&IKM), black_box(INFO), &mut out).unwrap();
            out
        });
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            Hkdf::<Sha256>::new(Some(black_box(&SALT)), black_box(&IKM))
                .expand(black_box(INFO), &mut out)
                .unwrap();
            out
        });
    });
    group.finish();

    // derive_subkey against the same HKDF call with the same info bytes, built by hand.
    let master = SecretKey::from_slice(&IKM).unwrap();
    let mut group = short_group(c, "derive-subkey");
    group.bench_function("keyvault", |b| {
        b.iter(|| {
            kdf::derive_subkey(black_box(&master), black_box(LABEL), black_box(CONTEXT)).unwrap()
        });
    });
    group.bench_function("raw", |b| {
        b.iter(|| {
            let label = black_box(LABEL);
            let context = black_box(CONTEXT);
            let mut info = Vec::with_capacity(12 + label.len() + context.len());
            info.extend_from_slice(b"keyvault-v1");
            info.push(u8::try_from(label.len()).unwrap());
            info.extend_from_slice(label.as_bytes());
            info.extend_from_slice(context);
            let mut out = [0u8; 32];
            Hkdf::<Sha256>::new(None, black_box(&IKM))
                .expand(&info, &mut out)
                .unwrap();
            out
        });
    });
    group.finish();

    let check = kdf::derive_subkey(&master, LABEL, CONTEXT).unwrap();
    let mut info = b"keyvault-v1".to_vec();
    info.push(u8::try_from(LABEL.len()).unwrap());
    info.extend_from_slice(LABEL.as_bytes());
    info.extend_from_slice(CONTEXT);
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, &IKM)
        .expand(&info, &mut out)
        .unwrap();
    assert_eq!(check.expose_secret(), &out);
}

fn hmac_benches(c: &mut Criterion) {
    for size in [32usize, 1024] {
        let data = vec![0x33u8; size];
        assert_eq!(
            mac::hmac_sha256(&IKM, &data).as_bytes()[..],
            Hmac::<Sha256>::new_from_slice(&IKM)
                .unwrap()
                .chain_update(&data)
                .finalize()
                .into_bytes()[..]
        );
        let mut group = short_group(c, &format!("hmac-sha256/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("keyvault", |b| {
            b.iter(|| mac::hmac_sha256(black_box(&IKM), black_box(&data)));
        });
        group.bench_function("raw", |b| {
            b.iter(|| {
                let mut m = Hmac::<Sha256>::new_from_slice(black_box(&IKM)).unwrap();
                m.update(black_box(&data));
                m.finalize().into_bytes()
            });
        });
        group.finish();
    }
}

fn argon2_benches(c: &mut Criterion) {
    let params = Argon2Params::DEFAULT;
    let mut group = c.benchmark_group("argon2id");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    group.bench_function("derive_key/default", |b| {
        b.iter(|| {
            password::derive_key(
                black_box(b"correct horse battery staple"),
                &SALT[..16],
                &params,
            )
            .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, hkdf_benches, hmac_benches, argon2_benches);
criterion_main!(benches);
