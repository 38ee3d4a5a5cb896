//! `cargo xtask release VERSION`: checks that the workspace can be released as VERSION.
//!
//! A dry run by default: it checks the tree, the version and the CHANGELOG section, bumps every
//! crate's version, refreshes Cargo.lock, runs the tests, the audit and a publish dry run, prints
//! the commit and tag a release would create, then puts every file it changed back as it was,
//! on failure too. `--execute` keeps the bump, commits it and creates an annotated tag. It never
//! pushes and never publishes.

mod changelog;
mod manifest;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use semver::Version;

use self::manifest::Role;

/// Options of `cargo xtask release`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The version to release: MAJOR.MINOR.PATCH with an optional pre-release (0.2.0,
    /// 0.2.0-rc.1), greater than the current workspace version.
    version: String,
    /// Keep the bump, commit it as "Release VERSION" and create the annotated tag vVERSION. Pushes
    /// nothing and publishes nothing.
    #[arg(long)]
    execute: bool,
    /// RustSec advisory database for the audit, passed on to `cargo xtask audit`
    /// [default: $KEYVAULT_ADVISORY_DB].
    #[arg(long, value_name = "PATH")]
    advisory_db: Option<PathBuf>,
    /// Skip `cargo test --workspace`. The result is then incomplete, not a release check.
    #[arg(long)]
    skip_tests: bool,
    /// Skip `cargo xtask audit`. The result is then incomplete, not a release check.
    #[arg(long)]
    skip_audit: bool,
    /// Skip `cargo publish --workspace --dry-run`. The result is then incomplete, not a release
    /// check.
    #[arg(long)]
    skip_publish: bool,
    /// Workspace to release instead of the one xtask was built in (for tests).
    #[arg(long, value_name = "PATH", hide = true)]
    root: Option<PathBuf>,
}

/// The steps after the preflight, in order; the first failure stops the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Bump,
    Locks,
    Versions,
    Tests,
    Audit,
    Publish,
}

const STEPS: [Step; 6] = [
    Step::Bump,
    Step::Locks,
    Step::Versions,
    Step::Tests,
    Step::Audit,
    Step::Publish,
];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Self::Bump => "bump manifests",
            Self::Locks => "refresh lockfiles",
            Self::Versions => "crate versions agree",
            Self::Tests => "cargo test --workspace",
            Self::Audit => "cargo xtask audit",
            Self::Publish => "cargo publish --workspace --dry-run",
        }
    }

    /// The option that skips this step, if it can be skipped, and whether it was given.
    fn skip_flag(self, args: &Args) -> Option<(&'static str, bool)> {
        match self {
            Self::Tests => Some(("--skip-tests", args.skip_tests)),
            Self::Audit => Some(("--skip-audit", args.skip_audit)),
            Self::Publish => Some(("--skip-publish", args.skip_publish)),
            Self::Bump | Self::Locks | Self::Versions => None,
        }
    }

    /// Runs the step; the text is the detail of its summary row.
    fn run(self, root: &Path, args: &Args, plan: &Plan, files: &mut Originals) -> Result<String> {
        let new = plan.target.to_string();
        match self {
            Self::Bump => {
                let lines = bump_manifests(root, plan, files)?;
                Ok(format!("{lines} line(s) in {} file(s)", files.files.len()))
            }
            Self::Locks => {
                let count = refresh_locks(root, plan, files)?;
                Ok(format!("{count} workspace version(s) set to {new}"))
            }
            Self::Versions => {
                let count = check_member_versions(root, &plan.target)?;
                Ok(format!("{count} crate(s) at {new}"))
            }
            Self::Tests => run_cargo(root, &["test", "--workspace", "--locked"]),
            Self::Audit => {
                let mut audit: Vec<OsString> = vec!["xtask".into(), "audit".into()];
                // An empty variable counts as unset, as it does for the audit itself.
                let db = args
                    .advisory_db
                    .clone()
                    .or_else(|| std::env::var_os("KEYVAULT_ADVISORY_DB").map(PathBuf::from))
                    .filter(|path| !path.as_os_str().is_empty());
                if let Some(db) = db {
                    audit.push("--advisory-db".into());
                    audit.push(std::path::absolute(db)?.into());
                }
                run_cargo(root, &audit)
            }
            Self::Publish => {
                forget_local_packages(&plan.members, &new)?;
                forget_earlier_packaging(root)?;
                // Packages every publishable crate; the crates not yet on crates.io are served
                // to each other's verify builds from a local overlay. `publish = false` crates
                // are left out.
                let publish = ["publish", "--workspace", "--dry-run", "--locked"];
                run_cargo(root, &[&publish[..], &["--allow-dirty"]].concat())
            }
        }
    }
}

/// Runs the task.
pub(crate) fn run(default_root: &Path, args: &Args) -> Result<()> {
    let given_root = args.root.as_deref().unwrap_or(default_root);
    let root = given_root
        .canonicalize()
        .with_context(|| format!("workspace root {}", given_root.display()))?;
    let target = release_version(&args.version)
        .map_err(|err| anyhow!("`{}` is not a valid release version: {err}", args.version))?;
    let plan = preflight(&root, &target)?;
    let skipped: Vec<String> = STEPS
        .iter()
        .filter_map(|step| match step.skip_flag(args) {
            Some((flag, true)) => Some(format!("{} ({flag})", step.name())),
            _ => None,
        })
        .collect();
    let banner = format!(
        "!! INCOMPLETE RELEASE CHECK: skipped {}\n!! This run does not show the release is ready.",
        skipped.join(", ")
    );

    let mode = if args.execute { "release" } else { "dry run" };
    println!(
        "== cargo xtask release {target} ({mode}) in {}",
        root.display()
    );
    println!("   current version {}, new version {target}", plan.current);
    if !skipped.is_empty() {
        println!("{banner}");
    }
    println!("\nCommit message:\n    {}", plan.commit_message);
    println!(
        "Annotated tag {} with the CHANGELOG section as its message:",
        plan.tag
    );
    for line in plan.tag_message.lines() {
        println!("    |{}{line}", if line.is_empty() { "" } else { " " });
    }
    println!(
        "\n== Version bump {} -> {target} (if interrupted, `git checkout -- <files>` undoes it)",
        plan.current
    );

    let mut files = Originals {
        root: root.clone(),
        files: Vec::new(),
    };
    let mut summary = vec![row("preflight (tree, version, CHANGELOG, tag)", "", "ok")];
    let mut outcome = Ok(());
    for step in STEPS {
        let status = if outcome.is_err() {
            "not run (an earlier step failed)".to_owned()
        } else if let Some((flag, true)) = step.skip_flag(args) {
            format!("SKIPPED ({flag})")
        } else {
            let started = Instant::now();
            let result = step.run(&root, args, &plan, &mut files);
            let time = format!("{:.1}s", started.elapsed().as_secs_f64());
            let status = match &result {
                Ok(detail) if detail.is_empty() => "ok".to_owned(),
                Ok(detail) => format!("ok ({detail})"),
                Err(_) => "FAILED".to_owned(),
            };
            summary.push(row(step.name(), &time, &status));
            outcome = result
                .map(drop)
                .map_err(|err| anyhow!("{}: {err:#}", step.name()));
            continue;
        };
        summary.push(row(step.name(), "", &status));
    }
    if outcome.is_ok() && args.execute {
        outcome = commit_and_tag(&root, &plan, &files.paths());
        if outcome.is_ok() {
            // The bump belongs to the commit now and stays.
            files.files.clear();
        }
    }
    let restored = files.restore();

    println!("\n== Summary\n   {}", row("step", "time", "result"));
    for line in &summary {
        println!("   {line}");
    }
    match &restored {
        Ok(paths) if !paths.is_empty() => println!(
            "\nRestored to their original bytes: {}",
            display_paths(paths)
        ),
        Ok(_) => {}
        Err(err) => eprintln!("\nerror: could not restore the bumped files: {err:#}"),
    }
    if !args.execute || outcome.is_err() {
        let left = git_status(&root).unwrap_or_default();
        if !left.is_empty() {
            println!(
                "\nwarning: the tree is not as it was found; the checks left {} path(s) changed:\n{}",
                left.len(),
                indent(&left)
            );
        }
    }
    if outcome.is_err() {
        // Restored files mean the commit was never made.
        let committed = if args.execute && restored.as_ref().is_ok_and(|p| !p.is_empty()) {
            " Nothing was committed or tagged."
        } else {
            ""
        };
        println!("\nResult: FAILED. {target} is not ready for release.{committed}");
    }
    outcome?;
    let restored = restored?;

    if args.execute {
        println!(
            "\nCommitted \"{}\" and created the annotated tag {}. Nothing was pushed or published.",
            plan.commit_message, plan.tag
        );
    } else {
        println!(
            "\n--execute would: keep the bump in {}; commit those files as \"{}\"; create the \
             annotated tag {} with the message above. It pushes nothing and publishes nothing.",
            display_paths(&restored),
            plan.commit_message,
            plan.tag
        );
    }
    if skipped.is_empty() {
        let verdict = if args.execute {
            "released locally"
        } else {
            "ready to release"
        };
        println!("\nResult: {target} is {verdict}: every check passed.");
    } else {
        println!("\n{banner}");
        println!("Result: INCOMPLETE. {target} is NOT verified for release; run without --skip-*.");
    }
    Ok(())
}

/// One line of the summary table.
fn row(name: &str, time: &str, status: &str) -> String {
    format!("{name:<44} {time:>8}  {status}")
}

/// The version to release: SemVer 2.0.0 without a leading `v` and without build metadata, which
/// does not order releases.
fn release_version(text: &str) -> Result<Version, String> {
    if text.starts_with(['v', 'V']) {
        return Err("write the version without a leading `v` (the tag gets one)".into());
    }
    let version = Version::parse(text).map_err(|err| err.to_string())?;
    if !version.build.is_empty() {
        return Err("build metadata (`+...`) does not order releases; leave it out".into());
    }
    Ok(version)
}

/// What the preflight found out.
struct Plan {
    current: Version,
    target: Version,
    tag: String,
    commit_message: String,
    tag_message: String,
    /// Package names of the workspace members.
    members: BTreeSet<String>,
    /// Tracked manifests, relative to the root, each with the role its bump has.
    manifests: Vec<(PathBuf, Role)>,
    /// Lockfiles to refresh, relative to the root: Cargo.lock and any other tracked one.
    locks: Vec<PathBuf>,
}

/// Everything that needs no change to the tree: clean tree, version, CHANGELOG section, tag.
/// Reports every problem at once.
fn preflight(root: &Path, target: &Version) -> Result<Plan> {
    let top = git(root, &["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(top.trim()).canonicalize()?;
    if top != root {
        bail!(
            "{} is not the top of its git repository ({})",
            root.display(),
            top.display()
        );
    }
    let mut problems = Vec::new();
    let dirty = git_status(root)?;
    if !dirty.is_empty() {
        problems.push(format!(
            "the working tree is not clean; commit, remove or ignore these {} path(s):\n{}",
            dirty.len(),
            indent(&dirty)
        ));
    }
    if git(root, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_err() {
        problems.push("the repository has no commit yet".to_owned());
    }

    let root_manifest = read(&root.join("Cargo.toml"))?;
    let current = manifest::workspace_version(&root_manifest)
        .map_err(|err| anyhow!("Cargo.toml: {err}"))?
        .ok_or_else(|| anyhow!("Cargo.toml has no [workspace.package] version"))?;
    let current = Version::parse(&current)
        .map_err(|err| anyhow!("the current version `{current}` is not valid: {err}"))?;
    if *target <= current {
        problems.push(format!(
            "{target} is not greater than the current version {current}"
        ));
    }

    let tag_message = match std::fs::read_to_string(root.join("CHANGELOG.md")) {
        Ok(text) => changelog::section(&text, &target.to_string()).unwrap_or_else(|err| {
            problems.push(err);
            String::new()
        }),
        Err(err) => {
            problems.push(format!("cannot read CHANGELOG.md: {err}"));
            String::new()
        }
    };
    let tag = format!("v{target}");
    if git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/tags/{tag}"),
        ],
    )
    .is_ok()
    {
        problems.push(format!("the tag {tag} already exists"));
    }
    if !problems.is_empty() {
        let problems: Vec<String> = problems.iter().map(|p| p.replace('\n', "\n  ")).collect();
        bail!("release {target} refused:\n- {}", problems.join("\n- "));
    }

    let members = workspace_members(root)?;
    let member_manifests: BTreeSet<PathBuf> = members.iter().map(|m| m.manifest.clone()).collect();
    let mut manifests = Vec::new();
    let mut locks = vec![PathBuf::from("Cargo.lock")];
    let tracked = git(root, &["ls-files", "-z"])?;
    let tracked: BTreeSet<&str> = tracked.split('\0').collect();
    for &path in &tracked {
        if path != "Cargo.toml" && !path.ends_with("/Cargo.toml") {
            continue;
        }
        let full = root.join(path).canonicalize()?;
        let role = if path == "Cargo.toml" || member_manifests.contains(&full) {
            Role::Workspace
        } else {
            Role::Outside
        };
        // A workspace outside this one (fuzz) may lock the workspace crates in its own lockfile.
        let lock = path.replace("Cargo.toml", "Cargo.lock");
        if role == Role::Outside && tracked.contains(lock.as_str()) {
            locks.push(PathBuf::from(lock));
        }
        manifests.push((PathBuf::from(path), role));
    }
    Ok(Plan {
        current,
        target: target.clone(),
        commit_message: format!("Release {target}"),
        tag,
        tag_message,
        members: members.into_iter().map(|m| m.name).collect(),
        manifests,
        locks,
    })
}

/// Sets the versions in every tracked manifest and prints each changed line. Returns how many
/// lines changed.
fn bump_manifests(root: &Path, plan: &Plan, files: &mut Originals) -> Result<usize> {
    let mut count = 0;
    for (path, role) in &plan.manifests {
        let text = read(&root.join(path))?;
        let bumped = manifest::bump_manifest(&text, *role, &plan.members, &plan.target.to_string())
            .map_err(|err| anyhow!("{}: {err}", path.display()))?;
        for edit in &bumped.edits {
            println!(
                "   {}:{}\n      - {}\n      + {}",
                path.display(),
                edit.line,
                edit.before.trim(),
                edit.after.trim()
            );
        }
        if !bumped.edits.is_empty() {
            count += bumped.edits.len();
            files.write(path, bumped.text.as_bytes())?;
        }
    }
    Ok(count)
}

/// Updates the workspace's versions in Cargo.lock and in any other tracked lockfile (the fuzz
/// crate's lists the workspace crates it uses), and checks that nothing else moved.
fn refresh_locks(root: &Path, plan: &Plan, files: &mut Originals) -> Result<usize> {
    let mut changed = 0;
    for lock in &plan.locks {
        let dir = root.join(lock.parent().unwrap_or(Path::new("")));
        let before = files.remember(lock)?;
        // `--workspace` re-reads the path packages and leaves every registry package as locked;
        // offline first, so an index that is already cached is enough.
        let offline = cargo(&dir, &["update", "--workspace", "--offline"]).output()?;
        if !offline.status.success() {
            println!(
                "   {}: offline update failed; retrying with the network",
                lock.display()
            );
            let online = cargo(&dir, &["update", "--workspace"]).output()?;
            if !online.status.success() {
                bail!(
                    "cargo update --workspace for {} failed:\n{}",
                    lock.display(),
                    String::from_utf8_lossy(&online.stderr)
                );
            }
        }
        let after = read(&root.join(lock))?;
        match before {
            Some(before) => {
                let before = String::from_utf8(before)
                    .with_context(|| format!("{} is not UTF-8", lock.display()))?;
                changed += manifest::check_lock_bump(
                    &before,
                    &after,
                    &plan.members,
                    &plan.target.to_string(),
                )
                .map_err(|err| anyhow!("{}: {err}", lock.display()))?;
            }
            None => println!(
                "   note: there was no {}; cargo generated one",
                lock.display()
            ),
        }
    }
    Ok(changed)
}

/// Cargo's view after the bump: every versioned member is at the new version.
fn check_member_versions(root: &Path, target: &Version) -> Result<usize> {
    let members = workspace_members(root)?;
    let wrong: Vec<String> = members
        .iter()
        .filter(|m| m.version != target.to_string() && m.version != "0.0.0")
        .map(|m| format!("{} {}", m.name, m.version))
        .collect();
    if !wrong.is_empty() {
        bail!(
            "after the bump these crates are not at {target}: {}",
            wrong.join(", ")
        );
    }
    Ok(members
        .iter()
        .filter(|m| m.version == target.to_string())
        .count())
}

/// Runs cargo with its output on the terminal.
fn run_cargo<S: AsRef<std::ffi::OsStr>>(root: &Path, args: &[S]) -> Result<String> {
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    let shown = shown.join(" ");
    println!("\n== cargo {shown}");
    std::io::stdout().flush()?;
    let status = cargo(root, args).status()?;
    if !status.success() {
        bail!("`cargo {shown}` failed ({status})");
    }
    Ok(String::new())
}

/// Removes the packages that an earlier publish dry run extracted from its local overlay
/// registry for these crates at this version.
///
/// `cargo publish --workspace` serves the workspace's not-yet-published crates to each other
/// from a registry under the target directory, and cargo unpacks what it fetches into
/// `$CARGO_HOME/registry/src/-<hash>/<name>-<version>`, the hash naming that registry's path.
/// An unpacked package is never unpacked again, so a second dry run from the same target
/// directory would verify against the crates as they were the first time. Crates.io's own
/// directories are named after its index host and are left alone.
fn forget_local_packages(members: &BTreeSet<String>, version: &str) -> Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(registry) = cargo_home.map(|home| home.join("registry")) else {
        return Ok(());
    };
    for (kind, suffix) in [("src", ""), ("cache", ".crate")] {
        let Ok(entries) = std::fs::read_dir(registry.join(kind)) else {
            continue;
        };
        for entry in entries {
            let dir = entry?.path();
            let local = dir
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('-'));
            if !local {
                continue;
            }
            for name in members {
                let stale = dir.join(format!("{name}-{version}{suffix}"));
                let removed = if stale.is_dir() {
                    std::fs::remove_dir_all(&stale)
                } else if stale.is_file() {
                    std::fs::remove_file(&stale)
                } else {
                    continue;
                };
                removed.with_context(|| format!("removing {}", stale.display()))?;
                println!(
                    "   removed {} (left by an earlier dry run)",
                    stale.display()
                );
            }
        }
    }
    Ok(())
}

/// Earlier dry runs leave their packages and verify builds under `<target>/package`. A verify
/// build takes a compiled crate of the same name and version from there as it is (crates from a
/// registry are never rebuilt), which would test this release against an earlier one's code.
fn forget_earlier_packaging(root: &Path) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    let packaging = target.join("package");
    if packaging.is_dir() {
        std::fs::remove_dir_all(&packaging)
            .with_context(|| format!("removing {}", packaging.display()))?;
        println!(
            "   removed {} (left by an earlier dry run)",
            packaging.display()
        );
    }
    Ok(())
}

/// Commits the bumped files and creates the annotated tag.
fn commit_and_tag(root: &Path, plan: &Plan, paths: &[PathBuf]) -> Result<()> {
    // `add` first: the bump may have created a file (no Cargo.lock before).
    let mut add: Vec<OsString> = vec!["add".into(), "--".into()];
    add.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    git(root, &add)?;
    let mut commit: Vec<OsString> = ["commit", "--quiet", "-m", &plan.commit_message, "--"]
        .map(OsString::from)
        .to_vec();
    commit.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    git(root, &commit).context("committing the bump")?;
    let tag = [
        "tag",
        "--annotate",
        "--cleanup=verbatim",
        "-m",
        &plan.tag_message,
        &plan.tag,
    ];
    git(root, &tag).map(drop).map_err(|err| {
        anyhow!(
            "committed \"{}\" but could not create the tag {}: {err}",
            plan.commit_message,
            plan.tag
        )
    })
}

/// The files the run changed, with their original bytes (`None`: the file did not exist), so
/// they can be put back exactly.
struct Originals {
    root: PathBuf,
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Originals {
    /// Records `path`'s current bytes once, before its first change, and returns them.
    fn remember(&mut self, path: &Path) -> Result<Option<Vec<u8>>> {
        if let Some((_, bytes)) = self.files.iter().find(|(p, _)| p == path) {
            return Ok(bytes.clone());
        }
        let full = self.root.join(path);
        let bytes = match std::fs::read(&full) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).with_context(|| format!("reading {}", full.display())),
        };
        self.files.push((path.to_owned(), bytes.clone()));
        Ok(bytes)
    }

    fn write(&mut self, path: &Path, contents: &[u8]) -> Result<()> {
        self.remember(path)?;
        let full = self.root.join(path);
        std::fs::write(&full, contents).with_context(|| format!("writing {}", full.display()))
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Puts every file back; returns the paths restored.
    fn restore(&self) -> Result<Vec<PathBuf>> {
        let mut failures = Vec::new();
        for (path, original) in &self.files {
            let full = self.root.join(path);
            let result = match original {
                Some(bytes) => std::fs::write(&full, bytes),
                None => std::fs::remove_file(&full).or_else(|err| {
                    if err.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(err)
                    }
                }),
            };
            if let Err(err) = result {
                failures.push(format!("{}: {err}", path.display()));
            }
        }
        if !failures.is_empty() {
            bail!(
                "{}; `git checkout -- {}` puts them back",
                failures.join("; "),
                display_paths(&self.paths())
            );
        }
        Ok(self.paths())
    }
}

/// A workspace member as `cargo metadata` sees it.
struct Member {
    name: String,
    version: String,
    manifest: PathBuf,
}

/// The workspace members, without resolving dependencies (so Cargo.lock is left alone).
fn workspace_members(root: &Path) -> Result<Vec<Member>> {
    let output = cargo(
        root,
        &[
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ],
    )
    .output()?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let packages = metadata
        .get("packages")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| anyhow!("cargo metadata lists no packages"))?;
    packages
        .iter()
        .map(|package| {
            let field = |name: &str| {
                package
                    .get(name)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("cargo metadata: a package lacks `{name}`"))
            };
            Ok(Member {
                name: field("name")?,
                version: field("version")?,
                manifest: PathBuf::from(field("manifest_path")?)
                    .canonicalize()
                    .context("a member manifest")?,
            })
        })
        .collect()
}

/// `cargo` (the one running this task, if any) in `root`.
fn cargo<S: AsRef<std::ffi::OsStr>>(root: &Path, args: &[S]) -> Command {
    let mut command = Command::new(crate::cargo_program());
    command.current_dir(root).args(args);
    command
}

/// Runs git in `root` and returns its standard output.
fn git<S: AsRef<std::ffi::OsStr>>(root: &Path, args: &[S]) -> Result<String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .context("running git")?;
    if !output.status.success() {
        let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
        bail!(
            "`git {}` failed: {}",
            shown.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).context("git output is not UTF-8")
}

/// Modified, staged and untracked (not ignored) paths, one `git status --porcelain` line each.
fn git_status(root: &Path) -> Result<Vec<String>> {
    Ok(
        git(root, &["status", "--porcelain=v1", "--untracked-files=all"])?
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::release_version;

    #[test]
    fn release_versions_are_semver_without_build_metadata() {
        for text in [
            "0.0.0",
            "0.2.0",
            "1.10.100",
            "0.2.0-rc.1",
            "1.0.0-alpha-1.x.7z",
        ] {
            assert_eq!(release_version(text).unwrap().to_string(), text);
        }
        // The leading `v` and build metadata are refused here; the rest is SemVer's grammar.
        for text in [
            "v0.2.0",
            "V0.2.0",
            "0.2.0+build.5",
            "0.2",
            "01.2.0",
            "0.2.0-rc.01",
            " 0.2.0",
        ] {
            assert!(release_version(text).is_err(), "{text:?} was accepted");
        }
        assert!(release_version("0.2.0-rc.1").unwrap() > release_version("0.1.0").unwrap());
        assert!(release_version("0.1.0-rc.1").unwrap() < release_version("0.1.0").unwrap());
    }
}
