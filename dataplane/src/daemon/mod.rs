//! `dataplaned`, the dataplane daemon of one unit: the engine on a forwarding thread with real
//! ports, and the gRPC API its control plane programs it through (DESIGN.md §3–4).
//!
//! * [`config`] — the daemon's own configuration (unit, ports and their backends, gRPC
//!   listeners, hellos), from TOML and flags.
//! * [`forwarding`] — the forwarding thread: engine, programming state, backends, session
//!   arbitration.
//! * [`grpc`] — the `stackd.dataplane.v1` service, health and reflection.
//! * [`convert`] — gRPC messages ⇄ engine types.
//! * [`cpus`] — which CPUs the forwarding thread and the gRPC threads run on.

pub mod config;
pub mod convert;
pub mod cpus;
pub mod forwarding;
pub mod grpc;

use std::time::Duration;

use crate::backend::{self, BackendSpec, PortBackend};
use crate::config::{EngineConfig, PortConfig};
use crate::hello::HelloConfig;
use config::{DaemonConfig, PortBackendConfig};

/// How far a port's transmitter may run ahead of the clock: about the forwarding thread's
/// wake-up latency, so that ports still average their line rate.
pub const TX_BURST: Duration = Duration::from_micros(200);

/// The engine configuration a daemon starts with: its ports with default settings (front ports
/// untagged on VLAN 1, all classes strict, no flow control) until the control plane programs
/// them; hellos on the stack ports.
pub fn engine_config(cfg: &DaemonConfig) -> EngineConfig {
    let ports = cfg
        .ports
        .iter()
        .map(|p| PortConfig::new(p.id, p.speed_bps))
        .collect();
    let mut engine = EngineConfig::new(cfg.unit, ports);
    engine.hello = Some(HelloConfig {
        interval: cfg.hello_interval,
        dead_after: cfg.hello_dead_after,
    });
    engine.tx_burst = TX_BURST;
    engine
}

/// Opens every port's backend, in the order of `cfg.ports`.
pub fn open_ports(cfg: &DaemonConfig) -> Result<Vec<Box<dyn PortBackend>>, String> {
    cfg.ports
        .iter()
        .map(|p| {
            let spec = match &p.backend {
                PortBackendConfig::Udp { local, peer } => BackendSpec::Udp {
                    local: *local,
                    peer: *peer,
                },
                PortBackendConfig::AfPacket { interface } => BackendSpec::AfPacket {
                    interface: interface.clone(),
                },
            };
            backend::open(spec).map_err(|e| format!("port {}/{}: {e}", cfg.unit, p.id))
        })
        .collect()
}

/// Logs of the stackd daemons: to stderr, filtered by `RUST_LOG` (default `info`), coloured
/// only on a terminal.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Resolves on SIGTERM or SIGINT (logged): when a daemon should stop cleanly.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}
