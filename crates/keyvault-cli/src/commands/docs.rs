//! `completions` and `man`: generated from the same clap definitions as the parser.

use std::io::Write;

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use serde_json::json;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::context::Context;

/// `keyvault completions SHELL`: the script on stdout (inside a JSON document with `--json`).
pub(crate) fn completions(ctx: &Context<'_>, args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "keyvault", &mut script);
    if ctx.out.json() {
        return ctx.out.data(
            &json!({ "shell": args.shell.to_string(), "script": String::from_utf8_lossy(&script) }),
            "",
        );
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// `keyvault man`: keyvault.1 on stdout, or every page into a directory.
pub(crate) fn man(ctx: &Context<'_>, args: &ManArgs) -> Result<()> {
    let command = Cli::command();
    match &args.output {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            if ctx.out.json() {
                return ctx.out.data(
                    &json!({ "page": "keyvault.1", "roff": String::from_utf8_lossy(&page) }),
                    "",
                );
            }
            let mut out = std::io::stdout().lock();
            out.write_all(&page)
                .and_then(|()| out.flush())
                .context("cannot write to standard output")
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
