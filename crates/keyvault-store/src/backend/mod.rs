//! Storage backends: the smallest transactional interface that memory, an embedded database and
//! a networked database can all satisfy.
//!
//! A backend stores opaque byte records under byte keys. It offers point reads, prefix scans and
//! one atomic batch of writes guarded by optimistic preconditions on record revisions, so two
//! writers (threads, processes or machines) never silently lose each other's update. Every commit
//! takes the next number of a global sequence (the previous one plus one), and each record it
//! writes takes that number as its revision; the sequence also tells a cache whether anything
//! changed, and the vault's record head relies on it to know each record's revision before it
//! commits.
//!
//! Backends never see plaintext: the vault hands them sealed blobs under keyed-hash keys.

mod memory;
mod sqlite;
mod wal_index;

pub use memory::MemoryBackend;
pub use sqlite::{BusyWait, FileBackend};

use crate::error::{Result, StoreError};

/// One stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's key.
    pub key: Vec<u8>,
    /// The record's value (a sealed blob).
    pub value: Vec<u8>,
    /// The commit sequence number that last wrote this record (never 0).
    pub revision: u64,
}

/// What a write expects to find before it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No expectation: last writer wins. Use only for records no one else writes.
    Any,
    /// The record must not exist.
    Absent,
    /// The record must exist with exactly this revision.
    Revision(u64),
}

/// What a write does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create or replace the record's value.
    Put(Vec<u8>),
    /// Remove the record.
    Delete,
    /// Change nothing; only check the precondition (to guard a write on a record read earlier).
    Check,
}

/// One write of a batch: a key, its precondition and its action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The record's key.
    pub key: Vec<u8>,
    /// What must hold before the batch applies.
    pub expect: Expect,
    /// What to do.
    pub action: Action,
}

/// A set of writes applied all together or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    writes: Vec<Write>,
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Put `value` under `key` if `expect` holds.
    #[must_use]
    pub fn put(
        mut self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        expect: Expect,
    ) -> Self {
        self.writes.push(Write {
            key: key.into(),
            expect,
            action: Action::Put(value.into()),
        });
        self
    }

    /// Delete `key` if `expect` holds.
    #[must_use]
    pub fn delete(mut self, key: impl Into<Vec<u8>>, expect: Expect) -> Self {
        self.writes.push(Write {
            key: key.into(),
            expect,
            action: Action::Delete,
        });
        self
    }

    /// Require `expect` of `key` without changing it.
    #[must_use]
    pub fn check(mut self, key: impl Into<Vec<u8>>, expect: Expect) -> Self {
        self.writes.push(Write {
            key: key.into(),
            expect,
            action: Action::Check,
        });
        self
    }

    /// The writes, in order.
    #[must_use]
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// Whether the batch holds no writes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Refuse batches that name one key twice: the outcome would depend on order.
    pub(crate) fn validate(&self) -> Result<()> {
        let mut keys: Vec<&[u8]> = self.writes.iter().map(|w| w.key.as_slice()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair.first() == pair.get(1)) {
            return Err(StoreError::InvalidBatch("a key appears twice"));
        }
        Ok(())
    }
}

/// The refusal of [`Backend::continue_sequence`] on a store that holds records.
pub(crate) const SEQUENCE_STARTED: StoreError =
    StoreError::InvalidBatch("the commit sequence can only be continued on an empty store");

/// Check one precondition against the revision currently stored (`None`: absent).
pub(crate) fn check_expect(expect: Expect, current: Option<u64>) -> Result<()> {
    let holds = match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Revision(revision) => current == Some(revision),
    };
    if holds {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            expected: describe(Some(expect)),
            found: current.map_or_else(|| "absent".to_owned(), |rev| format!("revision {rev}")),
        })
    }
}

fn describe(expect: Option<Expect>) -> String {
    match expect {
        Some(Expect::Any) | None => "anything".to_owned(),
        Some(Expect::Absent) => "absent".to_owned(),
        Some(Expect::Revision(rev)) => format!("revision {rev}"),
    }
}

/// The exclusive upper bound of the keys that start with `prefix`, or `None` if there is none
/// (empty prefix, or all bytes 0xFF).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last.saturating_add(1));
            return Some(end);
        }
    }
    None
}

/// Transactional record storage.
///
/// Implementations must make [`commit`](Backend::commit) atomic (all writes or none) and durable
/// once it returns, check every precondition inside the same transaction that applies the
/// writes, and return [`StoreError::Conflict`] when one fails.
pub trait Backend: Send + Sync + 'static {
    /// The record under `key`, if any.
    ///
    /// # Errors
    /// Storage errors ([`StoreError::Database`], [`StoreError::Busy`], ...).
    fn get(&self, key: &[u8]) -> Result<Option<Record>>;

    /// Every record whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// Storage errors.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Record>>;

    /// Apply `batch` atomically if every precondition holds; returns the commit's sequence number
    /// (the previous commit's plus one), which is also the new revision of every record it wrote.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if a precondition fails (nothing is written),
    /// [`StoreError::InvalidBatch`] for a batch naming a key twice, storage errors otherwise.
    fn commit(&self, batch: &Batch) -> Result<u64>;

    /// The sequence number of the latest commit by anyone (0 for an empty store). It changes
    /// whenever any writer commits, so a cache can tell whether to re-read.
    ///
    /// # Errors
    /// Storage errors.
    fn sequence(&self) -> Result<u64>;

    /// On a store that holds no record, make the next commit take a number above `sequence`
    /// (numbers never go back):
    /// a vault restored from a snapshot read at `sequence` continues that snapshot's numbering,
    /// so every change made after the restore has a revision above the snapshot's and an
    /// incremental snapshot taken against it misses none.
    ///
    /// # Errors
    /// [`StoreError::InvalidBatch`] if the store holds records; storage errors.
    fn continue_sequence(&self, sequence: u64) -> Result<()>;

    /// Where the records live, for error messages (a file path, or "memory").
    fn describe(&self) -> String {
        "the in-memory store".to_owned()
    }

    /// Make deleted or overwritten data unrecoverable from the backend's own logs and free
    /// lists (called after key material is destroyed and after a password change), and say
    /// whether that completed. The default, for backends that keep no old copies, does nothing.
    ///
    /// # Errors
    /// Storage errors.
    fn compact(&self) -> Result<Scrub> {
        Ok(Scrub::Complete)
    }
}

/// Whether [`Backend::compact`] left any old copy of overwritten or deleted records behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Scrub {
    /// Nothing overwritten or deleted is left in the backend's files.
    Complete,
    /// Another reader kept the old data in use throughout: old copies (for example a replaced
    /// keyslot) may remain on disk until a later compaction, such as the next password change,
    /// destroy or open, completes.
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
