//! The deterministic model's commands, as library calls (`stack-sim model …` is a thin shell
//! over them): run a scenario file, reproduce the RoCE-without-PFC claim, write reports and
//! plots.

pub mod roce;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::stack::{plots, Stack, StackError, StackReport, StackSpec};

/// Why a model command failed.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The scenario is invalid or its run failed.
    #[error("{path}: {source}")]
    Scenario {
        /// The scenario file (or the built-in scenario's name).
        path: String,
        /// The error.
        source: StackError,
    },
    /// The report could not be encoded.
    #[error("cannot encode the report: {0}")]
    Encode(#[from] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and checks a TOML scenario file.
pub fn load(path: &Path) -> Result<StackSpec, ModelError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    StackSpec::from_toml(&text).map_err(|source| ModelError::Scenario {
        path: path.display().to_string(),
        source,
    })
}

/// Runs a scenario.
pub fn run(spec: StackSpec, name: &str) -> Result<StackReport, ModelError> {
    Stack::build(spec)
        .and_then(|mut s| s.run())
        .map_err(|source| ModelError::Scenario {
            path: name.to_string(),
            source,
        })
}

/// Writes `report.json` and the plots into `dir` (created if needed); returns the files.
pub fn write_outputs(dir: &Path, report: &StackReport) -> Result<Vec<PathBuf>, ModelError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut files = Vec::new();
    let json = dir.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?).map_err(io(&json))?;
    files.push(json);
    for (name, svg) in plots(report) {
        let p = dir.join(name);
        std::fs::write(&p, svg).map_err(io(&p))?;
        files.push(p);
    }
    Ok(files)
}

/// Writes `roce.json` (the table) and `roce.svg` (goodput over time) into `dir`.
pub fn write_roce(dir: &Path, report: &roce::RoceReport) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = dir.join("roce.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?).map_err(io(&json))?;
    let svg = dir.join("roce.svg");
    std::fs::write(&svg, report.plot()).map_err(io(&svg))?;
    Ok(())
}
