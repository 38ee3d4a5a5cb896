//! `cargo xtask audit`: the release audit.
//!
//! Every check produces one row of a table (status, detail, time), notes listed under the table,
//! and on failure the tail of whatever the check ran. The audit fails (non-zero exit) if any
//! check fails, and is *incomplete* (also non-zero) if a check could not run, such as
//! advisories without a database: an audit never reports a clean pass for what it did not check.
//! Checks left out with `--only` / `--skip` are listed as skipped.

mod advisories;
mod crypto_docs;
mod licenses;
mod roots;
mod tools;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// The environment variable naming the advisory database when `--advisory-db` is not given.
const ADVISORY_DB_VAR: &str = "KEYVAULT_ADVISORY_DB";

/// Options of `cargo xtask audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// RustSec advisory database: a directory holding `crates/<name>/RUSTSEC-*.md`, such as a
    /// clone of `https://github.com/rustsec/advisory-db` (default: `$KEYVAULT_ADVISORY_DB`).
    /// Without one, advisories are NOT CHECKED and the audit is incomplete.
    #[arg(long, value_name = "PATH")]
    advisory_db: Option<PathBuf>,
    /// Lockfile to check for advisories (default: `<workspace>/Cargo.lock`).
    #[arg(long, value_name = "PATH")]
    lockfile: Option<PathBuf>,
    /// Run only this check (repeatable).
    #[arg(long, value_enum, value_name = "CHECK")]
    only: Vec<Check>,
    /// Leave out this check (repeatable).
    #[arg(long, value_enum, value_name = "CHECK")]
    skip: Vec<Check>,
}

/// The checks, in the order they run and are listed: cheap ones first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Check {
    /// RustSec advisories against the lockfile.
    Advisories,
    /// Licences, banned crates and sources per deny.toml.
    #[value(alias = "licences")]
    Licenses,
    /// Crate roots forbid unsafe code and deny missing docs.
    Unsafe,
    /// Key-holding types are not `Copy` and their `Debug` shows no key bytes
    /// (`xtask/tests/secret_hygiene.rs`).
    Secrets,
    /// The tables of docs/CRYPTO.md are those generated from keyvault-crypto's constants.
    CryptoDocs,
    /// `cargo fmt --all -- --check`.
    Fmt,
    /// `cargo clippy` over the workspace, warnings denied.
    Clippy,
    /// `cargo doc` over the workspace, warnings denied.
    Doc,
}

impl Check {
    const ALL: [Check; 8] = [
        Check::Advisories,
        Check::Licenses,
        Check::Unsafe,
        Check::Secrets,
        Check::CryptoDocs,
        Check::Fmt,
        Check::Clippy,
        Check::Doc,
    ];

    fn name(self) -> &'static str {
        match self {
            Check::Advisories => "advisories",
            Check::Licenses => "licenses",
            Check::Unsafe => "unsafe",
            Check::Secrets => "secrets",
            Check::CryptoDocs => "crypto-docs",
            Check::Fmt => "fmt",
            Check::Clippy => "clippy",
            Check::Doc => "doc",
        }
    }
}

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Passed.
    Pass,
    /// Passed, with warnings listed under the table.
    Warn,
    /// Failed.
    Fail,
    /// Could not run; the audit is incomplete.
    NotChecked,
    /// Left out on request (`--only` / `--skip`).
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::NotChecked => "NOT CHECKED",
            Status::Skipped => "skipped",
        })
    }
}

/// What one check found.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: Status,
    /// One line for the table.
    pub(crate) detail: String,
    /// Findings or warnings, listed under the table.
    pub(crate) notes: Vec<String>,
    /// The end of a failed command's output.
    pub(crate) tail: Option<String>,
}

impl Outcome {
    pub(crate) fn new(status: Status, detail: impl Into<String>) -> Self {
        Outcome {
            status,
            detail: detail.into(),
            notes: Vec::new(),
            tail: None,
        }
    }

    pub(crate) fn pass(detail: impl Into<String>) -> Self {
        Outcome::new(Status::Pass, detail)
    }

    pub(crate) fn fail(detail: impl Into<String>) -> Self {
        Outcome::new(Status::Fail, detail)
    }

    pub(crate) fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }
}

/// Runs the task.
pub(crate) fn run(root: &Path, args: &Args) -> Result<()> {
    let selected: Vec<Check> = Check::ALL
        .into_iter()
        .filter(|check| args.only.is_empty() || args.only.contains(check))
        .filter(|check| !args.skip.contains(check))
        .collect();
    if selected.is_empty() {
        bail!("--only and --skip leave no check to run");
    }
    // An empty KEYVAULT_ADVISORY_DB counts as unset.
    let advisory_db = args
        .advisory_db
        .clone()
        .or_else(|| std::env::var_os(ADVISORY_DB_VAR).map(PathBuf::from))
        .filter(|path| !path.as_os_str().is_empty());
    let lockfile = args
        .lockfile
        .clone()
        .unwrap_or_else(|| root.join("Cargo.lock"));

    let mut rows = Vec::new();
    for check in Check::ALL {
        if !selected.contains(&check) {
            rows.push((check, Outcome::new(Status::Skipped, ""), None));
            continue;
        }
        eprintln!("audit: running {}...", check.name());
        let started = Instant::now();
        let outcome = match check {
            Check::Advisories => advisories::check(advisory_db.as_deref(), &lockfile),
            Check::Licenses => licenses::check(root),
            Check::Unsafe => roots::check(root),
            Check::Secrets => tools::secrets(root),
            Check::CryptoDocs => crypto_docs::check(root),
            Check::Fmt => tools::fmt(root),
            Check::Clippy => tools::clippy(root),
            Check::Doc => tools::doc(root),
        };
        rows.push((check, outcome, Some(started.elapsed())));
    }
    print_report(&rows);
    verdict(&rows)
}

fn print_report(rows: &[(Check, Outcome, Option<Duration>)]) {
    let status_width = "NOT CHECKED".len();
    println!(
        "{:<12} {:<status_width$} {:>7}  detail",
        "check", "status", "time"
    );
    for (check, outcome, elapsed) in rows {
        let time = elapsed.map_or_else(String::new, |d| format!("{:.1}s", d.as_secs_f64()));
        println!(
            "{:<12} {:<status_width$} {time:>7}  {}",
            check.name(),
            outcome.status,
            outcome.detail
        );
    }
    for (check, outcome, _) in rows {
        if !outcome.notes.is_empty() {
            println!("\n{} ({}):", check.name(), outcome.status);
            for note in &outcome.notes {
                println!("  - {note}");
            }
        }
        if let Some(tail) = &outcome.tail {
            println!("\n--- {}: end of output ---\n{tail}\n---", check.name());
        }
    }
}

/// The summary line, and an error (non-zero exit) unless every selected check passed.
fn verdict(rows: &[(Check, Outcome, Option<Duration>)]) -> Result<()> {
    let names = |status: Status| -> Vec<&str> {
        rows.iter()
            .filter(|(_, outcome, _)| outcome.status == status)
            .map(|(check, _, _)| check.name())
            .collect()
    };
    let failed = names(Status::Fail);
    let not_checked = names(Status::NotChecked);
    let skipped = names(Status::Skipped);
    let warned = names(Status::Warn);
    println!();
    if !failed.is_empty() {
        let mut message = format!("audit FAILED: {}", failed.join(", "));
        if !not_checked.is_empty() {
            message.push_str(&format!("; NOT CHECKED: {}", not_checked.join(", ")));
        }
        println!("{message}");
        bail!("{message}");
    }
    if !not_checked.is_empty() {
        let message = format!(
            "audit INCOMPLETE: NOT CHECKED: {} (nothing failed among the checks that ran)",
            not_checked.join(", ")
        );
        println!("{message}");
        bail!("{message}");
    }
    let ran = rows.len() - skipped.len();
    let mut message = format!("audit passed: {ran} of {} checks", rows.len());
    if !warned.is_empty() {
        message.push_str(&format!(", with warnings from {}", warned.join(", ")));
    }
    if !skipped.is_empty() {
        message.push_str(&format!("; skipped on request: {}", skipped.join(", ")));
    }
    println!("{message}");
    Ok(())
}

/// `path` relative to `root` for display.
pub(crate) fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
