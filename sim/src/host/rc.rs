//! A RoCE-like reliable connection with go-back-N recovery (the RC transport of RoCEv2 NICs
//! without selective repeat).
//!
//! The sender numbers its frames with a packet sequence number (PSN) and keeps at most
//! `window` frames unacknowledged. The receiver accepts only the PSN it expects; it
//! acknowledges every in-order frame (ACK = next expected PSN), discards anything out of order
//! and answers the first out-of-order frame of a gap with one NAK (the expected PSN). On a NAK
//! the sender goes back to that PSN and sends everything again from there; with no progress
//! for `rto` it goes back to the oldest unacknowledged PSN. One lost frame therefore costs a
//! whole window of retransmissions — why RoCE wants a lossless network.
//!
//! Frames: data carry [`RC_DATA_MAGIC`], the connection id (u32) and the PSN (u64) after the
//! Ethernet header (EtherType [`super::flow::FLOW_ETHERTYPE`]); ACK/NAK carry
//! [`RC_ACK_MAGIC`], the id, the PSN and a NAK flag byte, padded to 64 bytes, on the same
//! priority as the data.

use bytes::Bytes;
use dataplane::wire::{L2Header, MacAddr, VlanTag};
use dataplane::Instant;
use serde::Serialize;

use super::flow::FLOW_ETHERTYPE;

/// Magic of a go-back-N data frame.
pub const RC_DATA_MAGIC: [u8; 4] = *b"SIMR";
/// Magic of an ACK or NAK.
pub const RC_ACK_MAGIC: [u8; 4] = *b"SIMA";

/// A reliable connection to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RcSpec {
    /// Connection id; unique per scenario.
    pub id: u32,
    /// Destination host.
    pub dst: MacAddr,
    /// 802.1Q tag (priority of data and ACKs).
    pub vlan: Option<VlanTag>,
    /// Data frame size, bytes without FCS.
    pub frame_len: usize,
    /// Frames of data to deliver.
    pub frames: u64,
    /// Most unacknowledged frames.
    pub window: u32,
    /// Retransmission timeout, picoseconds.
    pub rto_ps: u64,
    /// First frame not before this instant.
    pub start: Instant,
}

/// What the sender of a connection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RcTx {
    /// Frames put on the wire, first sends and retransmissions.
    pub frames: u64,
    /// Of those, retransmissions.
    pub retransmitted: u64,
    /// NAKs received.
    pub naks: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Frames acknowledged (delivered in order).
    pub acked: u64,
    /// When the last frame was acknowledged, picoseconds.
    pub done_ps: Option<u64>,
}

/// Sender state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct RcSender {
    pub spec: RcSpec,
    /// Next PSN to send.
    pub next: u64,
    /// Oldest unacknowledged PSN.
    pub una: u64,
    /// One past the highest PSN ever sent.
    pub high: u64,
    /// Last time `una` advanced (or the timer was restarted).
    pub progress_at: Instant,
    pub tx: RcTx,
}

impl RcSender {
    pub fn new(spec: RcSpec) -> Self {
        RcSender {
            spec,
            next: 0,
            una: 0,
            high: 0,
            progress_at: spec.start,
            tx: RcTx::default(),
        }
    }

    /// Whether everything was acknowledged.
    pub fn done(&self) -> bool {
        self.una >= self.spec.frames
    }

    /// Whether a frame may go now (window and data permitting).
    pub fn can_send(&self, now: Instant) -> bool {
        now >= self.spec.start
            && !self.done()
            && self.next < self.spec.frames
            && self.next < self.una + u64::from(self.spec.window)
    }

    /// When the retransmission timer fires, if it runs.
    pub fn rto_at(&self) -> Option<Instant> {
        (self.una < self.high && !self.done()).then(|| self.progress_at.plus_ps(self.spec.rto_ps))
    }

    /// Fires the retransmission timer if due.
    pub fn check_timer(&mut self, now: Instant) {
        if self.rto_at().is_some_and(|t| t <= now) {
            self.tx.timeouts += 1;
            self.next = self.una;
            self.progress_at = now;
        }
    }

    /// Builds the next frame and advances.
    pub fn take_frame(&mut self, src: MacAddr) -> Bytes {
        let psn = self.next;
        if psn < self.high {
            self.tx.retransmitted += 1;
        }
        self.next += 1;
        self.high = self.high.max(self.next);
        self.tx.frames += 1;
        let mut f = frame(
            self.spec.dst,
            src,
            self.spec.vlan,
            self.spec.frame_len,
            RC_DATA_MAGIC,
        );
        put(&mut f, self.spec.id, psn, false);
        Bytes::from(f)
    }

    /// An ACK or NAK arrived.
    pub fn on_ack(&mut self, now: Instant, psn: u64, nak: bool) {
        if psn > self.una {
            self.una = psn.min(self.high);
            self.tx.acked = self.una;
            self.progress_at = now;
            if self.done() && self.tx.done_ps.is_none() {
                self.tx.done_ps = Some(now.as_ps());
            }
        }
        if nak {
            self.tx.naks += 1;
            if self.next > psn {
                self.next = psn.max(self.una);
            }
        }
        self.next = self.next.max(self.una);
    }
}

/// What the receiver of a connection got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RcRx {
    /// Frames delivered in order (goodput).
    pub delivered: u64,
    /// Bytes delivered in order.
    pub delivered_bytes: u64,
    /// Frames discarded: out of order (after a loss) or duplicates.
    pub discarded: u64,
    /// NAKs sent.
    pub naks_sent: u64,
    /// The PSN expected next.
    pub expected: u64,
    /// A NAK was sent for the current gap.
    #[serde(skip)]
    pub nak_pending: bool,
    /// First delivery, picoseconds.
    pub first_ps: Option<u64>,
    /// Latest delivery, picoseconds.
    pub last_ps: Option<u64>,
}

impl RcRx {
    /// Frame `psn` of `len` bytes arrived; returns the ACK/NAK to send: (psn, nak).
    pub fn on_data(&mut self, now: Instant, psn: u64, len: usize) -> Option<(u64, bool)> {
        if psn == self.expected {
            self.expected += 1;
            self.delivered += 1;
            self.delivered_bytes += len as u64;
            self.nak_pending = false;
            self.first_ps.get_or_insert(now.as_ps());
            self.last_ps = Some(now.as_ps());
            return Some((self.expected, false));
        }
        self.discarded += 1;
        if psn > self.expected {
            if self.nak_pending {
                return None;
            }
            self.nak_pending = true;
            self.naks_sent += 1;
            return Some((self.expected, true));
        }
        // A duplicate: acknowledge again (the sender may have lost the ACK).
        Some((self.expected, false))
    }
}

fn frame(dst: MacAddr, src: MacAddr, vlan: Option<VlanTag>, len: usize, magic: [u8; 4]) -> Vec<u8> {
    let hdr = L2Header {
        dst,
        src,
        vlan,
        ethertype: FLOW_ETHERTYPE,
        payload_offset: 0,
    };
    let mut buf = vec![0u8; len.max(64)];
    let off = hdr.emit(&mut buf).unwrap_or(0);
    buf[off..off + 4].copy_from_slice(&magic);
    buf
}

fn put(buf: &mut [u8], id: u32, psn: u64, nak: bool) {
    let off = L2Header::parse(buf).map_or(14, |h| h.payload_offset);
    buf[off + 4..off + 8].copy_from_slice(&id.to_be_bytes());
    buf[off + 8..off + 16].copy_from_slice(&psn.to_be_bytes());
    buf[off + 16] = u8::from(nak);
}

/// An ACK (or NAK) frame.
pub fn ack_frame(
    dst: MacAddr,
    src: MacAddr,
    vlan: Option<VlanTag>,
    id: u32,
    psn: u64,
    nak: bool,
) -> Bytes {
    let mut f = frame(dst, src, vlan, 64, RC_ACK_MAGIC);
    put(&mut f, id, psn, nak);
    Bytes::from(f)
}

/// A parsed go-back-N frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcFrame {
    /// Data: id, PSN.
    Data(u32, u64),
    /// ACK or NAK: id, PSN, NAK.
    Ack(u32, u64, bool),
}

/// Parses a go-back-N frame (`None` for anything else).
pub fn parse(frame: &[u8]) -> Option<RcFrame> {
    let hdr = L2Header::parse(frame).ok()?;
    if hdr.ethertype != FLOW_ETHERTYPE {
        return None;
    }
    let p = frame.get(hdr.payload_offset..hdr.payload_offset + 17)?;
    let id = u32::from_be_bytes(p[4..8].try_into().ok()?);
    let psn = u64::from_be_bytes(p[8..16].try_into().ok()?);
    match p[..4].try_into().ok()? {
        RC_DATA_MAGIC => Some(RcFrame::Data(id, psn)),
        RC_ACK_MAGIC => Some(RcFrame::Ack(id, psn, p[16] != 0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_back_n_recovers_a_loss() {
        let a = MacAddr::new(2, 0, 0, 0, 0, 1);
        let b = MacAddr::new(2, 0, 0, 0, 0, 2);
        let spec = RcSpec {
            id: 9,
            dst: b,
            vlan: None,
            frame_len: 100,
            frames: 4,
            window: 8,
            rto_ps: 1_000_000,
            start: Instant::ZERO,
        };
        let mut s = RcSender::new(spec);
        let mut r = RcRx::default();
        let t = Instant::ZERO;
        let frames: Vec<Bytes> = (0..4).map(|_| s.take_frame(a)).collect();
        assert_eq!(parse(&frames[1]), Some(RcFrame::Data(9, 1)));
        // Frame 1 is lost: 0 acked, 2 triggers one NAK, 3 is discarded silently.
        assert_eq!(r.on_data(t, 0, 100), Some((1, false)));
        assert_eq!(r.on_data(t, 2, 100), Some((1, true)));
        assert_eq!(r.on_data(t, 3, 100), None);
        s.on_ack(t, 1, false);
        s.on_ack(t, 1, true);
        assert_eq!(s.next, 1, "went back to the NAKed PSN");
        for psn in 1..4 {
            let f = s.take_frame(a);
            assert_eq!(parse(&f), Some(RcFrame::Data(9, psn)));
            let (ack, nak) = r.on_data(t, psn, 100).unwrap();
            assert!(!nak);
            s.on_ack(t, ack, false);
        }
        assert!(s.done());
        assert_eq!((s.tx.frames, s.tx.retransmitted, r.delivered), (7, 3, 4));
        let ack = ack_frame(a, b, None, 9, 3, true);
        assert_eq!(parse(&ack), Some(RcFrame::Ack(9, 3, true)));
    }
}
