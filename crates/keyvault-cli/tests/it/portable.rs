//! The portable-format commands of the `keyvault` binary: key export and import between vaults,
//! full and incremental backups (create, inspect, verify, restore), and migration from
//! rust-keyvault 0.2 files; wrong passwords, tampered files and refusals with their exit codes.

use crate::common;

use common::{Env, PASSWORD};
use keyvault_test_support::legacy::{self, LegacyVersion};
use predicates::prelude::*;
use serde_json::{Value, json};

const EXPORT_PASSWORD: &str = "export password";
const BACKUP_PASSWORD: &str = "backup password";

fn armoured(env: &Env, key: &str, text: &str) -> String {
    let out = env
        .cmd()
        .args(["encrypt", "--key", key, "--armor"])
        .write_stdin(text.to_owned())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn with_export_password(env: &Env, args: &[&str], password: &str) -> std::process::Output {
    env.cmd()
        .env("KEYVAULT_EXPORT_PASSWORD", password)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn keys_move_between_vaults_by_export_and_import() {
    let a = Env::new();
    let b = Env::new();
    a.key("shared", &["--exportable", "--label", "team=ops"]);
    let sealed = armoured(&a, "shared", "from vault a");
    a.json(&["key", "rotate", "shared"]);

    for (format, file) in [("json", "shared.json"), ("binary", "shared.bin")] {
        let path = b.path(file);
        let out = with_export_password(
            &a,
            &[
                "--json",
                "export",
                "shared",
                "--out",
                path.to_str().unwrap(),
                "--format",
                format,
                "--comment",
                "to b",
            ],
            EXPORT_PASSWORD,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = common::parse_json(&out.stdout);
        assert_eq!(doc["versions"], json!([1, 2]));
        assert_eq!(doc["format"], format);
    }
    assert!(
        std::fs::read(b.path("shared.bin"))
            .unwrap()
            .starts_with(b"KVKE")
    );
    assert!(
        std::fs::read_to_string(b.path("shared.json"))
            .unwrap()
            .contains("keyvault-key-export")
    );

    // The export file never overwrites.
    let out = with_export_password(
        &a,
        &[
            "export",
            "shared",
            "--out",
            b.path("shared.json").to_str().unwrap(),
        ],
        EXPORT_PASSWORD,
    );
    assert_eq!(out.status.code(), Some(1));

    // A wrong export password: 3, and nothing imported.
    let out = with_export_password(&b, &["import", "shared.json"], "guess");
    assert_eq!(out.status.code(), Some(3));
    b.fails(&["key", "show", "shared"], 5);

    // A tampered export: 3.
    let text = std::fs::read_to_string(b.path("shared.json")).unwrap();
    std::fs::write(b.path("edited.json"), text.replace("team", "tea_")).unwrap();
    let out = with_export_password(&b, &["import", "edited.json"], EXPORT_PASSWORD);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(b.path("garbage.json"), "{\"hello\": 1}").unwrap();
    let out = with_export_password(&b, &["import", "garbage.json"], EXPORT_PASSWORD);
    assert_eq!(out.status.code(), Some(3));
    let out = with_export_password(&b, &["import", "missing.json"], EXPORT_PASSWORD);
    assert_eq!(out.status.code(), Some(5));

    // Import, and vault b opens vault a's ciphertext.
    let out = with_export_password(&b, &["--json", "import", "shared.bin"], EXPORT_PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = common::parse_json(&out.stdout);
    assert_eq!(doc["name"], "shared");
    assert_eq!(doc["labels"]["team"], "ops");
    b.cmd()
        .arg("decrypt")
        .write_stdin(sealed)
        .assert()
        .success()
        .stdout("from vault a");
    // Again: the key is there (4) unless replaced.
    let out = with_export_password(&b, &["import", "shared.json"], EXPORT_PASSWORD);
    assert_eq!(out.status.code(), Some(4));
    let out = with_export_password(&b, &["import", "shared.json", "--replace"], EXPORT_PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Into a third vault under another name.
    let c = Env::new();
    std::fs::copy(b.path("shared.json"), c.path("shared.json")).unwrap();
    let out = with_export_password(
        &c,
        &["--json", "import", "shared.json", "--rename", "renamed"],
        EXPORT_PASSWORD,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::parse_json(&out.stdout)["name"], "renamed");

    // Keys that are not exportable are refused by policy: 4.
    a.key("private", &[]);
    let out = with_export_password(
        &a,
        &["export", "private", "--out", "p.json"],
        EXPORT_PASSWORD,
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(!a.path("p.json").exists());
    let out = with_export_password(&a, &["export", "nope", "--out", "n.json"], EXPORT_PASSWORD);
    assert_eq!(out.status.code(), Some(5));
}

fn backup_cmd(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
        .args(args)
        .output()
        .unwrap()
}

fn ok_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::parse_json(&out.stdout)
}

#[test]
fn backups_are_created_verified_inspected_and_restored() {
    let env = Env::new();
    env.key("one", &[]);
    env.key("two", &["--algorithm", "hmac-sha256"]);
    let before = armoured(&env, "one", "in the full backup");

    let full = ok_json(&backup_cmd(
        &env,
        &[
            "--json",
            "backup",
            "create",
            "--out",
            "full.kvbk",
            "--comment",
            "nightly",
        ],
    ));
    assert_eq!(full["incremental"], false);
    assert_eq!(full["key_count"], 2);
    assert_eq!(full["has_audit_logs"], true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("full.kvbk"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
    // Never over an existing file.
    assert_eq!(
        backup_cmd(&env, &["backup", "create", "--out", "full.kvbk"])
            .status
            .code(),
        Some(1)
    );

    env.json(&["key", "rotate", "one"]);
    env.key("three", &[]);
    let after = armoured(&env, "three", "in the incremental");
    let inc = ok_json(&backup_cmd(
        &env,
        &[
            "--json",
            "backup",
            "create",
            "--out",
            "inc.kvbk",
            "--incremental-from",
            "full.kvbk",
            "--no-compress",
        ],
    ));
    assert_eq!(inc["incremental"], true);
    assert_eq!(inc["base"], full["backup_id"]);
    assert_eq!(inc["key_count"], 2);
    assert_eq!(inc["compressed"], false);

    // Inspect needs no password and says it is unauthenticated.
    let doc = env.json(&["backup", "inspect", "inc.kvbk"]);
    assert_eq!(doc["authenticated"], false);
    assert_eq!(doc["base"], full["backup_id"]);
    let doc = env.json(&["backup", "inspect", "full.kvbk"]);
    assert_eq!(doc["comment"], "nightly");
    env.cmd()
        .args(["backup", "inspect", "full.kvbk"])
        .assert()
        .success()
        .stdout(predicate::str::contains("backup verify"));

    // Verify one file and the chain.
    let doc = ok_json(&backup_cmd(
        &env,
        &["--json", "backup", "verify", "full.kvbk"],
    ));
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["keys"], 2);
    let doc = ok_json(&backup_cmd(
        &env,
        &["--json", "backup", "verify", "full.kvbk", "inc.kvbk"],
    ));
    assert_eq!(doc["keys"], 3);
    assert_eq!(doc["backups"].as_array().unwrap().len(), 2);
    // Wrong password, a broken chain, a damaged file: 3.
    let out = env
        .cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", "guess")
        .args(["backup", "verify", "full.kvbk"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        backup_cmd(&env, &["backup", "verify", "inc.kvbk", "full.kvbk"])
            .status
            .code(),
        Some(3)
    );
    let mut damaged = std::fs::read(env.path("full.kvbk")).unwrap();
    let at = damaged.len() / 2;
    damaged[at] ^= 1;
    std::fs::write(env.path("damaged.kvbk"), damaged).unwrap();
    assert_eq!(
        backup_cmd(&env, &["backup", "verify", "damaged.kvbk"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        backup_cmd(&env, &["backup", "verify", "missing.kvbk"])
            .status
            .code(),
        Some(5)
    );

    // Restore the chain into a new vault with its own password.
    let restored = env.path("restored.db");
    let out = env
        .cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
        .env("KEYVAULT_PASSWORD", "restored vault password")
        .args(["--json", "restore", "full.kvbk", "inc.kvbk", "--to"])
        .arg(&restored)
        .output()
        .unwrap();
    let doc = ok_json(&out);
    assert_eq!(doc["keys"], 3);
    for (text, plain) in [
        (&before, "in the full backup"),
        (&after, "in the incremental"),
    ] {
        env.cmd()
            .env("KEYVAULT_PASSWORD", "restored vault password")
            .arg("--vault")
            .arg(&restored)
            .arg("decrypt")
            .write_stdin(text.clone())
            .assert()
            .success()
            .stdout(plain);
    }
    env.cmd()
        .env("KEYVAULT_PASSWORD", "restored vault password")
        .arg("--vault")
        .arg(&restored)
        .args(["audit", "verify"])
        .assert()
        .success();
    // Restore refuses an existing destination, and a failed restore leaves nothing.
    let out = backup_cmd(&env, &["restore", "full.kvbk", "--to", "vault.db"]);
    assert_eq!(out.status.code(), Some(1));
    let out = backup_cmd(&env, &["restore", "damaged.kvbk", "--to", "never.db"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!env.path("never.db").exists());
    let out = backup_cmd(&env, &["restore", "inc.kvbk", "--to", "never.db"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!env.path("never.db").exists());

    // Without the audit log.
    let doc = ok_json(&backup_cmd(
        &env,
        &[
            "--json",
            "backup",
            "create",
            "--out",
            "noaudit.kvbk",
            "--no-audit",
        ],
    ));
    assert_eq!(doc["has_audit_logs"], false);
    // The original vault is untouched by all this.
    assert_eq!(
        env.json(&["key", "list"])["keys"].as_array().unwrap().len(),
        3
    );
    let _ = PASSWORD;
}

/// The reproduction of a silently empty incremental: full backup, restore it, change the
/// restored vault, then an incremental against the full backup. Refused (exit 3, a broken
/// chain) with the way forward; a full backup of the restored vault starts its own chain.
#[test]
fn an_incremental_against_a_backup_from_before_a_restore_is_refused() {
    let env = Env::new();
    env.key("one", &[]);
    env.key("two", &[]);
    ok_json(&backup_cmd(
        &env,
        &["--json", "backup", "create", "--out", "f1.kvbk"],
    ));
    ok_json(&backup_cmd(
        &env,
        &["--json", "restore", "f1.kvbk", "--to", "v2.db"],
    ));
    let in_v2 = |args: &[&str]| {
        env.cmd()
            .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
            .env("KEYVAULT_PATH", env.path("v2.db"))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(in_v2(&["key", "create", "three"]).status.success());
    assert!(in_v2(&["key", "rotate", "one"]).status.success());
    let out = in_v2(&[
        "backup",
        "create",
        "--out",
        "i1.kvbk",
        "--incremental-from",
        "f1.kvbk",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("another history"), "{stderr}");
    assert!(stderr.contains("take a full backup"), "{stderr}");
    assert!(!env.path("i1.kvbk").exists());

    let f2 = ok_json(&in_v2(&["--json", "backup", "create", "--out", "f2.kvbk"]));
    assert!(in_v2(&["key", "create", "four"]).status.success());
    let i2 = ok_json(&in_v2(&[
        "--json",
        "backup",
        "create",
        "--out",
        "i2.kvbk",
        "--incremental-from",
        "f2.kvbk",
    ]));
    assert_eq!(i2["key_count"], 1);
    assert_eq!(i2["base"], f2["backup_id"]);
    let lineage = |file: &str| env.json(&["backup", "inspect", file])["lineage"].clone();
    assert_eq!(lineage("f2.kvbk"), lineage("i2.kvbk"));
    assert_ne!(lineage("f1.kvbk"), lineage("f2.kvbk"));
    // A chain that splices the two histories is refused by verify.
    let out = backup_cmd(&env, &["backup", "verify", "f1.kvbk", "i2.kvbk"]);
    assert_eq!(out.status.code(), Some(3));
}

/// A rust-keyvault 0.2 FileStore directory in plaintext mode: one key with a deprecated
/// version 1 and an active version 2, and a stray `notes.json` that is no key file. Returns the
/// key's base id.
fn legacy_store(dir: &std::path::Path) -> [u8; 16] {
    let base_id = [0x11u8; 16];
    let versions: Vec<LegacyVersion> = (1u8..=2)
        .map(|version| {
            let mut id = base_id;
            id[15] = version;
            LegacyVersion {
                id,
                base_id,
                version: version.into(),
                state: if version == 2 { "Active" } else { "Deprecated" },
                encrypted_key: vec![version; 32],
            }
        })
        .collect();
    legacy::write_store(dir, &versions);
    std::fs::write(dir.join("notes.json"), "not a key").unwrap();
    base_id
}

#[test]
fn rust_keyvault_stores_migrate() {
    let env = Env::new();
    let base_id = legacy_store(&env.path("legacy"));
    // A store whose key files hold sealed keys needs a password, and there is no source for it.
    legacy_store(&env.path("sealed"));
    for entry in std::fs::read_dir(env.path("sealed")).unwrap() {
        let path = entry.unwrap().path();
        let mut file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or(json!(null));
        if file.get("encrypted_key").is_some() {
            file["encrypted_key"] = json!(vec![5u8; 60]);
            std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        }
    }
    let out = env
        .cmd()
        .args(["migrate", "rust-keyvault", "sealed"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.cmd()
        .args(["migrate", "rust-keyvault", "nowhere"])
        .assert()
        .code(5);

    let name = format!("{}=payments", hex::encode(base_id));
    let out = env
        .cmd()
        .args([
            "--json",
            "migrate",
            "rust-keyvault",
            "legacy",
            "--plaintext",
            "--name",
            &name,
        ])
        .output()
        .unwrap();
    let doc = ok_json(&out);
    assert_eq!(doc["versions_read"], 2);
    assert_eq!(doc["imported"], json!(["payments"]));
    assert_eq!(doc["unreadable_files"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.json"));
    let key = env.json(&["key", "show", "payments"]);
    assert_eq!(key["id"], hex::encode(base_id));
    assert_eq!(key["encryption_version"], 2);
    assert_eq!(key["labels"]["migrated-from"], "rust-keyvault-0.2");
    armoured(&env, "payments", "re-encrypted under keyvault");

    // Again: refused by default (4), skipped on request.
    let out = env
        .cmd()
        .args([
            "migrate",
            "rust-keyvault",
            "legacy",
            "--plaintext",
            "--name",
            &name,
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = ok_json(
        &env.cmd()
            .args([
                "--json",
                "migrate",
                "rust-keyvault",
                "legacy",
                "--plaintext",
                "--name",
                &name,
                "--on-conflict",
                "skip",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 1);
}

#[test]
fn rust_keyvault_export_files_migrate() {
    use keyvault_crypto::{AeadKey, Algorithm, Argon2Params, password::derive_key};

    let env = Env::new();
    let password = b"legacy export password";
    let salt = [3u8; 16];
    let params = Argon2Params::MINIMUM;
    let wrapping = derive_key(password, &salt, &params).unwrap();
    let sealed = AeadKey::new(Algorithm::XChaCha20Poly1305, &wrapping)
        .unwrap()
        .seal(&[9u8; 32], b"rust-keyvault-export-v1")
        .unwrap();
    let time = json!({ "secs_since_epoch": 1_700_000_000u64, "nanos_since_epoch": 0 });
    let export = json!({
        "format_version": 1,
        "exported_at": time,
        "wrapping_algorithm": "XChaCha20Poly1305",
        "salt": salt,
        "argon2_params": { "memory_kib": 19_456, "time_cost": 2, "parallelism": 1 },
        "encrypted_key": sealed,
        "metadata": {
            "id": vec![0x22u8; 16],
            "base_id": vec![0x22u8; 16],
            "state": "Active",
            "created_at": time,
            "expires_at": null,
            "algorithm": "ChaCha20Poly1305",
            "version": 1,
        },
        "comment": null,
    });
    std::fs::write(env.path("old.json"), serde_json::to_vec(&export).unwrap()).unwrap();

    let out = env
        .cmd()
        .env("KEYVAULT_MIGRATE_PASSWORD", "wrong")
        .args(["migrate", "rust-keyvault", "old.json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env
        .cmd()
        .env(
            "KEYVAULT_MIGRATE_PASSWORD",
            std::str::from_utf8(password).unwrap(),
        )
        .args([
            "--json",
            "migrate",
            "rust-keyvault",
            "old.json",
            "--prefix",
            "old-",
        ])
        .output()
        .unwrap();
    let doc = ok_json(&out);
    let name = format!("old-{}", hex::encode([0x22u8; 16]));
    assert_eq!(doc["imported"], json!([name.clone()]));
    assert_eq!(
        env.json(&["key", "show", &name])["algorithm"],
        "chacha20-poly1305"
    );
}

/// The reproduction: export k1 at v1, rotate to v3, encrypt with v3, revoke, import
/// the old export with --replace. Refused with exit 4; k1 stays revoked with its three versions.
#[test]
fn import_replace_of_an_older_export_over_a_revoked_key_is_refused() {
    let a = Env::new();
    a.key("k1", &["--exportable"]);
    let out = with_export_password(
        &a,
        &["export", "k1", "--out", "k1-v1.json"],
        EXPORT_PASSWORD,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.json(&["key", "rotate", "k1"]);
    a.json(&["key", "rotate", "k1"]);
    armoured(&a, "k1", "sealed with v3");
    a.json(&["key", "revoke", "k1"]);
    let out = with_export_password(&a, &["import", "k1-v1.json", "--replace"], EXPORT_PASSWORD);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not replaced"));
    let key = a.json(&["key", "show", "k1"]);
    assert_eq!(key["state"], "revoked", "{key}");
    assert_eq!(key["versions"].as_array().unwrap().len(), 3, "{key}");
}
