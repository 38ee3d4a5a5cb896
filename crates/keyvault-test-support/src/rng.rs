//! A seeded generator, so a failure reproduces from the seed it prints.

/// splitmix64: tiny, seedable, good enough for offsets, delays and choices (not for keys).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator that yields the same sequence for the same seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform (up to a negligible bias) in `0..n`, in the type of `n`; `n` must be positive.
    pub fn below<N>(&mut self, n: N) -> N
    where
        N: Copy + std::fmt::Debug + TryInto<u64> + TryFrom<u64>,
    {
        let Some(bound) = n.try_into().ok().filter(|bound| *bound > 0) else {
            panic!("Rng::below needs a positive bound, not {n:?}");
        };
        let Ok(value) = N::try_from(self.next_u64() % bound) else {
            panic!("a value below {n:?} fits its type");
        };
        value
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        let index = self.below(items.len());
        items.get(index).copied().expect("index below the length")
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}

/// The seed of a randomised test: `KEYVAULT_TEST_SEED` to replay a run, else a fresh one from
/// the clock. Tests print it with their result.
pub fn seed() -> u64 {
    std::env::var("KEYVAULT_TEST_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap()
        })
}
