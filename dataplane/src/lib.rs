//! The stackd dataplane of one unit.
//!
//! * [`wire`]: checked zero-copy views of the frames a stacked switch sees
//!   (Ethernet II, 802.1Q, MAC Control PFC/PAUSE, the stack header).
//! * [`engine`]: the sans-IO forwarding engine — `now`, frames and programming in; frames,
//!   events and the next timeout out. Built from [`fdb`] (learning bridge), [`buffer`] (shared
//!   buffer with per-PG accounting), [`scheduler`] (strict + ETS queues), [`pfc`] (PFC/PAUSE
//!   state), [`stack`] (unit routes and flood tree).
//! * [`config`]: what the engine is configured with, validated as a whole.
//! * [`headroom`]: the minimum lossless headroom for a link.
//! * [`backend`]: port backends (UDP cable, AF_PACKET, in-memory) for the forwarding loop.
//! * [`time`]: the engine's notion of time (picoseconds, handed in by drivers).
#![deny(unsafe_code)]

pub mod backend;
pub mod buffer;
pub mod config;
pub mod counters;
#[cfg(feature = "daemon")]
pub mod daemon;
pub mod engine;
pub mod fdb;
pub mod headroom;
pub mod hello;
pub mod pfc;
pub mod port;
pub mod programming;
pub mod scheduler;
pub mod stack;
pub mod time;
pub mod wire;

pub use config::{EngineConfig, PortConfig, PortId};
pub use engine::{Engine, EngineError, Event, PacketIn, Transmit};
pub use port::PortIndex;
pub use time::Instant;
