//! Port backends: how a dataplane port's frames reach a wire.
//!
//! The forwarding loop runs on one OS thread, owns every port's backend, waits for readability
//! on all their file descriptors at once (`poll(2)`), then reads and writes batches. Backends are
//! therefore synchronous, **non-blocking** and batch-oriented, and each exposes an fd:
//!
//! * [`udp`] — a virtual cable: one UDP socket per end, one datagram per Ethernet frame. Needs no
//!   privileges and works between machines (the default).
//! * [`afpacket`] — a real Linux interface (a veth, or a NIC) through an AF_PACKET raw socket in
//!   promiscuous mode. Needs CAP_NET_RAW.
//! * [`mem`] — in-process pairs for the simulator and tests, woken through an eventfd so that
//!   the loop polls every backend the same way.
//!
//! Frames are whole Ethernet frames from the destination address on, without FCS, between
//! [`MIN_FRAME_LEN`] and [`MAX_FRAME_LEN`] bytes; anything else that arrives is dropped and
//! counted by the backend.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use bytes::Bytes;

pub mod afpacket;
pub mod mem;
mod sys;
pub mod udp;

pub use afpacket::AfPacketBackend;
pub use mem::MemEnd;
pub use udp::UdpBackend;

/// Shortest frame a backend delivers: an Ethernet header (two addresses and an EtherType).
pub const MIN_FRAME_LEN: usize = 14;
/// Longest frame a backend delivers (jumbo, without FCS, tags included).
pub const MAX_FRAME_LEN: usize = 9216;
/// Socket buffer size asked for each way (best effort; see [`udp`] and [`afpacket`]).
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// One port's frame I/O. Non-blocking: `recv_batch` returns `Ok(0)` when nothing is waiting.
pub trait PortBackend: Send + std::fmt::Debug {
    /// Receives up to `max` frames (each a whole Ethernet frame from the destination address
    /// on, no FCS), appending them to `out`; returns how many. Never blocks.
    fn recv_batch(&mut self, out: &mut Vec<Bytes>, max: usize) -> io::Result<usize>;
    /// Sends frames in order; returns how many were accepted (the rest would block: the caller
    /// counts them as tx drops or retries later). Never blocks.
    fn send_batch(&mut self, frames: &[Bytes]) -> io::Result<usize>;
    /// The fd to poll for readability, if any. Every backend here has one (`mem` ports expose
    /// an eventfd), so the loop can poll them uniformly.
    fn raw_fd(&self) -> Option<RawFd>;
    /// Whether a frame is waiting to be received, when the backend can tell without a system
    /// call (a memory-mapped receive ring: one load of the next slot's status word); `None`
    /// when only polling its fd can tell. Under traffic the forwarding thread busy-polls, and
    /// when every port can answer this it skips the `ppoll` altogether.
    fn rx_pending(&self) -> Option<bool> {
        None
    }
    /// A short description for logs, e.g. "udp 127.0.0.1:7001 -> 127.0.0.1:7002".
    fn describe(&self) -> String;
    /// What the backend counted itself (frames it dropped before the engine saw them);
    /// zeros for a backend that counts nothing.
    fn stats(&self) -> SocketStats {
        SocketStats::default()
    }
}

/// How to build a backend (parsed from the daemon's config elsewhere).
#[derive(Debug)]
pub enum BackendSpec {
    /// A UDP virtual cable: bind `local`, connect to `peer`.
    Udp {
        /// Local address to bind (port 0 picks a free one).
        local: SocketAddr,
        /// The other end of the cable.
        peer: SocketAddr,
    },
    /// A Linux interface through AF_PACKET.
    AfPacket {
        /// Interface name, e.g. "veth0" or "eth1".
        interface: String,
    },
    /// One end of an in-process pair made by [`mem::pair`].
    Mem(mem::MemEnd),
}

/// Opens the backend `spec` describes.
pub fn open(spec: BackendSpec) -> Result<Box<dyn PortBackend>, BackendError> {
    let backend: Box<dyn PortBackend> = match spec {
        BackendSpec::Udp { local, peer } => Box::new(UdpBackend::open(local, peer)?),
        BackendSpec::AfPacket { interface } => Box::new(AfPacketBackend::open(&interface)?),
        BackendSpec::Mem(end) => Box::new(end),
    };
    tracing::info!(backend = %backend.describe(), "port backend open");
    Ok(backend)
}

/// Why a backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The UDP local address is already bound (by another port of this daemon, or another
    /// process).
    #[error(
        "udp backend: cannot bind {addr}: address already in use (another port or process has it)"
    )]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Binding the UDP socket failed for another reason (e.g. the address is not local).
    #[error("udp backend: cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The peer can't be the other end of a cable from this local address.
    #[error("udp backend {local} -> {peer}: invalid peer: {reason}")]
    InvalidPeer {
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connecting the UDP socket to its peer failed.
    #[error("udp backend {local} -> {peer}: cannot connect: {source}")]
    Connect {
        /// Local address.
        local: SocketAddr,
        /// Peer address.
        peer: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// No interface has this name.
    #[error("afpacket backend: interface {name:?} not found (interfaces here: {})", .available.join(", "))]
    InterfaceNotFound {
        /// The name asked for.
        name: String,
        /// The interfaces that do exist.
        available: Vec<String>,
    },
    /// The OS refused an AF_PACKET socket.
    #[error("afpacket backend on {interface:?}: permission denied: AF_PACKET sockets need CAP_NET_RAW (run dataplaned as root, or `setcap cap_net_raw+ep` it)")]
    PermissionDenied {
        /// The interface asked for.
        interface: String,
    },
    /// A socket call failed while setting the port up (`step` says which).
    #[error("{backend} backend on {target}: {step} failed: {source}")]
    Setup {
        /// "udp", "afpacket" or "mem".
        backend: &'static str,
        /// What was being opened (address or interface).
        target: String,
        /// The call that failed, e.g. "bind to ifindex 4".
        step: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Waits until `port`'s fd is readable (or has an error pending), at most `timeout`; returns
/// whether it is (always `true` for a backend without an fd: just try it). For tests and simple
/// tools: the forwarding loop polls all ports' fds at once itself.
pub fn wait_readable(port: &dyn PortBackend, timeout: Duration) -> io::Result<bool> {
    match port.raw_fd() {
        Some(fd) => sys::wait_readable(fd, timeout),
        None => Ok(true),
    }
}

/// Waits until any of `fds` is readable, at most `timeout` (`None`: forever), with nanosecond
/// resolution; sets `readable[i]` for each ready one (negative fds are skipped). The forwarding
/// loop polls all its ports' fds and its waker with this.
pub fn poll_readable(
    fds: &[RawFd],
    timeout: Option<Duration>,
    readable: &mut [bool],
) -> io::Result<usize> {
    sys::poll_readable(fds, timeout, readable)
}

/// A non-blocking, close-on-exec eventfd with a count of 0: something to wake a thread that
/// polls it (writing 8 bytes of a native-endian `u64` adds to the count; reading them takes it
/// and resets it to 0).
pub fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    sys::eventfd()
}

/// Whether this process runs as root (effective uid 0), i.e. may open AF_PACKET ports and
/// create network namespaces. Tests and tools that need it check this and say why they skip.
pub fn running_as_root() -> bool {
    // The effective uid is the second field of "Uid:" (real, effective, saved, fs).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Counters the socket backends keep besides what the forwarding loop counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Received messages dropped for being shorter than [`MIN_FRAME_LEN`] or longer than
    /// [`MAX_FRAME_LEN`].
    pub malformed: u64,
    /// Times the peer was unreachable (`ECONNREFUSED` from an ICMP port-unreachable: the other
    /// end of a UDP cable is not up yet).
    pub peer_unreachable: u64,
    /// Frames consumed by `send_batch` but refused by the kernel (too long for the link, link
    /// down, ...): they count as accepted, like a NIC that drops on error.
    pub tx_errors: u64,
    /// Received frames dropped because they were our own transmissions (AF_PACKET without
    /// `PACKET_IGNORE_OUTGOING`).
    pub own_tx_filtered: u64,
}

/// How many consecutive `ECONNREFUSED`s one call swallows before giving up for now.
const MAX_REFUSED_RETRIES: u32 = 8;

/// The receive loop both socket backends share: reads up to `max` messages through `ring`,
/// turning each into a frame with `accept` (`None` drops it), counting errors into `stats`.
pub(crate) fn recv_loop(
    fd: BorrowedFd<'_>,
    ring: &mut sys::RecvRing,
    stats: &mut SocketStats,
    out: &mut Vec<Bytes>,
    max: usize,
    mut accept: impl FnMut(sys::RecvMeta, &[u8], &mut SocketStats) -> Option<Bytes>,
) -> io::Result<usize> {
    let mut delivered = 0;
    // Malformed messages use up the budget too, so one call is bounded even under a flood.
    let mut consumed = 0;
    let mut refused = 0;
    while consumed < max {
        let want = (max - consumed).min(sys::BATCH);
        match ring.recv(fd, want) {
            Ok(n) => {
                consumed += n;
                for i in 0..n {
                    let (meta, data) = ring.get(i);
                    if let Some(frame) = accept(meta, data, stats) {
                        out.push(frame);
                        delivered += 1;
                    }
                }
                if n < want {
                    break; // drained
                }
            }
            Err(e) => match classify(&e) {
                ErrClass::WouldBlock => break,
                ErrClass::Retry => continue,
                ErrClass::Refused => {
                    // The pending ICMP error was reported instead of data and is now cleared.
                    stats.peer_unreachable += 1;
                    refused += 1;
                    if refused > MAX_REFUSED_RETRIES {
                        break;
                    }
                }
                ErrClass::DropFrame if e.raw_os_error() == Some(libc::ENETDOWN) => {
                    tracing::debug!("recv: link went down");
                    break;
                }
                _ if delivered > 0 => break, // report it next call
                _ => return Err(e),
            },
        }
    }
    Ok(delivered)
}

/// The send loop both socket backends share: sends `frames` in order, batch by batch, until
/// they are all accepted or the socket would block.
pub(crate) fn send_loop(
    fd: BorrowedFd<'_>,
    stats: &mut SocketStats,
    frames: &[Bytes],
) -> io::Result<usize> {
    let mut done = 0;
    let mut refused = 0;
    while done < frames.len() {
        match sys::send_batch(fd, &frames[done..]) {
            Ok(n) => {
                done += n;
                refused = 0;
            }
            Err(e) => match classify(&e) {
                ErrClass::WouldBlock => break,
                ErrClass::Retry => continue,
                ErrClass::Refused => {
                    // The error belonged to an earlier datagram and is now cleared: retry this
                    // one, but don't spin if ICMP errors keep coming.
                    stats.peer_unreachable += 1;
                    refused += 1;
                    if refused > MAX_REFUSED_RETRIES {
                        stats.tx_errors += 1;
                        done += 1;
                        refused = 0;
                    }
                }
                ErrClass::DropFrame => {
                    tracing::trace!(error = %e, len = frames[done].len(), "send: frame refused");
                    stats.tx_errors += 1;
                    done += 1;
                }
                ErrClass::Fatal if done > 0 => break, // report it next call
                ErrClass::Fatal => return Err(e),
            },
        }
    }
    Ok(done)
}

pub(crate) enum ErrClass {
    WouldBlock,
    Retry,
    Refused,
    DropFrame,
    Fatal,
}

pub(crate) fn classify(e: &io::Error) -> ErrClass {
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::ENOBUFS) => ErrClass::WouldBlock,
        Some(libc::EINTR) => ErrClass::Retry,
        Some(libc::ECONNREFUSED) => ErrClass::Refused,
        Some(
            libc::EMSGSIZE
            | libc::EINVAL
            | libc::ENETDOWN
            | libc::ENXIO
            | libc::ENETUNREACH
            | libc::EHOSTUNREACH,
        ) => ErrClass::DropFrame,
        _ => ErrClass::Fatal,
    }
}

/// Checks a received message's length; counts and drops what a port can't carry.
pub(crate) fn length_ok(len: usize, truncated: bool, stats: &mut SocketStats) -> bool {
    if truncated || !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&len) {
        stats.malformed += 1;
        tracing::trace!(len, truncated, "dropping malformed frame");
        false
    } else {
        true
    }
}
