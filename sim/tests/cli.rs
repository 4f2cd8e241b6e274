//! The `stack-sim` command line: argument errors name their flag; a JSON report parses.
#![allow(missing_docs)]

use std::process::{Command, Output};

fn stack_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stack-sim"))
        .args(args)
        .output()
        .expect("stack-sim runs")
}

#[test]
fn bad_arguments_fail_naming_the_flag() {
    for (args, flag) in [
        (&["incast", "--senders", "0"][..], "--senders"),
        (&["incast", "--senders", "33"][..], "--senders"),
        (&["incast", "--speed-gbps", "0"][..], "--speed-gbps"),
        (&["incast", "--frame-size", "63"][..], "--frame-size"),
        (&["incast", "--frame-size", "9217"][..], "--frame-size"),
    ] {
        let out = stack_sim(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag),
            "{args:?}: stderr does not name {flag}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn json_report_parses() {
    let out = stack_sim(&["incast", "--duration-ms", "1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["lossless"], true);
    assert_eq!(v["totals"]["switch_drops"], 0);
    assert!(v["totals"]["pfc_frames"].as_u64().unwrap() > 0);
}

#[test]
fn headroom_below_one_frame_is_a_clear_error() {
    let out = stack_sim(&["incast", "--headroom-margin-bytes", "-1000000"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("headroom_margin_bytes"), "{err}");
}
