//! Broadcast probes shared by the simulator's tests.
#![allow(dead_code, missing_docs)]

use std::time::Duration;

use dataplane::wire::{MacAddr, VlanTag};
use sim::host::{FlowSpec, Rate, Stop};
use sim::stack::{HostRef, Stack};

/// Every host's count of received frames that were not its own flows' (broadcasts land there).
fn others(s: &Stack) -> Vec<u64> {
    s.hosts()
        .iter()
        .map(|(_, n)| s.world().host(*n).map_or(0, |h| h.counters().rx_other))
        .collect()
}

/// `frames` broadcasts (VLAN 1, priority 0, a tenth of line rate) from host `from` as flow
/// `id`, then 20 ms of virtual time; how many each host received, in [`Stack::hosts`] order.
pub fn broadcast_probe(s: &mut Stack, from: HostRef, id: u32, frames: u64) -> Vec<(HostRef, u64)> {
    let before = others(s);
    let now = s.world().now();
    let node = s.host_node(from).expect("host");
    s.world_mut()
        .host_mut(node)
        .expect("host")
        .add_flow(FlowSpec {
            id,
            dst: MacAddr::broadcast(),
            vlan: Some(VlanTag {
                pcp: 0,
                dei: false,
                vid: 1,
            }),
            frame_len: 128,
            rate: Rate::Fraction { num: 1, den: 10 },
            start: now,
            stop: Stop::AfterFrames(frames),
        })
        .expect("flow");
    s.run_for(Duration::from_millis(20)).expect("runs");
    s.hosts()
        .iter()
        .zip(others(s).iter().zip(&before))
        .map(|((h, _), (a, b))| (*h, a - b))
        .collect()
}
