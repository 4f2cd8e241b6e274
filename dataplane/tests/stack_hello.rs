//! Stack-link hellos between two engines wired back to back by two cables (a two-unit ring):
//! links come up on the first hello, die three intervals after the last one, unicast moves to
//! the backup port by itself, and the "control attached" flag reaches the neighbour.
#![allow(missing_docs)]

mod common;

use common::*;
use dataplane::config::EngineConfig;
use dataplane::fdb::FdbDestination;
use dataplane::hello::HelloConfig;
use dataplane::stack::StackRoute;
use dataplane::time::Instant;
use dataplane::wire::{L2Header, StackHeaderRepr};
use dataplane::{Engine, Event};

// Port indices on both units: 0 front port 1 (VLAN 10); 1, 2 stack ports 1 and 2.
const FRONT: u16 = 0;
const S1: u16 = 1;
const S2: u16 = 2;
const MS: u64 = 1_000_000_000;

fn unit(n: u8) -> Engine {
    let mut cfg = EngineConfig::new(
        n,
        vec![access(1, G10, 10), stack_port(1, G10), stack_port(2, G10)],
    );
    cfg.watchdog = None;
    cfg.hello = Some(HelloConfig::default());
    let mut e = engine_with(cfg);
    let other = 3 - n;
    e.set_stack_route(
        other,
        Some(StackRoute {
            primary: p(S1),
            backup: Some(p(S2)),
        }),
    )
    .unwrap();
    e.set_control_attached(true);
    // Each unit knows the other's host statically.
    e.add_static_fdb(
        10,
        host(other),
        FdbDestination::Remote {
            unit: other,
            port: 1,
        },
    )
    .unwrap();
    e
}

struct Ring {
    units: [Engine; 2],
    /// Whether the cable between the stack ports with this index is connected.
    cable: [bool; 3],
    events: Vec<(Instant, u8, Event)>,
    /// Front-port deliveries: (time, unit, frame).
    delivered: Vec<(Instant, u8, bytes::Bytes)>,
    /// Stack ports data frames crossed on: (unit it left, port).
    crossed: Vec<(u8, u16)>,
}

impl Ring {
    fn new() -> Self {
        Ring {
            units: [unit(1), unit(2)],
            cable: [false, true, true],
            events: vec![],
            delivered: vec![],
            crossed: vec![],
        }
    }

    /// Runs both units in 100 µs steps up to `until` (cables have no delay at this scale).
    fn run_to(&mut self, from: Instant, until: Instant) -> Instant {
        let mut now = from;
        let mut steps = 0;
        while now < until {
            steps += 1;
            assert!(steps < 100_000);
            now = now.plus_ps(100_000_000);
            for u in 0..2 {
                self.units[u].handle_timeout(now);
                let txs = drain(&mut self.units[u], now);
                while let Some(e) = self.units[u].poll_event() {
                    self.events.push((now, u as u8 + 1, e));
                }
                for t in txs {
                    if t.port.0 == FRONT {
                        self.delivered.push((now, u as u8 + 1, t.frame));
                    } else if self.cable[usize::from(t.port.0)] {
                        if StackHeaderRepr::parse_frame(&t.frame).map(|h| h.kind)
                            == Ok(dataplane::wire::StackFrameKind::Data)
                        {
                            self.crossed.push((u as u8 + 1, t.port.0));
                        }
                        self.units[1 - u].handle_frame(now, t.port, t.frame);
                    }
                }
            }
        }
        now
    }

    fn port_events(&self, unit: u8) -> Vec<(u16, bool, u8)> {
        self.events
            .iter()
            .filter(|(_, u, _)| *u == unit)
            .filter_map(|(_, _, e)| match e {
                Event::PortState {
                    port,
                    up,
                    neighbor_unit,
                } => Some((port.0, *up, *neighbor_unit)),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn stack_ports_wait_for_hellos_then_forward() {
    let mut ring = Ring::new();
    assert!(
        !ring.units[0].port_up(p(S1)),
        "a stack port is down until the peer's hellos arrive"
    );
    let now = ring.run_to(Instant::ZERO, Instant::from_ps(MS));
    assert!(ring.units[0].port_up(p(S1)) && ring.units[0].port_up(p(S2)));
    assert_eq!(ring.port_events(1), vec![(S1, true, 2), (S2, true, 2)]);
    assert_eq!(
        ring.units[0].hello_peer(p(S1)).map(|h| (h.unit, h.port)),
        Some((2, 1))
    );

    ring.units[0].handle_frame(now, p(FRONT), untagged(host(2), host(1), 100, 7));
    ring.run_to(now, now.plus_ps(MS));
    assert_eq!(
        ring.crossed,
        vec![(1, S1)],
        "unicast takes the primary stack port"
    );
    let (_, u, f) = ring.delivered.last().expect("delivered on unit 2");
    assert_eq!(*u, 2);
    assert_eq!(L2Header::parse(f).unwrap().src, host(1));
}

#[test]
fn a_dead_stack_link_moves_unicast_to_the_backup_by_itself() {
    let mut ring = Ring::new();
    let mut now = ring.run_to(Instant::ZERO, Instant::from_ps(5 * MS));
    let cut_at = now;
    ring.cable[usize::from(S1)] = false;
    // Keep a frame every millisecond flowing from host 1 to host 2.
    let mut sent = 0;
    while now < cut_at.plus_ps(60 * MS) {
        ring.units[0].handle_frame(now, p(FRONT), untagged(host(2), host(1), 100, sent as u8));
        sent += 1;
        now = ring.run_to(now, now.plus_ps(MS));
    }
    let downs: Vec<_> = ring
        .events
        .iter()
        .filter(|(_, u, e)| {
            *u == 1 && matches!(e, Event::PortState { port, up: false, .. } if port.0 == S1)
        })
        .collect();
    assert_eq!(downs.len(), 1, "unit 1 sees stack port 1 go down once");
    let dead_after = downs[0].0.as_ps() - cut_at.as_ps();
    // The last hello crossed at most one interval before the cut; dead after 3 intervals.
    assert!(
        (20 * MS..=31 * MS).contains(&dead_after),
        "declared dead {} ms after the cut",
        dead_after / MS
    );
    assert!(
        ring.crossed.iter().any(|&(u, port)| u == 1 && port == S2),
        "traffic moved to the backup port"
    );
    // Frames sent into the dead link before detection are lost; afterwards every one arrives.
    let after: Vec<_> = ring
        .delivered
        .iter()
        .filter(|(t, u, _)| *u == 2 && *t > downs[0].0)
        .collect();
    let sent_after = (cut_at.plus_ps(60 * MS).as_ps() - downs[0].0.as_ps()) / MS;
    assert!(
        after.len() as u64 >= sent_after - 1,
        "{} delivered after the repair, {} sent",
        after.len(),
        sent_after
    );
    assert_eq!(ring.units[0].hello_counters(p(S1)).unwrap().link_downs, 1);

    // The cable comes back: hellos bring the link up again and the primary is used again.
    ring.cable[usize::from(S1)] = true;
    let back = ring.run_to(now, now.plus_ps(15 * MS));
    assert!(ring.units[0].port_up(p(S1)));
    ring.crossed.clear();
    ring.units[0].handle_frame(back, p(FRONT), untagged(host(2), host(1), 100, 0xee));
    ring.run_to(back, back.plus_ps(MS));
    assert_eq!(ring.crossed, vec![(1, S1)]);
}

#[test]
fn neighbours_see_the_control_plane_detach_and_return() {
    let mut ring = Ring::new();
    let now = ring.run_to(Instant::ZERO, Instant::from_ps(5 * MS));
    ring.events.clear();
    ring.units[1].set_control_attached(false);
    let now = ring.run_to(now, now.plus_ps(15 * MS));
    let seen: Vec<_> = ring
        .events
        .iter()
        .filter_map(|(_, u, e)| match e {
            Event::NeighborControl {
                port,
                neighbor_unit: 2,
                attached,
            } if *u == 1 => Some((port.0, *attached)),
            _ => None,
        })
        .collect();
    assert_eq!(seen, vec![(S1, false), (S2, false)]);
    assert!(
        ring.port_events(1).is_empty(),
        "a detached control plane is not a link failure"
    );
    ring.units[1].set_control_attached(true);
    ring.run_to(now, now.plus_ps(15 * MS));
    assert!(ring.units[0].hello_peer(p(S2)).unwrap().control_attached);
}
