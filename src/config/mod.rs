//! Run configuration: everything that defines a run, readable from TOML and written back
//! (resolved) into the run directory. The command line (`--set` and the flags) and bench files
//! change it key by key ([`overrides`]); enum values read from text parse by their serde names
//! ([`parse_enum`]).
//!
//! ```
//! use grownet::config::RunConfig;
//! let cfg: RunConfig = toml::from_str(r#"
//!     [data]
//!     name = "moons"
//!     [model]
//!     hidden = [8, 8]
//!     [train]
//!     epochs = 3
//! "#).unwrap();
//! assert_eq!(cfg.model.hidden, vec![8, 8]);
//! assert_eq!(cfg.train.epochs, 3);
//! ```
mod enums;
pub mod overrides;

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::data::{DataConfig, Task};
use crate::error::{Error, Result};
use crate::nn::{Activation, Architecture};
use crate::optim::{OptimizerConfig, OptimizerKind, Schedule};

pub use enums::{enum_names, parse_enum};
pub use overrides::Override;

/// Which family of model to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Mlp,
    #[serde(alias = "vgg")]
    Cnn,
    /// The CIFAR ResNet-18 with growable block widths.
    #[serde(alias = "resnet-18")]
    Resnet18,
}

/// The model's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub kind: ModelKind,
    /// MLP hidden widths.
    pub hidden: Vec<i64>,
    /// CNN channels per 3×3 conv stage.
    pub channels: Vec<i64>,
    pub activation: Activation,
    /// BatchNorm after each conv (CNN only).
    pub batch_norm: bool,
    /// CNN: conv stages between two 2×2 max poolings (1: pool after every conv).
    pub convs_per_pool: usize,
    /// ResNet-18: each block's starting hidden width as a fraction of its output width.
    pub width_fraction: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::Mlp,
            hidden: vec![32, 32],
            channels: vec![32, 64, 128],
            activation: Activation::Relu,
            batch_norm: true,
            convs_per_pool: 1,
            width_fraction: 1.0 / 64.0,
        }
    }
}

impl ModelConfig {
    /// The architecture for inputs of `input_shape` and the given task.
    pub fn architecture(&self, input_shape: &[i64], task: Task) -> Result<Architecture> {
        match self.kind {
            ModelKind::Mlp => Ok(Architecture::mlp(
                input_shape.iter().product(),
                &self.hidden,
                task.outputs(),
                self.activation,
            )),
            ModelKind::Cnn | ModelKind::Resnet18 => {
                let [c, h, w] = <[i64; 3]>::try_from(input_shape).map_err(|_| {
                    Error::Config(format!(
                        "the {:?} model needs image inputs [channels, height, width], this dataset has {input_shape:?}",
                        self.kind
                    ))
                })?;
                Ok(if self.kind == ModelKind::Cnn {
                    Architecture::vgg(
                        [c, h, w],
                        &self.channels,
                        self.convs_per_pool,
                        task.outputs(),
                        self.activation,
                        self.batch_norm,
                    )
                } else {
                    Architecture::resnet18([c, h, w], task.outputs(), self.width_fraction)
                })
            }
        }
    }
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Random crop + flip for colour images.
    pub augment: bool,
    pub eval_batch_size: usize,
    /// Seed of initialisation, shuffling, augmentation and growth.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 20,
            batch_size: 64,
            lr: 0.01,
            optimizer: OptimizerKind::AdamW,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            augment: true,
            eval_batch_size: 1000,
            seed: 0,
        }
    }
}

impl TrainConfig {
    pub fn optimizer_config(&self) -> OptimizerConfig {
        let base = match self.optimizer {
            OptimizerKind::Sgd => OptimizerConfig::sgd(self.momentum),
            OptimizerKind::AdamW => OptimizerConfig::adamw(self.weight_decay),
        };
        OptimizerConfig {
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            ..base
        }
    }
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Run name (the default output directory is `runs/<name>`).
    pub name: Option<String>,
    /// `auto` (CUDA when available), `cpu`, `cuda` or `cuda:N`.
    pub device: Option<String>,
    /// CPU threads for libtorch (absent: automatic, see [`crate::runtime::auto_threads`]).
    pub threads: Option<usize>,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Network growth (absent: the architecture stays fixed).
    pub growth: Option<crate::growth::GrowthConfig>,
}

impl RunConfig {
    /// The embedded default run (`grownet train` with no arguments): the built-in spirals,
    /// an MLP that starts with one neuron per hidden layer and grows to 32+32 with TINY
    /// during the first 30 of 40 epochs. A few seconds on one CPU core.
    pub fn demo() -> Self {
        let mut cfg = RunConfig {
            name: None,
            threads: Some(1),
            ..RunConfig::default()
        };
        cfg.model.hidden = vec![1, 1];
        cfg.train.epochs = 40;
        cfg.growth = Some(crate::growth::GrowthConfig {
            selection: crate::growth::Selection::All,
            max_hidden: Some(vec![32, 32]),
            stop_epoch: Some(30),
            ..Default::default()
        });
        cfg
    }

    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// The resolved config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not serialise: {e}\n"))
    }

    /// Checks values a user could get wrong.
    pub fn validate(&self) -> Result<()> {
        let t = &self.train;
        if t.batch_size == 0 || t.eval_batch_size == 0 {
            return Err(Error::Config("batch sizes must be at least 1".into()));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(Error::Config(format!(
                "learning rate must be positive, got {}",
                t.lr
            )));
        }
        if self
            .model
            .hidden
            .iter()
            .chain(&self.model.channels)
            .any(|&w| w < 0)
        {
            return Err(Error::Config("widths cannot be negative".into()));
        }
        if self.model.kind == ModelKind::Cnn && self.model.channels.is_empty() {
            return Err(Error::Config(
                "the CNN needs at least one conv stage".into(),
            ));
        }
        if let Some(g) = &self.growth {
            g.validate()?;
            g.check_target(self.model.kind == ModelKind::Resnet18)?;
            if self.model.kind != ModelKind::Mlp && g.method == crate::growth::Method::Senn {
                return Err(Error::Config(
                    "SENN grows fully connected networks only: use --model mlp, or grow the \
                     CNN with tiny, tiny-paper, gradmax or random"
                        .into(),
                ));
            }
        }
        parse_device(self.device.as_deref().unwrap_or("auto")).map(|_| ())
    }
}

/// Parses `auto`, `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => {
            if tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                Err(Error::Config(
                    "--device cuda: no CUDA device is available".into(),
                ))
            }
        }
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) if (i as i64) < tch::Cuda::device_count() => Ok(Device::Cuda(i)),
            Some(Ok(i)) => Err(Error::Config(format!(
                "--device cuda:{i}: only {} CUDA device(s) available",
                tch::Cuda::device_count()
            ))),
            _ => Err(Error::Config(format!(
                "unknown device '{other}' (expected auto, cpu, cuda or cuda:N)"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip() {
        let cfg = RunConfig::default();
        let back: RunConfig = toml::from_str(&cfg.to_toml()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(toml::from_str::<RunConfig>("[train]\nepoch = 3\n").is_err());
        let mut cfg = RunConfig::default();
        cfg.train.lr = -1.0;
        assert!(cfg.validate().is_err());
        assert!(parse_device("tpu").is_err());
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
    }
}
