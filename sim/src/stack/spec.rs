//! What a stack scenario is made of: the stack, its hosts, its traffic and its faults — as Rust
//! values and as a TOML scenario file (`stack-sim model run FILE`; every field has a default,
//! unknown fields are refused).

use serde::{Deserialize, Serialize};

use super::StackError;

/// Shape of the stack cabling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Unit k's stack port 2 to unit k + 1's stack port 1, and the last unit back to the first.
    #[default]
    Ring,
    /// The same without the closing cable.
    Chain,
}

/// Who programs the stack routes and flood tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// The real stack manager of every unit, over the stack links (discovery, election,
    /// routes with backups, flood tree).
    #[default]
    Manager,
    /// Fixed shortest-path routes with backups, as the stack manager computes them, and no
    /// control plane (faster; no control-plane faults).
    Static,
    /// Fixed routes that all go one way round the ring (stack port 2 onwards): a cyclic buffer
    /// dependency, for deadlock experiments. No control plane.
    Clockwise,
}

/// The PFC watchdog of every lossless queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchdogSpec {
    /// Detection time, milliseconds.
    pub detection_ms: u64,
    /// Restoration time, milliseconds.
    pub restoration_ms: u64,
    /// Off entirely.
    pub off: bool,
}

impl Default for WatchdogSpec {
    /// SONiC's defaults: 200 ms / 200 ms, action drop.
    fn default() -> Self {
        WatchdogSpec {
            detection_ms: 200,
            restoration_ms: 200,
            off: false,
        }
    }
}

/// A host: `unit/port` (front port `port` of unit `unit`, both from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostRef {
    /// Unit number, 1..=6.
    pub unit: u8,
    /// Front port, 1..=hosts per unit.
    pub port: u8,
}

impl std::fmt::Display for HostRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.unit, self.port)
    }
}

impl TryFrom<String> for HostRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("host {s:?}: expected UNIT/PORT, e.g. \"2/1\"");
        let (u, p) = s.split_once('/').ok_or_else(bad)?;
        Ok(HostRef {
            unit: u.trim().parse().map_err(|_| bad())?,
            port: p.trim().parse().map_err(|_| bad())?,
        })
    }
}

impl From<HostRef> for String {
    fn from(h: HostRef) -> String {
        h.to_string()
    }
}

/// How a flow recovers from loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Fire and forget: lost frames stay lost.
    #[default]
    Datagram,
    /// RoCE-like reliable connection: go-back-N on a NAK or a timeout.
    GoBackN,
}

/// A traffic pattern. Rates are fractions of the sending host's line rate, in percent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pattern", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Traffic {
    /// Every sender (default: every other host) to one receiver.
    Incast {
        /// The receiver.
        to: HostRef,
        /// The senders; empty = every other host.
        #[serde(default)]
        from: Vec<HostRef>,
        /// Priority (PCP) of the flows.
        #[serde(default = "default_priority")]
        priority: u8,
        /// Percent of line rate per sender.
        #[serde(default = "hundred")]
        load_percent: u32,
        /// Datagram or go-back-N.
        #[serde(default)]
        transport: Transport,
    },
    /// Every host to every other host; a host's load is split evenly over its flows.
    AllToAll {
        /// Priority (PCP) of the flows.
        #[serde(default = "default_priority")]
        priority: u8,
        /// Percent of line rate per sending host.
        #[serde(default = "fifty")]
        load_percent: u32,
    },
    /// Bursts at line rate from one host to another: `frames` frames every `period_us`.
    Bursts {
        /// Sender.
        from: HostRef,
        /// Receiver.
        to: HostRef,
        /// Priority (PCP).
        #[serde(default = "default_priority")]
        priority: u8,
        /// Frames per burst.
        frames: u32,
        /// Time between burst starts, microseconds.
        period_us: u64,
    },
    /// A broken host that sends PFC XOFF for `priorities` (bitmap) every `interval_us`, from
    /// `start_ms` for `duration_ms`, and never drains anything: a PFC storm.
    Storm {
        /// The broken host.
        host: HostRef,
        /// Priority-enable bitmap of its pauses.
        #[serde(default = "storm_priorities")]
        priorities: u8,
        /// Time between its PFC frames, microseconds.
        #[serde(default = "storm_interval")]
        interval_us: u64,
        /// Start, milliseconds after the data phase starts.
        #[serde(default)]
        start_ms: u64,
        /// How long it storms, milliseconds.
        #[serde(default = "storm_duration")]
        duration_ms: u64,
    },
}

/// Most time-series samples a run may take (`(duration_ms + drain_ms) / sample_us`).
pub const MAX_SAMPLES: u64 = 20_000;
/// Most bursts one `bursts` pattern may start.
pub const MAX_BURSTS: u64 = 10_000;

fn default_priority() -> u8 {
    3
}
fn hundred() -> u32 {
    100
}
fn fifty() -> u32 {
    50
}
fn storm_priorities() -> u8 {
    0x08
}
fn storm_interval() -> u64 {
    100
}
fn storm_duration() -> u64 {
    500
}

/// One fault, at a time after the data phase starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultKind {
    /// `stackd` of `unit` is killed and comes back after `down_ms` (the engine forwards on).
    ControlRestart {
        /// The unit.
        unit: u8,
        /// How long the control plane is away, milliseconds.
        down_ms: u64,
    },
    /// `unit` is powered off for good (its hosts lose their switch).
    UnitLoss {
        /// The unit.
        unit: u8,
    },
    /// The stack cable between units `a` and `b` is cut (for `down_ms`, or for good if 0).
    LinkCut {
        /// One end.
        a: u8,
        /// The other end.
        b: u8,
        /// How long it stays cut, milliseconds; 0 = for good.
        #[serde(default)]
        down_ms: u64,
    },
}

/// A fault and when it strikes. (Unknown fields are refused by [`FaultKind`]'s variants;
/// serde cannot also refuse them here, next to a flattened enum.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Milliseconds after the data phase starts.
    pub at_ms: u64,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// A whole scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StackSpec {
    /// Number of units, 1..=6.
    pub units: u8,
    /// Ring or chain.
    pub topology: Topology,
    /// Stack link speed, Gb/s.
    pub stack_speed_gbps: u64,
    /// Stack cable length, metres.
    pub stack_cable_m: u32,
    /// Frames lost per million on every stack link (seeded).
    pub stack_loss_ppm: u32,
    /// Hosts (front ports) per unit, 1..=16.
    pub hosts_per_unit: u8,
    /// Host link speed, Gb/s.
    pub host_speed_gbps: u64,
    /// Host cable length, metres.
    pub host_cable_m: u32,
    /// Frame size of every flow (bytes without FCS, tag included), 64..=9216; the ports' MTU.
    pub frame_size: u32,
    /// The lossless priority (PFC on every port, headroom at the bound + margin), or `None`
    /// for none.
    pub lossless_priority: Option<u8>,
    /// Added to every computed headroom bound (negative for a negative control).
    pub headroom_margin_bytes: i64,
    /// XOFF threshold (and static shared limit) of the lossless PG — and of the same
    /// priority's PG when it is lossy — on every port, bytes.
    pub xoff_bytes: u64,
    /// Hosts' PFC response in pause quanta; `None` = the IEEE maximum for their speed.
    pub host_response_quanta: Option<u16>,
    /// Who programs stack routes.
    pub routing: Routing,
    /// The PFC watchdog.
    pub watchdog: WatchdogSpec,
    /// Time the traffic runs, milliseconds after the data phase starts.
    pub duration_ms: u64,
    /// Time allowed after that for the network to empty, milliseconds.
    pub drain_ms: u64,
    /// Sample period of the time series (plots), microseconds; 0 = no samples.
    pub sample_us: u64,
    /// Seed of every random choice (start jitter, link loss, control-plane timing).
    pub seed: u64,
    /// Most events before the run stops with an error.
    pub max_events: u64,
    /// The traffic.
    pub traffic: Vec<Traffic>,
    /// The fault plan.
    pub faults: Vec<Fault>,
}

impl Default for StackSpec {
    /// A 3-unit 10G ring, one host per unit, 1500-byte frames, lossless priority 3, all-to-all
    /// at 50 %, 5 ms.
    fn default() -> Self {
        StackSpec {
            units: 3,
            topology: Topology::Ring,
            stack_speed_gbps: 10,
            stack_cable_m: 5,
            stack_loss_ppm: 0,
            hosts_per_unit: 1,
            host_speed_gbps: 10,
            host_cable_m: 3,
            frame_size: 1500,
            lossless_priority: Some(3),
            headroom_margin_bytes: 0,
            xoff_bytes: 64 * 1024,
            host_response_quanta: None,
            routing: Routing::Manager,
            watchdog: WatchdogSpec::default(),
            duration_ms: 5,
            drain_ms: 50,
            sample_us: 0,
            seed: 1,
            max_events: 200_000_000,
            traffic: vec![Traffic::AllToAll {
                priority: 3,
                load_percent: 50,
            }],
            faults: Vec::new(),
        }
    }
}

fn range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &'static str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), StackError> {
    if v < lo || v > hi {
        return Err(StackError::OutOfRange {
            field: field.to_string(),
            value: v.to_string(),
            allowed: format!("{lo}..={hi}"),
        });
    }
    Ok(())
}

impl StackSpec {
    /// Reads a TOML scenario; the error names the line and field.
    pub fn from_toml(text: &str) -> Result<Self, StackError> {
        let spec: StackSpec =
            toml::from_str(text).map_err(|e| StackError::Scenario(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), StackError> {
        range("units", self.units, 1, 6)?;
        range("hosts_per_unit", self.hosts_per_unit, 1, 16)?;
        range("stack_speed_gbps", self.stack_speed_gbps, 1, 800)?;
        range("host_speed_gbps", self.host_speed_gbps, 1, 800)?;
        range("stack_cable_m", self.stack_cable_m, 0, 100_000)?;
        range("host_cable_m", self.host_cable_m, 0, 100_000)?;
        range("stack_loss_ppm", self.stack_loss_ppm, 0, 1_000_000)?;
        range("frame_size", self.frame_size, 64, 9216)?;
        if let Some(p) = self.lossless_priority {
            range("lossless_priority", p, 0, 7)?;
        }
        range(
            "xoff_bytes",
            self.xoff_bytes,
            2 * u64::from(self.frame_size),
            1 << 30,
        )?;
        range("duration_ms", self.duration_ms, 1, 60_000)?;
        range("drain_ms", self.drain_ms, 0, 60_000)?;
        if let Some(samples) =
            ((self.duration_ms + self.drain_ms) * 1000).checked_div(self.sample_us)
        {
            if samples > MAX_SAMPLES {
                return Err(StackError::Invalid {
                    field: "sample_us".into(),
                    why: format!(
                        "{} µs over {} ms is {samples} samples; at most {MAX_SAMPLES}",
                        self.sample_us,
                        self.duration_ms + self.drain_ms
                    ),
                });
            }
        }
        if self.routing != Routing::Manager && !self.faults.is_empty() {
            let has_control = self
                .faults
                .iter()
                .any(|f| matches!(f.kind, FaultKind::ControlRestart { .. }));
            if has_control {
                return Err(StackError::Invalid {
                    field: "faults".into(),
                    why: "control-restart needs routing = \"manager\"".into(),
                });
            }
        }
        if self.routing == Routing::Clockwise && self.topology != Topology::Ring {
            return Err(StackError::Invalid {
                field: "routing".into(),
                why: "clockwise routing needs a ring".into(),
            });
        }
        for (i, t) in self.traffic.iter().enumerate() {
            self.validate_traffic(i, t)?;
        }
        for (i, f) in self.faults.iter().enumerate() {
            let field = format!("faults[{i}]");
            let unit_ok = |u: u8| (1..=self.units).contains(&u);
            let ok = match f.kind {
                FaultKind::ControlRestart { unit, .. } | FaultKind::UnitLoss { unit } => {
                    unit_ok(unit)
                }
                FaultKind::LinkCut { a, b, .. } => unit_ok(a) && unit_ok(b) && self.adjacent(a, b),
            };
            if !ok {
                return Err(StackError::Invalid {
                    field,
                    why: "names a unit that does not exist, or units without a cable".into(),
                });
            }
        }
        Ok(())
    }

    fn validate_traffic(&self, i: usize, t: &Traffic) -> Result<(), StackError> {
        let field = |f: &str| format!("traffic[{i}].{f}");
        let host = |f: &str, h: &HostRef| -> Result<(), StackError> {
            if (1..=self.units).contains(&h.unit) && (1..=self.hosts_per_unit).contains(&h.port) {
                Ok(())
            } else {
                Err(StackError::Invalid {
                    field: field(f),
                    why: format!("no host {h} in this stack"),
                })
            }
        };
        let prio = |p: u8| {
            if p > 7 {
                Err(StackError::Invalid {
                    field: field("priority"),
                    why: format!("{p} is not 0..=7"),
                })
            } else {
                Ok(())
            }
        };
        let load = |l: u32| {
            if !(1..=100).contains(&l) {
                Err(StackError::Invalid {
                    field: field("load_percent"),
                    why: format!("{l} is not 1..=100"),
                })
            } else {
                Ok(())
            }
        };
        match t {
            Traffic::Incast {
                to,
                from,
                priority,
                load_percent,
                ..
            } => {
                host("to", to)?;
                for h in from {
                    host("from", h)?;
                }
                prio(*priority)?;
                load(*load_percent)
            }
            Traffic::AllToAll {
                priority,
                load_percent,
            } => {
                prio(*priority)?;
                load(*load_percent)
            }
            Traffic::Bursts {
                from,
                to,
                priority,
                frames,
                period_us,
            } => {
                host("from", from)?;
                host("to", to)?;
                prio(*priority)?;
                if *frames == 0 || *period_us == 0 {
                    return Err(StackError::Invalid {
                        field: field("frames"),
                        why: "frames and period_us must be above 0".into(),
                    });
                }
                if self.duration_ms * 1000 / period_us > MAX_BURSTS {
                    return Err(StackError::Invalid {
                        field: field("period_us"),
                        why: format!("more than {MAX_BURSTS} bursts in duration_ms"),
                    });
                }
                Ok(())
            }
            Traffic::Storm {
                host: h,
                interval_us,
                ..
            } => {
                host("host", h)?;
                if *interval_us == 0 {
                    return Err(StackError::Invalid {
                        field: field("interval_us"),
                        why: "must be above 0".into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Whether units `a` and `b` have a cable between them.
    pub fn adjacent(&self, a: u8, b: u8) -> bool {
        let n = self.units;
        if a == b || n < 2 {
            return false;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        hi == lo + 1 || (self.topology == Topology::Ring && n > 2 && lo == 1 && hi == n)
    }

    /// Every host of the stack, unit by unit.
    pub fn hosts(&self) -> Vec<HostRef> {
        (1..=self.units)
            .flat_map(|unit| (1..=self.hosts_per_unit).map(move |port| HostRef { unit, port }))
            .collect()
    }
}
