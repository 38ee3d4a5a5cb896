#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
#[cfg(feature = "pkcs11")]
mod pkcs11;

pub use error::{CustodyError, Result};
#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11Key, Pkcs11Wrapper};
