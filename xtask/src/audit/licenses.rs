//! Licences, bans and sources as configured in deny.toml, decided by cargo-deny.
//!
//! Only `cargo deny check licenses bans sources` runs: the advisory part of cargo-deny would
//! fetch its database from GitHub, and advisories are checked in-process instead (see
//! [`super::advisories`]). Without cargo-deny the check is NOT CHECKED, which makes the audit
//! incomplete: licences are never passed on a guess.

use std::path::Path;

use super::tools::{run_cargo, tail};
use super::{Outcome, Status};

/// What the check runs, as shown in the table.
const COMMAND: &str = "cargo deny --locked check licenses bans sources";

/// Runs cargo-deny, or reports NOT CHECKED when it is not installed.
pub(crate) fn check(root: &Path) -> Outcome {
    let version = run_cargo(root, &["deny", "--version"], &[]);
    if !version.success {
        return Outcome::new(
            Status::NotChecked,
            "NOT CHECKED: cargo-deny is not installed; `cargo install cargo-deny --locked` \
             (.ci/run does) and run the audit again",
        );
    }
    let ran = run_cargo(
        root,
        &["deny", "--locked", "check", "licenses", "bans", "sources"],
        &[],
    );
    let version = version.stdout.trim();
    if ran.success {
        // cargo-deny prints warnings (duplicate versions) even when the check passes.
        let warnings: Vec<String> = ran
            .output
            .lines()
            .filter(|line| line.starts_with("warning["))
            .map(str::to_owned)
            .collect();
        let status = if warnings.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
        Outcome::new(status, format!("{version}: `{COMMAND}` clean")).with_notes(warnings)
    } else {
        let mut outcome = Outcome::fail(format!("{version}: `{COMMAND}` failed ({})", ran.status));
        outcome.tail = Some(tail(&ran.output));
        outcome
    }
}
