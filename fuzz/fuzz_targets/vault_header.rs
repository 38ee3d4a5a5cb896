//! Arbitrary bytes as a stored vault header: parsed and every keyslot checked (sizes, hex,
//! salt length, Argon2 parameters) as unlocking does before it derives, then the MAC checked
//! under a fixed master key. Never a panic, never an Argon2 run; what parses re-encodes to a
//! header that parses to itself, and the MAC decides the same on both spellings.
#![no_main]

use keyvault_store::fuzzing::{parse_header, verify_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let verified = verify_header(data).is_ok();
    if let Ok(canonical) = parse_header(data) {
        assert_eq!(
            parse_header(&canonical).ok().as_deref(),
            Some(&canonical[..]),
            "a parsed header re-encodes unstably"
        );
        assert_eq!(
            verify_header(&canonical).is_ok(),
            verified,
            "the MAC decides differently on the re-encoded header"
        );
    } else {
        assert!(
            !verified,
            "a header refused by the parser passed the MAC check"
        );
    }
});
