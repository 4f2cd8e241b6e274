//! Fuzzes `L2Header::parse`: it must never panic, and whatever it accepts
//! must re-emit to the same bytes and re-parse to the same header.
#![no_main]

use dataplane::wire::L2Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = L2Header::parse(data) else {
        return;
    };
    assert!(h.payload_offset <= data.len());
    assert_eq!(h.payload_offset, h.header_len());
    let mut buf = [0u8; 18];
    let n = h.emit(&mut buf).expect("a parsed header must emit");
    assert_eq!(n, h.payload_offset);
    assert_eq!(
        &buf[..n],
        &data[..n],
        "emit must reproduce the parsed bytes"
    );
    assert_eq!(L2Header::parse(&buf[..n]), Ok(h));
});
