//! The one error type of keyvault-custody.

use keyvault_core::ErrorKind;
use keyvault_store::StoreError;

/// Everything that can go wrong reaching a key custodian. Messages name the module, token or
/// key, never a PIN or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// The provider's library (a PKCS#11 module) cannot be loaded.
    #[error("cannot load the PKCS#11 module {module}: {reason}")]
    Module {
        /// The module's path.
        module: String,
        /// Why.
        reason: String,
    },

    /// No token with this label is present.
    #[error("no token labelled {0:?} is present")]
    TokenMissing(String),

    /// The token refused the PIN.
    #[error("the token {0:?} refused the PIN")]
    WrongPin(String),

    /// No wrapping key with this label is on the token.
    #[error("the token {token:?} holds no AES key labelled {key:?}")]
    KeyMissing {
        /// The token.
        token: String,
        /// The key label.
        key: String,
    },

    /// The key would not unwrap the slot: another key, another vault's slot, or altered bytes.
    #[error("{provider}: the key does not unwrap this keyslot ({reason})")]
    Refused {
        /// The provider.
        provider: &'static str,
        /// What the device or service said.
        reason: String,
    },

    /// AWS KMS answered with an error (the key disabled, scheduled for deletion or missing, the
    /// encryption context wrong, access denied).
    #[error("AWS KMS refused: {code}: {message}")]
    Kms {
        /// KMS's error type, e.g. `DisabledException`.
        code: String,
        /// Its message.
        message: String,
    },

    /// The device or service failed or refused an operation.
    #[error("{provider}: {reason}")]
    Device {
        /// The provider (`pkcs11`).
        provider: &'static str,
        /// What failed.
        reason: String,
    },
}

impl CustodyError {
    /// The error's stable category.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            CustodyError::WrongPin(_) | CustodyError::Refused { .. } => ErrorKind::Authentication,
            CustodyError::Kms { code, .. } => match code.as_str() {
                "NotFoundException" => ErrorKind::NotFound,
                "InvalidCiphertextException" | "IncorrectKeyException" => ErrorKind::Authentication,
                "DisabledException" | "KMSInvalidStateException" | "AccessDeniedException" => {
                    ErrorKind::Denied
                }
                _ => ErrorKind::Unavailable,
            },
            CustodyError::TokenMissing(_) | CustodyError::KeyMissing { .. } => ErrorKind::NotFound,
            CustodyError::Module { .. } | CustodyError::Device { .. } => ErrorKind::Unavailable,
        }
    }
}

impl From<CustodyError> for StoreError {
    /// What a vault reports when a provider fails while opening or adding a slot.
    fn from(err: CustodyError) -> Self {
        let provider = match &err {
            CustodyError::Device { provider, .. } | CustodyError::Refused { provider, .. } => {
                provider
            }
            CustodyError::Kms { .. } => "aws-kms",
            _ => "pkcs11",
        };
        StoreError::Provider {
            provider: (*provider).to_owned(),
            kind: err.kind(),
            reason: err.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = CustodyError> = std::result::Result<T, E>;
