//! Time as the sans-IO cores see it: an [`Instant`] handed in by whoever drives them.
//!
//! The engine never reads a clock. Drivers pass `now`; the deterministic simulator passes
//! virtual time. Instants count **picoseconds** from an arbitrary epoch so that serialization
//! and pause-quantum arithmetic is exact at every Ethernet speed (one bit at 100G is 10 ps, one
//! pause quantum at 10G is 51.2 ns). A `u64` of picoseconds lasts 213 days from the epoch, which
//! a driver picks at process start.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// Picoseconds per second.
pub const PS_PER_SEC: u64 = 1_000_000_000_000;

/// A point in (real or virtual) time, in picoseconds since the driver's epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The driver's epoch.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ps` picoseconds after the epoch.
    pub const fn from_ps(ps: u64) -> Self {
        Instant(ps)
    }

    /// An instant `ns` nanoseconds after the epoch.
    pub const fn from_nanos(ns: u64) -> Self {
        Instant(ns.saturating_mul(1000))
    }

    /// An instant `d` after the epoch (saturating).
    pub fn from_duration(d: Duration) -> Self {
        Instant(duration_to_ps(d))
    }

    /// Picoseconds since the epoch.
    pub const fn as_ps(self) -> u64 {
        self.0
    }

    /// Nanoseconds since the epoch (rounded down).
    pub const fn as_nanos(self) -> u64 {
        self.0 / 1000
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        ps_to_duration(self.0.saturating_sub(earlier.0))
    }

    /// `self + ps` picoseconds, saturating.
    pub const fn plus_ps(self, ps: u64) -> Instant {
        Instant(self.0.saturating_add(ps))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_to_ps(d)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0 / 1000;
        write!(f, "{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000)
    }
}

/// A duration in picoseconds, saturating at `u64::MAX`.
pub fn duration_to_ps(d: Duration) -> u64 {
    let ps = d.as_nanos().saturating_mul(1000);
    u64::try_from(ps).unwrap_or(u64::MAX)
}

/// Picoseconds as a [`Duration`] (rounded down to whole nanoseconds).
pub const fn ps_to_duration(ps: u64) -> Duration {
    Duration::from_nanos(ps / 1000)
}

/// Time to put `bits` on a wire running at `speed_bps`, in picoseconds (rounded up).
///
/// `speed_bps` must be non-zero; configuration validation guarantees that for every port.
pub const fn bits_time_ps(bits: u64, speed_bps: u64) -> u64 {
    let num = bits as u128 * PS_PER_SEC as u128;
    let speed = if speed_bps == 0 { 1 } else { speed_bps as u128 };
    let t = num.div_ceil(speed);
    if t > u64::MAX as u128 {
        u64::MAX
    } else {
        t as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_times_are_exact_at_common_speeds() {
        // One pause quantum (512 bit times) at 10G is 51.2 ns.
        assert_eq!(bits_time_ps(512, 10_000_000_000), 51_200);
        // 65535 quanta at 10G ≈ 3.355 ms.
        assert_eq!(bits_time_ps(512 * 65535, 10_000_000_000), 3_355_392_000);
        // A 64-byte frame plus 20 bytes preamble/IPG at 10G: 67.2 ns.
        assert_eq!(bits_time_ps(84 * 8, 10_000_000_000), 67_200);
        // One bit at 100G.
        assert_eq!(bits_time_ps(1, 100_000_000_000), 10);
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_nanos(5);
        assert_eq!((t + Duration::from_nanos(3)).as_nanos(), 8);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(
            Instant::from_ps(u64::MAX) + Duration::from_secs(1),
            Instant::from_ps(u64::MAX)
        );
        assert_eq!(t.to_string(), "0.000000005s");
    }
}
