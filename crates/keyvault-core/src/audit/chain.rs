//! The audit hash chain: each record MACs the previous record's MAC, its own sequence number
//! and its event, under the vault's audit key.
//!
//! ```text
//! mac[i] = HMAC-SHA256(audit_key, "keyvault-audit-chain-v1\0" || mac[i-1] || u64be(i) || event_i)
//! mac[-1] = GENESIS_MAC
//! ```
//!
//! `event_i` is [`AuditEvent::canonical_bytes`]; sequence numbers start at 0 and equal the
//! record's position. The store keeps the [`ChainHead`] (count and last MAC) in the sealed vault
//! metadata; [`verify_log`] against that anchored head detects any edited, deleted, inserted,
//! reordered or truncated record, and says which one. Without the audit key nobody can produce
//! a MAC that verifies, so a record cannot be forged or re-chained either.

use std::fmt;

use keyvault_crypto::SecretKey;
use keyvault_crypto::mac::{HmacSha256, MAC_LEN};
use serde::{Deserialize, Serialize};

use super::event::AuditEvent;
use crate::error::{Error, Result};

/// Domain separation for chain MACs, distinct from the AAD digest's label: no caller-chosen
/// AAD can ever yield a valid chain MAC even under the same key.
const CHAIN_LABEL: &[u8] = b"keyvault-audit-chain-v1\0";

/// The "previous MAC" of the first record: 32 fixed bytes, `"keyvault audit chain genesis v1\0"`.
pub const GENESIS_MAC: ChainMac = ChainMac(*b"keyvault audit chain genesis v1\0");

/// A chain MAC: HMAC-SHA256, 32 bytes. Compared in constant time.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ChainMac([u8; MAC_LEN]);

impl ChainMac {
    /// The MAC with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; MAC_LEN]) -> Self {
        ChainMac(bytes)
    }

    /// The MAC's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; MAC_LEN] {
        &self.0
    }
}

impl PartialEq for ChainMac {
    fn eq(&self, other: &Self) -> bool {
        keyvault_crypto::constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for ChainMac {}

impl fmt::Debug for ChainMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainMac({})", crate::hex::encode(&self.0))
    }
}

impl From<ChainMac> for String {
    fn from(mac: ChainMac) -> String {
        crate::hex::encode(&mac.0)
    }
}

impl TryFrom<String> for ChainMac {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        crate::hex::decode(&text)
            .map(ChainMac)
            .ok_or(Error::InvalidMetadata {
                reason: "a chain MAC is 64 hex digits",
            })
    }
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// The chain MAC over the previous MAC, `seq` and the event.
    pub mac: ChainMac,
}

/// The state of a chain after some records: how many, and the last MAC. Anchored in the sealed
/// vault metadata, it is what makes truncation detectable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Number of records so far (also the next record's `seq`).
    pub count: u64,
    /// The last record's MAC, or [`GENESIS_MAC`] for an empty log.
    pub last_mac: ChainMac,
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead::GENESIS
    }
}

impl ChainHead {
    /// The head of an empty log.
    pub const GENESIS: ChainHead = ChainHead {
        count: 0,
        last_mac: GENESIS_MAC,
    };

    /// The record that appends `event` to this chain, and the head after it.
    ///
    /// # Errors
    /// [`Error::TooLarge`] once `u64::MAX` records exist.
    pub fn append(&self, key: &SecretKey, event: AuditEvent) -> Result<(AuditRecord, ChainHead)> {
        let seq = self.count;
        let count = seq.checked_add(1).ok_or(Error::TooLarge {
            what: "audit log",
            len: usize::MAX,
            max: usize::MAX,
        })?;
        let mac = chain_mac(key, &self.last_mac, seq, &event);
        Ok((
            AuditRecord { seq, event, mac },
            ChainHead {
                count,
                last_mac: mac,
            },
        ))
    }
}

/// The MAC of record `seq` holding `event`, after a record whose MAC is `previous`.
#[must_use]
pub fn chain_mac(key: &SecretKey, previous: &ChainMac, seq: u64, event: &AuditEvent) -> ChainMac {
    let mut mac = HmacSha256::new(key.expose_secret());
    mac.update(CHAIN_LABEL);
    mac.update(previous.as_bytes());
    mac.update(&seq.to_be_bytes());
    mac.update(&event.canonical_bytes());
    ChainMac(*mac.finalize().as_bytes())
}

/// Where a chain broke: the position in the slice given, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainBreak {
    /// Index into the records given where the first problem is (for a short or long log, the
    /// index where the missing or extra records start).
    pub index: usize,
    /// The sequence number the record at `index` should have had.
    pub expected_seq: u64,
    /// What is wrong.
    pub problem: ChainProblem,
}

/// How a chain broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainProblem {
    /// A record carries the wrong sequence number: records were deleted, inserted or
    /// reordered here.
    SequenceMismatch {
        /// The sequence number found.
        found: u64,
    },
    /// The record's MAC does not verify: it was edited, forged or moved.
    MacMismatch,
    /// Fewer records than the anchored head counts: the tail was cut off.
    Truncated {
        /// Records the head counts.
        expected_count: u64,
        /// Records present.
        found_count: u64,
    },
    /// More records than the anchored head counts: records were appended outside the vault.
    Unanchored {
        /// Records the head counts.
        expected_count: u64,
        /// Records present.
        found_count: u64,
    },
    /// The right number of valid records, but the last MAC is not the anchored one: the log is
    /// not the one the head was taken from.
    HeadMismatch,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("record {} (seq {})", self.index, self.expected_seq);
        match self.problem {
            ChainProblem::SequenceMismatch { found } => write!(
                f,
                "{at} carries seq {found}: records were deleted, inserted or reordered"
            ),
            ChainProblem::MacMismatch => {
                write!(f, "{at} does not verify: it was edited, forged or moved")
            }
            ChainProblem::Truncated {
                expected_count,
                found_count,
            } => write!(
                f,
                "{at} is missing: the log ends after {found_count} records but the head counts {expected_count}: truncated"
            ),
            ChainProblem::Unanchored {
                expected_count,
                found_count,
            } => write!(
                f,
                "{at} is past the head: the log has {found_count} records but the head counts {expected_count}: records were appended outside the vault"
            ),
            ChainProblem::HeadMismatch => {
                f.write_str("the last MAC is not the anchored head's: this is another log")
            }
        }
    }
}

/// Verify a whole log from its first record against the anchored `head`.
///
/// # Errors
/// [`Error::AuditChain`] with the first [`ChainBreak`].
pub fn verify_log(key: &SecretKey, records: &[AuditRecord], head: &ChainHead) -> Result<()> {
    verify_segment(key, &ChainHead::GENESIS, records, head)
}

/// Verify `records` as the continuation of a chain whose head was `start` (for example a
/// checkpoint verified earlier) up to the anchored `head`. Indices in a [`ChainBreak`] are
/// positions in `records`.
///
/// Records are checked in order — sequence number, then MAC — so the first tampered record is
/// the one reported; then the count and the last MAC are compared with `head`.
///
/// # Errors
/// [`Error::AuditChain`] with the first [`ChainBreak`].
pub fn verify_segment(
    key: &SecretKey,
    start: &ChainHead,
    records: &[AuditRecord],
    head: &ChainHead,
) -> Result<()> {
    let broken = |index: usize, expected_seq: u64, problem| {
        Err(Error::AuditChain {
            broken: ChainBreak {
                index,
                expected_seq,
                problem,
            },
        })
    };
    let mut previous = start.last_mac;
    let mut expected_seq = start.count;
    for (index, record) in records.iter().enumerate() {
        if expected_seq >= head.count {
            let found_count = start.count.saturating_add(len_u64(records.len()));
            return broken(
                index,
                expected_seq,
                ChainProblem::Unanchored {
                    expected_count: head.count,
                    found_count,
                },
            );
        }
        if record.seq != expected_seq {
            return broken(
                index,
                expected_seq,
                ChainProblem::SequenceMismatch { found: record.seq },
            );
        }
        if chain_mac(key, &previous, record.seq, &record.event) != record.mac {
            return broken(index, expected_seq, ChainProblem::MacMismatch);
        }
        previous = record.mac;
        expected_seq = expected_seq.saturating_add(1);
    }
    if expected_seq < head.count {
        return broken(
            records.len(),
            expected_seq,
            ChainProblem::Truncated {
                expected_count: head.count,
                found_count: expected_seq,
            },
        );
    }
    if previous != head.last_mac {
        let last = records.len().saturating_sub(1);
        return broken(
            last,
            expected_seq.saturating_sub(1),
            ChainProblem::HeadMismatch,
        );
    }
    Ok(())
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}
