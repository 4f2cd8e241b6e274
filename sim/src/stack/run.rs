//! Running a stack scenario: bring-up, traffic, faults, sampling, drain.

use std::time::Duration;

use dataplane::config::NUM_PRIORITIES;
use dataplane::wire::VlanTag;
use dataplane::{Instant, PortIndex};

use super::build::host_mac;
use super::report::{self, Sample, SeriesBuilder};
use super::spec::{FaultKind, HostRef, Routing, Topology, Traffic, Transport};
use super::{Stack, StackError, StackReport, CONVERGE_LIMIT_MS};
use crate::host::{flow, FlowSpec, Host, Rate, RcSpec, Stop};
use crate::rng::SplitMix64;
use crate::world::{LinkSpec, NodeId, World};

/// Delay from the data phase's start to the first flow frame (after every host announced
/// itself and was learned across the stack).
const FLOW_DELAY: Duration = Duration::from_micros(200);

/// Go-back-N window, frames.
pub const RC_WINDOW: u32 = 256;
/// Go-back-N retransmission timeout.
pub const RC_RTO: Duration = Duration::from_micros(500);

/// Something the fault plan does at an instant.
#[derive(Clone, Copy, Debug)]
enum Action {
    StopControl(u8),
    StartControl(u8),
    Kill(u8),
    Cut(u8, u8, bool),
}

impl Stack {
    /// Whether the stack is up: for the stack manager, every live unit follows one master, is
    /// numbered, not held, and has a route to every other live unit; for fixed routes, every
    /// cabled stack port forwards.
    pub fn converged(&self) -> bool {
        let live: Vec<(u8, NodeId)> = (1..=self.spec.units)
            .filter_map(|u| self.unit_node(u).map(|n| (u, n)))
            .filter(|(_, n)| !self.world.is_dead(*n))
            .collect();
        let now = self.world.now();
        let mut master = None;
        for &(u, n) in &live {
            let Some(unit) = self.world.unit(n) else {
                return false;
            };
            let e = unit.engine();
            if self.spec.routing != Routing::Manager {
                let stack_ports = (0..e.num_ports()).map(|p| PortIndex(p as u16));
                let all_up = stack_ports
                    .filter(|&p| {
                        e.port_config(p)
                            .is_some_and(|c| c.id.slot == dataplane::config::Slot::Stack)
                            && self.world.peer_of(n, p).is_some()
                            && !self.world.is_cut(n, p)
                    })
                    .all(|p| e.port_up(p));
                if !all_up {
                    return false;
                }
                continue;
            }
            let Some(mgr) = unit.manager() else {
                return false;
            };
            let v = mgr.view(now);
            if !unit.control_synced() || !v.active || v.unit != u || v.master.is_none() {
                return false;
            }
            if master.is_some_and(|m| Some(m) != v.master) {
                return false;
            }
            master = v.master;
            let routed = live
                .iter()
                .filter(|(w, _)| *w != u)
                .all(|(w, _)| e.stack_table().route(*w).is_some());
            if !routed {
                return false;
            }
        }
        true
    }

    fn bring_up(&mut self) -> Result<Instant, StackError> {
        let step = Duration::from_millis(if self.spec.routing == Routing::Manager {
            10
        } else {
            1
        });
        let limit = Instant::from_duration(Duration::from_millis(CONVERGE_LIMIT_MS));
        while !self.converged() {
            let next = self.world.now() + step;
            if next > limit {
                return Err(StackError::NoConvergence(CONVERGE_LIMIT_MS));
            }
            self.world.run_until(next)?;
        }
        Ok(self.world.now() + Duration::from_millis(1))
    }

    fn frame_ps(&self) -> u64 {
        LinkSpec {
            speed_bps: self.spec.host_speed_gbps * 1_000_000_000,
            cable_m: 0,
        }
        .serialization_ps(self.spec.frame_size as usize)
    }

    /// Sets up every host's announcement, flows and storms for a data phase from `t0`.
    fn add_traffic(&mut self, t0: Instant) -> Result<(), StackError> {
        let mut rng = SplitMix64::new(self.spec.seed ^ 0x5eed_f10e);
        let frame_ps = self.frame_ps();
        let start = t0 + FLOW_DELAY;
        let end = t0 + Duration::from_millis(self.spec.duration_ms);
        let len = self.spec.frame_size as usize;
        let tag = |p: u8| {
            Some(VlanTag {
                pcp: p,
                dei: false,
                vid: 1,
            })
        };
        let all: Vec<HostRef> = self.hosts.iter().map(|(h, _)| *h).collect();
        for &(h, n) in &self.hosts {
            if let Some(host) = self.world.host_mut(n) {
                host.send_frame(flow::announce(host_mac(h)));
            }
        }
        let mut id = 0u32;
        let traffic = self.spec.traffic.clone();
        for t in &traffic {
            let mut flows: Vec<(HostRef, FlowOrRc)> = Vec::new();
            match t {
                Traffic::Incast {
                    to,
                    from,
                    priority,
                    load_percent,
                    transport,
                } => {
                    let senders: Vec<HostRef> = if from.is_empty() {
                        all.iter().copied().filter(|h| h != to).collect()
                    } else {
                        from.clone()
                    };
                    for s in senders {
                        id += 1;
                        let jitter = rng.below(frame_ps);
                        let f = match transport {
                            Transport::Datagram => FlowOrRc::Flow(FlowSpec {
                                id,
                                dst: host_mac(*to),
                                vlan: tag(*priority),
                                frame_len: len,
                                rate: fraction(*load_percent, 1),
                                start: start.plus_ps(jitter),
                                stop: Stop::At(end),
                            }),
                            Transport::GoBackN => {
                                let span = end.as_ps().saturating_sub(start.as_ps());
                                let per = u128::from(frame_ps) * 100 / u128::from(*load_percent);
                                FlowOrRc::Rc(RcSpec {
                                    id,
                                    dst: host_mac(*to),
                                    vlan: tag(*priority),
                                    frame_len: len,
                                    frames: (u128::from(span) / per.max(1)) as u64,
                                    window: RC_WINDOW,
                                    rto_ps: dataplane::time::duration_to_ps(RC_RTO),
                                    start: start.plus_ps(jitter),
                                })
                            }
                        };
                        flows.push((s, f));
                    }
                }
                Traffic::AllToAll {
                    priority,
                    load_percent,
                } => {
                    let peers = all.len().saturating_sub(1) as u32;
                    for &s in &all {
                        for &d in all.iter().filter(|d| **d != s) {
                            id += 1;
                            flows.push((
                                s,
                                FlowOrRc::Flow(FlowSpec {
                                    id,
                                    dst: host_mac(d),
                                    vlan: tag(*priority),
                                    frame_len: len,
                                    rate: fraction(*load_percent, peers),
                                    start: start.plus_ps(rng.below(frame_ps * u64::from(peers))),
                                    stop: Stop::At(end),
                                }),
                            ));
                        }
                    }
                }
                Traffic::Bursts {
                    from,
                    to,
                    priority,
                    frames,
                    period_us,
                } => {
                    let mut at = start;
                    for _ in 0..super::spec::MAX_BURSTS {
                        if at >= end {
                            break;
                        }
                        id += 1;
                        flows.push((
                            *from,
                            FlowOrRc::Flow(FlowSpec {
                                id,
                                dst: host_mac(*to),
                                vlan: tag(*priority),
                                frame_len: len,
                                rate: Rate::LineRate,
                                start: at,
                                stop: Stop::AfterFrames(u64::from(*frames)),
                            }),
                        ));
                        at += Duration::from_micros(*period_us);
                    }
                }
                Traffic::Storm {
                    host,
                    priorities,
                    interval_us,
                    start_ms,
                    duration_ms,
                } => {
                    let s = t0 + Duration::from_millis(*start_ms);
                    let e = s + Duration::from_millis(*duration_ms);
                    let iv = dataplane::time::duration_to_ps(Duration::from_micros(*interval_us));
                    if let Some(n) = self.host_node(*host) {
                        if let Some(h) = self.world.host_mut(n) {
                            h.set_pfc_storm(s, e, iv, *priorities);
                        }
                    }
                }
            }
            for (s, f) in flows {
                let Some(n) = self.host_node(s) else { continue };
                let Some(h) = self.world.host_mut(n) else {
                    continue;
                };
                match f {
                    FlowOrRc::Flow(f) => h.add_flow(f)?,
                    FlowOrRc::Rc(r) => h.add_rc(r)?,
                }
            }
        }
        Ok(())
    }

    fn actions(&self, t0: Instant) -> Vec<(Instant, Action)> {
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let mut out = Vec::new();
        for f in &self.spec.faults {
            match f.kind {
                FaultKind::ControlRestart { unit, down_ms } => {
                    out.push((ms(f.at_ms), Action::StopControl(unit)));
                    out.push((ms(f.at_ms + down_ms), Action::StartControl(unit)));
                }
                FaultKind::UnitLoss { unit } => out.push((ms(f.at_ms), Action::Kill(unit))),
                FaultKind::LinkCut { a, b, down_ms } => {
                    out.push((ms(f.at_ms), Action::Cut(a, b, true)));
                    if down_ms > 0 {
                        out.push((ms(f.at_ms + down_ms), Action::Cut(a, b, false)));
                    }
                }
            }
        }
        // Stable: faults at one instant keep their order in the plan.
        out.sort_by_key(|(t, _)| *t);
        out
    }

    fn apply(&mut self, a: Action) -> Result<(), StackError> {
        let now = self.world.now();
        let node = |s: &Stack, u: u8| s.unit_node(u);
        match a {
            Action::StopControl(u) | Action::StartControl(u) => {
                let Some(n) = node(self, u) else {
                    return Ok(());
                };
                if let Some(unit) = self.world.unit_mut(n) {
                    if matches!(a, Action::StopControl(_)) {
                        unit.stop_control(now);
                    } else {
                        unit.start_control(now);
                    }
                }
            }
            Action::Kill(u) => {
                if let Some(n) = node(self, u) {
                    self.world.kill(n)?;
                }
            }
            Action::Cut(a, b, cut) => {
                let n = self.spec.units;
                let (Some(na), true) = (node(self, a), self.spec.adjacent(a, b)) else {
                    return Ok(());
                };
                // Unit a's port 2 leads to a + 1 (and unit n's to unit 1 in a ring).
                let up = b == a % n + 1 && (self.spec.topology == Topology::Ring || b > a);
                let port = PortIndex(u16::from(self.spec.hosts_per_unit) + u16::from(up));
                self.world.set_cut(na, port, cut)?;
            }
        }
        Ok(())
    }

    fn sample(&self, series: &mut SeriesBuilder) {
        let w = &self.world;
        let t = w.now();
        let delivered = self
            .hosts
            .iter()
            .filter_map(|(_, n)| w.host(*n))
            .map(|h| {
                h.received().values().map(|r| r.frames).sum::<u64>()
                    + h.rc_received().values().map(|r| r.delivered).sum::<u64>()
            })
            .sum();
        let mut ports = Vec::new();
        for u in 1..=self.spec.units {
            let Some(e) = self.unit_node(u).and_then(|n| w.switch(n)) else {
                continue;
            };
            for p in 0..e.num_ports() {
                let idx = PortIndex(p as u16);
                let depth = (0..NUM_PRIORITIES)
                    .filter_map(|tc| e.queue_counters(idx, tc))
                    .map(|q| q.depth_bytes)
                    .sum();
                let pg = self.spec.lossless_priority.map_or(0, usize::from);
                let (pg_bytes, xoff) = e
                    .pg_counters(idx, pg)
                    .map_or((0, false), |c| (c.occupancy(), c.xoff));
                ports.push(Sample {
                    depth_bytes: depth,
                    pg_bytes,
                    xoff,
                    paused: e.paused_priorities(idx),
                });
            }
        }
        series.push(t, delivered, ports);
    }

    /// Brings the stack up, runs the traffic and the fault plan, drains, and reports.
    pub fn run(&mut self) -> Result<StackReport, StackError> {
        let t0 = self.bring_up()?;
        let converged_at = self.world.now();
        self.world.run_until(t0)?;
        self.add_traffic(t0)?;
        let end = t0 + Duration::from_millis(self.spec.duration_ms);
        let actions = self.actions(t0);
        // Faults may strike after the traffic has stopped: the run goes on until the last.
        let finish = actions.last().map_or(end, |(t, _)| end.max(*t));
        let mut actions = actions.into_iter().peekable();
        let mut series = SeriesBuilder::new(self);
        let sample_ps = dataplane::time::duration_to_ps(Duration::from_micros(self.spec.sample_us));
        let mut next_sample = (sample_ps > 0).then_some(t0);
        loop {
            let mut next = finish;
            if let Some((t, _)) = actions.peek() {
                next = next.min(*t);
            }
            if let Some(s) = next_sample {
                next = next.min(s);
            }
            self.world.run_until(next)?;
            while let Some((_, a)) = actions.next_if(|(t, _)| *t <= next) {
                self.apply(a)?;
            }
            if next_sample.is_some_and(|s| s <= next) {
                self.sample(&mut series);
                next_sample = Some(next.plus_ps(sample_ps));
            }
            if next >= finish {
                break;
            }
        }
        let deadline = finish + Duration::from_millis(self.spec.drain_ms);
        let ms = dataplane::time::duration_to_ps(Duration::from_millis(1));
        let step_ps = if sample_ps > 0 { sample_ps.min(ms) } else { ms };
        let mut drained = false;
        let mut quiet_steps = 0;
        let mut next_check = self.world.now().plus_ps(ms);
        while self.world.now() < deadline {
            let step = self.world.now().plus_ps(step_ps).min(deadline);
            self.world.run_until(step)?;
            if next_sample.is_some_and(|s| s <= step) {
                self.sample(&mut series);
                next_sample = Some(step.plus_ps(sample_ps));
            }
            if step < next_check {
                continue;
            }
            next_check = step.plus_ps(ms);
            // Twice in a row, 1 ms apart: nothing can still be on a cable.
            if quiescent(&self.world, &self.units, &self.hosts) {
                quiet_steps += 1;
                if quiet_steps >= 2 {
                    drained = true;
                    break;
                }
            } else {
                quiet_steps = 0;
            }
        }
        Ok(report::build(self, converged_at, t0, drained, series))
    }
}

enum FlowOrRc {
    Flow(FlowSpec),
    Rc(RcSpec),
}

/// `load_percent / 100 / share` of line rate.
fn fraction(load_percent: u32, share: u32) -> Rate {
    if load_percent >= 100 && share <= 1 {
        Rate::LineRate
    } else {
        Rate::Fraction {
            num: load_percent,
            den: 100 * share.max(1),
        }
    }
}

/// Hosts have nothing to send and every live unit's queues are empty.
fn quiescent(w: &World, units: &[NodeId], hosts: &[(HostRef, NodeId)]) -> bool {
    if !hosts
        .iter()
        .all(|(_, n)| w.is_dead(*n) || w.host(*n).is_some_and(Host::is_idle))
    {
        return false;
    }
    units.iter().filter(|n| !w.is_dead(**n)).all(|n| {
        w.switch(*n).is_some_and(|e| {
            (0..e.num_ports()).all(|p| {
                (0..NUM_PRIORITIES).all(|tc| {
                    e.queue_counters(PortIndex(p as u16), tc)
                        .is_none_or(|q| q.depth_frames == 0)
                })
            })
        })
    })
}
