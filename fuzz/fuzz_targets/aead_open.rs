//! Opening arbitrary bytes as a sealed message, under every algorithm, must fail cleanly (or
//! succeed only for a genuine message) and never panic; sealing the input and opening it again
//! must give it back, and any changed bit of what was sealed must make opening fail.
#![no_main]

use keyvault_crypto::{AeadKey, Algorithm, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(secret) = SecretKey::from_slice(&[0x42; 32]) else {
        return;
    };
    let (aad, sealed) = data.split_at(data.len().min(4));
    for algorithm in Algorithm::ALL {
        let Ok(key) = AeadKey::new(algorithm, &secret) else {
            return;
        };
        let _ = key.open(sealed, aad);

        // Round trip under a nonce taken from the input, and a one-bit change chosen by it.
        let nonce: Vec<u8> = (0..algorithm.nonce_len())
            .map(|i| data.get(i).copied().unwrap_or(0))
            .collect();
        let Ok(ciphertext) = keyvault_crypto::hazmat::seal_with_nonce(&key, &nonce, aad, sealed)
        else {
            panic!("sealing {} bytes failed", sealed.len());
        };
        let mut message = nonce.clone();
        message.extend_from_slice(&ciphertext);
        match key.open(&message, aad) {
            Ok(plaintext) => assert_eq!(&plaintext[..], sealed, "round trip"),
            Err(err) => panic!("a genuine message did not open: {err}"),
        }
        let bit = data.iter().fold(0usize, |acc, &b| {
            acc.wrapping_mul(31).wrapping_add(b.into())
        }) % (message.len() * 8);
        message[bit / 8] ^= 1 << (bit % 8);
        assert!(
            key.open(&message, aad).is_err(),
            "a changed bit still opened"
        );
    }
});
