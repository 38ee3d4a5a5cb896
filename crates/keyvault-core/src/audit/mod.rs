//! The audit log: events, their canonical encoding and the tamper-evident hash chain.
//!
//! The store turns every operation into an [`AuditEvent`](crate::AuditEvent), appends it with
//! [`ChainHead::append`](crate::ChainHead::append) in the same transaction as the change it
//! records, and keeps the new [`ChainHead`](crate::ChainHead) in the sealed vault metadata.
//! [`verify_log`] later proves the log is exactly what was written.

pub(crate) mod chain;
mod encoding;
pub(crate) mod event;

// The events, records and chain heads themselves are at the crate root.
pub use chain::{
    ChainBreak, ChainMac, ChainProblem, GENESIS_MAC, chain_mac, verify_log, verify_segment,
};
pub use encoding::EVENT_ENCODING_VERSION;
pub use event::{AadDigest, AadDigester, RequestContext};
