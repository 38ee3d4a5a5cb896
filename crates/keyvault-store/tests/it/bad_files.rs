//! Bad input on disk: a vault file with bits flipped at many offsets, truncated at many
//! offsets (0, page boundaries, mid-page, one byte short), a foreign SQLite database, files that
//! only pretend to be vaults, an empty file, random bytes, a missing file, a directory, records
//! moved between keys, another vault's header, a wrong password, and a vault made
//! world-readable. Every case runs in this process.
//!
//! Each case must end in a typed [`StoreError`] (or, for the permissions, the vault opens and
//! `FileBackend::insecure_permissions` reports the mode), never a panic, and never silent data
//! loss: if a damaged file still opens, every key read from it either matches the original (same
//! id and versions, its ciphertexts decrypt to the original plaintexts, derivations give the
//! original bytes) or fails with an error, and never gives anything different.
//!
//! Two more tests hold refusals to a higher standard: a refused file is left exactly as it was,
//! and the error names the file.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use keyvault_core::KeyAlgorithm;
use keyvault_store::{FileVault, NewKey, StoreError};
use keyvault_test_support::fixtures::{cheap_options, name};
use keyvault_test_support::{Rng, seed};

const PASSWORD: &[u8] = b"bad files password";
/// The SQLite page size of a new vault file.
const PAGE: usize = 4096;

/// A ciphertext made before the damage: key name, envelope, aad, plaintext.
type Sealed = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// What the original vault holds, to compare a damaged copy against.
struct Original {
    bytes: Vec<u8>,
    /// name → (key id, version numbers).
    keys: BTreeMap<String, (String, Vec<u32>)>,
    envelopes: Vec<Sealed>,
    /// (key name, context, version, derived bytes).
    derived: Vec<(String, Vec<u8>, u32, Vec<u8>)>,
}

/// Build a vault with keys of every algorithm, some rotated, with ciphertexts and derivations
/// to check against, then close it so the whole state is in the one file.
fn original(dir: &Path) -> Original {
    let path = dir.join("original.kv");
    let vault = FileVault::create(&path, PASSWORD, cheap_options()).unwrap();
    let mut envelopes = Vec::new();
    let mut derived = Vec::new();
    for (index, algorithm) in KeyAlgorithm::ALL.into_iter().enumerate() {
        for copy in 0..2 {
            let key = format!("key-{index}-{copy}");
            let mut spec = NewKey::new(name(&key), algorithm);
            spec.labels.insert("copy".to_owned(), copy.to_string());
            vault.create_key(spec).unwrap();
            for round in 0..=copy + index % 2 {
                if round > 0 {
                    vault.rotate(&name(&key)).unwrap();
                }
                if algorithm == KeyAlgorithm::HmacSha256 {
                    let context = format!("context {round}").into_bytes();
                    let (version, bytes) = vault.derive(&name(&key), &context, 32).unwrap();
                    derived.push((key.clone(), context, version.get(), bytes.to_vec()));
                } else {
                    let plaintext = format!("secret {key} {round}").into_bytes();
                    let aad = format!("aad {round}").into_bytes();
                    let envelope = vault.encrypt(&name(&key), &plaintext, &aad).unwrap();
                    envelopes.push((key.clone(), envelope, aad, plaintext));
                }
            }
        }
    }
    let keys = vault
        .list_keys(&Default::default())
        .unwrap()
        .into_iter()
        .map(|m| {
            let versions = m.versions().iter().map(|v| v.version.get()).collect();
            (m.name().to_string(), (m.id().to_string(), versions))
        })
        .collect();
    vault.verify_audit().unwrap();
    drop(vault);
    // Closing the last connection folds the write-ahead log into the file.
    let wal = dir.join("original.kv-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the log was not folded into the file"
    );
    Original {
        bytes: std::fs::read(&path).unwrap(),
        keys,
        envelopes,
        derived,
    }
}

/// What a case starts from.
enum Content {
    /// A file with these bytes.
    Bytes(Vec<u8>),
    /// These bytes, with these permission bits.
    Mode(Vec<u8>, u32),
    /// Nothing at the path.
    Missing,
    /// A directory at the path.
    Directory,
}

/// What a case must end in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// This error variant.
    Error(&'static str),
    /// Any typed error, or an opened vault that holds nothing different from the original.
    NoSilentLoss,
    /// The vault opens intact and reports its permissions.
    PermissionWarning,
}

struct Case {
    label: String,
    content: Content,
    password: &'static [u8],
    want: Want,
}

impl Case {
    fn new(label: impl Into<String>, content: Content, want: Want) -> Self {
        Case {
            label: label.into(),
            content,
            password: PASSWORD,
            want,
        }
    }
}

/// The variant of an error, e.g. `Corrupt` or `Core::Denied`.
fn variant(err: &StoreError) -> String {
    let head = |debug: String| {
        debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    match err {
        StoreError::Core(core) => format!("Core::{}", head(format!("{core:?}"))),
        StoreError::Crypto(crypto) => format!("Crypto::{}", head(format!("{crypto:?}"))),
        other => head(format!("{other:?}")),
    }
}

/// How a case ended.
enum Ending {
    /// Opening failed with this error (variant, message, whether the file changed anyway).
    Refused(String, String, bool),
    /// The vault opened; what reading it back found.
    Opened {
        /// Error variants met while reading keys, ciphertexts and the log.
        errors: Vec<String>,
        /// Reads that gave something other than the original: silent loss.
        mismatches: Vec<String>,
        /// The permission bits reported as too open, if any.
        insecure: Option<u32>,
    },
    /// A panic, with its message.
    Panicked(String),
}

/// Read everything back from an opened vault and compare it with the original.
fn inspect(vault: &FileVault, original: &Original) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut mismatches = Vec::new();
    for (key, (id, versions)) in &original.keys {
        match vault.key(&name(key)) {
            Ok(metadata) => {
                let got: Vec<u32> = metadata
                    .versions()
                    .iter()
                    .map(|v| v.version.get())
                    .collect();
                if &metadata.id().to_string() != id || &got != versions {
                    mismatches.push(format!("{key}: id or versions differ"));
                }
            }
            Err(err) => errors.push(variant(&err)),
        }
    }
    for (key, envelope, aad, plaintext) in &original.envelopes {
        match vault.decrypt(envelope, aad) {
            Ok(opened) if &opened[..] == plaintext.as_slice() => {}
            Ok(_) => mismatches.push(format!("{key}: a ciphertext decrypted to something else")),
            Err(err) => errors.push(variant(&err)),
        }
    }
    for (key, context, version, bytes) in &original.derived {
        match vault.derive(&name(key), context, 32) {
            // A derivation with the newest version only; older contexts were derived earlier.
            Ok((got_version, got)) if got_version.get() == *version => {
                if &got[..] != bytes.as_slice() {
                    mismatches.push(format!("{key}: derived different bytes"));
                }
            }
            Ok(_) => {}
            Err(err) => errors.push(variant(&err)),
        }
    }
    if let Err(err) = vault.list_keys(&Default::default()) {
        errors.push(variant(&err));
    }
    if let Err(err) = vault.verify_audit() {
        errors.push(variant(&err));
    }
    errors.sort();
    errors.dedup();
    (errors, mismatches)
}

fn run_case(case: &Case, dir: &Path, original: &Original) -> Ending {
    let path = dir.join("case.kv");
    match &case.content {
        Content::Bytes(bytes) => std::fs::write(&path, bytes).unwrap(),
        Content::Mode(bytes, mode) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        Content::Missing => {}
        Content::Directory => std::fs::create_dir(&path).unwrap(),
    }
    let opened = catch_unwind(AssertUnwindSafe(|| {
        match FileVault::open_file(&path, case.password, cheap_options()) {
            Err(err) => {
                let unchanged = match &case.content {
                    Content::Bytes(bytes) | Content::Mode(bytes, _) => {
                        std::fs::read(&path).is_ok_and(|now| &now == bytes)
                    }
                    Content::Missing | Content::Directory => true,
                };
                Ending::Refused(variant(&err), err.to_string(), !unchanged)
            }
            Ok(vault) => {
                let insecure = vault.dangerous().backend().insecure_permissions().unwrap();
                let (errors, mismatches) = inspect(&vault, original);
                Ending::Opened {
                    errors,
                    mismatches,
                    insecure,
                }
            }
        }
    }));
    opened.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Ending::Panicked(message)
    })
}

/// Flip one bit at each offset worth trying: every byte of the SQLite header, a prime stride
/// through the whole file (landing at every position within pages), every few bytes of the
/// vault header record, and random offsets.
fn flip_offsets(original: &Original, rng: &mut Rng) -> Vec<usize> {
    let len = original.bytes.len();
    let mut offsets: Vec<usize> = (0..100).collect();
    offsets.extend((100..len).step_by(89));
    let marker = b"\"slots\"";
    if let Some(at) = original
        .bytes
        .windows(marker.len())
        .position(|window| window == marker)
    {
        offsets.extend((at.saturating_sub(120)..(at + 700).min(len)).step_by(5));
    }
    offsets.extend((0..64).map(|_| rng.below(len)));
    offsets.sort_unstable();
    offsets.dedup();
    offsets
}

/// Cut the file at 0, around the SQLite header, at every page boundary, in the middle of every
/// page, and one byte short.
fn cut_offsets(len: usize) -> Vec<usize> {
    let mut offsets = vec![0, 1, 15, 16, 50, 99, 100, 101, 512, PAGE - 1, PAGE + 1];
    let mut page = 0;
    while page < len {
        offsets.push(page);
        offsets.push(page + PAGE / 2);
        offsets.push(page + 1000);
        page += PAGE;
    }
    offsets.push(len - 1);
    offsets.retain(|&offset| offset < len);
    offsets.sort_unstable();
    offsets.dedup();
    offsets
}

/// SQLite files that are not vaults, or pretend to be: made with SQLite itself.
fn impostors(dir: &Path, original: &Original) -> Vec<Case> {
    let make = |file: &str, sql: &str| {
        let path = dir.join(file);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        drop(conn);
        std::fs::read(&path).unwrap()
    };
    let schema = "CREATE TABLE kv_records (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL, \
                  revision INTEGER NOT NULL) WITHOUT ROWID; \
                  CREATE TABLE kv_meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) \
                  WITHOUT ROWID; INSERT INTO kv_meta VALUES ('sequence', 0);";
    // A copy of the vault changed with SQL, keeping the file itself well-formed.
    let edit = |file: &str, sql: &str| {
        let path = dir.join(file);
        std::fs::write(&path, &original.bytes).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        drop(conn);
        std::fs::read(&path).unwrap()
    };
    // The header record of a second vault, with the same password.
    let other_header = {
        let path = dir.join("other.kv");
        drop(FileVault::create(&path, PASSWORD, cheap_options()).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let header: Vec<u8> = conn
            .query_row(
                "SELECT value FROM kv_records WHERE key = x'68'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        hex::encode(header)
    };
    let bytes = Content::Bytes;
    vec![
        Case::new(
            "foreign SQLite database",
            bytes(make(
                "foreign.db",
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); \
                 INSERT INTO notes (body) VALUES ('hello');",
            )),
            Want::Error("NotAVault"),
        ),
        Case::new(
            "foreign SQLite database with keyvault's tables",
            bytes(make("lookalike.db", schema)),
            Want::Error("NotAVault"),
        ),
        Case::new(
            "keyvault's application id, an unknown schema version",
            bytes(make(
                "future.db",
                &format!("PRAGMA application_id = 1802923124; PRAGMA user_version = 9; {schema}"),
            )),
            Want::Error("NotAVault"),
        ),
        Case::new(
            "keyvault's application id and schema version, no tables",
            bytes(make(
                "hollow.db",
                "PRAGMA application_id = 1802923124; PRAGMA user_version = 1; \
                 CREATE TABLE unrelated (x);",
            )),
            Want::NoSilentLoss,
        ),
        Case::new(
            "keyvault's tables, no vault in them",
            bytes(make(
                "unborn.db",
                &format!("PRAGMA application_id = 1802923124; PRAGMA user_version = 1; {schema}"),
            )),
            Want::Error("NotAVault"),
        ),
        Case::new(
            "vault header replaced by garbage",
            bytes(edit(
                "garbage-header.kv",
                "UPDATE kv_records SET value = x'7b2266' WHERE key = x'68';",
            )),
            Want::Error("Tampered"),
        ),
        Case::new(
            "vault header deleted",
            bytes(edit(
                "no-header.kv",
                "DELETE FROM kv_records WHERE key = x'68';",
            )),
            Want::Error("NotAVault"),
        ),
        Case::new(
            "vault header of another vault (same password)",
            bytes(edit(
                "other-header.kv",
                &format!("UPDATE kv_records SET value = x'{other_header}' WHERE key = x'68';"),
            )),
            Want::Error("Tampered"),
        ),
        Case::new(
            "vault metadata deleted",
            bytes(edit(
                "no-meta.kv",
                "DELETE FROM kv_records WHERE key = x'6d';",
            )),
            Want::Error("Tampered"),
        ),
        Case::new(
            "key records moved: every key's sealed record swapped with the next key's",
            bytes(edit(
                "swapped.kv",
                "CREATE TEMP TABLE k AS SELECT key, value, row_number() OVER (ORDER BY key) AS n \
                 FROM kv_records WHERE substr(key, 1, 1) = x'6b'; \
                 UPDATE kv_records SET value = (SELECT k2.value FROM k k1 JOIN k k2 \
                   ON k2.n = k1.n % (SELECT count(*) FROM k) + 1 WHERE k1.key = kv_records.key) \
                 WHERE substr(key, 1, 1) = x'6b';",
            )),
            Want::NoSilentLoss,
        ),
        Case::new(
            "audit segments deleted",
            bytes(edit(
                "no-audit.kv",
                "DELETE FROM kv_records WHERE substr(key, 1, 1) = x'61' \
                 AND key > (SELECT min(key) FROM kv_records WHERE substr(key, 1, 1) = x'61');",
            )),
            Want::NoSilentLoss,
        ),
    ]
}

#[test]
fn damaged_and_foreign_files_give_typed_errors_never_panics_never_silent_loss() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let original = original(dir.path());
    let len = original.bytes.len();

    let mut cases = Vec::new();
    for offset in flip_offsets(&original, &mut rng) {
        let bit = offset % 8;
        let mut bytes = original.bytes.clone();
        bytes[offset] ^= 1 << bit;
        cases.push(Case::new(
            format!("bit {bit} flipped at offset {offset}"),
            Content::Bytes(bytes),
            Want::NoSilentLoss,
        ));
    }
    for offset in cut_offsets(len) {
        cases.push(Case::new(
            format!("truncated to {offset} of {len} bytes"),
            Content::Bytes(original.bytes[..offset].to_vec()),
            if offset == 0 {
                Want::Error("NotAVault")
            } else {
                Want::NoSilentLoss
            },
        ));
    }
    cases.extend(impostors(dir.path(), &original));
    cases.push(Case::new(
        "empty file",
        Content::Bytes(Vec::new()),
        Want::Error("NotAVault"),
    ));
    cases.push(Case::new(
        "random bytes (one page)",
        Content::Bytes(rng.bytes(PAGE)),
        Want::Error("NotAVault"),
    ));
    cases.push(Case::new(
        "random bytes (the vault's size)",
        Content::Bytes(rng.bytes(len)),
        Want::Error("NotAVault"),
    ));
    let mut disguised = b"SQLite format 3\0".to_vec();
    disguised.extend(rng.bytes(len - disguised.len()));
    cases.push(Case::new(
        "random bytes behind the SQLite magic",
        Content::Bytes(disguised),
        Want::NoSilentLoss,
    ));
    cases.push(Case::new(
        "no file at the path",
        Content::Missing,
        Want::Error("NoVault"),
    ));
    cases.push(Case::new(
        "a directory at the path",
        Content::Directory,
        Want::NoSilentLoss,
    ));
    for (label, password) in [
        ("wrong password", &b"bad files passwore"[..]),
        ("empty password", &b""[..]),
        (
            "the password with a trailing newline",
            &b"bad files password\n"[..],
        ),
    ] {
        cases.push(Case {
            password,
            ..Case::new(
                label,
                Content::Bytes(original.bytes.clone()),
                Want::Error("WrongPassword"),
            )
        });
    }
    cases.push(Case::new(
        "vault made world-readable (chmod 0644)",
        Content::Mode(original.bytes.clone(), 0o644),
        Want::PermissionWarning,
    ));
    cases.push(Case::new(
        "vault made group-readable (chmod 0640)",
        Content::Mode(original.bytes.clone(), 0o640),
        Want::PermissionWarning,
    ));
    cases.push(Case::new(
        "the untouched vault (control)",
        Content::Bytes(original.bytes.clone()),
        Want::NoSilentLoss,
    ));

    // Run the cases on a few threads, each in its own directory.
    let next = AtomicUsize::new(0);
    let endings: Mutex<Vec<Option<Ending>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(index) else { break };
                    let case_dir = tempfile::tempdir().unwrap();
                    let ending = run_case(case, case_dir.path(), &original);
                    endings.lock().unwrap()[index] = Some(ending);
                }
            });
        }
    });
    let took = started.elapsed();

    let mut error_kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut damage_kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = 0;
    let mut opened_intact = 0;
    let mut opened_damage_reported = 0;
    let mut warnings = 0;
    let mut refused_but_changed = 0;
    let mut panics = Vec::new();
    let mut failures = Vec::new();
    for (case, ending) in cases.iter().zip(endings.into_inner().unwrap()) {
        let ending = ending.unwrap();
        let line = match &ending {
            Ending::Refused(kind, message, changed) => {
                errors += 1;
                refused_but_changed += u32::from(*changed);
                *error_kinds.entry(kind.clone()).or_default() += 1;
                if let Want::Error(wanted) = case.want
                    && wanted != kind
                {
                    failures.push(format!("{}: wanted {wanted}, got {kind}", case.label));
                }
                if case.want == Want::PermissionWarning {
                    failures.push(format!("{}: refused ({kind})", case.label));
                }
                let changed = if *changed {
                    " (the refused open changed the file)"
                } else {
                    ""
                };
                format!("error {kind}: {message}{changed}")
            }
            Ending::Opened {
                errors: read_errors,
                mismatches,
                insecure,
            } => {
                if !mismatches.is_empty() {
                    failures.push(format!("{}: SILENT LOSS {mismatches:?}", case.label));
                }
                if let Want::Error(wanted) = case.want {
                    failures.push(format!("{}: wanted {wanted}, the vault opened", case.label));
                }
                if case.want == Want::PermissionWarning {
                    warnings += 1;
                    if insecure.is_none() || !read_errors.is_empty() {
                        failures.push(format!(
                            "{}: permissions {insecure:?}, errors {read_errors:?}",
                            case.label
                        ));
                    }
                    format!("opened intact; warning: mode {:o}", insecure.unwrap_or(0))
                } else if read_errors.is_empty() {
                    opened_intact += 1;
                    "opened; every key, ciphertext and derivation as before; chain verifies"
                        .to_owned()
                } else {
                    opened_damage_reported += 1;
                    for kind in read_errors {
                        *damage_kinds.entry(kind.clone()).or_default() += 1;
                    }
                    format!("opened; damage reported as {}", read_errors.join(", "))
                }
            }
            Ending::Panicked(message) => {
                panics.push(format!("{}: {message}", case.label));
                format!("PANIC: {message}")
            }
        };
        println!("{}: {line}", case.label);
    }
    println!(
        "{} cases (seed {seed}, vault of {len} bytes) in {took:.2?}: {errors} errors of kinds \
         {error_kinds:?}, {opened_damage_reported} opened and reported the damage when read \
         {damage_kinds:?}, {opened_intact} opened intact, {warnings} permission warnings, {} panics \
         ({refused_but_changed} refused files were changed by the attempt)",
        cases.len(),
        panics.len()
    );
    assert!(panics.is_empty(), "panics: {panics:#?}");
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

#[test]
fn a_refused_foreign_database_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("someone-elses.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); \
         INSERT INTO notes (body) VALUES ('not a vault');",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let mut listing_before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    listing_before.sort();

    let err = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap_err();
    assert_eq!(variant(&err), "NotAVault");

    let after = std::fs::read(&path).unwrap();
    let changed: Vec<usize> = (0..before.len().min(after.len()))
        .filter(|&i| before[i] != after[i])
        .collect();
    assert!(
        before == after,
        "the refused file changed at offsets {changed:?} (18 and 19 are SQLite's journal mode)"
    );
    let mut listing_after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    listing_after.sort();
    assert_eq!(listing_before, listing_after, "files appeared beside it");
}

#[test]
fn not_a_vault_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headless.kv");
    drop(FileVault::create(&path, PASSWORD, cheap_options()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DELETE FROM kv_records WHERE key = x'68';")
        .unwrap();
    drop(conn);
    let err = FileVault::open_file(&path, PASSWORD, cheap_options()).unwrap_err();
    let StoreError::NotAVault { path: named, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(named, &path.display().to_string(), "{err}");
}

#[test]
fn an_empty_file_is_called_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let err = FileVault::open_file(&path, b"password", cheap_options()).unwrap_err();
    let StoreError::NotAVault { reason, .. } = &err else {
        panic!("expected NotAVault, got {err:?}");
    };
    assert_eq!(reason, "the file is empty", "{err}");
    assert!(!err.to_string().contains("another application"), "{err}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left untouched");
}
