//! Stacks in the deterministic model: bring-up by the real stack manager, losslessness across
//! units, determinism, the PFC deadlock and the watchdog, a PFC storm, scenario-file errors.
#![allow(missing_docs)]

use std::time::Duration;

use sim::stack::{
    Fault, FaultKind, HostRef, Routing, Stack, StackError, StackReport, StackSpec, Topology,
    Traffic, WatchdogSpec,
};

fn h(unit: u8, port: u8) -> HostRef {
    HostRef { unit, port }
}

fn run(spec: StackSpec) -> (Stack, StackReport) {
    let mut s = Stack::build(spec).expect("valid scenario");
    let r = s.run().expect("run completes");
    (s, r)
}

fn incast_ring(units: u8, seed: u64) -> StackSpec {
    StackSpec {
        units,
        hosts_per_unit: 2,
        duration_ms: 1,
        seed,
        traffic: vec![
            Traffic::Incast {
                to: h(1, 1),
                from: vec![],
                priority: 3,
                load_percent: 100,
                transport: Default::default(),
            },
            Traffic::AllToAll {
                priority: 1,
                load_percent: 30,
            },
        ],
        ..StackSpec::default()
    }
}

#[test]
fn a_ring_comes_up_under_the_stack_manager_and_stays_lossless() {
    let (s, r) = run(incast_ring(4, 1));
    assert!(r.drained);
    // A closed ring elects as soon as its adverts have gone round, before the 2 s window.
    assert!(r.converged_ms < 2000.0, "closed ring: {}", r.converged_ms);
    s.check_one_master().unwrap();
    s.check_routes().unwrap();
    assert_eq!(r.units.iter().filter(|u| u.role == "master").count(), 1);
    assert!(r.units.iter().all(|u| u.master == 1), "{r}");
    assert!(r.totals.pfc_frames > 0, "PFC engaged");
    assert_eq!(r.totals.lossless_drops, 0, "{r}");
    assert_eq!(r.totals.lossless_lost, 0, "{r}");
    assert!(r.units.iter().all(|u| u.accounting_conserved));
    assert!(r.units.iter().all(|u| u.loop_discards == 0));
    for u in &r.units {
        assert!(u.control.messages_sent > 0 && u.control.messages_refused == 0);
    }
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let a = run(incast_ring(3, 5)).1;
    let b = run(incast_ring(3, 5)).1;
    let c = run(incast_ring(3, 6)).1;
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert_eq!(a, b, "the whole report is reproducible");
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// Determinism with everything that draws on the seed or the clock: stack managers, lossy
/// cables, a control restart and a cut cable.
#[test]
fn faults_and_lossy_cables_replay_exactly() {
    let spec = |seed| StackSpec {
        units: 4,
        stack_loss_ppm: 2000,
        duration_ms: 60,
        seed,
        traffic: vec![Traffic::AllToAll {
            priority: 3,
            load_percent: 5,
        }],
        faults: vec![
            Fault {
                at_ms: 10,
                kind: FaultKind::ControlRestart {
                    unit: 2,
                    down_ms: 20,
                },
            },
            Fault {
                at_ms: 30,
                kind: FaultKind::LinkCut {
                    a: 3,
                    b: 4,
                    down_ms: 10,
                },
            },
        ],
        ..StackSpec::default()
    };
    let a = run(spec(9)).1;
    let b = run(spec(9)).1;
    assert_eq!(a, b);
    assert!(a.totals.wire_losses > 0, "the lossy cables lost frames");
    assert_eq!(a.totals.lossless_drops, 0);
    assert_eq!(
        a.totals.lossless_lost,
        a.flows.iter().map(|f| f.lost).sum::<u64>(),
        "losses are the cables' (and the cut's), never the buffers'"
    );
    assert_ne!(a.trace_hash, run(spec(10)).1.trace_hash);
}

#[test]
fn a_single_unit_and_a_chain_work() {
    let (_, r) = run(StackSpec {
        units: 1,
        hosts_per_unit: 3,
        ..incast_ring(1, 1)
    });
    assert!(r.drained && r.totals.lossless_lost == 0 && r.totals.received > 0);
    let (s, r) = run(StackSpec {
        topology: Topology::Chain,
        ..incast_ring(3, 2)
    });
    s.check_routes().unwrap();
    assert!(r.drained && r.totals.lossless_lost == 0 && r.totals.lossless_drops == 0);
}

/// A ring routed one way round with two line-rate flows per stack link deadlocks: the
/// delivered count stops moving. The PFC watchdog finds the paused queues, drops their
/// frames, and after its restoration time traffic flows again. For every ring size.
#[test]
fn a_cyclic_buffer_dependency_deadlocks_and_the_watchdog_breaks_it() {
    for units in 3..=6 {
        deadlock_and_recovery(units, u64::from(units));
    }
}

fn deadlock_and_recovery(units: u8, seed: u64) {
    let mut traffic = Vec::new();
    for src in 1..=units {
        let dst = (src + 1) % units + 1; // two hops on, the same way round
        for port in [1, 2] {
            traffic.push(Traffic::Bursts {
                from: h(src, port),
                to: h(dst, 1),
                priority: 3,
                frames: 2000,
                period_us: 10_000_000,
            });
        }
    }
    traffic.push(Traffic::AllToAll {
        priority: 3,
        load_percent: 1,
    });
    let (_, r) = run(StackSpec {
        units,
        seed,
        routing: Routing::Clockwise,
        hosts_per_unit: 2,
        watchdog: WatchdogSpec {
            detection_ms: 20,
            restoration_ms: 20,
            off: false,
        },
        duration_ms: 100,
        drain_ms: 10,
        sample_us: 1000,
        traffic,
        ..StackSpec::default()
    });
    // Sample k is at k ms after the data phase starts.
    let d = &r.delivered;
    assert!(d.len() > 90);
    assert_eq!(
        d[5], d[18],
        "{units} units deadlocked: nothing delivered from 5 to 18 ms"
    );
    assert!(
        r.units.iter().map(|u| u.storms).sum::<u64>() >= 1,
        "watchdog fired"
    );
    let after = d[d.len() - 1] - d[60];
    assert!(
        after > 100,
        "traffic resumed after the watchdog: {after} frames"
    );
    assert_eq!(r.totals.lossless_drops, 0, "the headroom never overflowed");
}

/// A broken host that sends PFC XOFF non-stop: its unit's watchdog finds the stormed queue
/// and drops for it; traffic between the other hosts is delayed at most, never lost.
#[test]
fn a_pfc_storm_from_a_broken_host_is_contained_by_the_watchdog() {
    let (_, r) = run(StackSpec {
        units: 3,
        routing: Routing::Static,
        watchdog: WatchdogSpec {
            detection_ms: 10,
            restoration_ms: 10,
            off: false,
        },
        duration_ms: 40,
        traffic: vec![
            Traffic::AllToAll {
                priority: 3,
                load_percent: 20,
            },
            Traffic::Storm {
                host: h(2, 1),
                priorities: 0x08,
                interval_us: 100,
                start_ms: 5,
                duration_ms: 20,
            },
        ],
        ..StackSpec::default()
    });
    assert!(r.drained);
    assert!(r.units[1].storms >= 1, "unit 2 saw the storm: {r}");
    assert_eq!(r.totals.lossless_drops, 0);
    for f in r.flows.iter().filter(|f| f.to != h(2, 1)) {
        assert_eq!(
            f.lost, 0,
            "flow {} {} -> {} lost frames",
            f.id, f.from, f.to
        );
    }
    assert!(
        r.flows
            .iter()
            .filter(|f| f.to == h(2, 1))
            .any(|f| f.lost > 0),
        "the watchdog dropped for the broken host"
    );
}

#[test]
fn a_control_plane_restart_of_a_member_loses_nothing() {
    let (s, r) = run(StackSpec {
        units: 3,
        duration_ms: 400,
        traffic: vec![Traffic::AllToAll {
            priority: 3,
            load_percent: 5,
        }],
        faults: vec![Fault {
            at_ms: 50,
            kind: FaultKind::ControlRestart {
                unit: 3,
                down_ms: 300,
            },
        }],
        ..StackSpec::default()
    });
    assert_eq!(r.totals.lossless_lost, 0, "{r}");
    assert!(r.totals.received > 1000);
    s.check_routes().unwrap();
}

#[test]
fn scenario_files_are_checked_with_clear_errors() {
    let err = |t: &str| StackSpec::from_toml(t).unwrap_err().to_string();
    let e = err("units = 9\n");
    assert!(e.contains("units") && e.contains("9"), "{e}");
    let e = err("unit = 3\n");
    assert!(e.contains("unknown field") && e.contains("unit"), "{e}");
    let e = err("units = 4\ntopology = \"chain\"\n[[faults]]\nat_ms = 1\nkind = \"link-cut\"\na = 1\nb = 4\n");
    assert!(e.contains("faults[0]"), "{e}");
    let e = err("[[traffic]]\npattern = \"incast\"\nto = \"9/1\"\n");
    assert!(e.contains("traffic[0].to") && e.contains("9/1"), "{e}");
    let e = err("[[traffic]]\npattern = \"incast\"\nto = \"x\"\n");
    assert!(e.contains("UNIT/PORT"), "{e}");
    let e = err("routing = \"static\"\n[[faults]]\nat_ms = 1\nkind = \"control-restart\"\nunit = 1\ndown_ms = 1\n");
    assert!(e.contains("manager"), "{e}");
    let e = err("duration_ms = 1000\nsample_us = 1\n");
    assert!(e.contains("sample_us"), "{e}");
    let e = Stack::build(StackSpec {
        headroom_margin_bytes: -100_000,
        ..StackSpec::default()
    })
    .unwrap_err();
    assert!(matches!(e, StackError::HeadroomBelowFrame { .. }), "{e}");
    // Every shipped scenario parses.
    for f in ["incast-ring", "nsf", "deadlock", "ring-bench", "storm"] {
        let path = format!("{}/scenarios/{f}.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        StackSpec::from_toml(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let _ = Duration::ZERO;
}

/// Invariant 6 for unit loss in a ring: losing a member, or the master, costs the surviving
/// units nothing — flows that went through the dead unit move to the backup route at once —
/// and the standby takes over when the master dies.
#[test]
fn losing_a_unit_costs_the_survivors_nothing() {
    for dead in [3u8, 1] {
        let (s, r) = run(StackSpec {
            units: 4,
            duration_ms: 200,
            seed: 2,
            traffic: vec![Traffic::AllToAll {
                priority: 3,
                load_percent: 10,
            }],
            faults: vec![Fault {
                at_ms: 100,
                kind: FaultKind::UnitLoss { unit: dead },
            }],
            ..StackSpec::default()
        });
        for f in &r.flows {
            if f.from.unit == dead || f.to.unit == dead {
                assert!(
                    f.lost > 0,
                    "flow {} -> {} to or from the dead unit",
                    f.from,
                    f.to
                );
            } else {
                assert_eq!(
                    f.lost, 0,
                    "unit {dead} lost: flow {} -> {}: {r}",
                    f.from, f.to
                );
                assert!(
                    f.max_gap_us < 1000,
                    "flow {} -> {}: gap {} µs",
                    f.from,
                    f.to,
                    f.max_gap_us
                );
            }
        }
        s.check_one_master().unwrap();
        s.check_routes().unwrap();
        let masters: Vec<u8> = r
            .units
            .iter()
            .filter(|u| u.alive && u.role == "master")
            .map(|u| u.unit)
            .collect();
        assert_eq!(masters, vec![if dead == 1 { 2 } else { 1 }], "{r}");
    }
}
