//! The plots of a stack run, from its report's time series: queue depth, PG occupancy against
//! XOFF / XON / XOFF + headroom, pause on/off per priority, and frames delivered.

use super::report::{PortSeries, StackReport};
use crate::plot::{Chart, Line};

/// Most ports drawn on the queue-depth chart (the deepest ones).
const MAX_PORTS: usize = 6;

fn xs(r: &StackReport) -> impl Iterator<Item = f64> + '_ {
    r.sample_times_ns.iter().map(|t| *t as f64 / 1000.0)
}

fn top_by(r: &StackReport, key: impl Fn(&PortSeries) -> u64) -> Vec<&PortSeries> {
    let mut v: Vec<&PortSeries> = r.series.iter().filter(|s| key(s) > 0).collect();
    // Highest first; the port name breaks ties, so the choice is deterministic.
    v.sort_by(|a, b| key(b).cmp(&key(a)).then(a.port.cmp(&b.port)));
    v
}

/// Every plot of the run as (file name, SVG). Empty without samples.
pub fn plots(r: &StackReport) -> Vec<(String, String)> {
    if r.sample_times_ns.is_empty() {
        return Vec::new();
    }
    let x_label = "virtual time (µs)".to_string();
    let mut out = Vec::new();

    let deepest = top_by(r, |s| {
        s.samples.iter().map(|p| p.depth_bytes).max().unwrap_or(0)
    });
    let depth = Chart {
        title: "Egress queue depth (all classes)".into(),
        x_label: x_label.clone(),
        y_label: "bytes".into(),
        lines: deepest
            .iter()
            .take(MAX_PORTS)
            .map(|s| Line {
                name: s.port.clone(),
                points: xs(r)
                    .zip(s.samples.iter().map(|p| p.depth_bytes as f64))
                    .collect(),
                step: true,
            })
            .collect(),
        marks: Vec::new(),
    };
    out.push(("queue_depth.svg".to_string(), depth.to_svg()));

    if let Some(p) = r.scenario.lossless_priority {
        let fullest = top_by(r, |s| {
            s.samples.iter().map(|p| p.pg_bytes).max().unwrap_or(0)
        });
        let xoff = r.scenario.xoff_bytes as f64;
        let mut marks = vec![("XON".to_string(), xoff / 2.0), ("XOFF".to_string(), xoff)];
        if let Some(s) = fullest.first() {
            let hr = if s.port.contains("/1/") {
                r.headroom.stack
            } else {
                r.headroom.front
            };
            marks.push(("XOFF + headroom".to_string(), xoff + hr as f64));
        }
        let pg = Chart {
            title: format!("Ingress PG occupancy, priority {p}"),
            x_label: x_label.clone(),
            y_label: "bytes".into(),
            lines: fullest
                .iter()
                .take(3)
                .map(|s| Line {
                    name: s.port.clone(),
                    points: xs(r)
                        .zip(s.samples.iter().map(|p| p.pg_bytes as f64))
                        .collect(),
                    step: true,
                })
                .collect(),
            marks,
        };
        out.push(("pg_occupancy.svg".to_string(), pg.to_svg()));
    }

    let most_paused = top_by(r, |s| {
        s.samples.iter().filter(|p| p.paused != 0).count() as u64
    });
    if let Some(s) = most_paused.first() {
        let lines = (0..8u8)
            .filter(|prio| s.samples.iter().any(|p| p.paused & (1 << prio) != 0))
            .map(|prio| Line {
                name: format!("priority {prio}"),
                points: xs(r)
                    .zip(s.samples.iter().map(|p| {
                        f64::from(prio)
                            + if p.paused & (1 << prio) != 0 {
                                0.8
                            } else {
                                0.0
                            }
                    }))
                    .collect(),
                step: true,
            })
            .collect();
        let pause = Chart {
            title: format!("Pause on/off per priority, egress of {}", s.port),
            x_label: x_label.clone(),
            y_label: "priority (raised = paused)".into(),
            lines,
            marks: Vec::new(),
        };
        out.push(("pause.svg".to_string(), pause.to_svg()));
    }

    let delivered = Chart {
        title: "Frames delivered to hosts".into(),
        x_label,
        y_label: "frames (cumulative)".into(),
        lines: vec![Line {
            name: "delivered".into(),
            points: xs(r).zip(r.delivered.iter().map(|d| *d as f64)).collect(),
            step: false,
        }],
        marks: Vec::new(),
    };
    out.push(("delivered.svg".to_string(), delivered.to_svg()));
    out
}
