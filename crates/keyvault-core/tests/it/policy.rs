//! `authorize` against an independent statement of every rule: an operation is allowed iff every
//! rule allows it, and a denial names the first rule (in the documented order) that refused.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{key, now};
use keyvault_core::{
    Denial, KeyAlgorithm, KeyMetadata, KeyOperation, KeyPolicy, KeyState, KeyVersion, PolicyChange,
    RotationTriggers, SHORT_NONCE_MAX_ENCRYPTIONS, StateKind, Timestamp, Transition, UsageCounters,
    VersionState, VersionTransition, authorize,
};
use proptest::prelude::*;

fn v(number: u32) -> KeyVersion {
    KeyVersion::new(number).unwrap()
}

fn ms(offset: i64) -> Timestamp {
    Timestamp::from_unix_millis(now().as_unix_millis().checked_add_signed(offset).unwrap())
}

/// Everything one authorization depends on.
#[derive(Clone, Debug)]
struct Case {
    algorithm: KeyAlgorithm,
    state: KeyState,
    older_versions: Vec<VersionState>,
    min_decryption: u32,
    max_operations: Option<u64>,
    not_before: Option<i64>,
    not_after: Option<i64>,
    expires_at: Option<i64>,
    allowed: BTreeSet<KeyOperation>,
    exportable: bool,
    operations: u64,
    current_version_uses: u64,
    operation: KeyOperation,
    requested: Option<u32>,
    now: i64,
}

fn case() -> impl Strategy<Value = Case> {
    let state = prop::sample::select(vec![
        KeyState::Pending,
        KeyState::Active,
        KeyState::Active,
        KeyState::Active,
        KeyState::Disabled,
        KeyState::Deprecated,
        KeyState::Revoked,
    ]);
    let version_state = prop::sample::select(vec![
        VersionState::Enabled,
        VersionState::Enabled,
        VersionState::Disabled,
        VersionState::Revoked,
        VersionState::Destroyed,
    ]);
    let offset = || prop::option::weighted(0.3, -3i64..=3);
    let uses = prop::sample::select(vec![
        0,
        1,
        SHORT_NONCE_MAX_ENCRYPTIONS - 1,
        SHORT_NONCE_MAX_ENCRYPTIONS,
    ]);
    (
        (
            prop::sample::select(KeyAlgorithm::ALL.to_vec()),
            state,
            prop::collection::vec(version_state, 0..4),
            1u32..=4,
            prop::option::weighted(0.3, 0u64..4),
            offset(),
            offset(),
            offset(),
        ),
        (
            // Mostly everything allowed, so that the later rules are reached often.
            prop_oneof![
                3 => Just(KeyOperation::ALL.into_iter().collect::<BTreeSet<_>>()),
                1 => prop::collection::btree_set(prop::sample::select(KeyOperation::ALL.to_vec()), 0..=8),
            ],
            any::<bool>(),
            0u64..5,
            uses,
            prop::sample::select(KeyOperation::ALL.to_vec()),
            prop::option::of(1u32..=5),
            -4i64..=4,
        ),
    )
        .prop_map(
            |(
                (algorithm, state, older_versions, min_decryption, max_operations, nb, na, exp),
                (allowed, exportable, operations, current_version_uses, operation, requested, now),
            )| Case {
                algorithm,
                state,
                older_versions,
                min_decryption,
                max_operations,
                not_before: nb,
                not_after: na,
                expires_at: exp,
                allowed,
                exportable,
                operations,
                current_version_uses,
                operation,
                requested,
                now,
            },
        )
}

/// The key the case describes, built through the public API. The newest version is always
/// enabled; older ones get the generated states.
fn build(case: &Case) -> KeyMetadata {
    let policy = KeyPolicy::default()
        .allow_only(case.allowed.iter().copied())
        .with_window(case.not_before.map(ms), case.not_after.map(ms));
    let policy = match case.max_operations {
        Some(max) => policy.with_max_operations(max),
        None => policy,
    };
    let mut meta = key(case.algorithm).with_policy(policy);
    if case.exportable {
        meta = meta.with_export_allowed();
    }
    if let Some(expiry) = case.expires_at {
        meta = meta.with_expiry(ms(expiry));
    }
    for _ in &case.older_versions {
        meta.rotate(now()).unwrap();
    }
    for (number, &state) in (1u32..).zip(&case.older_versions) {
        let steps: &[VersionTransition] = match state {
            VersionState::Enabled => &[],
            VersionState::Disabled => &[VersionTransition::Disable],
            VersionState::Revoked => &[VersionTransition::Revoke],
            VersionState::Destroyed => &[VersionTransition::Destroy],
        };
        for &step in steps {
            meta.version_transition(v(number), step, now()).unwrap();
        }
    }
    // A floor above the newest enabled version is refused; the key then keeps floor 1.
    let _ = meta.set_min_decryption_version(v(case.min_decryption), now());
    match case.state {
        KeyState::Active => {}
        KeyState::Pending => {
            // A pending key is refused before versions matter; keep its policy and flags.
            let mut pending =
                KeyMetadata::new_pending(meta.id(), meta.name().clone(), case.algorithm, now())
                    .with_policy(meta.policy().clone());
            if case.exportable {
                pending = pending.with_export_allowed();
            }
            return pending;
        }
        KeyState::Disabled => drop(meta.transition(Transition::Disable, now()).unwrap()),
        KeyState::Deprecated => drop(meta.transition(Transition::Deprecate, now()).unwrap()),
        KeyState::Revoked => drop(meta.transition(Transition::Revoke, now()).unwrap()),
        other => panic!("not generated: {other:?}"),
    }
    meta
}

/// The rules of `authorize`, restated from the documentation, in order. Returns the verdict
/// the documentation promises for `meta` as built.
fn expected(meta: &KeyMetadata, case: &Case) -> Result<KeyVersion, Denial> {
    use KeyOperation::*;
    let op = case.operation;
    let now = ms(case.now);
    let state_ok = match meta.state() {
        KeyState::Active => true,
        KeyState::Deprecated => matches!(op, Decrypt | Verify | Unwrap | Export),
        _ => false,
    };
    if !state_ok {
        return Err(Denial::KeyState {
            state: meta.state().kind(),
        });
    }
    let supported = match case.algorithm {
        KeyAlgorithm::HmacSha256 => matches!(op, Sign | Verify | Derive | Export),
        _ => matches!(op, Encrypt | Decrypt | Wrap | Unwrap | Export),
    };
    if !supported {
        return Err(Denial::UnsupportedByAlgorithm {
            algorithm: case.algorithm,
        });
    }
    if !case.allowed.contains(&op) {
        return Err(Denial::OperationNotAllowed);
    }
    if op == Export && !case.exportable {
        return Err(Denial::NotExportable);
    }
    if let Some(nb) = case.not_before.map(ms).filter(|&nb| now < nb) {
        return Err(Denial::NotYetValid { not_before: nb });
    }
    if let Some(na) = case.not_after.map(ms).filter(|&na| now >= na) {
        return Err(Denial::PolicyExpired { not_after: na });
    }
    if let Some(exp) = case.expires_at.map(ms).filter(|&exp| now >= exp) {
        return Err(Denial::KeyExpired { expires_at: exp });
    }
    if let Some(max) = case.max_operations.filter(|&max| case.operations >= max) {
        return Err(Denial::UsageLimitReached {
            max_operations: max,
        });
    }
    let min = meta.min_decryption_version();
    let usable = |number: KeyVersion| {
        meta.versions()
            .iter()
            .any(|info| info.version == number && info.state == VersionState::Enabled)
            && number >= min
    };
    let current = meta
        .versions()
        .iter()
        .rev()
        .map(|info| info.version)
        .find(|&n| usable(n));
    let requested = case.requested.map(v);
    let version = if matches!(op, Encrypt | Wrap | Sign | Derive) {
        let current = current.ok_or(Denial::NoUsableVersion)?;
        match requested {
            Some(r) if r != current => {
                return Err(Denial::NotCurrentVersion {
                    requested: r,
                    current,
                });
            }
            _ => current,
        }
    } else {
        let version = requested.or(current).ok_or(Denial::NoUsableVersion)?;
        let Some(info) = meta.versions().iter().find(|info| info.version == version) else {
            return Err(Denial::UnknownVersion { version });
        };
        if info.state != VersionState::Enabled {
            return Err(Denial::VersionUnusable {
                version,
                state: info.state,
            });
        }
        if version < min {
            return Err(Denial::BelowMinDecryptionVersion { version, min });
        }
        version
    };
    if matches!(
        case.algorithm,
        KeyAlgorithm::Aes256Gcm | KeyAlgorithm::ChaCha20Poly1305
    ) && matches!(op, Encrypt | Wrap)
        && case.current_version_uses >= SHORT_NONCE_MAX_ENCRYPTIONS
    {
        return Err(Denial::EncryptionLimitReached {
            version,
            limit: SHORT_NONCE_MAX_ENCRYPTIONS,
        });
    }
    Ok(version)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Allowed iff every rule allows; otherwise the first failing rule is the reason.
    #[test]
    fn authorize_matches_the_documented_rules(case in case()) {
        let meta = build(&case);
        let counters = UsageCounters {
            operations: case.operations,
            current_version_uses: case.current_version_uses,
        };
        let got = authorize(&meta, &counters, case.operation, case.requested.map(v), ms(case.now));
        prop_assert_eq!(got, expected(&meta, &case));
    }

    /// Counting every allowed operation, the counter reaches `max_operations` and never passes it.
    #[test]
    fn counters_never_pass_the_maximum(
        max in 0u64..40,
        ops in prop::collection::vec(prop::sample::select(vec![
            KeyOperation::Encrypt, KeyOperation::Decrypt, KeyOperation::Wrap, KeyOperation::Unwrap,
        ]), 0..60),
    ) {
        let meta = key(KeyAlgorithm::Aes256Gcm)
            .with_policy(KeyPolicy::default().with_max_operations(max));
        let mut counters = UsageCounters::default();
        for &op in &ops {
            match authorize(&meta, &counters, op, None, now()) {
                Ok(_) => {
                    counters.operations += 1;
                    if op.protects_new_data() {
                        counters.current_version_uses += 1;
                    }
                }
                Err(denial) => {
                    prop_assert_eq!(denial, Denial::UsageLimitReached { max_operations: max });
                    prop_assert_eq!(counters.operations, max);
                }
            }
            prop_assert!(counters.operations <= max);
        }
        prop_assert_eq!(counters.operations, max.min(ops.len() as u64));
    }

    /// `not_before` is inclusive and `not_after` exclusive: usable exactly on [not_before, not_after).
    #[test]
    fn time_window_is_half_open(start in 0u64..1_000, len in 0u64..1_000, probe in 0u64..2_200) {
        let base = now().as_unix_millis();
        let (not_before, not_after) = (base + start, base + start + len);
        let meta = key(KeyAlgorithm::HmacSha256).with_policy(KeyPolicy::default().with_window(
            Some(Timestamp::from_unix_millis(not_before)),
            Some(Timestamp::from_unix_millis(not_after)),
        ));
        let at = base + probe;
        let result = authorize(
            &meta,
            &UsageCounters::default(),
            KeyOperation::Sign,
            None,
            Timestamp::from_unix_millis(at),
        );
        prop_assert_eq!(result.is_ok(), not_before <= at && at < not_after);
    }
}

#[test]
fn boundaries_at_the_exact_instants() {
    let (nb, na) = (ms(0), ms(10));
    let meta = key(KeyAlgorithm::XChaCha20Poly1305)
        .with_policy(KeyPolicy::default().with_window(Some(nb), Some(na)))
        .with_expiry(ms(20));
    let decide = |at| {
        authorize(
            &meta,
            &UsageCounters::default(),
            KeyOperation::Decrypt,
            None,
            at,
        )
    };
    assert_eq!(decide(ms(-1)), Err(Denial::NotYetValid { not_before: nb }));
    assert_eq!(
        decide(ms(0)),
        Ok(KeyVersion::FIRST),
        "not_before is inclusive"
    );
    assert_eq!(decide(ms(9)), Ok(KeyVersion::FIRST));
    assert_eq!(
        decide(ms(10)),
        Err(Denial::PolicyExpired { not_after: na }),
        "not_after is exclusive"
    );
    let unbounded = key(KeyAlgorithm::XChaCha20Poly1305).with_expiry(ms(20));
    let decide = |at| {
        authorize(
            &unbounded,
            &UsageCounters::default(),
            KeyOperation::Decrypt,
            None,
            at,
        )
    };
    assert_eq!(decide(ms(19)), Ok(KeyVersion::FIRST));
    assert_eq!(
        decide(ms(20)),
        Err(Denial::KeyExpired { expires_at: ms(20) }),
        "expiry is exclusive"
    );
}

#[test]
fn export_needs_both_the_policy_and_the_flag() {
    let counters = UsageCounters::default();
    let export = |meta: &KeyMetadata| authorize(meta, &counters, KeyOperation::Export, None, now());
    let plain = key(KeyAlgorithm::XChaCha20Poly1305);
    assert_eq!(
        export(&plain),
        Err(Denial::OperationNotAllowed),
        "the default policy never exports"
    );
    let granted = plain
        .clone()
        .with_policy(KeyPolicy::default().also_allow(KeyOperation::Export));
    assert_eq!(export(&granted), Err(Denial::NotExportable));
    let mut exportable = granted.with_export_allowed();
    assert_eq!(export(&exportable), Ok(KeyVersion::FIRST));
    exportable.disallow_export(now()).unwrap();
    assert_eq!(
        export(&exportable),
        Err(Denial::NotExportable),
        "one way only"
    );
}

#[test]
fn deprecated_keys_only_process_existing_data() {
    let mut meta = key(KeyAlgorithm::XChaCha20Poly1305);
    meta.transition(Transition::Deprecate, now()).unwrap();
    let counters = UsageCounters::default();
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Encrypt, None, now()),
        Err(Denial::KeyState {
            state: StateKind::Deprecated
        })
    );
    assert_eq!(
        authorize(&meta, &counters, KeyOperation::Decrypt, None, now()),
        Ok(KeyVersion::FIRST)
    );
}

#[test]
fn policy_changes_name_what_changed() {
    let old = KeyPolicy::default();
    let new = KeyPolicy::default()
        .allow_only([KeyOperation::Decrypt])
        .with_rotation(RotationTriggers {
            max_age: Some(Duration::from_secs(60)),
            max_uses: None,
        });
    let change = PolicyChange {
        old: old.clone(),
        new,
    };
    assert_eq!(change.changed_fields(), ["allowed_operations", "rotation"]);
    assert!(!change.is_noop());
    assert!(
        PolicyChange {
            old: old.clone(),
            new: old
        }
        .is_noop()
    );
}

#[test]
fn policies_serialize_and_fill_in_missing_fields() {
    let policy = KeyPolicy::default()
        .with_max_operations(7)
        .with_window(Some(ms(1)), None)
        .with_rotation(RotationTriggers {
            max_age: None,
            max_uses: Some(9),
        });
    let json = serde_json::to_string(&policy).unwrap();
    assert_eq!(serde_json::from_str::<KeyPolicy>(&json).unwrap(), policy);
    let sparse: KeyPolicy = serde_json::from_str(r#"{"max_operations": 3}"#).unwrap();
    assert_eq!(sparse, KeyPolicy::default().with_max_operations(3));
    let seed_style: KeyPolicy =
        serde_json::from_str(r#"{"allowed_operations": ["encrypt", "decrypt"]}"#).unwrap();
    assert!(seed_style.allows(KeyOperation::Encrypt) && !seed_style.allows(KeyOperation::Sign));
}
