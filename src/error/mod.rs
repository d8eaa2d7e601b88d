//! The library's error type: every failure says what went wrong and where.
use std::path::PathBuf;

pub(crate) mod check;
mod data;

pub use data::DataError;

/// Errors returned by grownet's library functions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset file is missing or malformed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// An error raised by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A configuration value is out of its range: the key, the value and what is accepted.
    #[error("invalid configuration: {key} = {value}: expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    /// Tensor shapes do not fit together.
    #[error("shape mismatch in {context}: {detail}")]
    Shape { context: String, detail: String },
    /// A checkpoint is missing, corrupt or does not match the model.
    #[error("checkpoint {path}: {detail}")]
    Checkpoint { path: PathBuf, detail: String },
    /// The loss became NaN or infinite (`what`: which loss, e.g. `training loss`, `test loss
    /// after the epoch`); `epoch` and `step` say where (counted from 1).
    #[error("non-finite {what} ({loss}) at epoch {epoch}, step {step}; last good checkpoint: {checkpoint}")]
    NonFiniteLoss {
        what: String,
        loss: f64,
        epoch: usize,
        step: usize,
        checkpoint: String,
    },
    /// A run stopped on an error: where it happened and the last good checkpoint.
    #[error("{source} (during {during}, after {epoch} epoch(s) and {step} step(s); last good checkpoint: {checkpoint})")]
    During {
        during: String,
        epoch: usize,
        step: usize,
        checkpoint: String,
        #[source]
        source: Box<Error>,
    },
    /// A run or bench directory cannot be used (in use, holds another run, not a directory).
    #[error("{0}")]
    RunDir(String),
    /// Training stopped on purpose after this step as a crash would (testing resume).
    #[error("stopped after step {step} as a crash would (GROWNET_CRASH_AFTER_STEP)")]
    Interrupted { step: usize },
    /// A growth step failed.
    #[error("growth: {0}")]
    Growth(String),
    /// A chart could not be drawn or written.
    #[error("plot {path}: {detail}")]
    Plot { path: PathBuf, detail: String },
    /// A metrics file (`metrics.jsonl`) line is not a valid event.
    #[error("{0}")]
    Metrics(String),
    /// A value could not be written as JSON.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A benchmark run failed.
    #[error("bench: {0}")]
    Bench(String),
    /// A network could not be exported (see `grownet export`).
    #[error("export: {0}")]
    Export(String),
}

/// Shorthand for `Result<T, grownet::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A value out of range: `key` (as in config.toml), the value as given, what is accepted.
    pub fn invalid(key: &str, value: impl std::fmt::Debug, expected: impl Into<String>) -> Self {
        let value = format!("{value:?}");
        Error::Invalid {
            key: key.into(),
            value: value.trim_matches('"').to_string(),
            expected: expected.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
