//! Keyslots beside the password: a recovery key, M-of-N shares and external keys, each opening
//! the vault alone; every refusal typed; slot changes audited and scrubbed from the file.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{PASSWORD, START, options};
use keyvault_core::{AuditOperation, ErrorKind, KeyAlgorithm, KeyName, OutcomeKind};
use keyvault_crypto::{AeadKey, Algorithm, SecretKey};
use keyvault_store::{
    AuditCommit, AuditFilter, ExternalWrapper, FileBackend, FileVault, ManualClock, NewKey,
    RecoveryKey, Scrub, Share, SlotDescription, StoreError, Unlock, Vault,
};

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let fixture = Fixture {
            _dir: dir,
            path,
            clock: Arc::new(ManualClock::new(START)),
        };
        let vault = FileVault::create(&fixture.path, PASSWORD, fixture.options()).unwrap();
        vault
            .create_key(NewKey::new(
                KeyName::new("payments").unwrap(),
                KeyAlgorithm::XChaCha20Poly1305,
            ))
            .unwrap();
        fixture
    }

    fn options(&self) -> keyvault_store::VaultOptions {
        options(&self.clock, AuditCommit::Synchronous)
    }

    fn open(&self) -> FileVault {
        FileVault::open_file(&self.path, PASSWORD, self.options()).unwrap()
    }

    fn open_with(&self, how: &Unlock<'_>) -> keyvault_store::Result<FileVault> {
        FileVault::open_file_with(&self.path, how, self.options())
    }

    /// The vault file and SQLite's side files, as they are on disk now.
    fn file_bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(&self.path).unwrap();
        for suffix in ["-wal", "-journal"] {
            let mut side = self.path.clone().into_os_string();
            side.push(suffix);
            bytes.extend(std::fs::read(side).unwrap_or_default());
        }
        bytes
    }
}

fn payments() -> KeyName {
    KeyName::new("payments").unwrap()
}

/// The vault opened works: it decrypts what the password-opened vault sealed.
fn assert_usable(vault: &FileVault, sealed: &[u8]) {
    assert_eq!(vault.decrypt(sealed, b"").unwrap().as_slice(), b"ledger");
}

fn kind<T>(result: keyvault_store::Result<T>) -> ErrorKind {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(err) => err.kind(),
    }
}

#[test]
fn a_recovery_key_opens_the_vault_and_survives_a_lost_password() {
    let fixture = Fixture::new();
    let vault = fixture.open();
    let sealed = vault.encrypt(&payments(), b"ledger", b"").unwrap();
    let (slot, key) = vault.add_recovery_slot().unwrap();
    let text = key.to_text();
    drop(vault);

    let typed = RecoveryKey::from_text(&text.to_lowercase()).unwrap();
    let recovered = fixture.open_with(&Unlock::Recovery(&typed)).unwrap();
    assert_usable(&recovered, &sealed);
    // Lost password: set a new one through the recovered vault; the recovery slot stays.
    assert_eq!(
        recovered
            .change_password(b"a brand new passphrase")
            .unwrap(),
        Scrub::Complete
    );
    let slots = recovered.slots().unwrap();
    assert_eq!(slots.len(), 2);
    assert!(
        slots
            .iter()
            .any(|s| s.id == slot && s.slot == SlotDescription::Recovery)
    );
    drop(recovered);
    assert!(matches!(
        FileVault::open_file(&fixture.path, PASSWORD, fixture.options()),
        Err(StoreError::WrongPassword)
    ));
    FileVault::open_file(&fixture.path, b"a brand new passphrase", fixture.options()).unwrap();
    fixture.open_with(&Unlock::Recovery(&typed)).unwrap();
}

#[test]
fn wrong_foreign_and_missing_recovery_keys_are_refused() {
    let fixture = Fixture::new();
    let other = Fixture::new();
    // No recovery slot yet.
    let (_, other_key) = other.open().add_recovery_slot().unwrap();
    assert!(matches!(
        fixture.open_with(&Unlock::Recovery(&other_key)),
        Err(StoreError::NoSlot {
            what: "recovery key"
        })
    ));
    fixture.open().add_recovery_slot().unwrap();
    // Another vault's key: refused as a wrong secret (exit 3 in the CLI).
    let refused = fixture.open_with(&Unlock::Recovery(&other_key));
    assert!(matches!(
        refused,
        Err(StoreError::SlotRefused {
            what: "recovery key"
        })
    ));
    assert_eq!(kind(refused), ErrorKind::Authentication);
}

#[test]
fn a_recovery_slot_copied_from_another_vault_does_not_open_it() {
    let fixture = Fixture::new();
    let other = Fixture::new();
    let (_, other_key) = other.open().add_recovery_slot().unwrap();
    fixture.open().add_recovery_slot().unwrap();
    // Splice the other vault's recovery slot into this vault's header, in place of its own.
    let header = |path: &std::path::Path| -> serde_json::Value {
        let backend = FileBackend::open(path).unwrap();
        let vault = FileVault::open_file(path, PASSWORD, fixture.options()).unwrap();
        drop(vault);
        let record = header_record(&backend);
        serde_json::from_slice(&record).unwrap()
    };
    let theirs = header(&other.path);
    let mut ours = header(&fixture.path);
    ours["slots"][1] = theirs["slots"][1].clone();
    ours["slots"][1]["id"] = serde_json::json!(1);
    write_header(&fixture.path, &serde_json::to_vec(&ours).unwrap());
    // The slot's associated data names the other vault: nothing opens.
    assert_eq!(
        kind(fixture.open_with(&Unlock::Recovery(&other_key))),
        ErrorKind::Authentication
    );
}

#[test]
fn tampered_recovery_and_shares_slots_open_nothing_and_change_nothing() {
    let fixture = Fixture::new();
    let vault = fixture.open();
    let (recovery_slot, key) = vault.add_recovery_slot().unwrap();
    let (shares_slot, shares) = vault.add_shares_slot(2, 3).unwrap();
    drop(vault);
    let original = header_bytes(&fixture.path);
    let pristine: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let parse = |share: &Share| Share::from_text(&share.to_text()).unwrap();
    for (slot, field) in [
        (recovery_slot, "wrapped"),
        (shares_slot, "wrapped"),
        (shares_slot, "set_id"),
    ] {
        let mut header = pristine.clone();
        let index = header["slots"]
            .as_array()
            .unwrap()
            .iter()
            .position(|s| s["id"] == slot)
            .unwrap();
        let kind = if slot == recovery_slot {
            "recovery"
        } else {
            "shares"
        };
        let value = header["slots"][index]["kind"][kind][field]
            .as_str()
            .unwrap()
            .to_owned();
        let flipped = if value.starts_with('0') { "1" } else { "0" };
        header["slots"][index]["kind"][kind][field] =
            serde_json::json!(format!("{flipped}{}", &value[1..]));
        let edited = serde_json::to_vec(&header).unwrap();
        write_header(&fixture.path, &edited);
        let by_key = fixture.open_with(&Unlock::Recovery(&key));
        let by_shares = fixture.open_with(&Unlock::Shares(&[parse(&shares[0]), parse(&shares[2])]));
        let opened_by_edited_slot = if slot == recovery_slot {
            by_key.map(drop)
        } else {
            by_shares.map(drop)
        };
        let err = opened_by_edited_slot.expect_err(field);
        assert!(
            matches!(err.kind(), ErrorKind::Authentication | ErrorKind::Integrity),
            "{field} of slot {slot}: {err:?}"
        );
        // Nothing was written: the header is the edited one, as it was.
        assert_eq!(header_bytes(&fixture.path), edited, "{field}");
        write_header(&fixture.path, &original);
    }
    // The original header, byte for byte, opens again.
    fixture.open_with(&Unlock::Recovery(&key)).unwrap();
}

#[test]
fn any_three_of_five_shares_open_the_vault_and_fewer_never_do() {
    let fixture = Fixture::new();
    let vault = fixture.open();
    let sealed = vault.encrypt(&payments(), b"ledger", b"").unwrap();
    let (_, shares) = vault.add_shares_slot(3, 5).unwrap();
    assert_eq!(shares.len(), 5);
    drop(vault);
    let texts: Vec<_> = shares.iter().map(Share::to_text).collect();
    let mut opened = 0;
    for subset in 1u32..(1 << 5) {
        let chosen: Vec<Share> = (0..5)
            .filter(|i| subset & (1 << i) != 0)
            .map(|i| Share::from_text(&texts[i]).unwrap())
            .collect();
        let result = fixture.open_with(&Unlock::Shares(&chosen));
        if chosen.len() >= 3 {
            assert_usable(&result.unwrap(), &sealed);
            opened += 1;
        } else {
            match result {
                Err(StoreError::Shares(reason)) => {
                    assert!(reason.contains("any 3 open"), "{reason}")
                }
                other => panic!("{} shares: {other:?}", chosen.len()),
            }
        }
    }
    assert_eq!(opened, 10 + 5 + 1);
}

#[test]
fn duplicate_foreign_altered_and_replaced_shares_each_have_their_error() {
    let fixture = Fixture::new();
    let other = Fixture::new();
    let vault = fixture.open();
    let (first_slot, shares) = vault.add_shares_slot(2, 3).unwrap();
    let parse = |share: &Share| Share::from_text(&share.to_text()).unwrap();

    // The same share twice.
    let twice = [parse(&shares[0]), parse(&shares[0])];
    assert!(matches!(
        fixture.open_with(&Unlock::Shares(&twice)),
        Err(StoreError::Shares(reason)) if reason.contains("given twice")
    ));
    // A share of another vault.
    let (_, theirs) = other.open().add_shares_slot(2, 3).unwrap();
    let mixed = [parse(&shares[0]), parse(&theirs[1])];
    let foreign = fixture.open_with(&Unlock::Shares(&mixed));
    assert!(matches!(
        foreign,
        Err(StoreError::ForeignShare { index: 2, reason }) if reason.contains("another vault")
    ));
    assert!(matches!(
        Vault::check_share(&FileBackend::open(&fixture.path).unwrap(), &theirs[0]),
        Err(StoreError::ForeignShare { .. })
    ));
    // Each of our shares checks out without the password.
    let backend = FileBackend::open(&fixture.path).unwrap();
    for share in &shares {
        Vault::check_share(&backend, &parse(share)).unwrap();
    }
    // A replaced set: remove the slot, deal a new one; the old shares no longer belong.
    assert_eq!(vault.remove_slot(first_slot).unwrap(), Scrub::Complete);
    let (_, fresh) = vault.add_shares_slot(2, 3).unwrap();
    let old = [parse(&shares[0]), parse(&shares[1])];
    assert!(matches!(
        fixture.open_with(&Unlock::Shares(&old)),
        Err(StoreError::ForeignShare { reason, .. }) if reason.contains("not among")
    ));
    // Two sets mixed.
    let two_sets = [parse(&fresh[0]), parse(&shares[1])];
    assert!(matches!(
        fixture.open_with(&Unlock::Shares(&two_sets)),
        Err(StoreError::Shares(reason)) if reason.contains("two different sets")
    ));
    fixture
        .open_with(&Unlock::Shares(&[parse(&fresh[2]), parse(&fresh[0])]))
        .unwrap();
    // The audit log holds every slot change.
    let log = vault.audit_log(&AuditFilter::default()).unwrap();
    let changes: Vec<_> = log
        .iter()
        .filter(|r| {
            matches!(
                r.event.operation,
                AuditOperation::AddSlot | AuditOperation::RemoveSlot
            )
        })
        .map(|r| r.event.operation)
        .collect();
    assert_eq!(
        changes,
        [
            AuditOperation::AddSlot,
            AuditOperation::RemoveSlot,
            AuditOperation::AddSlot
        ]
    );
}

#[test]
fn the_last_slot_stays_and_a_removed_slot_leaves_no_bytes_on_disk() {
    let fixture = Fixture::new();
    let vault = fixture.open();
    let slots = vault.slots().unwrap();
    assert_eq!(slots.len(), 1);
    let password_slot = slots[0].id;
    let last = vault.remove_slot(password_slot);
    assert!(matches!(last, Err(StoreError::LastSlot(id)) if id == password_slot));
    assert_eq!(kind(vault.remove_slot(password_slot)), ErrorKind::Conflict);
    assert!(matches!(
        vault.remove_slot(99),
        Err(StoreError::NoSuchSlot(99))
    ));

    let (recovery_slot, key) = vault.add_recovery_slot().unwrap();
    let wrapped = slot_field(&fixture, recovery_slot, "wrapped");
    assert!(contains(&fixture.file_bytes(), wrapped.as_bytes()));
    // Remove the password slot: the vault now opens only with the recovery key.
    assert_eq!(vault.remove_slot(password_slot).unwrap(), Scrub::Complete);
    drop(vault);
    assert!(matches!(
        FileVault::open_file(&fixture.path, PASSWORD, fixture.options()),
        Err(StoreError::NoSlot { what: "password" })
    ));
    let vault = fixture.open_with(&Unlock::Recovery(&key)).unwrap();
    assert_eq!(vault.change_password(PASSWORD).unwrap(), Scrub::Complete);
    assert_eq!(vault.remove_slot(recovery_slot).unwrap(), Scrub::Complete);
    drop(vault);
    assert!(
        !contains(&fixture.file_bytes(), wrapped.as_bytes()),
        "the removed slot's wrapped key is still in the file"
    );
    assert!(matches!(
        fixture.open_with(&Unlock::Recovery(&key)),
        Err(StoreError::NoSlot { .. })
    ));
    // Refusals are audited too.
    let log = fixture.open().audit_log(&AuditFilter::default()).unwrap();
    let refused = log
        .iter()
        .filter(|r| {
            r.event.operation == AuditOperation::RemoveSlot
                && r.event.outcome.kind() != OutcomeKind::Ok
        })
        .count();
    assert_eq!(refused, 3);
}

/// A stand-in for an HSM: a key that never leaves this struct, wrapping with AES-256-GCM and
/// the context as associated data, as the PKCS#11 provider does on a token.
struct Token {
    key: AeadKey,
    label: &'static str,
    fail: bool,
}

impl Token {
    fn new(label: &'static str) -> Self {
        Token {
            key: AeadKey::new(Algorithm::Aes256Gcm, &SecretKey::generate().unwrap()).unwrap(),
            label,
            fail: false,
        }
    }
}

impl ExternalWrapper for Token {
    fn name(&self) -> &'static str {
        "test-token"
    }

    fn settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("key".to_owned(), self.label.to_owned())])
    }

    fn wrap(&self, key: &SecretKey, context: &[u8]) -> keyvault_store::Result<Vec<u8>> {
        Ok(self.key.seal(key.expose_secret(), context).unwrap())
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> keyvault_store::Result<SecretKey> {
        if self.fail {
            return Err(StoreError::Provider {
                provider: "test-token".to_owned(),
                reason: "the token is not present".to_owned(),
                kind: ErrorKind::Unavailable,
            });
        }
        let opened = self
            .key
            .open(wrapped, context)
            .map_err(|_| StoreError::Provider {
                provider: "test-token".to_owned(),
                reason: "the key does not unwrap this slot".to_owned(),
                kind: ErrorKind::Authentication,
            })?;
        Ok(SecretKey::from_slice(&opened).unwrap())
    }
}

#[test]
fn an_external_key_opens_the_vault_and_its_failures_leave_the_password() {
    let fixture = Fixture::new();
    let vault = fixture.open();
    let sealed = vault.encrypt(&payments(), b"ledger", b"").unwrap();
    let token = Token::new("vault-kek");
    let id = vault.add_external_slot(&token).unwrap();
    assert!(vault.slots().unwrap().iter().any(|s| s.id == id
        && s.slot
            == SlotDescription::External {
                provider: "test-token".to_owned(),
                settings: BTreeMap::from([("key".to_owned(), "vault-kek".to_owned())]),
            }));
    drop(vault);
    assert_usable(
        &fixture.open_with(&Unlock::External(&token)).unwrap(),
        &sealed,
    );
    // Another token's key, or the token failing: the provider's error, nothing opened.
    let stranger = Token::new("vault-kek");
    assert!(matches!(
        fixture.open_with(&Unlock::External(&stranger)),
        Err(StoreError::Provider { .. })
    ));
    let absent = Token {
        fail: true,
        ..Token::new("vault-kek")
    };
    assert_eq!(
        kind(fixture.open_with(&Unlock::External(&absent))),
        ErrorKind::Unavailable
    );
    // The password still opens it.
    assert_usable(&fixture.open(), &sealed);
}

fn header_record(backend: &FileBackend) -> Vec<u8> {
    use keyvault_store::Backend;
    // The header is the one record under the key `h` (docs/STORAGE.md).
    backend.get(b"h").unwrap().unwrap().value
}

fn write_header(path: &std::path::Path, bytes: &[u8]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "UPDATE kv_records SET value = ?1 WHERE key = ?2",
        rusqlite::params![bytes, b"h".to_vec()],
    )
    .unwrap();
}

fn slot_field(fixture: &Fixture, id: u32, field: &str) -> String {
    let backend = FileBackend::open(&fixture.path).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header_record(&backend)).unwrap();
    let slot = header["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|slot| slot["id"] == id)
        .unwrap();
    let (_, fields) = slot["kind"].as_object().unwrap().iter().next().unwrap();
    fields[field].as_str().unwrap().to_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn header_bytes(path: &std::path::Path) -> Vec<u8> {
    header_record(&FileBackend::open(path).unwrap())
}
