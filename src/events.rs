//! The events of a run's `metrics.jsonl`: one typed [`Event`] per line, written by training
//! and growth, read back by reports and benches.
//!
//! Every line is a JSON object whose `event` key names the variant. Reading is strict: a
//! missing or malformed field is an error that names the line, never a silent zero. Numbers
//! that are not finite are written as `null` (JSON has no NaN) and read back as NaN.
//! Events are sent to an [`EventSink`]: the run directory's log, or a `Vec` (tests, library users).
//!
//! ```
//! use grownet::events::{parse_line, Event};
//! let line = r#"{"event":"growth_finished","epoch":3,"step":120,"reason":"3 growth checks in a row found no useful neuron"}"#;
//! let Event::GrowthFinished(e) = parse_line(line, 1).unwrap() else { panic!() };
//! assert_eq!(e.step, 120);
//! let err = parse_line(r#"{"event":"growth_finished","epoch":3}"#, 7).unwrap_err();
//! assert!(err.to_string().contains("line 7"), "{err}");
//! ```
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::nn::Architecture;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Start(Start),
    Epoch(EpochEnd),
    Growth(Growth),
    GrowthFinished(GrowthFinished),
    /// The automatic mode widened one-unit layers after a check that kept nothing.
    Widened(Widened),
    End(End),
    /// The run stopped on an error: the last line of a failed run's log.
    Error(RunError),
}

impl Event {
    /// Completed epochs when the event was logged.
    pub fn epoch(&self) -> usize {
        match self {
            Event::Start(e) => e.epoch,
            Event::Epoch(e) => e.epoch,
            Event::Growth(g) => g.clock().0,
            Event::GrowthFinished(e) => e.epoch,
            Event::Widened(e) => e.epoch,
            Event::End(e) => e.epoch,
            Event::Error(e) => e.epoch,
        }
    }

    /// Completed optimisation steps when the event was logged (`None` for the start and the
    /// end, which carry no step).
    pub fn step(&self) -> Option<usize> {
        match self {
            Event::Start(_) | Event::End(_) => None,
            Event::Epoch(e) => Some(e.step),
            Event::Growth(g) => Some(g.clock().1),
            Event::GrowthFinished(e) => Some(e.step),
            Event::Widened(e) => Some(e.step),
            Event::Error(e) => Some(e.step),
        }
    }
}

/// Where events go.
pub trait EventSink {
    fn emit(&mut self, event: Event) -> Result<()>;
}

/// Keeps every event (tests, library users).
impl EventSink for Vec<Event> {
    fn emit(&mut self, event: Event) -> Result<()> {
        self.push(event);
        Ok(())
    }
}

/// A number that may have been written as `null` (not finite): read back as NaN.
fn num<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nums<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// The run starts (a resumed run logs no second start).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub epoch: usize,
    pub dataset: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub device: String,
    pub parameters: i64,
    pub hidden_widths: Vec<i64>,
    pub architecture: Architecture,
}

/// An epoch ends (after the growth it triggered), with its evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochEnd {
    pub epoch: usize,
    pub step: usize,
    #[serde(deserialize_with = "num")]
    pub train_loss: f64,
    pub train_accuracy: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub test_loss: f64,
    pub test_accuracy: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub lr: f64,
    #[serde(deserialize_with = "num")]
    pub epoch_seconds: f64,
    #[serde(deserialize_with = "num")]
    pub growth_seconds: f64,
    /// Training wall time so far (seconds, growth included, across resumptions).
    #[serde(deserialize_with = "num")]
    pub wall_time: f64,
    pub parameters: i64,
    pub hidden_widths: Vec<i64>,
}

/// Loss and accuracy on a dataset.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Eval {
    #[serde(deserialize_with = "num")]
    pub loss: f64,
    /// Fraction correct (classification only).
    pub accuracy: Option<f64>,
}

/// The result of a finished run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub epochs: usize,
    pub train: Eval,
    pub val: Option<Eval>,
    pub test: Eval,
    pub parameters: i64,
    pub hidden_widths: Vec<i64>,
    #[serde(deserialize_with = "num")]
    pub seconds: f64,
    #[serde(deserialize_with = "num")]
    pub seconds_in_growth: f64,
    pub growth_steps: usize,
}

/// The run finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct End {
    pub epoch: usize,
    pub summary: Summary,
}

/// The run stopped on an error. `epoch` and `step` count what was complete when it
/// happened; `checkpoint` is the last good checkpoint (what `--resume` continues from).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    pub epoch: usize,
    pub step: usize,
    /// What the run was doing: `training`, `growth`, `evaluation` or `checkpoint`.
    pub during: String,
    pub message: String,
    pub checkpoint: Option<String>,
}

/// Growth stopped for good (automatic mode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrowthFinished {
    pub epoch: usize,
    pub step: usize,
    pub reason: String,
}

/// The automatic mode added one unit with random fan-in and zero fan-out (the function is
/// unchanged) to each layer in `sites`, every one a single unit that may still grow, after a
/// check that kept nothing (docs/tiny.md §10, "A layer of one unit").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Widened {
    pub epoch: usize,
    pub step: usize,
    pub sites: Vec<usize>,
    /// The hidden widths afterwards.
    pub hidden_widths: Vec<i64>,
    pub reason: String,
}

/// A growth event: a TINY-family step at one site, a step that found no site, or one round
/// of a SENN check (with or without an expansion). On disk they share `"event":"growth"`;
/// SENN's carry `"method":"senn"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Growth {
    Step(Box<GrowthStep>),
    NoSite(NoSite),
    SennRound(Box<SennRound>),
    SennExpansion(Box<SennExpansion>),
}

impl Growth {
    /// (epoch, step) when the event was logged.
    pub fn clock(&self) -> (usize, usize) {
        match self {
            Growth::Step(g) => (g.epoch, g.step),
            Growth::NoSite(g) => (g.epoch, g.step),
            Growth::SennRound(g) => (g.scores.epoch, g.scores.step),
            Growth::SennExpansion(g) => (g.scores.epoch, g.scores.step),
        }
    }
}

impl<'de> Deserialize<'de> for Growth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = Value::deserialize(d)?;
        let senn = v.get("method").and_then(Value::as_str) == Some("senn");
        let parsed = if senn && v.get("kind").is_some() {
            serde_json::from_value(v).map(|e| Growth::SennExpansion(Box::new(e)))
        } else if senn {
            serde_json::from_value(v).map(|e| Growth::SennRound(Box::new(e)))
        } else if v.get("site").is_some() {
            serde_json::from_value(v).map(|e| Growth::Step(Box::new(e)))
        } else {
            serde_json::from_value(v).map(Growth::NoSite)
        };
        parsed.map_err(D::Error::custom)
    }
}

/// A TINY-family growth step at one site (`tiny`, `tiny-paper`, `gradmax`, `random`):
/// what was proposed, the amplitude, the verdict and the timings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrowthStep {
    pub epoch: usize,
    pub step: usize,
    pub growth_step: usize,
    pub method: String,
    pub site: usize,
    pub neurons_added: i64,
    pub neurons_proposed: i64,
    #[serde(deserialize_with = "nums")]
    pub lambdas: Vec<f64>,
    #[serde(deserialize_with = "num")]
    pub bottleneck: f64,
    /// Ψ of every site measured for this step (site → Ψ; `None`: not finite).
    pub bottlenecks: BTreeMap<usize, Option<f64>>,
    #[serde(deserialize_with = "num")]
    pub fo_gromo: f64,
    #[serde(deserialize_with = "num")]
    pub fo_with_cross: f64,
    pub fo_measured: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub cross_term: f64,
    #[serde(deserialize_with = "num")]
    pub decrease_delta: f64,
    #[serde(deserialize_with = "num")]
    pub decrease_existing: f64,
    #[serde(deserialize_with = "num")]
    pub neuron_gain_ratio: f64,
    #[serde(deserialize_with = "num")]
    pub relative_improvement: f64,
    #[serde(deserialize_with = "num")]
    pub scale: f64,
    #[serde(deserialize_with = "num")]
    pub loss_before: f64,
    #[serde(deserialize_with = "num")]
    pub loss_preview: f64,
    #[serde(deserialize_with = "num")]
    pub predicted_decrease: f64,
    #[serde(deserialize_with = "num")]
    pub measured_decrease: f64,
    pub line_search_evaluations: usize,
    pub accepted: bool,
    pub reason: Option<String>,
    pub notes: Vec<String>,
    #[serde(deserialize_with = "num")]
    pub seconds_statistics: f64,
    #[serde(deserialize_with = "num")]
    pub seconds_decomposition: f64,
    #[serde(deserialize_with = "num")]
    pub seconds_line_search: f64,
    pub hidden_widths: Vec<i64>,
    pub parameters: i64,
    /// Automatic mode: the held-out verdict and every neuron count tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgement: Option<Judgement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neurons_tried: Option<Vec<(i64, f64, f64)>>,
    /// Random zero-fan-out units added with this kept step (`growth.companions`); absent
    /// when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companions: Option<i64>,
}

/// The automatic mode's held-out verdict on a step; all gains relative to the judging
/// half's loss before growth (docs/tiny.md §10).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// New neurons judged.
    pub neurons: i64,
    /// Parameters they add.
    pub parameters_added: i64,
    /// The judged gain (the new neurons' gain over the existing weights' update, or the
    /// whole step's).
    #[serde(deserialize_with = "num")]
    pub gain: f64,
    /// Its standard error (paired per-sample differences).
    #[serde(deserialize_with = "num")]
    pub standard_error: f64,
    /// The whole step's gain over the unchanged network.
    #[serde(deserialize_with = "num")]
    pub total: f64,
    /// The gain of the existing weights' update alone, at `existing_scale` (`None` when the
    /// proposal has no such update or the whole step is judged).
    pub existing: Option<f64>,
    /// Scale of that update alone, chosen on the choosing half.
    pub existing_scale: Option<f64>,
    /// Judging half's mean loss before growth.
    #[serde(deserialize_with = "num")]
    pub loss_before: f64,
    /// Judging samples the verdict used (fewer than the judging half's when a judging in
    /// parts stopped early; absent from logs written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<i64>,
}

/// A TINY-family step in which no site had a direction to grow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoSite {
    pub epoch: usize,
    pub step: usize,
    pub growth_step: usize,
    pub accepted: bool,
    pub reason: String,
    pub bottlenecks: BTreeMap<usize, Option<f64>>,
}

/// One scored SENN candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SennCandidate {
    /// `width` or `depth`.
    pub kind: String,
    pub position: usize,
    #[serde(deserialize_with = "num")]
    pub delta_eta_bound: f64,
    #[serde(deserialize_with = "num")]
    pub eta_layer: f64,
    #[serde(deserialize_with = "num")]
    pub ratio_layer: f64,
    #[serde(deserialize_with = "num")]
    pub ratio_lambda: f64,
    pub passes: bool,
}

/// The scores of one round of a SENN check (docs/senn.md §1.4–1.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SennScores {
    /// Always `senn`.
    pub method: String,
    pub epoch: usize,
    pub step: usize,
    pub growth_step: usize,
    pub round: usize,
    #[serde(deserialize_with = "num")]
    pub eta_global: f64,
    #[serde(deserialize_with = "nums")]
    pub eta_layers: Vec<f64>,
    #[serde(deserialize_with = "num")]
    pub lambda: f64,
    #[serde(deserialize_with = "num")]
    pub stats_loss: f64,
    pub candidates: Vec<SennCandidate>,
    #[serde(deserialize_with = "num")]
    pub seconds_statistics: f64,
    #[serde(deserialize_with = "num")]
    pub seconds_decomposition: f64,
}

/// A SENN round in which no candidate passed: nothing expanded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SennRound {
    #[serde(flatten)]
    pub scores: SennScores,
    pub accepted: bool,
    pub neurons_added: i64,
    pub reason: String,
    pub hidden_widths: Vec<i64>,
    pub parameters: i64,
}

/// A SENN round that expanded the network with its best passing candidate (or tried, and
/// rolled back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SennExpansion {
    #[serde(flatten)]
    pub scores: SennScores,
    /// `width` or `depth`.
    pub kind: String,
    pub site: usize,
    #[serde(deserialize_with = "num")]
    pub delta_eta_bound: f64,
    #[serde(deserialize_with = "num")]
    pub eta_layer: f64,
    pub closed_form_bound: Option<f64>,
    pub accepted: bool,
    pub neurons_added: i64,
    pub reason: Option<String>,
    #[serde(deserialize_with = "num")]
    pub loss_before: f64,
    #[serde(deserialize_with = "num")]
    pub loss_after: f64,
    #[serde(deserialize_with = "num")]
    pub seconds_line_search: f64,
    pub hidden_widths: Vec<i64>,
    pub parameters: i64,
}

/// Parses one line of a metrics file (`line_no` counts from 1, for the message).
pub fn parse_line(line: &str, line_no: usize) -> Result<Event> {
    serde_json::from_str(line).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "",
            _ => "invalid JSON: ",
        };
        Error::Metrics(format!("metrics line {line_no}: {what}{e}"))
    })
}

/// Parses a whole metrics file's text (blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<Event>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| parse_line(l, i + 1))
        .collect()
}

/// Reads every event of a metrics file; an error names the file and the line.
pub fn read(path: &Path) -> Result<Vec<Event>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text).map_err(|e| match e {
        Error::Metrics(m) => Error::Metrics(format!("{}: {m}", path.display())),
        e => e,
    })
}
