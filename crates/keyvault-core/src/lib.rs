//! The domain of keyvault, pure and I/O-free.
//!
//! This crate holds every rule about keys and none of the machinery: it never touches a file,
//! a socket, a thread or the clock. Time is always an argument ([`Timestamp`]), counters are
//! values ([`UsageCounters`]), and every decision is a function of its inputs — so each rule
//! can be tested exhaustively, and the store above it only has to persist and lock.
//!
//! | module | job |
//! |---|---|
//! | [`ids`] | [`KeyId`] (random 128-bit), [`KeyName`] (validated), [`KeyVersion`] |
//! | [`algorithm`] | [`KeyAlgorithm`]: the three AEADs and HMAC-SHA256, and what each supports |
//! | [`metadata`] | [`KeyMetadata`]: everything about a key but its material, with checked updates |
//! | [`lifecycle`] | the key state machine ([`KEY_TRANSITIONS`]) and per-version states |
//! | [`rotation`] | which version encrypts and decrypts, rotate, trim, [`rotation_due`] |
//! | [`policy`] | [`KeyPolicy`] and [`authorize`], the one place a use is allowed or denied |
//! | [`envelope`] | ciphertext envelope v1: seal, parse without a key, open, text armour |
//! | [`audit`] | [`AuditEvent`], its canonical encoding, the MAC chain and its verifier |
//! | [`error`] | [`Error`] with a stable [`ErrorKind`] |
//!
//! docs/LIFECYCLE.md explains the state machine; docs/FORMATS.md gives the envelope's bytes.
//!
//! ```
//! use keyvault_core::{
//!     authorize, envelope, KeyAlgorithm, KeyId, KeyMetadata, KeyName, KeyOperation, KeyPolicy,
//!     Timestamp, UsageCounters,
//! };
//! use keyvault_crypto::{AeadKey, SecretKey};
//!
//! let now = Timestamp::from_unix_secs(1_750_000_000);
//! let key = KeyMetadata::new(KeyId::generate()?, KeyName::new("orders")?, KeyAlgorithm::default(), now)
//!     .with_policy(KeyPolicy::default().with_max_operations(1_000));
//!
//! // The store asks once per use, with its durable counters and the time it read.
//! let version = authorize(&key, &UsageCounters::default(), KeyOperation::Encrypt, None, now)
//!     .map_err(|denial| denial.for_key(key.id(), KeyOperation::Encrypt, None))?;
//!
//! let material = AeadKey::new(keyvault_crypto::Algorithm::default(), &SecretKey::generate()?)?;
//! let header = envelope::EnvelopeHeader {
//!     algorithm: keyvault_crypto::Algorithm::default(),
//!     key_id: key.id(),
//!     key_version: version,
//! };
//! let sealed = envelope::seal(&material, &header, b"card 4111", b"order 17")?;
//!
//! // Decrypt: the envelope names its key and version, no key name needed.
//! let parsed = envelope::Envelope::parse(&sealed)?;
//! assert_eq!(parsed.header().key_id, key.id());
//! assert_eq!(&parsed.open(&material, b"order 17")?[..], b"card 4111");
//! assert!(envelope::armour(&sealed)?.starts_with("kv1:"));
//! # Ok::<(), keyvault_core::Error>(())
//! ```
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
pub use crate::audit::{AuditEvent, AuditOperation, AuditRecord, ChainHead, Outcome};
pub use crate::envelope::{Envelope, EnvelopeHeader};
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::ids::{KeyId, KeyName, KeyVersion};
pub use crate::lifecycle::{
    KEY_TRANSITIONS, KeyState, StateKind, Transition, TransitionKind, VERSION_TRANSITIONS,
    VersionState, VersionTransition,
};
pub use crate::metadata::{KeyMetadata, StateChange, VersionInfo};
pub use crate::policy::{Denial, KeyOperation, KeyPolicy, PolicyChange, UsageCounters, authorize};
pub use crate::rotation::{
    AES_GCM_MAX_ENCRYPTIONS, RotationReason, RotationTriggers, rotation_due,
};
pub use crate::time::Timestamp;
