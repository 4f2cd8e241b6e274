//! `dataplaned`: the dataplane of one stack unit. Forwards frames between its ports (UDP
//! cables, AF_PACKET interfaces) and serves the `stackd.dataplane.v1` gRPC API its control
//! plane programs it through. See `dataplaned --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dataplane::daemon::config::{DaemonConfig, FlagOverrides};
use dataplane::daemon::cpus::CpuList;
use dataplane::daemon::forwarding::Forwarder;
use dataplane::daemon::grpc::{bind_unix, standard_services, DataplaneService};
use dataplane::daemon::{engine_config, open_ports};
use dataplane::Engine;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};

/// The dataplane of one stack unit.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "The dataplane of one stack unit: forwards frames between its ports (UDP cables, AF_PACKET) and serves the stackd.dataplane.v1 gRPC API its control plane programs it through"
)]
struct Args {
    /// TOML configuration file (flags override it).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// This unit's number, 1..=15.
    #[arg(long)]
    unit: Option<u8>,
    /// A port: SLOT/PORT,SPEED,udp,LOCAL_ADDR,PEER_ADDR or SLOT/PORT,SPEED,afpacket,INTERFACE
    /// (slot 0 front panel, 1 stack; e.g. `0/1,10G,udp,127.0.0.1:7001,127.0.0.1:7002`).
    /// Repeat for more ports.
    #[arg(long = "port", value_name = "SPEC")]
    ports: Vec<String>,
    /// Unix socket of the gRPC API (mode 0600).
    #[arg(long)]
    grpc_socket: Option<PathBuf>,
    /// Also serve the gRPC API on this TCP address (loopback unless --grpc-allow-remote).
    #[arg(long)]
    grpc_tcp: Option<SocketAddr>,
    /// Allow --grpc-tcp on an address other than loopback.
    #[arg(long)]
    grpc_allow_remote: bool,
    /// Stack-link hello interval in milliseconds (default 10).
    #[arg(long)]
    hello_interval_ms: Option<u64>,
    /// Hello intervals missed before a stack link is down (default 3).
    #[arg(long)]
    hello_dead_after: Option<u8>,
    /// Run the forwarding thread on this CPU only (e.g. one kept for forwarding).
    #[arg(long, value_name = "CPU")]
    forwarding_cpu: Option<usize>,
    /// Run the gRPC threads on these CPUs only, e.g. the control plane's: `0`, `0-1`, `0,2`.
    #[arg(long, value_name = "LIST")]
    control_cpus: Option<String>,
}

fn main() -> ExitCode {
    dataplane::daemon::init_logging();
    let args = Args::parse();
    let flags = FlagOverrides {
        unit: args.unit,
        grpc_socket: args.grpc_socket,
        grpc_tcp: args.grpc_tcp,
        grpc_allow_remote: args.grpc_allow_remote,
        hello_interval_ms: args.hello_interval_ms,
        hello_dead_after: args.hello_dead_after,
        ports: args.ports,
        forwarding_cpu: args.forwarding_cpu,
        control_cpus: args.control_cpus,
    };
    let cfg = match DaemonConfig::load(args.config.as_deref(), flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dataplaned: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dataplaned: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: DaemonConfig) -> Result<(), String> {
    let engine = Engine::new(engine_config(&cfg)).map_err(|e| e.to_string())?;
    let ports = open_ports(&cfg)?;
    for (spec, port) in cfg.ports.iter().zip(&ports) {
        tracing::info!(port = %format!("{}/{}", cfg.unit, spec.id), backend = %port.describe(), speed_bps = spec.speed_bps, "port");
    }
    let (forwarder, handle) =
        Forwarder::new(engine, ports).map_err(|e| format!("forwarding thread: {e}"))?;
    let forwarding_cpu = cfg.forwarding_cpu.map(CpuList::one);
    if let Some(cpu) = &forwarding_cpu {
        tracing::info!(cpu = %cpu, "forwarding thread placed");
    }
    let (placed_tx, placed_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("forwarding".into())
        .spawn(move || {
            let placed = forwarding_cpu.map_or(Ok(()), |c| c.pin_current_thread());
            let ok = placed.is_ok();
            let _ = placed_tx.send(placed);
            if ok {
                forwarder.run();
            }
        })
        .map_err(|e| format!("forwarding thread: {e}"))?;
    if let Ok(Err(e)) = placed_rx.recv() {
        let _ = thread.join();
        return Err(format!("--forwarding-cpu: {e}"));
    }
    // The threads started from here on (tokio's) inherit this thread's CPUs.
    if let Some(cpus) = &cfg.control_cpus {
        if let Err(e) = cpus.pin_current_thread() {
            handle.stop();
            let _ = thread.join();
            return Err(format!("--control-cpus {cpus}: {e}"));
        }
        tracing::info!(cpus = %cpus, "gRPC threads placed");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let served = runtime.block_on(serve(&cfg, DataplaneService::new(handle.clone())));
    handle.stop();
    let _ = thread.join();
    let _ = std::fs::remove_file(&cfg.grpc_socket);
    tracing::info!("dataplaned stopped");
    served
}

async fn serve(cfg: &DaemonConfig, service: DataplaneService) -> Result<(), String> {
    let unix = bind_unix(&cfg.grpc_socket).map_err(|e| e.to_string())?;
    let tcp = match cfg.grpc_tcp {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("gRPC TCP {addr}: {e}"))?,
        ),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        dataplane::daemon::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (health, reflection) = standard_services().await.map_err(|e| e.to_string())?;
    let router = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(service.into_server());
    tracing::info!(unit = cfg.unit, socket = %cfg.grpc_socket.display(), tcp = ?cfg.grpc_tcp, "dataplaned ready");
    match tcp {
        Some(tcp) => {
            let tcp_router = router.clone();
            let (a, b) = tokio::join!(
                router.serve_with_incoming_shutdown(
                    UnixListenerStream::new(unix),
                    stopped(stop_rx.clone())
                ),
                tcp_router
                    .serve_with_incoming_shutdown(TcpListenerStream::new(tcp), stopped(stop_rx)),
            );
            a.and(b).map_err(|e| format!("gRPC: {e}"))
        }
        None => router
            .serve_with_incoming_shutdown(UnixListenerStream::new(unix), stopped(stop_rx))
            .await
            .map_err(|e| format!("gRPC: {e}")),
    }
}
