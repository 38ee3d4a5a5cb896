//! What users read where they stumble: refusals that say what to do, "no vault" errors that
//! name the full path, the possible causes of an authentication failure, a ciphertext of
//! another vault, legacy stores told apart by their files, counts with plurals, and JSON
//! members named for what they count.

use crate::common;

use std::path::Path;

use common::{Env, parse_json};
use keyvault_test_support::legacy::{self, LegacyVersion};
use serde_json::json;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn no_vault_names_the_full_path_and_the_current_directory() {
    let env = Env::new();
    std::fs::create_dir(env.path("elsewhere")).unwrap();
    let output = env
        .cmd()
        .current_dir(env.path("elsewhere"))
        .args(["--vault", "vault.db", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5));
    let stderr = stderr_of(&output);
    common::assert_one_sentence(&stderr);
    let full = env.path("elsewhere").join("vault.db");
    assert!(
        stderr.contains(&format!("no vault at {}", full.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "vault.db from the current directory {}",
            env.path("elsewhere").display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("keyvault init"), "{stderr}");
}

#[test]
fn lifecycle_and_export_refusals_say_what_to_do() {
    let env = Env::new();
    env.key("orders", &[]);
    let stderr = env.fails(&["key", "schedule-deletion", "orders"], 4);
    assert!(
        stderr.contains(
            "cannot schedule the deletion of a key that is active: disable, deprecate or revoke it first"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("schedule_deletion"), "{stderr}");
    assert!(!stderr.contains("lifecycle table"), "{stderr}");

    let output = env
        .cmd()
        .env("KEYVAULT_EXPORT_PASSWORD", "an export password")
        .args(["export", "orders", "--out", "orders.kvx"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("only a key created exportable can be exported"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot be switched on later"), "{stderr}");
}

#[test]
fn authentication_failures_list_their_possible_causes() {
    let env = Env::new();
    env.key("orders", &[]);
    let sealed = env
        .cmd()
        .args(["encrypt", "--key", "orders", "--aad", "order-7", "--armor"])
        .write_stdin("secret")
        .output()
        .unwrap();
    assert!(sealed.status.success());
    std::fs::write(env.path("c.kv"), &sealed.stdout).unwrap();
    // The associated data was forgotten.
    let stderr = env.fails(&["decrypt", "--in", "c.kv"], 3);
    assert!(
        stderr
            .contains("cannot decrypt with the key orders: authentication failed; possible causes"),
        "{stderr}"
    );
    assert!(stderr.contains("--aad"), "{stderr}");
    assert!(stderr.contains("damaged or modified"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn another_vaults_ciphertext_names_this_vault() {
    let env = Env::new();
    env.key("orders", &[]);
    let sealed = env
        .cmd()
        .args(["encrypt", "--key", "orders", "--armor"])
        .write_stdin("hello")
        .output()
        .unwrap();
    std::fs::write(env.path("c.kv"), &sealed.stdout).unwrap();
    env.cmd()
        .args(["--vault", "other.db", "init"])
        .assert()
        .success();
    let output = env
        .cmd()
        .args(["--vault", "other.db", "decrypt", "--in", "c.kv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5));
    let stderr = stderr_of(&output);
    common::assert_one_sentence(&stderr);
    assert!(stderr.contains("is not in the vault at"), "{stderr}");
    assert!(
        stderr.contains(&env.path("other.db").display().to_string()),
        "{stderr}"
    );
}

/// A rust-keyvault 0.2 FileStore with one key of one version (its id is `base_byte`
/// repeated), whose key file holds `encrypted_key` (32 raw bytes in a plaintext store, 60 sealed
/// bytes in an encrypted one). Returns the key's id in hex.
fn legacy_store(dir: &Path, base_byte: u8, encrypted_key: &[u8]) -> String {
    let base_id = [base_byte; 16];
    legacy::write_store(
        dir,
        &[LegacyVersion {
            id: base_id,
            base_id,
            version: 1,
            state: "Active",
            encrypted_key: encrypted_key.to_vec(),
        }],
    );
    hex::encode(base_id)
}

#[test]
fn legacy_stores_are_told_apart_by_their_files() {
    let env = Env::new();
    legacy_store(&env.path("plain"), 0x11, &[1u8; 32]);
    legacy_store(&env.path("sealed"), 0x22, &[2u8; 60]);

    // An unencrypted store needs no password and no flag (no password source is set).
    let output = env
        .bare()
        .env("KEYVAULT_PASSWORD", common::PASSWORD)
        .args(["--json", "migrate", "rust-keyvault", "plain"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        parse_json(&output.stdout)["imported"],
        json!([format!("legacy-{}", "11".repeat(16))])
    );

    // --plaintext on an encrypted store: it looks encrypted.
    let stderr = env.fails(&["migrate", "rust-keyvault", "sealed", "--plaintext"], 1);
    assert!(stderr.contains("the store looks encrypted"), "{stderr}");
    assert!(!stderr.contains("not 32"), "{stderr}");

    // A password that does not open it: wrong password or wrong Argon2 settings.
    let output = env
        .cmd()
        .env("KEYVAULT_MIGRATE_PASSWORD", "not the password")
        .args([
            "migrate",
            "rust-keyvault",
            "sealed",
            "--legacy-argon2",
            "19456,2,1",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = stderr_of(&output);
    common::assert_one_sentence(&stderr);
    assert!(stderr.contains("possible causes"), "{stderr}");
    assert!(stderr.contains("--legacy-argon2"), "{stderr}");
}

#[test]
fn migrate_refuses_a_name_for_an_unknown_id_and_says_what_is_taken() {
    let env = Env::new();
    let base_id = legacy_store(&env.path("plain"), 0x33, &[3u8; 32]);
    let unknown = format!("{}=payments", "44".repeat(16));
    let stderr = env.fails(
        &["migrate", "rust-keyvault", "plain", "--name", &unknown],
        2,
    );
    assert!(stderr.contains(&"44".repeat(16)), "{stderr}");
    assert!(stderr.contains("no key read"), "{stderr}");
    assert!(
        env.json(&["key", "list"])["keys"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was migrated"
    );

    // The id is already in the vault under another name.
    let named = format!("{base_id}=payments");
    env.cmd()
        .args(["migrate", "rust-keyvault", "plain", "--name", &named])
        .assert()
        .success();
    let stderr = env.fails(&["migrate", "rust-keyvault", "plain", "--name", &named], 4);
    assert!(
        stderr.contains("1 key conflicts with a key already in the vault: payments"),
        "{stderr}"
    );
    env.cmd()
        .args(["key", "rename", "payments", "billing"])
        .assert()
        .success();
    let doc = env.json(&[
        "migrate",
        "rust-keyvault",
        "plain",
        "--name",
        &named,
        "--on-conflict",
        "replace",
    ]);
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("its id {base_id} is taken by the key billing")),
        "{reason}"
    );

    // The name is held by a different key.
    env.key("shop", &[]);
    let shop = format!("{base_id}=shop");
    let doc = env.json(&[
        "migrate",
        "rust-keyvault",
        "plain",
        "--name",
        &shop,
        "--on-conflict",
        "replace",
    ]);
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the name shop is taken by another key"),
        "{reason}"
    );
}

#[test]
fn counts_have_plurals_and_json_members_say_what_they_count() {
    let env = Env::new();
    env.key("files", &[]);
    std::fs::write(env.path("in.txt"), b"x").unwrap();
    let output = env
        .cmd()
        .args([
            "encrypt", "--key", "files", "--in", "in.txt", "--out", "c.kvs",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("encrypted 1 byte with"), "{stdout}");

    let doc = env.json(&[
        "encrypt", "--key", "files", "--in", "in.txt", "--out", "d.kvs",
    ]);
    assert_eq!(doc["plaintext_bytes"], 1);
    let sealed = std::fs::metadata(env.path("d.kvs")).unwrap().len();
    assert_eq!(doc["ciphertext_bytes"], sealed);
    assert!(doc.get("bytes").is_none(), "{doc}");
    let doc = env.json(&["decrypt", "--in", "d.kvs", "--out", "d.txt"]);
    assert_eq!(doc["plaintext_bytes"], 1);
    assert!(doc.get("bytes").is_none(), "{doc}");

    let output = env
        .cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", "a backup password")
        .args(["backup", "create", "--out", "one.kvbk"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" of 1 key to "), "{stdout}");
}

#[test]
fn errors_name_the_users_path_and_the_os_error_once() {
    let env = Env::new();
    env.key("files", &[]);
    std::fs::write(env.path("in.txt"), b"x").unwrap();
    let stderr = env.fails(
        &[
            "encrypt",
            "--key",
            "files",
            "--in",
            "in.txt",
            "--out",
            "missing-dir/c.kvs",
        ],
        5,
    );
    assert!(
        stderr.contains("cannot write missing-dir/c.kvs"),
        "{stderr}"
    );
    assert!(!stderr.contains(".partial"), "{stderr}");
    assert!(!stderr.contains(".keyvault-"), "{stderr}");

    let stderr = env.fails(&["backup", "inspect", "missing.kvbk"], 5);
    assert_eq!(stderr.matches("(os error ").count(), 1, "{stderr}");
}
