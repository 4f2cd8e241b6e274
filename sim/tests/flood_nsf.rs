//! Flooding across a ring while one unit's control plane is away (NSF, DESIGN.md §3–4).
//!
//! The ring's flood tree blocks one link. A unit at one end of it restarts its control plane,
//! and while it is away a link elsewhere is cut: the other units' control planes open the
//! blocked link, but the restarting unit's dataplane still has the old tree. Broadcasts from
//! its host must still reach every other host exactly once — the dataplane adopts the link its
//! neighbour floods on — and, once the cut link is mended and the others block the link again,
//! still exactly once (the neighbour drops what arrives off its tree). When the control plane
//! is back it programs the tree and the adoption ends.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use dataplane::PortIndex;
use sim::stack::{host_mac, HostRef, Stack, StackSpec};
use sim::world::NodeId;

const UNITS: u8 = 4;
/// Broadcast frames each probe sends.
const PROBE: u64 = 50;

/// Port indices of a unit's two stack ports (one host per unit: the host is port 0).
const S1: PortIndex = PortIndex(1);
const S2: PortIndex = PortIndex(2);

fn unit(s: &Stack, u: u8) -> NodeId {
    s.unit_node(u).expect("unit")
}

fn host_of(s: &Stack, u: u8) -> NodeId {
    s.host_node(HostRef { unit: u, port: 1 }).expect("host")
}

/// The ring's cables as ((unit, port), (unit, port)): unit u's S2 to unit u+1's S1.
fn cables() -> Vec<((u8, PortIndex), (u8, PortIndex))> {
    (1..=UNITS)
        .map(|u| ((u, S2), (u % UNITS + 1, S1)))
        .collect()
}

fn flood_set(s: &Stack, u: u8) -> u64 {
    let t = s.world().switch(unit(s, u)).unwrap().stack_table();
    t.flood_set()
}

fn on_tree(s: &Stack, (u, p): (u8, PortIndex)) -> bool {
    flood_set(s, u) & (1 << p.0) != 0
}

/// `PROBE` broadcasts from unit `from`'s host; how many each host received, by unit.
fn probe(s: &mut Stack, from: u8, id: u32) -> Vec<u64> {
    common::broadcast_probe(
        s,
        HostRef {
            unit: from,
            port: 1,
        },
        id,
        PROBE,
    )
    .into_iter()
    .map(|(_, n)| n)
    .collect()
}

/// What every host should see from a probe of `from`: `PROBE` each, none for the sender.
fn everyone_once(from: u8) -> Vec<u64> {
    (1..=UNITS)
        .map(|u| if u == from { 0 } else { PROBE })
        .collect()
}

#[test]
fn broadcasts_reach_every_unit_once_while_a_control_plane_is_away_and_a_link_is_cut() {
    let mut s = Stack::build(StackSpec {
        units: UNITS,
        hosts_per_unit: 1,
        traffic: vec![],
        ..StackSpec::default()
    })
    .unwrap();
    s.run_for(Duration::from_millis(200)).unwrap();
    s.check_one_master().unwrap();
    s.check_routes().unwrap();
    // Hosts announce themselves (the switches learn them); the probes' frames are all that
    // reach `rx_other` after this.
    for u in 1..=UNITS {
        let (h, mac) = (host_of(&s, u), host_mac(HostRef { unit: u, port: 1 }));
        s.world_mut()
            .host_mut(h)
            .unwrap()
            .send_frame(sim::host::flow::announce(mac));
    }
    s.run_for(Duration::from_millis(5)).unwrap();
    assert_eq!(probe(&mut s, 1, 1), everyone_once(1), "healthy ring");

    // The blocked link: on neither end's tree.
    let blocked: Vec<_> = cables()
        .into_iter()
        .filter(|&(a, b)| !on_tree(&s, a) && !on_tree(&s, b))
        .collect();
    assert_eq!(blocked.len(), 1, "a ring's tree blocks exactly one link");
    let ((x, x_port), (y, y_port)) = blocked[0];
    // The cable opposite the blocked one: adjacent to neither x nor y.
    let ((c, c_port), _) = cables()
        .into_iter()
        .find(|&((a, _), (b, _))| ![x, y].contains(&a) && ![x, y].contains(&b))
        .expect("a 4-ring has an opposite cable");

    // x's control plane goes away; then the opposite cable is cut.
    let now = s.world().now();
    let xn = unit(&s, x);
    s.world_mut().unit_mut(xn).unwrap().stop_control(now);
    s.run_for(Duration::from_millis(5)).unwrap();
    let cn = unit(&s, c);
    s.world_mut().set_cut(cn, c_port, true).unwrap();
    s.run_for(Duration::from_millis(200)).unwrap();
    assert!(
        on_tree(&s, (y, y_port)),
        "y's control plane opened the blocked link"
    );
    assert_eq!(
        s.world().switch(xn).unwrap().stack_table().flood_ports() & (1 << x_port.0),
        0,
        "x's programmed tree is stale: nobody re-programmed it"
    );
    assert_eq!(probe(&mut s, y, 2), everyone_once(y), "from the other side");
    assert_eq!(
        probe(&mut s, x, 3),
        everyone_once(x),
        "from the unit without a control plane"
    );
    assert!(on_tree(&s, (x, x_port)), "x adopted the link y floods on");

    // The cable is mended: the others block the link again, x (still away) keeps flooding on
    // it, and y drops those copies. Still exactly once everywhere.
    s.world_mut().set_cut(cn, c_port, false).unwrap();
    s.run_for(Duration::from_millis(200)).unwrap();
    assert!(!on_tree(&s, (y, y_port)), "y blocks the link again");
    assert_eq!(probe(&mut s, x, 4), everyone_once(x), "no copy twice");
    assert_eq!(probe(&mut s, y, 5), everyone_once(y));
    let yn = unit(&s, y);
    let dropped = s
        .world()
        .switch(yn)
        .unwrap()
        .port_counters(y_port)
        .unwrap()
        .flood_off_tree_discards;
    assert_eq!(dropped, PROBE, "y dropped x's copies on the blocked link");

    // x's control plane is back: it programs the tree, and the adoption ends.
    let now = s.world().now();
    s.world_mut().unit_mut(xn).unwrap().start_control(now);
    s.run_for(Duration::from_millis(300)).unwrap();
    assert!(s.world().unit(xn).unwrap().control_synced());
    assert_eq!(
        s.world()
            .switch(xn)
            .unwrap()
            .stack_table()
            .adopted_flood_ports(),
        0
    );
    assert_eq!(probe(&mut s, x, 6), everyone_once(x));
    s.check_one_master().unwrap();
}
