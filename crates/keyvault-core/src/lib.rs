#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod algorithm;
pub mod audit;
pub mod envelope;
pub mod error;
mod hex;
pub mod ids;
pub mod lifecycle;
pub mod metadata;
pub mod policy;
pub mod rotation;
mod time;

pub use crate::algorithm::{KeyAlgorithm, KeyPurpose};
pub use crate::audit::{AuditEvent, AuditOperation, AuditRecord, ChainHead, Outcome, OutcomeKind};
pub use crate::envelope::{Envelope, EnvelopeHeader, Purpose};
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::ids::{KeyId, KeyName, KeyVersion};
pub use crate::lifecycle::{
    KEY_TRANSITIONS, KeyState, StateKind, Transition, TransitionKind, VERSION_TRANSITIONS,
    VersionState, VersionTransition,
};
pub use crate::metadata::{KeyMetadata, StateChange, VersionInfo, VersionStateChange};
pub use crate::policy::{Denial, KeyOperation, KeyPolicy, PolicyChange, UsageCounters, authorize};
pub use crate::rotation::{
    RotationReason, RotationTriggers, SHORT_NONCE_MAX_ENCRYPTIONS, rotation_due,
};
pub use crate::time::Timestamp;
