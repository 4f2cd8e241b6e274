//! The event queue of the discrete-event world: a min-heap on (time, sequence number).
//!
//! Events at the same instant come out in the order they were scheduled — the sequence number
//! breaks ties — so a run never depends on the heap's internal layout: same inputs, same order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Pending events, earliest first, FIFO among equals.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Scheduled>,
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
        self.heap.push(Scheduled { at, seq, kind });
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|s| s.at)
    }

    /// Takes the earliest event.
    pub fn pop(&mut self) -> Option<Scheduled> {
        let s = self.heap.pop()?;
        if matches!(s.kind, EventKind::Deliver { .. }) {
            self.deliveries_pending -= 1;
        }
        Some(s)
    }

    /// Frames still on a wire.
    pub fn deliveries_pending(&self) -> usize {
        self.deliveries_pending
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
