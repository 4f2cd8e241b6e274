//! IEEE 802.3 MAC Control frames (EtherType 0x8808): 802.3x PAUSE and
//! 802.1Qbb priority-based flow control (PFC).
//!
//! Both views and reprs here work on the MAC Control *payload*: the bytes
//! right after the 0x8808 EtherType, opcode first. [`MacControlRepr::emit_frame`]
//! builds a whole frame for transmission.

use pnet_base::MacAddr;

use super::{
    get_u16, put_bytes, put_u16, WireError, ETHERNET_HEADER_LEN, ETHERTYPE_MAC_CONTROL,
    MAC_CONTROL_DST, MIN_FRAME_LEN,
};

/// MAC Control opcode of an 802.3x PAUSE frame (802.3 Annex 31B).
pub const MAC_CONTROL_OPCODE_PAUSE: u16 = 0x0001;
/// MAC Control opcode of an 802.1Qbb PFC frame (802.3 Annex 31D).
pub const MAC_CONTROL_OPCODE_PFC: u16 = 0x0101;
/// Bytes of a PAUSE payload that carry information: opcode + pause time.
pub const PAUSE_PAYLOAD_LEN: usize = 4;
/// Bytes of a PFC payload that carry information: opcode +
/// priority-enable vector + eight pause times.
pub const PFC_PAYLOAD_LEN: usize = 20;

const OPCODE_NAME: &str = "MAC Control opcode (payload bytes 0..2)";
const PAUSE_NAME: &str = "PAUSE payload (bytes 0..4: opcode, pause time)";
const PFC_NAME: &str = "PFC payload (bytes 0..20: opcode, priority-enable vector, 8 pause times)";

/// Offset of the PFC priority-enable vector / the PAUSE pause time.
const FIELD_OFF: usize = 2;
/// Offset of the PFC pause time of priority 0.
const PFC_TIMES_OFF: usize = 4;

/// Payload length needed for `opcode`, or the unsupported-opcode error.
fn payload_len_for(opcode: u16) -> Result<(usize, &'static str), WireError> {
    match opcode {
        MAC_CONTROL_OPCODE_PAUSE => Ok((PAUSE_PAYLOAD_LEN, PAUSE_NAME)),
        MAC_CONTROL_OPCODE_PFC => Ok((PFC_PAYLOAD_LEN, PFC_NAME)),
        other => Err(WireError::UnsupportedMacControlOpcode(other)),
    }
}

/// Offset of the PFC pause time of `priority` (0..=7).
fn pfc_time_off(priority: u8) -> Result<usize, WireError> {
    if priority > 7 {
        return Err(WireError::InvalidPfcPriority(priority));
    }
    Ok(PFC_TIMES_OFF + 2 * usize::from(priority))
}

/// A checked, zero-copy view of a MAC Control payload (PAUSE or PFC),
/// starting at the opcode.
///
/// Use it to read or patch a frame in place (e.g. rewrite a pause time before
/// forwarding a PFC frame to the CPU); use [`MacControlRepr`] to decode or
/// build one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacControlFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MacControlFrame<T> {
    /// Wraps a MAC Control payload after checking that it starts with a
    /// supported opcode and is long enough for that opcode's fields
    /// (4 bytes for PAUSE, 20 for PFC). Padding beyond that is allowed and
    /// not inspected.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if the payload is too short,
    /// [`WireError::UnsupportedMacControlOpcode`] for any opcode other than
    /// PAUSE (0x0001) and PFC (0x0101).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        let got = buf.len();
        let opcode = get_u16(buf, 0).ok_or(WireError::Truncated {
            header: OPCODE_NAME,
            needed: 2,
            got,
        })?;
        let (needed, header) = payload_len_for(opcode)?;
        if got < needed {
            return Err(WireError::Truncated {
                header,
                needed,
                got,
            });
        }
        Ok(MacControlFrame { buffer })
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The MAC Control opcode (payload bytes 0..2).
    #[inline]
    pub fn opcode(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 0).unwrap_or(0)
    }

    /// PAUSE: the pause time in quanta of 512 bit times (payload bytes 2..4).
    /// For a PFC frame these bytes are the priority-enable vector.
    #[inline]
    pub fn pause_time(&self) -> u16 {
        get_u16(self.buffer.as_ref(), FIELD_OFF).unwrap_or(0)
    }

    /// PFC: the raw 16-bit priority-enable vector (payload bytes 2..4),
    /// including the reserved upper octet. Bit n of the low octet enables
    /// priority n.
    #[inline]
    pub fn priority_enable_vector(&self) -> u16 {
        get_u16(self.buffer.as_ref(), FIELD_OFF).unwrap_or(0)
    }

    /// PFC: the pause time of `priority` (payload bytes `4 + 2n .. 6 + 2n`).
    ///
    /// # Errors
    ///
    /// [`WireError::InvalidPfcPriority`] if `priority > 7`;
    /// [`WireError::Truncated`] if the buffer does not reach that field
    /// (only possible when the opcode is not PFC, e.g. a short PAUSE payload).
    pub fn pfc_pause_time(&self, priority: u8) -> Result<u16, WireError> {
        let buf = self.buffer.as_ref();
        get_u16(buf, pfc_time_off(priority)?).ok_or(WireError::Truncated {
            header: PFC_NAME,
            needed: PFC_PAYLOAD_LEN,
            got: buf.len(),
        })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MacControlFrame<T> {
    /// Sets the opcode. Changing a short PAUSE payload to PFC leaves the PFC
    /// fields unreachable; [`MacControlFrame::pfc_pause_time`] then reports it.
    #[inline]
    pub fn set_opcode(&mut self, opcode: u16) {
        put_u16(self.buffer.as_mut(), 0, opcode);
    }

    /// PAUSE: sets the pause time (payload bytes 2..4).
    #[inline]
    pub fn set_pause_time(&mut self, quanta: u16) {
        put_u16(self.buffer.as_mut(), FIELD_OFF, quanta);
    }

    /// PFC: sets the raw priority-enable vector (payload bytes 2..4). The
    /// upper octet is reserved and should be 0.
    #[inline]
    pub fn set_priority_enable_vector(&mut self, vector: u16) {
        put_u16(self.buffer.as_mut(), FIELD_OFF, vector);
    }

    /// PFC: sets the pause time of `priority`.
    ///
    /// # Errors
    ///
    /// As for [`MacControlFrame::pfc_pause_time`].
    pub fn set_pfc_pause_time(&mut self, priority: u8, quanta: u16) -> Result<(), WireError> {
        let off = pfc_time_off(priority)?;
        let buf = self.buffer.as_mut();
        let got = buf.len();
        if got < off + 2 {
            return Err(WireError::Truncated {
                header: PFC_NAME,
                needed: PFC_PAYLOAD_LEN,
                got,
            });
        }
        put_u16(buf, off, quanta);
        Ok(())
    }
}

/// MAC Control frames (EtherType 0x8808): 802.3x PAUSE (opcode 0x0001) and
/// 802.1Qbb PFC (0x0101).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacControlRepr {
    /// Whole-link pause for `quanta` × 512 bit times.
    Pause {
        /// Pause time in quanta of 512 bit times; 0 resumes transmission.
        quanta: u16,
    },
    /// Priority-based flow control. `enable` is the priority-enable vector's
    /// low octet (bit n = priority n); `quanta[n]` the pause time for
    /// priority n (priority 0 first on the wire).
    ///
    /// `quanta[n]` of a priority whose enable bit is clear carries no
    /// meaning (802.1Qbb: the receiver ignores it); it is kept as found so
    /// that parse/emit round-trip exactly.
    Pfc {
        /// Priority-enable vector, low octet: bit n enables priority n.
        enable: u8,
        /// Pause time per priority, in quanta of 512 bit times.
        quanta: [u16; 8],
    },
}

impl MacControlRepr {
    /// Parses the MAC Control payload: the bytes right after the 0x8808
    /// EtherType (opcode first).
    ///
    /// Only the bytes carrying fields are required (4 for PAUSE, 20 for
    /// PFC); padding is neither required nor checked. For PFC the reserved
    /// upper octet of the priority-enable vector is ignored (not rejected),
    /// so a future use of it by a peer does not make us drop flow control.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] for a payload shorter than its opcode needs,
    /// [`WireError::UnsupportedMacControlOpcode`] for any other opcode.
    pub fn parse(payload: &[u8]) -> Result<MacControlRepr, WireError> {
        let frame = MacControlFrame::new_checked(payload)?;
        Self::parse_view(&frame)
    }

    /// Decodes a checked view (see [`MacControlRepr::parse`]).
    ///
    /// # Errors
    ///
    /// As for [`MacControlRepr::parse`]; a view whose opcode was changed
    /// after `new_checked` is re-checked here.
    pub fn parse_view<T: AsRef<[u8]>>(
        frame: &MacControlFrame<T>,
    ) -> Result<MacControlRepr, WireError> {
        match frame.opcode() {
            MAC_CONTROL_OPCODE_PAUSE => Ok(MacControlRepr::Pause {
                quanta: frame.pause_time(),
            }),
            MAC_CONTROL_OPCODE_PFC => {
                let mut quanta = [0u16; 8];
                for (prio, q) in (0u8..).zip(quanta.iter_mut()) {
                    *q = frame.pfc_pause_time(prio)?;
                }
                Ok(MacControlRepr::Pfc {
                    enable: frame.priority_enable_vector().to_be_bytes()[1],
                    quanta,
                })
            }
            other => Err(WireError::UnsupportedMacControlOpcode(other)),
        }
    }

    /// Opcode of this frame: 0x0001 (PAUSE) or 0x0101 (PFC).
    pub fn opcode(&self) -> u16 {
        match self {
            MacControlRepr::Pause { .. } => MAC_CONTROL_OPCODE_PAUSE,
            MacControlRepr::Pfc { .. } => MAC_CONTROL_OPCODE_PFC,
        }
    }

    /// Bytes [`MacControlRepr::emit_payload`] writes: 4 (PAUSE) or 20 (PFC).
    pub fn payload_len(&self) -> usize {
        match self {
            MacControlRepr::Pause { .. } => PAUSE_PAYLOAD_LEN,
            MacControlRepr::Pfc { .. } => PFC_PAYLOAD_LEN,
        }
    }

    /// Writes the payload (opcode and fields, no padding) into the front of
    /// `buf`; returns the bytes written. The reserved upper octet of the PFC
    /// priority-enable vector is written as 0.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `buf` is shorter than
    /// [`MacControlRepr::payload_len`].
    pub fn emit_payload(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let needed = self.payload_len();
        if buf.len() < needed {
            return Err(WireError::BufferTooSmall {
                header: match self {
                    MacControlRepr::Pause { .. } => PAUSE_NAME,
                    MacControlRepr::Pfc { .. } => PFC_NAME,
                },
                needed,
                got: buf.len(),
            });
        }
        self.write_payload(buf);
        Ok(needed)
    }

    /// Writes the fields; callers have checked the length.
    fn write_payload(&self, buf: &mut [u8]) {
        put_u16(buf, 0, self.opcode());
        match *self {
            MacControlRepr::Pause { quanta } => put_u16(buf, FIELD_OFF, quanta),
            MacControlRepr::Pfc { enable, quanta } => {
                put_u16(buf, FIELD_OFF, u16::from(enable));
                for (i, q) in quanta.iter().enumerate() {
                    put_u16(buf, PFC_TIMES_OFF + 2 * i, *q);
                }
            }
        }
    }

    /// Builds a whole minimum-size frame (60 bytes, without FCS): DA
    /// 01-80-C2-00-00-01, SA `src`, EtherType 0x8808, opcode, fields, zero
    /// padding. MAC Control frames are never VLAN-tagged.
    pub fn emit_frame(&self, src: MacAddr) -> [u8; MIN_FRAME_LEN] {
        let mut frame = [0u8; MIN_FRAME_LEN];
        put_bytes(&mut frame, 0, &MAC_CONTROL_DST.octets());
        put_bytes(&mut frame, 6, &src.octets());
        put_u16(&mut frame, 12, ETHERTYPE_MAC_CONTROL);
        if let Some(payload) = frame.get_mut(ETHERNET_HEADER_LEN..) {
            self.write_payload(payload);
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use crate::wire::L2Header;
    use proptest::prelude::*;

    const SRC: MacAddr = MacAddr(0x00, 0x1B, 0x21, 0xAA, 0xBB, 0xCC);

    /// A PFC frame as 802.1Qbb (clause 36) / 802.3 Annex 31D lay it out:
    /// priorities 3 and 4 paused (enable vector 0x0018), priority 3 for
    /// 0xFFFF quanta, priority 4 for 0x0100; the other times are 0.
    #[rustfmt::skip]
    const PFC_FRAME: [u8; 60] = [
        0x01, 0x80, 0xC2, 0x00, 0x00, 0x01, // DA: MAC Control multicast
        0x00, 0x1B, 0x21, 0xAA, 0xBB, 0xCC, // SA
        0x88, 0x08,                         // EtherType: MAC Control
        0x01, 0x01,                         // opcode: PFC
        0x00, 0x18,                         // priority-enable vector: e[3], e[4]
        0x00, 0x00,                         // time[0]
        0x00, 0x00,                         // time[1]
        0x00, 0x00,                         // time[2]
        0xFF, 0xFF,                         // time[3]
        0x01, 0x00,                         // time[4]
        0x00, 0x00,                         // time[5]
        0x00, 0x00,                         // time[6]
        0x00, 0x00,                         // time[7]
        // 26 bytes of padding to the 60-byte minimum
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    const PFC: MacControlRepr = MacControlRepr::Pfc {
        enable: 0x18,
        quanta: [0, 0, 0, 0xFFFF, 0x0100, 0, 0, 0],
    };

    /// An 802.3x PAUSE frame (Annex 31B): pause for 0x1234 quanta.
    #[rustfmt::skip]
    const PAUSE_FRAME: [u8; 60] = [
        0x01, 0x80, 0xC2, 0x00, 0x00, 0x01,
        0x00, 0x1B, 0x21, 0xAA, 0xBB, 0xCC,
        0x88, 0x08,
        0x00, 0x01, // opcode: PAUSE
        0x12, 0x34, // pause time
        // 42 bytes of padding
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn pfc_byte_for_byte() {
        assert_eq!(PFC.emit_frame(SRC), PFC_FRAME);
        let l2 = L2Header::parse(&PFC_FRAME).unwrap();
        assert_eq!(l2.dst, MAC_CONTROL_DST);
        assert_eq!(l2.src, SRC);
        assert_eq!(l2.ethertype, ETHERTYPE_MAC_CONTROL);
        assert_eq!(MacControlRepr::parse(&PFC_FRAME[14..]), Ok(PFC));
        // Padding is not required.
        assert_eq!(MacControlRepr::parse(&PFC_FRAME[14..34]), Ok(PFC));
    }

    #[test]
    fn pause_byte_for_byte() {
        let pause = MacControlRepr::Pause { quanta: 0x1234 };
        assert_eq!(pause.emit_frame(SRC), PAUSE_FRAME);
        assert_eq!(MacControlRepr::parse(&PAUSE_FRAME[14..]), Ok(pause));
        assert_eq!(MacControlRepr::parse(&PAUSE_FRAME[14..18]), Ok(pause));
    }

    #[test]
    fn pfc_reserved_octet_ignored() {
        let mut f = PFC_FRAME;
        f[16] = 0xA5;
        assert_eq!(MacControlRepr::parse(&f[14..]), Ok(PFC));
        let view = MacControlFrame::new_checked(&f[14..]).unwrap();
        assert_eq!(view.priority_enable_vector(), 0xA518);
    }

    #[test]
    fn unknown_opcode() {
        for op in [0x0000u16, 0x0002, 0x0100, 0x0102, 0xFFFF] {
            let mut p = [0u8; 46];
            p[..2].copy_from_slice(&op.to_be_bytes());
            assert_eq!(
                MacControlRepr::parse(&p),
                Err(WireError::UnsupportedMacControlOpcode(op))
            );
        }
        let msg = WireError::UnsupportedMacControlOpcode(2).to_string();
        assert!(msg.contains("0x0002"), "{msg}");
    }

    #[test]
    fn truncated() {
        assert_eq!(
            MacControlRepr::parse(&[]),
            Err(WireError::Truncated {
                header: OPCODE_NAME,
                needed: 2,
                got: 0
            })
        );
        assert_eq!(
            MacControlRepr::parse(&[0x01]),
            Err(WireError::Truncated {
                header: OPCODE_NAME,
                needed: 2,
                got: 1
            })
        );
        assert_eq!(
            MacControlRepr::parse(&PAUSE_FRAME[14..17]),
            Err(WireError::Truncated {
                header: PAUSE_NAME,
                needed: 4,
                got: 3
            })
        );
        for len in 2..20 {
            assert_eq!(
                MacControlRepr::parse(&PFC_FRAME[14..14 + len]),
                Err(WireError::Truncated {
                    header: PFC_NAME,
                    needed: 20,
                    got: len
                })
            );
        }
    }

    #[test]
    fn view_getters_and_setters() {
        let mut f = PFC_FRAME;
        let mut v = MacControlFrame::new_checked(&mut f[14..]).unwrap();
        assert_eq!(v.opcode(), MAC_CONTROL_OPCODE_PFC);
        assert_eq!(v.pfc_pause_time(3), Ok(0xFFFF));
        assert_eq!(v.pfc_pause_time(8), Err(WireError::InvalidPfcPriority(8)));
        v.set_priority_enable_vector(0x0081);
        v.set_pfc_pause_time(0, 7).unwrap();
        v.set_pfc_pause_time(7, 9).unwrap();
        assert_eq!(
            v.set_pfc_pause_time(8, 1),
            Err(WireError::InvalidPfcPriority(8))
        );
        assert_eq!(
            MacControlRepr::parse_view(&v),
            Ok(MacControlRepr::Pfc {
                enable: 0x81,
                quanta: [7, 0, 0, 0xFFFF, 0x0100, 0, 0, 9]
            })
        );

        let mut p = [0x00, 0x01, 0x00, 0x00];
        let mut v = MacControlFrame::new_checked(&mut p[..]).unwrap();
        v.set_pause_time(0xFFFF);
        assert_eq!(v.pause_time(), 0xFFFF);
        // Turning a short PAUSE payload into PFC: PFC fields are out of reach,
        // reported as errors, never a panic.
        v.set_opcode(MAC_CONTROL_OPCODE_PFC);
        assert!(matches!(
            v.pfc_pause_time(0),
            Err(WireError::Truncated { needed: 20, .. })
        ));
        assert!(v.set_pfc_pause_time(0, 1).is_err());
        assert!(MacControlRepr::parse_view(&v).is_err());
        assert_eq!(v.into_inner(), &[0x01, 0x01, 0xFF, 0xFF]);
    }

    #[test]
    fn emit_payload_too_small() {
        assert!(matches!(
            PFC.emit_payload(&mut [0u8; 19]),
            Err(WireError::BufferTooSmall {
                needed: 20,
                got: 19,
                ..
            })
        ));
        let mut b = [0u8; 20];
        assert_eq!(PFC.emit_payload(&mut b), Ok(20));
        assert_eq!(b[..], PFC_FRAME[14..34]);
    }

    fn arb_repr() -> impl Strategy<Value = MacControlRepr> {
        prop_oneof![
            any::<u16>().prop_map(|quanta| MacControlRepr::Pause { quanta }),
            (any::<u8>(), any::<[u16; 8]>())
                .prop_map(|(enable, quanta)| MacControlRepr::Pfc { enable, quanta }),
        ]
    }

    /// Arbitrary bytes (0..200), half of them starting with a supported
    /// opcode so the parser gets past the opcode check.
    fn arb_payload() -> impl Strategy<Value = Vec<u8>> {
        let any_bytes = proptest::collection::vec(any::<u8>(), 0..200);
        let with_opcode = (
            prop_oneof![Just(MAC_CONTROL_OPCODE_PAUSE), Just(MAC_CONTROL_OPCODE_PFC)],
            proptest::collection::vec(any::<u8>(), 0..198),
        )
            .prop_map(|(op, rest)| {
                let mut v = op.to_be_bytes().to_vec();
                v.extend(rest);
                v
            });
        prop_oneof![any_bytes, with_opcode]
    }

    proptest! {
        #[test]
        fn roundtrip(r in arb_repr(), src in crate::wire::ethernet::tests::arb_mac()) {
            let f = r.emit_frame(src);
            let l2 = L2Header::parse(&f).unwrap();
            prop_assert_eq!(l2.dst, MAC_CONTROL_DST);
            prop_assert_eq!(l2.src, src);
            prop_assert_eq!(l2.ethertype, ETHERTYPE_MAC_CONTROL);
            prop_assert_eq!(MacControlRepr::parse(&f[l2.payload_offset..]), Ok(r));
            prop_assert!(f[14 + r.payload_len()..].iter().all(|&b| b == 0));

            let mut p = [0u8; 20];
            let n = r.emit_payload(&mut p).unwrap();
            prop_assert_eq!(MacControlRepr::parse(&p[..n]), Ok(r));
        }

        /// Arbitrary bytes never panic; what parses re-emits and re-parses the same.
        #[test]
        fn arbitrary_bytes(bytes in arb_payload()) {
            if let Ok(r) = MacControlRepr::parse(&bytes) {
                let mut p = [0u8; 20];
                let n = r.emit_payload(&mut p).unwrap();
                prop_assert_eq!(MacControlRepr::parse(&p[..n]), Ok(r));
                // Everything but the reserved octet is reproduced exactly.
                prop_assert_eq!(&p[..2], &bytes[..2]);
                prop_assert_eq!(&p[3..n], &bytes[3..n]);
            }
            let mut bytes = bytes;
            if let Ok(mut v) = MacControlFrame::new_checked(&mut bytes[..]) {
                for prio in 0..=8 {
                    let _ = v.pfc_pause_time(prio);
                    let _ = v.set_pfc_pause_time(prio, 1);
                }
                v.set_opcode(MAC_CONTROL_OPCODE_PFC);
                let _ = MacControlRepr::parse_view(&v);
            }
        }
    }
}
