//! What keyvault's integration tests share across files and crates: re-running the test binary
//! as a child process, a seeded random generator, byte-level damage for mutation tests, vault
//! fixtures and hand-written legacy stores. Test code only; never published.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Test support: a panic is a test failure, which is the point.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod child;
#[cfg(feature = "custodians")]
pub mod custodians;
pub mod damage;
#[cfg(feature = "store")]
pub mod fixtures;
#[cfg(feature = "legacy")]
pub mod legacy;
pub mod rng;

pub use damage::{Damage, any_damage};
pub use rng::{Rng, seed};
