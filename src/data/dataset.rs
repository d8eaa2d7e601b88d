//! Turning files or generators into normalised tensors with train / validation / test splits.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::config::DataConfig;
use super::formats::{self, Images};
use super::own;
use super::raw::{first_samples, Builtin, Raw};
use super::source::Source;
use super::synthetic::{self, SyntheticData, Targets};
use super::task::Task;
use crate::error::{Error, Result};

/// Inputs and targets held as tensors on the training device.
#[derive(Debug)]
pub struct Dataset {
    /// Inputs `[n, …]`, float32, normalised.
    pub x: Tensor,
    /// Labels `[n]` (int64) or regression targets `[n, outputs]` (float32).
    pub y: Tensor,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.x.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `index` (an int64 tensor on the data's device).
    pub fn select(&self, index: &Tensor) -> (Tensor, Tensor) {
        (self.x.index_select(0, index), self.y.index_select(0, index))
    }

    /// The first `n` samples (or all of them).
    pub fn head(&self, n: usize) -> Dataset {
        self.slice(0, n)
    }

    /// Samples `start..start + len` (clipped to the dataset), sharing storage.
    pub fn slice(&self, start: usize, len: usize) -> Dataset {
        let start = start.min(self.len());
        let len = len.min(self.len() - start) as i64;
        Dataset {
            x: self.x.narrow(0, start as i64, len),
            y: self.y.narrow(0, start as i64, len),
        }
    }
}

/// Everything a run needs from its data.
#[derive(Debug)]
pub struct Splits {
    pub name: String,
    pub train: Dataset,
    pub val: Option<Dataset>,
    pub test: Dataset,
    pub task: Task,
    /// Shape of one input sample.
    pub input_shape: Vec<i64>,
    /// Whether random crop + flip augmentation applies (colour images).
    pub augmentable: bool,
    /// Training-set mean and standard deviation (broadcastable over raw samples).
    pub input_mean: Tensor,
    pub input_std: Tensor,
    flatten: bool,
    /// Class names, label `i` being `class_names[i]`, when the dataset has them.
    pub class_names: Option<Vec<String>>,
    /// What was read, for the summary (files of your own).
    pub description: Option<String>,
    /// Regression targets of files of your own are standardised: the training split's mean
    /// and standard deviation per output (losses are in these units).
    pub target_scale: Option<(Vec<f32>, Vec<f32>)>,
    /// Seconds [`load`] took (reading, decoding, splitting, normalising).
    pub load_seconds: f64,
}

impl Splits {
    /// How the inputs were normalised (what a checkpoint keeps, for [`load_test`]).
    pub fn normalisation(&self) -> Result<Normalisation> {
        let values = |t: &Tensor| Vec::<f32>::try_from(&t.to_kind(Kind::Float).flatten(0, -1));
        Ok(Normalisation {
            shape: self.input_mean.size(),
            mean: values(&self.input_mean)?,
            std: values(&self.input_std)?,
        })
    }

    /// Normalises raw inputs (same layout as the files or generators give them) the way the
    /// splits were, e.g. to evaluate a trained network on a grid of points.
    pub fn normalise(&self, raw: &Tensor) -> Tensor {
        let x = (raw.to_kind(Kind::Float) - &self.input_mean) / &self.input_std;
        let x = if self.flatten { x.flatten(1, -1) } else { x };
        x.to_device(self.train.x.device())
    }
}

/// How inputs are normalised: the training set's mean and standard deviation, per channel of
/// images (`shape` `[1, C, 1, 1]`) or per feature of vectors (`[1, D]`). Checkpoints keep it,
/// so that evaluation reads the test files only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub shape: Vec<i64>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// A test split on its own, for evaluation.
#[derive(Debug)]
pub struct TestSplit {
    pub name: String,
    pub test: Dataset,
    pub task: Task,
    /// Shape of one input sample.
    pub input_shape: Vec<i64>,
}

impl From<Splits> for TestSplit {
    fn from(s: Splits) -> Self {
        TestSplit {
            name: s.name,
            test: s.test,
            task: s.task,
            input_shape: s.input_shape,
        }
    }
}

/// The test split of the dataset in `cfg`, normalised by `norm` (a checkpoint's): file
/// datasets read their test files only; the built-in ones are generated as for training.
/// `classes` is the number of classes of datasets that do not define it (other IDX folders:
/// the network's outputs); a test label beyond it is an error.
pub fn load_test(
    cfg: &DataConfig,
    norm: &Normalisation,
    classes: i64,
    device: Device,
) -> Result<TestSplit> {
    cfg.validate()?;
    match Source::parse(&cfg.name)? {
        Source::Synthetic => return Ok(load(cfg, device)?.into()),
        Source::Builtin => {}
        _ => return load_test_reading_all(cfg, norm, device),
    }
    let (images, labels, known) = formats::load_test_split(cfg.data_dir.as_deref(), &cfg.name)?;
    let classes = known.map_or(classes, |k| k as i64);
    if let Some(i) = labels.iter().position(|&l| i64::from(l) >= classes) {
        return Err(Error::Config(format!(
            "{}: test label {} at index {i} is not one of the network's {classes} classes",
            cfg.name, labels[i]
        )));
    }
    if images.n == 0 {
        return Err(Error::Config(format!(
            "{}: the test split holds no samples: there is nothing to evaluate on",
            cfg.name
        )));
    }
    let c = images.channels as i64;
    let fits = norm.shape == [1, c, 1, 1]
        && norm.mean.len() == images.channels
        && norm.std.len() == images.channels;
    if !fits {
        return Err(Error::Config(format!(
            "{}: images of {c} channel(s), but the network was trained on inputs normalised \
             as {:?}: these are not the data it was trained on (check --data-dir)",
            cfg.name, norm.shape
        )));
    }
    let mean = Tensor::from_slice(&norm.mean).view(norm.shape.as_slice());
    let std = Tensor::from_slice(&norm.std).view(norm.shape.as_slice());
    let (x, y) = first_samples(&images, &labels, cfg.test_limit);
    let colour = images.channels == 3;
    let x = (x - mean) / std;
    let (x, input_shape) = if colour {
        (x, x_shape(&images))
    } else {
        (x.flatten(1, -1), vec![x_shape(&images).iter().product()])
    };
    Ok(TestSplit {
        name: cfg.name.clone(),
        test: Dataset {
            x: x.to_device(device),
            y: y.to_device(device),
        },
        task: Task::Classification { classes },
        input_shape,
    })
}

/// [`load_test`] of datasets whose test split needs the training files too (a test split
/// drawn from them, categories and classes of a CSV file's training rows): everything is
/// read again, and the normalisation must be the checkpoint's (else the files changed).
fn load_test_reading_all(
    cfg: &DataConfig,
    norm: &Normalisation,
    device: Device,
) -> Result<TestSplit> {
    let splits = load(cfg, device)?;
    let now = splits.normalisation()?;
    let close = |a: &[f32], b: &[f32]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
    };
    if now.shape != norm.shape || !close(&now.mean, &norm.mean) || !close(&now.std, &norm.std) {
        return Err(Error::Config(format!(
            "{}: the training data's statistics differ from the checkpoint's: the files changed \
             since the network was trained (or --data-dir points elsewhere)",
            cfg.name
        )));
    }
    Ok(splits.into())
}

fn x_shape(images: &Images) -> Vec<i64> {
    vec![
        images.channels as i64,
        images.height as i64,
        images.width as i64,
    ]
}

/// Loads (or generates) the dataset named in `cfg`, normalised with training-set statistics.
pub fn load(cfg: &DataConfig, device: Device) -> Result<Splits> {
    let started = std::time::Instant::now();
    cfg.validate()?;
    let raw = match Source::parse(&cfg.name)? {
        Source::Synthetic => Raw::from_builtin(synthetic_tensors(cfg)?),
        Source::Builtin => Raw::from_builtin(file_tensors(cfg)?),
        source => own::load_raw(&source, cfg)?,
    };
    let ((mut train_x, mut train_y), (mut test_x, mut test_y)) = raw.split_test(cfg)?;
    if test_x.size()[0] == 0 {
        return Err(Error::Config(format!(
            "{}: the test split holds no samples: there is nothing to evaluate on",
            cfg.name
        )));
    }
    if let Some(limit) = cfg.test_limit {
        let n = (limit as i64).min(test_x.size()[0]);
        test_x = test_x.narrow(0, 0, n);
        test_y = test_y.narrow(0, 0, n);
    }
    if let Some(limit) = cfg.limit {
        let n = (limit as i64).min(train_x.size()[0]);
        train_x = train_x.narrow(0, 0, n);
        train_y = train_y.narrow(0, 0, n);
    }
    let n = train_x.size()[0];
    let n_val = (n as f64 * cfg.val_fraction).round() as i64;
    if n - n_val < 1 {
        return Err(Error::Config(format!(
            "{}: no training samples left ({n} loaded, {n_val} held out for validation)",
            cfg.name
        )));
    }
    let mut perm: Vec<i64> = (0..n).collect();
    if n_val > 0 {
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed ^ SPLIT_SALT));
    }
    let train_idx = Tensor::from_slice(&perm[n_val as usize..]);
    let val_idx = Tensor::from_slice(&perm[..n_val as usize]);
    if raw.impute {
        let fill = column_means(&train_x.index_select(0, &train_idx));
        train_x = impute(&train_x, &fill);
        test_x = impute(&test_x, &fill);
    }
    let target_scale = if raw.standardise_target {
        let (mean, std) = channel_stats(&train_y.index_select(0, &train_idx));
        train_y = (&train_y - &mean) / &std;
        test_y = (&test_y - &mean) / &std;
        Some((to_vec(&mean)?, to_vec(&std)?))
    } else {
        None
    };
    let (mean, std) = channel_stats(&train_x.index_select(0, &train_idx));
    // Grey-scale images are normalised per channel as images, then flattened into vectors
    // (per-pixel statistics would blow up pixels that are almost always 0).
    let augmentable = raw.augmentable;
    let flatten = !augmentable && train_x.dim() == 4;
    let normalise = |x: &Tensor| {
        let x = (x - &mean) / &std;
        let x = if flatten { x.flatten(1, -1) } else { x };
        x.to_device(device)
    };
    let input_shape = if flatten {
        vec![raw.input_shape.iter().product()]
    } else {
        raw.input_shape
    };
    let val = (n_val > 0).then(|| Dataset {
        x: normalise(&train_x.index_select(0, &val_idx)),
        y: train_y.index_select(0, &val_idx).to_device(device),
    });
    Ok(Splits {
        name: cfg.name.clone(),
        train: Dataset {
            x: normalise(&train_x.index_select(0, &train_idx)),
            y: train_y.index_select(0, &train_idx).to_device(device),
        },
        val,
        test: Dataset {
            x: normalise(&test_x),
            y: test_y.to_device(device),
        },
        task: raw.task,
        input_shape,
        augmentable,
        input_mean: mean,
        input_std: std,
        flatten,
        class_names: raw.class_names,
        description: raw.description,
        target_scale,
        load_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Mixed into the split seed so that the split differs from the generators' draws.
const SPLIT_SALT: u64 = 0x5eed_5911;
fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(
        &t.to_kind(Kind::Float).flatten(0, -1),
    )?)
}

/// Per-column means of the values that are not NaN (0 for a column without any).
fn column_means(x: &Tensor) -> Tensor {
    let present = x.isnan().logical_not();
    let count = present.sum_dim_intlist(0, true, Kind::Float).clamp_min(1.0);
    x.nan_to_num(0.0, None::<f64>, None::<f64>)
        .sum_dim_intlist(0, true, Kind::Float)
        / count
}

/// `x` with every NaN replaced by its column's `fill`.
fn impute(x: &Tensor, fill: &Tensor) -> Tensor {
    x.where_self(&x.isnan().logical_not(), &fill.expand_as(x))
}

/// Per-channel (images) or per-feature (vectors) mean and standard deviation, broadcastable.
fn channel_stats(x: &Tensor) -> (Tensor, Tensor) {
    let dims: Vec<i64> = if x.dim() == 4 { vec![0, 2, 3] } else { vec![0] };
    let mean = x.mean_dim(dims.as_slice(), true, Kind::Float);
    let std = x.std_dim(dims.as_slice(), false, true).clamp_min(1e-6);
    (mean, std)
}

fn synthetic_tensors(cfg: &DataConfig) -> Result<Builtin> {
    let n = cfg.synthetic_train + cfg.synthetic_test;
    if cfg.synthetic_train == 0 || cfg.synthetic_test == 0 {
        return Err(Error::Config(
            "synthetic datasets need at least one training and one test sample".into(),
        ));
    }
    let noise = cfg.noise as f32;
    let data: SyntheticData = match cfg.name.as_str() {
        "spirals" => synthetic::spirals(n, 3, noise, cfg.seed),
        "moons" => synthetic::two_moons(n, noise, cfg.seed),
        "regression" => synthetic::regression_1d(n, noise, cfg.seed),
        "patterns" => synthetic::patterns(n, noise, cfg.seed),
        _ => synthetic::teacher(
            n,
            cfg.teacher_inputs,
            cfg.teacher_width,
            cfg.teacher_classes,
            cfg.seed,
        ),
    };
    let dim = data.dim as i64;
    let x = Tensor::from_slice(&data.features).view([n as i64, dim]);
    let (y, task) = match &data.targets {
        Targets::Classes {
            labels,
            num_classes,
        } => {
            let l: Vec<i64> = labels.iter().map(|&v| v as i64).collect();
            (
                Tensor::from_slice(&l),
                Task::Classification {
                    classes: *num_classes as i64,
                },
            )
        }
        Targets::Values { values, dim } => (
            Tensor::from_slice(values).view([n as i64, *dim as i64]),
            Task::Regression {
                outputs: *dim as i64,
            },
        ),
    };
    let k = cfg.synthetic_train as i64;
    let m = cfg.synthetic_test as i64;
    // Images (patterns) keep their shape and are treated as colour images (augmentable).
    let shape = if cfg.name == "patterns" {
        let side = synthetic::PATTERN_SIDE as i64;
        vec![3, side, side]
    } else {
        vec![dim]
    };
    let image = shape.len() == 3;
    let mut full = vec![n as i64];
    full.extend(&shape);
    let x = x.view(full.as_slice());
    Ok((
        x.narrow(0, 0, k),
        y.narrow(0, 0, k),
        x.narrow(0, k, m),
        y.narrow(0, k, m),
        task,
        shape,
        image,
    ))
}

fn file_tensors(cfg: &DataConfig) -> Result<Builtin> {
    let split = formats::load_image_dataset(cfg.data_dir.as_deref(), &cfg.name)?;
    // `load` takes the first `limit` (`test_limit`) images: only those are converted.
    let (train_x, train_y) = first_samples(&split.train.0, &split.train.1, cfg.limit);
    let (test_x, test_y) = first_samples(&split.test.0, &split.test.1, cfg.test_limit);
    let input_shape = train_x.size()[1..].to_vec();
    let colour = split.train.0.channels == 3;
    Ok((
        train_x,
        train_y,
        test_x,
        test_y,
        Task::Classification {
            classes: split.num_classes as i64,
        },
        input_shape,
        colour,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_splits_are_normalised_and_reproducible() {
        let cfg = DataConfig {
            name: "teacher".into(),
            val_fraction: 0.2,
            ..DataConfig::default()
        };
        let a = load(&cfg, Device::Cpu).unwrap();
        let b = load(&cfg, Device::Cpu).unwrap();
        assert!(a.train.x.equal(&b.train.x));
        assert_eq!(a.train.len() + a.val.as_ref().unwrap().len(), 4000);
        assert_eq!(a.test.len(), 1000);
        let mean = a.train.x.mean_dim(0, false, Kind::Float).abs().max();
        assert!(mean.double_value(&[]) < 1e-4);
        assert_eq!(a.task, Task::Classification { classes: 4 });
    }

    #[test]
    fn the_test_split_alone_equals_the_loaded_one() {
        use crate::data::formats::test_util::{cifar_batch, idx_images, idx_labels, write};
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("mnist");
        let labels: Vec<u8> = (0..12).map(|i| i % 10).collect();
        write(&d, "train-images-idx3-ubyte", &idx_images(12, 5, 4));
        write(&d, "train-labels-idx1-ubyte", &idx_labels(&labels));
        write(&d, "t10k-images-idx3-ubyte", &idx_images(7, 5, 4));
        write(&d, "t10k-labels-idx1-ubyte", &idx_labels(&labels[..7]));
        let c = root.path().join("cifar-10");
        for i in 1..=5 {
            write(
                &c,
                &format!("data_batch_{i}.bin"),
                &cifar_batch(&[i, 9 - i]),
            );
        }
        write(&c, "test_batch.bin", &cifar_batch(&[3, 8, 8]));
        for name in ["mnist", "cifar-10"] {
            let cfg = DataConfig {
                name: name.into(),
                data_dir: Some(root.path().to_path_buf()),
                test_limit: Some(5),
                ..DataConfig::default()
            };
            let full = load(&cfg, Device::Cpu).unwrap();
            let norm = full.normalisation().unwrap();
            let alone = load_test(&cfg, &norm, full.task.outputs(), Device::Cpu).unwrap();
            assert!(alone.test.x.equal(&full.test.x), "{name}");
            assert!(alone.test.y.equal(&full.test.y), "{name}");
            assert_eq!(
                (alone.task, &alone.input_shape),
                (full.task, &full.input_shape)
            );
        }
    }

    #[test]
    fn regression_has_real_targets() {
        let cfg = DataConfig {
            name: "regression".into(),
            ..DataConfig::default()
        };
        let s = load(&cfg, Device::Cpu).unwrap();
        assert_eq!(s.task, Task::Regression { outputs: 1 });
        assert_eq!(s.train.y.size(), vec![4000, 1]);
    }

    #[test]
    fn bad_fraction_and_missing_files_are_errors() {
        let cfg = DataConfig {
            val_fraction: 1.5,
            ..DataConfig::default()
        };
        let e = load(&cfg, Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("data.val_fraction = 1.5"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let cfg = DataConfig {
            name: "mnist".into(),
            data_dir: Some(dir.path().to_path_buf()),
            ..DataConfig::default()
        };
        let msg = load(&cfg, Device::Cpu).unwrap_err().to_string();
        assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
        let cfg = DataConfig {
            limit: Some(0),
            ..DataConfig::default()
        };
        let msg = load(&cfg, Device::Cpu).unwrap_err().to_string();
        assert!(msg.contains("data.limit = 0: expected at least 1"), "{msg}");
        let cfg = DataConfig {
            test_limit: Some(0),
            ..DataConfig::default()
        };
        let msg = load(&cfg, Device::Cpu).unwrap_err().to_string();
        assert!(
            msg.contains("data.test_limit = 0: expected at least 1"),
            "{msg}"
        );
        // A test limit takes that many samples, not one more or fewer.
        let cfg = DataConfig {
            test_limit: Some(7),
            ..DataConfig::default()
        };
        assert_eq!(load(&cfg, Device::Cpu).unwrap().test.len(), 7);
    }
}
