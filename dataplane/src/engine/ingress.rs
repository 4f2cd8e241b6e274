//! Ingress: parse, MAC Control, VLAN classification, learning, lookup and admission.

use bytes::Bytes;

use super::egress::{QueuedFrame, Target};
use super::{Engine, Event, PacketIn};
use crate::buffer::{PauseChange, Refusal};
use crate::config::{FlowControl, Slot, VlanMode, NUM_PRIORITIES};
use crate::fdb::{fdb_key_raw, FdbDestination, LearnOutcome};
use crate::hello::HelloChange;
use crate::port::{LearnCache, PortIndex};
use crate::time::Instant;
use crate::wire::{
    u64_to_mac, L2Raw, MacAddr, MacControlRepr, StackFrameKind, StackHeaderRepr, VlanTag,
    ETHERTYPE_MAC_CONTROL, ETHERTYPE_STACK, MAC_CONTROL_DST,
};

/// Stack control frames held for the control path before new ones are counted and discarded.
const PACKET_IN_LIMIT: usize = 1024;

/// How a frame classified at ingress travels on.
#[derive(Clone, Copy, Debug)]
struct Classified {
    vid: u16,
    priority: u8,
    /// PCP of the frame inside the stack and on tagged egress.
    pcp: u8,
    dei: bool,
}

/// Where a flooded frame entered the stack.
#[derive(Clone, Copy, Debug)]
enum FloodOrigin {
    /// On one of this unit's front ports.
    Front { src_port: u8 },
    /// On another unit; it came in over a stack port with this header.
    Stack {
        src_unit: u8,
        src_port: u8,
        hop_limit: u8,
    },
}

/// 01-80-C2-00-00-00 to -0F: the bridge-filtered reserved addresses (802.1Q table 8-1).
#[inline]
fn is_link_local(mac48: u64) -> bool {
    mac48 & !0x0f == 0x0180_c200_0000
}

/// Group (multicast or broadcast) address: the I/G bit of the first octet.
#[inline]
fn is_multicast(mac48: u64) -> bool {
    mac48 & (1 << 40) != 0
}

impl Engine {
    /// A frame (from the destination address on, no FCS) arrived on `port` at `now`.
    ///
    /// Malformed frames are counted and dropped; nothing here can panic on any input.
    pub fn handle_frame(&mut self, now: Instant, port: PortIndex, frame: Bytes) {
        self.now = self.now.max(now);
        let i = port.get();
        let Some(state) = self.ports.get_mut(i) else {
            self.frames_on_unknown_ports += 1;
            return;
        };
        self.dirty |= 1 << i;
        state.counters.rx_frames += 1;
        state.counters.rx_bytes += frame.len() as u64;
        if !state.link {
            state.counters.rx_port_down_discards += 1;
            return;
        }
        let Ok(hdr) = L2Raw::parse(&frame) else {
            state.counters.rx_malformed += 1;
            return;
        };
        if hdr.ethertype == ETHERTYPE_MAC_CONTROL {
            let payload = frame.get(hdr.payload_offset..).unwrap_or(&[]);
            self.handle_mac_control(now, i, u64_to_mac(hdr.dst), payload);
            return;
        }
        match state.cfg.id.slot {
            Slot::Front => self.front_ingress(now, i, &hdr, frame),
            Slot::Stack => self.stack_ingress(now, i, &hdr, frame),
        }
    }

    fn handle_mac_control(&mut self, now: Instant, i: usize, dst: MacAddr, payload: &[u8]) {
        let state = &mut self.ports[i];
        if dst != MAC_CONTROL_DST && dst != state.cfg.mac {
            state.counters.rx_malformed += 1;
            return;
        }
        let speed = state.cfg.speed_bps;
        match MacControlRepr::parse(payload) {
            Err(_) => state.counters.rx_malformed += 1,
            Ok(MacControlRepr::Pfc { enable, quanta }) => {
                for p in 0..NUM_PRIORITIES {
                    if enable & (1 << p) != 0 {
                        state.counters.pfc_rx[p] += 1;
                    }
                }
                if matches!(state.cfg.flow_control, FlowControl::Pfc { .. }) {
                    state.rx_pause.apply(now, enable, &quanta, speed);
                } else {
                    state.counters.flow_control_ignored += 1;
                }
            }
            Ok(MacControlRepr::Pause { quanta }) => {
                state.counters.pause_rx += 1;
                if state.cfg.flow_control == FlowControl::Pause {
                    state
                        .rx_pause
                        .apply(now, 0xff, &[quanta; NUM_PRIORITIES], speed);
                } else {
                    state.counters.flow_control_ignored += 1;
                }
            }
        }
    }

    /// VLAN ingress rules of a front-panel port; `None` means the frame is not allowed.
    #[inline]
    fn classify_front(&self, i: usize, tag: Option<VlanTag>) -> Option<Classified> {
        let cfg = &self.ports[i].cfg;
        let (untagged_vid, allowed): (Option<u16>, &[u16]) = match &cfg.vlan {
            VlanMode::Access { vid } => (Some(*vid), &[]),
            VlanMode::Trunk { native, allowed } => (*native, allowed.as_slice()),
        };
        match tag {
            None => Some(Classified {
                vid: untagged_vid?,
                priority: cfg.default_priority,
                pcp: cfg.default_priority,
                dei: false,
            }),
            Some(t) => {
                let vid = if t.vid == 0 || Some(t.vid) == untagged_vid {
                    untagged_vid?
                } else if allowed.contains(&t.vid) {
                    t.vid
                } else {
                    return None;
                };
                Some(Classified {
                    vid,
                    priority: cfg.pcp_to_priority[usize::from(t.pcp & 7)],
                    pcp: t.pcp & 7,
                    dei: t.dei,
                })
            }
        }
    }

    #[inline]
    fn learn(&mut self, now: Instant, i: usize, vid: u16, src48: u64, dest: FdbDestination) {
        if is_multicast(src48) || src48 == 0 {
            return;
        }
        // The port's last learned source, still fresh and the table unchanged since: the entry
        // exists, points here, and was refreshed less than 1/64 of the ageing time ago.
        let key = fdb_key_raw(vid, src48);
        let cache = &self.ports[i].learn_cache;
        if cache.key == key
            && cache.generation == self.fdb.generation()
            && now < cache.fresh_until
            && cache.dest == dest
        {
            return;
        }
        let outcome = self.fdb.learn_key(now, key, dest);
        let mac = u64_to_mac(src48);
        if matches!(
            outcome,
            LearnOutcome::Refreshed | LearnOutcome::New | LearnOutcome::Moved { .. }
        ) {
            self.ports[i].learn_cache = LearnCache {
                key,
                dest,
                generation: self.fdb.generation(),
                fresh_until: now.plus_ps(self.fdb.refresh_interval_ps()),
            };
        }
        match outcome {
            LearnOutcome::Refreshed | LearnOutcome::StaticConflict => {}
            LearnOutcome::New => self.push_event(Event::Learned { vid, mac, dest }),
            LearnOutcome::Moved { from } => self.push_event(Event::Moved {
                vid,
                mac,
                from,
                to: dest,
            }),
            LearnOutcome::TableFull => self.push_event(Event::FdbFull { vid, mac }),
        }
    }

    fn front_ingress(&mut self, now: Instant, i: usize, hdr: &L2Raw, frame: Bytes) {
        if self.ports_up & (1 << i) == 0 {
            self.ports[i].counters.rx_port_down_discards += 1;
            return;
        }
        if hdr.ethertype == ETHERTYPE_STACK {
            self.ports[i].counters.rx_stack_on_front_discards += 1;
            return;
        }
        let macs = hdr;
        if is_link_local(macs.dst) {
            self.ports[i].counters.rx_link_local_discards += 1;
            return;
        }
        let Some(c) = self.classify_front(i, hdr.vlan) else {
            self.ports[i].counters.rx_vlan_discards += 1;
            return;
        };
        self.learn(
            now,
            i,
            c.vid,
            macs.src,
            FdbDestination::Local(PortIndex(i as u16)),
        );
        let src_port = self.ports[i].cfg.id.port;
        let dest = if is_multicast(macs.dst) {
            None
        } else {
            self.fdb.lookup_key(fdb_key_raw(c.vid, macs.dst))
        };
        match dest {
            Some(FdbDestination::Local(j)) => {
                let j = j.get();
                if j == i {
                    self.ports[i].counters.rx_same_port_filtered += 1;
                } else if self.vlan_members[usize::from(c.vid)] & (1 << j) == 0 {
                    self.ports[i].counters.rx_vlan_discards += 1;
                } else if self.ports_up & (1 << j) == 0 {
                    // The station's port is down: nothing can leave it, so nothing may wait
                    // for it in the buffer (as for a stack frame to a down front port).
                    self.ports[i].counters.no_route_discards += 1;
                } else {
                    let target = match self.front_target(j, c) {
                        Target::Front { tci } if tci == hdr.vlan.map(|t| t.tci()) => Target::AsIs,
                        other => other,
                    };
                    self.enqueue(i, j, c.priority, frame, false, target);
                }
            }
            Some(FdbDestination::Remote { unit, port }) if unit != self.config.unit => {
                let header = StackHeaderRepr {
                    kind: StackFrameKind::Data,
                    flood: false,
                    src_unit: self.config.unit,
                    src_port,
                    dst_unit: unit,
                    dst_port: port,
                    priority: c.priority,
                    hop_limit: self.config.stack_hop_limit,
                    vlan: VlanTag {
                        pcp: c.pcp,
                        dei: c.dei,
                        vid: c.vid,
                    },
                };
                match self.stack.next_hop(unit, self.ports_up) {
                    Some(s) => {
                        self.enqueue(i, s.get(), c.priority, frame, false, Target::Stack(header))
                    }
                    None => self.ports[i].counters.no_route_discards += 1,
                }
            }
            _ => self.flood(i, c, frame, FloodOrigin::Front { src_port }),
        }
    }

    /// Floods to the VLAN's front ports (except `i`) and along the stack flood tree (except
    /// `i`), the latter only while the hop limit allows.
    fn flood(&mut self, i: usize, c: Classified, frame: Bytes, origin: FloodOrigin) {
        let encapsulated = matches!(origin, FloodOrigin::Stack { .. });
        let mut members = self.vlan_members[usize::from(c.vid)] & self.ports_up & !(1u64 << i);
        while members != 0 {
            let j = members.trailing_zeros() as usize;
            members &= members - 1;
            let target = self.front_target(j, c);
            self.enqueue(i, j, c.priority, frame.clone(), encapsulated, target);
        }
        let (src_unit, src_port, hop_limit) = match origin {
            FloodOrigin::Front { src_port } => {
                (self.config.unit, src_port, self.config.stack_hop_limit)
            }
            FloodOrigin::Stack {
                hop_limit: 0 | 1, ..
            } => return,
            FloodOrigin::Stack {
                src_unit,
                src_port,
                hop_limit,
            } => (src_unit, src_port, hop_limit - 1),
        };
        let mut tree = self.stack.flood_set() & self.ports_up & !(1u64 << i);
        let header = StackHeaderRepr {
            kind: StackFrameKind::Data,
            flood: true,
            src_unit,
            src_port,
            dst_unit: 0,
            dst_port: 0,
            priority: c.priority,
            hop_limit,
            vlan: VlanTag {
                pcp: c.pcp,
                dei: c.dei,
                vid: c.vid,
            },
        };
        while tree != 0 {
            let s = tree.trailing_zeros() as usize;
            tree &= tree - 1;
            self.enqueue(
                i,
                s,
                c.priority,
                frame.clone(),
                encapsulated,
                Target::Stack(header),
            );
        }
    }

    /// A flooded frame came in on stack port `i`, which is off our flood tree: the neighbour's
    /// tree has the link and ours does not (`stack` module docs). With a control plane
    /// attached ours is right or about to be, and the frame is dropped, as a blocked port drops
    /// it; without one ours is stale, and the port is adopted into the flood set until the
    /// tree is programmed again. Whether to go on with the frame.
    #[cold]
    fn accept_off_tree_flood(&mut self, i: usize) -> bool {
        if self.control_attached {
            self.ports[i].counters.flood_off_tree_discards += 1;
            return false;
        }
        if self.stack.adopt_flood_port(PortIndex(i as u16)) {
            tracing::warn!(
                port = %self.port_name(PortIndex(i as u16)),
                "no control plane attached: the neighbour floods on this stack link, so it joins our flood tree until the tree is programmed again"
            );
        }
        true
    }

    #[inline]
    fn front_target(&self, j: usize, c: Classified) -> Target {
        let untagged = match &self.ports[j].cfg.vlan {
            VlanMode::Access { .. } => true,
            VlanMode::Trunk { native, .. } => *native == Some(c.vid),
        };
        Target::Front {
            tci: (!untagged).then(|| {
                VlanTag {
                    pcp: c.pcp,
                    dei: c.dei,
                    vid: c.vid,
                }
                .tci()
            }),
        }
    }

    /// No control plane here (it is restarting): stack control frames pass through to the
    /// other stack ports, hop-limited, so the rest of the stack still hears itself (a unit
    /// whose `stackd` is down must not cut the stack's control plane in two).
    fn relay_control(&mut self, i: usize, h: &StackHeaderRepr, frame: &Bytes) {
        if h.hop_limit <= 1 || frame.len() < 24 {
            self.ports[i].counters.stack_control_dropped += 1;
            return;
        }
        let stack_ports: Vec<usize> = (0..self.ports.len())
            .filter(|&j| j != i && self.ports[j].cfg.id.slot == crate::config::Slot::Stack)
            .filter(|&j| self.ports_up & (1 << j) != 0)
            .collect();
        for j in stack_ports {
            let mut f = frame.to_vec();
            // Byte 7 of the stack header: the hop limit.
            f[21] = h.hop_limit - 1;
            if self.send_frame(PortIndex(j as u16), Bytes::from(f)).is_ok() {
                self.ports[i].counters.stack_control_relayed += 1;
            }
        }
    }

    fn stack_ingress(&mut self, now: Instant, i: usize, hdr: &L2Raw, frame: Bytes) {
        if hdr.ethertype != ETHERTYPE_STACK {
            self.ports[i].counters.rx_non_stack_on_stack_discards += 1;
            return;
        }
        let Ok(h) = StackHeaderRepr::parse_frame(&frame) else {
            self.ports[i].counters.rx_malformed += 1;
            return;
        };
        if h.kind == StackFrameKind::Hello && self.ports[i].hello.is_some() {
            self.handle_hello(now, i, &h, &frame);
            return;
        }
        if self.ports_up & (1 << i) == 0 {
            self.ports[i].counters.rx_port_down_discards += 1;
            return;
        }
        if h.kind == StackFrameKind::Control && !self.control_attached {
            self.relay_control(i, &h, &frame);
            return;
        }
        if h.kind != StackFrameKind::Data {
            self.ports[i].counters.stack_control_punted += 1;
            if self.packet_in.len() >= PACKET_IN_LIMIT {
                self.packet_in_lost += 1;
            } else {
                self.packet_in.push_back(PacketIn {
                    port: PortIndex(i as u16),
                    frame,
                });
            }
            return;
        }
        // The inner frame must hold at least its EtherType after the stack header.
        if frame.len() < 26 || !(1..=4094).contains(&h.vlan.vid) {
            self.ports[i].counters.rx_malformed += 1;
            return;
        }
        if h.src_unit == self.config.unit {
            // Our own frame came back round: never forward it twice (DESIGN.md §7, invariant 5).
            self.ports[i].counters.stack_loop_discards += 1;
            return;
        }
        if h.flood && self.stack.flood_set() & (1u64 << i) == 0 && !self.accept_off_tree_flood(i) {
            return;
        }
        let c = Classified {
            vid: h.vlan.vid,
            priority: h.priority & 7,
            pcp: h.vlan.pcp,
            dei: h.vlan.dei,
        };
        let macs = hdr;
        self.learn(
            now,
            i,
            c.vid,
            macs.src,
            FdbDestination::Remote {
                unit: h.src_unit,
                port: h.src_port,
            },
        );
        if h.flood {
            let origin = FloodOrigin::Stack {
                src_unit: h.src_unit,
                src_port: h.src_port,
                hop_limit: h.hop_limit,
            };
            self.flood(i, c, frame, origin);
        } else if h.dst_unit == self.config.unit {
            let j = self.front_by_number[usize::from(h.dst_port)].map(PortIndex::get);
            match j {
                Some(j)
                    if self.vlan_members[usize::from(c.vid)] & self.ports_up & (1 << j) != 0 =>
                {
                    let target = self.front_target(j, c);
                    self.enqueue(i, j, c.priority, frame, true, target);
                }
                _ => self.ports[i].counters.no_route_discards += 1,
            }
        } else if h.hop_limit <= 1 {
            self.ports[i].counters.hop_limit_discards += 1;
        } else {
            let onward = StackHeaderRepr {
                hop_limit: h.hop_limit - 1,
                ..h
            };
            // Split horizon: a transit frame never goes back out of the port it came in on
            // (that is a loop by definition). The route's primary pointing there means the
            // route is stale: a neighbour re-routed round a dead link while this unit's control
            // plane is away. The backup path, if any, is the way on.
            let ahead = self.ports_up & !(1u64 << (i & 63));
            match self.stack.next_hop(h.dst_unit, ahead) {
                Some(s) => self.enqueue(i, s.get(), c.priority, frame, true, Target::Stack(onward)),
                None => self.ports[i].counters.no_route_discards += 1,
            }
        }
    }

    /// A hello arrived on stack port `i`.
    fn handle_hello(&mut self, now: Instant, i: usize, h: &StackHeaderRepr, frame: &[u8]) {
        let Some(session) = self.ports[i].hello.as_mut() else {
            return;
        };
        match session.handle_hello(now, h, frame) {
            Some(HelloChange::Up(peer)) => {
                self.update_port_state(i);
                self.push_event(Event::NeighborControl {
                    port: PortIndex(i as u16),
                    neighbor_unit: peer.unit,
                    attached: peer.control_attached,
                });
            }
            Some(HelloChange::PeerControl(peer)) => {
                tracing::info!(port = %self.port_name(PortIndex(i as u16)), neighbor_unit = peer.unit, attached = peer.control_attached, "neighbour control plane");
                self.push_event(Event::NeighborControl {
                    port: PortIndex(i as u16),
                    neighbor_unit: peer.unit,
                    attached: peer.control_attached,
                });
            }
            Some(HelloChange::Down) | None => {}
        }
    }

    /// Admits one copy of a frame to egress port `j`'s queue for `priority`, charging ingress
    /// port `i`'s priority group.
    #[inline]
    pub(super) fn enqueue(
        &mut self,
        i: usize,
        j: usize,
        priority: u8,
        frame: Bytes,
        encapsulated: bool,
        target: Target,
    ) {
        let priority = usize::from(priority & 7);
        let pg = self.ports[i].cfg.priority_to_pg[priority] & 7;
        let egress = &self.ports[j];
        let tc = usize::from(egress.cfg.priority_to_tc[priority] & 7);
        let len = frame.len() as u64;
        if egress.stormed & (1 << tc) != 0
            && self.config.watchdog.map(|w| w.action) == Some(crate::config::WatchdogAction::Drop)
        {
            let q = &mut self.ports[j].queue_counters[tc];
            q.dropped_frames += 1;
            q.dropped_bytes += len;
            return;
        }
        match self.buffer.admit(i, usize::from(pg), len) {
            Err(refusal) => {
                let q = &mut self.ports[j].queue_counters[tc];
                q.dropped_frames += 1;
                q.dropped_bytes += len;
                if refusal == Refusal::HeadroomOverflow {
                    tracing::warn!(port = %self.port_name(PortIndex(i as u16)), pg, "lossless priority group dropped a frame: headroom overflow");
                    self.push_event(Event::LosslessDrop {
                        port: PortIndex(i as u16),
                        pg,
                    });
                }
            }
            Ok((_, change)) => {
                let egress = &mut self.ports[j];
                egress.queues.push(
                    tc,
                    QueuedFrame {
                        data: frame,
                        encapsulated,
                        target,
                        ingress: i as u16,
                        pg,
                    },
                );
                let q = &mut egress.queue_counters[tc];
                q.enqueued_frames += 1;
                q.enqueued_bytes += len;
                q.watermark_bytes = q.watermark_bytes.max(egress.queues.depth_bytes(tc));
                self.ready |= 1 << j;
                self.dirty |= 1 << j;
                if let Some(change) = change {
                    self.signal_pause(i, usize::from(pg), change);
                }
            }
        }
    }

    /// Records that ingress `(port, pg)` must be paused or resumed towards the peer.
    pub(super) fn signal_pause(&mut self, port: usize, pg: usize, change: PauseChange) {
        self.dirty |= 1 << port;
        let state = &mut self.ports[port];
        let priorities = state.pg_pause_priorities[pg & 7];
        if priorities == 0 {
            return;
        }
        match change {
            PauseChange::Xoff => state.tx_pause.xoff(priorities),
            PauseChange::Xon => {
                if state.cfg.flow_control == FlowControl::Pause {
                    // PAUSE is whole-link: resume only when no lossless PG of the port is paused.
                    if (0..NUM_PRIORITIES).any(|g| self.buffer.pg(port, g).xoff) {
                        return;
                    }
                }
                state.tx_pause.xon(priorities);
            }
        }
        if state.tx_pause.pending() {
            self.ready |= 1 << port;
        }
    }
}
