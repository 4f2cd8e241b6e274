//! Running a scenario: launch the stack with a relay on every stack link, wait for it to
//! converge, attach the hosts, play the timeline, drain, report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proto::stack::v1 as pb;

use super::report::{AssertionResult, Event, Report};
use super::watch::Watcher;
use super::{
    Action, Assert, Expect, LinkRef, MasterRef, Scenario, ScenarioError, Step, Target, UnitRef,
};
use crate::launch::mgmt::Mgmt;
use crate::launch::{Impairment, LaunchError, LaunchSpec, Stack};
use crate::ops::{stack_table, unit_mac, unit_views, wait_converged};
use crate::rng::SplitMix64;
use crate::traffic::{expand, Traffic};

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The stack's directory (default: a fresh one under the temp dir, removed afterwards).
    pub dir: Option<PathBuf>,
    /// Where the daemons' binaries are.
    pub bin_dir: PathBuf,
    /// Keep the directory (logs) afterwards.
    pub keep: bool,
    /// Print each event as it happens (on stderr).
    pub narrate: bool,
    /// `RUST_LOG` of the daemons.
    pub log_filter: String,
    /// Print the stack table (stdout) once converged and at the end.
    pub show_tables: bool,
    /// How hosts are attached, overriding the scenario's `[stack] backend`.
    pub backend: Option<crate::launch::Backend>,
}

/// Polling interval of the management API while waiting for a condition.
const POLL: Duration = Duration::from_millis(20);

struct Runner<'a> {
    sc: &'a Scenario,
    stack: Stack,
    mgmt: Mgmt,
    traffic: Traffic,
    t0: Instant,
    report: Report,
    started: Vec<String>,
    narrate: bool,
    /// Draws the `random` units (seeded by the scenario's seed).
    rng: SplitMix64,
}

/// The launched unit whose base MAC is `mac`, if any.
fn launched_unit(mac: u64) -> u8 {
    (1..=6).find(|u| unit_mac(*u) == mac).unwrap_or(0)
}

impl Runner<'_> {
    fn ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1e3
    }

    fn event(&mut self, line: usize, what: String) {
        self.event_on(line, what, None);
    }

    fn event_on(&mut self, line: usize, what: String, unit: Option<u8>) {
        let at_ms = self.ms();
        if self.narrate {
            eprintln!("  {at_ms:>8.1} ms  {what}");
        }
        tracing::info!(at_ms, line, "{what}");
        self.report.events.push(Event {
            at_ms,
            line,
            what,
            unit,
            took_ms: None,
        });
    }

    fn fail(&mut self, line: usize, what: String, detail: String) {
        self.event(line, format!("FAILED: {what}: {detail}"));
        self.report.assertions.push(AssertionResult {
            what: format!("line {line}: {what}"),
            passed: false,
            detail,
        });
    }

    /// `show switch` of every unit whose stackd runs, by launched unit.
    fn views(&mut self) -> BTreeMap<u8, pb::ShowSwitchResponse> {
        let mut out = BTreeMap::new();
        for u in &mut self.stack.units {
            if u.stackd.running() {
                if let Ok(v) = self.mgmt.show_switch(&u.stackd_socket) {
                    out.insert(u.number, v);
                }
            }
        }
        out
    }

    /// The master most units follow, and the standby in its table (launched numbers).
    fn roles(views: &BTreeMap<u8, pb::ShowSwitchResponse>) -> (u8, u8) {
        let mut count: BTreeMap<u64, usize> = BTreeMap::new();
        for v in views.values().filter(|v| v.master_mac != 0) {
            *count.entry(v.master_mac).or_default() += 1;
        }
        let Some((&mac, _)) = count.iter().max_by_key(|(_, n)| **n) else {
            return (0, 0);
        };
        let standby = views
            .values()
            .filter(|v| v.master_mac == mac)
            .flat_map(|v| v.members.iter())
            .find(|m| m.role == pb::Role::Standby as i32)
            .map_or(0, |m| launched_unit(m.mac));
        (launched_unit(mac), standby)
    }

    fn unit(&mut self, r: UnitRef) -> Result<u8, String> {
        match r {
            UnitRef::Number(u) => Ok(u),
            UnitRef::InitialMaster => Ok(self.report.initial_master),
            UnitRef::InitialStandby => Ok(self.report.initial_standby),
            UnitRef::Random => Ok(1 + self.rng.below(u64::from(self.sc.stack.units)) as u8),
            UnitRef::Master | UnitRef::Standby => {
                let views = self.views();
                let (m, s) = Self::roles(&views);
                let u = if r == UnitRef::Master { m } else { s };
                if u == 0 {
                    Err(format!("no {r:?} right now").to_lowercase())
                } else {
                    Ok(u)
                }
            }
        }
    }

    fn master_ref(&self, m: MasterRef) -> u8 {
        self.report.resolve(m)
    }

    fn daemons(&mut self, t: Target, unit: u8, kill: bool, start: bool) -> Result<(), LaunchError> {
        let u = self.stack.unit(unit)?;
        if kill {
            if matches!(t, Target::Stackd | Target::Unit) {
                u.stackd.kill();
            }
            if matches!(t, Target::Dataplaned | Target::Unit) {
                u.dataplaned.kill();
            }
        }
        if start {
            if matches!(t, Target::Dataplaned | Target::Unit) {
                u.dataplaned.start()?;
                u.dataplaned.wait_serving(Duration::from_secs(10))?;
            }
            if matches!(t, Target::Stackd | Target::Unit) {
                u.stackd.start()?;
                u.stackd.wait_serving(Duration::from_secs(10))?;
            }
        }
        self.stack.write_pids()
    }

    fn impair(&mut self, link: LinkRef, imp: Impairment) -> Result<String, LaunchError> {
        let relays = self.stack.relays_between(link.a, link.b, link.index)?;
        let names: Vec<String> = relays.iter().map(|r| r.name().to_string()).collect();
        for r in relays {
            r.set(imp);
        }
        Ok(names.join(", "))
    }

    fn expect(&mut self, line: usize, e: &Expect) {
        let start = Instant::now();
        let mut detail;
        loop {
            let views = self.views();
            let (master, _) = Self::roles(&views);
            let mut unmet = Vec::new();
            if let Some(units) = &e.converged {
                let set: Vec<u8> = if units.is_empty() {
                    let mut live = Vec::new();
                    for u in &mut self.stack.units {
                        if u.stackd.running() {
                            live.push(u.number);
                        }
                    }
                    live
                } else {
                    units.clone()
                };
                let ok = set.iter().all(|u| {
                    views.get(u).is_some_and(|v| {
                        v.active && v.master_mac != 0 && v.members.len() == set.len()
                    })
                }) && set
                    .iter()
                    .filter_map(|u| views.get(u).map(|v| v.master_mac))
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
                    == 1;
                if !ok {
                    unmet.push(format!("units {set:?} converged"));
                }
            }
            if let Some(m) = e.master {
                let want = self.master_ref(m);
                if master != want {
                    unmet.push(format!("master unit {want} (now {master})"));
                }
            }
            if let Some(m) = e.master_not {
                let not = self.master_ref(m);
                if master == not || master == 0 {
                    unmet.push(format!("master not unit {not} (now {master})"));
                }
            }
            for u in &e.held {
                if views.get(u).is_none_or(|v| v.active) {
                    unmet.push(format!("unit {u} held"));
                }
            }
            detail = unmet.join(", ");
            let took = start.elapsed();
            if unmet.is_empty() {
                let ms = took.as_secs_f64() * 1e3;
                let what = format!(
                    "expect {}: held after {ms:.0} ms (master unit {master})",
                    describe(e)
                );
                self.event(line, what.clone());
                if let Some(e) = self.report.events.last_mut() {
                    e.took_ms = Some(ms);
                }
                let within = e.max_ms.is_none_or(|m| ms <= m as f64);
                self.report.assertions.push(AssertionResult {
                    what: format!("line {line}: {}", describe(e)),
                    passed: within,
                    detail: match e.max_ms {
                        Some(m) => format!("took {ms:.0} ms (limit {m} ms)"),
                        None => format!("took {ms:.0} ms"),
                    },
                });
                return;
            }
            if took >= Duration::from_millis(e.timeout_ms) {
                break;
            }
            std::thread::sleep(POLL);
        }
        self.fail(
            line,
            describe(e),
            format!("not within {} ms: missing {detail}", e.timeout_ms),
        );
    }

    fn step(&mut self, step: &Step) {
        let (line, action) = (step.line, &step.action);
        let mut unit = None;
        let result: Result<String, String> = match action {
            Action::Wait { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(format!("waited {ms} ms"))
            }
            Action::Kill(t, u) | Action::Start(t, u) | Action::Restart(t, u) => {
                let (kill, start, verb) = match action {
                    Action::Kill(..) => (true, false, "killed (SIGKILL)"),
                    Action::Start(..) => (false, true, "started"),
                    _ => (true, true, "restarted (SIGKILL, start)"),
                };
                match self.unit(*u) {
                    Ok(n) => {
                        unit = Some(n);
                        let mut r = self.daemons(*t, n, kill, false);
                        if start && r.is_ok() {
                            if step.down_ms > 0 {
                                std::thread::sleep(Duration::from_millis(step.down_ms));
                            }
                            r = self.daemons(*t, n, false, true);
                        }
                        r.map(|()| format!("{verb} {} of unit {n}", target_name(*t)))
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e),
                }
            }
            Action::CutLink(l) => self
                .impair(
                    *l,
                    Impairment {
                        cut: true,
                        ..Impairment::default()
                    },
                )
                .map(|n| format!("cut stack link {n}"))
                .map_err(|e| e.to_string()),
            Action::RestoreLink(l) => self
                .impair(*l, Impairment::default())
                .map(|n| format!("restored stack link {n}"))
                .map_err(|e| e.to_string()),
            Action::DegradeLink {
                link,
                loss,
                delay_ms,
            } => self
                .impair(
                    *link,
                    Impairment {
                        cut: false,
                        loss: *loss,
                        delay: Duration::from_millis(*delay_ms),
                    },
                )
                .map(|n| format!("degraded stack link {n}: loss {loss}, delay {delay_ms} ms"))
                .map_err(|e| e.to_string()),
            Action::FlapLink {
                link,
                down_ms,
                up_ms,
                count,
            } => {
                let mut r = Ok(String::new());
                for i in 1..=*count {
                    let cut = Impairment {
                        cut: true,
                        ..Impairment::default()
                    };
                    r = r.and(self.impair(*link, cut));
                    if let Ok(n) = &r {
                        self.event(line, format!("flap {i}/{count}: cut stack link {n}"));
                    }
                    std::thread::sleep(Duration::from_millis(*down_ms));
                    r = r.and(self.impair(*link, Impairment::default()));
                    if let Ok(n) = &r {
                        self.event(line, format!("flap {i}/{count}: restored stack link {n}"));
                    }
                    std::thread::sleep(Duration::from_millis(*up_ms));
                }
                r.map(|n| {
                    format!(
                        "flapped stack link {n} {count} times ({down_ms} ms down, {up_ms} ms up)"
                    )
                })
                .map_err(|e| e.to_string())
            }
            Action::StartTraffic(names) => {
                let items: Vec<_> = self
                    .sc
                    .traffic
                    .iter()
                    .filter(|t| {
                        if names.is_empty() {
                            !self.started.contains(&t.name)
                        } else {
                            names.contains(&t.name)
                        }
                    })
                    .collect();
                let flows: Vec<_> = items
                    .iter()
                    .flat_map(|t| expand(&t.name, &t.pattern, t.rate_fps, t.frame_size, t.priority))
                    .collect();
                let started: Vec<String> = items.iter().map(|t| t.name.clone()).collect();
                let n = flows.len();
                match self.traffic.start(&flows) {
                    Ok(()) => {
                        self.started.extend(started.iter().cloned());
                        Ok(format!(
                            "started traffic {} ({n} flows)",
                            started.join(", ")
                        ))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Action::StopTraffic(names) => {
                let flows: Vec<String> = self
                    .traffic
                    .flows()
                    .into_iter()
                    .filter(|f| {
                        names.is_empty()
                            || names
                                .iter()
                                .any(|n| &f.name == n || f.name.starts_with(&format!("{n}:")))
                    })
                    .map(|f| f.name)
                    .collect();
                self.traffic.stop(&flows);
                Ok(format!(
                    "stopped traffic {}",
                    if names.is_empty() {
                        "(all)".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            }
            Action::Expect(e) => {
                self.expect(line, e);
                return;
            }
        };
        match result {
            Ok(what) => self.event_on(line, what, unit),
            Err(e) => self.fail(line, format!("step {}", action_name(action)), e),
        }
    }

    /// Prints the stack table as the units see it now.
    fn print_table(&mut self, title: &str) {
        let views: Vec<_> = self.views().into_values().collect();
        let state = self.stack.state();
        println!(
            "{title}\n{}",
            stack_table(&state, &unit_views(&state, &views))
        );
    }

    /// Stops all traffic and waits until nothing more arrives for 200 ms (at most `drain_ms`).
    fn drain(&mut self) {
        self.traffic.stop(&[]);
        let deadline = Instant::now() + Duration::from_millis(self.sc.drain_ms);
        let total = |t: &Traffic| t.report().iter().map(|f| f.received).sum::<u64>();
        let mut last = total(&self.traffic);
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(POLL);
            let now = total(&self.traffic);
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_millis(200) {
                break;
            }
        }
    }
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Stackd => "stackd",
        Target::Dataplaned => "dataplaned",
        Target::Unit => "both daemons",
    }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Wait { .. } => "wait",
        Action::Kill(..) => "kill",
        Action::Start(..) => "start",
        Action::Restart(..) => "restart",
        Action::CutLink(_) => "cut-link",
        Action::RestoreLink(_) => "restore-link",
        Action::FlapLink { .. } => "flap-link",
        Action::DegradeLink { .. } => "degrade-link",
        Action::StartTraffic(_) => "start-traffic",
        Action::StopTraffic(_) => "stop-traffic",
        Action::Expect(_) => "expect",
    }
}

fn describe(e: &Expect) -> String {
    let mut parts = Vec::new();
    match &e.converged {
        Some(u) if u.is_empty() => parts.push("converged".to_string()),
        Some(u) => parts.push(format!("units {u:?} converged")),
        None => {}
    }
    if let Some(m) = e.master {
        parts.push(format!("master {m:?}"));
    }
    if let Some(m) = e.master_not {
        parts.push(format!("master not {m:?}"));
    }
    if !e.held.is_empty() {
        parts.push(format!("units {:?} held", e.held));
    }
    parts.join(", ")
}

/// Runs `sc` (read from `file`) and returns its report (also when assertions failed: see
/// [`Report::passed`]); an error only when the run itself could not happen.
pub fn run(sc: &Scenario, file: &Path, opts: &RunOptions) -> Result<Report, ScenarioError> {
    let begun = Instant::now();
    let dir = opts.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("stack-sim-run-{}-{}", std::process::id(), sc.name))
    });
    crate::launch::prepare_dir(&dir).map_err(|e| {
        ScenarioError::Launch(crate::launch::LaunchError::Spec(format!("--dir: {e}")))
    })?;
    let mut spec = LaunchSpec::new(sc.stack.units, sc.stack.topology, dir.clone());
    spec.links = sc.stack.links;
    spec.front_ports = sc.stack.hosts_per_unit;
    spec.front_speed_bps = sc.stack.front_speed_bps;
    spec.priorities = sc.stack.priorities.clone();
    spec.hello_interval_ms = sc.stack.hello_interval_ms;
    spec.lossless = sc.stack.lossless.clone();
    spec.bin_dir = opts.bin_dir.clone();
    spec.relays = true;
    spec.seed = sc.seed;
    spec.backend = opts.backend.unwrap_or(sc.stack.backend);
    spec.log_filter = opts.log_filter.clone();
    if opts.narrate {
        eprintln!(
            "scenario {}: {} units ({}), {} host(s) per unit, in {}",
            sc.name,
            sc.stack.units,
            sc.stack.topology,
            sc.stack.hosts_per_unit,
            dir.display()
        );
    }
    let result = run_in(sc, file, opts, &spec, begun);
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(
    sc: &Scenario,
    file: &Path,
    opts: &RunOptions,
    spec: &LaunchSpec,
    begun: Instant,
) -> Result<Report, ScenarioError> {
    let mut stack = Stack::start(spec)?;
    let mgmt = Mgmt::new()?;
    let sockets: Vec<_> = stack.stackd_sockets();
    let (views, took) = wait_converged(
        &mgmt,
        &sockets,
        Duration::from_millis(sc.stack.converge_timeout_ms),
        |a| {
            if opts.narrate {
                crate::ops::print_progress(a, sockets.len());
            }
        },
    )
    .map_err(|e| ScenarioError::NotConverged(e.to_string()))?;
    stack.write_pids()?;
    let traffic = Traffic::attach(&stack)?;
    traffic.announce();
    let by_unit: BTreeMap<u8, pb::ShowSwitchResponse> = views
        .into_iter()
        .map(|v| (launched_unit(v.local_mac), v))
        .collect();
    let (master, standby) = Runner::roles(&by_unit);
    let mut r = Runner {
        sc,
        stack,
        mgmt,
        traffic,
        t0: Instant::now(),
        report: Report {
            scenario: sc.name.clone(),
            file: file.display().to_string(),
            seed: sc.seed,
            units: sc.stack.units,
            initial_convergence_ms: took.as_secs_f64() * 1e3,
            initial_master: master,
            initial_standby: standby,
            ..Report::default()
        },
        started: Vec::new(),
        narrate: opts.narrate,
        rng: SplitMix64::new(sc.seed ^ 0x005E_ED0F_FA17),
    };
    if opts.show_tables {
        r.print_table("The stack, converged:");
    }
    if !sc.stack.lossless.is_empty() {
        r.event(
            0,
            format!(
                "priorities {:?} lossless (PFC) on every port (stack configuration)",
                sc.stack.lossless
            ),
        );
    }
    r.event(
        0,
        format!("timeline begins: master unit {master}, standby unit {standby}"),
    );
    let watcher = if sc
        .asserts
        .iter()
        .any(|a| matches!(a, Assert::MaxMasters(_)))
    {
        let units = r
            .stack
            .units
            .iter()
            .map(|u| (u.number, u.stackd_socket.clone()))
            .collect();
        Some(Watcher::start(units, r.t0).map_err(|source| {
            ScenarioError::Launch(crate::launch::LaunchError::Io {
                what: "start the master watch thread".into(),
                source,
            })
        })?)
    } else {
        None
    };
    for step in &sc.steps {
        let first = match step.at_ms {
            Some(at) => r.t0 + Duration::from_millis(at),
            None => Instant::now(),
        };
        for k in 0..step.repeat {
            let due = first + Duration::from_millis(step.every_ms) * k;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            r.step(step);
        }
    }
    r.drain();
    r.report.master_watch = watcher.map(Watcher::stop);
    r.event(0, "traffic stopped and drained".into());
    if opts.show_tables {
        r.print_table("The stack at the end:");
    }
    r.report.flows = r.traffic.report();
    r.report.pfc = r.traffic.pfc();
    let views = r.views();
    r.report.final_master = Runner::roles(&views).0;
    r.report.check(&sc.asserts);
    r.report.duration_ms = begun.elapsed().as_secs_f64() * 1e3;
    let report = r.report.clone();
    drop(r.traffic);
    // The run is over: SIGKILL is enough (and does not wait for a slow clean shutdown).
    drop(r.stack);
    Ok(report)
}
