//! A real Linux interface (a veth in a network namespace, or a NIC) as a port, through an
//! AF_PACKET `SOCK_RAW` socket bound to the interface.
//!
//! * The interface is looked up by name with `pnet_datalink::interfaces()`.
//! * It is put in promiscuous mode for the life of the socket (`PACKET_MR_PROMISC`): a switch
//!   port receives every frame, not just those for its own MAC.
//! * Our own transmissions are not received back: `PACKET_IGNORE_OUTGOING` (Linux ≥ 4.20), and
//!   in any case every frame whose `sll_pkttype` is `PACKET_OUTGOING` is dropped.
//! * VLAN tags: the kernel strips the outer 802.1Q/802.1ad tag of received frames into
//!   `PACKET_AUXDATA`; this backend puts it back (with its TPID, PCP, DEI and VID — including
//!   priority-tagged VID 0 frames, whose PCP PFC needs), so the switch sees frames as they were
//!   on the wire. Sent frames go out exactly as given, tags included.
//! * Non-blocking, through memory-mapped rings (`TPACKET_V2` `PACKET_RX_RING` and
//!   `PACKET_TX_RING`): frames are read from the receive ring with no system call, and a batch
//!   to send is written into the transmit ring and handed over with one `send`. Received frames
//!   too long for a ring slot (over 1982 bytes) arrive whole through the socket queue
//!   (`TP_STATUS_COPY`); frames to send that are too long for a slot, or longer than the
//!   interface's MTU allows, go out through a second, send-only socket, after the ring has been
//!   flushed, so order is kept. If the rings can't be set up (or `DATAPLANED_AFPACKET_RINGS=0`
//!   is set) the backend logs a warning and copies frames with `recvmmsg`/`sendmmsg` instead.
//!
//! Needs CAP_NET_RAW ([`BackendError::PermissionDenied`] otherwise). Offloads can hand the
//! socket merged super-frames (GRO/LRO) longer than [`MAX_FRAME_LEN`]; those are dropped and
//! counted as malformed, so turn them off on real NICs (`ethtool -K IF gro off lro off`) — a
//! veth has them off by default.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use super::sys::{self, PacketRings, RecvMeta, RecvRing, VlanTag};
use super::{
    classify, length_ok, recv_loop, send_loop, BackendError, ErrClass, PortBackend, SocketStats,
    MAX_FRAME_LEN, SOCKET_BUFFER_BYTES,
};

/// Environment variable that turns the memory-mapped rings off when set to `0`.
pub const RINGS_ENV: &str = "DATAPLANED_AFPACKET_RINGS";

/// How often the interface's MTU is looked up again (it decides which frames may go through
/// the transmit ring).
const MTU_REFRESH: Duration = Duration::from_secs(1);

/// How frames move between the socket and user space.
#[derive(Debug)]
enum Io {
    /// Copied by `recvmmsg`/`sendmmsg`.
    Copy,
    /// Memory-mapped rings.
    Rings {
        rings: PacketRings,
        /// A send-only socket on the same interface, for frames the transmit ring can't take.
        long_tx: OwnedFd,
        /// The interface's MTU, as last looked up, and when.
        mtu: usize,
        mtu_at: Instant,
    },
}

/// One port on a Linux interface through AF_PACKET.
#[derive(Debug)]
pub struct AfPacketBackend {
    // Dropped first: the rings are unmapped before their socket closes.
    io: Io,
    fd: OwnedFd,
    interface: String,
    ifindex: u32,
    ignore_outgoing: bool,
    ring: RecvRing,
    stats: SocketStats,
}

/// The interface's MTU from sysfs; 1500 when it can't be read (longer frames then take the
/// plain socket, where the kernel decides).
fn interface_mtu(interface: &str) -> usize {
    std::fs::read_to_string(format!("/sys/class/net/{interface}/mtu"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1500)
}

impl AfPacketBackend {
    /// Opens `interface` (e.g. "veth0"): a raw socket bound to it, in promiscuous mode, with
    /// memory-mapped rings (falling back to copying, with a warning, if they can't be set up
    /// or the environment variable [`RINGS_ENV`] is `0`).
    pub fn open(interface: &str) -> Result<Self, BackendError> {
        let rings = std::env::var(RINGS_ENV).map_or(true, |v| v.trim() != "0");
        if !rings {
            tracing::warn!(
                interface,
                "afpacket backend: {RINGS_ENV}=0: copying frames with recvmmsg/sendmmsg"
            );
        }
        Self::open_with(interface, rings)
    }

    /// Opens `interface` like [`AfPacketBackend::open`], but copying frames with
    /// `recvmmsg`/`sendmmsg`, without the memory-mapped rings.
    pub fn open_copying(interface: &str) -> Result<Self, BackendError> {
        Self::open_with(interface, false)
    }

    fn open_with(interface: &str, want_rings: bool) -> Result<Self, BackendError> {
        let all = pnet_datalink::interfaces();
        let Some(found) = all.iter().find(|i| i.name == interface) else {
            return Err(BackendError::InterfaceNotFound {
                name: interface.to_string(),
                available: all.iter().map(|i| i.name.clone()).collect(),
            });
        };
        let ifindex = found.index;
        if !found.is_up() {
            tracing::warn!(
                interface,
                "afpacket backend: interface is down; frames flow once it is up"
            );
        }
        let setup = |step: String, source| BackendError::Setup {
            backend: "afpacket",
            target: interface.to_string(),
            step,
            source,
        };
        let socket = || {
            sys::packet_socket().map_err(|source| match source.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => BackendError::PermissionDenied {
                    interface: interface.to_string(),
                },
                _ => setup("socket(AF_PACKET, SOCK_RAW)".into(), source),
            })
        };
        let mut fd = socket()?;
        // The rings first, on the unbound socket, so that no frame is queued the old way.
        let mut rings = None;
        if want_rings {
            match PacketRings::setup(fd.as_fd()) {
                Ok(r) => rings = Some(r),
                Err(e) => {
                    tracing::warn!(interface, error = %e,
                        "afpacket backend: memory-mapped rings unavailable: copying frames with recvmmsg/sendmmsg");
                    // Start again on a clean socket: the failed setup may have left options set.
                    fd = socket()?;
                }
            }
        }
        // Options first: the socket receives nothing until it is bound below.
        sys::setsockopt_int(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)
            .map_err(|e| setup("setsockopt(PACKET_AUXDATA)".into(), e))?;
        let ignore_outgoing = match sys::setsockopt_int(
            fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            1,
        ) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(interface, error = %e,
                    "PACKET_IGNORE_OUTGOING unavailable (Linux < 4.20?): filtering own frames by sll_pkttype");
                false
            }
        };
        // Transmit straight to the driver, skipping the qdisc layer (Linux ≥ 3.14): a switch
        // port schedules its own egress, and the qdisc's enqueue/dequeue was a large part of
        // sendmmsg's cost. Best effort: without it frames go through the qdisc as before.
        if let Err(e) = sys::setsockopt_int(fd.as_fd(), libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1) {
            tracing::debug!(interface, error = %e, "PACKET_QDISC_BYPASS unavailable");
        }
        sys::add_promisc(fd.as_fd(), ifindex)
            .map_err(|e| setup(format!("promiscuous mode on ifindex {ifindex}"), e))?;
        let (rcv, snd) = sys::set_buffers(fd.as_fd(), SOCKET_BUFFER_BYTES as libc::c_int);
        tracing::debug!(interface, ifindex, rcv, snd, "afpacket socket buffers");
        let io = match rings {
            None => Io::Copy,
            Some(rings) => {
                // Protocol 0: this socket receives nothing; it only sends.
                let long_tx = socket()?;
                if let Err(e) =
                    sys::setsockopt_int(long_tx.as_fd(), libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1)
                {
                    tracing::debug!(interface, error = %e, "PACKET_QDISC_BYPASS unavailable");
                }
                sys::set_buffers(long_tx.as_fd(), SOCKET_BUFFER_BYTES as libc::c_int);
                sys::bind_packet_proto(long_tx.as_fd(), ifindex, 0)
                    .map_err(|e| setup(format!("bind send-only socket to ifindex {ifindex}"), e))?;
                Io::Rings {
                    rings,
                    long_tx,
                    mtu: interface_mtu(interface),
                    mtu_at: Instant::now(),
                }
            }
        };
        let slots = if matches!(io, Io::Rings { .. }) {
            1 // only for the occasional frame too long for a ring slot
        } else {
            sys::BATCH
        };
        sys::bind_packet(fd.as_fd(), ifindex)
            .map_err(|e| setup(format!("bind to ifindex {ifindex}"), e))?;
        tracing::debug!(
            interface,
            rings = matches!(io, Io::Rings { .. }),
            "afpacket port open"
        );
        Ok(AfPacketBackend {
            io,
            fd,
            interface: interface.to_string(),
            ifindex,
            ignore_outgoing,
            // One byte more than the largest frame, so that an oversized one shows.
            // (With rings, room for the virtio-net header in front of the frame too.)
            ring: RecvRing::new(slots, MAX_FRAME_LEN + 1 + 16, true),
            stats: SocketStats::default(),
        })
    }

    /// Whether frames move through memory-mapped rings (rather than being copied by
    /// `recvmmsg`/`sendmmsg`).
    pub fn uses_rings(&self) -> bool {
        matches!(self.io, Io::Rings { .. })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Whether the kernel filters our own transmissions (`PACKET_IGNORE_OUTGOING`); if not,
    /// this backend does, by `sll_pkttype`.
    pub fn ignores_outgoing_in_kernel(&self) -> bool {
        self.ignore_outgoing
    }

    /// Frames dropped for being shorter than 14 bytes or longer than [`MAX_FRAME_LEN`]
    /// (after re-inserting a stripped VLAN tag).
    pub fn malformed(&self) -> u64 {
        self.stats.malformed
    }

    /// All of this port's counters.
    pub fn stats(&self) -> SocketStats {
        self.stats
    }
}

/// `PACKET_QDISC_BYPASS` (Linux ≥ 3.14).
const PACKET_QDISC_BYPASS: libc::c_int = 20;

/// A received message as the switch sees it: `None` (counted) for our own transmissions and
/// frames of the wrong length; a stripped VLAN tag put back.
fn frame_from(meta: RecvMeta, data: &[u8], stats: &mut SocketStats) -> Option<Bytes> {
    if meta.pkttype == Some(libc::PACKET_OUTGOING) {
        stats.own_tx_filtered += 1;
        return None;
    }
    match meta.vlan {
        Some(tag) if data.len() >= 12 => {
            length_ok(data.len() + 4, meta.truncated, stats).then(|| with_tag(data, tag))
        }
        _ => length_ok(meta.len, meta.truncated, stats).then(|| Bytes::copy_from_slice(data)),
    }
}

/// Reads from the receive ring (see [`AfPacketBackend::recv_batch`]).
fn recv_rings(
    rings: &mut PacketRings,
    fd: BorrowedFd<'_>,
    queue: &mut RecvRing,
    stats: &mut SocketStats,
    out: &mut Vec<Bytes>,
    max: usize,
) -> usize {
    let mut delivered = 0;
    let vnet = rings.vnet_hdr_len();
    for _ in 0..max {
        let got = rings.rx_next(|rx| {
            if !rx.copied {
                return frame_from(rx.meta, rx.data, stats);
            }
            // Too long for the slot: the whole frame is next on the socket queue (one queued
            // frame per such slot, in order). Take it even if we drop it, to stay in step.
            match queue.recv(fd, 1) {
                Ok(1) => {
                    // Through the queue the frame comes after the socket's virtio-net header.
                    let (meta, data) = queue.get(0);
                    let skip = vnet.min(data.len());
                    let meta = RecvMeta {
                        pkttype: rx.meta.pkttype,
                        len: meta.len - skip,
                        ..meta
                    };
                    frame_from(meta, &data[skip..], stats)
                }
                _ => {
                    stats.malformed += 1;
                    None
                }
            }
        });
        match got {
            None => break,
            Some(Some(frame)) => {
                out.push(frame);
                delivered += 1;
            }
            Some(None) => {}
        }
    }
    delivered
}

/// Hands the transmit ring's marked slots to the kernel. A frame the driver drops stops the
/// kernel's pass with `ENOBUFS` (the frame is gone, as on a NIC); go on with the rest.
fn kick(rings: &PacketRings, fd: BorrowedFd<'_>) {
    for _ in 0..sys::BATCH {
        match rings.tx_kick(fd) {
            Ok(()) => return,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ENOBUFS)) => continue,
            Err(e) => {
                tracing::trace!(error = %e, "transmit ring kick");
                return;
            }
        }
    }
}

/// Puts a VLAN tag the kernel stripped back after the two MAC addresses.
fn with_tag(data: &[u8], tag: VlanTag) -> Bytes {
    let mut f = BytesMut::with_capacity(data.len() + 4);
    f.put_slice(&data[..12]);
    f.put_u16(tag.tpid);
    f.put_u16(tag.tci);
    f.put_slice(&data[12..]);
    f.freeze()
}

impl PortBackend for AfPacketBackend {
    fn recv_batch(&mut self, out: &mut Vec<Bytes>, max: usize) -> io::Result<usize> {
        match &mut self.io {
            Io::Rings { rings, .. } => Ok(recv_rings(
                rings,
                self.fd.as_fd(),
                &mut self.ring,
                &mut self.stats,
                out,
                max,
            )),
            Io::Copy => recv_loop(
                self.fd.as_fd(),
                &mut self.ring,
                &mut self.stats,
                out,
                max,
                frame_from,
            ),
        }
    }

    fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<usize> {
        let Io::Rings {
            rings,
            long_tx,
            mtu,
            mtu_at,
        } = &mut self.io
        else {
            return send_loop(self.fd.as_fd(), &mut self.stats, frames);
        };
        if mtu_at.elapsed() >= MTU_REFRESH {
            *mtu = interface_mtu(&self.interface);
            *mtu_at = Instant::now();
        }
        // The kernel refuses (and logs) ring frames longer than MTU + header; send those, and
        // frames too long for a slot, on the plain socket, where it says why.
        let ring_max = rings.tx_max().min(*mtu + 14);
        let fd = self.fd.as_fd();
        let mut done = 0;
        let mut marked = false;
        while done < frames.len() {
            let frame = &frames[done];
            if frame.len() <= ring_max {
                if rings.tx_push(frame) {
                    done += 1;
                    marked = true;
                    continue;
                }
                if !marked {
                    break; // full of frames in flight: would block
                }
                kick(rings, fd);
                marked = false;
                continue;
            }
            // Keep the order: what is in the ring leaves first.
            if marked {
                kick(rings, fd);
                marked = false;
            }
            match sys::send_one(long_tx.as_fd(), frame) {
                Ok(()) => done += 1,
                Err(e) => match classify(&e) {
                    ErrClass::WouldBlock => break,
                    ErrClass::Retry => continue,
                    ErrClass::Refused | ErrClass::DropFrame => {
                        tracing::trace!(error = %e, len = frame.len(), "send: frame refused");
                        self.stats.tx_errors += 1;
                        done += 1;
                    }
                    ErrClass::Fatal if done > 0 => break,
                    ErrClass::Fatal => return Err(e),
                },
            }
        }
        if marked {
            kick(rings, fd);
        }
        Ok(done)
    }

    fn rx_pending(&self) -> Option<bool> {
        match &self.io {
            // A frame too long for its slot is announced by a slot too (TP_STATUS_COPY), so
            // the ring's next slot tells for the socket queue as well.
            Io::Rings { rings, .. } => Some(rings.rx_ready()),
            Io::Copy => None,
        }
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn describe(&self) -> String {
        format!("afpacket {} (ifindex {})", self.interface, self.ifindex)
    }

    fn stats(&self) -> SocketStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_goes_back_after_the_addresses() {
        let mut frame = vec![0xaa; 6];
        frame.extend([0xbb; 6]);
        frame.extend([0x88, 0xb5, 1, 2, 3]);
        let tagged = with_tag(
            &frame,
            VlanTag {
                tpid: 0x8100,
                tci: 0xa064,
            },
        );
        assert_eq!(&tagged[..12], &frame[..12]);
        assert_eq!(&tagged[12..16], &[0x81, 0x00, 0xa0, 0x64]);
        assert_eq!(&tagged[16..], &frame[12..]);
    }

    #[test]
    fn unknown_interface_lists_the_real_ones() {
        let err = AfPacketBackend::open("no-such-if0").unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, BackendError::InterfaceNotFound { .. }),
            "{msg}"
        );
        assert!(msg.contains("no-such-if0") && msg.contains("lo"), "{msg}");
    }
}
