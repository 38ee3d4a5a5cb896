//! The audit chain's tamper battery: over generated logs, every single-record edit, deletion,
//! insertion, reorder and tail truncation is detected at the right record, and untouched logs
//! never raise a false alarm. Plus the canonical encoding's determinism and a golden chain.

// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::HashSet;

use common::{Rng, key_id};
use keyvault_core::audit::{
    AadDigest, AuditEvent, AuditOperation, AuditRecord, ChainBreak, ChainHead, ChainMac,
    ChainProblem, GENESIS_MAC, Outcome, chain_mac, verify_log, verify_segment,
};
use keyvault_core::{
    Denial, Error, ErrorKind, KeyName, KeyVersion, StateKind, Timestamp, VersionState,
};
use keyvault_crypto::SecretKey;

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
        event = event.for_key(key_id(rng.bytes::<1>()[0]), Some(version));
    }
    if rng.below(3) == 0 {
        event = event.with_key_name(KeyName::new(format!("key-{}", rng.below(50))).unwrap());
    }
    if rng.below(2) == 0 {
        event = event.with_aad_digest(AadDigest::compute(&audit_key(), &rng.bytes::<8>()));
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
        6 => event.actor.push('!'),
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
    tampered[2].event.actor.push('x');
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
        Denial::AesGcmLimitReached {
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
        assert!(AuditEvent::from_canonical_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(AuditEvent::from_canonical_bytes(&longer).is_err());
    }
    // Arbitrary bytes never panic.
    for len in 0..300 {
        let junk: Vec<u8> = (0..len).map(|_| rng.bytes::<1>()[0]).collect();
        let _ = AuditEvent::from_canonical_bytes(&junk);
    }
    assert!(AuditEvent::from_canonical_bytes(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]).is_err());
}
