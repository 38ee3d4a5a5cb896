//! A cheap answer to "has anyone committed since I last looked?" for the file backend.
//!
//! In WAL mode every connection to a database, in any process, shares the WAL index: the
//! `-shm` file beside it, which SQLite maps into memory. The index starts with two copies of
//! a 48-byte header (<https://www.sqlite.org/walformat.html>) that every commit rewrites before
//! it returns: its change counter goes up by one and the frame count and checksums change.
//! Reads and checkpoints leave it as it is. So while the header holds the same bytes, nothing
//! has been committed, and one `pread` of 96 bytes, with no lock taken, tells the vault what a
//! read transaction (several file-lock system calls) would.
//!
//! Anything unexpected (no index file, copies that differ because a writer is halfway through
//! rewriting them, an index not initialised or of another version) is answered with `None`,
//! and the caller asks SQLite itself. The header is only meaningful while the index file is the
//! one SQLite uses, which holds while a connection to the database stays open: the last
//! connection to close may delete the file, and a later one creates a new one. The backend
//! therefore keeps one connection open for its whole life.

use std::fs::File;
use std::path::Path;

/// Length of one copy of the header.
const HEADER_LEN: usize = 48;
/// `iVersion`, the first field of the header, for every SQLite since WAL mode appeared.
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// Offset of `iChange`, the counter every write of the header increments.
const CHANGE_COUNTER: usize = 8;
/// Offset of `mxFrame`, the number of valid frames in the log.
const FRAMES: usize = 16;
/// Offset of `isInit`, which is 1 once the header is valid.
const IS_INIT: usize = 12;

/// One copy of the WAL-index header, as bytes.
pub(crate) type Header = [u8; HEADER_LEN];

/// The `-shm` file of a database, open for reading.
#[derive(Debug)]
pub(crate) struct WalIndex {
    file: File,
}

impl WalIndex {
    /// The WAL index beside the database at `database`, if it exists.
    pub(crate) fn open(database: &Path) -> Option<Self> {
        let mut name = database.as_os_str().to_owned();
        name.push("-shm");
        File::open(name).ok().map(|file| WalIndex { file })
    }

    /// The current header, if its two copies agree and it is a valid header of the known
    /// version.
    pub(crate) fn header(&self) -> Option<Header> {
        let mut both = [0u8; 2 * HEADER_LEN];
        read_start(&self.file, &mut both)?;
        let (first, second) = both.split_at(HEADER_LEN);
        let version = u32::from_ne_bytes(first.get(..4)?.try_into().ok()?);
        let valid = first == second
            && version == WAL_INDEX_VERSION
            && first.get(IS_INIT).copied() == Some(1);
        valid.then(|| first.try_into().ok()).flatten()
    }
}

/// Whether `after` is the very next header after `before`: SQLite wrote the header exactly
/// once in between. A commit writes it once (a commit that first restarts the log, twice), so
/// a backend that read `before` while holding the write lock and `after` once its commit
/// returned knows `after` belongs to its own commit.
pub(crate) fn is_next(before: &Header, after: &Header) -> bool {
    change_counter(after) == change_counter(before).wrapping_add(1)
}

/// How many frames the write-ahead log holds.
pub(crate) fn frames(header: &Header) -> u32 {
    field(header, FRAMES)
}

fn change_counter(header: &Header) -> u32 {
    field(header, CHANGE_COUNTER)
}

/// The native-endian 32-bit field at `offset` (always inside the header).
fn field(header: &Header, offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    if let Some(found) = header.get(offset..offset + 4) {
        bytes.copy_from_slice(found);
    }
    u32::from_ne_bytes(bytes)
}

/// Fill `buf` from the start of `file` without moving a shared file position.
#[cfg(unix)]
fn read_start(file: &File, buf: &mut [u8]) -> Option<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, 0).ok()
}

/// Elsewhere the vault always asks SQLite.
#[cfg(not(unix))]
fn read_start(_file: &File, _buf: &mut [u8]) -> Option<()> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// A header's bytes as SQLite writes them, with its change counter set to `change`.
    fn header(change: u32) -> Header {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&WAL_INDEX_VERSION.to_ne_bytes());
        header[CHANGE_COUNTER..CHANGE_COUNTER + 4].copy_from_slice(&change.to_ne_bytes());
        header[IS_INIT] = 1;
        header
    }

    fn index_with(bytes: &[u8]) -> (tempfile::TempDir, Option<WalIndex>) {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("v.db");
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        std::fs::write(shm, bytes).unwrap();
        let index = WalIndex::open(&database);
        (dir, index)
    }

    #[test]
    fn only_a_whole_valid_header_is_trusted() {
        let good = header(7);
        let (_dir, index) = index_with(&[good, good].concat());
        assert_eq!(index.unwrap().header(), Some(good));
        // A writer halfway through: the two copies differ.
        let (_dir, index) = index_with(&[header(8), good].concat());
        assert_eq!(index.unwrap().header(), None);
        // Not initialised, another version, too short.
        let mut fresh = good;
        fresh[IS_INIT] = 0;
        let (_dir, index) = index_with(&[fresh, fresh].concat());
        assert_eq!(index.unwrap().header(), None);
        let mut other = good;
        other[0] ^= 1;
        let (_dir, index) = index_with(&[other, other].concat());
        assert_eq!(index.unwrap().header(), None);
        let (_dir, index) = index_with(&good);
        assert_eq!(index.unwrap().header(), None);
        // The change counter tells the next header from a later one, across wrap-around.
        assert!(is_next(&header(7), &header(8)));
        assert!(!is_next(&header(7), &header(9)));
        assert!(!is_next(&header(7), &header(7)));
        assert!(is_next(&header(u32::MAX), &header(0)));
        // No index file at all.
        let dir = tempfile::tempdir().unwrap();
        assert!(WalIndex::open(&dir.path().join("none.db")).is_none());
    }
}
