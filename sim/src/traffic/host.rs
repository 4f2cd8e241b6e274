//! One host's thread: sends its flows' frames on time unless PFC pauses their priority,
//! receives what its switch sends it, and counts.

use std::net::{SocketAddr, UdpSocket};

use bytes::Bytes;
use dataplane::backend::PortBackend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use dataplane::wire::MacControlRepr;
use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::{
    lock, FlowSpec, HostCommand, HostId, Shared, ANNOUNCE_MAGIC, FLOW_ETHERTYPE, FLOW_MAGIC,
};

/// Appends an Ethernet header: untagged for priority 0, else tagged VLAN 1 with the
/// priority as PCP.
fn header(src: [u8; 6], dst: [u8; 6], priority: u8, frame: &mut Vec<u8>) {
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    if priority > 0 {
        frame.extend_from_slice(&[0x81, 0x00]);
        frame.extend_from_slice(&((u16::from(priority) << 13) | 1).to_be_bytes());
    }
    frame.extend_from_slice(&FLOW_ETHERTYPE.to_be_bytes());
}

/// A flow this host sends.
struct Sending {
    id: u32,
    spec: FlowSpec,
    seq: u64,
    next: Instant,
    interval: Duration,
}

/// Where a host's frames go and come from.
pub(super) enum Endpoint {
    /// The host end of a UDP cable (the `udp` backend).
    Udp {
        /// Bound to the host's address, non-blocking.
        sock: UdpSocket,
        /// The switch's end.
        switch: SocketAddr,
    },
    /// An AF_PACKET socket on the `eth0` of the host's network namespace (the `netns`
    /// backend), opened from inside the namespace.
    Packet(Box<dyn PortBackend>),
}

impl Endpoint {
    /// Sends one frame; `false` when the socket cannot take it now.
    fn send(&mut self, frame: &[u8]) -> bool {
        match self {
            Endpoint::Udp { sock, switch } => sock.send_to(frame, *switch).is_ok(),
            Endpoint::Packet(p) => p.send_batch(&[Bytes::copy_from_slice(frame)]).unwrap_or(0) == 1,
        }
    }

    /// Every frame waiting now, in order (`frames`: a reusable batch).
    fn receive_all(
        &mut self,
        buf: &mut [u8],
        frames: &mut Vec<Bytes>,
        mut each: impl FnMut(&[u8]),
    ) {
        match self {
            Endpoint::Udp { sock, .. } => {
                while let Ok(n) = sock.recv(buf) {
                    each(&buf[..n]);
                }
            }
            Endpoint::Packet(p) => {
                while p.recv_batch(frames, 64).unwrap_or(0) > 0 {
                    for f in frames.drain(..) {
                        each(&f);
                    }
                }
            }
        }
    }

    /// Waits until a frame arrives, at most `wait`.
    fn wait(&self, wait: Duration) {
        match self {
            Endpoint::Udp { sock, .. } => {
                let timeout = Timespec {
                    tv_sec: wait.as_secs() as _,
                    tv_nsec: wait.subsec_nanos() as _,
                };
                let mut fds = [PollFd::new(sock, PollFlags::IN)];
                let _ = poll(&mut fds, Some(&timeout));
            }
            Endpoint::Packet(p) => {
                // Nanosecond resolution: a sub-millisecond wait must not become a busy poll.
                let fd = p.raw_fd().unwrap_or(-1);
                let _ = dataplane::backend::poll_readable(&[fd], Some(wait), &mut [false]);
            }
        }
    }
}

/// A host: its endpoint toward its switch, its flows, its pause state.
pub(super) struct Host {
    id: HostId,
    /// Taken by [`Host::run`] for the life of the thread.
    endpoint: Option<Endpoint>,
    speed_bps: u64,
    commands: Receiver<HostCommand>,
    sending: Vec<Sending>,
    /// Per priority: paused until then.
    paused_until: [Option<Instant>; 8],
    /// Per priority: when the current pause began.
    paused_since: [Option<Instant>; 8],
}

/// The longest a host sleeps before it looks at its commands again.
const TICK: Duration = Duration::from_millis(5);
/// A flow that fell this far behind (paused, or a slow machine) skips ahead instead of
/// bursting to catch up.
const MAX_LAG: Duration = Duration::from_millis(2);

impl Host {
    pub(super) fn new(
        id: HostId,
        endpoint: Endpoint,
        speed_bps: u64,
        commands: Receiver<HostCommand>,
    ) -> Host {
        Host {
            id,
            endpoint: Some(endpoint),
            speed_bps: speed_bps.max(1),
            commands,
            sending: Vec::new(),
            paused_until: [None; 8],
            paused_since: [None; 8],
        }
    }

    /// Runs until `stop` is set or its controller is gone.
    pub(super) fn run(mut self, stats: &Shared, stop: &AtomicBool) {
        let mut buf = vec![0u8; 65536];
        let mut batch = Vec::new();
        let Some(mut endpoint) = self.endpoint.take() else {
            return;
        };
        while !stop.load(Ordering::Relaxed) {
            loop {
                match self.commands.try_recv() {
                    Ok(HostCommand::Start(id, spec)) => {
                        let interval = Duration::from_secs_f64(1.0 / f64::from(spec.rate_fps));
                        self.sending.push(Sending {
                            id,
                            spec,
                            seq: 0,
                            next: Instant::now(),
                            interval,
                        });
                    }
                    Ok(HostCommand::Stop(id)) => self.sending.retain(|s| s.id != id),
                    Ok(HostCommand::Announce) => self.announce(&mut endpoint),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            endpoint.receive_all(&mut buf, &mut batch, |f| self.receive(f, stats));
            self.send_due(&mut endpoint, stats);
            let now = Instant::now();
            let wait = self
                .sending
                .iter()
                .filter(|s| !self.paused(s.spec.priority, now))
                .map(|s| s.next.saturating_duration_since(now))
                .chain(
                    self.paused_until
                        .iter()
                        .flatten()
                        .map(|t| t.saturating_duration_since(now)),
                )
                .min()
                .unwrap_or(TICK)
                .min(TICK);
            endpoint.wait(wait);
        }
        // Pauses still running, or that ran out without a newer frame.
        let now = Instant::now();
        let mut paused = Duration::ZERO;
        for p in 0..8 {
            if let (Some(since), Some(until)) = (self.paused_since[p], self.paused_until[p]) {
                paused += until.min(now).saturating_duration_since(since);
            }
        }
        if !paused.is_zero() {
            lock(stats).pfc.entry(self.id).or_default().1 += paused;
        }
    }

    fn paused(&self, priority: u8, now: Instant) -> bool {
        self.paused_until[usize::from(priority & 7)].is_some_and(|t| t > now)
    }

    fn announce(&self, endpoint: &mut Endpoint) {
        let mut f = Vec::with_capacity(64);
        header(self.id.mac(), [0xff; 6], 0, &mut f);
        f.extend_from_slice(&ANNOUNCE_MAGIC);
        f.resize(64, 0);
        let _ = endpoint.send(&f);
    }

    fn send_due(&mut self, endpoint: &mut Endpoint, stats: &Shared) {
        let now = Instant::now();
        let mut frame = Vec::with_capacity(1518);
        let mut sent: Vec<(u32, u64)> = Vec::new();
        for i in 0..self.sending.len() {
            let prio = self.sending[i].spec.priority;
            if self.paused(prio, now) {
                continue;
            }
            let s = &mut self.sending[i];
            if now.saturating_duration_since(s.next) > MAX_LAG {
                s.next = now;
            }
            let mut n = 0;
            while s.next <= now {
                frame.clear();
                let (dst, size) = (s.spec.to.mac(), s.spec.frame_size);
                header(self.id.mac(), dst, prio, &mut frame);
                frame.extend_from_slice(&FLOW_MAGIC);
                frame.extend_from_slice(&s.id.to_be_bytes());
                frame.extend_from_slice(&s.seq.to_be_bytes());
                frame.resize(size, 0);
                if !endpoint.send(&frame) {
                    // The socket buffer is full: try again on the next round.
                    break;
                }
                s.seq += 1;
                s.next += s.interval;
                n += 1;
            }
            if n > 0 {
                sent.push((s.id, n));
            }
        }
        if !sent.is_empty() {
            let mut st = lock(stats);
            for (id, n) in sent {
                if let Some(c) = st.flows.get_mut(&id) {
                    c.sent += n;
                    c.first_sent.get_or_insert(now);
                    c.last_sent = Some(now);
                }
            }
        }
    }

    fn receive(&mut self, frame: &[u8], stats: &Shared) {
        if frame.len() < 14 {
            return;
        }
        let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let mut off = 14;
        if ethertype == 0x8100 && frame.len() >= 18 {
            ethertype = u16::from_be_bytes([frame[16], frame[17]]);
            off = 18;
        }
        let now = Instant::now();
        if ethertype == 0x8808 {
            if let Ok(MacControlRepr::Pfc { enable, quanta }) = MacControlRepr::parse(&frame[off..])
            {
                let mut paused = Duration::ZERO;
                for (p, &q) in quanta.iter().enumerate() {
                    if enable & (1 << p) == 0 {
                        continue;
                    }
                    // A newer frame replaces the timer: account for the pause so far.
                    if let (Some(since), Some(until)) = (self.paused_since[p], self.paused_until[p])
                    {
                        paused += until.min(now).saturating_duration_since(since);
                    }
                    if q == 0 {
                        self.paused_until[p] = None;
                        self.paused_since[p] = None;
                    } else {
                        let d = Duration::from_nanos(
                            u64::from(q) * 512 * 1_000_000_000 / self.speed_bps,
                        );
                        self.paused_until[p] = Some(now + d);
                        self.paused_since[p] = Some(now);
                    }
                }
                let mut st = lock(stats);
                let e = st.pfc.entry(self.id).or_default();
                e.0 += 1;
                e.1 += paused;
            }
            return;
        }
        if ethertype != FLOW_ETHERTYPE || frame.len() < off + 16 || frame[..6] != self.id.mac() {
            return;
        }
        let p = &frame[off..];
        if p[..4] != FLOW_MAGIC {
            return;
        }
        let id = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&p[8..16]);
        let seq = u64::from_be_bytes(seq);
        let mut st = lock(stats);
        let Some(c) = st.flows.get_mut(&id) else {
            return;
        };
        c.received += 1;
        match c.max_seq {
            Some(m) if seq < m => c.reordered += 1,
            _ => {
                // Frames skipped since the highest so far (from 0 for the first frame).
                let run = c.max_seq.map_or(seq, |m| seq.saturating_sub(m + 1));
                c.longest_run = c.longest_run.max(run);
                c.max_seq = Some(seq);
            }
        }
        if let Some(last) = c.last_rx {
            let gap = now.saturating_duration_since(last);
            if gap > c.longest_gap {
                c.longest_gap = gap;
                c.longest_gap_at = Some(last);
            }
        }
        c.last_rx = Some(now);
    }
}
