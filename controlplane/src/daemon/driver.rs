//! The driver: the tokio loop that feeds the sans-IO [`StackManager`] with time, stack
//! control frames (PacketIn) and link events from the unit's `dataplaned`, and carries what it
//! hands back — frames (PacketOut), dataplane writes, persistent state — to where they go.
//!
//! One session with the dataplane at a time. When it ends (the dataplane restarted, say),
//! the driver reconnects with a higher generation and programs the dataplane's whole stack
//! state again. Attaching to a dataplane that kept its state (a control-plane restart, NSF),
//! the driver holds its writes back until the stack manager has found its master (or its
//! cold-boot window is over), then writes them as one atomic batch and ends reconciliation:
//! the dataplane never sees the half-learned state of a manager that has just started.
//!
//! The stack configuration's lossless priorities ([`Lossless`]) are programmed on every port
//! at each attach (so a restarted, empty dataplane gets them back) and whenever the
//! configuration this unit holds changes.

use std::time::Duration;

use dataplane::time::Instant;
use proto::dataplane::v1 as dp;
use proto::dataplane::v1::dataplane_client::DataplaneClient;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Status;
use tracing::{debug, error, info, warn};

use super::config::StackdConfig;
use super::mgmt::{MgmtRequest, StackCommand};
use super::show;
use super::state::{StateFile, UnitState};
use super::uds;
use crate::api::CommandError;
use crate::program::DataplaneWrite;
use crate::stack_config::Lossless;
use crate::wire::StackPort;
use crate::{control_frame, LinkState, Persisted, StackConfig, StackEvent, StackManager};

/// The software version as advertised: `major << 16 | minor << 8 | patch`.
pub fn version_code() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a & 0xff) << 16 | (b & 0xff) << 8 | (c & 0xff)
}

/// Why stackd stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The unit state could not be read or written.
    #[error(transparent)]
    State(#[from] super::state::StateError),
    /// The startup stack configuration file is unusable.
    #[error(transparent)]
    StackFile(#[from] super::stack_file::StackFileError),
    /// The dataplane's ports do not match the configuration.
    #[error("dataplane at {path}: {message}")]
    Ports {
        /// The dataplane socket.
        path: String,
        /// What does not match.
        message: String,
    },
    /// Another control plane took over this unit's dataplane (a higher generation).
    #[error("fenced: another control plane attached to this unit's dataplane with a higher generation ({0})")]
    Fenced(String),
}

/// Where the dataplane's stack and front ports are.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PortMap {
    /// Index = stack port number.
    stack: Vec<dp::PortRef>,
    front: Vec<dp::PortRef>,
}

impl PortMap {
    fn stack_port(&self, r: &dp::PortRef) -> Option<StackPort> {
        self.stack
            .iter()
            .position(|p| p == r)
            .and_then(|i| u8::try_from(i).ok())
            .map(StackPort)
    }
}

/// Nonstop-forwarding bookkeeping for `show nsf`.
#[derive(Clone, Debug, Default)]
pub(super) struct Nsf {
    pub warm: bool,
    pub reconciling: bool,
    pub stale: u32,
    pub swept: u32,
    pub generation: u64,
}

/// One attached dataplane session.
struct Session {
    client: DataplaneClient<Channel>,
    out: mpsc::Sender<dp::SessionRequest>,
    inbound: tonic::Streaming<dp::SessionResponse>,
    generation: u64,
}

/// The stackd driver of one unit.
pub struct Driver {
    cfg: StackdConfig,
    state_file: StateFile,
    state: UnitState,
    epoch: std::time::Instant,
    mgr: Option<StackManager>,
    ports: Option<PortMap>,
    nsf: Nsf,
    /// Writes held back while reconciling, in order.
    held_back: Vec<dp::Update>,
    /// A unit number to write once the batch before it is in.
    renumber: Option<u8>,
    dataplane_tx: watch::Sender<Option<DataplaneClient<Channel>>>,
    refused: u64,
    /// The stack configuration held at boot (the operator's file, else the stored copy).
    boot_stack_config: Option<crate::stack_config::StackWideConfig>,
    /// Every port's settings and speed as read at attach, with the lossless settings written
    /// since: the base that the next lossless change edits.
    port_settings: Vec<(dp::PortSettings, u64)>,
}

impl Driver {
    /// A driver for `cfg`; loads (or starts) the unit's state. `dataplane_tx` is told the
    /// dataplane client whenever a session is up (the management service reads through it).
    pub fn new(
        cfg: StackdConfig,
        dataplane_tx: watch::Sender<Option<DataplaneClient<Channel>>>,
    ) -> Result<Self, DriverError> {
        let state_file = StateFile::new(&cfg.state_dir);
        let state = match state_file.load()? {
            Some(s) => {
                info!(path = %state_file.path().display(), unit = s.unit, priority = s.priority, "unit state loaded");
                s
            }
            None => UnitState {
                unit: cfg.unit,
                priority: cfg.priority,
                standby: cfg.standby,
                generation: 0,
            },
        };
        let stored = cfg.state_dir.join("stack.toml");
        let boot_stack_config = match (&cfg.stack_config, stored.exists()) {
            (Some(file), _) => Some(super::stack_file::load(file)?),
            (None, true) => Some(super::stack_file::load(&stored)?),
            (None, false) => None,
        };
        Ok(Driver {
            boot_stack_config,
            cfg,
            state_file,
            state,
            epoch: std::time::Instant::now(),
            mgr: None,
            ports: None,
            nsf: Nsf::default(),
            held_back: Vec::new(),
            renumber: None,
            dataplane_tx,
            refused: 0,
            port_settings: Vec::new(),
        })
    }

    fn now(&self) -> Instant {
        Instant::ZERO + self.epoch.elapsed()
    }

    /// Runs until `shutdown` resolves or an error stops the unit.
    pub async fn run(
        mut self,
        mut mgmt: mpsc::Receiver<MgmtRequest>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), DriverError> {
        tokio::pin!(shutdown);
        let mut announced = false;
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            let session = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                s = self.attach() => s,
                Some(req) = mgmt.recv() => {
                    self.answer_detached(req);
                    continue;
                }
            };
            let mut session = match session {
                Ok(s) => s,
                Err(e) => {
                    if !announced {
                        warn!(dataplane = %self.cfg.dataplane_socket.display(), error = %e, "waiting for the dataplane");
                        announced = true;
                    }
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                    continue;
                }
            };
            announced = false;
            let _ = self.dataplane_tx.send(Some(session.client.clone()));
            let end = self
                .serve(&mut session, &mut mgmt, &mut shutdown, hangup.as_mut())
                .await;
            let _ = self.dataplane_tx.send(None);
            match end {
                Ok(true) => return Ok(()),
                Ok(false) => warn!("dataplane session ended: reconnecting"),
                Err(e) => return Err(e),
            }
        }
    }

    /// Connects, attaches with a new generation, reads the ports and (first time) builds the
    /// stack manager.
    async fn attach(&mut self) -> Result<Session, String> {
        let channel = uds::connect(&self.cfg.dataplane_socket)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut client = DataplaneClient::new(channel);
        let generation = self.state.generation + 1;
        self.state.generation = generation;
        self.state_file
            .store(&self.state)
            .map_err(|e| e.to_string())?;
        let (out, rx) = mpsc::channel(4096);
        let attach = dp::SessionRequest {
            msg: Some(dp::session_request::Msg::Attach(dp::Attach {
                generation,
                client: format!("stackd unit {}", self.state.unit),
                reconcile_timeout_ms: u32::try_from(self.cfg.reconcile_timeout.as_millis())
                    .unwrap_or(u32::MAX),
            })),
        };
        out.send(attach).await.map_err(|e| e.to_string())?;
        let mut inbound = client
            .session(ReceiverStream::new(rx))
            .await
            .map_err(|e| format!("session: {}", e.message()))?
            .into_inner();
        let attached = match inbound.message().await {
            Ok(Some(dp::SessionResponse {
                msg: Some(dp::session_response::Msg::Attached(a)),
            })) => a,
            Ok(other) => return Err(format!("expected `attached`, got {other:?}")),
            Err(e) => return Err(format!("attach refused: {}", e.message())),
        };
        let read = client
            .read(dp::ReadRequest {
                include_learned: false,
            })
            .await
            .map_err(|e| format!("read: {}", e.message()))?
            .into_inner();
        let map = self.port_map(&read).map_err(|e| e.to_string())?;
        self.nsf = Nsf {
            warm: attached.stale_entries > 0,
            reconciling: true,
            stale: attached.stale_entries,
            swept: 0,
            generation,
        };
        info!(
            generation,
            dataplane_unit = attached.unit,
            stale = attached.stale_entries,
            warm = self.nsf.warm,
            stack_ports = map.stack.len(),
            front_ports = map.front.len(),
            "attached to the dataplane"
        );
        let now = self.now();
        match &mut self.mgr {
            None => {
                let mut sc = StackConfig::new(
                    self.cfg.mac,
                    Persisted {
                        unit: self.state.unit,
                        priority: self.state.priority,
                    },
                    (0..map.stack.len()).map(|i| StackPort(i as u8)).collect(),
                );
                sc.key = self.cfg.key.clone();
                sc.standby = self.state.standby;
                sc.advert_interval = self.cfg.advert_interval;
                sc.hold_time = self.cfg.hold_time;
                sc.cold_boot_window = self.cfg.cold_boot_window;
                sc.version = version_code();
                sc.stack_config = self.boot_stack_config.take();
                sc.grace_period = self.cfg.grace_period;
                // A control-plane restart over a dataplane that kept its state resumes from
                // the checkpoint; anything else boots cold.
                let cp_path = self.cfg.state_dir.join("checkpoint.toml");
                if self.nsf.warm {
                    match super::state::CheckpointFile::load(&cp_path) {
                        Ok(Some(cp)) => sc.resume = cp.to_checkpoint(),
                        Ok(None) => {}
                        Err(e) => warn!("{e}: booting cold"),
                    }
                }
                self.mgr = Some(StackManager::new(sc, now));
            }
            Some(m) => {
                if self.ports.as_ref() != Some(&map) {
                    return Err("the dataplane's ports changed; restart stackd".into());
                }
                // A (re)started dataplane: tell it everything again.
                m.reprogram();
            }
        }
        let unit = self.mgr.as_ref().map_or(0, |m| m.persisted().unit);
        if unit != 0 && attached.unit != u32::from(unit) {
            self.renumber = Some(unit);
        }
        if let Some(m) = self.mgr.as_mut() {
            for p in &read.ports {
                let Some(sp) = p
                    .settings
                    .as_ref()
                    .and_then(|s| s.port.as_ref())
                    .and_then(|r| map.stack_port(r))
                else {
                    continue;
                };
                let state = if p.oper_up && !p.held_down {
                    LinkState::Up
                } else {
                    LinkState::Down
                };
                m.handle_link(now, sp, state);
            }
        }
        self.ports = Some(map);
        self.port_settings = read
            .ports
            .iter()
            .filter_map(|p| Some((p.settings.clone()?, p.speed_bps)))
            .collect();
        // Port settings are the dataplane's until written: a restarted one is lossy again.
        if let Some(l) = self
            .mgr
            .as_ref()
            .and_then(|m| m.stack_config())
            .and_then(|c| c.lossless)
        {
            info!(priorities = ?l.priority_list(), "programming the lossless priorities");
            self.held_back
                .extend(lossless_updates(&l, &mut self.port_settings));
        }
        Ok(Session {
            client,
            out,
            inbound,
            generation,
        })
    }

    fn port_map(&self, read: &dp::ReadResponse) -> Result<PortMap, DriverError> {
        let refs: Vec<dp::PortRef> = read
            .ports
            .iter()
            .filter_map(|p| p.settings.as_ref().and_then(|s| s.port))
            .collect();
        let mut front: Vec<dp::PortRef> = refs.iter().filter(|r| r.slot == 0).copied().collect();
        front.sort_by_key(|r| r.port);
        let stack = match &self.cfg.stack_ports {
            Some(ids) => ids
                .iter()
                .map(|id| {
                    let r = dp::PortRef {
                        slot: 1,
                        port: u32::from(id.port),
                    };
                    if refs.contains(&r) {
                        Ok(r)
                    } else {
                        Err(DriverError::Ports {
                            path: self.cfg.dataplane_socket.display().to_string(),
                            message: format!(
                                "configured stack port 1/{} does not exist there",
                                id.port
                            ),
                        })
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => {
                let mut s: Vec<dp::PortRef> =
                    refs.iter().filter(|r| r.slot == 1).copied().collect();
                s.sort_by_key(|r| r.port);
                s
            }
        };
        Ok(PortMap { stack, front })
    }

    /// Serves one session. `Ok(true)`: shut down; `Ok(false)`: the session ended.
    async fn serve(
        &mut self,
        s: &mut Session,
        mgmt: &mut mpsc::Receiver<MgmtRequest>,
        shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        mut hangup: Option<&mut tokio::signal::unix::Signal>,
    ) -> Result<bool, DriverError> {
        self.pump(s).await?;
        loop {
            let deadline = self
                .mgr
                .as_ref()
                .and_then(|m| m.poll_timeout())
                .map(|t| self.epoch + t.saturating_since(Instant::ZERO))
                .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(1));
            tokio::select! {
                _ = shutdown.as_mut() => return Ok(true),
                msg = s.inbound.message() => match msg {
                    Ok(Some(m)) => self.on_session(m),
                    Ok(None) => return Ok(false),
                    Err(e) if e.code() == tonic::Code::Aborted => {
                        return Err(DriverError::Fenced(e.message().to_string()))
                    }
                    Err(e) => {
                        warn!(error = %e.message(), "dataplane session error");
                        return Ok(false);
                    }
                },
                Some(req) = mgmt.recv() => self.on_mgmt(s, req).await,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.reload_stack_config(),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = self.now();
                    if let Some(m) = self.mgr.as_mut() {
                        m.handle_timeout(now);
                    }
                }
            }
            self.pump(s).await?;
        }
    }

    fn on_session(&mut self, m: dp::SessionResponse) {
        use dp::session_response::Msg;
        let now = self.now();
        let (Some(mgr), Some(ports)) = (self.mgr.as_mut(), self.ports.as_ref()) else {
            return;
        };
        match m.msg {
            Some(Msg::PacketIn(p)) => {
                let Some(sp) = p.port.as_ref().and_then(|r| ports.stack_port(r)) else {
                    return;
                };
                let relayed = control_frame::relayed(&p.frame);
                let result = control_frame::decode(&p.frame)
                    .map_err(|e| e.to_string())
                    .and_then(|msg| {
                        if relayed {
                            mgr.handle_relayed_message(now, sp, msg)
                        } else {
                            mgr.handle_message(now, sp, msg)
                        }
                        .map_err(|e| e.to_string())
                    });
                if let Err(e) = result {
                    self.refused += 1;
                    debug!(port = sp.0, error = %e, "stack control frame refused");
                }
            }
            Some(Msg::Event(dp::Event {
                kind: Some(dp::event::Kind::Link(l)),
            })) => {
                if let Some(sp) = l.port.as_ref().and_then(|r| ports.stack_port(r)) {
                    let state = if l.up { LinkState::Up } else { LinkState::Down };
                    info!(
                        stack_port = sp.0,
                        up = l.up,
                        neighbor_unit = l.neighbor_unit,
                        "stack link"
                    );
                    mgr.handle_link(now, sp, state);
                }
            }
            Some(Msg::Event(dp::Event {
                kind: Some(dp::event::Kind::NeighborControl(n)),
            })) => {
                if let Some(sp) = n.port.as_ref().and_then(|r| ports.stack_port(r)) {
                    debug!(
                        stack_port = sp.0,
                        neighbor_unit = n.neighbor_unit,
                        attached = n.attached,
                        "neighbour's control plane"
                    );
                    mgr.handle_neighbour_control(now, sp, n.attached);
                }
            }
            Some(Msg::Swept(sw)) => {
                info!(entries = sw.entries, reason = %sw.reason, "dataplane swept stale entries");
                self.nsf.swept = sw.entries;
            }
            _ => {}
        }
    }

    /// Carries the manager's output: frames out, writes (or holds them back while
    /// reconciling), events.
    async fn pump(&mut self, s: &mut Session) -> Result<(), DriverError> {
        let now = self.now();
        let (Some(mgr), Some(ports)) = (self.mgr.as_mut(), self.ports.as_ref()) else {
            return Ok(());
        };
        let unit = mgr.persisted().unit;
        while let Some((sp, bytes)) = mgr.poll_transmit() {
            let Some(port) = ports.stack.get(usize::from(sp.0)).copied() else {
                continue;
            };
            let frame = control_frame::encode(unit, self.cfg.mac, &bytes);
            let out = dp::SessionRequest {
                msg: Some(dp::session_request::Msg::PacketOut(dp::PacketOut {
                    port: Some(port),
                    frame,
                })),
            };
            if s.out.try_send(out).is_err() {
                debug!("session send queue full: stack control frame dropped");
            }
        }
        while let Some(w) = mgr.poll_write() {
            self.held_back.extend(to_updates(&w, ports, unit));
        }
        let mut persist = false;
        let mut lossless = None;
        while let Some(e) = mgr.poll_event() {
            match e {
                StackEvent::PersistedChanged(p) => {
                    self.state.unit = p.unit;
                    self.state.priority = p.priority;
                    persist = true;
                }
                StackEvent::UnitRenumbered { to, .. } if to != 0 => self.renumber = Some(to),
                StackEvent::CheckpointChanged(cp) => {
                    let path = self.cfg.state_dir.join("checkpoint.toml");
                    if let Err(e) = super::state::CheckpointFile::from_checkpoint(&cp).store(&path)
                    {
                        error!("{e}");
                    }
                }
                StackEvent::StackConfigChanged(c) => {
                    lossless = c.lossless;
                    let path = self.cfg.state_dir.join("stack.toml");
                    if let Err(e) = super::stack_file::store(&path, &c) {
                        error!("{e}");
                    }
                }
                StackEvent::RoleChanged {
                    from,
                    to,
                    rule,
                    epoch,
                } => {
                    info!(?from, ?to, %rule, epoch, "role change")
                }
                other => info!(event = ?other, "stack event"),
            }
        }
        if let Some(l) = lossless {
            info!(priorities = ?l.priority_list(), "stack configuration: lossless priorities programmed");
            self.held_back
                .extend(lossless_updates(&l, &mut self.port_settings));
        }
        if persist {
            self.state_file.store(&self.state)?;
        }
        if self.nsf.reconciling {
            let decided = !mgr.resyncing()
                && (mgr.view(now).master.is_some()
                    || self.epoch.elapsed() >= self.cfg.cold_boot_window);
            if self.nsf.warm && !decided {
                return Ok(());
            }
        }
        self.flush(s).await?;
        if self.nsf.reconciling {
            self.nsf.reconciling = false;
            let done = dp::SessionRequest {
                msg: Some(dp::session_request::Msg::ReconcileDone(
                    dp::ReconcileDone {},
                )),
            };
            let _ = s.out.send(done).await;
            info!("reconciliation with the dataplane done");
        }
        Ok(())
    }

    async fn flush(&mut self, s: &mut Session) -> Result<(), DriverError> {
        if !self.held_back.is_empty() {
            let updates = std::mem::take(&mut self.held_back);
            self.write(s, updates).await?;
        }
        if let Some(unit) = self.renumber.take() {
            let u = dp::Update {
                op: dp::update::Op::Set as i32,
                entity: Some(dp::update::Entity::UnitNumber(dp::UnitNumber {
                    unit: u32::from(unit),
                })),
            };
            self.write(s, vec![u]).await?;
        }
        Ok(())
    }

    async fn write(
        &mut self,
        s: &mut Session,
        updates: Vec<dp::Update>,
    ) -> Result<(), DriverError> {
        let n = updates.len();
        let req = dp::WriteRequest {
            generation: s.generation,
            updates,
        };
        match s.client.write(req).await {
            Ok(_) => debug!(updates = n, "dataplane written"),
            Err(e) if e.code() == tonic::Code::FailedPrecondition => {
                return Err(DriverError::Fenced(e.message().to_string()))
            }
            // The session is going away: the next one reprograms everything.
            Err(e) => error!(updates = n, error = %e.message(), "dataplane write failed"),
        }
        Ok(())
    }

    /// SIGHUP: reads the operator's stack configuration file again and, as master, applies
    /// it. A bad file is reported and changes nothing.
    fn reload_stack_config(&mut self) {
        let Some(path) = self.cfg.stack_config.clone() else {
            info!("SIGHUP: no --stack-config file to reload");
            return;
        };
        let now = self.now();
        let config = match super::stack_file::load(&path) {
            Ok(c) => c,
            Err(e) => {
                error!("stack configuration not applied, the running one stays: {e}");
                return;
            }
        };
        if let Some(m) = self.mgr.as_mut() {
            match m.set_stack_config(now, config) {
                Ok(()) => info!(path = %path.display(), "SIGHUP: stack configuration reloaded"),
                Err(e) => warn!("SIGHUP: stack configuration not applied: {e}"),
            }
        }
    }

    fn answer_detached(&mut self, req: MgmtRequest) {
        let unavailable = || {
            Status::unavailable(format!(
                "not attached to this unit's dataplaned at {} yet (is it running?)",
                self.cfg.dataplane_socket.display()
            ))
        };
        match req {
            MgmtRequest::ShowNsf(r) => {
                let _ = r.send(Ok(show::nsf(&self.nsf, self.epoch.elapsed(), false)));
            }
            MgmtRequest::ShowSwitch(r) if self.mgr.is_some() => {
                let _ = r.send(Ok(self.show_switch()));
            }
            MgmtRequest::ShowSwitch(r) => drop(r.send(Err(unavailable()))),
            MgmtRequest::ShowCheckpoint(r) => {
                drop(r.send(self.show_checkpoint().ok_or_else(unavailable)))
            }
            MgmtRequest::ShowStackPorts { reply, .. } => drop(reply.send(Err(unavailable()))),
            MgmtRequest::ShowStackPath(r) => drop(r.send(Err(unavailable()))),
            MgmtRequest::Command { reply, .. } => drop(reply.send(Err(unavailable()))),
        }
    }

    fn show_switch(&self) -> proto::stack::v1::ShowSwitchResponse {
        match &self.mgr {
            Some(m) => show::switch(&m.view(self.now()), self.cfg.mac),
            None => Default::default(),
        }
    }

    /// `show checkpoint statistics`, once the stack manager runs.
    fn show_checkpoint(&self) -> Option<proto::stack::v1::ShowCheckpointResponse> {
        let m = self.mgr.as_ref()?;
        let now = self.now();
        Some(show::checkpoint(&m.checkpoint_stats(now), &m.view(now)))
    }

    async fn on_mgmt(&mut self, s: &mut Session, req: MgmtRequest) {
        match req {
            MgmtRequest::ShowSwitch(r) => drop(r.send(Ok(self.show_switch()))),
            MgmtRequest::ShowCheckpoint(r) => {
                let answer = self
                    .show_checkpoint()
                    .ok_or_else(|| Status::unavailable("the stack manager is not running yet"));
                drop(r.send(answer))
            }
            MgmtRequest::ShowNsf(r) => {
                drop(r.send(Ok(show::nsf(&self.nsf, self.epoch.elapsed(), true))))
            }
            MgmtRequest::ShowStackPorts { counters, reply } => {
                let c = if counters {
                    match s.client.get_counters(dp::CountersRequest {}).await {
                        Ok(c) => Some(c.into_inner()),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            return;
                        }
                    }
                } else {
                    None
                };
                let (Some(m), Some(p)) = (&self.mgr, &self.ports) else {
                    return;
                };
                let _ = reply.send(Ok(show::stack_ports(m, &self.now(), &p.stack, c.as_ref())));
            }
            MgmtRequest::ShowStackPath(reply) => {
                let read = match s
                    .client
                    .read(dp::ReadRequest {
                        include_learned: false,
                    })
                    .await
                {
                    Ok(r) => r.into_inner(),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return;
                    }
                };
                let (Some(m), Some(p)) = (&self.mgr, &self.ports) else {
                    return;
                };
                let _ = reply.send(Ok(show::stack_path(m, &self.now(), &p.stack, &read)));
            }
            MgmtRequest::Command { command, reply } => {
                let result = self.command(command);
                let _ = reply.send(result);
            }
        }
    }

    fn command(&mut self, c: StackCommand) -> Result<proto::stack::v1::CommandResponse, Status> {
        let now = self.now();
        let Some(m) = self.mgr.as_mut() else {
            return Err(Status::unavailable("the stack manager is not running yet"));
        };
        let message = match c {
            StackCommand::SetPriority { unit, priority } => m
                .set_priority(now, unit, priority)
                .map(|_| format!("unit {unit}: priority {priority} (stored by the unit; no preemption: roles change at the next election)")),
            StackCommand::SetStandby(unit) => m.set_standby(now, unit).map(|_| match unit {
                Some(u) => format!("unit {u} is the configured standby"),
                None => "no configured standby: the election rules pick it".to_string(),
            }),
            StackCommand::Renumber { unit, to } => m
                .renumber(now, unit, to)
                .map(|_| format!("unit {unit} is now unit {to} (stored by the unit)")),
            StackCommand::Failover => m
                .initiate_failover(now)
                .map(|_| "failover initiated: the standby takes over as master".to_string()),
        }
        .map_err(command_status)?;
        if let StackCommand::SetStandby(u) = c {
            self.state.standby = u;
            self.state_file
                .store(&self.state)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(proto::stack::v1::CommandResponse { message })
    }
}

fn command_status(e: CommandError) -> Status {
    match e {
        CommandError::NotMaster { .. } | CommandError::NoStandby => {
            Status::failed_precondition(e.to_string())
        }
        _ => Status::invalid_argument(e.to_string()),
    }
}

/// The port updates that make `l` the PFC and buffer settings of every port in `ports` (which
/// are updated to what is written): PFC on for exactly the lossless priorities, the PGs they
/// map to lossless with the thresholds (the headroom per port speed and MTU when not fixed),
/// every other PG lossy. The rest of each port's settings stays as it was.
fn lossless_updates(l: &Lossless, ports: &mut [(dp::PortSettings, u64)]) -> Vec<dp::Update> {
    let mut out = Vec::new();
    for (s, speed) in ports.iter_mut() {
        s.flow_control = dp::FlowControl::Pfc as i32;
        s.pfc_enabled = u32::from(l.priorities);
        let mut lossless_pgs = 0u8;
        for prio in l.priority_list() {
            let pg = s
                .priority_to_pg
                .get(usize::from(prio))
                .copied()
                .unwrap_or(u32::from(prio));
            if pg < 8 {
                lossless_pgs |= 1 << pg;
            }
        }
        let headroom = l.headroom_for(*speed, s.mtu);
        for (pg, profile) in s.pgs.iter_mut().enumerate() {
            profile.lossless = (lossless_pgs & (1 << pg) != 0).then_some(dp::LosslessThresholds {
                xoff_bytes: u64::from(l.xoff_bytes),
                xon_bytes: u64::from(l.xon_bytes),
                headroom_bytes: headroom,
            });
        }
        out.push(dp::Update {
            op: dp::update::Op::Set as i32,
            entity: Some(dp::update::Entity::Port(s.clone())),
        });
    }
    out
}

/// The dataplane updates for one manager write; `unit` is this unit's number (a static MAC on
/// one of its own front ports is local, elsewhere remote).
fn to_updates(w: &DataplaneWrite, ports: &PortMap, unit: u8) -> Vec<dp::Update> {
    use dp::update::{Entity, Op};
    let port = |sp: StackPort| ports.stack.get(usize::from(sp.0)).copied();
    let update = |op: Op, entity| dp::Update {
        op: op as i32,
        entity: Some(entity),
    };
    match w {
        DataplaneWrite::SetRoute(r) => match r.primary_port().and_then(port) {
            Some(primary) => vec![update(
                Op::Set,
                Entity::StackRoute(dp::StackRoute {
                    unit: u32::from(r.unit),
                    primary: Some(primary),
                    backup: r.backup_port().and_then(port),
                }),
            )],
            None => Vec::new(),
        },
        DataplaneWrite::DeleteRoute(unit) => vec![update(
            Op::Delete,
            Entity::StackRoute(dp::StackRoute {
                unit: u32::from(*unit),
                primary: None,
                backup: None,
            }),
        )],
        DataplaneWrite::SetFloodTree(list) => vec![update(
            Op::Set,
            Entity::FloodTree(dp::FloodTree {
                ports: list.iter().filter_map(|p| port(*p)).collect(),
            }),
        )],
        DataplaneWrite::SetStaticMac(m) => {
            let dest = if m.unit == unit {
                dp::fdb_destination::Dest::Local(dp::PortRef {
                    slot: 0,
                    port: u32::from(m.port),
                })
            } else {
                dp::fdb_destination::Dest::Remote(dp::RemotePort {
                    unit: u32::from(m.unit),
                    port: u32::from(m.port),
                })
            };
            vec![update(
                Op::Set,
                Entity::Fdb(dp::StaticFdbEntry {
                    vid: u32::from(m.vid),
                    mac: m.mac,
                    dest: Some(dp::FdbDestination { dest: Some(dest) }),
                }),
            )]
        }
        DataplaneWrite::DeleteStaticMac(vid, mac) => vec![update(
            Op::Delete,
            Entity::Fdb(dp::StaticFdbEntry {
                vid: u32::from(*vid),
                mac: *mac,
                dest: None,
            }),
        )],
        DataplaneWrite::HoldFrontPorts(hold) => ports
            .front
            .iter()
            .map(|p| {
                update(
                    Op::Set,
                    Entity::PortHold(dp::PortHold {
                        port: Some(*p),
                        hold_down: *hold,
                    }),
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Route;

    #[test]
    fn lossless_updates_declare_pfc_and_pg_thresholds() {
        let pg = |lossless: bool| dp::PgProfile {
            reserved_bytes: 1000,
            shared_limit: None,
            lossless: lossless.then_some(dp::LosslessThresholds {
                xoff_bytes: 1,
                xon_bytes: 0,
                headroom_bytes: 1,
            }),
        };
        let base = dp::PortSettings {
            port: Some(dp::PortRef { slot: 0, port: 1 }),
            mtu: 1500,
            priority_to_pg: (0..8).collect(),
            pgs: (0..8).map(|i| pg(i == 1)).collect(),
            ..Default::default()
        };
        let mut ports = vec![(base, 10_000_000_000)];
        let l = Lossless {
            priorities: 0b1000,
            xoff_bytes: 24_000,
            xon_bytes: 12_000,
            headroom_bytes: None,
            cable_length_m: 5,
        };
        let u = lossless_updates(&l, &mut ports);
        let Some(dp::update::Entity::Port(s)) = &u[0].entity else {
            panic!("{u:?}")
        };
        assert_eq!(s.flow_control, dp::FlowControl::Pfc as i32);
        assert_eq!(s.pfc_enabled, 0b1000);
        let t = s.pgs[3].lossless.unwrap();
        assert_eq!((t.xoff_bytes, t.xon_bytes), (24_000, 12_000));
        assert_eq!(t.headroom_bytes, l.headroom_for(10_000_000_000, 1500));
        // The PG that was lossless but no longer has a lossless priority becomes lossy.
        assert!(s.pgs[1].lossless.is_none());
        assert_eq!(s.pgs[3].reserved_bytes, 1000);
        assert_eq!(&ports[0].0, s);
    }

    #[test]
    fn writes_map_to_dataplane_ports() {
        let ports = PortMap {
            stack: vec![
                dp::PortRef { slot: 1, port: 1 },
                dp::PortRef { slot: 1, port: 2 },
            ],
            front: vec![
                dp::PortRef { slot: 0, port: 1 },
                dp::PortRef { slot: 0, port: 2 },
            ],
        };
        let r = Route {
            unit: 3,
            primary: vec![StackPort(1)],
            backup: Some(vec![StackPort(0)]),
        };
        let u = to_updates(&DataplaneWrite::SetRoute(r), &ports, 1);
        assert_eq!(
            u[0].entity,
            Some(dp::update::Entity::StackRoute(dp::StackRoute {
                unit: 3,
                primary: Some(dp::PortRef { slot: 1, port: 2 }),
                backup: Some(dp::PortRef { slot: 1, port: 1 }),
            }))
        );
        assert_eq!(
            to_updates(&DataplaneWrite::HoldFrontPorts(true), &ports, 1).len(),
            2
        );
        assert_eq!(
            ports.stack_port(&dp::PortRef { slot: 1, port: 2 }),
            Some(StackPort(1))
        );
        assert_eq!(ports.stack_port(&dp::PortRef { slot: 0, port: 2 }), None);
    }
}
