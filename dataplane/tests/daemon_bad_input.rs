//! Bad input never panics the daemon nor loses what is programmed (DESIGN.md §7.7): refused
//! writes name their field and change nothing, malformed frames are counted and forwarding goes
//! on, a session must start with attach, and bad configuration or flags fail with a clear error.

mod daemon;

use std::process::Command;

use daemon::*;
use proto::dataplane::v1 as pb;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_name_the_field_and_change_nothing() {
    let a = Host::new("A", mac(1, 1));
    let c = Host::new("C", mac(1, 2));
    let (s, peer) = (free_addr(), free_addr());
    let u1 = Daemon::start(
        1,
        &[
            a.port_spec("0/1", "10G"),
            c.port_spec("0/2", "10G"),
            format!("1/1,10G,udp,{s},{peer}"),
        ],
        &[],
    );
    let mut c1 = u1.client().await;
    let _s = Session::attach(&mut c1, 1).await.expect("attach");
    let mut program = stack_program(2, 1, None);
    program.push(set(static_fdb(1, mac(9, 1), local(port(0, 2)))));
    write(&mut c1, 1, program)
        .await
        .unwrap_or_else(|e| u1.fail(e));
    let before = timeless(read(&mut c1, false).await);

    // A good update first in each batch: the batch is atomic, so it must not be applied either.
    let good = set(static_fdb(1, mac(9, 2), local(port(0, 1))));
    let mut bad_pfc = port_state(&before, port(0, 1)).settings.expect("settings");
    bad_pfc.flow_control = pb::FlowControl::Pfc as i32;
    bad_pfc.pfc_enabled = 1 << 3;
    bad_pfc.priority_to_pg[3] = 3;
    bad_pfc.pgs[3].lossless = Some(pb::LosslessThresholds {
        xoff_bytes: 20_000,
        xon_bytes: 20_000,
        headroom_bytes: 20_000,
    });
    let cases: Vec<(&str, pb::Update, &str)> = vec![
        (
            "PFC profile with XON = XOFF",
            set(Entity::Port(bad_pfc)),
            "updates[1].port.pgs[3].xon",
        ),
        (
            "static entry on VLAN 4095",
            set(static_fdb(4095, mac(9, 3), local(port(0, 1)))),
            "updates[1].fdb.vid",
        ),
        (
            "stack route over a front port",
            set(route(2, port(0, 1), None)),
            "updates[1].stack_route",
        ),
        (
            "DELETE of a port",
            delete(Entity::Port(pb::PortSettings {
                port: Some(port(0, 1)),
                ..Default::default()
            })),
            "updates[1].op",
        ),
    ];
    for (what, update, field) in cases {
        let err = write(&mut c1, 1, vec![good.clone(), update])
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err}");
        assert!(
            err.message().starts_with(field),
            "{what}: the message does not name {field}: {err}"
        );
        assert_eq!(
            timeless(read(&mut c1, false).await),
            before,
            "{what}: a refused write changed something"
        );
    }

    // Malformed frames: counted, and forwarding goes on.
    a.send_raw(&[0u8; 5]);
    a.send_raw(&[0xffu8; 13]);
    a.send(c.mac, 1, 1);
    let got = c.recv_through("A's frame after the malformed ones", |g| g.src == a.mac);
    assert_eq!(got.len(), 1);
    let pc = port_counters(&counters(&mut c1).await, port(0, 1));
    assert_eq!(pc.rx_malformed, 2, "{pc:?}");
    assert_eq!(
        timeless(read(&mut c1, false).await).stack_routes,
        before.stack_routes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_must_start_with_attach() {
    let a = Host::new("A", mac(1, 1));
    let u1 = Daemon::start(1, &[a.port_spec("0/1", "10G")], &[]);
    let mut c1 = u1.client().await;
    let first = pb::SessionRequest {
        msg: Some(pb::session_request::Msg::ReconcileDone(
            pb::ReconcileDone {},
        )),
    };
    let err = open_session(&mut c1, first)
        .await
        .err()
        .unwrap_or_else(|| u1.fail("a session opened with ReconcileDone was accepted"));
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("attach"), "{err}");
    let err = Session::attach(&mut c1, 0)
        .await
        .err()
        .expect("generation 0");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("generation"), "{err}");
    // And the daemon still takes a proper session.
    Session::attach(&mut c1, 1)
        .await
        .unwrap_or_else(|e| u1.fail(format!("attach after refusals: {e}")));
}

#[test]
fn bad_config_and_flags_fail_clearly() {
    let dir = temp_dir("badcfg");
    let cfg = dir.join("dataplaned.toml");
    // Line 3, column 8: an unterminated string.
    std::fs::write(&cfg, "unit = 1\n[[port]]\nport = \"0/1\nspeed = \"10G\"\n").unwrap();
    let out = Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run dataplaned");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit status; stderr: {stderr}");
    let at = format!("{}:3:", cfg.display());
    assert!(
        stderr.contains(&at),
        "stderr does not name {at}LINE:COLUMN: {stderr}"
    );

    let out = Command::new(bin())
        .args(["--unit", "1", "--frobnicate"])
        .output()
        .expect("run dataplaned");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unexpected argument '--frobnicate'"),
        "clap's message: {stderr}"
    );

    let out = Command::new(bin())
        .args(["--unit", "1", "--port", "0/1,10G,udp,127.0.0.1:1"])
        .output()
        .expect("run dataplaned");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--port"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
