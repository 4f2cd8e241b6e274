//! The engine pipeline, end to end: parse → learn/lookup → classify → admit/enqueue →
//! schedule → dequeue (→ render), for 64- and 1500-byte frames across 4 ports with PFC on.
//!
//! `cargo bench -p dataplane --bench pipeline`; figures in BENCHMARKS.md.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::config::{EngineConfig, LosslessThresholds, PortConfig, PortId, VlanMode};
use dataplane::time::Instant;
use dataplane::wire::{L2Header, MacAddr, VlanTag};
use dataplane::{Engine, PortIndex};

const PORTS: usize = 4;
const BATCH: usize = 4096;
const VID: u16 = 10;

fn host(i: usize) -> MacAddr {
    MacAddr::new(0x02, 0, 0, 0, 0, 0x10 + i as u8)
}

/// Port `i`'s host sends to port `i+1`'s host on VLAN 10, priority 3 (lossless).
fn frame(i: usize, len: usize) -> Bytes {
    let hdr = L2Header {
        dst: host((i + 1) % PORTS),
        src: host(i),
        vlan: Some(VlanTag {
            pcp: 3,
            dei: false,
            vid: VID,
        }),
        ethertype: 0x0800,
        payload_offset: 18,
    };
    let mut buf = vec![0u8; len];
    hdr.emit(&mut buf).expect("room for the header");
    Bytes::from(buf)
}

fn engine() -> Engine {
    let ports = (0..PORTS)
        .map(|i| {
            let mut p = PortConfig::new(PortId::front(i as u8 + 1), 10_000_000_000);
            p.vlan = VlanMode::Trunk {
                native: None,
                allowed: vec![VID],
            };
            p.with_lossless(
                3,
                LosslessThresholds {
                    xoff: 60_000,
                    xon: 40_000,
                    headroom: 40_000,
                },
            )
        })
        .collect();
    let mut e = Engine::new(EngineConfig::new(1, ports)).expect("valid config");
    // Learn every host once, then drain.
    for i in 0..PORTS {
        e.handle_frame(Instant::ZERO, PortIndex(i as u16), frame(i, 64));
    }
    let mut t = Instant::ZERO;
    for _ in 0..100 {
        t = t.plus_ps(1_000_000);
        while e.poll_transmit(t).is_some() {}
    }
    while e.poll_event().is_some() {}
    e
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_pipeline_4x10G_pfc");
    for len in [64usize, 1500] {
        let frames: Vec<Bytes> = (0..PORTS).map(|i| frame(i, len - 4)).collect();
        let mut e = engine();
        let totals = |e: &Engine| -> (u64, u64) {
            (0..PORTS).fold((0, 0), |(t, r), p| {
                let c = e.port_counters(PortIndex(p as u16)).expect("port exists");
                (t + c.tx_frames, r + c.rx_frames)
            })
        };
        let (tx0, rx0) = totals(&e);
        // 1 µs per frame: every port is free again by the next one, so this measures the
        // engine's work, not the simulated wire.
        let mut now = Instant::from_nanos(2_000_000);
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(format!("{len}B"), |b| {
            b.iter(|| {
                for k in 0..BATCH {
                    let port = k % PORTS;
                    e.handle_frame(now, PortIndex(port as u16), frames[port].clone());
                    while let Some(tx) = e.poll_transmit(now) {
                        black_box(tx);
                    }
                    now = now.plus_ps(1_000_000);
                }
            })
        });
        let (tx, rx) = totals(&e);
        assert_eq!(tx - tx0, rx - rx0, "every frame forwarded exactly once");
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
