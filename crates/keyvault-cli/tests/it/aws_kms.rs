//! `keyvault slot add aws-kms` and unattended unlock through a local KMS (moto), as in
//! keyvault-custody's tests: `.ci/run` names it in `KEYVAULT_TEST_KMS_ENDPOINT`; without it the
//! test skips loudly unless `KEYVAULT_REQUIRE_KMS` is set.

use crate::common;

use common::Env;
use keyvault_test_support::custodians::kms_admin;
use serde_json::json;

#[test]
fn a_kms_slot_opens_the_vault_without_a_password() {
    let Some(endpoint) = std::env::var("KEYVAULT_TEST_KMS_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        assert!(
            std::env::var_os("KEYVAULT_REQUIRE_KMS").is_none(),
            "KEYVAULT_REQUIRE_KMS is set but KEYVAULT_TEST_KMS_ENDPOINT is not"
        );
        eprintln!("SKIPPED: no local KMS (see keyvault-custody's tests/aws_kms.rs)");
        return;
    };
    let key_id = kms_admin(&endpoint, "CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let env = Env::new();
    env.key("app", &[]);
    let aws = |cmd: &mut assert_cmd::Command| {
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_KMS", &endpoint);
    };
    let mut add = env.cmd();
    aws(&mut add);
    let out = add
        .args(["slot", "add", "aws-kms", "--key-id", &key_id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Unattended: AWS credentials configured, no password.
    let mut list = env.bare();
    aws(&mut list);
    let out = list.args(["--json", "slot", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let slots = common::parse_json(&out.stdout);
    assert_eq!(slots["slots"][1]["provider"], "aws-kms");
    assert_eq!(slots["slots"][1]["settings"]["key_id"], key_id.as_str());
    assert!(!slots.to_string().contains("testing-secret"));

    // `init` can start a vault with a KMS slot too.
    let second = Env::empty();
    let mut init = second.cmd();
    aws(&mut init);
    let out = init
        .args(["--json", "init", "--aws-kms-key-id", &key_id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::parse_json(&out.stdout)["providers"][0], "aws-kms");
    let mut opened = second.bare();
    aws(&mut opened);
    opened.args(["key", "list"]).assert().success();

    // The key disabled: refused (exit 4), the secret never printed, the password still works.
    kms_admin(&endpoint, "DisableKey", &json!({ "KeyId": key_id }));
    let mut refused = env.bare();
    aws(&mut refused);
    let out = refused.args(["key", "list"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Disabled"), "{stderr}");
    assert!(!stderr.contains("testing-secret"));
    env.cmd().args(["key", "list"]).assert().success();

    // The endpoint down: a clear error naming it, exit 1.
    let mut down = env.bare();
    aws(&mut down);
    let out = down
        .env("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9")
        .env("KEYVAULT_UNLOCK", "aws-kms")
        .args(["key", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
}
