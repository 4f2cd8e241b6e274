//! Transmission selection through the engine: strict priority before ETS, ETS byte shares.
#![allow(missing_docs)]

mod common;

use common::*;
use dataplane::config::TcSchedule;
use dataplane::Engine;

/// p0, p1: 10G ingress; p2: 1G egress with TC0 ETS 30, TC1 ETS 70, TC2..7 strict.
fn sched() -> Engine {
    let mut egress = access(3, G1, 1);
    egress.schedule[0] = TcSchedule::Ets { weight: 30 };
    egress.schedule[1] = TcSchedule::Ets { weight: 70 };
    let mut e = engine(1, vec![access(1, G10, 1), access(2, G10, 1), egress]);
    e.handle_frame(ns(0), p(2), untagged(host(1), host(3), 60, 0));
    drain(&mut e, ns(0));
    e
}

#[test]
fn strict_tc7_goes_before_ets_classes() {
    let mut e = sched();
    let t = us(1);
    for _ in 0..50 {
        e.handle_frame(t, p(0), tagged(host(3), host(1), 0, 1, 500, 0));
        e.handle_frame(t, p(1), tagged(host(3), host(2), 1, 1, 500, 1));
        e.handle_frame(t, p(0), tagged(host(3), host(1), 7, 1, 500, 7));
    }
    let mut d = Driver::new(t);
    d.step_to(&mut e, us(1000));
    let order: Vec<u8> = d.sent_on(p(2)).iter().map(|(_, f)| f[20]).collect();
    assert_eq!(order.len(), 150);
    assert!(order[..50].iter().all(|m| *m == 7), "{order:?}");
    assert!(order[50..].iter().all(|m| *m != 7));
    // A TC7 frame arriving while ETS traffic is backlogged goes next.
    for _ in 0..20 {
        e.handle_frame(us(1000), p(0), tagged(host(3), host(1), 0, 1, 500, 0));
        e.handle_frame(us(1000), p(1), tagged(host(3), host(2), 1, 1, 500, 1));
    }
    let mut d = Driver::new(us(1000));
    d.step_to(&mut e, us(1010));
    let before = d.sent_on(p(2)).len();
    e.handle_frame(us(1010), p(0), tagged(host(3), host(1), 7, 1, 500, 7));
    d.step_to(&mut e, us(1030));
    let sent = d.sent_on(p(2));
    assert_eq!(sent[before].1[20], 7, "strict class not served next");
}

#[test]
fn ets_shares_follow_weights_on_a_backlogged_port() {
    let mut e = sched();
    let t = us(1);
    // Different frame sizes per class: shares are of bytes, not frames.
    for _ in 0..2500 {
        e.handle_frame(t, p(0), tagged(host(3), host(1), 0, 1, 1500, 0));
    }
    for _ in 0..6000 {
        e.handle_frame(t, p(1), tagged(host(3), host(2), 1, 1, 300, 1));
    }
    assert_eq!(e.queue_counters(p(2), 0).unwrap().dropped_frames, 0);
    assert_eq!(e.queue_counters(p(2), 1).unwrap().dropped_frames, 0);
    let mut d = Driver::new(t);
    // 6 ms at 1G: ~750 kB, ~1900 frames; both classes stay backlogged.
    d.step_to(&mut e, us(6000));
    let sent = d.sent_on(p(2));
    assert!(sent.len() > 1500, "{}", sent.len());
    let mut bytes = [0u64; 2];
    for (_, f) in &sent {
        bytes[usize::from(f[20])] += f.len() as u64;
    }
    assert!(e.queue_counters(p(2), 0).unwrap().depth_frames > 0);
    assert!(e.queue_counters(p(2), 1).unwrap().depth_frames > 0);
    let share0 = bytes[0] as f64 / (bytes[0] + bytes[1]) as f64;
    assert!(
        (share0 - 0.30).abs() <= 0.03,
        "TC0 got {share0:.3} of the bytes, wanted 0.30"
    );
    // And the port ran at line rate throughout (work-conserving).
    let last = sent.last().unwrap().0;
    let wire: u64 = sent.iter().map(|(_, f)| wire_ps(f.len(), G1)).sum();
    assert!(
        last.as_ps() - t.as_ps() <= wire,
        "idle time on a backlogged port"
    );
}
