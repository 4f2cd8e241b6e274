//! AF_PACKET on a real veth pair (root only: needs CAP_NET_RAW and `ip` from iproute2).
//!
//! Both veth ends stay in the root namespace under a unique name; one backend opens each end.
//! Checks: frames cross both ways in order (untagged, 802.1Q, priority-tagged, 802.1ad QinQ,
//! minimum and jumbo sizes) byte for byte — so stripped VLAN tags come back — and a port never
//! receives its own transmissions; frames over the MTU are refused and counted; thousands of
//! frames go round the memory-mapped rings in order; a ring port tells a waiting frame from its
//! slot's status word. Each with the rings and with the copying
//! fallback (`recvmmsg`/`sendmmsg`), and the two mixed. Without root the tests print why and
//! pass.
#![allow(missing_docs)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dataplane::backend::{self, AfPacketBackend, BackendError, PortBackend};

const DEADLINE: Duration = Duration::from_secs(5);
/// Payload marker so the test ignores whatever else the kernel sends on a fresh link.
const MARK: &[u8; 4] = b"STK!";

/// Returns false (after saying why) when this environment can't run these tests.
fn can_run() -> bool {
    if !dataplane::backend::running_as_root() {
        println!("skipped: needs root (CAP_NET_RAW)");
        return false;
    }
    let ip = Command::new("ip").arg("-V").output();
    assert!(
        matches!(ip, Ok(ref o) if o.status.success()),
        "running as root but `ip` (iproute2) is missing: install iproute2 to run the AF_PACKET tests"
    );
    true
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A veth pair in the root namespace, deleted on drop (deleting one end deletes both).
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new() -> Veth {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are at most 15 bytes.
        let (a, b) = (format!("sbk{pid}x{n}a"), format!("sbk{pid}x{n}b"));
        let _ = Command::new("ip").args(["link", "del", &a]).output();
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        let veth = Veth { a, b };
        for end in [&veth.a, &veth.b] {
            // Quiet links: no IPv6 autoconfiguration chatter (best effort; frames are filtered
            // by marker anyway).
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{end}/disable_ipv6"), "1");
            // 9202 + 14 header bytes = 9216-byte frames.
            ip(&["link", "set", end, "mtu", "9202", "up"]);
        }
        // `ip link set up` returns before the pair has carrier; frames sent before then are
        // dropped. Wait (bounded) until both ends say they are up.
        let end = Instant::now() + Duration::from_secs(5);
        for dev in [&veth.a, &veth.b] {
            let path = format!("/sys/class/net/{dev}/operstate");
            while std::fs::read_to_string(&path)
                .map(|s| s.trim() != "up")
                .unwrap_or(true)
            {
                assert!(Instant::now() < end, "{dev} did not come up within 5 s");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.a]).output();
    }
}

/// A frame from `src` with `tags` (TPID, TCI) after the addresses, EtherType 0x88b5 and a
/// marked payload padded to `len`.
fn frame(src: u8, tags: &[(u16, u16)], seq: u8, len: usize) -> Bytes {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xee, 0x02, 0, 0, 0, 0, src];
    for (tpid, tci) in tags {
        f.extend(tpid.to_be_bytes());
        f.extend(tci.to_be_bytes());
    }
    f.extend([0x88, 0xb5]);
    f.extend(MARK);
    f.extend([src, seq]);
    f.resize(len.max(f.len()), seq);
    Bytes::from(f)
}

/// Marked frames from `src` in `frames`.
fn marked_from(frames: &[Bytes], src: u8) -> Vec<Bytes> {
    frames
        .iter()
        .filter(|f| {
            f.len() >= 12 && f[11] == src && f.windows(MARK.len()).take(40).any(|w| w == MARK)
        })
        .cloned()
        .collect()
}

/// Receives on `port` until `done(all received so far)`, polling its fd, within [`DEADLINE`].
fn recv_until(port: &mut AfPacketBackend, done: impl Fn(&[Bytes]) -> bool) -> Vec<Bytes> {
    let end = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while !done(&out) {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; received {out:?}");
        if backend::wait_readable(port, left).unwrap() {
            port.recv_batch(&mut out, 64).unwrap();
        }
    }
    out
}

fn test_frames(src: u8) -> Vec<Bytes> {
    vec![
        frame(src, &[], 0, 60),
        frame(src, &[(0x8100, 0xa064)], 1, 64), // PCP 5, VID 100
        frame(src, &[(0x8100, 0x6000)], 2, 64), // priority-tagged: PCP 3, VID 0
        frame(src, &[(0x88a8, 0x0010), (0x8100, 0x2014)], 3, 68), // QinQ
        frame(src, &[], 4, 1514),
        frame(src, &[(0x8100, 0x0fff)], 5, 9216), // jumbo, tagged
        frame(src, &[], 6, 9216),                 // jumbo
        frame(src, &[], 7, 20),                   // shorter than Ethernet's minimum
    ]
}

type Opener = fn(&str) -> Result<AfPacketBackend, BackendError>;

fn rings(name: &str) -> Result<AfPacketBackend, BackendError> {
    let port = AfPacketBackend::open(name)?;
    assert!(port.uses_rings(), "memory-mapped rings did not set up");
    Ok(port)
}

const COPYING: Opener = AfPacketBackend::open_copying;
const RINGS: Opener = rings;

#[test]
fn veth_frames_cross_with_tags_and_no_echo() {
    frames_cross_with_tags_and_no_echo(RINGS, RINGS);
}

#[test]
fn veth_frames_cross_with_tags_and_no_echo_copying() {
    frames_cross_with_tags_and_no_echo(COPYING, COPYING);
}

#[test]
fn veth_frames_cross_between_rings_and_copying() {
    frames_cross_with_tags_and_no_echo(RINGS, COPYING);
}

fn frames_cross_with_tags_and_no_echo(open_a: Opener, open_b: Opener) {
    if !can_run() {
        return;
    }
    let veth = Veth::new();
    let mut a = open_a(&veth.a).unwrap();
    let mut b = open_b(&veth.b).unwrap();
    assert_eq!(
        a.describe(),
        format!("afpacket {} (ifindex {})", veth.a, a.ifindex())
    );

    // a -> b, one batch.
    let from_a = test_frames(0xa);
    assert_eq!(a.send_batch(&from_a).unwrap(), from_a.len());
    let got = recv_until(&mut b, |f| marked_from(f, 0xa).len() >= from_a.len());
    assert_eq!(marked_from(&got, 0xa), from_a, "bytes, tags and order kept");

    // b -> a. Anything `a` had echoed from its own send was queued before this even left `b`,
    // so seeing b's frames without a's proves no echo — without waiting for a timeout.
    let from_b = test_frames(0xb);
    assert_eq!(b.send_batch(&from_b).unwrap(), from_b.len());
    let got = recv_until(&mut a, |f| marked_from(f, 0xb).len() >= from_b.len());
    assert_eq!(marked_from(&got, 0xb), from_b);
    assert!(
        marked_from(&got, 0xa).is_empty(),
        "a received its own frames"
    );
    let got_b_more = {
        let mut more = Vec::new();
        b.recv_batch(&mut more, 64).unwrap();
        more
    };
    assert!(
        marked_from(&got_b_more, 0xb).is_empty(),
        "b received its own frames"
    );
    assert_eq!(a.malformed() + b.malformed(), 0);
    assert_eq!(a.stats().tx_errors + b.stats().tx_errors, 0);
}

/// The forwarding thread busy-polls ring ports by reading the next slot's status word instead of
/// calling `ppoll`: that word must say "a frame waits" exactly when one does.
#[test]
fn a_ring_port_tells_a_waiting_frame_without_a_system_call() {
    if !can_run() {
        return;
    }
    let veth = Veth::new();
    let mut a = rings(&veth.a).unwrap();
    let mut b = rings(&veth.b).unwrap();
    assert_eq!(
        COPYING(&veth.b).unwrap().rx_pending(),
        None,
        "a copying port can only tell through its fd"
    );
    let mut early = Vec::new();
    while b.recv_batch(&mut early, 64).unwrap() > 0 {}
    assert_eq!(b.rx_pending(), Some(false), "nothing waits on a quiet link");

    let sent = frame(0xa, &[], 0, 60);
    assert_eq!(a.send_batch(std::slice::from_ref(&sent)).unwrap(), 1);
    assert!(
        backend::wait_readable(&b, DEADLINE).unwrap(),
        "the frame did not arrive within {DEADLINE:?}"
    );
    assert_eq!(b.rx_pending(), Some(true), "readable, so a slot is ours");
    let got = recv_until(&mut b, |f| !marked_from(f, 0xa).is_empty());
    assert_eq!(marked_from(&got, 0xa), vec![sent]);
    assert_eq!(b.rx_pending(), Some(false), "the ring is empty again");
}

#[test]
fn outgoing_frames_of_other_senders_are_not_received() {
    outgoing_frames_of_others_not_received(RINGS);
}

#[test]
fn outgoing_frames_of_other_senders_are_not_received_copying() {
    outgoing_frames_of_others_not_received(COPYING);
}

fn outgoing_frames_of_others_not_received(open: Opener) {
    if !can_run() {
        return;
    }
    // The kernel never loops a socket's own sends back to it; what a port must also not see
    // is anything else leaving its interface (the host stack, another socket): that is
    // PACKET_OUTGOING, filtered by PACKET_IGNORE_OUTGOING or by sll_pkttype.
    let veth = Veth::new();
    let mut a = open(&veth.a).unwrap();
    let mut other = open(&veth.a).unwrap();
    let mut b = open(&veth.b).unwrap();
    let x = vec![
        frame(0xc, &[], 0, 60),
        frame(0xc, &[(0x8100, 0x2005)], 1, 60),
    ];
    assert_eq!(other.send_batch(&x).unwrap(), 2);
    let got = recv_until(&mut b, |f| marked_from(f, 0xc).len() >= 2);
    assert_eq!(marked_from(&got, 0xc), x);
    let y = vec![frame(0xb, &[], 9, 60)];
    assert_eq!(b.send_batch(&y).unwrap(), 1);
    let got = recv_until(&mut a, |f| !marked_from(f, 0xb).is_empty());
    assert!(
        marked_from(&got, 0xc).is_empty(),
        "a received frames leaving its own interface: {got:?}"
    );
    if !a.ignores_outgoing_in_kernel() {
        assert!(a.stats().own_tx_filtered >= 2, "{:?}", a.stats());
    }
}

#[test]
fn frames_over_the_mtu_are_refused_and_counted() {
    for open in [RINGS, COPYING] {
        over_mtu(open);
    }
}

fn over_mtu(open: Opener) {
    if !can_run() {
        return;
    }
    let veth = Veth::new();
    for end in [&veth.a, &veth.b] {
        ip(&["link", "set", end, "mtu", "1500"]);
    }
    let mut a = open(&veth.a).unwrap();
    let mut b = open(&veth.b).unwrap();
    let x = vec![
        frame(0xa, &[], 0, 60),
        frame(0xa, &[], 1, 1514), // exactly the MTU
        frame(0xa, &[], 2, 1515), // one byte over
        frame(0xa, &[], 3, 9216), // far over
        frame(0xa, &[], 4, 60),
    ];
    assert_eq!(
        a.send_batch(&x).unwrap(),
        x.len(),
        "refused frames count as taken"
    );
    let want = vec![x[0].clone(), x[1].clone(), x[4].clone()];
    let got = recv_until(&mut b, |f| marked_from(f, 0xa).len() >= want.len());
    assert_eq!(marked_from(&got, 0xa), want);
    assert_eq!(a.stats().tx_errors, 2, "{:?}", a.stats());
}

#[test]
fn thousands_of_frames_go_round_the_rings_in_order() {
    for (open_a, open_b) in [(RINGS, RINGS), (COPYING, RINGS), (RINGS, COPYING)] {
        round_the_rings(open_a, open_b);
    }
}

fn round_the_rings(open_a: Opener, open_b: Opener) {
    if !can_run() {
        return;
    }
    let veth = Veth::new();
    let mut a = open_a(&veth.a).unwrap();
    let mut b = open_b(&veth.b).unwrap();
    // Round both rings (8192 and 2048 slots) at least once; a batch at a time so the receive
    // ring never overflows.
    // Every 7th frame is a jumbo one (through the socket queue / the send-only socket).
    let mut got = Vec::new();
    for batch in 0..160u32 {
        let x: Vec<Bytes> = (0..64u32)
            .map(|i| {
                let n = batch * 64 + i;
                let len = if n % 7 == 0 {
                    3000 + (n as usize % 50)
                } else {
                    60 + (n as usize % 40)
                };
                let mut f = frame(
                    0xa,
                    &[(0x8100, ((n % 8) as u16 * 0x2000) | 7)],
                    n as u8,
                    len,
                )
                .to_vec();
                let end = f.len();
                f[end - 4..].copy_from_slice(&n.to_be_bytes());
                Bytes::from(f)
            })
            .collect();
        assert_eq!(a.send_batch(&x).unwrap(), x.len());
        let before = got.len();
        let more = recv_until(&mut b, |f| marked_from(f, 0xa).len() >= x.len());
        got.extend(marked_from(&more, 0xa));
        assert_eq!(&got[before..], &x[..], "batch {batch}");
    }
    assert_eq!(b.malformed(), 0);
    assert_eq!(a.stats().tx_errors, 0);
}

#[test]
fn permission_and_lookup_errors_are_clear() {
    if !can_run() {
        return;
    }
    let err = AfPacketBackend::open("sbk-missing").unwrap_err();
    assert!(matches!(err, BackendError::InterfaceNotFound { .. }));
    // The permission message itself (we are root here, so build it directly).
    let msg = BackendError::PermissionDenied {
        interface: "eth9".into(),
    }
    .to_string();
    assert!(msg.contains("CAP_NET_RAW") && msg.contains("eth9"), "{msg}");
}
