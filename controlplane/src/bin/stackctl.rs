//! stackctl: the operator CLI of a stackd stack.
fn main() {}
