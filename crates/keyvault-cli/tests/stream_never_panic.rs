//! Arbitrary bytes never panic the encrypted file stream reader: a header is either read exactly
//! as written or refused with exit code 3, and chunks after it either authenticate or are
//! refused with exit code 3 with nothing of the failing chunk written. Real stream files with
//! structured damage (a bit flipped, cut short, grown, a byte inserted or removed) never open
//! to anything but their own plaintext. The unit tests in src/stream.rs cover fixed cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::BufReader;

use keyvault_cli::exit::{Code, classify};
use keyvault_cli::stream::{
    self, MAGIC, MAX_CHUNK_SIZE, MAX_WRAPPED_LEN, MIN_CHUNK_SIZE, StreamHeader,
};
use keyvault_crypto::{AeadKey, Algorithm, SecretKey, TAG_LEN};
use proptest::prelude::*;

/// The data key every stream here is sealed with.
fn data_key(algorithm: Algorithm) -> AeadKey {
    AeadKey::new(algorithm, &SecretKey::from_array(&[0x42; 32])).unwrap()
}

fn any_algorithm() -> impl Strategy<Value = Algorithm> {
    proptest::sample::select(Algorithm::ALL.to_vec())
}

fn header(algorithm: Algorithm, wrapped_len: usize) -> StreamHeader {
    let mut header = StreamHeader::new(algorithm, MIN_CHUNK_SIZE).unwrap();
    header.set_wrapped_key(vec![0x77; wrapped_len]).unwrap();
    header
}

fn seal(header: &StreamHeader, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    stream::encrypt(
        &data_key(header.algorithm()),
        header,
        &mut &plaintext[..],
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    out
}

/// Read a header then every chunk, as `keyvault decrypt` does. The plaintext written so far
/// comes back with the result.
fn open(bytes: &[u8]) -> (anyhow::Result<u64>, Vec<u8>) {
    let mut input = BufReader::new(bytes);
    let header = match StreamHeader::read_from(&mut input) {
        Ok(header) => header,
        Err(err) => return (Err(err), Vec::new()),
    };
    let mut out = Vec::new();
    let result = stream::decrypt(
        &data_key(header.algorithm()),
        &header,
        &mut input,
        &mut out,
        &mut |_| {},
    );
    (result, out)
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Debug)]
enum Damage {
    Flip { at: usize, bit: u8 },
    Cut { at: usize },
    Grow { tail: Vec<u8> },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
}

fn any_damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|tail| Damage::Grow { tail }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert { at, byte }),
        any::<usize>().prop_map(|at| Damage::Remove { at }),
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
            prop_assert_eq!(classify(&err), Code::Authentication, "{:#}", err);
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
            Err(err) => prop_assert_eq!(classify(&err), Code::Authentication, "{:#}", err),
        }
    }

    /// Each header field against its rule: accepted exactly when all are within bounds.
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
        let expected = version == 1
            && Algorithm::from_id(algorithm).is_ok()
            && (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size)
            && (1..=MAX_WRAPPED_LEN).contains(&usize::from(wrapped_len))
            && usize::from(wrapped_len) <= available;
        let result = StreamHeader::read_from(&mut &bytes[..]);
        prop_assert_eq!(result.is_ok(), expected);
        if let Err(err) = result {
            prop_assert_eq!(classify(&err), Code::Authentication, "{:#}", err);
        }
    }

    /// Arbitrary chunks after a real header never authenticate, and nothing is written.
    #[test]
    fn arbitrary_chunks_after_a_real_header_are_refused(
        algorithm in any_algorithm(),
        chunks in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let mut bytes = header(algorithm, 40).to_bytes();
        bytes.extend_from_slice(&chunks);
        let (result, out) = open(&bytes);
        let err = result.unwrap_err();
        prop_assert_eq!(classify(&err), Code::Authentication, "{:#}", err);
        prop_assert!(out.is_empty());
    }

    #[test]
    fn any_plaintext_round_trips(
        algorithm in any_algorithm(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4200),
    ) {
        let sealed = seal(&header(algorithm, 40), &plaintext);
        let (result, out) = open(&sealed);
        prop_assert_eq!(result.unwrap(), u64::try_from(plaintext.len()).unwrap());
        prop_assert_eq!(out, plaintext);
    }

    /// A damaged real stream opens to its own plaintext or is refused with exit code 3, having
    /// written only whole authenticated chunks of the plaintext. Only a flipped bit inside the
    /// wrapped key (which the chunks do not cover; its own envelope does) can still open.
    #[test]
    fn damaged_real_streams_never_open_to_anything_else(
        algorithm in any_algorithm(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..4200),
        damage in any_damage(),
    ) {
        let header = header(algorithm, 40);
        let wrapped_start = header.fixed_bytes().len() + 2;
        let wrapped = wrapped_start..wrapped_start + header.wrapped_key().len();
        let mut bytes = seal(&header, &plaintext);
        let len = bytes.len();
        let may_open = match &damage {
            Damage::Flip { at, bit } => {
                bytes[at % len] ^= 1 << bit;
                wrapped.contains(&(at % len))
            }
            Damage::Cut { at } => {
                bytes.truncate(at % len);
                false
            }
            Damage::Grow { tail } => {
                bytes.extend_from_slice(tail);
                false
            }
            Damage::Insert { at, byte } => {
                bytes.insert(at % (len + 1), *byte);
                false
            }
            Damage::Remove { at } => {
                bytes.remove(at % len);
                false
            }
        };
        let (result, out) = open(&bytes);
        match result {
            Ok(_) => {
                prop_assert!(may_open, "{:?} opened", damage);
                prop_assert_eq!(out, plaintext);
            }
            Err(err) => {
                prop_assert!(!may_open, "{:?}: {:#}", damage, err);
                prop_assert_eq!(classify(&err), Code::Authentication, "{:#}", err);
                let chunk = usize::try_from(MIN_CHUNK_SIZE).unwrap();
                prop_assert_eq!(out.len() % chunk, 0);
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
    assert_eq!(classify(&result.unwrap_err()), Code::Authentication);
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
    let Ok(entries) = std::fs::read_dir(&seeds) else {
        return;
    };
    for entry in entries {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let (result, _) = open(&bytes);
        result.unwrap();
    }
}
