//! The audit log: events, their canonical encoding and the tamper-evident hash chain.
//!
//! The store turns every operation into an [`AuditEvent`], appends it with
//! [`ChainHead::append`] in the same transaction as the change it records, and keeps the new
//! [`ChainHead`] in the sealed vault metadata. [`verify_log`] later proves the log is exactly
//! what was written.

mod chain;
mod encoding;
mod event;

pub use chain::{
    AuditRecord, ChainBreak, ChainHead, ChainMac, ChainProblem, GENESIS_MAC, chain_mac, verify_log,
    verify_segment,
};
pub use encoding::EVENT_ENCODING_VERSION;
pub use event::{AadDigest, AuditEvent, AuditOperation, Outcome, OutcomeKind, RequestContext};
