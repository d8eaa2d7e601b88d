//! Grow versus search (issue 12's claim): a bench's `[search]` table names the fixed networks
//! of a width search and the growing methods to hold against it. The report gives the
//! search's best mean test accuracy (the best width chosen *by test accuracy*, which flatters
//! the search), the search's total time, the time of training that best width once, and each
//! growing method's accuracy and time, with one plot: best accuracy reached against cumulative
//! wall time, the search training its widths from the smallest up.
//!
//! ```
//! use grownet::bench::search::{SearchSpec, Summary};
//! use grownet::bench::RunResult;
//! let row = |method: &str, seed, acc, secs| RunResult {
//!     method: method.into(), seed, run: format!("{method}-s{seed}"), epochs: 1,
//!     widths: vec![], parameters: 0, flops_per_sample: None, train_accuracy: None,
//!     train_loss: 0.0, test_accuracy: Some(acc), test_loss: 0.0, wall_seconds: secs,
//!     growth_seconds: 0.0, growth_steps: 0,
//! };
//! let rows = [row("w8", 0, 0.90, 1.0), row("w64", 0, 0.95, 4.0), row("auto", 0, 0.949, 2.0)];
//! let spec = SearchSpec { methods: vec!["w8".into(), "w64".into()], growth: vec!["auto".into()] };
//! let s = Summary::of(&spec, &rows).unwrap();
//! assert_eq!((s.best.as_str(), s.best_accuracy, s.total_seconds, s.best_seconds), ("w64", 0.95, 5.0, 4.0));
//! let g = &s.growth[0];
//! assert!((g.accuracy - s.best_accuracy + 0.001).abs() < 1e-12 && g.seconds == 2.0);
//! ```
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::results::{mean_std, RunResult};
use crate::error::Result;
use crate::report::plots::{Marker, Plot, Series};
use crate::report::RunSeries;

/// The `[search]` table of a bench file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// The fixed networks of the width search, smallest first (the order the search trains
    /// them in the plot).
    pub methods: Vec<String>,
    /// Growing methods held against the search.
    pub growth: Vec<String>,
}

/// One growing method against the search.
#[derive(Clone, Debug, PartialEq)]
pub struct Grown {
    pub method: String,
    /// Mean test accuracy and mean wall time (growth included) over its seeds.
    pub accuracy: f64,
    pub seconds: f64,
}

/// The numbers of the grow-versus-search comparison (means over seeds).
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The search's best width (by mean test accuracy), that accuracy and its time.
    pub best: String,
    pub best_accuracy: f64,
    pub best_seconds: f64,
    /// Time of the whole search (the sum of its widths' mean times).
    pub total_seconds: f64,
    pub growth: Vec<Grown>,
}

/// Mean test accuracy and mean wall time of `method`'s runs (None without a finished run).
fn means(rows: &[RunResult], method: &str) -> Option<(f64, f64)> {
    let runs: Vec<&RunResult> = rows.iter().filter(|r| r.method == method).collect();
    let acc: Vec<f64> = runs.iter().filter_map(|r| r.test_accuracy).collect();
    let secs: Vec<f64> = runs.iter().map(|r| r.wall_seconds).collect();
    Some((mean_std(&acc)?.0, mean_std(&secs)?.0))
}

impl Summary {
    /// The comparison from the bench's results (None until every search width has a result).
    pub fn of(spec: &SearchSpec, rows: &[RunResult]) -> Option<Summary> {
        let search: Vec<(String, (f64, f64))> = spec
            .methods
            .iter()
            .map(|m| Some((m.clone(), means(rows, m)?)))
            .collect::<Option<_>>()?;
        let (best, (best_accuracy, best_seconds)) = search
            .iter()
            .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))?
            .clone();
        let growth = spec
            .growth
            .iter()
            .filter_map(|m| {
                let (accuracy, seconds) = means(rows, m)?;
                Some(Grown {
                    method: m.clone(),
                    accuracy,
                    seconds,
                })
            })
            .collect();
        Some(Summary {
            best,
            best_accuracy,
            best_seconds,
            total_seconds: search.iter().map(|(_, (_, s))| s).sum(),
            growth,
        })
    }

    /// The report's section (markdown).
    pub fn markdown(&self) -> String {
        let mut md = String::from("\n## Grow versus search\n\n");
        writeln!(
            md,
            "Width search: best `{}` at {:.2} % (mean test accuracy over seeds; the best width \
             is chosen by test accuracy, which flatters the search), {:.1} s to train it once, \
             {:.1} s for the whole search.\n",
            self.best,
            100.0 * self.best_accuracy,
            self.best_seconds,
            self.total_seconds
        )
        .ok();
        md.push_str("| growing method | test accuracy | − search's best | wall time | ÷ best width once | ÷ whole search |\n|---|---|---|---|---|---|\n");
        for g in &self.growth {
            writeln!(
                md,
                "| {} | {:.2} % | {:+.2} points | {:.1} s | {:.2}× | {:.2}× |",
                g.method,
                100.0 * g.accuracy,
                100.0 * (g.accuracy - self.best_accuracy),
                g.seconds,
                g.seconds / self.best_seconds,
                g.seconds / self.total_seconds
            )
            .ok();
        }
        md
    }
}

/// The width search's curve: after each width (smallest first), the cumulative mean wall time
/// and the best mean test accuracy so far. Each width is a marker on the line, so a search of
/// one width still shows as a point.
fn search_curve(spec: &SearchSpec, rows: &[RunResult]) -> Series {
    let (mut t, mut best, mut points) = (0.0, f64::NEG_INFINITY, Vec::new());
    for m in &spec.methods {
        if let Some((acc, secs)) = means(rows, m) {
            t += secs;
            best = best.max(100.0 * acc);
            points.push((t, best));
        }
    }
    let mut curve = Series::line("width search (smallest first)", points, 0);
    curve.marker = Marker::Circle;
    curve
}

/// Best accuracy reached against cumulative wall time: the search (its widths' mean times in
/// order, the best mean accuracy so far) and each growing method (its mean over seeds of the
/// per-epoch test accuracy, running maximum, at the mean epoch time). Writes `STEM.svg|png`.
pub fn plot(
    spec: &SearchSpec,
    rows: &[RunResult],
    series: &[(String, RunSeries)],
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    let mut plot = Plot::new(
        "Best accuracy reached against wall time",
        "cumulative wall time (s)",
        "best test accuracy (%)",
    );
    plot.series.push(search_curve(spec, rows));
    for (i, m) in spec.growth.iter().enumerate() {
        let runs: Vec<&RunSeries> = series
            .iter()
            .filter(|(n, _)| n == m)
            .map(|(_, s)| s)
            .collect();
        let epochs = runs.iter().map(|r| r.epochs.len()).min().unwrap_or(0);
        let mut best = f64::NEG_INFINITY;
        let points: Vec<(f64, f64)> = (0..epochs)
            .filter_map(|e| {
                let accs: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.epochs[e].test_accuracy)
                    .collect();
                let times: Vec<f64> = runs.iter().map(|r| r.epochs[e].wall_time).collect();
                best = best.max(100.0 * mean_std(&accs)?.0);
                Some((mean_std(&times)?.0, best))
            })
            .collect();
        plot.series.push(Series::line(m, points, i + 1));
    }
    plot.render(stem)
}

#[cfg(test)]
mod tests {
    use crate::bench::BenchConfig;

    #[test]
    fn a_search_of_one_width_still_draws_its_point() {
        use super::{search_curve, SearchSpec};
        use crate::bench::results::tests::row as finished;
        use crate::bench::RunResult;
        use crate::report::plots::Marker;
        let row = |method: &str, seed, acc, secs| RunResult {
            wall_seconds: secs,
            ..finished(method, seed, acc)
        };
        let one = SearchSpec {
            methods: vec!["c32".into()],
            growth: vec!["auto".into()],
        };
        let rows = [row("c32", 0, 0.72, 220.0), row("c32", 1, 0.74, 230.0)];
        let c = search_curve(&one, &rows);
        assert_eq!(c.points, vec![(225.0, 73.0)]);
        assert_ne!(
            c.marker,
            Marker::None,
            "a line of one point draws nothing without a marker"
        );
        let two = SearchSpec {
            methods: vec!["c16".into(), "c32".into()],
            ..one
        };
        let rows = [row("c16", 0, 0.75, 100.0), row("c32", 0, 0.72, 220.0)];
        // The best so far stays at c16's accuracy; the time adds up.
        assert_eq!(
            search_curve(&two, &rows).points,
            vec![(100.0, 75.0), (320.0, 75.0)]
        );
    }

    #[test]
    fn a_search_must_name_methods_of_the_bench() {
        let text = |name: &str| {
            format!(
                "[base.data]\nname = \"moons\"\n[[method]]\nname = \"w8\"\n[[method]]\nname = \
                 \"tiny\"\ngrow = \"tiny\"\n[growth]\nauto = true\n[search]\nmethods = [\"w8\"]\ngrowth = [\"{name}\"]\n"
            )
        };
        BenchConfig::parse(&text("tiny")).unwrap();
        let e = BenchConfig::parse(&text("tony")).unwrap_err().to_string();
        assert!(e.contains("[search] names 'tony'"), "{e}");
    }
}
