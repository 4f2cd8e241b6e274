//! Timers: PFC refresh, FDB ageing and the PFC watchdog; and `poll_timeout`, which tells the
//! driver when the engine next has something to do without new input.

use super::{Engine, Event};
use crate::config::WatchdogAction;
use crate::port::PortIndex;
use crate::time::Instant;

impl Engine {
    /// Runs every timer due at `now`: PFC XOFF refreshes, FDB ageing, the PFC watchdog.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let mut aged = Vec::new();
        self.fdb.age(now, |e| aged.push(e));
        for e in aged {
            self.push_event(Event::Aged {
                vid: e.vid,
                mac: e.mac,
                dest: e.dest,
            });
        }
        // Only the ports with a timer due: the others' refresh, hello and watchdog would find
        // nothing to do (their deadlines are exact, see `PortDeadlines`).
        self.refresh_deadlines();
        if self.deadlines.all().timer > now.as_ps() {
            return;
        }
        for i in 0..self.ports.len() {
            if self.deadlines.port(i).timer > now.as_ps() {
                continue;
            }
            self.dirty |= 1 << i;
            let port = &mut self.ports[i];
            port.tx_pause.refresh_due(now);
            if port.tx_pause.pending() {
                self.ready |= 1 << i;
            }
            self.run_hello(now, i);
            self.run_watchdog(now, i);
        }
    }

    /// Stack-link hellos of port `i`: send one when due, declare the link dead when the peer's
    /// stopped.
    fn run_hello(&mut self, now: Instant, i: usize) {
        let unit = self.config.unit;
        let attached = self.control_attached;
        let link = self.ports_link & (1 << i) != 0;
        let port = &mut self.ports[i];
        let (number, mac) = (port.cfg.id.port, port.cfg.mac);
        let Some(session) = port.hello.as_mut() else {
            return;
        };
        if let Some(frame) = session.poll_hello(now, unit, number, mac, attached) {
            if link {
                // Hellos go ahead of queued control-path frames: their timing is the liveness.
                port.cpu_queue
                    .push_front(bytes::Bytes::copy_from_slice(&frame));
                self.ready |= 1 << i;
            }
        }
        if session.handle_timeout(now) == Some(crate::hello::HelloChange::Down) {
            tracing::warn!(port = %self.port_name(PortIndex(i as u16)), "stack link down: hellos stopped");
            self.update_port_state(i);
        }
    }

    /// The PFC watchdog of port `i` (SONiC's `pfcwd`): a lossless queue holding frames and
    /// paused continuously for the detection time is in a storm; it is restored once no pause
    /// has arrived for the restoration time.
    fn run_watchdog(&mut self, now: Instant, i: usize) {
        let Some(wd) = self.config.watchdog else {
            return;
        };
        // Only a lossless queue holding frames can be detected, only a stormed one restored.
        let port = &self.ports[i];
        let mut lossless = port.lossless_tcs & (port.queues.non_empty() | port.stormed);
        while lossless != 0 {
            let tc = lossless.trailing_zeros() as usize;
            lossless &= lossless - 1;
            let port = &self.ports[i];
            match port.watch[tc].stormed_since {
                None => {
                    let Some(start) = port.rx_pause.tc_pause_start(tc, now) else {
                        continue;
                    };
                    if now < start + wd.detection || port.queues.depth_frames(tc) == 0 {
                        continue;
                    }
                    let port = &mut self.ports[i];
                    port.watch[tc].stormed_since = Some(now);
                    port.stormed |= 1 << tc;
                    port.queue_counters[tc].storms += 1;
                    port.queue_counters[tc].stormed = true;
                    tracing::warn!(port = %self.port_name(PortIndex(i as u16)), tc, action = ?wd.action, "PFC storm detected");
                    self.push_event(Event::PfcStormDetected {
                        port: PortIndex(i as u16),
                        tc: tc as u8,
                    });
                    if wd.action == WatchdogAction::Drop {
                        self.discard_queued(i, 1 << tc);
                    }
                }
                Some(_) => {
                    let last = port.rx_pause.tc_last_pause(tc).unwrap_or(Instant::ZERO);
                    if now < last + wd.restoration || port.rx_pause.paused_tcs(now) & (1 << tc) != 0
                    {
                        continue;
                    }
                    let port = &mut self.ports[i];
                    port.watch[tc].stormed_since = None;
                    port.stormed &= !(1 << tc);
                    port.queue_counters[tc].stormed = false;
                    tracing::info!(port = %self.port_name(PortIndex(i as u16)), tc, "PFC storm over, queue restored");
                    self.push_event(Event::PfcStormRestored {
                        port: PortIndex(i as u16),
                        tc: tc as u8,
                    });
                }
            }
        }
    }

    /// When the engine next needs [`Engine::poll_transmit`] or [`Engine::handle_timeout`] if no
    /// frame arrives: a port finishing a transmission with more to send, a pause expiring on a
    /// port with frames waiting, a PFC refresh, an FDB sweep, a watchdog check. `None` when idle.
    /// An instant at or before the latest `now` means "at once".
    ///
    /// Each port's share is kept between calls and recomputed only for the ports that changed
    /// since (or whose received pause ended), so a call costs O(changed ports), not O(ports).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.refresh_deadlines();
        let fdb = self.fdb.poll_timeout().map_or(u64::MAX, Instant::as_ps);
        let next = fdb.min(self.deadlines.all().any);
        let next = (next != u64::MAX).then(|| Instant::from_ps(next));
        #[cfg(debug_assertions)]
        {
            let full = self.poll_timeout_full();
            let now = self.now;
            assert!(
                next == full || (next.is_some_and(|t| t <= now) && full.is_some_and(|t| t <= now)),
                "cached poll_timeout {next:?} differs from the full computation {full:?} at {now}"
            );
        }
        next
    }

    /// Recomputes the deadlines of the ports that changed, and of those whose received pause
    /// ended since (their answers depend on it), and the minima over all ports.
    pub(super) fn refresh_deadlines(&mut self) {
        let now = self.now.as_ps();
        let mut stale = self.dirty;
        if now >= self.deadlines.all().valid {
            for i in 0..self.ports.len() {
                if self.deadlines.port(i).valid <= now {
                    stale |= 1 << i;
                }
            }
        }
        self.dirty = 0;
        while stale != 0 {
            let i = stale.trailing_zeros() as usize;
            stale &= stale - 1;
            if i >= self.ports.len() {
                break;
            }
            let d = self.port_deadlines(i);
            self.deadlines.set(i, d);
        }
    }

    /// Port `i`'s share of [`Engine::poll_timeout`] at the latest `now`.
    fn port_deadlines(&self, i: usize) -> PortDeadlines {
        let now = self.now;
        let port = &self.ports[i];
        let mut tx = u64::MAX;
        let mut timer = u64::MAX;
        if let Some(t) = port.tx_pause.refresh_at {
            timer = timer.min(t.as_ps());
        }
        if let Some(h) = &port.hello {
            timer = timer.min(h.poll_timeout().as_ps());
        }
        let free_at = port
            .busy_until
            .as_ps()
            .saturating_sub(self.tx_burst_ps)
            .max(now.as_ps());
        let waiting = port.queues.non_empty();
        if self.ready & self.ports_link & (1 << i) != 0
            && (port.tx_pause.pending() || !port.cpu_queue.is_empty())
        {
            tx = tx.min(free_at);
        }
        if self.ready & self.ports_up & (1 << i) != 0 {
            let eligible = waiting & !(port.rx_pause.paused_tcs(now) & !self.watchdog_override(i));
            if eligible != 0 {
                tx = tx.min(free_at);
            } else {
                for tc in 0..8 {
                    if waiting & (1 << tc) != 0 {
                        if let Some(t) = port.rx_pause.tc_resumes_at(tc, now) {
                            tx = tx.min(t.as_ps().max(free_at));
                        }
                    }
                }
            }
        }
        if let Some(wd) = self.config.watchdog {
            // Only a lossless queue holding frames can be detected, only a stormed one restored.
            let mut lossless = port.lossless_tcs & (waiting | port.stormed);
            while lossless != 0 {
                let tc = lossless.trailing_zeros() as usize;
                lossless &= lossless - 1;
                match port.watch[tc].stormed_since {
                    None => {
                        if port.queues.depth_frames(tc) > 0 {
                            if let Some(start) = port.rx_pause.tc_pause_start(tc, now) {
                                timer = timer.min((start + wd.detection).as_ps());
                            }
                        }
                    }
                    Some(_) => {
                        let last = port.rx_pause.tc_last_pause(tc).unwrap_or(Instant::ZERO);
                        let resume = port
                            .rx_pause
                            .tc_resumes_at(tc, now)
                            .unwrap_or(Instant::ZERO);
                        timer = timer.min((last + wd.restoration).max(resume).as_ps());
                    }
                }
            }
        }
        PortDeadlines {
            tx,
            timer,
            valid_until: port
                .rx_pause
                .next_change(now)
                .map_or(u64::MAX, Instant::as_ps),
        }
    }

    /// [`Engine::poll_timeout`] computed from scratch over every port (checks the cache).
    #[cfg(debug_assertions)]
    fn poll_timeout_full(&self) -> Option<Instant> {
        let mut next = self.fdb.poll_timeout().map_or(u64::MAX, Instant::as_ps);
        for i in 0..self.ports.len() {
            let d = self.port_deadlines(i);
            next = next.min(d.tx.min(d.timer));
        }
        (next != u64::MAX).then(|| Instant::from_ps(next))
    }
}

/// The ports' [`PortDeadlines`] and their minima, in a tournament tree: node `k` holds the
/// minima of nodes `2k` and `2k + 1`, the ports are the leaves, node 1 is the root. A port's
/// change updates the nodes on its path to the root while they change (log₂ ports at most),
/// where a pass over every port cost ~10 instructions per port (a third of the instructions
/// of a 33-port switch in the simulator's incast).
#[derive(Clone, Debug)]
pub(super) struct Deadlines {
    /// Leaves from `leaves` on (padded with "never" to a power of two).
    tree: Vec<Mins>,
    leaves: usize,
}

/// Minima over a set of ports, picoseconds (`u64::MAX`: none): of `tx.min(timer)`, of `timer`,
/// of `valid_until` ([`PortDeadlines`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mins {
    pub any: u64,
    pub timer: u64,
    pub valid: u64,
}

impl Mins {
    const NEVER: Mins = Mins {
        any: u64::MAX,
        timer: u64::MAX,
        valid: u64::MAX,
    };

    #[inline]
    fn min(self, o: Mins) -> Mins {
        Mins {
            any: self.any.min(o.any),
            timer: self.timer.min(o.timer),
            valid: self.valid.min(o.valid),
        }
    }
}

impl Deadlines {
    /// `ports` ports, each due at once and out of date (the first refresh computes them all).
    pub fn new(ports: usize) -> Self {
        let leaves = ports.next_power_of_two();
        let mut d = Deadlines {
            tree: vec![Mins::NEVER; 2 * leaves],
            leaves,
        };
        for i in 0..ports {
            d.set(i, PortDeadlines::default());
        }
        d
    }

    /// Port `i`'s entry as last set.
    #[inline]
    pub fn port(&self, i: usize) -> Mins {
        self.tree[self.leaves + i]
    }

    /// The minima over every port.
    #[inline]
    pub fn all(&self) -> Mins {
        self.tree[1]
    }

    /// Sets port `i`'s entry and the minima above it.
    #[inline]
    pub fn set(&mut self, i: usize, d: PortDeadlines) {
        let mut k = self.leaves + i;
        let leaf = Mins {
            any: d.tx.min(d.timer),
            timer: d.timer,
            valid: d.valid_until,
        };
        if self.tree[k] == leaf {
            return;
        }
        self.tree[k] = leaf;
        while k > 1 {
            let m = self.tree[k].min(self.tree[k ^ 1]);
            k /= 2;
            if self.tree[k] == m {
                break; // nothing above changes either
            }
            self.tree[k] = m;
        }
    }
}

/// One port's share of [`Engine::poll_timeout`], picoseconds (`u64::MAX`: none), as computed
/// at some `now`: `tx` when it may transmit, `timer` when [`Engine::handle_timeout`] has work on
/// it (PFC refresh, hello, watchdog). Until `valid_until` (the end of a pause received on it)
/// and while the port does not change, a later computation gives the same values, or values
/// that are both "at once" — so they are kept, not recomputed.
#[derive(Clone, Copy, Debug)]
pub(super) struct PortDeadlines {
    pub tx: u64,
    pub timer: u64,
    pub valid_until: u64,
}

impl Default for PortDeadlines {
    /// Due at once and out of date: the first `poll_timeout` computes it.
    fn default() -> Self {
        PortDeadlines {
            tx: 0,
            timer: 0,
            valid_until: 0,
        }
    }
}
