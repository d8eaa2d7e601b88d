//! The `[data]` section of a run's config: which data to load and how to split and encode it.
//!
//! ```
//! use grownet::data::{DataConfig, Missing, TaskChoice};
//! let cfg: DataConfig = toml::from_str(
//!     "name = \"csv:iris.csv\"\ntarget = \"species\"\nmissing = \"impute\"",
//! )
//! .unwrap();
//! assert_eq!((cfg.task, cfg.missing), (TaskChoice::Auto, Missing::Impute));
//! assert!(cfg.validate().is_ok());
//! ```
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::choices::{Cifar100Label, ImageFit, Layout, Missing, TaskChoice};
use super::source::{Source, SYNTHETIC_NAMES};
use crate::error::{Error, Result};

/// Which data to load and how to split it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataConfig {
    /// `spirals`, `moons`, `regression`, `teacher`, `patterns` (small colour images), `mnist`,
    /// `cifar-10`, `cifar-100`, any IDX folder name, or a file of your own as `KIND:PATH`:
    /// `csv:`, `tsv:`, `npy:X.npy,Y.npy`, `npz:`, `safetensors:`, `images:` (see
    /// [`crate::data::Source`]).
    pub name: String,
    /// Directory holding `<name>/…` files and relative `KIND:PATH`s (else `GROWNET_DATA`).
    pub data_dir: Option<PathBuf>,
    /// Fraction of the training set held out for validation.
    pub val_fraction: f64,
    /// Synthetic sets: number of training and test samples, noise level.
    pub synthetic_train: usize,
    pub synthetic_test: usize,
    pub noise: f64,
    /// Teacher task: input dimension, teacher width and number of classes.
    pub teacher_inputs: usize,
    pub teacher_width: usize,
    pub teacher_classes: usize,
    /// Only use the first `limit` training samples (quick experiments).
    pub limit: Option<usize>,
    /// Only evaluate on the first `test_limit` test samples (reduced CPU protocols; the
    /// report says so).
    pub test_limit: Option<usize>,
    /// Seed of the generators and of the validation split.
    pub seed: u64,
    /// CSV: the column to predict.
    pub target: Option<String>,
    /// Files of your own: classification, regression or auto (from the target).
    pub task: TaskChoice,
    /// Files of your own: the test set in the same format (a CSV file, an npz or safetensors
    /// file, `X.npy,Y.npy`, an image folder). Without it the test split is `test_fraction` of
    /// the file (or the `x_test`/`y_test` arrays, the `train/` and `test/` image folders).
    pub test_file: Option<String>,
    /// Files of your own without a test set: the fraction drawn (with `seed`) for testing
    /// (unset: 0.2).
    pub test_fraction: Option<f64>,
    /// CSV: what a missing cell does.
    pub missing: Missing,
    /// CSV: most distinct values a non-numeric feature column may have (one column per value).
    pub max_categories: usize,
    /// CSV: columns left out (identifiers, leaks).
    pub ignore_columns: Vec<String>,
    /// npz and safetensors: names of the inputs and the targets.
    pub x_key: String,
    pub y_key: String,
    /// Arrays of 4 dimensions: the axis order of images.
    pub layout: Layout,
    /// Image folders: the side of the square images (pixels).
    pub image_size: usize,
    /// Image folders: centre crop or resize.
    pub image_fit: ImageFit,
    /// CIFAR-100: fine (100 classes) or coarse (20) labels.
    pub label: Cifar100Label,
}

/// Default fraction of a file without a test set that is drawn for testing.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            name: "spirals".into(),
            data_dir: None,
            val_fraction: 0.0,
            synthetic_train: 4000,
            synthetic_test: 1000,
            noise: 0.05,
            teacher_inputs: 20,
            teacher_width: 16,
            teacher_classes: 4,
            limit: None,
            test_limit: None,
            seed: 0,
            target: None,
            task: TaskChoice::Auto,
            test_file: None,
            test_fraction: None,
            missing: Missing::Refuse,
            max_categories: 32,
            ignore_columns: Vec::new(),
            x_key: "x".into(),
            y_key: "y".into(),
            layout: Layout::Nchw,
            image_size: 32,
            image_fit: ImageFit::Crop,
            label: Cifar100Label::Fine,
        }
    }
}

impl DataConfig {
    /// Checks every value of the section (keys as in config.toml).
    pub fn validate(&self) -> Result<()> {
        use crate::error::check;
        if self.name.trim().is_empty() {
            return Err(Error::invalid(
                "data.name",
                &self.name,
                format!(
                    "a dataset name ({}, a folder of IDX files, or KIND:PATH with KIND one of {})",
                    SYNTHETIC_NAMES.join(", "),
                    super::source::KINDS.join(", ")
                ),
            ));
        }
        let source = Source::parse(&self.name)?;
        check::in_range("data.val_fraction", self.val_fraction, 0.0, 1.0, true)?;
        check::non_negative("data.noise", self.noise)?;
        check::opt_at_least("data.limit", self.limit, 1, "every training sample")?;
        check::opt_at_least("data.test_limit", self.test_limit, 1, "every test sample")?;
        if let Some(f) = self.test_fraction {
            check::in_range("data.test_fraction", f, 0.0, 1.0, true)?;
            check::in_open_unit(
                "data.test_fraction",
                f,
                " (unset it to use the dataset's test set)",
            )?;
        }
        check::at_least("data.max_categories", self.max_categories, 1)?;
        check::at_least("data.image_size", self.image_size, 1)?;
        if self.image_size > 1024 {
            return Err(Error::invalid(
                "data.image_size",
                self.image_size,
                "at most 1024 pixels",
            ));
        }
        if SYNTHETIC_NAMES.contains(&self.name.as_str()) {
            check::at_least("data.synthetic_train", self.synthetic_train, 1)?;
            check::at_least("data.synthetic_test", self.synthetic_test, 1)?;
        }
        if self.name == "teacher" {
            check::at_least("data.teacher_inputs", self.teacher_inputs, 1)?;
            check::at_least("data.teacher_width", self.teacher_width, 1)?;
            check::at_least("data.teacher_classes", self.teacher_classes, 2)?;
        }
        self.check_own_files_keys(&source)
    }

    /// Keys that only files of your own read must not be set for other datasets (they would
    /// be silently ignored), and CSV needs its target.
    fn check_own_files_keys(&self, source: &Source) -> Result<()> {
        let own = source.is_own_files();
        let set = [
            ("data.test_file", self.test_file.is_some()),
            ("data.test_fraction", self.test_fraction.is_some()),
            ("data.target", self.target.is_some()),
        ];
        if let (false, Some((key, _))) = (own, set.iter().find(|(_, s)| *s)) {
            return Err(Error::Config(format!(
                "{key} applies to files of your own (csv:, npy:, npz:, safetensors:, images:), \
                 not to dataset '{}'",
                self.name
            )));
        }
        if matches!(source, Source::Csv { .. }) && self.target.is_none() {
            return Err(Error::Config(format!(
                "{}: a CSV dataset needs the column to predict: --target COLUMN (data.target)",
                self.name
            )));
        }
        if self.test_file.is_some() && self.test_fraction.is_some() {
            return Err(Error::Config(
                "data.test_file and data.test_fraction both set: the test set comes from one \
                 of them"
                    .into(),
            ));
        }
        Ok(())
    }
}
