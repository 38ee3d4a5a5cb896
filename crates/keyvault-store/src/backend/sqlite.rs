//! The file backend, keyvault's embedded default: one SQLite database file.
//!
//! SQLite gives what a key store needs without a home-made file format: atomic commits (a crash
//! leaves the state before or after a transaction), durability (`synchronous=FULL` in WAL mode
//! fsyncs the log on every commit), and safe use by several processes at once (file locks plus
//! a busy timeout). `secure_delete` overwrites freed pages so removed records do not linger.
//!
//! The file is created with mode 0600, and a missing parent directory with 0700, at creation
//! time; SQLite gives its `-wal` and `-shm` files the database file's permissions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use super::wal_index::{self, WalIndex};
use super::{Action, Backend, Batch, Record, Scrub, check_expect, prefix_end};
use crate::error::{Result, StoreError};

/// `PRAGMA application_id` of a keyvault file: "kvlt".
const APPLICATION_ID: i32 = 0x6B76_6C74;
/// Version of the table layout below.
const SCHEMA_VERSION: i32 = 1;
/// How long a writer waits for another process's lock before giving up with `Busy`, unless
/// [`BusyWait::limit`] says otherwise.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a writer waits for the lock before [`BusyWait::on_wait`] is told, by default.
const BUSY_NOTICE: Duration = Duration::from_secs(2);
/// How long one checkpoint attempt of [`Backend::compact`] waits for readers, and the pause
/// between attempts.
const SCRUB_WAIT: Duration = Duration::from_millis(100);
/// Checkpoint attempts before [`Backend::compact`] reports [`Scrub::Incomplete`] (about 2 s).
const SCRUB_ATTEMPTS: usize = 10;
/// How many times [`Backend::sequence`] yields, waiting for this backend's own commit to finish
/// before reading SQLite.
const SPIN_BEFORE_SLEEP: usize = 32;
/// Frames in the write-ahead log that make the next commit checkpoint it first.
const CHECKPOINT_FRAMES: u32 = 1000;
/// Idle connections kept for reuse.
const MAX_IDLE_CONNECTIONS: usize = 8;

const SCHEMA: &str = "
    CREATE TABLE kv_records (
        key      BLOB PRIMARY KEY NOT NULL,
        value    BLOB NOT NULL,
        revision INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE kv_meta (
        name  TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO kv_meta (name, value) VALUES ('sequence', 0);
";

/// How long a file vault waits for another process's write lock (an open write transaction),
/// and whom it tells that it is waiting.
///
/// An attempt to take the lock waits at most `limit`, then fails with [`StoreError::Busy`],
/// which the vault does not retry; for `limit` after such a failure, attempts do not wait
/// again (they take the lock only if it is free), so an operation blocked by another process,
/// and the audit flush that follows it, end after `limit` in all.
#[derive(Clone)]
pub struct BusyWait {
    /// The longest wait for the lock (default 30 s).
    pub limit: Duration,
    /// How long a wait lasts before `on_wait` is called (default 2 s).
    pub notice_after: Duration,
    /// Called once a wait for the lock has lasted `notice_after` (if `limit` is longer), so a
    /// user can be told why nothing happens. Called from the waiting thread.
    pub on_wait: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Default for BusyWait {
    fn default() -> Self {
        BusyWait {
            limit: BUSY_TIMEOUT,
            notice_after: BUSY_NOTICE,
            on_wait: None,
        }
    }
}

impl std::fmt::Debug for BusyWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusyWait")
            .field("limit", &self.limit)
            .field("notice_after", &self.notice_after)
            .field("on_wait", &self.on_wait.is_some())
            .finish()
    }
}

/// Records in one SQLite file.
///
/// Connections are pooled, so threads read concurrently (WAL readers never block) while SQLite
/// serialises writers across threads and processes.
#[derive(Debug)]
pub struct FileBackend {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    busy: BusyWait,
    /// When a wait for the lock last ran out.
    gave_up: Mutex<Option<Instant>>,
    /// Held while committing: threads of this process take turns here, woken the moment the
    /// previous commit ends, and only other processes meet SQLite's busy wait (which sleeps).
    writing: Mutex<()>,
    /// How [`Backend::sequence`] learns cheaply that nothing changed.
    changes: Changes,
}

/// The commit sequence as last read from SQLite (or made by this backend), and the WAL-index
/// header that goes with it: while the header is unchanged, so is the sequence.
#[derive(Debug)]
struct Changes {
    index: Option<WalIndex>,
    seen: RwLock<Option<(wal_index::Header, u64)>>,
    /// A connection open for the backend's whole life, so the WAL index file stays the one
    /// SQLite uses (see `wal_index`). Also the connection that reads the sequence.
    anchor: Mutex<Connection>,
}

impl FileBackend {
    /// Create a new, empty store at `path`. Fails if the file exists.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if `path` exists; I/O and database errors.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        create_private_file(path)?;
        FileBackend::initialise(path)
    }

    /// Create the missing parent directory of `path`, readable only by its owner.
    pub(crate) fn create_parent_dir(path: &Path) -> Result<()> {
        create_private_parent(path)
    }

    /// Make the empty file at `path`, already created readable by its owner only, a new store
    /// (removing the file if that fails).
    pub(crate) fn initialise(path: &Path) -> Result<Self> {
        let conn = connect(path)?;
        let init = || -> rusqlite::Result<()> {
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
        };
        if let Err(err) = init() {
            // Leave nothing half-made behind.
            drop(conn);
            let _ = std::fs::remove_file(path);
            return Err(db_error(path, err));
        }
        FileBackend::assemble(path, conn)
    }

    /// Open an existing store.
    ///
    /// # Errors
    /// [`StoreError::NoVault`] if nothing is at `path`, [`StoreError::NotAVault`] for a file that
    /// is not a keyvault store (including a foreign SQLite database), database errors otherwise.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(StoreError::NoVault(path.display().to_string()));
        }
        // SQLite reads an empty file as an empty database; say what it is instead.
        if path.is_file() && std::fs::metadata(path).map_err(io_error(path))?.len() == 0 {
            return Err(StoreError::NotAVault {
                path: path.display().to_string(),
                reason: "the file is empty".to_owned(),
            });
        }
        // Check identity on a bare connection first: configuring (WAL mode) writes to the
        // file, and a file that is not ours must be left exactly as it was.
        let conn = open_bare(path)?;
        check_identity(path, &conn)?;
        configure(path, &conn)?;
        FileBackend::assemble(path, conn)
    }

    /// A backend on `path` whose first connection, `anchor`, has already read the database
    /// (so SQLite's WAL index exists and stays while `anchor` is open).
    fn assemble(path: &Path, anchor: Connection) -> Result<Self> {
        anchor
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|err| db_error(path, err))?;
        Ok(FileBackend {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            busy: BusyWait::default(),
            gave_up: Mutex::new(None),
            writing: Mutex::new(()),
            changes: Changes {
                index: WalIndex::open(path),
                seen: RwLock::new(None),
                anchor: Mutex::new(anchor),
            },
        })
    }

    /// Wait for another process's write lock as `busy` says, instead of the default 30 s.
    ///
    /// # Errors
    /// A pooled connection cannot take the new timeout.
    pub fn with_busy_wait(mut self, busy: BusyWait) -> Result<Self> {
        self.busy = busy;
        {
            let idle = self.idle.lock().map_err(|_| StoreError::Poisoned)?;
            let anchor = self
                .changes
                .anchor
                .lock()
                .map_err(|_| StoreError::Poisoned)?;
            for conn in idle.iter().chain(std::iter::once(&*anchor)) {
                conn.busy_timeout(self.busy.limit)
                    .map_err(|err| db_error(&self.path, err))?;
            }
        }
        Ok(self)
    }

    /// Take the write lock: wait [`BusyWait::notice_after`] quietly, then tell
    /// [`BusyWait::on_wait`] and wait for the rest of [`BusyWait::limit`].
    fn begin_write<'c>(&self, conn: &'c Connection) -> Result<Transaction<'c>> {
        let limit = self.busy.limit;
        let quiet = limit.min(self.busy.notice_after);
        let set_timeout = |timeout: Duration| {
            conn.busy_timeout(timeout)
                .map_err(|err| db_error(&self.path, err))
        };
        let gave_up_lately = self
            .gave_up
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .is_some_and(|at| at.elapsed() < limit);
        if gave_up_lately {
            // The whole wait was spent a moment ago: take the lock only if it is free now.
            set_timeout(Duration::ZERO)?;
            let began = Transaction::new_unchecked(conn, TransactionBehavior::Immediate);
            set_timeout(limit)?;
            return began.map_err(|err| db_error(&self.path, err));
        }
        set_timeout(quiet)?;
        let began = match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
            Err(err) if is_busy(&err) && limit > quiet => {
                if let Some(on_wait) = &self.busy.on_wait {
                    on_wait();
                }
                set_timeout(limit.saturating_sub(quiet))?;
                Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            }
            other => other,
        };
        set_timeout(limit)?;
        match began {
            Err(err) if is_busy(&err) => {
                *self.gave_up.lock().map_err(|_| StoreError::Poisoned)? = Some(Instant::now());
                Err(StoreError::Busy)
            }
            other => other.map_err(|err| db_error(&self.path, err)),
        }
    }

    /// Fold the write-ahead log into the database once it holds [`CHECKPOINT_FRAMES`] frames
    /// (SQLite's own default threshold), without waiting for readers (a passive checkpoint).
    /// Best effort: a checkpoint that cannot run now runs at a later commit.
    fn checkpoint_if_due(&self, conn: &Connection) {
        let due = match self.changes.index.as_ref().and_then(WalIndex::header) {
            Some(header) => wal_index::frames(&header) >= CHECKPOINT_FRAMES,
            // Without the index, ask SQLite (a checkpoint of a short log is cheap).
            None => true,
        };
        if due {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's permission bits if group or others can access it (it should be 0600).
    ///
    /// # Errors
    /// I/O errors reading the file's metadata.
    pub fn insecure_permissions(&self) -> Result<Option<u32>> {
        permissions_open_to_others(&self.path)
    }

    /// Remove a vault file and SQLite's side files, ignoring files that are not there.
    pub(crate) fn remove(path: &Path) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }

    /// Run `f` on a pooled connection, returning the connection to the pool afterwards.
    fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.idle.lock().map_err(|_| StoreError::Poisoned)?.pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.busy_timeout(self.busy.limit)
                    .map_err(|err| db_error(&self.path, err))?;
                conn
            }
        };
        let result = f(&mut conn);
        let mut idle = self.idle.lock().map_err(|_| StoreError::Poisoned)?;
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
        result
    }
}

impl Backend for FileBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Record>> {
        self.with_connection(|conn| {
            conn.prepare_cached("SELECT value, revision FROM kv_records WHERE key = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row(params![key], |row| {
                        Ok(Record {
                            key: key.to_vec(),
                            value: row.get(0)?,
                            revision: row.get(1)?,
                        })
                    })
                    .optional()
                })
                .map_err(|err| db_error(&self.path, err))
        })
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Record>> {
        self.with_connection(|conn| {
            let read_row = |row: &rusqlite::Row<'_>| {
                Ok(Record {
                    key: row.get(0)?,
                    value: row.get(1)?,
                    revision: row.get(2)?,
                })
            };
            let rows = match prefix_end(prefix) {
                Some(end) => conn
                    .prepare_cached(
                        "SELECT key, value, revision FROM kv_records \
                         WHERE key >= ?1 AND key < ?2 ORDER BY key",
                    )
                    .and_then(|mut stmt| stmt.query_map(params![prefix, end], read_row)?.collect()),
                None => conn
                    .prepare_cached(
                        "SELECT key, value, revision FROM kv_records WHERE key >= ?1 ORDER BY key",
                    )
                    .and_then(|mut stmt| stmt.query_map(params![prefix], read_row)?.collect()),
            };
            rows.map_err(|err| db_error(&self.path, err))
        })
    }

    fn commit(&self, batch: &Batch) -> Result<u64> {
        batch.validate()?;
        let _turn = self.writing.lock().map_err(|_| StoreError::Poisoned)?;
        self.with_connection(|conn| {
            self.checkpoint_if_due(conn);
            // IMMEDIATE takes the write lock up front, so two writers never both read and then
            // fail to upgrade; the busy wait makes the second wait its turn, for a bounded time.
            let tx = self.begin_write(conn)?;
            // Read under the write lock: no one else commits until this transaction ends.
            let before = self.changes.index.as_ref().and_then(WalIndex::header);
            for write in batch.writes() {
                let current: Option<u64> = tx
                    .prepare_cached("SELECT revision FROM kv_records WHERE key = ?1")
                    .and_then(|mut stmt| stmt.query_row(params![write.key], |row| row.get(0)).optional())
                    .map_err(|err| db_error(&self.path, err))?;
                check_expect(write.expect, current)?;
            }
            let sequence: u64 = tx
                .query_row("SELECT value FROM kv_meta WHERE name = 'sequence'", [], |row| row.get(0))
                .map_err(|err| db_error(&self.path, err))?;
            let sequence = sequence.saturating_add(1);
            for write in batch.writes() {
                let applied = match &write.action {
                    Action::Put(value) => tx
                        .prepare_cached(
                            "INSERT INTO kv_records (key, value, revision) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision",
                        )
                        .and_then(|mut stmt| stmt.execute(params![write.key, value, sequence])),
                    Action::Delete => tx
                        .prepare_cached("DELETE FROM kv_records WHERE key = ?1")
                        .and_then(|mut stmt| stmt.execute(params![write.key])),
                    Action::Check => Ok(0),
                };
                applied.map_err(|err| db_error(&self.path, err))?;
            }
            tx.execute("UPDATE kv_meta SET value = ?1 WHERE name = 'sequence'", params![sequence])
                .map_err(|err| db_error(&self.path, err))?;
            tx.commit().map_err(|err| db_error(&self.path, err))?;
            self.changes.note_own_commit(before, sequence)?;
            Ok(sequence)
        })
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn compact(&self) -> Result<Scrub> {
        // Fold the write-ahead log into the database file and truncate it; secure_delete has
        // already zeroed freed pages in the file itself. A reader inside a transaction keeps old
        // frames alive, so the checkpoint is retried for a bounded time with a short busy wait,
        // then reported as incomplete rather than blocking for the full busy timeout.
        self.with_connection(|conn| {
            let attempt = |conn: &Connection| -> rusqlite::Result<bool> {
                let busy: i64 =
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
                Ok(busy == 0)
            };
            conn.busy_timeout(SCRUB_WAIT)
                .map_err(|err| db_error(&self.path, err))?;
            let mut done = false;
            for round in 0..SCRUB_ATTEMPTS {
                if round > 0 {
                    std::thread::sleep(SCRUB_WAIT);
                }
                match attempt(conn) {
                    Ok(true) => {
                        done = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(err) if is_busy(&err) => {}
                    Err(err) => {
                        let _ = conn.busy_timeout(self.busy.limit);
                        return Err(db_error(&self.path, err));
                    }
                }
            }
            conn.busy_timeout(self.busy.limit)
                .map_err(|err| db_error(&self.path, err))?;
            // Trust the file, not only SQLite's answer: a truncated log is empty.
            let log = wal_path(&self.path);
            let log_empty = std::fs::metadata(&log).map_or(true, |meta| meta.len() == 0);
            Ok(if done && log_empty {
                Scrub::Complete
            } else {
                Scrub::Incomplete
            })
        })
    }

    fn continue_sequence(&self, sequence: u64) -> Result<()> {
        self.with_connection(|conn| {
            let changed = conn
                .execute(
                    "UPDATE kv_meta SET value = max(value, ?1) WHERE name = 'sequence' \
                     AND NOT EXISTS (SELECT 1 FROM kv_records)",
                    params![sequence],
                )
                .map_err(|err| db_error(&self.path, err))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(super::SEQUENCE_STARTED)
            }
        })
    }

    fn sequence(&self) -> Result<u64> {
        // The header is read before the sequence: a commit in between changes the header, so
        // the pair is only ever reused while no commit has happened since the header was read.
        let known = || -> Result<(Option<wal_index::Header>, Option<u64>)> {
            let header = self.changes.index.as_ref().and_then(WalIndex::header);
            let seen = *self.changes.seen.read().map_err(|_| StoreError::Poisoned)?;
            let sequence = match (header, seen) {
                (Some(header), Some((seen_header, sequence))) if seen_header == header => {
                    Some(sequence)
                }
                _ => None,
            };
            Ok((header, sequence))
        };
        if let (_, Some(sequence)) = known()? {
            return Ok(sequence);
        }
        // A commit of this backend that has just become visible records its header a moment
        // later: let it, rather than read SQLite while that commit is finishing.
        for _ in 0..SPIN_BEFORE_SLEEP {
            if self.writing.try_lock().is_ok() {
                break;
            }
            std::thread::yield_now();
        }
        // The header is read before the sequence: see above.
        let (header, known_sequence) = known()?;
        if let Some(sequence) = known_sequence {
            return Ok(sequence);
        }
        let sequence = self
            .changes
            .anchor
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .prepare_cached("SELECT value FROM kv_meta WHERE name = 'sequence'")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(|err| db_error(&self.path, err))?;
        if let Some(header) = header {
            *self
                .changes
                .seen
                .write()
                .map_err(|_| StoreError::Poisoned)? = Some((header, sequence));
        }
        Ok(sequence)
    }
}

/// SQLite's write-ahead log beside the database at `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Whether `err` is SQLite saying another connection holds what it needs.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl Changes {
    /// After this backend's own commit of `sequence`: if the header changed exactly once since
    /// `before` (read under the write lock), the header now there is the commit's own, and the
    /// next [`Backend::sequence`] needs no SQLite read.
    fn note_own_commit(&self, before: Option<wal_index::Header>, sequence: u64) -> Result<()> {
        let after = self.index.as_ref().and_then(WalIndex::header);
        if let (Some(before), Some(after)) = (before, after)
            && wal_index::is_next(&before, &after)
        {
            *self.seen.write().map_err(|_| StoreError::Poisoned)? = Some((after, sequence));
        }
        Ok(())
    }
}

/// Open a connection with keyvault's settings. Never creates the file (creation is explicit).
fn connect(path: &Path) -> Result<Connection> {
    let conn = open_bare(path)?;
    configure(path, &conn)?;
    Ok(conn)
}

/// A connection with no settings applied: opening and reading never write to the file.
fn open_bare(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|err| db_error(path, err))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|err| db_error(path, err))?;
    Ok(conn)
}

fn configure(path: &Path, conn: &Connection) -> Result<()> {
    let apply = || -> rusqlite::Result<()> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        // Checkpoints run at the start of a commit (see `FileBackend::commit`), not inside
        // one, so a commit becomes visible and returns without waiting for a checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    };
    apply().map_err(|err| db_error(path, err))
}

/// Refuse files that are SQLite databases but not ours.
fn check_identity(path: &Path, conn: &Connection) -> Result<()> {
    let read = || -> rusqlite::Result<(i32, i32)> {
        Ok((
            conn.pragma_query_value(None, "application_id", |row| row.get(0))?,
            conn.pragma_query_value(None, "user_version", |row| row.get(0))?,
        ))
    };
    let (application_id, schema) = read().map_err(|err| db_error(path, err))?;
    let not_a_vault = |reason: String| StoreError::NotAVault {
        path: path.display().to_string(),
        reason,
    };
    if application_id != APPLICATION_ID {
        return Err(not_a_vault(format!(
            "it is an SQLite database of another application (application_id {application_id:#x})"
        )));
    }
    if schema != SCHEMA_VERSION {
        return Err(not_a_vault(format!(
            "its storage schema {schema} is not the supported {SCHEMA_VERSION}"
        )));
    }
    Ok(())
}

fn db_error(path: &Path, err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
        Some(ErrorCode::NotADatabase) => StoreError::NotAVault {
            path: path.display().to_string(),
            reason: "it is not an SQLite database".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(err.to_string()),
        _ => StoreError::Database(Box::new(err)),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Create `path` as an empty file readable only by its owner, creating a missing parent
/// directory readable only by its owner. Permissions are set at creation, never afterwards.
fn create_private_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    create_private_parent(path)?;
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StoreError::AlreadyExists(path.display().to_string()))
        }
        Err(err) => Err(io_error(path)(err)),
    }
}

/// Create the missing parent directory of `path`, readable only by its owner.
fn create_private_parent(path: &Path) -> Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        dirs.mode(0o700);
    }
    match path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        Some(parent) => dirs.create(parent).map_err(io_error(parent)),
        None => Ok(()),
    }
}

#[cfg(unix)]
fn permissions_open_to_others(path: &Path) -> Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

#[cfg(not(unix))]
fn permissions_open_to_others(_path: &Path) -> Result<Option<u32>> {
    Ok(None)
}
