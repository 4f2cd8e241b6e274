//! The incast scenario: N senders → 1 receiver through one switch, on a lossless (PFC) or a
//! lossy priority.
//!
//! Unit 1 has N + 1 front ports at one speed, all access ports of VLAN 1: ports 1..=N face the
//! senders, port N + 1 the receiver. Each sender sends one flow at line rate, tagged VID 1 with
//! the scenario's priority as PCP, to the receiver; N line-rate flows into one port of the
//! same speed congest its egress queue.
//!
//! The buffer is sized so that congestion reaches the thresholds within a short run: the
//! priority's PG on every port has no reserved bytes and a **static shared limit equal to its
//! XOFF threshold** ([`IncastConfig::xoff_bytes`]). A lossless PG therefore sends XOFF the
//! moment it fills its shared share, and everything that still arrives goes to headroom — so
//! the headroom watermark measures exactly what PFC let through after the decision, and a
//! headroom below the bound ([`dataplane::headroom::minimum_headroom`] for the speed, cable,
//! frame size and the hosts' response) overflows. XON is at half of XOFF. A lossy PG with the
//! same limit tail-drops there instead.
//!
//! Every host first sends one broadcast frame (priority 0) so the switch learns it; flows
//! start at [`FLOW_START`] plus a seeded jitter of up to one frame time, and stop at the end of
//! [`IncastConfig::duration`]. The run then continues (up to [`IncastConfig::drain`]) until the
//! network is quiescent: nothing on a wire, nothing queued, nothing left to send.

mod report;

use core::time::Duration;

use dataplane::config::{
    BufferConfig, LosslessThresholds, PgProfile, PortConfig, PortId, SharedLimit, NUM_PRIORITIES,
};
use dataplane::headroom::{
    ieee_response_quanta, minimum_headroom, HeadroomBreakdown, HeadroomError, HeadroomInput,
};
use dataplane::pfc::quanta_ps;
use dataplane::wire::{MacAddr, VlanTag};
use dataplane::{Engine, EngineConfig, Instant, PortIndex};
use thiserror::Error;

use crate::host::{flow, FlowSpec, Host, HostConfig, HostError, Rate, Stop};
use crate::rng::SplitMix64;
use crate::world::{LinkSpec, NodeId, World, WorldError};

pub use report::{FlowReport, HeadroomReport, IncastReport, PortReport, QueueReport, Totals};

/// When the senders' flows start (after every host has announced itself).
pub const FLOW_START: Instant = Instant::from_nanos(10_000);
/// Most senders.
pub const MAX_SENDERS: u32 = 32;

/// Parameters of an incast run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncastConfig {
    /// Number of senders (1..=32).
    pub senders: u32,
    /// Speed of every port and host, bits per second.
    pub speed_bps: u64,
    /// Length of every cable, metres.
    pub cable_m: u32,
    /// Frame size in bytes without FCS (64..=9216), VLAN tag included; also the ports' MTU.
    pub frame_size: u32,
    /// Virtual time during which the senders send (from time zero).
    pub duration: Duration,
    /// Whether the priority is lossless (PFC) or lossy (tail drop).
    pub lossless: bool,
    /// The priority (PCP) of the flows.
    pub priority: u8,
    /// Added to the headroom bound to get the configured headroom; may be negative (for
    /// negative controls), but the result must stay at least one frame.
    pub headroom_margin_bytes: i64,
    /// The senders' PFC response time in pause quanta; `None` takes the IEEE maximum for the
    /// speed. The headroom bound is computed with the same figure.
    pub response_quanta: Option<u16>,
    /// Shared limit and XOFF threshold of the priority's PG on each port, bytes.
    pub xoff_bytes: u64,
    /// Virtual time allowed after `duration` for the network to empty.
    pub drain: Duration,
    /// Seed of the start-time jitter.
    pub seed: u64,
    /// Most events before the run is stopped with an error.
    pub max_events: u64,
}

impl Default for IncastConfig {
    /// 2 senders, 10G, 10 m, 1500-byte frames, 5 ms, lossless priority 3, no margin.
    fn default() -> Self {
        IncastConfig {
            senders: 2,
            speed_bps: 10_000_000_000,
            cable_m: 10,
            frame_size: 1500,
            duration: Duration::from_millis(5),
            lossless: true,
            priority: 3,
            headroom_margin_bytes: 0,
            response_quanta: None,
            xoff_bytes: 64 * 1024,
            drain: Duration::from_millis(20),
            seed: 1,
            max_events: 50_000_000,
        }
    }
}

/// Why an incast run could not be set up or finished.
#[derive(Debug, Error)]
pub enum IncastError {
    /// A parameter is out of range; `field` names it.
    #[error("{field}: {value} is out of range (allowed: {allowed})")]
    OutOfRange {
        /// The parameter.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// The margin takes the headroom below one frame.
    #[error("headroom_margin_bytes: {margin} takes the headroom to {headroom} B, below one frame ({frame} B); the bound is {bound} B")]
    HeadroomBelowFrame {
        /// The margin given.
        margin: i64,
        /// Bound + margin.
        headroom: i64,
        /// The bound.
        bound: u64,
        /// The frame size.
        frame: u32,
    },
    /// The headroom calculator refused the link.
    #[error("headroom bound: {0}")]
    Headroom(#[from] HeadroomError),
    /// The switch refused its configuration.
    #[error("switch configuration: {0}")]
    Config(#[from] dataplane::config::ConfigError),
    /// A host refused its flow.
    #[error("host: {0}")]
    Host(#[from] HostError),
    /// The world stopped the run.
    #[error(transparent)]
    World(#[from] WorldError),
}

fn out_of_range(field: &'static str, value: impl ToString, allowed: &'static str) -> IncastError {
    IncastError::OutOfRange {
        field,
        value: value.to_string(),
        allowed,
    }
}

impl IncastConfig {
    /// Checks every parameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), IncastError> {
        if !(1..=MAX_SENDERS).contains(&self.senders) {
            return Err(out_of_range("senders", self.senders, "1..=32"));
        }
        if self.speed_bps == 0 {
            return Err(out_of_range("speed_bps", 0, "greater than zero"));
        }
        if !(64..=9216).contains(&self.frame_size) {
            return Err(out_of_range("frame_size", self.frame_size, "64..=9216"));
        }
        if self.priority > 7 {
            return Err(out_of_range("priority", self.priority, "0..=7"));
        }
        if self.duration.is_zero() {
            return Err(out_of_range("duration", "0", "a non-zero duration"));
        }
        if self.xoff_bytes < 2 * u64::from(self.frame_size) {
            return Err(out_of_range(
                "xoff_bytes",
                self.xoff_bytes,
                "at least two frames",
            ));
        }
        Ok(())
    }

    /// The senders' PFC response in quanta.
    pub fn effective_response_quanta(&self) -> u16 {
        self.response_quanta
            .unwrap_or_else(|| ieee_response_quanta(self.speed_bps))
    }

    /// The headroom bound for this link and response.
    pub fn headroom_bound(&self) -> Result<HeadroomBreakdown, IncastError> {
        Ok(minimum_headroom(&HeadroomInput {
            speed_bps: self.speed_bps,
            cable_length_m: self.cable_m,
            mtu: self.frame_size,
            peer_response_quanta: Some(self.effective_response_quanta()),
            cell_size: None,
        })?)
    }
}

/// Address of host `n` (senders 1..=N, the receiver N + 1).
pub fn host_mac(n: u32) -> MacAddr {
    let [_, _, a, b] = n.to_be_bytes();
    MacAddr::new(0x02, 0x5e, 0, 0, a, b)
}

/// A built incast: the world and where everything is in it.
#[derive(Debug)]
pub struct Incast {
    config: IncastConfig,
    world: World,
    switch: NodeId,
    senders: Vec<NodeId>,
    receiver: NodeId,
    bound: HeadroomBreakdown,
    headroom: u64,
}

impl Incast {
    /// Builds the switch, the hosts, the cables and the flows.
    pub fn build(config: IncastConfig) -> Result<Self, IncastError> {
        config.validate()?;
        let bound = config.headroom_bound()?;
        let headroom = i64::try_from(bound.total)
            .unwrap_or(i64::MAX)
            .saturating_add(config.headroom_margin_bytes);
        if headroom < i64::from(config.frame_size) {
            return Err(IncastError::HeadroomBelowFrame {
                margin: config.headroom_margin_bytes,
                headroom,
                bound: bound.total,
                frame: config.frame_size,
            });
        }
        let headroom = headroom as u64;
        let n = config.senders;
        let speed = config.speed_bps;
        let xoff = config.xoff_bytes;
        let prio = config.priority;

        let mut ports = Vec::new();
        for p in 1..=n + 1 {
            let mut c = PortConfig::new(PortId::front(p as u8), speed);
            c.mtu = config.frame_size;
            let pg = usize::from(c.priority_to_pg[usize::from(prio)]);
            c.pgs[pg] = PgProfile {
                reserved: 0,
                shared_limit: SharedLimit::Static(xoff),
                lossless: None,
            };
            if config.lossless {
                c = c.with_lossless(
                    prio,
                    LosslessThresholds {
                        xoff,
                        xon: xoff / 2,
                        headroom,
                    },
                );
            }
            ports.push(c);
        }
        let mut ec = EngineConfig::new(1, ports);
        let all = u64::from(n) + 1;
        ec.buffer = BufferConfig {
            shared_pool: all * xoff + 64 * 1024,
            headroom_pool: all * headroom,
        };
        let engine = Engine::new(ec)?;

        let mut world = World::new(config.max_events);
        let switch = world.add_switch("switch", engine);
        let link = LinkSpec {
            speed_bps: speed,
            cable_m: config.cable_m,
        };
        let response_ps = quanta_ps(config.effective_response_quanta(), speed);
        let mut rng = SplitMix64::new(config.seed);
        let receiver_mac = host_mac(n + 1);
        let stop = Stop::At(Instant::from_duration(config.duration));
        let frame_ps = LinkSpec {
            speed_bps: speed,
            cable_m: 0,
        }
        .serialization_ps(config.frame_size as usize);

        let mut senders = Vec::new();
        for k in 1..=n {
            let mut host = Host::new(HostConfig {
                pfc_response_ps: Some(response_ps),
                ..HostConfig::new(host_mac(k), speed)
            })?;
            host.send_frame(flow::announce(host_mac(k)));
            host.add_flow(FlowSpec {
                id: k,
                dst: receiver_mac,
                vlan: Some(VlanTag {
                    pcp: prio,
                    dei: false,
                    vid: 1,
                }),
                frame_len: config.frame_size as usize,
                rate: Rate::LineRate,
                start: FLOW_START.plus_ps(rng.below(frame_ps)),
                stop,
            })?;
            let id = world.add_host(format!("sender{k}"), host);
            world.connect((id, Host::PORT), (switch, PortIndex(k as u16 - 1)), link)?;
            senders.push(id);
        }
        let mut rx_host = Host::new(HostConfig::new(receiver_mac, speed))?;
        rx_host.send_frame(flow::announce(receiver_mac));
        let receiver = world.add_host("receiver", rx_host);
        world.connect((receiver, Host::PORT), (switch, PortIndex(n as u16)), link)?;
        Ok(Incast {
            config,
            world,
            switch,
            senders,
            receiver,
            bound,
            headroom,
        })
    }

    /// The world (to inspect nodes before or after a run).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to step it by hand (e.g. watch a PG while it runs) before [`Incast::run`].
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// The switch node.
    pub fn switch(&self) -> NodeId {
        self.switch
    }

    /// The sender nodes, sender k at index k − 1 (front port k).
    pub fn senders(&self) -> &[NodeId] {
        &self.senders
    }

    /// The receiver node (front port N + 1).
    pub fn receiver(&self) -> NodeId {
        self.receiver
    }

    /// The headroom configured on the lossless PGs (bound + margin), bytes.
    pub fn headroom(&self) -> u64 {
        self.headroom
    }

    /// Runs the senders for the configured duration, then lets the network drain, and reports.
    pub fn run(mut self) -> Result<IncastReport, IncastError> {
        let end = Instant::from_duration(self.config.duration);
        self.world.run_until(end)?;
        let deadline = end + self.config.drain;
        let switch = self.switch;
        let hosts: Vec<NodeId> = self
            .senders
            .iter()
            .copied()
            .chain([self.receiver])
            .collect();
        let stopped = self
            .world
            .run_while(deadline, |w| !quiescent(w, switch, &hosts))?;
        let drained = stopped || quiescent(&self.world, switch, &hosts);
        tracing::debug!(drained, now = %self.world.now(), events = self.world.stats().events, "incast run finished");
        let mut lossless_drop_events = 0;
        if let Some(e) = self.world.switch_mut(switch) {
            while let Some(ev) = e.poll_event() {
                if matches!(ev, dataplane::Event::LosslessDrop { .. }) {
                    lossless_drop_events += 1;
                }
            }
        }
        Ok(report::build(&self, drained, lossless_drop_events))
    }
}

/// Nothing on a wire, nothing queued in the switch, nothing left to send.
fn quiescent(w: &World, switch: NodeId, hosts: &[NodeId]) -> bool {
    if w.frames_in_flight() != 0 {
        return false;
    }
    if !hosts.iter().all(|h| w.host(*h).is_some_and(Host::is_idle)) {
        return false;
    }
    let Some(e) = w.switch(switch) else {
        return true;
    };
    (0..e.num_ports()).all(|p| {
        (0..NUM_PRIORITIES).all(|tc| {
            e.queue_counters(PortIndex(p as u16), tc)
                .is_none_or(|q| q.depth_frames == 0)
        })
    })
}
