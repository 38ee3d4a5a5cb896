//! `keyvault slot`, `init --recovery/--shares` and `KEYVAULT_UNLOCK`: every slot kind opens the
//! vault on its own, and every bad secret gets its exit code with nothing changed.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::Env;

/// A vault made with `init --recovery --shares 2/3`, one key and one sealed message.
struct Custody {
    env: Env,
    recovery_key: String,
    shares: Vec<std::path::PathBuf>,
    sealed: std::path::PathBuf,
}

fn custody() -> Custody {
    let env = Env::empty();
    std::fs::create_dir(env.path("custody")).unwrap();
    let out = env
        .cmd()
        .args([
            "--json",
            "init",
            "--recovery",
            "--shares",
            "2/3",
            "--out-dir",
            "custody",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = common::parse_json(&out.stdout);
    let recovery_key = value["recovery_key"].as_str().unwrap().to_owned();
    let shares: Vec<_> = value["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|path| env.path(path.as_str().unwrap()))
        .collect();
    env.key("app", &[]);
    env.cmd()
        .args(["encrypt", "--key", "app", "--out", "sealed.kv"])
        .write_stdin("ledger")
        .assert()
        .success();
    let sealed = env.path("sealed.kv");
    Custody {
        env,
        recovery_key,
        shares,
        sealed,
    }
}

impl Custody {
    /// `decrypt` of the sealed message, opening the vault as `unlock` and `args` say, with no
    /// password in the environment.
    fn decrypt(&self, unlock: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = self.env.bare();
        for (name, value) in unlock {
            cmd.env(name, value);
        }
        cmd.args(args)
            .args(["decrypt", "--in"])
            .arg(&self.sealed)
            .output()
            .unwrap()
    }

    fn share(&self, index: usize) -> String {
        self.shares[index].display().to_string()
    }

    fn slot_list(&self) -> serde_json::Value {
        self.env.json(&["slot", "list"])
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_deals_a_recovery_key_and_private_share_files() {
    let c = custody();
    assert_eq!(c.recovery_key.len(), 8 * 8 + 7);
    assert_eq!(c.shares.len(), 3);
    for share in &c.shares {
        let mode = std::fs::metadata(share).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", share.display());
        let text = std::fs::read_to_string(share).unwrap();
        assert!(text.contains("any 2 open vault"), "{text}");
        assert!(!text.contains(&c.recovery_key));
    }
    let slots = c.slot_list();
    let kinds: Vec<_> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| slot["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["password", "recovery", "shares"]);
    // Existing share files are never overwritten.
    c.env
        .cmd()
        .args([
            "slot",
            "add",
            "shares",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out-dir",
            "custody",
        ])
        .assert()
        .code(1);
    assert_eq!(c.slot_list(), slots);
}

#[test]
fn the_recovery_key_opens_the_vault_and_bad_keys_exit_2_or_3() {
    let c = custody();
    let typed = c.recovery_key.to_lowercase().replace('-', " ");
    let out = c.decrypt(
        &[
            ("KEYVAULT_UNLOCK", "recovery"),
            ("KEYVAULT_RECOVERY_KEY", &typed),
        ],
        &[],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"ledger");

    // One character changed: the group is named, exit 2 (usage).
    let mut mistyped: Vec<char> = c.recovery_key.chars().collect();
    mistyped[30] = if mistyped[30] == 'Q' { 'R' } else { 'Q' };
    let mistyped: String = mistyped.into_iter().collect();
    let out = c.decrypt(
        &[
            ("KEYVAULT_UNLOCK", "recovery"),
            ("KEYVAULT_RECOVERY_KEY", &mistyped),
        ],
        &[],
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("group 4 of 8"), "{}", stderr(&out));

    // Another vault's recovery key: authentication fails, exit 3.
    let other = custody();
    let out = c.decrypt(
        &[
            ("KEYVAULT_UNLOCK", "recovery"),
            ("KEYVAULT_RECOVERY_KEY", &other.recovery_key),
        ],
        &[],
    );
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not open this vault"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(&other.recovery_key));
    // An unknown unlock method is a usage error.
    let out = c.decrypt(&[("KEYVAULT_UNLOCK", "telepathy")], &[]);
    assert_eq!(code(&out), Some(2));
}

#[test]
fn a_lost_password_is_replaced_through_the_recovery_key() {
    let c = custody();
    c.env
        .bare()
        .env("KEYVAULT_UNLOCK", "recovery")
        .env("KEYVAULT_RECOVERY_KEY", &c.recovery_key)
        .env("KEYVAULT_NEW_PASSWORD", "a new and better passphrase")
        .arg("passwd")
        .assert()
        .success();
    let out = c.decrypt(&[("KEYVAULT_PASSWORD", common::PASSWORD)], &[]);
    assert_eq!(code(&out), Some(3));
    let out = c.decrypt(&[("KEYVAULT_PASSWORD", "a new and better passphrase")], &[]);
    assert_eq!(out.stdout, b"ledger");
    // The recovery and shares slots are still there.
    let out = c
        .env
        .bare()
        .env("KEYVAULT_PASSWORD", "a new and better passphrase")
        .args(["--json", "slot", "list"])
        .output()
        .unwrap();
    let slots = common::parse_json(&out.stdout);
    assert_eq!(slots["slots"].as_array().unwrap().len(), 3, "{slots}");
}

#[test]
fn any_two_shares_open_the_vault_and_bad_shares_get_their_own_error() {
    let c = custody();
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let out = c.decrypt(&[], &["--share", &c.share(a), "--share", &c.share(b)]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        assert_eq!(out.stdout, b"ledger");
    }
    // Too few (no terminal to ask for more), or the same share twice: exit 2.
    let out = c.decrypt(&[], &["--share", &c.share(0)]);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("1 of 3 shares given"),
        "{}",
        stderr(&out)
    );
    let out = c.decrypt(&[], &["--share", &c.share(1), "--share", &c.share(1)]);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("given twice"), "{}", stderr(&out));
    // A share of another vault: exit 3.
    let other = custody();
    let out = c.decrypt(&[], &["--share", &c.share(0), "--share", &other.share(1)]);
    assert_eq!(code(&out), Some(3));
    assert!(stderr(&out).contains("another vault"), "{}", stderr(&out));
    // A mistyped share: its checksum fails, exit 2.
    let text = std::fs::read_to_string(&c.shares[2]).unwrap();
    let line = text.lines().last().unwrap();
    let mut damaged: Vec<char> = line.chars().collect();
    damaged[20] = if damaged[20] == 'Q' { 'R' } else { 'Q' };
    let damaged: String = damaged.into_iter().collect();
    std::fs::write(c.env.path("damaged.txt"), damaged).unwrap();
    let out = c.decrypt(&[], &["--share", &c.share(0), "--share", "damaged.txt"]);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
}

#[test]
fn custodians_verify_shares_without_the_password() {
    let c = custody();
    let mut cmd = c.env.bare();
    cmd.args(["--json", "slot", "verify-share"]);
    for share in &c.shares {
        cmd.arg(share);
    }
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let value = common::parse_json(&out.stdout);
    assert_eq!(value["verified"].as_array().unwrap().len(), 3);
    let other = custody();
    let out = c
        .env
        .bare()
        .args(["slot", "verify-share"])
        .arg(&other.shares[0])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
}

#[test]
fn slots_are_removed_but_never_the_last() {
    let c = custody();
    c.env.cmd().args(["slot", "remove", "2"]).assert().success();
    c.env.cmd().args(["slot", "remove", "1"]).assert().success();
    let stderr = c.env.fails(&["slot", "remove", "0"], 4);
    assert!(stderr.contains("last"), "{stderr}");
    c.env.fails(&["slot", "remove", "7"], 5);
    let out = c.decrypt(
        &[
            ("KEYVAULT_UNLOCK", "recovery"),
            ("KEYVAULT_RECOVERY_KEY", &c.recovery_key),
        ],
        &[],
    );
    assert_eq!(code(&out), Some(5), "{}", self::stderr(&out));
    let audit = c.env.json(&["audit", "show", "--op", "remove_slot"]);
    assert_eq!(audit["records"].as_array().unwrap().len(), 4, "{audit}");
}
