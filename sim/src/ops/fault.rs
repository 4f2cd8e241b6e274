//! `stack-sim kill` and `stack-sim start`: faults on a stack started by `stack-sim up`, from
//! another shell (its daemons are not this process's children: they are found by the pids in
//! `stack.json`, checked, and started again with their recorded command lines).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, test_kill_process, Pid, Signal};

use super::{default_dir, OpsError};
use crate::launch::{is_our_daemon, read_state, DaemonState, LaunchError, StackState, UnitState};

/// Which daemons of the unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DaemonArg {
    /// The control plane.
    Stackd,
    /// The dataplane.
    Dataplaned,
    /// Both: the whole unit.
    Unit,
}

/// `stack-sim kill` and `stack-sim start`.
#[derive(Clone, Debug, clap::Args)]
pub struct FaultArgs {
    /// The unit (as launched, 1..=6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub unit: u8,
    /// Which of its daemons.
    #[arg(long, value_enum, default_value_t = DaemonArg::Unit)]
    pub daemon: DaemonArg,
    /// The stack's directory [default: $XDG_RUNTIME_DIR/stack-sim or /tmp/stack-sim-UID].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

fn selected(d: &DaemonState, which: DaemonArg) -> bool {
    match which {
        DaemonArg::Unit => true,
        DaemonArg::Stackd => d.name == "stackd",
        DaemonArg::Dataplaned => d.name == "dataplaned",
    }
}

fn alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    test_kill_process(p).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

/// The recorded state of unit `unit` of the stack.
fn unit_mut(state: &mut StackState, unit: u8) -> Result<&mut UnitState, OpsError> {
    let u = state.units.iter_mut().find(|u| u.unit == unit);
    Ok(u.ok_or(LaunchError::NoUnit(unit))?)
}

/// `stack-sim kill`: SIGKILL to the unit's daemon(s), as a crash.
pub fn kill(args: &FaultArgs) -> Result<(), OpsError> {
    let mut state = read_state(&args.dir.clone().unwrap_or_else(default_dir))?;
    let sdir = state.dir.clone();
    let unit = unit_mut(&mut state, args.unit)?;
    // The control plane first, as a unit losing power would leave it no time either.
    for d in [&mut unit.stackd, &mut unit.dataplaned] {
        if !selected(d, args.daemon) {
            continue;
        }
        match d.pid {
            Some(pid) if is_our_daemon(pid, &d.name, &sdir) => {
                if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                    let _ = kill_process(p, Signal::KILL);
                }
                let deadline = Instant::now() + Duration::from_secs(2);
                while alive(pid) && Instant::now() < deadline {
                    // Not our child: bounded polling until it is gone.
                    std::thread::sleep(Duration::from_millis(5));
                }
                println!("killed unit {} {} (pid {pid})", args.unit, d.name);
            }
            _ => println!("unit {} {} was not running", args.unit, d.name),
        }
        d.pid = None;
    }
    state.write_all()?;
    Ok(())
}

/// `stack-sim start`: starts the unit's daemon(s) that are not running, with their recorded
/// command lines, and waits until each serves its socket.
pub fn start(args: &FaultArgs) -> Result<(), OpsError> {
    let mut state = read_state(&args.dir.clone().unwrap_or_else(default_dir))?;
    let sdir = state.dir.clone();
    let unit = unit_mut(&mut state, args.unit)?;
    // The dataplane first: stackd attaches to it.
    for d in [&mut unit.dataplaned, &mut unit.stackd] {
        if !selected(d, args.daemon) {
            continue;
        }
        if d.pid.is_some_and(|p| is_our_daemon(p, &d.name, &sdir)) {
            println!("unit {} {} is running", args.unit, d.name);
            continue;
        }
        let io = |what: &str| {
            let what = format!("{what} {}", d.binary.display());
            move |source| LaunchError::Io { what, source }
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&d.log)
            .map_err(io("open the log of"))?;
        let child = Command::new(&d.binary)
            .args(&d.args)
            .envs(d.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(io("start"))?;
        let pid = child.id();
        // Dropping the handle neither kills nor waits: it lives on after this process.
        drop(child);
        d.pid = Some(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&d.socket).is_err() {
            if !alive(pid) || Instant::now() >= deadline {
                return Err(LaunchError::Start {
                    daemon: if d.name == "stackd" {
                        "stackd"
                    } else {
                        "dataplaned"
                    },
                    unit: args.unit,
                    message: format!(
                        "not serving {} (see {})",
                        d.socket.display(),
                        d.log.display()
                    ),
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        println!("started unit {} {} (pid {pid})", args.unit, d.name);
    }
    state.write_all()?;
    Ok(())
}
