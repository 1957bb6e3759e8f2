//! The dashboard's API key on AWS: how long it lives, and how much of that life is left.
//!
//! AppSync's default for a key created without `Expires` is 7 days: a fresh deployment's
//! dashboard goes "offline: apiKey" a week later. CloudFormation cannot compute a date, so
//! the template's `ApiKeyExpires` has no default and `cargo xtask deploy` passes one
//! ([`expiry_for_deploy`]); deploying again renews the same key in place (`Expires` is a
//! "no interruption" update), so the dashboard never needs a new key. `cargo xtask smoke`
//! reads what is left of it ([`life_left`]) and warns under [`WARN_DAYS`].

use anyhow::{Context, Result, bail};
use serde_json::Value;

const DAY: u64 = 24 * 60 * 60;
const HOUR: u64 = 60 * 60;

/// How far ahead a deploy sets the key's expiry: a year, less a day of margin for the time
/// between computing it and CloudFormation applying it (AppSync refuses more than 365 days).
pub const DEPLOY_LIFE_DAYS: u64 = 364;

/// `cargo xtask smoke` warns when the key has fewer days left than this.
pub const WARN_DAYS: u64 = 30;

/// `ApiKeyExpires` for a deploy at `now` (seconds since 1970): [`DEPLOY_LIFE_DAYS`] ahead,
/// rounded down to the hour as AppSync stores it.
pub fn expiry_for_deploy(now: u64) -> u64 {
    let at = now + DEPLOY_LIFE_DAYS * DAY;
    at - at % HOUR
}

/// What is left of `key`'s life at `now`, from `aws appsync list-api-keys` output
/// (`{"apiKeys": [{"id", "expires", …}]}`): a line to print, and whether it is a warning.
pub fn life_left(list_api_keys: &Value, key: &str, now: u64) -> Result<(String, bool)> {
    let keys = list_api_keys["apiKeys"]
        .as_array()
        .context("`aws appsync list-api-keys` gave no apiKeys list")?;
    let Some(found) = keys.iter().find(|k| k["id"].as_str() == Some(key)) else {
        bail!("the API has no key {key} (the dashboard's config.json is stale?)");
    };
    let expires = found["expires"]
        .as_u64()
        .context("the key has no expiry in `list-api-keys`")?;
    if expires <= now {
        return Ok((
            format!(
                "API key: EXPIRED {} days ago: deploy again (`cargo xtask deploy`) to renew it",
                (now - expires) / DAY
            ),
            true,
        ));
    }
    let days = (expires - now) / DAY;
    let warn = days < WARN_DAYS;
    let advice = if warn {
        ": deploy again (`cargo xtask deploy`) to renew it in place"
    } else {
        ""
    };
    Ok((format!("API key: expires in {days} days{advice}"), warn))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_deploy_sets_a_year_less_a_day_on_the_hour() {
        let now = 1_764_979_200 + 1_234; // 2025-12-06T00:20:34Z
        let at = expiry_for_deploy(now);
        assert_eq!(at % HOUR, 0);
        assert!(at > now + 363 * DAY && at <= now + 364 * DAY, "{at}");
        assert!(at < now + 365 * DAY, "AppSync refuses more than 365 days");
    }

    #[test]
    fn the_keys_life_is_read_from_list_api_keys() {
        // The shape of AppSync's ListApiKeys response.
        let listed = json!({"apiKeys": [
            {"id": "da2-other", "expires": 2_000_000_000, "deletes": 2_005_184_000},
            {"id": "da2-dashboard", "description": "the dashboard's public key",
             "expires": 1_700_000_000 + 45 * DAY, "deletes": 1_700_000_000 + 105 * DAY},
        ]});
        let now = 1_700_000_000;
        let (line, warn) = life_left(&listed, "da2-dashboard", now).unwrap();
        assert_eq!(
            (line.as_str(), warn),
            ("API key: expires in 45 days", false)
        );
        let (line, warn) = life_left(&listed, "da2-dashboard", now + 20 * DAY).unwrap();
        assert!(
            warn && line.contains("25 days") && line.contains("renew"),
            "{line}"
        );
        let (line, warn) = life_left(&listed, "da2-dashboard", now + 50 * DAY).unwrap();
        assert!(warn && line.contains("EXPIRED 5 days ago"), "{line}");
        assert!(life_left(&listed, "da2-unknown", now).is_err());
        assert!(life_left(&json!({}), "da2-dashboard", now).is_err());
    }
}
