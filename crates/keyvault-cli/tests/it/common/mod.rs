//! Helpers shared by the CLI's integration tests: a temporary directory with a vault in it,
//! and the built `keyvault` binary run against it with cheap Argon2 costs and passwords from
//! the environment.

#![allow(unreachable_pub)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The vault password every test vault uses.
pub const PASSWORD: &str = "correct horse battery staple";
/// The cheapest Argon2id cost keyvault accepts (OWASP's 19 MiB, 2 passes, 1 lane).
pub const CHEAP_ARGON2: &str = "19456,2,1";

/// Every variable the binary reads, removed so the caller's environment cannot leak in.
const VARIABLES: &[&str] = &[
    "KEYVAULT_PATH",
    "KEYVAULT_PASSWORD",
    "KEYVAULT_PASSWORD_FILE",
    "KEYVAULT_NEW_PASSWORD",
    "KEYVAULT_NEW_PASSWORD_FILE",
    "KEYVAULT_EXPORT_PASSWORD",
    "KEYVAULT_EXPORT_PASSWORD_FILE",
    "KEYVAULT_BACKUP_PASSWORD",
    "KEYVAULT_BACKUP_PASSWORD_FILE",
    "KEYVAULT_MIGRATE_PASSWORD",
    "KEYVAULT_MIGRATE_PASSWORD_FILE",
    "KEYVAULT_UNLOCK",
    "KEYVAULT_RECOVERY_KEY",
    "KEYVAULT_RECOVERY_KEY_FILE",
    "KEYVAULT_PKCS11_MODULE",
    "KEYVAULT_PKCS11_PIN",
    "KEYVAULT_PKCS11_PIN_FILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "KEYVAULT_ARGON2",
    "KEYVAULT_ACTOR",
    "KEYVAULT_TEST_NOW",
    "XDG_DATA_HOME",
];

/// The built binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyvault"))
}

/// A temporary directory with (optionally) a vault at `vault.db`.
pub struct Env {
    pub dir: TempDir,
    pub vault: PathBuf,
}

impl Env {
    /// A directory with no vault yet.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault.db");
        Env { dir, vault }
    }

    /// A directory with an initialised vault.
    pub fn new() -> Self {
        let env = Env::empty();
        env.cmd().arg("init").assert().success();
        env
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a clean environment: the vault path, the vault password and cheap
    /// Argon2 costs set, running in the directory.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("KEYVAULT_PASSWORD", PASSWORD);
        cmd
    }

    /// As [`Env::cmd`] but without a vault password.
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(binary());
        for variable in VARIABLES {
            cmd.env_remove(variable);
        }
        cmd.env("KEYVAULT_PATH", &self.vault)
            .env("KEYVAULT_ARGON2", CHEAP_ARGON2)
            .env("KEYVAULT_ACTOR", "cli-test")
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path());
        cmd
    }

    /// Run `args` with `--json`, expect success, and parse stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let output = self.cmd().arg("--json").args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_json(&output.stdout)
    }

    /// Run `args` and expect exit code `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: expected exit code {code}; stderr: {stderr}"
        );
        assert_one_sentence(&stderr);
        stderr
    }

    /// Create a key with extra arguments.
    pub fn key(&self, name: &str, extra: &[&str]) {
        self.cmd()
            .args(["key", "create", name])
            .args(extra)
            .assert()
            .success();
    }
}

/// Parse exactly one JSON document.
pub fn parse_json(stdout: &[u8]) -> Value {
    let text = std::str::from_utf8(stdout).unwrap();
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not one JSON document ({err}): {text}"))
}

/// An error report is one line starting `keyvault: `, with no panic or backtrace in it.
pub fn assert_one_sentence(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("keyvault: warning:"))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].starts_with("keyvault: ")
            || errors
                .first()
                .is_some_and(|line| line.starts_with("error: ")),
        "not one sentence: {stderr:?}"
    );
}

/// Every entry of a directory, by name.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
