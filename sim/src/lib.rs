//! The stackd simulator.
//!
//! * [`world`]: a discrete-event world on a virtual clock — switches (the real
//!   [`dataplane::Engine`]) and hosts joined by links with speed and propagation delay.
//! * [`host`]: a sans-IO host NIC that sends numbered flows and honours PFC.
//! * [`incast`]: the N → 1 incast scenario, lossless (PFC) or lossy, and its report.
//! * [`stack`]: 1–6 units in a ring or chain, hosts, traffic patterns, a fault plan; reports.
//! * [`unit`](mod@unit): a stack unit — the real engine and the real stack manager on one clock.
//! * [`model`]: the `stack-sim model` commands (scenario files, the RoCE experiment).
//! * [`plot`]: minimal SVG charts for the reports.
//! * [`rng`]: the seeded generator every random choice comes from.
//! * [`launch`]: the other mode: a virtual stack of real processes (`dataplaned` + `stackd`
//!   per unit) on UDP cables.
//! * [`traffic`]: hosts on a launched stack's front ports that send numbered flows and
//!   honour PFC.
//! * [`scenario`]: scenario files (a stack, traffic, a timeline of faults, assertions) and
//!   their runner and report.
//! * [`ops`]: `stack-sim up`, `status` and `down`: such a stack that outlives its launcher.
//!
//! Apart from [`launch`]: no tokio, no sockets, no wall clock, no global RNG: the same
//! configuration and seed give the same run, event for event ([`world::TraceHash`]).
#![deny(unsafe_code)]

pub mod host;
pub mod incast;
pub mod launch;
pub mod model;
pub mod ops;
pub mod plot;
pub mod rng;
pub mod scenario;
pub mod stack;
pub mod traffic;
pub mod unit;
pub mod world;
