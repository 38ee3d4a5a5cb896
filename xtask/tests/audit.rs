//! `cargo xtask audit`, driven through the built binary: advisories against scratch and real
//! databases, the incomplete verdict without a database, and the checks that read the tree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::BorrowMut;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The variable CI sets to the real RustSec snapshot.
const DB_VAR: &str = "KEYVAULT_ADVISORY_DB";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `xtask audit ARGS` with no advisory database from the environment.
fn audit(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("audit").args(args).env_remove(DB_VAR);
    command
}

/// `xtask audit --only advisories --advisory-db DB [--lockfile LOCK]`, run.
fn advisories(db: &Path, lockfile: Option<&Path>) -> (Output, String) {
    let mut command = audit(&["--only", "advisories", "--advisory-db"]);
    command.arg(db);
    if let Some(lockfile) = lockfile {
        command.arg("--lockfile").arg(lockfile);
    }
    run(command)
}

fn run(mut command: impl BorrowMut<Command>) -> (Output, String) {
    let output = command.borrow_mut().output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// The workspace's Cargo.lock with `extra` packages appended.
fn lockfile_with(dir: &Path, name: &str, extra: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    for (package, version) in extra {
        text.push_str(&format!(
            "\n[[package]]\nname = \"{package}\"\nversion = \"{version}\"\n\
             source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// One advisory in the database's format: TOML front matter in a markdown file at
/// `crates/<package>/<id>.md`.
fn write_advisory(db: &Path, id: &str, package: &str, front_matter: &str, title: &str) {
    let dir = db.join("crates").join(package);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{id}.md")),
        format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"2026-01-15\"\n\
             {front_matter}\n```\n\n# {title}\n\nA fabricated advisory for the audit's tests.\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_fabricated_vulnerability_fails_and_warnings_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("advisory-db");
    write_advisory(
        &db,
        "RUSTSEC-2026-9001",
        "keyvault-audit-fixture",
        "\n[versions]\npatched = [\">= 0.1.1\"]",
        "Fixture crate leaks its keys",
    );
    write_advisory(
        &db,
        "RUSTSEC-2026-9002",
        "keyvault-audit-abandoned",
        "informational = \"unmaintained\"\n\n[versions]\npatched = []",
        "Fixture crate is unmaintained",
    );

    let vulnerable = lockfile_with(
        dir.path(),
        "vulnerable.lock",
        &[
            ("keyvault-audit-fixture", "0.1.0"),
            ("keyvault-audit-abandoned", "1.0.0"),
        ],
    );
    let (output, stdout) = advisories(&db, Some(&vulnerable));
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("RUSTSEC-2026-9001"), "{stdout}");
    assert!(stdout.contains("keyvault-audit-fixture 0.1.0"), "{stdout}");
    assert!(stdout.contains("audit FAILED: advisories"), "{stdout}");

    // The same lockfile without the vulnerable crate (or with its patched version) passes,
    // listing the unmaintained crate as a warning.
    for (name, extra) in [
        ("clean.lock", vec![("keyvault-audit-abandoned", "1.0.0")]),
        (
            "patched.lock",
            vec![
                ("keyvault-audit-fixture", "0.1.1"),
                ("keyvault-audit-abandoned", "1.0.0"),
            ],
        ),
    ] {
        let lockfile = lockfile_with(dir.path(), name, &extra);
        let (output, stdout) = advisories(&db, Some(&lockfile));
        assert!(output.status.success(), "{name}: {stdout}");
        assert!(!stdout.contains("RUSTSEC-2026-9001"), "{name}: {stdout}");
        assert!(stdout.contains("WARN"), "{name}: {stdout}");
        assert!(
            stdout.contains("warning RUSTSEC-2026-9002 (unmaintained): keyvault-audit-abandoned"),
            "{name}: {stdout}"
        );
        assert!(stdout.contains("audit passed"), "{name}: {stdout}");
    }
}

#[test]
fn the_real_database_catches_a_known_vulnerability_and_passes_the_lockfile() {
    let Some(db) = std::env::var_os(DB_VAR).filter(|value| !value.is_empty()) else {
        // Straight to stderr, past the test harness's capture, so the skip is always seen.
        writeln!(
            std::io::stderr(),
            "SKIPPED: {DB_VAR} is not set, so the real RustSec database was not tried \
             (set it to an absolute path of a RustSec advisory-db checkout; CI uses \
             ../shared/advisory-db beside the clone)"
        )
        .unwrap();
        return;
    };
    // A relative path is taken from the workspace root, where CI runs cargo.
    let db = workspace().join(db);
    assert!(
        db.join("crates").is_dir(),
        "{DB_VAR}={} is not an advisory database",
        db.display()
    );
    let dir = tempfile::tempdir().unwrap();
    // hyper 0.14.2 predates the fix for RUSTSEC-2021-0020 (patched in 0.14.3).
    let vulnerable = lockfile_with(dir.path(), "vulnerable.lock", &[("hyper", "0.14.2")]);
    let (output, stdout) = advisories(&db, Some(&vulnerable));
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("RUSTSEC-2021-0020"), "{stdout}");

    let (output, stdout) = advisories(&db, None);
    assert!(
        output.status.success(),
        "the workspace's Cargo.lock has advisories: {stdout}"
    );
    assert!(stdout.contains("no vulnerabilities"), "{stdout}");
}

#[test]
fn without_a_database_advisories_are_not_checked_and_the_audit_is_incomplete() {
    for empty_variable in [false, true] {
        let mut command = audit(&["--only", "advisories"]);
        if empty_variable {
            command.env(DB_VAR, "");
        }
        let (output, stdout) = run(&mut command);
        assert!(!output.status.success(), "{stdout}");
        let row = stdout
            .lines()
            .find(|line| line.starts_with("advisories"))
            .unwrap();
        assert!(row.contains("NOT CHECKED"), "{row}");
        assert!(!row.contains("PASS"), "{row}");
        assert!(
            row.contains("git clone https://github.com/rustsec/advisory-db"),
            "{row}"
        );
        assert!(stdout.contains("audit INCOMPLETE"), "{stdout}");
        assert!(!stdout.contains("audit passed"), "{stdout}");
    }
}

#[test]
fn a_missing_database_path_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stdout) = advisories(&dir.path().join("nowhere"), None);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("is not an advisory database"), "{stdout}");
    assert!(stdout.contains("audit FAILED"), "{stdout}");
}

#[test]
fn the_tree_passes_the_source_checks() {
    // `secrets` runs `cargo test --test secret_hygiene`, which this test run includes already.
    let (output, stdout) = run(audit(&["--only", "unsafe", "--only", "crypto-docs"]));
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("audit passed: 2 of 8 checks; skipped on request"),
        "{stdout}"
    );
}

/// The `licenses` row of the table.
fn licence_row(stdout: &str) -> String {
    stdout
        .lines()
        .find(|line| line.starts_with("licenses"))
        .unwrap()
        .to_owned()
}

/// `xtask audit --only licenses` with cargo subcommands looked up only in `dir` (as PATH and as
/// CARGO_HOME/bin), so an installed cargo-deny is not found unless `dir` holds one.
fn licences_with_subcommands_from(dir: &Path) -> (Output, String) {
    let cargo = std::env::var_os("CARGO").unwrap();
    run(audit(&["--only", "licenses"])
        .env("CARGO", cargo)
        .env("CARGO_HOME", dir)
        .env("PATH", dir.join("bin")))
}

#[test]
fn without_cargo_deny_licences_are_not_checked_and_the_audit_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    let (output, stdout) = licences_with_subcommands_from(dir.path());
    assert!(!output.status.success(), "{stdout}");
    let row = licence_row(&stdout);
    assert!(
        row.contains("NOT CHECKED") && row.contains("cargo-deny is not installed"),
        "{row}"
    );
    assert!(
        stdout.contains("audit INCOMPLETE: NOT CHECKED: licenses"),
        "{stdout}"
    );
}

#[cfg(unix)]
#[test]
fn cargo_deny_decides_the_licence_check() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    // A stand-in cargo-deny that refuses everything.
    let fake = dir.path().join("bin/cargo-deny");
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$2\" = \"--version\" ] && { echo 'cargo-deny 0.0.0'; exit 0; }\n\
         echo \"stand-in cargo-deny ran: $*\"\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (output, stdout) = licences_with_subcommands_from(dir.path());
    assert!(!output.status.success(), "{stdout}");
    let row = licence_row(&stdout);
    assert!(
        row.contains("FAIL") && row.contains("cargo-deny 0.0.0"),
        "{row}"
    );
    assert!(
        stdout.contains("stand-in cargo-deny ran: deny --locked check licenses bans sources"),
        "{stdout}"
    );
}

/// Whether `cargo deny` runs here; CI installs it.
fn cargo_deny_installed() -> bool {
    let installed = Command::new(std::env::var_os("CARGO").unwrap())
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        eprintln!("cargo-deny is not installed; this test is left to CI");
    }
    installed
}

#[test]
fn the_tree_passes_cargo_deny_where_it_is_installed() {
    if !cargo_deny_installed() {
        return;
    }
    let (output, stdout) = run(audit(&["--only", "licenses"]));
    assert!(output.status.success(), "{stdout}");
    let row = licence_row(&stdout);
    assert!(row.contains("cargo-deny") && row.contains("clean"), "{row}");
}

#[test]
fn deny_toml_refuses_a_banned_crate_and_a_licence_it_does_not_allow() {
    if !cargo_deny_installed() {
        return;
    }
    // A scratch workspace whose only dependency is a local crate named like a banned one, under
    // a licence deny.toml does not allow; no registry is needed.
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[package]\nname = \"scratch\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         license = \"MIT\"\npublish = false\n\n[dependencies]\n\
         sharks = { path = \"sharks\", version = \"0.5.0\" }\n",
    );
    write("src/lib.rs", "");
    write(
        "sharks/Cargo.toml",
        "[package]\nname = \"sharks\"\nversion = \"0.5.0\"\nedition = \"2021\"\n\
         license = \"GPL-3.0-only\"\n",
    );
    write("sharks/src/lib.rs", "");
    let output = Command::new(std::env::var_os("CARGO").unwrap())
        .args(["deny", "--offline", "--manifest-path"])
        .arg(dir.path().join("Cargo.toml"))
        .arg("--config")
        .arg(workspace().join("deny.toml"))
        .args(["check", "licenses", "bans"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("error[banned]: crate 'sharks = 0.5.0'"),
        "{stderr}"
    );
    assert!(stderr.contains("error[rejected]"), "{stderr}");
}

#[test]
fn the_checkout_that_runs_the_binary_is_checked() {
    // `cargo run` in another checkout sharing this target directory reuses the same binary and
    // names its own xtask directory at run time.
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("check-unsafe")
        .env("CARGO_MANIFEST_DIR", dir.path().join("xtask"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let crates = dir.path().join("crates");
    assert!(stderr.contains(&crates.display().to_string()), "{stderr}");
}

#[test]
fn only_and_skip_must_leave_a_check() {
    let output = audit(&["--only", "fmt", "--skip", "fmt"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("leave no check"));
}
