//! Damage to a byte string, as a proptest strategy: what a bad disk, a bad copy or a hostile
//! editor does to a file.

use proptest::prelude::*;

/// One change to a byte string. Positions are taken modulo the length, so any value fits any
/// string; on an empty string only [`Damage::Grow`] and [`Damage::Insert`] change anything. An
/// overwrite with the same byte or a splice onto an equal run changes nothing: tests that expect
/// a refusal compare with the original first.
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
    /// Set the byte at `at` to `byte` (unchanged if it already was).
    Overwrite {
        /// Position.
        at: usize,
        /// The new value.
        byte: u8,
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
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Overwrite { at, byte }),
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
            Damage::Overwrite { at, byte } => bytes[at % len] = *byte,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_damage_does_what_it_says() {
        let original = b"0123456789".to_vec();
        let cases = [
            (Damage::Flip { at: 11, bit: 0 }, b"0023456789".to_vec()),
            (Damage::Cut { at: 13 }, b"012".to_vec()),
            (
                Damage::Grow {
                    tail: b"ab".to_vec(),
                },
                b"0123456789ab".to_vec(),
            ),
            (
                Damage::Insert {
                    at: 2,
                    bytes: b"x".to_vec(),
                },
                b"01x23456789".to_vec(),
            ),
            (Damage::Remove { at: 8, len: 5 }, b"01234567".to_vec()),
            (
                Damage::Overwrite { at: 0, byte: b'z' },
                b"z123456789".to_vec(),
            ),
            (
                Damage::Splice {
                    from: 0,
                    to: 7,
                    len: 5,
                },
                b"0123456012".to_vec(),
            ),
        ];
        for (damage, expected) in cases {
            assert_eq!(damage.applied(&original), expected, "{damage:?}");
        }
        // Nothing to act on: only growth and insertion change an empty string.
        assert!(Damage::Cut { at: 3 }.applied(b"").is_empty());
        assert_eq!(
            Damage::Insert {
                at: 9,
                bytes: b"y".to_vec()
            }
            .applied(b""),
            b"y"
        );
    }
}
