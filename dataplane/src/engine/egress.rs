//! Egress: transmission selection across ports, MAC Control first, serialization at line
//! rate, buffer release (PFC XON), and the rewrite of each copy for its egress port.

use bytes::{Buf, Bytes, BytesMut};

use super::{Engine, Transmit};
use crate::config::{FlowControl, WatchdogAction};
use crate::pfc::quanta_ps;
use crate::port::PortIndex;
use crate::scheduler::Queued;
use crate::time::Instant;
use crate::wire::{
    MacControlRepr, StackHeaderRepr, ETHERTYPE_VLAN, MIN_FRAME_LEN, STACK_ENCAP_LEN,
};

/// How one copy of a frame must look when it leaves its egress port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Exactly as received: decided at ingress when the frame's tag already matches its
    /// egress (the common case), so transmission needs no look at the bytes.
    AsIs,
    /// A front-panel port: untagged (`None`) or tagged with this TCI.
    Front { tci: Option<u16> },
    /// A stack port: with this stack header.
    Stack(StackHeaderRepr),
}

/// One copy of a frame in an egress queue.
#[derive(Clone, Debug)]
pub(crate) struct QueuedFrame {
    /// The frame as it was received.
    pub data: Bytes,
    /// Whether `data` carries a stack header (it came in on a stack port).
    pub encapsulated: bool,
    /// How it must leave.
    pub target: Target,
    /// Ingress port and priority group charged.
    pub ingress: u16,
    pub pg: u8,
}

impl Queued for QueuedFrame {
    #[inline]
    fn len_bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

impl QueuedFrame {
    /// The frame as it must go on the wire: byte-identical when nothing changes (no copy),
    /// otherwise rebuilt with the right tag or stack header, padded to the minimum size.
    ///
    /// A frame held by this copy alone (not flooded) is rewritten in its own buffer: a stack
    /// header replaced or removed, a tag set, or (with spare capacity) a header inserted, with
    /// no new buffer and no copy of the payload. Shared frames are copied.
    #[inline]
    pub fn render(self) -> Bytes {
        if self.target == Target::AsIs {
            return self.data;
        }
        let d = &self.data;
        // Where the original frame continues after its MAC addresses.
        let inner = if self.encapsulated {
            12 + STACK_ENCAP_LEN
        } else {
            12
        };
        let inner_tagged = d.get(inner..inner + 2) == Some(&ETHERTYPE_VLAN.to_be_bytes()[..])
            && d.len() >= inner + 4;
        match self.target {
            Target::AsIs => self.data,
            Target::Front { tci } => {
                if !self.encapsulated {
                    match tci {
                        None if !inner_tagged => return d.clone(),
                        Some(t) if inner_tagged && d.get(14..16) == Some(&t.to_be_bytes()[..]) => {
                            return d.clone()
                        }
                        _ => {}
                    }
                }
                let rest_at = if inner_tagged { inner + 4 } else { inner };
                // In place when what goes in front of the rest (addresses, and a tag if any)
                // fits where the old front was: a stack header or a tag is dropped or replaced.
                let head = if tci.is_some() { 16 } else { 12 };
                let data = if rest_at >= head && d.len() >= rest_at {
                    match self.data.try_into_mut() {
                        Ok(m) => return decapsulate_in_place(m, rest_at, tci),
                        Err(data) => data,
                    }
                } else {
                    self.data
                };
                let d = &data;
                let rest = d.get(rest_at..).unwrap_or(&[]);
                let mut out = Vec::with_capacity(rest.len() + 16);
                out.extend_from_slice(&d[..12.min(d.len())]);
                if let Some(t) = tci {
                    out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                    out.extend_from_slice(&t.to_be_bytes());
                }
                out.extend_from_slice(rest);
                if out.len() < MIN_FRAME_LEN {
                    out.resize(MIN_FRAME_LEN, 0);
                }
                Bytes::from(out)
            }
            Target::Stack(header) => {
                // In place when the buffer is ours and has the room (a new header needs
                // STACK_ENCAP_LEN more bytes for a frame that has none yet).
                let grow = 12 + STACK_ENCAP_LEN - inner;
                let data = if d.len() >= inner {
                    match self.data.try_into_mut() {
                        Ok(m) if m.capacity() >= m.len() + grow => {
                            return encapsulate_in_place(m, inner, header)
                        }
                        Ok(m) => m.freeze(),
                        Err(data) => data,
                    }
                } else {
                    self.data
                };
                let d = &data;
                let rest = d.get(inner..).unwrap_or(&[]);
                let mut out = Vec::with_capacity(rest.len() + 12 + STACK_ENCAP_LEN);
                out.extend_from_slice(&d[..12.min(d.len())]);
                out.resize(12 + STACK_ENCAP_LEN, 0);
                // The buffer is exactly STACK_ENCAP_LEN long here, so emit cannot fail.
                let _ = header.emit(&mut out[12..]);
                out.extend_from_slice(rest);
                if out.len() < MIN_FRAME_LEN {
                    out.resize(MIN_FRAME_LEN, 0);
                }
                Bytes::from(out)
            }
        }
    }
}

/// `m[..12]` (the MAC addresses), then `header`, then `m[inner..]` — the copy path's frame —
/// built in `m`'s own buffer: a stack frame (`inner` = 24) has its header overwritten; a plain
/// frame (`inner` = 12) is moved up by the header's length (`m` has the room).
#[inline]
fn encapsulate_in_place(mut m: BytesMut, inner: usize, header: StackHeaderRepr) -> Bytes {
    let len = m.len();
    let grow = 12 + STACK_ENCAP_LEN - inner;
    if grow > 0 {
        m.resize(len + grow, 0);
        m.copy_within(inner..len, inner + grow);
    }
    // The range is exactly STACK_ENCAP_LEN long, so emit cannot fail.
    let _ = header.emit(&mut m[12..12 + STACK_ENCAP_LEN]);
    if m.len() < MIN_FRAME_LEN {
        m.resize(MIN_FRAME_LEN, 0);
    }
    m.freeze()
}

/// `m[..12]`, then a tag with `tci` if any, then `m[rest_at..]`, built in `m`'s own buffer:
/// the addresses (and tag) are written just before `rest_at` and the front is dropped
/// (`rest_at` is at least their length).
#[inline]
fn decapsulate_in_place(mut m: BytesMut, rest_at: usize, tci: Option<u16>) -> Bytes {
    let head = if tci.is_some() { 16 } else { 12 };
    let start = rest_at - head;
    m.copy_within(0..12, start);
    if let Some(t) = tci {
        m[start + 12..start + 14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        m[start + 14..start + 16].copy_from_slice(&t.to_be_bytes());
    }
    m.advance(start);
    if m.len() < MIN_FRAME_LEN {
        m.resize(MIN_FRAME_LEN, 0);
    }
    m.freeze()
}

impl Engine {
    /// The next frame to put on a wire at `now`, if a port is free and has one.
    ///
    /// Call until it returns `None`. Ports are served round robin; within a port, MAC Control
    /// (PFC/PAUSE) goes first, then control-path frames, then the scheduler's choice among the
    /// traffic classes the peer has not paused. Each transmission keeps its port busy for the
    /// frame's serialization time at the port's speed.
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.now = self.now.max(now);
        let n = self.ports.len();
        let mut candidates = self.ready & self.ports_link;
        while candidates != 0 {
            let above = candidates & (u64::MAX << self.next_port);
            let i = if above != 0 { above } else { candidates }.trailing_zeros() as usize;
            candidates &= !(1 << i);
            if let Some(tx) = self.transmit_from(now, i) {
                self.next_port = if i + 1 >= n { 0 } else { i + 1 };
                return Some(tx);
            }
        }
        None
    }

    fn transmit_from(&mut self, now: Instant, i: usize) -> Option<Transmit> {
        let port = &mut self.ports[i];
        if port.busy_until > now.plus_ps(self.tx_burst_ps) {
            // Nothing changes: its deadlines (free when the wire is) stand.
            return None;
        }
        self.dirty |= 1 << i;
        let port = &mut self.ports[i];
        let frame = if port.tx_pause.pending() {
            self.mac_control_frame(now, i)
        } else if let Some(f) = port.cpu_queue.pop_front() {
            f
        } else if self.ports_up & (1 << i) == 0 {
            return None;
        } else {
            let mut eligible = !port.rx_pause.paused_tcs(now);
            if port.stormed != 0 {
                eligible |= self.watchdog_override(i);
            }
            let port = &mut self.ports[i];
            let Some((tc, qf)) = port.queues.dequeue(eligible) else {
                if !port.has_work() {
                    self.ready &= !(1 << i);
                }
                return None;
            };
            let len = qf.len_bytes();
            let q = &mut port.queue_counters[tc];
            q.tx_frames += 1;
            q.tx_bytes += len;
            let (ingress, pg) = (usize::from(qf.ingress), usize::from(qf.pg));
            let out = qf.render();
            if let Some(change) = self.buffer.release(ingress, pg, len) {
                self.signal_pause(ingress, pg, change);
            }
            out
        };
        let port = &mut self.ports[i];
        let len = frame.len() as u64;
        port.busy_until = now
            .max(port.busy_until)
            .plus_ps(port.wire.frame_ps(frame.len()));
        port.counters.tx_frames += 1;
        port.counters.tx_bytes += len;
        if !port.has_work() {
            self.ready &= !(1 << i);
        }
        Some(Transmit {
            port: PortIndex(i as u16),
            frame,
        })
    }

    /// Builds the PFC or PAUSE frame the port owes its peer and arms the refresh timer.
    fn mac_control_frame(&mut self, now: Instant, i: usize) -> Bytes {
        let pause_quanta = self.config.pfc.pause_quanta;
        let port = &mut self.ports[i];
        let refresh_ps = (u128::from(quanta_ps(pause_quanta, port.cfg.speed_bps))
            * u128::from(self.config.pfc.refresh_at_256ths)
            / 256) as u64;
        let (enable, quanta) = port.tx_pause.take(now, pause_quanta, refresh_ps.max(1));
        let repr = match port.cfg.flow_control {
            FlowControl::Pause => {
                port.counters.pause_tx += 1;
                MacControlRepr::Pause {
                    quanta: quanta.iter().copied().max().unwrap_or(0),
                }
            }
            _ => {
                for p in 0..8 {
                    if enable & (1 << p) != 0 {
                        port.counters.pfc_tx[p] += 1;
                    }
                }
                MacControlRepr::Pfc { enable, quanta }
            }
        };
        Bytes::copy_from_slice(&repr.emit_frame(port.cfg.mac))
    }

    /// Traffic classes of port `i` whose received pauses the watchdog is overriding.
    #[inline]
    pub(super) fn watchdog_override(&self, i: usize) -> u8 {
        match self.config.watchdog.map(|w| w.action) {
            Some(WatchdogAction::Drop | WatchdogAction::Forward) => self.ports[i].stormed,
            _ => 0,
        }
    }

    /// Discards every frame queued on port `i` in the traffic classes of `tcs`, releasing
    /// their buffer (which may resume paused peers).
    pub(super) fn discard_queued(&mut self, i: usize, tcs: u8) {
        self.dirty |= 1 << i;
        for tc in 0..8 {
            if tcs & (1 << tc) == 0 {
                continue;
            }
            while let Some(qf) = self.ports[i].queues.pop(tc) {
                let len = qf.len_bytes();
                let port = &mut self.ports[i];
                port.counters.tx_discards += 1;
                let q = &mut port.queue_counters[tc];
                q.discarded_frames += 1;
                q.discarded_bytes += len;
                if let Some(change) =
                    self.buffer
                        .release(usize::from(qf.ingress), usize::from(qf.pg), len)
                {
                    self.signal_pause(usize::from(qf.ingress), usize::from(qf.pg), change);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of `len` bytes: addresses, a tag with `tci` if any, then a counting payload.
    fn frame(tci: Option<u16>, len: usize) -> Vec<u8> {
        let mut f: Vec<u8> = (1..=12).collect();
        if let Some(t) = tci {
            f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&t.to_be_bytes());
        }
        f.extend((0..len.saturating_sub(f.len())).map(|i| (i % 251) as u8));
        f
    }

    /// Re-tagging and untagging in the frame's own buffer (held alone) gives the bytes the
    /// copy (buffer shared) gives.
    #[test]
    fn in_place_retag_and_untag_match_the_copy() {
        for tagged in [None, Some(0x6005), Some(0x2001)] {
            for len in [30, 60, 64, 1500] {
                for tci in [None, Some(0x6005), Some(0x0064)] {
                    let queued = |data: Bytes| QueuedFrame {
                        data,
                        encapsulated: false,
                        target: Target::Front { tci },
                        ingress: 0,
                        pg: 0,
                    };
                    let bytes = frame(tagged, len);
                    let shared = Bytes::from(bytes.clone());
                    let keep = shared.clone();
                    let copied = queued(shared).render();
                    drop(keep);
                    let alone = queued(Bytes::from(bytes)).render();
                    assert_eq!(alone, copied, "tagged {tagged:?}, {len} B, to {tci:?}");
                }
            }
        }
    }
}
