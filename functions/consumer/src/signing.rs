//! SigV4 signing of outgoing requests with the function's credentials (AWS's own signer).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SigningError(String);

/// The function's credentials from the Lambda environment.
pub fn env_credentials() -> Option<Credentials> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Credentials::new(
        get("AWS_ACCESS_KEY_ID")?,
        get("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN"),
        None,
        "environment",
    ))
}

/// Returns `headers` plus the SigV4 headers (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` with temporary credentials) for `POST url` with `body`.
pub fn sign_post(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    region: &str,
    credentials: &Credentials,
) -> Result<Vec<(String, String)>, SigningError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    let mut request = http::Request::builder().method("POST").uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request.body(()).map_err(|e| SigningError(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect())
}

/// `host[:port]` of a URL, as signed.
pub fn host_of(url: &str) -> &str {
    quotecast_shared::realtime::url::host_of(url)
}
