//! The stack manager of one unit: a sans-IO state machine.
//!
//! Every unit floods its advert; from the adverts every unit builds the same graph, finds its
//! component and decides, by the same rules, who is master. What each unit decides:
//!
//! 1. **Masters in the component.** If any unit in my component claims master, the
//!    [incumbent](crate::election::incumbent) is the one with the highest epoch (then the
//!    rules). If that is me and another master has an epoch as high as mine, I won a merge and
//!    bump my epoch past it; otherwise I follow it (and step down if I was master: fenced by a
//!    higher epoch, or beaten by the rules on a merge). No quorum is needed to keep a master.
//! 2. **No master.** The quorum is the stack membership known at the highest epoch in my
//!    component (the unit table of its adverts). If more than half of it is present (or none
//!    is known: a cold boot), the component elects once this unit's cold-boot window is over:
//!    a standby of the top epoch takes over; else the best by priority, uptime, MAC. The
//!    winner claims master with epoch = top epoch + 1. A part with half or less holds its front
//!    ports down and elects nobody.
//! 3. **Directives.** The master assigns unit numbers (it first, then its previous members,
//!    then newcomers by priority and MAC; a unit keeps its number when free, else the lowest
//!    free one, else none: a seventh unit) and names the standby (configured, else incumbent,
//!    else by the rules). Members take both from the master they follow, and nobody else.
//! 4. **Dataplane.** Routes to every numbered unit of the component, the flood tree, and the
//!    front-port hold (released only for a numbered unit of a stack with a master, and kept
//!    released by an active unit of a majority while its next master is chosen: nonstop
//!    forwarding).
//!
//! The cold-boot window ends early when the component is closed (every unit's every stack
//! port is up and leads to another unit of it, e.g. a complete ring): nobody else can join,
//! so there is nothing to wait for. Operator commands are in [`operator`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use dataplane::time::Instant;
use tracing::{debug, info, warn};

use crate::database::{Database, Offer};
use crate::election::{self, Candidate, Rule};
use crate::program::{DataplaneWrite, Programmed, Route};
use crate::stack_config::StackWideConfig;
use crate::topology::Graph;
use crate::wire::{self, Adjacency, Advert, Body, Mac, Macs, Message, Role, StackPort};

pub use crate::api::{
    Checkpoint, CommandError, LinkState, MemberView, MessageError, Persisted, StackConfig,
    StackEvent, StackPortView, StackView,
};

mod nsf;
mod operator;
mod replication;
mod standby_sync;

pub use standby_sync::{state_digest, CheckpointSide, CheckpointStats};

#[derive(Clone, Copy, Debug)]
struct PortState {
    up: bool,
    neighbour: Option<(u64, StackPort)>,
    heard: Instant,
    /// The neighbour's control plane is detached (its hellos say so): it is kept, and
    /// vouched for in our adverts, until then.
    grace_until: Option<Instant>,
}

/// The stack manager of one unit.
#[derive(Debug)]
pub struct StackManager {
    cfg: StackConfig,
    boot: Instant,
    seq: u32,
    ports: BTreeMap<StackPort, PortState>,
    db: Database,
    role: Role,
    epoch: u32,
    master: Option<u64>,
    standby: Option<(u64, Rule)>,
    table: BTreeMap<u64, u8>,
    held: bool,
    members: BTreeSet<u64>,
    graph: Graph,
    component: BTreeSet<u64>,
    window_over: bool,
    last_sent: Option<Advert>,
    next_advert: Instant,
    transmits: VecDeque<(StackPort, Vec<u8>)>,
    writes: VecDeque<DataplaneWrite>,
    events: VecDeque<StackEvent>,
    programmed: Programmed,
    /// Newest command sequence number seen per issuing master.
    commands_seen: BTreeMap<u64, u32>,
    /// As master: priorities ordered for other units, re-sent until their adverts show them.
    pending_priority: BTreeMap<u64, u8>,
    command_seq: u32,
    /// The stack configuration held (as master: the running one).
    stack_config: Option<StackWideConfig>,
    /// Resumed from a checkpoint and not yet heard from every unit of it: decisions wait.
    resyncing: bool,
    /// The checkpoint as last reported.
    last_checkpoint: Option<Checkpoint>,
    /// The checkpoint stream to (or from) the standby.
    sync: standby_sync::SyncTracker,
}

impl StackManager {
    /// A manager for a unit booted at `now`, with every stack port down.
    pub fn new(cfg: StackConfig, now: Instant) -> Self {
        let ports = cfg
            .stack_ports
            .iter()
            .map(|&p| {
                (
                    p,
                    PortState {
                        up: false,
                        neighbour: None,
                        heard: now,
                        grace_until: None,
                    },
                )
            })
            .collect();
        let stack_config = cfg.stack_config.clone();
        let mut cfg = cfg;
        if let Some(sc) = &stack_config {
            cfg.standby = sc.standby.or(cfg.standby);
        }
        let mut m = StackManager {
            stack_config,
            resyncing: false,
            last_checkpoint: None,
            sync: Default::default(),
            db: Database::new(cfg.hold_time),
            cfg,
            boot: now,
            seq: 0,
            ports,
            role: Role::Joining,
            epoch: 0,
            master: None,
            standby: None,
            table: BTreeMap::new(),
            held: true,
            members: BTreeSet::new(),
            graph: Graph::default(),
            component: BTreeSet::new(),
            window_over: false,
            last_sent: None,
            next_advert: now,
            transmits: VecDeque::new(),
            writes: VecDeque::new(),
            events: VecDeque::new(),
            programmed: Programmed::default(),
            commands_seen: BTreeMap::new(),
            pending_priority: BTreeMap::new(),
            command_seq: 0,
        };
        if let Some(cp) = m.cfg.resume.take() {
            m.resume(cp, now);
        }
        m.recompute(now);
        m
    }

    /// This unit's MAC.
    pub fn mac(&self) -> u64 {
        self.cfg.mac
    }

    /// The persistent state as it is now.
    pub fn persisted(&self) -> Persisted {
        self.cfg.persisted
    }

    /// A stack link went up or down.
    pub fn handle_link(&mut self, now: Instant, port: StackPort, state: LinkState) {
        let Some(p) = self.ports.get_mut(&port) else {
            warn!(?port, "link event for an unknown stack port");
            return;
        };
        match state {
            LinkState::Up if !p.up => {
                p.up = true;
                p.heard = now;
                // Bring the new neighbour up to date: our advert and everything we hold.
                let own = self.own_advert(now);
                self.send_on(port, &own);
                let held: Vec<Advert> = self.db.iter().map(|e| e.advert.clone()).collect();
                for a in &held {
                    self.send_on(port, a);
                }
            }
            LinkState::Down if p.up => {
                p.up = false;
                p.neighbour = None;
            }
            _ => return,
        }
        self.recompute(now);
    }

    /// Bytes that arrived on a stack link. Never panics; refused input changes nothing.
    pub fn handle_message(
        &mut self,
        now: Instant,
        port: StackPort,
        bytes: &[u8],
    ) -> Result<(), MessageError> {
        self.receive(now, port, bytes, false)
    }

    /// Bytes that arrived on a stack link relayed by a neighbour whose control plane is away
    /// (its dataplane passed them on): taken like any message, but the sender is not the
    /// neighbour on that link, so nothing is learned about the link from it.
    pub fn handle_relayed_message(
        &mut self,
        now: Instant,
        port: StackPort,
        bytes: &[u8],
    ) -> Result<(), MessageError> {
        self.receive(now, port, bytes, true)
    }

    fn receive(
        &mut self,
        now: Instant,
        port: StackPort,
        bytes: &[u8],
        relayed: bool,
    ) -> Result<(), MessageError> {
        let p = *self
            .ports
            .get(&port)
            .ok_or(MessageError::UnknownPort(port))?;
        if !p.up {
            return Err(MessageError::PortDown(port));
        }
        let msg = wire::decode(bytes, self.cfg.key.as_deref())?;
        if msg.sender == self.cfg.mac {
            return Err(MessageError::Looped);
        }
        if let Some(p) = self.ports.get_mut(&port).filter(|_| !relayed) {
            p.neighbour = Some((msg.sender, msg.sender_port));
            p.heard = now;
        }
        let advert = match msg.body {
            Body::Advert(a) => a,
            Body::Command(c) => {
                self.handle_command(now, port, msg.sender, c);
                return Ok(());
            }
            Body::Config(c) => {
                self.handle_config(now, port, msg.sender, c);
                return Ok(());
            }
        };
        if advert.origin == self.cfg.mac {
            // Our own advert from before a restart: continue numbering after it.
            let ours = self.last_sent.as_ref().is_some_and(|l| *l == advert);
            if advert.seq > self.seq || (advert.seq == self.seq && !ours) {
                self.seq = advert.seq;
                self.last_sent = None;
            }
        } else if self.db.offer(now, port, advert.clone()) == Offer::Accepted {
            // Units the origin vouches for live on while it does.
            for &g in &advert.grace {
                if g != self.cfg.mac {
                    self.db.vouch(g, now + self.cfg.hold_time);
                }
            }
            self.flood_on(port, msg.sender, &Body::Advert(advert.clone()));
        }
        self.recompute(now);
        Ok(())
    }

    /// Timers: advert refresh, ageing, the end of the cold-boot window.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_grace(now);
        self.db.expire(now);
        let hold = self.cfg.hold_time;
        for p in self.ports.values_mut() {
            let graced = p.grace_until.is_some_and(|g| now < g);
            if p.neighbour.is_some() && !graced && now.saturating_since(p.heard) >= hold {
                p.neighbour = None;
            }
        }
        if now >= self.next_advert {
            self.last_sent = None;
        }
        self.recompute(now);
    }

    /// The next message to put on a stack link.
    pub fn poll_transmit(&mut self) -> Option<(StackPort, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next dataplane write.
    pub fn poll_write(&mut self) -> Option<DataplaneWrite> {
        self.writes.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<StackEvent> {
        self.events.pop_front()
    }

    /// When to call [`StackManager::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_advert;
        if let Some(e) = self.db.next_expiry() {
            t = t.min(e);
        }
        for p in self.ports.values() {
            match p.grace_until {
                // A graced neighbour is not aged until its grace ends.
                Some(g) => t = t.min(g),
                None if p.neighbour.is_some() => t = t.min(p.heard + self.cfg.hold_time),
                None => {}
            }
        }
        if !self.window_over {
            t = t.min(self.boot + self.cfg.cold_boot_window);
        }
        Some(t)
    }

    /// A read-only picture of the stack as this unit sees it.
    pub fn view(&self, now: Instant) -> StackView {
        let members = self
            .component
            .iter()
            .filter_map(|&mac| {
                if mac == self.cfg.mac {
                    let own = self.own_advert(now);
                    Some(member_view(&own, own.uptime_ms))
                } else {
                    self.db
                        .get(mac)
                        .map(|e| member_view(&e.advert, e.uptime_ms(now)))
                }
            })
            .collect();
        StackView {
            me: self.cfg.mac,
            unit: self.cfg.persisted.unit,
            role: self.role,
            master: self.master,
            standby: self.standby.map(|s| s.0),
            epoch: self.epoch,
            kind: self.graph.kind(&self.component),
            active: !self.held,
            members,
        }
    }

    /// The routes as last written to the dataplane.
    pub fn routes(&self) -> &BTreeMap<u8, Route> {
        self.programmed.routes()
    }

    /// This unit's stack ports: up, and the neighbour (MAC, its stack port) when known.
    pub fn stack_ports(&self) -> Vec<StackPortView> {
        self.ports
            .iter()
            .map(|(q, p)| StackPortView {
                port: *q,
                up: p.up,
                neighbour: p.neighbour,
            })
            .collect()
    }

    /// The stack configuration this unit holds.
    pub fn stack_config(&self) -> Option<&StackWideConfig> {
        self.stack_config.as_ref()
    }

    /// Forgets what the dataplane was programmed with and queues the whole desired state again
    /// (a restarted dataplane, or one whose state is unknown).
    pub fn reprogram(&mut self) {
        self.programmed = Programmed::default();
        self.program();
    }

    fn up_ports(&self) -> impl Iterator<Item = StackPort> + '_ {
        self.ports.iter().filter(|(_, p)| p.up).map(|(q, _)| *q)
    }

    fn send_on(&mut self, port: StackPort, advert: &Advert) {
        self.send_body(port, Body::Advert(advert.clone()));
    }

    /// Floods `body` on: out of every up stack port but `port` it came in on, and not back
    /// to the unit that sent it (on any link of that trunk).
    fn flood_on(&mut self, port: StackPort, sender: u64, body: &Body) {
        let out: Vec<StackPort> = self
            .ports
            .iter()
            .filter(|(q, p)| p.up && **q != port && p.neighbour.map(|n| n.0) != Some(sender))
            .map(|(q, _)| *q)
            .collect();
        for q in out {
            self.send_body(q, body.clone());
        }
    }

    fn send_body(&mut self, port: StackPort, body: Body) {
        let msg = Message {
            sender: self.cfg.mac,
            sender_port: port,
            body,
        };
        self.transmits
            .push_back((port, wire::encode(&msg, self.cfg.key.as_deref())));
    }

    fn uptime_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_since(self.boot).as_millis()).unwrap_or(u64::MAX)
    }

    /// This unit's stack links that are up, with the unit and port at their other end.
    fn adjacencies(&self) -> Vec<Adjacency> {
        self.ports
            .iter()
            .filter(|(_, p)| p.up)
            .filter_map(|(&port, p)| {
                p.neighbour.map(|(n, q)| Adjacency {
                    port,
                    neighbour: n,
                    neighbour_port: q,
                })
            })
            .collect()
    }

    fn own_advert(&self, now: Instant) -> Advert {
        let adjacencies = self.adjacencies();
        let complete = self.ports.values().all(|p| p.up && p.neighbour.is_some());
        Advert {
            origin: self.cfg.mac,
            seq: self.seq,
            uptime_ms: self.uptime_ms(now),
            unit: self.cfg.persisted.unit,
            priority: self.cfg.persisted.priority,
            role: self.role,
            held: self.held,
            complete,
            version: self.cfg.version,
            config_version: self
                .stack_config
                .as_ref()
                .map_or(0, StackWideConfig::version),
            epoch: self.epoch,
            master: self.master.unwrap_or(0),
            standby: self.standby.map_or(0, |s| s.0),
            standby_rule: self.standby.map_or(0, |s| s.1.code()),
            adjacencies,
            assignments: self.table.iter().map(|(m, u)| (*m, *u)).collect(),
            grace: self.graced(now),
        }
    }

    fn candidate(&self, a: &Advert, now: Instant) -> Candidate {
        let uptime_ms = if a.origin == self.cfg.mac {
            self.uptime_ms(now)
        } else {
            self.db
                .get(a.origin)
                .map_or(a.uptime_ms, |e| e.uptime_ms(now))
        };
        Candidate {
            mac: a.origin,
            priority: a.priority,
            uptime_ms,
            epoch: a.epoch,
        }
    }

    /// Re-derives everything from the adverts and queues what changed.
    fn recompute(&mut self, now: Instant) {
        let me = self.cfg.mac;
        let tol = u64::try_from(self.cfg.uptime_tolerance.as_millis()).unwrap_or(u64::MAX);
        let old_role = self.role;
        let old_unit = self.cfg.persisted.unit;
        let mut rule: Option<Rule> = None;
        self.window_over |= now >= self.boot + self.cfg.cold_boot_window;

        let own = self.own_advert(now);
        let mut adverts: BTreeMap<u64, Advert> = self
            .db
            .iter()
            .map(|e| (e.advert.origin, e.advert.clone()))
            .collect();
        adverts.insert(me, own);
        self.graph = Graph::build(adverts.values());
        self.component = self.graph.component(me);
        let comp: Vec<&Advert> = self
            .component
            .iter()
            .filter_map(|m| adverts.get(m))
            .collect();
        if self.resyncing && !self.resynced(now) {
            // Resumed from a checkpoint: keep its role, epoch, table and programming until
            // every unit of it has been heard again (or the cold-boot window is over).
            self.advertise(now);
            return;
        }
        if !self.window_over && closed(&comp, &self.component) {
            // Every unit's every stack port leads to another unit of this component: nobody
            // else can join without recabling, so there is nothing left to wait for.
            info!(
                mac = %Mac(me),
                units = comp.len(),
                "stack topology complete: cold-boot window ends early"
            );
            self.window_over = true;
        }
        let mut interregnum = false;

        // 1. Masters in my component.
        let masters: Vec<Candidate> = comp
            .iter()
            .filter(|a| a.role == Role::Master)
            .map(|a| self.candidate(a, now))
            .collect();
        let top_epoch = comp.iter().map(|a| a.epoch).max().unwrap_or(0);
        if let Some((winner, why)) = election::incumbent(&masters, tol) {
            if winner == me {
                let rival = masters
                    .iter()
                    .filter(|m| m.mac != me)
                    .map(|m| m.epoch)
                    .max();
                if rival.is_some_and(|e| e >= self.epoch) {
                    self.epoch = top_epoch + 1;
                    info!(mac = %Mac(me), epoch = self.epoch, rule = %why, "won a merge: master keeps its role, epoch bumped");
                }
                self.master = Some(me);
            } else {
                let m = adverts[&winner].clone();
                if self.role == Role::Master {
                    rule = Some(why);
                } else if self.master != Some(winner) {
                    let mine = self.candidate(&adverts[&me], now);
                    let theirs = self.candidate(&m, now);
                    let (ord, r) = election::compare(&theirs, &mine, tol);
                    rule = Some(if ord == std::cmp::Ordering::Greater && mine.priority > 0 {
                        r
                    } else {
                        Rule::Incumbent
                    });
                }
                rule = Some(self.follow(&m, rule.unwrap_or(Rule::Incumbent)));
            }
        } else {
            // 2. No master: quorum, then perhaps an election.
            if self.master.take().is_some() {
                rule = Some(Rule::MasterLost);
                self.standby = self.standby.filter(|s| s.0 == me);
            }
            let known: BTreeSet<u64> = comp
                .iter()
                .filter(|a| a.epoch == top_epoch)
                .flat_map(|a| {
                    a.assignments
                        .iter()
                        .filter(|(_, u)| *u != 0)
                        .map(|(m, _)| *m)
                })
                .collect();
            let present = known.iter().filter(|m| self.component.contains(m)).count();
            let quorum = known.is_empty() || present * 2 > known.len();
            // A unit of my component follows a master I have not heard of yet (it lost a
            // merge, and its advert overtook its new master's): that master's advert is on its
            // way; electing now would only be fenced a moment later.
            let awaiting = comp.iter().find(|a| {
                a.origin != me
                    && a.role != Role::Master
                    && a.master != 0
                    && a.epoch == top_epoch
                    && !self.component.contains(&a.master)
            });
            if !quorum {
                if !self.held || rule.is_some() {
                    rule = Some(Rule::QuorumLost);
                }
            } else if self.window_over {
                // Nonstop forwarding: a numbered unit of a majority keeps forwarding while the
                // next master is chosen.
                interregnum = matches!(self.role, Role::Member | Role::Standby);
            }
            if let Some(a) = awaiting.filter(|_| quorum && self.window_over) {
                debug!(
                    mac = %Mac(me),
                    via = %Mac(a.origin),
                    master = %Mac(a.master),
                    "waiting for the advert of a master not yet heard"
                );
            } else if quorum && self.window_over {
                let standbys: Vec<Candidate> = comp
                    .iter()
                    .filter(|a| a.role == Role::Standby && a.epoch == top_epoch)
                    .map(|a| self.candidate(a, now))
                    .collect();
                let pick = match election::best(&standbys, tol) {
                    Some((mac, _)) => Some((mac, Rule::StandbyTakeover)),
                    None => {
                        let cands: Vec<Candidate> = comp
                            .iter()
                            .filter(|a| a.role != Role::Unassigned)
                            .map(|a| self.candidate(a, now))
                            .collect();
                        election::best(&cands, tol)
                    }
                };
                if let Some((winner, why)) = pick {
                    if winner == me {
                        self.role = Role::Master;
                        self.master = Some(me);
                        self.epoch = top_epoch + 1;
                        rule = Some(why);
                    }
                }
            }
        }

        // 3. Directives, when master.
        if self.role == Role::Master {
            self.direct(&comp, now, tol);
        }

        // My number, from the table I follow.
        if let Some(&u) = self.table.get(&me).filter(|_| self.master.is_some()) {
            if u == 0 && self.role != Role::Unassigned && self.role != Role::Master {
                self.role = Role::Unassigned;
                rule = Some(Rule::NoFreeUnitNumber);
            } else if u != 0 && u != old_unit {
                self.cfg.persisted.unit = u;
                info!(mac = %Mac(me), from = old_unit, to = u, "unit renumbered");
                self.events.push_back(StackEvent::UnitRenumbered {
                    from: old_unit,
                    to: u,
                });
                self.events
                    .push_back(StackEvent::PersistedChanged(self.cfg.persisted));
            }
        }

        // 4. Held or active; split and merge.
        let numbered = self.master.is_some()
            && self.table.get(&me).is_some_and(|u| *u != 0)
            && matches!(self.role, Role::Master | Role::Standby | Role::Member);
        let was_held = self.held;
        let bridging = interregnum && !was_held;
        self.held = !numbered && !bridging;
        let members: BTreeSet<u64> = if self.master.is_some() {
            self.component
                .iter()
                .filter(|m| self.table.get(m).is_some_and(|u| *u != 0))
                .copied()
                .collect()
        } else {
            self.members
                .iter()
                .filter(|m| self.component.contains(m))
                .copied()
                .collect()
        };
        let lost: Vec<u64> = self.members.difference(&members).copied().collect();
        let joined: Vec<u64> = members.difference(&self.members).copied().collect();
        if !lost.is_empty() {
            info!(
                mac = %Mac(me),
                lost = %Macs(&lost),
                active = !self.held,
                "stack split: units lost"
            );
            self.events.push_back(StackEvent::Split {
                lost,
                active: !self.held,
            });
        }
        if !joined.is_empty() {
            info!(mac = %Mac(me), joined = %Macs(&joined), "stack merge: units joined");
            self.events.push_back(StackEvent::Merge { joined });
        }
        self.members = members;
        if was_held != self.held {
            debug!(mac = %Mac(me), held = self.held, "front ports");
        }

        if old_role != self.role {
            let rule = rule.unwrap_or(Rule::Incumbent);
            info!(mac = %Mac(me), from = ?old_role, to = ?self.role, %rule, epoch = self.epoch, "role change");
            self.events.push_back(StackEvent::RoleChanged {
                from: old_role,
                to: self.role,
                rule,
                epoch: self.epoch,
            });
        } else if let Some(Rule::QuorumLost) = rule {
            warn!(
                mac = %Mac(me),
                "minority without the master: front ports held down"
            );
        }

        self.program();
        self.advertise(now);
        self.report_checkpoint();
        self.track_standby_sync(now);
    }

    /// Follows master `m`: its epoch, unit table and standby; my role from them. Returns the
    /// rule to log if my role changes (`rule` unless the master's directives decided it).
    fn follow(&mut self, m: &Advert, rule: Rule) -> Rule {
        let me = self.cfg.mac;
        let before = self.role;
        self.master = Some(m.origin);
        self.epoch = m.epoch;
        self.table = m.assignments.iter().copied().collect();
        let standby_rule = Rule::from_code(m.standby_rule).unwrap_or(rule);
        self.standby = (m.standby != 0).then_some((m.standby, standby_rule));
        self.role = match self.table.get(&me) {
            // Not numbered yet: a newcomer is joining; a unit that was in a stack is a member
            // waiting for its number (held until then).
            None if matches!(before, Role::Joining | Role::Unassigned) => Role::Joining,
            None => Role::Member,
            Some(0) => Role::Unassigned,
            Some(_) if m.standby == me => Role::Standby,
            Some(_) => Role::Member,
        };
        match (before, self.role) {
            (_, Role::Unassigned) => Rule::NoFreeUnitNumber,
            (Role::Master, _) => rule,
            (_, Role::Standby) | (Role::Standby, Role::Member) => standby_rule,
            _ => rule,
        }
    }

    /// As master: assign unit numbers and name the standby.
    fn direct(&mut self, comp: &[&Advert], now: Instant, tol: u64) {
        let me = self.cfg.mac;
        let prev = &self.table;
        let mut order: Vec<(u64, u8)> = vec![(
            me,
            prev.get(&me)
                .copied()
                .filter(|u| *u != 0)
                .unwrap_or(self.cfg.persisted.unit),
        )];
        let mut olds: Vec<(u8, u64)> = comp
            .iter()
            .filter(|a| a.origin != me)
            .filter_map(|a| {
                prev.get(&a.origin)
                    .filter(|u| **u != 0)
                    .map(|u| (*u, a.origin))
            })
            .collect();
        olds.sort();
        order.extend(olds.iter().map(|&(u, m)| (m, u)));
        let mut news: Vec<&&Advert> = comp
            .iter()
            .filter(|a| a.origin != me && prev.get(&a.origin).is_none_or(|u| *u == 0))
            .collect();
        news.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.origin));
        order.extend(news.iter().map(|a| (a.origin, a.unit)));
        self.table = election::assign_units(&order);

        let cands: Vec<Candidate> = comp
            .iter()
            .filter(|a| a.origin != me && self.table.get(&a.origin).is_some_and(|u| *u != 0))
            .map(|a| self.candidate(a, now))
            .collect();
        let configured = self
            .cfg
            .standby
            .and_then(|u| self.table.iter().find(|(_, v)| **v == u).map(|(m, _)| *m));
        let pick = election::standby(&cands, configured, self.standby.map(|s| s.0), tol);
        if pick.map(|p| p.0) != self.standby.map(|s| s.0) {
            if let Some((s, r)) = pick {
                info!(master = %Mac(me), standby = %Mac(s), rule = %r, "standby named");
            }
            self.standby = pick;
        }
        // A standby kept is advertised with the rule that first named it.
    }

    fn program(&mut self) {
        let me = self.cfg.mac;
        let mut routes = BTreeMap::new();
        for &mac in &self.component {
            let Some(&unit) = self.table.get(&mac).filter(|u| **u != 0) else {
                continue;
            };
            if mac == me {
                continue;
            }
            if let Some((primary, backup)) = self.graph.route(me, mac) {
                let Some(p) = self.graph.trunk(me, primary) else {
                    continue;
                };
                let b = backup.and_then(|b| self.graph.trunk(me, b)).cloned();
                routes.insert(
                    unit,
                    Route {
                        unit,
                        primary: p.clone(),
                        backup: b,
                    },
                );
            }
        }
        let flood = self.graph.flood_ports(me);
        let writes = self.programmed.diff(routes, flood, self.held);
        self.writes.extend(writes);
        let macs = self
            .stack_config
            .as_ref()
            .map(|c| c.static_macs.clone())
            .unwrap_or_default();
        let writes = self.programmed.diff_macs(&macs);
        self.writes.extend(writes);
    }

    /// Re-originates our advert when it changed or is due, and floods it.
    fn advertise(&mut self, now: Instant) {
        let mut own = self.own_advert(now);
        let changed = match &self.last_sent {
            Some(last) => {
                let mut a = last.clone();
                a.uptime_ms = own.uptime_ms;
                a != own
            }
            None => true,
        };
        if !changed && now < self.next_advert {
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        own.seq = self.seq;
        let ports: Vec<StackPort> = self.up_ports().collect();
        for p in ports {
            self.send_on(p, &own);
        }
        self.send_priority_commands();
        self.send_config();
        self.last_sent = Some(own);
        self.next_advert = now + self.cfg.advert_interval;
    }
}

/// Whether the component is closed: every unit says all its stack ports have neighbours, and
/// every adjacency is confirmed by the unit at its other end, inside the component.
fn closed(comp: &[&Advert], members: &BTreeSet<u64>) -> bool {
    comp.iter().all(|a| {
        a.complete
            && a.adjacencies.iter().all(|j| {
                members.contains(&j.neighbour)
                    && comp.iter().any(|b| {
                        b.origin == j.neighbour
                            && b.adjacencies.iter().any(|k| {
                                k.neighbour == a.origin
                                    && k.port == j.neighbour_port
                                    && k.neighbour_port == j.port
                            })
                    })
            })
    })
}

fn member_view(a: &Advert, uptime_ms: u64) -> MemberView {
    MemberView {
        mac: a.origin,
        unit: a.unit,
        priority: a.priority,
        uptime_ms,
        role: a.role,
        held: a.held,
        adjacencies: a.adjacencies.clone(),
        version: a.version,
        complete: a.complete,
    }
}
