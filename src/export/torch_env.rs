//! The Python of the set-up's torch environment (`scripts/env.sh`): `$GROWNET_TORCH_ENV`, else
//! `${XDG_CACHE_HOME:-$HOME/.cache}/grownet/torch-<version>`. It runs the ONNX exporter, and
//! the tests load exported networks with it.
use std::path::PathBuf;

/// The torch version `scripts/env.sh` installs (its `TORCH_VERSION`).
pub const TORCH_VERSION: &str = "2.11.0";

/// The torch environment's folder, as `scripts/env.sh` chooses it.
pub fn torch_env() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GROWNET_TORCH_ENV").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("grownet").join(format!("torch-{TORCH_VERSION}")))
}

/// The environment's Python when it is there.
pub fn python() -> Option<PathBuf> {
    torch_env()
        .map(|d| d.join("bin").join("python"))
        .filter(|p| p.is_file())
}
