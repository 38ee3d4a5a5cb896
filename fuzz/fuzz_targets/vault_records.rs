//! Arbitrary bytes as the plaintext of a sealed record (the first byte picks the kind: key,
//! counter, metadata, name entry or audit segment) and as sealed bytes opened by the barrier
//! under a fixed key. Decoding never panics; what decodes re-encodes stably (an audit segment
//! to exactly its input); sealing then opening decodes as the plaintext does; arbitrary sealed
//! bytes never open.
#![no_main]

use keyvault_store::fuzzing::{RecordKind, decode_record, open_record, seal_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, plaintext)) = data.split_first() else {
        return;
    };
    let kind = RecordKind::from_byte(first);
    let mut storage_key = vec![first];
    storage_key.extend_from_slice(&[0x5c; 32]);

    let decoded = decode_record(kind, plaintext);
    if let Ok(canonical) = &decoded {
        assert_eq!(
            decode_record(kind, canonical).ok().as_ref(),
            Some(canonical),
            "{kind:?} re-encodes unstably"
        );
        if kind == RecordKind::Audit {
            assert_eq!(
                &canonical[..],
                plaintext,
                "an audit segment has two encodings"
            );
        }
    }

    assert!(
        open_record(kind, &storage_key, plaintext).is_err(),
        "arbitrary bytes opened as a sealed record"
    );

    if let Ok(sealed) = seal_record(&storage_key, plaintext) {
        let opened = open_record(kind, &storage_key, &sealed);
        assert_eq!(
            opened.ok(),
            decoded.ok(),
            "{kind:?} opens differently than it decodes"
        );
    }
});
