//! What the dataplane must be programmed with, and the diff from what it has.
//!
//! The manager computes the full desired state (a route per numbered unit, the flood tree, the
//! front-port hold) after every change; [`Programmed::diff`] turns it into the few
//! [`DataplaneWrite`]s that move the dataplane there.

use std::collections::BTreeMap;

use crate::stack_config::StaticMac;
use crate::topology::Trunk;
use crate::wire::StackPort;

/// How this unit reaches another unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination unit number.
    pub unit: u8,
    /// The trunk on the shortest path (one or more parallel stack ports, sorted).
    pub primary: Trunk,
    /// The trunk the other way (the ring's other side), if there is one.
    pub backup: Option<Trunk>,
}

impl Route {
    /// The single primary port for a dataplane route entry: the trunk's lowest port.
    pub fn primary_port(&self) -> Option<StackPort> {
        self.primary.first().copied()
    }

    /// The single backup port for a dataplane route entry: the backup trunk's lowest port,
    /// else a second link of the primary trunk (a chain with parallel links).
    pub fn backup_port(&self) -> Option<StackPort> {
        match &self.backup {
            Some(b) => b.first().copied(),
            None => self.primary.get(1).copied(),
        }
    }
}

/// One change to the dataplane's stack state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataplaneWrite {
    /// Set (add or replace) the route to a unit.
    SetRoute(Route),
    /// Remove the route to a unit number.
    DeleteRoute(u8),
    /// Replace the flood tree: the stack ports flooded frames leave by.
    SetFloodTree(Vec<StackPort>),
    /// Hold all front-panel ports down (`true`) or release them (`false`).
    HoldFrontPorts(bool),
    /// Program a static MAC entry of the stack configuration (a local port on its own unit,
    /// a remote destination on the others).
    SetStaticMac(StaticMac),
    /// Remove the static MAC entry for (VLAN, MAC).
    DeleteStaticMac(u16, u64),
}

/// The stack state as last written to the dataplane.
#[derive(Clone, Debug, Default)]
pub struct Programmed {
    routes: BTreeMap<u8, Route>,
    flood: Option<Vec<StackPort>>,
    hold: Option<bool>,
    macs: BTreeMap<(u16, u64), StaticMac>,
}

impl Programmed {
    /// The writes that move the dataplane from what it has to `routes`/`flood`/`hold`, and
    /// records the new state.
    pub fn diff(
        &mut self,
        routes: BTreeMap<u8, Route>,
        flood: Vec<StackPort>,
        hold: bool,
    ) -> Vec<DataplaneWrite> {
        let mut out = Vec::new();
        // Hold first when holding, last when releasing: front ports never forward on a
        // half-programmed stack.
        if hold && self.hold != Some(true) {
            out.push(DataplaneWrite::HoldFrontPorts(true));
        }
        for unit in self.routes.keys() {
            if !routes.contains_key(unit) {
                out.push(DataplaneWrite::DeleteRoute(*unit));
            }
        }
        for (unit, r) in &routes {
            if self.routes.get(unit) != Some(r) {
                out.push(DataplaneWrite::SetRoute(r.clone()));
            }
        }
        if self.flood.as_ref() != Some(&flood) {
            out.push(DataplaneWrite::SetFloodTree(flood.clone()));
        }
        if !hold && self.hold != Some(false) {
            out.push(DataplaneWrite::HoldFrontPorts(false));
        }
        self.routes = routes;
        self.flood = Some(flood);
        self.hold = Some(hold);
        out
    }

    /// The writes that move the dataplane's static MAC entries to `macs`, and records them.
    pub fn diff_macs(&mut self, macs: &[StaticMac]) -> Vec<DataplaneWrite> {
        let want: BTreeMap<(u16, u64), StaticMac> =
            macs.iter().map(|m| ((m.vid, m.mac), *m)).collect();
        let mut out: Vec<DataplaneWrite> = self
            .macs
            .keys()
            .filter(|k| !want.contains_key(k))
            .map(|(vid, mac)| DataplaneWrite::DeleteStaticMac(*vid, *mac))
            .collect();
        out.extend(
            want.iter()
                .filter(|(k, m)| self.macs.get(k) != Some(m))
                .map(|(_, m)| DataplaneWrite::SetStaticMac(*m)),
        );
        self.macs = want;
        out
    }

    /// The routes as last written.
    pub fn routes(&self) -> &BTreeMap<u8, Route> {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_writes_only_changes() {
        let mut p = Programmed::default();
        let r = Route {
            unit: 2,
            primary: vec![StackPort(0)],
            backup: Some(vec![StackPort(1)]),
        };
        let w = p.diff(BTreeMap::from([(2, r.clone())]), vec![StackPort(0)], true);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], DataplaneWrite::HoldFrontPorts(true));
        assert!(p
            .diff(BTreeMap::from([(2, r)]), vec![StackPort(0)], true)
            .is_empty());
        let w = p.diff(BTreeMap::new(), vec![], false);
        assert_eq!(
            w,
            vec![
                DataplaneWrite::DeleteRoute(2),
                DataplaneWrite::SetFloodTree(vec![]),
                DataplaneWrite::HoldFrontPorts(false)
            ]
        );
    }
}
