//! Durable usage counters: reserve ranges in the store, spend them in memory.
//!
//! A key whose policy depends on how much it is used (`max_operations`, rotation after a
//! number of uses, or the AES-256-GCM cap) has a counter record in the store holding how many
//! operations have been *reserved* by all processes together. A process reserves a range with
//! one conditional write, then spends it in memory; when the range runs out it reserves again.
//! A crash loses only the unspent part of a range, so the stored numbers never undercount and a
//! limit is never passed, across threads, processes and crashes.
//!
//! Ranges shrink as a limit approaches (a sixteenth of what remains, at most 4,096), so near
//! the limit processes reserve one operation at a time and do not strand much of the budget in
//! one process. Keys with no such limit are not counted durably at all.

use std::collections::HashMap;
use std::sync::Mutex;

use keyvault_core::{Denial, KeyId, KeyMetadata, KeyOperation, KeyVersion, UsageCounters};

use crate::backend::{Backend, Batch, Expect};
use crate::barrier::{Barrier, Table};
use crate::error::{Result, StoreError};
use crate::head;
use crate::records::CounterRecord;

/// Largest range reserved at once.
const MAX_RESERVATION: u64 = 4096;
/// Conflicts tolerated while reserving before giving up as busy.
const MAX_ATTEMPTS: usize = 1000;

/// The ranges this process holds, per key.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pools: Mutex<HashMap<KeyId, Pool>>,
}

/// One key's reserved ranges: `[next, end)` of operations, and of uses of `version`.
#[derive(Clone, Copy, Debug, Default)]
struct Pool {
    operations_next: u64,
    operations_end: u64,
    version: u32,
    uses_next: u64,
    uses_end: u64,
}

/// What a key's limits need counted.
struct Limits {
    max_operations: Option<u64>,
    /// The use count at which the encrypting version must stop: the rotation trigger or the
    /// algorithm's cap (96-bit nonce AEADs), whichever is lower.
    max_uses: Option<u64>,
}

fn limits(metadata: &KeyMetadata) -> Limits {
    let cap = metadata.algorithm().max_encryptions_per_version();
    let trigger = metadata.policy().rotation.max_uses;
    Limits {
        max_operations: metadata.policy().max_operations,
        max_uses: match (cap, trigger) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
    }
}

/// A sixteenth of what remains, between 1 and [`MAX_RESERVATION`].
fn reservation(remaining: u64) -> u64 {
    (remaining / 16).clamp(1, MAX_RESERVATION).min(remaining)
}

impl Counters {
    pub(crate) fn clear(&self) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.clear();
        }
    }

    /// The counters as this process sees them: at least everything reserved when it last
    /// looked, plus what it spent since. What [`keyvault_core::authorize`] and
    /// [`keyvault_core::rotation_due`] are given.
    pub(crate) fn view<B: Backend>(
        &self,
        backend: &B,
        barrier: &Barrier,
        metadata: &KeyMetadata,
    ) -> Result<UsageCounters> {
        let limits = limits(metadata);
        if limits.max_operations.is_none() && limits.max_uses.is_none() {
            return Ok(UsageCounters::default());
        }
        let current = metadata.encryption_version().map_or(0, KeyVersion::get);
        let mut pools = self.pools.lock().map_err(|_| StoreError::Poisoned)?;
        let pool = match pools.get(&metadata.id()) {
            Some(pool) => *pool,
            None => {
                let (record, _) = read(backend, barrier, metadata.id())?;
                let pool = Pool {
                    operations_next: record.operations,
                    operations_end: record.operations,
                    version: record.version,
                    uses_next: record.version_uses,
                    uses_end: record.version_uses,
                };
                pools.insert(metadata.id(), pool);
                pool
            }
        };
        Ok(UsageCounters {
            operations: pool.operations_next,
            current_version_uses: if pool.version == current {
                pool.uses_next
            } else {
                0
            },
        })
    }

    /// Count `count` operations of kind `operation` with `version`, reserving more from the
    /// store when this process's ranges run out.
    ///
    /// Returns [`Spent::VersionExhausted`] when `version` has reached its use limit (rotation
    /// trigger or AES-GCM cap) or a newer version has started counting: the caller rotates (or
    /// finds the key already rotated) and tries again.
    ///
    /// # Errors
    /// [`Denial::UsageLimitReached`] (as a core error) when `max_operations` is used up;
    /// storage errors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spend<B: Backend>(
        &self,
        backend: &B,
        barrier: &Barrier,
        metadata: &KeyMetadata,
        operation: KeyOperation,
        version: KeyVersion,
        count: u64,
    ) -> Result<Spent> {
        let limits = limits(metadata);
        let counts_uses = operation.protects_new_data() && limits.max_uses.is_some();
        if limits.max_operations.is_none() && !counts_uses {
            return Ok(Spent::Done);
        }
        let id = metadata.id();
        let mut pools = self.pools.lock().map_err(|_| StoreError::Poisoned)?;
        let mut pool = pools.get(&id).copied().unwrap_or_default();
        if counts_uses {
            if pool.version > version.get() {
                // A newer version already encrypts: this caller read the key before a rotation.
                return Ok(Spent::VersionExhausted);
            }
            if pool.version < version.get() {
                pool.version = version.get();
                pool.uses_next = 0;
                pool.uses_end = 0;
            }
        }
        // A range reserved under a higher limit than today's (another process lowered it since)
        // holds numbers at or past the new limit: those are never spent. Ranges are disjoint
        // slices of one global count, so spending only numbers below the limit keeps every
        // process together within it.
        if let Some(max) = limits.max_operations
            && pool.operations_next.saturating_add(count) > max
            && pool.operations_next < pool.operations_end
        {
            let denial = Denial::UsageLimitReached {
                max_operations: max,
            };
            return Err(denial.for_key(id, operation, Some(version)).into());
        }
        if counts_uses
            && let Some(max_uses) = limits.max_uses
            && pool.uses_next.saturating_add(count) > max_uses
            && pool.uses_next < pool.uses_end
        {
            return Ok(Spent::VersionExhausted);
        }
        let short = Shortfall {
            operations: limits.max_operations.is_some()
                && pool.operations_end.saturating_sub(pool.operations_next) < count,
            uses: counts_uses && pool.uses_end.saturating_sub(pool.uses_next) < count,
        };
        if short.operations || short.uses {
            let request = Request {
                metadata,
                operation,
                version,
                count,
            };
            match reserve(backend, barrier, &limits, &request, pool, short)? {
                Some(reserved) => pool = reserved,
                None => return Ok(Spent::VersionExhausted),
            }
        }
        if limits.max_operations.is_some() {
            pool.operations_next = pool.operations_next.saturating_add(count);
        }
        if counts_uses {
            pool.uses_next = pool.uses_next.saturating_add(count);
        }
        pools.insert(id, pool);
        Ok(Spent::Done)
    }
}

/// The result of [`Counters::spend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spent {
    /// Counted.
    Done,
    /// The encrypting version has reached its use limit; rotate first.
    VersionExhausted,
}

/// Which ranges ran out.
#[derive(Clone, Copy)]
struct Shortfall {
    operations: bool,
    uses: bool,
}

/// What is being counted.
struct Request<'a> {
    metadata: &'a KeyMetadata,
    operation: KeyOperation,
    version: KeyVersion,
    count: u64,
}

fn read<B: Backend>(backend: &B, barrier: &Barrier, id: KeyId) -> Result<(CounterRecord, Expect)> {
    let key = barrier.storage_key(Table::Counters, id.as_bytes());
    match backend.get(&key)? {
        Some(stored) => {
            let record: CounterRecord = barrier.open(Table::Counters, &key, &stored.value)?;
            if record.key_id != Some(id) {
                return Err(StoreError::tampered("a usage counter record"));
            }
            Ok((record, Expect::Revision(stored.revision)))
        }
        None => Ok((
            CounterRecord {
                key_id: Some(id),
                ..CounterRecord::default()
            },
            Expect::Absent,
        )),
    }
}

/// Reserve fresh ranges for the counters that ran out. `None`: the version's uses are
/// exhausted, or a newer version is already counting.
fn reserve<B: Backend>(
    backend: &B,
    barrier: &Barrier,
    limits: &Limits,
    request: &Request<'_>,
    pool: Pool,
    short: Shortfall,
) -> Result<Option<Pool>> {
    let id = request.metadata.id();
    let count = request.count;
    let version = request.version.get();
    for _ in 0..MAX_ATTEMPTS {
        // Read the metadata first: the commit requires it unchanged, so the counter read below
        // is still current when the record head is updated over it.
        let (meta, meta_revision) = head::read_meta(backend, barrier)?;
        let (mut record, expect) = read(backend, barrier, id)?;
        let mut next = pool;
        if short.operations
            && let Some(max) = limits.max_operations
        {
            let remaining = max.saturating_sub(record.operations);
            if remaining < count {
                let denial = Denial::UsageLimitReached {
                    max_operations: max,
                };
                return Err(denial
                    .for_key(id, request.operation, Some(request.version))
                    .into());
            }
            // Whatever was left of the old range is abandoned: over-counting is safe.
            next.operations_next = record.operations;
            next.operations_end = record
                .operations
                .saturating_add(reservation(remaining).max(count));
            record.operations = next.operations_end;
        }
        if short.uses
            && let Some(max_uses) = limits.max_uses
        {
            if record.version > version {
                // Another process rotated past this version: never reset a newer count.
                return Ok(None);
            }
            if record.version < version {
                record.version = version;
                record.version_uses = 0;
            }
            let remaining = max_uses.saturating_sub(record.version_uses);
            if remaining < count {
                return Ok(None);
            }
            next.version = version;
            next.uses_next = record.version_uses;
            next.uses_end = record
                .version_uses
                .saturating_add(reservation(remaining).max(count));
            record.version_uses = next.uses_end;
        }
        let key = barrier.storage_key(Table::Counters, id.as_bytes());
        let sealed = barrier.seal(&key, &record, 512)?;
        let batch = Batch::new().put(key, sealed, expect);
        match head::commit_with_head(backend, barrier, batch, meta, Some(meta_revision)) {
            Ok(_) => return Ok(Some(next)),
            Err(err) if err.is_retryable() => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Busy)
}

/// Add to `batch` the counter of key `id` with `version` marked as having used all of its
/// `cap` seals: the version came from elsewhere, where it may have sealed already and this
/// vault cannot count those seals. It still decrypts; the key rotates before its next seal.
pub(crate) fn mark_exhausted<B: Backend>(
    backend: &B,
    barrier: &Barrier,
    id: KeyId,
    version: KeyVersion,
    cap: u64,
    batch: Batch,
) -> Result<Batch> {
    let (mut record, expect) = read(backend, barrier, id)?;
    if record.version > version.get() {
        // A newer version already counts: nothing to mark.
        return Ok(batch);
    }
    record.version_uses = if record.version == version.get() {
        record.version_uses.max(cap)
    } else {
        cap
    };
    record.version = version.get();
    let key = barrier.storage_key(Table::Counters, id.as_bytes());
    let sealed = barrier.seal(&key, &record, 512)?;
    Ok(batch.put(key, sealed, expect))
}
