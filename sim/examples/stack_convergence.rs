//! Benchmark: how fast a stack of real processes converges and fails over.
//!
//! ```sh
//! cargo build --release -p dataplane -p controlplane --bins
//! cargo run --release -p sim --example stack_convergence -- [RUNS] [UNITS]
//! ```
//!
//! Each run launches a ring of UNITS (default 6) units on UDP cables — every `dataplaned`
//! first, so the stack links are up (10 ms hellos), then every `stackd` at once — and reads
//! the daemons' logs (their timestamps are the measurement; nothing here times anything):
//!
//! * **convergence**: from the last `stackd` attaching to its dataplane (every manager
//!   running, every stack link up) to the last role change of the formation (one master, one
//!   standby, members), all units agreeing;
//! * **warm restart**: the master's `stackd` is killed (SIGKILL) and started again 1 s later;
//!   from its attaching to its dataplane (which kept its state) to the end of reconciliation
//!   (resynchronised with the stack, everything re-written in one batch, stale entries
//!   swept) — and whether anyone changed role (they must not);
//! * **failover**: the master unit's processes are killed (SIGKILL); from the first survivor
//!   that detects it (a stack link down, 3 missed hellos) to the standby's role change to
//!   master.

use std::time::Duration;

use sim::launch::{LaunchSpec, Stack, Topology};

/// Seconds since midnight of a log line's RFC 3339 timestamp (`…T01:05:35.060222Z`).
fn stamp(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?;
    let time = t.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn lines(path: &std::path::Path, needle: &str) -> Vec<(f64, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| stamp(l).map(|t| (t, l.to_string())))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let units: u8 = args.next().and_then(|a| a.parse().ok()).unwrap_or(6);
    let base = std::env::temp_dir().join(format!("stackd-bench-{}", std::process::id()));
    let mut conv = Vec::new();
    let mut fail = Vec::new();
    let mut warm = Vec::new();
    let mut elections = 0;
    for run in 0..runs {
        let dir = base.join(format!("run{run}"));
        let _ = std::fs::remove_dir_all(&dir);
        let spec = LaunchSpec::new(units, Topology::Ring, dir);
        let mut stack = match Stack::start(&spec) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("stack_convergence: {e}");
                std::process::exit(1);
            }
        };
        // Formation: bounded wait until every unit logged a role change.
        let logs: Vec<_> = stack
            .units
            .iter()
            .map(|u| u.stackd.log().to_path_buf())
            .collect();
        let formed =
            |logs: &[std::path::PathBuf]| logs.iter().all(|l| !lines(l, "role change").is_empty());
        for _ in 0..500 {
            if formed(&logs) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Let stragglers (a standby named a moment later) land.
        std::thread::sleep(Duration::from_millis(300));
        let attached = logs
            .iter()
            .filter_map(|l| lines(l, "attached to the dataplane").first().map(|x| x.0))
            .fold(f64::MIN, f64::max);
        let formed_at = logs
            .iter()
            .filter_map(|l| lines(l, "role change").last().map(|x| x.0))
            .fold(f64::MIN, f64::max);
        let master = logs
            .iter()
            .position(|l| lines(l, "to=Master").last().is_some())
            .map(|i| i as u8 + 1);
        let standby = logs
            .iter()
            .position(|l| lines(l, "to=Standby").last().is_some());
        let (Some(master), Some(standby)) = (master, standby) else {
            eprintln!(
                "run {run}: no master/standby in the logs under {}",
                base.display()
            );
            std::process::exit(1);
        };
        conv.push((formed_at - attached) * 1e3);

        // Warm restart of the master's control plane.
        let m = usize::from(master - 1);
        let roles_before: usize = logs.iter().map(|l| lines(l, "role change").len()).sum();
        let unit = stack.unit(master).expect("master unit");
        unit.stackd.kill();
        std::thread::sleep(Duration::from_secs(1));
        unit.stackd.start().expect("restart stackd");
        for _ in 0..500 {
            if lines(&logs[m], "reconciliation with the dataplane done").len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        let att = lines(&logs[m], "attached to the dataplane");
        let done = lines(&logs[m], "reconciliation with the dataplane done");
        let roles_after: usize = logs.iter().map(|l| lines(l, "role change").len()).sum();
        match (att.last(), done.last()) {
            (Some(a), Some(d))
                if att.len() >= 2 && done.len() >= 2 && a.1.contains("warm=true") =>
            {
                warm.push((d.0 - a.0) * 1e3);
                if roles_after != roles_before {
                    eprintln!(
                        "run {run}: a role changed during the master's control-plane restart"
                    );
                    elections += 1;
                }
            }
            _ => eprintln!("run {run}: the restarted stackd did not reconcile warm"),
        }

        stack.kill_unit(master).expect("kill the master unit");
        for _ in 0..500 {
            if lines(&logs[standby], "to=Master").last().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let detected = logs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u8 + 1 != master)
            .filter_map(|(_, l)| {
                lines(l, "stack link stack_port")
                    .iter()
                    .find(|x| x.1.contains("up=false"))
                    .map(|x| x.0)
            })
            .fold(f64::MAX, f64::min);
        let took_over = lines(&logs[standby], "to=Master").last().map(|x| x.0);
        match took_over {
            Some(t) => fail.push((t - detected) * 1e3),
            None => eprintln!("run {run}: the standby did not take over"),
        }
        stack.stop();
        println!(
            "run {run}: convergence {:.2} ms, warm restart reconciled in {:.2} ms, failover {:.2} ms after detection",
            conv[conv.len() - 1],
            warm.last().copied().unwrap_or(f64::NAN),
            fail.last().copied().unwrap_or(f64::NAN)
        );
    }
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    let (cm, cx) = summary(&mut conv);
    println!("{units}-unit ring, {runs} runs: convergence median {cm:.2} ms, max {cx:.2} ms");
    if !warm.is_empty() {
        let (wm, wx) = summary(&mut warm);
        println!("master stackd warm restart, attach to reconciled: median {wm:.2} ms, max {wx:.2} ms; role changes during it: {elections} runs");
    }
    if !fail.is_empty() {
        let (fm, fx) = summary(&mut fail);
        println!("failover after detection: median {fm:.2} ms, max {fx:.2} ms");
    }
    let _ = std::fs::remove_dir_all(&base);
}
