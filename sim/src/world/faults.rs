//! Faults the world can inject: a node powered off, a cable cut (and mended), a lossy cable.
//!
//! A cut or a dead peer is a loss of carrier: the switch ends of the cable are told at once
//! (`Engine::set_port_up(false)`), as a PHY reports link down, so unicast moves to the backup
//! route without waiting for hellos. Frames on a cut cable, or towards a dead node, are lost
//! and counted in [`WorldStats::wire_losses`](super::WorldStats).

use dataplane::PortIndex;

use super::{Node, NodeId, World, WorldError};
use crate::rng::SplitMix64;

impl World {
    /// Seeds the generator of link losses.
    pub fn set_seed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    /// Whether `node` is powered off.
    pub fn is_dead(&self, node: NodeId) -> bool {
        self.nodes.get(node.0).is_some_and(|s| s.dead)
    }

    /// Whether a frame arriving on `port` of `node` is received: the node is alive and the
    /// cable is not cut.
    pub(super) fn receives(&self, node: NodeId, port: PortIndex) -> bool {
        let Some(slot) = self.nodes.get(node.0) else {
            return false;
        };
        !slot.dead
            && self.links[node.0]
                .get(port.get())
                .and_then(Option::as_ref)
                .is_none_or(|l| !l.cut)
    }

    fn check_port(&self, node: NodeId, port: PortIndex) -> Result<(), WorldError> {
        let ports = self
            .links
            .get(node.0)
            .ok_or(WorldError::UnknownNode(node.0))?;
        match ports.get(port.get()) {
            Some(Some(_)) => Ok(()),
            _ => Err(WorldError::UnknownPort {
                node: node.0,
                port: port.0,
            }),
        }
    }

    /// Tells a switch end that its link went up or down (hosts have no link state).
    fn carrier(&mut self, node: NodeId, port: PortIndex, up: bool) {
        let now = self.now;
        if self.is_dead(node) {
            return;
        }
        let engine = match &mut self.nodes[node.0].node {
            Node::Switch(e) => Some(&mut **e),
            Node::Unit(u) => Some(u.engine_mut()),
            Node::Host(_) => None,
        };
        if let Some(e) = engine {
            let _ = e.set_port_up(now, port, up);
            self.wake(node);
        }
    }

    /// Powers `node` off: it never runs again, and the far end of each of its cables loses
    /// carrier.
    pub fn kill(&mut self, node: NodeId) -> Result<(), WorldError> {
        let slot = self
            .nodes
            .get_mut(node.0)
            .ok_or(WorldError::UnknownNode(node.0))?;
        slot.dead = true;
        slot.deadline = None;
        let peers: Vec<(NodeId, PortIndex)> = self.links[node.0]
            .iter()
            .flatten()
            .map(|l| (l.peer, l.peer_port))
            .collect();
        for (peer, port) in peers {
            self.carrier(peer, port, false);
        }
        Ok(())
    }

    /// Cuts (`cut = true`) or mends the cable on `port` of `node`; both ends see carrier
    /// change.
    pub fn set_cut(&mut self, node: NodeId, port: PortIndex, cut: bool) -> Result<(), WorldError> {
        self.check_port(node, port)?;
        let Some(end) = self.links[node.0][port.get()].as_mut() else {
            return Ok(());
        };
        end.cut = cut;
        let (peer, peer_port) = (end.peer, end.peer_port);
        if let Some(back) = self.links[peer.0][peer_port.get()].as_mut() {
            back.cut = cut;
        }
        let alive = !self.is_dead(node) && !self.is_dead(peer);
        self.carrier(node, port, !cut && alive);
        self.carrier(peer, peer_port, !cut && alive);
        Ok(())
    }

    /// Loses `ppm` frames per million in both directions of the cable on `port` of `node`.
    pub fn set_link_loss(
        &mut self,
        node: NodeId,
        port: PortIndex,
        ppm: u32,
    ) -> Result<(), WorldError> {
        self.check_port(node, port)?;
        let Some(end) = self.links[node.0][port.get()].as_mut() else {
            return Ok(());
        };
        end.loss_ppm = ppm;
        let (peer, peer_port) = (end.peer, end.peer_port);
        if let Some(back) = self.links[peer.0][peer_port.get()].as_mut() {
            back.loss_ppm = ppm;
        }
        Ok(())
    }

    /// The node and port at the far end of the cable on `port` of `node`.
    pub fn peer_of(&self, node: NodeId, port: PortIndex) -> Option<(NodeId, PortIndex)> {
        let l = self.links.get(node.0)?.get(port.get())?.as_ref()?;
        Some((l.peer, l.peer_port))
    }

    /// Whether the cable on `port` of `node` is cut.
    pub fn is_cut(&self, node: NodeId, port: PortIndex) -> bool {
        self.links
            .get(node.0)
            .and_then(|p| p.get(port.get()))
            .and_then(Option::as_ref)
            .is_some_and(|l| l.cut)
    }
}
