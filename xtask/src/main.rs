//! Maintenance tasks for the keyvault workspace, run as `cargo xtask <task>`.
//!
//! - `check-unsafe`: every crate root forbids unsafe code.
//! - `audit`: the release audit (advisories, licences, lints, formatting, docs, secret hygiene),
//!   printed as a table; non-zero exit on any failure.
//! - `release VERSION`: a dry run of a release (or `--execute` to commit and tag locally).
//! - `fuzz --seconds N`: every cargo-fuzz target for a bounded time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod fuzz;
mod release;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Maintenance tasks for the keyvault workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
enum Task {
    /// Check that every crate root carries `#![forbid(unsafe_code)]`.
    CheckUnsafe,
    /// Run the release audit and print a table of checks.
    Audit(audit::Args),
    /// Prepare a release: dry run by default, `--execute` to commit and tag.
    Release(release::Args),
    /// Run every fuzz target for a bounded time (needs nightly and cargo-fuzz).
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let root = workspace_root();
    let result = match Task::parse() {
        Task::CheckUnsafe => check_unsafe(&root),
        Task::Audit(args) => audit::run(&root, &args),
        Task::Release(args) => release::run(&root, &args),
        Task::Fuzz(args) => fuzz::run(&root, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The cargo that runs this task (`CARGO` is set by `cargo run`), or `cargo` from `PATH`.
/// (`cargo xtask fuzz` calls the `cargo` on `PATH` instead: only rustup's proxy takes
/// `+nightly`.)
fn cargo_program() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The workspace root: the parent of this crate's directory. `cargo run` names that directory in
/// `CARGO_MANIFEST_DIR` at run time; the value compiled in is only a fallback, because a binary
/// built for one checkout is reused unchanged by another that shares its target directory (CI's
/// release dry run on a clone), and must then work on the checkout that ran it.
fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every crate root (library, binary, xtask) must carry `#![forbid(unsafe_code)]`.
fn check_unsafe(root: &Path) -> Result<()> {
    let missing = crate_roots_missing_forbid_unsafe(root, true)?;
    if !missing.is_empty() {
        bail!(
            "{} crate root(s) lack #![forbid(unsafe_code)]: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// The crate roots under `root` that lack `#![forbid(unsafe_code)]`, printing one line per root
/// when `verbose`.
fn crate_roots_missing_forbid_unsafe(root: &Path, verbose: bool) -> Result<Vec<String>> {
    crate_roots_missing(root, &["forbid"], "unsafe_code", verbose)
}

/// The crate roots under `root` without an inner attribute `#![LEVEL(..LINT..)]` for one of
/// `levels`, printing one line per root when `verbose`.
pub(crate) fn crate_roots_missing(
    root: &Path,
    levels: &[&str],
    lint: &str,
    verbose: bool,
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for path in crate_roots(root)? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let ok = text.lines().any(|line| {
            let line = line.trim();
            levels.iter().any(|level| {
                line.strip_prefix("#![")
                    .and_then(|rest| rest.strip_prefix(level))
                    .and_then(|rest| rest.strip_prefix('('))
                    .is_some_and(|rest| rest.split([',', ')']).any(|item| item.trim() == lint))
            })
        });
        if verbose {
            println!("{:<8} {shown}", if ok { "ok" } else { "MISSING" });
        }
        if !ok {
            missing.push(shown);
        }
    }
    Ok(missing)
}

/// Every crate root of the workspace, sorted: `src/lib.rs`, `src/main.rs` and `src/bin/*.rs` of
/// xtask, of each crate under `crates/` and of the bench crate. fuzz/ is a separate workspace,
/// built by cargo-fuzz on nightly, and is not covered.
pub(crate) fn crate_roots(root: &Path) -> Result<Vec<PathBuf>> {
    let crates = root.join("crates");
    let mut packages = vec![root.join("xtask"), root.join("benches")];
    for entry in
        std::fs::read_dir(&crates).with_context(|| format!("reading {}", crates.display()))?
    {
        packages.push(entry?.path());
    }
    let mut roots = Vec::new();
    for dir in packages
        .iter()
        .filter(|dir| dir.join("Cargo.toml").exists())
    {
        roots.extend(
            ["src/lib.rs", "src/main.rs"]
                .iter()
                .map(|file| dir.join(file))
                .filter(|path| path.exists()),
        );
        if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
            for entry in bins {
                let path = entry?.path();
                if path.extension().is_some_and(|ext| ext == "rs") {
                    roots.push(path);
                }
            }
        }
    }
    roots.sort();
    Ok(roots)
}
