//! `cargo xtask fuzz`: not built yet.

use std::path::Path;

use anyhow::{Result, bail};

/// Options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs the task.
pub(crate) fn run(_root: &Path, _args: &Args) -> Result<()> {
    bail!("`cargo xtask fuzz` is not built yet; nothing was checked")
}
