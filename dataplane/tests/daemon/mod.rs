//! Shared harness of the `dataplaned` integration tests: start daemons on UDP virtual cables
//! (or AF_PACKET interfaces), talk to them over their gRPC Unix socket, play hosts at the far
//! ends of their front ports, and wait for things with deadlines — never with bare sleeps.
//!
//! Every daemon runs in its own temporary directory (socket, stderr log); a failing wait
//! panics with what it waited for and the daemon logs. Daemons are SIGKILLed on drop.
#![allow(dead_code, missing_docs)]

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane::wire::{L2Header, MacAddr};
use proto::dataplane::v1 as pb;
use proto::dataplane::v1::dataplane_client::DataplaneClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

pub use pb::update::Entity;

/// Test EtherType (IEEE local experimental 2).
pub const ETHERTYPE_TEST: u16 = 0x88b6;
pub const BROADCAST: MacAddr = MacAddr(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
/// Default bound of every wait.
pub const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Addresses

/// UDP ports handed out by this process, so that two tests never get the same one.
static RESERVED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static NEXT: AtomicU16 = AtomicU16::new(0);

/// A free UDP address on 127.0.0.1 for a daemon to bind. Candidates come from 20000..32000,
/// below Linux's ephemeral range (so the kernel does not hand them to anyone binding port 0),
/// starting at a pid-dependent offset, each checked free by binding it, never handed out twice
/// by this process. The tiny race with another process binding it in between is accepted.
pub fn free_addr() -> SocketAddr {
    let mut reserved = RESERVED.lock().unwrap();
    let reserved = reserved.get_or_insert_with(HashSet::new);
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % 6000) as u16 * 2,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..12_000 {
        let port = 20_000 + NEXT.fetch_add(1, Ordering::SeqCst) % 12_000;
        if reserved.contains(&port) {
            continue;
        }
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        if UdpSocket::bind(addr).is_ok() {
            reserved.insert(port);
            return addr;
        }
    }
    panic!("no free UDP port on 127.0.0.1 in 20000..32000");
}

/// A bound UDP socket on 127.0.0.1 (a host, or a relay end); the kernel picks the port.
pub fn bound_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    s
}

// ---------------------------------------------------------------------------------------------
// Frames

/// A host MAC (locally administered unicast): 02:00:00:00:UU:NN.
pub fn mac(unit: u8, n: u8) -> MacAddr {
    MacAddr(0x02, 0, 0, 0, unit, n)
}

pub fn mac_u64(m: MacAddr) -> u64 {
    dataplane::wire::mac_to_u64(m)
}

/// A test frame: Ethernet header (untagged, [`ETHERTYPE_TEST`]), then `tag` (u8) and `seq`
/// (u32, big-endian), padded to 60 bytes.
pub fn frame(dst: MacAddr, src: MacAddr, tag: u8, seq: u32) -> Vec<u8> {
    let hdr = L2Header {
        dst,
        src,
        vlan: None,
        ethertype: ETHERTYPE_TEST,
        payload_offset: 0,
    };
    let mut buf = vec![0u8; 60];
    let n = hdr.emit(&mut buf).expect("header fits");
    buf[n] = tag;
    buf[n + 1..n + 5].copy_from_slice(&seq.to_be_bytes());
    buf
}

/// A received test frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Got {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub tag: u8,
    pub seq: u32,
}

/// Parses a test frame; `None` for anything else (hellos never reach hosts, but be safe).
pub fn parse(buf: &[u8]) -> Option<Got> {
    let h = L2Header::parse(buf).ok()?;
    if h.ethertype != ETHERTYPE_TEST || buf.len() < h.payload_offset + 5 {
        return None;
    }
    let p = &buf[h.payload_offset..];
    Some(Got {
        dst: h.dst,
        src: h.src,
        tag: p[0],
        seq: u32::from_be_bytes([p[1], p[2], p[3], p[4]]),
    })
}

// ---------------------------------------------------------------------------------------------
// Hosts

/// A host at the far end of a front port's UDP cable: bound to the port's `peer` address,
/// sending to its `local` address.
pub struct Host {
    pub name: String,
    pub mac: MacAddr,
    pub sock: UdpSocket,
    /// The daemon port's address (where the host sends).
    pub port_addr: SocketAddr,
}

impl Host {
    pub fn new(name: &str, mac: MacAddr) -> Host {
        Host {
            name: name.into(),
            mac,
            sock: bound_socket(),
            port_addr: free_addr(),
        }
    }

    /// The `--port` spec of the daemon side of this host's cable.
    pub fn port_spec(&self, port: &str, speed: &str) -> String {
        format!(
            "{port},{speed},udp,{},{}",
            self.port_addr,
            self.sock.local_addr().unwrap()
        )
    }

    pub fn send_raw(&self, bytes: &[u8]) {
        self.sock
            .send_to(bytes, self.port_addr)
            .unwrap_or_else(|e| panic!("{}: send: {e}", self.name));
    }

    pub fn send(&self, dst: MacAddr, tag: u8, seq: u32) {
        self.send_raw(&frame(dst, self.mac, tag, seq));
    }

    /// The next test frame, or `None` at the deadline.
    /// Receives on a thread of its own (from a clone of this host's socket) every frame tagged
    /// `tag`, until the one numbered `last` arrives or `within` has passed; returns their
    /// sequence numbers with their arrival times, in arrival order.
    pub fn spawn_receiver(
        &self,
        tag: u8,
        last: u32,
        within: Duration,
    ) -> std::thread::JoinHandle<Vec<(u32, Instant)>> {
        let host = Host {
            name: self.name.clone(),
            mac: self.mac,
            sock: self.sock.try_clone().expect("clone the host socket"),
            port_addr: self.port_addr,
        };
        std::thread::spawn(move || {
            let deadline = Instant::now() + within;
            let mut got = Vec::new();
            while got.last().map(|(s, _)| *s) != Some(last) {
                match host.recv_until(deadline) {
                    Some(g) if g.tag == tag => got.push((g.seq, Instant::now())),
                    Some(_) => {}
                    None => break,
                }
            }
            got
        })
    }

    /// Sends `frames` numbered frames tagged `tag` to `dst` at `fps`, paced, on a thread of its
    /// own (from a clone of this host's socket); `hook` runs just before frame `at` goes out.
    pub fn spawn_paced_sender(
        &self,
        dst: MacAddr,
        tag: u8,
        frames: u32,
        fps: u64,
        at: u32,
        hook: impl FnOnce() + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        let sock = self.sock.try_clone().expect("clone the host socket");
        let (src, port_addr) = (self.mac, self.port_addr);
        std::thread::spawn(move || {
            let mut hook = Some(hook);
            let start = Instant::now();
            for seq in 0..frames {
                let due = start + Duration::from_micros(u64::from(seq) * 1_000_000 / fps);
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
                if seq == at {
                    if let Some(h) = hook.take() {
                        h();
                    }
                }
                sock.send_to(&frame(dst, src, tag, seq), port_addr)
                    .expect("send");
            }
        })
    }

    pub fn recv_until(&self, deadline: Instant) -> Option<Got> {
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Some(g) = parse(&buf[..n]) {
                        return Some(g);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("{}: recv: {e}", self.name),
            }
        }
        None
    }

    /// Every test frame up to and including the first one `is_marker` accepts (the marker is
    /// the last element). Panics at the deadline.
    pub fn recv_through(&self, what: &str, is_marker: impl Fn(&Got) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        loop {
            match self.recv_until(deadline) {
                Some(g) => {
                    let done = is_marker(&g);
                    got.push(g);
                    if done {
                        return got;
                    }
                }
                None => panic!(
                    "{}: no {what} within {WAIT:?}; got before: {got:?}",
                    self.name
                ),
            }
        }
    }

    /// Discards whatever is queued.
    pub fn drain(&self) {
        let mut buf = [0u8; 2048];
        self.sock.set_nonblocking(true).unwrap();
        while self.sock.recv_from(&mut buf).is_ok() {}
        self.sock.set_nonblocking(false).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Daemons

static DAEMON_SEQ: AtomicU32 = AtomicU32::new(0);

/// A running `dataplaned`. SIGKILLed on drop; its log is printed if the test is failing.
pub struct Daemon {
    pub unit: u8,
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// A fresh directory under the system temp dir, unique per test process and call.
pub fn temp_dir(what: &str) -> PathBuf {
    let n = DAEMON_SEQ.fetch_add(1, Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("dataplaned-test-{}-{n}-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dataplaned")
}

impl Daemon {
    /// Starts unit `unit` with `ports` (`--port` specs) and `extra` arguments; returns once its
    /// gRPC socket accepts connections.
    pub fn start(unit: u8, ports: &[String], extra: &[&str]) -> Daemon {
        let dir = temp_dir(&format!("unit{unit}"));
        let socket = dir.join("dataplane.sock");
        let log = dir.join("dataplaned.log");
        let mut cmd = Command::new(bin());
        cmd.arg("--unit")
            .arg(unit.to_string())
            .arg("--grpc-socket")
            .arg(&socket);
        for p in ports {
            cmd.arg("--port").arg(p);
        }
        cmd.args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let child = cmd.spawn().expect("spawn dataplaned");
        let mut d = Daemon {
            unit,
            child: Some(child),
            dir,
            socket,
            log,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if std::os::unix::net::UnixStream::connect(&d.socket).is_ok() {
                return d;
            }
            if let Some(status) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "dataplaned unit {unit} exited ({status}) before serving:\n{}",
                    d.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "dataplaned unit {unit} did not serve {} within {WAIT:?}:\n{}",
                    d.socket.display(),
                    d.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Panics with `msg` and this daemon's log.
    pub fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!(
            "{msg}\n--- dataplaned unit {} log ---\n{}",
            self.unit,
            self.log_text()
        )
    }

    pub async fn client(&self) -> Client {
        connect(&self.socket).await
    }

    /// Sends SIGTERM (through kill(1): the tests are free of `unsafe`).
    pub fn sigterm(&self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit; its status, or `None` at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- dataplaned unit {} log ({}) ---\n{}",
                self.unit,
                self.log.display(),
                self.log_text()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gRPC

pub type Client = DataplaneClient<Channel>;

/// A channel over the Unix socket at `path`.
pub async fn channel(path: &Path) -> Channel {
    let path = path.to_path_buf();
    Endpoint::try_from("http://[::]:50051")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .expect("connect over the Unix socket")
}

pub async fn connect(path: &Path) -> Client {
    DataplaneClient::new(channel(path).await)
}

pub fn port(slot: u32, port: u32) -> pb::PortRef {
    pb::PortRef { slot, port }
}

pub fn set(e: Entity) -> pb::Update {
    pb::Update {
        op: pb::update::Op::Set as i32,
        entity: Some(e),
    }
}

pub fn delete(e: Entity) -> pb::Update {
    pb::Update {
        op: pb::update::Op::Delete as i32,
        entity: Some(e),
    }
}

pub fn route(unit: u32, primary: pb::PortRef, backup: Option<pb::PortRef>) -> Entity {
    Entity::StackRoute(pb::StackRoute {
        unit,
        primary: Some(primary),
        backup,
    })
}

pub fn flood(ports: Vec<pb::PortRef>) -> Entity {
    Entity::FloodTree(pb::FloodTree { ports })
}

pub fn static_fdb(vid: u32, m: MacAddr, dest: pb::fdb_destination::Dest) -> Entity {
    Entity::Fdb(pb::StaticFdbEntry {
        vid,
        mac: mac_u64(m),
        dest: Some(pb::FdbDestination { dest: Some(dest) }),
    })
}

pub fn local(p: pb::PortRef) -> pb::fdb_destination::Dest {
    pb::fdb_destination::Dest::Local(p)
}

pub fn remote(unit: u32, port: u32) -> pb::fdb_destination::Dest {
    pb::fdb_destination::Dest::Remote(pb::RemotePort { unit, port })
}

pub async fn write(
    c: &mut Client,
    generation: u64,
    updates: Vec<pb::Update>,
) -> Result<u32, tonic::Status> {
    c.write(pb::WriteRequest {
        generation,
        updates,
    })
    .await
    .map(|r| r.into_inner().applied)
}

pub async fn read(c: &mut Client, include_learned: bool) -> pb::ReadResponse {
    c.read(pb::ReadRequest { include_learned })
        .await
        .expect("Read")
        .into_inner()
}

pub async fn counters(c: &mut Client) -> pb::CountersResponse {
    c.get_counters(pb::CountersRequest {})
        .await
        .expect("GetCounters")
        .into_inner()
}

pub fn port_counters(c: &pb::CountersResponse, p: pb::PortRef) -> pb::PortCounters {
    c.ports
        .iter()
        .find(|x| x.port == Some(p))
        .unwrap_or_else(|| panic!("no counters for port {p:?}"))
        .clone()
}

pub fn port_state(r: &pb::ReadResponse, p: pb::PortRef) -> pb::PortState {
    r.ports
        .iter()
        .find(|s| s.settings.as_ref().and_then(|s| s.port) == Some(p))
        .unwrap_or_else(|| panic!("no port {p:?} in Read"))
        .clone()
}

/// The learned or static entry for (vid, mac), if any.
pub fn fdb_entry(r: &pb::ReadResponse, vid: u32, m: MacAddr) -> Option<pb::FdbEntry> {
    r.fdb
        .iter()
        .find(|e| e.vid == vid && e.mac == mac_u64(m))
        .cloned()
}

pub fn dest_of(e: &pb::FdbEntry) -> pb::fdb_destination::Dest {
    e.dest
        .as_ref()
        .and_then(|d| d.dest)
        .expect("an FDB entry with a destination")
}

/// A Read with the clock-dependent fields (ages) zeroed, to compare two reads.
pub fn timeless(mut r: pb::ReadResponse) -> pb::ReadResponse {
    for e in &mut r.fdb {
        e.age_ms = 0;
    }
    r.fdb.sort_by_key(|e| (e.vid, e.mac));
    r
}

/// An open control session: the request side and the response stream.
pub struct Session {
    pub generation: u64,
    pub attached: pb::Attached,
    pub requests: mpsc::Sender<pb::SessionRequest>,
    pub responses: tonic::Streaming<pb::SessionResponse>,
    /// Responses read by [`Session::wait_for`] that it was not waiting for, oldest first.
    pub backlog: std::collections::VecDeque<pb::session_response::Msg>,
}

pub fn attach_msg(generation: u64) -> pb::SessionRequest {
    pb::SessionRequest {
        msg: Some(pb::session_request::Msg::Attach(pb::Attach {
            generation,
            client: format!("daemon test pid {}", std::process::id()),
            reconcile_timeout_ms: 0,
        })),
    }
}

/// Opens a session with `first` as its first message; the error status if refused.
pub async fn open_session(
    c: &mut Client,
    first: pb::SessionRequest,
) -> Result<
    (
        mpsc::Sender<pb::SessionRequest>,
        tonic::Streaming<pb::SessionResponse>,
    ),
    tonic::Status,
> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(first).await.expect("queue the first message");
    let resp = c.session(ReceiverStream::new(rx)).await?;
    Ok((tx, resp.into_inner()))
}

impl Session {
    /// Attaches with `generation`; waits for `Attached`.
    pub async fn attach(c: &mut Client, generation: u64) -> Result<Session, tonic::Status> {
        let (requests, mut responses) = open_session(c, attach_msg(generation)).await?;
        let first = tokio::time::timeout(WAIT, responses.message())
            .await
            .expect("Attached within the deadline")?
            .expect("a first response");
        let attached = match first.msg {
            Some(pb::session_response::Msg::Attached(a)) => a,
            other => panic!("first session response is not Attached: {other:?}"),
        };
        assert_eq!(attached.generation, generation);
        Ok(Session {
            generation,
            attached,
            requests,
            responses,
            backlog: Default::default(),
        })
    }

    pub async fn send(&self, msg: pb::session_request::Msg) {
        self.requests
            .send(pb::SessionRequest { msg: Some(msg) })
            .await
            .expect("session request stream open");
    }

    /// The first response (from the backlog, then the stream) that `want` accepts; the others
    /// stay in the backlog, in order. An error naming what was seen if the deadline passes or
    /// the stream ends.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut want: impl FnMut(&pb::session_response::Msg) -> Option<T>,
    ) -> Result<T, String> {
        if let Some((i, t)) = self
            .backlog
            .iter()
            .enumerate()
            .find_map(|(i, m)| want(m).map(|t| (i, t)))
        {
            self.backlog.remove(i);
            return Ok(t);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let seen = &mut self.backlog;
        loop {
            match tokio::time::timeout_at(deadline, self.responses.message()).await {
                Err(_) => {
                    return Err(format!(
                        "no {what} on the session within {timeout:?}; seen: {seen:?}"
                    ))
                }
                Ok(Err(status)) => {
                    return Err(format!(
                        "session ended ({status}) before {what}; seen: {seen:?}"
                    ))
                }
                Ok(Ok(None)) => return Err(format!("session ended before {what}; seen: {seen:?}")),
                Ok(Ok(Some(r))) => {
                    if let Some(m) = r.msg {
                        if let Some(t) = want(&m) {
                            return Ok(t);
                        }
                        seen.push_back(m);
                    }
                }
            }
        }
    }
}

/// A link event for `port` with `up`, if `m` is one.
pub fn link_event(
    m: &pb::session_response::Msg,
    p: pb::PortRef,
    up: bool,
) -> Option<pb::LinkEvent> {
    match m {
        pb::session_response::Msg::Event(pb::Event {
            kind: Some(pb::event::Kind::Link(l)),
        }) if l.port == Some(p) && l.up == up => Some(*l),
        _ => None,
    }
}

/// Polls `f` until it returns `Some`, every 5 ms, at most `timeout`.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(t) = f().await {
            return Some(t);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Two units on a stack cable

/// A UDP relay in the middle of a stack cable: end `a` faces one daemon port, end `b` the
/// other; frames go both ways until [`Relay::cut`].
pub struct Relay {
    pub a: SocketAddr,
    pub b: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Relays between daemon ports at `port_a` and `port_b`.
    pub fn new(port_a: SocketAddr, port_b: SocketAddr) -> Relay {
        let sa = bound_socket();
        let sb = bound_socket();
        let (a, b) = (sa.local_addr().unwrap(), sb.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let sa = Arc::new(sa);
        let sb = Arc::new(sb);
        let mut threads = Vec::new();
        for (from, to, dest) in [(sa.clone(), sb.clone(), port_b), (sb, sa, port_a)] {
            let (cut, stop) = (cut.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 10_000];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((n, _)) = from.recv_from(&mut buf) {
                        if !cut.load(Ordering::SeqCst) {
                            let _ = to.send_to(&buf[..n], dest);
                        }
                    }
                }
            }));
        }
        Relay {
            a,
            b,
            cut,
            stop,
            threads,
        }
    }

    pub fn cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Programs a unit of a two-unit stack: the route to the other unit and the flood tree.
pub fn stack_program(other: u32, primary: u32, backup: Option<u32>) -> Vec<pb::Update> {
    vec![
        set(route(other, port(1, primary), backup.map(|b| port(1, b)))),
        set(flood(vec![port(1, primary)])),
    ]
}

/// Units 1 and 2 joined by one stack cable (1/1 ↔ 1/1), each with two front ports with hosts:
/// A (1/0/1), C (1/0/2), B (2/0/1), D (2/0/2). Both programmed (route to the other unit via
/// 1/1, flood tree [1/1]) by sessions of generation 1; the stack link is up.
pub struct TwoUnits {
    pub u1: Daemon,
    pub u2: Daemon,
    pub a: Host,
    pub c: Host,
    pub b: Host,
    pub d: Host,
    pub c1: Client,
    pub c2: Client,
    pub s1: Session,
    pub s2: Session,
}

pub async fn two_units() -> TwoUnits {
    let (a, c) = (Host::new("A", mac(1, 1)), Host::new("C", mac(1, 2)));
    let (b, d) = (Host::new("B", mac(2, 1)), Host::new("D", mac(2, 2)));
    let (s1a, s2a) = (free_addr(), free_addr());
    let u1 = Daemon::start(
        1,
        &[
            a.port_spec("0/1", "10G"),
            c.port_spec("0/2", "10G"),
            format!("1/1,10G,udp,{s1a},{s2a}"),
        ],
        &[],
    );
    let mut c1 = u1.client().await;
    let s1 = Session::attach(&mut c1, 1).await.expect("attach unit 1");
    assert!(!s1.attached.warm && s1.attached.stale_entries == 0 && s1.attached.unit == 1);
    write(&mut c1, 1, stack_program(2, 1, None))
        .await
        .unwrap_or_else(|e| u1.fail(format!("program unit 1: {e}")));
    let u2 = Daemon::start(
        2,
        &[
            b.port_spec("0/1", "10G"),
            d.port_spec("0/2", "10G"),
            format!("1/1,10G,udp,{s2a},{s1a}"),
        ],
        &[],
    );
    let mut c2 = u2.client().await;
    let s2 = Session::attach(&mut c2, 1).await.expect("attach unit 2");
    write(&mut c2, 1, stack_program(1, 1, None))
        .await
        .unwrap_or_else(|e| u2.fail(format!("program unit 2: {e}")));
    let mut t = TwoUnits {
        u1,
        u2,
        a,
        c,
        b,
        d,
        c1,
        c2,
        s1,
        s2,
    };
    // Unit 1 was attached before unit 2 existed: its session must see the link come up.
    match t
        .s1
        .wait_for("LinkEvent 1/1 up on unit 1", WAIT, |m| {
            link_event(m, port(1, 1), true)
        })
        .await
    {
        Ok(ev) => assert_eq!(ev.neighbor_unit, 2, "unit 1's neighbour on 1/1"),
        Err(e) => t.u1.fail(e),
    }
    // Unit 2 may have seen it before attaching: read its port state.
    let mut c2 = t.c2.clone();
    let up = poll_until(WAIT, || {
        let mut c2 = c2.clone();
        async move {
            let s = port_state(&read(&mut c2, false).await, port(1, 1));
            (s.oper_up && s.neighbor_unit == 1).then_some(())
        }
    })
    .await;
    if up.is_none() {
        t.u2.fail("unit 2's 1/1 is not up with neighbour 1");
    }
    let _ = &mut c2;
    t
}
