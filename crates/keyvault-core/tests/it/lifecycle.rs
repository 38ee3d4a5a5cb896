//! The lifecycle table, exhaustively: every state × every transition, for keys and versions;
//! the table in docs/LIFECYCLE.md matches the one in code; rotation, trim and decryption rules.

// Tests may read files (golden files, docs), which keyvault-core itself never does.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{NOW_SECS, at, key, now};
use keyvault_core::{
    DEFAULT_DELETION_WINDOW, Denial, Error, ErrorKind, KEY_TRANSITIONS, KeyAlgorithm, KeyMetadata,
    KeyOperation, KeyPolicy, KeyState, KeyVersion, MIN_DELETION_WINDOW, ResumeState,
    RotationReason, RotationTriggers, SHORT_NONCE_MAX_ENCRYPTIONS, StateKind, Target, Timestamp,
    Transition, TransitionKind, TransitionRefusal, UsageCounters, VERSION_TRANSITIONS,
    VersionState, VersionStateChange, VersionTransition, authorize, key_transition_target,
    rotation_due,
};

fn v(number: u32) -> KeyVersion {
    KeyVersion::new(number).unwrap()
}

/// Every concrete state: one per kind, and PendingDeletion once per state it can resume to.
/// The deletion window of the PendingDeletion states has already passed at `now()`.
fn every_state() -> Vec<KeyState> {
    let mut states = vec![
        KeyState::Pending,
        KeyState::Active,
        KeyState::Disabled,
        KeyState::Deprecated,
        KeyState::Revoked,
        KeyState::Destroyed,
    ];
    for resume in [
        ResumeState::Pending,
        ResumeState::Disabled,
        ResumeState::Deprecated,
        ResumeState::Revoked,
    ] {
        states.push(KeyState::PendingDeletion {
            until: now(),
            resume,
        });
    }
    states
}

/// A transition of each kind whose time condition holds at `now()`.
fn transition_of(kind: TransitionKind) -> Transition {
    match kind {
        TransitionKind::Activate => Transition::Activate,
        TransitionKind::Disable => Transition::Disable,
        TransitionKind::Enable => Transition::Enable,
        TransitionKind::Deprecate => Transition::Deprecate,
        TransitionKind::Revoke => Transition::Revoke,
        TransitionKind::ScheduleDeletion => Transition::ScheduleDeletion {
            until: now().saturating_add(DEFAULT_DELETION_WINDOW),
        },
        TransitionKind::CancelDeletion => Transition::CancelDeletion,
        TransitionKind::Destroy => Transition::Destroy,
    }
}

fn key_in(state: KeyState) -> KeyMetadata {
    key_with_algorithm_in(KeyAlgorithm::XChaCha20Poly1305, state)
}

fn key_with_algorithm_in(algorithm: KeyAlgorithm, state: KeyState) -> KeyMetadata {
    let mut meta = key(algorithm);
    meta.rotate(now()).unwrap();
    // Reach `state` by the table itself, so the fixture is always a reachable key.
    let path: &[Transition] = match state {
        KeyState::Pending => {
            return KeyMetadata::new_pending(
                meta.id(),
                meta.name().clone(),
                meta.algorithm(),
                now(),
            );
        }
        KeyState::Active => &[],
        KeyState::Disabled => &[Transition::Disable],
        KeyState::Deprecated => &[Transition::Deprecate],
        KeyState::Revoked => &[Transition::Revoke],
        KeyState::PendingDeletion { resume, .. } => {
            let mut meta = key_with_algorithm_in(algorithm, resume.into());
            meta.transition(
                Transition::ScheduleDeletion { until: now() },
                at(NOW_SECS - MIN_DELETION_WINDOW.as_secs()),
            )
            .unwrap();
            return meta;
        }
        KeyState::Destroyed => {
            let mut meta = key_with_algorithm_in(
                algorithm,
                KeyState::PendingDeletion {
                    until: now(),
                    resume: ResumeState::Revoked,
                },
            );
            meta.transition(Transition::Destroy, now()).unwrap();
            return meta;
        }
    };
    for &transition in path {
        meta.transition(transition, now()).unwrap();
    }
    meta
}

#[test]
fn every_state_times_every_transition_follows_the_table() {
    let (mut allowed, mut refused) = (0, 0);
    for state in every_state() {
        for kind in TransitionKind::ALL {
            let mut meta = key_in(state);
            assert_eq!(meta.state().kind(), state.kind());
            let before = meta.clone();
            let result = meta.transition(transition_of(kind), now());
            match key_transition_target(state.kind(), kind) {
                Some(target) => {
                    let change = result.unwrap_or_else(|err| {
                        panic!("{state:?} --{kind}--> should be allowed: {err}")
                    });
                    let expected = match (target, meta_resume(&before)) {
                        (Target::To(kind), _) => kind,
                        (Target::StateBeforeDeletion, Some(resume)) => {
                            KeyState::from(resume).kind()
                        }
                        (Target::StateBeforeDeletion, None) => panic!("no resume state"),
                    };
                    assert_eq!(change.from, before.state());
                    assert_eq!(change.to.kind(), expected, "{state:?} --{kind}-->");
                    assert_eq!(meta.state(), change.to);
                    allowed += 1;
                }
                None => {
                    assert_eq!(
                        result,
                        Err(Error::InvalidTransition {
                            key: before.id(),
                            from: state.kind(),
                            transition: kind,
                            refusal: TransitionRefusal::NotInTable,
                        }),
                        "{state:?} --{kind}--> should be refused"
                    );
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::Conflict);
                    assert_eq!(meta, before, "a refused transition changes nothing");
                    refused += 1;
                }
            }
        }
    }
    println!("key transitions: {allowed} allowed, {refused} refused");
    // 14 rows, with the two PendingDeletion rows exercised from each of the 4 resume states.
    assert_eq!(allowed, 12 + 2 * 4);
    assert_eq!(
        allowed + refused,
        every_state().len() * TransitionKind::ALL.len()
    );
}

fn meta_resume(meta: &KeyMetadata) -> Option<ResumeState> {
    match meta.state() {
        KeyState::PendingDeletion { resume, .. } => Some(resume),
        _ => None,
    }
}

#[test]
fn the_table_is_exactly_the_documented_one() {
    let expected: BTreeSet<(&str, &str, &str)> = [
        ("pending", "activate", "active"),
        ("pending", "revoke", "revoked"),
        ("pending", "schedule_deletion", "pending_deletion"),
        ("active", "disable", "disabled"),
        ("active", "deprecate", "deprecated"),
        ("active", "revoke", "revoked"),
        ("disabled", "enable", "active"),
        ("disabled", "revoke", "revoked"),
        ("disabled", "schedule_deletion", "pending_deletion"),
        ("deprecated", "revoke", "revoked"),
        ("deprecated", "schedule_deletion", "pending_deletion"),
        ("revoked", "schedule_deletion", "pending_deletion"),
        (
            "pending_deletion",
            "cancel_deletion",
            "(state before deletion)",
        ),
        ("pending_deletion", "destroy", "destroyed"),
    ]
    .into_iter()
    .collect();
    let in_code: BTreeSet<(&str, &str, &str)> = KEY_TRANSITIONS
        .iter()
        .map(|&(from, via, to)| (from.as_str(), via.as_str(), target_name(to)))
        .collect();
    assert_eq!(in_code, expected);
    assert_eq!(KEY_TRANSITIONS.len(), expected.len(), "no duplicate rows");

    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/LIFECYCLE.md"
    ))
    .expect("docs/LIFECYCLE.md exists");
    let in_docs = table_rows(&docs, "## Key transition table");
    let in_docs: BTreeSet<(&str, &str, &str)> = in_docs
        .iter()
        .map(|row| (row[0].as_str(), row[1].as_str(), row[2].as_str()))
        .collect();
    assert_eq!(
        in_docs, in_code,
        "docs/LIFECYCLE.md and KEY_TRANSITIONS differ"
    );

    let versions_in_docs: BTreeSet<(String, String, String)> =
        table_rows(&docs, "## Version transition table")
            .into_iter()
            .map(|row| (row[0].clone(), row[1].clone(), row[2].clone()))
            .collect();
    let versions_in_code: BTreeSet<(String, String, String)> = VERSION_TRANSITIONS
        .iter()
        .map(|(from, via, to)| (from.to_string(), via.to_string(), to.to_string()))
        .collect();
    assert_eq!(
        versions_in_docs, versions_in_code,
        "docs/LIFECYCLE.md and VERSION_TRANSITIONS differ"
    );
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::To(kind) => kind.as_str(),
        Target::StateBeforeDeletion => "(state before deletion)",
    }
}

/// The body rows of the first markdown table after `heading`, cells trimmed and unquoted.
fn table_rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} missing"));
    doc[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn deletion_windows_are_enforced() {
    let mut meta = key_in(KeyState::Disabled);
    let too_soon = now().saturating_add(MIN_DELETION_WINDOW - Duration::from_millis(1));
    let err = meta
        .transition(Transition::ScheduleDeletion { until: too_soon }, now())
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidTransition {
            refusal: TransitionRefusal::DeletionWindowTooShort { .. },
            ..
        }
    ));
    let until = now().saturating_add(MIN_DELETION_WINDOW);
    meta.transition(Transition::ScheduleDeletion { until }, now())
        .unwrap();

    let just_before = Timestamp::from_unix_millis(until.as_unix_millis() - 1);
    let err = meta
        .transition(Transition::Destroy, just_before)
        .unwrap_err();
    assert!(err.is_retryable(), "destroying later will work");
    assert_eq!(
        err,
        Error::InvalidTransition {
            key: meta.id(),
            from: StateKind::PendingDeletion,
            transition: TransitionKind::Destroy,
            refusal: TransitionRefusal::DeletionWindowOpen { until },
        }
    );
    meta.transition(Transition::Destroy, until).unwrap();
    assert_eq!(meta.state(), KeyState::Destroyed);
    assert!(
        meta.versions()
            .iter()
            .all(|info| info.state == VersionState::Destroyed)
    );
}

#[test]
fn cancelling_deletion_returns_to_the_state_it_was_scheduled_from() {
    for from in [
        KeyState::Pending,
        KeyState::Disabled,
        KeyState::Deprecated,
        KeyState::Revoked,
    ] {
        let mut meta = key_in(from);
        let until = now().saturating_add(DEFAULT_DELETION_WINDOW);
        meta.transition(Transition::ScheduleDeletion { until }, now())
            .unwrap();
        meta.transition(Transition::CancelDeletion, now()).unwrap();
        assert_eq!(meta.state(), from, "a revoked key stays revoked");
    }
}

#[test]
fn a_destroyed_key_is_a_tombstone() {
    let mut meta = key_in(KeyState::Destroyed);
    let id = meta.id();
    let destroyed = Err(Error::KeyDestroyed { key: id });
    assert_eq!(
        meta.rotate(now()).map(|_| ()),
        Err(Error::RotationRefused {
            key: id,
            state: StateKind::Destroyed
        })
    );
    assert_eq!(
        meta.update_policy(KeyPolicy::default(), now()).map(|_| ()),
        destroyed
    );
    assert_eq!(meta.set_label("a", "b", now()), destroyed);
    assert_eq!(meta.disallow_export(now()).map(|_| ()), destroyed);
    assert_eq!(meta.trim(v(1), now()).map(|_| ()), destroyed);
    assert_eq!(
        meta.version_transition(v(1), VersionTransition::Destroy, now())
            .map(|_| ()),
        destroyed
    );
    assert_eq!(Error::KeyDestroyed { key: id }.kind(), ErrorKind::Destroyed);
    for op in KeyOperation::ALL {
        assert_eq!(
            authorize(&meta, &UsageCounters::default(), op, Some(v(1)), now()),
            Err(Denial::KeyState {
                state: StateKind::Destroyed
            })
        );
    }
}

#[test]
fn every_version_state_times_every_version_transition_follows_the_table() {
    let (mut allowed, mut refused) = (0, 0);
    for state in VersionState::ALL {
        for transition in VersionTransition::ALL {
            // v1 is the version under test; v2 encrypts, so the current-version guard is not hit.
            let mut meta = key(KeyAlgorithm::Aes256Gcm);
            meta.rotate(now()).unwrap();
            let path: &[VersionTransition] = match state {
                VersionState::Enabled => &[],
                VersionState::Disabled => &[VersionTransition::Disable],
                VersionState::Revoked => &[VersionTransition::Revoke],
                VersionState::Destroyed => &[VersionTransition::Destroy],
            };
            for &step in path {
                meta.version_transition(v(1), step, now()).unwrap();
            }
            assert_eq!(meta.version(v(1)).unwrap().state, state);
            let result = meta.version_transition(v(1), transition, now());
            let row = VERSION_TRANSITIONS
                .iter()
                .find(|&&(from, via, _)| from == state && via == transition);
            match row {
                Some(&(_, _, to)) => {
                    assert_eq!(
                        result,
                        Ok(VersionStateChange {
                            version: v(1),
                            from: state,
                            to
                        })
                    );
                    assert_eq!(meta.version(v(1)).unwrap().state, to);
                    allowed += 1;
                }
                None => {
                    assert_eq!(
                        result,
                        Err(Error::InvalidVersionTransition {
                            key: meta.id(),
                            version: v(1),
                            from: state,
                            transition,
                        })
                    );
                    assert_eq!(meta.version(v(1)).unwrap().state, state);
                    refused += 1;
                }
            }
        }
    }
    println!("version transitions: {allowed} allowed, {refused} refused");
    assert_eq!(allowed, VERSION_TRANSITIONS.len());
    assert_eq!(allowed + refused, 16);
}

#[test]
fn the_encrypting_version_is_never_destroyed() {
    let mut meta = key(KeyAlgorithm::XChaCha20Poly1305);
    meta.rotate(now()).unwrap();
    let err = meta
        .version_transition(v(2), VersionTransition::Destroy, now())
        .unwrap_err();
    assert_eq!(
        err,
        Error::CurrentVersion {
            key: meta.id(),
            version: v(2),
            action: "destroy"
        }
    );
    // Revoked first, it no longer encrypts, and its material can go.
    meta.version_transition(v(2), VersionTransition::Revoke, now())
        .unwrap();
    assert_eq!(meta.encryption_version(), Some(v(1)));
    meta.version_transition(v(2), VersionTransition::Destroy, now())
        .unwrap();
    assert_eq!(
        meta.version_transition(v(9), VersionTransition::Revoke, now()),
        Err(Error::UnknownVersion {
            key: meta.id(),
            version: v(9)
        })
    );
}

#[test]
fn revoking_one_compromised_version_leaves_the_others_working() {
    let mut meta = key(KeyAlgorithm::ChaCha20Poly1305);
    meta.rotate(now()).unwrap();
    meta.rotate(now()).unwrap();
    meta.version_transition(v(2), VersionTransition::Revoke, now())
        .unwrap();
    let counters = UsageCounters::default();
    let decrypt = |meta: &KeyMetadata, version| {
        authorize(
            meta,
            &counters,
            KeyOperation::Decrypt,
            Some(v(version)),
            now(),
        )
    };
    assert_eq!(decrypt(&meta, 1), Ok(v(1)));
    assert_eq!(
        decrypt(&meta, 2),
        Err(Denial::VersionUnusable {
            version: v(2),
            state: VersionState::Revoked
        })
    );
    assert_eq!(decrypt(&meta, 3), Ok(v(3)));
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Encrypt, None, now()),
        Ok(v(3))
    );
    // Revoking the newest falls back to the latest enabled version, as the design says.
    meta.version_transition(v(3), VersionTransition::Revoke, now())
        .unwrap();
    assert_eq!(meta.encryption_version(), Some(v(1)));
    meta.version_transition(v(1), VersionTransition::Disable, now())
        .unwrap();
    assert_eq!(meta.encryption_version(), None);
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Encrypt, None, now()),
        Err(Denial::NoUsableVersion)
    );
    // Rotation recovers.
    assert_eq!(meta.rotate(now()).unwrap(), v(4));
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Encrypt, None, now()),
        Ok(v(4))
    );
    // Disabling is reversible, revoking is not.
    meta.version_transition(v(1), VersionTransition::Enable, now())
        .unwrap();
    assert_eq!(decrypt(&meta, 1), Ok(v(1)));
    assert!(matches!(
        meta.version_transition(v(2), VersionTransition::Enable, now()),
        Err(Error::InvalidVersionTransition { .. })
    ));
}

#[test]
fn rotation_makes_the_new_version_encrypt_and_keeps_old_ones_decrypting() {
    let mut meta = key(KeyAlgorithm::XChaCha20Poly1305);
    assert_eq!(meta.encryption_version(), Some(KeyVersion::FIRST));
    let later = at(NOW_SECS + 60);
    assert_eq!(meta.rotate(later).unwrap(), v(2));
    assert_eq!(meta.latest_version(), v(2));
    assert_eq!(meta.encryption_version(), Some(v(2)));
    assert_eq!(meta.version(v(2)).unwrap().created_at, later);
    assert_eq!(meta.updated_at(), later);
    assert!(meta.can_decrypt(v(1)) && meta.can_decrypt(v(2)));
    let counters = UsageCounters::default();
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Encrypt, Some(v(1)), now()),
        Err(Denial::NotCurrentVersion {
            requested: v(1),
            current: v(2)
        })
    );
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Decrypt, Some(v(3)), now()),
        Err(Denial::UnknownVersion { version: v(3) })
    );
}

#[test]
fn rotation_is_allowed_only_with_live_uncompromised_material() {
    for state in every_state() {
        let mut meta = key_in(state);
        let result = meta.rotate(now());
        let allowed = matches!(
            state,
            KeyState::Pending | KeyState::Active | KeyState::Disabled
        );
        assert_eq!(result.is_ok(), allowed, "{state:?}");
        if !allowed {
            assert_eq!(
                result,
                Err(Error::RotationRefused {
                    key: meta.id(),
                    state: state.kind()
                })
            );
        }
    }
}

#[test]
fn min_decryption_version_sets_the_floor_for_decryption() {
    let mut meta = key(KeyAlgorithm::XChaCha20Poly1305);
    for _ in 0..3 {
        meta.rotate(now()).unwrap();
    }
    assert_eq!(meta.set_min_decryption_version(v(3), now()), Ok(v(1)));
    let counters = UsageCounters::default();
    for (version, expected) in [(1, false), (2, false), (3, true), (4, true)] {
        assert_eq!(meta.can_decrypt(v(version)), expected);
        let result = authorize(
            &meta,
            &counters,
            KeyOperation::Decrypt,
            Some(v(version)),
            now(),
        );
        if expected {
            assert_eq!(result, Ok(v(version)));
        } else {
            assert_eq!(
                result,
                Err(Denial::BelowMinDecryptionVersion {
                    version: v(version),
                    min: v(3)
                })
            );
        }
    }
    // It may come back down: nothing was destroyed.
    assert_eq!(meta.set_min_decryption_version(v(1), now()), Ok(v(3)));
    assert!(meta.can_decrypt(v(1)));
    // It can never pass the last enabled version, nor name a version that does not exist.
    meta.version_transition(v(4), VersionTransition::Revoke, now())
        .unwrap();
    assert_eq!(
        meta.set_min_decryption_version(v(4), now()),
        Err(Error::VersionFloor {
            key: meta.id(),
            floor: v(4),
            highest_enabled: Some(v(3))
        })
    );
    assert_eq!(
        meta.set_min_decryption_version(v(5), now()),
        Err(Error::UnknownVersion {
            key: meta.id(),
            version: v(5)
        })
    );
}

#[test]
fn trim_destroys_below_the_floor_and_never_the_current_version() {
    let mut meta = key(KeyAlgorithm::XChaCha20Poly1305);
    for _ in 0..4 {
        meta.rotate(now()).unwrap();
    }
    meta.version_transition(v(2), VersionTransition::Revoke, now())
        .unwrap();
    assert_eq!(meta.trim(v(3), now()), Ok(vec![v(1), v(2)]));
    assert_eq!(meta.min_decryption_version(), v(3));
    assert_eq!(meta.version(v(1)).unwrap().state, VersionState::Destroyed);
    assert_eq!(meta.version(v(3)).unwrap().state, VersionState::Enabled);
    assert_eq!(meta.trim(v(3), now()), Ok(vec![]), "trim is idempotent");
    assert_eq!(meta.trim(v(5), now()), Ok(vec![v(3), v(4)]));
    assert_eq!(meta.encryption_version(), Some(v(5)));
    assert_eq!(meta.versions().len(), 5, "tombstones keep their numbers");
    assert!(matches!(
        meta.trim(v(6), now()),
        Err(Error::UnknownVersion { .. })
    ));
    meta.version_transition(v(5), VersionTransition::Revoke, now())
        .unwrap();
    assert!(matches!(
        meta.trim(v(5), now()),
        Err(Error::VersionFloor { .. })
    ));
    assert_eq!(meta.rotate(now()), Ok(v(6)), "numbers are never reused");
}

#[test]
fn automatic_rotation_by_age_and_by_use_count() {
    let day = Duration::from_secs(86_400);
    let meta = key(KeyAlgorithm::XChaCha20Poly1305).with_policy(
        KeyPolicy::default().with_rotation(RotationTriggers {
            max_age: Some(30 * day),
            max_uses: Some(1000),
        }),
    );
    let counters = |uses| UsageCounters {
        operations: uses,
        current_version_uses: uses,
    };
    let almost = now().saturating_add(30 * day - Duration::from_millis(1));
    assert_eq!(rotation_due(&meta, &counters(999), almost), None);
    assert_eq!(
        rotation_due(&meta, &counters(999), now().saturating_add(30 * day)),
        Some(RotationReason::Age {
            age: 30 * day,
            max_age: 30 * day
        })
    );
    assert_eq!(
        rotation_due(&meta, &counters(1000), now()),
        Some(RotationReason::UseCount {
            uses: 1000,
            max_uses: 1000
        })
    );
    // Only the current version's age counts: a fresh rotation resets the clock.
    let mut rotated = meta.clone();
    let later = now().saturating_add(40 * day);
    rotated.rotate(later).unwrap();
    assert_eq!(rotation_due(&rotated, &counters(0), later), None);
    // Keys that are not Active never rotate by themselves.
    let mut deprecated = meta.clone();
    deprecated.transition(Transition::Deprecate, now()).unwrap();
    assert_eq!(rotation_due(&deprecated, &counters(5000), later), None);
}

/// AES-256-GCM and ChaCha20-Poly1305 draw 96-bit random nonces: each version stops before 2^32
/// seals. XChaCha20-Poly1305's 192-bit nonces need no cap.
#[test]
fn short_nonce_versions_rotate_or_refuse_before_2_pow_32_encryptions() {
    assert_eq!(SHORT_NONCE_MAX_ENCRYPTIONS, (1u64 << 32) - 1);
    let at_cap = UsageCounters {
        operations: 0,
        current_version_uses: SHORT_NONCE_MAX_ENCRYPTIONS,
    };
    let below = UsageCounters {
        current_version_uses: SHORT_NONCE_MAX_ENCRYPTIONS - 1,
        ..at_cap
    };
    for algorithm in [KeyAlgorithm::Aes256Gcm, KeyAlgorithm::ChaCha20Poly1305] {
        assert_eq!(
            algorithm.max_encryptions_per_version(),
            Some(SHORT_NONCE_MAX_ENCRYPTIONS)
        );
        let meta = key(algorithm);
        assert_eq!(rotation_due(&meta, &below, now()), None);
        assert_eq!(
            rotation_due(&meta, &at_cap, now()),
            Some(RotationReason::EncryptionLimit {
                uses: SHORT_NONCE_MAX_ENCRYPTIONS
            })
        );
        assert_eq!(
            authorize(&meta, &below, KeyOperation::Encrypt, None, now()),
            Ok(v(1))
        );
        for op in [KeyOperation::Encrypt, KeyOperation::Wrap] {
            assert_eq!(
                authorize(&meta, &at_cap, op, None, now()),
                Err(Denial::EncryptionLimitReached {
                    version: v(1),
                    limit: SHORT_NONCE_MAX_ENCRYPTIONS
                })
            );
        }
        // Decryption is not limited.
        assert_eq!(
            authorize(&meta, &at_cap, KeyOperation::Decrypt, None, now()),
            Ok(v(1))
        );
    }
    let xchacha = key(KeyAlgorithm::XChaCha20Poly1305);
    assert_eq!(
        KeyAlgorithm::XChaCha20Poly1305.max_encryptions_per_version(),
        None
    );
    assert_eq!(KeyAlgorithm::HmacSha256.max_encryptions_per_version(), None);
    assert_eq!(rotation_due(&xchacha, &at_cap, now()), None);
    assert_eq!(
        authorize(&xchacha, &at_cap, KeyOperation::Encrypt, None, now()),
        Ok(v(1))
    );
}

#[test]
fn key_states_gate_operations() {
    let counters = UsageCounters::default();
    let policy = KeyPolicy::default().also_allow(KeyOperation::Export);
    for state in every_state() {
        for algorithm in [KeyAlgorithm::Aes256Gcm, KeyAlgorithm::HmacSha256] {
            let meta = key_with_algorithm_in(algorithm, state)
                .with_policy(policy.clone())
                .with_export_allowed();
            for op in KeyOperation::ALL {
                if !algorithm.supports(op) {
                    continue;
                }
                let result = authorize(&meta, &counters, op, None, now());
                let usable = match state {
                    KeyState::Active => true,
                    KeyState::Deprecated => op.allowed_when_deprecated(),
                    _ => false,
                };
                assert_eq!(result.is_ok(), usable, "{state:?} {op:?}");
                if !usable {
                    assert_eq!(
                        result,
                        Err(Denial::KeyState {
                            state: state.kind()
                        })
                    );
                }
            }
        }
    }
}

/// The phrases that name a way forward in a refusal a person reads.
const NEXT_STEPS: [&str; 5] = [
    " first",
    " instead",
    "nothing to do",
    "nothing to cancel",
    "cancel its deletion",
];

/// The words of a refusal that a person reads: no `snake_case` identifier anywhere.
fn assert_words_only(message: &str) {
    assert!(
        !message.contains('_'),
        "the refusal uses an identifier instead of words: {message}"
    );
}

#[test]
fn every_key_refusal_uses_words_and_names_a_way_forward() {
    let mut checked = 0;
    for state in every_state() {
        for kind in TransitionKind::ALL {
            let mut meta = key_in(state);
            let Err(err) = meta.transition(transition_of(kind), now()) else {
                continue;
            };
            let message = err.to_string();
            assert_words_only(&message);
            assert!(
                NEXT_STEPS.iter().any(|step| message.contains(step)),
                "{state:?} --{kind}-->: the refusal names no way forward: {message}"
            );
            assert!(
                !message.contains("lifecycle table"),
                "{state:?} --{kind}-->: {message}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 60, "every refused pair was checked");
    // The time conditions say what to do as well.
    let mut meta = key_in(KeyState::Disabled);
    let err = meta
        .transition(Transition::ScheduleDeletion { until: now() }, now())
        .unwrap_err();
    let message = err.to_string();
    assert_words_only(&message);
    assert!(
        message.contains("choose that time or a later one"),
        "{message}"
    );
}

#[test]
fn scheduling_the_deletion_of_an_active_key_says_what_to_do_first() {
    let mut meta = key_in(KeyState::Active);
    let err = meta
        .transition(transition_of(TransitionKind::ScheduleDeletion), now())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "key {}: cannot schedule the deletion of a key that is active: disable, deprecate or revoke it first",
            meta.id()
        )
    );
    let expectations = [
        (
            KeyState::Active,
            TransitionKind::Destroy,
            "first disable, deprecate or revoke it, then schedule its deletion",
        ),
        (
            KeyState::Disabled,
            TransitionKind::Destroy,
            "schedule its deletion first",
        ),
        (
            KeyState::Disabled,
            TransitionKind::Activate,
            "enable it instead",
        ),
        (
            KeyState::Pending,
            TransitionKind::Deprecate,
            "activate it first",
        ),
        (
            KeyState::Active,
            TransitionKind::Enable,
            "it is already active; nothing to do",
        ),
        (
            KeyState::Revoked,
            TransitionKind::Enable,
            "a key that is revoked can never be enabled; create a new key instead",
        ),
        (
            KeyState::Active,
            TransitionKind::CancelDeletion,
            "no deletion is scheduled",
        ),
        (
            KeyState::Destroyed,
            TransitionKind::Enable,
            "a destroyed key is gone for good",
        ),
    ];
    for (state, kind, expected) in expectations {
        let err = key_in(state)
            .transition(transition_of(kind), now())
            .unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{state:?} --{kind}-->: {err}"
        );
    }
    let pending_deletion = KeyState::PendingDeletion {
        until: now(),
        resume: ResumeState::Disabled,
    };
    let err = key_in(pending_deletion)
        .transition(Transition::Enable, now())
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "a key that is pending deletion: its deletion is scheduled; cancel the deletion first"
        ),
        "{err}"
    );
}

#[test]
fn every_version_refusal_uses_words_and_names_a_way_forward() {
    let key = key_in(KeyState::Active).id();
    let mut checked = 0;
    for from in VersionState::ALL {
        for transition in VersionTransition::ALL {
            if from.apply(transition).is_some() {
                continue;
            }
            let err = Error::InvalidVersionTransition {
                key,
                version: v(1),
                from,
                transition,
            };
            let message = err.to_string();
            assert_words_only(&message);
            assert!(
                NEXT_STEPS.iter().any(|step| message.contains(step)),
                "{message}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 16 - VERSION_TRANSITIONS.len());
}

#[test]
fn export_refusals_say_that_exportable_is_chosen_at_creation() {
    let meta = key_in(KeyState::Active);
    for denial in [Denial::OperationNotAllowed, Denial::NotExportable] {
        let err = denial.for_key(meta.id(), KeyOperation::Export, None);
        let message = err.to_string();
        assert!(
            message.contains("only a key created exportable can be exported"),
            "{message}"
        );
        assert!(message.contains("cannot be switched on later"), "{message}");
    }
    let err = Denial::KeyState {
        state: StateKind::PendingDeletion,
    }
    .for_key(meta.id(), KeyOperation::Encrypt, None);
    assert_words_only(&err.to_string());
    assert!(
        err.to_string().ends_with("cancel its deletion first"),
        "{err}"
    );
}
