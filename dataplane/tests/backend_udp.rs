//! The UDP virtual cable on loopback: frames of every size cross both ways in batches and in
//! order, malformed datagrams are counted, and a peer that is not up yet is not fatal.
#![allow(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dataplane::backend::{self, BackendError, BackendSpec, PortBackend, UdpBackend};

const DEADLINE: Duration = Duration::from_secs(5);

/// A loopback port nobody is bound to right now (bound then released by the kernel's pick).
fn free_port() -> u16 {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.local_addr().unwrap().port()
}

fn lo(port: u16) -> SocketAddr {
    (Ipv4Addr::LOCALHOST, port).into()
}

/// Two connected ends; retries if another test grabbed one of the ports in between.
fn cable() -> (UdpBackend, UdpBackend) {
    for _ in 0..20 {
        let (pa, pb) = (free_port(), free_port());
        if pa == pb {
            continue;
        }
        match (
            UdpBackend::open(lo(pa), lo(pb)),
            UdpBackend::open(lo(pb), lo(pa)),
        ) {
            (Ok(a), Ok(b)) => return (a, b),
            (Err(BackendError::AddrInUse { .. }), _) | (_, Err(BackendError::AddrInUse { .. })) => {
                continue
            }
            (Err(e), _) | (_, Err(e)) => panic!("{e}"),
        }
    }
    panic!("no free pair of loopback ports");
}

/// A frame of `len` bytes whose payload says `seq`.
fn frame(len: usize, seq: u32) -> Bytes {
    let mut f = vec![0u8; len.max(18)];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(18) {
        *b = (i as u32).wrapping_add(seq) as u8;
    }
    f.truncate(len);
    Bytes::from(f)
}

/// Receives until `n` frames arrived, polling the fd (no sleeps), within [`DEADLINE`].
fn recv_n(port: &mut dyn PortBackend, n: usize) -> Vec<Bytes> {
    let end = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while out.len() < n {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "got {} of {n} frames", out.len());
        if backend::wait_readable(port, left).unwrap() {
            port.recv_batch(&mut out, 32).unwrap();
        }
    }
    out
}

/// Sends `frames` from `from` to `to` in batches of 32, checking each batch arrives whole and
/// in order.
fn cross(from: &mut UdpBackend, to: &mut UdpBackend, frames: &[Bytes]) {
    for batch in frames.chunks(32) {
        assert_eq!(from.send_batch(batch).unwrap(), batch.len());
        let got = recv_n(to, batch.len());
        assert_eq!(got, batch, "order and bytes kept");
    }
    assert_eq!(to.malformed(), 0);
}

#[test]
fn frames_of_every_size_cross_both_ways_in_order() {
    let (mut a, mut b) = cable();
    let sizes: Vec<usize> = (60..=9216).step_by(97).chain([64, 1514, 9216]).collect();
    let frames: Vec<Bytes> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(len, i as u32))
        .collect();
    cross(&mut a, &mut b, &frames);
    cross(&mut b, &mut a, &frames);
}

#[test]
fn runts_and_giants_are_dropped_and_counted() {
    let (mut a, mut b) = cable();
    let batch = [
        frame(60, 1),
        frame(13, 2),   // shorter than an Ethernet header
        frame(9217, 3), // one byte over the largest frame
        frame(14, 4),   // just a header: allowed
        frame(9216, 5),
        frame(60, 6),
    ];
    assert_eq!(a.send_batch(&batch).unwrap(), batch.len());
    let got = recv_n(&mut b, 4);
    assert_eq!(got, [&batch[0], &batch[3], &batch[4], &batch[5]]);
    assert_eq!(b.malformed(), 2);
    assert_eq!(b.stats().malformed, 2);
}

#[test]
fn peer_not_up_yet_is_not_fatal() {
    let (pa, pb) = (free_port(), free_port());
    let mut a = UdpBackend::open(lo(pa), lo(pb)).unwrap();
    let frames: Vec<Bytes> = (0..32).map(|i| frame(64, i)).collect();
    // Nobody listens on pb: every send draws an ICMP port-unreachable.
    for _ in 0..3 {
        assert_eq!(a.send_batch(&frames).unwrap(), frames.len());
    }
    // The pending error makes the socket readable; reading it yields nothing, not an error.
    assert!(backend::wait_readable(&a, DEADLINE).unwrap());
    let mut out = Vec::new();
    assert_eq!(a.recv_batch(&mut out, 32).unwrap(), 0);
    assert!(a.stats().peer_unreachable > 0, "{:?}", a.stats());
    // The peer comes up: the cable works both ways.
    let mut b = UdpBackend::open(lo(pb), lo(pa)).unwrap();
    assert_eq!(a.send_batch(&frames).unwrap(), frames.len());
    assert_eq!(recv_n(&mut b, frames.len()), frames);
    assert_eq!(b.send_batch(&frames[..5]).unwrap(), 5);
    let got = recv_n(&mut a, 5);
    assert_eq!(got, &frames[..5]);
}

#[test]
fn nothing_waiting_is_ok_zero() {
    let (mut a, _b) = cable();
    let mut out = Vec::new();
    assert_eq!(a.recv_batch(&mut out, 32).unwrap(), 0);
    assert!(out.is_empty());
    assert!(!backend::wait_readable(&a, Duration::ZERO).unwrap());
}

#[test]
fn open_through_spec_and_describe() {
    let (pa, pb) = (free_port(), free_port());
    let port = backend::open(BackendSpec::Udp {
        local: lo(pa),
        peer: lo(pb),
    })
    .unwrap();
    assert_eq!(
        port.describe(),
        format!("udp 127.0.0.1:{pa} -> 127.0.0.1:{pb}")
    );
    assert!(port.raw_fd().is_some());
    // Port 0 shows the port the kernel picked.
    let c = UdpBackend::open(lo(0), lo(pa)).unwrap();
    assert_ne!(c.local_addr().port(), 0);
    assert!(c
        .describe()
        .starts_with(&format!("udp {} -> ", c.local_addr())));
}
