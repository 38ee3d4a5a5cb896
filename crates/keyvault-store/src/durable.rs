//! Durable writes of whole files: a file appears at its path complete or not at all.
//!
//! [`NewFile`] writes into a temporary file beside the destination, created readable by its
//! owner only (0600 on Unix) from the start, and [`NewFile::publish`] makes it durable and moves
//! it into place: fsync the file, rename it (refusing an existing file unless told to replace
//! it), fsync the directory so the new name survives a crash. Dropped before publishing, it
//! removes the temporary file, so a failure part way leaves nothing behind.
//!
//! A large file starts reaching the disk while it is still being written: after every
//! [`EARLY_SYNC_BYTES`] a background thread asks the system to write out what is there, so the
//! fsync in `publish` waits only for the last part instead of the whole file.
//!
//! Errors are [`std::io::Error`]s with their kind kept (an existing destination is
//! [`std::io::ErrorKind::AlreadyExists`]) and never name the temporary file, which the user did
//! not choose: callers name the destination.
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("report.txt");
//! use keyvault_store::durable::{self, Overwrite};
//! use std::io::Write;
//!
//! let mut file = durable::NewFile::create(&path)?;
//! file.write_all(b"first part, ")?;
//! file.write_all(b"second part")?;
//! file.publish(Overwrite::Refuse)?;
//!
//! // Or in one call, never replacing an existing file.
//! let err = durable::write_new(&path, b"again").unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

/// Whether [`NewFile::publish`] may replace an existing file at the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse, atomically: a file that appeared at the destination at any time stays.
    Refuse,
    /// Replace an existing file (for an explicit `--force`).
    Replace,
}

/// How much a [`NewFile`] takes between two requests to write it out early.
pub const EARLY_SYNC_BYTES: u64 = 16 << 20;

/// A file being written under a temporary name beside its destination.
#[derive(Debug)]
pub struct NewFile {
    temp: NamedTempFile,
    path: PathBuf,
    written: u64,
    early: Option<EarlySync>,
}

/// The thread that writes a large file out while it is still being written.
#[derive(Debug)]
struct EarlySync {
    requests: SyncSender<()>,
    thread: JoinHandle<io::Result<()>>,
}

impl EarlySync {
    fn start(file: &File) -> io::Result<Self> {
        let file = file.try_clone()?;
        // One request may wait while a write-out runs; more would add nothing.
        let (requests, received) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("keyvault-sync".to_owned())
            .spawn(move || {
                for () in received {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(EarlySync { requests, thread })
    }

    /// Wait for the write-outs asked for; their error, if one failed.
    fn finish(self) -> io::Result<()> {
        drop(self.requests);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the early write-out stopped")))
    }
}

impl NewFile {
    /// Start writing a file for `path`: an empty temporary file in the same directory,
    /// readable and writable by its owner only.
    ///
    /// # Errors
    /// The directory does not exist or a file cannot be created in it.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let mut builder = tempfile::Builder::new();
        builder.prefix(".keyvault-").suffix(".partial");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Set at creation, so the contents are never readable by others, not even briefly.
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        let temp = builder
            .tempfile_in(parent_dir(path))
            .map_err(without_temp_path)?;
        Ok(NewFile {
            temp,
            path: path.to_path_buf(),
            written: 0,
            early: None,
        })
    }

    /// Count `n` more bytes written; ask for an early write-out each time another
    /// [`EARLY_SYNC_BYTES`] are in.
    fn wrote(&mut self, n: usize) -> io::Result<()> {
        let before = self.written / EARLY_SYNC_BYTES;
        self.written = self.written.saturating_add(n as u64);
        if self.written / EARLY_SYNC_BYTES == before {
            return Ok(());
        }
        if self.early.is_none() {
            self.early = Some(EarlySync::start(self.temp.as_file())?);
        }
        if let Some(early) = &self.early {
            // Refused only if a request already waits (it covers these bytes too) or the
            // thread stopped on an error, which `publish` reports.
            let _ = early.requests.try_send(());
        }
        Ok(())
    }

    /// The destination.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file's path, for writers that open files by name (such as SQLite). Keep it
    /// out of messages to the user.
    #[must_use]
    pub fn temporary_path(&self) -> &Path {
        self.temp.path()
    }

    /// Make the file durable and move it to its destination, then make the new name durable.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] if a file is at the destination and `overwrite` is
    /// [`Overwrite::Refuse`] (the temporary file is then removed); other I/O errors.
    pub fn publish(self, overwrite: Overwrite) -> io::Result<()> {
        let NewFile {
            temp, path, early, ..
        } = self;
        if let Some(early) = early {
            early.finish()?;
        }
        temp.as_file().sync_all()?;
        let persisted = match overwrite {
            Overwrite::Refuse => temp.persist_noclobber(&path),
            Overwrite::Replace => temp.persist(&path),
        };
        // On failure the returned temporary file is dropped here, which removes it.
        persisted.map_err(|err| err.error)?;
        // The rename is durable only once the directory holding the new name is.
        File::open(parent_dir(&path))?.sync_all()
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.temp.as_file_mut().write(buf)?;
        self.wrote(n)?;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.as_file_mut().write_all(buf)?;
        self.wrote(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

/// Write `bytes` durably to a new file at `path`, readable by its owner only, never replacing
/// an existing file.
///
/// # Errors
/// [`io::ErrorKind::AlreadyExists`] if `path` exists; other I/O errors. Nothing is left behind
/// on failure.
pub fn write_new(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let path = path.as_ref();
    // Checked first too, so an existing file is refused before anything is written.
    if path.symlink_metadata().is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    let mut file = NewFile::create(path)?;
    file.write_all(bytes)?;
    file.publish(Overwrite::Refuse)
}

/// The directory that holds `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The same error without the temporary file's name, which `tempfile` appends as
/// "... at path <name>".
fn without_temp_path(err: io::Error) -> io::Error {
    let text = err.to_string();
    match text.find(" at path ") {
        Some(end) => io::Error::new(err.kind(), text.get(..end).unwrap_or_default()),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_appears_complete_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut file = NewFile::create(&path).unwrap();
        assert_eq!(file.path(), path);
        #[cfg(unix)]
        assert_eq!(mode(file.temporary_path()), 0o600, "private from creation");
        file.write_all(b"hello ").unwrap();
        file.write_all(b"world").unwrap();
        assert!(
            !path.exists(),
            "nothing at the destination before publishing"
        );
        file.publish(Overwrite::Refuse).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(dir.path()), ["out.bin"], "no temporary file left");
    }

    #[test]
    fn an_existing_file_is_kept_unless_replacing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        std::fs::write(&path, b"old").unwrap();

        let err = write_new(&path, b"new").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

        // A file that appears while the new one is written is not replaced either.
        let mut file = NewFile::create(dir.path().join("late.bin")).unwrap();
        file.write_all(b"new").unwrap();
        std::fs::write(dir.path().join("late.bin"), b"old").unwrap();
        let err = file.publish(Overwrite::Refuse).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.path().join("late.bin")).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["late.bin", "out.bin"], "no leftovers");

        let mut file = NewFile::create(&path).unwrap();
        file.write_all(b"new").unwrap();
        file.publish(Overwrite::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(dir.path()), ["late.bin", "out.bin"]);
    }

    #[test]
    fn failures_leave_nothing_behind_and_never_name_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");

        // Abandoned part way: the temporary file goes with it.
        let mut file = NewFile::create(&path).unwrap();
        file.write_all(b"partial").unwrap();
        drop(file);
        assert!(names(dir.path()).is_empty());

        // A missing directory: the error keeps its kind and does not name the temporary file.
        let err = write_new(dir.path().join("missing/out.bin"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let text = err.to_string();
        assert!(!text.contains(".partial"), "{text}");
        assert!(!text.contains(".keyvault-"), "{text}");
        assert!(names(dir.path()).is_empty());
    }
}
