//! The audit chain's tamper battery: over generated logs, every single-record edit, deletion,
//! insertion, reorder and tail truncation is detected at the right record, and untouched logs
//! never raise a false alarm. Plus the canonical encoding's determinism and a golden chain.

// Tests may read files (golden files, docs), which keyvault-core itself never does.
#![allow(clippy::cast_possible_truncation, clippy::disallowed_methods)]

use crate::common;

use std::collections::HashSet;

use common::key_id;
use keyvault_core::audit::{
    AadDigest, AadDigester, ChainBreak, ChainMac, ChainProblem, GENESIS_MAC, chain_mac, verify_log,
    verify_segment,
};
use keyvault_core::{
    AuditEvent, AuditOperation, AuditRecord, ChainHead, Denial, Error, ErrorKind, KeyName,
    KeyVersion, Outcome, StateKind, Timestamp, VersionState,
};
use keyvault_crypto::SecretKey;
use keyvault_test_support::Rng;
use proptest::prelude::*;

fn audit_key() -> SecretKey {
    SecretKey::from_slice(&[0x5a; 32]).unwrap()
}

fn random_event(rng: &mut Rng) -> AuditEvent {
    let operation = AuditOperation::ALL[rng.below(AuditOperation::ALL.len())];
    let outcome = match rng.below(6) {
        0 => Outcome::Denied {
            reason: Denial::UsageLimitReached {
                max_operations: rng.next_u64() % 100,
            },
        },
        1 => Outcome::Denied {
            reason: Denial::VersionUnusable {
                version: KeyVersion::new(1 + (rng.next_u64() % 9) as u32).unwrap(),
                state: VersionState::Revoked,
            },
        },
        2 => Outcome::Denied {
            reason: Denial::KeyState {
                state: StateKind::Disabled,
            },
        },
        3 => Outcome::Error {
            kind: ErrorKind::ALL[rng.below(ErrorKind::ALL.len())],
        },
        _ => Outcome::Ok,
    };
    let mut event = AuditEvent::new(
        Timestamp::from_unix_millis(1_750_000_000_000 + rng.next_u64() % 1_000_000),
        operation,
        outcome,
        format!("cli:user{}", rng.below(5)),
    );
    if rng.below(4) != 0 {
        let version = KeyVersion::new(1 + rng.below(5) as u32).unwrap();
        event = event.for_key(key_id(rng.bytes(1)[0]), Some(version));
    }
    if rng.below(3) == 0 {
        event = event.with_key_name(KeyName::new(format!("key-{}", rng.below(50))).unwrap());
    }
    if rng.below(2) == 0 {
        event = event.with_aad_digest(AadDigest::compute(&audit_key(), &rng.bytes(8)));
    }
    if rng.below(3) == 0 {
        event = event.with_request_id(format!("req-{}", rng.next_u64()));
    }
    if rng.below(3) == 0 {
        event = event
            .with_detail("from", "active")
            .with_detail("to", "disabled");
    }
    event
}

fn random_log(rng: &mut Rng, len: usize) -> (Vec<AuditRecord>, ChainHead) {
    let key = audit_key();
    let mut head = ChainHead::GENESIS;
    let mut records = Vec::with_capacity(len);
    for _ in 0..len {
        let (record, next) = head.append(&key, random_event(rng)).unwrap();
        records.push(record);
        head = next;
    }
    (records, head)
}

fn break_of(records: &[AuditRecord], head: &ChainHead) -> Option<ChainBreak> {
    match verify_log(&audit_key(), records, head) {
        Ok(()) => None,
        Err(Error::AuditChain { broken }) => Some(broken),
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// Single-record edits: each changes exactly one field of record `i`.
const EDITS: usize = 12;

fn edit(record: &mut AuditRecord, kind: usize, rng: &mut Rng) {
    let event = &mut record.event;
    match kind {
        0 => event.time = Timestamp::from_unix_millis(event.time.as_unix_millis() ^ 1),
        1 => {
            let others: Vec<_> = AuditOperation::ALL
                .iter()
                .filter(|&&op| op != event.operation)
                .collect();
            event.operation = *others[rng.below(others.len())];
        }
        2 => {
            event.key_id = match event.key_id {
                Some(id) => {
                    let mut bytes = *id.as_bytes();
                    bytes[15] ^= 0x80;
                    Some(keyvault_core::KeyId::from_bytes(bytes))
                }
                None => Some(key_id(7)),
            }
        }
        3 => {
            event.key_version = match event.key_version {
                Some(version) if version.get() > 1 => None,
                _ => Some(KeyVersion::new(99).unwrap()),
            }
        }
        4 => {
            event.key_name = match &event.key_name {
                Some(_) => None,
                None => Some(KeyName::new("intruder").unwrap()),
            }
        }
        5 => {
            event.outcome = match event.outcome {
                Outcome::Ok => Outcome::Denied {
                    reason: Denial::NotExportable,
                },
                _ => Outcome::Ok,
            }
        }
        6 => event.actor = format!("{}!", event.actor).into(),
        7 => event.context.request_id = Some(format!("{:?}!", event.context.request_id)),
        8 => {
            event.context.aad_digest = match event.context.aad_digest {
                Some(_) => None,
                None => Some(AadDigest::compute(&audit_key(), b"other")),
            }
        }
        9 => {
            event.context.details.insert("zz".into(), "added".into());
        }
        10 => record.seq ^= 1 << 40,
        11 => {
            let mut bytes = *record.mac.as_bytes();
            bytes[rng.below(32)] ^= 1 << rng.below(8);
            record.mac = ChainMac::from_bytes(bytes);
        }
        _ => unreachable!(),
    }
}

#[derive(Default)]
struct Tally {
    done: usize,
    detected: usize,
}

impl Tally {
    /// Record one tampering; it counts as detected only if reported at `expected_index`.
    fn check(&mut self, what: &str, broken: Option<ChainBreak>, expected_index: usize) {
        self.done += 1;
        match broken {
            Some(broken) if broken.index == expected_index => self.detected += 1,
            other => eprintln!("{what}: expected a break at {expected_index}, got {other:?}"),
        }
    }
}

#[test]
fn tamper_battery_detects_every_single_record_change() {
    let mut rng = Rng::new(0x6b65_7976_6175_6c74);
    let (mut edits, mut deletions, mut insertions, mut reorders, mut truncations) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let (mut untouched, mut false_alarms) = (0, 0);
    let wrong_key = SecretKey::from_slice(&[0xa5; 32]).unwrap();

    for log_number in 0..60 {
        let len = 1 + log_number % 20;
        let (records, head) = random_log(&mut rng, len);

        untouched += 1;
        if break_of(&records, &head).is_some() {
            false_alarms += 1;
        }

        for i in 0..len {
            for kind in 0..EDITS {
                let mut tampered = records.clone();
                edit(&mut tampered[i], kind, &mut rng);
                assert_ne!(tampered[i], records[i], "edit {kind} changed nothing");
                edits.check(
                    &format!("edit {kind} of record {i}"),
                    break_of(&tampered, &head),
                    i,
                );
            }

            let mut deleted = records.clone();
            deleted.remove(i);
            deletions.check(&format!("deletion of {i}"), break_of(&deleted, &head), i);

            for j in (i + 1)..len {
                let mut swapped = records.clone();
                swapped.swap(i, j);
                reorders.check(&format!("swap {i}<->{j}"), break_of(&swapped, &head), i);
            }

            let mut truncated = records.clone();
            truncated.truncate(i);
            let broken = break_of(&truncated, &head);
            assert!(matches!(
                broken.map(|b| b.problem),
                Some(ChainProblem::Truncated { .. })
            ));
            truncations.check(&format!("truncation to {i}"), broken, i);
        }

        for at in 0..=len {
            // A forged record with the right sequence number, MACed without the audit key.
            let seq = at as u64;
            let event = random_event(&mut rng);
            let previous = if at == 0 {
                GENESIS_MAC
            } else {
                records[at - 1].mac
            };
            let mac = chain_mac(&wrong_key, &previous, seq, &event);
            let mut forged = records.clone();
            forged.insert(at, AuditRecord { seq, event, mac });
            insertions.check(
                &format!("forged insertion at {at}"),
                break_of(&forged, &head),
                at,
            );

            // A replayed genuine record, renumbered to fit.
            let mut replayed = records.clone();
            let source = rng.below(len);
            let mut copy = records[source].clone();
            copy.seq = seq;
            replayed.insert(at, copy);
            // A copy of the record that follows is indistinguishable from it: then the
            // second of the two identical records is the one that breaks.
            let expected = if source == at { at + 1 } else { at };
            insertions.check(
                &format!("replay at {at}"),
                break_of(&replayed, &head),
                expected,
            );
        }

        // The whole log re-chained under another key: broken at the first record.
        let mut rechained_head = ChainHead::GENESIS;
        let rechained: Vec<AuditRecord> = records
            .iter()
            .map(|record| {
                let (record, next) = rechained_head
                    .append(&wrong_key, record.event.clone())
                    .unwrap();
                rechained_head = next;
                record
            })
            .collect();
        let broken = break_of(&rechained, &head).unwrap();
        assert_eq!(
            (broken.index, broken.problem),
            (0, ChainProblem::MacMismatch)
        );
    }

    // More untouched logs, of every length from empty up, for the false-alarm count.
    for len in 0..200 {
        let (records, head) = random_log(&mut rng, len % 50);
        untouched += 1;
        if break_of(&records, &head).is_some() {
            false_alarms += 1;
        }
    }

    println!(
        "audit tamper battery: edits {}/{} detected, deletions {}/{} detected, insertions {}/{} detected, \
         reorders {}/{} detected, truncations {}/{} detected, false alarms {false_alarms}/{untouched}",
        edits.detected,
        edits.done,
        deletions.detected,
        deletions.done,
        insertions.detected,
        insertions.done,
        reorders.detected,
        reorders.done,
        truncations.detected,
        truncations.done,
    );
    for (name, tally) in [
        ("edits", &edits),
        ("deletions", &deletions),
        ("insertions", &insertions),
        ("reorders", &reorders),
        ("truncations", &truncations),
    ] {
        assert!(tally.done > 0, "{name}: none tried");
        assert_eq!(
            tally.detected, tally.done,
            "{name}: not all detected at the right record"
        );
    }
    assert_eq!(false_alarms, 0);
}

#[test]
fn head_mismatches_and_unanchored_records_are_reported() {
    let mut rng = Rng::new(7);
    let (records, head) = random_log(&mut rng, 5);
    let key = audit_key();

    // Records appended after the anchored head (outside the vault's transaction).
    let (extra, _) = head.append(&key, random_event(&mut rng)).unwrap();
    let mut longer = records.clone();
    longer.push(extra);
    let broken = break_of(&longer, &head).unwrap();
    assert_eq!(broken.index, 5);
    assert_eq!(
        broken.problem,
        ChainProblem::Unanchored {
            expected_count: 5,
            found_count: 6
        }
    );

    // Another valid log of the same length under the same key: only the head tells.
    let (other, _) = random_log(&mut rng, 5);
    assert_eq!(
        break_of(&other, &head).unwrap().problem,
        ChainProblem::HeadMismatch
    );

    // An empty log against the genesis head is fine; against a non-empty head it is truncated.
    assert_eq!(break_of(&[], &ChainHead::GENESIS), None);
    assert!(matches!(
        break_of(&[], &head).unwrap().problem,
        ChainProblem::Truncated {
            expected_count: 5,
            found_count: 0
        }
    ));

    let err = verify_log(&key, &longer, &head).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert!(err.to_string().contains("record 5"), "{err}");
}

#[test]
fn segments_verify_from_a_checkpoint() {
    let mut rng = Rng::new(11);
    let (records, head) = random_log(&mut rng, 12);
    let key = audit_key();
    let checkpoint = ChainHead {
        count: 4,
        last_mac: records[3].mac,
    };
    verify_segment(&key, &checkpoint, &records[4..], &head).unwrap();
    let mut tampered = records[4..].to_vec();
    tampered[2].event.actor = format!("{}x", tampered[2].event.actor).into();
    match verify_segment(&key, &checkpoint, &tampered, &head) {
        Err(Error::AuditChain { broken }) => {
            assert_eq!((broken.index, broken.expected_seq), (2, 6));
            assert_eq!(broken.problem, ChainProblem::MacMismatch);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn canonical_encoding_is_deterministic_and_injective() {
    let mut rng = Rng::new(3);
    let mut events = HashSet::new();
    let mut encodings = HashSet::new();
    for _ in 0..2000 {
        let event = random_event(&mut rng);
        let bytes = event.canonical_bytes();
        assert_eq!(bytes, event.clone().canonical_bytes());
        // What the store persists as JSON decodes to an event with the same canonical bytes.
        let json = serde_json::to_string(&event).unwrap();
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back.canonical_bytes(), bytes);
        events.insert(event);
        encodings.insert(bytes);
    }
    assert_eq!(
        events.len(),
        encodings.len(),
        "two different events share an encoding"
    );
}

#[test]
fn aad_digests_are_keyed() {
    let other = SecretKey::from_slice(&[1; 32]).unwrap();
    let digest = AadDigest::compute(&audit_key(), b"invoice 17");
    assert_eq!(digest, AadDigest::compute(&audit_key(), b"invoice 17"));
    assert_ne!(digest, AadDigest::compute(&audit_key(), b"invoice 18"));
    assert_ne!(digest, AadDigest::compute(&other, b"invoice 17"));
    // HMAC-SHA256 under the audit key of the label and the AAD, however it is computed.
    let mut labelled = b"keyvault-audit-aad-v1\0".to_vec();
    labelled.extend_from_slice(b"invoice 17");
    let by_hand = keyvault_crypto::mac::hmac_sha256(audit_key().expose_secret(), &labelled);
    assert_eq!(digest.as_bytes(), by_hand.as_bytes());
    let digester = AadDigester::new(&audit_key());
    assert_eq!(digester.digest(b"invoice 17"), digest);
    assert_eq!(
        digester.digest(b"invoice 17"),
        digest,
        "the digester is reusable"
    );
    assert_eq!(format!("{digester:?}"), "AadDigester([REDACTED])");
}

#[test]
fn outcomes_come_from_results() {
    let denied: Result<(), Error> = Err(Error::Denied {
        key: key_id(1),
        operation: keyvault_core::KeyOperation::Decrypt,
        version: None,
        denial: Denial::NotExportable,
    });
    assert_eq!(
        Outcome::of(&denied),
        Outcome::Denied {
            reason: Denial::NotExportable
        }
    );
    assert_eq!(
        Outcome::of(&Err::<(), _>(Error::Authentication)),
        Outcome::Error {
            kind: ErrorKind::Authentication
        }
    );
    assert_eq!(Outcome::of(&Ok::<_, Error>(())), Outcome::Ok);
    assert!(
        AuditOperation::ALL
            .windows(2)
            .all(|pair| pair[0].code() < pair[1].code())
    );
    assert_eq!(
        AuditOperation::from(keyvault_core::KeyOperation::Wrap).as_str(),
        "wrap"
    );
}

/// A lifecycle transition is audited under the operation of its kind, whatever data it carries.
#[test]
fn transitions_map_to_the_audit_operation_of_their_kind() {
    use keyvault_core::{Transition, TransitionKind};
    let transitions = [
        Transition::Activate,
        Transition::Disable,
        Transition::Enable,
        Transition::Deprecate,
        Transition::Revoke,
        Transition::ScheduleDeletion {
            until: Timestamp::from_unix_millis(1_750_000_000_000),
        },
        Transition::CancelDeletion,
        Transition::Destroy,
    ];
    let kinds: Vec<TransitionKind> = transitions.iter().map(Transition::kind).collect();
    assert_eq!(kinds, TransitionKind::ALL);
    for transition in transitions {
        assert_eq!(
            AuditOperation::from(transition),
            AuditOperation::from(transition.kind())
        );
    }
    assert_eq!(
        AuditOperation::from(Transition::ScheduleDeletion {
            until: Timestamp::from_unix_millis(0)
        }),
        AuditOperation::ScheduleDeletion
    );
}

/// A fixed two-record chain: its encodings and MACs must never change.
#[test]
fn golden_chain_v1() {
    let key = SecretKey::from_slice(&(0u8..32).collect::<Vec<_>>()).unwrap();
    let first = AuditEvent::new(
        Timestamp::from_unix_millis(1_750_000_000_123),
        AuditOperation::CreateKey,
        Outcome::Ok,
        "cli:alice",
    )
    .for_key(key_id(0xa0), Some(KeyVersion::FIRST))
    .with_key_name(KeyName::new("orders").unwrap())
    .with_request_id("req-1");
    let second = AuditEvent::new(
        Timestamp::from_unix_millis(1_750_000_060_000),
        AuditOperation::Decrypt,
        Outcome::Denied {
            reason: Denial::BelowMinDecryptionVersion {
                version: KeyVersion::FIRST,
                min: KeyVersion::new(2).unwrap(),
            },
        },
        "cli:bob",
    )
    .for_key(key_id(0xa0), Some(KeyVersion::FIRST))
    .with_aad_digest(AadDigest::compute(&key, b"order 17"))
    .with_detail("client", "billing");
    let (r0, head) = ChainHead::GENESIS.append(&key, first).unwrap();
    let (r1, head) = head.append(&key, second).unwrap();
    let fresh = [
        hex::encode(r0.event.canonical_bytes()),
        hex::encode(r0.mac.as_bytes()),
        hex::encode(r1.event.canonical_bytes()),
        hex::encode(r1.mac.as_bytes()),
    ]
    .join("\n");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/audit_chain_v1.hex"
    );
    if std::env::var_os("KEYVAULT_WRITE_GOLDEN").is_some() && !std::path::Path::new(path).exists() {
        std::fs::write(path, format!("{fresh}\n")).unwrap();
    }
    let golden = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("{path}: {err}; expected content:\n{fresh}"));
    assert_eq!(golden.trim(), fresh, "audit encoding or chain v1 changed");
    verify_log(&key, &[r0, r1], &head).unwrap();
}

#[test]
fn canonical_bytes_decode_back_to_the_same_event() {
    let mut rng = Rng::new(0xDEC0DE);
    let every_denial = [
        Denial::KeyState {
            state: StateKind::Revoked,
        },
        Denial::UnsupportedByAlgorithm {
            algorithm: keyvault_core::KeyAlgorithm::HmacSha256,
        },
        Denial::OperationNotAllowed,
        Denial::NotExportable,
        Denial::NotYetValid {
            not_before: Timestamp::from_unix_millis(5),
        },
        Denial::PolicyExpired {
            not_after: Timestamp::from_unix_millis(6),
        },
        Denial::KeyExpired {
            expires_at: Timestamp::from_unix_millis(7),
        },
        Denial::UsageLimitReached { max_operations: 8 },
        Denial::NoUsableVersion,
        Denial::NotCurrentVersion {
            requested: KeyVersion::new(1).unwrap(),
            current: KeyVersion::new(2).unwrap(),
        },
        Denial::UnknownVersion {
            version: KeyVersion::new(3).unwrap(),
        },
        Denial::VersionUnusable {
            version: KeyVersion::new(4).unwrap(),
            state: VersionState::Disabled,
        },
        Denial::BelowMinDecryptionVersion {
            version: KeyVersion::new(1).unwrap(),
            min: KeyVersion::new(2).unwrap(),
        },
        Denial::EncryptionLimitReached {
            version: KeyVersion::new(9).unwrap(),
            limit: 10,
        },
    ];
    let mut events: Vec<AuditEvent> = (0..2000).map(|_| random_event(&mut rng)).collect();
    events.extend(every_denial.into_iter().map(|reason| {
        AuditEvent::new(
            Timestamp::UNIX_EPOCH,
            AuditOperation::Encrypt,
            Outcome::Denied { reason },
            "a",
        )
    }));
    for event in &events {
        let bytes = event.canonical_bytes();
        assert_eq!(&AuditEvent::from_canonical_bytes(&bytes).unwrap(), event);
        // Anything shorter or longer is refused, never misread.
        assert!(matches!(
            AuditEvent::from_canonical_bytes(&bytes[..bytes.len() - 1]),
            Err(Error::InvalidMetadata { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            AuditEvent::from_canonical_bytes(&longer),
            Err(Error::InvalidMetadata { .. })
        ));
    }
    // Arbitrary bytes never panic.
    for len in 0..300 {
        let junk: Vec<u8> = (0..len).map(|_| rng.bytes(1)[0]).collect();
        let _ = AuditEvent::from_canonical_bytes(&junk);
    }
    assert!(matches!(
        AuditEvent::from_canonical_bytes(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
        Err(Error::InvalidMetadata { .. })
    ));
}

/// One change to a byte string: flip a bit, insert a byte, delete a run, truncate.
#[derive(Clone, Debug)]
enum ByteEdit {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip(at, bit)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, b)| ByteEdit::Insert(at, b)),
        (any::<prop::sample::Index>(), 1usize..16).prop_map(|(at, n)| ByteEdit::Delete(at, n)),
        any::<prop::sample::Index>().prop_map(ByteEdit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    match edit {
        ByteEdit::Flip(at, bit) if !bytes.is_empty() => {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        ByteEdit::Insert(at, byte) => {
            let at = at.index(bytes.len() + 1);
            bytes.insert(at, *byte);
        }
        ByteEdit::Delete(at, n) if !bytes.is_empty() => {
            let at = at.index(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
        ByteEdit::Truncate(at) => {
            let at = at.index(bytes.len() + 1);
            bytes.truncate(at);
        }
        _ => {}
    }
}

/// The canonical bytes of the golden chain's two events.
fn golden_event_bytes() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/audit_chain_v1.hex"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .step_by(2)
        .map(|line| hex::decode(line.trim()).unwrap())
        .collect()
}

/// A record as found in a hostile log: any sequence number, any MAC, or the right ones.
fn hostile_record() -> impl Strategy<Value = (u64, Option<u64>, Option<[u8; 32]>)> {
    (
        any::<u64>(),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<[u8; 32]>()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Decoding arbitrary bytes never panics, and whatever decodes has exactly those bytes as
    /// its canonical encoding.
    #[test]
    fn decoding_arbitrary_event_bytes_never_panics(
        prefix in prop::sample::select(vec![vec![], vec![1u8], vec![1, 0, 0, 1, 0x97, 0x74, 0x20, 0xdc, 0x7b, 0x0a]]),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let input = [prefix, bytes].concat();
        if let Ok(event) = AuditEvent::from_canonical_bytes(&input) {
            prop_assert_eq!(event.canonical_bytes(), input);
        }
    }

    /// Flips, insertions, deletions and truncations of the golden events never panic the
    /// decoder; an edited encoding that still decodes is the canonical encoding of what it
    /// decodes to.
    #[test]
    fn edited_golden_events_never_panic(
        which in 0usize..2,
        edits in prop::collection::vec(byte_edit(), 1..4),
    ) {
        let mut bytes = golden_event_bytes()[which].clone();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        if let Ok(event) = AuditEvent::from_canonical_bytes(&bytes) {
            prop_assert_eq!(event.canonical_bytes(), bytes);
        }
    }

    /// Verifying arbitrary records (any sequence numbers, any MACs, any head, from any
    /// checkpoint) never panics; a break it reports lies within the records given, and a log
    /// whose records are all genuine verifies against its true head.
    #[test]
    fn verifying_arbitrary_records_never_panics(
        seed in any::<u64>(),
        records in prop::collection::vec(hostile_record(), 0..12),
        head_count in prop::option::of(any::<u64>()),
        head_mac in prop::option::of(any::<[u8; 32]>()),
        start in any::<prop::sample::Index>(),
    ) {
        let key = audit_key();
        let mut rng = Rng::new(seed);
        let mut true_head = ChainHead::GENESIS;
        let mut heads = vec![true_head];
        let mut log = Vec::with_capacity(records.len());
        let mut genuine = true;
        for (_, seq, mac) in &records {
            let (mut record, next) = true_head.append(&key, random_event(&mut rng)).unwrap();
            true_head = next;
            heads.push(true_head);
            if let Some(seq) = seq {
                genuine &= *seq == record.seq;
                record.seq = *seq;
            }
            if let Some(mac) = mac {
                genuine &= ChainMac::from_bytes(*mac) == record.mac;
                record.mac = ChainMac::from_bytes(*mac);
            }
            log.push(record);
        }
        let head = ChainHead {
            count: head_count.unwrap_or(true_head.count),
            last_mac: head_mac.map_or(true_head.last_mac, ChainMac::from_bytes),
        };
        let from = start.index(heads.len());
        for (start, slice) in [(ChainHead::GENESIS, &log[..]), (heads[from], &log[from..])] {
            match verify_segment(&key, &start, slice, &head) {
                Ok(()) => {}
                Err(Error::AuditChain { broken }) => {
                    prop_assert!(broken.index <= slice.len());
                    let _ = broken.to_string();
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
        if genuine && head == true_head {
            prop_assert!(verify_log(&key, &log, &head).is_ok());
        }
        // Records whose sequence numbers are arbitrary (first field) with their true MACs.
        let shuffled: Vec<AuditRecord> = log
            .iter()
            .zip(&records)
            .map(|(record, (seq, _, _))| AuditRecord { seq: *seq, ..record.clone() })
            .collect();
        let _ = verify_log(&key, &shuffled, &head);
    }
}

/// One denial of every kind (`Denial` is non-exhaustive, so a new kind must be added here by
/// hand: the decoder test below refuses a code the table lacks).
fn one_denial_of_each_kind() -> Vec<Denial> {
    let v = |n| KeyVersion::new(n).unwrap();
    let at = Timestamp::from_unix_millis(1_700_000_000_123);
    let all = vec![
        Denial::KeyState {
            state: StateKind::PendingDeletion,
        },
        Denial::UnsupportedByAlgorithm {
            algorithm: keyvault_core::KeyAlgorithm::HmacSha256,
        },
        Denial::OperationNotAllowed,
        Denial::NotExportable,
        Denial::NotYetValid { not_before: at },
        Denial::PolicyExpired { not_after: at },
        Denial::KeyExpired { expires_at: at },
        Denial::UsageLimitReached { max_operations: 77 },
        Denial::NoUsableVersion,
        Denial::NotCurrentVersion {
            requested: v(2),
            current: v(3),
        },
        Denial::UnknownVersion { version: v(9) },
        Denial::VersionUnusable {
            version: v(4),
            state: VersionState::Revoked,
        },
        Denial::BelowMinDecryptionVersion {
            version: v(1),
            min: v(2),
        },
        Denial::EncryptionLimitReached {
            version: v(5),
            limit: 4_294_967_295,
        },
    ];
    all
}

/// docs/FORMATS.md's denial table and name lists say exactly what the encoder writes: each
/// denial's bytes after its code are the listed fields, in order, and nothing else.
#[test]
fn formats_md_lists_every_denial_and_name() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/FORMATS.md"
    ))
    .unwrap();
    let section = doc
        .split("### Denials")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("FORMATS.md has a Denials section");
    let rows: Vec<(String, Vec<(String, String)>)> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            let (code, rest) = row.split_once('`').unwrap();
            let fields = rest.trim_start_matches(" |").trim_end_matches(" |").trim();
            let fields = if fields == "none" {
                Vec::new()
            } else {
                fields
                    .split(", ")
                    .map(|field| {
                        let (name, ty) = field.split_once(": ").unwrap();
                        let ty = ty.split(' ').next().unwrap();
                        (name.to_owned(), ty.to_owned())
                    })
                    .collect()
            };
            (code.to_owned(), fields)
        })
        .collect();
    let denials = one_denial_of_each_kind();
    assert_eq!(rows.len(), denials.len(), "one table row per denial kind");
    for denial in denials {
        let (_, fields) = rows
            .iter()
            .find(|(code, _)| code == denial.code())
            .unwrap_or_else(|| panic!("no row for {}", denial.code()));
        let event = AuditEvent::new(
            Timestamp::from_unix_millis(0),
            AuditOperation::Encrypt,
            Outcome::Denied { reason: denial },
            "",
        );
        let bytes = event.canonical_bytes();
        // version, time, operation, three absent options, the outcome tag, then the code.
        let start = 1 + 8 + 1 + 3 + 1 + 8 + denial.code().len();
        // The empty actor, two absent options and an empty detail count end the event.
        let end = bytes.len() - (8 + 1 + 1 + 8);
        let mut rest = &bytes[start..end];
        for (name, ty) in fields {
            let width = match ty.as_str() {
                "u32" => 4,
                "u64" => 8,
                "string" => {
                    8 + usize::try_from(u64::from_be_bytes(rest[..8].try_into().unwrap())).unwrap()
                }
                other => panic!("unknown field type {other} for {name}"),
            };
            rest = &rest[width..];
        }
        assert!(
            rest.is_empty(),
            "{}: the table lists fewer bytes than are written",
            denial.code()
        );
    }
    let names = |prefix: &str| -> Vec<String> {
        let line = section
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}"));
        line.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let expect = |prefix: &str, known: Vec<&str>| {
        assert_eq!(names(prefix), known, "{prefix}");
    };
    expect(
        "- key state names",
        StateKind::ALL.iter().map(|s| s.as_str()).collect(),
    );
    expect(
        "- version state names",
        VersionState::ALL.iter().map(|s| s.as_str()).collect(),
    );
    expect(
        "- algorithm names",
        keyvault_core::KeyAlgorithm::ALL
            .iter()
            .map(|a| a.name())
            .collect(),
    );
    expect(
        "- error kind names",
        ErrorKind::ALL.iter().map(|k| k.as_str()).collect(),
    );
}
