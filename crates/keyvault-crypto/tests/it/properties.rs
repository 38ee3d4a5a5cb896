//! Property tests: every algorithm round-trips, and any change to a sealed message fails cleanly.

use keyvault_crypto::{AeadKey, Algorithm, CryptoError, Nonce, SecretKey, hazmat};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

fn key(alg: Algorithm, bytes: &[u8; 32]) -> AeadKey {
    AeadKey::new(alg, &SecretKey::from_slice(bytes).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seal_then_open_round_trips(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..2048),
        aad in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let key = key(alg, &key_bytes);
        let sealed = key.seal(&plaintext, &aad).unwrap();
        prop_assert_eq!(sealed.len(), plaintext.len() + alg.overhead());
        prop_assert_eq!(&key.open(&sealed, &aad).unwrap()[..], &plaintext[..]);
    }

    #[test]
    fn detached_in_place_round_trips(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..2048),
        aad in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let key = key(alg, &key_bytes);
        let mut buf = plaintext.clone();
        let (nonce, tag) = key.seal_in_place_detached(&aad, &mut buf).unwrap();
        prop_assert_eq!(nonce.as_bytes().len(), alg.nonce_len());
        key.open_in_place_detached(&nonce, &aad, &mut buf, &tag).unwrap();
        prop_assert_eq!(buf, plaintext);
    }

    #[test]
    fn batch_seal_matches_single_open(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        messages in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..256), prop::collection::vec(any::<u8>(), 0..16)),
            0..16,
        ),
    ) {
        let key = key(alg, &key_bytes);
        let items: Vec<(&[u8], &[u8])> =
            messages.iter().map(|(p, a)| (p.as_slice(), a.as_slice())).collect();
        let sealed = key.seal_batch(&items).unwrap();
        prop_assert_eq!(sealed.len(), messages.len());
        for ((plaintext, aad), sealed) in messages.iter().zip(&sealed) {
            prop_assert_eq!(&key.open(sealed, aad).unwrap()[..], &plaintext[..]);
        }
    }

    #[test]
    fn any_single_bit_flip_fails(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..512),
        aad in prop::collection::vec(any::<u8>(), 0..32),
        bit in any::<prop::sample::Index>(),
    ) {
        let key = key(alg, &key_bytes);
        let mut sealed = key.seal(&plaintext, &aad).unwrap();
        let bit = bit.index(sealed.len() * 8);
        sealed[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(key.open(&sealed, &aad).unwrap_err(), CryptoError::Authentication);
    }

    #[test]
    fn any_truncation_or_extension_fails(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..512),
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let key = key(alg, &key_bytes);
        let sealed = key.seal(&plaintext, b"").unwrap();
        let cut = cut.index(sealed.len());
        prop_assert_eq!(key.open(&sealed[..cut], b"").unwrap_err(), CryptoError::Authentication);
        let mut longer = sealed.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(key.open(&longer, b"").unwrap_err(), CryptoError::Authentication);
    }

    #[test]
    fn wrong_aad_or_wrong_key_fails(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        other_key in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..512),
        aad in prop::collection::vec(any::<u8>(), 0..32),
        other_aad in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        prop_assume!(aad != other_aad && key_bytes != other_key);
        let sealed = key(alg, &key_bytes).seal(&plaintext, &aad).unwrap();
        prop_assert!(matches!(
            key(alg, &key_bytes).open(&sealed, &other_aad),
            Err(CryptoError::Authentication)
        ));
        prop_assert!(matches!(
            key(alg, &other_key).open(&sealed, &aad),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn failed_open_wipes_the_buffer(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(1u8..=255, 1..512),
    ) {
        let key = key(alg, &key_bytes);
        let mut buf = plaintext.clone();
        let (nonce, mut tag) = key.seal_in_place_detached(b"", &mut buf).unwrap();
        tag[0] ^= 1;
        prop_assert!(matches!(
            key.open_in_place_detached(&nonce, b"", &mut buf, &tag),
            Err(CryptoError::Authentication)
        ));
        prop_assert!(buf.iter().all(|&b| b == 0), "buffer must be wiped after a failed open");
    }

    #[test]
    fn explicit_nonce_matches_managed_layout(
        alg in algorithm(),
        key_bytes in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        // seal() output is nonce || (what hazmat::seal_with_nonce returns for that nonce).
        let key = key(alg, &key_bytes);
        let sealed = key.seal(&plaintext, b"ad").unwrap();
        let (nonce, body) = sealed.split_at(alg.nonce_len());
        prop_assert_eq!(hazmat::seal_with_nonce(&key, nonce, b"ad", &plaintext).unwrap(), body);
        let nonce = Nonce::from_slice(alg, nonce).unwrap();
        prop_assert_eq!(nonce.as_bytes().len(), alg.nonce_len());
    }
}

#[test]
fn nonces_are_fresh_for_every_seal() {
    for alg in Algorithm::ALL {
        let key = key(alg, &[7; 32]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let sealed = key.seal(b"same message", b"").unwrap();
            assert!(
                seen.insert(sealed[..alg.nonce_len()].to_vec()),
                "{alg}: nonce repeated"
            );
        }
        let items = vec![(&b"m"[..], &b""[..]); 100];
        for sealed in key.seal_batch(&items).unwrap() {
            assert!(
                seen.insert(sealed[..alg.nonce_len()].to_vec()),
                "{alg}: batch nonce repeated"
            );
        }
    }
}
