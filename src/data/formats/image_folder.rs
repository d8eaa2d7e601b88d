//! Reader for folders of images, one folder per class (torchvision's `ImageFolder` layout):
//! `ROOT/<class>/**/*.png|jpg|jpeg` (any case; other files are skipped, and so are folders
//! and files whose name starts with a dot). Classes are the folder names in sorted order.
//!
//! Every image is decoded (PNG or JPEG, through the `image` crate), converted to RGB and
//! brought to `size` × `size`: [`ImageFit::Crop`] scales the shorter side to `size` and cuts
//! out the centre, [`ImageFit::Resize`] scales both sides. The result is cached in
//! `ROOT/.grownet-cache/images-<size>-<fit>-<fingerprint>.safetensors`, the fingerprint
//! covering every file's path, size and modification time: a later run with the same
//! files reads the cache instead of decoding, and any change makes a new one. A cache that
//! cannot be written (read-only folder) only costs the decoding next time.
//!
//! ```
//! use grownet::data::formats::image_folder::read_image_folder;
//! use grownet::data::ImageFit;
//! let root = tempfile::tempdir().unwrap();
//! for (class, shade) in [("cats", 10u8), ("dogs", 200)] {
//!     std::fs::create_dir(root.path().join(class)).unwrap();
//!     let img = image::RgbImage::from_pixel(8, 6, image::Rgb([shade, shade, shade]));
//!     img.save(root.path().join(class).join("a.png")).unwrap();
//! }
//! let set = read_image_folder(root.path(), 4, ImageFit::Crop, None).unwrap();
//! assert_eq!((set.images.n, set.images.height, set.labels.clone()), (2, 4, vec![0, 1]));
//! assert_eq!(set.classes, ["cats", "dogs"]);
//! assert!(!set.from_cache);
//! assert!(read_image_folder(root.path(), 4, ImageFit::Crop, None).unwrap().from_cache);
//! ```
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use tch::{Kind, Tensor};

use super::Images;
use crate::data::choices::ImageFit;
use crate::error::DataError;

/// The cache folder inside an image folder.
pub const CACHE_DIR: &str = ".grownet-cache";

/// An image folder read and resized.
#[derive(Debug)]
pub struct ImageFolder {
    /// RGB images, `size` × `size`.
    pub images: Images,
    /// Class index of every image.
    pub labels: Vec<i64>,
    /// Class names (folder names), label `i` being `classes[i]`.
    pub classes: Vec<String>,
    /// Whether the images came from the cache.
    pub from_cache: bool,
}

/// Reads the images under `root`. `classes`: the training folder's classes, when this is a
/// test folder (its class folders must be among them).
pub fn read_image_folder(
    root: &Path,
    size: usize,
    fit: ImageFit,
    classes: Option<&[String]>,
) -> Result<ImageFolder, DataError> {
    let (files, names) = list(root)?;
    let classes: Vec<String> = classes.map_or(names.clone(), <[String]>::to_vec);
    let mut labels = Vec::with_capacity(files.len());
    for (_, class) in &files {
        let Some(label) = classes.iter().position(|c| c == &names[*class]) else {
            return Err(DataError::malformed(
                &root.join(&names[*class]),
                "class folder",
                format!(
                    "not a class of the training folder ({})",
                    classes.join(", ")
                ),
            ));
        };
        labels.push(label as i64);
    }
    let cache = cache_path(root, size, fit, &files)?;
    if let Some(images) = read_cache(&cache, files.len(), size) {
        return Ok(ImageFolder {
            images,
            labels,
            classes,
            from_cache: true,
        });
    }
    let images = decode_all(&files, size, fit)?;
    write_cache(&cache, &images);
    Ok(ImageFolder {
        images,
        labels,
        classes,
        from_cache: false,
    })
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn is_image(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

/// Sorted entries of a folder.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let read = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in read {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if !hidden(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Every image file under `dir`, recursively, sorted.
fn images_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for path in entries(dir)? {
        if path.is_dir() {
            images_under(&path, out)?;
        } else if is_image(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The image files with their class index, and the class names.
#[allow(clippy::type_complexity)]
fn list(root: &Path) -> Result<(Vec<(PathBuf, usize)>, Vec<String>), DataError> {
    if !root.is_dir() {
        return Err(DataError::malformed(
            root,
            "folder",
            "not a folder of class folders",
        ));
    }
    let dirs: Vec<PathBuf> = entries(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if dirs.len() < 2 {
        return Err(DataError::malformed(
            root,
            "folder",
            format!(
                "{} class folder(s): expected one folder per class (at least 2), each holding \
                 its PNG/JPEG images",
                dirs.len()
            ),
        ));
    }
    let mut files = Vec::new();
    let mut names = Vec::new();
    for (class, dir) in dirs.iter().enumerate() {
        let mut found = Vec::new();
        images_under(dir, &mut found)?;
        if found.is_empty() {
            return Err(DataError::malformed(
                dir,
                "class folder",
                "holds no .png, .jpg or .jpeg image",
            ));
        }
        names.push(
            dir.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        );
        files.extend(found.into_iter().map(|p| (p, class)));
    }
    Ok((files, names))
}

/// The cache file for these files at this size: a CRC-32 of every file's path relative to
/// the root, size and modification time.
fn cache_path(
    root: &Path,
    size: usize,
    fit: ImageFit,
    files: &[(PathBuf, usize)],
) -> Result<PathBuf, DataError> {
    let mut hash = crc32fast::Hasher::new();
    for (path, class) in files {
        let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let rel = path.strip_prefix(root).unwrap_or(path);
        let line = format!(
            "{}\t{class}\t{}\t{}\n",
            rel.display(),
            meta.len(),
            mtime.map_or(0, |d| d.as_nanos())
        );
        hash.update(line.as_bytes());
    }
    let fit = match fit {
        ImageFit::Crop => "crop",
        ImageFit::Resize => "resize",
    };
    let name = format!(
        "images-{size}-{fit}-{:08x}-{}.safetensors",
        hash.finalize(),
        files.len()
    );
    Ok(root.join(CACHE_DIR).join(name))
}

/// The cached images, when the cache is there and whole (anything else: decode again).
fn read_cache(path: &Path, n: usize, size: usize) -> Option<Images> {
    let tensors = Tensor::read_safetensors(path).ok()?;
    let (_, t) = tensors.into_iter().find(|(name, _)| name == "images")?;
    if t.size() != [n as i64, 3, size as i64, size as i64] || t.kind() != Kind::Uint8 {
        return None;
    }
    let pixels = Vec::<u8>::try_from(&t.flatten(0, -1)).ok()?;
    Some(Images {
        n,
        channels: 3,
        height: size,
        width: size,
        pixels,
    })
}

/// Writes the cache atomically; a failure is only reported.
fn write_cache(path: &Path, images: &Images) {
    let t = Tensor::from_slice(&images.pixels).view([
        images.n as i64,
        3,
        images.height as i64,
        images.width as i64,
    ]);
    let tmp = path.with_extension("tmp");
    let result = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            Tensor::write_safetensors(&[("images", &t)], &tmp).map_err(|e| e.to_string())
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if let Err(e) = result {
        eprintln!(
            "warning: could not cache the decoded images in {}: {e}",
            path.display()
        );
    }
}

/// Decodes every image (one thread per core), CHW order.
fn decode_all(files: &[(PathBuf, usize)], size: usize, fit: ImageFit) -> Result<Images, DataError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len())
        .max(1);
    let chunk = files.len().div_ceil(threads);
    let parts: Vec<Result<Vec<u8>, DataError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || decode_part(part, size, fit)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut pixels = Vec::with_capacity(files.len() * 3 * size * size);
    for part in parts {
        pixels.extend(part?);
    }
    Ok(Images {
        n: files.len(),
        channels: 3,
        height: size,
        width: size,
        pixels,
    })
}

fn decode_part(
    files: &[(PathBuf, usize)],
    size: usize,
    fit: ImageFit,
) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::with_capacity(files.len() * 3 * size * size);
    for (path, _) in files {
        out.extend(decode(path, size, fit)?);
    }
    Ok(out)
}

/// One image, decoded, fitted to `size` × `size`, as CHW bytes.
pub fn decode(path: &Path, size: usize, fit: ImageFit) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| DataError::malformed(path, "image", format!("cannot decode it: {e}")))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let s = size as u32;
    let img = match fit {
        ImageFit::Resize => imageops::resize(&img, s, s, FilterType::Triangle),
        ImageFit::Crop => {
            let scale = f64::from(s) / f64::from(w.min(h));
            let sw = ((f64::from(w) * scale).round() as u32).max(s);
            let sh = ((f64::from(h) * scale).round() as u32).max(s);
            let scaled = imageops::resize(&img, sw, sh, FilterType::Triangle);
            imageops::crop_imm(&scaled, (sw - s) / 2, (sh - s) / 2, s, s).to_image()
        }
    };
    let plane = size * size;
    let mut chw = vec![0u8; 3 * plane];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px.0[c];
        }
    }
    Ok(chw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(dir: &Path, name: &str, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
        std::fs::create_dir_all(dir).unwrap();
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)))
            .save(dir.join(name))
            .unwrap();
    }

    #[test]
    fn crop_keeps_the_centre_and_resize_the_whole() {
        let root = tempfile::tempdir().unwrap();
        // 6×2: left third red, middle green, right blue.
        let third = |x: u32, _| match x / 2 {
            0 => [255, 0, 0],
            1 => [0, 255, 0],
            _ => [0, 0, 255],
        };
        save(root.path(), "a.png", 6, 2, third);
        let crop = decode(&root.path().join("a.png"), 2, ImageFit::Crop).unwrap();
        assert_eq!(crop, [0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0]);
        let resize = decode(&root.path().join("a.png"), 2, ImageFit::Resize).unwrap();
        assert!(resize[0] > 100 && resize[8 + 1] > 100, "{resize:?}");
    }

    #[test]
    fn jpeg_and_nested_folders_are_read() {
        let root = tempfile::tempdir().unwrap();
        save(&root.path().join("b/deep"), "x.JPG", 5, 5, |_, _| [9, 9, 9]);
        save(&root.path().join("a"), "y.png", 3, 3, |_, _| [1, 2, 3]);
        std::fs::write(root.path().join("a/notes.txt"), "skipped").unwrap();
        let set = read_image_folder(root.path(), 3, ImageFit::Resize, None).unwrap();
        assert_eq!(
            (set.labels, set.classes),
            (vec![0, 1], vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(set.images.image(0)[..3], [1, 1, 1]);
        // A test folder's classes map to the training folder's.
        let test = tempfile::tempdir().unwrap();
        save(&test.path().join("b"), "z.png", 3, 3, |_, _| [0, 0, 0]);
        save(&test.path().join("a"), "z.png", 3, 3, |_, _| [0, 0, 0]);
        let classes = ["a".to_string(), "b".to_string(), "c".to_string()];
        let t = read_image_folder(test.path(), 3, ImageFit::Resize, Some(&classes)).unwrap();
        assert_eq!(t.labels, [0, 1]);
        let e =
            read_image_folder(test.path(), 3, ImageFit::Resize, Some(&classes[1..])).unwrap_err();
        assert!(
            e.to_string()
                .contains("class folder: not a class of the training folder (b, c)"),
            "{e}"
        );
    }

    #[test]
    fn bad_folders_and_images_are_named() {
        let root = tempfile::tempdir().unwrap();
        save(&root.path().join("a"), "y.png", 3, 3, |_, _| [1, 2, 3]);
        let e = read_image_folder(root.path(), 3, ImageFit::Crop, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 class folder(s)"), "{e}");
        std::fs::create_dir(root.path().join("empty")).unwrap();
        let e = read_image_folder(root.path(), 3, ImageFit::Crop, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("empty: class folder: holds no .png, .jpg or .jpeg image"),
            "{e}"
        );
        std::fs::write(
            root.path().join("empty/broken.png"),
            b"\x89PNG\r\n\x1a\nnot really",
        )
        .unwrap();
        let e = read_image_folder(root.path(), 3, ImageFit::Crop, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("broken.png: image: cannot decode it"), "{e}");
        let e = read_image_folder(&root.path().join("nope"), 3, ImageFit::Crop, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("nope: folder: not a folder of class folders"),
            "{e}"
        );
    }

    #[test]
    fn a_changed_file_or_a_corrupt_cache_decodes_again() {
        let root = tempfile::tempdir().unwrap();
        save(&root.path().join("a"), "y.png", 3, 3, |_, _| [1, 2, 3]);
        save(&root.path().join("b"), "y.png", 3, 3, |_, _| [4, 5, 6]);
        let first = read_image_folder(root.path(), 2, ImageFit::Crop, None).unwrap();
        let cached = read_image_folder(root.path(), 2, ImageFit::Crop, None).unwrap();
        assert!(cached.from_cache && cached.images == first.images);
        for entry in std::fs::read_dir(root.path().join(CACHE_DIR)).unwrap() {
            std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
        }
        let again = read_image_folder(root.path(), 2, ImageFit::Crop, None).unwrap();
        assert!(!again.from_cache && again.images == first.images);
        save(&root.path().join("b"), "z.png", 3, 3, |_, _| [7, 8, 9]);
        let grown = read_image_folder(root.path(), 2, ImageFit::Crop, None).unwrap();
        assert!(!grown.from_cache && grown.images.n == 3);
    }
}
