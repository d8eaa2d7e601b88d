//! Data: file formats (IDX, CIFAR-10, CIFAR-100, CSV, NumPy, safetensors, image folders),
//! built-in synthetic sets, and the tensors training uses.
//!
//! ```
//! use grownet::data::{load, DataConfig};
//! let cfg = DataConfig { name: "moons".into(), ..DataConfig::default() };
//! let splits = load(&cfg, tch::Device::Cpu).unwrap();
//! assert_eq!(splits.input_shape, vec![2]);
//! assert!(splits.train.len() > 0 && splits.test.len() > 0);
//! ```
mod batches;
mod choices;
mod config;
mod dataset;
pub mod formats;
mod own;
mod raw;
mod source;
mod summary;
pub mod synthetic;
mod task;

pub use batches::{augment_crop_flip, consecutive_batches, epoch_batches, epoch_rng};
pub use choices::{Cifar100Label, ImageFit, Layout, Missing, TaskChoice, AUTO_MAX_CLASSES};
pub use config::{DataConfig, DEFAULT_TEST_FRACTION};
pub use dataset::{load, load_test, Dataset, Normalisation, Splits, TestSplit};
pub use source::{resolve, Source, KINDS, SYNTHETIC_NAMES};
pub use task::Task;
