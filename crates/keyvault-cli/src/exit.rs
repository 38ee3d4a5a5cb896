//! Exit codes, and the error sentence that goes with them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other error (I/O, a busy or damaged file, an internal failure) |
//! | 2 | usage: bad arguments, options or environment settings |
//! | 3 | authentication failed: wrong password, tampered, truncated or foreign data |
//! | 4 | refused by the key's lifecycle or policy (or by the vault's current state) |
//! | 5 | not found: no such vault, key, version or input file |
//! | 141 | standard output was closed before everything was written (as after SIGPIPE) |

use std::fmt;
use std::process::ExitCode;

use keyvault_backup::BackupError;
use keyvault_core::ErrorKind;
use keyvault_store::StoreError;

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 1: any other error.
    Failure,
    /// 2: bad arguments or settings.
    Usage,
    /// 3: authentication failed.
    Authentication,
    /// 4: refused by lifecycle or policy.
    Refused,
    /// 5: not found.
    NotFound,
}

impl Code {
    /// The process exit status.
    pub const fn status(self) -> u8 {
        match self {
            Code::Failure => 1,
            Code::Usage => 2,
            Code::Authentication => 3,
            Code::Refused => 4,
            Code::NotFound => 5,
        }
    }

    /// A stable name for JSON error documents.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Failure => "error",
            Code::Usage => "usage",
            Code::Authentication => "authentication_failed",
            Code::Refused => "refused",
            Code::NotFound => "not_found",
        }
    }
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> Self {
        ExitCode::from(code.status())
    }
}

/// The exit-code table as it appears at the end of `--help` (a test holds the help text to it).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  any other error
  2  usage: bad arguments, options or environment settings
  3  authentication failed: wrong password, tampered, truncated or foreign data
  4  refused by the key's lifecycle or policy
  5  not found: no such vault, key, version or input file
  141 standard output was closed before everything was written (as after SIGPIPE)";

/// The status when the reader of standard output went away (`keyvault audit export | head -1`):
/// 141, what a shell reports for a process stopped by SIGPIPE (128 + 13), so a pipeline under
/// `set -o pipefail` sees that output was lost, as with other Unix tools.
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// An error the CLI itself detects, with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    code: Code,
    message: String,
}

impl Failure {
    /// An error with exit code `code`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Code::Usage, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for `err`: the first error in its chain that says what it is decides.
pub fn classify(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.code;
        }
        if let Some(backup) = cause.downcast_ref::<BackupError>() {
            return classify_backup(backup);
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return classify_store(store);
        }
        if let Some(core) = cause.downcast_ref::<keyvault_core::Error>() {
            return classify_core(core);
        }
        if let Some(crypto) = cause.downcast_ref::<keyvault_crypto::CryptoError>() {
            // On its own, a crypto error is about what the caller passed in.
            return classify_crypto(crypto, Origin::Caller);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => Code::NotFound,
                _ => Code::Failure,
            };
        }
    }
    Code::Failure
}

fn classify_store(err: &StoreError) -> Code {
    match err {
        StoreError::Core(core) => classify_core(core),
        // The store's own crypto errors are about what it read from the vault file (new
        // Argon2 costs from KEYVAULT_ARGON2 are checked by the CLI before the store sees them).
        StoreError::Crypto(crypto) => classify_crypto(crypto, Origin::File),
        // A file already where a vault should be created is not a policy decision.
        StoreError::AlreadyExists(_) => Code::Failure,
        StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Code::NotFound
        }
        other => classify_kind(other.kind()),
    }
}

fn classify_backup(err: &BackupError) -> Code {
    match err {
        BackupError::Store(store) => classify_store(store),
        BackupError::Core(core) => classify_core(core),
        // Parameters keyvault-backup refuses were read from an export, backup or rust-keyvault
        // file (what the user types is checked before: KEYVAULT_ARGON2, --legacy-argon2).
        BackupError::Crypto(crypto) => classify_crypto(crypto, Origin::File),
        // Files that do not decode, were re-encoded, or carry impossible fields are damaged or
        // foreign: authentication fails.
        BackupError::Malformed { .. }
        | BackupError::NonCanonical { .. }
        | BackupError::InvalidField { .. }
        | BackupError::Decompression { .. }
        | BackupError::DecompressionLimit { .. } => Code::Authentication,
        BackupError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Code::NotFound
        }
        BackupError::TooLarge { .. }
        | BackupError::UnsupportedVersion { .. }
        | BackupError::UnsupportedAlgorithm { .. }
        | BackupError::Legacy { .. } => Code::Failure,
        other => classify_kind(other.kind()),
    }
}

fn classify_core(err: &keyvault_core::Error) -> Code {
    use keyvault_core::Error as E;
    match err {
        // Bytes that are not an envelope are foreign data.
        E::MalformedEnvelope { .. } => Code::Authentication,
        // A ciphertext of another purpose is refused, as a policy refusal would be.
        E::WrongPurpose { .. } => Code::Refused,
        // Bad names, labels and versions come from the command line.
        E::InvalidName { .. }
        | E::InvalidLabel { .. }
        | E::InvalidDescription { .. }
        | E::InvalidVersion { .. }
        | E::UnknownAlgorithm { .. }
        | E::InvalidKeyId { .. } => Code::Usage,
        E::TooLarge { .. } => Code::Failure,
        other => classify_kind(other.kind()),
    }
}

/// Where a value that broke a bound came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The command line or the environment: a usage error (2).
    Caller,
    /// A file's contents: foreign or tampered data (3).
    File,
}

fn classify_crypto(err: &keyvault_crypto::CryptoError, origin: Origin) -> Code {
    use keyvault_crypto::CryptoError as C;
    match err {
        C::Authentication => Code::Authentication,
        C::Argon2TooWeak { .. } | C::Argon2Parameter { .. } => match origin {
            Origin::Caller => Code::Usage,
            Origin::File => Code::Authentication,
        },
        _ => Code::Failure,
    }
}

/// The exit code of a library error category.
fn classify_kind(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Authentication | ErrorKind::Integrity => Code::Authentication,
        ErrorKind::Denied
        | ErrorKind::Destroyed
        | ErrorKind::Conflict
        | ErrorKind::LimitExceeded => Code::Refused,
        _ => Code::Failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_documented_codes() {
        let code = |err: StoreError| classify(&anyhow::Error::new(err));
        assert_eq!(code(StoreError::WrongPassword), Code::Authentication);
        assert_eq!(code(StoreError::KeyNotFound("x".into())), Code::NotFound);
        assert_eq!(code(StoreError::NoVault("x".into())), Code::NotFound);
        assert_eq!(code(StoreError::NameTaken("x".into())), Code::Refused);
        assert_eq!(code(StoreError::AlreadyExists("x".into())), Code::Failure);
        assert_eq!(
            code(StoreError::Tampered { what: "x".into() }),
            Code::Authentication
        );
        assert_eq!(code(StoreError::Busy), Code::Failure);
    }

    #[test]
    fn argon2_bounds_are_usage_when_typed_and_tampering_when_read_from_a_file() {
        let out_of_range = || keyvault_crypto::CryptoError::Argon2Parameter {
            parameter: "memory_kib",
            value: 4 << 20,
            min: 8,
            max: 1 << 20,
        };
        assert_eq!(classify(&anyhow::Error::new(out_of_range())), Code::Usage);
        assert_eq!(
            classify(&anyhow::Error::new(BackupError::Crypto(out_of_range()))),
            Code::Authentication
        );
        assert_eq!(
            classify(&anyhow::Error::new(StoreError::Crypto(out_of_range()))),
            Code::Authentication
        );
    }

    #[test]
    fn context_does_not_hide_the_cause() {
        let err = anyhow::Error::new(StoreError::WrongPassword).context("cannot open the vault");
        assert_eq!(classify(&err), Code::Authentication);
        let err = anyhow::Error::new(Failure::usage("bad")).context("while parsing");
        assert_eq!(classify(&err), Code::Usage);
        assert_eq!(classify(&anyhow::anyhow!("something")), Code::Failure);
    }
}
