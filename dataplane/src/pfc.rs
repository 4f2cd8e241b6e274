//! PFC (802.1Qbb) and PAUSE (802.3x) state of one port: what the peer told us to do
//! ([`PauseReceiver`]) and what we told the peer ([`PauseSender`]).
//!
//! Receiver rules, exactly as DESIGN.md §3 states them:
//! * an enabled bit with quanta > 0 pauses the egress traffic classes that priority maps to,
//!   for quanta × 512 bit times at the port's speed;
//! * a newer frame replaces the timer, it never adds to it;
//! * quanta 0 resumes at once;
//! * bits that are 0 change nothing;
//! * a frame already on the wire finishes (the engine never pre-empts a transmission);
//! * MAC Control frames themselves are never paused (the engine sends them outside the queues).
//!
//! PAUSE is the same with every priority enabled and one pause time.

use crate::config::NUM_PRIORITIES;
use crate::time::{bits_time_ps, Instant};

/// Bit times in one pause quantum.
pub const QUANTUM_BITS: u64 = 512;

/// Time of `quanta` pause quanta at `speed_bps`, in picoseconds.
#[inline]
pub fn quanta_ps(quanta: u16, speed_bps: u64) -> u64 {
    bits_time_ps(u64::from(quanta) * QUANTUM_BITS, speed_bps)
}

/// The pauses a peer has asked of our egress, per priority and per traffic class.
#[derive(Clone, Debug)]
pub struct PauseReceiver {
    /// Priority p is paused while `now < until[p]`.
    until: [Instant; NUM_PRIORITIES],
    /// Start of the pause interval now open for priority p (for the paused-time counters).
    since: [Option<Instant>; NUM_PRIORITIES],
    /// Closed paused time per priority, in picoseconds.
    paused_ps: [u64; NUM_PRIORITIES],
    /// The latest `until` of any priority: nothing is paused at or after it.
    latest: Instant,
    /// Priority → traffic class of this port.
    tc_of: [u8; NUM_PRIORITIES],
    /// Traffic class → when its current continuous pause began (for the watchdog).
    tc_pause_start: [Option<Instant>; NUM_PRIORITIES],
    /// Traffic class → when the last pause (quanta > 0) for one of its priorities arrived.
    tc_last_pause: [Option<Instant>; NUM_PRIORITIES],
}

impl PauseReceiver {
    /// Nothing paused; `tc_of` maps priorities to this port's egress classes.
    pub fn new(tc_of: [u8; NUM_PRIORITIES]) -> Self {
        PauseReceiver {
            until: [Instant::ZERO; NUM_PRIORITIES],
            since: [None; NUM_PRIORITIES],
            paused_ps: [0; NUM_PRIORITIES],
            latest: Instant::ZERO,
            tc_of: tc_of.map(|t| t & 7),
            tc_pause_start: [None; NUM_PRIORITIES],
            tc_last_pause: [None; NUM_PRIORITIES],
        }
    }

    /// Changes the priority → traffic class map (the port was reconfigured). Pause timers stay.
    pub fn set_tc_map(&mut self, tc_of: [u8; NUM_PRIORITIES]) {
        self.tc_of = tc_of.map(|t| t & 7);
    }

    /// Applies a received PFC frame (or a PAUSE, as `enable = 0xff` and equal quanta) at `now`
    /// on a port running at `speed_bps`.
    pub fn apply(
        &mut self,
        now: Instant,
        enable: u8,
        quanta: &[u16; NUM_PRIORITIES],
        speed_bps: u64,
    ) {
        let tcs_paused_before = self.paused_tcs(now);
        for (p, &q) in quanta.iter().enumerate() {
            if enable & (1 << p) == 0 {
                continue; // bits that are 0 change nothing
            }
            self.close_interval(p, now);
            if q == 0 {
                self.until[p] = now;
            } else {
                self.until[p] = now.plus_ps(quanta_ps(q, speed_bps));
                self.since[p] = Some(now);
                let tc = usize::from(self.tc_of[p]);
                self.tc_last_pause[tc] = Some(now);
            }
        }
        self.latest = self.until.iter().copied().max().unwrap_or(Instant::ZERO);
        let tcs_paused_after = self.paused_tcs(now);
        for tc in 0..NUM_PRIORITIES {
            let bit = 1 << tc;
            if tcs_paused_after & bit == 0 {
                self.tc_pause_start[tc] = None;
            } else if tcs_paused_before & bit == 0 {
                self.tc_pause_start[tc] = Some(now);
            }
        }
    }

    fn close_interval(&mut self, p: usize, now: Instant) {
        if let Some(start) = self.since[p].take() {
            let end = now.min(self.until[p]);
            self.paused_ps[p] += end.as_ps().saturating_sub(start.as_ps());
        }
    }

    /// Bitmap of egress traffic classes paused at `now`.
    #[inline]
    pub fn paused_tcs(&self, now: Instant) -> u8 {
        if now >= self.latest {
            return 0;
        }
        let mut mask = 0;
        for p in 0..NUM_PRIORITIES {
            if now < self.until[p] {
                mask |= 1 << self.tc_of[p];
            }
        }
        mask
    }

    /// The next instant after `now` at which a pause in force at `now` ends: until then, with
    /// no new frame applied, every answer of this receiver stays what it is at `now`.
    #[inline]
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        if now >= self.latest {
            return None;
        }
        self.until.iter().copied().filter(|&u| now < u).min()
    }

    /// Bitmap of priorities paused at `now`.
    pub fn paused_priorities(&self, now: Instant) -> u8 {
        if now >= self.latest {
            return 0;
        }
        let mut mask = 0;
        for p in 0..NUM_PRIORITIES {
            if now < self.until[p] {
                mask |= 1 << p;
            }
        }
        mask
    }

    /// When the pause of traffic class `tc` ends, if it is paused at `now`.
    pub fn tc_resumes_at(&self, tc: usize, now: Instant) -> Option<Instant> {
        if now >= self.latest {
            return None;
        }
        (0..NUM_PRIORITIES)
            .filter(|&p| usize::from(self.tc_of[p]) == tc && now < self.until[p])
            .map(|p| self.until[p])
            .max()
    }

    /// When the continuous pause of `tc` began, if it is paused at `now`.
    pub fn tc_pause_start(&self, tc: usize, now: Instant) -> Option<Instant> {
        if self.paused_tcs(now) & (1 << tc) == 0 {
            return None;
        }
        self.tc_pause_start[tc]
    }

    /// When the last pause for one of `tc`'s priorities arrived.
    pub fn tc_last_pause(&self, tc: usize) -> Option<Instant> {
        self.tc_last_pause[tc]
    }

    /// Total time priority `p` has been paused up to `now`.
    pub fn paused_ps(&self, p: usize, now: Instant) -> u64 {
        let open = match self.since[p] {
            Some(start) => now.min(self.until[p]).as_ps().saturating_sub(start.as_ps()),
            None => 0,
        };
        self.paused_ps[p] + open
    }
}

/// What we have told the peer on one port, and what we still have to tell it.
#[derive(Clone, Debug, Default)]
pub struct PauseSender {
    /// Priorities we hold paused (XOFF in force).
    pub xoff: u8,
    /// Priorities whose XOFF must go out in the next MAC Control frame.
    pub pending_xoff: u8,
    /// Priorities whose XON (quanta 0) must go out in the next MAC Control frame.
    pub pending_xon: u8,
    /// When XOFF must be re-sent so the peer does not resume on its own.
    pub refresh_at: Option<Instant>,
}

impl PauseSender {
    /// `priorities` must now be paused.
    pub fn xoff(&mut self, priorities: u8) {
        let new = priorities & !self.xoff;
        self.xoff |= priorities;
        self.pending_xoff |= new;
        self.pending_xon &= !priorities;
    }

    /// `priorities` may resume.
    pub fn xon(&mut self, priorities: u8) {
        let was = priorities & self.xoff;
        self.xoff &= !priorities;
        self.pending_xon |= was;
        self.pending_xoff &= !priorities;
    }

    /// Whether a MAC Control frame is waiting to be sent.
    #[inline]
    pub fn pending(&self) -> bool {
        self.pending_xoff | self.pending_xon != 0
    }

    /// Takes what must be sent now: `(enable vector, quanta per priority)`, and arms the
    /// refresh timer `refresh_ps` after `now` while any priority stays paused.
    ///
    /// Every frame renews the XOFF of *every* priority held paused, not only the ones that
    /// triggered it: the single refresh timer is re-armed by each frame, so a frame that left
    /// out a paused priority would push that priority's renewal past the moment the peer's
    /// timer for it runs out (the peer would resume while the PG is still congested).
    pub fn take(
        &mut self,
        now: Instant,
        pause_quanta: u16,
        refresh_ps: u64,
    ) -> (u8, [u16; NUM_PRIORITIES]) {
        let enable = self.xoff | self.pending_xon;
        let mut quanta = [0u16; NUM_PRIORITIES];
        for (p, q) in quanta.iter_mut().enumerate() {
            if self.xoff & (1 << p) != 0 {
                *q = pause_quanta;
            }
        }
        self.pending_xoff = 0;
        self.pending_xon = 0;
        self.refresh_at = (self.xoff != 0).then(|| now.plus_ps(refresh_ps));
        (enable, quanta)
    }

    /// At the refresh time, queues a fresh XOFF for every priority still paused.
    pub fn refresh_due(&mut self, now: Instant) {
        if matches!(self.refresh_at, Some(t) if t <= now) {
            self.refresh_at = None;
            self.pending_xoff |= self.xoff;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEN_G: u64 = 10_000_000_000;

    fn identity() -> [u8; 8] {
        [0, 1, 2, 3, 4, 5, 6, 7]
    }

    #[test]
    fn pause_lasts_quanta_times_512_bit_times() {
        let mut r = PauseReceiver::new(identity());
        let t0 = Instant::from_nanos(1000);
        let mut q = [0; 8];
        q[3] = 100;
        r.apply(t0, 1 << 3, &q, TEN_G);
        // 100 quanta at 10G = 5120 ns.
        assert_eq!(r.paused_tcs(t0), 1 << 3);
        assert_eq!(r.paused_tcs(t0.plus_ps(5_119_999)), 1 << 3);
        assert_eq!(r.paused_tcs(t0.plus_ps(5_120_000)), 0);
        assert_eq!(r.paused_ps(3, t0.plus_ps(10_000_000)), 5_120_000);
    }

    #[test]
    fn newer_frame_replaces_never_adds_and_zero_resumes() {
        let mut r = PauseReceiver::new(identity());
        let t0 = Instant::ZERO;
        let mut q = [0; 8];
        q[5] = 1000;
        r.apply(t0, 1 << 5, &q, TEN_G);
        q[5] = 10;
        let t1 = t0.plus_ps(1_000_000);
        r.apply(t1, 1 << 5, &q, TEN_G);
        assert_eq!(
            r.tc_resumes_at(5, t1),
            Some(t1.plus_ps(512_000)),
            "replaced, not added"
        );
        q[5] = 0;
        r.apply(t1.plus_ps(1), 1 << 5, &q, TEN_G);
        assert_eq!(r.paused_tcs(t1.plus_ps(1)), 0);
    }

    #[test]
    fn pause_maps_priorities_to_their_traffic_class() {
        let mut r = PauseReceiver::new([0, 0, 1, 1, 2, 2, 3, 3]);
        let q = [0xffff; 8];
        r.apply(Instant::ZERO, 1 << 5, &q, TEN_G);
        assert_eq!(r.paused_tcs(Instant::ZERO), 1 << 2);
        assert_eq!(r.paused_priorities(Instant::ZERO), 1 << 5);
    }

    #[test]
    fn sender_sends_xoff_refreshes_and_xon() {
        let mut s = PauseSender::default();
        s.xoff(1 << 3);
        assert!(s.pending());
        let (en, q) = s.take(Instant::ZERO, 0xffff, 100);
        assert_eq!((en, q[3]), (1 << 3, 0xffff));
        assert_eq!(s.refresh_at, Some(Instant::from_ps(100)));
        s.refresh_due(Instant::from_ps(99));
        assert!(!s.pending());
        s.refresh_due(Instant::from_ps(100));
        assert_eq!(s.take(Instant::from_ps(100), 0xffff, 100).0, 1 << 3);
        s.xon(1 << 3);
        let (en, q) = s.take(Instant::from_ps(150), 0xffff, 100);
        assert_eq!((en, q[3]), (1 << 3, 0));
        assert_eq!(s.refresh_at, None);
        s.xon(1 << 3);
        assert!(!s.pending(), "XON only for what was paused");
    }

    proptest! {
        /// DESIGN.md §7 invariant 3: after any sequence of received frames, a priority is paused
        /// exactly until (arrival of the last frame that had its bit set) + its quanta, and not
        /// at all if those quanta were 0; bits left 0 never changed anything.
        #[test]
        fn receiver_rules_hold(frames in proptest::collection::vec((0u64..50_000, any::<u8>(), proptest::array::uniform8(prop_oneof![Just(0u16), 1u16..200, Just(0xffff)])), 1..40),
                               speed in prop_oneof![Just(1_000_000_000u64), Just(TEN_G), Just(25_000_000_000), Just(100_000_000_000)],
                               probe in 0u64..20_000_000) {
            let mut r = PauseReceiver::new(identity());
            let mut now = Instant::ZERO;
            let mut model: [Option<(Instant, u16)>; 8] = [None; 8];
            for (gap, enable, quanta) in &frames {
                now = now.plus_ps(*gap * 1000);
                r.apply(now, *enable, quanta, speed);
                for p in 0..8 {
                    if enable & (1 << p) != 0 {
                        model[p] = Some((now, quanta[p]));
                    }
                }
            }
            let t = now.plus_ps(probe * 1000);
            for (p, m) in model.iter().enumerate() {
                let expect = match *m {
                    // quanta × 512 bit times, rounded up to whole picoseconds.
                    Some((at, q)) => t < at.plus_ps((u128::from(q) * 512 * 1_000_000_000_000).div_ceil(u128::from(speed)) as u64),
                    None => false,
                };
                prop_assert_eq!(r.paused_priorities(t) & (1 << p) != 0, expect, "priority {}", p);
                prop_assert_eq!(r.paused_tcs(t) & (1 << p) != 0, expect);
            }
        }
    }
}
