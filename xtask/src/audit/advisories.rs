//! RustSec advisories against a lockfile, read in-process with the `rustsec` crate from a local
//! copy of the advisory database (no git, no network).
//!
//! Vulnerabilities fail the check. Informational advisories (unmaintained, unsound, notice) are
//! listed as warnings and do not. Yanked crates are not checked: that needs the registry index.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use rustsec::advisory::Informational;
use rustsec::report::{Report, Settings};
use rustsec::{Database, Lockfile};

use super::{Outcome, Status};

/// Where to get a database when none was given.
const HOW_TO_GET: &str = "pass --advisory-db PATH or set KEYVAULT_ADVISORY_DB \
     (get one with `git clone https://github.com/rustsec/advisory-db`)";

/// Checks `lockfile` against the database at `db`, or reports NOT CHECKED without one.
pub(crate) fn check(db: Option<&Path>, lockfile: &Path) -> Outcome {
    let Some(db) = db else {
        return Outcome::new(
            Status::NotChecked,
            format!("NOT CHECKED: no advisory database; {HOW_TO_GET}"),
        );
    };
    // The rustsec crate can panic on malformed input; a broken database is a failed check,
    // not a crashed audit.
    panic::catch_unwind(AssertUnwindSafe(|| audit(db, lockfile))).unwrap_or_else(|_| {
        Outcome::fail(format!(
            "reading {} or {} panicked (see above)",
            db.display(),
            lockfile.display()
        ))
    })
}

fn audit(db_path: &Path, lockfile_path: &Path) -> Outcome {
    if !db_path.join("crates").is_dir() {
        return Outcome::fail(format!(
            "{} is not an advisory database (no crates/ directory); {HOW_TO_GET}",
            db_path.display()
        ));
    }
    let db = match Database::open(db_path) {
        Ok(db) => db,
        Err(err) => {
            return Outcome::fail(format!(
                "cannot read advisory database {}: {err}",
                db_path.display()
            ));
        }
    };
    let advisory_count = db.iter().count();
    if advisory_count == 0 {
        return Outcome::fail(format!(
            "advisory database {} holds no advisories",
            db_path.display()
        ));
    }
    let lockfile = match Lockfile::load(lockfile_path) {
        Ok(lockfile) => lockfile,
        Err(err) => {
            return Outcome::fail(format!(
                "cannot read lockfile {}: {err}",
                lockfile_path.display()
            ));
        }
    };
    let settings = Settings {
        informational_warnings: vec![
            Informational::Unmaintained,
            Informational::Unsound,
            Informational::Notice,
        ],
        ..Settings::default()
    };
    let report = Report::generate(&db, &lockfile, &settings);

    let mut notes = Vec::new();
    let mut vulnerable_ids = Vec::new();
    for vuln in &report.vulnerabilities.list {
        let id = vuln.advisory.id.to_string();
        notes.push(format!(
            "VULNERABLE {id}: {} {}: {} (patched: {})",
            vuln.package.name,
            vuln.package.version,
            vuln.advisory.title,
            patched(vuln.versions.patched())
        ));
        if !vulnerable_ids.contains(&id) {
            vulnerable_ids.push(id);
        }
    }
    let mut warning_count = 0;
    for (kind, warnings) in &report.warnings {
        for warning in warnings {
            warning_count += 1;
            let (id, title) = warning
                .advisory
                .as_ref()
                .map_or(("(no id)".to_owned(), ""), |advisory| {
                    (advisory.id.to_string(), advisory.title.as_str())
                });
            notes.push(format!(
                "warning {id} ({kind}): {} {}: {title}",
                warning.package.name, warning.package.version
            ));
        }
    }
    let scope = format!(
        "{} packages in {} against {advisory_count} advisories",
        lockfile.packages.len(),
        lockfile_path.display()
    );
    let outcome = if vulnerable_ids.is_empty() {
        let status = if warning_count == 0 {
            Status::Pass
        } else {
            Status::Warn
        };
        Outcome::new(
            status,
            format!("no vulnerabilities, {warning_count} warning(s): {scope}"),
        )
    } else {
        Outcome::fail(format!(
            "{} vulnerable: {}; {scope}",
            report.vulnerabilities.count,
            vulnerable_ids.join(", ")
        ))
    };
    outcome.with_notes(notes)
}

fn patched(reqs: &[rustsec::VersionReq]) -> String {
    if reqs.is_empty() {
        "none".to_owned()
    } else {
        reqs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}
