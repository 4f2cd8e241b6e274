//! scratch
#![allow(missing_docs)]
use sim::stack::*;
fn main() {
    let mut spec = StackSpec::default();
    if let Some(a) = std::env::args().nth(1) {
        spec.units = a.parse().unwrap();
    }
    let t = std::time::Instant::now();
    let r = Stack::build(spec).unwrap().run().unwrap();
    println!("{r}");
    for u in &r.units {
        println!("{:?} {:?}", u.role_changes, u.control);
    }
    println!("wall {:?}", t.elapsed());
}
