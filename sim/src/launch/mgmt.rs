//! A blocking client of the units' management API (`stackd.stack.v1`), for the launcher's
//! progress display, scenarios and faults: each call connects to the unit's Unix socket,
//! asks, and gives up after a short timeout.

use std::path::Path;
use std::time::Duration;

use proto::stack::v1 as pb;
use proto::stack::v1::stack_management_client::StackManagementClient;
use thiserror::Error;

/// Why a management call failed.
#[derive(Debug, Error)]
pub enum MgmtError {
    /// The socket could not be reached (the unit's stackd is not running).
    #[error("{socket}: {message}")]
    Connect {
        /// The socket.
        socket: String,
        /// Why.
        message: String,
    },
    /// The call failed.
    #[error("{socket}: {status}")]
    Call {
        /// The socket.
        socket: String,
        /// The gRPC status.
        status: tonic::Status,
    },
    /// No answer within the timeout.
    #[error("{0}: no answer within 2 s")]
    Timeout(String),
    /// The client's runtime could not start.
    #[error("cannot start the gRPC client: {0}")]
    Runtime(std::io::Error),
}

/// The blocking management client (one small tokio runtime).
#[derive(Debug)]
pub struct Mgmt {
    rt: tokio::runtime::Runtime,
}

const TIMEOUT: Duration = Duration::from_secs(2);

impl Mgmt {
    /// A client with its own single-threaded runtime.
    pub fn new() -> Result<Mgmt, MgmtError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MgmtError::Runtime)?;
        Ok(Mgmt { rt })
    }

    fn call<T, F, Fut>(&self, socket: &Path, f: F) -> Result<T, MgmtError>
    where
        F: FnOnce(StackManagementClient<tonic::transport::Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let name = socket.display().to_string();
        self.rt.block_on(async {
            let work = async {
                let ch = controlplane::daemon::uds::connect(socket)
                    .await
                    .map_err(|e| MgmtError::Connect {
                        socket: name.clone(),
                        message: e.to_string(),
                    })?;
                f(StackManagementClient::new(ch))
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|status| MgmtError::Call {
                        socket: name.clone(),
                        status,
                    })
            };
            tokio::time::timeout(TIMEOUT, work)
                .await
                .map_err(|_| MgmtError::Timeout(name.clone()))?
        })
    }

    /// `show switch` of the unit serving `socket`.
    pub fn show_switch(&self, socket: &Path) -> Result<pb::ShowSwitchResponse, MgmtError> {
        self.call(socket, |mut c| async move {
            c.show_switch(pb::ShowSwitchRequest {}).await
        })
    }

    /// `show nsf` of the unit serving `socket`.
    pub fn show_nsf(&self, socket: &Path) -> Result<pb::ShowNsfResponse, MgmtError> {
        self.call(socket, |mut c| async move {
            c.show_nsf(pb::ShowNsfRequest {}).await
        })
    }
}

/// What a set of `show switch` answers says about the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Units that answered.
    pub answered: usize,
    /// The master's unit number, when every answer names the same master.
    pub master: Option<u32>,
    /// The standby's unit number, if all agree on one.
    pub standby: Option<u32>,
    /// Every answer agrees on one master and one standby, has `expected` members, and every
    /// unit is active.
    pub converged: bool,
}

/// Judges `views` (one per unit that answered) against `expected` units.
pub fn agreement(views: &[pb::ShowSwitchResponse], expected: usize) -> Agreement {
    let role_unit = |v: &pb::ShowSwitchResponse, role: pb::Role| {
        let mut it = v.members.iter().filter(|m| m.role == role as i32);
        match (it.next(), it.next()) {
            (Some(m), None) => Some(m.unit),
            _ => None,
        }
    };
    let first = views.first();
    let master = first.and_then(|f| {
        let m = role_unit(f, pb::Role::Master)?;
        views
            .iter()
            .all(|v| v.master_mac == f.master_mac && v.master_mac != 0)
            .then_some(m)
    });
    let standby = first.and_then(|f| {
        let s = role_unit(f, pb::Role::Standby)?;
        views
            .iter()
            .all(|v| role_unit(v, pb::Role::Standby) == Some(s))
            .then_some(s)
    });
    let converged = master.is_some()
        && views.len() == expected
        && views.iter().all(|v| {
            v.active && v.members.len() == expected && role_unit(v, pb::Role::Master) == master
        })
        && (expected < 2 || standby.is_some());
    Agreement {
        answered: views.len(),
        master,
        standby,
        converged,
    }
}
