//! The stack header: how frames travel between the units of one stack.
//!
//! A stacked frame is the original Ethernet frame with 12 bytes inserted
//! after the MAC addresses, exactly where an 802.1Q tag would go:
//!
//! ```text
//! 0..6 DA | 6..12 SA | 12..14 EtherType 0x88B5 | 14..24 stack header | 24.. original frame from its EtherType on
//! ```
//!
//! The 10-byte stack header (offsets relative to byte 14 of the frame):
//!
//! ```text
//! 0: version (high nibble, = 1) | kind (low nibble: 0 data, 1 hello, 2 control)
//! 1: flags (bit 0 = flood; other bits reserved: 0 on emit, ignored on parse)
//! 2: source unit        3: source port
//! 4: destination unit   5: destination port
//! 6: priority (0..=7)   7: hop limit
//! 8..10: TCI (PCP 3 bits, DEI 1 bit, VID 12 bits), big-endian
//! ```
//!
//! See `docs/wire.md` for the rationale.

use pnet_base::MacAddr;

use super::ethernet::mac_from_bytes;
use super::{
    get_u16, get_u8, put_u16, put_u8, VlanTag, WireError, ETHERNET_HEADER_LEN, ETHERTYPE_STACK,
};

/// Length of the stack header proper (after its EtherType).
pub const STACK_HEADER_LEN: usize = 10;
/// Bytes a stack encapsulation adds to a frame (EtherType + header).
pub const STACK_ENCAP_LEN: usize = 12;
/// The stack header version this code speaks (high nibble of header byte 0).
pub const STACK_VERSION: u8 = 1;

/// Offset of the stack EtherType in a stacked frame.
const ETHERTYPE_OFF: usize = 12;
/// Offset of the stack header in a stacked frame.
const HDR: usize = ETHERNET_HEADER_LEN;
const VER_KIND: usize = HDR;
const FLAGS: usize = HDR + 1;
const SRC_UNIT: usize = HDR + 2;
const SRC_PORT: usize = HDR + 3;
const DST_UNIT: usize = HDR + 4;
const DST_PORT: usize = HDR + 5;
const PRIORITY: usize = HDR + 6;
const HOP_LIMIT: usize = HDR + 7;
const TCI: usize = HDR + 8;
/// Offset of the encapsulated frame's EtherType.
const INNER: usize = HDR + STACK_HEADER_LEN;

/// Flags bit 0: the frame is flooded; destination unit/port are ignored.
const FLAG_FLOOD: u8 = 0x01;

const FRAME_NAME: &str =
    "stack frame (bytes 0..24: DA, SA, EtherType 0x88B5, 10-byte stack header)";
const EMIT_NAME: &str = "stack EtherType + header (12 bytes)";

/// What a stacked frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackFrameKind {
    /// A forwarded user frame (kind 0).
    Data,
    /// A stack-link hello/keepalive used for topology discovery (kind 1).
    Hello,
    /// A stack control-plane message between units (kind 2).
    Control,
}

impl StackFrameKind {
    /// The kind's code in the low nibble of header byte 0.
    #[inline]
    pub fn code(self) -> u8 {
        match self {
            StackFrameKind::Data => 0,
            StackFrameKind::Hello => 1,
            StackFrameKind::Control => 2,
        }
    }

    /// Decodes a kind code.
    ///
    /// # Errors
    ///
    /// [`WireError::UnknownStackFrameKind`] for any code other than 0, 1, 2.
    #[inline]
    pub fn from_code(code: u8) -> Result<Self, WireError> {
        match code {
            0 => Ok(StackFrameKind::Data),
            1 => Ok(StackFrameKind::Hello),
            2 => Ok(StackFrameKind::Control),
            other => Err(WireError::UnknownStackFrameKind(other)),
        }
    }
}

/// A checked, zero-copy view of a whole stacked frame, starting at the DA.
///
/// The view exists so the engine can read the header fields without
/// decoding them all, and patch them in place (typically
/// [`StackHeader::decrement_hop_limit`] before forwarding to the next unit).
/// `new_checked` verifies the length and the 0x88B5 EtherType; the field
/// semantics (version, kind, priority) are checked by
/// [`StackHeaderRepr::parse`], or by the individual getters that decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> StackHeader<T> {
    /// Wraps a stacked frame after checking that it holds at least the
    /// 24 bytes of DA, SA, EtherType and stack header, and that the
    /// EtherType at offset 12 is 0x88B5.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if shorter than 24 bytes,
    /// [`WireError::UnexpectedEtherType`] if the EtherType is not 0x88B5.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        if buf.len() < INNER {
            return Err(WireError::Truncated {
                header: FRAME_NAME,
                needed: INNER,
                got: buf.len(),
            });
        }
        let ethertype = get_u16(buf, ETHERTYPE_OFF).unwrap_or(0);
        if ethertype != ETHERTYPE_STACK {
            return Err(WireError::UnexpectedEtherType {
                header: "stack frame",
                offset: ETHERTYPE_OFF,
                expected: ETHERTYPE_STACK,
                got: ethertype,
            });
        }
        Ok(StackHeader { buffer })
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn byte(&self, off: usize) -> u8 {
        get_u8(self.buffer.as_ref(), off).unwrap_or(0)
    }

    fn mac(&self, off: usize) -> MacAddr {
        self.buffer
            .as_ref()
            .get(off..)
            .and_then(|s| s.first_chunk::<6>())
            .map_or(MacAddr::zero(), mac_from_bytes)
    }

    /// Destination MAC address of the stacked frame (bytes 0..6): the
    /// original frame's DA, carried unchanged.
    #[inline]
    pub fn dst_mac(&self) -> MacAddr {
        self.mac(0)
    }

    /// Source MAC address (bytes 6..12): the original frame's SA.
    #[inline]
    pub fn src_mac(&self) -> MacAddr {
        self.mac(6)
    }

    /// Header version (high nibble of frame byte 14); 1 for this format.
    #[inline]
    pub fn version(&self) -> u8 {
        self.byte(VER_KIND) >> 4
    }

    /// Raw kind code (low nibble of frame byte 14).
    #[inline]
    pub fn kind_code(&self) -> u8 {
        self.byte(VER_KIND) & 0x0F
    }

    /// Decoded kind.
    ///
    /// # Errors
    ///
    /// [`WireError::UnknownStackFrameKind`] for codes other than 0, 1, 2.
    #[inline]
    pub fn kind(&self) -> Result<StackFrameKind, WireError> {
        StackFrameKind::from_code(self.kind_code())
    }

    /// Raw flags byte (frame byte 15), reserved bits included.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.byte(FLAGS)
    }

    /// Whether the flood flag (bit 0 of the flags) is set; if so the
    /// destination unit and port carry no meaning.
    #[inline]
    pub fn flood(&self) -> bool {
        self.flags() & FLAG_FLOOD != 0
    }

    /// Unit on which the frame entered the stack (frame byte 16).
    #[inline]
    pub fn src_unit(&self) -> u8 {
        self.byte(SRC_UNIT)
    }

    /// Front-panel port on the source unit where the frame was received
    /// (frame byte 17).
    #[inline]
    pub fn src_port(&self) -> u8 {
        self.byte(SRC_PORT)
    }

    /// Unit the frame is destined to (frame byte 18); ignored when flooding.
    #[inline]
    pub fn dst_unit(&self) -> u8 {
        self.byte(DST_UNIT)
    }

    /// Front-panel port on the destination unit (frame byte 19); ignored
    /// when flooding.
    #[inline]
    pub fn dst_port(&self) -> u8 {
        self.byte(DST_PORT)
    }

    /// Raw priority byte (frame byte 20): the internal priority the frame
    /// is queued on across the stack. Valid values are 0..=7.
    #[inline]
    pub fn priority(&self) -> u8 {
        self.byte(PRIORITY)
    }

    /// Hop limit (frame byte 21).
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.byte(HOP_LIMIT)
    }

    /// Raw TCI of the frame's VLAN within the stack (frame bytes 22..24).
    #[inline]
    pub fn tci(&self) -> u16 {
        get_u16(self.buffer.as_ref(), TCI).unwrap_or(0)
    }

    /// The frame's VLAN within the stack (authoritative; the encapsulated
    /// frame may be untagged).
    #[inline]
    pub fn vlan(&self) -> VlanTag {
        VlanTag::from_tci(self.tci())
    }

    /// The encapsulated frame from its EtherType on (frame bytes 24..).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(INNER..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> StackHeader<T> {
    #[inline]
    fn set_byte(&mut self, off: usize, v: u8) {
        put_u8(self.buffer.as_mut(), off, v);
    }

    /// Sets the version nibble (only the low 4 bits of `version` are used).
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = (self.byte(VER_KIND) & 0x0F) | (version << 4);
        self.set_byte(VER_KIND, b);
    }

    /// Sets the kind nibble.
    #[inline]
    pub fn set_kind(&mut self, kind: StackFrameKind) {
        let b = (self.byte(VER_KIND) & 0xF0) | kind.code();
        self.set_byte(VER_KIND, b);
    }

    /// Sets the raw flags byte.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.set_byte(FLAGS, flags);
    }

    /// Sets or clears the flood flag, leaving the other flag bits alone.
    #[inline]
    pub fn set_flood(&mut self, flood: bool) {
        let f = if flood {
            self.flags() | FLAG_FLOOD
        } else {
            self.flags() & !FLAG_FLOOD
        };
        self.set_flags(f);
    }

    /// Sets the source unit.
    #[inline]
    pub fn set_src_unit(&mut self, unit: u8) {
        self.set_byte(SRC_UNIT, unit);
    }

    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u8) {
        self.set_byte(SRC_PORT, port);
    }

    /// Sets the destination unit.
    #[inline]
    pub fn set_dst_unit(&mut self, unit: u8) {
        self.set_byte(DST_UNIT, unit);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u8) {
        self.set_byte(DST_PORT, port);
    }

    /// Sets the raw priority byte (should be 0..=7; see
    /// [`StackHeaderRepr::parse`]).
    #[inline]
    pub fn set_priority(&mut self, priority: u8) {
        self.set_byte(PRIORITY, priority);
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.set_byte(HOP_LIMIT, hop_limit);
    }

    /// Decrements the hop limit in place (saturating at 0) and returns the
    /// new value. A unit forwarding the frame onward to another unit calls
    /// this and drops the frame if the result is 0, which bounds the life
    /// of a frame caught in a transient stack loop.
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let h = self.hop_limit().saturating_sub(1);
        self.set_hop_limit(h);
        h
    }

    /// Sets the raw TCI.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        put_u16(self.buffer.as_mut(), TCI, tci);
    }

    /// Sets the VLAN (fields are masked to fit, see [`VlanTag::tci`]).
    #[inline]
    pub fn set_vlan(&mut self, vlan: VlanTag) {
        self.set_tci(vlan.tci());
    }

    /// The encapsulated frame from its EtherType on, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut().get_mut(INNER..).unwrap_or_default()
    }
}

/// The decoded stack header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackHeaderRepr {
    /// What the frame carries.
    pub kind: StackFrameKind,
    /// Flood the frame to all units/ports of its VLAN; `dst_unit` and
    /// `dst_port` are then ignored by the receiver (but round-trip as-is).
    pub flood: bool,
    /// Unit on which the frame entered the stack.
    pub src_unit: u8,
    /// Front-panel port on the source unit where the frame was received.
    pub src_port: u8,
    /// Destination unit (ignored when `flood`).
    pub dst_unit: u8,
    /// Front-panel port on the destination unit (ignored when `flood`).
    pub dst_port: u8,
    /// Internal priority (0..=7) the frame is queued on across the stack.
    pub priority: u8,
    /// Remaining hops; decremented by each unit that forwards the frame
    /// onward. The parser accepts any value, 0 included: dropping is the
    /// forwarding engine's decision.
    pub hop_limit: u8,
    /// The frame's VLAN within the stack (authoritative).
    pub vlan: VlanTag,
}

impl StackHeaderRepr {
    /// Parses a whole stacked frame (starting at DA); checks EtherType
    /// 0x88B5, version 1, known kind, priority ≤ 7.
    ///
    /// Reserved flag bits are ignored. The whole priority byte must be
    /// ≤ 7: its upper bits are reserved too, but a peer that sets them most
    /// likely means a wider priority we cannot honour, so it is rejected
    /// rather than silently truncated.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`], [`WireError::UnexpectedEtherType`],
    /// [`WireError::UnsupportedStackVersion`],
    /// [`WireError::UnknownStackFrameKind`] or
    /// [`WireError::InvalidStackPriority`].
    pub fn parse_frame(frame: &[u8]) -> Result<StackHeaderRepr, WireError> {
        Self::parse(&StackHeader::new_checked(frame)?)
    }

    /// Decodes and validates a checked view (see
    /// [`StackHeaderRepr::parse_frame`]).
    ///
    /// # Errors
    ///
    /// As for [`StackHeaderRepr::parse_frame`], minus the checks
    /// `new_checked` already did.
    pub fn parse<T: AsRef<[u8]>>(view: &StackHeader<T>) -> Result<StackHeaderRepr, WireError> {
        if view.version() != STACK_VERSION {
            return Err(WireError::UnsupportedStackVersion(view.version()));
        }
        let kind = view.kind()?;
        let priority = view.priority();
        if priority > 7 {
            return Err(WireError::InvalidStackPriority(priority));
        }
        Ok(StackHeaderRepr {
            kind,
            flood: view.flood(),
            src_unit: view.src_unit(),
            src_port: view.src_port(),
            dst_unit: view.dst_unit(),
            dst_port: view.dst_port(),
            priority,
            hop_limit: view.hop_limit(),
            vlan: view.vlan(),
        })
    }

    /// The 12 bytes of EtherType + header, after validating the fields.
    fn to_bytes(self) -> Result<[u8; STACK_ENCAP_LEN], WireError> {
        if self.priority > 7 {
            return Err(WireError::InvalidStackPriority(self.priority));
        }
        let [t0, t1] = self
            .vlan
            .checked_tci("stack header TCI (header bytes 8..10)")?
            .to_be_bytes();
        let [e0, e1] = ETHERTYPE_STACK.to_be_bytes();
        Ok([
            e0,
            e1,
            (STACK_VERSION << 4) | self.kind.code(),
            if self.flood { FLAG_FLOOD } else { 0 },
            self.src_unit,
            self.src_port,
            self.dst_unit,
            self.dst_port,
            self.priority,
            self.hop_limit,
            t0,
            t1,
        ])
    }

    /// Writes EtherType + header (12 bytes) into `buf[0..12]`. Reserved
    /// bits are written as 0.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `buf` is shorter than 12 bytes,
    /// [`WireError::InvalidStackPriority`] if `priority > 7`,
    /// [`WireError::InvalidVlanTag`] if the VLAN's PCP > 7 or VID > 4095.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let bytes = self.to_bytes()?;
        let got = buf.len();
        let out = buf
            .first_chunk_mut::<STACK_ENCAP_LEN>()
            .ok_or(WireError::BufferTooSmall {
                header: EMIT_NAME,
                needed: STACK_ENCAP_LEN,
                got,
            })?;
        *out = bytes;
        Ok(())
    }

    /// Encapsulates `frame` (a plain Ethernet frame starting at DA):
    /// out = DA SA 0x88B5 header frame[12..].
    ///
    /// `out` is cleared first, so one `Vec` can be reused for every frame.
    /// An 802.1Q tag in `frame` stays inside the encapsulation.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `frame` is shorter than an Ethernet
    /// header (14 bytes); otherwise as for [`StackHeaderRepr::emit`].
    /// `out` is left untouched on error.
    pub fn encapsulate(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
        let hdr = self.to_bytes()?;
        let (macs, rest) = frame
            .split_first_chunk::<ETHERTYPE_OFF>()
            .filter(|(_, rest)| rest.len() >= 2)
            .ok_or(WireError::Truncated {
                header: "Ethernet header to encapsulate (bytes 0..14)",
                needed: ETHERNET_HEADER_LEN,
                got: frame.len(),
            })?;
        out.clear();
        out.reserve(frame.len() + STACK_ENCAP_LEN);
        out.extend_from_slice(macs);
        out.extend_from_slice(&hdr);
        out.extend_from_slice(rest);
        Ok(())
    }
}

/// Strips the stack encapsulation: returns the header and writes DA SA
/// frame[24..] into `out` (cleared first), i.e. the original frame.
///
/// # Errors
///
/// As for [`StackHeaderRepr::parse_frame`]; `out` is left untouched on
/// error.
pub fn decapsulate(frame: &[u8], out: &mut Vec<u8>) -> Result<StackHeaderRepr, WireError> {
    let repr = StackHeaderRepr::parse_frame(frame)?;
    out.clear();
    out.reserve(frame.len().saturating_sub(STACK_ENCAP_LEN));
    out.extend_from_slice(frame.get(..ETHERTYPE_OFF).unwrap_or_default());
    out.extend_from_slice(frame.get(INNER..).unwrap_or_default());
    Ok(repr)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use crate::wire::ethernet::tests::{arb_mac, arb_vlan};
    use crate::wire::L2Header;
    use proptest::prelude::*;

    /// A tagged original frame: DA, SA, 802.1Q (PCP 3, VID 10), IPv4, payload.
    #[rustfmt::skip]
    const ORIGINAL: [u8; 22] = [
        0x02, 0, 0, 0, 0, 0x01,
        0x02, 0, 0, 0, 0, 0x02,
        0x81, 0x00, 0x60, 0x0A,
        0x08, 0x00,
        0xDE, 0xAD, 0xBE, 0xEF,
    ];

    /// ORIGINAL encapsulated: unit 1 port 7 → unit 3 port 12, data,
    /// priority 3, hop limit 4, stack VLAN PCP 3 / VID 10.
    #[rustfmt::skip]
    const STACKED: [u8; 34] = [
        0x02, 0, 0, 0, 0, 0x01,      // DA
        0x02, 0, 0, 0, 0, 0x02,      // SA
        0x88, 0xB5,                  // EtherType: stack
        0x10,                        // version 1, kind data
        0x00,                        // flags
        0x01, 0x07,                  // source unit, port
        0x03, 0x0C,                  // destination unit, port
        0x03,                        // priority
        0x04,                        // hop limit
        0x60, 0x0A,                  // TCI
        0x81, 0x00, 0x60, 0x0A,      // original frame from its EtherType on
        0x08, 0x00,
        0xDE, 0xAD, 0xBE, 0xEF,
    ];

    const HDR: StackHeaderRepr = StackHeaderRepr {
        kind: StackFrameKind::Data,
        flood: false,
        src_unit: 1,
        src_port: 7,
        dst_unit: 3,
        dst_port: 12,
        priority: 3,
        hop_limit: 4,
        vlan: VlanTag {
            pcp: 3,
            dei: false,
            vid: 10,
        },
    };

    #[test]
    fn parse_byte_for_byte() {
        assert_eq!(StackHeaderRepr::parse_frame(&STACKED), Ok(HDR));
        assert_eq!(StackHeaderRepr::parse_frame(&STACKED[..24]), Ok(HDR));
        // The outer MACs are the original ones, so L2 lookup works unchanged.
        let l2 = L2Header::parse(&STACKED).unwrap();
        assert_eq!(l2.ethertype, ETHERTYPE_STACK);
    }

    #[test]
    fn encapsulate_decapsulate() {
        let mut out = vec![0xAA; 3];
        HDR.encapsulate(&ORIGINAL, &mut out).unwrap();
        assert_eq!(out, STACKED);
        assert_eq!(out.len(), ORIGINAL.len() + STACK_ENCAP_LEN);
        let mut back = Vec::new();
        assert_eq!(decapsulate(&out, &mut back), Ok(HDR));
        assert_eq!(back, ORIGINAL);

        let mut b = [0u8; 12];
        HDR.emit(&mut b).unwrap();
        assert_eq!(b, STACKED[12..24]);
    }

    #[test]
    fn reserved_flags_ignored() {
        let mut f = STACKED;
        f[15] = 0xFE;
        assert_eq!(StackHeaderRepr::parse_frame(&f), Ok(HDR));
        f[15] = 0xFF;
        assert_eq!(
            StackHeaderRepr::parse_frame(&f),
            Ok(StackHeaderRepr { flood: true, ..HDR })
        );
    }

    #[test]
    fn rejects() {
        let mut f = STACKED;
        f[12] = 0x81;
        f[13] = 0x00;
        assert_eq!(
            StackHeaderRepr::parse_frame(&f),
            Err(WireError::UnexpectedEtherType {
                header: "stack frame",
                offset: 12,
                expected: 0x88B5,
                got: 0x8100
            })
        );
        let mut f = STACKED;
        f[14] = 0x20;
        assert_eq!(
            StackHeaderRepr::parse_frame(&f),
            Err(WireError::UnsupportedStackVersion(2))
        );
        f[14] = 0x03;
        assert_eq!(
            StackHeaderRepr::parse_frame(&f),
            Err(WireError::UnsupportedStackVersion(0))
        );
        f[14] = 0x13;
        assert_eq!(
            StackHeaderRepr::parse_frame(&f),
            Err(WireError::UnknownStackFrameKind(3))
        );
        let mut f = STACKED;
        f[20] = 0x08;
        assert_eq!(
            StackHeaderRepr::parse_frame(&f),
            Err(WireError::InvalidStackPriority(8))
        );
        for len in 0..24 {
            assert_eq!(
                StackHeaderRepr::parse_frame(&STACKED[..len]),
                Err(WireError::Truncated {
                    header: FRAME_NAME,
                    needed: 24,
                    got: len
                })
            );
        }
        let mut out = vec![1, 2, 3];
        assert!(decapsulate(&STACKED[..23], &mut out).is_err());
        assert_eq!(out, [1, 2, 3], "out untouched on error");
    }

    #[test]
    fn kinds() {
        for (code, kind) in [
            (0, StackFrameKind::Data),
            (1, StackFrameKind::Hello),
            (2, StackFrameKind::Control),
        ] {
            let mut f = STACKED;
            f[14] = 0x10 | code;
            let r = StackHeaderRepr::parse_frame(&f).unwrap();
            assert_eq!(r.kind, kind);
            assert_eq!(kind.code(), code);
        }
    }

    #[test]
    fn emit_errors() {
        assert!(matches!(
            HDR.emit(&mut [0u8; 11]),
            Err(WireError::BufferTooSmall {
                needed: 12,
                got: 11,
                ..
            })
        ));
        let bad = StackHeaderRepr { priority: 8, ..HDR };
        assert_eq!(
            bad.emit(&mut [0u8; 12]),
            Err(WireError::InvalidStackPriority(8))
        );
        let bad = StackHeaderRepr {
            vlan: VlanTag {
                pcp: 0,
                dei: false,
                vid: 5000,
            },
            ..HDR
        };
        assert!(matches!(
            bad.emit(&mut [0u8; 12]),
            Err(WireError::InvalidVlanTag { vid: 5000, .. })
        ));
        let mut out = vec![9];
        assert!(matches!(
            HDR.encapsulate(&ORIGINAL[..13], &mut out),
            Err(WireError::Truncated {
                needed: 14,
                got: 13,
                ..
            })
        ));
        assert!(bad.encapsulate(&ORIGINAL, &mut out).is_err());
        assert_eq!(out, [9], "out untouched on error");
    }

    #[test]
    fn view_in_place() {
        let mut f = STACKED;
        let mut v = StackHeader::new_checked(&mut f[..]).unwrap();
        assert_eq!(v.dst_mac(), MacAddr(2, 0, 0, 0, 0, 1));
        assert_eq!(v.src_mac(), MacAddr(2, 0, 0, 0, 0, 2));
        assert_eq!(v.version(), 1);
        assert_eq!(v.kind(), Ok(StackFrameKind::Data));
        assert_eq!(v.payload(), &ORIGINAL[12..]);
        assert_eq!(v.decrement_hop_limit(), 3);
        assert_eq!(v.hop_limit(), 3);
        v.set_hop_limit(1);
        assert_eq!(v.decrement_hop_limit(), 0);
        assert_eq!(v.decrement_hop_limit(), 0);
        v.set_flags(0x80);
        v.set_flood(true);
        assert_eq!(v.flags(), 0x81);
        v.set_flood(false);
        assert_eq!(v.flags(), 0x80);
        v.set_kind(StackFrameKind::Control);
        v.set_src_unit(9);
        v.set_src_port(8);
        v.set_dst_unit(7);
        v.set_dst_port(6);
        v.set_priority(5);
        v.set_vlan(VlanTag {
            pcp: 7,
            dei: true,
            vid: 4095,
        });
        assert_eq!(v.tci(), 0xFFFF);
        v.payload_mut()[0] = 0x86;
        let r = StackHeaderRepr::parse(&v).unwrap();
        assert_eq!(
            r,
            StackHeaderRepr {
                kind: StackFrameKind::Control,
                flood: false,
                src_unit: 9,
                src_port: 8,
                dst_unit: 7,
                dst_port: 6,
                priority: 5,
                hop_limit: 0,
                vlan: VlanTag {
                    pcp: 7,
                    dei: true,
                    vid: 4095
                },
            }
        );
        v.set_version(2);
        assert_eq!(v.kind_code(), 2);
        assert_eq!(
            StackHeaderRepr::parse(&v),
            Err(WireError::UnsupportedStackVersion(2))
        );
        assert_eq!(f[24], 0x86);
    }

    fn arb_kind() -> impl Strategy<Value = StackFrameKind> {
        prop_oneof![
            Just(StackFrameKind::Data),
            Just(StackFrameKind::Hello),
            Just(StackFrameKind::Control)
        ]
    }

    fn arb_repr() -> impl Strategy<Value = StackHeaderRepr> {
        (
            arb_kind(),
            any::<bool>(),
            any::<[u8; 4]>(),
            0u8..8,
            any::<u8>(),
            arb_vlan(),
        )
            .prop_map(
                |(kind, flood, [su, sp, du, dp], priority, hop_limit, vlan)| StackHeaderRepr {
                    kind,
                    flood,
                    src_unit: su,
                    src_port: sp,
                    dst_unit: du,
                    dst_port: dp,
                    priority,
                    hop_limit,
                    vlan,
                },
            )
    }

    /// Arbitrary bytes (0..200), half of them shaped like a stack frame
    /// (EtherType 0x88B5, version 1) so parsing gets past the first checks.
    fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
        let any_bytes = proptest::collection::vec(any::<u8>(), 0..200);
        let shaped = (
            proptest::collection::vec(any::<u8>(), 0..200),
            0u8..4,
            0u8..10,
        )
            .prop_map(|(mut v, kind, prio)| {
                for (i, b) in [(12, 0x88), (13, 0xB5), (14, 0x10 | kind), (20, prio)] {
                    if let Some(x) = v.get_mut(i) {
                        *x = b;
                    }
                }
                v
            });
        prop_oneof![any_bytes, shaped]
    }

    proptest! {
        #[test]
        fn roundtrip(r in arb_repr(), dst in arb_mac(), src in arb_mac()) {
            let mut f = [0u8; 24];
            f[..6].copy_from_slice(&dst.octets());
            f[6..12].copy_from_slice(&src.octets());
            r.emit(&mut f[12..]).unwrap();
            prop_assert_eq!(StackHeaderRepr::parse_frame(&f), Ok(r));
            let v = StackHeader::new_checked(&f[..]).unwrap();
            prop_assert_eq!(v.dst_mac(), dst);
            prop_assert_eq!(v.src_mac(), src);
        }

        #[test]
        fn encap_roundtrip(
            r in arb_repr(),
            frame in proptest::collection::vec(any::<u8>(), 14..200),
        ) {
            let mut enc = Vec::new();
            r.encapsulate(&frame, &mut enc).unwrap();
            prop_assert_eq!(enc.len(), frame.len() + STACK_ENCAP_LEN);
            let mut dec = Vec::new();
            prop_assert_eq!(decapsulate(&enc, &mut dec), Ok(r));
            prop_assert_eq!(dec, frame);
        }

        /// Arbitrary bytes never panic; what parses re-emits to the same
        /// bytes (modulo reserved flag bits) and re-parses the same.
        #[test]
        fn arbitrary_bytes(bytes in arb_frame()) {
            let mut out = Vec::new();
            let parsed = StackHeaderRepr::parse_frame(&bytes);
            prop_assert_eq!(decapsulate(&bytes, &mut out), parsed);
            if let Ok(r) = parsed {
                let mut f = bytes.clone();
                r.emit(&mut f[12..]).unwrap();
                f[15] |= bytes[15] & !FLAG_FLOOD;
                prop_assert_eq!(&f, &bytes);
                prop_assert_eq!(StackHeaderRepr::parse_frame(&f), Ok(r));
                prop_assert_eq!(out.len(), bytes.len() - STACK_ENCAP_LEN);
            }
            let mut bytes = bytes;
            if let Ok(mut v) = StackHeader::new_checked(&mut bytes[..]) {
                let _ = (v.kind(), v.vlan(), v.payload().len(), v.dst_mac(), v.src_mac());
                v.decrement_hop_limit();
                v.set_flood(true);
                v.set_kind(StackFrameKind::Hello);
                v.set_version(STACK_VERSION);
                v.set_priority(0);
                prop_assert!(StackHeaderRepr::parse(&v).is_ok());
            }
        }
    }
}
