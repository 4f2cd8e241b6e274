//! gRPC over Unix sockets: the client side (stackd → dataplaned, stackctl → stackd).

use std::path::Path;

use tonic::transport::{Channel, Endpoint};

/// A gRPC channel to the server listening on the Unix socket `path`. Connects at once, so a
/// missing or dead server is an error here rather than at the first call.
pub async fn connect(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    // The URI is required by the API but unused: the connector below dials the socket.
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
}
