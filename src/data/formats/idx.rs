//! Reader for the IDX format used by MNIST and similar datasets
//! (Fashion-MNIST, KMNIST, ...).
//!
//! An IDX file is a header followed by the data; all header integers are
//! 32-bit big-endian. The magic number is `0x00 0x00 <type> <ndims>`, where
//! type `0x08` means unsigned bytes, followed by `ndims` dimension sizes:
//!
//! - image files: magic `0x00000803`, then `n`, `rows`, `cols`, then
//!   `n * rows * cols` pixels, image after image, row-major;
//! - label files: magic `0x00000801`, then `n`, then `n` labels.
//!
//! Files may be gzip-compressed (recognised by content, see
//! [`read_maybe_gz`]). The size must match the header exactly: missing bytes
//! are [`DataError::Truncated`], extra bytes [`DataError::TrailingBytes`].

use std::path::Path;

use super::{read_maybe_gz, Images};
use crate::error::DataError;

/// IDX type code for unsigned bytes.
const TYPE_U8: u8 = 0x08;

/// Checks an IDX header with `N` dimensions and that the data size matches
/// it. Returns the dimension sizes; the data starts at byte `4 + 4 * N`.
fn check_idx<const N: usize>(bytes: &[u8], path: &Path) -> Result<[usize; N], DataError> {
    let header_len = 4 + 4 * N;
    let truncated = |expected: u64| DataError::Truncated {
        path: path.to_path_buf(),
        expected_bytes: expected,
        found_bytes: bytes.len() as u64,
    };
    if bytes.len() < 4 {
        return Err(truncated(header_len as u64));
    }
    let expected_magic = u32::from_be_bytes([0, 0, TYPE_U8, N as u8]);
    let found_magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[..3] != [0, 0, TYPE_U8] {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: expected_magic,
            found: found_magic,
        });
    }
    let ndims = bytes[3] as usize;
    if ndims != N {
        let what = match N {
            1 => "a label file has 1 dimension (n)",
            _ => "an image file has 3 dimensions (n, rows, cols)",
        };
        let guess = match ndims {
            1 => "; is this a label file?",
            3 => "; is this an image file?",
            _ => "",
        };
        return Err(DataError::BadDimensions {
            path: path.to_path_buf(),
            detail: format!("the IDX header declares {ndims} dimension(s), but {what}{guess}"),
        });
    }
    if bytes.len() < header_len {
        return Err(truncated(header_len as u64));
    }
    let mut dims = [0usize; N];
    let mut data_len: u64 = 1;
    for (k, dim) in dims.iter_mut().enumerate() {
        let o = 4 + 4 * k;
        let d = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        // u32 -> usize cannot fail on the 32- and 64-bit targets we support,
        // but stay panic-free regardless.
        *dim = usize::try_from(d).map_err(|_| DataError::BadDimensions {
            path: path.to_path_buf(),
            detail: format!("dimension {d} is too large for this platform"),
        })?;
        // A product of three u32 may overflow u64 only in theory; in any
        // case such a file cannot match its header.
        data_len = data_len
            .checked_mul(u64::from(d))
            .ok_or_else(|| DataError::BadDimensions {
                path: path.to_path_buf(),
                detail: "the declared size overflows".to_string(),
            })?;
    }
    if N == 3 && (dims[1] == 0 || dims[2] == 0) {
        return Err(DataError::BadDimensions {
            path: path.to_path_buf(),
            detail: format!("images of {} rows × {} columns", dims[1], dims[2]),
        });
    }
    let expected =
        (header_len as u64)
            .checked_add(data_len)
            .ok_or_else(|| DataError::BadDimensions {
                path: path.to_path_buf(),
                detail: "the declared size overflows".to_string(),
            })?;
    let found = bytes.len() as u64;
    if found < expected {
        return Err(truncated(expected));
    }
    if found > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected_bytes: expected,
            found_bytes: found,
        });
    }
    Ok(dims)
}

/// Parses an IDX image file held in memory (already decompressed).
/// `path` is only used in error messages. The images get `channels = 1`.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<Images, DataError> {
    let [n, height, width] = check_idx::<3>(bytes, path)?;
    Ok(Images {
        n,
        channels: 1,
        height,
        width,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses an IDX label file held in memory (already decompressed) and checks
/// that every label is below `num_classes`. `path` is only used in error
/// messages.
pub fn parse_idx_labels(bytes: &[u8], path: &Path, num_classes: u8) -> Result<Vec<u8>, DataError> {
    check_idx::<1>(bytes, path)?;
    let labels = &bytes[8..];
    check_labels(labels, usize::from(num_classes), path)?;
    Ok(labels.to_vec())
}

/// Reads an IDX image file, raw or gzip-compressed.
pub fn read_idx_images(path: &Path) -> Result<Images, DataError> {
    let mut bytes = read_maybe_gz(path)?;
    let [n, height, width] = check_idx::<3>(&bytes, path)?;
    // Reuse the buffer rather than copying tens of megabytes.
    bytes.drain(..16);
    Ok(Images {
        n,
        channels: 1,
        height,
        width,
        pixels: bytes,
    })
}

/// Reads an IDX label file, raw or gzip-compressed, and checks that every
/// label is below `num_classes`.
pub fn read_idx_labels(path: &Path, num_classes: u8) -> Result<Vec<u8>, DataError> {
    let labels = read_idx_labels_unchecked(path)?;
    check_labels(&labels, usize::from(num_classes), path)?;
    Ok(labels)
}

/// Reads an IDX label file without checking the label values (for datasets
/// whose number of classes is not known in advance).
pub(super) fn read_idx_labels_unchecked(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut bytes = read_maybe_gz(path)?;
    check_idx::<1>(&bytes, path)?;
    bytes.drain(..8);
    Ok(bytes)
}

/// Checks that every label is below `num_classes`; the error names the
/// first one that is not.
pub(super) fn check_labels(
    labels: &[u8],
    num_classes: usize,
    path: &Path,
) -> Result<(), DataError> {
    match labels.iter().position(|&l| usize::from(l) >= num_classes) {
        None => Ok(()),
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            num_classes,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn p() -> &'static Path {
        Path::new("test-idx")
    }

    #[test]
    fn parses_valid_images() {
        let bytes = idx_images(3, 2, 4);
        let im = parse_idx_images(&bytes, p()).unwrap();
        assert_eq!((im.n, im.channels, im.height, im.width), (3, 1, 2, 4));
        assert_eq!(im.pixels.len(), 24);
        assert_eq!(im.pixels, bytes[16..]);
        assert_eq!(im.image(2), &bytes[16 + 16..16 + 24]);
    }

    #[test]
    fn parses_valid_labels() {
        let bytes = idx_labels(&[0, 9, 3, 3]);
        assert_eq!(parse_idx_labels(&bytes, p(), 10).unwrap(), vec![0, 9, 3, 3]);
    }

    #[test]
    fn zero_images_is_fine() {
        let im = parse_idx_images(&idx_images(0, 28, 28), p()).unwrap();
        assert_eq!(im.n, 0);
        assert!(im.pixels.is_empty());
        assert!(parse_idx_labels(&idx_labels(&[]), p(), 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn wrong_magic() {
        let mut bytes = idx_images(1, 2, 2);
        bytes[0] = 0x12;
        let err = parse_idx_images(&bytes, p()).unwrap_err();
        match err {
            DataError::BadMagic {
                expected, found, ..
            } => {
                assert_eq!(expected, 0x0000_0803);
                assert_eq!(found, 0x1200_0803);
            }
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn wrong_type_byte() {
        let mut bytes = idx_labels(&[1, 2]);
        bytes[2] = 0x0d; // float
        let err = parse_idx_labels(&bytes, p(), 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    found: 0x0000_0d01,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("0x00000801"), "{err}");
    }

    #[test]
    fn labels_given_as_images_is_wrong_ndims() {
        let err = parse_idx_images(&idx_labels(&[1, 2, 3]), p()).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
        assert!(err.to_string().contains("label file"), "{err}");
    }

    #[test]
    fn images_given_as_labels_is_wrong_ndims() {
        let err = parse_idx_labels(&idx_images(1, 2, 2), p(), 10).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
        assert!(err.to_string().contains("image file"), "{err}");
    }

    #[test]
    fn truncated_header() {
        let bytes = idx_images(1, 2, 2);
        for cut in [0, 2, 4, 10, 15] {
            let err = parse_idx_images(&bytes[..cut], p()).unwrap_err();
            match err {
                DataError::Truncated {
                    expected_bytes,
                    found_bytes,
                    ..
                } => {
                    assert_eq!(expected_bytes, 16, "cut {cut}");
                    assert_eq!(found_bytes, cut as u64);
                }
                e => panic!("cut {cut}: unexpected {e:?}"),
            }
        }
        let err = parse_idx_labels(&idx_labels(&[1])[..6], p(), 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected_bytes: 8,
                    found_bytes: 6,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_data() {
        let bytes = idx_images(3, 4, 5);
        let err = parse_idx_images(&bytes[..bytes.len() - 7], p()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected_bytes: 76,
                    found_bytes: 69,
                    ..
                }
            ),
            "{err:?}"
        );
        let labels = idx_labels(&[1, 2, 3]);
        let err = parse_idx_labels(&labels[..10], p(), 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected_bytes: 11,
                    found_bytes: 10,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn trailing_bytes() {
        let mut bytes = idx_images(1, 2, 2);
        bytes.push(0);
        let err = parse_idx_images(&bytes, p()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TrailingBytes {
                    expected_bytes: 20,
                    found_bytes: 21,
                    ..
                }
            ),
            "{err:?}"
        );
        let mut labels = idx_labels(&[1]);
        labels.extend(b"junk");
        let err = parse_idx_labels(&labels, p(), 10).unwrap_err();
        assert!(matches!(err, DataError::TrailingBytes { .. }), "{err:?}");
    }

    #[test]
    fn zero_sized_images_rejected() {
        let err = parse_idx_images(&idx_images(5, 0, 28), p()).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
    }

    #[test]
    fn huge_dimensions_do_not_panic() {
        let mut bytes = vec![0, 0, 8, 3];
        for _ in 0..3 {
            bytes.extend(u32::MAX.to_be_bytes());
        }
        let err = parse_idx_images(&bytes, p()).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err:?}");
        let mut bytes = vec![0, 0, 8, 3];
        for d in [60000u32, 28, 28] {
            bytes.extend(d.to_be_bytes());
        }
        let err = parse_idx_images(&bytes, p()).unwrap_err();
        assert!(matches!(
            err,
            DataError::Truncated {
                expected_bytes: 47_040_016,
                ..
            }
        ));
    }

    #[test]
    fn label_out_of_range() {
        let bytes = idx_labels(&[7, 2, 1, 0, 4, 12, 3]);
        let err = parse_idx_labels(&bytes, Path::new("t10k-labels-idx1-ubyte.gz"), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t10k-labels-idx1-ubyte.gz: label 12 at index 5 is out of range 0..10"
        );
    }

    #[test]
    fn gzip_round_trip_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let images = idx_images(4, 3, 3);
        let labels = idx_labels(&[0, 1, 2, 1]);
        let pi = write(dir.path(), "train-images-idx3-ubyte.gz", &gzip(&images));
        let pl = write(dir.path(), "train-labels-idx1-ubyte.gz", &gzip(&labels));
        let im = read_idx_images(&pi).unwrap();
        assert_eq!(im, parse_idx_images(&images, &pi).unwrap());
        assert_eq!(read_idx_labels(&pl, 3).unwrap(), vec![0, 1, 2, 1]);
        let err = read_idx_labels(&pl, 2).unwrap_err();
        assert!(matches!(
            err,
            DataError::LabelOutOfRange {
                index: 2,
                label: 2,
                ..
            }
        ));
        // Same data uncompressed.
        let pi = write(dir.path(), "raw-images", &images);
        assert_eq!(read_idx_images(&pi).unwrap(), im);
    }

    #[test]
    fn gz_name_with_plain_content() {
        let dir = tempfile::tempdir().unwrap();
        let pl = write(dir.path(), "labels.gz", &idx_labels(&[4, 4]));
        assert_eq!(read_idx_labels(&pl, 10).unwrap(), vec![4, 4]);
    }

    #[test]
    fn bad_gzip_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = gzip(&idx_images(2, 2, 2));
        bytes.truncate(10);
        bytes.extend([0xAB; 30]);
        let pi = write(dir.path(), "images.gz", &bytes);
        let err = read_idx_images(&pi).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
        assert!(err.to_string().contains("images.gz"));
    }

    #[test]
    fn real_mnist() {
        let Some(root) = real_data_dir() else { return };
        let dir = root.join("mnist");
        let train = read_idx_images(&dir.join("train-images-idx3-ubyte.gz")).unwrap();
        assert_eq!(
            (train.n, train.channels, train.height, train.width),
            (60000, 1, 28, 28)
        );
        assert_eq!(train.pixels.len(), 60000 * 784);
        let train_labels = read_idx_labels(&dir.join("train-labels-idx1-ubyte.gz"), 10).unwrap();
        assert_eq!(train_labels.len(), 60000);
        assert_eq!(train_labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        let test = read_idx_images(&dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
        assert_eq!((test.n, test.height, test.width), (10000, 28, 28));
        let test_labels = read_idx_labels(&dir.join("t10k-labels-idx1-ubyte.gz"), 10).unwrap();
        assert_eq!(test_labels.len(), 10000);
        assert_eq!(test_labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        // Borders are background, the centre has ink.
        let first = train.image(0);
        assert_eq!(first[0], 0);
        assert!(first.contains(&255));
    }
}
