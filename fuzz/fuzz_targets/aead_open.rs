//! Opening arbitrary bytes as a sealed message, under every algorithm, must fail cleanly (or
//! succeed only for a genuine message) and never panic.
#![no_main]

use keyvault_crypto::{AeadKey, Algorithm, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(secret) = SecretKey::from_slice(&[0x42; 32]) else {
        return;
    };
    for algorithm in Algorithm::ALL {
        let Ok(key) = AeadKey::new(algorithm, &secret) else {
            return;
        };
        let (aad, sealed) = data.split_at(data.len().min(4));
        let _ = key.open(sealed, aad);
    }
});
