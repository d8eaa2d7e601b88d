//! What `data.name` names: a built-in dataset, or files of your own as `KIND:PATH`.
//!
//! | `data.name` | what is read |
//! |---|---|
//! | `spirals`, `moons`, `regression`, `teacher`, `patterns` | generated, no file |
//! | `mnist`, `fashion-mnist`, `kmnist`, any IDX folder, `cifar-10` | `<data dir>/<name>/` |
//! | `cifar-100` | `<data dir>/cifar-100/` (`train.bin`, `test.bin`) |
//! | `csv:PATH`, `tsv:PATH` | a table with a header (`.tsv`/`.tab` files are tab-separated) |
//! | `npy:X.npy,Y.npy` | two NumPy arrays: inputs and targets |
//! | `npz:PATH`, `safetensors:PATH` | one archive holding the arrays `data.x_key`, `data.y_key` |
//! | `images:DIR` | one folder per class of PNG/JPEG images |
//!
//! A relative `PATH` is looked up in the data directory (`--data-dir` or `GROWNET_DATA`) and
//! then in the working directory.
//!
//! ```
//! use std::path::PathBuf;
//! use grownet::data::Source;
//! assert_eq!(
//!     Source::parse("npy:x.npy, y.npy").unwrap(),
//!     Source::Npy { x: PathBuf::from("x.npy"), y: PathBuf::from("y.npy") }
//! );
//! assert_eq!(Source::parse("tsv:t.txt").unwrap(), Source::Csv { path: "t.txt".into(), delimiter: b'\t' });
//! assert!(Source::parse("parquet:t.parquet").unwrap_err().to_string().contains("csv:PATH"));
//! ```
use std::path::{Path, PathBuf};

use crate::error::{DataError, Error, Result};

/// Names of the built-in datasets that need no files.
pub const SYNTHETIC_NAMES: [&str; 5] = ["spirals", "moons", "regression", "teacher", "patterns"];

/// The kinds of files of your own, as written before the colon.
pub const KINDS: [&str; 6] = ["csv", "tsv", "npy", "npz", "safetensors", "images"];

/// Where a dataset's samples come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A built-in generator.
    Synthetic,
    /// MNIST-style IDX folders and CIFAR-10 under the data directory.
    Builtin,
    /// CIFAR-100's binary version under the data directory.
    Cifar100,
    /// A delimited table with a header.
    Csv { path: PathBuf, delimiter: u8 },
    /// Inputs and targets in two `.npy` files.
    Npy { x: PathBuf, y: PathBuf },
    /// Inputs and targets in one `.npz` archive.
    Npz(PathBuf),
    /// Inputs and targets in one safetensors file.
    Safetensors(PathBuf),
    /// A folder of class folders of images.
    Images(PathBuf),
}

impl Source {
    /// Reads `data.name`.
    pub fn parse(name: &str) -> Result<Source> {
        let trimmed = name.trim();
        if SYNTHETIC_NAMES.contains(&trimmed) {
            return Ok(Source::Synthetic);
        }
        let lower = trimmed.to_ascii_lowercase();
        if matches!(lower.as_str(), "cifar-100" | "cifar100" | "cifar_100") {
            return Ok(Source::Cifar100);
        }
        let Some((kind, path)) = trimmed.split_once(':') else {
            return Ok(Source::Builtin);
        };
        let path = path.trim();
        let bad = |why: &str| {
            Error::invalid(
                "data.name",
                name,
                format!(
                    "csv:PATH, tsv:PATH, npy:X.npy,Y.npy, npz:PATH, safetensors:PATH, images:DIR \
                     or a built-in dataset name ({why})"
                ),
            )
        };
        if path.is_empty() {
            return Err(bad("nothing after the colon"));
        }
        match kind.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Source::Csv {
                delimiter: delimiter_for(Path::new(path)),
                path: path.into(),
            }),
            "tsv" => Ok(Source::Csv {
                path: path.into(),
                delimiter: b'\t',
            }),
            "npy" => match path.split(',').map(str::trim).collect::<Vec<_>>()[..] {
                [x, y] if !x.is_empty() && !y.is_empty() => Ok(Source::Npy {
                    x: x.into(),
                    y: y.into(),
                }),
                _ => Err(bad("npy takes two files, inputs then targets")),
            },
            "npz" => Ok(Source::Npz(path.into())),
            "safetensors" => Ok(Source::Safetensors(path.into())),
            "images" => Ok(Source::Images(path.into())),
            _ => Err(bad(&format!(
                "'{kind}' is not a kind of file grownet reads; a Parquet table: save it as CSV"
            ))),
        }
    }

    /// Files of your own (`KIND:PATH`), which take the keys target, task, test_file, ….
    pub fn is_own_files(&self) -> bool {
        !matches!(self, Source::Synthetic | Source::Builtin | Source::Cifar100)
    }
}

/// Tab for `.tsv` and `.tab` files, comma otherwise.
fn delimiter_for(path: &Path) -> u8 {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("tsv" | "tab") => b'\t',
        _ => b',',
    }
}

/// Where the file or folder `path` of a `KIND:PATH` is: as given when absolute, else in the
/// data directory `dir` (when set and it is there), else in the working directory. A path
/// found nowhere is an error naming the places tried.
pub fn resolve(path: &Path, dir: Option<&Path>) -> std::result::Result<PathBuf, DataError> {
    if path.is_absolute() || dir.is_none() {
        return if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(not_found(path, &[path.to_path_buf()]))
        };
    }
    let in_dir = dir.map(|d| d.join(path)).unwrap_or_default();
    if in_dir.exists() {
        Ok(in_dir)
    } else if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(not_found(path, &[in_dir, path.to_path_buf()]))
    }
}

fn not_found(path: &Path, tried: &[PathBuf]) -> DataError {
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "not found (looked for {}; a relative path is looked up in the data directory, \
                 --data-dir or GROWNET_DATA, then in the working directory)",
                tried.join(" and ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_sources() {
        assert_eq!(Source::parse("moons").unwrap(), Source::Synthetic);
        assert_eq!(Source::parse("mnist").unwrap(), Source::Builtin);
        assert_eq!(Source::parse("CIFAR-100").unwrap(), Source::Cifar100);
        assert_eq!(
            Source::parse("csv:a/b.TSV").unwrap(),
            Source::Csv {
                path: "a/b.TSV".into(),
                delimiter: b'\t'
            }
        );
        assert_eq!(
            Source::parse("images: pics").unwrap(),
            Source::Images("pics".into())
        );
        for bad in ["csv:", "npy:x.npy", "npy:,y", "xls:a.xls"] {
            let e = Source::parse(bad).unwrap_err().to_string();
            assert!(e.contains("data.name"), "{bad}: {e}");
        }
    }

    #[test]
    fn relative_paths_look_in_the_data_directory_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.csv"), "a\n1\n").unwrap();
        let found = resolve(Path::new("t.csv"), Some(dir.path())).unwrap();
        assert_eq!(found, dir.path().join("t.csv"));
        let e = resolve(Path::new("nope.csv"), Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.csv: cannot read file: not found"), "{e}");
        assert!(e.contains(&dir.path().join("nope.csv").display().to_string()));
    }
}
