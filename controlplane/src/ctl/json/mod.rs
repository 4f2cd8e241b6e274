//! What `stackctl` shows, built from stackd's answers: these types are serialised as they are
//! for `--json` (snake_case field names, stable; documented in `docs/stackctl.md`) and rendered
//! as tables by [`super::render`], so both outputs carry the same data.
//!
//! Conventions: MACs are `"aa:bb:cc:dd:ee:ff"` strings; ports are `{"slot": S, "port": P}`;
//! "none" (a unit number or MAC of 0 in the protocol) is `null`; times keep their unit in the
//! field name (`_ms`, `_ns`); counters are plain integers.

use proto::stack::v1 as pb;
use serde::Serialize;

use super::format::{Mac, Port};

mod dataplane;
pub use dataplane::{
    Destination, EntryType, FlowControl, Interface, InterfaceCounters, Interfaces, MacEntry,
    MacTable, PfcCounters, PfcPort, PfcPriority, Queue, QueueCounters, QueuePort, Vlan,
};

/// `Some(v)` unless `v` is 0 (the protocol's "none").
pub(crate) fn nonzero(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

/// A MAC, unless it is 0 (the protocol's "none").
fn nonzero_mac(v: u64) -> Option<Mac> {
    (v != 0).then_some(Mac(v))
}

/// Anything `stackctl` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Output {
    /// `show switch`.
    Switch(Switch),
    /// `show switch stack-ports [counters]`.
    StackPorts(StackPorts),
    /// `show switch stack-ports stack-path`.
    StackPaths(StackPaths),
    /// `show nsf`.
    Nsf(Nsf),
    /// `show checkpoint statistics`.
    Checkpoint(Checkpoint),
    /// `show pfc counters`.
    Pfc(PfcCounters),
    /// `show queue counters`.
    Queues(QueueCounters),
    /// `show interfaces`.
    Interfaces(Interfaces),
    /// `show mac address-table`.
    MacTable(MacTable),
    /// `set …`, `renumber`, `initiate failover`: what stackd did.
    Done(Done),
}

/// A unit's role in its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the stack.
    Master,
    /// Takes over when the master fails.
    Standby,
    /// Any other unit of the stack.
    Member,
    /// Booted, not yet in a stack with a master.
    Joining,
    /// No free unit number (a 7th unit): not part of the stack.
    Unassigned,
    /// A value this stackctl does not know (a newer stackd).
    Unknown,
}

impl From<i32> for Role {
    fn from(v: i32) -> Self {
        match pb::Role::try_from(v) {
            Ok(pb::Role::Master) => Role::Master,
            Ok(pb::Role::Standby) => Role::Standby,
            Ok(pb::Role::Member) => Role::Member,
            Ok(pb::Role::Joining) => Role::Joining,
            Ok(pb::Role::Unassigned) => Role::Unassigned,
            Ok(pb::Role::Unspecified) | Err(_) => Role::Unknown,
        }
    }
}

impl Role {
    /// As `show switch` shows it: `Master`, `Standby`, ….
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "Master",
            Role::Standby => "Standby",
            Role::Member => "Member",
            Role::Joining => "Joining",
            Role::Unassigned => "Unassigned",
            Role::Unknown => "Unknown",
        }
    }
}

/// `show switch`: the stack's units, as the serving unit sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// The serving unit's number (`null`: none yet).
    pub local_unit: Option<u32>,
    /// The serving unit's base MAC.
    pub local_mac: Mac,
    /// The master's unit number, when it is in the member list.
    pub master_unit: Option<u32>,
    /// The stack MAC: the master's base MAC (`null`: no master).
    pub master_mac: Option<Mac>,
    /// The master epoch (bumped by every election).
    pub epoch: u32,
    /// `ring`, `chain`, `mesh` or `single`.
    pub topology: String,
    /// The serving unit's front ports forward (false: held down).
    pub active: bool,
    /// The units, by unit number (unnumbered last).
    pub members: Vec<Member>,
}

/// A unit of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Its number (`null`: none).
    pub unit: Option<u32>,
    /// Its base MAC.
    pub mac: Mac,
    /// Its role.
    pub role: Role,
    /// Election priority (0 = never master).
    pub priority: u32,
    /// Milliseconds since it booted.
    pub uptime_ms: u64,
    /// `ready`, `joining`, `held` or `unassigned`.
    pub status: String,
    /// Software version.
    pub version: String,
    /// The unit serving this command.
    pub local: bool,
}

impl From<pb::ShowSwitchResponse> for Switch {
    fn from(r: pb::ShowSwitchResponse) -> Self {
        let members: Vec<Member> = r
            .members
            .into_iter()
            .map(|m| Member {
                unit: nonzero(m.unit),
                mac: Mac(m.mac),
                role: Role::from(m.role),
                priority: m.priority,
                uptime_ms: m.uptime_ms,
                status: m.status,
                version: m.version,
                local: m.local,
            })
            .collect();
        let master_mac = nonzero_mac(r.master_mac);
        let master_unit = members
            .iter()
            .find(|m| Some(m.mac) == master_mac)
            .and_then(|m| m.unit);
        Switch {
            local_unit: nonzero(r.local_unit),
            local_mac: Mac(r.local_mac),
            master_unit,
            master_mac,
            epoch: r.epoch,
            topology: r.topology,
            active: r.active,
            members,
        }
    }
}

/// `show switch stack-ports [counters]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackPorts {
    /// Every unit's stack ports.
    pub ports: Vec<StackPort>,
}

/// One stack port of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackPort {
    /// The unit (`null`: unnumbered).
    pub unit: Option<u32>,
    /// The stack port's index on its unit (0-based).
    pub stack_port: u32,
    /// The dataplane port (the serving unit's stack ports only).
    pub port: Option<Port>,
    /// The link is up (hellos flowing).
    pub up: bool,
    /// The unit at the other end (`null`: unknown).
    pub neighbor_unit: Option<u32>,
    /// Its stack port at the other end (`null` when the neighbour is unknown).
    pub neighbor_stack_port: Option<u32>,
    /// Its base MAC (`null`: unknown).
    pub neighbor_mac: Option<Mac>,
    /// With `counters`, for the serving unit's ports; else `null`.
    pub counters: Option<StackPortCounters>,
}

/// Counters of one of the serving unit's stack ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StackPortCounters {
    /// Hellos sent.
    pub hello_sent: u64,
    /// Hellos received.
    pub hello_received: u64,
    /// Hellos missed.
    pub hello_lost: u64,
    /// Times the link went down.
    pub link_downs: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

impl From<pb::ShowStackPortsResponse> for StackPorts {
    fn from(r: pb::ShowStackPortsResponse) -> Self {
        let ports = r
            .ports
            .into_iter()
            .map(|p| {
                // The neighbour's stack port index is 0-based: it means something only when
                // the neighbour is known.
                let neighbor_unit = nonzero(p.neighbor_unit);
                let neighbor_mac = nonzero_mac(p.neighbor_mac);
                let known = neighbor_unit.is_some() || neighbor_mac.is_some();
                StackPort {
                    unit: nonzero(p.unit),
                    stack_port: p.stack_port,
                    port: p.port.as_ref().map(Port::from),
                    up: p.up,
                    neighbor_unit,
                    neighbor_stack_port: known.then_some(p.neighbor_stack_port),
                    neighbor_mac,
                    counters: p.counters.map(|c| {
                        let hello = c.hello.unwrap_or_default();
                        StackPortCounters {
                            hello_sent: hello.sent,
                            hello_received: hello.received,
                            hello_lost: hello.lost,
                            link_downs: hello.link_downs,
                            rx_frames: c.rx_frames,
                            rx_bytes: c.rx_bytes,
                            tx_frames: c.tx_frames,
                            tx_bytes: c.tx_bytes,
                        }
                    }),
                }
            })
            .collect();
        StackPorts { ports }
    }
}

/// `show switch stack-ports stack-path`: how the serving unit reaches the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackPaths {
    /// One per destination unit.
    pub paths: Vec<StackPath>,
}

/// The path to one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackPath {
    /// The destination unit.
    pub to_unit: u32,
    /// The serving unit's stack ports (0-based) of the primary trunk.
    pub primary: Vec<u32>,
    /// Of the backup trunk (the ring's other way); empty on a chain.
    pub backup: Vec<u32>,
    /// The dataplane port in use now (the backup while the primary is down).
    pub active: Option<Port>,
    /// Hops over the primary.
    pub hops: u32,
}

impl From<pb::ShowStackPathResponse> for StackPaths {
    fn from(r: pb::ShowStackPathResponse) -> Self {
        let paths = r
            .paths
            .into_iter()
            .map(|p| StackPath {
                to_unit: p.to_unit,
                primary: p.primary,
                backup: p.backup,
                active: p.active.as_ref().map(Port::from),
                hops: p.hops,
            })
            .collect();
        StackPaths { paths }
    }
}

/// `show nsf`: nonstop forwarding state of the serving unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nsf {
    /// NSF is configured on.
    pub admin_enabled: bool,
    /// The dataplane kept forwarding across the last control-plane start.
    pub oper_enabled: bool,
    /// `warm` or `cold`.
    pub last_startup: String,
    /// Milliseconds since the control plane (re)started.
    pub since_restart_ms: u64,
    /// Reconciliation with the dataplane is still going on.
    pub restart_in_progress: bool,
    /// A restart now would be warm.
    pub warm_restart_ready: bool,
    /// Entries marked stale on attach.
    pub stale_entries: u32,
    /// Entries swept after reconciliation.
    pub swept_entries: u32,
    /// The dataplane session's generation.
    pub generation: u64,
}

impl From<pb::ShowNsfResponse> for Nsf {
    fn from(r: pb::ShowNsfResponse) -> Self {
        Nsf {
            admin_enabled: r.admin_enabled,
            oper_enabled: r.oper_enabled,
            last_startup: r.last_startup,
            since_restart_ms: r.since_restart_ms,
            restart_in_progress: r.restart_in_progress,
            warm_restart_ready: r.warm_restart_ready,
            stale_entries: r.stale_entries,
            swept_entries: r.swept_entries,
            generation: r.generation,
        }
    }
}

/// `show checkpoint statistics`: the master's checkpointed state (epoch, unit table, stack
/// configuration with its static MACs) as the master streams it to the standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// `master` (sends its state), `standby` (keeps it) or `none`.
    pub side: String,
    /// The other end's unit number (the standby on the master, the master on the standby).
    pub peer_unit: Option<u32>,
    /// The other end's MAC.
    pub peer_mac: Option<Mac>,
    /// Both ends hold the same state.
    pub in_sync: bool,
    /// Digest of the state held here.
    pub version: String,
    /// Digest of the state the other end's latest advert shows.
    pub peer_version: String,
    /// The master epoch held.
    pub epoch: u32,
    /// Units in the table.
    pub units: u32,
    /// The stack configuration's version (null: none).
    pub config_version: Option<u32>,
    /// Static MAC entries in it.
    pub static_macs: u32,
    /// Changes of the state (made on the master, received on the standby).
    pub changes: u64,
    /// On the master: times the standby caught up with a change.
    pub syncs: u64,
    /// Milliseconds since the last change (null: none yet).
    pub since_change_ms: Option<u64>,
    /// On the master: how long the standby took to show the last change, microseconds.
    pub last_lag_us: Option<u64>,
    /// On the master: the longest such lag, microseconds.
    pub max_lag_us: u64,
    /// Not in sync: for how many milliseconds (null: in sync).
    pub behind_ms: Option<u64>,
}

impl From<pb::ShowCheckpointResponse> for Checkpoint {
    fn from(r: pb::ShowCheckpointResponse) -> Self {
        let digest = |v: u64| format!("{v:016x}");
        let behind_ms = (!r.in_sync && r.side != "none").then_some(r.behind_ms);
        Checkpoint {
            side: r.side,
            peer_unit: nonzero(r.peer_unit),
            peer_mac: nonzero_mac(r.peer_mac),
            in_sync: r.in_sync,
            version: digest(r.version),
            peer_version: digest(r.peer_version),
            epoch: r.epoch,
            units: r.units,
            config_version: nonzero(r.config_version),
            static_macs: r.static_macs,
            changes: r.changes,
            syncs: r.syncs,
            since_change_ms: r.has_changed.then_some(r.since_change_ms),
            last_lag_us: r.has_lag.then_some(r.last_lag_us),
            max_lag_us: r.max_lag_us,
            behind_ms,
        }
    }
}

/// What stackd did for a `set`, `renumber` or `initiate` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Done {
    /// stackd's message, for people.
    pub message: String,
}
