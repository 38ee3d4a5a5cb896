//! Every public function, given empty, short, oversized or malformed input, returns a typed error
//! and never panics.

use keyvault_crypto::kdf::{HKDF_MAX_OUTPUT, derive_subkey, hkdf_sha256};
use keyvault_crypto::mac::{HmacSha256, MacTag, hmac_sha256, hmac_sha256_verify};
use keyvault_crypto::password::derive_key;
use keyvault_crypto::{
    AeadKey, Algorithm, Argon2Params, CryptoError, Nonce, SecretBytes, SecretKey, constant_time_eq,
    hazmat,
};

const LENGTHS: [usize; 9] = [0, 1, 11, 12, 13, 15, 16, 23, 40];

fn keys() -> Vec<AeadKey> {
    Algorithm::ALL
        .into_iter()
        .map(|alg| AeadKey::new(alg, &SecretKey::generate().unwrap()).unwrap())
        .collect()
}

#[test]
fn secret_key_rejects_every_wrong_length() {
    for len in [0, 1, 16, 31, 33, 64, 1024] {
        assert_eq!(
            SecretKey::from_slice(&vec![1; len]).unwrap_err(),
            CryptoError::InvalidLength {
                what: "key",
                expected: 32,
                actual: len
            }
        );
    }
    assert!(SecretKey::from_slice(&[1; 32]).is_ok());
}

#[test]
fn open_rejects_short_and_garbage_input() {
    for key in keys() {
        let alg = key.algorithm();
        for len in 0..alg.overhead() + 4 {
            let garbage = vec![0xA5; len];
            assert_eq!(
                key.open(&garbage, b"").unwrap_err(),
                CryptoError::Authentication,
                "{alg} len {len}"
            );
            assert_eq!(
                hazmat::open_with_nonce(&key, &vec![0; alg.nonce_len()], b"", &garbage)
                    .unwrap_err(),
                CryptoError::Authentication,
                "{alg} len {len}"
            );
        }
    }
}

#[test]
fn wrong_nonce_lengths_are_typed_errors() {
    for key in keys() {
        let alg = key.algorithm();
        for len in LENGTHS.into_iter().filter(|&len| len != alg.nonce_len()) {
            let nonce = vec![0; len];
            let expected = CryptoError::UnsupportedNonceLength {
                algorithm: alg.name(),
                expected: alg.nonce_len(),
                actual: len,
            };
            assert_eq!(Nonce::from_slice(alg, &nonce).unwrap_err(), expected);
            assert_eq!(
                hazmat::seal_with_nonce(&key, &nonce, b"", b"msg").unwrap_err(),
                expected
            );
            assert_eq!(
                hazmat::open_with_nonce(&key, &nonce, b"", &[0; 32]).unwrap_err(),
                expected
            );
            // Regression: with input shorter than a tag, the nonce error used to be masked as
            // an authentication failure (Wycheproof's InvalidNonceSize cases have empty ct/tag).
            for short in [&[][..], &[0; 15][..]] {
                assert_eq!(
                    hazmat::open_with_nonce(&key, &nonce, b"", short).unwrap_err(),
                    expected
                );
            }
            let mut buf = *b"secret plaintext";
            assert_eq!(
                hazmat::seal_in_place_detached(&key, &nonce, b"", &mut buf).unwrap_err(),
                expected
            );
            assert_eq!(buf, [0; 16], "a failed seal wipes the buffer");
            let mut buf = [1u8; 16];
            assert_eq!(
                hazmat::open_in_place_detached(&key, &nonce, b"", &mut buf, &[0; 16]).unwrap_err(),
                expected
            );
        }
    }
}

#[test]
fn wrong_tag_lengths_fail_authentication() {
    for key in keys() {
        let nonce = Nonce::random(key.algorithm()).unwrap();
        for len in [0, 1, 15, 17, 32] {
            let mut buf = [1u8; 8];
            assert_eq!(
                key.open_in_place_detached(&nonce, b"", &mut buf, &vec![0; len])
                    .unwrap_err(),
                CryptoError::Authentication
            );
        }
    }
}

#[test]
fn empty_messages_and_aad_are_fine() {
    for key in keys() {
        let sealed = key.seal(b"", b"").unwrap();
        assert_eq!(sealed.len(), key.algorithm().overhead());
        assert!(key.open(&sealed, b"").unwrap().is_empty());
        assert!(key.seal_batch(&[]).unwrap().is_empty());
    }
}

#[test]
fn algorithm_ids_and_names_are_stable_and_checked() {
    let expected = [
        (1, "xchacha20-poly1305", 24),
        (2, "chacha20-poly1305", 12),
        (3, "aes-256-gcm", 12),
    ];
    for (alg, (id, name, nonce_len)) in Algorithm::ALL.into_iter().zip(expected) {
        assert_eq!(
            (
                alg.id(),
                alg.name(),
                alg.nonce_len(),
                alg.tag_len(),
                alg.key_len()
            ),
            (id, name, nonce_len, 16, 32)
        );
        assert_eq!(Algorithm::from_id(id).unwrap(), alg);
        assert_eq!(name.parse::<Algorithm>().unwrap(), alg);
        assert_eq!(name.to_uppercase().parse::<Algorithm>().unwrap(), alg);
    }
    assert_eq!(Algorithm::default(), Algorithm::XChaCha20Poly1305);
    for id in [0, 4, 255] {
        assert_eq!(
            Algorithm::from_id(id).unwrap_err(),
            CryptoError::UnknownAlgorithmId(id)
        );
    }
    for name in ["", "aes", "chacha20", "aes-128-gcm", "xchacha20-poly1305 "] {
        assert!(matches!(
            name.parse::<Algorithm>(),
            Err(CryptoError::UnknownAlgorithmName(_))
        ));
    }
    let long = "x".repeat(10_000);
    let Err(CryptoError::UnknownAlgorithmName(echo)) = long.parse::<Algorithm>() else {
        panic!()
    };
    assert!(
        echo.len() <= 64,
        "error messages do not echo unbounded input"
    );
}

#[test]
fn argon2_bounds_are_checked_before_deriving() {
    let too_much = [
        Argon2Params {
            memory_kib: u32::MAX,
            ..Argon2Params::DEFAULT
        },
        Argon2Params {
            memory_kib: Argon2Params::MAX_MEMORY_KIB + 1,
            ..Argon2Params::DEFAULT
        },
        Argon2Params {
            iterations: u32::MAX,
            ..Argon2Params::DEFAULT
        },
        Argon2Params {
            iterations: 0,
            ..Argon2Params::DEFAULT
        },
        Argon2Params {
            lanes: 0,
            ..Argon2Params::DEFAULT
        },
        Argon2Params {
            lanes: 1 << 24,
            ..Argon2Params::DEFAULT
        },
        Argon2Params {
            memory_kib: 8,
            iterations: 1,
            lanes: 4,
        },
    ];
    for params in too_much {
        // Would take gigabytes or hours if it ran; it must be refused before any allocation.
        let err = derive_key(b"pw", &[0; 16], &params).unwrap_err();
        assert!(
            matches!(err, CryptoError::Argon2Parameter { .. }),
            "{params:?}: {err:?}"
        );
        let mut out = [0u8; 32];
        let err = hazmat::argon2id(b"pw", &[0; 16], &[], &[], &params, &mut out).unwrap_err();
        assert!(
            matches!(err, CryptoError::Argon2Parameter { .. }),
            "{params:?}: {err:?}"
        );
    }
    let weak = Argon2Params {
        memory_kib: 19_455,
        iterations: 2,
        lanes: 1,
    };
    assert!(matches!(
        weak.validate(),
        Err(CryptoError::Argon2TooWeak { .. })
    ));
    assert!(matches!(
        derive_key(b"pw", &[0; 16], &weak),
        Err(CryptoError::Argon2TooWeak { .. })
    ));
    for (memory_kib, iterations) in Argon2Params::OWASP_MINIMUMS {
        Argon2Params {
            memory_kib,
            iterations,
            lanes: 1,
        }
        .validate()
        .unwrap();
    }
    Argon2Params::DEFAULT.validate().unwrap();
}

#[test]
fn argon2_lengths_are_checked() {
    let params = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };
    let strong = Argon2Params::OWASP_MINIMUMS[0];
    let strong = Argon2Params {
        memory_kib: strong.0,
        iterations: strong.1,
        lanes: 1,
    };
    for salt_len in [0, 1, 15, 65, 4096] {
        let err = derive_key(b"pw", &vec![0; salt_len], &strong).unwrap_err();
        assert!(
            matches!(err, CryptoError::LengthOutOfRange { what: "salt", .. }),
            "{err:?}"
        );
    }
    for out_len in [0, 3, 1025] {
        let mut out = vec![0; out_len];
        let err = hazmat::argon2id(b"pw", &[0; 8], &[], &[], &params, &mut out).unwrap_err();
        assert!(
            matches!(err, CryptoError::LengthOutOfRange { .. }),
            "{err:?}"
        );
    }
    let mut out = [0u8; 32];
    let out_of_range = |result: Result<(), CryptoError>| match result {
        Err(CryptoError::LengthOutOfRange { what, .. }) => what,
        other => panic!("expected a length out of range, got {other:?}"),
    };
    assert_eq!(
        out_of_range(hazmat::argon2id(
            b"pw",
            &[0; 7],
            &[],
            &[],
            &params,
            &mut out
        )),
        "salt"
    );
    assert_eq!(
        out_of_range(hazmat::argon2id(
            b"pw",
            &[0; 8],
            &[0; 65],
            &[],
            &params,
            &mut out
        )),
        "Argon2 secret"
    );
    assert_eq!(
        out_of_range(hazmat::argon2id(
            b"pw",
            &[0; 8],
            &[],
            &[0; 33],
            &params,
            &mut out
        )),
        "Argon2 associated data"
    );
    hazmat::argon2id(b"", &[0; 8], &[], &[], &params, &mut out).unwrap();
}

#[test]
fn hkdf_lengths_are_checked() {
    for len in [0, HKDF_MAX_OUTPUT + 1, 100_000] {
        let mut out = vec![0; len];
        assert!(matches!(
            hkdf_sha256(b"", b"ikm", b"", &mut out),
            Err(CryptoError::LengthOutOfRange { .. })
        ));
    }
    let mut out = vec![0; HKDF_MAX_OUTPUT];
    hkdf_sha256(b"", b"", b"", &mut out).unwrap();
    let master = SecretKey::generate().unwrap();
    for label in [String::new(), "l".repeat(256)] {
        assert!(matches!(
            derive_subkey(&master, &label, b""),
            Err(CryptoError::LengthOutOfRange {
                what: "subkey label",
                ..
            })
        ));
    }
    derive_subkey(&master, &"l".repeat(255), &[0; 10_000]).unwrap();
}

#[test]
fn subkeys_are_separated_by_label_and_context() {
    let master = SecretKey::generate().unwrap();
    let a = derive_subkey(&master, "record-seal", b"").unwrap();
    assert_eq!(a, derive_subkey(&master, "record-seal", b"").unwrap());
    assert_ne!(a, derive_subkey(&master, "audit-mac", b"").unwrap());
    assert_ne!(a, derive_subkey(&master, "record-seal", b"x").unwrap());
    // The label's length prefix keeps ("ab", "c") apart from ("a", "bc").
    assert_ne!(
        derive_subkey(&master, "ab", b"c").unwrap(),
        derive_subkey(&master, "a", b"bc").unwrap()
    );
    assert_ne!(a, master);
}

#[test]
fn hmac_rejects_wrong_and_truncated_tags() {
    let tag = hmac_sha256(b"key", b"data");
    hmac_sha256_verify(b"key", b"data", tag.as_bytes()).unwrap();
    for len in [0, 1, 16, 31, 33] {
        let candidate: Vec<u8> = tag
            .as_bytes()
            .iter()
            .copied()
            .chain([0; 8])
            .take(len)
            .collect();
        assert_eq!(
            hmac_sha256_verify(b"key", b"data", &candidate).unwrap_err(),
            CryptoError::Authentication
        );
    }
    let mut mac = HmacSha256::new(b"key");
    mac.update(b"data");
    mac.clone()
        .verify_truncated(&tag.as_bytes()[..16], 16)
        .unwrap();
    assert_eq!(
        mac.clone()
            .verify_truncated(&tag.as_bytes()[..16], 20)
            .unwrap_err(),
        CryptoError::Authentication
    );
    for tag_len in [0, 8, 15, 33] {
        assert!(matches!(
            mac.clone().verify_truncated(&[], tag_len),
            Err(CryptoError::LengthOutOfRange { .. })
        ));
    }
    assert!(matches!(
        MacTag::from_slice(&[0; 31]),
        Err(CryptoError::InvalidLength {
            expected: 32,
            actual: 31,
            ..
        })
    ));
    assert_eq!(MacTag::from_slice(tag.as_bytes()).unwrap(), tag);
    // Keys of any length, including empty and longer than the block, work.
    for key_len in [0, 1, 63, 64, 65, 1000] {
        let key = vec![9; key_len];
        hmac_sha256_verify(&key, b"m", hmac_sha256(&key, b"m").as_bytes()).unwrap();
    }
}

#[test]
fn secrets_are_redacted_and_compared_in_constant_time() {
    let key = SecretKey::from_slice(&[0xAB; 32]).unwrap();
    let shown = format!(
        "{key:?} {:?} {:?}",
        AeadKey::new(Algorithm::Aes256Gcm, &key).unwrap(),
        HmacSha256::new(&[0xAB; 32])
    );
    assert!(
        !shown.to_lowercase().contains("ab, ") && !shown.to_lowercase().contains("abab"),
        "{shown}"
    );
    assert!(shown.contains("REDACTED"));
    assert_eq!(key, key.clone());
    assert_ne!(key, SecretKey::from_slice(&[0xAC; 32]).unwrap());
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

#[test]
fn opened_plaintext_is_redacted_compared_and_truncated() {
    let key = AeadKey::new(Algorithm::default(), &SecretKey::generate().unwrap()).unwrap();
    let mut opened = key
        .open(&key.seal(b"secret plaintext", b"").unwrap(), b"")
        .unwrap();
    assert_eq!(&*opened, b"secret plaintext");
    let shown = format!("{opened:?}");
    assert_eq!(shown, "SecretBytes([REDACTED; 16])");
    assert_eq!(opened, SecretBytes::new(b"secret plaintext".to_vec()));
    assert_ne!(opened, SecretBytes::new(b"secret plaintexT".to_vec()));
    opened.truncate(6);
    assert_eq!(opened.as_slice(), b"secret");
    opened.truncate(100);
    assert_eq!(opened.len(), 6);
}
