//! keyvault-custody's integration tests against real custodians, in one test binary: a SoftHSM2
//! token for PKCS#11, moto's local KMS for AWS KMS (docs/TESTING.md). Run them with
//! `cargo test -p keyvault-custody --features pkcs11,aws-kms --test it`.

// Test code: a panic is a test failure, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "aws-kms")]
mod aws_kms;
#[cfg(feature = "pkcs11")]
mod pkcs11;
