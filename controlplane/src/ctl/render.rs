//! The tables `stackctl` prints for people, from the same data as `--json` ([`super::json`]).

use super::format::{duration_ms, duration_ns, list, or_dash, speed, yes_no};
use super::json::{
    Checkpoint, Destination, Done, EntryType, FlowControl, Interfaces, MacTable, Nsf, Output,
    PfcCounters, QueueCounters, StackPaths, StackPorts, Switch, Vlan,
};
use super::table::{key_values, Align, Table};

use Align::{Left as L, Right as R};

/// `output` as text for people (ends in a newline).
pub fn render(output: &Output) -> String {
    match output {
        Output::Switch(s) => switch(s),
        Output::StackPorts(p) => stack_ports(p),
        Output::StackPaths(p) => stack_paths(p),
        Output::Nsf(n) => nsf(n),
        Output::Checkpoint(c) => checkpoint(c),
        Output::Pfc(p) => pfc(p),
        Output::Queues(q) => queues(q),
        Output::Interfaces(i) => interfaces(i),
        Output::MacTable(m) => mac_table(m),
        Output::Done(Done { message }) => format!("{message}\n"),
    }
}

/// `ready` → `Ready`.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase().chain(c).collect::<String>()
    })
}

fn switch(s: &Switch) -> String {
    let stack_mac = match (s.master_mac, s.master_unit) {
        (Some(mac), Some(unit)) => format!("{mac} (master: switch {unit})"),
        (Some(mac), None) => format!("{mac} (master)"),
        (None, _) => "none (no master yet)".to_string(),
    };
    let mut header = vec![
        ("Switch/Stack MAC address", stack_mac),
        ("Master epoch", s.epoch.to_string()),
        ("Topology", s.topology.clone()),
    ];
    if !s.active {
        header.push((
            "Front ports",
            "HELD DOWN: this unit is not in the active part of the stack".to_string(),
        ));
    }
    let mut t = Table::new(&[
        ("Switch#", L),
        ("Role", L),
        ("MAC address", L),
        ("Priority", R),
        ("Uptime", R),
        ("State", L),
        ("Version", L),
    ]);
    for m in &s.members {
        t.row(vec![
            format!("{}{}", if m.local { "*" } else { " " }, or_dash(m.unit)),
            m.role.name().to_string(),
            m.mac.to_string(),
            m.priority.to_string(),
            duration_ms(m.uptime_ms),
            capitalised(&m.status),
            m.version.clone(),
        ]);
    }
    let mut out = key_values(&header);
    out.push('\n');
    out.push_str(&t.render());
    out.push_str("(* the unit serving this command)\n");
    out
}

fn stack_ports(p: &StackPorts) -> String {
    let counters = p.ports.iter().any(|p| p.counters.is_some());
    let mut columns = vec![
        ("Switch#", L),
        ("Stack port", R),
        ("Port", L),
        ("Status", L),
        ("Neighbor switch", R),
        ("Neighbor port", R),
        ("Neighbor MAC", L),
    ];
    if counters {
        columns.extend([
            ("Hello sent", R),
            ("Hello rcvd", R),
            ("Hello lost", R),
            ("Link downs", R),
            ("Rx frames", R),
            ("Tx frames", R),
        ]);
    }
    let mut t = Table::new(&columns);
    for sp in &p.ports {
        let mut row = vec![
            or_dash(sp.unit),
            sp.stack_port.to_string(),
            or_dash(sp.port),
            if sp.up { "up" } else { "down" }.to_string(),
            or_dash(sp.neighbor_unit),
            or_dash(sp.neighbor_stack_port),
            or_dash(sp.neighbor_mac),
        ];
        if counters {
            match &sp.counters {
                Some(c) => row.extend(
                    [
                        c.hello_sent,
                        c.hello_received,
                        c.hello_lost,
                        c.link_downs,
                        c.rx_frames,
                        c.tx_frames,
                    ]
                    .map(|v| v.to_string()),
                ),
                None => row.extend(std::iter::repeat_n("-".to_string(), 6)),
            }
        }
        t.row(row);
    }
    if t.is_empty() {
        return "No stack ports.\n".to_string();
    }
    t.render()
}

fn stack_paths(p: &StackPaths) -> String {
    let mut t = Table::new(&[
        ("To switch", R),
        ("Primary", L),
        ("Backup", L),
        ("Active port", L),
        ("Hops", R),
    ]);
    for path in &p.paths {
        t.row(vec![
            path.to_unit.to_string(),
            list(&path.primary),
            list(&path.backup),
            or_dash(path.active),
            path.hops.to_string(),
        ]);
    }
    if t.is_empty() {
        return "No other units to reach.\n".to_string();
    }
    let mut out = t.render();
    out.push_str("(Primary and Backup are stack ports of the serving unit, 0-based)\n");
    out
}

fn nsf(n: &Nsf) -> String {
    let enabled = |b| if b { "enabled" } else { "disabled" }.to_string();
    key_values(&[
        ("NSF admin status", enabled(n.admin_enabled)),
        ("NSF oper status", enabled(n.oper_enabled)),
        ("Last startup", n.last_startup.clone()),
        ("Time since restart", duration_ms(n.since_restart_ms)),
        (
            "Restart in progress",
            yes_no(n.restart_in_progress).to_string(),
        ),
        (
            "Warm restart ready",
            yes_no(n.warm_restart_ready).to_string(),
        ),
        ("Stale entries", n.stale_entries.to_string()),
        ("Swept entries", n.swept_entries.to_string()),
        ("Dataplane session generation", n.generation.to_string()),
    ])
}

fn checkpoint(c: &Checkpoint) -> String {
    let peer = match (c.peer_unit, c.peer_mac) {
        (Some(u), Some(m)) => format!("unit {u} ({m})"),
        (None, Some(m)) => m.to_string(),
        _ => "-".to_string(),
    };
    let lag_us = |us: u64| duration_ns(us.saturating_mul(1000));
    let mut rows = vec![
        (
            "Checkpoint role",
            match c.side.as_str() {
                "master" => "master (sends its state to the standby)".to_string(),
                "standby" => "standby (keeps the master's state)".to_string(),
                _ => "none (neither master with a standby nor standby)".to_string(),
            },
        ),
        (
            if c.side == "standby" {
                "Master"
            } else {
                "Standby"
            },
            peer,
        ),
        ("In sync", yes_no(c.in_sync).to_string()),
        ("State version", c.version.clone()),
        ("Peer's version", c.peer_version.clone()),
    ];
    if c.side == "none" {
        // No other end: only what this unit holds.
        rows.truncate(1);
        rows.push(("State version", c.version.clone()));
    }
    rows.extend([
        ("Epoch", c.epoch.to_string()),
        ("Units in the table", c.units.to_string()),
        ("Stack config version", or_dash(c.config_version)),
        ("Static MAC entries", c.static_macs.to_string()),
        (
            if c.side == "standby" {
                "Updates received"
            } else {
                "Changes"
            },
            c.changes.to_string(),
        ),
        (
            "Time since last change",
            or_dash(c.since_change_ms.map(duration_ms)),
        ),
    ]);
    if c.side == "master" {
        rows.push(("Standby caught up", c.syncs.to_string()));
        rows.push(("Last lag", or_dash(c.last_lag_us.map(lag_us))));
        rows.push(("Longest lag", lag_us(c.max_lag_us)));
    }
    if let Some(ms) = c.behind_ms {
        rows.push(("Behind for", duration_ms(ms)));
    }
    key_values(&rows)
}

fn pfc(p: &PfcCounters) -> String {
    let mut t = Table::new(&[
        ("Port", L),
        ("Priority", R),
        ("Rx PFC", R),
        ("Tx PFC", R),
        ("Paused", R),
    ]);
    for port in &p.ports {
        for pr in &port.priorities {
            t.row(vec![
                or_dash(port.port),
                pr.priority.to_string(),
                pr.rx_frames.to_string(),
                pr.tx_frames.to_string(),
                duration_ns(pr.paused_ns),
            ]);
        }
    }
    if t.is_empty() {
        return "No PFC counters.\n".to_string();
    }
    let mut out = t.render();
    let pause: Vec<_> = p
        .ports
        .iter()
        .filter(|port| port.pause_rx != 0 || port.pause_tx != 0)
        .collect();
    if !pause.is_empty() {
        let mut t = Table::new(&[("Port", L), ("Rx PAUSE", R), ("Tx PAUSE", R)]);
        for port in pause {
            t.row(vec![
                or_dash(port.port),
                port.pause_rx.to_string(),
                port.pause_tx.to_string(),
            ]);
        }
        out.push_str("\n802.3x PAUSE frames:\n");
        out.push_str(&t.render());
    }
    out
}

fn queues(q: &QueueCounters) -> String {
    let mut t = Table::new(&[
        ("Port", L),
        ("Queue", R),
        ("Tx frames", R),
        ("Tx bytes", R),
        ("Dropped", R),
        ("Discarded", R),
        ("Depth", R),
        ("Watermark", R),
        ("Storms", R),
    ]);
    for port in &q.ports {
        for queue in &port.queues {
            t.row(vec![
                or_dash(port.port),
                queue.queue.to_string(),
                queue.tx_frames.to_string(),
                queue.tx_bytes.to_string(),
                queue.dropped_frames.to_string(),
                queue.discarded_frames.to_string(),
                queue.depth_bytes.to_string(),
                queue.watermark_bytes.to_string(),
                format!(
                    "{}{}",
                    queue.storms,
                    if queue.stormed { " (now)" } else { "" }
                ),
            ]);
        }
    }
    if t.is_empty() {
        return "No queue counters.\n".to_string();
    }
    let mut out = t.render();
    out.push_str("(Depth and Watermark in bytes; Dropped and Discarded in frames)\n");
    out
}

/// VLAN lists with runs folded: `10-12,20`.
fn vlan_list(vids: &[u32]) -> String {
    let mut v = vids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        while i + 1 < v.len() && v[i + 1] == v[i] + 1 {
            i += 1;
        }
        parts.push(if v[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", v[i])
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(",")
    }
}

fn interfaces(i: &Interfaces) -> String {
    let mut t = Table::new(&[
        ("Port", L),
        ("Status", L),
        ("Speed", R),
        ("MTU", R),
        ("VLAN", L),
        ("Flow control", L),
        ("Rx frames", R),
        ("Rx bytes", R),
        ("Tx frames", R),
        ("Tx bytes", R),
        ("Malformed", R),
        ("Discards", R),
    ]);
    for ifc in &i.interfaces {
        let status = if ifc.held_down {
            "held down"
        } else if ifc.oper_up {
            "up"
        } else {
            "down"
        };
        let vlan = match &ifc.vlan {
            None => "-".to_string(),
            Some(Vlan::Access { vid }) => format!("access {vid}"),
            Some(Vlan::Trunk {
                native_vid,
                allowed,
            }) => match native_vid {
                Some(n) => format!("trunk {} native {n}", vlan_list(allowed)),
                None => format!("trunk {}", vlan_list(allowed)),
            },
        };
        let flow = match ifc.flow_control {
            FlowControl::None => "none".to_string(),
            FlowControl::Pause => "pause".to_string(),
            FlowControl::Pfc => format!("pfc {}", list(&ifc.pfc_priorities)),
            FlowControl::Unknown => "?".to_string(),
        };
        let mut row = vec![
            or_dash(ifc.port),
            status.to_string(),
            speed(ifc.speed_bps),
            ifc.mtu.to_string(),
            vlan,
            flow,
        ];
        match &ifc.counters {
            Some(c) => row.extend(
                [
                    c.rx_frames,
                    c.rx_bytes,
                    c.tx_frames,
                    c.tx_bytes,
                    c.rx_malformed,
                    c.discards_total,
                ]
                .map(|v| v.to_string()),
            ),
            None => row.extend(std::iter::repeat_n("-".to_string(), 6)),
        }
        t.row(row);
    }
    let mut out = format!(
        "Switch {}, control plane {}\n\n",
        or_dash(i.unit),
        if i.control_attached {
            "attached"
        } else {
            "DETACHED"
        }
    );
    if t.is_empty() {
        out.push_str("No ports.\n");
    } else {
        out.push_str(&t.render());
    }
    out
}

fn mac_table(m: &MacTable) -> String {
    let unit = or_dash(m.unit);
    let mut t = Table::new(&[
        ("Vlan", R),
        ("MAC address", L),
        ("Type", L),
        ("Port", L),
        ("Age", R),
        ("Stale", L),
    ]);
    for e in &m.entries {
        let port = match e.destination {
            Destination::Local { slot, port } => format!("{unit}/{slot}/{port}"),
            Destination::Remote { unit, port } => format!("{unit}/0/{port}"),
            Destination::None => "-".to_string(),
        };
        t.row(vec![
            e.vlan.to_string(),
            e.mac.to_string(),
            match e.kind {
                EntryType::Static => "static",
                EntryType::Dynamic => "dynamic",
            }
            .to_string(),
            port,
            duration_ms(e.age_ms),
            if e.stale { "stale" } else { "" }.to_string(),
        ]);
    }
    let mut out = format!("Mac address table of switch {unit} (ports are switch/slot/port)\n\n");
    if !t.is_empty() {
        out.push_str(&t.render());
        out.push('\n');
    }
    out.push_str(&format!("Total MAC addresses: {}\n", m.entries.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::format::Mac;
    use crate::ctl::json::{Member, Role};

    fn mac(v: u64) -> String {
        Mac(v).to_string()
    }

    #[test]
    fn vlan_lists_fold_runs() {
        assert_eq!(vlan_list(&[20, 10, 11, 12, 30, 31]), "10-12,20,30-31");
        assert_eq!(vlan_list(&[]), "none");
        assert_eq!(vlan_list(&[5]), "5");
    }

    #[test]
    fn show_switch_marks_the_serving_unit_and_held_down_ports() {
        let s = Switch {
            local_unit: Some(2),
            local_mac: Mac(2),
            master_unit: Some(1),
            master_mac: Some(Mac(1)),
            epoch: 4,
            topology: "chain".into(),
            active: false,
            members: vec![Member {
                unit: Some(2),
                mac: Mac(2),
                role: Role::Member,
                priority: 1,
                uptime_ms: 61_000,
                status: "held".into(),
                version: "0.1.0".into(),
                local: true,
            }],
        };
        let out = render(&Output::Switch(s));
        assert!(
            out.contains(&format!("{} (master: switch 1)", mac(1))),
            "{out}"
        );
        assert!(out.contains("HELD DOWN"), "{out}");
        assert!(out.contains("*2       Member"), "{out}");
        assert!(out.contains("1m01s  Held"), "{out}");
    }
}
