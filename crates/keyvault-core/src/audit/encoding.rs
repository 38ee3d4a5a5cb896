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
            Denial::AesGcmLimitReached { version, limit } => {
                self.u32(version.get());
                self.u64(limit);
            }
            Denial::OperationNotAllowed | Denial::NotExportable | Denial::NoUsableVersion => {}
        }
    }
}
