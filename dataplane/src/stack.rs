//! Stack forwarding state: which stack port leads to each unit (with a precomputed backup),
//! and which stack ports form the flood tree.
//!
//! The control plane programs both. The dataplane repairs unicast by itself: the moment a
//! stack link is down, [`StackTable::next_hop`] answers with the backup port, without waiting
//! for any control plane (the G.8032 ring-protection idea, DESIGN.md §3).

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
    pub fn set_flood_ports(&mut self, mask: u64) {
        self.flood_ports = mask;
    }

    /// The flood tree as a bitmap of port indices.
    #[inline]
    pub fn flood_ports(&self) -> u64 {
        self.flood_ports
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
}
