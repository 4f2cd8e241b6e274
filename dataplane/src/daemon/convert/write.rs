//! Write batches: `pb::Update`s to programming [`Update`]s, range-checked field by field.

use pnet_base::MacAddr;
use proto::dataplane::v1 as pb;

use super::{err, port_index, ConvertError, Field};
use crate::config::{
    BufferConfig, FlowControl, LosslessThresholds, PgProfile, PortConfig, SharedLimit, Slot,
    TcSchedule, VlanMode, NUM_PRIORITIES,
};
use crate::engine::Engine;
use crate::fdb::FdbDestination;
use crate::programming::Update;
use crate::stack::StackRoute;
use crate::wire::u64_to_mac;

/// A whole write batch → programming updates. Port settings are merged onto the port's existing
/// id, speed and MAC address (they come from the daemon's own config; `PortSettings` has neither).
/// Every field is range-checked here with a clear message when the proto type is wider than the
/// domain type (VIDs 1..=4094, priority maps of exactly 8 entries each ≤ 7, 8 ETS weights each
/// ≤ 100, exactly 8 PGs, `log2_alpha` in -7..=3, MACs of 48 bits, units and port numbers ≤ 255),
/// and so is the shape of each update: `OP_UNSPECIFIED`, a missing entity, DELETE of a port or of
/// the buffer pools, a SET of an FDB entry without destination are all refused.
///
/// A stack port's settings may leave `vlan_mode` out (stack ports carry every VLAN): it keeps
/// the one it has. `pfc_enabled` must be 0 unless `flow_control` is PFC. For DELETE, only the
/// key of an entity is read (`stack_route.unit`, `fdb.vid`/`mac`, `port_hold.port`).
///
/// Semantic checks the engine does (XON < XOFF, headroom ≥ MTU, ETS sum 100, stack port slots,
/// units other than this one...) are left to [`crate::programming::Programmer::write`], which
/// names fields the same way (`updates[i].port...`).
pub fn updates_from_proto(
    engine: &Engine,
    updates: &[pb::Update],
) -> Result<Vec<Update>, ConvertError> {
    updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let updates = Field::root("updates");
            update_from_proto(engine, u, &updates.index(i))
        })
        .collect()
}

fn update_from_proto(
    engine: &Engine,
    u: &pb::Update,
    at: &Field<'_>,
) -> Result<Update, ConvertError> {
    use pb::update::{Entity as E, Op};
    let delete = match Op::try_from(u.op) {
        Ok(Op::Set) => false,
        Ok(Op::Delete) => true,
        Ok(Op::Unspecified) => {
            return Err(err(at.name("op"), "OP_UNSPECIFIED: expected SET or DELETE"))
        }
        Err(_) => {
            return Err(err(
                at.name("op"),
                format!("{} is not an op: expected SET (1) or DELETE (2)", u.op),
            ))
        }
    };
    let Some(entity) = &u.entity else {
        return Err(err(
            at.name("entity"),
            "no entity set: expected one of port, stack_route, flood_tree, fdb, buffer, port_hold, unit_number",
        ));
    };
    let refuse_delete = |what: &str| {
        err(
            at.name("op"),
            format!("DELETE is refused for {what}: it cannot be removed, only SET"),
        )
    };
    Ok(match entity {
        E::Port(_) if delete => return Err(refuse_delete("port settings (a port)")),
        E::Port(s) => port_from_proto(engine, s, &at.name("port"))?,
        E::StackRoute(r) => {
            let at = at.name("stack_route");
            let unit = to_u8(r.unit, &at.name("unit"), "a unit number (1..=15)")?;
            if delete {
                Update::DeleteStackRoute(unit)
            } else {
                let primary = port_index(engine, r.primary.as_ref(), &at.name("primary"))?;
                let backup = match &r.backup {
                    Some(b) => Some(port_index(engine, Some(b), &at.name("backup"))?),
                    None => None,
                };
                Update::SetStackRoute(unit, StackRoute { primary, backup })
            }
        }
        E::FloodTree(_) if delete => Update::DeleteFloodTree,
        E::FloodTree(t) => Update::SetFloodTree(
            t.ports
                .iter()
                .enumerate()
                .map(|(k, p)| port_index(engine, Some(p), &at.name("flood_tree.ports").index(k)))
                .collect::<Result<_, _>>()?,
        ),
        E::Fdb(f) => {
            let at = at.name("fdb");
            let vid = vid(f.vid, &at.name("vid"))?;
            let mac = mac(f.mac, &at.name("mac"))?;
            if delete {
                Update::DeleteFdb(vid, mac)
            } else {
                let dest = fdb_dest(engine, f.dest.as_ref(), &at.name("dest"))?;
                Update::SetFdb(vid, mac, dest)
            }
        }
        E::Buffer(_) if delete => return Err(refuse_delete("the buffer pools")),
        E::Buffer(b) => Update::SetBuffer(BufferConfig {
            shared_pool: b.shared_pool_bytes,
            headroom_pool: b.headroom_pool_bytes,
        }),
        E::PortHold(h) => {
            let port = port_index(engine, h.port.as_ref(), &at.name("port_hold.port"))?;
            if delete {
                Update::DeleteHold(port)
            } else {
                Update::SetHold(port, h.hold_down)
            }
        }
        E::UnitNumber(_) if delete => return Err(refuse_delete("the unit number")),
        E::UnitNumber(n) => Update::SetUnit(to_u8(
            n.unit,
            &at.name("unit_number.unit"),
            "a unit number (1..=15)",
        )?),
    })
}

fn fdb_dest(
    engine: &Engine,
    dest: Option<&pb::FdbDestination>,
    at: &Field<'_>,
) -> Result<FdbDestination, ConvertError> {
    use pb::fdb_destination::Dest;
    match dest.and_then(|d| d.dest.as_ref()) {
        Some(Dest::Local(p)) => {
            port_index(engine, Some(p), &at.name("local")).map(FdbDestination::Local)
        }
        Some(Dest::Remote(r)) => Ok(FdbDestination::Remote {
            unit: to_u8(r.unit, &at.name("remote.unit"), "a unit number (1..=15)")?,
            port: to_u8(
                r.port,
                &at.name("remote.port"),
                "a front-panel port number (0..=255)",
            )?,
        }),
        None => Err(err(
            at,
            "required for SET: local {slot, port} or remote {unit, port}",
        )),
    }
}

/// A port's settings, merged onto its id, speed and MAC address.
fn port_from_proto(
    engine: &Engine,
    s: &pb::PortSettings,
    at: &Field<'_>,
) -> Result<Update, ConvertError> {
    use pb::port_settings::VlanMode as V;
    let index = port_index(engine, s.port.as_ref(), &at.name("port"))?;
    let Some(existing) = engine.port_config(index) else {
        return Err(err(at.name("port"), "no such port"));
    };
    let vlan = match &s.vlan_mode {
        Some(V::Access(a)) => VlanMode::Access {
            vid: vid(a.vid, &at.name("access.vid"))?,
        },
        Some(V::Trunk(t)) => VlanMode::Trunk {
            native: match t.native_vid {
                0 => None,
                v => Some(vid(v, &at.name("trunk.native_vid"))?),
            },
            allowed: t
                .allowed
                .iter()
                .enumerate()
                .map(|(k, v)| vid(*v, &at.name("trunk.allowed").index(k)))
                .collect::<Result<_, _>>()?,
        },
        None if existing.id.slot == Slot::Stack => existing.vlan.clone(),
        None => {
            return Err(err(
                at.name("vlan_mode"),
                "required for a front-panel port: access {vid} or trunk {native_vid, allowed}",
            ))
        }
    };
    let default_priority = small(
        s.default_priority,
        7,
        &at.name("default_priority"),
        "a priority (0..=7)",
    )?;
    let map = |v: &[u32], name: &str, what: &str| -> Result<[u8; NUM_PRIORITIES], ConvertError> {
        let field = at.name(name);
        let v = eight(v, &field, "one per priority")?;
        let mut out = [0; NUM_PRIORITIES];
        for (k, (o, x)) in out.iter_mut().zip(v).enumerate() {
            *o = small(*x, 7, &field.index(k), what)?;
        }
        Ok(out)
    };
    let pcp_to_priority = map(&s.pcp_to_priority, "pcp_to_priority", "a priority (0..=7)")?;
    let priority_to_tc = map(
        &s.priority_to_tc,
        "priority_to_tc",
        "a traffic class (0..=7)",
    )?;
    let priority_to_pg = map(
        &s.priority_to_pg,
        "priority_to_pg",
        "a priority group (0..=7)",
    )?;

    let field = at.name("tc_ets_weight");
    let weights = eight(&s.tc_ets_weight, &field, "one per traffic class")?;
    let mut schedule = [TcSchedule::Strict; NUM_PRIORITIES];
    for (k, (o, w)) in schedule.iter_mut().zip(weights).enumerate() {
        *o = match small(
            *w,
            100,
            &field.index(k),
            "0 (strict priority) or an ETS weight in percent (1..=100)",
        )? {
            0 => TcSchedule::Strict,
            weight => TcSchedule::Ets { weight },
        };
    }

    let pfc_field = at.name("pfc_enabled");
    let enabled = u8::try_from(s.pfc_enabled).map_err(|_| {
        err(
            pfc_field,
            format!(
                "{:#x} names priorities above 7: expected a bitmap of priorities 0..=7 (at most 0xff)",
                s.pfc_enabled
            ),
        )
    })?;
    let flow_control = match pb::FlowControl::try_from(s.flow_control) {
        Ok(pb::FlowControl::Pfc) => FlowControl::Pfc { enabled },
        Ok(_) if enabled != 0 => {
            return Err(err(
                pfc_field,
                format!("{enabled:#x}: must be 0 unless flow_control is FLOW_CONTROL_PFC"),
            ))
        }
        Ok(pb::FlowControl::None) => FlowControl::None,
        Ok(pb::FlowControl::Pause) => FlowControl::Pause,
        Err(_) => {
            return Err(err(
                at.name("flow_control"),
                format!(
                    "{} is not a flow control: expected FLOW_CONTROL_NONE (0), FLOW_CONTROL_PAUSE (1) or FLOW_CONTROL_PFC (2)",
                    s.flow_control
                ),
            ))
        }
    };

    let field = at.name("pgs");
    let profiles = eight(&s.pgs, &field, "one per priority group")?;
    let mut pgs = [PgProfile::lossy(); NUM_PRIORITIES];
    for (k, (o, p)) in pgs.iter_mut().zip(profiles).enumerate() {
        *o = pg_from_proto(p, &field.index(k))?;
    }

    Ok(Update::SetPort(
        index,
        Box::new(PortConfig {
            id: existing.id,
            speed_bps: existing.speed_bps,
            mac: existing.mac,
            mtu: s.mtu,
            vlan,
            default_priority,
            pcp_to_priority,
            priority_to_tc,
            priority_to_pg,
            schedule,
            flow_control,
            pgs,
        }),
    ))
}

fn pg_from_proto(p: &pb::PgProfile, at: &Field<'_>) -> Result<PgProfile, ConvertError> {
    use pb::pg_profile::SharedLimit as L;
    let shared_limit = match p.shared_limit {
        Some(L::StaticBytes(b)) => SharedLimit::Static(b),
        Some(L::DynamicLog2Alpha(a)) => SharedLimit::Dynamic {
            log2_alpha: i8::try_from(a)
                .ok()
                .filter(|a| (-7..=3).contains(a))
                .ok_or_else(|| {
                    err(
                        at.name("dynamic_log2_alpha"),
                        format!("{a} is out of range: expected log2 of alpha, -7..=3"),
                    )
                })?,
        },
        None => {
            return Err(err(
                at.name("shared_limit"),
                "required: static_bytes or dynamic_log2_alpha",
            ))
        }
    };
    Ok(PgProfile {
        reserved: p.reserved_bytes,
        shared_limit,
        lossless: p.lossless.map(|t| LosslessThresholds {
            xoff: t.xoff_bytes,
            xon: t.xon_bytes,
            headroom: t.headroom_bytes,
        }),
    })
}

/// Exactly eight entries.
fn eight<'a, T>(
    v: &'a [T],
    field: &Field<'_>,
    what: &str,
) -> Result<&'a [T; NUM_PRIORITIES], ConvertError> {
    <&[T; NUM_PRIORITIES]>::try_from(v).map_err(|_| {
        err(
            field,
            format!("{} entries: expected exactly 8, {what}", v.len()),
        )
    })
}

/// `v` as a `u8` of at most `max`.
fn small(v: u32, max: u8, field: &Field<'_>, what: &str) -> Result<u8, ConvertError> {
    u8::try_from(v)
        .ok()
        .filter(|x| *x <= max)
        .ok_or_else(|| err(field, format!("{v} is not {what}")))
}

fn to_u8(v: u32, field: &Field<'_>, what: &str) -> Result<u8, ConvertError> {
    u8::try_from(v).map_err(|_| err(field, format!("{v} is out of range: expected {what}")))
}

fn vid(v: u32, field: &Field<'_>) -> Result<u16, ConvertError> {
    u16::try_from(v)
        .ok()
        .filter(|v| (1..=4094).contains(v))
        .ok_or_else(|| err(field, format!("{v} is not a VLAN: expected 1..=4094")))
}

fn mac(v: u64, field: &Field<'_>) -> Result<MacAddr, ConvertError> {
    if v >> 48 != 0 {
        return Err(err(
            field,
            format!(
                "{v:#x} does not fit in 48 bits: expected the address big-endian in the low 48 bits (0x0200000000aa is 02:00:00:00:00:aa)"
            ),
        ));
    }
    Ok(u64_to_mac(v))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{engine, set};
    use super::super::{port_settings, ConvertError};
    use super::*;
    use crate::port::PortIndex;
    use crate::programming::{Programmer, WriteError};
    use pb::update::{Entity as E, Op};
    use proptest::prelude::*;

    fn front(port: u32) -> Option<pb::PortRef> {
        Some(pb::PortRef { slot: 0, port })
    }

    fn fdb(vid: u32, mac: u64, dest: Option<pb::FdbDestination>) -> E {
        E::Fdb(pb::StaticFdbEntry { vid, mac, dest })
    }

    fn local(port: Option<pb::PortRef>) -> Option<pb::FdbDestination> {
        port.map(|p| pb::FdbDestination {
            dest: Some(pb::fdb_destination::Dest::Local(p)),
        })
    }

    fn hold(port: Option<pb::PortRef>) -> E {
        E::PortHold(pb::PortHold {
            port,
            hold_down: true,
        })
    }

    fn port(change: impl FnOnce(&mut pb::PortSettings)) -> E {
        let mut s = port_settings(&engine(), PortIndex(0));
        change(&mut s);
        E::Port(s)
    }

    /// The field a one-update batch is refused at (after a good update, so the index shows).
    fn refused_at(update: pb::Update) -> String {
        let good = set(fdb(1, 0x0200_0000_00aa, local(front(1))));
        match updates_from_proto(&engine(), &[good, update]) {
            Ok(u) => panic!("accepted: {u:?}"),
            Err(ConvertError { field, message }) => {
                assert!(!message.is_empty());
                field
            }
        }
    }

    fn op(op: i32, entity: Option<E>) -> pb::Update {
        pb::Update { op, entity }
    }

    #[test]
    fn each_refusal_names_its_field() {
        let del = Op::Delete as i32;
        let cases: Vec<(pb::Update, &str)> = vec![
            (set(fdb(4095, 1, local(front(1)))), "updates[1].fdb.vid"),
            (
                set(fdb(1 << 16 | 1, 1, local(front(1)))),
                "updates[1].fdb.vid",
            ),
            (op(del, Some(fdb(0, 1, None))), "updates[1].fdb.vid"),
            (set(fdb(1, 1 << 48, local(front(1)))), "updates[1].fdb.mac"),
            (set(fdb(1, 1, None)), "updates[1].fdb.dest"),
            (
                set(fdb(1, 1, Some(pb::FdbDestination { dest: None }))),
                "updates[1].fdb.dest",
            ),
            (set(fdb(1, 1, local(front(9)))), "updates[1].fdb.dest.local"),
            (
                set(fdb(
                    1,
                    1,
                    Some(pb::FdbDestination {
                        dest: Some(pb::fdb_destination::Dest::Remote(pb::RemotePort {
                            unit: 300,
                            port: 1,
                        })),
                    }),
                )),
                "updates[1].fdb.dest.remote.unit",
            ),
            (op(0, Some(hold(front(1)))), "updates[1].op"),
            (op(7, Some(hold(front(1)))), "updates[1].op"),
            (op(Op::Set as i32, None), "updates[1].entity"),
            (op(del, Some(port(|_| ()))), "updates[1].op"),
            (
                op(del, Some(E::Buffer(pb::BufferPools::default()))),
                "updates[1].op",
            ),
            (set(hold(None)), "updates[1].port_hold.port"),
            (
                set(hold(Some(pb::PortRef { slot: 2, port: 1 }))),
                "updates[1].port_hold.port.slot",
            ),
            (set(hold(front(9))), "updates[1].port_hold.port"),
            (set(hold(front(256))), "updates[1].port_hold.port.port"),
            (
                set(E::StackRoute(pb::StackRoute {
                    unit: 256,
                    primary: Some(pb::PortRef { slot: 1, port: 1 }),
                    backup: None,
                })),
                "updates[1].stack_route.unit",
            ),
            (
                set(E::StackRoute(pb::StackRoute {
                    unit: 2,
                    primary: None,
                    backup: None,
                })),
                "updates[1].stack_route.primary",
            ),
            (
                set(E::FloodTree(pb::FloodTree {
                    ports: vec![
                        pb::PortRef { slot: 1, port: 1 },
                        pb::PortRef { slot: 1, port: 7 },
                    ],
                })),
                "updates[1].flood_tree.ports[1]",
            ),
            (
                set(port(|s| {
                    s.vlan_mode = Some(pb::port_settings::VlanMode::Access(pb::AccessVlan {
                        vid: 5000,
                    }))
                })),
                "updates[1].port.access.vid",
            ),
            (
                set(port(|s| {
                    s.vlan_mode = Some(pb::port_settings::VlanMode::Trunk(pb::TrunkVlans {
                        native_vid: 1,
                        allowed: vec![2, 0],
                    }))
                })),
                "updates[1].port.trunk.allowed[1]",
            ),
            (
                set(port(|s| s.vlan_mode = None)),
                "updates[1].port.vlan_mode",
            ),
            (set(port(|s| s.port = front(9))), "updates[1].port.port"),
            (
                set(port(|s| s.pcp_to_priority.truncate(7))),
                "updates[1].port.pcp_to_priority",
            ),
            (
                set(port(|s| s.priority_to_tc[2] = 8)),
                "updates[1].port.priority_to_tc[2]",
            ),
            (
                set(port(|s| s.priority_to_pg.push(0))),
                "updates[1].port.priority_to_pg",
            ),
            (
                set(port(|s| s.default_priority = 8)),
                "updates[1].port.default_priority",
            ),
            (
                set(port(|s| s.tc_ets_weight[5] = 101)),
                "updates[1].port.tc_ets_weight[5]",
            ),
            (
                set(port(|s| s.flow_control = 3)),
                "updates[1].port.flow_control",
            ),
            (
                set(port(|s| {
                    s.flow_control = pb::FlowControl::Pfc as i32;
                    s.pfc_enabled = 0x100;
                })),
                "updates[1].port.pfc_enabled",
            ),
            (
                set(port(|s| s.pfc_enabled = 1)),
                "updates[1].port.pfc_enabled",
            ),
            (set(port(|s| s.pgs.truncate(7))), "updates[1].port.pgs"),
            (
                set(port(|s| {
                    s.pgs[2].shared_limit = Some(pb::pg_profile::SharedLimit::DynamicLog2Alpha(4))
                })),
                "updates[1].port.pgs[2].dynamic_log2_alpha",
            ),
            (
                set(port(|s| s.pgs[6].shared_limit = None)),
                "updates[1].port.pgs[6].shared_limit",
            ),
        ];
        for (update, field) in cases {
            assert_eq!(refused_at(update.clone()), field, "{update:?}");
        }
    }

    #[test]
    fn messages_say_what_is_expected() {
        let e = engine();
        let refusal = |u| updates_from_proto(&e, &[u]).map_err(|e| e.to_string());
        assert_eq!(
            refusal(set(fdb(4095, 1, local(front(1))))),
            Err("updates[0].fdb.vid: 4095 is not a VLAN: expected 1..=4094".into())
        );
        assert_eq!(
            refusal(set(port(|s| s.pcp_to_priority.truncate(7)))),
            Err(
                "updates[0].port.pcp_to_priority: 7 entries: expected exactly 8, one per priority"
                    .into()
            )
        );
        assert_eq!(
            refusal(op(0, Some(hold(front(1))))),
            Err("updates[0].op: OP_UNSPECIFIED: expected SET or DELETE".into())
        );
    }

    #[test]
    fn deletes_read_only_the_key() {
        let e = engine();
        let del = |entity| op(Op::Delete as i32, Some(entity));
        let got = updates_from_proto(
            &e,
            &[
                del(fdb(5, 0x0200_0000_00aa, None)),
                del(E::StackRoute(pb::StackRoute {
                    unit: 3,
                    primary: None,
                    backup: None,
                })),
                del(E::FloodTree(pb::FloodTree::default())),
                del(hold(Some(pb::PortRef { slot: 1, port: 2 }))),
            ],
        );
        assert_eq!(
            got,
            Ok(vec![
                Update::DeleteFdb(5, MacAddr(2, 0, 0, 0, 0, 0xaa)),
                Update::DeleteStackRoute(3),
                Update::DeleteFloodTree,
                Update::DeleteHold(PortIndex(3)),
            ])
        );
    }

    #[test]
    fn semantic_refusals_come_from_the_programmer_with_the_same_paths() {
        let mut e = engine();
        let bad = set(port(|s| {
            s.pgs[2].lossless = Some(pb::LosslessThresholds {
                xoff_bytes: 1000,
                xon_bytes: 2000,
                headroom_bytes: 9216,
            })
        }));
        let updates = updates_from_proto(&e, &[bad]).expect("in range");
        let refused = Programmer::new().write(&mut e, &updates);
        assert!(
            matches!(&refused, Err(WriteError::Invalid { field, .. }) if field == "updates[0].port.pgs[2].xon"),
            "{refused:?}"
        );
    }

    fn arb_port_ref() -> BoxedStrategy<Option<pb::PortRef>> {
        proptest::option::weighted(
            0.9,
            (
                prop_oneof![6 => 0u32..2, 1 => 2u32..4, 1 => any::<u32>()],
                prop_oneof![6 => 1u32..3, 1 => 0u32..4, 1 => any::<u32>()],
            )
                .prop_map(|(slot, port)| pb::PortRef { slot, port }),
        )
        .boxed()
    }

    /// Eight valid entries mostly; otherwise the wrong count or garbage values.
    fn arb_map(max: u32) -> impl Strategy<Value = Vec<u32>> {
        let garbage = prop_oneof![0u32..9, 95u32..102, any::<u32>()];
        prop_oneof![
            6 => proptest::collection::vec(0..=max, 8),
            1 => proptest::collection::vec(garbage, 7..10),
        ]
    }

    fn arb_pg() -> BoxedStrategy<pb::PgProfile> {
        use pb::pg_profile::SharedLimit as L;
        (
            any::<u64>(),
            proptest::option::weighted(
                0.98,
                prop_oneof![
                    1 => any::<u64>().prop_map(L::StaticBytes),
                    4 => (-9i32..5).prop_map(L::DynamicLog2Alpha),
                    1 => any::<i32>().prop_map(L::DynamicLog2Alpha),
                ],
            ),
            proptest::option::of((any::<u64>(), any::<u64>(), any::<u64>())),
        )
            .prop_map(|(reserved_bytes, shared_limit, lossless)| pb::PgProfile {
                reserved_bytes,
                shared_limit,
                lossless: lossless.map(|(xoff_bytes, xon_bytes, headroom_bytes)| {
                    pb::LosslessThresholds {
                        xoff_bytes,
                        xon_bytes,
                        headroom_bytes,
                    }
                }),
            })
            .boxed()
    }

    fn arb_vid() -> impl Strategy<Value = u32> {
        prop_oneof![6 => 1u32..4095, 1 => 4093u32..4097, 1 => Just(0u32), 1 => any::<u32>()]
    }

    fn arb_settings() -> BoxedStrategy<pb::PortSettings> {
        use pb::port_settings::VlanMode as V;
        let vlan = proptest::option::of(prop_oneof![
            arb_vid().prop_map(|vid| V::Access(pb::AccessVlan { vid })),
            (arb_vid(), proptest::collection::vec(arb_vid(), 0..4)).prop_map(
                |(native_vid, allowed)| V::Trunk(pb::TrunkVlans {
                    native_vid,
                    allowed
                })
            ),
        ]);
        (
            arb_port_ref(),
            prop_oneof![6 => 64u32..9300, 1 => any::<u32>()],
            vlan,
            prop_oneof![6 => 0u32..8, 1 => any::<u32>()],
            (arb_map(7), arb_map(7), arb_map(7), arb_map(100)),
            prop_oneof![6 => 0i32..3, 1 => any::<i32>()],
            prop_oneof![3 => Just(0u32), 3 => 0u32..0x101, 1 => any::<u32>()],
            prop_oneof![
                6 => proptest::collection::vec(arb_pg(), 8),
                1 => proptest::collection::vec(arb_pg(), 7..10),
            ],
        )
            .prop_map(
                |(port, mtu, vlan_mode, default_priority, maps, flow_control, pfc_enabled, pgs)| {
                    pb::PortSettings {
                        port,
                        mtu,
                        vlan_mode,
                        default_priority,
                        pcp_to_priority: maps.0,
                        priority_to_tc: maps.1,
                        priority_to_pg: maps.2,
                        tc_ets_weight: maps.3,
                        flow_control,
                        pfc_enabled,
                        pgs,
                    }
                },
            )
            .boxed()
    }

    /// A port's current settings with a few edits: mostly convertible, often semantically bad.
    fn arb_port_edit() -> BoxedStrategy<pb::Update> {
        let weight = proptest::sample::select(vec![0u32, 1, 30, 70, 100]);
        (
            0u16..4,
            prop_oneof![Just(None), (64u32..9300).prop_map(Some)],
            proptest::collection::vec((0usize..3, 0usize..8, 0u32..8), 0..4),
            proptest::option::of(proptest::collection::vec(weight, 8)),
            proptest::option::of((0i32..3, 0u32..256)),
            proptest::collection::vec((0usize..8, arb_pg()), 0..3),
        )
            .prop_map(|(port, mtu, maps, weights, flow, pgs)| {
                let mut s = port_settings(&engine(), PortIndex(port));
                s.mtu = mtu.unwrap_or(s.mtu);
                for (which, k, v) in maps {
                    let map = match which {
                        0 => &mut s.pcp_to_priority,
                        1 => &mut s.priority_to_tc,
                        _ => &mut s.priority_to_pg,
                    };
                    if let Some(x) = map.get_mut(k) {
                        *x = v;
                    }
                }
                s.tc_ets_weight = weights.unwrap_or(s.tc_ets_weight);
                if let Some((fc, enabled)) = flow {
                    s.flow_control = fc;
                    s.pfc_enabled = if fc == pb::FlowControl::Pfc as i32 {
                        enabled
                    } else {
                        0
                    };
                }
                for (k, pg) in pgs {
                    if let Some(x) = s.pgs.get_mut(k) {
                        *x = pg;
                    }
                }
                set(E::Port(s))
            })
            .boxed()
    }

    fn arb_update() -> BoxedStrategy<pb::Update> {
        let remote = (
            prop_oneof![6 => 0u32..17, 1 => any::<u32>()],
            prop_oneof![6 => 0u32..256, 1 => any::<u32>()],
        )
            .prop_map(|(unit, port)| {
                pb::fdb_destination::Dest::Remote(pb::RemotePort { unit, port })
            });
        let dest = proptest::option::of(
            proptest::option::of(prop_oneof![
                arb_port_ref()
                    .prop_filter_map("a port", |p| p.map(pb::fdb_destination::Dest::Local)),
                remote,
            ])
            .prop_map(|dest| pb::FdbDestination { dest }),
        );
        let mac = prop_oneof![6 => 0u64..0x1_0000_0000_0000, 1 => any::<u64>()];
        let entity = prop_oneof![
            arb_settings().prop_map(E::Port),
            (
                prop_oneof![6 => 0u32..17, 1 => any::<u32>()],
                arb_port_ref(),
                arb_port_ref()
            )
                .prop_map(|(unit, primary, backup)| E::StackRoute(pb::StackRoute {
                    unit,
                    primary,
                    backup
                })),
            proptest::collection::vec(arb_port_ref().prop_filter_map("a port", |p| p), 0..4)
                .prop_map(|ports| E::FloodTree(pb::FloodTree { ports })),
            (arb_vid(), mac, dest).prop_map(|(vid, mac, dest)| fdb(vid, mac, dest)),
            (any::<u64>(), any::<u64>()).prop_map(|(s, h)| E::Buffer(pb::BufferPools {
                shared_pool_bytes: s,
                headroom_pool_bytes: h,
            })),
            (arb_port_ref(), any::<bool>())
                .prop_map(|(port, hold_down)| E::PortHold(pb::PortHold { port, hold_down })),
            prop_oneof![4 => 0u32..17, 1 => any::<u32>()]
                .prop_map(|unit| E::UnitNumber(pb::UnitNumber { unit })),
        ];
        let any_update = (
            prop_oneof![8 => 1i32..3, 1 => Just(0i32), 1 => any::<i32>()],
            proptest::option::weighted(0.95, entity),
        )
            .prop_map(|(op, entity)| pb::Update { op, entity })
            .boxed();
        prop_oneof![3 => any_update, 1 => arb_port_edit()].boxed()
    }

    proptest! {
        /// Whatever arrives, conversion and then the programmer refuse or accept; never panic.
        #[test]
        fn arbitrary_updates_never_panic(updates in proptest::collection::vec(arb_update(), 0..6)) {
            let mut e = engine();
            let mut programmer = Programmer::new();
            for u in &updates {
                if let Ok(converted) = updates_from_proto(&e, std::slice::from_ref(u)) {
                    let _ = programmer.write(&mut e, &converted);
                }
            }
            if let Ok(converted) = updates_from_proto(&e, &updates) {
                prop_assert_eq!(converted.len(), updates.len());
                let _ = programmer.write(&mut e, &converted);
            }
            // Whatever state was reached, every port's settings read back convert to its config.
            for i in 0..4 {
                let p = PortIndex(i);
                let again = updates_from_proto(&e, &[set(E::Port(port_settings(&e, p)))]);
                let want = e.port_config(p).cloned().map(|c| vec![Update::SetPort(p, Box::new(c))]);
                prop_assert_eq!(again.ok(), want);
            }
        }
    }
}
