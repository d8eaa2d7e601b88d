//! Data: file formats (IDX, CIFAR-10), built-in synthetic sets, and the tensors training uses.
//!
//! ```
//! use grownet::data::{load, DataConfig};
//! let cfg = DataConfig { name: "moons".into(), ..DataConfig::default() };
//! let splits = load(&cfg, tch::Device::Cpu).unwrap();
//! assert_eq!(splits.input_shape, vec![2]);
//! assert!(splits.train.len() > 0 && splits.test.len() > 0);
//! ```
mod batches;
mod dataset;
pub mod formats;
pub mod synthetic;

pub use batches::{augment_crop_flip, epoch_batches, epoch_rng};
pub use dataset::{
    load, load_test, DataConfig, Dataset, Normalisation, Splits, Task, TestSplit, SYNTHETIC_NAMES,
};
