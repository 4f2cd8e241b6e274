//! Conversions between the gRPC messages of `stackd.dataplane.v1` and the engine's types.
//!
//! * Requests ([`updates_from_proto`], [`port_index`]) come from another process and are
//!   untrusted: every field is range-checked where the proto type is wider than the domain type,
//!   and a refusal is a [`ConvertError`] naming the field by its path in the request
//!   (`updates[3].port.pgs[2].dynamic_log2_alpha`). Nothing here panics on any input.
//!   Semantic checks (XON below XOFF, headroom of at least one MTU, ETS weights summing to 100,
//!   stack routes over stack ports, units other than this one) are the engine's, done by
//!   [`crate::programming::Programmer::write`], which names fields the same way
//!   (`updates[3].port.pgs[2].xon`).
//! * Replies ([`port_settings`], [`event_to_proto`], [`packet_in_to_proto`], [`read_response`],
//!   [`counters_response`]) describe the engine's state. Port settings round-trip exactly:
//!   the `PortSettings` read back, written again, give the same [`crate::config::PortConfig`].
//!
//! Conventions of the `.proto`: MAC addresses are `uint64` holding the 48-bit address
//! big-endian; ports of this unit are `PortRef {slot, port}` (slot 0 front panel, 1 stack).

mod read;
mod write;

pub use read::{
    counters_response, event_to_proto, packet_in_to_proto, port_settings, read_response,
};
pub use write::updates_from_proto;

use proto::dataplane::v1 as pb;

use crate::config::{PortId, Slot};
use crate::engine::Engine;
use crate::fdb::FdbDestination;
use crate::port::PortIndex;

/// Why a request could not be converted; `field` is a path into the request such as
/// `updates[3].port.pgs[2].xon` or `updates[0].fdb.dest`; the message says what is wrong and
/// what is expected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct ConvertError {
    /// Path of the offending field in the request.
    pub field: String,
    /// What is wrong with it and what is expected.
    pub message: String,
}

/// A [`ConvertError`] for `field`.
pub(crate) fn err(field: impl std::fmt::Display, message: impl Into<String>) -> ConvertError {
    ConvertError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A path to a field of a request, e.g. `updates[3].port.pgs[2].xon`: segments chained by
/// reference and formatted only when an error names the field, so that valid requests (a batch
/// of 10,000 FDB entries, say) build no strings at all.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    parent: Option<&'a Field<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Segment<'a> {
    /// `.name` (or just `name` at the root).
    Name(&'a str),
    /// `[i]`.
    Index(usize),
}

impl<'a> Field<'a> {
    /// The path `name`.
    pub fn root(name: &'a str) -> Self {
        Field {
            parent: None,
            segment: Segment::Name(name),
        }
    }

    /// The path `self.name`.
    pub fn name(&'a self, name: &'a str) -> Field<'a> {
        Field {
            parent: Some(self),
            segment: Segment::Name(name),
        }
    }

    /// The path `self[i]`.
    pub fn index(&'a self, i: usize) -> Field<'a> {
        Field {
            parent: Some(self),
            segment: Segment::Index(i),
        }
    }
}

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.segment {
            Segment::Name(n) if self.parent.is_some() => write!(f, ".{n}"),
            Segment::Name(n) => f.write_str(n),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// The `PortRef` of a port of this unit. An index the engine does not have (never one it
/// handed out) gives slot `u32::MAX`, which [`port_index`] refuses.
pub fn port_ref(engine: &Engine, port: PortIndex) -> pb::PortRef {
    match engine.port_config(port) {
        Some(c) => pb::PortRef {
            slot: u32::from(c.id.slot.number()),
            port: u32::from(c.id.port),
        },
        None => pb::PortRef {
            slot: u32::MAX,
            port: u32::from(port.0),
        },
    }
}

/// Resolves a PortRef of this unit (slot 0 front, 1 stack); `field` names it in errors (missing
/// → error too).
pub fn port_index(
    engine: &Engine,
    port: Option<&pb::PortRef>,
    field: &Field<'_>,
) -> Result<PortIndex, ConvertError> {
    let Some(r) = port else {
        return Err(err(
            field,
            "required: a port of this unit as {slot, port} (slot 0 front panel, 1 stack)",
        ));
    };
    let slot = match r.slot {
        0 => Slot::Front,
        1 => Slot::Stack,
        s => {
            return Err(err(
                format!("{field}.slot"),
                format!("{s} is not a slot: expected 0 (front panel) or 1 (stack)"),
            ))
        }
    };
    let number = u8::try_from(r.port).map_err(|_| {
        err(
            format!("{field}.port"),
            format!("{} is out of range: expected a port number 0..=255", r.port),
        )
    })?;
    let id = PortId { slot, port: number };
    engine.port_index(id).ok_or_else(|| {
        err(
            field,
            format!("unit {} has no port {}/{id}", engine.unit(), engine.unit()),
        )
    })
}

/// Every port index of the engine, in order.
fn ports(engine: &Engine) -> impl Iterator<Item = PortIndex> {
    (0..engine.num_ports())
        .filter_map(|i| u16::try_from(i).ok())
        .map(PortIndex)
}

/// An FDB destination as the `.proto` has it.
fn fdb_dest_to_proto(engine: &Engine, dest: FdbDestination) -> pb::FdbDestination {
    use pb::fdb_destination::Dest;
    pb::FdbDestination {
        dest: Some(match dest {
            FdbDestination::Local(p) => Dest::Local(port_ref(engine, p)),
            FdbDestination::Remote { unit, port } => Dest::Remote(pb::RemotePort {
                unit: u32::from(unit),
                port: u32::from(port),
            }),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{
        EngineConfig, FlowControl, LosslessThresholds, PgProfile, PortConfig, SharedLimit,
        TcSchedule, VlanMode,
    };
    use crate::programming::{Programmer, Update};

    pub(crate) const G10: u64 = 10_000_000_000;

    /// Unit 1: front 1 and 2 (indices 0, 1), stack 1 and 2 (indices 2, 3).
    pub(crate) fn engine() -> Engine {
        let ports = vec![
            PortConfig::new(PortId::front(1), G10),
            PortConfig::new(PortId::front(2), G10),
            PortConfig::new(PortId::stack(1), G10),
            PortConfig::new(PortId::stack(2), G10),
        ];
        Engine::new(EngineConfig::new(1, ports)).expect("a valid test config")
    }

    pub(crate) fn set(entity: pb::update::Entity) -> pb::Update {
        pb::Update {
            op: pb::update::Op::Set as i32,
            entity: Some(entity),
        }
    }

    /// Every field away from its default.
    fn full_port() -> PortConfig {
        let mut c = PortConfig::new(PortId::front(1), G10);
        c.mtu = 9216;
        c.vlan = VlanMode::Trunk {
            native: Some(10),
            allowed: vec![20, 30, 4094],
        };
        c.default_priority = 1;
        c.pcp_to_priority = [1, 0, 3, 2, 4, 5, 7, 6];
        c.priority_to_tc = [0, 0, 1, 1, 1, 2, 3, 7];
        c.priority_to_pg = [0, 0, 0, 3, 4, 0, 0, 0];
        c.schedule[0] = TcSchedule::Ets { weight: 30 };
        c.schedule[1] = TcSchedule::Ets { weight: 70 };
        c.flow_control = FlowControl::Pfc {
            enabled: 1 << 3 | 1 << 4,
        };
        c.pgs[0] = PgProfile {
            reserved: 3000,
            shared_limit: SharedLimit::Static(1_000_000),
            lossless: None,
        };
        c.pgs[3] = PgProfile {
            reserved: 0,
            shared_limit: SharedLimit::Dynamic { log2_alpha: -2 },
            lossless: Some(LosslessThresholds {
                xoff: 100_000,
                xon: 80_000,
                headroom: 60_000,
            }),
        };
        c.pgs[4] = PgProfile {
            reserved: 9216,
            shared_limit: SharedLimit::Static(200_000),
            lossless: Some(LosslessThresholds {
                xoff: 50_000,
                xon: 20_000,
                headroom: 40_000,
            }),
        };
        c.pgs[7].shared_limit = SharedLimit::Dynamic { log2_alpha: 3 };
        c
    }

    #[test]
    fn port_settings_round_trip_exactly() {
        let port = PortIndex(0);
        let want = full_port();
        let mut source = engine();
        source.set_port_config(port, want.clone()).expect("valid");
        let settings = port_settings(&source, port);
        assert_eq!(settings.port, Some(pb::PortRef { slot: 0, port: 1 }));
        assert_eq!(settings.tc_ets_weight, vec![30, 70, 0, 0, 0, 0, 0, 0]);

        // Written to a fresh engine (default settings) through the whole write path.
        let mut e = engine();
        let updates = updates_from_proto(&e, &[set(pb::update::Entity::Port(settings.clone()))])
            .expect("converts");
        assert_eq!(updates, vec![Update::SetPort(port, Box::new(want.clone()))]);
        let mut programmer = Programmer::new();
        assert_eq!(programmer.write(&mut e, &updates), Ok(1));
        assert_eq!(e.port_config(port), Some(&want));
        assert_eq!(port_settings(&e, port), settings);
    }

    #[test]
    fn stack_ports_may_leave_the_vlan_mode_out() {
        let e = engine();
        let port = PortIndex(2);
        let mut settings = port_settings(&e, port);
        settings.vlan_mode = None;
        settings.mtu = 9000;
        let updates =
            updates_from_proto(&e, &[set(pb::update::Entity::Port(settings))]).expect("converts");
        let mut want = e.port_config(port).cloned().expect("port 2");
        want.mtu = 9000;
        assert_eq!(updates, vec![Update::SetPort(port, Box::new(want))]);
    }

    #[test]
    fn port_refs_resolve_and_name_their_field() {
        let e = engine();
        let r = port_ref(&e, PortIndex(3));
        assert_eq!(r, pb::PortRef { slot: 1, port: 2 });
        assert_eq!(
            port_index(&e, Some(&r), &Field::root("x")),
            Ok(PortIndex(3))
        );
        let bad = |slot, port| port_index(&e, Some(&pb::PortRef { slot, port }), &Field::root("p"));
        assert_eq!(bad(2, 1).map_err(|e| e.field), Err("p.slot".into()));
        assert_eq!(bad(0, 256).map_err(|e| e.field), Err("p.port".into()));
        assert_eq!(
            bad(0, 9).map_err(|e| e.to_string()),
            Err("p: unit 1 has no port 1/0/9".into())
        );
        assert_eq!(
            port_index(&e, None, &Field::root("q")).map_err(|e| e.field),
            Err("q".into())
        );
        let unknown = port_ref(&e, PortIndex(99));
        assert!(port_index(&e, Some(&unknown), &Field::root("p")).is_err());
    }
}
