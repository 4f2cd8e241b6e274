//! The state a launched stack leaves in its directory (`stack.json` and `pids`), and
//! [`down`]: tearing down whatever a stack left behind, also after its launcher crashed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, test_kill_process, Pid, Signal};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{io, Backend, FrontPort, LaunchError, NetnsHost, Stack, StackLink, Topology};

/// Name of the state file in a stack's directory.
pub const STATE_FILE: &str = "stack.json";
/// Name of the pid file in a stack's directory.
pub const PID_FILE: &str = "pids";

/// One daemon as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    /// `dataplaned` or `stackd`.
    pub name: String,
    /// Its binary.
    pub binary: PathBuf,
    /// Its process id when last seen running.
    pub pid: Option<u32>,
    /// Its socket.
    pub socket: PathBuf,
    /// Its log.
    pub log: PathBuf,
    /// Its arguments (to start it again).
    #[serde(default)]
    pub args: Vec<String>,
    /// Its extra environment.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

/// One unit as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitState {
    /// Unit number as launched.
    pub unit: u8,
    /// Its directory.
    pub dir: PathBuf,
    /// Its dataplane.
    pub dataplaned: DaemonState,
    /// Its control plane.
    pub stackd: DaemonState,
    /// Its front ports and the hosts' addresses.
    pub front: Vec<FrontPort>,
    /// On the `netns` backend: its hosts' namespaces.
    #[serde(default)]
    pub netns: Vec<NetnsHost>,
}

/// `stack.json`: what a launched stack is and where its parts are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// The stack's directory.
    pub dir: PathBuf,
    /// Ring or chain.
    pub topology: Topology,
    /// Front port line rate, bits per second.
    pub front_speed_bps: u64,
    /// How hosts are attached.
    #[serde(default)]
    pub backend: Backend,
    /// The units.
    pub units: Vec<UnitState>,
    /// The stack cables.
    pub links: Vec<StackLink>,
    /// The cable process relaying them, when it has one (`stack-sim up`).
    #[serde(default)]
    pub cables: Option<DaemonState>,
    /// The process that launched it.
    pub launcher_pid: u32,
}

impl StackState {
    /// Writes it to `DIR/stack.json` atomically (a temporary file, then a rename).
    pub fn write(&self, dir: &Path) -> Result<(), LaunchError> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| LaunchError::Io {
            what: "encode stack.json".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&tmp, text).map_err(io(format!("write {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("write {}", path.display())))
    }
}

impl Stack {
    /// The stack as recorded in `stack.json`.
    pub fn state(&mut self) -> StackState {
        let mut units = Vec::new();
        let daemon = |d: &mut super::Daemon| DaemonState {
            name: d.name().to_string(),
            binary: d.binary().to_path_buf(),
            pid: d.running().then(|| d.pid()).flatten(),
            socket: d.socket().to_path_buf(),
            log: d.log().to_path_buf(),
            args: d.args().to_vec(),
            env: d.env().to_vec(),
        };
        for u in &mut self.units {
            units.push(UnitState {
                unit: u.number,
                dir: u.dir.clone(),
                dataplaned: daemon(&mut u.dataplaned),
                stackd: daemon(&mut u.stackd),
                front: u.front.clone(),
                netns: u.netns.clone(),
            });
        }
        let cables = self.cables.as_mut().map(daemon);
        StackState {
            dir: self.dir.clone(),
            topology: self.topology,
            front_speed_bps: self.front_speed_bps,
            backend: self.backend,
            units,
            links: self.links.clone(),
            cables,
            launcher_pid: std::process::id(),
        }
    }
}

/// Why a stack's directory could not be read or torn down.
#[derive(Debug, Error)]
pub enum StateError {
    /// Nothing launched there.
    #[error("{0}: no stack here (no stack.json)")]
    NoStack(PathBuf),
    /// The directory holds other things: it is not removed.
    #[error("{0}: not a stack-sim directory (no stack.json or pids): not touching it")]
    NotOurs(PathBuf),
    /// `stack.json` does not parse.
    #[error("{path}:{line}:{column}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl StackState {
    /// Writes `DIR/pids` from the recorded pids, then `DIR/stack.json`.
    pub fn write_all(&self) -> Result<(), LaunchError> {
        let mut text = String::new();
        for u in &self.units {
            for d in [&u.dataplaned, &u.stackd] {
                if let Some(pid) = d.pid {
                    text.push_str(&format!("{} {} {pid}\n", u.unit, d.name));
                }
            }
        }
        if let Some(pid) = self.cables.as_ref().and_then(|c| c.pid) {
            text.push_str(&format!("0 stack-sim {pid}\n"));
        }
        let path = self.dir.join(PID_FILE);
        std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
        self.write(&self.dir)
    }
}

/// Reads `DIR/stack.json`.
pub fn read_state(dir: &Path) -> Result<StackState, StateError> {
    let path = dir.join(STATE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NoStack(dir.to_path_buf()))
        }
        Err(source) => {
            return Err(StateError::Io {
                what: format!("read {}", path.display()),
                source,
            })
        }
    };
    serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
        path,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// What [`down`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Processes signalled: `(unit, daemon, pid)`.
    pub killed: Vec<(u8, String, u32)>,
    /// Recorded pids that were no longer that daemon (exited, or reused by another process).
    pub gone: Vec<(u8, String, u32)>,
    /// Host namespaces deleted.
    pub namespaces: Vec<String>,
    /// Whether the directory was removed.
    pub removed: bool,
}

/// Makes `dir` ready for a new stack: nothing to do when it does not exist or is empty; what
/// a stack left there (a crash) is torn down with [`down`]; a directory with other contents
/// is refused ([`StateError::NotOurs`]), so a stack never lands among files it would later
/// remove.
pub fn prepare_dir(dir: &Path) -> Result<(), StateError> {
    if !dir.exists() {
        return Ok(());
    }
    if dir.join(PID_FILE).exists() || dir.join(STATE_FILE).exists() {
        return down(dir).map(|_| ());
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|source| StateError::Io {
            what: format!("read {}", dir.display()),
            source,
        })?
        .next()
        .is_none();
    if empty {
        Ok(())
    } else {
        Err(StateError::NotOurs(dir.to_path_buf()))
    }
}

/// Whether `pid` still runs the daemon `name` of the stack in `dir`: its executable is
/// called `name` and its command line mentions `dir` (its sockets live there), so a reused
/// pid is never killed.
pub fn is_our_daemon(pid: u32, name: &str, dir: &Path) -> bool {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let exe_ok = std::fs::read_link(proc.join("exe")).is_ok_and(|exe| {
        let file = exe
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A rebuilt binary shows as "NAME (deleted)".
        file == name || file == format!("{name} (deleted)")
    });
    let cmdline = std::fs::read(proc.join("cmdline")).unwrap_or_default();
    let needle = dir.display().to_string();
    let cmd_ok = cmdline
        .split(|b| *b == 0)
        .any(|arg| String::from_utf8_lossy(arg).contains(&needle));
    exe_ok && cmd_ok
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: Pid) -> bool {
    if test_kill_process(pid).is_err() {
        return false;
    }
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).unwrap_or_default();
    // `pid (comm) S …`: the state follows the last ')'.
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X"))
}

/// Tears down the stack in `dir`: SIGTERM to every recorded daemon that is still that daemon
/// (SIGKILL after 3 s), then removes its sockets and the directory. Works from the pid file
/// alone (a launcher that crashed before writing `stack.json`); refuses a directory without
/// either file. A missing directory is nothing to do.
pub fn down(dir: &Path) -> Result<DownReport, StateError> {
    let mut report = DownReport::default();
    if !dir.exists() {
        return Ok(report);
    }
    let pids_path = dir.join(PID_FILE);
    let state_path = dir.join(STATE_FILE);
    if !pids_path.exists() && !state_path.exists() {
        return Err(StateError::NotOurs(dir.to_path_buf()));
    }
    // Canonical form, as the daemons were given it.
    let dir_abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut recorded: Vec<(u8, String, u32)> = Vec::new();
    for line in std::fs::read_to_string(&pids_path)
        .unwrap_or_default()
        .lines()
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [unit, name, pid] = f.as_slice() {
            if let (Ok(u), Ok(p)) = (unit.parse(), pid.parse()) {
                recorded.push((u, (*name).to_string(), p));
            }
        }
    }
    let state = read_state(dir).ok();
    if let Some(state) = &state {
        for u in &state.units {
            for d in [&u.dataplaned, &u.stackd] {
                if let Some(pid) = d.pid {
                    if !recorded.iter().any(|r| r.2 == pid) {
                        recorded.push((u.unit, d.name.clone(), pid));
                    }
                }
            }
        }
        if let Some(pid) = state.cables.as_ref().and_then(|c| c.pid) {
            if !recorded.iter().any(|r| r.2 == pid) {
                recorded.push((0, "stack-sim".into(), pid));
            }
        }
    }
    let mut signalled = Vec::new();
    for (unit, name, pid) in recorded {
        // `stack-sim` is the cable process (`stack-sim cables --dir DIR`).
        let ours = (name == "dataplaned" || name == "stackd" || name == "stack-sim")
            && (is_our_daemon(pid, &name, &dir_abs) || is_our_daemon(pid, &name, dir));
        let p = i32::try_from(pid).ok().and_then(Pid::from_raw);
        match p {
            Some(p) if ours => {
                // stackd first (it is listed after its dataplane): order does not matter
                // for a teardown.
                let _ = kill_process(p, Signal::TERM);
                signalled.push(p);
                report.killed.push((unit, name, pid));
            }
            _ => report.gone.push((unit, name, pid)),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while signalled.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        // Processes that are not our children cannot be waited for: bounded polling.
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in &signalled {
        if alive(*p) {
            let _ = kill_process(*p, Signal::KILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while signalled.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for h in state.iter().flat_map(|s| &s.units).flat_map(|u| &u.netns) {
        if h.namespace.starts_with("stack-sim-") {
            h.delete();
            // A dual-homed server's namespace holds two of the hosts' veths: named once.
            if !report.namespaces.contains(&h.namespace) {
                report.namespaces.push(h.namespace.clone());
            }
        }
    }
    std::fs::remove_dir_all(dir).map_err(|source| StateError::Io {
        what: format!("remove {}", dir.display()),
        source,
    })?;
    report.removed = true;
    Ok(report)
}
