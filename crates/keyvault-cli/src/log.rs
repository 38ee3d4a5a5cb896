//! Diagnostics on stderr, filtered by `-q` / `-v`: warnings by default, nothing but errors with
//! `-q`, what the tool is doing with `-v`, and more detail with `-vv`. Never a secret: callers
//! pass paths, names, counts and sizes only.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// How chatty the tool is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Errors only (`-q`).
    Quiet = 0,
    /// Warnings too (the default).
    Warn = 1,
    /// What the tool is doing (`-v`).
    Info = 2,
    /// Details (`-vv`).
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);

/// Set the level for the rest of the process.
pub(crate) fn init(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => Level::Quiet,
        (false, 0) => Level::Warn,
        (false, 1) => Level::Info,
        (false, _) => Level::Debug,
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether messages of `level` are shown.
pub(crate) fn enabled(level: Level) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level as u8
}

/// Print a message of `level` to stderr if it is enabled.
pub(crate) fn emit(level: Level, message: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let tag = match level {
            Level::Quiet => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        // Messages can quote file names and reasons read from files: no raw controls.
        let message = message.to_string();
        // A closed stderr loses the message; `eprintln!` would panic instead.
        let _ = writeln!(
            std::io::stderr(),
            "keyvault: {tag}: {}",
            crate::output::escape_controls(&message, false)
        );
    }
}

/// A warning (hidden by `-q`).
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Warn, format_args!($($arg)*)) };
}

/// What the tool is doing (shown with `-v`).
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Info, format_args!($($arg)*)) };
}

/// Details (shown with `-vv`).
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Debug, format_args!($($arg)*)) };
}

pub(crate) use {debug, info, warning};
