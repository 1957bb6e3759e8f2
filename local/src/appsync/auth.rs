//! Who is calling: API key or IAM (SigV4), for HTTP requests and real-time auth objects.
//!
//! AppSync reports missing credentials and wrong ones differently (401 before anything
//! happens versus an error after), so [`AuthFailure`] keeps them apart.

use std::time::SystemTime;

use axum::http::HeaderMap;
use quotecast_shared::realtime::{AuthMode, AuthObject};
use subtle::ConstantTimeEq;

use super::config::Config;
use super::sigv4::{self, SigV4Error, SignedRequest};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    ApiKey,
    Iam { access_key_id: String },
}

impl Principal {
    /// The schema directive that admits this caller.
    pub fn directive(&self) -> &'static str {
        match self {
            Principal::ApiKey => "aws_api_key",
            Principal::Iam { .. } => "aws_iam",
        }
    }
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

impl AuthFailure {
    /// The `errorType` AppSync reports for this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            AuthFailure::Signature(SigV4Error::UnknownAccessKey) => "UnrecognizedClientException",
            AuthFailure::Signature(SigV4Error::Mismatch | SigV4Error::Expired(_)) => {
                "InvalidSignatureException"
            }
            AuthFailure::Signature(_) => "BadRequestException",
            _ => "UnauthorizedException",
        }
    }
}

/// Checks credentials against the server's configuration.
#[derive(Debug, Clone)]
pub struct Authenticator {
    config: Config,
}

impl Authenticator {
    pub fn new(config: Config) -> Self {
        Authenticator { config }
    }

    /// Compares in constant time (per configured key), so response timing tells an attacker
    /// nothing about how much of a guessed key was right.
    fn api_key(&self, key: &str) -> Result<Principal, AuthFailure> {
        let matched = self
            .config
            .api_keys
            .iter()
            .fold(subtle::Choice::from(0), |found, k| {
                found | k.as_bytes().ct_eq(key.as_bytes())
            });
        if bool::from(matched) {
            Ok(Principal::ApiKey)
        } else {
            Err(AuthFailure::BadApiKey)
        }
    }

    fn iam(
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
            |id| self.config.iam_credentials.get(id).cloned(),
            self.config.signature_max_skew,
            SystemTime::now(),
        )
        .map_err(AuthFailure::Signature)?;
        Ok(Principal::Iam {
            access_key_id: access_key_id.to_owned(),
        })
    }

    /// Checks what an HTTP request's headers alone can prove, before its body is read, so a
    /// caller without credentials cannot make the server buffer one: an API key is decided
    /// here (`Ok(Some(_))`); a SigV4 signature passes (`Ok(None)`) only if everything but
    /// the body hash holds (known key, service, date, signed headers), and must then be
    /// verified whole by [`Authenticator::http`].
    pub fn http_before_body(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Option<Principal>, AuthFailure> {
        match self.http(headers, path, b"") {
            Ok(Principal::ApiKey) => Ok(Some(Principal::ApiKey)),
            // Only the body hash is left to decide (a mismatch may be the empty body's).
            Ok(Principal::Iam { .. }) | Err(AuthFailure::Signature(SigV4Error::Mismatch)) => {
                Ok(None)
            }
            Err(failure) => Err(failure),
        }
    }

    /// Authenticates an HTTP request from its headers and exact body.
    pub fn http(
        &self,
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
    ) -> Result<Principal, AuthFailure> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(key) = get("x-api-key") {
            return self.api_key(&key);
        }
        match get("authorization") {
            Some(a) if a.starts_with(sigv4::ALGORITHM) => {
                let request = SignedRequest {
                    method: "POST",
                    path,
                    canonical_query: "",
                    body,
                };
                self.iam(&a, &request, sigv4::SERVICE, get)
            }
            Some(_) => Err(AuthFailure::UnsupportedToken),
            None => Err(AuthFailure::Missing),
        }
    }

    /// Authenticates a `POST path` to another AWS service on this port (DynamoDB): SigV4
    /// scoped to `service` with a known IAM key, nothing else (no API key).
    pub fn signed(
        &self,
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
        service: &'static str,
    ) -> Result<Principal, AuthFailure> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match get("authorization") {
            Some(a) if a.starts_with(sigv4::ALGORITHM) => {
                let request = SignedRequest {
                    method: "POST",
                    path,
                    canonical_query: "",
                    body,
                };
                self.iam(&a, &request, service, get)
            }
            Some(_) => Err(AuthFailure::UnsupportedToken),
            None => Err(AuthFailure::Missing),
        }
    }

    /// [`Authenticator::signed`] on the headers alone, before the body is read, as
    /// [`Authenticator::http_before_body`]: `Ok(())` if only the body hash is left to check.
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

    /// Authenticates a real-time auth object; the signed request (for IAM) is `POST path`
    /// with `body` (`/graphql/connect` with `{}` for the handshake, `/graphql` with the
    /// `start` payload's `data` for a subscription).
    pub fn auth_object(
        &self,
        auth: &AuthObject,
        path: &str,
        body: &[u8],
    ) -> Result<Principal, AuthFailure> {
        match auth.mode() {
            AuthMode::ApiKey(key) => self.api_key(key),
            AuthMode::Iam(authorization) => {
                let request = SignedRequest {
                    method: "POST",
                    path,
                    canonical_query: "",
                    body,
                };
                self.iam(authorization, &request, sigv4::SERVICE, |name| {
                    auth.get(name).map(str::to_owned)
                })
            }
            AuthMode::Token(_) => Err(AuthFailure::UnsupportedToken),
            AuthMode::Missing => Err(AuthFailure::Missing),
        }
    }
}
