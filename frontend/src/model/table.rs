//! The card's table of the last bars as text: a row of six cells per bar, newest first.
//! [`crate::browser::bar_table`] writes them into cells that stay in place.

use quotecast_shared::quote::Quote;

use super::format;

/// Cells of one row: time, close, open, high, low, volume (the reference's column order
/// after the time).
pub type Row = [String; 6];

/// One row per bar, in the order given (the card gives the newest first).
pub fn rows<'a>(bars: impl Iterator<Item = &'a Quote>) -> Vec<Row> {
    bars.map(|q| {
        [
            format::time_of_day(q.timestamp),
            format::price(q.close),
            format::price(q.open),
            format::price(q.high),
            format::price(q.low),
            format::volume(q.volume),
        ]
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_bar() {
        let q = Quote::new("AMZN", 3_600_000, [1.0, 2.0, 0.5, 1234.5], 1_234).unwrap();
        assert_eq!(
            rows([&q].into_iter()),
            [["01:00:00", "1,234.50", "1.00", "2.00", "0.5000", "1,234"].map(String::from)]
        );
        assert!(rows(std::iter::empty()).is_empty());
    }
}
