//! Inline SVG charts with axes, units and legends; readable in print (shapes and dashes, not only colours).

use std::fmt::Write;

use crate::html::plain;

/// Colours for series and clusters (Okabe–Ito: distinguishable with colour-blindness).
pub const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
/// Dash patterns, so series stay apart in black and white.
const DASHES: [&str; 4] = ["", "6 3", "2 2", "8 3 2 3"];

/// What the x axis counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// Days since the epoch, labelled as dates.
    Days,
    /// A plain number.
    Number,
}

/// A named line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct LineChart<'a> {
    /// What the chart shows (the SVG's accessible title).
    pub title: &'a str,
    /// The x axis.
    pub x: XAxis,
    /// The x axis label, with its unit.
    pub x_label: &'a str,
    /// The y axis label, with its unit.
    pub y_label: &'a str,
    /// The lines.
    pub series: &'a [Series],
    /// Points to mark (x, y, tooltip), e.g. bursts.
    pub marks: &'a [(f64, f64, String)],
}

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 44.0;

/// Round tick positions covering `lo..=hi`, about `target` of them.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let mut out = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// Day ticks: whole days, a step of 1, 2, 7, 14, 28 or more days.
fn day_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1.0);
    let step = [1.0, 2.0, 7.0, 14.0, 28.0, 56.0, 91.0, 182.0, 364.0]
        .into_iter()
        .find(|s| span / s <= 7.0)
        .unwrap_or((span / 7.0).ceil());
    let mut out = Vec::new();
    let mut t = lo.ceil();
    while t <= hi {
        out.push(t);
        t += step;
    }
    out
}

/// A day number as `YYYY-MM-DD`.
pub fn date(day: f64) -> String {
    chrono::DateTime::from_timestamp(day as i64 * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v.abs() >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The points of a line as drawn `width` pixels wide: per pixel column the first, lowest, highest and last
/// point, in order (M4 decimation: the picture is the same, the page stays small however long the series).
fn decimate(points: &[(f64, f64)], x0: f64, x1: f64, width: f64) -> Vec<(f64, f64)> {
    if points.len() as f64 <= 4.0 * width {
        return points.to_vec();
    }
    let column = |x: f64| ((x - x0) / (x1 - x0) * width).floor() as i64;
    let mut out = Vec::new();
    for run in points.chunk_by(|a, b| column(a.0) == column(b.0)) {
        let lo = run.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1)).map_or(0, |(i, _)| i);
        let hi = run.iter().enumerate().max_by(|a, b| a.1.1.total_cmp(&b.1.1)).map_or(0, |(i, _)| i);
        let mut keep = [0, lo, hi, run.len() - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for i in keep {
            if i != last {
                out.push(run[i]);
                last = i;
            }
        }
    }
    out
}

/// Render a line chart.
pub fn line_chart(c: &LineChart) -> String {
    let points = c.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = plain(c.title)
    );
    if !x0.is_finite() {
        svg.push_str("<text x=\"20\" y=\"40\">no data</text></svg>");
        return svg;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let yt = ticks(0.0, if y1 > 0.0 { y1 } else { 1.0 }, 5);
    let y1 = yt.last().copied().unwrap_or(1.0).max(y1).max(1e-9);
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let sy = |y: f64| H - BOTTOM - y / y1 * (H - TOP - BOTTOM);
    // Grid and y axis.
    for t in &yt {
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            sy(*t) + 4.0,
            fmt_tick(*t),
            y = sy(*t)
        );
    }
    // X axis.
    let xt = match c.x {
        XAxis::Days => day_ticks(x0, x1),
        XAxis::Number => ticks(x0, x1, 6),
    };
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"axis\"/>",
        W - RIGHT,
        y = H - BOTTOM
    );
    for t in xt {
        let label = match c.x {
            XAxis::Days => date(t),
            XAxis::Number => fmt_tick(t),
        };
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"axis\"/><text x=\"{x:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            H - BOTTOM,
            H - BOTTOM + 4.0,
            H - BOTTOM + 16.0,
            plain(&label),
            x = sx(t)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\">{}</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 6.0,
        plain(c.x_label)
    );
    let _ = write!(
        svg,
        "<text transform=\"translate(14 {:.1}) rotate(-90)\" class=\"label\" text-anchor=\"middle\">{}</text>",
        TOP + (H - TOP - BOTTOM) / 2.0,
        plain(c.y_label)
    );
    // Lines and legend.
    for (i, s) in c.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let dash = DASHES[i % DASHES.len()];
        if s.points.len() == 1 {
            let (x, y) = s.points[0];
            let _ = write!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>", sx(x), sy(y));
        } else {
            let drawn = decimate(&s.points, x0, x1, W - LEFT - RIGHT);
            let path: Vec<String> = drawn.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
            let _ = write!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\" stroke-dasharray=\"{dash}\"><title>{}</title></polyline>",
                path.join(" "),
                plain(&s.name)
            );
        }
        let ly = TOP + 6.0 + i as f64 * 16.0;
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"legend\">{}</text>",
            W - RIGHT + 10.0,
            W - RIGHT + 32.0,
            W - RIGHT + 36.0,
            ly + 4.0,
            plain(&crate::html::cut(&s.name, 22))
        );
    }
    for (x, y, tip) in c.marks {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" class=\"mark\"><title>{}</title></circle>",
            sx(*x),
            sy(*y),
            plain(tip)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One row of a time strip: a label and its events (hours after the start, role, tooltip).
#[derive(Debug, Clone)]
pub struct StripRow {
    /// The row's label (a channel).
    pub label: String,
    /// Events: hours after the start, role (`origin`, `copy`, `forward`), tooltip.
    pub events: Vec<(f64, &'static str, String)>,
}

/// A time strip: one row per channel, a mark per message at its time after the origin. Roles are shapes: the
/// origin a square, a copy a circle, a forward a triangle.
pub fn time_strip(title: &str, rows: &[StripRow]) -> String {
    let row_h = 18.0;
    let h = TOP + rows.len() as f64 * row_h + BOTTOM;
    let left = 170.0;
    let right = 20.0;
    let max = rows.iter().flat_map(|r| r.events.iter().map(|e| e.0)).fold(0.0f64, f64::max);
    let (unit, scale) = if max > 72.0 {
        ("days", 24.0)
    } else if max > 2.0 {
        ("hours", 1.0)
    } else if max > 2.0 / 60.0 {
        ("minutes", 1.0 / 60.0)
    } else {
        ("seconds", 1.0 / 3600.0)
    };
    let xt = ticks(0.0, (max / scale).max(1.0), 6);
    let x1 = xt.last().copied().unwrap_or(1.0).max(max / scale);
    let sx = |hours: f64| left + hours / scale / x1 * (W - left - right);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart strip\" viewBox=\"0 0 {W} {h:.0}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = plain(title)
    );
    for t in &xt {
        let x = left + t / x1 * (W - left - right);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" class=\"grid\"/><text x=\"{x:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            h - BOTTOM,
            h - BOTTOM + 14.0,
            fmt_tick(*t)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\">{unit} after the origin</text>",
        left + (W - left - right) / 2.0,
        h - 10.0
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + i as f64 * row_h + row_h / 2.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text><line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>",
            left - 6.0,
            y + 4.0,
            plain(&crate::html::cut(&row.label, 24)),
            W - right
        );
        for (hours, role, tip) in &row.events {
            let x = sx(*hours);
            let tip = plain(tip);
            let _ = match *role {
                "origin" => write!(
                    svg,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" class=\"origin\"><title>{tip}</title></rect>",
                    x - 4.0,
                    y - 4.0
                ),
                "forward" => write!(
                    svg,
                    "<path d=\"M{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z\" class=\"forward\"><title>{tip}</title></path>",
                    x,
                    y - 5.0,
                    x - 5.0,
                    y + 4.0,
                    x + 5.0,
                    y + 4.0
                ),
                _ => write!(
                    svg,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" class=\"copy\"><title>{tip}</title></circle>"
                ),
            };
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A node of a network picture.
#[derive(Debug, Clone)]
pub struct NetNode {
    /// Position in 0..1.
    pub x: f64,
    /// Position in 0..1.
    pub y: f64,
    /// Index into the palette (its cluster's rank); beyond it, grey.
    pub group: usize,
    /// Radius in pixels.
    pub r: f64,
    /// Tooltip.
    pub label: String,
}

/// A network picture: nodes at precomputed positions, edges as lines whose width grows with the weight.
/// `shape` is the picture's (columns, rows): its height follows from its width.
pub fn network(
    title: &str,
    nodes: &[NetNode],
    edges: &[(usize, usize, f64)],
    legend: &[String],
    shape: (usize, usize),
) -> String {
    let pad = 24.0;
    let right = 170.0;
    let w = W;
    let h = ((w - 2.0 * pad - right) * shape.1 as f64 / shape.0.max(1) as f64 + 2.0 * pad)
        .max(18.0 * legend.len() as f64 + 2.0 * pad);
    let px = |x: f64| pad + x * (w - 2.0 * pad - right);
    let py = |y: f64| pad + y * (h - 2.0 * pad);
    let max_w = edges.iter().map(|e| e.2).fold(1.0f64, f64::max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart net\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title><g class=\"edges\">",
        t = plain(title)
    );
    for &(a, b, weight) in edges {
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke-width=\"{:.2}\"/>",
            px(nodes[a].x),
            py(nodes[a].y),
            px(nodes[b].x),
            py(nodes[b].y),
            0.4 + 2.6 * (weight / max_w).sqrt()
        );
    }
    svg.push_str("</g>");
    for n in nodes {
        let fill = PALETTE.get(n.group).copied().unwrap_or("#9a9a9a");
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" fill=\"{fill}\" class=\"node\"><title>{}</title></circle>",
            px(n.x),
            py(n.y),
            n.r,
            plain(&n.label)
        );
    }
    for (i, name) in legend.iter().enumerate().take(PALETTE.len()) {
        let y = pad + i as f64 * 18.0;
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"legend\">{}</text>",
            w - right + 14.0,
            PALETTE[i],
            w - right + 24.0,
            y + 4.0,
            plain(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 100.0, 5), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(ticks(0.0, 7.0, 5), vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(ticks(3.0, 3.0, 5), vec![3.0]);
        let t = day_ticks(19_783.0, 19_813.0);
        assert!(t.len() <= 8 && t[0] == 19_783.0, "{t:?}");
        assert_eq!(date(19_783.0), "2024-03-01");
    }

    #[test]
    fn a_chart_has_axes_labels_and_escaped_names() {
        let series = [Series { name: "<script>x</script>".into(), points: vec![(19_783.0, 3.0), (19_784.0, 9.0)] }];
        let svg = line_chart(&LineChart {
            title: "messages per day",
            x: XAxis::Days,
            x_label: "day (UTC)",
            y_label: "messages per day",
            series: &series,
            marks: &[(19_784.0, 9.0, "burst \"z\" 4.1".into())],
        });
        assert!(svg.contains("2024-03-01") && svg.contains("day (UTC)") && svg.contains("messages per day"));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(svg.contains("burst &quot;z&quot; 4.1"));
    }

    #[test]
    fn a_long_series_is_drawn_with_a_bounded_number_of_points_and_keeps_its_peaks() {
        // 50 years of days, one spike.
        let points: Vec<(f64, f64)> =
            (0..18_000).map(|d| (d as f64, if d == 12_345 { 500.0 } else { (d % 7) as f64 })).collect();
        let drawn = decimate(&points, 0.0, 17_999.0, 526.0);
        assert!(drawn.len() <= 4 * 527, "{}", drawn.len());
        assert!(drawn.contains(&(12_345.0, 500.0)), "the spike is kept");
        assert_eq!((drawn[0], *drawn.last().unwrap()), (points[0], points[17_999]));
        assert!(drawn.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        let svg = line_chart(&LineChart {
            title: "t",
            x: XAxis::Days,
            x_label: "day",
            y_label: "n",
            series: &[Series { name: "s".into(), points }],
            marks: &[],
        });
        assert!(svg.len() < 40_000, "{} bytes", svg.len());
        let short: Vec<(f64, f64)> = (0..30).map(|d| (d as f64, 1.0)).collect();
        assert_eq!(decimate(&short, 0.0, 29.0, 526.0), short, "short series are drawn as they are");
    }

    #[test]
    fn a_strip_switches_to_days_for_long_cascades() {
        let rows =
            [StripRow { label: "c".into(), events: vec![(0.0, "origin", "o".into()), (100.0, "copy", "k".into())] }];
        assert!(time_strip("t", &rows).contains("days after the origin"));
        let rows =
            [StripRow { label: "c".into(), events: vec![(0.0, "origin", "o".into()), (5.0, "forward", "k".into())] }];
        let svg = time_strip("t", &rows);
        assert!(svg.contains("hours after the origin") && svg.contains("class=\"forward\""));
        let rows =
            [StripRow { label: "c".into(), events: vec![(0.0, "origin", "o".into()), (0.01, "copy", "k".into())] }];
        assert!(time_strip("t", &rows).contains("seconds after the origin"));
    }
}
