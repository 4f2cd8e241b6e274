//! The `dataplaned` daemon: the gRPC service of `stackd.dataplane.v1` around the engine.
//!
//! * [`convert`]: the gRPC messages to and from the engine's and the programmer's types.
pub mod convert;
