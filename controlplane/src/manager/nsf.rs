//! Nonstop forwarding in the stack manager: a neighbour's control-plane restart is not a unit
//! failure, and a restarting control plane resumes its place instead of booting cold.
//!
//! * **Grace.** When a neighbour's hellos say "control detached" (its dataplane lives on), this
//!   unit keeps the neighbour as it was for the grace period: the link's neighbour does not
//!   age out, its advert is kept, and this unit's adverts name it as graced, so every unit
//!   keeps its advert too (vouching). A master whose `stackd` restarts stays master; if the
//!   grace period runs out, it ages out as usual and the standby takes over.
//! * **Resume.** A restarted control plane whose dataplane kept its state starts from its
//!   checkpoint (role, epoch, the master's directives) and makes no decision until it has
//!   heard every unit of the checkpoint again (or its cold-boot window is over); meanwhile it
//!   advertises what it was. When a neighbour's control plane re-attaches, this unit sends it
//!   its own and every held advert, so it re-learns the stack (and its own advert's sequence
//!   number) at once.

use dataplane::time::Instant;
use tracing::info;

use super::StackManager;
use crate::api::{Checkpoint, StackEvent};
use crate::election::Rule;
use crate::wire::{Advert, Mac, StackPort};

impl StackManager {
    /// The unit behind stack port `port` reported its control plane detached or attached (its
    /// hellos; the dataplane's NeighborControl event).
    pub fn handle_neighbour_control(&mut self, now: Instant, port: StackPort, attached: bool) {
        let grace = self.cfg.grace_period;
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        let neighbour = p.neighbour.map(|n| n.0);
        if attached {
            // Alive (its hellos say so): its adverts follow within a moment.
            p.heard = now;
            if p.grace_until.take().is_some() {
                info!(port = port.0, neighbour = ?neighbour.map(Mac), "neighbour's control plane back");
            }
            if p.up {
                let own = self.own_advert(now);
                self.send_on(port, &own);
                let held: Vec<Advert> = self.db.iter().map(|e| e.advert.clone()).collect();
                for a in &held {
                    self.send_on(port, a);
                }
            }
        } else {
            p.grace_until = Some(now + grace);
            if let Some(n) = neighbour {
                info!(port = port.0, neighbour = %Mac(n), grace_ms = grace.as_millis() as u64, "neighbour's control plane detached: kept for the grace period");
                self.db.vouch(n, now + grace);
            }
        }
        self.recompute(now);
    }

    /// Ends grace periods that ran out.
    pub(super) fn expire_grace(&mut self, now: Instant) {
        for (q, p) in self.ports.iter_mut() {
            if p.grace_until.is_some_and(|g| now >= g) {
                p.grace_until = None;
                info!(port = q.0, neighbour = ?p.neighbour.map(|n| Mac(n.0)), "grace period over: the neighbour's control plane did not come back");
            }
        }
    }

    /// The neighbours this unit vouches for now.
    pub(super) fn graced(&self, now: Instant) -> Vec<u64> {
        let mut g: Vec<u64> = self
            .ports
            .values()
            .filter(|p| p.grace_until.is_some_and(|t| now < t))
            .filter_map(|p| p.neighbour.map(|n| n.0))
            .collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    /// Starts from a checkpoint instead of cold.
    pub(super) fn resume(&mut self, cp: Checkpoint, now: Instant) {
        info!(role = ?cp.role, epoch = cp.epoch, units = cp.table.len(), "resuming from the checkpoint");
        self.role = cp.role;
        self.epoch = cp.epoch;
        self.master = (cp.master != 0).then_some(cp.master);
        self.standby = (cp.standby.0 != 0).then(|| {
            (
                cp.standby.0,
                Rule::from_code(cp.standby.1).unwrap_or(Rule::Incumbent),
            )
        });
        self.table = cp.table.iter().copied().collect();
        self.members = self
            .table
            .iter()
            .filter(|(_, u)| **u != 0)
            .map(|(m, _)| *m)
            .collect();
        self.held = cp.held;
        // The links' far ends as they were: kept (as if just heard) until a link goes down, a
        // different neighbour speaks on it, or it stays silent for the hold time.
        for a in &cp.adjacencies {
            if let Some(p) = self.ports.get_mut(&a.port) {
                p.neighbour = Some((a.neighbour, a.neighbour_port));
                p.heard = now;
            }
        }
        self.window_over = true;
        self.resyncing = true;
        self.last_checkpoint = Some(cp);
    }

    /// Whether a resumed manager has heard every unit of its checkpoint again (or waited out
    /// its cold-boot window).
    pub(super) fn resynced(&mut self, now: Instant) -> bool {
        let all = self.members.iter().all(|m| self.component.contains(m));
        let late = now >= self.boot + self.cfg.cold_boot_window;
        if all || late {
            self.resyncing = false;
            info!(
                heard_all = all,
                "resynchronised with the stack after a restart"
            );
        }
        !self.resyncing
    }

    /// Whether decisions wait for a resumed manager to hear its stack again.
    pub fn resyncing(&self) -> bool {
        self.resyncing
    }

    /// The checkpoint as it is now.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            role: self.role,
            epoch: self.epoch,
            master: self.master.unwrap_or(0),
            standby: self.standby.map_or((0, 0), |(m, r)| (m, r.code())),
            table: self.table.iter().map(|(m, u)| (*m, *u)).collect(),
            held: self.held,
            adjacencies: self.adjacencies(),
        }
    }

    /// Reports the checkpoint when it changed.
    pub(super) fn report_checkpoint(&mut self) {
        let cp = self.checkpoint();
        if self.last_checkpoint.as_ref() != Some(&cp) {
            self.last_checkpoint = Some(cp.clone());
            self.events.push_back(StackEvent::CheckpointChanged(cp));
        }
    }
}
