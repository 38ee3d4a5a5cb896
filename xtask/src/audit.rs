//! `cargo xtask audit`: not built yet.

use std::path::Path;

use anyhow::{Result, bail};

/// Options of `cargo xtask audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs the task.
pub(crate) fn run(_root: &Path, _args: &Args) -> Result<()> {
    bail!("`cargo xtask audit` is not built yet; nothing was checked")
}
