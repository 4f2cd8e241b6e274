//! Two `dataplaned` units on a UDP stack cable, programmed over gRPC: flooding across the stack
//! reaches every other front port exactly once, unicast follows what was learned, and Read
//! shows local and remote learned entries on both units.

mod daemon;

use daemon::*;

/// Reads every host's frames up to `marker` (a frame from `src` with `tag`); returns the
/// frames before it.
fn before_marker(h: &Host, src: dataplane::wire::MacAddr, tag: u8) -> Vec<Got> {
    let mut got = h.recv_through(&format!("marker {tag} from {src}"), |g| {
        g.src == src && g.tag == tag
    });
    got.pop();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_and_unicast_across_the_stack() {
    let t = two_units().await;
    let (a, b, c, d) = (&t.a, &t.b, &t.c, &t.d);

    // A broadcast from A: once at C, B and D, never back at A. A second broadcast is the
    // marker: what the first one caused is in front of it (one forwarding thread per unit, FIFO
    // cables).
    a.send(BROADCAST, 1, 1);
    a.send(BROADCAST, 2, 2);
    for h in [c, b, d] {
        let got = before_marker(h, a.mac, 2);
        let copies = got
            .iter()
            .filter(|g| g.src == a.mac && g.tag == 1 && g.dst == BROADCAST)
            .count();
        assert_eq!(
            copies, 1,
            "{} got A's broadcast {copies} times: {got:?}",
            h.name
        );
    }
    // B answers A by unicast: only A gets it.
    b.send(a.mac, 3, 3);
    let got = a.recv_through("B's unicast answer", |g| g.src == b.mac && g.tag == 3);
    assert_eq!(got.len(), 1, "A got more than the answer: {got:?}");
    // A to B, unicast now that both are learned: only B; C and D see nothing before the next
    // broadcast marker from A.
    a.send(b.mac, 4, 4);
    a.send(BROADCAST, 5, 5);
    let got = before_marker(b, a.mac, 5);
    assert_eq!(
        got,
        vec![Got {
            dst: b.mac,
            src: a.mac,
            tag: 4,
            seq: 4
        }],
        "B"
    );
    for h in [c, d] {
        let got = before_marker(h, a.mac, 5);
        assert!(
            got.is_empty(),
            "{} saw unicast that was not for it: {got:?}",
            h.name
        );
    }
    // And A saw nothing of its own frames (no loop back through the stack).
    let got = a.recv_until(std::time::Instant::now() + std::time::Duration::from_millis(50));
    assert_eq!(got, None, "A received something back");

    // What each unit learned: its own host local, the other's remote {unit, port}.
    let (mut c1, mut c2) = (t.c1.clone(), t.c2.clone());
    let r1 = read(&mut c1, true).await;
    let r2 = read(&mut c2, true).await;
    let check =
        |r: &pb_read::ReadResponse, here: &Host, there: &Host, other_unit: u32, d: &Daemon| {
            let l = fdb_entry(r, 1, here.mac)
                .unwrap_or_else(|| d.fail(format!("{} not learned: {:?}", here.name, r.fdb)));
            assert_eq!(
                dest_of(&l),
                local(port(0, 1)),
                "{} on unit {}",
                here.name,
                d.unit
            );
            assert!(!l.is_static && !l.stale);
            let rm = fdb_entry(r, 1, there.mac)
                .unwrap_or_else(|| d.fail(format!("{} not learned: {:?}", there.name, r.fdb)));
            assert_eq!(
                dest_of(&rm),
                remote(other_unit, 1),
                "{} on unit {}",
                there.name,
                d.unit
            );
            assert!(!rm.is_static);
        };
    check(&r1, a, b, 2, &t.u1);
    check(&r2, b, a, 1, &t.u2);
    // Without include_learned, nothing learned is listed.
    assert!(read(&mut c1, false).await.fdb.is_empty());
    assert!(r1.control_attached && r1.generation == 1 && r1.unit == 1);
}

mod pb_read {
    pub use proto::dataplane::v1::ReadResponse;
}
