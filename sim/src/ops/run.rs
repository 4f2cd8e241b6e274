//! `stack-sim run FILE`: runs a scenario, prints its summary, writes its JSON report.

use std::path::PathBuf;

use crate::scenario::{self, Report, RunOptions, ScenarioError};

/// `stack-sim run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub file: PathBuf,
    /// Where to write the JSON report [default: NAME.report.json in the current directory].
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The stack's directory [default: a fresh one under the temp dir, removed afterwards].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the stack's directory (the daemons' logs) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Where dataplaned and stackd are [default: next to stack-sim].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// RUST_LOG of the daemons.
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Print only the summary (no events as they happen).
    #[arg(long)]
    pub quiet: bool,
    /// How hosts are attached [default: the scenario's `[stack] backend`, else udp]; netns
    /// needs root.
    #[arg(long, value_enum)]
    pub backend: Option<super::BackendArg>,
}

/// Runs the scenario of `args`: its report, written and printed (check
/// [`Report::passed`]), or why it could not run.
pub fn run(args: &RunArgs) -> Result<Report, ScenarioError> {
    let sc = scenario::read(&args.file)?;
    let opts = RunOptions {
        dir: args.dir.clone(),
        bin_dir: super::daemon_dir(args.bin_dir.as_deref()),
        keep: args.keep,
        narrate: !args.quiet,
        log_filter: args.log.clone(),
        show_tables: false,
        backend: args.backend.map(|b| match b {
            super::BackendArg::Udp => crate::launch::Backend::Udp,
            super::BackendArg::Netns => crate::launch::Backend::Netns,
        }),
    };
    let report = scenario::run(&sc, &args.file, &opts)?;
    let path = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.report.json", sc.name)));
    let json = serde_json::to_string_pretty(&report).map_err(|e| ScenarioError::Write {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&path, json).map_err(|source| ScenarioError::Write {
        path: path.clone(),
        source,
    })?;
    println!("{}", report.summary());
    println!("report: {}", path.display());
    Ok(report)
}
