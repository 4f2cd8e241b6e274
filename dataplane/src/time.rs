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

use crate::headroom::WIRE_OVERHEAD_BYTES;
use crate::wire::MIN_FRAME_LEN;

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

/// Time on a wire per byte at one speed: [`bits_time_ps`] of `8 × bytes`, with no division
/// per call when a byte takes a whole number of picoseconds (it does at every standard speed,
/// 1G to 800G) — a 128-bit division per frame showed in the simulator's profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteTime {
    speed_bps: u64,
    /// Picoseconds per byte, when a whole number.
    ps_per_byte: Option<u64>,
}

impl ByteTime {
    /// For a wire running at `speed_bps` (non-zero; zero is taken as 1 b/s, as in
    /// [`bits_time_ps`]).
    pub const fn new(speed_bps: u64) -> Self {
        let speed = if speed_bps == 0 { 1 } else { speed_bps };
        let bits_ps = 8 * PS_PER_SEC;
        ByteTime {
            speed_bps,
            ps_per_byte: if bits_ps.is_multiple_of(speed) {
                Some(bits_ps / speed)
            } else {
                None
            },
        }
    }

    /// Time to put `bytes` on the wire, picoseconds (rounded up, saturating): exactly
    /// `bits_time_ps(8 × bytes, speed)`.
    #[inline]
    pub const fn ps(&self, bytes: u64) -> u64 {
        match self.ps_per_byte {
            Some(p) => bytes.saturating_mul(p),
            None => bits_time_ps(bytes.saturating_mul(8), self.speed_bps),
        }
    }

    /// Time a frame of `len` bytes (without FCS) keeps the wire busy, picoseconds: padded to
    /// [`MIN_FRAME_LEN`], plus FCS, preamble and inter-packet gap ([`WIRE_OVERHEAD_BYTES`]).
    #[inline]
    pub const fn frame_ps(&self, len: usize) -> u64 {
        let len = if len < MIN_FRAME_LEN {
            MIN_FRAME_LEN
        } else {
            len
        };
        self.ps(len as u64 + WIRE_OVERHEAD_BYTES)
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
    fn byte_time_is_bits_time() {
        for speed in [
            1,
            3,
            7_000_000_000,
            10_000_000_000,
            25_000_000_000,
            100_000_000_000,
        ] {
            let t = ByteTime::new(speed);
            for bytes in [0, 1, 60, 84, 1524, 9240, u64::MAX / 8, u64::MAX] {
                let bits = bytes.saturating_mul(8);
                assert_eq!(
                    t.ps(bytes),
                    bits_time_ps(bits, speed),
                    "{bytes} B at {speed}"
                );
            }
        }
        assert_eq!(ByteTime::new(10_000_000_000).ps_per_byte, Some(800));
        assert_eq!(ByteTime::new(7_000_000_000).ps_per_byte, None);
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
