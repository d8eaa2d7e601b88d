//! Files of your own (`csv:`, `npy:`, `npz:`, `safetensors:`, `images:`) and CIFAR-100, read
//! into the tensors that [`crate::data::load`] splits and normalises.
//!
//! Arrays: `x` is `[N]` (one feature), `[N, D]` (features), `[N, H, W]` (grey images,
//! flattened after per-image-channel normalisation as MNIST), `[N, C, H, W]` or, with
//! `data.layout = "nhwc"`, `[N, H, W, C]` (images; 3 channels are colour images, trained as
//! images with crop + flip augmentation), or more dimensions (flattened into features). `y`
//! is `[N]` or `[N, 1]` class indices (0 … K−1) for a classification, `[N]` or `[N, K]`
//! values for a regression; `data.task = "auto"` takes an integer `y` as classes and a float
//! `y` as values. Every input must be finite.
use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use super::choices::{ImageFit, Layout, Missing, TaskChoice};
use super::config::DataConfig;
use super::formats::csv::{read_table, CsvOptions, Table, TableTarget};
use super::formats::{self, cifar100, image_folder, npy, safetensors};
use super::raw::{images_tensor, labels_tensor, Raw};
use super::source::{resolve, Source};
use super::task::Task;
use crate::error::{DataError, Error, Result};

/// Reads a dataset that is not built in.
pub(crate) fn load_raw(source: &Source, cfg: &DataConfig) -> Result<Raw> {
    let dir = formats::data_dir(cfg.data_dir.as_deref());
    let dir = dir.as_deref();
    match source {
        Source::Csv { path, delimiter } => csv_raw(&resolve(path, dir)?, *delimiter, cfg, dir),
        Source::Npy { x, y } => npy_raw(&resolve(x, dir)?, &resolve(y, dir)?, cfg, dir),
        Source::Npz(path) => archive_raw(&resolve(path, dir)?, true, cfg, dir),
        Source::Safetensors(path) => archive_raw(&resolve(path, dir)?, false, cfg, dir),
        Source::Images(path) => images_raw(&resolve(path, dir)?, cfg, dir),
        Source::Cifar100 => cifar100_raw(cfg, dir),
        Source::Synthetic | Source::Builtin => Err(Error::Config(format!(
            "{}: a built-in dataset, not a file of your own",
            cfg.name
        ))),
    }
}

/// The test file, resolved like the dataset's path.
fn test_file(cfg: &DataConfig, dir: Option<&Path>) -> Result<Option<PathBuf>> {
    cfg.test_file
        .as_ref()
        .map(|f| resolve(Path::new(f.trim()), dir).map_err(Error::from))
        .transpose()
}

fn csv_raw(path: &Path, delimiter: u8, cfg: &DataConfig, dir: Option<&Path>) -> Result<Raw> {
    let opts = CsvOptions {
        delimiter,
        target: cfg.target.clone().unwrap_or_default(),
        task: cfg.task,
        missing: cfg.missing,
        max_categories: cfg.max_categories,
        ignore: cfg.ignore_columns.clone(),
    };
    let train = read_table(path, &opts, None)?;
    if train.features.is_empty() {
        let detail = "no feature column besides the target (and data.ignore_columns)";
        return Err(DataError::malformed(path, "header", detail).into());
    }
    let test = match test_file(cfg, dir)? {
        Some(p) => Some(read_table(&p, &opts, Some(&train.schema))?),
        None => None,
    };
    let tensors = |t: &Table| {
        let x = Tensor::from_slice(&t.x).view([t.rows as i64, t.features.len() as i64]);
        let y = match &t.target {
            TableTarget::Classes { labels, .. } => Tensor::from_slice(labels),
            TableTarget::Values(v) => Tensor::from_slice(v).view([t.rows as i64, 1]),
        };
        (x, y)
    };
    let (task, class_names) = match &train.target {
        TableTarget::Classes { names, .. } => (
            Task::Classification {
                classes: names.len() as i64,
            },
            Some(names.clone()),
        ),
        TableTarget::Values(_) => (Task::Regression { outputs: 1 }, None),
    };
    Ok(Raw {
        train: tensors(&train),
        test: test.as_ref().map(tensors),
        task,
        input_shape: vec![train.features.len() as i64],
        augmentable: false,
        class_names,
        impute: cfg.missing == Missing::Impute,
        standardise_target: matches!(task, Task::Regression { .. }),
        description: Some(train.describe()),
    })
}

fn npy_raw(x: &Path, y: &Path, cfg: &DataConfig, dir: Option<&Path>) -> Result<Raw> {
    let train = (npy::read_npy(x)?, npy::read_npy(y)?);
    let test = match &cfg.test_file {
        None => None,
        Some(text) => {
            let Some((tx, ty)) = text.split_once(',') else {
                return Err(Error::invalid(
                    "data.test_file",
                    text,
                    "two .npy files for npy datasets: X_TEST.npy,Y_TEST.npy",
                ));
            };
            let tx = resolve(Path::new(tx.trim()), dir)?;
            let ty = resolve(Path::new(ty.trim()), dir)?;
            Some(((npy::read_npy(&tx)?, npy::read_npy(&ty)?), [tx, ty]))
        }
    };
    arrays_raw(train, [x.to_path_buf(), y.to_path_buf()], test, cfg)
}

#[allow(clippy::type_complexity)]
fn read_archive(
    path: &Path,
    npz: bool,
    names: &[&str],
) -> Result<(Vec<Option<Tensor>>, Vec<String>)> {
    Ok(if npz {
        npy::read_npz(path, names)?
    } else {
        safetensors::read_safetensors(path, names)?
    })
}

/// `x`/`y` (or `x_train`/`y_train`) of an npz or safetensors file, and its test arrays:
/// those of `data.test_file`, else `x_test`/`y_test` when present.
fn archive_raw(path: &Path, npz: bool, cfg: &DataConfig, dir: Option<&Path>) -> Result<Raw> {
    let (xk, yk) = (cfg.x_key.as_str(), cfg.y_key.as_str());
    let names = [
        xk.to_string(),
        yk.to_string(),
        format!("{xk}_train"),
        format!("{yk}_train"),
        format!("{xk}_test"),
        format!("{yk}_test"),
    ];
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut arrays, held) = read_archive(path, npz, &refs)?;
    let mut take = |i: usize| arrays[i].take();
    let train =
        match (take(0), take(1), take(2), take(3)) {
            (Some(x), Some(y), _, _) | (_, _, Some(x), Some(y)) => (x, y),
            _ => {
                return Err(DataError::malformed(
                    path,
                    "arrays",
                    format!(
                    "no '{xk}' and '{yk}' (nor '{xk}_train' and '{yk}_train'): it holds {}; name \
                     them with data.x_key and data.y_key",
                    held.iter().map(|h| format!("'{h}'")).collect::<Vec<_>>().join(", ")
                ),
                )
                .into())
            }
        };
    let files = [path.to_path_buf(), path.to_path_buf()];
    let test = match (test_file(cfg, dir)?, take(4), take(5)) {
        (Some(p), _, _) => {
            let (mut t, held) = read_archive(&p, npz, &refs[..2])?;
            let (Some(x), Some(y)) = (t[0].take(), t[1].take()) else {
                return Err(DataError::malformed(
                    &p,
                    "arrays",
                    format!("no '{xk}' and '{yk}': it holds {}", held.join(", ")),
                )
                .into());
            };
            Some(((x, y), [p.clone(), p]))
        }
        (None, Some(x), Some(y)) => Some(((x, y), files.clone())),
        _ => None,
    };
    arrays_raw(train, files, test, cfg)
}

/// Inputs and targets of arrays checked and shaped (see the module's documentation).
#[allow(clippy::type_complexity)]
fn arrays_raw(
    train: (Tensor, Tensor),
    files: [PathBuf; 2],
    test: Option<((Tensor, Tensor), [PathBuf; 2])>,
    cfg: &DataConfig,
) -> Result<Raw> {
    let (x, shape, colour) = shape_inputs(train.0, &files[0], cfg.layout)?;
    let classify = match cfg.task {
        TaskChoice::Auto => train.1.kind() == Kind::Int64,
        choice => choice == TaskChoice::Classification,
    };
    let y = targets(train.1, &files[1], classify, None)?;
    check_count(&x, &y, &files)?;
    let task = if classify {
        let classes = y.max().int64_value(&[]) + 1;
        if classes < 2 {
            return Err(DataError::malformed(
                &files[1],
                "targets",
                "a single class: nothing to classify",
            )
            .into());
        }
        Task::Classification { classes }
    } else {
        Task::Regression {
            outputs: y.size()[1],
        }
    };
    let test = match test {
        None => None,
        Some(((tx, ty), tfiles)) => {
            let (tx, tshape, _) = shape_inputs(tx, &tfiles[0], cfg.layout)?;
            if tshape != shape {
                return Err(DataError::malformed(
                    &tfiles[0],
                    "inputs",
                    format!(
                        "test samples of shape {tshape:?}, training samples of shape {shape:?}"
                    ),
                )
                .into());
            }
            let ty = targets(ty, &tfiles[1], classify, Some(task))?;
            check_count(&tx, &ty, &tfiles)?;
            Some((tx, ty))
        }
    };
    Ok(Raw {
        description: Some(format!(
            "inputs {shape:?} from {} array(s)",
            if colour { "colour image" } else { "numeric" }
        )),
        train: (x, y),
        test,
        task,
        input_shape: shape,
        augmentable: colour,
        class_names: None,
        impute: false,
        standardise_target: !classify,
    })
}

/// The inputs as float `[N, D]` or `[N, C, H, W]`, the shape of a sample, and whether they
/// are colour images.
fn shape_inputs(x: Tensor, path: &Path, layout: Layout) -> Result<(Tensor, Vec<i64>, bool)> {
    let x = x.to_kind(Kind::Float);
    let x = match (x.dim(), layout) {
        (1, _) => x.unsqueeze(1),
        (3, _) => x.unsqueeze(1),
        (4, Layout::Nhwc) => x.permute([0, 3, 1, 2]).contiguous(),
        (2, _) | (4, _) => x,
        _ => x.flatten(1, -1),
    };
    if x.size()[0] == 0 || x.size()[1..].contains(&0) {
        let detail = format!(
            "shape {:?}: no samples, or samples without values",
            x.size()
        );
        return Err(DataError::malformed(path, "inputs", detail).into());
    }
    let bad = x.isfinite().logical_not().flatten(1, -1).any_dim(1, false);
    if bad.any().int64_value(&[]) != 0 {
        let i = bad.nonzero().int64_value(&[0, 0]);
        return Err(DataError::malformed(
            path,
            "inputs",
            format!("sample {i} holds a NaN or infinite value"),
        )
        .into());
    }
    let shape = x.size()[1..].to_vec();
    let colour = shape.len() == 3 && shape[0] == 3;
    Ok((x, shape, colour))
}

/// Class indices `[N]` (int64, checked against `task`'s classes when given) or values
/// `[N, K]` (float).
fn targets(y: Tensor, path: &Path, classify: bool, task: Option<Task>) -> Result<Tensor> {
    if y.dim() == 0 || y.numel() == 0 {
        let detail = format!("shape {:?}: no targets", y.size());
        return Err(DataError::malformed(path, "targets", detail).into());
    }
    if !classify {
        let y = y.to_kind(Kind::Float);
        let y = if y.dim() == 1 {
            y.unsqueeze(1)
        } else {
            y.flatten(1, -1)
        };
        if y.isfinite().logical_not().any().int64_value(&[]) != 0 {
            return Err(DataError::malformed(path, "targets", "a NaN or infinite value").into());
        }
        return Ok(y);
    }
    let y = if y.dim() == 2 && y.size()[1] == 1 {
        y.squeeze_dim(1)
    } else {
        y
    };
    if y.dim() != 1 {
        return Err(DataError::malformed(
            path,
            "targets",
            format!("shape {:?}: class indices are [N] or [N, 1]", y.size()),
        )
        .into());
    }
    if y.is_floating_point()
        && (y.frac().abs().max().double_value(&[]) > 0.0 || y.isnan().any().int64_value(&[]) != 0)
    {
        return Err(DataError::malformed(path, "targets", "values that are not whole numbers cannot be class indices (data.task = \"regression\"?)").into());
    }
    let y = y.to_kind(Kind::Int64);
    let low = y.min().int64_value(&[]);
    if low < 0 {
        let i = y.lt(0).nonzero().int64_value(&[0, 0]);
        return Err(DataError::malformed(
            path,
            format!("target {i}"),
            format!("class {low} is negative: classes are 0, 1, …"),
        )
        .into());
    }
    if let Some(Task::Classification { classes }) = task {
        let high = y.max().int64_value(&[]);
        if high >= classes {
            let i = y.ge(classes).nonzero().int64_value(&[0, 0]);
            return Err(DataError::malformed(
                path,
                format!("target {i}"),
                format!("class {high} is not one of the training set's {classes} classes"),
            )
            .into());
        }
    }
    Ok(y)
}

fn check_count(x: &Tensor, y: &Tensor, files: &[PathBuf; 2]) -> Result<()> {
    let (n, m) = (x.size()[0], y.size()[0]);
    if n != m {
        return Err(DataError::malformed(
            &files[1],
            "targets",
            format!(
                "{m} samples, but the inputs ({}) hold {n}",
                files[0].display()
            ),
        )
        .into());
    }
    Ok(())
}

fn images_raw(root: &Path, cfg: &DataConfig, dir: Option<&Path>) -> Result<Raw> {
    let (size, fit) = (cfg.image_size, cfg.image_fit);
    let split_dirs = (root.join("train"), root.join("test"));
    let own_splits = split_dirs.0.is_dir() && split_dirs.1.is_dir() && cfg.test_file.is_none();
    let train_root = if own_splits {
        split_dirs.0.clone()
    } else {
        root.to_path_buf()
    };
    let train = image_folder::read_image_folder(&train_root, size, fit, None)?;
    let test_root = if own_splits {
        Some(split_dirs.1)
    } else {
        test_file(cfg, dir)?
    };
    let test = match test_root {
        Some(t) => Some(image_folder::read_image_folder(
            &t,
            size,
            fit,
            Some(&train.classes),
        )?),
        None => None,
    };
    let tensors =
        |f: &image_folder::ImageFolder| (images_tensor(&f.images), Tensor::from_slice(&f.labels));
    let cached = train.from_cache && test.as_ref().is_none_or(|t| t.from_cache);
    Ok(Raw {
        train: tensors(&train),
        test: test.as_ref().map(tensors),
        task: Task::Classification {
            classes: train.classes.len() as i64,
        },
        input_shape: vec![3, size as i64, size as i64],
        augmentable: true,
        class_names: Some(train.classes.clone()),
        impute: false,
        standardise_target: false,
        description: Some(format!(
            "RGB images {size}×{size} ({}), {}",
            match fit {
                ImageFit::Crop => "centre-cropped",
                ImageFit::Resize => "resized",
            },
            if cached {
                "read from the cache"
            } else {
                "decoded and cached"
            }
        )),
    })
}

fn cifar100_raw(cfg: &DataConfig, dir: Option<&Path>) -> Result<Raw> {
    let files = cifar100::locate(dir, cfg.label)?;
    let ((train_images, train_labels), (test_images, test_labels), names) =
        cifar100::read(&files, cfg.label)?;
    Ok(Raw {
        train: (images_tensor(&train_images), labels_tensor(&train_labels)),
        test: Some((images_tensor(&test_images), labels_tensor(&test_labels))),
        task: Task::Classification {
            classes: cifar100::classes(cfg.label) as i64,
        },
        input_shape: vec![3, 32, 32],
        augmentable: true,
        class_names: names,
        impute: false,
        standardise_target: false,
        description: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::formats::npy::npy_bytes;
    use crate::data::load;
    use tch::Device;

    fn cfg(name: String) -> DataConfig {
        DataConfig {
            name,
            ..DataConfig::default()
        }
    }

    #[test]
    fn npy_pairs_give_classes_or_values() {
        let dir = tempfile::tempdir().unwrap();
        let x = Tensor::randn([50, 2, 3], (Kind::Float, Device::Cpu));
        std::fs::write(dir.path().join("x.npy"), npy_bytes(&x)).unwrap();
        let labels: Vec<i64> = (0..50).map(|i| i % 3).collect();
        std::fs::write(
            dir.path().join("y.npy"),
            npy_bytes(&Tensor::from_slice(&labels)),
        )
        .unwrap();
        let mut c = cfg("npy:x.npy,y.npy".into());
        c.data_dir = Some(dir.path().to_path_buf());
        let s = load(&c, Device::Cpu).unwrap();
        assert_eq!(s.task, Task::Classification { classes: 3 });
        assert_eq!(
            (s.train.len(), s.test.len(), s.input_shape.clone()),
            (40, 10, vec![6])
        );
        c.task = TaskChoice::Regression;
        let s = load(&c, Device::Cpu).unwrap();
        assert_eq!(s.task, Task::Regression { outputs: 1 });
        // The standardised targets of the training split: mean 0.
        assert!(s.train.y.mean(Kind::Float).double_value(&[]).abs() < 1e-5);
    }

    #[test]
    fn bad_arrays_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let w =
            |name: &str, t: &Tensor| std::fs::write(dir.path().join(name), npy_bytes(t)).unwrap();
        w("x.npy", &Tensor::from_slice(&[1.0f32, f32::NAN, 3.0]));
        w("y.npy", &Tensor::from_slice(&[0i64, 1]));
        w("neg.npy", &Tensor::from_slice(&[0i64, -1, 1]));
        w("x3.npy", &Tensor::from_slice(&[1.0f32, 2.0, 3.0]));
        let mut c = cfg("npy:x.npy,y.npy".into());
        c.data_dir = Some(dir.path().to_path_buf());
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.ends_with("x.npy: inputs: sample 1 holds a NaN or infinite value"),
            "{e}"
        );
        c.name = "npy:x3.npy,y.npy".into();
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("y.npy: targets: 2 samples, but the inputs"),
            "{e}"
        );
        c.name = "npy:x3.npy,neg.npy".into();
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.ends_with("neg.npy: target 1: class -1 is negative: classes are 0, 1, …"),
            "{e}"
        );
        w("empty.npy", &Tensor::from_slice(&[0i64; 0]));
        c.name = "npy:x3.npy,empty.npy".into();
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.ends_with("empty.npy: targets: shape [0]: no targets"),
            "{e}"
        );
        w(
            "wide0.npy",
            &Tensor::zeros([3, 0], (Kind::Float, Device::Cpu)),
        );
        c.name = "npy:wide0.npy,y.npy".into();
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("wide0.npy: inputs: shape [3, 0]"), "{e}");
        std::fs::write(dir.path().join("only.csv"), "y\n0\n1\n").unwrap();
        let mut t = cfg("csv:only.csv".into());
        t.data_dir = Some(dir.path().to_path_buf());
        t.target = Some("y".into());
        let e = load(&t, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "only.csv: header: no feature column besides the target (and data.ignore_columns)"
            ),
            "{e}"
        );
        c.name = "npy:x3.npy,missing.npy".into();
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("missing.npy: cannot read file: not found"),
            "{e}"
        );
    }

    #[test]
    fn archives_with_train_and_test_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let x = Tensor::rand([20, 4, 4, 3], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&(0..20).map(|i| i % 2).collect::<Vec<i64>>());
        let tx = x.narrow(0, 0, 5);
        let ty = Tensor::from_slice(&[0i64, 1, 0, 1, 2]);
        let path = dir.path().join("d.npz");
        Tensor::write_npz(
            &[
                ("x_train", &x),
                ("y_train", &y),
                ("x_test", &tx),
                ("y_test", &ty),
            ],
            &path,
        )
        .unwrap();
        let mut c = cfg(format!("npz:{}", path.display()));
        c.layout = Layout::Nhwc;
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.ends_with("d.npz: target 4: class 2 is not one of the training set's 2 classes"),
            "{e}"
        );
        let ty = Tensor::from_slice(&[0i64, 1, 0, 1, 1]);
        let st = dir.path().join("d.safetensors");
        Tensor::write_safetensors(
            &[
                ("x_train", &x),
                ("y_train", &y),
                ("x_test", &tx),
                ("y_test", &ty),
            ],
            &st,
        )
        .unwrap();
        c.name = format!("safetensors:{}", st.display());
        let s = load(&c, Device::Cpu).unwrap();
        assert_eq!(
            (
                s.train.len(),
                s.test.len(),
                s.input_shape.clone(),
                s.augmentable
            ),
            (20, 5, vec![3, 4, 4], true)
        );
        c.x_key = "inputs".into();
        let e = load(&c, Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("d.safetensors: arrays: no 'inputs' and 'y'"),
            "{e}"
        );
        assert!(e.contains("'x_train'"), "{e}");
    }
}
