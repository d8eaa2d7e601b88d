//! A grown network for PyTorch: `grownet export RUN --to DIR` writes `DIR/model.py` (the
//! architecture as a plain `torch.nn.Module`, [`pytorch`]), `DIR/model.safetensors` (its
//! weights and BatchNorm buffers under the module's `state_dict` names, [`weights`]) and
//! `DIR/README.md` (how to use them, [`note`]); with [`Format::Onnx`], also `DIR/model.onnx`
//! through torch's exporter ([`onnx`]). Nothing of grownet is needed to use them: `model.py`
//! reads the safetensors file with torch alone.
//!
//! ```
//! use grownet::checkpoint::{self, CheckpointMeta};
//! use grownet::export::{self, Format, Options};
//! use grownet::nn::{Activation, Architecture, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use rand::SeedableRng;
//! let arch = Architecture::mlp(2, &[3], 2, Activation::Rational);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), tch::Device::Cpu).unwrap();
//! let run = tempfile::tempdir().unwrap();
//! let meta = CheckpointMeta::new(&net, Default::default(), 1, 10, 10, 0.5);
//! let ckpt = run.path().join("checkpoint.safetensors");
//! checkpoint::save(&ckpt, &net, &Optimizer::new(OptimizerConfig::sgd(0.9)), &meta).unwrap();
//! let to = run.path().join("export");
//! let done = export::export(&export::checkpoint_in(run.path(), None).unwrap(), &to, &Options::default()).unwrap();
//! assert_eq!(done.files.len(), 3);
//! let py = std::fs::read_to_string(to.join("model.py")).unwrap();
//! assert!(py.contains("Stage(nn.Linear(2, 3), act=Rational(3))"));
//! // A second export into the same folder is refused unless forced.
//! assert!(export::export(&ckpt, &to, &Options::default()).is_err());
//! assert!(export::export(&ckpt, &to, &Options { force: true, format: Format::Pytorch }).is_ok());
//! ```
pub mod note;
pub mod onnx;
pub mod pytorch;
mod target;
pub mod torch_env;
pub mod weights;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::checkpoint::{self, CheckpointMeta};
use crate::error::{Error, Result};
use crate::train::CHECKPOINT_FILE;

/// What to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `model.py`, `model.safetensors`, `README.md`.
    #[default]
    Pytorch,
    /// The same, and `model.onnx`.
    Onnx,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "pytorch" | "torch" => Ok(Format::Pytorch),
            "onnx" => Ok(Format::Onnx),
            _ => Err(format!("unknown format '{s}': expected pytorch or onnx")),
        }
    }
}

/// How to export.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub format: Format,
    /// Write into a folder that already holds files.
    pub force: bool,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub files: Vec<PathBuf>,
    /// Trainable scalars of the network.
    pub parameters: i64,
}

/// The checkpoint of the run in `run` (a run directory, or a checkpoint file itself): `name`
/// in it, by default the run's `checkpoint.safetensors`.
pub fn checkpoint_in(run: &Path, name: Option<&str>) -> Result<PathBuf> {
    if run.is_file() && name.is_none() {
        return Ok(run.to_path_buf());
    }
    if run.is_file() {
        return Err(Error::Export(format!(
            "{} is a file: --checkpoint names a file of a run directory",
            run.display()
        )));
    }
    if !run.is_dir() {
        return Err(Error::Export(format!(
            "{}: no such run directory",
            run.display()
        )));
    }
    let path = run.join(name.unwrap_or(CHECKPOINT_FILE));
    if !path.is_file() {
        return Err(Error::Export(format!(
            "{}: no checkpoint {} in this run directory (a run writes it after its first \
             epoch; --checkpoint NAME picks another file of the folder)",
            run.display(),
            path.file_name().map_or("".into(), |n| n.to_string_lossy())
        )));
    }
    Ok(path)
}

/// Exports the network of `checkpoint` into the folder `to`.
pub fn export(checkpoint: &Path, to: &Path, options: &Options) -> Result<Exported> {
    let python = match options.format {
        Format::Onnx => Some(onnx::check_available()?),
        Format::Pytorch => None,
    };
    let (net, meta) = checkpoint::load_network(checkpoint, tch::Device::Cpu)?;
    target::prepare(to, options.force)?;
    let source = describe_source(checkpoint, &meta, net.parameter_count());
    let norm = meta.normalisation.as_ref();
    let mut files = vec![to.join("model.py"), to.join("model.safetensors")];
    let py = pytorch::model_py(&net.architecture(), norm, &source);
    write(&files[0], py.as_bytes())?;
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("source".to_string(), source.clone()),
    ]);
    weights::write(&files[1], &net, meta.step as u64, metadata)?;
    let onnx_file = to.join("model.onnx");
    match python {
        Some(python) => {
            onnx::convert(&python, to)?;
            files.push(onnx_file);
        }
        // An earlier export's ONNX file would no longer match model.py.
        None if onnx_file.is_file() => {
            std::fs::remove_file(&onnx_file).map_err(|e| Error::io(&onnx_file, e))?
        }
        None => {}
    }
    let readme = to.join("README.md");
    write(
        &readme,
        note::readme(&source, norm, options.format == Format::Onnx).as_bytes(),
    )?;
    files.push(readme);
    Ok(Exported {
        files,
        parameters: net.parameter_count(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    checkpoint::write_atomic(path, bytes)
}

/// Where the network comes from, in one sentence.
fn describe_source(checkpoint: &Path, meta: &CheckpointMeta, parameters: i64) -> String {
    format!(
        "Exported by grownet {} from {} (dataset {}, {} epochs, {} steps, {} growth steps; \
         {} stages, {parameters} parameters).",
        env!("CARGO_PKG_VERSION"),
        checkpoint.display(),
        meta.config.data.name,
        meta.epoch,
        meta.step,
        meta.growth.steps_done,
        meta.architecture.stages.len(),
    )
}
