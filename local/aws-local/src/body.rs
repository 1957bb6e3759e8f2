//! Reading a request body whole, within a size limit and a deadline, for every endpoint of
//! the port (`/graphql` answers in AppSync's shapes, the DynamoDB endpoint in DynamoDB's).
//!
//! The limit is checked against `content-length` before a byte is read and again as bytes
//! arrive (a declared length is never trusted for more than the limit), and the whole body
//! must arrive within the deadline: a caller can make the server hold at most `limit` bytes
//! for at most that long.
//!
//! Routes with different limits can share one port (the local stack puts AppSync's 5 MiB
//! `/graphql` and DynamoDB's 16 MiB `POST /` behind the same 1,024 connections): a
//! [`BodyBudget`] bounds the bytes all of them hold at once, so the port's worst case is
//! the budget, not the sum of each route's own worst case.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bytes of request bodies that the routes sharing it may hold at once, counted in KiB.
/// Each body reserves what it may grow to (its declared length, else its route's limit)
/// before a byte is read, and gives it back when it is dropped.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    /// The whole budget, in KiB: a body declared larger can never fit.
    total_kib: usize,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB; at most tokio's semaphore maximum,
    /// 2^61 KiB).
    pub fn new(bytes: usize) -> BodyBudget {
        let kib = bytes.div_ceil(1024).min(Semaphore::MAX_PERMITS);
        BodyBudget {
            kib: Arc::new(Semaphore::new(kib)),
            total_kib: kib,
        }
    }

    /// What is left, in bytes.
    pub fn available(&self) -> usize {
        self.kib.available_permits().saturating_mul(1024)
    }

    fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024)).ok()?;
        self.kib.clone().try_acquire_many_owned(kib).ok()
    }
}

/// A body read whole, holding its share of the port's [`BodyBudget`] while it lives.
#[derive(Debug)]
pub struct ReadBody {
    bytes: Bytes,
    _reserved: Option<OwnedSemaphorePermit>,
}

impl Deref for ReadBody {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        &self.bytes
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (declared or as it arrived).
    TooLarge,
    /// The connection failed while the body arrived.
    Unreadable,
    /// Not whole within the deadline.
    TimedOut,
    /// The port's bodies already hold its [`BodyBudget`]: nothing was read.
    OverBudget,
}

/// Reads `body` whole: at most `limit` bytes, within `deadline`, and with a `budget`, only if
/// what it may grow to (its declared length, else `limit`) still fits in it.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: Duration,
    budget: Option<&BodyBudget>,
) -> Result<ReadBody, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    // hyper never delivers more than a declared length, so that is all a body can hold.
    let reserved = match budget {
        None => None,
        Some(budget) => {
            let wanted = declared.unwrap_or(limit);
            if wanted.div_ceil(1024) > budget.total_kib {
                return Err(BodyError::TooLarge);
            }
            Some(budget.reserve(wanted).ok_or(BodyError::OverBudget)?)
        }
    };
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
            make_room(&mut bytes, chunk.len(), limit);
            bytes.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(bytes))
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(result) => result.map(|bytes| ReadBody {
            bytes,
            _reserved: reserved,
        }),
        Err(_) => {
            tracing::debug!("request body not received in time");
            Err(BodyError::TimedOut)
        }
    }
}

/// Makes room for `extra` more bytes, growing by doubling but never past `limit`, so a body
/// without a declared length holds at most `limit` bytes of buffer (what it reserved), where
/// doubling alone could end at twice the body.
fn make_room(bytes: &mut Vec<u8>, extra: usize, limit: usize) {
    let needed = bytes.len() + extra;
    if needed > bytes.capacity() {
        let target = (bytes.capacity() * 2).max(needed).min(limit.max(needed));
        bytes.reserve_exact(target - bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: Vec<Vec<u8>>) -> Body {
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        );
        Body::from_stream(stream)
    }

    /// A body without a declared length reserves its limit and never grows a buffer past it
    /// (doubling alone would end at up to twice the body).
    #[tokio::test]
    async fn an_undeclared_body_holds_at_most_its_limit() {
        let limit = 1_000_000;
        let chunks: Vec<Vec<u8>> = (0..61).map(|_| vec![b'x'; 16 * 1024]).collect();
        let budget = BodyBudget::new(4 * limit);
        let body = read_limited(
            &HeaderMap::new(),
            chunked(chunks),
            limit,
            Duration::from_secs(5),
            Some(&budget),
        )
        .await
        .unwrap();
        assert_eq!(body.len(), 61 * 16 * 1024);
        let mut grown = Vec::new();
        for _ in 0..61 {
            make_room(&mut grown, 16 * 1024, limit);
            grown.extend_from_slice(&[b'x'; 16 * 1024]);
        }
        let held = grown.capacity();
        assert!(
            held <= limit,
            "{held} bytes of buffer for a {limit}-byte limit"
        );
        let whole = (4 * limit).div_ceil(1024) * 1024;
        assert_eq!(
            budget.available(),
            whole - limit.div_ceil(1024) * 1024,
            "the limit reserved"
        );
        drop(body);
        assert_eq!(budget.available(), whole, "given back with the body");
    }

    /// A body declared larger than the whole budget could never be read: refused as too
    /// large, not throttled for ever.
    #[tokio::test]
    async fn a_body_larger_than_the_budget_is_too_large() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "5000".parse().unwrap());
        let budget = BodyBudget::new(4096);
        let read = read_limited(
            &headers,
            Body::empty(),
            10_000,
            Duration::from_secs(1),
            Some(&budget),
        );
        assert_eq!(read.await.unwrap_err(), BodyError::TooLarge);
    }
}
