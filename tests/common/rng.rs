//! A small seeded generator for the mutation tests: the same seed gives
//! the same cases on every machine, so a failure can be replayed.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 scrambles small seeds into a good xorshift state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }

    /// A char boundary of `s`, at or before a random offset.
    pub fn boundary(&mut self, s: &str) -> usize {
        let mut i = self.below(s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// `MUTATION_SEED=N` replays one case; `MUTATION_CASES=N` runs N cases
/// from `default.start` instead of `default` (for a longer hunt).
pub fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let env = |k| std::env::var(k).ok().and_then(|s| s.parse::<u64>().ok());
    match (env("MUTATION_SEED"), env("MUTATION_CASES")) {
        (Some(seed), _) => seed..seed + 1,
        (None, Some(n)) => default.start..default.start + n,
        (None, None) => default,
    }
}
