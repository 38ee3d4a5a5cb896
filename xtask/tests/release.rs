//! `cargo xtask release` on throwaway git repositories holding a two-crate workspace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const ROOT_MANIFEST: &str = r#"[workspace]
resolver = "3"
members = ["crates/alpha", "crates/beta"]
exclude = ["fuzz"]

[workspace.package]
version = "0.1.0"
edition = "2024"
license = "MIT"

[workspace.dependencies]
# The release bumps this pin with the crates.
scratch-alpha = { path = "crates/alpha", version = "0.1.0" }
"#;

const ALPHA_MANIFEST: &str = r#"[package]
name = "scratch-alpha"
description = "first"
version = "0.1.0"
edition.workspace = true
license.workspace = true
"#;

const BETA_MANIFEST: &str = r#"[package]
name = "scratch-beta"
description = "second, on the first by path and version"
version.workspace = true
edition.workspace = true
license.workspace = true

[dependencies]
scratch-alpha = { path = "../alpha", version = "0.1.0" }
"#;

/// Outside the workspace, with its own lockfile that lists the workspace crates.
const FUZZ_MANIFEST: &str = r#"[package]
name = "scratch-fuzz"
version = "0.0.0"
publish = false
edition = "2024"

[dependencies]
scratch-beta = { path = "../crates/beta" }

[workspace]
"#;

const CHANGELOG: &str = "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-11-29\n\n\
                         ### Added\n- beta uses alpha\n\n## [0.1.0] - 2026-01-01\n\n- first\n";

/// A git repository in a fresh temporary directory, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// The committed two-crate workspace at 0.1.0, with its Cargo.lock.
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keyvault-xtask-release-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let scratch = Self { dir };
        scratch.write("Cargo.toml", ROOT_MANIFEST);
        scratch.write("crates/alpha/Cargo.toml", ALPHA_MANIFEST);
        scratch.write(
            "crates/alpha/src/lib.rs",
            "//! Alpha.\n\n/// One.\npub fn one() -> u32 {\n    1\n}\n",
        );
        scratch.write("crates/beta/Cargo.toml", BETA_MANIFEST);
        scratch.write(
            "crates/beta/src/lib.rs",
            "//! Beta.\n\n/// Two.\npub fn two() -> u32 {\n    scratch_alpha::one() + 1\n}\n",
        );
        scratch.write("fuzz/Cargo.toml", FUZZ_MANIFEST);
        scratch.write("fuzz/src/lib.rs", "//! Fuzz.\n");
        scratch.write("CHANGELOG.md", CHANGELOG);
        scratch.write(".gitignore", "/target\n/fuzz/target\n");
        for dir in [".", "fuzz"] {
            let lock = Command::new(env!("CARGO"))
                .args(["generate-lockfile", "--offline"])
                .current_dir(scratch.path(dir))
                .output()
                .unwrap();
            assert!(lock.status.success(), "{}", text(&lock.stderr));
        }
        scratch.git(&["init", "--quiet", "--initial-branch=main"]);
        for (key, value) in [
            ("user.name", "Release Test"),
            ("user.email", "release@example.invalid"),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
        ] {
            scratch.git(&["config", key, value]);
        }
        scratch.git(&["add", "--all"]);
        scratch.git(&["commit", "--quiet", "-m", "Start"]);
        scratch
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// `xtask release ARGS --root <scratch>`, with the advisory-db variable unset and builds kept
    /// inside the scratch directory.
    fn release(&self, args: &[&str]) -> Output {
        self.release_with(args, &[])
    }

    fn release_with(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .arg("release")
            .args(args)
            .arg("--root")
            .arg(&self.dir)
            .env_remove("KEYVAULT_ADVISORY_DB")
            .env("CARGO_TARGET_DIR", self.path("target"))
            .current_dir(&self.dir);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    /// A stand-in for cargo, outside the repository: it logs each command line with the
    /// workspace version it sees, hands `update` and `metadata` to the real cargo, and succeeds at
    /// everything else except a command starting with `$FAIL_ON`.
    #[cfg(unix)]
    fn fake_cargo(&self) -> (PathBuf, PathBuf) {
        let dir = self.dir.with_extension("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let script = dir.join("cargo");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 echo \"$* @ $(grep -m1 '^version' Cargo.toml)\" >> '{log}'\n\
                 case \"$1\" in update|metadata) exec '{real}' \"$@\";; esac\n\
                 [ \"$1\" = \"${{FAIL_ON:-}}\" ] && exit 1\n\
                 exit 0\n",
                log = log.display(),
                real = env!("CARGO"),
            ),
        )
        .unwrap();
        let mut permissions = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&script, permissions).unwrap();
        (script, log)
    }

    /// Every file under the directory except .git and target, with its bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, base: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path.strip_prefix(base).unwrap().to_owned();
                if relative == Path::new(".git") || relative == Path::new("target") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, base, files);
                } else {
                    files.insert(relative, std::fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(&self.dir, &self.dir, &mut files);
        files
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    fn tags(&self) -> String {
        self.git(&["tag", "--list"])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(self.dir.with_extension("bin"));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const SKIP_ALL: [&str; 3] = ["--skip-tests", "--skip-audit", "--skip-publish"];

/// `args` followed by every `--skip-*` option.
fn skipping_all<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &SKIP_ALL[..]].concat()
}

/// Asserts a refusal whose message holds every one of `needles`, with nothing changed.
fn assert_refused(scratch: &Scratch, args: &[&str], needles: &[&str]) {
    let before = scratch.snapshot();
    let head = scratch.head();
    let output = scratch.release(args);
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "{args:?} was accepted:\n{}",
        text(&output.stdout)
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from:\n{stderr}"
        );
    }
    assert!(scratch.snapshot() == before, "{args:?} changed files");
    assert_eq!(scratch.head(), head);
    assert_eq!(scratch.tags(), "");
}

#[test]
fn a_dirty_tree_is_refused_with_its_paths() {
    let scratch = Scratch::new();
    scratch.write("crates/alpha/src/lib.rs", "//! Changed.\n");
    scratch.write("notes.txt", "untracked\n");
    scratch.write("crates/beta/new.rs", "// staged\n");
    scratch.git(&["add", "crates/beta/new.rs"]);
    let mut args = skipping_all(&["0.2.0"]);
    assert_refused(
        &scratch,
        &args,
        &[
            "not clean",
            "crates/alpha/src/lib.rs",
            "notes.txt",
            "crates/beta/new.rs",
        ],
    );
    args.push("--execute");
    assert_refused(&scratch, &args, &["not clean"]);
}

#[test]
fn an_ignored_file_does_not_make_the_tree_dirty() {
    let scratch = Scratch::new();
    scratch.write("target/leftover", "build output\n");
    let args = skipping_all(&["0.2.0"]);
    let output = scratch.release(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn a_bad_version_or_a_missing_changelog_section_is_refused() {
    let scratch = Scratch::new();
    let mut cases = vec![("0.3.0", "no `## [0.3.0]` section".to_owned())];
    for version in ["0.1.0", "0.0.9", "0.1.0-rc.1"] {
        let needle = format!("{version} is not greater than the current version 0.1.0");
        cases.push((version, needle));
    }
    for version in [
        "0.2",
        "v0.2.0",
        "0.2.0.0",
        "02.0.0",
        "0.2.0+build",
        "0.2.0-",
        "0.2.0-rc..1",
        "next",
    ] {
        cases.push((version, "is not a valid release version".to_owned()));
    }
    for (version, needle) in cases {
        assert_refused(&scratch, &skipping_all(&[version]), &[&needle]);
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let scratch = Scratch::new();
    scratch.write("notes.txt", "untracked\n");
    scratch.git(&["tag", "v0.0.5"]);
    let args = skipping_all(&["0.0.5"]);
    let output = scratch.release(&args);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    for needle in [
        "not clean",
        "not greater than the current version",
        "no `## [0.0.5]` section",
        "tag v0.0.5 already exists",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from:\n{stderr}"
        );
    }
}

#[test]
fn an_existing_tag_is_refused() {
    let scratch = Scratch::new();
    scratch.git(&["tag", "v0.2.0"]);
    let head = scratch.head();
    let args = skipping_all(&["0.2.0", "--execute"]);
    let output = scratch.release(&args);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("the tag v0.2.0 already exists"));
    assert_eq!(scratch.head(), head);
}

#[test]
fn a_dry_run_with_skipped_checks_bumps_then_restores_and_says_it_is_incomplete() {
    let scratch = Scratch::new();
    let before = scratch.snapshot();
    let head = scratch.head();
    let args = skipping_all(&["0.2.0"]);
    let output = scratch.release(&args);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout,
        text(&output.stderr)
    );

    // The bump it made and undid: exactly the version lines.
    for line in [
        "Cargo.toml:7",
        "Cargo.toml:13",
        "crates/alpha/Cargo.toml:4",
        "crates/beta/Cargo.toml:9",
        "4 workspace version(s) set to 0.2.0",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    assert!(stdout.contains("Release 0.2.0"));
    assert!(stdout.contains("Annotated tag v0.2.0"));
    assert!(stdout.contains("    | ## [0.2.0] - 2026-11-29"));
    assert!(stdout.contains("--execute would"));
    for skipped in SKIP_ALL {
        assert!(stdout.contains(&format!("SKIPPED ({skipped})")), "{stdout}");
    }
    assert!(stdout.contains("INCOMPLETE"));
    assert!(!stdout.contains("ready to release"), "{stdout}");

    assert!(
        scratch.snapshot() == before,
        "the dry run left files changed"
    );
    assert_eq!(scratch.git(&["status", "--porcelain"]), "");
    assert_eq!(scratch.head(), head);
    assert_eq!(scratch.tags(), "");
}

#[test]
fn execute_commits_the_bump_and_creates_an_annotated_tag() {
    let scratch = Scratch::new();
    let start = scratch.head();
    let args = skipping_all(&["0.2.0", "--execute"]);
    let output = scratch.release(&args);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout,
        text(&output.stderr)
    );
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");

    assert_eq!(
        scratch.git(&["log", "-1", "--format=%s"]).trim(),
        "Release 0.2.0"
    );
    assert_eq!(scratch.git(&["rev-parse", "HEAD~1"]), start);
    let changed = scratch.git(&["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        [
            "Cargo.lock",
            "Cargo.toml",
            "crates/alpha/Cargo.toml",
            "crates/beta/Cargo.toml",
            "fuzz/Cargo.lock",
        ]
    );
    // Each manifest differs from the original only in its version strings.
    assert_eq!(
        scratch.read("Cargo.toml"),
        ROOT_MANIFEST.replace("0.1.0", "0.2.0")
    );
    assert_eq!(
        scratch.read("crates/alpha/Cargo.toml"),
        ALPHA_MANIFEST.replace("0.1.0", "0.2.0")
    );
    assert_eq!(
        scratch.read("crates/beta/Cargo.toml"),
        BETA_MANIFEST.replace("0.1.0", "0.2.0")
    );
    for lock in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let lock = scratch.read(lock);
        assert_eq!(lock.matches("version = \"0.2.0\"").count(), 2, "{lock}");
        assert!(!lock.contains("0.1.0"), "{lock}");
    }
    // The fuzz crate keeps its own version and unpinned path dependency.
    assert_eq!(scratch.read("fuzz/Cargo.toml"), FUZZ_MANIFEST);
    assert_eq!(scratch.git(&["status", "--porcelain"]), "");

    assert_eq!(scratch.git(&["cat-file", "-t", "v0.2.0"]).trim(), "tag");
    assert_eq!(
        scratch.git(&["rev-parse", "v0.2.0^{commit}"]),
        scratch.head()
    );
    let message = scratch.git(&["tag", "--list", "--format=%(contents)", "v0.2.0"]);
    assert_eq!(
        message.trim_end(),
        "## [0.2.0] - 2026-11-29\n\n### Added\n- beta uses alpha"
    );
    // Nothing was pushed anywhere: the repository has no remote at all.
    assert_eq!(scratch.git(&["remote"]), "");
}

#[test]
fn a_failing_check_stops_the_release_and_restores_the_files() {
    let scratch = Scratch::new();
    scratch.write(
        "crates/beta/tests/fails.rs",
        "//! Fails.\n#[test]\nfn fails() {\n    assert_eq!(scratch_beta::two(), 3);\n}\n",
    );
    scratch.git(&["add", "crates/beta/tests/fails.rs"]);
    scratch.git(&["commit", "--quiet", "-m", "A failing test"]);
    let before = scratch.snapshot();
    let head = scratch.head();
    // Tests run; the audit and publish steps would need the real workspace and the network.
    let output = scratch.release(&["0.2.0", "--execute", "--skip-audit", "--skip-publish"]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    assert!(stderr.contains("cargo test --workspace"), "{stderr}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(
        stdout.contains("Restored to their original bytes"),
        "{stdout}"
    );
    assert!(
        scratch.snapshot() == before,
        "the failed run left files changed"
    );
    assert_eq!(scratch.git(&["status", "--porcelain"]), "");
    assert_eq!(scratch.head(), head);
    assert_eq!(scratch.tags(), "");
}

#[cfg(unix)]
#[test]
fn a_full_dry_run_runs_every_check_on_the_bumped_tree() {
    let scratch = Scratch::new();
    let (cargo, log) = scratch.fake_cargo();
    let before = scratch.snapshot();
    let db = Path::new("/advisories/from-env");
    let output = scratch.release_with(
        &["0.2.0"],
        &[("CARGO", &cargo), ("KEYVAULT_ADVISORY_DB", db)],
    );
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("Result: 0.2.0 is ready to release"),
        "{stdout}"
    );
    assert!(!stdout.contains("INCOMPLETE"), "{stdout}");
    assert!(!stdout.contains("SKIPPED"), "{stdout}");
    let checks: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("update") && !line.starts_with("metadata"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        checks,
        [
            "test --workspace --locked @ version = \"0.2.0\"",
            "xtask audit --advisory-db /advisories/from-env @ version = \"0.2.0\"",
            "publish --workspace --dry-run --locked --allow-dirty @ version = \"0.2.0\"",
        ]
    );
    assert!(
        scratch.snapshot() == before,
        "the dry run left files changed"
    );

    // The option wins over the variable, and a relative path reaches the audit made absolute.
    std::fs::remove_file(&log).unwrap();
    let output = scratch.release_with(
        &[
            "0.2.0",
            "--skip-tests",
            "--skip-publish",
            "--advisory-db",
            "db",
        ],
        &[("CARGO", &cargo), ("KEYVAULT_ADVISORY_DB", db)],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let audit = format!("xtask audit --advisory-db {}", scratch.path("db").display());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&audit), "{logged}");
    assert!(!logged.contains("publish"), "{logged}");

    // An empty variable counts as unset: the audit gets no database from the release.
    std::fs::remove_file(&log).unwrap();
    let output = scratch.release_with(
        &["0.2.0", "--skip-tests", "--skip-publish"],
        &[("CARGO", &cargo), ("KEYVAULT_ADVISORY_DB", Path::new(""))],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("xtask audit @ version = \"0.2.0\""),
        "{logged}"
    );
}

/// A second dry run must not verify against the packages an earlier one unpacked from its local
/// overlay registry (cargo never unpacks a package twice): the release removes those, for its
/// own crates at the new version only, before the publish dry run.
#[cfg(unix)]
#[test]
fn packages_left_by_an_earlier_dry_run_are_removed_before_publishing() {
    let scratch = Scratch::new();
    let (cargo, _log) = scratch.fake_cargo();
    let home = scratch.dir.with_extension("home");
    let local = home.join("registry/src/-0123456789abcdef");
    let crates_io = home.join("registry/src/index.crates.io-1949cf8c6b5b557f");
    for dir in [&local, &crates_io] {
        for package in ["scratch-alpha-0.2.0", "scratch-alpha-0.1.0", "serde-0.2.0"] {
            std::fs::create_dir_all(dir.join(package)).unwrap();
        }
    }
    let cache = home.join("registry/cache/-0123456789abcdef");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("scratch-beta-0.2.0.crate"), b"old").unwrap();

    let output = scratch.release_with(
        &["0.2.0", "--skip-tests", "--skip-audit"],
        &[("CARGO", &cargo), ("CARGO_HOME", &home)],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!local.join("scratch-alpha-0.2.0").exists());
    assert!(!cache.join("scratch-beta-0.2.0.crate").exists());
    // Other versions, other crates and crates.io's own packages stay.
    assert!(local.join("scratch-alpha-0.1.0").exists());
    assert!(local.join("serde-0.2.0").exists());
    assert!(crates_io.join("scratch-alpha-0.2.0").exists());
    std::fs::remove_dir_all(&home).unwrap();
}

#[cfg(unix)]
#[test]
fn a_failing_audit_stops_before_publishing_and_restores_the_files() {
    let scratch = Scratch::new();
    let (cargo, log) = scratch.fake_cargo();
    let before = scratch.snapshot();
    let output = scratch.release_with(
        &["0.2.0", "--execute"],
        &[("CARGO", &cargo), ("FAIL_ON", Path::new("xtask"))],
    );
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(text(&output.stderr).contains("cargo xtask audit"));
    assert!(
        stdout.contains("not run (an earlier step failed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Nothing was committed or tagged"),
        "{stdout}"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("xtask audit"), "{log}");
    assert!(!log.contains("publish"), "{log}");
    assert!(
        scratch.snapshot() == before,
        "the failed run left files changed"
    );
    assert_eq!(scratch.git(&["log", "--format=%s"]).trim(), "Start");
    assert_eq!(scratch.tags(), "");
}
