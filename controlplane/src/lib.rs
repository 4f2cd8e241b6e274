//! The stackd control plane: the sans-IO stack manager.
//!
//! One [`StackManager`] per unit runs discovery, topology, election, split/merge handling and
//! secure stacking as a plain state machine (DESIGN.md §2, §5): time comes in as `now`, bytes
//! from stack links through [`StackManager::handle_message`], link changes through
//! [`StackManager::handle_link`]; messages to send, dataplane writes and events come out of the
//! `poll_*` calls, and [`StackManager::poll_timeout`] says when to call again.
//!
//! * [`wire`]: the stack control message format (documented byte layout, HMAC trailer);
//!   [`control_frame`]: how it travels in a stack-header frame on a stack link.
//! * [`database`]: the advert database, with sequence numbers and ageing.
//! * [`topology`]: the unit graph; ring/chain; trunks; routes with backups; the flood tree.
//! * [`election`]: the election rules as pure functions; unit number assignment.
//! * [`manager`]: the state machine that ties them together; [`api`]: its data types.
//! * [`program`]: what the dataplane must be programmed with, as a diff.
//! * [`stack_config`]: the stack-wide configuration the master replicates.
//! * [`daemon`] (feature `daemon`): `stackd`, the driver; [`ctl`]: `stackctl`, the CLI.
//! * `harness` (feature `harness`, and in tests): N managers on virtual cabling and a virtual
//!   clock, with faults.
#![deny(unsafe_code)]

pub mod api;
pub mod control_frame;
#[cfg(feature = "daemon")]
pub mod ctl;
#[cfg(feature = "daemon")]
pub mod daemon;
pub mod database;
pub mod election;
#[cfg(any(test, feature = "harness"))]
pub mod harness;
pub mod manager;
pub mod program;
pub mod stack_config;
pub mod topology;
pub mod wire;

pub use election::Rule;
pub use manager::{
    Checkpoint, CheckpointSide, CheckpointStats, CommandError, LinkState, MemberView, MessageError,
    Persisted, StackConfig, StackEvent, StackManager, StackView,
};
pub use program::{DataplaneWrite, Route};
pub use topology::TopologyKind;
pub use wire::{Role, StackPort};
