//! A run's `metrics.jsonl` read back as series: one point per epoch, one per growth step, and
//! the final summary.
//!
//! ```
//! use grownet::report::RunSeries;
//! let text = r#"{"event":"start","epoch":0,"parameters":7,"hidden_widths":[1]}
//! {"event":"epoch","epoch":1,"step":10,"test_accuracy":0.8,"test_loss":0.5,"train_loss":0.6,"wall_time":1.5,"parameters":7,"hidden_widths":[1]}
//! {"event":"end","epoch":1,"summary":{"epochs":1,"hidden_widths":[1],"parameters":7,"seconds":1.5,"seconds_in_growth":0.0,"growth_steps":0,"test":{"accuracy":0.8,"loss":0.5},"train":{"accuracy":0.7,"loss":0.6}}}"#;
//! let run = RunSeries::parse(text).unwrap();
//! assert_eq!(run.epochs.len(), 1);
//! assert_eq!(run.end.as_ref().unwrap().test_accuracy, Some(0.8));
//! ```
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
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
}

fn f64_of(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn usize_of(v: &Value, key: &str) -> Option<usize> {
    v.get(key).and_then(Value::as_u64).map(|x| x as usize)
}

fn widths_of(v: &Value) -> Vec<i64> {
    v.get("hidden_widths")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn required(v: &Value, key: &str, line: usize) -> Result<f64> {
    f64_of(v, key).ok_or_else(|| {
        Error::Config(format!(
            "metrics line {line}: '{}' event without a numeric '{key}'",
            v.get("event").and_then(Value::as_str).unwrap_or("?")
        ))
    })
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
            Error::Config(m) => Error::Config(format!("{}: {m}", file.display())),
            e => e,
        })
    }

    /// Parses the text of a metrics file (one JSON object per line; unknown events ignored).
    pub fn parse(text: &str) -> Result<Self> {
        let mut run = RunSeries::default();
        let mut raw_growth = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| {
                Error::Config(format!("metrics line {line_no}: invalid JSON ({e})"))
            })?;
            match v.get("event").and_then(Value::as_str) {
                Some("start") => {
                    run.start_parameters = v.get("parameters").and_then(Value::as_i64);
                    run.start_widths = widths_of(&v);
                }
                Some("epoch") => run.epochs.push(EpochPoint {
                    epoch: usize_of(&v, "epoch").unwrap_or(run.epochs.len() + 1),
                    step: usize_of(&v, "step").unwrap_or(0),
                    wall_time: required(&v, "wall_time", line_no)?,
                    train_loss: required(&v, "train_loss", line_no)?,
                    train_accuracy: f64_of(&v, "train_accuracy"),
                    test_loss: required(&v, "test_loss", line_no)?,
                    test_accuracy: f64_of(&v, "test_accuracy"),
                    parameters: v.get("parameters").and_then(Value::as_i64).unwrap_or(0),
                    hidden_widths: widths_of(&v),
                    growth_seconds: f64_of(&v, "growth_seconds").unwrap_or(0.0),
                }),
                Some("growth") => raw_growth.push(v),
                Some("end") => {
                    let s = v.get("summary").ok_or_else(|| {
                        Error::Config(format!("metrics line {line_no}: 'end' without a summary"))
                    })?;
                    let eval = |k: &str| s.get(k).cloned().unwrap_or(Value::Null);
                    let (train, test) = (eval("train"), eval("test"));
                    run.end = Some(EndSummary {
                        epochs: usize_of(s, "epochs").unwrap_or(0),
                        train_loss: required(&train, "loss", line_no)?,
                        train_accuracy: f64_of(&train, "accuracy"),
                        test_loss: required(&test, "loss", line_no)?,
                        test_accuracy: f64_of(&test, "accuracy"),
                        parameters: s.get("parameters").and_then(Value::as_i64).unwrap_or(0),
                        hidden_widths: widths_of(s),
                        seconds: f64_of(s, "seconds").unwrap_or(0.0),
                        seconds_in_growth: f64_of(s, "seconds_in_growth").unwrap_or(0.0),
                        growth_steps: usize_of(s, "growth_steps").unwrap_or(0),
                    });
                }
                _ => {}
            }
        }
        // Steps per epoch from the first epoch event, to place growth between steps.
        let spe = run
            .epochs
            .first()
            .map(|e| e.step / e.epoch.max(1))
            .filter(|&s| s > 0);
        run.growth = raw_growth
            .iter()
            .map(|v| {
                let step = usize_of(v, "step").unwrap_or(0);
                let epoch = match spe {
                    Some(spe) => step as f64 / spe as f64,
                    None => usize_of(v, "epoch").unwrap_or(0) as f64,
                };
                let bottlenecks = v
                    .get("bottlenecks")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, x)| Some((k.parse().ok()?, x.as_f64()?)))
                            .collect()
                    })
                    .unwrap_or_default();
                GrowthPoint {
                    epoch,
                    step,
                    site: usize_of(v, "site"),
                    neurons_added: usize_of(v, "neurons_added").unwrap_or(0),
                    accepted: v.get("accepted").and_then(Value::as_bool).unwrap_or(false),
                    bottlenecks,
                    parameters: v.get("parameters").and_then(Value::as_i64),
                }
            })
            .collect();
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

    const LOG: &str = r#"{"event":"start","epoch":0,"parameters":7,"hidden_widths":[1]}
{"event":"growth","epoch":0,"step":5,"site":0,"neurons_added":2,"accepted":true,"bottlenecks":{"0":0.5},"parameters":17}
{"event":"growth","epoch":0,"step":5,"site":1,"neurons_added":0,"accepted":false,"bottlenecks":{"0":0.5}}
{"event":"epoch","epoch":1,"step":10,"train_loss":0.6,"train_accuracy":0.7,"test_accuracy":0.8,"test_loss":0.5,"wall_time":1.5,"parameters":17,"hidden_widths":[3],"growth_seconds":0.25}

{"event":"growth","epoch":1,"step":15,"site":0,"neurons_added":1,"accepted":true,"bottlenecks":{"0":0.25},"parameters":22}
{"event":"epoch","epoch":2,"step":20,"train_loss":0.4,"test_accuracy":0.9,"test_loss":0.3,"wall_time":3.0,"parameters":22,"hidden_widths":[4]}
"#;

    #[test]
    fn parses_epochs_growth_and_positions() {
        let r = RunSeries::parse(LOG).unwrap();
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
        let e = RunSeries::parse(r#"{"event":"epoch","epoch":1}"#).unwrap_err();
        assert!(e.to_string().contains("wall_time"), "{e}");
        assert!(RunSeries::parse(r#"{"event":"end"}"#).is_err());
        assert_eq!(RunSeries::parse("").unwrap(), RunSeries::default());
    }
}
