//! The counters a switch keeps, as plain data the engine hands out on request.

use crate::config::NUM_PRIORITIES;

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received (all, including those dropped afterwards).
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted (data and MAC Control).
    pub tx_frames: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames that did not parse (too short, bad headers): counted and dropped.
    pub rx_malformed: u64,
    /// Frames dropped by VLAN ingress filtering (VLAN not allowed on the port).
    pub rx_vlan_discards: u64,
    /// Link-local (01-80-C2-00-00-0x) frames not forwarded.
    pub rx_link_local_discards: u64,
    /// Stack-header frames arriving on a front-panel port (never taken as stack traffic).
    pub rx_stack_on_front_discards: u64,
    /// Non-stack frames arriving on a stack port.
    pub rx_non_stack_on_stack_discards: u64,
    /// Frames received while the port was down.
    pub rx_port_down_discards: u64,
    /// Frames whose destination is the port they came from.
    pub rx_same_port_filtered: u64,
    /// Frames with no route to their destination unit (or port) in the stack.
    pub no_route_discards: u64,
    /// Stack frames dropped because their hop limit ran out.
    pub hop_limit_discards: u64,
    /// Stack frames that came back to the unit that sent them (a loop), dropped.
    pub stack_loop_discards: u64,
    /// Flooded stack frames that arrived on a port off this unit's flood tree while its
    /// control plane is attached (the neighbour's tree is being re-programmed), dropped as a
    /// blocked port drops them.
    pub flood_off_tree_discards: u64,
    /// Stack hello/control frames handed to the control path.
    pub stack_control_punted: u64,
    /// Stack control frames passed on to the other stack ports while no control plane is
    /// attached here.
    pub stack_control_relayed: u64,
    /// Stack control frames dropped while no control plane is attached (hop limit spent).
    pub stack_control_dropped: u64,
    /// Frames discarded from egress queues (port down, watchdog drop).
    pub tx_discards: u64,
    /// PFC frames received, per priority with its enable bit set.
    pub pfc_rx: [u64; NUM_PRIORITIES],
    /// PFC frames sent, per priority with its enable bit set.
    pub pfc_tx: [u64; NUM_PRIORITIES],
    /// Time each priority's egress was paused by the peer, in nanoseconds.
    pub pfc_paused_ns: [u64; NUM_PRIORITIES],
    /// 802.3x PAUSE frames received.
    pub pause_rx: u64,
    /// 802.3x PAUSE frames sent.
    pub pause_tx: u64,
    /// PAUSE/PFC frames received on a port not running that kind of flow control: ignored.
    pub flow_control_ignored: u64,
}

/// Counters of one egress queue (traffic class).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Frames admitted to the queue.
    pub enqueued_frames: u64,
    /// Bytes admitted (as charged to the buffer).
    pub enqueued_bytes: u64,
    /// Frames transmitted from the queue.
    pub tx_frames: u64,
    /// Bytes transmitted from the queue (as charged to the buffer).
    pub tx_bytes: u64,
    /// Frames refused by the buffer for this queue (tail drop or headroom overflow).
    pub dropped_frames: u64,
    /// Bytes refused.
    pub dropped_bytes: u64,
    /// Frames discarded after admission (port down, watchdog).
    pub discarded_frames: u64,
    /// Bytes discarded after admission.
    pub discarded_bytes: u64,
    /// Bytes queued now.
    pub depth_bytes: u64,
    /// Frames queued now.
    pub depth_frames: u64,
    /// Highest depth seen, in bytes.
    pub watermark_bytes: u64,
    /// PFC storms detected on this queue by the watchdog.
    pub storms: u64,
    /// Whether the watchdog holds the queue in storm state now.
    pub stormed: bool,
}
