//! Stack control frames: how a [`crate::wire`] message travels on a stack link.
//!
//! The dataplane punts stack-header frames of kind *control* arriving on stack ports to the
//! control plane (PacketIn) and sends what the control plane hands it (PacketOut). The layout:
//!
//! ```text
//!  0   6  DA  03:53:54:4b:00:02 (stack control; locally administered multicast, never leaves
//!                                the stack link)
//!  6   6  SA  the sending unit's base MAC
//! 12  12  0x88B5 + stack header: kind 2 (control), source unit, priority 7, hop limit 6
//!                                (a dataplane whose control plane is away passes control
//!                                frames on to its other stack ports, one hop less: a frame
//!                                that arrives with less than 6 was relayed)
//! 24   2  L   length of the message, big-endian
//! 26   L  the message (`wire::encode`)
//!  …      zero padding to the 60-byte Ethernet minimum (a NIC may add it anyway; L says where
//!         the message ends)
//! ```
//!
//! [`decode`] never panics: every refusal is a [`ControlFrameError`].

use dataplane::wire::{MacAddr, StackFrameKind, StackHeaderRepr, VlanTag, WireError};
use thiserror::Error;

/// Destination MAC of stack control frames.
pub const CONTROL_DST: MacAddr = MacAddr(0x03, 0x53, 0x54, 0x4b, 0x00, 0x02);
/// Offset of the length field.
const LEN_OFF: usize = 24;
/// Offset of the message.
const MSG_OFF: usize = 26;
/// Ethernet minimum frame length without FCS.
const MIN_FRAME: usize = 60;
/// The hop limit control frames are sent with (one more than the relays a 6-unit stack needs).
pub const HOP_LIMIT: u8 = 6;

/// Why a frame is not a stack control frame.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ControlFrameError {
    /// The stack encapsulation is malformed.
    #[error("stack header: {0}")]
    Header(#[from] WireError),
    /// A stack frame of another kind (data or hello).
    #[error("not a control frame (kind {0:?})")]
    NotControl(StackFrameKind),
    /// The length field or the message runs past the frame.
    #[error("message truncated: length {len} at byte 24, frame has {have} bytes after it")]
    Truncated {
        /// The length field (0 if the field itself is missing).
        len: usize,
        /// Bytes present after the length field.
        have: usize,
    },
}

/// Wraps `message` from unit `unit` (base MAC `mac`) in a control frame.
pub fn encode(unit: u8, mac: u64, message: &[u8]) -> Vec<u8> {
    let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
    let message = &message[..usize::from(len)];
    let mut frame = Vec::with_capacity((MSG_OFF + message.len()).max(MIN_FRAME));
    frame.extend_from_slice(&CONTROL_DST.octets());
    frame.extend_from_slice(&mac.to_be_bytes()[2..]);
    let header = StackHeaderRepr {
        kind: StackFrameKind::Control,
        flood: false,
        src_unit: unit,
        src_port: 0,
        dst_unit: 0,
        dst_port: 0,
        priority: 7,
        hop_limit: HOP_LIMIT,
        vlan: VlanTag {
            pcp: 7,
            dei: false,
            vid: 0,
        },
    };
    frame.resize(LEN_OFF, 0);
    // Constant, valid fields (priority 7, VID 0): emit cannot fail into a 12-byte slot.
    let _ = header.emit(&mut frame[12..LEN_OFF]);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    if frame.len() < MIN_FRAME {
        frame.resize(MIN_FRAME, 0);
    }
    frame
}

/// Whether a control frame was relayed by a unit whose control plane is away (it arrived
/// with less than its original hop limit): its sender is then not the neighbour on the link.
pub fn relayed(frame: &[u8]) -> bool {
    StackHeaderRepr::parse_frame(frame).is_ok_and(|h| h.hop_limit < HOP_LIMIT)
}

/// The message inside a control frame.
pub fn decode(frame: &[u8]) -> Result<&[u8], ControlFrameError> {
    let header = StackHeaderRepr::parse_frame(frame)?;
    if header.kind != StackFrameKind::Control {
        return Err(ControlFrameError::NotControl(header.kind));
    }
    let have = frame.len().saturating_sub(MSG_OFF);
    let len = match frame.get(LEN_OFF..MSG_OFF) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => return Err(ControlFrameError::Truncated { len: 0, have }),
    };
    frame
        .get(MSG_OFF..MSG_OFF + len)
        .ok_or(ControlFrameError::Truncated { len, have })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_pads_to_the_ethernet_minimum() {
        let f = encode(3, 0x0200_0000_0003, b"hello");
        assert_eq!(f.len(), 60);
        assert_eq!(decode(&f), Ok(&b"hello"[..]));
        let h = StackHeaderRepr::parse_frame(&f).unwrap();
        assert_eq!(
            (h.kind, h.src_unit, h.hop_limit),
            (StackFrameKind::Control, 3, HOP_LIMIT)
        );
        assert!(!relayed(&f));
        let mut r = f.clone();
        r[21] -= 1;
        assert!(relayed(&r));
        let long = vec![7u8; 300];
        assert_eq!(decode(&encode(1, 1, &long)), Ok(&long[..]));
    }

    #[test]
    fn refuses_other_kinds_and_short_frames() {
        let mut f = encode(3, 1, b"hello");
        f[14] = 0x11; // version 1, kind hello
        assert_eq!(
            decode(&f),
            Err(ControlFrameError::NotControl(StackFrameKind::Hello))
        );
        let f = encode(3, 1, b"hello");
        assert!(matches!(
            decode(&f[..25]),
            Err(ControlFrameError::Truncated { .. })
        ));
        let mut f = encode(3, 1, b"hello");
        f[24] = 0xff;
        assert!(
            matches!(decode(&f), Err(ControlFrameError::Truncated { len, .. }) if len > 0xff00)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_message_round_trips(msg in proptest::collection::vec(any::<u8>(), 0..1500), unit in 1u8..16) {
            let f = encode(unit, 0x0200_0000_0001, &msg);
            prop_assert_eq!(decode(&f), Ok(&msg[..]));
        }
    }
}
