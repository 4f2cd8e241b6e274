//! DESIGN.md §7 invariant 2 over the whole engine: bytes in = bytes out + queued + dropped.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use dataplane::config::{BufferConfig, FlowControl, WatchdogAction, WatchdogConfig};
use dataplane::{Engine, EngineConfig};
use proptest::prelude::*;

const NPORTS: u16 = 5;

fn build() -> Engine {
    let lossless = thresholds(12_000, 4_000, 12_000);
    let mut p3 = trunk(4, G1, Some(1), &[10, 20]);
    p3.flow_control = FlowControl::Pfc { enabled: 0 };
    let mut p4 = access(5, G1, 20).with_lossless(5, lossless);
    p4.flow_control = FlowControl::Pause;
    let ports = vec![
        access(1, G10, 10).with_lossless(3, lossless),
        access(2, G1, 10).with_lossless(3, lossless),
        trunk(3, G10, Some(10), &[20]),
        p3,
        p4,
    ];
    let mut cfg = EngineConfig::new(1, ports);
    cfg.buffer = BufferConfig {
        shared_pool: 60_000,
        headroom_pool: 20_000,
    };
    cfg.pfc.pause_quanta = 2000;
    cfg.watchdog = Some(WatchdogConfig {
        detection: Duration::from_micros(200),
        restoration: Duration::from_micros(200),
        action: WatchdogAction::Drop,
    });
    engine_with(cfg)
}

#[derive(Clone, Debug)]
enum Op {
    Frame {
        port: u16,
        src: u8,
        dst: Option<u8>,
        vid: Option<u16>,
        pcp: u8,
        len: usize,
    },
    Pfc {
        port: u16,
        enable: u8,
        quanta: u16,
    },
    Pause {
        port: u16,
        quanta: u16,
    },
    Wait(u64),
    Link {
        port: u16,
        up: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..NPORTS, 1u8..8, proptest::option::of(1u8..8),
              prop_oneof![Just(None), Just(Some(0u16)), Just(Some(10)), Just(Some(20)), Just(Some(30))],
              0u8..8, 14usize..1600)
            .prop_map(|(port, src, dst, vid, pcp, len)| Op::Frame { port, src, dst, vid, pcp, len }),
        2 => (0..NPORTS, any::<u8>(), prop_oneof![Just(0u16), 1u16..3000, Just(0xffff)])
            .prop_map(|(port, enable, quanta)| Op::Pfc { port, enable, quanta }),
        1 => (0..NPORTS, prop_oneof![Just(0u16), 1u16..3000]).prop_map(|(port, quanta)| Op::Pause { port, quanta }),
        3 => (0u64..400_000).prop_map(Op::Wait),
        1 => (0..NPORTS, any::<bool>()).prop_map(|(port, up)| Op::Link { port, up }),
    ]
}

fn check(e: &Engine) -> Result<(), TestCaseError> {
    let mut enq = 0;
    let mut out = 0;
    for port in 0..NPORTS {
        for tc in 0..8 {
            let q = e.queue_counters(p(port), tc).unwrap();
            prop_assert_eq!(
                q.enqueued_bytes,
                q.tx_bytes + q.discarded_bytes + q.depth_bytes,
                "port {} TC {} bytes: {:?}",
                port,
                tc,
                q
            );
            prop_assert_eq!(
                q.enqueued_frames,
                q.tx_frames + q.discarded_frames + q.depth_frames,
                "port {} TC {} frames: {:?}",
                port,
                tc,
                q
            );
            enq += q.enqueued_bytes;
            out += q.tx_bytes + q.discarded_bytes;
        }
    }
    let (mut admitted, mut released, mut occ) = (0, 0, 0);
    for port in 0..NPORTS {
        for pg in 0..8 {
            let c = e.pg_counters(p(port), pg).unwrap();
            prop_assert_eq!(
                c.admitted_bytes,
                c.released_bytes + c.occupancy(),
                "port {} PG {}: {:?}",
                port,
                pg,
                c
            );
            admitted += c.admitted_bytes;
            released += c.released_bytes;
            occ += c.occupancy();
        }
    }
    prop_assert_eq!(admitted, enq, "admitted to PGs vs enqueued to queues");
    prop_assert_eq!(released, out, "released from PGs vs left the queues");
    prop_assert!(e.buffer().shared_used() <= 60_000);
    prop_assert!(e.buffer().headroom_used() <= 20_000);
    prop_assert!(occ <= 60_000 + 20_000 + u64::from(NPORTS) * 8 * 1536);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn buffer_accounting_is_conserved(ops in proptest::collection::vec(op(), 1..250)) {
        let mut e = build();
        let mut d = Driver::new(ns(0));
        let mut now = ns(0);
        let mut offered = 0u64;
        for op in ops {
            match op {
                Op::Frame { port, src, dst, vid, pcp, len } => {
                    let dst = dst.map_or(BROADCAST, host);
                    let f = match vid {
                        None => untagged(dst, host(src), len, pcp),
                        Some(vid) => tagged(dst, host(src), pcp, vid, len.max(18), pcp),
                    };
                    offered += 1;
                    e.handle_frame(now, p(port), f);
                }
                Op::Pfc { port, enable, quanta } => {
                    let mut q = [0; 8];
                    q.iter_mut().for_each(|x| *x = quanta);
                    e.handle_frame(now, p(port), pfc(enable, q));
                }
                Op::Pause { port, quanta } => e.handle_frame(now, p(port), pause(quanta)),
                Op::Wait(ns_) => {
                    now = now.plus_ps(ns_ * 1000);
                    d.step_to(&mut e, now);
                }
                Op::Link { port, up } => e.set_port_up(now, p(port), up).unwrap(),
            }
            check(&e)?;
        }
        // Everything up, pauses lifted: the buffer empties completely.
        for port in 0..NPORTS {
            e.set_port_up(now, p(port), true).unwrap();
            e.handle_frame(now, p(port), pfc(0xff, [0; 8]));
            e.handle_frame(now, p(port), pause(0));
        }
        d.step_to(&mut e, now + Duration::from_millis(50));
        check(&e)?;
        for port in 0..NPORTS {
            for pg in 0..8 {
                prop_assert_eq!(e.pg_counters(p(port), pg).unwrap().occupancy(), 0);
            }
        }
        prop_assert!(offered > 0 || e.buffer().shared_used() == 0);
    }
}
