//! Nonstop forwarding across a control-plane restart, and session arbitration: traffic between
//! two units loses nothing while unit 1's control session dies; the neighbour sees "control
//! detached" in the hellos; a new session reconciles (stale marking, re-write, sweep of exactly
//! what was not re-written); lower generations and stale writers are fenced off; a higher
//! generation takes over with ABORTED on the old stream.

mod daemon;

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use daemon::*;
use proto::dataplane::v1 as pb;
use tonic::Code;

const FRAMES: u32 = 2_000;
const FPS: u64 = 5_000;
const TAG: u8 = 9;

fn neighbor_control(
    m: &pb::session_response::Msg,
    attached: bool,
) -> Option<pb::NeighborControlEvent> {
    match m {
        pb::session_response::Msg::Event(pb::Event {
            kind: Some(pb::event::Kind::NeighborControl(n)),
        }) if n.attached == attached => Some(*n),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_restart_loses_nothing_and_reconciles() {
    let TwoUnits {
        u1,
        u2,
        a,
        b,
        c: _c,
        d: _d,
        mut c1,
        c2: _c2,
        s1,
        mut s2,
    } = two_units().await;

    // Two static entries besides the route and flood tree: 4 programmed entries on unit 1.
    let x = mac(9, 1);
    let y = mac(9, 2);
    write(
        &mut c1,
        1,
        vec![
            set(static_fdb(1, x, local(port(0, 2)))),
            set(static_fdb(1, y, remote(2, 2))),
        ],
    )
    .await
    .unwrap_or_else(|e| u1.fail(format!("static entries: {e}")));

    // Both hosts learned, so A→B is unicast over the stack.
    b.send(BROADCAST, 1, 0);
    a.recv_through("B's broadcast", |g| g.src == b.mac);

    // 2,000 numbered frames A→B at ~5k fps; the session dies halfway.
    let receiver = b.spawn_receiver(TAG, FRAMES - 1, Duration::from_secs(10));
    let (half_tx, half_rx) = std_mpsc::channel();
    // Half the frames are out once the one after the middle is about to go.
    let sender = a.spawn_paced_sender(b.mac, TAG, FRAMES, FPS, FRAMES / 2 + 1, move || {
        let _ = half_tx.send(());
    });
    tokio::task::spawn_blocking(move || half_rx.recv_timeout(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the sender reached half way");
    drop(s1); // the control plane dies: request stream and response stream gone
    sender.join().unwrap();
    let seqs: Vec<u32> = receiver
        .join()
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let want: Vec<u32> = (0..FRAMES).collect();
    if seqs != want {
        let missing = want.iter().filter(|s| !seqs.contains(s)).count();
        u1.fail(format!(
            "A→B lost {missing} of {FRAMES} frames or reordered them across the control-plane restart (got {})",
            seqs.len()
        ));
    }

    // Detached: unit 1 says so, and so do its hellos to unit 2.
    let mut c = c1.clone();
    let detached = poll_until(WAIT, || {
        let mut c = c.clone();
        async move {
            let r = read(&mut c, false).await;
            (!r.control_attached).then_some(r)
        }
    })
    .await
    .unwrap_or_else(|| u1.fail("Read still shows control_attached after the session died"));
    assert_eq!(detached.generation, 0);
    assert_eq!(detached.stack_routes.len(), 1, "nothing flushed on detach");
    assert_eq!(detached.fdb.len(), 2, "nothing flushed on detach");
    let n = s2
        .wait_for("NeighborControl attached=false on unit 2", WAIT, |m| {
            neighbor_control(m, false)
        })
        .await
        .unwrap_or_else(|e| u2.fail(e));
    assert_eq!((n.port, n.neighbor_unit), (Some(port(1, 1)), 1));
    let s = port_state(&read(&mut c, false).await, port(1, 1));
    assert!(s.oper_up, "the stack link stayed up");
    let _ = &mut c;

    // A new control plane, generation 2: everything is stale, warm.
    let mut s_2 = Session::attach(&mut c1, 2)
        .await
        .unwrap_or_else(|e| u1.fail(format!("attach generation 2: {e}")));
    assert_eq!(
        s_2.attached.stale_entries, 4,
        "route, flood tree, 2 static entries"
    );
    assert!(s_2.attached.warm);
    let r = read(&mut c1, false).await;
    assert!(r.control_attached && r.generation == 2);
    assert!(r.stack_routes.iter().all(|x| x.stale) && r.flood_tree_stale);
    assert!(r.fdb.iter().all(|e| e.stale && e.is_static) && r.fdb.len() == 2);
    s2.wait_for("NeighborControl attached=true on unit 2", WAIT, |m| {
        neighbor_control(m, true)
    })
    .await
    .unwrap_or_else(|e| u2.fail(e));

    // A lower generation cannot attach; the old generation cannot write.
    let err = Session::attach(&mut c1, 1)
        .await
        .err()
        .expect("generation 1 refused");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("generation"), "{err}");
    let before = timeless(read(&mut c1, true).await);
    let err = write(&mut c1, 1, vec![delete(route(2, port(1, 1), None))])
        .await
        .expect_err("a write of generation 1 is fenced off");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert_eq!(
        timeless(read(&mut c1, true).await),
        before,
        "a fenced write changed something"
    );

    // Re-write the route and the flood tree, not the static entries; done: those two are swept.
    write(&mut c1, 2, stack_program(2, 1, None))
        .await
        .unwrap_or_else(|e| u1.fail(format!("re-write: {e}")));
    s_2.send(pb::session_request::Msg::ReconcileDone(
        pb::ReconcileDone {},
    ))
    .await;
    let swept = s_2
        .wait_for("Swept", WAIT, |m| match m {
            pb::session_response::Msg::Swept(s) => Some(s.clone()),
            _ => None,
        })
        .await
        .unwrap_or_else(|e| u1.fail(e));
    assert_eq!(swept.entries, 2, "{swept:?}");
    assert_eq!(swept.reason, "reconcile_done");
    let r = read(&mut c1, false).await;
    assert_eq!(r.stack_routes.len(), 1);
    assert!(!r.stack_routes[0].stale && !r.flood_tree_stale);
    assert_eq!(
        r.flood_tree.as_ref().map(|f| f.ports.clone()),
        Some(vec![port(1, 1)])
    );
    assert!(r.fdb.is_empty(), "static entries not swept: {:?}", r.fdb);
    assert!(r.ports.iter().all(|p| !p.stale));

    // Generation 3 takes over: generation 2's stream ends with ABORTED.
    let _s_3 = Session::attach(&mut c1, 3)
        .await
        .unwrap_or_else(|e| u1.fail(format!("attach generation 3: {e}")));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, s_2.responses.message()).await {
            Err(_) => u1.fail("generation 2's stream did not end after the takeover"),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => u1.fail("generation 2's stream ended without ABORTED"),
            Ok(Err(status)) => {
                assert_eq!(status.code(), Code::Aborted, "{status}");
                break;
            }
        }
    }
    let r = read(&mut c1, false).await;
    assert_eq!(r.generation, 3);
}
