//! Scenarios: a virtual stack, traffic between its hosts, a timeline of faults and waits,
//! and assertions, read from a TOML file and run by `stack-sim run FILE`.
//!
//! ```toml
//! name = "master-unit-failure"
//! seed = 1
//!
//! [stack]
//! units = 4                 # 1..=6
//! topology = "ring"         # or "chain"
//!
//! [[traffic]]
//! name = "east-west"
//! pattern = "pair"          # pair | incast | all-to-all
//! from = "2/1"              # UNIT/PORT (incast: a list)
//! to = "4/1"
//! rate_fps = 1000
//!
//! [[step]]
//! do = "start-traffic"
//! [[step]]
//! at_ms = 500
//! do = "kill-unit"
//! unit = "master"           # a number, "master" or "standby" (when the step runs),
//!                           # "initial-master" or "initial-standby" (when the timeline began)
//! [[step]]
//! do = "expect"
//! master = "initial-standby"
//! timeout_ms = 5000
//!
//! [[assert]]
//! flow = "east-west"
//! max_lost = 0
//! ```
//!
//! The steps and what they take are in [`Action`]; the assertions in [`Assert`]. Every error
//! in a file names the file, the line and what was expected.

mod check;
mod parse;
mod report;
mod run;
mod watch;

use std::path::PathBuf;

use thiserror::Error;

use crate::launch::Topology;
use crate::traffic::Pattern;

pub use parse::{parse, read};

/// The scenario files (`*.toml`) in `dir`, sorted by name.
pub fn files_in(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}
pub use report::{AssertionResult, Event, Report};
pub use run::{run, RunOptions};
pub use watch::MasterWatch;

/// Why a scenario could not be read or run.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// The stack could not be launched.
    #[error("launch: {0}")]
    Launch(#[from] crate::launch::LaunchError),
    /// The stack did not converge before the timeline began.
    #[error("the stack did not converge: {0}")]
    NotConverged(String),
    /// Traffic could not be set up.
    #[error("traffic: {0}")]
    Traffic(#[from] crate::traffic::TrafficError),
    /// The management API could not be used.
    #[error("management: {0}")]
    Mgmt(#[from] crate::launch::mgmt::MgmtError),
    /// The report could not be written.
    #[error("write {path}: {source}")]
    Write {
        /// The report file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A unit named in a step: by number, or by its role when the step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitRef {
    /// The unit launched with this number.
    Number(u8),
    /// The master at that moment.
    Master,
    /// The standby at that moment.
    Standby,
    /// The master when the timeline began (e.g. to restart what was killed).
    InitialMaster,
    /// The standby when the timeline began.
    InitialStandby,
    /// Any unit, drawn when the step runs from the scenario's seed (master and standby
    /// included).
    Random,
}

/// A unit named in an expectation: by number, or by its role when the timeline began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterRef {
    /// The unit launched with this number.
    Number(u8),
    /// The master when the timeline began.
    InitialMaster,
    /// The standby when the timeline began.
    InitialStandby,
}

/// Which processes of a unit a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The control plane.
    Stackd,
    /// The dataplane.
    Dataplaned,
    /// Both (the whole unit).
    Unit,
}

/// The stack links between two units (a trunk), or one of them (1-based parallel index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRef {
    /// One end's unit.
    pub a: u8,
    /// The other end's unit.
    pub b: u8,
    /// Only this parallel link.
    pub index: Option<u8>,
}

/// Conditions an `expect` step waits for (all of them), up to its timeout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// These units (default: every unit whose stackd runs) agree on one master, have as
    /// many members, and are active.
    pub converged: Option<Vec<u8>>,
    /// This unit is the master.
    pub master: Option<MasterRef>,
    /// This unit is not the master.
    pub master_not: Option<MasterRef>,
    /// These units hold their front ports down (a minority part of a split stack).
    pub held: Vec<u8>,
    /// Give up (a failed assertion) after this long.
    pub timeout_ms: u64,
    /// Also fail when it took longer than this.
    pub max_ms: Option<u64>,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `wait`: nothing, for `ms`.
    Wait {
        /// Milliseconds.
        ms: u64,
    },
    /// `kill-stackd`, `kill-dataplaned`, `kill-unit`: SIGKILL.
    Kill(Target, UnitRef),
    /// `start-stackd`, `start-dataplaned`, `start-unit`: start what is not running.
    Start(Target, UnitRef),
    /// `restart-stackd`, `restart-dataplaned`, `restart-unit`: SIGKILL, then start again.
    Restart(Target, UnitRef),
    /// `cut-link`: nothing crosses the link(s).
    CutLink(LinkRef),
    /// `restore-link`: the link(s) as new (no cut, loss or delay).
    RestoreLink(LinkRef),
    /// `flap-link`: cut for `down_ms`, restore for `up_ms`, `count` times.
    FlapLink {
        /// The link(s).
        link: LinkRef,
        /// Down time per flap.
        down_ms: u64,
        /// Up time per flap.
        up_ms: u64,
        /// Flaps.
        count: u32,
    },
    /// `degrade-link`: lose a fraction of frames and delay the rest.
    DegradeLink {
        /// The link(s).
        link: LinkRef,
        /// Loss probability, 0..=1.
        loss: f64,
        /// One-way delay, milliseconds.
        delay_ms: u64,
    },
    /// `start-traffic`: start the named traffic items (default: all not started yet).
    StartTraffic(Vec<String>),
    /// `stop-traffic`: stop the named traffic items (default: all).
    StopTraffic(Vec<String>),
    /// `expect`: wait for conditions; failing them is a failed assertion.
    Expect(Expect),
}

/// One timed step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Its line in the file.
    pub line: usize,
    /// When it starts, milliseconds after the timeline began (default: after the previous).
    pub at_ms: Option<u64>,
    /// What it does.
    pub action: Action,
    /// How many times it runs (1 = once); a `random` unit is drawn again each time.
    pub repeat: u32,
    /// With `repeat`: milliseconds from the start of one run to the start of the next.
    pub every_ms: u64,
    /// For `restart-*`: milliseconds between the kill and the start.
    pub down_ms: u64,
}

/// A traffic item: one or more flows with the same parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficItem {
    /// Its name (flows are named after it).
    pub name: String,
    /// Who sends to whom.
    pub pattern: Pattern,
    /// Frames per second per flow.
    pub rate_fps: u32,
    /// Bytes per frame.
    pub frame_size: usize,
    /// Priority (PCP).
    pub priority: u8,
}

/// An assertion checked on the final report.
#[derive(Clone, Debug, PartialEq)]
pub enum Assert {
    /// Limits on the flows of a traffic item (or on every flow: `*`).
    Flow {
        /// Traffic item name, flow name, or `*`.
        flow: String,
        /// At most this many frames lost.
        max_lost: Option<u64>,
        /// At most this share lost, percent.
        max_lost_pct: Option<f64>,
        /// No gap longer than this, milliseconds.
        max_gap_ms: Option<f64>,
        /// At most this many reordered.
        max_reordered: Option<u64>,
        /// At least this many received.
        min_received: Option<u64>,
        /// The sender received at least this many PFC frames.
        min_sender_pfc_frames: Option<u64>,
        /// Holds when any one of the flows meets every limit (e.g. one path of a dual-homed
        /// host), instead of each of them.
        any: bool,
    },
    /// The master at the end.
    Master(MasterRef),
    /// Not the master at the end.
    MasterNot(MasterRef),
    /// Never more than this many units said they were master at the same time, watched
    /// throughout the timeline.
    MaxMasters(u32),
}

/// The stack a scenario runs on.
#[derive(Clone, Debug, PartialEq)]
pub struct StackSpec {
    /// Units.
    pub units: u8,
    /// Ring or chain.
    pub topology: Topology,
    /// Parallel links per neighbour.
    pub links: u8,
    /// Hosts (front ports) per unit.
    pub hosts_per_unit: u8,
    /// Front port line rate, bits per second.
    pub front_speed_bps: u64,
    /// Priorities made lossless (PFC) on every port: part of the stack configuration every
    /// stackd boots with, so stackd programs them (again after a `dataplaned` restart).
    pub lossless: Vec<u8>,
    /// Election priority per unit.
    pub priorities: Vec<u8>,
    /// How long the stack may take to converge at first.
    pub converge_timeout_ms: u64,
    /// Stack-link hello interval, milliseconds (a link is down after 3 missed).
    pub hello_interval_ms: u64,
    /// How hosts are attached (`stack-sim run --backend` overrides it).
    pub backend: crate::launch::Backend,
}

/// A scenario, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// Seed of every random choice (link loss).
    pub seed: u64,
    /// The stack.
    pub stack: StackSpec,
    /// The traffic items.
    pub traffic: Vec<TrafficItem>,
    /// The timeline.
    pub steps: Vec<Step>,
    /// The assertions on the end result.
    pub asserts: Vec<Assert>,
    /// How long in-flight frames may take to arrive after the traffic stops, at most.
    pub drain_ms: u64,
}
