//! Compiles the `.proto` files with protox (a pure-Rust protobuf compiler, so no system `protoc`
//! is needed) and generates prost messages and tonic clients/servers from the descriptors. The
//! encoded descriptor set is kept for the gRPC reflection service.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/stackd/dataplane/v1/dataplane.proto",
        "proto/stackd/stack/v1/stack.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("stackd_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // Maps as BTreeMap: sorted (tools print them as they come) and, for the dozen keys of
        // a port's discard counters, cheaper to build and decode than a SipHash HashMap.
        .btree_map(".")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
