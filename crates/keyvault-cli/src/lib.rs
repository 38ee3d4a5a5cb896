//! The library half of the `keyvault` command-line tool: the parts its tests, benchmarks and
//! fuzz targets need without running the binary.
//!
//! - [`exit`]: the documented exit codes and the errors that carry them.
//!
//! The encrypted file stream format the CLI reads and writes is keyvault-store's
//! (`keyvault_store::stream`).
//!
//! Everything else (argument parsing, commands, output) lives in the binary. The API here
//! serves the binary and its tests; it promises no stability of its own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod exit;
