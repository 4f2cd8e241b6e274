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

/// [`L2Header`] with the addresses as 48-bit big-endian integers ([`mac_to_u64`]): what the
/// forwarding hot path compares and hashes, without building a [`MacAddr`] per frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Raw {
    /// Destination address (bytes 0..6).
    pub dst: u64,
    /// Source address (bytes 6..12).
    pub src: u64,
    /// The 802.1Q tag, if the EtherType at offset 12 is 0x8100.
    pub vlan: Option<VlanTag>,
    /// The EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
    /// Offset of the first byte after `ethertype`: 14 untagged, 18 tagged.
    pub payload_offset: usize,
}

impl L2Raw {
    /// Parses as [`L2Header::parse`] does (same checks, same errors).
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `frame` is shorter than 14 bytes, or shorter than 18 bytes
    /// while the EtherType at offset 12 is 0x8100.
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<L2Raw, WireError> {
        let Some(h) = frame.first_chunk::<ETHERNET_HEADER_LEN>() else {
            return Err(truncated(ETH_HDR_NAME, ETHERNET_HEADER_LEN, frame.len()));
        };
        let dst = u64::from_be_bytes([0, 0, h[0], h[1], h[2], h[3], h[4], h[5]]);
        let src = u64::from_be_bytes([0, 0, h[6], h[7], h[8], h[9], h[10], h[11]]);
        let ethertype = u16::from_be_bytes([h[12], h[13]]);
        if ethertype != ETHERTYPE_VLAN {
            return Ok(L2Raw {
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
        Ok(L2Raw {
            dst,
            src,
            vlan: Some(VlanTag::from_tci(u16::from_be_bytes([t[14], t[15]]))),
            ethertype: u16::from_be_bytes([t[16], t[17]]),
            payload_offset: TAGGED,
        })
    }
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
        let raw = L2Raw::parse(frame)?;
        Ok(L2Header {
            dst: u64_to_mac(raw.dst),
            src: u64_to_mac(raw.src),
            vlan: raw.vlan,
            ethertype: raw.ethertype,
            payload_offset: raw.payload_offset,
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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::vlan::VlanPacket;
    use proptest::prelude::*;

    const DST: MacAddr = MacAddr(0x02, 0x00, 0x00, 0x00, 0x00, 0x01);
    const SRC: MacAddr = MacAddr(0x02, 0x00, 0x00, 0x00, 0x00, 0x02);

    /// Untagged IPv4 frame header, by hand.
    const UNTAGGED: [u8; 16] = [
        0x02, 0, 0, 0, 0, 0x01, // DA
        0x02, 0, 0, 0, 0, 0x02, // SA
        0x08, 0x00, // IPv4
        0x45, 0x00, // payload
    ];

    /// 802.1Q-tagged IPv6 frame header: PCP 5, DEI 1, VID 100 → TCI 0xB064.
    const TAGGED: [u8; 20] = [
        0x02, 0, 0, 0, 0, 0x01, // DA
        0x02, 0, 0, 0, 0, 0x02, // SA
        0x81, 0x00, // TPID
        0xB0, 0x64, // TCI
        0x86, 0xDD, // IPv6
        0x60, 0x00, // payload
    ];

    #[test]
    fn parses_untagged() {
        let h = L2Header::parse(&UNTAGGED).unwrap();
        assert_eq!(
            h,
            L2Header {
                dst: DST,
                src: SRC,
                vlan: None,
                ethertype: 0x0800,
                payload_offset: 14
            }
        );
        assert_eq!(h.header_len(), 14);
    }

    #[test]
    fn parses_tagged() {
        let h = L2Header::parse(&TAGGED).unwrap();
        assert_eq!(
            h.vlan,
            Some(VlanTag {
                pcp: 5,
                dei: true,
                vid: 100
            })
        );
        assert_eq!(h.ethertype, 0x86DD);
        assert_eq!(h.payload_offset, 18);
        assert_eq!(h.header_len(), 18);
    }

    #[test]
    fn only_one_tag_is_interpreted() {
        let mut f = TAGGED;
        f[16..18].copy_from_slice(&[0x81, 0x00]);
        let h = L2Header::parse(&f).unwrap();
        assert_eq!(h.ethertype, ETHERTYPE_VLAN);
        assert_eq!(h.payload_offset, 18);

        // An 802.1ad S-tag is not interpreted at all.
        let mut f = TAGGED;
        f[12..14].copy_from_slice(&[0x88, 0xA8]);
        let h = L2Header::parse(&f).unwrap();
        assert_eq!(h.vlan, None);
        assert_eq!(h.ethertype, ETHERTYPE_QINQ);
        assert_eq!(h.payload_offset, 14);
    }

    #[test]
    fn exact_lengths() {
        assert!(L2Header::parse(&UNTAGGED[..14]).is_ok());
        assert!(L2Header::parse(&TAGGED[..18]).is_ok());
    }

    #[test]
    fn truncated() {
        assert_eq!(
            L2Header::parse(&UNTAGGED[..13]),
            Err(WireError::Truncated {
                header: ETH_HDR_NAME,
                needed: 14,
                got: 13
            })
        );
        assert_eq!(
            L2Header::parse(&[]),
            Err(WireError::Truncated {
                header: ETH_HDR_NAME,
                needed: 14,
                got: 0
            })
        );
        for len in 14..18 {
            assert_eq!(
                L2Header::parse(&TAGGED[..len]),
                Err(WireError::Truncated {
                    header: VLAN_TAG_NAME,
                    needed: 18,
                    got: len
                })
            );
        }
        let msg = L2Header::parse(&TAGGED[..15]).unwrap_err().to_string();
        assert!(msg.contains("802.1Q tag") && msg.contains("18") && msg.contains("15"));
    }

    #[test]
    fn emits_byte_for_byte() {
        let mut buf = [0xEEu8; 20];
        let h = L2Header::parse(&TAGGED).unwrap();
        assert_eq!(h.emit(&mut buf), Ok(18));
        assert_eq!(buf[..18], TAGGED[..18]);
        assert_eq!(buf[18..], [0xEE, 0xEE]);

        let h = L2Header::parse(&UNTAGGED).unwrap();
        assert_eq!(h.emit(&mut buf), Ok(14));
        assert_eq!(buf[..14], UNTAGGED[..14]);
    }

    #[test]
    fn emit_errors() {
        let mut h = L2Header::parse(&TAGGED).unwrap();
        assert!(matches!(
            h.emit(&mut [0u8; 17]),
            Err(WireError::BufferTooSmall {
                needed: 18,
                got: 17,
                ..
            })
        ));
        h.vlan = Some(VlanTag {
            pcp: 8,
            dei: false,
            vid: 1,
        });
        assert!(matches!(
            h.emit(&mut [0u8; 18]),
            Err(WireError::InvalidVlanTag { pcp: 8, .. })
        ));
        h.vlan = Some(VlanTag {
            pcp: 0,
            dei: false,
            vid: 4096,
        });
        assert!(matches!(
            h.emit(&mut [0u8; 18]),
            Err(WireError::InvalidVlanTag { vid: 4096, .. })
        ));
        h.vlan = None;
        assert!(matches!(
            h.emit(&mut [0u8; 13]),
            Err(WireError::BufferTooSmall {
                needed: 14,
                got: 13,
                ..
            })
        ));
        h.ethertype = ETHERTYPE_VLAN;
        assert_eq!(
            h.emit(&mut [0u8; 18]),
            Err(WireError::UntaggedVlanEtherType)
        );
    }

    #[test]
    fn tci_fields() {
        let t = VlanTag::from_tci(0xB064);
        assert_eq!(
            t,
            VlanTag {
                pcp: 5,
                dei: true,
                vid: 100
            }
        );
        assert_eq!(t.tci(), 0xB064);
        assert_eq!(VlanTag::from_tci(0xFFFF).tci(), 0xFFFF);
        assert!(!VlanTag {
            pcp: 9,
            dei: false,
            vid: 0
        }
        .is_valid());
    }

    #[test]
    fn mac_u64() {
        let m = MacAddr(0x01, 0x23, 0x45, 0x67, 0x89, 0xAB);
        assert_eq!(mac_to_u64(m), 0x0123_4567_89AB);
        assert_eq!(u64_to_mac(0xFFFF_0123_4567_89AB), m);
        assert_eq!(mac_to_u64(MacAddr::broadcast()), 0xFFFF_FFFF_FFFF);
    }

    #[test]
    fn constants() {
        assert_eq!(MAC_CONTROL_DST.octets(), [0x01, 0x80, 0xC2, 0, 0, 1]);
        assert_eq!(ETHERNET_HEADER_LEN + VLAN_TAG_LEN, 18);
    }

    pub(crate) fn arb_mac() -> impl Strategy<Value = MacAddr> {
        any::<[u8; 6]>().prop_map(|b| mac_from_bytes(&b))
    }

    pub(crate) fn arb_vlan() -> impl Strategy<Value = VlanTag> {
        (0u8..8, any::<bool>(), 0u16..4096).prop_map(|(pcp, dei, vid)| VlanTag { pcp, dei, vid })
    }

    fn arb_l2() -> impl Strategy<Value = L2Header> {
        (
            arb_mac(),
            arb_mac(),
            proptest::option::of(arb_vlan()),
            any::<u16>(),
        )
            .prop_filter("untagged 0x8100 is not representable", |(_, _, v, et)| {
                v.is_some() || *et != ETHERTYPE_VLAN
            })
            .prop_map(|(dst, src, vlan, ethertype)| L2Header {
                dst,
                src,
                vlan,
                ethertype,
                payload_offset: if vlan.is_some() { 18 } else { 14 },
            })
    }

    proptest! {
        #[test]
        fn roundtrip(h in arb_l2(), extra in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut buf = vec![0u8; 18 + extra.len()];
            let n = h.emit(&mut buf).unwrap();
            prop_assert_eq!(n, h.header_len());
            buf[n..n + extra.len()].copy_from_slice(&extra);
            prop_assert_eq!(L2Header::parse(&buf[..n + extra.len()]), Ok(h));
            prop_assert_eq!(L2Header::parse(&buf[..n]), Ok(h));
        }

        #[test]
        fn mac_u64_roundtrip(m in arb_mac()) {
            prop_assert_eq!(u64_to_mac(mac_to_u64(m)), m);
            prop_assert!(mac_to_u64(m) < 1 << 48);
        }

        #[test]
        fn tci_roundtrip(tci in any::<u16>()) {
            let t = VlanTag::from_tci(tci);
            prop_assert!(t.is_valid());
            prop_assert_eq!(t.tci(), tci);
        }

        /// Arbitrary bytes never panic; what parses re-emits to the same bytes.
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(h) = L2Header::parse(&bytes) {
                prop_assert!(h.payload_offset <= bytes.len());
                let mut buf = [0u8; 18];
                let n = h.emit(&mut buf).unwrap();
                prop_assert_eq!(n, h.payload_offset);
                prop_assert_eq!(&buf[..n], &bytes[..n]);
                prop_assert_eq!(L2Header::parse(&buf[..n]), Ok(h));
            }
        }

        /// Differential check against pnet_packet's generated parsers.
        #[test]
        fn agrees_with_pnet(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = L2Header::parse(&bytes);
            match EthernetPacket::new(&bytes) {
                None => prop_assert!(ours.is_err()),
                Some(eth) => {
                    let et = eth.get_ethertype().0;
                    if et != ETHERTYPE_VLAN {
                        let h = ours.unwrap();
                        prop_assert_eq!(h.dst, eth.get_destination());
                        prop_assert_eq!(h.src, eth.get_source());
                        prop_assert_eq!(h.ethertype, et);
                        prop_assert_eq!(h.vlan, None);
                    } else {
                        match VlanPacket::new(&bytes[14..]) {
                            None => prop_assert!(ours.is_err()),
                            Some(v) => {
                                let h = ours.unwrap();
                                prop_assert_eq!(h.dst, eth.get_destination());
                                prop_assert_eq!(h.src, eth.get_source());
                                prop_assert_eq!(h.ethertype, v.get_ethertype().0);
                                prop_assert_eq!(h.vlan, Some(VlanTag {
                                    pcp: v.get_priority_code_point().0,
                                    dei: v.get_drop_eligible_indicator() == 1,
                                    vid: v.get_vlan_identifier(),
                                }));
                            }
                        }
                    }
                }
            }
        }
    }
}
