//! The forwarding database: VLAN-aware MAC learning, `(vid, mac) → where the station is`.
//!
//! Keys pack the 12-bit VID and the 48-bit MAC into one `u64`, so a lookup is one multiply-hash
//! (FxHash) and one probe: the bridge is on the per-frame hot path. Dynamic entries age out
//! after [`crate::config::FdbConfig::aging`] without traffic; static entries never age and are
//! never overwritten by learning (a station claiming a static address elsewhere is refused and
//! counted).

use core::time::Duration;

use pnet_base::MacAddr;
use rustc_hash::FxHashMap;

use crate::port::PortIndex;
use crate::time::{duration_to_ps, Instant};
use crate::wire::{mac_to_u64, u64_to_mac};

/// Where frames for a station go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FdbDestination {
    /// A port of this unit.
    Local(PortIndex),
    /// A front-panel port of another unit of the stack.
    Remote {
        /// The unit.
        unit: u8,
        /// Its front-panel port number.
        port: u8,
    },
}

/// One entry as read back by [`Fdb::entries`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// VLAN.
    pub vid: u16,
    /// Station address.
    pub mac: MacAddr,
    /// Where it is.
    pub dest: FdbDestination,
    /// Programmed (never ages, never moved by learning) or learned.
    pub is_static: bool,
    /// When it was last seen (learned) or programmed (static).
    pub last_seen: Instant,
}

/// What learning a source address did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearnOutcome {
    /// Already known at this place: its age was refreshed.
    Refreshed,
    /// A new station.
    New,
    /// A station move: it was known elsewhere and now is here.
    Moved {
        /// Where it was.
        from: FdbDestination,
    },
    /// The address is static elsewhere; learning refused it.
    StaticConflict,
    /// The table is full; not learned.
    TableFull,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    dest: FdbDestination,
    last_seen: Instant,
    is_static: bool,
}

/// The bridge table of one unit.
#[derive(Debug)]
pub struct Fdb {
    map: FxHashMap<u64, Slot>,
    capacity: usize,
    aging_ps: u64,
    next_sweep: Option<Instant>,
    /// Bumped whenever an entry is added, moved or removed (see [`Fdb::generation`]).
    generation: u64,
}

/// Packs a VLAN and a MAC given as its 48-bit big-endian value into the table key.
#[inline]
pub fn fdb_key_raw(vid: u16, mac48: u64) -> u64 {
    (u64::from(vid & 0x0fff) << 48) | (mac48 & 0xffff_ffff_ffff)
}

/// Packs a VLAN and a MAC into the table key.
#[inline]
pub fn fdb_key(vid: u16, mac: MacAddr) -> u64 {
    fdb_key_raw(vid, mac_to_u64(mac))
}

impl Fdb {
    /// An empty table holding at most `capacity` entries, ageing after `aging`.
    pub fn new(capacity: usize, aging: Duration) -> Self {
        Fdb {
            map: FxHashMap::default(),
            capacity,
            aging_ps: duration_to_ps(aging).max(1),
            next_sweep: None,
            generation: 0,
        }
    }

    /// Number of entries, static and dynamic.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Where `(vid, mac)` is, if known.
    #[inline]
    pub fn lookup(&self, vid: u16, mac: MacAddr) -> Option<FdbDestination> {
        self.lookup_key(fdb_key(vid, mac))
    }

    /// [`Fdb::lookup`] by a key from [`fdb_key`] or [`fdb_key_raw`] (the forwarding hot path).
    #[inline]
    pub fn lookup_key(&self, key: u64) -> Option<FdbDestination> {
        self.map.get(&key).map(|s| s.dest)
    }

    /// Learns that `(vid, mac)` was seen at `dest` at `now`.
    #[inline]
    pub fn learn(
        &mut self,
        now: Instant,
        vid: u16,
        mac: MacAddr,
        dest: FdbDestination,
    ) -> LearnOutcome {
        self.learn_key(now, fdb_key(vid, mac), dest)
    }

    /// [`Fdb::learn`] by a key from [`fdb_key`] or [`fdb_key_raw`] (the forwarding hot path).
    #[inline]
    pub fn learn_key(&mut self, now: Instant, key: u64, dest: FdbDestination) -> LearnOutcome {
        if let Some(slot) = self.map.get_mut(&key) {
            if slot.is_static {
                return if slot.dest == dest {
                    LearnOutcome::Refreshed
                } else {
                    LearnOutcome::StaticConflict
                };
            }
            slot.last_seen = now;
            if slot.dest == dest {
                return LearnOutcome::Refreshed;
            }
            let from = slot.dest;
            slot.dest = dest;
            self.generation += 1;
            return LearnOutcome::Moved { from };
        }
        if self.map.len() >= self.capacity {
            return LearnOutcome::TableFull;
        }
        self.insert(key, dest, now, false);
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now.plus_ps(self.sweep_interval_ps()));
        }
        LearnOutcome::New
    }

    /// Programs a static entry, replacing whatever was there. Fails only when the table is full.
    pub fn add_static(
        &mut self,
        now: Instant,
        vid: u16,
        mac: MacAddr,
        dest: FdbDestination,
    ) -> Result<(), FdbFull> {
        let key = fdb_key(vid, mac);
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            return Err(FdbFull {
                capacity: self.capacity,
            });
        }
        self.insert(key, dest, now, true);
        Ok(())
    }

    fn insert(&mut self, key: u64, dest: FdbDestination, now: Instant, is_static: bool) {
        self.generation += 1;
        self.map.insert(
            key,
            Slot {
                dest,
                last_seen: now,
                is_static,
            },
        );
    }

    /// Removes an entry (static or dynamic); returns whether there was one.
    pub fn remove(&mut self, vid: u16, mac: MacAddr) -> bool {
        self.generation += 1;
        self.map.remove(&fdb_key(vid, mac)).is_some()
    }

    /// Removes every dynamic entry pointing at `dest` (a port went down, a unit left).
    pub fn flush_dynamic(&mut self, mut matches: impl FnMut(FdbDestination) -> bool) -> usize {
        let before = self.map.len();
        self.generation += 1;
        self.map.retain(|_, s| s.is_static || !matches(s.dest));
        before - self.map.len()
    }

    /// When [`Fdb::age`] next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// Removes dynamic entries idle for the ageing time; calls `aged` for each.
    pub fn age(&mut self, now: Instant, mut aged: impl FnMut(FdbEntry)) {
        match self.next_sweep {
            Some(t) if t <= now => {}
            _ => return,
        }
        let aging = self.aging_ps;
        let mut dynamic_left = false;
        self.generation += 1;
        self.map.retain(|key, s| {
            if s.is_static {
                return true;
            }
            if now.as_ps().saturating_sub(s.last_seen.as_ps()) >= aging {
                aged(entry_of(*key, s));
                false
            } else {
                dynamic_left = true;
                true
            }
        });
        self.next_sweep = dynamic_left.then(|| now.plus_ps(self.sweep_interval_ps()));
    }

    /// A number that changes whenever an entry is added, moved or removed, so that callers may
    /// cache what they looked up and know when to look again.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How often a station's entry must be refreshed by learning, at the least, for ageing to
    /// stay within 1/64 of its configured time: learners may skip refreshes more frequent
    /// than this.
    pub fn refresh_interval_ps(&self) -> u64 {
        (self.aging_ps / 64).max(1)
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = FdbEntry> + '_ {
        self.map.iter().map(|(k, s)| entry_of(*k, s))
    }

    /// Entries age out between `aging` and `aging + aging/8` after they were last seen.
    fn sweep_interval_ps(&self) -> u64 {
        (self.aging_ps / 8).max(1)
    }
}

fn entry_of(key: u64, s: &Slot) -> FdbEntry {
    FdbEntry {
        vid: (key >> 48) as u16,
        mac: u64_to_mac(key & 0xffff_ffff_ffff),
        dest: s.dest,
        is_static: s.is_static,
        last_seen: s.last_seen,
    }
}

/// The table has no room for another entry.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
#[error("the forwarding database is full ({capacity} entries)")]
pub struct FdbFull {
    /// The table's capacity.
    pub capacity: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = MacAddr(0x02, 0, 0, 0, 0, 0xa);
    const SEC: Duration = Duration::from_secs(1);

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn learns_refreshes_and_moves() {
        let mut fdb = Fdb::new(16, 300 * SEC);
        let p1 = FdbDestination::Local(PortIndex(1));
        let p2 = FdbDestination::Local(PortIndex(2));
        assert_eq!(fdb.learn(at(0), 10, A, p1), LearnOutcome::New);
        assert_eq!(fdb.learn(at(1), 10, A, p1), LearnOutcome::Refreshed);
        assert_eq!(fdb.lookup(10, A), Some(p1));
        assert_eq!(fdb.lookup(20, A), None, "learning is per VLAN");
        assert_eq!(
            fdb.learn(at(2), 10, A, p2),
            LearnOutcome::Moved { from: p1 }
        );
        assert_eq!(fdb.lookup(10, A), Some(p2));
    }

    #[test]
    fn ages_idle_dynamic_entries_only() {
        let mut fdb = Fdb::new(16, 8 * SEC);
        let p1 = FdbDestination::Local(PortIndex(1));
        fdb.learn(at(0), 1, A, p1);
        fdb.add_static(at(0), 2, A, p1).unwrap();
        let mut aged = Vec::new();
        fdb.age(at(7), |e| aged.push(e));
        assert!(aged.is_empty());
        let t = fdb.poll_timeout().unwrap();
        assert!(t <= at(9));
        fdb.age(at(9), |e| aged.push(e));
        assert_eq!(aged.len(), 1);
        assert_eq!((aged[0].vid, aged[0].mac), (1, A));
        assert_eq!(fdb.lookup(2, A), Some(p1), "static entries never age");
        assert_eq!(fdb.poll_timeout(), None, "no dynamic entries, no sweeps");
    }

    #[test]
    fn static_entries_win_over_learning_and_capacity_is_enforced() {
        let mut fdb = Fdb::new(2, 300 * SEC);
        let p1 = FdbDestination::Local(PortIndex(1));
        let remote = FdbDestination::Remote { unit: 2, port: 5 };
        fdb.add_static(at(0), 1, A, remote).unwrap();
        assert_eq!(fdb.learn(at(1), 1, A, p1), LearnOutcome::StaticConflict);
        assert_eq!(fdb.lookup(1, A), Some(remote));
        let b = MacAddr(0x02, 0, 0, 0, 0, 0xb);
        let c = MacAddr(0x02, 0, 0, 0, 0, 0xc);
        assert_eq!(fdb.learn(at(1), 1, b, p1), LearnOutcome::New);
        assert_eq!(fdb.learn(at(1), 1, c, p1), LearnOutcome::TableFull);
        assert_eq!(
            fdb.add_static(at(1), 1, c, p1),
            Err(FdbFull { capacity: 2 })
        );
        assert_eq!(fdb.flush_dynamic(|d| d == p1), 1);
        assert_eq!(fdb.len(), 1);
    }
}
