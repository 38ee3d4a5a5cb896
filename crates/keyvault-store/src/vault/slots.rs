//! Keyslots: list, add and remove the ways a vault opens (see [`crate::custody`]).
//!
//! Every change rewrites the header in one commit with its audit event, then scrubs the backend
//! so the bytes of a removed slot do not stay on disk.

use keyvault_core::{AuditEvent, AuditOperation, Outcome};

use super::{MAX_ATTEMPTS, Unlocked, Vault, outcome_of};
use crate::backend::{Backend, Batch, Expect, Scrub};
use crate::barrier::{Table, singleton_key};
use crate::custody::{ExternalWrapper, RecoveryKey, Share};
use crate::error::{Result, StoreError};
use crate::header::{Header, SlotInfo, SlotKind};

impl<B: Backend> Vault<B> {
    /// The vault's keyslots, in the order they are tried.
    ///
    /// # Errors
    /// Storage errors; a damaged header.
    pub fn slots(&self) -> Result<Vec<SlotInfo>> {
        Ok(self.read_header()?.0.describe_slots())
    }

    /// Add a recovery-key slot and return its id and key. Show the key once, to be kept
    /// offline: the vault keeps no copy.
    ///
    /// # Errors
    /// [`StoreError::Locked`]; [`StoreError::InvalidSlot`] when the header is full; storage
    /// errors.
    pub fn add_recovery_slot(&self) -> Result<(u32, RecoveryKey)> {
        let mut key = None;
        let id = self.change_slots(AuditOperation::AddSlot, "recovery", |header, unlocked| {
            header.with_slot(&unlocked.barrier, |id| {
                let (kind, new_key) = header.recovery_slot(&unlocked.master, id)?;
                key = Some(new_key);
                Ok(kind)
            })
        })?;
        let key = key.ok_or_else(|| StoreError::Corrupt("no recovery key was made".to_owned()))?;
        Ok((id, key))
    }

    /// Add a shares slot: a fresh secret split into `count` shares, any `threshold` of which
    /// open the vault. Returns the slot id and the shares, to be handed to their custodians.
    ///
    /// # Errors
    /// [`StoreError::InvalidSlot`] unless 2 ≤ `threshold` ≤ `count` ≤
    /// [`MAX_SHARES`](crate::MAX_SHARES), or when the header is full; as
    /// [`Vault::add_recovery_slot`].
    pub fn add_shares_slot(&self, threshold: u8, count: u8) -> Result<(u32, Vec<Share>)> {
        let mut shares = Vec::new();
        let id = self.change_slots(AuditOperation::AddSlot, "shares", |header, unlocked| {
            header.with_slot(&unlocked.barrier, |id| {
                let (kind, dealt) = header.shares_slot(&unlocked.master, id, threshold, count)?;
                shares = dealt;
                Ok(kind)
            })
        })?;
        Ok((id, shares))
    }

    /// Add a slot whose key `wrapper` holds (an HSM, a cloud KMS). Returns the slot id.
    ///
    /// # Errors
    /// [`StoreError::Provider`] when the provider cannot wrap; as
    /// [`Vault::add_recovery_slot`].
    pub fn add_external_slot(&self, wrapper: &dyn ExternalWrapper) -> Result<u32> {
        self.change_slots(
            AuditOperation::AddSlot,
            wrapper.name(),
            |header, unlocked| {
                header.with_slot(&unlocked.barrier, |id| {
                    header.external_slot(&unlocked.master, id, wrapper)
                })
            },
        )
    }

    /// Remove keyslot `id`, then scrub the backend so its bytes do not stay on disk (the
    /// result says whether that completed, as for [`Vault::change_password`]).
    ///
    /// # Errors
    /// [`StoreError::NoSuchSlot`]; [`StoreError::LastSlot`] for the vault's only slot;
    /// [`StoreError::Locked`]; storage errors.
    pub fn remove_slot(&self, id: u32) -> Result<Scrub> {
        let kind = self
            .read_header()?
            .0
            .slots
            .iter()
            .find(|slot| slot.id == id)
            .map_or("unknown", |slot| kind_name(&slot.kind));
        self.change_slots(AuditOperation::RemoveSlot, kind, |header, unlocked| {
            Ok((header.without_slot(&unlocked.barrier, id)?, id))
        })?;
        self.scrub()
    }

    /// The keyslots as the header of the vault in `backend` lists them, without opening it:
    /// enough to choose how to open it (which provider, which token and key labels). Not yet
    /// authenticated: the header's MAC is checked only once a slot has opened.
    ///
    /// # Errors
    /// A missing or damaged header.
    pub fn slots_of(backend: &B) -> Result<Vec<SlotInfo>> {
        Ok(read_header_of(backend)?.describe_slots())
    }

    /// Whether `share` belongs to this vault's current shares: vault, set, position and the
    /// digest the header keeps. Needs no password: custodians can check their share on any
    /// copy of the vault.
    ///
    /// # Errors
    /// [`StoreError::ForeignShare`] saying why it does not belong; a missing or damaged header.
    pub fn check_share(backend: &B, share: &Share) -> Result<()> {
        read_header_of(backend)?.check_share(share)
    }

    fn read_header(&self) -> Result<(Header, u64)> {
        let record = self
            .state
            .backend
            .get(&singleton_key(Table::Header))?
            .ok_or_else(|| StoreError::tampered("vault header (missing)"))?;
        Ok((
            Header::parse(&record.value, &self.state.backend.describe())?,
            record.revision,
        ))
    }

    /// Rewrite the header with `change` (retried if another writer got there first) and audit
    /// the change with the slot's id and kind; a refused change is audited too.
    fn change_slots(
        &self,
        operation: AuditOperation,
        kind: &str,
        mut change: impl FnMut(&Header, &Unlocked) -> Result<(Header, u32)>,
    ) -> Result<u32> {
        let unlocked = self.state.unlocked()?;
        self.flush_audit()?;
        let event = |outcome: Outcome, id: Option<u32>| -> AuditEvent {
            let event = self
                .state
                .event(self.state.now(), operation, outcome)
                .with_detail("slot_kind", kind);
            match id {
                Some(id) => event.with_detail("slot", id.to_string()),
                None => event,
            }
        };
        let result = (|| {
            for _ in 0..MAX_ATTEMPTS {
                let (header, revision) = self.read_header()?;
                let (updated, id) = change(&header, &unlocked)?;
                let batch = Batch::new().put(
                    singleton_key(Table::Header),
                    updated.to_bytes()?,
                    Expect::Revision(revision),
                );
                match self.state.commit_with_audit(
                    &unlocked,
                    batch,
                    vec![event(Outcome::Ok, Some(id))],
                ) {
                    Err(err) if err.is_retryable() => continue,
                    other => return other.map(|_| id),
                }
            }
            Err(StoreError::Busy)
        })();
        if let Err(err) = &result {
            // The refusal is recorded; if even that fails, the original error is the news.
            let _ = self.state.audit_usage(event(outcome_of(err), None));
        }
        result
    }
}

fn kind_name(kind: &SlotKind) -> &'static str {
    match kind {
        SlotKind::Password { .. } => "password",
        SlotKind::Recovery { .. } => "recovery",
        SlotKind::Shares { .. } => "shares",
        SlotKind::External { .. } => "external",
    }
}

/// The header of the vault in `backend`, parsed and bounded but not yet authenticated.
pub(super) fn read_header_of<B: Backend>(backend: &B) -> Result<Header> {
    let record =
        backend
            .get(&singleton_key(Table::Header))?
            .ok_or_else(|| StoreError::NotAVault {
                path: backend.describe(),
                reason: "it holds no vault header".to_owned(),
            })?;
    Header::parse(&record.value, &backend.describe())
}
