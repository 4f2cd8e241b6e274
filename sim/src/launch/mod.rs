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

pub mod cables;
mod cabling;
pub mod mgmt;
mod netns;
mod process;
mod relay;
mod state;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use cabling::{cabling, stack_port_addr};
pub use cabling::{LinkEnd, StackLink};
pub use netns::{running_as_root, NetnsHost};
pub use process::Daemon;
pub use relay::{Impairment, LinkRelay, RelayCounters};
pub use state::{
    down, is_our_daemon, prepare_dir, read_state, DaemonState, DownReport, StackState, StateError,
    UnitState,
};

/// How the units are cabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// Each unit to the next, and the last to the first.
    Ring,
    /// Each unit to the next.
    Chain,
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Topology::Ring => "ring",
            Topology::Chain => "chain",
        })
    }
}

/// How hosts are attached to the front ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Front ports are UDP cables; a host is whatever binds the far end (no privileges).
    #[default]
    Udp,
    /// Front ports are `afpacket` ports on veths into one network namespace per host (root).
    Netns,
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
    /// Front ports per unit (a host at the end of each).
    pub front_ports: u8,
    /// Line rate of the front ports, bits per second (the stack ports run at 10G).
    pub front_speed_bps: u64,
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
    /// Lossless (PFC) priorities: written to the stack configuration every `stackd` boots
    /// with (`DIR/stack.toml`, `[lossless]` with [`LOSSLESS_THRESHOLDS`]), so stackd programs
    /// them on every port, also after a `dataplaned` restart.
    pub lossless: Vec<u8>,
    /// Interpose a [`LinkRelay`] (run by this process) on every stack link, so links can be
    /// cut, flapped and degraded. Off for a stack that must outlive this process.
    pub relays: bool,
    /// Relay every stack link in a cable process of its own instead: this `stack-sim`
    /// binary run as `stack-sim cables --dir DIR` ([`cables`]), recorded like the daemons,
    /// so the links of a stack that outlives this process can be faulted from any shell.
    pub cable_process: Option<PathBuf>,
    /// Seed of the relays' loss decisions.
    pub seed: u64,
    /// How hosts are attached.
    pub backend: Backend,
    /// Dual-homed servers: one per pair `(a, b)`, with a NIC on a front port of unit `a` and
    /// one on unit `b` (after each unit's `front_ports` hosts). On the `netns` backend a
    /// server is one namespace with two veths (`eth0`, `eth1`), each with its own address
    /// (SMB Multichannel-style: both links in use, no bond); on `udp` they are two more front
    /// ports, and the server is whatever binds both hosts' ends.
    pub dual_homed: Vec<(u8, u8)>,
    /// The daemons will outlive this process ([`Stack::detach`]): they get process groups
    /// of their own, so a Ctrl-C at the launcher's terminal does not stop them. Otherwise a
    /// Ctrl-C stops them with the launcher.
    pub outlive_launcher: bool,
}

impl LaunchSpec {
    /// `units` units in `topology`, one link per neighbour, one 10G front port each, binaries
    /// next to the running executable, no relays.
    pub fn new(units: u8, topology: Topology, dir: PathBuf) -> Self {
        LaunchSpec {
            units,
            topology,
            links: 1,
            front_ports: 1,
            front_speed_bps: 10_000_000_000,
            dir,
            bin_dir: default_bin_dir(),
            priorities: Vec::new(),
            hello_interval_ms: 10,
            dual_homed: Vec::new(),
            log_filter: "info".into(),
            stackd_extra: Vec::new(),
            lossless: Vec::new(),
            relays: false,
            cable_process: None,
            seed: 1,
            backend: Backend::Udp,
            outlive_launcher: false,
        }
    }
}

/// The links between units `x` and `y` (either way round), as indices into `links`: all of
/// them, or only the `index`-th (1-based, in cabling order).
pub fn select_links(
    links: &[StackLink],
    x: u8,
    y: u8,
    index: Option<u8>,
) -> Result<Vec<usize>, LaunchError> {
    let on: Vec<usize> = (0..links.len()).filter(|i| links[*i].joins(x, y)).collect();
    if on.is_empty() {
        return Err(LaunchError::NoLink(x, y));
    }
    let chosen: Vec<usize> = on
        .iter()
        .enumerate()
        .filter(|(k, _)| index.is_none_or(|i| usize::from(i) == k + 1))
        .map(|(_, i)| *i)
        .collect();
    match (chosen.is_empty(), index) {
        (true, Some(i)) => Err(LaunchError::NoLinkIndex {
            x,
            y,
            index: i,
            count: on.len(),
        }),
        (true, None) => Err(LaunchError::NoLink(x, y)),
        (false, _) => Ok(chosen),
    }
}

/// XOFF, XON and headroom bytes of the lossless priority groups of a launched stack: XOFF at
/// 24 KB, XON at 12 KB, 96 KB of headroom. Generous, because a host on a UDP cable (a thread
/// of a busy process) answers a pause in milliseconds, not in 67 quanta.
pub const LOSSLESS_THRESHOLDS: (u32, u32, u32) = (24_000, 12_000, 96_000);

/// The stack configuration file (`stackd --stack-config`) for `lossless` priorities.
pub fn lossless_stack_config(lossless: &[u8]) -> String {
    let (xoff, xon, headroom) = LOSSLESS_THRESHOLDS;
    let lossless: Vec<u8> = lossless
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<u8>>()
        .into_iter()
        .collect();
    format!(
        "# written by stack-sim: the stack's lossless (PFC) priorities\n[lossless]\npriorities = {lossless:?}\nxoff_bytes = {xoff}\nxon_bytes = {xon}\nheadroom_bytes = {headroom}\n"
    )
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
    /// No stack link between these units.
    #[error("no stack link between units {0} and {1}")]
    NoLink(u8, u8),
    /// Fewer parallel links between these units than the index asked for.
    #[error(
        "no stack link {x}-{y}/{index}: units {x} and {y} have {count} link(s), numbered from 1"
    )]
    NoLinkIndex {
        /// One unit.
        x: u8,
        /// The other.
        y: u8,
        /// The index asked for.
        index: u8,
        /// How many links they have.
        count: usize,
    },
    /// The stack was launched without relays, so its links cannot be cut or degraded.
    #[error("this stack has no link relays (launch it with relays to cut or degrade links)")]
    NoRelays,
    /// The `netns` backend needs root.
    #[error("the netns backend needs root (network namespaces, AF_PACKET ports)")]
    NeedsRoot,
    /// Setting up a host namespace failed.
    #[error("netns: {0}")]
    Netns(String),
    /// No free loopback /24 for the stack's addresses.
    #[error("no free loopback /24 for the stack (every candidate's ports are taken)")]
    NoAddresses,
}

/// A front port of a unit, seen from the host cabled to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Front ports (their UDP addresses are unused on the `netns` backend).
    pub front: Vec<FrontPort>,
    /// On the `netns` backend: the host namespace of each front port.
    pub netns: Vec<NetnsHost>,
    /// The dataplane daemon.
    pub dataplaned: Daemon,
    /// The control-plane daemon.
    pub stackd: Daemon,
}

/// A running virtual stack. Dropping it kills every process it started (unless
/// [`Stack::detach`]ed) and stops its relays.
#[derive(Debug)]
pub struct Stack {
    /// The units, unit 1 first.
    pub units: Vec<Unit>,
    /// The stack's directory.
    pub dir: PathBuf,
    /// How it was launched.
    pub topology: Topology,
    /// Its stack cables.
    pub links: Vec<StackLink>,
    /// One relay per link (same order) when launched with relays.
    pub relays: Vec<LinkRelay>,
    /// The cable process owning the relays (launched with [`LaunchSpec::cable_process`]).
    pub cables: Option<Daemon>,
    /// Line rate of the front ports, bits per second.
    pub front_speed_bps: u64,
    /// How hosts are attached.
    pub backend: Backend,
    /// Leave the host namespaces when dropped ([`Stack::detach`]).
    detached: bool,
}

static STACKS: AtomicU8 = AtomicU8::new(0);

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let what = what.into();
    move |source| LaunchError::Io { what, source }
}

/// A loopback /24 whose first unit's stack port and first host are free, starting from one
/// derived from the process id and a per-process counter.
fn free_net() -> Result<[u8; 3], LaunchError> {
    let pid = std::process::id();
    for _ in 0..256 {
        let net = [
            127,
            100 + (pid % 100) as u8,
            STACKS.fetch_add(1, Ordering::Relaxed),
        ];
        let free = |host: u8, port: u16| {
            UdpSocket::bind((Ipv4Addr::new(net[0], net[1], net[2], host), port)).is_ok()
        };
        if free(1, 30001) && free(101, 31001) && free(200, 32000) {
            return Ok(net);
        }
    }
    Err(LaunchError::NoAddresses)
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
        if !(1..=8).contains(&spec.front_ports) {
            return Err(LaunchError::Spec(format!(
                "front ports: {}: 1 to 8 per unit",
                spec.front_ports
            )));
        }
        for &(a, b) in &spec.dual_homed {
            if a == b || !(1..=spec.units).contains(&a) || !(1..=spec.units).contains(&b) {
                return Err(LaunchError::Spec(format!(
                    "dual-homed server {a}-{b}: two different units of this stack (1 to {})",
                    spec.units
                )));
            }
        }
        if spec.dual_homed.len() > 8 {
            return Err(LaunchError::Spec(format!(
                "dual-homed servers: {}: at most 8",
                spec.dual_homed.len()
            )));
        }
        for bin in ["dataplaned", "stackd"] {
            let path = spec.bin_dir.join(bin);
            if !path.exists() {
                return Err(LaunchError::MissingBinary { path });
            }
        }
        if spec.backend == Backend::Netns && !running_as_root() {
            return Err(LaunchError::NeedsRoot);
        }
        let net = free_net()?;
        let tag = format!("{:02x}{:02x}", net[1], net[2]);
        let ip = |host: u8| Ipv4Addr::new(net[0], net[1], net[2], host);
        std::fs::create_dir_all(&spec.dir).map_err(io(format!("create {}", spec.dir.display())))?;
        let n = spec.units;
        let stack_config = spec.dir.join("stack.toml");
        if !spec.lossless.is_empty() {
            std::fs::write(&stack_config, lossless_stack_config(&spec.lossless))
                .map_err(io(format!("write {}", stack_config.display())))?;
        }
        let links = cabling(spec, ip);
        // Where each stack port sends: its peer, its relay, or nowhere (an uncabled end).
        let peer_of = |unit: u8, port: u8| -> SocketAddr {
            for l in &links {
                if (l.a.unit, l.a.port) == (unit, port) {
                    return l.relay.map_or(l.b.addr, |r| r.0);
                }
                if (l.b.unit, l.b.port) == (unit, port) {
                    return l.relay.map_or(l.a.addr, |r| r.1);
                }
            }
            // Not cabled: hellos go to an address nobody listens on.
            SocketAddr::new(ip(250).into(), 9)
        };
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
            // The hosts' front ports, then the dual-homed servers' NICs on this unit; on
            // `netns`, each with the namespace it leads into.
            let netns_backend = spec.backend == Backend::Netns;
            let mut hosts: Vec<(u8, Option<NetnsHost>)> = (1..=spec.front_ports)
                .map(|f| (f, netns_backend.then(|| NetnsHost::new(&tag, u, f))))
                .collect();
            let servers = spec
                .dual_homed
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| *a == u || *b == u);
            for (k, (n, &(a, b))) in servers.enumerate() {
                let f = spec.front_ports + 1 + k as u8;
                // eth0 on the lower unit, whose namespace is made first.
                let nic = u8::from(u != a.min(b));
                hosts.push((
                    f,
                    netns_backend.then(|| NetnsHost::server(&tag, n as u8 + 1, nic, f)),
                ));
            }
            let mut front = Vec::new();
            let mut netns = Vec::new();
            for (f, host) in hosts {
                let port = FrontPort {
                    port: f,
                    switch: SocketAddr::new(ip(u).into(), 31000 + u16::from(f)),
                    host: SocketAddr::new(ip(100 + u).into(), 31000 + u16::from(f)),
                };
                dp_args.push("--port".into());
                match host {
                    Some(host) => {
                        dp_args.push(format!(
                            "0/{f},{},afpacket,{}",
                            spec.front_speed_bps, host.port_if
                        ));
                        netns.push(host);
                    }
                    None => dp_args.push(format!(
                        "0/{f},{},udp,{},{}",
                        spec.front_speed_bps, port.switch, port.host
                    )),
                }
                front.push(port);
            }
            for p in 1..=2 * spec.links {
                let local = stack_port_addr(ip(u), p);
                dp_args.push("--port".into());
                dp_args.push(format!("1/{p},10G,udp,{local},{}", peer_of(u, p)));
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
            if !spec.lossless.is_empty() {
                sd_args.push("--stack-config".into());
                sd_args.push(stack_config.display().to_string());
            }
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
                )
                .in_own_group(spec.outlive_launcher),
                stackd: Daemon::new(
                    "stackd",
                    u,
                    spec.bin_dir.join("stackd"),
                    sd_args,
                    env.to_vec(),
                    dir.join("stackd.log"),
                    stackd_socket.clone(),
                )
                .in_own_group(spec.outlive_launcher),
                dir,
                dataplane_socket,
                stackd_socket,
                front,
                netns,
            });
        }
        let mut relays = Vec::new();
        if spec.cable_process.is_none() {
            for (i, l) in links.iter().enumerate() {
                if l.relay.is_some() {
                    relays.push(LinkRelay::start(l, spec.seed.wrapping_add(i as u64))?);
                }
            }
        }
        let cables = spec.cable_process.as_ref().map(|bin| {
            Daemon::new(
                "stack-sim",
                0,
                bin.clone(),
                vec![
                    "cables".into(),
                    "--dir".into(),
                    spec.dir.display().to_string(),
                    "--seed".into(),
                    spec.seed.to_string(),
                ],
                vec![("RUST_LOG".to_string(), spec.log_filter.clone())],
                spec.dir.join(cables::CABLES_LOG),
                spec.dir.join(cables::CABLES_SOCKET),
            )
            .in_own_group(spec.outlive_launcher)
        });
        let mut stack = Stack {
            units,
            dir: spec.dir.clone(),
            topology: spec.topology,
            links,
            relays,
            cables,
            front_speed_bps: spec.front_speed_bps,
            backend: spec.backend,
            detached: false,
        };
        // Recorded before anything is created, so `down` finds it even after a crash.
        stack.write_pids()?;
        // The cable process reads the links from `stack.json`, just written.
        if let Some(c) = stack.cables.as_mut() {
            c.start()?;
            stack.write_pids()?;
            if let Some(c) = stack.cables.as_mut() {
                c.wait_serving(Duration::from_secs(10))?;
            }
        }
        for u in &stack.units {
            for h in &u.netns {
                h.create()?;
            }
        }
        for u in &mut stack.units {
            u.dataplaned.start()?;
        }
        stack.write_pids()?;
        for u in &mut stack.units {
            u.dataplaned.wait_serving(Duration::from_secs(10))?;
        }
        for u in &mut stack.units {
            u.stackd.start()?;
        }
        stack.write_pids()?;
        for u in &mut stack.units {
            u.stackd.wait_serving(Duration::from_secs(10))?;
        }
        Ok(stack)
    }

    /// Unit `n`.
    pub fn unit(&mut self, n: u8) -> Result<&mut Unit, LaunchError> {
        self.units
            .iter_mut()
            .find(|u| u.number == n)
            .ok_or(LaunchError::NoUnit(n))
    }

    /// Every unit's stackd management socket, unit 1 first.
    pub fn stackd_sockets(&self) -> Vec<PathBuf> {
        self.units.iter().map(|u| u.stackd_socket.clone()).collect()
    }

    /// Kills unit `n`'s daemons with SIGKILL (a unit failure).
    pub fn kill_unit(&mut self, n: u8) -> Result<(), LaunchError> {
        let u = self.unit(n)?;
        u.stackd.kill();
        u.dataplaned.kill();
        self.write_pids()
    }

    /// Starts unit `n`'s daemons that are not running (its dataplane first) and waits until
    /// they serve.
    pub fn start_unit(&mut self, n: u8) -> Result<(), LaunchError> {
        let u = self.unit(n)?;
        u.dataplaned.start()?;
        u.dataplaned.wait_serving(Duration::from_secs(10))?;
        u.stackd.start()?;
        u.stackd.wait_serving(Duration::from_secs(10))?;
        self.write_pids()
    }

    /// The relays of every link between units `x` and `y` (a stack trunk), or of its
    /// `index`th parallel link only (1-based).
    pub fn relays_between(
        &self,
        x: u8,
        y: u8,
        index: Option<u8>,
    ) -> Result<Vec<&LinkRelay>, LaunchError> {
        let chosen = select_links(&self.links, x, y, index)?;
        if self.relays.len() != self.links.len() {
            return Err(LaunchError::NoRelays);
        }
        Ok(chosen.into_iter().map(|i| &self.relays[i]).collect())
    }

    /// Records every running daemon's pid in `DIR/pids` (one `unit daemon pid` per line) and
    /// the whole stack in `DIR/stack.json`, so a later `stack-sim down` or `status` finds it,
    /// also after a crash.
    pub fn write_pids(&mut self) -> Result<(), LaunchError> {
        let mut text = String::new();
        for u in &mut self.units {
            for d in [&mut u.dataplaned, &mut u.stackd] {
                if let Some(pid) = d.pid() {
                    text.push_str(&format!("{} {} {pid}\n", u.number, d.name()));
                }
            }
        }
        if let Some(pid) = self.cables.as_ref().and_then(Daemon::pid) {
            text.push_str(&format!("0 stack-sim {pid}\n"));
        }
        let path = self.dir.join("pids");
        std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
        self.state().write(&self.dir)
    }

    /// Lets every daemon run on after this handle is gone (and this process has exited):
    /// what `stack-sim up` does. Relays, which live in this process, stop.
    pub fn detach(mut self) {
        for u in &mut self.units {
            u.stackd.detach();
            u.dataplaned.detach();
        }
        if let Some(c) = self.cables.as_mut() {
            c.detach();
        }
        self.detached = true;
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
        if let Some(c) = self.cables.as_mut() {
            c.kill();
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
        if let Some(c) = self.cables.as_mut() {
            c.kill();
        }
        if !self.detached {
            for u in &self.units {
                for h in &u.netns {
                    h.delete();
                }
            }
        }
    }
}
