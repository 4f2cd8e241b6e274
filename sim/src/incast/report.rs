//! What an incast run reports: per flow, per switch port and queue, the headroom, totals and a
//! verdict; as serde-serializable data (for `--json`) and as a short human table (`Display`).

use core::fmt;

use dataplane::PortIndex;
use serde::Serialize;

use super::Incast;

/// One flow, seen from both ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowReport {
    /// Flow id (= sender number).
    pub flow: u32,
    /// The sending host.
    pub sender: String,
    /// Frames the sender put on the wire.
    pub sent: u64,
    /// Frames the receiver got.
    pub received: u64,
    /// `sent − received`.
    pub lost: u64,
    /// Frames that arrived after a later one.
    pub reordered: u64,
    /// Longest time between two consecutive frames at the receiver, ns.
    pub max_gap_ns: u64,
    /// PFC frames the sender received.
    pub pfc_rx: u64,
    /// Time the sender's flow priority was paused, ns.
    pub paused_ns: u64,
}

/// One egress queue of a switch port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QueueReport {
    /// Traffic class.
    pub tc: u8,
    /// Frames admitted.
    pub enqueued: u64,
    /// Frames transmitted.
    pub transmitted: u64,
    /// Frames refused by the buffer.
    pub dropped: u64,
    /// Highest depth, bytes.
    pub watermark_bytes: u64,
}

/// One switch port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortReport {
    /// `unit/slot/port`.
    pub port: String,
    /// `sender k` or `receiver`.
    pub role: String,
    /// Frames received.
    pub rx_frames: u64,
    /// Frames transmitted (data and PFC).
    pub tx_frames: u64,
    /// PFC frames sent for the scenario's priority (XOFF, refreshes and XON).
    pub pfc_tx: u64,
    /// Times the priority's PG went into XOFF.
    pub xoff_events: u64,
    /// Highest shared-pool occupancy of the priority's PG, bytes.
    pub pg_shared_watermark: u64,
    /// Highest headroom occupancy of the priority's PG, bytes.
    pub pg_headroom_watermark: u64,
    /// Frames the PG refused because its headroom overflowed (lossless drops).
    pub pg_headroom_drops: u64,
    /// Frames the PG tail-dropped (lossy).
    pub pg_tail_drops: u64,
    /// Egress queues that saw traffic.
    pub queues: Vec<QueueReport>,
}

/// The headroom of the lossless PGs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HeadroomReport {
    /// The bound for the link (`dataplane::headroom::minimum_headroom`), bytes.
    pub bound_bytes: u64,
    /// The margin asked for.
    pub margin_bytes: i64,
    /// What the PGs were given (bound + margin), bytes.
    pub configured_bytes: u64,
    /// XOFF threshold and static shared limit of the PG, bytes.
    pub xoff_bytes: u64,
    /// XON threshold, bytes.
    pub xon_bytes: u64,
    /// Senders' response time, quanta.
    pub response_quanta: u16,
}

/// Sums over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Frames sent by all senders.
    pub sent: u64,
    /// Frames received of all flows.
    pub received: u64,
    /// `sent − received`.
    pub lost: u64,
    /// Frames the switch's buffer refused, all ports and queues.
    pub switch_drops: u64,
    /// Of those, drops of a lossless PG (headroom overflow).
    pub lossless_drops: u64,
    /// `LosslessDrop` alarms the engine raised.
    pub lossless_drop_events: u64,
    /// PFC frames the switch sent, all ports.
    pub pfc_frames: u64,
}

/// The whole report of an incast run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncastReport {
    /// Senders.
    pub senders: u32,
    /// Line rate, bits per second.
    pub speed_bps: u64,
    /// Cable length, metres.
    pub cable_m: u32,
    /// Frame size, bytes.
    pub frame_size: u32,
    /// Sending time, ns.
    pub duration_ns: u64,
    /// Whether the priority was lossless.
    pub lossless: bool,
    /// The flows' priority.
    pub priority: u8,
    /// The seed.
    pub seed: u64,
    /// Headroom and thresholds.
    pub headroom: HeadroomReport,
    /// Per flow.
    pub flows: Vec<FlowReport>,
    /// Per switch port.
    pub ports: Vec<PortReport>,
    /// Sums.
    pub totals: Totals,
    /// Whether the network emptied before the drain deadline.
    pub drained: bool,
    /// Virtual time at the end, ns.
    pub end_ns: u64,
    /// Events run.
    pub events: u64,
    /// Frames delivered over links.
    pub deliveries: u64,
    /// Frames put on a wire faster than line rate (must be 0).
    pub tx_overruns: u64,
    /// Fingerprint of every delivery (FNV-1a), hex.
    pub trace_hash: String,
}

impl IncastReport {
    /// The one-line verdict.
    pub fn verdict(&self) -> String {
        let t = &self.totals;
        if self.lossless {
            if t.switch_drops == 0 && t.lost == 0 {
                format!("lossless: 0 drops, {} PFC frames", t.pfc_frames)
            } else {
                format!(
                    "lossless priority DROPPED: {} frames dropped ({} headroom overflows), {} lost, {} PFC frames",
                    t.switch_drops, t.lossless_drops, t.lost, t.pfc_frames
                )
            }
        } else {
            format!("lossy: {} frames dropped", t.switch_drops)
        }
    }
}

pub(super) fn build(inc: &Incast, drained: bool, lossless_drop_events: u64) -> IncastReport {
    let cfg = &inc.config;
    let w = &inc.world;
    let prio = cfg.priority;
    let rx = w.host(inc.receiver);
    let mut flows = Vec::new();
    for (k, id) in inc.senders.iter().enumerate() {
        let Some(h) = w.host(*id) else { continue };
        for (spec, tx) in h.flows() {
            let r = rx.and_then(|r| r.flow_rx(spec.id)).unwrap_or_default();
            flows.push(FlowReport {
                flow: spec.id,
                sender: format!("sender{}", k + 1),
                sent: tx.frames,
                received: r.frames,
                lost: tx.frames.saturating_sub(r.frames),
                reordered: r.reordered,
                max_gap_ns: r.max_gap_ps / 1000,
                pfc_rx: h.counters().pfc_rx,
                paused_ns: h.paused_ps(spec.priority()) / 1000,
            });
        }
    }
    let mut ports = Vec::new();
    let (mut switch_drops, mut lossless_drops, mut pfc_frames) = (0, 0, 0);
    if let Some(e) = w.switch(inc.switch) {
        for i in 0..e.num_ports() {
            let p = PortIndex(i as u16);
            let Some(cfg_p) = e.port_config(p) else {
                continue;
            };
            let pg = usize::from(cfg_p.priority_to_pg[usize::from(prio)]);
            let c = e.port_counters(p).unwrap_or_default();
            let g = e.pg_counters(p, pg).unwrap_or_default();
            let mut queues = Vec::new();
            for tc in 0..8u8 {
                let Some(q) = e.queue_counters(p, usize::from(tc)) else {
                    continue;
                };
                switch_drops += q.dropped_frames;
                if q.enqueued_frames + q.dropped_frames > 0 {
                    queues.push(QueueReport {
                        tc,
                        enqueued: q.enqueued_frames,
                        transmitted: q.tx_frames,
                        dropped: q.dropped_frames,
                        watermark_bytes: q.watermark_bytes,
                    });
                }
            }
            let pfc_tx = c.pfc_tx[usize::from(prio)];
            pfc_frames += pfc_tx;
            lossless_drops += g.headroom_drop_frames;
            ports.push(PortReport {
                port: e.port_name(p),
                role: if i < inc.senders.len() {
                    format!("sender{}", i + 1)
                } else {
                    "receiver".into()
                },
                rx_frames: c.rx_frames,
                tx_frames: c.tx_frames,
                pfc_tx,
                xoff_events: g.xoff_events,
                pg_shared_watermark: g.shared_watermark,
                pg_headroom_watermark: g.headroom_watermark,
                pg_headroom_drops: g.headroom_drop_frames,
                pg_tail_drops: g.tail_drop_frames,
                queues,
            });
        }
    }
    let sent = flows.iter().map(|f| f.sent).sum();
    let received = flows.iter().map(|f| f.received).sum();
    let stats = w.stats();
    IncastReport {
        senders: cfg.senders,
        speed_bps: cfg.speed_bps,
        cable_m: cfg.cable_m,
        frame_size: cfg.frame_size,
        duration_ns: cfg.duration.as_nanos() as u64,
        lossless: cfg.lossless,
        priority: prio,
        seed: cfg.seed,
        headroom: HeadroomReport {
            bound_bytes: inc.bound.total,
            margin_bytes: cfg.headroom_margin_bytes,
            configured_bytes: inc.headroom,
            xoff_bytes: cfg.xoff_bytes,
            xon_bytes: cfg.xoff_bytes / 2,
            response_quanta: cfg.effective_response_quanta(),
        },
        flows,
        ports,
        totals: Totals {
            sent,
            received,
            lost: sent.saturating_sub(received),
            switch_drops,
            lossless_drops,
            lossless_drop_events,
            pfc_frames,
        },
        drained,
        end_ns: w.now().as_nanos(),
        events: stats.events,
        deliveries: stats.deliveries,
        tx_overruns: stats.tx_overruns,
        trace_hash: format!("{:016x}", w.trace().value()),
    }
}

impl fmt::Display for IncastReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gbps = self.speed_bps as f64 / 1e9;
        writeln!(
            f,
            "incast: {} sender(s) -> 1 receiver, {gbps}G, {} m cables, {}-byte frames, priority {} {}, {} us of traffic",
            self.senders,
            self.cable_m,
            self.frame_size,
            self.priority,
            if self.lossless { "lossless (PFC)" } else { "lossy" },
            self.duration_ns / 1000
        )?;
        let h = &self.headroom;
        if self.lossless {
            writeln!(
                f,
                "headroom: bound {} B {:+} B margin = {} B configured; XOFF {} B, XON {} B, sender response {} quanta",
                h.bound_bytes, h.margin_bytes, h.configured_bytes, h.xoff_bytes, h.xon_bytes, h.response_quanta
            )?;
        } else {
            writeln!(f, "shared limit per PG: {} B (tail drop)", h.xoff_bytes)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<5} {:<9} {:>9} {:>9} {:>7} {:>9} {:>11} {:>7} {:>11}",
            "flow",
            "sender",
            "sent",
            "received",
            "lost",
            "reordered",
            "max gap ns",
            "PFC rx",
            "paused ns"
        )?;
        for r in &self.flows {
            writeln!(
                f,
                "{:<5} {:<9} {:>9} {:>9} {:>7} {:>9} {:>11} {:>7} {:>11}",
                r.flow,
                r.sender,
                r.sent,
                r.received,
                r.lost,
                r.reordered,
                r.max_gap_ns,
                r.pfc_rx,
                r.paused_ns
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<7} {:<9} {:>9} {:>9} {:>6} {:>10} {:>17} {:>4} {:>11} {:>6}",
            "port",
            "role",
            "rx",
            "tx",
            "PFC tx",
            "PG shr wm",
            "PG hdrm wm/hdrm",
            "tc",
            "queue wm",
            "drops"
        )?;
        for p in &self.ports {
            let q = p.queues.iter().find(|q| q.tc == self.priority);
            let hdrm = if self.lossless {
                format!("{}/{}", p.pg_headroom_watermark, h.configured_bytes)
            } else {
                "-".into()
            };
            let (tc, wm, drops) = match q {
                Some(q) => (q.tc.to_string(), q.watermark_bytes, q.dropped),
                None => ("-".into(), 0, 0),
            };
            writeln!(
                f,
                "{:<7} {:<9} {:>9} {:>9} {:>6} {:>10} {:>17} {:>4} {:>11} {:>6}",
                p.port,
                p.role,
                p.rx_frames,
                p.tx_frames,
                p.pfc_tx,
                p.pg_shared_watermark,
                hdrm,
                tc,
                wm,
                drops
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "totals: sent {}, received {}, lost {}, switch drops {}",
            self.totals.sent, self.totals.received, self.totals.lost, self.totals.switch_drops
        )?;
        writeln!(
            f,
            "run: {} events, {} deliveries, ended at {} ns, {}; trace {}",
            self.events,
            self.deliveries,
            self.end_ns,
            if self.drained {
                "drained"
            } else {
                "NOT drained"
            },
            self.trace_hash
        )?;
        write!(f, "verdict: {}", self.verdict())
    }
}
