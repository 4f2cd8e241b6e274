//! Runtime state of one port: its configuration, egress queues, transmitter, flow-control
//! state, watchdog and counters.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::config::{FlowControl, PortConfig, NUM_PRIORITIES};
use crate::counters::{PortCounters, QueueCounters};
use crate::engine::QueuedFrame;
use crate::pfc::{PauseReceiver, PauseSender};
use crate::scheduler::EgressQueues;
use crate::time::{ByteTime, Instant};

/// Dense index of a port within one engine (the order of [`crate::config::EngineConfig::ports`]).
/// Drivers use it on the hot path instead of a [`crate::config::PortId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortIndex(pub u16);

impl PortIndex {
    /// As a `usize` for indexing.
    #[inline]
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// Frames the control path (PacketOut) may have waiting on one port.
pub const CPU_QUEUE_LIMIT: usize = 256;

/// The last source address a port learned, so that a port with one busy station (a server)
/// does not write the bridge table for every frame. Valid only while the table's generation is
/// unchanged (no entry added, moved or removed since) and for 1/64 of the ageing time — the
/// software form of an ASIC's hit bit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LearnCache {
    pub key: u64,
    pub dest: crate::fdb::FdbDestination,
    pub generation: u64,
    pub fresh_until: Instant,
}

impl Default for LearnCache {
    fn default() -> Self {
        LearnCache {
            key: u64::MAX,
            dest: crate::fdb::FdbDestination::Local(PortIndex(u16::MAX)),
            generation: u64::MAX,
            fresh_until: Instant::ZERO,
        }
    }
}

/// Watchdog state of one egress traffic class.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TcWatch {
    /// Held in storm state since this instant.
    pub stormed_since: Option<Instant>,
}

/// Everything the engine keeps per port.
#[derive(Debug)]
pub(crate) struct PortState {
    pub cfg: PortConfig,
    pub queues: EgressQueues<QueuedFrame>,
    /// Frames from the control path: sent before data, never paused, not charged to the buffer.
    pub cpu_queue: VecDeque<Bytes>,
    /// The transmitter is busy until then (serialization of the frame on the wire).
    pub busy_until: Instant,
    /// Link state as the driver reports it (a down link sends and receives nothing).
    pub link: bool,
    /// Held down by the control plane (e.g. a split-stack minority's front ports).
    pub held: bool,
    /// Stack-link hellos (stack ports, when enabled): forwarding waits for them.
    pub hello: Option<crate::hello::HelloSession>,
    pub rx_pause: PauseReceiver,
    pub tx_pause: PauseSender,
    pub counters: PortCounters,
    pub queue_counters: [QueueCounters; NUM_PRIORITIES],
    /// PG → the PFC-enabled priorities that map to it (the enable bits of its XOFF frames).
    pub pg_pause_priorities: [u8; NUM_PRIORITIES],
    /// Egress traffic classes that carry a PFC-enabled priority (watched by the watchdog).
    pub lossless_tcs: u8,
    pub watch: [TcWatch; NUM_PRIORITIES],
    /// Traffic classes the watchdog holds in storm state (bit per TC).
    pub stormed: u8,
    /// Time on the wire per byte at the port's speed (no division per frame at standard
    /// speeds).
    pub wire: ByteTime,
    pub learn_cache: LearnCache,
}

impl PortState {
    pub fn new(cfg: PortConfig) -> Self {
        let mut p = PortState {
            queues: EgressQueues::new(&cfg.schedule),
            cpu_queue: VecDeque::new(),
            busy_until: Instant::ZERO,
            link: true,
            held: false,
            hello: None,
            rx_pause: PauseReceiver::new(cfg.priority_to_tc),
            tx_pause: PauseSender::default(),
            counters: PortCounters::default(),
            queue_counters: [QueueCounters::default(); NUM_PRIORITIES],
            pg_pause_priorities: [0; NUM_PRIORITIES],
            lossless_tcs: 0,
            watch: [TcWatch::default(); NUM_PRIORITIES],
            stormed: 0,
            wire: ByteTime::new(cfg.speed_bps),
            learn_cache: LearnCache::default(),
            cfg,
        };
        p.derive_maps();
        p
    }

    /// Recomputes the lookup tables that follow from the configuration.
    pub fn derive_maps(&mut self) {
        self.wire = ByteTime::new(self.cfg.speed_bps);
        self.pg_pause_priorities = [0; NUM_PRIORITIES];
        self.lossless_tcs = 0;
        match self.cfg.flow_control {
            FlowControl::Pfc { enabled } => {
                for p in 0..NUM_PRIORITIES {
                    if enabled & (1 << p) != 0 {
                        let pg = usize::from(self.cfg.priority_to_pg[p] & 7);
                        self.pg_pause_priorities[pg] |= 1 << p;
                        self.lossless_tcs |= 1 << (self.cfg.priority_to_tc[p] & 7);
                    }
                }
            }
            FlowControl::Pause => {
                // A PAUSE port pauses as a whole: every lossless PG triggers it.
                for pg in 0..NUM_PRIORITIES {
                    if self.cfg.pgs[pg].lossless.is_some() {
                        self.pg_pause_priorities[pg] = 0xff;
                    }
                }
                self.lossless_tcs = 0xff;
            }
            FlowControl::None => {}
        }
    }

    /// Whether the port forwards data: link up, not held, and (stack ports with hellos) the
    /// peer's hellos arriving.
    #[inline]
    pub fn forwarding(&self) -> bool {
        self.link && !self.held && self.hello.as_ref().is_none_or(|h| h.alive())
    }

    /// Whether something is waiting to be transmitted (data, control-path or MAC Control).
    #[inline]
    pub fn has_work(&self) -> bool {
        self.queues.non_empty() != 0 || !self.cpu_queue.is_empty() || self.tx_pause.pending()
    }
}
