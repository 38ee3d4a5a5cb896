//! The merge rule: a key from elsewhere put over the vault's copy (import with Replace) may
//! only add the versions the vault lacks. Every case of (vault state × incoming copy) below
//! asserts the refusal or the resulting metadata, and every refusal is audited. Restore
//! chains and the 96-bit-nonce seal cap are checked at the end.

use crate::common;

use std::sync::Arc;

use common::{DAY, HOUR, START, name};
use keyvault_core::{
    AuditOperation, ErrorKind, KeyAlgorithm, KeyName, KeyOperation, KeyPolicy, KeyState,
    KeyVersion, Transition, VersionState, VersionTransition,
};
use keyvault_store::dangerous::{ImportConflict, KeyBundle, VaultSnapshot};
use keyvault_store::{
    AuditCommit, AuditFilter, ManualClock, MemoryVault, NewKey, ReplaceRefusal, StoreError, Vault,
};

fn v(n: u32) -> KeyVersion {
    KeyVersion::new(n).unwrap()
}

/// A source vault holding exportable key `k` and a target vault that imported it at v1.
struct Pair {
    clock: Arc<ManualClock>,
    source: MemoryVault,
    target: MemoryVault,
    key: KeyName,
}

impl Pair {
    fn new(algorithm: KeyAlgorithm) -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let options = || common::options(&clock, AuditCommit::default());
        let source = Vault::in_memory(b"source", options()).unwrap();
        let target = Vault::in_memory(b"target", options()).unwrap();
        let key = name("k");
        let mut spec = NewKey::new(key.clone(), algorithm);
        spec.exportable = true;
        spec.policy = spec.policy.also_allow(KeyOperation::Export);
        source.create_key(spec).unwrap();
        target
            .dangerous()
            .import_key(self_export(&source, &key), ImportConflict::Refuse)
            .unwrap();
        Pair {
            clock,
            source,
            target,
            key,
        }
    }

    fn tick(&self) {
        self.clock.advance(HOUR);
    }

    fn bundle(&self) -> KeyBundle {
        self.tick();
        self.source.dangerous().export_key(&self.key, None).unwrap()
    }

    fn replace(&self, bundle: KeyBundle) -> keyvault_store::Result<keyvault_core::KeyMetadata> {
        self.target
            .dangerous()
            .import_key(bundle, ImportConflict::Replace)
    }

    fn destroy_key(&self, vault: &MemoryVault) {
        vault.transition(&self.key, Transition::Revoke).unwrap();
        let until = self.clock.now().checked_add(DAY).unwrap();
        vault
            .transition(&self.key, Transition::ScheduleDeletion { until })
            .unwrap();
        self.clock.advance(DAY + HOUR);
        vault.transition(&self.key, Transition::Destroy).unwrap();
    }
}

use keyvault_store::Clock as _;

fn self_export(vault: &MemoryVault, key: &KeyName) -> KeyBundle {
    vault.dangerous().export_key(key, None).unwrap()
}

fn refusal<T: std::fmt::Debug>(result: keyvault_store::Result<T>) -> ReplaceRefusal {
    match result {
        Err(err @ StoreError::ReplaceRefused { reason, .. }) => {
            assert_eq!(err.kind(), ErrorKind::Conflict, "refusals map to exit 4");
            reason
        }
        other => panic!("expected a refused replacement, got {other:?}"),
    }
}

fn failed_imports(vault: &MemoryVault) -> usize {
    vault
        .audit_log(&AuditFilter {
            operation: Some(AuditOperation::Import),
            outcome: Some(keyvault_core::OutcomeKind::Error),
            ..AuditFilter::default()
        })
        .unwrap()
        .len()
}

/// What a case expects.
enum Expect {
    Refused(ReplaceRefusal),
    /// Replaced: the target's latest version afterwards.
    Replaced(u32),
}

/// One case: what happens on each side before the source's copy is put over the target's.
struct Case {
    name: &'static str,
    prepare: fn(&Pair),
    expect: Expect,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "same copy again",
            prepare: |_| {},
            expect: Expect::Replaced(1),
        },
        Case {
            name: "source rotated: versions added",
            prepare: |p| {
                p.source.rotate(&p.key).unwrap();
                p.source.rotate(&p.key).unwrap();
            },
            expect: Expect::Replaced(3),
        },
        Case {
            name: "vault key revoked",
            prepare: |p| {
                p.target.transition(&p.key, Transition::Revoke).unwrap();
                p.source.rotate(&p.key).unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::KeyRetired),
        },
        Case {
            name: "vault key pending deletion",
            prepare: |p| {
                p.target.transition(&p.key, Transition::Revoke).unwrap();
                let until = p.clock.now().checked_add(DAY).unwrap();
                p.target
                    .transition(&p.key, Transition::ScheduleDeletion { until })
                    .unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::KeyRetired),
        },
        Case {
            name: "vault key destroyed",
            prepare: |p| p.destroy_key(&p.target),
            expect: Expect::Refused(ReplaceRefusal::KeyRetired),
        },
        Case {
            name: "vault rotated further: the copy is older",
            prepare: |p| {
                p.target.rotate(&p.key).unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::FewerVersions {
                vault: 2,
                incoming: 1,
            }),
        },
        Case {
            name: "vault changed later: the copy is older",
            prepare: |p| {
                p.clock.advance(DAY);
                p.target.disallow_export(&p.key).unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::OlderCopy),
        },
        Case {
            name: "vault revoked a version the copy has enabled",
            prepare: |p| {
                p.source.rotate(&p.key).unwrap();
                p.target
                    .dangerous()
                    .import_key(self_export(&p.source, &p.key), ImportConflict::Replace)
                    .unwrap();
                p.tick();
                p.target
                    .version_transition(&p.key, v(1), VersionTransition::Revoke)
                    .unwrap();
                p.tick();
                p.source.rotate(&p.key).unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::VersionRetired(1)),
        },
        Case {
            name: "vault destroyed a version the copy carries",
            prepare: |p| {
                p.source.rotate(&p.key).unwrap();
                p.target
                    .dangerous()
                    .import_key(self_export(&p.source, &p.key), ImportConflict::Replace)
                    .unwrap();
                p.tick();
                for step in [VersionTransition::Revoke, VersionTransition::Destroy] {
                    p.target.version_transition(&p.key, v(1), step).unwrap();
                }
                p.tick();
                p.source.rotate(&p.key).unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::VersionRetired(1)),
        },
        Case {
            name: "the copy dropped a version the vault holds",
            prepare: |p| {
                p.source.rotate(&p.key).unwrap();
                p.target
                    .dangerous()
                    .import_key(self_export(&p.source, &p.key), ImportConflict::Replace)
                    .unwrap();
                p.tick();
                for step in [VersionTransition::Revoke, VersionTransition::Destroy] {
                    p.source.version_transition(&p.key, v(1), step).unwrap();
                }
            },
            expect: Expect::Refused(ReplaceRefusal::VersionMissing(1)),
        },
        Case {
            name: "both rotated on their own: version 2 differs",
            prepare: |p| {
                p.target.rotate(&p.key).unwrap();
                p.tick();
                p.source.rotate(&p.key).unwrap();
            },
            expect: Expect::Refused(ReplaceRefusal::MaterialDiffers(2)),
        },
        Case {
            name: "vault made the key non-exportable and stricter: kept",
            prepare: |p| {
                p.target.disallow_export(&p.key).unwrap();
                p.target
                    .set_policy(
                        &p.key,
                        KeyPolicy {
                            max_operations: Some(10),
                            ..KeyPolicy::default()
                        },
                    )
                    .unwrap();
                p.tick();
                p.source.rotate(&p.key).unwrap();
            },
            expect: Expect::Replaced(2),
        },
        Case {
            name: "vault deprecated the key: kept, and no version can be added",
            prepare: |p| {
                p.target.transition(&p.key, Transition::Deprecate).unwrap();
                p.tick();
            },
            expect: Expect::Replaced(1),
        },
    ]
}

#[test]
fn import_replace_follows_the_merge_rule_in_every_case() {
    for algorithm in [KeyAlgorithm::XChaCha20Poly1305, KeyAlgorithm::Aes256Gcm] {
        for case in cases() {
            let p = Pair::new(algorithm);
            (case.prepare)(&p);
            let before = p.target.key_by_key_id(p.source.key(&p.key).unwrap().id());
            let audited_before = failed_imports(&p.target);
            let result = p.replace(p.bundle());
            let after = p.target.key_by_key_id(p.source.key(&p.key).unwrap().id());
            match case.expect {
                Expect::Refused(expected) => {
                    assert_eq!(refusal(result), expected, "{}", case.name);
                    assert_eq!(
                        failed_imports(&p.target),
                        audited_before + 1,
                        "{}: audited",
                        case.name
                    );
                    assert_eq!(
                        format!("{:?}", before.unwrap()),
                        format!("{:?}", after.unwrap()),
                        "{}: unchanged",
                        case.name
                    );
                }
                Expect::Replaced(latest) => {
                    let merged = result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                    let before = before.unwrap();
                    assert_eq!(merged.latest_version().get(), latest, "{}", case.name);
                    // The vault's own metadata stays: state, flag, policy, versions it had.
                    assert_eq!(merged.state(), before.state(), "{}", case.name);
                    assert_eq!(merged.exportable(), before.exportable(), "{}", case.name);
                    assert_eq!(merged.policy(), before.policy(), "{}", case.name);
                    for info in before.versions() {
                        assert_eq!(
                            merged.version(info.version).map(|i| i.state),
                            Some(info.state),
                            "{}",
                            case.name
                        );
                    }
                    p.target.verify_audit().unwrap();
                }
            }
        }
    }
}

/// The reproduction: export at v1, rotate to v3, encrypt with v3, revoke, import the
/// old export with Replace: refused, and the v3 ciphertext still decrypts.
#[test]
fn replacing_a_revoked_key_with_an_old_export_is_refused() {
    let p = Pair::new(KeyAlgorithm::XChaCha20Poly1305);
    let old = p.source.dangerous().export_key(&p.key, None).unwrap();
    p.source.rotate(&p.key).unwrap();
    p.source.rotate(&p.key).unwrap();
    let sealed = p.source.encrypt(&p.key, b"v3 data", b"").unwrap();
    p.source.transition(&p.key, Transition::Revoke).unwrap();
    let audited = failed_imports(&p.source);
    let err = p
        .source
        .dangerous()
        .import_key(old, ImportConflict::Replace);
    assert_eq!(refusal(err), ReplaceRefusal::KeyRetired);
    assert_eq!(failed_imports(&p.source), audited + 1);
    let key = p.source.key(&p.key).unwrap();
    assert_eq!(key.state(), KeyState::Revoked);
    assert_eq!(key.latest_version(), v(3));
    // The v3 ciphertext is still the key's: refused for the key's state, not an unknown
    // version (as it was when the replacement dropped v3).
    assert_eq!(common::denial(p.source.decrypt(&sealed, b"")), "key_state");

    // Not revoked: the old export is refused as older, so no version number is ever reused.
    let q = Pair::new(KeyAlgorithm::XChaCha20Poly1305);
    let old = q.source.dangerous().export_key(&q.key, None).unwrap();
    q.source.rotate(&q.key).unwrap();
    q.source.rotate(&q.key).unwrap();
    let sealed = q.source.encrypt(&q.key, b"v3 data", b"").unwrap();
    assert!(matches!(
        refusal(
            q.source
                .dangerous()
                .import_key(old, ImportConflict::Replace)
        ),
        ReplaceRefusal::FewerVersions { .. }
    ));
    q.source.rotate(&q.key).unwrap();
    assert_eq!(&q.source.decrypt(&sealed, b"").unwrap()[..], b"v3 data");
}

#[test]
fn a_destroyed_key_cannot_come_back() {
    let p = Pair::new(KeyAlgorithm::XChaCha20Poly1305);
    let export = p.source.dangerous().export_key(&p.key, None).unwrap();
    let sealed = p.source.encrypt(&p.key, b"gone", b"").unwrap();
    p.destroy_key(&p.source);
    assert_eq!(
        refusal(
            p.source
                .dangerous()
                .import_key(export, ImportConflict::Replace)
        ),
        ReplaceRefusal::KeyRetired
    );
    assert_eq!(p.source.key(&p.key).unwrap().state(), KeyState::Destroyed);
    assert!(matches!(
        p.source.decrypt(&sealed, b""),
        Err(StoreError::Core(keyvault_core::Error::KeyDestroyed { .. }))
    ));
}

#[test]
fn an_imported_short_nonce_version_never_seals_again() {
    for algorithm in [KeyAlgorithm::Aes256Gcm, KeyAlgorithm::ChaCha20Poly1305] {
        let p = Pair::new(algorithm);
        let before = p.source.encrypt(&p.key, b"old", b"").unwrap();
        // The target imported v1 from the source, which may have sealed with it: its next
        // seal rotates first.
        let sealed = p.target.encrypt(&p.key, b"new", b"").unwrap();
        let key = p.target.key(&p.key).unwrap();
        assert_eq!(key.latest_version(), v(2), "{algorithm:?}");
        assert_eq!(key.version(v(1)).unwrap().state, VersionState::Enabled);
        assert_eq!(&p.target.decrypt(&before, b"").unwrap()[..], b"old");
        assert_eq!(&p.target.decrypt(&sealed, b"").unwrap()[..], b"new");
        // Its own version keeps sealing.
        p.target.encrypt(&p.key, b"more", b"").unwrap();
        assert_eq!(p.target.key(&p.key).unwrap().latest_version(), v(2));

        // Versions added by a replacement are marked the same way.
        let q = Pair::new(algorithm);
        q.source.rotate(&q.key).unwrap();
        q.source.rotate(&q.key).unwrap();
        let from_v3 = q.source.encrypt(&q.key, b"v3", b"").unwrap();
        let merged = q.replace(q.bundle()).unwrap();
        assert_eq!(merged.latest_version(), v(3));
        q.target.encrypt(&q.key, b"after", b"").unwrap();
        assert_eq!(q.target.key(&q.key).unwrap().latest_version(), v(4));
        assert_eq!(&q.target.decrypt(&from_v3, b"").unwrap()[..], b"v3");
    }
    // Keys with 192-bit nonces have no cap: nothing changes.
    let p = Pair::new(KeyAlgorithm::XChaCha20Poly1305);
    p.target.encrypt(&p.key, b"x", b"").unwrap();
    assert_eq!(p.target.key(&p.key).unwrap().latest_version(), v(1));
}

fn aes_vault(clock: &Arc<ManualClock>) -> (MemoryVault, KeyName) {
    let vault = Vault::in_memory(
        common::PASSWORD,
        common::options(clock, AuditCommit::default()),
    )
    .unwrap();
    let key = name("aes");
    vault
        .create_key(NewKey::new(key.clone(), KeyAlgorithm::Aes256Gcm))
        .unwrap();
    (vault, key)
}

#[test]
fn a_restore_chain_whose_version_material_changes_is_refused() {
    let clock = Arc::new(ManualClock::new(START));
    let (vault, key) = aes_vault(&clock);
    let full = vault.dangerous().snapshot(None, true).unwrap();
    vault.rotate(&key).unwrap();
    let incremental = vault
        .dangerous()
        .snapshot(Some(full.as_base()), true)
        .unwrap();
    let mut parts = incremental.into_parts();
    let bundle = parts
        .keys
        .iter_mut()
        .find(|b| b.metadata.name() == &key)
        .unwrap();
    bundle
        .versions
        .insert(v(1), keyvault_crypto::SecretKey::from_array(&[7; 32]));
    let incremental = VaultSnapshot::from_parts(parts);
    let err = keyvault_store::dangerous::restore(
        keyvault_store::MemoryBackend::default(),
        &[full, incremental],
        common::PASSWORD,
        common::options(&clock, AuditCommit::default()),
    );
    assert_eq!(refusal(err), ReplaceRefusal::MaterialDiffers(1));
}

#[test]
fn a_restored_vault_keeps_the_seal_count_of_its_source() {
    let clock = Arc::new(ManualClock::new(START));
    let (vault, key) = aes_vault(&clock);
    for _ in 0..3 {
        vault.encrypt(&key, b"x", b"").unwrap();
    }
    let full = vault.dangerous().snapshot(None, true).unwrap();
    let counted = full.counters().iter().find(|c| c.version == 1).unwrap();
    assert!(counted.version_uses >= 3);
    let counted = *counted;
    let restored = keyvault_store::dangerous::restore(
        keyvault_store::MemoryBackend::default(),
        &[full],
        common::PASSWORD,
        common::options(&clock, AuditCommit::default()),
    )
    .unwrap();
    let again = restored.dangerous().snapshot(None, false).unwrap();
    let carried = again
        .counters()
        .iter()
        .find(|c| c.key_id == counted.key_id)
        .unwrap();
    assert!(carried.version == 1 && carried.version_uses >= counted.version_uses);
    // Same lineage: the restored vault keeps sealing with the same version.
    restored.encrypt(&key, b"y", b"").unwrap();
    assert_eq!(restored.key(&key).unwrap().latest_version(), v(1));
}
