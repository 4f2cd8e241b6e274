//! The stackd simulator.
#![deny(unsafe_code)]
