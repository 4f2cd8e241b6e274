//! What the control plane programs into the engine, and nonstop forwarding across control-plane
//! restarts (DESIGN.md §4).
//!
//! * **Atomic batches.** [`Programmer::write`] checks every update of a batch against the engine
//!   first and changes nothing unless all of them are acceptable; then it applies them in order.
//!   A refusal names the update and its field (`updates[3].port.pgs[2].xon`).
//! * **Stale marking and sweep.** When a control plane attaches again
//!   ([`Programmer::begin_reconcile`]) everything it programmed before is marked stale. Whatever it
//!   writes again is fresh; whatever is still stale when it says it is done
//!   ([`Programmer::end_reconcile`]) or when the reconcile timer runs out
//!   ([`Programmer::handle_timeout`]) is swept. Nothing is removed when a session merely drops.
//!
//! What a sweep does per entity: stack routes, the flood tree, static FDB entries and port holds
//! are removed. Port settings and buffer pools are never removed (a port cannot stop existing):
//! stale ones keep their last settings and are only reported stale.
//!
//! Sans-IO like the engine: time comes in as arguments.

use rustc_hash::{FxHashMap, FxHashSet};

use pnet_base::MacAddr;
use thiserror::Error;

use crate::config::{BufferConfig, PortConfig};
use crate::engine::{Engine, EngineError};
use crate::fdb::FdbDestination;
use crate::port::PortIndex;
use crate::stack::StackRoute;
use crate::time::Instant;
use crate::wire::mac_to_u64;

/// Something the control plane can program, by identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// A port's settings.
    Port(PortIndex),
    /// The route to a unit.
    StackRoute(u8),
    /// The flood tree.
    FloodTree,
    /// A static bridge entry (VID, 48-bit MAC).
    Fdb(u16, u64),
    /// The shared-buffer pools.
    Buffer,
    /// A port hold-down.
    Hold(PortIndex),
    /// The unit's number.
    Unit,
}

/// One update of a write batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// Replace a port's settings (its id and speed must stay those of the port).
    SetPort(PortIndex, Box<PortConfig>),
    /// Set the route to a unit.
    SetStackRoute(u8, StackRoute),
    /// Remove the route to a unit.
    DeleteStackRoute(u8),
    /// Replace the flood tree.
    SetFloodTree(Vec<PortIndex>),
    /// Clear the flood tree.
    DeleteFloodTree,
    /// Program a static bridge entry.
    SetFdb(u16, MacAddr, FdbDestination),
    /// Remove a static bridge entry.
    DeleteFdb(u16, MacAddr),
    /// Resize the shared-buffer pools.
    SetBuffer(BufferConfig),
    /// Hold a port down (`true`) or release it (`false`).
    SetHold(PortIndex, bool),
    /// Clear a hold (the port follows its link again).
    DeleteHold(PortIndex),
    /// Renumber the unit.
    SetUnit(u8),
}

impl Update {
    /// The entity the update is about.
    pub fn entity(&self) -> Entity {
        match self {
            Update::SetPort(p, _) => Entity::Port(*p),
            Update::SetStackRoute(u, _) | Update::DeleteStackRoute(u) => Entity::StackRoute(*u),
            Update::SetFloodTree(_) | Update::DeleteFloodTree => Entity::FloodTree,
            Update::SetFdb(vid, mac, _) | Update::DeleteFdb(vid, mac) => {
                Entity::Fdb(*vid, mac_to_u64(*mac))
            }
            Update::SetBuffer(_) => Entity::Buffer,
            Update::SetHold(p, _) | Update::DeleteHold(p) => Entity::Hold(*p),
            Update::SetUnit(_) => Entity::Unit,
        }
    }

    /// The name of the update's kind in field paths (`updates[3].port...`).
    pub fn field_name(&self) -> &'static str {
        match self {
            Update::SetPort(..) => "port",
            Update::SetStackRoute(..) | Update::DeleteStackRoute(_) => "stack_route",
            Update::SetFloodTree(_) | Update::DeleteFloodTree => "flood_tree",
            Update::SetFdb(..) | Update::DeleteFdb(..) => "fdb",
            Update::SetBuffer(_) => "buffer",
            Update::SetHold(..) | Update::DeleteHold(_) => "port_hold",
            Update::SetUnit(_) => "unit_number",
        }
    }
}

/// Why a write batch was refused. Nothing was changed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WriteError {
    /// One update is not acceptable.
    #[error("{}", describe(field, source))]
    Invalid {
        /// Index of the update in the batch.
        index: usize,
        /// Path of the offending field, e.g. `updates[3].port.pgs[2].xon` (or just
        /// `updates[3].stack_route` when the whole update is at fault).
        field: String,
        /// What is wrong.
        source: EngineError,
    },
    /// The batch adds more static bridge entries than the table has room for.
    #[error("updates: {new} new static FDB entries do not fit ({free} free of {capacity})")]
    FdbFull {
        /// Entries the batch would add.
        new: usize,
        /// Entries still free.
        free: usize,
        /// The table's capacity.
        capacity: usize,
    },
}

/// A refusal as the operator reads it: the field, then what is wrong. A configuration error
/// already begins with the (full) path of its field, so it is not repeated.
fn describe(field: &str, source: &EngineError) -> String {
    match source {
        EngineError::Config(c) => c.to_string(),
        other => format!("{field}: {other}"),
    }
}

/// Stale state of what the control plane programmed.
#[derive(Debug, Default)]
pub struct Programmer {
    /// Everything programmed and not deleted, with its stale flag.
    programmed: FxHashMap<Entity, bool>,
    /// When the reconcile in progress gets swept by timeout.
    reconcile_deadline: Option<Instant>,
}

impl Programmer {
    /// Nothing programmed yet.
    pub fn new() -> Self {
        Programmer::default()
    }

    /// Validates the whole batch against `engine`, then applies it. Returns the number of
    /// updates applied (all of them) or why none was.
    pub fn write(&mut self, engine: &mut Engine, updates: &[Update]) -> Result<usize, WriteError> {
        let mut new_fdb = FxHashSet::default();
        for (index, update) in updates.iter().enumerate() {
            check(engine, update, index).map_err(|(field, source)| WriteError::Invalid {
                index,
                field,
                source,
            })?;
            if let Update::SetFdb(vid, mac, _) = update {
                if engine.fdb().lookup(*vid, *mac).is_none() {
                    new_fdb.insert((*vid, mac_to_u64(*mac)));
                }
            }
        }
        let capacity = engine.config().fdb.capacity;
        let free = capacity.saturating_sub(engine.fdb().len());
        if new_fdb.len() > free {
            return Err(WriteError::FdbFull {
                new: new_fdb.len(),
                free,
                capacity,
            });
        }
        for (index, update) in updates.iter().enumerate() {
            apply(engine, update).map_err(|source| WriteError::Invalid {
                index,
                field: format!("updates[{index}].{}", update.field_name()),
                source,
            })?;
            let entity = update.entity();
            match update {
                Update::DeleteStackRoute(_)
                | Update::DeleteFloodTree
                | Update::DeleteFdb(..)
                | Update::DeleteHold(_) => {
                    self.programmed.remove(&entity);
                }
                _ => {
                    self.programmed.insert(entity, false);
                }
            }
        }
        Ok(updates.len())
    }

    /// A control plane (re-)attached at `now`: marks everything programmed stale and arms the
    /// reconcile timer. Returns how many entries are stale.
    pub fn begin_reconcile(&mut self, now: Instant, timeout: core::time::Duration) -> usize {
        self.programmed.values_mut().for_each(|stale| *stale = true);
        self.reconcile_deadline = Some(now + timeout);
        self.programmed.len()
    }

    /// Whether a reconcile is in progress.
    pub fn reconciling(&self) -> bool {
        self.reconcile_deadline.is_some()
    }

    /// The control plane is done re-writing: sweeps what is still stale. Returns how many
    /// entries were swept.
    pub fn end_reconcile(&mut self, engine: &mut Engine) -> usize {
        self.reconcile_deadline = None;
        let stale: Vec<Entity> = self
            .programmed
            .iter()
            .filter(|(_, s)| **s)
            .map(|(e, _)| *e)
            .collect();
        let mut swept = 0;
        for entity in stale {
            let removed = match entity {
                Entity::StackRoute(unit) => engine.set_stack_route(unit, None).is_ok(),
                Entity::FloodTree => engine.set_flood_ports(&[]).is_ok(),
                Entity::Fdb(vid, mac) => engine.remove_fdb(vid, crate::wire::u64_to_mac(mac)),
                Entity::Hold(port) => engine.set_port_hold(port, false).is_ok(),
                // Ports, pools and the unit number cannot be removed: they keep their last
                // settings.
                Entity::Port(_) | Entity::Buffer | Entity::Unit => {
                    self.programmed.insert(entity, false);
                    continue;
                }
            };
            self.programmed.remove(&entity);
            if removed {
                swept += 1;
            }
        }
        tracing::info!(swept, "reconcile done: stale entries swept");
        swept
    }

    /// The control plane went away mid-reconcile: disarm the timer and sweep nothing. The stale
    /// marks stay; the next control plane to attach marks everything stale again anyway. Sweeping
    /// now would remove routes while nobody is there to put them back.
    pub fn abandon_reconcile(&mut self) {
        self.reconcile_deadline = None;
    }

    /// When the reconcile timer fires, if one is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reconcile_deadline
    }

    /// At the reconcile deadline, sweeps as [`Programmer::end_reconcile`] does; returns how many
    /// entries were swept, or `None` if nothing was due.
    pub fn handle_timeout(&mut self, now: Instant, engine: &mut Engine) -> Option<usize> {
        match self.reconcile_deadline {
            Some(t) if t <= now => {
                tracing::warn!("reconcile timer ran out: sweeping what was not re-written");
                Some(self.end_reconcile(engine))
            }
            _ => None,
        }
    }

    /// Whether `entity` is programmed and stale.
    pub fn is_stale(&self, entity: &Entity) -> bool {
        self.programmed.get(entity).copied().unwrap_or(false)
    }

    /// Whether `entity` was programmed by a control plane (and not deleted or swept since).
    pub fn is_programmed(&self, entity: &Entity) -> bool {
        self.programmed.contains_key(entity)
    }

    /// Number of programmed entries, and how many of them are stale.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.programmed.len(),
            self.programmed.values().filter(|s| **s).count(),
        )
    }
}

/// Whether update `index` of a batch is acceptable to `engine`; on refusal, the path of the
/// offending field (e.g. `updates[3].port.pgs[2].xon`, or just `updates[3].stack_route` when
/// the whole update is at fault) and the reason. Paths are built only on refusal, but for port
/// settings, whose validation names fields as it goes.
fn check(engine: &Engine, update: &Update, index: usize) -> Result<(), (String, EngineError)> {
    let at = || format!("updates[{index}].{}", update.field_name());
    let whole = |e: EngineError| (at(), e);
    match update {
        Update::SetPort(port, config) => {
            engine.check_port_config(*port, config, &at()).map_err(|e| {
                let field = match &e {
                    EngineError::Config(c) => field_of(c).to_string(),
                    _ => at(),
                };
                (field, e)
            })
        }
        Update::SetStackRoute(unit, route) => {
            engine.check_stack_route(*unit, Some(route)).map_err(whole)
        }
        Update::DeleteStackRoute(unit) => engine.check_stack_route(*unit, None).map_err(whole),
        Update::SetFloodTree(ports) => engine.check_flood_ports(ports).map(|_| ()).map_err(whole),
        Update::DeleteFloodTree => Ok(()),
        Update::SetFdb(vid, _, dest) => engine.check_fdb_entry(*vid, *dest).map_err(whole),
        Update::DeleteFdb(vid, _) => {
            if (1..=4094).contains(vid) {
                Ok(())
            } else {
                Err((format!("{}.vid", at()), EngineError::BadVlan(*vid)))
            }
        }
        Update::SetBuffer(pools) => {
            if pools.shared_pool == 0 {
                let field = format!("{}.shared_pool_bytes", at());
                Err((
                    field.clone(),
                    EngineError::Config(crate::config::ConfigError::OutOfRange {
                        field,
                        value: 0,
                        allowed: "at least 1 byte",
                    }),
                ))
            } else {
                Ok(())
            }
        }
        Update::SetHold(port, _) | Update::DeleteHold(port) => engine
            .port_config(*port)
            .map(|_| ())
            .ok_or_else(|| whole(EngineError::UnknownPort(port.0))),
        Update::SetUnit(unit) => engine.check_unit(*unit).map_err(whole),
    }
}

/// The field path a configuration error names.
fn field_of(e: &crate::config::ConfigError) -> &str {
    use crate::config::ConfigError::*;
    match e {
        ZeroSpeed { field }
        | PriorityOutOfRange { field, .. }
        | XonNotBelowXoff { field, .. }
        | HeadroomBelowMtu { field, .. }
        | OutOfRange { field, .. }
        | EtsWeightsNot100 { field, .. }
        | DuplicatePort { field, .. }
        | PfcPriorityInLossyPg { field, .. }
        | Immutable { field, .. }
        | UnknownPort { field, .. } => field,
    }
}

fn apply(engine: &mut Engine, update: &Update) -> Result<(), EngineError> {
    match update {
        Update::SetPort(port, config) => engine.set_port_config(*port, (**config).clone()),
        Update::SetStackRoute(unit, route) => engine.set_stack_route(*unit, Some(*route)),
        Update::DeleteStackRoute(unit) => engine.set_stack_route(*unit, None),
        Update::SetFloodTree(ports) => engine.set_flood_ports(ports),
        Update::DeleteFloodTree => engine.set_flood_ports(&[]),
        Update::SetFdb(vid, mac, dest) => engine.add_static_fdb(*vid, *mac, *dest),
        Update::DeleteFdb(vid, mac) => {
            engine.remove_fdb(*vid, *mac);
            Ok(())
        }
        Update::SetBuffer(pools) => engine.set_buffer_pools(*pools),
        Update::SetHold(port, down) => engine.set_port_hold(*port, *down),
        Update::DeleteHold(port) => engine.set_port_hold(*port, false),
        Update::SetUnit(unit) => engine.set_unit(*unit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EngineConfig, LosslessThresholds, PortConfig, PortId};
    use core::time::Duration;

    const G10: u64 = 10_000_000_000;

    fn engine() -> Engine {
        let ports = vec![
            PortConfig::new(PortId::front(1), G10),
            PortConfig::new(PortId::front(2), G10),
            PortConfig::new(PortId::stack(1), G10),
            PortConfig::new(PortId::stack(2), G10),
        ];
        Engine::new(EngineConfig::new(1, ports)).unwrap()
    }

    fn mac(n: u8) -> MacAddr {
        MacAddr(2, 0, 0, 0, 0, n)
    }

    fn route() -> StackRoute {
        StackRoute {
            primary: PortIndex(2),
            backup: Some(PortIndex(3)),
        }
    }

    #[test]
    fn a_bad_update_refuses_the_whole_batch_and_names_its_field() {
        let mut e = engine();
        let mut p = Programmer::new();
        let mut bad_port = e.port_config(PortIndex(1)).unwrap().clone();
        bad_port = bad_port.with_lossless(
            3,
            LosslessThresholds {
                xoff: 1000,
                xon: 2000,
                headroom: 9000,
            },
        );
        let batch = vec![
            Update::SetFdb(1, mac(1), FdbDestination::Local(PortIndex(0))),
            Update::SetStackRoute(2, route()),
            Update::SetPort(PortIndex(1), Box::new(bad_port)),
        ];
        let err = p.write(&mut e, &batch).unwrap_err();
        assert!(
            err.to_string().starts_with("updates[2].port.pgs[3].xon:"),
            "{err}"
        );
        assert_eq!(e.fdb().len(), 0, "nothing applied");
        assert_eq!(e.stack_table().route(2), None);

        let err = p
            .write(
                &mut e,
                &[Update::SetStackRoute(
                    2,
                    StackRoute {
                        primary: PortIndex(0),
                        backup: None,
                    },
                )],
            )
            .unwrap_err();
        assert!(
            err.to_string().starts_with("updates[0].stack_route:"),
            "{err}"
        );
        let err = p
            .write(
                &mut e,
                &[Update::SetFdb(
                    1,
                    mac(1),
                    FdbDestination::Remote { unit: 1, port: 1 },
                )],
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::Invalid {
                    source: EngineError::BadUnit(1),
                    ..
                }
            ),
            "a remote entry for this unit itself"
        );
    }

    #[test]
    fn reconcile_sweeps_exactly_what_was_not_rewritten() {
        let mut e = engine();
        let mut p = Programmer::new();
        let batch = vec![
            Update::SetFdb(1, mac(1), FdbDestination::Local(PortIndex(0))),
            Update::SetFdb(1, mac(2), FdbDestination::Remote { unit: 2, port: 1 }),
            Update::SetStackRoute(2, route()),
            Update::SetStackRoute(3, route()),
            Update::SetFloodTree(vec![PortIndex(2)]),
            Update::SetHold(PortIndex(1), true),
        ];
        assert_eq!(p.write(&mut e, &batch), Ok(6));
        assert!(!e.port_up(PortIndex(1)), "held down");

        // The control plane restarts: everything is stale, nothing is removed yet.
        assert_eq!(p.begin_reconcile(Instant::ZERO, Duration::from_secs(10)), 6);
        assert!(p.is_stale(&Entity::StackRoute(3)));
        assert_eq!(e.fdb().len(), 2);
        // It re-writes some of it.
        let rewrite = vec![
            Update::SetFdb(1, mac(1), FdbDestination::Local(PortIndex(0))),
            Update::SetStackRoute(2, route()),
        ];
        p.write(&mut e, &rewrite).unwrap();
        assert!(!p.is_stale(&Entity::StackRoute(2)));
        assert_eq!(p.end_reconcile(&mut e), 4);
        assert_eq!(
            e.fdb().lookup(1, mac(1)),
            Some(FdbDestination::Local(PortIndex(0)))
        );
        assert_eq!(e.fdb().lookup(1, mac(2)), None);
        assert!(e.stack_table().route(2).is_some() && e.stack_table().route(3).is_none());
        assert_eq!(e.stack_table().flood_ports(), 0);
        assert!(e.port_up(PortIndex(1)), "the stale hold was released");
        assert_eq!(p.counts(), (2, 0));
    }

    #[test]
    fn the_reconcile_timer_sweeps_when_the_control_plane_never_says_done() {
        let mut e = engine();
        let mut p = Programmer::new();
        p.write(&mut e, &[Update::SetStackRoute(2, route())])
            .unwrap();
        p.begin_reconcile(Instant::ZERO, Duration::from_millis(100));
        assert_eq!(
            p.poll_timeout(),
            Some(Instant::ZERO + Duration::from_millis(100))
        );
        assert_eq!(
            p.handle_timeout(Instant::ZERO + Duration::from_millis(99), &mut e),
            None
        );
        assert_eq!(
            p.handle_timeout(Instant::ZERO + Duration::from_millis(100), &mut e),
            Some(1)
        );
        assert!(!p.reconciling());
        assert!(e.stack_table().route(2).is_none());
    }

    #[test]
    fn a_batch_that_overfills_the_fdb_is_refused_whole() {
        let ports = vec![PortConfig::new(PortId::front(1), G10)];
        let mut cfg = EngineConfig::new(1, ports);
        cfg.fdb.capacity = 2;
        let mut e = Engine::new(cfg).unwrap();
        let mut p = Programmer::new();
        let batch: Vec<_> = (1..=3)
            .map(|n| Update::SetFdb(1, mac(n), FdbDestination::Local(PortIndex(0))))
            .collect();
        assert_eq!(
            p.write(&mut e, &batch),
            Err(WriteError::FdbFull {
                new: 3,
                free: 2,
                capacity: 2
            })
        );
        assert_eq!(e.fdb().len(), 0);
    }

    #[test]
    fn renumbering_is_refused_onto_a_routed_unit_and_survives_a_sweep() {
        let mut e = engine();
        let mut p = Programmer::new();
        p.write(&mut e, &[Update::SetStackRoute(2, route())])
            .unwrap();
        let refused = p.write(&mut e, &[Update::SetUnit(2)]).unwrap_err();
        assert!(
            matches!(&refused, WriteError::Invalid { field, source: EngineError::UnitInUse(2), .. } if field == "updates[0].unit_number"),
            "{refused:?}"
        );
        assert_eq!(e.unit(), 1);
        assert!(matches!(
            p.write(&mut e, &[Update::SetUnit(0)]),
            Err(WriteError::Invalid {
                source: EngineError::BadUnit(0),
                ..
            })
        ));
        p.write(&mut e, &[Update::SetUnit(3)]).unwrap();
        assert_eq!(e.unit(), 3);
        // A route to the old number is fine now; the number is never swept.
        p.write(&mut e, &[Update::SetStackRoute(1, route())])
            .unwrap();
        p.begin_reconcile(Instant::ZERO, Duration::from_secs(1));
        p.end_reconcile(&mut e);
        assert_eq!(e.unit(), 3);
    }
}
