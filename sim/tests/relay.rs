//! A stack link's relay passes frames both ways, drops them all when cut, drops a seeded
//! share when degraded (the same share for the same seed), and delays them.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sim::launch::{Impairment, LinkEnd, LinkRelay, StackLink};

/// Two bound ends and a relay between them, on a loopback address of their own.
fn link(host: u8, seed: u64) -> (UdpSocket, UdpSocket, LinkRelay) {
    let ip = Ipv4Addr::new(127, 77, (std::process::id() % 200) as u8, host);
    let a = UdpSocket::bind((ip, 0)).unwrap();
    let b = UdpSocket::bind((ip, 0)).unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    // Addresses for the relay's two sockets: ports the kernel just handed out.
    let free = || UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap();
    let (relay_a, relay_b) = (free(), free());
    let l = StackLink {
        a: LinkEnd {
            unit: 1,
            port: 1,
            addr: a.local_addr().unwrap(),
        },
        b: LinkEnd {
            unit: 2,
            port: 2,
            addr: b.local_addr().unwrap(),
        },
        relay: Some((relay_a, relay_b)),
    };
    let relay = LinkRelay::start(&l, seed).expect("relay");
    (a, b, relay)
}

/// Sends `n` numbered frames from `from` to the relay at `to`; what `rx` got (received on a
/// thread of its own as they come, so its socket buffer never overflows).
fn pass(from: &UdpSocket, to: SocketAddr, rx: &UdpSocket, n: u32) -> Vec<u32> {
    let rx = rx.try_clone().unwrap();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        // Ends at the first 300 ms without a frame (the socket's read timeout).
        while let Ok(len) = rx.recv(&mut buf) {
            if len == 4 {
                got.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
            if got.len() as u32 == n {
                break;
            }
        }
        got
    });
    for i in 0..n {
        from.send_to(&i.to_be_bytes(), to).unwrap();
        if i % 20 == 19 {
            // Paced, so the relay's socket buffer never overflows either.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    receiver.join().unwrap()
}

#[test]
fn passes_both_ways_cuts_and_restores() {
    let (a, b, relay) = link(1, 1);
    let (ra, rb) = relay_addrs(&relay, &a, &b);
    assert_eq!(pass(&a, ra, &b, 100).len(), 100);
    assert_eq!(pass(&b, rb, &a, 100).len(), 100);
    relay.set(Impairment {
        cut: true,
        ..Impairment::default()
    });
    assert!(pass(&a, ra, &b, 20).is_empty());
    assert_eq!(relay.counters().cut_drops, 20);
    relay.set(Impairment::default());
    assert_eq!(pass(&a, ra, &b, 10), (0..10).collect::<Vec<_>>());
    assert_eq!(relay.counters().forwarded, 210);
}

/// The relay's sockets: where each end sends.
fn relay_addrs(relay: &LinkRelay, _a: &UdpSocket, _b: &UdpSocket) -> (SocketAddr, SocketAddr) {
    relay.addrs()
}

#[test]
fn loss_is_seeded() {
    let run = |host: u8, seed: u64| {
        let (a, b, relay) = link(host, seed);
        relay.set(Impairment {
            loss: 0.3,
            ..Impairment::default()
        });
        let (ra, _) = relay.addrs();
        let got = pass(&a, ra, &b, 400);
        (got, relay.counters().loss_drops)
    };
    let (first, dropped) = run(2, 42);
    let (second, _) = run(3, 42);
    assert_eq!(first, second, "same seed, same frames lost");
    assert_eq!(
        first.len() as u64 + dropped,
        400,
        "received {} dropped {dropped}",
        first.len()
    );
    assert!(
        (60..=180).contains(&dropped),
        "dropped {dropped} of 400 at 30%"
    );
}

#[test]
fn delay_holds_frames_in_order() {
    let (a, b, relay) = link(4, 1);
    relay.set(Impairment {
        delay: Duration::from_millis(40),
        ..Impairment::default()
    });
    let (ra, _) = relay.addrs();
    let start = Instant::now();
    let got = pass(&a, ra, &b, 20);
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}
