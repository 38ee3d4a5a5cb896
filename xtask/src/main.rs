//! Maintenance tasks for the keyvault workspace, run as `cargo xtask <task>`.
//!
//! Today: `check-unsafe`, which confirms every crate root forbids unsafe code. The release audit
//! (`cargo xtask audit`: advisories, licences, lints, secret hygiene) and `cargo xtask release`
//! are planned; asking for them says so instead of pretending to pass.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("check-unsafe") => check_unsafe(&workspace_root()),
        Some(other @ ("audit" | "release" | "fuzz")) => Err(anyhow::anyhow!(
            "`cargo xtask {other}` is not built yet; nothing was checked"
        )),
        _ => {
            eprintln!("usage: cargo xtask check-unsafe");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every crate root (library, binary, xtask) must carry `#![forbid(unsafe_code)]`.
fn check_unsafe(root: &Path) -> Result<()> {
    let mut roots = vec![root.join("xtask/src/main.rs")];
    let crates = root.join("crates");
    for entry in
        std::fs::read_dir(&crates).with_context(|| format!("reading {}", crates.display()))?
    {
        let dir = entry?.path();
        roots.extend(
            ["src/lib.rs", "src/main.rs"]
                .iter()
                .map(|file| dir.join(file))
                .filter(|path| path.exists()),
        );
    }
    let mut missing = Vec::new();
    for path in &roots {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let status = if text.contains("#![forbid(unsafe_code)]") {
            "ok"
        } else {
            missing.push(path.display().to_string());
            "MISSING"
        };
        println!(
            "{status:<8} {}",
            path.strip_prefix(root).unwrap_or(path).display()
        );
    }
    if !missing.is_empty() {
        bail!(
            "{} crate root(s) lack #![forbid(unsafe_code)]: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(())
}
