//! The checks that run cargo: formatting, clippy and rustdoc over the whole workspace.
//!
//! Output is captured; only a failure shows its tail.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use super::Outcome;

/// Lines of output shown for a failed command.
const TAIL_LINES: usize = 40;

/// What a finished command printed.
pub(crate) struct Ran {
    /// Exit status was success.
    pub(crate) success: bool,
    /// How it ended, for the table.
    pub(crate) status: String,
    /// stdout alone.
    pub(crate) stdout: String,
    /// stdout followed by stderr.
    pub(crate) output: String,
}

/// Runs `cargo args...` in `root`, capturing its output.
pub(crate) fn run_cargo(root: &Path, args: &[&str], env: &[(&str, OsString)]) -> Ran {
    let mut command = Command::new(crate::cargo_program());
    command.args(args).current_dir(root);
    for (name, value) in env {
        command.env(name, value);
    }
    match command.output() {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            Ran {
                success: output.status.success(),
                status: output.status.to_string(),
                output: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
                stdout,
            }
        }
        Err(err) => Ran {
            success: false,
            status: "not started".to_owned(),
            stdout: String::new(),
            output: format!("cannot run cargo {}: {err}", args.join(" ")),
        },
    }
}

/// The last `TAIL_LINES` lines of `output`.
pub(crate) fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines.get(start..).unwrap_or_default().join("\n")
}

/// The command line, for the table.
fn command_line(args: &[&str]) -> String {
    format!("cargo {}", args.join(" "))
}

/// An outcome from a finished command: pass, or fail with `summary` and the output's tail.
fn outcome(args: &[&str], ran: &Ran, summary: impl FnOnce(&str) -> String) -> Outcome {
    if ran.success {
        Outcome::pass(format!("`{}` clean", command_line(args)))
    } else {
        let mut outcome = Outcome::fail(format!(
            "`{}`: {} ({})",
            command_line(args),
            summary(&ran.output),
            ran.status
        ));
        outcome.tail = Some(tail(&ran.output));
        outcome
    }
}

/// `cargo fmt --all -- --check`.
pub(crate) fn fmt(root: &Path) -> Outcome {
    let args = ["fmt", "--all", "--", "--check"];
    let ran = run_cargo(root, &args, &[]);
    outcome(&args, &ran, |output| {
        let mut files: Vec<String> = output
            .lines()
            .filter_map(|line| line.strip_prefix("Diff in "))
            .map(|rest| {
                // "Diff in /path/file.rs:12:" or "... at line 12:"
                let path = rest.split(" at line").next().unwrap_or(rest);
                let path = path.trim_end_matches(':');
                let path = path.split(':').next().unwrap_or(path);
                super::shown(root, Path::new(path))
            })
            .collect();
        files.sort();
        files.dedup();
        if files.is_empty() {
            "rustfmt failed".to_owned()
        } else {
            format!(
                "{} file(s) not formatted: {}",
                files.len(),
                files.join(", ")
            )
        }
    })
}

/// `cargo clippy --workspace --all-targets --all-features --locked -- -D warnings`.
pub(crate) fn clippy(root: &Path) -> Outcome {
    let args = [
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ];
    let ran = run_cargo(root, &args, &[]);
    outcome(&args, &ran, first_error)
}

/// `cargo doc --workspace --no-deps --locked` with `RUSTDOCFLAGS=-D warnings`.
pub(crate) fn doc(root: &Path) -> Outcome {
    let args = ["doc", "--workspace", "--no-deps", "--locked"];
    let mut flags = std::env::var_os("RUSTDOCFLAGS").unwrap_or_default();
    // CI already exports `-D warnings`; adding it twice would only look odd.
    if !flags.to_string_lossy().contains("-D warnings") {
        if !flags.is_empty() {
            flags.push(" ");
        }
        flags.push("-D warnings");
    }
    let ran = run_cargo(root, &args, &[("RUSTDOCFLAGS", flags)]);
    let mut outcome = outcome(&args, &ran, first_error);
    if ran.success {
        outcome.detail = format!(
            "`RUSTDOCFLAGS=\"-D warnings\" {}` clean",
            command_line(&args)
        );
    }
    outcome
}

/// `cargo test --locked -p xtask --test secret_hygiene`: the compile-time and Debug checks of
/// the key-holding types.
pub(crate) fn secrets(root: &Path) -> Outcome {
    let args = [
        "test",
        "--locked",
        "-p",
        "xtask",
        "--test",
        "secret_hygiene",
    ];
    let ran = run_cargo(root, &args, &[]);
    let mut outcome = outcome(&args, &ran, first_error);
    if let Some(result) = ran
        .output
        .lines()
        .find(|line| line.starts_with("test result: ok"))
    {
        outcome.detail = format!("`{}`: {result}", command_line(&args));
    }
    outcome
}

/// The number of `error` lines and the first of them.
fn first_error(output: &str) -> String {
    let errors: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("error"))
        .collect();
    match errors.first() {
        Some(first) => format!("{} error line(s), first: {first}", errors.len()),
        None => "failed".to_owned(),
    }
}
