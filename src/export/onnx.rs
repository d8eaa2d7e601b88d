//! `--format onnx`: `model.onnx` from the exported `model.py`, by torch's exporter in the
//! set-up's torch environment ([`super::torch_env`]). The exporter needs the `onnx` Python
//! package, which the set-up does not install (it installs torch alone, and grownet installs
//! nothing behind the user's back): without it, the error says so and gives the one-line call.
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// The conversion, run in the export folder.
const SCRIPT: &str = include_str!("model_py/onnx.py");

/// The one-line PyTorch call that writes model.onnx, run in the export folder.
pub const ONE_LINE: &str = "python -c 'import torch; from model import Net, INPUT_SHAPE; \
torch.onnx.export(Net.load(), (torch.zeros(1, *INPUT_SHAPE),), \"model.onnx\", dynamo=False, \
input_names=[\"input\"], output_names=[\"output\"], \
dynamic_axes={\"input\": {0: \"batch\"}, \"output\": {0: \"batch\"}})'";

/// Checks, before anything is written, that the torch environment can export to ONNX.
pub fn check_available() -> Result<std::path::PathBuf> {
    let Some(python) = super::torch_env::python() else {
        return Err(Error::Export(format!(
            "ONNX export runs torch's exporter in the set-up's torch environment, which is not \
             there ({}; run ./grownet.sh once, or set GROWNET_TORCH_ENV). Export with \
             --format pytorch, then in the export folder, with torch and onnx installed: {ONE_LINE}",
            super::torch_env::torch_env().map_or("no HOME".into(), |d| d.display().to_string())
        )));
    };
    let found = Command::new(&python)
        .args(["-c", "import onnx"])
        .output()
        .map_err(|e| Error::io(&python, e))?;
    if !found.status.success() {
        return Err(Error::Export(format!(
            "ONNX export needs the Python package onnx, which the torch environment of the \
             set-up ({}) does not have (it installs torch alone). Export with --format pytorch, \
             then in the export folder, with onnx installed (pip install onnx): {ONE_LINE}",
            python.display()
        )));
    }
    Ok(python)
}

/// Writes `dir/model.onnx` from `dir/model.py` and `dir/model.safetensors` with `python`.
pub fn convert(python: &Path, dir: &Path) -> Result<()> {
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .current_dir(dir)
        .output()
        .map_err(|e| Error::io(python, e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(Error::Export(format!(
            "torch's ONNX exporter failed on {}: {}",
            dir.join("model.py").display(),
            last.unwrap_or("no message")
        )));
    }
    Ok(())
}
