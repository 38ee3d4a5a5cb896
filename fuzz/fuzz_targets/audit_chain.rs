//! Audit events and chains from arbitrary bytes (layout in `keyvault_fuzz::audit_input`).
//!
//! Each frame's bytes go to `AuditEvent::from_canonical_bytes`; what decodes must encode back to
//! exactly those bytes and survive a JSON round trip of its record (the form backups carry).
//! The decoded events are chained, then records are changed, dropped or repeated as the input
//! says, and `verify_log` / `verify_segment` must agree with a plain comparison against the true
//! chain: no change and the true head verifies; otherwise the first changed position is the one
//! reported. Never a panic.
#![no_main]

use keyvault_core::{Error, AuditEvent, AuditRecord, ChainHead};
use keyvault_core::audit::{ChainMac, verify_log, verify_segment};
use keyvault_crypto::SecretKey;
use keyvault_fuzz::audit_input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::from_array(&[0x5a; 32]);
    let (control, start, frames) = audit_input::parse(data);

    // The true chain of every event that decodes, and the records as the input changes them.
    let mut head = ChainHead::GENESIS;
    let mut heads = vec![head];
    let mut chain: Vec<AuditRecord> = Vec::new();
    let mut tested: Vec<AuditRecord> = Vec::new();
    for frame in &frames {
        let Ok(event) = AuditEvent::from_canonical_bytes(frame.event) else {
            continue;
        };
        assert_eq!(
            event.canonical_bytes(),
            frame.event,
            "one encoding per event"
        );
        let (record, next) = head.append(&key, event).expect("append");
        let json = serde_json::to_vec(&record).expect("a record serializes");
        let back: AuditRecord = serde_json::from_slice(&json).expect("and deserializes");
        assert_eq!(back, record, "JSON round trip");
        head = next;
        heads.push(head);
        let mut changed = record.clone();
        changed.seq ^= frame.seq_xor;
        if let Some(mac) = frame.mac {
            changed.mac = ChainMac::from_bytes(mac);
        }
        chain.push(record);
        if frame.flags & 4 == 0 {
            tested.push(changed.clone());
        }
        if frame.flags & 8 != 0 {
            tested.push(changed);
        }
    }

    // Where the tested records first differ from the true chain, if they do.
    let first_difference = tested
        .iter()
        .zip(&chain)
        .position(|(a, b)| a != b)
        .or_else(|| (tested.len() != chain.len()).then(|| tested.len().min(chain.len())));

    let anchored = match control & 3 {
        0 => head,
        1 => ChainHead {
            count: head.count.wrapping_add(1),
            ..head
        },
        2 => ChainHead {
            count: head.count.saturating_sub(1),
            ..head
        },
        _ => ChainHead {
            last_mac: ChainMac::from_bytes([control; 32]),
            ..head
        },
    };
    let verdict = verify_log(&key, &tested, &anchored);
    if let Err(err) = &verdict {
        let _ = err.to_string();
    }
    if anchored == head {
        match (first_difference, &verdict) {
            (None, Ok(())) => {}
            (None, Err(err)) => panic!("the true chain failed: {err}"),
            (Some(index), Err(Error::AuditChain { broken })) => {
                assert_eq!(
                    broken.index, index,
                    "first break reported at the first change"
                );
            }
            (Some(index), other) => panic!("a change at {index} gave {other:?}"),
        }
    } else if first_difference.is_none() {
        assert!(verdict.is_err(), "a wrong head verified");
    }

    // A segment from a checkpoint taken on the true chain.
    let from = usize::from(start) % heads.len();
    let segment = tested.get(from..).unwrap_or_default();
    let verdict = verify_segment(&key, &heads[from], segment, &anchored);
    if anchored == head && first_difference.is_none_or(|index| index >= from) {
        match (first_difference, &verdict) {
            (None, Ok(())) => {}
            (Some(index), Err(Error::AuditChain { broken })) => {
                assert_eq!(broken.index, index - from, "segment break position");
            }
            (_, other) => panic!("segment from {from}: {other:?} for {first_difference:?}"),
        }
    }
});
