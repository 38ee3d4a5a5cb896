//! The vault's audit log: buffering usage events, committing them into the chain, reading the
//! log back and verifying it.

use std::sync::Mutex;

use keyvault_core::audit::verify_log;
use keyvault_core::{
    AuditOperation, AuditRecord, ChainHead, KeyId, Outcome, OutcomeKind, Timestamp,
};

use super::{AuditCommit, MAX_ATTEMPTS, Vault};
use crate::backend::{Backend, Batch};
use crate::barrier::Table;
use crate::error::{Result, StoreError};
use crate::records::decode_segment;

/// Usage events waiting to be committed.
pub(crate) struct AuditBuffer {
    mode: AuditCommit,
    pending: Mutex<Pending>,
    /// Held while committing, so flushes happen one at a time and in order.
    flushing: Mutex<()>,
}

#[derive(Default)]
struct Pending {
    events: Vec<keyvault_core::AuditEvent>,
    /// When the oldest waiting event was queued, by the vault's clock.
    oldest: Option<Timestamp>,
}

impl AuditBuffer {
    pub(crate) fn new(mode: AuditCommit) -> Self {
        AuditBuffer {
            mode,
            pending: Mutex::new(Pending::default()),
            flushing: Mutex::new(()),
        }
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
    /// Queue a usage event; commit it now or with others, as [`AuditCommit`] says.
    pub(crate) fn audit_usage(&self, event: keyvault_core::AuditEvent) -> Result<()> {
        let now = self.now();
        let due = {
            let mut pending = self
                .audit
                .pending
                .lock()
                .map_err(|_| StoreError::Poisoned)?;
            pending.oldest.get_or_insert(now);
            pending.events.push(event);
            match self.audit.mode {
                AuditCommit::Synchronous => true,
                AuditCommit::Grouped {
                    max_events,
                    max_delay,
                } => {
                    pending.events.len() >= max_events
                        || pending
                            .oldest
                            .is_some_and(|oldest| now.saturating_since(oldest) >= max_delay)
                }
            }
        };
        if due { self.flush_audit() } else { Ok(()) }
    }

    /// Commit every buffered usage event now.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if the vault is locked with events still buffered; storage
    /// errors (the events stay buffered for the next attempt).
    pub fn flush_audit(&self) -> Result<()> {
        let _turn = self
            .audit
            .flushing
            .lock()
            .map_err(|_| StoreError::Poisoned)?;
        let events = {
            let mut pending = self
                .audit
                .pending
                .lock()
                .map_err(|_| StoreError::Poisoned)?;
            pending.oldest = None;
            std::mem::take(&mut pending.events)
        };
        if events.is_empty() {
            return Ok(());
        }
        let result = self.commit_events(&events);
        if result.is_err() {
            // Put them back in front of anything queued meanwhile, so order is kept.
            let mut pending = self
                .audit
                .pending
                .lock()
                .map_err(|_| StoreError::Poisoned)?;
            let later = std::mem::replace(&mut pending.events, events);
            pending.events.extend(later);
            pending.oldest.get_or_insert(self.now());
        }
        result
    }

    fn commit_events(&self, events: &[keyvault_core::AuditEvent]) -> Result<()> {
        let unlocked = self.unlocked()?;
        for _ in 0..MAX_ATTEMPTS {
            match self.commit_with_audit(&unlocked, Batch::new(), events.to_vec()) {
                Err(err) if err.is_retryable() => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(StoreError::Busy)
    }

    /// Record a failed or refused management request in the log (committed now).
    pub(crate) fn audit_now(&self, event: keyvault_core::AuditEvent) -> Result<()> {
        self.flush_audit()?;
        self.commit_events(std::slice::from_ref(&event))
    }

    /// See [`crate::dangerous::DangerousVault::audit_refusal`].
    pub(crate) fn audit_refusal(
        &self,
        operation: AuditOperation,
        name: Option<&keyvault_core::KeyName>,
        kind: keyvault_core::ErrorKind,
    ) -> Result<()> {
        let mut event = self.event(self.now(), operation, Outcome::Error { kind });
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
            let before = self.backend.sequence()?;
            let (meta, _) = self.read_meta()?;
            let records = self.read_audit_records()?;
            if self.backend.sequence()? == before {
                return Ok((meta.audit_head, records));
            }
        }
        Err(StoreError::Busy)
    }

    /// Every record, in order: the segments (one per commit) concatenated.
    /// The audit record numbered `seq`, if the log has it: only the segment that holds it is
    /// opened (segments are keyed by the number of their first record).
    pub(crate) fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>> {
        let unlocked = self.unlocked()?;
        let first_of = |key: &[u8]| {
            key.get(1..9)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .map(u64::from_be_bytes)
        };
        let holder = self
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
        let unlocked = self.unlocked()?;
        let mut records = Vec::new();
        for stored in self.backend.scan_prefix(&[Table::Audit.prefix()])? {
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
        let unlocked = self.unlocked()?;
        let (head, records) = self.read_chain_consistently()?;
        let verdict = verify_log(&unlocked.barrier.audit_mac, &records, &head)
            .map_err(StoreError::from)
            .and_then(|()| anchor.map_or(Ok(()), |anchor| check_anchor(anchor, &records)));
        let outcome = super::outcome_of_result(&verdict);
        self.audit_now(self.event(self.now(), AuditOperation::VerifyAudit, outcome))?;
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
