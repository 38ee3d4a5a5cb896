//! The edges of the `keyvault` binary: text that comes from files or other users is printed
//! with its control characters escaped, exit codes say whether the user or a file was wrong, a
//! closed pipe never ends in success, and `--out` never replaces a file without `--force`.

use crate::common;

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
    // Also on a terminal, where the argument parser's own messages would keep raw escapes.
    if let Some((code, shown)) = on_terminal_as(
        &env,
        "key show \"$(printf 'no\\033[2Jsuch')\"",
        "xterm-256color",
    ) {
        assert_eq!(code, 2, "{shown}");
        assert_no_raw_controls(shown.as_bytes(), "a usage error on a terminal");
        assert!(shown.contains("invalid key name"), "{shown}");
    }
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

#[test]
fn argon2_costs_out_of_range_exit_3_from_a_file_and_2_when_typed() {
    let env = Env::new();
    env.key("k1", &["--exportable"]);
    env.cmd()
        .env("KEYVAULT_EXPORT_PASSWORD", EXPORT_PASSWORD)
        .args(["export", "k1", "--out", "k1.json"])
        .assert()
        .success();
    let json = std::fs::read_to_string(env.path("k1.json")).unwrap();
    assert!(json.contains("\"memory_kib\": 19456"), "{json}");
    for (file, memory) in [("huge.json", "4194304"), ("weak.json", "8")] {
        std::fs::write(
            env.path(file),
            json.replace(
                "\"memory_kib\": 19456",
                &format!("\"memory_kib\": {memory}"),
            ),
        )
        .unwrap();
        let mut cmd = env.cmd();
        cmd.env("KEYVAULT_EXPORT_PASSWORD", EXPORT_PASSWORD);
        let out = cmd.args(["import", file]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    env.cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
        .args(["backup", "create", "--out", "full.kvb"])
        .assert()
        .success();
    let bytes = std::fs::read(env.path("full.kvb")).unwrap();
    // The Argon2 memory cost of a backup header sits at offset 101 (docs/FORMATS.md "Backup v2").
    assert_eq!(&bytes[101..105], &19_456u32.to_be_bytes());
    for (file, memory) in [("huge.kvb", 4u32 << 20), ("weak.kvb", 8)] {
        let mut patched = bytes.clone();
        patched[101..105].copy_from_slice(&memory.to_be_bytes());
        std::fs::write(env.path(file), patched).unwrap();
        for command in ["inspect", "verify"] {
            let mut cmd = env.cmd();
            cmd.env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD);
            let out = cmd.args(["backup", command, file]).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(3),
                "backup {command} {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // The same bounds typed by the user stay usage errors.
    let out = env
        .cmd()
        .env("KEYVAULT_ARGON2", "4194304,2,1")
        .args(["--vault", "other.db", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::create_dir(env.path("store")).unwrap();
    env.fails(
        &[
            "migrate",
            "rust-keyvault",
            "store",
            "--legacy-argon2",
            "4194304,3,4",
        ],
        2,
    );
}

/// Run `args` with stdout a pipe whose reading end is closed before the command writes (the
/// vault's Argon2 unlock comes first), as `keyvault ... | head -0` would.
fn run_into_closed_pipe(env: &Env, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(common::binary())
        .env_clear()
        .env("KEYVAULT_PATH", &env.vault)
        .env("KEYVAULT_PASSWORD", common::PASSWORD)
        .env("KEYVAULT_ARGON2", common::CHEAP_ARGON2)
        .env("KEYVAULT_ACTOR", "cli-test")
        .env("HOME", env.dir.path())
        .current_dir(env.dir.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_quietly_with_status_141() {
    let env = Env::new();
    for name in ["k1", "k2", "k3"] {
        env.key(name, &[]);
    }
    for args in [
        &["audit", "export"][..],
        &["--json", "audit", "export"],
        &["key", "list"],
        &["--json", "audit", "show"],
    ] {
        let out = run_into_closed_pipe(&env, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // `decrypt` streaming to a closed pipe also ends with 141, never a success.
    env.cmd()
        .args(["encrypt", "--key", "k1", "--out", "secret.kv"])
        .write_stdin(vec![7u8; 300_000])
        .assert()
        .success();
    let out = run_into_closed_pipe(&env, &["decrypt", "--in", "secret.kv"]);
    assert_eq!(
        out.status.code(),
        Some(141),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Write `file` in the test directory with known contents, run `args`, and check the file is
/// refused without `--force` (exit 1, unchanged) and replaced with it.
fn check_out_rule(env: &Env, file: &str, args: &[&str], stdin: &[u8]) {
    let path = env.path(file);
    std::fs::write(&path, b"precious").unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = env.cmd();
        cmd.env("KEYVAULT_EXPORT_PASSWORD", EXPORT_PASSWORD)
            .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
            .args(args)
            .args(extra)
            .write_stdin(stdin.to_vec());
        cmd.output().unwrap()
    };
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{args:?}: {stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious", "{args:?}");
    let out = run(&["--force"]);
    assert!(
        out.status.success(),
        "{args:?} --force: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(std::fs::read(&path).unwrap(), b"precious", "{args:?}");
}

#[test]
fn every_out_file_is_refused_if_it_exists_unless_force() {
    let env = Env::new();
    env.key("k1", &["--exportable"]);
    env.cmd()
        .args(["encrypt", "--key", "k1", "--out", "ct.kv"])
        .write_stdin("secret")
        .assert()
        .success();
    check_out_rule(
        &env,
        "ct2.kv",
        &["encrypt", "--key", "k1", "--out", "ct2.kv"],
        b"secret",
    );
    check_out_rule(
        &env,
        "stream.kv",
        &[
            "encrypt",
            "--key",
            "k1",
            "--in",
            "ct.kv",
            "--out",
            "stream.kv",
        ],
        b"",
    );
    check_out_rule(
        &env,
        "plain.txt",
        &["decrypt", "--in", "ct.kv", "--out", "plain.txt"],
        b"",
    );
    assert_eq!(std::fs::read(env.path("plain.txt")).unwrap(), b"secret");
    check_out_rule(
        &env,
        "plain2.bin",
        &["decrypt", "--in", "stream.kv", "--out", "plain2.bin"],
        b"",
    );
    check_out_rule(
        &env,
        "re.kv",
        &["rewrap", "--in", "ct.kv", "--out", "re.kv"],
        b"",
    );
    check_out_rule(
        &env,
        "audit.jsonl",
        &["audit", "export", "--out", "audit.jsonl"],
        b"",
    );
    check_out_rule(&env, "k1.json", &["export", "k1", "--out", "k1.json"], b"");
    check_out_rule(
        &env,
        "full.kvb",
        &["backup", "create", "--out", "full.kvb"],
        b"",
    );
    // The replaced backup is a whole, valid one.
    env.cmd()
        .env("KEYVAULT_BACKUP_PASSWORD", BACKUP_PASSWORD)
        .args(["backup", "verify", "full.kvb"])
        .assert()
        .success();
}

#[test]
fn armor_with_a_file_too_large_for_an_envelope_is_refused_up_front() {
    let env = Env::new();
    env.key("k1", &[]);
    // A sparse file one byte over the envelope limit: nothing is read before the refusal.
    let big = std::fs::File::create(env.path("big.bin")).unwrap();
    big.set_len((64 << 20) + 1).unwrap();
    drop(big);
    let stderr = env.fails(
        &[
            "encrypt", "--key", "k1", "--in", "big.bin", "--armor", "--out", "big.kv",
        ],
        2,
    );
    assert!(stderr.contains("drop --armor"), "{stderr}");
    assert!(!env.path("big.kv").exists());
    // Without --armor the same file is encrypted in the stream format.
    let small = env.path("small.txt");
    std::fs::write(&small, b"short").unwrap();
    let out = env.json(&[
        "encrypt",
        "--key",
        "k1",
        "--in",
        "small.txt",
        "--armor",
        "--out",
        "small.kv",
    ]);
    assert_eq!(out["format"], "envelope", "{out}");
}

/// Run `keyvault ARGS` with stdout on a pseudo-terminal (util-linux `script`); the exit code and
/// what the terminal showed, or `None` where `script` is missing.
fn on_terminal(env: &Env, args: &str) -> Option<(i32, String)> {
    on_terminal_as(env, args, "dumb")
}

/// [`on_terminal`] with `TERM` set to `term` (a colour terminal lets styled text through).
fn on_terminal_as(env: &Env, args: &str, term: &str) -> Option<(i32, String)> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())?;
    let command = format!(
        "'{}' --vault '{}' {args}",
        common::binary().display(),
        env.vault.display()
    );
    let out = std::process::Command::new(script)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", term)
        .env("KEYVAULT_PASSWORD", common::PASSWORD)
        .env("KEYVAULT_ARGON2", common::CHEAP_ARGON2)
        .env("HOME", env.dir.path())
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn decrypt_refuses_to_write_plaintext_to_a_terminal() {
    let env = Env::new();
    env.key("k1", &[]);
    env.cmd()
        .args(["encrypt", "--key", "k1", "--out", "ct.kv"])
        .write_stdin("\u{1b}]52;c;cGF5bG9hZA==\u{7}plaintext")
        .assert()
        .success();
    std::fs::write(env.path("file.txt"), b"a file's plaintext").unwrap();
    env.cmd()
        .args([
            "encrypt",
            "--key",
            "k1",
            "--in",
            "file.txt",
            "--out",
            "stream.kv",
        ])
        .assert()
        .success();
    // Plain text in an envelope is shown as it is.
    env.cmd()
        .args(["encrypt", "--key", "k1", "--armor", "--out", "text.kv"])
        .write_stdin("card 4111\n")
        .assert()
        .success();
    if let Some((code, shown)) = on_terminal(&env, "decrypt --in text.kv") {
        assert_eq!(code, 0, "{shown}");
        assert!(shown.contains("card 4111"), "{shown}");
    }
    // Anything else (escapes, binary) and any stream is refused.
    for input in ["ct.kv", "stream.kv"] {
        let Some((code, shown)) = on_terminal(&env, &format!("decrypt --in {input}")) else {
            eprintln!("skipped: no `script` to make a terminal");
            return;
        };
        assert_eq!(code, 2, "{input}: {shown}");
        assert!(
            !shown.contains("cGF5bG9hZA") && !shown.contains("a file's"),
            "{input}: {shown}"
        );
        assert!(shown.contains("--out FILE"), "{input}: {shown}");
    }
    // Into a pipe, or inside --json, it is fine.
    let out = env
        .cmd()
        .args(["decrypt", "--in", "ct.kv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, shown) = on_terminal(&env, "--json decrypt --in ct.kv").unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains(r#""plaintext": "\u001b]52;c;cGF5bG9hZA==\u0007plaintext""#),
        "{shown}"
    );
}

#[test]
fn a_vault_locked_by_another_process_fails_busy_with_exit_1_after_the_bound() {
    let env = Env::new();
    // Another process holds a write transaction on the vault file for the whole command.
    let other = rusqlite::Connection::open(&env.vault).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = env.cmd().args(["key", "create", "k1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the vault is busy"), "{stderr}");
    // Not a terminal: no "waiting" line, only the error.
    common::assert_one_sentence(&stderr);
    other.execute_batch("ROLLBACK").unwrap();
    env.key("k1", &[]);
}
