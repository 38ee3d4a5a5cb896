//! Shared machinery: the canonical big-endian writer, a bounded reader for untrusted bytes, the
//! one password derivation per file and its HKDF-separated subkeys, and a bounded file read.

use std::io::Read;
use std::path::Path;

use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::password::{MAX_SALT_LEN, MIN_SALT_LEN, derive_key};
use keyvault_crypto::{Argon2Params, SecretKey, constant_time_eq};

use crate::error::{BackupError, Result};

/// Length of the password check value each file carries.
pub(crate) const CHECK_LEN: usize = 16;

/// An append-only buffer of fixed-width big-endian fields and length-prefixed byte strings.
#[derive(Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn with_label(label: &[u8]) -> Self {
        let mut writer = Writer(Vec::with_capacity(256));
        writer.0.extend_from_slice(label);
        writer
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.0.push(value);
        self
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// `u32 length || bytes`. Callers bound every field far below 4 GiB; a longer one would be
    /// a bug, and saturating keeps the encoding total rather than panicking.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.raw(bytes)
    }

    /// `00` for none, `01 || u32 length || bytes` for some.
    pub(crate) fn optional_bytes(&mut self, bytes: Option<&[u8]>) -> &mut Self {
        match bytes {
            None => self.u8(0),
            Some(bytes) => self.u8(1).bytes(bytes),
        }
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

/// A cursor over untrusted bytes: every read is bounds-checked and fails with a typed error.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { rest: bytes, what }
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let (head, tail) = self
            .rest
            .split_at_checked(len)
            .ok_or_else(|| BackupError::malformed(self.what, "truncated"))?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// The keys one password derivation yields for one file.
pub(crate) struct FileKeys {
    /// Encrypts (exports: wraps the key material; backups: seals the payload).
    pub(crate) encrypt: SecretKey,
    /// MACs the whole file (backups only; exports rely on the AEAD over their header).
    pub(crate) mac: SecretKey,
    /// Tells a wrong password from a modified file.
    pub(crate) check: [u8; CHECK_LEN],
}

// FileKeys holds key material: no Debug that could print it, never copied implicitly.
#[cfg(test)]
static_assertions::assert_not_impl_any!(FileKeys: std::fmt::Debug, Copy);

/// HKDF labels of one file kind: encryption key, MAC key, password check value.
pub(crate) struct Labels {
    pub(crate) encrypt: &'static str,
    pub(crate) mac: &'static str,
    pub(crate) check: &'static str,
}

/// Check parameters read from a file (ceiling and structure first, then the floor) and the
/// salt's length, so a hostile file is refused before any memory is allocated for Argon2.
pub(crate) fn check_kdf_inputs(params: &Argon2Params, salt_len: usize) -> Result<()> {
    params.check_bounds()?;
    params.validate()?;
    if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt_len) {
        return Err(BackupError::InvalidField {
            what: "salt",
            reason: "a salt is 16 to 64 bytes",
        });
    }
    Ok(())
}

/// [`check_kdf_inputs`] for parameters read from a file: a bound they break says the file is
/// damaged or hostile ([`BackupError::KdfParameters`]), not that the caller asked for too much.
pub(crate) fn check_file_kdf_inputs(
    what: &'static str,
    params: &Argon2Params,
    salt_len: usize,
) -> Result<()> {
    check_kdf_inputs(params, salt_len).map_err(|err| match err {
        BackupError::Crypto(source) => BackupError::KdfParameters { what, source },
        other => other,
    })
}

/// One Argon2id derivation, then HKDF-SHA256 subkeys for each purpose.
pub(crate) fn derive_file_keys(
    password: &[u8],
    salt: &[u8],
    params: &Argon2Params,
    labels: &Labels,
) -> Result<FileKeys> {
    check_kdf_inputs(params, salt.len())?;
    let root = derive_key(password, salt, params)?;
    let check_key = derive_subkey(&root, labels.check, b"")?;
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(
        check_key
            .expose_secret()
            .get(..CHECK_LEN)
            .unwrap_or(&[0; 16]),
    );
    Ok(FileKeys {
        encrypt: derive_subkey(&root, labels.encrypt, b"")?,
        mac: derive_subkey(&root, labels.mac, b"")?,
        check,
    })
}

/// Compare the check value in constant time.
pub(crate) fn check_password(
    keys: &FileKeys,
    stored: &[u8; CHECK_LEN],
    what: &'static str,
) -> Result<()> {
    if constant_time_eq(&keys.check, stored) {
        Ok(())
    } else {
        Err(BackupError::WrongPassword { what })
    }
}

/// A fresh random salt of 32 bytes.
pub(crate) fn random_salt() -> Result<Vec<u8>> {
    Ok(keyvault_crypto::random::bytes::<32>()?.to_vec())
}

/// Read a whole file of at most `max` bytes, refusing larger ones before reading them.
pub(crate) fn read_bounded(path: &Path, max: usize, what: &'static str) -> Result<Vec<u8>> {
    let io = |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    if len > limit {
        return Err(BackupError::TooLarge {
            what,
            len,
            max: limit,
        });
    }
    let mut out = Vec::new();
    // Read one byte past the limit, in case the file grew since its length was taken.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() > max {
        return Err(BackupError::too_large(what, out.len(), max));
    }
    Ok(out)
}

/// Write `bytes` durably to a new file at `path` (refusing to overwrite), readable by its owner
/// only; nothing is left behind on failure.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    keyvault_store::durable::write_new(path, bytes).map_err(|source| BackupError::Io {
        path: path.display().to_string(),
        source,
    })
}
