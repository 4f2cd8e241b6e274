//! The stack configuration: set on the master (a startup file, or operator commands, which
//! edit the running configuration), replicated to every unit, re-sent to any unit whose
//! advert shows another version, so that whichever unit is master next holds it.

use dataplane::time::Instant;
use tracing::{info, warn};

use super::StackManager;
use crate::api::{CommandError, StackEvent};
use crate::stack_config::StackWideConfig;
use crate::wire::{Body, ConfigCopy, Mac, Role, StackPort};

impl StackManager {
    /// As master: replaces the running stack configuration (validated first; a bad one
    /// changes nothing) and replicates it.
    pub fn set_stack_config(
        &mut self,
        now: Instant,
        config: StackWideConfig,
    ) -> Result<(), CommandError> {
        self.require_master()?;
        config.validate()?;
        info!(version = config.version(), "stack configuration applied");
        self.adopt_config(config);
        self.recompute(now);
        Ok(())
    }

    /// Edits the running configuration (creating it if there is none) as master.
    pub(super) fn edit_config(&mut self, edit: impl FnOnce(&mut StackWideConfig)) {
        let mut c = self.stack_config.clone().unwrap_or_default();
        edit(&mut c);
        self.adopt_config(c);
    }

    fn adopt_config(&mut self, config: StackWideConfig) {
        if self.stack_config.as_ref() == Some(&config) {
            return;
        }
        self.cfg.standby = config.standby;
        let mine = self.cfg.persisted.unit;
        if let Some(&p) = config.priorities.get(&mine).filter(|_| mine != 0) {
            if p != self.cfg.persisted.priority {
                self.cfg.persisted.priority = p;
                self.events
                    .push_back(StackEvent::PersistedChanged(self.cfg.persisted));
            }
        }
        self.events
            .push_back(StackEvent::StackConfigChanged(config.clone()));
        self.stack_config = Some(config);
    }

    /// As master: the configuration's priorities become priority commands for the units that
    /// do not have them yet.
    pub(super) fn enforce_config_priorities(&mut self) {
        let Some(c) = &self.stack_config else {
            return;
        };
        let wanted: Vec<(u64, u8)> = c
            .priorities
            .iter()
            .filter_map(|(unit, p)| {
                let mac = self.mac_of_unit(*unit).ok()?;
                let shown = self.db.get(mac).map(|e| e.advert.priority);
                (mac != self.cfg.mac && shown.is_some_and(|s| s != *p)).then_some((mac, *p))
            })
            .collect();
        self.pending_priority.extend(wanted);
    }

    /// As master: sends the configuration when some unit of the stack holds another version.
    pub(super) fn send_config(&mut self) {
        if self.role != Role::Master {
            return;
        }
        let Some(c) = &self.stack_config else {
            return;
        };
        let version = c.version();
        let lagging = self.component.iter().any(|m| {
            *m != self.cfg.mac
                && self
                    .db
                    .get(*m)
                    .is_some_and(|e| e.advert.config_version != version)
        });
        if !lagging {
            return;
        }
        let copy = ConfigCopy {
            origin: self.cfg.mac,
            epoch: self.epoch,
            version,
            config: c.clone(),
        };
        let ports: Vec<StackPort> = self.up_ports().collect();
        for p in ports {
            self.send_body(p, Body::Config(copy.clone()));
        }
    }

    /// A configuration from a stack link: taken (and flooded on) when it comes from the
    /// master this unit follows, in its epoch, and is new.
    pub(super) fn handle_config(
        &mut self,
        now: Instant,
        port: StackPort,
        sender: u64,
        c: ConfigCopy,
    ) {
        if c.origin == self.cfg.mac {
            return;
        }
        if self.master != Some(c.origin) || self.epoch != c.epoch {
            warn!(origin = %Mac(c.origin), epoch = c.epoch, "stack configuration from a master this unit does not follow: ignored");
            return;
        }
        if c.config.version() != c.version
            || self.stack_config.as_ref().map(StackWideConfig::version) == Some(c.version)
        {
            return;
        }
        info!(version = c.version, master = %Mac(c.origin), "stack configuration replicated from the master");
        self.flood_on(port, sender, &Body::Config(c.clone()));
        self.adopt_config(c.config);
        self.recompute(now);
    }
}
