//! Key identity: the random [`KeyId`], the human [`KeyName`] and the [`KeyVersion`] number.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A key's stable identifier: 128 random bits, fixed at creation and never reused.
///
/// Printed as 32 lower-case hex digits. Ids are public values (they appear in every ciphertext
/// envelope), so `Debug` shows them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct KeyId([u8; KeyId::LEN]);

impl KeyId {
    /// Length of an id in bytes.
    pub const LEN: usize = 16;

    /// A fresh random id from the operating system's generator.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self> {
        Ok(KeyId(keyvault_crypto::random::bytes()?))
    }

    /// The id with these bytes (for parsers and tests).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; KeyId::LEN]) -> Self {
        KeyId(bytes)
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; KeyId::LEN] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Parses exactly 32 hex digits (either case); anything else is [`Error::InvalidKeyId`].
impl FromStr for KeyId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        crate::hex::decode(s)
            .map(KeyId)
            .ok_or_else(|| Error::InvalidKeyId {
                input: truncate_for_error(s),
                reason: "a key id is exactly 32 hex digits (0-9, a-f)",
            })
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for KeyId {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// Longest name accepted, in bytes (every accepted character is one byte).
pub const MAX_NAME_LEN: usize = 64;

/// A key's unique human name, validated on construction.
///
/// Rules:
/// - 1 to [`MAX_NAME_LEN`] (64) characters;
/// - only lower-case ASCII letters `a-z`, digits `0-9`, and `-`, `_`, `.`;
/// - the first character is a letter or a digit.
///
/// Names go into file names, shell commands and logs, so the set is small and unambiguous:
/// upper case is refused so that `Payments` and `payments` cannot name two different keys,
/// and a leading punctuation character could read as a command-line flag or a hidden file.
///
/// The text is shared: cloning a name (as every audit event does) copies no bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct KeyName(Arc<str>);

/// Which naming rule a rejected name broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameRule {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// The first character is not a letter or a digit.
    BadFirstCharacter,
    /// A character outside `a-z`, `0-9`, `-`, `_`, `.`.
    BadCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the name.
        offset: usize,
    },
}

impl fmt::Display for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRule::Empty => f.write_str("a key name cannot be empty"),
            NameRule::TooLong { len } => {
                write!(
                    f,
                    "a key name is at most {MAX_NAME_LEN} characters, this one has {len}"
                )
            }
            NameRule::BadFirstCharacter => {
                f.write_str("a key name starts with an ASCII letter a-z or a digit 0-9")
            }
            NameRule::BadCharacter { character, offset } => write!(
                f,
                "character {character:?} at offset {offset} is not allowed: use a-z, 0-9, '-', '_' or '.'"
            ),
        }
    }
}

impl KeyName {
    /// Validate `name`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] naming the first rule the name breaks.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        match Self::check(&name) {
            Ok(()) => Ok(KeyName(Arc::from(name))),
            Err(rule) => Err(Error::InvalidName {
                name: truncate_for_error(&name),
                rule,
            }),
        }
    }

    fn check(name: &str) -> std::result::Result<(), NameRule> {
        let first = name.chars().next().ok_or(NameRule::Empty)?;
        if name.len() > MAX_NAME_LEN {
            return Err(NameRule::TooLong { len: name.len() });
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(NameRule::BadFirstCharacter);
        }
        match name
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)))
        {
            Some((offset, character)) => Err(NameRule::BadCharacter { character, offset }),
            None => Ok(()),
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName({:?})", self.0)
    }
}

impl FromStr for KeyName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        KeyName::new(s)
    }
}

impl From<KeyName> for String {
    fn from(name: KeyName) -> String {
        name.0.to_string()
    }
}

impl TryFrom<String> for KeyName {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        KeyName::new(s)
    }
}

impl AsRef<str> for KeyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A key version number: 1 for the material a key is created with, one more for each rotation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "u32")]
pub struct KeyVersion(NonZeroU32);

impl KeyVersion {
    /// Version 1, the first.
    pub const FIRST: KeyVersion = KeyVersion(NonZeroU32::MIN);

    /// Version `number`.
    ///
    /// # Errors
    /// [`Error::InvalidVersion`] for 0: versions count from 1.
    pub fn new(number: u32) -> Result<Self> {
        NonZeroU32::new(number)
            .map(KeyVersion)
            .ok_or(Error::InvalidVersion { number })
    }

    /// The version number.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0.get()
    }

    /// The version after this one, or `None` at `u32::MAX`.
    #[must_use]
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(KeyVersion)
    }
}

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyVersion({})", self.0)
    }
}

impl From<KeyVersion> for u32 {
    fn from(version: KeyVersion) -> u32 {
        version.get()
    }
}

impl TryFrom<u32> for KeyVersion {
    type Error = Error;

    fn try_from(number: u32) -> Result<Self> {
        KeyVersion::new(number)
    }
}

/// At most 64 characters of untrusted input, for echoing in an error message.
pub(crate) fn truncate_for_error(input: &str) -> String {
    input.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_prints_and_parses() {
        let id =
            KeyId::from_bytes(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\xff");
        assert_eq!(id.to_string(), "000102030405060708090a0b0c0d0eff");
        assert_eq!(
            "000102030405060708090A0B0C0D0EFF".parse::<KeyId>().unwrap(),
            id
        );
        assert_eq!(format!("{id:?}"), "KeyId(000102030405060708090a0b0c0d0eff)");
    }

    #[test]
    fn key_id_rejects_bad_input() {
        for bad in [
            "",
            "00",
            "000102030405060708090a0b0c0d0eff00",
            "000102030405060708090a0b0c0d0eg0",
            "é0102030405060708090a0b0c0d0ef",
        ] {
            assert!(
                matches!(bad.parse::<KeyId>(), Err(Error::InvalidKeyId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(KeyId::generate().unwrap(), KeyId::generate().unwrap());
    }

    #[test]
    fn names_follow_the_rules() {
        for good in [
            "a",
            "0",
            "payments-db",
            "svc_1.v2",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert_eq!(KeyName::new(good).unwrap().as_str(), good);
        }
        let rule = |name: &str| match KeyName::new(name) {
            Err(Error::InvalidName { rule, .. }) => rule,
            other => panic!("{name:?} gave {other:?}"),
        };
        assert_eq!(rule(""), NameRule::Empty);
        assert_eq!(rule(&"x".repeat(65)), NameRule::TooLong { len: 65 });
        assert_eq!(rule("-flag"), NameRule::BadFirstCharacter);
        assert_eq!(rule(".hidden"), NameRule::BadFirstCharacter);
        assert_eq!(rule("Payments"), NameRule::BadFirstCharacter);
        assert_eq!(
            rule("pay ments"),
            NameRule::BadCharacter {
                character: ' ',
                offset: 3
            }
        );
        assert_eq!(
            rule("a/b"),
            NameRule::BadCharacter {
                character: '/',
                offset: 1
            }
        );
        assert_eq!(
            rule("aé"),
            NameRule::BadCharacter {
                character: 'é',
                offset: 1
            }
        );
    }

    #[test]
    fn versions_start_at_one() {
        assert!(matches!(
            KeyVersion::new(0),
            Err(Error::InvalidVersion { number: 0 })
        ));
        assert_eq!(KeyVersion::FIRST.get(), 1);
        assert_eq!(KeyVersion::FIRST.next().unwrap().get(), 2);
        assert_eq!(KeyVersion::new(u32::MAX).unwrap().next(), None);
        assert_eq!(KeyVersion::new(3).unwrap().to_string(), "v3");
    }

    #[test]
    fn serde_validates() {
        let err = serde_json::from_str::<KeyName>("\"Bad Name\"").unwrap_err();
        assert!(
            err.is_data() && err.to_string().contains("invalid key name"),
            "{err}"
        );
        let err = serde_json::from_str::<KeyVersion>("0").unwrap_err();
        assert!(
            err.is_data() && err.to_string().contains("invalid key version"),
            "{err}"
        );
        let id = KeyId::from_bytes([7; 16]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"07070707070707070707070707070707\"");
        assert_eq!(serde_json::from_str::<KeyId>(&json).unwrap(), id);
    }
}
