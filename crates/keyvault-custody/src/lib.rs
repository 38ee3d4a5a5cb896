#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "aws-kms")]
mod aws_kms;
mod error;
#[cfg(feature = "pkcs11")]
mod pkcs11;

#[cfg(feature = "aws-kms")]
pub use aws_kms::{AwsCredentials, AwsKmsWrapper};
pub use error::{CustodyError, Result};
#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11Key, Pkcs11Wrapper};
