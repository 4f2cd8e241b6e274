//! Three units (a `dataplaned` and a `stackd` each) on UDP cables in a ring: they elect one
//! master and one standby that all agree on, forward between hosts on different units, and
//! when the master unit's processes are killed the standby becomes master.

use std::time::Duration;

use proto::stack::v1 as pb;
use sim::launch::{LaunchSpec, Stack, Topology};
use stackd_tests::{
    bin_dir, converged, converged_ring, converged_ring_with, frame, host_on, receive_tagged,
    test_dir, unit_of, wait_for_stack, wait_lossless,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_units_elect_forward_and_survive_the_master() {
    let (mut stack, sockets, views) = converged_ring("ring3", 3).await;
    let master = views[0].master_mac;
    let master_unit = unit_of(&views[0], master);
    let standby = views[0]
        .members
        .iter()
        .find(|m| m.role == pb::Role::Standby as i32)
        .unwrap()
        .mac;
    let mut units: Vec<u32> = views[0].members.iter().map(|m| m.unit).collect();
    units.sort();
    assert_eq!(units, vec![1, 2, 3], "unit numbers: {views:#?}");

    // stackctl shows the same table: three units, one master, one standby.
    let out = std::process::Command::new(bin_dir().join("stackctl"))
        .arg("--socket")
        .arg(&sockets[0])
        .args(["show", "switch"])
        .output()
        .expect("run stackctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stackctl: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let roles: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.trim_start_matches(['*', ' '])
                .starts_with(|c: char| c.is_ascii_digit())
        })
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let count = |r: &str| roles.iter().filter(|x| **x == r).count();
    assert_eq!(roles.len(), 3, "{text}");
    assert_eq!(
        (count("Master"), count("Standby"), count("Member")),
        (1, 1, 1),
        "{text}"
    );

    // The warm standby holds the master's state, and both ends say so.
    let standby_unit = unit_of(&views[0], standby);
    let checkpoint = |unit: u8| {
        let out = std::process::Command::new(bin_dir().join("stackctl"))
            .arg("--socket")
            .arg(&sockets[usize::from(unit - 1)])
            .args(["--json", "show", "checkpoint", "statistics"])
            .output()
            .expect("run stackctl");
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let on_master = loop {
        let c = checkpoint(master_unit);
        if c["in_sync"] == serde_json::json!(true) || std::time::Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(on_master["side"], "master", "{on_master}");
    assert_eq!(on_master["in_sync"], true, "{on_master}");
    assert_eq!(
        on_master["peer_unit"],
        u32::from(standby_unit),
        "{on_master}"
    );
    assert_eq!(on_master["units"], 3, "{on_master}");
    assert!(on_master["syncs"].as_u64() >= Some(1), "{on_master}");
    let on_standby = checkpoint(standby_unit);
    assert_eq!(on_standby["side"], "standby", "{on_standby}");
    assert_eq!(on_standby["version"], on_master["version"], "{on_standby}");

    // Hosts on the two units that are not the master talk through the stack.
    let others: Vec<u8> = (1..=3).filter(|u| *u != master_unit).collect();
    let host = |u: u8| host_on(&stack, u);
    let (a, b) = (host(others[0]), host(others[1]));
    let (mac_a, mac_b) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
    // A flooded frame from a teaches the stack where a is and reaches b; b answers unicast.
    a.send(&frame([0xff; 6], mac_a, 1)).unwrap();
    assert!(
        receive_tagged(&b, 1),
        "flooded frame did not cross the stack"
    );
    b.send(&frame(mac_a, mac_b, 2)).unwrap();
    assert!(
        receive_tagged(&a, 2),
        "unicast reply did not cross the stack"
    );

    // The master unit dies: the standby becomes master; the survivors still forward.
    stack.kill_unit(master_unit).unwrap();
    let survivors: Vec<_> = others
        .iter()
        .map(|u| sockets[usize::from(*u - 1)].clone())
        .collect();
    let views = wait_for_stack(&survivors, Duration::from_secs(10), |v| {
        v.iter()
            .all(|x| x.master_mac == standby && x.active && x.members.len() == 2)
    })
    .await;
    assert!(views.iter().all(|v| v.epoch >= 2), "{views:#?}");
    a.send(&frame(mac_b, mac_a, 3)).unwrap();
    assert!(receive_tagged(&b, 3), "no forwarding after the failover");
    stack.stop();
}

/// Secure stacking with real processes: two units share a stack key, the third has none (and
/// the highest priority). The keyed pair forms a stack; the third can neither join it nor win
/// its election, and stays a stack of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_without_the_stack_key_is_kept_out() {
    let dir = test_dir("key");
    let key = dir.join("stack.key");
    std::fs::write(&key, "correct horse battery staple\n").unwrap();
    let mut spec = LaunchSpec::new(3, Topology::Ring, dir.clone());
    spec.bin_dir = bin_dir();
    spec.priorities = vec![1, 1, 255];
    for u in [1, 2] {
        spec.stackd_extra
            .push((u, vec!["--key-file".into(), key.display().to_string()]));
    }
    let mut stack = Stack::start(&spec).expect("launch the stack");
    let sockets: Vec<_> = stack.stackd_sockets();
    let keyed = wait_for_stack(&sockets[..2], Duration::from_secs(10), |v| converged(v, 2)).await;
    let intruder = stackd_tests::stackd(&sockets[2])
        .await
        .show_switch(pb::ShowSwitchRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(intruder.members.len(), 1, "{intruder:#?}");
    for v in &keyed {
        assert!(
            v.members.iter().all(|m| m.mac != intruder.local_mac),
            "the unkeyed unit got in: {v:#?}"
        );
        assert_ne!(v.master_mac, intruder.local_mac);
    }
    stack.stop();
}

/// Nonstop forwarding with real processes: the master's `stackd` is killed (kill -9) and
/// started again. Its dataplane keeps forwarding; the other units keep it as master through
/// the grace period (no election, the epoch stays); the restarted `stackd` resumes as master
/// from its checkpoint; hosts on two units exchange frames throughout without a loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_masters_stackd_restarts_without_an_election_or_a_lost_frame() {
    let (mut stack, sockets, views) = converged_ring("nsf", 3).await;
    let (master, epoch) = (views[0].master_mac, views[0].epoch);
    let master_unit = unit_of(&views[0], master);
    let others: Vec<u8> = (1..=3).filter(|u| *u != master_unit).collect();
    let host = |u: u8| host_on(&stack, u);
    let (a, b) = (host(others[0]), host(others[1]));
    let (mac_a, mac_b) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
    a.send(&frame([0xff; 6], mac_a, 1)).unwrap();
    assert!(receive_tagged(&b, 1));
    b.send(&frame(mac_a, mac_b, 2)).unwrap();
    assert!(receive_tagged(&a, 2));

    stack.unit(master_unit).unwrap().stackd.kill();
    // Past the 1 s advert hold time: without the grace period the master would be gone.
    for tag in 10u8..25 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.send(&frame(mac_b, mac_a, tag)).unwrap();
        assert!(
            receive_tagged(&b, tag),
            "frame {tag} lost while the master's stackd was down"
        );
    }
    let survivors: Vec<_> = others
        .iter()
        .map(|u| sockets[usize::from(*u - 1)].clone())
        .collect();
    let views = wait_for_stack(&survivors, Duration::from_secs(2), |v| {
        v.iter()
            .all(|x| x.master_mac == master && x.epoch == epoch && x.active)
    })
    .await;
    assert!(views.iter().all(|v| v.members.len() == 3), "{views:#?}");

    stack.unit(master_unit).unwrap().stackd.start().unwrap();
    stack
        .unit(master_unit)
        .unwrap()
        .stackd
        .wait_serving(Duration::from_secs(10))
        .unwrap();
    let views = wait_for_stack(&sockets, Duration::from_secs(10), |v| {
        converged(v, 3) && v.iter().all(|x| x.master_mac == master && x.epoch == epoch)
    })
    .await;
    let nsf = stackd_tests::stackd(&sockets[usize::from(master_unit - 1)])
        .await
        .show_nsf(pb::ShowNsfRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nsf.last_startup, "warm", "{nsf:#?}");
    a.send(&frame(mac_b, mac_a, 99)).unwrap();
    assert!(
        receive_tagged(&b, 99),
        "no forwarding after the restart: {views:#?}"
    );
    stack.stop();
}

/// A member's `dataplaned` dies and is started again, empty: its `stackd` reconnects and
/// programs it again (routes, flood tree, and the stack configuration's lossless priority 3),
/// and its host reaches the other units again. The other units keep forwarding between
/// themselves throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_dataplane_is_programmed_again_by_its_stackd() {
    let (mut stack, sockets, views) =
        converged_ring_with("dp-restart", 3, |s| s.lossless = vec![3]).await;
    for u in &stack.units {
        wait_lossless(&u.dataplane_socket, 3, Duration::from_secs(5))
            .await
            .unwrap();
    }
    let master = views[0].master_mac;
    let master_unit = unit_of(&views[0], master);
    let victim = (1..=3).find(|u| *u != master_unit).unwrap();
    let host = |u: u8| host_on(&stack, u);
    let (m, v) = (host(master_unit), host(victim));
    let (mac_m, mac_v) = ([2, 0, 0, 0, 0, 0x1], [2, 0, 0, 0, 0, 0x2]);
    m.send(&frame([0xff; 6], mac_m, 1)).unwrap();
    assert!(receive_tagged(&v, 1));

    let unit = stack.unit(victim).unwrap();
    unit.dataplaned.kill();
    unit.dataplaned.start().unwrap();
    unit.dataplaned
        .wait_serving(Duration::from_secs(10))
        .unwrap();
    let dp_socket = unit.dataplane_socket.clone();
    // Its stackd reconnects and programs it; flooding and unicast cross the stack again.
    let mut ok = false;
    for tag in 2u8..60 {
        v.send(&frame([0xff; 6], mac_v, tag)).unwrap();
        if receive_tagged(&m, tag) {
            ok = true;
            break;
        }
    }
    assert!(ok, "the restarted dataplane was not programmed again");
    m.send(&frame(mac_v, mac_m, 99)).unwrap();
    assert!(receive_tagged(&v, 99));
    // It came back with the dataplane's lossy defaults; stackd made priority 3 lossless again.
    wait_lossless(&dp_socket, 3, Duration::from_secs(5))
        .await
        .unwrap();
    let views = wait_for_stack(&sockets, Duration::from_secs(10), |v| converged(v, 3)).await;
    assert!(views.iter().all(|x| x.master_mac == master), "{views:#?}");

    // A change on the master (its file edited, SIGHUP) replicates, and every unit programs it.
    let file = stack.dir.join("stack.toml");
    std::fs::write(&file, sim::launch::lossless_stack_config(&[4])).unwrap();
    let pid = stack.unit(master_unit).unwrap().stackd.pid().unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    for u in &stack.units {
        wait_lossless(&u.dataplane_socket, 4, Duration::from_secs(5))
            .await
            .unwrap();
        let left = stackd_tests::ports_not_lossless(&u.dataplane_socket, 3)
            .await
            .unwrap();
        assert!(!left.is_empty(), "priority 3 is still lossless everywhere");
    }

    // A bad file is refused with its place and changes nothing.
    std::fs::write(
        &file,
        "[lossless]\npriorities = [5]\nxoff_bytes = 1000\nxon_bytes = 2000\n",
    )
    .unwrap();
    let log = stack.unit(master_unit).unwrap().stackd.log().to_path_buf();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let want = "stack.toml:4:13: lossless.xon_bytes: 2000: expected less than xoff_bytes (1000)";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(want)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no '{want}' in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for u in &stack.units {
        wait_lossless(&u.dataplane_socket, 4, Duration::from_secs(1))
            .await
            .unwrap();
    }
    stack.stop();
}
