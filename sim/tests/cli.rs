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

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("stack-sim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn model_run_writes_a_report_and_plots() {
    let dir = tmp_dir("run");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "units = 2\nrouting = \"static\"\nduration_ms = 1\nsample_us = 20\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = stack_sim(&[
        "model",
        "run",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["totals"]["lossless_drops"], 0);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(saved["trace_hash"], v["trace_hash"]);
    for svg in ["queue_depth.svg", "pg_occupancy.svg", "delivered.svg"] {
        let text = std::fs::read_to_string(out_dir.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") && text.ends_with("</svg>\n"),
            "{svg}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn model_run_errors_name_the_file_and_the_field() {
    let dir = tmp_dir("errors");
    let missing = dir.join("missing.toml");
    let out = stack_sim(&["model", "run", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.toml") && !err.contains("panicked"),
        "{err}"
    );

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "units = 2\nhosts_per_unit = 40\n").unwrap();
    let out = stack_sim(&["model", "run", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("hosts_per_unit"),
        "{err}"
    );

    std::fs::write(&bad, "units = [\n").unwrap();
    let out = stack_sim(&["model", "run", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 1"), "{err}");

    let out = stack_sim(&["model", "roce", "--senders", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--senders"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
