//! The event queue of the discrete-event world: a min-heap on (time, sequence number) over
//! small entries, the payloads in a slab.
//!
//! Events at the same instant come out in the order they were scheduled — the sequence number
//! breaks ties — so a run never depends on the heap's internal layout: same inputs, same order.

use bytes::Bytes;
use dataplane::{Instant, PortIndex};

use super::NodeId;

/// Something that happens to a node at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The last bit of `frame` arrives on `port` of `node`.
    Deliver {
        /// Receiving node.
        node: NodeId,
        /// Its port.
        port: PortIndex,
        /// The frame, as sent.
        frame: Bytes,
    },
    /// The node asked (through `poll_timeout`) to be called at this instant.
    Wake {
        /// The node.
        node: NodeId,
    },
}

/// An event with its time and tie-breaking sequence number.
#[derive(Clone, Debug)]
pub struct Scheduled {
    /// When it happens.
    pub at: Instant,
    /// Order of scheduling; breaks ties between events at the same instant.
    pub seq: u64,
    /// What happens.
    pub kind: EventKind,
}

/// A 4-ary min-heap of (key, slot): the key is time (ps) in the upper 64 bits and the
/// sequence number in the lower, so one integer comparison orders events, FIFO among equals.
/// Entries are small and the payload (with its frame handle) stays put in a slab; four children
/// per node halve the heap's depth. (A `std::collections::BinaryHeap` of whole events was a
/// fifth of the simulator's time; BENCHMARKS.md.)
#[derive(Debug, Default)]
struct Heap {
    v: Vec<(u128, u32)>,
}

impl Heap {
    fn push(&mut self, key: u128, slot: u32) {
        let mut i = self.v.len();
        self.v.push((key, slot));
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.v[parent].0 <= key {
                break;
            }
            self.v[i] = self.v[parent];
            i = parent;
        }
        self.v[i] = (key, slot);
    }

    fn peek(&self) -> Option<u128> {
        self.v.first().map(|e| e.0)
    }

    fn pop(&mut self) -> Option<(u128, u32)> {
        let top = *self.v.first()?;
        let last = self.v.pop()?;
        let n = self.v.len();
        if n == 0 {
            return Some(top);
        }
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let end = (first + 4).min(n);
            let mut best = first;
            for c in first + 1..end {
                if self.v[c].0 < self.v[best].0 {
                    best = c;
                }
            }
            if self.v[best].0 >= last.0 {
                break;
            }
            self.v[i] = self.v[best];
            i = best;
        }
        self.v[i] = last;
        Some(top)
    }
}

/// Pending events, earliest first, FIFO among equals.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: Heap,
    /// Payloads by slot; `None` for a free slot.
    slab: Vec<Option<EventKind>>,
    free: Vec<u32>,
    next_seq: u64,
    deliveries_pending: usize,
}

impl EventQueue {
    /// Schedules `kind` at `at`.
    pub fn push(&mut self, at: Instant, kind: EventKind) {
        if matches!(kind, EventKind::Deliver { .. }) {
            self.deliveries_pending += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(kind);
                s
            }
            None => {
                self.slab.push(Some(kind));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap
            .push(u128::from(at.as_ps()) << 64 | u128::from(seq), slot);
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|k| Instant::from_ps((k >> 64) as u64))
    }

    /// Takes the earliest event.
    pub fn pop(&mut self) -> Option<Scheduled> {
        let (key, slot) = self.heap.pop()?;
        let kind = self.slab.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        if matches!(kind, EventKind::Deliver { .. }) {
            self.deliveries_pending -= 1;
        }
        Some(Scheduled {
            at: Instant::from_ps((key >> 64) as u64),
            seq: key as u64,
            kind,
        })
    }

    /// Frames still on a wire.
    pub fn deliveries_pending(&self) -> usize {
        self.deliveries_pending
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.v.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.v.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_among_equals() {
        let mut q = EventQueue::default();
        let wake = |n| EventKind::Wake { node: NodeId(n) };
        q.push(Instant::from_ps(5), wake(0));
        q.push(Instant::from_ps(3), wake(1));
        q.push(Instant::from_ps(5), wake(2));
        q.push(Instant::from_ps(3), wake(3));
        let order: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|s| match s.kind {
                EventKind::Wake { node } => node.0,
                EventKind::Deliver { .. } => usize::MAX,
            })
            .collect();
        assert_eq!(order, vec![1, 3, 0, 2]);
    }

    #[test]
    fn many_events_come_out_sorted() {
        let mut q = EventQueue::default();
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut expect = Vec::new();
        for n in 0..2000 {
            let t = rng.below(300);
            q.push(Instant::from_ps(t), EventKind::Wake { node: NodeId(n) });
            expect.push((t, n));
            if n % 7 == 0 {
                // Interleave pops with pushes.
                expect.sort();
                let first = expect.remove(0);
                let s = q.pop().unwrap();
                let EventKind::Wake { node } = s.kind else {
                    panic!()
                };
                assert_eq!((s.at.as_ps(), node.0), first);
            }
        }
        expect.sort();
        for e in expect {
            let s = q.pop().unwrap();
            let EventKind::Wake { node } = s.kind else {
                panic!()
            };
            assert_eq!((s.at.as_ps(), node.0), e);
        }
        assert!(q.is_empty());
    }
}
