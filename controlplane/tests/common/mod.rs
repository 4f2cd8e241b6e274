//! Helpers shared by the stack manager's harness tests.
#![allow(dead_code)]

use controlplane::harness::{Harness, UnitSpec};
use controlplane::{Role, Rule, StackEvent};

/// The first unit's MAC is BASE + 1.
pub const BASE: u64 = 0x0200_0000_0000;

/// Units BASE + 1, BASE + 2, … with these priorities.
pub fn specs(priorities: &[u8]) -> Vec<UnitSpec> {
    priorities
        .iter()
        .enumerate()
        .map(|(i, &p)| UnitSpec::new(BASE + 1 + i as u64, p))
        .collect()
}

/// Runs until settled and checks there is one master per component.
pub fn settled(h: &mut Harness) {
    assert!(h.settle(), "did not settle");
    h.check_one_master().unwrap();
}

/// The index of the (running, attached) master.
pub fn master(h: &Harness) -> usize {
    (0..h.len())
        .find(|&i| {
            h.view(i).is_some_and(|v| v.role == Role::Master)
                && h.node(i).is_some_and(|n| !n.detached)
        })
        .expect("a master")
}

/// The index of the unit that follows `i`'s master.
pub fn master_of(h: &Harness, i: usize) -> Option<usize> {
    h.view(i).and_then(|v| v.master).and_then(|m| h.index_of(m))
}

/// Unit `i`'s number.
pub fn unit_of(h: &Harness, i: usize) -> u8 {
    h.view(i).unwrap().unit
}

/// The index of the unit numbered `unit`.
pub fn index_of_unit(h: &Harness, unit: u8) -> usize {
    (0..h.len())
        .find(|&i| h.view(i).is_some_and(|v| v.unit == unit))
        .unwrap()
}

/// The rule logged when unit `i` last became `role`.
pub fn last_rule(h: &Harness, i: usize, role: Role) -> Option<Rule> {
    h.log.iter().rev().find_map(|(u, e)| match e {
        StackEvent::RoleChanged { to, rule, .. } if *u == i && *to == role => Some(*rule),
        _ => None,
    })
}

/// The index of the standby named by unit `i`'s master.
pub fn standby_of(h: &Harness, i: usize) -> usize {
    h.view(i)
        .unwrap()
        .standby
        .and_then(|s| h.index_of(s))
        .expect("a standby")
}
