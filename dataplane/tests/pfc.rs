//! PFC / PAUSE through the engine: the receiver rules (DESIGN.md §3, §7 invariant 3) on an
//! egress port, and XOFF / refresh / XON sent on an ingress port whose lossless PG fills.
#![allow(missing_docs)]

mod common;

use bytes::Bytes;
use common::*;
use dataplane::config::FlowControl;
use dataplane::time::Instant;
use dataplane::wire::{MacControlRepr, MAC_CONTROL_DST};
use dataplane::{Engine, EngineConfig, PortIndex};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Receiving.

/// p0: ingress; p1: PFC egress (E); p2: no flow control; p3: PAUSE port. All access VLAN 1, 10G.
fn rx_engine() -> (Engine, Driver) {
    let mut p3 = access(4, G10, 1);
    p3.flow_control = FlowControl::Pause;
    let mut e = engine(
        1,
        vec![
            access(1, G10, 1),
            pfc_receiver(access(2, G10, 1)),
            access(3, G10, 1),
            p3,
        ],
    );
    let mut d = Driver::new(ns(0));
    for (i, h) in [(1u16, 2u8), (2, 3), (3, 4)] {
        d.feed(&mut e, ns(0), p(i), untagged(host(1), host(h), 60, 0));
    }
    d.step_to(&mut e, us(1));
    d.take();
    (e, d)
}

/// Frame from host 1 to host `to` with priority `prio` (PCP), marked with its priority.
fn data(to: u8, prio: u8) -> Bytes {
    tagged(host(to), host(1), prio, 1, 100, prio)
}

fn marks(log: &[(Instant, Bytes)]) -> Vec<u8> {
    log.iter().map(|(_, f)| f[20]).collect()
}

#[test]
fn paused_priority_is_held_while_others_flow() {
    let (mut e, mut d) = rx_engine();
    let t = us(10);
    d.feed(&mut e, t, p(1), pfc_one(3, 0xffff));
    for _ in 0..5 {
        e.handle_frame(t, p(0), data(2, 3));
        e.handle_frame(t, p(0), data(2, 1));
    }
    // 0xffff quanta at 10G: 3.355392 ms.
    let pause = quanta_ps(0xffff, G10);
    assert_eq!(pause, 3_355_392_000);
    d.step_to(&mut e, t.plus_ps(pause - 1));
    let sent = d.sent_on(p(1));
    assert_eq!(
        marks(&sent),
        vec![1; 5],
        "priority 1 flows, priority 3 waits"
    );
    assert_eq!(e.queue_counters(p(1), 3).unwrap().depth_frames, 5);
    assert_eq!(e.paused_priorities(p(1)), 1 << 3);
    // Exactly at expiry the first priority-3 frame goes.
    d.step_to(&mut e, t.plus_ps(pause));
    let sent = d.sent_on(p(1));
    assert_eq!(sent.len(), 6);
    assert_eq!(sent[5], (t.plus_ps(pause), sent[5].1.clone()));
    assert_eq!(sent[5].1[20], 3);
    d.step_to(
        &mut e,
        t.plus_ps(pause) + std::time::Duration::from_micros(10),
    );
    assert_eq!(marks(&d.sent_on(p(1))), vec![1, 1, 1, 1, 1, 3, 3, 3, 3, 3]);
    let c = e.port_counters(p(1)).unwrap();
    assert_eq!(c.pfc_rx[3], 1);
    assert_eq!(c.pfc_rx.iter().sum::<u64>(), 1);
    assert_eq!(c.pfc_paused_ns[3], pause / 1000);
    assert_eq!(c.pfc_paused_ns[1], 0);
}

#[test]
fn quanta_zero_resumes_at_once() {
    let (mut e, mut d) = rx_engine();
    d.feed(&mut e, us(10), p(1), pfc_one(3, 0xffff));
    e.handle_frame(us(10), p(0), data(2, 3));
    d.step_to(&mut e, us(50));
    assert!(d.sent_on(p(1)).is_empty());
    d.feed(&mut e, us(50), p(1), pfc_one(3, 0));
    assert_eq!(e.paused_priorities(p(1)), 0);
    let out = drain(&mut e, us(50));
    assert_eq!(
        on_port(&out, p(1)).len(),
        1,
        "sent at the instant of the resume"
    );
    let c = e.port_counters(p(1)).unwrap();
    assert_eq!(c.pfc_rx[3], 2);
    assert_eq!(c.pfc_paused_ns[3], 40_000);
}

#[test]
fn pause_expires_after_exactly_quanta_times_512_bit_times() {
    let (mut e, mut d) = rx_engine();
    let t = us(10);
    d.feed(&mut e, t, p(1), pfc_one(3, 100));
    e.handle_frame(t, p(0), data(2, 3));
    let end = t.plus_ps(5_120_000); // 100 × 51.2 ns
    assert_eq!(
        e.poll_timeout(),
        Some(end),
        "the driver is told when the pause ends"
    );
    assert!(e.poll_transmit(Instant::from_ps(end.as_ps() - 1)).is_none());
    let tx = e.poll_transmit(end).expect("sent exactly at expiry");
    assert_eq!(tx.port, p(1));
}

#[test]
fn newer_frame_replaces_the_timer() {
    let (mut e, mut d) = rx_engine();
    let t = us(10);
    // Long pause, then a short one 1 µs later: it ends 512 ns after the second.
    d.feed(&mut e, t, p(1), pfc_one(3, 1000));
    e.handle_frame(t, p(0), data(2, 3));
    let t2 = t.plus_ps(1_000_000);
    d.feed(&mut e, t2, p(1), pfc_one(3, 10));
    let end = t2.plus_ps(512_000);
    assert_eq!(e.poll_timeout(), Some(end));
    assert!(e.poll_transmit(Instant::from_ps(end.as_ps() - 1)).is_none());
    assert!(e.poll_transmit(end).is_some());
    // Short pause, then a long one: it ends 1000 quanta after the second (not added).
    let t3 = us(100);
    d.feed(&mut e, t3, p(1), pfc_one(3, 10));
    e.handle_frame(t3, p(0), data(2, 3));
    let t4 = t3.plus_ps(100_000);
    d.feed(&mut e, t4, p(1), pfc_one(3, 1000));
    let end = t4.plus_ps(51_200_000);
    assert_eq!(e.poll_timeout(), Some(end));
    assert!(e.poll_transmit(Instant::from_ps(end.as_ps() - 1)).is_none());
    assert!(e.poll_transmit(end).is_some());
}

#[test]
fn zero_bits_change_nothing() {
    let (mut e, mut d) = rx_engine();
    let t = us(10);
    d.feed(&mut e, t, p(1), pfc_one(3, 1000));
    // Enable only priority 1 with quanta 0; priority 3's time field says 0 but its bit is 0.
    d.feed(&mut e, t.plus_ps(1000), p(1), pfc(1 << 1, [0; 8]));
    assert_eq!(e.paused_priorities(p(1)), 1 << 3);
    // Every bit but 3 set with long quanta: priority 3 keeps its own (shorter) timer.
    d.feed(&mut e, t.plus_ps(2000), p(1), pfc(!(1 << 3), [0xffff; 8]));
    assert_eq!(e.paused_priorities(p(1)), 0xff);
    d.feed(&mut e, t.plus_ps(3000), p(1), pfc(1 << 3, [0; 8]));
    assert_eq!(e.paused_priorities(p(1)), !(1u8 << 3));
    d.feed(&mut e, t.plus_ps(4000), p(1), pfc(!(1u8 << 3), [0; 8]));
    assert_eq!(e.paused_priorities(p(1)), 0);
    d.feed(&mut e, t.plus_ps(5000), p(1), pfc(0, [0xffff; 8]));
    assert_eq!(
        e.paused_priorities(p(1)),
        0,
        "an empty enable vector pauses nothing"
    );
    e.handle_frame(t.plus_ps(5000), p(0), data(2, 5));
    assert_eq!(on_port(&drain(&mut e, t.plus_ps(5000)), p(1)).len(), 1);
}

#[test]
fn port_without_flow_control_ignores_pfc_and_pause() {
    let (mut e, mut d) = rx_engine();
    d.feed(&mut e, us(10), p(2), pfc_one(3, 0xffff));
    d.feed(&mut e, us(10), p(2), pause(0xffff));
    e.handle_frame(us(10), p(0), data(3, 3));
    let out = drain(&mut e, us(10));
    assert_eq!(on_port(&out, p(2)).len(), 1);
    let c = e.port_counters(p(2)).unwrap();
    assert_eq!(c.flow_control_ignored, 2);
    assert_eq!(c.pfc_rx[3], 1);
    assert_eq!(c.pause_rx, 1);
    assert_eq!(c.pfc_paused_ns, [0; 8]);
    // A PFC port ignores PAUSE, a PAUSE port ignores PFC.
    d.feed(&mut e, us(20), p(1), pause(0xffff));
    assert_eq!(e.paused_priorities(p(1)), 0);
    assert_eq!(e.port_counters(p(1)).unwrap().flow_control_ignored, 1);
    d.feed(&mut e, us(20), p(3), pfc_one(3, 0xffff));
    assert_eq!(e.paused_priorities(p(3)), 0);
    assert_eq!(e.port_counters(p(3)).unwrap().flow_control_ignored, 1);
}

#[test]
fn pause_on_a_pause_port_stops_every_class() {
    let (mut e, mut d) = rx_engine();
    let t = us(10);
    d.feed(&mut e, t, p(3), pause(1000));
    for prio in 0..8 {
        e.handle_frame(t, p(0), data(4, prio));
    }
    let end = t.plus_ps(51_200_000);
    d.step_to(&mut e, Instant::from_ps(end.as_ps() - 1));
    assert!(d.sent_on(p(3)).is_empty());
    assert_eq!(e.paused_priorities(p(3)), 0xff);
    d.step_to(&mut e, end + std::time::Duration::from_micros(5));
    let sent = d.sent_on(p(3));
    assert_eq!(sent.len(), 8);
    assert_eq!(sent[0].0, end);
    let c = e.port_counters(p(3)).unwrap();
    assert_eq!(c.pause_rx, 1);
    assert_eq!(c.pfc_paused_ns, [51_200; 8]);
}

// ---------------------------------------------------------------------------------------------
// DESIGN.md §7 invariant 3 at engine level.

#[derive(Clone, Debug)]
enum Op {
    Data { prio: u8, len: usize },
    Pfc { enable: u8, quanta: [u16; 8] },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..8, 64usize..1500).prop_map(|(prio, len)| Op::Data { prio, len }),
        1 => (any::<u8>(), proptest::array::uniform8(prop_oneof![Just(0u16), 1u16..400, 2000u16..3000]))
            .prop_map(|(enable, quanta)| Op::Pfc { enable, quanta }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random PFC frames and traffic at random times: no data frame ever starts on the wire
    /// from E while (by an independent model of the receiver rules) a priority of its traffic
    /// class is paused; and once every pause is over, everything has been sent.
    #[test]
    fn no_transmission_while_paused(
        ops in proptest::collection::vec((0u64..20_000, op()), 1..120),
        tc_map in proptest::array::uniform8(0u8..8),
        speed in prop_oneof![Just(G1), Just(G10), Just(25_000_000_000u64)],
    ) {
        let mut egress = pfc_receiver(access(2, speed, 1));
        egress.priority_to_tc = tc_map;
        let mut e = engine(1, vec![access(1, 100_000_000_000, 1), egress]);
        let mut d = Driver::new(ns(0));
        d.feed(&mut e, ns(0), p(1), untagged(host(1), host(2), 60, 0));
        d.step_to(&mut e, us(1));
        d.take();
        // Model: per priority, (arrival, quanta) of the last PFC frame with its bit set.
        let mut last: [Option<(Instant, u16)>; 8] = [None; 8];
        let mut sent_frames = 0u64;
        let mut queued = 0u64;
        let check = |d: &mut Driver, last: &[Option<(Instant, u16)>; 8], sent: &mut u64| -> Result<(), TestCaseError> {
            for (at, t) in d.take() {
                prop_assert_eq!(t.port, p(1));
                let prio = t.frame[20];
                *sent += 1;
                let tc = tc_map[usize::from(prio)];
                for q in 0..8 {
                    if tc_map[q] != tc { continue; }
                    if let Some((a, quanta)) = last[q] {
                        let until = a.plus_ps(quanta_ps(quanta, speed));
                        prop_assert!(!(quanta > 0 && at < until),
                            "priority {} (TC {}) sent at {} while priority {} is paused until {}", prio, tc, at, q, until);
                    }
                }
            }
            Ok(())
        };
        let mut now = us(1);
        for (gap, op) in ops {
            now = now.plus_ps(gap * 1000);
            d.step_to(&mut e, now);
            check(&mut d, &last, &mut sent_frames)?;
            match op {
                Op::Data { prio, len } => {
                    e.handle_frame(now, p(0), tagged(host(2), host(1), prio, 1, len, prio));
                    queued += 1;
                }
                Op::Pfc { enable, quanta } => {
                    e.handle_frame(now, p(1), pfc(enable, quanta));
                    for q in 0..8 {
                        if enable & (1 << q) != 0 {
                            last[q] = Some((now, quanta[q]));
                        }
                    }
                }
            }
        }
        // 3000 quanta at 1G is 1.536 ms; 1500-byte frames × 120 at 1G about 1.5 ms.
        d.step_to(&mut e, now + std::time::Duration::from_millis(5));
        check(&mut d, &last, &mut sent_frames)?;
        prop_assert_eq!(sent_frames, queued, "everything goes once the pauses are over");
    }
}

// ---------------------------------------------------------------------------------------------
// Sending.

const XOFF: u64 = 20_000;
const XON: u64 = 8_000;

/// p0: 10G ingress with priority 3 (and 4) lossless; p1: 1G egress that honours PFC.
fn tx_engine(pause_quanta: u16, flow: Option<FlowControl>) -> Engine {
    let mut ingress = access(1, G10, 1)
        .with_lossless(3, thresholds(XOFF, XON, 30_000))
        .with_lossless(4, thresholds(XOFF, XON, 30_000));
    if let Some(f) = flow {
        ingress.flow_control = f;
    }
    let mut cfg = EngineConfig::new(1, vec![ingress, pfc_receiver(access(2, G1, 1))]);
    cfg.watchdog = None;
    cfg.pfc.pause_quanta = pause_quanta;
    engine_with(cfg)
}

/// MAC Control frames sent on `port`, with their times.
fn control_on(d: &Driver, port: PortIndex) -> Vec<(Instant, MacControlRepr)> {
    d.sent_on(port)
        .into_iter()
        .filter_map(|(at, f)| {
            let r = mac_control(&f)?;
            assert_eq!(&f[..6], &MAC_CONTROL_DST.octets());
            assert_eq!(f.len(), 60);
            Some((at, r))
        })
        .collect()
}

/// Sends priority `prio` 1000-byte frames at 10G line rate from `start` until the engine's
/// XOFF for it appears on p0 (as a lossless peer would stop), at most `max` frames.
fn fill_until_xoff(
    e: &mut Engine,
    d: &mut Driver,
    start: Instant,
    prio: u8,
    max: usize,
) -> Instant {
    let gap = wire_ps(1000, G10);
    let mut t = start;
    for _ in 0..max {
        d.feed(e, t, p(0), tagged(host(2), host(1), prio, 1, 1000, prio));
        d.step_to(e, t);
        if control_on(d, p(0))
            .iter()
            .any(|(_, r)| matches!(r, MacControlRepr::Pfc { enable, quanta } if enable & (1 << prio) != 0 && quanta[usize::from(prio)] != 0) || matches!(r, MacControlRepr::Pause { quanta } if *quanta != 0))
        {
            return t;
        }
        t = t.plus_ps(gap);
    }
    panic!("no XOFF after {max} frames");
}

fn learned(e: &mut Engine, d: &mut Driver) {
    d.feed(e, ns(0), p(1), untagged(host(1), host(2), 60, 0));
    d.step_to(e, us(1));
    d.take();
}

#[test]
fn xoff_when_the_pg_crosses_xoff_then_xon_when_it_drains() {
    let mut e = tx_engine(0x2000, None);
    let mut d = Driver::new(ns(0));
    learned(&mut e, &mut d);
    let t_xoff = fill_until_xoff(&mut e, &mut d, us(10), 3, 100);
    let ctl = control_on(&d, p(0));
    assert_eq!(ctl.len(), 1);
    let mut q = [0u16; 8];
    q[3] = 0x2000;
    assert_eq!(
        ctl[0],
        (
            t_xoff,
            MacControlRepr::Pfc {
                enable: 1 << 3,
                quanta: q
            }
        )
    );
    let pg = e.pg_counters(p(0), 3).unwrap();
    assert!(pg.xoff);
    assert!(
        pg.occupancy() >= XOFF && pg.occupancy() < XOFF + 1000 + 1536,
        "{}",
        pg.occupancy()
    );
    assert_eq!(e.port_counters(p(0)).unwrap().pfc_tx[3], 1);
    // The 1G egress drains; XON (quanta 0) goes out once occupancy is below XON.
    d.step_to(&mut e, t_xoff + std::time::Duration::from_millis(1));
    let ctl = control_on(&d, p(0));
    assert_eq!(ctl.len(), 2, "{ctl:?}");
    assert_eq!(
        ctl[1].1,
        MacControlRepr::Pfc {
            enable: 1 << 3,
            quanta: [0; 8]
        }
    );
    // XON went out right when the transmission that brought the PG below XON happened.
    let tx1 = d.sent_on(p(1));
    let leaving = tx1.iter().filter(|(at, _)| *at <= ctl[1].0).count();
    let admitted = e.pg_counters(p(0), 3).unwrap().admitted_bytes;
    let left_after = admitted - 1000 * leaving as u64;
    assert!(
        left_after < XON && left_after + 1000 >= XON,
        "XON at occupancy {left_after}"
    );
    assert!(!e.pg_counters(p(0), 3).unwrap().xoff);
    assert_eq!(e.port_counters(p(0)).unwrap().pfc_tx[3], 2);
    // Nothing dropped: lossless.
    assert_eq!(e.pg_counters(p(0), 3).unwrap().headroom_drop_frames, 0);
}

#[test]
fn xoff_is_refreshed_before_it_expires_while_congestion_lasts() {
    let quanta = 0x2000u16;
    let mut e = tx_engine(quanta, None);
    let mut d = Driver::new(ns(0));
    learned(&mut e, &mut d);
    // The egress is paused by its own peer: the PG cannot drain.
    d.feed(&mut e, us(5), p(1), pfc_one(3, 0xffff));
    let t_xoff = fill_until_xoff(&mut e, &mut d, us(10), 3, 100);
    let pause = quanta_ps(quanta, G10);
    let refresh = pause * 128 / 256;
    // Keep the egress paused for 4 pause times.
    let mut t = t_xoff;
    let end = t_xoff.plus_ps(4 * pause);
    while t < end {
        t = t.plus_ps(1_000_000_000); // every 1 ms
        d.feed(&mut e, t.min(end), p(1), pfc_one(3, 0xffff));
    }
    d.step_to(&mut e, end);
    let ctl = control_on(&d, p(0));
    assert!(ctl.len() >= 7, "{ctl:?}");
    let mut prev = t_xoff;
    for (at, r) in &ctl {
        let mut q = [0u16; 8];
        q[3] = quanta;
        assert_eq!(
            *r,
            MacControlRepr::Pfc {
                enable: 1 << 3,
                quanta: q
            }
        );
        assert!(
            at.as_ps() - prev.as_ps() < pause,
            "gap lets the peer resume"
        );
        prev = *at;
    }
    assert_eq!(
        ctl[1].0,
        t_xoff.plus_ps(refresh),
        "refresh at half the pause time"
    );
    // Release the egress: it drains and XON follows.
    d.feed(&mut e, end, p(1), pfc_one(3, 0));
    d.step_to(&mut e, end + std::time::Duration::from_millis(1));
    let ctl = control_on(&d, p(0));
    assert_eq!(
        ctl.last().unwrap().1,
        MacControlRepr::Pfc {
            enable: 1 << 3,
            quanta: [0; 8]
        }
    );
}

/// Two lossless priorities: XOFF for 3, later XOFF then XON for 4. Every frame the engine
/// sends may re-arm the refresh timer, so each must also renew priority 3 while it is paused:
/// the peer's view of priority 3 must never lapse while its PG is still in XOFF.
#[test]
fn refresh_of_one_priority_survives_pfc_traffic_for_another() {
    let quanta = 0x2000u16;
    let pause = quanta_ps(quanta, G10);
    let mut e = tx_engine(quanta, None);
    let mut d = Driver::new(ns(0));
    learned(&mut e, &mut d);
    d.feed(&mut e, us(5), p(1), pfc(0b1_1000, [0xffff; 8]));
    let t3 = fill_until_xoff(&mut e, &mut d, us(10), 3, 100);
    // Priority 4 crosses XOFF 90 % into the refresh interval of priority 3.
    let t4 = fill_until_xoff(&mut e, &mut d, t3.plus_ps(pause / 2 * 9 / 10), 4, 100);
    // Its egress resumes at 1.2 × the refresh interval: priority 4 drains, XON for 4 goes
    // out before the refresh timer armed by priority 4's XOFF fires.
    let t_resume = t3.plus_ps(pause / 2 * 12 / 10);
    assert!(t_resume > t4);
    d.feed(&mut e, t_resume, p(1), pfc_one(4, 0));
    let end = t3.plus_ps(3 * pause);
    let mut t = t_resume;
    while t < end {
        t = t.plus_ps(500_000_000);
        d.feed(&mut e, t.min(end), p(1), pfc_one(3, 0xffff));
    }
    d.step_to(&mut e, end);
    assert!(
        e.pg_counters(p(0), 3).unwrap().xoff,
        "priority 3 still congested"
    );
    // Model the peer: priority 3 paused until the last frame with bit 3 + its quanta.
    let mut until = Instant::ZERO;
    let mut saw_xon4 = false;
    for (at, r) in control_on(&d, p(0)) {
        assert!(
            at < until || until == Instant::ZERO,
            "peer resumed priority 3 at {until}, next frame only at {at}"
        );
        if let MacControlRepr::Pfc { enable, quanta: q } = r {
            if enable & (1 << 3) != 0 {
                assert_eq!(q[3], quanta);
                until = at.plus_ps(pause);
            }
            saw_xon4 |= enable & (1 << 4) != 0 && q[4] == 0;
        }
    }
    assert!(saw_xon4, "XON for priority 4 was sent");
    assert!(
        end < until,
        "at the end the peer still holds priority 3 (until {until})"
    );
}

#[test]
fn pause_port_sends_pause_then_resume() {
    let mut e = tx_engine(0x3000, Some(FlowControl::Pause));
    let mut d = Driver::new(ns(0));
    learned(&mut e, &mut d);
    let t_xoff = fill_until_xoff(&mut e, &mut d, us(10), 3, 100);
    let ctl = control_on(&d, p(0));
    assert_eq!(
        ctl,
        vec![(t_xoff, MacControlRepr::Pause { quanta: 0x3000 })]
    );
    d.step_to(&mut e, t_xoff + std::time::Duration::from_millis(1));
    let ctl = control_on(&d, p(0));
    assert_eq!(ctl.len(), 2, "{ctl:?}");
    assert_eq!(ctl[1].1, MacControlRepr::Pause { quanta: 0 });
    let c = e.port_counters(p(0)).unwrap();
    assert_eq!((c.pause_tx, c.pfc_tx), (2, [0; 8]));
}
