//! The card's chart as SVG geometry: candles or a close line, the price axis, the time axis,
//! the last-price marker, gaps, and which bar a pointer is over. Computed here so it is
//! tested natively; the view only copies strings into attributes.
//!
//! Drawn by us in SVG rather than with a charting crate: a chart is ~10 elements whose
//! attributes change (one `<path>` per candle colour, a few labels), which costs a few KB
//! of wasm and one short string per path per frame; the crates that draw to a canvas
//! (plotters) add 100 KB+ to the bundle and redraw every pixel on each update.
//!
//! Bars sit in equal slots, newest at the right edge (time gaps of a closed market are not
//! drawn as empty space). Where a bar does not follow the one before it
//! ([`breaks_after`]) the line is not joined and a dashed mark shows the gap.

use quotecast_shared::quote::Quote;

use super::format;
use super::ticker::breaks_after;

/// The SVG's user space; the chart scales to the card's width.
pub const WIDTH: f64 = 360.0;
pub const HEIGHT: f64 = 170.0;
/// Right of this: the price labels.
pub const PLOT_RIGHT: f64 = 306.0;
pub const PLOT_TOP: f64 = 6.0;
/// Below this: the time labels.
pub const PLOT_BOTTOM: f64 = 152.0;

/// Price labels at most; time labels at most.
pub const PRICE_TICKS: usize = 6;
pub const TIME_TICKS: usize = 5;

/// Bars a chart shows by default, and the longer ranges offered when history has them.
pub const RANGES: [usize; 3] = [60, 120, 240];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Candles,
    Line,
}

/// Everything the view draws, in user units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    /// Rising candles (bodies and wicks) as one path; falling ones as another.
    pub up: String,
    pub down: String,
    /// The close line, broken at gaps.
    pub line: String,
    /// Dashed vertical marks where the series has a gap.
    pub gaps: String,
    pub gap_count: usize,
    /// `(y, label)` of each price tick.
    pub price_ticks: Vec<(f64, String)>,
    /// `(x, label)` of each time tick.
    pub time_ticks: Vec<(f64, String)>,
    /// `(y, label)` of the last close.
    pub last: Option<(f64, String)>,
    slots: usize,
    bars: usize,
    lo: f64,
    hi: f64,
}

impl Chart {
    /// Lays out `bars` (oldest first) in `slots` slots (the range shown).
    pub fn new(bars: &[&Quote], slots: usize, style: Style) -> Chart {
        let slots = slots.max(bars.len()).max(1);
        let (lo, hi) = price_range(bars);
        let mut chart = Chart {
            slots,
            bars: bars.len(),
            lo,
            hi,
            ..Chart::default()
        };
        if bars.is_empty() {
            return chart;
        }
        let half = (chart.slot() * 0.35).max(0.5);
        for (i, q) in bars.iter().enumerate() {
            let x = chart.x(i);
            let broken = i > 0 && breaks_after(bars[i - 1], q);
            if broken {
                let gx = x - chart.slot() / 2.0;
                chart
                    .gaps
                    .push_str(&format!("M{gx:.1},{PLOT_TOP:.1}V{PLOT_BOTTOM:.1}"));
                chart.gap_count += 1;
            }
            match style {
                Style::Candles => {
                    let (top, bottom) = (q.open.max(q.close), q.open.min(q.close));
                    let path = if q.close >= q.open {
                        &mut chart.up
                    } else {
                        &mut chart.down
                    };
                    let (y_top, y_bottom) = (chart_y(lo, hi, top), chart_y(lo, hi, bottom));
                    // A body at least a hair tall, so a doji is still visible.
                    let y_bottom = y_bottom.max(y_top + 0.6);
                    path.push_str(&format!(
                        "M{x:.1},{:.1}V{:.1}M{:.1},{y_top:.1}H{:.1}V{y_bottom:.1}H{:.1}Z",
                        chart_y(lo, hi, q.high),
                        chart_y(lo, hi, q.low),
                        x - half,
                        x + half,
                        x - half,
                    ));
                }
                Style::Line => {
                    let cmd = if i == 0 || broken { 'M' } else { 'L' };
                    chart
                        .line
                        .push_str(&format!("{cmd}{x:.1},{:.1}", chart_y(lo, hi, q.close)));
                }
            }
        }
        let step = nice_step((hi - lo) / (PRICE_TICKS - 1) as f64);
        let decimals = decimals_for(step);
        let mut v = (lo / step).ceil() * step;
        while v <= hi && chart.price_ticks.len() < PRICE_TICKS {
            chart
                .price_ticks
                .push((chart_y(lo, hi, v), price_label(v, decimals)));
            v += step;
        }
        chart.time_ticks = time_ticks(bars)
            .into_iter()
            .map(|(i, label)| (chart.x(i), label))
            .collect();
        if let Some(last) = bars.last() {
            chart.last = Some((chart_y(lo, hi, last.close), format::price(last.close)));
        }
        chart
    }

    /// Grid, price and time labels and the last-price marker as SVG markup, for one
    /// `innerHTML` write: a dozen elements rebuilt as one string cost less code and time
    /// than a dozen reactive nodes. Labels are digits, separators and colons only, so
    /// nothing needs escaping.
    pub fn overlay(&self) -> String {
        let mut svg = String::with_capacity(1_024);
        svg.push_str(&format!(
            r#"<path class="axis" d="M{PLOT_RIGHT},{PLOT_TOP}V{PLOT_BOTTOM}H0"/>"#
        ));
        for (y, label) in &self.price_ticks {
            svg.push_str(&format!(
                r#"<path class="grid" d="M0,{y:.1}H{PLOT_RIGHT}"/><text class="price-tick" x="{:.1}" y="{:.1}">{label}</text>"#,
                PLOT_RIGHT + 4.0,
                y + 3.5
            ));
        }
        for (x, label) in &self.time_ticks {
            svg.push_str(&format!(
                r#"<text class="time-tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                PLOT_BOTTOM + 13.0
            ));
        }
        if let Some((y, label)) = &self.last {
            svg.push_str(&format!(
                r#"<path class="last" d="M0,{y:.1}H{PLOT_RIGHT}"/><rect class="last-tag" x="{PLOT_RIGHT}" y="{:.1}" width="{}" height="14"/><text class="last-price" x="{:.1}" y="{:.1}">{label}</text>"#,
                y - 7.0,
                WIDTH - PLOT_RIGHT,
                PLOT_RIGHT + 4.0,
                y + 3.5
            ));
        }
        svg
    }

    /// The crosshair through bar `i` at `price`, as a path.
    pub fn crosshair(&self, i: usize, price: f64) -> String {
        let (x, y) = (self.x(i), self.y(price));
        format!("M{x:.1},{PLOT_TOP}V{PLOT_BOTTOM}M0,{y:.1}H{PLOT_RIGHT}")
    }

    fn slot(&self) -> f64 {
        PLOT_RIGHT / self.slots as f64
    }

    /// The centre of bar `i` of the bars laid out (right-aligned).
    pub fn x(&self, i: usize) -> f64 {
        PLOT_RIGHT - (self.bars as f64 - i as f64 - 0.5) * self.slot()
    }

    pub fn y(&self, price: f64) -> f64 {
        chart_y(self.lo, self.hi, price)
    }

    /// The bar under user-space `x`, the nearest one at the edges; `None` without bars.
    pub fn index_at(&self, x: f64) -> Option<usize> {
        if self.bars == 0 {
            return None;
        }
        let from_right = ((PLOT_RIGHT - x) / self.slot()).floor().max(0.0) as usize;
        Some(self.bars.saturating_sub(1).saturating_sub(from_right))
    }
}

fn chart_y(lo: f64, hi: f64, price: f64) -> f64 {
    PLOT_BOTTOM - (price - lo) / (hi - lo) * (PLOT_BOTTOM - PLOT_TOP)
}

/// Lowest low and highest high with 5% room; a flat series gets a band around it.
fn price_range(bars: &[&Quote]) -> (f64, f64) {
    let (lo, hi) = bars
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), q| {
            (lo.min(q.low), hi.max(q.high))
        });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        (hi.abs() * 0.01).max(0.01)
    };
    (lo - pad, hi + pad)
}

/// The round step (1, 2, 2.5 or 5 × 10ⁿ) at or above `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * 0.999_999)
        .unwrap_or(10.0 * magnitude)
}

/// Decimals that tell ticks `step` apart (2.5 → 1, 0.05 → 2), at most 6.
fn decimals_for(step: f64) -> usize {
    (0..=6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d as i32);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6)
}

fn price_label(value: f64, decimals: usize) -> String {
    // A tick a rounding error below zero would read `-0.00`.
    let scale = 10f64.powi(decimals as i32);
    let value = (value * scale).round() / scale + 0.0;
    let text = format!("{value:.decimals$}");
    if value.abs() >= 1_000.0 {
        format::group_thousands(&text)
    } else {
        text
    }
}

/// Round time steps, in ms: labels fall on whole seconds, minutes, hours.
const TIME_STEPS: [i64; 14] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000,
];

/// `(bar index, label)` for the bars that cross a round time, at most [`TIME_TICKS`].
fn time_ticks(bars: &[&Quote]) -> Vec<(usize, String)> {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Vec::new();
    };
    let span = last.timestamp - first.timestamp;
    let step = TIME_STEPS
        .into_iter()
        .find(|s| span / s < TIME_TICKS as i64 - 1)
        .unwrap_or(86_400_000);
    let mut out = Vec::new();
    for (i, pair) in bars.windows(2).enumerate() {
        let (a, b) = (pair[0].timestamp, pair[1].timestamp);
        if a.div_euclid(step) != b.div_euclid(step) && out.len() < TIME_TICKS {
            let t = b - b.rem_euclid(step);
            let label = format::time_of_day(t);
            let label = if step >= 60_000 {
                label[..5].to_owned()
            } else {
                label
            };
            out.push((i + 1, label));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, o: f64, c: f64) -> Quote {
        Quote::new("AMZN", t, [o, o.max(c) + 1.0, o.min(c) - 1.0, c], 5)
            .unwrap()
            .with_prev_timestamp(Some(t - 1_000))
            .unwrap()
    }

    #[test]
    fn nice_steps_and_decimals() {
        assert_eq!(nice_step(0.37), 0.5);
        assert_eq!(nice_step(2.2), 2.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(20.0), 20.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(decimals_for(2.5), 1);
        assert_eq!(decimals_for(0.05), 2);
        assert_eq!(decimals_for(100.0), 0);
        assert_eq!(price_label(1234.5, 1), "1,234.5");
        assert_eq!(price_label(-0.0000001, 2), "0.00");
    }

    #[test]
    fn candles_axes_and_the_last_price() {
        let bars = [bar(1_000, 10.0, 12.0), bar(2_000, 12.0, 11.0)];
        let refs: Vec<&Quote> = bars.iter().collect();
        let c = Chart::new(&refs, 60, Style::Candles);
        // Low 9 − 5% … high 13 + 5%: 8.8 … 13.2.
        assert!((c.y(13.2) - PLOT_TOP).abs() < 1e-9);
        assert!((c.y(8.8) - PLOT_BOTTOM).abs() < 1e-9);
        assert_eq!(c.up.matches('Z').count(), 1, "one rising candle");
        assert_eq!(c.down.matches('Z').count(), 1, "one falling candle");
        assert!(c.line.is_empty());
        let labels: Vec<&str> = c.price_ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["9", "10", "11", "12", "13"]);
        assert!(
            c.price_ticks.windows(2).all(|w| w[0].0 > w[1].0),
            "rising up"
        );
        assert_eq!(c.last, Some((c.y(11.0), "11.00".to_owned())));
        // Right-aligned in 60 slots: the newest bar's centre is half a slot from the edge.
        assert!((c.x(1) - (PLOT_RIGHT - PLOT_RIGHT / 120.0)).abs() < 1e-9);
        assert_eq!(c.time_ticks, [(c.x(1), "00:00:02".to_owned())]);
        let overlay = c.overlay();
        assert_eq!(
            overlay.matches("<text").count(),
            5 + 1 + 1,
            "prices, time, last"
        );
        assert!(overlay.contains(">11.00</text>"), "{overlay}");
        assert!(
            c.crosshair(0, 11.0)
                .starts_with(&format!("M{:.1},", c.x(0)))
        );
    }

    #[test]
    fn the_line_breaks_at_gaps() {
        let bars = [
            bar(1_000, 1.0, 2.0),
            bar(2_000, 2.0, 3.0),
            bar(9_000, 3.0, 4.0),
        ];
        let refs: Vec<&Quote> = bars.iter().collect();
        let c = Chart::new(&refs, 3, Style::Line);
        assert_eq!(c.line.matches('M').count(), 2);
        assert_eq!(c.line.matches('L').count(), 1);
        assert_eq!(c.gap_count, 1);
        assert!(c.up.is_empty() && c.down.is_empty());
    }

    #[test]
    fn the_pointer_finds_the_bar_under_it() {
        let bars: Vec<Quote> = (1..=10).map(|i| bar(i * 1_000, 1.0, 2.0)).collect();
        let refs: Vec<&Quote> = bars.iter().collect();
        let c = Chart::new(&refs, 10, Style::Candles);
        assert_eq!(c.index_at(PLOT_RIGHT - 1.0), Some(9));
        assert_eq!(c.index_at(WIDTH), Some(9), "over the axis: the newest");
        assert_eq!(c.index_at(0.5), Some(0));
        assert_eq!(c.index_at(c.x(4)), Some(4));
        let few = Chart::new(&refs[..2], 60, Style::Candles);
        assert_eq!(
            few.index_at(0.0),
            Some(0),
            "left of the first bar: the first"
        );
        assert_eq!(Chart::new(&[], 60, Style::Line).index_at(5.0), None);
    }

    #[test]
    fn time_labels_fall_on_round_times() {
        let bars: Vec<Quote> = (0..120)
            .map(|i| bar(3_600_000 + i * 1_000, 1.0, 2.0))
            .collect();
        let refs: Vec<&Quote> = bars.iter().collect();
        let c = Chart::new(&refs, 120, Style::Candles);
        let labels: Vec<&str> = c.time_ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["01:00:30", "01:01:00", "01:01:30"]);
        // A flat series still has a price axis.
        let flat = [bar(1_000, 5.0, 5.0)];
        let refs: Vec<&Quote> = flat.iter().collect();
        assert!(!Chart::new(&refs, 60, Style::Candles).price_ticks.is_empty());
    }
}
