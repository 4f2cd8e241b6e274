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
//! * Non-blocking, batched with `recvmmsg`/`sendmmsg`.
//!
//! Needs CAP_NET_RAW ([`BackendError::PermissionDenied`] otherwise). Offloads can hand the
//! socket merged super-frames (GRO/LRO) longer than [`MAX_FRAME_LEN`]; those are dropped and
//! counted as malformed, so turn them off on real NICs (`ethtool -K IF gro off lro off`) — a
//! veth has them off by default.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use bytes::{BufMut, Bytes, BytesMut};

use super::sys::{self, RecvRing, VlanTag};
use super::{
    length_ok, recv_loop, send_loop, BackendError, PortBackend, SocketStats, MAX_FRAME_LEN,
    SOCKET_BUFFER_BYTES,
};

/// One port on a Linux interface through AF_PACKET.
#[derive(Debug)]
pub struct AfPacketBackend {
    fd: OwnedFd,
    interface: String,
    ifindex: u32,
    ignore_outgoing: bool,
    ring: RecvRing,
    stats: SocketStats,
}

impl AfPacketBackend {
    /// Opens `interface` (e.g. "veth0"): a raw socket bound to it, in promiscuous mode.
    pub fn open(interface: &str) -> Result<Self, BackendError> {
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
        let fd = sys::packet_socket().map_err(|source| match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => BackendError::PermissionDenied {
                interface: interface.to_string(),
            },
            _ => setup("socket(AF_PACKET, SOCK_RAW)".into(), source),
        })?;
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
        const PACKET_QDISC_BYPASS: libc::c_int = 20;
        if let Err(e) = sys::setsockopt_int(fd.as_fd(), libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1) {
            tracing::debug!(interface, error = %e, "PACKET_QDISC_BYPASS unavailable");
        }
        sys::add_promisc(fd.as_fd(), ifindex)
            .map_err(|e| setup(format!("promiscuous mode on ifindex {ifindex}"), e))?;
        let (rcv, snd) = sys::set_buffers(fd.as_fd(), SOCKET_BUFFER_BYTES as libc::c_int);
        tracing::debug!(interface, ifindex, rcv, snd, "afpacket socket buffers");
        sys::bind_packet(fd.as_fd(), ifindex)
            .map_err(|e| setup(format!("bind to ifindex {ifindex}"), e))?;
        Ok(AfPacketBackend {
            fd,
            interface: interface.to_string(),
            ifindex,
            ignore_outgoing,
            // One byte more than the largest frame, so that an oversized one shows.
            ring: RecvRing::new(sys::BATCH, MAX_FRAME_LEN + 1, true),
            stats: SocketStats::default(),
        })
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
        recv_loop(
            self.fd.as_fd(),
            &mut self.ring,
            &mut self.stats,
            out,
            max,
            |meta, data, stats| {
                if meta.pkttype == Some(libc::PACKET_OUTGOING) {
                    stats.own_tx_filtered += 1;
                    return None;
                }
                match meta.vlan {
                    Some(tag) if data.len() >= 12 => {
                        length_ok(data.len() + 4, meta.truncated, stats)
                            .then(|| with_tag(data, tag))
                    }
                    _ => length_ok(meta.len, meta.truncated, stats)
                        .then(|| Bytes::copy_from_slice(data)),
                }
            },
        )
    }

    fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<usize> {
        send_loop(self.fd.as_fd(), &mut self.stats, frames)
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
