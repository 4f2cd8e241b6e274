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
