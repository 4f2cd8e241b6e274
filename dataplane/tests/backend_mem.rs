//! In-memory cables: round trips both ways, the eventfd wakes a poller exactly while frames
//! wait, a full queue refuses and counts, an unplugged peer swallows frames.
#![allow(missing_docs)]

use std::time::Duration;

use bytes::Bytes;
use dataplane::backend::{self, mem, BackendSpec, PortBackend};

fn frame(seq: u32) -> Bytes {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    Bytes::from(f)
}

fn readable(port: &dyn PortBackend) -> bool {
    backend::wait_readable(port, Duration::ZERO).unwrap()
}

#[test]
fn round_trip_both_ways_and_wakeups() {
    let (mut a, mut b) = mem::pair();
    assert!(!readable(&a) && !readable(&b));
    let frames: Vec<Bytes> = (0..100).map(frame).collect();
    assert_eq!(a.send_batch(&frames).unwrap(), 100);
    assert!(readable(&b), "send wakes the other end");
    assert!(!readable(&a), "not the sender");
    let mut out = Vec::new();
    assert_eq!(b.recv_batch(&mut out, 64).unwrap(), 64);
    assert!(readable(&b), "still readable while frames wait");
    assert_eq!(b.recv_batch(&mut out, 64).unwrap(), 36);
    assert_eq!(out, frames, "order kept");
    assert_eq!(b.recv_batch(&mut out, 64).unwrap(), 0);
    assert!(!readable(&b), "drained");

    assert_eq!(b.send_batch(&frames[..3]).unwrap(), 3);
    assert!(backend::wait_readable(&a, Duration::from_secs(1)).unwrap());
    let mut back = Vec::new();
    assert_eq!(a.recv_batch(&mut back, 64).unwrap(), 3);
    assert_eq!(back, &frames[..3]);
    assert!(a.describe().starts_with("mem ") && a.describe() != b.describe());
}

#[test]
fn full_queue_refuses_and_counts() {
    let (mut a, mut b) = mem::pair();
    let frames: Vec<Bytes> = (0..(mem::QUEUE_FRAMES as u32 + 100)).map(frame).collect();
    assert_eq!(a.send_batch(&frames).unwrap(), mem::QUEUE_FRAMES);
    assert_eq!(a.overflows(), 100);
    assert_eq!(a.send_batch(&frames[..1]).unwrap(), 0);
    assert_eq!(a.overflows(), 101);
    let mut out = Vec::new();
    while b.recv_batch(&mut out, 256).unwrap() > 0 {}
    assert_eq!(out.len(), mem::QUEUE_FRAMES);
    assert_eq!(out[..], frames[..mem::QUEUE_FRAMES]);
    // Room again.
    assert_eq!(a.send_batch(&frames[..10]).unwrap(), 10);
}

#[test]
fn unplugged_peer_swallows_frames() {
    let (mut a, b) = mem::try_pair(8).unwrap();
    drop(b);
    let frames: Vec<Bytes> = (0..20).map(frame).collect();
    assert_eq!(a.send_batch(&frames).unwrap(), 20);
    assert_eq!(a.peer_gone(), 20);
    let mut out = Vec::new();
    assert_eq!(a.recv_batch(&mut out, 8).unwrap(), 0);
}

#[test]
fn opens_through_spec() {
    let (a, b) = mem::pair();
    let mut a = backend::open(BackendSpec::Mem(a)).unwrap();
    let mut b = backend::open(BackendSpec::Mem(b)).unwrap();
    assert!(a.raw_fd().is_some());
    assert_eq!(a.send_batch(&[frame(7)]).unwrap(), 1);
    let mut out = Vec::new();
    assert!(backend::wait_readable(b.as_ref(), Duration::from_secs(1)).unwrap());
    assert_eq!(b.recv_batch(&mut out, 8).unwrap(), 1);
    assert_eq!(out, [frame(7)]);
}
