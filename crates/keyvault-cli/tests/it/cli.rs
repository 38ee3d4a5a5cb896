//! The `keyvault` binary end to end: help and usage errors, vault set-up and passwords, the key
//! lifecycle and policies, the audit log, completions, the man page and quickstart; every exit
//! code and the `--json` output of each command.

use crate::common;

use common::{Env, PASSWORD, binary, entries, parse_json};
use predicates::prelude::*;
use serde_json::Value;

const COMMANDS: &[&str] = &[
    "init",
    "passwd",
    "status",
    "quickstart",
    "key",
    "encrypt",
    "decrypt",
    "rewrap",
    "datakey",
    "mac",
    "verify",
    "derive",
    "export",
    "import",
    "backup",
    "restore",
    "audit",
    "migrate",
    "completions",
    "man",
];

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let env = Env::empty();
    let output = env.cmd().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in COMMANDS {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing from --help"
        );
    }
    for line in [
        "Exit codes:",
        "0  success",
        "1  any other error",
        "2  usage",
        "3  authentication failed",
        "4  refused by the key's lifecycle or policy",
        "5  not found",
        "KEYVAULT_PASSWORD_FILE",
        "KEYVAULT_EXPORT_PASSWORD",
        "KEYVAULT_BACKUP_PASSWORD",
        "KEYVAULT_NEW_PASSWORD",
        "XDG_DATA_HOME",
    ] {
        assert!(help.contains(line), "{line:?} missing from --help");
    }
    let key_help = env.cmd().args(["key", "--help"]).output().unwrap();
    let key_help = String::from_utf8(key_help.stdout).unwrap();
    for sub in [
        "create",
        "list",
        "show",
        "rotate",
        "activate",
        "enable",
        "disable",
        "deprecate",
        "revoke",
        "schedule-deletion",
        "cancel-deletion",
        "destroy",
        "policy",
        "trim",
        "rename",
    ] {
        assert!(key_help.contains(&format!("  {sub} ")), "key {sub} missing");
    }
    env.cmd()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("keyvault "));
}

#[test]
fn usage_errors_exit_2_with_one_message() {
    let env = Env::new();
    env.cmd().assert().code(2);
    env.cmd().arg("frobnicate").assert().code(2);
    env.cmd()
        .args(["key", "show", "Not A Name"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid key name"));
    env.cmd()
        .args(["key", "create", "k", "--algorithm", "rot13"])
        .assert()
        .code(2);
    env.cmd()
        .args(["key", "create", "k", "--label", "novalue"])
        .assert()
        .code(2);
    env.cmd()
        .args(["key", "create", "k", "--expires", "next tuesday"])
        .assert()
        .code(2);
    env.cmd()
        .args(["key", "create", "k", "--rotate-every", "soon"])
        .assert()
        .code(2);
    env.cmd()
        .args(["key", "deprecate", "k", "--version", "1"])
        .assert()
        .code(2);
    env.cmd()
        .args(["derive", "--key", "k", "--context", "c", "--length", "0"])
        .assert()
        .code(2);
    env.cmd()
        .args(["encrypt", "--key", "k", "--armor", "--format", "stream"])
        .assert()
        .code(2);
    // With --json, a usage error is still one JSON document on stdout.
    let output = env
        .cmd()
        .args(["--json", "key", "show", "BAD"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let doc = parse_json(&output.stdout);
    assert_eq!(doc["error"]["code"], 2);
    assert_eq!(doc["error"]["kind"], "usage");
}

#[test]
fn init_status_and_passwd() {
    let env = Env::empty();
    let doc = env.json(&["init"]);
    assert_eq!(doc["created"], true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env.vault).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second init refuses and leaves the vault alone.
    let stderr = env.fails(&["init"], 1);
    assert!(stderr.contains("already exists"), "{stderr}");

    let status = env.json(&["status"]);
    assert_eq!(status["keys"]["total"], 0);
    assert_eq!(status["private"], true);
    assert!(status["audit_records"].as_u64().unwrap() >= 1);
    env.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("private (0600)"));

    // passwd: the new password from KEYVAULT_NEW_PASSWORD; the old one stops working.
    let doc = env
        .cmd()
        .args(["--json", "passwd"])
        .env("KEYVAULT_NEW_PASSWORD", "a brand new password")
        .output()
        .unwrap();
    assert!(doc.status.success());
    assert_eq!(parse_json(&doc.stdout)["password_changed"], true);
    env.fails(&["status"], 3);
    env.cmd()
        .arg("status")
        .env("KEYVAULT_PASSWORD", "a brand new password")
        .assert()
        .success();
    // passwd without a new password source and no terminal.
    if let Some(mut cmd) = without_terminal(&env) {
        cmd.args(["passwd"])
            .env("KEYVAULT_PASSWORD", "a brand new password")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("KEYVAULT_NEW_PASSWORD"));
    }
}

#[test]
fn password_files_take_precedence_and_lose_one_newline() {
    let env = Env::new();
    let file = env.path("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    // --password-file wins over a wrong KEYVAULT_PASSWORD.
    env.bare()
        .env("KEYVAULT_PASSWORD", "wrong")
        .arg("--password-file")
        .arg(&file)
        .arg("status")
        .assert()
        .success();
    // So does KEYVAULT_PASSWORD_FILE.
    env.bare()
        .env("KEYVAULT_PASSWORD", "wrong")
        .env("KEYVAULT_PASSWORD_FILE", &file)
        .arg("status")
        .assert()
        .success();
    // A missing password file is "not found"; an empty one a usage error.
    env.bare()
        .env("KEYVAULT_PASSWORD_FILE", env.path("missing"))
        .arg("status")
        .assert()
        .code(5);
    std::fs::write(&file, "\n").unwrap();
    env.bare()
        .arg("--password-file")
        .arg(&file)
        .arg("status")
        .assert()
        .code(2);
    env.bare()
        .env("KEYVAULT_PASSWORD", "")
        .arg("status")
        .assert()
        .code(2);
    // Regression: an empty KEYVAULT_PASSWORD_FILE is unset, not the path "" (which was "not
    // found", exit 5); the password then comes from KEYVAULT_PASSWORD.
    env.bare()
        .env("KEYVAULT_PASSWORD_FILE", "")
        .env("KEYVAULT_PASSWORD", PASSWORD)
        .arg("status")
        .assert()
        .success();
}

/// The binary in a new session, without a controlling terminal (so no prompt is possible),
/// when `setsid` is available.
fn without_terminal(env: &Env) -> Option<assert_cmd::Command> {
    let setsid = ["/usr/bin/setsid", "/bin/setsid"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists());
    let has_tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok();
    let mut cmd = match (setsid, has_tty) {
        (Some(setsid), _) => {
            let mut cmd = assert_cmd::Command::new(setsid);
            cmd.arg("-w").arg(binary());
            cmd
        }
        (None, false) => assert_cmd::Command::new(binary()),
        (None, true) => return None,
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KEYVAULT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("KEYVAULT_PATH", &env.vault)
        .env("KEYVAULT_ARGON2", common::CHEAP_ARGON2)
        .current_dir(env.dir.path());
    Some(cmd)
}

#[test]
fn no_password_source_and_no_terminal_is_a_clear_error() {
    let env = Env::new();
    let Some(mut cmd) = without_terminal(&env) else {
        eprintln!("skipped: a terminal is attached and setsid is missing");
        return;
    };
    let output = cmd.arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("no vault password given and no terminal"),
        "{stderr}"
    );
    assert!(stderr.contains("KEYVAULT_PASSWORD"), "{stderr}");
    common::assert_one_sentence(&stderr);
}

#[test]
fn wrong_password_missing_and_foreign_vaults() {
    let env = Env::new();
    let stderr = {
        let output = env
            .cmd()
            .env("KEYVAULT_PASSWORD", "not the password")
            .args(["key", "list"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        String::from_utf8(output.stderr).unwrap()
    };
    assert!(stderr.contains("wrong password"), "{stderr}");
    assert!(
        !stderr.contains("not the password"),
        "the password leaked: {stderr}"
    );
    common::assert_one_sentence(&stderr);

    let missing = Env::empty();
    let stderr = missing.fails(&["status"], 5);
    assert!(stderr.contains("keyvault init"), "{stderr}");

    let foreign = Env::empty();
    std::fs::write(&foreign.vault, vec![0x42u8; 8192]).unwrap();
    foreign.fails(&["status"], 3);

    // --json errors are one document too.
    let output = env
        .cmd()
        .env("KEYVAULT_PASSWORD", "nope")
        .args(["--json", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let doc = parse_json(&output.stdout);
    assert_eq!(doc["error"]["kind"], "authentication_failed");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong password")
    );
}

#[test]
fn argon2_settings_are_bounded_by_the_owasp_floor() {
    let env = Env::empty();
    env.cmd()
        .env("KEYVAULT_ARGON2", "1024,1,1")
        .arg("init")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("KEYVAULT_ARGON2"));
    env.cmd()
        .env("KEYVAULT_ARGON2", "lots")
        .arg("init")
        .assert()
        .code(2);
    assert!(!env.vault.exists());
    env.cmd()
        .env("KEYVAULT_ARGON2", "47104,1,1")
        .arg("init")
        .assert()
        .success();
}

#[test]
fn the_vault_path_comes_from_the_flag_the_variable_or_the_user_data_dir() {
    let env = Env::empty();
    // No --vault, no KEYVAULT_PATH, no XDG_DATA_HOME: under HOME.
    env.cmd()
        .env_remove("KEYVAULT_PATH")
        .arg("init")
        .assert()
        .success();
    let default = env.path(".local/share/keyvault/vault.db");
    assert!(default.exists());
    // XDG_DATA_HOME wins over HOME.
    let xdg = env.path("xdg");
    env.cmd()
        .env_remove("KEYVAULT_PATH")
        .env("XDG_DATA_HOME", &xdg)
        .arg("init")
        .assert()
        .success();
    assert!(xdg.join("keyvault/vault.db").exists());
    // --vault wins over KEYVAULT_PATH.
    let flagged = env.path("flagged.db");
    env.cmd()
        .arg("--vault")
        .arg(&flagged)
        .arg("init")
        .assert()
        .success();
    assert!(flagged.exists());
    assert!(!env.vault.exists());
}

#[cfg(unix)]
#[test]
fn a_vault_readable_by_others_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    std::fs::set_permissions(&env.vault, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.cmd()
        .arg("status")
        .assert()
        .success()
        .stderr(predicate::str::contains("chmod 600"));
    env.cmd()
        .args(["-q", "status"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
}

fn state(env: &Env, name: &str) -> String {
    env.json(&["key", "show", name])["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn encrypt(env: &Env, key: &str, text: &str) -> assert_cmd::assert::Assert {
    env.cmd()
        .args(["encrypt", "--key", key, "--armor"])
        .write_stdin(text.to_owned())
        .assert()
}

#[test]
fn key_create_show_list_and_filters() {
    let env = Env::new();
    let created = env.json(&[
        "key",
        "create",
        "orders",
        "--algorithm",
        "aes-256-gcm",
        "--label",
        "env=prod",
        "--label",
        "team=payments",
        "--description",
        "card data",
        "--expires",
        "2099-01-01",
        "--max-operations",
        "1000",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--not-after",
        "2098-01-01T00:00:00+01:00",
        "--allow",
        "encrypt,decrypt",
        "--rotate-every",
        "90d",
        "--rotate-after",
        "5000",
    ]);
    assert_eq!(created["name"], "orders");
    assert_eq!(created["algorithm"], "aes-256-gcm");
    assert_eq!(created["state"], "active");
    assert_eq!(created["labels"]["env"], "prod");
    assert_eq!(created["labels"]["team"], "payments");
    assert_eq!(created["description"], "card data");
    assert_eq!(created["expires_at"], "2099-01-01T00:00:00.000Z");
    assert_eq!(created["exportable"], false);
    let policy = &created["policy"];
    assert_eq!(policy["max_operations"], 1000);
    assert_eq!(policy["not_before"], "2020-01-01T00:00:00.000Z");
    assert_eq!(policy["not_after"], "2097-12-31T23:00:00.000Z");
    assert_eq!(
        policy["allowed_operations"],
        serde_json::json!(["encrypt", "decrypt"])
    );
    assert_eq!(policy["rotate_every_seconds"], 90 * 86_400);
    assert_eq!(policy["rotate_after_uses"], 5000);

    env.key(
        "tokens",
        &["--algorithm", "hmac-sha256", "--label", "env=dev"],
    );
    env.key("later", &["--pending"]);
    assert_eq!(state(&env, "later"), "pending");

    let names = |doc: &Value| -> Vec<String> {
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&env.json(&["key", "list"])),
        ["later", "orders", "tokens"]
    );
    assert_eq!(
        names(&env.json(&["key", "list", "--state", "pending"])),
        ["later"]
    );
    assert_eq!(
        names(&env.json(&["key", "list", "--algorithm", "hmac-sha256"])),
        ["tokens"]
    );
    assert_eq!(
        names(&env.json(&["key", "list", "--label", "env=prod"])),
        ["orders"]
    );
    env.cmd()
        .args(["key", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("orders").and(predicate::str::contains("aes-256-gcm")));
    env.cmd()
        .args(["key", "show", "orders"])
        .assert()
        .success()
        .stdout(predicate::str::contains("env=prod").and(predicate::str::contains("every 90d")));

    // A name in use is refused by the vault's state: 4.
    let stderr = env.fails(&["key", "create", "orders"], 4);
    assert!(stderr.contains("already exists"), "{stderr}");
    // Unknown keys: 5.
    env.fails(&["key", "show", "nope"], 5);
    env.fails(&["key", "rotate", "nope"], 5);
    env.fails(&["key", "disable", "nope"], 5);

    // Pending keys refuse use until activated.
    encrypt(&env, "later", "x").code(4);
    env.json(&["key", "activate", "later"]);
    encrypt(&env, "later", "x").success();
}

#[test]
fn key_lifecycle_from_rotation_to_destruction() {
    let env = Env::new();
    env.key("k", &[]);
    let first = encrypt(&env, "k", "secret one").get_output().stdout.clone();
    let first = String::from_utf8(first).unwrap();
    let doc = env.json(&["key", "rotate", "k"]);
    assert_eq!(doc["encryption_version"], 2);
    assert_eq!(doc["latest_version"], 2);

    // Disable and enable: reversible.
    assert_eq!(env.json(&["key", "disable", "k"])["state"], "disabled");
    let stderr = {
        let out = env
            .cmd()
            .args(["encrypt", "--key", "k", "--armor"])
            .write_stdin("x")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(stderr.contains("denied"), "{stderr}");
    assert_eq!(env.json(&["key", "enable", "k"])["state"], "active");

    // Versions: disable version 1 stops it decrypting; enable brings it back.
    let doc = env.json(&["key", "disable", "k", "--version", "1"]);
    assert_eq!(doc["versions"][0]["state"], "disabled");
    env.cmd()
        .arg("decrypt")
        .write_stdin(first.clone())
        .assert()
        .code(4);
    env.json(&["key", "enable", "k", "--version", "1"]);
    env.cmd()
        .arg("decrypt")
        .write_stdin(first.clone())
        .assert()
        .success()
        .stdout("secret one");
    // The version that encrypts cannot be destroyed.
    env.fails(&["key", "destroy", "k", "--version", "2"], 4);
    env.fails(&["key", "enable", "k", "--version", "9"], 5);

    // Deprecated: decrypts, never encrypts.
    assert_eq!(env.json(&["key", "deprecate", "k"])["state"], "deprecated");
    encrypt(&env, "k", "x").code(4);
    env.cmd()
        .arg("decrypt")
        .write_stdin(first.clone())
        .assert()
        .success();
    env.fails(&["key", "rotate", "k"], 4);

    // Deletion: scheduled, cancelled, scheduled again; destroy waits for the window.
    let doc = env.json(&["key", "schedule-deletion", "k", "--days", "1"]);
    assert_eq!(doc["state"], "pending_deletion");
    assert_eq!(doc["resumes_as"], "deprecated");
    env.cmd()
        .arg("decrypt")
        .write_stdin(first.clone())
        .assert()
        .code(4);
    assert_eq!(
        env.json(&["key", "cancel-deletion", "k"])["state"],
        "deprecated"
    );
    env.json(&["key", "schedule-deletion", "k", "--days", "1"]);
    let stderr = env.fails(&["key", "destroy", "k"], 4);
    assert!(stderr.contains("window"), "{stderr}");
    let destroyed = env
        .cmd()
        .env("KEYVAULT_TEST_NOW", "+2d")
        .args(["--json", "key", "destroy", "k"])
        .output()
        .unwrap();
    assert!(destroyed.status.success());
    assert_eq!(parse_json(&destroyed.stdout)["state"], "destroyed");
    // The tombstone stays: old ciphertexts get "destroyed" (4), not "not found".
    let stderr = {
        let out = env
            .cmd()
            .arg("decrypt")
            .write_stdin(first)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(stderr.contains("destroyed"), "{stderr}");
    assert_eq!(state(&env, "k"), "destroyed");
    // Nothing brings it back.
    env.fails(&["key", "enable", "k"], 4);
}

#[test]
fn revoke_trim_and_rename() {
    let env = Env::new();
    env.key("k", &[]);
    let v1 = String::from_utf8(encrypt(&env, "k", "one").get_output().stdout.clone()).unwrap();
    env.json(&["key", "rotate", "k"]);
    let v2 = String::from_utf8(encrypt(&env, "k", "two").get_output().stdout.clone()).unwrap();
    env.json(&["key", "rotate", "k"]);

    // Revoke one compromised version.
    let doc = env.json(&["key", "revoke", "k", "--version", "2"]);
    assert_eq!(doc["versions"][1]["state"], "revoked");
    env.cmd().arg("decrypt").write_stdin(v2).assert().code(4);

    // Trim: versions below 3 are destroyed.
    let doc = env.json(&["key", "trim", "k", "--min-version", "3"]);
    assert_eq!(doc["min_decryption_version"], 3);
    assert_eq!(doc["versions"][0]["state"], "destroyed");
    env.cmd().arg("decrypt").write_stdin(v1).assert().code(4);
    env.fails(&["key", "trim", "k", "--min-version", "9"], 5);

    // Rename keeps the id; the old name is free.
    let before = env.json(&["key", "show", "k"])["id"].clone();
    let doc = env.json(&["key", "rename", "k", "renamed"]);
    assert_eq!(doc["name"], "renamed");
    assert_eq!(doc["id"], before);
    env.fails(&["key", "show", "k"], 5);

    // Revoking the whole key is permanent.
    assert_eq!(env.json(&["key", "revoke", "renamed"])["state"], "revoked");
    encrypt(&env, "renamed", "x").code(4);
    env.fails(&["key", "enable", "renamed"], 4);
}

#[test]
fn policies_are_shown_changed_and_enforced() {
    let env = Env::new();
    env.key("k", &["--max-operations", "2"]);
    encrypt(&env, "k", "a").success();
    encrypt(&env, "k", "b").success();
    let stderr = {
        let out = env
            .cmd()
            .args(["encrypt", "--key", "k"])
            .write_stdin("c")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(stderr.contains("denied"), "{stderr}");

    let shown = env.json(&["key", "policy", "k"]);
    assert_eq!(shown["policy"]["max_operations"], 2);
    let changed = env.json(&[
        "key",
        "policy",
        "k",
        "--no-max-operations",
        "--allow",
        "decrypt",
    ]);
    assert_eq!(changed["policy"]["max_operations"], Value::Null);
    assert_eq!(
        changed["policy"]["allowed_operations"],
        serde_json::json!(["decrypt"])
    );
    encrypt(&env, "k", "d").code(4);
    env.json(&["key", "policy", "k", "--allow", "encrypt,decrypt"]);
    encrypt(&env, "k", "e").success();

    // A window that has closed, and a key that has expired.
    env.json(&["key", "policy", "k", "--not-after", "2001-01-01"]);
    encrypt(&env, "k", "f").code(4);
    env.json(&["key", "policy", "k", "--no-not-after"]);
    encrypt(&env, "k", "g").success();
    env.key("old", &["--expires", "2001-01-01"]);
    encrypt(&env, "old", "h").code(4);

    // Export: off by default, switched off for good.
    env.key("exp", &["--exportable"]);
    let doc = env.json(&["key", "show", "exp"]);
    assert_eq!(doc["exportable"], true);
    assert!(
        doc["policy"]["allowed_operations"]
            .as_array()
            .unwrap()
            .contains(&Value::from("export"))
    );
    let doc = env.json(&["key", "policy", "exp", "--disallow-export"]);
    assert_eq!(doc["exportable"], false);
    env.cmd()
        .args(["key", "policy", "exp"])
        .assert()
        .success()
        .stdout(predicate::str::contains("exportable: no"));

    // Rotation by use count happens lazily, at the next use.
    env.key("auto", &["--rotate-after", "2"]);
    for _ in 0..3 {
        encrypt(&env, "auto", "x").success();
    }
    assert_eq!(env.json(&["key", "show", "auto"])["encryption_version"], 2);
}

#[test]
fn the_audit_log_is_shown_filtered_verified_and_exported() {
    let env = Env::new();
    env.key("a", &[]);
    env.key("b", &["--max-operations", "1"]);
    encrypt(&env, "a", "x").success();
    encrypt(&env, "b", "x").success();
    encrypt(&env, "b", "x").code(4);

    let all = env.json(&["audit", "show"]);
    let records = all["records"].as_array().unwrap();
    assert!(records.len() >= 6);
    assert_eq!(records[0]["seq"], 0);
    assert_eq!(records[0]["operation"], "init_vault");
    assert!(records.iter().all(|r| r["actor"] == "cli-test"));

    let denied = env.json(&["audit", "show", "--outcome", "denied"]);
    let denied = denied["records"].as_array().unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["key_name"], "b");
    assert_eq!(denied[0]["reason"], "usage_limit_reached");

    let for_a = env.json(&["audit", "show", "--key", "a", "--op", "encrypt"]);
    assert_eq!(for_a["records"].as_array().unwrap().len(), 1);
    let created = env.json(&["audit", "show", "--op", "create-key", "--since", "-1h"]);
    assert_eq!(created["records"].as_array().unwrap().len(), 2);
    let future = env.json(&["audit", "show", "--since", "+1d"]);
    assert!(future["records"].as_array().unwrap().is_empty());
    let last = env.json(&["audit", "show", "--limit", "2"]);
    assert_eq!(last["records"].as_array().unwrap().len(), 2);
    env.fails(&["audit", "show", "--key", "nope"], 5);
    env.cmd()
        .args(["audit", "show", "--op", "frobnicate"])
        .assert()
        .code(2);
    env.cmd()
        .args(["audit", "show", "--outcome", "denied"])
        .assert()
        .success()
        .stdout(predicate::str::contains("denied (usage_limit_reached)"));

    let verified = env.json(&["audit", "verify"]);
    assert_eq!(verified["verified"], true);
    assert!(verified["records"].as_u64().unwrap() >= 6);

    // Export: JSON lines to stdout or a file; with --json one document.
    let out = env.cmd().args(["audit", "export"]).output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(lines.len() >= 6);
    assert!(
        lines
            .iter()
            .all(|line| line["mac"].as_str().unwrap().len() == 64)
    );
    let file = env.path("audit.jsonl");
    let doc = env.json(&["audit", "export", "--out", file.to_str().unwrap()]);
    assert_eq!(
        usize::try_from(doc["records"].as_u64().unwrap()).unwrap(),
        std::fs::read_to_string(&file).unwrap().lines().count()
    );
    let doc = env.json(&["audit", "export", "--op", "encrypt"]);
    assert_eq!(doc["records"].as_array().unwrap().len(), 3);
}

#[test]
fn completions_and_man_pages_come_from_the_same_definitions() {
    let env = Env::empty();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = env.cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("keyvault"), "{shell}");
        assert!(script.contains("schedule-deletion"), "{shell}");
    }
    env.cmd().args(["completions", "tcsh"]).assert().code(2);
    let doc = env.json(&["completions", "fish"]);
    assert_eq!(doc["shell"], "fish");
    assert!(doc["script"].as_str().unwrap().contains("keyvault"));
    let doc = env.json(&["man"]);
    assert!(doc["roff"].as_str().unwrap().contains(".TH keyvault"));

    let out = env.cmd().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH keyvault"),
        "{page}"
    );
    assert!(page.contains("encrypt"));
    let dir = env.path("man");
    let doc = env.json(&["man", "--out", dir.to_str().unwrap()]);
    let pages = entries(&dir);
    assert!(pages.contains(&"keyvault.1".to_owned()));
    assert!(pages.contains(&"keyvault-encrypt.1".to_owned()));
    assert!(pages.contains(&"keyvault-key-create.1".to_owned()));
    assert_eq!(doc["pages"].as_array().unwrap().len(), pages.len());
}

#[test]
fn quickstart_sets_up_and_checks_everything() {
    let env = Env::empty();
    let doc = env.json(&["quickstart"]);
    assert_eq!(doc["vault"]["created"], true);
    assert_eq!(doc["key"]["created"], true);
    assert_eq!(doc["round_trip"], true);
    assert_eq!(doc["plaintext"], "hello from keyvault");
    assert!(doc["ciphertext"].as_str().unwrap().starts_with("kv1:"));
    assert_eq!(doc["audit"]["verified"], true);
    // A second run reuses both and says so.
    env.cmd()
        .args(["quickstart", "a message of my own"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("(opened)")
                .and(predicate::str::contains("existing"))
                .and(predicate::str::contains("a message of my own")),
        );
    env.key("mac", &["--algorithm", "hmac-sha256"]);
    env.cmd()
        .args(["quickstart", "--key", "mac"])
        .assert()
        .code(2);
}

/// `audit verify` prints the chain head; `--since HEAD` later fails (exit 3) once the vault file
/// has been put back to a copy older than that head.
#[test]
fn audit_verify_since_detects_a_vault_put_back_to_an_older_copy() {
    let env = Env::new();
    env.key("k", &[]);
    let early = env.json(&["audit", "verify"]);
    let early_head = early["head"].as_str().unwrap().to_owned();
    let (count, mac) = early_head.split_once(':').unwrap();
    assert_eq!(
        count.parse::<u64>().unwrap(),
        early["records"].as_u64().unwrap()
    );
    assert_eq!(mac.len(), 64);
    let old_copy = env.path("old-vault.db");
    std::fs::copy(&env.vault, &old_copy).unwrap();

    for _ in 0..3 {
        env.cmd()
            .args(["encrypt", "--key", "k"])
            .write_stdin("secret")
            .assert()
            .success();
    }
    let late = env.json(&["audit", "verify", "--since", &early_head]);
    let late_head = late["head"].as_str().unwrap().to_owned();
    assert!(late["records"].as_u64() > early["records"].as_u64());
    env.cmd()
        .args(["audit", "verify", "--since", &early_head])
        .assert()
        .success()
        .stdout(predicate::str::contains("head: "));

    // The old copy verifies on its own, but not against the later head.
    std::fs::copy(&old_copy, &env.vault).unwrap();
    env.json(&["audit", "verify"]);
    env.json(&["audit", "verify", "--since", &early_head]);
    let stderr = env.fails(&["audit", "verify", "--since", &late_head], 3);
    assert!(stderr.contains("rolled back"), "{stderr}");

    env.cmd()
        .args(["audit", "verify", "--since", "12:not-hex"])
        .assert()
        .code(2);
}

/// The actor falls back from `KEYVAULT_ACTOR` to `USER` to `USERNAME`, an empty variable counting
/// as unset, and to plain `cli` when nothing names anyone.
#[test]
fn the_actor_skips_empty_variables() {
    let env = Env::new();
    env.key("a", &[]);
    let last_actor = |vars: &[(&str, &str)]| {
        let mut cmd = env.cmd();
        cmd.env_remove("USER").env_remove("USERNAME");
        for (name, value) in vars {
            cmd.env(name, value);
        }
        cmd.args(["--json", "key", "show", "a"]).assert().success();
        let all = env.json(&["audit", "show"]);
        let records = all["records"].as_array().unwrap();
        // The `audit show` above reads the log after the `key show` unlock event.
        let unlock = records
            .iter()
            .rev()
            .filter(|r| r["operation"] == "unlock")
            .nth(1)
            .unwrap();
        unlock["actor"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        last_actor(&[("KEYVAULT_ACTOR", ""), ("USER", "ann")]),
        "cli:ann"
    );
    assert_eq!(
        last_actor(&[("KEYVAULT_ACTOR", ""), ("USER", ""), ("USERNAME", "bo")]),
        "cli:bo"
    );
    assert_eq!(last_actor(&[("KEYVAULT_ACTOR", ""), ("USER", "")]), "cli");
}

/// A revoked key brought back by putting its older sealed record back into the vault file: every
/// command refuses the vault with exit code 3 and says what was rolled back.
#[test]
fn a_key_record_put_back_to_an_older_copy_is_refused_with_exit_3() {
    let env = Env::new();
    env.key("k", &[]);
    let key_row = |conn: &rusqlite::Connection| -> (Vec<u8>, Vec<u8>, i64) {
        conn.query_row(
            "SELECT key, value, revision FROM kv_records WHERE substr(key, 1, 1) = x'6b'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap()
    };
    let (key, active_value, active_revision) =
        key_row(&rusqlite::Connection::open(&env.vault).unwrap());
    assert_eq!(env.json(&["key", "revoke", "k"])["state"], "revoked");
    let conn = rusqlite::Connection::open(&env.vault).unwrap();
    assert_ne!(key_row(&conn).1, active_value);
    conn.execute(
        "UPDATE kv_records SET value = ?2, revision = ?3 WHERE key = ?1",
        rusqlite::params![key, active_value, active_revision],
    )
    .unwrap();
    drop(conn);

    let stderr = env.fails(&["status"], 3);
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert!(stderr.contains("key record"), "{stderr}");
    env.cmd()
        .args(["encrypt", "--key", "k"])
        .write_stdin("secret")
        .assert()
        .code(3);
}
