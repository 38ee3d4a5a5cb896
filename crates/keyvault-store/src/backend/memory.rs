//! The memory backend: for tests and ephemeral vaults, with the same semantics as the file
//! backend.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use super::{Action, Backend, Batch, Record, check_expect, prefix_end};
use crate::error::{Result, StoreError};

/// Records held in process memory; gone when the value is dropped.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<Vec<u8>, (Vec<u8>, u64)>,
    sequence: u64,
}

impl MemoryBackend {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for MemoryBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Record>> {
        let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
        Ok(state.records.get(key).map(|(value, revision)| Record {
            key: key.to_vec(),
            value: value.clone(),
            revision: *revision,
        }))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Record>> {
        let state = self.state.read().map_err(|_| StoreError::Poisoned)?;
        let end = prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        Ok(state
            .records
            .range::<[u8], _>((Bound::Included(prefix), end.as_ref().map(Vec::as_slice)))
            .map(|(key, (value, revision))| Record {
                key: key.clone(),
                value: value.clone(),
                revision: *revision,
            })
            .collect())
    }

    fn commit(&self, batch: &Batch) -> Result<u64> {
        batch.validate()?;
        let mut state = self.state.write().map_err(|_| StoreError::Poisoned)?;
        for write in batch.writes() {
            check_expect(
                write.expect,
                state.records.get(&write.key).map(|(_, rev)| *rev),
            )?;
        }
        let sequence = state.sequence.saturating_add(1);
        for write in batch.writes() {
            match &write.action {
                Action::Put(value) => {
                    state
                        .records
                        .insert(write.key.clone(), (value.clone(), sequence));
                }
                Action::Delete => {
                    state.records.remove(&write.key);
                }
                Action::Check => {}
            }
        }
        state.sequence = sequence;
        Ok(sequence)
    }

    fn continue_sequence(&self, sequence: u64) -> Result<()> {
        let mut state = self.state.write().map_err(|_| StoreError::Poisoned)?;
        if !state.records.is_empty() {
            return Err(super::SEQUENCE_STARTED);
        }
        state.sequence = state.sequence.max(sequence);
        Ok(())
    }

    fn sequence(&self) -> Result<u64> {
        Ok(self
            .state
            .read()
            .map_err(|_| StoreError::Poisoned)?
            .sequence)
    }
}
