//! `cargo xtask release`: not built yet.

use std::path::Path;

use anyhow::{Result, bail};

/// Options of `cargo xtask release`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs the task.
pub(crate) fn run(_root: &Path, _args: &Args) -> Result<()> {
    bail!("`cargo xtask release` is not built yet; nothing was checked")
}
