//! `keyvault slot add pkcs11` and unattended unlock through a SoftHSM2 token, configured as in
//! keyvault-custody's tests (`.ci/run` sets the variables; without them the test skips loudly
//! unless `KEYVAULT_REQUIRE_PKCS11` is set).

use crate::common;

use common::Env;
use keyvault_test_support::custodians::{make_aes_key, token_session};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Make an AES key labelled `label` on the test token.
fn make_key(module: &str, token: &str, pin: &str, label: &str) {
    make_aes_key(&token_session(module, token, pin), label);
}

#[test]
fn a_pkcs11_slot_opens_the_vault_without_a_password() {
    let (Some(module), Some(token), Some(pin)) = (
        var("KEYVAULT_TEST_PKCS11_MODULE"),
        var("KEYVAULT_TEST_PKCS11_TOKEN"),
        var("KEYVAULT_TEST_PKCS11_PIN"),
    ) else {
        assert!(
            std::env::var_os("KEYVAULT_REQUIRE_PKCS11").is_none(),
            "KEYVAULT_REQUIRE_PKCS11 is set but no PKCS#11 test token is configured"
        );
        eprintln!("SKIPPED: no PKCS#11 test token (see keyvault-custody's tests)");
        return;
    };
    let label = format!("kv-cli-{}", std::process::id());
    make_key(&module, &token, &pin, &label);
    let env = Env::new();
    env.key("app", &[]);
    env.cmd()
        .env("KEYVAULT_PKCS11_PIN", &pin)
        .args([
            "slot", "add", "pkcs11", "--module", &module, "--token", &token,
        ])
        .args(["--key", &label])
        .assert()
        .success();
    let slots = env.json(&["slot", "list"]);
    let pkcs11 = &slots["slots"][1];
    assert_eq!(pkcs11["provider"], "pkcs11");
    assert_eq!(pkcs11["settings"]["key"], label.as_str());
    assert!(!slots.to_string().contains(&pin));

    // Unattended: no password, the module and PIN from the environment.
    let unattended = |pin: &str| {
        env.bare()
            .env("KEYVAULT_PKCS11_MODULE", &module)
            .env("KEYVAULT_PKCS11_PIN", pin)
            .args(["--json", "key", "list"])
            .output()
            .unwrap()
    };
    let out = unattended(&pin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A wrong PIN: authentication fails (exit 3), and the password still opens the vault.
    let out = unattended("not-the-pin");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not-the-pin"));
    env.cmd().args(["key", "list"]).assert().success();
    // A module that is not there: exit 1 with the path named.
    let out = env
        .bare()
        .env("KEYVAULT_UNLOCK", "pkcs11")
        .env("KEYVAULT_PKCS11_MODULE", "/nonexistent/module.so")
        .env("KEYVAULT_PKCS11_PIN", &pin)
        .args(["key", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/module.so"));
}
