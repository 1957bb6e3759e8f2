//! Who called an AWS-style endpoint, or why not: the IAM keys a server accepts, checked
//! through [`crate::sigv4`], and the failure vocabulary every local service maps to its own
//! error shape (AppSync's `errorType`, DynamoDB's `__type`). API keys are an AWS auth mode
//! (AppSync's); the keys themselves are checked by the service that has them.
//!
//! AWS reports missing credentials and wrong ones differently (401 before anything happens
//! versus an error after), so [`AuthFailure`] keeps them apart.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;

use crate::sigv4::{self, SigV4Error, SignedRequest};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    ApiKey,
    Iam { access_key_id: String },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthFailure {
    #[error("Valid authorization header not provided.")]
    Missing,
    #[error("You are not authorized to make this call.")]
    BadApiKey,
    #[error("{0}")]
    Signature(SigV4Error),
    #[error("this server accepts API keys and AWS_IAM; the token in Authorization is neither")]
    UnsupportedToken,
}

/// The IAM keys a server accepts (access key id → secret access key) and how far a
/// signature's date may be from the server's clock.
#[derive(Debug, Clone)]
pub struct IamKeys {
    credentials: HashMap<String, String>,
    max_skew: Duration,
}

impl IamKeys {
    pub fn new(credentials: HashMap<String, String>, max_skew: Duration) -> Self {
        IamKeys {
            credentials,
            max_skew,
        }
    }

    /// Verifies a SigV4 `authorization` over `request` for `service`, reading the signed
    /// headers through `header`.
    pub fn verify(
        &self,
        authorization: &str,
        request: &SignedRequest<'_>,
        service: &'static str,
        header: impl Fn(&str) -> Option<String>,
    ) -> Result<Principal, AuthFailure> {
        let access_key_id = sigv4::verify(
            authorization,
            request,
            service,
            header,
            |id| self.credentials.get(id).cloned(),
            self.max_skew,
            SystemTime::now(),
        )
        .map_err(AuthFailure::Signature)?;
        Ok(Principal::Iam {
            access_key_id: access_key_id.to_owned(),
        })
    }

    /// Authenticates a `POST path` scoped to `service` from its headers and exact body:
    /// SigV4 with a known IAM key, nothing else (no API key).
    pub fn signed(
        &self,
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
        service: &'static str,
    ) -> Result<Principal, AuthFailure> {
        let get = |name: &str| header(headers, name);
        match get("authorization") {
            Some(a) if a.starts_with(sigv4::ALGORITHM) => {
                let request = SignedRequest {
                    method: "POST",
                    path,
                    canonical_query: "",
                    body,
                };
                self.verify(&a, &request, service, get)
            }
            Some(_) => Err(AuthFailure::UnsupportedToken),
            None => Err(AuthFailure::Missing),
        }
    }

    /// [`IamKeys::signed`] on the headers alone, before the body is read, so a caller
    /// without a key makes the server buffer nothing: `Ok(())` if only the body hash is left
    /// to check.
    pub fn signed_before_body(
        &self,
        headers: &HeaderMap,
        path: &str,
        service: &'static str,
    ) -> Result<(), AuthFailure> {
        match self.signed(headers, path, b"", service) {
            Ok(_) | Err(AuthFailure::Signature(SigV4Error::Mismatch)) => Ok(()),
            Err(failure) => Err(failure),
        }
    }
}

/// A header's value as text, if it is there and is text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
