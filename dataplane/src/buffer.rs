//! The shared packet buffer, accounted per (ingress port, priority group).
//!
//! Every frame is charged, whole, to one region of its ingress PG when it is admitted; when a
//! frame leaves (transmitted or discarded) its bytes come off the top of the PG's occupancy —
//! headroom first, then shared, then reserved (see [`SharedBuffer::release`]). The accounting
//! is exactly conserved: `admitted = released + occupied` and
//! `offered = admitted + refused` at every instant (DESIGN.md §7 invariant 2).
//!
//! The regions are tried in order:
//! 1. **reserved** — the PG's guaranteed minimum;
//! 2. **shared** — the pool all PGs share, up to the PG's static limit or α × free pool
//!    (dynamic threshold, as in Broadcom/SONiC);
//! 3. **headroom** — lossless PGs only: what still arrives after XOFF was decided, up to the
//!    PG's headroom and the unit's headroom pool.
//!
//! A lossy PG that finds no room tail-drops. A lossless PG that finds no room has overflowed
//! its headroom: that drop is counted separately and raised as an alarm by the engine.
//!
//! XOFF is decided when a lossless PG's reserved + shared occupancy reaches its XOFF threshold,
//! or the moment a frame has to go to headroom. XON is decided when its total occupancy drops
//! below its XON threshold.

use crate::config::{BufferConfig, PgProfile, SharedLimit, NUM_PRIORITIES};

/// Where a frame's bytes were charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// The PG's reserved minimum.
    Reserved,
    /// The shared pool.
    Shared,
    /// The headroom of a lossless PG.
    Headroom,
}

/// Why a frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A lossy PG is over its shared limit: an ordinary tail drop.
    TailDrop,
    /// A lossless PG's headroom (or the headroom pool) overflowed: PFC did not hold.
    HeadroomOverflow,
}

/// A PFC state change the engine must signal to the peer on the ingress port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseChange {
    /// The PG must be paused (send XOFF).
    Xoff,
    /// The PG may resume (send XON, quanta 0).
    Xon,
}

/// Occupancy, watermarks and counters of one priority group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PgCounters {
    /// Bytes now held in the reserved region.
    pub reserved_bytes: u64,
    /// Bytes now held in the shared pool.
    pub shared_bytes: u64,
    /// Bytes now held in headroom.
    pub headroom_bytes: u64,
    /// Highest shared-pool occupancy seen.
    pub shared_watermark: u64,
    /// Highest headroom occupancy seen.
    pub headroom_watermark: u64,
    /// Frames / bytes admitted.
    pub admitted_frames: u64,
    /// Bytes admitted.
    pub admitted_bytes: u64,
    /// Bytes released (transmitted or discarded after admission).
    pub released_bytes: u64,
    /// Frames refused by tail drop (lossy).
    pub tail_drop_frames: u64,
    /// Frames refused because headroom overflowed (lossless: an alarm).
    pub headroom_drop_frames: u64,
    /// Bytes refused (both kinds).
    pub refused_bytes: u64,
    /// Whether the PG is paused (XOFF in force towards the peer).
    pub xoff: bool,
    /// Times the PG went into XOFF.
    pub xoff_events: u64,
}

impl PgCounters {
    /// Bytes the PG holds now, all regions.
    pub fn occupancy(&self) -> u64 {
        self.reserved_bytes + self.shared_bytes + self.headroom_bytes
    }
}

/// The shared buffer of one unit.
#[derive(Debug, Clone)]
pub struct SharedBuffer {
    config: BufferConfig,
    shared_used: u64,
    headroom_used: u64,
    /// Per port, per PG: the profile and its live counters.
    pgs: Vec<[(PgProfile, PgCounters); NUM_PRIORITIES]>,
}

impl SharedBuffer {
    /// A buffer for ports whose PG profiles are `profiles[port]`.
    pub fn new(
        config: BufferConfig,
        profiles: impl IntoIterator<Item = [PgProfile; NUM_PRIORITIES]>,
    ) -> Self {
        let pgs = profiles
            .into_iter()
            .map(|p| p.map(|profile| (profile, PgCounters::default())))
            .collect();
        SharedBuffer {
            config,
            shared_used: 0,
            headroom_used: 0,
            pgs,
        }
    }

    /// Bytes of the shared pool in use.
    pub fn shared_used(&self) -> u64 {
        self.shared_used
    }

    /// Bytes of the headroom pool in use.
    pub fn headroom_used(&self) -> u64 {
        self.headroom_used
    }

    /// The pool sizes.
    pub fn config(&self) -> BufferConfig {
        self.config
    }

    /// The counters of `(port, pg)`.
    pub fn pg(&self, port: usize, pg: usize) -> &PgCounters {
        &self.pgs[port][pg & 7].1
    }

    /// The profile of `(port, pg)`.
    pub fn profile(&self, port: usize, pg: usize) -> &PgProfile {
        &self.pgs[port][pg & 7].0
    }

    /// Replaces a port's PG profiles, keeping what is held (so nothing in flight is lost).
    pub fn set_profiles(&mut self, port: usize, profiles: [PgProfile; NUM_PRIORITIES]) {
        for (slot, p) in self.pgs[port].iter_mut().zip(profiles) {
            slot.0 = p;
        }
    }

    /// Tries to admit `len` bytes arriving on `(port, pg)`.
    ///
    /// Returns the region charged and, for a lossless PG, whether it must now be paused.
    #[inline]
    pub fn admit(
        &mut self,
        port: usize,
        pg: usize,
        len: u64,
    ) -> Result<(Region, Option<PauseChange>), Refusal> {
        let free_shared = self.config.shared_pool.saturating_sub(self.shared_used);
        let (profile, c) = &mut self.pgs[port][pg & 7];
        let region = if c.reserved_bytes + len <= profile.reserved {
            c.reserved_bytes += len;
            Region::Reserved
        } else if len <= free_shared
            && c.shared_bytes + len <= shared_limit(profile.shared_limit, free_shared)
        {
            c.shared_bytes += len;
            self.shared_used += len;
            c.shared_watermark = c.shared_watermark.max(c.shared_bytes);
            Region::Shared
        } else {
            let headroom_free = self.config.headroom_pool.saturating_sub(self.headroom_used);
            match profile.lossless {
                Some(t) if c.headroom_bytes + len <= t.headroom && len <= headroom_free => {
                    c.headroom_bytes += len;
                    self.headroom_used += len;
                    c.headroom_watermark = c.headroom_watermark.max(c.headroom_bytes);
                    Region::Headroom
                }
                Some(_) => {
                    c.headroom_drop_frames += 1;
                    c.refused_bytes += len;
                    return Err(Refusal::HeadroomOverflow);
                }
                None => {
                    c.tail_drop_frames += 1;
                    c.refused_bytes += len;
                    return Err(Refusal::TailDrop);
                }
            }
        };
        c.admitted_frames += 1;
        c.admitted_bytes += len;
        let mut change = None;
        if let Some(t) = profile.lossless {
            if !c.xoff
                && (region == Region::Headroom || c.reserved_bytes + c.shared_bytes >= t.xoff)
            {
                c.xoff = true;
                c.xoff_events += 1;
                change = Some(PauseChange::Xoff);
            }
        }
        Ok((region, change))
    }

    /// Releases `len` bytes of `(port, pg)` (a frame left or was discarded).
    ///
    /// A PG's occupancy fills reserved, then shared, then headroom, like a stack, and empties
    /// from the top: departures take headroom bytes back first, whichever frame leaves. That is
    /// how an ASIC accounts it (headroom = what the PG holds beyond reserved + shared limit),
    /// and it matters: if the frames charged to headroom after an XOFF were the ones to give it
    /// back, they would still hold it when XON is sent (they queue behind older frames), the
    /// next XOFF would come late, and the headroom would no longer cover what is in flight.
    ///
    /// Returns `Some(Xon)` when a paused lossless PG has drained below its XON threshold.
    #[inline]
    pub fn release(&mut self, port: usize, pg: usize, len: u64) -> Option<PauseChange> {
        let (profile, c) = &mut self.pgs[port][pg & 7];
        let from_headroom = len.min(c.headroom_bytes);
        c.headroom_bytes -= from_headroom;
        self.headroom_used = self.headroom_used.saturating_sub(from_headroom);
        let from_shared = (len - from_headroom).min(c.shared_bytes);
        c.shared_bytes -= from_shared;
        self.shared_used = self.shared_used.saturating_sub(from_shared);
        let from_reserved = (len - from_headroom - from_shared).min(c.reserved_bytes);
        c.reserved_bytes -= from_reserved;
        c.released_bytes += from_headroom + from_shared + from_reserved;
        match profile.lossless {
            Some(t) if c.xoff && c.occupancy() < t.xon => {
                c.xoff = false;
                Some(PauseChange::Xon)
            }
            _ => None,
        }
    }

    /// Replaces the pool sizes; what is held stays charged (it drains normally).
    pub fn set_pools(&mut self, config: BufferConfig) {
        self.config = config;
    }

    /// Forgets the XOFF state of `(port, pg)` (the port's flow control was reconfigured).
    pub fn clear_xoff(&mut self, port: usize, pg: usize) {
        self.pgs[port][pg & 7].1.xoff = false;
    }
}

/// The most a PG may hold of the shared pool when `free` bytes of it are free.
#[inline]
fn shared_limit(limit: SharedLimit, free: u64) -> u64 {
    match limit {
        SharedLimit::Static(bytes) => bytes,
        SharedLimit::Dynamic { log2_alpha } if log2_alpha >= 0 => {
            free.saturating_mul(1 << log2_alpha.min(3))
        }
        SharedLimit::Dynamic { log2_alpha } => free >> (-log2_alpha).min(7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LosslessThresholds;
    use proptest::prelude::*;

    fn lossless(reserved: u64, shared: u64, xoff: u64, xon: u64, headroom: u64) -> PgProfile {
        PgProfile {
            reserved,
            shared_limit: SharedLimit::Static(shared),
            lossless: Some(LosslessThresholds {
                xoff,
                xon,
                headroom,
            }),
        }
    }

    fn buffer(profile: PgProfile) -> SharedBuffer {
        let cfg = BufferConfig {
            shared_pool: 100_000,
            headroom_pool: 50_000,
        };
        SharedBuffer::new(cfg, [[profile; NUM_PRIORITIES]])
    }

    #[test]
    fn regions_fill_in_order_and_xoff_then_xon() {
        let mut b = buffer(lossless(1000, 3000, 3500, 1500, 2000));
        assert_eq!(b.admit(0, 3, 1000), Ok((Region::Reserved, None)));
        assert_eq!(b.admit(0, 3, 1000), Ok((Region::Shared, None)));
        assert_eq!(b.admit(0, 3, 1000), Ok((Region::Shared, None)));
        // 3500 reached: XOFF.
        assert_eq!(
            b.admit(0, 3, 500),
            Ok((Region::Shared, Some(PauseChange::Xoff)))
        );
        assert_eq!(b.admit(0, 3, 500), Ok((Region::Shared, None)));
        // Shared limit (3000) reached: headroom.
        assert_eq!(b.admit(0, 3, 1500), Ok((Region::Headroom, None)));
        assert_eq!(b.admit(0, 3, 600), Err(Refusal::HeadroomOverflow));
        assert_eq!(b.pg(0, 3).headroom_drop_frames, 1);
        // Whichever frame leaves, headroom empties first.
        assert_eq!(b.release(0, 3, 1000), None);
        assert_eq!(
            (b.pg(0, 3).headroom_bytes, b.pg(0, 3).shared_bytes),
            (500, 3000)
        );
        assert_eq!(b.release(0, 3, 1000), None);
        assert_eq!(
            (b.pg(0, 3).headroom_bytes, b.pg(0, 3).shared_bytes),
            (0, 2500)
        );
        assert_eq!(b.headroom_used(), 0);
        assert_eq!(b.release(0, 3, 1000), None);
        assert_eq!(b.release(0, 3, 500), None);
        // 1500 left: not below XON 1500 yet.
        assert_eq!(b.release(0, 3, 500), None);
        assert_eq!(b.pg(0, 3).occupancy(), 1500);
        assert_eq!(b.release(0, 3, 500), Some(PauseChange::Xon));
        assert_eq!(b.pg(0, 3).occupancy(), 1000);
    }

    #[test]
    fn lossy_pg_tail_drops_at_dynamic_limit() {
        let mut b = buffer(PgProfile {
            reserved: 0,
            shared_limit: SharedLimit::Dynamic { log2_alpha: 0 },
            lossless: None,
        });
        // α = 1: a PG may take up to as much as remains free, i.e. half the pool alone.
        let mut admitted = 0;
        while b.admit(0, 0, 1000).is_ok() {
            admitted += 1000;
            assert!(admitted <= 100_000);
        }
        assert_eq!(admitted, 50_000);
        assert_eq!(b.pg(0, 0).tail_drop_frames, 1);
    }

    #[test]
    fn dynamic_alpha_scales_the_limit() {
        assert_eq!(shared_limit(SharedLimit::Dynamic { log2_alpha: 3 }, 10), 80);
        assert_eq!(
            shared_limit(SharedLimit::Dynamic { log2_alpha: -7 }, 1280),
            10
        );
        assert_eq!(shared_limit(SharedLimit::Static(5), 1280), 5);
    }

    proptest! {
        /// DESIGN.md §7 invariant 2 at the buffer: whatever sequence of arrivals and departures,
        /// offered = admitted + refused, admitted = released + held, and the pools equal the sum
        /// of what the PGs hold.
        #[test]
        fn accounting_is_conserved(ops in proptest::collection::vec((any::<bool>(), 0usize..8, 60u64..9000), 1..400)) {
            let cfg = BufferConfig { shared_pool: 40_000, headroom_pool: 12_000 };
            let mut profiles = [PgProfile::lossy(); NUM_PRIORITIES];
            profiles[3] = lossless(2000, 10_000, 8000, 4000, 9000);
            profiles[4] = PgProfile { reserved: 0, shared_limit: SharedLimit::Dynamic { log2_alpha: -1 }, lossless: Some(LosslessThresholds { xoff: 5000, xon: 1000, headroom: 6000 }) };
            let mut b = SharedBuffer::new(cfg, [profiles, profiles]);
            let mut held: Vec<(usize, usize, u64)> = Vec::new();
            let mut offered = 0u64;
            for (i, (arrive, pg, len)) in ops.into_iter().enumerate() {
                let port = i % 2;
                if arrive || held.is_empty() {
                    offered += len;
                    if b.admit(port, pg, len).is_ok() {
                        held.push((port, pg, len));
                    }
                } else {
                    let (port, pg, len) = held.swap_remove(i % held.len());
                    b.release(port, pg, len);
                }
                let mut admitted = 0; let mut released = 0; let mut refused = 0; let mut occ = 0;
                let (mut shared, mut headroom) = (0, 0);
                for p in 0..2 { for g in 0..NUM_PRIORITIES {
                    let c = b.pg(p, g);
                    admitted += c.admitted_bytes; released += c.released_bytes; refused += c.refused_bytes;
                    occ += c.occupancy(); shared += c.shared_bytes; headroom += c.headroom_bytes;
                    prop_assert!(c.reserved_bytes <= b.profile(p, g).reserved);
                }}
                prop_assert_eq!(offered, admitted + refused);
                prop_assert_eq!(admitted, released + occ);
                prop_assert_eq!(occ, held.iter().map(|h| h.2).sum::<u64>());
                prop_assert_eq!(shared, b.shared_used());
                prop_assert_eq!(headroom, b.headroom_used());
                prop_assert!(b.shared_used() <= cfg.shared_pool);
                prop_assert!(b.headroom_used() <= cfg.headroom_pool);
            }
        }
    }
}
