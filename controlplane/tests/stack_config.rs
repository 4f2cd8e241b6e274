//! The stack-wide configuration: set on the master, replicated to every unit, applied
//! (standby, priorities, static MACs in every dataplane), kept by the next master.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::time::Duration;

use controlplane::harness::{Harness, UnitSpec};
use controlplane::stack_config::{StackWideConfig, StaticMac};
use controlplane::{CommandError, Role, Rule, StackEvent};

fn ring(seed: u64, n: usize) -> Harness {
    let specs = (0..n)
        .map(|i| UnitSpec::new(BASE + 1 + i as u64, 1))
        .collect();
    let mut h = Harness::line(seed, specs, true, 1);
    assert!(h.settle());
    h.check_one_master().unwrap();
    h
}

fn held(h: &Harness, i: usize) -> Option<StackWideConfig> {
    h.node(i).and_then(|n| n.mgr.stack_config().cloned())
}

#[test]
fn the_masters_configuration_reaches_every_unit_and_is_applied() {
    let mut h = ring(21, 4);
    let m = master(&h);
    let mac = StaticMac {
        vid: 10,
        mac: 0x0200_0000_00aa,
        unit: 3,
        port: 1,
    };
    let config = StackWideConfig {
        standby: Some(4),
        priorities: BTreeMap::from([(2, 200)]),
        static_macs: vec![mac],
        lossless: None,
    };
    h.operate(m, |mgr, now| mgr.set_stack_config(now, config.clone()))
        .unwrap()
        .unwrap();
    assert!(h.settle());
    for i in 0..4 {
        assert_eq!(held(&h, i).as_ref(), Some(&config), "unit index {i}");
        assert_eq!(
            h.node(i)
                .unwrap()
                .dp
                .static_macs
                .get(&(10, 0x0200_0000_00aa)),
            Some(&mac)
        );
        assert!(h
            .log
            .iter()
            .any(|(u, e)| *u == i && *e == StackEvent::StackConfigChanged(config.clone())));
    }
    let four = index_of_unit(&h, 4);
    assert_eq!(h.view(four).unwrap().role, Role::Standby);
    let two = index_of_unit(&h, 2);
    assert_eq!(h.node(two).unwrap().persisted.priority, 200);
}

#[test]
fn the_next_master_keeps_the_configuration_and_edits_replicate() {
    let mut h = ring(22, 4);
    let m = master(&h);
    let config = StackWideConfig {
        priorities: BTreeMap::from([(1, 50)]),
        ..StackWideConfig::default()
    };
    h.operate(m, |mgr, now| mgr.set_stack_config(now, config.clone()))
        .unwrap()
        .unwrap();
    assert!(h.settle());
    h.crash(m);
    assert!(h.settle());
    let m2 = master(&h);
    assert_eq!(held(&h, m2), Some(config.clone()));
    // An operator command on the new master edits its running configuration: replicated.
    let target = (0..4).find(|&i| i != m && i != m2).unwrap();
    let unit = h.view(target).unwrap().unit;
    h.operate(m2, |mgr, now| mgr.set_priority(now, unit, 9))
        .unwrap()
        .unwrap();
    h.run_for(Duration::from_millis(300));
    for i in (0..4).filter(|&i| i != m) {
        let c = held(&h, i).unwrap();
        assert_eq!(c.priorities.get(&unit), Some(&9), "unit index {i}");
        assert_eq!(c.priorities.get(&1), Some(&50));
    }
    assert_eq!(h.node(target).unwrap().persisted.priority, 9);
}

#[test]
fn members_and_bad_configurations_are_refused_and_change_nothing() {
    let mut h = ring(23, 3);
    let m = master(&h);
    let member = (0..3).find(|&i| i != m).unwrap();
    assert!(matches!(
        h.operate(member, |mgr, now| mgr
            .set_stack_config(now, StackWideConfig::default())),
        Some(Err(CommandError::NotMaster { .. }))
    ));
    let bad = StackWideConfig {
        static_macs: vec![StaticMac {
            vid: 0,
            mac: 0x0200_0000_00aa,
            unit: 1,
            port: 1,
        }],
        ..StackWideConfig::default()
    };
    let e = h
        .operate(m, |mgr, now| mgr.set_stack_config(now, bad))
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "stack configuration: static_mac[0].vlan: VLAN 0 is out of range (1..=4094)"
    );
    assert_eq!(held(&h, m), None);
    // A configured standby through the configuration wins like `set standby`.
    let other = (0..3)
        .find(|&i| i != m && h.view(i).unwrap().role == Role::Member)
        .unwrap();
    let unit = h.view(other).unwrap().unit;
    h.operate(m, |mgr, now| {
        mgr.set_stack_config(
            now,
            StackWideConfig {
                standby: Some(unit),
                ..StackWideConfig::default()
            },
        )
    })
    .unwrap()
    .unwrap();
    assert!(h.settle());
    assert_eq!(h.view(other).unwrap().role, Role::Standby);
    assert!(h.log.iter().any(|(u, e)| *u == other
        && matches!(
            e,
            StackEvent::RoleChanged {
                to: Role::Standby,
                rule: Rule::Configured,
                ..
            }
        )));
}

/// The warm standby: the master's state (epoch, unit table, configuration with its static
/// MACs) reaches the standby within moments of every change, and both ends can say so
/// (`show checkpoint statistics`).
#[test]
fn the_standby_keeps_up_with_the_masters_state_and_the_lag_is_measured() {
    use controlplane::CheckpointSide;
    let mut h = ring(24, 4);
    let m = master(&h);
    let s = standby_of(&h, m);
    let now = h.now();
    let stats = |h: &Harness, i: usize| h.node(i).unwrap().mgr.checkpoint_stats(h.now());
    let before = stats(&h, m);
    assert_eq!(before.side, CheckpointSide::Master);
    assert_eq!(before.peer, h.mac(s));
    assert!(before.in_sync, "{before:?}");
    assert_eq!(before.units, 4);
    assert_eq!(stats(&h, s).side, CheckpointSide::Standby);
    assert!(stats(&h, s).in_sync);
    let member = (0..4).find(|&i| i != m && i != s).unwrap();
    assert_eq!(stats(&h, member).side, CheckpointSide::None);
    let _ = now;

    // A change on the master (a static MAC): the standby holds it within milliseconds.
    let config = StackWideConfig {
        static_macs: vec![StaticMac {
            vid: 1,
            mac: 0x0200_0000_00bb,
            unit: 2,
            port: 1,
        }],
        ..StackWideConfig::default()
    };
    h.operate(m, |mgr, now| mgr.set_stack_config(now, config.clone()))
        .unwrap()
        .unwrap();
    h.run_for(Duration::from_millis(50));
    let after = stats(&h, m);
    assert!(after.in_sync, "{after:?}");
    assert_eq!(after.static_macs, 1);
    assert_eq!(after.changes, before.changes + 1);
    assert_eq!(after.syncs, before.syncs + 1);
    let lag = after.last_lag.expect("a lag was measured");
    assert!(lag < Duration::from_millis(50), "lag {lag:?}");
    assert_eq!(stats(&h, s).version, after.version);
    assert!(stats(&h, s).changes > 0);

    // The standby's control plane is away: a change leaves it behind, and the master says so
    // (and for how long) until it is back.
    h.detach_control(s);
    let config2 = StackWideConfig {
        priorities: BTreeMap::from([(3, 77)]),
        ..config.clone()
    };
    h.operate(m, |mgr, now| mgr.set_stack_config(now, config2.clone()))
        .unwrap()
        .unwrap();
    h.run_for(Duration::from_millis(300));
    let behind = stats(&h, m);
    assert!(!behind.in_sync, "{behind:?}");
    assert!(behind.behind_for.unwrap() >= Duration::from_millis(300));
    h.reattach_control(s);
    h.run_for(Duration::from_millis(500));
    let caught_up = stats(&h, m);
    assert!(caught_up.in_sync, "{caught_up:?}");
    assert_eq!(caught_up.syncs, after.syncs + 1);
    assert!(caught_up.max_lag >= Duration::from_millis(300));
}
