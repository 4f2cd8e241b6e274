//! The stack as a graph, computed identically by every unit from the same adverts.
//!
//! Nodes are units (by base MAC); an edge exists only when *both* ends advertise the link
//! (port to port), so a half-dead link is no link. Parallel links between the same two units
//! bundle into one stack trunk (at most [`MAX_TRUNK_LINKS`], lowest ports first). From the
//! graph: the connected component of a unit, its kind (single, chain, ring, mesh), shortest-path
//! routes with a backup next hop that avoids the primary one, and a flood tree (breadth-first
//! from the lowest MAC, neighbours in MAC order) that leaves out exactly one link of a ring.
//! Every tie is broken by the lowest MAC, so all units agree.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::wire::{Advert, StackPort};

/// Most links bundled into one stack trunk.
pub const MAX_TRUNK_LINKS: usize = 8;

/// The shape of a connected stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyKind {
    /// One unit alone.
    Single,
    /// Units in a line (includes two units joined by a trunk).
    Chain,
    /// Units in a closed loop (three or more).
    Ring,
    /// Anything else (a unit with three or more neighbours).
    Mesh,
}

/// The stack ports of one unit that lead to one neighbour, sorted, at most eight.
pub type Trunk = Vec<StackPort>;

/// A unit graph: for each unit, its neighbours and the trunk (own ports) towards each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    edges: BTreeMap<u64, BTreeMap<u64, Trunk>>,
    /// Confirmed links: (unit, its port) → (neighbour, its port).
    links: BTreeMap<(u64, StackPort), (u64, StackPort)>,
}

impl Graph {
    /// Builds the graph from adverts (keyed by origin MAC): a link counts only when both ends
    /// advertise it.
    pub fn build<'a>(adverts: impl IntoIterator<Item = &'a Advert>) -> Graph {
        let by_mac: BTreeMap<u64, &Advert> = adverts.into_iter().map(|a| (a.origin, a)).collect();
        let mut edges: BTreeMap<u64, BTreeMap<u64, Trunk>> = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (&mac, a) in &by_mac {
            edges.entry(mac).or_default();
            for j in &a.adjacencies {
                if j.neighbour == mac {
                    continue;
                }
                let Some(b) = by_mac.get(&j.neighbour) else {
                    continue;
                };
                let confirmed = b.adjacencies.iter().any(|k| {
                    k.port == j.neighbour_port && k.neighbour == mac && k.neighbour_port == j.port
                });
                if confirmed {
                    links.insert((mac, j.port), (j.neighbour, j.neighbour_port));
                    let trunk = edges
                        .entry(mac)
                        .or_default()
                        .entry(j.neighbour)
                        .or_default();
                    if !trunk.contains(&j.port) {
                        trunk.push(j.port);
                        trunk.sort();
                        trunk.truncate(MAX_TRUNK_LINKS);
                    }
                }
            }
        }
        Graph { edges, links }
    }

    /// Neighbours of `mac` and the trunk towards each, in MAC order.
    pub fn neighbours(&self, mac: u64) -> impl Iterator<Item = (u64, &Trunk)> + '_ {
        self.edges
            .get(&mac)
            .into_iter()
            .flat_map(|m| m.iter().map(|(n, t)| (*n, t)))
    }

    /// The trunk from `a` towards `b`, if they are neighbours.
    pub fn trunk(&self, a: u64, b: u64) -> Option<&Trunk> {
        self.edges.get(&a)?.get(&b)
    }

    /// The units reachable from `from` (including it, if it is in the graph).
    pub fn component(&self, from: u64) -> BTreeSet<u64> {
        let mut seen = BTreeSet::new();
        if !self.edges.contains_key(&from) {
            return seen;
        }
        let mut queue = VecDeque::from([from]);
        seen.insert(from);
        while let Some(u) = queue.pop_front() {
            for (n, _) in self.neighbours(u) {
                if seen.insert(n) {
                    queue.push_back(n);
                }
            }
        }
        seen
    }

    /// The shape of a component.
    pub fn kind(&self, component: &BTreeSet<u64>) -> TopologyKind {
        let n = component.len();
        let degree = |u: u64| {
            self.neighbours(u)
                .filter(|(m, _)| component.contains(m))
                .count()
        };
        let degrees: Vec<usize> = component.iter().map(|&u| degree(u)).collect();
        let links: usize = degrees.iter().sum::<usize>() / 2;
        if n <= 1 {
            TopologyKind::Single
        } else if degrees.iter().all(|&d| d <= 2) && links + 1 == n {
            TopologyKind::Chain
        } else if n >= 3 && degrees.iter().all(|&d| d == 2) && links == n {
            TopologyKind::Ring
        } else {
            TopologyKind::Mesh
        }
    }

    /// Hop distances to `to` from every unit, optionally without the link `skip`.
    fn distances(&self, to: u64, skip: Option<(u64, u64)>) -> BTreeMap<u64, usize> {
        let mut dist = BTreeMap::from([(to, 0usize)]);
        let mut queue = VecDeque::from([to]);
        while let Some(u) = queue.pop_front() {
            let d = dist[&u];
            for (n, _) in self.neighbours(u) {
                if let Some((a, b)) = skip {
                    if (u, n) == (a, b) || (u, n) == (b, a) {
                        continue;
                    }
                }
                if let std::collections::btree_map::Entry::Vacant(e) = dist.entry(n) {
                    e.insert(d + 1);
                    queue.push_back(n);
                }
            }
        }
        dist
    }

    /// The route from `me` to `to`: the neighbour on a shortest path (lowest MAC on ties) and
    /// a backup neighbour reached without that link (shortest, lowest MAC), if any.
    pub fn route(&self, me: u64, to: u64) -> Option<(u64, Option<u64>)> {
        if me == to {
            return None;
        }
        let dist = self.distances(to, None);
        let here = *dist.get(&me)?;
        let primary = self
            .neighbours(me)
            .find(|(n, _)| dist.get(n).is_some_and(|&d| d + 1 == here))
            .map(|(n, _)| n)?;
        let alt = self.distances(to, Some((me, primary)));
        let backup = self
            .neighbours(me)
            .filter(|(n, _)| *n != primary)
            .filter_map(|(n, _)| alt.get(&n).map(|&d| (d, n)))
            .min()
            .map(|(_, n)| n);
        Some((primary, backup))
    }

    /// The flood tree of the component of `me`: breadth-first from its lowest MAC, neighbours
    /// in MAC order. Returns the tree's links as (parent, child) pairs.
    pub fn flood_tree(&self, me: u64) -> Vec<(u64, u64)> {
        let component = self.component(me);
        let Some(&root) = component.iter().next() else {
            return Vec::new();
        };
        let mut seen = BTreeSet::from([root]);
        let mut queue = VecDeque::from([root]);
        let mut links = Vec::new();
        while let Some(u) = queue.pop_front() {
            for (n, _) in self.neighbours(u) {
                if seen.insert(n) {
                    links.push((u, n));
                    queue.push_back(n);
                }
            }
        }
        links
    }

    /// The stack ports of `me` on the flood tree: one link of the trunk towards each tree
    /// neighbour, so a trunk never floods a frame twice — the same link seen from both ends
    /// (the lower MAC's lowest port of the trunk), so a flood never comes back over another.
    pub fn flood_ports(&self, me: u64) -> Vec<StackPort> {
        let mut ports: Vec<StackPort> = self
            .flood_tree(me)
            .into_iter()
            .filter_map(|(a, b)| {
                let n = if a == me {
                    b
                } else if b == me {
                    a
                } else {
                    return None;
                };
                if me < n {
                    return self.trunk(me, n)?.first().copied();
                }
                let theirs = *self.trunk(n, me)?.first()?;
                let (_, mine) = self.links.get(&(n, theirs))?;
                Some(*mine)
            })
            .collect();
        ports.sort();
        ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Adjacency;

    fn advert(origin: u64, adj: &[(u8, u64, u8)]) -> Advert {
        Advert {
            adjacencies: adj
                .iter()
                .map(|&(p, n, q)| Adjacency {
                    port: StackPort(p),
                    neighbour: n,
                    neighbour_port: StackPort(q),
                })
                .collect(),
            ..Advert::joining(origin)
        }
    }

    /// A ring of `n` units, MACs 1..=n, port 0 to the next unit, port 1 to the previous.
    fn ring(n: u64) -> Vec<Advert> {
        (1..=n)
            .map(|u| {
                let next = u % n + 1;
                let prev = (u + n - 2) % n + 1;
                advert(u, &[(0, next, 1), (1, prev, 0)])
            })
            .collect()
    }

    #[test]
    fn ring_routes_and_tree() {
        let ads = ring(6);
        let g = Graph::build(&ads);
        let c = g.component(1);
        assert_eq!(c.len(), 6);
        assert_eq!(g.kind(&c), TopologyKind::Ring);
        // From 1, unit 2 is next (port 0), backup the other way round.
        assert_eq!(g.route(1, 2), Some((2, Some(6))));
        // Opposite unit: equal both ways, lowest MAC neighbour wins.
        assert_eq!(g.route(1, 4), Some((2, Some(6))));
        assert_eq!(g.flood_tree(3).len(), 5);
    }

    #[test]
    fn one_sided_links_do_not_count() {
        let ads = vec![advert(1, &[(0, 2, 1)]), advert(2, &[])];
        let g = Graph::build(&ads);
        assert_eq!(g.component(1).len(), 1);
        assert_eq!(g.kind(&g.component(1)), TopologyKind::Single);
    }

    #[test]
    fn parallel_links_bundle() {
        let ads = vec![
            advert(1, &[(0, 2, 2), (1, 2, 3)]),
            advert(2, &[(2, 1, 0), (3, 1, 1)]),
        ];
        let g = Graph::build(&ads);
        assert_eq!(g.trunk(1, 2), Some(&vec![StackPort(0), StackPort(1)]));
        assert_eq!(g.kind(&g.component(1)), TopologyKind::Chain);
        assert_eq!(g.flood_ports(1), vec![StackPort(0)]);
        assert_eq!(
            g.flood_ports(2),
            vec![StackPort(2)],
            "the same link from both ends"
        );
    }

    #[test]
    fn crossed_parallel_links_flood_over_one_link() {
        // Two units cabled as a ring of two: 1's port 1 to 2's port 0, and 2's port 1 to 1's
        // port 0. Each end's lowest port is on a different cable; the flood tree must use one.
        let ads = vec![
            advert(1, &[(0, 2, 1), (1, 2, 0)]),
            advert(2, &[(0, 1, 1), (1, 1, 0)]),
        ];
        let g = Graph::build(&ads);
        assert_eq!(g.flood_ports(1), vec![StackPort(0)]);
        assert_eq!(g.flood_ports(2), vec![StackPort(1)]);
    }
}
