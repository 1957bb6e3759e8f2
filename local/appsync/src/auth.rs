//! Who is calling the API: API key or IAM (SigV4), for HTTP requests and real-time auth
//! objects.
//!
//! The SigV4 check itself and the failure vocabulary are `quotecast_aws_local::iam`'s (the
//! DynamoDB twin uses the same); what is AppSync's own is here: API keys, the real-time auth
//! object, and which schema directive admits a caller.

use axum::http::HeaderMap;
use quotecast_aws_local::iam::{IamKeys, header};
use quotecast_aws_local::sigv4::{self, SigV4Error, SignedRequest};
use quotecast_shared::realtime::{AuthMode, AuthObject};
use subtle::ConstantTimeEq;

pub use quotecast_aws_local::iam::{AuthFailure, Principal};

use super::config::Config;

/// The `errorType` AppSync reports for `failure`.
pub fn error_type(failure: &AuthFailure) -> &'static str {
    match failure {
        AuthFailure::Signature(SigV4Error::UnknownAccessKey) => "UnrecognizedClientException",
        AuthFailure::Signature(SigV4Error::Mismatch | SigV4Error::Expired(_)) => {
            "InvalidSignatureException"
        }
        AuthFailure::Signature(_) => "BadRequestException",
        _ => "UnauthorizedException",
    }
}

/// The schema directive that admits `principal`.
pub fn directive(principal: &Principal) -> &'static str {
    match principal {
        Principal::ApiKey => "aws_api_key",
        Principal::Iam { .. } => "aws_iam",
    }
}

/// Checks credentials against the server's configuration.
#[derive(Debug, Clone)]
pub struct Authenticator {
    api_keys: Vec<String>,
    iam: IamKeys,
}

impl Authenticator {
    pub fn new(config: &Config) -> Self {
        Authenticator {
            api_keys: config.api_keys.clone(),
            iam: config.iam_keys(),
        }
    }

    /// Compares in constant time (per configured key), so response timing tells an attacker
    /// nothing about how much of a guessed key was right.
    fn api_key(&self, key: &str) -> Result<Principal, AuthFailure> {
        let matched = self
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
        if let Some(key) = header(headers, "x-api-key") {
            return self.api_key(&key);
        }
        self.iam.signed(headers, path, body, sigv4::SERVICE)
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
                self.iam
                    .verify(authorization, &request, sigv4::SERVICE, |name| {
                        auth.get(name).map(str::to_owned)
                    })
            }
            AuthMode::Token(_) => Err(AuthFailure::UnsupportedToken),
            AuthMode::Missing => Err(AuthFailure::Missing),
        }
    }
}
