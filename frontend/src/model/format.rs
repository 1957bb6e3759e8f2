//! How numbers are written on the dashboard, in one place so every card agrees.

/// `1234.5` → `1,234.50`; prices under 1 keep four decimals (penny stocks, crypto pairs).
pub fn price(value: f64) -> String {
    let decimals = if value.abs() < 1.0 { 4 } else { 2 };
    group_thousands(&format!("{value:.decimals$}"))
}

/// `+1.23 (+0.45%)`, signed both ways.
pub fn change(change: f64, percent: f64) -> String {
    format!("{change:+.2} ({percent:+.2}%)")
}

/// `12345678` → `12,345,678`.
pub fn volume(value: u64) -> String {
    group_thousands(&value.to_string())
}

/// `HH:MM:SS` in UTC of a millisecond timestamp (bars are minute or second bars; the date is
/// today's).
pub fn time_of_day(timestamp_ms: i64) -> String {
    let secs = timestamp_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `-1234567.5` → `-1,234,567.5`: the integer part grouped, the rest kept.
pub fn group_thousands(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(number.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(price(1234.5), "1,234.50");
        assert_eq!(price(-1234567.891), "-1,234,567.89");
        assert_eq!(price(0.12345), "0.1235");
        assert_eq!(price(999.999), "1,000.00");
        assert_eq!(change(1.234, -0.5), "+1.23 (-0.50%)");
        assert_eq!(volume(0), "0");
        assert_eq!(volume(12_345_678), "12,345,678");
        assert_eq!(time_of_day(1_700_000_123_456), "22:15:23");
        assert_eq!(time_of_day(-1_000), "23:59:59");
    }
}
