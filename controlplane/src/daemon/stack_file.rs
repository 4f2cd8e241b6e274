//! The stack configuration as a TOML file: what an operator writes (`stackd --stack-config
//! FILE`, reloaded on SIGHUP) and what a unit stores of its master's (`STATE_DIR/stack.toml`).
//!
//! ```toml
//! standby = 2                  # the configured standby (optional)
//!
//! [priority]                   # election priority per unit (0 = never master)
//! 1 = 200
//! 2 = 150
//!
//! [[static_mac]]               # a MAC pinned to a front port: UNIT/0/PORT
//! vlan = 10
//! mac = "02:00:00:00:00:aa"
//! port = "2/0/1"
//!
//! [lossless]                   # PFC, programmed by every unit on all its ports (optional)
//! priorities = [3]             # the lossless priorities, 0..=7
//! xoff_bytes = 24000           # a lossless PG pauses its sender at this much shared use
//! xon_bytes = 12000            # … and resumes it below this (less than xoff_bytes)
//! headroom_bytes = 96000       # optional; default: the headroom formula per port
//! cable_length_m = 5           # optional, for the formula (default 5)
//! ```
//!
//! Errors name the file, line and column and what was expected; a file that fails leaves the
//! running configuration as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dataplane::daemon::config::{line_col, read_toml, DaemonConfigError};
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::config::parse_mac;
use crate::stack_config::{
    Lossless, StackConfigError, StackWideConfig, StaticMac, DEFAULT_CABLE_LENGTH_M,
};
use crate::wire::Mac;

/// A stack configuration file that cannot be used.
#[derive(Debug, Error)]
pub enum StackFileError {
    /// Unreadable, not TOML, or a field of the wrong type.
    #[error(transparent)]
    File(#[from] DaemonConfigError),
    /// A field with a bad value.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field, e.g. `static_mac[2].port`.
        field: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The file could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStack {
    standby: Option<Spanned<u8>>,
    #[serde(default)]
    priority: BTreeMap<Spanned<String>, Spanned<u8>>,
    #[serde(default)]
    static_mac: Vec<FileStaticMac>,
    lossless: Option<Spanned<FileLossless>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLossless {
    priorities: Spanned<Vec<Spanned<u8>>>,
    xoff_bytes: Spanned<u32>,
    xon_bytes: Spanned<u32>,
    headroom_bytes: Option<Spanned<u32>>,
    cable_length_m: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStaticMac {
    vlan: Spanned<u16>,
    mac: Spanned<String>,
    port: Spanned<String>,
}

/// Reads and validates a stack configuration file.
pub fn load(path: &Path) -> Result<StackWideConfig, StackFileError> {
    let (f, src) = read_toml::<FileStack>(path)?;
    let at = |field: String, span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_col(&src, span.start);
        StackFileError::Value {
            path: path.to_path_buf(),
            line,
            column,
            field,
            message,
        }
    };
    let unit = |v: u8| (1..=crate::election::MAX_UNITS).contains(&v);
    let standby = match &f.standby {
        Some(s) if !unit(*s.get_ref()) => {
            return Err(at(
                "standby".into(),
                s.span(),
                format!("{}: expected a unit number 1..=6", s.get_ref()),
            ))
        }
        Some(s) => Some(*s.get_ref()),
        None => None,
    };
    let mut priorities = BTreeMap::new();
    for (k, v) in &f.priority {
        let u = k
            .get_ref()
            .parse::<u8>()
            .ok()
            .filter(|u| unit(*u))
            .ok_or_else(|| {
                at(
                    format!("priority.{}", k.get_ref()),
                    k.span(),
                    "expected a unit number 1..=6 as the key".into(),
                )
            })?;
        priorities.insert(u, *v.get_ref());
    }
    let mut static_macs = Vec::new();
    for (i, m) in f.static_mac.iter().enumerate() {
        let field = |name: &str| format!("static_mac[{i}].{name}");
        let vid = *m.vlan.get_ref();
        if !(1..=4094).contains(&vid) {
            return Err(at(
                field("vlan"),
                m.vlan.span(),
                format!("{vid}: expected a VLAN 1..=4094"),
            ));
        }
        let mac = parse_mac(m.mac.get_ref()).map_err(|e| at(field("mac"), m.mac.span(), e))?;
        let parts: Vec<Option<u8>> = m
            .port
            .get_ref()
            .split('/')
            .map(|p| p.parse().ok())
            .collect();
        let (u, p) = match parts.as_slice() {
            [Some(u), Some(0), Some(p)] if unit(*u) && *p > 0 => (*u, *p),
            _ => {
                return Err(at(
                    field("port"),
                    m.port.span(),
                    format!(
                        "'{}': expected a front port UNIT/0/PORT, e.g. 2/0/1",
                        m.port.get_ref()
                    ),
                ))
            }
        };
        if static_macs
            .iter()
            .any(|x: &StaticMac| x.vid == vid && x.mac == mac)
        {
            return Err(at(
                field("mac"),
                m.mac.span(),
                format!("VLAN {vid} {} is already pinned above", m.mac.get_ref()),
            ));
        }
        static_macs.push(StaticMac {
            vid,
            mac,
            unit: u,
            port: p,
        });
    }
    let lossless = match &f.lossless {
        None => None,
        Some(l) => {
            let l = l.get_ref();
            let mut bitmap = 0u8;
            for p in l.priorities.get_ref() {
                let v = *p.get_ref();
                if v > 7 {
                    return Err(at(
                        "lossless.priorities".into(),
                        p.span(),
                        format!("{v}: expected a priority 0..=7"),
                    ));
                }
                if bitmap & (1 << v) != 0 {
                    return Err(at(
                        "lossless.priorities".into(),
                        p.span(),
                        format!("priority {v} is listed twice"),
                    ));
                }
                bitmap |= 1 << v;
            }
            let value = Lossless {
                priorities: bitmap,
                xoff_bytes: *l.xoff_bytes.get_ref(),
                xon_bytes: *l.xon_bytes.get_ref(),
                headroom_bytes: l.headroom_bytes.as_ref().map(|h| *h.get_ref()),
                cable_length_m: l
                    .cable_length_m
                    .as_ref()
                    .map_or(DEFAULT_CABLE_LENGTH_M, |c| *c.get_ref()),
            };
            if let Err(StackConfigError::Lossless { field, message }) = value.validate() {
                let span = match field {
                    "priorities" => l.priorities.span(),
                    "xoff_bytes" => l.xoff_bytes.span(),
                    "xon_bytes" => l.xon_bytes.span(),
                    "headroom_bytes" => l.headroom_bytes.as_ref().map_or(0..0, |h| h.span()),
                    _ => l.cable_length_m.as_ref().map_or(0..0, |c| c.span()),
                };
                return Err(at(format!("lossless.{field}"), span, message));
            }
            Some(value)
        }
    };
    let cfg = StackWideConfig {
        standby,
        priorities,
        static_macs,
        lossless,
    };
    // Anything the spans above did not catch (e.g. too many entries) is still refused.
    cfg.validate()
        .map_err(|e| at(String::new(), 0..0, e.to_string()))?;
    Ok(cfg)
}

/// The file form of `cfg`.
pub fn render(cfg: &StackWideConfig) -> String {
    let mut out = String::from(
        "# stackd stack configuration (replicated from the master; edit the master's)\n",
    );
    if let Some(s) = cfg.standby {
        out.push_str(&format!("standby = {s}\n"));
    }
    if !cfg.priorities.is_empty() {
        out.push_str("\n[priority]\n");
        for (u, p) in &cfg.priorities {
            out.push_str(&format!("{u} = {p}\n"));
        }
    }
    for m in &cfg.static_macs {
        out.push_str(&format!(
            "\n[[static_mac]]\nvlan = {}\nmac = \"{}\"\nport = \"{}/0/{}\"\n",
            m.vid,
            Mac(m.mac),
            m.unit,
            m.port
        ));
    }
    if let Some(l) = &cfg.lossless {
        out.push_str(&format!(
            "\n[lossless]\npriorities = {:?}\nxoff_bytes = {}\nxon_bytes = {}\n",
            l.priority_list(),
            l.xoff_bytes,
            l.xon_bytes
        ));
        if let Some(h) = l.headroom_bytes {
            out.push_str(&format!("headroom_bytes = {h}\n"));
        }
        out.push_str(&format!("cable_length_m = {}\n", l.cable_length_m));
    }
    out
}

/// Stores `cfg` at `path` atomically (temporary file, fsync, rename).
pub fn store(path: &Path, cfg: &StackWideConfig) -> Result<(), StackFileError> {
    super::state::write_atomically(path, render(cfg).as_bytes()).map_err(|source| {
        StackFileError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("stackd-stackfile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("stack.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn parses_renders_and_round_trips() {
        let p = file(
            "ok",
            "standby = 2\n[priority]\n1 = 200\n2 = 150\n[[static_mac]]\nvlan = 10\nmac = \"02:00:00:00:00:aa\"\nport = \"2/0/1\"\n",
        );
        let c = load(&p).unwrap();
        assert_eq!(c.standby, Some(2));
        assert_eq!(c.priorities[&1], 200);
        assert_eq!(
            c.static_macs,
            vec![StaticMac {
                vid: 10,
                mac: 0x0200_0000_00aa,
                unit: 2,
                port: 1
            }]
        );
        let q = file("rt", &render(&c));
        assert_eq!(load(&q).unwrap(), c);
    }

    #[test]
    fn lossless_parses_with_defaults_and_round_trips() {
        let p = file(
            "lossless",
            "[lossless]\npriorities = [3, 4]\nxoff_bytes = 24000\nxon_bytes = 12000\n",
        );
        let c = load(&p).unwrap();
        assert_eq!(
            c.lossless,
            Some(Lossless {
                priorities: 0b0001_1000,
                xoff_bytes: 24_000,
                xon_bytes: 12_000,
                headroom_bytes: None,
                cable_length_m: DEFAULT_CABLE_LENGTH_M,
            })
        );
        let q = file("lossless-rt", &render(&c));
        assert_eq!(load(&q).unwrap(), c);
        let mut d = c.clone();
        d.lossless.as_mut().unwrap().headroom_bytes = Some(96_000);
        let q = file("lossless-rt2", &render(&d));
        assert_eq!(load(&q).unwrap(), d);
    }

    #[test]
    fn lossless_errors_name_file_line_column_and_field() {
        let head = "[lossless]\npriorities = [3]\n";
        let cases = [
            (
                "l-prio",
                "[lossless]\npriorities = [3, 8]\nxoff_bytes = 2\nxon_bytes = 1\n".to_string(),
                ":2:18: lossless.priorities: 8: expected a priority 0..=7",
            ),
            (
                "l-dup",
                "[lossless]\npriorities = [3, 3]\nxoff_bytes = 2\nxon_bytes = 1\n".to_string(),
                ":2:18: lossless.priorities: priority 3 is listed twice",
            ),
            (
                "l-empty",
                "[lossless]\npriorities = []\nxoff_bytes = 2\nxon_bytes = 1\n".to_string(),
                ":2:14: lossless.priorities: expected at least one",
            ),
            (
                "l-xon",
                format!("{head}xoff_bytes = 2000\nxon_bytes = 3000\n"),
                ":4:13: lossless.xon_bytes: 3000: expected less than xoff_bytes (2000)",
            ),
            (
                "l-head",
                format!("{head}xoff_bytes = 2\nxon_bytes = 1\nheadroom_bytes = 0\n"),
                ":5:18: lossless.headroom_bytes: expected more than 0",
            ),
            (
                "l-cable",
                format!("{head}xoff_bytes = 2\nxon_bytes = 1\ncable_length_m = 200000\n"),
                ":5:18: lossless.cable_length_m: 200000",
            ),
            ("l-missing", head.to_string(), "xoff_bytes"),
            (
                "l-unknown",
                format!("{head}xoff_bytes = 2\nxon_bytes = 1\nxof = 3\n"),
                ":5:1:",
            ),
            (
                "l-neg",
                format!("{head}xoff_bytes = -2\nxon_bytes = 1\n"),
                ":3:14:",
            ),
        ];
        for (name, text, want) in cases {
            let e = load(&file(name, &text)).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
            assert!(e.contains("stack.toml"), "{name}: {e}");
        }
    }

    #[test]
    fn errors_name_file_line_column_and_field() {
        let cases = [
            ("port", "[[static_mac]]\nvlan = 10\nmac = \"02:00:00:00:00:aa\"\nport = \"2/1/1\"\n", ":4:8: static_mac[0].port: '2/1/1': expected a front port"),
            ("vlan", "[[static_mac]]\nvlan = 4095\nmac = \"02:00:00:00:00:aa\"\nport = \"2/0/1\"\n", ":2:8: static_mac[0].vlan: 4095"),
            ("prio", "[priority]\nseven = 3\n", ":2:1: priority.seven: expected a unit number"),
            ("standby", "standby = 9\n", ":1:11: standby: 9"),
            ("dup", "[[static_mac]]\nvlan = 1\nmac = \"02:00:00:00:00:aa\"\nport = \"1/0/1\"\n[[static_mac]]\nvlan = 1\nmac = \"02:00:00:00:00:AA\"\nport = \"1/0/2\"\n", ":7:7: static_mac[1].mac"),
            ("type", "standby = \"two\"\n", ":1:11:"),
        ];
        for (name, text, want) in cases {
            let e = load(&file(name, text)).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
            assert!(e.contains("stack.toml"), "{name}: {e}");
        }
    }
}
