//! `dataplaned`'s own configuration: which unit it is, its ports and how each reaches a wire,
//! where its gRPC API listens, and its stack-link hello timing. From a TOML file, command-line
//! flags, or both (flags win).
//!
//! ```toml
//! unit = 1
//!
//! [grpc]
//! socket = "/tmp/stackd-0/unit1/dataplane.sock"   # default: $XDG_RUNTIME_DIR/stackd/unit1/… or /tmp/stackd-<uid>/unit1/…
//! # tcp = "127.0.0.1:50051"                        # also listen on TCP (loopback only unless allow_remote = true)
//!
//! [hello]
//! interval_ms = 10
//! dead_after = 3
//!
//! [cpus]                                           # default: wherever the kernel schedules them
//! forwarding = 1                                   # the forwarding thread, alone on this CPU
//! control = "0"                                    # gRPC threads: the control plane's CPUs
//!
//! [[port]]
//! port = "0/1"                                     # slot/port: 0 front panel, 1 stack
//! speed = "10G"
//! udp = { local = "127.0.0.1:7001", peer = "127.0.0.1:7002" }
//!
//! [[port]]
//! port = "1/1"
//! speed = "10G"
//! afpacket = "veth-u1s1"
//! ```
//!
//! Every error names the file, line and column (or the flag) and what was expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::cpus::CpuList;
use crate::config::{PortId, Slot};

/// Where a port's frames go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortBackendConfig {
    /// A virtual cable: a UDP socket bound to `local`, sending to `peer`.
    Udp {
        /// Local address.
        local: SocketAddr,
        /// The other end's address.
        peer: SocketAddr,
    },
    /// A Linux interface through AF_PACKET.
    AfPacket {
        /// Interface name.
        interface: String,
    },
}

/// One port of the unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Slot and number.
    pub id: PortId,
    /// Line rate, bits per second.
    pub speed_bps: u64,
    /// How it reaches a wire.
    pub backend: PortBackendConfig,
}

/// Everything `dataplaned` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Unit number, 1..=15.
    pub unit: u8,
    /// Unix socket of the gRPC API (mode 0600).
    pub grpc_socket: PathBuf,
    /// Also serve gRPC on this TCP address.
    pub grpc_tcp: Option<SocketAddr>,
    /// Allow `grpc_tcp` off loopback.
    pub grpc_allow_remote: bool,
    /// Hello interval.
    pub hello_interval: Duration,
    /// Intervals without a hello before a stack link is down.
    pub hello_dead_after: u8,
    /// The ports.
    pub ports: Vec<PortSpec>,
    /// The CPU the forwarding thread runs on (`None`: any).
    pub forwarding_cpu: Option<usize>,
    /// The CPUs the gRPC threads run on (`None`: any).
    pub control_cpus: Option<CpuList>,
}

/// A configuration that cannot be used. Each variant says where and what was expected.
#[derive(Debug, Error)]
pub enum DaemonConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a field of the wrong type or value.
    #[error("{path}:{line}:{column}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A command-line flag has a bad value.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--port`.
        flag: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The configuration as a whole is not usable (e.g. no ports, a port twice).
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    unit: Option<u8>,
    #[serde(default)]
    grpc: FileGrpc,
    #[serde(default)]
    hello: FileHello,
    #[serde(default)]
    cpus: FileCpus,
    #[serde(default, rename = "port")]
    ports: Vec<FilePort>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileGrpc {
    socket: Option<PathBuf>,
    tcp: Option<SocketAddr>,
    #[serde(default)]
    allow_remote: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileHello {
    interval_ms: Option<u64>,
    dead_after: Option<u8>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileCpus {
    forwarding: Option<usize>,
    control: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePort {
    port: String,
    speed: String,
    udp: Option<FileUdp>,
    afpacket: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUdp {
    local: SocketAddr,
    peer: SocketAddr,
}

/// What the command line adds to (or overrides in) the file.
#[derive(Clone, Debug, Default)]
pub struct FlagOverrides {
    /// `--unit`.
    pub unit: Option<u8>,
    /// `--grpc-socket`.
    pub grpc_socket: Option<PathBuf>,
    /// `--grpc-tcp`.
    pub grpc_tcp: Option<SocketAddr>,
    /// `--grpc-allow-remote`.
    pub grpc_allow_remote: bool,
    /// `--hello-interval-ms`.
    pub hello_interval_ms: Option<u64>,
    /// `--hello-dead-after`.
    pub hello_dead_after: Option<u8>,
    /// `--port SPEC`, each `SLOT/PORT,SPEED,udp,LOCAL,PEER` or `SLOT/PORT,SPEED,afpacket,IFNAME`.
    pub ports: Vec<String>,
    /// `--forwarding-cpu`.
    pub forwarding_cpu: Option<usize>,
    /// `--control-cpus`.
    pub control_cpus: Option<String>,
}

/// Parses `0/1` or `1/2` into a port id.
pub fn parse_port_id(s: &str) -> Result<PortId, String> {
    let (slot, port) = s.split_once('/').ok_or_else(|| {
        format!("'{s}' is not SLOT/PORT (e.g. 0/1 for front port 1, 1/1 for stack port 1)")
    })?;
    let port: u8 = port
        .parse()
        .map_err(|_| format!("'{port}' in '{s}' is not a port number 0..=255"))?;
    match slot {
        "0" => Ok(PortId::front(port)),
        "1" => Ok(PortId::stack(port)),
        _ => Err(format!(
            "slot '{slot}' in '{s}' is neither 0 (front panel) nor 1 (stack)"
        )),
    }
}

/// Parses a speed: `10G`, `25g`, `100G`, `1G`, `100M`, or bits per second.
pub fn parse_speed(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('G' | 'g') => (&t[..t.len() - 1], 1_000_000_000),
        Some('M' | 'm') => (&t[..t.len() - 1], 1_000_000),
        _ => (t, 1),
    };
    match num.parse::<u64>() {
        Ok(n) if n > 0 => n
            .checked_mul(mult)
            .filter(|v| *v <= 1_600_000_000_000)
            .ok_or_else(|| format!("speed '{s}' is above 1.6T")),
        _ => Err(format!(
            "'{s}' is not a speed (e.g. 10G, 25G, 100G, 1G, 100M, or bits per second)"
        )),
    }
}

fn parse_port_flag(spec: &str) -> Result<PortSpec, String> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    let usage =
        "expected SLOT/PORT,SPEED,udp,LOCAL_ADDR,PEER_ADDR or SLOT/PORT,SPEED,afpacket,INTERFACE";
    let (id, speed, kind) = match parts.as_slice() {
        [id, speed, kind, ..] => (*id, *speed, *kind),
        _ => return Err(format!("'{spec}': {usage}")),
    };
    let id = parse_port_id(id)?;
    let speed_bps = parse_speed(speed)?;
    let backend = match (kind, &parts[3..]) {
        ("udp", [local, peer]) => PortBackendConfig::Udp {
            local: local
                .parse()
                .map_err(|_| format!("'{local}' is not an address like 127.0.0.1:7001"))?,
            peer: peer
                .parse()
                .map_err(|_| format!("'{peer}' is not an address like 127.0.0.1:7002"))?,
        },
        ("afpacket", [ifname]) if !ifname.is_empty() => PortBackendConfig::AfPacket {
            interface: ifname.to_string(),
        },
        _ => return Err(format!("'{spec}': {usage}")),
    };
    Ok(PortSpec {
        id,
        speed_bps,
        backend,
    })
}

/// The default gRPC socket of a unit's dataplane: `dataplane.sock` in [`unit_dir`].
pub fn default_socket(unit: u8) -> PathBuf {
    unit_dir(unit).join("dataplane.sock")
}

/// The default directory of a unit's sockets: `$XDG_RUNTIME_DIR/stackd/unit<N>/`, else
/// `/tmp/stackd-<uid>/unit<N>/` (shared by `dataplaned`, `stackd` and `stackctl`).
pub fn unit_dir(unit: u8) -> PathBuf {
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("stackd"),
        _ => PathBuf::from(format!("/tmp/stackd-{}", current_uid())),
    };
    base.join(format!("unit{unit}"))
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

impl DaemonConfig {
    /// Builds the configuration from an optional TOML file and the flags.
    pub fn load(file: Option<&Path>, flags: FlagOverrides) -> Result<Self, DaemonConfigError> {
        let parsed = match file {
            Some(path) => Some(parse_file(path)?),
            None => None,
        };
        let (file_cfg, path) = match (parsed, file) {
            (Some(c), Some(p)) => (Some(c), p.to_path_buf()),
            _ => (None, PathBuf::new()),
        };
        let unit = flags
            .unit
            .or(file_cfg.as_ref().and_then(|f| f.0.unit))
            .ok_or_else(|| DaemonConfigError::Flag {
                flag: "--unit",
                message:
                    "the unit number is required (1..=15), as --unit or `unit =` in the config file"
                        .into(),
            })?;
        if !(1..=15).contains(&unit) {
            return Err(DaemonConfigError::Flag {
                flag: "--unit",
                message: format!("{unit} is not a unit number (1..=15)"),
            });
        }
        let mut ports = Vec::new();
        let (grpc, hello, cpus) = match file_cfg {
            Some((f, src)) => {
                for (i, p) in f.ports.iter().enumerate() {
                    ports.push(file_port(p).map_err(|message| {
                        let (line, column) = locate(&src, &format!("port = \"{}\"", p.port), i);
                        DaemonConfigError::File {
                            path: path.clone(),
                            line,
                            column,
                            message: format!("port[{i}]: {message}"),
                        }
                    })?);
                }
                (f.grpc, f.hello, f.cpus)
            }
            None => (
                FileGrpc::default(),
                FileHello::default(),
                FileCpus::default(),
            ),
        };
        for spec in &flags.ports {
            ports.push(
                parse_port_flag(spec).map_err(|message| DaemonConfigError::Flag {
                    flag: "--port",
                    message,
                })?,
            );
        }
        if ports.is_empty() {
            return Err(DaemonConfigError::Invalid(
                "no ports: give at least one [[port]] in the config file or --port".into(),
            ));
        }
        for (i, p) in ports.iter().enumerate() {
            if ports[..i].iter().any(|q| q.id == p.id) {
                return Err(DaemonConfigError::Invalid(format!(
                    "port {}/{} is configured twice",
                    unit, p.id
                )));
            }
        }
        let hello_interval_ms = flags.hello_interval_ms.or(hello.interval_ms).unwrap_or(10);
        if !(1..=10_000).contains(&hello_interval_ms) {
            return Err(DaemonConfigError::Flag {
                flag: "--hello-interval-ms",
                message: format!("{hello_interval_ms} is not 1..=10000 ms"),
            });
        }
        let hello_dead_after = flags.hello_dead_after.or(hello.dead_after).unwrap_or(3);
        if hello_dead_after == 0 {
            return Err(DaemonConfigError::Flag {
                flag: "--hello-dead-after",
                message: "must be at least 1 interval".into(),
            });
        }
        let grpc_tcp = flags.grpc_tcp.or(grpc.tcp);
        let grpc_allow_remote = flags.grpc_allow_remote || grpc.allow_remote;
        if let Some(addr) = grpc_tcp {
            if !addr.ip().is_loopback() && !grpc_allow_remote {
                return Err(DaemonConfigError::Flag {
                    flag: "--grpc-tcp",
                    message: format!("{addr} is not a loopback address; add --grpc-allow-remote to serve the dataplane API off this machine"),
                });
            }
        }
        let (forwarding_cpu, control_cpus) = cpu_placement(&flags, cpus)?;
        Ok(DaemonConfig {
            unit,
            grpc_socket: flags
                .grpc_socket
                .or(grpc.socket)
                .unwrap_or_else(|| default_socket(unit)),
            grpc_tcp,
            grpc_allow_remote,
            hello_interval: Duration::from_millis(hello_interval_ms),
            hello_dead_after,
            ports,
            forwarding_cpu,
            control_cpus,
        })
    }

    /// The port of this unit named `id`, if configured.
    pub fn port(&self, id: PortId) -> Option<&PortSpec> {
        self.ports.iter().find(|p| p.id == id)
    }

    /// Whether the unit has stack ports.
    pub fn has_stack_ports(&self) -> bool {
        self.ports.iter().any(|p| p.id.slot == Slot::Stack)
    }
}

/// The forwarding CPU and the control CPUs, from the flags or else the file, each checked
/// against the CPUs this process may run on.
fn cpu_placement(
    flags: &FlagOverrides,
    file: FileCpus,
) -> Result<(Option<usize>, Option<CpuList>), DaemonConfigError> {
    let bad = |flag: &'static str, message: String| DaemonConfigError::Flag { flag, message };
    let control = match flags.control_cpus.as_deref().or(file.control.as_deref()) {
        Some(s) => Some(CpuList::parse(s).map_err(|m| bad("--control-cpus", m))?),
        None => None,
    };
    let forwarding = flags.forwarding_cpu.or(file.forwarding);
    if forwarding.is_none() && control.is_none() {
        return Ok((None, None));
    }
    let available = CpuList::available().map_err(|e| {
        DaemonConfigError::Invalid(format!("cannot read this process's CPU affinity: {e}"))
    })?;
    let check = |flag: &'static str, list: &CpuList| match list.first_missing_from(&available) {
        Some(cpu) => Err(bad(
            flag,
            format!("CPU {cpu} is not one this process may run on ({available})"),
        )),
        None => Ok(()),
    };
    if let Some(cpu) = forwarding {
        check("--forwarding-cpu", &CpuList::one(cpu))?;
    }
    if let Some(list) = &control {
        check("--control-cpus", list)?;
    }
    Ok((forwarding, control))
}

fn parse_file(path: &Path) -> Result<(FileConfig, String), DaemonConfigError> {
    read_toml(path)
}

/// Reads and deserializes a TOML file; errors name the file, and for bad TOML or a bad field
/// the line and column. Returns the source too, for locating later (semantic) errors.
pub fn read_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, String), DaemonConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| DaemonConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let cfg: T = toml::from_str(&src).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(&src, s.start));
        DaemonConfigError::File {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    Ok((cfg, src))
}

fn file_port(p: &FilePort) -> Result<PortSpec, String> {
    let id = parse_port_id(&p.port)?;
    let speed_bps = parse_speed(&p.speed)?;
    let backend = match (&p.udp, &p.afpacket) {
        (Some(u), None) => PortBackendConfig::Udp {
            local: u.local,
            peer: u.peer,
        },
        (None, Some(ifname)) if !ifname.is_empty() => PortBackendConfig::AfPacket {
            interface: ifname.clone(),
        },
        _ => return Err("give exactly one backend: udp = { local = \"…\", peer = \"…\" } or afpacket = \"IFNAME\"".into()),
    };
    Ok(PortSpec {
        id,
        speed_bps,
        backend,
    })
}

/// 1-based line and column of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// Where the `nth` port table's `port = "…"` line is (for errors found after parsing).
fn locate(src: &str, needle: &str, nth: usize) -> (usize, usize) {
    let found = src
        .match_indices(needle)
        .next()
        .map(|(i, _)| i)
        .or_else(|| src.match_indices("[[port]]").nth(nth).map(|(i, _)| i));
    found.map_or((1, 1), |i| line_col(src, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stackd-cfg-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("dataplaned.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn file_and_flags_combine() {
        let p = write(
            "ok",
            "unit = 2\n[hello]\ninterval_ms = 20\n\n[[port]]\nport = \"0/1\"\nspeed = \"10G\"\nudp = { local = \"127.0.0.1:7001\", peer = \"127.0.0.1:7002\" }\n",
        );
        let flags = FlagOverrides {
            ports: vec!["1/1,25G,afpacket,veth9".into()],
            hello_dead_after: Some(5),
            ..FlagOverrides::default()
        };
        let c = DaemonConfig::load(Some(&p), flags).unwrap();
        assert_eq!(c.unit, 2);
        assert_eq!(c.hello_interval, Duration::from_millis(20));
        assert_eq!(c.hello_dead_after, 5);
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[1].speed_bps, 25_000_000_000);
        assert!(c.grpc_socket.ends_with("unit2/dataplane.sock"));
    }

    #[test]
    fn file_errors_name_line_and_column() {
        let p = write("bad", "unit = 1\n\n[[port]]\nport = \"0/1\"\nspeed = 10\n");
        let e = DaemonConfig::load(Some(&p), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("dataplaned.toml:5:9"), "{e}");
        let p = write(
            "bad2",
            "unit = 1\n\n[[port]]\nport = \"3/1\"\nspeed = \"10G\"\nafpacket = \"x\"\n",
        );
        let e = DaemonConfig::load(Some(&p), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dataplaned.toml:4:1") && e.contains("slot '3'"),
            "{e}"
        );
        let p = write("bad3", "unit = 1\nfrobnicate = true\n");
        let e = DaemonConfig::load(Some(&p), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:1") && e.contains("frobnicate"), "{e}");
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let bad = |f: FlagOverrides| DaemonConfig::load(None, f).unwrap_err().to_string();
        assert!(bad(FlagOverrides::default()).starts_with("--unit"));
        let with = |ports: &[&str]| FlagOverrides {
            unit: Some(1),
            ports: ports.iter().map(|s| s.to_string()).collect(),
            ..FlagOverrides::default()
        };
        assert!(
            bad(with(&["0/1,10Q,udp,127.0.0.1:1,127.0.0.1:2"])).contains("'10Q' is not a speed")
        );
        assert!(bad(with(&["0/1,10G,udp,127.0.0.1:1"])).starts_with("--port"));
        assert!(bad(with(&[])).contains("no ports"));
        assert!(bad(with(&["0/1,10G,afpacket,a", "0/1,10G,afpacket,b"])).contains("twice"));
        let mut f = with(&["0/1,10G,afpacket,a"]);
        f.grpc_tcp = Some("192.0.2.1:5000".parse().unwrap());
        assert!(bad(f).starts_with("--grpc-tcp"));
        let mut f = with(&["0/1,10G,afpacket,a"]);
        f.forwarding_cpu = Some(4000);
        let e = bad(f);
        assert!(
            e.starts_with("--forwarding-cpu: CPU 4000 is not one"),
            "{e}"
        );
        let mut f = with(&["0/1,10G,afpacket,a"]);
        f.control_cpus = Some("0-x".into());
        assert!(bad(f).starts_with("--control-cpus: 'x' in '0-x'"));
    }

    #[test]
    fn cpus_come_from_the_file_and_flags_win() {
        let here = CpuList::available().unwrap();
        let cpu = here.cpus()[0];
        let p = write(
            "cpus",
            &format!("unit = 1\n[cpus]\nforwarding = {cpu}\ncontrol = \"{here}\"\n[[port]]\nport = \"0/1\"\nspeed = \"10G\"\nafpacket = \"x\"\n"),
        );
        let c = DaemonConfig::load(Some(&p), FlagOverrides::default()).unwrap();
        assert_eq!(
            (c.forwarding_cpu, c.control_cpus.as_ref()),
            (Some(cpu), Some(&here))
        );
        let flags = FlagOverrides {
            control_cpus: Some(cpu.to_string()),
            ..FlagOverrides::default()
        };
        let c = DaemonConfig::load(Some(&p), flags).unwrap();
        assert_eq!(c.control_cpus, Some(CpuList::one(cpu)));
        let p = write(
            "cpus-bad",
            "unit = 1\n[cpus]\nforwarding = \"one\"\n[[port]]\nport = \"0/1\"\nspeed = \"10G\"\nafpacket = \"x\"\n",
        );
        let e = DaemonConfig::load(Some(&p), FlagOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("dataplaned.toml:3:14"), "{e}");
    }
}
