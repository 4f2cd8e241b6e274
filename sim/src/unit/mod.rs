//! One stack unit in the deterministic world: the real forwarding engine
//! ([`dataplane::Engine`]) and the real stack manager ([`controlplane::StackManager`]) on the
//! same virtual clock, joined the way `stackd` joins them through `dataplaned`:
//!
//! * stack control messages ride the stack links as stack-header frames of kind Control
//!   ([`controlplane::control_frame`], as with `stackd`): the manager's `poll_transmit` becomes `Engine::send_frame` (PacketOut), and
//!   the engine's `poll_packet_in` becomes `StackManager::handle_message` (PacketIn);
//! * the engine's stack-port state (carrier and hellos) becomes `StackManager::handle_link`;
//! * the manager's dataplane writes (routes with backups, flood tree, front-port hold) are
//!   applied to the engine.
//!
//! **Control-plane restarts and NSF.** [`Unit::stop_control`] drops the manager (the engine
//! keeps forwarding with what it has and its hellos say "control detached");
//! its neighbours get "control detached" from its hellos and keep it for their grace period,
//! and its engine relays the stack's control frames meanwhile. [`Unit::start_control`] boots a
//! new manager with the persisted state, resuming from its last checkpoint. Like `stackd`
//! re-attaching to its dataplane (DESIGN.md §4), the new manager's writes are held back until it
//! has synchronised — resynchronised with every unit of its checkpoint, following a master,
//! with a unit number — or the reconcile cap passes;
//! then they are applied in order and routes it no longer wants are swept. A restart therefore
//! never flushes or holds what is forwarding.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use controlplane::{
    control_frame, DataplaneWrite, LinkState, StackConfig, StackEvent, StackManager, StackPort,
};
use dataplane::config::Slot;
use dataplane::fdb::FdbDestination;
use dataplane::stack::StackRoute;
use dataplane::{Engine, Event, Instant, PortIndex, Transmit};

/// Most records kept in a unit's log ([`Unit::log`]); older ones are dropped (counted).
pub const LOG_LIMIT: usize = 4096;

/// Most messages, writes or events moved in one pump of the control path (a bound, never
/// reached by a healthy manager).
const PUMP_LIMIT: usize = 4096;

/// Something that happened to a unit, with its virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitRecord {
    /// An engine event (lossless drops, storms, port states; learning is not logged).
    Engine(Instant, Event),
    /// A stack-manager event (role changes, splits, merges, renumbering).
    Stack(Instant, StackEvent),
    /// The control plane stopped.
    ControlStopped(Instant),
    /// The control plane started.
    ControlStarted(Instant),
    /// The restarted control plane synchronised and its writes were applied.
    ControlSynced(Instant),
}

/// Counters of a unit's control path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ControlCounters {
    /// Control messages sent into the stack.
    pub messages_sent: u64,
    /// Control messages received and handed to the manager.
    pub messages_received: u64,
    /// Control frames the manager refused (malformed, down port, looped).
    pub messages_refused: u64,
    /// Control messages that could not be queued (port down or control queue full).
    pub send_failures: u64,
    /// Dataplane writes applied.
    pub writes_applied: u64,
    /// Dataplane writes the engine refused.
    pub writes_refused: u64,
    /// Log records dropped because the log was full.
    pub log_dropped: u64,
}

/// The control plane of a running unit.
#[derive(Debug)]
struct Control {
    mgr: StackManager,
    /// The manager's `poll_timeout`, as of the last call into it.
    deadline: Option<Instant>,
    /// Writes held back until the manager is synchronised (after a restart).
    held_writes: Option<Vec<DataplaneWrite>>,
    /// When held writes are applied regardless (the reconcile cap).
    reconcile_by: Instant,
}

/// An engine and, while it runs, its stack manager.
#[derive(Debug)]
pub struct Unit {
    engine: Engine,
    control: Option<Control>,
    /// The manager's configuration (kept to restart it; `persisted` follows its events).
    config: StackConfig,
    /// Longest time a restarted manager's writes are held back.
    reconcile_cap: Duration,
    log: VecDeque<UnitRecord>,
    counters: ControlCounters,
    now: Instant,
    /// The manager was called since its output was last drained: the next pump polls it.
    /// (A sans-IO manager has nothing to hand out unless it was called.)
    mgr_called: bool,
}

impl Unit {
    /// A unit from its engine and manager configuration; the control plane starts at once
    /// (a cold boot: its writes are applied as they come).
    pub fn new(engine: Engine, config: StackConfig, reconcile_cap: Duration) -> Self {
        let mut u = Unit {
            engine,
            control: None,
            config,
            reconcile_cap,
            log: VecDeque::new(),
            counters: ControlCounters::default(),
            now: Instant::ZERO,
            mgr_called: false,
        };
        u.boot_control(Instant::ZERO, false);
        u
    }

    /// A unit with no control plane at all: routes are programmed by hand (tests, deadlock
    /// scenarios with fixed routes).
    pub fn without_control(engine: Engine, config: StackConfig) -> Self {
        Unit {
            engine,
            control: None,
            config,
            reconcile_cap: Duration::ZERO,
            log: VecDeque::new(),
            counters: ControlCounters::default(),
            now: Instant::ZERO,
            mgr_called: false,
        }
    }

    /// The forwarding engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The forwarding engine, to program or inspect it.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The stack manager, while the control plane runs.
    pub fn manager(&self) -> Option<&StackManager> {
        self.control.as_ref().map(|c| &c.mgr)
    }

    /// Whether the control plane runs and has synchronised (its writes reach the engine).
    pub fn control_synced(&self) -> bool {
        self.control
            .as_ref()
            .is_some_and(|c| c.held_writes.is_none())
    }

    /// What happened to the unit, oldest first.
    pub fn log(&self) -> impl Iterator<Item = &UnitRecord> {
        self.log.iter()
    }

    /// Control-path counters.
    pub fn counters(&self) -> ControlCounters {
        self.counters
    }

    /// The stack port number of an engine port (`U/1/P` → `StackPort(P)`).
    fn stack_port(&self, port: PortIndex) -> Option<StackPort> {
        let c = self.engine.port_config(port)?;
        (c.id.slot == Slot::Stack).then_some(StackPort(c.id.port))
    }

    fn port_index(&self, port: StackPort) -> Option<PortIndex> {
        self.engine
            .port_index(dataplane::config::PortId::stack(port.0))
    }

    fn record(&mut self, r: UnitRecord) {
        if self.log.len() >= LOG_LIMIT {
            self.log.pop_front();
            self.counters.log_dropped += 1;
        }
        self.log.push_back(r);
    }

    /// Stops the control plane (kill -9 of `stackd`): the engine forwards on, unchanged.
    pub fn stop_control(&mut self, now: Instant) {
        if let Some(c) = self.control.take() {
            self.config.persisted = c.mgr.persisted();
            self.engine.set_control_attached(false);
            self.record(UnitRecord::ControlStopped(now));
        }
    }

    /// Starts the control plane again (with the persisted unit number and priority); its
    /// writes are held back until it has synchronised.
    pub fn start_control(&mut self, now: Instant) {
        if self.control.is_none() {
            self.boot_control(now, true);
            self.record(UnitRecord::ControlStarted(now));
            self.pump(now);
        }
    }

    fn boot_control(&mut self, now: Instant, restart: bool) {
        let mut cfg = self.config.clone();
        if !restart {
            cfg.resume = None;
        }
        let mut mgr = StackManager::new(cfg, now);
        // Tell the new manager which stack links are up now.
        for i in 0..self.engine.num_ports() {
            let idx = PortIndex(i as u16);
            if let Some(sp) = self.stack_port(idx) {
                if self.engine.port_up(idx) {
                    mgr.handle_link(now, sp, LinkState::Up);
                }
            }
        }
        self.control = Some(Control {
            deadline: mgr.poll_timeout(),
            mgr,
            held_writes: restart.then(Vec::new),
            reconcile_by: now + self.reconcile_cap,
        });
        self.engine.set_control_attached(true);
        self.mgr_called = true;
    }

    /// A frame arrived.
    pub fn handle_frame(&mut self, now: Instant, port: PortIndex, frame: Bytes) {
        self.now = self.now.max(now);
        self.engine.handle_frame(now, port, frame);
        self.pump(now);
    }

    /// Timers of the engine and the manager.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if let Some(c) = self.control.as_mut() {
            if c.deadline.is_some_and(|t| t <= now) {
                c.mgr.handle_timeout(now);
                c.deadline = c.mgr.poll_timeout();
                self.mgr_called = true;
            }
        }
        self.engine.handle_timeout(now);
        self.pump(now);
    }

    /// The engine's next frame.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.engine.poll_transmit(now)
    }

    /// The earlier of the engine's and the manager's next deadline (and the reconcile cap).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let e = self.engine.poll_timeout();
        let m = self.control.as_ref().and_then(|c| {
            let t = c.deadline;
            if c.held_writes.is_some() {
                Some(t.map_or(c.reconcile_by, |t| t.min(c.reconcile_by)))
            } else {
                t
            }
        });
        match (e, m) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves everything between the engine and the manager until both are quiet.
    #[inline]
    fn pump(&mut self, now: Instant) {
        // The common case, checked without the loop's set-up: nothing from the engine, the
        // manager not called since it was drained, no writes held.
        if !self.engine.has_control_output()
            && !self.mgr_called
            && self
                .control
                .as_ref()
                .is_none_or(|c| c.held_writes.is_none())
        {
            return;
        }
        self.pump_all(now);
    }

    fn pump_all(&mut self, now: Instant) {
        for _ in 0..PUMP_LIMIT {
            let mut moved = false;
            while let Some(ev) = self.engine.poll_event() {
                moved = true;
                self.on_engine_event(now, ev);
            }
            while let Some(pi) = self.engine.poll_packet_in() {
                moved = true;
                self.on_packet_in(now, pi.port, &pi.frame);
            }
            let Some(c) = self.control.as_mut() else {
                if !moved {
                    return;
                }
                continue;
            };
            // Nothing from the engine and the manager not called since it was drained: it has
            // nothing either (held writes still wait for the synchronisation check below).
            if !moved && !self.mgr_called && c.held_writes.is_none() {
                return;
            }
            let mut out = Vec::new();
            while let Some(m) = c.mgr.poll_transmit() {
                out.push(m);
            }
            let mut writes = Vec::new();
            while let Some(w) = c.mgr.poll_write() {
                writes.push(w);
            }
            let mut events = Vec::new();
            while let Some(e) = c.mgr.poll_event() {
                match &e {
                    StackEvent::PersistedChanged(p) => self.config.persisted = *p,
                    // What a restarted control plane resumes from (stackd stores these).
                    StackEvent::CheckpointChanged(cp) => self.config.resume = Some(cp.clone()),
                    StackEvent::StackConfigChanged(sc) => {
                        self.config.stack_config = Some(sc.clone())
                    }
                    _ => {}
                }
                events.push(e);
            }
            moved |= !out.is_empty() || !writes.is_empty() || !events.is_empty();
            for (port, bytes) in out {
                self.send_control(port, &bytes);
            }
            for e in events {
                self.record(UnitRecord::Stack(now, e));
            }
            self.program(now, writes);
            if !moved {
                self.mgr_called = false;
                return;
            }
        }
    }

    fn on_engine_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Learned { .. } | Event::Moved { .. } | Event::Aged { .. } => return,
            Event::PortState { port, up, .. } => {
                if let (Some(sp), Some(c)) = (self.stack_port(port), self.control.as_mut()) {
                    let state = if up { LinkState::Up } else { LinkState::Down };
                    c.mgr.handle_link(now, sp, state);
                    c.deadline = c.mgr.poll_timeout();
                }
            }
            Event::NeighborControl { port, attached, .. } => {
                if let (Some(sp), Some(c)) = (self.stack_port(port), self.control.as_mut()) {
                    c.mgr.handle_neighbour_control(now, sp, attached);
                    c.deadline = c.mgr.poll_timeout();
                }
            }
            _ => {}
        }
        self.record(UnitRecord::Engine(now, ev));
    }

    fn on_packet_in(&mut self, now: Instant, port: PortIndex, frame: &[u8]) {
        let (Some(sp), Some(c)) = (self.stack_port(port), self.control.as_mut()) else {
            return;
        };
        let Ok(msg) = control_frame::decode(frame) else {
            self.counters.messages_refused += 1;
            return;
        };
        self.counters.messages_received += 1;
        let refused = if control_frame::relayed(frame) {
            c.mgr.handle_relayed_message(now, sp, msg).is_err()
        } else {
            c.mgr.handle_message(now, sp, msg).is_err()
        };
        c.deadline = c.mgr.poll_timeout();
        if refused {
            self.counters.messages_refused += 1;
        }
    }

    fn send_control(&mut self, port: StackPort, msg: &[u8]) {
        let Some(idx) = self.port_index(port) else {
            self.counters.send_failures += 1;
            return;
        };
        let Some(cfg) = self.engine.port_config(idx) else {
            self.counters.send_failures += 1;
            return;
        };
        let frame = Bytes::from(control_frame::encode(
            self.engine.unit(),
            dataplane::wire::mac_to_u64(cfg.mac),
            msg,
        ));
        match self.engine.send_frame(idx, frame) {
            Ok(()) => self.counters.messages_sent += 1,
            Err(_) => self.counters.send_failures += 1,
        }
    }

    /// Applies the manager's writes — or holds them back while a restarted manager has not
    /// synchronised.
    fn program(&mut self, now: Instant, writes: Vec<DataplaneWrite>) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        if let Some(held) = c.held_writes.as_mut() {
            held.extend(writes);
            let v = c.mgr.view(now);
            let synced = !c.mgr.resyncing() && v.master.is_some() && v.unit != 0 && v.active;
            if !synced && now < c.reconcile_by {
                return;
            }
            let held = c.held_writes.take().unwrap_or_default();
            // Sweep: routes the manager does not want any more.
            let wanted: Vec<u8> = c.mgr.routes().keys().copied().collect();
            let stale: Vec<u8> = self
                .engine
                .stack_table()
                .routes()
                .map(|(u, _)| u)
                .filter(|u| !wanted.contains(u))
                .collect();
            for u in stale {
                self.apply(now, DataplaneWrite::DeleteRoute(u));
            }
            for w in held {
                self.apply(now, w);
            }
            self.record(UnitRecord::ControlSynced(now));
            return;
        }
        for w in writes {
            self.apply(now, w);
        }
    }

    fn apply(&mut self, _now: Instant, w: DataplaneWrite) {
        let ok = match w {
            DataplaneWrite::SetRoute(r) => {
                let primary = r.primary_port().and_then(|p| self.port_index(p));
                let backup = r.backup_port().and_then(|p| self.port_index(p));
                match primary {
                    Some(primary) => self
                        .engine
                        .set_stack_route(r.unit, Some(StackRoute { primary, backup }))
                        .is_ok(),
                    None => false,
                }
            }
            DataplaneWrite::DeleteRoute(u) => self.engine.set_stack_route(u, None).is_ok(),
            DataplaneWrite::SetFloodTree(ports) => {
                let idx: Vec<PortIndex> =
                    ports.iter().filter_map(|p| self.port_index(*p)).collect();
                idx.len() == ports.len() && self.engine.set_flood_ports(&idx).is_ok()
            }
            DataplaneWrite::SetStaticMac(m) => {
                let dest = if m.unit == self.engine.unit() {
                    (0..self.engine.num_ports())
                        .map(|i| PortIndex(i as u16))
                        .find(|p| {
                            self.engine.port_config(*p).is_some_and(|c| {
                                c.id.slot == dataplane::config::Slot::Front && c.id.port == m.port
                            })
                        })
                        .map(FdbDestination::Local)
                } else {
                    Some(FdbDestination::Remote {
                        unit: m.unit,
                        port: m.port,
                    })
                };
                dest.is_some_and(|d| {
                    self.engine
                        .add_static_fdb(m.vid, dataplane::wire::u64_to_mac(m.mac), d)
                        .is_ok()
                })
            }
            DataplaneWrite::DeleteStaticMac(vid, mac) => {
                self.engine
                    .remove_fdb(vid, dataplane::wire::u64_to_mac(mac));
                true
            }
            DataplaneWrite::HoldFrontPorts(h) => {
                let mut ok = true;
                for i in 0..self.engine.num_ports() {
                    let idx = PortIndex(i as u16);
                    if self.stack_port(idx).is_none() {
                        ok &= self.engine.set_port_hold(idx, h).is_ok();
                    }
                }
                ok
            }
        };
        if ok {
            self.counters.writes_applied += 1;
        } else {
            self.counters.writes_refused += 1;
        }
    }
}
