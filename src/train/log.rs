//! The run directory: resolved config, `metrics.jsonl` (one JSON object per event) and the
//! checkpoint.
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

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
            let kept: Vec<String> = read_events(&mpath)?
                .into_iter()
                .filter(|v| v.get("epoch").and_then(Value::as_u64).unwrap_or(0) <= epoch as u64)
                .filter(|v| v.get("event").and_then(Value::as_str) != Some("end"))
                .map(|v| v.to_string())
                .collect();
            let mut text = kept.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            crate::checkpoint::write_atomic(&mpath, text.as_bytes())?;
        }
        Self::open(path)
    }

    /// Appends one event (flushed at once, so a crash loses nothing logged).
    pub fn log(&mut self, event: &Value) -> Result<()> {
        let path = self.path.join(METRICS_FILE);
        writeln!(self.metrics, "{event}")
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

/// Reads every event of a metrics file (blank lines skipped; a bad line is an error naming it).
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
