//! Using keys: encrypt, decrypt, rewrap, data keys, MAC sign/verify, derive, and batches.
//!
//! Every use takes the same path: find the key (cache, checked against the backend's commit
//! sequence), rotate it first if a trigger fired, ask keyvault-core's [`authorize`] with the
//! durable counters, count the use, do the cryptography, and queue the audit event.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use keyvault_core::envelope::{Envelope, EnvelopeHeader, Purpose};
use keyvault_core::{
    AuditOperation, KeyName, KeyOperation, KeyState, KeyVersion, Outcome, authorize, envelope,
    rotation_due,
};
use keyvault_crypto::kdf::{HKDF_MAX_OUTPUT, hkdf_sha256};
use keyvault_crypto::mac::{HmacSha256, MAC_LEN, MacTag};
use keyvault_crypto::{AeadKey, SecretBytes, SecretKey};

use super::{LoadedKey, Vault, VersionKey, outcome_of};
use crate::backend::Backend;
use crate::counters::Spent;
use crate::error::{Result, StoreError};

/// Rounds a single use may lose (to another thread or process using up, or rotating, the
/// version it saw) before giving up. Each lost round means someone else made progress, so this
/// bound only guards against starvation, never a livelock.
const MAX_ROUNDS_PER_USE: usize = 1000;

/// A fresh data key: use `plaintext` now, store `wrapped` beside the data, and call
/// [`Vault::unwrap_data_key`] on `wrapped` to get the key back later.
pub struct DataKey {
    /// The data key itself.
    pub plaintext: SecretKey,
    /// The data key sealed in an envelope under the vault key.
    pub wrapped: Vec<u8>,
    /// The vault key version that wrapped it.
    pub version: KeyVersion,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &self.plaintext)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An HMAC-SHA256 tag and the key version that made it. Its text form is
/// `kvmac1:<version>:<64 hex digits>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The key version.
    pub version: KeyVersion,
    /// The tag.
    pub tag: MacTag,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kvmac1:{}:{}",
            self.version.get(),
            hex::encode(self.tag.as_bytes())
        )
    }
}

impl FromStr for Signature {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self> {
        let malformed = || {
            StoreError::Core(keyvault_core::Error::InvalidMetadata {
                reason: "a signature reads kvmac1:<version>:<64 hex digits>",
            })
        };
        let rest = text.trim().strip_prefix("kvmac1:").ok_or_else(malformed)?;
        let (version, tag) = rest.split_once(':').ok_or_else(malformed)?;
        let version = version.parse::<u32>().map_err(|_| malformed())?;
        if tag.len() != 2 * MAC_LEN {
            return Err(malformed());
        }
        let tag = hex::decode(tag).map_err(|_| malformed())?;
        Ok(Signature {
            version: KeyVersion::new(version)?,
            tag: MacTag::from_slice(&tag)?,
        })
    }
}

impl<B: Backend> Vault<B> {
    /// Encrypt `plaintext` with the key named `name`, binding `aad`; returns a v1 envelope
    /// (see docs/FORMATS.md). The same `aad` must be given to decrypt.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`]; a core `Denied` error when lifecycle or policy refuses;
    /// storage errors.
    pub fn encrypt(&self, name: &KeyName, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.audited(AuditOperation::Encrypt, Some(name), aad, |_| {
            let key = self.key_by_name(name)?;
            let (key, version) = self.prepare(key, KeyOperation::Encrypt, None, 1)?;
            let sealed = seal(&key, version, Purpose::Data, plaintext, aad)?;
            Ok((sealed, Some((key, version))))
        })
    }

    /// Encrypt many messages with one key: one authorisation, one audit event.
    ///
    /// # Errors
    /// As [`Vault::encrypt`]; nothing is returned unless every message sealed.
    pub fn encrypt_batch(&self, name: &KeyName, items: &[(&[u8], &[u8])]) -> Result<Vec<Vec<u8>>> {
        self.audited(AuditOperation::Encrypt, Some(name), b"", |event| {
            let key = self.key_by_name(name)?;
            let count = u64::try_from(items.len()).unwrap_or(u64::MAX);
            let (key, version) = self.prepare(key, KeyOperation::Encrypt, None, count)?;
            detail(event, "batch", items.len().to_string());
            let sealed = items
                .iter()
                .map(|(plaintext, aad)| seal(&key, version, Purpose::Data, plaintext, aad))
                .collect::<Result<Vec<_>>>()?;
            Ok((sealed, Some((key, version))))
        })
    }

    /// Decrypt an envelope made by [`Vault::encrypt`]. The envelope names its key and version;
    /// no key name is needed.
    ///
    /// # Errors
    /// [`StoreError::KeyNotFound`], a core `KeyDestroyed` or `Denied` error, or an opaque
    /// authentication failure for wrong AAD or any change to the envelope.
    pub fn decrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        self.audited(AuditOperation::Decrypt, None, aad, |event| {
            let envelope = Envelope::parse(sealed)?;
            name_envelope_key(event, &envelope);
            expect_purpose(&envelope, Purpose::Data)?;
            let (key, version) = self.key_for_envelope(&envelope, KeyOperation::Decrypt)?;
            let plaintext = envelope.open(Purpose::Data, aead(&key, version)?, aad)?;
            Ok((plaintext, Some((key, version))))
        })
    }

    /// Decrypt many envelopes; each gets its own result and audit event.
    pub fn decrypt_batch(&self, items: &[(&[u8], &[u8])]) -> Vec<Result<SecretBytes>> {
        items
            .iter()
            .map(|(sealed, aad)| self.decrypt(sealed, aad))
            .collect()
    }

    /// Re-encrypt an envelope under its key's current version without returning the
    /// plaintext (which is wiped before this returns). The new envelope holds what the old one
    /// did: data is checked for `Decrypt` and `Encrypt`, a wrapped data or stream key for
    /// `Unwrap` and `Wrap`.
    ///
    /// # Errors
    /// As [`Vault::decrypt`] and [`Vault::encrypt`].
    pub fn rewrap(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.audited(AuditOperation::Rewrap, None, aad, |event| {
            let envelope = Envelope::parse(sealed)?;
            name_envelope_key(event, &envelope);
            let purpose = envelope.header().purpose;
            let (open_as, seal_as) = operations_for(purpose);
            let (key, old) = self.key_for_envelope(&envelope, open_as)?;
            let plaintext = envelope.open(purpose, aead(&key, old)?, aad)?;
            let (key, version) = self.prepare(key, seal_as, None, 1)?;
            detail(event, "from_version", old.get().to_string());
            let resealed = seal(&key, version, purpose, &plaintext, aad)?;
            Ok((resealed, Some((key, version))))
        })
    }

    /// A fresh random 256-bit data key, returned in the clear and wrapped under the key named
    /// `name` (envelope encryption: encrypt bulk data locally with the data key, keep only the
    /// wrapped form). Only [`Vault::unwrap_data_key`] opens the wrapped form.
    ///
    /// # Errors
    /// As [`Vault::encrypt`], with the policy checked for `Wrap`.
    pub fn generate_data_key(&self, name: &KeyName, aad: &[u8]) -> Result<DataKey> {
        self.wrap_new_key(name, Purpose::DataKey, aad)
    }

    /// Recover a data key from the wrapped form [`Vault::generate_data_key`] made, checking the
    /// policy for `Unwrap`. Envelopes of data or of a stream key are refused.
    ///
    /// # Errors
    /// As [`Vault::decrypt`]; a core `WrongPurpose` error for another kind of envelope.
    pub fn unwrap_data_key(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretKey> {
        self.unwrap_key(wrapped, Purpose::DataKey, aad)
    }

    /// As [`Vault::generate_data_key`], for the data key of an encrypted file stream: its
    /// wrapped form opens only through [`Vault::unwrap_stream_key`], never as a data key.
    ///
    /// # Errors
    /// As [`Vault::generate_data_key`].
    pub fn generate_stream_key(&self, name: &KeyName, aad: &[u8]) -> Result<DataKey> {
        self.wrap_new_key(name, Purpose::StreamKey, aad)
    }

    /// Recover a file stream's data key, checking the policy for `Unwrap`.
    ///
    /// # Errors
    /// As [`Vault::unwrap_data_key`].
    pub fn unwrap_stream_key(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretKey> {
        self.unwrap_key(wrapped, Purpose::StreamKey, aad)
    }

    fn wrap_new_key(&self, name: &KeyName, purpose: Purpose, aad: &[u8]) -> Result<DataKey> {
        self.audited(AuditOperation::GenerateDataKey, Some(name), aad, |event| {
            if purpose == Purpose::StreamKey {
                detail(event, "purpose", "stream".to_owned());
            }
            let key = self.key_by_name(name)?;
            let (key, version) = self.prepare(key, KeyOperation::Wrap, None, 1)?;
            let plaintext = SecretKey::generate()?;
            let wrapped = seal(&key, version, purpose, plaintext.expose_secret(), aad)?;
            Ok((
                DataKey {
                    plaintext,
                    wrapped,
                    version,
                },
                Some((key, version)),
            ))
        })
    }

    fn unwrap_key(&self, wrapped: &[u8], purpose: Purpose, aad: &[u8]) -> Result<SecretKey> {
        self.audited(AuditOperation::Unwrap, None, aad, |event| {
            let envelope = Envelope::parse(wrapped)?;
            name_envelope_key(event, &envelope);
            if purpose == Purpose::StreamKey {
                detail(event, "purpose", "stream".to_owned());
            }
            expect_purpose(&envelope, purpose)?;
            let (key, version) = self.key_for_envelope(&envelope, KeyOperation::Unwrap)?;
            let plaintext = envelope.open(purpose, aead(&key, version)?, aad)?;
            let data_key = SecretKey::from_slice(&plaintext)?;
            Ok((data_key, Some((key, version))))
        })
    }

    /// HMAC-SHA256 of `data` with the HMAC key named `name`.
    ///
    /// # Errors
    /// As [`Vault::encrypt`], with the policy checked for `Sign`; an AEAD key is refused.
    pub fn sign(&self, name: &KeyName, data: &[u8]) -> Result<Signature> {
        self.audited(AuditOperation::Sign, Some(name), b"", |_| {
            let key = self.key_by_name(name)?;
            let (key, version) = self.prepare(key, KeyOperation::Sign, None, 1)?;
            let mut mac = HmacSha256::new(version_key(&key, version)?.mac.expose_secret());
            mac.update(data);
            Ok((
                Signature {
                    version,
                    tag: mac.finalize(),
                },
                Some((key, version)),
            ))
        })
    }

    /// Check a [`Signature`] over `data`, in constant time.
    ///
    /// # Errors
    /// An opaque authentication failure if the tag does not match; as [`Vault::sign`] otherwise
    /// (with `Verify` and the signature's version checked).
    pub fn verify(&self, name: &KeyName, data: &[u8], signature: &Signature) -> Result<()> {
        self.audited(AuditOperation::Verify, Some(name), b"", |event| {
            let key = self.key_by_name(name)?;
            event.key_id = Some(key.record.metadata.id());
            event.key_version = Some(signature.version);
            let (key, version) =
                self.prepare(key, KeyOperation::Verify, Some(signature.version), 1)?;
            let mut mac = HmacSha256::new(version_key(&key, version)?.mac.expose_secret());
            mac.update(data);
            mac.verify(signature.tag.as_bytes())
                .map_err(|_| keyvault_core::Error::Authentication)?;
            Ok(((), Some((key, version))))
        })
    }

    /// Derive `length` bytes for `context` from the HMAC key named `name` (HKDF-SHA256 over the
    /// current version's derivation subkey): the same key version and context always give the
    /// same bytes. Returns the version used.
    ///
    /// # Errors
    /// As [`Vault::sign`], with `Derive` checked; a length of 0 or above 8160 bytes.
    pub fn derive(
        &self,
        name: &KeyName,
        context: &[u8],
        length: usize,
    ) -> Result<(KeyVersion, SecretBytes)> {
        self.audited(AuditOperation::Derive, Some(name), b"", |_| {
            // Checked before anything is allocated or a use is counted.
            if !(1..=HKDF_MAX_OUTPUT).contains(&length) {
                return Err(keyvault_crypto::CryptoError::LengthOutOfRange {
                    what: "derived length",
                    min: 1,
                    max: HKDF_MAX_OUTPUT,
                    actual: length,
                }
                .into());
            }
            let key = self.key_by_name(name)?;
            let (key, version) = self.prepare(key, KeyOperation::Derive, None, 1)?;
            let mut out = SecretBytes::new(vec![0u8; length]);
            hkdf_sha256(
                &[],
                version_key(&key, version)?.derive.expose_secret(),
                context,
                &mut out,
            )?;
            Ok(((version, out), Some((key, version))))
        })
    }

    /// The key and version an envelope names, authorised for `operation`.
    fn key_for_envelope(
        &self,
        envelope: &Envelope<'_>,
        operation: KeyOperation,
    ) -> Result<(Arc<LoadedKey>, KeyVersion)> {
        let header = envelope.header();
        let key = self.key_by_id(header.key_id)?;
        if key.record.metadata.algorithm().aead() != Some(header.algorithm) {
            return Err(keyvault_core::Error::AlgorithmMismatch {
                expected: header.algorithm.name(),
                found: key.record.metadata.algorithm().name(),
            }
            .into());
        }
        self.prepare(key, operation, Some(header.key_version), 1)
    }

    /// Rotate if due, authorise and count one use of `key`: the single gate every use passes.
    pub(super) fn prepare(
        &self,
        mut key: Arc<LoadedKey>,
        operation: KeyOperation,
        requested: Option<KeyVersion>,
        count: u64,
    ) -> Result<(Arc<LoadedKey>, KeyVersion)> {
        let unlocked = self.state.unlocked()?;
        for round in 0..MAX_ROUNDS_PER_USE {
            if round > 0 {
                // Let the thread that won the last round finish before trying again.
                std::thread::yield_now();
            }
            let now = self.state.now();
            let metadata = &key.record.metadata;
            let id = metadata.id();
            if metadata.state() == KeyState::Destroyed {
                return Err(keyvault_core::Error::KeyDestroyed { key: id }.into());
            }
            let counters =
                self.state
                    .counters
                    .view(&self.state.backend, &unlocked.barrier, metadata)?;
            if operation.protects_new_data()
                && let Some(reason) = rotation_due(metadata, &counters, now)
            {
                let name = metadata.name().clone();
                self.rotate_with(&name, metadata.encryption_version(), &reason.to_string())?;
                key = self.key_by_id(id)?;
                continue;
            }
            let version = authorize(metadata, &counters, operation, requested, now)
                .map_err(|denial| denial.for_key(id, operation, requested))?;
            match self.state.counters.spend(
                &self.state.backend,
                &unlocked.barrier,
                metadata,
                operation,
                version,
                count,
            )? {
                Spent::Done => return Ok((key, version)),
                Spent::VersionExhausted => {
                    // Rotate only if no one else has: a fresh read may show a newer version.
                    let fresh = self.key_by_id(id)?;
                    if fresh.record.metadata.encryption_version() == Some(version) {
                        let name = metadata.name().clone();
                        self.rotate_with(&name, Some(version), "use count")?;
                        key = self.key_by_id(id)?;
                    } else {
                        key = fresh;
                    }
                }
            }
        }
        Err(StoreError::Busy)
    }

    /// Run a use and queue its audit event, whatever the outcome.
    fn audited<T>(
        &self,
        operation: AuditOperation,
        name: Option<&KeyName>,
        aad: &[u8],
        run: impl FnOnce(
            &mut keyvault_core::AuditEvent,
        ) -> Result<(T, Option<(Arc<LoadedKey>, KeyVersion)>)>,
    ) -> Result<T> {
        let unlocked = self.state.unlocked()?;
        let mut event = self.state.event(self.state.now(), operation, Outcome::Ok);
        if let Some(name) = name {
            event = event.with_key_name(name.clone());
        }
        if !aad.is_empty() {
            event = event.with_aad_digest(unlocked.barrier.aad_digest.digest(aad));
        }
        let result = run(&mut event);
        let event = match &result {
            Ok((_, Some((key, version)))) => {
                event.for_key(key.record.metadata.id(), Some(*version))
            }
            Ok((_, None)) => event,
            Err(err) => {
                let mut event = event;
                event.outcome = outcome_of(err);
                if event.key_id.is_none()
                    && let Some(id) = err_key(err)
                {
                    event = event.for_key(id, None);
                }
                event
            }
        };
        self.state.audit_usage(event)?;
        result.map(|(value, _)| value)
    }
}

/// Name the envelope's key and version in the event before anything can fail, so a failed
/// decryption is still found by a filter on its key.
/// Refuse, before any key is looked up or any use counted, an envelope that holds something
/// other than what this operation opens.
fn expect_purpose(envelope: &Envelope<'_>, purpose: Purpose) -> Result<()> {
    let found = envelope.header().purpose;
    if found == purpose {
        Ok(())
    } else {
        Err(keyvault_core::Error::WrongPurpose {
            expected: purpose,
            found,
        }
        .into())
    }
}

/// The operations that open and make envelopes of `purpose`.
fn operations_for(purpose: Purpose) -> (KeyOperation, KeyOperation) {
    match purpose {
        Purpose::Data => (KeyOperation::Decrypt, KeyOperation::Encrypt),
        Purpose::DataKey | Purpose::StreamKey => (KeyOperation::Unwrap, KeyOperation::Wrap),
    }
}

fn name_envelope_key(event: &mut keyvault_core::AuditEvent, envelope: &Envelope<'_>) {
    let header = envelope.header();
    event.key_id = Some(header.key_id);
    event.key_version = Some(header.key_version);
}

/// Add a detail to the event being built, in place.
fn detail(event: &mut keyvault_core::AuditEvent, name: &str, value: String) {
    event.context.details.insert(name.to_owned(), value);
}

fn err_key(err: &StoreError) -> Option<keyvault_core::KeyId> {
    match err {
        StoreError::Core(core) => core.key_id(),
        _ => None,
    }
}

fn version_key(key: &LoadedKey, version: KeyVersion) -> Result<&VersionKey> {
    key.versions.get(&version.get()).ok_or_else(|| {
        StoreError::Core(keyvault_core::Error::UnknownVersion {
            key: key.record.metadata.id(),
            version,
        })
    })
}

fn aead(key: &LoadedKey, version: KeyVersion) -> Result<&AeadKey> {
    version_key(key, version)?.aead.as_ref().ok_or_else(|| {
        StoreError::Core(keyvault_core::Error::AlgorithmMismatch {
            expected: "an AEAD",
            found: key.record.metadata.algorithm().name(),
        })
    })
}

fn seal(
    key: &LoadedKey,
    version: KeyVersion,
    purpose: Purpose,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    let aead = aead(key, version)?;
    let header = EnvelopeHeader {
        purpose,
        algorithm: aead.algorithm(),
        key_id: key.record.metadata.id(),
        key_version: version,
    };
    Ok(envelope::seal(aead, &header, plaintext, aad)?)
}
