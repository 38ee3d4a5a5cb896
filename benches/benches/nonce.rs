//! What a nonce costs: one `getrandom::fill` (one `getrandom(2)` system call on Linux) of 24
//! bytes (XChaCha20-Poly1305), of 12 bytes (ChaCha20-Poly1305, AES-256-GCM) and of 64 × 24
//! bytes at once (what `AeadKey::seal_batch` draws for 64 messages), beside 64 separate 24-byte
//! calls and `std::process::id()`, the system call a fork check in a user-space nonce buffer
//! would add to every message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // benchmark code: a failure should abort the run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

fn nonce(c: &mut Criterion) {
    let mut group = c.benchmark_group("nonce");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);

    group.bench_function("getrandom_24B", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 24];
            getrandom::fill(&mut nonce).unwrap();
            nonce
        });
    });
    group.bench_function("getrandom_12B", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).unwrap();
            nonce
        });
    });
    group.bench_function("keyvault_random_fill_24B", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 24];
            keyvault_crypto::random::fill(&mut nonce).unwrap();
            nonce
        });
    });
    group.bench_function("getrandom_64x24B_one_call", |b| {
        b.iter(|| {
            let mut nonces = [0u8; 64 * 24];
            getrandom::fill(&mut nonces).unwrap();
            nonces
        });
    });
    group.bench_function("getrandom_24B_64_calls", |b| {
        b.iter(|| {
            let mut nonces = [0u8; 64 * 24];
            for nonce in nonces.chunks_exact_mut(24) {
                getrandom::fill(nonce).unwrap();
            }
            nonces
        });
    });
    group.bench_function("process_id", |b| b.iter(|| black_box(std::process::id())));
    group.finish();
}

criterion_group!(benches, nonce);
criterion_main!(benches);
