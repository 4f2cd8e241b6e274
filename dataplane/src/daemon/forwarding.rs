//! The forwarding thread: a thin driver around the engine.
//!
//! One OS thread owns the [`Engine`], the [`Programmer`] and every port's backend. It waits on
//! all the ports' file descriptors and a waker at once with nanosecond timeouts (`ppoll`), so
//! pause timers, transmit pacing and 10 ms hellos keep their time; tokio's millisecond timer
//! wheel could not. The gRPC side talks to it with [`Command`]s over a channel and wakes it
//! through an eventfd (one 8-byte write to wake, one read to drain).
//!
//! Each turn: run commands, read a batch from every readable port, run timers, transmit what
//! the engine lets go (batched per port), and pass events and stack control frames to the
//! attached session.

use std::fs::File;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proto::dataplane::v1 as pb;
use tokio::sync::{mpsc as tmpsc, oneshot};
use tonic::Status;

use super::convert;
use crate::backend::{self, PortBackend};
use crate::engine::Engine;
use crate::programming::{Programmer, WriteError};
use crate::time::Instant;

/// Frames read from one port per turn, at most (fairness between ports).
const RX_BATCH: usize = 64;
/// Longest the thread sleeps with nothing to do.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// After a turn that received frames, the thread keeps polling its ports without sleeping for
/// this long. Under traffic it then does not sleep between frames, so the kernel's delivery of
/// each frame (in the softirq of whoever sent it) finds no sleeper to wake; with no traffic it
/// sleeps as before.
const BUSY_POLL: Duration = Duration::from_micros(50);
/// Reconcile timer when the control plane does not set one.
const DEFAULT_RECONCILE: Duration = Duration::from_secs(10);

/// A session's outgoing stream: what the forwarding thread sends the attached control plane.
pub type SessionTx = tmpsc::Sender<Result<pb::SessionResponse, Status>>;

/// A request from the gRPC side.
#[derive(Debug)]
pub enum Command {
    /// A control plane wants to attach; on success the thread sends `Attached` first on
    /// `events`, then packet-ins and events.
    Attach {
        /// Its generation.
        generation: u64,
        /// Who it is, for logs.
        client: String,
        /// Sweep stale entries after this long without `ReconcileDone`.
        reconcile_timeout: Duration,
        /// Its outgoing stream.
        events: SessionTx,
        /// Accepted, or why not.
        reply: oneshot::Sender<Result<(), Status>>,
    },
    /// The session of `generation` ended.
    Detach {
        /// Its generation.
        generation: u64,
    },
    /// Send a frame out of a port for the attached control plane.
    PacketOut {
        /// Generation of the session it came on.
        generation: u64,
        /// The request.
        packet: pb::PacketOut,
    },
    /// The attached control plane has re-written what it wants: sweep the rest.
    ReconcileDone {
        /// Generation of the session it came on.
        generation: u64,
    },
    /// A batched, atomic write.
    Write {
        /// The request.
        request: pb::WriteRequest,
        /// Result.
        reply: oneshot::Sender<Result<pb::WriteResponse, Status>>,
    },
    /// Read everything programmed and learned.
    Read {
        /// The request.
        request: pb::ReadRequest,
        /// Result.
        reply: oneshot::Sender<pb::ReadResponse>,
    },
    /// Read the counters.
    Counters {
        /// Result.
        reply: oneshot::Sender<pb::CountersResponse>,
    },
}

/// How the gRPC side reaches the forwarding thread.
#[derive(Clone, Debug)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    waker: Arc<File>,
    stop: Arc<AtomicBool>,
}

impl Handle {
    /// Sends a command and wakes the thread. Fails only when the thread has stopped.
    pub fn send(&self, command: Command) -> Result<(), Status> {
        self.commands
            .send(command)
            .map_err(|_| Status::unavailable("the forwarding thread has stopped"))?;
        self.wake();
        Ok(())
    }

    /// Asks the thread to stop after its current turn.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        use std::io::Write;
        // Adds 1 to the eventfd's counter. It only fails (EAGAIN) when the counter is about to
        // overflow, i.e. a wake-up is pending anyway.
        let _ = (&*self.waker).write(&1u64.to_ne_bytes());
    }
}

struct Session {
    generation: u64,
    client: String,
    events: SessionTx,
}

/// The forwarding thread's state.
pub struct Forwarder {
    engine: Engine,
    programmer: Programmer,
    ports: Vec<Box<dyn PortBackend>>,
    commands: mpsc::Receiver<Command>,
    waker: Arc<File>,
    stop: Arc<AtomicBool>,
    epoch: std::time::Instant,
    session: Option<Session>,
    highest_generation: u64,
    /// Events that could not be delivered (session stream full).
    events_lost: u64,
    /// Frames the backends would not take.
    tx_dropped: u64,
    tx_out: Vec<Vec<Bytes>>,
}

impl Forwarder {
    /// A forwarder for `engine` whose port `i` is `ports[i]`; and the handle to command it.
    pub fn new(
        engine: Engine,
        ports: Vec<Box<dyn PortBackend>>,
    ) -> std::io::Result<(Forwarder, Handle)> {
        let (tx, rx) = mpsc::channel();
        let waker = Arc::new(File::from(backend::eventfd()?));
        let stop = Arc::new(AtomicBool::new(false));
        let n = ports.len();
        let forwarder = Forwarder {
            engine,
            programmer: Programmer::new(),
            ports,
            commands: rx,
            waker: waker.clone(),
            stop: stop.clone(),
            epoch: std::time::Instant::now(),
            session: None,
            highest_generation: 0,
            events_lost: 0,
            tx_dropped: 0,
            tx_out: vec![Vec::new(); n],
        };
        let handle = Handle {
            commands: tx,
            waker,
            stop,
        };
        Ok((forwarder, handle))
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    /// Runs until [`Handle::stop`]. Returns the engine (for a caller that wants its state).
    pub fn run(mut self) -> Engine {
        let mut rx = Vec::with_capacity(RX_BATCH);
        let fds: Vec<RawFd> = self
            .ports
            .iter()
            .map(|p| p.raw_fd().unwrap_or(-1))
            .collect();
        let mut all_fds = fds.clone();
        {
            use std::os::fd::AsRawFd;
            all_fds.push(self.waker.as_raw_fd());
        }
        let mut readable = vec![false; all_fds.len()];
        // When the last turn that received frames was.
        let mut last_rx: Option<std::time::Instant> = None;
        tracing::info!(
            unit = self.engine.unit(),
            ports = self.ports.len(),
            "forwarding"
        );
        while !self.stop.load(Ordering::SeqCst) {
            self.run_commands();
            let now = self.now();
            self.engine.handle_timeout(now);
            if let Some(swept) = self.programmer.handle_timeout(now, &mut self.engine) {
                self.send_swept(swept, "timeout");
            }
            self.transmit(now);
            self.pass_events();

            let deadline = [self.engine.poll_timeout(), self.programmer.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let now = self.now();
            let sleep = match deadline {
                Some(t) if t <= now => Some(Duration::ZERO),
                Some(t) => Some((t - now).min(MAX_SLEEP)),
                None => Some(MAX_SLEEP),
            };
            let sleep = if last_rx.is_some_and(|t| t.elapsed() < BUSY_POLL) {
                Some(Duration::ZERO)
            } else {
                sleep
            };
            if let Err(e) = backend::poll_readable(&all_fds, sleep, &mut readable) {
                tracing::error!(error = %e, "poll failed");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if readable.last() == Some(&true) {
                self.drain_waker();
            }
            for (i, ready) in readable.iter().enumerate().take(self.ports.len()) {
                if !ready {
                    continue;
                }
                rx.clear();
                match self.ports[i].recv_batch(&mut rx, RX_BATCH) {
                    Ok(n) => {
                        if n > 0 {
                            last_rx = Some(std::time::Instant::now());
                        }
                        let now = self.now();
                        for frame in rx.drain(..) {
                            self.engine
                                .handle_frame(now, crate::PortIndex(i as u16), frame);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(port = %self.engine.port_name(crate::PortIndex(i as u16)), error = %e, "receive failed")
                    }
                }
            }
        }
        tracing::info!("forwarding stopped");
        self.engine
    }

    fn drain_waker(&mut self) {
        use std::io::Read;
        // One read takes the whole counter (and resets it to 0).
        let mut buf = [0u8; 8];
        let _ = (&*self.waker).read(&mut buf);
    }

    fn transmit(&mut self, now: Instant) {
        while let Some(tx) = self.engine.poll_transmit(now) {
            if let Some(out) = self.tx_out.get_mut(tx.port.get()) {
                out.push(tx.frame);
            }
        }
        for (i, out) in self.tx_out.iter_mut().enumerate() {
            if out.is_empty() {
                continue;
            }
            let sent = match self.ports[i].send_batch(out) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(port = i, error = %e, "send failed");
                    0
                }
            };
            self.tx_dropped += (out.len() - sent.min(out.len())) as u64;
            out.clear();
        }
    }

    fn pass_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            let msg =
                pb::session_response::Msg::Event(convert::event_to_proto(&self.engine, &event));
            self.send_to_session(msg);
        }
        while let Some(p) = self.engine.poll_packet_in() {
            let msg =
                pb::session_response::Msg::PacketIn(convert::packet_in_to_proto(&self.engine, &p));
            self.send_to_session(msg);
        }
    }

    fn send_to_session(&mut self, msg: pb::session_response::Msg) {
        let Some(s) = &self.session else {
            return;
        };
        if s.events
            .try_send(Ok(pb::SessionResponse { msg: Some(msg) }))
            .is_err()
        {
            self.events_lost += 1;
            if self.events_lost.is_power_of_two() {
                tracing::warn!(
                    lost = self.events_lost,
                    "session stream full: events dropped"
                );
            }
        }
    }

    fn send_swept(&mut self, entries: usize, reason: &str) {
        let msg = pb::session_response::Msg::Swept(pb::Swept {
            entries: entries as u32,
            reason: reason.into(),
        });
        self.send_to_session(msg);
    }

    fn run_commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            self.run_command(command);
        }
    }

    fn run_command(&mut self, command: Command) {
        match command {
            Command::Attach {
                generation,
                client,
                reconcile_timeout,
                events,
                reply,
            } => {
                let _ = reply.send(self.attach(generation, client, reconcile_timeout, events));
            }
            Command::Detach { generation } => {
                if self
                    .session
                    .as_ref()
                    .is_some_and(|s| s.generation == generation)
                {
                    let s = self.session.take();
                    self.engine.set_control_attached(false);
                    // A control plane that dies mid-reconcile must not have its routes swept
                    // while nobody is there to re-program them: keep everything until the next
                    // one attaches.
                    self.programmer.abandon_reconcile();
                    tracing::warn!(
                        generation,
                        client = s.map(|s| s.client).unwrap_or_default(),
                        "control plane detached: forwarding goes on with what is programmed"
                    );
                }
            }
            Command::PacketOut { generation, packet } => {
                if self.session.as_ref().map(|s| s.generation) != Some(generation) {
                    return;
                }
                let port = match convert::port_index(
                    &self.engine,
                    packet.port.as_ref(),
                    &convert::Field::root("packet_out.port"),
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "packet-out refused");
                        return;
                    }
                };
                if let Err(e) = self.engine.send_frame(port, Bytes::from(packet.frame)) {
                    tracing::debug!(error = %e, "packet-out dropped");
                }
            }
            Command::ReconcileDone { generation } => {
                if self.session.as_ref().map(|s| s.generation) == Some(generation) {
                    let swept = self.programmer.end_reconcile(&mut self.engine);
                    self.send_swept(swept, "reconcile_done");
                }
            }
            Command::Write { request, reply } => {
                let _ = reply.send(self.write(request));
            }
            Command::Read { request, reply } => {
                let (generation, attached) = match &self.session {
                    Some(s) => (s.generation, true),
                    None => (0, false),
                };
                let now = self.now();
                let _ = reply.send(convert::read_response(
                    &self.engine,
                    &self.programmer,
                    now,
                    request.include_learned,
                    generation,
                    attached,
                ));
            }
            Command::Counters { reply } => {
                let mut counters = convert::counters_response(&self.engine);
                // Frames too short (or long) to be Ethernet never reach the engine: the
                // backend drops and counts them. They are this port's malformed frames too.
                for (c, port) in counters.ports.iter_mut().zip(&self.ports) {
                    c.rx_malformed += port.stats().malformed;
                }
                let _ = reply.send(counters);
            }
        }
    }

    fn attach(
        &mut self,
        generation: u64,
        client: String,
        reconcile_timeout: Duration,
        events: SessionTx,
    ) -> Result<(), Status> {
        if generation < self.highest_generation {
            return Err(Status::failed_precondition(format!(
                "generation {generation} is lower than {}, the highest accepted: a newer control plane has attached since",
                self.highest_generation
            )));
        }
        if let Some(s) = &self.session {
            if generation == s.generation {
                return Err(Status::failed_precondition(format!(
                    "generation {generation} is already attached ({}); attach with a higher generation to take over",
                    s.client
                )));
            }
            let _ = s.events.try_send(Err(Status::aborted(format!(
                "superseded by generation {generation} ({client})"
            ))));
            tracing::warn!(
                old = s.generation,
                new = generation,
                "control session taken over"
            );
        }
        let warm = self.programmer.counts().0 > 0;
        let timeout = if reconcile_timeout.is_zero() {
            DEFAULT_RECONCILE
        } else {
            reconcile_timeout
        };
        let stale = self.programmer.begin_reconcile(self.now(), timeout);
        self.highest_generation = generation;
        self.engine.set_control_attached(true);
        let attached = pb::Attached {
            generation,
            unit: u32::from(self.engine.unit()),
            stale_entries: stale as u32,
            warm,
        };
        tracing::info!(generation, %client, warm, stale, "control plane attached");
        let _ = events.try_send(Ok(pb::SessionResponse {
            msg: Some(pb::session_response::Msg::Attached(attached)),
        }));
        self.session = Some(Session {
            generation,
            client,
            events,
        });
        Ok(())
    }

    fn write(&mut self, request: pb::WriteRequest) -> Result<pb::WriteResponse, Status> {
        match &self.session {
            None => {
                return Err(Status::failed_precondition(
                    "no control session is attached: open a Session with your generation first",
                ))
            }
            Some(s) if s.generation != request.generation => {
                return Err(Status::failed_precondition(format!(
                    "generation {} is not the attached session's ({}): stale writer fenced off",
                    request.generation, s.generation
                )))
            }
            Some(_) => {}
        }
        let updates = convert::updates_from_proto(&self.engine, &request.updates)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        match self.programmer.write(&mut self.engine, &updates) {
            Ok(n) => Ok(pb::WriteResponse { applied: n as u32 }),
            Err(e @ WriteError::FdbFull { .. }) => Err(Status::resource_exhausted(e.to_string())),
            Err(e) => Err(Status::invalid_argument(e.to_string())),
        }
    }
}
