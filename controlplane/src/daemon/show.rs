//! The stack manager's view, as the management service answers it.

use std::time::Duration;

use dataplane::time::Instant;
use proto::dataplane::v1 as dp;
use proto::stack::v1 as pb;

use super::driver::Nsf;
use crate::wire::{Role, StackPort};
use crate::{StackManager, StackView, TopologyKind};

fn role(r: Role) -> pb::Role {
    match r {
        Role::Joining => pb::Role::Joining,
        Role::Member => pb::Role::Member,
        Role::Standby => pb::Role::Standby,
        Role::Master => pb::Role::Master,
        Role::Unassigned => pb::Role::Unassigned,
    }
}

fn version(v: u32) -> String {
    format!("{}.{}.{}", v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff)
}

/// `show switch`.
pub fn switch(v: &StackView, local_mac: u64) -> pb::ShowSwitchResponse {
    let mut members: Vec<pb::Member> = v
        .members
        .iter()
        .map(|m| pb::Member {
            unit: u32::from(m.unit),
            mac: m.mac,
            role: role(m.role) as i32,
            priority: u32::from(m.priority),
            uptime_ms: m.uptime_ms,
            status: match (m.role, m.held) {
                (Role::Unassigned, _) => "unassigned",
                (Role::Joining, _) => "joining",
                (_, true) => "held",
                _ => "ready",
            }
            .to_string(),
            version: version(m.version),
            local: m.mac == local_mac,
        })
        .collect();
    members.sort_by_key(|m| (m.unit == 0, m.unit, m.mac));
    pb::ShowSwitchResponse {
        local_unit: u32::from(v.unit),
        local_mac,
        master_mac: v.master.unwrap_or(0),
        epoch: v.epoch,
        topology: match v.kind {
            TopologyKind::Ring => "ring",
            TopologyKind::Chain => "chain",
            TopologyKind::Single => "single",
            TopologyKind::Mesh => "mesh",
        }
        .to_string(),
        active: v.active,
        members,
    }
}

/// `show switch stack-ports [counters]`: every unit's stack ports from the adverts; this
/// unit's from its own state (and, when given, the dataplane's counters).
pub fn stack_ports(
    m: &StackManager,
    now: &Instant,
    local_ports: &[dp::PortRef],
    counters: Option<&dp::CountersResponse>,
) -> pb::ShowStackPortsResponse {
    let v = m.view(*now);
    let unit_of = |mac: u64| {
        v.members
            .iter()
            .find(|x| x.mac == mac)
            .map_or(0, |x| u32::from(x.unit))
    };
    let mut ports = Vec::new();
    for crate::api::StackPortView {
        port: sp,
        up,
        neighbour,
    } in m.stack_ports()
    {
        let port = local_ports.get(usize::from(sp.0)).copied();
        ports.push(pb::StackPortStatus {
            unit: u32::from(v.unit),
            stack_port: u32::from(sp.0),
            port,
            up,
            neighbor_unit: neighbour.map_or(0, |(mac, _)| unit_of(mac)),
            neighbor_stack_port: neighbour.map_or(0, |(_, p)| u32::from(p.0)),
            neighbor_mac: neighbour.map_or(0, |(mac, _)| mac),
            counters: counters.and_then(|c| {
                c.ports
                    .iter()
                    .find(|pc| pc.port.is_some() && pc.port == port)
                    .cloned()
            }),
        });
    }
    for member in v.members.iter().filter(|x| x.mac != v.me) {
        for a in &member.adjacencies {
            ports.push(pb::StackPortStatus {
                unit: u32::from(member.unit),
                stack_port: u32::from(a.port.0),
                port: None,
                up: true,
                neighbor_unit: unit_of(a.neighbour),
                neighbor_stack_port: u32::from(a.neighbour_port.0),
                neighbor_mac: a.neighbour,
                counters: None,
            });
        }
    }
    ports.sort_by_key(|p| (p.unit, p.stack_port));
    pb::ShowStackPortsResponse { ports }
}

/// `show switch stack-ports stack-path`: this unit's routes, with the port each uses now.
pub fn stack_path(
    m: &StackManager,
    now: &Instant,
    local_ports: &[dp::PortRef],
    read: &dp::ReadResponse,
) -> pb::ShowStackPathResponse {
    let v = m.view(*now);
    let idx = |ps: &[StackPort]| ps.iter().map(|p| u32::from(p.0)).collect::<Vec<_>>();
    let paths = m
        .routes()
        .values()
        .map(|r| {
            let active = read
                .stack_routes
                .iter()
                .find(|x| {
                    x.route
                        .as_ref()
                        .is_some_and(|rr| rr.unit == u32::from(r.unit))
                })
                .and_then(|x| x.active);
            let hops = hops(&v, r.unit);
            pb::StackPath {
                to_unit: u32::from(r.unit),
                primary: idx(&r.primary),
                backup: r.backup.as_deref().map(idx).unwrap_or_default(),
                active: active.or_else(|| {
                    r.primary_port()
                        .and_then(|p| local_ports.get(usize::from(p.0)).copied())
                }),
                hops,
            }
        })
        .collect();
    pb::ShowStackPathResponse { paths }
}

/// Hops from this unit to `unit` over the stack graph (breadth first over adjacencies).
fn hops(v: &StackView, unit: u8) -> u32 {
    let Some(target) = v.members.iter().find(|m| m.unit == unit).map(|m| m.mac) else {
        return 0;
    };
    let mut frontier = vec![v.me];
    let mut seen = vec![v.me];
    for depth in 1..=u32::try_from(v.members.len()).unwrap_or(6) {
        let mut next = Vec::new();
        for mac in &frontier {
            let Some(m) = v.members.iter().find(|x| x.mac == *mac) else {
                continue;
            };
            for a in &m.adjacencies {
                if a.neighbour == target {
                    return depth;
                }
                if !seen.contains(&a.neighbour) {
                    seen.push(a.neighbour);
                    next.push(a.neighbour);
                }
            }
        }
        frontier = next;
    }
    0
}

/// `show nsf`.
pub(super) fn nsf(n: &Nsf, since: Duration, attached: bool) -> pb::ShowNsfResponse {
    pb::ShowNsfResponse {
        admin_enabled: true,
        oper_enabled: attached,
        last_startup: if n.warm { "warm" } else { "cold" }.to_string(),
        since_restart_ms: u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
        restart_in_progress: !attached || n.reconciling,
        warm_restart_ready: attached && !n.reconciling,
        stale_entries: n.stale,
        swept_entries: n.swept,
        generation: n.generation,
    }
}

/// `show checkpoint statistics`.
pub fn checkpoint(c: &crate::CheckpointStats, v: &StackView) -> pb::ShowCheckpointResponse {
    use crate::CheckpointSide;
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    pb::ShowCheckpointResponse {
        side: match c.side {
            CheckpointSide::Master => "master",
            CheckpointSide::Standby => "standby",
            CheckpointSide::None => "none",
        }
        .to_string(),
        peer_unit: v
            .members
            .iter()
            .find(|m| m.mac == c.peer && c.peer != 0)
            .map_or(0, |m| u32::from(m.unit)),
        peer_mac: c.peer,
        version: c.version,
        peer_version: c.peer_version,
        in_sync: c.in_sync,
        epoch: c.epoch,
        units: c.units,
        config_version: c.config_version,
        static_macs: c.static_macs,
        changes: c.changes,
        syncs: c.syncs,
        has_changed: c.since_change.is_some(),
        since_change_ms: c.since_change.map_or(0, millis),
        has_lag: c.last_lag.is_some(),
        last_lag_us: c.last_lag.map_or(0, micros),
        max_lag_us: micros(c.max_lag),
        behind_ms: c.behind_for.map_or(0, millis),
    }
}
