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
mod config;
mod dataset;
pub mod formats;
mod own;
mod source;
mod summary;
pub mod synthetic;

pub use batches::{augment_crop_flip, epoch_batches, epoch_rng};
pub use config::{
    Cifar100Label, DataConfig, ImageFit, Layout, Missing, TaskChoice, AUTO_MAX_CLASSES,
    DEFAULT_TEST_FRACTION,
};
pub use dataset::{
    load, load_test, Dataset, Normalisation, Splits, Task, TestSplit, SYNTHETIC_NAMES,
};
pub use source::{resolve, Source, KINDS};
