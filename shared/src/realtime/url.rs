//! Where the real-time endpoint lives, given the GraphQL HTTP endpoint (§A.1).
//!
//! AppSync's own hosts swap `appsync-api` for `appsync-realtime-api`; any other host (a
//! custom domain, the local server) serves it at `<graphql url>/realtime`. The scheme becomes
//! `wss://` (or `ws://` for a plain-HTTP local endpoint, which browsers need for localhost).

/// The real-time WebSocket URL for a GraphQL HTTP URL.
pub fn realtime_url(graphql_url: &str) -> String {
    let (scheme, rest) = match graphql_url.split_once("://") {
        Some(("http", rest)) => ("ws", rest),
        Some((_, rest)) => ("wss", rest),
        None => ("wss", graphql_url),
    };
    if is_appsync_host_url(rest) {
        format!(
            "{scheme}://{}",
            rest.replacen(".appsync-api.", ".appsync-realtime-api.", 1)
        )
    } else {
        format!("{scheme}://{}/realtime", rest.trim_end_matches('/'))
    }
}

/// The host (with port, if any) of a URL, as the auth object's `host` wants it.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// `<26 chars>.appsync-api.<region>.amazonaws.com[.cn]/graphql` (Amplify's test).
fn is_appsync_host_url(rest: &str) -> bool {
    let Some((host, path)) = rest.split_once('/') else {
        return false;
    };
    if path != "graphql" {
        return false;
    }
    let mut labels = host.split('.');
    let api_id_ok = labels
        .next()
        .is_some_and(|id| id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    let service_ok = labels.next() == Some("appsync-api");
    let region_ok = labels
        .next()
        .is_some_and(|r| r.split('-').count() >= 3 && r.ends_with(|c: char| c.is_ascii_digit()));
    let tail: Vec<&str> = labels.collect();
    api_id_ok
        && service_ok
        && region_ok
        && matches!(
            tail.as_slice(),
            ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
        )
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for query values.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
