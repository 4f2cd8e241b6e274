//! Wire formats: checked, zero-copy views of the frames a stacked switch sees.
//!
//! The design follows smoltcp: a *view* type (`Foo<T: AsRef<[u8]>>`) wraps an
//! untrusted byte buffer and is only constructible through `new_checked`, which
//! verifies the length (and the identifying EtherType/opcode) once, so the
//! getters and setters afterwards are plain byte loads and stores. A *repr*
//! type (`FooRepr`) is the decoded, validated, owned form with `parse`/`emit`.
//!
//! * [`L2Header`]: Ethernet II destination/source/EtherType with at most one
//!   802.1Q tag, parsed in one pass for the forwarding hot path.
//! * [`MacControlRepr`] / [`MacControlFrame`]: 802.3x PAUSE and 802.1Qbb PFC.
//! * [`StackHeaderRepr`] / [`StackHeader`]: the header that frames carry between
//!   the units of one stack (EtherType [`ETHERTYPE_STACK`]).
//!
//! Nothing in this module panics on any input: every access to untrusted bytes
//! is bounds-checked (`clippy::indexing_slicing` is denied here), and every
//! malformed input is reported as a [`WireError`]. See `docs/wire.md` for the
//! byte layouts and the parse rules.
//!
//! ```
//! use dataplane::wire::*;
//!
//! // Build a PFC frame pausing priority 3, and read it back.
//! let pfc = MacControlRepr::Pfc { enable: 1 << 3, quanta: [0, 0, 0, 0xFFFF, 0, 0, 0, 0] };
//! let frame = pfc.emit_frame(MacAddr::new(0x02, 0, 0, 0, 0, 1));
//! let l2 = L2Header::parse(&frame)?;
//! assert_eq!((l2.dst, l2.ethertype), (MAC_CONTROL_DST, ETHERTYPE_MAC_CONTROL));
//! assert_eq!(MacControlRepr::parse(&frame[l2.payload_offset..])?, pfc);
//!
//! // Carry it across the stack and back.
//! let hdr = StackHeaderRepr {
//!     kind: StackFrameKind::Data, flood: false, src_unit: 1, src_port: 7,
//!     dst_unit: 2, dst_port: 3, priority: 3, hop_limit: 4,
//!     vlan: VlanTag { pcp: 3, dei: false, vid: 10 },
//! };
//! let mut stacked = Vec::new();
//! hdr.encapsulate(&frame, &mut stacked)?;
//! assert_eq!(stacked.len(), frame.len() + STACK_ENCAP_LEN);
//! StackHeader::new_checked(&mut stacked[..])?.decrement_hop_limit();
//! let mut original = Vec::new();
//! assert_eq!(decapsulate(&stacked, &mut original)?.hop_limit, 3);
//! assert_eq!(original, frame);
//! # Ok::<(), WireError>(())
//! ```
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

mod error;
mod ethernet;
mod mac_control;
mod stack;

pub use error::WireError;
pub use ethernet::{
    mac_to_u64, u64_to_mac, L2Header, L2Raw, VlanTag, ETHERNET_HEADER_LEN, ETHERTYPE_MAC_CONTROL,
    ETHERTYPE_QINQ, ETHERTYPE_STACK, ETHERTYPE_VLAN, MAC_CONTROL_DST, MIN_FRAME_LEN, VLAN_TAG_LEN,
};
pub use mac_control::{
    MacControlFrame, MacControlRepr, MAC_CONTROL_OPCODE_PAUSE, MAC_CONTROL_OPCODE_PFC,
    PAUSE_PAYLOAD_LEN, PFC_PAYLOAD_LEN,
};
/// The MAC address type used throughout the dataplane (re-exported from
/// `pnet_base` so that every crate agrees on one type).
pub use pnet_base::MacAddr;
pub use stack::{
    decapsulate, StackFrameKind, StackHeader, StackHeaderRepr, STACK_ENCAP_LEN, STACK_HEADER_LEN,
    STACK_VERSION,
};

// Bounds-checked field access shared by the views. Each returns `None` or
// does nothing when the field lies outside the buffer; the views' `new_checked`
// guarantee that never happens for the fields they expose, so these never
// lose data in practice, and they can never panic.

/// Reads the byte at `off`.
#[inline]
pub(crate) fn get_u8(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

/// Reads the big-endian `u16` at `off..off + 2`.
#[inline]
pub(crate) fn get_u16(buf: &[u8], off: usize) -> Option<u16> {
    buf.get(off..)?
        .first_chunk::<2>()
        .map(|b| u16::from_be_bytes(*b))
}

/// Writes the byte at `off`.
#[inline]
pub(crate) fn put_u8(buf: &mut [u8], off: usize, v: u8) {
    if let Some(b) = buf.get_mut(off) {
        *b = v;
    }
}

/// Writes `v` big-endian at `off..off + 2`.
#[inline]
pub(crate) fn put_u16(buf: &mut [u8], off: usize, v: u16) {
    if let Some(b) = buf.get_mut(off..).and_then(|s| s.first_chunk_mut::<2>()) {
        *b = v.to_be_bytes();
    }
}

/// Copies `src` to `off..off + src.len()`.
#[inline]
pub(crate) fn put_bytes(buf: &mut [u8], off: usize, src: &[u8]) {
    if let Some(d) = buf.get_mut(off..).and_then(|s| s.get_mut(..src.len())) {
        d.copy_from_slice(src);
    }
}
