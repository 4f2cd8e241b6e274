//! `stackctl`, the operator's CLI (feature `daemon`): talks `stackd.stack.v1` to a unit's
//! `stackd` and prints tables for people or JSON for scripts (`docs/stackctl.md`).
//!
//! * [`args`]: the command line (clap) and the [`args::Request`] each command makes.
//! * [`json`]: the data shown, as serialised for `--json`; [`render`]: the same as tables
//!   ([`table`] aligns them, [`format`] spells MACs, uptimes, speeds).
//! * [`run`]: connect, ask, print; [`CtlError`] says what went wrong and what to do.

pub mod args;
pub mod format;
pub mod json;
pub mod render;
pub mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::stack::v1 as pb;
use proto::stack::v1::stack_management_client::StackManagementClient;
use tonic::transport::Channel;

use args::{Cli, Request};
use json::Output;

/// Why a `stackctl` command failed. Shown to the operator after `stackctl: `.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Nothing answers on the management socket (no such socket, connection refused, no
    /// permission), or the connection broke.
    #[error("cannot reach stackd at {socket} ({reason}): {hint}")]
    Unreachable {
        /// The socket.
        socket: String,
        /// What the system said.
        reason: String,
        /// What to check.
        hint: String,
    },
    /// stackd refused the request (FAILED_PRECONDITION, e.g. "not the master: unit 2 is";
    /// INVALID_ARGUMENT; NOT_FOUND; ALREADY_EXISTS): its own message says why.
    #[error("{message}")]
    Refused {
        /// stackd's message.
        message: String,
    },
    /// stackd answered UNAVAILABLE: it is up but cannot serve this now (e.g. its dataplane is
    /// not attached, or it is shutting down); its message says why.
    #[error("stackd at {socket} cannot answer now: {message}")]
    Unavailable {
        /// The socket.
        socket: String,
        /// stackd's message.
        message: String,
    },
    /// stackd did not answer within `--timeout`.
    #[error("stackd at {socket} did not answer within {seconds} s: is it overloaded or stuck? Check its log, or try a longer --timeout")]
    Timeout {
        /// The socket.
        socket: String,
        /// The timeout.
        seconds: u64,
    },
    /// What listens there does not offer this command: not stackd (e.g. dataplaned's socket),
    /// or an older stackd.
    #[error(
        "{socket} does not serve stackd.stack.v1.StackManagement/{rpc}: is it stackd's \
         management socket (not dataplaned's), and is stackd as new as this stackctl?"
    )]
    Unimplemented {
        /// The socket.
        socket: String,
        /// The gRPC method.
        rpc: &'static str,
    },
    /// Any other gRPC failure.
    #[error("{rpc} failed: {code}: {message}")]
    Rpc {
        /// The gRPC method.
        rpc: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The tokio runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The output could not be written (other than to a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

impl CtlError {
    /// The process exit code for this error: 1 (2 is clap's, for bad arguments).
    pub fn exit_code(&self) -> u8 {
        1
    }
}

/// Where the management socket is, and how the operator named it (for the hints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The socket.
    pub socket: PathBuf,
    /// The unit whose default socket it is, when not given with `--socket`.
    pub unit: Option<u8>,
}

impl Target {
    /// From `--socket` or `--unit` (default unit 1).
    pub fn of(cli: &Cli) -> Self {
        match &cli.socket {
            Some(s) => Target {
                socket: s.clone(),
                unit: None,
            },
            None => {
                let unit = cli.unit.unwrap_or(1);
                Target {
                    socket: crate::daemon::default_socket(unit),
                    unit: Some(unit),
                }
            }
        }
    }

    fn hint(&self) -> String {
        match self.unit {
            Some(u) => format!("is stackd running for unit {u}? Use --socket or --unit."),
            None => {
                "is stackd running with its management socket there? Check the path, or use --unit."
                    .to_string()
            }
        }
    }

    fn unreachable(&self, reason: String) -> CtlError {
        CtlError::Unreachable {
            socket: self.socket.display().to_string(),
            reason,
            hint: self.hint(),
        }
    }
}

/// Runs the command of `cli`: asks stackd and writes the answer (a table, or JSON with
/// `--json`) to stdout. A closed stdout (`stackctl … | head`) is not an error.
pub fn run(cli: &Cli) -> Result<(), CtlError> {
    let target = Target::of(cli);
    let output = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CtlError::Runtime)?
        .block_on(fetch(
            &target,
            cli.command.request(),
            Duration::from_secs(cli.timeout),
        ))?;
    let text = if cli.json {
        let mut s = serde_json::to_string_pretty(&output)
            .map_err(|e| CtlError::Output(std::io::Error::other(e)))?;
        s.push('\n');
        s
    } else {
        render::render(&output)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CtlError::Output(e)),
        _ => Ok(()),
    }
}

/// Connects to `target` and makes `request`, all within `timeout`.
pub async fn fetch(
    target: &Target,
    request: Request,
    timeout: Duration,
) -> Result<Output, CtlError> {
    let work = async {
        let channel = crate::daemon::uds::connect(&target.socket)
            .await
            .map_err(|e| target.unreachable(io_reason(&target.socket, &e)))?;
        ask(target, StackManagementClient::new(channel), request).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(CtlError::Timeout {
                socket: target.socket.display().to_string(),
                seconds: timeout.as_secs(),
            })
        })
}

/// Why the connection failed or broke, in a few words: the OS error when there is one.
fn io_reason(socket: &Path, e: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind;
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                ErrorKind::NotFound => {
                    if socket
                        .parent()
                        .is_some_and(|d| !d.as_os_str().is_empty() && !d.exists())
                    {
                        "no such socket, nor its directory".to_string()
                    } else {
                        "no such socket".to_string()
                    }
                }
                ErrorKind::ConnectionRefused => "connection refused".to_string(),
                ErrorKind::PermissionDenied => "permission denied".to_string(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof => {
                    "the other end hung up".to_string()
                }
                _ => io.to_string(),
            };
        }
        source = err.source();
    }
    e.to_string()
}

/// Makes one request (two for `show interfaces`: state and counters, together).
async fn ask(
    target: &Target,
    mut client: StackManagementClient<Channel>,
    request: Request,
) -> Result<Output, CtlError> {
    use proto::dataplane::v1::{CountersRequest, ReadRequest};
    let fail = |rpc: &'static str| move |s: tonic::Status| status_error(target, rpc, s);
    Ok(match request {
        Request::ShowSwitch => Output::Switch(
            client
                .show_switch(pb::ShowSwitchRequest {})
                .await
                .map_err(fail("ShowSwitch"))?
                .into_inner()
                .into(),
        ),
        Request::ShowStackPorts { counters } => Output::StackPorts(
            client
                .show_stack_ports(pb::ShowStackPortsRequest { counters })
                .await
                .map_err(fail("ShowStackPorts"))?
                .into_inner()
                .into(),
        ),
        Request::ShowStackPath => Output::StackPaths(
            client
                .show_stack_path(pb::ShowStackPathRequest {})
                .await
                .map_err(fail("ShowStackPath"))?
                .into_inner()
                .into(),
        ),
        Request::ShowNsf => Output::Nsf(
            client
                .show_nsf(pb::ShowNsfRequest {})
                .await
                .map_err(fail("ShowNsf"))?
                .into_inner()
                .into(),
        ),
        Request::ShowCheckpoint => Output::Checkpoint(
            client
                .show_checkpoint(pb::ShowCheckpointRequest {})
                .await
                .map_err(fail("ShowCheckpoint"))?
                .into_inner()
                .into(),
        ),
        Request::ShowPfcCounters | Request::ShowQueueCounters => {
            let counters = client
                .dataplane_counters(CountersRequest {})
                .await
                .map_err(fail("DataplaneCounters"))?
                .into_inner();
            if request == Request::ShowPfcCounters {
                Output::Pfc(counters.into())
            } else {
                Output::Queues(counters.into())
            }
        }
        Request::ShowInterfaces => {
            let mut other = client.clone();
            let (state, counters) = tokio::join!(
                client.dataplane_state(ReadRequest {
                    include_learned: false
                }),
                other.dataplane_counters(CountersRequest {}),
            );
            Output::Interfaces(json::Interfaces::new(
                state.map_err(fail("DataplaneState"))?.into_inner(),
                counters.map_err(fail("DataplaneCounters"))?.into_inner(),
            ))
        }
        Request::ShowMacAddressTable => Output::MacTable(
            client
                .dataplane_state(ReadRequest {
                    include_learned: true,
                })
                .await
                .map_err(fail("DataplaneState"))?
                .into_inner()
                .into(),
        ),
        Request::SetPriority { unit, priority } => done(
            client
                .set_priority(pb::SetPriorityRequest {
                    unit: unit.into(),
                    priority: priority.into(),
                })
                .await
                .map_err(fail("SetPriority"))?,
        ),
        Request::SetStandby { unit } => done(
            client
                .set_standby(pb::SetStandbyRequest {
                    unit: unit.map_or(0, u32::from),
                })
                .await
                .map_err(fail("SetStandby"))?,
        ),
        Request::Renumber { unit, new_unit } => done(
            client
                .renumber(pb::RenumberRequest {
                    unit: unit.into(),
                    new_unit: new_unit.into(),
                })
                .await
                .map_err(fail("Renumber"))?,
        ),
        Request::InitiateFailover => done(
            client
                .initiate_failover(pb::InitiateFailoverRequest {})
                .await
                .map_err(fail("InitiateFailover"))?,
        ),
    })
}

fn done(r: tonic::Response<pb::CommandResponse>) -> Output {
    Output::Done(json::Done {
        message: r.into_inner().message,
    })
}

/// A gRPC status as a [`CtlError`]: stackd's refusals carry their own explanation.
fn status_error(target: &Target, rpc: &'static str, s: tonic::Status) -> CtlError {
    use tonic::Code;
    // A status made on this side from a transport error: the connection broke.
    if let Some(source) = std::error::Error::source(&s) {
        return target.unreachable(format!(
            "connection lost: {}",
            io_reason(&target.socket, source)
        ));
    }
    match s.code() {
        Code::FailedPrecondition
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::OutOfRange
        | Code::PermissionDenied => CtlError::Refused {
            message: if s.message().is_empty() {
                format!("stackd refused {rpc}: {}", s.code().description())
            } else {
                s.message().to_string()
            },
        },
        Code::Unavailable => CtlError::Unavailable {
            socket: target.socket.display().to_string(),
            message: s.message().to_string(),
        },
        Code::Unimplemented => CtlError::Unimplemented {
            socket: target.socket.display().to_string(),
            rpc,
        },
        code => CtlError::Rpc {
            rpc,
            code,
            message: s.message().to_string(),
        },
    }
}
