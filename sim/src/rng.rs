//! A tiny seeded pseudo-random generator for the simulator: SplitMix64.
//!
//! Why hand-written rather than `rand`/`rand_chacha`: the simulator promises *same seed → same
//! trace*, across machines and across dependency upgrades. SplitMix64 is ten lines of integer
//! arithmetic whose output sequence is fixed by its definition (Steele, Lea and Flood, 2014);
//! `rand`'s distribution helpers (`gen_range` and friends) have changed their output between
//! releases, which would silently change every recorded trace. The simulator needs jitter and
//! choices, not cryptographic strength, and SplitMix64 passes BigCrush for that use.

/// SplitMix64: a 64-bit state, one addition and a mixing function per output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`0` when `bound` is 0), by Lemire's multiply-shift; the tiny
    /// bias for bounds that do not divide 2^64 does not matter for jitter.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_sequence_is_fixed() {
        // First outputs of SplitMix64 for seed 0 (the published reference values).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = SplitMix64::new(7);
        assert!((0..1000).all(|_| r.below(10) < 10));
        assert_eq!(SplitMix64::new(1).below(0), 0);
    }
}
