//! The encrypted file stream through its public API: any plaintext round-trips, arbitrary bytes
//! never panic the reader (a header is either read exactly as written or refused as not a
//! stream, and chunks after it either authenticate or are refused with nothing of the failing
//! chunk released), and real stream files with structured damage (a bit flipped, cut short,
//! grown, a byte inserted or removed, chunks reordered) never open to anything but their own
//! plaintext. The unit tests in src/stream.rs cover fixed cases and the golden file.

use std::io::{Read, Write};

use keyvault_core::ErrorKind;
use keyvault_crypto::{Algorithm, SecretKey, TAG_LEN};
use keyvault_store::StoreError;
use keyvault_store::stream::{
    MAGIC, MAX_CHUNK_SIZE, MAX_WRAPPED_LEN, MIN_CHUNK_SIZE, StreamHeader, StreamReader,
    StreamWriter,
};
use keyvault_test_support::{Damage, any_damage};
use proptest::prelude::*;

/// The data key every stream here is sealed with (the fuzz target's too).
fn data_key() -> SecretKey {
    SecretKey::from_array(&[0x42; 32])
}

fn any_algorithm() -> impl Strategy<Value = Algorithm> {
    proptest::sample::select(Algorithm::ALL.to_vec())
}

fn header(algorithm: Algorithm, wrapped_len: usize) -> StreamHeader {
    let mut header = StreamHeader::new(algorithm, MIN_CHUNK_SIZE).unwrap();
    header.set_wrapped_key(vec![0x77; wrapped_len]).unwrap();
    header
}

/// Seal `plaintext`, written in pieces of `piece` bytes.
fn seal_in_pieces(header: &StreamHeader, plaintext: &[u8], piece: usize) -> Vec<u8> {
    let mut writer = StreamWriter::new(&data_key(), header, Vec::new()).unwrap();
    for part in plaintext.chunks(piece.max(1)) {
        writer.write_all(part).unwrap();
    }
    writer.finish().unwrap()
}

fn seal(header: &StreamHeader, plaintext: &[u8]) -> Vec<u8> {
    seal_in_pieces(header, plaintext, 64 * 1024)
}

/// Read a header then every chunk, as `keyvault decrypt` does. The plaintext released so far
/// comes back with the result.
fn open(bytes: &[u8]) -> (Result<(), StoreError>, Vec<u8>) {
    let mut input = bytes;
    let header = match StreamHeader::read_from(&mut input) {
        Ok(header) => header,
        Err(err) => return (Err(err), Vec::new()),
    };
    let mut reader = StreamReader::new(&data_key(), &header, input).unwrap();
    let mut out = Vec::new();
    let result = reader
        .read_to_end(&mut out)
        .map(|_| ())
        .map_err(StoreError::from_stream_io);
    (result, out)
}

/// Whether `err` is one of the ways a stream is refused as damaged or foreign.
fn is_refusal(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::NotAStream { .. }
            | StoreError::StreamTruncated
            | StoreError::StreamChunk { .. }
    ) && err.kind() == ErrorKind::Authentication
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Damage to a sealed stream: bytes changed anywhere, or two whole chunks trading places.
#[derive(Clone, Debug)]
enum StreamDamage {
    Bytes(Damage),
    SwapChunks { a: usize, b: usize },
}

fn any_stream_damage() -> impl Strategy<Value = StreamDamage> {
    prop_oneof![
        5 => any_damage().prop_map(StreamDamage::Bytes),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| StreamDamage::SwapChunks { a, b }),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_reader(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200),
    ) {
        let (result, out) = open(&bytes);
        if let Err(err) = result {
            prop_assert!(is_refusal(&err), "{}", err);
        }
        prop_assert!(out.len() <= bytes.len());
    }

    /// A header is read back exactly as written, and nothing past it is consumed.
    #[test]
    fn arbitrary_bytes_after_the_magic_parse_exactly_or_are_refused(
        rest in proptest::collection::vec(any::<u8>(), 0..1200),
        version in prop_oneof![Just(1u8), any::<u8>()],
    ) {
        let mut bytes = MAGIC.to_vec();
        bytes.push(version);
        bytes.extend_from_slice(&rest);
        let mut input = &bytes[..];
        match StreamHeader::read_from(&mut input) {
            Ok(header) => {
                let consumed = bytes.len() - input.len();
                prop_assert_eq!(header.to_bytes(), &bytes[..consumed]);
            }
            Err(err) => prop_assert!(is_refusal(&err), "{}", err),
        }
    }

    /// Each header field against its rule: accepted exactly when all are within bounds; a
    /// field out of bounds is "not a stream", a header cut short is "truncated".
    #[test]
    fn header_fields_follow_the_rules(
        version in prop_oneof![4 => Just(1u8), 1 => any::<u8>()],
        algorithm in prop_oneof![4 => 1u8..=3, 1 => any::<u8>()],
        chunk_size in prop_oneof![
            Just(MIN_CHUNK_SIZE - 1),
            Just(MIN_CHUNK_SIZE),
            Just(MAX_CHUNK_SIZE),
            Just(MAX_CHUNK_SIZE + 1),
            Just(0u32),
            Just(u32::MAX),
            MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE,
        ],
        wrapped_len in prop_oneof![Just(0u16), Just(1u16), Just(1024u16), Just(1025u16), any::<u16>()],
        available in 0usize..1100,
    ) {
        let prefix_len = Algorithm::from_id(algorithm).map_or(19, |a| a.nonce_len() - 5);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[version, algorithm]);
        bytes.extend_from_slice(&chunk_size.to_be_bytes());
        bytes.extend_from_slice(&vec![0xa5; prefix_len]);
        bytes.extend_from_slice(&wrapped_len.to_be_bytes());
        bytes.extend_from_slice(&vec![0x5a; available]);
        let fields_ok = version == 1
            && Algorithm::from_id(algorithm).is_ok()
            && (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size)
            && (1..=MAX_WRAPPED_LEN).contains(&usize::from(wrapped_len));
        let complete = usize::from(wrapped_len) <= available;
        match StreamHeader::read_from(&mut &bytes[..]) {
            Ok(_) => prop_assert!(fields_ok && complete),
            Err(StoreError::NotAStream { .. }) => prop_assert!(!fields_ok),
            Err(StoreError::StreamTruncated) => prop_assert!(fields_ok && !complete),
            Err(other) => prop_assert!(false, "{}", other),
        }
    }

    /// Arbitrary chunks after a real header never authenticate, and nothing is released.
    #[test]
    fn arbitrary_chunks_after_a_real_header_are_refused(
        algorithm in any_algorithm(),
        chunks in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let mut bytes = header(algorithm, 40).to_bytes();
        bytes.extend_from_slice(&chunks);
        let (result, out) = open(&bytes);
        let err = result.unwrap_err();
        prop_assert!(
            matches!(err, StoreError::StreamTruncated | StoreError::StreamChunk { index: 0 }),
            "{}",
            err
        );
        prop_assert!(out.is_empty());
    }

    /// Any plaintext, written in pieces of any size, seals and opens back to itself, in a
    /// file of the length the header predicts.
    #[test]
    fn any_plaintext_round_trips(
        algorithm in any_algorithm(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4200),
        piece in 1usize..3000,
    ) {
        let header = header(algorithm, 40);
        let sealed = seal_in_pieces(&header, &plaintext, piece);
        prop_assert_eq!(
            u64::try_from(sealed.len()).unwrap(),
            header.sealed_len(u64::try_from(plaintext.len()).unwrap())
        );
        let (result, out) = open(&sealed);
        prop_assert!(result.is_ok(), "{:?}", result);
        prop_assert_eq!(out, plaintext);
    }

    /// A damaged real stream opens to its own plaintext or is refused, having released only
    /// whole authenticated chunks of the plaintext. Only changes inside the wrapped key
    /// (which the chunks do not cover; its own envelope does) can still open.
    #[test]
    fn damaged_real_streams_never_open_to_anything_else(
        algorithm in any_algorithm(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4200),
        damage in any_stream_damage(),
    ) {
        let header = header(algorithm, 40);
        let wrapped_len = header.wrapped_key().len();
        let chunks_start = header.to_bytes().len();
        let wrapped = chunks_start - wrapped_len..chunks_start;
        let mut bytes = seal(&header, &plaintext);
        let len = bytes.len();
        let sealed_chunk = usize::try_from(MIN_CHUNK_SIZE).unwrap() + TAG_LEN;
        let chunk_count = (len - chunks_start).div_ceil(sealed_chunk);
        let may_open = match &damage {
            StreamDamage::Bytes(damage) => {
                let before = bytes.clone();
                damage.apply(&mut bytes);
                // Only bytes inside the wrapped key changed (or none): its own envelope, not the
                // chunks, decides whether it still opens.
                bytes.len() == len
                    && (0..len).all(|at| bytes[at] == before[at] || wrapped.contains(&at))
            }
            StreamDamage::SwapChunks { a, b } => {
                // Two whole chunks trade places (full chunks only: the final one may be short).
                let full = (len - chunks_start) / sealed_chunk;
                let (a, b) = if full >= 2 { (a % full, b % full) } else { (0, 0) };
                if a != b {
                    let at = |i: usize| chunks_start + i * sealed_chunk;
                    let first = bytes[at(a)..at(a) + sealed_chunk].to_vec();
                    let second = bytes[at(b)..at(b) + sealed_chunk].to_vec();
                    bytes[at(a)..at(a) + sealed_chunk].copy_from_slice(&second);
                    bytes[at(b)..at(b) + sealed_chunk].copy_from_slice(&first);
                }
                // Swapping a chunk with itself changes nothing.
                a == b
            }
        };
        let (result, out) = open(&bytes);
        match result {
            Ok(()) => {
                prop_assert!(may_open, "{:?} opened", damage);
                prop_assert_eq!(out, plaintext);
            }
            Err(err) => {
                prop_assert!(!may_open, "{:?}: {}", damage, err);
                prop_assert!(is_refusal(&err), "{}", err);
                let chunk = usize::try_from(MIN_CHUNK_SIZE).unwrap();
                prop_assert_eq!(out.len() % chunk, 0);
                prop_assert!(out.len() / chunk < chunk_count.max(1));
                prop_assert!(plaintext.starts_with(&out));
            }
        }
    }
}

/// The largest chunk size a header may claim bounds what the reader allocates; a file that
/// claims it and ends at once is refused.
#[test]
fn the_largest_chunk_size_with_no_chunks_is_refused() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[1, Algorithm::ChaCha20Poly1305.id()]);
    bytes.extend_from_slice(&MAX_CHUNK_SIZE.to_be_bytes());
    bytes.extend_from_slice(&[0; 7]);
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&[0; TAG_LEN]);
    let (result, out) = open(&bytes);
    assert!(matches!(
        result.unwrap_err(),
        StoreError::StreamChunk { index: 0 }
    ));
    assert!(out.is_empty());
}

/// The committed fuzz seeds for `cli_stream` are real streams under the fuzz target's data key
/// (`[0x42; 32]`) that open. With `KEYVAULT_WRITE_SEEDS=1` this writes them first.
#[test]
fn fuzz_seeds_open() {
    let seeds =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/cli_stream");
    if std::env::var_os("KEYVAULT_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&seeds).unwrap();
        let plaintext: Vec<u8> = (0..2100u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        for (algorithm, len) in [
            (Algorithm::XChaCha20Poly1305, 2100),
            (Algorithm::ChaCha20Poly1305, 0),
            (Algorithm::Aes256Gcm, 1024),
        ] {
            // The wrapped key is a stand-in: the target never unwraps it.
            let sealed = seal(&header(algorithm, 24), &plaintext[..len]);
            let name = format!("{}-{len}.kvs", algorithm.name());
            std::fs::write(seeds.join(name), sealed).unwrap();
        }
    }
    let entries = std::fs::read_dir(&seeds).unwrap();
    let mut opened = 0;
    for entry in entries {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let (result, _) = open(&bytes);
        result.unwrap();
        opened += 1;
    }
    assert!(opened >= 3, "{opened} seeds");
}
