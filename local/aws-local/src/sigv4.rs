//! Verification of AWS Signature Version 4, for one service per call (`appsync` for the
//! AppSync twin, `dynamodb` for the DynamoDB twin).
//!
//! The canonical request is rebuilt from what the client says it signed (`SignedHeaders`),
//! the method, path and exact body bytes, then the signature is recomputed with the secret of
//! the access key and compared in constant time. The same verifier serves HTTP requests
//! (headers from the request) and the real-time handshake and `start` (headers from the auth
//! object, path `/graphql/connect` or `/graphql`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service AppSync's signatures are scoped to.
pub const SERVICE: &str = "appsync";
/// The service DynamoDB's signatures are scoped to.
pub const DYNAMODB_SERVICE: &str = "dynamodb";

/// Why a signature was refused. `UnknownAccessKey` is reported by AWS as
/// `UnrecognizedClientException`; the others as `InvalidSignatureException`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SigV4Error {
    #[error("Authorization header is not a valid AWS4-HMAC-SHA256 header: {0}")]
    Malformed(&'static str),
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    #[error("Credential should be scoped to correct service: '{0}'.")]
    WrongService(&'static str),
    #[error("signed header `{0}` is not present in the request")]
    MissingSignedHeader(String),
    #[error("Signature expired: {0} is outside the allowed clock skew.")]
    Expired(String),
    #[error("The request signature we calculated does not match the signature you provided.")]
    Mismatch,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq)]
struct AuthorizationHeader<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<AuthorizationHeader<'_>, SigV4Error> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .ok_or(SigV4Error::Malformed("algorithm must be AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or(SigV4Error::Malformed("no Credential"))?;
    let mut scope = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(SigV4Error::Malformed(
            "Credential must be <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    let signed_headers: Vec<&str> = signed
        .ok_or(SigV4Error::Malformed("no SignedHeaders"))?
        .split(';')
        .collect();
    let signature = signature.ok_or(SigV4Error::Malformed("no Signature"))?;
    Ok(AuthorizationHeader {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// A request as the verifier sees it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Already canonical (sorted, encoded); empty for AppSync's POSTs.
    pub canonical_query: &'a str,
    pub body: &'a [u8],
}

/// Verifies `authorization` for `request` to `service`, whose headers `header` looks up by
/// lower-case name. `secret_for` maps an access key id to its secret. Returns the access
/// key id.
pub fn verify<'a>(
    authorization: &'a str,
    request: &SignedRequest<'_>,
    service: &'static str,
    header: impl Fn(&str) -> Option<String>,
    secret_for: impl Fn(&str) -> Option<String>,
    max_skew: Duration,
    now: SystemTime,
) -> Result<&'a str, SigV4Error> {
    let auth = parse_authorization(authorization)?;
    if auth.service != service {
        return Err(SigV4Error::WrongService(service));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(SigV4Error::Malformed("SignedHeaders must include host"));
    }
    let amz_date = header("x-amz-date").ok_or(SigV4Error::Malformed("no x-amz-date"))?;
    if !amz_date.starts_with(auth.date) {
        return Err(SigV4Error::Malformed(
            "credential date differs from x-amz-date",
        ));
    }
    check_skew(&amz_date, now, max_skew)?;
    let secret = secret_for(auth.access_key_id).ok_or(SigV4Error::UnknownAccessKey)?;

    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let value =
            header(name).ok_or_else(|| SigV4Error::MissingSignedHeader((*name).to_owned()))?;
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&collapse_spaces(&value));
        canonical_headers.push('\n');
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        request.path,
        request.canonical_query,
        canonical_headers,
        auth.signed_headers.join(";"),
        hex::encode(Sha256::digest(request.body)),
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(&secret, auth.date, auth.region, auth.service);
    let expected = hex::decode(auth.signature).map_err(|_| SigV4Error::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| SigV4Error::Mismatch)?;
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| SigV4Error::Mismatch)?;
    Ok(auth.access_key_id)
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    hmac(&k_service, "aws4_request")
}

/// Trims a header value and folds runs of spaces, as SigV4's canonical form wants.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads `YYYYMMDDTHHMMSSZ` and checks it against `now` ± `max_skew`.
fn check_skew(amz_date: &str, now: SystemTime, max_skew: Duration) -> Result<(), SigV4Error> {
    let signed_at = parse_amz_date(amz_date)
        .ok_or(SigV4Error::Malformed("x-amz-date must be YYYYMMDDTHHMMSSZ"))?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if (now - signed_at).unsigned_abs() > max_skew.as_secs() {
        return Err(SigV4Error::Expired(amz_date.to_owned()));
    }
    Ok(())
}

/// Seconds since the epoch of a `YYYYMMDDTHHMMSSZ` date.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_convert_to_epoch_seconds() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20200401T001010Z"), Some(1_585_699_810));
        assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
        assert_eq!(parse_amz_date("2020-04-01T00:10Z"), None);
        assert_eq!(parse_amz_date("20201301T000000Z"), None);
    }

    #[test]
    fn authorization_header_parts_are_read() {
        let h = "AWS4-HMAC-SHA256 Credential=AKID/20200401/us-east-1/appsync/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab";
        let a = parse_authorization(h).unwrap();
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert!(parse_authorization("Bearer x").is_err());
        assert!(
            parse_authorization(
                "AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=a"
            )
            .is_err()
        );
    }
}
