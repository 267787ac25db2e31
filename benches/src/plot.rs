//! Grouped bar charts as SVG, for the tables a reader would rather look
//! at (throughput and latency against the producer count, per side).
//!
//! Each group is a producer count; each bar a side's median, with its
//! min–max range drawn as a whisker. Written beside the JSON
//! (`target/bench-<scenario>.svg`, or the `--json` path with `.svg`).

use std::fmt::Write as _;

use crate::quiet::Spread;

/// One chart: `groups` of `(label, bars)`, each bar `(side, spread)`.
pub(crate) struct Chart<'a> {
    pub(crate) title: String,
    pub(crate) unit: &'a str,
    pub(crate) groups: Vec<(String, Vec<(&'a str, Spread)>)>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Chart<'_> {
    /// The SVG text.
    pub(crate) fn svg(&self) -> String {
        let max = self
            .groups
            .iter()
            .flat_map(|(_, bars)| bars.iter().map(|(_, s)| s.max.max(s.median)))
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE)
            * 1.1;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let plot_w = WIDTH - LEFT - 170.0;
        let y = |v: f64| TOP + plot_h * (1.0 - v / max);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="22" font-size="14">{}</text>"#,
            escape(&self.title)
        );
        // Axis with 5 ticks.
        for i in 0..=5 {
            let v = max * f64::from(i) / 5.0;
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                y(v),
                y(v),
                LEFT - 6.0,
                y(v) + 4.0,
                short(v)
            );
        }
        let _ = write!(
            out,
            r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0,
            escape(self.unit)
        );
        let groups = self.groups.len().max(1) as f64;
        let group_w = plot_w / groups;
        let mut sides: Vec<&str> = Vec::new();
        for (g, (label, bars)) in self.groups.iter().enumerate() {
            let bar_w = group_w * 0.8 / bars.len().max(1) as f64;
            let x0 = LEFT + group_w * g as f64 + group_w * 0.1;
            for (b, (side, s)) in bars.iter().enumerate() {
                let i = match sides.iter().position(|x| x == side) {
                    Some(i) => i,
                    None => {
                        sides.push(side);
                        sides.len() - 1
                    }
                };
                let x = x0 + bar_w * b as f64;
                let _ = write!(
                    out,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#333"/>"##,
                    y(s.median),
                    bar_w * 0.9,
                    (y(0.0) - y(s.median)).max(0.0),
                    COLORS[i % COLORS.len()],
                    x + bar_w * 0.45,
                    x + bar_w * 0.45,
                    y(s.min),
                    y(s.max)
                );
            }
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x0 + group_w * 0.4,
                HEIGHT - BOTTOM + 18.0,
                escape(label)
            );
        }
        for (i, side) in sides.iter().enumerate() {
            let ly = TOP + 18.0 * i as f64;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                WIDTH - 160.0,
                ly,
                COLORS[i % COLORS.len()],
                WIDTH - 142.0,
                ly + 10.0,
                escape(side)
            );
        }
        let _ = write!(
            out,
            r##"<text x="{LEFT}" y="{:.1}" fill="#555">bars: median of the runs; whiskers: min–max</text></svg>"##,
            HEIGHT - 12.0
        );
        out.push('\n');
        out
    }

    /// Writes the SVG beside `json` (its path with `.svg`), or to
    /// `target/bench-<name>.svg`.
    pub(crate) fn write(&self, json: Option<&str>, name: &str) -> tsercom::Result<()> {
        let path = json.map_or_else(
            || format!("target/bench-{name}.svg"),
            |j| {
                std::path::Path::new(j)
                    .with_extension("svg")
                    .display()
                    .to_string()
            },
        );
        std::fs::write(&path, self.svg()).map_err(|source| tsercom::Error::Io {
            path: path.clone().into(),
            source,
        })?;
        println!("wrote {path}");
        Ok(())
    }
}

/// 1 234 567 → "1.23M", 950 → "950".
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::Chart;
    use crate::quiet::Spread;

    #[test]
    fn a_chart_has_a_bar_per_side_and_group_and_a_legend_entry_per_side() {
        let s = Spread::of([1.0, 2.0, 3.0]);
        let chart = Chart {
            title: "t <1>".into(),
            unit: "samples/s",
            groups: vec![
                ("1".into(), vec![("a", s), ("b", s)]),
                ("8".into(), vec![("a", s), ("b", s)]),
            ],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // 4 bars + 2 legend squares + the background.
        assert_eq!(svg.matches("<rect").count(), 7);
        assert!(svg.contains("t &lt;1&gt;"));
    }
}
