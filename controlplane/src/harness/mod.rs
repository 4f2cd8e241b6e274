//! A deterministic harness in the raft-rs manner: N stack managers on virtual stack cabling,
//! a virtual clock, seeded message delays (and so seeded reordering), and faults: [`cut`],
//! [`isolate`], [`recover`], [`crash`], [`restart`].
//!
//! Time advances event by event (the next delivery or the next manager timeout), never past
//! what was asked, so runs are fast and a seed always replays the same trace. Each node's
//! dataplane writes are applied to a model dataplane (routes, flood tree, hold) so the tests
//! can walk frames through it.
//!
//! [`cut`]: Harness::cut
//! [`isolate`]: Harness::isolate
//! [`recover`]: Harness::recover
//! [`crash`]: Harness::crash
//! [`restart`]: Harness::restart

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dataplane::time::Instant;

use crate::manager::{LinkState, Persisted, StackConfig, StackEvent, StackManager, StackView};
use crate::program::{DataplaneWrite, Route};
use crate::wire::{Role, StackPort};

/// What a unit is built from (and restarted with).
#[derive(Clone, Debug)]
pub struct UnitSpec {
    /// Base MAC.
    pub mac: u64,
    /// Persistent state at first boot.
    pub persisted: Persisted,
    /// Stack key.
    pub key: Option<Vec<u8>>,
    /// Configured standby unit number.
    pub standby: Option<u8>,
    /// Number of stack ports (0..n).
    pub ports: u8,
}

impl UnitSpec {
    /// A unit with MAC `mac`, priority `priority`, no unit number, no key, 2 stack ports.
    pub fn new(mac: u64, priority: u8) -> Self {
        UnitSpec {
            mac,
            persisted: Persisted { unit: 0, priority },
            key: None,
            standby: None,
            ports: 2,
        }
    }

    /// The same with `ports` stack ports.
    pub fn with_ports(mut self, ports: u8) -> Self {
        self.ports = ports;
        self
    }

    /// The same with a stack key.
    pub fn with_key(mut self, key: &[u8]) -> Self {
        self.key = Some(key.to_vec());
        self
    }

    /// The same with a persisted unit number.
    pub fn with_unit(mut self, unit: u8) -> Self {
        self.persisted.unit = unit;
        self
    }
}

mod control;

/// A unit's model dataplane, as programmed by its manager.
#[derive(Clone, Debug, Default)]
pub struct ModelDataplane {
    /// Routes by unit number.
    pub routes: BTreeMap<u8, Route>,
    /// Flood tree ports.
    pub flood: Vec<StackPort>,
    /// Front ports held.
    pub held: bool,
    /// How many times the front ports were held down after having been released (an active
    /// unit stopping forwarding).
    pub holds_after_active: usize,
    /// How many writes changed a route or the flood tree (a re-write of the same value does
    /// not count): a transient re-route shows here even when the routes end where they were.
    pub route_changes: usize,
    /// Static MAC entries of the stack configuration.
    pub static_macs: BTreeMap<(u16, u64), crate::stack_config::StaticMac>,
}

/// One running unit.
#[derive(Debug)]
pub struct Node {
    /// Its manager.
    pub mgr: StackManager,
    /// Its model dataplane.
    pub dp: ModelDataplane,
    /// Its persistent state as last reported.
    pub persisted: Persisted,
    /// Its checkpoint as last reported.
    pub checkpoint: Option<crate::api::Checkpoint>,
    /// Its control plane is down while its dataplane lives on (see [`Harness::detach_control`]):
    /// it receives nothing and runs no timers.
    pub detached: bool,
}

#[derive(Clone, Copy, Debug)]
struct Cable {
    a: (usize, StackPort),
    b: (usize, StackPort),
    cut: bool,
    was_up: bool,
}

/// A message in flight: (sender, its port, bytes, relays so far).
type InFlight = (usize, StackPort, Vec<u8>, u8);

/// What `settle` watches for change: index, role, master, epoch, held, unit, route count.
type Fingerprint = (usize, Role, Option<u64>, u32, bool, u8, usize);

/// N managers on virtual cabling with a virtual clock.
#[derive(Debug)]
pub struct Harness {
    now: Instant,
    rng: u64,
    specs: Vec<UnitSpec>,
    nodes: Vec<Option<Node>>,
    cables: Vec<Cable>,
    isolated: BTreeSet<usize>,
    queue: BTreeMap<(Instant, u64), InFlight>,
    counter: u64,
    /// Timers for every manager (tests shorten nothing by default).
    pub template: fn(&UnitSpec) -> StackConfig,
    /// Every event, with the index of the unit that raised it.
    pub log: Vec<(usize, StackEvent)>,
    /// Messages refused by `handle_message`.
    pub refused: usize,
}

fn default_config(spec: &UnitSpec) -> StackConfig {
    let mut cfg = StackConfig::new(
        spec.mac,
        spec.persisted,
        (0..spec.ports).map(StackPort).collect(),
    );
    cfg.key = spec.key.clone();
    cfg.standby = spec.standby;
    cfg
}

impl Harness {
    /// An empty harness with a seed for delays.
    pub fn new(seed: u64) -> Self {
        Harness {
            now: Instant::ZERO + Duration::from_secs(1),
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            specs: Vec::new(),
            nodes: Vec::new(),
            cables: Vec::new(),
            isolated: BTreeSet::new(),
            queue: BTreeMap::new(),
            counter: 0,
            template: default_config,
            log: Vec::new(),
            refused: 0,
        }
    }

    /// A ring (`ring = true`, three or more units) or chain of `specs`, booted at the same
    /// instant, `links` parallel links between neighbours: unit i uses ports 0..links towards
    /// the next unit and links..2·links towards the previous one.
    /// Every unit gets at least the `2 · links` stack ports this needs.
    pub fn line(seed: u64, specs: Vec<UnitSpec>, ring: bool, links: u8) -> Self {
        Harness::line_with(seed, specs, ring, links, default_config)
    }

    /// [`Harness::line`] with every manager configured by `template` (e.g. shorter timers).
    pub fn line_with(
        seed: u64,
        specs: Vec<UnitSpec>,
        ring: bool,
        links: u8,
        template: fn(&UnitSpec) -> StackConfig,
    ) -> Self {
        let mut h = Harness::new(seed);
        h.template = template;
        let n = specs.len();
        for mut s in specs {
            s.ports = s.ports.max(2 * links);
            h.add_unit(s);
        }
        let pairs = if ring && n >= 3 {
            n
        } else {
            n.saturating_sub(1)
        };
        for i in 0..pairs {
            let j = (i + 1) % n;
            for k in 0..links {
                h.connect(i, StackPort(k), j, StackPort(links + k));
            }
        }
        h
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    fn next_rand(&mut self) -> u64 {
        // SplitMix64.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Boots a new unit now; returns its index.
    pub fn add_unit(&mut self, spec: UnitSpec) -> usize {
        self.specs.push(spec);
        self.nodes.push(None);
        let i = self.specs.len() - 1;
        self.boot(i);
        i
    }

    fn boot(&mut self, i: usize) {
        let spec = self.specs[i].clone();
        let cfg = (self.template)(&spec);
        let mgr = StackManager::new(cfg, self.now);
        self.nodes[i] = Some(Node {
            persisted: mgr.persisted(),
            checkpoint: None,
            detached: false,
            mgr,
            // A unit boots with its front ports held until it knows its stack.
            dp: ModelDataplane {
                held: true,
                ..ModelDataplane::default()
            },
        });
        self.pump(i);
    }

    /// Cables port `pa` of unit `a` to port `pb` of unit `b`.
    pub fn connect(&mut self, a: usize, pa: StackPort, b: usize, pb: StackPort) {
        self.cables.push(Cable {
            a: (a, pa),
            b: (b, pb),
            cut: false,
            was_up: false,
        });
        self.sync_links();
    }

    /// Cuts every cable between units `a` and `b`.
    pub fn cut(&mut self, a: usize, b: usize) {
        for c in &mut self.cables {
            if (c.a.0, c.b.0) == (a, b) || (c.a.0, c.b.0) == (b, a) {
                c.cut = true;
            }
        }
        self.sync_links();
    }

    /// Cuts one cable: the one on port `p` of unit `a`.
    pub fn cut_port(&mut self, a: usize, p: StackPort) {
        for c in &mut self.cables {
            if c.a == (a, p) || c.b == (a, p) {
                c.cut = true;
            }
        }
        self.sync_links();
    }

    /// Cuts every cable of unit `u` (it keeps running).
    pub fn isolate(&mut self, u: usize) {
        self.isolated.insert(u);
        self.sync_links();
    }

    /// Mends every cut and isolation.
    pub fn recover(&mut self) {
        self.isolated.clear();
        for c in &mut self.cables {
            c.cut = false;
        }
        self.sync_links();
    }

    /// Unit `u` dies: its manager is dropped and its links go down.
    pub fn crash(&mut self, u: usize) {
        if let Some(n) = self.nodes[u].take() {
            self.specs[u].persisted = n.persisted;
        }
        self.sync_links();
    }

    /// Unit `u` boots again with the persistent state it last reported.
    pub fn restart(&mut self, u: usize) {
        if let Some(n) = &self.nodes[u] {
            self.specs[u].persisted = n.persisted;
        }
        self.boot(u);
        self.sync_links();
    }

    /// The cabled, up stack ports of unit `u` and their far ends.
    pub(crate) fn up_cables(&self, u: usize) -> Vec<(StackPort, usize, StackPort)> {
        self.cables
            .iter()
            .filter(|c| self.cable_up(c))
            .filter_map(|c| {
                if c.a.0 == u {
                    Some((c.a.1, c.b.0, c.b.1))
                } else if c.b.0 == u {
                    Some((c.b.1, c.a.0, c.a.1))
                } else {
                    None
                }
            })
            .collect()
    }

    fn cable_up(&self, c: &Cable) -> bool {
        !c.cut
            && self.nodes[c.a.0].is_some()
            && self.nodes[c.b.0].is_some()
            && !self.isolated.contains(&c.a.0)
            && !self.isolated.contains(&c.b.0)
    }

    fn sync_links(&mut self) {
        for k in 0..self.cables.len() {
            let c = self.cables[k];
            let up = self.cable_up(&c);
            if up != c.was_up {
                let state = if up { LinkState::Up } else { LinkState::Down };
                for end in [c.a, c.b] {
                    if let Some(n) = self.nodes[end.0].as_mut() {
                        n.mgr.handle_link(self.now, end.1, state);
                    }
                    self.pump(end.0);
                }
            }
            self.cables[k].was_up = up;
        }
    }

    /// Drains unit `i`'s manager: transmits into the cabling, writes into its model
    /// dataplane, events into the log.
    pub(crate) fn pump(&mut self, i: usize) {
        let mut sends = Vec::new();
        if let Some(n) = self.nodes[i].as_mut() {
            while let Some((p, bytes)) = n.mgr.poll_transmit() {
                sends.push((p, bytes));
            }
            while let Some(w) = n.mgr.poll_write() {
                match w {
                    DataplaneWrite::SetRoute(r) => {
                        if n.dp.routes.insert(r.unit, r.clone()).as_ref() != Some(&r) {
                            n.dp.route_changes += 1;
                        }
                    }
                    DataplaneWrite::DeleteRoute(u) => {
                        if n.dp.routes.remove(&u).is_some() {
                            n.dp.route_changes += 1;
                        }
                    }
                    DataplaneWrite::SetFloodTree(f) => {
                        if n.dp.flood != f {
                            n.dp.route_changes += 1;
                        }
                        n.dp.flood = f;
                    }
                    DataplaneWrite::SetStaticMac(m) => {
                        n.dp.static_macs.insert((m.vid, m.mac), m);
                    }
                    DataplaneWrite::DeleteStaticMac(vid, mac) => {
                        n.dp.static_macs.remove(&(vid, mac));
                    }
                    DataplaneWrite::HoldFrontPorts(h) => {
                        if h && !n.dp.held {
                            n.dp.holds_after_active += 1;
                        }
                        n.dp.held = h;
                    }
                }
            }
            while let Some(e) = n.mgr.poll_event() {
                match &e {
                    StackEvent::PersistedChanged(p) => n.persisted = *p,
                    StackEvent::CheckpointChanged(c) => n.checkpoint = Some(c.clone()),
                    _ => {}
                }
                self.log.push((i, e));
            }
        }
        for (p, bytes) in sends {
            self.send(i, p, bytes, 0);
        }
    }

    fn send(&mut self, from: usize, port: StackPort, bytes: Vec<u8>, relays: u8) {
        let delay = 20_000 + self.next_rand() % 200_000; // 20–220 µs, in ns
        let at = self.now + Duration::from_nanos(delay);
        self.counter += 1;
        self.queue
            .insert((at, self.counter), (from, port, bytes, relays));
    }

    /// The far end of the cable on port `p` of unit `u`, if that cable is up.
    pub fn peer(&self, u: usize, p: StackPort) -> Option<(usize, StackPort)> {
        self.cables.iter().find_map(|c| {
            if !self.cable_up(c) {
                None
            } else if c.a == (u, p) {
                Some(c.b)
            } else if c.b == (u, p) {
                Some(c.a)
            } else {
                None
            }
        })
    }

    /// Runs the world for `d` of virtual time.
    ///
    /// # Panics
    ///
    /// When time stops advancing (a manager asking to be woken at the same instant over and
    /// over: a bug worth a loud failure rather than a hung test).
    pub fn run_for(&mut self, d: Duration) {
        const STUCK: u32 = 100_000;
        let end = self.now + d;
        let mut same = (self.now, 0u32);
        loop {
            if same.0 == self.now {
                same.1 += 1;
                assert!(
                    same.1 < STUCK,
                    "harness: time stuck at {:?}: a poll_timeout does not advance",
                    self.now
                );
            } else {
                same = (self.now, 0);
            }
            let next_msg = self.queue.keys().next().map(|k| k.0);
            let next_timer = self
                .nodes
                .iter()
                .flatten()
                .filter(|n| !n.detached)
                .filter_map(|n| n.mgr.poll_timeout())
                .min();
            let next = match (next_msg, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => {
                        self.now = self.now.max(end);
                        return;
                    }
                },
            };
            if next > end {
                self.now = end;
                return;
            }
            self.now = self.now.max(next);
            // Deliveries due now.
            while let Some((&key, _)) = self.queue.iter().next() {
                if key.0 > self.now {
                    break;
                }
                let Some((from, port, bytes, relays)) = self.queue.remove(&key) else {
                    break;
                };
                let Some((to, q)) = self.peer(from, port) else {
                    continue;
                };
                if self.nodes[to].as_ref().is_some_and(|n| n.detached) {
                    // Its control plane is away: its dataplane passes control frames on to
                    // its other stack ports, hop-limited (as `dataplaned` does).
                    if relays + 1 < crate::control_frame::HOP_LIMIT {
                        for (p, _, _) in self.up_cables(to) {
                            if p != q {
                                self.send(to, p, bytes.clone(), relays + 1);
                            }
                        }
                    }
                    continue;
                }
                if let Some(n) = self.nodes[to].as_mut() {
                    let r = if relays > 0 {
                        n.mgr.handle_relayed_message(self.now, q, &bytes)
                    } else {
                        n.mgr.handle_message(self.now, q, &bytes)
                    };
                    if r.is_err() {
                        self.refused += 1;
                    }
                }
                self.pump(to);
            }
            for i in 0..self.nodes.len() {
                let due = self.nodes[i]
                    .as_ref()
                    .filter(|n| !n.detached)
                    .and_then(|n| n.mgr.poll_timeout())
                    .is_some_and(|t| t <= self.now);
                if due {
                    if let Some(n) = self.nodes[i].as_mut() {
                        n.mgr.handle_timeout(self.now);
                    }
                    self.pump(i);
                }
            }
        }
    }

    fn fingerprint(&self) -> Vec<Fingerprint> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                n.as_ref().map(|n| {
                    let v = n.mgr.view(self.now);
                    (
                        i,
                        v.role,
                        v.master,
                        v.epoch,
                        n.dp.held,
                        v.unit,
                        n.dp.routes.len(),
                    )
                })
            })
            .collect()
    }

    /// Runs until roles, masters, epochs, holds and routes stop changing for 3 s of virtual
    /// time (bounded by 120 s). Returns whether it settled.
    pub fn settle(&mut self) -> bool {
        let mut last = self.fingerprint();
        let mut quiet = Duration::ZERO;
        for _ in 0..240 {
            self.run_for(Duration::from_millis(500));
            let fp = self.fingerprint();
            if fp == last {
                quiet += Duration::from_millis(500);
                if quiet >= Duration::from_secs(3) {
                    return true;
                }
            } else {
                quiet = Duration::ZERO;
                last = fp;
            }
        }
        false
    }

    /// Calls `f` on unit `i`'s manager at the current time (an operator command, say) and
    /// delivers what it produced. `None` if the unit is down.
    pub fn operate<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut StackManager, Instant) -> R,
    ) -> Option<R> {
        let now = self.now;
        let r = f(&mut self.nodes.get_mut(i)?.as_mut()?.mgr, now);
        self.pump(i);
        Some(r)
    }

    /// Unit `i`, if running.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i).and_then(|n| n.as_ref())
    }

    /// Unit `i`'s view now.
    pub fn view(&self, i: usize) -> Option<StackView> {
        self.node(i).map(|n| n.mgr.view(self.now))
    }

    /// Index of the unit with MAC `mac`.
    pub fn index_of(&self, mac: u64) -> Option<usize> {
        self.specs.iter().position(|s| s.mac == mac)
    }

    /// MAC of unit `i`.
    pub fn mac(&self, i: usize) -> u64 {
        self.specs[i].mac
    }

    /// Number of units ever added.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when no unit was ever added.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The groups of running units that can talk: connected by up cables between units with
    /// the same stack key. Sorted, each in index order.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for start in 0..self.nodes.len() {
            if self.nodes[start].is_none() || !seen.insert(start) {
                continue;
            }
            let mut comp = vec![start];
            let mut k = 0;
            while k < comp.len() {
                let u = comp[k];
                k += 1;
                for c in &self.cables {
                    if !self.cable_up(c) || self.specs[c.a.0].key != self.specs[c.b.0].key {
                        continue;
                    }
                    let other = if c.a.0 == u {
                        c.b.0
                    } else if c.b.0 == u {
                        c.a.0
                    } else {
                        continue;
                    };
                    if seen.insert(other) {
                        comp.push(other);
                    }
                }
            }
            comp.sort();
            out.push(comp);
        }
        out
    }

    /// Invariant 4: in every component that has an active unit, exactly one unit is master
    /// and every active unit follows it.
    pub fn check_one_master(&self) -> Result<(), String> {
        for comp in self.components() {
            let views: Vec<(usize, StackView)> = comp
                .iter()
                .filter_map(|&i| self.view(i).map(|v| (i, v)))
                .collect();
            let masters: Vec<usize> = views
                .iter()
                .filter(|(_, v)| v.role == Role::Master)
                .map(|(i, _)| *i)
                .collect();
            let active: Vec<&(usize, StackView)> = views.iter().filter(|(_, v)| v.active).collect();
            if active.is_empty() {
                continue;
            }
            if masters.len() != 1 {
                return Err(format!("component {comp:?}: masters {masters:?}"));
            }
            let m = self.mac(masters[0]);
            for (i, v) in active {
                if v.master != Some(m) {
                    return Err(format!("unit {i} follows {:?}, not {m:#x}", v.master));
                }
            }
        }
        Ok(())
    }

    /// Invariant 5 in a component: the flood tree (as programmed) is a spanning tree, and
    /// every numbered unit reaches every other by following primary routes, without a loop.
    pub fn check_forwarding(&self, comp: &[usize]) -> Result<(), String> {
        // Flood tree: mutual edges between units.
        let mut edges = BTreeSet::new();
        for &u in comp {
            let Some(n) = self.node(u) else { continue };
            for &p in &n.dp.flood {
                let (v, q) = self
                    .peer(u, p)
                    .ok_or(format!("unit {u} floods on dead port {p:?}"))?;
                let other = self.node(v).ok_or("flood to a dead unit")?;
                if !other.dp.flood.contains(&q) {
                    return Err(format!("flood edge {u}->{v} is one-sided"));
                }
                edges.insert((u.min(v), u.max(v)));
            }
        }
        if edges.len() + 1 != comp.len() {
            return Err(format!(
                "flood tree has {} links for {} units",
                edges.len(),
                comp.len()
            ));
        }
        let mut reach = BTreeSet::from([comp[0]]);
        loop {
            let before = reach.len();
            for &(a, b) in &edges {
                if reach.contains(&a) || reach.contains(&b) {
                    reach.insert(a);
                    reach.insert(b);
                }
            }
            if reach.len() == before {
                break;
            }
        }
        if reach.len() != comp.len() {
            return Err("flood tree does not span the component".into());
        }
        // Routes.
        let unit_of = |i: usize| self.node(i).map_or(0, |n| n.persisted.unit);
        for &src in comp {
            for &dst in comp {
                let d = unit_of(dst);
                if src == dst || d == 0 {
                    continue;
                }
                let mut cur = src;
                let mut visited = BTreeSet::from([src]);
                while cur != dst {
                    let n = self.node(cur).ok_or("route through a dead unit")?;
                    let r =
                        n.dp.routes
                            .get(&d)
                            .ok_or(format!("unit {cur} has no route to unit number {d}"))?;
                    let p = r.primary_port().ok_or("empty trunk")?;
                    let (next, _) = self
                        .peer(cur, p)
                        .ok_or(format!("unit {cur} routes {d} to a dead port"))?;
                    if !visited.insert(next) {
                        return Err(format!("loop from {src} to {dst} at {next}"));
                    }
                    cur = next;
                }
            }
        }
        Ok(())
    }
}
