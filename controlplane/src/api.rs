//! The manager's public data types: configuration, persistent state, link states, events,
//! refusals and the read-only view.

use std::time::Duration;

use thiserror::Error;

use crate::election::Rule;
use crate::stack_config::{StackConfigError, StackWideConfig};
use crate::topology::TopologyKind;
use crate::wire::{Adjacency, Role, StackPort, WireError};

/// What a unit keeps across restarts. The manager reports changes with
/// [`StackEvent::PersistedChanged`]; the driver stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persisted {
    /// Unit number, 0 = none yet.
    pub unit: u8,
    /// Election priority, 0 = never master.
    pub priority: u8,
}

/// Configuration of one unit's stack manager.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The unit's base MAC (48 bits).
    pub mac: u64,
    /// Persistent state (unit number, priority).
    pub persisted: Persisted,
    /// The unit's stack ports.
    pub stack_ports: Vec<StackPort>,
    /// The stack key: when set, every message carries and needs an HMAC with it.
    pub key: Option<Vec<u8>>,
    /// The configured standby unit number; honoured while this unit is master.
    pub standby: Option<u8>,
    /// How often a unit re-sends its advert.
    pub advert_interval: Duration,
    /// How long an advert (and a silent neighbour) lives without a refresh.
    pub hold_time: Duration,
    /// How long after boot a unit waits for adverts before it may elect.
    pub cold_boot_window: Duration,
    /// Uptimes closer than this count as equal (they are estimates across units).
    pub uptime_tolerance: Duration,
    /// This unit's software version, `major << 16 | minor << 8 | patch` (shown to operators).
    pub version: u32,
    /// How long a neighbour whose control plane detached (its hellos say so) is kept as it
    /// was, before it counts as gone (nonstop forwarding across a control-plane restart).
    pub grace_period: Duration,
    /// Resume from this checkpoint (a control-plane restart over a dataplane that kept its
    /// state) instead of booting cold.
    pub resume: Option<Checkpoint>,
    /// The stack configuration this unit holds at boot (stored from its last master, or the
    /// operator's startup file); a master applies and replicates it.
    pub stack_config: Option<StackWideConfig>,
}

impl StackConfig {
    /// A configuration with default timers: adverts every 250 ms, hold 1 s, cold-boot window
    /// 2 s, uptime tolerance 1 s, grace period 10 s; no key, no configured standby.
    pub fn new(mac: u64, persisted: Persisted, stack_ports: Vec<StackPort>) -> Self {
        StackConfig {
            mac,
            persisted,
            stack_ports,
            key: None,
            standby: None,
            advert_interval: Duration::from_millis(250),
            hold_time: Duration::from_secs(1),
            cold_boot_window: Duration::from_secs(2),
            uptime_tolerance: Duration::from_secs(1),
            version: 0,
            grace_period: Duration::from_secs(10),
            resume: None,
            stack_config: None,
        }
    }
}

/// What a unit needs to resume its place in the stack after a control-plane restart: its
/// role and the master's directives as they were. Reported with
/// [`StackEvent::CheckpointChanged`]; the driver stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The role.
    pub role: Role,
    /// The master epoch.
    pub epoch: u32,
    /// The master followed (0 = none).
    pub master: u64,
    /// The standby named by the master (0 = none) and the rule's code.
    pub standby: (u64, u8),
    /// The unit table (MAC, number).
    pub table: Vec<(u64, u8)>,
    /// Front ports held.
    pub held: bool,
    /// Who was at the other end of each stack link. A resumed unit advertises them from the
    /// start: were it to re-learn them one link at a time, its first adverts would name only
    /// some of its links, and every unit would re-route round the "missing" ones for a moment.
    pub adjacencies: Vec<Adjacency>,
}

/// A stack link's state, as the dataplane's hellos report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The link is up.
    Up,
    /// The link is down.
    Down,
}

/// Something the driver (and operator) should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackEvent {
    /// This unit's role changed, and the rule that decided it.
    RoleChanged {
        /// Role before.
        from: Role,
        /// Role after.
        to: Role,
        /// The deciding rule.
        rule: Rule,
        /// The master epoch after the change.
        epoch: u32,
    },
    /// The master assigned this unit another number.
    UnitRenumbered {
        /// Number before (0 = none).
        from: u8,
        /// Number after (0 = refused).
        to: u8,
    },
    /// Persistent state changed: store it.
    PersistedChanged(Persisted),
    /// The role or the master's directives changed: store the checkpoint.
    CheckpointChanged(Checkpoint),
    /// Units of the stack are no longer reachable.
    Split {
        /// Their MACs.
        lost: Vec<u64>,
        /// Whether this unit's part stays active.
        active: bool,
    },
    /// The stack configuration this unit holds changed (set here as master, or replicated
    /// from the master): store it.
    StackConfigChanged(StackWideConfig),
    /// Units joined this unit's stack (formation, recovery or merge).
    Merge {
        /// Their MACs.
        joined: Vec<u64>,
    },
}

/// Why a message from a stack link was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MessageError {
    /// Malformed, or failed authentication.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Not one of this unit's stack ports.
    #[error("unknown stack port {0:?}")]
    UnknownPort(StackPort),
    /// The port is down.
    #[error("stack port {0:?} is down")]
    PortDown(StackPort),
    /// Our own message came back (a cable from this unit to itself).
    #[error("own message looped back")]
    Looped,
}

/// Why an operator command was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CommandError {
    /// Stack-wide commands are taken by the master only.
    #[error("this unit is not the master; run it on the master{}", master.map_or(String::new(), |u| format!(" (unit {u})")))]
    NotMaster {
        /// The master's unit number, when there is one.
        master: Option<u8>,
    },
    /// No unit of the stack has that number.
    #[error("no unit {0} in the stack")]
    UnknownUnit(u8),
    /// A unit number outside 1..=6.
    #[error("unit number {0} is out of range (1..={max})", max = crate::election::MAX_UNITS)]
    BadUnitNumber(u8),
    /// The new number is taken by another unit.
    #[error(
        "unit number {0} is taken by another unit; pick a free one or renumber that one first"
    )]
    UnitNumberTaken(u8),
    /// The master cannot be its own standby.
    #[error("unit {0} is the master; a standby must be another unit")]
    StandbyIsMaster(u8),
    /// A failover needs a standby to hand over to.
    #[error("no standby to fail over to (a stack of one, or no member eligible)")]
    NoStandby,
    /// A stack configuration with a bad field.
    #[error("stack configuration: {0}")]
    Config(#[from] StackConfigError),
}

/// One of this unit's stack ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackPortView {
    /// The port.
    pub port: StackPort,
    /// Its link is up.
    pub up: bool,
    /// The unit at the other end (base MAC) and its stack port, once heard.
    pub neighbour: Option<(u64, StackPort)>,
}

/// One unit as this unit sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Base MAC.
    pub mac: u64,
    /// Unit number (0 = none).
    pub unit: u8,
    /// Priority.
    pub priority: u8,
    /// Estimated uptime, milliseconds.
    pub uptime_ms: u64,
    /// Role.
    pub role: Role,
    /// Front ports held.
    pub held: bool,
    /// Stack links.
    pub adjacencies: Vec<Adjacency>,
    /// Software version, `major << 16 | minor << 8 | patch`.
    pub version: u32,
    /// Every stack port up with a known neighbour.
    pub complete: bool,
}

/// A read-only picture of the stack from this unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackView {
    /// This unit's MAC.
    pub me: u64,
    /// This unit's number (0 = none).
    pub unit: u8,
    /// This unit's role.
    pub role: Role,
    /// The master this unit follows.
    pub master: Option<u64>,
    /// The standby named by that master.
    pub standby: Option<u64>,
    /// The master epoch.
    pub epoch: u32,
    /// Shape of this unit's component.
    pub kind: TopologyKind,
    /// Front ports forwarding (false: held down).
    pub active: bool,
    /// The units of this unit's component, in MAC order.
    pub members: Vec<MemberView>,
}
