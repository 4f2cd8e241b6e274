//! Building a stack: unit configurations (ports, PGs, headroom), stack managers or fixed
//! routes, hosts and cables.

use std::time::Duration;

use controlplane::{Persisted, StackConfig, StackPort};
use dataplane::config::{
    BufferConfig, LosslessThresholds, PgProfile, PortConfig, PortId, SharedLimit, WatchdogAction,
    WatchdogConfig,
};
use dataplane::headroom::{ieee_response_quanta, minimum_headroom, HeadroomInput};
use dataplane::hello::HelloConfig;
use dataplane::pfc::quanta_ps;
use dataplane::stack::StackRoute;
use dataplane::wire::{MacAddr, STACK_ENCAP_LEN};
use dataplane::{Engine, EngineConfig, PortIndex};
use serde::Serialize;

use super::spec::{HostRef, Routing, StackSpec, Topology};
use super::{Stack, StackError};
use crate::host::{Host, HostConfig};
use crate::unit::Unit;
use crate::world::{LinkSpec, World};

/// The headroom bounds of the scenario's links and what is configured (bound + margin).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Headrooms {
    /// Bound on a front (host) port, bytes.
    pub front_bound: u64,
    /// Configured on front ports, bytes.
    pub front: u64,
    /// Bound on a stack port, bytes.
    pub stack_bound: u64,
    /// Configured on stack ports, bytes.
    pub stack: u64,
}

/// Address of a host.
pub fn host_mac(h: HostRef) -> MacAddr {
    MacAddr::new(0x02, 0x5e, 0, 0, h.unit, h.port)
}

/// Base MAC of a unit (its stack manager's identity).
pub fn unit_mac(unit: u8) -> u64 {
    0x0200_5354_0000 | u64::from(unit)
}

const G: u64 = 1_000_000_000;

/// A fixed route: destination unit, primary stack port number, backup stack port number.
type FixedRoute = (u8, u8, Option<u8>);

impl StackSpec {
    fn stack_ports(&self) -> u8 {
        if self.units > 1 {
            2
        } else {
            0
        }
    }

    /// The headroom bounds and configured headroom of this scenario's links.
    pub fn headrooms(&self) -> Result<Headrooms, StackError> {
        let host_q = self
            .host_response_quanta
            .unwrap_or_else(|| ieee_response_quanta(self.host_speed_gbps * G));
        let front_bound = minimum_headroom(&HeadroomInput {
            speed_bps: self.host_speed_gbps * G,
            cable_length_m: self.host_cable_m,
            mtu: self.frame_size,
            peer_response_quanta: Some(host_q),
            cell_size: None,
        })?
        .total;
        let stack_bound = minimum_headroom(&HeadroomInput::new(
            self.stack_speed_gbps * G,
            self.stack_cable_m,
            self.frame_size + STACK_ENCAP_LEN as u32,
        ))?
        .total;
        let add = |bound: u64, port: &str, frame: u32| -> Result<u64, StackError> {
            let h = i64::try_from(bound)
                .unwrap_or(i64::MAX)
                .saturating_add(self.headroom_margin_bytes);
            if h < i64::from(frame) {
                return Err(StackError::HeadroomBelowFrame {
                    margin: self.headroom_margin_bytes,
                    port: port.into(),
                    headroom: h,
                    frame,
                });
            }
            Ok(h as u64)
        };
        Ok(Headrooms {
            front_bound,
            front: add(front_bound, "front ports", self.frame_size)?,
            stack_bound,
            stack: if self.units > 1 {
                add(
                    stack_bound,
                    "stack ports",
                    self.frame_size + STACK_ENCAP_LEN as u32,
                )?
            } else {
                stack_bound
            },
        })
    }

    fn port(&self, id: PortId, speed_gbps: u64, mtu: u32, headroom: u64, unit: u8) -> PortConfig {
        let mut c = PortConfig::new(id, speed_gbps * G);
        c.mtu = mtu;
        c.mac = MacAddr::new(0x02, 0x00, unit, id.slot.number(), 0, id.port);
        let lossless = self.lossless_priority;
        // The scenario's "interesting" priorities get the static XOFF-sized share.
        let mut watched: Vec<u8> = self.traffic_priorities();
        watched.extend(lossless);
        for p in watched {
            let pg = usize::from(c.priority_to_pg[usize::from(p & 7)]);
            c.pgs[pg] = PgProfile {
                reserved: 0,
                shared_limit: SharedLimit::Static(self.xoff_bytes),
                lossless: None,
            };
        }
        if let Some(p) = lossless {
            // The shared limit leaves one frame of room above XOFF: the frame that crosses the
            // XOFF threshold is then charged to shared, and XOFF is always decided by the
            // threshold, never by a spill into headroom. The headroom holds exactly what
            // arrives after the decision — what the bound covers. (With the shared limit equal
            // to XOFF, the crossing frame itself lands in headroom and the bound is one frame
            // short when our egress is busy; docs/sim.md, "Findings".)
            let pg = usize::from(c.priority_to_pg[usize::from(p & 7)]);
            c.pgs[pg].shared_limit = SharedLimit::Static(self.xoff_bytes + u64::from(mtu));
            c = c.with_lossless(
                p,
                LosslessThresholds {
                    xoff: self.xoff_bytes,
                    xon: self.xoff_bytes / 2,
                    headroom,
                },
            );
        }
        c
    }

    fn traffic_priorities(&self) -> Vec<u8> {
        use super::spec::Traffic;
        self.traffic
            .iter()
            .filter_map(|t| match t {
                Traffic::Incast { priority, .. }
                | Traffic::AllToAll { priority, .. }
                | Traffic::Bursts { priority, .. } => Some(*priority),
                Traffic::Storm { .. } => None,
            })
            .collect()
    }

    fn engine(&self, unit: u8, hr: &Headrooms) -> Result<Engine, StackError> {
        let mut ports = Vec::new();
        for p in 1..=self.hosts_per_unit {
            ports.push(self.port(
                PortId::front(p),
                self.host_speed_gbps,
                self.frame_size,
                hr.front,
                unit,
            ));
        }
        for p in 1..=self.stack_ports() {
            ports.push(self.port(
                PortId::stack(p),
                self.stack_speed_gbps,
                self.frame_size + STACK_ENCAP_LEN as u32,
                hr.stack,
                unit,
            ));
        }
        let n = ports.len() as u64;
        let mut ec = EngineConfig::new(unit, ports);
        ec.buffer = BufferConfig {
            shared_pool: n * self.xoff_bytes + (12 << 20),
            headroom_pool: n * hr.front.max(hr.stack),
        };
        ec.watchdog = (!self.watchdog.off).then_some(WatchdogConfig {
            detection: Duration::from_millis(self.watchdog.detection_ms),
            restoration: Duration::from_millis(self.watchdog.restoration_ms),
            action: WatchdogAction::Drop,
        });
        if self.units > 1 {
            ec.hello = Some(HelloConfig::default());
        }
        Ok(Engine::new(ec)?)
    }

    /// The fixed routes of unit `u` ([`Routing::Static`] or [`Routing::Clockwise`]): unit →
    /// (primary stack port, backup), and the flood tree's stack ports.
    fn fixed_routes(&self, u: u8) -> (Vec<FixedRoute>, Vec<u8>) {
        let n = self.units;
        let ring = self.topology == Topology::Ring && n > 1;
        let mut routes = Vec::new();
        for v in (1..=n).filter(|&v| v != u) {
            let cw = (v + n - u) % n; // hops going up (port 2)
            let (primary, backup) = match (self.routing, ring) {
                (Routing::Clockwise, _) => (2, Some(1)),
                (_, true) if n == 2 => (2, Some(1)),
                (_, true) if cw <= n - cw => (2, Some(1)),
                (_, true) => (1, Some(2)),
                (_, false) if v > u => (2, None),
                (_, false) => (1, None),
            };
            routes.push((v, primary, backup));
        }
        // Flood tree: the chain 1 - 2 - … - n (a ring's closing cable is left out).
        let mut flood = Vec::new();
        if u > 1 {
            flood.push(1);
        }
        if u < n {
            flood.push(2);
        }
        (routes, flood)
    }

    fn unit(&self, unit: u8, hr: &Headrooms) -> Result<Unit, StackError> {
        let engine = self.engine(unit, hr)?;
        let cfg = StackConfig::new(
            unit_mac(unit),
            Persisted { unit, priority: 1 },
            (1..=self.stack_ports()).map(StackPort).collect(),
        );
        if self.routing == Routing::Manager {
            return Ok(Unit::new(engine, cfg, Duration::from_secs(3)));
        }
        let mut u = Unit::without_control(engine, cfg);
        let (routes, flood) = self.fixed_routes(unit);
        let e = u.engine_mut();
        let idx = |e: &Engine, p: u8| e.port_index(PortId::stack(p));
        for (v, p, b) in routes {
            let (Some(primary), backup) = (idx(e, p), b.and_then(|b| idx(e, b))) else {
                continue;
            };
            // Ports are stack ports and units are in range by construction.
            let _ = e.set_stack_route(v, Some(StackRoute { primary, backup }));
        }
        let flood: Vec<PortIndex> = flood.into_iter().filter_map(|p| idx(e, p)).collect();
        let _ = e.set_flood_ports(&flood);
        Ok(u)
    }
}

impl Stack {
    /// Builds the units, hosts and cables of `spec` (nothing runs yet).
    pub fn build(spec: StackSpec) -> Result<Stack, StackError> {
        spec.validate()?;
        let headroom = spec.headrooms()?;
        let mut world = World::new(spec.max_events);
        world.set_seed(spec.seed);
        let mut units = Vec::new();
        for u in 1..=spec.units {
            let unit = spec.unit(u, &headroom)?;
            units.push(world.add_unit(format!("unit{u}"), unit));
        }
        let stack_link = LinkSpec {
            speed_bps: spec.stack_speed_gbps * G,
            cable_m: spec.stack_cable_m,
        };
        let n = spec.units;
        let hpu = u16::from(spec.hosts_per_unit);
        let (s1, s2) = (PortIndex(hpu), PortIndex(hpu + 1));
        let mut cables = Vec::new();
        for u in 1..n {
            cables.push((u, u + 1));
        }
        if spec.topology == Topology::Ring && n > 1 {
            cables.push((n, 1));
        }
        for (a, b) in cables {
            let (na, nb) = (units[usize::from(a) - 1], units[usize::from(b) - 1]);
            world.connect((na, s2), (nb, s1), stack_link)?;
            if spec.stack_loss_ppm > 0 {
                world.set_link_loss(na, s2, spec.stack_loss_ppm)?;
            }
        }
        let host_link = LinkSpec {
            speed_bps: spec.host_speed_gbps * G,
            cable_m: spec.host_cable_m,
        };
        let response_ps = spec
            .host_response_quanta
            .map(|q| quanta_ps(q, spec.host_speed_gbps * G));
        let mut hosts = Vec::new();
        for h in spec.hosts() {
            let host = Host::new(HostConfig {
                pfc_response_ps: response_ps,
                ..HostConfig::new(host_mac(h), spec.host_speed_gbps * G)
            })?;
            let id = world.add_host(format!("host{h}"), host);
            let unit = units[usize::from(h.unit) - 1];
            world.connect(
                (id, Host::PORT),
                (unit, PortIndex(u16::from(h.port) - 1)),
                host_link,
            )?;
            hosts.push((h, id));
        }
        Ok(Stack {
            spec,
            world,
            units,
            hosts,
            headroom,
        })
    }

    /// The headroom bounds and configured headroom.
    pub fn headroom(&self) -> Headrooms {
        self.headroom
    }
}
