//! The chart of recent closes as an SVG path, computed here so it is tested natively and the
//! view only sets one attribute.

/// Drawing area of the chart, in SVG user units.
pub const WIDTH: f64 = 240.0;
pub const HEIGHT: f64 = 48.0;

/// A polyline through `values`, scaled to fill the area with a 2-unit margin top and bottom;
/// empty with fewer than two values. A flat series is drawn through the middle.
pub fn path(values: &[f64]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let span = max - min;
    let step = WIDTH / (values.len() - 1) as f64;
    let margin = 2.0;
    let mut d = String::with_capacity(values.len() * 14);
    for (i, v) in values.iter().enumerate() {
        let y = if span > 0.0 {
            margin + (max - v) / span * (HEIGHT - 2.0 * margin)
        } else {
            HEIGHT / 2.0
        };
        let cmd = if i == 0 { 'M' } else { 'L' };
        d.push_str(&format!("{cmd}{:.1},{y:.1}", i as f64 * step));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_the_area() {
        assert_eq!(path(&[]), "");
        assert_eq!(path(&[5.0]), "");
        assert_eq!(path(&[1.0, 3.0, 2.0]), "M0.0,46.0L120.0,2.0L240.0,24.0");
        assert_eq!(path(&[7.0, 7.0]), "M0.0,24.0L240.0,24.0");
    }
}
