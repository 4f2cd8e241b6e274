//! Stack control messages as they travel on a stack link: a compact, hand-written binary format.
//!
//! Three message types: the member advertisement ([`Advert`]), the master's operator command
//! ([`Command`]) and the master's stack-wide configuration ([`ConfigCopy`]), each wrapped in a per-hop envelope that names the unit and stack port that put
//! it on the link (that is how a receiver learns its adjacency). All integers are big-endian.
//! MACs are 6 bytes.
//!
//! ```text
//! offset size  field
//!  0      1    version            = 1
//!  1      1    message type       1 = advert, 2 = command, 3 = configuration; others are refused
//!  2      1    flags              bit 0: an HMAC trailer follows; other bits must be 0
//!  3      6    sender MAC         the unit that transmitted this copy (changes every hop)
//!  9      1    sender stack port  the port it was transmitted on
//! -- advert body (type 1; originated by `origin`, flooded unchanged) --
//! 10      6    origin MAC         base MAC of the unit the advert describes
//! 16      4    sequence number    per origin, higher is newer
//! 20      8    uptime at send     milliseconds since the origin booted, when it originated this
//! 28      1    unit number        0 = unassigned
//! 29      1    priority           0 = never master
//! 30      1    role               0 joining, 1 member, 2 standby, 3 master, 4 unassigned
//! 31      1    state flags        bit 0: front ports held; bit 1: complete (every stack port of
//!                                 the origin is up with a known neighbour); other bits 0
//! 32      4    master epoch
//! 36      6    master MAC         the master the origin follows (itself if master; 0 = none)
//! 42      6    standby MAC        the standby named by that master (0 = none)
//! 48      1    standby rule       why that standby (`election::Rule` code, 0 = none)
//! 49      4    software version   major << 16 | minor << 8 | patch
//! 53      4    config version     the stack configuration the origin holds (0 = none)
//! 57      1    A = adjacency count (at most 48)
//! 58      8×A  adjacency          local port (1), neighbour MAC (6), neighbour port (1)
//!  …      1    N = assignment count (at most 16)
//!  …      7×N  assignment         MAC (6), unit number (1): the stack's unit table as the origin
//!                                 knows it (authoritative only in a master's advert)
//!  …      1    G = grace count (at most 8)
//!  …      6×G  graced MAC         a neighbour whose control plane is restarting while its
//!                                 dataplane (hellos) lives on: keep its advert (NSF)
//! -- command body (type 2; originated by the master, flooded unchanged) --
//! 10      6    origin MAC         the master that issued it
//! 16      4    master epoch       the epoch it issued it in (stale masters are ignored)
//! 20      4    sequence number    per origin, higher is newer
//! 24      6    target MAC         the unit it is for
//! 30      1    operation          1 = set priority
//! 31      1    argument           the priority
//! -- configuration body (type 3; originated by the master, flooded unchanged) --
//! 10      6    origin MAC         the master
//! 16      4    master epoch
//! 20      4    config version     `StackWideConfig::version` of what follows
//! 24      2    L = length
//! 26      L    the configuration  `StackWideConfig::encode`
//! -- trailer --
//!  …     16    HMAC-SHA256 over every byte before it, truncated to 16 bytes (iff flags bit 0)
//! ```
//!
//! A keyed unit refuses messages without a valid trailer; a unit without a key refuses messages
//! that carry one (it cannot check them). Replays are harmless: adverts are accepted only when
//! newer than what is held (sequence number), and masters are fenced by epoch.
//!
//! [`decode`] never panics, whatever the bytes: every failure is a [`WireError`].

use hmac::{Hmac, Mac as _};

use crate::stack_config::StackWideConfig;
use sha2::Sha256;
use thiserror::Error;

/// The only version this code speaks.
pub const VERSION: u8 = 1;
/// Message type of a member advertisement.
pub const TYPE_ADVERT: u8 = 1;
/// Message type of a master's operator command.
pub const TYPE_COMMAND: u8 = 2;
/// Message type of a master's stack configuration.
pub const TYPE_CONFIG: u8 = 3;
/// Length of the HMAC trailer.
pub const MAC_LEN: usize = 16;
/// Most adjacencies an advert may carry (6 units × 8 stack ports).
pub const MAX_ADJACENCIES: usize = 48;
/// Most unit-table entries an advert may carry.
pub const MAX_ASSIGNMENTS: usize = 16;
/// Most graced neighbours an advert may carry.
pub const MAX_GRACE: usize = 8;

const FLAG_HMAC: u8 = 0x01;
const STATE_HELD: u8 = 0x01;
const STATE_COMPLETE: u8 = 0x02;
const HEADER_LEN: usize = 10;
const FIXED_BODY_LEN: usize = 47;
const OP_SET_PRIORITY: u8 = 1;

/// A base MAC (48 bits in a `u64`) displayed as `aa:bb:cc:dd:ee:ff`, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub u64);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0.to_be_bytes();
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

/// A list of MACs displayed as `[aa:…, bb:…]`, for logs.
pub struct Macs<'a>(pub &'a [u64]);

impl std::fmt::Display for Macs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Mac(*m))?;
        }
        f.write_str("]")
    }
}

/// A stack port of this unit (the daemon maps it to the dataplane's `PortIndex`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StackPort(pub u8);

/// What a unit is in its stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Booted, not (yet) part of a stack with a master.
    Joining,
    /// A member of the stack.
    Member,
    /// The member ready to take over from the master.
    Standby,
    /// The management unit.
    Master,
    /// Refused a unit number (the stack is full): it does not join.
    Unassigned,
}

impl Role {
    fn to_wire(self) -> u8 {
        match self {
            Role::Joining => 0,
            Role::Member => 1,
            Role::Standby => 2,
            Role::Master => 3,
            Role::Unassigned => 4,
        }
    }

    fn from_wire(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            0 => Role::Joining,
            1 => Role::Member,
            2 => Role::Standby,
            3 => Role::Master,
            4 => Role::Unassigned,
            other => return Err(WireError::BadRole(other)),
        })
    }
}

/// One stack link as seen from the advertising unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Adjacency {
    /// The advertising unit's stack port.
    pub port: StackPort,
    /// Base MAC of the unit at the other end.
    pub neighbour: u64,
    /// The neighbour's stack port.
    pub neighbour_port: StackPort,
}

/// A member advertisement: what one unit says about itself, flooded to the whole stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// Base MAC of the unit described (48 bits).
    pub origin: u64,
    /// Sequence number; a higher one replaces a lower one.
    pub seq: u32,
    /// Milliseconds since the origin booted, at the moment it originated this advert.
    pub uptime_ms: u64,
    /// Unit number, 0 = unassigned.
    pub unit: u8,
    /// Election priority, 0 = never master.
    pub priority: u8,
    /// Role.
    pub role: Role,
    /// Front ports held down.
    pub held: bool,
    /// Every stack port of the origin is up with a known neighbour: its part of the topology
    /// cannot grow (lets a cold-booting stack elect before its window ends).
    pub complete: bool,
    /// The origin's software version, `major << 16 | minor << 8 | patch`.
    pub version: u32,
    /// The version of the stack configuration the origin holds (0 = none).
    pub config_version: u32,
    /// The master epoch the origin is at.
    pub epoch: u32,
    /// The master the origin follows (itself when master), 0 = none.
    pub master: u64,
    /// The standby named by that master, 0 = none.
    pub standby: u64,
    /// Why that standby: an [`crate::election::Rule`] code (0 = none).
    pub standby_rule: u8,
    /// Stack links, sorted by local port.
    pub adjacencies: Vec<Adjacency>,
    /// The stack's unit table (MAC → unit number, 0 = refused) as the origin knows it, sorted
    /// by MAC.
    pub assignments: Vec<(u64, u8)>,
    /// Neighbours whose control plane is restarting (their hellos say "control detached")
    /// and whose adverts the origin asks everyone to keep (nonstop forwarding).
    pub grace: Vec<u64>,
}

#[cfg(test)]
impl Advert {
    /// A unit that has just booted: sequence 1, no number, priority 1, joining, held, no links.
    pub(crate) fn joining(origin: u64) -> Advert {
        Advert {
            origin,
            seq: 1,
            uptime_ms: 0,
            unit: 0,
            priority: 1,
            role: Role::Joining,
            held: true,
            complete: false,
            version: 0,
            config_version: 0,
            epoch: 0,
            master: 0,
            standby: 0,
            standby_rule: 0,
            adjacencies: Vec::new(),
            assignments: Vec::new(),
            grace: Vec::new(),
        }
    }
}

/// What an operator asked the master to do to another unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandOp {
    /// Store this election priority (persistently).
    SetPriority(u8),
}

/// An operator command from the master to one unit, flooded like an advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// The master that issued it.
    pub origin: u64,
    /// The master epoch it was issued in: a unit follows only its own master's current epoch.
    pub epoch: u32,
    /// Sequence number per origin; only a newer one is applied and flooded on.
    pub seq: u32,
    /// The unit it is for.
    pub target: u64,
    /// What to do.
    pub op: CommandOp,
}

/// The master's stack configuration, flooded to every unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigCopy {
    /// The master.
    pub origin: u64,
    /// Its epoch.
    pub epoch: u32,
    /// The configuration's version.
    pub version: u32,
    /// The configuration.
    pub config: StackWideConfig,
}

/// What a message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A member advertisement.
    Advert(Advert),
    /// A master's operator command.
    Command(Command),
    /// The master's stack configuration.
    Config(ConfigCopy),
}

/// A decoded message: the per-hop envelope and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Base MAC of the unit that transmitted this copy.
    pub sender: u64,
    /// The stack port it was transmitted on.
    pub sender_port: StackPort,
    /// The advert or command.
    pub body: Body,
}

/// Why bytes from a stack link were refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum WireError {
    /// Fewer bytes than the layout needs.
    #[error("message truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed so far.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A version this code does not speak.
    #[error("unsupported version {0}")]
    Version(u8),
    /// An unknown message type.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// Reserved flag bits set.
    #[error("reserved flag bits set: {0:#04x}")]
    BadFlags(u8),
    /// A role byte outside 0..=4.
    #[error("unknown role {0}")]
    BadRole(u8),
    /// A command operation this code does not know.
    #[error("unknown command operation {0}")]
    UnknownOp(u8),
    /// A stack configuration with a bad field, or not in its one encoding.
    #[error("bad stack configuration")]
    BadConfig,
    /// A count above the protocol's limits.
    #[error("{what} count {count} exceeds {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// The count on the wire.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes left over after the message.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// This unit has a stack key and the message carries no HMAC.
    #[error("message not authenticated (a stack key is configured)")]
    Unauthenticated,
    /// The message carries an HMAC and this unit has no key to check it.
    #[error("message authenticated but no stack key is configured")]
    NoKey,
    /// The HMAC does not match (wrong key or altered message).
    #[error("bad HMAC")]
    BadHmac,
}

type HmacSha256 = Hmac<Sha256>;

fn tag(key: &[u8], data: &[u8]) -> [u8; MAC_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; MAC_LEN],
    };
    mac.update(data);
    let full = mac.finalize().into_bytes();
    let mut out = [0; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

fn put_mac(out: &mut Vec<u8>, mac: u64) {
    out.extend_from_slice(&mac.to_be_bytes()[2..]);
}

/// Encodes a message, with an HMAC trailer when `key` is set.
pub fn encode(msg: &Message, key: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + FIXED_BODY_LEN + 64 + MAC_LEN);
    out.push(VERSION);
    out.push(match msg.body {
        Body::Advert(_) => TYPE_ADVERT,
        Body::Command(_) => TYPE_COMMAND,
        Body::Config(_) => TYPE_CONFIG,
    });
    out.push(if key.is_some() { FLAG_HMAC } else { 0 });
    put_mac(&mut out, msg.sender);
    out.push(msg.sender_port.0);
    match &msg.body {
        Body::Advert(a) => encode_advert(&mut out, a),
        Body::Command(c) => {
            put_mac(&mut out, c.origin);
            out.extend_from_slice(&c.epoch.to_be_bytes());
            out.extend_from_slice(&c.seq.to_be_bytes());
            put_mac(&mut out, c.target);
            match c.op {
                CommandOp::SetPriority(p) => out.extend_from_slice(&[OP_SET_PRIORITY, p]),
            }
        }
        Body::Config(c) => {
            put_mac(&mut out, c.origin);
            out.extend_from_slice(&c.epoch.to_be_bytes());
            out.extend_from_slice(&c.version.to_be_bytes());
            let bytes = c.config.encode();
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
    }
    if let Some(key) = key {
        let t = tag(key, &out);
        out.extend_from_slice(&t);
    }
    out
}

fn encode_advert(out: &mut Vec<u8>, a: &Advert) {
    let adj = &a.adjacencies[..a.adjacencies.len().min(MAX_ADJACENCIES)];
    let asg = &a.assignments[..a.assignments.len().min(MAX_ASSIGNMENTS)];
    put_mac(out, a.origin);
    out.extend_from_slice(&a.seq.to_be_bytes());
    out.extend_from_slice(&a.uptime_ms.to_be_bytes());
    out.push(a.unit);
    out.push(a.priority);
    out.push(a.role.to_wire());
    let mut state = 0;
    if a.held {
        state |= STATE_HELD;
    }
    if a.complete {
        state |= STATE_COMPLETE;
    }
    out.push(state);
    out.extend_from_slice(&a.epoch.to_be_bytes());
    put_mac(out, a.master);
    put_mac(out, a.standby);
    out.push(a.standby_rule);
    out.extend_from_slice(&a.version.to_be_bytes());
    out.extend_from_slice(&a.config_version.to_be_bytes());
    out.push(adj.len() as u8);
    for j in adj {
        out.push(j.port.0);
        put_mac(out, j.neighbour);
        out.push(j.neighbour_port.0);
    }
    out.push(asg.len() as u8);
    for &(mac, unit) in asg {
        put_mac(out, mac);
        out.push(unit);
    }
    let grace = &a.grace[..a.grace.len().min(MAX_GRACE)];
    out.push(grace.len() as u8);
    for &mac in grace {
        put_mac(out, mac);
    }
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.saturating_add(n);
        match self.buf.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(WireError::Truncated {
                need: end,
                have: self.buf.len(),
            }),
        }
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let s = self.take(8)?;
        let mut b = [0; 8];
        b.copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }

    fn mac(&mut self) -> Result<u64, WireError> {
        let s = self.take(6)?;
        let mut b = [0; 8];
        b[2..].copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }
}

/// Decodes and authenticates a message. With `key` set the HMAC trailer is required and
/// checked (in constant time); without it a message carrying one is refused.
pub fn decode(bytes: &[u8], key: Option<&[u8]>) -> Result<Message, WireError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let ty = r.u8()?;
    if !matches!(ty, TYPE_ADVERT | TYPE_COMMAND | TYPE_CONFIG) {
        return Err(WireError::UnknownType(ty));
    }
    let flags = r.u8()?;
    if flags & !FLAG_HMAC != 0 {
        return Err(WireError::BadFlags(flags));
    }
    let has_hmac = flags & FLAG_HMAC != 0;
    let body = match (has_hmac, key) {
        (true, Some(key)) => {
            if bytes.len() < HEADER_LEN + MAC_LEN {
                return Err(WireError::Truncated {
                    need: HEADER_LEN + MAC_LEN,
                    have: bytes.len(),
                });
            }
            let (body, trailer) = bytes.split_at(bytes.len() - MAC_LEN);
            let mut mac = HmacSha256::new_from_slice(key).map_err(|_| WireError::BadHmac)?;
            mac.update(body);
            mac.verify_truncated_left(trailer)
                .map_err(|_| WireError::BadHmac)?;
            body
        }
        (false, Some(_)) => return Err(WireError::Unauthenticated),
        (true, None) => return Err(WireError::NoKey),
        (false, None) => bytes,
    };
    let mut r = Reader { buf: body, pos: 3 };
    let sender = r.mac()?;
    let sender_port = StackPort(r.u8()?);
    let body_msg = if ty == TYPE_ADVERT {
        Body::Advert(decode_advert(&mut r)?)
    } else if ty == TYPE_CONFIG {
        let origin = r.mac()?;
        let epoch = r.u32()?;
        let version = r.u32()?;
        let len = r.take(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let config = StackWideConfig::decode(r.take(len)?)?;
        Body::Config(ConfigCopy {
            origin,
            epoch,
            version,
            config,
        })
    } else {
        let origin = r.mac()?;
        let epoch = r.u32()?;
        let seq = r.u32()?;
        let target = r.mac()?;
        let op = match r.u8()? {
            OP_SET_PRIORITY => CommandOp::SetPriority(r.u8()?),
            other => return Err(WireError::UnknownOp(other)),
        };
        Body::Command(Command {
            origin,
            epoch,
            seq,
            target,
            op,
        })
    };
    if r.pos != body.len() {
        return Err(WireError::Trailing(body.len() - r.pos));
    }
    Ok(Message {
        sender,
        sender_port,
        body: body_msg,
    })
}

fn decode_advert(r: &mut Reader<'_>) -> Result<Advert, WireError> {
    let origin = r.mac()?;
    let seq = r.u32()?;
    let uptime_ms = r.u64()?;
    let unit = r.u8()?;
    let priority = r.u8()?;
    let role = Role::from_wire(r.u8()?)?;
    let state = r.u8()?;
    if state & !(STATE_HELD | STATE_COMPLETE) != 0 {
        return Err(WireError::BadFlags(state));
    }
    let epoch = r.u32()?;
    let master = r.mac()?;
    let standby = r.mac()?;
    let standby_rule = r.u8()?;
    let version = r.u32()?;
    let config_version = r.u32()?;
    let n = usize::from(r.u8()?);
    if n > MAX_ADJACENCIES {
        return Err(WireError::TooMany {
            what: "adjacency",
            count: n,
            max: MAX_ADJACENCIES,
        });
    }
    let mut adjacencies = Vec::with_capacity(n);
    for _ in 0..n {
        adjacencies.push(Adjacency {
            port: StackPort(r.u8()?),
            neighbour: r.mac()?,
            neighbour_port: StackPort(r.u8()?),
        });
    }
    let n = usize::from(r.u8()?);
    if n > MAX_ASSIGNMENTS {
        return Err(WireError::TooMany {
            what: "assignment",
            count: n,
            max: MAX_ASSIGNMENTS,
        });
    }
    let mut assignments = Vec::with_capacity(n);
    for _ in 0..n {
        assignments.push((r.mac()?, r.u8()?));
    }
    let n = usize::from(r.u8()?);
    if n > MAX_GRACE {
        return Err(WireError::TooMany {
            what: "grace",
            count: n,
            max: MAX_GRACE,
        });
    }
    let mut grace = Vec::with_capacity(n);
    for _ in 0..n {
        grace.push(r.mac()?);
    }
    Ok(Advert {
        origin,
        seq,
        uptime_ms,
        unit,
        priority,
        role,
        held: state & STATE_HELD != 0,
        complete: state & STATE_COMPLETE != 0,
        version,
        config_version,
        epoch,
        master,
        standby,
        standby_rule,
        adjacencies,
        assignments,
        grace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            sender: 0x0200_0000_0002,
            sender_port: StackPort(1),
            body: Body::Advert(Advert {
                origin: 0x0200_0000_0001,
                seq: 7,
                uptime_ms: 123_456,
                unit: 1,
                priority: 200,
                role: Role::Master,
                held: false,
                complete: true,
                version: 0x0001_0200,
                config_version: 77,
                epoch: 3,
                master: 0x0200_0000_0001,
                standby: 0x0200_0000_0002,
                standby_rule: 6,
                adjacencies: vec![Adjacency {
                    port: StackPort(0),
                    neighbour: 0x0200_0000_0002,
                    neighbour_port: StackPort(1),
                }],
                assignments: vec![(0x0200_0000_0001, 1), (0x0200_0000_0002, 2)],
                grace: vec![0x0200_0000_0003],
            }),
        }
    }

    fn command() -> Message {
        Message {
            sender: 0x0200_0000_0002,
            sender_port: StackPort(0),
            body: Body::Command(Command {
                origin: 0x0200_0000_0001,
                epoch: 4,
                seq: 9,
                target: 0x0200_0000_0003,
                op: CommandOp::SetPriority(200),
            }),
        }
    }

    fn config() -> Message {
        let mut c = StackWideConfig::default();
        c.priorities.insert(2, 9);
        Message {
            sender: 0x0200_0000_0002,
            sender_port: StackPort(0),
            body: Body::Config(ConfigCopy {
                origin: 0x0200_0000_0001,
                epoch: 4,
                version: c.version(),
                config: c,
            }),
        }
    }

    #[test]
    fn round_trips_with_and_without_key() {
        for m in [sample(), command(), config()] {
            assert_eq!(decode(&encode(&m, None), None), Ok(m.clone()));
            let k = Some(&b"secret"[..]);
            assert_eq!(decode(&encode(&m, k), k), Ok(m));
        }
    }

    #[test]
    fn keys_are_enforced() {
        let m = sample();
        let keyed = encode(&m, Some(b"secret"));
        assert_eq!(decode(&keyed, Some(b"other")), Err(WireError::BadHmac));
        assert_eq!(decode(&keyed, None), Err(WireError::NoKey));
        assert_eq!(
            decode(&encode(&m, None), Some(b"secret")),
            Err(WireError::Unauthenticated)
        );
        let mut tampered = keyed.clone();
        tampered[20] ^= 1;
        assert_eq!(decode(&tampered, Some(b"secret")), Err(WireError::BadHmac));
    }

    #[test]
    fn malformed_input_is_refused() {
        let bytes = encode(&sample(), None);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n], None).is_err(), "prefix {n}");
        }
        let cmd = encode(&command(), None);
        for n in 0..cmd.len() {
            assert!(decode(&cmd[..n], None).is_err(), "command prefix {n}");
        }
        let mut op = cmd.clone();
        op[30] = 9;
        assert_eq!(decode(&op, None), Err(WireError::UnknownOp(9)));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(decode(&long, None), Err(WireError::Trailing(1)));
        let mut v = bytes.clone();
        v[0] = 2;
        assert_eq!(decode(&v, None), Err(WireError::Version(2)));
    }
}
