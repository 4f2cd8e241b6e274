//! The show commands: each table's values and alignment, and its `--json`.

use serde_json::{json, Value};

use crate::fake_stackd::Received;
use crate::{assert_aligned, assert_row, ok, ok_json, start};

#[test]
fn show_switch_lists_the_units_with_the_serving_one_marked() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "switch"]);
    assert!(
        out.contains("Switch/Stack MAC address : 02:00:00:00:00:01 (master: switch 1)"),
        "{out}"
    );
    assert_row(&out, &["Master", "epoch", ":", "7"]);
    assert_row(&out, &["Topology", ":", "ring"]);
    assert!(!out.contains("HELD DOWN"), "{out}");
    assert_row(
        &out,
        &[
            "Switch#", "Role", "MAC", "address", "Priority", "Uptime", "State", "Version",
        ],
    );
    assert_row(
        &out,
        &[
            "*1",
            "Master",
            "02:00:00:00:00:01",
            "15",
            "1h02m03s",
            "Ready",
            "0.1.0",
        ],
    );
    assert_row(
        &out,
        &[
            "2",
            "Standby",
            "02:00:00:00:00:02",
            "10",
            "1d01h01m01s",
            "Ready",
            "0.1.0",
        ],
    );
    assert_row(
        &out,
        &[
            "3",
            "Member",
            "02:00:00:00:00:03",
            "0",
            "42s",
            "Ready",
            "0.1.0",
        ],
    );
    assert_aligned(&out, "MAC address", " 3", "02:00:00:00:00:03");
    assert_aligned(&out, "Role", "*1", "Master");

    let j = ok_json(&fake, &["show", "switch"]);
    assert_eq!(j["local_unit"], 1);
    assert_eq!(j["local_mac"], "02:00:00:00:00:01");
    assert_eq!(j["master_unit"], 1);
    assert_eq!(j["master_mac"], "02:00:00:00:00:01");
    assert_eq!(j["epoch"], 7);
    assert_eq!(j["topology"], "ring");
    assert_eq!(j["active"], true);
    assert_eq!(
        j["members"][1],
        json!({"unit": 2, "mac": "02:00:00:00:00:02", "role": "standby", "priority": 10,
               "uptime_ms": 90_061_000, "status": "ready", "version": "0.1.0", "local": false})
    );
    assert_eq!(j["members"][0]["role"], "master");
    assert_eq!(j["members"][0]["local"], true);
    assert_eq!(fake.received(), vec![Received::ShowSwitch; 2]);
}

#[test]
fn show_stack_ports_with_and_without_counters() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "switch", "stack-ports"]);
    assert_row(
        &out,
        &["1", "0", "1/1", "up", "2", "1", "02:00:00:00:00:02"],
    );
    assert_row(&out, &["1", "1", "1/2", "down", "-", "-", "-"]);
    assert_row(&out, &["2", "1", "-", "up", "1", "0", "02:00:00:00:00:01"]);
    assert!(!out.contains("Hello"), "{out}");

    let out = ok(&fake, &["show", "switch", "stack-ports", "counters"]);
    assert_row(
        &out,
        &[
            "1",
            "0",
            "1/1",
            "up",
            "2",
            "1",
            "02:00:00:00:00:02",
            "5001",
            "4999",
            "2",
            "1",
            "5999",
            "7001",
        ],
    );
    assert_row(
        &out,
        &[
            "1", "1", "1/2", "down", "-", "-", "-", "777", "0", "31", "4", "1000", "2777",
        ],
    );
    assert_row(
        &out,
        &[
            "2",
            "1",
            "-",
            "up",
            "1",
            "0",
            "02:00:00:00:00:01",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        ],
    );
    assert!(out.contains("Hello lost"), "{out}");

    let j = ok_json(&fake, &["show", "switch", "stack-ports", "counters"]);
    assert_eq!(
        j["ports"][0],
        json!({"unit": 1, "stack_port": 0, "port": {"slot": 1, "port": 1}, "up": true,
               "neighbor_unit": 2, "neighbor_stack_port": 1, "neighbor_mac": "02:00:00:00:00:02",
               "counters": {"hello_sent": 5001, "hello_received": 4999, "hello_lost": 2,
                            "link_downs": 1, "rx_frames": 5999, "rx_bytes": 0,
                            "tx_frames": 7001, "tx_bytes": 0}})
    );
    assert_eq!(j["ports"][1]["neighbor_unit"], Value::Null);
    assert_eq!(j["ports"][1]["neighbor_stack_port"], Value::Null);
    assert_eq!(j["ports"][2]["port"], Value::Null);
    assert_eq!(j["ports"][2]["counters"], Value::Null);
    let j = ok_json(&fake, &["show", "switch", "stack-ports"]);
    assert_eq!(j["ports"][0]["counters"], Value::Null);
    assert_eq!(
        fake.received(),
        vec![
            Received::ShowStackPorts { counters: false },
            Received::ShowStackPorts { counters: true },
            Received::ShowStackPorts { counters: true },
            Received::ShowStackPorts { counters: false },
        ]
    );
}

#[test]
fn show_stack_path_gives_primary_backup_and_active_ports() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "switch", "stack-ports", "stack-path"]);
    assert_row(
        &out,
        &[
            "To", "switch", "Primary", "Backup", "Active", "port", "Hops",
        ],
    );
    assert_row(&out, &["2", "0", "1", "1/1", "1"]);
    assert_row(&out, &["3", "1,2", "-", "1/2", "2"]);
    let j = ok_json(&fake, &["show", "switch", "stack-ports", "stack-path"]);
    assert_eq!(
        j["paths"],
        json!([
            {"to_unit": 2, "primary": [0], "backup": [1], "active": {"slot": 1, "port": 1}, "hops": 1},
            {"to_unit": 3, "primary": [1, 2], "backup": [], "active": {"slot": 1, "port": 2}, "hops": 2},
        ])
    );
    assert_eq!(fake.received(), vec![Received::ShowStackPath; 2]);
}

#[test]
fn show_nsf() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "nsf"]);
    for row in [
        &["NSF", "admin", "status", ":", "enabled"][..],
        &["NSF", "oper", "status", ":", "enabled"],
        &["Last", "startup", ":", "warm"],
        &["Time", "since", "restart", ":", "2m05s"],
        &["Restart", "in", "progress", ":", "no"],
        &["Warm", "restart", "ready", ":", "yes"],
        &["Stale", "entries", ":", "42"],
        &["Swept", "entries", ":", "3"],
        &["Dataplane", "session", "generation", ":", "9"],
    ] {
        assert_row(&out, row);
    }
    let j = ok_json(&fake, &["show", "nsf"]);
    assert_eq!(
        j,
        json!({"admin_enabled": true, "oper_enabled": true, "last_startup": "warm",
               "since_restart_ms": 125_000, "restart_in_progress": false,
               "warm_restart_ready": true, "stale_entries": 42, "swept_entries": 3,
               "generation": 9})
    );
}

#[test]
fn show_checkpoint_statistics_from_the_master() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "checkpoint", "statistics"]);
    assert_row(
        &out,
        &[
            "Checkpoint",
            "role",
            ":",
            "master",
            "(sends",
            "its",
            "state",
            "to",
            "the",
            "standby)",
        ],
    );
    assert_row(&out, &["Standby", ":", "unit", "2", "(02:00:00:00:00:02)"]);
    assert_row(&out, &["In", "sync", ":", "yes"]);
    assert_row(&out, &["Last", "lag", ":", "1.83ms"]);
    assert_row(&out, &["Longest", "lag", ":", "4.12ms"]);
    assert_row(&out, &["Time", "since", "last", "change", ":", "41s"]);
    assert!(!out.contains("Behind"), "{out}");
    assert_eq!(fake.received(), vec![Received::ShowCheckpoint]);
    let j = ok_json(&fake, &["show", "checkpoint", "statistics"]);
    assert_eq!(j["side"], json!("master"));
    assert_eq!(j["peer_unit"], json!(2));
    assert_eq!(j["version"], json!("8c3f0d6a91b2e477"));
    assert_eq!(j["last_lag_us"], json!(1830));
    assert_eq!(j["behind_ms"], Value::Null);
}

#[test]
fn show_pfc_counters_per_port_and_priority() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "pfc", "counters"]);
    assert_row(
        &out,
        &["Port", "Priority", "Rx", "PFC", "Tx", "PFC", "Paused"],
    );
    assert_row(&out, &["0/1", "3", "31337", "0", "4.56ms"]);
    assert_row(&out, &["0/1", "4", "0", "27182", "0"]);
    assert_row(&out, &["1/1", "7", "0", "0", "0"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("0/1 ")).count(),
        8,
        "{out}"
    );
    let j = ok_json(&fake, &["show", "pfc", "counters"]);
    assert_eq!(j["ports"][0]["port"], json!({"slot": 0, "port": 1}));
    assert_eq!(j["ports"][0]["pause_rx"], 0);
    assert_eq!(
        j["ports"][0]["priorities"][3],
        json!({"priority": 3, "rx_frames": 31_337, "tx_frames": 0, "paused_ns": 4_560_000})
    );
    assert_eq!(j["ports"][1]["priorities"].as_array().unwrap().len(), 8);
    assert_eq!(fake.received(), vec![Received::DataplaneCounters; 2]);
}

#[test]
fn show_queue_counters_per_port_and_queue() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "queue", "counters"]);
    assert_row(
        &out,
        &[
            "Port",
            "Queue",
            "Tx",
            "frames",
            "Tx",
            "bytes",
            "Dropped",
            "Discarded",
            "Depth",
            "Watermark",
            "Storms",
        ],
    );
    assert_row(
        &out,
        &["0/1", "3", "103", "64003", "6", "0", "4500", "9003", "0"],
    );
    assert_row(&out, &["1/1", "0", "0", "0", "0", "0", "0", "0", "0"]);
    let j = ok_json(&fake, &["show", "queue", "counters"]);
    assert_eq!(
        j["ports"][0]["queues"][3],
        json!({"queue": 3, "tx_frames": 103, "tx_bytes": 64_003, "dropped_frames": 6,
               "dropped_bytes": 0, "discarded_frames": 0, "depth_bytes": 4500,
               "watermark_bytes": 9003, "storms": 0, "stormed": false})
    );
}

#[test]
fn show_interfaces_joins_state_and_counters() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "interfaces"]);
    assert_row(&out, &["Switch", "1,", "control", "plane", "attached"]);
    assert_row(
        &out,
        &[
            "0/1", "up", "25G", "9216", "trunk", "10-12,20", "native", "1", "pfc", "3,4", "123456",
            "9876543", "654321", "12345678", "5", "11",
        ],
    );
    assert_row(
        &out,
        &[
            "0/2", "held", "down", "10G", "1500", "access", "30", "none", "-", "-", "-", "-", "-",
            "-",
        ],
    );
    assert_row(
        &out,
        &[
            "1/1", "up", "100G", "9216", "-", "none", "11", "0", "22", "0", "0", "0",
        ],
    );
    let j = ok_json(&fake, &["show", "interfaces"]);
    assert_eq!(j["unit"], 1);
    assert_eq!(j["control_attached"], true);
    assert_eq!(
        j["interfaces"][0],
        json!({"port": {"slot": 0, "port": 1}, "oper_up": true, "held_down": false,
               "speed_bps": 25_000_000_000u64, "mtu": 9216,
               "vlan": {"mode": "trunk", "native_vid": 1, "allowed": [10, 11, 12, 20]},
               "flow_control": "pfc", "pfc_priorities": [3, 4],
               "counters": {"rx_frames": 123_456, "rx_bytes": 9_876_543, "tx_frames": 654_321,
                            "tx_bytes": 12_345_678, "rx_malformed": 5,
                            "discards": {"rx_fcs": 4, "rx_vlan_discards": 7},
                            "discards_total": 11}})
    );
    assert_eq!(
        j["interfaces"][1]["vlan"],
        json!({"mode": "access", "vid": 30})
    );
    assert_eq!(j["interfaces"][1]["held_down"], true);
    assert_eq!(j["interfaces"][1]["counters"], Value::Null);
    let mut got = fake.received();
    got.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        got,
        vec![
            Received::DataplaneCounters,
            Received::DataplaneCounters,
            Received::DataplaneState {
                include_learned: false
            },
            Received::DataplaneState {
                include_learned: false
            },
        ]
    );
}

#[test]
fn show_mac_address_table_with_learned_entries() {
    let (_dir, fake) = start();
    let out = ok(&fake, &["show", "mac", "address-table"]);
    assert_row(
        &out,
        &["Vlan", "MAC", "address", "Type", "Port", "Age", "Stale"],
    );
    assert_row(
        &out,
        &["10", "00:aa:bb:cc:dd:ee", "dynamic", "3/0/7", "1m03s"],
    );
    assert_row(
        &out,
        &["20", "00:00:5e:00:53:01", "static", "1/0/1", "5s", "stale"],
    );
    assert_row(&out, &["Total", "MAC", "addresses:", "2"]);
    // By VLAN, then MAC.
    assert!(
        out.find("00:aa:bb:cc:dd:ee") < out.find("00:00:5e:00:53:01"),
        "{out}"
    );
    let j = ok_json(&fake, &["show", "mac", "address-table"]);
    assert_eq!(j["unit"], 1);
    assert_eq!(
        j["entries"],
        json!([
            {"vlan": 10, "mac": "00:aa:bb:cc:dd:ee", "type": "dynamic",
             "destination": {"kind": "remote", "unit": 3, "port": 7}, "age_ms": 63_000, "stale": false},
            {"vlan": 20, "mac": "00:00:5e:00:53:01", "type": "static",
             "destination": {"kind": "local", "slot": 0, "port": 1}, "age_ms": 5_000, "stale": true},
        ])
    );
    assert_eq!(
        fake.received(),
        vec![
            Received::DataplaneState {
                include_learned: true
            };
            2
        ]
    );
}
