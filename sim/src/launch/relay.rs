//! A stack link's relay: two UDP sockets between the two dataplanes' stack ports that pass
//! frames on, or drop or delay them, so a test can cut, flap and degrade a stack cable
//! without privileges. Loss decisions come from a seeded generator.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::{io, LaunchError, StackLink};
use crate::rng::SplitMix64;

/// What the relay does to the frames crossing it (both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairment {
    /// The cable is pulled: nothing crosses.
    pub cut: bool,
    /// Probability that a frame is lost, 0.0..=1.0.
    pub loss: f64,
    /// Added one-way delay.
    pub delay: Duration,
}

/// Frames the relay passed on and dropped, both directions together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayCounters {
    /// Passed on.
    pub forwarded: u64,
    /// Dropped by a cut.
    pub cut_drops: u64,
    /// Dropped by the loss probability.
    pub loss_drops: u64,
}

#[derive(Debug, Default)]
struct Shared {
    impairment: Mutex<Impairment>,
    /// A new seed for the loss generator, taken by the relay thread.
    reseed: Mutex<Option<u64>>,
    stop: AtomicBool,
    forwarded: AtomicU64,
    cut_drops: AtomicU64,
    loss_drops: AtomicU64,
}

/// The relay of one stack link, running on its own thread until dropped.
#[derive(Debug)]
pub struct LinkRelay {
    name: String,
    addrs: (SocketAddr, SocketAddr),
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LinkRelay {
    /// Binds the relay's two sockets (`link.relay`) and starts passing frames between the
    /// link's ends.
    pub fn start(link: &StackLink, seed: u64) -> Result<LinkRelay, LaunchError> {
        let Some((facing_a, facing_b)) = link.relay else {
            return Err(LaunchError::NoRelays);
        };
        let bind = |addr: SocketAddr| {
            let s = UdpSocket::bind(addr).map_err(io(format!("bind relay {addr}")))?;
            s.set_nonblocking(true)
                .map_err(io(format!("relay {addr}")))?;
            Ok::<_, LaunchError>(s)
        };
        let sockets = [bind(facing_a)?, bind(facing_b)?];
        let shared = Arc::new(Shared::default());
        let ends = [link.a.addr, link.b.addr];
        let name = link.name();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("relay {name}"))
                .spawn(move || run(&sockets, ends, &shared, seed))
                .map_err(io("spawn a relay thread"))?
        };
        Ok(LinkRelay {
            name,
            addrs: (facing_a, facing_b),
            shared,
            thread: Some(thread),
        })
    }

    /// The link's name (`1/1/1-2/1/2`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its two sockets: the one end `a` sends to, and the one end `b` sends to.
    pub fn addrs(&self) -> (SocketAddr, SocketAddr) {
        self.addrs
    }

    /// Sets what happens to frames from now on.
    pub fn set(&self, impairment: Impairment) {
        tracing::info!(link = %self.name, ?impairment, "stack link impairment");
        *self
            .shared
            .impairment
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = impairment;
    }

    /// Restarts the loss generator with `seed` (before the next frame), so a degrade from
    /// the command line is reproducible.
    pub fn reseed(&self, seed: u64) {
        *self
            .shared
            .reseed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(seed);
    }

    /// What happens to frames now.
    pub fn impairment(&self) -> Impairment {
        *self
            .shared
            .impairment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Frames passed on and dropped so far.
    pub fn counters(&self) -> RelayCounters {
        RelayCounters {
            forwarded: self.shared.forwarded.load(Ordering::Relaxed),
            cut_drops: self.shared.cut_drops.load(Ordering::Relaxed),
            loss_drops: self.shared.loss_drops.load(Ordering::Relaxed),
        }
    }
}

impl Drop for LinkRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A delayed frame: when it leaves, through which socket (index), and its bytes.
struct Held {
    at: Instant,
    out: usize,
    bytes: Vec<u8>,
}

/// Sends a frame on, waiting (up to 1 ms) for room in a full socket buffer rather than
/// dropping it: the relay loses frames only when told to.
fn send(sock: &UdpSocket, frame: &[u8], to: SocketAddr) {
    for _ in 0..2 {
        match sock.send_to(frame, to) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(sock, PollFlags::OUT)];
                let wait = Timespec {
                    tv_sec: 0,
                    tv_nsec: 1_000_000,
                };
                let _ = poll(&mut fds, Some(&wait));
            }
            // Sent, or an error a cable cannot do anything about (nobody listening yet).
            _ => return,
        }
    }
}

/// The relay loop: socket 0 faces end `a` (frames from it go out of socket 1 to end `b`),
/// socket 1 faces end `b`.
fn run(sockets: &[UdpSocket; 2], ends: [SocketAddr; 2], shared: &Shared, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let mut held: VecDeque<Held> = VecDeque::new();
    let mut buf = vec![0u8; 65536];
    // Bounded wait so a stop request is seen within 10 ms.
    let tick = Duration::from_millis(10);
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while held.front().is_some_and(|h| h.at <= now) {
            if let Some(h) = held.pop_front() {
                send(&sockets[h.out], &h.bytes, ends[h.out]);
            }
        }
        let wait = held
            .front()
            .map_or(tick, |h| h.at.saturating_duration_since(now).min(tick));
        let timeout = Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos() as _,
        };
        let mut fds = [
            PollFd::new(&sockets[0], PollFlags::IN),
            PollFd::new(&sockets[1], PollFlags::IN),
        ];
        if poll(&mut fds, Some(&timeout)).is_err() {
            continue;
        }
        let imp = *shared
            .impairment
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(seed) = shared
            .reseed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            rng = SplitMix64::new(seed);
        }
        for (from, sock) in sockets.iter().enumerate() {
            let out = 1 - from;
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                if imp.cut {
                    shared.cut_drops.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if imp.loss > 0.0 && (rng.below(1_000_000) as f64) < imp.loss * 1e6 {
                    shared.loss_drops.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                shared.forwarded.fetch_add(1, Ordering::Relaxed);
                if imp.delay.is_zero() && held.is_empty() {
                    send(&sockets[out], &buf[..n], ends[out]);
                } else {
                    // FIFO: a frame never overtakes one held before it.
                    let at = (Instant::now() + imp.delay)
                        .max(held.back().map_or(Instant::now(), |h| h.at));
                    held.push_back(Held {
                        at,
                        out,
                        bytes: buf[..n].to_vec(),
                    });
                }
            }
        }
    }
}
