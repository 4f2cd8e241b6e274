//! A scenario's report: what happened when, every flow's figures, and each assertion's
//! verdict; printed as a summary and written as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Assert, MasterRef};
use crate::traffic::{flow_table, FlowReport, HostPfc};

/// Something that happened on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the timeline began.
    pub at_ms: f64,
    /// The step's line in the scenario file (0: not a step).
    pub line: usize,
    /// What happened.
    pub what: String,
    /// The unit a fault hit, if any (as launched).
    pub unit: Option<u8>,
    /// For an `expect` step that held: how long it waited, milliseconds.
    pub took_ms: Option<f64>,
}

/// One assertion's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssertionResult {
    /// What was asserted.
    pub what: String,
    /// Whether it held.
    pub passed: bool,
    /// The figures behind the verdict.
    pub detail: String,
}

/// The report of a scenario run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Its file.
    pub file: String,
    /// Its seed.
    pub seed: u64,
    /// Every assertion held and every step ran.
    pub passed: bool,
    /// Units launched.
    pub units: u8,
    /// How long the stack took to converge after its processes started, milliseconds.
    pub initial_convergence_ms: f64,
    /// The master (unit as launched) when the timeline began.
    pub initial_master: u8,
    /// The standby then.
    pub initial_standby: u8,
    /// The master at the end (0: none agreed).
    pub final_master: u8,
    /// The timeline, milliseconds since it began.
    pub events: Vec<Event>,
    /// Every flow.
    pub flows: Vec<FlowReport>,
    /// PFC received by hosts.
    pub pfc: Vec<HostPfc>,
    /// What the watch for a second master saw (when a `max_masters` assertion asked for it).
    pub master_watch: Option<super::MasterWatch>,
    /// Every assertion (the `expect` steps' first, then the final ones).
    pub assertions: Vec<AssertionResult>,
    /// The whole run, milliseconds.
    pub duration_ms: f64,
}

impl Report {
    /// The master a [`MasterRef`] means in this run.
    pub fn resolve(&self, m: MasterRef) -> u8 {
        match m {
            MasterRef::Number(u) => u,
            MasterRef::InitialMaster => self.initial_master,
            MasterRef::InitialStandby => self.initial_standby,
        }
    }

    /// Checks the final assertions and records their verdicts.
    pub fn check(&mut self, asserts: &[Assert]) {
        for a in asserts {
            match a {
                Assert::Master(m) => {
                    let want = self.resolve(*m);
                    self.assertions.push(AssertionResult {
                        what: format!("master is unit {want} ({m:?})"),
                        passed: self.final_master == want,
                        detail: format!("master at the end: unit {}", self.final_master),
                    });
                }
                Assert::MaxMasters(n) => {
                    let w = self.master_watch.clone().unwrap_or_default();
                    self.assertions.push(AssertionResult {
                        what: format!("never more than {n} master(s) at once"),
                        passed: w.sweeps > 0 && w.max_masters <= *n,
                        detail: if w.max_masters > 1 {
                            format!(
                                "{} sweeps of every unit; {} said master at {:.0} ms: units {:?}",
                                w.sweeps, w.max_masters, w.max_at_ms, w.max_units
                            )
                        } else {
                            format!(
                                "{} sweeps of every unit; at most {} said master",
                                w.sweeps, w.max_masters
                            )
                        },
                    });
                }
                Assert::MasterNot(m) => {
                    let not = self.resolve(*m);
                    self.assertions.push(AssertionResult {
                        what: format!("master is not unit {not} ({m:?})"),
                        passed: self.final_master != not && self.final_master != 0,
                        detail: format!("master at the end: unit {}", self.final_master),
                    });
                }
                Assert::Flow {
                    flow,
                    max_lost,
                    max_lost_pct,
                    max_gap_ms,
                    max_reordered,
                    min_received,
                    min_sender_pfc_frames,
                    any,
                } => {
                    let flows: Vec<&FlowReport> = self
                        .flows
                        .iter()
                        .filter(|f| {
                            flow == "*"
                                || &f.name == flow
                                || f.name.starts_with(&format!("{flow}:"))
                        })
                        .collect();
                    if flows.is_empty() {
                        self.assertions.push(AssertionResult {
                            what: format!("flow {flow}"),
                            passed: false,
                            detail: "no such flow ran".into(),
                        });
                    }
                    let mut per_flow: Vec<(String, Vec<AssertionResult>)> = Vec::new();
                    for f in flows {
                        let mut results = Vec::new();
                        let pct = if f.sent == 0 {
                            0.0
                        } else {
                            f.lost as f64 * 100.0 / f.sent as f64
                        };
                        let pfc = self
                            .pfc
                            .iter()
                            .find(|p| p.host == f.from)
                            .map_or(0, |p| p.pfc_frames);
                        let mut push = |what: String, passed: bool, detail: String| {
                            results.push(AssertionResult {
                                what: format!("flow {}: {what}", f.name),
                                passed,
                                detail,
                            });
                        };
                        if let Some(m) = max_lost {
                            push(
                                format!("lost ≤ {m}"),
                                f.lost <= *m,
                                format!("lost {} of {}", f.lost, f.sent),
                            );
                        }
                        if let Some(m) = max_lost_pct {
                            push(format!("lost ≤ {m}%"), pct <= *m, format!("lost {pct:.3}%"));
                        }
                        if let Some(m) = max_gap_ms {
                            push(
                                format!("longest gap ≤ {m} ms"),
                                f.longest_gap_ms <= *m,
                                format!("longest gap {:.1} ms", f.longest_gap_ms),
                            );
                        }
                        if let Some(m) = max_reordered {
                            push(
                                format!("reordered ≤ {m}"),
                                f.reordered <= *m,
                                format!("reordered {}", f.reordered),
                            );
                        }
                        if let Some(m) = min_received {
                            push(
                                format!("received ≥ {m}"),
                                f.received >= *m,
                                format!("received {}", f.received),
                            );
                        }
                        if let Some(m) = min_sender_pfc_frames {
                            push(
                                format!("sender {} got ≥ {m} PFC frames", f.from),
                                pfc >= *m,
                                format!("PFC frames {pfc}"),
                            );
                        }
                        per_flow.push((f.name.clone(), results));
                    }
                    if *any {
                        // One verdict: some flow (a path of a multi-NIC host) met every limit.
                        let held: Vec<&str> = per_flow
                            .iter()
                            .filter(|(_, r)| r.iter().all(|a| a.passed))
                            .map(|(n, _)| n.as_str())
                            .collect();
                        let failed: Vec<String> = per_flow
                            .iter()
                            .flat_map(|(_, r)| r.iter().filter(|a| !a.passed))
                            .map(|a| format!("{} ({})", a.what, a.detail))
                            .collect();
                        self.assertions.push(AssertionResult {
                            what: format!("flow {flow}: some flow within its limits"),
                            passed: !held.is_empty(),
                            detail: format!(
                                "held for [{}]; not for [{}]",
                                held.join(", "),
                                failed.join("; ")
                            ),
                        });
                    } else {
                        self.assertions
                            .extend(per_flow.into_iter().flat_map(|(_, r)| r));
                    }
                }
            }
        }
        self.passed = self.assertions.iter().all(|a| a.passed);
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {} ({}): {} units, converged in {:.0} ms; master unit {}, standby unit {}",
            self.scenario,
            self.file,
            self.units,
            self.initial_convergence_ms,
            self.initial_master,
            self.initial_standby
        );
        let _ = writeln!(out, "\ntimeline:");
        for e in &self.events {
            let _ = writeln!(out, "  {:>8.1} ms  {}", e.at_ms, e.what);
        }
        if !self.flows.is_empty() {
            let _ = writeln!(out, "\nflows:");
            out.push_str(&flow_table(&self.flows));
        }
        if !self.pfc.is_empty() {
            let _ = writeln!(out, "\nPFC received by hosts:");
            for p in &self.pfc {
                let _ = writeln!(
                    out,
                    "  host {}: {} frames, paused {:.1} ms",
                    p.host, p.pfc_frames, p.paused_ms
                );
            }
        }
        let _ = writeln!(out, "\nassertions:");
        for a in &self.assertions {
            let _ = writeln!(
                out,
                "  {} {} — {}",
                if a.passed { "PASS" } else { "FAIL" },
                a.what,
                a.detail
            );
        }
        let failed = self.assertions.iter().filter(|a| !a.passed).count();
        let _ = writeln!(
            out,
            "\n{}: {} of {} assertions held; master at the end: unit {}; {:.1} s",
            if self.passed { "PASSED" } else { "FAILED" },
            self.assertions.len() - failed,
            self.assertions.len(),
            self.final_master,
            self.duration_ms / 1000.0
        );
        out
    }
}
