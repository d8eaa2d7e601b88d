//! Finding a dataset's files under the data directory and loading its train
//! and test splits.
//!
//! The data directory is the `--data-dir` flag or, without it, the
//! `GROWNET_DATA` environment variable (see [`data_dir`]). Inside it:
//!
//! - `mnist/`, `fashion-mnist/`, `kmnist/`, or any folder named after an IDX
//!   dataset, holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//!   `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each with or
//!   without `.gz` (the variant names `train-images.idx3-ubyte` etc. are
//!   accepted too);
//! - `cifar-10/`, holding `data_batch_1.bin` ... `data_batch_5.bin` and
//!   `test_batch.bin` (each with or without `.gz`) and optionally
//!   `batches.meta.txt`; the folder `cifar-10/cifar-10-batches-bin/` that the
//!   official archive extracts to, and `cifar-10-batches-bin/` directly in the
//!   data directory, are searched too.
//!
//! Files are read in parallel, one thread per file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::thread::ScopedJoinHandle;

use super::cifar::{parse_cifar10_meta, read_cifar10_batch, CIFAR10_CLASSES};
use super::idx::{check_labels, read_idx_images, read_idx_labels_unchecked};
use super::Images;
use crate::error::DataError;

/// The environment variable naming the data directory when `--data-dir` is
/// not given.
pub const DATA_DIR_ENV: &str = "GROWNET_DATA";

/// Dataset names with built-in knowledge (number of classes, class names,
/// download location). Any other name is taken as the folder of an IDX
/// dataset.
pub const KNOWN_DATASETS: &[&str] = &["mnist", "fashion-mnist", "kmnist", "cifar-10"];

/// Standard file names of an IDX dataset: train images, train labels, test
/// images, test labels (each may also end in `.gz`).
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Variant names found in some distributions (a dot before `idx`).
const IDX_FILES_DOTTED: [&str; 4] = [
    "train-images.idx3-ubyte",
    "train-labels.idx1-ubyte",
    "t10k-images.idx3-ubyte",
    "t10k-labels.idx1-ubyte",
];

/// CIFAR-10 training batches (each may also end in `.gz`).
pub const CIFAR10_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// CIFAR-10 test batch (may also end in `.gz`).
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";

/// CIFAR-10 class names file (optional).
pub const CIFAR10_META_FILE: &str = "batches.meta.txt";

const CIFAR10_FOLDER: &str = "cifar-10";
const CIFAR10_ARCHIVE_FOLDER: &str = "cifar-10-batches-bin";

/// A dataset's training and test splits as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSplit {
    /// Training images and their labels.
    pub train: (Images, Vec<u8>),
    /// Test images and their labels.
    pub test: (Images, Vec<u8>),
    /// Number of classes; every label is below it.
    pub num_classes: usize,
    /// Class names, label `i` being `class_names[i]`, when known.
    pub class_names: Option<Vec<String>>,
}

/// The data directory: `flag` (the `--data-dir` option) when given, else the
/// `GROWNET_DATA` environment variable when set and not empty.
pub fn data_dir(flag: Option<&Path>) -> Option<PathBuf> {
    resolve_data_dir(flag, std::env::var_os(DATA_DIR_ENV))
}

fn resolve_data_dir(flag: Option<&Path>, env: Option<OsString>) -> Option<PathBuf> {
    match (flag, env) {
        (Some(flag), _) => Some(flag.to_path_buf()),
        (None, Some(env)) if !env.is_empty() => Some(PathBuf::from(env)),
        _ => None,
    }
}

/// Loads the train and test splits of dataset `name`.
///
/// `dir` is the `--data-dir` flag; when `None`, `GROWNET_DATA` is used (see
/// [`data_dir`]). `name` is `cifar-10` (or `cifar10`) for CIFAR-10; any other
/// name is the folder of an IDX dataset under the data directory. `mnist`,
/// `fashion-mnist` and `kmnist` have 10 classes and labels are checked
/// against that; for other IDX folders the number of classes is the largest
/// training label plus one (at least 2), every class below it must have a
/// training sample ([`DataError::MissingClasses`]) and every test label must
/// be one of them. CIFAR-10 class names come from
/// `batches.meta.txt` when present.
///
/// Errors: [`DataError::MissingFiles`] when no data directory is set or files
/// are missing (the message lists them and says where to get them),
/// [`DataError::CountMismatch`] when images and labels disagree, and any
/// error of the readers.
pub fn load_image_dataset(dir: Option<&Path>, name: &str) -> Result<LoadedSplit, DataError> {
    load_from(data_dir(dir).as_deref(), name)
}

fn load_from(root: Option<&Path>, name: &str) -> Result<LoadedSplit, DataError> {
    match classify(name)? {
        Dataset::Cifar10 => load_cifar10(&locate_cifar10(root)?),
        Dataset::Idx(spec) => {
            let files = locate_idx(root, &spec)?;
            load_idx(&files, &spec)
        }
    }
}

/// The test split of dataset `name` alone, for evaluation (no training file is read): its
/// images, labels, and the number of classes when the dataset defines it (10 for the known
/// datasets; `None` for other IDX folders, whose classes come from their training labels).
/// Errors as [`load_image_dataset`]'s, about the test files only.
pub fn load_test_split(
    dir: Option<&Path>,
    name: &str,
) -> Result<(Images, Vec<u8>, Option<usize>), DataError> {
    let root = data_dir(dir);
    let root = root.as_deref();
    let missing = |dataset: &str, dir: Option<PathBuf>, names: &[&str], hint: String| {
        DataError::MissingFiles {
            dataset: dataset.to_string(),
            dir_exists: dir.as_deref().is_some_and(Path::is_dir),
            dir,
            missing: names.iter().map(|n| with_gz(n)).collect(),
            hint,
        }
    };
    match classify(name)? {
        Dataset::Cifar10 => {
            let hint = cifar_hint(root);
            let Some(root) = root else {
                return Err(missing(CIFAR10_FOLDER, None, &[CIFAR10_TEST_FILE], hint));
            };
            let main = root.join(CIFAR10_FOLDER);
            let dirs = [
                main.clone(),
                main.join(CIFAR10_ARCHIVE_FOLDER),
                root.join(CIFAR10_ARCHIVE_FOLDER),
            ];
            let Some(path) = dirs.iter().find_map(|d| find_file(d, &[CIFAR10_TEST_FILE])) else {
                if let Some(e) = dirs
                    .iter()
                    .find_map(|d| not_a_file(d, &[CIFAR10_TEST_FILE]))
                {
                    return Err(e);
                }
                return Err(missing(
                    CIFAR10_FOLDER,
                    Some(main),
                    &[CIFAR10_TEST_FILE],
                    hint,
                ));
            };
            let (images, labels) = read_cifar10_batch(&path)?;
            Ok((images, labels, Some(CIFAR10_CLASSES)))
        }
        Dataset::Idx(spec) => {
            let hint = idx_hint(root, &spec);
            let names = [IDX_FILES[2], IDX_FILES[3]];
            let Some(root) = root else {
                return Err(missing(&spec.folder, None, &names, hint));
            };
            let dir = root.join(&spec.folder);
            let find = |i: usize| find_file(&dir, &[IDX_FILES[i], IDX_FILES_DOTTED[i]]);
            let (Some(images_path), Some(labels_path)) = (find(2), find(3)) else {
                for i in [2, 3] {
                    if let (None, Some(e)) = (
                        find(i),
                        not_a_file(&dir, &[IDX_FILES[i], IDX_FILES_DOTTED[i]]),
                    ) {
                        return Err(e);
                    }
                }
                let absent: Vec<&str> = [2, 3]
                    .into_iter()
                    .filter(|&i| find(i).is_none())
                    .map(|i| IDX_FILES[i])
                    .collect();
                return Err(missing(&spec.folder, Some(dir), &absent, hint));
            };
            let images = read_idx_images(&images_path)?;
            let labels = read_idx_labels_unchecked(&labels_path)?;
            check_counts(&images, &images_path, &labels, &labels_path)?;
            let classes = spec.known.map(|_| 10);
            if let Some(n) = classes {
                check_labels(&labels, n, &labels_path)?;
            }
            Ok((images, labels, classes))
        }
    }
}

/// Where to get an IDX dataset's files and where to put them.
fn idx_hint(root: Option<&Path>, spec: &IdxSpec) -> String {
    match spec.known {
        Some(known) => format!(
            "Get them from {} and put them (gzipped or not) in {}/{}/.",
            known.source,
            root_display(root),
            spec.folder
        ),
        None => format!(
            "Put the 4 IDX files in {}/{}/ (gzipped or not).",
            root_display(root),
            spec.folder
        ),
    }
}

/// Where to get CIFAR-10 and where to put it.
fn cifar_hint(root: Option<&Path>) -> String {
    format!(
        "Download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and extract it in \
         {}/{CIFAR10_FOLDER}/ (its {CIFAR10_ARCHIVE_FOLDER}/ folder is searched too); \
         the .bin files may be gzipped one by one.",
        root_display(root)
    )
}

/// What we know about an IDX dataset beyond its files.
struct KnownIdx {
    folder: &'static str,
    aliases: &'static [&'static str],
    class_names: Option<&'static [&'static str]>,
    source: &'static str,
}

const KNOWN_IDX: &[KnownIdx] = &[
    KnownIdx {
        folder: "mnist",
        aliases: &[],
        class_names: None,
        source:
            "http://yann.lecun.com/exdb/mnist/ or https://ossci-datasets.s3.amazonaws.com/mnist/",
    },
    KnownIdx {
        folder: "fashion-mnist",
        aliases: &["fashion_mnist", "fashionmnist"],
        class_names: Some(&[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ]),
        source: "https://github.com/zalandoresearch/fashion-mnist",
    },
    KnownIdx {
        folder: "kmnist",
        aliases: &[],
        class_names: Some(&["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
        source: "https://github.com/rois-codh/kmnist",
    },
];

/// An IDX dataset: its folder and, for known ones, what we know about it.
struct IdxSpec {
    folder: String,
    known: Option<&'static KnownIdx>,
}

enum Dataset {
    Cifar10,
    Idx(IdxSpec),
}

fn classify(name: &str) -> Result<Dataset, DataError> {
    let lower = name.trim().to_ascii_lowercase();
    if matches!(lower.as_str(), "cifar-10" | "cifar10" | "cifar_10") {
        return Ok(Dataset::Cifar10);
    }
    if let Some(known) = KNOWN_IDX
        .iter()
        .find(|k| k.folder == lower || k.aliases.contains(&lower.as_str()))
    {
        return Ok(Dataset::Idx(IdxSpec {
            folder: known.folder.to_string(),
            known: Some(known),
        }));
    }
    let unknown = |detail: String| DataError::UnknownDataset {
        name: name.to_string(),
        detail,
    };
    if matches!(lower.as_str(), "cifar-100" | "cifar100" | "cifar_100") {
        return Err(unknown(
            "CIFAR-100 has its own reader (formats::cifar100, through data::load), not \
             this one of IDX folders and CIFAR-10"
                .to_string(),
        ));
    }
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(unknown(format!(
            "expected one of {} or the name of a folder in the data directory \
             holding the 4 IDX files",
            KNOWN_DATASETS.join(", ")
        )));
    }
    Ok(Dataset::Idx(IdxSpec {
        folder: name.to_string(),
        known: None,
    }))
}

/// The first of `stem`, `stem.gz` (for each stem in order) that is a file.
fn find_file(dir: &Path, stems: &[&str]) -> Option<PathBuf> {
    stems.iter().find_map(|stem| {
        [stem.to_string(), format!("{stem}.gz")]
            .into_iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The first of `stem`, `stem.gz` (for each stem) that exists but is not a file: an error
/// saying so, rather than "not found".
fn not_a_file(dir: &Path, stems: &[&str]) -> Option<DataError> {
    stems.iter().find_map(|stem| {
        [stem.to_string(), format!("{stem}.gz")]
            .into_iter()
            .map(|name| dir.join(name))
            .find(|p| p.exists() && !p.is_file())
            .map(|path| DataError::NotAFile {
                path,
                expected: with_gz(stems[0]),
            })
    })
}

/// How `root` is shown in hints when it is not known.
fn root_display(root: Option<&Path>) -> String {
    root.map_or_else(|| "<DIR>".to_string(), |r| r.display().to_string())
}

fn with_gz(name: &str) -> String {
    format!("{name}[.gz]")
}

/// The 4 files of an IDX dataset, in the order of [`IDX_FILES`].
fn locate_idx(root: Option<&Path>, spec: &IdxSpec) -> Result<[PathBuf; 4], DataError> {
    let hint = idx_hint(root, spec);
    let Some(root) = root else {
        return Err(DataError::MissingFiles {
            dataset: spec.folder.clone(),
            dir: None,
            dir_exists: false,
            missing: IDX_FILES.iter().map(|f| with_gz(f)).collect(),
            hint,
        });
    };
    let dir = root.join(&spec.folder);
    let found: [Option<PathBuf>; 4] =
        std::array::from_fn(|i| find_file(&dir, &[IDX_FILES[i], IDX_FILES_DOTTED[i]]));
    if let [Some(a), Some(b), Some(c), Some(d)] = found {
        return Ok([a, b, c, d]);
    }
    for (i, f) in found.iter().enumerate() {
        if let (None, Some(e)) = (f, not_a_file(&dir, &[IDX_FILES[i], IDX_FILES_DOTTED[i]])) {
            return Err(e);
        }
    }
    Err(DataError::MissingFiles {
        dataset: spec.folder.clone(),
        dir_exists: dir.is_dir(),
        dir: Some(dir),
        missing: IDX_FILES
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(name, _)| with_gz(name))
            .collect(),
        hint,
    })
}

/// Waits for a scoped thread, passing on its panic (a bug, never bad input).
fn join<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn load_idx(files: &[PathBuf; 4], spec: &IdxSpec) -> Result<LoadedSplit, DataError> {
    let [train_images_path, train_labels_path, test_images_path, test_labels_path] = files;
    let (train_images, train_labels, test_images, test_labels) = std::thread::scope(|s| {
        let a = s.spawn(|| read_idx_images(train_images_path));
        let b = s.spawn(|| read_idx_labels_unchecked(train_labels_path));
        let c = s.spawn(|| read_idx_images(test_images_path));
        let d = read_idx_labels_unchecked(test_labels_path);
        (join(a), join(b), join(c), d)
    });
    let (train_images, train_labels) = (train_images?, train_labels?);
    let (test_images, test_labels) = (test_images?, test_labels?);

    check_counts(
        &train_images,
        train_images_path,
        &train_labels,
        train_labels_path,
    )?;
    check_counts(
        &test_images,
        test_images_path,
        &test_labels,
        test_labels_path,
    )?;
    check_same_shape(&train_images, &test_images, test_images_path)?;

    let (num_classes, class_names) = match spec.known {
        Some(known) => {
            check_labels(&train_labels, 10, train_labels_path)?;
            check_labels(&test_labels, 10, test_labels_path)?;
            let names = known
                .class_names
                .map(|names| names.iter().map(|n| n.to_string()).collect());
            (10, names)
        }
        None => {
            // The classes are those of the training labels: every one below the largest must
            // occur (a class without a training sample cannot be learnt, and a stray label
            // would silently add many), and the test labels must be among them.
            let num_classes = check_inferred_classes(&train_labels, train_labels_path)?;
            check_labels(&test_labels, num_classes, test_labels_path)?;
            (num_classes, None)
        }
    };
    Ok(LoadedSplit {
        train: (train_images, train_labels),
        test: (test_images, test_labels),
        num_classes,
        class_names,
    })
}

/// The number of classes of inferred labels (the largest plus one, at least 2), when every
/// class below it has a sample.
fn check_inferred_classes(labels: &[u8], path: &Path) -> Result<usize, DataError> {
    let Some(&max) = labels.iter().max() else {
        return Ok(2);
    };
    let mut seen = [false; 256];
    for &l in labels {
        seen[usize::from(l)] = true;
    }
    let missing: Vec<usize> = (0..=usize::from(max)).filter(|&c| !seen[c]).collect();
    if missing.is_empty() {
        return Ok((usize::from(max) + 1).max(2));
    }
    Err(DataError::MissingClasses {
        path: path.to_path_buf(),
        index: labels.iter().position(|&l| l == max).unwrap_or(0),
        label: max,
        num_classes: usize::from(max) + 1,
        missing: ranges(&missing),
    })
}

/// `1, 3–7, 9` for a sorted list of numbers.
fn ranges(values: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}–{}", values[i], values[j])
        } else {
            values[i].to_string()
        });
        i = j + 1;
    }
    parts.join(", ")
}

fn check_counts(
    images: &Images,
    images_path: &Path,
    labels: &[u8],
    labels_path: &Path,
) -> Result<(), DataError> {
    if images.n == labels.len() {
        Ok(())
    } else {
        Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            n_images: images.n,
            labels: labels_path.to_path_buf(),
            n_labels: labels.len(),
        })
    }
}

fn check_same_shape(train: &Images, test: &Images, test_path: &Path) -> Result<(), DataError> {
    let shape = |im: &Images| (im.channels, im.height, im.width);
    if shape(train) == shape(test) {
        Ok(())
    } else {
        Err(DataError::BadDimensions {
            path: test_path.to_path_buf(),
            detail: format!(
                "test images are {}×{}×{} (channels×rows×columns) but training images are {}×{}×{}",
                test.channels, test.height, test.width, train.channels, train.height, train.width
            ),
        })
    }
}

/// The files of CIFAR-10.
#[derive(Debug)]
struct CifarFiles {
    train: [PathBuf; 5],
    test: PathBuf,
    meta: Option<PathBuf>,
}

fn locate_cifar10(root: Option<&Path>) -> Result<CifarFiles, DataError> {
    let names: [&str; 6] = std::array::from_fn(|i| {
        CIFAR10_TRAIN_FILES
            .get(i)
            .copied()
            .unwrap_or(CIFAR10_TEST_FILE)
    });
    let hint = cifar_hint(root);
    let Some(root) = root else {
        return Err(DataError::MissingFiles {
            dataset: CIFAR10_FOLDER.to_string(),
            dir: None,
            dir_exists: false,
            missing: names.iter().map(|f| with_gz(f)).collect(),
            hint,
        });
    };
    let main = root.join(CIFAR10_FOLDER);
    let candidates = [
        main.join(CIFAR10_ARCHIVE_FOLDER),
        root.join(CIFAR10_ARCHIVE_FOLDER),
    ];
    // The folder with the most batches wins; the earlier one on ties.
    let find_all = |dir: &Path| -> [Option<PathBuf>; 6] {
        std::array::from_fn(|i| find_file(dir, &[names[i]]))
    };
    let count = |found: &[Option<PathBuf>; 6]| found.iter().filter(|f| f.is_some()).count();
    let mut dir = main.clone();
    let mut found = find_all(&dir);
    for candidate in candidates {
        let other = find_all(&candidate);
        if count(&other) > count(&found) {
            dir = candidate;
            found = other;
        }
    }
    for (i, f) in found.iter().enumerate() {
        if let (None, Some(e)) = (f, not_a_file(&dir, &[names[i]])) {
            return Err(e);
        }
    }
    if let [Some(t1), Some(t2), Some(t3), Some(t4), Some(t5), Some(test)] = found {
        let meta = Some(dir.join(CIFAR10_META_FILE)).filter(|p| p.is_file());
        return Ok(CifarFiles {
            train: [t1, t2, t3, t4, t5],
            test,
            meta,
        });
    }
    Err(DataError::MissingFiles {
        dataset: CIFAR10_FOLDER.to_string(),
        dir_exists: dir.is_dir(),
        dir: Some(dir),
        missing: names
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(n, _)| with_gz(n))
            .collect(),
        hint,
    })
}

fn load_cifar10(files: &CifarFiles) -> Result<LoadedSplit, DataError> {
    let (batches, test) = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .train
            .iter()
            .map(|p| s.spawn(move || read_cifar10_batch(p)))
            .collect();
        let test = read_cifar10_batch(&files.test);
        let batches: Vec<_> = handles.into_iter().map(join).collect();
        (batches, test)
    });
    let batches = batches.into_iter().collect::<Result<Vec<_>, _>>()?;
    let test = test?;

    let n: usize = batches.iter().map(|(im, _)| im.n).sum();
    let mut pixels = Vec::with_capacity(batches.iter().map(|(im, _)| im.pixels.len()).sum());
    let mut labels = Vec::with_capacity(n);
    for (im, l) in batches {
        pixels.extend_from_slice(&im.pixels);
        labels.extend_from_slice(&l);
    }
    let train_images = Images {
        n,
        channels: test.0.channels,
        height: test.0.height,
        width: test.0.width,
        pixels,
    };

    let class_names = match &files.meta {
        None => None,
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
            let text = String::from_utf8(text).map_err(|_| DataError::BadMetadata {
                path: path.clone(),
                detail: "not UTF-8 text".to_string(),
            })?;
            Some(parse_cifar10_meta(&text, path)?)
        }
    };
    Ok(LoadedSplit {
        train: (train_images, labels),
        test,
        num_classes: CIFAR10_CLASSES,
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// Writes an IDX dataset `name` under `root`: `n_train`/`n_test` images
    /// of 4×3 with the given labels; images gzipped, labels raw.
    fn write_idx_set(root: &Path, name: &str, train_labels: &[u8], test_labels: &[u8]) {
        let d = root.join(name);
        let nt = train_labels.len() as u32;
        let ne = test_labels.len() as u32;
        write(
            &d,
            "train-images-idx3-ubyte.gz",
            &gzip(&idx_images(nt, 4, 3)),
        );
        write(&d, "train-labels-idx1-ubyte", &idx_labels(train_labels));
        write(&d, "t10k-images-idx3-ubyte", &idx_images(ne, 4, 3));
        write(
            &d,
            "t10k-labels-idx1-ubyte.gz",
            &gzip(&idx_labels(test_labels)),
        );
    }

    fn write_cifar_set(dir: &Path, meta: Option<&str>) {
        for (i, name) in CIFAR10_TRAIN_FILES.iter().enumerate() {
            let labels = [i as u8, 9 - i as u8];
            write(dir, &format!("{name}.gz"), &gzip(&cifar_batch(&labels)));
        }
        write(dir, CIFAR10_TEST_FILE, &cifar_batch(&[3, 8, 8]));
        if let Some(meta) = meta {
            write(dir, CIFAR10_META_FILE, meta.as_bytes());
        }
    }

    const META: &str = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

    #[test]
    fn data_dir_prefers_flag_then_env() {
        let flag = Path::new("/flag");
        assert_eq!(
            resolve_data_dir(Some(flag), Some("/env".into())),
            Some(PathBuf::from("/flag"))
        );
        assert_eq!(
            resolve_data_dir(None, Some("/env".into())),
            Some(PathBuf::from("/env"))
        );
        assert_eq!(resolve_data_dir(None, Some("".into())), None);
        assert_eq!(resolve_data_dir(None, None), None);
        assert_eq!(data_dir(Some(flag)), Some(PathBuf::from("/flag")));
    }

    #[test]
    fn loads_known_idx_dataset() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[5, 0, 4], &[7, 2]);
        let split = load_from(Some(root.path()), "MNIST").unwrap();
        assert_eq!(split.num_classes, 10);
        assert_eq!(split.class_names, None);
        assert_eq!(split.train.1, vec![5, 0, 4]);
        assert_eq!(split.test.1, vec![7, 2]);
        assert_eq!(
            (split.train.0.n, split.train.0.height, split.train.0.width),
            (3, 4, 3)
        );
        assert_eq!(split.test.0.n, 2);
        // Through the public entry point with an explicit directory.
        assert_eq!(
            load_image_dataset(Some(root.path()), "mnist").unwrap(),
            split
        );
    }

    #[test]
    fn fashion_mnist_has_class_names() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "fashion-mnist", &[9, 0], &[1]);
        let split = load_from(Some(root.path()), "fashion_mnist").unwrap();
        let names = split.class_names.unwrap();
        assert_eq!(names.len(), 10);
        assert_eq!(names[9], "Ankle boot");
    }

    #[test]
    fn unknown_idx_dataset_counts_classes() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "my-set", &[0, 4, 1, 3, 2], &[2]);
        let split = load_from(Some(root.path()), "my-set").unwrap();
        assert_eq!(split.num_classes, 5);
        // At least two classes.
        write_idx_set(root.path(), "single", &[0, 0], &[0]);
        assert_eq!(
            load_from(Some(root.path()), "single").unwrap().num_classes,
            2
        );
    }

    #[test]
    fn inferred_classes_need_training_samples() {
        let root = tempfile::tempdir().unwrap();
        // A stray label 200 does not make 201 classes silently.
        let mut labels: Vec<u8> = (0..10).collect();
        labels.insert(3, 200);
        write_idx_set(root.path(), "stray", &labels, &[2]);
        let err = load_from(Some(root.path()), "stray").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: label 200 at index 3 would make 201 classes, but classes 10–199 have no \
                 training sample (is the label wrong?)",
                root.path().join("stray/train-labels-idx1-ubyte").display()
            )
        );
        write_idx_set(root.path(), "gaps", &[0, 4, 1], &[2]);
        let err = load_from(Some(root.path()), "gaps")
            .unwrap_err()
            .to_string();
        assert!(err.contains("classes 2–3 have no training sample"), "{err}");
        // A test label must be one of the training classes.
        write_idx_set(root.path(), "other", &[0, 1], &[6]);
        let err = load_from(Some(root.path()), "other").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    label: 6,
                    num_classes: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("t10k-labels-idx1-ubyte.gz"),
            "{err}"
        );
        assert_eq!(ranges(&[1, 3, 4, 5, 7, 8]), "1, 3–5, 7–8");
    }

    #[test]
    fn the_test_split_loads_without_the_training_files() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[1, 2], &[3, 4, 5]);
        let d = root.path().join("mnist");
        std::fs::remove_file(d.join("train-images-idx3-ubyte.gz")).unwrap();
        std::fs::remove_file(d.join("train-labels-idx1-ubyte")).unwrap();
        let (images, labels, classes) = load_test_split(Some(root.path()), "mnist").unwrap();
        assert_eq!((images.n, labels, classes), (3, vec![3, 4, 5], Some(10)));
        std::fs::remove_file(d.join("t10k-images-idx3-ubyte")).unwrap();
        let err = load_test_split(Some(root.path()), "mnist").unwrap_err();
        match err {
            DataError::MissingFiles { missing, .. } => {
                assert_eq!(missing, ["t10k-images-idx3-ubyte[.gz]"]);
            }
            e => panic!("unexpected {e:?}"),
        }
        let root = tempfile::tempdir().unwrap();
        let c = root.path().join("cifar-10/cifar-10-batches-bin");
        write_cifar_set(&c, None);
        std::fs::remove_file(c.join("data_batch_2.bin.gz")).unwrap();
        let (images, labels, classes) = load_test_split(Some(root.path()), "cifar-10").unwrap();
        assert_eq!(
            (images.channels, labels, classes),
            (3, vec![3, 8, 8], Some(10))
        );
    }

    #[test]
    fn a_directory_where_a_file_should_be_is_named() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[1, 2], &[3]);
        let d = root.path().join("mnist");
        std::fs::remove_file(d.join("train-labels-idx1-ubyte")).unwrap();
        std::fs::create_dir(d.join("train-labels-idx1-ubyte")).unwrap();
        let err = load_from(Some(root.path()), "mnist").unwrap_err();
        assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
        assert!(
            err.to_string().contains("is a directory, not a file"),
            "{err}"
        );
        let root = tempfile::tempdir().unwrap();
        let c = root.path().join("cifar-10");
        write_cifar_set(&c, None);
        std::fs::remove_file(c.join("test_batch.bin")).unwrap();
        std::fs::create_dir(c.join("test_batch.bin.gz")).unwrap();
        let err = load_from(Some(root.path()), "cifar-10").unwrap_err();
        assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
    }

    #[test]
    fn dotted_file_names_are_accepted() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("kmnist");
        write(&d, "train-images.idx3-ubyte", &idx_images(2, 2, 2));
        write(
            &d,
            "train-labels.idx1-ubyte.gz",
            &gzip(&idx_labels(&[1, 2])),
        );
        write(&d, "t10k-images-idx3-ubyte", &idx_images(1, 2, 2));
        write(&d, "t10k-labels-idx1-ubyte", &idx_labels(&[3]));
        let split = load_from(Some(root.path()), "kmnist").unwrap();
        assert_eq!(split.train.1, vec![1, 2]);
    }

    #[test]
    fn mnist_label_out_of_range() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[1, 2], &[7, 1, 4, 12]);
        let err = load_from(Some(root.path()), "mnist").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    index: 3,
                    label: 12,
                    num_classes: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("t10k-labels-idx1-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[1, 2], &[3]);
        let d = root.path().join("mnist");
        write(&d, "train-labels-idx1-ubyte", &idx_labels(&[1, 2, 3]));
        let err = load_from(Some(root.path()), "mnist").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CountMismatch {
                    n_images: 2,
                    n_labels: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        let s = err.to_string();
        assert!(s.contains("train-images-idx3-ubyte.gz"), "{s}");
        assert!(s.contains("train-labels-idx1-ubyte"), "{s}");
    }

    #[test]
    fn train_test_shape_mismatch() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[1, 2], &[3]);
        let d = root.path().join("mnist");
        write(&d, "t10k-images-idx3-ubyte", &idx_images(1, 5, 5));
        let err = load_from(Some(root.path()), "mnist").unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
        assert!(err.to_string().contains("1×5×5"), "{err}");
    }

    #[test]
    fn corrupt_file_error_is_passed_on() {
        let root = tempfile::tempdir().unwrap();
        write_idx_set(root.path(), "mnist", &[1, 2], &[3]);
        let d = root.path().join("mnist");
        write(&d, "t10k-images-idx3-ubyte", &idx_labels(&[1]));
        let err = load_from(Some(root.path()), "mnist").unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
    }

    #[test]
    fn missing_idx_files_are_named() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("mnist");
        write(
            &d,
            "train-images-idx3-ubyte.gz",
            &gzip(&idx_images(1, 2, 2)),
        );
        write(&d, "t10k-labels-idx1-ubyte", &idx_labels(&[1]));
        let err = load_from(Some(root.path()), "mnist").unwrap_err();
        match &err {
            DataError::MissingFiles {
                dir,
                missing,
                dir_exists,
                ..
            } => {
                assert_eq!(dir.as_deref(), Some(d.as_path()));
                assert!(dir_exists);
                assert_eq!(
                    missing,
                    &[
                        "train-labels-idx1-ubyte[.gz]",
                        "t10k-images-idx3-ubyte[.gz]"
                    ]
                );
            }
            e => panic!("unexpected {e:?}"),
        }
        let s = err.to_string();
        assert!(
            s.contains("train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]"),
            "{s}"
        );
        assert!(s.contains(&d.display().to_string()), "{s}");
        assert!(s.contains("http://yann.lecun.com/exdb/mnist/"), "{s}");
        assert!(
            s.contains("https://ossci-datasets.s3.amazonaws.com/mnist/"),
            "{s}"
        );
        assert!(s.contains("--data-dir"), "{s}");
    }

    #[test]
    fn missing_dataset_folder() {
        let root = tempfile::tempdir().unwrap();
        let err = load_from(Some(root.path()), "my-set").unwrap_err();
        let s = err.to_string();
        assert!(matches!(
            err,
            DataError::MissingFiles {
                dir_exists: false,
                ..
            }
        ));
        assert!(s.contains("does not exist"), "{s}");
        for f in IDX_FILES {
            assert!(s.contains(f), "{s}");
        }
        assert!(s.contains("Put the 4 IDX files in"), "{s}");
        assert!(s.contains("my-set/"), "{s}");
    }

    #[test]
    fn no_data_dir_at_all() {
        let err = load_from(None, "mnist").unwrap_err();
        assert!(
            matches!(err, DataError::MissingFiles { dir: None, .. }),
            "{err:?}"
        );
        let s = err.to_string();
        assert!(s.contains("--data-dir"), "{s}");
        assert!(s.contains("GROWNET_DATA"), "{s}");
        assert!(s.contains("train-images-idx3-ubyte[.gz]"), "{s}");
        assert!(s.contains("yann.lecun.com"), "{s}");

        let err = load_from(None, "cifar10").unwrap_err();
        let s = err.to_string();
        assert!(s.contains("data_batch_1.bin[.gz]"), "{s}");
        assert!(s.contains("test_batch.bin[.gz]"), "{s}");
        assert!(
            s.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"),
            "{s}"
        );
        assert!(s.contains("GROWNET_DATA"), "{s}");
    }

    #[test]
    fn bad_dataset_names() {
        for name in ["", "..", "../etc", "a/b", "cifar-100"] {
            let err = load_from(Some(Path::new("/tmp")), name).unwrap_err();
            assert!(
                matches!(err, DataError::UnknownDataset { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn loads_cifar_with_meta() {
        let root = tempfile::tempdir().unwrap();
        write_cifar_set(&root.path().join("cifar-10"), Some(META));
        let split = load_from(Some(root.path()), "cifar-10").unwrap();
        assert_eq!(split.num_classes, 10);
        assert_eq!(split.train.1, vec![0, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
        assert_eq!(split.train.0.n, 10);
        assert_eq!(split.train.0.pixels.len(), 10 * 3072);
        assert_eq!((split.train.0.channels, split.train.0.height), (3, 32));
        // Record 1 of batch 2 is train image 3: pixel j is (1 + j) % 256.
        assert_eq!(split.train.0.image(3)[..3], [1, 2, 3]);
        assert_eq!(split.test.1, vec![3, 8, 8]);
        assert_eq!(split.class_names.unwrap()[3], "cat");
    }

    #[test]
    fn loads_cifar_from_archive_folder_without_meta() {
        let root = tempfile::tempdir().unwrap();
        write_cifar_set(&root.path().join("cifar-10/cifar-10-batches-bin"), None);
        let split = load_from(Some(root.path()), "CIFAR10").unwrap();
        assert_eq!(split.train.0.n, 10);
        assert_eq!(split.class_names, None);
        // Also directly in the data directory.
        let root = tempfile::tempdir().unwrap();
        write_cifar_set(&root.path().join("cifar-10-batches-bin"), Some(META));
        assert!(load_from(Some(root.path()), "cifar-10").is_ok());
    }

    #[test]
    fn cifar_bad_meta() {
        let root = tempfile::tempdir().unwrap();
        write_cifar_set(&root.path().join("cifar-10"), Some("cat\ndog\n"));
        let err = load_from(Some(root.path()), "cifar-10").unwrap_err();
        assert!(matches!(err, DataError::BadMetadata { .. }), "{err:?}");
        assert!(err.to_string().contains("batches.meta.txt"));
    }

    #[test]
    fn cifar_missing_batches_are_named() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("cifar-10/cifar-10-batches-bin");
        write_cifar_set(&d, None);
        std::fs::remove_file(d.join("data_batch_3.bin.gz")).unwrap();
        let err = load_from(Some(root.path()), "cifar-10").unwrap_err();
        match &err {
            DataError::MissingFiles { dir, missing, .. } => {
                assert_eq!(dir.as_deref(), Some(d.as_path()));
                assert_eq!(missing, &["data_batch_3.bin[.gz]"]);
            }
            e => panic!("unexpected {e:?}"),
        }
        // Nothing anywhere: reported against <dir>/cifar-10.
        let root = tempfile::tempdir().unwrap();
        let err = load_from(Some(root.path()), "cifar-10").unwrap_err();
        let s = err.to_string();
        assert!(
            s.contains(&root.path().join("cifar-10").display().to_string()),
            "{s}"
        );
        assert!(s.contains("cifar-10-binary.tar.gz"), "{s}");
        assert!(s.contains("data_batch_5.bin[.gz]"), "{s}");
    }

    #[test]
    fn cifar_corrupt_batch_error_is_passed_on() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("cifar-10");
        write_cifar_set(&d, None);
        write(&d, "data_batch_4.bin.gz", &gzip(&cifar_batch(&[1, 11])));
        let err = load_from(Some(root.path()), "cifar-10").unwrap_err();
        assert!(
            matches!(err, DataError::LabelOutOfRange { label: 11, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("data_batch_4.bin.gz"));
    }

    #[test]
    fn real_mnist_loads() {
        let Some(root) = real_data_dir() else { return };
        let start = std::time::Instant::now();
        let split = load_image_dataset(Some(&root), "mnist").unwrap();
        eprintln!("mnist loaded in {:?}", start.elapsed());
        assert_eq!(split.train.0.n, 60000);
        assert_eq!(split.test.0.n, 10000);
        assert_eq!((split.train.0.height, split.train.0.width), (28, 28));
        assert_eq!(split.num_classes, 10);
        assert_eq!(split.train.1[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(split.test.1[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    }

    #[test]
    fn real_cifar_files_are_found() {
        let Some(root) = real_data_dir() else { return };
        let files = locate_cifar10(Some(&root)).unwrap();
        assert!(files.train[0].ends_with("data_batch_1.bin.gz"));
        assert!(files.test.ends_with("test_batch.bin.gz"));
        assert!(files.meta.is_some());
    }

    /// Reads all of CIFAR-10 (several seconds); run with `--ignored`.
    #[test]
    #[ignore]
    fn real_cifar_full_load() {
        let Some(root) = real_data_dir() else { return };
        let start = std::time::Instant::now();
        let split = load_image_dataset(Some(&root), "cifar-10").unwrap();
        eprintln!("cifar-10 loaded in {:?}", start.elapsed());
        assert_eq!(split.train.0.n, 50000);
        assert_eq!(split.test.0.n, 10000);
        assert_eq!(split.train.1[..10], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
        assert_eq!(split.test.1[..10], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
        let mut counts = [0usize; 10];
        for &l in &split.train.1 {
            counts[usize::from(l)] += 1;
        }
        assert_eq!(counts, [5000; 10]);
        assert_eq!(split.class_names.unwrap()[0], "airplane");
    }
}
