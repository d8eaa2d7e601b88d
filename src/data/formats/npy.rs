//! Reader for NumPy arrays: `.npy` files and the arrays of `.npz` archives (through the
//! `npyz` crate, whose header parser follows NumPy's).
//!
//! Accepted dtypes, either byte order: float32 and float64 (read as float32), signed and
//! unsigned integers of 1 to 8 bytes and booleans (read as int64). C and Fortran order.
//! Every array is checked against its header before anything is allocated: a truncated or
//! over-long file, a structured dtype, float16 or a scalar is an error naming the file and
//! the array.
//!
//! ```
//! use std::path::Path;
//! use grownet::data::formats::npy::parse_npy;
//! // A version-1.0 header for a 2×3 float32 array, padded to 128 bytes, then the data.
//! let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
//! let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
//! bytes.extend(((128 - 10) as u16).to_le_bytes());
//! bytes.extend(format!("{dict:<117}\n").bytes());
//! for v in 0..6 { bytes.extend((v as f32).to_le_bytes()); }
//! let x = parse_npy(&bytes, Path::new("x.npy"), "array").unwrap();
//! assert_eq!(x.size(), [2, 3]);
//! let e = parse_npy(&bytes[..144], Path::new("x.npy"), "array").unwrap_err();
//! assert_eq!(e.to_string(), "x.npy: array: truncated: the header promises 6 values of 4 bytes \
//!     (24 bytes after the header), found 16");
//! ```
use std::io::{Cursor, Read};
use std::path::Path;

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};
use tch::{Kind, Tensor};

use crate::error::DataError;

/// Reads a `.npy` file into a float32 or int64 tensor of its shape.
pub fn read_npy(path: &Path) -> Result<Tensor, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_npy(&bytes, path, "array")
}

/// Parses a `.npy` array held in memory; `path` and `at` (`array 'x'`) name it in errors.
pub fn parse_npy(bytes: &[u8], path: &Path, at: &str) -> Result<Tensor, DataError> {
    let bad = |detail: String| DataError::malformed(path, at, detail);
    let mut cursor = Cursor::new(bytes);
    let header = NpyHeader::from_reader(&mut cursor)
        .map_err(|e| bad(format!("not a NumPy array (bad .npy header: {e})")))?;
    let data = &bytes[cursor.position() as usize..];
    let DType::Plain(ty) = header.dtype() else {
        return Err(bad(format!(
            "structured dtype {}: save plain numeric arrays",
            header.dtype().descr()
        )));
    };
    let shape: Vec<u64> = header.shape().to_vec();
    if shape.is_empty() {
        return Err(bad("a scalar, not an array of samples".into()));
    }
    let size = ty.num_bytes().unwrap_or(0);
    let count = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let need = count.and_then(|c| c.checked_mul(size as u64));
    let Some(need) = need.filter(|&n| n <= isize::MAX as u64) else {
        return Err(bad(format!("the shape {shape:?} is too large")));
    };
    if (data.len() as u64) != need {
        let what = if (data.len() as u64) < need {
            "truncated"
        } else {
            "unexpected data after the array"
        };
        return Err(bad(format!(
            "{what}: the header promises {} values of {size} bytes ({need} bytes after the header), found {}",
            count.unwrap_or(0),
            data.len()
        )));
    }
    let order = header.order();
    let file = NpyFile::with_header(header, data);
    let values = read_values(file, ty.type_char(), size, &ty.to_string()).map_err(bad)?;
    Ok(arrange(values, &shape, order))
}

/// The values as a flat float32 or int64 tensor.
fn read_values(
    file: NpyFile<&[u8]>,
    kind: TypeChar,
    size: usize,
    descr: &str,
) -> Result<Tensor, String> {
    let io = |e: std::io::Error| e.to_string();
    let ints = |v: Vec<i64>| Tensor::from_slice(&v);
    let t = match (kind, size) {
        (TypeChar::Float, 4) => Tensor::from_slice(&file.into_vec::<f32>().map_err(io)?),
        (TypeChar::Float, 8) => {
            let v: Vec<f32> = file
                .into_vec::<f64>()
                .map_err(io)?
                .into_iter()
                .map(|x| x as f32)
                .collect();
            Tensor::from_slice(&v)
        }
        (TypeChar::Int, 1) => ints(
            file.into_vec::<i8>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        (TypeChar::Int, 2) => ints(
            file.into_vec::<i16>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        (TypeChar::Int, 4) => ints(
            file.into_vec::<i32>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        (TypeChar::Int, 8) => ints(file.into_vec::<i64>().map_err(io)?),
        (TypeChar::Uint, 1) => ints(
            file.into_vec::<u8>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        (TypeChar::Uint, 2) => ints(
            file.into_vec::<u16>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        (TypeChar::Uint, 4) => ints(
            file.into_vec::<u32>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        (TypeChar::Uint, 8) => {
            let v = file.into_vec::<u64>().map_err(io)?;
            let v: Result<Vec<i64>, _> = v.into_iter().map(i64::try_from).collect();
            ints(v.map_err(|_| "a uint64 value above 2^63".to_string())?)
        }
        (TypeChar::Bool, 1) => ints(
            file.into_vec::<bool>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
        ),
        _ => {
            return Err(format!(
                "dtype '{descr}' is not supported (float32/64, integers or booleans): convert it, \
                 e.g. x.astype('float32')"
            ))
        }
    };
    Ok(t)
}

/// The flat values in their shape (Fortran order: the reversed shape, transposed back).
fn arrange(values: Tensor, shape: &[u64], order: Order) -> Tensor {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    match order {
        Order::C => values.view(dims.as_slice()),
        Order::Fortran => {
            let reversed: Vec<i64> = dims.iter().rev().copied().collect();
            let back: Vec<i64> = (0..dims.len() as i64).rev().collect();
            values
                .view(reversed.as_slice())
                .permute(back.as_slice())
                .contiguous()
        }
    }
}

/// Reads the arrays `names` of an `.npz` archive (`None` for each one it lacks), with the
/// names of every array it holds.
pub fn read_npz(
    path: &Path,
    names: &[&str],
) -> Result<(Vec<Option<Tensor>>, Vec<String>), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bad = |e: std::io::Error| {
        DataError::malformed(
            path,
            "archive",
            format!("not a valid .npz (zip) archive: {e}"),
        )
    };
    let mut npz = npyz::npz::NpzArchive::new(Cursor::new(bytes)).map_err(bad)?;
    let held: Vec<String> = npz.array_names().map(str::to_string).collect();
    let mut out = Vec::new();
    for name in names {
        if !held.iter().any(|h| h == name) {
            out.push(None);
            continue;
        }
        let at = format!("array '{name}'");
        let entry = npyz::npz::file_name_from_array_name(name);
        let mut file = npz.zip_archive().by_name(&entry).map_err(|e| {
            DataError::malformed(path, &at, format!("cannot open it in the archive: {e}"))
        })?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| DataError::malformed(path, &at, format!("cannot decompress it: {e}")))?;
        out.push(Some(parse_npy(&data, path, &at)?));
    }
    Ok((out, held))
}

/// Writes a float32 or int64 tensor as `.npy` bytes (tests, examples).
pub fn npy_bytes(t: &Tensor) -> Vec<u8> {
    let (descr, size) = match t.kind() {
        Kind::Int64 => ("<i8", 8),
        _ => ("<f4", 4),
    };
    let shape: Vec<String> = t.size().iter().map(|d| d.to_string()).collect();
    let shape = if shape.len() == 1 {
        format!("{},", shape[0])
    } else {
        shape.join(", ")
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}");
    let pad = 64 - (10 + dict.len() + 1) % 64;
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(((dict.len() + pad + 1) as u16).to_le_bytes());
    bytes.extend(dict.bytes());
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    let n = t.numel();
    let mut data = vec![0u8; n * size];
    t.contiguous().copy_data_u8(&mut data, n);
    bytes.extend(data);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.npy")
    }

    #[test]
    fn round_trip_of_floats_and_integers() {
        let x = Tensor::from_slice(&[1.5f32, -2.0, 3.0, 4.0]).view([2, 2]);
        assert!(parse_npy(&npy_bytes(&x), p(), "array").unwrap().equal(&x));
        let y = Tensor::from_slice(&[3i64, 0, 7]);
        let back = parse_npy(&npy_bytes(&y), p(), "array").unwrap();
        assert_eq!(back.kind(), Kind::Int64);
        assert!(back.equal(&y));
    }

    /// A version-1.0 header (unpadded) for `descr`, order and shape.
    fn header(descr: &str, fortran: bool, shape: &str) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend(((dict.len() + 1) as u16).to_le_bytes());
        b.extend(dict.bytes());
        b.push(b'\n');
        b
    }

    #[test]
    fn other_dtypes_and_fortran_order() {
        let mut b = header("|u1", false, "(3,)");
        b.extend([1, 2, 255]);
        let t = parse_npy(&b, p(), "array").unwrap();
        assert_eq!(Vec::<i64>::try_from(&t).unwrap(), [1, 2, 255]);
        let mut b = header(">f8", true, "(2, 2)");
        for v in [1.0f64, 2.0, 3.0, 4.0] {
            b.extend(v.to_be_bytes());
        }
        let t = parse_npy(&b, p(), "array").unwrap();
        // Fortran order: column by column.
        let want = Tensor::from_slice(&[1.0f32, 3.0, 2.0, 4.0]).view([2, 2]);
        assert!(t.equal(&want), "{t}");
    }

    #[test]
    fn corrupt_arrays_are_named_errors() {
        let good = npy_bytes(&Tensor::from_slice(&[1.0f32, 2.0]));
        let e = |b: &[u8]| parse_npy(b, p(), "array 'x'").unwrap_err().to_string();
        assert!(e(&good[..5]).starts_with("x.npy: array 'x': not a NumPy array (bad .npy header"));
        assert!(e(b"hello world, not numpy").contains("not a NumPy array"));
        let mut bad_header = good.clone();
        bad_header[12..20].copy_from_slice(b"{'desc!!");
        assert!(
            e(&bad_header).contains("bad .npy header"),
            "{}",
            e(&bad_header)
        );
        let mut long = good.clone();
        long.push(0);
        assert!(
            e(&long).contains("unexpected data after the array"),
            "{}",
            e(&long)
        );
        let mut f2 = header("<f2", false, "(2,)");
        f2.extend([0; 4]);
        assert!(
            e(&f2).contains("dtype '<f2' is not supported"),
            "{}",
            e(&f2)
        );
        let mut huge = header("<f4", false, "(99999999999999,)");
        huge.extend([0; 8]);
        assert!(e(&huge).contains("truncated"), "{}", e(&huge));
        let mut overflow = header("<f8", false, "(4294967296, 4294967296)");
        overflow.extend([0; 8]);
        assert!(e(&overflow).contains("too large"), "{}", e(&overflow));
        let scalar = header("<f4", false, "()");
        assert!(e(&scalar).contains("a scalar"), "{}", e(&scalar));
        let structured = header("[('a', '<f4')]", false, "(1,)");
        assert!(
            e(&structured).contains("structured dtype")
                || e(&structured).contains("bad .npy header")
        );
    }

    #[test]
    fn npz_archives_give_their_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npz");
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        Tensor::write_npz(&[("x", &x)], &path).unwrap();
        let (arrays, held) = read_npz(&path, &["x", "y"]).unwrap();
        assert_eq!(held, ["x"]);
        assert!(arrays[0].as_ref().unwrap().equal(&x));
        assert!(arrays[1].is_none());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_npz(&path, &["x"]).unwrap_err().to_string();
        assert!(
            e.contains("d.npz: archive: not a valid .npz (zip) archive"),
            "{e}"
        );
    }
}
