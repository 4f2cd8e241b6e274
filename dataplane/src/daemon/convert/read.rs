//! Replies: the engine's state, events and counters as `pb` messages.

use proto::dataplane::v1 as pb;

use super::{fdb_dest_to_proto, port_ref, ports};
use crate::config::{FlowControl, PgProfile, SharedLimit, TcSchedule, VlanMode};
use crate::engine::{Engine, Event, PacketIn};
use crate::fdb::FdbDestination;
use crate::port::PortIndex;
use crate::programming::{Entity, Programmer};
use crate::time::Instant;
use crate::wire::mac_to_u64;

/// The reverse of the port part of [`super::updates_from_proto`], for reads: a port's settings
/// as `PortSettings` (an index the engine does not have gives empty settings).
pub fn port_settings(engine: &Engine, port: PortIndex) -> pb::PortSettings {
    use pb::port_settings::VlanMode as V;
    let Some(c) = engine.port_config(port) else {
        return pb::PortSettings::default();
    };
    let widen = |m: &[u8]| m.iter().map(|v| u32::from(*v)).collect();
    let (flow_control, pfc_enabled) = match c.flow_control {
        FlowControl::None => (pb::FlowControl::None, 0),
        FlowControl::Pause => (pb::FlowControl::Pause, 0),
        FlowControl::Pfc { enabled } => (pb::FlowControl::Pfc, u32::from(enabled)),
    };
    pb::PortSettings {
        port: Some(port_ref(engine, port)),
        mtu: c.mtu,
        vlan_mode: Some(match &c.vlan {
            VlanMode::Access { vid } => V::Access(pb::AccessVlan {
                vid: u32::from(*vid),
            }),
            VlanMode::Trunk { native, allowed } => V::Trunk(pb::TrunkVlans {
                native_vid: native.map_or(0, u32::from),
                allowed: allowed.iter().map(|v| u32::from(*v)).collect(),
            }),
        }),
        default_priority: u32::from(c.default_priority),
        pcp_to_priority: widen(&c.pcp_to_priority),
        priority_to_tc: widen(&c.priority_to_tc),
        priority_to_pg: widen(&c.priority_to_pg),
        tc_ets_weight: c
            .schedule
            .iter()
            .map(|s| match s {
                TcSchedule::Strict => 0,
                TcSchedule::Ets { weight } => u32::from(*weight),
            })
            .collect(),
        flow_control: flow_control as i32,
        pfc_enabled,
        pgs: c.pgs.iter().map(pg_to_proto).collect(),
    }
}

fn pg_to_proto(p: &PgProfile) -> pb::PgProfile {
    use pb::pg_profile::SharedLimit as L;
    pb::PgProfile {
        reserved_bytes: p.reserved,
        shared_limit: Some(match p.shared_limit {
            SharedLimit::Static(b) => L::StaticBytes(b),
            SharedLimit::Dynamic { log2_alpha } => L::DynamicLog2Alpha(i32::from(log2_alpha)),
        }),
        lossless: p.lossless.map(|t| pb::LosslessThresholds {
            xoff_bytes: t.xoff,
            xon_bytes: t.xon,
            headroom_bytes: t.headroom,
        }),
    }
}

/// An engine event for the session stream. A station move reports where the station is now
/// (the `.proto` has no field for where it was).
pub fn event_to_proto(engine: &Engine, event: &Event) -> pb::Event {
    use pb::event::Kind;
    use pb::mac_event::Kind as Mac;
    let mac_event = |kind: Mac, vid: u16, mac, dest: Option<FdbDestination>| {
        Kind::Mac(pb::MacEvent {
            kind: kind as i32,
            vid: u32::from(vid),
            mac: mac_to_u64(mac),
            dest: dest.map(|d| fdb_dest_to_proto(engine, d)),
        })
    };
    let storm = |port, tc: u8, detected| {
        Kind::PfcStorm(pb::PfcStormEvent {
            port: Some(port_ref(engine, port)),
            tc: u32::from(tc),
            detected,
        })
    };
    let kind = match *event {
        Event::Learned { vid, mac, dest } => mac_event(Mac::Learned, vid, mac, Some(dest)),
        Event::Moved { vid, mac, to, .. } => mac_event(Mac::Moved, vid, mac, Some(to)),
        Event::Aged { vid, mac, dest } => mac_event(Mac::Aged, vid, mac, Some(dest)),
        Event::FdbFull { vid, mac } => mac_event(Mac::TableFull, vid, mac, None),
        Event::LosslessDrop { port, pg } => Kind::LosslessDrop(pb::LosslessDropEvent {
            port: Some(port_ref(engine, port)),
            pg: u32::from(pg),
        }),
        Event::PfcStormDetected { port, tc } => storm(port, tc, true),
        Event::PfcStormRestored { port, tc } => storm(port, tc, false),
        Event::PortState {
            port,
            up,
            neighbor_unit,
        } => Kind::Link(pb::LinkEvent {
            port: Some(port_ref(engine, port)),
            up,
            neighbor_unit: u32::from(neighbor_unit),
        }),
        Event::NeighborControl {
            port,
            neighbor_unit,
            attached,
        } => Kind::NeighborControl(pb::NeighborControlEvent {
            port: Some(port_ref(engine, port)),
            neighbor_unit: u32::from(neighbor_unit),
            attached,
        }),
    };
    pb::Event { kind: Some(kind) }
}

/// A stack control frame for the session stream.
pub fn packet_in_to_proto(engine: &Engine, p: &PacketIn) -> pb::PacketIn {
    pb::PacketIn {
        port: Some(port_ref(engine, p.port)),
        frame: p.frame.to_vec(),
    }
}

/// Everything programmed and learned (learned FDB entries only when asked), with stale flags
/// from the Programmer, `age_ms` from `now - last_seen`. Ports come in index order, stack routes
/// by unit, FDB entries by VLAN then MAC. `flood_tree` is absent when it was never programmed
/// and is empty. A port's `programmed`/`stale` are those of its settings (not of its hold).
pub fn read_response(
    engine: &Engine,
    programmer: &Programmer,
    now: Instant,
    include_learned: bool,
    generation: u64,
    control_attached: bool,
) -> pb::ReadResponse {
    let ports_up = ports(engine)
        .filter(|p| engine.port_up(*p))
        .fold(0u64, |m, p| {
            m | 1u64.checked_shl(u32::from(p.0)).unwrap_or(0)
        });
    let port_states = ports(engine)
        .map(|p| {
            let peer = engine.hello_peer(p);
            pb::PortState {
                settings: Some(port_settings(engine, p)),
                speed_bps: engine.port_config(p).map_or(0, |c| c.speed_bps),
                oper_up: engine.port_up(p),
                held_down: engine.port_held(p),
                programmed: programmer.is_programmed(&Entity::Port(p)),
                stale: programmer.is_stale(&Entity::Port(p)),
                neighbor_unit: peer.map_or(0, |h| u32::from(h.unit)),
                neighbor_control_attached: peer.is_some_and(|h| h.control_attached),
            }
        })
        .collect();
    let stack = engine.stack_table();
    let stack_routes = stack
        .routes()
        .map(|(unit, r)| pb::ProgrammedStackRoute {
            route: Some(pb::StackRoute {
                unit: u32::from(unit),
                primary: Some(port_ref(engine, r.primary)),
                backup: r.backup.map(|b| port_ref(engine, b)),
            }),
            stale: programmer.is_stale(&Entity::StackRoute(unit)),
            active: stack.next_hop(unit, ports_up).map(|p| port_ref(engine, p)),
        })
        .collect();
    let flood = stack.flood_ports();
    let flood_tree =
        (flood != 0 || programmer.is_programmed(&Entity::FloodTree)).then(|| pb::FloodTree {
            ports: ports(engine)
                .filter(|p| flood & 1u64.checked_shl(u32::from(p.0)).unwrap_or(0) != 0)
                .map(|p| port_ref(engine, p))
                .collect(),
        });
    let mut entries: Vec<_> = engine
        .fdb()
        .entries()
        .filter(|e| e.is_static || include_learned)
        .collect();
    entries.sort_by_key(|e| (e.vid, mac_to_u64(e.mac)));
    let fdb = entries
        .into_iter()
        .map(|e| {
            let mac = mac_to_u64(e.mac);
            pb::FdbEntry {
                vid: u32::from(e.vid),
                mac,
                dest: Some(fdb_dest_to_proto(engine, e.dest)),
                is_static: e.is_static,
                stale: e.is_static && programmer.is_stale(&Entity::Fdb(e.vid, mac)),
                age_ms: u64::try_from(now.saturating_since(e.last_seen).as_millis())
                    .unwrap_or(u64::MAX),
            }
        })
        .collect();
    let buffer = engine.config().buffer;
    pb::ReadResponse {
        unit: u32::from(engine.unit()),
        generation,
        control_attached,
        ports: port_states,
        stack_routes,
        flood_tree,
        flood_tree_stale: programmer.is_stale(&Entity::FloodTree),
        fdb,
        buffer: Some(pb::BufferPools {
            shared_pool_bytes: buffer.shared_pool,
            headroom_pool_bytes: buffer.headroom_pool,
        }),
    }
}

/// Counters of every port in index order: eight queues and eight PGs each, discards by the
/// name of their [`crate::counters::PortCounters`] field, hello counters on stack ports with
/// hellos on.
pub fn counters_response(engine: &Engine) -> pb::CountersResponse {
    let ports = ports(engine)
        .map(|p| {
            let c = engine.port_counters(p).unwrap_or_default();
            let discards = [
                ("rx_vlan_discards", c.rx_vlan_discards),
                ("rx_link_local_discards", c.rx_link_local_discards),
                ("rx_stack_on_front_discards", c.rx_stack_on_front_discards),
                (
                    "rx_non_stack_on_stack_discards",
                    c.rx_non_stack_on_stack_discards,
                ),
                ("rx_port_down_discards", c.rx_port_down_discards),
                ("rx_same_port_filtered", c.rx_same_port_filtered),
                ("no_route_discards", c.no_route_discards),
                ("hop_limit_discards", c.hop_limit_discards),
                ("stack_loop_discards", c.stack_loop_discards),
                ("tx_discards", c.tx_discards),
                ("flow_control_ignored", c.flow_control_ignored),
            ]
            .into_iter()
            .map(|(name, n)| (name.to_string(), n))
            .collect();
            pb::PortCounters {
                port: Some(port_ref(engine, p)),
                rx_frames: c.rx_frames,
                rx_bytes: c.rx_bytes,
                tx_frames: c.tx_frames,
                tx_bytes: c.tx_bytes,
                rx_malformed: c.rx_malformed,
                discards,
                pfc_rx: c.pfc_rx.to_vec(),
                pfc_tx: c.pfc_tx.to_vec(),
                pfc_paused_ns: c.pfc_paused_ns.to_vec(),
                pause_rx: c.pause_rx,
                pause_tx: c.pause_tx,
                queues: (0..crate::config::NUM_PRIORITIES)
                    .map(|tc| {
                        let q = engine.queue_counters(p, tc).unwrap_or_default();
                        pb::QueueCounters {
                            tx_frames: q.tx_frames,
                            tx_bytes: q.tx_bytes,
                            dropped_frames: q.dropped_frames,
                            dropped_bytes: q.dropped_bytes,
                            discarded_frames: q.discarded_frames,
                            depth_bytes: q.depth_bytes,
                            watermark_bytes: q.watermark_bytes,
                            storms: q.storms,
                            stormed: q.stormed,
                        }
                    })
                    .collect(),
                pgs: (0..crate::config::NUM_PRIORITIES)
                    .map(|pg| {
                        let g = engine.pg_counters(p, pg).unwrap_or_default();
                        pb::PgCounters {
                            shared_bytes: g.shared_bytes,
                            headroom_bytes: g.headroom_bytes,
                            shared_watermark: g.shared_watermark,
                            headroom_watermark: g.headroom_watermark,
                            tail_drop_frames: g.tail_drop_frames,
                            headroom_drop_frames: g.headroom_drop_frames,
                            xoff: g.xoff,
                            xoff_events: g.xoff_events,
                        }
                    })
                    .collect(),
                hello: engine.hello_counters(p).map(|h| pb::HelloCounters {
                    sent: h.sent,
                    received: h.received,
                    lost: h.lost,
                    link_downs: h.link_downs,
                }),
            }
        })
        .collect();
    pb::CountersResponse { ports }
}
