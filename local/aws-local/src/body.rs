//! Reading a request body whole, within a size limit and a deadline, for every endpoint of
//! the port (`/graphql` answers in AppSync's shapes, the DynamoDB endpoint in DynamoDB's).
//!
//! The limit is checked against `content-length` before a byte is read and again as bytes
//! arrive (a declared length is never trusted for more than the limit), and the whole body
//! must arrive within the deadline: a caller can make the server hold at most `limit` bytes
//! for at most that long.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (declared or as it arrived).
    TooLarge,
    /// The connection failed while the body arrived.
    Unreadable,
    /// Not whole within the deadline.
    TimedOut,
}

/// Reads `body` whole: at most `limit` bytes, within `deadline`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::debug!(error = %e, "request body unreadable");
                BodyError::Unreadable
            })?;
            if bytes.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(bytes))
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(result) => result,
        Err(_) => {
            tracing::debug!("request body not received in time");
            Err(BodyError::TimedOut)
        }
    }
}
