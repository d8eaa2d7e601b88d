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
pub mod presets;
mod resume;

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::data::{DataConfig, Task};
use crate::error::{check, Error, Result};
use crate::nn::{Activation, Architecture};
use crate::optim::{OptimizerConfig, OptimizerKind, Schedule};

pub use enums::{enum_names, parse_enum};
pub use overrides::Override;
pub use resume::{changes, check_resumable, Change};

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
    /// Checks the values the model's kind uses.
    pub fn validate(&self) -> Result<()> {
        match self.kind {
            // Width 0 is a start for growth only: see RunConfig::validate.
            ModelKind::Mlp => {
                check::widths_from("model.hidden", &self.hidden, 0, Some("no hidden layer"))
            }
            ModelKind::Cnn => {
                check::widths("model.channels", &self.channels, None)?;
                check::at_least("model.convs_per_pool", self.convs_per_pool, 1)
            }
            ModelKind::Resnet18 => {
                if self.width_fraction > 0.0 && self.width_fraction <= 1.0 {
                    Ok(())
                } else {
                    Err(Error::invalid(
                        "model.width_fraction",
                        self.width_fraction,
                        "a fraction in (0, 1]",
                    ))
                }
            }
        }
    }

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
    /// The optimiser's step as one fused multi-tensor kernel (ATen's, as `torch.optim` with
    /// `fused=True`); `false`: the op-by-op update of builds before it (same update up to
    /// rounding: use it to reproduce their numbers digit for digit).
    pub fused_optimizer: bool,
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
            fused_optimizer: true,
        }
    }
}

impl TrainConfig {
    /// Checks every value of the section.
    pub fn validate(&self) -> Result<()> {
        check::at_least("train.batch_size", self.batch_size, 1)?;
        check::at_least("train.eval_batch_size", self.eval_batch_size, 1)?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(
                "train.lr",
                self.lr,
                format!(
                    "a finite number > 0 (the learning rate must be positive, got {})",
                    self.lr
                ),
            ));
        }
        check::in_range("train.momentum", self.momentum, 0.0, 1.0, true)?;
        check::non_negative("train.weight_decay", self.weight_decay)?;
        self.schedule.validate()
    }

    pub fn optimizer_config(&self) -> OptimizerConfig {
        let base = match self.optimizer {
            OptimizerKind::Sgd => OptimizerConfig::sgd(self.momentum),
            OptimizerKind::AdamW => OptimizerConfig::adamw(self.weight_decay),
        };
        OptimizerConfig {
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            fused: self.fused_optimizer,
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

    /// Checks values a user could get wrong: every section's ranges, then how they fit
    /// together. Errors name the key, the value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        check::opt_at_least("threads", self.threads, 1, "automatic")?;
        self.data.validate()?;
        self.model.validate()?;
        self.train.validate()?;
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
            if self.model.kind == ModelKind::Mlp {
                g.check_widths(&self.model.hidden, "at the start")?;
            }
        }
        // A layer of width 0 passes nothing on: a start only for growth that can widen it.
        if self.model.kind == ModelKind::Mlp {
            let grows = |k: usize| {
                self.growth.as_ref().is_some_and(|g| {
                    g.max_hidden
                        .as_ref()
                        .is_none_or(|m| m.get(k).or(m.last()).is_some_and(|&w| w > 0))
                })
            };
            if let Some(k) =
                (0..self.model.hidden.len()).find(|&k| self.model.hidden[k] == 0 && !grows(k))
            {
                return Err(Error::invalid(
                    "model.hidden",
                    &self.model.hidden,
                    format!(
                        "widths of at least 1 (entry {} is 0: a layer of width 0 passes nothing \
                         on; it may start at 0 only in a run that grows it)",
                        k + 1
                    ),
                ));
            }
        }
        parse_device(self.device.as_deref().unwrap_or("auto")).map(|_| ())
    }

    /// Makes relative paths absolute (the data directory), so that the run directory's
    /// config means the same from any working directory.
    pub fn resolve_paths(&mut self) -> Result<()> {
        if let Some(d) = &self.data.data_dir {
            if d.is_relative() {
                self.data.data_dir =
                    Some(std::path::absolute(d).map_err(|e| Error::io(d.clone(), e))?);
            }
        }
        Ok(())
    }
}

/// The device a process of a launched run uses when `requested` is `auto`, `cuda` or `gpu`:
/// `cuda:LOCAL_RANK` (torchrun and the Slurm recipe set `LOCAL_RANK`, the process's rank on
/// its machine), so that each process of a machine takes its own GPU; `cuda:0` when the process
/// sees a single GPU (one GPU per task, e.g. through `CUDA_VISIBLE_DEVICES`). Unchanged without
/// `local_rank`, without GPUs (`auto` then means the CPU, `cuda` is refused as before), for
/// `cpu` and for an explicit `cuda:N`. More local ranks than GPUs is an error.
pub fn rank_device(requested: &str, local_rank: Option<usize>, gpus: i64) -> Result<String> {
    match (requested, local_rank) {
        ("auto" | "cuda" | "gpu", Some(r)) if gpus > 0 => {
            if (r as i64) < gpus {
                Ok(format!("cuda:{r}"))
            } else if gpus == 1 {
                Ok("cuda:0".into())
            } else {
                Err(Error::Config(format!(
                    "--device {requested}: LOCAL_RANK={r} but this machine has {gpus} CUDA \
                     devices (launch at most one process per GPU, or give --device cuda:N)"
                )))
            }
        }
        _ => Ok(requested.to_string()),
    }
}

/// Parses `auto`, `cpu`, `cuda` or `cuda:N`; under a launcher that sets `LOCAL_RANK`, `auto`
/// and `cuda` mean this process's own GPU ([`rank_device`]).
pub fn parse_device(s: &str) -> Result<Device> {
    let local_rank = std::env::var("LOCAL_RANK")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let gpus = local_rank.map_or(0, |_| tch::Cuda::device_count());
    match rank_device(s, local_rank, gpus)?.as_str() {
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
        type Case = (fn(&mut RunConfig), &'static str);
        let cases: [Case; 12] = [
            (
                |c| c.model.hidden = vec![4, 0],
                "model.hidden = [4, 0]: expected widths of at least 1",
            ),
            (
                |c| c.train.momentum = f64::NAN,
                "train.momentum = NaN: expected a number in [0, 1)",
            ),
            (
                |c| c.train.momentum = 2.0,
                "train.momentum = 2.0: expected a number in [0, 1)",
            ),
            (
                |c| c.train.weight_decay = -0.1,
                "train.weight_decay = -0.1: expected a finite number ≥ 0",
            ),
            (|c| c.threads = Some(0), "threads = 0: expected at least 1"),
            (
                |c| c.data.test_limit = Some(0),
                "data.test_limit = 0: expected at least 1",
            ),
            (
                |c| {
                    c.train.schedule = Schedule::Step {
                        every: 0,
                        gamma: 0.5,
                    }
                },
                "train.schedule.every = 0: expected at least 1",
            ),
            (
                |c| {
                    c.model.kind = ModelKind::Cnn;
                    c.model.channels = vec![0];
                },
                "model.channels = [0]",
            ),
            (
                |c| c.train.lr = f64::INFINITY,
                "learning rate must be positive, got inf",
            ),
            (
                |c| c.data.val_fraction = 1.0,
                "data.val_fraction = 1.0: expected a number in [0, 1)",
            ),
            (
                |c| c.data.test_fraction = Some(0.0),
                "data.test_fraction = 0.0: expected a number in (0, 1) (unset it to use the \
                 dataset's test set)",
            ),
            (
                |c| {
                    c.growth = Some(crate::growth::GrowthConfig {
                        line_search: crate::growth::amplitude::LineSearch::Armijo {
                            c: 1.0,
                            max_iterations: 5,
                        },
                        ..Default::default()
                    })
                },
                "growth.line_search.c = 1.0: expected a number in (0, 1)",
            ),
        ];
        for (change, expected) in cases {
            let mut cfg = RunConfig::default();
            change(&mut cfg);
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(expected), "expected '{expected}' in '{e}'");
        }
        // Growth settings, on a network 4-4 growing to 8-8.
        let growth: [(&str, &str); 14] = [
            (
                "max_hidden = [2, 8]",
                "growth.max_hidden = [2, 8]: expected targets no smaller than the network's \
                 widths at the start ([4, 4]; layer 1 has 4)",
            ),
            (
                "max_hidden = [8]",
                "growth.max_hidden = [8]: expected 2 width(s), one per hidden layer",
            ),
            (
                "max_hidden = [8, 0]",
                "growth.max_hidden = [8, 0]: expected widths of at least 1",
            ),
            (
                "max_parameters = -5",
                "growth.max_parameters = -5: expected at least 1",
            ),
            (
                "linalg_threads = 0",
                "growth.linalg_threads = 0: expected at least 1",
            ),
            (
                "end_shrink = 0.0",
                "growth.end_shrink = 0.0: expected a finite number > 0",
            ),
            (
                "end_perturb = -1.0",
                "growth.end_perturb = -1.0: expected a finite number ≥ 0",
            ),
            (
                "neurons_per_step = 0",
                "growth.neurons_per_step = 0: expected at least 1",
            ),
            (
                "auto_rounds = 0",
                "growth.auto_rounds = 0: expected at least 1",
            ),
            ("patience = 0", "growth.patience = 0: expected at least 1"),
            (
                "line_search = { kind = \"grid\", scales = [-1.0] }",
                "growth.line_search.scales = [-1.0]: expected scales in [0, 1000]",
            ),
            (
                "line_search = { kind = \"grid\", scales = [] }",
                "growth.line_search.scales = []",
            ),
            (
                "numerical_threshold = nan",
                "growth.numerical_threshold = NaN: expected a finite number ≥ 0",
            ),
            (
                "every_steps = 0",
                "growth.every_steps = 0: expected at least 1",
            ),
        ];
        for (line, expected) in growth {
            let text = format!("[model]\nhidden = [4, 4]\n[growth]\nmax_hidden = [8, 8]\n{line}\n");
            let text = text.replacen("max_hidden = [8, 8]\nmax_hidden", "max_hidden", 1);
            let cfg: RunConfig = toml::from_str(&text).unwrap();
            let e = cfg.validate().unwrap_err().to_string();
            assert!(
                e.contains(expected),
                "{line}: expected '{expected}' in '{e}'"
            );
        }
        // Width 0 is a start for growth, not a network.
        let grows: RunConfig =
            toml::from_str("[model]\nhidden = [0]\n[growth]\nmax_hidden = [6]\n").unwrap();
        assert!(grows.validate().is_ok());
        let senn = RunConfig {
            growth: Some(crate::growth::GrowthConfig {
                method: crate::growth::Method::Senn,
                senn: crate::growth::senn::SennConfig {
                    tau: f64::NAN,
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..RunConfig::default()
        };
        let e = senn.validate().unwrap_err().to_string();
        assert!(e.contains("growth.senn.tau = NaN"), "{e}");
        assert!(parse_device("tpu").is_err());
        assert!(parse_device("cuda:x").is_err());
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
    }

    #[test]
    fn each_local_rank_takes_its_own_gpu() {
        let dev = |s: &str, r: Option<usize>, gpus: i64| rank_device(s, r, gpus).unwrap();
        // torchrun on a machine of 4 GPUs: auto and cuda mean the rank's own GPU.
        assert_eq!(dev("auto", Some(2), 4), "cuda:2");
        assert_eq!(dev("cuda", Some(3), 4), "cuda:3");
        assert_eq!(dev("gpu", Some(0), 4), "cuda:0");
        // An explicit index and the CPU are kept.
        assert_eq!(dev("cuda:1", Some(3), 4), "cuda:1");
        assert_eq!(dev("cpu", Some(3), 4), "cpu");
        // One visible GPU per process (CUDA_VISIBLE_DEVICES): cuda:0 whatever the local rank.
        assert_eq!(dev("auto", Some(5), 1), "cuda:0");
        // No GPU: auto stays auto (the CPU); no launcher: unchanged.
        assert_eq!(dev("auto", Some(1), 0), "auto");
        assert_eq!(dev("cuda", Some(1), 0), "cuda");
        assert_eq!(dev("auto", None, 4), "auto");
        assert_eq!(dev("cuda", None, 4), "cuda");
        // More processes than GPUs on a machine.
        let e = rank_device("cuda", Some(4), 2).unwrap_err().to_string();
        assert!(
            e.contains("LOCAL_RANK=4") && e.contains("2 CUDA devices"),
            "{e}"
        );
    }
}
