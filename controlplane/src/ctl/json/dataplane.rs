//! The views of the serving unit's dataplane (`show pfc counters`, `show queue counters`,
//! `show interfaces`, `show mac address-table`), from the `stackd.dataplane.v1` messages the
//! management service passes on.

use std::collections::BTreeMap;

use proto::dataplane::v1 as dp;
use serde::Serialize;

use super::nonzero;
use crate::ctl::format::{Mac, Port};

/// `show pfc counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PfcCounters {
    /// Every port of the serving unit.
    pub ports: Vec<PfcPort>,
}

/// PFC counters of one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PfcPort {
    /// The port.
    pub port: Option<Port>,
    /// 802.3x PAUSE frames received.
    pub pause_rx: u64,
    /// 802.3x PAUSE frames sent.
    pub pause_tx: u64,
    /// Per priority 0..=7.
    pub priorities: Vec<PfcPriority>,
}

/// PFC counters of one priority of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PfcPriority {
    /// 0..=7.
    pub priority: u32,
    /// PFC frames received pausing this priority.
    pub rx_frames: u64,
    /// PFC frames sent pausing this priority.
    pub tx_frames: u64,
    /// Nanoseconds this priority was paused.
    pub paused_ns: u64,
}

impl From<dp::CountersResponse> for PfcCounters {
    fn from(r: dp::CountersResponse) -> Self {
        let ports = r
            .ports
            .into_iter()
            .map(|c| {
                let n = c
                    .pfc_rx
                    .len()
                    .max(c.pfc_tx.len())
                    .max(c.pfc_paused_ns.len());
                let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
                PfcPort {
                    port: c.port.as_ref().map(Port::from),
                    pause_rx: c.pause_rx,
                    pause_tx: c.pause_tx,
                    priorities: (0..n)
                        .map(|i| PfcPriority {
                            priority: i as u32,
                            rx_frames: at(&c.pfc_rx, i),
                            tx_frames: at(&c.pfc_tx, i),
                            paused_ns: at(&c.pfc_paused_ns, i),
                        })
                        .collect(),
                }
            })
            .collect();
        PfcCounters { ports }
    }
}

/// `show queue counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueCounters {
    /// Every port of the serving unit.
    pub ports: Vec<QueuePort>,
}

/// The egress queues of one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuePort {
    /// The port.
    pub port: Option<Port>,
    /// Per traffic class 0..=7.
    pub queues: Vec<Queue>,
}

/// One egress queue (traffic class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Queue {
    /// The traffic class, 0..=7.
    pub queue: u32,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames dropped (no buffer).
    pub dropped_frames: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// Frames discarded (e.g. by the PFC storm guard).
    pub discarded_frames: u64,
    /// Bytes queued now.
    pub depth_bytes: u64,
    /// The most bytes ever queued.
    pub watermark_bytes: u64,
    /// PFC storms detected.
    pub storms: u64,
    /// A PFC storm is going on.
    pub stormed: bool,
}

impl From<dp::CountersResponse> for QueueCounters {
    fn from(r: dp::CountersResponse) -> Self {
        let ports = r
            .ports
            .into_iter()
            .map(|c| QueuePort {
                port: c.port.as_ref().map(Port::from),
                queues: c
                    .queues
                    .iter()
                    .enumerate()
                    .map(|(i, q)| Queue {
                        queue: i as u32,
                        tx_frames: q.tx_frames,
                        tx_bytes: q.tx_bytes,
                        dropped_frames: q.dropped_frames,
                        dropped_bytes: q.dropped_bytes,
                        discarded_frames: q.discarded_frames,
                        depth_bytes: q.depth_bytes,
                        watermark_bytes: q.watermark_bytes,
                        storms: q.storms,
                        stormed: q.stormed,
                    })
                    .collect(),
            })
            .collect();
        QueueCounters { ports }
    }
}

/// `show interfaces`: the serving unit's ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interfaces {
    /// The serving unit's number (`null`: none yet).
    pub unit: Option<u32>,
    /// Its control plane is attached to its dataplane.
    pub control_attached: bool,
    /// Every port, front panel and stack.
    pub interfaces: Vec<Interface>,
}

/// One port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// The port.
    pub port: Option<Port>,
    /// The link is up.
    pub oper_up: bool,
    /// Held down by the control plane (e.g. a split stack's minority).
    pub held_down: bool,
    /// Bits per second.
    pub speed_bps: u64,
    /// Bytes.
    pub mtu: u32,
    /// The VLAN mode (`null`: not set).
    pub vlan: Option<Vlan>,
    /// `none`, `pause` or `pfc`.
    pub flow_control: FlowControl,
    /// With `pfc`: the priorities PFC is on for.
    pub pfc_priorities: Vec<u32>,
    /// The port's counters (`null`: the dataplane reported none).
    pub counters: Option<InterfaceCounters>,
}

/// A port's VLAN mode: `{"mode": "access", "vid": 10}` or
/// `{"mode": "trunk", "native_vid": 1, "allowed": [10, 20]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Vlan {
    /// Untagged, in one VLAN.
    Access {
        /// The VLAN.
        vid: u32,
    },
    /// Tagged.
    Trunk {
        /// The VLAN of untagged frames (`null`: dropped).
        native_vid: Option<u32>,
        /// The VLANs carried.
        allowed: Vec<u32>,
    },
}

/// Link-level flow control of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    /// None.
    None,
    /// 802.3x PAUSE.
    Pause,
    /// 802.1Qbb priority flow control.
    Pfc,
    /// A value this stackctl does not know.
    Unknown,
}

/// Frame counters of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceCounters {
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames received that could not be parsed.
    pub rx_malformed: u64,
    /// Discards by reason (e.g. `rx_vlan_discards`).
    pub discards: BTreeMap<String, u64>,
    /// The sum of `discards`.
    pub discards_total: u64,
}

impl Interfaces {
    /// Joins the dataplane's ports with its counters (matched by port).
    pub fn new(state: dp::ReadResponse, counters: dp::CountersResponse) -> Self {
        let mut by_port: BTreeMap<Option<Port>, dp::PortCounters> = counters
            .ports
            .into_iter()
            .map(|c| (c.port.as_ref().map(Port::from), c))
            .collect();
        let interfaces = state
            .ports
            .into_iter()
            .map(|p| {
                let settings = p.settings.unwrap_or_default();
                let port = settings.port.as_ref().map(Port::from);
                let flow_control = match dp::FlowControl::try_from(settings.flow_control) {
                    Ok(dp::FlowControl::None) => FlowControl::None,
                    Ok(dp::FlowControl::Pause) => FlowControl::Pause,
                    Ok(dp::FlowControl::Pfc) => FlowControl::Pfc,
                    Err(_) => FlowControl::Unknown,
                };
                let pfc_priorities = if flow_control == FlowControl::Pfc {
                    (0..8)
                        .filter(|b| settings.pfc_enabled & (1 << b) != 0)
                        .collect()
                } else {
                    Vec::new()
                };
                let vlan = settings.vlan_mode.map(|m| match m {
                    dp::port_settings::VlanMode::Access(a) => Vlan::Access { vid: a.vid },
                    dp::port_settings::VlanMode::Trunk(t) => Vlan::Trunk {
                        native_vid: nonzero(t.native_vid),
                        allowed: t.allowed,
                    },
                });
                let counters = by_port.remove(&port).map(|c| {
                    let discards = c.discards;
                    InterfaceCounters {
                        rx_frames: c.rx_frames,
                        rx_bytes: c.rx_bytes,
                        tx_frames: c.tx_frames,
                        tx_bytes: c.tx_bytes,
                        rx_malformed: c.rx_malformed,
                        discards_total: discards.values().fold(0u64, |a, v| a.saturating_add(*v)),
                        discards,
                    }
                });
                Interface {
                    port,
                    oper_up: p.oper_up,
                    held_down: p.held_down,
                    speed_bps: p.speed_bps,
                    mtu: settings.mtu,
                    vlan,
                    flow_control,
                    pfc_priorities,
                    counters,
                }
            })
            .collect();
        Interfaces {
            unit: nonzero(state.unit),
            control_attached: state.control_attached,
            interfaces,
        }
    }
}

/// `show mac address-table`: the serving unit's MAC table, by VLAN then MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacTable {
    /// The serving unit's number (`null`: none yet).
    pub unit: Option<u32>,
    /// The entries.
    pub entries: Vec<MacEntry>,
}

/// One MAC table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacEntry {
    /// The VLAN.
    pub vlan: u32,
    /// The station's address.
    pub mac: Mac,
    /// `static` (programmed) or `dynamic` (learned).
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Where frames to it go.
    pub destination: Destination,
    /// Milliseconds since last seen (dynamic) or programmed (static).
    pub age_ms: u64,
    /// Marked stale after a control-plane restart, not yet refreshed.
    pub stale: bool,
}

/// How a MAC table entry got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// Programmed by the control plane.
    Static,
    /// Learned.
    Dynamic,
}

/// Where frames to a station go: `{"kind": "local", "slot": 0, "port": 1}` (a port of the
/// serving unit), `{"kind": "remote", "unit": 2, "port": 5}` (a front port of another unit) or
/// `{"kind": "none"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    /// A port of the serving unit.
    Local {
        /// 0 front panel, 1 stack.
        slot: u32,
        /// The port.
        port: u32,
    },
    /// A front-panel port of another unit.
    Remote {
        /// The unit.
        unit: u32,
        /// Its front-panel port.
        port: u32,
    },
    /// The dataplane gave none.
    None,
}

impl From<dp::ReadResponse> for MacTable {
    fn from(r: dp::ReadResponse) -> Self {
        use dp::fdb_destination::Dest;
        let mut entries: Vec<MacEntry> = r
            .fdb
            .into_iter()
            .map(|e| MacEntry {
                vlan: e.vid,
                mac: Mac(e.mac),
                kind: if e.is_static {
                    EntryType::Static
                } else {
                    EntryType::Dynamic
                },
                destination: match e.dest.and_then(|d| d.dest) {
                    Some(Dest::Local(p)) => Destination::Local {
                        slot: p.slot,
                        port: p.port,
                    },
                    Some(Dest::Remote(r)) => Destination::Remote {
                        unit: r.unit,
                        port: r.port,
                    },
                    None => Destination::None,
                },
                age_ms: e.age_ms,
                stale: e.stale,
            })
            .collect();
        entries.sort_by_key(|e| (e.vlan, e.mac));
        MacTable {
            unit: nonzero(r.unit),
            entries,
        }
    }
}
