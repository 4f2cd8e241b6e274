//! Flows a host sends, the frames that carry them, and what the receiving end counts.
//!
//! Every frame of a flow carries, right after its Ethernet header (EtherType
//! [`FLOW_ETHERTYPE`]), the magic [`FLOW_MAGIC`], the flow id (u32, big endian) and the
//! sequence number (u64, big endian, from 0), then zero padding to the flow's frame size. The
//! receiver needs nothing else to count loss, reordering and gaps.

use bytes::{Bytes, BytesMut};
use dataplane::wire::{L2Header, MacAddr, VlanTag};
use dataplane::Instant;
use serde::Serialize;

/// EtherType of flow frames (IEEE local experimental 2).
pub const FLOW_ETHERTYPE: u16 = 0x88B6;
/// First payload bytes of a flow frame.
pub const FLOW_MAGIC: [u8; 4] = *b"SIMF";
/// Smallest and largest flow frame, in bytes without FCS.
pub const FLOW_FRAME_LEN: std::ops::RangeInclusive<usize> = 64..=9216;

/// How fast a flow sends, relative to its host's line rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// Back to back: a new frame as soon as the previous one has left.
    LineRate,
    /// `num / den` of line rate (0 < num ≤ den): each frame starts `den / num` serialization
    /// times after the previous one.
    Fraction {
        /// Numerator.
        num: u32,
        /// Denominator.
        den: u32,
    },
}

/// When a flow stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many frames.
    AfterFrames(u64),
    /// No frame starts at or after this instant.
    At(Instant),
}

/// One flow: a stream of numbered frames from a host to a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    /// Flow id, carried in every frame; unique within the scenario.
    pub id: u32,
    /// Destination address.
    pub dst: MacAddr,
    /// 802.1Q tag (VID and PCP), or `None` for untagged (priority 0 at the host).
    pub vlan: Option<VlanTag>,
    /// Frame size in bytes without FCS (64..=9216), tag included.
    pub frame_len: usize,
    /// Sending rate.
    pub rate: Rate,
    /// First frame not before this instant.
    pub start: Instant,
    /// When to stop.
    pub stop: Stop,
}

impl FlowSpec {
    /// The priority the host's PFC receiver applies to this flow (the PCP, or 0 untagged).
    pub fn priority(&self) -> u8 {
        self.vlan.map_or(0, |t| t.pcp & 7)
    }
}

/// A minimum-size broadcast frame from `src` (priority 0, untagged), sent before a flow
/// starts so that the switches learn where the host is.
pub fn announce(src: MacAddr) -> Bytes {
    let hdr = L2Header {
        dst: MacAddr::broadcast(),
        src,
        vlan: None,
        ethertype: FLOW_ETHERTYPE,
        payload_offset: 0,
    };
    let mut buf = vec![0u8; 60];
    let _ = hdr.emit(&mut buf);
    Bytes::from(buf)
}

/// Builds frame `seq` of a flow from `src`.
pub fn build_frame(spec: &FlowSpec, src: MacAddr, seq: u64) -> Bytes {
    build_frame_in(BytesMut::new(), spec, src, seq)
}

/// Builds frame `seq` of a flow from `src` in `buf` (a buffer to reuse; its contents do not
/// matter). A new buffer is exactly the frame's size (one allocation); `dataplane`'s egress
/// rewrites a frame it holds alone in its own buffer, so a reused buffer that once carried a
/// stack header has the room to be encapsulated again with no copy.
pub fn build_frame_in(mut buf: BytesMut, spec: &FlowSpec, src: MacAddr, seq: u64) -> Bytes {
    let hdr = L2Header {
        dst: spec.dst,
        src,
        vlan: spec.vlan,
        ethertype: FLOW_ETHERTYPE,
        payload_offset: 0,
    };
    let len = spec.frame_len.max(64);
    buf.clear();
    buf.reserve(len);
    buf.resize(len, 0);
    // The buffer holds at least 64 bytes and the tag was validated with the flow.
    let off = hdr.emit(&mut buf).unwrap_or(0);
    buf[off..off + 4].copy_from_slice(&FLOW_MAGIC);
    buf[off + 4..off + 8].copy_from_slice(&spec.id.to_be_bytes());
    buf[off + 8..off + 16].copy_from_slice(&seq.to_be_bytes());
    buf.freeze()
}

/// `(flow id, sequence number)` of a flow frame, or `None` for any other frame.
pub fn parse_frame(frame: &[u8]) -> Option<(u32, u64)> {
    let hdr = L2Header::parse(frame).ok()?;
    if hdr.ethertype != FLOW_ETHERTYPE {
        return None;
    }
    let p = frame.get(hdr.payload_offset..hdr.payload_offset + 16)?;
    if p[..4] != FLOW_MAGIC {
        return None;
    }
    let id = u32::from_be_bytes(p[4..8].try_into().ok()?);
    let seq = u64::from_be_bytes(p[8..16].try_into().ok()?);
    Some((id, seq))
}

/// What a host sent of one flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowTx {
    /// Frames sent.
    pub frames: u64,
    /// Bytes sent (without FCS).
    pub bytes: u64,
}

/// What a host received of one flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowRx {
    /// Frames received.
    pub frames: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Sequence numbers skipped so far (a late arrival of a skipped one gives it back). Frames
    /// lost after the last one received are not seen here: compare with the sender's count.
    pub lost: u64,
    /// Frames that arrived after a higher sequence number.
    pub reordered: u64,
    /// Frames whose sequence number was already seen in order (duplicates).
    pub duplicates: u64,
    /// Longest time between two consecutive frames of the flow, picoseconds.
    pub max_gap_ps: u64,
    /// Arrival of the first frame, picoseconds.
    pub first_ps: Option<u64>,
    /// Arrival of the latest frame, picoseconds.
    pub last_ps: Option<u64>,
    /// The sequence number expected next.
    pub next_seq: u64,
}

impl FlowRx {
    /// Counts frame `seq` of `len` bytes arriving at `now`.
    pub fn record(&mut self, now: Instant, seq: u64, len: usize) {
        let t = now.as_ps();
        self.frames += 1;
        self.bytes += len as u64;
        if let Some(last) = self.last_ps {
            self.max_gap_ps = self.max_gap_ps.max(t.saturating_sub(last));
        }
        self.first_ps.get_or_insert(t);
        self.last_ps = Some(t);
        match seq.cmp(&self.next_seq) {
            std::cmp::Ordering::Equal => self.next_seq += 1,
            std::cmp::Ordering::Greater => {
                self.lost += seq - self.next_seq;
                self.next_seq = seq + 1;
            }
            std::cmp::Ordering::Less => {
                // Either a late frame (counted lost when skipped) or a duplicate; without a
                // per-sequence record a late frame is taken as such while losses remain.
                if self.lost > 0 {
                    self.lost -= 1;
                    self.reordered += 1;
                } else {
                    self.duplicates += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_rx_counts_gaps() {
        let spec = FlowSpec {
            id: 7,
            dst: MacAddr::new(2, 0, 0, 0, 0, 1),
            vlan: Some(VlanTag {
                pcp: 3,
                dei: false,
                vid: 1,
            }),
            frame_len: 100,
            rate: Rate::LineRate,
            start: Instant::ZERO,
            stop: Stop::AfterFrames(1),
        };
        let f = build_frame(&spec, MacAddr::new(2, 0, 0, 0, 0, 2), 42);
        assert_eq!(f.len(), 100);
        assert_eq!(parse_frame(&f), Some((7, 42)));
        assert_eq!(parse_frame(&f[..20]), None);
        let mut rx = FlowRx::default();
        for (t, s) in [(0, 0), (10, 1), (20, 4), (50, 2), (60, 5)] {
            rx.record(Instant::from_ps(t), s, 100);
        }
        assert_eq!(
            (rx.frames, rx.lost, rx.reordered, rx.max_gap_ps),
            (5, 1, 1, 30)
        );
        assert_eq!(rx.next_seq, 6);
    }
}
