//! A run's `metrics.jsonl` read back as series: one point per epoch, one per growth step, and
//! the final summary.
//!
//! ```
//! use grownet::report::RunSeries;
//! let run = RunSeries::load(std::path::Path::new("tests/fixtures/metrics/senn.jsonl")).unwrap();
//! assert_eq!(run.epochs.len(), 6);
//! assert!(run.is_complete());
//! assert!(run.growth.iter().any(|g| g.accepted));
//! ```
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::events::{self, Event, Growth};
use crate::train::METRICS_FILE;

/// The metrics logged after one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochPoint {
    pub epoch: usize,
    pub step: usize,
    /// Training wall time at the end of the epoch (seconds, growth included).
    pub wall_time: f64,
    pub train_loss: f64,
    pub train_accuracy: Option<f64>,
    pub test_loss: f64,
    pub test_accuracy: Option<f64>,
    pub parameters: i64,
    pub hidden_widths: Vec<i64>,
    /// Seconds of this epoch spent in growth.
    pub growth_seconds: f64,
}

/// One growth step at one site.
#[derive(Clone, Debug, PartialEq)]
pub struct GrowthPoint {
    /// Position in training, in epochs (fractional for growth between steps).
    pub epoch: f64,
    pub step: usize,
    pub site: Option<usize>,
    pub neurons_added: usize,
    pub accepted: bool,
    /// Bottleneck Ψ of every site measured for this step (site → Ψ).
    pub bottlenecks: BTreeMap<usize, f64>,
    /// Parameters after the step (when logged).
    pub parameters: Option<i64>,
}

/// The `end` event's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct EndSummary {
    pub epochs: usize,
    pub train_loss: f64,
    pub train_accuracy: Option<f64>,
    pub test_loss: f64,
    pub test_accuracy: Option<f64>,
    pub parameters: i64,
    pub hidden_widths: Vec<i64>,
    /// Training wall time (seconds, across resumptions).
    pub seconds: f64,
    pub seconds_in_growth: f64,
    pub growth_steps: usize,
}

/// Everything a report needs from one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSeries {
    /// Parameters and widths at the start.
    pub start_parameters: Option<i64>,
    pub start_widths: Vec<i64>,
    pub epochs: Vec<EpochPoint>,
    pub growth: Vec<GrowthPoint>,
    /// Present when the run finished.
    pub end: Option<EndSummary>,
    /// The error the run stopped on, when its log ends with one.
    pub error: Option<String>,
}

/// A growth event as a point of the series.
fn growth_point(g: &Growth) -> GrowthPoint {
    let (_, step) = g.clock();
    let known = |b: &BTreeMap<usize, Option<f64>>| -> BTreeMap<usize, f64> {
        b.iter().filter_map(|(k, v)| Some((*k, (*v)?))).collect()
    };
    let (site, neurons_added, accepted, bottlenecks, parameters) = match g {
        Growth::Step(e) => (
            Some(e.site),
            e.neurons_added.max(0) as usize,
            e.accepted,
            known(&e.bottlenecks),
            Some(e.parameters),
        ),
        Growth::NoSite(e) => (None, 0, e.accepted, known(&e.bottlenecks), None),
        Growth::SennRound(e) => (None, 0, e.accepted, BTreeMap::new(), Some(e.parameters)),
        Growth::SennExpansion(e) => (
            Some(e.site),
            e.neurons_added.max(0) as usize,
            e.accepted,
            BTreeMap::new(),
            Some(e.parameters),
        ),
    };
    GrowthPoint {
        epoch: g.clock().0 as f64,
        step,
        site,
        neurons_added,
        accepted,
        bottlenecks,
        parameters,
    }
}

impl RunSeries {
    /// Reads `RUN_DIR/metrics.jsonl` (or the given file).
    pub fn load(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join(METRICS_FILE)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        Self::parse(&text).map_err(|e| match e {
            Error::Metrics(m) => Error::Metrics(format!("{}: {m}", file.display())),
            e => e,
        })
    }

    /// Parses the text of a metrics file (one [`Event`] per line; a malformed line is an error
    /// that names it).
    pub fn parse(text: &str) -> Result<Self> {
        let mut run = RunSeries::default();
        for event in events::parse(text)? {
            match event {
                Event::Start(e) => {
                    run.start_parameters = Some(e.parameters);
                    run.start_widths = e.hidden_widths;
                }
                Event::Epoch(e) => run.epochs.push(EpochPoint {
                    epoch: e.epoch,
                    step: e.step,
                    wall_time: e.wall_time,
                    train_loss: e.train_loss,
                    train_accuracy: e.train_accuracy,
                    test_loss: e.test_loss,
                    test_accuracy: e.test_accuracy,
                    parameters: e.parameters,
                    hidden_widths: e.hidden_widths,
                    growth_seconds: e.growth_seconds,
                }),
                Event::Growth(g) => run.growth.push(growth_point(&g)),
                Event::End(e) => {
                    let s = e.summary;
                    run.end = Some(EndSummary {
                        epochs: s.epochs,
                        train_loss: s.train.loss,
                        train_accuracy: s.train.accuracy,
                        test_loss: s.test.loss,
                        test_accuracy: s.test.accuracy,
                        parameters: s.parameters,
                        hidden_widths: s.hidden_widths,
                        seconds: s.seconds,
                        seconds_in_growth: s.seconds_in_growth,
                        growth_steps: s.growth_steps,
                    });
                }
                Event::GrowthFinished(_) | Event::Widened(_) => {}
                Event::Error(e) => run.error = Some(e.message),
            }
        }
        // Steps per epoch from the first epoch event, to place growth between steps.
        let spe = run
            .epochs
            .first()
            .map(|e| e.step / e.epoch.max(1))
            .filter(|&s| s > 0);
        if let Some(spe) = spe {
            for g in &mut run.growth {
                g.epoch = g.step as f64 / spe as f64;
            }
        }
        Ok(run)
    }

    /// Whether the run finished (its log has an `end` event).
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }

    /// Parameter count against (fractional) epoch: the start, every accepted growth step and
    /// every epoch, in order of training position.
    pub fn parameters_over_epochs(&self) -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = Vec::new();
        if let Some(p) = self.start_parameters {
            pts.push((0.0, p as f64));
        }
        for g in self.growth.iter().filter(|g| g.accepted) {
            if let Some(p) = g.parameters {
                pts.push((g.epoch, p as f64));
            }
        }
        for e in &self.epochs {
            pts.push((e.epoch as f64, e.parameters as f64));
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    }

    /// Bottleneck Ψ of each site over (fractional) epochs, from the growth events.
    pub fn bottlenecks_over_epochs(&self) -> BTreeMap<usize, Vec<(f64, f64)>> {
        let mut out: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
        for g in &self.growth {
            for (&site, &psi) in &g.bottlenecks {
                let series = out.entry(site).or_default();
                // A growth step with several sites logs the same measurement more than once.
                if series.last() != Some(&(g.epoch, psi)) {
                    series.push((g.epoch, psi));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    const LOG: &str = r#"{"event":"start","epoch":0,"parameters":7,"hidden_widths":[1]}
{"event":"growth","epoch":0,"step":5,"site":0,"neurons_added":2,"accepted":true,"bottlenecks":{"0":0.5},"parameters":17}
{"event":"growth","epoch":0,"step":5,"site":1,"neurons_added":0,"accepted":false,"bottlenecks":{"0":0.5}}
{"event":"epoch","epoch":1,"step":10,"train_loss":0.6,"train_accuracy":0.7,"test_accuracy":0.8,"test_loss":0.5,"wall_time":1.5,"parameters":17,"hidden_widths":[3],"growth_seconds":0.25}

{"event":"growth","epoch":1,"step":15,"site":0,"neurons_added":1,"accepted":true,"bottlenecks":{"0":0.25},"parameters":22}
{"event":"epoch","epoch":2,"step":20,"train_loss":0.4,"train_accuracy":null,"test_accuracy":0.9,"test_loss":0.3,"wall_time":3.0,"parameters":22,"hidden_widths":[4]}
"#;

    /// `LOG`'s lines completed with the fields they leave out, from a committed run's event
    /// of the same kind.
    fn complete(log: &str) -> String {
        let fixture = include_str!("../../tests/fixtures/metrics/cnn-auto-full.jsonl");
        let templates: Vec<Value> = fixture
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        log.lines()
            .map(|line| {
                if line.trim().is_empty() {
                    return String::new();
                }
                let v: Value = serde_json::from_str(line).unwrap();
                let mut t = templates
                    .iter()
                    .find(|t| {
                        t["event"] == v["event"]
                            && t.get("site").is_some() == v.get("site").is_some()
                    })
                    .unwrap()
                    .clone();
                for (k, x) in v.as_object().unwrap() {
                    t[k] = x.clone();
                }
                t.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn parses_epochs_growth_and_positions() {
        let r = RunSeries::parse(&complete(LOG)).unwrap();
        assert_eq!(r.start_parameters, Some(7));
        assert_eq!(r.epochs.len(), 2);
        assert_eq!(r.epochs[0].growth_seconds, 0.25);
        assert_eq!(r.epochs[1].train_accuracy, None);
        assert_eq!(r.growth.len(), 3);
        assert_eq!(r.growth[0].epoch, 0.5);
        assert_eq!(r.growth[2].epoch, 1.5);
        assert!(!r.is_complete());
        let p = r.parameters_over_epochs();
        assert_eq!(p.first(), Some(&(0.0, 7.0)));
        assert_eq!(p.last(), Some(&(2.0, 22.0)));
        let b = r.bottlenecks_over_epochs();
        assert_eq!(b[&0], vec![(0.5, 0.5), (1.5, 0.25)]);
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert!(RunSeries::parse("{not json").is_err());
        let line = complete(r#"{"event":"epoch","epoch":1,"step":3}"#);
        let mut v: Value = serde_json::from_str(&line).unwrap();
        v.as_object_mut().unwrap().remove("wall_time");
        let e = RunSeries::parse(&v.to_string()).unwrap_err();
        assert!(
            e.to_string().contains("line 1: missing field `wall_time`"),
            "{e}"
        );
        assert!(RunSeries::parse(r#"{"event":"end"}"#).is_err());
        assert_eq!(RunSeries::parse("").unwrap(), RunSeries::default());
    }
}
