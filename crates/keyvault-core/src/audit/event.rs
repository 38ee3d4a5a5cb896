//! What one audit event records.
//!
//! An event records who did what to which key, when, and how it ended — never plaintext, key
//! material or passwords. The caller's AAD appears only as an [`AadDigest`], a keyed hash: AAD
//! is often guessable (a record id, a file name), and an unkeyed hash of it could be reversed
//! by trying candidates.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use keyvault_crypto::SecretKey;
use keyvault_crypto::mac::{HmacSha256, MAC_LEN};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::ids::{KeyId, KeyName, KeyVersion};
use crate::lifecycle::{Transition, TransitionKind, VersionTransition};
use crate::policy::{Denial, KeyOperation};
use crate::time::Timestamp;

/// Defines [`AuditOperation`] with a stable one-byte code and a stable name for each variant.
macro_rules! audit_operations {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $name:literal;)*) => {
        /// Every operation of the vault that produces an audit event.
        ///
        /// The codes go into the canonical event encoding and never change meaning.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum AuditOperation {
            $($(#[doc = $doc])* $variant,)*
        }

        impl AuditOperation {
            /// Every operation, in code order.
            pub const ALL: &'static [AuditOperation] = &[$(AuditOperation::$variant,)*];

            /// The stable one-byte code.
            #[must_use]
            pub const fn code(self) -> u8 {
                match self {
                    $(AuditOperation::$variant => $code,)*
                }
            }

            /// The stable snake_case name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditOperation::$variant => $name,)*
                }
            }
        }
    };
}

audit_operations! {
    /// Seal data.
    Encrypt = 1, "encrypt";
    /// Open data.
    Decrypt = 2, "decrypt";
    /// Compute a MAC.
    Sign = 3, "sign";
    /// Check a MAC.
    Verify = 4, "verify";
    /// Derive a subkey.
    Derive = 5, "derive";
    /// Wrap a data key.
    Wrap = 6, "wrap";
    /// Unwrap a data key.
    Unwrap = 7, "unwrap";
    /// Export key material.
    Export = 8, "export";
    /// Import key material.
    Import = 9, "import";
    /// Create a key.
    CreateKey = 10, "create_key";
    /// Rotate a key (manually or by a trigger).
    Rotate = 11, "rotate";
    /// Lifecycle: activate.
    Activate = 12, "activate";
    /// Lifecycle: disable.
    Disable = 13, "disable";
    /// Lifecycle: enable.
    Enable = 14, "enable";
    /// Lifecycle: deprecate.
    Deprecate = 15, "deprecate";
    /// Lifecycle: revoke.
    Revoke = 16, "revoke";
    /// Lifecycle: schedule deletion.
    ScheduleDeletion = 17, "schedule_deletion";
    /// Lifecycle: cancel deletion.
    CancelDeletion = 18, "cancel_deletion";
    /// Lifecycle: destroy.
    Destroy = 19, "destroy";
    /// Version: disable.
    DisableVersion = 20, "disable_version";
    /// Version: enable.
    EnableVersion = 21, "enable_version";
    /// Version: revoke.
    RevokeVersion = 22, "revoke_version";
    /// Version: destroy.
    DestroyVersion = 23, "destroy_version";
    /// Change the minimum decryption version.
    SetMinDecryptionVersion = 24, "set_min_decryption_version";
    /// Destroy versions below a floor.
    Trim = 25, "trim";
    /// Replace the usage policy.
    UpdatePolicy = 26, "update_policy";
    /// Change labels, description, expiry or name.
    UpdateMetadata = 27, "update_metadata";
    /// Make a key non-exportable.
    DisallowExport = 28, "disallow_export";
    /// Create a vault.
    InitVault = 29, "init_vault";
    /// Unlock a vault.
    Unlock = 30, "unlock";
    /// Change a vault password (rewrap the master key).
    ChangePassword = 31, "change_password";
    /// Write a backup.
    Backup = 32, "backup";
    /// Restore a backup.
    Restore = 33, "restore";
    /// Verify the audit log.
    VerifyAudit = 34, "verify_audit";
    /// Re-encrypt a ciphertext under the key's current version without releasing plaintext.
    Rewrap = 35, "rewrap";
    /// Generate a data key and return it with its wrapped form.
    GenerateDataKey = 36, "generate_data_key";
    /// Add a keyslot (a recovery key, a set of shares, a hardware or cloud key) to a vault.
    AddSlot = 37, "add_slot";
    /// Remove a keyslot from a vault.
    RemoveSlot = 38, "remove_slot";
}

impl fmt::Display for AuditOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<KeyOperation> for AuditOperation {
    fn from(operation: KeyOperation) -> Self {
        match operation {
            KeyOperation::Encrypt => AuditOperation::Encrypt,
            KeyOperation::Decrypt => AuditOperation::Decrypt,
            KeyOperation::Sign => AuditOperation::Sign,
            KeyOperation::Verify => AuditOperation::Verify,
            KeyOperation::Derive => AuditOperation::Derive,
            KeyOperation::Wrap => AuditOperation::Wrap,
            KeyOperation::Unwrap => AuditOperation::Unwrap,
            KeyOperation::Export => AuditOperation::Export,
        }
    }
}

impl From<TransitionKind> for AuditOperation {
    fn from(transition: TransitionKind) -> Self {
        match transition {
            TransitionKind::Activate => AuditOperation::Activate,
            TransitionKind::Disable => AuditOperation::Disable,
            TransitionKind::Enable => AuditOperation::Enable,
            TransitionKind::Deprecate => AuditOperation::Deprecate,
            TransitionKind::Revoke => AuditOperation::Revoke,
            TransitionKind::ScheduleDeletion => AuditOperation::ScheduleDeletion,
            TransitionKind::CancelDeletion => AuditOperation::CancelDeletion,
            TransitionKind::Destroy => AuditOperation::Destroy,
        }
    }
}

impl From<Transition> for AuditOperation {
    fn from(transition: Transition) -> Self {
        transition.kind().into()
    }
}

impl From<VersionTransition> for AuditOperation {
    fn from(transition: VersionTransition) -> Self {
        match transition {
            VersionTransition::Disable => AuditOperation::DisableVersion,
            VersionTransition::Enable => AuditOperation::EnableVersion,
            VersionTransition::Revoke => AuditOperation::RevokeVersion,
            VersionTransition::Destroy => AuditOperation::DestroyVersion,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// Policy or state refused it.
    Denied {
        /// The rule that refused.
        reason: Denial,
    },
    /// It failed.
    Error {
        /// The error's category.
        kind: ErrorKind,
    },
}

/// How an operation ended, without the detail: what audit filters select on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// It succeeded.
    Ok,
    /// Policy or state refused it.
    Denied,
    /// It failed.
    Error,
}

impl OutcomeKind {
    /// Every outcome kind.
    pub const ALL: [OutcomeKind; 3] = [OutcomeKind::Ok, OutcomeKind::Denied, OutcomeKind::Error];

    /// The name used in audit records and their JSON form: `ok`, `denied` or `error`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Denied => "denied",
            OutcomeKind::Error => "error",
        }
    }
}

impl Outcome {
    /// Which kind of outcome this is.
    #[must_use]
    pub const fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Ok => OutcomeKind::Ok,
            Outcome::Denied { .. } => OutcomeKind::Denied,
            Outcome::Error { .. } => OutcomeKind::Error,
        }
    }

    /// The outcome of a finished operation.
    pub fn of<T>(result: &Result<T, Error>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(Error::Denied { denial, .. }) => Outcome::Denied { reason: *denial },
            Err(err) => Outcome::Error { kind: err.kind() },
        }
    }
}

/// Domain separation for [`AadDigest`], distinct from the chain MAC's label.
const AAD_DIGEST_LABEL: &[u8] = b"keyvault-audit-aad-v1\0";

/// A keyed hash of a caller's AAD: HMAC-SHA256 under the audit key of
/// `"keyvault-audit-aad-v1\0" || aad`. The same AAD gives the same digest under one key, so
/// events can be correlated with a known AAD without the log revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct AadDigest([u8; MAC_LEN]);

impl AadDigest {
    /// The digest of `aad` under `key` (the vault's audit key). For many digests under one
    /// key, [`AadDigester`] keys the MAC once.
    #[must_use]
    pub fn compute(key: &SecretKey, aad: &[u8]) -> Self {
        AadDigester::new(key).digest(aad)
    }

    /// The digest with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; MAC_LEN]) -> Self {
        AadDigest(bytes)
    }

    /// The digest's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; MAC_LEN] {
        &self.0
    }
}

/// [`AadDigest::compute`] under one key, keyed once: each digest then costs only the hashing
/// of `aad`, not the key setup.
#[derive(Clone)]
pub struct AadDigester(HmacSha256);

impl AadDigester {
    /// A digester for the audit key `key`.
    #[must_use]
    pub fn new(key: &SecretKey) -> Self {
        let mut mac = HmacSha256::new(key.expose_secret());
        mac.update(AAD_DIGEST_LABEL);
        AadDigester(mac)
    }

    /// The digest of `aad`, as [`AadDigest::compute`] gives it.
    #[must_use]
    pub fn digest(&self, aad: &[u8]) -> AadDigest {
        let mut mac = self.0.clone();
        mac.update(aad);
        AadDigest(*mac.finalize().as_bytes())
    }
}

impl fmt::Debug for AadDigester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AadDigester([REDACTED])")
    }
}

impl fmt::Debug for AadDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AadDigest({})", crate::hex::encode(&self.0))
    }
}

impl From<AadDigest> for String {
    fn from(digest: AadDigest) -> String {
        crate::hex::encode(&digest.0)
    }
}

impl TryFrom<String> for AadDigest {
    type Error = Error;

    fn try_from(text: String) -> Result<Self, Error> {
        crate::hex::decode(&text)
            .map(AadDigest)
            .ok_or(Error::InvalidMetadata {
                reason: "an AAD digest is 64 hex digits",
            })
    }
}

/// Where a request came from, beyond the actor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestContext {
    /// A caller-chosen id that ties the event to the caller's own logs.
    pub request_id: Option<String>,
    /// The keyed hash of the caller's AAD, for operations that take AAD.
    pub aad_digest: Option<AadDigest>,
    /// Further facts, such as the states of a transition or the fields a policy change
    /// touched. Never secrets.
    pub details: BTreeMap<String, String>,
}

/// One audited operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened (passed in by the caller).
    pub time: Timestamp,
    /// What was done.
    pub operation: AuditOperation,
    /// The key, for operations on a key.
    pub key_id: Option<KeyId>,
    /// The key's name at the time, for people reading the log.
    pub key_name: Option<KeyName>,
    /// The key version used, where one was.
    pub key_version: Option<KeyVersion>,
    /// How it ended.
    pub outcome: Outcome,
    /// Who asked: a label such as `"cli:alice"` (never a password).
    pub actor: Arc<str>,
    /// Request context.
    pub context: RequestContext,
}

impl AuditEvent {
    /// An event with no key and an empty context.
    #[must_use]
    pub fn new(
        time: Timestamp,
        operation: AuditOperation,
        outcome: Outcome,
        actor: impl Into<Arc<str>>,
    ) -> Self {
        AuditEvent {
            time,
            operation,
            key_id: None,
            key_name: None,
            key_version: None,
            outcome,
            actor: actor.into(),
            context: RequestContext::default(),
        }
    }

    /// This event about key `id` (and `version`, if one was used).
    #[must_use]
    pub fn for_key(mut self, id: KeyId, version: Option<KeyVersion>) -> Self {
        self.key_id = Some(id);
        self.key_version = version;
        self
    }

    /// This event naming the key.
    #[must_use]
    pub fn with_key_name(mut self, name: KeyName) -> Self {
        self.key_name = Some(name);
        self
    }

    /// This event with the keyed hash of the caller's AAD.
    #[must_use]
    pub fn with_aad_digest(mut self, digest: AadDigest) -> Self {
        self.context.aad_digest = Some(digest);
        self
    }

    /// This event with a request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.context.request_id = Some(request_id.into());
        self
    }

    /// This event with one more detail.
    #[must_use]
    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.details.insert(name.into(), value.into());
        self
    }
}
