//! Progress bars on stderr for long work, only when stderr is a terminal and `-q` is not given:
//! silent in scripts, pipes and CI.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::log;

/// Work shorter than this many bytes gets no bar.
const THRESHOLD: u64 = 16 << 20;

/// Whether bars may be drawn at all.
fn allowed() -> bool {
    log::enabled(log::Level::Warn) && std::io::stderr().is_terminal()
}

/// Say on a terminal's stderr (unless `-q`) why the command is not moving: another process
/// holds the vault's lock. Called by the store once it has waited a couple of seconds.
pub(crate) fn say_waiting_for_the_lock() {
    if allowed() {
        let _ = writeln!(
            std::io::stderr(),
            "keyvault: waiting for the vault (locked by another process)…"
        );
    }
}

/// A byte counter that shows a bar once the work is known (or turns out) to be long.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    message: &'static str,
    total: Option<u64>,
    done: u64,
    allowed: bool,
}

impl Progress {
    /// Progress over `total` bytes (unknown for stdin).
    pub(crate) fn bytes(total: Option<u64>, message: &'static str) -> Self {
        let mut progress = Progress {
            bar: None,
            message,
            total,
            done: 0,
            allowed: allowed(),
        };
        if total.is_some_and(|total| total >= THRESHOLD) {
            progress.start();
        }
        progress
    }

    fn start(&mut self) {
        if !self.allowed || self.bar.is_some() {
            return;
        }
        let bar = match self.total {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                {
                    bar.set_style(style);
                }
                bar
            }
        };
        bar.set_message(self.message);
        bar.set_position(self.done);
        self.bar = Some(bar);
    }

    /// `n` more bytes done.
    pub(crate) fn advance(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        if self.bar.is_none() && self.done >= THRESHOLD {
            self.start();
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
        }
    }

    /// Remove the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A spinner for work of unknown length (Argon2, compression), shown on a terminal only.
pub(crate) struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Start a spinner saying `message`.
    pub(crate) fn start(message: &'static str) -> Self {
        if !allowed() {
            return Spinner(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
