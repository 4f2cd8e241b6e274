//! `stackctl`: the operator CLI of a stackd stack (`stackctl --help`, docs/stackctl.md).
//! Exit codes: 0 done, 1 failed (the reason on stderr), 2 bad arguments.

use std::process::ExitCode;

use clap::Parser;
use controlplane::ctl::{args::Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stackctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
