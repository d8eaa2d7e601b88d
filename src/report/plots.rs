//! Line and scatter charts written as SVG and PNG with `plotters` (text in the embedded
//! DejaVu Sans, so PNGs render the same on any machine).
//!
//! ```
//! use grownet::report::plots::{Plot, Series};
//! let dir = tempfile::tempdir().unwrap();
//! let mut plot = Plot::new("Test accuracy", "epoch", "accuracy (%)");
//! plot.series.push(Series::line("fixed", vec![(1.0, 90.0), (2.0, 95.0)], 0));
//! let files = plot.render(&dir.path().join("acc")).unwrap();
//! assert!(files.iter().all(|f| f.exists()));
//! assert!(std::fs::read_to_string(&files[0]).unwrap().contains("<svg"));
//! ```
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// Image size in pixels (SVG user units).
pub const SIZE: (u32, u32) = (1100, 600);

/// Ten distinguishable colours (Tableau 10).
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of index `i` (cycling through the palette).
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// How the points of a series are marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Cross,
}

/// One data series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend entry (none: not in the legend).
    pub label: Option<String>,
    pub points: Vec<(f64, f64)>,
    /// Join the points with a line.
    pub line: bool,
    pub marker: Marker,
    /// Palette index.
    pub color: usize,
}

impl Series {
    /// A labelled line.
    pub fn line(label: &str, points: Vec<(f64, f64)>, color: usize) -> Self {
        Series {
            label: Some(label.into()),
            points,
            line: true,
            marker: Marker::None,
            color,
        }
    }

    /// Labelled points without a line.
    pub fn scatter(label: &str, points: Vec<(f64, f64)>, color: usize) -> Self {
        Series {
            label: Some(label.into()),
            points,
            line: false,
            marker: Marker::Circle,
            color,
        }
    }
}

/// A chart: title, axes and series.
#[derive(Clone, Debug)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic axes (non-positive values are left out).
    pub x_log: bool,
    pub y_log: bool,
    /// Fixed y range (points outside it are left out); None: fitted to the data.
    pub y_range: Option<(f64, f64)>,
    pub series: Vec<Series>,
}

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log: false,
            y_log: false,
            y_range: None,
            series: Vec::new(),
        }
    }

    /// Writes `STEM.svg` and `STEM.png` and returns their paths.
    pub fn render(&self, stem: &Path) -> Result<Vec<PathBuf>> {
        register_font();
        if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let svg = stem.with_extension("svg");
        let png = stem.with_extension("png");
        let fail = |path: &Path, detail: String| Error::Plot {
            path: path.to_path_buf(),
            detail,
        };
        draw(SVGBackend::new(&svg, SIZE).into_drawing_area(), self).map_err(|d| fail(&svg, d))?;
        draw(BitMapBackend::new(&png, SIZE).into_drawing_area(), self)
            .map_err(|d| fail(&png, d))?;
        Ok(vec![svg, png])
    }

    /// The points as drawn: logarithmic axes transformed, non-finite points dropped.
    fn transformed(&self, s: &Series) -> Vec<(f64, f64)> {
        let tf = |v: f64, log: bool| {
            if log {
                (v > 0.0).then(|| v.log10())
            } else {
                Some(v)
            }
        };
        s.points
            .iter()
            .filter_map(|&(x, y)| Some((tf(x, self.x_log)?, tf(y, self.y_log)?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .filter(|(_, y)| self.y_range.is_none_or(|(lo, hi)| (lo..=hi).contains(y)))
            .collect()
    }
}

static FONT: Once = Once::new();

/// Registers the embedded DejaVu Sans as plotters' `sans-serif` (once per process).
fn register_font() {
    FONT.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let bytes = match style {
                FontStyle::Bold => dejavu::sans::bold(),
                _ => dejavu::sans::regular(),
            };
            if plotters::style::register_font("sans-serif", style, bytes).is_err() {
                tracing::warn!("could not register the embedded font; text may be missing");
            }
        }
    });
}

/// A range covering `values` with a margin (a unit range when empty or flat).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 1e-12 * hi.abs().max(1.0) {
        let d = 0.5 * lo.abs().max(1e-3);
        return (lo - d, hi + d);
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// A tick label of a logarithmic axis: the value at two significant digits (the ticks of a
/// log axis fall on 10^(k/n), e.g. 25.1, 39.8, 63.1, which read better as 25, 40, 63).
pub fn log_tick(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return tick(v);
    }
    let mag = 10f64.powf(v.log10().floor() - 1.0);
    tick((v / mag).round() * mag)
}

/// A tick label: plain numbers, or k/M suffixes for large ones.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Width of the legend column right of the chart (pixels).
const LEGEND_WIDTH: u32 = 230;

/// Characters of a legend line that fit the column (15-pixel sans-serif).
const LEGEND_CHARS: usize = 27;

/// A legend label cut into lines of at most `max` characters, after a `-`, `_`, `,` or space
/// where there is one (a method's name like `tiny-auto-fast-20-reset-at-end` stays readable),
/// mid-word where there is none (at least one character per line).
fn wrap_label(label: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut rest: Vec<char> = label.chars().collect();
    while rest.len() > max {
        let cut = (1..=max)
            .rev()
            .find(|&i| matches!(rest[i - 1], '-' | '_' | ',' | ' '))
            .unwrap_or(max);
        lines.push(rest.drain(..cut).collect::<String>().trim_end().to_string());
    }
    lines.push(rest.into_iter().collect());
    lines
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    plot: &Plot,
) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let labelled: Vec<&Series> = plot.series.iter().filter(|s| s.label.is_some()).collect();
    // The legend gets its own column, so that it never hides data.
    let (area, legend_area) = if labelled.is_empty() {
        (root.clone(), None)
    } else {
        let (a, l) = root.split_horizontally(SIZE.0.saturating_sub(LEGEND_WIDTH));
        (a, Some(l))
    };
    let data: Vec<Vec<(f64, f64)>> = plot.series.iter().map(|s| plot.transformed(s)).collect();
    let (x0, x1) = padded(data.iter().flatten().map(|p| p.0));
    let (y0, y1) = plot
        .y_range
        .unwrap_or_else(|| padded(data.iter().flatten().map(|p| p.1)));
    let mut chart = ChartBuilder::on(&area)
        .caption(&plot.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    let fmt = |v: f64, log: bool| {
        if log {
            log_tick(10f64.powf(v))
        } else {
            tick(v)
        }
    };
    let fmt_x = |v: &f64| fmt(*v, plot.x_log);
    let fmt_y = |v: &f64| fmt(*v, plot.y_log);
    let x_desc = format!(
        "{}{}",
        plot.x_label,
        if plot.x_log { " (log scale)" } else { "" }
    );
    let y_desc = format!(
        "{}{}",
        plot.y_label,
        if plot.y_log { " (log scale)" } else { "" }
    );
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for (s, pts) in plot.series.iter().zip(&data) {
        let style = style(s);
        if s.line {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))
                .map_err(e)?;
        }
        match s.marker {
            Marker::None => {}
            Marker::Cross => {
                chart
                    .draw_series(pts.iter().map(|&p| Cross::new(p, 5, style)))
                    .map_err(e)?;
            }
            Marker::Circle => {
                let r = if s.line { 3 } else { 5 };
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, r, style)))
                    .map_err(e)?;
            }
        }
    }
    if let Some(l) = legend_area {
        let mut y = 60;
        for s in &labelled {
            let st = style(s);
            if s.line || s.marker == Marker::None {
                l.draw(&PathElement::new(vec![(4, y), (28, y)], st))
                    .map_err(e)?;
            }
            match s.marker {
                Marker::None => {}
                Marker::Cross => l.draw(&Cross::new((16, y), 5, st)).map_err(e)?,
                Marker::Circle => l.draw(&Circle::new((16, y), 4, st)).map_err(e)?,
            }
            let label = s.label.as_deref().unwrap_or_default();
            for line in wrap_label(label, LEGEND_CHARS) {
                l.draw(&Text::new(
                    line,
                    (36, y - 8),
                    ("sans-serif", 15).into_font().color(&BLACK),
                ))
                .map_err(e)?;
                y += 17;
            }
            y += 9;
        }
    }
    root.present().map_err(e)?;
    Ok(())
}

fn style(s: &Series) -> ShapeStyle {
    ShapeStyle {
        color: color(s.color).to_rgba(),
        filled: true,
        stroke_width: 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(97.26), "97.3");
        assert_eq!(tick(269_322.0), "269k");
        assert_eq!(tick(12_345.0), "12.3k");
        assert_eq!(tick(2_500_000.0), "2.5M");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(log_tick(25.1), "25");
        assert_eq!(log_tick(398.1), "400");
        assert_eq!(log_tick(63_095.7), "63k");
        assert_eq!(log_tick(1.0), "1");
    }

    #[test]
    fn long_legend_labels_wrap_at_separators() {
        assert_eq!(wrap_label("w1024", 27), ["w1024"]);
        let name = "tiny-auto-fast-20-reset-at-end-companions-2-cost-1e-4";
        let lines = wrap_label(name, 27);
        assert_eq!(
            lines,
            ["tiny-auto-fast-20-reset-at-", "end-companions-2-cost-1e-4"]
        );
        assert_eq!(lines.concat(), name);
        assert_eq!(wrap_label("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap_label("ab", 0), ["a", "b"]);
        assert_eq!(
            wrap_label("width search (smallest first)", 27),
            ["width search (smallest", "first)"]
        );
    }

    #[test]
    fn ranges_survive_empty_and_flat_data() {
        assert_eq!(padded(std::iter::empty()), (0.0, 1.0));
        let (lo, hi) = padded([5.0, 5.0].into_iter());
        assert!(lo < 5.0 && hi > 5.0);
    }

    #[test]
    fn empty_and_log_plots_render() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Plot::new("empty", "x", "y");
        p.render(&dir.path().join("empty")).unwrap();
        p.x_log = true;
        p.series.push(Series::scatter(
            "a",
            vec![(0.0, 1.0), (1e3, 2.0), (1e5, 3.0)],
            1,
        ));
        let files = p.render(&dir.path().join("sub/log")).unwrap();
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
