//! The one error type of keyvault-crypto.

/// Everything that can go wrong in keyvault-crypto.
///
/// Authentication failures are deliberately opaque: a wrong key, a wrong nonce, a flipped bit, a
/// truncated tag and wrong associated data all look the same, so an attacker learns nothing from
/// the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ciphertext, tag or MAC did not authenticate.
    #[error("authentication failed")]
    Authentication,

    /// An input had the wrong length for its role.
    #[error("invalid {what} length: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// What the input was (for example "key" or "nonce").
        what: &'static str,
        /// The length that was required.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },

    /// An input's length lies outside the range this crate accepts.
    #[error("{what} length {actual} is outside the accepted range {min}..={max}")]
    LengthOutOfRange {
        /// What the input was (for example "salt" or "HKDF output").
        what: &'static str,
        /// Smallest accepted length.
        min: usize,
        /// Largest accepted length.
        max: usize,
        /// The length that was given.
        actual: usize,
    },

    /// A nonce length that the algorithm does not support (keyvault uses one nonce size per algorithm).
    #[error("unsupported nonce length {actual} for {algorithm}: it takes {expected}-byte nonces")]
    UnsupportedNonceLength {
        /// Name of the algorithm.
        algorithm: &'static str,
        /// The nonce length the algorithm takes.
        expected: usize,
        /// The nonce length that was given.
        actual: usize,
    },

    /// A numeric algorithm id that this version does not know.
    #[error("unknown algorithm id {0}")]
    UnknownAlgorithmId(u8),

    /// An algorithm name that this version does not know.
    #[error("unknown algorithm name {0:?}")]
    UnknownAlgorithmName(String),

    /// Argon2id parameters outside the accepted floor and ceiling.
    #[error("Argon2id {parameter} = {value} is outside the accepted range {min}..={max}")]
    Argon2Parameter {
        /// Which parameter ("memory_kib", "iterations", "lanes").
        parameter: &'static str,
        /// The value that was given.
        value: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },

    /// Argon2id parameters below the OWASP floor for password hashing.
    #[error(
        "Argon2id parameters ({memory_kib} KiB, {iterations} passes) are weaker than every OWASP-recommended configuration"
    )]
    Argon2TooWeak {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes over memory.
        iterations: u32,
    },

    /// The Argon2 implementation refused its inputs or could not get its memory.
    #[error("Argon2id derivation failed: {0}")]
    Argon2(&'static str),

    /// The message (or associated data) is longer than the algorithm can safely process.
    #[error("message too long for {0}")]
    MessageTooLong(&'static str),

    /// The operating system's random number generator failed.
    #[error("operating-system randomness is unavailable")]
    Randomness,
}

/// Result alias for this crate.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
