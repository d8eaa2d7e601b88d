//! The run directory: resolved config, `metrics.jsonl` (one [`Event`] per line) and the
//! checkpoint; and the [`Reporter`] that sends a run's events there and prints a line per
//! growth step on the terminal.
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::events::{self, Event, EventSink, Growth};

/// File names inside a run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CONFIG_FILE: &str = "config.toml";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// An open run directory.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    metrics: File,
}

impl RunDir {
    /// Creates (or reopens) `path`, appending to its metrics.
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let mpath = path.join(METRICS_FILE);
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&mpath)
            .map_err(|e| Error::io(&mpath, e))?;
        Ok(RunDir {
            path: path.to_path_buf(),
            metrics,
        })
    }

    /// Reopens `path` for a resumed run, dropping events logged after epoch `epoch` (those of
    /// an interrupted epoch, which the resumed run logs again).
    pub fn reopen_at(path: &Path, epoch: usize) -> Result<Self> {
        let mpath = path.join(METRICS_FILE);
        if mpath.exists() {
            let mut text = String::new();
            for e in events::read(&mpath)? {
                if e.epoch() <= epoch && !matches!(e, Event::End(_)) {
                    text.push_str(&serde_json::to_string(&e)?);
                    text.push('\n');
                }
            }
            crate::checkpoint::write_atomic(&mpath, text.as_bytes())?;
        }
        Self::open(path)
    }

    /// Appends one event (flushed at once, so a crash loses nothing logged).
    pub fn log(&mut self, event: &Event) -> Result<()> {
        let path = self.path.join(METRICS_FILE);
        let line = serde_json::to_string(event)?;
        writeln!(self.metrics, "{line}")
            .and_then(|_| self.metrics.flush())
            .map_err(|e| Error::io(path, e))
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.path.join(CHECKPOINT_FILE)
    }

    /// Writes the resolved configuration.
    pub fn write_config(&self, toml: &str) -> Result<()> {
        crate::checkpoint::write_atomic(&self.path.join(CONFIG_FILE), toml.as_bytes())
    }
}

/// Sends a run's events to its directory (if any) and prints a line per growth step unless
/// quiet.
pub struct Reporter<'a> {
    pub run: Option<&'a mut RunDir>,
    pub quiet: bool,
}

impl EventSink for Reporter<'_> {
    fn emit(&mut self, event: Event) -> Result<()> {
        if !self.quiet {
            if let Some(line) = summary_line(&event) {
                println!("{line}");
            }
        }
        match self.run.as_mut() {
            Some(r) => r.log(&event),
            None => Ok(()),
        }
    }
}

/// The terminal line of a growth event (`None` for other events).
fn summary_line(event: &Event) -> Option<String> {
    match event {
        Event::Growth(Growth::Step(g)) => Some(match &g.reason {
            None => {
                let lam = g
                    .lambdas
                    .first()
                    .map_or(String::new(), |l| format!(" λ₁={l:.3}"));
                format!(
                    "  growth {}: site {} +{} neurons{lam} s={:.3} loss {:.4}→{:.4} (predicted −{:.4}) widths {:?}",
                    g.growth_step, g.site, g.neurons_added, g.scale, g.loss_before,
                    g.loss_before - g.measured_decrease, g.predicted_decrease, g.hidden_widths
                )
            }
            Some(r) => format!("  growth {}: site {} skipped ({r})", g.growth_step, g.site),
        }),
        Event::Growth(Growth::SennExpansion(e)) => Some(match &e.reason {
            None => format!(
                "  senn {}: {} at {} (Δη'={:.3e}, η_l={:.3e}, λ={:.3e}) widths {:?}",
                e.scores.growth_step,
                e.kind,
                e.site,
                e.delta_eta_bound,
                e.eta_layer,
                e.scores.lambda,
                e.hidden_widths
            ),
            Some(r) => format!("  senn {}: {r}", e.scores.growth_step),
        }),
        Event::GrowthFinished(f) => Some(format!("growth finished: {}", f.reason)),
        _ => None,
    }
}

/// Reads every line of a metrics file as untyped JSON (blank lines skipped; a bad line is an
/// error naming it): for tests and tools; [`crate::events::read`] reads them typed.
pub fn read_events(path: &Path) -> Result<Vec<Value>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line).map_err(|e| {
            Error::Config(format!(
                "{}: line {}: invalid JSON ({e})",
                path.display(),
                i + 1
            ))
        })?;
        out.push(v);
    }
    Ok(out)
}
