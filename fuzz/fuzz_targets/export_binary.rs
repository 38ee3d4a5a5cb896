//! Key export v1, binary encoding, from arbitrary bytes: `ExportedKey::decode` (binary after the
//! `KVKE` magic, JSON otherwise) must refuse the input or accept exactly its canonical bytes,
//! which the JSON encoding must carry unchanged; an accepted file is then opened with the golden
//! export's key (derived once), which only an unmodified golden file survives. Never a panic.
#![no_main]

use keyvault_backup::{ExportedKey, EXPORT_MAGIC};
use keyvault_fuzz::export_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = export_key();
    let Ok(file) = ExportedKey::decode(data) else {
        return;
    };
    if data.starts_with(&EXPORT_MAGIC) {
        assert_eq!(file.to_bytes(), data, "only the canonical form is accepted");
        let json = file.to_json();
        match ExportedKey::from_json(&json) {
            Ok(again) => assert_eq!(again, file, "the JSON encoding carries the same value"),
            Err(err) => panic!("the JSON form of an accepted binary export is refused: {err}"),
        }
    } else {
        assert_eq!(file.to_json().as_bytes(), data);
    }
    if let Ok(bundle) = file.open_with(key) {
        assert_eq!(&bundle.metadata, file.metadata());
        assert_eq!(bundle.versions.len(), file.versions().len());
    }
});
