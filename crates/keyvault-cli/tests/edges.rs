//! The edges of the `keyvault` binary: text that comes from files or other users is printed
//! with its control characters escaped, exit codes say whether the user or a file was wrong, a
//! closed pipe never ends in success, and `--out` never replaces a file without `--force`.
// Test code: a panic is a test failure, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Env, parse_json};

const BACKUP_PASSWORD: &str = "backup password";
const EXPORT_PASSWORD: &str = "export password";

/// Bytes that would steer a terminal: ESC, BEL, and the C1 CSI.
fn assert_no_raw_controls(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !bytes.contains(&0x1b) && !bytes.contains(&0x07) && !text.contains('\u{9b}'),
        "{what} holds a raw control character: {text:?}"
    );
    assert!(
        !text.contains('\u{202e}'),
        "{what} holds a raw bidi override: {text:?}"
    );
}

/// Clear the screen and set the clipboard (OSC 52), as a hostile comment would.
const HOSTILE: &str = "hello\u{1b}[2J\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}world";

#[test]
fn backup_inspect_escapes_a_hostile_comment() {
    let env = Env::new();
    env.cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
        .args(["backup", "create", "--out", "b.kvb", "--comment", HOSTILE])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["backup", "inspect", "b.kvb"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_no_raw_controls(&out.stdout, "backup inspect");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r"hello\u{1b}[2J\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}world"),
        "{text}"
    );
    // The JSON form carries the exact string (serde writes the controls as \u escapes).
    let out = env
        .cmd()
        .args(["--json", "backup", "inspect", "b.kvb"])
        .output()
        .unwrap();
    assert_no_raw_controls(&out.stdout, "backup inspect --json");
    assert_eq!(parse_json(&out.stdout)["comment"], HOSTILE);
}

#[test]
fn key_show_and_list_escape_descriptions_and_the_error_line_escapes_input() {
    let env = Env::new();
    // A description may hold line breaks, and a bidi override is not a control character to
    // the library: neither may forge or reorder lines of `key show`.
    let description = "first\nstate         destroyed\u{202e}exe.txt";
    env.key("k1", &["--description", description]);
    let out = env.cmd().args(["key", "show", "k1"]).output().unwrap();
    assert!(out.status.success());
    assert_no_raw_controls(&out.stdout, "key show");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r"first\nstate         destroyed\u{202e}exe.txt"),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("state         destroyed"))
    );
    let out = env
        .cmd()
        .args(["--json", "key", "show", "k1"])
        .output()
        .unwrap();
    assert_eq!(parse_json(&out.stdout)["description"], description);
    let out = env.cmd().args(["key", "list"]).output().unwrap();
    assert_no_raw_controls(&out.stdout, "key list");

    // A key description with ESC is refused, and the refusal quoting it is escaped.
    let out = env
        .cmd()
        .args(["key", "create", "k2", "--description", HOSTILE])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_no_raw_controls(&out.stderr, "the error line");
    // So is a name the user typed, quoted back in a not-found error.
    let out = env
        .cmd()
        .args(["key", "show", "no\u{1b}[2Jsuch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_no_raw_controls(&out.stderr, "the error line");
}

#[test]
fn audit_show_escapes_actors() {
    let env = Env::new();
    env.cmd()
        .env("KEYVAULT_ACTOR", "mallory\u{1b}[2J\u{9b}31m")
        .args(["key", "create", "k1"])
        .assert()
        .success();
    let out = env.cmd().args(["audit", "show"]).output().unwrap();
    assert!(out.status.success());
    assert_no_raw_controls(&out.stdout, "audit show");
    let records = &env.json(&["audit", "show"])["records"];
    let actors: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["actor"].as_str())
        .collect();
    assert!(actors.contains(&"mallory\u{1b}[2J\u{9b}31m"), "{actors:?}");
}
