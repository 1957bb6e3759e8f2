//! Which tickers the user watches: typed symbols normalised, the `?symbols=` share link, and
//! the choice between the link, the saved selection and the configured defaults.

pub use quotecast_shared::quote::normalize_symbol;
use quotecast_shared::realtime::url::percent_encode;

/// Where the selection is kept between visits (`localStorage`).
pub const STORAGE_KEY: &str = "quotecast.symbols";

/// More would be more connections than a dashboard should open; five full connections'
/// worth at AppSync's default limit.
pub const MAX_TICKERS: usize = 500;

/// A comma-separated list as the share link and the saved selection hold it; entries that
/// are not symbols are dropped, duplicates kept once, order kept.
pub fn parse_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split(',') {
        if let Ok(s) = normalize_symbol(part)
            && !out.contains(&s)
            && out.len() < MAX_TICKERS
        {
            out.push(s);
        }
    }
    out
}

/// The list a comma-joined selection is saved as.
pub fn to_list(symbols: &[String]) -> String {
    symbols.join(",")
}

/// The `symbols` parameter of a location's query string (`?symbols=AMZN,TSLA`), if present.
pub fn symbols_from_query(search: &str) -> Option<Vec<String>> {
    search
        .trim_start_matches('?')
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == "symbols")
        .map(|(_, value)| parse_list(&percent_decode(value)))
}

/// The query string that shares `symbols`.
pub fn to_query(symbols: &[String]) -> String {
    if symbols.is_empty() {
        return String::new();
    }
    let encoded: Vec<String> = symbols.iter().map(|s| percent_encode(s)).collect();
    format!("?symbols={}", encoded.join(","))
}

/// The tickers to start with: a share link wins, then what this browser saved (even an
/// empty selection: the user removed everything), then the configured defaults.
pub fn initial(
    from_link: Option<Vec<String>>,
    saved: Option<&str>,
    defaults: &[String],
) -> Vec<String> {
    from_link
        .or_else(|| saved.map(parse_list))
        .unwrap_or_else(|| defaults.to_vec())
}

/// Why a typed symbol was not added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AddError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is already on the dashboard")]
    Duplicate(String),
    #[error("at most {MAX_TICKERS} tickers can be watched at once")]
    Full,
}

/// Checks that `input` can join `current`, and returns the symbol to add.
pub fn check_add(current: &[String], input: &str) -> Result<String, AddError> {
    let symbol = normalize_symbol(input).map_err(AddError::Invalid)?;
    if current.contains(&symbol) {
        return Err(AddError::Duplicate(symbol));
    }
    if current.len() >= MAX_TICKERS {
        return Err(AddError::Full);
    }
    Ok(symbol)
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn normalises_typed_symbols() {
        assert_eq!(normalize_symbol("  brk.b "), Ok("BRK.B".to_owned()));
        assert_eq!(normalize_symbol("^gspc"), Ok("^GSPC".to_owned()));
        assert!(normalize_symbol("   ").is_err());
        assert!(normalize_symbol("A B").is_err());
        assert!(normalize_symbol(&"X".repeat(33)).is_err());
    }

    #[test]
    fn share_links_round_trip() {
        let symbols = list(&["AMZN", "^GSPC", "BTC-USD", "BRK.B"]);
        let query = to_query(&symbols);
        assert_eq!(query, "?symbols=AMZN,%5EGSPC,BTC-USD,BRK.B");
        assert_eq!(symbols_from_query(&query), Some(symbols));
        assert_eq!(to_query(&[]), "");
    }

    #[test]
    fn reads_the_symbols_parameter_among_others() {
        assert_eq!(
            symbols_from_query("?x=1&symbols=amzn%2Ctsla,,bad%20one,AMZN&y"),
            Some(list(&["AMZN", "TSLA"]))
        );
        assert_eq!(symbols_from_query("?symbols="), Some(vec![]));
        assert_eq!(symbols_from_query("?symbols"), Some(vec![]));
        assert_eq!(symbols_from_query("?other=AMZN"), None);
        assert_eq!(symbols_from_query(""), None);
        // A broken escape is kept literally, not a panic.
        assert_eq!(
            symbols_from_query("?symbols=A%ZZ,%4"),
            Some(list(&["A%ZZ", "%4"]))
        );
    }

    #[test]
    fn the_link_wins_then_the_saved_choice_then_defaults() {
        let defaults = list(&["AMZN"]);
        assert_eq!(
            initial(Some(list(&["TSLA"])), Some("MSFT"), &defaults),
            ["TSLA"]
        );
        assert_eq!(
            initial(None, Some("msft,nflx"), &defaults),
            ["MSFT", "NFLX"]
        );
        assert!(initial(None, Some(""), &defaults).is_empty());
        assert_eq!(initial(None, None, &defaults), ["AMZN"]);
    }

    #[test]
    fn adding_checks_duplicates_and_the_cap() {
        let current = list(&["AMZN"]);
        assert_eq!(check_add(&current, "tsla"), Ok("TSLA".to_owned()));
        assert_eq!(
            check_add(&current, " amzn"),
            Err(AddError::Duplicate("AMZN".to_owned()))
        );
        assert!(matches!(check_add(&current, ""), Err(AddError::Invalid(_))));
        let full: Vec<String> = (0..MAX_TICKERS).map(|i| format!("S{i}")).collect();
        assert_eq!(check_add(&full, "NEW"), Err(AddError::Full));
        assert_eq!(parse_list(&to_list(&full)).len(), MAX_TICKERS);
    }
}
