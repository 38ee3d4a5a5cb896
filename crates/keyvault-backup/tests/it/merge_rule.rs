//! The store's merge rule against `merge_into` with `MergePolicy::Replace`: the same vault ×
//! backup cases as keyvault-store's `tests/it/merge_rule.rs` for `import_key`, each asserting the
//! skip reason or the resulting metadata, every refusal audited.

use crate::common;

use std::time::Duration;

use common::{backup_config, clocked, exportable, name};
use keyvault_backup::{MergePolicy, SkipReason, create_backup, merge_into};
use keyvault_core::{
    AuditOperation, KeyAlgorithm, KeyState, KeyVersion, Transition, VersionTransition,
};
use keyvault_store::{AuditFilter, MemoryVault, ReplaceRefusal};

const PW: &[u8] = b"backup password";

fn v(n: u32) -> KeyVersion {
    KeyVersion::new(n).unwrap()
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

enum Expect {
    Skipped(SkipReason),
    Replaced(u32),
}

#[test]
fn merge_replace_follows_the_merge_rule_in_every_case() {
    type Prepare = fn(&MemoryVault, &MemoryVault);
    let cases: Vec<(&str, Prepare, Expect)> = vec![
        ("same copy", |_, _| {}, Expect::Replaced(1)),
        (
            "source rotated",
            |s, _| {
                s.rotate(&name("k")).unwrap();
            },
            Expect::Replaced(2),
        ),
        (
            "vault key revoked",
            |s, t| {
                t.transition(&name("k"), Transition::Revoke).unwrap();
                s.rotate(&name("k")).unwrap();
            },
            Expect::Skipped(SkipReason::Refused(ReplaceRefusal::KeyRetired)),
        ),
        (
            "vault rotated further",
            |_, t| {
                t.rotate(&name("k")).unwrap();
            },
            Expect::Skipped(SkipReason::NewerInVault),
        ),
        (
            "vault revoked a version",
            |s, t| {
                t.rotate(&name("k")).unwrap();
                t.version_transition(&name("k"), v(1), VersionTransition::Revoke)
                    .unwrap();
                s.rotate(&name("k")).unwrap();
                s.rotate(&name("k")).unwrap();
            },
            Expect::Skipped(SkipReason::Refused(ReplaceRefusal::VersionRetired(1))),
        ),
        (
            "both rotated on their own",
            |s, t| {
                t.rotate(&name("k")).unwrap();
                s.rotate(&name("k")).unwrap();
            },
            Expect::Skipped(SkipReason::Refused(ReplaceRefusal::MaterialDiffers(2))),
        ),
        (
            "vault made the key non-exportable",
            |s, t| {
                t.disallow_export(&name("k")).unwrap();
                s.rotate(&name("k")).unwrap();
            },
            Expect::Replaced(2),
        ),
    ];
    for (case, prepare, expect) in cases {
        let (options, clock) = clocked();
        let source = MemoryVault::in_memory(b"source", options.clone()).unwrap();
        let target = MemoryVault::in_memory(b"target", options).unwrap();
        source
            .create_key(exportable("k", KeyAlgorithm::XChaCha20Poly1305))
            .unwrap();
        let first = create_backup(&source, &backup_config(PW)).unwrap();
        merge_into(&target, &[first], PW, MergePolicy::Refuse).unwrap();
        clock.advance(Duration::from_secs(60));
        // The target acts first, then the source, each a minute apart.
        prepare(&source, &target);
        clock.advance(Duration::from_secs(60));
        let before = target.key(&name("k")).unwrap();
        let audited = failed_imports(&target);
        let backup = create_backup(&source, &backup_config(PW)).unwrap();
        let report = merge_into(&target, &[backup], PW, MergePolicy::Replace).unwrap();
        let after = target.key(&name("k")).unwrap();
        match expect {
            Expect::Skipped(reason) => {
                assert_eq!(report.skipped, vec![(name("k"), reason)], "{case}");
                assert_eq!(failed_imports(&target), audited + 1, "{case}: audited");
                assert_eq!(before, after, "{case}: unchanged");
            }
            Expect::Replaced(latest) => {
                assert_eq!(report.replaced, vec![name("k")], "{case}");
                assert_eq!(after.latest_version().get(), latest, "{case}");
                assert_eq!(after.state(), KeyState::Active, "{case}");
                assert_eq!(after.exportable(), before.exportable(), "{case}");
                assert_eq!(after.policy(), before.policy(), "{case}");
            }
        }
        target.verify_audit().unwrap();
    }
}
