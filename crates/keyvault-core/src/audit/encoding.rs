//! The canonical encoding of an [`AuditEvent`], the bytes the chain MAC covers.
//!
//! Hand-written so that it is deterministic by construction and independent of any serializer:
//! one event has exactly one encoding, and the store may persist events in any format it likes
//! (JSON, postcard) as long as they decode to the same value. Every variable-length item is
//! length-prefixed and every optional or enumerated item is tagged, so no two different events
//! encode to the same bytes. The layout is in docs/FORMATS.md ("Audit event encoding v1").

use super::event::{AuditEvent, Outcome};
use crate::policy::Denial;

/// Version byte at the start of every encoded event.
pub const EVENT_ENCODING_VERSION: u8 = 1;

impl AuditEvent {
    /// The canonical bytes of this event.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Encoder(Vec::with_capacity(128));
        out.u8(EVENT_ENCODING_VERSION);
        out.u64(self.time.as_unix_millis());
        out.u8(self.operation.code());
        out.option(self.key_id.as_ref(), |out, id| out.bytes(id.as_bytes()));
        out.option(self.key_name.as_ref(), |out, name| out.str(name.as_str()));
        out.option(self.key_version, |out, version| out.u32(version.get()));
        match &self.outcome {
            Outcome::Ok => out.u8(0),
            Outcome::Denied { reason } => {
                out.u8(1);
                out.denial(reason);
            }
            Outcome::Error { kind } => {
                out.u8(2);
                out.str(kind.as_str());
            }
        }
        out.str(&self.actor);
        let context = &self.context;
        out.option(context.request_id.as_deref(), Encoder::str);
        out.option(context.aad_digest.as_ref(), |out, digest| {
            out.bytes(digest.as_bytes());
        });
        out.len(context.details.len());
        for (name, value) in &context.details {
            out.str(name);
            out.str(value);
        }
        out.0
    }
}

/// Big-endian integers; strings as a u64 length then UTF-8 bytes; options as a 0/1 tag.
struct Encoder(Vec<u8>);

impl Encoder {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    /// A length or count. `usize` is at most 64 bits on every supported target, so this is
    /// lossless.
    fn len(&mut self, len: usize) {
        self.u64(u64::try_from(len).unwrap_or(u64::MAX));
    }

    /// Fixed-length bytes: their length is implied by the field, so no prefix.
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn str(&mut self, text: &str) {
        self.len(text.len());
        self.0.extend_from_slice(text.as_bytes());
    }

    fn option<T>(&mut self, value: Option<T>, encode: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.u8(0),
            Some(value) => {
                self.u8(1);
                encode(self, value);
            }
        }
    }

    /// The denial's stable code, then its fields in declaration order.
    fn denial(&mut self, denial: &Denial) {
        self.str(denial.code());
        match *denial {
            Denial::KeyState { state } => self.str(state.as_str()),
            Denial::UnsupportedByAlgorithm { algorithm } => self.str(algorithm.name()),
            Denial::NotYetValid { not_before: at }
            | Denial::PolicyExpired { not_after: at }
            | Denial::KeyExpired { expires_at: at } => self.u64(at.as_unix_millis()),
            Denial::UsageLimitReached { max_operations } => self.u64(max_operations),
            Denial::NotCurrentVersion { requested, current } => {
                self.u32(requested.get());
                self.u32(current.get());
            }
            Denial::UnknownVersion { version } => self.u32(version.get()),
            Denial::VersionUnusable { version, state } => {
                self.u32(version.get());
                self.str(state.as_str());
            }
            Denial::BelowMinDecryptionVersion { version, min } => {
                self.u32(version.get());
                self.u32(min.get());
            }
            Denial::EncryptionLimitReached { version, limit } => {
                self.u32(version.get());
                self.u64(limit);
            }
            Denial::OperationNotAllowed | Denial::NotExportable | Denial::NoUsableVersion => {}
        }
    }
}

/// Why [`AuditEvent::from_canonical_bytes`] refused its input.
const MALFORMED: &str = "a malformed audit event encoding";

impl AuditEvent {
    /// Read an event back from its canonical bytes (the inverse of
    /// [`AuditEvent::canonical_bytes`]), so a store can keep events in this compact form.
    /// Every length is checked against the input before use; trailing bytes are refused, so
    /// each event has exactly one accepted encoding.
    ///
    /// # Errors
    /// [`crate::Error::InvalidMetadata`] for anything that is not a canonical v1 encoding.
    pub fn from_canonical_bytes(bytes: &[u8]) -> crate::Result<Self> {
        let mut input = Decoder(bytes);
        let event = input
            .event()
            .ok_or(crate::Error::InvalidMetadata { reason: MALFORMED })?;
        if input.0.is_empty() {
            Ok(event)
        } else {
            Err(crate::Error::InvalidMetadata { reason: MALFORMED })
        }
    }
}

/// Reads what [`Encoder`] writes; every method returns `None` on malformed input.
struct Decoder<'a>(&'a [u8]);

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    fn len(&mut self) -> Option<usize> {
        // A length can never exceed what is left, which bounds every allocation by the input.
        usize::try_from(self.u64()?)
            .ok()
            .filter(|&n| n <= self.0.len())
    }

    fn str(&mut self) -> Option<String> {
        let len = self.len()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn option<T>(&mut self, decode: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => decode(self).map(Some),
            _ => None,
        }
    }

    fn version(&mut self) -> Option<crate::KeyVersion> {
        crate::KeyVersion::new(self.u32()?).ok()
    }

    fn timestamp(&mut self) -> Option<crate::Timestamp> {
        self.u64().map(crate::Timestamp::from_unix_millis)
    }

    fn event(&mut self) -> Option<AuditEvent> {
        if self.u8()? != EVENT_ENCODING_VERSION {
            return None;
        }
        let time = self.timestamp()?;
        let code = self.u8()?;
        let operation = crate::AuditOperation::ALL
            .iter()
            .copied()
            .find(|op| op.code() == code)?;
        let key_id = self.option(|d| d.array().map(crate::KeyId::from_bytes))?;
        let key_name = self.option(|d| crate::KeyName::new(d.str()?).ok())?;
        let key_version = self.option(Decoder::version)?;
        let outcome = match self.u8()? {
            0 => Outcome::Ok,
            1 => Outcome::Denied {
                reason: self.denial()?,
            },
            2 => {
                let name = self.str()?;
                let kind = crate::ErrorKind::ALL
                    .into_iter()
                    .find(|kind| kind.as_str() == name)?;
                Outcome::Error { kind }
            }
            _ => return None,
        };
        let actor = self.str()?;
        let request_id = self.option(Decoder::str)?;
        let aad_digest = self.option(|d| d.array().map(super::AadDigest::from_bytes))?;
        let count = self.len()?;
        let mut details = std::collections::BTreeMap::new();
        for _ in 0..count {
            let name = self.str()?;
            let value = self.str()?;
            // Canonical bytes list names in order, once each.
            if details
                .keys()
                .next_back()
                .is_some_and(|last: &String| *last >= name)
            {
                return None;
            }
            details.insert(name, value);
        }
        Some(AuditEvent {
            time,
            operation,
            key_id,
            key_name,
            key_version,
            outcome,
            actor: actor.into(),
            context: super::RequestContext {
                request_id,
                aad_digest,
                details,
            },
        })
    }

    fn denial(&mut self) -> Option<Denial> {
        use crate::lifecycle::{StateKind, VersionState};
        let code = self.str()?;
        Some(match code.as_str() {
            "key_state" => {
                let name = self.str()?;
                Denial::KeyState {
                    state: StateKind::ALL.into_iter().find(|s| s.as_str() == name)?,
                }
            }
            "unsupported_by_algorithm" => {
                let name = self.str()?;
                Denial::UnsupportedByAlgorithm {
                    algorithm: crate::KeyAlgorithm::ALL
                        .into_iter()
                        .find(|a| a.name() == name)?,
                }
            }
            "operation_not_allowed" => Denial::OperationNotAllowed,
            "not_exportable" => Denial::NotExportable,
            "no_usable_version" => Denial::NoUsableVersion,
            "not_yet_valid" => Denial::NotYetValid {
                not_before: self.timestamp()?,
            },
            "policy_expired" => Denial::PolicyExpired {
                not_after: self.timestamp()?,
            },
            "key_expired" => Denial::KeyExpired {
                expires_at: self.timestamp()?,
            },
            "usage_limit_reached" => Denial::UsageLimitReached {
                max_operations: self.u64()?,
            },
            "not_current_version" => Denial::NotCurrentVersion {
                requested: self.version()?,
                current: self.version()?,
            },
            "unknown_version" => Denial::UnknownVersion {
                version: self.version()?,
            },
            "version_unusable" => {
                let version = self.version()?;
                let name = self.str()?;
                Denial::VersionUnusable {
                    version,
                    state: VersionState::ALL.into_iter().find(|s| s.as_str() == name)?,
                }
            }
            "below_min_decryption_version" => Denial::BelowMinDecryptionVersion {
                version: self.version()?,
                min: self.version()?,
            },
            "encryption_limit_reached" => Denial::EncryptionLimitReached {
                version: self.version()?,
                limit: self.u64()?,
            },
            _ => return None,
        })
    }
}
