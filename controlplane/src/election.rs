//! The election rules as pure functions over candidates, each result tagged with the [`Rule`]
//! that decided it.
//!
//! Order (DESIGN.md §5): incumbent master first (between two masters the higher epoch wins: the
//! other is stale and fenced), then highest priority (0 = never master), then longest uptime,
//! then lowest MAC. Units have no shared clock, so uptimes are estimates good to a link delay;
//! two uptimes within `uptime_tolerance` of each other count as equal and the MAC decides. The
//! candidates are folded in MAC order, so every unit with the same view picks the same winner.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Most units with a number in one stack.
pub const MAX_UNITS: u8 = 6;

/// The rule that decided a role change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A master already existed and kept its role (no preemption).
    Incumbent,
    /// Two masters met; the higher epoch won and the other was fenced.
    HigherEpoch,
    /// The master was lost and its standby took over.
    StandbyTakeover,
    /// Higher priority.
    Priority,
    /// Longer uptime.
    Uptime,
    /// Lowest MAC (the final tie-break).
    LowestMac,
    /// The only eligible candidate.
    OnlyCandidate,
    /// The standby configured by the operator.
    Configured,
    /// A minority without the master: front ports held down.
    QuorumLost,
    /// No free unit number (a seventh unit): not joined.
    NoFreeUnitNumber,
    /// The master was lost; waiting for an election.
    MasterLost,
    /// The operator made the master hand over to its standby.
    OperatorFailover,
}

impl Rule {
    const ALL: [Rule; 12] = [
        Rule::Incumbent,
        Rule::HigherEpoch,
        Rule::StandbyTakeover,
        Rule::Priority,
        Rule::Uptime,
        Rule::LowestMac,
        Rule::OnlyCandidate,
        Rule::Configured,
        Rule::QuorumLost,
        Rule::NoFreeUnitNumber,
        Rule::MasterLost,
        Rule::OperatorFailover,
    ];

    /// The rule's code on the wire (1-based; 0 means none).
    pub fn code(self) -> u8 {
        Rule::ALL
            .iter()
            .position(|r| *r == self)
            .map_or(0, |i| i as u8 + 1)
    }

    /// The rule with wire code `code`, if any.
    pub fn from_code(code: u8) -> Option<Rule> {
        Rule::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Rule::Incumbent => "incumbent master",
            Rule::HigherEpoch => "higher master epoch",
            Rule::StandbyTakeover => "standby takeover",
            Rule::Priority => "higher priority",
            Rule::Uptime => "longer uptime",
            Rule::LowestMac => "lowest MAC",
            Rule::OnlyCandidate => "only candidate",
            Rule::Configured => "configured standby",
            Rule::QuorumLost => "minority without master",
            Rule::NoFreeUnitNumber => "no free unit number",
            Rule::MasterLost => "master lost",
            Rule::OperatorFailover => "operator-initiated failover",
        };
        f.write_str(s)
    }
}

/// What the rules look at for one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Base MAC.
    pub mac: u64,
    /// Priority (0 = never master).
    pub priority: u8,
    /// Estimated uptime, milliseconds.
    pub uptime_ms: u64,
    /// Master epoch the unit is at.
    pub epoch: u32,
}

/// Compares two candidates by priority, uptime (with tolerance), MAC: `Greater` when `a` is
/// the better one, with the rule that separated them.
pub fn compare(a: &Candidate, b: &Candidate, uptime_tolerance_ms: u64) -> (Ordering, Rule) {
    if a.priority != b.priority {
        return (a.priority.cmp(&b.priority), Rule::Priority);
    }
    if a.uptime_ms > b.uptime_ms.saturating_add(uptime_tolerance_ms) {
        return (Ordering::Greater, Rule::Uptime);
    }
    if b.uptime_ms > a.uptime_ms.saturating_add(uptime_tolerance_ms) {
        return (Ordering::Less, Rule::Uptime);
    }
    (b.mac.cmp(&a.mac), Rule::LowestMac)
}

fn fold_best<'a>(cands: impl Iterator<Item = &'a Candidate>, tol: u64) -> Option<&'a Candidate> {
    let mut sorted: Vec<&Candidate> = cands.collect();
    sorted.sort_by_key(|c| c.mac);
    let mut best: Option<&Candidate> = None;
    for c in sorted {
        best = match best {
            Some(b) if compare(c, b, tol).0 != Ordering::Greater => Some(b),
            _ => Some(c),
        };
    }
    best
}

/// The best of `cands` by priority, uptime, MAC (priority 0 never wins) and the rule that
/// separated it from the runner-up.
pub fn best(cands: &[Candidate], uptime_tolerance_ms: u64) -> Option<(u64, Rule)> {
    let eligible = || cands.iter().filter(|c| c.priority > 0);
    let winner = fold_best(eligible(), uptime_tolerance_ms)?;
    let rule = match fold_best(
        eligible().filter(|c| c.mac != winner.mac),
        uptime_tolerance_ms,
    ) {
        Some(runner_up) => compare(winner, runner_up, uptime_tolerance_ms).1,
        None => Rule::OnlyCandidate,
    };
    Some((winner.mac, rule))
}

/// The incumbent among several units that claim to be master: the highest epoch, then the
/// usual order. The rule is [`Rule::Incumbent`] for a single claim.
pub fn incumbent(masters: &[Candidate], uptime_tolerance_ms: u64) -> Option<(u64, Rule)> {
    let top = masters.iter().map(|m| m.epoch).max()?;
    let at_top: Vec<Candidate> = masters.iter().filter(|m| m.epoch == top).copied().collect();
    if masters.len() == 1 {
        return Some((masters[0].mac, Rule::Incumbent));
    }
    if at_top.len() == 1 {
        return Some((at_top[0].mac, Rule::HigherEpoch));
    }
    // Equal epochs (two stacks formed apart): the rules decide, priority 0 included since
    // both are already masters.
    let tol = uptime_tolerance_ms;
    let winner = fold_best(at_top.iter(), tol)?;
    let runner_up = fold_best(at_top.iter().filter(|c| c.mac != winner.mac), tol)?;
    Some((winner.mac, compare(winner, runner_up, tol).1))
}

/// The standby a master names: the configured one if it is eligible, else the incumbent
/// standby if still eligible, else the best by the rules. `cands` are the stack's numbered
/// members other than the master.
pub fn standby(
    cands: &[Candidate],
    configured: Option<u64>,
    current: Option<u64>,
    uptime_tolerance_ms: u64,
) -> Option<(u64, Rule)> {
    let eligible = |mac: u64| cands.iter().any(|c| c.mac == mac && c.priority > 0);
    if let Some(c) = configured.filter(|&c| eligible(c)) {
        return Some((c, Rule::Configured));
    }
    if let Some(c) = current.filter(|&c| eligible(c)) {
        return Some((c, Rule::Incumbent));
    }
    best(cands, uptime_tolerance_ms)
}

/// Assigns unit numbers. `order` lists the stack's units in priority of assignment (the
/// master first, then its previous members, then newcomers by the election order), each with
/// the number it wants (previously assigned or persisted). A unit keeps the number it wants if
/// it is free, else takes the lowest free one, else gets 0 (refused: a seventh unit).
pub fn assign_units(order: &[(u64, u8)]) -> BTreeMap<u64, u8> {
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    let mut pending = Vec::new();
    for &(mac, want) in order {
        if (1..=MAX_UNITS).contains(&want) && !taken.contains(&want) {
            taken.insert(want);
            out.insert(mac, want);
        } else {
            pending.push(mac);
        }
    }
    for mac in pending {
        let free = (1..=MAX_UNITS).find(|u| !taken.contains(u));
        if let Some(u) = free {
            taken.insert(u);
        }
        out.insert(mac, free.unwrap_or(0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(mac: u64, priority: u8, uptime_ms: u64) -> Candidate {
        Candidate {
            mac,
            priority,
            uptime_ms,
            epoch: 0,
        }
    }

    #[test]
    fn rules_in_order() {
        assert_eq!(
            best(&[c(1, 1, 0), c(2, 2, 0)], 1000),
            Some((2, Rule::Priority))
        );
        assert_eq!(
            best(&[c(1, 1, 0), c(2, 1, 5000)], 1000),
            Some((2, Rule::Uptime))
        );
        assert_eq!(
            best(&[c(2, 1, 500), c(1, 1, 0)], 1000),
            Some((1, Rule::LowestMac))
        );
        assert_eq!(best(&[c(1, 0, 0), c(2, 0, 0)], 1000), None);
        assert_eq!(
            best(&[c(1, 0, 0), c(2, 1, 0)], 1000),
            Some((2, Rule::OnlyCandidate))
        );
    }

    #[test]
    fn higher_epoch_is_incumbent() {
        let mut a = c(1, 200, 9000);
        let mut b = c(2, 1, 0);
        a.epoch = 1;
        b.epoch = 2;
        assert_eq!(incumbent(&[a, b], 1000), Some((2, Rule::HigherEpoch)));
        b.epoch = 1;
        assert_eq!(incumbent(&[a, b], 1000), Some((1, Rule::Priority)));
    }

    #[test]
    fn clash_takes_lowest_free_and_seventh_is_refused() {
        let a = assign_units(&[(10, 1), (11, 2), (12, 1), (13, 0), (14, 3)]);
        assert_eq!(
            a.into_iter().collect::<Vec<_>>(),
            vec![(10, 1), (11, 2), (12, 4), (13, 5), (14, 3)]
        );
        let seven: Vec<(u64, u8)> = (1..=7).map(|m| (m, 0)).collect();
        let a = assign_units(&seven);
        assert_eq!(a[&6], 6);
        assert_eq!(a[&7], 0);
    }
}
