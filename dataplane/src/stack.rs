//! Stack forwarding state: which stack port leads to each unit (with a precomputed backup),
//! and which stack ports form the flood tree.
//!
//! The control plane programs both. The dataplane repairs unicast by itself: the moment a
//! stack link is down, [`StackTable::next_hop`] answers with the backup port, without waiting
//! for any control plane (the G.8032 ring-protection idea, DESIGN.md §3).
//!
//! Flooding follows the same idea while this unit's control plane is away (restarting): a link
//! failure elsewhere makes the other units' control planes open the ring's blocked link, and
//! this unit's programmed tree goes stale. A tree is the same seen from both ends of a link, so
//! a flooded frame arriving on a port off our tree means the neighbour's tree has that link:
//! the engine *adopts* the port ([`StackTable::adopt_flood_port`]) until the tree is programmed
//! again. With a control plane attached such a frame is dropped instead, as a blocked port
//! drops it, so a tree being re-programmed never carries a frame round a ring twice.

use crate::port::PortIndex;

/// Highest unit number a stack header can name (and the size of the route table).
pub const MAX_UNIT: u8 = 15;

/// How to reach one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackRoute {
    /// The stack port on the shortest path.
    pub primary: PortIndex,
    /// The stack port the other way round the ring, used while `primary` is down.
    pub backup: Option<PortIndex>,
}

/// Unit routes and flood tree of one unit.
#[derive(Clone, Debug, Default)]
pub struct StackTable {
    routes: [Option<StackRoute>; MAX_UNIT as usize + 1],
    flood_ports: u64,
    /// Ports added to the flood tree by the dataplane itself, while no control plane was
    /// attached, because the neighbour floods on them (bit i = port index i).
    adopted: u64,
}

impl StackTable {
    /// Sets (or with `None` removes) the route to `unit`.
    pub fn set_route(&mut self, unit: u8, route: Option<StackRoute>) {
        if let Some(slot) = self.routes.get_mut(usize::from(unit)) {
            *slot = route;
        }
    }

    /// The route to `unit`, as programmed.
    pub fn route(&self, unit: u8) -> Option<StackRoute> {
        self.routes.get(usize::from(unit)).copied().flatten()
    }

    /// The stack port to send a frame for `unit` on now, given which ports are up
    /// (bit i = port index i): the primary if up, else the backup if up.
    #[inline]
    pub fn next_hop(&self, unit: u8, ports_up: u64) -> Option<PortIndex> {
        let route = self.route(unit)?;
        let up = |p: PortIndex| ports_up & (1u64 << (p.0 & 63)) != 0;
        if up(route.primary) {
            Some(route.primary)
        } else {
            route.backup.filter(|b| up(*b))
        }
    }

    /// Replaces the flood tree: a bitmap of the stack ports on it (bit i = port index i).
    /// Ports adopted meanwhile are dropped: the control plane has decided.
    pub fn set_flood_ports(&mut self, mask: u64) {
        self.flood_ports = mask;
        self.adopted = 0;
    }

    /// The flood tree as programmed, a bitmap of port indices.
    #[inline]
    pub fn flood_ports(&self) -> u64 {
        self.flood_ports
    }

    /// The ports floods leave by now: the programmed tree and the adopted ports.
    #[inline]
    pub fn flood_set(&self) -> u64 {
        self.flood_ports | self.adopted
    }

    /// Adds a port to the flood set until the tree is programmed again; whether it was not
    /// in the set before.
    pub fn adopt_flood_port(&mut self, port: PortIndex) -> bool {
        let bit = 1u64 << (port.0 & 63);
        let new = self.flood_set() & bit == 0;
        self.adopted |= bit;
        new
    }

    /// The adopted ports, a bitmap of port indices.
    pub fn adopted_flood_ports(&self) -> u64 {
        self.adopted
    }

    /// Units with a route, and their routes.
    pub fn routes(&self) -> impl Iterator<Item = (u8, StackRoute)> + '_ {
        self.routes
            .iter()
            .enumerate()
            .filter_map(|(u, r)| r.map(|r| (u as u8, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hop_falls_back_to_backup_only_while_primary_is_down() {
        let mut t = StackTable::default();
        t.set_route(
            3,
            Some(StackRoute {
                primary: PortIndex(4),
                backup: Some(PortIndex(5)),
            }),
        );
        let both = (1 << 4) | (1 << 5);
        assert_eq!(t.next_hop(3, both), Some(PortIndex(4)));
        assert_eq!(t.next_hop(3, 1 << 5), Some(PortIndex(5)));
        assert_eq!(t.next_hop(3, 0), None);
        assert_eq!(t.next_hop(2, both), None, "no route programmed");
        t.set_route(99, None); // out of range: ignored, never a panic
        assert_eq!(t.routes().count(), 1);
    }

    #[test]
    fn adopted_flood_ports_last_until_the_tree_is_programmed() {
        let mut t = StackTable::default();
        t.set_flood_ports(1 << 4);
        assert!(!t.adopt_flood_port(PortIndex(4)), "already on the tree");
        assert_eq!(t.adopted_flood_ports(), 1 << 4);
        assert!(t.adopt_flood_port(PortIndex(5)));
        assert!(!t.adopt_flood_port(PortIndex(5)), "once");
        assert_eq!(
            t.flood_ports(),
            1 << 4,
            "the programmed tree reads back unchanged"
        );
        assert_eq!(t.flood_set(), (1 << 4) | (1 << 5));
        t.set_flood_ports(1 << 4);
        assert_eq!(
            t.flood_set(),
            1 << 4,
            "programming the tree ends the adoption"
        );
        assert_eq!(t.adopted_flood_ports(), 0);
    }
}
