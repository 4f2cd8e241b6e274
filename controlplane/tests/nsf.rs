//! Nonstop forwarding in the stack manager: a control-plane restart (the dataplane lives on)
//! is not a unit failure. Within the grace period nobody re-elects and nothing is held or
//! re-routed; the restarted manager resumes from its checkpoint; past the grace period the
//! standby takes over.

mod common;
use common::*;

use std::time::Duration;

use controlplane::harness::{Harness, UnitSpec};
use controlplane::{Role, Rule, StackConfig, StackEvent, StackPort};

fn short_grace(spec: &UnitSpec) -> StackConfig {
    let mut c = StackConfig::new(
        spec.mac,
        spec.persisted,
        (0..spec.ports).map(StackPort).collect(),
    );
    c.grace_period = Duration::from_secs(3);
    c
}

fn ring(seed: u64, n: usize) -> Harness {
    let specs = (0..n)
        .map(|i| UnitSpec::new(BASE + 1 + i as u64, 1))
        .collect();
    let mut h = Harness::line_with(seed, specs, true, 1, short_grace);
    assert!(h.settle());
    h.check_one_master().unwrap();
    h
}

fn role_changes_since(h: &Harness, mark: usize) -> Vec<(usize, StackEvent)> {
    h.log[mark..]
        .iter()
        .filter(|(_, e)| matches!(e, StackEvent::RoleChanged { .. } | StackEvent::Split { .. }))
        .cloned()
        .collect()
}

/// Route and flood-tree changes per unit so far.
fn route_changes(h: &Harness) -> Vec<usize> {
    (0..h.len())
        .map(|i| h.node(i).map_or(0, |n| n.dp.route_changes))
        .collect()
}

#[test]
fn the_masters_control_plane_restarts_without_an_election() {
    let mut h = ring(31, 4);
    let m = master(&h);
    let epoch = h.view(m).unwrap().epoch;
    let routes: Vec<_> = (0..4)
        .map(|i| h.node(i).unwrap().dp.routes.clone())
        .collect();
    let changes = route_changes(&h);
    let mark = h.log.len();
    h.detach_control(m);
    // Well past the 1 s hold time, inside the 3 s grace period.
    h.run_for(Duration::from_millis(2500));
    for i in (0..4).filter(|&i| i != m) {
        let v = h.view(i).unwrap();
        assert_eq!(v.master, Some(h.mac(m)), "unit index {i} lost the master");
        assert_eq!(v.members.len(), 4);
        assert!(v.active);
    }
    h.reattach_control(m);
    h.run_for(Duration::from_millis(500));
    assert_eq!(
        route_changes(&h),
        changes,
        "no unit re-routed, not even for a moment"
    );
    assert_eq!(master(&h), m);
    assert_eq!(h.view(m).unwrap().epoch, epoch, "no new epoch: no election");
    h.check_one_master().unwrap();
    assert_eq!(
        role_changes_since(&h, mark),
        vec![],
        "nobody changed role or split"
    );
    for (i, before) in routes.iter().enumerate() {
        assert_eq!(
            h.node(i).unwrap().dp.holds_after_active,
            0,
            "unit index {i} held"
        );
        assert_eq!(
            &h.node(i).unwrap().dp.routes,
            before,
            "unit index {i} re-routed"
        );
    }
}

#[test]
fn a_members_control_plane_restarts_without_a_ripple() {
    let mut h = ring(32, 5);
    let m = master(&h);
    let member = (0..5)
        .find(|&i| i != m && h.view(i).unwrap().role == Role::Member)
        .unwrap();
    let mark = h.log.len();
    let changes = route_changes(&h);
    h.detach_control(member);
    h.run_for(Duration::from_millis(1500));
    h.reattach_control(member);
    h.run_for(Duration::from_millis(500));
    assert_eq!(role_changes_since(&h, mark), vec![]);
    assert_eq!(route_changes(&h), changes, "nobody re-routed");
    assert_eq!(h.view(member).unwrap().role, Role::Member);
    assert_eq!(h.view(member).unwrap().master, Some(h.mac(m)));
    assert!(!h.node(member).unwrap().mgr.resyncing());
    h.check_one_master().unwrap();
}

#[test]
fn past_the_grace_period_the_standby_takes_over_and_the_old_master_is_fenced() {
    let mut h = ring(33, 4);
    let m = master(&h);
    let standby = standby_of(&h, m);
    h.detach_control(m);
    h.run_for(Duration::from_secs(6));
    assert_eq!(master(&h), standby);
    assert!(h.log.iter().any(|(u, e)| *u == standby
        && matches!(
            e,
            StackEvent::RoleChanged {
                to: Role::Master,
                rule: Rule::StandbyTakeover,
                ..
            }
        )));
    // The old master comes back from its stale checkpoint: fenced by the higher epoch.
    h.reattach_control(m);
    assert!(h.settle());
    h.check_one_master().unwrap();
    assert_eq!(master(&h), standby);
    assert_eq!(h.view(m).unwrap().role, Role::Member);
}

#[test]
fn a_link_cut_while_a_control_plane_is_down_is_repaired() {
    let mut h = ring(34, 5);
    let m = master(&h);
    h.detach_control(m);
    // Cut a link between two other units: the ring becomes a chain around it.
    let a = (m + 2) % 5;
    let b = (m + 3) % 5;
    h.cut(a, b);
    h.run_for(Duration::from_millis(1500));
    for i in (0..5).filter(|&i| i != m) {
        let v = h.view(i).unwrap();
        assert_eq!(v.master, Some(h.mac(m)));
        assert_eq!(v.members.len(), 5, "unit index {i}");
    }
    // Every other unit re-routed around the cut: a route to every unit, none over the cut.
    for i in (0..5).filter(|&i| i != m) {
        let routes = &h.node(i).unwrap().dp.routes;
        assert_eq!(routes.len(), 4, "unit index {i}: {routes:?}");
    }
    assert!(h
        .node(a)
        .unwrap()
        .dp
        .routes
        .values()
        .all(|r| r.backup.is_none()));
    h.reattach_control(m);
    assert!(h.settle());
    h.check_one_master().unwrap();
    assert_eq!(master(&h), m);
    h.check_forwarding(&(0..5).collect::<Vec<_>>()).unwrap();
}
