//! Thin safe wrappers over the Linux calls the backends need and `std` does not offer:
//! `recvmmsg`/`sendmmsg` (with `sockaddr_ll` and `PACKET_AUXDATA` control messages for
//! AF_PACKET), AF_PACKET socket setup, `setsockopt`, `eventfd` and `poll`.
//!
//! This is the only module of the crate that may use `unsafe`: every block is a single FFI call
//! (or a walk over what the kernel just wrote) with its `SAFETY:` argument next to it. Everything
//! exported from here is a safe function over owned or borrowed file descriptors.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use bytes::Bytes;

/// Most messages one `recvmmsg`/`sendmmsg` call handles (also the size of the on-stack header
/// arrays, so that no raw pointers are stored and the backends stay `Send`).
pub(crate) const BATCH: usize = 64;

/// Control buffer per receive slot, in 8-byte words (aligned for `cmsghdr`): room for one
/// `tpacket_auxdata` message with plenty to spare.
const CTRL_WORDS: usize = 16;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `setsockopt` of one plain C value. Private: only called with `c_int` and `packet_mreq`,
/// plain-old-data types the kernel reads as bytes.
fn setsockopt_raw<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialised `T` of `size_of::<T>()` bytes for the whole
    // call and the kernel only reads it; `fd` is an open descriptor (borrowed).
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &value)
}

/// Reads an integer socket option.
pub(crate) fn getsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; the kernel writes at most `len` (= 4) bytes
    // into `value` and updates `len`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Asks for socket buffers of `bytes` each way, best effort: plain `SO_RCVBUF`/`SO_SNDBUF`
/// (capped by `net.core.{r,w}mem_max`), then the `*FORCE` variants, which work with
/// CAP_NET_ADMIN. Returns the sizes the kernel reports (it doubles what it is given).
pub(crate) fn set_buffers(fd: BorrowedFd<'_>, bytes: libc::c_int) -> (libc::c_int, libc::c_int) {
    let mut got = [0; 2];
    for (i, (plain, force)) in [
        (libc::SO_RCVBUF, libc::SO_RCVBUFFORCE),
        (libc::SO_SNDBUF, libc::SO_SNDBUFFORCE),
    ]
    .into_iter()
    .enumerate()
    {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, bytes);
        let now = getsockopt_int(fd, libc::SOL_SOCKET, plain).unwrap_or(0);
        if now < bytes {
            let _ = setsockopt_int(fd, libc::SOL_SOCKET, force, bytes);
        }
        got[i] = getsockopt_int(fd, libc::SOL_SOCKET, plain).unwrap_or(0);
    }
    (got[0], got[1])
}

/// Opens an AF_PACKET `SOCK_RAW` socket, non-blocking and close-on-exec, with protocol 0 so
/// that it receives nothing until [`bind_packet`] names an interface and a protocol.
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; no memory is passed.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2), is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds an AF_PACKET socket to one interface, receiving every protocol (`ETH_P_ALL`).
pub(crate) fn bind_packet(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    bind_packet_proto(fd, ifindex, libc::ETH_P_ALL as u16)
}

/// Binds an AF_PACKET socket to one interface for `protocol` (0: receive nothing, send only).
pub(crate) fn bind_packet_proto(fd: BorrowedFd<'_>, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: all-zero bytes are a valid `sockaddr_ll` (integers and a byte array).
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `sll` is a live, initialised sockaddr_ll and the length passed is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Puts the interface in promiscuous mode for as long as this socket lives
/// (`PACKET_ADD_MEMBERSHIP` / `PACKET_MR_PROMISC`; the kernel drops it when the socket closes).
pub(crate) fn add_promisc(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    setsockopt_raw(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
}

/// A non-blocking, close-on-exec eventfd (used by `mem` ports to wake a poller).
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments; no memory is passed.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by eventfd(2), is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until `fd` is readable (or has an error pending), at most `timeout`. Returns whether
/// it is. Retries on EINTR with the full timeout (good enough for tests and tools).
pub(crate) fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: `pfd` is one live pollfd and we pass a count of 1. A stale fd number is
        // memory-safe here: poll reports it as POLLNVAL.
        match cvt(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Ok(_) if pfd.revents & libc::POLLNVAL != 0 => {
                return Err(io::Error::from_raw_os_error(libc::EBADF))
            }
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits until any of `fds` is readable (or has an error pending), at most `timeout` (`None`:
/// forever), with nanosecond resolution (`ppoll`): the forwarding loop's timers need better than
/// poll's milliseconds. Negative fds are ignored. Sets `readable[i]` for each ready fd.
pub(crate) fn poll_readable(
    fds: &[RawFd],
    timeout: Option<Duration>,
    readable: &mut [bool],
) -> io::Result<usize> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    let n = loop {
        // SAFETY: `pfds` is a live array of `pfds.len()` pollfds; `ts_ptr` is null or points at
        // `ts`, which outlives the call; a null sigmask leaves the signal mask alone. Negative
        // fds are ignored by ppoll, stale ones are reported as POLLNVAL: memory-safe either way.
        match cvt(unsafe {
            libc::ppoll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                ts_ptr,
                std::ptr::null(),
            )
        }) {
            Ok(n) => break n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    for (r, p) in readable.iter_mut().zip(&pfds) {
        *r = p.fd >= 0 && p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    }
    Ok(n)
}

/// An 802.1Q/802.1ad tag the kernel took off a received frame (`PACKET_AUXDATA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VlanTag {
    /// The tag protocol identifier (0x8100, 0x88a8, ...).
    pub tpid: u16,
    /// PCP, DEI and VID as on the wire.
    pub tci: u16,
}

/// What the kernel said about one received message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RecvMeta {
    /// Bytes stored in the slot.
    pub len: usize,
    /// The message did not fit the slot (`MSG_TRUNC`).
    pub truncated: bool,
    /// `sll_pkttype` (AF_PACKET rings only).
    pub pkttype: Option<u8>,
    /// The VLAN tag stripped by the kernel, if any (AF_PACKET rings only).
    pub vlan: Option<VlanTag>,
}

/// Preallocated receive buffers for one socket: `slots` slots of `slot_len` bytes, plus (for
/// AF_PACKET) an address and a control buffer per slot. Reused by every call.
pub(crate) struct RecvRing {
    slot_len: usize,
    slots: usize,
    packet_meta: bool,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_ll>,
    ctrl: Vec<u64>,
    meta: Vec<RecvMeta>,
}

impl std::fmt::Debug for RecvRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvRing")
            .field("slots", &self.slots)
            .field("slot_len", &self.slot_len)
            .field("packet_meta", &self.packet_meta)
            .finish()
    }
}

impl RecvRing {
    /// A ring of `slots` (at most [`BATCH`]) buffers of `slot_len` bytes; `packet_meta` asks
    /// for the `sockaddr_ll` and `PACKET_AUXDATA` of each message (AF_PACKET).
    pub(crate) fn new(slots: usize, slot_len: usize, packet_meta: bool) -> Self {
        let slots = slots.clamp(1, BATCH);
        let n_meta = if packet_meta { slots } else { 0 };
        RecvRing {
            slot_len,
            slots,
            packet_meta,
            bufs: vec![0; slots * slot_len],
            // SAFETY: all-zero bytes are a valid `sockaddr_ll`.
            addrs: vec![unsafe { std::mem::zeroed() }; n_meta],
            ctrl: vec![0; n_meta * CTRL_WORDS],
            meta: vec![RecvMeta::default(); slots],
        }
    }

    /// Receives up to `want` messages without blocking (`recvmmsg` with `MSG_DONTWAIT`);
    /// returns how many, each then readable with [`RecvRing::get`]. `WouldBlock` when none.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>, want: usize) -> io::Result<usize> {
        let n = want.clamp(1, self.slots);
        // SAFETY: all-zero bytes are valid `iovec`s and `mmsghdr`s (null pointers, zero
        // lengths); we fill in the ones we pass below.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let base = self.bufs.as_mut_ptr();
        let addrs = self.addrs.as_mut_ptr();
        let ctrl = self.ctrl.as_mut_ptr();
        for i in 0..n {
            iov[i].iov_base = base.wrapping_add(i * self.slot_len).cast();
            iov[i].iov_len = self.slot_len;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            if self.packet_meta {
                h.msg_name = addrs.wrapping_add(i).cast();
                h.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                h.msg_control = ctrl.wrapping_add(i * CTRL_WORDS).cast();
                h.msg_controllen = CTRL_WORDS * 8;
            }
        }
        // SAFETY: `hdrs[..n]` each describe one iovec over slot i of `self.bufs` (slot_len
        // bytes, in bounds since n <= slots), and for packet rings `self.addrs[i]` and control
        // words `i*CTRL_WORDS..` (in bounds, u64-aligned as cmsghdr needs). All of these live
        // across the call and nothing else aliases them; a null timeout is allowed.
        let got = cvt(unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        })? as usize;
        for (i, hdr) in hdrs.iter().enumerate().take(got) {
            let h = &hdr.msg_hdr;
            let mut m = RecvMeta {
                len: (hdr.msg_len as usize).min(self.slot_len),
                truncated: h.msg_flags & libc::MSG_TRUNC != 0,
                pkttype: None,
                vlan: None,
            };
            if self.packet_meta {
                m.pkttype = Some(self.addrs[i].sll_pkttype);
                m.vlan = parse_auxdata(h);
            }
            self.meta[i] = m;
        }
        Ok(got)
    }

    /// Message `i` of the last [`RecvRing::recv`]: what the kernel said, and its bytes.
    pub(crate) fn get(&self, i: usize) -> (RecvMeta, &[u8]) {
        let m = self.meta[i];
        let start = i * self.slot_len;
        (m, &self.bufs[start..start + m.len])
    }
}

/// Finds a `PACKET_AUXDATA` control message with a valid VLAN tag in what the kernel returned.
fn parse_auxdata(h: &libc::msghdr) -> Option<VlanTag> {
    if h.msg_control.is_null() || h.msg_controllen == 0 {
        return None;
    }
    let need = size_of::<libc::tpacket_auxdata>();
    // SAFETY: `h` was filled by recvmmsg: `msg_control` points into our control buffer and
    // `msg_controllen` is the number of bytes the kernel wrote there (no more than offered).
    // CMSG_FIRSTHDR/CMSG_NXTHDR stay within those bounds; we read a header's fields only for a
    // non-null header and the payload (unaligned) only when `cmsg_len` says it is all there.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let hdr = std::ptr::read_unaligned(c);
            if hdr.cmsg_level == libc::SOL_PACKET
                && hdr.cmsg_type == libc::PACKET_AUXDATA
                && hdr.cmsg_len >= libc::CMSG_LEN(need as libc::c_uint) as usize
            {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID == 0 {
                    return None;
                }
                let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    0x8100
                };
                return Some(VlanTag {
                    tpid,
                    tci: aux.tp_vlan_tci,
                });
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// Sends up to [`BATCH`] of `frames` in order without blocking (`sendmmsg` with
/// `MSG_DONTWAIT`) on a connected or bound socket; returns how many the kernel took. An error
/// comes back only when the first one fails (the kernel's rule).
pub(crate) fn send_batch(fd: BorrowedFd<'_>, frames: &[Bytes]) -> io::Result<usize> {
    let n = frames.len().min(BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: all-zero bytes are valid `iovec`s and `mmsghdr`s; we fill in the ones we pass.
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, f) in frames.iter().take(n).enumerate() {
        iov[i].iov_base = f.as_ptr().cast_mut().cast();
        iov[i].iov_len = f.len();
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `hdrs[..n]` each point at one iovec over a live `Bytes` (borrowed for the call);
    // sendmmsg only reads the frame bytes (the `*mut` is the C signature), and writes only
    // `msg_len` into our own `hdrs`.
    let sent = cvt(unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    })?;
    Ok(sent as usize)
}

/// Bytes per slot of the memory-mapped rings (`TPACKET_V2`): the slot header, the
/// `sockaddr_ll` and the frame. Received frames longer than fit come through the socket queue
/// instead (`TP_STATUS_COPY`); longer frames to send go through a plain socket.
pub(crate) const RING_FRAME_SIZE: usize = 2048;
/// Slots of the receive ring: 16 MiB at [`RING_FRAME_SIZE`]. It buffers what arrives while the
/// forwarding thread is busy or descheduled (the copying path's 4 MiB socket buffer held about
/// 5,000 small frames).
pub(crate) const RX_RING_FRAMES: usize = 8192;
/// Slots of the transmit ring (4 MiB): frames in flight, sent but not yet freed by the driver.
pub(crate) const TX_RING_FRAMES: usize = 2048;
/// Ring block size (a multiple of the page size holding a whole number of slots).
const RING_BLOCK_SIZE: usize = 64 << 10;
/// Where a transmit slot's frame starts: `TPACKET2_HDRLEN - sizeof(sockaddr_ll)`, the
/// kernel's rule when `PACKET_TX_HAS_OFF` is not set.
const TX_DATA_OFFSET: usize = libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();
/// `sizeof(struct virtio_net_hdr)`.
const VNET_HDR_LEN: usize = 10;
/// Where the `sockaddr_ll` of a receive slot starts: `TPACKET_ALIGN(sizeof(tpacket2_hdr))`.
const RX_ADDR_OFFSET: usize = libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();

/// One frame taken from the receive ring.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingRx<'a> {
    /// Length, truncation, `sll_pkttype` and stripped VLAN tag, as for [`RecvRing`].
    pub meta: RecvMeta,
    /// The frame's bytes in the slot (`meta.len` of them).
    pub data: &'a [u8],
    /// The slot only holds the beginning of a frame too long for it; the whole frame is on
    /// the socket's receive queue (`TP_STATUS_COPY`), to be read with a plain receive.
    pub copied: bool,
}

/// An AF_PACKET socket's memory-mapped receive and transmit rings (`PACKET_RX_RING` and
/// `PACKET_TX_RING`, `TPACKET_V2`: fixed-size slots, each with a status word that says whether
/// the kernel or user space owns it). One `mmap` covers both, receive ring first.
///
/// Receiving reads the slots the kernel has filled, with no system call; transmitting fills
/// free slots and hands them all to the kernel with one `send` ([`PacketRings::tx_kick`]).
pub(crate) struct PacketRings {
    map: std::ptr::NonNull<u8>,
    map_len: usize,
    /// Bytes of `virtio_net_hdr` in front of every frame sent (0 without `PACKET_VNET_HDR`).
    vnet: usize,
    rx_frames: usize,
    tx_frames: usize,
    rx_head: usize,
    tx_head: usize,
}

// SAFETY: `PacketRings` owns its mapping outright (nothing else in this process points into it)
// and every access goes through `&mut self` or reads our own slot's atomic status word; moving
// it to another thread moves that ownership, which is all `Send` needs.
unsafe impl Send for PacketRings {}

impl std::fmt::Debug for PacketRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketRings")
            .field("rx_frames", &self.rx_frames)
            .field("tx_frames", &self.tx_frames)
            .field("frame_size", &RING_FRAME_SIZE)
            .field("rx_head", &self.rx_head)
            .field("tx_head", &self.tx_head)
            .finish()
    }
}

impl PacketRings {
    /// Switches `fd` (an unbound AF_PACKET socket) to `TPACKET_V2`, asks for a receive and a
    /// transmit ring ([`RX_RING_FRAMES`] and [`TX_RING_FRAMES`] slots), and maps them. `PACKET_LOSS` is set so that
    /// a frame the kernel refuses to send is skipped instead of stopping the transmit ring, and
    /// `PACKET_COPY_THRESH` so that received frames too long for a slot are queued whole.
    pub(crate) fn setup(fd: BorrowedFd<'_>) -> io::Result<PacketRings> {
        setsockopt_int(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V2 as libc::c_int,
        )?;
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_LOSS, 1)?;
        setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_COPY_THRESH, 1)?;
        // A virtio-net header in front of each frame sent lets us ask for the whole frame in
        // the skb's linear part (`hdr_len`). Without it the kernel copies only the Ethernet
        // header and attaches the rest as zero-copy fragments of the ring, which a veth crossing
        // into another namespace then copies again into a freshly allocated page, per frame.
        // Best effort: without it frames go out as fragments.
        let vnet = match setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1) {
            Ok(()) => VNET_HDR_LEN,
            Err(_) => 0,
        };
        let req = |frames: usize| libc::tpacket_req {
            tp_block_size: RING_BLOCK_SIZE as libc::c_uint,
            tp_block_nr: (frames * RING_FRAME_SIZE / RING_BLOCK_SIZE) as libc::c_uint,
            tp_frame_size: RING_FRAME_SIZE as libc::c_uint,
            tp_frame_nr: frames as libc::c_uint,
        };
        setsockopt_raw(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &req(RX_RING_FRAMES),
        )?;
        setsockopt_raw(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_TX_RING,
            &req(TX_RING_FRAMES),
        )?;
        let map_len = (RX_RING_FRAMES + TX_RING_FRAMES) * RING_FRAME_SIZE;
        // SAFETY: a fresh shared mapping of the socket's rings at an address of the kernel's
        // choosing (no existing memory is affected); the length is exactly both rings' size,
        // as packet_mmap requires. The result is checked for MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = std::ptr::NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(PacketRings {
            map,
            map_len,
            vnet,
            rx_frames: RX_RING_FRAMES,
            tx_frames: TX_RING_FRAMES,
            rx_head: 0,
            tx_head: 0,
        })
    }

    /// Slot `i` of the receive ring (`rx = true`) or the transmit ring.
    fn slot(&self, rx: bool, i: usize) -> *mut u8 {
        // In bounds: the mapping holds rx_frames + tx_frames slots, receive ring first.
        let index = if rx {
            i % self.rx_frames
        } else {
            self.rx_frames + i % self.tx_frames
        };
        self.map.as_ptr().wrapping_add(index * RING_FRAME_SIZE)
    }

    /// The status word at the start of a slot, shared with the kernel.
    fn status(&self, slot: *mut u8) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: `slot` comes from `self.slot`: the start of a slot of our mapping, 2048-byte
        // aligned (so 4-byte aligned) and valid for reads and writes as long as `self`, which
        // the returned reference cannot outlive. The kernel accesses the word with
        // barrier-ordered loads and stores too, so treating it as atomic is what it expects.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(slot.cast::<u32>()) }
    }

    /// Takes the next frame the kernel has handed over, if any, passes it to `f`, and gives
    /// the slot back. `None` when the ring is empty.
    pub(crate) fn rx_next<R>(&mut self, f: impl FnOnce(RingRx<'_>) -> R) -> Option<R> {
        use std::sync::atomic::Ordering;
        let slot = self.slot(true, self.rx_head);
        let status = self.status(slot).load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the kernel set TP_STATUS_USER (read with Acquire, pairing with its barrier
        // before the status store), so it has finished writing this slot and will not touch it
        // again until we set TP_STATUS_KERNEL below: the header, address and frame bytes are
        // initialised and nobody writes them while we read. The header is at the slot's start
        // (aligned); the address follows it; the frame span is clamped to the slot.
        let (meta, data) = unsafe {
            let hdr = std::ptr::read(slot.cast::<libc::tpacket2_hdr>());
            let addr =
                std::ptr::read_unaligned(slot.add(RX_ADDR_OFFSET).cast::<libc::sockaddr_ll>());
            let start = usize::from(hdr.tp_mac).min(RING_FRAME_SIZE);
            let len = (hdr.tp_snaplen as usize).min(RING_FRAME_SIZE - start);
            let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0).then_some(VlanTag {
                tpid: if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                    hdr.tp_vlan_tpid
                } else {
                    0x8100
                },
                tci: hdr.tp_vlan_tci,
            });
            let meta = RecvMeta {
                len,
                truncated: (hdr.tp_len as usize) > len,
                pkttype: Some(addr.sll_pkttype),
                vlan,
            };
            (meta, std::slice::from_raw_parts(slot.add(start), len))
        };
        let r = f(RingRx {
            meta,
            data,
            copied: status & libc::TP_STATUS_COPY != 0,
        });
        // Release: our reads of the slot happen before the kernel may reuse it.
        self.status(slot)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.rx_head = (self.rx_head + 1) % self.rx_frames;
        Some(r)
    }

    /// Whether the kernel has handed over a frame that [`PacketRings::rx_next`] would take
    /// now: one load of the next slot's status word, no system call.
    pub(crate) fn rx_ready(&self) -> bool {
        use std::sync::atomic::Ordering;
        let slot = self.slot(true, self.rx_head);
        self.status(slot).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// The longest frame a transmit slot holds.
    pub(crate) fn tx_max(&self) -> usize {
        RING_FRAME_SIZE - TX_DATA_OFFSET - self.vnet
    }

    /// Bytes of virtio-net header in front of each frame the socket hands over, in the ring and
    /// through the socket queue alike (0 or 10).
    pub(crate) fn vnet_hdr_len(&self) -> usize {
        self.vnet
    }

    /// Copies `frame` into the next free transmit slot and marks it for sending (it leaves at
    /// the next [`PacketRings::tx_kick`]). Returns false, leaving the ring as it was, when the
    /// ring is full (every slot is waiting to be sent or still in flight) or the frame is
    /// longer than [`PacketRings::tx_max`].
    pub(crate) fn tx_push(&mut self, frame: &[u8]) -> bool {
        use std::sync::atomic::Ordering;
        if frame.len() > self.tx_max() {
            return false;
        }
        // virtio_net_hdr (little-endian, the legacy layout on x86/ARM): no checksum offload,
        // no GSO, and hdr_len = the whole frame, so the kernel copies all of it into the
        // skb's linear part.
        let mut vnet = [0u8; VNET_HDR_LEN];
        vnet[2..4].copy_from_slice(&(frame.len() as u16).to_le_bytes());
        let slot = self.slot(false, self.tx_head);
        let status = self.status(slot).load(Ordering::Acquire);
        if status & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0 {
            return false;
        }
        // SAFETY: the slot is AVAILABLE (or WRONG_FORMAT, which the kernel also leaves to us):
        // the kernel neither reads nor writes it until we set TP_STATUS_SEND_REQUEST below.
        // The virtio-net header (if any) and the frame fit after the slot header (checked
        // above: vnet + len <= RING_FRAME_SIZE - TX_DATA_OFFSET), and the sources are distinct
        // Rust values, so the copies do not overlap. `tp_len` is an aligned u32 of the header.
        unsafe {
            let data = slot.add(TX_DATA_OFFSET);
            std::ptr::copy_nonoverlapping(vnet.as_ptr(), data, self.vnet);
            std::ptr::copy_nonoverlapping(frame.as_ptr(), data.add(self.vnet), frame.len());
            let hdr = slot.cast::<libc::tpacket2_hdr>();
            std::ptr::addr_of_mut!((*hdr).tp_len).write((self.vnet + frame.len()) as u32);
        }
        // Release: the frame and its length are written before the kernel sees the request.
        self.status(slot)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.tx_head = (self.tx_head + 1) % self.tx_frames;
        true
    }

    /// Asks the kernel to send every slot marked for sending, without waiting for them to
    /// leave (`send` of nothing with `MSG_DONTWAIT`).
    pub(crate) fn tx_kick(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: a zero-length send with a null buffer: the kernel reads no user memory for
        // it (the frames are in the ring, which the kernel owns once marked).
        let ret = unsafe { libc::send(fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for PacketRings {
    fn drop(&mut self) {
        // SAFETY: `map`/`map_len` are exactly the mapping `setup` made, unmapped only here;
        // no reference into it outlives `self` (`rx_next` hands out slices only for the
        // duration of its callback).
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}

/// Sends one frame on a bound AF_PACKET socket (`send` with `MSG_DONTWAIT`).
pub(crate) fn send_one(fd: BorrowedFd<'_>, frame: &[u8]) -> io::Result<()> {
    // SAFETY: `frame` is a live slice the kernel only reads for the duration of the call.
    let ret = unsafe {
        libc::send(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
