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
        for i in 0..self.ports.len() {
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
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now;
        let mut next = self.fdb.poll_timeout();
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let burst = self.tx_burst_ps;
        for (i, port) in self.ports.iter().enumerate() {
            if let Some(t) = port.tx_pause.refresh_at {
                consider(t);
            }
            if let Some(h) = &port.hello {
                consider(h.poll_timeout());
            }
            let free_at = Instant::from_ps(port.busy_until.as_ps().saturating_sub(burst)).max(now);
            let waiting = port.queues.non_empty();
            if self.ready & self.ports_link & (1 << i) != 0
                && (port.tx_pause.pending() || !port.cpu_queue.is_empty())
            {
                consider(free_at);
            }
            if self.ready & self.ports_up & (1 << i) != 0 {
                let eligible =
                    waiting & !(port.rx_pause.paused_tcs(now) & !self.watchdog_override(i));
                if eligible != 0 {
                    consider(free_at);
                } else {
                    for tc in 0..8 {
                        if waiting & (1 << tc) != 0 {
                            if let Some(t) = port.rx_pause.tc_resumes_at(tc, now) {
                                consider(t.max(free_at));
                            }
                        }
                    }
                }
            }
            let Some(wd) = self.config.watchdog else {
                continue;
            };
            // Only a lossless queue holding frames can be detected, only a stormed one restored.
            let mut lossless = port.lossless_tcs & (waiting | port.stormed);
            while lossless != 0 {
                let tc = lossless.trailing_zeros() as usize;
                lossless &= lossless - 1;
                match port.watch[tc].stormed_since {
                    None => {
                        if port.queues.depth_frames(tc) > 0 {
                            if let Some(start) = port.rx_pause.tc_pause_start(tc, now) {
                                consider(start + wd.detection);
                            }
                        }
                    }
                    Some(_) => {
                        let last = port.rx_pause.tc_last_pause(tc).unwrap_or(Instant::ZERO);
                        let resume = port
                            .rx_pause
                            .tc_resumes_at(tc, now)
                            .unwrap_or(Instant::ZERO);
                        consider((last + wd.restoration).max(resume));
                    }
                }
            }
        }
        next
    }
}
