//! How a stack manager's message rides a stack link in the simulator: a stack-header frame of
//! kind Control, which every engine punts to its control path (`poll_packet_in`).
//!
//! ```text
//!  0..6   DA  03-53-54-4b-00-02 (a locally administered group address bridges never forward)
//!  6..12  SA  the stack port's MAC
//! 12..24  stack encapsulation: EtherType 0x88B5, kind Control, src unit/port, priority 7,
//!         hop limit 1 (a control frame never leaves its link)
//! 24..26  message length, big-endian
//! 26..    the manager's message (`controlplane::wire`, with its HMAC when keyed)
//! ```
//! padded with zeros to 60 bytes.

use bytes::Bytes;
use dataplane::wire::{MacAddr, StackFrameKind, StackHeaderRepr, VlanTag, MIN_FRAME_LEN};

/// Destination address of stack control frames.
pub const CONTROL_DST: MacAddr = MacAddr(0x03, 0x53, 0x54, 0x4b, 0x00, 0x02);

/// Offset of the length field.
const LEN_AT: usize = 24;

/// A control frame carrying `msg` from stack port `port` of `unit` (address `src`).
pub fn build(unit: u8, port: u8, src: MacAddr, msg: &[u8]) -> Bytes {
    let len = msg.len().min(usize::from(u16::MAX));
    let mut f = vec![0u8; (LEN_AT + 2 + len).max(MIN_FRAME_LEN)];
    f[..6].copy_from_slice(&CONTROL_DST.octets());
    f[6..12].copy_from_slice(&src.octets());
    let header = StackHeaderRepr {
        kind: StackFrameKind::Control,
        flood: false,
        src_unit: unit,
        src_port: port,
        dst_unit: 0,
        dst_port: 0,
        priority: 7,
        hop_limit: 1,
        vlan: VlanTag {
            pcp: 7,
            dei: false,
            vid: 0,
        },
    };
    // 12..24 is exactly the encapsulation's length, so emit cannot fail.
    let _ = header.emit(&mut f[12..LEN_AT]);
    f[LEN_AT..LEN_AT + 2].copy_from_slice(&(len as u16).to_be_bytes());
    f[LEN_AT + 2..LEN_AT + 2 + len].copy_from_slice(&msg[..len]);
    Bytes::from(f)
}

/// The message in a control frame, or `None` if it is not one (or is truncated).
pub fn parse(frame: &[u8]) -> Option<&[u8]> {
    let h = StackHeaderRepr::parse_frame(frame).ok()?;
    if h.kind != StackFrameKind::Control {
        return None;
    }
    let len = u16::from_be_bytes(frame.get(LEN_AT..LEN_AT + 2)?.try_into().ok()?);
    frame.get(LEN_AT + 2..LEN_AT + 2 + usize::from(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let src = MacAddr::new(2, 0, 0, 0, 1, 1);
        let f = build(3, 1, src, b"hello stack");
        assert_eq!(f.len(), 60);
        assert_eq!(parse(&f), Some(&b"hello stack"[..]));
        let big = vec![7u8; 300];
        let f = build(3, 1, src, &big);
        assert_eq!(parse(&f), Some(&big[..]));
        assert_eq!(parse(&f[..100]), None, "truncated");
        assert_eq!(parse(&[0u8; 60]), None, "not a stack frame");
    }
}
