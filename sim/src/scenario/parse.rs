//! Reading a scenario file: TOML into raw tables (serde, with spans), then checked into a
//! [`Scenario`] with every error at its file, line and column.

use std::path::Path;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::check::{line_col, Checker, R};
use super::{
    Action, Assert, Expect, LinkRef, Scenario, ScenarioError, StackSpec, Step, Target, TrafficItem,
    UnitRef,
};
use crate::launch::{Backend, Topology};
use crate::traffic::{HostId, Pattern};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    seed: Option<u64>,
    drain_ms: Option<Spanned<u64>>,
    stack: Spanned<RawStack>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    traffic: Vec<RawTraffic>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    assert: Vec<Spanned<RawAssert>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    units: Spanned<u8>,
    topology: Option<Spanned<String>>,
    links: Option<Spanned<u8>>,
    hosts_per_unit: Option<Spanned<u8>>,
    front_speed: Option<Spanned<String>>,
    lossless: Option<Vec<Spanned<u8>>>,
    priorities: Option<Vec<Spanned<u8>>>,
    converge_timeout_ms: Option<u64>,
    hello_interval_ms: Option<Spanned<u64>>,
    backend: Option<Spanned<String>>,
}

/// A named host with one or more NICs (front ports), e.g. a dual-homed server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    nics: Spanned<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    name: Spanned<String>,
    pattern: Spanned<String>,
    from: Option<Spanned<Value>>,
    to: Option<Spanned<Value>>,
    hosts: Option<Spanned<Value>>,
    rate_fps: Option<Spanned<u32>>,
    frame_size: Option<Spanned<usize>>,
    priority: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(rename = "do")]
    action: Spanned<String>,
    at_ms: Option<u64>,
    ms: Option<u64>,
    unit: Option<Spanned<Value>>,
    link: Option<Spanned<String>>,
    index: Option<u8>,
    down_ms: Option<u64>,
    up_ms: Option<u64>,
    count: Option<u32>,
    loss: Option<Spanned<f64>>,
    delay_ms: Option<u64>,
    traffic: Option<Vec<String>>,
    converged: Option<Spanned<Value>>,
    master: Option<Spanned<Value>>,
    master_not: Option<Spanned<Value>>,
    held: Option<Vec<Spanned<u8>>>,
    timeout_ms: Option<u64>,
    max_ms: Option<u64>,
    repeat: Option<Spanned<u32>>,
    every_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssert {
    flow: Option<Spanned<String>>,
    max_lost: Option<u64>,
    max_lost_pct: Option<f64>,
    max_gap_ms: Option<f64>,
    max_reordered: Option<u64>,
    min_received: Option<u64>,
    min_sender_pfc_frames: Option<u64>,
    any: Option<bool>,
    master: Option<Spanned<Value>>,
    master_not: Option<Spanned<Value>>,
    max_masters: Option<Spanned<u32>>,
}

/// Reads and checks the scenario in `path`.
pub fn read(path: &Path) -> Result<Scenario, ScenarioError> {
    let src = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &src)
}

const ACTIONS: &str = "wait, kill-stackd, kill-dataplaned, kill-unit, start-stackd, \
start-dataplaned, start-unit, restart-stackd, restart-dataplaned, restart-unit, cut-link, \
restore-link, flap-link, degrade-link, start-traffic, stop-traffic, expect";

/// Checks the scenario text `src` (from `path`, for the errors).
pub fn parse(path: &Path, src: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(src, s.start));
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let stack_span = raw.stack.span();
    let rs = raw.stack.into_inner();
    let mut c = Checker {
        path,
        src,
        units: 6,
        hosts_per_unit: 8,
        named: Vec::new(),
    };
    let units = c.unit(&rs.units, "units")?;
    c.units = units;
    let backend = match rs
        .backend
        .as_ref()
        .map(|b| (b.get_ref().as_str(), b.span()))
    {
        None | Some(("udp", _)) => Backend::Udp,
        Some(("netns", _)) => Backend::Netns,
        Some((other, span)) => {
            return Err(c.err(
                span,
                format!("backend: '{other}': expected \"udp\" or \"netns\""),
            ))
        }
    };
    let topology = match rs
        .topology
        .as_ref()
        .map(|t| (t.get_ref().as_str(), t.span()))
    {
        None | Some(("ring", _)) => Topology::Ring,
        Some(("chain", _)) => Topology::Chain,
        Some((other, span)) => {
            return Err(c.err(
                span,
                format!("topology: '{other}': expected \"ring\" or \"chain\""),
            ))
        }
    };
    let small = |v: &Option<Spanned<u8>>, what: &str, max: u8, default: u8| -> R<u8> {
        c.within(v, what, 1..=max, default)
    };
    let links = small(&rs.links, "links", 4, 1)?;
    let hosts_per_unit = small(&rs.hosts_per_unit, "hosts_per_unit", 8, 1)?;
    c.hosts_per_unit = hosts_per_unit;
    let front_speed_bps = match &rs.front_speed {
        None => 10_000_000_000,
        Some(s) => dataplane::daemon::config::parse_speed(s.get_ref())
            .map_err(|e| c.err(s.span(), format!("front_speed: {e}")))?,
    };
    let prio_list = |v: &Option<Vec<Spanned<u8>>>, what: &str, max: u8| -> R<Vec<u8>> {
        v.iter()
            .flatten()
            .map(|p| {
                if *p.get_ref() <= max {
                    Ok(*p.get_ref())
                } else {
                    Err(c.err(
                        p.span(),
                        format!("{what}: {}: expected 0 to {max}", p.get_ref()),
                    ))
                }
            })
            .collect()
    };
    let stack = StackSpec {
        units,
        topology,
        links,
        hosts_per_unit,
        front_speed_bps,
        lossless: prio_list(&rs.lossless, "lossless", 7)?,
        priorities: prio_list(&rs.priorities, "priorities", 255)?,
        converge_timeout_ms: rs.converge_timeout_ms.unwrap_or(20_000),
        hello_interval_ms: c.within(&rs.hello_interval_ms, "hello_interval_ms", 1..=1000, 10)?,
        backend,
    };
    let _ = stack_span;

    for h in &raw.host {
        let name = h.name.get_ref().clone();
        let taken = name.is_empty()
            || name.parse::<HostId>().is_ok()
            || c.named.iter().any(|(n, _)| *n == name);
        if taken {
            return Err(c.err(
                h.name.span(),
                format!("name: '{name}': expected a new name that is not UNIT/PORT"),
            ));
        }
        let nics = match h.nics.get_ref() {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| c.host(h.nics.span(), i, "nics"))
                .collect::<R<Vec<HostId>>>()?,
            _ => {
                return Err(c.err(
                    h.nics.span(),
                    "nics: expected a list of front ports, e.g. [\"1/2\", \"2/2\"]",
                ))
            }
        };
        c.named.push((name, nics));
    }

    let mut traffic = Vec::new();
    for t in &raw.traffic {
        let name = t.name.get_ref().clone();
        if name.is_empty() || traffic.iter().any(|x: &TrafficItem| x.name == name) {
            return Err(c.err(
                t.name.span(),
                format!("name: '{name}': expected a new, non-empty name"),
            ));
        }
        fn need<'v>(
            c: &Checker<'_>,
            t: &RawTraffic,
            name: &str,
            v: &'v Option<Spanned<Value>>,
            what: &str,
        ) -> R<&'v Spanned<Value>> {
            v.as_ref().ok_or_else(|| {
                c.err(
                    t.pattern.span(),
                    format!(
                        "traffic {name}: pattern {} needs `{what}`",
                        t.pattern.get_ref()
                    ),
                )
            })
        }
        let pattern = match t.pattern.get_ref().as_str() {
            "pair" => {
                let from = need(&c, t, &name, &t.from, "from")?;
                let to = need(&c, t, &name, &t.to, "to")?;
                Pattern::Pair {
                    from: c.nics(from.span(), from.get_ref(), "from")?,
                    to: c.nics(to.span(), to.get_ref(), "to")?,
                }
            }
            "incast" => {
                let from = need(&c, t, &name, &t.from, "from")?;
                let to = need(&c, t, &name, &t.to, "to")?;
                Pattern::Incast {
                    from: c.hosts(from, "from")?,
                    to: c.host(to.span(), to.get_ref(), "to")?,
                }
            }
            "all-to-all" => {
                let hosts = match &t.hosts {
                    Some(h) => c.hosts(h, "hosts")?,
                    None => (1..=units)
                        .flat_map(|unit| {
                            (1..=hosts_per_unit).map(move |port| HostId { unit, port })
                        })
                        .collect(),
                };
                Pattern::AllToAll { hosts }
            }
            other => {
                return Err(c.err(
                    t.pattern.span(),
                    format!("pattern: '{other}': expected \"pair\", \"incast\" or \"all-to-all\""),
                ))
            }
        };
        let rate_fps = c.within(&t.rate_fps, "rate_fps", 1..=200_000, 1000)?;
        let frame_size = c.within(&t.frame_size, "frame_size", 64..=1518, 256)?;
        let priority = match &t.priority {
            None => 0,
            Some(p) if *p.get_ref() <= 7 => *p.get_ref(),
            Some(p) => {
                return Err(c.err(
                    p.span(),
                    format!("priority: {}: expected 0 to 7", p.get_ref()),
                ))
            }
        };
        traffic.push(TrafficItem {
            name,
            pattern,
            rate_fps,
            frame_size,
            priority,
        });
    }

    let mut steps = Vec::new();
    for s in &raw.step {
        let span = s.span();
        let s = s.get_ref();
        let (line, _) = line_col(src, span.start);
        let what = s.action.get_ref().as_str();
        let need_unit = || -> R<UnitRef> {
            let u = s
                .unit
                .as_ref()
                .ok_or_else(|| c.err(s.action.span(), format!("{what}: needs `unit`")))?;
            c.unit_ref(u)
        };
        let need_link = || -> R<LinkRef> {
            let l = s.link.as_ref().ok_or_else(|| {
                c.err(
                    s.action.span(),
                    format!("{what}: needs `link` (e.g. \"1-2\")"),
                )
            })?;
            c.link(l, s.index)
        };
        let target = |t: &str| match t {
            "stackd" => Some(Target::Stackd),
            "dataplaned" => Some(Target::Dataplaned),
            "unit" => Some(Target::Unit),
            _ => None,
        };
        let action = if let Some((verb, t)) = what
            .split_once('-')
            .filter(|(v, t)| ["kill", "start", "restart"].contains(v) && target(t).is_some())
        {
            let t = target(t).unwrap_or(Target::Unit);
            let u = need_unit()?;
            match verb {
                "kill" => Action::Kill(t, u),
                "start" => Action::Start(t, u),
                _ => Action::Restart(t, u),
            }
        } else {
            match what {
                "wait" => Action::Wait {
                    ms: s
                        .ms
                        .ok_or_else(|| c.err(s.action.span(), "wait: needs `ms`"))?,
                },
                "cut-link" => Action::CutLink(need_link()?),
                "restore-link" => Action::RestoreLink(need_link()?),
                "flap-link" => Action::FlapLink {
                    link: need_link()?,
                    down_ms: s.down_ms.unwrap_or(100),
                    up_ms: s.up_ms.unwrap_or(100),
                    count: s.count.unwrap_or(1),
                },
                "degrade-link" => {
                    let loss = c.within(&s.loss, "loss", 0.0..=1.0, 0.0)?;
                    Action::DegradeLink {
                        link: need_link()?,
                        loss,
                        delay_ms: s.delay_ms.unwrap_or(0),
                    }
                }
                "start-traffic" | "stop-traffic" => {
                    let names = s.traffic.clone().unwrap_or_default();
                    for n in &names {
                        if !traffic.iter().any(|t| &t.name == n) {
                            return Err(
                                c.err(s.action.span(), format!("{what}: no traffic named '{n}'"))
                            );
                        }
                    }
                    if what == "start-traffic" {
                        Action::StartTraffic(names)
                    } else {
                        Action::StopTraffic(names)
                    }
                }
                "expect" => {
                    let converged = match &s.converged {
                        None => None,
                        Some(v) => match v.get_ref() {
                            Value::Boolean(true) => Some(Vec::new()),
                            Value::Boolean(false) => None,
                            Value::Array(a) => Some(
                                a.iter()
                                    .map(|x| {
                                        let u = x
                                            .as_integer()
                                            .and_then(|i| u8::try_from(i).ok())
                                            .unwrap_or(0);
                                        c.unit(&Spanned::new(v.span(), u), "converged")
                                    })
                                    .collect::<R<Vec<u8>>>()?,
                            ),
                            _ => {
                                return Err(
                                    c.err(v.span(), "converged: expected true or a list of units")
                                )
                            }
                        },
                    };
                    let e = Expect {
                        converged,
                        master: s
                            .master
                            .as_ref()
                            .map(|m| c.master_ref(m, "master"))
                            .transpose()?,
                        master_not: s
                            .master_not
                            .as_ref()
                            .map(|m| c.master_ref(m, "master_not"))
                            .transpose()?,
                        held: c.units_list(s.held.as_deref().unwrap_or_default(), "held")?,
                        timeout_ms: s.timeout_ms.unwrap_or(10_000),
                        max_ms: s.max_ms,
                    };
                    if e == (Expect {
                        timeout_ms: e.timeout_ms,
                        max_ms: e.max_ms,
                        ..Expect::default()
                    }) {
                        return Err(c.err(
                            s.action.span(),
                            "expect: needs a condition: converged, master, master_not or held",
                        ));
                    }
                    Action::Expect(e)
                }
                other => {
                    return Err(c.err(
                        s.action.span(),
                        format!("do: '{other}': expected one of {ACTIONS}"),
                    ))
                }
            }
        };
        let repeat = c.within(&s.repeat, "repeat", 1..=10_000, 1)?;
        let every_ms = match (repeat, s.every_ms) {
            (1, _) => 0,
            (_, Some(ms)) => ms,
            (_, None) => {
                return Err(c.err(
                    s.action.span(),
                    format!(
                        "{what}: `repeat` needs `every_ms` (the time from one run to the next)"
                    ),
                ))
            }
        };
        steps.push(Step {
            line,
            at_ms: s.at_ms,
            action,
            repeat,
            every_ms,
            down_ms: if what.starts_with("restart-") {
                s.down_ms.unwrap_or(0)
            } else {
                0
            },
        });
    }

    let mut asserts = Vec::new();
    for a in &raw.assert {
        let span = a.span();
        let a = a.get_ref();
        let kinds = usize::from(a.flow.is_some())
            + usize::from(a.master.is_some())
            + usize::from(a.master_not.is_some())
            + usize::from(a.max_masters.is_some());
        if kinds != 1 {
            return Err(c.err(
                span,
                "assert: expected exactly one of `flow`, `master`, `master_not` or `max_masters`",
            ));
        }
        if let Some(n) = &a.max_masters {
            if *n.get_ref() == 0 {
                return Err(c.err(n.span(), "max_masters: expected 1 or more"));
            }
            asserts.push(Assert::MaxMasters(*n.get_ref()));
        } else if let Some(m) = &a.master {
            asserts.push(Assert::Master(c.master_ref(m, "master")?));
        } else if let Some(m) = &a.master_not {
            asserts.push(Assert::MasterNot(c.master_ref(m, "master_not")?));
        } else if let Some(f) = &a.flow {
            let name = f.get_ref();
            let known = name == "*"
                || traffic
                    .iter()
                    .any(|t| &t.name == name || name.starts_with(&format!("{}:", t.name)));
            if !known {
                return Err(c.err(
                    f.span(),
                    format!("flow: '{name}': no such traffic (or \"*\" for all)"),
                ));
            }
            asserts.push(Assert::Flow {
                flow: name.clone(),
                max_lost: a.max_lost,
                max_lost_pct: a.max_lost_pct,
                max_gap_ms: a.max_gap_ms,
                max_reordered: a.max_reordered,
                min_received: a.min_received,
                min_sender_pfc_frames: a.min_sender_pfc_frames,
                any: a.any.unwrap_or(false),
            });
        }
    }
    let drain_ms = raw.drain_ms.map_or(1000, |d| *d.get_ref());
    Ok(Scenario {
        name: raw.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        description: raw.description.unwrap_or_default(),
        seed: raw.seed.unwrap_or(1),
        stack,
        traffic,
        steps,
        asserts,
        drain_ms,
    })
}
