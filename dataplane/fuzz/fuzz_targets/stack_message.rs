//! Fuzzes what a stack link hands the control plane: `control_frame::decode` and
//! `wire::decode` (with and without a stack key). No panics; whatever decodes must encode
//! back to the same bytes and decode equal.
#![no_main]

use controlplane::{control_frame, wire};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-stack-key";

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = control_frame::decode(data) {
        check(msg);
    }
    check(data);
});

fn check(bytes: &[u8]) {
    if let Ok(m) = wire::decode(bytes, None) {
        let again = wire::encode(&m, None);
        assert_eq!(again, bytes);
        assert_eq!(wire::decode(&again, None), Ok(m.clone()));
        let keyed = wire::encode(&m, Some(KEY));
        assert_eq!(wire::decode(&keyed, Some(KEY)), Ok(m));
    }
    let _ = wire::decode(bytes, Some(KEY));
}
