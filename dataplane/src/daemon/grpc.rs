//! The gRPC face of `dataplaned`: the `stackd.dataplane.v1.Dataplane` service, plus the
//! standard health and reflection services, on a Unix socket (mode 0600) and optionally TCP.
//!
//! The service is a thin shell: it checks the shape of requests and hands them to the
//! forwarding state through its [`Handle`] (which arbitrates sessions and fences stale
//! writers), in the handler's own thread.

use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use proto::dataplane::v1 as pb;
use proto::dataplane::v1::dataplane_server::{Dataplane, DataplaneServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::forwarding::Handle;

/// Responses a session may have queued before the forwarding thread drops events for it.
const SESSION_QUEUE: usize = 8192;

/// The `Dataplane` service.
#[derive(Clone, Debug)]
pub struct DataplaneService {
    handle: Handle,
}

impl DataplaneService {
    /// A service commanding the forwarding thread behind `handle`.
    pub fn new(handle: Handle) -> Self {
        DataplaneService { handle }
    }

    /// As a tonic server.
    pub fn into_server(self) -> DataplaneServer<Self> {
        DataplaneServer::new(self)
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::SessionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Dataplane for DataplaneService {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<pb::SessionRequest>>,
    ) -> Result<Response<SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound.message().await?.ok_or_else(|| {
            Status::invalid_argument("the session ended before its first message (attach)")
        })?;
        let attach = match first.msg {
            Some(pb::session_request::Msg::Attach(a)) => a,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of a session must be `attach`",
                ))
            }
        };
        if attach.generation == 0 {
            return Err(Status::invalid_argument(
                "attach.generation: must be at least 1",
            ));
        }
        let generation = attach.generation;
        let (events, outbound) = mpsc::channel(SESSION_QUEUE);
        let client = if attach.client.is_empty() {
            "(unnamed)".into()
        } else {
            attach.client.clone()
        };
        self.handle.attach(
            generation,
            client,
            Duration::from_millis(u64::from(attach.reconcile_timeout_ms)),
            events,
        )?;
        let handle = self.handle.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(msg)) => match msg.msg {
                        Some(pb::session_request::Msg::PacketOut(packet)) => {
                            if handle.packet_out(generation, packet).is_err() {
                                break;
                            }
                        }
                        Some(pb::session_request::Msg::ReconcileDone(_)) => {
                            if handle.reconcile_done(generation).is_err() {
                                break;
                            }
                        }
                        Some(pb::session_request::Msg::Attach(_)) => {
                            tracing::warn!(generation, "attach inside an attached session ignored");
                        }
                        None => tracing::warn!(generation, "empty session message ignored"),
                    },
                    Ok(None) => break,
                    Err(status) => {
                        tracing::info!(generation, %status, "session stream ended");
                        break;
                    }
                }
            }
            let _ = handle.detach(generation);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(outbound))))
    }

    async fn write(
        &self,
        request: Request<pb::WriteRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        Ok(Response::new(self.handle.write(request.into_inner())?))
    }

    async fn read(
        &self,
        request: Request<pb::ReadRequest>,
    ) -> Result<Response<pb::ReadResponse>, Status> {
        Ok(Response::new(self.handle.read(request.get_ref())?))
    }

    async fn get_counters(
        &self,
        _request: Request<pb::CountersRequest>,
    ) -> Result<Response<pb::CountersResponse>, Status> {
        Ok(Response::new(self.handle.counters()?))
    }
}

/// Why the gRPC listeners could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another process is serving on the socket.
    #[error("{0}: another dataplaned is already listening there")]
    InUse(String),
    /// The socket (or its directory) could not be created.
    #[error("{path}: {source}")]
    Socket {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TCP address could not be bound.
    #[error("gRPC TCP {addr}: {source}")]
    Tcp {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The reflection service could not be built from the descriptors.
    #[error("gRPC reflection: {0}")]
    Reflection(String),
}

/// Binds the Unix socket at `path` with mode 0600 (its directory 0700 if created), replacing
/// a stale socket file left by a process that died, refusing one another process serves on.
pub fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, ListenError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| ListenError::Socket {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(err)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(listener)
}

/// The health and reflection services, with the dataplane service reported serving.
pub async fn standard_services() -> Result<
    (
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
    ),
    ListenError,
> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<DataplaneServer<DataplaneService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ListenError::Reflection(e.to_string()))?;
    Ok((health, reflection))
}
