//! Engine configuration: ports, VLAN modes, priority maps, scheduling, buffers and PFC — and
//! its validation.
//!
//! Everything the forwarding engine is told comes in as these plain types and is checked as a
//! whole by [`EngineConfig::validate`] before anything changes. Each rejection is a
//! [`ConfigError`] that names the offending field with a path such as
//! `ports[2].pgs[3].xon`, so a bad config file or gRPC write points at its own mistake.

use core::fmt;
use core::time::Duration;

use pnet_base::MacAddr;
use thiserror::Error;

/// Number of priorities, traffic classes and priority groups (802.1Q: eight of each).
pub const NUM_PRIORITIES: usize = 8;

/// The largest frame (without FCS) the engine accepts: a 9216-byte jumbo.
pub const MAX_FRAME_LEN: u32 = 9216;

/// Whether a port faces hosts or another unit of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Front-panel port (`U/0/P`): hosts and servers.
    Front,
    /// Stack port (`U/1/P`): a link to another unit of the stack.
    Stack,
}

impl Slot {
    /// The slot number used in `U/S/P` names.
    pub fn number(self) -> u8 {
        match self {
            Slot::Front => 0,
            Slot::Stack => 1,
        }
    }
}

/// A port of this unit: slot and port number (the unit is the engine's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId {
    /// Front panel or stack.
    pub slot: Slot,
    /// Port number within the slot (1-based on real switches; any `u8` here).
    pub port: u8,
}

impl PortId {
    /// Front-panel port `P`.
    pub const fn front(port: u8) -> Self {
        PortId {
            slot: Slot::Front,
            port,
        }
    }
    /// Stack port `P`.
    pub const fn stack(port: u8) -> Self {
        PortId {
            slot: Slot::Stack,
            port,
        }
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.slot.number(), self.port)
    }
}

/// 802.1Q membership of a front-panel port. Stack ports carry every VLAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// Untagged member of one VLAN; priority-tagged frames (VID 0) are accepted as that VLAN.
    Access {
        /// The port's VLAN.
        vid: u16,
    },
    /// Tagged member of `allowed`; untagged frames belong to `native` (dropped if `None`),
    /// and frames of the native VLAN leave untagged.
    Trunk {
        /// VLAN of untagged frames, sent untagged.
        native: Option<u16>,
        /// VLANs carried tagged.
        allowed: Vec<u16>,
    },
}

/// How an egress traffic class is scheduled (802.1Qaz).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcSchedule {
    /// Strict priority: served before every ETS class; higher TC numbers first.
    Strict,
    /// Enhanced Transmission Selection: a DWRR share, in percent of what strict classes leave.
    Ets {
        /// Bandwidth share in percent (1–100; the ETS classes of a port sum to 100).
        weight: u8,
    },
}

/// Link-level flow control a port runs: one or the other, never both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowControl {
    /// No pause frames sent; received ones are counted and ignored.
    None,
    /// 802.3x PAUSE: the whole link pauses.
    Pause,
    /// 802.1Qbb PFC for the priorities whose bit is set (bit n = priority n).
    Pfc {
        /// Priority-enable bitmap.
        enabled: u8,
    },
}

/// The shared-buffer limit of a priority group beyond its reserved minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedLimit {
    /// At most this many bytes of the shared pool.
    Static(u64),
    /// At most α × (free shared pool), α = 2^`log2_alpha`, `log2_alpha` in −7..=3
    /// (SONiC's `dynamic_th`, Broadcom's α from 1/128 to 8).
    Dynamic {
        /// log2 of α.
        log2_alpha: i8,
    },
}

/// Thresholds of a lossless priority group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LosslessThresholds {
    /// PG occupancy (reserved + shared bytes) at which PFC XOFF is sent. XOFF is also sent as
    /// soon as a frame has to spill into headroom because the shared limit is reached.
    pub xoff: u64,
    /// Occupancy below which PFC XON (quanta 0) is sent. Must be below `xoff`.
    pub xon: u64,
    /// Headroom: bytes this PG may take beyond its shared limit while the peer reacts to XOFF.
    /// At least the bound of [`crate::headroom`]; never less than one MTU.
    pub headroom: u64,
}

/// Buffer profile of one ingress priority group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgProfile {
    /// Guaranteed bytes, charged before the shared pool.
    pub reserved: u64,
    /// Limit on the shared pool.
    pub shared_limit: SharedLimit,
    /// `Some` for a lossless PG (PFC-enabled priorities map to it); `None` for lossy (tail drop).
    pub lossless: Option<LosslessThresholds>,
}

impl PgProfile {
    /// A lossy PG: 1 MTU reserved, dynamic α = 1.
    pub const fn lossy() -> Self {
        PgProfile {
            reserved: 1536,
            shared_limit: SharedLimit::Dynamic { log2_alpha: 0 },
            lossless: None,
        }
    }
}

/// What the PFC watchdog does to a queue it finds in a pause storm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogAction {
    /// Drop what is queued and what arrives, until restored (SONiC default).
    Drop,
    /// Ignore received pauses and transmit anyway, until restored.
    Forward,
    /// Only raise the storm event and count.
    Alert,
}

/// PFC watchdog timing and action (SONiC's `pfcwd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// A lossless queue with frames, paused continuously this long, is in a storm.
    pub detection: Duration,
    /// A stormed queue is restored after this long without received pauses.
    pub restoration: Duration,
    /// What to do while stormed.
    pub action: WatchdogAction,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            detection: Duration::from_millis(200),
            restoration: Duration::from_millis(200),
            action: WatchdogAction::Drop,
        }
    }
}

/// One port of the unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Slot and number.
    pub id: PortId,
    /// Line rate in bits per second; egress never transmits faster.
    pub speed_bps: u64,
    /// Largest frame (without FCS) the port carries.
    pub mtu: u32,
    /// Source address of the MAC Control frames this port sends.
    pub mac: MacAddr,
    /// 802.1Q membership (ignored on stack ports, which carry all VLANs).
    pub vlan: VlanMode,
    /// Priority of untagged frames.
    pub default_priority: u8,
    /// Ingress PCP → internal priority.
    pub pcp_to_priority: [u8; NUM_PRIORITIES],
    /// Internal priority → egress traffic class (queue).
    pub priority_to_tc: [u8; NUM_PRIORITIES],
    /// Internal priority → ingress priority group (buffer accounting).
    pub priority_to_pg: [u8; NUM_PRIORITIES],
    /// Scheduling of each egress traffic class.
    pub schedule: [TcSchedule; NUM_PRIORITIES],
    /// PAUSE, PFC or neither.
    pub flow_control: FlowControl,
    /// Buffer profile of each ingress priority group.
    pub pgs: [PgProfile; NUM_PRIORITIES],
}

impl PortConfig {
    /// A front-panel access port on VLAN 1 with identity maps, all classes strict, no flow
    /// control and lossy PGs. Builders below adjust it.
    pub fn new(id: PortId, speed_bps: u64) -> Self {
        let n = id.port;
        let slot = id.slot.number();
        PortConfig {
            id,
            speed_bps,
            mtu: 1518,
            mac: MacAddr::new(0x02, 0x00, 0x00, 0x00, slot, n),
            vlan: VlanMode::Access { vid: 1 },
            default_priority: 0,
            pcp_to_priority: [0, 1, 2, 3, 4, 5, 6, 7],
            priority_to_tc: [0, 1, 2, 3, 4, 5, 6, 7],
            priority_to_pg: [0, 1, 2, 3, 4, 5, 6, 7],
            schedule: [TcSchedule::Strict; NUM_PRIORITIES],
            flow_control: FlowControl::None,
            pgs: [PgProfile::lossy(); NUM_PRIORITIES],
        }
    }

    /// Makes `priority` lossless: PFC enabled for it and its PG given `thresholds`.
    pub fn with_lossless(mut self, priority: u8, thresholds: LosslessThresholds) -> Self {
        let p = usize::from(priority & 7);
        let enabled = match self.flow_control {
            FlowControl::Pfc { enabled } => enabled,
            _ => 0,
        };
        self.flow_control = FlowControl::Pfc {
            enabled: enabled | 1 << p,
        };
        let pg = usize::from(self.priority_to_pg[p] & 7);
        self.pgs[pg].lossless = Some(thresholds);
        self
    }

    /// The port as `unit/slot/port`.
    pub fn name(&self, unit: u8) -> String {
        format!("{unit}/{}", self.id)
    }
}

/// The shared buffer of the unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferConfig {
    /// Bytes shared by all PGs beyond their reserved minimums.
    pub shared_pool: u64,
    /// Bytes of headroom all lossless PGs draw from together (each also capped by its own).
    pub headroom_pool: u64,
}

impl Default for BufferConfig {
    /// 12 MiB shared, 2 MiB headroom: the scale of a 10G top-of-rack ASIC.
    fn default() -> Self {
        BufferConfig {
            shared_pool: 12 << 20,
            headroom_pool: 2 << 20,
        }
    }
}

/// PFC timing of sent pauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfcTiming {
    /// Pause time put in XOFF frames, in quanta (the maximum by default).
    pub pause_quanta: u16,
    /// XOFF is re-sent when this fraction (in 1/256ths) of the pause time has elapsed, so the
    /// peer never resumes on its own while the PG is still congested (128 = half way).
    pub refresh_at_256ths: u8,
}

impl Default for PfcTiming {
    fn default() -> Self {
        PfcTiming {
            pause_quanta: 0xFFFF,
            refresh_at_256ths: 128,
        }
    }
}

/// Learning-bridge settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbConfig {
    /// Most dynamic + static entries held; learning stops (counted) when full.
    pub capacity: usize,
    /// Dynamic entries not refreshed for this long are aged out (802.1Q default 300 s).
    pub aging: Duration,
}

impl Default for FdbConfig {
    fn default() -> Self {
        FdbConfig {
            capacity: 32 * 1024,
            aging: Duration::from_secs(300),
        }
    }
}

/// Everything the forwarding engine of one unit is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// This unit's number in the stack (1–15).
    pub unit: u8,
    /// The unit's ports, front and stack.
    pub ports: Vec<PortConfig>,
    /// Shared buffer and headroom pool.
    pub buffer: BufferConfig,
    /// PFC sending timing.
    pub pfc: PfcTiming,
    /// Bridge table.
    pub fdb: FdbConfig,
    /// PFC watchdog on every lossless queue, or `None` for off.
    pub watchdog: Option<WatchdogConfig>,
    /// Hop limit put in the stack header of frames this unit sends into the stack.
    pub stack_hop_limit: u8,
    /// Stack-link hellos on every stack port, or `None` for off (stack ports are then up as
    /// soon as their link is).
    pub hello: Option<crate::hello::HelloConfig>,
    /// How far ahead of `now` a port's transmitter may run. 0 for a simulator that calls
    /// exactly at [`crate::Engine::poll_timeout`]; a real-time driver that wakes with some
    /// latency sets it to about its wake-up granularity, so the port still averages its line
    /// rate (a token bucket of this depth) instead of losing the time it overslept.
    pub tx_burst: Duration,
}

impl EngineConfig {
    /// A unit with `ports` and defaults for everything else.
    pub fn new(unit: u8, ports: Vec<PortConfig>) -> Self {
        EngineConfig {
            unit,
            ports,
            buffer: BufferConfig::default(),
            pfc: PfcTiming::default(),
            fdb: FdbConfig::default(),
            watchdog: Some(WatchdogConfig::default()),
            stack_hop_limit: 8,
            hello: None,
            tx_burst: Duration::ZERO,
        }
    }

    /// Checks the whole configuration; the first problem found is returned, naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=15).contains(&self.unit) {
            return Err(ConfigError::OutOfRange {
                field: "unit".into(),
                value: i64::from(self.unit),
                allowed: "1..=15",
            });
        }
        if self.ports.is_empty() || self.ports.len() > 64 {
            return Err(ConfigError::OutOfRange {
                field: "ports".into(),
                value: self.ports.len() as i64,
                allowed: "1..=64 ports",
            });
        }
        if self.stack_hop_limit == 0 {
            return Err(ConfigError::OutOfRange {
                field: "stack_hop_limit".into(),
                value: 0,
                allowed: "1..=255",
            });
        }
        if self.fdb.capacity == 0 {
            return Err(ConfigError::OutOfRange {
                field: "fdb.capacity".into(),
                value: 0,
                allowed: "at least 1",
            });
        }
        if self.pfc.pause_quanta == 0 {
            return Err(ConfigError::OutOfRange {
                field: "pfc.pause_quanta".into(),
                value: 0,
                allowed: "1..=65535",
            });
        }
        if let Some(h) = &self.hello {
            if h.interval.is_zero() || h.dead_after == 0 {
                return Err(ConfigError::OutOfRange {
                    field: if h.dead_after == 0 {
                        "hello.dead_after"
                    } else {
                        "hello.interval"
                    }
                    .into(),
                    value: 0,
                    allowed: "a non-zero interval and 1..=255 intervals",
                });
            }
        }
        if self.tx_burst > Duration::from_secs(1) {
            return Err(ConfigError::OutOfRange {
                field: "tx_burst".into(),
                value: i64::try_from(self.tx_burst.as_millis()).unwrap_or(i64::MAX),
                allowed: "0..=1000 ms",
            });
        }
        if let Some(wd) = &self.watchdog {
            for (name, d) in [
                ("watchdog.detection", wd.detection),
                ("watchdog.restoration", wd.restoration),
            ] {
                if d.is_zero() {
                    return Err(ConfigError::OutOfRange {
                        field: name.into(),
                        value: 0,
                        allowed: "a non-zero duration",
                    });
                }
            }
        }
        for (i, port) in self.ports.iter().enumerate() {
            if let Some(j) = self.ports[..i].iter().position(|p| p.id == port.id) {
                return Err(ConfigError::DuplicatePort {
                    field: format!("ports[{i}].id"),
                    port: port.id,
                    first: j,
                });
            }
            port.validate(&format!("ports[{i}]"))?;
        }
        Ok(())
    }
}

impl PortConfig {
    /// Checks one port; `at` is its path in the enclosing config (e.g. `ports[3]`).
    pub fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if self.speed_bps == 0 {
            return Err(ConfigError::ZeroSpeed {
                field: format!("{at}.speed_bps"),
            });
        }
        if !(64..=MAX_FRAME_LEN).contains(&self.mtu) {
            return Err(ConfigError::OutOfRange {
                field: format!("{at}.mtu"),
                value: i64::from(self.mtu),
                allowed: "64..=9216",
            });
        }
        check_priority(&format!("{at}.default_priority"), self.default_priority)?;
        for (name, map) in [
            ("pcp_to_priority", &self.pcp_to_priority),
            ("priority_to_tc", &self.priority_to_tc),
            ("priority_to_pg", &self.priority_to_pg),
        ] {
            for (k, v) in map.iter().enumerate() {
                check_priority(&format!("{at}.{name}[{k}]"), *v)?;
            }
        }
        if self.id.slot == Slot::Front {
            validate_vlan_mode(&self.vlan, &format!("{at}.vlan"))?;
        }
        let ets: Vec<(usize, u8)> = self
            .schedule
            .iter()
            .enumerate()
            .filter_map(|(tc, s)| match s {
                TcSchedule::Ets { weight } => Some((tc, *weight)),
                TcSchedule::Strict => None,
            })
            .collect();
        for (tc, w) in &ets {
            if *w == 0 || *w > 100 {
                return Err(ConfigError::OutOfRange {
                    field: format!("{at}.schedule[{tc}].weight"),
                    value: i64::from(*w),
                    allowed: "1..=100",
                });
            }
        }
        let sum: u32 = ets.iter().map(|(_, w)| u32::from(*w)).sum();
        if !ets.is_empty() && sum != 100 {
            return Err(ConfigError::EtsWeightsNot100 {
                field: format!("{at}.schedule"),
                sum,
            });
        }
        let pfc_enabled = match self.flow_control {
            FlowControl::Pfc { enabled } => enabled,
            _ => 0,
        };
        for (pg, profile) in self.pgs.iter().enumerate() {
            let f = format!("{at}.pgs[{pg}]");
            if let SharedLimit::Dynamic { log2_alpha } = profile.shared_limit {
                if !(-7..=3).contains(&log2_alpha) {
                    return Err(ConfigError::OutOfRange {
                        field: format!("{f}.shared_limit.log2_alpha"),
                        value: i64::from(log2_alpha),
                        allowed: "-7..=3",
                    });
                }
            }
            if let Some(t) = profile.lossless {
                if t.xon >= t.xoff {
                    return Err(ConfigError::XonNotBelowXoff {
                        field: format!("{f}.xon"),
                        xon: t.xon,
                        xoff: t.xoff,
                    });
                }
                if t.headroom < u64::from(self.mtu) {
                    return Err(ConfigError::HeadroomBelowMtu {
                        field: format!("{f}.headroom"),
                        headroom: t.headroom,
                        mtu: self.mtu,
                    });
                }
            }
        }
        // A PFC-enabled priority must land in a lossless PG, or its pauses would protect nothing.
        for p in 0..NUM_PRIORITIES {
            if pfc_enabled & (1 << p) != 0 {
                let pg = usize::from(self.priority_to_pg[p]);
                if self.pgs[pg].lossless.is_none() {
                    return Err(ConfigError::PfcPriorityInLossyPg {
                        field: format!("{at}.priority_to_pg[{p}]"),
                        priority: p as u8,
                        pg: pg as u8,
                    });
                }
            }
        }
        Ok(())
    }
}

fn check_priority(field: &str, v: u8) -> Result<(), ConfigError> {
    if v > 7 {
        return Err(ConfigError::PriorityOutOfRange {
            field: field.into(),
            value: v,
        });
    }
    Ok(())
}

fn check_vid(field: String, vid: u16) -> Result<(), ConfigError> {
    if !(1..=4094).contains(&vid) {
        return Err(ConfigError::OutOfRange {
            field,
            value: i64::from(vid),
            allowed: "1..=4094",
        });
    }
    Ok(())
}

fn validate_vlan_mode(mode: &VlanMode, at: &str) -> Result<(), ConfigError> {
    match mode {
        VlanMode::Access { vid } => check_vid(format!("{at}.vid"), *vid),
        VlanMode::Trunk { native, allowed } => {
            if let Some(n) = native {
                check_vid(format!("{at}.native"), *n)?;
            }
            for (i, v) in allowed.iter().enumerate() {
                check_vid(format!("{at}.allowed[{i}]"), *v)?;
            }
            Ok(())
        }
    }
}

/// Why a configuration was refused. Each variant names the field (a path like
/// `ports[1].pgs[3].xon`) so the error says what is wrong and where.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A port's speed is zero: it could never transmit, and every time computation divides by it.
    #[error("{field}: speed must be greater than zero")]
    ZeroSpeed {
        /// Path of the field.
        field: String,
    },
    /// A priority, traffic class or priority group number above 7.
    #[error("{field}: {value} is not a priority (0..=7)")]
    PriorityOutOfRange {
        /// Path of the field.
        field: String,
        /// The value given.
        value: u8,
    },
    /// XON must be strictly below XOFF, or the PG would resume the moment it pauses.
    #[error("{field}: XON threshold {xon} must be below the XOFF threshold {xoff}")]
    XonNotBelowXoff {
        /// Path of the field.
        field: String,
        /// The XON threshold given.
        xon: u64,
        /// The XOFF threshold given.
        xoff: u64,
    },
    /// Headroom smaller than one frame cannot absorb even the frame already on the wire.
    #[error("{field}: headroom {headroom} B is below one MTU ({mtu} B)")]
    HeadroomBelowMtu {
        /// Path of the field.
        field: String,
        /// The headroom given.
        headroom: u64,
        /// The port's MTU.
        mtu: u32,
    },
    /// A number outside what the field allows.
    #[error("{field}: {value} is out of range (allowed: {allowed})")]
    OutOfRange {
        /// Path of the field.
        field: String,
        /// The value given.
        value: i64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// ETS weights of a port must add up to 100 percent.
    #[error("{field}: ETS weights add up to {sum}, not 100")]
    EtsWeightsNot100 {
        /// Path of the field.
        field: String,
        /// Their sum.
        sum: u32,
    },
    /// The same port appears twice.
    #[error("{field}: port {port} is already configured as ports[{first}]")]
    DuplicatePort {
        /// Path of the field.
        field: String,
        /// The port.
        port: PortId,
        /// Index of its first appearance.
        first: usize,
    },
    /// PFC is enabled for a priority whose PG has no lossless thresholds.
    #[error("{field}: PFC is enabled for priority {priority} but its PG {pg} is lossy (no XOFF/XON/headroom)")]
    PfcPriorityInLossyPg {
        /// Path of the field.
        field: String,
        /// The priority.
        priority: u8,
        /// Its PG.
        pg: u8,
    },
    /// A field that cannot change once the engine runs.
    #[error("{field}: cannot be changed ({what})")]
    Immutable {
        /// Path of the field.
        field: String,
        /// Why.
        what: &'static str,
    },
    /// A port index or id the engine does not have.
    #[error("{field}: no such port {port}")]
    UnknownPort {
        /// Path of the field.
        field: String,
        /// The port named.
        port: String,
    },
}
