//! PFC headroom calculator: the minimum buffer a lossless priority group needs.
//!
//! When the ingress buffer of a lossless priority group (PG) crosses its XOFF
//! threshold, the switch decides to send an IEEE 802.1Qbb PFC XOFF frame to
//! the peer. Traffic keeps arriving until the peer has received that frame,
//! reacted to it and finished the frame it was sending. The *headroom* is the
//! buffer reserved above the XOFF point for everything that arrives in that
//! window; if it is too small, a "lossless" class drops frames.
//!
//! # Model
//!
//! The model follows SONiC's buffer headroom calculation (sonic-swss
//! `cfgmgr/buffer_headroom_mellanox.lua`, and the SONiC "dynamic buffer
//! calculation" HLD), which sums the bytes that arrive at line rate during
//! each delay between the XOFF decision and the peer falling silent. Every
//! term is a time converted to *bytes arriving at the port speed* and rounded
//! up; the terms are then summed:
//!
//! 1. [`in_flight_egress_frame`](HeadroomBreakdown::in_flight_egress_frame):
//!    our XOFF decision has to reach the wire. PFC frames are not allowed to
//!    pre-empt a frame already being transmitted, so in the worst case one
//!    maximum-size frame (`mtu +` [`WIRE_OVERHEAD_BYTES`]) is just starting on
//!    our egress. Optionally an extra local processing delay is added here
//!    (see [`minimum_headroom_with_local_delay`]).
//! 2. [`pfc_frame`](HeadroomBreakdown::pfc_frame): the PFC frame's own
//!    serialization, a minimum-size 64-byte MAC Control frame plus preamble
//!    and inter-packet gap ([`PFC_FRAME_WIRE_BYTES`] = 84).
//! 3. [`propagation`](HeadroomBreakdown::propagation): the cable, twice: the
//!    XOFF travels to the peer, and the bytes the peer sent until it stopped
//!    are still on the cable coming back. Signal speed is taken as
//!    [`SIGNAL_SPEED_M_PER_S`] = 198 000 000 m/s (≈ 0.66 c, ≈ 5.05 ns/m), the
//!    figure SONiC's `buffer_headroom_mellanox.lua` uses (`speed_of_light`);
//!    it is slightly slower, hence more conservative, than the textbook 2/3 c
//!    (5 ns/m) and matches typical copper/fibre velocity factors.
//! 4. [`peer_response`](HeadroomBreakdown::peer_response): the peer's
//!    maximum response delay, in pause quanta of 512 bit times each. Bytes
//!    arriving during `q` quanta at line rate are exactly `q × 512 / 8 =
//!    q × 64` bytes, independent of the speed. Default quanta per speed come
//!    from [`ieee_response_quanta`] (IEEE 802.3 Annex 31B, 31B.3.7, and
//!    IEEE 802.1Qbb Annex N; values as tabulated by SONiC); the caller may
//!    override them.
//! 5. [`peer_last_frame`](HeadroomBreakdown::peer_last_frame): when the peer
//!    stops it may have just started a maximum-size frame, which it finishes
//!    and which arrives in full (`mtu +` [`WIRE_OVERHEAD_BYTES`]).
//!
//! plus [`cell_overhead`](HeadroomBreakdown::cell_overhead) when the buffer is
//! allocated in cells (see below).
//!
//! ## Wire overhead
//!
//! `mtu` is the largest frame the peer may send *without* FCS. Because every
//! term counts bytes arriving *on the wire* (time × line rate), the frame
//! terms add [`WIRE_OVERHEAD_BYTES`] (FCS 4 + preamble/SFD 8 + IPG 12). The
//! preamble and IPG are never stored, so this slightly over-estimates the
//! buffer, on the safe side.
//!
//! ## Cell rounding
//!
//! Many ASICs store frames in fixed-size cells; a frame wastes the unused
//! tail of its last cell. SONiC models this with a configured
//! `small_packet_percentage` and a worst-case factor. This calculator takes
//! the worst case instead, without a tunable: every frame that can arrive in
//! the window wastes up to `cell_size − 1` bytes. At most
//! `ceil(raw / 84) + 1` frames can touch the window (84 = minimum frame on
//! the wire, 64 + preamble + IPG; +1 for a frame straddling the start), where
//! `raw` is the sum of terms 1–5. The total is then rounded up to a whole
//! number of cells, and the padding is also counted in `cell_overhead`. This
//! is an upper bound, noticeably larger than SONiC's typical figure for big
//! cells; use a realistic `cell_size` or none (the default: plain bytes, no
//! cell rounding).
//!
//! ## Integer arithmetic
//!
//! All conversions are integer (u128 where products can be large) with
//! explicit ceiling division, so the result is the same to the byte on every
//! platform.
//!
//! ## Relation to XOFF/XON
//!
//! The headroom sits above the XOFF threshold: the XOFF threshold is the
//! fill level at which XOFF is decided, and the headroom absorbs what still
//! arrives afterwards. XON (resume) is sent when the PG drains below the XON
//! threshold; it does not change the headroom size. See `docs/headroom.md`.

use std::fmt;

/// Wire overhead per frame beyond its bytes: FCS 4 + preamble/SFD 8 + inter-packet gap 12.
///
/// Added to `mtu` (which excludes the FCS) because the headroom counts bytes
/// arriving on the wire at line rate.
pub const WIRE_OVERHEAD_BYTES: u64 = 24;

/// Wire time of a PFC frame, in bytes: a minimum-size 64-byte MAC Control
/// frame (FCS included) plus preamble/SFD 8 and inter-packet gap 12.
pub const PFC_FRAME_WIRE_BYTES: u64 = 64 + 8 + 12;

/// Minimum frame on the wire, in bytes (64 with FCS + preamble/SFD 8 + IPG 12);
/// bounds how many frames can arrive in a given number of wire bytes.
pub const MIN_FRAME_WIRE_BYTES: u64 = 84;

/// Bits in one pause quantum (IEEE 802.3 31B.2: 512 bit times).
pub const QUANTUM_BITS: u64 = 512;

/// Signal propagation speed in the cable, metres per second.
///
/// 198 000 000 m/s ≈ 0.66 c ≈ 5.05 ns/m, the `speed_of_light` constant of
/// SONiC's `buffer_headroom_mellanox.lua`; a little slower (more conservative)
/// than the 2/3 c ≈ 5 ns/m rule of thumb for copper and fibre.
pub const SIGNAL_SPEED_M_PER_S: u64 = 198_000_000;

/// Smallest accepted MTU in bytes (without FCS).
pub const MIN_MTU: u32 = 64;

/// Largest accepted MTU in bytes (without FCS); above any jumbo frame size
/// in use (9216 is common) with margin.
pub const MAX_MTU: u32 = 16_384;

/// Longest accepted cable, in metres: 100 km.
///
/// Covers the longest standard Ethernet optics (ER/ZR classes, 40–80 km) with
/// margin; beyond this a lossless PFC domain is not meaningful and the input
/// is most likely a unit mistake (e.g. millimetres).
pub const MAX_CABLE_LENGTH_M: u32 = 100_000;

/// Fastest accepted port speed, in bits/s: 10 Tb/s.
///
/// Above every Ethernet rate defined today (1.6 Tb/s); bounds the arithmetic
/// so every term fits comfortably in `u64`.
pub const MAX_SPEED_BPS: u64 = 10_000_000_000_000;

/// Longest accepted local processing delay, in nanoseconds: 1 ms.
///
/// Real XOFF generation takes well under a microsecond; anything near this
/// limit is a unit mistake.
pub const MAX_LOCAL_DELAY_NS: u32 = 1_000_000;

/// IEEE maximum PFC response delay per speed class: (class speed in bits/s,
/// pause quanta). IEEE 802.3 31B.3.7 / 802.1Qbb Annex N, as tabulated by
/// SONiC's `buffer_headroom_mellanox.lua`. Must stay sorted by speed with
/// non-decreasing quanta (monotonicity of the headroom relies on it).
const RESPONSE_QUANTA: [(u64, u16); 11] = [
    (100_000_000, 1),
    (1_000_000_000, 2),
    (10_000_000_000, 67),
    (25_000_000_000, 80),
    (40_000_000_000, 118),
    (50_000_000_000, 147),
    (100_000_000_000, 394),
    (200_000_000_000, 453),
    (400_000_000_000, 905),
    (800_000_000_000, 905),
    (1_600_000_000_000, 905),
];

/// IEEE maximum PFC response delay of a peer at `speed_bps`, in pause quanta.
///
/// Values of IEEE 802.3 Annex 31B (31B.3.7) / 802.1Qbb Annex N as used by
/// SONiC: 100M 1, 1G 2, 10G 67, 25G 80, 40G 118, 50G 147, 100G 394,
/// 200G 453, 400G and 800G 905.
///
/// A speed between two classes takes the **next-higher** class's value, not
/// an interpolation: the table is non-decreasing, so this never
/// under-estimates the delay of a real PHY of that speed, and it keeps the
/// headroom monotone in speed. Speeds above 800G (including 1.6T) saturate
/// at 905, the highest tabulated value; callers with better data should set
/// [`HeadroomInput::peer_response_quanta`]. Speed 0 maps to the lowest class.
pub fn ieee_response_quanta(speed_bps: u64) -> u16 {
    RESPONSE_QUANTA
        .iter()
        .find(|&&(class, _)| speed_bps <= class)
        .map_or(RESPONSE_QUANTA[RESPONSE_QUANTA.len() - 1].1, |&(_, q)| q)
}

/// Time of one pause quantum (512 bit times) at `speed_bps`, in picoseconds.
///
/// Rounded up to a whole picosecond (exact for all standard speeds, e.g.
/// 10G → 51 200 ps, 100G → 5 120 ps). Used for display and for callers that
/// reason in time; the headroom itself uses the exact `quanta × 64` bytes.
/// A speed of 0 has no finite quantum and returns `u64::MAX`.
pub fn quantum_ps(speed_bps: u64) -> u64 {
    if speed_bps == 0 {
        return u64::MAX;
    }
    let ps = div_ceil_u128(
        u128::from(QUANTUM_BITS) * 1_000_000_000_000,
        u128::from(speed_bps),
    );
    u64::try_from(ps).unwrap_or(u64::MAX)
}

/// What the headroom calculation needs to know about a lossless PG's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadroomInput {
    /// Port speed in bits per second (e.g. `10_000_000_000` for 10G).
    pub speed_bps: u64,
    /// Cable length to the peer in metres.
    pub cable_length_m: u32,
    /// Largest frame the peer may send, in bytes, without FCS;
    /// [`WIRE_OVERHEAD_BYTES`] is added by the calculation.
    pub mtu: u32,
    /// Peer response time in pause quanta; `None` uses
    /// [`ieee_response_quanta`] for `speed_bps`.
    pub peer_response_quanta: Option<u16>,
    /// Buffer cell size in bytes; `None` counts plain bytes (no cell rounding).
    pub cell_size: Option<u32>,
}

impl HeadroomInput {
    /// An input with the IEEE default peer response and no cell rounding.
    pub fn new(speed_bps: u64, cable_length_m: u32, mtu: u32) -> Self {
        Self {
            speed_bps,
            cable_length_m,
            mtu,
            peer_response_quanta: None,
            cell_size: None,
        }
    }
}

/// The headroom, term by term, in bytes.
///
/// Each term is the number of bytes arriving at line rate during one delay,
/// rounded up; `total` is their sum (see the module docs for the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadroomBreakdown {
    /// A maximum frame in transmission on our egress that the PFC frame must
    /// wait for (`mtu + 24`), plus any local processing delay.
    pub in_flight_egress_frame: u64,
    /// Serialization of the PFC frame itself (64 + preamble/IPG = 84).
    pub pfc_frame: u64,
    /// Cable propagation, both directions, at the port speed.
    pub propagation: u64,
    /// Peer response time (quanta × 512 bit times = quanta × 64 bytes).
    pub peer_response: u64,
    /// A maximum frame the peer had just started when it stopped (`mtu + 24`).
    pub peer_last_frame: u64,
    /// Worst-case cell waste plus rounding to whole cells; 0 without cells.
    pub cell_overhead: u64,
    /// The minimum headroom: the sum of all terms above.
    pub total: u64,
}

impl fmt::Display for HeadroomBreakdown {
    /// A small aligned table, one term per line, then the total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = [
            ("in-flight egress frame", self.in_flight_egress_frame),
            ("PFC frame", self.pfc_frame),
            ("propagation (2x cable)", self.propagation),
            ("peer response", self.peer_response),
            ("peer last frame", self.peer_last_frame),
            ("cell overhead", self.cell_overhead),
        ];
        let width = rows
            .iter()
            .map(|(_, v)| v.to_string().len())
            .chain(std::iter::once(self.total.to_string().len()))
            .max()
            .unwrap_or(1);
        for (name, value) in rows {
            writeln!(f, "{name:<24}{value:>width$} B")?;
        }
        writeln!(f, "{:-<24}{:->width$}--", "", "")?;
        write!(f, "{:<24}{:>width$} B", "total", self.total)
    }
}

/// Why a [`HeadroomInput`] was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadroomError {
    /// `speed_bps` was 0: a port without a speed has no headroom.
    #[error("speed_bps must be non-zero")]
    ZeroSpeed,
    /// `speed_bps` was above [`MAX_SPEED_BPS`], almost certainly a unit mistake.
    #[error("speed_bps {speed_bps} is above the maximum {max}", max = MAX_SPEED_BPS)]
    SpeedTooHigh {
        /// The rejected speed.
        speed_bps: u64,
    },
    /// `mtu` was outside [`MIN_MTU`]`..=`[`MAX_MTU`].
    #[error("mtu {mtu} is outside {min}..={max}", min = MIN_MTU, max = MAX_MTU)]
    MtuOutOfRange {
        /// The rejected MTU.
        mtu: u32,
    },
    /// `cable_length_m` was above [`MAX_CABLE_LENGTH_M`].
    #[error("cable_length_m {cable_length_m} is above the maximum {max} m", max = MAX_CABLE_LENGTH_M)]
    CableTooLong {
        /// The rejected cable length in metres.
        cable_length_m: u32,
    },
    /// `cell_size` was `Some(0)`: a buffer cannot be made of empty cells.
    #[error("cell_size must be non-zero")]
    ZeroCellSize,
    /// The local processing delay was above [`MAX_LOCAL_DELAY_NS`].
    #[error("local_delay_ns {local_delay_ns} is above the maximum {max} ns", max = MAX_LOCAL_DELAY_NS)]
    LocalDelayTooLong {
        /// The rejected delay in nanoseconds.
        local_delay_ns: u32,
    },
}

/// The minimum headroom a lossless PG needs.
///
/// Equivalent to [`minimum_headroom_with_local_delay`] with no local delay.
pub fn minimum_headroom(input: &HeadroomInput) -> Result<HeadroomBreakdown, HeadroomError> {
    minimum_headroom_with_local_delay(input, 0)
}

/// The minimum headroom a lossless PG needs, when our own XOFF generation
/// takes `local_delay_ns` nanoseconds (pipeline/processing latency) before
/// the PFC frame is queued for transmission.
///
/// The delay is part of "our XOFF decision reaching the wire", so its bytes
/// (at line rate, rounded up) are added to
/// [`HeadroomBreakdown::in_flight_egress_frame`].
pub fn minimum_headroom_with_local_delay(
    input: &HeadroomInput,
    local_delay_ns: u32,
) -> Result<HeadroomBreakdown, HeadroomError> {
    let speed = input.speed_bps;
    if speed == 0 {
        return Err(HeadroomError::ZeroSpeed);
    }
    if speed > MAX_SPEED_BPS {
        return Err(HeadroomError::SpeedTooHigh { speed_bps: speed });
    }
    if !(MIN_MTU..=MAX_MTU).contains(&input.mtu) {
        return Err(HeadroomError::MtuOutOfRange { mtu: input.mtu });
    }
    if input.cable_length_m > MAX_CABLE_LENGTH_M {
        return Err(HeadroomError::CableTooLong {
            cable_length_m: input.cable_length_m,
        });
    }
    if input.cell_size == Some(0) {
        return Err(HeadroomError::ZeroCellSize);
    }
    if local_delay_ns > MAX_LOCAL_DELAY_NS {
        return Err(HeadroomError::LocalDelayTooLong { local_delay_ns });
    }

    let max_frame = u64::from(input.mtu) + WIRE_OVERHEAD_BYTES;

    // Bytes at line rate during the local delay: ns × bit/s / (8 × 10⁹).
    let local = to_u64(div_ceil_u128(
        u128::from(local_delay_ns) * u128::from(speed),
        8 * 1_000_000_000,
    ));
    let in_flight_egress_frame = max_frame + local;
    let pfc_frame = PFC_FRAME_WIRE_BYTES;
    // 2 × L / v seconds at `speed` bit/s, in bytes: 2 × L × speed / (8 × v).
    let propagation = to_u64(div_ceil_u128(
        2 * u128::from(input.cable_length_m) * u128::from(speed),
        8 * u128::from(SIGNAL_SPEED_M_PER_S),
    ));
    let quanta = input
        .peer_response_quanta
        .unwrap_or_else(|| ieee_response_quanta(speed));
    let peer_response = u64::from(quanta) * (QUANTUM_BITS / 8);
    let peer_last_frame = max_frame;

    let raw = in_flight_egress_frame + pfc_frame + propagation + peer_response + peer_last_frame;
    let cell_overhead = match input.cell_size {
        None | Some(1) => 0,
        Some(cell) => {
            let cell = u64::from(cell);
            let frames = raw.div_ceil(MIN_FRAME_WIRE_BYTES) + 1;
            let wasted = raw + frames * (cell - 1);
            wasted.div_ceil(cell) * cell - raw
        }
    };

    Ok(HeadroomBreakdown {
        in_flight_egress_frame,
        pfc_frame,
        propagation,
        peer_response,
        peer_last_frame,
        cell_overhead,
        total: raw + cell_overhead,
    })
}

fn div_ceil_u128(n: u128, d: u128) -> u128 {
    n.div_ceil(d)
}

/// Narrow a term already bounded by input validation; saturates defensively.
fn to_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const G: u64 = 1_000_000_000;

    fn sum(b: &HeadroomBreakdown) -> u64 {
        b.in_flight_egress_frame
            + b.pfc_frame
            + b.propagation
            + b.peer_response
            + b.peer_last_frame
            + b.cell_overhead
    }

    /// 10G, 5 m, MTU 1500, IEEE quanta (67), no cells:
    /// 1. 1500 + 24                                  = 1524
    /// 2. 64 + 8 + 12                                = 84
    /// 3. 2 × 5 × 10¹⁰ / (8 × 1.98·10⁸) = 10¹¹ / 1.584·10⁹ = 63.13 → 64
    /// 4. 67 × 512 / 8 = 67 × 64                     = 4288
    /// 5. 1500 + 24                                  = 1524
    ///
    /// total = 1524 + 84 + 64 + 4288 + 1524          = 7484
    #[test]
    fn worked_example_10g_5m_1500() {
        let b = minimum_headroom(&HeadroomInput::new(10 * G, 5, 1500)).unwrap();
        assert_eq!(
            b,
            HeadroomBreakdown {
                in_flight_egress_frame: 1524,
                pfc_frame: 84,
                propagation: 64,
                peer_response: 4288,
                peer_last_frame: 1524,
                cell_overhead: 0,
                total: 7484,
            }
        );
    }

    /// 100G, 100 m, MTU 9100, IEEE quanta (394), no cells:
    /// 1. 9100 + 24                                  = 9124
    /// 2. 84                                         = 84
    /// 3. 2 × 100 × 10¹¹ / 1.584·10⁹ = 2·10¹³ / 1.584·10⁹ = 12626.26 → 12627
    /// 4. 394 × 64                                   = 25216
    /// 5. 9100 + 24                                  = 9124
    ///
    /// total = 9124 + 84 + 12627 + 25216 + 9124      = 56175
    #[test]
    fn worked_example_100g_100m_9100() {
        let b = minimum_headroom(&HeadroomInput::new(100 * G, 100, 9100)).unwrap();
        assert_eq!(
            b,
            HeadroomBreakdown {
                in_flight_egress_frame: 9124,
                pfc_frame: 84,
                propagation: 12627,
                peer_response: 25216,
                peer_last_frame: 9124,
                cell_overhead: 0,
                total: 56175,
            }
        );
    }

    /// 10G, 5 m, MTU 1500 with 256-byte cells:
    /// raw = 7484; frames = ceil(7484 / 84) + 1 = 90 + 1 = 91;
    /// waste = 91 × 255 = 23205; 7484 + 23205 = 30689 → ceil to 256 = 120 × 256 = 30720;
    /// cell_overhead = 30720 − 7484 = 23236.
    #[test]
    fn worked_example_cells() {
        let input = HeadroomInput {
            cell_size: Some(256),
            ..HeadroomInput::new(10 * G, 5, 1500)
        };
        let b = minimum_headroom(&input).unwrap();
        assert_eq!(b.cell_overhead, 23236);
        assert_eq!(b.total, 30720);
        assert_eq!(b.total % 256, 0);
        // A 1-byte cell is plain bytes.
        let one = HeadroomInput {
            cell_size: Some(1),
            ..input
        };
        assert_eq!(minimum_headroom(&one).unwrap().total, 7484);
    }

    /// 25G, 0 m, MTU 1500, peer override 100 quanta, 300 ns local delay:
    /// local = 300 × 25·10⁹ / 8·10⁹ = 937.5 → 938; term 1 = 1524 + 938 = 2462;
    /// propagation 0; peer 100 × 64 = 6400; total = 2462 + 84 + 0 + 6400 + 1524 = 10470.
    #[test]
    fn worked_example_local_delay_and_override() {
        let input = HeadroomInput {
            peer_response_quanta: Some(100),
            ..HeadroomInput::new(25 * G, 0, 1500)
        };
        let b = minimum_headroom_with_local_delay(&input, 300).unwrap();
        assert_eq!(b.in_flight_egress_frame, 2462);
        assert_eq!(b.propagation, 0);
        assert_eq!(b.peer_response, 6400);
        assert_eq!(b.total, 10470);
    }

    #[test]
    fn ieee_table_and_next_higher_class() {
        assert_eq!(ieee_response_quanta(10 * G), 67);
        assert_eq!(ieee_response_quanta(25 * G), 80);
        assert_eq!(ieee_response_quanta(40 * G), 118);
        assert_eq!(ieee_response_quanta(50 * G), 147);
        assert_eq!(ieee_response_quanta(100 * G), 394);
        assert_eq!(ieee_response_quanta(400 * G), 905);
        // Between classes: the next-higher one.
        assert_eq!(ieee_response_quanta(10 * G + 1), 80);
        assert_eq!(ieee_response_quanta(20 * G), 80);
        assert_eq!(ieee_response_quanta(2_500_000_000), 67);
        // Below and above the table.
        assert_eq!(ieee_response_quanta(0), 1);
        assert_eq!(ieee_response_quanta(10_000_000), 1);
        assert_eq!(ieee_response_quanta(1_600 * G), 905);
        assert_eq!(ieee_response_quanta(u64::MAX), 905);
        // The table is sorted and non-decreasing.
        for w in RESPONSE_QUANTA.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        }
    }

    #[test]
    fn quantum_times() {
        assert_eq!(quantum_ps(10 * G), 51_200);
        assert_eq!(quantum_ps(25 * G), 20_480);
        assert_eq!(quantum_ps(40 * G), 12_800);
        assert_eq!(quantum_ps(100 * G), 5_120);
        assert_eq!(quantum_ps(1), 512_000_000_000_000);
        assert_eq!(quantum_ps(3), 170_666_666_666_667); // rounded up
        assert_eq!(quantum_ps(0), u64::MAX);
    }

    #[test]
    fn errors_for_bad_inputs() {
        let ok = HeadroomInput::new(10 * G, 5, 1500);
        let err = |i: HeadroomInput| minimum_headroom(&i).unwrap_err();
        assert_eq!(
            err(HeadroomInput { speed_bps: 0, ..ok }),
            HeadroomError::ZeroSpeed
        );
        assert_eq!(
            err(HeadroomInput {
                speed_bps: MAX_SPEED_BPS + 1,
                ..ok
            }),
            HeadroomError::SpeedTooHigh {
                speed_bps: MAX_SPEED_BPS + 1
            }
        );
        assert_eq!(
            err(HeadroomInput { mtu: 63, ..ok }),
            HeadroomError::MtuOutOfRange { mtu: 63 }
        );
        assert_eq!(
            err(HeadroomInput { mtu: 16_385, ..ok }),
            HeadroomError::MtuOutOfRange { mtu: 16_385 }
        );
        assert_eq!(
            err(HeadroomInput {
                cable_length_m: 100_001,
                ..ok
            }),
            HeadroomError::CableTooLong {
                cable_length_m: 100_001
            }
        );
        assert_eq!(
            err(HeadroomInput {
                cell_size: Some(0),
                ..ok
            }),
            HeadroomError::ZeroCellSize
        );
        assert_eq!(
            minimum_headroom_with_local_delay(&ok, MAX_LOCAL_DELAY_NS + 1).unwrap_err(),
            HeadroomError::LocalDelayTooLong {
                local_delay_ns: MAX_LOCAL_DELAY_NS + 1
            }
        );
        // Boundaries are accepted.
        for i in [
            HeadroomInput { mtu: 64, ..ok },
            HeadroomInput { mtu: 16_384, ..ok },
            HeadroomInput {
                cable_length_m: 100_000,
                ..ok
            },
            HeadroomInput {
                speed_bps: MAX_SPEED_BPS,
                cable_length_m: MAX_CABLE_LENGTH_M,
                mtu: MAX_MTU,
                peer_response_quanta: Some(u16::MAX),
                cell_size: Some(u32::MAX),
            },
        ] {
            let b = minimum_headroom(&i).unwrap();
            assert_eq!(b.total, sum(&b));
        }
        // Messages name the field.
        assert!(HeadroomError::ZeroSpeed.to_string().contains("speed_bps"));
        assert!(HeadroomError::MtuOutOfRange { mtu: 1 }
            .to_string()
            .contains("mtu"));
        assert!(HeadroomError::CableTooLong { cable_length_m: 1 }
            .to_string()
            .contains("cable_length_m"));
        assert!(HeadroomError::ZeroCellSize
            .to_string()
            .contains("cell_size"));
    }

    #[test]
    fn display_table() {
        let b = minimum_headroom(&HeadroomInput::new(10 * G, 5, 1500)).unwrap();
        let s = b.to_string();
        let expected = "\
in-flight egress frame  1524 B
PFC frame                 84 B
propagation (2x cable)    64 B
peer response           4288 B
peer last frame         1524 B
cell overhead              0 B
------------------------------
total                   7484 B";
        assert_eq!(s, expected);
    }

    fn input_strategy() -> impl Strategy<Value = HeadroomInput> {
        (
            1..=MAX_SPEED_BPS,
            0..=MAX_CABLE_LENGTH_M,
            MIN_MTU..=MAX_MTU,
            proptest::option::of(any::<u16>()),
            proptest::option::of(1u32..=16_384),
        )
            .prop_map(
                |(speed_bps, cable_length_m, mtu, q, cell_size)| HeadroomInput {
                    speed_bps,
                    cable_length_m,
                    mtu,
                    peer_response_quanta: q,
                    cell_size,
                },
            )
    }

    fn total(i: HeadroomInput) -> u64 {
        let b = minimum_headroom(&i).unwrap();
        assert_eq!(b.total, sum(&b));
        b.total
    }

    proptest! {
        #[test]
        fn monotone_in_speed(i in input_strategy(), a in 1..=MAX_SPEED_BPS, b in 1..=MAX_SPEED_BPS) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t_lo = total(HeadroomInput { speed_bps: lo, ..i });
            let t_hi = total(HeadroomInput { speed_bps: hi, ..i });
            prop_assert!(t_lo <= t_hi);
        }

        #[test]
        fn monotone_in_cable(i in input_strategy(), a in 0..=MAX_CABLE_LENGTH_M, b in 0..=MAX_CABLE_LENGTH_M) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t_lo = total(HeadroomInput { cable_length_m: lo, ..i });
            let t_hi = total(HeadroomInput { cable_length_m: hi, ..i });
            prop_assert!(t_lo <= t_hi);
        }

        #[test]
        fn monotone_in_mtu(i in input_strategy(), a in MIN_MTU..=MAX_MTU, b in MIN_MTU..=MAX_MTU) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t_lo = total(HeadroomInput { mtu: lo, ..i });
            let t_hi = total(HeadroomInput { mtu: hi, ..i });
            prop_assert!(t_lo <= t_hi);
        }

        #[test]
        fn monotone_in_quanta(i in input_strategy(), a: u16, b: u16) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t_lo = total(HeadroomInput { peer_response_quanta: Some(lo), ..i });
            let t_hi = total(HeadroomInput { peer_response_quanta: Some(hi), ..i });
            prop_assert!(t_lo <= t_hi);
        }

        #[test]
        fn monotone_in_local_delay(i in input_strategy(), a in 0..=MAX_LOCAL_DELAY_NS, b in 0..=MAX_LOCAL_DELAY_NS) {
            let (lo, hi) = (a.min(b), a.max(b));
            let t = |d| minimum_headroom_with_local_delay(&i, d).unwrap().total;
            prop_assert!(t(lo) <= t(hi));
        }

        #[test]
        fn cells_never_shrink_and_align(i in input_strategy(), cell in 1u32..=16_384) {
            let bytes = total(HeadroomInput { cell_size: None, ..i });
            let celled = total(HeadroomInput { cell_size: Some(cell), ..i });
            prop_assert!(celled >= bytes);
            prop_assert_eq!(celled % u64::from(cell), 0);
        }
    }
}
