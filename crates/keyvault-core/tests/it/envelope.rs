//! Ciphertext envelope v2: golden bytes, purposes, round trips, hostile input and single-bit
//! flips; v1 golden files refused.

// Tests may read files (golden files, docs), which keyvault-core itself never does.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use keyvault_core::envelope::Purpose;
use keyvault_core::envelope::{
    self, ARMOUR_PREFIX, Envelope, EnvelopeDefect, EnvelopeHeader, HEADER_LEN, MAX_ARMOURED_LEN,
    MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, hazmat,
};
use keyvault_core::{Error, ErrorKind, KeyId, KeyVersion};
use keyvault_crypto::{AeadKey, Algorithm, SecretKey, TAG_LEN};
use keyvault_test_support::any_damage;
use proptest::prelude::*;

const GOLDEN_PLAINTEXT: &[u8] = b"keyvault envelope v2 golden plaintext";
const GOLDEN_AAD: &[u8] = b"golden-aad";

fn golden_key(algorithm: Algorithm) -> AeadKey {
    let bytes: Vec<u8> = (0u8..32).collect();
    AeadKey::new(algorithm, &SecretKey::from_slice(&bytes).unwrap()).unwrap()
}

fn golden_header(algorithm: Algorithm) -> EnvelopeHeader {
    let mut id = [0u8; 16];
    for (byte, value) in id.iter_mut().zip(0xa0u8..) {
        *byte = value;
    }
    EnvelopeHeader {
        purpose: Purpose::Data,
        algorithm,
        key_id: KeyId::from_bytes(id),
        key_version: KeyVersion::new(7).unwrap(),
    }
}

fn golden_nonce(algorithm: Algorithm) -> Vec<u8> {
    (0x40u8..).take(algorithm.nonce_len()).collect()
}

fn golden_path(algorithm: Algorithm, extension: &str) -> PathBuf {
    golden_path_of(2, algorithm, extension)
}

fn golden_path_of(version: u8, algorithm: Algorithm, extension: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!(
            "envelope_v{version}_{}.{extension}",
            algorithm.name()
        ))
}

/// Read a golden file; with `KEYVAULT_WRITE_GOLDEN=1` write it first (only ever for a new
/// format version: existing files must never change).
fn golden_file(algorithm: Algorithm, extension: &str, fresh: &str) -> String {
    let path = golden_path(algorithm, extension);
    if std::env::var_os("KEYVAULT_WRITE_GOLDEN").is_some() && !path.exists() {
        std::fs::write(&path, format!("{fresh}\n")).unwrap();
    }
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; expected content:\n{fresh}", path.display()))
        .trim()
        .to_owned()
}

/// Envelopes written by format v2 must open forever, and v2 must keep writing the same bytes.
#[test]
fn golden_envelopes_decode_open_and_reencode_exactly() {
    for algorithm in Algorithm::ALL {
        let key = golden_key(algorithm);
        let header = golden_header(algorithm);
        let fresh = hazmat::seal_with_nonce(
            &key,
            &header,
            &golden_nonce(algorithm),
            GOLDEN_PLAINTEXT,
            GOLDEN_AAD,
        )
        .unwrap();
        let golden = hex::decode(golden_file(algorithm, "hex", &hex::encode(&fresh))).unwrap();

        let parsed = Envelope::parse(&golden).unwrap();
        assert_eq!(parsed.header(), &header, "{algorithm}");
        assert_eq!(parsed.nonce(), golden_nonce(algorithm));
        assert_eq!(parsed.ciphertext().len(), GOLDEN_PLAINTEXT.len());
        assert_eq!(
            &parsed.open(Purpose::Data, &key, GOLDEN_AAD).unwrap()[..],
            GOLDEN_PLAINTEXT
        );
        assert_eq!(fresh, golden, "{algorithm}: encoding v2 changed");

        let armoured = golden_file(algorithm, "armour", &envelope::armour(&fresh).unwrap());
        assert_eq!(envelope::dearmour(&armoured).unwrap(), golden);
        assert_eq!(envelope::armour(&golden).unwrap(), armoured);
    }
}

#[test]
fn header_layout_is_as_documented() {
    let header = golden_header(Algorithm::Aes256Gcm);
    let bytes = header.to_bytes();
    assert_eq!(bytes.len(), HEADER_LEN);
    assert_eq!(&bytes[0..3], b"KVE");
    assert_eq!(bytes[3], 2, "format version");
    assert_eq!(bytes[4], 1, "the data purpose's id");
    assert_eq!(bytes[5], 3, "AES-256-GCM's id");
    assert_eq!(&bytes[6..22], header.key_id.as_bytes());
    assert_eq!(&bytes[22..26], &[0, 0, 0, 7], "key version, big-endian");
    assert_eq!(EnvelopeHeader::parse(&bytes).unwrap(), header);
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let mut flips = 0;
    for algorithm in Algorithm::ALL {
        let key = golden_key(algorithm);
        let sealed =
            envelope::seal(&key, &golden_header(algorithm), b"short message", b"aad").unwrap();
        for bit in 0..sealed.len() * 8 {
            let mut tampered = sealed.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let result = envelope::open(&key, Purpose::Data, &tampered, b"aad");
            assert!(
                matches!(
                    result,
                    Err(Error::Authentication
                        | Error::MalformedEnvelope { .. }
                        | Error::WrongPurpose { .. }
                        | Error::AlgorithmMismatch { .. })
                ),
                "{algorithm}: flipping bit {bit} gave {result:?}"
            );
            flips += 1;
        }
        // The header is authenticated, not just parsed: a valid header naming another key
        // version does not open either.
        let mut other_version = sealed.clone();
        other_version[25] ^= 0x02;
        assert!(Envelope::parse(&other_version).is_ok());
        assert_eq!(
            envelope::open(&key, Purpose::Data, &other_version, b"aad"),
            Err(Error::Authentication)
        );
    }
    println!("single-bit flips: {flips}/{flips} rejected");
}

#[test]
fn wrong_key_wrong_aad_and_wrong_algorithm_fail_cleanly() {
    let algorithm = Algorithm::XChaCha20Poly1305;
    let key = golden_key(algorithm);
    let sealed = envelope::seal(&key, &golden_header(algorithm), b"secret", b"aad").unwrap();
    let other = AeadKey::new(algorithm, &SecretKey::generate().unwrap()).unwrap();
    assert_eq!(
        envelope::open(&other, Purpose::Data, &sealed, b"aad"),
        Err(Error::Authentication)
    );
    assert_eq!(
        envelope::open(&key, Purpose::Data, &sealed, b"aae"),
        Err(Error::Authentication)
    );
    assert_eq!(
        envelope::open(&key, Purpose::Data, &sealed, b""),
        Err(Error::Authentication)
    );
    let aes = golden_key(Algorithm::Aes256Gcm);
    let err = envelope::open(&aes, Purpose::Data, &sealed, b"aad").unwrap_err();
    assert!(matches!(err, Error::AlgorithmMismatch { .. }));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(matches!(
        envelope::seal(&aes, &golden_header(algorithm), b"x", b""),
        Err(Error::AlgorithmMismatch { .. })
    ));
}

#[test]
fn malformed_envelopes_name_their_defect() {
    let defect = |bytes: &[u8]| match Envelope::parse(bytes) {
        Err(Error::MalformedEnvelope { defect }) => defect,
        other => panic!("{other:?}"),
    };
    let good = golden_header(Algorithm::ChaCha20Poly1305).to_bytes();
    let with_body = |header: &[u8]| [header, &[0u8; 12 + TAG_LEN]].concat();
    assert_eq!(
        defect(b""),
        EnvelopeDefect::TooShort {
            len: 0,
            min: HEADER_LEN
        }
    );
    assert_eq!(
        defect(&with_body(&[b"XYZ".as_slice(), &good[3..]].concat())),
        EnvelopeDefect::NotAnEnvelope
    );
    let mut v3 = good;
    v3[3] = 3;
    assert_eq!(
        defect(&with_body(&v3)),
        EnvelopeDefect::UnsupportedVersion { version: 3 }
    );
    let mut no_purpose = good;
    no_purpose[4] = 0;
    assert_eq!(
        defect(&with_body(&no_purpose)),
        EnvelopeDefect::UnknownPurpose { id: 0 }
    );
    let mut unknown = good;
    unknown[5] = 9;
    assert_eq!(
        defect(&with_body(&unknown)),
        EnvelopeDefect::UnknownAlgorithm { id: 9 }
    );
    let mut zero = good;
    zero[22..26].fill(0);
    assert_eq!(defect(&with_body(&zero)), EnvelopeDefect::ZeroKeyVersion);
    assert_eq!(
        defect(&[&good[..], &[0u8; 12 + TAG_LEN - 1]].concat()),
        EnvelopeDefect::TooShort {
            len: HEADER_LEN + 12 + TAG_LEN - 1,
            min: HEADER_LEN + 12 + TAG_LEN
        }
    );
    // An empty plaintext is a valid envelope: header, nonce and tag only.
    assert!(Envelope::parse(&with_body(&good)).is_ok());
}

#[test]
fn size_limits_are_checked_before_work() {
    let algorithm = Algorithm::XChaCha20Poly1305;
    let key = golden_key(algorithm);
    let too_big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        envelope::seal(&key, &golden_header(algorithm), &too_big, b""),
        Err(Error::TooLarge { .. })
    ));
    let huge = vec![0u8; MAX_ENVELOPE_LEN + 1];
    assert!(matches!(
        Envelope::parse(&huge),
        Err(Error::MalformedEnvelope {
            defect: EnvelopeDefect::TooLong { .. }
        })
    ));
    assert!(matches!(
        envelope::armour(&huge),
        Err(Error::MalformedEnvelope {
            defect: EnvelopeDefect::TooLong { .. }
        })
    ));
    let long_text = format!("{ARMOUR_PREFIX}{}", "A".repeat(MAX_ARMOURED_LEN));
    assert!(matches!(
        envelope::dearmour(&long_text),
        Err(Error::MalformedEnvelope {
            defect: EnvelopeDefect::TooLong { .. }
        })
    ));
}

#[test]
fn armour_is_strict_but_tolerates_surrounding_whitespace() {
    let algorithm = Algorithm::XChaCha20Poly1305;
    let sealed = envelope::seal(
        &golden_key(algorithm),
        &golden_header(algorithm),
        b"hi",
        b"",
    )
    .unwrap();
    let text = envelope::armour(&sealed).unwrap();
    assert!(text.starts_with("kv1:"));
    assert!(
        text[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(envelope::dearmour(&format!("  {text}\n")).unwrap(), sealed);
    let defect = |text: &str| match envelope::dearmour(text) {
        Err(Error::MalformedEnvelope { defect }) => defect,
        other => panic!("{text:?}: {other:?}"),
    };
    assert_eq!(defect(&text[4..]), EnvelopeDefect::MissingArmourPrefix);
    assert_eq!(
        defect(&text.replacen("kv1:", "KV1:", 1)),
        EnvelopeDefect::MissingArmourPrefix
    );
    assert_eq!(
        defect(&format!("{text}=")),
        EnvelopeDefect::BadArmourEncoding,
        "no padding"
    );
    assert_eq!(
        defect(&text.replacen('A', "+", 1).replacen('-', "+", 1)),
        EnvelopeDefect::BadArmourEncoding
    );
    // "AB" decodes to one byte only if the unused low bits are ignored; canonical decoding refuses.
    assert_eq!(
        defect("kv1:AB"),
        EnvelopeDefect::BadArmourEncoding,
        "non-canonical"
    );
    assert_eq!(envelope::dearmour("kv1:AA").unwrap(), [0u8]);
    assert_eq!(
        defect("kv1:a b"),
        EnvelopeDefect::BadArmourEncoding,
        "no inner whitespace"
    );
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn seal_parse_open_round_trip(
        algorithm in algorithm(),
        id in any::<[u8; 16]>(),
        version in 1u32..,
        plaintext in prop::collection::vec(any::<u8>(), 0..512),
        aad in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let key = AeadKey::new(algorithm, &SecretKey::generate().unwrap()).unwrap();
        let header = EnvelopeHeader {
            purpose: Purpose::DataKey,
            algorithm,
            key_id: KeyId::from_bytes(id),
            key_version: KeyVersion::new(version).unwrap(),
        };
        let sealed = envelope::seal(&key, &header, &plaintext, &aad).unwrap();
        prop_assert_eq!(sealed.len(), HEADER_LEN + algorithm.overhead() + plaintext.len());
        let parsed = Envelope::parse(&sealed).unwrap();
        prop_assert_eq!(parsed.header(), &header);
        prop_assert_eq!(&parsed.open(Purpose::DataKey, &key, &aad).unwrap()[..], &plaintext[..]);
        let armoured = envelope::armour(&sealed).unwrap();
        prop_assert_eq!(envelope::dearmour(&armoured).unwrap(), sealed);
    }

    /// Any single-bit flip, anywhere, is rejected.
    #[test]
    fn any_single_bit_flip_fails(
        algorithm in algorithm(),
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        aad in prop::collection::vec(any::<u8>(), 0..32),
        bit in any::<prop::sample::Index>(),
    ) {
        let key = golden_key(algorithm);
        let mut sealed = envelope::seal(&key, &golden_header(algorithm), &plaintext, &aad).unwrap();
        let bit = bit.index(sealed.len() * 8);
        sealed[bit / 8] ^= 1 << (bit % 8);
        let opened = envelope::open(&key, Purpose::Data, &sealed, &aad).map(|_| ());
        // A flip in the header can also name another purpose or algorithm: refused as such.
        prop_assert!(
            matches!(
                opened,
                Err(Error::Authentication
                    | Error::MalformedEnvelope { .. }
                    | Error::WrongPurpose { .. }
                    | Error::AlgorithmMismatch { .. })
            ),
            "{:?}",
            opened
        );
    }

    /// Parsing arbitrary bytes never panics; whatever parses re-assembles to the same bytes.
    #[test]
    fn parse_of_arbitrary_bytes_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        prefix in prop::sample::select(vec![
            vec![],
            b"KVE".to_vec(),
            b"KVE\x01".to_vec(),
            b"KVE\x01\x01".to_vec(),
            b"KVE\x01\x02".to_vec(),
            b"KVE\x01\x03".to_vec(),
        ]),
    ) {
        let input = [prefix, bytes].concat();
        if let Ok(parsed) = Envelope::parse(&input) {
            let rebuilt = [
                &parsed.header().to_bytes()[..],
                parsed.nonce(),
                parsed.ciphertext(),
                parsed.tag(),
            ]
            .concat();
            prop_assert_eq!(rebuilt, input);
        }
    }

    /// Dearmouring arbitrary text never panics, and anything it accepts armours back exactly.
    #[test]
    fn dearmour_of_arbitrary_text_never_panics(
        text in prop_oneof![
            any::<String>(),
            "kv1:[A-Za-z0-9_=+/ -]{0,80}",
            "kv1:[A-Za-z0-9_-]{0,80}",
        ],
    ) {
        if let Ok(bytes) = envelope::dearmour(&text) {
            prop_assert_eq!(envelope::armour(&bytes).unwrap(), text.trim_ascii());
        }
    }
}

/// The golden envelope of `algorithm`, as bytes.
fn golden_bytes(algorithm: Algorithm) -> Vec<u8> {
    let text = std::fs::read_to_string(golden_path(algorithm, "hex")).unwrap();
    hex::decode(text.trim()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Opening arbitrary bytes with the golden key never panics and never succeeds.
    #[test]
    fn opening_arbitrary_bytes_never_panics(
        algorithm in algorithm(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let key = golden_key(algorithm);
        let header = golden_header(algorithm).to_bytes();
        for input in [bytes.clone(), [&header[..], &bytes].concat()] {
            let opened = envelope::open(&key, Purpose::Data, &input, GOLDEN_AAD).map(|_| ());
            prop_assert!(
                matches!(opened, Err(Error::Authentication | Error::MalformedEnvelope { .. })),
                "{:?}",
                opened
            );
        }
    }

    /// Insertions, deletions, truncations, overwrites, flips and moved runs of a golden envelope (and of its
    /// armour) never panic; only an edit that leaves the bytes unchanged still opens.
    #[test]
    fn edited_golden_envelopes_never_panic(
        algorithm in algorithm(),
        edits in prop::collection::vec(any_damage(), 1..4),
    ) {
        let key = golden_key(algorithm);
        let golden = golden_bytes(algorithm);
        let mut bytes = golden.clone();
        for edit in &edits {
            edit.apply(&mut bytes);
        }
        let opened = envelope::open(&key, Purpose::Data, &bytes, GOLDEN_AAD);
        prop_assert_eq!(opened.is_ok(), bytes == golden);

        let mut text = envelope::armour(&golden).unwrap().into_bytes();
        for edit in &edits {
            edit.apply(&mut text);
        }
        if let Ok(text) = String::from_utf8(text)
            && let Ok(decoded) = envelope::dearmour(&text)
        {
            let opened = envelope::open(&key, Purpose::Data, &decoded, GOLDEN_AAD);
            prop_assert_eq!(opened.is_ok(), decoded == golden);
        }
    }
}

/// Version 1 envelopes (before purposes were bound) are refused by name, never opened as
/// anything. Their golden files stay as the record of what is refused.
#[test]
fn version_1_golden_envelopes_are_refused() {
    for algorithm in Algorithm::ALL {
        let text = std::fs::read_to_string(golden_path_of(1, algorithm, "hex")).unwrap();
        let bytes = hex::decode(text.trim()).unwrap();
        let err = Envelope::parse(&bytes).unwrap_err();
        assert_eq!(
            err,
            Error::MalformedEnvelope {
                defect: EnvelopeDefect::UnsupportedVersion { version: 1 }
            }
        );
        assert!(err.to_string().contains("version 1"), "{err}");
    }
}

/// Every (sealed as, opened as) pair: an envelope opens only as the purpose it was sealed for,
/// and any other purpose is refused before decryption with both purposes named.
#[test]
fn an_envelope_opens_only_as_its_purpose() {
    let algorithm = Algorithm::XChaCha20Poly1305;
    let key = golden_key(algorithm);
    let mut pairs = 0;
    for sealed_as in Purpose::ALL {
        let header = EnvelopeHeader {
            purpose: sealed_as,
            ..golden_header(algorithm)
        };
        let sealed = envelope::seal(&key, &header, b"payload", b"aad").unwrap();
        assert_eq!(
            Envelope::parse(&sealed).unwrap().header().purpose,
            sealed_as
        );
        for opened_as in Purpose::ALL {
            let result = envelope::open(&key, opened_as, &sealed, b"aad");
            if sealed_as == opened_as {
                assert_eq!(&result.unwrap()[..], b"payload");
            } else {
                let err = result.unwrap_err();
                assert_eq!(
                    err,
                    Error::WrongPurpose {
                        expected: opened_as,
                        found: sealed_as
                    }
                );
                assert_eq!(err.kind(), ErrorKind::Denied);
            }
            pairs += 1;
        }
        // Rewriting the purpose byte to another purpose does not make it open either.
        for other in Purpose::ALL.into_iter().filter(|p| *p != sealed_as) {
            let mut relabelled = sealed.clone();
            relabelled[4] = other.id();
            assert_eq!(
                envelope::open(&key, other, &relabelled, b"aad"),
                Err(Error::Authentication)
            );
        }
    }
    assert_eq!(pairs, 9);
}
