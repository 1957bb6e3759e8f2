//! Bars replayed from a file, for demos and tests: one bar per symbol per poll, re-stamped
//! with the poll's time, optionally looping.
//!
//! A symbol's series is the bars as emitted: each links (`prevTimestamp`) to the bar emitted
//! before it for that symbol, which is the previous row of the file, or, when looping, the
//! file's last row for the first bar of a new loop; the first bar a replay emits has no link
//! (a cold Lambda container starts a new replay, and a new series). Emitted timestamps only
//! move forward: a poll at or before the symbol's last bar (two polls in one millisecond, a
//! clock stepped back) stamps the bar 1 ms after it. Times in the file are never used, not
//! even our JSON's `timestamp` and `prevTimestamp`.
//!
//! Formats, chosen by content:
//! - the reference sample's fallback data: `{"symbol": "AMZN", "bars": [{"open", "high",
//!   "low", "close", "adj_close", "volume"}, ...]}`, newest bar first;
//! - a JSON array of our quotes, oldest first;
//! - CSV with a header row: `open,high,low,close,volume` required, `symbol` optional (else the
//!   default symbol), other columns ignored; oldest first.
//!
//! Every malformed entry is an error naming the file and line, never a silent skip.

use std::collections::BTreeMap;

use quotecast_shared::Quote;
use serde::Deserialize;

use super::{QuoteSource, SourceError};

/// One bar without a time: the file's timestamps are replaced at replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub ohlc: [f64; 4],
    pub volume: u64,
}

#[derive(Debug, Clone)]
pub struct Replay {
    /// Bars per symbol, oldest first, with the position of the next one.
    series: Vec<(String, Vec<Bar>, usize)>,
    looping: bool,
    previous_close: BTreeMap<String, f64>,
    /// Timestamp of the last bar emitted per symbol: the next one's link.
    last_timestamp: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct ReferenceFile {
    symbol: String,
    bars: Vec<ReferenceBar>,
}

#[derive(Deserialize)]
struct ReferenceBar {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

impl Replay {
    /// Reads `path`; `default_symbol` names bars of files that do not name their symbol.
    pub fn from_file(
        path: &str,
        default_symbol: &str,
        looping: bool,
    ) -> Result<Replay, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Replay::from_text(path, &text, default_symbol, looping)
    }

    pub fn from_text(
        path: &str,
        text: &str,
        default_symbol: &str,
        looping: bool,
    ) -> Result<Replay, SourceError> {
        let series = if text.trim_start().starts_with(['{', '[']) {
            parse_json(path, text)?
        } else {
            parse_csv(path, text, default_symbol)?
        };
        if series.iter().all(|(_, bars)| bars.is_empty()) {
            return Err(SourceError::File {
                path: path.to_owned(),
                line: 1,
                reason: "no bars".to_owned(),
            });
        }
        Ok(Replay {
            series: series.into_iter().map(|(s, bars)| (s, bars, 0)).collect(),
            looping,
            previous_close: BTreeMap::new(),
            last_timestamp: BTreeMap::new(),
        })
    }

    /// Bars left before the end (for a looping replay, before it starts over).
    pub fn remaining(&self) -> usize {
        self.series
            .iter()
            .map(|(_, bars, next)| bars.len() - next)
            .sum()
    }

    fn next_quotes(&mut self, now_ms: i64) -> Vec<Quote> {
        let mut out = Vec::new();
        for (symbol, bars, next) in &mut self.series {
            if *next >= bars.len() {
                if !self.looping || bars.is_empty() {
                    continue;
                }
                *next = 0;
            }
            let bar = &bars[*next];
            *next += 1;
            let prev_timestamp = self.last_timestamp.get(symbol.as_str()).copied();
            let timestamp = match prev_timestamp {
                Some(prev) if now_ms <= prev => prev.saturating_add(1),
                _ => now_ms,
            };
            // Every bar was validated when the file was read, and its link is before it.
            let Ok(q) = Quote::new(symbol.clone(), timestamp, bar.ohlc, bar.volume)
                .and_then(|q| {
                    q.with_previous_close(self.previous_close.get(symbol.as_str()).copied())
                })
                .and_then(|q| q.with_prev_timestamp(prev_timestamp))
            else {
                continue;
            };
            self.previous_close.insert(symbol.clone(), bar.ohlc[3]);
            self.last_timestamp.insert(symbol.clone(), timestamp);
            out.push(q);
        }
        out
    }
}

fn checked_bar(
    path: &str,
    line: usize,
    symbol: &str,
    ohlc: [f64; 4],
    volume: f64,
) -> Result<Bar, SourceError> {
    let file_error = |reason: String| SourceError::File {
        path: path.to_owned(),
        line,
        reason,
    };
    if !volume.is_finite() || volume < 0.0 {
        return Err(file_error(format!(
            "volume {volume} is not a non-negative number"
        )));
    }
    let volume = volume.round() as u64;
    Quote::new(symbol, 0, ohlc, volume).map_err(|e| file_error(e.to_string()))?;
    Ok(Bar { ohlc, volume })
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

fn parse_json(path: &str, text: &str) -> Result<Vec<(String, Vec<Bar>)>, SourceError> {
    let json_error = |e: serde_json::Error| SourceError::File {
        path: path.to_owned(),
        line: e.line(),
        reason: e.to_string(),
    };
    if text.trim_start().starts_with('[') {
        let quotes: Vec<serde_json::Value> = serde_json::from_str(text).map_err(json_error)?;
        let mut series: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
        for (i, value) in quotes.iter().enumerate() {
            let q = Quote::from_json(&value.to_string()).map_err(|e| SourceError::File {
                path: path.to_owned(),
                line: 1,
                reason: format!("quote #{}: {e}", i + 1),
            })?;
            series.entry(q.symbol.clone()).or_default().push(Bar {
                ohlc: [q.open, q.high, q.low, q.close],
                volume: q.volume,
            });
        }
        return Ok(series.into_iter().collect());
    }
    let file: ReferenceFile = serde_json::from_str(text).map_err(json_error)?;
    let mut bars = Vec::with_capacity(file.bars.len());
    // Newest first in the file: replay oldest first.
    for (i, b) in file.bars.iter().enumerate().rev() {
        let at = text
            .match_indices("\"open\"")
            .nth(i)
            .map_or(0, |(at, _)| at);
        bars.push(checked_bar(
            path,
            line_of(text, at),
            &file.symbol,
            [b.open, b.high, b.low, b.close],
            b.volume,
        )?);
    }
    Ok(vec![(file.symbol, bars)])
}

fn parse_csv(
    path: &str,
    text: &str,
    default_symbol: &str,
) -> Result<Vec<(String, Vec<Bar>)>, SourceError> {
    let file_error = |line: usize, reason: String| SourceError::File {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| file_error(1, "empty file".to_owned()))?;
    let columns: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let column = |name: &str| columns.iter().position(|c| c == name);
    let required = ["open", "high", "low", "close", "volume"];
    let mut index = [0usize; 5];
    for (slot, name) in index.iter_mut().zip(required) {
        *slot =
            column(name).ok_or_else(|| file_error(1, format!("header has no `{name}` column")))?;
    }
    let symbol_column = column("symbol");
    let mut series: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
    for (line, row) in lines {
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() != columns.len() {
            return Err(file_error(
                line,
                format!(
                    "{} fields, but the header has {}",
                    cells.len(),
                    columns.len()
                ),
            ));
        }
        let mut values = [0f64; 5];
        for (value, (&i, name)) in values.iter_mut().zip(index.iter().zip(required)) {
            *value = cells[i].parse().map_err(|_| {
                file_error(line, format!("`{name}` is not a number: {:?}", cells[i]))
            })?;
        }
        let symbol = symbol_column.map_or(default_symbol, |i| cells[i]);
        let bar = checked_bar(
            path,
            line,
            symbol,
            [values[0], values[1], values[2], values[3]],
            values[4],
        )?;
        series.entry(symbol.to_owned()).or_default().push(bar);
    }
    Ok(series.into_iter().collect())
}

impl QuoteSource for Replay {
    async fn poll(&mut self, now_ms: i64) -> Result<Vec<Quote>, SourceError> {
        Ok(self.next_quotes(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str =
        include_str!("../../../../shared/tests/fixtures/reference-fallback-bars.json");

    #[test]
    fn the_reference_fallback_file_replays_oldest_first() {
        let mut r = Replay::from_text("fallback.json", REFERENCE, "X", false).unwrap();
        let file: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
        let bars = file["bars"].as_array().unwrap();
        assert_eq!(r.remaining(), bars.len());
        let first = r.next_quotes(1000);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].symbol, "AMZN");
        assert_eq!(
            first[0].close,
            bars.last().unwrap()["close"].as_f64().unwrap()
        );
        assert_eq!(first[0].timestamp, 1000, "re-stamped");
        assert_eq!(first[0].prev_timestamp, None);
        let second = r.next_quotes(2000);
        assert_eq!(second[0].previous_close, Some(first[0].close));
        assert_eq!(second[0].prev_timestamp, Some(1000));
        for _ in 2..bars.len() {
            r.next_quotes(3000);
        }
        assert!(
            r.next_quotes(4000).is_empty(),
            "not looping: the end is the end"
        );
    }

    #[test]
    fn csv_with_several_symbols_loops() {
        let csv = "timestamp,symbol,open,high,low,close,volume\n1,AMZN,1,2,0.5,1.5,10\n1,TSLA,5,6,4,5.5,20\n\n2,AMZN,1.5,2,1,1.8,11\n";
        let mut r = Replay::from_text("q.csv", csv, "X", true).unwrap();
        let names = |q: &[Quote]| {
            q.iter()
                .map(|q| (q.symbol.clone(), q.close))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&r.next_quotes(1)),
            [("AMZN".into(), 1.5), ("TSLA".into(), 5.5)]
        );
        assert_eq!(
            names(&r.next_quotes(2)),
            [("AMZN".into(), 1.8), ("TSLA".into(), 5.5)],
            "TSLA loops"
        );
        assert_eq!(
            names(&r.next_quotes(3)),
            [("AMZN".into(), 1.5), ("TSLA".into(), 5.5)]
        );
        let no_symbol = Replay::from_text(
            "q.csv",
            "Open,High,Low,Close,Adj Close,Volume\n1,2,0.5,1.5,1.5,10\n",
            "AMZN",
            false,
        )
        .unwrap();
        assert_eq!(no_symbol.series[0].0, "AMZN");
    }

    /// `(symbol, timestamp, prevTimestamp)` of each quote.
    fn links(quotes: &[Quote]) -> Vec<(String, i64, Option<i64>)> {
        quotes
            .iter()
            .map(|q| (q.symbol.clone(), q.timestamp, q.prev_timestamp))
            .collect()
    }

    #[test]
    fn each_bar_links_to_the_one_emitted_before_it_across_loops() {
        let csv = "symbol,open,high,low,close,volume\nAMZN,1,2,0.5,1.5,10\nTSLA,5,6,4,5.5,20\nAMZN,1.5,2,1,1.8,11\n";
        let mut r = Replay::from_text("q.csv", csv, "X", true).unwrap();
        let s = |s: &str| s.to_owned();
        assert_eq!(
            links(&r.next_quotes(1_000)),
            [(s("AMZN"), 1_000, None), (s("TSLA"), 1_000, None)],
            "a replay's first bars start their series"
        );
        assert_eq!(
            links(&r.next_quotes(2_000)),
            [
                (s("AMZN"), 2_000, Some(1_000)),
                (s("TSLA"), 2_000, Some(1_000))
            ],
            "TSLA's second bar is its first row again, linked to the one emitted"
        );
        // AMZN starts its second loop: linked to the last bar emitted, the file's last row.
        let third = r.next_quotes(3_500);
        assert_eq!(
            links(&third),
            [
                (s("AMZN"), 3_500, Some(2_000)),
                (s("TSLA"), 3_500, Some(2_000))
            ]
        );
        assert_eq!(third[0].close, 1.5, "AMZN's first row again");
        assert_eq!(third[0].previous_close, Some(1.8));
    }

    #[test]
    fn emitted_times_only_move_forward() {
        let mut r = Replay::from_text("fallback.json", REFERENCE, "X", false).unwrap();
        let a = r.next_quotes(5_000);
        // Two polls in the same millisecond, then a clock stepped back.
        let b = r.next_quotes(5_000);
        let c = r.next_quotes(4_000);
        let d = r.next_quotes(9_000);
        let got: Vec<(i64, Option<i64>)> = [a, b, c, d]
            .iter()
            .map(|q| (q[0].timestamp, q[0].prev_timestamp))
            .collect();
        assert_eq!(
            got,
            [
                (5_000, None),
                (5_001, Some(5_000)),
                (5_002, Some(5_001)),
                (9_000, Some(5_002))
            ]
        );
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let err = |text: &str| {
            Replay::from_text("q.csv", text, "X", false)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("open,high,low,close,volume\n1,2,0.5,1.5,10\n1,2,x,1.5,10\n"),
            "q.csv:3: `low` is not a number: \"x\""
        );
        assert_eq!(
            err("open,high,low,close,volume\n1,2,0.5\n"),
            "q.csv:2: 3 fields, but the header has 5"
        );
        assert_eq!(
            err("open,high,low,close\n"),
            "q.csv:1: header has no `volume` column"
        );
        assert!(
            err("open,high,low,close,volume\n1,1,2,1,10\n")
                .starts_with("q.csv:2: quote high 1 is below its low 2")
        );
        assert!(
            err("open,high,low,close,volume\n1,2,0.5,1.5,-3\n").starts_with("q.csv:2: volume -3")
        );
        assert_eq!(err("open,high,low,close,volume\n"), "q.csv:1: no bars");
        let bad_json = REFERENCE.replacen("\"high\": 190.8300018310547", "\"high\": 1.0", 1);
        let e = Replay::from_text("f.json", &bad_json, "X", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f.json:7: quote high 1 is below its low"),
            "{e}"
        );
        let truncated = &REFERENCE[..200];
        assert!(
            Replay::from_text("f.json", truncated, "X", false)
                .unwrap_err()
                .to_string()
                .starts_with("f.json:")
        );
        assert!(matches!(
            Replay::from_file("/nonexistent/q.csv", "X", false),
            Err(SourceError::Io { .. })
        ));
    }

    #[test]
    fn a_json_array_of_our_quotes_is_read() {
        let text = r#"[{"symbol":"A","timestamp":1,"open":1,"high":2,"low":0.5,"close":1.5,"volume":3},{"symbol":"A","timestamp":2,"open":1.5,"high":2,"low":1,"close":1.9,"volume":4}]"#;
        let mut r = Replay::from_text("q.json", text, "X", false).unwrap();
        assert_eq!(r.next_quotes(10)[0].close, 1.5);
        assert_eq!(r.next_quotes(11)[0].close, 1.9);
        let bad =
            r#"[{"symbol":"A","timestamp":1,"open":1,"high":0,"low":0.5,"close":1.5,"volume":3}]"#;
        assert!(
            Replay::from_text("q.json", bad, "X", false)
                .unwrap_err()
                .to_string()
                .contains("quote #1")
        );
    }
}
