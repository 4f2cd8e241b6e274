//! The RoCE-without-PFC claim, reproduced: RoCE-like reliable traffic (go-back-N) on a
//! priority *without* PFC looks fine while the network is quiet, and collapses — drops,
//! retransmissions, lost goodput — once an incast makes it busy; the same incast with PFC and
//! the computed headroom has zero drops.
//!
//! Three runs on one switch with `senders + 1` hosts, all at one speed, go-back-N connections
//! at line rate to host `1/(senders + 1)`:
//!
//! | case | senders | priority |
//! |---|---|---|
//! | `quiet, no PFC` | 1 | lossy (tail drop at the PG's share) |
//! | `incast, no PFC` | all | lossy |
//! | `incast, PFC` | all | lossless, headroom at the bound |

use std::fmt;

use serde::Serialize;

use super::{run, ModelError};
use crate::plot::{Chart, Line};
use crate::stack::{HostRef, Routing, StackReport, StackSpec, Traffic, Transport};

/// Parameters of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoceConfig {
    /// Incast senders (2..=15).
    pub senders: u8,
    /// Port speed, Gb/s.
    pub speed_gbps: u64,
    /// Frame size, bytes.
    pub frame_size: u32,
    /// Time the senders have data for, ms.
    pub duration_ms: u64,
    /// Buffer share of the priority's PG (lossy: tail-drop limit; lossless: XOFF), bytes.
    pub xoff_bytes: u64,
    /// Seed.
    pub seed: u64,
}

impl Default for RoceConfig {
    /// 8 senders at 25G, 1024-byte frames (a RoCE MTU), 2 ms, 32 KiB share.
    fn default() -> Self {
        RoceConfig {
            senders: 8,
            speed_gbps: 25,
            frame_size: 1024,
            duration_ms: 2,
            xoff_bytes: 32 * 1024,
            seed: 1,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoceRow {
    /// Which run.
    pub case: String,
    /// Senders.
    pub senders: u8,
    /// PFC on the priority.
    pub pfc: bool,
    /// Frames the switch dropped (tail drops and lossless drops).
    pub drops: u64,
    /// Frames the senders retransmitted.
    pub retransmitted: u64,
    /// Frames sent (with retransmissions).
    pub sent: u64,
    /// Frames delivered in order.
    pub delivered: u64,
    /// Goodput at the receiver over the run (first to last delivery), Gb/s.
    pub goodput_gbps: f64,
    /// `delivered / sent`: how much of what crossed the network was useful.
    pub efficiency: f64,
    /// Virtual time until every connection completed, µs (0: not all completed).
    pub completion_us: u64,
}

/// The experiment's result: the table and each run's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoceReport {
    /// The rows.
    pub rows: Vec<RoceRow>,
    /// The full reports (with time series).
    #[serde(skip)]
    pub runs: Vec<StackReport>,
}

fn spec(c: &RoceConfig, senders: u8, pfc: bool) -> StackSpec {
    let rx = HostRef {
        unit: 1,
        port: c.senders + 1,
    };
    StackSpec {
        units: 1,
        hosts_per_unit: c.senders + 1,
        host_speed_gbps: c.speed_gbps,
        stack_speed_gbps: c.speed_gbps,
        frame_size: c.frame_size,
        lossless_priority: pfc.then_some(3),
        xoff_bytes: c.xoff_bytes,
        routing: Routing::Static,
        duration_ms: c.duration_ms,
        drain_ms: 50,
        sample_us: 10,
        seed: c.seed,
        traffic: vec![Traffic::Incast {
            to: rx,
            from: (1..=senders)
                .map(|port| HostRef { unit: 1, port })
                .collect(),
            priority: 3,
            load_percent: 100,
            transport: Transport::GoBackN,
        }],
        ..StackSpec::default()
    }
}

fn row(case: &str, senders: u8, pfc: bool, r: &StackReport) -> RoceRow {
    let delivered_bytes: u64 =
        r.flows.iter().map(|f| f.received).sum::<u64>() * u64::from(r.scenario.frame_size);
    let first = r
        .sample_times_ns
        .iter()
        .zip(&r.delivered)
        .find(|(_, d)| **d > 0)
        .map(|(t, _)| *t);
    let total = r.delivered.last().copied().unwrap_or(0);
    let last = r
        .sample_times_ns
        .iter()
        .zip(&r.delivered)
        .find(|(_, d)| **d == total)
        .map(|(t, _)| *t);
    let span_ns = match (first, last) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 1,
    };
    let complete = r.flows.iter().all(|f| f.received > 0) && r.drained;
    RoceRow {
        case: case.to_string(),
        senders,
        pfc,
        drops: r
            .units
            .iter()
            .map(|u| u.tail_drops + u.lossless_drops)
            .sum(),
        retransmitted: r.totals.retransmitted,
        sent: r.totals.sent,
        delivered: r.totals.received,
        goodput_gbps: delivered_bytes as f64 * 8.0 / span_ns as f64,
        efficiency: if r.totals.sent == 0 {
            0.0
        } else {
            r.totals.received as f64 / r.totals.sent as f64
        },
        completion_us: match last {
            Some(t) if complete => (t as f64 / 1000.0 - r.data_start_ms * 1000.0) as u64,
            _ => 0,
        },
    }
}

/// Runs the three cases.
pub fn run_roce(c: RoceConfig) -> Result<RoceReport, ModelError> {
    let cases = [
        ("quiet, no PFC", 1, false),
        ("incast, no PFC", c.senders, false),
        ("incast, PFC", c.senders, true),
    ];
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for (name, senders, pfc) in cases {
        let r = run(spec(&c, senders, pfc), name)?;
        rows.push(row(name, senders, pfc, &r));
        runs.push(r);
    }
    Ok(RoceReport { rows, runs })
}

impl RoceReport {
    /// Goodput over time of the three runs (Gb/s per 10 µs sample, smoothed over 5 samples).
    pub fn plot(&self) -> String {
        // Up to a little after the last completed run (a collapsed run goes on and on).
        let x_max = self
            .rows
            .iter()
            .map(|r| r.completion_us)
            .max()
            .filter(|t| *t > 0)
            .map_or(f64::INFINITY, |t| t as f64 * 1.25);
        let lines = self
            .rows
            .iter()
            .zip(&self.runs)
            .map(|(row, r)| {
                let bits = f64::from(r.scenario.frame_size) * 8.0;
                let t0 = r.data_start_ms * 1e6;
                let pts: Vec<(f64, f64)> = (5..r.sample_times_ns.len())
                    .map(|i| {
                        let dt = (r.sample_times_ns[i] - r.sample_times_ns[i - 5]) as f64;
                        let df = (r.delivered[i] - r.delivered[i - 5]) as f64;
                        ((r.sample_times_ns[i] as f64 - t0) / 1000.0, df * bits / dt)
                    })
                    .filter(|(x, _)| *x <= x_max)
                    .collect();
                Line {
                    name: row.case.clone(),
                    points: pts,
                    step: false,
                }
            })
            .collect();
        Chart {
            title: "RoCE-like go-back-N goodput at the receiver".into(),
            x_label: "µs since traffic start".into(),
            y_label: "Gb/s".into(),
            lines,
            marks: Vec::new(),
        }
        .to_svg()
    }
}

impl fmt::Display for RoceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| case | senders | PFC | switch drops | retransmitted | sent | delivered | goodput Gb/s | efficiency | all done after µs |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        for r in &self.rows {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.3} | {} |",
                r.case,
                r.senders,
                if r.pfc { "on" } else { "off" },
                r.drops,
                r.retransmitted,
                r.sent,
                r.delivered,
                r.goodput_gbps,
                r.efficiency,
                if r.completion_us == 0 {
                    "—".to_string()
                } else {
                    r.completion_us.to_string()
                }
            )?;
        }
        Ok(())
    }
}
