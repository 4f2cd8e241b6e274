//! The UDP virtual cable: each end of a link is a UDP socket bound to its own address and
//! connected to the other end's; each datagram carries one Ethernet frame (no FCS).
//!
//! Needs no privileges and works between machines. Sockets are non-blocking, batched with
//! `recvmmsg`/`sendmmsg`, and ask for [`SOCKET_BUFFER_BYTES`] of buffer each way (best effort:
//! the kernel caps it at `net.core.rmem_max`/`wmem_max` unless we have CAP_NET_ADMIN).
//!
//! A cable whose other end is not up yet is not an error: the kernel reports the ICMP
//! port-unreachable it got back as `ECONNREFUSED` on the next call, which is counted
//! ([`SocketStats::peer_unreachable`]) and otherwise ignored — the frames are lost, as on a
//! cable plugged into a switched-off box.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use bytes::Bytes;

use super::sys::{self, RecvRing};
use super::{
    length_ok, recv_loop, send_loop, BackendError, PortBackend, SocketStats, MAX_FRAME_LEN,
    SOCKET_BUFFER_BYTES,
};

/// One end of a UDP virtual cable.
#[derive(Debug)]
pub struct UdpBackend {
    sock: UdpSocket,
    local: SocketAddr,
    peer: SocketAddr,
    ring: RecvRing,
    stats: SocketStats,
}

impl UdpBackend {
    /// Binds `local` (port 0 picks a free port; see [`UdpBackend::local_addr`]) and connects
    /// to `peer`, the other end of the cable.
    pub fn open(local: SocketAddr, peer: SocketAddr) -> Result<Self, BackendError> {
        let invalid = |reason| BackendError::InvalidPeer {
            local,
            peer,
            reason,
        };
        if local.is_ipv4() != peer.is_ipv4() {
            return Err(invalid("local and peer must both be IPv4 or both IPv6"));
        }
        if peer.port() == 0 {
            return Err(invalid("peer port 0"));
        }
        if peer.ip().is_unspecified() {
            return Err(invalid("unspecified peer address"));
        }
        let sock = UdpSocket::bind(local).map_err(|source| {
            if source.kind() == io::ErrorKind::AddrInUse {
                BackendError::AddrInUse { addr: local }
            } else {
                BackendError::Bind {
                    addr: local,
                    source,
                }
            }
        })?;
        let setup = |step: &str, source| BackendError::Setup {
            backend: "udp",
            target: local.to_string(),
            step: step.to_string(),
            source,
        };
        let bound = sock.local_addr().map_err(|e| setup("getsockname", e))?;
        sock.connect(peer).map_err(|source| BackendError::Connect {
            local: bound,
            peer,
            source,
        })?;
        sock.set_nonblocking(true)
            .map_err(|e| setup("set non-blocking", e))?;
        let (rcv, snd) = sys::set_buffers(sock.as_fd(), SOCKET_BUFFER_BYTES as libc::c_int);
        if (rcv as usize) < SOCKET_BUFFER_BYTES || (snd as usize) < SOCKET_BUFFER_BYTES {
            tracing::debug!(
                local = %bound, rcv, snd,
                "udp backend: socket buffers smaller than asked (raise net.core.rmem_max/wmem_max)"
            );
        }
        Ok(UdpBackend {
            sock,
            local: bound,
            peer,
            // One byte more than the largest frame, so that an oversized datagram shows.
            ring: RecvRing::new(sys::BATCH, MAX_FRAME_LEN + 1, false),
            stats: SocketStats::default(),
        })
    }

    /// The bound local address (with the real port if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The other end of the cable.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Datagrams dropped for being shorter than 14 bytes or longer than [`MAX_FRAME_LEN`].
    pub fn malformed(&self) -> u64 {
        self.stats.malformed
    }

    /// All of this end's counters.
    pub fn stats(&self) -> SocketStats {
        self.stats
    }
}

impl PortBackend for UdpBackend {
    fn recv_batch(&mut self, out: &mut Vec<Bytes>, max: usize) -> io::Result<usize> {
        recv_loop(
            self.sock.as_fd(),
            &mut self.ring,
            &mut self.stats,
            out,
            max,
            |meta, data, stats| {
                length_ok(meta.len, meta.truncated, stats).then(|| Bytes::copy_from_slice(data))
            },
        )
    }

    fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<usize> {
        send_loop(self.sock.as_fd(), &mut self.stats, frames)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn describe(&self) -> String {
        format!("udp {} -> {}", self.local, self.peer)
    }

    fn stats(&self) -> SocketStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn lo(port: u16) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, port).into()
    }

    #[test]
    fn rejects_bad_peers() {
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert!(matches!(
            UdpBackend::open(lo(0), v6),
            Err(BackendError::InvalidPeer { .. })
        ));
        assert!(matches!(
            UdpBackend::open(lo(0), lo(0)),
            Err(BackendError::InvalidPeer { .. })
        ));
        let unspecified: SocketAddr = (Ipv4Addr::UNSPECIFIED, 9).into();
        assert!(matches!(
            UdpBackend::open(lo(0), unspecified),
            Err(BackendError::InvalidPeer { .. })
        ));
    }

    #[test]
    fn address_in_use_names_the_address() {
        let a = UdpBackend::open(lo(0), lo(9)).unwrap();
        let err = UdpBackend::open(a.local_addr(), lo(9)).unwrap_err();
        assert!(matches!(err, BackendError::AddrInUse { addr } if addr == a.local_addr()));
        let msg = err.to_string();
        assert!(msg.contains(&a.local_addr().to_string()), "{msg}");
        assert!(msg.contains("already in use"), "{msg}");
    }
}
