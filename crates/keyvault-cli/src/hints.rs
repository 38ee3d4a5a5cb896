//! Wording that helps a user who stumbled: the error sentence without repeats, counts with
//! their plurals, and the possible causes of failures the libraries keep opaque on purpose.

use std::path::Path;

use keyvault_backup::BackupError;
use keyvault_crypto::CryptoError;
use keyvault_store::StoreError;

use crate::context::describe_path;
use crate::exit::{Code, Failure};

/// What may cause an envelope or a stream's data key not to open, for `decrypt` and `rewrap`
/// (the libraries only say "authentication failed", on purpose).
pub(crate) const DECRYPT_CAUSES: &str = "possible causes: the associated data differs from the \
     one given when encrypting (--aad, or its absence), the ciphertext was damaged or modified, \
     or it was sealed with another key that has the same id";

/// What may cause a rust-keyvault FileStore not to open with a password.
pub(crate) const LEGACY_STORE_CAUSES: &str = "possible causes: a wrong password, or --legacy-argon2 \
     settings other than the ones the store was used with (rust-keyvault does not write them \
     down; its default is balanced)";

/// `err` as one sentence: each cause after the one before it, leaving out a cause whose text
/// the one before already ends with (an I/O error that quotes the OS error it wraps).
pub(crate) fn sentence(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// "1 key", "2 keys".
pub(crate) fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// [`count`] for a `usize`.
pub(crate) fn count_of(n: usize, one: &str, many: &str) -> String {
    count(u64::try_from(n).unwrap_or(u64::MAX), one, many)
}

/// Whether the failure is a cryptographic authentication failure (no detail by design).
pub(crate) fn is_authentication(err: &anyhow::Error) -> bool {
    use keyvault_core::Error as CoreError;
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<CoreError>(),
            Some(CoreError::Authentication)
        ) || matches!(
            cause.downcast_ref::<CryptoError>(),
            Some(CryptoError::Authentication)
        ) || matches!(
            cause.downcast_ref::<StoreError>(),
            Some(
                StoreError::Crypto(CryptoError::Authentication)
                    | StoreError::Core(CoreError::Authentication)
            )
        ) || matches!(
            cause.downcast_ref::<BackupError>(),
            Some(
                BackupError::Crypto(CryptoError::Authentication)
                    | BackupError::Core(CoreError::Authentication)
            )
        )
    })
}

/// `err` with `causes` added after it when it is an authentication failure; other errors
/// pass unchanged. The exit code stays 3.
pub(crate) fn explain_authentication(err: anyhow::Error, causes: &str) -> anyhow::Error {
    if is_authentication(&err) {
        Failure::new(
            Code::Authentication,
            format!("{}; {causes}", sentence(&err)),
        )
        .into()
    } else {
        err
    }
}

/// `err` with its "no key ID" turned into what it means for a ciphertext: its key is not in
/// this vault. Other errors pass unchanged.
pub(crate) fn ciphertext_key_missing(
    err: anyhow::Error,
    what: &str,
    vault_path: &Path,
) -> anyhow::Error {
    let missing = err.chain().find_map(|cause| match cause.downcast_ref() {
        Some(StoreError::KeyNotFound(id)) => Some(id.clone()),
        _ => None,
    });
    match missing {
        Some(id) => Failure::new(
            Code::NotFound,
            format!(
                "{what}: its key {id} is not in the vault at {}; it was made with another \
                 vault's key: point --vault at that vault",
                describe_path(vault_path)
            ),
        )
        .into(),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_error_appears_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let os_text = io.to_string();
        let err = anyhow::Error::new(StoreError::Io {
            path: "x.db".to_owned(),
            source: io,
        })
        .context("cannot open the vault");
        let message = sentence(&err);
        assert_eq!(message.matches(&os_text).count(), 1, "{message}");
        assert!(message.starts_with("cannot open the vault: I/O error on x.db"));
    }

    #[test]
    fn counts_take_their_plural() {
        assert_eq!(count(1u64, "key", "keys"), "1 key");
        assert_eq!(count(0u64, "key", "keys"), "0 keys");
        assert_eq!(count_of(2, "version", "versions"), "2 versions");
    }

    #[test]
    fn authentication_failures_get_their_causes_and_keep_exit_code_3() {
        let err = anyhow::Error::new(StoreError::Core(keyvault_core::Error::Authentication))
            .context("cannot decrypt");
        let explained = explain_authentication(err, DECRYPT_CAUSES);
        assert_eq!(crate::exit::classify(&explained), Code::Authentication);
        let text = sentence(&explained);
        assert!(text.starts_with("cannot decrypt: authentication failed; possible causes"));
        let other = explain_authentication(anyhow::anyhow!("other"), DECRYPT_CAUSES);
        assert_eq!(sentence(&other), "other");
    }
}
