#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
pub mod audit;
pub mod envelope;
mod error;
mod hex;
mod ids;
mod lifecycle;
mod metadata;
mod policy;
mod rotation;
mod time;

// The vocabulary every caller uses lives at the root, each item under this one path. The two
// public modules hold a format's machinery: `envelope` the ciphertext envelope (its types, limits,
// seal/open and armour), `audit` the chain's MACs, verifiers and encoding version.
pub use crate::algorithm::{KeyAlgorithm, KeyPurpose};
pub use crate::audit::chain::{AuditRecord, ChainHead};
pub use crate::audit::event::{AuditEvent, AuditOperation, Outcome, OutcomeKind};
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::ids::{KeyId, KeyName, KeyVersion, MAX_NAME_LEN, NameRule};
pub use crate::lifecycle::{
    DEFAULT_DELETION_WINDOW, KEY_TRANSITIONS, KeyState, MIN_DELETION_WINDOW, ResumeState,
    StateKind, Target, Transition, TransitionKind, TransitionRefusal, VERSION_TRANSITIONS,
    VersionState, VersionTransition, key_transition_target, version_way_forward, way_forward,
};
pub use crate::metadata::{
    KeyMetadata, MAX_DESCRIPTION_LEN, MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN, MAX_LABELS,
    StateChange, VersionInfo, VersionStateChange,
};
pub use crate::policy::{
    Denial, KeyOperation, KeyPolicy, PolicyChange, UsageCounters, authorize, denial_advice,
};
pub use crate::rotation::{
    RotationReason, RotationTriggers, SHORT_NONCE_MAX_ENCRYPTIONS, rotation_due,
};
pub use crate::time::Timestamp;
