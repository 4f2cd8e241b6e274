//! `stack-sim link cut|restore|flap|degrade`: faults on the stack links of a stack started by
//! `stack-sim up`, from any shell, through its cable process (see [`crate::launch::cables`]).
//! The names match the scenario steps (`cut-link`, `restore-link`, `flap-link`,
//! `degrade-link`), and so does the way a link is named: `1-2` (every link between units 1
//! and 2) or `1-2/2` (the second of them, as a scenario step's `index`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{default_dir, OpsError};
use crate::launch::cables::{self, CableError, CableRequest, LinkStatus};
use crate::launch::{read_state, select_links};

/// A stack link (or trunk) named on the command line: `A-B` or `A-B/INDEX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkArg {
    /// One unit.
    pub a: u8,
    /// The other.
    pub b: u8,
    /// Only this parallel link (1-based).
    pub index: Option<u8>,
}

impl std::str::FromStr for LinkArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}': expected UNIT-UNIT or UNIT-UNIT/INDEX, e.g. 1-2 or 1-2/1");
        let (pair, index) = match s.split_once('/') {
            Some((p, i)) => (
                p,
                Some(i.parse::<u8>().ok().filter(|i| *i >= 1).ok_or_else(bad)?),
            ),
            None => (s, None),
        };
        let (a, b) = pair.split_once('-').ok_or_else(bad)?;
        let unit = |u: &str| u.parse::<u8>().ok().filter(|u| (1..=6).contains(u));
        match (unit(a), unit(b)) {
            (Some(a), Some(b)) if a != b => Ok(LinkArg { a, b, index }),
            _ => Err(bad()),
        }
    }
}

/// Loss on the command line: a fraction (`0.05`, as in scenarios) or a percentage (`5%`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossArg(pub f64);

impl std::str::FromStr for LossArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}': expected a fraction 0..=1 (0.05) or a percentage (5%)");
        let v = match s.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
            None => s.parse::<f64>().map_err(|_| bad())?,
        };
        if (0.0..=1.0).contains(&v) {
            Ok(LossArg(v))
        } else {
            Err(bad())
        }
    }
}

/// What `stack-sim link` does.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum LinkCommand {
    /// Pull the cable(s): nothing crosses.
    Cut(LinkTarget),
    /// Put the cable(s) back as new (no cut, loss or delay).
    Restore(LinkTarget),
    /// Cut for --down-ms, restore for --up-ms, --count times (returns when done).
    Flap {
        /// The link(s).
        #[command(flatten)]
        target: LinkTarget,
        /// Down time per flap, milliseconds (1..=60000).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        down_ms: u64,
        /// Up time per flap, milliseconds (1..=60000).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        up_ms: u64,
        /// Flaps (1..=1000).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        count: u32,
    },
    /// Lose a share of the frames (both directions) and delay the rest.
    Degrade {
        /// The link(s).
        #[command(flatten)]
        target: LinkTarget,
        /// Loss: a fraction (0.05) or a percentage (5%).
        #[arg(long, default_value = "0")]
        loss: LossArg,
        /// Added one-way delay, milliseconds (0..=10000).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        delay_ms: u64,
        /// Seed of the loss decisions (link i of the stack gets SEED + i) [default: keep
        /// the generator the stack was launched with].
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// Which link(s) of which stack.
#[derive(Clone, Debug, clap::Args)]
pub struct LinkTarget {
    /// The link: UNIT-UNIT (all parallel links between them) or UNIT-UNIT/INDEX (1-based).
    #[arg(long)]
    pub link: LinkArg,
    /// The stack's directory [default: $XDG_RUNTIME_DIR/stack-sim or /tmp/stack-sim-UID].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `stack-sim link …`.
#[derive(Clone, Debug, clap::Args)]
pub struct LinkArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LinkCommand,
}

fn set(
    dir: &Path,
    links: &[usize],
    cut: bool,
    loss: f64,
    delay_ms: u64,
    seed: Option<u64>,
) -> Result<Vec<LinkStatus>, OpsError> {
    let req = CableRequest::Set {
        links: links.to_vec(),
        cut,
        loss,
        delay_ms,
        seed,
    };
    Ok(cables::call(dir, &req)?)
}

/// The stack's directory and the indices of the links `t` names; refuses a stack without a
/// cable process.
fn resolve(t: &LinkTarget) -> Result<(PathBuf, Vec<usize>), OpsError> {
    let dir = t.dir.clone().unwrap_or_else(default_dir);
    let state = read_state(&dir)?;
    if state.cables.is_none() {
        return Err(CableError::NoCableProcess(dir).into());
    }
    let links = select_links(&state.links, t.link.a, t.link.b, t.link.index)?;
    Ok((dir, links))
}

fn print(links: &[LinkStatus]) {
    for l in links {
        println!("link {} ({}): {}", l.index, l.name, l.state());
    }
}

/// `stack-sim link …`.
pub fn link(args: &LinkArgs) -> Result<(), OpsError> {
    match &args.command {
        LinkCommand::Cut(t) => {
            let (dir, links) = resolve(t)?;
            print(&set(&dir, &links, true, 0.0, 0, None)?);
        }
        LinkCommand::Restore(t) => {
            let (dir, links) = resolve(t)?;
            print(&set(&dir, &links, false, 0.0, 0, None)?);
        }
        LinkCommand::Flap {
            target,
            down_ms,
            up_ms,
            count,
        } => {
            let (dir, links) = resolve(target)?;
            for n in 1..=*count {
                set(&dir, &links, true, 0.0, 0, None)?;
                // The flap's timing is the point: these sleeps are the fault, not a wait.
                std::thread::sleep(Duration::from_millis(*down_ms));
                let l = set(&dir, &links, false, 0.0, 0, None)?;
                println!("flap {n} of {count}: down {down_ms} ms");
                if n == *count {
                    print(&l);
                } else {
                    std::thread::sleep(Duration::from_millis(*up_ms));
                }
            }
        }
        LinkCommand::Degrade {
            target,
            loss,
            delay_ms,
            seed,
        } => {
            let (dir, links) = resolve(target)?;
            print(&set(&dir, &links, false, loss.0, *delay_ms, *seed)?);
        }
    }
    Ok(())
}

/// The links' lines of `stack-sim status`: each link's state and counters, or why they are
/// not known.
pub fn link_lines(dir: &Path, has_cables: bool) -> String {
    if !has_cables {
        return "links: no cable process (links cannot be faulted on this stack)\n".into();
    }
    match cables::call(dir, &CableRequest::Status) {
        Ok(links) => {
            let mut out = format!(
                "{:<4} {:<14} {:<34} {:>10} {:>9} {:>9}\n",
                "link", "ports", "state", "forwarded", "cut", "lost"
            );
            for l in links {
                out.push_str(&format!(
                    "{:<4} {:<14} {:<34} {:>10} {:>9} {:>9}\n",
                    l.index,
                    l.name,
                    l.state(),
                    l.forwarded,
                    l.cut_drops,
                    l.loss_drops
                ));
            }
            out
        }
        Err(e) => format!("links: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_losses_parse_or_say_what_was_expected() {
        assert_eq!(
            "1-2".parse::<LinkArg>(),
            Ok(LinkArg {
                a: 1,
                b: 2,
                index: None
            })
        );
        assert_eq!("3-1/2".parse::<LinkArg>().unwrap().index, Some(2));
        for bad in ["1", "1-1", "0-2", "1-7", "1-2/0", "1-2/x", "a-b"] {
            let e = bad.parse::<LinkArg>().unwrap_err();
            assert!(e.contains("expected UNIT-UNIT"), "{bad}: {e}");
        }
        assert_eq!("5%".parse::<LossArg>(), Ok(LossArg(0.05)));
        assert_eq!("0.25".parse::<LossArg>(), Ok(LossArg(0.25)));
        for bad in ["101%", "1.5", "-0.1", "x"] {
            assert!(bad.parse::<LossArg>().is_err(), "{bad}");
        }
    }
}
