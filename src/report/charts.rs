//! The report's charts, for one run or for groups of runs (a method over several seeds).
use std::path::{Path, PathBuf};

use super::plots::{Marker, Plot, Series};
use super::series::RunSeries;
use crate::error::Result;

/// Runs shown together under one label (a method's seeds).
#[derive(Clone, Debug)]
pub struct Group<'a> {
    pub label: String,
    pub runs: Vec<&'a RunSeries>,
}

/// The quality measure plotted: test accuracy (%) for classification, else test loss.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Measure {
    Accuracy,
    Loss,
}

impl Measure {
    fn of(groups: &[Group]) -> Measure {
        let any_acc = groups
            .iter()
            .flat_map(|g| &g.runs)
            .flat_map(|r| &r.epochs)
            .any(|e| e.test_accuracy.is_some());
        if any_acc {
            Measure::Accuracy
        } else {
            Measure::Loss
        }
    }

    fn name(self) -> &'static str {
        match self {
            Measure::Accuracy => "test accuracy (%)",
            Measure::Loss => "test loss",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Measure::Accuracy => "accuracy",
            Measure::Loss => "loss",
        }
    }

    fn epoch_value(self, e: &super::EpochPoint) -> Option<f64> {
        match self {
            Measure::Accuracy => e.test_accuracy.map(|a| 100.0 * a),
            Measure::Loss => Some(e.test_loss),
        }
    }

    /// The run's final value (end summary, else its last epoch) and parameter count.
    fn final_value(self, r: &RunSeries) -> Option<(f64, f64)> {
        match &r.end {
            Some(end) => {
                let v = match self {
                    Measure::Accuracy => end.test_accuracy.map(|a| 100.0 * a)?,
                    Measure::Loss => end.test_loss,
                };
                Some((end.parameters as f64, v))
            }
            None => {
                let e = r.epochs.last()?;
                Some((e.parameters as f64, self.epoch_value(e)?))
            }
        }
    }
}

/// Mean over the group's runs of `f` at each epoch index (runs missing an epoch are left out).
fn mean_by_epoch(
    g: &Group,
    f: impl Fn(&super::EpochPoint) -> Option<(f64, f64)>,
) -> Vec<(f64, f64)> {
    let n = g.runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
    (0..n)
        .filter_map(|i| {
            let pts: Vec<(f64, f64)> = g
                .runs
                .iter()
                .filter_map(|r| r.epochs.get(i).and_then(&f))
                .collect();
            let k = pts.len() as f64;
            (k > 0.0).then(|| {
                (
                    pts.iter().map(|p| p.0).sum::<f64>() / k,
                    pts.iter().map(|p| p.1).sum::<f64>() / k,
                )
            })
        })
        .collect()
}

/// " (mean over seeds)" when some group has several runs.
fn mean_note(groups: &[Group]) -> &'static str {
    if groups.iter().any(|g| g.runs.len() > 1) {
        " (mean over seeds)"
    } else {
        ""
    }
}

fn quality_vs_epoch(groups: &[Group], m: Measure) -> Plot {
    let mut p = Plot::new(
        &format!("{} by epoch{}", cap(m.name()), mean_note(groups)),
        "epoch",
        m.name(),
    );
    for (i, g) in groups.iter().enumerate() {
        let pts = mean_by_epoch(g, |e| Some((e.epoch as f64, m.epoch_value(e)?)));
        let mut s = Series::line(&g.label, pts, i);
        s.marker = Marker::Circle;
        p.series.push(s);
    }
    p
}

fn quality_vs_time(groups: &[Group], m: Measure) -> Plot {
    let mut p = Plot::new(
        &format!(
            "{} against training time{}",
            cap(m.name()),
            mean_note(groups)
        ),
        "wall time (s)",
        m.name(),
    );
    for (i, g) in groups.iter().enumerate() {
        let pts = mean_by_epoch(g, |e| Some((e.wall_time, m.epoch_value(e)?)));
        let mut s = Series::line(&g.label, pts, i);
        s.marker = Marker::Circle;
        p.series.push(s);
    }
    p
}

fn parameters_vs_epoch(groups: &[Group]) -> Plot {
    let mut p = Plot::new(
        "Parameters by epoch (× growth steps; first seed)",
        "epoch",
        "parameters",
    );
    let values: Vec<f64> = groups
        .iter()
        .filter_map(|g| g.runs.first())
        .flat_map(|r| r.parameters_over_epochs())
        .map(|p| p.1)
        .filter(|&v| v > 0.0)
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    p.y_log = lo.is_finite() && hi / lo > 20.0;
    for (i, g) in groups.iter().enumerate() {
        let Some(r) = g.runs.first() else { continue };
        p.series.push(Series::line(
            &g.label,
            steps(&r.parameters_over_epochs()),
            i,
        ));
        let marks: Vec<(f64, f64)> = r
            .growth
            .iter()
            .filter(|e| e.accepted)
            .filter_map(|e| Some((e.epoch, e.parameters? as f64)))
            .collect();
        if !marks.is_empty() {
            p.series.push(Series {
                label: None,
                points: marks,
                line: false,
                marker: Marker::Cross,
                color: i,
            });
        }
    }
    p
}

/// A staircase through `pts`: the value holds until the next point (parameters change only
/// at growth steps).
fn steps(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(2 * pts.len());
    for &(x, y) in pts {
        if let Some(&(_, prev)) = out.last() {
            if prev != y {
                out.push((x, prev));
            }
        }
        out.push((x, y));
    }
    out
}

fn quality_vs_parameters(groups: &[Group], m: Measure) -> Plot {
    let mut p = Plot::new(
        &format!("Final {} against size (each point a run)", m.name()),
        "parameters",
        &format!("final {}", m.name()),
    );
    let params: Vec<f64> = groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter_map(|r| m.final_value(r))
        .map(|v| v.0)
        .collect();
    let (lo, hi) = params
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    p.x_log = lo > 0.0 && hi / lo > 20.0;
    for (i, g) in groups.iter().enumerate() {
        let pts = g.runs.iter().filter_map(|r| m.final_value(r)).collect();
        p.series.push(Series::scatter(&g.label, pts, i));
    }
    p
}

fn bottlenecks(label: &str, r: &RunSeries) -> Option<Plot> {
    let by_site = r.bottlenecks_over_epochs();
    if by_site.values().all(|v| v.is_empty()) {
        return None;
    }
    let mut p = Plot::new(
        &format!("Bottleneck Ψ per growth site: {label}"),
        "epoch",
        "bottleneck Ψ",
    );
    let vals: Vec<f64> = by_site.values().flatten().map(|v| v.1).collect();
    let (lo, hi) = vals
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    p.y_log = lo > 0.0 && hi / lo > 100.0;
    for (i, (site, pts)) in by_site.into_iter().enumerate() {
        let mut s = Series::line(&format!("site {site}"), pts, i);
        s.marker = Marker::Circle;
        p.series.push(s);
    }
    Some(p)
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// File-name-safe form of a label.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The accuracy range of the best methods: from 2 points below the best final accuracy to the
/// top, when some plotted value lies below it (else None: the full chart shows it all).
fn zoom(p: &Plot, groups: &[Group], m: Measure) -> Option<(f64, f64)> {
    if m != Measure::Accuracy {
        return None;
    }
    let best = groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter_map(|r| m.final_value(r))
        .map(|v| v.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let lo = best - 2.0;
    let values = || p.series.iter().flat_map(|s| &s.points).map(|pt| pt.1);
    if !best.is_finite() || !values().any(|v| v < lo) {
        return None;
    }
    let hi = values().fold(best, f64::max);
    Some((lo, hi + 0.1 * (hi - lo)))
}

/// Writes the comparison charts of `groups` into `out_dir` (SVG and PNG each) and returns the
/// files: quality by epoch and by wall time (mean over each group's runs), final quality
/// against parameters (one point per run), each with a `-zoom` chart of the top 2 accuracy
/// points when weaker methods squash the others, parameters by epoch with growth steps marked,
/// and the bottleneck Ψ of each site for every group that grew.
pub fn comparison_plots(groups: &[Group], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let m = Measure::of(groups);
    let q = m.slug();
    let mut files = Vec::new();
    for (name, p) in [
        ("epoch", quality_vs_epoch(groups, m)),
        ("time", quality_vs_time(groups, m)),
        ("parameters", quality_vs_parameters(groups, m)),
    ] {
        files.extend(p.render(&out_dir.join(format!("{q}-vs-{name}")))?);
        if let Some(range) = zoom(&p, groups, m) {
            let mut z = p;
            z.y_range = Some(range);
            z.title = format!("{} (top 2 points)", z.title);
            files.extend(z.render(&out_dir.join(format!("{q}-vs-{name}-zoom")))?);
        }
    }
    files.extend(parameters_vs_epoch(groups).render(&out_dir.join("parameters-vs-epoch"))?);
    for g in groups {
        if let Some(p) = g.runs.first().and_then(|r| bottlenecks(&g.label, r)) {
            files.extend(p.render(&out_dir.join(format!("bottleneck-{}", slug(&g.label))))?);
        }
    }
    Ok(files)
}

/// Writes the charts of one run into `out_dir`: the comparison charts for the run alone (with
/// the training accuracy next to the test accuracy) and, when it grew, the bottleneck Ψ of each
/// site (`bottleneck.svg/png`).
pub fn run_plots(run: &RunSeries, label: &str, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let groups = [Group {
        label: label.to_string(),
        runs: vec![run],
    }];
    let m = Measure::of(&groups);
    let q = m.slug();
    let mut files = Vec::new();
    let mut by_epoch = quality_vs_epoch(&groups, m);
    let train: Vec<(f64, f64)> = run
        .epochs
        .iter()
        .filter_map(|e| {
            let v = match m {
                Measure::Accuracy => 100.0 * e.train_accuracy?,
                Measure::Loss => e.train_loss,
            };
            Some((e.epoch as f64, v))
        })
        .collect();
    if let Some(s) = by_epoch.series.first_mut() {
        s.label = Some(format!("{label}: test"));
    }
    by_epoch.title = format!("{} by epoch", cap(&m.name().replace("test ", "")));
    by_epoch.y_label = m.name().replace("test ", "");
    let mut s = Series::line(&format!("{label}: train"), train, 1);
    s.marker = Marker::Circle;
    by_epoch.series.push(s);
    files.extend(by_epoch.render(&out_dir.join(format!("{q}-vs-epoch")))?);
    files.extend(quality_vs_time(&groups, m).render(&out_dir.join(format!("{q}-vs-time")))?);
    files.extend(parameters_vs_epoch(&groups).render(&out_dir.join("parameters-vs-epoch"))?);
    // One run: its trajectory through (parameters, quality), epoch by epoch.
    let mut traj = Plot::new(
        &format!("{} against size, epoch by epoch", cap(m.name())),
        "parameters",
        m.name(),
    );
    let pts: Vec<(f64, f64)> = run
        .epochs
        .iter()
        .filter_map(|e| Some((e.parameters as f64, m.epoch_value(e)?)))
        .collect();
    let (lo, hi) = pts.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    traj.x_log = lo > 0.0 && hi / lo > 20.0;
    let mut s = Series::line(label, pts, 0);
    s.marker = Marker::Circle;
    traj.series.push(s);
    files.extend(traj.render(&out_dir.join(format!("{q}-vs-parameters")))?);
    if let Some(p) = bottlenecks(label, run) {
        files.extend(p.render(&out_dir.join("bottleneck"))?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_hold_until_the_next_growth_step() {
        let s = steps(&[(0.0, 10.0), (0.5, 20.0), (1.0, 20.0), (2.0, 30.0)]);
        assert_eq!(
            s,
            vec![
                (0.0, 10.0),
                (0.5, 10.0),
                (0.5, 20.0),
                (1.0, 20.0),
                (2.0, 20.0),
                (2.0, 30.0)
            ]
        );
        assert!(steps(&[]).is_empty());
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("tiny-auto"), "tiny-auto");
        assert_eq!(slug("a/b c"), "a_b_c");
        assert_eq!(cap("test loss"), "Test loss");
    }
}
