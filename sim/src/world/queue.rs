//! The event queue of the discrete-event world: a radix heap on time over small entries, the
//! payloads in a slab.
//!
//! Events at the same instant come out in the order they were scheduled, so a run never
//! depends on the queue's internal layout: same inputs, same order.

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

/// An event with its time.
#[derive(Clone, Debug)]
pub struct Scheduled {
    /// When it happens.
    pub at: Instant,
    /// What happens.
    pub kind: EventKind,
}

/// Buckets of a radix heap: bucket 0 holds the keys equal to the last key taken; bucket `b`
/// (1..=64) those whose highest bit differing from it is bit `b - 1`.
const BUCKETS: usize = 65;

/// A monotone radix heap of (time in ps, slot) entries, FIFO among equal times.
///
/// A discrete-event queue only ever receives times at or after the last one taken, which a
/// radix heap exploits: a push is an append to the bucket its time falls in relative to that
/// last time (one XOR and a leading-zero count); a pop takes bucket 0 in order, and when it
/// is empty spreads the lowest non-empty bucket over the lower ones, each entry moving down at
/// most once per bit. Entries with equal times always share a bucket and keep the order they
/// were pushed in (appends and spreading are both in order), so equal times come out first in,
/// first out — the order a sequence number gave the former binary heap, without comparing one.
/// In the benchmarks an entry moves about 3.4 times; the 4-ary heap of `(time·2⁶⁴ + sequence)`
/// keys this replaces cost about twice as much per event (BENCHMARKS.md).
#[derive(Debug)]
struct RadixHeap {
    buckets: [Vec<(u64, u32)>; BUCKETS],
    /// Entries of bucket 0 before this index have been taken.
    head: usize,
    /// Bit `b - 1` set: bucket `b` (1..=64) is not empty.
    nonempty: u64,
    /// The earliest time in each bucket (`u64::MAX` when empty; bucket 0's is not kept).
    mins: [u64; BUCKETS],
    /// The last time taken; no entry is earlier.
    last: u64,
    len: usize,
}

impl Default for RadixHeap {
    fn default() -> Self {
        RadixHeap {
            buckets: std::array::from_fn(|_| Vec::new()),
            head: 0,
            nonempty: 0,
            mins: [u64::MAX; BUCKETS],
            last: 0,
            len: 0,
        }
    }
}

impl RadixHeap {
    /// The bucket of `key` relative to the last time taken.
    #[inline]
    fn bucket(&self, key: u64) -> usize {
        BUCKETS - 1 - (key ^ self.last).leading_zeros() as usize
    }

    /// Adds an entry; `key` must not be earlier than the last time taken.
    #[inline]
    fn push(&mut self, key: u64, slot: u32) {
        debug_assert!(
            key >= self.last,
            "event at {key} ps queued after {} ps was taken",
            self.last
        );
        // An earlier time cannot be ordered any more; it is taken as the last time (never
        // happens: the world schedules at or after its clock).
        let key = key.max(self.last);
        let b = self.bucket(key);
        self.buckets[b].push((key, slot));
        if b > 0 {
            self.nonempty |= 1 << (b - 1);
            self.mins[b] = self.mins[b].min(key);
        }
        self.len += 1;
    }

    /// The earliest time queued.
    #[inline]
    fn peek(&self) -> Option<u64> {
        if self.head < self.buckets[0].len() {
            return Some(self.last);
        }
        if self.nonempty == 0 {
            return None;
        }
        Some(self.mins[self.nonempty.trailing_zeros() as usize + 1])
    }

    /// Takes the earliest entry (the first pushed among equal times).
    #[inline]
    fn pop(&mut self) -> Option<(u64, u32)> {
        if self.head == self.buckets[0].len() {
            self.refill()?;
        }
        let e = self.buckets[0][self.head];
        self.head += 1;
        self.len -= 1;
        Some(e)
    }

    /// Bucket 0 is drained: makes the earliest time queued the last one and spreads its
    /// bucket over the lower ones (bucket 0 among them).
    fn refill(&mut self) -> Option<()> {
        self.buckets[0].clear();
        self.head = 0;
        if self.nonempty == 0 {
            return None;
        }
        let b = self.nonempty.trailing_zeros() as usize + 1;
        self.nonempty &= !(1 << (b - 1));
        let last = std::mem::replace(&mut self.mins[b], u64::MAX);
        self.last = last;
        if self.buckets[b].len() == 1 {
            // Alone in its bucket (often): it is the earliest, straight to bucket 0.
            self.buckets.swap(0, b);
            return Some(());
        }
        // Every entry of bucket `b` falls in a lower one now (the earliest in bucket 0).
        let (lower, upper) = self.buckets.split_at_mut(b);
        let spread = upper.first_mut()?;
        for &(key, slot) in spread.iter() {
            let nb = BUCKETS - 1 - (key ^ last).leading_zeros() as usize;
            lower.get_mut(nb)?.push((key, slot));
            if nb > 0 {
                self.nonempty |= 1 << (nb - 1);
                self.mins[nb] = self.mins[nb].min(key);
            }
        }
        spread.clear();
        Some(())
    }
}

/// Pending events, earliest first, FIFO among equals.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: RadixHeap,
    /// Payloads by slot; `None` for a free slot.
    slab: Vec<Option<EventKind>>,
    free: Vec<u32>,
    deliveries_pending: usize,
}

impl EventQueue {
    /// Schedules `kind` at `at`, which must not be earlier than the last event taken.
    pub fn push(&mut self, at: Instant, kind: EventKind) {
        if matches!(kind, EventKind::Deliver { .. }) {
            self.deliveries_pending += 1;
        }
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
        self.heap.push(at.as_ps(), slot);
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(Instant::from_ps)
    }

    /// Takes the earliest event.
    pub fn pop(&mut self) -> Option<Scheduled> {
        let (at, slot) = self.heap.pop()?;
        let kind = self.slab.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        if matches!(kind, EventKind::Deliver { .. }) {
            self.deliveries_pending -= 1;
        }
        Some(Scheduled {
            at: Instant::from_ps(at),
            kind,
        })
    }

    /// Frames still on a wire.
    pub fn deliveries_pending(&self) -> usize {
        self.deliveries_pending
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.len == 0
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

    /// Random times at or after the last taken (near and far, many equal), pops interleaved
    /// with pushes: out in (time, push order), as a sort says.
    #[test]
    fn many_events_come_out_sorted_and_fifo() {
        for spread in [4, 300, 1 << 20, 1 << 40] {
            let mut q = EventQueue::default();
            let mut rng = crate::rng::SplitMix64::new(spread);
            let mut expect: Vec<(u64, usize)> = Vec::new();
            let mut last = 0;
            let check = |q: &mut EventQueue, expect: &mut Vec<(u64, usize)>| {
                expect.sort();
                let first = expect.remove(0);
                assert_eq!(q.peek_time(), Some(Instant::from_ps(first.0)));
                let s = q.pop().unwrap();
                let EventKind::Wake { node } = s.kind else {
                    panic!()
                };
                assert_eq!((s.at.as_ps(), node.0), first);
                first.0
            };
            for n in 0..5000 {
                let t = last + rng.below(spread);
                q.push(Instant::from_ps(t), EventKind::Wake { node: NodeId(n) });
                expect.push((t, n));
                assert_eq!(q.len(), expect.len());
                if rng.below(3) == 0 {
                    last = check(&mut q, &mut expect);
                }
            }
            while !expect.is_empty() {
                check(&mut q, &mut expect);
            }
            assert!(q.is_empty());
            assert_eq!(q.peek_time(), None);
        }
    }
}
