//! Inputs and outputs of the data commands: a file or stdin in, a file or stdout out.
//!
//! Files are written to a temporary file beside the destination (created 0600) and renamed
//! into place only once complete, so a failure part way leaves the destination untouched and
//! no partial file behind.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use keyvault_store::durable::{NewFile, Overwrite};
use zeroize::Zeroizing;

use crate::exit::{Code, Failure};

/// Where a command reads its data.
pub(crate) struct Input {
    reader: BufReader<Box<dyn Read + Send>>,
    len: Option<u64>,
    name: String,
}

impl Input {
    /// `path`, or stdin when `None` or `-`.
    ///
    /// # Errors
    /// The file cannot be opened (exit code 5 if it does not exist).
    pub(crate) fn open(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(path) if path != Path::new("-") => {
                let file = File::open(path)
                    .with_context(|| format!("cannot open the input file {}", path.display()))?;
                let len = file.metadata().ok().map(|meta| meta.len());
                Ok(Input {
                    reader: BufReader::with_capacity(256 * 1024, Box::new(file)),
                    len,
                    name: path.display().to_string(),
                })
            }
            _ => Ok(Input {
                reader: BufReader::with_capacity(256 * 1024, Box::new(std::io::stdin())),
                len: None,
                name: "standard input".to_owned(),
            }),
        }
    }

    /// The input's size, when it is a file.
    pub(crate) fn len(&self) -> Option<u64> {
        self.len
    }

    /// "standard input" or the file's path.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The buffered reader.
    pub(crate) fn reader(&mut self) -> &mut BufReader<Box<dyn Read + Send>> {
        &mut self.reader
    }

    /// Everything, refusing more than `limit` bytes.
    ///
    /// # Errors
    /// I/O errors; more than `limit` bytes (with `hint` saying what to do instead).
    pub(crate) fn read_all(&mut self, limit: usize, hint: &str) -> Result<Zeroizing<Vec<u8>>> {
        let mut data = Zeroizing::new(Vec::new());
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        (&mut self.reader)
            .take(cap)
            .read_to_end(&mut data)
            .with_context(|| format!("cannot read {}", self.name))?;
        if data.len() > limit {
            return Err(Failure::new(
                Code::Failure,
                format!(
                    "{} is larger than {} MiB, the most this command holds in memory; {hint}",
                    self.name,
                    limit >> 20
                ),
            )
            .into());
        }
        Ok(data)
    }
}

/// Refuse to write over an existing `path`: exit code 1, naming `--force` when the command
/// takes it.
///
/// # Errors
/// `path` exists (as a file, a directory or anything else).
pub(crate) fn refuse_existing(path: &Path, force_flag: bool) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(already_exists(path, force_flag).into());
    }
    Ok(())
}

fn already_exists(path: &Path, force_flag: bool) -> Failure {
    let hint = if force_flag {
        "pass --force to replace it, or choose another file name"
    } else {
        "choose another file name"
    };
    Failure::new(
        Code::Failure,
        format!("{} already exists; {hint}", path.display()),
    )
}

/// Where a command writes its data.
pub(crate) enum Output {
    /// Standard output.
    Stdout(BufWriter<std::io::Stdout>),
    /// A file, written under a temporary name and renamed on [`Output::finish`]; dropped
    /// before that, the temporary file is removed.
    File {
        /// The file being written (its errors never name the temporary file).
        file: BufWriter<NewFile>,
        /// Whether an existing file at the destination may be replaced (`--force`).
        force: bool,
    },
}

impl Output {
    /// `path`, or stdout when `None` or `-`. An existing file at `path` is refused unless
    /// `force` (`--force`), here and again, atomically, when the file is moved into place.
    ///
    /// # Errors
    /// `path` exists and `force` is not given; the temporary file cannot be created beside
    /// `path`.
    pub(crate) fn create(path: Option<&Path>, force: bool) -> Result<Self> {
        match path {
            Some(path) if path != Path::new("-") => {
                if !force {
                    refuse_existing(path, true)?;
                }
                let dir = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                let file = NewFile::create(path).with_context(|| {
                    format!(
                        "cannot write {}: cannot create a file in {}",
                        path.display(),
                        dir.display()
                    )
                })?;
                Ok(Output::File {
                    file: BufWriter::with_capacity(256 * 1024, file),
                    force,
                })
            }
            _ => Ok(Output::Stdout(BufWriter::with_capacity(
                256 * 1024,
                std::io::stdout(),
            ))),
        }
    }

    /// Whether this writes to stdout.
    pub(crate) fn is_stdout(&self) -> bool {
        matches!(self, Output::Stdout(_))
    }

    /// Refuse to write binary data to a terminal.
    ///
    /// # Errors
    /// Exit code 2 if this is stdout and stdout is a terminal.
    pub(crate) fn refuse_binary_on_terminal(&self, hint: &str) -> Result<()> {
        if self.is_stdout() && std::io::stdout().is_terminal() {
            return Err(Failure::usage(format!(
                "refusing to write binary data to the terminal; {hint}"
            ))
            .into());
        }
        Ok(())
    }

    /// The destination, for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            Output::Stdout(_) => "standard output".to_owned(),
            Output::File { file, .. } => file.get_ref().path().display().to_string(),
        }
    }

    /// The file path, if this writes a file.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Output::Stdout(_) => None,
            Output::File { file, .. } => Some(file.get_ref().path()),
        }
    }

    /// Flush, and for a file make it durable and move it into place. Dropping an `Output`
    /// without finishing removes the temporary file.
    ///
    /// # Errors
    /// I/O errors; the rename fails.
    pub(crate) fn finish(self) -> Result<()> {
        match self {
            Output::Stdout(mut out) => out.flush().context("cannot write to standard output"),
            Output::File { file, force } => {
                let path = file.get_ref().path().to_path_buf();
                let file = file
                    .into_inner()
                    .map_err(|err| err.into_error())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let overwrite = if force {
                    Overwrite::Replace
                } else {
                    Overwrite::Refuse
                };
                match file.publish(overwrite) {
                    Ok(()) => Ok(()),
                    // A file that appeared at `path` meanwhile is not replaced either.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(already_exists(&path, true).into())
                    }
                    Err(err) => {
                        Err(anyhow::Error::new(err)
                            .context(format!("cannot write {}", path.display())))
                    }
                }
            }
        }
    }
}

/// A write error on the output file, naming the destination (the kind is kept).
fn naming(err: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::File { file, .. } => file
                .write(buf)
                .map_err(|err| naming(err, file.get_ref().path())),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout(out) => out.write_all(buf),
            Output::File { file, .. } => file
                .write_all(buf)
                .map_err(|err| naming(err, file.get_ref().path())),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File { file, .. } => file
                .flush()
                .map_err(|err| naming(err, file.get_ref().path())),
        }
    }
}

/// How much a [`WriteBehind`] gathers before handing it to its writing thread.
const WRITE_BEHIND_BLOCK: usize = 1 << 20;
/// Blocks a [`WriteBehind`] may have handed over and not yet written.
const WRITE_BEHIND_DEPTH: usize = 8;

/// A writer whose bytes reach the real output on another thread, so whatever produces them
/// (sealing a stream's chunks) goes on while earlier bytes are written. Made by
/// [`write_behind`]. Its buffers are not wiped: give it ciphertext, never plaintext.
pub(crate) struct WriteBehind {
    block: Vec<u8>,
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl WriteBehind {
    fn hand_over(&mut self) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        // A block the writing thread has finished with, or a new one while none is back yet
        // (the handing over below waits once `WRITE_BEHIND_DEPTH` blocks are queued).
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(WRITE_BEHIND_BLOCK));
        let block = std::mem::replace(&mut self.block, next);
        self.full.send(block).map_err(|_| writer_stopped())
    }
}

/// The writing thread ended early; its own error is reported when it is joined.
fn writer_stopped() -> std::io::Error {
    std::io::Error::other("the output stopped taking data")
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = WRITE_BEHIND_BLOCK.saturating_sub(self.block.len());
        let taken = buf.get(..room.min(buf.len())).unwrap_or_default();
        self.block.extend_from_slice(taken);
        if self.block.len() >= WRITE_BEHIND_BLOCK {
            self.hand_over()?;
        }
        Ok(taken.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_over()
    }
}

/// Run `produce` with a [`WriteBehind`] feeding `output` from a thread of its own; everything
/// produced is written (and `output` flushed) before this returns. An error of the writing
/// thread comes first, since a failure to produce may only be its consequence.
///
/// # Errors
/// `output`'s I/O errors, with `writing` saying what was being written; `produce`'s errors.
pub(crate) fn write_behind<T>(
    output: &mut (impl Write + Send),
    writing: &str,
    produce: impl FnOnce(&mut WriteBehind) -> Result<T>,
) -> Result<T> {
    std::thread::scope(|scope| {
        let (full, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(WRITE_BEHIND_DEPTH);
        let (returned, empty) = std::sync::mpsc::sync_channel(WRITE_BEHIND_DEPTH + 2);
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for mut block in received {
                output.write_all(&block)?;
                block.clear();
                // The producer may be gone; the block is then dropped.
                let _ = returned.send(block);
            }
            output.flush()
        });
        let mut behind = WriteBehind {
            block: Vec::with_capacity(WRITE_BEHIND_BLOCK),
            full,
            empty,
        };
        let produced = produce(&mut behind).and_then(|value| {
            behind.hand_over().map_err(anyhow::Error::new)?;
            Ok(value)
        });
        drop(behind);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written.with_context(|| writing.to_owned())?;
        produced
    })
}
