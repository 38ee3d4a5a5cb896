//! Key export v1, JSON encoding, from arbitrary bytes: `ExportedKey::from_json` must refuse the
//! input or accept exactly its canonical form, which the binary encoding must carry unchanged;
//! an accepted file is then opened with the golden export's key (derived once), which only an
//! unmodified golden file survives. Never a panic.
#![no_main]

use keyvault_backup::ExportedKey;
use keyvault_fuzz::export_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = export_key();
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(ExportedKey::decode(data).is_err());
        return;
    };
    let Ok(file) = ExportedKey::from_json(text) else {
        return;
    };
    assert_eq!(file.to_json(), text, "only the canonical form is accepted");
    let binary = file.to_bytes();
    match ExportedKey::from_bytes(&binary) {
        Ok(again) => assert_eq!(again, file, "the binary encoding carries the same value"),
        Err(err) => panic!("the binary form of an accepted JSON export is refused: {err}"),
    }
    if let Ok(bundle) = file.open_with(key) {
        assert_eq!(&bundle.metadata, file.metadata());
        assert_eq!(bundle.versions.len(), file.versions().len());
    }
});
