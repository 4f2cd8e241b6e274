//! Operator commands to the stack (what `stackctl set …`, `renumber` and `initiate failover`
//! do), taken by the master.
//!
//! * **Priority** of the master itself is set directly; another unit's travels as a
//!   [`Command`] flooded over the stack links, fenced by the master's epoch, and is re-sent with
//!   every advert until that unit's advert shows it (stack links may lose frames).
//! * **Standby** and **unit numbers** are the master's own directives: it changes them and its
//!   next advert carries them to everyone.
//! * **Failover**: the master steps down to member; its standby, seeing no master, takes over
//!   (rule "standby takeover") and every unit keeps forwarding meanwhile.

use dataplane::time::Instant;
use tracing::{info, warn};

use super::StackManager;
use crate::api::{CommandError, StackEvent};
use crate::election::{Rule, MAX_UNITS};
use crate::wire::{Body, Command, CommandOp, Mac, Role, StackPort};

impl StackManager {
    pub(super) fn require_master(&self) -> Result<(), CommandError> {
        if self.role == Role::Master {
            return Ok(());
        }
        let master = self
            .master
            .and_then(|m| self.table.get(&m).copied())
            .filter(|u| *u != 0);
        Err(CommandError::NotMaster { master })
    }

    pub(super) fn mac_of_unit(&self, unit: u8) -> Result<u64, CommandError> {
        self.table
            .iter()
            .find(|(m, u)| **u == unit && self.component.contains(m))
            .map(|(m, _)| *m)
            .ok_or(CommandError::UnknownUnit(unit))
    }

    /// Sets unit `unit`'s election priority (0 = never master); the unit stores it.
    pub fn set_priority(
        &mut self,
        now: Instant,
        unit: u8,
        priority: u8,
    ) -> Result<(), CommandError> {
        self.require_master()?;
        let target = self.mac_of_unit(unit)?;
        info!(unit, priority, "operator: set priority");
        self.edit_config(|c| {
            c.priorities.insert(unit, priority);
        });
        if target == self.cfg.mac {
            self.apply_priority(now, priority);
        } else {
            self.pending_priority.insert(target, priority);
            self.send_priority_commands();
        }
        Ok(())
    }

    /// Names unit `unit` the configured standby (`None`: let the rules pick).
    pub fn set_standby(&mut self, now: Instant, unit: Option<u8>) -> Result<(), CommandError> {
        self.require_master()?;
        if let Some(u) = unit {
            if self.mac_of_unit(u)? == self.cfg.mac {
                return Err(CommandError::StandbyIsMaster(u));
            }
        }
        info!(?unit, "operator: set standby");
        self.edit_config(|c| c.standby = unit);
        self.recompute(now);
        Ok(())
    }

    /// Gives unit `from` the number `to` (free, 1..=6). The unit stores it; its dataplane is
    /// renumbered at once.
    pub fn renumber(&mut self, now: Instant, from: u8, to: u8) -> Result<(), CommandError> {
        self.require_master()?;
        if !(1..=MAX_UNITS).contains(&to) {
            return Err(CommandError::BadUnitNumber(to));
        }
        let target = self.mac_of_unit(from)?;
        if from == to {
            return Ok(());
        }
        if self.table.values().any(|u| *u == to) {
            return Err(CommandError::UnitNumberTaken(to));
        }
        info!(from, to, "operator: renumber");
        self.table.insert(target, to);
        // The configuration follows the unit to its new number.
        self.edit_config(|c| {
            if c.standby == Some(from) {
                c.standby = Some(to);
            }
            if let Some(p) = c.priorities.remove(&from) {
                c.priorities.insert(to, p);
            }
            for m in c.static_macs.iter_mut().filter(|m| m.unit == from) {
                m.unit = to;
            }
        });
        self.recompute(now);
        Ok(())
    }

    /// Hands mastership to the standby: this unit becomes a member, the standby takes over.
    pub fn initiate_failover(&mut self, now: Instant) -> Result<(), CommandError> {
        self.require_master()?;
        if self.standby.is_none_or(|s| s.0 == self.cfg.mac) {
            return Err(CommandError::NoStandby);
        }
        info!(
            mac = %Mac(self.cfg.mac),
            epoch = self.epoch,
            "operator: failover to the standby"
        );
        self.role = Role::Member;
        self.master = None;
        self.events.push_back(StackEvent::RoleChanged {
            from: Role::Master,
            to: Role::Member,
            rule: Rule::OperatorFailover,
            epoch: self.epoch,
        });
        self.recompute(now);
        Ok(())
    }

    fn apply_priority(&mut self, now: Instant, priority: u8) {
        if self.cfg.persisted.priority != priority {
            self.cfg.persisted.priority = priority;
            self.events
                .push_back(StackEvent::PersistedChanged(self.cfg.persisted));
            self.recompute(now);
        }
    }

    /// As master: (re-)sends the priority commands whose targets do not show them yet, and
    /// forgets those that do or that left.
    pub(super) fn send_priority_commands(&mut self) {
        if self.role != Role::Master {
            self.pending_priority.clear();
            return;
        }
        self.enforce_config_priorities();
        let db = &self.db;
        let component = &self.component;
        self.pending_priority.retain(|mac, p| {
            component.contains(mac) && db.get(*mac).is_none_or(|e| e.advert.priority != *p)
        });
        let pending: Vec<(u64, u8)> = self
            .pending_priority
            .iter()
            .map(|(m, p)| (*m, *p))
            .collect();
        for (target, priority) in pending {
            self.command_seq = self.command_seq.wrapping_add(1);
            let cmd = Command {
                origin: self.cfg.mac,
                epoch: self.epoch,
                seq: self.command_seq,
                target,
                op: CommandOp::SetPriority(priority),
            };
            let ports: Vec<StackPort> = self.up_ports().collect();
            for p in ports {
                self.send_body(p, Body::Command(cmd));
            }
        }
    }

    /// A command from a stack link: flooded on when new, applied when it is for this unit
    /// and comes from the master this unit follows, in its epoch.
    pub(super) fn handle_command(
        &mut self,
        now: Instant,
        port: StackPort,
        sender: u64,
        c: Command,
    ) {
        if c.origin == self.cfg.mac {
            return;
        }
        if self
            .commands_seen
            .get(&c.origin)
            .is_some_and(|s| *s >= c.seq)
        {
            return;
        }
        self.commands_seen.insert(c.origin, c.seq);
        self.flood_on(port, sender, &Body::Command(c));
        if c.target != self.cfg.mac {
            return;
        }
        if self.master != Some(c.origin) || self.epoch != c.epoch {
            warn!(
                origin = %Mac(c.origin),
                epoch = c.epoch,
                "command from a master this unit does not follow: ignored"
            );
            return;
        }
        match c.op {
            CommandOp::SetPriority(p) => {
                info!(priority = p, "priority set by the master");
                self.apply_priority(now, p);
            }
        }
    }
}
