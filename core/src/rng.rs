//! SplitMix64: the one random generator of the core, so a seed gives the same jitter in every
//! language.
//!
//! Source: Steele, Lea and Flood, "Fast splittable pseudorandom number generators" (OOPSLA
//! 2014), the constants of `java.util.SplittableRandom`. It is stateless per draw: `mix(seed)`
//! is a pure function, so a draw needs no shared mutable generator.

/// The SplitMix64 increment (the golden-ratio constant).
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a bijective mix of 64 bits.
///
/// ```
/// assert_ne!(stanchion::rng::mix(1), stanchion::rng::mix(2));
/// assert_eq!(stanchion::rng::mix(0), 0);
/// ```
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `index`-th output of the SplitMix64 stream started at `seed`.
///
/// ```
/// use stanchion::rng::draw;
/// assert_eq!(draw(42, 0), draw(42, 0)); // deterministic
/// assert_ne!(draw(42, 0), draw(42, 1));
/// ```
pub const fn draw(seed: u64, index: u64) -> u64 {
    mix(seed.wrapping_add(GOLDEN_GAMMA.wrapping_mul(index.wrapping_add(1))))
}

/// A uniform draw in `[lo, hi]` (inclusive) from 64 random bits, without bias worth measuring
/// (multiply-shift: the error is below 2^-64 per value).
///
/// ```
/// use stanchion::rng::{draw, uniform};
/// let x = uniform(draw(7, 0), 10, 20);
/// assert!((10..=20).contains(&x));
/// assert_eq!(uniform(123, 5, 5), 5);
/// assert_eq!(uniform(123, 9, 5), 9); // an empty range gives `lo`
/// ```
pub const fn uniform(bits: u64, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    // hi > lo, so the span is at most 2^64 and the product below fits in u128; the offset is
    // at most `hi - lo`, so the sum stays within `hi`.
    let span = (hi.wrapping_sub(lo) as u128).wrapping_add(1);
    lo.wrapping_add((bits as u128).wrapping_mul(span).wrapping_shr(64) as u64)
}

/// A small SplitMix64 generator for callers that want a stream.
///
/// ```
/// use stanchion::rng::SplitMix64;
/// let mut a = SplitMix64::new(9);
/// let mut b = SplitMix64::new(9);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    ///
    /// ```
    /// let _ = stanchion::rng::SplitMix64::new(0);
    /// ```
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits; the `i`-th call returns `draw(seed, i)`.
    ///
    /// ```
    /// use stanchion::rng::{draw, SplitMix64};
    /// let mut g = SplitMix64::new(5);
    /// assert_eq!(g.next_u64(), draw(5, 0));
    /// assert_eq!(g.next_u64(), draw(5, 1));
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }
}
