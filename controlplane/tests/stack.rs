//! Stack manager scenarios on the deterministic harness: convergence, each election rule,
//! standby, add/remove, splits and merges, unit numbers, a seventh unit, fencing, stack keys.

mod common;
use common::*;

use std::time::Duration;

use controlplane::harness::{Harness, UnitSpec};
use controlplane::{Role, Rule, StackEvent, StackPort, TopologyKind};

fn check_all_forwarding(h: &Harness) {
    for comp in h.components() {
        if h.view(comp[0]).is_some_and(|v| v.active) {
            h.check_forwarding(&comp).unwrap();
        }
    }
}

#[test]
fn six_ring_forms_one_stack() {
    let mut h = Harness::line(1, specs(&[1; 6]), true, 1);
    settled(&mut h);
    for i in 0..6 {
        let v = h.view(i).unwrap();
        assert_eq!(v.kind, TopologyKind::Ring);
        assert!(v.active);
        assert_eq!(v.members.len(), 6);
        assert_eq!(master_of(&h, i), Some(0));
    }
    let units: std::collections::BTreeSet<u8> = (0..6).map(|i| h.view(i).unwrap().unit).collect();
    assert_eq!(units.len(), 6);
    check_all_forwarding(&h);
}

#[test]
fn chain_with_parallel_links_bundles_trunks() {
    let mut h = Harness::line(2, specs(&[1; 4]), false, 2);
    settled(&mut h);
    let v = h.view(1).unwrap();
    assert_eq!(v.kind, TopologyKind::Chain);
    let r = &h.node(0).unwrap().dp.routes;
    // Unit 0 reaches everyone over its trunk of ports 0 and 1; a second link backs it up.
    for route in r.values() {
        assert_eq!(route.primary, vec![StackPort(0), StackPort(1)]);
        assert_eq!(route.backup_port(), Some(StackPort(1)));
    }
    check_all_forwarding(&h);
    // One link of the trunk dies: still one stack, still a chain.
    h.cut_port(1, StackPort(0));
    settled(&mut h);
    assert_eq!(h.components().len(), 1);
    check_all_forwarding(&h);
}

#[test]
fn a_cut_ring_becomes_a_chain_and_routes_follow() {
    let mut h = Harness::line(3, specs(&[1; 6]), true, 1);
    settled(&mut h);
    let epoch = h.view(0).unwrap().epoch;
    h.cut(2, 3);
    settled(&mut h);
    for i in 0..6 {
        let v = h.view(i).unwrap();
        assert_eq!(v.kind, TopologyKind::Chain);
        assert!(v.active);
        assert_eq!(v.epoch, epoch, "no election for a cut link");
    }
    check_all_forwarding(&h);
}

#[test]
fn priority_decides() {
    let mut h = Harness::line(4, specs(&[1, 1, 1, 9, 1, 1]), true, 1);
    settled(&mut h);
    assert_eq!(master_of(&h, 0), Some(3));
    assert_eq!(last_rule(&h, 3, Role::Master), Some(Rule::Priority));
    assert_eq!(last_rule(&h, 5, Role::Member), Some(Rule::Priority));
}

#[test]
fn lowest_mac_decides_a_tie() {
    let mut h = Harness::line(5, specs(&[1; 3]), true, 1);
    settled(&mut h);
    assert_eq!(master_of(&h, 2), Some(0));
    assert_eq!(last_rule(&h, 0, Role::Master), Some(Rule::LowestMac));
}

#[test]
fn uptime_decides() {
    // The higher MAC boots 1.5 s earlier; both are in the cold-boot window together.
    let mut h = Harness::new(6);
    let old = h.add_unit(UnitSpec::new(BASE + 9, 1));
    h.run_for(Duration::from_millis(1500));
    let young = h.add_unit(UnitSpec::new(BASE + 1, 1));
    h.connect(old, StackPort(0), young, StackPort(0));
    settled(&mut h);
    assert_eq!(master_of(&h, young), Some(old));
    assert_eq!(last_rule(&h, old, Role::Master), Some(Rule::Uptime));
}

#[test]
fn incumbent_is_not_preempted() {
    let mut h = Harness::line(7, specs(&[1; 3]), false, 1);
    settled(&mut h);
    let big = h.add_unit(UnitSpec::new(BASE, 255));
    h.connect(2, StackPort(0), big, StackPort(1));
    settled(&mut h);
    assert_eq!(master_of(&h, big), Some(0));
    assert_eq!(h.view(big).unwrap().role, Role::Member);
    assert_eq!(last_rule(&h, big, Role::Member), Some(Rule::Incumbent));
    assert_eq!(h.view(0).unwrap().epoch, 1);
}

#[test]
fn priority_zero_is_never_master() {
    let mut h = Harness::line(8, specs(&[0, 1, 0]), true, 1);
    settled(&mut h);
    assert_eq!(master_of(&h, 0), Some(1));
    assert_eq!(last_rule(&h, 1, Role::Master), Some(Rule::OnlyCandidate));
    // Nobody eligible: no master, front ports held.
    let mut h = Harness::line(9, specs(&[0, 0, 0]), true, 1);
    settled(&mut h);
    for i in 0..3 {
        let v = h.view(i).unwrap();
        assert_eq!(v.master, None);
        assert!(!v.active);
        assert!(h.node(i).unwrap().dp.held);
    }
}

#[test]
fn standby_elected_then_configured() {
    let mut h = Harness::line(10, specs(&[5, 1, 1, 3, 1, 1]), true, 1);
    settled(&mut h);
    assert_eq!(h.view(3).unwrap().role, Role::Standby);
    assert_eq!(last_rule(&h, 3, Role::Standby), Some(Rule::Priority));

    let mut s = specs(&[5, 1, 1, 3, 1, 1]);
    for (i, u) in s.iter_mut().enumerate() {
        u.persisted.unit = i as u8 + 1;
        u.standby = Some(5);
    }
    let mut h = Harness::line(11, s, true, 1);
    settled(&mut h);
    assert_eq!(h.view(4).unwrap().role, Role::Standby);
    assert_eq!(last_rule(&h, 4, Role::Standby), Some(Rule::Configured));
    assert_eq!(h.view(3).unwrap().role, Role::Member);
}

#[test]
fn standby_takes_over_when_the_master_dies_and_it_rejoins_as_member() {
    let mut h = Harness::line(12, specs(&[1; 6]), true, 1);
    settled(&mut h);
    let standby = h
        .view(0)
        .unwrap()
        .standby
        .and_then(|m| h.index_of(m))
        .unwrap();
    let unit0 = h.view(0).unwrap().unit;
    h.crash(0);
    settled(&mut h);
    assert_eq!(master_of(&h, 3), Some(standby));
    assert_eq!(
        last_rule(&h, standby, Role::Master),
        Some(Rule::StandbyTakeover)
    );
    assert_eq!(h.view(standby).unwrap().epoch, 2);
    check_all_forwarding(&h);
    h.restart(0);
    settled(&mut h);
    let v = h.view(0).unwrap();
    assert_eq!(v.role, Role::Member);
    assert_eq!(v.unit, unit0, "unit number persisted across the restart");
    assert_eq!(master_of(&h, 0), Some(standby));
    check_all_forwarding(&h);
}

#[test]
fn units_added_and_removed() {
    let mut h = Harness::line(13, specs(&[1; 3]), false, 1);
    settled(&mut h);
    let mut last = 2;
    for k in 0..3 {
        let u = h.add_unit(UnitSpec::new(BASE + 20 + k, 1));
        h.connect(last, StackPort(0), u, StackPort(1));
        last = u;
        settled(&mut h);
        assert!(h.view(u).unwrap().active);
    }
    assert_eq!(h.view(0).unwrap().members.len(), 6);
    check_all_forwarding(&h);
    // Remove the far end, then a member from the middle (the chain splits 3 / 1: the master's
    // part stays active, the lone unit holds).
    h.crash(5);
    settled(&mut h);
    assert_eq!(h.view(0).unwrap().members.len(), 5);
    h.crash(3);
    settled(&mut h);
    assert!(h.view(0).unwrap().active);
    assert!(
        !h.view(4).unwrap().active,
        "a minority without the master holds"
    );
    assert!(h.node(4).unwrap().dp.held);
    check_all_forwarding(&h);
}

fn split_3_3(seed: u64) -> Harness {
    let mut h = Harness::line(seed, specs(&[1; 6]), true, 1);
    settled(&mut h);
    assert_eq!(master_of(&h, 0), Some(0));
    h.cut(2, 3);
    h.cut(5, 0);
    settled(&mut h);
    h
}

#[test]
fn split_3_3_only_the_masters_side_stays_active_then_merges_without_reload() {
    let mut h = split_3_3(14);
    for i in 0..3 {
        let v = h.view(i).unwrap();
        assert!(v.active);
        assert_eq!(master_of(&h, i), Some(0));
    }
    for i in 3..6 {
        let v = h.view(i).unwrap();
        assert!(!v.active, "unit {i} must hold its front ports");
        assert_eq!(v.master, None);
        assert!(h.node(i).unwrap().dp.held);
    }
    assert!(h
        .log
        .iter()
        .any(|(u, e)| *u == 3 && matches!(e, StackEvent::Split { active: false, .. })));
    let epoch = h.view(0).unwrap().epoch;
    let log_len = h.log.len();
    h.recover();
    settled(&mut h);
    for i in 0..6 {
        assert!(h.view(i).unwrap().active);
        assert_eq!(
            h.view(i).unwrap().epoch,
            epoch,
            "a merge back needs no election"
        );
    }
    // No role change anywhere on the master's side: no reload.
    assert!(!h.log[log_len..]
        .iter()
        .any(|(u, e)| *u < 3 && matches!(e, StackEvent::RoleChanged { .. })));
    check_all_forwarding(&h);
}

#[test]
fn split_4_2_with_the_master_in_the_2_then_merge_fences_the_old_master() {
    let mut h = Harness::line(15, specs(&[1; 6]), true, 1);
    settled(&mut h);
    assert_eq!(master_of(&h, 0), Some(0));
    h.cut(1, 2);
    h.cut(5, 0);
    settled(&mut h);
    // The 2 keep the master; the 4 are a majority and elect a new master, epoch bumped.
    assert_eq!(master_of(&h, 1), Some(0));
    assert!(h.view(0).unwrap().active && h.view(1).unwrap().active);
    let new = master_of(&h, 2).unwrap();
    assert!((2..6).contains(&new));
    for i in 2..6 {
        assert!(h.view(i).unwrap().active);
        assert_eq!(master_of(&h, i), Some(new));
        assert_eq!(h.view(i).unwrap().epoch, 2);
    }
    h.recover();
    settled(&mut h);
    for i in 0..6 {
        assert_eq!(master_of(&h, i), Some(new));
        assert!(h.view(i).unwrap().active);
    }
    assert_eq!(h.view(0).unwrap().role, Role::Member);
    assert_eq!(last_rule(&h, 0, Role::Member), Some(Rule::HigherEpoch));
    check_all_forwarding(&h);
}

#[test]
fn isolated_master_is_stale_and_fenced_on_return() {
    let mut h = Harness::line(16, specs(&[9, 1, 1, 1, 1, 1]), true, 1);
    settled(&mut h);
    h.isolate(0);
    settled(&mut h);
    assert_eq!(h.view(0).unwrap().role, Role::Master);
    assert_eq!(h.view(0).unwrap().epoch, 1);
    let new = master_of(&h, 3).unwrap();
    assert_ne!(new, 0);
    h.recover();
    settled(&mut h);
    // Higher priority does not save a stale master: the epoch fences it.
    assert_eq!(master_of(&h, 0), Some(new));
    assert_eq!(h.view(0).unwrap().role, Role::Member);
    assert_eq!(last_rule(&h, 0, Role::Member), Some(Rule::HigherEpoch));
    check_all_forwarding(&h);
}

#[test]
fn merge_of_two_stacks_renumbers_clashes_to_the_lowest_free() {
    let mut s = specs(&[1; 6]);
    for (i, u) in s.iter_mut().enumerate() {
        u.persisted.unit = (i % 3) as u8 + 1;
    }
    let mut h = Harness::new(17);
    for u in s {
        h.add_unit(u);
    }
    h.connect(0, StackPort(0), 1, StackPort(1));
    h.connect(1, StackPort(0), 2, StackPort(1));
    h.connect(3, StackPort(0), 4, StackPort(1));
    h.connect(4, StackPort(0), 5, StackPort(1));
    settled(&mut h);
    assert_eq!(master_of(&h, 4), Some(3));
    h.connect(2, StackPort(0), 3, StackPort(1));
    settled(&mut h);
    for i in 0..6 {
        assert_eq!(master_of(&h, i), Some(0));
    }
    let units: Vec<u8> = (0..6).map(|i| h.view(i).unwrap().unit).collect();
    assert_eq!(units, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(last_rule(&h, 3, Role::Member), Some(Rule::LowestMac));
    assert!(h
        .log
        .iter()
        .any(|(u, e)| *u == 3 && *e == StackEvent::UnitRenumbered { from: 1, to: 4 }));
    assert_eq!(h.node(5).unwrap().persisted.unit, 6);
    check_all_forwarding(&h);
}

#[test]
fn a_seventh_unit_stays_unassigned() {
    let mut h = Harness::line(18, specs(&[1; 6]), false, 1);
    settled(&mut h);
    let seventh = h.add_unit(UnitSpec::new(BASE, 255));
    h.connect(5, StackPort(0), seventh, StackPort(1));
    settled(&mut h);
    let v = h.view(seventh).unwrap();
    assert_eq!(v.role, Role::Unassigned);
    assert_eq!(v.unit, 0);
    assert!(!v.active);
    assert_eq!(
        last_rule(&h, seventh, Role::Unassigned),
        Some(Rule::NoFreeUnitNumber)
    );
    for i in 0..6 {
        assert!(h.view(i).unwrap().active);
        assert_eq!(
            h.node(i).unwrap().dp.routes.len(),
            5,
            "no route to the seventh unit"
        );
    }
    // Seven cold-booted together: six numbers, one refused.
    let mut h = Harness::line(19, specs(&[1; 7]), true, 1);
    settled(&mut h);
    let refused: Vec<usize> = (0..7)
        .filter(|&i| h.view(i).unwrap().role == Role::Unassigned)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_ne!(master_of(&h, 0), Some(refused[0]));
}

#[test]
fn a_unit_without_the_stack_key_is_kept_out() {
    for bad in [None, Some(&b"wrong"[..])] {
        let mut s: Vec<UnitSpec> = specs(&[1; 6])
            .into_iter()
            .map(|u| u.with_key(b"k"))
            .collect();
        s[3].persisted.priority = 255;
        s[3].key = bad.map(|k| k.to_vec());
        let mut h = Harness::line(20, s, true, 1);
        settled(&mut h);
        let outsider = h.mac(3);
        for i in [0, 1, 2, 4, 5] {
            let v = h.view(i).unwrap();
            assert_eq!(master_of(&h, i), Some(0));
            assert!(v.members.iter().all(|m| m.mac != outsider));
            assert_eq!(v.members.len(), 5);
            let outsider_unit = h.view(3).unwrap().unit;
            assert!(
                outsider_unit == 0
                    || !h.node(i).unwrap().dp.routes.contains_key(&outsider_unit)
                    || h.view(i)
                        .unwrap()
                        .members
                        .iter()
                        .any(|m| m.unit == outsider_unit)
            );
        }
        assert!(h.refused > 0);
        // The outsider is alone: whatever it thinks, it programs nobody else.
        assert_eq!(h.view(3).unwrap().members.len(), 1);
    }
}
