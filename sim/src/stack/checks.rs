//! The stack invariants of DESIGN.md §7, checked on the live units of a stack: components,
//! one master per component that everyone follows (4), loop-free routes as programmed in the
//! engines (5).

use std::collections::BTreeSet;
use std::time::Duration;

use controlplane::Role;
use dataplane::config::Slot;
use dataplane::PortIndex;

use super::{Stack, StackError};
use crate::world::NodeId;

impl Stack {
    fn live_units(&self) -> Vec<(u8, NodeId)> {
        (1..=self.spec.units)
            .filter_map(|u| self.unit_node(u).map(|n| (u, n)))
            .filter(|(_, n)| !self.world.is_dead(*n))
            .collect()
    }

    /// The unit at the far end of stack port `p` of `node`, if its cable is whole and it lives.
    fn stack_peer(&self, node: NodeId, p: PortIndex) -> Option<u8> {
        if self.world.is_cut(node, p) {
            return None;
        }
        let (peer, _) = self.world.peer_of(node, p)?;
        if self.world.is_dead(peer) {
            return None;
        }
        self.world.unit(peer).map(|u| u.engine().unit())
    }

    fn stack_ports(&self, node: NodeId) -> Vec<PortIndex> {
        let Some(e) = self.world.switch(node) else {
            return Vec::new();
        };
        (0..e.num_ports())
            .map(|p| PortIndex(p as u16))
            .filter(|p| e.port_config(*p).is_some_and(|c| c.id.slot == Slot::Stack))
            .collect()
    }

    /// The groups of live units joined by whole cables, each sorted, in unit order.
    pub fn components(&self) -> Vec<Vec<u8>> {
        let live = self.live_units();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for &(start, _) in &live {
            if !seen.insert(start) {
                continue;
            }
            let mut comp = vec![start];
            let mut k = 0;
            while k < comp.len() {
                let Some(n) = self.unit_node(comp[k]) else {
                    break;
                };
                k += 1;
                for p in self.stack_ports(n) {
                    if let Some(v) = self.stack_peer(n, p) {
                        if seen.insert(v) {
                            comp.push(v);
                        }
                    }
                }
            }
            comp.sort_unstable();
            out.push(comp);
        }
        out
    }

    /// Invariant 4: in every component with an active unit, exactly one unit is master and
    /// every active unit follows it. Units whose control plane is stopped are not asked.
    pub fn check_one_master(&self) -> Result<(), String> {
        let now = self.world.now();
        for comp in self.components() {
            let views: Vec<(u8, controlplane::StackView)> = comp
                .iter()
                .filter_map(|u| {
                    let n = self.unit_node(*u)?;
                    let m = self.world.unit(n)?.manager()?;
                    Some((*u, m.view(now)))
                })
                .collect();
            let masters: Vec<u8> = views
                .iter()
                .filter(|(_, v)| v.role == Role::Master)
                .map(|(u, _)| *u)
                .collect();
            if views.iter().all(|(_, v)| !v.active) {
                continue;
            }
            let [m] = masters[..] else {
                return Err(format!("component {comp:?}: masters {masters:?}"));
            };
            let mac = super::build::unit_mac(m);
            for (u, v) in views.iter().filter(|(_, v)| v.active) {
                if v.master != Some(mac) {
                    return Err(format!(
                        "component {comp:?}: unit {u} follows {:?}, not unit {m}",
                        v.master
                    ));
                }
            }
        }
        Ok(())
    }

    /// Invariant 5 as the engines would forward now: in every component, a frame from any unit
    /// to any other follows next hops (primary, or backup while the primary is down) to its
    /// destination without visiting a unit twice.
    pub fn check_routes(&self) -> Result<(), String> {
        for comp in self.components() {
            for &src in &comp {
                for &dst in comp.iter().filter(|d| **d != src) {
                    let mut cur = src;
                    let mut visited = BTreeSet::from([src]);
                    while cur != dst {
                        let n = self.unit_node(cur).ok_or("no such unit")?;
                        let e = self.world.switch(n).ok_or("not a switch")?;
                        let up = (0..e.num_ports())
                            .filter(|p| e.port_up(PortIndex(*p as u16)))
                            .fold(0u64, |m, p| m | 1 << p);
                        let hop = e
                            .stack_table()
                            .next_hop(dst, up)
                            .ok_or(format!("unit {cur} has no way to unit {dst}"))?;
                        let next = self
                            .stack_peer(n, hop)
                            .ok_or(format!("unit {cur} sends for unit {dst} into a dead link"))?;
                        if !visited.insert(next) {
                            return Err(format!("loop from unit {src} to unit {dst} at {next}"));
                        }
                        cur = next;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the world on for `d` of virtual time (e.g. to let the control plane settle after
    /// a run).
    pub fn run_for(&mut self, d: Duration) -> Result<(), StackError> {
        let end = self.world.now() + d;
        self.world.run_until(end)?;
        Ok(())
    }
}
