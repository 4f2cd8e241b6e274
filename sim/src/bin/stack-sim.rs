//! `stack-sim`: the stackd simulator's command line.
//!
//! `stack-sim incast` runs the deterministic N → 1 incast scenario (one switch, virtual time)
//! and prints a report: a human table by default, JSON with `--json`. Logs go to stderr,
//! filtered by `RUST_LOG` (e.g. `RUST_LOG=sim=debug`).
#![deny(unsafe_code)]
//!
//! `stack-sim model run FILE` runs a stack scenario file (1–6 units, traffic, faults) in the
//! deterministic model and writes a JSON report and SVG plots; `stack-sim model roce` runs the
//! RoCE-without-PFC experiment. The logic lives in `sim::model`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sim::incast::{Incast, IncastConfig};
use tracing_subscriber::EnvFilter;

/// The stackd simulator.
#[derive(Debug, Parser)]
#[command(name = "stack-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N senders -> 1 receiver through one switch, on a lossless (PFC) or lossy priority.
    Incast(IncastArgs),
    /// Launch a virtual stack of real processes and leave it running.
    Up(sim::ops::UpArgs),
    /// Show the stack launched by `up`.
    Status(sim::ops::DirArgs),
    /// Stop every process of the stack launched by `up` and remove its directory.
    Down(sim::ops::DirArgs),
    /// Kill (SIGKILL) a unit's stackd, dataplaned or both, on the stack launched by `up`.
    Kill(sim::ops::FaultArgs),
    /// Start a unit's daemons that are not running, on the stack launched by `up`.
    Start(sim::ops::FaultArgs),
    /// Cut, restore, flap or degrade a stack link of the stack launched by `up`.
    Link(sim::ops::LinkArgs),
    /// The cable process of a stack launched by `up` (started by `up`, not by hand): relays
    /// the stack links and takes `link` orders on DIR/cables.sock.
    #[command(hide = true)]
    Cables {
        /// The stack's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Seed of the links' loss decisions (link i gets SEED + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run a scenario file: a stack, traffic, faults, assertions; a summary and a JSON report.
    Run(sim::ops::RunArgs),
    /// The main job: a 6-unit ring with hosts and traffic; the master's control plane and
    /// then the master unit fail; the loss is shown.
    Demo(sim::ops::DemoArgs),
    /// The deterministic model of a whole stack (virtual clock, real engine and stack manager).
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Run a scenario file (TOML; see docs/sim.md and sim/scenarios/).
    Run(RunArgs),
    /// RoCE-like go-back-N traffic without PFC (quiet, then incast) and with PFC: a table and
    /// a plot.
    Roce(RoceArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The scenario file.
    file: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write report.json and the SVG plots into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RoceArgs {
    /// Incast senders (2..=15).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(2..=15))]
    senders: u8,
    /// Port speed, Gb/s (1..=400).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=400))]
    speed_gbps: u64,
    /// Frame size in bytes (64..=9216).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(64..=9216))]
    frame_size: u32,
    /// Data per sender, in milliseconds at line rate (1..=100).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=100))]
    duration_ms: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write roce.json and roce.svg into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct IncastArgs {
    /// Number of senders (1..=32).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=32))]
    senders: u32,
    /// Run the priority lossy (tail drop) instead of lossless (PFC).
    #[arg(long)]
    lossy: bool,
    /// Speed of every port and host, in Gb/s (1..=1600).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1600))]
    speed_gbps: u64,
    /// Length of every cable, in metres (0..=100000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    cable_m: u32,
    /// Frame size in bytes without FCS, VLAN tag included (64..=9216).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(64..=9216))]
    frame_size: u32,
    /// Virtual time the senders send, in milliseconds (1..=1000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    duration_ms: u64,
    /// Bytes added to the computed headroom bound (negative for a negative control).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    headroom_margin_bytes: i64,
    /// Priority (PCP) of the flows (0..=7).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=7))]
    priority: u8,
    /// Senders' PFC response time in pause quanta (default: the IEEE maximum for the speed).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    response_quanta: Option<u16>,
    /// Seed of the start-time jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop with an error after this many events.
    #[arg(long, default_value_t = 50_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_events: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Incast(a) => incast(a),
        Command::Model { command } => match model(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stack-sim model: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Up(a) => report("up", sim::ops::up(&a)),
        Command::Status(a) => report("status", sim::ops::status(&a)),
        Command::Down(a) => report("down", sim::ops::down(&a)),
        Command::Kill(a) => report("kill", sim::ops::kill(&a)),
        Command::Start(a) => report("start", sim::ops::start(&a)),
        Command::Link(a) => report("link", sim::ops::link(&a)),
        Command::Cables { dir, seed } => match sim::launch::cables::serve(&dir, seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stack-sim cables: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo(a) => match sim::ops::demo(&a) {
            Ok(r) if r.passed => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("stack-sim demo: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(a) => match sim::ops::run(&a) {
            Ok(r) if r.passed => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("stack-sim run: {e}");
                // A bad scenario file is bad input, like a bad argument.
                match e {
                    sim::scenario::ScenarioError::Invalid { .. }
                    | sim::scenario::ScenarioError::Read { .. } => ExitCode::from(2),
                    _ => ExitCode::FAILURE,
                }
            }
        },
    }
}

/// Exit code of a stack command: its error on stderr.
fn report(what: &str, r: Result<(), sim::ops::OpsError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stack-sim {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn model(command: ModelCommand) -> Result<(), sim::model::ModelError> {
    use sim::model::{self, roce};
    match command {
        ModelCommand::Run(a) => {
            let mut spec = model::load(&a.file)?;
            if let Some(seed) = a.seed {
                spec.seed = seed;
            }
            let started = std::time::Instant::now();
            let report = model::run(spec, &a.file.display().to_string())?;
            let wall = started.elapsed();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
                println!("wall time {:.3} s", wall.as_secs_f64());
            }
            if let Some(dir) = a.out {
                for f in model::write_outputs(&dir, &report)? {
                    eprintln!("wrote {}", f.display());
                }
            }
        }
        ModelCommand::Roce(a) => {
            let report = roce::run_roce(roce::RoceConfig {
                senders: a.senders,
                speed_gbps: a.speed_gbps,
                frame_size: a.frame_size,
                duration_ms: a.duration_ms,
                seed: a.seed,
                ..roce::RoceConfig::default()
            })?;
            print!("{report}");
            if let Some(dir) = a.out {
                model::write_roce(&dir, &report)?;
                eprintln!("wrote {0}/roce.json and {0}/roce.svg", dir.display());
            }
        }
    }
    Ok(())
}

fn incast(a: IncastArgs) -> ExitCode {
    let config = IncastConfig {
        senders: a.senders,
        speed_bps: a.speed_gbps * 1_000_000_000,
        cable_m: a.cable_m,
        frame_size: a.frame_size,
        duration: Duration::from_millis(a.duration_ms),
        lossless: !a.lossy,
        priority: a.priority,
        headroom_margin_bytes: a.headroom_margin_bytes,
        response_quanta: a.response_quanta,
        seed: a.seed,
        max_events: a.max_events,
        ..IncastConfig::default()
    };
    let report = match Incast::build(config).and_then(Incast::run) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stack-sim incast: {e}");
            return ExitCode::FAILURE;
        }
    };
    if a.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("stack-sim incast: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{report}");
    }
    ExitCode::SUCCESS
}
