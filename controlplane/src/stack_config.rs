//! The stack-wide configuration: what the master applies to the whole stack and replicates to
//! every member (message type 3 of [`crate::wire`]), so that whichever unit is master next has
//! it too.
//!
//! It holds the configured standby, per-unit election priorities, static MAC entries (a
//! MAC on a VLAN pinned to a front port of a unit: every unit programs it, locally or as a
//! remote destination) and the lossless (PFC) priorities with their buffer thresholds, which
//! every unit programs on all of its ports. The encoding is compact binary (all integers
//! big-endian):
//!
//! ```text
//! 1   standby unit (0 = none)
//! 1   P = priority count (at most 6)     then P × (unit 1, priority 1)
//! 2   M = static MAC count (at most 100) then M × (VLAN 2, MAC 6, unit 1, front port 1)
//! optional, only when lossless priorities are configured:
//! 1   lossless priority bitmap (bit n = priority n; never 0)
//! 4   XOFF bytes   4 XON bytes   4 headroom bytes (0 = from the headroom formula)
//! 4   cable length in metres (for the headroom formula)
//! ```
//!
//! A configuration without lossless priorities encodes (and so versions) exactly as before
//! they existed.
//!
//! Its version is the first 4 bytes of the SHA-256 of that encoding: units advertise the
//! version they hold, and the master re-sends the configuration to anyone who differs.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::election::MAX_UNITS;
use crate::wire::WireError;

/// Most static MAC entries in a stack configuration (keeps it inside one frame).
pub const MAX_STATIC_MACS: usize = 100;

/// A MAC pinned to a front port of a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaticMac {
    /// VLAN, 1..=4094.
    pub vid: u16,
    /// The MAC (48 bits).
    pub mac: u64,
    /// The unit whose front port it is on.
    pub unit: u8,
    /// The front port (`unit/0/port`).
    pub port: u8,
}

/// Cable length assumed by the headroom formula when none is configured: SONiC's default
/// (5 m, a rack-local cable).
pub const DEFAULT_CABLE_LENGTH_M: u32 = 5;

/// The lossless priorities and their priority groups' thresholds, programmed by every unit on
/// every port (front and stack): PFC on for these priorities and off for the others, the PGs
/// they map to given XOFF/XON/headroom, the other PGs lossy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lossless {
    /// Bitmap of lossless priorities (bit n = priority n); never 0.
    pub priorities: u8,
    /// A lossless PG sends XOFF (pause) when its shared use reaches this many bytes.
    pub xoff_bytes: u32,
    /// … and XON (resume) when it drains below this many; less than `xoff_bytes`.
    pub xon_bytes: u32,
    /// The headroom pool per lossless PG; `None`: the minimum from the headroom formula
    /// (DESIGN §3: port speed, `cable_length_m`, the port's MTU, the IEEE peer response).
    pub headroom_bytes: Option<u32>,
    /// Cable length for the headroom formula, metres.
    pub cable_length_m: u32,
}

impl Lossless {
    /// The priorities, lowest first.
    pub fn priority_list(&self) -> Vec<u8> {
        (0..8).filter(|p| self.priorities & (1 << p) != 0).collect()
    }

    /// The headroom of a lossless PG on a port of `speed_bps` and `mtu`: the configured one,
    /// else the formula's minimum (falling back to the XOFF threshold's worth of bytes for a
    /// port the formula refuses, e.g. speed 0).
    pub fn headroom_for(&self, speed_bps: u64, mtu: u32) -> u64 {
        if let Some(h) = self.headroom_bytes {
            return u64::from(h);
        }
        let input = dataplane::headroom::HeadroomInput::new(speed_bps, self.cable_length_m, mtu);
        dataplane::headroom::minimum_headroom(&input)
            .map(|b| b.total)
            .unwrap_or(u64::from(self.xoff_bytes))
    }
}

/// The stack-wide configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackWideConfig {
    /// The configured standby unit.
    pub standby: Option<u8>,
    /// Election priority per unit number.
    pub priorities: BTreeMap<u8, u8>,
    /// Static MAC entries, sorted.
    pub static_macs: Vec<StaticMac>,
    /// Lossless priorities and thresholds; `None`: stackd leaves the ports' PFC and buffer
    /// settings to the dataplane's own configuration.
    pub lossless: Option<Lossless>,
}

/// Why a stack configuration is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StackConfigError {
    /// A unit number outside 1..=6.
    #[error("{field}: unit {unit} is out of range (1..=6)")]
    Unit {
        /// Where.
        field: String,
        /// The number.
        unit: u8,
    },
    /// A VLAN outside 1..=4094.
    #[error("{field}: VLAN {vid} is out of range (1..=4094)")]
    Vlan {
        /// Where.
        field: String,
        /// The VLAN.
        vid: u16,
    },
    /// A multicast or zero MAC cannot be a static entry.
    #[error("{field}: a static entry needs a unicast, non-zero MAC")]
    Mac {
        /// Where.
        field: String,
    },
    /// The same VLAN and MAC twice.
    #[error("{field}: VLAN {vid} MAC is already pinned by an earlier entry")]
    Duplicate {
        /// Where.
        field: String,
        /// The VLAN.
        vid: u16,
    },
    /// Too many entries.
    #[error("static_mac: {0} entries, at most {MAX_STATIC_MACS}")]
    TooMany(usize),
    /// Lossless settings that cannot work (no priority, XON not below XOFF, a zero
    /// threshold, a cable beyond the headroom formula's range).
    #[error("lossless.{field}: {message}")]
    Lossless {
        /// The field, e.g. `xon_bytes`.
        field: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
}

impl StackWideConfig {
    /// Checks every field; the error names the first bad one (`static_mac[3].vlan`).
    pub fn validate(&self) -> Result<(), StackConfigError> {
        let unit_ok = |u: u8| (1..=MAX_UNITS).contains(&u);
        if let Some(u) = self.standby.filter(|u| !unit_ok(*u)) {
            return Err(StackConfigError::Unit {
                field: "standby".into(),
                unit: u,
            });
        }
        if let Some((&u, _)) = self.priorities.iter().find(|(u, _)| !unit_ok(**u)) {
            return Err(StackConfigError::Unit {
                field: format!("priority.{u}"),
                unit: u,
            });
        }
        if self.static_macs.len() > MAX_STATIC_MACS {
            return Err(StackConfigError::TooMany(self.static_macs.len()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in self.static_macs.iter().enumerate() {
            let field = |f: &str| format!("static_mac[{i}].{f}");
            if !(1..=4094).contains(&m.vid) {
                return Err(StackConfigError::Vlan {
                    field: field("vlan"),
                    vid: m.vid,
                });
            }
            if m.mac == 0 || m.mac & (1 << 40) != 0 || m.mac >> 48 != 0 {
                return Err(StackConfigError::Mac {
                    field: field("mac"),
                });
            }
            if !unit_ok(m.unit) {
                return Err(StackConfigError::Unit {
                    field: field("port"),
                    unit: m.unit,
                });
            }
            if !seen.insert((m.vid, m.mac)) {
                return Err(StackConfigError::Duplicate {
                    field: field("mac"),
                    vid: m.vid,
                });
            }
        }
        if let Some(l) = &self.lossless {
            l.validate()?;
        }
        Ok(())
    }

    /// The compact encoding (see the module doc). Lists beyond their limits are cut.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(self.standby.unwrap_or(0));
        let prios: Vec<_> = self
            .priorities
            .iter()
            .take(usize::from(MAX_UNITS))
            .collect();
        out.push(prios.len() as u8);
        for (u, p) in prios {
            out.extend_from_slice(&[*u, *p]);
        }
        let macs = &self.static_macs[..self.static_macs.len().min(MAX_STATIC_MACS)];
        out.extend_from_slice(&(macs.len() as u16).to_be_bytes());
        for m in macs {
            out.extend_from_slice(&m.vid.to_be_bytes());
            out.extend_from_slice(&m.mac.to_be_bytes()[2..]);
            out.extend_from_slice(&[m.unit, m.port]);
        }
        if let Some(l) = &self.lossless {
            out.push(l.priorities);
            for v in [
                l.xoff_bytes,
                l.xon_bytes,
                l.headroom_bytes.unwrap_or(0),
                l.cable_length_m,
            ] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out
    }

    /// Decodes and validates; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], WireError> {
            let s = bytes.get(at..at + n).ok_or(WireError::Truncated {
                need: at + n,
                have: bytes.len(),
            })?;
            at += n;
            Ok(s)
        };
        let standby = take(1)?[0];
        let np = usize::from(take(1)?[0]);
        if np > usize::from(MAX_UNITS) {
            return Err(WireError::TooMany {
                what: "priority",
                count: np,
                max: usize::from(MAX_UNITS),
            });
        }
        let mut priorities = BTreeMap::new();
        for _ in 0..np {
            let s = take(2)?;
            // Strictly increasing units: one encoding per configuration.
            if priorities.last_key_value().is_some_and(|(u, _)| *u >= s[0]) {
                return Err(WireError::BadConfig);
            }
            priorities.insert(s[0], s[1]);
        }
        let s = take(2)?;
        let nm = usize::from(u16::from_be_bytes([s[0], s[1]]));
        if nm > MAX_STATIC_MACS {
            return Err(WireError::TooMany {
                what: "static MAC",
                count: nm,
                max: MAX_STATIC_MACS,
            });
        }
        let mut static_macs = Vec::with_capacity(nm);
        for _ in 0..nm {
            let s = take(10)?;
            let mut mac = [0u8; 8];
            mac[2..].copy_from_slice(&s[2..8]);
            static_macs.push(StaticMac {
                vid: u16::from_be_bytes([s[0], s[1]]),
                mac: u64::from_be_bytes(mac),
                unit: s[8],
                port: s[9],
            });
        }
        // The optional lossless section: present when anything follows the static MACs.
        let lossless = if let Ok(first) = take(1) {
            let priorities = first[0];
            let mut u32s = [0u32; 4];
            for v in &mut u32s {
                let s = take(4)?;
                *v = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
            }
            let [xoff_bytes, xon_bytes, headroom, cable_length_m] = u32s;
            Some(Lossless {
                priorities,
                xoff_bytes,
                xon_bytes,
                headroom_bytes: (headroom != 0).then_some(headroom),
                cable_length_m,
            })
        } else {
            None
        };
        if at != bytes.len() {
            return Err(WireError::Trailing(bytes.len() - at));
        }
        let cfg = StackWideConfig {
            standby: (standby != 0).then_some(standby),
            priorities,
            static_macs,
            lossless,
        };
        cfg.validate().map_err(|_| WireError::BadConfig)?;
        Ok(cfg)
    }

    /// The configuration's version: the first 4 bytes of the SHA-256 of its encoding, never 0
    /// (0 means "no configuration").
    pub fn version(&self) -> u32 {
        let d = Sha256::digest(self.encode());
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]).max(1)
    }
}

impl Lossless {
    /// Checks the values; the error names the first bad field.
    pub fn validate(&self) -> Result<(), StackConfigError> {
        let bad = |field, message: String| Err(StackConfigError::Lossless { field, message });
        if self.priorities == 0 {
            return bad("priorities", "expected at least one priority 0..=7".into());
        }
        if self.xoff_bytes == 0 {
            return bad("xoff_bytes", "expected more than 0 bytes".into());
        }
        if self.xon_bytes >= self.xoff_bytes {
            return bad(
                "xon_bytes",
                format!(
                    "{}: expected less than xoff_bytes ({})",
                    self.xon_bytes, self.xoff_bytes
                ),
            );
        }
        if self.headroom_bytes == Some(0) {
            return bad(
                "headroom_bytes",
                "expected more than 0 bytes (leave it out to use the headroom formula)".into(),
            );
        }
        if self.cable_length_m > dataplane::headroom::MAX_CABLE_LENGTH_M {
            return bad(
                "cable_length_m",
                format!(
                    "{}: expected at most {} m",
                    self.cable_length_m,
                    dataplane::headroom::MAX_CABLE_LENGTH_M
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> StackWideConfig {
        StackWideConfig {
            standby: Some(2),
            priorities: BTreeMap::from([(1, 200), (2, 150)]),
            static_macs: vec![StaticMac {
                vid: 10,
                mac: 0x0200_0000_00aa,
                unit: 2,
                port: 1,
            }],
            lossless: None,
        }
    }

    fn lossless() -> Lossless {
        Lossless {
            priorities: 0b1000_1000,
            xoff_bytes: 24_000,
            xon_bytes: 12_000,
            headroom_bytes: None,
            cable_length_m: 5,
        }
    }

    #[test]
    fn lossless_round_trips_and_changes_the_version() {
        let plain = sample();
        let mut c = sample();
        c.lossless = Some(lossless());
        assert_eq!(StackWideConfig::decode(&c.encode()), Ok(c.clone()));
        assert_ne!(plain.version(), c.version());
        let mut d = c.clone();
        d.lossless = Some(Lossless {
            headroom_bytes: Some(96_000),
            ..lossless()
        });
        assert_eq!(StackWideConfig::decode(&d.encode()), Ok(d.clone()));
        assert_ne!(c.version(), d.version());
        assert_eq!(lossless().priority_list(), vec![3, 7]);
        // A cut-off lossless section is refused, never misread.
        let bytes = c.encode();
        assert!(StackWideConfig::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn lossless_validation_and_default_headroom() {
        let check = |l: Lossless| {
            let c = StackWideConfig {
                lossless: Some(l),
                ..StackWideConfig::default()
            };
            c.validate().map_err(|e| e.to_string())
        };
        assert_eq!(check(lossless()), Ok(()));
        let e = check(Lossless {
            xon_bytes: 24_000,
            ..lossless()
        });
        assert_eq!(
            e.unwrap_err(),
            "lossless.xon_bytes: 24000: expected less than xoff_bytes (24000)"
        );
        assert!(check(Lossless {
            priorities: 0,
            ..lossless()
        })
        .unwrap_err()
        .starts_with("lossless.priorities"));
        assert!(check(Lossless {
            headroom_bytes: Some(0),
            ..lossless()
        })
        .is_err());
        assert!(check(Lossless {
            cable_length_m: 1_000_000,
            ..lossless()
        })
        .is_err());
        // The formula: 10G, 5 m, MTU 1500 needs more than two frames and the 67-quanta
        // response (67 × 64 = 4288 bytes); the configured value wins when set.
        let h = lossless().headroom_for(10_000_000_000, 1500);
        assert!(h > 4288 + 2 * 1524 && h < 10_000, "{h}");
        assert!(lossless().headroom_for(100_000_000_000, 1500) > h);
        let fixed = Lossless {
            headroom_bytes: Some(96_000),
            ..lossless()
        };
        assert_eq!(fixed.headroom_for(10_000_000_000, 1500), 96_000);
    }

    #[test]
    fn round_trips_and_versions_differ() {
        let c = sample();
        assert_eq!(StackWideConfig::decode(&c.encode()), Ok(c.clone()));
        let mut d = c.clone();
        d.priorities.insert(3, 1);
        assert_ne!(c.version(), d.version());
        assert_ne!(StackWideConfig::default().version(), 0);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = sample();
        c.static_macs[0].vid = 4095;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "static_mac[0].vlan: VLAN 4095 is out of range (1..=4094)"
        );
        let mut c = sample();
        c.static_macs.push(c.static_macs[0]);
        assert!(matches!(
            c.validate(),
            Err(StackConfigError::Duplicate { .. })
        ));
        let mut c = sample();
        c.priorities.insert(7, 1);
        assert!(matches!(
            c.validate(),
            Err(StackConfigError::Unit { unit: 7, .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(c) = StackWideConfig::decode(&bytes) {
                prop_assert_eq!(c.encode(), bytes);
            }
        }
    }
}
