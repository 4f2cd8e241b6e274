//! Stack forwarding between two engines wired back to back by hand.
#![allow(missing_docs)]

mod common;

use bytes::Bytes;
use common::*;
use dataplane::fdb::FdbDestination;
use dataplane::stack::StackRoute;
use dataplane::wire::{L2Header, StackFrameKind, StackHeaderRepr, VlanTag};
use dataplane::{Engine, Event, Transmit};

// Port indices on both units: 0, 1 front ports 1 and 2 (VLAN 10); 2, 3 stack ports 1 and 2.
const S1: u16 = 2;
const S2: u16 = 3;

fn unit(n: u8) -> Engine {
    let mut e = engine(
        n,
        vec![
            access(1, G10, 10),
            access(2, G10, 10),
            stack_port(1, G10),
            stack_port(2, G10),
        ],
    );
    let other = if n == 1 { 2 } else { 1 };
    e.set_stack_route(
        other,
        Some(StackRoute {
            primary: p(S1),
            backup: Some(p(S2)),
        }),
    )
    .unwrap();
    e.set_flood_ports(&[p(S1)]).unwrap();
    e
}

/// Drains both units at `now`; frames leaving a stack port are handed to the same stack port
/// of the other unit. Returns the front-port transmissions of (unit 1, unit 2) and the stack
/// frames seen on the wire.
struct Pair {
    u1: Engine,
    u2: Engine,
    wire: Vec<(u8, Transmit)>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            u1: unit(1),
            u2: unit(2),
            wire: Vec::new(),
        }
    }

    fn run(&mut self, now: dataplane::time::Instant) -> (Vec<Transmit>, Vec<Transmit>) {
        let mut fronts = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let a = drain(&mut self.u1, now);
            let b = drain(&mut self.u2, now);
            if a.is_empty() && b.is_empty() {
                return fronts;
            }
            for t in a {
                if t.port.0 >= S1 {
                    self.u2.handle_frame(now, t.port, t.frame.clone());
                    self.wire.push((1, t));
                } else {
                    fronts.0.push(t);
                }
            }
            for t in b {
                if t.port.0 >= S1 {
                    self.u1.handle_frame(now, t.port, t.frame.clone());
                    self.wire.push((2, t));
                } else {
                    fronts.1.push(t);
                }
            }
        }
        panic!("frames loop between the units");
    }
}

fn ports(tx: &[Transmit]) -> Vec<u16> {
    let mut v: Vec<u16> = tx.iter().map(|t| t.port.0).collect();
    v.sort();
    v
}

#[test]
fn hosts_on_two_units_find_each_other() {
    let mut s = Pair::new();
    // A (unit 1, port 1) → B unknown: flooded on unit 1 and across the stack to unit 2.
    let f = tagged(host(2), host(1), 5, 10, 100, 1);
    s.u1.handle_frame(us(1), p(0), f.clone());
    let (f1, f2) = s.run(us(1));
    assert_eq!(ports(&f1), vec![1]);
    assert_eq!(ports(&f2), vec![0, 1]);
    for t in &f2 {
        assert_eq!(&t.frame[..12], &f[..12]);
        assert_eq!(
            &t.frame[12..],
            &f[16..],
            "untagged on access, as it entered"
        );
    }
    assert_eq!(s.wire.len(), 1);
    let (from, t) = &s.wire[0];
    assert_eq!((*from, t.port.0), (1, S1));
    let h = StackHeaderRepr::parse_frame(&t.frame).unwrap();
    assert_eq!(
        h,
        StackHeaderRepr {
            kind: StackFrameKind::Data,
            flood: true,
            src_unit: 1,
            src_port: 1,
            dst_unit: 0,
            dst_port: 0,
            priority: 5,
            hop_limit: 8,
            vlan: VlanTag {
                pcp: 5,
                dei: false,
                vid: 10
            },
        }
    );
    assert_eq!(
        s.u2.fdb().lookup(10, host(1)),
        Some(FdbDestination::Remote { unit: 1, port: 1 })
    );
    // B (unit 2, port 2) answers: unicast over the stack to unit 1 port 1.
    s.wire.clear();
    s.u2.handle_frame(us(2), p(1), untagged(host(1), host(2), 80, 2));
    let (f1, f2) = s.run(us(2));
    assert!(f2.is_empty());
    assert_eq!(ports(&f1), vec![0]);
    assert_eq!(f1[0].frame.len(), 80);
    let h = StackHeaderRepr::parse_frame(&s.wire[0].1.frame).unwrap();
    assert_eq!((s.wire[0].0, s.wire[0].1.port.0), (2, S1));
    assert!(!h.flood);
    assert_eq!(
        (
            h.src_unit,
            h.src_port,
            h.dst_unit,
            h.dst_port,
            h.priority,
            h.hop_limit
        ),
        (2, 2, 1, 1, 0, 8)
    );
    assert_eq!(
        s.u1.fdb().lookup(10, host(2)),
        Some(FdbDestination::Remote { unit: 2, port: 2 })
    );
    let evs = events(&mut s.u1);
    assert!(evs.contains(&Event::Learned {
        vid: 10,
        mac: host(2),
        dest: FdbDestination::Remote { unit: 2, port: 2 }
    }));
    // A → B now goes by the route, unicast, to unit 2 port 2 only.
    s.wire.clear();
    s.u1.handle_frame(us(3), p(0), tagged(host(2), host(1), 3, 10, 100, 3));
    let (f1, f2) = s.run(us(3));
    assert!(f1.is_empty());
    assert_eq!(ports(&f2), vec![1]);
    let h = StackHeaderRepr::parse_frame(&s.wire[0].1.frame).unwrap();
    assert_eq!(
        (h.flood, h.src_unit, h.src_port, h.dst_unit, h.dst_port, h.priority),
        (false, 1, 1, 2, 2, 3)
    );
    assert_eq!(h.vlan.pcp, 3);
    // Primary stack link down: unicast moves to the backup at once, nothing reprogrammed.
    s.u1.set_port_up(us(4), p(S1), false).unwrap();
    s.wire.clear();
    s.u1.handle_frame(us(4), p(0), untagged(host(2), host(1), 100, 4));
    let (_, f2) = s.run(us(4));
    assert_eq!(ports(&f2), vec![1]);
    assert_eq!(s.wire.len(), 1);
    assert_eq!((s.wire[0].0, s.wire[0].1.port.0), (1, S2));
    assert_eq!(
        s.u1.stack_table().route(2),
        Some(StackRoute {
            primary: p(S1),
            backup: Some(p(S2))
        })
    );
}

fn stacked(h: StackHeaderRepr, inner: &Bytes) -> Bytes {
    let mut out = Vec::new();
    h.encapsulate(inner, &mut out).unwrap();
    Bytes::from(out)
}

fn data_header(src_unit: u8, dst_unit: u8, hop_limit: u8) -> StackHeaderRepr {
    StackHeaderRepr {
        kind: StackFrameKind::Data,
        flood: false,
        src_unit,
        src_port: 1,
        dst_unit,
        dst_port: 1,
        priority: 2,
        hop_limit,
        vlan: VlanTag {
            pcp: 2,
            dei: false,
            vid: 10,
        },
    }
}

#[test]
fn transit_hop_limit_and_loops() {
    let mut e = unit(2);
    e.set_stack_route(
        3,
        Some(StackRoute {
            primary: p(S2),
            backup: None,
        }),
    )
    .unwrap();
    let inner = untagged(host(9), host(1), 80, 1);
    // Transit to unit 3 with hop limit 2: forwarded on S2 with hop limit 1.
    e.handle_frame(us(1), p(S1), stacked(data_header(1, 3, 2), &inner));
    let out = drain(&mut e, us(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].port, p(S2));
    let h = StackHeaderRepr::parse_frame(&out[0].frame).unwrap();
    assert_eq!(h, data_header(1, 3, 1));
    assert_eq!(&out[0].frame[24..], &inner[12..]);
    // Hop limit 1 in transit: dropped.
    e.handle_frame(us(2), p(S1), stacked(data_header(1, 3, 1), &inner));
    assert!(drain(&mut e, us(2)).is_empty());
    assert_eq!(e.port_counters(p(S1)).unwrap().hop_limit_discards, 1);
    // Our own frame back: dropped as a loop, not learned.
    e.handle_frame(us(3), p(S1), stacked(data_header(2, 3, 8), &inner));
    let mut flood = data_header(2, 0, 8);
    flood.flood = true;
    e.handle_frame(us(3), p(S1), stacked(flood, &inner));
    assert!(drain(&mut e, us(3)).is_empty());
    assert_eq!(e.port_counters(p(S1)).unwrap().stack_loop_discards, 2);
    assert_eq!(e.fdb().len(), 1, "only unit 1's host was learned");
    // A flood with hop limit 1 reaches local ports but goes no further along the tree.
    e.set_flood_ports(&[p(S1), p(S2)]).unwrap();
    let mut flood = data_header(1, 0, 1);
    flood.flood = true;
    e.handle_frame(us(4), p(S1), stacked(flood, &inner));
    assert_eq!(ports(&drain(&mut e, us(4))), vec![0, 1]);
    flood.hop_limit = 3;
    e.handle_frame(us(5), p(S1), stacked(flood, &inner));
    let out = drain(&mut e, us(5));
    assert_eq!(ports(&out), vec![0, 1, S2]);
    let on = on_port(&out, p(S2));
    assert_eq!(StackHeaderRepr::parse_frame(&on[0]).unwrap().hop_limit, 2);
}

/// A transit frame never goes back where it came from: a route whose primary points at the
/// ingress port (stale: the neighbour re-routed round a dead link while this unit's control
/// plane was away) sends it on the backup path instead, and with no other way it is dropped
/// rather than bounced.
#[test]
fn transit_frames_never_go_back_out_of_their_ingress_port() {
    let mut e = unit(2);
    e.set_stack_route(
        3,
        Some(StackRoute {
            primary: p(S1),
            backup: Some(p(S2)),
        }),
    )
    .unwrap();
    let inner = untagged(host(9), host(1), 80, 1);
    e.handle_frame(us(1), p(S1), stacked(data_header(1, 3, 8), &inner));
    let out = drain(&mut e, us(1));
    assert_eq!(ports(&out), vec![S2], "the backup, not back out of S1");
    // From the other side the primary is the way on, as usual.
    e.handle_frame(us(2), p(S2), stacked(data_header(4, 3, 8), &inner));
    assert_eq!(ports(&drain(&mut e, us(2))), vec![S1]);
    // No backup: dropped, not bounced.
    e.set_stack_route(
        3,
        Some(StackRoute {
            primary: p(S1),
            backup: None,
        }),
    )
    .unwrap();
    e.handle_frame(us(3), p(S1), stacked(data_header(1, 3, 8), &inner));
    assert!(drain(&mut e, us(3)).is_empty());
    assert_eq!(e.port_counters(p(S1)).unwrap().no_route_discards, 1);
}

#[test]
fn stack_frames_on_front_ports_and_control_frames_on_stack_ports() {
    let mut e = unit(1);
    let inner = untagged(host(9), host(5), 80, 1);
    let f = stacked(data_header(2, 1, 8), &inner);
    e.handle_frame(us(1), p(0), f);
    assert!(drain(&mut e, us(1)).is_empty());
    assert_eq!(e.port_counters(p(0)).unwrap().rx_stack_on_front_discards, 1);
    assert_eq!(e.fdb().len(), 0);
    // With no control plane attached, control frames pass through to the other stack ports,
    // one hop less, and die when their hop limit is spent.
    let mut relay = data_header(2, 1, 3);
    relay.kind = StackFrameKind::Control;
    e.handle_frame(us(1), p(S1), stacked(relay, &inner));
    let out = drain(&mut e, us(1));
    assert_eq!(ports(&out), vec![S2]);
    let on = on_port(&out, p(S2));
    assert_eq!(StackHeaderRepr::parse_frame(&on[0]).unwrap().hop_limit, 2);
    relay.hop_limit = 1;
    e.handle_frame(us(1), p(S1), stacked(relay, &inner));
    assert!(drain(&mut e, us(1)).is_empty());
    assert_eq!(e.port_counters(p(S1)).unwrap().stack_control_dropped, 1);
    assert!(e.poll_packet_in().is_none());
    // Attached: hello and control frames go to the control path, whole.
    e.set_control_attached(true);
    let mut hello = data_header(2, 1, 1);
    hello.kind = StackFrameKind::Hello;
    let hf = stacked(hello, &inner);
    e.handle_frame(us(2), p(S2), hf.clone());
    let mut ctl = data_header(2, 1, 1);
    ctl.kind = StackFrameKind::Control;
    let cf = stacked(ctl, &inner);
    e.handle_frame(us(2), p(S1), cf.clone());
    assert!(drain(&mut e, us(2)).is_empty());
    let a = e.poll_packet_in().unwrap();
    assert_eq!((a.port, a.frame), (p(S2), hf));
    let b = e.poll_packet_in().unwrap();
    assert_eq!((b.port, b.frame), (p(S1), cf));
    assert!(e.poll_packet_in().is_none());
    assert_eq!(e.port_counters(p(S2)).unwrap().stack_control_punted, 1);
    // A plain frame on a stack port is not forwarded.
    e.handle_frame(us(3), p(S1), inner.clone());
    assert!(drain(&mut e, us(3)).is_empty());
    assert_eq!(
        e.port_counters(p(S1))
            .unwrap()
            .rx_non_stack_on_stack_discards,
        1
    );
    let _ = L2Header::parse(&inner).unwrap();
}

/// A flood arriving on a stack port off the flood tree: the neighbour's tree has that link and
/// ours does not. With no control plane here (it is restarting) ours is stale — a link failure
/// elsewhere opened the ring's blocked link — so the port joins the flood set until the tree
/// is programmed again, and this unit's floods reach the units behind it. With a control plane
/// attached the frame is dropped, as a blocked port drops it.
#[test]
fn floods_off_the_tree_are_adopted_without_a_control_plane_and_dropped_with_one() {
    let mut e = unit(2); // flood tree {S1}; no control plane attached
    let local = untagged(host(8), host(2), 80, 2); // to a station nobody has seen
    e.handle_frame(us(1), p(0), local.clone());
    assert_eq!(
        ports(&drain(&mut e, us(1))),
        vec![1, S1],
        "along the tree only"
    );

    // The neighbour on S2 floods: its tree has the S2 link now.
    let mut flood = data_header(1, 0, 8);
    flood.flood = true;
    e.handle_frame(
        us(2),
        p(S2),
        stacked(flood, &untagged(host(9), host(1), 80, 1)),
    );
    assert_eq!(
        ports(&drain(&mut e, us(2))),
        vec![0, 1, S1],
        "delivered and flooded on"
    );
    assert_eq!(e.stack_table().adopted_flood_ports(), 1 << S2);
    assert_eq!(
        e.stack_table().flood_ports(),
        1 << S1,
        "the programmed tree reads back as it was"
    );
    e.handle_frame(us(3), p(0), local.clone());
    assert_eq!(
        ports(&drain(&mut e, us(3))),
        vec![1, S1, S2],
        "our floods reach the units behind S2 too"
    );

    // The control plane programs the tree again: the adoption ends.
    e.set_flood_ports(&[p(S1)]).unwrap();
    e.handle_frame(us(4), p(0), local.clone());
    assert_eq!(ports(&drain(&mut e, us(4))), vec![1, S1]);

    // Attached: a flood off the tree is dropped, counted, not learned, not adopted.
    e.set_control_attached(true);
    let learned = e.fdb().len();
    let mut flood = data_header(3, 0, 8);
    flood.flood = true;
    e.handle_frame(
        us(5),
        p(S2),
        stacked(flood, &untagged(host(9), host(3), 80, 3)),
    );
    assert!(drain(&mut e, us(5)).is_empty());
    assert_eq!(e.port_counters(p(S2)).unwrap().flood_off_tree_discards, 1);
    assert_eq!(e.fdb().len(), learned, "not learned");
    assert_eq!(e.stack_table().adopted_flood_ports(), 0);
    e.handle_frame(us(6), p(0), local);
    assert_eq!(ports(&drain(&mut e, us(6))), vec![1, S1]);
}
