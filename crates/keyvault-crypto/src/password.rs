//! Argon2id password-based key derivation with bounded parameters ([`Argon2Params`]).

use argon2::{Argon2, Version};
use zeroize::Zeroizing;

use crate::Argon2Params;
use crate::error::{CryptoError, Result};
use crate::secret::SecretKey;

/// Smallest salt keyvault generates or accepts for its own key derivations.
pub const MIN_SALT_LEN: usize = 16;
/// Largest salt accepted.
pub const MAX_SALT_LEN: usize = 64;

/// Derive a 256-bit key from a password with Argon2id (RFC 9106, version 0x13).
///
/// `params` must pass [`Argon2Params::validate`] and `salt` must be 16–64 bytes (generate it with
/// [`crate::random::bytes`]). Both checks run before any memory is allocated.
///
/// # Errors
/// [`CryptoError::Argon2Parameter`], [`CryptoError::Argon2TooWeak`] or
/// [`CryptoError::LengthOutOfRange`] for bad inputs; [`CryptoError::Argon2`] if the derivation
/// itself fails (for example, memory cannot be allocated).
pub fn derive_key(password: &[u8], salt: &[u8], params: &Argon2Params) -> Result<SecretKey> {
    params.validate()?;
    check_len("salt", salt.len(), MIN_SALT_LEN, MAX_SALT_LEN)?;
    let mut result = Ok(());
    let key = SecretKey::init_with_mut(|out| {
        result = argon2id_raw(password, salt, &[], &[], params, out);
    });
    result.map(|()| key)
}

pub(crate) fn check_len(what: &'static str, actual: usize, min: usize, max: usize) -> Result<()> {
    if (min..=max).contains(&actual) {
        Ok(())
    } else {
        Err(CryptoError::LengthOutOfRange {
            what,
            min,
            max,
            actual,
        })
    }
}

/// Argon2id with RFC 9106's optional secret and associated data. Checks only the ceiling and the
/// RFC's own minimums (salt ≥ 8 bytes, output ≥ 4 bytes); [`crate::hazmat::argon2id`] exposes it.
pub(crate) fn argon2id_raw(
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
    params: &Argon2Params,
    out: &mut [u8],
) -> Result<()> {
    params.check_bounds()?;
    check_len("salt", salt.len(), argon2::MIN_SALT_LEN, 1024)?;
    check_len(
        "Argon2 output",
        out.len(),
        argon2::Params::MIN_OUTPUT_LEN,
        1024,
    )?;
    check_len("Argon2 secret", secret.len(), 0, 64)?;
    check_len(
        "Argon2 associated data",
        associated_data.len(),
        0,
        argon2::Params::MAX_DATA_LEN,
    )?;
    let data = argon2::AssociatedData::new(associated_data).map_err(argon2_error)?;
    let argon2_params = argon2::ParamsBuilder::new()
        .m_cost(params.memory_kib)
        .t_cost(params.iterations)
        .p_cost(params.lanes)
        .output_len(out.len())
        .data(data)
        .build()
        .map_err(argon2_error)?;
    let argon2 = if secret.is_empty() {
        Argon2::new(
            argon2::Algorithm::Argon2id,
            Version::V0x13,
            argon2_params.clone(),
        )
    } else {
        Argon2::new_with_secret(
            secret,
            argon2::Algorithm::Argon2id,
            Version::V0x13,
            argon2_params.clone(),
        )
        .map_err(argon2_error)?
    };
    // Own the working memory so it can be wiped: argon2 frees its own allocation without
    // zeroizing it, and the last blocks determine the derived key.
    let mut blocks = Zeroizing::new(Vec::new());
    blocks
        .try_reserve_exact(argon2_params.block_count())
        .map_err(|_| CryptoError::Argon2("out of memory"))?;
    blocks.resize(argon2_params.block_count(), argon2::Block::default());
    argon2
        .hash_password_into_with_memory(password, salt, out, blocks.as_mut_slice())
        .map_err(argon2_error)
}

fn argon2_error(err: argon2::Error) -> CryptoError {
    CryptoError::Argon2(match err {
        argon2::Error::OutOfMemory => "out of memory",
        argon2::Error::PwdTooLong => "password too long",
        argon2::Error::SaltTooShort | argon2::Error::SaltTooLong => "salt length",
        argon2::Error::OutputTooShort | argon2::Error::OutputTooLong => "output length",
        argon2::Error::SecretTooLong => "secret too long",
        argon2::Error::AdTooLong => "associated data too long",
        argon2::Error::MemoryTooLittle | argon2::Error::MemoryTooMuch => "memory cost",
        argon2::Error::ThreadsTooFew | argon2::Error::ThreadsTooMany => "lanes",
        argon2::Error::TimeTooSmall => "passes",
        _ => "rejected parameters",
    })
}
