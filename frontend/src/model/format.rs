//! How numbers are written on the dashboard, in one place so every card agrees.
//!
//! Decimals are written by [`Fixed`] with integer arithmetic rather than `{:.2}`: Rust's
//! exact float formatting is about 10 KB of the dashboard's wasm.

use std::fmt;

/// `1234.5` → `1,234.50`; prices under 1 keep four decimals (penny stocks, crypto pairs).
pub fn price(value: f64) -> String {
    let decimals = if value.abs() < 1.0 { 4 } else { 2 };
    group_thousands(&Fixed(value, decimals).to_string())
}

/// `+1.23 (+0.45%)`, signed both ways.
pub fn change(change: f64, percent: f64) -> String {
    format!("{} ({}%)", Signed(change), Signed(percent))
}

/// `value` with `.1` digits after the point (at most 9), rounded half away from zero; never
/// `-0.00`. Where 64-bit integers cannot hold it (|value| · 10^decimals ≥ 10^18: no price,
/// no coordinate) it falls back to Rust's shortest form.
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub f64, pub usize);

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(value, decimals) = *self;
        let decimals = decimals.min(9);
        let scale = 10_u64.pow(decimals as u32);
        let scaled = (value * scale as f64).round();
        if !scaled.is_finite() || scaled.abs() >= 1e18 {
            return write!(f, "{value}");
        }
        if scaled < 0.0 {
            f.write_str("-")?;
        }
        let units = scaled.abs() as u64;
        write!(f, "{}", units / scale)?;
        if decimals > 0 {
            write!(f, ".{:0width$}", units % scale, width = decimals)?;
        }
        Ok(())
    }
}

/// Two decimals with the sign written both ways (`+0.00` for a change that rounds to none).
struct Signed(f64);

impl fmt::Display for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fixed = Fixed(self.0, 2);
        if (self.0 * 100.0).round() >= 0.0 {
            f.write_str("+")?;
        }
        fixed.fmt(f)
    }
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
        assert_eq!(change(-0.001, 0.0), "+0.00 (+0.00%)");
    }

    #[test]
    fn fixed_agrees_with_rusts_formatting_off_ties() {
        for v in [
            0.0,
            1.0,
            -1.0,
            0.04,
            0.06,
            1234.5678,
            -98.7654,
            306.0,
            152.44,
            0.000_123_4,
            42.0e9,
            -7.3e11,
            99.999_999,
        ] {
            for d in 0..=6 {
                assert_eq!(Fixed(v, d).to_string(), format!("{v:.d$}"), "{v} to {d}");
            }
        }
        assert_eq!(Fixed(-0.001, 2).to_string(), "0.00", "never -0.00");
        assert_eq!(Fixed(-7.3e14, 2).to_string(), "-730000000000000.00");
        assert_eq!(Fixed(1.2e21, 2).to_string(), "1200000000000000000000");
        assert_eq!(Fixed(f64::NAN, 2).to_string(), "NaN");
        assert_eq!(Fixed(f64::NEG_INFINITY, 1).to_string(), "-inf");
    }
}
