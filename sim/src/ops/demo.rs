//! `stack-sim demo`: the main job in under a minute, without privileges. A 6-unit ring on UDP
//! cables with a host on every unit and all-to-all traffic; the master's control plane is
//! killed and restarted; then the master unit dies. Each phase's loss is shown, split into
//! the flows that involve the unit hit and the others.

use std::path::{Path, PathBuf};

use crate::scenario::{self, Report, RunOptions, ScenarioError};
use crate::traffic::FlowReport;

/// The demo's scenario.
pub const DEMO_SCENARIO: &str = include_str!("demo.toml");

/// `stack-sim demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Where dataplaned and stackd are [default: next to stack-sim].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Keep the stack's directory (the daemons' logs) in this directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Also write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Sent, lost and the worst gap over some flows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Flows.
    pub flows: usize,
    /// Frames sent.
    pub sent: u64,
    /// Frames lost.
    pub lost: u64,
    /// The longest interruption of any of them, milliseconds.
    pub worst_gap_ms: f64,
}

/// Totals of `flows` of traffic item `item`, split by whether they involve `unit`.
pub fn phase_totals(flows: &[FlowReport], item: &str, unit: u8) -> (Totals, Totals) {
    let mut involved = Totals::default();
    let mut others = Totals::default();
    let prefix = format!("{item}:");
    let on = |h: &str| h.split('/').next() == Some(&unit.to_string());
    for f in flows.iter().filter(|f| f.name.starts_with(&prefix)) {
        let t = if on(&f.from) || on(&f.to) {
            &mut involved
        } else {
            &mut others
        };
        t.flows += 1;
        t.sent += f.sent;
        t.lost += f.lost;
        t.worst_gap_ms = t.worst_gap_ms.max(f.longest_gap_ms);
    }
    (involved, others)
}

fn line(what: &str, t: &Totals) -> String {
    let pct = if t.sent == 0 {
        0.0
    } else {
        t.lost as f64 * 100.0 / t.sent as f64
    };
    format!(
        "    {what:<34} {:>3} flows  sent {:>6}  lost {:>6} ({pct:5.2}%)  longest gap {:>6.1} ms",
        t.flows, t.sent, t.lost, t.worst_gap_ms
    )
}

/// The step's event: the unit it hit and the expectation after it.
fn phase(report: &Report, kill_line: usize) -> (u8, Option<f64>) {
    let unit = report
        .events
        .iter()
        .find(|e| e.line == kill_line)
        .and_then(|e| e.unit)
        .unwrap_or(0);
    let took = report
        .events
        .iter()
        .filter(|e| e.line > kill_line)
        .find_map(|e| e.took_ms);
    (unit, took)
}

/// The line of the first step whose action starts with `what`.
fn step_line(sc: &scenario::Scenario, what: fn(&scenario::Action) -> bool) -> usize {
    sc.steps
        .iter()
        .find(|s| what(&s.action))
        .map_or(0, |s| s.line)
}

/// Runs the demo and prints it; its report.
pub fn demo(args: &DemoArgs) -> Result<Report, ScenarioError> {
    let sc = scenario::parse(Path::new("demo.toml"), DEMO_SCENARIO)?;
    println!(
        "stack-sim demo: a 6-unit ring of real processes (a dataplaned and a stackd per unit) on UDP cables,\n\
         a host on every unit, all-to-all traffic at 250 frames/s per flow.\n"
    );
    let opts = RunOptions {
        dir: args.keep.clone(),
        bin_dir: super::daemon_dir(args.bin_dir.as_deref()),
        keep: args.keep.is_some(),
        narrate: true,
        log_filter: "info".into(),
        show_tables: true,
        backend: None,
    };
    let report = scenario::run(&sc, Path::new("demo.toml"), &opts)?;
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).map_err(|e| ScenarioError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(path, json).map_err(|source| ScenarioError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let kill_cp = step_line(&sc, |a| {
        matches!(a, scenario::Action::Kill(scenario::Target::Stackd, _))
    });
    let kill_unit = step_line(&sc, |a| {
        matches!(a, scenario::Action::Kill(scenario::Target::Unit, _))
    });
    let (cp_unit, back) = phase(&report, kill_cp);
    let (dead_unit, failover) = phase(&report, kill_unit);
    let ms = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{t:.0} ms"));

    println!(
        "\n1. The master's control plane: stackd of unit {cp_unit} killed (SIGKILL), started again 300 ms later."
    );
    println!(
        "   Its dataplane kept forwarding; its peers kept it as master (grace period) and the restarted\n   stackd resumed from its checkpoint: no election. The stack had converged again {} after the\n   restart, with unit {} still master.",
        ms(back),
        cp_unit
    );
    let (inv, oth) = phase_totals(&report.flows, "control-plane-restart", cp_unit);
    println!(
        "{}",
        line(&format!("to or from unit {cp_unit}'s host:"), &inv)
    );
    println!("{}", line("between the other units:", &oth));

    println!("\n2. The master unit: both daemons of unit {dead_unit} killed (SIGKILL).");
    println!(
        "   The survivors agreed on a new master {} after the kill (detection: 3 missed 10 ms\n   hellos; the management API is polled every 20 ms).",
        ms(failover)
    );
    let (inv, oth) = phase_totals(&report.flows, "unit-failure", dead_unit);
    println!(
        "{}",
        line(&format!("to or from unit {dead_unit}'s host (gone):"), &inv)
    );
    println!(
        "{}",
        line(
            &format!("between the survivors (some via {dead_unit}):"),
            &oth
        )
    );
    println!(
        "\nThe whole run took {:.1} s; every process has been stopped.{}",
        report.duration_ms / 1000.0,
        if report.passed {
            String::new()
        } else {
            format!(
                "\nNot as expected: {}",
                report
                    .assertions
                    .iter()
                    .filter(|a| !a.passed)
                    .map(|a| format!("{} ({})", a.what, a.detail))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );
    Ok(report)
}
