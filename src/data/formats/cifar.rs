//! Reader for the CIFAR-10 binary batches (`data_batch_1.bin` ...
//! `data_batch_5.bin`, `test_batch.bin`), raw or gzip-compressed.
//!
//! A batch has no header: it is a sequence of 3073-byte records
//! `<label u8><1024 bytes R><1024 bytes G><1024 bytes B>`, each colour plane
//! 32×32 and row-major (10,000 records per file in the official release).
//! The reader checks that the size is a whole number of records and that
//! every label is below 10.

use std::path::Path;

use super::{read_maybe_gz, Images};
use crate::error::DataError;

/// Number of classes of CIFAR-10.
pub const CIFAR10_CLASSES: usize = 10;
/// Image side length in pixels.
pub const CIFAR_SIDE: usize = 32;
/// Bytes of pixels per image (3 planes of 32×32).
pub const CIFAR_IMAGE_BYTES: usize = 3 * CIFAR_SIDE * CIFAR_SIDE;
/// Bytes per record (label byte + pixels).
pub const CIFAR10_RECORD_BYTES: usize = 1 + CIFAR_IMAGE_BYTES;

/// Parses a CIFAR-10 batch held in memory (already decompressed). `path` is
/// only used in error messages.
///
/// Returns the images (`channels = 3`, 32×32, planes in CHW order as in the
/// file) and their labels.
pub fn parse_cifar10(bytes: &[u8], path: &Path) -> Result<(Images, Vec<u8>), DataError> {
    parse_records(bytes, path, &[CIFAR10_CLASSES], 0)
}

/// Parses CIFAR records: `label_classes.len()` label bytes (each checked against its number
/// of classes) then the pixels of one 32×32 colour image; returns the images and label byte
/// `keep` of every record. Shared by CIFAR-10 (one label) and CIFAR-100 (coarse, fine).
pub(super) fn parse_records(
    bytes: &[u8],
    path: &Path,
    label_classes: &[usize],
    keep: usize,
) -> Result<(Images, Vec<u8>), DataError> {
    let record_bytes = label_classes.len() + CIFAR_IMAGE_BYTES;
    let found = bytes.len();
    if found == 0 || found % record_bytes != 0 {
        let records = found / record_bytes + 1;
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected_bytes: (records * record_bytes) as u64,
            found_bytes: found as u64,
        });
    }
    let n = found / record_bytes;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * CIFAR_IMAGE_BYTES);
    for (index, record) in bytes.chunks_exact(record_bytes).enumerate() {
        for (&label, &num_classes) in record.iter().zip(label_classes) {
            if usize::from(label) >= num_classes {
                return Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label,
                    num_classes,
                });
            }
        }
        labels.push(record[keep]);
        pixels.extend_from_slice(&record[label_classes.len()..]);
    }
    let images = Images {
        n,
        channels: 3,
        height: CIFAR_SIDE,
        width: CIFAR_SIDE,
        pixels,
    };
    Ok((images, labels))
}

/// Reads one CIFAR-10 batch file (`.bin` or `.bin.gz`; gzip is recognised by
/// content).
pub fn read_cifar10_batch(path: &Path) -> Result<(Images, Vec<u8>), DataError> {
    let bytes = read_maybe_gz(path)?;
    parse_cifar10(&bytes, path)
}

/// Parses the class names of `batches.meta.txt`: one name per line, label
/// `i` on line `i`; trailing empty lines are ignored. There must be exactly
/// 10 names.
pub fn parse_cifar10_meta(text: &str, path: &Path) -> Result<Vec<String>, DataError> {
    let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while names.last().is_some_and(|l| l.is_empty()) {
        names.pop();
    }
    if names.len() != CIFAR10_CLASSES {
        return Err(DataError::BadMetadata {
            path: path.to_path_buf(),
            detail: format!(
                "expected {CIFAR10_CLASSES} class names, one per line, found {}",
                names.len()
            ),
        });
    }
    if let Some(i) = names.iter().position(|n| n.is_empty()) {
        return Err(DataError::BadMetadata {
            path: path.to_path_buf(),
            detail: format!("line {} (class {i}) is empty", i + 1),
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn p() -> &'static Path {
        Path::new("data_batch_1.bin")
    }

    #[test]
    fn parses_records_in_chw_order() {
        let bytes = cifar_batch(&[3, 0, 9]);
        let (im, labels) = parse_cifar10(&bytes, p()).unwrap();
        assert_eq!(labels, vec![3, 0, 9]);
        assert_eq!((im.n, im.channels, im.height, im.width), (3, 3, 32, 32));
        assert_eq!(im.pixels.len(), 3 * 3072);
        // Record 1's pixels follow its label byte unchanged.
        assert_eq!(im.image(1), &bytes[3073 + 1..2 * 3073]);
        // First pixel of the G plane of record 2: (2 + 1024) % 256.
        assert_eq!(im.image(2)[1024], 2);
    }

    #[test]
    fn size_not_multiple_of_record() {
        let mut bytes = cifar_batch(&[1, 2]);
        bytes.pop();
        let err = parse_cifar10(&bytes, p()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected_bytes: 6146,
                    found_bytes: 6145,
                    ..
                }
            ),
            "{err:?}"
        );
        let mut bytes = cifar_batch(&[1]);
        bytes.extend([0; 10]);
        let err = parse_cifar10(&bytes, p()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected_bytes: 6146,
                    found_bytes: 3083,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("data_batch_1.bin"));
    }

    #[test]
    fn empty_file_is_truncated() {
        let err = parse_cifar10(&[], p()).unwrap_err();
        assert!(matches!(
            err,
            DataError::Truncated {
                expected_bytes: 3073,
                found_bytes: 0,
                ..
            }
        ));
    }

    #[test]
    fn label_out_of_range() {
        let bytes = cifar_batch(&[1, 2, 10, 4]);
        let err = parse_cifar10(&bytes, Path::new("test_batch.bin")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test_batch.bin: label 10 at index 2 is out of range 0..10"
        );
    }

    #[test]
    fn gzip_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = cifar_batch(&[5, 6, 7, 8, 9]);
        let pz = write(dir.path(), "data_batch_1.bin.gz", &gzip(&bytes));
        let pr = write(dir.path(), "data_batch_2.bin", &bytes);
        let a = read_cifar10_batch(&pz).unwrap();
        let b = read_cifar10_batch(&pr).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.1, vec![5, 6, 7, 8, 9]);
    }

    #[test]
    fn bad_gzip_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = gzip(&cifar_batch(&[1, 2, 3]));
        let n = gz.len();
        gz.truncate(n - 20);
        let pz = write(dir.path(), "test_batch.bin.gz", &gz);
        let err = read_cifar10_batch(&pz).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
    }

    #[test]
    fn meta_names() {
        let text = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
        let names = parse_cifar10_meta(text, Path::new("batches.meta.txt")).unwrap();
        assert_eq!(names[0], "airplane");
        assert_eq!(names[9], "truck");
        let err = parse_cifar10_meta("a\nb\n", Path::new("batches.meta.txt")).unwrap_err();
        assert!(matches!(err, DataError::BadMetadata { .. }));
        let err = parse_cifar10_meta("a\nb\n\nc\nd\ne\nf\ng\nh\ni\n", Path::new("m")).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn real_cifar_batches() {
        let Some(root) = real_data_dir() else { return };
        let dir = root.join("cifar-10");
        let (im, labels) = read_cifar10_batch(&dir.join("data_batch_1.bin.gz")).unwrap();
        assert_eq!((im.n, im.channels, im.height, im.width), (10000, 3, 32, 32));
        assert_eq!(labels.len(), 10000);
        assert_eq!(labels[..10], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
        let text = std::fs::read_to_string(dir.join("batches.meta.txt")).unwrap();
        let names = parse_cifar10_meta(&text, Path::new("batches.meta.txt")).unwrap();
        assert_eq!(names[6], "frog");
        // Only the first records of the test batch: decompress a prefix.
        use std::io::Read;
        let file = std::fs::File::open(dir.join("test_batch.bin.gz")).unwrap();
        let mut prefix = vec![0u8; 10 * CIFAR10_RECORD_BYTES];
        flate2::read::GzDecoder::new(file)
            .read_exact(&mut prefix)
            .unwrap();
        let (_, labels) = parse_cifar10(&prefix, Path::new("test_batch.bin")).unwrap();
        assert_eq!(labels, [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    }
}
