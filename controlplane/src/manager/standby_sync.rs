//! Warm standby: how far the standby's copy of the master's state lags behind the master.
//!
//! What a new master needs to take over without a cold start is the master's *checkpointed
//! state*: the epoch, the unit table, and the stack configuration with its static MAC entries.
//! The master streams it continuously: the epoch and the table in every advert (flooded at
//! once when they change, and every advert interval anyway), the configuration as a versioned
//! copy, re-sent while any unit's advert shows another version. The standby's own adverts then
//! show what it holds, so the master can see, without another message, when its standby has
//! caught up with a change, and how long that took (the lag).
//!
//! Both ends summarise their state in one number, the [`state_digest`], and compare it with
//! the digest of the other end's advert.

use std::collections::BTreeMap;
use std::time::Duration;

use dataplane::time::Instant;

use super::StackManager;
use crate::stack_config::StackWideConfig;
use crate::wire::{Advert, Role};

/// Which end of the checkpoint stream this unit is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckpointSide {
    /// Neither master with a standby nor standby.
    #[default]
    None,
    /// The master: it sends its state to the standby.
    Master,
    /// The standby: it keeps the master's state, ready to take over.
    Standby,
}

/// The checkpoint stream as this unit sees it (`show checkpoint statistics`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Which end this unit is.
    pub side: CheckpointSide,
    /// The other end: the standby (on the master) or the master (on the standby); 0 = none.
    pub peer: u64,
    /// Digest of the state this unit holds.
    pub version: u64,
    /// Digest of the state the peer's latest advert shows (0 = no advert).
    pub peer_version: u64,
    /// Both hold the same state.
    pub in_sync: bool,
    /// The state held: the epoch, units in the table, the configuration's version and its
    /// static MAC entries.
    pub epoch: u32,
    /// Units in the table.
    pub units: u32,
    /// The stack configuration's version (0 = none).
    pub config_version: u32,
    /// Static MAC entries in it.
    pub static_macs: u32,
    /// Times the state changed (on the master: changes made; on the standby: updates
    /// received).
    pub changes: u64,
    /// On the master: times the standby caught up with a change.
    pub syncs: u64,
    /// Time since the last change (none yet: `None`).
    pub since_change: Option<Duration>,
    /// On the master: how long the standby took to show the last change it caught up with.
    pub last_lag: Option<Duration>,
    /// On the master: the longest such lag.
    pub max_lag: Duration,
    /// Not in sync: for how long.
    pub behind_for: Option<Duration>,
}

/// The tracking behind [`CheckpointStats`], kept by the manager.
#[derive(Clone, Debug, Default)]
pub(super) struct SyncTracker {
    version: u64,
    peer: u64,
    changed_at: Option<Instant>,
    changes: u64,
    /// The peer showed the current version since it last changed (or since the peer changed).
    synced: bool,
    syncs: u64,
    last_lag: Option<Duration>,
    max_lag: Duration,
}

/// One number for the master's checkpointed state: the epoch, the unit table and the stack
/// configuration's version (which covers its static MAC entries). FNV-1a over 64-bit words:
/// the same on every unit and every build.
pub fn state_digest<'a>(
    epoch: u32,
    table: impl IntoIterator<Item = (&'a u64, &'a u8)>,
    config_version: u32,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| {
        h ^= w;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    mix(u64::from(epoch));
    for (mac, unit) in table {
        mix(*mac);
        mix(u64::from(*unit));
    }
    mix(u64::from(config_version));
    h
}

fn advert_digest(a: &Advert) -> u64 {
    let table: BTreeMap<u64, u8> = a.assignments.iter().copied().collect();
    state_digest(a.epoch, &table, a.config_version)
}

impl StackManager {
    fn config_version(&self) -> u32 {
        self.stack_config
            .as_ref()
            .map_or(0, StackWideConfig::version)
    }

    fn checkpoint_side(&self) -> (CheckpointSide, u64) {
        match (self.role, self.standby, self.master) {
            (Role::Master, Some((s, _)), _) if s != self.cfg.mac => (CheckpointSide::Master, s),
            (Role::Standby, _, Some(m)) if m != self.cfg.mac => (CheckpointSide::Standby, m),
            _ => (CheckpointSide::None, 0),
        }
    }

    fn peer_digest(&self, peer: u64) -> u64 {
        self.db.get(peer).map_or(0, |e| advert_digest(&e.advert))
    }

    /// Follows the checkpoint stream after every recompute: counts changes and, on the
    /// master, measures how long the standby takes to show each one.
    pub(super) fn track_standby_sync(&mut self, now: Instant) {
        let version = state_digest(self.epoch, &self.table, self.config_version());
        let (side, peer) = self.checkpoint_side();
        let peer_version = self.peer_digest(peer);
        let t = &mut self.sync;
        if version != t.version {
            t.version = version;
            t.changed_at = Some(now);
            t.changes += 1;
            t.synced = false;
        }
        if peer != t.peer {
            // A new standby (or master) starts from nothing: its catching up is a sync too.
            t.peer = peer;
            t.synced = false;
            t.changed_at = Some(now);
        }
        if side == CheckpointSide::Master && !t.synced && peer_version == version {
            t.synced = true;
            t.syncs += 1;
            let lag = now.saturating_since(t.changed_at.unwrap_or(now));
            t.last_lag = Some(lag);
            t.max_lag = t.max_lag.max(lag);
        }
    }

    /// The checkpoint stream as this unit sees it now.
    pub fn checkpoint_stats(&self, now: Instant) -> CheckpointStats {
        let (side, peer) = self.checkpoint_side();
        let t = &self.sync;
        let peer_version = self.peer_digest(peer);
        let in_sync = side != CheckpointSide::None && peer_version == t.version;
        CheckpointStats {
            side,
            peer,
            version: t.version,
            peer_version,
            in_sync,
            epoch: self.epoch,
            units: self.table.values().filter(|u| **u != 0).count() as u32,
            config_version: self.config_version(),
            static_macs: self
                .stack_config
                .as_ref()
                .map_or(0, |c| c.static_macs.len() as u32),
            changes: t.changes,
            syncs: t.syncs,
            since_change: t.changed_at.map(|c| now.saturating_since(c)),
            last_lag: t.last_lag,
            max_lag: t.max_lag,
            behind_for: (side != CheckpointSide::None && !in_sync)
                .then(|| now.saturating_since(t.changed_at.unwrap_or(now))),
        }
    }
}
