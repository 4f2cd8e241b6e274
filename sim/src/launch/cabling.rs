//! The stack cables of a launched stack: which stack port of which unit leads to which, and
//! the relay addresses when links are relayed.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::{LaunchSpec, Topology};

/// One end of a stack link: a unit's stack port `1/port` and the address it binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkEnd {
    /// The unit.
    pub unit: u8,
    /// The stack port (`1/N`).
    pub port: u8,
    /// The dataplane's socket for this port.
    pub addr: SocketAddr,
}

/// A stack cable between two units' stack ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackLink {
    /// The lower-numbered neighbour's end (the `next` side of the ring).
    pub a: LinkEnd,
    /// The other end.
    pub b: LinkEnd,
    /// With relays: where `a` sends (the relay's socket facing `a`) and where `b` sends.
    pub relay: Option<(SocketAddr, SocketAddr)>,
}

impl StackLink {
    /// Whether it joins units `x` and `y` (either way round).
    pub fn joins(&self, x: u8, y: u8) -> bool {
        (self.a.unit, self.b.unit) == (x, y) || (self.a.unit, self.b.unit) == (y, x)
    }

    /// `1/1/1-2/1/2`: both ends as unit/slot/port.
    pub fn name(&self) -> String {
        format!(
            "{}/1/{}-{}/1/{}",
            self.a.unit, self.a.port, self.b.unit, self.b.port
        )
    }
}

/// The address of stack port `1/port` of the unit at `ip`.
pub(super) fn stack_port_addr(ip: Ipv4Addr, port: u8) -> SocketAddr {
    SocketAddr::new(ip.into(), 30000 + u16::from(port))
}

/// The stack cables: unit i's ports 1..=links lead to the next unit's ports
/// links+1..=2·links; a ring closes the last unit onto the first.
pub(super) fn cabling(spec: &LaunchSpec, ip: impl Fn(u8) -> Ipv4Addr) -> Vec<StackLink> {
    let n = spec.units;
    let mut links = Vec::new();
    let relayed = spec.relays || spec.cable_process.is_some();
    if n < 2 {
        return links;
    }
    for u in 1..=n {
        if u == n && spec.topology == Topology::Chain {
            // A chain's ends stay open.
            break;
        }
        let next = u % n + 1;
        for k in 1..=spec.links {
            let index = links.len() as u8;
            let relay = relayed.then(|| {
                let r = ip(200 + index);
                (
                    SocketAddr::new(r.into(), 32000),
                    SocketAddr::new(r.into(), 32001),
                )
            });
            links.push(StackLink {
                a: LinkEnd {
                    unit: u,
                    port: k,
                    addr: stack_port_addr(ip(u), k),
                },
                b: LinkEnd {
                    unit: next,
                    port: spec.links + k,
                    addr: stack_port_addr(ip(next), spec.links + k),
                },
                relay,
            });
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(units: u8, topology: Topology, links: u8, relays: bool) -> Vec<StackLink> {
        let mut spec = LaunchSpec::new(units, topology, "/nonexistent".into());
        spec.links = links;
        spec.relays = relays;
        cabling(&spec, |h| Ipv4Addr::new(127, 1, 2, h))
    }

    #[test]
    fn a_ring_closes_a_chain_does_not() {
        let ring = links(3, Topology::Ring, 1, false);
        let ends: Vec<_> = ring.iter().map(|l| (l.a.unit, l.b.unit)).collect();
        assert_eq!(ends, vec![(1, 2), (2, 3), (3, 1)]);
        let chain = links(3, Topology::Chain, 1, false);
        let ends: Vec<_> = chain.iter().map(|l| (l.a.unit, l.b.unit)).collect();
        assert_eq!(ends, vec![(1, 2), (2, 3)]);
        assert!(links(1, Topology::Ring, 1, false).is_empty());
    }

    #[test]
    fn parallel_links_use_ports_k_and_links_plus_k() {
        let ring = links(2, Topology::Ring, 2, false);
        // Two units in a ring: cabled both ways round, two parallel links each way.
        assert_eq!(ring.len(), 4);
        let ports: Vec<_> = ring
            .iter()
            .map(|l| (l.a.unit, l.a.port, l.b.unit, l.b.port))
            .collect();
        assert_eq!(
            ports,
            vec![(1, 1, 2, 3), (1, 2, 2, 4), (2, 1, 1, 3), (2, 2, 1, 4)]
        );
        assert_eq!(ring[0].name(), "1/1/1-2/1/3");
        assert!(ring[0].joins(2, 1));
    }

    #[test]
    fn relays_get_their_own_addresses() {
        let ring = links(6, Topology::Ring, 4, true);
        assert_eq!(ring.len(), 24);
        let mut addrs: Vec<_> = ring
            .iter()
            .flat_map(|l| {
                let (x, y) = l.relay.unwrap();
                [x, y]
            })
            .collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 48);
        assert_eq!(ring[0].a.addr, "127.1.2.1:30001".parse().unwrap());
    }
}
