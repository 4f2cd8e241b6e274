//! Launching a virtual stack of real processes: a `dataplaned` and a `stackd` per unit, their
//! stack links cabled as UDP "virtual cables" on loopback (no privileges), every unit's
//! sockets, state and logs in one directory.
//!
//! Addresses: each stack gets its own loopback /24, `127.B.C.0` (B from the process id, C from
//! a per-process counter), so stacks of concurrent tests never share a port. Unit `u` binds
//! its ports on `127.B.C.u`: stack port `p` on UDP 30000 + p, front port `f` on 31000 + f; the
//! host at the other end of front port `f` is `127.B.C.(100 + u)`:31000 + f.
//!
//! Cabling (`links` parallel links per neighbour): unit i's stack ports 1..=links lead to the
//! next unit's ports links+1..=2·links. A ring closes the last unit onto the first; a chain
//! leaves the ends' outer ports unconnected (their hellos go nowhere: the links stay down).

mod process;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use thiserror::Error;

pub use process::Daemon;

/// How the units are cabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Each unit to the next, and the last to the first.
    Ring,
    /// Each unit to the next.
    Chain,
}

/// What to launch.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// Units, 1..=6.
    pub units: u8,
    /// Ring or chain.
    pub topology: Topology,
    /// Parallel stack links between neighbours (1..=4).
    pub links: u8,
    /// Front ports per unit.
    pub front_ports: u8,
    /// Directory for sockets, state and logs (created).
    pub dir: PathBuf,
    /// Where the `dataplaned` and `stackd` binaries are.
    pub bin_dir: PathBuf,
    /// Election priority per unit (unit 1 first); missing ones are 1.
    pub priorities: Vec<u8>,
    /// Stack-link hello interval, milliseconds.
    pub hello_interval_ms: u64,
    /// `RUST_LOG` for the daemons.
    pub log_filter: String,
    /// Extra `stackd` arguments per unit number (e.g. a `--key-file`).
    pub stackd_extra: Vec<(u8, Vec<String>)>,
}

impl LaunchSpec {
    /// `units` units in `topology`, one link per neighbour, one front port each, binaries
    /// next to the running executable.
    pub fn new(units: u8, topology: Topology, dir: PathBuf) -> Self {
        LaunchSpec {
            units,
            topology,
            links: 1,
            front_ports: 1,
            dir,
            bin_dir: default_bin_dir(),
            priorities: Vec::new(),
            hello_interval_ms: 10,
            log_filter: "info".into(),
            stackd_extra: Vec::new(),
        }
    }
}

/// The directory of the running executable (for a test or example binary in
/// `target/*/deps` or `target/*/examples`, its parent): where cargo puts the workspace's
/// binaries.
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// Why a stack could not be launched or driven.
#[derive(Debug, Error)]
pub enum LaunchError {
    /// The spec is out of range.
    #[error("{0}")]
    Spec(String),
    /// A binary is missing.
    #[error(
        "{path} not found: build it first (cargo build --release -p dataplane -p controlplane)"
    )]
    MissingBinary {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A daemon did not come up.
    #[error("{daemon} of unit {unit} did not start: {message}")]
    Start {
        /// `dataplaned` or `stackd`.
        daemon: &'static str,
        /// The unit.
        unit: u8,
        /// What happened (with the end of its log).
        message: String,
    },
    /// No such unit.
    #[error("no unit {0} in this stack")]
    NoUnit(u8),
}

/// A front port of a unit, seen from the host cabled to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontPort {
    /// The port number (`0/N`).
    pub port: u8,
    /// The dataplane's end of the cable.
    pub switch: SocketAddr,
    /// The host's end (bind a socket here to be the host).
    pub host: SocketAddr,
}

/// One unit: its two daemons and where everything is.
#[derive(Debug)]
pub struct Unit {
    /// Unit number as launched.
    pub number: u8,
    /// Its directory.
    pub dir: PathBuf,
    /// The dataplane's gRPC socket.
    pub dataplane_socket: PathBuf,
    /// stackd's management socket.
    pub stackd_socket: PathBuf,
    /// Front ports.
    pub front: Vec<FrontPort>,
    /// The dataplane daemon.
    pub dataplaned: Daemon,
    /// The control-plane daemon.
    pub stackd: Daemon,
}

/// A running virtual stack. Dropping it kills every process it started.
#[derive(Debug)]
pub struct Stack {
    /// The units, unit 1 first.
    pub units: Vec<Unit>,
    /// The stack's directory.
    pub dir: PathBuf,
}

static STACKS: AtomicU8 = AtomicU8::new(0);

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let what = what.into();
    move |source| LaunchError::Io { what, source }
}

impl Stack {
    /// Starts every unit's daemons and waits until each serves its socket (not until the
    /// stack has converged: see [`Stack::unit`] and the management API for that).
    pub fn start(spec: &LaunchSpec) -> Result<Stack, LaunchError> {
        if !(1..=6).contains(&spec.units) {
            return Err(LaunchError::Spec(format!(
                "units: {}: a stack has 1 to 6 units",
                spec.units
            )));
        }
        if !(1..=4).contains(&spec.links) {
            return Err(LaunchError::Spec(format!(
                "links: {}: 1 to 4 parallel links per neighbour",
                spec.links
            )));
        }
        for bin in ["dataplaned", "stackd"] {
            let path = spec.bin_dir.join(bin);
            if !path.exists() {
                return Err(LaunchError::MissingBinary { path });
            }
        }
        let pid = std::process::id();
        let net = [
            127,
            100 + (pid % 100) as u8,
            STACKS.fetch_add(1, Ordering::Relaxed),
        ];
        let ip = |host: u8| Ipv4Addr::new(net[0], net[1], net[2], host);
        std::fs::create_dir_all(&spec.dir).map_err(io(format!("create {}", spec.dir.display())))?;
        let n = spec.units;
        let mut units = Vec::new();
        for u in 1..=n {
            let dir = spec.dir.join(format!("unit{u}"));
            std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
            let dataplane_socket = dir.join("dataplane.sock");
            let stackd_socket = dir.join("stackd.sock");
            let mut dp_args = vec![
                "--unit".to_string(),
                u.to_string(),
                "--grpc-socket".into(),
                dataplane_socket.display().to_string(),
                "--hello-interval-ms".into(),
                spec.hello_interval_ms.to_string(),
            ];
            let mut front = Vec::new();
            for f in 1..=spec.front_ports {
                let port = FrontPort {
                    port: f,
                    switch: SocketAddr::new(ip(u).into(), 31000 + u16::from(f)),
                    host: SocketAddr::new(ip(100 + u).into(), 31000 + u16::from(f)),
                };
                dp_args.push("--port".into());
                dp_args.push(format!("0/{f},10G,udp,{},{}", port.switch, port.host));
                front.push(port);
            }
            let next = u % n + 1;
            let prev = (u + n - 2) % n + 1;
            let ring = spec.topology == Topology::Ring;
            for k in 1..=spec.links {
                // Toward the next unit, then toward the previous one.
                for (p, peer_unit, peer_port, cabled) in [
                    (k, next, spec.links + k, n > 1 && (ring || u != n)),
                    (spec.links + k, prev, k, n > 1 && (ring || u != 1)),
                ] {
                    let local = SocketAddr::new(ip(u).into(), 30000 + u16::from(p));
                    let peer = if cabled {
                        SocketAddr::new(ip(peer_unit).into(), 30000 + u16::from(peer_port))
                    } else {
                        // Not cabled: hellos go to an address nobody listens on.
                        SocketAddr::new(ip(250).into(), 9)
                    };
                    dp_args.push("--port".into());
                    dp_args.push(format!("1/{p},10G,udp,{local},{peer}"));
                }
            }
            let priority = spec
                .priorities
                .get(usize::from(u - 1))
                .copied()
                .unwrap_or(1);
            let mut sd_args = vec![
                "--unit".to_string(),
                u.to_string(),
                "--priority".into(),
                priority.to_string(),
                "--dataplane".into(),
                dataplane_socket.display().to_string(),
                "--socket".into(),
                stackd_socket.display().to_string(),
                "--state-dir".into(),
                dir.join("state").display().to_string(),
            ];
            for (_, extra) in spec.stackd_extra.iter().filter(|(n, _)| *n == u) {
                sd_args.extend(extra.iter().cloned());
            }
            let env = [("RUST_LOG".to_string(), spec.log_filter.clone())];
            units.push(Unit {
                number: u,
                dataplaned: Daemon::new(
                    "dataplaned",
                    u,
                    spec.bin_dir.join("dataplaned"),
                    dp_args,
                    env.to_vec(),
                    dir.join("dataplaned.log"),
                    dataplane_socket.clone(),
                ),
                stackd: Daemon::new(
                    "stackd",
                    u,
                    spec.bin_dir.join("stackd"),
                    sd_args,
                    env.to_vec(),
                    dir.join("stackd.log"),
                    stackd_socket.clone(),
                ),
                dir,
                dataplane_socket,
                stackd_socket,
                front,
            });
        }
        let mut stack = Stack {
            units,
            dir: spec.dir.clone(),
        };
        for u in &mut stack.units {
            u.dataplaned.start()?;
        }
        for u in &mut stack.units {
            u.dataplaned.wait_serving(Duration::from_secs(10))?;
        }
        for u in &mut stack.units {
            u.stackd.start()?;
        }
        for u in &mut stack.units {
            u.stackd.wait_serving(Duration::from_secs(10))?;
        }
        stack.write_pids()?;
        Ok(stack)
    }

    /// Unit `n`.
    pub fn unit(&mut self, n: u8) -> Result<&mut Unit, LaunchError> {
        self.units
            .iter_mut()
            .find(|u| u.number == n)
            .ok_or(LaunchError::NoUnit(n))
    }

    /// Kills unit `n`'s daemons with SIGKILL (a unit failure).
    pub fn kill_unit(&mut self, n: u8) -> Result<(), LaunchError> {
        let u = self.unit(n)?;
        u.stackd.kill();
        u.dataplaned.kill();
        self.write_pids()
    }

    /// Records every running daemon's pid in `DIR/pids` (one `unit daemon pid` per line), so
    /// a later `stack-sim down` can clean up after a crash.
    pub fn write_pids(&self) -> Result<(), LaunchError> {
        let mut text = String::new();
        for u in &self.units {
            for d in [&u.dataplaned, &u.stackd] {
                if let Some(pid) = d.pid() {
                    text.push_str(&format!("{} {} {pid}\n", u.number, d.name()));
                }
            }
        }
        let path = self.dir.join("pids");
        std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))
    }

    /// Stops every daemon (SIGTERM, then SIGKILL after 5 s) and removes the pid file.
    pub fn stop(&mut self) {
        for u in &mut self.units {
            u.stackd.terminate();
        }
        for u in &mut self.units {
            u.dataplaned.terminate();
        }
        for u in &mut self.units {
            u.stackd.reap(Duration::from_secs(5));
            u.dataplaned.reap(Duration::from_secs(5));
        }
        let _ = std::fs::remove_file(self.dir.join("pids"));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for u in &mut self.units {
            u.stackd.kill();
            u.dataplaned.kill();
        }
    }
}
