//! Minimal SVG line charts, written by hand: axes with round ticks, polylines (straight or
//! step), dashed horizontal reference lines, a legend. No dependency, byte-for-byte
//! deterministic output (every number formatted with a fixed precision).
//!
//! Why not `plotters`: even with only its SVG backend it pulls in font handling for text, and
//! the simulator needs four kinds of time series, nothing more; 200 lines of SVG are easier to
//! keep deterministic and reviewable (docs/sim.md).

use std::fmt::Write;

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
    /// Draw as a step function (value holds until the next point).
    pub step: bool,
}

/// A chart: lines and horizontal reference lines over shared axes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Title, above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// Dashed horizontal lines: (legend, y).
    pub marks: Vec<(String, f64)>,
}

const W: f64 = 800.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `span`.
fn tick_step(span: f64, n: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.5 {
        2.0
    } else if f < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

impl Chart {
    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let pts = self.lines.iter().flat_map(|l| l.points.iter());
        let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        for (_, y) in &self.marks {
            y1 = y1.max(*y);
        }
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= 0.0 {
            y1 = 1.0;
        }
        y1 *= 1.05;
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| TOP + ph - y / y1 * ph;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            esc(&self.title)
        );
        // Axes and ticks.
        let _ = writeln!(
            s,
            r#"<path d="M{LEFT:.1},{TOP:.1} V{:.1} H{:.1}" stroke="black" fill="none"/>"#,
            TOP + ph,
            LEFT + pw
        );
        let xs = tick_step(x1 - x0, 8.0);
        let mut t = (x0 / xs).ceil() * xs;
        for _ in 0..50 {
            if t > x1 + 1e-9 {
                break;
            }
            let x = sx(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                TOP,
                TOP + ph,
                TOP + ph + 16.0,
                fmt_num(t)
            );
            t += xs;
        }
        let ys = tick_step(y1, 6.0);
        let mut t = 0.0;
        for _ in 0..50 {
            if t > y1 {
                break;
            }
            let y = sy(t);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + pw,
                LEFT - 6.0,
                y + 4.0,
                fmt_num(t)
            );
            t += ys;
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            H - 12.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
            TOP + ph / 2.0,
            TOP + ph / 2.0,
            esc(&self.y_label)
        );
        let mut legend = 0.0;
        let mut key = |s: &mut String, colour: &str, name: &str, dash: bool| {
            let y = TOP + 10.0 + legend * 18.0;
            let d = if dash {
                r#" stroke-dasharray="6,4""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"{d}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                W - RIGHT + 12.0,
                W - RIGHT + 36.0,
                W - RIGHT + 42.0,
                y + 4.0,
                esc(name)
            );
            legend += 1.0;
        };
        for (i, (name, y)) in self.marks.iter().enumerate() {
            let colour = COLOURS[(i + 5) % COLOURS.len()];
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-dasharray="6,4"/>"#,
                sy(*y),
                LEFT + pw,
                sy(*y)
            );
            key(&mut s, colour, name, true);
        }
        for (i, l) in self.lines.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let mut d = String::new();
            let mut prev: Option<f64> = None;
            let n = l.points.len();
            for (k, &(x, y)) in l.points.iter().enumerate() {
                // A step line only needs the points where it changes (and its last one).
                if l.step && prev == Some(y) && k + 1 < n {
                    continue;
                }
                match prev {
                    None => {
                        let _ = write!(d, "M{:.1},{:.1}", sx(x), sy(y));
                    }
                    Some(py) if l.step => {
                        let _ =
                            write!(d, " L{:.1},{:.1} L{:.1},{:.1}", sx(x), sy(py), sx(x), sy(y));
                    }
                    Some(_) => {
                        let _ = write!(d, " L{:.1},{:.1}", sx(x), sy(y));
                    }
                }
                prev = Some(y);
            }
            let _ = writeln!(
                s,
                r#"<path d="{d}" stroke="{colour}" stroke-width="1.5" fill="none"/>"#
            );
            key(&mut s, colour, &l.name, false);
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_lines_marks_and_is_deterministic() {
        let c = Chart {
            title: "q <depth>".into(),
            x_label: "µs".into(),
            y_label: "bytes".into(),
            lines: vec![Line {
                name: "1/0/1".into(),
                points: vec![(0.0, 0.0), (1.0, 5.0), (2.0, 3.0)],
                step: true,
            }],
            marks: vec![("XOFF".into(), 4.0)],
        };
        let a = c.to_svg();
        assert_eq!(a, c.to_svg());
        assert!(a.starts_with("<svg") && a.ends_with("</svg>\n"));
        assert!(a.contains("q &lt;depth&gt;") && a.contains("XOFF") && a.contains("1/0/1"));
        assert_eq!(tick_step(10.0, 5.0), 2.0);
        assert_eq!(tick_step(0.0, 5.0), 1.0);
        // Empty charts render too.
        assert!(Chart::default().to_svg().contains("</svg>"));
    }
}
