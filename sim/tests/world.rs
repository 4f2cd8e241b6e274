//! The world and the host NIC on their own: delivery timing, line-rate pacing, and PFC obeyed
//! with the configured response delay and for exactly quanta × 512 bit times.
#![allow(missing_docs)]

use bytes::Bytes;
use dataplane::pfc::quanta_ps;
use dataplane::wire::{MacAddr, MacControlRepr, VlanTag};
use dataplane::Instant;
use sim::host::{FlowSpec, Host, HostConfig, Rate, Stop};
use sim::world::{LinkSpec, World, WorldError};

const G10: u64 = 10_000_000_000;

fn mac(n: u8) -> MacAddr {
    MacAddr::new(2, 0, 0, 0, 0, n)
}

fn flow(dst: MacAddr, pcp: u8, stop: Stop, rate: Rate) -> FlowSpec {
    FlowSpec {
        id: 1,
        dst,
        vlan: Some(VlanTag {
            pcp,
            dei: false,
            vid: 1,
        }),
        frame_len: 1000,
        rate,
        start: Instant::ZERO,
        stop,
    }
}

/// Host A (flow to B) cabled to host B over `cable_m`.
fn pair(
    cable_m: u32,
    response_ps: u64,
    f: FlowSpec,
) -> (World, sim::world::NodeId, sim::world::NodeId) {
    let mut w = World::new(1_000_000);
    let mut a = Host::new(HostConfig {
        pfc_response_ps: Some(response_ps),
        ..HostConfig::new(mac(1), G10)
    })
    .unwrap();
    a.add_flow(f).unwrap();
    let b = Host::new(HostConfig::new(mac(2), G10)).unwrap();
    let a = w.add_host("a", a);
    let b = w.add_host("b", b);
    let spec = LinkSpec {
        speed_bps: G10,
        cable_m,
    };
    w.connect((a, Host::PORT), (b, Host::PORT), spec).unwrap();
    (w, a, b)
}

#[test]
fn frames_arrive_after_serialization_plus_propagation_at_line_rate() {
    let (mut w, a, b) = pair(
        198,
        0,
        flow(mac(2), 0, Stop::AfterFrames(3), Rate::LineRate),
    );
    w.run_until(Instant::from_nanos(100_000)).unwrap();
    let rx = w.host(b).unwrap().flow_rx(1).unwrap();
    // 1000 + 24 bytes at 10G = 819.2 ns; 198 m = 1 µs.
    assert_eq!(rx.first_ps, Some(819_200 + 1_000_000));
    assert_eq!(rx.frames, 3);
    assert_eq!(rx.max_gap_ps, 819_200, "back to back at line rate");
    assert_eq!(w.host(a).unwrap().flow_tx(1).unwrap().frames, 3);
    assert_eq!(w.stats().tx_overruns, 0);
}

#[test]
fn fractional_rate_spaces_frames() {
    let rate = Rate::Fraction { num: 1, den: 4 };
    let (mut w, _, b) = pair(0, 0, flow(mac(2), 0, Stop::AfterFrames(5), rate));
    w.run_until(Instant::from_nanos(100_000)).unwrap();
    let rx = w.host(b).unwrap().flow_rx(1).unwrap();
    assert_eq!((rx.frames, rx.max_gap_ps), (5, 4 * 819_200));
}

#[test]
fn pfc_takes_effect_after_the_response_delay_and_lasts_its_quanta() {
    let response = 1_000_000; // 1 µs
    let end = Instant::from_nanos(200_000);
    let (mut w, a, b) = pair(0, response, flow(mac(2), 3, Stop::At(end), Rate::LineRate));
    w.run_until(Instant::from_nanos(10_000)).unwrap();
    // B pauses priority 3 for 1000 quanta (51.2 µs at 10G); priority 4's bit is clear.
    let pfc = MacControlRepr::Pfc {
        enable: 1 << 3,
        quanta: [0, 0, 0, 1000, 7, 0, 0, 0],
    }
    .emit_frame(mac(2));
    w.host_mut(b)
        .unwrap()
        .send_frame(Bytes::copy_from_slice(&pfc));
    w.run_until(Instant::from_nanos(300_000)).unwrap();
    let ha = w.host(a).unwrap();
    assert_eq!(ha.counters().pfc_rx, 1);
    let pause = quanta_ps(1000, G10);
    assert_eq!(pause, 51_200_000);
    assert_eq!(ha.paused_ps(3), pause, "exactly quanta × 512 bit times");
    assert_eq!(ha.paused_ps(4), 0, "bits that are 0 change nothing");
    let rx = w.host(b).unwrap().flow_rx(1).unwrap();
    // The frame in progress finishes; the next one starts when the pause ends.
    let ser = 819_200;
    assert!(
        rx.max_gap_ps >= pause && rx.max_gap_ps <= pause + ser,
        "gap {} not within [pause, pause + one frame]",
        rx.max_gap_ps
    );
    assert_eq!(rx.lost, 0);
}

#[test]
fn host_that_ignores_pfc_keeps_sending() {
    let mut w = World::new(1_000_000);
    let mut a = Host::new(HostConfig {
        honour_pfc: false,
        ..HostConfig::new(mac(1), G10)
    })
    .unwrap();
    a.add_flow(flow(
        mac(2),
        3,
        Stop::At(Instant::from_nanos(100_000)),
        Rate::LineRate,
    ))
    .unwrap();
    let mut b = Host::new(HostConfig::new(mac(2), G10)).unwrap();
    let pfc = MacControlRepr::Pfc {
        enable: 0xff,
        quanta: [0xffff; 8],
    }
    .emit_frame(mac(2));
    b.send_frame(Bytes::copy_from_slice(&pfc));
    let (a, b) = (w.add_host("a", a), w.add_host("b", b));
    let spec = LinkSpec {
        speed_bps: G10,
        cable_m: 1,
    };
    w.connect((a, Host::PORT), (b, Host::PORT), spec).unwrap();
    w.run_until(Instant::from_nanos(200_000)).unwrap();
    assert_eq!(w.host(a).unwrap().counters().pfc_rx, 1);
    assert_eq!(w.host(a).unwrap().paused_ps(3), 0);
    assert_eq!(w.host(b).unwrap().flow_rx(1).unwrap().max_gap_ps, 819_200);
}

#[test]
fn connect_checks_ports_and_speeds() {
    let mut w = World::new(10);
    let a = w.add_host("a", Host::new(HostConfig::new(mac(1), G10)).unwrap());
    let b = w.add_host("b", Host::new(HostConfig::new(mac(2), G10)).unwrap());
    let c = w.add_host("c", Host::new(HostConfig::new(mac(3), G10)).unwrap());
    let ten = LinkSpec {
        speed_bps: G10,
        cable_m: 1,
    };
    let slow = LinkSpec {
        speed_bps: G10 / 10,
        cable_m: 1,
    };
    assert!(matches!(
        w.connect((a, Host::PORT), (b, Host::PORT), slow),
        Err(WorldError::SpeedMismatch { .. })
    ));
    assert!(matches!(
        w.connect((a, Host::PORT), (b, dataplane::PortIndex(1)), ten),
        Err(WorldError::UnknownPort { .. })
    ));
    w.connect((a, Host::PORT), (b, Host::PORT), ten).unwrap();
    assert!(matches!(
        w.connect((c, Host::PORT), (b, Host::PORT), ten),
        Err(WorldError::PortAlreadyLinked { .. })
    ));
}
