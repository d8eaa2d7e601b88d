//! The library's error type: every failure says what went wrong and where.
use std::path::PathBuf;

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
    /// Tensor shapes do not fit together.
    #[error("shape mismatch in {context}: {detail}")]
    Shape { context: String, detail: String },
    /// A checkpoint is missing, corrupt or does not match the model.
    #[error("checkpoint {path}: {detail}")]
    Checkpoint { path: PathBuf, detail: String },
    /// The loss became NaN or infinite.
    #[error("non-finite loss ({loss}) at epoch {epoch}, step {step}; last good checkpoint: {checkpoint}")]
    NonFiniteLoss {
        loss: f64,
        epoch: usize,
        step: usize,
        checkpoint: String,
    },
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
}

/// Shorthand for `Result<T, grownet::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
