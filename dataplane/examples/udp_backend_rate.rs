//! Micro-benchmark of the UDP cable backend on loopback: one thread sends 64-byte frames in
//! batches of 32 on one end and receives them on the other, and prints the rate in Mpps (each
//! frame counted once: one send plus one receive through the backends).
//!
//! `cargo run --release -p dataplane --example udp_backend_rate [seconds]`
#![allow(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dataplane::backend::{self, PortBackend, UdpBackend};

const BATCH: usize = 32;
const FRAME_LEN: usize = 64;

fn free_port() -> u16 {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    s.local_addr().expect("local addr").port()
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let (pa, pb) = (free_port(), free_port());
    let lo = |p| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
    let mut a = UdpBackend::open(lo(pa), lo(pb)).expect("open a");
    let mut b = UdpBackend::open(lo(pb), lo(pa)).expect("open b");
    let frames: Vec<Bytes> = (0..BATCH)
        .map(|i| {
            let mut f = vec![0u8; FRAME_LEN];
            f[..6].fill(0xff);
            f[11] = 1;
            f[12..14].copy_from_slice(&[0x88, 0xb5]);
            f[14] = i as u8;
            Bytes::from(f)
        })
        .collect();
    let mut out = Vec::with_capacity(BATCH);
    let (mut sent, mut received, mut recv_calls, mut send_calls) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(secs);
    while Instant::now() < stop {
        let n = a.send_batch(&frames).expect("send");
        send_calls += 1;
        sent += n as u64;
        // Take back everything in flight before sending more (loopback delivers it during the
        // send, so this rarely waits).
        while received < sent {
            if !backend::wait_readable(&b, Duration::from_millis(100)).expect("poll") {
                eprintln!("lost {} frames", sent - received);
                sent = received;
                break;
            }
            out.clear();
            received += b.recv_batch(&mut out, BATCH).expect("recv") as u64;
            recv_calls += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "udp backend loopback: {FRAME_LEN}-byte frames, batches of {BATCH}: {:.3} Mpps \
         ({received} frames in {elapsed:.2} s; {send_calls} send / {recv_calls} recv batches; malformed {})",
        received as f64 / elapsed / 1e6,
        b.malformed()
    );
}
