//! Ethernet II header with at most one 802.1Q tag, and the shared constants.

use pnet_base::MacAddr;

use super::WireError;

/// EtherType of an 802.1Q customer VLAN tag (C-tag). [`L2Header::parse`]
/// interprets one such tag directly after the source address.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of an 802.1ad service VLAN tag (S-tag). Not interpreted by
/// [`L2Header::parse`]: it is reported as the frame's EtherType, so a
/// provider-tagged frame is visibly "not plain 802.1Q" to the engine.
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// EtherType of IEEE 802.3 MAC Control frames (PAUSE and PFC).
pub const ETHERTYPE_MAC_CONTROL: u16 = 0x8808;
/// IEEE 802 local experimental EtherType 1, used for the stack header.
///
/// The stack is a closed system (only links between units of one stack
/// carry it), which is exactly what the local experimental EtherTypes are
/// reserved for; no registration is needed.
pub const ETHERTYPE_STACK: u16 = 0x88B5;
/// 01-80-C2-00-00-01, the destination of PAUSE and PFC frames.
///
/// An 802.1D reserved address: bridges never forward frames sent to it, so
/// flow control stays link-local.
pub const MAC_CONTROL_DST: MacAddr = MacAddr(0x01, 0x80, 0xC2, 0x00, 0x00, 0x01);
/// Length of an untagged Ethernet II header: destination, source, EtherType.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of one 802.1Q tag (TPID 0x8100 + TCI) inserted after the source address.
pub const VLAN_TAG_LEN: usize = 4;
/// Minimum Ethernet frame length without the 4-byte FCS (64 − 4). Shorter
/// frames are padded with zeros by whoever builds them.
pub const MIN_FRAME_LEN: usize = 60;

/// Converts a MAC address to an integer: the six octets as a big-endian
/// 48-bit number in the low bits of a `u64` (the upper 16 bits are zero).
///
/// Handy as a compact, cheaply hashed key for MAC tables.
#[inline]
pub fn mac_to_u64(mac: MacAddr) -> u64 {
    let [a, b, c, d, e, f] = mac.octets();
    u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

/// Converts the low 48 bits of `v` (big-endian octet order) back to a MAC
/// address; the inverse of [`mac_to_u64`]. The upper 16 bits are ignored.
#[inline]
pub fn u64_to_mac(v: u64) -> MacAddr {
    let [_, _, a, b, c, d, e, f] = v.to_be_bytes();
    MacAddr(a, b, c, d, e, f)
}

/// Reads a MAC address from six bytes.
#[inline]
pub(crate) fn mac_from_bytes(b: &[u8; 6]) -> MacAddr {
    let [a, b, c, d, e, f] = *b;
    MacAddr(a, b, c, d, e, f)
}

/// 802.1Q tag control information.
///
/// The 16-bit TCI split into its fields: priority code point (3 bits),
/// drop eligible indicator (1 bit) and VLAN identifier (12 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag {
    /// Priority code point, 0..=7 (802.1p priority).
    pub pcp: u8,
    /// Drop eligible indicator (formerly CFI).
    pub dei: bool,
    /// VLAN identifier, 0..=4095 (0 = priority-tagged, 4095 reserved).
    pub vid: u16,
}

impl VlanTag {
    /// Splits a TCI into its fields. Every `u16` is a valid TCI.
    #[inline]
    pub fn from_tci(tci: u16) -> Self {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0FFF,
        }
    }

    /// Packs the fields into a TCI. Out-of-range fields are masked
    /// (`pcp & 7`, `vid & 0xFFF`); use [`VlanTag::is_valid`] (the `emit`
    /// functions do) to reject them instead.
    #[inline]
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 0x07) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0FFF)
    }

    /// Whether the fields fit the TCI without masking (PCP ≤ 7, VID ≤ 4095).
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.pcp <= 7 && self.vid <= 0x0FFF
    }

    /// The TCI, or an error naming `header` if a field does not fit.
    pub(crate) fn checked_tci(&self, header: &'static str) -> Result<u16, WireError> {
        if self.is_valid() {
            Ok(self.tci())
        } else {
            Err(WireError::InvalidVlanTag {
                header,
                pcp: self.pcp,
                vid: self.vid,
            })
        }
    }
}

/// What the forwarding engine needs from the first header(s) of a frame:
/// parsed in one pass, no allocation.
///
/// `ethertype` is the EtherType AFTER an 802.1Q tag if there is one (only
/// one tag is interpreted; a second 0x8100/0x88A8 stays as the ethertype).
/// `payload_offset` is where the bytes after that ethertype start (14, or 18
/// when tagged).
///
/// An EtherType below 0x0600 is an 802.3 length field (LLC frames, e.g.
/// STP); it is reported as-is and the engine decides what to do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Header {
    /// Destination MAC address (bytes 0..6).
    pub dst: MacAddr,
    /// Source MAC address (bytes 6..12).
    pub src: MacAddr,
    /// The 802.1Q tag, if the EtherType at offset 12 is 0x8100.
    pub vlan: Option<VlanTag>,
    /// The EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
    /// Offset of the first byte after `ethertype`: 14 untagged, 18 tagged.
    pub payload_offset: usize,
}

const ETH_HDR_NAME: &str = "Ethernet header (bytes 0..14: DA, SA, EtherType)";
const VLAN_TAG_NAME: &str = "802.1Q tag (bytes 14..18: TCI, inner EtherType)";

#[cold]
#[inline(never)]
fn truncated(header: &'static str, needed: usize, got: usize) -> WireError {
    WireError::Truncated {
        header,
        needed,
        got,
    }
}

impl L2Header {
    /// Parses the Ethernet header and at most one 802.1Q tag from the start
    /// of `frame`.
    ///
    /// This is the forwarding hot path (> 10 Mpps): it does two length
    /// checks and fixed-offset byte loads, nothing else. It does not check
    /// the minimum frame length, the FCS or the addresses; those are the
    /// MAC's and the engine's business.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `frame` is shorter than 14 bytes, or
    /// shorter than 18 bytes while the EtherType at offset 12 is 0x8100.
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<L2Header, WireError> {
        let Some(h) = frame.first_chunk::<ETHERNET_HEADER_LEN>() else {
            return Err(truncated(ETH_HDR_NAME, ETHERNET_HEADER_LEN, frame.len()));
        };
        let dst = MacAddr(h[0], h[1], h[2], h[3], h[4], h[5]);
        let src = MacAddr(h[6], h[7], h[8], h[9], h[10], h[11]);
        let ethertype = u16::from_be_bytes([h[12], h[13]]);
        if ethertype != ETHERTYPE_VLAN {
            return Ok(L2Header {
                dst,
                src,
                vlan: None,
                ethertype,
                payload_offset: ETHERNET_HEADER_LEN,
            });
        }
        const TAGGED: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
        let Some(t) = frame.first_chunk::<TAGGED>() else {
            return Err(truncated(VLAN_TAG_NAME, TAGGED, frame.len()));
        };
        Ok(L2Header {
            dst,
            src,
            vlan: Some(VlanTag::from_tci(u16::from_be_bytes([t[14], t[15]]))),
            ethertype: u16::from_be_bytes([t[16], t[17]]),
            payload_offset: TAGGED,
        })
    }

    /// Length of this header on the wire: 14, or 18 with a VLAN tag.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            ETHERNET_HEADER_LEN + VLAN_TAG_LEN
        } else {
            ETHERNET_HEADER_LEN
        }
    }

    /// Writes the header (dst, src, optional tag, ethertype) into the front
    /// of `buf`; returns bytes written (14 or 18).
    ///
    /// `payload_offset` is not consulted: the layout follows from `vlan`.
    ///
    /// # Errors
    ///
    /// * [`WireError::BufferTooSmall`] if `buf` cannot hold the header;
    /// * [`WireError::InvalidVlanTag`] if the tag's PCP > 7 or VID > 4095;
    /// * [`WireError::UntaggedVlanEtherType`] if `vlan` is `None` but
    ///   `ethertype` is 0x8100 (it would not parse back to the same header).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let d = self.dst.octets();
        let s = self.src.octets();
        let macs = [
            d[0], d[1], d[2], d[3], d[4], d[5], s[0], s[1], s[2], s[3], s[4], s[5],
        ];
        let [e0, e1] = self.ethertype.to_be_bytes();
        match self.vlan {
            None => {
                if self.ethertype == ETHERTYPE_VLAN {
                    return Err(WireError::UntaggedVlanEtherType);
                }
                let got = buf.len();
                let Some(h) = buf.first_chunk_mut::<ETHERNET_HEADER_LEN>() else {
                    return Err(WireError::BufferTooSmall {
                        header: ETH_HDR_NAME,
                        needed: ETHERNET_HEADER_LEN,
                        got,
                    });
                };
                let [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11] = macs;
                *h = [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, e0, e1];
                Ok(ETHERNET_HEADER_LEN)
            }
            Some(tag) => {
                const TAGGED: usize = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
                let [t0, t1] = tag.checked_tci("802.1Q tag (bytes 14..16)")?.to_be_bytes();
                let [v0, v1] = ETHERTYPE_VLAN.to_be_bytes();
                let got = buf.len();
                let Some(h) = buf.first_chunk_mut::<TAGGED>() else {
                    return Err(WireError::BufferTooSmall {
                        header: "802.1Q-tagged Ethernet header (bytes 0..18)",
                        needed: TAGGED,
                        got,
                    });
                };
                let [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11] = macs;
                *h = [
                    m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, v0, v1, t0, t1, e0, e1,
                ];
                Ok(TAGGED)
            }
        }
    }
}
