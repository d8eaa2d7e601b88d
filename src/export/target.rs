//! The export folder: created when missing; one that holds files is refused unless the user
//! forces it (the files of an earlier export are then replaced, other files are left alone).
use std::path::Path;

use crate::error::{Error, Result};

/// Makes `dir` ready to receive an export.
pub fn prepare(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Export(format!(
            "{} is a file: --to takes a folder",
            dir.display()
        )));
    }
    if dir.is_dir() && !force {
        let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        if entries.next().is_some() {
            return Err(Error::Export(format!(
                "{} is not empty: choose another folder, or add --force to write the export \
                 into it (model.py, model.safetensors and README.md are replaced)",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}
