//! The `keyvault` command-line tool.
//!
//! **Not built yet.** The commands (init, key management, encrypt/decrypt, export/import,
//! backup/restore, audit) arrive with keyvault-store and keyvault-backup. Until then the binary
//! says so and exits with status 2, rather than pretending to work.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("keyvault {version}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "keyvault {version}: the command-line interface is not built yet; \
                 the cryptographic core is (see README.md)"
            );
            ExitCode::from(2)
        }
    }
}
