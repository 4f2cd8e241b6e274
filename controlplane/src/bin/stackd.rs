//! stackd: the control plane of one stack unit.
fn main() {}
