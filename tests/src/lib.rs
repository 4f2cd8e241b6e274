//! End-to-end tests across crates and processes live in this crate's `tests/` folder.
#![deny(unsafe_code)]
