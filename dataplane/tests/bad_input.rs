//! Bad input (DESIGN.md §7 invariant 7): malformed frames, bad programming calls, bad config.
#![allow(missing_docs)]

mod common;

use bytes::Bytes;
use common::*;
use dataplane::config::{ConfigError, TcSchedule};
use dataplane::fdb::FdbDestination;
use dataplane::stack::StackRoute;
use dataplane::wire::{
    L2Header, MacControlRepr, StackFrameKind, StackHeaderRepr, ETHERTYPE_MAC_CONTROL,
    ETHERTYPE_STACK, MAC_CONTROL_DST,
};
use dataplane::{Engine, EngineConfig, EngineError};
use proptest::prelude::*;

fn two_by_two(unit: u8) -> Engine {
    engine(
        unit,
        vec![
            trunk(1, G10, Some(1), &[10]),
            access(2, G10, 1),
            pfc_receiver(stack_port(1, G10)),
            stack_port(2, G10),
        ],
    )
}

/// Whether the engine must count `f` arriving on a port (`stack`: a stack port) as malformed.
fn malformed(f: &[u8], stack: bool, port_mac: [u8; 6]) -> bool {
    let Ok(h) = L2Header::parse(f) else {
        return true;
    };
    if h.ethertype == ETHERTYPE_MAC_CONTROL {
        let dst = h.dst.octets();
        return (dst != MAC_CONTROL_DST.octets() && dst != port_mac)
            || MacControlRepr::parse(&f[h.payload_offset..]).is_err();
    }
    if !stack || h.ethertype != ETHERTYPE_STACK {
        return false;
    }
    match StackHeaderRepr::parse_frame(f) {
        Err(_) => true,
        Ok(s) => {
            s.kind == StackFrameKind::Data && (f.len() < 26 || !(1..=4094).contains(&s.vlan.vid))
        }
    }
}

/// Raw bytes, biased towards the headers the engine looks at.
fn raw() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop_oneof![
        Just(vec![]),
        Just(vec![0x81, 0x00]),
        Just(vec![0x88, 0x08]),
        Just(vec![0x88, 0xb5]),
        Just(vec![0x88, 0xb5, 0x10]),
        Just(vec![0x88, 0xb5, 0x11]),
        Just(vec![0x81, 0x00, 0x00, 0x0a, 0x88, 0x08, 0x01, 0x01]),
        Just(vec![0x88, 0x08, 0x00, 0x01]),
        Just(vec![0x88, 0x08, 0x01, 0x01]),
    ];
    let macs = prop_oneof![
        Just(vec![0x01, 0x80, 0xc2, 0, 0, 1, 0x0a, 0, 0, 0, 0, 7]),
        Just(vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0, 0, 0, 0, 7
        ]),
        proptest::collection::vec(any::<u8>(), 12),
    ];
    (
        any::<bool>(),
        macs,
        prefix,
        proptest::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(structured, macs, prefix, tail)| {
            if structured {
                [macs, prefix, tail].concat()
            } else {
                tail
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_malformed_are_counted(
        frames in proptest::collection::vec((0u16..4, raw()), 1..40),
    ) {
        let mut e = two_by_two(1);
        e.set_stack_route(2, Some(StackRoute { primary: p(2), backup: Some(p(3)) })).unwrap();
        e.set_flood_ports(&[p(2), p(3)]).unwrap();
        let mut d = Driver::new(ns(0));
        let mut t = ns(0);
        for (port, f) in frames {
            let before = e.port_counters(p(port)).unwrap();
            let mac = e.port_config(p(port)).unwrap().mac.octets();
            let bad = malformed(&f, port >= 2, mac);
            e.handle_frame(t, p(port), Bytes::from(f));
            let after = e.port_counters(p(port)).unwrap();
            prop_assert_eq!(after.rx_frames, before.rx_frames + 1);
            prop_assert_eq!(after.rx_malformed, before.rx_malformed + u64::from(bad));
            t = t.plus_ps(1_000_000);
            d.step_to(&mut e, t);
        }
        d.step_to(&mut e, t + std::time::Duration::from_millis(10));
        // Unknown port indices are counted, not a panic.
        e.handle_frame(t, p(99), Bytes::from_static(&[0; 64]));
        prop_assert_eq!(e.frames_on_unknown_ports(), 1);
    }
}

#[test]
fn programming_errors_are_refused_and_change_nothing() {
    let mut e = two_by_two(3);
    let good = StackRoute {
        primary: p(2),
        backup: Some(p(3)),
    };
    e.set_stack_route(1, Some(good)).unwrap();
    e.set_flood_ports(&[p(2)]).unwrap();
    e.add_static_fdb(10, host(1), FdbDestination::Local(p(0)))
        .unwrap();
    let routes = |e: &Engine| e.stack_table().routes().collect::<Vec<_>>();
    let table = |e: &Engine| {
        let mut v: Vec<_> = e.fdb().entries().map(|x| (x.vid, x.mac, x.dest)).collect();
        v.sort_by_key(|x| (x.0, dataplane::wire::mac_to_u64(x.1)));
        v
    };
    let (r0, f0, t0) = (routes(&e), e.stack_table().flood_ports(), table(&e));

    let front = StackRoute {
        primary: p(0),
        backup: None,
    };
    assert!(matches!(
        e.set_stack_route(1, Some(front)),
        Err(EngineError::NotAStackPort(ref n)) if n == "3/0/1"
    ));
    let bad_backup = StackRoute {
        primary: p(2),
        backup: Some(p(1)),
    };
    assert!(matches!(
        e.set_stack_route(1, Some(bad_backup)),
        Err(EngineError::NotAStackPort(_))
    ));
    let unknown = StackRoute {
        primary: p(40),
        backup: None,
    };
    assert_eq!(
        e.set_stack_route(1, Some(unknown)),
        Err(EngineError::UnknownPort(40))
    );
    for unit in [0u8, 16, 3, 255] {
        assert_eq!(
            e.set_stack_route(unit, Some(good)),
            Err(EngineError::BadUnit(unit))
        );
        assert_eq!(
            e.set_stack_route(unit, None),
            Err(EngineError::BadUnit(unit))
        );
    }
    assert!(matches!(
        e.set_flood_ports(&[p(3), p(0)]),
        Err(EngineError::NotAStackPort(_))
    ));
    assert_eq!(
        e.set_flood_ports(&[p(3), p(9)]),
        Err(EngineError::UnknownPort(9))
    );
    for vid in [0u16, 4095, 5000] {
        assert_eq!(
            e.add_static_fdb(vid, host(2), FdbDestination::Local(p(1))),
            Err(EngineError::BadVlan(vid))
        );
    }
    assert_eq!(
        e.add_static_fdb(10, host(2), FdbDestination::Local(p(7))),
        Err(EngineError::UnknownPort(7))
    );
    assert_eq!(
        e.set_port_up(ns(0), p(12), false),
        Err(EngineError::UnknownPort(12))
    );
    assert_eq!(
        e.send_frame(p(12), Bytes::from_static(&[0; 60])),
        Err(EngineError::UnknownPort(12))
    );
    assert_eq!(routes(&e), r0);
    assert_eq!(e.stack_table().flood_ports(), f0);
    assert_eq!(table(&e), t0);
}

fn base() -> EngineConfig {
    let lossless = thresholds(20_000, 8_000, 30_000);
    EngineConfig::new(
        1,
        vec![
            access(1, G10, 1),
            access(2, G10, 1).with_lossless(3, lossless),
            stack_port(1, G10),
        ],
    )
}

fn rejects(mutate: impl FnOnce(&mut EngineConfig), field: &str) -> ConfigError {
    let mut cfg = base();
    mutate(&mut cfg);
    let err = cfg.validate().expect_err(field);
    let msg = err.to_string();
    assert!(msg.contains(field), "error {msg:?} does not name {field}");
    assert_eq!(Engine::new(cfg).err(), Some(err.clone()));
    err
}

#[test]
fn config_validation_names_the_field() {
    base().validate().unwrap();
    let e = rejects(
        |c| c.ports[1].pgs[3].lossless.as_mut().unwrap().xon = 20_000,
        "ports[1].pgs[3].xon",
    );
    assert!(matches!(
        e,
        ConfigError::XonNotBelowXoff {
            xon: 20_000,
            xoff: 20_000,
            ..
        }
    ));
    rejects(
        |c| c.ports[1].pgs[3].lossless.as_mut().unwrap().xon = 25_000,
        "ports[1].pgs[3].xon",
    );
    let e = rejects(
        |c| c.ports[1].pgs[3].lossless.as_mut().unwrap().headroom = 1517,
        "ports[1].pgs[3].headroom",
    );
    assert!(matches!(
        e,
        ConfigError::HeadroomBelowMtu {
            headroom: 1517,
            mtu: 1518,
            ..
        }
    ));
    rejects(
        |c| c.ports[0].pcp_to_priority[2] = 8,
        "ports[0].pcp_to_priority[2]",
    );
    rejects(
        |c| c.ports[2].priority_to_tc[7] = 9,
        "ports[2].priority_to_tc[7]",
    );
    rejects(
        |c| c.ports[1].priority_to_pg[0] = 200,
        "ports[1].priority_to_pg[0]",
    );
    rejects(
        |c| c.ports[0].default_priority = 8,
        "ports[0].default_priority",
    );
    let e = rejects(|c| c.ports[2].speed_bps = 0, "ports[2].speed_bps");
    assert!(matches!(e, ConfigError::ZeroSpeed { .. }));
    let e = rejects(
        |c| {
            c.ports[0].schedule[0] = TcSchedule::Ets { weight: 30 };
            c.ports[0].schedule[1] = TcSchedule::Ets { weight: 60 };
        },
        "ports[0].schedule",
    );
    assert!(matches!(e, ConfigError::EtsWeightsNot100 { sum: 90, .. }));
    rejects(
        |c| {
            c.ports[1].schedule[4] = TcSchedule::Ets { weight: 0 };
            c.ports[1].schedule[5] = TcSchedule::Ets { weight: 100 };
        },
        "ports[1].schedule[4].weight",
    );
    let e = rejects(|c| c.ports.push(access(2, G1, 1)), "ports[3].id");
    assert!(matches!(e, ConfigError::DuplicatePort { first: 1, .. }));
    // A stack port and a front port with the same number are different ports.
    let mut cfg = base();
    cfg.ports.push(stack_port(2, G10));
    cfg.ports.push(front(3, G10));
    cfg.validate().unwrap();
    rejects(|c| c.unit = 0, "unit");
    rejects(|c| c.unit = 16, "unit");
    // PFC enabled for a priority whose PG is lossy.
    rejects(
        |c| c.ports[1].pgs[3].lossless = None,
        "ports[1].priority_to_pg[3]",
    );
}
