//! `stackctl`'s command line (clap): global options and the command tree, and the
//! [`Request`] each command turns into.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The highest stack unit number (DESIGN.md §5: up to 6 units).
const MAX_UNIT: u8 = crate::election::MAX_UNITS;

/// The operator CLI of a stackd stack.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "stackctl",
    version,
    about = "The operator CLI of a stackd stack: shows the stack, its stack ports, NSF, counters and the MAC table, and changes priorities, the standby, unit numbers and mastership",
    after_help = "Examples:\n  stackctl show switch\n  stackctl --unit 2 show switch stack-ports counters\n  stackctl --json show mac address-table\n  stackctl set priority 2 15\n  stackctl initiate failover"
)]
pub struct Cli {
    /// The management socket of the stackd to talk to (default: the one of --unit).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        conflicts_with = "serving_unit"
    )]
    pub socket: Option<PathBuf>,
    /// Talk to the stackd of this unit, on its default socket
    /// ($XDG_RUNTIME_DIR/stackd/unitN/stackd.sock or /tmp/stackd-UID/unitN/stackd.sock) [default: 1].
    // Its own id: the commands have a UNIT argument too.
    #[arg(id = "serving_unit", long = "unit", global = true, value_name = "N",
          value_parser = clap::value_parser!(u8).range(1..=15))]
    pub unit: Option<u8>,
    /// Machine-readable output (JSON) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Give up when stackd has not answered within this many seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Show the stack, its stack ports, NSF state, counters and tables.
    #[command(subcommand)]
    Show(Show),
    /// Change a stack setting (taken by the master only).
    #[command(subcommand)]
    Set(Set),
    /// Give a unit another, free, unit number (taken by the master only).
    Renumber {
        /// The unit's current number.
        #[arg(value_name = "UNIT", value_parser = clap::value_parser!(u8).range(1..=MAX_UNIT as i64))]
        unit: u8,
        /// The number it gets.
        #[arg(value_name = "NEW_UNIT", value_parser = clap::value_parser!(u8).range(1..=MAX_UNIT as i64))]
        new_unit: u8,
    },
    /// Start an operation on the stack.
    #[command(subcommand)]
    Initiate(Initiate),
}

/// `show …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// The stack's units: role, MAC, priority, uptime, state, version.
    Switch {
        /// Stack ports instead of units.
        #[command(subcommand)]
        detail: Option<SwitchDetail>,
    },
    /// Nonstop forwarding state of the serving unit.
    Nsf,
    /// The warm standby's copy of the master's state, from the master or the standby.
    #[command(subcommand)]
    Checkpoint(CheckpointDetail),
    /// PFC frames and paused time per port and priority (the serving unit's).
    #[command(subcommand)]
    Pfc(CountersOnly),
    /// Queue counters per port and traffic class (the serving unit's).
    #[command(subcommand)]
    Queue(CountersOnly),
    /// Ports of the serving unit: state, speed, MTU, VLAN mode, flow control, counters.
    Interfaces,
    /// The MAC table of the serving unit.
    #[command(subcommand)]
    Mac(MacTable),
}

/// `show switch …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum SwitchDetail {
    /// Stack ports of every unit: status and neighbour.
    StackPorts {
        /// Counters, or the paths to the other units.
        #[command(subcommand)]
        detail: Option<StackPortsDetail>,
    },
}

/// `show switch stack-ports …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum StackPortsDetail {
    /// With the serving unit's hello and frame counters.
    Counters,
    /// How the serving unit reaches every other unit: primary, backup and active stack port.
    StackPath,
}

/// `show pfc counters`, `show queue counters`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum CountersOnly {
    /// The counters.
    Counters,
}

/// `show checkpoint statistics`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum CheckpointDetail {
    /// In sync or not, changes, and how long the standby takes to catch up (lag).
    Statistics,
}

/// `show mac address-table`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum MacTable {
    /// Static and learned entries: VLAN, MAC, type, port, age.
    AddressTable,
}

/// `set …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Set {
    /// Store a unit's election priority (0 = never master; higher wins the next election).
    Priority {
        /// The unit.
        #[arg(value_name = "UNIT", value_parser = clap::value_parser!(u8).range(1..=MAX_UNIT as i64))]
        unit: u8,
        /// 0..=255.
        #[arg(value_name = "PRIORITY")]
        priority: u8,
    },
    /// Name the standby, or `none` to let the election rules pick it.
    Standby {
        /// A unit number, or `none`.
        #[arg(value_name = "UNIT|none", value_parser = parse_standby)]
        unit: Standby,
    },
}

/// `initiate …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Initiate {
    /// Hand mastership over to the standby now.
    Failover,
}

/// The argument of `set standby`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standby {
    /// This unit.
    Unit(u8),
    /// No configured standby: the election rules pick one.
    None,
}

fn parse_standby(s: &str) -> Result<Standby, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Standby::None);
    }
    match s.parse::<u8>() {
        Ok(u) if (1..=MAX_UNIT).contains(&u) => Ok(Standby::Unit(u)),
        _ => Err(format!("expected a unit number 1..={MAX_UNIT} or `none`")),
    }
}

/// One call to stackd's management service, as the commands map onto it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `show switch`.
    ShowSwitch,
    /// `show switch stack-ports [counters]`.
    ShowStackPorts {
        /// With counters.
        counters: bool,
    },
    /// `show switch stack-ports stack-path`.
    ShowStackPath,
    /// `show nsf`.
    ShowNsf,
    /// `show checkpoint statistics`.
    ShowCheckpoint,
    /// `show pfc counters`.
    ShowPfcCounters,
    /// `show queue counters`.
    ShowQueueCounters,
    /// `show interfaces`.
    ShowInterfaces,
    /// `show mac address-table`.
    ShowMacAddressTable,
    /// `set priority UNIT PRIORITY`.
    SetPriority {
        /// The unit.
        unit: u8,
        /// Its new priority.
        priority: u8,
    },
    /// `set standby UNIT|none` (`None`: let the election pick).
    SetStandby {
        /// The unit.
        unit: Option<u8>,
    },
    /// `renumber UNIT NEW_UNIT`.
    Renumber {
        /// The unit's number now.
        unit: u8,
        /// Its new number.
        new_unit: u8,
    },
    /// `initiate failover`.
    InitiateFailover,
}

impl Command {
    /// The request this command makes.
    pub fn request(&self) -> Request {
        match self {
            Command::Show(show) => match show {
                Show::Switch { detail: None } => Request::ShowSwitch,
                Show::Switch {
                    detail: Some(SwitchDetail::StackPorts { detail }),
                } => match detail {
                    None => Request::ShowStackPorts { counters: false },
                    Some(StackPortsDetail::Counters) => Request::ShowStackPorts { counters: true },
                    Some(StackPortsDetail::StackPath) => Request::ShowStackPath,
                },
                Show::Nsf => Request::ShowNsf,
                Show::Checkpoint(CheckpointDetail::Statistics) => Request::ShowCheckpoint,
                Show::Pfc(CountersOnly::Counters) => Request::ShowPfcCounters,
                Show::Queue(CountersOnly::Counters) => Request::ShowQueueCounters,
                Show::Interfaces => Request::ShowInterfaces,
                Show::Mac(MacTable::AddressTable) => Request::ShowMacAddressTable,
            },
            Command::Set(Set::Priority { unit, priority }) => Request::SetPriority {
                unit: *unit,
                priority: *priority,
            },
            Command::Set(Set::Standby { unit }) => Request::SetStandby {
                unit: match unit {
                    Standby::Unit(u) => Some(*u),
                    Standby::None => None,
                },
            },
            Command::Renumber { unit, new_unit } => Request::Renumber {
                unit: *unit,
                new_unit: *new_unit,
            },
            Command::Initiate(Initiate::Failover) => Request::InitiateFailover,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stackctl").chain(args.iter().copied()))
    }

    fn request(args: &[&str]) -> Request {
        parse(args).unwrap().command.request()
    }

    #[test]
    fn the_command_tree_maps_onto_requests() {
        assert_eq!(request(&["show", "switch"]), Request::ShowSwitch);
        assert_eq!(
            request(&["show", "switch", "stack-ports"]),
            Request::ShowStackPorts { counters: false }
        );
        assert_eq!(
            request(&["show", "switch", "stack-ports", "counters"]),
            Request::ShowStackPorts { counters: true }
        );
        assert_eq!(
            request(&["show", "switch", "stack-ports", "stack-path"]),
            Request::ShowStackPath
        );
        assert_eq!(request(&["show", "nsf"]), Request::ShowNsf);
        assert_eq!(
            request(&["show", "checkpoint", "statistics"]),
            Request::ShowCheckpoint
        );
        assert_eq!(
            request(&["show", "pfc", "counters"]),
            Request::ShowPfcCounters
        );
        assert_eq!(
            request(&["show", "queue", "counters"]),
            Request::ShowQueueCounters
        );
        assert_eq!(request(&["show", "interfaces"]), Request::ShowInterfaces);
        assert_eq!(
            request(&["show", "mac", "address-table"]),
            Request::ShowMacAddressTable
        );
        assert_eq!(
            request(&["set", "priority", "2", "0"]),
            Request::SetPriority {
                unit: 2,
                priority: 0
            }
        );
        assert_eq!(
            request(&["set", "standby", "none"]),
            Request::SetStandby { unit: None }
        );
        assert_eq!(
            request(&["set", "standby", "3"]),
            Request::SetStandby { unit: Some(3) }
        );
        assert_eq!(
            request(&["renumber", "5", "2"]),
            Request::Renumber {
                unit: 5,
                new_unit: 2
            }
        );
        assert_eq!(
            request(&["initiate", "failover"]),
            Request::InitiateFailover
        );
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn the_serving_unit_and_a_command_unit_are_apart() {
        let cli = parse(&["--unit", "3", "set", "priority", "2", "15"]).unwrap();
        assert_eq!(cli.unit, Some(3));
        assert_eq!(
            cli.command.request(),
            Request::SetPriority {
                unit: 2,
                priority: 15
            }
        );
        let cli = parse(&["set", "standby", "4", "--unit", "5"]).unwrap();
        assert_eq!(cli.unit, Some(5));
        assert_eq!(cli.command.request(), Request::SetStandby { unit: Some(4) });
        let cli = parse(&["renumber", "1", "6"]).unwrap();
        assert_eq!(cli.unit, None);
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = parse(&["show", "switch", "--json", "--unit", "3"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.unit, Some(3));
        let cli = parse(&["--socket", "/x.sock", "show", "nsf"]).unwrap();
        assert_eq!(cli.socket, Some(PathBuf::from("/x.sock")));
        assert!(parse(&["--socket", "/x", "--unit", "2", "show", "nsf"]).is_err());
    }

    #[test]
    fn bad_values_are_refused_naming_the_argument() {
        let e = parse(&["set", "priority", "2", "256"]).unwrap_err();
        assert!(e.to_string().contains("PRIORITY"), "{e}");
        let e = parse(&["set", "priority", "7", "1"]).unwrap_err();
        assert!(e.to_string().contains("UNIT"), "{e}");
        let e = parse(&["set", "standby", "nobody"]).unwrap_err();
        assert!(e.to_string().contains("UNIT|none"), "{e}");
        let e = parse(&["renumber", "1", "0"]).unwrap_err();
        assert!(e.to_string().contains("NEW_UNIT"), "{e}");
        assert!(parse(&["show", "pfc"]).is_err());
        assert!(parse(&["--unit", "0", "show", "nsf"]).is_err());
    }
}
