//! The stackd dataplane.
//!
//! * [`wire`]: checked zero-copy views of the frames a stacked switch sees
//!   (Ethernet II, 802.1Q, MAC Control PFC/PAUSE, the stack header).
#![deny(unsafe_code)]

pub mod headroom;
pub mod wire;
