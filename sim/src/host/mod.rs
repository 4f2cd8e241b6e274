//! A sans-IO host NIC: sends flows of numbered frames no faster than its line rate, honours
//! the PFC (and PAUSE) frames it receives, and counts what it receives per flow.
//!
//! It has the engine's driver interface (`handle_frame`, `handle_timeout`, `poll_transmit`,
//! `poll_timeout`), so the [`crate::world::World`] drives hosts and switches alike.
//!
//! PFC follows [`dataplane::pfc::PauseReceiver`] — the same receiver rules as the switch
//! (quanta × 512 bit times, a newer frame replaces the timer, quanta 0 resumes, bits that are
//! 0 change nothing, a frame already on the wire finishes) — with one addition a real NIC has:
//! a **response delay**. A PFC frame arriving at `t` takes effect at `t + response delay`;
//! frames started before then still go. The default delay is the IEEE maximum for the speed
//! ([`dataplane::headroom::ieee_response_quanta`]), the figure the headroom bound assumes.

pub mod flow;
pub mod rc;

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use dataplane::config::NUM_PRIORITIES;
use dataplane::headroom::ieee_response_quanta;
use dataplane::pfc::{quanta_ps, PauseReceiver};
use dataplane::time::ByteTime;
use dataplane::wire::{L2Header, MacAddr, MacControlRepr, ETHERTYPE_MAC_CONTROL};
use dataplane::{Instant, PortIndex, Transmit};
use serde::Serialize;
use thiserror::Error;

pub use flow::{FlowRx, FlowSpec, FlowTx, Rate, Stop};
pub use rc::{RcRx, RcSpec, RcTx};

/// How a host is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// The NIC's address (source of every frame it sends).
    pub mac: MacAddr,
    /// Line rate in bits per second.
    pub speed_bps: u64,
    /// Whether received PFC/PAUSE frames are obeyed (a host that ignores them is a useful
    /// misbehaving peer); they are counted either way.
    pub honour_pfc: bool,
    /// Delay between a PFC frame's arrival and its effect, picoseconds; `None` takes the IEEE
    /// maximum response for the speed.
    pub pfc_response_ps: Option<u64>,
}

impl HostConfig {
    /// A PFC-honouring host with the IEEE response delay.
    pub fn new(mac: MacAddr, speed_bps: u64) -> Self {
        HostConfig {
            mac,
            speed_bps,
            honour_pfc: true,
            pfc_response_ps: None,
        }
    }

    /// The response delay in force, picoseconds.
    pub fn response_ps(&self) -> u64 {
        self.pfc_response_ps
            .unwrap_or_else(|| quanta_ps(ieee_response_quanta(self.speed_bps), self.speed_bps))
    }
}

/// A host or flow refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum HostError {
    /// A NIC needs a speed.
    #[error("speed_bps must be greater than zero")]
    ZeroSpeed,
    /// A flow's frame size is out of range.
    #[error("flow {flow}: frame_len {len} is outside 64..=9216")]
    FrameLen {
        /// The flow.
        flow: u32,
        /// The size given.
        len: usize,
    },
    /// A flow's rate is not a fraction in (0, 1].
    #[error("flow {flow}: rate must be a fraction num/den with 0 < num <= den")]
    BadRate {
        /// The flow.
        flow: u32,
    },
    /// A flow's VLAN tag cannot be sent (PCP above 7 or VID above 4095).
    #[error("flow {flow}: VLAN tag pcp {pcp} vid {vid} is invalid")]
    BadTag {
        /// The flow.
        flow: u32,
        /// PCP given.
        pcp: u8,
        /// VID given.
        vid: u16,
    },
    /// Two flows with one id on a host.
    #[error("flow {0} already exists on this host")]
    DuplicateFlow(u32),
    /// A go-back-N connection needs a window of at least one frame.
    #[error("connection {0}: window must be at least one frame")]
    ZeroWindow(u32),
}

/// Counters of a host NIC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostCounters {
    /// Frames transmitted.
    pub tx_frames: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Received frames that were neither flow frames for this host nor MAC Control.
    pub rx_other: u64,
    /// PFC frames received.
    pub pfc_rx: u64,
    /// 802.3x PAUSE frames received.
    pub pause_rx: u64,
}

#[derive(Clone, Debug)]
struct FlowState {
    spec: FlowSpec,
    /// Serialization time of one of its frames, and the interval between frames at its rate
    /// (at the host's speed; worked out once).
    ser_ps: u64,
    interval_ps: u64,
    next_seq: u64,
    next_at: Instant,
    tx: FlowTx,
    done: bool,
}

impl FlowState {
    /// Whether the flow may still send a frame starting at `t`.
    fn alive_at(&self, t: Instant) -> bool {
        !self.done
            && match self.spec.stop {
                Stop::AfterFrames(n) => self.tx.frames < n,
                Stop::At(end) => t < end,
            }
    }
}

/// A host NIC with one port, [`Host::PORT`].
#[derive(Clone, Debug)]
pub struct Host {
    cfg: HostConfig,
    /// Time on the wire per byte at the NIC's speed.
    byte: ByteTime,
    flows: Vec<FlowState>,
    raw: VecDeque<Bytes>,
    busy_until: Instant,
    /// PFC frames received and not yet in effect: (effective time, enable, quanta).
    pending: VecDeque<(Instant, u8, [u16; NUM_PRIORITIES])>,
    rx_pause: PauseReceiver,
    rx: BTreeMap<u32, FlowRx>,
    counters: HostCounters,
    now: Instant,
    rc_tx: Vec<rc::RcSender>,
    rc_rx: BTreeMap<u32, RcRx>,
    /// The next go-back-N sender to serve (round robin).
    rc_next: usize,
    storm: Option<Storm>,
    /// Buffers of frames received, reused for frames sent (at most [`POOL_LIMIT`]).
    pool: Vec<BytesMut>,
}

/// Most received frame buffers a host keeps for reuse.
const POOL_LIMIT: usize = 64;

/// A broken NIC's PFC storm: XOFF frames at a fixed interval.
#[derive(Clone, Copy, Debug)]
struct Storm {
    next: Instant,
    end: Instant,
    interval_ps: u64,
    enable: u8,
}

impl Host {
    /// The host's only port.
    pub const PORT: PortIndex = PortIndex(0);

    /// A host with no flows.
    pub fn new(cfg: HostConfig) -> Result<Self, HostError> {
        if cfg.speed_bps == 0 {
            return Err(HostError::ZeroSpeed);
        }
        Ok(Host {
            byte: ByteTime::new(cfg.speed_bps),
            cfg,
            flows: Vec::new(),
            raw: VecDeque::new(),
            busy_until: Instant::ZERO,
            pending: VecDeque::new(),
            rx_pause: PauseReceiver::new([0, 1, 2, 3, 4, 5, 6, 7]),
            rx: BTreeMap::new(),
            counters: HostCounters::default(),
            now: Instant::ZERO,
            rc_tx: Vec::new(),
            rc_rx: BTreeMap::new(),
            rc_next: 0,
            storm: None,
            pool: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// Adds a flow after checking it.
    pub fn add_flow(&mut self, spec: FlowSpec) -> Result<(), HostError> {
        let flow = spec.id;
        if !flow::FLOW_FRAME_LEN.contains(&spec.frame_len) {
            return Err(HostError::FrameLen {
                flow,
                len: spec.frame_len,
            });
        }
        if let Rate::Fraction { num, den } = spec.rate {
            if num == 0 || num > den {
                return Err(HostError::BadRate { flow });
            }
        }
        if let Some(t) = spec.vlan {
            if t.pcp > 7 || t.vid > 4095 {
                return Err(HostError::BadTag {
                    flow,
                    pcp: t.pcp,
                    vid: t.vid,
                });
            }
        }
        if self.flows.iter().any(|f| f.spec.id == flow) {
            return Err(HostError::DuplicateFlow(flow));
        }
        let ser_ps = self.serialization_ps(spec.frame_len);
        let interval_ps = match spec.rate {
            Rate::LineRate => ser_ps,
            Rate::Fraction { num, den } => {
                (u128::from(ser_ps) * u128::from(den)).div_ceil(u128::from(num)) as u64
            }
        };
        self.flows.push(FlowState {
            spec,
            ser_ps,
            interval_ps,
            next_seq: 0,
            next_at: spec.start,
            tx: FlowTx::default(),
            done: false,
        });
        Ok(())
    }

    /// Adds a go-back-N reliable connection ([`rc`]).
    pub fn add_rc(&mut self, spec: RcSpec) -> Result<(), HostError> {
        if !flow::FLOW_FRAME_LEN.contains(&spec.frame_len) {
            return Err(HostError::FrameLen {
                flow: spec.id,
                len: spec.frame_len,
            });
        }
        if spec.window == 0 {
            return Err(HostError::ZeroWindow(spec.id));
        }
        if self.rc_tx.iter().any(|s| s.spec.id == spec.id)
            || self.flows.iter().any(|f| f.spec.id == spec.id)
        {
            return Err(HostError::DuplicateFlow(spec.id));
        }
        self.rc_tx.push(rc::RcSender::new(spec));
        Ok(())
    }

    /// Makes this NIC broken: from `start` to `end` it sends PFC XOFF (maximum quanta) for the
    /// priorities in `enable` every `interval_ps`, whatever it receives — a PFC storm.
    pub fn set_pfc_storm(&mut self, start: Instant, end: Instant, interval_ps: u64, enable: u8) {
        self.storm = Some(Storm {
            next: start,
            end,
            interval_ps: interval_ps.max(1),
            enable,
        });
    }

    /// What was sent of each go-back-N connection.
    pub fn rc_sent(&self) -> impl Iterator<Item = (&RcSpec, RcTx)> {
        self.rc_tx.iter().map(|s| (&s.spec, s.tx))
    }

    /// What was received of each go-back-N connection, by id.
    pub fn rc_received(&self) -> &BTreeMap<u32, RcRx> {
        &self.rc_rx
    }

    /// Queues one raw frame, sent ahead of flow frames (subject to PFC by its PCP).
    pub fn send_frame(&mut self, frame: Bytes) {
        self.raw.push_back(frame);
    }

    fn serialization_ps(&self, len: usize) -> u64 {
        self.byte.frame_ps(len)
    }

    /// A frame arrived at `now`.
    pub fn handle_frame(&mut self, now: Instant, port: PortIndex, frame: Bytes) {
        self.now = self.now.max(now);
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += frame.len() as u64;
        let Ok(hdr) = L2Header::parse(&frame) else {
            self.counters.rx_other += 1;
            return;
        };
        if port != Self::PORT {
            self.counters.rx_other += 1;
        } else if hdr.ethertype == ETHERTYPE_MAC_CONTROL {
            let payload = frame.get(hdr.payload_offset..).unwrap_or(&[]);
            self.handle_mac_control(now, payload);
        } else if hdr.dst != self.cfg.mac {
            self.counters.rx_other += 1;
        } else if let Some(rcf) = rc::parse(&frame) {
            self.handle_rc(now, rcf, hdr.src, hdr.vlan, frame.len());
        } else if let Some((id, seq)) = flow::parse_frame(&frame) {
            self.rx.entry(id).or_default().record(now, seq, frame.len());
            // The last holder of the buffer: keep it for a frame to send.
            if self.pool.len() < POOL_LIMIT {
                if let Ok(buf) = frame.try_into_mut() {
                    self.pool.push(buf);
                }
            }
        } else {
            self.counters.rx_other += 1;
        }
    }

    fn handle_rc(
        &mut self,
        now: Instant,
        f: rc::RcFrame,
        src: MacAddr,
        vlan: Option<dataplane::wire::VlanTag>,
        len: usize,
    ) {
        match f {
            rc::RcFrame::Data(id, psn) => {
                if let Some((ack, nak)) = self.rc_rx.entry(id).or_default().on_data(now, psn, len) {
                    // ACKs travel on the data's priority, tagged as it came (VID 1 if untagged).
                    let tag = vlan.map(|t| dataplane::wire::VlanTag { vid: 1, ..t });
                    self.raw
                        .push_back(rc::ack_frame(src, self.cfg.mac, tag, id, ack, nak));
                }
            }
            rc::RcFrame::Ack(id, psn, nak) => {
                if let Some(s) = self.rc_tx.iter_mut().find(|s| s.spec.id == id) {
                    s.on_ack(now, psn, nak);
                }
            }
        }
    }

    fn handle_mac_control(&mut self, now: Instant, payload: &[u8]) {
        let (enable, quanta) = match MacControlRepr::parse(payload) {
            Ok(MacControlRepr::Pfc { enable, quanta }) => {
                self.counters.pfc_rx += 1;
                (enable, quanta)
            }
            Ok(MacControlRepr::Pause { quanta }) => {
                self.counters.pause_rx += 1;
                (0xff, [quanta; NUM_PRIORITIES])
            }
            Err(_) => {
                self.counters.rx_other += 1;
                return;
            }
        };
        if self.cfg.honour_pfc {
            let at = now.plus_ps(self.cfg.response_ps());
            tracing::trace!(%now, effective = %at, enable, "host received PFC");
            self.pending.push_back((at, enable, quanta));
        }
    }

    /// Puts received pauses whose response delay has passed into effect.
    fn apply_due_pauses(&mut self, now: Instant) {
        while let Some(&(at, enable, quanta)) = self.pending.front() {
            if at > now {
                break;
            }
            self.pending.pop_front();
            self.rx_pause.apply(at, enable, &quanta, self.cfg.speed_bps);
        }
    }

    /// Timers due at `now`: received pauses taking effect.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.apply_due_pauses(now);
        for s in &mut self.rc_tx {
            s.check_timer(now);
        }
    }

    /// The next frame to put on the wire at `now`, if the port is free and a frame may go.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.now = self.now.max(now);
        self.apply_due_pauses(now);
        if self.busy_until > now {
            return None;
        }
        if let Some(st) = self.storm.as_mut().filter(|s| s.next <= now && now < s.end) {
            st.next = now.plus_ps(st.interval_ps);
            let mut quanta = [0u16; NUM_PRIORITIES];
            for (p, q) in quanta.iter_mut().enumerate() {
                if st.enable & (1 << p) != 0 {
                    *q = u16::MAX;
                }
            }
            let frame = MacControlRepr::Pfc {
                enable: st.enable,
                quanta,
            }
            .emit_frame(self.cfg.mac);
            let frame = Bytes::copy_from_slice(&frame);
            return Some(self.put_out(now, frame));
        }
        let paused = self.rx_pause.paused_priorities(now);
        let raw_ok = self
            .raw
            .front()
            .is_some_and(|f| paused & (1 << frame_priority(f)) == 0);
        let frame = if raw_ok {
            self.raw.pop_front()?
        } else if let Some(i) = self.next_rc(now, paused) {
            let src = self.cfg.mac;
            self.rc_tx[i].take_frame(src)
        } else {
            let i = self.next_flow(now, paused)?;
            let src = self.cfg.mac;
            let buf = self.pool.pop().unwrap_or_default();
            let f = &mut self.flows[i];
            let frame = flow::build_frame_in(buf, &f.spec, src, f.next_seq);
            f.next_seq += 1;
            f.tx.frames += 1;
            f.tx.bytes += frame.len() as u64;
            f.next_at = f.next_at.plus_ps(f.interval_ps).max(now.plus_ps(f.ser_ps));
            frame
        };
        Some(self.put_out(now, frame))
    }

    fn put_out(&mut self, now: Instant, frame: Bytes) -> Transmit {
        self.busy_until = now.plus_ps(self.serialization_ps(frame.len()));
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += frame.len() as u64;
        Transmit {
            port: Self::PORT,
            frame,
        }
    }

    /// The go-back-N connection to send from now, round robin.
    fn next_rc(&mut self, now: Instant, paused: u8) -> Option<usize> {
        let n = self.rc_tx.len();
        for k in 0..n {
            let i = (self.rc_next + k) % n;
            let s = &self.rc_tx[i];
            let prio = s.spec.vlan.map_or(0, |t| t.pcp & 7);
            if s.can_send(now) && paused & (1 << prio) == 0 {
                self.rc_next = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    /// The flow to send from at `now`: due, alive, not paused; earliest due first, then the
    /// lowest index (deterministic).
    fn next_flow(&mut self, now: Instant, paused: u8) -> Option<usize> {
        let mut best: Option<(Instant, usize)> = None;
        for (i, f) in self.flows.iter_mut().enumerate() {
            if !f.alive_at(now.max(f.next_at)) {
                f.done = true;
                continue;
            }
            if f.next_at > now || paused & (1 << f.spec.priority()) != 0 {
                continue;
            }
            if best.is_none_or(|(t, _)| f.next_at < t) {
                best = Some((f.next_at, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// When to call again if nothing arrives: a pause taking effect, or the next frame that
    /// could start (port free, flow due, its priority not paused). `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now;
        let paused = self.rx_pause.paused_priorities(now);
        let ready = |prio: u8, t: Instant| -> Instant {
            let t = t.max(now);
            if paused & (1 << (prio & 7)) == 0 {
                return t;
            }
            match self.rx_pause.tc_resumes_at(usize::from(prio), t) {
                Some(r) => r,
                None => t,
            }
        };
        let mut next: Option<Instant> = self.pending.front().map(|p| p.0);
        let mut work: Option<Instant> = self.raw.front().map(|f| ready(frame_priority(f), now));
        for f in &self.flows {
            let t = ready(f.spec.priority(), f.next_at);
            if f.alive_at(t) {
                work = Some(work.map_or(t, |w| w.min(t)));
            }
        }
        for s in &self.rc_tx {
            if s.next < s.spec.frames && s.next < s.una + u64::from(s.spec.window) {
                let t = ready(s.spec.vlan.map_or(0, |t| t.pcp & 7), s.spec.start);
                work = Some(work.map_or(t, |w| w.min(t)));
            }
            if let Some(t) = s.rto_at() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        if let Some(st) = self.storm.filter(|s| s.next < s.end) {
            let t = st.next.max(now);
            work = Some(work.map_or(t, |w| w.min(t)));
        }
        if let Some(w) = work {
            let w = w.max(self.busy_until);
            next = Some(next.map_or(w, |n| n.min(w)));
        }
        next
    }

    /// Whether the host has nothing left to send and no pause pending.
    pub fn is_idle(&self) -> bool {
        self.poll_timeout().is_none()
    }

    /// Counters.
    pub fn counters(&self) -> HostCounters {
        self.counters
    }

    /// What was sent of flow `id`.
    pub fn flow_tx(&self, id: u32) -> Option<FlowTx> {
        self.flows.iter().find(|f| f.spec.id == id).map(|f| f.tx)
    }

    /// The flows of this host, with what was sent of each.
    pub fn flows(&self) -> impl Iterator<Item = (&FlowSpec, FlowTx)> {
        self.flows.iter().map(|f| (&f.spec, f.tx))
    }

    /// What was received of flow `id`.
    pub fn flow_rx(&self, id: u32) -> Option<FlowRx> {
        self.rx.get(&id).copied()
    }

    /// Everything received, by flow id.
    pub fn received(&self) -> &BTreeMap<u32, FlowRx> {
        &self.rx
    }

    /// Time priority `prio` has been paused (in effect, after the response delay) up to the
    /// latest `now`, picoseconds.
    pub fn paused_ps(&self, prio: u8) -> u64 {
        self.rx_pause.paused_ps(usize::from(prio & 7), self.now)
    }

    /// Priorities paused at the latest `now`.
    pub fn paused_priorities(&self) -> u8 {
        self.rx_pause.paused_priorities(self.now)
    }
}

/// The priority a host gives a frame: its PCP, or 0 untagged.
fn frame_priority(frame: &[u8]) -> u8 {
    L2Header::parse(frame)
        .ok()
        .and_then(|h| h.vlan)
        .map_or(0, |t| t.pcp & 7)
}
