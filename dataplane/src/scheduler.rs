//! Egress queues of one port and the 802.1Qaz transmission selection between them.
//!
//! Eight traffic-class queues. Strict-priority classes are served first, the highest class
//! number first; the ETS classes share what is left by deficit-weighted round robin (DWRR,
//! Shreedhar & Varghese), each earning `weight × QUANTUM_UNIT` bytes of credit per round, so
//! their long-run byte shares follow their weights whatever the frame sizes. A class that is
//! paused (PFC) is simply not eligible: it keeps its place and its credit.

use std::collections::VecDeque;

use crate::config::{TcSchedule, NUM_PRIORITIES};

/// Bytes of DWRR credit per percent of ETS weight per round.
pub const QUANTUM_UNIT: u64 = 512;

/// Something that sits in an egress queue and occupies bytes on the wire.
pub trait Queued {
    /// Length in bytes the scheduler charges for it.
    fn len_bytes(&self) -> u64;
}

/// The eight egress queues of one port and their scheduler.
#[derive(Debug)]
pub struct EgressQueues<F> {
    queues: [VecDeque<F>; NUM_PRIORITIES],
    bytes: [u64; NUM_PRIORITIES],
    strict_mask: u8,
    quantum: [u64; NUM_PRIORITIES],
    deficit: [u64; NUM_PRIORITIES],
    rr: usize,
    credited: bool,
    non_empty: u8,
}

impl<F: Queued> EgressQueues<F> {
    /// Empty queues scheduled as `schedule` says.
    pub fn new(schedule: &[TcSchedule; NUM_PRIORITIES]) -> Self {
        let mut q = EgressQueues {
            queues: Default::default(),
            bytes: [0; NUM_PRIORITIES],
            strict_mask: 0,
            quantum: [0; NUM_PRIORITIES],
            deficit: [0; NUM_PRIORITIES],
            rr: 0,
            credited: false,
            non_empty: 0,
        };
        q.set_schedule(schedule);
        q
    }

    /// Changes the scheduling; queued frames stay.
    pub fn set_schedule(&mut self, schedule: &[TcSchedule; NUM_PRIORITIES]) {
        self.strict_mask = 0;
        for (tc, s) in schedule.iter().enumerate() {
            match s {
                TcSchedule::Strict => {
                    self.strict_mask |= 1 << tc;
                    self.quantum[tc] = 0;
                }
                TcSchedule::Ets { weight } => {
                    self.quantum[tc] = u64::from(*weight).max(1) * QUANTUM_UNIT
                }
            }
        }
        self.deficit = [0; NUM_PRIORITIES];
        self.credited = false;
    }

    /// Appends a frame to traffic class `tc`'s queue.
    #[inline]
    pub fn push(&mut self, tc: usize, frame: F) {
        let tc = tc & 7;
        self.bytes[tc] += frame.len_bytes();
        self.queues[tc].push_back(frame);
        self.non_empty |= 1 << tc;
    }

    /// Bitmap of traffic classes with frames queued.
    #[inline]
    pub fn non_empty(&self) -> u8 {
        self.non_empty
    }

    /// Bytes queued in `tc`.
    pub fn depth_bytes(&self, tc: usize) -> u64 {
        self.bytes[tc & 7]
    }

    /// Frames queued in `tc`.
    pub fn depth_frames(&self, tc: usize) -> usize {
        self.queues[tc & 7].len()
    }

    /// Chooses the traffic class to transmit from next among `eligible` (a bitmap of classes
    /// that are not paused) and takes its head frame.
    #[inline]
    pub fn dequeue(&mut self, eligible: u8) -> Option<(usize, F)> {
        let tc = self.select(eligible & self.non_empty)?;
        self.pop(tc).map(|f| (tc, f))
    }

    /// Takes the head frame of `tc` regardless of scheduling (used to discard).
    pub fn pop(&mut self, tc: usize) -> Option<F> {
        let tc = tc & 7;
        let f = self.queues[tc].pop_front()?;
        self.bytes[tc] -= f.len_bytes();
        if self.queues[tc].is_empty() {
            self.non_empty &= !(1 << tc);
            self.deficit[tc] = 0;
        }
        Some(f)
    }

    fn select(&mut self, candidates: u8) -> Option<usize> {
        if candidates == 0 {
            return None;
        }
        let strict = candidates & self.strict_mask;
        if strict != 0 {
            return Some(7 - strict.leading_zeros() as usize);
        }
        // DWRR over the ETS candidates. Each pass over the ring adds at least QUANTUM_UNIT
        // to every candidate, so a pick is found within ceil(max frame / QUANTUM_UNIT) + 1
        // passes; the bound below covers jumbo frames with room to spare.
        const MAX_STEPS: usize = NUM_PRIORITIES * (16384 / QUANTUM_UNIT as usize + 2);
        for _ in 0..MAX_STEPS {
            let tc = self.rr;
            if candidates & (1 << tc) != 0 {
                if !self.credited {
                    self.deficit[tc] += self.quantum[tc];
                    self.credited = true;
                }
                let head = self.queues[tc].front().map_or(0, Queued::len_bytes);
                if self.deficit[tc] >= head {
                    self.deficit[tc] -= head;
                    return Some(tc);
                }
            }
            self.rr = (tc + 1) % NUM_PRIORITIES;
            self.credited = false;
        }
        // Unreachable with frames under 16 KiB; stay work-conserving regardless.
        Some(candidates.trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct F(u64);
    impl Queued for F {
        fn len_bytes(&self) -> u64 {
            self.0
        }
    }

    fn schedule(ets: &[(usize, u8)]) -> [TcSchedule; 8] {
        let mut s = [TcSchedule::Strict; 8];
        for &(tc, weight) in ets {
            s[tc] = TcSchedule::Ets { weight };
        }
        s
    }

    #[test]
    fn strict_serves_highest_class_first_and_skips_ineligible() {
        let mut q = EgressQueues::new(&schedule(&[]));
        q.push(1, F(100));
        q.push(6, F(100));
        q.push(3, F(100));
        assert_eq!(q.dequeue(0xff).map(|x| x.0), Some(6));
        assert_eq!(q.dequeue(!(1 << 3)).map(|x| x.0), Some(1), "TC3 paused");
        assert_eq!(q.dequeue(0xff).map(|x| x.0), Some(3));
        assert_eq!(q.dequeue(0xff), None);
        assert_eq!(q.non_empty(), 0);
    }

    #[test]
    fn strict_classes_preempt_ets() {
        let mut q = EgressQueues::new(&schedule(&[(0, 50), (1, 50)]));
        q.push(0, F(100));
        q.push(5, F(100));
        assert_eq!(q.dequeue(0xff).map(|x| x.0), Some(5));
        assert_eq!(q.dequeue(0xff).map(|x| x.0), Some(0));
    }

    /// Byte shares of backlogged ETS classes follow their weights, with mixed frame sizes.
    #[test]
    fn ets_byte_shares_follow_weights() {
        let mut q = EgressQueues::new(&schedule(&[(0, 20), (1, 30), (2, 50)]));
        let sizes = [64u64, 1500, 9000];
        for i in 0..20_000 {
            for tc in 0..3 {
                q.push(tc, F(sizes[(i + tc) % 3]));
            }
        }
        let mut sent = [0u64; 3];
        for _ in 0..20_000 {
            let (tc, f) = q.dequeue(0xff).unwrap();
            sent[tc] += f.0;
        }
        let total: u64 = sent.iter().sum();
        for (tc, want) in [(0, 0.2), (1, 0.3), (2, 0.5)] {
            let share = sent[tc] as f64 / total as f64;
            assert!(
                (share - want).abs() < 0.01,
                "TC{tc} got {share:.3}, wanted {want}"
            );
        }
    }

    /// A paused ETS class keeps its credit and its share resumes when it is eligible again;
    /// meanwhile the others take the whole link.
    #[test]
    fn paused_ets_class_yields_to_others() {
        let mut q = EgressQueues::new(&schedule(&[(0, 50), (1, 50)]));
        for _ in 0..100 {
            q.push(0, F(1000));
            q.push(1, F(1000));
        }
        for _ in 0..50 {
            assert_eq!(q.dequeue(0b10).unwrap().0, 1);
        }
        assert_eq!(q.depth_frames(0), 100);
        assert_eq!(q.depth_bytes(1), 50_000);
    }
}
