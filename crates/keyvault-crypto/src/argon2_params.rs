//! Argon2id cost parameters and their bounds.
//!
//! Parameters come from files an attacker may control (vault headers, exports, backups), so
//! [`Argon2Params::check_bounds`] rejects anything above a ceiling *before* a byte of memory is
//! allocated: a hostile file gets a typed error in microseconds, never gigabytes of memory or
//! minutes of work. [`Argon2Params::validate`] adds a floor: parameters weaker than every
//! configuration OWASP recommends are refused when keyvault protects something with them.

use crate::error::{CryptoError, Result};

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory in KiB (`m` in RFC 9106).
    pub memory_kib: u32,
    /// Passes over memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`), computed in parallel.
    pub lanes: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Argon2Params {
    /// keyvault's default: 64 MiB, 4 passes, 4 lanes. Well above OWASP's floor; about 100 ms on
    /// one core pair (docs/PERFORMANCE.md).
    pub const DEFAULT: Self = Argon2Params {
        memory_kib: 64 * 1024,
        iterations: 4,
        lanes: 4,
    };

    /// The cheapest parameters [`validate`](Self::validate) accepts: OWASP's 19 MiB, 2 passes,
    /// 1 lane. For tests, examples and vaults that trade brute-force cost for opening speed.
    pub const MINIMUM: Self = Argon2Params {
        memory_kib: 19_456,
        iterations: 2,
        lanes: 1,
    };

    /// Ceiling on memory: 1 GiB.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// Ceiling on passes.
    pub const MAX_ITERATIONS: u32 = 16;
    /// Ceiling on lanes.
    pub const MAX_LANES: u32 = 16;

    /// OWASP Password Storage Cheat Sheet's Argon2id configurations, as (memory KiB, passes), all
    /// with one lane; each trades memory for passes at equal strength. Parameters at least as
    /// strong as one of them in both memory and passes pass the floor.
    pub const OWASP_MINIMUMS: [(u32, u32); 5] = [
        (47_104, 1),
        (19_456, 2),
        (12_288, 3),
        (9_216, 4),
        (7_168, 5),
    ];

    /// Check the ceiling and Argon2's own structural rules (at least one pass and lane, at least
    /// 8 KiB per lane). Cheap; call it on any parameters read from outside before deriving.
    ///
    /// # Errors
    /// [`CryptoError::Argon2Parameter`] naming the parameter out of range.
    pub fn check_bounds(&self) -> Result<()> {
        check_range("lanes", self.lanes, 1, Self::MAX_LANES)?;
        check_range("iterations", self.iterations, 1, Self::MAX_ITERATIONS)?;
        check_range(
            "memory_kib",
            self.memory_kib,
            self.lanes.saturating_mul(8),
            Self::MAX_MEMORY_KIB,
        )
    }

    /// [`check_bounds`](Self::check_bounds) plus the OWASP floor.
    ///
    /// # Errors
    /// [`CryptoError::Argon2Parameter`] past the ceiling, [`CryptoError::Argon2TooWeak`] below
    /// the floor.
    pub fn validate(&self) -> Result<()> {
        self.check_bounds()?;
        let strong_enough = Self::OWASP_MINIMUMS
            .iter()
            .any(|&(memory, passes)| self.memory_kib >= memory && self.iterations >= passes);
        if strong_enough {
            Ok(())
        } else {
            Err(CryptoError::Argon2TooWeak {
                memory_kib: self.memory_kib,
                iterations: self.iterations,
            })
        }
    }
}

fn check_range(parameter: &'static str, value: u32, min: u32, max: u32) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(CryptoError::Argon2Parameter {
            parameter,
            value: value.into(),
            min: min.into(),
            max: max.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_is_the_cheapest_setting_that_validates() {
        assert_eq!(Argon2Params::MINIMUM.validate(), Ok(()));
        let less_memory = Argon2Params {
            memory_kib: Argon2Params::MINIMUM.memory_kib - 1,
            ..Argon2Params::MINIMUM
        };
        let fewer_passes = Argon2Params {
            iterations: Argon2Params::MINIMUM.iterations - 1,
            ..Argon2Params::MINIMUM
        };
        for weaker in [less_memory, fewer_passes] {
            assert!(matches!(
                weaker.validate(),
                Err(CryptoError::Argon2TooWeak { .. })
            ));
        }
    }
}
