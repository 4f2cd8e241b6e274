//! The advert database: the newest advert of every other unit, with ageing.
//!
//! An advert replaces the held one only if its sequence number is higher. Entries not
//! refreshed within the hold time are dropped. Uptimes are aged with the local clock: a
//! receiver knows the origin's uptime when it was sent and how long ago it arrived.

use std::collections::BTreeMap;
use std::time::Duration;

use dataplane::time::Instant;

use crate::wire::{Advert, StackPort};

/// One unit's advert as held here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The advert.
    pub advert: Advert,
    /// When it arrived (local clock).
    pub received: Instant,
    /// The stack port it arrived on.
    pub port: StackPort,
    /// Kept past its hold time until then: a neighbour of the origin vouches that the
    /// origin's dataplane is alive while its control plane restarts (nonstop forwarding).
    pub vouched_until: Option<Instant>,
}

impl Entry {
    /// The origin's uptime now, estimated with the local clock (milliseconds).
    pub fn uptime_ms(&self, now: Instant) -> u64 {
        let age = now.saturating_since(self.received).as_millis();
        self.advert
            .uptime_ms
            .saturating_add(u64::try_from(age).unwrap_or(u64::MAX))
    }
}

/// What [`Database::offer`] did with an advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// New or newer: stored (flood it on).
    Accepted,
    /// Not newer than the one held: ignored (do not flood).
    Stale,
}

/// Adverts of other units, by origin MAC.
#[derive(Clone, Debug)]
pub struct Database {
    entries: BTreeMap<u64, Entry>,
    hold: Duration,
}

impl Database {
    /// An empty database whose entries live `hold` without a refresh.
    pub fn new(hold: Duration) -> Self {
        Database {
            entries: BTreeMap::new(),
            hold,
        }
    }

    /// Offers an advert that arrived on `port` at `now`.
    pub fn offer(&mut self, now: Instant, port: StackPort, advert: Advert) -> Offer {
        if let Some(held) = self.entries.get(&advert.origin) {
            if advert.seq <= held.advert.seq {
                return Offer::Stale;
            }
        }
        self.entries.insert(
            advert.origin,
            Entry {
                advert,
                received: now,
                port,
                vouched_until: None,
            },
        );
        Offer::Accepted
    }

    /// Keeps `mac`'s entry at least until `until` (it does not age out before then).
    pub fn vouch(&mut self, mac: u64, until: Instant) {
        if let Some(e) = self.entries.get_mut(&mac) {
            e.vouched_until = Some(e.vouched_until.map_or(until, |v| v.max(until)));
        }
    }

    /// Drops entries older than the hold time; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let hold = self.hold;
        let before = self.entries.len();
        self.entries.retain(|_, e| {
            now.saturating_since(e.received) < hold || e.vouched_until.is_some_and(|v| now < v)
        });
        before - self.entries.len()
    }

    /// When the oldest entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.entries
            .values()
            .map(|e| {
                let aged = e.received + self.hold;
                e.vouched_until.map_or(aged, |v| aged.max(v))
            })
            .min()
    }

    /// The entry of `mac`.
    pub fn get(&self, mac: u64) -> Option<&Entry> {
        self.entries.get(&mac)
    }

    /// All entries, in MAC order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.values()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(origin: u64, seq: u32) -> Advert {
        Advert {
            seq,
            uptime_ms: 1000,
            ..Advert::joining(origin)
        }
    }

    #[test]
    fn newer_replaces_and_entries_age_out() {
        let mut db = Database::new(Duration::from_secs(1));
        let t0 = Instant::ZERO;
        assert_eq!(db.offer(t0, StackPort(0), ad(1, 5)), Offer::Accepted);
        assert_eq!(db.offer(t0, StackPort(0), ad(1, 5)), Offer::Stale);
        assert_eq!(db.offer(t0, StackPort(0), ad(1, 4)), Offer::Stale);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(db.offer(t1, StackPort(1), ad(1, 6)), Offer::Accepted);
        assert_eq!(
            db.get(1)
                .map(|e| e.uptime_ms(t1 + Duration::from_millis(250))),
            Some(1250)
        );
        assert_eq!(db.expire(t1 + Duration::from_millis(999)), 0);
        assert_eq!(db.expire(t1 + Duration::from_secs(1)), 1);
        assert!(db.is_empty());
    }
}
