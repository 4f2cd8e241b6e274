//! A stack of 1–6 units in the deterministic world: every unit is the real engine and (with
//! [`Routing::Manager`]) the real stack manager ([`crate::unit`]), joined by stack cables in a
//! ring or a chain, with hosts on every unit's front ports, a traffic mix, a fault plan and a
//! seed ([`StackSpec`]). [`Stack::build`] wires it up; [`Stack::run`] brings the stack up
//! (discovery and election on the virtual clock), runs the traffic and the faults, drains,
//! and reports ([`StackReport`]).
//!
//! **Ports.** Unit *u* has front ports `u/0/1..=H` (hosts) and, with more than one unit, stack
//! ports `u/1/1` (towards unit *u − 1*) and `u/1/2` (towards unit *u + 1*). Every port runs PFC
//! on the lossless priority, whose PG has no reserved bytes, a static shared limit equal to its
//! XOFF threshold, XON at half of it and the **computed headroom bound** of its link
//! ([`dataplane::headroom::minimum_headroom`]: speed, cable, MTU — the frame size, plus the
//! 12-byte stack encapsulation on stack ports — and the peer's response: the hosts' on front
//! ports, the IEEE maximum on stack ports) plus [`StackSpec::headroom_margin_bytes`]. So
//! a PG sends XOFF the moment it fills its share and its headroom measures exactly what PFC
//! lets through after that, as in the single-switch incast.

mod build;
mod checks;
mod plots;
mod report;
mod run;
mod spec;

use dataplane::headroom::HeadroomError;
use thiserror::Error;

use crate::host::HostError;
use crate::world::{NodeId, World, WorldError};

pub use build::{host_mac, unit_mac, Headrooms};
pub use plots::plots;
pub use report::{FlowReport, PortSeries, Sample, StackReport, Totals, UnitReport};
pub use spec::{
    Fault, FaultKind, HostRef, Routing, StackSpec, Topology, Traffic, Transport, WatchdogSpec,
};

/// Most time allowed for the control plane to bring a stack up before the data phase.
pub const CONVERGE_LIMIT_MS: u64 = 20_000;

/// Why a stack scenario could not be set up or run.
#[derive(Debug, Error)]
pub enum StackError {
    /// A number is out of range; `field` names it.
    #[error("{field}: {value} is out of range (allowed: {allowed})")]
    OutOfRange {
        /// The field.
        field: String,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A field is inconsistent with the rest of the scenario.
    #[error("{field}: {why}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// The scenario file could not be read as a scenario (the message names line and field).
    #[error("scenario file: {0}")]
    Scenario(String),
    /// The headroom margin takes a headroom below one frame.
    #[error("headroom_margin_bytes: {margin} takes the headroom of {port} to {headroom} B, below one frame ({frame} B)")]
    HeadroomBelowFrame {
        /// The margin.
        margin: i64,
        /// The port.
        port: String,
        /// Bound + margin.
        headroom: i64,
        /// The frame size on that port.
        frame: u32,
    },
    /// The headroom calculator refused a link.
    #[error("headroom bound: {0}")]
    Headroom(#[from] HeadroomError),
    /// A unit refused its configuration.
    #[error("unit configuration: {0}")]
    Config(#[from] dataplane::config::ConfigError),
    /// A host refused its flow.
    #[error("host: {0}")]
    Host(#[from] HostError),
    /// The stack did not come up: no master, or routes missing, within the limit.
    #[error("the stack did not converge within {0} ms of virtual time")]
    NoConvergence(u64),
    /// The world stopped the run.
    #[error(transparent)]
    World(#[from] WorldError),
}

/// A built stack scenario.
#[derive(Debug)]
pub struct Stack {
    spec: StackSpec,
    world: World,
    /// Unit node by unit number − 1.
    units: Vec<NodeId>,
    /// Host nodes, in [`StackSpec::hosts`] order.
    hosts: Vec<(HostRef, NodeId)>,
    /// Headroom configured on front and stack ports' lossless PGs (bound + margin).
    headroom: build::Headrooms,
}

impl Stack {
    /// The scenario.
    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to step or inspect it by hand.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// The node of unit `unit` (1-based).
    pub fn unit_node(&self, unit: u8) -> Option<NodeId> {
        self.units.get(usize::from(unit).checked_sub(1)?).copied()
    }

    /// The node of a host.
    pub fn host_node(&self, h: HostRef) -> Option<NodeId> {
        self.hosts.iter().find(|(r, _)| *r == h).map(|(_, n)| *n)
    }

    /// Every host and its node.
    pub fn hosts(&self) -> &[(HostRef, NodeId)] {
        &self.hosts
    }
}
