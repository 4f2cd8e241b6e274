//! A discrete-event world: switches (the real [`dataplane::Engine`]) and host NICs
//! ([`crate::host::Host`]) joined by links with a speed and a propagation delay, driven on a
//! virtual clock.
//!
//! The loop is the sans-IO driver loop of `dataplane::engine`, with virtual time:
//! * a frame a node hands out through `poll_transmit` at `t` on a linked port arrives at the
//!   far end at `t + serialization + propagation`, where serialization is
//!   `(max(len, 60) + 24) × 8 / speed` (FCS, preamble and inter-packet gap included) and
//!   propagation is `cable length / `[`SIGNAL_SPEED_M_PER_S`];
//! * after every arrival or wake-up the node gets `handle_timeout(now)`, then `poll_transmit`
//!   until it returns `None`, then its `poll_timeout()` becomes a wake-up event.
//!
//! Events at the same instant are taken in scheduling order (first in, first out),
//! so a run is a pure function of its inputs; [`TraceHash`] fingerprints it. Every run is
//! bounded by a virtual end time and an event cap; hitting the cap is an error, not a hang.

mod faults;
mod queue;
mod trace;

pub use queue::{EventKind, EventQueue, Scheduled};
pub use trace::{TraceHash, TRACE_PREFIX};

use bytes::Bytes;
use dataplane::headroom::SIGNAL_SPEED_M_PER_S;
use dataplane::time::{ByteTime, PS_PER_SEC};
use dataplane::{Engine, Instant, PortIndex, Transmit};
use thiserror::Error;

use crate::host::Host;
use crate::rng::SplitMix64;
use crate::unit::Unit;

/// Index of a node in its [`World`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// A switch or a host: anything with the sans-IO driver interface.
#[derive(Debug)]
pub enum Node {
    /// One unit's forwarding engine.
    Switch(Box<Engine>),
    /// A host NIC.
    Host(Box<Host>),
    /// A stack unit: an engine and its stack manager ([`crate::unit`]).
    Unit(Box<Unit>),
}

impl Node {
    fn handle_frame(&mut self, now: Instant, port: PortIndex, frame: Bytes) {
        match self {
            Node::Switch(e) => e.handle_frame(now, port, frame),
            Node::Host(h) => h.handle_frame(now, port, frame),
            Node::Unit(u) => u.handle_frame(now, port, frame),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Node::Switch(e) => e.handle_timeout(now),
            Node::Host(h) => h.handle_timeout(now),
            Node::Unit(u) => u.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        match self {
            Node::Switch(e) => e.poll_transmit(now),
            Node::Host(h) => h.poll_transmit(now),
            Node::Unit(u) => u.poll_transmit(now),
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Node::Switch(e) => e.poll_timeout(),
            Node::Host(h) => h.poll_timeout(),
            Node::Unit(u) => u.poll_timeout(),
        }
    }
    /// Line rate of `port`, if the node has it.
    fn port_speed(&self, port: PortIndex) -> Option<u64> {
        match self {
            Node::Switch(e) => e.port_config(port).map(|c| c.speed_bps),
            Node::Host(h) => (port == Host::PORT).then(|| h.config().speed_bps),
            Node::Unit(u) => u.engine().port_config(port).map(|c| c.speed_bps),
        }
    }
}

/// A cable: its speed (both ends must run it) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// Line rate in bits per second.
    pub speed_bps: u64,
    /// Cable length in metres (propagation at [`SIGNAL_SPEED_M_PER_S`]).
    pub cable_m: u32,
}

impl LinkSpec {
    /// One-way propagation delay, picoseconds (rounded up).
    pub fn propagation_ps(&self) -> u64 {
        (u128::from(self.cable_m) * u128::from(PS_PER_SEC))
            .div_ceil(u128::from(SIGNAL_SPEED_M_PER_S)) as u64
    }

    /// Time on the wire of a frame of `len` bytes (without FCS), picoseconds (rounded up).
    pub fn serialization_ps(&self, len: usize) -> u64 {
        ByteTime::new(self.speed_bps).frame_ps(len)
    }
}

/// One direction of a link, seen from its transmitting end.
#[derive(Clone, Copy, Debug)]
struct LinkEnd {
    peer: NodeId,
    peer_port: PortIndex,
    /// [`LinkSpec::propagation_ps`] and the speed's byte time, worked out once.
    propagation_ps: u64,
    byte: ByteTime,
    /// The wire is busy with an earlier frame until then.
    wire_free_at: Instant,
    /// The cable is cut: nothing arrives, both ends see their link down.
    cut: bool,
    /// Frames lost on this direction, per million (seeded).
    loss_ppm: u32,
}

/// Why the world refused a request or stopped a run.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WorldError {
    /// No node with that id.
    #[error("no node {0}")]
    UnknownNode(usize),
    /// The node has no such port.
    #[error("node {node} has no port {port}")]
    UnknownPort {
        /// The node.
        node: usize,
        /// The port index.
        port: u16,
    },
    /// The port already has a cable.
    #[error("port {port} of node {node} is already linked")]
    PortAlreadyLinked {
        /// The node.
        node: usize,
        /// The port index.
        port: u16,
    },
    /// A link's speed differs from a port's configured speed.
    #[error(
        "link speed {link_bps} b/s does not match port {port} of node {node} ({port_bps} b/s)"
    )]
    SpeedMismatch {
        /// The node.
        node: usize,
        /// The port index.
        port: u16,
        /// The port's speed.
        port_bps: u64,
        /// The link's speed.
        link_bps: u64,
    },
    /// The event cap was reached before the run's end time.
    #[error(
        "event cap of {cap} events reached at virtual time {at} (raise the cap or shorten the run)"
    )]
    EventCapReached {
        /// The cap.
        cap: u64,
        /// Virtual time when it was hit.
        at: Instant,
    },
    /// A node keeps asking to be woken at the instant it was just serviced: it would spin.
    #[error("node {node} makes no progress at virtual time {at}: it keeps asking to be called again now")]
    NoProgress {
        /// The node.
        node: usize,
        /// The instant.
        at: Instant,
    },
}

/// Run statistics of the world itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Events taken from the queue.
    pub events: u64,
    /// Frames delivered to a node.
    pub deliveries: u64,
    /// Frames transmitted on a port without a link (lost).
    pub unlinked_tx: u64,
    /// Frames a node put on a wire before its previous frame there had finished serializing —
    /// a node transmitting faster than line rate. The world queues them behind the previous
    /// frame; any non-zero value is a bug in that node.
    pub tx_overruns: u64,
    /// Frames lost on a wire: cut cables, dead nodes, or the link's configured loss.
    pub wire_losses: u64,
    /// Most events ever pending at once.
    pub queue_high_water: u64,
}

struct NodeSlot {
    name: String,
    node: Node,
    /// Times of the node's wake-up events in the queue: never two at one instant, so a timer
    /// far ahead (a hello, an ageing sweep) is queued once, not once per service.
    pending: Vec<Instant>,
    /// Consecutive services after which the node asked to be called again at once.
    spins: u32,
    /// Powered off: receives nothing, sends nothing, never serviced.
    dead: bool,
    /// The node's `poll_timeout` after its last service: its timers are not due before then,
    /// so a frame arriving earlier does not run them (`handle_timeout` would find nothing).
    deadline: Option<Instant>,
}

/// Most consecutive "call me again now" answers before a node is declared stuck.
const MAX_SPINS: u32 = 1000;
/// Most frames one node may hand out in one service.
const MAX_TX_PER_SERVICE: usize = 1 << 20;

/// The discrete-event world.
pub struct World {
    now: Instant,
    nodes: Vec<NodeSlot>,
    /// Per node, per port index: the link end, if cabled.
    links: Vec<Vec<Option<LinkEnd>>>,
    queue: EventQueue,
    stats: WorldStats,
    trace: TraceHash,
    max_events: u64,
    rng: SplitMix64,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl World {
    /// An empty world at time zero that stops with an error after `max_events` events.
    pub fn new(max_events: u64) -> Self {
        World {
            now: Instant::ZERO,
            nodes: Vec::new(),
            links: Vec::new(),
            queue: EventQueue::default(),
            stats: WorldStats::default(),
            trace: TraceHash::default(),
            max_events,
            rng: SplitMix64::new(0),
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds a switch; it is serviced at the current time.
    pub fn add_switch(&mut self, name: impl Into<String>, engine: Engine) -> NodeId {
        self.add(name.into(), Node::Switch(Box::new(engine)))
    }

    /// Adds a host; it is serviced at the current time (so its flows start).
    pub fn add_host(&mut self, name: impl Into<String>, host: Host) -> NodeId {
        self.add(name.into(), Node::Host(Box::new(host)))
    }

    fn add(&mut self, name: String, node: Node) -> NodeId {
        let id = NodeId(self.nodes.len());
        let ports = match &node {
            Node::Switch(e) => e.num_ports(),
            Node::Host(_) => 1,
            Node::Unit(u) => u.engine().num_ports(),
        };
        self.nodes.push(NodeSlot {
            name,
            node,
            pending: Vec::new(),
            spins: 0,
            dead: false,
            deadline: Some(Instant::ZERO),
        });
        self.links.push(vec![None; ports]);
        self.wake(id);
        id
    }

    /// Schedules a service of `node` now (after changing it from outside, e.g. adding a flow).
    pub fn wake(&mut self, node: NodeId) {
        if let Some(slot) = self.nodes.get_mut(node.0) {
            slot.deadline = Some(self.now);
            self.schedule(node, self.now);
        }
    }

    /// Queues a wake-up of `node` at `t`, unless one is queued for that instant already.
    fn schedule(&mut self, node: NodeId, t: Instant) {
        let pending = &mut self.nodes[node.0].pending;
        if !pending.contains(&t) {
            pending.push(t);
            self.queue.push(t, EventKind::Wake { node });
        }
    }

    /// Cables `(a, pa)` to `(b, pb)`. Both ports must exist, be free and run at `spec`'s speed.
    pub fn connect(
        &mut self,
        (a, pa): (NodeId, PortIndex),
        (b, pb): (NodeId, PortIndex),
        spec: LinkSpec,
    ) -> Result<(), WorldError> {
        for (n, p) in [(a, pa), (b, pb)] {
            let slot = self.nodes.get(n.0).ok_or(WorldError::UnknownNode(n.0))?;
            let speed = slot.node.port_speed(p).ok_or(WorldError::UnknownPort {
                node: n.0,
                port: p.0,
            })?;
            if speed != spec.speed_bps {
                return Err(WorldError::SpeedMismatch {
                    node: n.0,
                    port: p.0,
                    port_bps: speed,
                    link_bps: spec.speed_bps,
                });
            }
            if self.links[n.0][p.get()].is_some() || (a, pa) == (b, pb) {
                return Err(WorldError::PortAlreadyLinked {
                    node: n.0,
                    port: p.0,
                });
            }
        }
        let end = |peer, peer_port| LinkEnd {
            peer,
            peer_port,
            propagation_ps: spec.propagation_ps(),
            byte: ByteTime::new(spec.speed_bps),
            wire_free_at: Instant::ZERO,
            cut: false,
            loss_ppm: 0,
        };
        self.links[a.0][pa.get()] = Some(end(b, pb));
        self.links[b.0][pb.get()] = Some(end(a, pa));
        Ok(())
    }

    /// The node named at creation.
    pub fn name(&self, node: NodeId) -> Option<&str> {
        self.nodes.get(node.0).map(|s| s.name.as_str())
    }

    /// A node.
    pub fn node(&self, node: NodeId) -> Option<&Node> {
        self.nodes.get(node.0).map(|s| &s.node)
    }

    /// A switch's engine.
    pub fn switch(&self, node: NodeId) -> Option<&Engine> {
        match self.node(node)? {
            Node::Switch(e) => Some(e),
            Node::Unit(u) => Some(u.engine()),
            Node::Host(_) => None,
        }
    }

    /// A switch's engine, to change or to take its events; it is woken so that a change takes
    /// effect now.
    pub fn switch_mut(&mut self, node: NodeId) -> Option<&mut Engine> {
        self.wake(node);
        match &mut self.nodes.get_mut(node.0)?.node {
            Node::Switch(e) => Some(e),
            Node::Unit(u) => Some(u.engine_mut()),
            Node::Host(_) => None,
        }
    }

    /// A host.
    pub fn host(&self, node: NodeId) -> Option<&Host> {
        match self.node(node)? {
            Node::Host(h) => Some(h),
            _ => None,
        }
    }

    /// A host, to change (add flows); it is woken so that the change takes effect now.
    pub fn host_mut(&mut self, node: NodeId) -> Option<&mut Host> {
        self.wake(node);
        match &mut self.nodes.get_mut(node.0)?.node {
            Node::Host(h) => Some(h),
            _ => None,
        }
    }

    /// Adds a stack unit (engine and stack manager); it is serviced at the current time.
    pub fn add_unit(&mut self, name: impl Into<String>, unit: Unit) -> NodeId {
        self.add(name.into(), Node::Unit(Box::new(unit)))
    }

    /// A stack unit.
    pub fn unit(&self, node: NodeId) -> Option<&Unit> {
        match self.node(node)? {
            Node::Unit(u) => Some(u),
            _ => None,
        }
    }

    /// A stack unit, to change it (restart its control plane, program it); it is woken so
    /// that the change takes effect now.
    pub fn unit_mut(&mut self, node: NodeId) -> Option<&mut Unit> {
        self.wake(node);
        match &mut self.nodes.get_mut(node.0)?.node {
            Node::Unit(u) => Some(u),
            _ => None,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the world has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Run statistics.
    pub fn stats(&self) -> WorldStats {
        self.stats
    }

    /// The fingerprint of every delivery so far.
    pub fn trace(&self) -> TraceHash {
        self.trace
    }

    /// Frames on a wire now.
    pub fn frames_in_flight(&self) -> usize {
        self.queue.deliveries_pending()
    }

    /// Runs every event up to and including `end`, then sets the clock to `end`.
    pub fn run_until(&mut self, end: Instant) -> Result<(), WorldError> {
        self.run_while(end, |_| true).map(|_| ())
    }

    /// Runs events up to `end` while `keep_going(self)` holds (checked before each event and
    /// after the last);
    /// returns whether it stopped because `keep_going` said no. The clock ends at `end`, or at
    /// the time of the last event run when stopped early.
    pub fn run_while(
        &mut self,
        end: Instant,
        mut keep_going: impl FnMut(&World) -> bool,
    ) -> Result<bool, WorldError> {
        loop {
            if !keep_going(self) {
                return Ok(true);
            }
            let Some(at) = self.queue.peek_time() else {
                break;
            };
            if at > end {
                break;
            }
            if self.stats.events >= self.max_events {
                return Err(WorldError::EventCapReached {
                    cap: self.max_events,
                    at,
                });
            }
            self.stats.queue_high_water = self.stats.queue_high_water.max(self.queue.len() as u64);
            let Some(ev) = self.queue.pop() else { break };
            self.stats.events += 1;
            self.now = self.now.max(ev.at);
            self.dispatch(ev.kind)?;
        }
        self.now = self.now.max(end);
        Ok(false)
    }

    fn dispatch(&mut self, kind: EventKind) -> Result<(), WorldError> {
        let node = match kind {
            EventKind::Deliver { node, port, frame } => {
                if !self.receives(node, port) {
                    self.stats.wire_losses += 1;
                    return Ok(());
                }
                self.stats.deliveries += 1;
                self.trace
                    .record(self.now.as_ps(), node.0 as u32, port.0, &frame);
                self.nodes[node.0].node.handle_frame(self.now, port, frame);
                node
            }
            EventKind::Wake { node } => {
                let slot = &mut self.nodes[node.0];
                if let Some(i) = slot.pending.iter().position(|t| *t == self.now) {
                    slot.pending.swap_remove(i);
                }
                if slot.dead || slot.deadline.is_none_or(|d| d > self.now) {
                    return Ok(()); // not due: the node asked for a later time since
                }
                node
            }
        };
        self.service(node)
    }

    /// Timers, then every transmission, then the next wake-up of one node.
    fn service(&mut self, id: NodeId) -> Result<(), WorldError> {
        let now = self.now;
        if self.nodes[id.0].deadline.is_some_and(|d| d <= now) {
            self.nodes[id.0].node.handle_timeout(now);
        }
        for _ in 0..MAX_TX_PER_SERVICE {
            let Some(tx) = self.nodes[id.0].node.poll_transmit(now) else {
                break;
            };
            self.put_on_wire(id, tx);
        }
        let slot = &mut self.nodes[id.0];
        let next = slot.node.poll_timeout();
        slot.deadline = next;
        let Some(t) = next else {
            slot.spins = 0;
            return Ok(());
        };
        if t <= now {
            slot.spins += 1;
            if slot.spins > MAX_SPINS {
                return Err(WorldError::NoProgress {
                    node: id.0,
                    at: now,
                });
            }
        } else {
            slot.spins = 0;
        }
        self.schedule(id, t.max(now));
        Ok(())
    }

    fn put_on_wire(&mut self, from: NodeId, tx: Transmit) {
        let now = self.now;
        let Some(end) = self.links[from.0]
            .get_mut(tx.port.get())
            .and_then(Option::as_mut)
        else {
            self.stats.unlinked_tx += 1;
            tracing::trace!(
                node = from.0,
                port = tx.port.0,
                "frame sent on an unlinked port"
            );
            return;
        };
        let start = if now < end.wire_free_at {
            self.stats.tx_overruns += 1;
            tracing::warn!(node = from.0, port = tx.port.0, %now, free_at = %end.wire_free_at, "node transmits faster than line rate");
            end.wire_free_at
        } else {
            now
        };
        let done = start.plus_ps(end.byte.frame_ps(tx.frame.len()));
        end.wire_free_at = done;
        let at = done.plus_ps(end.propagation_ps);
        let (node, port) = (end.peer, end.peer_port);
        if end.cut || (end.loss_ppm > 0 && self.rng.below(1_000_000) < u64::from(end.loss_ppm)) {
            self.stats.wire_losses += 1;
            return;
        }
        self.queue.push(
            at,
            EventKind::Deliver {
                node,
                port,
                frame: tx.frame,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_times() {
        let l = LinkSpec {
            speed_bps: 10_000_000_000,
            cable_m: 198,
        };
        assert_eq!(l.propagation_ps(), 1_000_000); // 198 m at 1.98e8 m/s = 1 µs
        assert_eq!(l.serialization_ps(1500), 1_219_200); // 1524 B at 10G
        assert_eq!(l.serialization_ps(10), 67_200); // padded to 60 + 24
    }
}
