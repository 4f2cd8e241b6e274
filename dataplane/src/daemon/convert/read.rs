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
    let in_mask = |mask: u64| {
        ports(engine)
            .filter(move |p| mask & 1u64.checked_shl(u32::from(p.0)).unwrap_or(0) != 0)
            .map(|p| port_ref(engine, p))
            .collect::<Vec<_>>()
    };
    let flood = stack.flood_ports();
    let flood_tree =
        (flood != 0 || programmer.is_programmed(&Entity::FloodTree)).then(|| pb::FloodTree {
            ports: in_mask(flood),
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
        flood_adopted: in_mask(stack.adopted_flood_ports()),
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
                ("flood_off_tree_discards", c.flood_off_tree_discards),
                ("stack_control_dropped", c.stack_control_dropped),
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

#[cfg(test)]
mod tests {
    use super::super::tests::{engine, set};
    use super::super::updates_from_proto;
    use super::*;
    use bytes::Bytes;
    use core::time::Duration;
    use pb::update::Entity as E;
    use pnet_base::MacAddr;

    fn stack(port: u32) -> Option<pb::PortRef> {
        Some(pb::PortRef { slot: 1, port })
    }

    #[test]
    fn every_event_kind_converts() {
        use pb::event::Kind;
        use pb::mac_event::Kind as Mac;
        let e = engine();
        let mac = MacAddr(2, 0, 0, 0, 0, 0xaa);
        let here = FdbDestination::Local(PortIndex(1));
        let there = FdbDestination::Remote { unit: 3, port: 7 };
        let mac_of = |event| match event_to_proto(&e, &event).kind {
            Some(Kind::Mac(m)) => (Mac::try_from(m.kind), m.vid, m.mac, m.dest),
            other => panic!("not a MAC event: {other:?}"),
        };
        let local = Some(pb::FdbDestination {
            dest: Some(pb::fdb_destination::Dest::Local(pb::PortRef {
                slot: 0,
                port: 2,
            })),
        });
        let remote = Some(pb::FdbDestination {
            dest: Some(pb::fdb_destination::Dest::Remote(pb::RemotePort {
                unit: 3,
                port: 7,
            })),
        });
        let (vid, m) = (10, 0x0200_0000_00aa);
        let learned = Event::Learned {
            vid,
            mac,
            dest: here,
        };
        assert_eq!(mac_of(learned), (Ok(Mac::Learned), 10, m, local));
        let moved = Event::Moved {
            vid,
            mac,
            from: here,
            to: there,
        };
        assert_eq!(mac_of(moved), (Ok(Mac::Moved), 10, m, remote));
        let aged = Event::Aged {
            vid,
            mac,
            dest: here,
        };
        assert_eq!(mac_of(aged), (Ok(Mac::Aged), 10, m, local));
        assert_eq!(
            mac_of(Event::FdbFull { vid, mac }),
            (Ok(Mac::TableFull), 10, m, None)
        );

        let s2 = stack(2);
        let cases = [
            (
                Event::LosslessDrop {
                    port: PortIndex(3),
                    pg: 3,
                },
                Kind::LosslessDrop(pb::LosslessDropEvent { port: s2, pg: 3 }),
            ),
            (
                Event::PfcStormDetected {
                    port: PortIndex(3),
                    tc: 4,
                },
                Kind::PfcStorm(pb::PfcStormEvent {
                    port: s2,
                    tc: 4,
                    detected: true,
                }),
            ),
            (
                Event::PfcStormRestored {
                    port: PortIndex(3),
                    tc: 4,
                },
                Kind::PfcStorm(pb::PfcStormEvent {
                    port: s2,
                    tc: 4,
                    detected: false,
                }),
            ),
            (
                Event::PortState {
                    port: PortIndex(3),
                    up: true,
                    neighbor_unit: 2,
                },
                Kind::Link(pb::LinkEvent {
                    port: s2,
                    up: true,
                    neighbor_unit: 2,
                }),
            ),
            (
                Event::NeighborControl {
                    port: PortIndex(3),
                    neighbor_unit: 2,
                    attached: true,
                },
                Kind::NeighborControl(pb::NeighborControlEvent {
                    port: s2,
                    neighbor_unit: 2,
                    attached: true,
                }),
            ),
        ];
        for (event, want) in cases {
            assert_eq!(event_to_proto(&e, &event).kind, Some(want));
        }
        let p = PacketIn {
            port: PortIndex(2),
            frame: Bytes::from_static(b"hello"),
        };
        assert_eq!(
            packet_in_to_proto(&e, &p),
            pb::PacketIn {
                port: stack(1),
                frame: b"hello".to_vec()
            }
        );
    }

    /// A broadcast frame from 02:00:00:00:00:bb.
    fn frame_from_bb() -> Bytes {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 0xbb, 0x08, 0x00]);
        f.resize(60, 0);
        Bytes::from(f)
    }

    #[test]
    fn reads_report_what_was_programmed_and_its_stale_flags() {
        let mut e = engine();
        let mut programmer = Programmer::new();
        let batch = [
            set(E::Port(port_settings(&e, PortIndex(0)))),
            set(E::StackRoute(pb::StackRoute {
                unit: 2,
                primary: stack(1),
                backup: stack(2),
            })),
            set(E::FloodTree(pb::FloodTree {
                ports: vec![pb::PortRef { slot: 1, port: 2 }],
            })),
            set(E::Fdb(pb::StaticFdbEntry {
                vid: 5,
                mac: 0x0200_0000_00aa,
                dest: Some(pb::FdbDestination {
                    dest: Some(pb::fdb_destination::Dest::Remote(pb::RemotePort {
                        unit: 2,
                        port: 4,
                    })),
                }),
            })),
        ];
        let updates = updates_from_proto(&e, &batch).expect("converts");
        assert_eq!(programmer.write(&mut e, &updates), Ok(4));
        let t = |ms| Instant::ZERO + Duration::from_millis(ms);
        e.handle_frame(t(1), PortIndex(0), frame_from_bb());

        let r = read_response(&e, &programmer, t(6), false, 7, true);
        assert_eq!((r.unit, r.generation, r.control_attached), (1, 7, true));
        assert_eq!(r.ports.len(), 4);
        let flags = |r: &pb::ReadResponse| -> Vec<_> {
            r.ports.iter().map(|p| (p.programmed, p.stale)).collect()
        };
        assert_eq!(flags(&r)[..2], [(true, false), (false, false)]);
        assert!(r.ports.iter().all(|p| p.oper_up && !p.held_down));
        assert_eq!(r.ports[2].settings, Some(port_settings(&e, PortIndex(2))));
        assert_eq!(r.ports[2].speed_bps, super::super::tests::G10);
        let route = |r: &pb::ReadResponse| r.stack_routes.first().cloned().expect("a route");
        assert_eq!(
            route(&r),
            pb::ProgrammedStackRoute {
                route: Some(pb::StackRoute {
                    unit: 2,
                    primary: stack(1),
                    backup: stack(2)
                }),
                stale: false,
                active: stack(1),
            }
        );
        assert_eq!(r.stack_routes.len(), 1);
        assert_eq!(
            r.flood_tree,
            Some(pb::FloodTree {
                ports: vec![pb::PortRef { slot: 1, port: 2 }]
            })
        );
        assert!(!r.flood_tree_stale);
        assert_eq!(
            r.fdb.len(),
            1,
            "learned entries only when asked: {:?}",
            r.fdb
        );
        let fdb = &r.fdb[0];
        assert_eq!(
            (fdb.vid, fdb.mac, fdb.is_static, fdb.stale),
            (5, 0x0200_0000_00aa, true, false)
        );
        assert_eq!(r.buffer.map(|b| b.shared_pool_bytes), Some(12 << 20));

        let r = read_response(&e, &programmer, t(6), true, 7, true);
        assert_eq!(r.fdb.len(), 2);
        let learned = &r.fdb[0];
        assert_eq!(
            (learned.vid, learned.mac, learned.is_static),
            (1, 0x0200_0000_00bb, false)
        );
        assert_eq!(learned.age_ms, 5);
        assert_eq!(
            learned.dest,
            Some(pb::FdbDestination {
                dest: Some(pb::fdb_destination::Dest::Local(pb::PortRef {
                    slot: 0,
                    port: 1
                }))
            })
        );

        // The primary goes down: the backup is in use.
        e.set_port_up(t(7), PortIndex(2), false).expect("port 2");
        assert_eq!(
            route(&read_response(&e, &programmer, t(7), false, 7, true)).active,
            stack(2)
        );

        // A new control plane attaches: everything programmed is stale until re-written.
        programmer.begin_reconcile(t(8), Duration::from_secs(10));
        let r = read_response(&e, &programmer, t(8), true, 8, true);
        assert!(route(&r).stale && r.flood_tree_stale);
        assert_eq!(
            r.fdb.iter().map(|f| f.stale).collect::<Vec<_>>(),
            [false, true]
        );
        assert_eq!(flags(&r)[..2], [(true, true), (false, false)]);
    }

    #[test]
    fn ports_adopted_into_the_flood_tree_read_back_apart_from_it() {
        use crate::wire::{StackFrameKind, StackHeaderRepr, VlanTag};
        let mut e = engine();
        let mut programmer = Programmer::new();
        let tree = [set(E::FloodTree(pb::FloodTree {
            ports: vec![stack(2).unwrap()],
        }))];
        let updates = updates_from_proto(&e, &tree).expect("converts");
        assert_eq!(programmer.write(&mut e, &updates), Ok(1));
        // No control plane attached, and the neighbour on 1/1/1 floods: its tree has the link.
        let flood = StackHeaderRepr {
            kind: StackFrameKind::Data,
            flood: true,
            src_unit: 2,
            src_port: 1,
            dst_unit: 0,
            dst_port: 0,
            priority: 0,
            hop_limit: 8,
            vlan: VlanTag {
                pcp: 0,
                dei: false,
                vid: 1,
            },
        };
        let mut f = Vec::new();
        flood.encapsulate(&frame_from_bb(), &mut f).unwrap();
        e.handle_frame(Instant::ZERO, PortIndex(2), Bytes::from(f));
        let r = read_response(&e, &programmer, Instant::ZERO, false, 0, false);
        assert_eq!(r.flood_tree.map(|t| t.ports), Some(vec![stack(2).unwrap()]));
        assert_eq!(r.flood_adopted, vec![stack(1).unwrap()]);
        // The tree written again: the adoption ends.
        assert_eq!(programmer.write(&mut e, &updates), Ok(1));
        let r = read_response(&e, &programmer, Instant::ZERO, false, 0, false);
        assert!(r.flood_adopted.is_empty());
    }

    #[test]
    fn an_empty_engine_reads_with_no_flood_tree() {
        let r = read_response(&engine(), &Programmer::new(), Instant::ZERO, true, 0, false);
        assert_eq!(r.flood_tree, None);
        assert!(r.stack_routes.is_empty() && r.fdb.is_empty());
    }

    #[test]
    fn counters_have_one_entry_per_port_with_eight_queues_and_pgs() {
        let mut e = engine();
        e.handle_frame(Instant::ZERO, PortIndex(0), frame_from_bb());
        let c = counters_response(&e);
        assert_eq!(c.ports.len(), e.num_ports());
        for (i, p) in c.ports.iter().enumerate() {
            assert_eq!(
                p.port,
                Some(super::super::port_ref(&e, PortIndex(i as u16)))
            );
            assert_eq!((p.queues.len(), p.pgs.len()), (8, 8));
            assert_eq!(
                (p.pfc_rx.len(), p.pfc_tx.len(), p.pfc_paused_ns.len()),
                (8, 8, 8)
            );
            assert_eq!(p.discards.len(), 13);
            assert_eq!(p.hello, None, "hellos are off");
        }
        assert_eq!((c.ports[0].rx_frames, c.ports[0].rx_bytes), (1, 60));
        assert_eq!(c.ports[0].discards.get("rx_vlan_discards"), Some(&0));
        assert_eq!(c.ports[0].discards.get("rx_link_local_discards"), Some(&0));
    }
}
