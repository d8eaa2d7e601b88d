//! The named choices of the `[data]` section that the readers take: the task, missing CSV
//! cells, the axis order of image arrays, how images are fitted, CIFAR-100's labels.
//!
//! ```
//! use grownet::data::{ImageFit, TaskChoice};
//! assert_eq!(TaskChoice::default(), TaskChoice::Auto);
//! assert_eq!(toml::Value::try_from(ImageFit::Resize).unwrap().as_str(), Some("resize"));
//! ```
use serde::{Deserialize, Serialize};

/// Whether a dataset of your own is a classification or a regression task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskChoice {
    /// From the target: strings, or integers with at most [`AUTO_MAX_CLASSES`] distinct
    /// values (CSV) or an integer array (NumPy, safetensors) → classification; else regression.
    #[default]
    Auto,
    Classification,
    Regression,
}

/// Integer CSV targets with at most this many distinct values are classes under `task = auto`.
pub const AUTO_MAX_CLASSES: usize = 20;

/// What a missing CSV cell (empty, `NA`, `N/A`, `NaN`, `null`, `?`) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// The file is refused, naming the row and the column.
    #[default]
    Refuse,
    /// A missing feature takes the training split's mean of its column (of a categorical
    /// column: the training frequencies of its categories). A missing target is still refused.
    Impute,
}

/// How the axes of a 4-dimensional image array are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Samples × channels × height × width (PyTorch).
    #[default]
    Nchw,
    /// Samples × height × width × channels (NumPy images, TensorFlow).
    Nhwc,
}

/// How an image of an image folder is brought to `image_size` × `image_size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFit {
    /// The shorter side scaled to the size, then the centre cut out (aspect kept).
    #[default]
    Crop,
    /// Both sides scaled to the size (aspect not kept).
    Resize,
}

/// Which labels of CIFAR-100 are the classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cifar100Label {
    /// The 100 fine classes.
    #[default]
    Fine,
    /// The 20 superclasses.
    Coarse,
}
