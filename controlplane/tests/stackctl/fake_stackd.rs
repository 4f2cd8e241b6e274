//! A fake stackd for `stackctl`'s tests: the `stackd.stack.v1` management service on a Unix
//! socket in a fresh temporary directory, answering with canned data (the `canned_*` functions,
//! so tests know what to expect) and recording the requests it gets.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use proto::dataplane::v1 as dp;
use proto::stack::v1 as pb;
use proto::stack::v1::stack_management_server::{StackManagement, StackManagementServer};
use tonic::{Request, Response, Status};

/// Unit 1's base MAC (the master), unit 2's, unit 3's.
pub const MAC1: u64 = 0x0200_0000_0001;
pub const MAC2: u64 = 0x0200_0000_0002;
pub const MAC3: u64 = 0x0200_0000_0003;

/// A request the fake received (the ones whose content matters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    ShowSwitch,
    ShowStackPorts { counters: bool },
    ShowStackPath,
    ShowNsf,
    ShowCheckpoint,
    DataplaneCounters,
    DataplaneState { include_learned: bool },
    SetPriority { unit: u32, priority: u32 },
    SetStandby { unit: u32 },
    Renumber { unit: u32, new_unit: u32 },
    InitiateFailover,
}

/// How the fake answers commands (set, renumber, failover).
#[derive(Debug, Clone)]
pub enum Commands {
    /// Done, with a message naming what was done.
    Accept,
    /// Refused with this status.
    Refuse(tonic::Code, &'static str),
}

#[derive(Clone)]
struct Fake {
    received: Arc<Mutex<Vec<Received>>>,
    commands: Commands,
}

impl Fake {
    fn record(&self, r: Received) {
        self.received.lock().unwrap().push(r);
    }

    fn command(&self, r: Received, done: String) -> Result<Response<pb::CommandResponse>, Status> {
        self.record(r);
        match &self.commands {
            Commands::Accept => Ok(Response::new(pb::CommandResponse { message: done })),
            Commands::Refuse(code, message) => Err(Status::new(*code, *message)),
        }
    }
}

pub fn canned_switch() -> pb::ShowSwitchResponse {
    let member = |unit, mac, role: pb::Role, priority, uptime_ms, local| pb::Member {
        unit,
        mac,
        role: role.into(),
        priority,
        uptime_ms,
        status: "ready".into(),
        version: "0.1.0".into(),
        local,
    };
    pb::ShowSwitchResponse {
        local_unit: 1,
        local_mac: MAC1,
        master_mac: MAC1,
        epoch: 7,
        topology: "ring".into(),
        active: true,
        members: vec![
            member(1, MAC1, pb::Role::Master, 15, 3_723_000, true),
            member(2, MAC2, pb::Role::Standby, 10, 90_061_000, false),
            member(3, MAC3, pb::Role::Member, 0, 42_000, false),
        ],
    }
}

fn port(slot: u32, port: u32) -> Option<dp::PortRef> {
    Some(dp::PortRef { slot, port })
}

pub fn canned_stack_ports(counters: bool) -> pb::ShowStackPortsResponse {
    let c = |sent, received, lost, link_downs| dp::PortCounters {
        rx_frames: 1000 + received,
        tx_frames: 2000 + sent,
        hello: Some(dp::HelloCounters {
            sent,
            received,
            lost,
            link_downs,
        }),
        ..Default::default()
    };
    pb::ShowStackPortsResponse {
        ports: vec![
            pb::StackPortStatus {
                unit: 1,
                stack_port: 0,
                port: port(1, 1),
                up: true,
                neighbor_unit: 2,
                neighbor_stack_port: 1,
                neighbor_mac: MAC2,
                counters: counters.then(|| c(5001, 4999, 2, 1)),
            },
            pb::StackPortStatus {
                unit: 1,
                stack_port: 1,
                port: port(1, 2),
                up: false,
                counters: counters.then(|| c(777, 0, 31, 4)),
                ..Default::default()
            },
            pb::StackPortStatus {
                unit: 2,
                stack_port: 1,
                up: true,
                neighbor_unit: 1,
                neighbor_stack_port: 0,
                neighbor_mac: MAC1,
                ..Default::default()
            },
        ],
    }
}

pub fn canned_stack_path() -> pb::ShowStackPathResponse {
    pb::ShowStackPathResponse {
        paths: vec![
            pb::StackPath {
                to_unit: 2,
                primary: vec![0],
                backup: vec![1],
                active: port(1, 1),
                hops: 1,
            },
            pb::StackPath {
                to_unit: 3,
                primary: vec![1, 2],
                backup: vec![],
                active: port(1, 2),
                hops: 2,
            },
        ],
    }
}

pub fn canned_checkpoint() -> pb::ShowCheckpointResponse {
    pb::ShowCheckpointResponse {
        side: "master".into(),
        peer_unit: 2,
        peer_mac: 0x0200_0000_0002,
        version: 0x8c3f_0d6a_91b2_e477,
        peer_version: 0x8c3f_0d6a_91b2_e477,
        in_sync: true,
        epoch: 7,
        units: 3,
        config_version: 42,
        static_macs: 1,
        changes: 3,
        syncs: 3,
        has_changed: true,
        since_change_ms: 41_200,
        has_lag: true,
        last_lag_us: 1_830,
        max_lag_us: 4_120,
        behind_ms: 0,
    }
}

pub fn canned_nsf() -> pb::ShowNsfResponse {
    pb::ShowNsfResponse {
        admin_enabled: true,
        oper_enabled: true,
        last_startup: "warm".into(),
        since_restart_ms: 125_000,
        restart_in_progress: false,
        warm_restart_ready: true,
        stale_entries: 42,
        swept_entries: 3,
        generation: 9,
    }
}

pub fn canned_counters() -> dp::CountersResponse {
    let queue = |tc: u64| dp::QueueCounters {
        tx_frames: 100 + tc,
        tx_bytes: 64_000 + tc,
        dropped_frames: tc * 2,
        depth_bytes: 1500 * tc,
        watermark_bytes: 9000 + tc,
        ..Default::default()
    };
    dp::CountersResponse {
        ports: vec![
            dp::PortCounters {
                port: port(0, 1),
                rx_frames: 123_456,
                rx_bytes: 9_876_543,
                tx_frames: 654_321,
                tx_bytes: 12_345_678,
                rx_malformed: 5,
                discards: [
                    ("rx_vlan_discards".to_string(), 7),
                    ("rx_fcs".to_string(), 4),
                ]
                .into_iter()
                .collect(),
                pfc_rx: vec![0, 0, 0, 31_337, 0, 0, 0, 0],
                pfc_tx: vec![0, 0, 0, 0, 27_182, 0, 0, 0],
                pfc_paused_ns: vec![0, 0, 0, 4_560_000, 0, 0, 0, 0],
                pause_rx: 0,
                pause_tx: 0,
                queues: (0..8).map(queue).collect(),
                ..Default::default()
            },
            dp::PortCounters {
                port: port(1, 1),
                rx_frames: 11,
                tx_frames: 22,
                pfc_rx: vec![0; 8],
                pfc_tx: vec![0; 8],
                pfc_paused_ns: vec![0; 8],
                queues: (0..8).map(|_| dp::QueueCounters::default()).collect(),
                ..Default::default()
            },
        ],
    }
}

pub fn canned_state(include_learned: bool) -> dp::ReadResponse {
    let settings = |slot, p, mtu, vlan, flow: dp::FlowControl, pfc_enabled| dp::PortSettings {
        port: port(slot, p),
        mtu,
        vlan_mode: vlan,
        flow_control: flow.into(),
        pfc_enabled,
        ..Default::default()
    };
    let local = |slot, port| dp::FdbDestination {
        dest: Some(dp::fdb_destination::Dest::Local(dp::PortRef { slot, port })),
    };
    let remote = |unit, port| dp::FdbDestination {
        dest: Some(dp::fdb_destination::Dest::Remote(dp::RemotePort {
            unit,
            port,
        })),
    };
    let mut fdb = vec![dp::FdbEntry {
        vid: 20,
        mac: 0x0000_5e00_5301,
        dest: Some(local(0, 1)),
        is_static: true,
        stale: true,
        age_ms: 5_000,
    }];
    if include_learned {
        fdb.push(dp::FdbEntry {
            vid: 10,
            mac: 0x00aa_bbcc_ddee,
            dest: Some(remote(3, 7)),
            is_static: false,
            stale: false,
            age_ms: 63_000,
        });
    }
    dp::ReadResponse {
        unit: 1,
        generation: 9,
        control_attached: true,
        ports: vec![
            dp::PortState {
                settings: Some(settings(
                    0,
                    1,
                    9216,
                    Some(dp::port_settings::VlanMode::Trunk(dp::TrunkVlans {
                        native_vid: 1,
                        allowed: vec![10, 11, 12, 20],
                    })),
                    dp::FlowControl::Pfc,
                    0b0001_1000,
                )),
                speed_bps: 25_000_000_000,
                oper_up: true,
                ..Default::default()
            },
            dp::PortState {
                settings: Some(settings(
                    0,
                    2,
                    1500,
                    Some(dp::port_settings::VlanMode::Access(dp::AccessVlan {
                        vid: 30,
                    })),
                    dp::FlowControl::None,
                    0,
                )),
                speed_bps: 10_000_000_000,
                held_down: true,
                ..Default::default()
            },
            dp::PortState {
                settings: Some(settings(1, 1, 9216, None, dp::FlowControl::None, 0)),
                speed_bps: 100_000_000_000,
                oper_up: true,
                ..Default::default()
            },
        ],
        fdb,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl StackManagement for Fake {
    async fn show_switch(
        &self,
        _: Request<pb::ShowSwitchRequest>,
    ) -> Result<Response<pb::ShowSwitchResponse>, Status> {
        self.record(Received::ShowSwitch);
        Ok(Response::new(canned_switch()))
    }

    async fn show_stack_ports(
        &self,
        r: Request<pb::ShowStackPortsRequest>,
    ) -> Result<Response<pb::ShowStackPortsResponse>, Status> {
        let counters = r.into_inner().counters;
        self.record(Received::ShowStackPorts { counters });
        Ok(Response::new(canned_stack_ports(counters)))
    }

    async fn show_stack_path(
        &self,
        _: Request<pb::ShowStackPathRequest>,
    ) -> Result<Response<pb::ShowStackPathResponse>, Status> {
        self.record(Received::ShowStackPath);
        Ok(Response::new(canned_stack_path()))
    }

    async fn show_nsf(
        &self,
        _: Request<pb::ShowNsfRequest>,
    ) -> Result<Response<pb::ShowNsfResponse>, Status> {
        self.record(Received::ShowNsf);
        Ok(Response::new(canned_nsf()))
    }

    async fn show_checkpoint(
        &self,
        _: Request<pb::ShowCheckpointRequest>,
    ) -> Result<Response<pb::ShowCheckpointResponse>, Status> {
        self.record(Received::ShowCheckpoint);
        Ok(Response::new(canned_checkpoint()))
    }

    async fn dataplane_counters(
        &self,
        _: Request<dp::CountersRequest>,
    ) -> Result<Response<dp::CountersResponse>, Status> {
        self.record(Received::DataplaneCounters);
        Ok(Response::new(canned_counters()))
    }

    async fn dataplane_state(
        &self,
        r: Request<dp::ReadRequest>,
    ) -> Result<Response<dp::ReadResponse>, Status> {
        let include_learned = r.into_inner().include_learned;
        self.record(Received::DataplaneState { include_learned });
        Ok(Response::new(canned_state(include_learned)))
    }

    async fn set_priority(
        &self,
        r: Request<pb::SetPriorityRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let r = r.into_inner();
        self.command(
            Received::SetPriority {
                unit: r.unit,
                priority: r.priority,
            },
            format!("unit {} priority set to {}", r.unit, r.priority),
        )
    }

    async fn set_standby(
        &self,
        r: Request<pb::SetStandbyRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let unit = r.into_inner().unit;
        self.command(
            Received::SetStandby { unit },
            format!("standby set to unit {unit}"),
        )
    }

    async fn renumber(
        &self,
        r: Request<pb::RenumberRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let r = r.into_inner();
        self.command(
            Received::Renumber {
                unit: r.unit,
                new_unit: r.new_unit,
            },
            format!("unit {} renumbered to {}", r.unit, r.new_unit),
        )
    }

    async fn initiate_failover(
        &self,
        _: Request<pb::InitiateFailoverRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        self.command(
            Received::InitiateFailover,
            "failover to unit 2 started".into(),
        )
    }
}

/// A fresh, empty directory for one test (removed by [`TempDir`]'s drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stackctl-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running fake stackd. Stopped on drop.
pub struct FakeStackd {
    /// Its socket.
    pub socket: PathBuf,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeStackd {
    /// Serves on `socket` (its directory is created). Returns once the socket is bound and
    /// listening, so a client started afterwards connects (no polling).
    pub fn start_at(socket: &Path, commands: Commands) -> Self {
        Self::start_inner(socket, Some(commands))
    }

    /// Something else than stackd on `socket`: a gRPC server with only the health service (as
    /// dataplaned's socket would be to stackctl).
    pub fn start_health_only_at(socket: &Path) -> Self {
        Self::start_inner(socket, None)
    }

    fn start_inner(socket: &Path, commands: Option<Commands>) -> Self {
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let fake = commands.map(|commands| Fake {
            received: received.clone(),
            commands,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready) = mpsc::channel();
        let path = socket.to_path_buf();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = match tokio::net::UnixListener::bind(&path) {
                    Ok(l) => l,
                    Err(e) => {
                        ready_tx.send(Err(e.to_string())).unwrap();
                        return;
                    }
                };
                ready_tx.send(Ok(())).unwrap();
                let (_reporter, health) = tonic_health::server::health_reporter();
                tonic::transport::Server::builder()
                    .add_service(health)
                    .add_optional_service(fake.map(StackManagementServer::new))
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::UnixListenerStream::new(listener),
                        async {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .unwrap();
            });
        });
        ready
            .recv_timeout(Duration::from_secs(30))
            .expect("fake stackd did not start in 30 s")
            .expect("fake stackd could not bind its socket");
        FakeStackd {
            socket: socket.to_path_buf(),
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// What it was asked so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeStackd {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
