//! Deterministic multi-unit harness (to be written).
