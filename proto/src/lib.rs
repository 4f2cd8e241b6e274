//! The gRPC boundary of stackd: the `.proto` files and the code generated from them.
//!
//! * [`dataplane::v1`] — `stackd.dataplane.v1`, the service a unit's `dataplaned` offers its
//!   `stackd` (see `proto/stackd/dataplane/v1/dataplane.proto` for the semantics).
//! * [`stack::v1`] — `stackd.stack.v1`, the management service every unit's `stackd` offers
//!   operators (`stackctl`); see `proto/stackd/stack/v1/stack.proto`.
//! * [`FILE_DESCRIPTOR_SET`] — the encoded descriptors, for the gRPC reflection service.
#![deny(unsafe_code)]

/// `stackd.dataplane.v1`.
pub mod dataplane {
    /// Version 1 of the dataplane service.
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod v1 {
        tonic::include_proto!("stackd.dataplane.v1");
    }
}

/// `stackd.stack.v1`.
pub mod stack {
    /// Version 1 of the stack management service.
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod v1 {
        tonic::include_proto!("stackd.stack.v1");
    }
}

/// The encoded `FileDescriptorSet` of every `.proto` here, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/stackd_descriptor.bin"));
