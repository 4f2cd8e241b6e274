//! Write batches: `pb::Update`s to programming [`Update`]s, range-checked field by field.

use pnet_base::MacAddr;
use proto::dataplane::v1 as pb;

use super::{err, port_index, ConvertError};
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
        .map(|(i, u)| update_from_proto(engine, u, &format!("updates[{i}]")))
        .collect()
}

fn update_from_proto(engine: &Engine, u: &pb::Update, at: &str) -> Result<Update, ConvertError> {
    use pb::update::{Entity as E, Op};
    let delete = match Op::try_from(u.op) {
        Ok(Op::Set) => false,
        Ok(Op::Delete) => true,
        Ok(Op::Unspecified) => {
            return Err(err(
                format!("{at}.op"),
                "OP_UNSPECIFIED: expected SET or DELETE",
            ))
        }
        Err(_) => {
            return Err(err(
                format!("{at}.op"),
                format!("{} is not an op: expected SET (1) or DELETE (2)", u.op),
            ))
        }
    };
    let Some(entity) = &u.entity else {
        return Err(err(
            format!("{at}.entity"),
            "no entity set: expected one of port, stack_route, flood_tree, fdb, buffer, port_hold",
        ));
    };
    let refuse_delete = |what: &str| {
        err(
            format!("{at}.op"),
            format!("DELETE is refused for {what}: it cannot be removed, only SET"),
        )
    };
    Ok(match entity {
        E::Port(_) if delete => return Err(refuse_delete("port settings (a port)")),
        E::Port(s) => port_from_proto(engine, s, &format!("{at}.port"))?,
        E::StackRoute(r) => {
            let at = format!("{at}.stack_route");
            let unit = to_u8(r.unit, &format!("{at}.unit"), "a unit number (1..=15)")?;
            if delete {
                Update::DeleteStackRoute(unit)
            } else {
                let primary = port_index(engine, r.primary.as_ref(), &format!("{at}.primary"))?;
                let backup = match &r.backup {
                    Some(b) => Some(port_index(engine, Some(b), &format!("{at}.backup"))?),
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
                .map(|(k, p)| port_index(engine, Some(p), &format!("{at}.flood_tree.ports[{k}]")))
                .collect::<Result<_, _>>()?,
        ),
        E::Fdb(f) => {
            let at = format!("{at}.fdb");
            let vid = vid(f.vid, &format!("{at}.vid"))?;
            let mac = mac(f.mac, &format!("{at}.mac"))?;
            if delete {
                Update::DeleteFdb(vid, mac)
            } else {
                let dest = fdb_dest(engine, f.dest.as_ref(), &format!("{at}.dest"))?;
                Update::SetFdb(vid, mac, dest)
            }
        }
        E::Buffer(_) if delete => return Err(refuse_delete("the buffer pools")),
        E::Buffer(b) => Update::SetBuffer(BufferConfig {
            shared_pool: b.shared_pool_bytes,
            headroom_pool: b.headroom_pool_bytes,
        }),
        E::PortHold(h) => {
            let port = port_index(engine, h.port.as_ref(), &format!("{at}.port_hold.port"))?;
            if delete {
                Update::DeleteHold(port)
            } else {
                Update::SetHold(port, h.hold_down)
            }
        }
    })
}

fn fdb_dest(
    engine: &Engine,
    dest: Option<&pb::FdbDestination>,
    at: &str,
) -> Result<FdbDestination, ConvertError> {
    use pb::fdb_destination::Dest;
    match dest.and_then(|d| d.dest.as_ref()) {
        Some(Dest::Local(p)) => Ok(FdbDestination::Local(port_index(
            engine,
            Some(p),
            &format!("{at}.local"),
        )?)),
        Some(Dest::Remote(r)) => Ok(FdbDestination::Remote {
            unit: to_u8(
                r.unit,
                &format!("{at}.remote.unit"),
                "a unit number (1..=15)",
            )?,
            port: to_u8(
                r.port,
                &format!("{at}.remote.port"),
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
    at: &str,
) -> Result<Update, ConvertError> {
    use pb::port_settings::VlanMode as V;
    let index = port_index(engine, s.port.as_ref(), &format!("{at}.port"))?;
    let Some(existing) = engine.port_config(index) else {
        return Err(err(format!("{at}.port"), "no such port"));
    };
    let vlan = match &s.vlan_mode {
        Some(V::Access(a)) => VlanMode::Access {
            vid: vid(a.vid, &format!("{at}.access.vid"))?,
        },
        Some(V::Trunk(t)) => VlanMode::Trunk {
            native: match t.native_vid {
                0 => None,
                v => Some(vid(v, &format!("{at}.trunk.native_vid"))?),
            },
            allowed: t
                .allowed
                .iter()
                .enumerate()
                .map(|(k, v)| vid(*v, &format!("{at}.trunk.allowed[{k}]")))
                .collect::<Result<_, _>>()?,
        },
        None if existing.id.slot == Slot::Stack => existing.vlan.clone(),
        None => {
            return Err(err(
                format!("{at}.vlan_mode"),
                "required for a front-panel port: access {vid} or trunk {native_vid, allowed}",
            ))
        }
    };
    let default_priority = small(
        s.default_priority,
        7,
        &format!("{at}.default_priority"),
        "a priority (0..=7)",
    )?;
    let map = |v: &[u32], name: &str, what: &str| -> Result<[u8; NUM_PRIORITIES], ConvertError> {
        let field = format!("{at}.{name}");
        let v = eight(v, &field, "one per priority")?;
        let mut out = [0; NUM_PRIORITIES];
        for (k, (o, x)) in out.iter_mut().zip(v).enumerate() {
            *o = small(*x, 7, &format!("{field}[{k}]"), what)?;
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

    let field = format!("{at}.tc_ets_weight");
    let weights = eight(&s.tc_ets_weight, &field, "one per traffic class")?;
    let mut schedule = [TcSchedule::Strict; NUM_PRIORITIES];
    for (k, (o, w)) in schedule.iter_mut().zip(weights).enumerate() {
        *o = match small(
            *w,
            100,
            &format!("{field}[{k}]"),
            "0 (strict priority) or an ETS weight in percent (1..=100)",
        )? {
            0 => TcSchedule::Strict,
            weight => TcSchedule::Ets { weight },
        };
    }

    let pfc_field = format!("{at}.pfc_enabled");
    let enabled = u8::try_from(s.pfc_enabled).map_err(|_| {
        err(
            &pfc_field,
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
                format!("{at}.flow_control"),
                format!(
                    "{} is not a flow control: expected FLOW_CONTROL_NONE (0), FLOW_CONTROL_PAUSE (1) or FLOW_CONTROL_PFC (2)",
                    s.flow_control
                ),
            ))
        }
    };

    let field = format!("{at}.pgs");
    let profiles = eight(&s.pgs, &field, "one per priority group")?;
    let mut pgs = [PgProfile::lossy(); NUM_PRIORITIES];
    for (k, (o, p)) in pgs.iter_mut().zip(profiles).enumerate() {
        *o = pg_from_proto(p, &format!("{field}[{k}]"))?;
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

fn pg_from_proto(p: &pb::PgProfile, at: &str) -> Result<PgProfile, ConvertError> {
    use pb::pg_profile::SharedLimit as L;
    let shared_limit = match p.shared_limit {
        Some(L::StaticBytes(b)) => SharedLimit::Static(b),
        Some(L::DynamicLog2Alpha(a)) => SharedLimit::Dynamic {
            log2_alpha: i8::try_from(a)
                .ok()
                .filter(|a| (-7..=3).contains(a))
                .ok_or_else(|| {
                    err(
                        format!("{at}.dynamic_log2_alpha"),
                        format!("{a} is out of range: expected log2 of alpha, -7..=3"),
                    )
                })?,
        },
        None => {
            return Err(err(
                format!("{at}.shared_limit"),
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
    field: &str,
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
fn small(v: u32, max: u8, field: &str, what: &str) -> Result<u8, ConvertError> {
    u8::try_from(v)
        .ok()
        .filter(|x| *x <= max)
        .ok_or_else(|| err(field, format!("{v} is not {what}")))
}

fn to_u8(v: u32, field: &str, what: &str) -> Result<u8, ConvertError> {
    u8::try_from(v).map_err(|_| err(field, format!("{v} is out of range: expected {what}")))
}

fn vid(v: u32, field: &str) -> Result<u16, ConvertError> {
    u16::try_from(v)
        .ok()
        .filter(|v| (1..=4094).contains(v))
        .ok_or_else(|| err(field, format!("{v} is not a VLAN: expected 1..=4094")))
}

fn mac(v: u64, field: &str) -> Result<MacAddr, ConvertError> {
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
