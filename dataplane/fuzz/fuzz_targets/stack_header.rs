//! Fuzzes `StackHeaderRepr::parse_frame`, `decapsulate` and the
//! `StackHeader` view: no panics, and whatever parses must emit and re-parse
//! equal, and decapsulate/encapsulate must give back the input (modulo the
//! reserved flag bits, which are ignored on parse and zeroed on emit).
//!
//! Each input is checked twice: as is, and with the EtherType at offset 12
//! forced to 0x88B5, so the fuzzer spends its time behind the EtherType check
//! (libFuzzer does not reliably discover the 16-bit constant on its own).
#![no_main]

use dataplane::wire::{
    decapsulate, StackHeader, StackHeaderRepr, ETHERTYPE_STACK, STACK_ENCAP_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(et) = data.get(12..14) {
        if et != ETHERTYPE_STACK.to_be_bytes() {
            let mut shaped = data.to_vec();
            shaped[12..14].copy_from_slice(&ETHERTYPE_STACK.to_be_bytes());
            check(&shaped);
        }
    }
});

fn check(data: &[u8]) {
    let mut inner = Vec::new();
    let parsed = StackHeaderRepr::parse_frame(data);
    assert_eq!(decapsulate(data, &mut inner), parsed);

    if let Ok(r) = parsed {
        let mut hdr = [0u8; STACK_ENCAP_LEN];
        r.emit(&mut hdr).expect("a parsed header must emit");
        let mut frame = data.to_vec();
        frame[12..24].copy_from_slice(&hdr);
        assert_eq!(StackHeaderRepr::parse_frame(&frame), Ok(r));

        assert_eq!(inner.len() + STACK_ENCAP_LEN, data.len());
        let mut again = Vec::new();
        if inner.len() < 14 {
            // A stacked frame with no inner EtherType (e.g. a bare hello)
            // decapsulates, but is not an Ethernet frame to encapsulate.
            assert!(r.encapsulate(&inner, &mut again).is_err());
        } else {
            r.encapsulate(&inner, &mut again)
                .expect("decapsulated frame must re-encapsulate");
            // Everything but the reserved flag bits (frame byte 15) round-trips.
            again[15] |= data[15] & 0xFE;
            assert_eq!(again, data);
        }
    }

    let mut buf = data.to_vec();
    if let Ok(mut v) = StackHeader::new_checked(&mut buf[..]) {
        let _ = (
            v.kind(),
            v.vlan(),
            v.dst_mac(),
            v.src_mac(),
            v.payload().len(),
        );
        v.decrement_hop_limit();
        v.set_flood(!v.flood());
        let _ = StackHeaderRepr::parse(&v);
    }
}
