//! What a stack run reports: flows, units (drops, PFC, storms, roles, buffer accounting),
//! totals, the trace hash and time series for plots — serde-serializable (JSON) and as a short
//! human table (`Display`).

use core::fmt;

use dataplane::{Instant, PortIndex};
use serde::Serialize;

use super::build::Headrooms;
use super::spec::{HostRef, StackSpec};
use super::Stack;
use crate::unit::{ControlCounters, UnitRecord};

/// One port at one sample instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Bytes queued in all the port's egress queues.
    pub depth_bytes: u64,
    /// Occupancy of the lossless priority's ingress PG, bytes.
    pub pg_bytes: u64,
    /// Whether that PG is in XOFF (pausing its peer).
    pub xoff: bool,
    /// Priorities the peer has paused on this port's egress (bit n = priority n).
    pub paused: u8,
}

/// One port's time series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSeries {
    /// `unit/slot/port`.
    pub port: String,
    /// One sample per [`StackReport::sample_times_ns`] entry.
    pub samples: Vec<Sample>,
}

/// Collects samples while a run goes.
#[derive(Debug, Default)]
pub(super) struct SeriesBuilder {
    times: Vec<u64>,
    delivered: Vec<u64>,
    ports: Vec<PortSeries>,
}

impl SeriesBuilder {
    pub(super) fn new(stack: &Stack) -> Self {
        let mut ports = Vec::new();
        for u in 1..=stack.spec.units {
            if let Some(e) = stack.unit_node(u).and_then(|n| stack.world.switch(n)) {
                for p in 0..e.num_ports() {
                    ports.push(PortSeries {
                        port: e.port_name(PortIndex(p as u16)),
                        samples: Vec::new(),
                    });
                }
            }
        }
        SeriesBuilder {
            ports,
            ..Default::default()
        }
    }

    pub(super) fn push(&mut self, t: Instant, delivered: u64, ports: Vec<Sample>) {
        self.times.push(t.as_ps() / 1000);
        self.delivered.push(delivered);
        for (s, p) in self.ports.iter_mut().zip(ports) {
            s.samples.push(p);
        }
    }
}

/// One flow (or go-back-N connection), seen from both ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowReport {
    /// Flow id.
    pub id: u32,
    /// Sending host.
    pub from: HostRef,
    /// Receiving host.
    pub to: HostRef,
    /// Priority (PCP).
    pub priority: u8,
    /// Whether the priority is the lossless one.
    pub lossless: bool,
    /// Go-back-N (true) or datagram.
    pub reliable: bool,
    /// Frames put on the wire (with retransmissions).
    pub sent: u64,
    /// Datagram: frames received. Go-back-N: frames delivered in order.
    pub received: u64,
    /// Datagram: `sent − received`. Go-back-N: frames the receiver discarded.
    pub lost: u64,
    /// Go-back-N: retransmitted frames.
    pub retransmitted: u64,
    /// Datagram: frames that arrived after a later one.
    pub reordered: u64,
    /// Longest time between two frames at the receiver, µs.
    pub max_gap_us: u64,
}

/// One unit at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnitReport {
    /// Unit number.
    pub unit: u8,
    /// Still powered.
    pub alive: bool,
    /// Its stack manager's role (`-` without one).
    pub role: String,
    /// The unit number of the master it follows (0: none).
    pub master: u8,
    /// Master epoch.
    pub epoch: u32,
    /// Frames a lossless PG dropped (headroom overflow).
    pub lossless_drops: u64,
    /// Frames lossy PGs tail-dropped.
    pub tail_drops: u64,
    /// Frames the PFC watchdog (or a port going down) discarded from queues.
    pub queue_discards: u64,
    /// PFC frames sent.
    pub pfc_tx: u64,
    /// PFC storms detected.
    pub storms: u64,
    /// Transit frames whose hop limit ran out, and frames back at their source unit (loops).
    pub loop_discards: u64,
    /// Frames with no stack route.
    pub no_route_discards: u64,
    /// Highest headroom occupancy of any lossless PG, bytes.
    pub headroom_watermark: u64,
    /// Buffer accounting conserved on every PG: admitted = released + held.
    pub accounting_conserved: bool,
    /// Control path.
    pub control: ControlCounters,
    /// Role changes seen (with their rules), in order.
    pub role_changes: Vec<String>,
}

/// Sums over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Frames sent by hosts (flows and connections).
    pub sent: u64,
    /// Frames received (datagram) or delivered (go-back-N).
    pub received: u64,
    /// Datagram frames lost on the lossless priority.
    pub lossless_lost: u64,
    /// Datagram frames lost on other priorities.
    pub lossy_lost: u64,
    /// Lossless drops in all units.
    pub lossless_drops: u64,
    /// Frames lost on cables (cuts, dead units, configured loss).
    pub wire_losses: u64,
    /// PFC frames sent by all units.
    pub pfc_frames: u64,
    /// Go-back-N retransmissions.
    pub retransmitted: u64,
}

/// The report of a stack run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StackReport {
    /// The scenario.
    pub scenario: StackSpec,
    /// Headroom bounds and configured headroom.
    pub headroom: Headrooms,
    /// When the stack was up, ms of virtual time.
    pub converged_ms: f64,
    /// Start of the data phase, ms.
    pub data_start_ms: f64,
    /// End of the run, ms.
    pub end_ms: f64,
    /// Whether the network emptied after the traffic stopped.
    pub drained: bool,
    /// Events the world ran.
    pub events: u64,
    /// Most events pending at once in the world's queue.
    pub queue_high_water: u64,
    /// The trace hash (FNV-1a of every delivery), hex.
    pub trace_hash: String,
    /// Totals.
    pub totals: Totals,
    /// Per flow.
    pub flows: Vec<FlowReport>,
    /// Per unit.
    pub units: Vec<UnitReport>,
    /// Sample instants, ns of virtual time.
    pub sample_times_ns: Vec<u64>,
    /// Frames delivered to hosts so far, at each sample.
    pub delivered: Vec<u64>,
    /// Per port time series.
    pub series: Vec<PortSeries>,
}

pub(super) fn build(
    stack: &mut Stack,
    converged: Instant,
    t0: Instant,
    drained: bool,
    series: SeriesBuilder,
) -> StackReport {
    let lossless = stack.spec.lossless_priority;
    let host_of: std::collections::BTreeMap<[u8; 6], HostRef> = stack
        .hosts
        .iter()
        .map(|(h, _)| (super::build::host_mac(*h).octets(), *h))
        .collect();
    // Receivers by flow id.
    let mut rx = std::collections::BTreeMap::new();
    let mut rc_rx = std::collections::BTreeMap::new();
    for (h, n) in &stack.hosts {
        if let Some(host) = stack.world.host(*n) {
            for (id, r) in host.received() {
                rx.insert(*id, (*h, *r));
            }
            for (id, r) in host.rc_received() {
                rc_rx.insert(*id, (*h, r.clone()));
            }
        }
    }
    let mut flows = Vec::new();
    let mut totals = Totals::default();
    for (h, n) in &stack.hosts {
        let Some(host) = stack.world.host(*n) else {
            continue;
        };
        for (spec, tx) in host.flows() {
            let to = host_of.get(&spec.dst.octets()).copied().unwrap_or(*h);
            let r = rx.get(&spec.id).map(|(_, r)| *r).unwrap_or_default();
            let f = FlowReport {
                id: spec.id,
                from: *h,
                to,
                priority: spec.priority(),
                lossless: Some(spec.priority()) == lossless,
                reliable: false,
                sent: tx.frames,
                received: r.frames,
                lost: tx.frames.saturating_sub(r.frames),
                retransmitted: 0,
                reordered: r.reordered,
                max_gap_us: r.max_gap_ps / 1_000_000,
            };
            if f.lossless {
                totals.lossless_lost += f.lost;
            } else {
                totals.lossy_lost += f.lost;
            }
            flows.push(f);
        }
        for (spec, tx) in host.rc_sent() {
            let prio = spec.vlan.map_or(0, |t| t.pcp);
            let to = host_of.get(&spec.dst.octets()).copied().unwrap_or(*h);
            let r = rc_rx
                .get(&spec.id)
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            let gap = r
                .first_ps
                .zip(r.last_ps)
                .map_or(0, |(a, b)| b.saturating_sub(a));
            totals.retransmitted += tx.retransmitted;
            flows.push(FlowReport {
                id: spec.id,
                from: *h,
                to,
                priority: prio,
                lossless: Some(prio) == lossless,
                reliable: true,
                sent: tx.frames,
                received: r.delivered,
                lost: r.discarded,
                retransmitted: tx.retransmitted,
                reordered: 0,
                max_gap_us: gap / 1_000_000,
            });
        }
    }
    flows.sort_by_key(|f| f.id);
    for f in &flows {
        totals.sent += f.sent;
        totals.received += f.received;
    }
    let now = stack.world.now();
    let mut units = Vec::new();
    for u in 1..=stack.spec.units {
        let Some(node) = stack.unit_node(u) else {
            continue;
        };
        let alive = !stack.world.is_dead(node);
        let Some(unit) = stack.world.unit(node) else {
            continue;
        };
        let e = unit.engine();
        let mut r = UnitReport {
            unit: u,
            alive,
            role: "-".into(),
            master: 0,
            epoch: 0,
            lossless_drops: 0,
            tail_drops: 0,
            queue_discards: 0,
            pfc_tx: 0,
            storms: 0,
            loop_discards: 0,
            no_route_discards: 0,
            headroom_watermark: 0,
            accounting_conserved: true,
            control: unit.counters(),
            role_changes: Vec::new(),
        };
        if let Some(m) = unit.manager() {
            let v = m.view(now);
            r.role = format!("{:?}", v.role).to_lowercase();
            r.epoch = v.epoch;
            r.master = v
                .master
                .and_then(|mac| v.members.iter().find(|m| m.mac == mac))
                .map_or(0, |m| m.unit);
        }
        for rec in unit.log() {
            if let UnitRecord::Stack(
                t,
                controlplane::StackEvent::RoleChanged {
                    from,
                    to,
                    rule,
                    epoch,
                },
            ) = rec
            {
                r.role_changes.push(format!(
                    "{:.3} ms {from:?} -> {to:?} ({rule:?}, epoch {epoch})",
                    t.as_ps() as f64 / 1e9
                ));
            }
        }
        for p in 0..e.num_ports() {
            let idx = PortIndex(p as u16);
            if let Some(c) = e.port_counters(idx) {
                r.pfc_tx += c.pfc_tx.iter().sum::<u64>();
                r.loop_discards += c.hop_limit_discards + c.stack_loop_discards;
                r.no_route_discards += c.no_route_discards;
            }
            for tc in 0..8 {
                if let Some(q) = e.queue_counters(idx, tc) {
                    r.queue_discards += q.discarded_frames;
                    r.storms += q.storms;
                }
                if let Some(pg) = e.pg_counters(idx, tc) {
                    r.lossless_drops += pg.headroom_drop_frames;
                    r.tail_drops += pg.tail_drop_frames;
                    r.headroom_watermark = r.headroom_watermark.max(pg.headroom_watermark);
                    r.accounting_conserved &=
                        pg.admitted_bytes == pg.released_bytes + pg.occupancy();
                }
            }
        }
        totals.lossless_drops += r.lossless_drops;
        totals.pfc_frames += r.pfc_tx;
        units.push(r);
    }
    totals.wire_losses = stack.world.stats().wire_losses;
    let ms = |t: Instant| t.as_ps() as f64 / 1e9;
    StackReport {
        scenario: stack.spec.clone(),
        headroom: stack.headroom,
        converged_ms: ms(converged),
        data_start_ms: ms(t0),
        end_ms: ms(now),
        drained,
        events: stack.world.stats().events,
        queue_high_water: stack.world.stats().queue_high_water,
        trace_hash: format!("{:016x}", stack.world.trace().value()),
        totals,
        flows,
        units,
        sample_times_ns: series.times,
        delivered: series.delivered,
        series: series.ports,
    }
}

impl fmt::Display for StackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scenario;
        writeln!(
            f,
            "{} × unit {:?}, stack {}G {} m, {} host(s)/unit at {}G, {} B frames, lossless priority {:?}",
            s.units, s.topology, s.stack_speed_gbps, s.stack_cable_m, s.hosts_per_unit,
            s.host_speed_gbps, s.frame_size, s.lossless_priority
        )?;
        writeln!(
            f,
            "headroom: front {} B (bound {}), stack {} B (bound {}); stack up at {:.1} ms, data {:.1}–{:.1} ms, drained: {}",
            self.headroom.front, self.headroom.front_bound, self.headroom.stack,
            self.headroom.stack_bound, self.converged_ms, self.data_start_ms, self.end_ms, self.drained
        )?;
        writeln!(
            f,
            "{:>4} {:>5} {:>8} {:>6} {:>9} {:>9} {:>7} {:>9} {:>8} {:>6} {:>6}",
            "unit",
            "alive",
            "role",
            "master",
            "lossless",
            "taildrop",
            "discard",
            "pfc_tx",
            "hr_wm",
            "storms",
            "loops"
        )?;
        for u in &self.units {
            writeln!(
                f,
                "{:>4} {:>5} {:>8} {:>6} {:>9} {:>9} {:>7} {:>9} {:>8} {:>6} {:>6}",
                u.unit,
                u.alive,
                u.role,
                u.master,
                u.lossless_drops,
                u.tail_drops,
                u.queue_discards,
                u.pfc_tx,
                u.headroom_watermark,
                u.storms,
                u.loop_discards
            )?;
        }
        let t = &self.totals;
        writeln!(
            f,
            "flows: {}  sent {}  received {}  lost: lossless {} lossy {}  retransmitted {}  wire losses {}",
            self.flows.len(), t.sent, t.received, t.lossless_lost, t.lossy_lost, t.retransmitted, t.wire_losses
        )?;
        write!(
            f,
            "lossless drops: {}  PFC frames: {}  events: {}  trace {}",
            t.lossless_drops, t.pfc_frames, self.events, self.trace_hash
        )
    }
}
