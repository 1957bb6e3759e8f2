//! The DynamoDB twin on a port of its own (library use: its tests, any tool that wants only
//! the table): the endpoint's router behind the same bounded accept loop as every local
//! service.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quotecast_aws_local::http_server::{self, HttpLimits};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::endpoint::DynamoDb;

/// Open connections served at once; more are answered [`BUSY_RESPONSE`] and closed.
pub const MAX_CONNECTIONS: usize = 1024;
/// A request's headers must arrive within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection over [`MAX_CONNECTIONS`] is told, in DynamoDB's error shape.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/x-amz-json-1.0\r\n\
connection: close\r\n\
content-length: 114\r\n\r\n\
{\"__type\":\"com.amazon.coral.availability#ThrottlingException\",\"message\":\"Too many open connections; retry later.\"}";

/// A bound, not yet running, DynamoDB endpoint.
pub struct Server {
    db: Arc<DynamoDb>,
    listener: TcpListener,
}

impl Server {
    pub async fn bind(addr: SocketAddr, db: Arc<DynamoDb>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { db, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, letting requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = HttpLimits {
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            busy_response: BUSY_RESPONSE,
        };
        http_server::serve(self.listener, self.db.router(), limits, shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_declares_its_own_length_and_is_dynamodbs_json() {
        let text = std::str::from_utf8(BUSY_RESPONSE).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        let declared = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse::<usize>().ok());
        assert_eq!(declared, Some(body.len()));
        let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(
            body["__type"],
            "com.amazon.coral.availability#ThrottlingException"
        );
    }
}
