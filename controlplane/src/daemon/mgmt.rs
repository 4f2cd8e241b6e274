//! The management gRPC service (`stackd.stack.v1.StackManagement`): what operators and
//! `stackctl` talk to. Requests about the stack go to the driver, which owns the stack
//! manager; the dataplane's counters and state are read from the unit's `dataplaned`
//! directly.

use proto::dataplane::v1 as dp;
use proto::dataplane::v1::dataplane_client::DataplaneClient;
use proto::stack::v1 as pb;
use proto::stack::v1::stack_management_server::{StackManagement, StackManagementServer};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// A request for the driver, with where to send the answer.
#[derive(Debug)]
pub enum MgmtRequest {
    /// `show switch`.
    ShowSwitch(oneshot::Sender<Result<pb::ShowSwitchResponse, Status>>),
    /// `show switch stack-ports [counters]`.
    ShowStackPorts {
        /// With this unit's counters.
        counters: bool,
        /// The answer.
        reply: oneshot::Sender<Result<pb::ShowStackPortsResponse, Status>>,
    },
    /// `show switch stack-ports stack-path`.
    ShowStackPath(oneshot::Sender<Result<pb::ShowStackPathResponse, Status>>),
    /// `show nsf`.
    ShowNsf(oneshot::Sender<Result<pb::ShowNsfResponse, Status>>),
    /// `show checkpoint statistics`.
    ShowCheckpoint(oneshot::Sender<Result<pb::ShowCheckpointResponse, Status>>),
    /// A command that changes the stack.
    Command {
        /// What to do.
        command: StackCommand,
        /// The answer.
        reply: oneshot::Sender<Result<pb::CommandResponse, Status>>,
    },
}

/// An operator command, validated as far as it can be without the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackCommand {
    /// Set unit `unit`'s priority.
    SetPriority {
        /// The unit.
        unit: u8,
        /// The priority.
        priority: u8,
    },
    /// Configure the standby (`None`: the rules pick).
    SetStandby(Option<u8>),
    /// Renumber unit `unit` to `to`.
    Renumber {
        /// The unit.
        unit: u8,
        /// Its new number.
        to: u8,
    },
    /// Hand over to the standby.
    Failover,
}

/// The service: a channel to the driver and the current dataplane client.
#[derive(Clone, Debug)]
pub struct MgmtService {
    driver: mpsc::Sender<MgmtRequest>,
    dataplane: watch::Receiver<Option<DataplaneClient<Channel>>>,
}

impl MgmtService {
    /// A service answering through `driver`, reading the dataplane through `dataplane`.
    pub fn new(
        driver: mpsc::Sender<MgmtRequest>,
        dataplane: watch::Receiver<Option<DataplaneClient<Channel>>>,
    ) -> Self {
        MgmtService { driver, dataplane }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> StackManagementServer<Self> {
        StackManagementServer::new(self)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Status>>) -> MgmtRequest,
    ) -> Result<Response<T>, Status> {
        let (tx, rx) = oneshot::channel();
        self.driver
            .send(make(tx))
            .await
            .map_err(|_| Status::unavailable("stackd is shutting down"))?;
        rx.await
            .map_err(|_| Status::unavailable("stackd is shutting down"))?
            .map(Response::new)
    }

    fn dataplane(&self) -> Result<DataplaneClient<Channel>, Status> {
        self.dataplane.borrow().clone().ok_or_else(|| {
            Status::unavailable("not attached to this unit's dataplaned yet (is it running?)")
        })
    }

    async fn command(
        &self,
        command: StackCommand,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        self.ask(|reply| MgmtRequest::Command { command, reply })
            .await
    }
}

fn unit_arg(v: u32, field: &str) -> Result<u8, Status> {
    u8::try_from(v)
        .ok()
        .filter(|u| (1..=crate::election::MAX_UNITS).contains(u))
        .ok_or_else(|| {
            Status::invalid_argument(format!("{field}: {v}: expected a unit number 1..=6"))
        })
}

#[tonic::async_trait]
impl StackManagement for MgmtService {
    async fn show_switch(
        &self,
        _: Request<pb::ShowSwitchRequest>,
    ) -> Result<Response<pb::ShowSwitchResponse>, Status> {
        self.ask(MgmtRequest::ShowSwitch).await
    }

    async fn show_stack_ports(
        &self,
        request: Request<pb::ShowStackPortsRequest>,
    ) -> Result<Response<pb::ShowStackPortsResponse>, Status> {
        let counters = request.into_inner().counters;
        self.ask(|reply| MgmtRequest::ShowStackPorts { counters, reply })
            .await
    }

    async fn show_stack_path(
        &self,
        _: Request<pb::ShowStackPathRequest>,
    ) -> Result<Response<pb::ShowStackPathResponse>, Status> {
        self.ask(MgmtRequest::ShowStackPath).await
    }

    async fn show_nsf(
        &self,
        _: Request<pb::ShowNsfRequest>,
    ) -> Result<Response<pb::ShowNsfResponse>, Status> {
        self.ask(MgmtRequest::ShowNsf).await
    }

    async fn show_checkpoint(
        &self,
        _: Request<pb::ShowCheckpointRequest>,
    ) -> Result<Response<pb::ShowCheckpointResponse>, Status> {
        self.ask(MgmtRequest::ShowCheckpoint).await
    }

    async fn dataplane_counters(
        &self,
        request: Request<dp::CountersRequest>,
    ) -> Result<Response<dp::CountersResponse>, Status> {
        self.dataplane()?.get_counters(request.into_inner()).await
    }

    async fn dataplane_state(
        &self,
        request: Request<dp::ReadRequest>,
    ) -> Result<Response<dp::ReadResponse>, Status> {
        self.dataplane()?.read(request.into_inner()).await
    }

    async fn set_priority(
        &self,
        request: Request<pb::SetPriorityRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let r = request.into_inner();
        let unit = unit_arg(r.unit, "unit")?;
        let priority = u8::try_from(r.priority).map_err(|_| {
            Status::invalid_argument(format!("priority: {}: expected 0..=255", r.priority))
        })?;
        self.command(StackCommand::SetPriority { unit, priority })
            .await
    }

    async fn set_standby(
        &self,
        request: Request<pb::SetStandbyRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let unit = request.into_inner().unit;
        let unit = if unit == 0 {
            None
        } else {
            Some(unit_arg(unit, "unit")?)
        };
        self.command(StackCommand::SetStandby(unit)).await
    }

    async fn renumber(
        &self,
        request: Request<pb::RenumberRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let r = request.into_inner();
        let unit = unit_arg(r.unit, "unit")?;
        let to = unit_arg(r.new_unit, "new_unit")?;
        self.command(StackCommand::Renumber { unit, to }).await
    }

    async fn initiate_failover(
        &self,
        _: Request<pb::InitiateFailoverRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        self.command(StackCommand::Failover).await
    }
}
