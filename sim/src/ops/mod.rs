//! `stack-sim up`, `status` and `down`: a virtual stack of real processes that outlives the
//! command that launched it, its state kept in one directory.
//!
//! `up` launches the units (see [`crate::launch`]), shows progress until every unit agrees on
//! one master and all are active, prints the stack table, and exits leaving the daemons
//! running. `status` reads `DIR/stack.json` and asks every unit. `down` kills every process
//! recorded in the directory (checking each pid is still that daemon) and removes it.

mod demo;
mod fault;
mod link;
mod run;
mod table;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proto::stack::v1 as pb;
use thiserror::Error;

use crate::launch::mgmt::{agreement, Agreement, Mgmt, MgmtError};
use crate::launch::{
    default_bin_dir, down as teardown, read_state, LaunchError, LaunchSpec, Stack, StateError,
    Topology,
};
pub use demo::{demo, phase_totals, DemoArgs, Totals, DEMO_SCENARIO};
pub use fault::{kill, start, DaemonArg, FaultArgs};
pub use link::{link, link_lines, LinkArg, LinkArgs, LinkCommand, LinkTarget, LossArg};
pub use run::{run, RunArgs};
pub use table::{stack_table, unit_mac, unit_views};

/// Why a `stack-sim` stack command failed.
#[derive(Debug, Error)]
pub enum OpsError {
    /// Launching or driving the stack failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The stack's directory could not be read or removed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A management call failed.
    #[error(transparent)]
    Mgmt(#[from] MgmtError),
    /// The stack's cable process could not be used (link faults).
    #[error(transparent)]
    Cables(#[from] crate::launch::cables::CableError),
    /// A stack already runs in the directory.
    #[error("{0}: a stack is already running here (stack-sim down --dir {0} first)")]
    Running(PathBuf),
    /// The stack did not converge in time.
    #[error("the stack did not converge within {limit:?}: {last}")]
    NotConverged {
        /// The limit.
        limit: Duration,
        /// What the units said last.
        last: String,
    },
}

/// The default directory of a stack: `$XDG_RUNTIME_DIR/stack-sim`, else
/// `/tmp/stack-sim-<uid>`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("stack-sim"),
        _ => std::env::temp_dir().join(format!("stack-sim-{}", rustix::process::getuid().as_raw())),
    }
}

/// Where `dataplaned` and `stackd` are: `given`, else next to `stack-sim`. Under `cargo run`
/// (the `CARGO` variable is set) daemons missing from a cargo target directory are built
/// first, in the same profile, so `cargo run -p sim --bin stack-sim -- demo` works on a fresh
/// checkout.
pub fn daemon_dir(given: Option<&Path>) -> PathBuf {
    if let Some(d) = given {
        return d.to_path_buf();
    }
    let dir = default_bin_dir();
    let missing = ["dataplaned", "stackd"]
        .iter()
        .any(|b| !dir.join(b).exists());
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let (true, Some(cargo)) = (missing, std::env::var_os("CARGO")) {
        if profile == "release" || profile == "debug" {
            eprintln!("building dataplaned and stackd ({profile}) first");
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-p", "dataplane", "-p", "controlplane", "--bins"]);
            if profile == "release" {
                cmd.arg("--release");
            }
            // A failed build shows its own errors; the launch then names the missing binary.
            let _ = cmd.status();
        }
    }
    dir
}

/// The cabling, as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TopologyArg {
    /// Each unit to the next, the last to the first.
    Ring,
    /// Each unit to the next.
    Chain,
}

impl From<TopologyArg> for Topology {
    fn from(t: TopologyArg) -> Topology {
        match t {
            TopologyArg::Ring => Topology::Ring,
            TopologyArg::Chain => Topology::Chain,
        }
    }
}

/// How hosts are attached, as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// UDP cables; hosts are whatever binds the far end (no privileges).
    Udp,
    /// A network namespace per host with a veth into an afpacket port (root).
    Netns,
}

/// `stack-sim up`.
#[derive(Clone, Debug, clap::Args)]
pub struct UpArgs {
    /// Units in the stack (1..=6).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub units: u8,
    /// How the stack links are cabled.
    #[arg(long, value_enum, default_value_t = TopologyArg::Ring)]
    pub topology: TopologyArg,
    /// Parallel stack links between neighbours, bundled into a trunk (1..=4).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub links: u8,
    /// How hosts are attached to the front ports.
    #[arg(long, value_enum, default_value_t = BackendArg::Udp)]
    pub backend: BackendArg,
    /// Hosts per unit, one per front port (1..=8).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub hosts_per_unit: u8,
    /// The stack's directory (sockets, logs, pids, stack.json) [default:
    /// $XDG_RUNTIME_DIR/stack-sim or /tmp/stack-sim-UID].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where dataplaned and stackd are [default: next to stack-sim].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Give up when the stack has not converged after this many seconds (1..=300).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout_secs: u64,
    /// RUST_LOG of the daemons (their logs are in the stack's directory).
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Lossless (PFC) priorities, e.g. `--lossless 3` or `--lossless 3,4`: written to the
    /// stack configuration (DIR/stack.toml) that every stackd programs on its ports.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..=7))]
    pub lossless: Vec<u8>,
    /// A dual-homed server with a NIC on each of two units, e.g. `--dual-homed 1-2`
    /// (repeatable). On `netns`: namespace `stack-sim-TAG-srvN`, `eth0` and `eth1` with
    /// addresses 10.0.(100+N).1 and .2, both links in use (no bond).
    #[arg(long, value_name = "A-B", value_parser = parse_unit_pair)]
    pub dual_homed: Vec<(u8, u8)>,
}

/// `A-B`: two different unit numbers, 1..=6.
fn parse_unit_pair(s: &str) -> Result<(u8, u8), String> {
    let unit = |x: &str| match x.trim().parse::<u8>() {
        Ok(u) if (1..=6).contains(&u) => Ok(u),
        _ => Err(format!("'{x}': expected a unit number 1..=6")),
    };
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("'{s}': expected two units, e.g. 1-2"))?;
    let (a, b) = (unit(a)?, unit(b)?);
    if a == b {
        return Err(format!("'{s}': two different units"));
    }
    Ok((a, b))
}

/// `stack-sim status` and `stack-sim down`.
#[derive(Clone, Debug, clap::Args)]
pub struct DirArgs {
    /// The stack's directory [default: $XDG_RUNTIME_DIR/stack-sim or /tmp/stack-sim-UID].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Whether a recorded daemon of the stack in `dir` still runs.
fn anything_running(dir: &Path) -> bool {
    let Ok(state) = read_state(dir) else {
        return false;
    };
    state.units.iter().any(|u| {
        [&u.dataplaned, &u.stackd].iter().any(|d| {
            d.pid
                .is_some_and(|p| crate::launch::is_our_daemon(p, &d.name, &state.dir))
        })
    })
}

/// Asks every unit's `show switch` until they agree (one master, all active), reporting
/// progress through `progress` whenever it changes; bounded by `limit`.
pub fn wait_converged(
    mgmt: &Mgmt,
    sockets: &[PathBuf],
    limit: Duration,
    mut progress: impl FnMut(&Agreement),
) -> Result<(Vec<pb::ShowSwitchResponse>, Duration), OpsError> {
    let start = Instant::now();
    let mut last: Option<Agreement> = None;
    loop {
        let views: Vec<_> = sockets
            .iter()
            .filter_map(|s| mgmt.show_switch(s).ok())
            .collect();
        let a = agreement(&views, sockets.len());
        if last.as_ref() != Some(&a) {
            progress(&a);
        }
        if a.converged {
            return Ok((views, start.elapsed()));
        }
        if start.elapsed() >= limit {
            return Err(OpsError::NotConverged {
                limit,
                last: format!("{a:?}"),
            });
        }
        last = Some(a);
        // Polling the units' management API: a short, bounded wait per round.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One line of progress on stderr.
pub fn print_progress(a: &Agreement, expected: usize) {
    let master = a.master.map_or("none".into(), |m| format!("unit {m}"));
    let standby = a.standby.map_or("none".into(), |m| format!("unit {m}"));
    eprintln!(
        "  {}/{expected} units answer; master {master}, standby {standby}{}",
        a.answered,
        if a.converged { "; converged" } else { "" }
    );
}

/// `stack-sim up`: launches, waits for convergence, prints the table, leaves it running.
pub fn up(args: &UpArgs) -> Result<(), OpsError> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    if anything_running(&dir) {
        return Err(OpsError::Running(dir));
    }
    // What a crashed or killed stack left behind is cleaned up; a foreign directory refused.
    crate::launch::prepare_dir(&dir)?;
    let mut spec = LaunchSpec::new(args.units, args.topology.into(), dir.clone());
    spec.links = args.links;
    spec.front_ports = args.hosts_per_unit;
    spec.bin_dir = daemon_dir(args.bin_dir.as_deref());
    spec.log_filter = args.log.clone();
    spec.lossless = args.lossless.clone();
    spec.dual_homed = args.dual_homed.clone();
    spec.outlive_launcher = true;
    // The stack links' relays run in a cable process of their own (`stack-sim cables`), so
    // `stack-sim link …` can fault them after this command has exited.
    spec.cable_process = Some(std::env::current_exe().map_err(|source| LaunchError::Io {
        what: "find the stack-sim executable".into(),
        source,
    })?);
    if args.backend == BackendArg::Netns {
        spec.backend = crate::launch::Backend::Netns;
    }
    eprintln!(
        "starting {} units ({}, {} link(s) per neighbour) in {}",
        args.units,
        spec.topology,
        args.links,
        dir.display()
    );
    let mut stack = Stack::start(&spec)?;
    eprintln!("every dataplaned and stackd serves its socket; waiting for the stack to converge");
    let mgmt = Mgmt::new()?;
    let sockets: Vec<_> = stack.stackd_sockets();
    let (views, took) = wait_converged(
        &mgmt,
        &sockets,
        Duration::from_secs(args.timeout_secs),
        |a| print_progress(a, sockets.len()),
    )?;
    stack.write_pids()?;
    let state = stack.state();
    eprintln!("converged in {} ms", took.as_millis());
    print!("{}", stack_table(&state, &unit_views(&state, &views)));
    println!(
        "\nstate in {}; `stack-sim status` shows it, `stack-sim down` removes it",
        dir.display()
    );
    stack.detach();
    Ok(())
}

/// `stack-sim status`: the recorded stack and what its units say now.
pub fn status(args: &DirArgs) -> Result<(), OpsError> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let state = read_state(&dir)?;
    let mgmt = Mgmt::new()?;
    let views: Vec<_> = state
        .units
        .iter()
        .filter_map(|u| mgmt.show_switch(&u.stackd.socket).ok())
        .collect();
    print!("{}", stack_table(&state, &unit_views(&state, &views)));
    let a = agreement(&views, state.units.len());
    if !state.links.is_empty() {
        print!("\n{}", link_lines(&dir, state.cables.is_some()));
    }
    println!(
        "\n{} of {} units answer; {}",
        a.answered,
        state.units.len(),
        if a.converged {
            "converged"
        } else {
            "not converged"
        }
    );
    Ok(())
}

/// `stack-sim down`: stops every recorded process and removes the directory.
pub fn down(args: &DirArgs) -> Result<(), OpsError> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    if !dir.exists() {
        println!("{}: no stack here, nothing to do", dir.display());
        return Ok(());
    }
    let report = teardown(&dir)?;
    let what = |unit: &u8, name: &String| match unit {
        0 => "the cable process".to_string(),
        u => format!("unit {u} {name}"),
    };
    for (unit, name, pid) in &report.killed {
        println!("stopped {} (pid {pid})", what(unit, name));
    }
    for (unit, name, pid) in &report.gone {
        println!("{} (pid {pid}) was not running", what(unit, name));
    }
    for ns in &report.namespaces {
        println!("deleted network namespace {ns}");
    }
    println!("removed {}", dir.display());
    Ok(())
}
