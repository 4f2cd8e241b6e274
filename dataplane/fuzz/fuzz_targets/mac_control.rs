//! Fuzzes `MacControlRepr::parse` and the `MacControlFrame` view: no panics,
//! and whatever parses must emit (payload and whole frame) and re-parse equal.
#![no_main]

use dataplane::wire::{
    L2Header, MacAddr, MacControlFrame, MacControlRepr, ETHERTYPE_MAC_CONTROL, MAC_CONTROL_DST,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = MacControlRepr::parse(data) {
        let mut p = [0u8; 20];
        let n = r.emit_payload(&mut p).expect("a parsed repr must emit");
        assert_eq!(MacControlRepr::parse(&p[..n]), Ok(r));
        // Opcode and fields are reproduced; only the reserved octet of the
        // PFC priority-enable vector (payload byte 2) may differ.
        assert_eq!(&p[..2], &data[..2]);
        assert_eq!(&p[3..n], &data[3..n]);

        let src = MacAddr::new(0x02, 0, 0, 0, 0, 0x01);
        let frame = r.emit_frame(src);
        let l2 = L2Header::parse(&frame).expect("emitted frame must parse");
        assert_eq!(l2.dst, MAC_CONTROL_DST);
        assert_eq!(l2.src, src);
        assert_eq!(l2.ethertype, ETHERTYPE_MAC_CONTROL);
        assert_eq!(MacControlRepr::parse(&frame[l2.payload_offset..]), Ok(r));
    }

    let mut buf = data.to_vec();
    if let Ok(mut v) = MacControlFrame::new_checked(&mut buf[..]) {
        for prio in 0..=8u8 {
            let _ = v.pfc_pause_time(prio);
            let _ = v.set_pfc_pause_time(prio, 0xFFFF);
        }
        let _ = (v.opcode(), v.pause_time(), v.priority_enable_vector());
        v.set_opcode(0x0101);
        let _ = MacControlRepr::parse_view(&v);
    }
});
