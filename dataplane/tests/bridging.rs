//! Bridging through the engine: flooding, learning, moves, ageing, 802.1Q access/trunk rules.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use dataplane::fdb::FdbDestination;
use dataplane::wire::{L2Header, MacAddr, VlanTag};
use dataplane::{Engine, EngineConfig, Event};

/// p0: access 10 (default priority 5), p1: access 10, p2: trunk native 1 allowed 10,20,
/// p3: access 20, p4: trunk no native allowed 30, p5: access 1.
fn bridge() -> Engine {
    let mut p0 = access(1, G10, 10);
    p0.default_priority = 5;
    engine(
        1,
        vec![
            p0,
            access(2, G10, 10),
            trunk(3, G10, Some(1), &[10, 20]),
            access(4, G10, 20),
            trunk(5, G10, None, &[30]),
            access(6, G10, 1),
        ],
    )
}

fn tx_at(e: &mut Engine, at: u64, port: u16, f: bytes::Bytes) -> Vec<dataplane::Transmit> {
    e.handle_frame(us(at), p(port), f);
    let out = drain(e, us(at));
    assert!(
        out.iter().all(|t| t.port != p(port)),
        "a frame went back out of its ingress port"
    );
    out
}

fn ports_of(tx: &[dataplane::Transmit]) -> Vec<u16> {
    let mut v: Vec<u16> = tx.iter().map(|t| t.port.0).collect();
    v.sort();
    v
}

#[test]
fn unknown_unicast_floods_once_to_each_other_member_of_the_vlan() {
    let mut e = bridge();
    let f = untagged(host(9), host(1), 100, 0xaa);
    let out = tx_at(&mut e, 1, 0, f.clone());
    // VLAN 10 members: p0 (ingress), p1, p2. Not p3 (20), p4 (30), p5 (1).
    assert_eq!(ports_of(&out), vec![1, 2]);
    let on1 = on_port(&out, p(1));
    assert_eq!(on1[0], f, "access egress: unchanged, untagged");
    let on2 = on_port(&out, p(2));
    let h = L2Header::parse(&on2[0]).unwrap();
    assert_eq!(
        h.vlan,
        Some(VlanTag {
            pcp: 5,
            dei: false,
            vid: 10
        }),
        "trunk egress: tagged with VID 10 and the port's default priority"
    );
    assert_eq!(on2[0].len(), 104);
    assert_eq!(&on2[0][18..], &f[14..]);
    assert_eq!(
        events(&mut e),
        vec![Event::Learned {
            vid: 10,
            mac: host(1),
            dest: FdbDestination::Local(p(0))
        }]
    );
    // Broadcast: the same set.
    let out = tx_at(&mut e, 2, 0, untagged(BROADCAST, host(1), 64, 1));
    assert_eq!(ports_of(&out), vec![1, 2]);
    // VLAN 20 from the trunk: only p3.
    let out = tx_at(&mut e, 3, 2, tagged(host(9), host(3), 0, 20, 64, 1));
    assert_eq!(ports_of(&out), vec![3]);
}

#[test]
fn learned_unicast_goes_only_to_the_learned_port() {
    let mut e = bridge();
    tx_at(&mut e, 1, 0, untagged(host(2), host(1), 80, 1));
    // B answers A: A is known on p0.
    let out = tx_at(&mut e, 2, 1, untagged(host(1), host(2), 80, 2));
    assert_eq!(ports_of(&out), vec![0]);
    // A to B: only p1 now.
    let out = tx_at(&mut e, 3, 0, untagged(host(2), host(1), 80, 3));
    assert_eq!(ports_of(&out), vec![1]);
    assert_eq!(
        e.fdb().lookup(10, host(2)),
        Some(FdbDestination::Local(p(1)))
    );
    // The same MAC in another VLAN is not known: VLAN-aware learning.
    let out = tx_at(&mut e, 4, 2, tagged(host(2), host(7), 0, 20, 80, 4));
    assert_eq!(ports_of(&out), vec![3]);
    // A frame for a station on its own ingress port is filtered.
    let out = tx_at(&mut e, 5, 1, untagged(host(2), host(8), 80, 5));
    assert!(out.is_empty());
    assert_eq!(e.port_counters(p(1)).unwrap().rx_same_port_filtered, 1);
}

#[test]
fn station_move_raises_moved_and_traffic_follows() {
    let mut e = bridge();
    tx_at(&mut e, 1, 0, untagged(host(2), host(1), 80, 1));
    tx_at(&mut e, 2, 1, untagged(host(1), host(2), 80, 1));
    events(&mut e);
    // A moves to the trunk, VLAN 10 tagged.
    tx_at(&mut e, 3, 2, tagged(host(2), host(1), 0, 10, 80, 1));
    assert_eq!(
        events(&mut e),
        vec![Event::Moved {
            vid: 10,
            mac: host(1),
            from: FdbDestination::Local(p(0)),
            to: FdbDestination::Local(p(2)),
        }]
    );
    let out = tx_at(&mut e, 4, 1, untagged(host(1), host(2), 80, 2));
    assert_eq!(ports_of(&out), vec![2]);
    let h = L2Header::parse(&out[0].frame).unwrap();
    assert_eq!(h.vlan.map(|v| v.vid), Some(10));
}

#[test]
fn ageing_removes_idle_stations_and_flooding_resumes() {
    let mut cfg = EngineConfig::new(
        1,
        vec![access(1, G10, 10), access(2, G10, 10), access(3, G10, 10)],
    );
    cfg.watchdog = None;
    cfg.fdb.aging = Duration::from_secs(1);
    let mut e = engine_with(cfg);
    let mut d = Driver::new(ns(0));
    let t0 = ns(1000);
    d.feed(&mut e, t0, p(0), untagged(host(2), host(1), 80, 1));
    events(&mut e);
    // B talks to A: unicast to p0.
    d.feed(&mut e, us(10), p(1), untagged(host(1), host(2), 80, 1));
    d.step_to(&mut e, us(20));
    let tx = d.take();
    assert_eq!(tx.len(), 2 + 1);
    assert_eq!(tx.last().unwrap().1.port, p(0));
    events(&mut e);
    // Not aged just before the ageing time.
    d.step_to(&mut e, t0 + Duration::from_nanos(999_999_999));
    assert!(
        events(&mut e)
            .iter()
            .all(|ev| !matches!(ev, Event::Aged { mac, .. } if *mac == host(1))),
        "aged before its time"
    );
    assert!(e.fdb().lookup(10, host(1)).is_some());
    // Follow poll_timeout: aged within aging + aging/8 (the sweep interval).
    let limit = t0 + Duration::from_millis(1125) + Duration::from_micros(20);
    d.step_to(&mut e, limit);
    let evs = events(&mut e);
    assert!(
        evs.contains(&Event::Aged {
            vid: 10,
            mac: host(1),
            dest: FdbDestination::Local(p(0))
        }),
        "{evs:?}"
    );
    assert_eq!(e.fdb().lookup(10, host(1)), None);
    // B to A floods again.
    let now = d.now;
    d.feed(&mut e, now, p(1), untagged(host(1), host(2), 80, 2));
    d.step_to(&mut e, now + Duration::from_micros(10));
    let mut ports: Vec<u16> = d.take().iter().map(|(_, t)| t.port.0).collect();
    ports.sort();
    assert_eq!(ports, vec![0, 2]);
}

#[test]
fn tagged_trunk_to_access_is_untagged_and_priority_tag_is_accepted() {
    let mut e = bridge();
    let f = tagged(host(9), host(3), 3, 10, 100, 7);
    let out = tx_at(&mut e, 1, 2, f.clone());
    assert_eq!(ports_of(&out), vec![0, 1]);
    for t in &out {
        assert_eq!(t.frame.len(), 96);
        assert_eq!(&t.frame[..12], &f[..12]);
        assert_eq!(&t.frame[12..], &f[16..], "tag removed");
    }
    // Priority-tagged (VID 0) on an access port: VLAN 10, PCP kept on the trunk.
    let f = tagged(host(9), host(1), 6, 0, 100, 8);
    let out = tx_at(&mut e, 2, 0, f.clone());
    assert_eq!(ports_of(&out), vec![1, 2]);
    let t1 = &on_port(&out, p(1))[0];
    assert_eq!(L2Header::parse(t1).unwrap().vlan, None);
    assert_eq!(&t1[12..], &f[16..]);
    let t2 = &on_port(&out, p(2))[0];
    assert_eq!(
        L2Header::parse(t2).unwrap().vlan,
        Some(VlanTag {
            pcp: 6,
            dei: false,
            vid: 10
        })
    );
    assert_eq!(e.port_counters(p(0)).unwrap().rx_vlan_discards, 0);
}

#[test]
fn native_vlan_is_untagged_both_ways() {
    let mut e = bridge();
    // Untagged on the trunk: native VLAN 1, to p5 (access 1) only.
    let f = untagged(host(9), host(3), 100, 1);
    let out = tx_at(&mut e, 1, 2, f.clone());
    assert_eq!(ports_of(&out), vec![5]);
    assert_eq!(out[0].frame, f);
    // Explicitly tagged VID 1 on the trunk is the native VLAN too.
    let out = tx_at(&mut e, 2, 2, tagged(host(9), host(3), 0, 1, 100, 1));
    assert_eq!(ports_of(&out), vec![5]);
    assert_eq!(L2Header::parse(&out[0].frame).unwrap().vlan, None);
    // From p5 to the trunk: the native VLAN leaves untagged.
    let f = untagged(host(3), host(4), 100, 2);
    let out = tx_at(&mut e, 3, 5, f.clone());
    assert_eq!(ports_of(&out), vec![2]);
    assert_eq!(out[0].frame, f);
}

#[test]
fn vlans_not_allowed_are_discarded_and_counted() {
    let mut e = bridge();
    // VID 30 is not allowed on p2.
    assert!(tx_at(&mut e, 1, 2, tagged(host(9), host(3), 0, 30, 80, 1)).is_empty());
    // VID 10 tagged on access port p3 (VLAN 20).
    assert!(tx_at(&mut e, 2, 3, tagged(host(9), host(4), 0, 10, 80, 1)).is_empty());
    // Untagged on a trunk without native VLAN.
    assert!(tx_at(&mut e, 3, 4, untagged(host(9), host(5), 80, 1)).is_empty());
    assert_eq!(e.port_counters(p(2)).unwrap().rx_vlan_discards, 1);
    assert_eq!(e.port_counters(p(3)).unwrap().rx_vlan_discards, 1);
    assert_eq!(e.port_counters(p(4)).unwrap().rx_vlan_discards, 1);
    assert_eq!(e.fdb().len(), 0, "nothing learned from refused frames");
    // Tagged VID 30 on p4 is fine (but has no other member).
    assert!(tx_at(&mut e, 4, 4, tagged(host(9), host(5), 0, 30, 80, 1)).is_empty());
    assert_eq!(e.port_counters(p(4)).unwrap().rx_vlan_discards, 1);
    assert_eq!(e.fdb().len(), 1);
}

#[test]
fn link_local_frames_are_not_forwarded() {
    let mut e = bridge();
    let lldp = MacAddr::new(0x01, 0x80, 0xc2, 0, 0, 0x0e);
    assert!(tx_at(&mut e, 1, 0, untagged(lldp, host(1), 80, 1)).is_empty());
    let stp = MacAddr::new(0x01, 0x80, 0xc2, 0, 0, 0x00);
    assert!(tx_at(&mut e, 2, 2, tagged(stp, host(3), 0, 10, 80, 1)).is_empty());
    assert_eq!(e.port_counters(p(0)).unwrap().rx_link_local_discards, 1);
    assert_eq!(e.port_counters(p(2)).unwrap().rx_link_local_discards, 1);
    // 01-80-C2-00-00-10 is not link-local: flooded.
    let f = untagged(MacAddr::new(0x01, 0x80, 0xc2, 0, 0, 0x10), host(1), 80, 1);
    assert_eq!(ports_of(&tx_at(&mut e, 3, 0, f)), vec![1, 2]);
}

#[test]
fn short_frames_are_padded_to_60_after_untagging() {
    let mut e = bridge();
    for (len, at) in [(60usize, 1u64), (62, 2), (64, 3), (70, 4)] {
        let f = tagged(host(9), host(3), 0, 10, len, 0x5a);
        let out = tx_at(&mut e, at, 2, f.clone());
        assert_eq!(ports_of(&out), vec![0, 1]);
        for t in out {
            let want = (len - 4).max(60);
            assert_eq!(t.frame.len(), want, "{len}-byte tagged frame");
            assert_eq!(&t.frame[..12], &f[..12]);
            assert_eq!(&t.frame[12..len - 4], &f[16..]);
            assert!(t.frame[len - 4..].iter().all(|b| *b == 0), "zero padding");
        }
    }
}

#[test]
fn unicast_to_a_station_behind_a_down_port_is_not_queued() {
    let mut e = bridge();
    tx_at(&mut e, 1, 1, untagged(host(9), host(2), 80, 1));
    e.set_port_up(us(2), p(1), false).unwrap();
    let out = tx_at(&mut e, 3, 0, untagged(host(2), host(1), 80, 1));
    assert!(out.is_empty());
    // Nothing may sit in the buffer for a port that cannot send.
    let q: u64 = (0..8)
        .map(|tc| e.queue_counters(p(1), tc).unwrap().depth_frames)
        .sum();
    assert_eq!(q, 0, "frames queued on a down port");
    assert_eq!(e.port_counters(p(0)).unwrap().no_route_discards, 1);
    assert_eq!(e.pg_counters(p(0), 0).unwrap().occupancy(), 0);
    // Back up: delivered again.
    e.set_port_up(us(4), p(1), true).unwrap();
    let out = tx_at(&mut e, 5, 0, untagged(host(2), host(1), 80, 1));
    assert_eq!(ports_of(&out), vec![1]);
}
