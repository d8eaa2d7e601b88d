//! Reader for the binary version of CIFAR-100 (`train.bin`, `test.bin`), raw or gzipped.
//!
//! Get it from <https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz> and extract it in
//! `<data dir>/cifar-100/` (the archive's `cifar-100-binary/` folder is searched too, also
//! directly in the data directory). A file has no header: it is a sequence of 3074-byte
//! records `<coarse label u8><fine label u8><1024 bytes R><1024 G><1024 B>` (50 000 in
//! `train.bin`, 10 000 in `test.bin`). The reader checks that the size is a whole number of
//! records and every label is in range (coarse < 20, fine < 100); `coarse_label_names.txt`
//! and `fine_label_names.txt`, when present, name the classes.
//!
//! ```
//! use std::path::Path;
//! use grownet::data::formats::cifar100::parse_cifar100;
//! use grownet::data::Cifar100Label;
//! let mut record = vec![3u8, 42];
//! record.extend(std::iter::repeat_n(7u8, 3072));
//! let (images, labels) = parse_cifar100(&record, Path::new("train.bin"), Cifar100Label::Fine).unwrap();
//! assert_eq!((images.n, labels), (1, vec![42]));
//! let e = parse_cifar100(&record[..3000], Path::new("train.bin"), Cifar100Label::Fine).unwrap_err();
//! assert_eq!(e.to_string(), "train.bin: file is truncated: expected 3074 bytes, found 3000");
//! ```
use std::path::{Path, PathBuf};

use super::cifar::{parse_records, CIFAR_IMAGE_BYTES};
use super::{read_maybe_gz, Images};
use crate::data::choices::Cifar100Label;
use crate::error::DataError;

/// Bytes per record (two label bytes + pixels).
pub const CIFAR100_RECORD_BYTES: usize = 2 + CIFAR_IMAGE_BYTES;
/// Number of fine and coarse classes.
pub const CIFAR100_FINE: usize = 100;
pub const CIFAR100_COARSE: usize = 20;
/// Where the archive is.
pub const CIFAR100_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";

/// The number of classes under `label`.
pub fn classes(label: Cifar100Label) -> usize {
    match label {
        Cifar100Label::Fine => CIFAR100_FINE,
        Cifar100Label::Coarse => CIFAR100_COARSE,
    }
}

/// Parses a CIFAR-100 file held in memory (decompressed); both labels are checked, `label`
/// says which one is returned. `path` is only used in error messages.
pub fn parse_cifar100(
    bytes: &[u8],
    path: &Path,
    label: Cifar100Label,
) -> Result<(Images, Vec<u8>), DataError> {
    let keep = match label {
        Cifar100Label::Coarse => 0,
        Cifar100Label::Fine => 1,
    };
    parse_records(bytes, path, &[CIFAR100_COARSE, CIFAR100_FINE], keep)
}

/// The train and test files and the class names file, found under the data directory `root`.
#[derive(Debug)]
pub struct Cifar100Files {
    pub train: PathBuf,
    pub test: PathBuf,
    pub names: Option<PathBuf>,
}

/// Finds CIFAR-100's files: `train.bin[.gz]` and `test.bin[.gz]` in `root/cifar-100/`,
/// `root/cifar-100/cifar-100-binary/` or `root/cifar-100-binary/`.
pub fn locate(root: Option<&Path>, label: Cifar100Label) -> Result<Cifar100Files, DataError> {
    let missing = |dir: Option<PathBuf>| DataError::MissingFiles {
        dataset: "cifar-100".into(),
        dir_exists: dir.as_deref().is_some_and(Path::is_dir),
        dir,
        missing: vec!["train.bin[.gz]".into(), "test.bin[.gz]".into()],
        hint: format!(
            "Download {CIFAR100_URL} and extract it in {}/cifar-100/ (its cifar-100-binary/ \
             folder is searched too).",
            root.map_or("<DIR>".into(), |r| r.display().to_string())
        ),
    };
    let root = root.ok_or_else(|| missing(None))?;
    let main = root.join("cifar-100");
    let dirs = [
        main.clone(),
        main.join("cifar-100-binary"),
        root.join("cifar-100-binary"),
    ];
    let find = |dir: &Path, stem: &str| {
        [stem.to_string(), format!("{stem}.gz")]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    };
    for dir in &dirs {
        if let (Some(train), Some(test)) = (find(dir, "train.bin"), find(dir, "test.bin")) {
            let names_file = match label {
                Cifar100Label::Fine => "fine_label_names.txt",
                Cifar100Label::Coarse => "coarse_label_names.txt",
            };
            let names = Some(dir.join(names_file)).filter(|p| p.is_file());
            return Ok(Cifar100Files { train, test, names });
        }
    }
    Err(missing(Some(main)))
}

/// Images and their labels.
pub type Labelled = (Images, Vec<u8>);

/// Reads the train and test files and the class names (when present: one per line, as many
/// as classes).
pub fn read(
    files: &Cifar100Files,
    label: Cifar100Label,
) -> Result<(Labelled, Labelled, Option<Vec<String>>), DataError> {
    let train = parse_cifar100(&read_maybe_gz(&files.train)?, &files.train, label)?;
    let test = parse_cifar100(&read_maybe_gz(&files.test)?, &files.test, label)?;
    let names = match &files.names {
        None => None,
        Some(p) => Some(read_names(p, classes(label))?),
    };
    Ok((train, test, names))
}

fn read_names(path: &Path, n: usize) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let names: Vec<String> = (text.lines().map(str::trim))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != n {
        return Err(DataError::BadMetadata {
            path: path.to_path_buf(),
            detail: format!(
                "expected {n} class names, one per line, found {}",
                names.len()
            ),
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    /// A CIFAR-100 file whose record `i` has the labels `(coarse, fine)` and pixel `j` =
    /// `(i + j) % 256`.
    pub fn cifar100_file(labels: &[(u8, u8)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (i, &(coarse, fine)) in labels.iter().enumerate() {
            b.extend([coarse, fine]);
            b.extend((0..3072).map(|j| ((i + j) % 256) as u8));
        }
        b
    }

    #[test]
    fn fine_and_coarse_labels() {
        let bytes = cifar100_file(&[(1, 99), (19, 0)]);
        let p = Path::new("train.bin");
        let (im, fine) = parse_cifar100(&bytes, p, Cifar100Label::Fine).unwrap();
        assert_eq!((im.n, fine), (2, vec![99, 0]));
        assert_eq!(im.image(1)[..2], [1, 2]);
        let (_, coarse) = parse_cifar100(&bytes, p, Cifar100Label::Coarse).unwrap();
        assert_eq!(coarse, vec![1, 19]);
    }

    #[test]
    fn corrupt_files_are_refused() {
        let p = Path::new("train.bin");
        let mut bytes = cifar100_file(&[(1, 2), (3, 4)]);
        bytes.pop();
        let e = parse_cifar100(&bytes, p, Cifar100Label::Fine).unwrap_err();
        assert_eq!(
            e.to_string(),
            "train.bin: file is truncated: expected 6148 bytes, found 6147"
        );
        let bytes = cifar100_file(&[(1, 2), (3, 100)]);
        let e = parse_cifar100(&bytes, p, Cifar100Label::Coarse).unwrap_err();
        assert_eq!(
            e.to_string(),
            "train.bin: label 100 at index 1 is out of range 0..100"
        );
        let bytes = cifar100_file(&[(20, 2)]);
        let e = parse_cifar100(&bytes, p, Cifar100Label::Fine).unwrap_err();
        assert_eq!(
            e.to_string(),
            "train.bin: label 20 at index 0 is out of range 0..20"
        );
        assert!(parse_cifar100(&[], p, Cifar100Label::Fine).is_err());
    }

    #[test]
    fn files_are_found_in_the_archive_folder() {
        let root = tempfile::tempdir().unwrap();
        let e = locate(Some(root.path()), Cifar100Label::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cifar-100-binary.tar.gz") && e.contains("train.bin[.gz]"),
            "{e}"
        );
        let d = root.path().join("cifar-100/cifar-100-binary");
        write(&d, "train.bin.gz", &gzip(&cifar100_file(&[(0, 5), (1, 6)])));
        write(&d, "test.bin", &cifar100_file(&[(2, 7)]));
        write(&d, "coarse_label_names.txt", b"a\nb\n");
        let files = locate(Some(root.path()), Cifar100Label::Coarse).unwrap();
        let e = read(&files, Cifar100Label::Coarse).unwrap_err().to_string();
        assert!(e.contains("expected 20 class names"), "{e}");
        let files = locate(Some(root.path()), Cifar100Label::Fine).unwrap();
        let (train, test, names) = read(&files, Cifar100Label::Fine).unwrap();
        assert_eq!((train.1, test.1, names), (vec![5, 6], vec![7], None));
    }
}
