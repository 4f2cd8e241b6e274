//! The forwarding thread: a thin driver around the engine.
//!
//! The [`Engine`], the [`Programmer`], every port's backend and the control session are one
//! [`ForwardingState`] behind a mutex. The forwarding thread holds the lock for each turn and
//! waits on all the ports' file descriptors and a waker at once, without it, with nanosecond
//! timeouts (`ppoll`), so pause timers, transmit pacing and 10 ms hellos keep their time;
//! tokio's millisecond timer wheel could not.
//!
//! A gRPC request does its work itself, through the [`Handle`]: it takes the lock in the
//! handler's thread, applies or reads, and wakes the forwarding thread (an eventfd: one 8-byte
//! write to wake, one read to drain) only when it changed something the thread acts on. A
//! request does not wait for the forwarding thread to wake up and answer: handing each request
//! over and back cost two cross-CPU wake-ups per call, a third of a unary round trip on a VM
//! (BENCHMARKS.md). The thread releases the lock fairly (to a waiting request first) after every
//! turn, so a request waits at most one turn under full traffic.
//!
//! Each turn: read a batch from every readable port, run timers, transmit what the engine lets
//! go (batched per port), and pass events and stack control frames to the attached session.

use std::fs::File;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use proto::dataplane::v1 as pb;
use tokio::sync::mpsc as tmpsc;
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

/// How the gRPC side reaches the forwarding state. Every call takes the lock for a short,
/// bounded time (one request's work, or one forwarding turn to wait for).
#[derive(Clone, Debug)]
pub struct Handle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<ForwardingState>,
    waker: File,
    stop: AtomicBool,
}

impl Handle {
    /// The state, locked; `UNAVAILABLE` once the forwarding thread has stopped.
    fn lock(&self) -> Result<MutexGuard<'_, ForwardingState>, Status> {
        if self.shared.stop.load(Ordering::SeqCst) {
            return Err(Status::unavailable("the forwarding thread has stopped"));
        }
        Ok(self.shared.state.lock())
    }

    /// Runs `f` on the locked state, then wakes the forwarding thread if what `f` changed
    /// needs it before it would wake by itself: events to pass, or a timer (a frame to send
    /// is one) earlier than its own. A wake-up it does not need costs an inter-processor
    /// interrupt, which a VM pays with an exit.
    fn change<T>(&self, f: impl FnOnce(&mut ForwardingState) -> T) -> Result<T, Status> {
        let mut state = self.lock()?;
        let out = f(&mut state);
        let wake = state.needs_turn();
        drop(state);
        if wake {
            self.wake();
        }
        Ok(out)
    }

    /// A control plane attaches with `generation` (highest wins); on success `Attached` is the
    /// first message on `events`, then packet-ins and events follow.
    pub fn attach(
        &self,
        generation: u64,
        client: String,
        reconcile_timeout: Duration,
        events: SessionTx,
    ) -> Result<(), Status> {
        self.change(|s| s.attach(generation, client, reconcile_timeout, events))?
    }

    /// The session of `generation` ended: forwarding goes on with what is programmed.
    pub fn detach(&self, generation: u64) -> Result<(), Status> {
        self.change(|s| s.detach(generation))
    }

    /// Sends a frame out of a port for the attached control plane of `generation`.
    pub fn packet_out(&self, generation: u64, packet: pb::PacketOut) -> Result<(), Status> {
        self.change(|s| s.packet_out(generation, packet))
    }

    /// The attached control plane of `generation` has re-written what it wants: sweep the rest.
    pub fn reconcile_done(&self, generation: u64) -> Result<(), Status> {
        self.change(|s| s.reconcile_done(generation))
    }

    /// A batched, atomic write.
    pub fn write(&self, request: pb::WriteRequest) -> Result<pb::WriteResponse, Status> {
        self.change(|s| s.write(request))?
    }

    /// Everything programmed and, if asked, learned.
    pub fn read(&self, request: &pb::ReadRequest) -> Result<pb::ReadResponse, Status> {
        Ok(self.lock()?.read(request))
    }

    /// Every port's counters.
    pub fn counters(&self) -> Result<pb::CountersResponse, Status> {
        Ok(self.lock()?.counters())
    }

    /// Asks the thread to stop after its current turn; later calls get `UNAVAILABLE`.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        use std::io::Write;
        // Adds 1 to the eventfd's counter. It only fails (EAGAIN) when the counter is about to
        // overflow, i.e. a wake-up is pending anyway.
        let _ = (&self.shared.waker).write(&1u64.to_ne_bytes());
    }
}

struct Session {
    generation: u64,
    client: String,
    events: SessionTx,
}

/// One unit's dataplane: the engine, what its control plane programmed, its ports and the
/// control session. Shared by the forwarding thread and the gRPC handlers ([`Handle`]).
pub struct ForwardingState {
    engine: Engine,
    programmer: Programmer,
    ports: Vec<Box<dyn PortBackend>>,
    epoch: std::time::Instant,
    session: Option<Session>,
    highest_generation: u64,
    /// Events that could not be delivered (session stream full).
    events_lost: u64,
    /// Frames the backends would not take.
    tx_dropped: u64,
    tx_out: Vec<Vec<Bytes>>,
    /// When the forwarding thread runs its next turn if nothing wakes it.
    next_turn: Instant,
}

impl std::fmt::Debug for ForwardingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardingState")
            .field("unit", &self.engine.unit())
            .field("ports", &self.ports.len())
            .field("session", &self.session.as_ref().map(|s| s.generation))
            .finish_non_exhaustive()
    }
}

/// The forwarding thread, before it runs.
pub struct Forwarder {
    shared: Arc<Shared>,
    /// The ports' file descriptors (-1: none), then the waker's.
    fds: Vec<RawFd>,
}

impl Forwarder {
    /// A forwarder for `engine` whose port `i` is `ports[i]`; and the handle to command it.
    pub fn new(
        engine: Engine,
        ports: Vec<Box<dyn PortBackend>>,
    ) -> std::io::Result<(Forwarder, Handle)> {
        use std::os::fd::AsRawFd;
        let waker = File::from(backend::eventfd()?);
        let mut fds: Vec<RawFd> = ports.iter().map(|p| p.raw_fd().unwrap_or(-1)).collect();
        fds.push(waker.as_raw_fd());
        let n = ports.len();
        let state = ForwardingState {
            engine,
            programmer: Programmer::new(),
            ports,
            epoch: std::time::Instant::now(),
            session: None,
            highest_generation: 0,
            events_lost: 0,
            tx_dropped: 0,
            tx_out: vec![Vec::new(); n],
            next_turn: Instant::ZERO,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            waker,
            stop: AtomicBool::new(false),
        });
        let handle = Handle {
            shared: shared.clone(),
        };
        Ok((Forwarder { shared, fds }, handle))
    }

    /// Runs until [`Handle::stop`].
    pub fn run(self) {
        let mut rx = Vec::with_capacity(RX_BATCH);
        let mut readable = vec![false; self.fds.len()];
        // When the last turn that received frames began.
        let mut last_rx: Option<std::time::Instant> = None;
        {
            let state = self.shared.state.lock();
            tracing::info!(
                unit = state.engine.unit(),
                ports = state.ports.len(),
                "forwarding"
            );
        }
        while !self.shared.stop.load(Ordering::SeqCst) {
            let mut state = self.shared.state.lock();
            // One clock reading per turn: the receive batch and the timers share it.
            let clock = std::time::Instant::now();
            let now = state.instant_of(clock);
            if state.receive(now, &readable, &mut rx) {
                last_rx = Some(clock);
            }
            let busy = last_rx.is_some_and(|t| clock.duration_since(t) < BUSY_POLL);
            let sleep = state.turn(now, busy);
            // Under traffic, when every port can tell without a system call whether a frame
            // waits (memory-mapped rings), the next turn follows at once, without a `ppoll`.
            let skip_poll = busy && state.rx_pending(&mut readable);
            // A request waiting for the lock gets it before this thread's next turn.
            MutexGuard::unlock_fair(state);
            if skip_poll {
                continue;
            }
            if let Err(e) = backend::poll_readable(&self.fds, Some(sleep), &mut readable) {
                tracing::error!(error = %e, "poll failed");
                readable.fill(false);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if readable.last() == Some(&true) {
                self.drain_waker();
            }
        }
        tracing::info!("forwarding stopped");
    }

    fn drain_waker(&self) {
        use std::io::Read;
        // One read takes the whole counter (and resets it to 0).
        let mut buf = [0u8; 8];
        let _ = (&self.shared.waker).read(&mut buf);
    }
}

impl ForwardingState {
    fn now(&self) -> Instant {
        self.instant_of(std::time::Instant::now())
    }

    /// The engine's time at the clock reading `clock`.
    fn instant_of(&self, clock: std::time::Instant) -> Instant {
        Instant::from_duration(clock.saturating_duration_since(self.epoch))
    }

    /// Reads a batch from every port `readable` marks into the engine; whether any frame came.
    fn receive(&mut self, now: Instant, readable: &[bool], rx: &mut Vec<Bytes>) -> bool {
        let mut received = false;
        for (i, ready) in readable.iter().enumerate().take(self.ports.len()) {
            if !ready {
                continue;
            }
            rx.clear();
            match self.ports[i].recv_batch(rx, RX_BATCH) {
                Ok(n) => {
                    received |= n > 0;
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
        received
    }

    /// Marks in `readable` the ports with a frame waiting and returns true, if every port can
    /// tell without a system call ([`PortBackend::rx_pending`]); false if any needs `ppoll` to
    /// tell (which then sets all of `readable` anew). The waker's entry is left false.
    fn rx_pending(&self, readable: &mut [bool]) -> bool {
        readable.fill(false);
        for (r, port) in readable.iter_mut().zip(&self.ports) {
            match port.rx_pending() {
                Some(p) => *r = p,
                None => return false,
            }
        }
        true
    }

    /// Runs timers, transmits and passes events; how long the thread may then sleep (zero
    /// while it is `busy` polling: its next turn follows at once).
    fn turn(&mut self, now: Instant, busy: bool) -> Duration {
        self.engine.handle_timeout(now);
        if let Some(swept) = self.programmer.handle_timeout(now, &mut self.engine) {
            self.send_swept(swept, "timeout");
        }
        self.transmit(now);
        self.pass_events();
        if busy {
            self.next_turn = now;
            return Duration::ZERO;
        }
        // The turn took time: how long to sleep is measured from a fresh reading.
        let now = self.now();
        let sleep = match self.next_timer() {
            Some(t) if t <= now => Duration::ZERO,
            Some(t) => (t - now).min(MAX_SLEEP),
            None => MAX_SLEEP,
        };
        self.next_turn = now + sleep;
        sleep
    }

    /// When the engine or the programmer next needs a turn, if no frame arrives.
    fn next_timer(&mut self) -> Option<Instant> {
        [self.engine.poll_timeout(), self.programmer.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the forwarding thread must run a turn before the one it planned.
    fn needs_turn(&mut self) -> bool {
        self.engine.has_control_output() || self.next_timer().is_some_and(|t| t < self.next_turn)
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

    fn detach(&mut self, generation: u64) {
        if self.session.as_ref().map(|s| s.generation) != Some(generation) {
            return;
        }
        let s = self.session.take();
        self.engine.set_control_attached(false);
        // A control plane that dies mid-reconcile must not have its routes swept while nobody
        // is there to re-program them: keep everything until the next one attaches.
        self.programmer.abandon_reconcile();
        tracing::warn!(
            generation,
            client = s.map(|s| s.client).unwrap_or_default(),
            "control plane detached: forwarding goes on with what is programmed"
        );
    }

    fn packet_out(&mut self, generation: u64, packet: pb::PacketOut) {
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

    fn reconcile_done(&mut self, generation: u64) {
        if self.session.as_ref().map(|s| s.generation) == Some(generation) {
            let swept = self.programmer.end_reconcile(&mut self.engine);
            self.send_swept(swept, "reconcile_done");
        }
    }

    fn read(&self, request: &pb::ReadRequest) -> pb::ReadResponse {
        let (generation, attached) = match &self.session {
            Some(s) => (s.generation, true),
            None => (0, false),
        };
        convert::read_response(
            &self.engine,
            &self.programmer,
            self.now(),
            request.include_learned,
            generation,
            attached,
        )
    }

    fn counters(&self) -> pb::CountersResponse {
        let mut counters = convert::counters_response(&self.engine);
        // Frames too short (or long) to be Ethernet never reach the engine: the backend drops
        // and counts them. They are this port's malformed frames too.
        for (c, port) in counters.ports.iter_mut().zip(&self.ports) {
            c.rx_malformed += port.stats().malformed;
        }
        counters
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
