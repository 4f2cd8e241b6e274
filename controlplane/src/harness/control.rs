//! Control-plane restarts in the harness: a unit's manager goes away while its (model)
//! dataplane lives on — its links stay up and its neighbours' dataplanes report "control
//! detached" — and comes back resuming from its checkpoint.

use crate::manager::{LinkState, StackManager};

use super::Harness;

/// How long after one neighbour the next notices a re-attached control plane.
const NEIGHBOUR_NOTICE_SKEW: std::time::Duration = std::time::Duration::from_millis(5);

impl Harness {
    /// Unit `u`'s control plane stops (a `stackd` killed): it receives nothing, runs no timers,
    /// sends nothing; its links stay up and its neighbours are told "control detached".
    pub fn detach_control(&mut self, u: usize) {
        let Some(n) = self.nodes[u].as_mut() else {
            return;
        };
        n.detached = true;
        let now = self.now;
        for (_, peer, peer_port) in self.up_cables(u) {
            if let Some(p) = self.nodes[peer].as_mut().filter(|p| !p.detached) {
                p.mgr.handle_neighbour_control(now, peer_port, false);
            }
            self.pump(peer);
        }
    }

    /// Unit `u`'s control plane starts again over the dataplane that kept its state: a new
    /// manager resuming from the last checkpoint; its neighbours are told "control attached".
    pub fn reattach_control(&mut self, u: usize) {
        let now = self.now;
        let Some(n) = self.nodes[u].as_mut() else {
            return;
        };
        let mut spec = self.specs[u].clone();
        spec.persisted = n.persisted;
        let mut cfg = (self.template)(&spec);
        cfg.resume = n.checkpoint.clone();
        if let Some(c) = n.mgr.stack_config() {
            cfg.stack_config = Some(c.clone());
        }
        n.mgr = StackManager::new(cfg, now);
        n.detached = false;
        let cables = self.up_cables(u);
        for (port, _, _) in &cables {
            if let Some(n) = self.nodes[u].as_mut() {
                n.mgr.handle_link(now, *port, LinkState::Up);
            }
        }
        self.pump(u);
        // Each neighbour notices "attached" at its own next hello: one after the other, a few
        // milliseconds apart, as on real links whose hellos are not synchronised.
        for (k, (_, peer, peer_port)) in cables.into_iter().enumerate() {
            if k > 0 {
                self.run_for(NEIGHBOUR_NOTICE_SKEW);
            }
            let now = self.now;
            if let Some(p) = self.nodes[peer].as_mut().filter(|p| !p.detached) {
                p.mgr.handle_neighbour_control(now, peer_port, true);
            }
            self.pump(peer);
        }
    }
}
