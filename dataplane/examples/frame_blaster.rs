//! Traffic generator for the forwarding benchmarks: sends fixed-size Ethernet frames as fast as
//! it can for a bounded time through a port backend (`send_batch` of 64 frames in a tight loop)
//! and prints how many were accepted. With `--count-rx`, it instead counts frames received for
//! the duration (a sink).
//!
//! ```text
//! frame_blaster afpacket IFACE [options]           # AF_PACKET on a Linux interface (root)
//! frame_blaster udp LOCAL_ADDR PEER_ADDR [options] # a UDP cable end
//!
//! options:
//!   --secs S        how long (default 5)
//!   --len N         frame length without FCS (default 60: a 64-byte frame on the wire)
//!   --dst MAC       destination (default 02:00:00:00:00:02)
//!   --src MAC       source (default 02:00:00:00:00:01)
//!   --once          send a single frame and exit (so that forwarders learn --src)
//!   --count-rx      receive instead of send, counting frames for --secs
//! ```
//!
//! Prints one line `sent=N secs=S pps=R` (or `received=...`), easy to parse from scripts.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dataplane::backend::{self, AfPacketBackend, PortBackend, UdpBackend};

const BATCH: usize = 64;

struct Opts {
    secs: f64,
    len: usize,
    dst: [u8; 6],
    src: [u8; 6],
    once: bool,
    count_rx: bool,
}

fn parse_mac(s: &str) -> [u8; 6] {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap_or_else(|_| usage(&format!("bad MAC {s}"))))
        .collect();
    parts
        .try_into()
        .unwrap_or_else(|_| usage(&format!("bad MAC {s}")))
}

fn usage(msg: &str) -> ! {
    eprintln!("frame_blaster: {msg}");
    eprintln!(
        "usage: frame_blaster afpacket IFACE | udp LOCAL PEER  [--secs S] [--len N] [--dst MAC] [--src MAC] [--once] [--count-rx]"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut port, rest): (Box<dyn PortBackend>, &[String]) = match args.first().map(String::as_str)
    {
        Some("afpacket") => {
            let ifname = args.get(1).unwrap_or_else(|| usage("afpacket needs IFACE"));
            let b = AfPacketBackend::open(ifname).unwrap_or_else(|e| usage(&e.to_string()));
            (Box::new(b), &args[2..])
        }
        Some("udp") => {
            let addr = |i: usize| -> SocketAddr {
                args.get(i)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage("udp needs LOCAL_ADDR PEER_ADDR"))
            };
            let b = UdpBackend::open(addr(1), addr(2)).unwrap_or_else(|e| usage(&e.to_string()));
            (Box::new(b), &args[3..])
        }
        _ => usage("first argument: afpacket or udp"),
    };
    let mut o = Opts {
        secs: 5.0,
        len: 60,
        dst: [2, 0, 0, 0, 0, 2],
        src: [2, 0, 0, 0, 0, 1],
        once: false,
        count_rx: false,
    };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--secs" => o.secs = val().parse().unwrap_or_else(|_| usage("bad --secs")),
            "--len" => o.len = val().parse().unwrap_or_else(|_| usage("bad --len")),
            "--dst" => o.dst = parse_mac(val()),
            "--src" => o.src = parse_mac(val()),
            "--once" => o.once = true,
            "--count-rx" => o.count_rx = true,
            other => usage(&format!("unknown option {other}")),
        }
    }
    if !(backend::MIN_FRAME_LEN..=backend::MAX_FRAME_LEN).contains(&o.len) {
        usage("--len out of range");
    }
    if o.count_rx {
        receive(port.as_mut(), o.secs);
    } else {
        send(port.as_mut(), &o);
    }
}

fn frame(o: &Opts, seq: usize) -> Bytes {
    let mut f = vec![0u8; o.len];
    f[..6].copy_from_slice(&o.dst);
    f[6..12].copy_from_slice(&o.src);
    // Local experimental EtherType 2 (0x88B6): nobody's stack consumes it, so the sink kernel
    // just counts and drops it. (Not 0x88B5: that is stackd's stack-link EtherType, which
    // dataplaned discards on front ports.)
    f[12..14].copy_from_slice(&[0x88, 0xb6]);
    f[14..16].copy_from_slice(&(seq as u16).to_be_bytes());
    Bytes::from(f)
}

fn send(port: &mut dyn PortBackend, o: &Opts) {
    if o.once {
        let n = port.send_batch(&[frame(o, 0)]).expect("send");
        println!("sent={n} secs=0 pps=0");
        return;
    }
    let frames: Vec<Bytes> = (0..BATCH).map(|i| frame(o, i)).collect();
    let (mut sent, mut calls, mut full) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(o.secs);
    // Check the clock once per 16 batches (1024 frames): cheap, and still bounded.
    'outer: loop {
        for _ in 0..16 {
            let n = match port.send_batch(&frames) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("frame_blaster: send failed: {e}");
                    break 'outer;
                }
            };
            calls += 1;
            if n < BATCH {
                full += 1;
            }
            sent += n as u64;
        }
        if Instant::now() >= stop {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent={sent} secs={secs:.3} pps={:.0} len={} batches={calls} short_batches={full} port={}",
        sent as f64 / secs,
        o.len,
        port.describe()
    );
}

fn receive(port: &mut dyn PortBackend, secs: f64) {
    let mut out = Vec::with_capacity(BATCH);
    let mut received = 0u64;
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(secs);
    let mut first: Option<Instant> = None;
    let mut last = start;
    loop {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        if !backend::wait_readable(port, (stop - now).min(Duration::from_millis(50))).expect("poll")
        {
            continue;
        }
        out.clear();
        let n = port.recv_batch(&mut out, BATCH).expect("recv");
        if n > 0 {
            let t = Instant::now();
            first.get_or_insert(t);
            last = t;
            received += n as u64;
        }
    }
    // Rate over the span frames actually arrived in (the sink starts before the generator).
    let span = first.map_or(0.0, |f| (last - f).as_secs_f64());
    println!(
        "received={received} secs={span:.3} pps={:.0} port={}",
        if span > 0.0 {
            received as f64 / span
        } else {
            0.0
        },
        port.describe()
    );
}
