//! The `.proto` files of the dataplane ⇄ control plane boundary and their generated code.
//!
//! Nothing is defined here yet; see the issue "dataplaned". This crate exists so that the
//! workspace has the shape DESIGN.md §1 describes.
#![deny(unsafe_code)]
