//! The RoCE-without-PFC claim: go-back-N traffic on a lossy priority is fine on a quiet network,
//! collapses under an incast, and is lossless at full goodput with PFC and the computed headroom.
#![allow(missing_docs)]

use sim::model::roce::{run_roce, RoceConfig};

#[test]
fn roce_without_pfc_collapses_under_incast_and_pfc_fixes_it() {
    let r = run_roce(RoceConfig {
        senders: 4,
        speed_gbps: 10,
        duration_ms: 1,
        ..RoceConfig::default()
    })
    .expect("runs");
    let [quiet, lossy, pfc] = &r.rows[..] else {
        panic!("three rows: {r}");
    };
    assert_eq!((quiet.drops, quiet.retransmitted), (0, 0), "{r}");
    assert!(quiet.efficiency > 0.999 && quiet.goodput_gbps > 9.0, "{r}");
    assert!(lossy.drops > 0 && lossy.retransmitted > 0, "{r}");
    assert!(lossy.goodput_gbps < quiet.goodput_gbps / 2.0, "{r}");
    assert!(lossy.efficiency < 0.5, "{r}");
    assert_eq!((pfc.drops, pfc.retransmitted), (0, 0), "{r}");
    assert!(pfc.goodput_gbps > 0.95 * quiet.goodput_gbps, "{r}");
    assert!(pfc.completion_us > 0, "every connection completed: {r}");
    let svg = r.plot();
    assert!(svg.contains("incast, PFC") && svg.ends_with("</svg>\n"));
}
