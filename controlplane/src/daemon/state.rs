//! A unit's persistent state: its unit number, priority, configured standby and the last
//! dataplane session generation, in `STATE_DIR/state.toml`.
//!
//! Written atomically: a temporary file in the same directory, fsync, rename over the old
//! one, fsync of the directory. A crash at any point leaves either the old or the new file,
//! never a torn one. A file that does not parse is an error naming file, line and column; it
//! is never silently replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use dataplane::daemon::config::{read_toml, DaemonConfigError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a unit keeps across restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitState {
    /// Unit number (0 = none yet).
    pub unit: u8,
    /// Election priority.
    pub priority: u8,
    /// The configured standby (as master).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<u8>,
    /// The highest dataplane session generation used: the next session uses a higher one.
    #[serde(default)]
    pub generation: u64,
}

/// A unit's checkpoint as stored (`STATE_DIR/checkpoint.toml`): what a restarted control
/// plane resumes from when its dataplane kept its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFile {
    /// `joining`, `member`, `standby`, `master` or `unassigned`.
    pub role: String,
    /// The master epoch.
    pub epoch: u32,
    /// The master's MAC (48 bits; 0 = none).
    pub master: u64,
    /// The standby's MAC (0 = none).
    pub standby: u64,
    /// The rule that named the standby (its code).
    pub standby_rule: u8,
    /// Front ports held.
    pub held: bool,
    /// The unit table: (MAC, number).
    pub table: Vec<(u64, u8)>,
    /// The stack links' far ends: (stack port, neighbour's MAC, neighbour's stack port).
    #[serde(default)]
    pub adjacencies: Vec<(u8, u64, u8)>,
}

impl CheckpointFile {
    /// The stored form of `cp`.
    pub fn from_checkpoint(cp: &crate::Checkpoint) -> Self {
        use crate::Role;
        CheckpointFile {
            role: match cp.role {
                Role::Joining => "joining",
                Role::Member => "member",
                Role::Standby => "standby",
                Role::Master => "master",
                Role::Unassigned => "unassigned",
            }
            .into(),
            epoch: cp.epoch,
            master: cp.master,
            standby: cp.standby.0,
            standby_rule: cp.standby.1,
            held: cp.held,
            table: cp.table.clone(),
            adjacencies: cp
                .adjacencies
                .iter()
                .map(|a| (a.port.0, a.neighbour, a.neighbour_port.0))
                .collect(),
        }
    }

    /// The checkpoint, or `None` when the role is unknown.
    pub fn to_checkpoint(&self) -> Option<crate::Checkpoint> {
        use crate::Role;
        let role = match self.role.as_str() {
            "joining" => Role::Joining,
            "member" => Role::Member,
            "standby" => Role::Standby,
            "master" => Role::Master,
            "unassigned" => Role::Unassigned,
            _ => return None,
        };
        Some(crate::Checkpoint {
            role,
            epoch: self.epoch,
            master: self.master,
            standby: (self.standby, self.standby_rule),
            table: self.table.clone(),
            held: self.held,
            adjacencies: self
                .adjacencies
                .iter()
                .map(
                    |&(port, neighbour, neighbour_port)| crate::wire::Adjacency {
                        port: crate::StackPort(port),
                        neighbour,
                        neighbour_port: crate::StackPort(neighbour_port),
                    },
                )
                .collect(),
        })
    }

    /// Stores it at `path` atomically.
    pub fn store(&self, path: &Path) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = toml::to_string(self).map_err(|e| err(std::io::Error::other(e)))?;
        write_atomically(path, text.as_bytes()).map_err(err)
    }

    /// The checkpoint stored at `path`, if any.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(read_toml::<CheckpointFile>(path)?.0))
    }
}

/// The state file could not be read or written.
#[derive(Debug, Error)]
pub enum StateError {
    /// The file exists but cannot be read or parsed.
    #[error("unit state: {0}")]
    Read(#[from] DaemonConfigError),
    /// Writing failed (the old file, if any, is intact).
    #[error("unit state {path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The state file of one unit.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file in `dir` (created when first written).
    pub fn new(dir: &Path) -> Self {
        StateFile {
            path: dir.join("state.toml"),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored state, or `None` when there is none yet (a first boot).
    pub fn load(&self) -> Result<Option<UnitState>, StateError> {
        if !self.path.exists() {
            return Ok(None);
        }
        Ok(Some(read_toml::<UnitState>(&self.path)?.0))
    }

    /// Stores `state` atomically.
    pub fn store(&self, state: &UnitState) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: self.path.clone(),
            source,
        };
        let text = toml::to_string(state).map_err(|e| err(std::io::Error::other(e)))?;
        let text = format!("# stackd unit state: written by stackd, atomically. Edit only while stackd is stopped.\n{text}");
        write_atomically(&self.path, text.as_bytes()).map_err(err)
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. A crash leaves the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stackd-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn stores_and_loads_and_replaces() {
        let f = StateFile::new(&dir("rt"));
        assert_eq!(f.load().unwrap(), None);
        let s = UnitState {
            unit: 3,
            priority: 200,
            standby: Some(2),
            generation: 7,
        };
        f.store(&s).unwrap();
        assert_eq!(f.load().unwrap(), Some(s));
        let s2 = UnitState { unit: 4, ..s };
        f.store(&s2).unwrap();
        assert_eq!(f.load().unwrap(), Some(s2));
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(f.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.toml")]);
    }

    #[test]
    fn checkpoints_round_trip() {
        let d = dir("cp");
        let cp = crate::Checkpoint {
            role: crate::Role::Master,
            epoch: 3,
            master: 0x0253_544b_0001,
            standby: (0x0253_544b_0002, 4),
            table: vec![(0x0253_544b_0001, 1), (0x0253_544b_0002, 2)],
            held: false,
            adjacencies: vec![crate::wire::Adjacency {
                port: crate::StackPort(1),
                neighbour: 0x0253_544b_0002,
                neighbour_port: crate::StackPort(0),
            }],
        };
        let path = d.join("checkpoint.toml");
        CheckpointFile::from_checkpoint(&cp).store(&path).unwrap();
        let back = CheckpointFile::load(&path).unwrap().unwrap();
        assert_eq!(back.to_checkpoint(), Some(cp));
    }

    #[test]
    fn a_corrupt_file_is_an_error_with_its_place_and_is_kept() {
        let d = dir("bad");
        std::fs::create_dir_all(&d).unwrap();
        let f = StateFile::new(&d);
        std::fs::write(f.path(), "unit = 3\npriority = \"high\"\n").unwrap();
        let e = f.load().unwrap_err().to_string();
        assert!(e.contains("state.toml:2:12"), "{e}");
        assert_eq!(
            std::fs::read_to_string(f.path()).unwrap(),
            "unit = 3\npriority = \"high\"\n"
        );
    }
}
