//! Readers for image-classification datasets stored in their original
//! distribution formats, with or without gzip compression:
//!
//! - [`idx`]: the IDX format of MNIST, Fashion-MNIST, KMNIST, ...
//! - [`cifar`]: the CIFAR-10 binary batches; [`cifar100`]: CIFAR-100's binary files.
//! - [`csv`]: tables with a header (CSV, TSV).
//! - [`npy`]: NumPy `.npy` and `.npz`; [`safetensors`]: safetensors files.
//! - [`image_folder`]: one folder of PNG/JPEG images per class, cached as a tensor file.
//! - [`locate`]: finding a dataset's files under the data directory
//!   (`--data-dir` or `GROWNET_DATA`) and loading its train and test splits.
//!
//! Every reader validates its input and reports problems as a [`DataError`]
//! naming the file and what is wrong; none of them panics on malformed data.
//!
//! ```
//! use std::path::Path;
//! use grownet::data::formats::parse_idx_images;
//!
//! // An IDX image file: magic 0x00000803, 2 images of 2 rows × 3 columns.
//! let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
//! bytes.extend(0..12u8);
//! let images = parse_idx_images(&bytes, Path::new("example-idx3-ubyte")).unwrap();
//! assert_eq!((images.n, images.channels, images.height, images.width), (2, 1, 2, 3));
//! assert_eq!(images.image(1), &[6, 7, 8, 9, 10, 11]);
//!
//! // One byte missing: a clear error instead of a panic.
//! let err = parse_idx_images(&bytes[..27], Path::new("example-idx3-ubyte")).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "example-idx3-ubyte: file is truncated: expected 28 bytes, found 27"
//! );
//! ```

pub mod cifar;
pub mod cifar100;
pub mod csv;
pub mod idx;
pub mod image_folder;
pub mod locate;
pub mod npy;
pub mod safetensors;

use std::io::Read;
use std::path::Path;

pub use crate::error::DataError;
pub use cifar::{parse_cifar10, read_cifar10_batch};
pub use idx::{parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels};
pub use locate::{data_dir, load_image_dataset, load_test_split, LoadedSplit, DATA_DIR_ENV};

/// A batch of 8-bit images, stored row-major as `n × channels × height ×
/// width` (each image's colour planes one after the other, each plane
/// row by row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub n: usize,
    /// Colour channels per image (1 for IDX, 3 for CIFAR).
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// `n * channels * height * width` pixel values.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Number of bytes in one image (`channels * height * width`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (CHW order).
    ///
    /// # Panics
    /// If `i >= self.n`.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }
}

/// The two magic bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file, decompressing it when it is gzip data.
///
/// Gzip is recognised by the magic bytes `1f 8b` at the start of the file,
/// not by the name, so a `.gz` name on uncompressed data (or the reverse)
/// still reads correctly. Concatenated gzip members are decoded one after
/// the other, as `gunzip` does.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decompress_if_gz(raw, path)
}

/// Decompresses `bytes` when they start with the gzip magic, otherwise
/// returns them unchanged. `path` is only used in error messages.
pub fn decompress_if_gz(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    // The last four bytes of a gzip member hold the uncompressed size modulo
    // 2^32: a good capacity hint, capped by the highest ratio deflate reaches
    // so that a corrupt trailer cannot make us reserve gigabytes.
    let mut out = Vec::new();
    if bytes.len() >= 18 {
        let tail = &bytes[bytes.len() - 4..];
        let isize = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
        let cap = isize.min(bytes.len().saturating_mul(1032));
        // Only a hint: on failure the vector simply grows as needed.
        let _ = out.try_reserve_exact(cap);
    }
    // Member after member, as `gunzip` does; anything else after the last one is an error
    // of its own (zero padding excepted), not a bad header.
    let mut rest: &[u8] = &bytes;
    while !rest.is_empty() {
        if rest.len() < bytes.len() && !rest.starts_with(&GZIP_MAGIC) {
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            return Err(DataError::BadGzip {
                path: path.to_path_buf(),
                detail: format!(
                    "{} bytes of unexpected data after the end of the compressed stream (from \
                     byte {}); the file was damaged or something was appended to it",
                    rest.len(),
                    bytes.len() - rest.len()
                ),
            });
        }
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        if let Err(e) = decoder.read_to_end(&mut out) {
            let detail = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "the compressed stream ends early (is the file truncated?)".to_string()
            } else {
                e.to_string()
            };
            return Err(DataError::BadGzip {
                path: path.to_path_buf(),
                detail,
            });
        }
        rest = decoder.into_inner();
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers shared by the tests of the format readers.

    use std::io::Write;
    use std::path::Path;

    /// Gzip-compresses `bytes`.
    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Writes `bytes` to `dir/name`.
    pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// An IDX image file of `n` images of `rows × cols` with pixel `i` = `i % 251`.
    pub fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, rows, cols] {
            b.extend(d.to_be_bytes());
        }
        let len = (n * rows * cols) as usize;
        b.extend((0..len).map(|i| (i % 251) as u8));
        b
    }

    /// An IDX label file holding `labels`.
    pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 1];
        b.extend((labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    /// A CIFAR-10 batch with the given labels; pixel `j` of record `i` is
    /// `(i + j) % 256`.
    pub fn cifar_batch(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(labels.len() * 3073);
        for (i, &l) in labels.iter().enumerate() {
            b.push(l);
            b.extend((0..3072).map(|j| ((i + j) % 256) as u8));
        }
        b
    }

    /// The real data directory, or `None` (after saying so) when
    /// `GROWNET_DATA` is not set.
    pub fn real_data_dir() -> Option<std::path::PathBuf> {
        match std::env::var_os("GROWNET_DATA") {
            Some(d) if !d.is_empty() => Some(d.into()),
            _ => {
                skipped("GROWNET_DATA is not set (the real datasets)");
                None
            }
        }
    }

    /// Reports a test that could not run (visibly, and into `$GROWNET_SKIP_LOG` when set, which
    /// `./grownet.sh test` counts and lists at the end).
    pub fn skipped(why: &str) {
        let test = std::thread::current().name().unwrap_or("?").to_string();
        eprintln!("SKIPPED {test}: {why}");
        if let Some(log) = std::env::var_os("GROWNET_SKIP_LOG") {
            use std::io::Write;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log);
            if let Ok(mut f) = file {
                let _ = writeln!(f, "{test}: {why}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn raw_file_is_returned_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "raw.bin", b"hello");
        assert_eq!(read_maybe_gz(&p).unwrap(), b"hello");
    }

    #[test]
    fn gzip_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let p = write(dir.path(), "data.gz", &gzip(&data));
        assert_eq!(read_maybe_gz(&p).unwrap(), data);
    }

    #[test]
    fn gzip_detected_by_magic_not_name() {
        let dir = tempfile::tempdir().unwrap();
        // Gzip content without a .gz name.
        let p = write(dir.path(), "data.bin", &gzip(b"abc"));
        assert_eq!(read_maybe_gz(&p).unwrap(), b"abc");
        // A .gz name on plain content.
        let p = write(dir.path(), "plain.gz", b"not compressed");
        assert_eq!(read_maybe_gz(&p).unwrap(), b"not compressed");
    }

    #[test]
    fn empty_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "empty", b"");
        assert!(read_maybe_gz(&p).unwrap().is_empty());
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut bytes = gzip(b"first ");
        bytes.extend(gzip(b"second"));
        let out = decompress_if_gz(bytes, Path::new("x.gz")).unwrap();
        assert_eq!(out, b"first second");
    }

    #[test]
    fn junk_after_the_stream_is_named_as_such() {
        let mut bytes = gzip(b"good data");
        let end = bytes.len();
        bytes.extend(b"junk appended");
        let err = decompress_if_gz(bytes, Path::new("j.gz")).unwrap_err();
        let s = err.to_string();
        assert!(
            s.contains(&format!("13 bytes of unexpected data after the end of the compressed stream (from byte {end})")),
            "{s}"
        );
        // Zero padding after the stream is ignored.
        let mut bytes = gzip(b"good data");
        bytes.extend([0; 100]);
        assert_eq!(
            decompress_if_gz(bytes, Path::new("z.gz")).unwrap(),
            b"good data"
        );
    }

    #[test]
    fn gzip_header_then_garbage_is_bad_gzip() {
        let mut bytes = gzip(b"some data that compresses somehow");
        bytes.truncate(10); // keep the 10-byte header
        bytes.extend([0xff; 40]);
        let err = decompress_if_gz(bytes, Path::new("broken.gz")).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
        assert!(err.to_string().starts_with("broken.gz: corrupt gzip data"));
    }

    #[test]
    fn truncated_gzip_is_bad_gzip() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 13) as u8).collect();
        let mut bytes = gzip(&data);
        bytes.truncate(bytes.len() / 2);
        let err = decompress_if_gz(bytes, Path::new("half.gz")).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
    }

    #[test]
    fn gzip_magic_only_is_bad_gzip() {
        let err = decompress_if_gz(vec![0x1f, 0x8b], Path::new("m.gz")).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
    }

    #[test]
    fn corrupt_crc_is_bad_gzip() {
        let mut bytes = gzip(b"checksummed content");
        let n = bytes.len();
        bytes[n - 8] ^= 0xff; // CRC32 of the trailer
        let err = decompress_if_gz(bytes, Path::new("crc.gz")).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
    }

    #[test]
    fn missing_file_is_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope.gz");
        let err = read_maybe_gz(&p).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("nope.gz"));
    }

    #[test]
    fn image_accessor() {
        let images = Images {
            n: 2,
            channels: 1,
            height: 1,
            width: 2,
            pixels: vec![1, 2, 3, 4],
        };
        assert_eq!(images.image_len(), 2);
        assert_eq!(images.image(1), &[3, 4]);
    }
}
