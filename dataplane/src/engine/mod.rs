//! The forwarding engine of one unit: a sans-IO state machine.
//!
//! Drivers (the `dataplaned` daemon, the deterministic simulator, tests, benchmarks) own the
//! clock and the sockets; the engine owns the forwarding state. The whole interface:
//!
//! * [`Engine::handle_frame`] — a frame arrived on a port at `now`;
//! * [`Engine::poll_transmit`] — the next frame a port may put on the wire at `now` (each port
//!   transmits no faster than its speed; paused classes wait; MAC Control goes first);
//! * [`Engine::handle_timeout`] — timers due at `now` (PFC refresh, FDB ageing, watchdog);
//! * [`Engine::poll_timeout`] — when to call again if nothing arrives;
//! * [`Engine::poll_event`] / [`Engine::poll_packet_in`] — learning, alarms, and stack control
//!   frames for the control plane.
//!
//! A driver loop is: feed arrivals, then drain `poll_transmit` and `handle_timeout`, then sleep
//! until `poll_timeout()` or the next arrival.
//!
//! The pipeline of a frame: parse → (MAC Control: apply pause) → VLAN classification →
//! learn → lookup → per-egress copy: priority → traffic class, buffer admission against the
//! ingress priority group (PFC XOFF when it fills) → egress queue → scheduler → rewrite
//! (tag, untag, stack encapsulation) → wire.

mod egress;
mod ingress;
mod timers;

use std::collections::VecDeque;

use bytes::Bytes;
use pnet_base::MacAddr;
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::buffer::{PgCounters, SharedBuffer};
use crate::config::{
    ConfigError, EngineConfig, PortConfig, PortId, Slot, VlanMode, NUM_PRIORITIES,
};
use crate::counters::{PortCounters, QueueCounters};
use crate::fdb::{Fdb, FdbDestination, FdbFull};
use crate::port::{PortIndex, PortState, CPU_QUEUE_LIMIT};
use crate::stack::{StackRoute, StackTable, MAX_UNIT};
use crate::time::Instant;

pub(crate) use egress::QueuedFrame;

/// Most events held for [`Engine::poll_event`] before new ones are counted and discarded.
pub const EVENT_QUEUE_LIMIT: usize = 4096;

/// A frame for the driver to put on a port's wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The port.
    pub port: PortIndex,
    /// The frame, from the destination address on (no FCS).
    pub frame: Bytes,
}

/// A stack control frame (hello or control kind) received on a stack port, for the control
/// path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// The stack port it arrived on.
    pub port: PortIndex,
    /// The whole frame, stack header included.
    pub frame: Bytes,
}

/// Something the control plane wants to know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new station was learned.
    Learned {
        /// VLAN.
        vid: u16,
        /// Station.
        mac: MacAddr,
        /// Where.
        dest: FdbDestination,
    },
    /// A known station appeared somewhere else.
    Moved {
        /// VLAN.
        vid: u16,
        /// Station.
        mac: MacAddr,
        /// Where it was.
        from: FdbDestination,
        /// Where it is now.
        to: FdbDestination,
    },
    /// A station was aged out.
    Aged {
        /// VLAN.
        vid: u16,
        /// Station.
        mac: MacAddr,
        /// Where it was.
        dest: FdbDestination,
    },
    /// The bridge table is full: a station was not learned.
    FdbFull {
        /// VLAN of the station not learned.
        vid: u16,
        /// The station.
        mac: MacAddr,
    },
    /// A lossless priority group dropped a frame: its headroom overflowed. PFC did not hold;
    /// headroom is below the bound for this link, or the peer ignores pauses.
    LosslessDrop {
        /// Ingress port of the frame.
        port: PortIndex,
        /// Its priority group.
        pg: u8,
    },
    /// The PFC watchdog found a lossless queue paused for its detection time.
    PfcStormDetected {
        /// Egress port.
        port: PortIndex,
        /// Traffic class.
        tc: u8,
    },
    /// The storm is over: the queue saw no pause for the restoration time.
    PfcStormRestored {
        /// Egress port.
        port: PortIndex,
        /// Traffic class.
        tc: u8,
    },
    /// A port started or stopped forwarding (link, hold, or for stack ports its hellos).
    PortState {
        /// The port.
        port: PortIndex,
        /// Whether it forwards now.
        up: bool,
        /// For stack ports: the unit at the other end, from its hellos (0 when unknown).
        neighbor_unit: u8,
    },
    /// The unit behind a stack port reported its control plane attached or detached.
    NeighborControl {
        /// The stack port.
        port: PortIndex,
        /// The unit at the other end.
        neighbor_unit: u8,
        /// Whether its control plane is attached.
        attached: bool,
    },
}

/// A request the engine refused. The state is unchanged.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EngineError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No port with that index.
    #[error("no port with index {0}")]
    UnknownPort(u16),
    /// A stack route, flood-tree entry or remote FDB destination named a bad unit or port.
    #[error("port {0} is not a stack port")]
    NotAStackPort(String),
    /// A stack route or remote destination for a unit number outside 1..=15, or for this
    /// unit itself.
    #[error("unit {0} is not another unit of the stack (1..=15, not this unit)")]
    BadUnit(u8),
    /// A renumbering to a number that a stack route still gives to another unit.
    #[error("unit number {0} is in use: a stack route leads to another unit with it")]
    UnitInUse(u8),
    /// The bridge table has no room.
    #[error(transparent)]
    FdbFull(#[from] FdbFull),
    /// A static entry's VLAN is not 1..=4094.
    #[error("VLAN {0} is out of range (1..=4094)")]
    BadVlan(u16),
    /// The port's link is down: nothing can be sent on it.
    #[error("port {0} is down")]
    PortDown(u16),
    /// The control path's queue on that port is full.
    #[error("the control-path queue of port {0} is full ({CPU_QUEUE_LIMIT} frames)")]
    CpuQueueFull(u16),
}

/// The forwarding engine of one unit.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    ports: Vec<PortState>,
    port_by_id: FxHashMap<PortId, PortIndex>,
    /// Front-panel port number → index.
    front_by_number: [Option<PortIndex>; 256],
    fdb: Fdb,
    buffer: SharedBuffer,
    stack: StackTable,
    /// VID → bitmap of front ports that are members.
    vlan_members: Vec<u64>,
    /// Bitmap of ports that forward data (see [`PortState::forwarding`]).
    ports_up: u64,
    /// Bitmap of ports whose link is up: MAC Control, hellos and control-path frames may go.
    ports_link: u64,
    /// Whether this unit's control plane is attached (told to neighbours in hellos).
    control_attached: bool,
    /// Bitmap of ports with something to transmit.
    ready: u64,
    /// Where the transmit round robin over ports starts next.
    next_port: usize,
    /// The latest `now` handed in.
    now: Instant,
    /// [`EngineConfig::tx_burst`] in picoseconds.
    tx_burst_ps: u64,
    events: VecDeque<Event>,
    events_lost: u64,
    packet_in: VecDeque<PacketIn>,
    packet_in_lost: u64,
    frames_on_unknown_ports: u64,
    /// Per port, its share of [`Engine::poll_timeout`] as of its last change, and the minima
    /// over the ports (`timers`).
    deadlines: timers::Deadlines,
    /// Ports whose `deadlines` entry is out of date.
    dirty: u64,
}

impl Engine {
    /// An engine for `config`, after validating it as a whole.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let ports: Vec<PortState> = config.ports.iter().cloned().map(PortState::new).collect();
        let buffer = SharedBuffer::new(config.buffer, config.ports.iter().map(|p| p.pgs));
        let mut engine = Engine {
            fdb: Fdb::new(config.fdb.capacity, config.fdb.aging),
            port_by_id: FxHashMap::default(),
            front_by_number: [None; 256],
            buffer,
            stack: StackTable::default(),
            vlan_members: vec![0; 4096],
            ports_up: 0,
            ports_link: 0,
            control_attached: false,
            ready: 0,
            next_port: 0,
            now: Instant::ZERO,
            tx_burst_ps: crate::time::duration_to_ps(config.tx_burst),
            events: VecDeque::new(),
            events_lost: 0,
            packet_in: VecDeque::new(),
            packet_in_lost: 0,
            frames_on_unknown_ports: 0,
            deadlines: timers::Deadlines::new(ports.len()),
            dirty: u64::MAX,
            ports,
            config,
        };
        for (i, p) in engine.config.ports.iter().enumerate() {
            let idx = PortIndex(i as u16);
            engine.port_by_id.insert(p.id, idx);
            if p.id.slot == Slot::Front {
                engine.front_by_number[usize::from(p.id.port)] = Some(idx);
            } else if let Some(h) = engine.config.hello {
                engine.ports[i].hello = Some(crate::hello::HelloSession::new(h, Instant::ZERO));
            }
            engine.ports_link |= 1 << i;
            if engine.ports[i].forwarding() {
                engine.ports_up |= 1 << i;
            }
        }
        engine.rebuild_vlan_members();
        Ok(engine)
    }

    fn rebuild_vlan_members(&mut self) {
        self.vlan_members.iter_mut().for_each(|m| *m = 0);
        for (i, p) in self.ports.iter().enumerate() {
            if p.cfg.id.slot != Slot::Front {
                continue;
            }
            match &p.cfg.vlan {
                VlanMode::Access { vid } => self.vlan_members[usize::from(*vid & 0xfff)] |= 1 << i,
                VlanMode::Trunk { native, allowed } => {
                    for vid in native.iter().chain(allowed) {
                        self.vlan_members[usize::from(*vid & 0xfff)] |= 1 << i;
                    }
                }
            }
        }
    }

    /// This unit's number.
    pub fn unit(&self) -> u8 {
        self.config.unit
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Number of ports.
    pub fn num_ports(&self) -> usize {
        self.ports.len()
    }

    /// The index of port `id`.
    pub fn port_index(&self, id: PortId) -> Option<PortIndex> {
        self.port_by_id.get(&id).copied()
    }

    /// The configuration of a port.
    pub fn port_config(&self, port: PortIndex) -> Option<&PortConfig> {
        self.ports.get(port.get()).map(|p| &p.cfg)
    }

    /// The port named `unit/slot/port` in logs and errors.
    pub fn port_name(&self, port: PortIndex) -> String {
        match self.ports.get(port.get()) {
            Some(p) => p.cfg.name(self.config.unit),
            None => format!("#{}", port.0),
        }
    }

    fn port_mut(&mut self, port: PortIndex) -> Result<&mut PortState, EngineError> {
        self.ports
            .get_mut(port.get())
            .ok_or(EngineError::UnknownPort(port.0))
    }

    /// Sets a port's link state as the driver sees it. A port whose link is down sends and
    /// receives nothing; its queued frames are discarded (counted). Stack ports with hellos
    /// forward again only once the peer's hellos arrive.
    pub fn set_port_up(
        &mut self,
        now: Instant,
        port: PortIndex,
        up: bool,
    ) -> Result<(), EngineError> {
        self.now = self.now.max(now);
        self.port_mut(port)?.link = up;
        self.update_port_state(port.get());
        Ok(())
    }

    /// Holds a port down (or releases it) whatever its link does: a split-stack minority holds
    /// its front ports down rather than run a second stack with the same identity.
    pub fn set_port_hold(&mut self, port: PortIndex, held: bool) -> Result<(), EngineError> {
        self.port_mut(port)?.held = held;
        self.update_port_state(port.get());
        Ok(())
    }

    /// Whether a port is held down by [`Engine::set_port_hold`].
    pub fn port_held(&self, port: PortIndex) -> bool {
        self.ports.get(port.get()).is_some_and(|p| p.held)
    }

    /// Recomputes whether port `i` forwards and sends; acts on a change.
    pub(crate) fn update_port_state(&mut self, i: usize) {
        let bit = 1u64 << i;
        self.dirty |= bit;
        let port = &self.ports[i];
        let (was_up, up, link) = (self.ports_up & bit != 0, port.forwarding(), port.link);
        if link {
            self.ports_link |= bit;
        } else {
            self.ports_link &= !bit;
            self.ports[i].cpu_queue.clear();
        }
        if up == was_up {
            return;
        }
        if up {
            self.ports_up |= bit;
        } else {
            self.ports_up &= !bit;
            self.discard_queued(i, 0xff);
        }
        let neighbor_unit = self.ports[i]
            .hello
            .as_ref()
            .and_then(|h| h.peer())
            .map_or(0, |p| p.unit);
        tracing::info!(port = %self.port_name(PortIndex(i as u16)), up, neighbor_unit, "port state");
        self.push_event(Event::PortState {
            port: PortIndex(i as u16),
            up,
            neighbor_unit,
        });
    }

    /// Whether a port forwards data now.
    pub fn port_up(&self, port: PortIndex) -> bool {
        port.get() < self.ports.len() && self.ports_up & (1u64 << (port.0 & 63)) != 0
    }

    /// Tells the engine whether this unit's control plane is attached; the stack-link hellos
    /// carry it to the neighbours.
    pub fn set_control_attached(&mut self, attached: bool) {
        self.control_attached = attached;
    }

    /// Whether this unit's control plane is attached, as the hellos say.
    pub fn control_attached(&self) -> bool {
        self.control_attached
    }

    /// Hello counters of a stack port (`None` for front ports or with hellos off).
    pub fn hello_counters(&self, port: PortIndex) -> Option<crate::hello::HelloCounters> {
        self.ports
            .get(port.get())?
            .hello
            .as_ref()
            .map(|h| h.counters)
    }

    /// The neighbour behind a stack port, as its hellos describe it.
    pub fn hello_peer(&self, port: PortIndex) -> Option<crate::hello::HelloPeer> {
        self.ports.get(port.get())?.hello.as_ref()?.peer()
    }

    /// Whether [`Engine::set_port_config`] would accept `config` for `port` (nothing changes).
    /// `at` is the path errors name the settings by, e.g. `ports[2]` or `updates[0].port`.
    pub fn check_port_config(
        &self,
        port: PortIndex,
        config: &PortConfig,
        at: &str,
    ) -> Result<(), EngineError> {
        let state = self
            .ports
            .get(port.get())
            .ok_or(EngineError::UnknownPort(port.0))?;
        config.validate(at)?;
        if state.cfg.id != config.id || state.cfg.speed_bps != config.speed_bps {
            return Err(EngineError::Config(ConfigError::Immutable {
                field: format!("{at}.id/speed_bps"),
                what: "a port's id and speed come from the dataplane's own configuration",
            }));
        }
        Ok(())
    }

    /// Replaces a port's settings. Its id and speed must stay; everything else may change.
    /// Frames queued stay queued, buffer occupancy stays charged; pause state is reset when
    /// the flow control changes.
    pub fn set_port_config(
        &mut self,
        port: PortIndex,
        config: PortConfig,
    ) -> Result<(), EngineError> {
        let i = port.get();
        self.check_port_config(port, &config, &format!("ports[{i}]"))?;
        self.dirty |= 1 << i;
        let state = &self.ports[i];
        let flow_control_changed = state.cfg.flow_control != config.flow_control;
        self.buffer.set_profiles(i, config.pgs);
        let state = &mut self.ports[i];
        state.queues.set_schedule(&config.schedule);
        state.rx_pause.set_tc_map(config.priority_to_tc);
        state.cfg = config.clone();
        state.derive_maps();
        state.learn_cache = Default::default();
        if flow_control_changed {
            state.tx_pause = Default::default();
            for pg in 0..NUM_PRIORITIES {
                self.buffer.clear_xoff(i, pg);
            }
        }
        self.config.ports[i] = config;
        self.rebuild_vlan_members();
        Ok(())
    }

    /// Replaces the shared-buffer pool sizes. What is held stays charged.
    pub fn set_buffer_pools(
        &mut self,
        pools: crate::config::BufferConfig,
    ) -> Result<(), EngineError> {
        if pools.shared_pool == 0 {
            return Err(EngineError::Config(ConfigError::OutOfRange {
                field: "buffer.shared_pool".into(),
                value: 0,
                allowed: "at least 1 byte",
            }));
        }
        self.buffer.set_pools(pools);
        self.config.buffer = pools;
        Ok(())
    }

    /// Programs (or with `None` removes) the route to `unit`. Both ports must be stack ports.
    pub fn set_stack_route(
        &mut self,
        unit: u8,
        route: Option<StackRoute>,
    ) -> Result<(), EngineError> {
        self.check_stack_route(unit, route.as_ref())?;
        self.stack.set_route(unit, route);
        Ok(())
    }

    /// Whether [`Engine::set_stack_route`] would accept this route (nothing changes).
    pub fn check_stack_route(
        &self,
        unit: u8,
        route: Option<&StackRoute>,
    ) -> Result<(), EngineError> {
        if unit == 0 || unit > MAX_UNIT || unit == self.config.unit {
            return Err(EngineError::BadUnit(unit));
        }
        if let Some(r) = route {
            for p in std::iter::once(r.primary).chain(r.backup) {
                self.check_stack_port(p)?;
            }
        }
        Ok(())
    }

    /// Renumbers this unit (the stack's master assigned it another number). Stack headers,
    /// hellos and the control session carry the new number from the next frame on. Learned
    /// entries pointing at a remote unit with the new number are flushed: they can only be
    /// stale (that unit no longer exists under this number).
    pub fn set_unit(&mut self, unit: u8) -> Result<(), EngineError> {
        self.check_unit(unit)?;
        if unit != self.config.unit {
            tracing::info!(from = self.config.unit, to = unit, "unit renumbered");
            self.config.unit = unit;
            self.fdb.flush_dynamic(
                |d| matches!(d, FdbDestination::Remote { unit: u, .. } if u == unit),
            );
        }
        Ok(())
    }

    /// Whether [`Engine::set_unit`] would accept `unit`: 1..=15, and no stack route leads to
    /// another unit under that number.
    pub fn check_unit(&self, unit: u8) -> Result<(), EngineError> {
        if unit == 0 || unit > MAX_UNIT {
            return Err(EngineError::BadUnit(unit));
        }
        if unit != self.config.unit && self.stack.route(unit).is_some() {
            return Err(EngineError::UnitInUse(unit));
        }
        Ok(())
    }

    /// Replaces the flood tree with `ports` (all stack ports).
    pub fn set_flood_ports(&mut self, ports: &[PortIndex]) -> Result<(), EngineError> {
        let mask = self.check_flood_ports(ports)?;
        self.stack.set_flood_ports(mask);
        Ok(())
    }

    /// Whether [`Engine::set_flood_ports`] would accept `ports`; their bitmap if so.
    pub fn check_flood_ports(&self, ports: &[PortIndex]) -> Result<u64, EngineError> {
        let mut mask = 0;
        for p in ports {
            self.check_stack_port(*p)?;
            mask |= 1u64 << p.0;
        }
        Ok(mask)
    }

    fn check_stack_port(&self, p: PortIndex) -> Result<(), EngineError> {
        let state = self
            .ports
            .get(p.get())
            .ok_or(EngineError::UnknownPort(p.0))?;
        if state.cfg.id.slot != Slot::Stack {
            return Err(EngineError::NotAStackPort(self.port_name(p)));
        }
        Ok(())
    }

    /// The stack routes and flood tree as programmed.
    pub fn stack_table(&self) -> &StackTable {
        &self.stack
    }

    /// Programs a static bridge entry.
    pub fn add_static_fdb(
        &mut self,
        vid: u16,
        mac: MacAddr,
        dest: FdbDestination,
    ) -> Result<(), EngineError> {
        self.check_fdb_entry(vid, dest)?;
        self.fdb.add_static(self.now, vid, mac, dest)?;
        Ok(())
    }

    /// Whether a static entry for `vid` pointing at `dest` is acceptable (the table's room
    /// aside): the VLAN is 1..=4094, a local port exists, a remote unit is another unit 1..=15.
    pub fn check_fdb_entry(&self, vid: u16, dest: FdbDestination) -> Result<(), EngineError> {
        if !(1..=4094).contains(&vid) {
            return Err(EngineError::BadVlan(vid));
        }
        match dest {
            FdbDestination::Local(p) => {
                self.ports
                    .get(p.get())
                    .ok_or(EngineError::UnknownPort(p.0))?;
            }
            FdbDestination::Remote { unit, .. } => {
                if unit == 0 || unit > MAX_UNIT || unit == self.config.unit {
                    return Err(EngineError::BadUnit(unit));
                }
            }
        }
        Ok(())
    }

    /// Removes a bridge entry; returns whether there was one.
    pub fn remove_fdb(&mut self, vid: u16, mac: MacAddr) -> bool {
        self.fdb.remove(vid, mac)
    }

    /// The bridge table.
    pub fn fdb(&self) -> &Fdb {
        &self.fdb
    }

    /// Queues a frame from the control path (PacketOut) on a port. It goes out ahead of data,
    /// is never paused and is not charged to the buffer.
    pub fn send_frame(&mut self, port: PortIndex, frame: Bytes) -> Result<(), EngineError> {
        let i = port.get();
        let state = self.port_mut(port)?;
        if !state.link {
            return Err(EngineError::PortDown(port.0));
        }
        if state.cpu_queue.len() >= CPU_QUEUE_LIMIT {
            return Err(EngineError::CpuQueueFull(port.0));
        }
        state.cpu_queue.push_back(frame);
        self.ready |= 1 << i;
        self.dirty |= 1 << i;
        Ok(())
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether an event or a stack control frame waits for [`Engine::poll_event`] or
    /// [`Engine::poll_packet_in`].
    pub fn has_control_output(&self) -> bool {
        !self.events.is_empty() || !self.packet_in.is_empty()
    }

    /// Events discarded because nobody polled them in time.
    pub fn events_lost(&self) -> u64 {
        self.events_lost
    }

    /// The next stack control frame for the control path.
    pub fn poll_packet_in(&mut self) -> Option<PacketIn> {
        self.packet_in.pop_front()
    }

    /// Stack control frames discarded because nobody polled them in time.
    pub fn packet_in_lost(&self) -> u64 {
        self.packet_in_lost
    }

    /// Frames handed in for a port index the engine does not have.
    pub fn frames_on_unknown_ports(&self) -> u64 {
        self.frames_on_unknown_ports
    }

    pub(crate) fn push_event(&mut self, e: Event) {
        if self.events.len() >= EVENT_QUEUE_LIMIT {
            self.events_lost += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// Counters of a port, with paused times up to the latest `now`.
    pub fn port_counters(&self, port: PortIndex) -> Option<PortCounters> {
        let p = self.ports.get(port.get())?;
        let mut c = p.counters;
        for (prio, ns) in c.pfc_paused_ns.iter_mut().enumerate() {
            *ns = p.rx_pause.paused_ps(prio, self.now) / 1000;
        }
        Some(c)
    }

    /// Counters of egress queue `tc` of a port.
    pub fn queue_counters(&self, port: PortIndex, tc: usize) -> Option<QueueCounters> {
        let p = self.ports.get(port.get())?;
        let mut c = *p.queue_counters.get(tc)?;
        c.depth_bytes = p.queues.depth_bytes(tc);
        c.depth_frames = p.queues.depth_frames(tc) as u64;
        Some(c)
    }

    /// Occupancy, watermarks and counters of ingress priority group `pg` of a port.
    pub fn pg_counters(&self, port: PortIndex, pg: usize) -> Option<PgCounters> {
        (port.get() < self.ports.len() && pg < NUM_PRIORITIES)
            .then(|| *self.buffer.pg(port.get(), pg))
    }

    /// The shared buffer.
    pub fn buffer(&self) -> &SharedBuffer {
        &self.buffer
    }

    /// Priorities of a port's egress paused by its peer now.
    pub fn paused_priorities(&self, port: PortIndex) -> u8 {
        self.ports
            .get(port.get())
            .map_or(0, |p| p.rx_pause.paused_priorities(self.now))
    }
}
