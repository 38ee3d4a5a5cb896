//! Damage to a byte string, as a proptest strategy: what a bad disk, a bad copy or a hostile
//! editor does to a file.

use proptest::prelude::*;

/// One change to a byte string. Positions are taken modulo the length, so any value fits any
/// string; on an empty string only [`Damage::Grow`] and [`Damage::Insert`] change anything.
#[derive(Clone, Debug)]
pub enum Damage {
    /// Flip bit `bit` (0..8) of the byte at `at`.
    Flip {
        /// Position.
        at: usize,
        /// Which bit.
        bit: u8,
    },
    /// Keep only the bytes before `at` (always shorter than the original).
    Cut {
        /// Position.
        at: usize,
    },
    /// Append `tail`.
    Grow {
        /// What is appended.
        tail: Vec<u8>,
    },
    /// Insert `bytes` before `at` (or at the end).
    Insert {
        /// Position.
        at: usize,
        /// What is inserted.
        bytes: Vec<u8>,
    },
    /// Remove up to `len` bytes from `at`.
    Remove {
        /// Position.
        at: usize,
        /// How many bytes at most.
        len: usize,
    },
    /// Copy up to `len` bytes from `from` over the bytes at `to` (the length stays).
    Splice {
        /// Where the copied run starts.
        from: usize,
        /// Where it is written.
        to: usize,
        /// How many bytes at most.
        len: usize,
    },
}

/// Any [`Damage`]: single bits and bytes as often as cuts, growth and moved runs.
pub fn any_damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        1 => any::<usize>().prop_map(|at| Damage::Cut { at }),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(|tail| Damage::Grow { tail }),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..9))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        2 => (any::<usize>(), prop_oneof![Just(1usize), 1usize..64])
            .prop_map(|(at, len)| Damage::Remove { at, len }),
        1 => (any::<usize>(), any::<usize>(), 1usize..32)
            .prop_map(|(from, to, len)| Damage::Splice { from, to, len }),
    ]
}

impl Damage {
    /// Apply the damage in place.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match self {
            Damage::Grow { tail } => bytes.extend_from_slice(tail),
            Damage::Insert {
                at,
                bytes: inserted,
            } => {
                let at = at % (len + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            // The rest needs at least one byte to act on.
            _ if len == 0 => {}
            Damage::Flip { at, bit } => bytes[at % len] ^= 1 << (bit % 8),
            Damage::Cut { at } => bytes.truncate(at % len),
            Damage::Remove { at, len: n } => {
                let at = at % len;
                bytes.drain(at..at.saturating_add(*n).min(len));
            }
            Damage::Splice { from, to, len: n } => {
                let from = from % len;
                let to = to % len;
                let n = (*n).min(len - from).min(len - to);
                bytes.copy_within(from..from + n, to);
            }
        }
    }

    /// A damaged copy of `bytes`.
    pub fn applied(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        self.apply(&mut out);
        out
    }
}
