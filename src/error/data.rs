//! The error type of the dataset readers.
//!
//! Every variant names the file (or directory) it is about and says what is
//! wrong with it, in words a user can act on, for example
//! `data/mnist/t10k-labels-idx1-ubyte.gz: label 12 at index 5 is out of range 0..10`.

use std::path::{Path, PathBuf};

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: cannot read file: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file starts like a gzip stream but does not decompress.
    #[error("{}: corrupt gzip data: {detail}", .path.display())]
    BadGzip {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        detail: String,
    },

    /// The magic number at the start of an IDX file is wrong.
    #[error(
        "{}: bad magic number 0x{found:08x}, expected 0x{expected:08x} \
         (not an IDX file of unsigned bytes, or the wrong file)",
        .path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number that was expected.
        expected: u32,
        /// The first four bytes of the file, big-endian.
        found: u32,
    },

    /// The file (after decompression) is shorter than its header says.
    #[error(
        "{}: file is truncated: expected {expected_bytes} bytes, found {found_bytes}",
        .path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// How many bytes the file should have (after decompression).
        expected_bytes: u64,
        /// How many it has.
        found_bytes: u64,
    },

    /// The file (after decompression) is longer than its header says.
    #[error(
        "{}: unexpected data after the end: expected {expected_bytes} bytes, found {found_bytes}",
        .path.display()
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// How many bytes the file should have (after decompression).
        expected_bytes: u64,
        /// How many it has.
        found_bytes: u64,
    },

    /// An image file and its label file disagree on the number of samples.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels",
        .images.display(),
        .labels.display()
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Number of images in it.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Number of labels in it.
        n_labels: usize,
    },

    /// A label is not a valid class index.
    #[error(
        "{}: label {label} at index {index} is out of range 0..{num_classes}",
        .path.display()
    )]
    LabelOutOfRange {
        /// The file holding the label.
        path: PathBuf,
        /// Index of the sample in that file.
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes of the dataset.
        num_classes: usize,
    },

    /// The header describes an unusable shape (wrong number of dimensions,
    /// zero-sized images, images that differ between train and test, ...).
    #[error("{}: bad dimensions: {detail}", .path.display())]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// A metadata file (such as CIFAR-10's `batches.meta.txt`) is malformed.
    #[error("{}: bad metadata: {detail}", .path.display())]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// The dataset's files were not found (or no data directory was given).
    #[error("{}", missing_files_message(.dataset, .dir.as_deref(), .dir_exists, .missing, .hint))]
    MissingFiles {
        /// Name of the dataset, e.g. `mnist`.
        dataset: String,
        /// The directory searched, `None` when no data directory was given at
        /// all (neither `--data-dir` nor `GROWNET_DATA`).
        dir: Option<PathBuf>,
        /// Whether `dir` exists.
        dir_exists: bool,
        /// Names of the files that were not found, e.g.
        /// `train-images-idx3-ubyte[.gz]`.
        missing: Vec<String>,
        /// Where to get the data and where to put it.
        hint: String,
    },

    /// Something other than a file (a directory) stands where a data file should be.
    #[error("{}: is a directory, not a file: the data file {expected} should be here", .path.display())]
    NotAFile {
        /// What is there.
        path: PathBuf,
        /// The file expected, e.g. `train-images-idx3-ubyte[.gz]`.
        expected: String,
    },

    /// The largest label of a dataset whose classes are inferred leaves classes without a
    /// training sample: most likely a wrong label, not that many classes.
    #[error(
        "{}: label {label} at index {index} would make {num_classes} classes, but classes {missing} \
         have no training sample (is the label wrong?)",
        .path.display()
    )]
    MissingClasses {
        /// The training label file.
        path: PathBuf,
        /// Index of the largest label in it.
        index: usize,
        /// The largest label.
        label: u8,
        /// The classes it would make.
        num_classes: usize,
        /// The classes below it without a sample, e.g. `10–199`.
        missing: String,
    },

    /// A row, column, record, array or image of a file cannot be used: `at` says which
    /// (`row 5 (line 6), column 'age'`, `array 'x'`, `record 17`), `detail` what is wrong.
    #[error("{}: {at}: {detail}", .path.display())]
    Malformed {
        /// The file (or folder).
        path: PathBuf,
        /// Where in it.
        at: String,
        /// What is wrong, and what to do when it is not obvious.
        detail: String,
    },

    /// The dataset name cannot be used.
    #[error("unknown dataset '{name}': {detail}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// Why it cannot be used, and which names can.
        detail: String,
    },
}

fn missing_files_message(
    dataset: &str,
    dir: Option<&Path>,
    dir_exists: &bool,
    missing: &[String],
    hint: &str,
) -> String {
    let files = missing.join(", ");
    match dir {
        None => format!(
            "dataset '{dataset}' needs the files {files}, but no data directory is set: \
             pass --data-dir <DIR> or set the GROWNET_DATA environment variable. {hint}"
        ),
        Some(dir) => {
            let state = if *dir_exists {
                ""
            } else {
                " (the directory does not exist)"
            };
            format!(
                "dataset '{dataset}': {files} not found in {}{state}. {hint} \
                 (The data directory is set with --data-dir or GROWNET_DATA.)",
                dir.display()
            )
        }
    }
}

impl DataError {
    /// Builds a [`DataError::Malformed`].
    pub(crate) fn malformed(path: &Path, at: impl Into<String>, detail: impl Into<String>) -> Self {
        DataError::Malformed {
            path: path.to_path_buf(),
            at: at.into(),
            detail: detail.into(),
        }
    }

    /// Builds an [`DataError::Io`] for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_message_names_file_label_and_range() {
        let e = DataError::LabelOutOfRange {
            path: PathBuf::from("t10k-labels-idx1-ubyte.gz"),
            index: 5,
            label: 12,
            num_classes: 10,
        };
        assert_eq!(
            e.to_string(),
            "t10k-labels-idx1-ubyte.gz: label 12 at index 5 is out of range 0..10"
        );
    }

    #[test]
    fn truncated_message_has_both_sizes() {
        let e = DataError::Truncated {
            path: PathBuf::from("x.bin"),
            expected_bytes: 3073,
            found_bytes: 100,
        };
        assert_eq!(
            e.to_string(),
            "x.bin: file is truncated: expected 3073 bytes, found 100"
        );
    }

    #[test]
    fn missing_files_without_dir_mentions_flag_and_env() {
        let e = DataError::MissingFiles {
            dataset: "mnist".into(),
            dir: None,
            dir_exists: false,
            missing: vec!["a[.gz]".into(), "b[.gz]".into()],
            hint: "Get them from http://example.org.".into(),
        };
        let s = e.to_string();
        assert!(s.contains("a[.gz], b[.gz]"), "{s}");
        assert!(s.contains("--data-dir"), "{s}");
        assert!(s.contains("GROWNET_DATA"), "{s}");
        assert!(s.contains("http://example.org"), "{s}");
    }

    #[test]
    fn missing_files_with_dir_names_dir() {
        let e = DataError::MissingFiles {
            dataset: "mnist".into(),
            dir: Some(PathBuf::from("/nowhere/mnist")),
            dir_exists: false,
            missing: vec!["a".into()],
            hint: "hint.".into(),
        };
        let s = e.to_string();
        assert!(s.contains("/nowhere/mnist"), "{s}");
        assert!(s.contains("does not exist"), "{s}");
        assert!(s.contains("GROWNET_DATA"), "{s}");
    }

    #[test]
    fn io_error_keeps_source() {
        use std::error::Error as _;
        let e = DataError::io(
            Path::new("f"),
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert!(e.to_string().starts_with("f: cannot read file"));
        assert!(e.source().is_some());
    }
}
