//! The card's table of the last bars as HTML rows, for one `innerHTML` write: eight rows of
//! six cells as reactive nodes cost the bundle more than the chart, and the table is
//! rewritten a few times a second at most. Cells hold only digits, separators and colons,
//! so nothing needs escaping.

use quotecast_shared::quote::Quote;

use super::format;

/// `<tr>` rows, newest first: time, close, open, high, low, volume (the reference's column
/// order after the time).
pub fn rows<'a>(bars: impl Iterator<Item = &'a Quote>) -> String {
    let mut html = String::with_capacity(1_024);
    for q in bars {
        html.push_str("<tr>");
        for cell in [
            format::time_of_day(q.timestamp),
            format::price(q.close),
            format::price(q.open),
            format::price(q.high),
            format::price(q.low),
            format::volume(q.volume),
        ] {
            html.push_str("<td>");
            html.push_str(&cell);
            html.push_str("</td>");
        }
        html.push_str("</tr>");
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_bar() {
        let q = Quote::new("AMZN", 3_600_000, [1.0, 2.0, 0.5, 1234.5], 1_234).unwrap();
        assert_eq!(
            rows([&q].into_iter()),
            "<tr><td>01:00:00</td><td>1,234.50</td><td>1.00</td><td>2.00</td><td>0.5000</td><td>1,234</td></tr>"
        );
        assert_eq!(rows(std::iter::empty()), "");
    }
}
