//! `stackd`: the control plane of one stack unit. Discovers the stack over the stack links
//! (through its unit's `dataplaned`), elects master and standby, programs the dataplane's
//! stack routes, flood tree and front-port hold, and serves the `stackd.stack.v1` management
//! API (`stackctl`). See `stackd --help` and docs/stackd.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use controlplane::daemon::config::{StackdConfig, StackdFlags};
use controlplane::daemon::driver::Driver;
use controlplane::daemon::mgmt::MgmtService;
use dataplane::daemon::grpc::bind_unix;
use proto::stack::v1::stack_management_server::StackManagementServer;
use tokio_stream::wrappers::UnixListenerStream;

/// The control plane of one stack unit.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "The control plane of one stack unit: stack discovery, master/standby election, stack-link management; programs its unit's dataplaned and serves the stackd.stack.v1 management API (stackctl)"
)]
struct Args {
    /// TOML configuration file (flags override it).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// The unit number wanted at first boot, 1..=6 (the stored state wins afterwards).
    #[arg(long)]
    unit: Option<u8>,
    /// The unit's base MAC, e.g. 02:53:54:4b:00:01 (default 02:53:54:4b:00:<unit>).
    #[arg(long)]
    mac: Option<String>,
    /// Election priority at first boot, 0..=255 (0 = never master; the stored state wins).
    #[arg(long)]
    priority: Option<u8>,
    /// The standby this unit names when it is master.
    #[arg(long)]
    standby: Option<u8>,
    /// The unit's dataplaned gRPC socket.
    #[arg(long)]
    dataplane: Option<PathBuf>,
    /// The management socket (mode 0600).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Directory of the unit's stored state (unit number, priority, standby).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// A dataplane stack port, e.g. 1/1; repeat, in stack-port order (default: all of slot 1).
    #[arg(long = "stack-port", value_name = "SLOT/PORT")]
    stack_ports: Vec<String>,
    /// File holding the stack key (secure stacking: every stack control message is signed).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// The stack configuration file (TOML: standby, priorities, static MACs), applied and
    /// replicated when this unit is master; SIGHUP reloads it.
    #[arg(long)]
    stack_config: Option<PathBuf>,
    /// Advert refresh interval in milliseconds (default 250).
    #[arg(long)]
    advert_interval_ms: Option<u64>,
    /// Advert lifetime without a refresh, in milliseconds (default 1000).
    #[arg(long)]
    hold_time_ms: Option<u64>,
    /// Cold-boot window in milliseconds (default 2000): how long a booting unit waits for the
    /// rest of the stack before it may elect (a closed ring does not wait).
    #[arg(long)]
    cold_boot_window_ms: Option<u64>,
    /// Grace period in milliseconds (default 10000): how long a neighbour whose control plane
    /// restarts (its dataplane's hellos say "control detached") is kept as it was.
    #[arg(long)]
    grace_period_ms: Option<u64>,
}

fn main() -> ExitCode {
    dataplane::daemon::init_logging();
    let args = Args::parse();
    let flags = StackdFlags {
        unit: args.unit,
        mac: args.mac,
        priority: args.priority,
        standby: args.standby,
        dataplane: args.dataplane,
        socket: args.socket,
        state_dir: args.state_dir,
        stack_ports: args.stack_ports,
        key_file: args.key_file,
        stack_config: args.stack_config,
        advert_interval_ms: args.advert_interval_ms,
        hold_time_ms: args.hold_time_ms,
        cold_boot_window_ms: args.cold_boot_window_ms,
        grace_period_ms: args.grace_period_ms,
    };
    let cfg = match StackdConfig::load(args.config.as_deref(), flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stackd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stackd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("stackd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: StackdConfig) -> Result<(), String> {
    let socket = cfg.socket.clone();
    let listener = bind_unix(&socket).map_err(|e| e.to_string())?;
    let (dp_tx, dp_rx) = tokio::sync::watch::channel(None);
    let driver = Driver::new(cfg, dp_tx).map_err(|e| e.to_string())?;
    let (mgmt_tx, mgmt_rx) = tokio::sync::mpsc::channel(64);
    let service = MgmtService::new(mgmt_tx, dp_rx);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<StackManagementServer<MgmtService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("gRPC reflection: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|s| *s).await;
        });
    let server = tokio::spawn(server);
    tracing::info!(socket = %socket.display(), "stackd serving");
    let result = driver
        .run(mgmt_rx, dataplane::daemon::shutdown_signal())
        .await;
    let _ = stop_tx.send(true);
    // Open management connections (a stackctl, a monitor) do not hold the exit up for long.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(300), server).await;
    let _ = std::fs::remove_file(&socket);
    result.map_err(|e| e.to_string())
}
