//! Envelope v2 from arbitrary bytes: `Envelope::parse` must refuse or split the input so that
//! its parts re-assemble to exactly the input; a parsed envelope is then opened with the golden
//! key (0..32) and associated data, which only a genuine envelope survives. Never a panic.
#![no_main]

use keyvault_core::envelope::Purpose;
use keyvault_core::envelope::{self, Envelope};
use keyvault_crypto::Algorithm;
use keyvault_fuzz::{envelope_keys, golden};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = envelope_keys();
    let Ok(parsed) = Envelope::parse(data) else {
        // Whatever parse refuses, open refuses too.
        for key in keys {
            for purpose in Purpose::ALL {
                assert!(envelope::open(key, purpose, data, golden::ENVELOPE_AAD).is_err());
            }
        }
        return;
    };
    let rebuilt = [
        &parsed.header().to_bytes()[..],
        parsed.nonce(),
        parsed.ciphertext(),
        parsed.tag(),
    ]
    .concat();
    assert_eq!(rebuilt, data, "parts re-assemble to the input");
    assert_eq!(parsed.nonce().len(), parsed.header().algorithm.nonce_len());
    let purpose = parsed.header().purpose;
    for other in Purpose::ALL.into_iter().filter(|p| *p != purpose) {
        for key in keys {
            assert!(parsed.open(other, key, golden::ENVELOPE_AAD).is_err(), "opened as another purpose");
        }
    }
    for (key, algorithm) in keys.iter().zip(Algorithm::ALL) {
        let opened = parsed.open(purpose, key, golden::ENVELOPE_AAD);
        if algorithm != parsed.header().algorithm {
            assert!(opened.is_err(), "a key of another algorithm opened it");
            continue;
        }
        if let Ok(plaintext) = opened {
            // Only a genuine envelope opens: it must also open with the free function, and
            // not with any other associated data.
            let again =
                envelope::open(key, purpose, data, golden::ENVELOPE_AAD).map(|p| p.to_vec());
            assert_eq!(again.ok().as_deref(), Some(&plaintext[..]));
            assert!(parsed.open(purpose, key, b"other aad").is_err());
        }
    }
});
