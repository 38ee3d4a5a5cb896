//! One module per group of commands; [`run`] dispatches.

mod audit;
mod data;
mod docs;
mod key;
mod portable;
mod slot;
mod vault;

use anyhow::{Context as _, Result};
use keyvault_store::FileVault;

use crate::args::{Cli, Command};
use crate::context::Context;

/// Run the command `cli` names.
///
/// # Errors
/// Whatever the command fails with; `main` turns it into a sentence and an exit code.
pub(crate) fn run(cli: &Cli) -> Result<()> {
    let ctx = Context::new(&cli.global);
    match &cli.command {
        Command::Init(args) => vault::init(&ctx, args),
        Command::Passwd => vault::passwd(&ctx),
        Command::Status => vault::status(&ctx),
        Command::Quickstart(args) => vault::quickstart(&ctx, args),
        Command::Key(command) => key::run(&ctx, command),
        Command::Slot(command) => slot::run(&ctx, command),
        Command::Encrypt(args) => data::encrypt(&ctx, args),
        Command::Decrypt(args) => data::decrypt(&ctx, args),
        Command::Rewrap(args) => data::rewrap(&ctx, args),
        Command::Datakey(args) => data::datakey(&ctx, args),
        Command::Mac(args) => data::mac(&ctx, args),
        Command::Verify(args) => data::verify(&ctx, args),
        Command::Derive(args) => data::derive(&ctx, args),
        Command::Export(args) => portable::export(&ctx, args),
        Command::Import(args) => portable::import(&ctx, args),
        Command::Backup(command) => portable::backup(&ctx, command),
        Command::Restore(args) => portable::restore(&ctx, args),
        Command::Migrate(command) => portable::migrate(&ctx, command),
        Command::Audit(command) => audit::run(&ctx, command),
        Command::Completions(args) => docs::completions(&ctx, args),
        Command::Man(args) => docs::man(&ctx, args),
    }
}

/// Commit the vault's buffered audit events, so a failure to record them is reported rather
/// than lost when the vault is dropped.
///
/// # Errors
/// The audit commit fails.
pub(crate) fn finish(vault: FileVault) -> Result<()> {
    vault
        .flush_audit()
        .context("the operation succeeded but its audit record could not be written")
}

/// Say on stderr when old copies of replaced or destroyed secrets (`what`) may still be on disk
/// because another process kept reading the vault throughout the scrub. The change itself is
/// committed either way, so this is a warning, not a failure.
pub(crate) fn warn_if_unscrubbed(scrub: keyvault_store::Scrub, what: &str) {
    if scrub == keyvault_store::Scrub::Incomplete {
        crate::log::warning!(
            "another process kept the vault open for reading, so {what} may remain in the \
             vault's files until the next password change or destroy; close other keyvault \
             processes and run `keyvault passwd` again if that matters"
        );
    }
}
