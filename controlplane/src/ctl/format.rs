//! Formatting of switch quantities for people: MAC addresses, uptimes and ages, paused time,
//! port speeds, ports.

use std::fmt;

use serde::{Serialize, Serializer};

/// A 48-bit MAC address held in the low bits of a `u64`, big-endian (the gRPC convention:
/// `0x0200000000aa` is `02:00:00:00:00:aa`). Shown and serialised as `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub u64);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A port of a unit: slot 0 is the front panel, slot 1 the stack. Shown as `slot/port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Port {
    /// 0 front panel, 1 stack.
    pub slot: u32,
    /// The port number within the slot.
    pub port: u32,
}

impl From<&proto::dataplane::v1::PortRef> for Port {
    fn from(p: &proto::dataplane::v1::PortRef) -> Self {
        Port {
            slot: p.slot,
            port: p.port,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.slot, self.port)
    }
}

/// An uptime or age in milliseconds, the way switches show it: `45s`, `2m03s`, `1h02m03s`,
/// `3d04h05m06s`; under a second, `350ms`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m{s:02}s")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A short time in nanoseconds (e.g. PFC paused time): `0`, `850ns`, `12.3µs`, `4.56ms`,
/// `1.20s`; a minute or more as [`duration_ms`].
pub fn duration_ns(ns: u64) -> String {
    match ns {
        0 => "0".to_string(),
        1..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{}µs", three_digits(ns as f64 / 1e3)),
        1_000_000..=999_999_999 => format!("{}ms", three_digits(ns as f64 / 1e6)),
        1_000_000_000..=59_999_999_999 => format!("{}s", three_digits(ns as f64 / 1e9)),
        _ => duration_ms(ns / 1_000_000),
    }
}

/// `x` (1 ≤ x < 1000) with three significant digits.
fn three_digits(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// A port speed in bits per second: `10G`, `25G`, `100M`, `2.5G`; `-` when unknown (0).
pub fn speed(bps: u64) -> String {
    const G: u64 = 1_000_000_000;
    const M: u64 = 1_000_000;
    match bps {
        0 => "-".to_string(),
        b if b % G == 0 => format!("{}G", b / G),
        b if b >= G && b % (G / 10) == 0 => format!("{}.{}G", b / G, b % G / (G / 10)),
        b if b % M == 0 => format!("{}M", b / M),
        b => b.to_string(),
    }
}

/// `yes` or `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The value, or `-` when there is none.
pub fn or_dash<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A list of numbers as `0,1,2`, or `-` when empty.
pub fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_six_colon_separated_lowercase_bytes() {
        assert_eq!(Mac(0x0200_0000_00aa).to_string(), "02:00:00:00:00:aa");
        assert_eq!(Mac(0xaabb_ccdd_eeff).to_string(), "aa:bb:cc:dd:ee:ff");
        assert_eq!(Mac(0).to_string(), "00:00:00:00:00:00");
        // Only the low 48 bits are an address.
        assert_eq!(Mac(0xffff_0000_0000_0001).to_string(), "00:00:00:00:00:01");
        assert_eq!(
            serde_json::to_string(&Mac(0x0011_2233_4455)).unwrap(),
            "\"00:11:22:33:44:55\""
        );
    }

    #[test]
    fn uptimes_read_like_a_switch() {
        assert_eq!(duration_ms(0), "0ms");
        assert_eq!(duration_ms(350), "350ms");
        assert_eq!(duration_ms(1_000), "1s");
        assert_eq!(duration_ms(45_999), "45s");
        assert_eq!(duration_ms(123_000), "2m03s");
        assert_eq!(duration_ms(3_723_000), "1h02m03s");
        assert_eq!(duration_ms(86_399_000), "23h59m59s");
        assert_eq!(duration_ms(86_400_000), "1d00h00m00s");
        assert_eq!(
            duration_ms(3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6_000),
            "3d04h05m06s"
        );
    }

    #[test]
    fn paused_times_have_three_significant_digits() {
        assert_eq!(duration_ns(0), "0");
        assert_eq!(duration_ns(850), "850ns");
        assert_eq!(duration_ns(12_345), "12.3µs");
        assert_eq!(duration_ns(4_560_000), "4.56ms");
        assert_eq!(duration_ns(1_200_000_000), "1.20s");
        assert_eq!(duration_ns(125_000_000_000), "2m05s");
    }

    #[test]
    fn speeds_and_ports() {
        assert_eq!(speed(10_000_000_000), "10G");
        assert_eq!(speed(100_000_000_000), "100G");
        assert_eq!(speed(2_500_000_000), "2.5G");
        assert_eq!(speed(100_000_000), "100M");
        assert_eq!(speed(0), "-");
        assert_eq!(speed(1234), "1234");
        assert_eq!(Port { slot: 1, port: 2 }.to_string(), "1/2");
        assert_eq!(list::<u32>(&[]), "-");
        assert_eq!(list(&[0, 1]), "0,1");
        assert_eq!(or_dash(None::<u32>), "-");
    }
}
