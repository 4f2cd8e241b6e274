//! The stack-wide configuration: what the master applies to the whole stack and replicates to
//! every member (message type 3 of [`crate::wire`]), so that whichever unit is master next has
//! it too.
//!
//! It holds the configured standby, per-unit election priorities and static MAC entries (a
//! MAC on a VLAN pinned to a front port of a unit: every unit programs it, locally or as a
//! remote destination). The encoding is compact binary (all integers big-endian):
//!
//! ```text
//! 1   standby unit (0 = none)
//! 1   P = priority count (at most 6)     then P × (unit 1, priority 1)
//! 2   M = static MAC count (at most 100) then M × (VLAN 2, MAC 6, unit 1, front port 1)
//! ```
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

/// The stack-wide configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackWideConfig {
    /// The configured standby unit.
    pub standby: Option<u8>,
    /// Election priority per unit number.
    pub priorities: BTreeMap<u8, u8>,
    /// Static MAC entries, sorted.
    pub static_macs: Vec<StaticMac>,
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
        if at != bytes.len() {
            return Err(WireError::Trailing(bytes.len() - at));
        }
        let cfg = StackWideConfig {
            standby: (standby != 0).then_some(standby),
            priorities,
            static_macs,
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
        }
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
