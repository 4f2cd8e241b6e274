//! stackd's configuration of one unit: a TOML file and/or flags (flags win).
//!
//! ```toml
//! unit = 1                        # the number wanted at first boot (the stored state wins)
//! mac = "02:53:54:4b:00:01"       # the unit's base MAC (default 02:53:54:4b:00:<unit>)
//! priority = 1                    # election priority at first boot (stored state wins); 0 = never master
//! standby = 2                     # the standby this unit names when it is master (optional)
//! dataplane = "/run/…/unit1/dataplane.sock"   # its dataplaned (default: next to stackd's socket)
//! socket = "/run/…/unit1/stackd.sock"         # management socket (default $XDG_RUNTIME_DIR/stackd/unit1/…)
//! state_dir = "/var/lib/stackd/unit1"          # stored unit number, priority, standby
//! stack_ports = ["1/1", "1/2"]    # the dataplane's stack ports in order (default: all of slot 1)
//! key_file = "/etc/stackd/stack.key"          # secure stacking: the stack key (optional)
//! stack_config = "/etc/stackd/stack.toml"     # stack-wide config, applied as master (optional)
//!
//! [timers]
//! advert_interval_ms = 250
//! hold_time_ms = 1000
//! cold_boot_window_ms = 2000
//! reconcile_timeout_ms = 10000
//! grace_period_ms = 10000         # a neighbour whose control plane restarts is kept this long
//! ```
//!
//! Every error names the file, line and column (or the flag) and what was expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dataplane::config::PortId;
use dataplane::daemon::config::{line_col, parse_port_id, read_toml, DaemonConfigError};
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

/// The configuration of one unit's stackd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackdConfig {
    /// The unit number wanted at first boot.
    pub unit: u8,
    /// Base MAC (48 bits).
    pub mac: u64,
    /// Election priority at first boot.
    pub priority: u8,
    /// The standby this unit names when master.
    pub standby: Option<u8>,
    /// The dataplane's gRPC socket.
    pub dataplane_socket: PathBuf,
    /// The management socket.
    pub socket: PathBuf,
    /// Where the unit's persistent state lives.
    pub state_dir: PathBuf,
    /// The dataplane's stack ports, in stack-port order (`None`: every slot-1 port).
    pub stack_ports: Option<Vec<PortId>>,
    /// The stack key (secure stacking).
    pub key: Option<Vec<u8>>,
    /// The operator's stack configuration file (applied when this unit is master; reloaded
    /// on SIGHUP).
    pub stack_config: Option<PathBuf>,
    /// Advert refresh interval.
    pub advert_interval: Duration,
    /// Advert lifetime without a refresh.
    pub hold_time: Duration,
    /// How long a cold-booting unit waits for adverts before it may elect.
    pub cold_boot_window: Duration,
    /// How long the dataplane waits for reconciliation after an attach before sweeping.
    pub reconcile_timeout: Duration,
    /// How long a neighbour whose control plane detached is kept (nonstop forwarding).
    pub grace_period: Duration,
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum StackdConfigError {
    /// The file cannot be read, is not TOML, or has a field of the wrong type.
    #[error(transparent)]
    File(#[from] DaemonConfigError),
    /// A field of the file has a bad value.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field.
        field: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A flag has a bad value.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The key file cannot be read or is empty.
    #[error("stack key file {path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    unit: Option<Spanned<u8>>,
    mac: Option<Spanned<String>>,
    priority: Option<u8>,
    standby: Option<Spanned<u8>>,
    dataplane: Option<PathBuf>,
    socket: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    stack_ports: Option<Vec<Spanned<String>>>,
    key_file: Option<PathBuf>,
    stack_config: Option<PathBuf>,
    #[serde(default)]
    timers: FileTimers,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileTimers {
    advert_interval_ms: Option<Spanned<u64>>,
    hold_time_ms: Option<Spanned<u64>>,
    cold_boot_window_ms: Option<Spanned<u64>>,
    reconcile_timeout_ms: Option<Spanned<u64>>,
    grace_period_ms: Option<Spanned<u64>>,
}

/// What the command line sets (each overrides the file).
#[derive(Clone, Debug, Default)]
pub struct StackdFlags {
    /// `--unit`.
    pub unit: Option<u8>,
    /// `--mac`.
    pub mac: Option<String>,
    /// `--priority`.
    pub priority: Option<u8>,
    /// `--standby`.
    pub standby: Option<u8>,
    /// `--dataplane`.
    pub dataplane: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--stack-port` (repeated).
    pub stack_ports: Vec<String>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--stack-config`.
    pub stack_config: Option<PathBuf>,
    /// `--advert-interval-ms`.
    pub advert_interval_ms: Option<u64>,
    /// `--hold-time-ms`.
    pub hold_time_ms: Option<u64>,
    /// `--cold-boot-window-ms`.
    pub cold_boot_window_ms: Option<u64>,
    /// `--grace-period-ms`.
    pub grace_period_ms: Option<u64>,
}

/// Parses `aa:bb:cc:dd:ee:ff` (or `-` separators) into 48 bits.
pub fn parse_mac(s: &str) -> Result<u64, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(format!("'{s}' is not a MAC address like 02:53:54:4b:00:01"));
    }
    let mut mac = 0u64;
    for p in parts {
        let b = (p.len() == 2)
            .then(|| u8::from_str_radix(p, 16).ok())
            .flatten()
            .ok_or_else(|| format!("'{s}' is not a MAC address like 02:53:54:4b:00:01"))?;
        mac = mac << 8 | u64::from(b);
    }
    if mac == 0 || mac & (1 << 40) != 0 {
        return Err(format!(
            "'{s}' is not a unit MAC: it must be a non-zero unicast address"
        ));
    }
    Ok(mac)
}

/// Formats 48 bits as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: u64) -> String {
    crate::wire::Mac(mac).to_string()
}

/// The default state directory of unit `unit`: `$XDG_STATE_HOME/stackd/unit<N>`, else
/// `$HOME/.local/state/stackd/unit<N>`, else next to its sockets.
pub fn default_state_dir(unit: u8) -> PathBuf {
    let base = match (std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")) {
        (Some(d), _) if !d.is_empty() => PathBuf::from(d).join("stackd"),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".local/state/stackd"),
        _ => return dataplane::daemon::config::unit_dir(unit).join("state"),
    };
    base.join(format!("unit{unit}"))
}

fn ms(
    flag: Option<u64>,
    file: &Option<Spanned<u64>>,
    default: u64,
    field: &'static str,
    at: &dyn Fn(&'static str, std::ops::Range<usize>, String) -> StackdConfigError,
) -> Result<Duration, StackdConfigError> {
    let v = match (flag, file) {
        (Some(v), _) => v,
        (None, Some(s)) => {
            if *s.get_ref() == 0 || *s.get_ref() > 3_600_000 {
                return Err(at(
                    field,
                    s.span(),
                    "expected 1..=3600000 milliseconds".into(),
                ));
            }
            *s.get_ref()
        }
        (None, None) => default,
    };
    Ok(Duration::from_millis(v))
}

impl StackdConfig {
    /// Builds the configuration from an optional file and the flags.
    pub fn load(file: Option<&Path>, flags: StackdFlags) -> Result<Self, StackdConfigError> {
        let (f, src, path) = match file {
            Some(p) => {
                let (f, src) = read_toml::<FileConfig>(p)?;
                (f, src, p.to_path_buf())
            }
            None => (FileConfig::default(), String::new(), PathBuf::new()),
        };
        let at = |field: &'static str, span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_col(&src, span.start);
            StackdConfigError::Value {
                path: path.clone(),
                line,
                column,
                field,
                message,
            }
        };
        let unit_range = |u: u8| (1..=controlplane_max_units()).contains(&u);
        let unit = match (flags.unit, &f.unit) {
            (Some(u), _) if !unit_range(u) => {
                return Err(StackdConfigError::Flag {
                    flag: "--unit",
                    message: format!("{u}: expected a unit number 1..=6"),
                })
            }
            (Some(u), _) => u,
            (None, Some(u)) if !unit_range(*u.get_ref()) => {
                return Err(at(
                    "unit",
                    u.span(),
                    format!("{}: expected a unit number 1..=6", u.get_ref()),
                ))
            }
            (None, Some(u)) => *u.get_ref(),
            (None, None) => 1,
        };
        let mac = match (&flags.mac, &f.mac) {
            (Some(m), _) => parse_mac(m).map_err(|message| StackdConfigError::Flag {
                flag: "--mac",
                message,
            })?,
            (None, Some(m)) => parse_mac(m.get_ref()).map_err(|e| at("mac", m.span(), e))?,
            (None, None) => 0x0253_544b_0000 | u64::from(unit),
        };
        let standby = match (flags.standby, &f.standby) {
            (Some(u), _) if !unit_range(u) => {
                return Err(StackdConfigError::Flag {
                    flag: "--standby",
                    message: format!("{u}: expected a unit number 1..=6"),
                })
            }
            (Some(u), _) => Some(u),
            (None, Some(u)) if !unit_range(*u.get_ref()) => {
                return Err(at(
                    "standby",
                    u.span(),
                    format!("{}: expected a unit number 1..=6", u.get_ref()),
                ))
            }
            (None, Some(u)) => Some(*u.get_ref()),
            (None, None) => None,
        };
        let stack_ports = if !flags.stack_ports.is_empty() {
            Some(
                flags
                    .stack_ports
                    .iter()
                    .map(|s| parse_stack_port(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|message| StackdConfigError::Flag {
                        flag: "--stack-port",
                        message,
                    })?,
            )
        } else if let Some(list) = &f.stack_ports {
            Some(
                list.iter()
                    .map(|s| {
                        parse_stack_port(s.get_ref()).map_err(|e| at("stack_ports", s.span(), e))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
        } else {
            None
        };
        let key_file = flags.key_file.or(f.key_file);
        let key = match key_file {
            Some(p) => Some(read_key(&p)?),
            None => None,
        };
        let dir = dataplane::daemon::config::unit_dir(unit);
        let t = &f.timers;
        Ok(StackdConfig {
            unit,
            mac,
            priority: flags.priority.or(f.priority).unwrap_or(1),
            standby,
            dataplane_socket: flags
                .dataplane
                .or(f.dataplane)
                .unwrap_or_else(|| dir.join("dataplane.sock")),
            socket: flags
                .socket
                .or(f.socket)
                .unwrap_or_else(|| dir.join("stackd.sock")),
            state_dir: flags
                .state_dir
                .or(f.state_dir)
                .unwrap_or_else(|| default_state_dir(unit)),
            stack_ports,
            key,
            stack_config: flags.stack_config.or(f.stack_config),
            advert_interval: ms(
                flags.advert_interval_ms,
                &t.advert_interval_ms,
                250,
                "timers.advert_interval_ms",
                &at,
            )?,
            hold_time: ms(
                flags.hold_time_ms,
                &t.hold_time_ms,
                1000,
                "timers.hold_time_ms",
                &at,
            )?,
            cold_boot_window: ms(
                flags.cold_boot_window_ms,
                &t.cold_boot_window_ms,
                2000,
                "timers.cold_boot_window_ms",
                &at,
            )?,
            reconcile_timeout: ms(
                None,
                &t.reconcile_timeout_ms,
                10_000,
                "timers.reconcile_timeout_ms",
                &at,
            )?,
            grace_period: ms(
                flags.grace_period_ms,
                &t.grace_period_ms,
                10_000,
                "timers.grace_period_ms",
                &at,
            )?,
        })
    }
}

fn controlplane_max_units() -> u8 {
    crate::election::MAX_UNITS
}

fn parse_stack_port(s: &str) -> Result<PortId, String> {
    let id = parse_port_id(s)?;
    if id.slot != dataplane::config::Slot::Stack {
        return Err(format!(
            "'{s}' is a front-panel port; stack ports are in slot 1 (e.g. 1/1)"
        ));
    }
    Ok(id)
}

fn read_key(path: &Path) -> Result<Vec<u8>, StackdConfigError> {
    let bytes = std::fs::read(path).map_err(|e| StackdConfigError::Key {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let key = bytes.trim_ascii().to_vec();
    if key.len() < 16 {
        return Err(StackdConfigError::Key {
            path: path.to_path_buf(),
            message: format!(
                "{} bytes: a stack key needs at least 16 (e.g. `head -c 32 /dev/urandom | base64 > FILE`)",
                key.len()
            ),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stackd-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("stackd.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_file_and_flags_combine_and_flags_win() {
        let p = write(
            "ok",
            "unit = 2\nmac = \"02:00:00:00:00:02\"\npriority = 9\nstack_ports = [\"1/2\", \"1/1\"]\n[timers]\nhold_time_ms = 300\n",
        );
        let cfg = StackdConfig::load(
            Some(&p),
            StackdFlags {
                priority: Some(4),
                ..StackdFlags::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.unit, 2);
        assert_eq!(cfg.mac, 0x0200_0000_0002);
        assert_eq!(cfg.priority, 4);
        assert_eq!(
            cfg.stack_ports.unwrap(),
            vec![PortId::stack(2), PortId::stack(1)]
        );
        assert_eq!(cfg.hold_time, Duration::from_millis(300));
        assert_eq!(cfg.advert_interval, Duration::from_millis(250));
    }

    #[test]
    fn bad_values_name_file_line_and_column() {
        let p = write("mac", "unit = 1\nmac = \"02:00:zz:00:00:01\"\n");
        let e = StackdConfig::load(Some(&p), StackdFlags::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2:7: mac: '02:00:zz:00:00:01' is not a MAC address like 02:53:54:4b:00:01",
                p.display()
            )
        );
        let p = write("unit", "\n\nunit = 9\n");
        let e = StackdConfig::load(Some(&p), StackdFlags::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains(":3:8: unit: 9: expected a unit number 1..=6"),
            "{e}"
        );
        let p = write("port", "stack_ports = [\"1/1\", \"0/3\"]\n");
        let e = StackdConfig::load(Some(&p), StackdFlags::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains(":1:23: stack_ports: '0/3' is a front-panel port"),
            "{e}"
        );
        let p = write("unknown", "unit = 1\ncolour = 3\n");
        let e = StackdConfig::load(Some(&p), StackdFlags::default()).unwrap_err();
        assert!(e.to_string().contains(":2:1:"), "{e}");
        let e = StackdConfig::load(
            None,
            StackdFlags {
                mac: Some("01:00:00:00:00:01".into()),
                ..StackdFlags::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--mac: "), "{e}");
    }

    #[test]
    fn short_keys_are_refused() {
        let p = write("key", "");
        let key = p.with_file_name("stack.key");
        std::fs::write(&key, "short\n").unwrap();
        let e = StackdConfig::load(
            None,
            StackdFlags {
                key_file: Some(key.clone()),
                ..StackdFlags::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least 16"), "{e}");
        std::fs::write(&key, "0123456789abcdef0123\n").unwrap();
        let cfg = StackdConfig::load(
            None,
            StackdFlags {
                key_file: Some(key),
                ..StackdFlags::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.key.unwrap(), b"0123456789abcdef0123");
    }

    #[test]
    fn macs_parse_and_format() {
        assert_eq!(parse_mac("02:53:54:4B:00:01"), Ok(0x0253_544b_0001));
        assert_eq!(format_mac(0x0253_544b_0001), "02:53:54:4b:00:01");
        assert!(parse_mac("00:00:00:00:00:00").is_err());
        assert!(parse_mac("02:53:54:4b:00").is_err());
    }
}
