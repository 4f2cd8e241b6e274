//! Property tests (seeded via `PROPTEST_RNG_SEED`, see `.cargo/config.toml`): convergence of
//! every ring and chain of 1..=6 units, loop-free forwarding, and a wire parser that never
//! panics.

use std::time::Duration;

use controlplane::harness::{Harness, UnitSpec};
use controlplane::wire::{self, Adjacency, Advert, Body, Message};
use controlplane::{
    LinkState, Persisted, Role, StackConfig, StackManager, StackPort, TopologyKind,
};
use dataplane::time::Instant;
use proptest::prelude::*;

const BASE: u64 = 0x0200_0000_0000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any ring or chain of 1..=6 units, any priorities, any boot order and spacing (units
    /// cabled as they boot), any seed: one master that every active unit agrees on, a loop-free
    /// flood tree and routes to every unit.
    #[test]
    fn rings_and_chains_converge(
        n in 1usize..=6,
        ring in any::<bool>(),
        links in 1u8..=2,
        priorities in proptest::collection::vec(0u8..=3, 6),
        order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        gaps in proptest::collection::vec(0u64..8, 6),
        seed in any::<u64>(),
    ) {
        let mut h = Harness::new(seed);
        let order: Vec<usize> = order.into_iter().filter(|&i| i < n).collect();
        let mut idx = vec![usize::MAX; n];
        for &pos in &order {
            h.run_for(Duration::from_millis(300 * gaps[pos]));
            idx[pos] = h.add_unit(
                UnitSpec::new(BASE + 1 + pos as u64, priorities[pos]).with_ports(2 * links),
            );
            // Cable it to its already-booted neighbours in the line.
            let mut nbrs = vec![];
            if pos > 0 { nbrs.push((pos - 1, false)); }
            if pos + 1 < n { nbrs.push((pos + 1, true)); }
            if ring && n >= 3 && pos == 0 { nbrs.push((n - 1, false)); }
            if ring && n >= 3 && pos == n - 1 { nbrs.push((0, true)); }
            for (nb, nb_is_next) in nbrs {
                if idx[nb] == usize::MAX { continue; }
                // Port k towards the next unit, links + k towards the previous one.
                for k in 0..links {
                    let (mine, theirs) = if nb_is_next { (k, links + k) } else { (links + k, k) };
                    h.connect(idx[pos], StackPort(mine), idx[nb], StackPort(theirs));
                }
            }
        }
        prop_assert!(h.settle());
        h.check_one_master().map_err(TestCaseError::fail)?;
        let comps = h.components();
        prop_assert_eq!(comps.len(), 1);
        let any_eligible = priorities[..n].iter().any(|&p| p > 0);
        for i in 0..n {
            let v = h.view(i).unwrap();
            prop_assert_eq!(v.active, any_eligible);
            prop_assert_eq!(v.members.len(), n);
            let kind = match (n, ring && n >= 3) {
                (1, _) => TopologyKind::Single,
                (_, true) => TopologyKind::Ring,
                _ => TopologyKind::Chain,
            };
            prop_assert_eq!(v.kind, kind);
            if let Some(m) = v.master {
                let pos = (m - BASE - 1) as usize;
                prop_assert!(priorities[pos] > 0, "priority 0 never master");
            }
        }
        if any_eligible {
            h.check_forwarding(&comps[0]).map_err(TestCaseError::fail)?;
            let mut units: Vec<u8> = (0..n).map(|i| h.view(i).unwrap().unit).collect();
            units.sort();
            prop_assert_eq!(units, (1..=n as u8).collect::<Vec<_>>());
        }
    }

    /// Arbitrary bytes into a running manager never panic, with or without a key.
    #[test]
    fn arbitrary_bytes_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20),
        keyed in any::<bool>(),
    ) {
        let mut cfg = StackConfig::new(BASE + 1, Persisted { unit: 1, priority: 1 }, vec![StackPort(0)]);
        if keyed { cfg.key = Some(b"k".to_vec()); }
        let mut m = StackManager::new(cfg, Instant::ZERO);
        m.handle_link(Instant::ZERO, StackPort(0), LinkState::Up);
        let mut t = Instant::ZERO;
        for f in &frames {
            t += Duration::from_millis(10);
            let _ = m.handle_message(t, StackPort(0), f);
            let _ = m.handle_message(t, StackPort(9), f);
            m.handle_timeout(t);
        }
        while m.poll_transmit().is_some() {}
    }

    /// Valid messages with bytes flipped never panic either (and decode or fail cleanly).
    #[test]
    fn mutated_messages_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = wire::encode(&sample(BASE + 2, 3, 5), None);
        for (pos, x) in flips {
            let len = bytes.len();
            bytes[pos % len] ^= x;
        }
        let _ = wire::decode(&bytes, None);
        let mut m = StackManager::new(
            StackConfig::new(BASE + 1, Persisted { unit: 1, priority: 1 }, vec![StackPort(0)]),
            Instant::ZERO,
        );
        m.handle_link(Instant::ZERO, StackPort(0), LinkState::Up);
        let _ = m.handle_message(Instant::ZERO, StackPort(0), &bytes);
    }
}

/// A master advert from `origin` at `epoch` with sequence `seq`, adjacent to BASE + 1 on its
/// port 0 (our port 0), assigning BASE + 1 a unit number of `epoch`.
fn sample(origin: u64, epoch: u32, seq: u32) -> Message {
    Message {
        sender: origin,
        sender_port: StackPort(0),
        body: Body::Advert(Advert {
            origin,
            seq,
            uptime_ms: 10_000,
            unit: 1,
            priority: 1,
            role: Role::Master,
            held: false,
            complete: false,
            version: 0,
            config_version: 0,
            epoch,
            master: origin,
            standby: 0,
            standby_rule: 0,
            adjacencies: vec![Adjacency {
                port: StackPort(0),
                neighbour: BASE + 1,
                neighbour_port: StackPort(0),
            }],
            assignments: vec![(origin, 1), (BASE + 1, (epoch % 6) as u8 + 1)],
            grace: vec![],
        }),
    }
}

/// Directives from a master with a lower epoch than the one followed are ignored.
#[test]
fn stale_master_directives_are_ignored() {
    let me = BASE + 1;
    let cfg = StackConfig::new(
        me,
        Persisted {
            unit: 0,
            priority: 1,
        },
        vec![StackPort(0), StackPort(1)],
    );
    let mut m = StackManager::new(cfg, Instant::ZERO);
    let t = Instant::ZERO + Duration::from_millis(1);
    m.handle_link(t, StackPort(0), LinkState::Up);
    m.handle_link(t, StackPort(1), LinkState::Up);
    // The current master (epoch 5) on port 0.
    let current = sample(BASE + 2, 5, 1);
    m.handle_message(t, StackPort(0), &wire::encode(&current, None))
        .unwrap();
    let v = m.view(t);
    assert_eq!(v.master, Some(BASE + 2));
    assert_eq!((v.epoch, v.unit, v.role), (5, 6, Role::Member));
    // A stale master (epoch 3) on port 1 claims us with another unit number.
    let mut stale = sample(BASE + 3, 3, 1);
    stale.sender_port = StackPort(0);
    if let Body::Advert(a) = &mut stale.body {
        a.adjacencies[0].neighbour_port = StackPort(1);
    }
    m.handle_message(t, StackPort(1), &wire::encode(&stale, None))
        .unwrap();
    let v = m.view(t);
    assert_eq!(v.members.len(), 3);
    assert_eq!(v.master, Some(BASE + 2));
    assert_eq!((v.epoch, v.unit, v.role), (5, 6, Role::Member));
}

/// A keyed manager refuses unkeyed and wrongly keyed messages and learns nothing from them.
#[test]
fn keyed_manager_refuses_unkeyed_messages() {
    let mut cfg = StackConfig::new(
        BASE + 1,
        Persisted {
            unit: 0,
            priority: 1,
        },
        vec![StackPort(0)],
    );
    cfg.key = Some(b"k".to_vec());
    let mut m = StackManager::new(cfg, Instant::ZERO);
    m.handle_link(Instant::ZERO, StackPort(0), LinkState::Up);
    let msg = sample(BASE + 2, 1, 1);
    assert!(m
        .handle_message(Instant::ZERO, StackPort(0), &wire::encode(&msg, None))
        .is_err());
    assert!(m
        .handle_message(Instant::ZERO, StackPort(0), &wire::encode(&msg, Some(b"x")))
        .is_err());
    assert_eq!(m.view(Instant::ZERO).members.len(), 1);
    m.handle_message(Instant::ZERO, StackPort(0), &wire::encode(&msg, Some(b"k")))
        .unwrap();
    assert_eq!(m.view(Instant::ZERO).members.len(), 2);
}
