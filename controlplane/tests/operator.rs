//! Operator commands (priority, standby, renumber, failover), the early end of the cold-boot
//! window for a closed stack, and nonstop forwarding while a new master is chosen.

mod common;
use common::*;

use std::time::Duration;

use controlplane::harness::Harness;
use controlplane::{CommandError, Role, Rule, StackEvent};

#[test]
fn a_closed_ring_elects_before_the_cold_boot_window_ends() {
    let mut h = Harness::line(3, specs(&[1; 6]), true, 1);
    // The window is 2 s; a complete ring needs only its adverts to go round.
    h.run_for(Duration::from_millis(100));
    h.check_one_master().unwrap();
    for i in 0..6 {
        let v = h.view(i).unwrap();
        assert!(v.active, "unit {i} not active after 100 ms");
        assert_eq!(v.members.len(), 6);
    }
}

#[test]
fn an_open_chain_waits_for_the_cold_boot_window() {
    let mut h = Harness::line(4, specs(&[1; 3]), false, 1);
    h.run_for(Duration::from_millis(1500));
    assert!((0..3).all(|i| h.view(i).unwrap().master.is_none()));
    settled(&mut h);
}

#[test]
fn members_keep_forwarding_while_the_standby_takes_over() {
    let mut h = Harness::line(5, specs(&[1; 5]), true, 1);
    settled(&mut h);
    let m = master(&h);
    let standby = standby_of(&h, m);
    h.crash(m);
    settled(&mut h);
    assert_eq!(master(&h), standby);
    assert_eq!(
        last_rule(&h, standby, Role::Master),
        Some(Rule::StandbyTakeover)
    );
    for i in (0..5).filter(|&i| i != m) {
        assert_eq!(
            h.node(i).unwrap().dp.holds_after_active,
            0,
            "unit {i} held its front ports during the takeover"
        );
    }
}

#[test]
fn the_master_sets_a_members_priority_and_the_member_stores_it() {
    let mut h = Harness::line(6, specs(&[1; 4]), true, 1);
    settled(&mut h);
    let m = master(&h);
    let target = (0..4).find(|&i| i != m).unwrap();
    let unit = unit_of(&h, target);
    h.operate(m, |mgr, now| mgr.set_priority(now, unit, 200))
        .unwrap()
        .unwrap();
    h.run_for(Duration::from_millis(50));
    assert_eq!(h.node(target).unwrap().persisted.priority, 200);
    let seen = h.view(m).unwrap();
    assert_eq!(
        seen.members
            .iter()
            .find(|v| v.unit == unit)
            .unwrap()
            .priority,
        200
    );
    // No preemption: the master stays.
    settled(&mut h);
    assert_eq!(master(&h), m);
    // Members refuse stack-wide commands and name the master.
    let master_unit = unit_of(&h, m);
    assert_eq!(
        h.operate(target, |mgr, now| mgr.set_priority(now, unit, 5)),
        Some(Err(CommandError::NotMaster {
            master: Some(master_unit)
        }))
    );
    assert_eq!(
        h.operate(m, |mgr, now| mgr.set_priority(now, 6, 5)),
        Some(Err(CommandError::UnknownUnit(6)))
    );
}

#[test]
fn renumbering_moves_a_unit_and_its_routes() {
    let mut h = Harness::line(7, specs(&[1; 3]), true, 1);
    settled(&mut h);
    let m = master(&h);
    let target = (0..3).find(|&i| i != m).unwrap();
    let old = unit_of(&h, target);
    let taken = unit_of(&h, m);
    assert_eq!(
        h.operate(m, |mgr, now| mgr.renumber(now, old, taken)),
        Some(Err(CommandError::UnitNumberTaken(taken)))
    );
    assert_eq!(
        h.operate(m, |mgr, now| mgr.renumber(now, old, 7)),
        Some(Err(CommandError::BadUnitNumber(7)))
    );
    h.operate(m, |mgr, now| mgr.renumber(now, old, 5))
        .unwrap()
        .unwrap();
    settled(&mut h);
    assert_eq!(unit_of(&h, target), 5);
    assert_eq!(h.node(target).unwrap().persisted.unit, 5);
    let routes = &h.node(m).unwrap().dp.routes;
    assert!(routes.contains_key(&5) && !routes.contains_key(&old));
    assert!(h
        .log
        .iter()
        .any(|(u, e)| *u == target && *e == StackEvent::UnitRenumbered { from: old, to: 5 }));
}

#[test]
fn the_configured_standby_replaces_the_elected_one() {
    let mut h = Harness::line(8, specs(&[1; 4]), true, 1);
    settled(&mut h);
    let m = master(&h);
    let elected = standby_of(&h, m);
    let other = (0..4).find(|&i| i != m && i != elected).unwrap();
    let unit = unit_of(&h, other);
    let own = unit_of(&h, m);
    assert_eq!(
        h.operate(m, |mgr, now| mgr.set_standby(now, Some(own))),
        Some(Err(CommandError::StandbyIsMaster(own)))
    );
    h.operate(m, |mgr, now| mgr.set_standby(now, Some(unit)))
        .unwrap()
        .unwrap();
    settled(&mut h);
    assert_eq!(h.view(other).unwrap().role, Role::Standby);
    assert_eq!(last_rule(&h, other, Role::Standby), Some(Rule::Configured));
    assert_eq!(h.view(elected).unwrap().role, Role::Member);
}

#[test]
fn an_operator_failover_hands_over_without_a_hold() {
    let mut h = Harness::line(9, specs(&[1; 4]), true, 1);
    settled(&mut h);
    let m = master(&h);
    let standby = standby_of(&h, m);
    let epoch = h.view(m).unwrap().epoch;
    h.operate(m, |mgr, now| mgr.initiate_failover(now))
        .unwrap()
        .unwrap();
    settled(&mut h);
    assert_eq!(master(&h), standby);
    assert_eq!(last_rule(&h, m, Role::Member), Some(Rule::OperatorFailover));
    assert_eq!(
        last_rule(&h, standby, Role::Master),
        Some(Rule::StandbyTakeover)
    );
    assert!(h.view(standby).unwrap().epoch > epoch);
    for i in 0..4 {
        assert_eq!(h.node(i).unwrap().dp.holds_after_active, 0, "unit {i} held");
        assert!(h.view(i).unwrap().active);
    }
    // A member cannot fail over; a lone unit has nobody to fail over to.
    assert!(matches!(
        h.operate(m, |mgr, now| mgr.initiate_failover(now)),
        Some(Err(CommandError::NotMaster { .. }))
    ));
    let mut alone = Harness::line(10, specs(&[1]), false, 1);
    settled(&mut alone);
    assert_eq!(
        alone.operate(0, |mgr, now| mgr.initiate_failover(now)),
        Some(Err(CommandError::NoStandby))
    );
}

/// A member given the highest priority does not take over when it is cut off for a moment and
/// comes back: the master stays master (no preemption), whether the member was isolated
/// before or after its priority reached it.
#[test]
fn a_high_priority_member_isolated_and_back_does_not_take_over() {
    for seed in 0..8 {
        let mut h = Harness::line(60 + seed, specs(&[1; 6]), true, 1);
        settled(&mut h);
        let m = master(&h);
        let member = (0..6)
            .find(|&i| i != m && h.view(i).unwrap().role == Role::Member)
            .unwrap();
        let unit = h.view(member).unwrap().unit;
        h.operate(m, |mgr, now| mgr.set_priority(now, unit, 40))
            .unwrap()
            .unwrap();
        if seed % 2 == 0 {
            settled(&mut h);
        } else {
            h.run_for(Duration::from_millis(1));
        }
        h.isolate(member);
        h.run_for(Duration::from_millis(100 + 200 * seed));
        h.recover();
        settled(&mut h);
        assert_eq!(master(&h), m, "seed {seed}: the master changed");
        h.check_one_master().unwrap();
    }
}
