//! The vault's audit log: buffering usage events, committing them into the chain, reading the
//! log back and verifying it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use keyvault_core::audit::verify_log;
use keyvault_core::{
    AuditOperation, AuditRecord, ChainHead, KeyId, Outcome, OutcomeKind, Timestamp,
};

use super::{AuditCommit, MAX_ATTEMPTS, State, Vault};
use crate::backend::{Backend, Batch};
use crate::barrier::Table;
use crate::error::{Result, StoreError};
use crate::records::decode_segment;

/// Usage events waiting to be committed, and the background writer's signals.
pub(crate) struct AuditBuffer {
    mode: AuditCommit,
    pending: Mutex<Pending>,
    /// Wakes the background writer: events arrived, enough wait, or the vault is closing.
    wake: Condvar,
    /// Held while committing, so commits happen one at a time and in order.
    committing: Mutex<()>,
}

#[derive(Default)]
struct Pending {
    events: Vec<keyvault_core::AuditEvent>,
    /// When the oldest waiting event happened, by the vault's clock.
    oldest: Option<Timestamp>,
    /// Events taken out of `events` by a commit that has not finished.
    in_flight: usize,
    /// An empty buffer with room, swapped in for `events` when they are taken, so nothing is
    /// allocated or freed while the lock is held.
    spare: Vec<keyvault_core::AuditEvent>,
    /// Whether a background writer runs (it wakes on `wake`).
    writer: bool,
    /// Whether the writer is busy and looks again within [`BUSY_POLL`] by itself: no operation
    /// needs to wake it.
    polling: bool,
    /// Set when the vault closes: the writer stops.
    stop: bool,
}

impl AuditBuffer {
    pub(crate) fn new(mode: AuditCommit) -> Self {
        AuditBuffer {
            mode,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            committing: Mutex::new(()),
        }
    }

    fn pending(&self) -> Result<MutexGuard<'_, Pending>> {
        self.pending.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// What an operation does after queueing its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// Return; the event waits for a later commit.
    Return,
    /// Return after waking the background writer.
    Wake,
    /// Commit everything waiting before returning.
    Commit,
}

/// The grouping rule. The background writer commits once an eighth of `max_events` wait (at
/// full load it then commits continuously, each group being what arrived during the previous
/// commit). A busy writer looks again 200 µs after a commit by itself; an idle one is woken by
/// the operation that completes a group, and also looks every half `max_delay` and commits what
/// has waited since its last look. An operation commits itself (after any commit under way)
/// only if `max_events` wait (the writer is behind, failing, or absent) or the oldest has
/// waited `max_delay`. So a crash loses fewer than `max_events` waiting events and at most one
/// commit's worth under way, none older than about `max_delay`.
fn next_step(mode: AuditCommit, pending: &Pending, now: Timestamp) -> Next {
    let AuditCommit::Grouped {
        max_events,
        max_delay,
    } = mode
    else {
        return Next::Commit;
    };
    let waiting = pending.events.len();
    let too_old = pending
        .oldest
        .is_some_and(|oldest| now.saturating_since(oldest) >= max_delay);
    if waiting >= max_events || too_old {
        Next::Commit
    } else if pending.writer && !pending.polling && waiting == group_size(max_events) {
        Next::Wake
    } else {
        Next::Return
    }
}

/// How soon a busy writer looks for more events after a commit (waking it costs an operation a
/// system call; a short timed wait costs the writer a timer).
const BUSY_POLL: Duration = Duration::from_micros(200);

/// How many times a thread yields, waiting for a commit that is about to end, before it sleeps.
const SPIN_BEFORE_SLEEP: usize = 32;

/// How many waiting events make the writer commit without waiting for `max_delay`.
fn group_size(max_events: usize) -> usize {
    max_events.div_ceil(8)
}

/// The thread that commits grouped usage events in the background, so an operation only
/// queues its event. [`Writer::stop`] (when the vault is dropped) ends it; what still waits is
/// then committed by the vault itself.
pub(crate) struct Writer<B: Backend> {
    state: Arc<State<B>>,
    thread: std::thread::JoinHandle<()>,
}

impl<B: Backend> Writer<B> {
    /// Start a writer for `state` if its events are grouped. If the system refuses a thread,
    /// operations commit their groups themselves.
    pub(crate) fn start(state: &Arc<State<B>>) -> Option<Self> {
        let AuditCommit::Grouped { max_delay, .. } = state.audit.mode else {
            return None;
        };
        let running = Arc::clone(state);
        let thread = std::thread::Builder::new()
            .name("keyvault-audit".to_owned())
            .spawn(move || running.write_in_background(max_delay))
            .ok()?;
        state.audit.pending().ok()?.writer = true;
        Some(Writer {
            state: Arc::clone(state),
            thread,
        })
    }

    /// Stop the writer, after the commit it may be making.
    pub(crate) fn stop(self) {
        if let Ok(mut pending) = self.state.audit.pending() {
            pending.stop = true;
            pending.writer = false;
        }
        self.state.audit.wake.notify_all();
        // A writer that panicked has nothing left to hand over.
        let _ = self.thread.join();
    }
}

impl<B: Backend> State<B> {
    /// The writer's loop: sleep until a group (see [`group_size`]) waits, or until events have
    /// waited through one of its looks every half `max_delay` (so none waits much longer than
    /// `max_delay`), then commit them. After a failed commit it waits a look before trying
    /// again; operations meanwhile commit themselves once too many events wait, and so see the
    /// error.
    fn write_in_background(&self, max_delay: Duration) {
        let group = match self.audit.mode {
            AuditCommit::Grouped { max_events, .. } => group_size(max_events),
            AuditCommit::Synchronous => 1,
        };
        let look = (max_delay / 2).max(Duration::from_millis(1));
        let poll = BUSY_POLL.min(look);
        let Ok(mut pending) = self.audit.pending() else {
            return;
        };
        let mut waited_a_look = false;
        let mut just_committed = false;
        loop {
            if pending.stop {
                return;
            }
            let waiting = pending.events.len();
            let pause = if waiting >= group || waiting > 0 && waited_a_look {
                pending.polling = true;
                drop(pending);
                let failed = self.commit_pending().is_err();
                let Ok(next) = self.audit.pending() else {
                    return;
                };
                pending = next;
                waited_a_look = false;
                just_committed = !failed;
                if !failed {
                    // Look at once: a group may have arrived during the commit.
                    continue;
                }
                pending.polling = false;
                look
            } else if just_committed {
                // Busy: look again after a short poll, so operations need not wake the writer.
                just_committed = false;
                poll
            } else {
                // Quiet: sleep until a group waits (an operation wakes the writer) or a look.
                pending.polling = false;
                waited_a_look = waiting > 0;
                look
            };
            let Ok((next, _)) = self.audit.wake.wait_timeout(pending, pause) else {
                return;
            };
            pending = next;
        }
    }

    /// Queue a usage event; commit it now, or leave it to a group commit, as [`AuditCommit`]
    /// says.
    pub(crate) fn audit_usage(&self, event: keyvault_core::AuditEvent) -> Result<()> {
        let now = event.time;
        let next = {
            let mut pending = self.audit.pending()?;
            pending.oldest.get_or_insert(now);
            pending.events.push(event);
            next_step(self.audit.mode, &pending, now)
        };
        match next {
            Next::Return => Ok(()),
            Next::Wake => {
                self.audit.wake.notify_one();
                Ok(())
            }
            Next::Commit => {
                let turn = self.commit_turn()?;
                // The commit this waited for may have made enough room.
                if next_step(self.audit.mode, &*self.audit.pending()?, now) == Next::Commit {
                    self.commit_waiting(&turn)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Commit every waiting usage event now (after any commit under way).
    pub(crate) fn commit_pending(&self) -> Result<()> {
        let turn = self.commit_turn()?;
        self.commit_waiting(&turn)
    }

    /// Whether a commit of usage events is under way.
    pub(crate) fn audit_commit_in_flight(&self) -> Result<bool> {
        Ok(self.audit.pending()?.in_flight > 0)
    }

    /// Wait until no commit of usage events is under way. A commit already visible to others
    /// ends within microseconds, so yield a few times before sleeping on the commit turn.
    pub(crate) fn await_audit_commit(&self) -> Result<()> {
        for _ in 0..SPIN_BEFORE_SLEEP {
            if !self.audit_commit_in_flight()? {
                return Ok(());
            }
            std::thread::yield_now();
        }
        drop(self.commit_turn()?);
        Ok(())
    }

    /// Wait for any commit under way; commits happen one at a time, in order.
    pub(crate) fn commit_turn(&self) -> Result<MutexGuard<'_, ()>> {
        self.audit
            .committing
            .lock()
            .map_err(|_| StoreError::Poisoned)
    }

    /// Commit every waiting usage event, holding the commit turn.
    fn commit_waiting(&self, _turn: &MutexGuard<'_, ()>) -> Result<()> {
        let mut events = {
            let mut pending = self.audit.pending()?;
            pending.oldest = None;
            let spare = std::mem::take(&mut pending.spare);
            let events = std::mem::replace(&mut pending.events, spare);
            pending.in_flight = events.len();
            events
        };
        if events.is_empty() {
            return Ok(());
        }
        let result = self.commit_events(&events);
        if result.is_ok() {
            // Free the events here, not under the lock; keep the buffer for the next swap.
            events.clear();
        }
        let mut pending = self.audit.pending()?;
        pending.in_flight = 0;
        if result.is_err() {
            // Put them back in front of anything queued meanwhile, so order is kept.
            let oldest = events.first().map(|event| event.time);
            let later = std::mem::replace(&mut pending.events, events);
            pending.events.extend(later);
            pending.oldest = oldest.or(pending.oldest);
        } else if pending.spare.capacity() < events.capacity() {
            pending.spare = events;
        }
        result
    }

    pub(crate) fn commit_events(&self, events: &[keyvault_core::AuditEvent]) -> Result<()> {
        let unlocked = self.unlocked()?;
        for _ in 0..MAX_ATTEMPTS {
            match self.commit_with_audit(&unlocked, Batch::new(), events.to_vec()) {
                Err(err) if err.is_retryable() => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(StoreError::Busy)
    }
}

impl<B: Backend> Vault<B> {
    /// Commit every buffered usage event now.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if the vault is locked with events still buffered; storage
    /// errors (the events stay buffered for the next attempt).
    pub fn flush_audit(&self) -> Result<()> {
        self.state.commit_pending()
    }
}

/// Which audit records to read back. Every field that is set must match.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Events about this key.
    pub key: Option<KeyId>,
    /// Events of this operation.
    pub operation: Option<AuditOperation>,
    /// Events with this kind of outcome.
    pub outcome: Option<OutcomeKind>,
    /// Events at or after this time.
    pub since: Option<Timestamp>,
    /// Events before this time.
    pub until: Option<Timestamp>,
}

impl AuditFilter {
    fn matches(&self, record: &AuditRecord) -> bool {
        let event = &record.event;
        self.key.is_none_or(|key| event.key_id == Some(key))
            && self.operation.is_none_or(|op| event.operation == op)
            && self
                .outcome
                .is_none_or(|wanted| wanted == event.outcome.kind())
            && self.since.is_none_or(|since| event.time >= since)
            && self.until.is_none_or(|until| event.time < until)
    }
}

/// The result of a successful [`Vault::verify_audit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// Records checked.
    pub records: u64,
    /// The verified chain's head (its record count and last MAC). Kept somewhere an attacker
    /// cannot write, it lets [`Vault::verify_audit_since`] detect a later rollback.
    pub head: ChainHead,
}

impl<B: Backend> Vault<B> {
    /// Record a failed or refused management request in the log (committed now).
    pub(crate) fn audit_now(&self, event: keyvault_core::AuditEvent) -> Result<()> {
        self.flush_audit()?;
        self.state.commit_events(std::slice::from_ref(&event))
    }

    /// See [`crate::dangerous::DangerousVault::audit_refusal`].
    pub(crate) fn audit_refusal(
        &self,
        operation: AuditOperation,
        name: Option<&keyvault_core::KeyName>,
        kind: keyvault_core::ErrorKind,
    ) -> Result<()> {
        let mut event = self
            .state
            .event(self.state.now(), operation, Outcome::Error { kind });
        if let Some(name) = name {
            event = event.with_key_name(name.clone());
        }
        self.audit_now(event)
    }

    /// The audit records that match `filter`, oldest first. Buffered events are committed
    /// first so the log is complete.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] if a record fails to open; storage errors.
    pub fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.flush_audit()?;
        Ok(self
            .read_audit_records()?
            .into_iter()
            .filter(|record| filter.matches(record))
            .collect())
    }

    /// The anchored head and every record, read while no one commits in between (the head and
    /// the records are separate reads: a commit between them would look like tampering).
    fn read_chain_consistently(&self) -> Result<(keyvault_core::ChainHead, Vec<AuditRecord>)> {
        for _ in 0..MAX_ATTEMPTS {
            let before = self.state.backend.sequence()?;
            let (meta, _) = self.state.read_meta()?;
            let records = self.read_audit_records()?;
            if self.state.backend.sequence()? == before {
                return Ok((meta.audit_head, records));
            }
        }
        Err(StoreError::Busy)
    }

    /// Every record, in order: the segments (one per commit) concatenated.
    /// The audit record numbered `seq`, if the log has it: only the segment that holds it is
    /// opened (segments are keyed by the number of their first record).
    pub(crate) fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>> {
        let unlocked = self.state.unlocked()?;
        let first_of = |key: &[u8]| {
            key.get(1..9)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .map(u64::from_be_bytes)
        };
        let holder = self
            .state
            .backend
            .scan_prefix(&[Table::Audit.prefix()])?
            .into_iter()
            .filter(|stored| first_of(&stored.key).is_some_and(|first| first <= seq))
            .max_by_key(|stored| first_of(&stored.key));
        let Some(stored) = holder else {
            return Ok(None);
        };
        let bytes = unlocked
            .barrier
            .open_bytes(Table::Audit, &stored.key, &stored.value)?;
        let segment =
            decode_segment(&bytes).ok_or_else(|| StoreError::tampered("an audit segment"))?;
        Ok(segment.into_iter().find(|record| record.seq == seq))
    }

    pub(crate) fn read_audit_records(&self) -> Result<Vec<AuditRecord>> {
        let unlocked = self.state.unlocked()?;
        let mut records = Vec::new();
        for stored in self.state.backend.scan_prefix(&[Table::Audit.prefix()])? {
            let bytes = unlocked
                .barrier
                .open_bytes(Table::Audit, &stored.key, &stored.value)?;
            let segment =
                decode_segment(&bytes).ok_or_else(|| StoreError::tampered("an audit segment"))?;
            records.extend(segment);
        }
        Ok(records)
    }

    /// Check the whole audit chain against the head anchored in the sealed vault metadata:
    /// any edited, deleted, inserted, reordered or truncated record is reported. The check
    /// itself is then logged.
    ///
    /// # Errors
    /// A core [`keyvault_core::Error::AuditChain`] naming the first broken record;
    /// [`StoreError::Tampered`] if a record fails to open at all.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        self.verify_audit_inner(None)
    }

    /// [`Vault::verify_audit`], and also check that the chain still extends `anchor`, a head
    /// reported by an earlier verification and kept outside the vault. This detects what
    /// nothing inside one file can: the vault (or its audit log) put back to an older state.
    ///
    /// # Errors
    /// As [`Vault::verify_audit`]; [`StoreError::AuditRollback`] if the chain is shorter than
    /// the anchor or its record at the anchor's position differs.
    pub fn verify_audit_since(&self, anchor: &ChainHead) -> Result<AuditReport> {
        self.verify_audit_inner(Some(anchor))
    }

    fn verify_audit_inner(&self, anchor: Option<&ChainHead>) -> Result<AuditReport> {
        self.flush_audit()?;
        let unlocked = self.state.unlocked()?;
        let (head, records) = self.read_chain_consistently()?;
        let verdict = verify_log(&unlocked.barrier.audit_mac, &records, &head)
            .map_err(StoreError::from)
            .and_then(|()| anchor.map_or(Ok(()), |anchor| check_anchor(anchor, &records)));
        let outcome = super::outcome_of_result(&verdict);
        self.audit_now(
            self.state
                .event(self.state.now(), AuditOperation::VerifyAudit, outcome),
        )?;
        verdict?;
        Ok(AuditReport {
            records: head.count,
            head,
        })
    }
}

/// The verified `records` must contain the anchor's last record, with the same MAC.
fn check_anchor(anchor: &ChainHead, records: &[AuditRecord]) -> Result<()> {
    let rollback = || StoreError::AuditRollback {
        anchored: anchor.count,
        found: u64::try_from(records.len()).unwrap_or(u64::MAX),
    };
    let Some(last) = anchor.count.checked_sub(1) else {
        return Ok(());
    };
    let record = usize::try_from(last)
        .ok()
        .and_then(|index| records.get(index))
        .ok_or_else(rollback)?;
    if record.mac == anchor.last_mac {
        Ok(())
    } else {
        Err(rollback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(waiting: usize, in_flight: usize, oldest_ms: u64, writer: bool) -> Pending {
        let event = keyvault_core::AuditEvent::new(
            Timestamp::from_unix_millis(oldest_ms),
            AuditOperation::Encrypt,
            Outcome::Ok,
            "test".to_owned(),
        );
        Pending {
            events: vec![event; waiting],
            oldest: (waiting > 0).then(|| Timestamp::from_unix_millis(oldest_ms)),
            in_flight,
            spare: Vec::new(),
            writer,
            polling: false,
            stop: false,
        }
    }

    #[test]
    fn the_grouping_rule_bounds_what_waits() {
        let grouped = |max_events| AuditCommit::Grouped {
            max_events,
            max_delay: Duration::from_millis(100),
        };
        let at = |ms| Timestamp::from_unix_millis(ms);
        let step = |mode, waiting, in_flight, now, writer| {
            next_step(mode, &pending(waiting, in_flight, 0, writer), at(now))
        };
        // Synchronous: always now.
        assert_eq!(step(AuditCommit::Synchronous, 1, 0, 0, false), Next::Commit);
        // The writer is woken when an eighth of max_events wait.
        assert_eq!(step(grouped(32), 1, 0, 0, true), Next::Return);
        assert_eq!(step(grouped(32), 4, 0, 0, false), Next::Return);
        assert_eq!(step(grouped(32), 2, 0, 0, true), Next::Return);
        assert_eq!(step(grouped(32), 4, 0, 0, true), Next::Wake);
        assert_eq!(step(grouped(32), 5, 20, 0, true), Next::Return);
        // A busy writer looks again by itself: nobody wakes it.
        let mut busy = pending(4, 0, 0, true);
        busy.polling = true;
        assert_eq!(next_step(grouped(32), &busy, at(0)), Next::Return);
        // max_events wait (besides any a commit under way holds): the operation commits.
        assert_eq!(step(grouped(8), 7, 8, 0, true), Next::Return);
        assert_eq!(step(grouped(8), 8, 8, 0, true), Next::Commit);
        assert_eq!(step(grouped(8), 8, 0, 0, false), Next::Commit);
        assert_eq!(step(grouped(8), 7, 0, 0, false), Next::Return);
        // So does an oldest event that has waited max_delay.
        assert_eq!(step(grouped(8), 1, 0, 99, true), Next::Wake);
        assert_eq!(step(grouped(16), 1, 0, 99, true), Next::Return);
        assert_eq!(step(grouped(8), 1, 0, 100, true), Next::Commit);
    }
}
