//! Arbitrary bytes never panic the store's decoders: the vault header and its keyslots, every
//! sealed record's plaintext (key records, counters, metadata, name entries, audit segments)
//! and the barrier's open. Each decoder either refuses the bytes with a typed error or accepts
//! them, and what it accepts it writes back in a form it accepts again unchanged. Real headers
//! and records with structured damage (one field changed, bytes flipped, cut short, grown) are
//! refused, never accepted as something else. The file-level damage cases are in bad_files.rs.

use std::path::PathBuf;
use std::sync::OnceLock;

use keyvault_crypto::Argon2Params;
use keyvault_store::StoreError;
use keyvault_store::fuzzing::{
    RecordKind, decode_record, open_record, parse_header, sample_header, sample_records,
    seal_record, unlock_header, verify_header,
};
use keyvault_test_support::any_damage;
use proptest::prelude::*;
use serde_json::{Value, json};

const PASSWORD: &[u8] = b"never panic password";
/// The cheapest parameters the vault accepts, so the few tests that derive stay fast.
const PARAMS: Argon2Params = Argon2Params::MINIMUM;

/// One real header, made once (it costs an Argon2id derivation).
fn real_header() -> &'static [u8] {
    static HEADER: OnceLock<Vec<u8>> = OnceLock::new();
    HEADER.get_or_init(|| sample_header(PASSWORD, &PARAMS).unwrap())
}

fn real_header_json() -> Value {
    serde_json::from_slice(real_header()).unwrap()
}

fn tampered<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Tampered { .. }))
}

fn storage_key(kind: RecordKind) -> Vec<u8> {
    let mut key = vec![kind.name().as_bytes()[0]];
    key.extend_from_slice(&[0x5c; 32]);
    key
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A value a JSON field could be given by someone editing the file.
fn any_json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        "[0-9a-fA-F]{0,80}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!(u64::MAX)),
        Just(json!(u32::MAX)),
    ]
}

/// A decoder's acceptance must be stable: what it writes back, it reads back to the same bytes.
fn assert_idempotent(kind: RecordKind, canonical: &[u8]) {
    assert_eq!(
        decode_record(kind, canonical).unwrap(),
        canonical,
        "{kind:?} re-encoding is not stable"
    );
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_header_parser(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        if let Ok(canonical) = parse_header(&bytes) {
            prop_assert_eq!(parse_header(&canonical).unwrap(), canonical);
        }
        let _ = verify_header(&bytes);
    }

    #[test]
    fn arbitrary_text_after_a_json_prefix_never_panics_the_header_parser(
        prefix in prop_oneof![
            Just(&b"{\"format\":2,"[..]),
            Just(&b"{\"slots\":[{\"id\":0,\"kind\":{\"password\":{"[..]),
            Just(&b"["[..]),
        ],
        text in ".{0,400}",
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let _ = parse_header(&bytes);
        let _ = verify_header(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_record_decoders(
        kind in (0u8..5).prop_map(RecordKind::from_byte),
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        if let Ok(canonical) = decode_record(kind, &bytes) {
            assert_idempotent(kind, &canonical);
        }
    }

    #[test]
    fn arbitrary_sealed_bytes_never_open(
        kind in (0u8..5).prop_map(RecordKind::from_byte),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assert!(tampered(open_record(kind, &storage_key(kind), &bytes)));
    }

    #[test]
    fn arbitrary_plaintext_sealed_then_opened_decodes_as_the_plaintext_does(
        kind in (0u8..5).prop_map(RecordKind::from_byte),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let sealed = seal_record(&storage_key(kind), &bytes).unwrap();
        let opened = open_record(kind, &storage_key(kind), &sealed);
        match decode_record(kind, &bytes) {
            Ok(canonical) => prop_assert_eq!(opened.unwrap(), canonical),
            Err(_) => prop_assert!(tampered(opened)),
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Every field of a real header set to anything: parsed or refused as the rules say, and
    /// never accepted by the MAC unless nothing changed.
    #[test]
    fn any_header_field_set_to_any_value_is_refused_by_the_mac(
        field in 0usize..10,
        value in any_json_value(),
    ) {
        let original = real_header_json();
        let mut header = original.clone();
        let slot = &mut header["slots"][0];
        let target = match field {
            0 => &mut header["format"],
            1 => &mut header["vault_id"],
            2 => &mut header["created_at"],
            3 => &mut header["mac"],
            4 => &mut slot["id"],
            5 => &mut slot["kind"]["password"]["salt"],
            6 => &mut slot["kind"]["password"]["memory_kib"],
            7 => &mut slot["kind"]["password"]["iterations"],
            8 => &mut slot["kind"]["password"]["lanes"],
            _ => &mut slot["kind"]["password"]["wrapped"],
        };
        *target = value;
        let bytes = serde_json::to_vec(&header).unwrap();
        let verified = verify_header(&bytes);
        if header == original {
            prop_assert!(verified.is_ok());
        } else if let Ok(()) = verified {
            // Only another spelling of the same header can pass: the same canonical form.
            prop_assert_eq!(parse_header(&bytes).unwrap(), parse_header(real_header()).unwrap());
        }
    }

    /// The keyslot bounds as a model: a header whose fields are arbitrary numbers and hex is
    /// accepted exactly when the format, the slot count, every salt and every parameter set is
    /// within bounds; the MAC never accepts it.
    #[test]
    fn keyslot_bounds_follow_the_rules(
        format in prop_oneof![Just(2u16), Just(1u16), any::<u16>()],
        slots in proptest::collection::vec(
            (
                prop_oneof![
                    8 => Just(19_456u32),
                    2 => Just(Argon2Params::MAX_MEMORY_KIB),
                    1 => Just(Argon2Params::MAX_MEMORY_KIB + 1),
                    1 => Just(u32::MAX),
                    1 => Just(0u32),
                    1 => any::<u32>(),
                ],
                prop_oneof![8 => Just(2u32), 1 => Just(0u32), 1 => Just(17u32), 2 => 0u32..20],
                prop_oneof![8 => Just(1u32), 1 => Just(0u32), 1 => Just(17u32), 2 => 0u32..20],
                prop_oneof![8 => Just(16usize), 2 => 0usize..80],
                0usize..200,
            ),
            0..10,
        ),
    ) {
        let slots_json: Vec<Value> = slots
            .iter()
            .enumerate()
            .map(|(id, &(memory_kib, iterations, lanes, salt_len, wrapped_len))| {
                json!({"id": id, "kind": {"password": {
                    "salt": "ab".repeat(salt_len),
                    "memory_kib": memory_kib,
                    "iterations": iterations,
                    "lanes": lanes,
                    "wrapped": "cd".repeat(wrapped_len),
                }}})
            })
            .collect();
        let header = json!({
            "format": format,
            "vault_id": "00".repeat(16),
            "created_at": 1_700_000_000_000u64,
            "slots": slots_json,
            "mac": "00".repeat(32),
        });
        let bytes = serde_json::to_vec(&header).unwrap();
        let expected = format == 2
            && (1..=8).contains(&slots.len())
            && slots.iter().all(|&(memory_kib, iterations, lanes, salt_len, _)| {
                Argon2Params { memory_kib, iterations, lanes }.validate().is_ok()
                    && (16..=64).contains(&salt_len)
            });
        prop_assert_eq!(parse_header(&bytes).is_ok(), expected);
        // A header that parses fails its MAC (it was never sealed); anything else is not a
        // vault, or holds keyslot parameters no vault writes.
        let err = verify_header(&bytes).unwrap_err();
        if expected {
            prop_assert!(matches!(err, StoreError::Tampered { .. }), "{}", err);
        } else {
            prop_assert!(
                matches!(err, StoreError::NotAVault { .. } | StoreError::Tampered { .. }),
                "{}",
                err
            );
        }
    }

    /// Bytes of a real header damaged anywhere: refused, unless the damage only re-spelled the
    /// same header.
    #[test]
    fn damaged_real_headers_are_refused(damage_done in any_damage()) {
        let bytes = damage_done.applied(real_header());
        if let Ok(()) = verify_header(&bytes) {
            prop_assert_eq!(parse_header(&bytes).unwrap(), parse_header(real_header()).unwrap());
        }
    }

    /// Real record plaintexts damaged anywhere: never a panic; what is accepted re-encodes
    /// stably; a damaged audit segment is accepted only as its exact canonical bytes.
    #[test]
    fn damaged_real_records_never_panic(
        index in 0usize..5,
        damages in proptest::collection::vec(any_damage(), 1..4),
    ) {
        let samples = sample_records().unwrap();
        let (kind, plaintext) = &samples[index % samples.len()];
        let mut bytes = plaintext.clone();
        for damage_done in &damages {
            damage_done.apply(&mut bytes);
        }
        if let Ok(canonical) = decode_record(*kind, &bytes) {
            assert_idempotent(*kind, &canonical);
            if *kind == RecordKind::Audit {
                prop_assert_eq!(canonical, bytes);
            }
        }
    }

    /// Real sealed records damaged anywhere, or opened where they were not sealed: refused.
    #[test]
    fn damaged_or_moved_sealed_records_are_refused(
        index in 0usize..5,
        damage_done in any_damage(),
        other in 0u8..5,
    ) {
        let samples = sample_records().unwrap();
        let (kind, plaintext) = &samples[index % samples.len()];
        let sealed = seal_record(&storage_key(*kind), plaintext).unwrap();
        prop_assert_eq!(
            open_record(*kind, &storage_key(*kind), &sealed).unwrap(),
            decode_record(*kind, plaintext).unwrap()
        );
        // A splice of a run onto an equal run changes nothing; anything else is refused.
        let damaged = damage_done.applied(&sealed);
        prop_assert!(
            damaged == sealed || tampered(open_record(*kind, &storage_key(*kind), &damaged))
        );
        let other = RecordKind::from_byte(other);
        if other != *kind {
            prop_assert!(tampered(open_record(*kind, &storage_key(other), &sealed)));
        }
    }
}

#[test]
fn real_headers_and_records_are_accepted_and_stable() {
    let canonical = parse_header(real_header()).unwrap();
    assert_eq!(canonical, real_header());
    verify_header(real_header()).unwrap();
    unlock_header(real_header(), PASSWORD).unwrap();
    assert!(matches!(
        unlock_header(real_header(), b"another password"),
        Err(StoreError::WrongPassword)
    ));
    for (kind, plaintext) in sample_records().unwrap() {
        assert_eq!(
            decode_record(kind, &plaintext).unwrap(),
            plaintext,
            "{kind:?}"
        );
    }
}

/// Keyslot fields are bound to the wrapped master key: parameters changed within the bounds
/// derive a different key-encryption key and the slot no longer opens; the id and salt too.
/// (Each case runs Argon2id, so there are few.)
#[test]
fn changed_keyslot_fields_no_longer_unlock() {
    let changes: [(&str, Value); 5] = [
        ("iterations", json!(3)),
        ("memory_kib", json!(19_457)),
        ("lanes", json!(2)),
        ("salt", json!("ab".repeat(16))),
        ("id", json!(1)),
    ];
    for (field, value) in changes {
        let mut header = real_header_json();
        let slot = &mut header["slots"][0];
        if field == "id" {
            slot["id"] = value;
        } else {
            slot["kind"]["password"][field] = value;
        }
        let bytes = serde_json::to_vec(&header).unwrap();
        parse_header(&bytes).unwrap();
        assert!(
            matches!(
                unlock_header(&bytes, PASSWORD),
                Err(StoreError::WrongPassword)
            ),
            "{field}"
        );
    }
}

/// Argon2 parameters that would cost gigabytes or hours, a zero, and salts out of range are
/// refused before any derivation: opening fails at once with a typed error.
#[test]
fn hostile_keyslot_parameters_are_refused_before_deriving() {
    let hostile: [(&str, Value); 8] = [
        ("memory_kib", json!(u32::MAX)),
        ("memory_kib", json!(Argon2Params::MAX_MEMORY_KIB + 1)),
        ("memory_kib", json!(0)),
        ("iterations", json!(u32::MAX)),
        ("iterations", json!(0)),
        ("lanes", json!(u32::MAX)),
        ("lanes", json!(0)),
        ("salt", json!("ab".repeat(65))),
    ];
    for (field, value) in hostile {
        let mut header = real_header_json();
        header["slots"][0]["kind"]["password"][field] = value.clone();
        let bytes = serde_json::to_vec(&header).unwrap();
        // Refused, not derived: `Tampered` comes from the bounds check a slot passes before
        // its derivation.
        assert!(tampered(parse_header(&bytes)), "{field} {value}");
        assert!(tampered(unlock_header(&bytes, PASSWORD)), "{field} {value}");
    }
    // An over-long wrapped key is refused by size, a header past 64 KiB before parsing.
    let mut header = real_header_json();
    header["slots"][0]["kind"]["password"]["wrapped"] = json!("ab".repeat(2000));
    assert!(tampered(parse_header(
        &serde_json::to_vec(&header).unwrap()
    )));
    let mut big = real_header().to_vec();
    big.extend(std::iter::repeat_n(b' ', 64 * 1024));
    assert!(tampered(parse_header(&big)));
    // Nine slots are too many; none is too few.
    let mut header = real_header_json();
    let slot = header["slots"][0].clone();
    header["slots"] = Value::Array(vec![slot; 9]);
    assert!(tampered(parse_header(
        &serde_json::to_vec(&header).unwrap()
    )));
    header["slots"] = json!([]);
    assert!(tampered(parse_header(
        &serde_json::to_vec(&header).unwrap()
    )));
}

/// An audit segment claiming more records than its bytes can hold is refused without
/// reserving room for them.
#[test]
fn audit_segment_counts_are_bounded_by_the_bytes() {
    for count in [1u32, 2, 1000, u32::MAX] {
        let mut bytes = count.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 43]);
        assert!(
            tampered(decode_record(RecordKind::Audit, &bytes)),
            "{count}"
        );
    }
    // The empty segment is well formed.
    assert_eq!(
        decode_record(RecordKind::Audit, &[0; 4]).unwrap(),
        vec![0; 4]
    );
}

/// The committed fuzz seeds are real inputs every decoder accepts. With
/// `KEYVAULT_WRITE_SEEDS=1` this writes them first (fuzz/seeds/vault_header and vault_records).
#[test]
fn fuzz_seeds_are_accepted() {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let headers = seeds.join("vault_header");
    let records = seeds.join("vault_records");
    if std::env::var_os("KEYVAULT_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&headers).unwrap();
        std::fs::create_dir_all(&records).unwrap();
        std::fs::write(headers.join("real.json"), real_header()).unwrap();
        for (index, (kind, plaintext)) in sample_records().unwrap().into_iter().enumerate() {
            let mut seed = vec![u8::try_from(index).unwrap()];
            assert_eq!(RecordKind::from_byte(seed[0]), kind);
            seed.extend_from_slice(&plaintext);
            std::fs::write(records.join(format!("{}.bin", kind.name())), seed).unwrap();
        }
    }
    let Ok(entries) = std::fs::read_dir(&headers) else {
        return;
    };
    for entry in entries {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        verify_header(&bytes).unwrap();
    }
    for entry in std::fs::read_dir(&records).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let (first, plaintext) = bytes.split_first().unwrap();
        decode_record(RecordKind::from_byte(*first), plaintext).unwrap();
    }
}
