//! File encryption throughput: keyvault-store's chunked stream format as the CLI writes it (64 KiB chunks, explicit
//! nonces, reading from a buffer and writing to a sink) beside the raw AEAD sealing the same
//! bytes in one call, in the same run, for each algorithm. The target is at least 80% of the
//! raw AEAD. `cargo bench -p keyvault-cli --bench stream`.
// Benchmark code: a panic aborts the measurement, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keyvault_crypto::{AeadKey, Algorithm, SecretKey, hazmat};
use keyvault_store::stream::{self, StreamHeader, StreamWriter};

const LEN: usize = 16 << 20;

fn throughput(c: &mut Criterion) {
    let data: Vec<u8> = (0..LEN).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let mut group = c.benchmark_group("file_encryption_16MiB");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(20);
    for algorithm in [Algorithm::XChaCha20Poly1305, Algorithm::Aes256Gcm] {
        let secret = SecretKey::generate().unwrap();
        let key = AeadKey::new(algorithm, &secret).unwrap();
        let nonce = vec![7u8; algorithm.nonce_len()];
        let mut buf = data.clone();
        group.bench_function(format!("raw_aead/{}", algorithm.name()), |b| {
            b.iter(|| {
                let tag = hazmat::seal_in_place_detached(&key, &nonce, b"", &mut buf).unwrap();
                black_box(tag);
            });
        });
        let mut header = StreamHeader::new(algorithm, stream::DEFAULT_CHUNK_SIZE).unwrap();
        header.set_wrapped_key(vec![0u8; 90]).unwrap();
        group.bench_function(format!("stream/{}", algorithm.name()), |b| {
            b.iter(|| {
                let mut writer = StreamWriter::new(&secret, &header, std::io::sink()).unwrap();
                writer.write_all(&data).unwrap();
                black_box(writer.finish().unwrap());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
