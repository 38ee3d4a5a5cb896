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

/// The exit code for `err`: the first error in its chain that the CLI or a keyvault library
/// raised decides, by its [`ErrorKind`].
pub fn classify(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.code;
        }
        if let Some(kind) = kind_of(cause) {
            return code_of(kind);
        }
    }
    Code::Failure
}

/// The kind of an error a keyvault library (or the operating system) raised.
fn kind_of(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if let Some(err) = cause.downcast_ref::<BackupError>() {
        Some(err.kind())
    } else if let Some(err) = cause.downcast_ref::<StoreError>() {
        Some(err.kind())
    } else if let Some(err) = cause.downcast_ref::<keyvault_core::Error>() {
        Some(err.kind())
    } else if let Some(err) = cause.downcast_ref::<keyvault_custody::CustodyError>() {
        Some(err.kind())
    } else if let Some(err) = cause.downcast_ref::<keyvault_crypto::CryptoError>() {
        Some(ErrorKind::of_crypto(err))
    } else {
        let io = cause.downcast_ref::<std::io::Error>()?;
        Some(match io.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        })
    }
}

/// The exit code of each error kind: the one place the CLI decides it.
fn code_of(kind: ErrorKind) -> Code {
    match kind {
        // What the user typed: a name, a label, a version, Argon2 costs, an option value.
        ErrorKind::InvalidInput => Code::Usage,
        ErrorKind::NotFound => Code::NotFound,
        // A wrong password, or data that is tampered with, truncated, damaged or foreign.
        ErrorKind::Authentication | ErrorKind::Integrity => Code::Authentication,
        ErrorKind::Denied | ErrorKind::Destroyed | ErrorKind::Conflict => Code::Refused,
        // Limits of size, formats this build does not read, a busy vault, internal failures.
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
        assert_eq!(code(StoreError::AlreadyExists("x".into())), Code::Refused);
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
            Code::Usage
        );
        assert_eq!(
            classify(&anyhow::Error::new(BackupError::KdfParameters {
                what: "backup",
                source: out_of_range()
            })),
            Code::Authentication
        );
        // Parameters the store reads from a vault header are refused as tampering.
        assert_eq!(
            classify(&anyhow::Error::new(StoreError::Tampered {
                what: "keyslot parameters".into()
            })),
            Code::Authentication
        );
    }

    #[test]
    fn every_error_kind_has_its_documented_code() {
        let expected = |kind| match kind {
            ErrorKind::InvalidInput => 2,
            ErrorKind::Authentication | ErrorKind::Integrity => 3,
            ErrorKind::Denied | ErrorKind::Destroyed | ErrorKind::Conflict => 4,
            ErrorKind::NotFound => 5,
            _ => 1,
        };
        for kind in ErrorKind::ALL {
            assert_eq!(code_of(kind).status(), expected(kind), "{kind}");
        }
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
