//! Shared builders and a tiny driver for engine-level tests.
#![allow(dead_code, missing_docs)]

use bytes::Bytes;
use dataplane::config::{FlowControl, LosslessThresholds, PortConfig, PortId, VlanMode};
use dataplane::time::Instant;
use dataplane::wire::{L2Header, MacAddr, MacControlRepr, VlanTag};
use dataplane::{Engine, EngineConfig, Event, PortIndex, Transmit};

pub const G1: u64 = 1_000_000_000;
pub const G10: u64 = 10_000_000_000;

/// Ethertype of the test payloads.
pub const ETHERTYPE_TEST: u16 = 0x88b6;

pub fn ns(n: u64) -> Instant {
    Instant::from_nanos(n)
}

pub fn us(n: u64) -> Instant {
    Instant::from_nanos(n * 1000)
}

/// A host address (locally administered unicast).
pub fn host(n: u8) -> MacAddr {
    MacAddr::new(0x0a, 0, 0, 0, 0, n)
}

pub const BROADCAST: MacAddr = MacAddr(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

pub fn p(i: u16) -> PortIndex {
    PortIndex(i)
}

/// A frame of `len` bytes (at least the header): header, then `mark` repeated.
pub fn frame(dst: MacAddr, src: MacAddr, vlan: Option<VlanTag>, len: usize, mark: u8) -> Bytes {
    let hdr = L2Header {
        dst,
        src,
        vlan,
        ethertype: ETHERTYPE_TEST,
        payload_offset: 0,
    };
    let mut buf = vec![mark; len.max(18)];
    let n = hdr.emit(&mut buf).expect("header fits");
    buf.truncate(len.max(n));
    Bytes::from(buf)
}

pub fn untagged(dst: MacAddr, src: MacAddr, len: usize, mark: u8) -> Bytes {
    frame(dst, src, None, len, mark)
}

pub fn tagged(dst: MacAddr, src: MacAddr, pcp: u8, vid: u16, len: usize, mark: u8) -> Bytes {
    frame(
        dst,
        src,
        Some(VlanTag {
            pcp,
            dei: false,
            vid,
        }),
        len,
        mark,
    )
}

pub fn pfc(enable: u8, quanta: [u16; 8]) -> Bytes {
    let f = MacControlRepr::Pfc { enable, quanta }.emit_frame(MacAddr::new(2, 0xee, 0, 0, 0, 1));
    Bytes::copy_from_slice(&f)
}

/// PFC pausing one priority for `quanta`.
pub fn pfc_one(prio: u8, quanta: u16) -> Bytes {
    let mut q = [0; 8];
    q[usize::from(prio)] = quanta;
    pfc(1 << prio, q)
}

pub fn pause(quanta: u16) -> Bytes {
    let f = MacControlRepr::Pause { quanta }.emit_frame(MacAddr::new(2, 0xee, 0, 0, 0, 1));
    Bytes::copy_from_slice(&f)
}

/// Parses a transmitted MAC Control frame.
pub fn mac_control(frame: &[u8]) -> Option<MacControlRepr> {
    let h = L2Header::parse(frame).ok()?;
    if h.ethertype != dataplane::wire::ETHERTYPE_MAC_CONTROL {
        return None;
    }
    MacControlRepr::parse(&frame[h.payload_offset..]).ok()
}

/// Time of `quanta` at `speed`, picoseconds, rounded up.
pub fn quanta_ps(quanta: u16, speed: u64) -> u64 {
    (u128::from(quanta) * 512 * 1_000_000_000_000).div_ceil(u128::from(speed)) as u64
}

/// Serialization time of a frame of `len` bytes at `speed`, picoseconds (rounded up).
pub fn wire_ps(len: usize, speed: u64) -> u64 {
    ((len.max(60) as u128 + 24) * 8 * 1_000_000_000_000).div_ceil(u128::from(speed)) as u64
}

pub fn front(n: u8, speed: u64) -> PortConfig {
    PortConfig::new(PortId::front(n), speed)
}

pub fn access(n: u8, speed: u64, vid: u16) -> PortConfig {
    let mut c = front(n, speed);
    c.vlan = VlanMode::Access { vid };
    c
}

pub fn trunk(n: u8, speed: u64, native: Option<u16>, allowed: &[u16]) -> PortConfig {
    let mut c = front(n, speed);
    c.vlan = VlanMode::Trunk {
        native,
        allowed: allowed.to_vec(),
    };
    c
}

pub fn stack_port(n: u8, speed: u64) -> PortConfig {
    PortConfig::new(PortId::stack(n), speed)
}

/// A port that honours received PFC for every priority but sends none.
pub fn pfc_receiver(mut c: PortConfig) -> PortConfig {
    c.flow_control = FlowControl::Pfc { enabled: 0 };
    c
}

pub fn thresholds(xoff: u64, xon: u64, headroom: u64) -> LosslessThresholds {
    LosslessThresholds {
        xoff,
        xon,
        headroom,
    }
}

/// An engine with the PFC watchdog off (unless a test turns it on).
pub fn engine(unit: u8, ports: Vec<PortConfig>) -> Engine {
    let mut cfg = EngineConfig::new(unit, ports);
    cfg.watchdog = None;
    Engine::new(cfg).expect("valid config")
}

pub fn engine_with(cfg: EngineConfig) -> Engine {
    Engine::new(cfg).expect("valid config")
}

/// Everything transmittable at `now`.
pub fn drain(e: &mut Engine, now: Instant) -> Vec<Transmit> {
    let mut out = Vec::new();
    while let Some(t) = e.poll_transmit(now) {
        out.push(t);
        assert!(out.len() < 1_000_000, "poll_transmit never returns None");
    }
    out
}

pub fn events(e: &mut Engine) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

pub fn on_port(tx: &[Transmit], port: PortIndex) -> Vec<Bytes> {
    tx.iter()
        .filter(|t| t.port == port)
        .map(|t| t.frame.clone())
        .collect()
}

/// Drives one engine as a driver would: at each instant, `handle_timeout` then drain
/// `poll_transmit`, then jump to `poll_timeout()`. Every transmission is logged with its time.
#[derive(Debug, Default)]
pub struct Driver {
    pub now: Instant,
    pub log: Vec<(Instant, Transmit)>,
}

impl Driver {
    pub fn new(now: Instant) -> Self {
        Driver {
            now,
            log: Vec::new(),
        }
    }

    /// Runs every instant the engine asks for up to and including `until`, ending at `until`.
    pub fn step_to(&mut self, e: &mut Engine, until: Instant) {
        assert!(until >= self.now, "time runs forward");
        for _ in 0..10_000_000 {
            e.handle_timeout(self.now);
            while let Some(t) = e.poll_transmit(self.now) {
                self.log.push((self.now, t));
            }
            match e.poll_timeout() {
                Some(t) if t <= until => {
                    assert!(
                        t > self.now,
                        "poll_timeout {t} is not after {} although everything due was done",
                        self.now
                    );
                    self.now = t;
                }
                _ if self.now < until => self.now = until,
                _ => return,
            }
        }
        panic!("driver loop did not converge");
    }

    /// Hands a frame in at `at` (after running up to it).
    pub fn feed(&mut self, e: &mut Engine, at: Instant, port: PortIndex, f: Bytes) {
        self.step_to(e, at);
        e.handle_frame(self.now, port, f);
    }

    /// Takes the log.
    pub fn take(&mut self) -> Vec<(Instant, Transmit)> {
        std::mem::take(&mut self.log)
    }

    /// Frames sent on `port` so far (log kept).
    pub fn sent_on(&self, port: PortIndex) -> Vec<(Instant, Bytes)> {
        self.log
            .iter()
            .filter(|(_, t)| t.port == port)
            .map(|(at, t)| (*at, t.frame.clone()))
            .collect()
    }
}
