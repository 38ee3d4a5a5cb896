//! `completions` and `man`: generated from the same clap definitions as the parser.

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use serde_json::json;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::context::Context;

/// `keyvault completions SHELL`: the script on stdout.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "keyvault", &mut out);
    Ok(())
}

/// `keyvault man`: keyvault.1 on stdout, or every page into a directory.
pub(crate) fn man(ctx: &Context<'_>, args: &ManArgs) -> Result<()> {
    let command = Cli::command();
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .context("cannot write the man page")
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            let mut pages: Vec<String> = std::fs::read_dir(dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("keyvault") && name.ends_with(".1"))
                .collect();
            pages.sort();
            ctx.out.done(
                &json!({ "dir": dir, "pages": pages }),
                &format!("wrote {} man pages into {}", pages.len(), dir.display()),
            )
        }
    }
}
