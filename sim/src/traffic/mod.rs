//! Traffic between the hosts of a launched stack: every front port gets a host (a UDP socket
//! at its end of the cable, run on a thread of this process) that sends numbered flows, honours
//! PFC, and counts what it receives.
//!
//! A flow frame is an Ethernet frame from the sending host's MAC to the receiving host's
//! (EtherType 0x88B6, untagged for priority 0, else tagged VLAN 1 with the priority as PCP);
//! its payload starts with the magic [`FLOW_MAGIC`], the flow id (u32) and the sequence
//! number (u64), big endian, padded to the flow's frame size. Per flow the receiver counts
//! frames, reordering (a sequence number below the highest seen) and the longest gap between
//! two frames; loss is sent − received once the traffic has drained.

mod host;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::launch::Stack;

/// EtherType of flow frames (IEEE local experimental 2).
pub const FLOW_ETHERTYPE: u16 = 0x88B6;
/// First payload bytes of a flow frame.
pub const FLOW_MAGIC: [u8; 4] = *b"SSTF";
/// First payload bytes of a host's announcement (a broadcast that teaches the stack where the
/// host is).
pub const ANNOUNCE_MAGIC: [u8; 4] = *b"SSTA";

/// Why traffic could not be started.
#[derive(Debug, Error)]
pub enum TrafficError {
    /// A host address could not be bound.
    #[error("host {host}: cannot bind {addr}: {source}")]
    Bind {
        /// The host.
        host: HostId,
        /// Its address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A flow names a host the stack does not have.
    #[error("flow {flow}: no host {host} in this stack")]
    NoHost {
        /// The flow.
        flow: String,
        /// The host.
        host: HostId,
    },
    /// A flow's parameters are out of range.
    #[error("flow {flow}: {message}")]
    Flow {
        /// The flow.
        flow: String,
        /// What is wrong.
        message: String,
    },
    /// Two flows have the same name.
    #[error("flow {0}: a flow of that name already runs")]
    Duplicate(String),
    /// On the `netns` backend: the host's socket could not be opened inside its namespace.
    #[error("host {host}: cannot open {interface} in network namespace {namespace}: {message}")]
    Namespace {
        /// The host.
        host: HostId,
        /// Its namespace.
        namespace: String,
        /// The interface.
        interface: String,
        /// Why.
        message: String,
    },
    /// A host thread could not be started.
    #[error("cannot start a host thread: {0}")]
    Thread(std::io::Error),
}

/// A host: the one cabled to front port `0/port` of `unit` (written `unit/port`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostId {
    /// The unit (as launched).
    pub unit: u8,
    /// The front port.
    pub port: u8,
}

impl HostId {
    /// The host's MAC address: `02:48:00:00:<unit>:<port>`.
    pub fn mac(&self) -> [u8; 6] {
        [0x02, 0x48, 0, 0, self.unit, self.port]
    }
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.unit, self.port)
    }
}

impl std::str::FromStr for HostId {
    type Err = String;

    /// `U/P` (unit, front port) or `U` (front port 1).
    fn from_str(s: &str) -> Result<HostId, String> {
        let bad = || format!("'{s}' is not a host (UNIT/PORT, e.g. 2/1, or UNIT)");
        let (u, p) = s.split_once('/').unwrap_or((s, "1"));
        let unit: u8 = u.trim().parse().map_err(|_| bad())?;
        let port: u8 = p.trim().parse().map_err(|_| bad())?;
        if !(1..=6).contains(&unit) || !(1..=8).contains(&port) {
            return Err(bad());
        }
        Ok(HostId { unit, port })
    }
}

/// One flow: numbered frames from one host to another at a fixed rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowSpec {
    /// Its name in reports.
    pub name: String,
    /// The sender.
    pub from: HostId,
    /// The receiver.
    pub to: HostId,
    /// Frames per second (1..=200000).
    pub rate_fps: u32,
    /// Bytes per frame without FCS (64..=1518).
    pub frame_size: usize,
    /// Priority (PCP), 0..=7.
    pub priority: u8,
}

/// How a named traffic item becomes flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// One flow; with a multi-NIC (dual-homed) sender or receiver, one flow per pair of NICs
    /// (SMB Multichannel style: every path in use).
    Pair {
        /// The sender's NICs.
        from: Vec<HostId>,
        /// The receiver's NICs.
        to: Vec<HostId>,
    },
    /// Every sender to one receiver.
    Incast {
        /// The senders.
        from: Vec<HostId>,
        /// The receiver.
        to: HostId,
    },
    /// Every host to every other.
    AllToAll {
        /// The hosts.
        hosts: Vec<HostId>,
    },
}

/// The flows of `pattern`, named `name` (a pair) or `name:FROM>TO`.
pub fn expand(
    name: &str,
    pattern: &Pattern,
    rate_fps: u32,
    frame_size: usize,
    priority: u8,
) -> Vec<FlowSpec> {
    let flow = |from: HostId, to: HostId, single: bool| FlowSpec {
        name: if single {
            name.to_string()
        } else {
            format!("{name}:{from}>{to}")
        },
        from,
        to,
        rate_fps,
        frame_size,
        priority,
    };
    match pattern {
        Pattern::Pair { from, to } => {
            let single = from.len() == 1 && to.len() == 1;
            from.iter()
                .flat_map(|a| to.iter().map(move |b| (*a, *b)))
                .map(|(a, b)| flow(a, b, single))
                .collect()
        }
        Pattern::Incast { from, to } => from.iter().map(|f| flow(*f, *to, false)).collect(),
        Pattern::AllToAll { hosts } => hosts
            .iter()
            .flat_map(|a| hosts.iter().filter(move |b| *b != a).map(move |b| (*a, *b)))
            .map(|(a, b)| flow(a, b, false))
            .collect(),
    }
}

/// What happened to one flow.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FlowReport {
    /// The flow's name.
    pub name: String,
    /// Sender and receiver (`unit/port`).
    pub from: String,
    /// The receiver.
    pub to: String,
    /// Its priority.
    pub priority: u8,
    /// Frames sent (a host paused by PFC sends fewer).
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// sent − received.
    pub lost: u64,
    /// Frames that came after one with a higher sequence number.
    pub reordered: u64,
    /// The most consecutive frames lost (by sequence number, at the start, in the middle
    /// or at the end of the flow).
    pub longest_loss_run: u64,
    /// The longest interruption of the flow, milliseconds: (`longest_loss_run` + 1) frame
    /// intervals. Counted in frames, so a sender that stalls (a busy machine) does not make
    /// a gap.
    pub longest_gap_ms: f64,
    /// The longest wall-clock time between two received frames, milliseconds (includes the
    /// sender's own stalls).
    pub longest_silence_ms: f64,
    /// When that silence began, milliseconds since the hosts started.
    pub longest_silence_at_ms: f64,
}

/// PFC as one host saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HostPfc {
    /// The host.
    pub host: String,
    /// PFC frames received from its switch.
    pub pfc_frames: u64,
    /// Time it held a priority paused, summed over priorities, milliseconds.
    pub paused_ms: f64,
}

/// Counters of one flow, shared by its sender and receiver threads.
#[derive(Clone, Debug, Default)]
struct FlowCounters {
    sent: u64,
    first_sent: Option<Instant>,
    last_sent: Option<Instant>,
    received: u64,
    reordered: u64,
    max_seq: Option<u64>,
    longest_run: u64,
    last_rx: Option<Instant>,
    longest_gap: Duration,
    longest_gap_at: Option<Instant>,
}

/// Counters of every flow and host.
#[derive(Debug, Default)]
struct Stats {
    flows: BTreeMap<u32, FlowCounters>,
    pfc: BTreeMap<HostId, (u64, Duration)>,
}

type Shared = Arc<Mutex<Stats>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A command to a host thread.
enum HostCommand {
    Start(u32, FlowSpec),
    Stop(u32),
    Announce,
}

struct HostHandle {
    id: HostId,
    commands: mpsc::Sender<HostCommand>,
    thread: Option<JoinHandle<()>>,
}

/// The hosts of a stack and the flows between them.
pub struct Traffic {
    hosts: Vec<HostHandle>,
    stats: Shared,
    flows: Vec<(u32, FlowSpec, bool)>,
    epoch: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field(
                "hosts",
                &self.hosts.iter().map(|h| h.id).collect::<Vec<_>>(),
            )
            .field("flows", &self.flows.len())
            .finish()
    }
}

/// Opens an AF_PACKET socket on `interface` inside the network namespace `namespace` (as
/// `ip netns` names it): a short-lived thread enters the namespace (`setns`) and opens it
/// there; the socket stays bound to that namespace's interface wherever it is used.
fn open_in_namespace(
    host: HostId,
    namespace: &str,
    interface: &str,
) -> Result<Box<dyn dataplane::backend::PortBackend>, TrafficError> {
    let fail = |message: String| TrafficError::Namespace {
        host,
        namespace: namespace.to_string(),
        interface: interface.to_string(),
        message,
    };
    let (ns, ifname) = (namespace.to_string(), interface.to_string());
    let opened = std::thread::Builder::new()
        .name(format!("netns {ns}"))
        .spawn(
            move || -> Result<Box<dyn dataplane::backend::PortBackend>, String> {
                let path = format!("/run/netns/{ns}");
                let f = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&f),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| format!("setns: {e}"))?;
                dataplane::backend::AfPacketBackend::open(&ifname)
                    .map(|b| Box::new(b) as Box<dyn dataplane::backend::PortBackend>)
                    .map_err(|e| e.to_string())
            },
        )
        .map_err(TrafficError::Thread)?
        .join()
        .map_err(|_| fail("the namespace thread panicked".into()))?;
    opened.map_err(fail)
}

impl Traffic {
    /// A host on every front port of `stack`, each on its own thread: on the `udp` backend
    /// the host end of the port's UDP cable, on `netns` an AF_PACKET socket on the `eth0` of
    /// the port's host namespace (so the frames cross the veth and the `afpacket` port).
    pub fn attach(stack: &Stack) -> Result<Traffic, TrafficError> {
        let stats: Shared = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut hosts = Vec::new();
        for u in &stack.units {
            for (i, f) in u.front.iter().enumerate() {
                let id = HostId {
                    unit: u.number,
                    port: f.port,
                };
                let endpoint = match u.netns.get(i) {
                    Some(ns) if stack.backend == crate::launch::Backend::Netns => {
                        host::Endpoint::Packet(open_in_namespace(id, &ns.namespace, &ns.host_if)?)
                    }
                    _ => {
                        let sock = UdpSocket::bind(f.host)
                            .and_then(|s| s.set_nonblocking(true).map(|()| s))
                            .map_err(|source| TrafficError::Bind {
                                host: id,
                                addr: f.host,
                                source,
                            })?;
                        host::Endpoint::Udp {
                            sock,
                            switch: f.switch,
                        }
                    }
                };
                let (tx, rx) = mpsc::channel();
                let host = host::Host::new(id, endpoint, stack.front_speed_bps, rx);
                let (stats, stop) = (stats.clone(), stop.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("host {id}"))
                    .spawn(move || host.run(&stats, &stop))
                    .map_err(TrafficError::Thread)?;
                hosts.push(HostHandle {
                    id,
                    commands: tx,
                    thread: Some(thread),
                });
            }
        }
        Ok(Traffic {
            hosts,
            stats,
            flows: Vec::new(),
            epoch: Instant::now(),
            stop,
        })
    }

    /// The hosts, unit by unit.
    pub fn hosts(&self) -> Vec<HostId> {
        self.hosts.iter().map(|h| h.id).collect()
    }

    /// Every host broadcasts one announcement, so the stack learns where it is.
    pub fn announce(&self) {
        for h in &self.hosts {
            let _ = h.commands.send(HostCommand::Announce);
        }
    }

    fn host(&self, id: HostId) -> Option<&HostHandle> {
        self.hosts.iter().find(|h| h.id == id)
    }

    /// Starts `flows` (all checked first: nothing starts if one is bad).
    pub fn start(&mut self, flows: &[FlowSpec]) -> Result<(), TrafficError> {
        for f in flows {
            for h in [f.from, f.to] {
                if self.host(h).is_none() {
                    return Err(TrafficError::NoHost {
                        flow: f.name.clone(),
                        host: h,
                    });
                }
            }
            let bad = |message: String| TrafficError::Flow {
                flow: f.name.clone(),
                message,
            };
            if f.from == f.to {
                return Err(bad("sender and receiver are the same host".into()));
            }
            if !(1..=200_000).contains(&f.rate_fps) {
                return Err(bad(format!("rate {} fps: 1 to 200000", f.rate_fps)));
            }
            if !(64..=1518).contains(&f.frame_size) {
                return Err(bad(format!(
                    "frame size {}: 64 to 1518 bytes",
                    f.frame_size
                )));
            }
            if f.priority > 7 {
                return Err(bad(format!("priority {}: 0 to 7", f.priority)));
            }
            if self.flows.iter().any(|(_, g, _)| g.name == f.name)
                || flows.iter().filter(|g| g.name == f.name).count() > 1
            {
                return Err(TrafficError::Duplicate(f.name.clone()));
            }
        }
        for f in flows {
            let id = self.flows.len() as u32;
            lock(&self.stats).flows.insert(id, FlowCounters::default());
            if let Some(h) = self.host(f.from) {
                let _ = h.commands.send(HostCommand::Start(id, f.clone()));
            }
            self.flows.push((id, f.clone(), true));
        }
        Ok(())
    }

    /// Stops the named flows (every running flow when `names` is empty).
    pub fn stop(&mut self, names: &[String]) {
        for (id, f, running) in &mut self.flows {
            if *running && (names.is_empty() || names.contains(&f.name)) {
                if let Some(h) = self.hosts.iter().find(|h| h.id == f.from) {
                    let _ = h.commands.send(HostCommand::Stop(*id));
                }
                *running = false;
            }
        }
    }

    /// The flows started so far.
    pub fn flows(&self) -> Vec<FlowSpec> {
        self.flows.iter().map(|(_, f, _)| f.clone()).collect()
    }

    /// Every flow's figures now (stop and let the traffic drain first for final ones).
    pub fn report(&self) -> Vec<FlowReport> {
        let stats = lock(&self.stats);
        let ms = |t: Option<Instant>| {
            t.map_or(0.0, |t| {
                t.saturating_duration_since(self.epoch).as_secs_f64() * 1e3
            })
        };
        self.flows
            .iter()
            .map(|(id, f, _)| {
                let c = stats.flows.get(id).cloned().unwrap_or_default();
                // Frames lost at the end (after the highest received), or all of them.
                let tail = match c.max_seq {
                    Some(m) => c.sent.saturating_sub(m + 1),
                    None => c.sent,
                };
                let run = c.longest_run.max(tail);
                let interval_ms = 1e3 / f64::from(f.rate_fps.max(1));
                FlowReport {
                    name: f.name.clone(),
                    from: f.from.to_string(),
                    to: f.to.to_string(),
                    priority: f.priority,
                    sent: c.sent,
                    received: c.received,
                    lost: c.sent.saturating_sub(c.received),
                    reordered: c.reordered,
                    longest_loss_run: run,
                    longest_gap_ms: (run + 1) as f64 * interval_ms,
                    longest_silence_ms: c.longest_gap.as_secs_f64() * 1e3,
                    longest_silence_at_ms: ms(c.longest_gap_at),
                }
            })
            .collect()
    }

    /// PFC per host that received any.
    pub fn pfc(&self) -> Vec<HostPfc> {
        lock(&self.stats)
            .pfc
            .iter()
            .map(|(h, (n, d))| HostPfc {
                host: h.to_string(),
                pfc_frames: *n,
                paused_ms: d.as_secs_f64() * 1e3,
            })
            .collect()
    }

    /// Milliseconds since the hosts started.
    pub fn elapsed_ms(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * 1e3
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in &mut self.hosts {
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A table of flow reports.
pub fn flow_table(flows: &[FlowReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>5} {:>5} {:>3} {:>8} {:>8} {:>7} {:>9} {:>10}",
        "flow", "from", "to", "pri", "sent", "received", "lost", "reordered", "gap (ms)"
    );
    for f in flows {
        let _ = writeln!(
            out,
            "{:<22} {:>5} {:>5} {:>3} {:>8} {:>8} {:>7} {:>9} {:>10.1}",
            f.name,
            f.from,
            f.to,
            f.priority,
            f.sent,
            f.received,
            f.lost,
            f.reordered,
            f.longest_gap_ms
        );
    }
    out
}
