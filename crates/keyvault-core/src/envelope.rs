//! The ciphertext envelope, format v2: what `encrypt` returns and `decrypt` takes.
//!
//! ```text
//! offset  size  field
//!      0     3  magic "KVE" (4B 56 45)
//!      3     1  format version = 2
//!      4     1  purpose (1 data, 2 wrapped data key, 3 wrapped stream key)
//!      5     1  algorithm id (1 XChaCha20-Poly1305, 2 ChaCha20-Poly1305, 3 AES-256-GCM)
//!      6    16  key id
//!     22     4  key version, u32 big-endian, >= 1
//!     26     N  nonce (N = 24 for XChaCha20-Poly1305, 12 otherwise)
//!   26+N     L  ciphertext (L = plaintext length)
//!    end    16  tag
//! ```
//!
//! The AEAD's associated data is the 26 header bytes followed by the caller's AAD. The header
//! has a fixed length, so the split between the two is unambiguous, and every header bit is
//! authenticated: changing the purpose, key id, version or algorithm makes opening fail. A store
//! can [`Envelope::parse`] an envelope without any key to learn which key and version open it.
//!
//! The purpose says which operation made the envelope, and [`Envelope::open`] opens only an
//! envelope of the purpose asked for: a key allowed to `decrypt` but not to `unwrap` cannot
//! recover a wrapped data key by decrypting it, nor can a caller allowed only to `encrypt` make
//! something the stream reader or `unwrap` accepts. Version 1 envelopes had no purpose and are
//! refused.
//!
//! The text form for terminals ([`armour`]) is `kv1:` followed by the envelope in unpadded
//! base64url (RFC 4648 §5). docs/FORMATS.md has the same layout.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use keyvault_crypto::{AeadKey, Algorithm, SecretBytes, TAG_LEN};

use crate::error::{Error, Result};
use crate::ids::{KeyId, KeyVersion};

/// The first three bytes of every envelope.
pub const MAGIC: [u8; 3] = *b"KVE";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 2;
/// Length of the header.
pub const HEADER_LEN: usize = 26;
/// Largest plaintext one envelope carries (64 MiB); larger data uses a streaming format.
pub const MAX_PLAINTEXT_LEN: usize = 64 << 20;
/// Largest envelope accepted by [`Envelope::parse`].
pub const MAX_ENVELOPE_LEN: usize = HEADER_LEN + 24 + MAX_PLAINTEXT_LEN + TAG_LEN;
/// Prefix of the armoured text form.
pub const ARMOUR_PREFIX: &str = "kv1:";
/// Largest armoured text accepted by [`dearmour`] (after trimming surrounding whitespace).
pub const MAX_ARMOURED_LEN: usize = ARMOUR_PREFIX.len() + MAX_ENVELOPE_LEN.div_ceil(3) * 4;

const NONCE_OFFSET: usize = HEADER_LEN;

/// What is wrong with bytes that are not a valid envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopeDefect {
    /// Shorter than a header, or than header + nonce + tag.
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed at least.
        min: usize,
    },
    /// Longer than [`MAX_ENVELOPE_LEN`] (or the armoured form longer than [`MAX_ARMOURED_LEN`]).
    TooLong {
        /// Bytes given.
        len: usize,
        /// Most accepted.
        max: usize,
    },
    /// The magic bytes are not `KVE`.
    NotAnEnvelope,
    /// A format version this crate does not read.
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// An algorithm id this crate does not know.
    UnknownAlgorithm {
        /// The id byte.
        id: u8,
    },
    /// A purpose byte this crate does not know.
    UnknownPurpose {
        /// The purpose byte.
        id: u8,
    },
    /// Key version 0 (versions count from 1).
    ZeroKeyVersion,
    /// Armoured text does not start with `kv1:`.
    MissingArmourPrefix,
    /// Armoured text is not canonical unpadded base64url.
    BadArmourEncoding,
}

impl fmt::Display for EnvelopeDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeDefect::TooShort { len, min } => {
                write!(f, "{len} bytes is too short (at least {min})")
            }
            EnvelopeDefect::TooLong { len, max } => {
                write!(f, "{len} bytes is too long (at most {max})")
            }
            EnvelopeDefect::NotAnEnvelope => f.write_str("not a keyvault envelope (bad magic)"),
            EnvelopeDefect::UnsupportedVersion { version: 1 } => f.write_str(
                "envelope format version 1 (before purposes were bound) is no longer read",
            ),
            EnvelopeDefect::UnsupportedVersion { version } => {
                write!(f, "unsupported envelope format version {version}")
            }
            EnvelopeDefect::UnknownAlgorithm { id } => write!(f, "unknown algorithm id {id}"),
            EnvelopeDefect::UnknownPurpose { id } => write!(f, "unknown purpose id {id}"),
            EnvelopeDefect::ZeroKeyVersion => f.write_str("key version 0 is invalid"),
            EnvelopeDefect::MissingArmourPrefix => {
                write!(f, "armoured text must start with {ARMOUR_PREFIX:?}")
            }
            EnvelopeDefect::BadArmourEncoding => {
                f.write_str("armoured text is not canonical unpadded base64url")
            }
        }
    }
}

fn malformed(defect: EnvelopeDefect) -> Error {
    Error::MalformedEnvelope { defect }
}

/// What an envelope holds, and so the one operation that may open it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Data sealed by `encrypt`; opened by `decrypt`.
    Data,
    /// A data key sealed by `generate_data_key`; opened by `unwrap`.
    DataKey,
    /// The data key of an encrypted file stream; opened by `unwrap` when reading the stream.
    StreamKey,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 3] = [Purpose::Data, Purpose::DataKey, Purpose::StreamKey];

    /// The byte the header carries.
    #[must_use]
    pub const fn id(self) -> u8 {
        match self {
            Purpose::Data => 1,
            Purpose::DataKey => 2,
            Purpose::StreamKey => 3,
        }
    }

    /// The purpose of header byte `id`.
    #[must_use]
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Purpose::Data),
            2 => Some(Purpose::DataKey),
            3 => Some(Purpose::StreamKey),
            _ => None,
        }
    }

    /// In words, for messages: "data", "a wrapped data key", "a file stream's data key".
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Purpose::Data => "encrypted data",
            Purpose::DataKey => "a wrapped data key",
            Purpose::StreamKey => "a file stream's data key",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The header of an envelope: what it holds, which key, which version, which algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnvelopeHeader {
    /// What the envelope holds.
    pub purpose: Purpose,
    /// The AEAD algorithm.
    pub algorithm: Algorithm,
    /// The key's id.
    pub key_id: KeyId,
    /// The key version that sealed it.
    pub key_version: KeyVersion,
}

impl EnvelopeHeader {
    /// The header's 26 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields = MAGIC
            .into_iter()
            .chain([FORMAT_VERSION, self.purpose.id(), self.algorithm.id()])
            .chain(*self.key_id.as_bytes())
            .chain(self.key_version.get().to_be_bytes());
        for (slot, byte) in out.iter_mut().zip(fields) {
            *slot = byte;
        }
        out
    }

    /// Read a header from the start of `bytes`.
    ///
    /// # Errors
    /// [`Error::MalformedEnvelope`] for input shorter than a header, bad magic, another format
    /// version, an unknown purpose or algorithm, or key version 0.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let too_short = || {
            malformed(EnvelopeDefect::TooShort {
                len: bytes.len(),
                min: HEADER_LEN,
            })
        };
        let header: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|head| head.try_into().ok())
            .ok_or_else(too_short)?;
        let [
            m0,
            m1,
            m2,
            version,
            purpose,
            algorithm,
            id @ ..,
            v0,
            v1,
            v2,
            v3,
        ] = header;
        if [*m0, *m1, *m2] != MAGIC {
            return Err(malformed(EnvelopeDefect::NotAnEnvelope));
        }
        if *version != FORMAT_VERSION {
            return Err(malformed(EnvelopeDefect::UnsupportedVersion {
                version: *version,
            }));
        }
        let purpose = Purpose::from_id(*purpose)
            .ok_or(malformed(EnvelopeDefect::UnknownPurpose { id: *purpose }))?;
        let algorithm = Algorithm::from_id(*algorithm)
            .map_err(|_| malformed(EnvelopeDefect::UnknownAlgorithm { id: *algorithm }))?;
        let key_version = KeyVersion::new(u32::from_be_bytes([*v0, *v1, *v2, *v3]))
            .map_err(|_| malformed(EnvelopeDefect::ZeroKeyVersion))?;
        Ok(EnvelopeHeader {
            purpose,
            algorithm,
            key_id: KeyId::from_bytes(*id),
            key_version,
        })
    }
}

/// A parsed envelope, borrowing its bytes. Parsing needs no key; opening does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    header: EnvelopeHeader,
    header_bytes: &'a [u8],
    /// `nonce || ciphertext || tag`, the layout [`AeadKey::open`] takes.
    sealed: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Split `bytes` into header, nonce, ciphertext and tag, checking every length.
    ///
    /// # Errors
    /// [`Error::MalformedEnvelope`] for anything that is not a well-formed v1 envelope. Never
    /// panics and allocates nothing, whatever the input.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(malformed(EnvelopeDefect::TooLong {
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            }));
        }
        let header = EnvelopeHeader::parse(bytes)?;
        let nonce_len = header.algorithm.nonce_len();
        let min = NONCE_OFFSET + nonce_len + TAG_LEN;
        let too_short = || {
            malformed(EnvelopeDefect::TooShort {
                len: bytes.len(),
                min,
            })
        };
        let (header_bytes, body) = bytes.split_at_checked(HEADER_LEN).ok_or_else(too_short)?;
        let (nonce, rest) = body.split_at_checked(nonce_len).ok_or_else(too_short)?;
        let tag_start = rest.len().checked_sub(TAG_LEN).ok_or_else(too_short)?;
        let (ciphertext, tag) = rest.split_at_checked(tag_start).ok_or_else(too_short)?;
        Ok(Envelope {
            header,
            header_bytes,
            sealed: body,
            nonce,
            ciphertext,
            tag,
        })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// The nonce.
    #[must_use]
    pub fn nonce(&self) -> &'a [u8] {
        self.nonce
    }

    /// The ciphertext (without the tag).
    #[must_use]
    pub fn ciphertext(&self) -> &'a [u8] {
        self.ciphertext
    }

    /// The tag.
    #[must_use]
    pub fn tag(&self) -> &'a [u8] {
        self.tag
    }

    /// Authenticate and decrypt with `key` and the caller's `aad`, if the envelope holds
    /// `purpose`.
    ///
    /// # Errors
    /// [`Error::WrongPurpose`] if the envelope holds something else (nothing is decrypted);
    /// [`Error::AlgorithmMismatch`] if `key` is bound to another algorithm than the header
    /// names; [`Error::Authentication`] for anything that does not authenticate (wrong key,
    /// wrong AAD, any changed bit), with no further detail.
    pub fn open(&self, purpose: Purpose, key: &AeadKey, aad: &[u8]) -> Result<SecretBytes> {
        if self.header.purpose != purpose {
            return Err(Error::WrongPurpose {
                expected: purpose,
                found: self.header.purpose,
            });
        }
        check_algorithm(key, self.header.algorithm)?;
        let associated = associated_data(self.header_bytes, aad);
        Ok(key.open(self.sealed, &associated)?)
    }
}

/// Seal `plaintext` into an envelope under a fresh random nonce.
///
/// # Errors
/// [`Error::AlgorithmMismatch`] if `key`'s algorithm is not `header.algorithm`;
/// [`Error::TooLarge`] past [`MAX_PLAINTEXT_LEN`]; [`Error::Crypto`] if no nonce can be drawn.
pub fn seal(
    key: &AeadKey,
    header: &EnvelopeHeader,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    check_seal_inputs(key, header, plaintext)?;
    let header_bytes = header.to_bytes();
    let associated = associated_data(&header_bytes, aad);
    let mut out = Vec::with_capacity(sealed_len(header, plaintext));
    out.extend_from_slice(&header_bytes);
    key.seal_append(plaintext, &associated, &mut out)?;
    Ok(out)
}

/// Parse `envelope` and open it as `purpose`: [`Envelope::parse`] then [`Envelope::open`].
///
/// # Errors
/// As those two.
pub fn open(key: &AeadKey, purpose: Purpose, envelope: &[u8], aad: &[u8]) -> Result<SecretBytes> {
    Envelope::parse(envelope)?.open(purpose, key, aad)
}

/// The text form: `kv1:` + unpadded base64url of the envelope bytes.
///
/// # Errors
/// [`Error::MalformedEnvelope`] if `envelope` is longer than [`MAX_ENVELOPE_LEN`].
pub fn armour(envelope: &[u8]) -> Result<String> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(malformed(EnvelopeDefect::TooLong {
            len: envelope.len(),
            max: MAX_ENVELOPE_LEN,
        }));
    }
    let mut text = vec![0u8; Base64UrlUnpadded::encoded_len(envelope)];
    let encoded = Base64UrlUnpadded::encode(envelope, &mut text)
        .map_err(|_| malformed(EnvelopeDefect::BadArmourEncoding))?;
    Ok(format!("{ARMOUR_PREFIX}{encoded}"))
}

/// The envelope bytes of armoured `text`. Leading and trailing ASCII whitespace (such as the
/// newline a terminal adds) is ignored; anything else must be exact. The bytes are not checked
/// to be an envelope: [`Envelope::parse`] does that.
///
/// # Errors
/// [`Error::MalformedEnvelope`] for text that is too long (checked before decoding), lacks
/// the `kv1:` prefix, or is not canonical unpadded base64url.
pub fn dearmour(text: &str) -> Result<Vec<u8>> {
    let text = text.trim_ascii();
    if text.len() > MAX_ARMOURED_LEN {
        return Err(malformed(EnvelopeDefect::TooLong {
            len: text.len(),
            max: MAX_ARMOURED_LEN,
        }));
    }
    let encoded = text
        .strip_prefix(ARMOUR_PREFIX)
        .ok_or(malformed(EnvelopeDefect::MissingArmourPrefix))?;
    Base64UrlUnpadded::decode_vec(encoded).map_err(|_| malformed(EnvelopeDefect::BadArmourEncoding))
}

/// The AEAD associated data: the header bytes, then the caller's AAD.
fn associated_data(header_bytes: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut associated = Vec::with_capacity(header_bytes.len().saturating_add(aad.len()));
    associated.extend_from_slice(header_bytes);
    associated.extend_from_slice(aad);
    associated
}

fn check_algorithm(key: &AeadKey, expected: Algorithm) -> Result<()> {
    if key.algorithm() == expected {
        Ok(())
    } else {
        Err(Error::AlgorithmMismatch {
            expected: expected.name(),
            found: key.algorithm().name(),
        })
    }
}

fn check_seal_inputs(key: &AeadKey, header: &EnvelopeHeader, plaintext: &[u8]) -> Result<()> {
    check_algorithm(key, header.algorithm)?;
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge {
            what: "plaintext",
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    Ok(())
}

fn sealed_len(header: &EnvelopeHeader, plaintext: &[u8]) -> usize {
    HEADER_LEN + header.algorithm.overhead() + plaintext.len()
}

/// Sealing under a caller-chosen nonce: for known-answer tests and golden files only.
///
/// Reusing a nonce under one key destroys confidentiality and integrity for every message that
/// shares it (see [`keyvault_crypto::hazmat`]). Production code calls [`seal`],
/// which draws a fresh random nonce every time.
pub mod hazmat {
    use keyvault_crypto::AeadKey;

    use super::{EnvelopeHeader, associated_data, check_seal_inputs, sealed_len};
    use crate::error::Result;

    /// Seal as [`super::seal`] does, but under `nonce` instead of a random one.
    ///
    /// # Errors
    /// As [`super::seal`], plus [`crate::Error::Crypto`] for a nonce of the wrong length.
    pub fn seal_with_nonce(
        key: &AeadKey,
        header: &EnvelopeHeader,
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        check_seal_inputs(key, header, plaintext)?;
        let header_bytes = header.to_bytes();
        let associated = associated_data(&header_bytes, aad);
        let sealed = keyvault_crypto::hazmat::seal_with_nonce(key, nonce, &associated, plaintext)?;
        let mut out = Vec::with_capacity(sealed_len(header, plaintext));
        out.extend_from_slice(&header_bytes);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}
