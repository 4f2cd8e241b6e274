//! `stackd`, the control-plane daemon of one unit (feature `daemon`): a tokio driver around the
//! sans-IO [`crate::StackManager`], a gRPC client of its unit's `dataplaned` and a gRPC
//! management server for operators (`stackd.stack.v1`).

pub mod config;
pub mod driver;
pub mod mgmt;
mod show;
pub mod stack_file;
pub mod state;
pub mod uds;

/// The default management socket of unit `unit`: `stackd.sock` next to its dataplane's.
pub fn default_socket(unit: u8) -> std::path::PathBuf {
    dataplane::daemon::config::unit_dir(unit).join("stackd.sock")
}
