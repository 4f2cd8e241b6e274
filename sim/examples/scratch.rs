//! scratch
#![allow(missing_docs)]
use sim::stack::*;
use sim::unit::UnitRecord;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let spec = sim::model::load(std::path::Path::new(&path)).unwrap();
    let mut st = Stack::build(spec).unwrap();
    let r = st.run().unwrap();
    println!("{r}");
    for u in 1..=st.spec().units {
        let n = st.unit_node(u).unwrap();
        let unit = st.world().unit(n).unwrap();
        let e = unit.engine();
        for rec in unit.log() {
            if let UnitRecord::Engine(t, ev) = rec {
                if let dataplane::Event::LosslessDrop { port, pg } = ev {
                    let c = e.pg_counters(*port, *pg as usize).unwrap();
                    println!("unit {u} {t} drop {} pg {pg}: {:?}", e.port_name(*port), c);
                }
            }
        }
    }
}
