//! Watching for a second master while a scenario plays: a thread asks every unit's `stackd`
//! who it is (`show switch`) over and over, and remembers the most units that said "master"
//! in one sweep. Faults come and go between the steps' own checks, so "never a second master"
//! can only be proved by looking all the time, not at the end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proto::stack::v1 as pb;
use serde::Serialize;

use crate::launch::mgmt::Mgmt;

/// How often the watch sweeps the units.
const SWEEP: Duration = Duration::from_millis(50);

/// What the watch saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MasterWatch {
    /// Sweeps made (each asks every unit once).
    pub sweeps: u64,
    /// The most units that said they were master in one sweep.
    pub max_masters: u32,
    /// When that was first seen, milliseconds after the timeline began (0 if never above 1).
    pub max_at_ms: f64,
    /// The units (as launched) that said so then.
    pub max_units: Vec<u8>,
}

/// The watching thread; [`Watcher::stop`] ends it and returns what it saw.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<MasterWatch>,
}

impl Watcher {
    /// Starts watching the stackd at each `(unit, socket)`; times count from `t0`.
    pub fn start(units: Vec<(u8, PathBuf)>, t0: Instant) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("master-watch".into())
            .spawn(move || watch(&units, t0, &flag))?;
        Ok(Watcher { stop, handle })
    }

    /// Stops the watch and returns what it saw.
    pub fn stop(self) -> MasterWatch {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

fn watch(units: &[(u8, PathBuf)], t0: Instant, stop: &AtomicBool) -> MasterWatch {
    let mut seen = MasterWatch::default();
    let Ok(mgmt) = Mgmt::new() else {
        return seen;
    };
    while !stop.load(Ordering::Relaxed) {
        let next = Instant::now() + SWEEP;
        // A stackd that is down (killed by the scenario) does not answer: it claims nothing.
        let masters: Vec<u8> = units
            .iter()
            .filter(|(_, socket)| mgmt.show_switch(socket).is_ok_and(|v| says_master(&v)))
            .map(|(u, _)| *u)
            .collect();
        seen.sweeps += 1;
        let n = masters.len() as u32;
        if n > seen.max_masters {
            seen.max_masters = n;
            seen.max_units = masters;
            seen.max_at_ms = if n > 1 {
                t0.elapsed().as_secs_f64() * 1e3
            } else {
                0.0
            };
        }
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    seen
}

/// Whether the serving unit says it is the master.
fn says_master(v: &pb::ShowSwitchResponse) -> bool {
    v.members
        .iter()
        .any(|m| m.local && m.role == pb::Role::Master as i32)
}
