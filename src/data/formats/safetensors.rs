//! Reader for arrays in a safetensors file (what `safetensors.torch.save_file` and
//! `safetensors.numpy.save_file` write), through the `safetensors` crate, which checks the
//! header and every tensor's extent before anything is read.
//!
//! Accepted dtypes: F16, BF16, F32, F64 (read as float32); I8 to I64, U8 and BOOL
//! (read as int64).
//!
//! ```
//! use std::path::Path;
//! use grownet::data::formats::safetensors::parse_safetensors;
//! let x = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("d.safetensors");
//! tch::Tensor::write_safetensors(&[("x", &x)], &path).unwrap();
//! let bytes = std::fs::read(&path).unwrap();
//! let (arrays, held) = parse_safetensors(&bytes, &path, &["x", "y"]).unwrap();
//! assert!(arrays[0].as_ref().unwrap().equal(&x) && arrays[1].is_none());
//! assert_eq!(held, ["x"]);
//! let e = parse_safetensors(&bytes[..20], Path::new("d.safetensors"), &["x"]).unwrap_err();
//! assert!(e.to_string().starts_with("d.safetensors: file: not a valid safetensors file"), "{e}");
//! ```
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

use crate::error::DataError;

/// Reads the arrays `names` of a safetensors file (`None` for each one it lacks), with the
/// names of every tensor it holds.
pub fn read_safetensors(
    path: &Path,
    names: &[&str],
) -> Result<(Vec<Option<Tensor>>, Vec<String>), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_safetensors(&bytes, path, names)
}

/// [`read_safetensors`] of bytes in memory; `path` names them in errors.
pub fn parse_safetensors(
    bytes: &[u8],
    path: &Path,
    names: &[&str],
) -> Result<(Vec<Option<Tensor>>, Vec<String>), DataError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| {
        DataError::malformed(path, "file", format!("not a valid safetensors file: {e}"))
    })?;
    let mut held: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    held.sort();
    let mut out = Vec::new();
    for name in names {
        let Ok(view) = file.tensor(name) else {
            out.push(None);
            continue;
        };
        let at = format!("array '{name}'");
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        if shape.is_empty() {
            return Err(DataError::malformed(
                path,
                at,
                "a scalar, not an array of samples",
            ));
        }
        let t = to_tensor(view.data(), &shape, view.dtype())
            .map_err(|detail| DataError::malformed(path, at, detail))?;
        out.push(Some(t));
    }
    Ok((out, held))
}

/// The data as a float32 or int64 tensor of `shape`.
fn to_tensor(data: &[u8], shape: &[i64], dtype: Dtype) -> Result<Tensor, String> {
    let kind = match dtype {
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        other => {
            return Err(format!(
                "dtype {other:?} is not supported (floats, signed integers, U8, \
                 booleans)"
            ))
        }
    };
    let t = Tensor::f_from_data_size(data, shape, kind).map_err(|e| e.to_string())?;
    let float = matches!(
        kind,
        Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double
    );
    Ok(t.to_kind(if float { Kind::Float } else { Kind::Int64 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_are_read_as_float_or_int64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        let x = Tensor::from_slice(&[1.0f64, 2.5]).view([2, 1]);
        let y = Tensor::from_slice(&[1u8, 0]);
        Tensor::write_safetensors(&[("x", &x), ("y", &y)], &path).unwrap();
        let (arrays, _) = read_safetensors(&path, &["x", "y"]).unwrap();
        let (a, b) = (arrays[0].as_ref().unwrap(), arrays[1].as_ref().unwrap());
        assert_eq!((a.kind(), b.kind()), (Kind::Float, Kind::Int64));
        assert_eq!(Vec::<i64>::try_from(b).unwrap(), [1, 0]);
    }

    #[test]
    fn corrupt_files_are_named_errors() {
        let p = Path::new("d.safetensors");
        let e = |b: &[u8]| parse_safetensors(b, p, &["x"]).unwrap_err().to_string();
        assert!(
            e(b"").contains("not a valid safetensors file"),
            "{}",
            e(b"")
        );
        let mut junk = 16u64.to_le_bytes().to_vec();
        junk.extend(b"{not json}      ");
        assert!(
            e(&junk).contains("not a valid safetensors file"),
            "{}",
            e(&junk)
        );
        // A header promising more data than the file holds.
        let header = br#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let mut short = (header.len() as u64).to_le_bytes().to_vec();
        short.extend(header);
        short.extend([0; 8]);
        assert!(
            e(&short).contains("not a valid safetensors file"),
            "{}",
            e(&short)
        );
    }
}
