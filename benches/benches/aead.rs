//! AEAD seal and open: keyvault's `AeadKey` beside two baselines measured in the same run.
//!
//! - `keyvault`: `AeadKey::seal` / `AeadKey::open` on whichever backend this build selected
//!   (`--features ring` switches keyvault-crypto to ring).
//! - `rustcrypto`: what a careful user writes by hand with the RustCrypto crates (`aead` 0.6
//!   `AeadInOut`): one `getrandom::fill` nonce per message and a `Vec` holding
//!   `nonce || ciphertext || tag`, built the way keyvault builds it.
//! - `ring`: the same with ring 0.17's `LessSafeKey`. ring has no XChaCha20-Poly1305, so that
//!   peer is HChaCha20 (the `chacha20` crate) followed by ring's ChaCha20-Poly1305 under the
//!   nonce `0^32 || nonce[16..24]`, as draft-irtf-cfrg-xchacha specifies.
//!
//! Every key is set up once, outside the timed loop. Group names carry the keyvault backend
//! (`aead-rustcrypto/...` or `aead-ring/...`), so the two runs keep separate results and each
//! ratio compares numbers from one run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // benchmark code: a failure should abort the run

use std::hint::black_box;
use std::time::Duration;

use aead::array::typenum::Unsigned as _;
use aead::{AeadCore, AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20::{R20, hchacha};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use criterion::{BatchSize, BenchmarkId, measurement::WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use keyvault_crypto::{
    AEAD_BACKEND, AeadKey, Algorithm, SecretBytes, SecretKey, TAG_LEN, Zeroizing, hazmat,
};
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, UnboundKey};

/// Plaintext sizes: a short secret, a typical record, a small file, a large file.
const SIZES: [usize; 4] = [16, 1024, 64 * 1024, 1024 * 1024];
/// Associated data for every message (a record id, say).
const AAD: &[u8] = b"vault/record/0007";
const KEY: [u8; 32] = [0x42; 32];
/// Batch benchmark: this many messages of `BATCH_MSG_LEN` bytes.
const BATCH: usize = 64;
const BATCH_MSG_LEN: usize = 16;

/// One AEAD implementation under test: seal to `nonce || ciphertext || tag`, open it back.
trait Sealer {
    /// What `open` hands back; keyvault's plaintext is a `SecretBytes`, and dropping it
    /// (inside the timed loop, as in real use) wipes it.
    type Plaintext: AsRef<[u8]>;
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8>;
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Self::Plaintext;
}

struct Keyvault(AeadKey);

impl Sealer for Keyvault {
    type Plaintext = SecretBytes;

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.0.seal(plaintext, aad).unwrap()
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> SecretBytes {
        self.0.open(sealed, aad).unwrap()
    }
}

/// Diagnostic only: the work of keyvault's `open` (copy the ciphertext into a new `Vec`, open it
/// in place through `hazmat`) into a plain `Vec`, so dropping it frees without wiping. The gap
/// to `keyvault` is the cost of that wipe.
struct KeyvaultNoWipe<'a>(&'a Keyvault);

impl Sealer for KeyvaultNoWipe<'_> {
    type Plaintext = Vec<u8>;

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.0.seal(plaintext, aad)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = &(self.0).0;
        let (nonce, rest) = sealed.split_at(key.algorithm().nonce_len());
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plaintext = ciphertext.to_vec();
        hazmat::open_in_place_detached(key, nonce, aad, &mut plaintext, tag).unwrap();
        plaintext
    }
}

/// The hand-written RustCrypto baseline.
struct RustCrypto<A>(A);

impl<A: AeadInOut> Sealer for RustCrypto<A> {
    type Plaintext = Vec<u8>;

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = aead::Nonce::<A>::default();
        getrandom::fill(&mut nonce).unwrap();
        let nonce_len = nonce.len();
        let mut out = Vec::with_capacity(nonce_len + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .encrypt_inout_detached(&nonce, aad, out.get_mut(nonce_len..).unwrap().into())
            .unwrap();
        out.extend_from_slice(&tag);
        out
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Vec<u8> {
        let (nonce, rest) = sealed.split_at(<A as AeadCore>::NonceSize::USIZE);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = aead::Nonce::<A>::try_from(nonce).unwrap();
        let tag = aead::Tag::<A>::try_from(tag).unwrap();
        let mut plaintext = ciphertext.to_vec();
        self.0
            .decrypt_inout_detached(&nonce, aad, plaintext.as_mut_slice().into(), &tag)
            .unwrap();
        plaintext
    }
}

fn ring_key(algorithm: &'static ring::aead::Algorithm, key: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(algorithm, key).unwrap())
}

fn ring_seal(
    key: &LessSafeKey,
    nonce: &[u8],
    chacha_nonce: [u8; 12],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(nonce.len() + plaintext.len() + TAG_LEN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key(chacha_nonce),
            Aad::from(aad),
            out.get_mut(nonce.len()..).unwrap(),
        )
        .unwrap();
    out.extend_from_slice(tag.as_ref());
    out
}

fn ring_open(
    key: &LessSafeKey,
    nonce: [u8; 12],
    ciphertext: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let mut plaintext = ciphertext.to_vec();
    key.open_in_place_separate_tag(
        ring::aead::Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        ring::aead::Tag::try_from(tag).unwrap(),
        &mut plaintext,
        0..,
    )
    .unwrap();
    plaintext
}

/// ring's ChaCha20-Poly1305 or AES-256-GCM with a fresh 12-byte random nonce.
struct Ring(LessSafeKey);

impl Sealer for Ring {
    type Plaintext = Vec<u8>;

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).unwrap();
        ring_seal(&self.0, &nonce, nonce, plaintext, aad)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Vec<u8> {
        let (nonce, rest) = sealed.split_at(12);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        ring_open(&self.0, nonce.try_into().unwrap(), ciphertext, tag, aad)
    }
}

/// XChaCha20-Poly1305 from HChaCha20 and ring's ChaCha20-Poly1305. The subkey depends on the
/// nonce, so each message keys ring afresh.
struct RingXChaCha([u8; 32]);

impl RingXChaCha {
    fn subkey(&self, nonce: &[u8; 24]) -> (LessSafeKey, [u8; 12]) {
        let (head, tail) = nonce.split_at(16);
        let head: &[u8; 16] = head.try_into().unwrap();
        let subkey = hchacha::<R20>(&self.0.into(), &(*head).into());
        let mut chacha_nonce = [0u8; 12];
        chacha_nonce.get_mut(4..).unwrap().copy_from_slice(tail);
        (ring_key(&CHACHA20_POLY1305, &subkey), chacha_nonce)
    }
}

impl Sealer for RingXChaCha {
    type Plaintext = Vec<u8>;

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).unwrap();
        let (key, chacha_nonce) = self.subkey(&nonce);
        ring_seal(&key, &nonce, chacha_nonce, plaintext, aad)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Vec<u8> {
        let (nonce, rest) = sealed.split_at(24);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let (key, chacha_nonce) = self.subkey(nonce.try_into().unwrap());
        ring_open(&key, chacha_nonce, ciphertext, tag, aad)
    }
}

fn plain(opened: impl AsRef<[u8]>) -> Vec<u8> {
    opened.as_ref().to_vec()
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
}

/// Seal and open groups for one algorithm with its three implementations.
fn bench_algorithm(
    c: &mut Criterion,
    algorithm: Algorithm,
    rustcrypto: &impl Sealer,
    ring: &impl Sealer,
) {
    let secret = SecretKey::from_slice(&KEY).unwrap();
    let keyvault = Keyvault(AeadKey::new(algorithm, &secret).unwrap());

    // All three must agree on the format: each opens what the others seal.
    for sealed in [
        keyvault.seal(b"cross-check", AAD),
        rustcrypto.seal(b"cross-check", AAD),
        ring.seal(b"cross-check", AAD),
    ] {
        assert_eq!(plain(keyvault.open(&sealed, AAD)), b"cross-check");
        assert_eq!(plain(rustcrypto.open(&sealed, AAD)), b"cross-check");
        assert_eq!(plain(ring.open(&sealed, AAD)), b"cross-check");
    }

    let mut group = c.benchmark_group(format!("aead-{AEAD_BACKEND}/seal/{algorithm}"));
    configure(&mut group);
    for size in SIZES {
        let plaintext = vec![0xa5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        bench_seal(&mut group, "keyvault", &keyvault, &plaintext);
        bench_seal(&mut group, "rustcrypto", rustcrypto, &plaintext);
        bench_seal(&mut group, "ring", ring, &plaintext);
    }
    group.finish();

    let mut group = c.benchmark_group(format!("aead-{AEAD_BACKEND}/open/{algorithm}"));
    configure(&mut group);
    for size in SIZES {
        let plaintext = vec![0xa5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        bench_open(&mut group, "keyvault", &keyvault, &plaintext);
        bench_open(
            &mut group,
            "keyvault_nowipe",
            &KeyvaultNoWipe(&keyvault),
            &plaintext,
        );
        bench_open(&mut group, "rustcrypto", rustcrypto, &plaintext);
        bench_open(&mut group, "ring", ring, &plaintext);
    }
    group.finish();
}

fn bench_seal(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    sealer: &impl Sealer,
    plaintext: &[u8],
) {
    group.bench_with_input(
        BenchmarkId::new(name, plaintext.len()),
        plaintext,
        |b, pt| b.iter(|| sealer.seal(black_box(pt), black_box(AAD))),
    );
}

fn bench_open(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    opener: &impl Sealer,
    plaintext: &[u8],
) {
    let sealed = opener.seal(plaintext, AAD);
    group.bench_with_input(
        BenchmarkId::new(name, plaintext.len()),
        &sealed[..],
        |b, sealed| b.iter(|| opener.open(black_box(sealed), black_box(AAD))),
    );
}

fn seal_open(c: &mut Criterion) {
    bench_algorithm(
        c,
        Algorithm::XChaCha20Poly1305,
        &RustCrypto(XChaCha20Poly1305::new(&KEY.into())),
        &RingXChaCha(KEY),
    );
    bench_algorithm(
        c,
        Algorithm::ChaCha20Poly1305,
        &RustCrypto(ChaCha20Poly1305::new(&KEY.into())),
        &Ring(ring_key(&CHACHA20_POLY1305, &KEY)),
    );
    bench_algorithm(
        c,
        Algorithm::Aes256Gcm,
        &RustCrypto(Aes256Gcm::new(&KEY.into())),
        &Ring(ring_key(&AES_256_GCM, &KEY)),
    );
}

fn batch(c: &mut Criterion) {
    let messages: Vec<[u8; BATCH_MSG_LEN]> = (0..BATCH)
        .map(|i| [u8::try_from(i).unwrap(); BATCH_MSG_LEN])
        .collect();
    let items: Vec<(&[u8], &[u8])> = messages.iter().map(|m| (&m[..], AAD)).collect();
    let secret = SecretKey::from_slice(&KEY).unwrap();
    for algorithm in Algorithm::ALL {
        let key = AeadKey::new(algorithm, &secret).unwrap();
        let mut group = c.benchmark_group(format!(
            "aead-{AEAD_BACKEND}/batch-{BATCH}x{BATCH_MSG_LEN}B/{algorithm}"
        ));
        configure(&mut group);
        group.throughput(Throughput::Bytes((BATCH * BATCH_MSG_LEN) as u64));
        group.bench_function("seal_batch", |b| {
            b.iter(|| key.seal_batch(black_box(&items)).unwrap());
        });
        group.bench_function("single_seals", |b| {
            b.iter(|| {
                black_box(&items)
                    .iter()
                    .map(|&(plaintext, aad)| key.seal(plaintext, aad).unwrap())
                    .collect::<Vec<_>>()
            });
        });
        group.finish();
    }
}

/// What wiping a plaintext buffer costs: dropping `Zeroizing<Vec<u8>>` (zeroize's `Vec` impl
/// wipes element by element with volatile writes) against dropping a `SecretBytes` (what
/// `AeadKey::open` returns: zeroize's bulk path, a memset the optimiser must keep). Both free the
/// buffer inside the timed routine.
fn wipe(c: &mut Criterion) {
    let mut group = c.benchmark_group("wipe");
    configure(&mut group);
    for size in SIZES {
        let buf = vec![0xa5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("zeroizing_vec_drop", size),
            &buf,
            |b, buf| {
                b.iter_batched(|| Zeroizing::new(buf.clone()), drop, BatchSize::LargeInput);
            },
        );
        group.bench_with_input(
            BenchmarkId::new("secret_bytes_drop", size),
            &buf,
            |b, buf| {
                b.iter_batched(
                    || SecretBytes::new(buf.clone()),
                    drop,
                    BatchSize::LargeInput,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, seal_open, batch, wipe);
criterion_main!(benches);
