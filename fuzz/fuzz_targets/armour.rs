//! The `kv1:` text form from arbitrary input: `dearmour` must refuse or return bytes that
//! `armour` turns back into exactly the (trimmed) text; those bytes then go through
//! `Envelope::parse` and are opened with the golden key. Never a panic.
#![no_main]

use keyvault_core::envelope::{self, Envelope};
use keyvault_fuzz::{envelope_keys, golden};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bytes) = envelope::dearmour(text) else {
        return;
    };
    let armoured = envelope::armour(&bytes).expect("dearmoured bytes armour again");
    assert_eq!(armoured, text.trim_ascii(), "one text form per envelope");
    if let Ok(parsed) = Envelope::parse(&bytes) {
        for key in envelope_keys() {
            let _ = parsed.open(parsed.header().purpose, key, golden::ENVELOPE_AAD);
        }
    }
});
