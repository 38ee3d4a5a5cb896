//! `keyvault`: named, versioned, policy-governed keys in a local vault file, from a terminal or
//! a script.
//!
//! This binary holds no cryptography or storage logic of its own: it parses the command line
//! ([`args`]), finds passwords ([`password`]), calls keyvault-store and keyvault-backup
//! ([`commands`]), and prints the result as text or one JSON document ([`output`]). It defines
//! no format: files of any size go through keyvault-store's encrypted file stream
//! (`keyvault_store::stream`); the binary opens the files, shows progress and maps errors to
//! exit codes.
//!
//! Exit codes are listed in [`exit`], in `keyvault --help` and in the README.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod commands;
mod context;
mod custody;
mod hints;
mod io;
mod log;
mod output;
mod password;
mod progress;
mod time;

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use clap::Parser;
use keyvault_cli::exit;
use serde_json::json;

use crate::args::Cli;
use crate::exit::Code;

fn main() -> ExitCode {
    // A bug must still end in one sentence on stderr, never a Rust panic message or backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        // `eprintln!` would panic again if stderr is closed.
        let _ = writeln!(
            std::io::stderr(),
            "keyvault: internal error{location}; please report it"
        );
    }));
    std::panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| Code::Failure.into())
}

/// Parse, run, report.
fn run() -> ExitCode {
    let json = std::env::args_os().any(|arg| arg == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err, json),
    };
    log::init(cli.global.quiet, cli.global.verbose);
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err, cli.global.json),
    }
}

/// Print clap's message (help and version go to stdout with status 0).
fn usage_error(err: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let status = err.exit_code();
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    if informational {
        let _ = err.print();
    } else {
        // The message quotes the arguments, which may hold escape sequences; clap would pass
        // them to a colour terminal as they are. Plain text, controls escaped.
        let text = err.render().to_string();
        let _ = write!(
            std::io::stderr(),
            "{}",
            output::escape_controls(&text, true)
        );
    }
    if json && !informational {
        let message = err
            .render()
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid usage")
            .trim_start_matches("error: ")
            .to_owned();
        let _ = output::print_json(&json!({
            "error": { "message": message, "code": Code::Usage.status(), "kind": Code::Usage.name() }
        }));
    }
    ExitCode::from(u8::try_from(status).unwrap_or(Code::Usage.status()))
}

/// Print `err` as one sentence on stderr (and a JSON document with `--json`); its exit code.
fn report(err: &anyhow::Error, json: bool) -> ExitCode {
    if broken_pipe(err) {
        // The reader went away (`keyvault audit export | head`): not worth a message, but
        // output was lost, so never success.
        return ExitCode::from(exit::BROKEN_PIPE_STATUS);
    }
    let code = exit::classify(err);
    let message = hints::sentence(err);
    let mut stderr = std::io::stderr().lock();
    // The message can quote input and file contents: escape controls on the terminal, while
    // the JSON document below keeps the exact text.
    let _ = writeln!(
        stderr,
        "keyvault: {}",
        output::escape_controls(&message, false)
    );
    if json {
        let _ = output::print_json(&json!({
            "error": { "message": message, "code": code.status(), "kind": code.name() }
        }));
    }
    code.into()
}

fn broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
