//! docs/GUIDE.md run as a script: every `console` block, command by command and in order,
//! starting in the repository's root with a fresh temporary home directory and the built
//! `keyvault` first on `PATH`; each command's output
//! (stdout and stderr together) must be the output shown under it, and its exit status 0, or
//! the status named by a trailing `# exit N` comment.
//!
//! The markdown convention (also described in docs/TESTING.md):
//! - a ```` ```console ```` block is run: a line starting `$ ` is a command, the lines after it
//!   up to the next command are its expected output;
//! - any other block (```` ```sh ````, ```` ```text ````, ...) is illustrative and not run.
//!
//! Times, dates, key ids, hashes, armoured ciphertext bodies and similar varying parts are
//! masked on both sides before comparing (see [`MASKS`]), so the guide keeps realistic values.
//!
//! `KEYVAULT_WRITE_GUIDE=1 cargo test -p keyvault-cli --test it guide::` rewrites the expected outputs
//! (and `# exit N` comments) in docs/GUIDE.md from the real run, keeping every line whose masked
//! form did not change, so a changed message elsewhere is reconciled in one command.
//! `KEYVAULT_WRITE_GUIDE=all` takes every line from the run (fresh, consistent times and ids).

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;

use regex::Regex;

/// The variable that switches the test from checking the guide to rewriting its outputs.
const WRITE_ENV: &str = "KEYVAULT_WRITE_GUIDE";

/// The home directory the guide shows in place of the test's temporary one.
const SHOWN_HOME: &str = "/home/you";

/// Varying parts of an output line and what they become before comparing.
static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // RFC 3339 times as the CLI prints them (always UTC).
        (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>"),
        // `ls -l`: links, owner, group and modification time (mode and size are checked).
        (
            r"^([-dl][-rwxsStT]{9}[.+@]?) +\d+ +\S+ +\S+ +(\d+) +\w{3} +\d+ +(\d\d:\d\d|\d{4}) ",
            "$1 <n> <owner> <group> $2 <mtime> ",
        ),
        // Hashes, MACs, backup ids and salts (64 hex digits), then key ids (32).
        (r"\b[0-9a-f]{64}\b", "<hash>"),
        (r"\b[0-9a-f]{32}\b", "<id>"),
        // Armoured ciphertexts: the prefix and the first bytes (magic, version) stay checked.
        (r"\b(kv\d+:[A-Za-z0-9_-]{8})[A-Za-z0-9_-]*", "$1<body>"),
        // Unix milliseconds (export times).
        (r"\b1\d{12}\b", "<millis>"),
        // Ages in seconds, which depend on how long the previous commands took.
        (r"\b\d+ s old\b", "<n> s old"),
        // Sizes of compressed backups, which vary with the random key material.
        (r"\b\d+ bytes on disk\b", "<n> bytes on disk"),
        (r"\((\d+) bytes(, audit log included)?\)", "(<n> bytes$2)"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).unwrap(), replacement))
    .collect()
});

/// One line with its varying parts masked.
fn mask(line: &str) -> String {
    let mut line = line.to_owned();
    for (pattern, replacement) in MASKS.iter() {
        line = pattern.replace_all(&line, *replacement).into_owned();
    }
    line
}

/// One `$ ` command of a console block.
struct Step {
    /// Line number (1-based) of the command in the guide.
    line: usize,
    /// The command as bash runs it (the `# exit N` comment is harmless there).
    command: String,
    /// The exit status the guide expects.
    expected_status: i32,
    /// Index of the first expected output line in the guide's lines, and how many there are.
    output_start: usize,
    output_len: usize,
}

/// A trailing `# exit N` comment naming the expected exit status.
static EXIT_COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+# exit (\d+)$").unwrap());

/// The commands of every console block, in order.
fn parse(lines: &[&str]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut fence: Option<bool> = None; // Some(is console) inside a block
    for (index, line) in lines.iter().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            fence = match fence {
                None => Some(info.trim() == "console"),
                Some(_) => None,
            };
            continue;
        }
        if fence != Some(true) {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            let expected_status = EXIT_COMMENT
                .captures(command)
                .map_or(0, |captures| captures[1].parse().unwrap());
            steps.push(Step {
                line: index + 1,
                command: command.to_owned(),
                expected_status,
                output_start: index + 1,
                output_len: 0,
            });
        } else {
            let step = steps
                .last_mut()
                .unwrap_or_else(|| panic!("GUIDE.md:{}: output before any command", index + 1));
            assert_eq!(
                step.output_start + step.output_len,
                index,
                "GUIDE.md:{}: output after the end of its block",
                index + 1
            );
            step.output_len += 1;
        }
    }
    assert!(fence.is_none(), "GUIDE.md: a code block is not closed");
    steps
}

/// Runs the guide's commands one by one, carrying exported variables and the working directory
/// from each command to the next as an interactive shell would.
struct Shell {
    home: PathBuf,
    state: PathBuf,
    output: PathBuf,
    path: String,
}

impl Shell {
    fn new(root: &Path) -> Self {
        let home = root.join("home");
        let harness = root.join("harness");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&harness).unwrap();
        let state = harness.join("state.sh");
        // The guide starts where its build step left the reader: in the repository's root.
        std::fs::write(&state, format!("cd '{}'\n", repository().display())).unwrap();
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_keyvault"));
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            binary.parent().unwrap().display()
        );
        Shell {
            home,
            output: harness.join("output"),
            state,
            path,
        }
    }

    /// Run one command; its output (stdout and stderr interleaved, as on a terminal) with the
    /// home directory shown as [`SHOWN_HOME`], and its exit status.
    fn run(&self, step: &Step) -> (Vec<String>, i32) {
        // Without a `# exit N` comment the command must succeed as a whole: `set -e` stops at the
        // first failing part, so a failure cannot hide behind a later `;`.
        let errexit = if step.expected_status == 0 {
            "set -e"
        } else {
            ""
        };
        let script = format!(
            "__kv_state='{state}'\n\
             umask 022\n\
             source \"$__kv_state\"\n\
             trap '__kv_status=$?; {{ export -p; printf \"cd %q\\n\" \"$PWD\"; }} > \"$__kv_state\"; exit $__kv_status' EXIT\n\
             {errexit}\n\
             {command}\n",
            state = self.state.display(),
            command = step.command,
        );
        let out = File::create(&self.output).unwrap();
        let status = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .status()
            .unwrap();
        let text = std::fs::read(&self.output).unwrap();
        let text =
            String::from_utf8_lossy(&text).replace(&*self.home.to_string_lossy(), SHOWN_HOME);
        let lines = text.lines().map(str::to_owned).collect();
        (lines, status.code().unwrap_or(-1))
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn guide_path() -> PathBuf {
    repository().join("docs/GUIDE.md")
}

#[test]
fn the_guide_runs_as_written() {
    if !cfg!(debug_assertions) {
        // The guide moves the clock with KEYVAULT_TEST_NOW, which release builds ignore.
        eprintln!("skipped: docs/GUIDE.md is checked with debug builds only");
        return;
    }
    let write = std::env::var(WRITE_ENV).ok();
    let text = std::fs::read_to_string(guide_path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let steps = parse(&lines);
    assert!(
        steps.len() > 50,
        "GUIDE.md has only {} commands",
        steps.len()
    );

    let root = tempfile::tempdir().unwrap();
    let shell = Shell::new(root.path());
    // The guide's analysis examples use jq. Without it, those commands (which nothing later
    // depends on) are skipped with a note, so the suite needs nothing but Rust; CI installs jq
    // and sets KEYVAULT_GUIDE_REQUIRE_JQ, so there every command is checked.
    let has_jq = Command::new("bash")
        .args(["-c", "command -v jq"])
        .env("PATH", &shell.path)
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        has_jq || std::env::var_os("KEYVAULT_GUIDE_REQUIRE_JQ").is_none(),
        "docs/GUIDE.md uses jq (section 6) and KEYVAULT_GUIDE_REQUIRE_JQ is set: install jq"
    );
    assert!(
        has_jq || write.is_none(),
        "rewriting docs/GUIDE.md needs jq, to run every command"
    );
    let mut skipped = 0;
    let mut report = String::new();
    // New output lines per step, for the rewrite.
    let mut rewritten: Vec<(Vec<String>, i32)> = Vec::new();
    for step in &steps {
        let expected = &lines[step.output_start..step.output_start + step.output_len];
        if !has_jq && uses_jq(&step.command) {
            skipped += 1;
            rewritten.push((
                expected.iter().map(|line| (*line).to_owned()).collect(),
                step.expected_status,
            ));
            continue;
        }
        let (actual, status) = shell.run(step);
        let same_output = expected.len() == actual.len()
            && expected
                .iter()
                .zip(&actual)
                .all(|(expected, actual)| mask(expected) == mask(actual));
        if !same_output || status != step.expected_status {
            writeln!(
                report,
                "GUIDE.md:{}: $ {}\n  exit status {status} (expected {})\n  expected output:\n{}  actual output:\n{}",
                step.line,
                step.command,
                step.expected_status,
                indent(expected.iter().map(|line| line.to_string())),
                indent(actual.iter().cloned()),
            )
            .unwrap();
        }
        // Keep every expected line whose masked form is unchanged, so a rewrite changes only
        // what the program now prints differently (`all` takes every line from this run, for
        // one consistent set of times and ids).
        let merged = actual
            .iter()
            .enumerate()
            .map(|(index, actual)| match expected.get(index) {
                Some(expected)
                    if mask(expected) == mask(actual) && write.as_deref() != Some("all") =>
                {
                    (*expected).to_owned()
                }
                _ => actual.clone(),
            })
            .collect();
        rewritten.push((merged, status));
    }

    if write.is_some() {
        let new_text = rewrite(&lines, &steps, &rewritten);
        if new_text != text {
            std::fs::write(guide_path(), new_text).unwrap();
            eprintln!("rewrote docs/GUIDE.md; check the prose around changed outputs:\n{report}");
        }
        return;
    }
    assert!(
        report.is_empty(),
        "docs/GUIDE.md does not match the program:\n{report}\n\
         If the program is right, run `{WRITE_ENV}=1 cargo test -p keyvault-cli --test it guide::` \
         to rewrite the shown outputs, then check the prose around them."
    );
    if skipped > 0 {
        eprintln!(
            "note: jq is not installed: {skipped} commands of docs/GUIDE.md were not checked"
        );
    }
}

/// Whether a guide command runs jq (a word of its own, not part of another).
fn uses_jq(command: &str) -> bool {
    command
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .any(|word| word == "jq")
}

fn indent(lines: impl Iterator<Item = String>) -> String {
    lines.map(|line| format!("    | {line}\n")).collect()
}

/// The guide with each command's output (and `# exit N` comment) replaced by the real ones.
fn rewrite(lines: &[&str], steps: &[Step], outputs: &[(Vec<String>, i32)]) -> String {
    let mut new_lines: Vec<String> = Vec::new();
    let mut next = 0;
    for (step, (output, status)) in steps.iter().zip(outputs) {
        let command_index = step.line - 1;
        new_lines.extend(
            lines[next..command_index]
                .iter()
                .map(|line| line.to_string()),
        );
        let command = EXIT_COMMENT.replace(&step.command, "").into_owned();
        if *status == 0 {
            new_lines.push(format!("$ {command}"));
        } else {
            new_lines.push(format!("$ {command}   # exit {status}"));
        }
        new_lines.extend(output.iter().cloned());
        next = step.output_start + step.output_len;
    }
    new_lines.extend(lines[next..].iter().map(|line| line.to_string()));
    let mut text = new_lines.join("\n");
    text.push('\n');
    text
}

#[test]
fn masks_hide_only_the_varying_parts() {
    assert_eq!(
        mask("created 2026-11-29T15:48:39.319Z and 2027-01-01T00:00:00Z"),
        "created <time> and <time>"
    );
    assert_eq!(
        mask("-rw------- 1 root root 12288 Nov 29 15:48 demo.vault"),
        "-rw------- <n> <owner> <group> 12288 <mtime> demo.vault"
    );
    assert_eq!(
        mask("key 68562aaf627e7c9b205a6a98b7800cef v1"),
        "key <id> v1"
    );
    assert_eq!(
        mask("kv2:S1ZFAgFoViqvYn58myBaapi3gAzv"),
        "kv2:S1ZFAgFo<body>"
    );
    // A different envelope version is not masked away.
    assert_ne!(mask("kv1:S1ZFAQFoViqv"), mask("kv1:S1ZFAgFoViqv"));
    assert_eq!(mask("12288 bytes"), "12288 bytes");
}

#[test]
fn commands_outputs_and_exit_comments_are_parsed() {
    let guide =
        "text\n```sh\n$ not run\n```\n```console\n$ a\nout 1\n\nout 2\n$ b   # exit 3\n```\n";
    let lines: Vec<&str> = guide.lines().collect();
    let steps = parse(&lines);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].command, "a");
    assert_eq!(
        &lines[steps[0].output_start..steps[0].output_start + steps[0].output_len],
        ["out 1", "", "out 2"]
    );
    assert_eq!(steps[1].expected_status, 3);
    assert_eq!(steps[1].output_len, 0);
    let outputs = vec![(vec!["new".to_owned()], 0), (vec![], 4)];
    assert_eq!(
        rewrite(&lines, &steps, &outputs),
        "text\n```sh\n$ not run\n```\n```console\n$ a\nnew\n$ b   # exit 4\n```\n"
    );
}

#[test]
fn only_commands_that_run_jq_are_skipped_without_it() {
    assert!(uses_jq(
        "jq -c 'select(.outcome==\"error\")' audit.jsonl | head -2"
    ));
    assert!(uses_jq("keyvault --json audit verify | jq -r .head"));
    assert!(!uses_jq("keyvault audit export --out audit.jsonl"));
    assert!(!uses_jq("echo jquery-jq2 > x"));
}
