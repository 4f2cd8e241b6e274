//! The stack table `stack-sim up` and `status` print: one row per launched unit, with its
//! role as the stack sees it, its processes and its hosts.

use std::fmt::Write as _;

use proto::stack::v1 as pb;

use crate::launch::{is_our_daemon, StackState};

/// Base MAC of launched unit `u` (stackd's default, `02:53:54:4b:00:<u>`).
pub fn unit_mac(u: u8) -> u64 {
    0x0253_544b_0000 | u64::from(u)
}

fn mac_text(m: u64) -> String {
    let b = m.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

/// Name of a member role.
pub fn role_name(role: i32) -> &'static str {
    match pb::Role::try_from(role) {
        Ok(pb::Role::Master) => "Master",
        Ok(pb::Role::Standby) => "Standby",
        Ok(pb::Role::Member) => "Member",
        Ok(pb::Role::Joining) => "Joining",
        Ok(pb::Role::Unassigned) => "Unassigned",
        _ => "?",
    }
}

/// What is known of one launched unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitView {
    /// Unit number as launched.
    pub launched: u8,
    /// Its row in the stack's member table (from the first unit that answered and knows
    /// it), if any.
    pub member: Option<pb::Member>,
    /// It answered `show switch` itself.
    pub answered: bool,
    /// Its front ports forward (from its own answer).
    pub active: bool,
}

/// Matches the answers of `show switch` to the launched units (by base MAC).
pub fn unit_views(state: &StackState, views: &[pb::ShowSwitchResponse]) -> Vec<UnitView> {
    state
        .units
        .iter()
        .map(|u| {
            let mac = unit_mac(u.unit);
            let own = views.iter().find(|v| v.local_mac == mac);
            let member = own
                .into_iter()
                .chain(views.iter())
                .flat_map(|v| v.members.iter())
                .find(|m| m.mac == mac)
                .cloned();
            UnitView {
                launched: u.unit,
                member,
                answered: own.is_some(),
                active: own.is_some_and(|v| v.active),
            }
        })
        .collect()
}

/// The stack table.
pub fn stack_table(state: &StackState, views: &[UnitView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<8} {:<17} {:>3}  {:<9} {:>8}  {:<30}  hosts",
        "Unit", "Role", "MAC", "Pri", "Status", "Uptime", "processes (pid)"
    );
    for (u, v) in state.units.iter().zip(views) {
        let (unit, role, pri, status, uptime) = match &v.member {
            Some(m) => (
                m.unit.to_string(),
                role_name(m.role),
                m.priority.to_string(),
                m.status.clone(),
                format!("{:.1}s", m.uptime_ms as f64 / 1000.0),
            ),
            None => (
                u.unit.to_string(),
                "-",
                "-".into(),
                if v.answered { "alone" } else { "down" }.into(),
                "-".into(),
            ),
        };
        let procs: Vec<String> = [&u.dataplaned, &u.stackd]
            .iter()
            .map(|d| match d.pid {
                Some(p) if is_our_daemon(p, &d.name, &state.dir) => format!("{} {p}", d.name),
                _ => format!("{} down", d.name),
            })
            .collect();
        let hosts: Vec<String> = if u.netns.is_empty() {
            u.front
                .iter()
                .map(|f| format!("0/{} {}", f.port, f.host))
                .collect()
        } else {
            u.netns
                .iter()
                .map(|h| format!("0/{} {} {}", h.port, h.namespace, h.addr))
                .collect()
        };
        let _ = writeln!(
            out,
            "{unit:<5} {role:<8} {:<17} {pri:>3}  {status:<9} {uptime:>8}  {:<30}  {}",
            mac_text(unit_mac(u.unit)),
            procs.join(", "),
            hosts.join(", ")
        );
    }
    out
}
