//! Stack-link hellos: BFD-style liveness of each stack port, offloaded to the dataplane.
//!
//! Every `interval` each stack port sends a hello (a stack-header frame of kind Hello) carrying a
//! sequence number and whether this unit's control plane is attached. A port whose hellos stop
//! for `dead_after` intervals is down: the engine stops forwarding on it and unicast moves to the
//! backup route at once. Because the hellos live here and not in the control plane, a control
//! plane restart never looks like a link failure — the neighbours only see the "control
//! attached" flag drop (DESIGN.md §3, §5).
//!
//! Hello payload, after the 24-byte stack encapsulation (DA, SA, 0x88B5, stack header):
//!
//! ```text
//! 24..28  sequence number, big-endian, +1 per hello
//! 28      flags: bit 0 = sender's control plane attached; other bits 0, ignored
//! 29..32  zero
//! 32..40  sender's transmit interval in microseconds, big-endian (for the peer's logs)
//! ```
//! padded with zeros to 60 bytes. DA is [`HELLO_DST`], SA the stack port's MAC, the stack header
//! has kind Hello, the sender's unit and stack port number, priority 7 and hop limit 1.

use core::time::Duration;

use crate::time::{duration_to_ps, Instant};
use crate::wire::{
    MacAddr, StackFrameKind, StackHeaderRepr, VlanTag, MIN_FRAME_LEN, STACK_ENCAP_LEN,
};

/// Destination of hellos: a locally administered group address that bridges do not forward
/// (it never leaves a stack link).
pub const HELLO_DST: MacAddr = MacAddr(0x03, 0x53, 0x54, 0x4b, 0x00, 0x01);

/// Offset of the hello payload in the frame.
const PAYLOAD: usize = 12 + STACK_ENCAP_LEN;

/// Hello timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloConfig {
    /// Time between hellos (default 10 ms).
    pub interval: Duration,
    /// A port is down after this many intervals without a hello (default 3).
    pub dead_after: u8,
}

impl Default for HelloConfig {
    fn default() -> Self {
        HelloConfig {
            interval: Duration::from_millis(10),
            dead_after: 3,
        }
    }
}

/// Hello counters of one stack port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HelloCounters {
    /// Hellos sent.
    pub sent: u64,
    /// Hellos received.
    pub received: u64,
    /// Hellos missed: gaps in the peer's sequence numbers, plus the intervals without one
    /// before the link was declared down.
    pub lost: u64,
    /// Times the link was declared down.
    pub link_downs: u64,
    /// Hello frames that did not parse.
    pub malformed: u64,
}

/// What the peer's hellos say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloPeer {
    /// The unit at the other end.
    pub unit: u8,
    /// Its stack port number.
    pub port: u8,
    /// Whether its control plane is attached.
    pub control_attached: bool,
}

/// A change the engine must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloChange {
    /// Hellos started arriving: the link is up.
    Up(HelloPeer),
    /// Hellos stopped: the link is down.
    Down,
    /// The peer's "control attached" flag changed.
    PeerControl(HelloPeer),
}

/// Hello state of one stack port (sans-IO: time comes in as arguments).
#[derive(Clone, Debug)]
pub struct HelloSession {
    config: HelloConfig,
    next_tx: Instant,
    seq: u32,
    last_rx: Option<Instant>,
    last_seq: Option<u32>,
    peer: Option<HelloPeer>,
    alive: bool,
    /// Counters.
    pub counters: HelloCounters,
}

impl HelloSession {
    /// A session that sends its first hello at `now` and considers the link down until a
    /// hello arrives.
    pub fn new(config: HelloConfig, now: Instant) -> Self {
        HelloSession {
            config,
            next_tx: now,
            seq: 0,
            last_rx: None,
            last_seq: None,
            peer: None,
            alive: false,
            counters: HelloCounters::default(),
        }
    }

    /// Whether the peer's hellos are arriving.
    pub fn alive(&self) -> bool {
        self.alive
    }

    /// The peer, as its last hello described it.
    pub fn peer(&self) -> Option<HelloPeer> {
        self.peer.filter(|_| self.alive)
    }

    fn dead_time_ps(&self) -> u64 {
        duration_to_ps(self.config.interval)
            .saturating_mul(u64::from(self.config.dead_after.max(1)))
    }

    /// When this session next has something to do.
    pub fn poll_timeout(&self) -> Instant {
        match (self.alive, self.last_rx) {
            (true, Some(rx)) => self.next_tx.min(rx.plus_ps(self.dead_time_ps())),
            _ => self.next_tx,
        }
    }

    /// Checks the dead timer at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<HelloChange> {
        let rx = self.last_rx?;
        if self.alive && now >= rx.plus_ps(self.dead_time_ps()) {
            self.alive = false;
            self.last_seq = None;
            self.counters.link_downs += 1;
            // The hellos that should have come since the last one are lost too, not only the
            // gaps later hellos reveal.
            let interval = duration_to_ps(self.config.interval).max(1);
            self.counters.lost += (now.as_ps() - rx.as_ps()) / interval;
            return Some(HelloChange::Down);
        }
        None
    }

    /// The hello to send at `now`, if one is due: built for `unit`/`port` from `src`.
    pub fn poll_hello(
        &mut self,
        now: Instant,
        unit: u8,
        port: u8,
        src: MacAddr,
        control_attached: bool,
    ) -> Option<[u8; MIN_FRAME_LEN]> {
        if now < self.next_tx {
            return None;
        }
        // Keep the cadence; after a long gap (a stalled driver) start again from now.
        let interval = duration_to_ps(self.config.interval).max(1);
        self.next_tx = self.next_tx.plus_ps(interval);
        if self.next_tx <= now {
            self.next_tx = now.plus_ps(interval);
        }
        self.seq = self.seq.wrapping_add(1);
        self.counters.sent += 1;
        Some(build_hello(
            unit,
            port,
            src,
            self.seq,
            control_attached,
            self.config.interval,
        ))
    }

    /// A hello arrived at `now` with `header` (already parsed) in `frame`.
    pub fn handle_hello(
        &mut self,
        now: Instant,
        header: &StackHeaderRepr,
        frame: &[u8],
    ) -> Option<HelloChange> {
        let Some((seq, attached)) = parse_hello(frame) else {
            self.counters.malformed += 1;
            return None;
        };
        self.counters.received += 1;
        if let Some(last) = self.last_seq {
            let gap = seq.wrapping_sub(last);
            if gap > 1 && gap < u32::MAX / 2 {
                self.counters.lost += u64::from(gap - 1);
            }
        }
        self.last_seq = Some(seq);
        self.last_rx = Some(now);
        let peer = HelloPeer {
            unit: header.src_unit,
            port: header.src_port,
            control_attached: attached,
        };
        let before = self.peer.replace(peer);
        if !self.alive {
            self.alive = true;
            return Some(HelloChange::Up(peer));
        }
        match before {
            Some(b) if b.control_attached != attached || b.unit != peer.unit => {
                Some(HelloChange::PeerControl(peer))
            }
            _ => None,
        }
    }
}

fn build_hello(
    unit: u8,
    port: u8,
    src: MacAddr,
    seq: u32,
    attached: bool,
    interval: Duration,
) -> [u8; MIN_FRAME_LEN] {
    let mut f = [0u8; MIN_FRAME_LEN];
    f[..6].copy_from_slice(&HELLO_DST.octets());
    f[6..12].copy_from_slice(&src.octets());
    let header = StackHeaderRepr {
        kind: StackFrameKind::Hello,
        flood: false,
        src_unit: unit,
        src_port: port,
        dst_unit: 0,
        dst_port: 0,
        priority: 7,
        hop_limit: 1,
        vlan: VlanTag {
            pcp: 7,
            dei: false,
            vid: 0,
        },
    };
    // 12..24 is exactly the encapsulation's length, so emit cannot fail.
    let _ = header.emit(&mut f[12..PAYLOAD]);
    f[PAYLOAD..PAYLOAD + 4].copy_from_slice(&seq.to_be_bytes());
    f[PAYLOAD + 4] = u8::from(attached);
    let us = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
    f[PAYLOAD + 8..PAYLOAD + 16].copy_from_slice(&us.to_be_bytes());
    f
}

/// `(sequence, control attached)` of a hello frame, if it is long enough.
fn parse_hello(frame: &[u8]) -> Option<(u32, bool)> {
    let p = frame.get(PAYLOAD..PAYLOAD + 5)?;
    let seq = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
    Some((seq, p[4] & 1 == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000_000;

    fn session() -> HelloSession {
        HelloSession::new(HelloConfig::default(), Instant::ZERO)
    }

    fn hello_from(
        unit: u8,
        seq_session: &mut HelloSession,
        now: Instant,
        attached: bool,
    ) -> ([u8; 60], StackHeaderRepr) {
        let f = seq_session
            .poll_hello(now, unit, 1, MacAddr(2, 0, 0, 0, unit, 1), attached)
            .expect("hello due");
        let h = StackHeaderRepr::parse_frame(&f).expect("hello parses");
        (f, h)
    }

    #[test]
    fn hello_frames_are_stack_frames_of_kind_hello() {
        let mut s = session();
        let (f, h) = hello_from(3, &mut s, Instant::ZERO, true);
        assert_eq!(h.kind, StackFrameKind::Hello);
        assert_eq!((h.src_unit, h.src_port, h.hop_limit), (3, 1, 1));
        assert_eq!(parse_hello(&f), Some((1, true)));
        assert!(
            s.poll_hello(Instant::from_ps(MS), 3, 1, MacAddr::zero(), true)
                .is_none(),
            "not due before 10 ms"
        );
        assert!(s
            .poll_hello(Instant::from_ps(10 * MS), 3, 1, MacAddr::zero(), true)
            .is_some());
    }

    #[test]
    fn link_comes_up_on_first_hello_and_dies_after_three_missed() {
        let mut peer = session();
        let mut me = session();
        let (f, h) = hello_from(2, &mut peer, Instant::ZERO, true);
        let up = me.handle_hello(Instant::from_ps(MS), &h, &f);
        assert!(matches!(
            up,
            Some(HelloChange::Up(HelloPeer {
                unit: 2,
                control_attached: true,
                ..
            }))
        ));
        assert_eq!(me.poll_timeout(), Instant::ZERO, "own hello still due");
        me.poll_hello(Instant::ZERO, 1, 1, MacAddr::zero(), true);
        assert_eq!(
            me.handle_timeout(Instant::from_ps(30 * MS)),
            None,
            "29 ms after the last hello"
        );
        assert_eq!(
            me.handle_timeout(Instant::from_ps(31 * MS)),
            Some(HelloChange::Down)
        );
        assert!(!me.alive());
        assert_eq!(me.counters.link_downs, 1);
        assert_eq!(
            me.counters.lost, 3,
            "three intervals passed without a hello"
        );
    }

    #[test]
    fn control_flag_changes_and_losses_are_reported() {
        let mut peer = session();
        let mut me = session();
        let (f, h) = hello_from(2, &mut peer, Instant::ZERO, true);
        me.handle_hello(Instant::ZERO, &h, &f);
        // Two hellos lost, then one saying control detached.
        peer.poll_hello(Instant::from_ps(10 * MS), 2, 1, MacAddr::zero(), true);
        peer.poll_hello(Instant::from_ps(20 * MS), 2, 1, MacAddr::zero(), true);
        let (f, h) = hello_from(2, &mut peer, Instant::from_ps(30 * MS), false);
        let change = me.handle_hello(Instant::from_ps(30 * MS), &h, &f);
        assert!(matches!(
            change,
            Some(HelloChange::PeerControl(HelloPeer {
                control_attached: false,
                ..
            }))
        ));
        assert_eq!(me.counters.lost, 2);
        assert_eq!(me.counters.received, 2);
    }

    #[test]
    fn short_hellos_are_counted_not_trusted() {
        let mut me = session();
        let mut peer = session();
        let (f, h) = hello_from(2, &mut peer, Instant::ZERO, true);
        assert_eq!(me.handle_hello(Instant::ZERO, &h, &f[..26]), None);
        assert_eq!(me.counters.malformed, 1);
        assert!(!me.alive());
    }
}
