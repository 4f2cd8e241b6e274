//! The stackd control plane: stack discovery, election, NSF and the operator CLI.
//!
//! Nothing is implemented here yet; see the issue "stackd and stackctl". This crate exists so
//! that the workspace has the shape DESIGN.md §1 describes.
#![deny(unsafe_code)]
