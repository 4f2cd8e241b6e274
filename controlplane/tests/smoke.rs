use controlplane::harness::{Harness, UnitSpec};

#[test]
fn ring_of_six_converges() {
    let specs = (1..=6)
        .map(|m| UnitSpec::new(0x0200_0000_0000 + m, 1))
        .collect();
    let mut h = Harness::line(1, specs, true, 1);
    assert!(h.settle());
    for i in 0..6 {
        println!(
            "{:?}",
            h.view(i)
                .map(|v| (v.unit, v.role, v.master, v.epoch, v.active, v.kind))
        );
    }
    h.check_one_master().unwrap();
    let comps = h.components();
    assert_eq!(comps.len(), 1);
    h.check_forwarding(&comps[0]).unwrap();
}
