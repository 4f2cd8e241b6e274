//! The PFC watchdog through the engine: storm detection, Drop / Forward, restoration.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use dataplane::config::{WatchdogAction, WatchdogConfig};
use dataplane::time::Instant;
use dataplane::{Engine, EngineConfig, Event};

const DETECT: Duration = Duration::from_millis(10);
const RESTORE: Duration = Duration::from_millis(10);

/// p0: ingress; p1: egress whose priority 3 is lossless (watched TC 3).
fn wd(action: WatchdogAction) -> (Engine, Driver) {
    let egress = access(2, G10, 1).with_lossless(3, thresholds(20_000, 8_000, 30_000));
    let mut cfg = EngineConfig::new(1, vec![access(1, G10, 1), egress]);
    cfg.watchdog = Some(WatchdogConfig {
        detection: DETECT,
        restoration: RESTORE,
        action,
    });
    let mut e = engine_with(cfg);
    let mut d = Driver::new(ns(0));
    d.feed(&mut e, ns(0), p(1), untagged(host(1), host(2), 60, 0));
    d.step_to(&mut e, us(1));
    d.take();
    (e, d)
}

fn prio3(mark: u8) -> bytes::Bytes {
    tagged(host(2), host(1), 3, 1, 200, mark)
}

/// Pauses priority 3 of p1 from `start` with a fresh PFC every ms up to `end` (inclusive).
fn storm(e: &mut Engine, d: &mut Driver, start: Instant, end: Instant) {
    let mut t = start;
    while t <= end {
        d.feed(e, t, p(1), pfc_one(3, 0xffff));
        t += Duration::from_millis(1);
    }
}

fn storm_events(e: &mut Engine) -> Vec<Event> {
    events(e)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::PfcStormDetected { .. } | Event::PfcStormRestored { .. }
            )
        })
        .collect()
}

#[test]
fn drop_action_discards_during_a_storm_and_restores() {
    let (mut e, mut d) = wd(WatchdogAction::Drop);
    let t0 = us(10);
    d.feed(&mut e, t0, p(1), pfc_one(3, 0xffff));
    for m in 0..5 {
        e.handle_frame(t0, p(0), prio3(m));
    }
    storm(
        &mut e,
        &mut d,
        t0 + Duration::from_millis(1),
        t0 + Duration::from_millis(9),
    );
    d.step_to(&mut e, Instant::from_ps((t0 + DETECT).as_ps() - 1));
    assert!(storm_events(&mut e).is_empty(), "detected early");
    assert_eq!(e.queue_counters(p(1), 3).unwrap().depth_frames, 5);
    d.feed(&mut e, t0 + DETECT, p(1), pfc_one(3, 0xffff));
    d.step_to(&mut e, t0 + DETECT);
    assert_eq!(
        storm_events(&mut e),
        vec![Event::PfcStormDetected { port: p(1), tc: 3 }]
    );
    let q = e.queue_counters(p(1), 3).unwrap();
    assert_eq!(
        (q.discarded_frames, q.depth_frames, q.storms, q.stormed),
        (5, 0, 1, true)
    );
    assert_eq!(
        e.pg_counters(p(0), 3).unwrap().occupancy(),
        0,
        "buffer released"
    );
    // New frames for the stormed queue are dropped (counted); other classes flow.
    let t1 = t0 + DETECT + Duration::from_millis(1);
    storm(&mut e, &mut d, t1, t1 + Duration::from_millis(3));
    let t2 = t1 + Duration::from_millis(3);
    e.handle_frame(t2, p(0), prio3(9));
    e.handle_frame(t2, p(0), tagged(host(2), host(1), 1, 1, 200, 1));
    d.step_to(&mut e, t2 + Duration::from_micros(10));
    let q = e.queue_counters(p(1), 3).unwrap();
    assert_eq!(
        (q.dropped_frames, q.dropped_bytes, q.depth_frames),
        (1, 200, 0)
    );
    let sent: Vec<u8> = d.sent_on(p(1)).iter().map(|(_, f)| f[20]).collect();
    assert_eq!(sent, vec![1]);
    // Pauses stop at t2; the last one ends 3.36 ms later; restored RESTORE after the last.
    let restore_at = t2 + RESTORE;
    d.step_to(&mut e, Instant::from_ps(restore_at.as_ps() - 1));
    assert!(storm_events(&mut e).is_empty(), "restored early");
    d.step_to(&mut e, restore_at);
    assert_eq!(
        storm_events(&mut e),
        vec![Event::PfcStormRestored { port: p(1), tc: 3 }]
    );
    assert!(!e.queue_counters(p(1), 3).unwrap().stormed);
    // Normal again: queued and sent.
    let t3 = restore_at + Duration::from_micros(1);
    d.feed(&mut e, t3, p(0), prio3(7));
    d.step_to(&mut e, t3 + Duration::from_micros(5));
    assert_eq!(d.sent_on(p(1)).last().unwrap().1[20], 7);
    let q = e.queue_counters(p(1), 3).unwrap();
    assert_eq!((q.tx_frames, q.dropped_frames), (1, 1));
}

#[test]
fn forward_action_transmits_despite_pauses() {
    let (mut e, mut d) = wd(WatchdogAction::Forward);
    let t0 = us(10);
    d.feed(&mut e, t0, p(1), pfc_one(3, 0xffff));
    for m in 0..5 {
        e.handle_frame(t0, p(0), prio3(m));
    }
    storm(
        &mut e,
        &mut d,
        t0 + Duration::from_millis(1),
        t0 + Duration::from_millis(14),
    );
    let detect = t0 + DETECT;
    let sent = d.sent_on(p(1));
    assert_eq!(sent.len(), 5);
    assert_eq!(
        sent[0].0, detect,
        "nothing before detection, first frame at detection"
    );
    for (k, (at, _)) in sent.iter().enumerate() {
        assert_eq!(at.as_ps(), detect.as_ps() + k as u64 * wire_ps(196, G10));
    }
    let q = e.queue_counters(p(1), 3).unwrap();
    assert_eq!((q.discarded_frames, q.tx_frames, q.storms), (0, 5, 1));
    // Still storming: new frames go out at once although paused.
    let t1 = t0 + Duration::from_millis(15);
    d.step_to(&mut e, t1);
    assert_eq!(e.paused_priorities(p(1)), 1 << 3);
    let before = d.sent_on(p(1)).len();
    d.feed(&mut e, t1, p(0), prio3(8));
    d.step_to(&mut e, t1 + Duration::from_micros(1));
    assert_eq!(d.sent_on(p(1)).len(), before + 1);
    assert_eq!(
        storm_events(&mut e),
        vec![Event::PfcStormDetected { port: p(1), tc: 3 }]
    );
    storm(
        &mut e,
        &mut d,
        t0 + Duration::from_millis(16),
        t0 + Duration::from_millis(20),
    );
    // Pauses end at t0 + 20 ms; restored 10 ms later; then pauses are honoured again.
    let last = t0 + Duration::from_millis(20);
    d.step_to(&mut e, last + RESTORE);
    assert_eq!(
        storm_events(&mut e),
        vec![Event::PfcStormRestored { port: p(1), tc: 3 }]
    );
    let t2 = last + RESTORE + Duration::from_micros(1);
    d.feed(&mut e, t2, p(1), pfc_one(3, 0xffff));
    e.handle_frame(t2, p(0), prio3(9));
    let before = d.sent_on(p(1)).len();
    d.step_to(&mut e, t2 + Duration::from_millis(1));
    assert_eq!(
        d.sent_on(p(1)).len(),
        before,
        "pause honoured after restoration"
    );
}

#[test]
fn empty_queue_or_short_pauses_are_not_a_storm() {
    let (mut e, mut d) = wd(WatchdogAction::Drop);
    // Paused for 30 ms with nothing queued: no storm.
    storm(&mut e, &mut d, us(10), us(30_000));
    // Frames queued, but each pause lets go for a while before the next: no storm.
    let mut t = us(40_000);
    for m in 0..20 {
        d.feed(&mut e, t, p(1), pfc_one(3, 10_000)); // 512 µs
        e.handle_frame(t, p(0), prio3(m));
        t += Duration::from_millis(1);
    }
    d.step_to(&mut e, t + Duration::from_millis(30));
    assert!(storm_events(&mut e).is_empty());
    assert_eq!(e.queue_counters(p(1), 3).unwrap().tx_frames, 20);
}
