//! `stackctl`, the operator's CLI (feature `daemon`): talks `stackd.stack.v1` to a unit's
//! `stackd` and prints tables for people or JSON for scripts.
